"""Fixtures of the text tests (helpers in text_helpers.py). Real MR data skips when absent."""

from __future__ import annotations

import copy
import os
from typing import Any

import numpy as np
import pytest
import torch
from text_helpers import (
    FALLBACK_CORPUS,
    finetune,
    make_tokenizer,
    tiny_sentence_encoder,
    train_base_model,
)


@pytest.fixture(scope="session", autouse=True)
def one_thread_session():
    """One torch thread from the start, before the session's models are trained."""
    threads, env = torch.get_num_threads(), os.environ.get("ART_EXT_THREADS")
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    if env is not None:
        os.environ["ART_EXT_THREADS"] = env


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    """The tiny text models run fastest on one thread, and the machine's cores are shared: more
    threads only spin against other processes (`art-ext` commands read ART_EXT_THREADS)."""
    threads = torch.get_num_threads()
    monkeypatch.setenv("ART_EXT_THREADS", "1")
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


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
def mr_base(mr_tokenizer, mr_split):
    """The tiny "pretrained" MR model (4 epochs from scratch)."""
    return train_base_model(mr_tokenizer, mr_split)


@pytest.fixture(scope="session")
def mr_trained(mr_base, mr_split):
    """The standard (clean) model: the base fine-tuned 2 more epochs; about 64% on the 200 test sentences."""
    return finetune(mr_base, mr_split)


@pytest.fixture
def mr_classifier(mr_trained):
    """A copy of the session model, safe to modify."""
    from art_ext_plugins.text.model.estimator import HuggingFaceTextClassifier

    return HuggingFaceTextClassifier(copy.deepcopy(mr_trained.model), mr_trained.tokenizer, max_length=48, batch_size=64)


@pytest.fixture(scope="session")
def sentence_encoder_dir(tmp_path_factory, small_tokenizer) -> str:
    """A tiny sentence-transformers folder (random weights, mean pooling), loaded offline."""
    pytest.importorskip("sentence_transformers", reason="sentence similarity needs sentence-transformers")
    return tiny_sentence_encoder(tmp_path_factory.mktemp("st"), small_tokenizer)
