"""The statistics of comparing training methods, tested on simulated runs (issue 25).

Runs are simulated at the level the benchmark records them: per-image correctness masks on one
fixed test set, where each run of a method shifts every image's log-odds by its own run effect
(sd 0.17 on the logit scale: about 3.5 points of robust accuracy at 35%, the spread measured
between seeds of one trainer at 5 epochs). Two groups of runs of the *same* trainer must come out
not significant at the 5% level in about 95% of repetitions, and a real difference of the size the
report calls detectable must be found at about 80% power.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binomtest

from art_ext.evaluation.stats import detectable_difference, method_difference, method_interval

IMAGES, RUNS, REPEATS = 1000, 5, 2000
RUN_SD = 0.17  # logit scale


def _images(rng: np.random.Generator) -> np.ndarray:
    """Each test image's log-odds of being robust (a model at about 35%: most images are hard)."""
    return np.log(p := rng.beta(0.7, 1.3, IMAGES)) - np.log1p(-p)


def _masks(rng: np.random.Generator, logits: np.ndarray, runs: int, shift: float = 0.0) -> np.ndarray:
    effects = rng.normal(shift, RUN_SD, (runs, 1))
    return rng.random((runs, IMAGES)) < 1 / (1 + np.exp(-(logits + effects)))


def test_two_groups_of_runs_of_one_trainer_are_not_called_different():
    rng = np.random.default_rng(0)
    logits = _images(rng)
    significant = pooled_mcnemar = 0
    for repeat in range(REPEATS):
        a, b = _masks(rng, logits, RUNS), _masks(rng, logits, RUNS)
        significant += method_difference(a.mean(1), b.mean(1))["significant"]
        if repeat < 200:  # the old verdict: every run's images pooled into one McNemar test
            a_only, b_only = int((a & ~b).sum()), int((b & ~a).sum())
            pooled_mcnemar += binomtest(a_only, a_only + b_only, 0.5).pvalue < 0.05
    rate = significant / REPEATS
    assert 0.035 <= rate <= 0.065, rate  # 5% level: SE of the rate 0.5 points
    assert pooled_mcnemar / 200 > 0.3, pooled_mcnemar  # pooling images calls the same trainer different


def test_the_detectable_difference_is_detected_at_eighty_percent_power():
    rng = np.random.default_rng(1)
    sd, n = 0.035, RUNS
    delta = detectable_difference(sd, n)
    assert delta is not None and 0.05 < delta < 0.07  # 5 runs at sd 3.5 points: about 6 points
    found = sum(method_difference(rng.normal(delta, sd, n), np.zeros(n))["significant"] for _ in range(4000))
    assert 0.77 <= found / 4000 <= 0.83, found / 4000
    # fewer runs, larger detectable differences; more runs, smaller
    assert detectable_difference(sd, 3) > delta > detectable_difference(sd, 10)
    assert detectable_difference(None, 5) is None and detectable_difference(sd, 1) is None


def test_the_detectable_difference_is_detected_on_masks():
    """The same claim on simulated masks: the report's detectable difference, computed from the
    spread between runs, is found in about 80% of repetitions."""
    rng = np.random.default_rng(2)
    logits = _images(rng)
    pilot = np.array([_masks(rng, logits, 1).mean() - _masks(rng, logits, 1).mean() for _ in range(3000)])
    delta = detectable_difference(float(pilot.std(ddof=1)), RUNS)
    u = rng.normal(0, RUN_SD, (4000, 1))

    def accuracy(shift: float) -> float:  # expected robust accuracy of a run of the method shifted by `shift`
        return float(np.mean(1 / (1 + np.exp(-(logits[:500] + shift + u)))))

    base, low, high = accuracy(0.0), 0.0, 2.0
    for _ in range(30):  # the logit shift whose accuracy is delta above the base method's
        mid = (low + high) / 2
        low, high = (mid, high) if accuracy(mid) - base < delta else (low, mid)
    found = sum(method_difference(_masks(rng, logits, RUNS, low).mean(1), _masks(rng, logits, RUNS).mean(1))[
        "significant"] for _ in range(1000))
    assert 0.75 <= found / 1000 <= 0.85, (found / 1000, delta)


def test_a_methods_interval_over_runs_covers_its_mean():
    rng = np.random.default_rng(3)
    logits = _images(rng)
    truth = float(np.mean([_masks(rng, logits, 1).mean() for _ in range(20000)]))
    covered = 0
    for _ in range(REPEATS):
        low, high = method_interval(_masks(rng, logits, RUNS).mean(1))["ci95"]
        covered += low <= truth <= high
    assert 0.935 <= covered / REPEATS <= 0.965, covered / REPEATS


def test_a_bootstrap_over_five_runs_is_too_narrow():
    """Why the verdict is a t-test: resampling 5 runs gives too few distinct resamples."""
    rng = np.random.default_rng(4)
    logits = _images(rng)
    wrong = 0
    for _ in range(500):
        differences = _masks(rng, logits, RUNS).mean(1) - _masks(rng, logits, RUNS).mean(1)
        means = rng.choice(differences, (1000, RUNS)).mean(1)
        low, high = np.quantile(means, [0.025, 0.975])
        wrong += not low <= 0.0 <= high
    assert wrong / 500 > 0.08, wrong / 500


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="one accuracy per seed"):
        method_difference([0.3, 0.4], [0.3])
    with pytest.raises(ValueError, match="not finite"):
        method_interval([0.3, float("nan")])
    with pytest.raises(ValueError, match="empty"):
        method_interval([])
    one = method_difference([0.4], [0.3])
    assert one["p_value"] is None and not one["significant"] and one["ci95"] is None


def test_runs_that_tie_in_their_differences_get_no_test():
    """Two seeds whose clean accuracies on 1,066 sentences both differ by 10 sentences (the recorded
    text table had such a pair): the spread is zero or float rounding, and a t-test would call the
    difference significant with a zero-width interval."""
    variant, standard = np.array([868, 870]) / 1066, np.array([878, 880]) / 1066
    tied = method_difference(variant, standard)
    assert tied["no_test"].startswith("equal per-seed differences")
    assert tied["p_value"] is None and tied["ci95"] is None and tied["detectable"] is None and not tied["significant"]
    assert tied["difference"] == pytest.approx(-10 / 1066)
    zero = method_difference([0.5, 0.6], [0.5, 0.6])
    assert zero["p_value"] is None and not zero["significant"] and zero["difference"] == 0.0
    one_image_apart = method_difference(np.array([868, 871]) / 1066, standard)
    assert one_image_apart["no_test"] is None and one_image_apart["p_value"] is not None
