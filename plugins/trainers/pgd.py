"""PGD adversarial training (Madry et al. 2018) on the art-ext core.

Paper: A. Madry, A. Makelov, L. Schmidt, D. Tsipras, A. Vladu, "Towards Deep Learning Models
Resistant to Adversarial Attacks", ICLR 2018. https://arxiv.org/abs/1706.06083

Each step crafts PGD-``max_iter`` examples on the device (input gradients only, eval mode like
ART's ``AdversarialTrainerMadryPGD``) and trains on them. Distance: Linf (default) or L2.

Args (defaults): ``eps=0.3``, ``eps_step=2.5 * eps / max_iter``, ``max_iter=7``, ``norm="inf"``,
``num_random_init=1``, ``ratio=1.0`` (fraction of each batch replaced by adversarial examples;
1.0 trains on adversarial examples only, as Madry et al. and ART do), plus every
:class:`art_ext.core.AdversarialTrainer` / :class:`art_ext.core.CoreTrainer` option.

Example::

    import art_ext
    trainer = art_ext.get_trainer("pgd", classifier, eps=0.3, max_iter=7, nb_epochs=10)
    trainer.fit(x_train, y_train)          # weights end up in `classifier`
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from art_ext import checks
from art_ext.core.adversarial import AdversarialTrainer


class PGDAdversarialTrainer(AdversarialTrainer):
    """Madry et al. PGD adversarial training (see module docstring)."""

    def __init__(self, classifier: Any, *, ratio: float = 1.0, **kwargs: Any) -> None:
        super().__init__(classifier, **kwargs)
        self.ratio = checks.number(ratio, "ratio", low=0.0, high=1.0, low_inclusive=False)

    def train_step(self, batch: Any) -> dict[str, Tensor]:
        x, y = batch[0], batch[1]
        if self.ratio >= 1.0:
            x_train = self.attack(x, y)
        else:
            n_adv = max(1, round(self.ratio * len(x)))
            x_train = torch.cat([self.attack(x[:n_adv], y[:n_adv]), x[n_adv:]])
        with self.autocast():
            logits = self.net(x_train)
            loss = F.cross_entropy(logits.float(), y)
        self.optimizer_step(loss)
        return {"loss": loss.detach(), "adv_acc": (logits.detach().argmax(1) == y).float().mean()}


def pgd_trainer(classifier: Any, **params: Any) -> PGDAdversarialTrainer:
    """Registry factory: ``art_ext.get_trainer("pgd", classifier, **params)``."""
    return PGDAdversarialTrainer(classifier, **params)
