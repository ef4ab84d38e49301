"""Fast adversarial training, "fast is better than free" (Wong et al. 2020), on the art-ext core.

Paper: E. Wong, L. Rice, J. Z. Kolter, "Fast is better than free: Revisiting adversarial
training", ICLR 2020. https://arxiv.org/abs/2001.03994

FGSM from a uniform random start in the Linf ball with step ``alpha = 1.25 * eps``, projected
back onto the ball and clipped to the input range, then one training step on the result: two
forward/backward passes per batch (the attack's backward computes the input gradient only).
Distance: Linf (default) or L2.

FGSM training can collapse ("catastrophic overfitting": robust to FGSM, not to PGD); the paper
stops early on a PGD check of a training minibatch. Here the core's
:class:`~art_ext.core.guard.CollapseGuard` does that check once per epoch and, by default,
rolls back to the last good state and halves ``alpha`` when robustness collapses
(``on_collapse="rollback" | "stop" | "warn"``; ``guard=False`` turns it off).

Args (defaults): ``eps=0.3``, ``alpha=1.25 * eps`` (may exceed ``eps``, at most ``2.5 * eps``),
``clip_start=True`` (clip the random start to the input range before the gradient, as the
paper's CIFAR-10 code does; its MNIST code does not: ``clip_start=False``), ``cyclic_lr=False``
(True: the core's ``lr_schedule="cyclic"``, the learning rate going 0 -> ``lr_max`` at 2/5 of
the run -> 0, per step, as in the paper), ``lr_max=None`` (the optimizer's learning rate), ``attack_train_mode=True`` (like the
paper's code), ``guard=True``, plus every :class:`art_ext.core.AdversarialTrainer` option.

The paper's MNIST recipe (``fast_adversarial/MNIST/train_mnist.py``): eps 0.3, ``alpha=0.375``,
``clip_start=False``, ``cyclic_lr=True, lr_max=5e-3`` with Adam, 10 epochs, batch 100.

Example::

    trainer = art_ext.get_trainer("fbf", classifier, eps=0.3, clip_start=False, cyclic_lr=True, lr_max=5e-3)
    trainer.fit(x_train, y_train, nb_epochs=10, batch_size=100)
"""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor

from art_ext import checks
from art_ext.core import perturb
from art_ext.core.adversarial import AdversarialTrainer, single_step_kwargs


class FBFAdversarialTrainer(AdversarialTrainer):
    """FGSM with random init, step 1.25 eps (see module docstring)."""

    _allow_step_above_eps = True
    _guard_by_default = True

    def __init__(self, classifier: Any, *, eps: float = 0.3, alpha: float | None = None, clip_start: bool = True,
                 cyclic_lr: bool = False, lr_max: float | None = None, attack_train_mode: bool = True,
                 **kwargs: Any) -> None:
        single_step_kwargs("fbf", kwargs, step_name="alpha")
        if checks.boolean(cyclic_lr, "cyclic_lr"):
            if kwargs.get("lr_schedule") not in (None, "cyclic"):
                raise ValueError(f"cyclic_lr=True contradicts lr_schedule={kwargs['lr_schedule']!r}")
            kwargs["lr_schedule"] = "cyclic"
        alpha_value = alpha if alpha is not None else (1.25 * eps if checks.is_real(eps) else eps)
        super().__init__(classifier, eps=eps, eps_step=alpha_value, max_iter=1, lr_max=lr_max,
                         attack_train_mode=attack_train_mode, **kwargs)
        checks.number(alpha_value, "alpha", low=0.0, high=2.5 * float(self.eps), low_inclusive=False)
        self.alpha = float(alpha_value)
        self.clip_start = checks.boolean(clip_start, "clip_start")
        self.cyclic_lr = self.lr_schedule == "cyclic"

    def train_step(self, batch: Any) -> dict[str, Tensor]:
        x, y = batch[0], batch[1]
        with self.attack_mode(), self.autocast():
            x_adv = perturb.fgsm(self.attack_net, x, y, self.eps, norm=self.norm, step=self.alpha * self.step_scale,
                                 random_start=True, clip_start=self.clip_start, clip_values=self._clip)
        with self.autocast():
            logits = self.net(x_adv)
            loss = F.cross_entropy(logits.float(), y)
        self.optimizer_step(loss)
        return {"loss": loss.detach(), "adv_acc": (logits.detach().argmax(1) == y).float().mean()}


def fbf_trainer(classifier: Any, **params: Any) -> FBFAdversarialTrainer:
    """Registry factory: ``art_ext.get_trainer("fbf", classifier, **params)``."""
    return FBFAdversarialTrainer(classifier, **params)
