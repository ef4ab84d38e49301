"""The attacks of an evaluation, in float32 and on the model's device: the core's PGD with restarts
(:func:`pgd_batch_masks`, also the trainers' per-epoch check), AutoAttack's lists run natively
(:func:`run_native_autoattack`, :mod:`art_ext.evaluation.native`) or ART's AutoAttack with ART's
lists (:func:`autoattack`, :func:`run_art_autoattack`), and the forward pass they attack
(:func:`eval_module`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from art_ext import checks
from art_ext.core import perturb
from art_ext.core.device import channels_last_weights, eval_mode, has_conv, model_device
from art_ext.core.forward import ChannelsLast, classifier_forward
from art_ext.evaluation.native import NATIVE_LISTS, run_native_list
from art_ext.evaluation.report import AUTOATTACK_LISTS, AttackResult, autoattack_label, robust_mask

__all__ = ["ART_LISTS", "PGD_LOSSES", "Float32", "autoattack", "eval_module", "pgd_batch_masks",
           "run_art_autoattack", "run_native_autoattack"]

#: the lists that run through ART's own AutoAttack
ART_LISTS = ("art-default", "art-fast")

class Float32(nn.Module):
    """Runs the wrapped forward in float32 with autocast off (evaluation is always exact)."""

    def __init__(self, model: Callable[[Tensor], Tensor]) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        with torch.autocast(device_type=x.device.type, enabled=False):
            return self.model(x.float()).float()  # type: ignore[no-any-return]


def pgd_batch_masks(
    model: Callable[[Tensor], Tensor],
    x: Tensor,
    y: Tensor,
    *,
    eps: float,
    norm: str = "inf",
    steps: int = 50,
    restarts: int = 10,
    step: float | None = None,
    clip_values: Any = None,
    generator: torch.Generator | None = None,
    trace: list[Tensor] | None = None,
    loss: str = "ce",
) -> tuple[Tensor, Tensor]:
    """``(clean_correct, robust)`` bool masks of one device batch under PGD, in float32.

    ``loss``: ``"ce"`` (cross-entropy, default) or ``"margin"`` (Carlini-Wagner margin).

    ``restarts`` runs of PGD from fresh random starts; an example is robust only if it is correct
    clean and no run fools it (each further run attacks only the examples still robust, which
    gives the same masks as running every restart on every example, at a fraction of the cost).
    The caller puts the model in eval mode (:func:`art_ext.core.device.eval_mode`).
    """
    checks.integer(steps, "steps", minimum=1)
    checks.choice(loss, "pgd loss", tuple(PGD_LOSSES))  # zero steps attack nothing: robust would equal clean
    forward = Float32(model)
    x = x.float()
    with torch.no_grad():
        clean_ok = forward(x).argmax(1) == y
    robust = clean_ok.clone()
    step_size = float(2.5 * eps / steps if step is None else step)
    for restart in range(restarts):
        # an example one restart breaks stays broken: later restarts only attack the rest
        index = robust.nonzero().squeeze(1)
        if len(index) == 0:
            break
        x_adv = perturb.pgd(forward, x[index], y[index], eps, step_size, steps, norm=norm, restarts=1,
                            loss_fn=PGD_LOSSES[loss], clip_values=clip_values, generator=generator,
                            trace=trace if restart == 0 else None)
        with torch.no_grad():
            robust[index] = forward(x_adv).argmax(1) == y[index]
    return clean_ok, robust


#: PGD's losses by name: cross-entropy and the Carlini-Wagner margin
PGD_LOSSES: dict[str, Any] = {"ce": perturb.cross_entropy, "margin": perturb.margin_loss}


# --------------------------------------------------------------------------- AutoAttack


def autoattack(classifier: Any, eps: float, version: str = "art-default", norm: Any = "inf", batch_size: int = 128,
               cls: type | None = None) -> Any:
    """ART ``AutoAttack`` (or its subclass ``cls``) at ``eps`` with one of ART's lists
    (``"art-default"``, ``"art-fast"``; see :data:`AUTOATTACK_LISTS`), progress bars off.

    APGD's initial step is ``2 * eps`` as in Croce & Hein (2020) (ART's ``eps_step = eps``).
    """
    from art.attacks.evasion import (  # ART's own, on demand
        AutoAttack,
        AutoProjectedGradientDescent,
        SquareAttack,
    )

    checks.choice(version, "autoattack", ART_LISTS)
    order = checks.norm_order(norm)
    eps = checks.check_eps(eps, norm=norm, clip_values=classifier.clip_values, input_shape=tuple(classifier.input_shape))
    checks.integer(batch_size, "batch_size", minimum=1)
    attacks: list[Any] | None = None
    if version == "art-fast":
        attacks = [
            AutoProjectedGradientDescent(classifier, norm=order, eps=eps, eps_step=eps, max_iter=100, targeted=False,
                                         nb_random_init=1, batch_size=batch_size, loss_type=loss, verbose=False)
            for loss in ("cross_entropy", "difference_logits_ratio")
        ]
        attacks.append(SquareAttack(classifier, norm=order, eps=eps, max_iter=1000, p_init=0.8, nb_restarts=1,
                                    batch_size=batch_size, verbose=False))
    attack = (cls or AutoAttack)(classifier, norm=order, eps=eps, eps_step=eps, attacks=attacks, batch_size=batch_size)
    for member in attack.attacks:  # ART builds its standard list with progress bars on
        if hasattr(member, "verbose"):
            member.verbose = False
    return attack



@contextlib.contextmanager
def eval_module(classifier: Any, channels_last: bool | None = None) -> Iterator[tuple[nn.Module, torch.device, bool]]:
    """The classifier's forward on raw inputs for evaluation, for the block: ``(module, device, channels_last)``.

    ``channels_last=None`` runs conv nets on a CPU in channels_last, inputs and weights (oneDNN's
    fast layout, :func:`~art_ext.core.device.channels_last_weights`; the arithmetic stays float32,
    the weights are back in their own layout after the block). Raises if the model holds
    non-float32 weights.
    """
    checks.model_weights(classifier.model)
    device = model_device(classifier.model)
    if channels_last is None:
        channels_last = has_conv(classifier.model) and device.type == "cpu"
    if not channels_last:
        yield classifier_forward(classifier), device, False
        return
    with channels_last_weights(classifier.model):  # before the forward's agreement probe: checked as run
        yield ChannelsLast(classifier_forward(classifier)), device, True


def run_native_autoattack(
    model: nn.Module, x: Tensor, y: Tensor, clean: Tensor, *, eps: float, norm: str, version: str,
    clip_values: Any, nb_classes: int, batch_size: int, seed: int, progress: bool = False,
) -> AttackResult:
    """A native AutoAttack list (:data:`art_ext.evaluation.native.NATIVE_LISTS`) on device batches."""
    forward = Float32(model)
    start = time.perf_counter()
    robust, _, details = run_native_list(forward, x, y, clean, eps=eps, norm=norm, version=version,
                                      clip_values=clip_values, nb_classes=nb_classes, batch_size=batch_size,
                                      seed=seed, progress=progress)
    seconds = time.perf_counter() - start
    return AttackResult(
        f"autoattack-{version}", AUTOATTACK_LISTS[version], robust.cpu().numpy(), seconds,
        {"version": version, "attacks": list(NATIVE_LISTS[version]), "batch_size": batch_size, "native": True},
        {**details, "label": autoattack_label(version)},
    )


def run_art_autoattack(
    classifier: Any, model: nn.Module, x: np.ndarray, labels: np.ndarray, clean: np.ndarray, eps: float,
    norm: str, version: str, batch_size: int, seed: int,
) -> AttackResult:
    """ART's AutoAttack on a float32 ART classifier around ``model``; outputs kept only inside the ball."""
    from art.estimators.classification import PyTorchClassifier

    np.random.seed(seed)
    torch.manual_seed(seed)
    nb_classes = int(classifier.nb_classes)
    eval_classifier = PyTorchClassifier(
        model=Float32(model), loss=nn.CrossEntropyLoss(), input_shape=tuple(classifier.input_shape),
        nb_classes=nb_classes, clip_values=classifier.clip_values, device_type="gpu" if next(
            iter(classifier.model.parameters())).is_cuda else "cpu",
    )
    attack = autoattack(eval_classifier, eps, version, norm, batch_size)
    start = time.perf_counter()
    with eval_mode(classifier.model):
        x32 = np.asarray(x, dtype=np.float32)
        x_adv = attack.generate(x32, y=np.eye(nb_classes, dtype=np.float32)[labels])
        bounds = checks.clip_bounds(classifier.clip_values, tuple(classifier.input_shape))
        clip = None if bounds is None else (torch.as_tensor(bounds[0], dtype=torch.float32),
                                            torch.as_tensor(bounds[1], dtype=torch.float32))
        x_adv_t = perturb.constrain(torch.from_numpy(x32), torch.as_tensor(x_adv, dtype=torch.float32), eps, norm, clip)
        pred = eval_classifier.predict(x_adv_t.numpy(), batch_size=batch_size).argmax(1)
    seconds = time.perf_counter() - start
    robust = robust_mask(labels, np.where(clean, labels, -1), pred)
    best = getattr(attack, "best_attacks", np.array([]))
    names = [type(a).__name__ + (f"-{getattr(a, 'loss_type', '')}" if hasattr(a, "loss_type") else "")
             for a in attack.attacks]
    broken_by = {name: int(np.sum(best == i)) for i, name in enumerate(names)} if len(best) == len(labels) else {}
    return AttackResult(
        f"autoattack-{version}", AUTOATTACK_LISTS[version], robust, seconds,
        {"version": version, "eps_step": eps, "batch_size": batch_size, "attacks": names},
        {"broken_by": broken_by, "label": autoattack_label(version)},
    )


