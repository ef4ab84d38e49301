"""The trainer core: device and precision policy, on-device perturbations, training loop,
checkpoints, DDP. See ``docs/core.md``.

Public API (imported lazily, so ``import art_ext.core`` is cheap)::

    from art_ext.core import perturb                 # fgsm, pgd, losses, project, clip
    from art_ext.core import CoreTrainer             # generic loop behind ART's Trainer
    from art_ext.core import AdversarialTrainer      # image AT base on a PyTorchClassifier
    from art_ext.core import Policy, resolve_policy  # device / precision policy
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "AdversarialTrainer",
    "BatchSource",
    "CoreTrainer",
    "LoaderSource",
    "Policy",
    "TensorSource",
    "TrainingInterrupted",
    "atomic_save",
    "capture_rng",
    "load_checkpoint",
    "make_source",
    "perturb",
    "resolve_policy",
    "restore_rng",
]

_LAZY = {
    "AdversarialTrainer": "art_ext.core.adversarial",
    "CoreTrainer": "art_ext.core.trainer",
    "TrainingInterrupted": "art_ext.core.trainer",
    "Policy": "art_ext.core.device",
    "resolve_policy": "art_ext.core.device",
    "BatchSource": "art_ext.core.batches",
    "TensorSource": "art_ext.core.batches",
    "LoaderSource": "art_ext.core.batches",
    "make_source": "art_ext.core.batches",
    "atomic_save": "art_ext.core.checkpoint",
    "load_checkpoint": "art_ext.core.checkpoint",
    "capture_rng": "art_ext.core.checkpoint",
    "restore_rng": "art_ext.core.checkpoint",
}


def __getattr__(name: str) -> Any:
    if name == "perturb":
        return importlib.import_module("art_ext.core.perturb")
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'art_ext.core' has no attribute {name!r}")
