"""Fitted AdvGANs on digits, trained once per session (the costly part of this area)."""

from __future__ import annotations

import pytest

from art_ext.data import ImageDataset


@pytest.fixture(scope="session")
def untargeted_advgan(digits: ImageDataset, digits_classifier):
    from art_ext_plugins.gan.advgan import AdvGAN

    attack = AdvGAN(digits_classifier, eps=0.3, nb_epochs=8, verbose=False, seed=0)
    attack.fit(digits.x_train, digits.y_train)
    return attack


@pytest.fixture(scope="session")
def targeted_advgan(digits: ImageDataset, digits_classifier):
    from art_ext_plugins.gan.advgan import AdvGAN

    attack = AdvGAN(digits_classifier, eps=0.3, targeted=True, nb_epochs=8, verbose=False, seed=0)
    attack.fit(digits.x_train, digits.y_train)
    return attack
