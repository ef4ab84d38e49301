"""On-device perturbation primitives shared by the trainers and attacks.

Everything here works on ``torch.Tensor`` batches on whatever device the model lives on. There
is no numpy, no ``.item()``, no ``.cpu()`` and no Python branch on a tensor value, so on a GPU
nothing in here waits for the device. Gradients are taken with
``torch.autograd.grad(loss, x_adv)``: only the input gradient is computed, never the weights'
(which roughly halves the cost of a backward pass compared with ``loss.backward()``).

The caller chooses the model's mode (``model.eval()`` or ``model.train()``) and, if wanted, an
autocast context; the primitives change neither. Losses are computed in float32.

Example::

    from art_ext.core.perturb import pgd
    x_adv = pgd(model, x, y, eps=0.3, step=0.01, steps=40, restarts=2, clip_values=(0.0, 1.0))

``loss_fn(outputs, target) -> per-example loss (N,)`` is what the attack *increases* (or, with
``targeted=True``, decreases). ``target`` is whatever the caller passes as ``y``: class indices
for :func:`cross_entropy` and :func:`margin_loss`, the clean model's logits for :func:`kl_loss`
(TRADES).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from art_ext.checks import non_negative, parse_norm

__all__ = [
    "ClipValues",
    "LossFn",
    "Norm",
    "clip",
    "constrain",
    "cross_entropy",
    "fgsm",
    "input_gradient",
    "kl_loss",
    "margin_loss",
    "normalize_norm",
    "perturbation_size",
    "pgd",
    "project",
    "random_init",
    "step_direction",
]

Norm = Literal["inf", "2"]
LossFn = Callable[[Tensor, Tensor], Tensor]
ClipValues = tuple[float, float] | tuple[Tensor, ...] | Sequence[float] | Sequence[Tensor] | None

_TINY = 1e-12


# --------------------------------------------------------------------------- losses


def cross_entropy(outputs: Tensor, target: Tensor) -> Tensor:
    """Per-example cross-entropy; ``target`` holds class indices (N,) or probabilities (N, K)."""
    return F.cross_entropy(outputs.float(), target, reduction="none")


def kl_loss(outputs: Tensor, target_logits: Tensor) -> Tensor:
    """Per-example ``KL(softmax(target_logits) || softmax(outputs))``, the TRADES inner loss.

    ``target_logits`` are the (detached) clean logits of the same examples.
    """
    log_p_adv = F.log_softmax(outputs.float(), dim=1)
    p_clean = F.softmax(target_logits.float(), dim=1)
    return F.kl_div(log_p_adv, p_clean, reduction="none").sum(dim=1)


def margin_loss(outputs: Tensor, target: Tensor) -> Tensor:
    """Per-example Carlini-Wagner margin ``max_{j != y} z_j - z_y`` (positive = misclassified)."""
    logits = outputs.float()
    true = logits.gather(1, target.view(-1, 1)).squeeze(1)
    others = logits.masked_fill(F.one_hot(target, logits.shape[1]).bool(), float("-inf"))
    return others.max(dim=1).values - true


# --------------------------------------------------------------------------- helpers


def normalize_norm(norm: str | float | int) -> Norm:
    """``"inf"`` or ``"2"`` from any spelling :func:`art_ext.checks.parse_norm` accepts."""
    return parse_norm(norm)  # type: ignore[return-value]


def _check_size(value: float | Tensor, name: str) -> None:
    """A budget or step must be >= 0 (a negative one would turn ascent into descent)."""
    if isinstance(value, Tensor):
        if value.device.type == "cpu" and bool((value < 0).any() | ~torch.isfinite(value).all()):
            raise ValueError(f"{name} must be finite and >= 0 for every example, got {value.tolist()[:8]}")
        return
    non_negative(value, name)


def _view(values: Tensor, like: Tensor) -> Tensor:
    """Reshape a per-example vector (N,) so it broadcasts against ``like`` (N, ...)."""
    return values.view(-1, *([1] * (like.dim() - 1)))


def _l2(t: Tensor) -> Tensor:
    return t.flatten(1).norm(p=2, dim=1)


def perturbation_size(delta: Tensor, norm: Norm) -> Tensor:
    """Per-example size ``(N,)`` of ``delta`` in ``norm``: the largest entry (Linf) or the L2 norm."""
    flat = delta.flatten(1)
    return flat.abs().amax(1) if norm == "inf" else flat.norm(p=2, dim=1)


def clip(x: Tensor, clip_values: ClipValues) -> Tensor:
    """Clamp into ``clip_values`` (floats, or tensors broadcastable to ``x``); no-op for ``None``."""
    if clip_values is None:
        return x
    low, high = clip_values[0], clip_values[1]
    if isinstance(low, Tensor) or isinstance(high, Tensor):
        low_t = torch.as_tensor(low, dtype=x.dtype, device=x.device)
        high_t = torch.as_tensor(high, dtype=x.dtype, device=x.device)
        return torch.maximum(torch.minimum(x, high_t), low_t)
    return x.clamp(float(low), float(high))


def project(delta: Tensor, eps: float | Tensor, norm: Norm = "inf") -> Tensor:
    """Project perturbations onto the ``norm`` ball of radius ``eps`` (scalar or per-example (N,))."""
    if norm == "inf":
        if isinstance(eps, Tensor) and eps.dim() == 1:
            e = _view(eps, delta)
            return torch.maximum(torch.minimum(delta, e), -e)
        return delta.clamp(-float(eps), float(eps)) if not isinstance(eps, Tensor) else torch.maximum(
            torch.minimum(delta, eps), -eps
        )
    radius = _view(eps, delta) if isinstance(eps, Tensor) and eps.dim() == 1 else eps
    norms = _view(_l2(delta), delta)
    factor = torch.clamp(radius / (norms + _TINY), max=1.0)  # type: ignore[operator]
    return delta * factor


def constrain(x: Tensor, x_adv: Tensor, eps: float | Tensor, norm: Norm | str = "inf", clip_values: ClipValues = None) -> Tensor:
    """``x_adv`` moved into the ``eps``-ball around ``x`` and then into ``clip_values``.

    The one rule every attack output follows: project the perturbation, then clip. Clipping
    after the projection never leaves the ball, because ``x`` itself lies inside the clip range.
    """
    return clip(x + project(x_adv - x, eps, normalize_norm(norm)), clip_values)


def random_init(
    x: Tensor, eps: float | Tensor, norm: Norm = "inf", generator: torch.Generator | None = None
) -> Tensor:
    """A random perturbation: uniform in the Linf box, or uniform in the L2 ball."""
    if norm == "inf":
        noise = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        noise = noise * 2.0 - 1.0
        return noise * (_view(eps, x) if isinstance(eps, Tensor) and eps.dim() == 1 else eps)
    direction = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    direction = direction / _view(_l2(direction) + _TINY, x)
    dims = x[0].numel()
    radius = torch.rand(x.shape[0], generator=generator, device=x.device, dtype=x.dtype) ** (1.0 / dims)
    scale = radius * eps if not isinstance(eps, Tensor) else radius * eps.to(x.dtype)
    return direction * _view(scale, x)


def step_direction(grad: Tensor, norm: Norm = "inf") -> Tensor:
    """Steepest-ascent direction of unit ``norm``-size: ``sign(g)`` (Linf) or ``g / ||g||_2`` (L2)."""
    if norm == "inf":
        return grad.sign()
    return grad / _view(_l2(grad) + _TINY, grad)


def input_gradient(
    model: Callable[[Tensor], Tensor],
    x: Tensor,
    y: Tensor,
    loss_fn: LossFn = cross_entropy,
) -> tuple[Tensor, Tensor, Tensor]:
    """Gradient of ``sum(loss_fn(model(x), y))`` with respect to ``x`` only.

    :return: ``(grad, per-example loss (detached), outputs (detached))``.
    """
    x_req = x.detach().requires_grad_(True)
    with torch.enable_grad():
        outputs = model(x_req)
        losses = loss_fn(outputs, y)
        (grad,) = torch.autograd.grad(losses.sum(), x_req)
    return grad, losses.detach(), outputs.detach()


def _success(outputs: Tensor, y: Tensor, targeted: bool) -> Tensor | None:
    """Per-example success of an attack, when ``y`` holds class indices; else ``None``."""
    if y.dim() != 1 or y.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
        return None
    predicted = outputs.argmax(dim=1)
    return predicted == y if targeted else predicted != y


# --------------------------------------------------------------------------- attacks


def fgsm(
    model: Callable[[Tensor], Tensor],
    x: Tensor,
    y: Tensor,
    eps: float | Tensor,
    *,
    norm: Norm | str | float = "inf",
    step: float | Tensor | None = None,
    random_start: bool = False,
    noise: float | Tensor | None = None,
    clip_start: bool = True,
    project_ball: bool = True,
    loss_fn: LossFn = cross_entropy,
    targeted: bool = False,
    clip_values: ClipValues = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Single-step attacks: FGSM (Goodfellow et al. 2015), FBF's random-start FGSM (Wong et al.
    2020) and N-FGSM (de Jorge et al. 2022).

    One step of size ``step`` (default ``eps``) along the gradient's sign (Linf) or direction
    (L2), taken from ``x`` or, with ``random_start``, from ``x + U(-noise, noise)`` (``noise``
    default ``eps``; in the L2 ball of radius ``noise`` for L2). ``clip_start`` clips that
    starting point to ``clip_values`` before the gradient is taken (Wong's CIFAR-10 code does,
    his MNIST code does not). ``project_ball`` projects the result back onto the ``eps``-ball;
    N-FGSM skips it (``project_ball=False``: the perturbation may reach ``noise + step``).
    The output is always clipped to ``clip_values``.

    * FGSM: ``fgsm(model, x, y, eps)``;
    * FBF: ``random_start=True, step=1.25 * eps``;
    * N-FGSM: ``random_start=True, noise=2 * eps, step=eps, project_ball=False``.

    :return: the adversarial batch (detached, same dtype and device as ``x``).
    """
    norm = normalize_norm(norm)
    _check_size(eps, "eps")
    if step is not None:
        _check_size(step, "step")
    if noise is not None:
        _check_size(noise, "noise")
    x = x.detach()
    step_size = eps if step is None else step
    delta = random_init(x, eps if noise is None else noise, norm, generator) if random_start else torch.zeros_like(x)
    x_start = clip(x + delta, clip_values) if clip_start else x + delta
    grad, _, _ = input_gradient(model, x_start, y, loss_fn)
    direction = step_direction(grad, norm)
    if targeted:
        direction = -direction
    step_t = _view(step_size, x) if isinstance(step_size, Tensor) and step_size.dim() == 1 else step_size
    x_adv = x_start + step_t * direction
    if not project_ball:
        return clip(x_adv, clip_values).detach()
    return constrain(x, x_adv, eps, norm, clip_values).detach()


def pgd(
    model: Callable[[Tensor], Tensor],
    x: Tensor,
    y: Tensor,
    eps: float | Tensor,
    step: float | Tensor,
    steps: int,
    *,
    norm: Norm | str | float = "inf",
    random_start: bool = True,
    restarts: int = 1,
    loss_fn: LossFn = cross_entropy,
    targeted: bool = False,
    clip_values: ClipValues = None,
    generator: torch.Generator | None = None,
    x_init: Tensor | None = None,
    trace: list[Tensor] | None = None,
) -> Tensor:
    """Projected gradient descent, Madry et al. 2018 (Linf or L2).

    ``steps`` iterations of ``x <- clip(x + Proj_eps(x + step * dir(grad)))``, from a random
    point in the ball when ``random_start``. With ``restarts > 1`` the attack is repeated from
    fresh random starts and the per-example worst case is kept: an example that some restart
    fools (misclassified, or classified as the target when ``targeted``) keeps a fooling
    perturbation; otherwise the one with the highest loss (lowest when ``targeted``). When ``y``
    is not a vector of class indices (e.g. TRADES' clean logits) only the loss decides.

    ``eps`` and ``step`` may be floats or per-example tensors (N,). ``steps=0`` returns the
    (random) starting point. ``x_init`` replaces the first restart's starting point (it is
    projected onto the ball and clipped), e.g. TRADES' ``x + 0.001 * randn``. ``trace``, when
    given a list, receives the mean loss (0-d tensor, attack sign applied) at every step of the
    first restart, for the gradient-masking check that the loss rises with the steps.

    :return: the adversarial batch (detached, same dtype and device as ``x``).
    """
    norm = normalize_norm(norm)
    _check_size(eps, "eps")
    _check_size(step, "step")
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 0:
        raise ValueError(f"steps must be an integer >= 0, got {steps!r}")
    if not isinstance(restarts, int) or isinstance(restarts, bool) or restarts < 1:
        raise ValueError(f"restarts must be an integer >= 1, got {restarts!r}")
    x = x.detach()
    step_t = _view(step, x) if isinstance(step, Tensor) and step.dim() == 1 else step
    sign = -1.0 if targeted else 1.0
    best: Tensor | None = None
    best_loss: Tensor | None = None
    best_success: Tensor | None = None
    for restart in range(restarts):
        if restart == 0 and x_init is not None:
            delta = project(x_init.detach() - x, eps, norm)
        else:
            delta = random_init(x, eps, norm, generator) if random_start else torch.zeros_like(x)
        x_adv = clip(x + delta, clip_values)
        for _ in range(steps):
            grad, step_losses, _ = input_gradient(model, x_adv, y, loss_fn)
            if trace is not None and restart == 0:
                trace.append(sign * step_losses.float().mean())
            x_adv = constrain(x, x_adv + sign * step_t * step_direction(grad, norm), eps, norm, clip_values)
        x_adv = x_adv.detach()
        if restarts == 1:
            return x_adv
        # score this restart: one extra forward pass, no gradient
        with torch.no_grad():
            outputs = model(x_adv)
            losses = sign * loss_fn(outputs, y)
            success = _success(outputs, y, targeted)
        if best is None:
            best, best_loss, best_success = x_adv, losses, success
            continue
        assert best_loss is not None
        better = losses > best_loss
        if success is not None and best_success is not None:
            better = (success & ~best_success) | ((success == best_success) & better)
            best_success = best_success | success
        best = torch.where(_view(better, x), x_adv, best)
        best_loss = torch.where(better, losses, best_loss)
    assert best is not None
    return best
