import importlib.metadata
import sys
import textwrap

import pytest
from art.attacks import EvasionAttack

import art_ext
from art_ext.manager import BLOCK_ENV, PluginLoadWarning, create_plugin_manager
from art_ext.testing import default_manager, registered_plugin

BUILTIN_ATTACKS = {"art.fgsm", "art.pgd"}


def test_builtin_plugins_load_with_distribution(art_ext_manager):
    infos = {info.name: info for info in art_ext.list_plugins()}
    assert {"standard", "trainers", "gan", "text"} <= set(infos)
    assert infos["standard"].distribution == "art-ext"
    assert infos["standard"].status == "loaded"
    assert "register_attacks" in infos["standard"].hooks
    assert set(infos["standard"].attacks) >= BUILTIN_ATTACKS


def test_get_attack_returns_art_attack(art_ext_manager, tiny_classifier):
    attack = art_ext.get_attack("art.fgsm", tiny_classifier, eps=0.1)
    assert isinstance(attack, EvasionAttack)
    assert attack.eps == 0.1


def _fake_entry_points(tmp_path, monkeypatch, modules):
    """Entry points for throwaway modules written to tmp_path."""
    for name, source in modules.items():
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(tmp_path))
    points = [importlib.metadata.EntryPoint(name=n, value=n, group="art_ext") for n in modules]
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group=None: points if group == "art_ext" else [])


GOOD_PLUGIN = """
    import art_ext

    @art_ext.hookimpl
    def register_attacks(register):
        register("good-fgsm", "art.attacks.evasion:FastGradientMethod")
"""


def test_plugin_failing_on_import_is_reported_and_skipped(tmp_path, monkeypatch, tiny_classifier):
    _fake_entry_points(tmp_path, monkeypatch, {
        "broken_plugin_mod": "raise RuntimeError('boom at import')",
        "good_plugin_mod": GOOD_PLUGIN,
    })
    with pytest.warns(PluginLoadWarning, match="broken_plugin_mod.*boom at import"):
        manager = create_plugin_manager()
    with default_manager(manager):
        infos = {info.name: info for info in art_ext.list_plugins()}
        assert infos["broken_plugin_mod"].status == "failed"
        assert "RuntimeError: boom at import" in infos["broken_plugin_mod"].error
        # the others still work: the good third party and the built-ins (source fallback)
        assert isinstance(art_ext.get_attack("good-fgsm", tiny_classifier), EvasionAttack)
        assert isinstance(art_ext.get_attack("art.fgsm", tiny_classifier), EvasionAttack)


def test_plugin_whose_hook_raises_is_reported(tmp_path, monkeypatch):
    _fake_entry_points(tmp_path, monkeypatch, {"raising_hook_mod": """
        import art_ext

        @art_ext.hookimpl
        def register_attacks(register):
            raise ValueError("cannot register")
    """})
    manager = create_plugin_manager()
    with pytest.warns(PluginLoadWarning, match="raising_hook_mod"):
        names = manager.attacks.names()
    assert set(names) >= BUILTIN_ATTACKS
    assert manager.infos["raising_hook_mod"].status == "failed"


def test_plugin_with_unknown_hook_is_rejected(tmp_path, monkeypatch):
    _fake_entry_points(tmp_path, monkeypatch, {"typo_hook_mod": """
        import art_ext

        @art_ext.hookimpl
        def register_atacks(register):
            pass
    """})
    with pytest.warns(PluginLoadWarning, match="unknown hooks: register_atacks"):
        manager = create_plugin_manager()
    assert manager.infos["typo_hook_mod"].status == "failed"


def test_block_env_skips_plugins(monkeypatch):
    monkeypatch.setenv(BLOCK_ENV, "gan, text")
    manager = create_plugin_manager()
    assert manager.infos["gan"].status == "blocked"
    assert manager.infos["text"].status == "blocked"
    assert manager.get_plugin("gan") is None
    assert set(manager.attacks.names()) >= BUILTIN_ATTACKS


def test_source_checkout_fallback_finds_builtins(monkeypatch):
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group=None: [])
    manager = create_plugin_manager()
    assert manager.infos["standard"].status == "loaded"
    assert set(manager.attacks.names()) >= BUILTIN_ATTACKS


class DuplicatePlugin:
    @art_ext.hookimpl
    def register_attacks(self, register):
        register("art.fgsm", "art.attacks.evasion:FastGradientMethod")


def test_duplicate_attack_names_both_plugins(art_ext_manager):
    with registered_plugin(DuplicatePlugin(), "dup"), pytest.raises(art_ext.DuplicateNameError, match="'standard'.*'dup'|'dup'.*'standard'"):
        art_ext.list_attacks()
    assert "art.fgsm" in art_ext.list_attacks()  # unregistered again after the block


def test_unknown_attack_and_trainer(art_ext_manager, tiny_classifier):
    with pytest.raises(KeyError, match="available: .*art.fgsm"):
        art_ext.get_attack("does-not-exist", tiny_classifier)
    with pytest.raises(art_ext.UnknownTrainerError, match="available: .*art.madry_pgd"):
        art_ext.get_trainer("does-not-exist", tiny_classifier)


class WrongTypePlugin:
    @art_ext.hookimpl
    def register_attacks(self, register):
        register("not-an-attack", lambda estimator, **params: object())


def test_factory_must_return_evasion_attack(art_ext_manager, tiny_classifier):
    with registered_plugin(WrongTypePlugin(), "wrong"), pytest.raises(TypeError, match="plugin 'wrong'.*EvasionAttack"):
        art_ext.get_attack("not-an-attack", tiny_classifier)


def test_default_manager_is_cached_and_lazy():
    from art_ext import manager as manager_module

    assert manager_module.get_plugin_manager() is manager_module.get_plugin_manager()


def test_plugin_modules_import_nothing_heavy():
    import subprocess

    code = (
        "import sys, art_ext; art_ext.get_plugin_manager().plugin_infos();"
        "heavy = [m for m in ('transformers', 'matplotlib', 'art') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "", f"loading plugins imported {out.strip()}"
