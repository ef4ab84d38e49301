import pytest

from art_ext.registry import (
    DuplicateNameError,
    Registry,
    UnknownAttackError,
    UnknownNameError,
    UnknownTrainerError,
    load_target,
)


def test_add_and_lookup_records_plugin():
    registry = Registry("attack")
    registry.add("a", "numpy:zeros", plugin="p1", description="zeros")
    entry = registry["a"]
    assert entry.plugin == "p1" and entry.kind == "attack" and entry.description == "zeros"
    assert registry.by_plugin("p1") == ["a"]
    assert entry.load() is __import__("numpy").zeros


def test_duplicate_name_names_both_plugins():
    registry = Registry("attack")
    registry.bound("first")("same", "numpy:zeros")
    with pytest.raises(DuplicateNameError, match=r"'first'.*'second'"):
        registry.bound("second")("same", "numpy:ones")


def test_unknown_name_is_key_error_listing_known_names():
    registry = Registry("attack")
    registry.add("alpha", "numpy:zeros", plugin="p")
    registry.add("beta", "numpy:ones", plugin="p")
    with pytest.raises(UnknownAttackError) as info:
        registry["gamma"]
    assert isinstance(info.value, KeyError) and isinstance(info.value, UnknownNameError)
    assert str(info.value) == "unknown attack 'gamma'; available: alpha, beta"
    with pytest.raises(UnknownTrainerError):
        Registry("trainer")["x"]


@pytest.mark.parametrize(
    ("name", "target", "modality", "error", "match"),
    [
        ("", "numpy:zeros", "image", ValueError, "name"),
        (" padded", "numpy:zeros", "image", ValueError, "name"),
        ("ok", "no-colon", "image", TypeError, "target"),
        ("ok", 42, "image", TypeError, "target"),
        ("ok", "numpy:zeros", "audio", ValueError, "modality"),
    ],
)
def test_add_validates(name, target, modality, error, match):
    with pytest.raises(error, match=match):
        Registry("attack").add(name, target, plugin="p", modality=modality)


def test_load_target_rejects_non_callable():
    with pytest.raises(TypeError, match="not callable"):
        load_target("math:pi")


def test_bound_with_on_error_records_a_rejected_registration_and_keeps_the_first():
    registry = Registry("attack")
    registry.bound("first")("same", "numpy:zeros")
    errors = []
    entry = registry.bound("second", on_error=errors.append)("same", "numpy:ones")
    assert entry.plugin == "second" and "same" in registry and registry["same"].plugin == "first"
    assert len(errors) == 1 and isinstance(errors[0], DuplicateNameError)
    registry.bound("second", on_error=errors.append)("bad", "no-colon")
    assert "bad" not in registry and isinstance(errors[1], TypeError)


def test_remove_rolls_back_names():
    registry = Registry("trainer")
    registry.add("a", "numpy:zeros", plugin="p")
    registry.add("b", "numpy:ones", plugin="p")
    assert registry.remove(["a", "missing"]) == ["a"]
    assert registry.names() == ["b"]
