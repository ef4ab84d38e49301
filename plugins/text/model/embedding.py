"""Torch primitives for perturbations in embedding space, shared by the embedding attacks, their
Foolbox classes and the text trainers.

**Budgets relative to the embedding scale.** With ``relative=True`` (the default of the attacks),
``eps`` is measured in units of ``s`` = the mean L2 norm of the model's (non-special) vocabulary
embeddings (:attr:`HuggingFaceTextClassifier.embedding_scale`):

* ``norm="2", per="token"``: every real token's perturbation has ``||delta_i||_2 <= eps * s``;
* ``norm="2", per="sequence"``: the whole sentence's perturbation has
  ``||delta||_F <= eps * s * sqrt(n)``, ``n`` = its number of real tokens (the same average
  per-token budget, freely redistributed between tokens);
* ``norm="inf"``: every coordinate ``|delta_ij| <= eps * s / sqrt(D)`` (``D`` = hidden size; a
  typical embedding's RMS coordinate times ``eps``); ``per`` does not matter for Linf.

So ``eps = 0.5`` with L2 per token lets each token move half the length of a typical embedding.
With ``relative=False`` the same formulas apply with ``s = 1`` (absolute units).

Only *real* tokens (attended and not special: never ``[CLS]``/``[SEP]``/``<s>``/padding) are
perturbed: every delta is multiplied by that mask. Norm names are parsed by
:func:`art_ext.checks.parse_norm`; the projection is the core's (:func:`project`). Perturbations
and their projection stay float32 under any autocast policy (only the network runs in bf16).
"""

from __future__ import annotations

import math
from typing import Literal, Protocol

import torch

from art_ext.core.perturb import project as project_ball
from art_ext.core.perturb import step_direction

Norm = Literal["inf", "2"]
Per = Literal["token", "sequence"]


class EmbeddingClassifier(Protocol):
    """What embedding-space PGD needs of a classifier (``HuggingFaceTextClassifier`` has it)."""

    def logits_from_embeddings(self, embeddings: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor: ...


def budget(eps: float, scale: float, norm: Norm, hidden: int, relative: bool = True) -> float:
    """Absolute per-token (L2) or per-coordinate (Linf) budget for a relative ``eps``."""
    unit = scale if relative else 1.0
    return eps * unit / math.sqrt(hidden) if norm == "inf" else eps * unit


def project(delta: torch.Tensor, real: torch.Tensor, eps_abs: float, norm: Norm, per: Per) -> torch.Tensor:
    """Mask ``delta`` (B, L, D) to the real tokens (``real``: B x L bool), then project it onto the
    budget with the core's one projection (:func:`art_ext.core.perturb.project`): per token, the
    rows of the (B*L, D) view; per sequence, the (B, L*D) view with radius ``eps * sqrt(n_real)``;
    Linf per coordinate. Computed in float32 whatever ``delta``'s dtype."""
    mask = real.unsqueeze(-1).to(torch.float32)
    delta32 = delta.float() * mask
    if norm == "inf":
        out = project_ball(delta32, eps_abs, "inf")
    elif per == "token":
        out = project_ball(delta32.reshape(-1, delta32.shape[-1]), eps_abs, "2").view_as(delta32)
    else:
        n_real = real.sum(dim=1).clamp(min=1).to(torch.float32)
        out = project_ball(delta32.flatten(1), eps_abs * n_real.sqrt(), "2").view_as(delta32)
    return out.to(delta.dtype)


def normalized_step(grad: torch.Tensor, real: torch.Tensor, norm: Norm, per: Per) -> torch.Tensor:
    """Steepest-ascent direction of unit size on the real tokens, with the core's
    :func:`art_ext.core.perturb.step_direction`: sign (Linf), unit rows (L2 per token), or
    Frobenius norm ``sqrt(n_real)`` over the sentence (L2 per sequence: unit average per token)."""
    grad = grad * real.unsqueeze(-1).to(grad.dtype)
    if norm == "inf":
        return step_direction(grad, "inf")
    if per == "token":
        return step_direction(grad.reshape(-1, grad.shape[-1]), "2").view_as(grad)
    n_real = real.sum(dim=1).clamp(min=1).to(grad.dtype)
    return step_direction(grad.flatten(1), "2").view_as(grad) * n_real.sqrt().view(-1, 1, 1)


def random_start(shape: torch.Size, real: torch.Tensor, eps_abs: float, norm: Norm, per: Per,
                 generator: torch.Generator | None = None, device: torch.device | None = None,
                 dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Uniform in the Linf box, or a random direction with uniform radius in the L2 ball."""
    noise = torch.rand(shape, generator=generator, dtype=dtype).to(device) * 2 - 1
    if norm == "inf":
        return project(noise * eps_abs, real, eps_abs, norm, per)
    direction = normalized_step(noise, real, "2", per)  # unit per-token / sqrt(n) per-sequence
    radius = torch.rand((*shape[:1], 1, 1), generator=generator, dtype=dtype).to(device)
    return project(direction * eps_abs * radius, real, eps_abs, norm, per)


def nearest_tokens(embeddings: torch.Tensor, matrix: torch.Tensor, banned: torch.Tensor,
                   chunk: int = 4096) -> torch.Tensor:
    """Index of the nearest (L2) vocabulary row for each vector in ``embeddings`` (..., D).

    ``banned`` holds token ids never returned (special tokens).
    """
    flat = embeddings.reshape(-1, embeddings.shape[-1]).to(matrix.dtype)
    sq = (matrix * matrix).sum(dim=1)
    penalty = torch.zeros_like(sq)
    penalty[banned[banned < len(sq)]] = float("inf")
    out = []
    for start in range(0, len(flat), chunk):
        part = flat[start : start + chunk]
        dist = sq[None, :] - 2 * part @ matrix.T + penalty[None, :]
        out.append(dist.argmin(dim=1))
    return torch.cat(out).reshape(embeddings.shape[:-1]) if out else torch.zeros(embeddings.shape[:-1], dtype=torch.long)


def embedding_pgd_delta(
    classifier: EmbeddingClassifier,
    embeddings: torch.Tensor,
    attention_mask: torch.Tensor,
    real: torch.Tensor,
    labels: torch.Tensor,
    eps_abs: float,
    step_abs: float,
    max_iter: int,
    norm: Norm,
    per: Per,
    random_init: bool,
    targeted: bool = False,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """PGD on embeddings (model in eval mode, gradients w.r.t. the perturbation only)."""
    embeddings = embeddings.detach()
    if random_init:
        delta = random_start(embeddings.shape, real, eps_abs, norm, per, generator, embeddings.device, embeddings.dtype)
    else:
        delta = torch.zeros_like(embeddings)
    loss_fn = torch.nn.functional.cross_entropy
    sign = -1.0 if targeted else 1.0
    for _ in range(max_iter):
        delta.requires_grad_(True)
        logits = classifier.logits_from_embeddings(embeddings + delta, attention_mask)
        loss = loss_fn(logits.float(), labels, reduction="sum")
        (grad,) = torch.autograd.grad(loss, delta)
        with torch.no_grad():
            delta = delta.detach() + sign * step_abs * normalized_step(grad, real, norm, per)
            delta = project(delta, real, eps_abs, norm, per)
    return delta.detach()
