"""The tox envs CI runs (issue 28), the summary of each env's outcome and time, and the README's
"Supported versions" table, generated from what CI ran.

    python benchmarks/ci_matrix.py envs                      # the envs .ci/run hands tox, comma-separated
    python benchmarks/ci_matrix.py summary TOX.json --out F  # one line per env from tox's --result-json
    python benchmarks/ci_matrix.py summary TOX.json --record # the same, into benchmarks/results/ci-matrix/

``.ci/run`` runs every env of ``MATRIX`` in one ``tox run-parallel`` (two at a time, one torch thread
each: on the 2-core CI machine the full suite took 1,032 s at one thread beside another busy process
against 880 s at two threads alone, so two lanes nearly halve the wall time), then ``summary``. The
README's test command (``py311,lint,type,thirdparty,docs``) is part of that run. Beyond it:

* ``py311-min``: the full suite under the oldest versions art-ext claims (``constraints/min.txt``:
  ART 1.19.1, transformers 4.46.3, numpy 2.0, ...); it reuses the local 3.11 torch wheel.
* ``py311-art119-smoke`` and ``py311-tf4-text``: the newest release of the older ART line and of the
  older transformers line, everything else newest. ``min`` already runs the full suite on both older
  lines; these two add the newest patch of each, with the smoke selection and with the tests of what
  the transformers line changes (the text plugin, the CLI, the plugin manager, the data readers):
  two more full suites would add about 30 minutes of CPU to CI, past its 40.
* ``py310-smoke`` and ``py313-smoke``: the oldest and newest Python, with the ``smoke`` marker
  (import, plugins through entry points, one attack, one training epoch, ``evaluate``, one text
  attack on a tiny model, the data-file readers). The registry's torch for these Pythons is the CUDA
  build (several GB per env, downloaded once per env); a Python this machine lacks is said in one
  line by ``.ci/run`` and recorded as not run (tox skips it).

The record names each env's Python, its installed torch / ART / transformers / numpy, the tests it
ran, its outcome and its wall time (never a path of the machine); ``readme_tables`` renders it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RECORD = ROOT / "benchmarks" / "results" / "ci-matrix" / "matrix.json"

#: the distributions whose installed versions the table shows
SHOWN = ("torch", "adversarial-robustness-toolbox", "transformers", "numpy")


@dataclass(frozen=True)
class MatrixEnv:
    name: str
    #: the tests it runs, in words, for the table
    tests: str


#: longest first: tox run-parallel starts them in this order, two at a time
MATRIX = (
    MatrixEnv("py311", "full suite (newest pins; the README's test command)"),
    MatrixEnv("py311-min", "full suite (oldest pins, constraints/min.txt)"),
    MatrixEnv("thirdparty", "fixture plugins through real entry points"),
    MatrixEnv("bench-check", "default benchmark against its recording"),
    MatrixEnv("py311-tf4-text", "tests/text, CLI, plugin manager, data files"),
    MatrixEnv("py310-smoke", "smoke (-m smoke)"),
    MatrixEnv("py313-smoke", "smoke (-m smoke)"),
    MatrixEnv("py311-art119-smoke", "smoke (-m smoke)"),
    MatrixEnv("type", "mypy"),
    MatrixEnv("lint", "ruff"),
    MatrixEnv("docs", "mkdocs --strict"),
)


def pytest_summary(output: str) -> str:
    """pytest's last summary line ("706 passed, 3 skipped"), without its time."""
    lines = [line for line in output.splitlines() if re.search(r"\d+ (passed|failed|errors?)\b", line)]
    if not lines:
        return ""
    summary = re.sub(r"\s+in [\d.]+s.*$", "", lines[-1].strip("= ").strip())
    return re.sub(r",? ?\d+ warnings?", "", summary)


def installed(env_result: dict[str, Any]) -> dict[str, str]:
    """name -> version of what pip froze in the env (``name==version`` lines; a local wheel's
    ``name @ file://...`` keeps only its name, never the machine's path)."""
    versions: dict[str, str] = {}
    for line in env_result.get("installed_packages", []):
        name, _, version = line.partition("==")
        versions[name.strip().lower()] = version.strip()
    return versions


def merged_results(results: list[dict[str, Any]]) -> dict[str, Any]:
    """One tox result from several runs: each env as its last run that ran it."""
    merged = dict(results[0])
    envs = dict(merged.get("testenvs", {}))
    for later in results[1:]:
        envs.update({name: env for name, env in later.get("testenvs", {}).items() if env and "result" in env})
    merged["testenvs"] = envs
    return merged


def summarise(tox_result: dict[str, Any]) -> dict[str, Any]:
    envs = tox_result.get("testenvs", {})
    rows = []
    for env in MATRIX:
        result = envs.get(env.name)
        row: dict[str, Any] = {"env": env.name, "tests": env.tests}
        if not result or "result" not in result:
            row.update(status="not run", seconds=None, summary="", python=None, versions={})
        elif result["result"].get("skipped"):
            row.update(status="not run (no interpreter)", seconds=None, summary="", python=None, versions={})
        else:
            outcome = result.get("result", {})
            versions = installed(result)
            python = result.get("python", {}).get("version_info", [])[:3]
            output = "".join(step.get("output", "") for step in result.get("test", []))
            row.update(status="passed" if outcome.get("success") else f"failed (exit {outcome.get('exit_code')})",
                       seconds=round(float(outcome.get("duration", 0.0)), 1), summary=pytest_summary(output),
                       python=".".join(str(part) for part in python) or None,
                       versions={name: versions.get(name) for name in SHOWN})
        rows.append(row)
    return {"machine": {"cpu": _cpu_model(), "cpu_count": os.cpu_count(), "platform": platform.platform(terse=True)},
            "tox": tox_result.get("toxversion"), "date": time.strftime("%Y-%m-%d"), "envs": rows}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _minutes(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds / 60:.1f} min"


def supported_table(record: dict[str, Any]) -> str:
    """The test envs of the record (Python, the versions that matter, what ran, the outcome)."""
    lines = ["| tox env | Python | torch | ART | transformers | numpy | tests | result | time |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in record["envs"]:
        versions = row.get("versions") or {}
        if not versions.get("torch") and row["status"] == "passed":
            continue  # lint, type, docs: not a supported-versions row
        result = row["status"] + (f": {row['summary']}" if row.get("summary") else "")
        lines.append("| " + " | ".join([
            f"`{row['env']}`", row.get("python") or "-",
            *((versions.get(name) or "-") for name in SHOWN), row["tests"], result, _minutes(row.get("seconds"))])
            + " |")
    machine = record["machine"]
    reruns = record.get("runs", 1) - 1
    lines.append(f"\nRecorded by `.ci/run` on {record['date']} ({machine['cpu']}, {machine['cpu_count']} cores; "
                 "two envs at a time, one torch thread each)"
                 + (f"; envs re-run afterwards by the same `tox run-parallel` ({reruns} later run"
                    f"{'s' if reruns > 1 else ''}) show that run." if reruns else "."))
    return "\n".join(lines)


def readme_tables(results_root: Path) -> dict[str, str]:
    path = results_root / "ci-matrix" / "matrix.json"
    if not path.is_file():
        return {"supported-versions": "No `.ci/run` recorded yet: after one, `python benchmarks/ci_matrix.py summary "
                                      ".tox/ci-result.json --record` writes the record this table is made from."}
    return {"supported-versions": supported_table(json.loads(path.read_text()))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("envs", help="the envs .ci/run runs, comma-separated")
    summary = commands.add_parser("summary", help="summarise tox's --result-json")
    summary.add_argument("tox_json", type=Path, nargs="+",
                         help="tox --result-json files; an env run in a later file replaces the earlier run")
    summary.add_argument("--out", type=Path, help="where to write the record")
    summary.add_argument("--record", action="store_true", help=f"write {RECORD.relative_to(ROOT)}")
    args = parser.parse_args(argv)
    if args.command == "envs":
        print(",".join(env.name for env in MATRIX))
        return 0
    record = summarise(merged_results([json.loads(path.read_text()) for path in args.tox_json]))
    record["runs"] = len(args.tox_json)
    for row in record["envs"]:
        print(f"ci: {row['env']}: {row['status']}, {_minutes(row['seconds'])}"
              + (f" ({row['summary']})" if row.get("summary") else ""))
    for out in [p for p in (args.out, RECORD if args.record else None) if p is not None]:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(record, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
