"""Bad input: each a ValueError/TypeError whose message names the problem."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import art_ext


@pytest.fixture
def trainer(fresh_classifier):
    return art_ext.get_trainer("pgd", fresh_classifier(), eps=0.2, nb_epochs=1, verbose=False)


def test_wrong_shapes(trainer, digits):
    x, y = digits.x_train[:10], digits.y_train[:10]
    with pytest.raises(ValueError, match="shape"):
        trainer.fit(x.reshape(10, 64), y)
    with pytest.raises(ValueError, match="shape"):
        trainer.fit(x[:, :, :4, :], y)
    with pytest.raises(ValueError, match="different lengths"):
        trainer.fit(x, y[:5])
    with pytest.raises(ValueError, match="y has shape"):
        trainer.fit(x, y.reshape(10, 1, 1))


def test_labels_out_of_range_and_one_hot_width(trainer, digits):
    x, y = digits.x_train[:10], digits.y_train[:10].copy()
    bad = y.copy()
    bad[0] = 10
    with pytest.raises(ValueError, match="nb_classes"):
        trainer.fit(x, bad)
    bad[0] = -1
    with pytest.raises(ValueError, match="nb_classes"):
        trainer.fit(x, bad)
    with pytest.raises(ValueError, match="width 9"):
        trainer.fit(x, np.eye(9)[y % 9])
    soft = np.full((10, 10), 0.1)
    with pytest.raises(ValueError, match="one-hot"):
        trainer.fit(x, soft)
    with pytest.raises(ValueError, match="integer class indices"):
        trainer.fit(x, y + 0.5)


def test_nan_inf_and_outside_clip_values(trainer, digits):
    x, y = digits.x_train[:10].copy(), digits.y_train[:10]
    x[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        trainer.fit(x, y)
    x[0, 0, 0, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or inf"):
        trainer.fit(x, y)
    with pytest.raises(ValueError, match="clip_values"):
        trainer.fit(digits.x_train[:10] * 2.0, y)
    with pytest.raises(ValueError, match="clip_values"):
        trainer.fit(digits.x_train[:10] - 0.5, y)
    with pytest.raises(ValueError, match="clip_values"):  # validation data is checked too
        trainer.fit(digits.x_train[:10], y, validation_data=(digits.x_test[:5] + 2, digits.y_test[:5]))


@pytest.mark.parametrize("name", ["pgd", "trades", "free", "fbf"])
@pytest.mark.parametrize("eps", [0.0, -0.1, float("nan")])
def test_eps_must_be_positive(fresh_classifier, name, eps):
    with pytest.raises(ValueError, match="eps"):
        art_ext.get_trainer(name, fresh_classifier(), eps=eps)


@pytest.mark.parametrize("name", ["pgd", "trades"])
def test_step_above_eps(fresh_classifier, name):
    with pytest.raises(ValueError, match="eps_step must be <= eps"):
        art_ext.get_trainer(name, fresh_classifier(), eps=0.1, eps_step=0.2)


def test_other_params(fresh_classifier):
    clf = fresh_classifier()
    for params, word in [({"max_iter": 0}, "max_iter"), ({"nb_epochs": 0}, "nb_epochs"),
                         ({"batch_size": 0}, "batch_size"), ({"norm": 1}, "norm"),
                         ({"precision": "fp8"}, "precision"), ({"num_random_init": 0}, "num_random_init"),
                         ({"resume": True}, "checkpoint_dir"), ({"validation_split": 1.5}, "validation_split"),
                         ({"eval_eps_step": 1.0}, "eval_eps_step")]:
        with pytest.raises(ValueError, match=word):
            art_ext.get_trainer("pgd", clf, eps=0.2, **params)
    with pytest.raises(ValueError, match="beta"):
        art_ext.get_trainer("trades", clf, beta=-1.0)
    with pytest.raises(ValueError, match="replays"):
        art_ext.get_trainer("free", clf, replays=0)
    with pytest.raises(ValueError, match="alpha"):
        art_ext.get_trainer("fbf", clf, eps=0.1, alpha=0.3)


def test_non_pytorch_estimator(digits):
    from art.estimators.classification import SklearnClassifier
    from sklearn.linear_model import LogisticRegression

    sk = SklearnClassifier(LogisticRegression(max_iter=50).fit(digits.x_train.reshape(-1, 64)[:200], digits.y_train[:200]))
    for name in ["pgd", "trades", "free", "fbf"]:
        with pytest.raises(TypeError, match="PyTorchClassifier"):
            art_ext.get_trainer(name, sk)
    with pytest.raises(TypeError, match="PyTorchClassifier"):
        art_ext.get_trainer("pgd", torch.nn.Linear(2, 2))
    from art_ext.core import CoreTrainer

    with pytest.raises(TypeError, match="torch.nn.Module"):
        CoreTrainer(sk)


def test_bad_data_types(trainer, digits):
    with pytest.raises(TypeError, match="x must be"):
        trainer.fit(digits.x_train[:10].tolist(), digits.y_train[:10])
    with pytest.raises(TypeError, match="DataGenerator"):
        trainer.fit_generator([1, 2, 3])
