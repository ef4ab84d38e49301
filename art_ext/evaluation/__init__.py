"""The evaluation entry point: the one place robust accuracy is defined and computed.

Used by ``art-ext bench``, ``art-ext train``'s report, the trainers' per-epoch validation and
every script in ``benchmarks/``::

    from art_ext.evaluation import evaluate
    report = evaluate(classifier, x_test[:1000], y_test[:1000], eps=0.3, autoattack_version="standard")
    report.accuracy("PGD-50x10"), report.interval("worst"), report.to_dict()

Modules: :mod:`~art_ext.evaluation.report` (the definition, report types, masks),
:mod:`~art_ext.evaluation.attacks` (PGD with restarts, AutoAttack lists, the forward they attack),
:mod:`~art_ext.evaluation.robust` (the driver :func:`evaluate`),
:mod:`~art_ext.evaluation.stats` (Wilson intervals, paired comparisons, seed summaries, and
training methods compared with the run as the unit),
:mod:`~art_ext.evaluation.masking` (gradient-masking checks). Imports are lazy.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "AUTOATTACK_LISTS",
    "AttackResult",
    "EvaluationReport",
    "autoattack",
    "autoattack_label",
    "detectable_difference",
    "evaluate",
    "gradient_masking_checks",
    "method_difference",
    "method_interval",
    "paired_difference",
    "pgd_batch_masks",
    "pgd_label",
    "robust_mask",
    "seed_summary",
    "wilson_interval",
]

_LAZY = {
    "AUTOATTACK_LISTS": "report",
    "AttackResult": "report",
    "EvaluationReport": "report",
    "autoattack": "attacks",
    "autoattack_label": "report",
    "evaluate": "robust",
    "pgd_batch_masks": "attacks",
    "pgd_label": "report",
    "robust_mask": "report",
    "gradient_masking_checks": "masking",
    "paired_difference": "stats",
    "method_difference": "stats",
    "method_interval": "stats",
    "detectable_difference": "stats",
    "seed_summary": "stats",
    "wilson_interval": "stats",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"art_ext.evaluation.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'art_ext.evaluation' has no attribute {name!r}")
