"""Property tests (hypothesis) of the text plugin's small pure pieces: the embedding projection
(built on the core's projection), character edits, word budgets and case matching."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from art_ext_plugins.text.attacks.charswap import char_edits
from art_ext_plugins.text.attacks.constraints import MaxWordsChanged
from art_ext_plugins.text.attacks.words import match_case
from art_ext_plugins.text.model.embedding import normalized_step, project
from hypothesis import given, settings
from hypothesis import strategies as st


@settings(max_examples=40, deadline=None)
@given(b=st.integers(1, 4), length=st.integers(1, 6), d=st.integers(1, 5), eps=st.floats(1e-3, 5.0),
       norm=st.sampled_from(["inf", "2"]), per=st.sampled_from(["token", "sequence"]), seed=st.integers(0, 10_000),
       scale=st.floats(1e-2, 100.0))
def test_projection_respects_the_budget_and_the_mask(b, length, d, eps, norm, per, seed, scale):
    g = torch.Generator().manual_seed(seed)
    delta = torch.randn((b, length, d), generator=g) * scale
    real = torch.rand((b, length), generator=g) > 0.3
    out = project(delta, real, eps, norm, per)  # type: ignore[arg-type]
    assert out.dtype == delta.dtype and out.shape == delta.shape
    assert float(out[~real].abs().max()) == 0.0 if (~real).any() else True
    tol = 1e-5 * max(1.0, eps)
    if norm == "inf":
        assert float(out.abs().max()) <= eps + tol
    elif per == "token":
        assert float(out.norm(dim=-1).max()) <= eps + tol
    else:
        n_real = real.sum(dim=1).clamp(min=1).float()
        assert bool((out.flatten(1).norm(dim=1) <= eps * n_real.sqrt() + tol).all())
    torch.testing.assert_close(project(out, real, eps, norm, per), out)  # type: ignore[arg-type]  # idempotent
    step = normalized_step(delta, real, norm, per)  # type: ignore[arg-type]
    assert float(step[~real].abs().max()) == 0.0 if (~real).any() else True


@settings(max_examples=60, deadline=None)
@given(word=st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=3, max_size=12), seed=st.integers(0, 1000))
def test_char_edits_are_single_inner_edits(word, seed):
    edits = char_edits(word, rng=np.random.default_rng(seed))
    assert word not in edits and len(edits) == len(set(edits))
    for e in edits:
        assert e[0] == word[0] and e[-1] == word[-1] and abs(len(e) - len(word)) <= 1


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 200), fraction=st.floats(0.01, 1.0), minimum=st.integers(0, 5), cap=st.integers(1, 10))
def test_word_budget(n, fraction, minimum, cap):
    budget = MaxWordsChanged(max_fraction=fraction, min_words=minimum, max_words=cap).budget(n)
    assert budget <= cap and budget == min(cap, max(math.ceil(fraction * n - 1e-9), minimum))


@pytest.mark.parametrize("original,new,expected", [("Good", "great", "Great"), ("GOOD", "great", "GREAT"),
                                                   ("good", "great", "great"), ("G", "great", "Great")])
def test_match_case(original, new, expected):
    assert match_case(original, new) == expected
