"""Shared fixtures. Real data: sklearn digits always; ../shared/data where present."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


def _wait_for_checkpoint_step(path: Path, proc: subprocess.Popen, min_epoch: int, min_step: int,
                              timeout: float = 120) -> dict[str, Any]:
    """Poll the checkpoint a worker subprocess writes until it reaches (epoch, step_in_epoch)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            stderr = proc.stderr.read().decode() if proc.stderr else ""
            raise AssertionError(f"worker exited early with {proc.returncode}: {stderr[-2000:]}")
        if path.is_file():
            try:
                state = torch.load(path, weights_only=True)
            except Exception:  # a checkpoint being replaced right now
                state = None
            if state and (state["epoch"], state["step_in_epoch"]) >= (min_epoch, min_step):
                return state
        time.sleep(0.05)
    raise AssertionError("worker made no progress")


@pytest.fixture
def wait_for_step() -> Callable[..., dict[str, Any]]:
    """``wait_for_step(path, proc, min_epoch, min_step)``: the kill -9 resume tests' poll."""
    return _wait_for_checkpoint_step
