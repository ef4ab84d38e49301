"""``art-ext train --trainer NAME ...``: the runner behind the core's image trainers.

``run_train(args) -> dict`` runs one training run in the run folder ``--out`` (default
``runs/train-<trainer>-<dataset>/``), which it locks for the whole command
(:class:`art_ext.core.run_folder.RunFolder`: a second process fails at once naming the holder's
pid; a killed run's lock is free again). A folder that already holds files is refused unless
``--resume`` (continue the run in it; the trainer refuses a different run, listing the fields)
or ``--overwrite`` (discard it).

Steps: load the image data set; hold out a seeded validation split of the training examples
(``--param validation_split=0.1``); start from ``--model`` weights, or ``--init clean`` (default:
fine-tune the cached clean SmallCNN that ``art-ext attack`` and ``art-ext bench`` use) or
``--init random``; train with the registered trainer, checkpoints in ``OUT/checkpoints``
(``last.pt``, ``best.pt``, ``metrics.jsonl``); evaluate on the test split with
:func:`art_ext.evaluation.evaluate` (PGD-40 with 2 restarts, then Croce & Hein's standard AutoAttack list run natively;
``--param eval_steps``, ``eval_restarts``, ``eval_autoattack=standard|fast|art-default|art-fast|none``); write ``OUT/model.pt`` (a state dict:
``--model OUT/model.pt`` loads it, as it loads ``last.pt``/``best.pt``) and ``OUT/results.json``.

Metrics: ``test_*`` are measured on the test split by the evaluation entry point (the final
report); ``val_*`` are the trainer's own per-epoch figures of the last epoch, on the validation
hold-out. Trainer options: the common flags and ``--param KEY=VALUE``; run-only params:
``optimizer`` (``adam``, default, or ``sgd``), ``lr`` (default 1e-3 for Adam, 0.1 for SGD),
``momentum`` (SGD, default 0.9), ``weight_decay`` (default 0), ``validation_split``,
``eval_steps``, ``eval_restarts``, ``eval_autoattack``. ``--preset`` fills these and the common
flags from a published recipe (:mod:`art_ext.cli.presets`).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

import art_ext
from art_ext import checks
from art_ext.cli.runners import COMMON_OPTIONS, TRAIN_OPTIONS, honours, write_json
from art_ext.core.checkpoint import atomic_save
from art_ext.core.device import hardware_info
from art_ext.core.run_folder import (
    RunFolder,
    check_output_folder,
    check_output_options,
    discard_outputs,
)
from art_ext.core.trainer import TrainingInterrupted
from art_ext.data import load_image_dataset
from art_ext.evaluation import AUTOATTACK_LISTS, autoattack_label, evaluate, pgd_label
from art_ext.model_io import dataset_classifier, load_classifier, names_zoo_network, zoo_network
from art_ext.models import OPTIMIZERS

logger = logging.getLogger(__name__)

_RUN_ONLY = ("init", "lr", "optimizer", "momentum", "weight_decay", "validation_split", "eval_steps",
             "eval_restarts", "eval_autoattack")
#: the learning rate of each optimizer when ``--param lr`` is not given
_DEFAULT_LR = {"adam": 1e-3, "sgd": 0.1}
#: files of ours in the run folder (the trainer owns ``checkpoints/``)
MODEL_FILE = "model.pt"
RESULTS_FILE = "results.json"


def _default_eps(dataset: str) -> float:
    return 0.3 if dataset == "mnist" else 0.2


def _split_validation(x: np.ndarray, y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, ...]:
    """``(x_train, y_train, x_val, y_val)``: a seeded random ``fraction`` of the examples held out."""
    n_val = round(fraction * len(x))
    if n_val == 0:
        return x, y, x[:0], y[:0]
    order = np.random.default_rng(seed).permutation(len(x))
    val, train = np.sort(order[:n_val]), np.sort(order[n_val:])
    return x[train], y[train], x[val], y[val]


def _run_options(run: dict[str, Any]) -> dict[str, Any]:
    """The run-only ``--param`` values, checked before anything is trained or removed."""
    optimizer = checks.choice(run.get("optimizer", "adam"), "--param optimizer", OPTIMIZERS)
    checked: dict[str, Any] = {
        "optimizer": optimizer,
        "lr": checks.positive(run.get("lr", _DEFAULT_LR[optimizer]), "--param lr"),
        "momentum": checks.number(run.get("momentum", 0.9), "--param momentum", low=0.0, high=1.0,
                                  high_inclusive=False),
        "weight_decay": checks.number(run.get("weight_decay", 0.0), "--param weight_decay", low=0.0),
        "validation_split": checks.number(run.get("validation_split", 0.1), "--param validation_split",
                                          low=0.0, high=1.0, high_inclusive=False),
        "eval_steps": checks.integer(run.get("eval_steps", 40), "--param eval_steps", minimum=1),
        "eval_restarts": checks.integer(run.get("eval_restarts", 2), "--param eval_restarts", minimum=1),
        "eval_autoattack": checks.choice(run.get("eval_autoattack", "standard"), "--param eval_autoattack",
                                         (*AUTOATTACK_LISTS, "none")),
    }
    if checked["eval_autoattack"] == "none":
        checked["eval_autoattack"] = None
    return checked


def _initial_classifier(args: argparse.Namespace, data: Any, init: str, device_type: str,
                        run: dict[str, Any]) -> tuple[Any, str]:
    if names_zoo_network(args.model):  # a network by name, from random weights
        model = zoo_network(args.model, data.input_shape, data.nb_classes, seed=args.seed)
        text = f"{args.model} from random initialisation (seed {args.seed})"
    elif args.model is not None or init == "clean":
        classifier, text = load_classifier(data, args.model, seed=args.seed, device="cpu")
        model = classifier.model
        if args.model is None:
            text = "fine-tuning the clean " + text
    else:
        model = zoo_network("smallcnn", data.input_shape, data.nb_classes, seed=args.seed)
        text = f"SmallCNN from random initialisation (seed {args.seed})"
    classifier = dataset_classifier(model, data, device="cpu" if device_type == "cpu" else "cuda", lr=run["lr"],
                                    optimizer=run["optimizer"], momentum=run["momentum"],
                                    weight_decay=run["weight_decay"])
    return classifier, text


def _init_choice(args: argparse.Namespace, run: dict[str, Any]) -> str:
    init = getattr(args, "init", None)
    legacy = run.pop("init", None)  # the former --param init=clean|scratch
    if init is None and legacy is not None:
        init = {"scratch": "random"}.get(str(legacy), str(legacy))
    if init is not None and init not in ("clean", "random"):
        raise ValueError(f"--init must be clean or random, got {init!r}")
    if args.model is not None and init is not None:
        raise ValueError("--init: not with --model (the run starts from the --model weights)")
    return init or "clean"


#: trainer parameters that a common flag sets: ``--param`` may not set them behind the flag's back
_FLAG_PARAMS = {"eps": "--eps", "norm": "--norm", "nb_epochs": "--epochs", "batch_size": "--batch-size",
                "seed": "--seed", "checkpoint_dir": "--checkpoint-dir", "resume": "--resume",
                "overwrite": "--overwrite", "allow_changes": "--allow-change", "device": "--device"}


def _refuse_flag_params(params: dict[str, Any]) -> None:
    shadowed = [f"--param {key} (use {flag})" for key, flag in _FLAG_PARAMS.items() if key in params]
    if shadowed:
        raise ValueError(f"{', '.join(shadowed)}: the option sets it, so the run and its report agree")


@honours(*(o for o in COMMON_OPTIONS if o != "targeted"), *TRAIN_OPTIONS)
def run_train(args: argparse.Namespace) -> dict[str, Any]:
    """Train with the trainer ``args.name`` in the run folder ``--out``; see the module docstring.

    Every option is validated (the trainer built, the run-only params checked) before anything in
    ``--out`` is removed: a refused ``--overwrite`` run leaves the previous one intact."""
    start = getattr(args, "start_time", None) or time.perf_counter()
    entry = art_ext.get_plugin_manager().trainers[args.name]
    if entry.plugin == "standard":
        raise ValueError(
            f"trainer {args.name!r} is ART's own: 'art-ext train' runs the core trainers "
            "(see 'art-ext plugins'); compare ART's with 'art-ext bench trainers'"
        )
    params: dict[str, Any] = dict(getattr(args, "params", None) or {})
    _refuse_flag_params(params)
    run = _run_options({key: params.pop(key) for key in _RUN_ONLY if key in params and key != "init"})
    init = _init_choice(args, params)
    dataset_name = args.dataset or "digits"
    seed = checks.seed(0 if args.seed is None else args.seed, "--seed")
    args.seed = seed
    eps = args.eps if args.eps is not None else _default_eps(dataset_name)
    norm = args.norm or "inf"
    epochs = args.epochs or 5
    batch_size = args.batch_size or 128
    device_type = "gpu" if args.device == "cuda" else "cpu"
    resume, overwrite = bool(getattr(args, "resume", False)), bool(getattr(args, "overwrite", False))
    out = Path(args.out) if args.out else Path("runs") / f"train-{args.name}-{dataset_name}"
    checkpoint_dir = Path(args.checkpoint_dir) if getattr(args, "checkpoint_dir", None) else out / "checkpoints"
    rank = int(os.environ.get("RANK", "0") or 0)

    check_output_options(out, checkpoint_dir, resume, overwrite)
    folder = RunFolder(out)
    if rank == 0:  # under torchrun rank 0 owns the folder (every rank trains)
        folder.acquire()
        check_output_folder(out, resume, overwrite)
    try:
        full = load_image_dataset(dataset_name, args.data_dir, seed=seed)
        classifier, model_text = _initial_classifier(args, full, init, device_type, run)
        x_all, y_all = full.x_train[: args.n_train], full.y_train[: args.n_train]
        x_test, y_test = full.x_test[: args.n_test], full.y_test[: args.n_test]
        x_train, y_train, x_val, y_val = _split_validation(x_all, y_all, run["validation_split"], seed)

        options: dict[str, Any] = {
            "eps": eps, "norm": norm, "nb_epochs": epochs, "batch_size": batch_size, "seed": seed,
            "checkpoint_dir": str(checkpoint_dir), "resume": resume, "overwrite": overwrite,
            "allow_changes": tuple(getattr(args, "allow_change", None) or ()), "verbose": _terminal(),
        }
        if args.device is not None:
            options["device"] = args.device
        options.update(params)
        trainer = art_ext.get_trainer(args.name, classifier, **options)
        if overwrite and rank == 0:
            discard_outputs(out, (MODEL_FILE, RESULTS_FILE))
        fit_start = time.perf_counter()
        try:
            trainer.fit(x_train, y_train, validation_data=(x_val, y_val) if len(x_val) else None)
        except TrainingInterrupted as stop:
            logger.warning("interrupted: checkpoint %s; rerun the same command with --resume", stop.checkpoint)
            raise SystemExit(128 + stop.signum) from None
        train_time = time.perf_counter() - fit_start
        if rank != 0:  # every rank holds the same weights: rank 0 evaluates, saves, reports
            logger.info("rank %d finished training; rank 0 evaluates and saves", rank)
            return {}
        completed = int(getattr(trainer, "epoch", epochs))
        if completed != epochs:
            logger.warning("the run in %s has %d epochs; --epochs %d trained none of them again", checkpoint_dir,
                           completed, epochs)
        return _report(args, trainer, classifier, out, checkpoint_dir, start, train_time, init=init,
                       model_text=model_text, data=full, n=(len(x_train), len(x_val), len(x_test)), eps=eps, norm=norm,
                       epochs=completed, run=run, x_test=x_test, y_test=y_test,
                       fraction=run["validation_split"])
    finally:
        folder.release()


def _optimizer_text(run: dict[str, Any], schedule: str | None) -> str:
    text = f"{run['optimizer']}, lr {run['lr']:g}"
    if run["optimizer"] == "sgd":
        text += f", momentum {run['momentum']:g}"
    if run["weight_decay"]:
        text += f", weight decay {run['weight_decay']:g}"
    return text + (f", {schedule} schedule" if schedule else "")


def _terminal() -> bool:
    return sys.stderr.isatty()


def _report(args: argparse.Namespace, trainer: Any, classifier: Any, out: Path, checkpoint_dir: Path, start: float,
            train_time: float, *, init: str, model_text: str, data: Any, n: tuple[int, int, int],
            eps: float, norm: str, epochs: int, run: dict[str, Any], x_test: np.ndarray, y_test: np.ndarray,
            fraction: float) -> dict[str, Any]:
    n_train, n_val, n_test = n
    steps, restarts, version = run["eval_steps"], run["eval_restarts"], run["eval_autoattack"]
    eval_start = time.perf_counter()
    report = evaluate(classifier, x_test, y_test, eps=eps, norm=norm, pgd_steps=steps, pgd_restarts=restarts,
                      autoattack_version=version, seed=args.seed)
    eval_time = time.perf_counter() - eval_start
    robust_name = pgd_label(steps, restarts)
    model_path = atomic_save(classifier.model.state_dict(), out / MODEL_FILE)
    history = list(getattr(trainer, "history", []) or [])
    last = history[-1] if history else {}
    val_attack = f"PGD-{getattr(trainer, 'eval_max_iter', '?')}x{getattr(trainer, 'eval_restarts', '?')}"
    device = str(getattr(trainer, "device", "cpu"))
    result: dict[str, Any] = {
        "ran": {
            "trainer": f"{args.name} ({type(trainer).__name__}), {epochs} epochs, batch {trainer.batch_size}",
            "eps": f"{eps:g}", "norm": norm,
            "model": model_text,
            "data": (f"{data.name}: train on {n_train} examples, validation hold-out {n_val} "
                     f"({fraction:g} of the first {n_train + n_val} training examples, seed {args.seed}), "
                     f"test on {n_test} ({data.split})"),
            "optimizer": _optimizer_text(run, getattr(trainer, "lr_schedule", None)),
            "threads": str(torch.get_num_threads()), "device": device,
        },
        "preset": getattr(args, "preset", None),
        "trainer": args.name, "dataset": data.name, "init": "model" if args.model else init,
        "epochs": epochs, "eps": eps, "norm": norm, "seed": args.seed,
        "n_train": n_train, "n_validation": n_val, "n_test": n_test,
        "test_clean_accuracy": report.accuracy("clean"), "test_clean_ci95": list(report.interval("clean")),
        "test_robust_accuracy": report.accuracy(robust_name), "test_robust_ci95": list(report.interval(robust_name)),
        "test_robust_attack": report.attacks[robust_name].description,
    }
    if version:
        aa = f"autoattack-{version}"
        result["test_autoattack_label"] = autoattack_label(version)
        result["test_autoattack_accuracy"] = report.accuracy(aa)
        result["test_worst_case_accuracy"] = report.accuracy("worst")
    if last:
        result["val_epoch"] = last.get("epoch")
        for key in ("val_clean_acc", "val_robust_acc"):
            if key in last:
                result[key] = last[key]
        result["val_robust_attack"] = f"{val_attack} on the validation hold-out (the trainer's per-epoch check)"
    policy = getattr(trainer, "policy", None)
    result["precision"] = getattr(policy, "precision", None) or getattr(trainer, "precision", None)
    guard = getattr(trainer, "guard", None)
    if guard is not None:
        result["guard_events"] = len(getattr(guard, "events", []) or [])
    result.update({
        "train_time_s": train_time, "eval_time_s": eval_time,
        "device": device, "threads": torch.get_num_threads(),
        "world_size": int(os.environ.get("WORLD_SIZE", "1") or 1),
        "hardware": hardware_info(), "evaluation": report.to_dict(),
    })
    outputs = [str(model_path)]
    for name in ("last.pt", "best.pt", "metrics.jsonl"):
        if (checkpoint_dir / name).is_file():
            outputs.append(str(checkpoint_dir / name))
    outputs.append(str(out / RESULTS_FILE))
    result["outputs"] = outputs
    result["load_with"] = f"--model {model_path} (also {checkpoint_dir / 'best.pt'} or last.pt)"
    result["wall_time_s"] = time.perf_counter() - start
    write_json(out / RESULTS_FILE, result)
    return result
