"""Side-by-side benchmark: art-ext core trainers vs ART's adversarial trainers on MNIST.

    python benchmarks/trainers.py --out benchmarks/results/trainers

Same process, same SmallCNN (art_ext.models), same initial weights (a clean SmallCNN, cached,
trained 5 epochs on the train split), same data (MNIST t10k: first 8,000 train / last 2,000 test,
from ../shared/data/mnist), Adam lr 1e-3, batch 128, PGD-7 eps 0.3 step 2.5*eps/7.

Measured, medians over repeats (repeat 0 trains ``--epochs`` epochs and is also the accuracy
run; every further repeat trains 1 epoch from the same initial weights):

* per-epoch training time of art-ext ``pgd``/``trades``/``fbf``/``free`` and of ART's
  ``AdversarialTrainerMadryPGD``/``AdversarialTrainerTRADESPyTorch``/``AdversarialTrainerFBFPyTorch``
  and ratios ART / ours;
* the overhead ratio ``PGD-K epoch / ((K+1) * clean epoch)``, each framework against its own clean
  epoch (ours: the core loop's clean step; ART: ``PyTorchClassifier.fit``);
* after ``--epochs`` epochs: clean accuracy on the 2,000 test images, robust accuracy under PGD-40
  (the core's PGD, ``--restarts`` random restarts, step 2.5*eps/40) on the first ``--n-pgd`` test
  images, and under ART's AutoAttack (APGD-CE + APGD-DLR, 100 iterations, 1 restart each: the
  full AutoAttack's Square/5000 queries is out of reach on a 2-core CPU) on the first ``--n-aa``;
* resident memory after every epoch (current and peak RSS), to check it does not grow.

Writes ``results.json`` and ``results.md`` into ``--out``.
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import logging
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

logger = logging.getLogger("benchmarks.trainers")

K = 7
EPS = 0.3
BATCH = 128
LR = 1e-3


def rss_mb() -> tuple[float, float]:
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    with open("/proc/self/statm") as handle:
        current = int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    return current, peak


def make_clf(state: dict[str, torch.Tensor], shape: tuple[int, ...]) -> Any:
    from art_ext.models import SmallCNN, make_classifier

    model = SmallCNN(shape, 10)
    model.load_state_dict(copy.deepcopy(state))
    return make_classifier(model, shape, 10, (0.0, 1.0), lr=LR)


# ---------------------------------------------------------------- one training run per method


def run_ours(name: str, clf: Any, x: np.ndarray, y: np.ndarray, epochs: int, seed: int) -> list[dict[str, Any]]:
    import art_ext
    from art_ext.core import CoreTrainer

    common = {"nb_epochs": epochs, "batch_size": BATCH, "verbose": False, "seed": seed}
    if name == "clean":
        trainer: Any = CoreTrainer(clf, **common)
    elif name == "free":
        trainer = art_ext.get_trainer("free", clf, eps=EPS, replays=args_global.replays, **common)
    elif name == "fbf":
        trainer = art_ext.get_trainer("fbf", clf, eps=EPS, **common)
    else:
        trainer = art_ext.get_trainer(name, clf, eps=EPS, max_iter=K, eps_step=2.5 * EPS / K, **common)
    history = trainer.fit(x, y) or trainer.history
    return [{"time": h["train_time"], "rss_mb": h["rss_mb"], "peak_rss_mb": h["peak_rss_mb"]} for h in history]


def run_art(name: str, clf: Any, x: np.ndarray, y: np.ndarray, epochs: int, seed: int) -> list[dict[str, Any]]:
    from art.attacks.evasion import ProjectedGradientDescent
    from art.defences.trainer import (
        AdversarialTrainerFBFPyTorch,
        AdversarialTrainerMadryPGD,
        AdversarialTrainerTRADESPyTorch,
    )

    np.random.seed(seed)
    torch.manual_seed(seed)
    y = np.eye(10, dtype=np.float32)[y]  # one-hot: ART's FBF trainer fails on index labels
    records = []
    if name == "art.fbf":  # its cyclic LR spans the whole run: one call, time split evenly
        trainer = AdversarialTrainerFBFPyTorch(clf, eps=EPS)
        t0 = time.perf_counter()
        trainer.fit(x, y, nb_epochs=epochs, batch_size=BATCH)
        per = (time.perf_counter() - t0) / epochs
        current, peak = rss_mb()
        return [{"time": per, "rss_mb": current, "peak_rss_mb": peak} for _ in range(epochs)]
    for _ in range(epochs):
        t0 = time.perf_counter()
        if name == "art.clean":
            clf.fit(x, y, batch_size=BATCH, nb_epochs=1)
        elif name == "art.madry_pgd":
            AdversarialTrainerMadryPGD(clf, nb_epochs=1, batch_size=BATCH, eps=EPS, eps_step=2.5 * EPS / K,
                                       max_iter=K, num_random_init=1).fit(x, y)
        elif name == "art.trades":
            attack = ProjectedGradientDescent(clf, eps=EPS, eps_step=2.5 * EPS / K, max_iter=K, num_random_init=1,
                                              batch_size=BATCH, verbose=False)
            AdversarialTrainerTRADESPyTorch(clf, attack, beta=6.0).fit(x, y, nb_epochs=1, batch_size=BATCH)
        else:
            raise ValueError(name)
        elapsed = time.perf_counter() - t0
        current, peak = rss_mb()
        records.append({"time": elapsed, "rss_mb": current, "peak_rss_mb": peak})
    return records


# ---------------------------------------------------------------- evaluation


def evaluate(clf: Any, x: np.ndarray, y: np.ndarray, n_pgd: int, n_aa: int, restarts: int) -> dict[str, Any]:
    from art.attacks.evasion import AutoAttack, AutoProjectedGradientDescent

    from art_ext.core.cli import robust_accuracy
    from art_ext.models import accuracy

    result: dict[str, Any] = {"clean_acc": accuracy(clf, x, y)}
    if n_pgd <= 0:
        return result
    t0 = time.perf_counter()
    _, result["pgd40_acc"] = robust_accuracy(clf, x[:n_pgd], y[:n_pgd], eps=EPS, steps=40, restarts=restarts)
    result["pgd40_time"] = time.perf_counter() - t0
    if n_aa > 0:
        t0 = time.perf_counter()
        attacks = [
            AutoProjectedGradientDescent(clf, eps=EPS, eps_step=0.1, max_iter=100, nb_random_init=1,
                                         batch_size=128, loss_type=loss, verbose=False)
            for loss in ("cross_entropy", "difference_logits_ratio")
        ]
        aa = AutoAttack(clf, eps=EPS, eps_step=0.1, attacks=attacks, batch_size=128)
        x_adv = aa.generate(x[:n_aa], y=np.eye(10, dtype=np.float32)[y[:n_aa]])
        result["autoattack_acc"] = accuracy(clf, x_adv, y[:n_aa])
        result["autoattack_time"] = time.perf_counter() - t0
    return result


# ---------------------------------------------------------------- main


def accuracy_epochs(args: argparse.Namespace, method: str) -> int:
    """Epochs of ``method`` in the accuracy run (repeat 0)."""
    if method == "free" and args.free_epochs is not None:
        return int(args.free_epochs)
    return int(args.epochs)


PAIRS = [("pgd", "art.madry_pgd"), ("trades", "art.trades"), ("fbf", "art.fbf")]
args_global: argparse.Namespace


def main(argv: list[str] | None = None) -> int:
    global args_global
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/results/trainers")
    parser.add_argument("--data-dir", default="../shared/data/mnist")
    parser.add_argument("--epochs", type=int, default=2, help="epochs of the accuracy run (repeat 0)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--n-pgd", type=int, default=1000, help="test images for PGD-40")
    parser.add_argument("--n-aa", type=int, default=200, help="test images for AutoAttack (0: skip)")
    parser.add_argument("--restarts", type=int, default=2, help="PGD-40 random restarts")
    parser.add_argument("--replays", type=int, default=4, help="Free-AT replays")
    parser.add_argument("--free-epochs", type=int, default=None,
                        help="epochs of `free` in the accuracy run (default: --epochs); Free-AT's protocol "
                             "trains fewer epochs because each one replays every batch --replays times")
    parser.add_argument("--methods", default="clean,art.clean,pgd,art.madry_pgd,trades,art.trades,fbf,art.fbf,free")
    parser.add_argument("--n-train", type=int, default=8000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.free_epochs is not None and args.free_epochs < 1:
        parser.error(f"--free-epochs must be >= 1, got {args.free_epochs}")
    args_global = args
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("art").setLevel(logging.WARNING)
    torch.set_num_threads(args.threads)
    import warnings

    warnings.filterwarnings("ignore")

    from art_ext.data import load_mnist
    from art_ext.models import cached_small_cnn

    data = load_mnist(args.data_dir)
    x, y = data.x_train[: args.n_train], data.y_train[: args.n_train]
    init = cached_small_cnn(data, epochs=5, seed=args.seed)
    state = {k: v.detach().clone() for k, v in init.model.state_dict().items()}
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    load_before = os.getloadavg()

    epoch_times: dict[str, list[float]] = {m: [] for m in methods}
    memory: dict[str, list[dict[str, float]]] = {m: [] for m in methods}
    accuracy: dict[str, dict[str, Any]] = {}
    started = time.perf_counter()
    for repeat in range(args.repeats):
        for method in methods:
            epochs = accuracy_epochs(args, method) if repeat == 0 else 1
            clf = make_clf(state, data.input_shape)
            gc.collect()
            t0 = time.perf_counter()
            runner = run_art if method.startswith("art.") else run_ours
            records = runner(method, clf, x, y, epochs, args.seed + repeat)
            epoch_times[method] += [r["time"] for r in records]
            if repeat == 0:
                memory[method] = [{"rss_mb": r["rss_mb"], "peak_rss_mb": r["peak_rss_mb"]} for r in records]
            logger.info("repeat %d %-14s %d epoch(s) %.1fs  per epoch %s", repeat, method, epochs,
                        time.perf_counter() - t0, [round(r["time"], 1) for r in records])
            if repeat == 0 and method not in ("clean", "art.clean"):
                accuracy[method] = evaluate(clf, data.x_test, data.y_test, args.n_pgd, args.n_aa, args.restarts)
                logger.info("   %s accuracy %s", method, {k: round(v, 4) for k, v in accuracy[method].items()})
            elif repeat == 0:
                accuracy[method] = {"clean_acc": float(np.mean(np.argmax(clf.predict(data.x_test), 1) == data.y_test))}
            del clf
    wall = time.perf_counter() - started

    median = {m: statistics.median(t) for m, t in epoch_times.items() if t}
    ratios: dict[str, Any] = {}
    for ours, art in PAIRS:
        if ours in median and art in median:
            ratios[f"{art} / {ours}"] = median[art] / median[ours]
    overhead = {}
    if "pgd" in median and "clean" in median:
        overhead["art-ext"] = median["pgd"] / ((K + 1) * median["clean"])
    if "art.madry_pgd" in median and "art.clean" in median:
        overhead["ART"] = median["art.madry_pgd"] / ((K + 1) * median["art.clean"])
    targets: dict[str, Any] = {}
    if "art.madry_pgd / pgd" in ratios:
        targets["pgd >= 2.0x faster than ART Madry"] = ratios["art.madry_pgd / pgd"] >= 2.0
    if "pgd" in accuracy and "art.madry_pgd" in accuracy:
        diff = accuracy["pgd"]["pgd40_acc"] - accuracy["art.madry_pgd"]["pgd40_acc"]
        targets["pgd robust acc within 2 points of ART Madry (PGD-40)"] = abs(diff) <= 0.02 or diff > 0
        targets["pgd - ART Madry PGD-40 robust acc (points)"] = 100 * diff
    if "art-ext" in overhead:
        targets["overhead ratio <= 1.0 (art-ext)"] = overhead["art-ext"] <= 1.0
    if "pgd" in accuracy:
        for fast in ("free", "fbf"):
            if fast in accuracy and fast in median:
                gap = 100 * (accuracy["pgd"]["pgd40_acc"] - accuracy[fast]["pgd40_acc"])
                time_frac = (accuracy_epochs(args, fast) * median[fast]) / (args.epochs * median["pgd"])
                targets[f"{fast}: PGD-40 gap to pgd (points)"] = gap
                targets[f"{fast}: training time / pgd's (epochs x median epoch)"] = time_frac
                targets[f"{fast} within 3 points of pgd in <= 40% of its time"] = gap <= 3.0 and time_frac <= 0.4

    results = {
        "command": "python benchmarks/trainers.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "setup": {
            "data": data.split, "n_train": len(x), "n_test": len(data.x_test), "model": "SmallCNN (art_ext.models)",
            "init": "clean SmallCNN, 5 epochs on the train split (cached), identical for every method",
            "optimizer": f"Adam lr {LR}", "batch_size": BATCH, "attack": f"PGD-{K} Linf eps {EPS} step 2.5*eps/{K}",
            "epochs_accuracy_run": args.epochs, "repeats": args.repeats, "threads": args.threads,
            "pgd40": f"core PGD-40, {args.restarts} restarts, step 2.5*eps/40, first {args.n_pgd} test images",
            "autoattack": f"ART AutoAttack(APGD-CE + APGD-DLR, 100 iter, 1 restart each), first {args.n_aa} test images",
            "free_replays": args.replays, "free_epochs_accuracy_run": accuracy_epochs(args, "free"),
            "torch": torch.__version__, "python": platform.python_version(), "cpu_count": os.cpu_count(),
            "loadavg_before": load_before, "loadavg_after": os.getloadavg(), "wall_s": wall,
        },
        "epoch_times_s": epoch_times,
        "median_epoch_s": median,
        "speedup_art_over_ours": ratios,
        "overhead_ratio": overhead,
        "accuracy": accuracy,
        "memory_mb_per_epoch": memory,
        "targets": targets,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2))
    (out / "results.md").write_text(markdown(results))
    print(markdown(results))
    return 0


def markdown(r: dict[str, Any]) -> str:
    s = r["setup"]
    lines = [
        "# Trainer benchmark: art-ext core vs ART (CPU)",
        "",
        f"`{r['command']}`",
        "",
        f"{s['data']}; {s['model']}; init: {s['init']}; {s['optimizer']}, batch {s['batch_size']}, "
        f"{s['attack']}; accuracy after {s['epochs_accuracy_run']} epoch(s) (free: "
        f"{s.get('free_epochs_accuracy_run', s['epochs_accuracy_run'])}, {s['free_replays']} replays); {s['repeats']} repeats "
        f"(medians); torch threads {s['threads']}; load average before/after "
        f"{[round(v, 1) for v in s['loadavg_before']]} / {[round(v, 1) for v in s['loadavg_after']]}; wall {s['wall_s']:.0f} s.",
        "",
        "| method | median epoch (s) | epochs timed | clean acc | PGD-40 acc | AutoAttack acc | peak RSS per epoch (MiB) |",
        "|---|---|---|---|---|---|---|",
    ]
    for method, median in r["median_epoch_s"].items():
        acc = r["accuracy"].get(method, {})
        mem = ", ".join(f"{m['peak_rss_mb']:.0f}" for m in r["memory_mb_per_epoch"].get(method, []))

        def fmt(key: str, acc: dict[str, Any] = acc) -> str:
            return f"{100 * acc[key]:.1f}%" if key in acc else "-"

        lines.append(f"| {method} | {median:.2f} | {len(r['epoch_times_s'][method])} | {fmt('clean_acc')} | "
                     f"{fmt('pgd40_acc')} | {fmt('autoattack_acc')} | {mem} |")
    lines += ["", "| ratio | value |", "|---|---|"]
    for key, value in r["speedup_art_over_ours"].items():
        lines.append(f"| epoch time {key} | {value:.2f}x |")
    for key, value in r["overhead_ratio"].items():
        lines.append(f"| overhead PGD-{K} / ({K + 1} x clean), {key} | {value:.2f} |")
    lines += ["", "| target | result |", "|---|---|"]
    for key, value in r["targets"].items():
        shown = ("met" if value else "MISSED") if isinstance(value, bool) else f"{value:.2f}"
        lines.append(f"| {key} | {shown} |")
    lines += ["", f"PGD-40: {s['pgd40']}. AutoAttack: {s['autoattack']}.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
