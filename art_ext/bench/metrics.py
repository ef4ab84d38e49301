"""Per-run metrics: robust accuracy, success rate, perturbation norms, throughput, queries."""

from __future__ import annotations

from typing import Any

import numpy as np

from art_ext.evaluation.robust import mask_to_string, robust_mask


def norm_label(norm: str | None) -> str:
    return {"inf": "Linf", "2": "L2", "1": "L1"}.get(norm or "", str(norm))


def prefix_robust_accuracy(row: dict[str, Any], n: int) -> float:
    """Robust accuracy of ``row`` on the first ``n`` evaluation examples (every attack sees a
    prefix of the same evaluation set, so rows with different ``n`` compare on the common one)."""
    mask = row.get("robust_mask")
    if not mask:
        return float(row["robust_accuracy"])
    return mask[:n].count("1") / max(1, min(n, len(mask)))


def perturbation_norms(x: np.ndarray, x_adv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-example Linf and L2 norms of ``x_adv - x``."""
    delta = (x_adv.astype(np.float64) - x.astype(np.float64)).reshape(len(x), -1)
    return np.abs(delta).max(axis=1), np.linalg.norm(delta, axis=1)


def _stat(values: np.ndarray, fn: Any) -> float | None:
    return float(fn(values)) if values.size else None


def attack_metrics(
    y: np.ndarray,
    clean_pred: np.ndarray,
    adv_pred: np.ndarray,
    x: np.ndarray,
    x_adv: np.ndarray,
) -> dict[str, Any]:
    """Metrics of one attack run on ``n`` examples (labels as indices).

    * robust accuracy: :func:`art_ext.evaluation.robust_mask` over all examples (correct clean
      and after the attack);
    * success rate: share of the clean-correct examples that the attack made misclassified;
    * norms: mean and max Linf / L2 of the perturbation over the successful examples.
    """
    correct = clean_pred == y
    fooled = correct & (adv_pred != y)
    robust = robust_mask(y, clean_pred, adv_pred)
    linf, l2 = perturbation_norms(x, x_adv)
    return {
        "n": len(y),
        "clean_accuracy": float(correct.mean()),
        "robust_accuracy": float(robust.mean()),
        "success_rate": float(fooled.sum() / correct.sum()) if correct.any() else None,
        "linf_mean": _stat(linf[fooled], np.mean),
        "linf_max": _stat(linf[fooled], np.max),
        "l2_mean": _stat(l2[fooled], np.mean),
        "l2_max": _stat(l2[fooled], np.max),
        "robust_mask": mask_to_string(robust),
        "max_linf_all": float(linf.max()) if linf.size else 0.0,
        "max_l2_all": float(l2.max()) if l2.size else 0.0,
    }


def threshold_metrics(
    y: np.ndarray, clean_pred: np.ndarray, adv_pred: np.ndarray, norms: np.ndarray, eps: float
) -> dict[str, Any]:
    """Robust accuracy at ``eps`` from a minimal-perturbation attack's per-example norms.

    An example is robust at ``eps`` when it is classified correctly and the attack either
    failed on it or needed a perturbation larger than ``eps``.
    """
    correct = clean_pred == y
    within = norms <= eps * (1 + 1e-6) + 1e-9
    fooled_within = correct & (adv_pred != y) & within
    # an adversarial example beyond eps does not count at eps: the model keeps its label there
    robust = robust_mask(y, clean_pred, np.where(within, adv_pred, y))
    return {
        "robust_accuracy": float(robust.mean()),
        "robust_mask": mask_to_string(robust),
        "success_rate": float(fooled_within.sum() / correct.sum()) if correct.any() else None,
    }
