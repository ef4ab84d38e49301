"""Regenerate every figure in README.md and docs/*.md from the recorded results, or check that they match.

    python benchmarks/readme.py            # rewrite the generated blocks of README.md and docs/*.md
    python benchmarks/readme.py --check    # exit 1 if any block differs from the results files

A generated block is a table or line between ``<!-- begin: NAME -->`` and ``<!-- end: NAME -->``;
a single figure inside prose is ``<!-- v: NAME -->text<!-- /v -->``. Every NAME comes from a
renderer reading ``benchmarks/results/``: the default ``art-ext bench`` suite (here),
``benchmarks/trainers_report.py``, ``benchmarks/trainers_converged.py``, ``benchmarks/advgan.py`` and ``benchmarks/text.py``. A README
number outside a block is not allowed (``--check`` also fails on a block name no renderer knows).
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
README = ROOT / "README.md"
#: the documents whose generated blocks this script owns
DOCUMENTS = (README, *sorted((ROOT / "docs").rglob("*.md")))
BLOCK = re.compile(r"<!-- begin: (?P<name>[\w.\-]+) -->\n(?P<body>.*?)\n?<!-- end: (?P=name) -->", re.S)
VALUE = re.compile(r"<!-- v: (?P<name>[\w.\-]+) -->(?P<body>.*?)<!-- /v -->", re.S)
#: modules in benchmarks/ with ``readme_tables(results_root) -> dict[str, str]``
RENDERERS = ("trainers_report", "trainers_converged", "advgan", "text", "text_profile", "text_a2t_cost", "autoattack", "ci_matrix")


def _pct(value: Any) -> str:
    return "" if value is None else f"{100 * value:.1f}"


def _num(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"


#: the recording of the default suite the docs show: the fp32 one (a CPU without native bf16), the
#: one this project's current machines re-record; ``default`` (bf16 CPU) stays for bench-check there
DEFAULT_SUITE = "default-fp32"


def default_bench_tables(results_root: Path) -> dict[str, str]:
    """The default ``art-ext bench`` suite: robust accuracy against eps, per attack."""
    path = results_root / DEFAULT_SUITE / "results.json"
    if not path.is_file():
        return {}
    results = json.loads(path.read_text())
    rows = [r for r in results.get("attacks", []) if r.get("error") is None]
    blocks: dict[str, str] = {}
    for norm, mode, label in (("inf", "fixed", "linf"), ("2", "threshold", "l2")):
        chosen = [r for r in rows if r["norm"] == norm and r["eps_mode"] == mode]
        if not chosen:
            continue
        grid = sorted({r["eps"] for r in chosen})
        attacks = sorted({r["attack"] for r in chosen})
        header = ["attack", "threat", "n", *[f"ε={e:g}" for e in grid], "ms/example", "queries/example"]
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for name in attacks:
            mine = {r["eps"]: r for r in chosen if r["attack"] == name}
            first = next(iter(mine.values()))
            base = next((r for r in rows if r["attack"] == name and r["eps_mode"] == "minimal"), first)
            mid = mine.get(grid[len(grid) // 2], first)
            cost = base if mode == "threshold" else mid
            flags = sorted({f for r in mine.values() for f in r.get("flags") or []})
            lines.append("| " + " | ".join([
                f"{name}" + (f" (flagged: {', '.join(flags)})" if flags else ""), first["threat"], str(first["n"]),
                *[_pct(mine[e]["robust_accuracy"]) if e in mine else "" for e in grid],
                _num(1000 * cost["time_per_example_s"]) if cost.get("time_per_example_s") else "-",
                _num(cost.get("queries_per_example")),
            ]) + " |")
        blocks[f"bench-default-{label}"] = "\n".join(lines)
    env = results.get("environment", {})
    model = results.get("model", {})
    failed = [c["name"] for c in results.get("checks", []) if not c["passed"]]
    blocks["bench-default-setup"] = (
        f"{model.get('source', 'SmallCNN')} {_pct(model.get('clean_accuracy'))}% clean on {results.get('n_eval')} test "
        f"digits, seed {results['config']['seed']}, ART {env.get('versions', {}).get('adversarial-robustness-toolbox')}, "
        f"Foolbox {env.get('versions', {}).get('foolbox')}, torch {env.get('versions', {}).get('torch')}, "
        f"{env.get('torch_threads')} torch thread(s) on {env.get('hardware', {}).get('cpu_model') or 'an unrecorded CPU'} "
        f"({'bf16' if env.get('hardware', {}).get('cpu_bf16_native') else 'float32'} training; "
        f"`benchmarks/results/{DEFAULT_SUITE}`); the whole suite took {results.get('wall_time_s', 0):.0f} s of wall "
        f"time ({results.get('cpu_time_s', 0):.0f} s CPU) at load average "
        f"{(results.get('load_average') or [0])[0]:.1f}; sanity checks: "
        + ("all passed" if not failed else f"FAILED: {', '.join(failed)}")
    )
    trainers = results_root / "default" / "trainers" / "results.json"
    if trainers.is_file():
        from art_ext.bench.report import trainers_markdown

        recorded = json.loads(trainers.read_text())
        blocks["bench-default-trainers"] = trainers_markdown(recorded) + (
            f"\n\n{len(recorded['trainers'])} trainers, wall time {recorded.get('wall_time_s', 0):.0f} s "
            f"({recorded.get('cpu_time_s', 0):.0f} s CPU) at load average {(recorded.get('load_average') or [0])[0]:.1f}")
    return blocks


def renderers() -> list[Callable[[Path], dict[str, str]]]:
    found: list[Callable[[Path], dict[str, str]]] = [default_bench_tables]
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        for name in RENDERERS:
            module = importlib.import_module(name)
            function = getattr(module, "readme_tables", None)
            if callable(function):
                found.append(function)
    finally:
        sys.path.pop(0)
    return found


class StaleResults(Exception):
    """A results file lacks a field its renderer needs (written by an older benchmark)."""


def all_blocks(results_root: Path = RESULTS) -> dict[str, str]:
    blocks: dict[str, str] = {}
    for render in renderers():
        try:
            rendered = render(results_root)
        except KeyError as missing:
            raise StaleResults(f"{render.__module__}.{render.__name__}: a results file under {results_root} has no "
                               f"field {missing}; it predates the benchmark script, rerun that stage "
                               "(benchmarks/reproduce.sh --list)") from None
        blocks.update({k: v for k, v in rendered.items() if v})
    headline = headlines(blocks)
    if headline:
        blocks["headlines"] = headline
    return blocks


#: the README's one short table: (area, block, first cell of the row, cells shown, page with the full table)
HEADLINES = (
    ("trainer core: time per epoch, ART's Madry PGD-AT / art-ext `pgd` (1 thread idle, loaded; 2 threads; "
     "Intel with AMX)", "trainers-timing", "art.madry / pgd", slice(1, None), "docs/benchmarks/trainers.md"),
    ("trainer core on one NVIDIA H200: time per epoch, ART's Madry PGD-AT / art-ext `pgd` (PreAct ResNet-18, "
     "CIFAR-shaped; MNIST SmallCNN)", "trainers-gpu-timing", "art.madry / pgd", slice(1, None),
     "docs/benchmarks/trainers.md"),
    ("AdvGAN: generation speed vs ART PGD-40 (vs Foolbox)", "advgan-kappa0", "speed-up vs ART PGD-40 (vs Foolbox)",
     slice(1, None), "docs/benchmarks/advgan.md"),
    ("text: FreeLB with word swaps against standard fine-tuning over seeds (MiniLM, MR, 500 attacked sentences): "
     "seeds / clean accuracy difference / HotFlip a2t success drop / wordswap a2t success drop, points",
     "text-a2t-methods", "freelb-swap1",
     (1, 2, 4, 6), "docs/benchmarks/text.md"),
    ("text: A2T-style adversarial training (`text-a2t`) against standard fine-tuning over seeds (MiniLM, MR, 500 "
     "attacked sentences): seeds / clean accuracy difference / HotFlip a2t success drop / wordswap a2t success drop, "
     "points", "text-a2t-methods", "a2t", (1, 2, 4, 6), "docs/benchmarks/text.md"),
    ("evaluation: Croce & Hein's AutoAttack, torch-native, against ART's default AutoAttack list (MNIST pgd SmallCNN, "
     "1 thread, AMD EPYC)", "autoattack-headline", "native standard / ART art-default, wall time per image, same layout",
     slice(1, None), "docs/benchmarks/autoattack.md"),
)


def headlines(blocks: dict[str, str]) -> str:
    """One row of each area's generated table, for the README (the full tables are in docs/benchmarks/)."""
    lines = ["| area | measured | full table |", "|---|---|---|"]
    for area, block, first, shown, page in HEADLINES:
        for row in blocks.get(block, "").splitlines():
            cells = [c.strip() for c in row.strip().strip("|").split("|")]
            if cells and cells[0] == first:
                if not isinstance(shown, slice) and max(shown) >= len(cells):
                    break  # a table still without the figures the row quotes (e.g. one stage recorded)
                picked = cells[shown] if isinstance(shown, slice) else [cells[i] for i in shown]
                lines.append(f"| {area} | {' / '.join(c for c in picked if c and c != '-')} | `{page}` |")
                break
    return "\n".join(lines) if len(lines) > 2 else ""


def regenerate(text: str, blocks: dict[str, str]) -> tuple[str, list[str], list[str]]:
    """``(new text, changed block names, unknown block names)``."""
    changed: list[str] = []
    unknown: list[str] = []

    def fill(match: re.Match[str], block: bool) -> str:
        name = match.group("name")
        if name not in blocks:
            unknown.append(name)
            return match.group(0)
        if match.group("body") != blocks[name]:
            changed.append(name)
        if block:
            return f"<!-- begin: {name} -->\n{blocks[name]}\n<!-- end: {name} -->"
        return f"<!-- v: {name} -->{blocks[name]}<!-- /v -->"

    text = BLOCK.sub(lambda match: fill(match, block=True), text)
    text = VALUE.sub(lambda match: fill(match, block=False), text)
    return text, changed, unknown


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report differences, write nothing; exit 1 on any")
    parser.add_argument("--files", nargs="+", default=[str(p) for p in DOCUMENTS],
                        help="documents to regenerate (default README.md and docs/*.md)")
    parser.add_argument("--results", default=str(RESULTS))
    args = parser.parse_args(argv)
    try:
        blocks = all_blocks(Path(args.results))
    except StaleResults as error:
        print(error)
        return 1
    problems = 0
    for path in map(Path, args.files):
        text = path.read_text()
        new, changed, unknown = regenerate(text, blocks)
        shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        for name in unknown:
            print(f"{shown}: block {name!r}: nothing in benchmarks/results renders it (a figure without a results file)")
        problems += len(unknown)
        if args.check:
            for name in changed:
                print(f"{shown}: block {name!r} differs from what benchmarks/results/ gives")
            problems += len(changed)
        else:
            if new != text:
                path.write_text(new)
            if changed:
                print(f"{shown}: {len(changed)} block(s) regenerated: {', '.join(changed)}")
    if args.check:
        print("figures match the results files" if not problems else "figures do NOT match the results files")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
