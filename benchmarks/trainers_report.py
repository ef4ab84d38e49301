"""The report of ``benchmarks/trainers.py``: tables, comparisons and targets from its result files.

``write_report(out)`` reads ``timing-*.json``, ``select-*.json`` and ``units/**/unit.json`` and
writes ``results.json`` and ``results.md``; :func:`readme_tables` gives the README's blocks.
The training run is the unit (issue 25): every accuracy is the mean over seeds with the seeds'
standard deviation and the 95% t-interval over the seeds' accuracies
(:func:`art_ext.evaluation.stats.method_interval`); a comparison with ``pgd`` is paired by seed (same
clean start, batches and test images) and tested with Student's paired t-test over the per-seed
differences, with the smallest difference its number of seeds detects at 80% power
(:func:`~art_ext.evaluation.stats.method_difference`). McNemar's test on one seed's images stays as a
per-run detail (``per_run``): it says whether two *models* differ, never whether two *methods* do.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from art_ext.bench.report import refuse_mixed_precisions
from art_ext.evaluation import EvaluationReport, autoattack_label, paired_difference, seed_summary
from art_ext.evaluation.report import LEGACY_LIST_NAMES
from art_ext.evaluation.stats import method_difference, method_interval, wilson_interval

ORDER = ["pgd", "pgd-fp32", "pgd-compile", "trades", "free", "fbf", "fbf-noguard", "fbf-guard4", "nfgsm", "nfgsm-guard4",
         "gradalign", "art.madry", "art.trades", "art.fbf"]
LABELS = {
    "pgd": "art-ext `pgd` (PGD-7, default policy)", "pgd-fp32": "art-ext `pgd`, `precision=\"fp32\"`", "pgd-compile": "art-ext `pgd`, `compile=True`",
    "trades": "art-ext `trades` (beta 6)", "free": "art-ext `free` (3 epochs x 4 replays)",
    "fbf": "art-ext `fbf` (Wong's MNIST recipe, guard on)", "fbf-noguard": "art-ext `fbf`, same recipe, `guard=False`",
    "nfgsm": "art-ext `nfgsm`", "gradalign": "art-ext `gradalign`",
    "art.madry": "ART `AdversarialTrainerMadryPGD`", "art.trades": "ART `AdversarialTrainerTRADESPyTorch`",
    "art.fbf": "ART `AdversarialTrainerFBFPyTorch`",
    "fbf-guard4": "art-ext `fbf`, guard 4 checks / epoch", "nfgsm-guard4": "art-ext `nfgsm`, guard 4 checks / epoch",
}


#: the hyperparameter each registered trainer takes from the validation choice, and its default
CHOSEN = {"nfgsm": ("k", "2, the paper's"), "gradalign": ("lam", "the documented default")}


def label(method: str, records: list[dict[str, Any]]) -> str:
    """The method's table label; for a method with a validation choice, the value its units used
    (``k 1, chosen on validation``) or that they ran the default (no choice was made)."""
    base = LABELS.get(method, method)
    trainer = records[0].get("trainer", method) if records else method
    if trainer not in CHOSEN:
        return base
    param, default = CHOSEN[trainer]
    values = sorted({r["params"].get(param) for r in records}, key=str)
    if values == [None]:
        return f"{base} ({param} {default}: no validation choice)"
    return f"{base} ({param} {', '.join(f'{v:g}' for v in values if v is not None)}, chosen on validation)"


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def load_units(out: Path) -> dict[tuple[str, str, str], list[dict[str, Any]]]:
    """``{(arch, eps, method): [unit records by seed]}``."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for path in sorted((out / "units").glob("*/*/*/seed*/unit.json")):
        record = _load(path)
        arch, eps, method = path.parts[-5], path.parts[-4], path.parts[-3]
        groups.setdefault((arch, eps, method), []).append(record)
    for records in groups.values():
        records.sort(key=lambda r: r["seed"])
    return groups


def pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def _attack_names(records: list[dict[str, Any]]) -> list[str]:
    names: set[str] = set()
    for r in records:
        names |= set(r["evaluation"]["attacks"])
    return sorted(names)


def list_label(name: str, records: list[dict[str, Any]]) -> str:
    """The table name of AutoAttack result ``name`` (``autoattack-<list>``): units evaluated before the
    native lists ran ART's lists under the names ``standard`` and ``fast``."""
    version = name.split("-", 1)[1]
    native = any(r["evaluation"]["attacks"].get(name, {}).get("params", {}).get("native") for r in records)
    return autoattack_label(version if native else LEGACY_LIST_NAMES.get(version, version))


def _common_autoattack(*groups: list[dict[str, Any]] | None) -> str | None:
    """The AutoAttack list every unit of every group ran (the standard list before the reduced
    one), so that a comparison is on the same attack for every seed."""
    if not groups or any(not g for g in groups):
        return None
    shared = set.intersection(*(set(r["evaluation"]["attacks"]) for g in groups for r in g or []))
    return next((n for n in ("autoattack-standard", "autoattack-fast") if n in shared), None)


def worst_mask(report: EvaluationReport, attacks: list[str] | None) -> np.ndarray:
    """Robust under every attack of ``attacks`` (default: every attack in the report)."""
    if attacks is None:
        return report.worst_case
    mask = report.clean.copy()
    for name in attacks:
        mask &= report.mask(name)
    return mask


def common_attacks(records: list[dict[str, Any]]) -> list[str]:
    """The attacks every one of ``records`` was evaluated with (the fair worst case)."""
    names = [set(r["evaluation"]["attacks"]) for r in records]
    return sorted(set.intersection(*names)) if names else []


def summarise(records: list[dict[str, Any]], worst_of: list[str] | None = None) -> dict[str, Any]:
    """Mean, sd and t-interval over seeds of every accuracy of one method; ``worst`` is over
    ``worst_of`` (default: the attacks all its seeds share). Seeds trained in different precisions
    are two procedures, never one row: refused."""
    refuse_mixed_precisions(records, "method", "records")
    reports = [EvaluationReport.from_dict(r["evaluation"]) for r in records]
    worst_of = common_attacks(records) if worst_of is None else worst_of
    out: dict[str, Any] = {"seeds": [r["seed"] for r in records], "n_per_seed": reports[0].n}
    for name in ["clean", *_attack_names(records), "worst"]:
        if name not in ("clean", "worst") and any(name not in rep.attacks for rep in reports):
            out[name] = {"seeds_with": sum(name in rep.attacks for rep in reports)}
            covered = [rep for rep in reports if name in rep.attacks]
        else:
            covered = reports
        masks = [worst_mask(rep, worst_of) if name == "worst" else rep.mask(name) for rep in covered]
        accuracies = [float(m.mean()) for m in masks]
        out[name] = {**out.get(name, {}), **seed_summary(accuracies),
                     "ci95": method_interval(accuracies)["ci95"] if accuracies else None,
                     "images_per_seed": len(masks[0]) if masks else 0}
        if len(masks) == 1:  # one run: its images' Wilson interval, which says nothing about the method
            out[name]["run_ci95"] = wilson_interval(int(masks[0].sum()), len(masks[0]))
    times = [r["train_seconds"] for r in records]
    out["train_seconds"] = seed_summary(times)
    ran = [epochs_run(r) for r in records]
    out["epoch_seconds"] = seed_summary([r["train_seconds"] / n for r, n in zip(records, ran)])
    out["timing_by_cpu"] = timing_by_cpu(records, ran)
    out["epochs"] = records[0]["epochs"]
    out["epochs_run"] = ran
    guards = [r.get("guard") for r in records]
    out["guard_fired"] = None if all(g is None for g in guards) else [0 if g is None else g["fired"] for g in guards]
    out["guard_events"] = [g["events"] if g else [] for g in guards]
    out["worst_of"] = worst_of
    out["masking_failed"] = sorted({c["name"] for r in records for c in r["evaluation"].get("checks", []) if not c["passed"]})
    curves = [[h.get("val_robust_acc") for h in r.get("history", [])] for r in records]
    if any(curves):
        length = max(len(c) for c in curves)
        out["val_pgd_curve"] = [seed_summary([c[i] for c in curves if i < len(c)])["mean"] for i in range(length)]
    return out


def epochs_run(record: dict[str, Any]) -> int:
    """Epochs the run trained: its budget, or fewer where the collapse guard stopped it."""
    history = record.get("history") or []
    return int(history[-1]["epoch"]) if history else int(record["epochs"])


def cpu_of(record: dict[str, Any]) -> str:
    """The processor a unit trained on: its GPU's name, else the CPU model."""
    return _gpu_name(record) or str(record.get("environment", {}).get("hardware", {}).get("cpu_model") or "?")


def timing_by_cpu(records: list[dict[str, Any]], epochs_run: list[int]) -> dict[str, dict[str, float]]:
    """Mean training seconds (per unit and per epoch) for each processor the units trained on: times
    from two CPUs are never averaged into one figure."""
    out: dict[str, dict[str, float]] = {}
    for cpu in sorted({cpu_of(r) for r in records}):
        mine = [(r, n) for r, n in zip(records, epochs_run) if cpu_of(r) == cpu]
        out[cpu] = {"units": len(mine), "train_seconds": float(np.mean([r["train_seconds"] for r, _ in mine])),
                    "epoch_seconds": float(np.mean([r["train_seconds"] / n for r, n in mine]))}
    return out


def timing_cells(s: dict[str, Any]) -> tuple[str, str]:
    """The s / epoch and train s cells: one figure on one CPU, else one per CPU with its unit count."""
    by_cpu = s["timing_by_cpu"]
    named = len(by_cpu) > 1
    per_epoch = "; ".join(f"{t['epoch_seconds']:.1f}" + (f" ({cpu}, {t['units']:.0f})" if named else "") for cpu, t in by_cpu.items())
    per_unit = "; ".join(f"{t['train_seconds']:.0f}" + (f" ({cpu}, {t['units']:.0f})" if named else "") for cpu, t in by_cpu.items())
    return per_epoch, per_unit


def epochs_text(s: dict[str, Any]) -> str:
    """The budget, and the epoch each seed stopped at where the guard ended a run early."""
    stopped = [n for n in s["epochs_run"] if n < s["epochs"]]
    return str(s["epochs"]) if not stopped else f"{s['epochs']} (stopped at {', '.join(map(str, stopped))})"


def paired_vs(records: list[dict[str, Any]], base: list[dict[str, Any]], name: str,
              worst_of: list[str] | None = None) -> dict[str, Any] | None:
    """``method - base`` on attack ``name`` (``"worst"``: over ``worst_of``), the run as the unit:
    paired by seed (:func:`~art_ext.evaluation.stats.method_difference`), with each seed's McNemar
    test on its images kept as a per-run detail."""
    by_seed = {r["seed"]: EvaluationReport.from_dict(r["evaluation"]) for r in base}
    a, b, per_run = [], [], []
    for r in records:
        other = by_seed.get(r["seed"])
        mine = EvaluationReport.from_dict(r["evaluation"])
        if other is None or (name not in ("worst", "clean") and (name not in mine.attacks or name not in other.attacks)):
            continue
        mask_a = worst_mask(mine, worst_of) if name == "worst" else mine.mask(name)
        mask_b = worst_mask(other, worst_of) if name == "worst" else other.mask(name)
        a.append(float(mask_a.mean()))
        b.append(float(mask_b.mean()))
        run = paired_difference(mask_a, mask_b, n_bootstrap=200)
        per_run.append({"seed": r["seed"], "difference": run["difference"], "mcnemar_p": run["p_value"]})
    if not a:
        return None
    return {**method_difference(a, b), "per_run": per_run}


def _difference_text(diff: dict[str, Any]) -> str:
    """``+1.2 [-3.4, +5.6], p 0.41, detects 6.0`` (points), or the difference and why it has no test."""
    text = f"{100 * diff['difference']:+.1f}"
    if diff["ci95"] is None:
        return f"{text} ({diff.get('no_test', 'one seed: no test')})"  # older results: one seed was the only reason
    text += f" [{100 * diff['ci95'][0]:+.1f}, {100 * diff['ci95'][1]:+.1f}], p {diff['p_value']:.2g}"
    if diff["detectable"] is not None:
        text += f", detects {100 * diff['detectable']:.1f}"
    return text


def timing_summary(out: Path) -> dict[str, Any]:
    return {path.stem: _load(path) for path in sorted(out.glob("timing-*.json"))}


def targets(groups: dict[tuple[str, str, str], list[dict[str, Any]]], timing: dict[str, Any]) -> list[dict[str, Any]]:
    """The issues' targets, each ``{target, measured, met, note}``."""
    rows: list[dict[str, Any]] = []
    for key, run in timing.items():
        ratio = run["ratios"].get("art.madry / pgd")
        if ratio:
            rows.append({"target": f"pgd (default policy) >= 4.0x faster per epoch than ART Madry ({run_label(run)})",
                         "measured": f"{ratio['median']:.2f}x (median of {ratio['n']} paired repeats, range "
                                     f"{ratio['min']:.2f}-{ratio['max']:.2f})", "met": ratio["median"] >= 4.0, "source": key})
        guard = run.get("guard_overhead", {}).get("fbf")
        if guard:
            rows.append({"target": "collapse guard overhead <= 10% of an epoch (fbf)",
                         "measured": f"{100 * guard['median']:.1f}% ({run_label(run)})",
                         "met": guard["median"] <= 0.10, "source": key})
    for threads in (1, 2):
        if not any(run["threads"] == threads for run in timing.values()):
            rows.append({"target": f"pgd (default policy) >= 4.0x faster per epoch than ART Madry ({threads} thread(s))",
                         "measured": f"not run (benchmarks/reproduce.sh trainers-timing-{threads})", "met": False,
                         "source": None})
    main = {m: groups.get(("smallcnn", "eps0.3", m)) for m in ORDER}
    aa = _common_autoattack(main.get("pgd"), main.get("pgd-fp32"))
    if main.get("pgd") and main.get("pgd-fp32"):
        for name in [n for n in _attack_names(main["pgd"]) if n.startswith("PGD")] + ([aa] if aa else []):
            diff = paired_vs(main["pgd"], main["pgd-fp32"], name)
            if diff:
                rows.append({"target": f"pgd default policy robust accuracy within 2 points of fp32 ({name})",
                             "measured": f"{_difference_text(diff)} points over {diff['n']} seeds, per seed "
                                         f"{[round(100 * v, 1) for v in diff['per_seed']]}",
                             "met": abs(diff["difference"]) <= 0.02, "source": "units/smallcnn/eps0.3"})
    rows += single_step_rows(main, timing, "smallcnn")
    rows += single_step_rows({m: groups.get(("bncnn", "eps0.3", m)) for m in ORDER}, {}, "bncnn")
    rows += margin_rows(main.get("pgd") or [])
    standard = [r for r in main.get("pgd") or [] if "autoattack-standard" in r["evaluation"]["attacks"]]
    if main.get("pgd") and not standard:
        rows.append({"target": "standard AutoAttack on 1,000 images of pgd agrees with PGD-50x10 within its interval",
                     "measured": "not run (benchmarks/reproduce.sh trainers-aa-standard)", "met": False, "source": None})
    units = sum(len(main[m] or []) for m in main)
    if standard and units:
        seconds = [r["evaluation"]["attacks"]["autoattack-standard"]["seconds"] for r in standard]
        done = sum(1 for m in main for r in main[m] or [] if "autoattack-standard" in r["evaluation"]["attacks"])
        rows.append({"target": "the eps 0.3 trainer table under ART's standard AutoAttack list (>= 1,000 images, "
                               f"{units} units = methods x seeds) in <= 3 hours of CPU",
                     "measured": f"run on {done} of {units} units, {max(seconds) / 60:.0f} min for one model "
                                 f"(1 thread); {units} units at that rate: about {units * max(seconds) / 3600:.0f} h",
                     "met": units * max(seconds) <= 3 * 3600, "source": "units/smallcnn/eps0.3/pgd"})
    for record in standard:
        report = EvaluationReport.from_dict(record["evaluation"])
        pgd_name = next(n for n in report.attacks if n.startswith("PGD"))
        diff = paired_difference(report.mask("autoattack-standard"), report.mask(pgd_name))
        low, high = report.interval(pgd_name)
        aa_acc = report.accuracy("autoattack-standard")
        broken = broken_by(record, "autoattack-standard")
        members = "; images broken first by " + ", ".join(f"{k} {v}" for k, v in broken.items()) if broken else ""
        first = first_member(record, report, "autoattack-standard")
        explained = first is not None and low <= first[1] <= high
        if first is not None:
            later = max(list(broken.items())[1:], key=lambda kv: kv[1], default=None)
            members += (f"; its first member {first[0]} alone (the same loss as {pgd_name}) {100 * first[1]:.1f}%, "
                        f"{'inside' if explained else 'outside'} {pgd_name}'s interval")
            if explained and later:
                members += f": the gap is the later members' (mostly {_member_label(later[0])}), not a weaker PGD"
        rows.append({"target": f"standard AutoAttack on {report.n} images of pgd (seed {record['seed']}) agrees with {pgd_name} "
                               "within its interval, or the gap is explained",
                     "measured": f"AutoAttack {100 * aa_acc:.1f}% vs {pgd_name} {100 * report.accuracy(pgd_name):.1f}% "
                                 f"[{100 * low:.1f}, {100 * high:.1f}]; paired difference {100 * diff['difference']:+.1f} "
                                 f"(p={diff['p_value']:.3g}){members}", "met": low <= aa_acc <= high or explained,
                     "source": "units/smallcnn/eps0.3/pgd"})
    return rows


def single_step_rows(main: dict[str, Any], timing: dict[str, Any], arch: str) -> list[dict[str, Any]]:
    """Issue 15's target per single-step method of ``arch`` at eps 0.3: within 3 points of ``pgd``
    under AutoAttack (paired), in <= 35% of its training time, the guard never firing."""
    rows: list[dict[str, Any]] = []
    if not main.get("pgd"):
        return rows
    for method in ("nfgsm", "fbf", "gradalign", "nfgsm-guard4", "fbf-guard4"):
        if not main.get(method):
            continue
        aa = _common_autoattack(main[method], main["pgd"])
        diff = paired_vs(main[method], main["pgd"], aa) if aa else None
        share, time_source = time_share(method, main, timing)
        fired = summarise(main[method])["guard_fired"]
        if diff:
            rows.append({"target": f"{method} within 3 points of pgd under {aa} in <= 35% of its training time, no collapse"
                                   + ("" if arch == "smallcnn" else f" ({arch})"),
                         "measured": f"{_difference_text(diff)} points over {diff['n']} seeds, {100 * share:.0f}% of pgd's time "
                                     f"({time_source}), guard fired {fired}",
                         "met": diff["difference"] >= -0.03 and share <= 0.35 and not any(fired or []),
                         "source": f"units/{arch}/eps0.3"})
    return rows


def time_share(method: str, main: dict[str, Any], timing: dict[str, Any]) -> tuple[float, str]:
    """``method``'s training time as a share of ``pgd``'s at equal epochs: the median epoch times
    measured side by side in one process (the timing stage) where they exist, since the accuracy
    units ran at different machine loads; otherwise the units' mean training times."""
    for key, run in timing.items():
        summary = run["summary"]
        if method in summary and "pgd" in summary:
            return summary[method]["median"] / summary["pgd"]["median"], f"epoch medians of {key}"
    ours = summarise(main[method])["train_seconds"]["mean"]
    return ours / summarise(main["pgd"])["train_seconds"]["mean"], "units' training times, different machine loads"


def margin_rows(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Evidence, not a target: cross-entropy PGD against margin-loss PGD and the reduced AutoAttack
    list on the same images. Margin PGD closing the gap points to a weak loss, not masking."""
    rows: list[dict[str, Any]] = []
    for record in records:
        report = EvaluationReport.from_dict(record["evaluation"])
        if "PGD-50x10-margin" not in report.attacks:
            continue
        ce = next(n for n in report.attacks if n.startswith("PGD") and n != "PGD-50x10-margin")
        others = [n for n in report.attacks if n.startswith("autoattack-")]
        parts = [f"{name} {100 * report.accuracy(name):.1f}%" for name in [ce, "PGD-50x10-margin", *others]]
        for name in others:
            diff = paired_difference(report.mask("PGD-50x10-margin"), report.mask(name))
            parts.append(f"margin - {name} {100 * diff['difference']:+.1f} [{100 * diff['ci95'][0]:+.1f}, "
                         f"{100 * diff['ci95'][1]:+.1f}]")
            first = first_member(record, report, name)
            if first:
                parts.append(f"{name} after its first member ({first[0]}, the loss of {ce}) alone {100 * first[1]:.1f}%")
        rows.append({"target": f"(evidence) the loss behind the PGD / AutoAttack gap on pgd (seed {record['seed']}, "
                               f"{report.n} images)", "measured": "; ".join(parts), "met": None,
                     "source": "units/smallcnn/eps0.3/pgd"})
    return rows


def first_member(record: dict[str, Any], report: EvaluationReport, name: str) -> tuple[str, float] | None:
    """``(member, accuracy)`` after the first attack of AutoAttack list ``name`` alone.

    ART's AutoAttack runs its members in order, each on the images still robust; the first one
    attacks every correctly classified image, so the images it broke (``broken_by``, from ART's
    ``best_attacks``) give its own robust accuracy exactly."""
    broken = broken_by(record, name)
    if not broken:
        return None
    member, count = next(iter(broken.items()))
    return _member_label(member), (int(report.clean.sum()) - count) / report.n


def broken_by(record: dict[str, Any], name: str) -> dict[str, int]:
    """Images each member of AutoAttack list ``name`` broke first, in the list's order (``{}`` if unrecorded)."""
    return record["evaluation"]["attacks"][name].get("extra", {}).get("broken_by") or {}


def _member_label(member: str) -> str:
    return {"AutoProjectedGradientDescent-cross_entropy": "APGD-CE",
            "AutoProjectedGradientDescent-difference_logits_ratio": "APGD-DLR"}.get(member, member)


def _met(value: bool | None, missed: str) -> str:
    return "-" if value is None else ("met" if value else missed)


def table(groups: dict[tuple[str, str, str], list[dict[str, Any]]], arch: str, eps: str) -> str:
    methods = [m for m in ORDER if (arch, eps, m) in groups]
    if not methods:
        return ""
    attack_cols = sorted({n for m in methods for n in _attack_names(groups[(arch, eps, m)])},
                         key=lambda n: (not n.startswith("PGD"), n))
    header = ["method", "seeds", "epochs", "s / epoch", "train s", "clean %"]
    for name in attack_cols:
        header.append(f"{list_label(name, [r for m in methods for r in groups[(arch, eps, m)]]) if name.startswith('autoattack-') else name} %")
    header += ["worst case % (all seeds' attacks)", "vs pgd: worst case, paired by seed (t over seeds)", "guard fired",
               "masking checks"]
    base = groups.get((arch, eps, "pgd"))
    shared = common_attacks([r for m in methods for r in groups[(arch, eps, m)]])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for method in methods:
        records = groups[(arch, eps, method)]
        s = summarise(records, shared)

        def cell(name: str, s: dict[str, Any] = s) -> str:
            v = s.get(name)
            if not v or v.get("mean") is None:
                return "-"
            sd = f" ± {100 * v['sd']:.1f}" if v.get("sd") is not None else ""
            part = f" ({v['seeds_with']} seed{'s' if v['seeds_with'] > 1 else ''})" if "seeds_with" in v else ""
            interval = f" [{100 * v['ci95'][0]:.1f}, {100 * v['ci95'][1]:.1f}]" if v.get("ci95") else ""
            if v.get("run_ci95"):
                interval = f" [{100 * v['run_ci95'][0]:.1f}, {100 * v['run_ci95'][1]:.1f}] (one run: images only)"
            return f"{100 * v['mean']:.1f}{sd}{interval}{part}"

        comparison = "-"
        if base and method != "pgd":
            diff = paired_vs(records, base, "worst", shared)
            if diff:
                comparison = _difference_text(diff) + (" *" if diff["significant"] else "")
        fired = s["guard_fired"]
        row = [label(method, records), str(len(records)), epochs_text(s), *timing_cells(s), cell("clean"), *[cell(n) for n in attack_cols], cell("worst"),
               comparison, "-" if fired is None else ("no" if not any(fired) else f"yes ({sum(fired)} events)"),
               "pass" if not s["masking_failed"] else "FAIL: " + ", ".join(s["masking_failed"])]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def run_label(run: dict[str, Any]) -> str:
    """``1 thread(s)``, with the run's tag and the 1-minute load average it started under; a GPU run
    starts with the GPU's name."""
    load = run.get("load_avg_before") or run.get("environment", {}).get("load_avg")
    extra = [run["tag"]] if run.get("tag") else []
    if load:
        extra.append(f"load {load[0]:.1f}")
    label = f"{run['threads']} thread(s)" + (f" ({', '.join(extra)})" if extra else "")
    gpu = _gpu_name(run)
    return f"{gpu}, {label}" if gpu else label


def _gpu_name(run: dict[str, Any]) -> str | None:
    # timing files before the "device" field record the device only in their command line
    device = run.get("device") or ("cuda" if "--device cuda" in run.get("command", "") else "cpu")
    if device != "cuda":
        return None
    return ", ".join(run.get("environment", {}).get("hardware", {}).get("cuda_devices") or ["GPU"])


def timing_table(timing: dict[str, Any]) -> str:
    if not timing:
        return ""
    header = ["method", *[f"{run_label(run)}: s / epoch (median, range)" for run in timing.values()]]
    methods = [m for m in ORDER if any(m in run["summary"] for run in timing.values())]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for method in methods:
        cells = []
        for run in timing.values():
            s = run["summary"].get(method)
            cells.append("-" if s is None else f"{s['median']:.2f} ({s['min']:.2f}-{s['max']:.2f})")
        lines.append("| " + " | ".join([LABELS.get(method, method), *cells]) + " |")
    lines.append("")
    lines.append("| ratio ART / art-ext (per epoch) | " + " | ".join(run_label(r) for r in timing.values()) + " |")
    lines.append("|---|" + "---|" * len(timing))
    keys = sorted({k for run in timing.values() for k in run["ratios"]})
    for key in keys:
        cells = []
        for run in timing.values():
            r = run["ratios"].get(key)
            cells.append("-" if r is None else f"{r['median']:.2f}x ({r['min']:.2f}-{r['max']:.2f})")
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def curves_table(groups: dict[tuple[str, str, str], list[dict[str, Any]]], arch: str, eps: str) -> str:
    rows = []
    for method in ORDER:
        records = groups.get((arch, eps, method))
        if not records:
            continue
        curve = summarise(records).get("val_pgd_curve")
        if curve:
            rows.append((method, curve))
    if not rows:
        return ""
    width = max(len(c) for _, c in rows)
    lines = ["| method | " + " | ".join(f"epoch {i + 1}" for i in range(width)) + " |", "|---|" + "---|" * width]
    for method, curve in rows:
        lines.append(f"| {method} | " + " | ".join(pct(v) for v in [*curve, *[None] * (width - len(curve))]) + " |")
    return "\n".join(lines)


def write_report(out: Path) -> dict[str, Any]:
    groups = load_units(out)
    timing = timing_summary(out)
    selections = {p.stem: _load(p) for p in sorted(out.glob("select-*.json"))}
    result = {
        "timing": {k: {kk: v.get(kk) for kk in ("threads", "repeats", "summary", "ratios", "guard_overhead", "environment", "tag", "load_avg_before")}
                   for k, v in timing.items()},
        "selection": selections,
        "summaries": {"/".join(k): summarise(v) for k, v in groups.items()},
        "targets": targets(groups, timing),
    }
    (out / "results.json").write_text(json.dumps(result, indent=1, default=str) + "\n")
    parts = ["# Trainer benchmark (benchmarks/trainers.py)", "", "## Epoch time", "", timing_table(timing), ""]
    for arch, eps in sorted({(k[0], k[1]) for k in groups}):
        parts += [f"## {arch}, Linf {eps}", "", table(groups, arch, eps), "",
                  "Per-epoch validation robust accuracy (PGD-10, 200 validation images, mean over seeds):", "",
                  curves_table(groups, arch, eps), ""]
    parts += ["## Targets", "", "| target | measured | met |", "|---|---|---|"]
    parts += [f"| {t['target']} | {t['measured']} | {_met(t['met'], 'MISSED')} |" for t in result["targets"]]
    (out / "results.md").write_text("\n".join(parts) + "\n")
    return result


def readme_tables(results_root: Path) -> dict[str, str]:
    """README blocks: ``trainers-timing``, ``trainers-eps0.3``, ``trainers-eps0.1``, ..., ``trainers-targets``,
    ``trainers-cifar-timing`` (``trainers-cifar``) and ``trainers-gpu-timing`` (``trainers-gpu``, benchmarks/gpu.sh);
    the converged budget's blocks are ``trainers_converged.py``'s."""
    blocks = {"trainers-cifar-timing": timing_table(timing_summary(results_root / "trainers-cifar")),
              "trainers-gpu-timing": timing_table(timing_summary(results_root / "trainers-gpu"))}
    blocks = {k: v for k, v in blocks.items() if v}
    out = results_root / "trainers"
    groups = load_units(out)
    timing = timing_summary(out)
    blocks["trainers-timing"] = timing_table(timing)
    for arch, eps in sorted({(k[0], k[1]) for k in groups}):
        blocks[f"trainers-{arch}-{eps}"] = table(groups, arch, eps)
        blocks[f"trainers-curves-{arch}-{eps}"] = curves_table(groups, arch, eps)
    rows = targets(groups, timing)
    blocks["trainers-targets"] = "\n".join(["| target | measured | met |", "|---|---|---|",
                                            *[f"| {t['target']} | {t['measured']} | {_met(t['met'], '**missed**')} |"
                                              for t in rows]])
    return blocks
