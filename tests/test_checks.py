"""art_ext.checks: each rule raises a ValueError/TypeError naming the parameter and the value."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from art_ext import checks


@pytest.mark.parametrize("value, error", [(0.0, ValueError), (-1, ValueError), (float("nan"), ValueError),
                                          (float("inf"), ValueError), ("0.3", TypeError), (True, TypeError),
                                          (None, TypeError)])
def test_positive_refuses(value, error):
    with pytest.raises(error, match="eps"):
        checks.positive(value, "eps")


def test_scalars_accept_and_name():
    assert checks.positive(np.float32(0.5), "eps") == 0.5
    assert checks.non_negative(0, "beta") == 0.0
    assert checks.integer(np.int64(3), "steps", minimum=1) == 3
    with pytest.raises(TypeError, match=r"steps must be a positive integer, got 2\.0"):
        checks.integer(2.0, "steps", minimum=1)
    with pytest.raises(ValueError, match=r"steps must be a positive integer, got 0"):
        checks.integer(0, "steps", minimum=1)
    with pytest.raises(TypeError, match="verbose must be True or False, got 1"):
        checks.boolean(1, "verbose")
    with pytest.raises(ValueError, match=r"mode must be one of 'a', 'b'; got 'c'"):
        checks.choice("c", "mode", ("a", "b"))
    with pytest.raises(ValueError, match=r"ratio must be in \(0, 1\], got 1\.5"):
        checks.number(1.5, "ratio", low=0.0, high=1.0, low_inclusive=False)


@pytest.mark.parametrize("spelling", ["inf", "Linf", " INF ", np.inf, float("inf"), "np.inf"])
def test_norm_inf_spellings(spelling):
    assert checks.parse_norm(spelling) == "inf"
    assert checks.norm_order(spelling) == np.inf


@pytest.mark.parametrize("spelling", [2, 2.0, "2", "l2", "L2"])
def test_norm_2_spellings(spelling):
    assert checks.parse_norm(spelling) == "2"


@pytest.mark.parametrize("bad", [1, "l1", 3, "fro", None, -np.inf, True])
def test_norm_refused(bad):
    with pytest.raises(ValueError, match="norm must be"):
        checks.parse_norm(bad)


def test_eps_against_the_input_range():
    assert checks.check_eps(0.3, norm="inf", clip_values=(0.0, 1.0), input_shape=(1, 8, 8)) == 0.3
    with pytest.raises(ValueError, match=r"eps=8 exceeds the input range: clip_values \(0, 1\) allow at most 1"):
        checks.check_eps(8, norm="inf", clip_values=(0.0, 1.0), input_shape=(1, 8, 8))
    assert checks.check_eps(7.9, norm="2", clip_values=(0.0, 1.0), input_shape=(1, 8, 8)) == 7.9  # diagonal 8
    with pytest.raises(ValueError, match="at most 8 under the L2 norm"):
        checks.check_eps(8.5, norm="2", clip_values=(0.0, 1.0), input_shape=(1, 8, 8))
    assert checks.check_eps(1e9, norm="inf", clip_values=None, input_shape=(1, 8, 8)) == 1e9
    low, high = np.zeros((1, 8, 8)), np.full((1, 8, 8), 0.5)
    with pytest.raises(ValueError, match="per feature"):
        checks.check_eps(0.6, norm="inf", clip_values=(low, high), input_shape=(1, 8, 8))


def test_clip_bounds():
    assert checks.clip_bounds(None) is None
    low, high = checks.clip_bounds((0, 1))
    assert low.shape == () and float(high) == 1.0
    with pytest.raises(ValueError, match="min < max"):
        checks.clip_bounds((1, 1))
    with pytest.raises(ValueError, match="do not broadcast"):
        checks.clip_bounds((np.zeros(3), np.ones(3)), (1, 8, 8))
    with pytest.raises(ValueError, match="a pair"):
        checks.clip_bounds(5)


def test_images():
    x = np.random.default_rng(0).random((4, 1, 8, 8)).astype(np.float32)
    assert checks.images(x, input_shape=(1, 8, 8), clip_values=(0, 1)) is x
    assert checks.images(torch.from_numpy(x), input_shape=(1, 8, 8)).dtype == np.float32
    assert checks.images(x.astype(np.float64), input_shape=(1, 8, 8)).dtype == np.float64
    with pytest.raises(TypeError, match=r"x must hold float32 or float64 values, got dtype uint8 .*255"):
        checks.images((x * 255).astype(np.uint8), input_shape=(1, 8, 8))
    with pytest.raises(TypeError, match="float16"):
        checks.images(x.astype(np.float16), input_shape=(1, 8, 8))
    with pytest.raises(TypeError, match="x must be a numpy array or a torch tensor, got list"):
        checks.images(x.tolist(), input_shape=(1, 8, 8))
    with pytest.raises(ValueError, match=r"shape \(4, 3, 8, 8\).*3 channels instead of 1"):
        checks.images(np.repeat(x, 3, axis=1), input_shape=(1, 8, 8))
    with pytest.raises(ValueError, match="channels last"):
        checks.images(x.transpose(0, 2, 3, 1), input_shape=(1, 8, 8))
    with pytest.raises(ValueError, match="empty"):
        checks.images(x[:0], input_shape=(1, 8, 8))
    bad = x.copy()
    bad[2, 0, 3, 4] = np.nan
    with pytest.raises(ValueError, match=r"1 NaN or inf values \(first at index \(2, 0, 3, 4\)\)"):
        checks.images(bad, input_shape=(1, 8, 8))
    with pytest.raises(ValueError, match=r"x has values in \[0\.0\d+, 2\.99\d*\], outside the classifier's clip_values \(0, 1\)"):
        checks.images(x * 3, input_shape=(1, 8, 8), clip_values=(0, 1))
    per_feature = (np.zeros((1, 8, 8)), np.full((1, 8, 8), 0.5))
    with pytest.raises(ValueError, match="per feature"):
        checks.images(x, input_shape=(1, 8, 8), clip_values=per_feature)


def test_class_indices():
    assert checks.class_indices([0, 2, 1], nb_classes=3).tolist() == [0, 2, 1]
    assert checks.class_indices(np.array([0.0, 2.0]), nb_classes=3).dtype == np.int64
    assert checks.class_indices(np.eye(3)[[2, 0]], nb_classes=3).tolist() == [2, 0]
    with pytest.raises(ValueError, match=r"y must hold integer class indices; y\[0\] = 0\.7"):
        checks.class_indices(np.array([0.7, 1.0]), nb_classes=2)
    with pytest.raises(ValueError, match=r"y has labels in \[0, 5\]; expected 0 <= label < nb_classes = 2"):
        checks.class_indices([0, 5], nb_classes=2)
    with pytest.raises(ValueError, match="nb_classes = 2"):
        checks.class_indices([-1, 0], nb_classes=2)
    with pytest.raises(ValueError, match="soft labels are not supported"):
        checks.class_indices(np.full((2, 2), 0.5), nb_classes=2)
    with pytest.raises(ValueError, match="width 3; expected nb_classes = 2"):
        checks.class_indices(np.eye(3), nb_classes=2)
    with pytest.raises(ValueError, match="y has 2 labels for 3 inputs"):
        checks.class_indices([0, 1], nb_classes=2, n=3)
    with pytest.raises(TypeError, match="numeric class labels"):
        checks.class_indices(np.array(["a", "b"]), nb_classes=2)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=-3, max_value=12), min_size=1, max_size=20), st.integers(2, 10))
def test_class_indices_either_valid_or_a_named_error(labels, nb_classes):
    try:
        out = checks.class_indices(np.array(labels), nb_classes=nb_classes)
    except ValueError as error:
        assert "y has labels" in str(error) and str(nb_classes) in str(error)
        assert min(labels) < 0 or max(labels) >= nb_classes
    else:
        assert out.tolist() == labels and out.dtype == np.int64
