"""Shared fixtures. Real data: sklearn digits always; ../shared/data where present."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from art_ext.data import ImageDataset, default_data_dir, load_digits

# Two cores are shared by everything on these machines; more threads only thrash.
torch.set_num_threads(min(2, torch.get_num_threads()))


def shared_data_path(name: str) -> Path:
    """``../shared/data/<name>`` (or ``$ART_EXT_DATA/<name>``), or skip with the reason."""
    base = default_data_dir()
    if base is None or not (base / name).is_dir():
        pytest.skip(f"real data '{name}' not found: set ART_EXT_DATA or provide ../shared/data/{name}")
    return base / name


@pytest.fixture(scope="session")
def digits() -> ImageDataset:
    return load_digits()


@pytest.fixture(scope="session")
def digits_classifier(digits: ImageDataset):
    """A SmallCNN trained on digits (~97% test accuracy); do not train it further in a test."""
    from art_ext.models import trained_small_cnn

    return trained_small_cnn(digits.x_train, digits.y_train, epochs=10, seed=0)


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    return shared_data_path("mnist")


@pytest.fixture(scope="session")
def mr_dir() -> Path:
    return shared_data_path("mr")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
