"""APGD, torch-native: Auto-PGD of Croce & Hein, "Reliable evaluation of adversarial robustness
with an ensemble of diverse parameter-free attacks", ICML 2020 (arXiv:2003.01690).

Distance: ``norm="inf"`` or ``"2"``; every iterate is projected onto the ``eps``-ball and then into
``clip_values`` (:func:`art_ext.core.perturb.constrain`, the one rule every attack follows).

The algorithm (paper, Alg. 1), per example:

* start at ``x + eps * u / ||u||`` (``u`` uniform in ``[-1, 1]`` for Linf, Gaussian for L2: a
  point on the ball's boundary), initial step ``2 * eps``;
* ``z = P(x_k + step * d(grad))`` with ``d`` the sign (Linf) or the L2-normalised gradient, then
  ``x_{k+1} = P(x_k + a (z - x_k) + (1 - a)(x_k - x_{k-1}))`` with momentum ``a = 0.75`` (1 at the
  first step);
* checkpoints after ``p_1 = 0.22 n`` iterations, each following one ``max(p_{j-1} - 0.03 n, 0.06 n)``
  later: at a checkpoint an example halves its step and restarts from its best point when (1) the
  loss rose in at most ``rho = 0.75`` of the steps since the last checkpoint, or (2) the step was
  not halved at the last checkpoint and the best loss has not improved since;
* losses, all maximised: cross-entropy, DLR ``-(z_y - max_{i != y} z_i) / (z_pi1 - z_pi3)``
  and targeted DLR ``-(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2)`` (needs 4 classes).

Where this differs from the reference implementation: condition (1) counts rises against the
start point's loss at the first checkpoint (the reference compares with a row of zeros there, an
indexing artefact); everything else follows it. An example counts as fooled as soon as any
iterate is misclassified; the returned point for it is that iterate (else the highest-loss point).

Everything stays on the model's device, float32, no host synchronisation inside the loop except
the checkpoint bookkeeping (one small tensor comparison per checkpoint). The caller puts the
model in eval mode.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from art_ext import checks
from art_ext.core.perturb import (
    ClipValues,
    Norm,
    constrain,
    cross_entropy,
    normalize_norm,
    perturbation_size,
    step_direction,
)

__all__ = ["APGD_LOSSES", "apgd", "apgd_schedule", "dlr_loss", "targeted_dlr_loss"]

_TINY = 1e-12
#: momentum of the update (paper: alpha = 0.75)
MOMENTUM = 0.75


def dlr_loss(logits: Tensor, y: Tensor) -> Tensor:
    """Per-example Difference of Logits Ratio (untargeted; higher = closer to misclassified)."""
    logits = logits.float()
    ordered, order = logits.sort(dim=1)
    true = logits.gather(1, y.view(-1, 1)).squeeze(1)
    top_is_true = order[:, -1] == y
    best_other = torch.where(top_is_true, ordered[:, -2], ordered[:, -1])
    return -(true - best_other) / (ordered[:, -1] - ordered[:, -3] + _TINY)


def targeted_dlr_loss(logits: Tensor, y: Tensor, target: Tensor) -> Tensor:
    """Per-example targeted DLR towards class ``target`` (higher = closer to ``target`` beating ``y``)."""
    logits = logits.float()
    ordered = logits.sort(dim=1).values
    true = logits.gather(1, y.view(-1, 1)).squeeze(1)
    wanted = logits.gather(1, target.view(-1, 1)).squeeze(1)
    return -(true - wanted) / (ordered[:, -1] - 0.5 * (ordered[:, -3] + ordered[:, -4]) + _TINY)


#: APGD's losses by name and the fewest classes each needs
APGD_LOSSES: dict[str, int] = {"ce": 2, "dlr": 3, "dlr-targeted": 4}


def apgd_schedule(steps: int) -> list[int]:
    """The iterations (0-based, after which) APGD checks its step size, for a run of ``steps``."""
    first = max(int(0.22 * steps), 1)
    shortest = max(int(0.06 * steps), 1)
    shrink = max(int(0.03 * steps), 1)
    points, length, at = [], first, first - 1
    while at < steps:
        points.append(at)
        length = max(length - shrink, shortest)
        at += length
    return points


def _start(x: Tensor, eps: float, norm: Norm, generator: torch.Generator | None) -> Tensor:
    """A random point on the boundary of the ball (APGD's start)."""
    if norm == "inf":
        u = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype) * 2 - 1
    else:
        u = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    scale = perturbation_size(u, norm)
    return x + eps * u / (scale.view(-1, *([1] * (x.dim() - 1))) + _TINY)


def apgd(
    model: Callable[[Tensor], Tensor],
    x: Tensor,
    y: Tensor,
    *,
    eps: float,
    norm: Norm | str = "inf",
    steps: int = 100,
    loss: str = "ce",
    target: Tensor | None = None,
    clip_values: ClipValues = None,
    rho: float = 0.75,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """One APGD run on a batch: ``(x_adv, fooled)``.

    :param model: logits of a batch (eval mode, float32 outputs).
    :param x: clean inputs ``(N, ...)``; ``y``: true class indices ``(N,)``.
    :param eps: radius of the ball, ``norm``: ``"inf"`` or ``"2"``.
    :param steps: iterations (100 in AutoAttack).
    :param loss: ``"ce"``, ``"dlr"`` or ``"dlr-targeted"`` (then ``target`` holds the classes).
    :param rho: the share of rising steps below which the step size is halved (0.75).
    :return: ``x_adv`` inside the ball and ``clip_values``, and ``fooled``: some iterate was
        misclassified (the true class is not the arg-max), whatever the loss.
    """
    checks.choice(loss, "loss", tuple(APGD_LOSSES))
    checks.integer(steps, "steps", minimum=1)
    if (loss == "dlr-targeted") != (target is not None):
        raise ValueError(f"target: needed with loss 'dlr-targeted' and only then (loss {loss!r})")
    ball: Norm = normalize_norm(norm)
    x = x.detach().float()

    def losses(x_adv: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        x_adv = x_adv.detach().requires_grad_(True)
        with torch.enable_grad():
            logits = model(x_adv).float()
            if loss == "ce":
                per_example = cross_entropy(logits, y)
            elif loss == "dlr":
                per_example = dlr_loss(logits, y)
            else:
                assert target is not None
                per_example = targeted_dlr_loss(logits, y, target)
            grad = torch.autograd.grad(per_example.sum(), x_adv)[0]
        return per_example.detach(), grad.detach(), logits.detach().argmax(1) != y

    def shaped(flags: Tensor) -> Tensor:
        return flags.view(-1, *([1] * (x.dim() - 1)))

    x_adv = constrain(x, _start(x, eps, ball, generator), eps, ball, clip_values)
    loss_now, grad, fooled = losses(x_adv)
    found = x_adv.clone()
    best_x, best_grad, best_loss = x_adv.clone(), grad.clone(), loss_now.clone()
    step = torch.full((len(x),), 2.0 * eps, device=x.device)
    history = [loss_now]  # the loss at the last checkpoint (or start) and after each step since
    checkpoints = set(apgd_schedule(steps))
    last_check, best_at_last_check = -1, best_loss.clone()
    halved_last = torch.ones(len(x), dtype=torch.bool, device=x.device)
    previous = x_adv.clone()
    for i in range(steps):
        with torch.no_grad():
            momentum_term = x_adv - previous
            previous = x_adv
            z = constrain(x, x_adv + shaped(step) * step_direction(grad, ball), eps, ball, clip_values)
            a = 1.0 if i == 0 else MOMENTUM
            x_adv = constrain(x, x_adv + a * (z - x_adv) + (1 - a) * momentum_term, eps, ball, clip_values)
        loss_now, grad, wrong = losses(x_adv)
        with torch.no_grad():
            found = torch.where(shaped(wrong), x_adv, found)
            fooled |= wrong
            improved = loss_now > best_loss
            best_x = torch.where(shaped(improved), x_adv, best_x)
            best_grad = torch.where(shaped(improved), grad, best_grad)
            best_loss = torch.where(improved, loss_now, best_loss)
            history.append(loss_now)
            if i in checkpoints:
                since = torch.stack(history)
                rises = (since[1:] > since[:-1]).float().sum(0)
                oscillating = rises <= (i - last_check) * rho
                stalled = ~halved_last & (best_at_last_check >= best_loss)
                halve = oscillating | stalled
                step = torch.where(halve, step / 2, step)
                x_adv = torch.where(shaped(halve), best_x, x_adv)
                grad = torch.where(shaped(halve), best_grad, grad)
                halved_last, best_at_last_check, last_check = halve, best_loss.clone(), i
                history = [loss_now]
    x_out = torch.where(shaped(fooled), found, best_x)
    return x_out, fooled
