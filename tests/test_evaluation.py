"""The evaluation entry point: robust accuracy's one definition, intervals, paired comparisons,
per-example masks, AutoAttack list names, float32 and mode restoring, gradient-masking checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from art_ext.evaluation import (
    AttackResult,
    EvaluationReport,
    autoattack_label,
    evaluate,
    paired_difference,
    pgd_batch_masks,
    robust_mask,
    wilson_interval,
)
from art_ext.models import make_classifier


def test_wilson_known_values():
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and high == pytest.approx(0.2775, abs=1e-4)
    low, high = wilson_interval(5, 10)
    assert (low, high) == (pytest.approx(0.2366, abs=1e-4), pytest.approx(0.7634, abs=1e-4))
    assert wilson_interval(1000, 1000)[1] == 1.0
    with pytest.raises(ValueError, match="successes"):
        wilson_interval(11, 10)


def test_robust_means_correct_clean_and_after_attack():
    y = np.array([0, 1, 2, 3])
    clean = np.array([0, 1, 0, 3])  # example 2 is wrong clean
    adv = np.array([1, 1, 2, 3])  # ... and "right" after the attack: still not robust
    assert robust_mask(y, clean, adv).tolist() == [False, True, False, True]
    assert robust_mask(torch.tensor(y), torch.tensor(clean), torch.tensor(adv)).tolist() == [False, True, False, True]


def test_paired_difference():
    a = np.array([1] * 60 + [0] * 40, dtype=bool)
    b = np.array([1] * 40 + [0] * 60, dtype=bool)
    result = paired_difference(a, b)
    assert result["difference"] == pytest.approx(0.2) and result["a_only"] == 20 and result["b_only"] == 0
    assert result["significant"] and result["ci95"][0] > 0
    same = paired_difference(a, a)
    assert same["difference"] == 0 and same["p_value"] == 1.0 and not same["significant"]
    with pytest.raises(ValueError, match="same examples"):
        paired_difference(a, b[:50])


def test_report_masks_worst_case_and_roundtrip():
    clean = np.array([1, 1, 1, 0], dtype=bool)
    report = EvaluationReport(0.3, "inf", clean)
    report.add(AttackResult("A", "a", np.array([1, 0, 1, 0], dtype=bool)))
    report.add(AttackResult("B", "b", np.array([1, 1, 0, 0], dtype=bool)))
    assert report.worst_case.tolist() == [True, False, False, False]
    assert report.accuracy("A") == 0.5 and report.accuracy("worst") == 0.25
    again = EvaluationReport.from_dict(report.to_dict())
    assert again.worst_case.tolist() == report.worst_case.tolist() and set(again.attacks) == {"A", "B"}
    with pytest.raises(ValueError, match="covers 2 examples"):
        report.add(AttackResult("C", "c", np.array([1, 0], dtype=bool)))
    with pytest.raises(KeyError, match="no attack 'D'"):
        report.mask("D")


def test_only_the_full_list_is_called_autoattack():
    assert autoattack_label("standard") == "AutoAttack (standard)"
    assert "AutoAttack" not in autoattack_label("fast").replace("reduced AA", "")
    with pytest.raises(ValueError, match="autoattack"):
        autoattack_label("apgd")


class _Spy(nn.Module):
    """Records the input dtype and whether autocast was on at each forward."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.seen: list[tuple[torch.dtype, bool]] = []

    def forward(self, x):
        self.seen.append((x.dtype, torch.is_autocast_enabled("cpu")))
        return self.model(x)


@pytest.mark.smoke
def test_evaluate_is_float32_restores_modes_and_reports(digits, digits_classifier):
    spy = _Spy(digits_classifier.model)
    clf = make_classifier(spy, digits.input_shape, 10, digits.clip_values)
    spy.train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        report = evaluate(clf, digits.x_test[:60], digits.y_test[:60], eps=0.1, pgd_steps=5, pgd_restarts=2,
                          autoattack_version="fast")
    assert spy.seen and all(dtype == torch.float32 and not autocast for dtype, autocast in spy.seen)
    assert spy.training and all(m.training for m in spy.modules())  # modes restored
    assert set(report.attacks) == {"PGD-5x2", "autoattack-fast"}
    data = report.to_dict()
    assert data["precision"] == "fp32" and len(data["clean"]["mask"]) == 60
    assert data["attacks"]["autoattack-fast"]["extra"]["label"] == "reduced AA list 'fast'"
    assert report.accuracy("worst") <= min(report.accuracy(n) for n in report.attacks) <= report.accuracy("clean")
    low, high = report.interval("worst")
    assert low <= report.accuracy("worst") <= high


class _LayoutSpy(nn.Module):
    """Records whether the last convolution's weight is channels_last at each forward (the first
    one's, with one input channel, is contiguous in both layouts)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.layouts: list[bool] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = [m.weight for m in self.model.modules() if isinstance(m, nn.Conv2d)][-1]
        self.layouts.append(weight.is_contiguous(memory_format=torch.channels_last))
        return self.model(x)


def test_evaluate_runs_conv_weights_channels_last_and_gives_the_model_back(digits, digits_classifier):
    spy = _LayoutSpy(digits_classifier.model)
    clf = make_classifier(spy, digits.input_shape, 10, digits.clip_values)
    before = {name: (p, p.data_ptr(), p.stride(), p.detach().clone()) for name, p in spy.named_parameters()}
    x, y = digits.x_test[:80], digits.y_test[:80]
    fast = evaluate(clf, x, y, eps=0.1, pgd_steps=10, autoattack_version="fast", seed=3)
    assert spy.layouts and all(spy.layouts)  # every forward of the evaluation ran channels_last weights
    for name, p in spy.named_parameters():  # the same Parameter, storage, strides and values afterwards
        param, pointer, stride, values = before[name]
        assert p is param and p.data_ptr() == pointer and p.stride() == stride and torch.equal(p, values)
    spy.layouts.clear()
    plain = evaluate(clf, x, y, eps=0.1, pgd_steps=10, autoattack_version="fast", seed=3, channels_last=False)
    assert spy.layouts and not any(spy.layouts)
    assert fast.info["channels_last"] and not plain.info["channels_last"]
    # the layout changes float rounding only: the same examples robust, up to one borderline example
    for name in fast.attacks:
        assert np.sum(fast.attacks[name].robust != plain.attacks[name].robust) <= 1


def test_evaluate_checks_its_inputs(digits, digits_classifier):
    with pytest.raises(ValueError, match="eps=5 exceeds the input range"):
        evaluate(digits_classifier, digits.x_test[:5], digits.y_test[:5], eps=5)
    with pytest.raises(ValueError, match="nb_classes = 10"):
        evaluate(digits_classifier, digits.x_test[:5], np.full(5, 11), eps=0.1)
    with pytest.raises(ValueError, match="clip_values"):
        evaluate(digits_classifier, digits.x_test[:5] * 4, digits.y_test[:5], eps=0.1)
    half = make_classifier(digits_classifier.model.to(torch.bfloat16), digits.input_shape, 10)
    try:
        with pytest.raises(ValueError, match="float32"):
            evaluate(half, digits.x_test[:5], digits.y_test[:5], eps=0.1)
    finally:
        digits_classifier.model.float()


def test_more_restarts_never_make_an_example_robust(digits, digits_classifier):
    model = digits_classifier.model.eval()
    x, y = torch.from_numpy(digits.x_test[:120]), torch.from_numpy(digits.y_test[:120])
    masks = {}
    for restarts in (1, 4):
        generator = torch.Generator().manual_seed(3)
        _, masks[restarts] = pgd_batch_masks(model, x, y, eps=0.1, steps=5, restarts=restarts, clip_values=(0.0, 1.0),
                                             generator=generator)
    assert bool((masks[4] <= masks[1]).all()) and int(masks[4].sum()) < int(masks[1].sum())


def test_per_feature_clip_values_are_respected(digits, digits_classifier):
    """A regression test of the old CLI robust accuracy, which took the first two lower bounds."""
    from art_ext.core import perturb

    high = np.ones(digits.input_shape, dtype=np.float32)
    high[:, :4] = 0.5  # the top half of each image may not exceed 0.5
    x = np.minimum(digits.x_test[:40], high)
    clf = make_classifier(digits_classifier.model, digits.input_shape, 10, (np.zeros_like(high), high))
    report = evaluate(clf, x, digits.y_test[:40], eps=0.1, pgd_steps=5, pgd_restarts=1, autoattack_version=None)
    assert report.accuracy("clean") > 0
    adv = perturb.pgd(digits_classifier.model.eval(), torch.from_numpy(x), torch.from_numpy(digits.y_test[:40]), 0.1,
                      0.05, 5, clip_values=(torch.zeros(digits.input_shape), torch.from_numpy(high)))
    assert float(adv[:, :, :4].max()) <= 0.5 and float(adv.min()) >= 0.0
    assert float((adv - torch.from_numpy(x)).abs().max()) <= 0.1 + 1e-6
    assert float(adv[:, :, 4:].max()) > 0.5  # the bottom half still reaches its own bound


def test_masking_checks_pass_on_an_honest_model_and_fire_on_a_masked_one(digits, digits_classifier):
    from art_ext.bench.setup import QuantizeInput
    from art_ext.evaluation import gradient_masking_checks

    honest = gradient_masking_checks(digits_classifier, digits.x_test[:60], digits.y_test[:60], eps=0.1, square_queries=100)
    assert {c["name"] for c in honest} >= {"pgd-steps", "loss-rises-with-steps", "robust-falls-with-eps", "huge-eps",
                                           "black-box-vs-white-box"}
    assert all(c["passed"] for c in honest), [c for c in honest if not c["passed"]]
    masked = make_classifier(nn.Sequential(QuantizeInput(), digits_classifier.model), digits.input_shape, 10)
    failed = {c["name"] for c in gradient_masking_checks(masked, digits.x_test[:60], digits.y_test[:60], eps=0.1,
                                                         square_queries=100) if not c["passed"]}
    assert "black-box-vs-white-box" in failed and "huge-eps" in failed
