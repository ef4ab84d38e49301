"""Square Attack, torch-native: Andriushchenko, Croce, Flammarion & Hein, "Square Attack: a
query-efficient black-box adversarial attack via random search", ECCV 2020 (arXiv:1912.00049).

Distance: ``norm="inf"`` or ``"2"``; every candidate stays inside the ``eps``-ball and
``clip_values``. Black-box: only the model's outputs are used (no gradient), one query per
candidate; images ``(N, C, H, W)`` only (the squares are spatial).

Random search on the margin loss ``z_y - max_{i != y} z_i`` (minimised; negative = fooled). Each
iteration proposes, for every example not yet fooled, a change on one random square window of side
``s = round(sqrt(p * H * W))`` and keeps it if the loss drops. ``p`` follows the paper's schedule,
rescaled to the query budget as AutoAttack does: ``p_init`` (0.8) halved after 10, 50, 200, 500,
1000, 2000, 4000, 6000 and 8000 of 10,000 rescaled iterations.

* Linf: start from vertical stripes ``+-eps``; a proposal sets the window of every channel to
  ``+-2 eps`` (one sign per channel), projected back onto the ball: the vertices of the box.
* L2: start from a grid of the paper's "meta-squares" ``eta`` with random signs, scaled to norm
  ``eps``; a proposal moves the mass of a second window into the first, with a new ``eta`` pattern,
  keeping the total norm at ``eps`` (paper, Alg. 3).

As in the AutoAttack implementation, one window position is drawn per iteration for the whole
batch (and the Linf window is drawn per example only in the paper); the caller attacks only the
examples still robust, and the loop stops when all are fooled.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from art_ext import checks
from art_ext.core.perturb import (
    ClipValues,
    Norm,
    clip,
    constrain,
    margin_loss,
    normalize_norm,
    perturbation_size,
)

__all__ = ["p_schedule", "square"]

_TINY = 1e-12
_HALVINGS = (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)


def p_schedule(iteration: int, queries: int, p_init: float = 0.8) -> float:
    """The share of the image a window covers at ``iteration`` of a ``queries`` budget."""
    rescaled = int(iteration / queries * 10_000)
    return p_init / 2 ** sum(rescaled > mark for mark in _HALVINGS)


def _margin(model: Callable[[Tensor], Tensor], x: Tensor, y: Tensor) -> Tensor:
    """``z_y - max_{i != y} z_i``: negative when fooled (the opposite sign of ``margin_loss``)."""
    with torch.no_grad():
        return -margin_loss(model(x).float(), y)


def _signs(shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device) -> Tensor:
    return torch.randint(0, 2, shape, generator=generator, device=device).float() * 2 - 1


def _window(generator: torch.Generator | None, limit: int, device: torch.device) -> int:
    return int(torch.randint(0, max(limit, 0) + 1, (1,), generator=generator, device=device).item())


def _eta(s: int, generator: torch.Generator | None, device: torch.device) -> Tensor:
    """The paper's meta-square of side ``s``: two halves of nested rectangles of opposite sign
    whose weights fall as ``1 / (r + 1)^2``, unit L2 norm, transposed with probability 1/2."""
    def rectangles(height: int, width: int) -> Tensor:
        delta = torch.zeros(height, width, device=device)
        top, left = height // 2, width // 2
        for r in range(max(top + 1, left + 1)):
            delta[max(top - r, 0):min(top + r + 1, height), max(left - r, 0):min(left + r + 1, width)] += 1.0 / (r + 1) ** 2
        return delta / (delta.norm() + _TINY)

    delta = torch.cat([rectangles(s // 2, s), -rectangles(s - s // 2, s)])
    delta = delta / (delta.norm() + _TINY)
    if torch.rand((1,), generator=generator, device=device).item() > 0.5:
        delta = delta.t()
    return delta


def _l2(t: Tensor) -> Tensor:
    """Per-example L2 size, shaped to broadcast against ``t``."""
    return perturbation_size(t, "2").view(-1, *([1] * (t.dim() - 1)))


def square(
    model: Callable[[Tensor], Tensor],
    x: Tensor,
    y: Tensor,
    *,
    eps: float,
    norm: Norm | str = "inf",
    queries: int = 5000,
    p_init: float = 0.8,
    clip_values: ClipValues = None,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """Square Attack on a batch of images: ``(x_adv, fooled)``; one query per example per iteration.

    :param model: logits of a batch (eval mode).
    :param x: clean images ``(N, C, H, W)``; ``y``: true class indices.
    :param queries: iterations (queries per example), 5,000 in AutoAttack's standard list.
    :param p_init: initial share of the image a window covers (0.8).
    """
    if x.dim() != 4:
        raise ValueError(f"x: Square Attack needs images (N, C, H, W), got shape {tuple(x.shape)}")
    checks.integer(queries, "queries", minimum=1)
    checks.number(p_init, "p_init", low=0.0, high=1.0, low_inclusive=False)
    ball: Norm = normalize_norm(norm)
    x = x.detach().float()
    n, c, h, w = x.shape
    device = x.device
    if ball == "inf":
        start = x + eps * _signs((n, c, 1, w), generator, device)
    else:
        start = x + _l2_start(x, eps, generator)
    best = constrain(x, start, eps, ball, clip_values)
    margin = _margin(model, best, y)
    for iteration in range(queries):
        active = (margin > 0).nonzero().squeeze(1)
        if len(active) == 0:
            break
        x_a, best_a = x[active], best[active]
        side = max(round(math.sqrt(p_schedule(iteration, queries, p_init) * h * w)), 1)
        if ball == "inf":
            side = min(side, h, w)
            top, left = _window(generator, h - side, device), _window(generator, w - side, device)
            proposal = best_a.clone()
            proposal[:, :, top:top + side, left:left + side] = (
                x_a[:, :, top:top + side, left:left + side] + 2 * eps * _signs((len(active), c, 1, 1), generator, device))
            proposal = constrain(x_a, proposal, eps, ball, clip_values)
        else:
            proposal = _l2_proposal(x_a, best_a, eps, max(side, 3) | 1, clip_values, generator)
        new_margin = _margin(model, proposal, y[active])
        better = new_margin < margin[active]
        best[active] = torch.where(better.view(-1, 1, 1, 1), proposal, best_a)
        margin[active] = torch.where(better, new_margin, margin[active])
    return best, margin <= 0


def _l2_start(x: Tensor, eps: float, generator: torch.Generator | None) -> Tensor:
    """A grid of meta-squares of side ``H // 5`` with random signs per channel, norm ``eps``."""
    n, c, h, w = x.shape
    s = max(h // 5, 1)
    delta = torch.zeros_like(x)
    offset = (h - s * 5) // 2
    for row in range(h // s):
        for col in range(w // s):
            top, left = offset + row * s, offset + col * s
            if top + s > h or left + s > w:
                continue
            delta[:, :, top:top + s, left:left + s] += (
                _eta(s, generator, x.device).view(1, 1, s, s) * _signs((n, c, 1, 1), generator, x.device))
    return delta / (_l2(delta) + _TINY) * eps


def _l2_proposal(x: Tensor, best: Tensor, eps: float, side: int, clip_values: ClipValues,
                 generator: torch.Generator | None) -> Tensor:
    """Paper, Alg. 3: new mass in window 1 (its old content plus a fresh meta-square), window 2
    emptied, the norm of both windows together kept so that the total stays ``eps``."""
    n, c, h, w = x.shape
    side = min(side, h, w)
    device = x.device
    delta = best - x
    top, left = _window(generator, h - side, device), _window(generator, w - side, device)
    top2, left2 = _window(generator, h - side, device), _window(generator, w - side, device)
    window = (slice(None), slice(None), slice(top, top + side), slice(left, left + side))
    window2 = (slice(None), slice(None), slice(top2, top2 + side), slice(left2, left2 + side))
    both = torch.zeros_like(x)
    both[window] = 1.0
    both[window2] = 1.0
    norm_image = _l2(delta)
    norm_windows = _l2(delta * both)
    old = delta[window]
    old_norm = old.pow(2).sum(dim=(-2, -1), keepdim=True).sqrt()
    fresh = _eta(side, generator, device).view(1, 1, side, side) * _signs((n, c, 1, 1), generator, device)
    fresh = fresh + old / (old_norm + _TINY)
    budget = ((eps ** 2 - norm_image ** 2).clamp_min(0) / c + norm_windows ** 2).sqrt()
    fresh = fresh / (fresh.pow(2).sum(dim=(-2, -1), keepdim=True).sqrt() + _TINY) * budget
    delta = delta.clone()
    delta[window2] = 0.0
    delta[window] = fresh
    return clip(x + delta / (_l2(delta) + _TINY) * eps, clip_values)
