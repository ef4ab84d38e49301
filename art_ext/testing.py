"""Test helpers for plugin authors, loaded by pytest automatically (entry point ``pytest11``).

Fixtures:

* ``art_ext_manager``: a fresh plugin manager with the installed plugins loaded, installed as
  the default for the duration of the test (so ``art_ext.get_attack`` sees it).
* ``art_ext_empty_manager``: the same with no plugins loaded.
* ``tiny_classifier``: an untrained ART ``PyTorchClassifier`` on 1x8x8 inputs, 10 classes.

Context manager :func:`registered_plugin` registers a plugin object for one block::

    from art_ext.testing import registered_plugin

    def test_my_attack_is_found(art_ext_manager, tiny_classifier):
        with registered_plugin(MyPlugin(), "mine"):
            attack = art_ext.get_attack("my-attack", tiny_classifier)

Nothing heavy is imported until a fixture is used.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pytest

from art_ext.manager import (
    ArtExtPluginManager,
    create_plugin_manager,
    get_plugin_manager,
    set_plugin_manager,
)


@contextmanager
def registered_plugin(
    plugin: object, name: str | None = None, manager: ArtExtPluginManager | None = None
) -> Iterator[ArtExtPluginManager]:
    """Register ``plugin`` (a module, class or instance with hookimpls) for the ``with`` block."""
    target = manager if manager is not None else get_plugin_manager()
    plugin_name = name or getattr(plugin, "__name__", None) or type(plugin).__name__
    target.add_plugin(plugin, plugin_name)
    try:
        yield target
    finally:
        target.unregister(plugin)
        target.infos.pop(plugin_name, None)


@contextmanager
def default_manager(manager: ArtExtPluginManager) -> Iterator[ArtExtPluginManager]:
    """Make ``manager`` the process default for the ``with`` block."""
    previous = set_plugin_manager(manager)
    try:
        yield manager
    finally:
        set_plugin_manager(previous)


def make_tiny_classifier(
    input_shape: Sequence[int] = (1, 8, 8), nb_classes: int = 10, seed: int = 0
) -> Any:
    """An untrained, deterministic ART ``PyTorchClassifier`` (one conv layer, one linear layer)."""
    import torch
    from art.estimators.classification import PyTorchClassifier

    torch.manual_seed(seed)
    channels = int(input_shape[0])
    model = torch.nn.Sequential(
        torch.nn.Conv2d(channels, 4, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(4 * int(input_shape[1]) * int(input_shape[2]), nb_classes),
    )
    return PyTorchClassifier(
        model=model,
        loss=torch.nn.CrossEntropyLoss(),
        optimizer=torch.optim.Adam(model.parameters(), lr=1e-2),
        input_shape=tuple(input_shape),
        nb_classes=nb_classes,
        clip_values=(0.0, 1.0),
    )


@pytest.fixture
def art_ext_manager() -> Iterator[ArtExtPluginManager]:
    with default_manager(create_plugin_manager()) as manager:
        yield manager


@pytest.fixture
def art_ext_empty_manager() -> Iterator[ArtExtPluginManager]:
    with default_manager(create_plugin_manager(load=False)) as manager:
        yield manager


@pytest.fixture
def tiny_classifier() -> Any:
    return make_tiny_classifier()
