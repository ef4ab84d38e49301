"""Factories that give ART's attacks and trainers art-ext's calling convention
``factory(estimator, **params)`` with defaults suited to a fair comparison.

Every attack is ART's own class behind :func:`art_ext.attack_checks.checked`: inputs are
checked before ART sees them and outputs keep the input's dtype, the budget and ``clip_values``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from art_ext import checks
from art_ext.attack_checks import checked, checked_trainer
from art_ext.evaluation.robust import autoattack as build


def fgsm(estimator: Any, **params: Any) -> Any:
    """ART ``FastGradientMethod``."""
    from art.attacks.evasion import FastGradientMethod

    return checked(FastGradientMethod)(estimator, **params)


def cw_l2(estimator: Any, **params: Any) -> Any:
    """ART ``CarliniL2Method``."""
    from art.attacks.evasion import CarliniL2Method

    return checked(CarliniL2Method)(estimator, **params)


def deepfool(estimator: Any, **params: Any) -> Any:
    """ART ``DeepFool``."""
    from art.attacks.evasion import DeepFool

    return checked(DeepFool)(estimator, **params)


def pgd(estimator: Any, *, eps: float = 0.3, eps_step: float | None = None, max_iter: int = 40,
        num_random_init: int = 1, norm: float | str = np.inf, batch_size: int = 128, **params: Any) -> Any:
    """ART ``ProjectedGradientDescent``; step defaults to 2.5 * eps / max_iter (Madry et al.)."""
    from art.attacks.evasion import ProjectedGradientDescent

    checks.positive(eps, "eps")
    checks.integer(max_iter, "max_iter", minimum=1)
    step = eps_step if eps_step is not None else 2.5 * eps / max_iter
    return checked(ProjectedGradientDescent)(
        estimator, norm=norm, eps=eps, eps_step=step, max_iter=max_iter,
        num_random_init=num_random_init, batch_size=batch_size, **{"verbose": False, **params},
    )


def square(estimator: Any, *, eps: float = 0.3, max_iter: int = 200, norm: float | str = np.inf, **params: Any) -> Any:
    from art.attacks.evasion import SquareAttack

    return checked(SquareAttack)(estimator, norm=norm, eps=eps, max_iter=max_iter, **{"verbose": False, **params})


def autoattack(estimator: Any, *, eps: float = 0.3, version: str = "art-default", norm: float | str = np.inf,
               batch_size: int = 128, **params: Any) -> Any:
    """ART ``AutoAttack`` with one of ART's lists (:data:`art_ext.evaluation.AUTOATTACK_LISTS`):
    ``"art-default"`` (ART's default list) or ``"art-fast"`` (a reduced list, never called AutoAttack).
    Croce & Hein's standard list runs natively as the attack ``autoattack``."""
    from art.attacks.evasion import AutoAttack

    if params.get("attacks"):
        return checked(AutoAttack)(estimator, norm=norm, eps=eps, batch_size=batch_size, **params)
    if params:
        raise TypeError(
            f"art.autoattack got unexpected parameter(s) {', '.join(sorted(params))}: with a named list "
            "(version='art-default'|'art-fast') it takes eps, norm, version and batch_size; pass attacks=[...] for ART's others"
        )
    return build(estimator, eps, version, norm, batch_size, cls=checked(AutoAttack))


def _check_pgd_trainer(classifier: Any, eps: Any, eps_step: Any, max_iter: Any, batch_size: Any) -> None:
    """The rules art-ext's own PGD-based trainers keep, for ART's (one definition: ``art_ext.checks``)."""
    checks.check_eps(eps, clip_values=classifier.clip_values, input_shape=tuple(classifier.input_shape))
    checks.integer(max_iter, "max_iter", minimum=1)
    checks.integer(batch_size, "batch_size", minimum=1)
    if eps_step is not None:
        checks.positive(eps_step, "eps_step")


def madry_pgd_trainer(classifier: Any, *, eps: float = 0.3, eps_step: float | None = None, max_iter: int = 7,
                      nb_epochs: int = 10, batch_size: int = 128, num_random_init: int = 1) -> Any:
    from art.defences.trainer import AdversarialTrainerMadryPGD

    _check_pgd_trainer(classifier, eps, eps_step, max_iter, batch_size)
    checks.integer(nb_epochs, "nb_epochs", minimum=1)
    checks.integer(num_random_init, "num_random_init", minimum=0)
    step = eps_step if eps_step is not None else 2.5 * eps / max_iter
    return checked_trainer(AdversarialTrainerMadryPGD)(
        classifier, nb_epochs=nb_epochs, batch_size=batch_size, eps=eps, eps_step=step,
        max_iter=max_iter, num_random_init=num_random_init,
    )


def trades_trainer(classifier: Any, *, eps: float = 0.3, eps_step: float | None = None, max_iter: int = 7,
                   beta: float = 6.0, batch_size: int = 128) -> Any:
    from art.attacks.evasion import ProjectedGradientDescent
    from art.defences.trainer import AdversarialTrainerTRADESPyTorch

    _check_pgd_trainer(classifier, eps, eps_step, max_iter, batch_size)
    checks.non_negative(beta, "beta")
    step = eps_step if eps_step is not None else 2.5 * eps / max_iter
    attack = ProjectedGradientDescent(
        classifier, eps=eps, eps_step=step, max_iter=max_iter, num_random_init=1,
        batch_size=batch_size, verbose=False,
    )
    return checked_trainer(AdversarialTrainerTRADESPyTorch)(classifier, attack, beta=beta)


def fbf_trainer(classifier: Any, *, eps: float = 0.3, use_amp: bool = False) -> Any:
    from art.defences.trainer import AdversarialTrainerFBFPyTorch

    checks.check_eps(eps, clip_values=classifier.clip_values, input_shape=tuple(classifier.input_shape))
    return checked_trainer(AdversarialTrainerFBFPyTorch)(classifier, eps=eps, use_amp=use_amp)
