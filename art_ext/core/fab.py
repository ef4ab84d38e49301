"""FAB, targeted, torch-native: Croce & Hein, "Minimally distorted adversarial examples with a
fast adaptive boundary attack", ICML 2020 (arXiv:1907.02044), in the targeted form AutoAttack's
standard list runs (FAB-T).

Distance: ``norm="inf"`` or ``"2"``. FAB is a minimum-norm attack: it looks for the smallest
perturbation that makes ``target`` beat the true class; an example counts as fooled only when the
smallest misclassified point found lies inside the ``eps``-ball (as in AutoAttack). Every iterate
stays inside ``clip_values``.

Each iteration linearises ``g(x) = z_target(x) - z_y(x)`` at the current point ``x_k`` and computes
two minimal-norm steps onto the hyperplane ``g = 0`` inside the box: ``d_k`` from ``x_k`` and
``d_0`` from the clean point ``x_0``. The next point mixes them (paper, eq. 8):
``x_{k+1} = clip((1 - a)(x_k + eta d_k) + a (x_0 + eta d_0))`` with ``a = min(|d_k| / (|d_k| + |d_0|),
alpha_max)``, ``eta = 1.05`` (overshoot), ``alpha_max = 0.1``. When ``x_{k+1}`` is misclassified it
is kept if it is the closest so far, and the search steps back towards ``x_0``:
``x_{k+1} = x_0 + beta (x_{k+1} - x_0)``, ``beta = 0.9``.

The projection onto a hyperplane inside a box, :func:`hyperplane_projection`, is solved exactly
through its one-dimensional dual (Linf: the radius ``t`` of ``d_i = clip(t sign(w_i))``; L2: the
multiplier ``l`` of ``d_i = clip(l w_i)``): both make ``w . d`` a sum of clipped linear pieces,
whose crossing point one sort and two cumulative sums find, for every row at once.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from art_ext import checks
from art_ext.core.perturb import ClipValues, Norm, clip, normalize_norm, perturbation_size

__all__ = ["fab_targeted", "hyperplane_projection"]

_TINY = 1e-12


def _box(clip_values: ClipValues, x: Tensor) -> tuple[Tensor, Tensor]:
    """``clip_values`` as flat per-coordinate bounds ``(N, D)`` for inputs ``x`` (N, ...); infinite for ``None``."""
    n, example = len(x), x.shape[1:]
    if clip_values is None:
        unbounded = torch.full((n, example.numel()), float("inf"), device=x.device)
        return -unbounded, unbounded
    bounds = []
    for value in clip_values[:2]:
        full = torch.as_tensor(value, dtype=x.dtype, device=x.device) + x.new_zeros(example)
        bounds.append(full.flatten().expand(n, -1))
    return bounds[0], bounds[1]


def _smallest_level(weight: Tensor, breaks: Tensor, need: Tensor) -> Tensor:
    """Per row, the smallest ``t >= 0`` with ``sum_i weight_i * min(t, breaks_i) = need`` (the sum is
    piecewise linear and non-decreasing in ``t``), or ``max_i breaks_i`` where ``need`` is out of reach.

    Exact: sort the breakpoints once, evaluate the sum at each, and solve the linear piece that
    crosses ``need``."""
    ordered, order = breaks.sort(dim=1)
    w = weight.gather(1, order)
    below_sum = (w * ordered).cumsum(1)  # sum of weight * break over breaks <= this one
    below_weight = w.cumsum(1)
    total = below_weight[:, -1:]
    at_break = below_sum + ordered * (total - below_weight)  # the sum at t = this break
    k = (at_break < need.unsqueeze(1)).sum(1, keepdim=True)  # pieces wholly below need
    last = ordered.shape[1] - 1
    prev = (k - 1).clamp(min=0)
    prev_sum = torch.where(k > 0, below_sum.gather(1, prev), torch.zeros_like(total))
    prev_weight = torch.where(k > 0, below_weight.gather(1, prev), torch.zeros_like(total))
    level = (need.unsqueeze(1) - prev_sum) / (total - prev_weight).clamp_min(_TINY)
    unreachable = k > last
    return torch.where(unreachable, ordered[:, last:], level).squeeze(1).clamp_min(0)


def hyperplane_projection(points: Tensor, w: Tensor, b: Tensor, low: Tensor, high: Tensor, norm: Norm) -> Tensor:
    """The smallest ``d`` (in ``norm``) with ``w . (p + d) = b`` and ``low <= p + d <= high``, per row.

    ``points``, ``w``, ``low``, ``high``: ``(N, D)``; ``b``: ``(N,)``. Where no ``d`` inside the box
    reaches the hyperplane, the ``d`` that gets closest (the box corner furthest along ``w``).

    Both norms reduce to one monotone sum (after turning ``w`` so that ``w . d`` must grow):
    Linf: ``d_i = clip(t sign(w_i))``, ``w . d = sum |w_i| min(t, room_i)``;
    L2 (KKT): ``d_i = clip(l w_i)``, ``w . d = sum w_i^2 min(l, room_i / |w_i|)``,
    with ``room_i`` how far coordinate ``i`` can move along ``w`` inside the box.
    """
    p, w = points.double(), w.double()
    gap = b.double() - (w * p).sum(1)  # what w . d must add up to
    w = w * torch.where(gap >= 0, 1.0, -1.0).to(p.dtype).unsqueeze(1)
    down, up = low.double() - p, high.double() - p  # the box for d (contains 0)
    room = torch.where(w > 0, up, -down).clamp_min(0)
    magnitude = w.abs()
    moving = magnitude > 0
    if norm == "inf":
        level = _smallest_level(magnitude, torch.where(moving, room, torch.zeros_like(room)), gap.abs())
        d = w.sign() * level.unsqueeze(1)
    else:
        breaks = torch.where(moving, room / magnitude.clamp_min(_TINY), torch.zeros_like(room))
        level = _smallest_level(magnitude**2, breaks, gap.abs())
        d = w * level.unsqueeze(1)
    return torch.minimum(torch.maximum(torch.nan_to_num(d), down), up).to(points.dtype)


def _linearise(model: Callable[[Tensor], Tensor], x: Tensor, y: Tensor, target: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """``g = z_target - z_y`` at ``x``, its input gradient (flat) and whether ``x`` is misclassified."""
    point = x.detach().requires_grad_(True)
    with torch.enable_grad():
        logits = model(point).float()
        rows = torch.arange(len(x), device=x.device)
        gap = logits[rows, target] - logits[rows, y]
        grad = torch.autograd.grad(gap.sum(), point)[0].flatten(1)
    return gap.detach(), grad.detach(), logits.detach().argmax(1) != y


def fab_targeted(
    model: Callable[[Tensor], Tensor],
    x: Tensor,
    y: Tensor,
    target: Tensor,
    *,
    eps: float,
    norm: Norm | str = "inf",
    steps: int = 100,
    alpha_max: float = 0.1,
    eta: float = 1.05,
    beta: float = 0.9,
    clip_values: ClipValues = None,
) -> tuple[Tensor, Tensor]:
    """One targeted FAB run on a batch: ``(x_adv, fooled)``.

    ``fooled``: a misclassified point within ``eps`` was found; ``x_adv`` is the closest
    misclassified point found (``x`` itself where none was).
    """
    checks.integer(steps, "steps", minimum=1)
    ball: Norm = normalize_norm(norm)
    x0 = x.detach().float()
    n = len(x0)
    flat0 = x0.flatten(1)
    low, high = _box(clip_values, x0)
    best = x0.clone()
    best_norm = torch.full((n,), float("inf"), device=x0.device)
    current = x0.clone()
    gap, grad, _ = _linearise(model, current, y, target)
    shaped = (-1, *([1] * (x0.dim() - 1)))
    for step in range(steps):
        with torch.no_grad():
            flat = current.flatten(1)
            offset = (grad * flat).sum(1) - gap  # the hyperplane: grad . p = offset
            steps_both = hyperplane_projection(torch.cat([flat, flat0]), torch.cat([grad, grad]),
                                               torch.cat([offset, offset]), torch.cat([low, low]),
                                               torch.cat([high, high]), ball)
            from_current, from_clean = steps_both[:n], steps_both[n:]
            size_current = perturbation_size(from_current, ball).clamp_min(1e-8)
            size_clean = perturbation_size(from_clean, ball).clamp_min(1e-8)
            mix = (size_current / (size_current + size_clean)).clamp(0.0, alpha_max).unsqueeze(1)
            moved = (1 - mix) * (flat + eta * from_current) + mix * (flat0 + eta * from_clean)
            current = clip(moved.view_as(x0), clip_values)
        # one forward and backward at the new point: its class decides the step back, and where it
        # stays, its gradient is the next iteration's (the reference spends a second forward here)
        gap, grad, wrong = _linearise(model, current, y, target)
        with torch.no_grad():
            distance = perturbation_size(current - x0, ball)
            closer = wrong & (distance < best_norm)
            best = torch.where(closer.view(shaped), current, best)
            best_norm = torch.where(closer, distance, best_norm)
        if step == steps - 1 or not bool(wrong.any()):
            continue
        with torch.no_grad():
            back = wrong.nonzero().squeeze(1)
            current = current.clone()
            current[back] = x0[back] + beta * (current[back] - x0[back])
        gap_back, grad_back, _ = _linearise(model, current[back], y[back], target[back])
        gap, grad = gap.clone(), grad.clone()
        gap[back], grad[back] = gap_back, grad_back
    # float slack: a point found a hair outside the ball is moved onto it before it counts
    fooled = best_norm <= eps * (1 + 1e-6)
    return best, fooled
