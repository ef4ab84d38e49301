"""Trainer benchmark: art-ext's trainers against ART's on MNIST, timed side by side and evaluated
with intervals over seeds (issues 14, 15 and 16).

    python benchmarks/trainers.py timing   --out benchmarks/results/trainers --threads 1
    python benchmarks/trainers.py select   --out benchmarks/results/trainers
    python benchmarks/trainers.py budget   --out benchmarks/results/trainers-converged --epochs 20 --seeds 0 --methods pgd,trades,fbf,nfgsm
    python benchmarks/trainers.py accuracy --out benchmarks/results/trainers --eps 0.3 --seeds 0,1,2
    python benchmarks/trainers.py autoattack-standard --out benchmarks/results/trainers --units smallcnn/eps0.3/pgd/seed0
    python benchmarks/trainers.py timing   --out benchmarks/results/trainers --data cifar-shaped --arch cifar_cnn --methods pgd,art.madry --tag cifar
    python benchmarks/trainers.py report   --out benchmarks/results/trainers

Setup (recorded in every file): MNIST t10k from ``../shared/data/mnist``: the first 8,000 images
are the training pool, of which the last 1,000 are the **validation split** (per-epoch curves,
every choice of hyperparameter) and the first 7,000 train; the last 2,000 are the **test split**,
of which the first ``--n-test`` (1,000) are attacked, once, at the end. Every method of a seed
starts from the same clean network (the benchmark SmallCNN or the model zoo's BatchNorm CNN,
trained 5 epochs on the 7,000 with that seed, cached); Adam lr 1e-3, batch 128, Linf eps 0.3.

Stages (each writes JSON files under ``--out``; ``accuracy`` writes one file per unit, so stages can
run in several processes and resume after an interruption):

* ``timing``: one epoch of each method from the same weights, interleaved, ``--repeats`` times,
  at ``--threads`` torch threads: medians with spread, ratios ART / art-ext;
* ``select``: N-FGSM's ``k`` and GradAlign's ``lam`` chosen on the validation split (PGD-50x3 on
  its 1,000 images);
* ``budget``: validation curves over ``--epochs`` (e.g. 20) per method and seed, to choose the
  epoch budget where the methods have converged; the test split is not touched;
* ``accuracy``: each method x seed trains ``--epochs`` epochs and is evaluated on the test split
  with :func:`art_ext.evaluation.evaluate` in float32 (clean, PGD-50 with ``--restarts`` restarts,
  the ``--aa`` AutoAttack list, by default Croce & Hein's standard list run natively, gradient-masking checks); the
  trained model and its record are saved before the evaluation (an interrupted evaluation resumes without
  retraining, and weights of another method, budget, seed or choice are refused), so attacks can also be added
  later without retraining;
* ``autoattack-standard``: Croce & Hein's standard AutoAttack list (native) added to saved units;
* ``report``: ``results.json`` and ``results.md``: mean and sd over seeds, pooled 95% Wilson
  intervals, paired comparisons on the same test images, per-epoch validation curves, the
  issues' targets.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from art_ext.data import data_root, portable_command

logger = logging.getLogger("benchmarks.trainers")

EPS = 0.3
K = 7
BATCH = 128
LR = 1e-3
N_TRAIN, N_VAL = 7000, 1000
#: the methods and how each is built: (framework, registered trainer, parameters)
METHODS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "pgd": ("art-ext", "pgd", {"max_iter": K}),
    "pgd-fp32": ("art-ext", "pgd", {"max_iter": K, "precision": "fp32"}),
    "pgd-compile": ("art-ext", "pgd", {"max_iter": K, "compile": True}),
    "trades": ("art-ext", "trades", {"max_iter": K, "beta": 6.0}),
    "free": ("art-ext", "free", {"replays": 4}),
    "fbf": ("art-ext", "fbf", {"clip_start": False, "cyclic_lr": True, "lr_max": 5e-3}),
    "fbf-noguard": ("art-ext", "fbf", {"clip_start": False, "cyclic_lr": True, "lr_max": 5e-3, "guard": False}),
    "nfgsm": ("art-ext", "nfgsm", {"lr_schedule": "cyclic", "lr_max": 5e-3}),
    "gradalign": ("art-ext", "gradalign", {"lr_schedule": "cyclic", "lr_max": 5e-3}),
    # the guard checking 4 times per epoch instead of its default once (issue 15 asked for "a few")
    "fbf-guard4": ("art-ext", "fbf", {"clip_start": False, "cyclic_lr": True, "lr_max": 5e-3, "guard_checks_per_epoch": 4}),
    "nfgsm-guard4": ("art-ext", "nfgsm", {"lr_schedule": "cyclic", "lr_max": 5e-3, "guard_checks_per_epoch": 4}),
    "art.madry": ("ART", "AdversarialTrainerMadryPGD", {"max_iter": K}),
    "art.trades": ("ART", "AdversarialTrainerTRADESPyTorch", {"max_iter": K, "beta": 6.0}),
    "art.fbf": ("ART", "AdversarialTrainerFBFPyTorch", {}),
}
#: Free-AT replays each batch: its protocol trains fewer epochs for the same budget
EPOCHS_OVERRIDE = {"free": 3}
ART_PAIRS = [("pgd", "art.madry"), ("pgd-fp32", "art.madry"), ("trades", "art.trades"), ("fbf", "art.fbf")]
#: hyperparameters chosen on the validation split, per method: (parameter, candidates)
SELECTION: dict[str, tuple[str, tuple[float, ...]]] = {
    "nfgsm": ("k", (0.5, 1.0, 2.0)),
    "gradalign": ("lam", (2.0, 20.0, 100.0)),
}


def set_steps(steps: int) -> None:
    """PGD steps of every method that takes them (``--steps``; Rice et al.'s CIFAR recipe uses 10)."""
    global K
    K = steps
    for _, _, params in METHODS.values():
        if "max_iter" in params:
            params["max_iter"] = steps


def set_precision(precision: str) -> None:
    """Training precision of every art-ext method that does not fix its own (``--precision``):
    ``auto`` resolves per CPU (bf16 with AMX or AVX512-BF16, fp32 elsewhere), so a table whose seeds
    run on different machines names one precision explicitly."""
    if precision == "auto":
        return
    for framework, _, params in METHODS.values():
        if framework == "art-ext":
            params.setdefault("precision", precision)


# ---------------------------------------------------------------- setup


def load_avg() -> list[float]:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:  # pragma: no cover
        return []


def environment(threads: int) -> dict[str, Any]:
    import importlib.metadata

    from art_ext.core.device import hardware_info

    return {
        "python": platform.python_version(), "torch_threads": threads, "hardware": hardware_info(),
        "versions": {d: importlib.metadata.version(d) for d in ("adversarial-robustness-toolbox", "torch", "numpy")},
        "load_avg": load_avg(),
    }


class Data:
    """The fixed MNIST splits (see the module docstring)."""

    input_shape: tuple[int, ...] = (1, 28, 28)

    def __init__(self, data_dir: str) -> None:
        from art_ext.data import load_mnist

        mnist = load_mnist(data_dir, full=False)  # the recorded split: t10k alone, positional
        self.x_train, self.y_train = mnist.x_train[:N_TRAIN], mnist.y_train[:N_TRAIN]
        self.x_val, self.y_val = mnist.x_train[N_TRAIN : N_TRAIN + N_VAL], mnist.y_train[N_TRAIN : N_TRAIN + N_VAL]
        self.x_test, self.y_test = mnist.x_test, mnist.y_test
        self.split = (f"MNIST t10k (positional): train images 0-{N_TRAIN - 1}, validation {N_TRAIN}-"
                      f"{N_TRAIN + N_VAL - 1}, test the last {len(mnist.x_test)}")


class CifarShaped(Data):
    """Random images of CIFAR-10's shape (3x32x32, uniform in [0, 1], random labels of 10 classes),
    for the timing stage only: the time of an epoch does not depend on what the pixels show, and
    CIFAR-10 itself is not on these machines. Nothing is learned from them and no accuracy is
    reported on them."""

    input_shape = (3, 32, 32)

    def __init__(self, n_train: int, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.x_train = rng.random((n_train, 3, 32, 32), dtype=np.float32)
        self.y_train = rng.integers(0, 10, n_train).astype(np.int64)
        self.x_val, self.y_val = self.x_train[:200], self.y_train[:200]
        self.x_test, self.y_test = self.x_train[:200], self.y_train[:200]
        self.split = f"random CIFAR-shaped tensors (3x32x32, seed {seed}): {n_train} train; timing only"


def clean_init(data: Data, arch: str, seed: int, cache: Path) -> dict[str, torch.Tensor]:
    """Weights of the clean network every method of ``seed`` starts from (cached)."""
    from art_ext.core.checkpoint import atomic_save, load_tensor_file
    from art_ext.models import MODEL_ZOO, train_model

    shape = data.input_shape
    path = cache / (f"init-{arch}-seed{seed}.pt" if shape == (1, 28, 28) else f"init-{arch}-{'x'.join(map(str, shape))}-seed{seed}.pt")
    if path.is_file():
        return load_tensor_file(path, "cached init")  # type: ignore[no-any-return]
    torch.manual_seed(seed)
    model = MODEL_ZOO[arch](shape, 10)
    if isinstance(data, CifarShaped):  # random pixels teach nothing: timing starts from random weights
        return {k: v.detach().clone() for k, v in model.state_dict().items()}
    train_model(model, data.x_train, data.y_train, epochs=5, seed=seed)
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    atomic_save(state, path)
    return state


DEVICE = {"type": "cpu"}


def make_classifier(arch: str, state: dict[str, torch.Tensor], input_shape: tuple[int, ...] = (1, 28, 28)) -> Any:
    from art_ext.models import MODEL_ZOO
    from art_ext.models import make_classifier as wrap

    model = MODEL_ZOO[arch](input_shape, 10)
    model.load_state_dict(copy.deepcopy(state))
    return wrap(model, input_shape, 10, (0.0, 1.0), lr=LR, device_type="gpu" if DEVICE["type"] == "cuda" else "cpu")


def seed_all(seed: int) -> None:
    import random

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def train(method: str, clf: Any, data: Data, *, eps: float, epochs: int, seed: int, chosen: dict[str, Any],
          validation: bool, validation_samples: int = 200) -> dict[str, Any]:
    """Train ``clf`` in place with ``method``; return time, per-epoch history and guard events."""
    framework, name, params = METHODS[method]
    seed_all(seed)
    record: dict[str, Any] = {"method": method, "framework": framework, "trainer": name, "epochs": epochs}
    if framework == "ART":
        return {**record, **train_art(name, clf, data, eps=eps, epochs=epochs, params=params)}
    import art_ext

    kwargs: dict[str, Any] = {"eps": eps, "nb_epochs": epochs, "batch_size": BATCH, "seed": seed, "verbose": False, **params}
    if "max_iter" in kwargs:
        kwargs["eps_step"] = 2.5 * eps / kwargs["max_iter"]
    kwargs.update(chosen)
    checks_per_epoch = kwargs.pop("guard_checks_per_epoch", None)
    if checks_per_epoch:
        from art_ext.core.guard import CollapseGuard

        steps_per_epoch = -(-len(data.x_train) // BATCH)
        kwargs["guard"] = CollapseGuard(every=max(1, steps_per_epoch // checks_per_epoch))
    if validation:
        kwargs.update(eval_max_iter=10, eval_restarts=1, eval_max_samples=validation_samples)
    trainer = art_ext.get_trainer(name, clf, **kwargs)
    start = time.perf_counter()
    trainer.fit(data.x_train, data.y_train, validation_data=(data.x_val, data.y_val) if validation else None)
    wall = time.perf_counter() - start
    guard = getattr(trainer, "guard", None)
    record.update({
        "params": {**{k: v for k, v in kwargs.items() if isinstance(v, (int, float, str, bool))},
                   **({"guard_every": guard.every} if guard is not None and guard.every else {})},
        "precision": trainer.policy.precision if trainer.policy else None,
        "channels_last": bool(trainer.policy.channels_last) if trainer.policy else None,
        "train_seconds": sum(h["train_time"] for h in trainer.history), "wall_seconds": wall,
        "history": trainer.history,
        "guard": None if guard is None else {"fired": len(guard.events), "events": guard.events,
                                             "checks": guard.checks_run, "seconds": guard.seconds},
    })
    return record


def train_art(name: str, clf: Any, data: Data, *, eps: float, epochs: int, params: dict[str, Any]) -> dict[str, Any]:
    from art.attacks.evasion import ProjectedGradientDescent
    from art.defences.trainer import (
        AdversarialTrainerFBFPyTorch,
        AdversarialTrainerMadryPGD,
        AdversarialTrainerTRADESPyTorch,
    )

    y = np.eye(10, dtype=np.float32)[data.y_train]  # one-hot: ART's FBF trainer fails on index labels
    start = time.perf_counter()
    if name == "AdversarialTrainerMadryPGD":
        AdversarialTrainerMadryPGD(clf, nb_epochs=epochs, batch_size=BATCH, eps=eps, eps_step=2.5 * eps / K,
                                   max_iter=K, num_random_init=1).fit(data.x_train, y)
    elif name == "AdversarialTrainerTRADESPyTorch":
        attack = ProjectedGradientDescent(clf, eps=eps, eps_step=2.5 * eps / K, max_iter=K, num_random_init=1,
                                          batch_size=BATCH, verbose=False)
        AdversarialTrainerTRADESPyTorch(clf, attack, beta=params["beta"]).fit(data.x_train, y, nb_epochs=epochs,
                                                                              batch_size=BATCH)
    else:
        AdversarialTrainerFBFPyTorch(clf, eps=eps).fit(data.x_train, y, nb_epochs=epochs, batch_size=BATCH)
    seconds = time.perf_counter() - start
    return {"params": {"eps": eps, **params, "batch_size": BATCH}, "precision": "fp32 (ART)",
            "train_seconds": seconds, "wall_seconds": seconds, "history": [], "guard": None}


# ---------------------------------------------------------------- stages


def stage_timing(args: argparse.Namespace, data: Data, out: Path) -> None:
    """One epoch per method and repeat, interleaved, from the seed-0 clean weights."""
    methods = [m for m in args.methods.split(",") if m]
    state = clean_init(data, args.arch, 0, out / "cache")
    load_before = load_avg()
    times: dict[str, list[float]] = {m: [] for m in methods}
    guard_share: dict[str, list[float]] = {}
    for repeat in range(args.repeats):
        for method in methods:
            clf = make_classifier(args.arch, state, data.input_shape)
            record = train(method, clf, data, eps=args.eps, epochs=1, seed=repeat,
                           chosen=chosen_params(out, args.arch, args.eps, method), validation=False)
            times[method].append(record["train_seconds"])
            if record["guard"]:
                guard = record["guard"]["seconds"]
                guard_share.setdefault(method, []).append(guard / max(record["train_seconds"] - guard, 1e-9))
            logger.info("timing repeat %d %-12s %.2f s", repeat, method, record["train_seconds"])
    summary = {m: spread(t) for m, t in times.items()}
    ratios = {}
    for ours, art in ART_PAIRS:
        if ours in times and art in times:
            paired = [a / b for a, b in zip(times[art], times[ours])]
            ratios[f"{art} / {ours}"] = {**spread(paired), "of_medians": summary[art]["median"] / summary[ours]["median"]}
    result = {"stage": "timing", "command": command(), "threads": args.threads, "repeats": args.repeats, "arch": args.arch,
              "eps": args.eps, "epoch_seconds": times, "summary": summary, "ratios": ratios,
              "guard_overhead": {m: spread(v) for m, v in guard_share.items()}, "data": data.split,
              "tag": args.tag, "device": args.device, "load_avg_before": load_before,
              "environment": environment(args.threads)}
    write(out / f"timing-{args.arch}-threads{args.threads}{'-' + args.tag if args.tag else ''}.json", result)
    logger.info("ratios: %s", {k: round(v["median"], 2) for k, v in ratios.items()})


def spread(values: list[float]) -> dict[str, Any]:
    ordered = sorted(values)
    return {"median": statistics.median(ordered), "min": ordered[0], "max": ordered[-1], "n": len(ordered),
            "values": values}


def stage_select(args: argparse.Namespace, data: Data, out: Path) -> None:
    """Each SELECTION hyperparameter chosen on the validation split (seed 0, PGD-50x3 on its 1,000
    images; ties broken by clean accuracy)."""
    from art_ext.evaluation import evaluate

    state = clean_init(data, args.arch, 0, out / "cache")
    methods = [m for m in args.methods.split(",") if m in SELECTION] or list(SELECTION)
    for method in methods:
        param, candidates = SELECTION[method]
        rows = []
        for value in candidates:
            clf = make_classifier(args.arch, state)
            record = train(method, clf, data, eps=args.eps, epochs=args.epochs, seed=0, chosen={param: value},
                           validation=False)
            clf.model.eval()
            report = evaluate(clf, data.x_val, data.y_val, eps=args.eps, pgd_steps=50, pgd_restarts=3,
                              autoattack_version=None, seed=0)
            rows.append({param: value, "val_clean": report.accuracy("clean"), "val_pgd": report.accuracy("worst"),
                         "val_pgd_ci95": list(report.interval("worst")), "train_seconds": record["train_seconds"],
                         "guard": record["guard"]})
            logger.info("select %s %s=%g: val clean %.3f PGD-50x3 %.3f", method, param, value, rows[-1]["val_clean"],
                        rows[-1]["val_pgd"])
        best = max(rows, key=lambda r: (r["val_pgd"], r["val_clean"]))
        write(out / f"select-{args.arch}-eps{args.eps:g}-{method}.json", {
            "stage": "select", "command": command(), "method": method, "parameter": param,
            "criterion": "validation PGD-50x3 robust accuracy (ties: clean accuracy)", "rows": rows,
            "chosen": {param: best[param]}, "data": data.split, "environment": environment(args.threads)})


def chosen_params(out: Path, arch: str, eps: float, method: str) -> dict[str, Any]:
    """The validation choice for ``method`` (empty when none was made); a variant of a selected
    method (``nfgsm-guard4``) uses its trainer's choice."""
    trainer = METHODS[method][1] if method in METHODS else method
    method = method if method in SELECTION or trainer not in SELECTION else trainer
    path = out / f"select-{arch}-eps{eps:g}-{method}.json"
    return dict(json.loads(path.read_text())["chosen"]) if path.is_file() else {}


def unit_dir(out: Path, arch: str, eps: float, method: str, seed: int) -> Path:
    return out / "units" / arch / f"eps{eps:g}" / method / f"seed{seed}"


def trained_unit(folder: Path, method: str, clf: Any, data: Data, *, eps: float, epochs: int, seed: int,
                 chosen: dict[str, Any]) -> dict[str, Any]:
    """Train ``clf`` for one unit, or take the weights a previous, interrupted run saved before its evaluation.

    The training of a converged unit takes up to 35 minutes at one thread and its evaluation as long again:
    the model and its training record are written first, so a cut-off evaluation costs only itself.
    """
    from art_ext.core.checkpoint import atomic_save, load_tensor_file

    saved = folder / "train.json"
    identity = {"method": method, "epochs": epochs, "train_seed": seed, "chosen": chosen}
    if saved.is_file() and (folder / "model.pt").is_file():
        record: dict[str, Any] = json.loads(saved.read_text())
        if {key: record.get(key) for key in identity} == identity:
            clf.model.load_state_dict(load_tensor_file(folder / "model.pt", "trained unit"))
            logger.info("%s: trained weights from an earlier run, evaluating only", folder)
            return record
        logger.warning("%s: saved weights are of another run (%s), training again", folder, saved)
    record = {**train(method, clf, data, eps=eps, epochs=epochs, seed=seed, chosen=chosen, validation=True), **identity}
    folder.mkdir(parents=True, exist_ok=True)
    atomic_save(clf.model.state_dict(), folder / "model.pt")
    write(saved, record)
    return record


def stage_accuracy(args: argparse.Namespace, data: Data, out: Path) -> None:
    from art_ext.evaluation import evaluate

    methods = [m for m in args.methods.split(",") if m]
    seeds = [int(s) for s in args.seeds.split(",") if s]
    for seed in seeds:
        state = clean_init(data, args.arch, seed, out / "cache")
        for method in methods:
            folder = unit_dir(out, args.arch, args.eps, method, seed)
            if (folder / "unit.json").is_file() and not args.force:
                logger.info("skip %s (done)", folder)
                continue
            chosen = chosen_params(out, args.arch, args.eps, method)
            if method in SELECTION and not chosen:
                logger.warning("%s without a validation choice of %s: run the select stage first", method, SELECTION[method][0])
            clf = make_classifier(args.arch, state)
            epochs = EPOCHS_OVERRIDE.get(method, args.epochs)
            record = trained_unit(folder, method, clf, data, eps=args.eps, epochs=epochs, seed=seed, chosen=chosen)
            start = time.perf_counter()
            clf.model.eval()
            report = evaluate(clf, data.x_test[: args.n_test], data.y_test[: args.n_test], eps=args.eps,
                              pgd_steps=50, pgd_restarts=args.restarts, autoattack_version=args.aa or None,
                              seed=seed, masking_checks=True, masking_n=100)
            record.update({"seed": seed, "arch": args.arch, "eps": args.eps, "eval_seconds": time.perf_counter() - start,
                           "evaluation": report.to_dict(), "command": command(), "data": data.split,
                           "environment": environment(args.threads)})
            write(folder / "unit.json", record)
            (folder / "train.json").unlink(missing_ok=True)
            logger.info("%s seed %d: clean %.3f worst %.3f (%s), train %.0f s, eval %.0f s", method, seed,
                        report.accuracy("clean"), report.accuracy("worst"), ", ".join(report.attacks),
                        record["train_seconds"], record["eval_seconds"])


def stage_budget(args: argparse.Namespace, data: Data, out: Path) -> None:
    """Validation curves for choosing the epoch budget (issue 25): each method trains ``--epochs``
    epochs from the clean network of each seed, checked after every epoch with PGD-10 on
    ``--n-val`` validation images; nothing touches the test split. One file per method and seed,
    written when the run ends (``budget/ARCH-epsE-METHOD-seedS.json``)."""
    methods = [m for m in args.methods.split(",") if m]
    for seed in (int(s) for s in args.seeds.split(",") if s):
        state = clean_init(data, args.arch, seed, out / "cache")
        for method in methods:
            path = out / "budget" / f"{args.arch}-eps{args.eps:g}-{method}-seed{seed}.json"
            if path.is_file() and not args.force:
                logger.info("skip %s (done)", path)
                continue
            if METHODS[method][0] == "ART":
                logger.warning("%s: ART's trainers record no per-epoch validation; skipped", method)
                continue
            clf = make_classifier(args.arch, state)
            record = train(method, clf, data, eps=args.eps, epochs=args.epochs, seed=seed,
                           chosen=chosen_params(out, args.arch, args.eps, method), validation=True,
                           validation_samples=args.n_val)
            record.update({"seed": seed, "arch": args.arch, "eps": args.eps, "command": command(),
                           "data": data.split, "environment": environment(args.threads),
                           "validation": f"PGD-10, 1 restart, on the first {args.n_val} validation images"})
            write(path, record)
            curve = [round(h.get("val_robust_acc") or 0.0, 3) for h in record["history"]]
            logger.info("%s seed %d: %d epochs in %.0f s, validation robust accuracy per epoch %s", method, seed,
                        args.epochs, record["train_seconds"], curve)


def stage_autoattack_standard(args: argparse.Namespace, data: Data, out: Path) -> None:
    """Add ART's standard AutoAttack list, and PGD-50x10 with the margin loss (to tell a weak loss
    from gradient masking when AutoAttack and cross-entropy PGD disagree), to saved units."""
    from art_ext.core.checkpoint import load_tensor_file
    from art_ext.evaluation import EvaluationReport, evaluate

    for unit in [u for u in args.units.split(",") if u]:
        folder = out / "units" / unit
        record = json.loads((folder / "unit.json").read_text())
        report = EvaluationReport.from_dict(record["evaluation"])
        clf = make_classifier(record["arch"], load_tensor_file(folder / "model.pt", "model"))
        clf.model.eval()
        x, y, seed = data.x_test[: report.n], data.y_test[: report.n], int(record["seed"])
        runs = {"PGD-50x10-margin": {"pgd_steps": 50, "pgd_restarts": 10, "pgd_loss": "margin", "autoattack_version": None},
                "autoattack-standard": {"pgd_steps": 0, "autoattack_version": "standard"}}
        wanted = {"margin": "PGD-50x10-margin", "standard": "autoattack-standard"}
        unknown = [a for a in args.add.split(",") if a and a not in wanted]
        if unknown:
            raise SystemExit(f"--add {args.add!r}: unknown {unknown}; choose from margin, standard")
        runs = {wanted[a]: runs[wanted[a]] for a in args.add.split(",") if a}
        for name, params in runs.items():
            if name in report.attacks and not args.force:
                logger.info("skip %s %s (done)", unit, name)
                continue
            start = time.perf_counter()
            result = evaluate(clf, x, y, eps=report.eps, seed=seed, **params).attacks[name]
            report.add(result)
            record["evaluation"] = report.to_dict()
            record.setdefault("added", []).append({"attack": name, "seconds": time.perf_counter() - start,
                                                   "command": command(), "environment": environment(args.threads)})
            write(folder / "unit.json", record)
            logger.info("%s: %s %.3f in %.0f s", unit, name, result.accuracy, result.seconds)


def command() -> str:
    return portable_command(["python", "benchmarks/trainers.py", *sys.argv[1:]])


def write(path: Path, data: dict[str, Any]) -> None:
    from art_ext.core.checkpoint import atomic_write_text

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(data, indent=1, default=str) + "\n")


STAGES: dict[str, Callable[[argparse.Namespace, Data, Path], None]] = {
    "timing": stage_timing, "select": stage_select, "budget": stage_budget, "accuracy": stage_accuracy,
    "autoattack-standard": stage_autoattack_standard,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("stage", choices=[*STAGES, "report"])
    parser.add_argument("--out", default="benchmarks/results/trainers")
    parser.add_argument("--data-dir", default=str(data_root() / "mnist"))
    parser.add_argument("--arch", default="smallcnn", choices=("smallcnn", "bncnn", "cifar_cnn", "preact_resnet18"))
    parser.add_argument("--data", default="mnist", choices=("mnist", "cifar-shaped"),
                        help="timing: 'cifar-shaped' times epochs on random 3x32x32 tensors (--n-train of them)")
    parser.add_argument("--n-train", type=int, default=2000, help="timing on cifar-shaped data: images per epoch")
    parser.add_argument("--steps", type=int, default=K, help="PGD steps of pgd, trades and ART's trainers (K, default 7)")
    parser.add_argument("--eps", type=float, default=EPS)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--methods", default="pgd,pgd-fp32,trades,free,fbf,fbf-noguard,nfgsm,gradalign,art.madry,art.trades,art.fbf")
    parser.add_argument("--repeats", type=int, default=3, help="timing: interleaved repeats")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto",
                        help="art-ext methods' training precision (auto: the default policy, which resolves per CPU)")
    parser.add_argument("--n-test", type=int, default=1000)
    parser.add_argument("--n-val", type=int, default=500, help="budget: validation images of the per-epoch check")
    parser.add_argument("--restarts", type=int, default=10, help="PGD-50 random restarts")
    parser.add_argument("--aa", default="standard", choices=("standard", "fast", "art-default", "art-fast", ""),
                        help="AutoAttack list of the accuracy stage (default: Croce & Hein's standard list, native; "
                             "'' none)")
    parser.add_argument("--units", default="", help="autoattack-standard: units as ARCH/epsE/METHOD/seedS, comma-separated")
    parser.add_argument("--add", default="margin,standard",
                        help="autoattack-standard: what to add, of 'margin' (PGD-50x10, margin loss) and 'standard' "
                             "(Croce & Hein's standard AutoAttack list, native)")
    parser.add_argument("--tag", default="", help="timing: a label for the run, e.g. 'idle' (file timing-ARCH-threadsN-TAG.json)")
    parser.add_argument("--force", action="store_true", help="redo finished units")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="where the models train (benchmarks/gpu.sh: cuda)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("art").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore")
    torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: CUDA is not available on this machine")
    DEVICE["type"] = args.device
    out = Path(args.out)
    if args.stage == "report":
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from trainers_report import write_report

        write_report(out)
        return 0
    unknown = [m for m in args.methods.split(",") if m and m not in METHODS]
    if unknown:
        parser.error(f"unknown methods {unknown}; known: {', '.join(METHODS)}")
    set_steps(args.steps)
    set_precision(args.precision)
    if args.data == "cifar-shaped" and args.stage != "timing":
        parser.error("--data cifar-shaped is for the timing stage only (random pixels have no accuracy to report)")
    data = CifarShaped(args.n_train) if args.data == "cifar-shaped" else Data(args.data_dir)
    STAGES[args.stage](args, data, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
