"""FreeLB adversarial training for text classifiers, on the art-ext trainer core.

Paper: Zhu, Cheng, Gan, Sun, Goldstein and Liu, "FreeLB: Enhanced Adversarial Training for Natural
Language Understanding", ICLR 2020.

Per batch: start from a random perturbation ``delta`` on the real tokens' input embeddings
(uniform in [-1, 1], scaled to Frobenius size ``adv_init_mag / sqrt(n_real * D)`` per element, as in
the reference code); then K times: forward ``embed(ids) + delta``, backward ``CE / K`` (parameter
gradients **accumulate** over the K ascent steps), ascend ``delta += adv_lr * g / ||g||_F`` and clip
``||delta||_F <= adv_max_norm`` per sentence (0 = no bound); finally **one** optimizer step.
Special tokens and padding are never perturbed.

Defaults are the paper's SST-2 / RoBERTa values: ``adv_steps=2`` (K), ``adv_lr=0.1``,
``adv_init_mag=1.0``, ``adv_max_norm=0.6``, absolute units (``relative=False``). With
``relative=True`` the three magnitudes are multiplied by the model's embedding scale (mean L2
norm of a vocabulary embedding, measured when the trainer is built and checkpointed with the
run), for models whose embeddings are much smaller or larger than RoBERTa's.

Two options beyond the paper, both off by default:

* ``adv_swaps`` (default 0): after the first ascent step's backward pass, replace up to this many
  words per sentence (at most ``adv_swap_ratio`` = 20% of its real tokens) by their best
  first-order HotFlip substitutes, computed from the gradient FreeLB already has (no extra pass;
  see :mod:`art_ext_plugins.text.attacks.token_swaps`); the remaining K - 1 steps run on the swapped
  sentence plus the continuous perturbation. The paper's bound (0.6 over a whole sentence) is
  smaller than the distance between two word embeddings (0.8 to 1.6 for MiniLM), so
  continuous FreeLB alone never sees a word swap; this adds discrete adversarial examples
  (Ebrahimi et al. 2018 trained on HotFlip examples the same way) at FreeLB's cost. Stop words are
  protected, as in the attack.
* ``adv_warmup_steps`` (default 0): scale ``adv_init_mag``, ``adv_lr`` and ``adv_max_norm``
  linearly from 0 to their values over this many optimizer steps (a large bound from the first
  step keeps a fresh classification head from learning at all).

Example::

    trainer = FreeLBTrainer(classifier, adv_steps=2, nb_epochs=1, batch_size=32, lr=2e-5)
    trainer.fit(train_texts, train_labels)
    # or: art_ext.get_trainer("freelb", classifier, adv_steps=2)
"""

from __future__ import annotations

from typing import Any

import torch
from art_ext_plugins.text.attacks.constraints import ENGLISH_STOPWORDS
from art_ext_plugins.text.attacks.token_swaps import TokenSwapper
from art_ext_plugins.text.model.estimator import HuggingFaceTextClassifier
from art_ext_plugins.text.training.trainers import TextTrainer
from torch import Tensor, nn

from art_ext import checks
from art_ext.core.perturb import project

__all__ = ["FreeLBTrainer"]


class FreeLBTrainer(TextTrainer):
    """FreeLB (see the module docstring); keyword arguments of :class:`TextTrainer` also apply."""

    def __init__(self, estimator: HuggingFaceTextClassifier, *, adv_steps: int = 2, adv_lr: float = 0.1,
                 adv_init_mag: float = 1.0, adv_max_norm: float = 0.6, relative: bool = False,
                 adv_swaps: int = 0, adv_swap_ratio: float = 0.2, adv_warmup_steps: int = 0,
                 **kwargs: Any) -> None:
        self.adv_steps = adv_steps
        self.adv_lr = adv_lr
        self.adv_init_mag = adv_init_mag
        self.adv_max_norm = adv_max_norm
        self.relative = relative
        self.adv_swaps = adv_swaps
        self.adv_swap_ratio = adv_swap_ratio
        self.adv_warmup_steps = adv_warmup_steps
        super().__init__(estimator, **kwargs)
        checks.integer(adv_steps, "adv_steps", minimum=1)
        for name in ("adv_lr", "adv_init_mag", "adv_max_norm"):
            checks.non_negative(getattr(self, name), name)
        checks.boolean(relative, "relative")
        for name in ("adv_swaps", "adv_warmup_steps"):
            checks.integer(getattr(self, name), name, minimum=0)
        checks.number(adv_swap_ratio, "adv_swap_ratio", low=0.0, high=1.0, low_inclusive=False)
        if adv_swaps > 0 and adv_steps < 2:
            raise ValueError(f"adv_swaps needs adv_steps >= 2 (the swapped sentence is used from the second "
                             f"step on), got adv_steps={adv_steps!r}")
        self.swapper = (TokenSwapper(self.text_estimator, ENGLISH_STOPWORDS, adv_swap_ratio)
                        if adv_swaps > 0 else None)

    def _unit(self) -> float:
        """Units of the magnitudes: the embedding scale (``relative``) times the warm-up factor."""
        unit = self.scale.value if self.relative else 1.0
        if self.adv_warmup_steps > 0:
            unit *= min(1.0, (self.global_step + 1) / self.adv_warmup_steps)
        return unit

    def train_step(self, batch: Any) -> dict[str, Tensor]:
        ids, mask, y = batch
        unit = self._unit()
        real = self.text_estimator.real_token_mask(ids, mask).unsqueeze(-1)
        realf = real.float()
        hidden = self.text_estimator.hidden_size
        n_real = real.sum(dim=(1, 2)).clamp(min=1).float()
        with torch.no_grad():
            if self.adv_init_mag > 0:
                dims = n_real * hidden
                mag = self.adv_init_mag * unit / dims.sqrt()
                delta = (torch.rand((*ids.shape, hidden), device=ids.device) * 2 - 1) * realf * mag.view(-1, 1, 1)
            else:
                delta = torch.zeros((*ids.shape, hidden), device=ids.device)
        self.optimizer.zero_grad(set_to_none=True)
        total = torch.zeros((), device=ids.device)
        swaps = torch.zeros((), device=ids.device)
        for step in range(self.adv_steps):
            delta.requires_grad_(True)
            with self.autocast():
                emb = self.embed(ids)
                logits = self.logits(emb + delta.to(emb.dtype), mask)
                loss = nn.functional.cross_entropy(logits.float(), y) / self.adv_steps
            self.backward(loss)  # parameter gradients accumulate over the K steps
            total = total + loss.detach()
            if step == 0:
                first_acc = (logits.detach().argmax(1) == y).float().mean()
            if step == self.adv_steps - 1:
                break
            grad = delta.grad
            assert grad is not None
            if step == 0 and self.swapper is not None:
                ids, swaps = self.swapper.swap(ids, real.squeeze(-1), self.text_estimator.embedding_matrix, grad,
                                               self.adv_swaps)
            with torch.no_grad():
                grad = grad.float() * realf
                if self.scaler is not None and self.scaler.is_enabled():
                    grad = grad / self.scaler.get_scale()
                norm = grad.flatten(1).norm(dim=1).clamp(min=1e-8).view(-1, 1, 1)
                delta = (delta.detach() + self.adv_lr * unit * grad / norm) * realf
                if self.adv_max_norm > 0:  # Frobenius bound per sentence: the core's L2 projection
                    delta = project(delta.flatten(1), self.adv_max_norm * unit, "2").view_as(delta)
        self.step()
        last_acc = (logits.detach().argmax(1) == y).float().mean()
        metrics = {"loss": total, "acc": first_acc, "adv_acc": last_acc}
        if self.swapper is not None:
            metrics["swaps"] = swaps.float() / len(y)
        return metrics
