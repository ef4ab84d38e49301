"""FAB-T as an ART evasion attack, torch-native.

Paper: Francesco Croce and Matthias Hein, "Minimally distorted adversarial examples with a fast
adaptive boundary attack", ICML 2020 (arXiv:1907.02044); the targeted version AutoAttack runs.
Distance: Linf (``norm="inf"``, default) or L2 (``norm=2``); FAB minimises the perturbation, and an
example counts as fooled only by a point inside the ``eps``-ball (outputs are projected onto it).

Arguments (defaults are AutoAttack's):

* ``eps`` (0.3), ``norm`` (``"inf"``);
* ``nb_targets`` (9): target classes, the ones the clean model ranks highest after the true class,
  tried one after the other on the examples not yet fooled;
* ``max_iter`` (100): iterations per target;
* ``alpha_max`` (0.1), ``eta`` (1.05), ``beta`` (0.9): the paper's step parameters;
* ``batch_size`` (500), ``seed`` (0, unused: FAB-T starts at the clean input).

Example::

    attack = art_ext.get_attack("fab-t", classifier, eps=0.3)
    x_adv = attack.generate(x_test, y_test)

The algorithm is :func:`art_ext.core.fab.fab_targeted`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from art_ext_plugins.autoattack.base import NativeAttack
from torch import Tensor

from art_ext import checks
from art_ext.core.fab import fab_targeted
from art_ext.evaluation.native import ranked_targets

__all__ = ["FABTargeted"]


class FABTargeted(NativeAttack):
    """FAB-T (see the module docstring)."""

    attack_params = [*NativeAttack.attack_params, "nb_targets", "max_iter", "alpha_max", "eta", "beta"]

    def __init__(self, estimator: Any, *, eps: float = 0.3, norm: Any = "inf", nb_targets: int = 9,
                 max_iter: int = 100, alpha_max: float = 0.1, eta: float = 1.05, beta: float = 0.9,
                 batch_size: int = 500, seed: int = 0) -> None:
        self.nb_targets = nb_targets
        self.max_iter = max_iter
        self.alpha_max = alpha_max
        self.eta = eta
        self.beta = beta
        super().__init__(estimator, eps=eps, norm=norm, batch_size=batch_size, seed=seed)
        self._check_params()

    def _check_params(self) -> None:
        super()._check_params()
        checks.integer(self.nb_targets, "nb_targets", minimum=1, maximum=int(self.estimator.nb_classes) - 1)
        checks.integer(self.max_iter, "max_iter", minimum=1)
        checks.number(self.alpha_max, "alpha_max", low=0.0, high=1.0)
        checks.number(self.eta, "eta", low=1.0, high=2.0)
        checks.number(self.beta, "beta", low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)

    def _attack_batch(self, model: Any, x: Tensor, y: Tensor, clip_values: Any,
                      generator: torch.Generator) -> Tensor:
        def towards(rank: int) -> Callable[[Tensor], tuple[Tensor, Tensor]]:
            def run(index: Tensor) -> tuple[Tensor, Tensor]:
                return fab_targeted(model, x[index], y[index], ranked_targets(model, x[index], rank), eps=float(self.eps),
                                    norm=self.norm, steps=self.max_iter, alpha_max=float(self.alpha_max),
                                    eta=float(self.eta), beta=float(self.beta), clip_values=clip_values)
            return run

        return self.until_fooled(x, (towards(rank) for rank in range(2, self.nb_targets + 2)))
