"""The four trainers on real data (digits): robust accuracy rises clearly above the undefended
model's, weights land in the user's ART classifier, every input path works."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import pgd_accuracy

import art_ext

EPS = 0.2  # as in conftest.py

N_TRAIN = 800
SETTINGS = {
    "pgd": {"max_iter": 5},
    "trades": {"max_iter": 5, "beta": 1.0},
    "free": {"replays": 3},
    "fbf": {},
    "nfgsm": {"k": 1.0},
    "gradalign": {"lam": 1.0},
}


@pytest.mark.parametrize("name", list(SETTINGS))
def test_robust_accuracy_rises(name, digits, fresh_classifier, undefended_robust, tmp_path):
    clf = fresh_classifier()
    before = [p.detach().clone() for p in clf.model.parameters()]
    trainer = art_ext.get_trainer(name, clf, eps=EPS, nb_epochs=3, batch_size=64, seed=0, verbose=False,
                                  checkpoint_dir=tmp_path, eval_max_iter=5, eval_restarts=1,
                                  eval_max_samples=200, **SETTINGS[name])
    assert isinstance(trainer, art.defences.trainer.Trainer)
    trainer.fit(digits.x_train[:N_TRAIN], digits.y_train[:N_TRAIN],
                validation_data=(digits.x_test, digits.y_test))
    # the weights are in the user's classifier (same module object, changed)
    assert trainer.get_classifier() is clf
    assert any(not torch.equal(a, b) for a, b in zip(before, clf.model.parameters()))
    clean, robust = pgd_accuracy(clf, digits.x_test, digits.y_test, eps=EPS, steps=10, restarts=1)
    _, base_robust = undefended_robust
    assert base_robust < 0.15
    assert robust > base_robust + 0.15, (name, robust, base_robust)
    assert clean > 0.6
    # ART's own predict agrees with our clean accuracy
    art_clean = float(np.mean(clf.predict(digits.x_test).argmax(1) == digits.y_test))
    assert abs(art_clean - clean) < 1e-6
    # metrics log and best checkpoint
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [1, 2, 3]
    assert all({"val_clean_acc", "val_robust_acc", "train_loss", "train_time", "peak_rss_mb"} <= set(r) for r in lines)
    best = max(r["val_robust_acc"] for r in lines)
    state = torch.load(tmp_path / "best.pt", weights_only=True)
    assert state["value"] == pytest.approx(best)


import art.defences.trainer  # noqa: E402


def test_one_hot_labels_generator_and_loader(digits, fresh_classifier):
    """Index and one-hot labels train to the same weights; ART generators and a DataLoader of the
    same batches give the same weights as fit(x, y) with the same data order."""
    from art.data_generators import NumpyDataGenerator, PyTorchDataGenerator
    from torch.utils.data import DataLoader, TensorDataset

    x, y = digits.x_train[:256], digits.y_train[:256]
    one_hot = np.eye(10, dtype=np.float32)[y]
    weights = {}
    for kind in ("numpy-index", "numpy-onehot", "numpy-generator", "torch-generator", "loader"):
        clf = fresh_classifier()
        trainer = art_ext.get_trainer("pgd", clf, eps=EPS, max_iter=2, nb_epochs=1, batch_size=64, verbose=False,
                                      seed=0)
        loader = DataLoader(TensorDataset(torch.from_numpy(x), torch.from_numpy(one_hot)), batch_size=64, shuffle=False)
        if kind == "numpy-index":
            trainer.fit(x, y)
        elif kind == "numpy-onehot":
            trainer.fit(x, one_hot)
        elif kind == "numpy-generator":
            trainer.fit_generator(NumpyDataGenerator(x, one_hot, batch_size=64, shuffle=True), nb_epochs=1)
        elif kind == "torch-generator":
            trainer.fit_generator(PyTorchDataGenerator(loader, size=len(x), batch_size=64), nb_epochs=1)
        else:
            trainer.fit_loader(loader, nb_epochs=1)
        assert trainer.history[-1]["step"] == 4 and np.isfinite(trainer.history[-1]["train_loss"])
        weights[kind] = [p.detach().clone() for p in clf.model.parameters()]
    same = lambda a, b: all(torch.equal(p, q) for p, q in zip(weights[a], weights[b]))  # noqa: E731
    assert same("numpy-index", "numpy-onehot") and same("numpy-index", "numpy-generator")
    assert same("torch-generator", "loader")  # the same unshuffled batches through both paths
    assert not same("numpy-index", "loader")  # ... in another order than fit's seeded shuffle


def test_l2_training_and_per_feature_clip_values(digits):
    """An L2 trainer and per-feature clip values: attacks stay in the per-feature box and the ball."""
    from art_ext.core import perturb
    from art_ext.models import SmallCNN, make_classifier

    high = np.ones(digits.input_shape, dtype=np.float32)
    high[:, :, :4] = 0.6
    x = np.minimum(digits.x_train[:256], high)
    torch.manual_seed(0)
    clf = make_classifier(SmallCNN(digits.input_shape, 10), digits.input_shape, 10, (np.zeros_like(high), high))
    trainer = art_ext.get_trainer("pgd", clf, eps=0.8, norm=2, max_iter=3, nb_epochs=2, batch_size=64, verbose=False,
                                  seed=0, validation_split=0.25, eval_max_iter=3, eval_restarts=1)
    trainer.fit(x, digits.y_train[:256])
    assert all(np.isfinite(h["train_loss"]) for h in trainer.history) and "val_robust_acc" in trainer.history[-1]
    seen = []
    original = perturb.pgd

    def spy(*args, **kwargs):
        out = original(*args, **kwargs)
        seen.append((args[1], out))
        return out

    perturb.pgd = spy
    try:
        trainer.fit(x, digits.y_train[:256], nb_epochs=1)
    finally:
        perturb.pgd = original
    assert seen
    for x_in, x_adv in seen:
        delta = (x_adv - x_in).flatten(1).norm(dim=1)
        assert float(delta.max()) <= 0.8 + 1e-4
        assert float(x_adv[:, :, :, :4].max()) <= 0.6 + 1e-6 and float(x_adv.min()) >= 0.0


def test_validation_split_and_restore_best(digits, fresh_classifier, tmp_path):
    clf = fresh_classifier()
    trainer = art_ext.get_trainer("fbf", clf, eps=EPS, nb_epochs=2, batch_size=64, verbose=False, seed=0,
                                  validation_split=0.25, checkpoint_dir=tmp_path, restore_best=True,
                                  eval_max_iter=3, eval_restarts=1)
    trainer.fit(digits.x_train[:200], digits.y_train[:200])
    assert len(trainer.history) == 2 and "val_robust_acc" in trainer.history[0]
    best = torch.load(tmp_path / "best.pt", weights_only=True)
    for key, value in clf.model.state_dict().items():
        assert torch.equal(value, best["modules"]["model"][key])


def test_preprocessing_mean_std_is_applied(digits):
    from art.estimators.classification import PyTorchClassifier

    from art_ext.models import SmallCNN

    torch.manual_seed(0)
    model = SmallCNN(digits.input_shape, 10)
    clf = PyTorchClassifier(model, torch.nn.CrossEntropyLoss(), digits.input_shape, 10,
                            optimizer=torch.optim.Adam(model.parameters(), 1e-3), clip_values=(0.0, 1.0),
                            preprocessing=(0.5, 0.25))
    trainer = art_ext.get_trainer("pgd", clf, eps=EPS, max_iter=2, nb_epochs=1, batch_size=64, verbose=False)
    trainer.setup()
    x = torch.from_numpy(digits.x_test[:8])
    with torch.no_grad():
        ours = trainer.attack_net(x).numpy()
    np.testing.assert_allclose(ours, clf.predict(digits.x_test[:8]), rtol=1e-4, atol=1e-5)
