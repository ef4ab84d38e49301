"""The evaluation every figure in art-ext comes from: :func:`evaluate`.

**Definition.** An example is *robust* under an attack when the model classifies it correctly
both clean and after the attack (:func:`robust_mask`; RobustBench's convention: a clean mistake
is never robust, even if the attack's output happens to be classified correctly). Robust
accuracy is the share of robust examples among all evaluated ones. The worst case over several
attacks is robust only where every attack failed.

**Evaluation.** :func:`evaluate` runs, always in float32 and in eval mode (whatever precision a
model was trained in, and restoring every sub-module's mode afterwards):

* ``pgd``: the core's PGD (:func:`art_ext.core.perturb.pgd`) with ``pgd_steps`` steps of size
  ``2.5 * eps / pgd_steps`` and ``pgd_restarts`` random restarts, the worst case kept per example;
* ``autoattack``: a named AutoAttack list. ``"standard"`` (the default) is Croce & Hein's standard
  list run torch-native on the model's device (APGD-CE, APGD-T and FAB-T with 9 targets each,
  Square with 5,000 queries; :mod:`art_ext.evaluation.native`); ``"fast"`` is a *reduced* native
  list (APGD-CE, APGD-DLR, Square with 1,000 queries), never called AutoAttack in a table;
  ``"art-default"`` is ART's own :class:`~art.attacks.evasion.AutoAttack` with ART's default list
  (APGD-CE and APGD-DLR with 5 restarts, DeepFool, Square with 5 restarts), kept as the reference;
  ``"art-fast"`` ART's reduced list.

:class:`EvaluationReport` keeps the per-example masks (which images each attack broke), so the
worst case is exact and attacks can be added later without rerunning the others; every accuracy
comes with its 95% Wilson interval.

Trainers' per-epoch validation uses the same definition through :func:`pgd_batch_masks`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from art_ext import checks
from art_ext.core.device import eval_mode, restore_modes, snapshot_modes
from art_ext.evaluation.attacks import (
    Float32,
    autoattack,
    eval_module,
    pgd_batch_masks,
    run_art_autoattack,
    run_native_autoattack,
)
from art_ext.evaluation.masking import gradient_masking_checks
from art_ext.evaluation.report import (
    AUTOATTACK_LISTS,
    NATIVE_LIST_NAMES,
    AttackResult,
    EvaluationReport,
    autoattack_label,
    mask_to_string,
    pgd_label,
    robust_mask,
    string_to_mask,
    summary_rows,
)

logger = logging.getLogger(__name__)

# ``evaluate`` is defined here; the other names are re-exported from their homes (report.py,
# attacks.py) so that ``from art_ext.evaluation.robust import ...`` keeps working.
__all__ = [
    "AUTOATTACK_LISTS",
    "AttackResult",
    "EvaluationReport",
    "autoattack",
    "autoattack_label",
    "eval_module",
    "evaluate",
    "mask_to_string",
    "pgd_batch_masks",
    "pgd_label",
    "robust_mask",
    "string_to_mask",
    "summary_rows",
]


def _batches(n: int, batch_size: int) -> Iterator[slice]:
    for start in range(0, n, batch_size):
        yield slice(start, min(n, start + batch_size))


def evaluate(
    classifier: Any,
    x: Any,
    y: Any,
    *,
    eps: float,
    norm: Any = "inf",
    pgd_steps: int = 50,
    pgd_restarts: int = 10,
    autoattack_version: str | None = "standard",
    batch_size: int = 500,
    seed: int = 0,
    channels_last: bool | None = None,
    masking_checks: bool = False,
    masking_n: int = 200,
    pgd_loss: str = "ce",
    progress: bool = False,
) -> EvaluationReport:
    """Clean and robust accuracy of an ART ``PyTorchClassifier`` on ``(x, y)``, in float32.

    :param eps: the budget (Linf or L2 radius, input units); checked against ``clip_values``.
    :param pgd_steps: PGD steps (0: no PGD); ``pgd_restarts``: random restarts (worst case kept).
    :param autoattack_version: ``"standard"`` (Croce & Hein's list, native), ``"fast"`` (a reduced
        native list), ``"art-default"`` / ``"art-fast"`` (ART's AutoAttack) or ``None`` (none).
    :param channels_last: feed conv nets channels_last inputs (still float32; default: on CPUs).
    :param masking_checks: also run :func:`art_ext.evaluation.masking.gradient_masking_checks`
        (on the first ``masking_n`` examples).
    :param pgd_loss: PGD's loss, ``"ce"`` (cross-entropy) or ``"margin"`` (Carlini-Wagner).
    :return: the :class:`EvaluationReport` (per-example masks, accuracies, 95% intervals, times).
    """
    modes = snapshot_modes(classifier.model)
    try:
        return _evaluate(classifier, x, y, eps=eps, norm=norm, pgd_steps=pgd_steps, pgd_restarts=pgd_restarts,
                         autoattack_version=autoattack_version, batch_size=batch_size, seed=seed,
                         channels_last=channels_last, masking_checks=masking_checks, masking_n=masking_n,
                         pgd_loss=pgd_loss, progress=progress)
    finally:  # ART's estimators switch modes and leave them: every sub-module gets its own back
        restore_modes(modes)


#: the fewest classes each list's losses need (targeted DLR compares four logits, DLR three)
_MIN_CLASSES = {"standard": 4, "fast": 3, "art-default": 3, "art-fast": 3}


def _check_classes_for(version: str, nb_classes: int) -> None:
    if nb_classes < _MIN_CLASSES[version]:
        raise ValueError(f"autoattack_version {version!r} needs at least {_MIN_CLASSES[version]} classes (its DLR "
                         f"losses compare that many logits); the classifier has {nb_classes}: use pgd_steps only")


def _evaluate(
    classifier: Any, x: Any, y: Any, *, eps: float, norm: Any, pgd_steps: int, pgd_restarts: int,
    autoattack_version: str | None, batch_size: int, seed: int, channels_last: bool | None, masking_checks: bool,
    masking_n: int, pgd_loss: str, progress: bool,
) -> EvaluationReport:
    input_shape = tuple(int(d) for d in classifier.input_shape)
    x_np = checks.images(x, input_shape=input_shape, clip_values=classifier.clip_values)
    labels = checks.class_indices(y, nb_classes=int(classifier.nb_classes), n=len(x_np))
    key = checks.parse_norm(norm)
    eps = checks.check_eps(eps, norm=key, clip_values=classifier.clip_values, input_shape=input_shape)
    checks.integer(pgd_steps, "pgd_steps", minimum=0)
    checks.integer(pgd_restarts, "pgd_restarts", minimum=1)
    checks.integer(batch_size, "batch_size", minimum=1)
    checks.choice(pgd_loss, "pgd_loss", ("ce", "margin"))
    if autoattack_version is not None:
        checks.choice(autoattack_version, "autoattack_version", tuple(AUTOATTACK_LISTS))
        _check_classes_for(autoattack_version, int(classifier.nb_classes))
    elif pgd_steps == 0:
        raise ValueError("pgd_steps=0 with autoattack_version=None runs no attack: there would be no robust "
                         "accuracy to report (set pgd_steps >= 1 or an AutoAttack list)")
    model, device, layout = eval_module(classifier, channels_last)
    bounds = checks.clip_bounds(classifier.clip_values, input_shape)
    clip = None if bounds is None else tuple(torch.as_tensor(b, dtype=torch.float32, device=device) for b in bounds)
    xt = torch.as_tensor(np.asarray(x_np, dtype=np.float32), device=device)
    yt = torch.as_tensor(labels, device=device)
    n = len(labels)
    generator = torch.Generator(device=device).manual_seed(seed)
    info = {"threads": torch.get_num_threads(), "device": str(device), "channels_last": layout, "seed": seed,
            "batch_size": batch_size}
    start = time.perf_counter()
    with eval_mode(classifier.model), torch.no_grad():
        clean = torch.cat([Float32(model)(xt[s]).argmax(1) == yt[s] for s in _batches(n, batch_size)])
    report = EvaluationReport(eps, key, clean.cpu().numpy(), info=info)
    report.info["clean_seconds"] = time.perf_counter() - start
    bar = tqdm(total=(pgd_steps > 0) + (autoattack_version is not None), desc="evaluation",
               disable=None if progress else True, leave=False)
    if pgd_steps > 0:
        start = time.perf_counter()
        robust = []
        with eval_mode(classifier.model):
            for s in _batches(n, batch_size):
                _, mask = pgd_batch_masks(model, xt[s], yt[s], eps=eps, norm=key, steps=pgd_steps,
                                          restarts=pgd_restarts, clip_values=clip, generator=generator, loss=pgd_loss)
                robust.append(mask)
        name = pgd_label(pgd_steps, pgd_restarts, pgd_loss)
        loss_name = "cross-entropy" if pgd_loss == "ce" else "Carlini-Wagner margin"
        report.add(AttackResult(
            name, f"art-ext core PGD, {pgd_steps} steps of 2.5*eps/{pgd_steps}, {pgd_restarts} random restarts "
            f"(worst case per example), {loss_name} loss, float32",
            torch.cat(robust).cpu().numpy(), time.perf_counter() - start,
            {"steps": pgd_steps, "restarts": pgd_restarts, "step": 2.5 * eps / pgd_steps, "loss": pgd_loss}))
        bar.update(1)
    if autoattack_version in NATIVE_LIST_NAMES:
        with eval_mode(classifier.model):
            report.add(run_native_autoattack(model, xt, yt, clean, eps=eps, norm=key, version=autoattack_version,
                                             clip_values=clip, nb_classes=int(classifier.nb_classes),
                                             batch_size=batch_size, seed=seed, progress=progress))
        bar.update(1)
    elif autoattack_version is not None:
        report.add(run_art_autoattack(classifier, model, x_np, labels, report.clean, eps, key, autoattack_version,
                                      min(batch_size, 128), seed))
        bar.update(1)
    bar.close()
    if masking_checks:
        m = min(n, checks.integer(masking_n, "masking_n", minimum=1))
        report.checks = gradient_masking_checks(classifier, x_np[:m], labels[:m], eps=eps, norm=key, report=report,
                                                seed=seed)
    return report


