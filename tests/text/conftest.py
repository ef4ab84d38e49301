"""Fixtures of the text tests (helpers in text_helpers.py). Real MR data skips when absent."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
from text_helpers import FALLBACK_CORPUS, make_tokenizer, train_mr_model

N_TRAIN = 1600
N_EVAL = 200


@pytest.fixture(scope="session")
def small_tokenizer() -> Any:
    pytest.importorskip("transformers", reason="the text plugin needs transformers (pip install art-ext[text])")
    return make_tokenizer(FALLBACK_CORPUS, vocab_size=300)


@pytest.fixture(scope="session")
def mr_data(mr_dir):
    from art_ext.data import load_mr

    return load_mr(mr_dir)


@pytest.fixture(scope="session")
def mr_tokenizer(mr_data) -> Any:
    return make_tokenizer(mr_data.train_texts[:4000], vocab_size=3000)


@pytest.fixture(scope="session")
def mr_split(mr_data):
    """1,600 random MR training sentences and 200 random test sentences (seed 0)."""
    rng = np.random.default_rng(0)
    train = rng.permutation(len(mr_data.train_texts))[:N_TRAIN]
    test = rng.permutation(len(mr_data.test_texts))[:N_EVAL]
    return ([mr_data.train_texts[i] for i in train], mr_data.y_train[train],
            [mr_data.test_texts[i] for i in test], mr_data.y_test[test])


@pytest.fixture(scope="session")
def mr_trained(mr_tokenizer, mr_split):
    """The standard (clean) model; about 64% accuracy on the 200 test sentences."""
    return train_mr_model(mr_tokenizer, mr_split)


@pytest.fixture
def mr_classifier(mr_trained):
    """A copy of the session model, safe to modify."""
    from art_ext_plugins.text.estimator import HuggingFaceTextClassifier

    return HuggingFaceTextClassifier(copy.deepcopy(mr_trained.model), mr_trained.tokenizer, max_length=48, batch_size=64)
