"""Robust accuracy: its one definition and the evaluation every figure in art-ext comes from.

**Definition.** An example is *robust* under an attack when the model classifies it correctly
both clean and after the attack (:func:`robust_mask`; RobustBench's convention: a clean mistake
is never robust, even if the attack's output happens to be classified correctly). Robust
accuracy is the share of robust examples among all evaluated ones. The worst case over several
attacks is robust only where every attack failed.

**Evaluation.** :func:`evaluate` runs, always in float32 and in eval mode (whatever precision a
model was trained in, and restoring every sub-module's mode afterwards):

* ``pgd``: the core's PGD (:func:`art_ext.core.perturb.pgd`) with ``pgd_steps`` steps of size
  ``2.5 * eps / pgd_steps`` and ``pgd_restarts`` random restarts, the worst case kept per example;
* ``autoattack``: ART's :class:`~art.attacks.evasion.AutoAttack` with a named attack list:
  ``"standard"`` is ART's default list (APGD-CE and APGD-DLR, 100 iterations and 5 restarts
  each; DeepFool; Square with 5,000 queries and 5 restarts); ``"fast"`` is a *reduced* list
  (APGD-CE and APGD-DLR with 1 restart each, Square with 1,000 queries) and is never called
  AutoAttack in a table.

:class:`EvaluationReport` keeps the per-example masks (which images each attack broke), so the
worst case is exact and attacks can be added later without rerunning the others; every accuracy
comes with its 95% Wilson interval.

Trainers' per-epoch validation uses the same definition through :func:`pgd_batch_masks`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from art_ext import checks
from art_ext.evaluation.stats import wilson_interval

logger = logging.getLogger(__name__)

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
]

#: the named AutoAttack attack lists and what each holds
AUTOATTACK_LISTS: dict[str, str] = {
    "standard": "ART AutoAttack, standard list: APGD-CE and APGD-DLR (100 iterations, 5 restarts each), "
    "DeepFool (100 iterations), Square (5,000 queries, 5 restarts)",
    "fast": "reduced AutoAttack list 'fast' (not AutoAttack): APGD-CE and APGD-DLR (100 iterations, "
    "1 restart each), Square (1,000 queries, 1 restart)",
}


def robust_mask(y: Any, clean_pred: Any, adv_pred: Any) -> Any:
    """Per-example robustness: correct clean **and** correct under attack (numpy or torch)."""
    return (clean_pred == y) & (adv_pred == y)


def pgd_label(steps: int, restarts: int, loss: str = "ce") -> str:
    """The table name of a PGD evaluation, e.g. ``"PGD-50x10"`` (``"PGD-50x10-margin"``)."""
    return f"PGD-{steps}x{restarts}" + ("" if loss == "ce" else f"-{loss}")


def autoattack_label(version: str) -> str:
    """The table name of an AutoAttack list: only the full list is called AutoAttack."""
    checks.choice(version, "autoattack", tuple(AUTOATTACK_LISTS))
    return "AutoAttack (standard)" if version == "standard" else "reduced AA list 'fast'"


def mask_to_string(mask: Any) -> str:
    """``"0110..."`` (1 = robust), the form masks take in results files."""
    return "".join("1" if bool(v) else "0" for v in np.asarray(mask).reshape(-1))


def string_to_mask(text: str) -> np.ndarray:
    """Inverse of :func:`mask_to_string`."""
    if set(text) - {"0", "1"}:
        raise ValueError(f"a mask string holds only 0 and 1, got {text[:20]!r}...")
    return np.frombuffer(text.encode(), dtype=np.uint8) == ord("1")


# --------------------------------------------------------------------------- fp32 and modes


class _Float32(nn.Module):
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
    from art_ext.core import perturb

    checks.integer(steps, "steps", minimum=1)  # zero steps attack nothing: robust would equal clean
    forward = _Float32(model)
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


def _losses() -> dict[str, Any]:
    from art_ext.core import perturb

    return {"ce": perturb.cross_entropy, "margin": perturb.margin_loss}


class _LossTable(dict):  # type: ignore[type-arg]
    def __missing__(self, key: str) -> Any:
        table = _losses()
        if key not in table:
            raise ValueError(f"pgd loss must be one of {sorted(table)}, got {key!r}")
        return table[key]


#: PGD's losses by name: cross-entropy and the Carlini-Wagner margin
PGD_LOSSES: dict[str, Any] = _LossTable()


# --------------------------------------------------------------------------- AutoAttack


def autoattack(classifier: Any, eps: float, version: str = "standard", norm: Any = "inf", batch_size: int = 128,
               cls: type | None = None) -> Any:
    """ART ``AutoAttack`` (or its subclass ``cls``) at ``eps`` with the named list (see
    :data:`AUTOATTACK_LISTS`), progress bars off.

    APGD's initial step is ``2 * eps`` as in Croce & Hein (2020) (ART's ``eps_step = eps``).
    """
    from art.attacks.evasion import AutoAttack, AutoProjectedGradientDescent, SquareAttack

    checks.choice(version, "autoattack", tuple(AUTOATTACK_LISTS))
    order = checks.norm_order(norm)
    eps = checks.check_eps(eps, norm=norm, clip_values=classifier.clip_values, input_shape=tuple(classifier.input_shape))
    checks.integer(batch_size, "batch_size", minimum=1)
    attacks: list[Any] | None = None
    if version == "fast":
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


# --------------------------------------------------------------------------- the report


@dataclass
class AttackResult:
    """One attack's per-example outcome inside an :class:`EvaluationReport`."""

    name: str
    description: str
    robust: np.ndarray
    seconds: float = 0.0
    params: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def accuracy(self) -> float:
        return float(np.mean(self.robust)) if len(self.robust) else float("nan")

    def to_dict(self) -> dict[str, Any]:
        k, n = int(np.sum(self.robust)), len(self.robust)
        return {"name": self.name, "description": self.description, "accuracy": self.accuracy,
                "ci95": list(wilson_interval(k, n)), "n": n, "seconds": self.seconds, "params": self.params,
                "robust_mask": mask_to_string(self.robust), **({"extra": self.extra} if self.extra else {})}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AttackResult:
        return cls(data["name"], data["description"], string_to_mask(data["robust_mask"]), data.get("seconds", 0.0),
                   dict(data.get("params", {})), dict(data.get("extra", {})))


@dataclass
class EvaluationReport:
    """Clean correctness and per-attack robustness of one model on one set of examples."""

    eps: float
    norm: str
    clean: np.ndarray
    attacks: dict[str, AttackResult] = field(default_factory=dict)
    precision: str = "fp32"
    info: dict[str, Any] = field(default_factory=dict)
    checks: list[dict[str, Any]] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.clean)

    def add(self, result: AttackResult) -> None:
        """Add (or replace) an attack's result: a boolean mask over the same examples, robust only
        where the example is correct clean (:func:`robust_mask`)."""
        robust = np.asarray(result.robust)
        if robust.shape != (self.n,):
            covered = robust.shape[0] if robust.ndim == 1 else robust.shape
            raise ValueError(f"attack {result.name!r} covers {covered} examples, the report {self.n}")
        if robust.dtype != np.bool_:
            raise TypeError(f"attack {result.name!r}: robust must be a boolean mask, got dtype {robust.dtype}")
        wrong = robust & ~np.asarray(self.clean, dtype=bool)
        if wrong.any():
            raise ValueError(
                f"attack {result.name!r} marks {int(wrong.sum())} examples robust that are misclassified clean "
                f"(first: {int(np.nonzero(wrong)[0][0])}); robust means correct clean and under attack (robust_mask)"
            )
        self.attacks[result.name] = result

    def mask(self, name: str) -> np.ndarray:
        """Per-example robustness under ``name``, ``"clean"`` or ``"worst"``."""
        if name == "clean":
            return self.clean
        if name == "worst":
            return self.worst_case
        try:
            return self.attacks[name].robust
        except KeyError:
            raise KeyError(f"no attack {name!r} in this report; it has {sorted(self.attacks)}") from None

    @property
    def worst_case(self) -> np.ndarray:
        """Robust under every attack in the report (and correct clean).

        :raises ValueError: the report holds no attack (no attack means no robust figure)."""
        if not self.attacks:
            raise ValueError("no attack in this report: it has clean accuracy only, no robust or worst-case figure")
        mask = self.clean.copy()
        for result in self.attacks.values():
            mask &= result.robust
        return mask

    def accuracy(self, name: str = "worst") -> float:
        mask = self.mask(name)
        return float(np.mean(mask)) if len(mask) else float("nan")

    def interval(self, name: str = "worst") -> tuple[float, float]:
        mask = self.mask(name)
        return wilson_interval(int(np.sum(mask)), len(mask))

    def to_dict(self) -> dict[str, Any]:
        k, n = int(np.sum(self.clean)), self.n
        worst = self.worst_case if self.attacks else None
        return {
            "eps": self.eps, "norm": self.norm, "n": n, "precision": self.precision,
            "definition": "robust = correct clean and correct under attack; worst case = robust under every attack",
            "clean": {"accuracy": k / n if n else float("nan"), "ci95": list(wilson_interval(k, n)),
                      "mask": mask_to_string(self.clean)},
            "attacks": {name: r.to_dict() for name, r in self.attacks.items()},
            "worst_case": None if worst is None else {
                "accuracy": float(np.mean(worst)) if n else float("nan"),
                "ci95": list(wilson_interval(int(np.sum(worst)), n)), "mask": mask_to_string(worst),
                "attacks": sorted(self.attacks)},
            "info": self.info, "checks": self.checks,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EvaluationReport:
        report = cls(float(data["eps"]), str(data["norm"]), string_to_mask(data["clean"]["mask"]),
                     precision=data.get("precision", "fp32"), info=dict(data.get("info", {})),
                     checks=list(data.get("checks", [])))
        for result in data.get("attacks", {}).values():
            report.add(AttackResult.from_dict(result))
        return report


# --------------------------------------------------------------------------- evaluate


def _batches(n: int, batch_size: int) -> Iterator[slice]:
    for start in range(0, n, batch_size):
        yield slice(start, min(n, start + batch_size))


def eval_module(classifier: Any, channels_last: bool | None = None) -> tuple[nn.Module, torch.device, bool]:
    """The classifier's forward on raw inputs for evaluation: ``(module, device, channels_last)``.

    ``channels_last=None`` feeds conv nets on a CPU channels_last inputs (oneDNN's fast layout;
    the arithmetic stays float32). Raises if the model holds non-float32 weights.
    """
    from art_ext.core.device import has_conv, model_device
    from art_ext.core.forward import ChannelsLast, classifier_forward

    checks.model_weights(classifier.model)
    module = classifier_forward(classifier)
    device = model_device(classifier.model)
    if channels_last is None:
        channels_last = has_conv(classifier.model) and device.type == "cpu"
    return (ChannelsLast(module) if channels_last else module), device, bool(channels_last)


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
    :param autoattack_version: ``"standard"``, ``"fast"`` or ``None`` (no AutoAttack).
    :param channels_last: feed conv nets channels_last inputs (still float32; default: on CPUs).
    :param masking_checks: also run :func:`art_ext.evaluation.masking.gradient_masking_checks`
        (on the first ``masking_n`` examples).
    :param pgd_loss: PGD's loss, ``"ce"`` (cross-entropy) or ``"margin"`` (Carlini-Wagner).
    :return: the :class:`EvaluationReport` (per-example masks, accuracies, 95% intervals, times).
    """
    from art_ext.core.device import restore_modes, snapshot_modes

    modes = snapshot_modes(classifier.model)
    try:
        return _evaluate(classifier, x, y, eps=eps, norm=norm, pgd_steps=pgd_steps, pgd_restarts=pgd_restarts,
                         autoattack_version=autoattack_version, batch_size=batch_size, seed=seed,
                         channels_last=channels_last, masking_checks=masking_checks, masking_n=masking_n,
                         pgd_loss=pgd_loss, progress=progress)
    finally:  # ART's estimators switch modes and leave them: every sub-module gets its own back
        restore_modes(modes)


def _evaluate(
    classifier: Any, x: Any, y: Any, *, eps: float, norm: Any, pgd_steps: int, pgd_restarts: int,
    autoattack_version: str | None, batch_size: int, seed: int, channels_last: bool | None, masking_checks: bool,
    masking_n: int, pgd_loss: str, progress: bool,
) -> EvaluationReport:
    from tqdm.auto import tqdm

    from art_ext.core.device import eval_mode

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
        clean = torch.cat([_Float32(model)(xt[s]).argmax(1) == yt[s] for s in _batches(n, batch_size)])
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
    if autoattack_version is not None:
        report.add(_run_autoattack(classifier, model, x_np, labels, report.clean, eps, key, autoattack_version,
                                   min(batch_size, 128), seed))
        bar.update(1)
    bar.close()
    if masking_checks:
        from art_ext.evaluation.masking import gradient_masking_checks

        m = min(n, checks.integer(masking_n, "masking_n", minimum=1))
        report.checks = gradient_masking_checks(classifier, x_np[:m], labels[:m], eps=eps, norm=key, report=report,
                                                seed=seed)
    return report


def _run_autoattack(
    classifier: Any, model: nn.Module, x: np.ndarray, labels: np.ndarray, clean: np.ndarray, eps: float,
    norm: str, version: str, batch_size: int, seed: int,
) -> AttackResult:
    """ART's AutoAttack on a float32 ART classifier around ``model``; outputs kept only inside the ball."""
    from art.estimators.classification import PyTorchClassifier

    from art_ext.core.device import eval_mode
    from art_ext.core.perturb import constrain

    np.random.seed(seed)
    torch.manual_seed(seed)
    nb_classes = int(classifier.nb_classes)
    eval_classifier = PyTorchClassifier(
        model=_Float32(model), loss=nn.CrossEntropyLoss(), input_shape=tuple(classifier.input_shape),
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
        x_adv_t = constrain(torch.from_numpy(x32), torch.as_tensor(x_adv, dtype=torch.float32), eps, norm, clip)
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


def summary_rows(reports: Sequence[EvaluationReport]) -> list[dict[str, Any]]:
    """Flat rows (attack, accuracy, interval) of several reports, for tables."""
    rows = []
    for report in reports:
        for name in ["clean", *report.attacks, *(["worst"] if report.attacks else [])]:
            low, high = report.interval(name)
            rows.append({"attack": name, "accuracy": report.accuracy(name), "ci95": [low, high], "n": report.n})
    return rows
