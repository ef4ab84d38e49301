import importlib.metadata
import sys
import textwrap
import warnings

import pytest
from art.attacks import EvasionAttack

import art_ext
from art_ext.manager import BLOCK_ENV, PluginLoadWarning, create_plugin_manager
from art_ext.testing import default_manager, registered_plugin

BUILTIN_ATTACKS = {"art.fgsm", "art.pgd"}


@pytest.mark.smoke
def test_builtin_plugins_load_with_distribution(art_ext_manager):
    infos = {info.name: info for info in art_ext.list_plugins()}
    assert {"standard", "trainers", "gan", "text"} <= set(infos)
    assert infos["standard"].distribution == "art-ext"
    assert infos["standard"].status == "loaded"
    assert "register_attacks" in infos["standard"].hooks
    assert set(infos["standard"].attacks) >= BUILTIN_ATTACKS


@pytest.mark.smoke
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


RAISES_AFTER_REGISTERING = """
    import art_ext

    @art_ext.hookimpl
    def register_attacks(register):
        register("half-registered", "art.attacks.evasion:FastGradientMethod")
        raise RuntimeError("broke after one register() call")

    @art_ext.hookimpl
    def register_trainers(register):
        register("kept-trainer", "art_ext_plugins.trainers.pgd:pgd_trainer")
"""


def test_hook_that_raises_is_rolled_back_and_other_hooks_kept(tmp_path, monkeypatch, recwarn):
    _fake_entry_points(tmp_path, monkeypatch, {"half_mod": RAISES_AFTER_REGISTERING})
    manager = create_plugin_manager()
    assert "half-registered" not in manager.attacks  # rolled back
    assert "kept-trainer" in manager.trainers  # its other hook still counts
    info = {i.name: i for i in manager.plugin_infos()}["half_mod"]
    assert info.status == "partial" and info.attacks == [] and info.trainers == ["kept-trainer"]
    assert info.errors == ["register_attacks raised RuntimeError: broke after one register() call; "
                           "rolled back its attacks half-registered"]
    assert set(manager.attacks.names()) >= BUILTIN_ATTACKS


CLASHING = """
    import art_ext

    @art_ext.hookimpl
    def register_attacks(register):
        register("art.fgsm", "art.attacks.evasion:FastGradientMethod")
        register("own-attack", "art.attacks.evasion:FastGradientMethod")
        register("", "art.attacks.evasion:FastGradientMethod")
"""


def test_clashing_registration_rejected_for_the_later_plugin_only(tmp_path, monkeypatch, tiny_classifier):
    _fake_entry_points(tmp_path, monkeypatch, {"clash_mod": CLASHING})
    manager = create_plugin_manager()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with default_manager(manager):
            infos = {info.name: info for info in art_ext.list_plugins()}
            attack = art_ext.get_attack("art.fgsm", tiny_classifier)
            own = art_ext.get_attack("own-attack", tiny_classifier)
    assert manager.attacks["art.fgsm"].plugin == "standard"  # the built-in keeps its name
    assert type(attack).__module__ == "art_ext.attack_checks" and isinstance(own, EvasionAttack)
    clash = infos["clash_mod"]
    assert clash.status == "partial" and clash.attacks == ["own-attack"]
    assert len(clash.errors) == 2
    assert "'art.fgsm' is registered by both plugin 'standard' and plugin 'clash_mod'" in clash.errors[0]
    assert "attack name must be 1-64 letters" in clash.errors[1]
    # one warning for the plugin, however many errors it has and however often registries rebuild
    manager.register(object(), "unrelated")  # resets the registries
    _ = manager.attacks, manager.trainers
    plugin_warnings = [w for w in caught if issubclass(w.category, PluginLoadWarning)]
    assert len(plugin_warnings) == 1 and "clash_mod" in str(plugin_warnings[0].message)
    assert "`art-ext plugins` lists all its errors" in str(plugin_warnings[0].message)


def test_builtins_win_a_clash_whatever_the_load_order(tmp_path, monkeypatch):
    """The third party is loaded (and its hooks registered) before the built-in fallback here."""
    _fake_entry_points(tmp_path, monkeypatch, {"aaa_first": CLASHING})
    manager = create_plugin_manager()
    assert next(iter(manager.infos)) == "aaa_first"
    with pytest.warns(PluginLoadWarning):
        assert manager.attacks["art.fgsm"].plugin == "standard"


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


def test_duplicate_attack_names_both_plugins_and_keeps_the_first(art_ext_manager):
    with registered_plugin(DuplicatePlugin(), "dup"), pytest.warns(PluginLoadWarning, match="'standard'.*'dup'"):
        assert "art.fgsm" in art_ext.list_attacks()
        assert art_ext_manager.attacks["art.fgsm"].plugin == "standard"
        assert art_ext_manager.infos["dup"].status == "failed"  # its only registration was rejected
    assert "dup" not in art_ext_manager.infos


def test_plugin_info_to_dict_lists_every_error(tmp_path, monkeypatch, recwarn):
    _fake_entry_points(tmp_path, monkeypatch, {"clash_mod": CLASHING})
    data = {i.name: i.to_dict() for i in create_plugin_manager().plugin_infos()}["clash_mod"]
    assert data["status"] == "partial" and len(data["errors"]) == 2 and data["attacks"] == ["own-attack"]


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
