"""Uncertainty of accuracies: Wilson intervals, paired comparisons, seed summaries.

* :func:`wilson_interval`: the 95% interval of a proportion (Wilson score; well behaved at 0 %
  and 100 %, unlike the normal approximation).
* :func:`paired_difference`: two models (or attacks) on the *same* examples: the difference of
  accuracies, a paired bootstrap 95% interval and McNemar's exact test on the discordant pairs.
* :func:`seed_summary`: mean and sample standard deviation over seeds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["Z95", "paired_difference", "seed_summary", "wilson_interval"]

Z95 = 1.959963984540054


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of ``successes / n`` (``(nan, nan)`` for ``n == 0``)."""
    if n <= 0:
        return (float("nan"), float("nan"))
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be in [0, n={n}], got {successes}")
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


def _as_bool(mask: Any, name: str) -> np.ndarray:
    if isinstance(mask, str):
        return np.frombuffer(mask.encode(), dtype=np.uint8) == ord("1")
    array = np.asarray(mask)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D mask, got shape {array.shape}")
    return array.astype(bool)


def paired_difference(
    mask_a: Any, mask_b: Any, *, n_bootstrap: int = 2000, seed: int = 0, alpha: float = 0.05
) -> dict[str, Any]:
    """Compare two per-example correctness masks on the same examples (``a - b``).

    :return: ``difference`` (accuracy of a minus accuracy of b), ``ci95`` (paired bootstrap over
        examples), ``a_only`` / ``b_only`` (discordant counts), ``p_value`` (McNemar's exact
        two-sided binomial test on the discordant pairs) and ``significant`` (``p < alpha``).
    """
    from scipy.stats import binomtest

    a, b = _as_bool(mask_a, "mask_a"), _as_bool(mask_b, "mask_b")
    if a.shape != b.shape:
        raise ValueError(f"masks must cover the same examples, got {a.shape} and {b.shape}")
    n = len(a)
    if n == 0:
        raise ValueError("masks are empty")
    diff = a.astype(np.float64) - b.astype(np.float64)
    a_only, b_only = int(np.sum(a & ~b)), int(np.sum(b & ~a))
    p_value = 1.0 if a_only + b_only == 0 else float(binomtest(a_only, a_only + b_only, 0.5).pvalue)
    rng = np.random.default_rng(seed)
    means = np.empty(n_bootstrap)
    for i in range(n_bootstrap):
        means[i] = diff[rng.integers(0, n, n)].mean()
    low, high = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return {
        "difference": float(diff.mean()),
        "ci95": [float(low), float(high)],
        "a_only": a_only,
        "b_only": b_only,
        "n": n,
        "p_value": p_value,
        "significant": bool(p_value < alpha),
    }


def seed_summary(values: Sequence[float | None]) -> dict[str, Any]:
    """``mean``, ``sd`` (sample standard deviation, ``None`` for one seed), ``min``, ``max``, ``n``."""
    kept = [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not kept:
        return {"mean": None, "sd": None, "min": None, "max": None, "n": 0}
    return {
        "mean": float(np.mean(kept)),
        "sd": float(np.std(kept, ddof=1)) if len(kept) > 1 else None,
        "min": float(min(kept)),
        "max": float(max(kept)),
        "n": len(kept),
    }
