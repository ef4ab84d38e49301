"""APGD as an ART evasion attack, torch-native.

Paper: Francesco Croce and Matthias Hein, "Reliable evaluation of adversarial robustness with an
ensemble of diverse parameter-free attacks", ICML 2020 (arXiv:2003.01690).
Distance: Linf (``norm="inf"``, default) or L2 (``norm=2``); every output lies inside the ball and
``clip_values``.

Arguments (defaults are AutoAttack's):

* ``eps`` (0.3): radius of the ball, in input units;
* ``norm`` (``"inf"``): ``"inf"`` or ``2``;
* ``loss`` (``"ce"``): ``"ce"`` (APGD-CE) or ``"dlr"`` (APGD-DLR);
* ``max_iter`` (100): iterations per restart; ``nb_restarts`` (1): restarts, each on the examples
  still not fooled;
* ``batch_size`` (500), ``seed`` (0).

Example::

    attack = art_ext.get_attack("apgd", classifier, eps=0.3, loss="dlr")
    x_adv = attack.generate(x_test, y_test)

The algorithm is :func:`art_ext.core.apgd.apgd`; :class:`APGDTargeted` (``apgd-t``) runs it on the
targeted DLR loss against the highest-ranked other classes, as AutoAttack's APGD-T.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from art_ext_plugins.autoattack.base import NativeAttack
from torch import Tensor

from art_ext import checks
from art_ext.core.apgd import apgd
from art_ext.evaluation.native import ranked_targets

__all__ = ["APGD", "APGDTargeted"]


class APGD(NativeAttack):
    """APGD-CE / APGD-DLR (see the module docstring)."""

    attack_params = [*NativeAttack.attack_params, "loss", "max_iter", "nb_restarts"]

    def __init__(self, estimator: Any, *, eps: float = 0.3, norm: Any = "inf", loss: str = "ce",
                 max_iter: int = 100, nb_restarts: int = 1, batch_size: int = 500, seed: int = 0) -> None:
        self.loss = loss
        self.max_iter = max_iter
        self.nb_restarts = nb_restarts
        super().__init__(estimator, eps=eps, norm=norm, batch_size=batch_size, seed=seed)
        self._check_params()

    def _check_params(self) -> None:
        super()._check_params()
        checks.choice(self.loss, "loss", ("ce", "dlr"))
        checks.integer(self.max_iter, "max_iter", minimum=1)
        checks.integer(self.nb_restarts, "nb_restarts", minimum=1)
        if self.loss == "dlr" and int(self.estimator.nb_classes) < 3:
            raise ValueError(f"loss 'dlr' needs at least 3 classes, the estimator has {self.estimator.nb_classes}")

    def _attack_batch(self, model: Any, x: Tensor, y: Tensor, clip_values: Any,
                      generator: torch.Generator) -> Tensor:
        def restart(index: Tensor) -> tuple[Tensor, Tensor]:
            return apgd(model, x[index], y[index], eps=float(self.eps), norm=self.norm, steps=self.max_iter,
                        loss=self.loss, clip_values=clip_values, generator=generator)

        return self.until_fooled(x, (restart for _ in range(self.nb_restarts)))


class APGDTargeted(NativeAttack):
    """APGD-T: APGD on the targeted DLR loss, one run per target class, ranked by the clean logits
    (AutoAttack: 9 targets, 100 iterations). Untargeted as a whole: any misclassification counts."""

    attack_params = [*NativeAttack.attack_params, "nb_targets", "max_iter"]

    def __init__(self, estimator: Any, *, eps: float = 0.3, norm: Any = "inf", nb_targets: int = 9,
                 max_iter: int = 100, batch_size: int = 500, seed: int = 0) -> None:
        self.nb_targets = nb_targets
        self.max_iter = max_iter
        super().__init__(estimator, eps=eps, norm=norm, batch_size=batch_size, seed=seed)
        self._check_params()

    def _check_params(self) -> None:
        super()._check_params()
        classes = int(self.estimator.nb_classes)
        if classes < 4:
            raise ValueError(f"apgd-t's targeted DLR loss needs at least 4 classes, the estimator has {classes}")
        checks.integer(self.nb_targets, "nb_targets", minimum=1, maximum=classes - 1)
        checks.integer(self.max_iter, "max_iter", minimum=1)

    def _attack_batch(self, model: Any, x: Tensor, y: Tensor, clip_values: Any,
                      generator: torch.Generator) -> Tensor:
        def towards(rank: int) -> Callable[[Tensor], tuple[Tensor, Tensor]]:
            def run(index: Tensor) -> tuple[Tensor, Tensor]:
                return apgd(model, x[index], y[index], eps=float(self.eps), norm=self.norm, steps=self.max_iter,
                            loss="dlr-targeted", target=ranked_targets(model, x[index], rank), clip_values=clip_values,
                            generator=generator)
            return run

        return self.until_fooled(x, (towards(rank) for rank in range(2, self.nb_targets + 2)))
