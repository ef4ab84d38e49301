"""Free adversarial training (Shafahi et al. 2019) on the art-ext core.

Paper: A. Shafahi, M. Najibi, A. Ghiasi, Z. Xu, J. Dickerson, C. Studer, L. Davis, G. Taylor,
T. Goldstein, "Adversarial Training for Free!", NeurIPS 2019. https://arxiv.org/abs/1904.12843

Each minibatch is replayed ``replays`` (m) times; every replay's single backward pass gives both
the weight gradient (one optimizer step) and the input gradient, which updates a perturbation
carried over to the next replay and the next minibatch (``delta += eps_step * sign(grad)``,
projected onto the Linf ball). One epoch therefore costs about ``m`` clean epochs; the paper
trains ``nb_epochs / m`` epochs to match a clean run's budget. Distance: Linf (or L2 with
normalised steps).

Args (defaults): ``eps=0.3``, ``replays=4``, ``eps_step=eps``, ``norm="inf"``, plus every
:class:`art_ext.core.AdversarialTrainer` option. The carried perturbation is checkpointed.

Example::

    trainer = art_ext.get_trainer("free", classifier, eps=0.3, replays=4)
    trainer.fit(x_train, y_train, nb_epochs=3)
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from art_ext import checks
from art_ext.core import perturb
from art_ext.core.adversarial import AdversarialTrainer


class _Delta:
    """The carried perturbation, as a checkpointable state."""

    def __init__(self) -> None:
        self.value: Tensor | None = None

    def state_dict(self) -> dict[str, Any]:
        return {"value": None if self.value is None else self.value.detach().cpu()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.value = state["value"]


class FreeAdversarialTrainer(AdversarialTrainer):
    """Free-AT with minibatch replays (see module docstring)."""

    def __init__(self, classifier: Any, *, replays: int = 4, eps: float = 0.3, eps_step: float | None = None,
                 **kwargs: Any) -> None:
        if "max_iter" in kwargs:
            raise TypeError(f"free: unexpected keyword argument 'max_iter' (Free-AT's steps per batch are its "
                            f"replays, {replays}; got max_iter={kwargs['max_iter']!r})")
        super().__init__(classifier, eps=eps, eps_step=eps if eps_step is None else eps_step, max_iter=1, **kwargs)
        self.replays = checks.integer(replays, "replays", minimum=1)
        self._delta = self.register_state("delta", _Delta())

    def train_step(self, batch: Any) -> dict[str, Tensor]:
        x, y = batch[0], batch[1]
        n = len(x)
        delta = self._delta.value
        if delta is None or delta.shape[1:] != x.shape[1:] or len(delta) < n:
            delta = torch.zeros((max(n, self.batch_size), *x.shape[1:]), device=x.device, dtype=x.dtype)
        delta = delta.to(x.device)
        d = delta[:n]
        loss = torch.zeros((), device=x.device)
        correct = torch.zeros((), device=x.device)
        for _ in range(self.replays):
            x_adv = perturb.clip(x + d, self._clip).requires_grad_(True)
            with self.autocast():
                logits = self.net(x_adv)
                loss = F.cross_entropy(logits.float(), y)
            self.optimizer.zero_grad(set_to_none=True)
            self.backward(loss)
            grad = x_adv.grad
            assert grad is not None
            d = perturb.project(d + self.eps_step * perturb.step_direction(grad.detach(), self.norm),
                                self.eps, self.norm)
            self.step()
            self.update_scaler()
            correct = (logits.detach().argmax(1) == y).float().mean()
        delta = delta.clone()
        delta[:n] = d.detach()
        self._delta.value = delta
        return {"loss": loss.detach(), "adv_acc": correct}


def free_trainer(classifier: Any, **params: Any) -> FreeAdversarialTrainer:
    """Registry factory: ``art_ext.get_trainer("free", classifier, **params)``."""
    return FreeAdversarialTrainer(classifier, **params)
