"""PGD training on real MNIST (../shared/data/mnist; skipped where absent), small subset."""

from __future__ import annotations

import pytest
import torch
from conftest import pgd_accuracy

import art_ext

pytestmark = [pytest.mark.slow, pytest.mark.needs_data]


def test_pgd_on_mnist_raises_robust_accuracy(mnist_dir):
    from art_ext.data import load_mnist
    from art_ext.models import SmallCNN, make_classifier, train_model

    data = load_mnist(mnist_dir)
    x, y = data.x_train[:1500], data.y_train[:1500]
    x_test, y_test = data.x_test[:300], data.y_test[:300]
    torch.manual_seed(0)
    model = SmallCNN(data.input_shape, 10)
    train_model(model, x, y, epochs=3, seed=0)
    undefended = make_classifier(model, data.input_shape, 10, data.clip_values)
    base_clean, base_robust = pgd_accuracy(undefended, x_test, y_test, eps=0.3, steps=10, restarts=1)
    assert base_clean > 0.6 and base_robust < 0.1

    trainer = art_ext.get_trainer("pgd", undefended, eps=0.3, max_iter=3, nb_epochs=3, batch_size=64, seed=0,
                                  verbose=False)
    trainer.fit(x, y)
    clean, robust = pgd_accuracy(undefended, x_test, y_test, eps=0.3, steps=10, restarts=1)
    assert robust > base_robust + 0.1, (robust, base_robust)
    assert clean > 0.5
