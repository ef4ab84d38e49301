"""TRADES (Zhang et al. 2019) on the art-ext core.

Paper: H. Zhang, Y. Yu, J. Jiao, E. Xing, L. El Ghaoui, M. Jordan, "Theoretically Principled
Trade-off between Robustness and Accuracy", ICML 2019. https://arxiv.org/abs/1901.08573

Loss: ``CE(f(x), y) + beta * KL(f(x) || f(x'))`` where ``x'`` maximises the KL divergence to the
clean prediction inside the ``eps``-ball (the paper's inner maximisation: start at
``x + 0.001 * N(0, 1)``, ``max_iter`` signed-gradient steps of the KL, eval mode); clean and adversarial logits come from
separate forward passes, so BatchNorm statistics never mix them (one pass under DDP). ART's
``AdversarialTrainerTRADESPyTorch`` uses a cross-entropy PGD instead; this one follows the paper.
Distance: Linf (default) or L2.

Args (defaults): ``eps=0.3``, ``eps_step=2.5 * eps / max_iter``, ``max_iter=7``, ``beta=6.0``,
``norm="inf"``, plus every :class:`art_ext.core.AdversarialTrainer` option.

Example::

    trainer = art_ext.get_trainer("trades", classifier, eps=0.3, beta=6.0)
    trainer.fit(x_train, y_train, nb_epochs=10)
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from art_ext import checks
from art_ext.core import perturb
from art_ext.core.adversarial import AdversarialTrainer


class TRADESTrainer(AdversarialTrainer):
    """TRADES with the KL inner maximisation of the paper (see module docstring)."""

    def __init__(self, classifier: Any, *, beta: float = 6.0, init_std: float = 0.001, **kwargs: Any) -> None:
        super().__init__(classifier, **kwargs)
        self.beta = checks.non_negative(beta, "beta")
        self.init_std = checks.non_negative(init_std, "init_std")

    def train_step(self, batch: Any) -> dict[str, Tensor]:
        x, y = batch[0], batch[1]
        with torch.no_grad(), self.eval_mode(), self.autocast():
            clean_logits = self.attack_net(x).float()
        x_init = x + self.init_std * torch.randn_like(x)
        x_adv = self.attack(x, clean_logits, loss_fn=perturb.kl_loss, random_start=False, x_init=x_init,
                            restarts=1)
        with self.autocast():
            if self.dist.enabled:  # DDP expects one forward per backward: one pass over both halves
                natural, adversarial = self.net(torch.cat([x, x_adv])).float().chunk(2)
            else:  # separate passes, as the paper's code: BatchNorm never mixes clean and adversarial statistics
                natural, adversarial = self.net(x).float(), self.net(x_adv).float()
        loss_natural = F.cross_entropy(natural, y)
        loss_robust = F.kl_div(F.log_softmax(adversarial, dim=1), F.softmax(natural, dim=1),
                               reduction="batchmean")
        loss = loss_natural + self.beta * loss_robust
        self.optimizer_step(loss)
        return {
            "loss": loss.detach(),
            "kl": loss_robust.detach(),
            "acc": (natural.detach().argmax(1) == y).float().mean(),
            "adv_acc": (adversarial.detach().argmax(1) == y).float().mean(),
        }


def trades_trainer(classifier: Any, **params: Any) -> TRADESTrainer:
    """Registry factory: ``art_ext.get_trainer("trades", classifier, **params)``."""
    return TRADESTrainer(classifier, **params)
