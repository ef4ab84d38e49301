"""The helpers shipped in art_ext.testing, used as a plugin author would."""

import numpy as np
import pytest
from art.estimators.classification import PyTorchClassifier

import art_ext
from art_ext.testing import registered_plugin


class NegatePlugin:
    @art_ext.hookimpl
    def register_attacks(self, register):
        register("test-fgsm", "art.attacks.evasion:FastGradientMethod", description="for one test")


def test_empty_manager_has_no_attacks(art_ext_empty_manager):
    assert art_ext.list_attacks() == []


def test_registered_plugin_is_scoped(art_ext_empty_manager, tiny_classifier):
    with registered_plugin(NegatePlugin(), "negate"):
        assert art_ext.list_attacks() == ["test-fgsm"]
        attack = art_ext.get_attack("test-fgsm", tiny_classifier, eps=0.05)
        x = np.full((2, 1, 8, 8), 0.5, dtype=np.float32)
        assert np.abs(attack.generate(x) - x).max() == pytest.approx(0.05)
    assert art_ext.list_attacks() == []


def test_tiny_classifier(tiny_classifier):
    assert isinstance(tiny_classifier, PyTorchClassifier)
    assert tiny_classifier.predict(np.zeros((3, 1, 8, 8), dtype=np.float32)).shape == (3, 10)
