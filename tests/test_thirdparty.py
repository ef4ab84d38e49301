"""Real third-party distributions seen through entry points (tests/fixtures/*_plugin): a working
one (``dummy``), one whose attack name clashes with a built-in (``clash``) and one whose hooks
raise (``raising``). Each broken one is isolated: everything else keeps working.

Runs where those distributions are installed (tox env ``thirdparty``; CI installs them)."""

import importlib.metadata
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from art.attacks import EvasionAttack

import art_ext

FIXTURES = ("art-ext-dummy-plugin", "art-ext-clash-plugin", "art-ext-raising-plugin")
for _dist in FIXTURES:
    try:
        importlib.metadata.distribution(_dist)
    except importlib.metadata.PackageNotFoundError:
        pytest.skip(
            f"{_dist} is not installed (tox -e thirdparty installs tests/fixtures/*_plugin)",
            allow_module_level=True,
        )


def cli(*args):
    env = {key: value for key, value in os.environ.items() if key != "ART_EXT_BLOCK_PLUGINS"}
    env["OMP_NUM_THREADS"] = "1"
    return subprocess.run([sys.executable, "-m", "art_ext.cli", *args], capture_output=True, text=True, env=env,
                          timeout=300)


def test_cli_lists_third_party_plugins_and_every_error():
    result = cli("plugins")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "dummy  [loaded]  art-ext-dummy-plugin 0.0.1" in out and "dummy-noise" in out
    assert "clash  [partial]  art-ext-clash-plugin 0.0.1" in out
    assert "error: attack registration rejected: attack 'art.fgsm' is registered by both plugin 'standard' and plugin 'clash'" in out
    assert "raising  [failed]  art-ext-raising-plugin 0.0.1" in out
    assert "register_attacks raised RuntimeError: attack hook broke after one registration; rolled back its attacks raising-fgsm" in out
    assert "register_trainers raised ValueError: trainer hook broke" in out
    assert "standard  [loaded]  art-ext" in out


def test_one_warning_line_per_broken_plugin_per_command():
    for args in (["plugins"], ["attack", "art.fgsm", "--n-test", "5"]):
        result = cli(*args)
        assert result.returncode == 0, result.stderr
        lines = sorted(result.stderr.strip().splitlines())
        assert len(lines) == 2, lines
        assert lines[0].startswith("art-ext: warning: art-ext plugin 'clash' (art-ext-clash-plugin 0.0.1)")
        assert lines[1].startswith("art-ext: warning: art-ext plugin 'raising' (art-ext-raising-plugin 0.0.1)")


def test_plugins_json_lists_errors():
    infos = {i["name"]: i for i in json.loads(cli("plugins", "--json").stdout)}
    assert infos["clash"]["attacks"] == ["clash-fgsm"] and len(infos["clash"]["errors"]) == 1
    assert infos["raising"]["attacks"] == [] and len(infos["raising"]["errors"]) == 2


def test_everything_else_keeps_working(art_ext_manager, tiny_classifier, recwarn):
    registry = art_ext_manager.attacks
    assert registry["art.fgsm"].plugin == "standard"  # the built-in keeps its name
    assert registry["clash-fgsm"].plugin == "clash"  # the clashing plugin's good registration
    assert "raising-fgsm" not in registry  # rolled back with its raising hook
    assert isinstance(art_ext.get_attack("clash-fgsm", tiny_classifier), EvasionAttack)
    assert isinstance(art_ext.get_attack("art.fgsm", tiny_classifier), EvasionAttack)
    assert "pgd" in art_ext_manager.trainers


def test_get_attack_reaches_third_party_attack(art_ext_manager, tiny_classifier, recwarn):
    info = {i.name: i for i in art_ext.list_plugins()}["dummy"]
    assert info.distribution == "art-ext-dummy-plugin" and info.attacks == ["dummy-noise"]
    attack = art_ext.get_attack("dummy-noise", tiny_classifier, eps=0.2)
    assert isinstance(attack, EvasionAttack)
    x = np.full((4, 1, 8, 8), 0.5, dtype=np.float32)
    delta = np.abs(attack.generate(x) - x)
    assert 0 < delta.max() <= 0.2 + 1e-6
