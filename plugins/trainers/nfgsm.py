"""N-FGSM: single-step adversarial training with noise and no projection (de Jorge et al. 2022).

Paper: P. de Jorge, A. Bibi, R. Volpi, A. Sanyal, P. H. S. Torr, G. Rogez, P. K. Dokania, "Make
Some Noise: Reliable and Efficient Single-Step Adversarial Training", NeurIPS 2022.
https://arxiv.org/abs/2202.01181

Per batch: a noise start ``x + U(-k * eps, k * eps)`` (clipped to the input range), one signed
gradient step of size ``alpha`` (default ``eps``), **no** projection back onto the eps-ball (the
training perturbation may reach ``(k + 1) * eps``; the paper shows the projection is what lets
FGSM-type training collapse), clipped to the input range, then one training step. The cost is
FGSM's: two forward/backward passes per batch. Distance: Linf (default) or L2.

Args (defaults): ``eps=0.3``, ``k=2.0`` (noise magnitude in units of eps), ``alpha=eps``,
``attack_train_mode=True`` (as the paper's code), ``guard=True`` (the core's collapse guard
watches, as for every single-step trainer), plus every :class:`art_ext.core.AdversarialTrainer`
option. Evaluation (per-epoch validation, benchmarks) is always at ``eps``.

Example::

    trainer = art_ext.get_trainer("nfgsm", classifier, eps=0.3)
    trainer.fit(x_train, y_train, nb_epochs=5)
"""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor

from art_ext import checks
from art_ext.core import perturb
from art_ext.core.adversarial import AdversarialTrainer, single_step_kwargs


class NFGSMTrainer(AdversarialTrainer):
    """N-FGSM (see the module docstring)."""

    _allow_step_above_eps = True
    _guard_by_default = True

    def __init__(self, classifier: Any, *, eps: float = 0.3, k: float = 2.0, alpha: float | None = None,
                 attack_train_mode: bool = True, **kwargs: Any) -> None:
        single_step_kwargs("nfgsm", kwargs, step_name="alpha")
        alpha_value = eps if alpha is None else alpha
        super().__init__(classifier, eps=eps, eps_step=alpha_value, max_iter=1,
                         attack_train_mode=attack_train_mode, **kwargs)
        self.k = checks.non_negative(k, "k")
        self.alpha = checks.number(alpha_value, "alpha", low=0.0, high=4.0 * float(self.eps), low_inclusive=False)

    def train_step(self, batch: Any) -> dict[str, Tensor]:
        x, y = batch[0], batch[1]
        scale = self.step_scale
        with self.attack_mode(), self.autocast():
            x_adv = perturb.fgsm(self.attack_net, x, y, self.eps, norm=self.norm, step=self.alpha * scale,
                                 random_start=self.k > 0, noise=self.k * self.eps * scale if self.k > 0 else None,
                                 project_ball=False, clip_values=self._clip)
        with self.autocast():
            logits = self.net(x_adv)
            loss = F.cross_entropy(logits.float(), y)
        self.optimizer_step(loss)
        return {"loss": loss.detach(), "adv_acc": (logits.detach().argmax(1) == y).float().mean()}


def nfgsm_trainer(classifier: Any, **params: Any) -> NFGSMTrainer:
    """Registry factory: ``art_ext.get_trainer("nfgsm", classifier, **params)``."""
    return NFGSMTrainer(classifier, **params)
