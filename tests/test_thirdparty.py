"""A real third-party distribution (tests/fixtures/art_ext_dummy_plugin) seen through entry points.

Runs where that distribution is installed (tox env ``thirdparty``; CI installs it)."""

import importlib.metadata
import subprocess
import sys

import numpy as np
import pytest
from art.attacks import EvasionAttack

import art_ext

try:
    importlib.metadata.distribution("art-ext-dummy-plugin")
except importlib.metadata.PackageNotFoundError:
    pytest.skip(
        "art-ext-dummy-plugin is not installed (pip install tests/fixtures/art_ext_dummy_plugin)",
        allow_module_level=True,
    )


def test_cli_lists_third_party_plugin():
    out = subprocess.run(
        [sys.executable, "-m", "art_ext.cli", "plugins"], capture_output=True, text=True, check=True
    ).stdout
    assert "dummy  [loaded]  art-ext-dummy-plugin 0.0.1" in out
    assert "dummy-noise" in out


def test_get_attack_reaches_third_party_attack(art_ext_manager, tiny_classifier):
    info = {i.name: i for i in art_ext.list_plugins()}["dummy"]
    assert info.distribution == "art-ext-dummy-plugin" and info.attacks == ["dummy-noise"]
    attack = art_ext.get_attack("dummy-noise", tiny_classifier, eps=0.2)
    assert isinstance(attack, EvasionAttack)
    x = np.full((4, 1, 8, 8), 0.5, dtype=np.float32)
    delta = np.abs(attack.generate(x) - x)
    assert 0 < delta.max() <= 0.2 + 1e-6
