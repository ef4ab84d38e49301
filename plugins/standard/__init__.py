"""ART's own attacks and trainers, registered under ``art.*`` so benchmarks and the CLI can pick
them by name or glob next to the plugin attacks. Nothing is reimplemented: targets are ART's
classes behind art-ext's input and output checks (:mod:`art_ext.attack_checks`)."""

from __future__ import annotations

import art_ext
from art_ext.registry import Register

_FACTORIES = "art_ext_plugins.standard.factories"


@art_ext.hookimpl
def register_attacks(register: Register) -> None:
    register("art.fgsm", f"{_FACTORIES}:fgsm", description="ART FastGradientMethod (Goodfellow et al. 2015)")
    register("art.pgd", f"{_FACTORIES}:pgd", description="ART ProjectedGradientDescent, 40 steps and random restarts by default (Madry et al. 2018)")
    register("art.cw_l2", f"{_FACTORIES}:cw_l2", description="ART CarliniL2Method (Carlini & Wagner 2017)")
    register("art.deepfool", f"{_FACTORIES}:deepfool", description="ART DeepFool (Moosavi-Dezfooli et al. 2016)")
    register("art.square", f"{_FACTORIES}:square", description="ART SquareAttack, score-based black-box (Andriushchenko et al. 2020)")
    register("art.autoattack", f"{_FACTORIES}:autoattack", description="ART AutoAttack (Croce & Hein 2020)")


@art_ext.hookimpl
def register_trainers(register: Register) -> None:
    register("art.madry_pgd", f"{_FACTORIES}:madry_pgd_trainer", description="ART AdversarialTrainerMadryPGD")
    register("art.trades", f"{_FACTORIES}:trades_trainer", description="ART AdversarialTrainerTRADESPyTorch")
    register("art.fbf", f"{_FACTORIES}:fbf_trainer", description="ART AdversarialTrainerFBFPyTorch")
