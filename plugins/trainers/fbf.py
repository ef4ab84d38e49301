"""Fast adversarial training, "fast is better than free" (Wong et al. 2020), on the art-ext core.

Paper: E. Wong, L. Rice, J. Z. Kolter, "Fast is better than free: Revisiting adversarial
training", ICLR 2020. https://arxiv.org/abs/2001.03994

FGSM from a uniform random start in the Linf ball with step ``alpha = 1.25 * eps``, projected
back onto the ball, then one training step on the result: two forward/backward passes per batch
(the attack's backward computes the input gradient only). Optional cyclic learning rate
(0 -> ``lr_max`` at 2/5 of training -> 0, per step, as in the paper and in ART's trainer).
Distance: Linf (default) or L2.

Args (defaults): ``eps=0.3``, ``alpha=1.25 * eps`` (may exceed ``eps``, at most ``2.5 * eps``),
``cyclic_lr=False``, ``lr_max=None`` (the optimizer's learning rate), ``attack_train_mode=True``
(like the paper's code), plus every :class:`art_ext.core.AdversarialTrainer` option.

Example::

    trainer = art_ext.get_trainer("fbf", classifier, eps=0.3)
    trainer.fit(x_train, y_train, nb_epochs=5)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch.nn.functional as F
from torch import Tensor

from art_ext.core import perturb
from art_ext.core.adversarial import AdversarialTrainer


class FBFAdversarialTrainer(AdversarialTrainer):
    """FGSM with random init, step 1.25 eps (see module docstring)."""

    _allow_step_above_eps = True

    def __init__(self, classifier: Any, *, eps: float = 0.3, alpha: float | None = None, cyclic_lr: bool = False,
                 lr_max: float | None = None, attack_train_mode: bool = True, **kwargs: Any) -> None:
        if isinstance(eps, (int, float)) and not isinstance(eps, bool):
            alpha_value = 1.25 * eps if alpha is None else alpha
        else:
            alpha_value = alpha if alpha is not None else eps
        super().__init__(classifier, eps=eps, eps_step=alpha_value, max_iter=1,
                         attack_train_mode=attack_train_mode, **kwargs)
        if not isinstance(alpha_value, (int, float)) or not 0 < alpha_value <= 2.5 * eps:
            raise ValueError(f"alpha must be in (0, 2.5 * eps], got {alpha_value!r}")
        self.alpha = float(alpha_value)
        self.cyclic_lr = cyclic_lr
        self.lr_max = lr_max
        self._steps_per_epoch = 1
        self._total_epochs = self.nb_epochs

    def train(self, data: Any, nb_epochs: int | None = None, validation_data: Any = None) -> list[dict[str, Any]]:
        self._total_epochs = self.nb_epochs if nb_epochs is None else nb_epochs
        if self.cyclic_lr and self.lr_max is None:
            self.lr_max = float(self.optimizer.param_groups[0]["lr"])
        return super().train(data, nb_epochs=nb_epochs, validation_data=validation_data)

    def make_source(self, data: Any, *, shuffle: bool = True, batch_size: int | None = None) -> Any:
        source = super().make_source(data, shuffle=shuffle, batch_size=batch_size)
        if shuffle:
            self._steps_per_epoch = max(1, len(source))
        return source

    def _lr_now(self) -> float:
        assert self.lr_max is not None
        t = self.epoch + (self.step_in_epoch + 1) / self._steps_per_epoch
        epochs = self._total_epochs
        return float(np.interp([t], [0, epochs * 2 / 5, epochs], [0, self.lr_max, 0])[0])

    def train_step(self, batch: Any) -> dict[str, Tensor]:
        x, y = batch[0], batch[1]
        if self.cyclic_lr:
            for group in self.optimizer.param_groups:
                group["lr"] = self._lr_now()
        with self.eval_mode() if not self.attack_train_mode else _same_mode(), self.autocast():
            x_adv = perturb.fgsm(self.attack_net, x, y, self.eps, norm=self.norm, step=self.alpha,
                                 random_start=True, clip_values=self._clip)
        with self.autocast():
            logits = self.net(x_adv)
            loss = F.cross_entropy(logits.float(), y)
        self.optimizer_step(loss)
        return {"loss": loss.detach(), "adv_acc": (logits.detach().argmax(1) == y).float().mean()}


def _same_mode() -> Any:
    import contextlib

    return contextlib.nullcontext()


def fbf_trainer(classifier: Any, **params: Any) -> FBFAdversarialTrainer:
    """Registry factory: ``art_ext.get_trainer("fbf", classifier, **params)``."""
    return FBFAdversarialTrainer(classifier, **params)
