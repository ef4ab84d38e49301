"""Published training recipes as ``art-ext train --preset NAME``: the trainer, budget, model,
optimizer and learning-rate schedule of a paper, each overridable by the usual options.

An explicit option wins over the preset (``--epochs 5`` shortens a recipe, ``--param lr=0.05``
changes its learning rate); ``--trainer`` may only name the preset's own trainer. What art-ext
cannot reproduce of a recipe is said in its ``differences``.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Preset:
    """One published recipe."""

    paper: str
    trainer: str
    dataset: str
    model: str
    eps: float
    epochs: int
    batch_size: int
    #: trainer and run-only ``--param`` values (optimizer, schedule, attack steps, validation)
    params: dict[str, Any] = field(default_factory=dict)
    differences: str = ""


PRESETS: dict[str, Preset] = {
    "wong2020-fbf": Preset(
        paper="Wong, Rice, Kolter, 'Fast is better than free: Revisiting adversarial training', ICLR 2020 "
              "(CIFAR-10 recipe of fast_adversarial/CIFAR10/train_fgsm.py)",
        trainer="fbf", dataset="cifar10", model="preact_resnet18", eps=8 / 255, epochs=15, batch_size=128,
        params={"alpha": 10 / 255, "optimizer": "sgd", "lr": 0.2, "momentum": 0.9, "weight_decay": 5e-4,
                "lr_schedule": "cyclic", "lr_max": 0.2},
        differences="precision: the core's policy (bf16 autocast where native, fp32 elsewhere) instead of apex "
                    "O2 fp16; the collapse guard checks PGD once per epoch on validation images instead of the "
                    "paper's per-minibatch early stop"),
    "rice2020-pgd": Preset(
        paper="Rice, Wong, Kolter, 'Overfitting in adversarially robust deep learning', ICML 2020 "
              "(PGD-10 training with piecewise decay and early stopping on validation robust accuracy)",
        trainer="pgd", dataset="cifar10", model="preact_resnet18", eps=8 / 255, epochs=200, batch_size=128,
        params={"max_iter": 10, "eps_step": 2 / 255, "optimizer": "sgd", "lr": 0.1, "momentum": 0.9,
                "weight_decay": 5e-4, "lr_schedule": "piecewise", "validation_split": 0.02,
                "restore_best": True, "eval_max_iter": 10, "eval_restarts": 1},
        differences="validation: a seeded 2% of the training images (1,000 of CIFAR-10's 50,000) held out, "
                    "PGD-10 on them each epoch, the best epoch's weights restored at the end"),
}


def apply_preset(args: argparse.Namespace) -> Preset | None:
    """Fill ``args`` from ``args.preset`` where the user gave no value; ``None`` without a preset."""
    name = getattr(args, "preset", None)
    if name is None:
        return None
    if name not in PRESETS:
        raise ValueError(f"--preset must be one of {', '.join(sorted(PRESETS))}, got {name!r}")
    preset = PRESETS[name]
    if args.name is not None and args.name != preset.trainer:
        raise ValueError(f"--trainer {args.name}: --preset {name} trains with {preset.trainer!r}")
    args.name = preset.trainer
    for option, value in (("dataset", preset.dataset), ("model", preset.model), ("eps", preset.eps),
                          ("epochs", preset.epochs), ("batch_size", preset.batch_size)):
        if getattr(args, option, None) is None:
            setattr(args, option, value)
    args.params = {**preset.params, **dict(getattr(args, "params", None) or {})}
    return preset
