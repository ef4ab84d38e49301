"""Model modes: a BatchNorm + Dropout model (the model zoo's BNCNN) keeps the modes its user
gave it through training and attacks; TRADES and the GAN trainer never mix clean and adversarial
BatchNorm statistics."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import art_ext
from art_ext.models import BNCNN, make_classifier


@pytest.fixture
def bn_classifier(digits):
    torch.manual_seed(0)
    return make_classifier(BNCNN(digits.input_shape, 10), digits.input_shape, 10, digits.clip_values)


def _modes(model: nn.Module) -> list[bool]:
    return [m.training for m in model.modules()]


@pytest.mark.parametrize("name", ["pgd", "trades", "free", "fbf", "nfgsm", "gradalign", "advgan"])
def test_fit_hands_back_the_modes_it_was_given(digits, bn_classifier, name):
    model = bn_classifier.model
    model.eval()
    trainer = art_ext.get_trainer(name, bn_classifier, eps=0.1, nb_epochs=1, batch_size=64, verbose=False,
                                  eval_max_iter=1)
    running = model.features[1].running_mean.clone()
    trainer.fit(digits.x_train[:128], digits.y_train[:128], validation_data=(digits.x_test[:32], digits.y_test[:32]))
    assert not any(_modes(model)), "a model handed over in eval mode comes back in eval mode"
    assert not torch.equal(running, model.features[1].running_mean), "it was trained in train mode"


def test_a_frozen_batchnorm_stays_frozen(digits, bn_classifier):
    model = bn_classifier.model
    model.train()
    frozen = model.features[1]
    frozen.eval()  # the user freezes this BatchNorm's statistics
    before = frozen.running_mean.clone()
    trainer = art_ext.get_trainer("pgd", bn_classifier, eps=0.1, max_iter=2, nb_epochs=1, batch_size=64, verbose=False,
                                  eval_max_iter=1)
    trainer.fit(digits.x_train[:128], digits.y_train[:128], validation_data=(digits.x_test[:32], digits.y_test[:32]))
    assert torch.equal(before, frozen.running_mean)
    assert not frozen.training and model.training and model.features[4].training


@pytest.mark.parametrize("name", ["trades", "advgan"])
def test_clean_and_adversarial_batches_are_normalised_separately(digits, bn_classifier, name):
    sizes: list[int] = []
    bn = bn_classifier.model.features[1]
    hook = bn.register_forward_pre_hook(lambda m, args: sizes.append(len(args[0])) if m.training else None)
    trainer = art_ext.get_trainer(name, bn_classifier, eps=0.1, nb_epochs=1, batch_size=32, verbose=False,
                                  **({"max_iter": 2} if name == "trades" else {}))
    trainer.fit(digits.x_train[:64], digits.y_train[:64])
    hook.remove()
    assert sizes and max(sizes) == 32, f"a train-mode BatchNorm saw a batch of {max(sizes)} (clean + adversarial mixed)"


def test_attacks_restore_modes(digits, bn_classifier):
    model = bn_classifier.model
    model.train()
    model.classifier[3].eval()  # Dropout off, the rest in train mode
    expected = _modes(model)
    for name, params in [("art.fgsm", {"eps": 0.1}), ("art.pgd", {"eps": 0.1, "max_iter": 3})]:
        attack = art_ext.get_attack(name, bn_classifier, **params)
        attack.generate(digits.x_test[:8])
        assert _modes(model) == expected, name  # ART alone would leave the model in eval mode
    from art_ext.evaluation import evaluate

    evaluate(bn_classifier, digits.x_test[:16], digits.y_test[:16], eps=0.1, pgd_steps=2, pgd_restarts=1,
             autoattack_version=None)
    assert _modes(model) == expected


def test_advgan_fit_restores_the_target_modes(digits, bn_classifier):
    model = bn_classifier.model
    model.train()
    model.features[1].eval()
    expected = _modes(model)
    attack = art_ext.get_attack("advgan", bn_classifier, eps=0.2, nb_epochs=1, verbose=False)
    attack.fit(digits.x_train[:64])
    attack.generate(digits.x_test[:8])
    assert _modes(model) == expected
    assert np.isfinite(attack.generate(digits.x_test[:8])).all()
