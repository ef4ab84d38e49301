"""The generic ``art-ext attack NAME`` runner for image attacks.

It loads a dataset, trains (and caches) or loads a model, builds the attack through the
registry, fits it when the attack learns (``attack.fit``), attacks the test split and returns
success rate, perturbation norms and throughput.
"""

from __future__ import annotations

import argparse
import logging
import time
from typing import Any

import numpy as np
import torch

import art_ext
from art_ext.data import ImageDataset, load_image_dataset
from art_ext.models import SmallCNN, accuracy, cached_small_cnn, make_classifier

logger = logging.getLogger(__name__)


def subset(dataset: ImageDataset, n_train: int | None, n_test: int | None) -> ImageDataset:
    """The first ``n_train`` / ``n_test`` examples of each split (``None`` keeps all)."""
    for name, value in (("n_train", n_train), ("n_test", n_test)):
        if value is not None and value <= 0:
            raise ValueError(f"{name} must be positive, got {value}")
    return ImageDataset(
        dataset.name,
        dataset.x_train[:n_train], dataset.y_train[:n_train],
        dataset.x_test[:n_test], dataset.y_test[:n_test],
        dataset.nb_classes, dataset.clip_values, dataset.split,
    )


def load_classifier(dataset: ImageDataset, model_path: str | None, seed: int = 0) -> Any:
    """The user's SmallCNN state dict (``--model``), else a cached SmallCNN trained on ``dataset``."""
    if model_path is None:
        return cached_small_cnn(dataset, seed=seed, epochs=10 if dataset.name == "digits" else 5)
    model = SmallCNN(dataset.input_shape, dataset.nb_classes)
    try:
        state = torch.load(model_path, map_location="cpu", weights_only=True)
        if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
            state = state["model"]
        model.load_state_dict(state)
    except FileNotFoundError:
        raise ValueError(f"--model {model_path}: file not found") from None
    except (RuntimeError, KeyError, TypeError) as error:
        raise ValueError(
            f"--model {model_path}: not a SmallCNN state dict for input shape {dataset.input_shape} "
            f"and {dataset.nb_classes} classes ({str(error).splitlines()[0]})"
        ) from None
    model.eval()
    return make_classifier(model, dataset.input_shape, dataset.nb_classes, dataset.clip_values)


def perturbation_norms(x: np.ndarray, x_adv: np.ndarray) -> dict[str, float]:
    delta = (x_adv - x).reshape(len(x), -1)
    linf = np.abs(delta).max(axis=1)
    l2 = np.linalg.norm(delta, axis=1)
    return {
        "mean_linf": float(linf.mean()), "max_linf": float(linf.max()),
        "mean_l2": float(l2.mean()), "max_l2": float(l2.max()),
    }


def run_image_attack(args: argparse.Namespace) -> dict[str, Any]:
    """Fit (if needed) and run attack ``args.name``; return the metrics the CLI prints."""
    dataset = subset(load_image_dataset(args.dataset, args.data_dir, seed=args.seed), args.n_train, args.n_test)
    classifier = load_classifier(dataset, args.model, seed=args.seed)
    params: dict[str, Any] = dict(args.params)
    if args.eps is not None:
        params.setdefault("eps", args.eps)
    if args.norm is not None:
        params.setdefault("norm", np.inf if args.norm == "inf" else int(args.norm))
    if args.targeted:
        params.setdefault("targeted", True)
    attack = art_ext.get_attack(args.name, classifier, **params)

    x, y = dataset.x_test, dataset.y_test
    clean_accuracy = accuracy(classifier, x, y)
    fit_seconds = 0.0
    if callable(getattr(attack, "fit", None)):
        start = time.perf_counter()
        attack.fit(dataset.x_train, dataset.y_train)  # type: ignore[attr-defined]
        fit_seconds = time.perf_counter() - start

    labels = (y + 1) % dataset.nb_classes if args.targeted else y
    start = time.perf_counter()
    x_adv = attack.generate(x, y=np.eye(dataset.nb_classes, dtype=np.float32)[labels])
    attack_seconds = time.perf_counter() - start
    predictions = classifier.predict(x_adv).argmax(axis=1)
    success = predictions == labels if args.targeted else predictions != y
    # Success counts only originally correct examples, as attack papers report it.
    correct = classifier.predict(x).argmax(axis=1) == y
    return {
        "attack": args.name,
        "dataset": dataset.name,
        "split": dataset.split,
        "examples": len(x),
        "targeted": bool(args.targeted),
        "clean_accuracy": clean_accuracy,
        "adversarial_accuracy": float(np.mean(predictions == y)),
        "success_rate": float(success[correct].mean()) if correct.any() else float("nan"),
        **perturbation_norms(x, x_adv),
        "fit_seconds": fit_seconds,
        "attack_seconds": attack_seconds,
        "examples_per_second": len(x) / attack_seconds if attack_seconds > 0 else float("inf"),
    }
