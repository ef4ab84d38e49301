"""AutoAttack's lists as one ART evasion attack, torch-native.

Paper: Francesco Croce and Matthias Hein, "Reliable evaluation of adversarial robustness with an
ensemble of diverse parameter-free attacks", ICML 2020 (arXiv:2003.01690).
Distance: Linf (``norm="inf"``, default) or L2 (``norm=2``).

Arguments:

* ``eps`` (0.3), ``norm`` (``"inf"``);
* ``version`` (``"standard"``): ``"standard"`` is Croce & Hein's list (APGD-CE, APGD-T and FAB-T
  with 9 targets, 100 iterations each, Square with 5,000 queries), ``"fast"`` a reduced list
  (APGD-CE, APGD-DLR, Square with 1,000 queries); each member attacks only what the earlier ones
  left (:mod:`art_ext.evaluation.native`);
* ``batch_size`` (500), ``seed`` (0).

Example::

    attack = art_ext.get_attack("autoattack", classifier, eps=0.3)
    x_adv = attack.generate(x_test, y_test)
    attack.broken_by                               # which member broke how many examples

ART's own ``AutoAttack`` with ART's lists is ``art.autoattack``.
"""

from __future__ import annotations

from typing import Any

import torch
from art_ext_plugins.autoattack.base import NativeAttack
from torch import Tensor

from art_ext import checks
from art_ext.evaluation.native import NATIVE_LISTS, run_native_list

__all__ = ["AutoAttack"]


class AutoAttack(NativeAttack):
    """A native AutoAttack list (see the module docstring)."""

    #: an attack list, white- and black-box members together, like ART's AutoAttack
    threat_model = "ensemble"
    attack_params = [*NativeAttack.attack_params, "version"]

    def __init__(self, estimator: Any, *, eps: float = 0.3, norm: Any = "inf", version: str = "standard",
                 batch_size: int = 500, seed: int = 0) -> None:
        self.version = version
        self.broken_by: dict[str, int] = {}
        super().__init__(estimator, eps=eps, norm=norm, batch_size=batch_size, seed=seed)
        self._check_params()

    def _check_params(self) -> None:
        super()._check_params()
        checks.choice(self.version, "version", tuple(NATIVE_LISTS))
        needed = 4 if self.version == "standard" else 3
        if int(self.estimator.nb_classes) < needed:
            raise ValueError(f"version {self.version!r} needs at least {needed} classes (DLR losses), the estimator "
                             f"has {self.estimator.nb_classes}")

    def _attack_batch(self, model: Any, x: Tensor, y: Tensor, clip_values: Any,
                      generator: torch.Generator) -> Tensor:
        with torch.no_grad():
            clean = model(x).float().argmax(1) == y
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator, device=x.device).item())
        _, x_adv, details = run_native_list(model, x, y, clean, eps=float(self.eps), norm=self.norm,
                                            version=self.version, clip_values=clip_values,
                                            nb_classes=int(self.estimator.nb_classes), batch_size=len(x), seed=seed)
        for name, count in details["broken_by"].items():
            self.broken_by[name] = self.broken_by.get(name, 0) + count
        return x_adv
