"""Foolbox in embedding space: a ``PyTorchModel`` over input embeddings, and native Foolbox attacks.

Foolbox attacks continuous inputs; a text classifier's continuous input is its word-embedding
sequence. :func:`embedding_foolbox_model` encodes a batch of sentences (or token ids), and returns a
:class:`EmbeddingFoolboxModel` (a real ``foolbox.PyTorchModel``) together with the clean
embeddings ``(N, L, D)`` to attack. Foolbox's own ``LinfPGD``, ``L2PGD``,
``L2CarliniWagnerAttack`` ... then run unchanged::

    fmodel, emb, labels = embedding_foolbox_model(classifier, texts, labels)
    raw, clipped, success = fb.attacks.L2PGD()(fmodel, emb, labels, epsilons=[0.5, 1.0])

The model is bound to that batch (its attention mask): call it on embeddings of the same shape.
Changes at padding and special-token positions have **no effect**: the wrapped forward replaces
them by the clean embeddings, so Foolbox's gradients there are zero. Bounds are the embedding
matrix's min/max widened by ``bounds_margin`` times its range on each side (wide enough that
Foolbox's clipping does not bind in practice); out-of-bounds input raises ``ValueError`` before
Foolbox's bare ``AssertionError``. Epsilons are **absolute** (Foolbox semantics: L2 = Frobenius
norm of the whole sentence's perturbation; Linf per coordinate); ``classifier.embedding_scale``
is the typical norm of one token embedding, for converting relative budgets.

:class:`FoolboxEmbeddingPGD` and :class:`FoolboxEmbeddingFGM` are native Foolbox
``FixedEpsilonAttack`` versions of :mod:`.embedding_pgd` / :mod:`.embedding_fgm` that perturb
only real tokens (exact zeros elsewhere); they need an :class:`EmbeddingFoolboxModel`.
"""

from __future__ import annotations

from typing import Any

import eagerpy as ep
import foolbox as fb
import numpy as np
import torch
from art_ext_plugins.text.model.estimator import HuggingFaceTextClassifier
from foolbox.attacks.base import (
    FixedEpsilonAttack,
    get_criterion,
    raise_if_kwargs,
    verify_input_bounds,
)
from foolbox.criteria import TargetedMisclassification
from torch import nn

from art_ext import checks
from art_ext.core.perturb import project, random_init, step_direction

__all__ = ["EmbeddingFoolboxModel", "EmbeddingSpaceModule", "FoolboxEmbeddingFGM", "FoolboxEmbeddingPGD",
           "embedding_foolbox_model"]


class EmbeddingSpaceModule(nn.Module):
    """Logits of input embeddings for one fixed batch (attention mask and real-token mask bound)."""

    clean: torch.Tensor
    attention_mask: torch.Tensor
    real: torch.Tensor
    model: nn.Module

    def __init__(self, classifier: HuggingFaceTextClassifier, clean: torch.Tensor, attention_mask: torch.Tensor,
                 real: torch.Tensor) -> None:
        super().__init__()
        self.classifier = classifier
        self.model = classifier.model  # registered, so .eval()/.training follow the HF model
        self.register_buffer("clean", clean.detach())
        self.register_buffer("attention_mask", attention_mask)
        self.register_buffer("real", real)

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        if embeddings.shape != self.clean.shape:
            raise ValueError(
                f"embeddings: this model is bound to a batch of shape {tuple(self.clean.shape)}, got "
                f"{tuple(embeddings.shape)}; build a new one with embedding_foolbox_model for other sentences"
            )
        keep = self.real.unsqueeze(-1).to(embeddings.dtype)
        effective = self.clean + keep * (embeddings - self.clean)
        return self.classifier.logits_from_embeddings(effective, self.attention_mask)


class EmbeddingFoolboxModel(fb.PyTorchModel):
    """A ``foolbox.PyTorchModel`` over the embeddings of one batch of sentences."""

    def __init__(self, module: EmbeddingSpaceModule, bounds: tuple[float, float], device: Any = None) -> None:
        super().__init__(module.eval(), bounds=bounds, device=device)
        self.module = module

    @property
    def real(self) -> torch.Tensor:
        return self.module.real

    def __call__(self, inputs: Any) -> Any:
        raw = inputs.raw if isinstance(inputs, ep.Tensor) else inputs
        if isinstance(raw, torch.Tensor):
            lo, hi = self.bounds
            if raw.numel() and (float(raw.min()) < lo or float(raw.max()) > hi):
                raise ValueError(f"embeddings outside the model's bounds {self.bounds}")
        return super().__call__(inputs)


def embedding_foolbox_model(
    classifier: HuggingFaceTextClassifier,
    x: Any,
    y: Any = None,
    attention_mask: np.ndarray | None = None,
    bounds_margin: float = 1.0,
) -> tuple[EmbeddingFoolboxModel, torch.Tensor, torch.Tensor]:
    """``(fmodel, clean_embeddings, labels)`` for strings or token ids ``x`` (labels default to predictions)."""
    if not isinstance(classifier, HuggingFaceTextClassifier):
        raise TypeError(f"classifier must be a HuggingFaceTextClassifier, got {type(classifier).__name__}")
    if bounds_margin < 0:
        raise ValueError(f"bounds_margin must be >= 0, got {bounds_margin!r}")
    ids, mask = classifier.to_ids(x, attention_mask)
    dev = classifier.device
    ids_t = torch.as_tensor(ids, device=dev)
    mask_t = torch.as_tensor(mask, device=dev)
    with torch.no_grad():
        clean = classifier.embed(ids_t).detach()
    real = classifier.real_token_mask(ids_t, mask_t)
    matrix = classifier.embedding_matrix
    lo, hi = float(matrix.min()), float(matrix.max())
    span = hi - lo
    bounds = (lo - bounds_margin * span, hi + bounds_margin * span)
    module = EmbeddingSpaceModule(classifier, clean, mask_t, real)
    fmodel = EmbeddingFoolboxModel(module, bounds=bounds, device=dev)
    if y is None:
        labels = torch.as_tensor(classifier.predict(ids, attention_mask=mask).argmax(1), device=dev)
    else:
        labels = torch.as_tensor(classifier.check_labels(y, len(ids)), device=dev)
    return fmodel, clean, labels


class _EmbeddingFoolboxAttack(FixedEpsilonAttack):
    """PGD/FGM on an :class:`EmbeddingFoolboxModel`, perturbing real tokens only."""

    def __init__(self, norm: str | float = "2", steps: int = 10, rel_stepsize: float = 0.25,
                 random_start: bool = True) -> None:
        self.norm = checks.parse_norm(norm)
        self.steps = checks.integer(steps, "steps", minimum=1)
        self.rel_stepsize = checks.positive(rel_stepsize, "rel_stepsize")
        self.random_start = checks.boolean(random_start, "random_start")

    @property
    def distance(self) -> fb.distances.Distance:
        return fb.distances.linf if self.norm == "inf" else fb.distances.l2

    def _clip(self, delta: torch.Tensor, real: torch.Tensor, epsilon: float) -> torch.Tensor:
        """Real tokens only, then the core's projection onto the sentence's ball (Foolbox's L2 is
        the Frobenius norm of the whole input; Linf per coordinate)."""
        delta = delta * real.unsqueeze(-1).to(delta.dtype)
        return project(delta.flatten(1), epsilon, self.norm).view_as(delta)  # type: ignore[arg-type]

    def run(self, model: fb.Model, inputs: Any, criterion: Any, *, early_stop: float | None = None,
            epsilon: float, **kwargs: Any) -> Any:
        raise_if_kwargs(kwargs)
        if not isinstance(model, EmbeddingFoolboxModel):
            raise TypeError(f"model must be an EmbeddingFoolboxModel (see embedding_foolbox_model), got {type(model).__name__}")
        x0, restore_type = ep.astensor_(inputs)
        criterion_ = get_criterion(criterion)
        del inputs, criterion, kwargs
        verify_input_bounds(x0, model)
        targeted = isinstance(criterion_, TargetedMisclassification)
        labels = (getattr(criterion_, "target_classes") if targeted else getattr(criterion_, "labels")).raw  # noqa: B009
        module = model.module
        real = module.real
        clf = module.classifier
        x = x0.raw.detach()
        delta = torch.zeros_like(x)
        if self.random_start:  # the core's uniform start in the sentence's ball
            delta = self._clip(random_init(x.flatten(1), epsilon, self.norm).view_as(x), real, epsilon)  # type: ignore[arg-type]
        step = self.rel_stepsize * epsilon
        with clf.eval_mode():
            for _ in range(self.steps):
                delta.requires_grad_(True)
                loss = nn.functional.cross_entropy(module(x + delta).float(), labels, reduction="sum")
                (grad,) = torch.autograd.grad(-loss if targeted else loss, delta)
                with torch.no_grad():  # unit-size step over the sentence (sign for Linf)
                    masked = grad * real.unsqueeze(-1).to(grad.dtype)
                    direction = step_direction(masked.flatten(1), self.norm).view_as(grad)  # type: ignore[arg-type]
                    delta = self._clip(delta.detach() + step * direction, real, epsilon)
        lo, hi = model.bounds
        return restore_type(ep.astensor((x + delta).clamp(lo, hi)))


class FoolboxEmbeddingPGD(_EmbeddingFoolboxAttack):
    """Foolbox PGD on real-token embeddings (L2: Frobenius per sentence; Linf per coordinate).

    Arguments (defaults): ``norm="2"``, ``steps=10``, ``rel_stepsize=0.25`` (step = 0.25 * epsilon),
    ``random_start=True``. Madry et al. 2018 / Miyato et al. 2017.
    """


class FoolboxEmbeddingFGM(_EmbeddingFoolboxAttack):
    """Foolbox FGM on real-token embeddings: one step of size epsilon (Miyato et al. 2017)."""

    def __init__(self, norm: str | float = "2") -> None:
        super().__init__(norm=norm, steps=1, rel_stepsize=1.0, random_start=False)
