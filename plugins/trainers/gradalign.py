"""GradAlign: FGSM training with a gradient-alignment regulariser (Andriushchenko & Flammarion 2020).

Paper: M. Andriushchenko, N. Flammarion, "Understanding and Improving Fast Adversarial
Training", NeurIPS 2020. https://arxiv.org/abs/2007.02617

Per batch: FGSM from ``x`` (step ``alpha``, default ``eps``, projected and clipped), plus the
regulariser ``lambda * (1 - cos(grad_x L(x), grad_x L(x + eta)))`` averaged over the batch, with
``eta ~ U[-eps, eps]``; the first gradient is the FGSM step's own (no extra pass), the second is
differentiated again (double backprop), so a step costs about two FGSM steps. Catastrophic
overfitting comes with gradients that stop being aligned inside the ball; the regulariser keeps
them aligned. Distance: Linf.

``lambda`` (``lam``): the paper's CIFAR-10 values follow ``0.02 * 10 ** (eps_255 / 8)`` with
``eps_255`` the budget in 1/255 units of the input range (0.2 at 8/255, 2.0 at 16/255), which is
the default up to 16/255. The paper gives no value for larger budgets (MNIST's 0.3): there the
default is 2.0, the largest of the scheme, and ``benchmarks/trainers.py`` chooses ``lam`` on a
validation split. Double backprop is not supported by ``torch.compile`` nor under DDP here:
both raise a ``ValueError``.

Args (defaults): ``eps=0.3``, ``lam=None`` (the rule above), ``alpha=eps``,
``attack_train_mode=True``, ``guard=True``, plus every :class:`art_ext.core.AdversarialTrainer`
option.

Example::

    trainer = art_ext.get_trainer("gradalign", classifier, eps=8 / 255)   # lam 0.2
    trainer.fit(x_train, y_train, nb_epochs=5)
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from art_ext import checks
from art_ext.core import perturb
from art_ext.core.adversarial import AdversarialTrainer, single_step_kwargs


def default_lambda(eps: float, span: float = 1.0) -> float:
    """The paper's log-linear rule for ``lambda`` (capped at its 16/255 value, 2.0)."""
    eps_255 = 255.0 * eps / span
    return float(0.02 * 10 ** (min(eps_255, 16.0) / 8.0))


class GradAlignTrainer(AdversarialTrainer):
    """FGSM + GradAlign (see the module docstring)."""

    _guard_by_default = True

    def __init__(self, classifier: Any, *, eps: float = 0.3, lam: float | None = None, alpha: float | None = None,
                 attack_train_mode: bool = True, **kwargs: Any) -> None:
        single_step_kwargs("gradalign", kwargs, step_name="alpha")
        alpha_value = eps if alpha is None else alpha
        super().__init__(classifier, eps=eps, eps_step=alpha_value, max_iter=1,
                         attack_train_mode=attack_train_mode, **kwargs)
        if self.norm != "inf":
            raise ValueError(f"norm: gradalign is defined for Linf, got norm={self.norm!r}")
        if self.compile:
            raise ValueError("compile: gradalign needs double backprop, which torch.compile does not support; use compile=False")
        span = checks.input_span(self.clip_values) or 1.0
        self.lam = default_lambda(float(self.eps), span) if lam is None else checks.non_negative(lam, "lam")
        self.alpha = checks.number(alpha_value, "alpha", low=0.0, high=float(self.eps), low_inclusive=False)

    def setup(self) -> None:
        super().setup()
        if self.dist.enabled:
            raise ValueError("distributed: gradalign's double backprop is not supported under DDP here")

    def train_step(self, batch: Any) -> dict[str, Tensor]:
        x, y = batch[0], batch[1]
        scale = self.step_scale
        with self.attack_mode():
            x_req = x.detach().requires_grad_(True)
            with self.autocast():
                loss_x = F.cross_entropy(self.attack_net(x_req).float(), y)
            (grad_x,) = torch.autograd.grad(loss_x, x_req)
            grad_x = grad_x.detach().float()
            x_adv = perturb.constrain(x, x + self.alpha * scale * grad_x.sign(), self.eps, "inf", self._clip).detach()
            eta = ((torch.rand_like(x) * 2 - 1) * self.eps).requires_grad_(True)
            with self.autocast():
                loss_noise = F.cross_entropy(self.net(x + eta).float(), y)
            (grad_noise,) = torch.autograd.grad(loss_noise, eta, create_graph=True)
        cos = F.cosine_similarity(grad_x.flatten(1), grad_noise.float().flatten(1), dim=1, eps=1e-12)
        alignment = self.lam * (1.0 - cos.mean())
        with self.autocast():
            logits = self.net(x_adv)
            loss = F.cross_entropy(logits.float(), y)
        self.optimizer_step(loss + alignment)
        return {"loss": loss.detach(), "alignment": alignment.detach(), "cos": cos.detach().mean(),
                "adv_acc": (logits.detach().argmax(1) == y).float().mean()}


def gradalign_trainer(classifier: Any, **params: Any) -> GradAlignTrainer:
    """Registry factory: ``art_ext.get_trainer("gradalign", classifier, **params)``."""
    return GradAlignTrainer(classifier, **params)
