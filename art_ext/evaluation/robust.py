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

**Blocks and processes.** The examples are evaluated in blocks of ``batch_size``, each block with
its own seed (:func:`block_seed`), and each list member attacks the block's survivors. A block's
outcome therefore depends only on the block, so under ``torchrun`` (a process group already
initialised, e.g. by a trainer) every rank takes every ``world_size``-th block and the ranks
exchange their masks: the report equals the one-process report, on every rank. On a GPU, raise
``batch_size`` so the later members still see full batches.

Trainers' per-epoch validation uses the same definition through :func:`pgd_batch_masks`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from art_ext import checks
from art_ext.core import distributed as ddp
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
    distributed: bool | None = None,
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
    :param distributed: ``None``: under ``torchrun`` with an initialised process group, each rank
        evaluates every ``world_size``-th block of ``batch_size`` examples and the ranks exchange
        their masks, so every rank returns the whole report; ``False``: this process evaluates all.
    :return: the :class:`EvaluationReport` (per-example masks, accuracies, 95% intervals, times).
    """
    modes = snapshot_modes(classifier.model)
    try:
        return _evaluate(classifier, x, y, eps=eps, norm=norm, pgd_steps=pgd_steps, pgd_restarts=pgd_restarts,
                         autoattack_version=autoattack_version, batch_size=batch_size, seed=seed,
                         channels_last=channels_last, masking_checks=masking_checks, masking_n=masking_n,
                         pgd_loss=pgd_loss, progress=progress,
                         distributed=distributed)
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
    masking_n: int, pgd_loss: str, progress: bool, distributed: bool | None,
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
    group = ddp.current_group(distributed)
    masking_m = min(len(labels), checks.integer(masking_n, "masking_n", minimum=1)) if masking_checks else 0
    with eval_module(classifier, channels_last) as (model, device, layout):
        bounds = checks.clip_bounds(classifier.clip_values, input_shape)
        clip = None if bounds is None else tuple(torch.as_tensor(b, dtype=torch.float32, device=device)
                                                 for b in bounds)
        plan = _Plan(classifier, model, device, key, eps, pgd_steps, pgd_restarts, pgd_loss, autoattack_version,
                     clip, batch_size, seed, progress)
        return _run_plan(plan, x_np, labels, group, layout, masking_m)


def _run_plan(plan: _Plan, x_np: np.ndarray, labels: np.ndarray, group: Any, layout: bool,
              masking_m: int) -> EvaluationReport:
    """Every block of this rank, gathered across ranks, then the masking checks on the first
    ``masking_m`` examples (none when 0)."""
    blocks = list(_batches(len(labels), plan.batch_size))
    mine = range(group.rank, len(blocks), group.world_size)
    shown = tqdm(mine, desc="evaluation", disable=None if plan.progress else True, leave=False)
    outcomes = [_run_block(plan, index, x_np[blocks[index]], labels[blocks[index]]) for index in shown]
    gathered = ddp.all_gather_objects(outcomes, group)
    per_rank_seconds = [{k: sum(o.seconds[k] for o in rank_outcomes) for k in _PHASES}  # type: ignore[attr-defined]
                        for rank_outcomes in gathered]
    every = sorted((o for rank_outcomes in gathered for o in rank_outcomes),  # type: ignore[attr-defined]
                   key=lambda o: o.index)
    info = {"threads": torch.get_num_threads(), "device": str(plan.device), "channels_last": layout,
            "seed": plan.seed, "batch_size": plan.batch_size, "processes": group.world_size,
            "clean_seconds": max(r["clean"] for r in per_rank_seconds)}
    report = EvaluationReport(plan.eps, plan.norm, np.concatenate([o.clean for o in every]), info=info)
    for phase in ("pgd", "autoattack"):
        parts = [o.results[phase] for o in every if phase in o.results]
        if parts:
            report.add(_merged(parts, max(r[phase] for r in per_rank_seconds)))
    if masking_m:
        report.checks = gradient_masking_checks(plan.classifier, x_np[:masking_m], labels[:masking_m], eps=plan.eps,
                                                norm=plan.norm, report=report, seed=plan.seed,
                                                channels_last=layout)
    return report


_PHASES = ("clean", "pgd", "autoattack")


@dataclass(frozen=True)
class _Plan:
    """What every block of one :func:`evaluate` call runs."""

    classifier: Any
    model: torch.nn.Module
    device: torch.device
    norm: str
    eps: float
    pgd_steps: int
    pgd_restarts: int
    pgd_loss: str
    autoattack_version: str | None
    clip: Any
    batch_size: int
    seed: int
    progress: bool


@dataclass
class _BlockOutcome:
    """One block's masks (picklable: ranks exchange them)."""

    index: int
    clean: np.ndarray
    results: dict[str, AttackResult] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(_PHASES, 0.0))


def block_seed(seed: int, index: int) -> int:
    """The seed of block ``index``: every block draws its own random starts, so a block's outcome
    does not depend on which process runs it or on the blocks before it."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def _run_block(plan: _Plan, index: int, x_np: np.ndarray, labels: np.ndarray) -> _BlockOutcome:
    xt = torch.as_tensor(np.asarray(x_np, dtype=np.float32), device=plan.device)
    yt = torch.as_tensor(labels, device=plan.device)
    seed = block_seed(plan.seed, index)
    start = time.perf_counter()
    with eval_mode(plan.classifier.model), torch.no_grad():
        clean = Float32(plan.model)(xt).argmax(1) == yt
    outcome = _BlockOutcome(index, clean.cpu().numpy())
    outcome.seconds["clean"] = time.perf_counter() - start
    if plan.pgd_steps > 0:
        start = time.perf_counter()
        generator = torch.Generator(device=plan.device).manual_seed(seed)
        with eval_mode(plan.classifier.model):
            _, mask = pgd_batch_masks(plan.model, xt, yt, eps=plan.eps, norm=plan.norm, steps=plan.pgd_steps,
                                      restarts=plan.pgd_restarts, clip_values=plan.clip, generator=generator,
                                      loss=plan.pgd_loss)
        outcome.seconds["pgd"] = time.perf_counter() - start
        outcome.results["pgd"] = _pgd_result(plan, mask.cpu().numpy(), outcome.seconds["pgd"])
    version = plan.autoattack_version
    if version is not None:
        start = time.perf_counter()
        if version in NATIVE_LIST_NAMES:
            with eval_mode(plan.classifier.model):
                result = run_native_autoattack(plan.model, xt, yt, clean, eps=plan.eps, norm=plan.norm, version=version,
                                               clip_values=plan.clip, nb_classes=int(plan.classifier.nb_classes),
                                               batch_size=plan.batch_size, seed=seed, progress=plan.progress)
        else:
            result = run_art_autoattack(plan.classifier, plan.model, x_np, labels, outcome.clean, plan.eps, plan.norm,
                                        version, min(plan.batch_size, 128), seed)
        outcome.seconds["autoattack"] = time.perf_counter() - start
        outcome.results["autoattack"] = result
    return outcome


def _pgd_result(plan: _Plan, robust: np.ndarray, seconds: float) -> AttackResult:
    steps, restarts, loss = plan.pgd_steps, plan.pgd_restarts, plan.pgd_loss
    loss_name = "cross-entropy" if loss == "ce" else "Carlini-Wagner margin"
    return AttackResult(
        pgd_label(steps, restarts, loss),
        f"art-ext core PGD, {steps} steps of 2.5*eps/{steps}, {restarts} random restarts "
        f"(worst case per example), {loss_name} loss, float32",
        robust, seconds, {"steps": steps, "restarts": restarts, "step": 2.5 * plan.eps / steps, "loss": loss})


def _merged(parts: list[AttackResult], seconds: float) -> AttackResult:
    """One attack's result over every block: masks in block order, counts per member summed (``extra``
    dicts of numbers), ``seconds`` the wall time (the slowest process's)."""
    extra: dict[str, Any] = {}
    for key, value in parts[0].extra.items():
        if isinstance(value, dict):
            extra[key] = {k: sum(p.extra.get(key, {}).get(k, 0) for p in parts) for k in value}
        else:
            extra[key] = value
    return AttackResult(parts[0].name, parts[0].description, np.concatenate([p.robust for p in parts]), seconds,
                        parts[0].params, extra)
