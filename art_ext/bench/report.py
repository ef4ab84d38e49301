"""Outputs of a benchmark run: terminal table, results.json, results.csv, report.md, PNG plots.

Longer than ~400 lines on purpose: every output format of one results dict (table, JSON, CSV,
Markdown, plots) must mark flagged rows the same way, so they are kept side by side.

Flagged results (failed sanity checks) are marked in every output: a ``flags`` field in JSON
and CSV, ``(!)`` plus the flag names in the tables, dashed lines and "FLAGGED" in the plots.
"""

from __future__ import annotations

import csv
import json
import logging
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from art_ext.bench.attacks import ROW_KEYS
from art_ext.bench.metrics import norm_label
from art_ext.evaluation.report import recorded_label

logger = logging.getLogger(__name__)

RESULTS_JSON = "results.json"
RESULTS_CSV = "results.csv"
TRAINERS_CSV = "trainers.csv"
REPORT_MD = "report.md"
PLOT_EPS = "robust_accuracy_vs_eps.png"
PLOT_COST = "time_vs_success.png"
PLOT_TRAINERS = "trainers.png"

TRAINER_KEYS = (
    "trainer", "source", "epochs", "eps", "time_s", "cpu_time_s", "time_per_epoch_s", "clean_accuracy",
    "pgd_label", "pgd_accuracy", "autoattack_label", "autoattack_accuracy", "worst_case_accuracy", "guard",
    "accepted_params", "flags", "error",
)


#: matplotlib markers told apart at a glance; with tab10's ten colours they give 130 distinct pairs
MARKERS = "osD^v<>ph*XPd"


def series_styles(names: list[str]) -> dict[str, tuple[Any, str]]:
    """A distinct ``(colour, marker)`` pair per plotted series, however many there are: tab10's
    colours with one marker per round of ten; past 130 series, evenly spaced hues of one colour map."""
    import matplotlib

    if len(names) <= 10 * len(MARKERS):
        cmap = matplotlib.colormaps["tab10"]
        return {name: (cmap(i % 10), MARKERS[i // 10]) for i, name in enumerate(names)}
    hues = matplotlib.colormaps["hsv"]
    return {name: (hues(i / len(names)), MARKERS[i % len(MARKERS)]) for i, name in enumerate(names)}


def _pct(value: Any) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def _num(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}g}"


def _eps(row: dict[str, Any]) -> str:
    if row.get("eps") is None:
        return "min" if row.get("eps_mode") == "minimal" else "-"
    return f"{row['eps']:g}"


def table_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows shown in the tables: fixed-eps runs and minimal-attack runs (not threshold rows)."""
    return [r for r in results.get("attacks", []) if r.get("eps_mode") != "threshold"]


ATTACK_HEADER = ["attack", "threat", "norm", "eps", "n", "robust acc %", "success %", "mean Linf", "mean L2",
                 "ms/example", "examples/s", "queries/ex", "fit s", "flags"]


def _attack_cells(row: dict[str, Any]) -> list[str]:
    if row.get("error"):
        return [row["attack"], row.get("threat") or "-", "-", "-", "-", "-", "-", "-", "-", "-", "-", "-", "-",
                f"error: {row['error']}"]
    flags = ", ".join(row.get("flags") or [])
    return [
        ("(!) " if flags else "") + row["attack"], row["threat"] or "-", norm_label(row["norm"]), _eps(row),
        str(row["n"]), _pct(row["robust_accuracy"]), _pct(row["success_rate"]), _num(row["linf_mean"]), _num(row["l2_mean"]),
        _num(None if row["time_per_example_s"] is None else 1000 * row["time_per_example_s"]),
        _num(row["examples_per_s"]), _num(row["queries_per_example"], 4),
        _num(row["fit_time_s"]), flags or "-",
    ]


def _median(values: list[float]) -> float | None:
    values = sorted(v for v in values if v is not None)
    return values[len(values) // 2] if values else None


TABLE_LEGEND = ("succ % (minimal attacks, run once): success rate; their robust accuracy per ε is read from the\n"
                "per-example norms. ms/ex, q/ex (model queries), fit s: medians over the ε grid. (!) = flagged.")


def pivot_tables(results: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    """``(title, header, rows)`` per norm: one row per attack, robust accuracy (%) per eps of the
    grid (fixed-budget attacks run at each eps; minimal attacks read from their per-example
    norms), then the median time and queries per example, fit time and flags. The terminal's
    table, and the one report.md and the README show."""
    tables = []
    rows = [r for r in results.get("attacks", []) if r.get("error") is None]
    grid = results.get("eps_grid", {})
    for norm in ("inf", "2"):
        mine = [r for r in rows if r.get("norm") == norm]
        if not mine:
            continue
        eps_values = sorted({float(e) for e in grid.get(norm, [])} | {float(r["eps"]) for r in mine if r.get("eps") is not None})
        header = ["attack", "threat", "n", *(f"ε={e:g}" for e in eps_values), "succ %", "ms/ex", "q/ex",
                  "fit s", "flags"]
        body = []
        for attack in sorted({r["attack"] for r in mine}):
            runs = [r for r in mine if r["attack"] == attack]
            by_eps = {float(r["eps"]): r for r in runs if r.get("eps") is not None}
            timed = [r for r in runs if r.get("eps_mode") in ("fixed", "minimal")]
            minimal = next((r for r in runs if r.get("eps_mode") == "minimal"), None)
            flags = sorted({f for r in runs for f in r.get("flags") or []})
            fit = _median([r.get("fit_time_s") for r in timed])
            time_ex = _median([r.get("time_per_example_s") for r in timed])
            name = ("(!) " if flags else "") + attack + (" *" if runs[0].get("norm_assumed") else "")
            body.append([
                name, runs[0].get("threat") or "-", str(runs[0].get("n")),
                *(_pct(by_eps[e]["robust_accuracy"]) if e in by_eps else "" for e in eps_values),
                _pct(minimal["success_rate"]) if minimal else "",
                _num(None if time_ex is None else 1000 * time_ex), _num(_median([r.get("queries_per_example") for r in timed]), 4),
                _num(fit) if fit is not None else "-", ", ".join(flags) or "-",
            ])
        tables.append((f"Robust accuracy (%) vs {norm_label(norm)} ε", header, body))
    return tables


def autoattack_column(rows: list[dict[str, Any]], schema: int) -> str:
    """The AutoAttack list the rows recorded, in today's names (see ``recorded_label``)."""
    label = next((r["autoattack_label"] for r in rows if r.get("autoattack_label")), None)
    return "AutoAttack: not run" if label is None else recorded_label(label, schema)


def trainer_header(rows: list[dict[str, Any]], schema: int) -> list[str]:
    """Column names carrying the attack labels the rows recorded (never a bare "AutoAttack")."""
    pgd = next((r["pgd_label"] for r in rows if r.get("pgd_label")), "PGD")
    autoattack = autoattack_column(rows, schema)
    return ["trainer", "source", "epochs", "s/epoch", "clean acc % [95% CI]", f"{pgd} acc % [95% CI]",
            f"{autoattack} acc % [95% CI]", "guard fired", "flags"]


def trainers_markdown(results: dict[str, Any]) -> str:
    """The trainers suite as one Markdown table (also used for the docs' generated block)."""
    rows = results["trainers"]
    return markdown_table(trainer_header(rows, int(results.get("schema", 1))), [_trainer_cells(r) for r in rows])


def _ci(row: dict[str, Any], key: str) -> str:
    value, ci = row.get(f"{key}_accuracy"), row.get(f"{key}_ci95")
    if value is None:
        return "-"
    return f"{100 * value:.1f} [{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]" if ci else _pct(value)


def _trainer_cells(row: dict[str, Any]) -> list[str]:
    if row.get("error"):
        return [row["trainer"], row.get("source") or "-", "-", "-", "-", "-", "-", "-", f"error: {row['error']}"]
    guard = row.get("guard")
    return [row["trainer"], row["source"], str(row["epochs"]), _num(row["time_per_epoch_s"]),
            _ci(row, "clean"), _ci(row, "pgd"), _ci(row, "autoattack"),
            "-" if guard is None else ("yes" if guard["fired"] else "no"),
            ", ".join(row.get("flags") or []) or "-"]


def format_table(header: list[str], rows: list[list[str]]) -> str:
    """A plain-text table with aligned columns."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths))
    out = [line, "  ".join("-" * w for w in widths)]
    out.extend("  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows)
    return "\n".join(out)


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out.extend("| " + " | ".join(c.replace("|", "/") for c in r) + " |" for r in rows)
    return "\n".join(out)


def _wall_line(results: dict[str, Any]) -> str:
    load = results.get("load_average")
    text = f"wall time {results.get('wall_time_s', 0):.1f} s, CPU time {results.get('cpu_time_s', 0):.1f} s"
    if load:
        text += f", load average {load[0]:.1f} on {results.get('environment', {}).get('cpu_count')} CPUs"
    return text


def terminal_summary(results: dict[str, Any]) -> str:
    """What ``art-ext bench`` prints."""
    parts: list[str] = []
    model = results.get("model", {})
    if results.get("attacks"):
        parts.append(f"Attacks on {results['config']['dataset']} ({model.get('source', '?')}, clean accuracy "
                     f"{_pct(model.get('clean_accuracy'))}% on {results.get('n_eval', '?')} test examples)")
        for title, header, body in pivot_tables(results):
            parts.append(title + ":")
            parts.append(format_table(header, body))
        parts.append(TABLE_LEGEND)
        parts.extend(f"FAILED {r['attack']}: {r['error']}" for r in results["attacks"] if r.get("error"))
        parts.extend(f"note: {note} (marked *)" for note in results.get("notes", []))
        parts.append("Every run (norms, examples/s, CPU time): results.csv and report.md")
    if results.get("trainers"):
        parts.append(f"Trainers ({results['trainer_settings']})")
        parts.append(format_table(trainer_header(results["trainers"], int(results.get("schema", 1))),
                                  [_trainer_cells(r) for r in results["trainers"]]))
    if results.get("text"):
        parts.append("Text suite: " + json.dumps(results["text"].get("summary", {}), default=str))
        parts.extend(str(line) for line in results["text"].get("markdown", []))
    reasons: dict[str, list[str]] = {}
    for skipped in results.get("skipped", []):
        reasons.setdefault(skipped["reason"], []).append(skipped["name"])
    parts.extend(f"skipped {', '.join(names)}: {reason}" for reason, names in reasons.items())
    checks = results.get("checks", [])
    if checks:
        failed = [c for c in checks if not c["passed"]]
        parts.append("Sanity checks: " + ("all passed" if not failed else f"{len(failed)} FAILED"))
        parts.extend(f"  [{'ok' if c['passed'] else 'FAIL'}] {c['name']}: {c['detail']}" for c in checks)
    parts.append(_wall_line(results))
    return "\n".join(parts)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None if math.isnan(value) else str(value)
    if hasattr(value, "item") and callable(value.item):
        try:
            return _jsonable(value.item())
        except (ValueError, TypeError):
            pass
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def write_json(results: dict[str, Any], out: Path) -> Path:
    path = out / RESULTS_JSON
    path.write_text(json.dumps(_jsonable(results), indent=2) + "\n")
    return path


def _csv_value(value: Any) -> Any:
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(_jsonable(value), sort_keys=True)
    return "" if value is None else value


def write_csv(results: dict[str, Any], out: Path) -> list[Path]:
    paths = []
    if results.get("attacks") is not None:
        path = out / RESULTS_CSV
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(ROW_KEYS)
            for row in results["attacks"]:
                writer.writerow([_csv_value(row.get(k)) for k in ROW_KEYS])
        paths.append(path)
    if results.get("trainers"):
        path = out / TRAINERS_CSV
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(TRAINER_KEYS)
            for row in results["trainers"]:
                writer.writerow([_csv_value(row.get(k)) for k in TRAINER_KEYS])
        paths.append(path)
    return paths


def _flagged_attacks(results: dict[str, Any]) -> set[str]:
    return {r["attack"] for r in results.get("attacks", []) if r.get("flags")}


def plot_robust_accuracy(results: dict[str, Any], path: Path) -> Path | None:
    """Robust accuracy (%) vs eps, one panel per norm, one line per attack."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in results.get("attacks", []) if r.get("error") is None and r.get("eps") is not None]
    norms = [n for n in ("inf", "2") if any(r["norm"] == n for r in rows)]
    if not norms:
        return None
    flagged = _flagged_attacks(results)
    low, high = results["model"].get("clip_values", [0.0, 1.0])
    fig, axes = plt.subplots(1, len(norms), figsize=(6.5 * len(norms), 5.2), squeeze=False)
    attacks = sorted({r["attack"] for r in rows})
    styles = series_styles(attacks)
    colors = {a: styles[a][0] for a in attacks}
    markers = {a: styles[a][1] for a in attacks}
    clean = results["model"].get("clean_accuracy")
    for ax, norm in zip(axes[0], norms):
        for attack in attacks:
            points = sorted((r["eps"], 100 * r["robust_accuracy"], r["eps_mode"]) for r in rows
                            if r["attack"] == attack and r["norm"] == norm)
            if not points:
                continue
            is_flagged = attack in flagged
            mode = " (from minimal norms)" if points[0][2] == "threshold" else ""
            n_attack = next(r["n"] for r in rows if r["attack"] == attack)
            if n_attack != results.get("n_eval"):
                mode += f" n={n_attack}"
            ax.plot([p[0] for p in points], [p[1] for p in points], marker=markers[attack], color=colors[attack],
                    markerfacecolor="none", markersize=7,
                    linestyle="--" if is_flagged else "-",
                    label=f"{attack}{mode}" + ("  FLAGGED" if is_flagged else ""))
        if clean is not None:
            ax.axhline(100 * clean, color="grey", linestyle=":", label=f"clean accuracy ({100 * clean:.1f}%)")
        ax.set_xlabel(f"ε, {norm_label(norm)} norm (input range [{low:g}, {high:g}])")
        ax.set_ylabel("robust accuracy (% of test examples)")
        ax.set_ylim(-2, 102)
        ax.set_title(f"{norm_label(norm)} attacks")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper right")
    cfg = results["config"]
    fig.suptitle(f"Robust accuracy vs ε: {cfg['dataset']}, {results['model'].get('source', 'model')}, "
                 f"n={results.get('n_eval')} (dashed = flagged by sanity checks)", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_cost(results: dict[str, Any], path: Path) -> Path | None:
    """Time per example (ms, log) vs success rate (%), one marker per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in table_rows(results) if r.get("error") is None and r.get("time_per_example_s")]
    if not rows:
        return None
    flagged = _flagged_attacks(results)
    attacks = sorted({r["attack"] for r in rows})
    styles = series_styles(attacks)
    fig, ax = plt.subplots(figsize=(10.5, 5.6))
    for attack in attacks:
        color, marker = styles[attack]
        mine = sorted((r for r in rows if r["attack"] == attack), key=lambda r: r["eps"] or 0)
        xs = [100 * (r["success_rate"] or 0.0) for r in mine]
        ys = [1000 * r["time_per_example_s"] for r in mine]
        label = attack + ("  FLAGGED" if attack in flagged else "")
        ax.plot(xs, ys, marker=marker, color=color, linestyle=":" if len(mine) > 1 else "",
                markersize=7, label=label, markerfacecolor="none" if attack in flagged else color)
        for r, x_val, y_val in zip(mine, xs, ys):
            ax.annotate(_eps(r), (x_val, y_val), textcoords="offset points", xytext=(4, 4), fontsize=7,
                        color=color)
    ax.set_yscale("log")
    ax.set_xlabel("attack success rate (% of correctly classified examples)")
    ax.set_ylabel("time per example (ms, log scale)")
    ax.set_xlim(-3, 103)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title(f"Cost vs strength: {results['config']['dataset']}, one point per eps (labels: ε; "
                 "'min' = minimal attack)", fontsize=10)
    fig.text(0.01, 0.01, "time = wall-clock attack generation per example on this machine; fit time "
             "(e.g. AdvGAN's generator training) is not included, see the table", fontsize=7, color="dimgray")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_trainers(results: dict[str, Any], path: Path) -> Path | None:
    """Time per epoch and clean / PGD-40 / AutoAttack accuracy per trainer."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    rows = [r for r in results.get("trainers", []) if r.get("error") is None]
    if not rows:
        return None
    names = [r["trainer"] + ("  (!) FLAGGED" if r.get("flags") else "") for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
    left.barh(names, [r["time_per_epoch_s"] for r in rows], color="tab:blue")
    left.set_xlabel("time per epoch (s, wall clock)")
    left.set_title("Training cost")
    left.invert_yaxis()
    pos = np.arange(len(rows))
    width = 0.27
    aa_label = autoattack_column(rows, int(results.get("schema", 1)))
    for k, (key, label) in enumerate([("clean_accuracy", "clean"), ("pgd_accuracy", "PGD-40x2"),
                                      ("autoattack_accuracy", aa_label)]):
        values = [100 * (r[key] if r[key] is not None else float("nan")) for r in rows]
        right.barh(pos + (k - 1) * width, values, height=width, label=label)
    right.set_yticks(pos, names)
    right.invert_yaxis()
    right.set_xlabel("accuracy on test examples (%)")
    right.set_xlim(0, 100)
    right.set_title(f"Accuracy (attacks at ε={results['trainer_settings'].get('eps')}, Linf)")
    right.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.suptitle(f"Adversarial trainers at equal settings: {results['config']['dataset']}, "
                 f"{results['trainer_settings'].get('epochs')} epochs, n={results['trainer_settings'].get('n_eval')} "
                 "((!) = flagged by sanity checks, see report.md)", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_markdown(results: dict[str, Any], out: Path, plots: list[Path]) -> Path:
    cfg = results["config"]
    env = results["environment"]
    model = results.get("model", {})
    lines = [f"# art-ext benchmark: {cfg['suite']} suite on {cfg['dataset']}", ""]
    lines.append(f"Command: `{results.get('command', 'art-ext bench')}`  ")
    lines.append(f"{'W' + _wall_line(results)[1:]}; {env.get('machine')}, torch threads "
                 f"{env.get('torch_threads')}, device {env.get('device')}  ")
    lines.append(f"Seed {cfg['seed']}; data split: {results.get('data', {}).get('split', '-')}  ")
    lines.append("Versions: " + ", ".join(f"{k} {v}" for k, v in env.get("versions", {}).items()))
    lines.append("")
    if results.get("attacks"):
        lines.append(f"## Attacks ({model.get('source', 'model')}, clean accuracy {_pct(model.get('clean_accuracy'))}% "
                     f"on {results.get('n_eval')} test examples)")
        lines.append("")
        for title, header, body in pivot_tables(results):
            lines.append(title + ":")
            lines.append("")
            lines.append(markdown_table(header, body))
            lines.append("")
        lines.append(TABLE_LEGEND)
        lines.append("")
        lines.extend(f"Note: {note} (marked *)." for note in results.get("notes", []))
        lines.append("")
        lines.append("Every run:")
        lines.append("")
        lines.append(markdown_table(ATTACK_HEADER, [_attack_cells(r) for r in table_rows(results)]))
        lines.append("")
        lines.append("Robust accuracy counts clean mistakes as non-robust; success rate is over the "
                     "correctly classified examples; norms are over the successful ones. "
                     "`eps = min`: a minimal-perturbation attack run once, its robust accuracy at each ε of "
                     "the grid is in results.csv (`eps_mode = threshold`) and in the plot. Queries = "
                     "examples forwarded through the model per attacked example, gradients included. "
                     "`(!)` marks rows flagged by the sanity checks.")
        capped = sorted({(r['attack'], r['n']) for r in results['attacks'] if r.get('n') and r['n'] < results.get('n_eval', 0)})
        if capped:
            lines.append("")
            lines.append("Attacks run on fewer examples for time: " + ", ".join(f"{a} (n={n})" for a, n in capped) + ".")
        lines.append("")
    if results.get("trainers"):
        lines.append(f"## Trainers ({results['trainer_settings']})")
        lines.append("")
        lines.append(trainers_markdown(results))
        lines.append("")
    if results.get("text"):
        lines.append("## Text suite")
        lines.append("")
        lines.extend(str(line) for line in results["text"].get("markdown", []))
        lines.append("")
        lines.append("```json")
        lines.append(json.dumps(_jsonable(results["text"]), indent=2)[:20000])
        lines.append("```")
        lines.append("")
    if results.get("checks"):
        lines.append("## Sanity checks (gradient masking and broken attacks)")
        lines.append("")
        for check in results["checks"]:
            lines.append(f"- **{'passed' if check['passed'] else 'FAILED'}** `{check['name']}`: {check['detail']}")
        lines.append("")
    if results.get("skipped"):
        lines.append("## Skipped")
        lines.append("")
        lines.extend(f"- {s['name']}: {s['reason']}" for s in results["skipped"])
        lines.append("")
    if plots:
        lines.append("## Plots")
        lines.append("")
        lines.extend(f"![{p.stem}]({p.name})" for p in plots)
        lines.append("")
    path = out / REPORT_MD
    path.write_text("\n".join(lines))
    return path


def write_all(results: dict[str, Any], out: Path) -> dict[str, Any]:
    """Write every output under ``out``; returns name -> path."""
    out.mkdir(parents=True, exist_ok=True)
    plots: list[Path] = []
    try:
        for maker, name in ((plot_robust_accuracy, PLOT_EPS), (plot_cost, PLOT_COST), (plot_trainers, PLOT_TRAINERS)):
            made = maker(results, out / name)
            if made is not None:
                plots.append(made)
    except ImportError:
        logger.warning("matplotlib is not installed (pip install 'art-ext[bench]'): no plots written")
    written: dict[str, Any] = {"plots": [str(p) for p in plots]}
    results["outputs"] = {"json": RESULTS_JSON, "csv": [p.name for p in write_csv(results, out)],
                          "report": REPORT_MD, "plots": [p.name for p in plots]}
    written["report"] = str(write_markdown(results, out, plots))
    written["json"] = str(write_json(results, out))
    return written


def refuse_mixed_precisions(runs: Iterable[Mapping[str, Any]], group: str, where: str) -> None:
    """Refuse runs of one ``group`` (``"method"``, ``"stage"``) trained in different precisions: the
    default ``precision="auto"`` resolves per CPU, so such seeds are two procedures, never one row or
    one comparison. The message names each precision's seeds."""
    found: dict[str, dict[str, list[str]]] = {}
    for run in runs:
        by_precision = found.setdefault(str(run.get(group)), {})
        by_precision.setdefault(str(run.get("precision")), []).append(str(run.get("seed")))
    for name, by_precision in found.items():
        if len(by_precision) > 1:
            listed = "; ".join(f"{precision}: seeds {', '.join(seeds)}" for precision, seeds in sorted(by_precision.items()))
            raise ValueError(f"{where}: the seeds of {group} {name!r} were trained in different precisions "
                             f"({listed}); train them all with one --precision")
