"""Text trainers on the art-ext trainer core (:class:`art_ext.core.CoreTrainer`).

Perturbations live on the input **embeddings** (never on integer token ids), only on real tokens
(special tokens and padding are masked out). Everything else (device and precision policy,
checkpoints and resume, DDP, metrics log, SIGINT handling) is the core's.

* :class:`TextTrainer` (``text-standard``): clean fine-tuning, the baseline of the benchmarks.
* :class:`EmbeddingFGMTrainer` (``text-fgm``): Miyato, Dai and Goodfellow, "Adversarial Training
  Methods for Semi-Supervised Text Classification", ICLR 2017: loss = CE(clean) +
  ``adv_weight`` * CE(embeddings + eps * g / ||g||), ``g`` the clean-loss gradient, L2 per sequence.
* :class:`EmbeddingPGDTrainer` (``text-embedding-pgd``): Madry-style PGD-K on embeddings (eval-mode
  inner maximisation), loss = (1 - ``clean_weight``) CE(adv) + ``clean_weight`` CE(clean).
* :class:`~art_ext_plugins.text.training.freelb.FreeLBTrainer` (``freelb``) in :mod:`.freelb`.

Data: ``fit(x, y)`` takes strings (tokenized with the estimator's tokenizer, truncated to its
``max_length`` with a warning) or token ids ``(N, L)``; batches are ``(ids, attention_mask, y)``
tensors and are trimmed to their longest sequence on the device.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
from art_ext_plugins.text.model.embedding import (
    budget,
    embedding_pgd_delta,
    normalized_step,
    project,
)
from art_ext_plugins.text.model.estimator import HuggingFaceTextClassifier
from torch import Tensor, nn

from art_ext import checks
from art_ext.core.device import fused_optimizer
from art_ext.core.trainer import CoreTrainer

logger = logging.getLogger(__name__)

__all__ = ["EmbeddingFGMTrainer", "EmbeddingPGDTrainer", "EmbeddingScale", "TextTrainer"]


class EmbeddingScale:
    """The unit of relative perturbation sizes: the mean vocabulary-embedding norm of the model
    when the trainer was built. Fixed for the whole run (training moves the embeddings) and
    checkpointed, so a resumed run measures in the same unit as the original one."""

    def __init__(self, value: float) -> None:
        self.value = float(value)

    def state_dict(self) -> dict[str, float]:
        return {"value": self.value}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.value = float(state["value"])


def _trim(ids: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    used = mask.any(dim=0).nonzero()
    length = int(used.max()) + 1 if len(used) else 1
    return ids[:, :length], mask[:, :length]


class TextTrainer(CoreTrainer):
    """Clean fine-tuning of a :class:`HuggingFaceTextClassifier` on the core (the baseline).

    :param estimator: the text classifier (trained in place).
    :param lr: learning rate of the default AdamW optimizer (torch's fused kernel where the
        parameters allow it, see :func:`art_ext.core.device.fused_optimizer`); default 2e-5. An
        ``optimizer`` (yours or the estimator's) sets its own: passing ``lr`` too is an error, never
        a learning rate recorded but not used.
    :param weight_decay: AdamW weight decay (default 0.01; the same rule).
    Other keyword arguments go to :class:`~art_ext.core.CoreTrainer` (``nb_epochs``,
    ``batch_size``, ``device``, ``precision``, ``checkpoint_dir``, ``seed``, ...).
    """

    best_metric = "clean_acc"

    def __init__(self, estimator: HuggingFaceTextClassifier, *, lr: float | None = None,
                 weight_decay: float | None = None, optimizer: torch.optim.Optimizer | None = None,
                 batch_size: int = 32, nb_epochs: int = 1, **kwargs: Any) -> None:
        given = optimizer if optimizer is not None else getattr(estimator, "optimizer", None)
        if given is not None:
            for name, value in (("lr", lr), ("weight_decay", weight_decay)):
                if value is not None:
                    raise ValueError(
                        f"{name}={value!r}: the optimizer ({type(given).__name__}, {name}="
                        f"{given.param_groups[0].get(name)!r}) sets it; pass {name} or an optimizer, not both"
                    )
        elif isinstance(estimator, HuggingFaceTextClassifier):
            params = list(estimator.model.parameters())
            optimizer = torch.optim.AdamW(params, lr=2e-5 if lr is None else checks.positive(lr, "lr"),
                                          weight_decay=0.01 if weight_decay is None else
                                          checks.non_negative(weight_decay, "weight_decay"),
                                          fused=fused_optimizer(params))
            given = optimizer
        self.lr = float(given.param_groups[0]["lr"]) if given is not None else lr  # the one it trains at
        super().__init__(estimator, optimizer=optimizer, batch_size=batch_size, nb_epochs=nb_epochs, **kwargs)
        estimator.reset_embedding_scale()
        self.scale = self.register_state("embedding_scale", EmbeddingScale(estimator.embedding_scale))

    def check_estimator(self, estimator: Any) -> None:
        if not isinstance(estimator, HuggingFaceTextClassifier):
            raise TypeError(
                f"estimator must be an art_ext_plugins.text.HuggingFaceTextClassifier, got {type(estimator).__name__}"
            )

    @property
    def text_estimator(self) -> HuggingFaceTextClassifier:
        return self._classifier  # type: ignore[no-any-return]

    def check_data(self, x: Any, y: Any) -> tuple[Tensor, ...]:
        """Strings or token ids -> ``(ids, attention_mask, labels)`` host tensors."""
        clf = self.text_estimator
        ids, mask = clf.to_ids(x)
        labels = clf.check_labels(y, len(ids))
        return torch.as_tensor(ids), torch.as_tensor(mask), torch.as_tensor(labels)

    def check_batch(self, batch: Any) -> Any:
        """A ``DataLoader`` / ``DataGenerator`` batch ``(ids, attention_mask, labels)``: token ids in
        the vocabulary, mask of the same shape, labels checked like ``fit``'s."""
        if not isinstance(batch, (tuple, list)) or len(batch) != 3:
            raise ValueError("batch: text trainers take (token ids, attention mask, labels) batches, got "
                             f"{type(batch).__name__}{'' if not isinstance(batch, (tuple, list)) else f' of {len(batch)}'}")
        ids, mask, y = batch
        clf = self.text_estimator
        ids_np, mask_np = clf.to_ids(np.asarray(ids), np.asarray(mask))
        labels = clf.check_labels(np.asarray(y), len(ids_np), name="batch labels")
        return torch.as_tensor(ids_np), torch.as_tensor(mask_np), torch.as_tensor(labels)

    def prepare_batch(self, batch: Any) -> Any:
        ids, mask, y = super().prepare_batch(batch)
        ids, mask = _trim(ids, mask)
        return ids, mask, y

    def logits(self, embeddings: Tensor, mask: Tensor, net: Any = None) -> Tensor:
        out = (net or self.net)(inputs_embeds=embeddings, attention_mask=mask)
        logits = out.logits if hasattr(out, "logits") else out[0] if isinstance(out, (tuple, list)) else out
        return logits  # type: ignore[no-any-return]

    def embed(self, ids: Tensor) -> Tensor:
        return self.text_estimator.embedding_layer(ids)  # type: ignore[no-any-return]

    def train_step(self, batch: Any) -> dict[str, Tensor]:
        ids, mask, y = batch
        with self.autocast():
            logits = self.logits(self.embed(ids), mask)
            loss = nn.functional.cross_entropy(logits.float(), y)
        self.optimizer_step(loss)
        return {"loss": loss.detach(), "acc": (logits.detach().argmax(1) == y).float().mean()}

    def evaluate(self, source: Any) -> dict[str, float]:
        """Clean accuracy of validation batches, in float32 (autocast off) and eval mode."""
        correct = torch.zeros((), device=self.device)
        total = torch.zeros((), device=self.device)
        with torch.no_grad(), self.eval_mode(), torch.autocast(device_type=self.device.type, enabled=False):
            for ids, mask, y in self.iter_batches(source):
                correct += (self.logits(self.embed(ids), mask, self.attack_net).argmax(1) == y).sum()
                total += len(y)
        self.all_reduce_sum(correct)
        self.all_reduce_sum(total)
        return {"clean_acc": float(correct / total.clamp_min(1))}

    def train(self, data: Any, nb_epochs: int | None = None, validation_data: Any = None) -> list[dict[str, Any]]:
        try:
            return super().train(data, nb_epochs=nb_epochs, validation_data=validation_data)
        finally:
            self.text_estimator.reset_embedding_scale()  # the embeddings were trained


class _PerturbingTrainer(TextTrainer):
    """Common parameters of the embedding-perturbation trainers."""

    def __init__(self, estimator: HuggingFaceTextClassifier, *, eps: float = 1.0, norm: str = "2",
                 per: str = "sequence", relative: bool = True, **kwargs: Any) -> None:
        self.eps = checks.positive(eps, "eps")
        self.norm = checks.parse_norm(norm)
        self.per = checks.choice(per, "per", ("token", "sequence"))
        self.relative = checks.boolean(relative, "relative")
        super().__init__(estimator, **kwargs)

    def _abs(self, value: float) -> float:
        clf = self.text_estimator
        return budget(value, self.scale.value, self.norm, clf.hidden_size, self.relative)  # type: ignore[arg-type]

    def real(self, ids: Tensor, mask: Tensor) -> Tensor:
        return self.text_estimator.real_token_mask(ids, mask)


class EmbeddingFGMTrainer(_PerturbingTrainer):
    """Miyato et al. (2017) adversarial training: one normalised gradient step on the embeddings.

    :param eps: perturbation size, relative to the embedding scale (see
        :mod:`art_ext_plugins.text.model.embedding`); default 1.0 with L2 per sequence (every real
        token moves by one typical embedding norm on average).
    :param adv_weight: weight of the adversarial loss added to the clean loss (default 1.0).
    """

    def __init__(self, estimator: HuggingFaceTextClassifier, *, eps: float = 1.0, adv_weight: float = 1.0,
                 norm: str = "2", per: str = "sequence", relative: bool = True, **kwargs: Any) -> None:
        self.adv_weight = checks.non_negative(adv_weight, "adv_weight")
        super().__init__(estimator, eps=eps, norm=norm, per=per, relative=relative, **kwargs)

    def train_step(self, batch: Any) -> dict[str, Tensor]:
        ids, mask, y = batch
        real = self.real(ids, mask)
        eps_abs = self._abs(self.eps)
        self.optimizer.zero_grad(set_to_none=True)
        with self.autocast():
            emb = self.embed(ids)
            emb.retain_grad()
            clean_logits = self.logits(emb, mask)
            clean_loss = nn.functional.cross_entropy(clean_logits.float(), y)
        self.backward(clean_loss)  # parameter gradients of the clean loss, and emb.grad
        grad = emb.grad
        assert grad is not None
        with torch.no_grad():
            delta = project(eps_abs * normalized_step(grad.float(), real, self.norm, self.per), real, eps_abs,  # type: ignore[arg-type]
                            self.norm, self.per)  # type: ignore[arg-type]
        with self.autocast():
            adv_emb = self.embed(ids) + delta.to(emb.dtype)
            adv_logits = self.logits(adv_emb, mask)
            adv_loss = nn.functional.cross_entropy(adv_logits.float(), y)
        self.backward(self.adv_weight * adv_loss)  # accumulated onto the clean gradients
        self.step()
        return {"loss": (clean_loss + self.adv_weight * adv_loss).detach(), "adv_loss": adv_loss.detach(),
                "acc": (clean_logits.detach().argmax(1) == y).float().mean(),
                "adv_acc": (adv_logits.detach().argmax(1) == y).float().mean()}


class EmbeddingPGDTrainer(_PerturbingTrainer):
    """PGD-K adversarial training on the embeddings (Madry et al. 2018 applied to text).

    :param eps: budget relative to the embedding scale (default 1.0, L2 per sequence).
    :param eps_step: step size in the same units (default ``2.5 * eps / max_iter``).
    :param max_iter: PGD steps K (default 3).
    :param clean_weight: weight of the clean loss (default 0.5; 0 = adversarial loss only).
    """

    def __init__(self, estimator: HuggingFaceTextClassifier, *, eps: float = 1.0, eps_step: float | None = None,
                 max_iter: int = 3, clean_weight: float = 0.5, norm: str = "2", per: str = "sequence",
                 relative: bool = True, **kwargs: Any) -> None:
        self.max_iter = checks.integer(max_iter, "max_iter", minimum=1)
        self.eps_step = checks.positive(eps_step if eps_step is not None else 2.5 * checks.positive(eps, "eps") / max_iter,
                                        "eps_step")
        self.clean_weight = checks.number(clean_weight, "clean_weight", low=0.0, high=1.0)
        super().__init__(estimator, eps=eps, norm=norm, per=per, relative=relative, **kwargs)

    def train_step(self, batch: Any) -> dict[str, Tensor]:
        ids, mask, y = batch
        real = self.real(ids, mask)
        with torch.no_grad():
            emb0 = self.embed(ids)
        with self.eval_mode(), self.autocast():
            delta = embedding_pgd_delta(
                self.text_estimator, emb0, mask, real, y, self._abs(self.eps), self._abs(self.eps_step),
                self.max_iter, self.norm, self.per, random_init=True,  # type: ignore[arg-type]
            )
        with self.autocast():
            emb = self.embed(ids)
            adv_logits = self.logits(emb + delta.to(emb.dtype), mask)
            loss = (1 - self.clean_weight) * nn.functional.cross_entropy(adv_logits.float(), y)
            if self.clean_weight > 0:
                clean_logits = self.logits(emb, mask)
                loss = loss + self.clean_weight * nn.functional.cross_entropy(clean_logits.float(), y)
        self.optimizer_step(loss)
        return {"loss": loss.detach(), "adv_acc": (adv_logits.detach().argmax(1) == y).float().mean()}
