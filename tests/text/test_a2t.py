"""text-a2t (issue 27): word substitutions made each step from the model being trained."""

from __future__ import annotations

import copy

import numpy as np
import pytest

pytest.importorskip("transformers", reason="the text plugin needs transformers (pip install art-ext[text])")

from art_ext_plugins.text.model.estimator import HuggingFaceTextClassifier
from art_ext_plugins.text.training.a2t import A2TTrainer
from text_helpers import FALLBACK_CORPUS, assert_hotflip_drop, tiny_bert

import art_ext


def test_one_adversarial_epoch_lowers_the_success_of_the_attack_it_trains_with(mr_base, mr_trained, mr_split):
    """The same budget as the standard model (the base plus 2 epochs), the second one adversarial:
    HotFlip, the attack A2T trains with, succeeds less often on held-out sentences."""
    texts, labels = mr_split[2], mr_split[3]
    clf = HuggingFaceTextClassifier(copy.deepcopy(mr_base.model), mr_base.tokenizer, max_length=48, batch_size=64)
    trainer = A2TTrainer(clf, constraints="none", adv_ratio=0.5, clean_epochs=1, lr=2e-3, nb_epochs=2, batch_size=32,
                         seed=0, verbose=False)
    trainer.fit(mr_split[0], mr_split[1])
    clean_epoch, adversarial_epoch = trainer.history
    assert "attacked" not in clean_epoch or clean_epoch["attacked"] == 0
    assert adversarial_epoch["attacked"] == 50 * 16 and adversarial_epoch["changed"] > 0  # half of 50 batches of 32
    assert_hotflip_drop(mr_trained, clf, texts, labels, "text-a2t")


def test_attacked_rows_are_a_seeded_share_of_each_batch(small_tokenizer):
    clf = HuggingFaceTextClassifier(tiny_bert(len(small_tokenizer)), small_tokenizer, max_length=32)
    trainer = A2TTrainer(clf, constraints="none", adv_ratio=0.25, seed=3, verbose=False)
    first = trainer.attacked_rows(32)
    assert len(first) == 8 and len(set(first.tolist())) == 8 and first.max() < 32
    assert np.array_equal(first, trainer.attacked_rows(32))  # the same step draws the same rows
    assert len(trainer.attacked_rows(3)) == 1  # at least one


def test_registered_and_bad_parameters_are_refused(small_tokenizer):
    clf = HuggingFaceTextClassifier(tiny_bert(len(small_tokenizer)), small_tokenizer, max_length=32)
    trainer = art_ext.get_trainer("text-a2t", clf, constraints="none", nb_epochs=1, batch_size=4, seed=0, verbose=False)
    assert isinstance(trainer, A2TTrainer) and trainer.attack == "text-hotflip"
    trainer.fit(FALLBACK_CORPUS, np.arange(len(FALLBACK_CORPUS)) % 2)
    assert trainer.history[0]["attacked"] >= 1
    for params, error, message in [
        ({"attack": "text-charswap"}, ValueError, "attack.*text-charswap"),
        ({"adv_ratio": 0.0}, ValueError, "adv_ratio"),
        ({"adv_ratio": 1.5}, ValueError, "adv_ratio"),
        ({"adv_weight": -1}, ValueError, "adv_weight"),
        ({"clean_epochs": -1}, ValueError, "clean_epochs"),
        ({"attack_params": [1]}, TypeError, "attack_params"),
        ({"attack_params": {"top_k": 0}}, ValueError, "top_k"),
    ]:
        with pytest.raises(error, match=message):
            A2TTrainer(clf, constraints="none", **params)
