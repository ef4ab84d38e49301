"""The contract of every registered image attack and trainer, fuzzed with hypothesis
(art_ext.testing.fuzz_attack / fuzz_trainer): a clear error naming a parameter, or an output
that keeps shape, dtype, clip_values and the budget, without NaN."""

from __future__ import annotations

import pytest

import art_ext
from art_ext.testing import fuzz_attack, fuzz_trainer, make_tiny_classifier

#: cheap settings per attack (the contract does not depend on how hard an attack tries)
ATTACK_PARAMS = {
    "art.pgd": {"max_iter": 3}, "art.cw_l2": {"max_iter": 2, "binary_search_steps": 1, "verbose": False},
    "art.deepfool": {"max_iter": 3, "verbose": False}, "art.square": {"max_iter": 5},
    "art.autoattack": {"version": "art-fast"}, "advgan": {"nb_epochs": 1, "verbose": False},
    "foolbox.cw_l2": {"steps": 5, "binary_search_steps": 1}, "foolbox.linf_deepfool": {"steps": 3},
    "foolbox.linf_pgd": {"steps": 3}, "foolbox.l2_pgd": {"steps": 3},
    "apgd": {"max_iter": 3}, "apgd-t": {"max_iter": 3, "nb_targets": 2}, "fab-t": {"max_iter": 3, "nb_targets": 2},
    "square": {"max_queries": 5}, "autoattack": {"version": "fast"},
}
TRAINER_PARAMS = {
    "pgd": {"max_iter": 2}, "trades": {"max_iter": 2}, "free": {"replays": 2}, "advgan": {"g_steps": 1},
    "art.madry_pgd": {"max_iter": 2, "nb_epochs": 1}, "art.trades": {"max_iter": 2},
}
SLOW_ATTACKS = {"art.autoattack", "art.cw_l2", "autoattack"}


def _image(kind: str) -> list[str]:
    registry = art_ext.get_plugin_manager().attacks if kind == "attack" else art_ext.get_plugin_manager().trainers
    return [e.name for e in registry.entries() if e.modality == "image"]


@pytest.mark.parametrize("name", _image("attack"))
def test_every_image_attack_keeps_the_contract(name):
    classifier = make_tiny_classifier()
    fuzz_attack(name, classifier, params=ATTACK_PARAMS.get(name, {}),
                max_examples=4 if name in SLOW_ATTACKS else 15)


@pytest.mark.parametrize("name", _image("trainer"))
def test_every_image_trainer_keeps_the_contract(name):
    params = {"verbose": False} if not name.startswith("art.") else {}
    # ART's FBF starts its cyclic learning rate at 0: one epoch of one batch would not move a weight
    fit_params = {"nb_epochs": 2} if name == "art.fbf" else {}
    fuzz_trainer(name, make_tiny_classifier, params={**params, **TRAINER_PARAMS.get(name, {})}, fit_params=fit_params,
                 max_examples=8)
