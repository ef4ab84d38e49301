"""``art-ext train --trainer NAME ...``: the runner behind the core's trainers.

``run_train(args) -> dict`` loads the image data set, builds a SmallCNN (from scratch, or the
``--model`` state dict, or with ``--param init=clean`` a cached clean SmallCNN), trains it with
the registered trainer, saves the model atomically to ``--out`` (default
``runs/train-<trainer>-<dataset>/``), and returns the final clean accuracy and the robust
accuracy under PGD-40 with restarts on the test split. The lead's ``art_ext/cli.py`` prints it.

Trainer options come from the common flags (``--eps``, ``--norm``, ``--epochs``,
``--batch-size``, ``--seed``, ``--device``, ``--checkpoint-dir``, ``--resume``) and from
``--param KEY=VALUE`` (e.g. ``--param max_iter=7 --param beta=6.0 --param precision=bf16``).
Run-only params: ``init`` (``scratch``/``clean``), ``lr`` (Adam, default 1e-3),
``eval_steps`` (40), ``eval_restarts`` (2).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

import art_ext
from art_ext.core.checkpoint import atomic_save
from art_ext.core.trainer import TrainingInterrupted
from art_ext.data import load_image_dataset

logger = logging.getLogger(__name__)

_RUN_ONLY = ("init", "lr", "eval_steps", "eval_restarts")


def robust_accuracy(
    classifier: Any, x: np.ndarray, y: np.ndarray, *, eps: float, norm: str = "inf", steps: int = 40,
    restarts: int = 2, batch_size: int = 500, seed: int = 0,
) -> tuple[float, float]:
    """(clean, robust) accuracy of an ART ``PyTorchClassifier`` under the core's PGD-``steps``
    with ``restarts`` random restarts, step ``2.5 * eps / steps``."""
    from art_ext.core import perturb

    model = classifier.model
    device = next(model.parameters()).device
    clip = None if classifier.clip_values is None else tuple(float(v) for v in np.asarray(classifier.clip_values).ravel()[:2])
    was_training = model.training
    model.eval()
    generator = torch.Generator(device=device).manual_seed(seed)
    clean = robust = 0
    try:
        for start in range(0, len(x), batch_size):
            xb = torch.from_numpy(x[start : start + batch_size]).to(device)
            yb = torch.from_numpy(y[start : start + batch_size]).to(device)
            with torch.no_grad():
                clean += int((model(xb).argmax(1) == yb).sum())
            x_adv = perturb.pgd(model, xb, yb, eps, 2.5 * eps / steps, steps, norm=norm,
                                restarts=restarts, clip_values=clip, generator=generator)
            with torch.no_grad():
                robust += int((model(x_adv).argmax(1) == yb).sum())
    finally:
        model.train(was_training)
    return clean / len(x), robust / len(x)


def run_train(args: argparse.Namespace) -> dict[str, Any]:
    """Train with the trainer ``args.name``; return final clean and robust accuracy and paths."""
    from art_ext.models import SmallCNN, cached_small_cnn, make_classifier
    from art_ext.runners import load_classifier, subset

    params: dict[str, Any] = dict(getattr(args, "params", None) or {})
    run = {key: params.pop(key) for key in _RUN_ONLY if key in params}
    dataset_name = args.dataset or "digits"
    data = subset(load_image_dataset(dataset_name, args.data_dir, seed=args.seed), args.n_train, args.n_test)
    eps = args.eps if args.eps is not None else (0.3 if dataset_name == "mnist" else 0.2)
    norm = args.norm or "inf"
    epochs = args.epochs or 5
    device_type = "gpu" if args.device == "cuda" else "cpu"

    init = run.get("init", "scratch")
    if args.model is not None:
        classifier = load_classifier(data, args.model, seed=args.seed)
    elif init == "clean":
        classifier = cached_small_cnn(data, seed=args.seed, epochs=10 if dataset_name == "digits" else 5)
    elif init == "scratch":
        torch.manual_seed(args.seed)
        classifier = None
    else:
        raise ValueError(f"--param init must be 'scratch' or 'clean', got {init!r}")
    lr = float(run.get("lr", 1e-3))
    if classifier is None or classifier.device.type != ("cuda" if device_type == "gpu" else "cpu") or "lr" in run:
        model = SmallCNN(data.input_shape, data.nb_classes) if classifier is None else classifier.model
        classifier = make_classifier(model, data.input_shape, data.nb_classes, data.clip_values, lr=lr,
                                     device_type=device_type)

    out = Path(args.out) if args.out else Path("runs") / f"train-{args.name}-{dataset_name}"
    checkpoint_dir = args.checkpoint_dir if getattr(args, "checkpoint_dir", None) else str(out / "checkpoints")
    options: dict[str, Any] = {
        "eps": eps, "norm": norm, "nb_epochs": epochs, "batch_size": args.batch_size, "seed": args.seed,
        "checkpoint_dir": checkpoint_dir, "resume": bool(getattr(args, "resume", False)),
        "validation_split": 0.1,
    }
    if args.device is not None:
        options["device"] = args.device
    options.update(params)
    trainer = art_ext.get_trainer(args.name, classifier, **options)
    start = time.perf_counter()
    try:
        trainer.fit(data.x_train, data.y_train)
    except TrainingInterrupted as stop:
        logger.warning("interrupted: checkpoint %s; rerun with --resume --checkpoint-dir %s",
                       stop.checkpoint, checkpoint_dir)
        raise SystemExit(128 + stop.signum) from None
    train_time = time.perf_counter() - start
    rank = int(os.environ.get("RANK", "0") or 0)
    if rank != 0:  # under torchrun every rank holds the same weights: rank 0 evaluates, saves, reports
        logger.info("rank %d finished training; rank 0 evaluates and saves", rank)
        return {}

    steps, restarts = int(run.get("eval_steps", 40)), int(run.get("eval_restarts", 2))
    clean, robust = robust_accuracy(classifier, data.x_test, data.y_test, eps=eps, norm=norm, steps=steps,
                                    restarts=restarts, seed=args.seed)
    out.mkdir(parents=True, exist_ok=True)
    model_path = atomic_save(classifier.model.state_dict(), out / "model.pt")
    history = getattr(trainer, "history", [])
    result: dict[str, Any] = {
        "trainer": args.name,
        "dataset": dataset_name,
        "split": data.split,
        "n_train": len(data.x_train),
        "n_test": len(data.x_test),
        "epochs": epochs,
        "eps": eps,
        "norm": norm,
        "clean_accuracy": clean,
        "robust_accuracy": robust,
        "robust_attack": f"PGD-{steps} ({norm}), {restarts} random restarts, step 2.5*eps/{steps}",
        "train_time_s": train_time,
        "model": str(model_path),
        "checkpoint_dir": checkpoint_dir,
        "device": str(getattr(trainer, "device", "cpu")),
        "world_size": int(os.environ.get("WORLD_SIZE", "1") or 1),
    }
    if history:
        last = history[-1]
        result["val_clean_acc"] = last.get("clean_acc")
        result["val_robust_acc"] = last.get("robust_acc")
    tmp = out / f".results.json.tmp{os.getpid()}"
    tmp.write_text(json.dumps(result, indent=2, default=str))
    os.replace(tmp, out / "results.json")
    return result
