"""What one adversarial step of ``text-a2t`` costs against one step of ``text-standard`` (issue 27).

    python benchmarks/text_a2t_cost.py --model-cache ~/.cache/art-ext/text-models --seed 0 --steps 20 \\
        --top-k 12,4,2 --out benchmarks/results/text-a2t-cost

Side by side in one process, one thread: from the same weights (the cached ``standard`` model of
``--seed`` after ``--epochs`` epochs, so the attack meets a model that has learned the task, as in
an adversarial epoch after A2T's clean one), ``--steps`` steps of batch 32 on the same MR training
sentences with ``text-standard`` and with ``text-a2t`` (HotFlip under the ``a2t`` preset on 20% of
each batch) at each HotFlip ``top_k`` (candidates checked per swap). Each run records its seconds
per step, the attack's share of them, how many attacked sentences the attack changed, and the
accuracy on the attacked rows (lower: a stronger training attack). The ratio of an adversarial
epoch follows directly; with ``clean_epochs=1`` of 2 epochs the run's ratio is about
``(1 + ratio) / 2``. Training the cached model first: ``benchmarks/text.py --mode train --stages
standard --seed 0 --epochs 2 --model-cache DIR``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from art_ext.data import data_root, portable_command

logger = logging.getLogger("benchmarks.text_a2t_cost")


def run(trainer_name: str, params: dict[str, Any], folder: Path, texts: list[str], labels: Any,
        settings: Any) -> dict[str, Any]:
    """Train a fresh copy of the weights in ``folder`` for one epoch on ``texts``; its timings."""
    from art_ext_plugins.text.benchmark.suite import load_classifier, word_encoder
    from art_ext_plugins.text.training.a2t import A2TTrainer
    from art_ext_plugins.text.training.trainers import TextTrainer

    clf = load_classifier(str(folder), settings.max_length, settings.seed)
    common: dict[str, Any] = dict(lr=settings.lr, nb_epochs=1, batch_size=settings.batch_size, seed=settings.seed,
                                  verbose=False, precision=settings.precision)
    trainer: Any = (A2TTrainer(clf, **params, word_encoder=word_encoder(settings), **common) if trainer_name == "text-a2t"
                    else TextTrainer(clf, **common))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        start = time.perf_counter()
        trainer.fit(texts, labels)
        seconds = time.perf_counter() - start
    record = trainer.history[-1]
    steps = int(record["step"])
    out: dict[str, Any] = {"trainer": trainer_name, "params": params, "seconds": seconds, "steps": steps,
                           "seconds_per_step": seconds / steps, "precision": trainer.policy.precision}
    if trainer_name == "text-a2t":
        out.update({"attack_seconds": record["attack_seconds"], "attacked": record["attacked"],
                    "changed": record["changed"], "adv_acc": record.get("train_adv_acc"),
                    "attack_seconds_per_attacked": record["attack_seconds"] / max(1, record["attacked"])})
    logger.info("%s %s: %.1f s for %d steps", trainer_name, params, seconds, steps)
    return out


def readme_tables(results_root: Path) -> dict[str, str]:
    """The ``text-a2t-cost`` block: seconds per step of each run against ``text-standard``."""
    path = results_root / "text-a2t-cost" / "results.json"
    if not path.is_file():
        return {}
    data = json.loads(path.read_text())
    base = data["standard_seconds_per_step"]
    hw = data["hardware"]
    lines = ["| trainer | HotFlip top_k | s / step | x text-standard | x over 2 epochs, 1 clean | attack share of the step | "
             "attacked rows changed | accuracy on attacked rows |", "|" + "---|" * 8,
             f"| text-standard ({len(base['runs'])} runs) | - | {base['median']:.2f} ({base['min']:.2f}-{base['max']:.2f}) | 1 | 1 | - | - | - |"]
    for r in data["runs"]:
        if r["trainer"] != "text-a2t":
            continue
        share = r["attack_seconds"] / r["seconds"]
        lines.append(f"| text-a2t | {r['params']['attack_params']['top_k']} | {r['seconds_per_step']:.2f} | "
                     f"{r['ratio_to_standard']:.2f} | {r['run_ratio_with_one_clean_epoch_of_two']:.2f} | {100 * share:.0f}% | "
                     f"{r['changed']} of {r['attacked']} | {100 * r['adv_acc']:.1f}% |")
    load = data["load_avg_before"][0]
    lines += ["", f"{data['runs'][0]['steps']} steps of batch 32 ({data['sentences']}), from the "
              f"{data['start_model']} model; {hw['cpu_model']}, {data['threads']} thread(s), load {load:.1f} at the start; "
              f"`{data['command']}`"]
    return {"text-a2t-cost": "\n".join(lines)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="benchmarks/results/text-a2t-cost")
    parser.add_argument("--data-dir", default=str(data_root() / "mr"))
    parser.add_argument("--model-cache", required=True, help="where benchmarks/text.py keeps its trained models")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=2, help="epochs of the cached standard model to start from")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--offset", type=int, default=4000, help="first training sentence of the measured steps")
    parser.add_argument("--top-k", default="12,4,2")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    import numpy as np
    import torch
    from art_ext_plugins.text.benchmark.suite import A2T_PARAMS, TextBenchSettings, model_cache_dir

    from art_ext.core.device import hardware_info
    from art_ext.data import load_mr

    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for noisy in ("transformers", "art_ext.core", "sentence_transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    settings = TextBenchSettings(data_dir=args.data_dir, epochs=args.epochs, seed=args.seed,
                                 model_cache=os.path.expanduser(args.model_cache))
    cache = model_cache_dir("standard", settings, settings.precision)
    if cache is None or not (cache / "train.json").is_file():
        raise SystemExit(f"no cached standard model for seed {args.seed}, {args.epochs} epochs under {args.model_cache}: "
                         "train it with benchmarks/text.py --mode train --stages standard")
    data = load_mr(args.data_dir, seed=0)
    n = args.steps * settings.batch_size
    texts = list(data.train_texts[args.offset: args.offset + n])
    labels = np.asarray(data.y_train[args.offset: args.offset + n])
    load_before = list(os.getloadavg())
    runs: list[dict[str, Any]] = [run("text-standard", {}, cache / "model", texts, labels, settings)]
    base = {k: v for k, v in A2T_PARAMS.items() if k not in ("clean_epochs", "attack_params")}
    for top_k in (int(k) for k in args.top_k.split(",")):
        runs.append(run("text-a2t", {**base, "attack_params": {"top_k": top_k}}, cache / "model", texts, labels, settings))
        runs.append(run("text-standard", {}, cache / "model", texts, labels, settings))  # drift of the machine's load
    standard = [r["seconds_per_step"] for r in runs if r["trainer"] == "text-standard"]
    median = statistics.median(standard)
    for r in runs:
        if r["trainer"] == "text-a2t":
            r["ratio_to_standard"] = r["seconds_per_step"] / median
            r["run_ratio_with_one_clean_epoch_of_two"] = (1 + r["ratio_to_standard"]) / 2
    result = {"standard_seconds_per_step": {"median": median, "min": min(standard), "max": max(standard), "runs": standard},
              "runs": runs, "sentences": f"MR train {args.offset}-{args.offset + n - 1}", "start_model": f"standard seed {args.seed}, {args.epochs} epochs",
              "hardware": hardware_info(), "threads": args.threads, "load_avg_before": load_before,
              "load_avg_after": list(os.getloadavg()),
              "command": portable_command(["python", "benchmarks/text_a2t_cost.py", *(argv if argv is not None else sys.argv[1:])])}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(result, indent=1, default=float))
    for r in runs:
        print(json.dumps({k: r[k] for k in r if k != "params"} | {"top_k": r["params"].get("attack_params", {}).get("top_k")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
