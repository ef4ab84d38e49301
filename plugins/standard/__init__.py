"""ART's and Foolbox's own attacks and ART's trainers, registered under ``art.*`` and
``foolbox.*`` so the registry, ``art-ext plugins``, ``art-ext attack`` and ``art-ext bench`` pick
them by name or glob next to the plugin attacks. Nothing is reimplemented: targets are ART's
classes behind art-ext's input and output checks (:mod:`art_ext.attack_checks`), and Foolbox's
attacks behind an ART ``EvasionAttack`` that keeps the same checks
(:mod:`art_ext_plugins.standard.foolbox_attacks`)."""

from __future__ import annotations

import art_ext
from art_ext.registry import Register

_FACTORIES = "art_ext_plugins.standard.factories"
_FOOLBOX = "art_ext_plugins.standard.foolbox_attacks"


@art_ext.hookimpl
def register_attacks(register: Register) -> None:
    register("art.fgsm", f"{_FACTORIES}:fgsm", description="ART FastGradientMethod (Goodfellow et al. 2015)")
    register("art.pgd", f"{_FACTORIES}:pgd", description="ART ProjectedGradientDescent, 40 steps and random restarts by default (Madry et al. 2018)")
    register("art.cw_l2", f"{_FACTORIES}:cw_l2", description="ART CarliniL2Method (Carlini & Wagner 2017)")
    register("art.deepfool", f"{_FACTORIES}:deepfool", description="ART DeepFool (Moosavi-Dezfooli et al. 2016)")
    register("art.square", f"{_FACTORIES}:square", description="ART SquareAttack, score-based black-box (Andriushchenko et al. 2020)")
    register("art.autoattack", f"{_FACTORIES}:autoattack", description="ART AutoAttack (Croce & Hein 2020)")
    register("foolbox.linf_pgd", f"{_FOOLBOX}:linf_pgd", description="Foolbox LinfPGD (Madry et al. 2018)")
    register("foolbox.l2_pgd", f"{_FOOLBOX}:l2_pgd", description="Foolbox L2PGD (Madry et al. 2018)")
    register("foolbox.cw_l2", f"{_FOOLBOX}:cw_l2", description="Foolbox L2CarliniWagnerAttack, minimal L2 (Carlini & Wagner 2017)")
    register("foolbox.linf_deepfool", f"{_FOOLBOX}:linf_deepfool",
             description="Foolbox LinfDeepFoolAttack, minimal Linf (Moosavi-Dezfooli et al. 2016)")


@art_ext.hookimpl
def register_trainers(register: Register) -> None:
    register("art.madry_pgd", f"{_FACTORIES}:madry_pgd_trainer", description="ART AdversarialTrainerMadryPGD")
    register("art.trades", f"{_FACTORIES}:trades_trainer", description="ART AdversarialTrainerTRADESPyTorch")
    register("art.fbf", f"{_FACTORIES}:fbf_trainer", description="ART AdversarialTrainerFBFPyTorch")
