"""Fixtures for the core's tests: one torch thread (the machine's 2 cores are shared), fresh
copies of the session's digits classifier, the undefended model's robust accuracy."""

from __future__ import annotations

import copy

import pytest
import torch

from art_ext.models import make_classifier


def pgd_accuracy(classifier, x, y, *, eps, steps=10, restarts=1):
    """(clean, robust) accuracy under PGD-``steps`` through the evaluation entry point."""
    from art_ext.evaluation import evaluate

    report = evaluate(classifier, x, y, eps=eps, pgd_steps=steps, pgd_restarts=restarts, autoattack_version=None)
    return report.accuracy("clean"), report.accuracy("worst")

EPS = 0.2  # digits are 8x8: 0.2 Linf already breaks the undefended model


@pytest.fixture(autouse=True)
def _one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def fresh_classifier(digits, digits_classifier):
    """A copy of the session's trained digits classifier with its own Adam optimizer."""

    def make():
        model = copy.deepcopy(digits_classifier.model)
        return make_classifier(model, digits.input_shape, digits.nb_classes, digits.clip_values)

    return make


@pytest.fixture(scope="session")
def undefended_robust(digits, digits_classifier):
    """(clean, robust) test accuracy of the undefended digits model under PGD-10 (eps 0.2)."""

    torch.set_num_threads(1)
    return pgd_accuracy(digits_classifier, digits.x_test, digits.y_test, eps=EPS, steps=10, restarts=1)
