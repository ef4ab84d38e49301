"""Uncertainty of accuracies: Wilson intervals, paired comparisons, seed summaries, and the
comparison of training methods with the training run as the unit.

* :func:`wilson_interval`: the 95% interval of a proportion (Wilson score; well behaved at 0 %
  and 100 %, unlike the normal approximation).
* :func:`paired_difference`: two models (or attacks) on the *same* examples: the difference of
  accuracies, a paired bootstrap 95% interval and McNemar's exact test on the discordant pairs.
  This is a statement about **one pair of models**; it says nothing about two training methods,
  whose runs differ by more than their test images do.
* :func:`seed_summary`: mean and sample standard deviation over seeds.
* :func:`method_interval` and :func:`method_difference`: a training method's accuracy over its runs
  and the difference of two methods, **the run as the unit**: a t-interval over the runs' accuracies
  (over the per-seed differences, paired by seed, for a comparison), Student's paired t-test
  (``scipy.stats``), and :func:`detectable_difference`, the smallest difference that number of runs
  detects with 80% power given the measured between-run spread. Each run's accuracy already carries
  its test-image noise, so the spread between runs holds both sources of variance.

Why not resample images: pooling the test images of several runs into one McNemar test or one
bootstrap treats images as the only source of variance, and calls two runs of the *same* trainer
different (``tests/test_stats.py`` measures that false-positive rate). Why not a bootstrap over runs
either: with 3-5 runs it has too few distinct resamples and its intervals are too narrow (measured
there too); the t-interval is exact for normal run effects and the simulation checks its level.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "Z95",
    "detectable_difference",
    "method_difference",
    "method_interval",
    "paired_difference",
    "seed_summary",
    "wilson_interval",
]

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


# --------------------------------------------------------------------------- the run as the unit


def _runs(values: Sequence[float], name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one value per training run, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} holds a value that is not finite: {array.tolist()}")
    return array


def method_interval(accuracies: Sequence[float], *, alpha: float = 0.05,
                    bounds: tuple[float, float] = (0.0, 1.0)) -> dict[str, Any]:
    """A training method's accuracy over its runs: ``mean``, ``sd`` (between runs), ``n`` and the
    ``ci95`` t-interval of the mean (``None`` with one run: one run says nothing about the method),
    cut to ``bounds`` (an accuracy lies in [0, 1]; with 3 runs the t quantile is 4.3 and the interval
    would otherwise leave them)."""
    from scipy import stats

    values = _runs(accuracies, "accuracies")
    if len(values) == 0:
        raise ValueError("accuracies is empty: a method needs at least one run")
    mean = float(values.mean())
    if len(values) < 2:
        return {"mean": mean, "sd": None, "n": 1, "ci95": None}
    sd = float(values.std(ddof=1))
    half = float(stats.t.ppf(1 - alpha / 2, len(values) - 1)) * sd / math.sqrt(len(values))
    return {"mean": mean, "sd": sd, "n": len(values), "ci95": [max(bounds[0], mean - half), min(bounds[1], mean + half)]}


def detectable_difference(sd: float | None, n: int, *, alpha: float = 0.05, power: float = 0.8) -> float | None:
    """The smallest true difference a two-sided one-sample (paired) t-test on ``n`` runs with
    between-run spread ``sd`` detects at level ``alpha`` with probability ``power``.

    From the noncentral t distribution (``scipy.stats.nct``), solved for the noncentrality; ``None``
    where it does not exist (fewer than 2 runs, no spread measured)."""
    from scipy import optimize, stats

    if sd is None or n < 2 or not math.isfinite(sd):
        return None
    df = n - 1
    critical = float(stats.t.ppf(1 - alpha / 2, df))

    def shortfall(delta: float) -> float:  # power at noncentrality delta, minus the wanted power
        wrong_side = float(stats.nct.cdf(-critical, df, delta))  # below 1e-3 past delta 2; scipy's nan there
        return float(stats.nct.sf(critical, df, delta)) + (wrong_side if math.isfinite(wrong_side) else 0.0) - power

    high = 1.0
    while shortfall(high) < 0:  # widen the bracket (the tails of nct turn to nan far out)
        high *= 2
    noncentrality = optimize.brentq(shortfall, 0.0, high)
    return float(noncentrality * sd / math.sqrt(n))


#: per-seed differences closer than this (in accuracy, a fraction) are the same difference: float
#: rounding of equal counts, far below one image in a billion
TIED_DIFFERENCES = 1e-9


def method_difference(a: Sequence[float], b: Sequence[float], *, alpha: float = 0.05) -> dict[str, Any]:
    """Method ``a`` minus method ``b``, the training run as the unit: ``a[i]`` and ``b[i]`` are the
    accuracies of the two methods' runs with the same seed (same clean start, same batches, same
    test images), so the comparison is paired by seed.

    :return: ``difference`` (mean of the per-seed differences), ``ci95`` (t-interval), ``p_value``
        (Student's paired t-test, two-sided), ``significant`` (``p < alpha``), ``n`` (runs per method),
        ``sd`` (of the per-seed differences), ``detectable`` (:func:`detectable_difference` at 80%
        power for this ``sd`` and ``n``) and ``no_test`` (why there is no test, else ``None``). There
        is no test (``ci95``, ``p_value`` and ``detectable`` ``None``) with one seed, and where every
        seed's difference is the same: accuracies on a finite test set move in steps, so two or three
        runs can tie by chance, and a spread of zero would make any such difference "significant"
        with a zero-width interval.
    """
    from scipy import stats

    first, second = _runs(a, "a"), _runs(b, "b")
    if first.shape != second.shape or len(first) == 0:
        raise ValueError(f"a and b must hold one accuracy per seed, paired and non-empty; got {len(first)} and "
                         f"{len(second)} runs")
    differences = first - second
    summary = method_interval(differences, alpha=alpha, bounds=(-1.0, 1.0))
    result: dict[str, Any] = {"difference": summary["mean"], "ci95": None, "n": len(differences),
                              "sd": summary["sd"], "per_seed": differences.tolist(), "p_value": None,
                              "significant": False, "detectable": None, "no_test": None}
    if len(differences) < 2:
        result["no_test"] = "one seed: no test"
    elif float(np.ptp(differences)) <= TIED_DIFFERENCES:
        result["no_test"] = "equal per-seed differences: no spread measured, no test"
    else:
        result["ci95"] = summary["ci95"]
        result["p_value"] = float(stats.ttest_rel(first, second).pvalue)
        result["significant"] = bool(result["p_value"] < alpha)
        result["detectable"] = detectable_difference(summary["sd"], len(differences), alpha=alpha)
    return result
