"""``art-ext bench --check results.json``: rerun the recorded suite and report drift.

Accuracies and success rates are compared row by row (attack, norm, eps); a difference above
``tolerance`` (default 1 point) is drift, as is a row or a sanity-check verdict that changed.
Timings are reported as ratios, never as drift (machines and load differ); version and hardware
changes are listed so a drift can be traced, and with ``strict_versions`` (``tox -e bench-check``)
a changed version of a package that changes the numbers is drift itself.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from art_ext.bench.config import BenchConfig
from art_ext.bench.suite import PINNED
from art_ext.core.device import cpu_bf16_native
from art_ext.evaluation.report import LEGACY_LIST_NAMES

logger = logging.getLogger(__name__)

COMPARED = ("clean_accuracy", "robust_accuracy", "success_rate")
TRAINER_COMPARED = ("clean_accuracy", "pgd_accuracy", "autoattack_accuracy")
CHECK_JSON = "check.json"


#: the sibling folder that holds a recorded suite's rerun on CPUs without native bf16
FP32_SUFFIX = "-fp32"


def baseline_for_machine(path: str | Path) -> Path:
    """The recorded ``results.json`` this machine can reproduce.

    The default model trains in bf16 where the CPU runs it natively (AMX, AVX512-BF16) and in
    float32 elsewhere, and the two give different models: a recorded folder ``X`` may have a
    sibling ``X-fp32`` recorded on a CPU without native bf16. The one whose recorded
    ``cpu_bf16_native`` matches this machine is chosen; a results file given by name is used as is.
    """
    folder = Path(path)
    if not folder.is_dir():
        return folder
    candidates = [folder / "results.json", folder.with_name(folder.name + FP32_SUFFIX) / "results.json"]
    native = cpu_bf16_native()
    for candidate in candidates:
        if candidate.is_file():
            try:
                recorded = json.loads(candidate.read_text()).get("environment", {}).get("hardware", {})
            except (OSError, ValueError, AttributeError):
                continue
            if recorded.get("cpu_bf16_native") == native:
                return candidate
    return candidates[0]


def load_results(path: str | Path) -> dict[str, Any]:
    file = baseline_for_machine(path)
    if file.is_dir():
        file = file / "results.json"
    if not file.is_file():
        raise FileNotFoundError(f"--check {path}: no such file")
    try:
        data = json.loads(file.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"--check {path}: not JSON ({error})") from error
    if not isinstance(data, dict) or "config" not in data:
        raise ValueError(f"--check {path}: not an art-ext bench results.json (no 'config')")
    return data


def _key(row: dict[str, Any]) -> tuple[Any, ...]:
    return (row.get("attack"), row.get("norm"), row.get("eps"), row.get("eps_mode"))


def compare(old: dict[str, Any], new: dict[str, Any], tolerance: float = 0.01,
            strict_versions: bool = False) -> dict[str, Any]:
    """Drift between two results dicts; with ``strict_versions`` a changed version of a package
    that changes the numbers (:data:`art_ext.bench.suite.PINNED`) is drift too."""
    drift: list[str] = []
    timing: list[dict[str, Any]] = []
    old_checks = {c["name"]: c["passed"] for c in old.get("checks", [])}
    new_checks = {c["name"]: c["passed"] for c in new.get("checks", [])}
    # a check added to the suite after the recording has no recorded verdict to drift from: it is
    # reported (new_checks), and the flags it sets are left out of the row comparison
    added = {name: passed for name, passed in new_checks.items() if name not in old_checks}
    old_rows = {_key(r): r for r in old.get("attacks", []) or []}
    new_rows = {_key(r): r for r in new.get("attacks", []) or []}
    for key in sorted(set(old_rows) | set(new_rows), key=str):
        label = f"{key[0]} {key[1] or ''} eps={key[2]}".replace("  ", " ")
        if key not in new_rows or key not in old_rows:
            drift.append(f"{label}: row {'missing from the rerun' if key not in new_rows else 'new in the rerun'}")
            continue
        a, b = old_rows[key], new_rows[key]
        if (a.get("error") is None) != (b.get("error") is None):
            drift.append(f"{label}: error status changed ({a.get('error')!r} -> {b.get('error')!r})")
            continue
        for metric in COMPARED:
            x, y = a.get(metric), b.get(metric)
            if x is None or y is None:
                if (x is None) != (y is None):
                    drift.append(f"{label}: {metric} {x} -> {y}")
                continue
            if abs(x - y) > tolerance:
                drift.append(f"{label}: {metric} {100 * x:.1f}% -> {100 * y:.1f}% ({100 * (y - x):+.1f} points)")
        new_flags = [f for f in b.get("flags") or [] if f not in added]
        if sorted(a.get("flags") or []) != sorted(new_flags):
            drift.append(f"{label}: flags {a.get('flags')} -> {new_flags}")
        if a.get("time_s") and b.get("time_s"):
            timing.append({"row": label, "old_s": a["time_s"], "new_s": b["time_s"], "ratio": b["time_s"] / a["time_s"]})
    for name in sorted(set(old_checks) | set(new_checks) - set(added)):
        if old_checks.get(name) != new_checks.get(name):
            drift.append(f"sanity check {name}: passed {old_checks.get(name)} -> {new_checks.get(name)}")
    old_tr = {r["trainer"]: r for r in old.get("trainers", []) or []}
    new_tr = {r["trainer"]: r for r in new.get("trainers", []) or []}
    for name in sorted(set(old_tr) | set(new_tr)):
        if name not in old_tr or name not in new_tr:
            drift.append(f"trainer {name}: {'missing from the rerun' if name not in new_tr else 'new in the rerun'}")
            continue
        for metric in TRAINER_COMPARED:
            x, y = old_tr[name].get(metric), new_tr[name].get(metric)
            if x is not None and y is not None and abs(x - y) > tolerance:
                drift.append(f"trainer {name}: {metric} {100 * x:.1f}% -> {100 * y:.1f}%")
    old_v = old.get("environment", {}).get("versions", {})
    new_v = new.get("environment", {}).get("versions", {})
    versions = {k: [old_v.get(k), new_v.get(k)] for k in sorted(set(old_v) | set(new_v)) if old_v.get(k) != new_v.get(k)}
    if strict_versions:
        drift.extend(f"version of {k}: recorded {versions[k][0]}, rerun {versions[k][1]} (re-record with "
                     "`tox -e bench-record` under constraints/bench.txt)" for k in PINNED if k in versions)
    old_hw = old.get("environment", {}).get("hardware", {})
    new_hw = new.get("environment", {}).get("hardware", {})
    hardware = {k: [old_hw.get(k), new_hw.get(k)] for k in ("cpu_capability", "cpu_bf16_native", "cuda")
                if old_hw.get(k) != new_hw.get(k)}
    ratios = [t["ratio"] for t in timing]
    return {
        "ok": not drift,
        "tolerance": tolerance,
        "drift": drift,
        "rows_compared": len(set(old_rows) & set(new_rows)),
        "new_checks": added,
        "version_changes": versions,
        "hardware_changes": hardware,
        "timing": timing,
        "time_ratio_median": sorted(ratios)[len(ratios) // 2] if ratios else None,
        "wall_time_s": [old.get("wall_time_s"), new.get("wall_time_s")],
    }


#: recorded fields that name code to import (a factory, a TorchScript file) or a file to load into
#: the model: a results file is data, so a rerun takes these only from the command line
CODE_FIELDS = ("model", "state_dict")
#: recorded fields that choose where files are written: a rerun writes where the command line says
WRITE_FIELDS = ("out", "cache_dir")


def upgrade_config(recorded: dict[str, Any], schema: int) -> dict[str, Any]:
    """A recorded configuration in today's terms, so that a rerun runs what was recorded: results of
    schema 1 (before the native AutoAttack lists) named ART's lists ``standard`` and ``fast``, which
    are ``art-default`` and ``art-fast`` now; before schema 3 ART's C&W-L2 started from ART's
    ``initial_const`` 0.01."""
    if schema >= 3:
        return recorded
    upgraded = dict(recorded)
    recorded_params = upgraded.get("params")
    params: dict[str, Any] = recorded_params if isinstance(recorded_params, dict) else {}
    recorded_cw = params.get("art.cw_l2")
    cw: dict[str, Any] = recorded_cw if isinstance(recorded_cw, dict) else {}
    upgraded["params"] = {**params, "art.cw_l2": {"initial_const": 0.01, **cw}}  # before schema 3: ART's default
    if schema >= 2:
        return upgraded
    if upgraded.get("autoattack") in LEGACY_LIST_NAMES:
        upgraded["autoattack"] = LEGACY_LIST_NAMES[upgraded["autoattack"]]
    upgraded["params"] = {
        name: {**values, "aa_version": LEGACY_LIST_NAMES.get(values["aa_version"], values["aa_version"])}
        if isinstance(values, dict) and "aa_version" in values else values
        for name, values in upgraded["params"].items()
    }
    return upgraded


def recorded_selection(old: dict[str, Any]) -> dict[str, list[str]]:
    """The attacks and trainers the recorded run ran, by name: a glob such as ``*`` meant what was
    registered then, and a plugin installed since must not turn up in the rerun as drift."""
    selection: dict[str, list[str]] = {}
    rows = old.get("attacks")
    if isinstance(rows, list) and rows:
        names = {r.get("attack") for r in rows if isinstance(r, dict)}
        names |= {s.get("name") for s in old.get("skipped", []) or [] if isinstance(s, dict)}
        selection["attacks"] = sorted(n for n in names if isinstance(n, str))
    trainers = old.get("trainers")
    if isinstance(trainers, list) and trainers:
        selection["trainers"] = sorted({r["trainer"] for r in trainers if isinstance(r, dict) and isinstance(r.get("trainer"), str)})
    return selection


def config_for_rerun(old: dict[str, Any], results_path: str | Path, *, out: str | None = None,
                     model: str | None = None, state_dict: str | None = None,
                     cache_dir: str | None = None, data_dir: str | None = None) -> BenchConfig:
    """The recorded configuration, with everything that imports code or writes files taken from
    the command line instead of the file.

    A results file is data (it may come with a shared benchmark): it never names a module that
    gets imported, a model file that gets loaded or a folder that gets written. A recorded run of a
    user model is rerun only when the user passes ``--model`` (and ``--state-dict``) again.

    :raises ValueError: the recorded run used a model the command line does not name.
    """
    recorded = dict(old["config"]) if isinstance(old.get("config"), dict) else {}
    recorded = upgrade_config(recorded, int(old.get("schema", 1)))
    recorded.update(recorded_selection(old))
    for name in CODE_FIELDS:
        given = model if name == "model" else state_dict
        if recorded.get(name) is not None and given is None:
            flag = "--" + name.replace("_", "-")
            raise ValueError(
                f"--check {results_path}: the recorded run used {flag} {recorded[name]!r}; a results file is "
                f"data and names nothing that is imported or loaded: pass {flag} yourself to rerun it"
            )
        recorded[name] = given
    recorded["cache_dir"] = cache_dir
    if data_dir is not None:
        recorded["data_dir"] = data_dir
    elif isinstance(recorded.get("data_dir"), str):  # recorded portably: $ART_EXT_DATA/mnist, ~/...
        recorded["data_dir"] = os.path.expanduser(os.path.expandvars(recorded["data_dir"]))
    config = BenchConfig.from_dict(recorded)
    base = Path(results_path)
    base = base if base.is_dir() else base.parent
    config.out = out if out is not None else str(base / "check-rerun")
    return config


def format_check(report: dict[str, Any]) -> str:
    lines = [f"--check: {report['rows_compared']} rows compared, tolerance {100 * report['tolerance']:.1f} points: "
             + ("no drift" if report["ok"] else f"{len(report['drift'])} DRIFT")]
    lines.extend(f"  drift: {d}" for d in report["drift"])
    for name, (a, b) in report["version_changes"].items():
        lines.append(f"  version {name}: {a} -> {b}")
    for name, passed in report.get("new_checks", {}).items():
        lines.append(f"  new check (not recorded, not drift): {name} {'passed' if passed else 'FAILED'}")
    hardware = report.get("hardware_changes", {})
    if hardware:
        changes = ", ".join(f"{name} {a} -> {b}" for name, (a, b) in hardware.items())
        lines.append(f"  hardware: {changes} (the default model trains in bf16 where the CPU runs it natively: "
                     "numbers can differ across machines)")
    if report["time_ratio_median"] is not None:
        lines.append(f"  timing (not drift): median new/old time ratio {report['time_ratio_median']:.2f}")
    return "\n".join(lines)


def write_check(report: dict[str, Any], out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / CHECK_JSON
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    return path
