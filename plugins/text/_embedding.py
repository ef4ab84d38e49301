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
perturbed: every delta is multiplied by that mask.
"""

from __future__ import annotations

import math
from typing import Literal

import torch

Norm = Literal["inf", "2"]
Per = Literal["token", "sequence"]
_TINY = 1e-12


def parse_norm(norm: object) -> Norm:
    """Accept ``"inf"``, ``np.inf``, ``2``, ``"2"``, ``"l2"``, ``"linf"``."""
    text = str(norm).lower().lstrip("l")
    if text in ("inf", "infinity"):
        return "inf"
    if text in ("2", "2.0"):
        return "2"
    raise ValueError(f"norm must be 'inf' or '2', got {norm!r}")


def budget(eps: float, scale: float, norm: Norm, hidden: int, relative: bool = True) -> float:
    """Absolute per-token (L2) or per-coordinate (Linf) budget for a relative ``eps``."""
    unit = scale if relative else 1.0
    return eps * unit / math.sqrt(hidden) if norm == "inf" else eps * unit


def project(delta: torch.Tensor, real: torch.Tensor, eps_abs: float, norm: Norm, per: Per) -> torch.Tensor:
    """Project ``delta`` (B, L, D) into the budget and zero non-real tokens (``real``: B x L bool)."""
    mask = real.unsqueeze(-1).to(delta.dtype)
    delta = delta * mask
    if norm == "inf":
        return delta.clamp(-eps_abs, eps_abs)
    if per == "token":
        norms = delta.norm(dim=-1, keepdim=True)
        return delta * torch.clamp(eps_abs / (norms + _TINY), max=1.0)
    n_real = real.sum(dim=1).clamp(min=1).to(delta.dtype)
    bound = (eps_abs * n_real.sqrt()).view(-1, 1, 1)
    norms = delta.flatten(1).norm(dim=1).view(-1, 1, 1)
    return delta * torch.clamp(bound / (norms + _TINY), max=1.0)


def normalized_step(grad: torch.Tensor, real: torch.Tensor, norm: Norm, per: Per) -> torch.Tensor:
    """Steepest-ascent direction of unit size: sign (Linf), per-token or per-sequence L2 unit."""
    mask = real.unsqueeze(-1).to(grad.dtype)
    grad = grad * mask
    if norm == "inf":
        return grad.sign()
    if per == "token":
        return grad / (grad.norm(dim=-1, keepdim=True) + _TINY)
    n_real = real.sum(dim=1).clamp(min=1).to(grad.dtype)
    # unit average per-token norm: ||step||_F = sqrt(n)
    return grad * (n_real.sqrt().view(-1, 1, 1) / (grad.flatten(1).norm(dim=1).view(-1, 1, 1) + _TINY))


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
