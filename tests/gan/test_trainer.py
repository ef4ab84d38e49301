"""The GAN-based adversarial trainer (`advgan`) on the art-ext trainer core, on digits."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from torch import nn

import art_ext
from art_ext.models import accuracy, make_classifier


def fresh_copy(classifier):
    return make_classifier(copy.deepcopy(classifier.model), classifier.input_shape, classifier.nb_classes)


def test_advgan_trainer_trains_checkpoints_and_validates(tmp_path, digits, digits_classifier):
    from art.defences.trainer import Trainer

    classifier = fresh_copy(digits_classifier)
    trainer = art_ext.get_trainer(
        "advgan", classifier, eps=0.3, nb_epochs=2, batch_size=64, seed=0, verbose=False,
        checkpoint_dir=tmp_path / "ckpt", eval_max_iter=3, eval_restarts=1,
    )
    assert isinstance(trainer, Trainer)
    x_val, y_val = digits.x_test[:60], digits.y_test[:60]
    trainer.fit(digits.x_train[:768], digits.y_train[:768], validation_data=(x_val, y_val))
    history = trainer.history
    assert [h["epoch"] for h in history] == [1, 2]
    for key in ("val_clean_acc", "val_robust_acc", "val_advgan_acc", "train_gan_acc", "train_loss_g"):
        assert key in history[-1], key
    # the classifier learns to classify its generator's examples and keeps its clean accuracy
    assert history[-1]["val_advgan_acc"] > 0.5, history
    assert accuracy(classifier, digits.x_test, digits.y_test) > 0.85
    assert (tmp_path / "ckpt" / "last.pt").is_file() and (tmp_path / "ckpt" / "metrics.jsonl").is_file()
    # the generator and discriminator are checkpointed with the model
    import torch

    state = torch.load(tmp_path / "ckpt" / "last.pt", weights_only=True)
    assert {"model", "generator", "discriminator"} <= set(state["modules"])
    assert {"opt_g", "opt_d"} <= set(state["optimizers"])

    # the final generator as a fitted attack, within eps and clip values
    attack = trainer.advgan_attack()
    x_adv = attack.generate(digits.x_test[:50])
    assert np.abs(x_adv - digits.x_test[:50]).max() <= 0.3 + 1e-6
    assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0


def test_advgan_trainer_resumes(tmp_path, digits, digits_classifier):
    params = {"eps": 0.3, "batch_size": 128, "seed": 0, "verbose": False, "checkpoint_dir": tmp_path, "eval_max_iter": 0}
    x, y = digits.x_train[:256], digits.y_train[:256]
    first = art_ext.get_trainer("advgan", fresh_copy(digits_classifier), nb_epochs=1, **params)
    first.fit(x, y)
    resumed = art_ext.get_trainer("advgan", fresh_copy(digits_classifier), nb_epochs=2, resume=True, **params)
    resumed.fit(x, y)
    assert [h["epoch"] for h in resumed.history] == [1, 2]


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"adv_ratio": 0.0}, "adv_ratio must be in"),
        ({"g_steps": 0}, "g_steps must be"),
        ({"eps": 1.5}, "eps=1.5 exceeds the input range"),
        ({"eps": 0.0}, "eps must be"),
        ({"alpha": -1.0}, "alpha must be"),
        ({"norm": "l1"}, "norm"),
    ],
)
def test_advgan_trainer_bad_parameters(digits_classifier, params, match):
    with pytest.raises(ValueError, match=match):
        art_ext.get_trainer("advgan", fresh_copy(digits_classifier), verbose=False, **params)


def test_advgan_trainer_mismatched_generator(digits_classifier):
    with pytest.raises(ValueError, match="generator output shape"):
        art_ext.get_trainer("advgan", fresh_copy(digits_classifier), generator=nn.Conv2d(1, 1, 3), verbose=False)
