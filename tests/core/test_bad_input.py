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
    with pytest.raises(ValueError, match="y has 5 labels for 10 inputs"):
        trainer.fit(x, y[:5])
    with pytest.raises(ValueError, match="y has shape"):
        trainer.fit(x, y.reshape(10, 1, 1))
    with pytest.raises(ValueError, match="3 channels instead of 1"):
        trainer.fit(np.repeat(x, 3, axis=1), y)


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
    with pytest.raises(ValueError, match="soft labels are not supported"):
        trainer.fit(x, soft)
    with pytest.raises(ValueError, match=r"integer class indices; y\[0\] = "):
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


TRAINERS = ["pgd", "trades", "free", "fbf", "nfgsm", "gradalign", "advgan"]


@pytest.mark.parametrize("name", TRAINERS)
@pytest.mark.parametrize("eps", [0.0, -0.1, float("nan"), 8.0, 1e9])
def test_eps_must_be_positive_and_within_the_input_range(fresh_classifier, name, eps):
    with pytest.raises(ValueError, match="eps"):
        art_ext.get_trainer(name, fresh_classifier(), eps=eps)


def test_uint8_and_float_0_255_images(trainer, digits):
    with pytest.raises(TypeError, match="dtype uint8"):
        trainer.fit((digits.x_train[:10] * 16).astype(np.uint8), digits.y_train[:10])
    with pytest.raises(ValueError, match="outside the classifier's clip_values"):
        trainer.fit(digits.x_train[:10] * 255, digits.y_train[:10])


def test_loader_and_generator_batches_are_checked(digits, fresh_classifier):
    from art.data_generators import NumpyDataGenerator
    from torch.utils.data import DataLoader, TensorDataset

    x, y = torch.from_numpy(digits.x_train[:64]), torch.from_numpy(digits.y_train[:64])
    soft = torch.full((64, 10), 0.1)
    trainer = art_ext.get_trainer("pgd", fresh_classifier(), eps=0.2, max_iter=2, nb_epochs=1, verbose=False)
    with pytest.raises(ValueError, match="soft labels are not supported"):
        trainer.fit_loader(DataLoader(TensorDataset(x, soft), batch_size=32))
    nan = x.clone()
    nan[5, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN or inf"):
        trainer.fit_loader(DataLoader(TensorDataset(nan, y), batch_size=32))
    with pytest.raises(ValueError, match="nb_classes = 10"):
        trainer.fit_loader(DataLoader(TensorDataset(x, y + 10), batch_size=32))
    with pytest.raises(ValueError, match="soft labels"):
        trainer.fit_generator(NumpyDataGenerator(x.numpy(), soft.numpy(), batch_size=32), nb_epochs=1)


def test_single_step_trainers_name_their_step(fresh_classifier):
    with pytest.raises(TypeError, match=r"fbf: unexpected keyword argument 'eps_step' \(fbf's step size is alpha"):
        art_ext.get_trainer("fbf", fresh_classifier(), eps=0.2, eps_step=0.1)
    for name in ("fbf", "nfgsm", "gradalign"):
        with pytest.raises(TypeError, match=rf"{name}: unexpected keyword argument 'max_iter'"):
            art_ext.get_trainer(name, fresh_classifier(), eps=0.2, max_iter=7)
    with pytest.raises(TypeError, match=r"free: unexpected keyword argument 'max_iter' \(Free-AT's steps per batch are its replays"):
        art_ext.get_trainer("free", fresh_classifier(), eps=0.2, max_iter=7)
    with pytest.raises(ValueError, match="lam"):
        art_ext.get_trainer("gradalign", fresh_classifier(), eps=0.2, lam=-1.0)
    with pytest.raises(ValueError, match="k must be"):
        art_ext.get_trainer("nfgsm", fresh_classifier(), eps=0.2, k=-1.0)
    with pytest.raises(ValueError, match="on_collapse"):
        art_ext.get_trainer("fbf", fresh_classifier(), eps=0.2, on_collapse="ignore")
    with pytest.raises(ValueError, match="lr_schedule"):
        art_ext.get_trainer("nfgsm", fresh_classifier(), eps=0.2, lr_schedule="cosine")
    with pytest.raises(ValueError, match="compile"):
        art_ext.get_trainer("gradalign", fresh_classifier(), eps=0.2, compile=True)


@pytest.mark.parametrize("name", ["pgd", "trades"])
def test_step_above_eps(fresh_classifier, name):
    with pytest.raises(ValueError, match="eps_step must be <= eps"):
        art_ext.get_trainer(name, fresh_classifier(), eps=0.1, eps_step=0.2)


def test_other_params(fresh_classifier):
    clf = fresh_classifier()
    for params, word in [({"max_iter": 0}, "max_iter"), ({"eps_step": -0.1}, "eps_step"), ({"nb_epochs": 0}, "nb_epochs"),
                         ({"batch_size": 0}, "batch_size"), ({"norm": 1}, "norm"),
                         ({"precision": "fp8"}, "precision"), ({"precision": "fp16"}, "fp16"),
                         ({"num_random_init": 0}, "num_random_init"),
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


def test_perturbation_primitives_refuse_negative_sizes(digits, digits_classifier):
    from art_ext.core import perturb

    x, y = torch.from_numpy(digits.x_test[:4]), torch.from_numpy(digits.y_test[:4])
    model = digits_classifier.model
    with pytest.raises(ValueError, match=r"eps must be a finite number >= 0, got -0\.1"):
        perturb.pgd(model, x, y, -0.1, 0.01, 3)
    with pytest.raises(ValueError, match="step must be"):
        perturb.pgd(model, x, y, 0.1, -0.01, 3)
    with pytest.raises(ValueError, match="eps must be"):
        perturb.fgsm(model, x, y, -0.1)
    with pytest.raises(ValueError, match="for every example"):
        perturb.pgd(model, x, y, torch.tensor([0.1, -0.1, 0.1, 0.1]), 0.01, 3)
    with pytest.raises(ValueError, match="steps must be an integer"):
        perturb.pgd(model, x, y, 0.1, 0.01, 2.5)


def test_bad_data_types(trainer, digits):
    with pytest.raises(TypeError, match="x must be"):
        trainer.fit(digits.x_train[:10].tolist(), digits.y_train[:10])
    with pytest.raises(TypeError, match="DataGenerator"):
        trainer.fit_generator([1, 2, 3])
