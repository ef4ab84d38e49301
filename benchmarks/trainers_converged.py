"""The converged-budget part of the trainer report (issue 25): the budget stage's validation curves,
the 40-epoch table and the README's verdicts read off it.

    python benchmarks/readme.py    # renders these blocks with every other one

A verdict on a method is over its training runs: Student's paired t over the per-seed differences
with ``pgd`` (:func:`trainers_report.paired_vs`), Bonferroni-corrected over the comparisons the
table states together, and only once both have :data:`VERDICT_SEEDS` seeds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from trainers_report import (
    LABELS,
    ORDER,
    common_attacks,
    label,
    list_label,
    load_units,
    paired_vs,
    pct,
    summarise,
    table,
)

from art_ext.evaluation.stats import detectable_difference


def budget_table(folder: Path) -> str:
    """The budget stage's validation curves (``budget/*.json``): robust accuracy under PGD-10 on the
    validation images after every epoch, one row per method and seed, with the best epoch."""
    records = [json.loads(path.read_text()) for path in sorted((folder / "budget").glob("*.json"))]
    if not records:
        return ""
    width = max(len(r["history"]) for r in records)
    # every epoch up to 10, then every 5th: a 40-epoch curve stays readable
    shown = [e for e in range(1, width + 1) if e <= 10 or e % 5 == 0 or e == width]
    lines = [f"{records[0]['validation']}; robust accuracy (%) after the epochs shown (every epoch to 10, then every "
             f"5th), ε {records[0]['eps']:g}, {records[0]['environment']['hardware'].get('cpu_model', '?')}, "
             f"{records[0]['environment']['torch_threads']} thread(s).", "",
             "| method | seed | epochs | " + " | ".join(str(e) for e in shown)
             + " | best (epoch) | last 5 epochs, mean | guard fired | train s |",
             "|---|---|---|" + "---|" * len(shown) + "---|---|---|---|"]
    for r in sorted(records, key=lambda r: (ORDER.index(r["method"]) if r["method"] in ORDER else 99, r["seed"])):
        curve = [h.get("val_robust_acc") for h in r["history"]]
        best = max(range(len(curve)), key=lambda i: curve[i] or 0.0)
        cells = [pct(curve[e - 1]) if e <= len(curve) else "" for e in shown]
        tail = [v for v in curve[-5:] if v is not None]
        lines.append(f"| {LABELS.get(r['method'], r['method'])} | {r['seed']} | {len(curve)} | " + " | ".join(cells)
                     + f" | {pct(curve[best])} ({best + 1}) | {pct(sum(tail) / len(tail)) if tail else '-'} "
                     f"| {'-' if r.get('guard') is None else r['guard']['fired']} | {r['train_seconds']:.0f} |")
    return "\n".join(lines)


#: seeds a method needs before its comparison with ``pgd`` becomes a verdict (issue 25)
VERDICT_SEEDS = 5


def verdict_words(diff: dict[str, Any], comparisons: int, alpha: float = 0.05) -> str:
    """What a paired-by-seed difference with ``pgd`` allows one to say, Bonferroni-corrected over the
    ``comparisons`` verdicts stated together: below / above ``pgd``, or not distinguishable."""
    if diff["p_value"] is None:
        return f"no test ({diff.get('no_test')})"
    side = "below" if diff["difference"] < 0 else "above"
    if diff["p_value"] < alpha / comparisons:
        return f"ends **{side}** `pgd`"
    if diff["p_value"] < alpha:
        return (f"{side} `pgd` at p < {alpha:g} uncorrected, **not distinguishable** after correcting for "
                f"{comparisons} comparisons")
    return f"**not distinguishable** from `pgd` at {diff['n']} seeds"


def _verdict_figures(diff: dict[str, Any], comparisons: int, alpha: float = 0.05) -> str:
    """``-39.5 points [-54.0, -25.0], p 0.0016; 5 seeds detect 29.0``: what the seeds detect at the
    corrected level the verdict uses, not the table's uncorrected one."""
    text = f"{100 * diff['difference']:+.1f} points"
    if diff["ci95"] is not None:
        text += f" [{100 * diff['ci95'][0]:+.1f}, {100 * diff['ci95'][1]:+.1f}], p {diff['p_value']:.2g}"
    detectable = detectable_difference(diff["sd"], diff["n"], alpha=alpha / comparisons)
    if diff["p_value"] is not None and detectable is not None:
        text += f"; {diff['n']} seeds detect {100 * detectable:.1f}"
    return text


def _verdict_clause(method: str, records: list[dict[str, Any]], base: list[dict[str, Any]], shared: list[str],
                    comparisons: int, min_seeds: int) -> str:
    """The end of a method's sentence: the reference, no verdict yet, or the verdict with its figures."""
    if method == "pgd":
        return ", the reference"
    diff = paired_vs(records, base, "worst", shared) if min(len(records), len(base)) >= min_seeds else None
    if diff is None:
        return f"; no verdict before {min_seeds} seeds"
    return f"; {verdict_words(diff, comparisons)}: {_verdict_figures(diff, comparisons)}"


def verdicts(groups: dict[tuple[str, str, str], list[dict[str, Any]]], arch: str, eps: str,
             min_seeds: int = VERDICT_SEEDS) -> str:
    """The README's sentences on one table: each method against ``pgd``, the training run as the unit,
    a verdict only where both have ``min_seeds`` seeds; worded by :func:`verdict_words`, corrected for
    every method the table compares with ``pgd``."""
    base = groups.get((arch, eps, "pgd"))
    methods = [m for m in ORDER if (arch, eps, m) in groups and m != "pgd"]
    if not base or not methods:
        return ""
    shared = common_attacks([r for m in ["pgd", *methods] for r in groups[(arch, eps, m)]])
    names = ", ".join(list_label(n, base) if n.startswith("autoattack-") else n for n in shared)
    data = str(base[0].get("data", "?")).split(" (")[0]
    lines = [f"{base[0]['epochs']} epochs, {arch} on {data}, Linf ε {base[0]['eps']:g}; "
             f"worst case over {names} on the first {summarise(base, shared)['n_per_seed']:,} test images in "
             f"float32; the training run is the unit (accuracy: mean ± sd over seeds [95% t-interval]; a "
             f"difference: Student's paired t over seeds, Bonferroni over the "
             f"{len(methods)} comparisons with `pgd`; \"detect\": the smallest difference these seeds find with "
             "80% power at that corrected level):", ""]
    for method in ["pgd", *methods]:
        records = groups[(arch, eps, method)]
        worst = summarise(records, shared)["worst"]
        spread = f" ± {100 * worst['sd']:.1f}" if worst.get("sd") is not None else ""
        if worst.get("ci95"):
            spread += f" [{100 * worst['ci95'][0]:.1f}, {100 * worst['ci95'][1]:.1f}]"
        line = f"- {label(method, records)}: {100 * worst['mean']:.1f}%{spread} over {len(records)} seeds"
        lines.append(line + _verdict_clause(method, records, base, shared, len(methods), min_seeds) + ".")
    return "\n".join(lines)


def readme_tables(results_root: Path) -> dict[str, str]:
    """README blocks: ``trainers-budget`` (``trainers-converged/budget``), ``trainers-converged-ARCH-epsE``
    (its units) and ``trainers-converged-ARCH-epsE-verdicts`` (the sentences read off it)."""
    folder = results_root / "trainers-converged"
    blocks = {"trainers-budget": budget_table(folder)}
    converged = load_units(folder)
    for arch, eps in sorted({(k[0], k[1]) for k in converged}):
        blocks[f"trainers-converged-{arch}-{eps}"] = table(converged, arch, eps)
        blocks[f"trainers-converged-{arch}-{eps}-verdicts"] = verdicts(converged, arch, eps)
    return {k: v for k, v in blocks.items() if v}
