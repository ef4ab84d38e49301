"""Running attacks for the benchmark: selection by name or glob, parameter checks, the eps grid,
timing, queries.

Attacks come from the plugin registry only (``art_ext.get_plugin_manager().attacks``): ART's
(``art.*``) and Foolbox's (``foolbox.*``, ART ``EvasionAttack``s of the built-in ``standard``
plugin), art-ext's and third-party plugins' appear alike, without code changes here.

What the bench reads from an attack (``docs/bench.md``): ``eps`` in ``attack_params`` makes it a
fixed-budget attack, run once per eps of the grid of its ``norm`` (``np.inf``/``"inf"`` or
``2``); an attack without ``norm`` is benchmarked as Linf (recorded as ``norm_assumed``).
Attacks without ``eps`` are minimal-perturbation attacks (DeepFool, C&W): run once, their robust
accuracy at each eps of the grid read from the per-example perturbation norms ("threshold" rows).
"""

from __future__ import annotations

import contextlib
import fnmatch
import inspect
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from art_ext import checks
from art_ext.bench.config import SUITE_KEYS, BenchConfig
from art_ext.bench.metrics import (
    attack_metrics,
    perturbation_norms,
    threshold_metrics,
)
from art_ext.bench.setup import BenchInputError, BenchTarget
from art_ext.registry import UnknownAttackError, UnknownTrainerError

logger = logging.getLogger(__name__)

# Norm of minimal-perturbation attacks that do not carry a ``norm`` attribute.
MINIMAL_NORMS: dict[str, str] = {"art.deepfool": "2", "art.cw_l2": "2"}
#: the norm an attack without one is benchmarked under
ASSUMED_NORM = "inf"

ROW_KEYS = (
    "attack", "source", "threat", "norm", "eps", "eps_mode", "n", "clean_accuracy",
    "robust_accuracy", "success_rate", "linf_mean", "linf_max", "l2_mean", "l2_max",
    "time_s", "cpu_time_s", "time_per_example_s", "examples_per_s", "queries_per_example", "fit_time_s",
    "flags", "error", "params", "norm_assumed",
)


@dataclass(frozen=True)
class Candidate:
    """An attack the suite can run."""

    name: str
    source: str
    modality: str
    description: str


def available_attacks() -> dict[str, Candidate]:
    """Registered attacks (all modalities), by name."""
    import art_ext

    return {entry.name: Candidate(entry.name, entry.plugin, entry.modality, entry.description)
            for entry in art_ext.get_plugin_manager().attacks.entries()}


def select(patterns: list[str], candidates: dict[str, Candidate], kind: str = "attack") -> list[str]:
    """Names matching ``patterns`` (exact names or globs), in pattern order, without repeats.

    :raises UnknownAttackError: (or ``UnknownTrainerError``) for a pattern that matches nothing,
        listing the available names.
    """
    names = sorted(candidates)
    chosen: list[str] = []
    for raw in patterns:
        pattern = raw.strip()
        if not pattern:
            continue
        matches = fnmatch.filter(names, pattern) if any(c in pattern for c in "*?[") else (
            [pattern] if pattern in candidates else []
        )
        if not matches:
            error = UnknownAttackError if kind == "attack" else UnknownTrainerError
            what = "matches no" if any(c in pattern for c in "*?[") else "is not a registered"
            raise error(f"{pattern!r} {what} {kind}; available: {', '.join(names) or '(none)'}")
        chosen.extend(m for m in matches if m not in chosen)
    if not chosen:
        raise ValueError(f"no {kind}s selected")
    return chosen


def threat_model(attack: Any) -> str:
    """The attack's ``threat_model`` attribute if it declares one; "ensemble" for attack lists
    (AutoAttack); a ``mode`` naming white/black box (AdvGAN); else "white-box" when ART's
    ``_estimator_requirements`` ask for gradients and "black-box" when they do not."""
    from art.estimators.classification.classifier import ClassGradientsMixin
    from art.estimators.estimator import LossGradientsMixin

    declared = getattr(attack, "threat_model", None)
    if isinstance(declared, str):
        return declared
    if isinstance(getattr(attack, "attacks", None), (list, tuple)):
        return "ensemble"
    mode = str(getattr(attack, "mode", "")).lower()
    if "white" in mode:  # e.g. AdvGAN's semi-whitebox: gradients while training, none at attack time
        return "semi-white-box"
    if "black" in mode:
        return "black-box"
    requirements: list[Any] = []
    for req in getattr(attack, "_estimator_requirements", ()) or ():
        requirements.extend(req if isinstance(req, tuple) else (req,))
    if any(inspect.isclass(r) and issubclass(r, (LossGradientsMixin, ClassGradientsMixin)) for r in requirements):
        return "white-box"
    return "black-box"


def seed_everything(seed: int) -> None:
    np.random.seed(seed)
    torch.manual_seed(seed)


def _empty_row(name: str, source: str) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(ROW_KEYS)
    row.update({"attack": name, "source": source, "flags": []})
    return row


def _eps_grid(config: BenchConfig, norm: str | None, eps_inf: list[float], eps_l2: list[float]) -> list[float] | None:
    if norm == "inf":
        return eps_inf
    if norm == "2":
        return eps_l2
    return None


def _fit_if_needed(attack: Any, x_train: np.ndarray, y_train: np.ndarray) -> float | None:
    fit = getattr(attack, "fit", None)
    if not callable(fit):
        return None
    kwargs: dict[str, Any] = {}
    with contextlib.suppress(TypeError, ValueError):
        if "y" in inspect.signature(fit).parameters:
            kwargs["y"] = y_train
    start = time.perf_counter()
    fit(x_train, **kwargs)
    return time.perf_counter() - start


def _build(name: str, classifier: Any, params: dict[str, Any], eps: float | None, aa_version: str | None = None) -> Any:
    import art_ext

    if aa_version is not None:
        params = {**params, "version": aa_version}
    if eps is None:
        return art_ext.get_attack(name, classifier, **params)
    try:
        return art_ext.get_attack(name, classifier, **{**params, "eps": eps})
    except TypeError as error:
        if "eps" not in str(error):
            raise
        attack = art_ext.get_attack(name, classifier, **params)
        attack.set_params(eps=eps)
        return attack


def _timed(target: BenchTarget, run: Callable[[], np.ndarray]) -> tuple[np.ndarray, tuple[float, float], int]:
    target.counter.reset()
    start, cpu_start = time.perf_counter(), time.process_time()
    x_adv = run()
    elapsed = (time.perf_counter() - start, time.process_time() - cpu_start)
    return np.asarray(x_adv, dtype=np.float32), elapsed, target.counter.count


def _fill(row: dict[str, Any], n: int, times: tuple[float, float], queries: int) -> None:
    """Wall-clock time drives time/example and examples/s; CPU time (all threads of this
    process) is kept beside it, since on a loaded machine wall time overstates the cost."""
    elapsed, cpu = times
    row["time_s"] = elapsed
    row["cpu_time_s"] = cpu
    row["time_per_example_s"] = elapsed / n
    row["examples_per_s"] = n / elapsed if elapsed > 0 else None
    row["queries_per_example"] = queries / n


def _minimal_rows(base: dict[str, Any], x: np.ndarray, y: np.ndarray, clean_pred: np.ndarray,
                  x_adv: np.ndarray, adv_pred: np.ndarray, grid: list[float] | None) -> list[dict[str, Any]]:
    rows = []
    unbounded = {**base, **attack_metrics(y, clean_pred, adv_pred, x, x_adv), "eps": None, "eps_mode": "minimal"}
    rows.append(unbounded)
    if grid:
        linf, l2 = perturbation_norms(x, x_adv)
        norms = linf if base["norm"] == "inf" else l2
        for eps in grid:
            row = {**unbounded, "eps": eps, "eps_mode": "threshold", "flags": []}
            row.update(threshold_metrics(y, clean_pred, adv_pred, norms, eps))
            rows.append(row)
    return rows


def run_registry_attack(
    name: str, candidate: Candidate, target: BenchTarget, data: dict[str, np.ndarray],
    config: BenchConfig, eps_inf: list[float], eps_l2: list[float],
) -> list[dict[str, Any]]:
    """All rows of one registered attack over its eps grid."""
    classifier = target.classifier
    params = config.constructor_params(name)
    n = config.example_cap(name)
    x, y, clean_pred = data["x"][:n], data["y"][:n], data["clean_pred"][:n]
    base = _empty_row(name, candidate.source)
    base["params"] = params
    seed_everything(config.seed)
    probe = _build(name, classifier, params, None)
    fixed = "eps" in (getattr(probe, "attack_params", None) or [])
    norm = checks.norm_name(getattr(probe, "norm", None)) or MINIMAL_NORMS.get(name)
    if norm is None:
        norm = ASSUMED_NORM
        base["norm_assumed"] = True
        logger.info("attack %s has no norm: benchmarked as Linf", name)
    base.update({"threat": threat_model(probe), "norm": norm})
    grid = _eps_grid(config, norm, eps_inf, eps_l2)
    low, high = classifier.clip_values
    grid = config.eps_override(name, float(high - low)) or grid
    rows: list[dict[str, Any]] = []
    if fixed:
        if grid is None:
            return [{**base, "eps_mode": "skipped",
                     "skipped": f"norm {norm} is not benchmarked (grids exist for Linf and L2)"}]
        aa_version = config.attack_params(name).get("aa_version") if isinstance(getattr(probe, "attacks", None), list) else None
        if aa_version is not None:
            base["params"] = {**params, "aa_version": aa_version}
        for eps in grid:
            seed_everything(config.seed)
            attack = _build(name, classifier, params, eps, aa_version)
            fit_time = _fit_if_needed(attack, data["x_train"], data["y_train"])
            x_adv, elapsed, queries = _timed(target, lambda a=attack: a.generate(x, y=y))  # type: ignore[misc]
            adv_pred = np.argmax(classifier.predict(x_adv, batch_size=config.batch_size), axis=1)
            row = {**base, **attack_metrics(y, clean_pred, adv_pred, x, x_adv), "eps": eps,
                   "eps_mode": "fixed", "fit_time_s": fit_time, "flags": []}
            _fill(row, n, elapsed, queries)
            rows.append(row)
        return rows
    fit_time = _fit_if_needed(probe, data["x_train"], data["y_train"])
    x_adv, elapsed, queries = _timed(target, lambda: probe.generate(x, y=y))
    adv_pred = np.argmax(classifier.predict(x_adv, batch_size=config.batch_size), axis=1)
    base["fit_time_s"] = fit_time
    _fill(base, n, elapsed, queries)
    return _minimal_rows(base, x, y, clean_pred, x_adv, adv_pred, grid)


def run_attack(
    name: str, candidate: Candidate, target: BenchTarget, data: dict[str, np.ndarray],
    config: BenchConfig, eps_inf: list[float], eps_l2: list[float],
) -> list[dict[str, Any]]:
    """Rows of one attack; an attack that raises gives one row with ``error`` set instead."""
    try:
        return run_registry_attack(name, candidate, target, data, config, eps_inf, eps_l2)
    except Exception as error:
        first = (str(error).strip().splitlines() or [""])[0]
        logger.warning("attack %s failed: %s: %s", name, type(error).__name__, first)
        row = _empty_row(name, candidate.source)
        row["error"] = f"{type(error).__name__}: {first}"
        row["flags"] = ["error"]
        return [row]


def _signature_names(target: Any) -> set[str]:
    try:
        parameters = inspect.signature(target).parameters.values()
    except (TypeError, ValueError):
        return set()
    return {p.name for p in parameters if p.kind not in (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)}


def check_attack_params(name: str, classifier: Any, config: BenchConfig) -> None:
    """Fail (:class:`BenchInputError`, one line) when a ``--param name:KEY=VALUE`` names no
    parameter of the attack or a value the attack rejects; run before any attack runs."""
    import art_ext

    user = config.params.get(name, {})
    if not user:
        return
    config.example_cap(name)  # the suite's own keys are checked by their readers
    config.eps_override(name)
    try:
        probe = _build(name, classifier, config.constructor_params(name), None)
    except (TypeError, ValueError) as error:
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        keys = [k for k in user if f"'{k}'" in first or f" {k}" in first] or sorted(user)
        raise BenchInputError(f"--param {name}:{keys[0]}: {name} rejects it ({first})") from None
    accepted = set(getattr(probe, "attack_params", None) or []) | _signature_names(
        art_ext.get_plugin_manager().attacks[name].load()) | set(SUITE_KEYS)
    accepted.discard("estimator")
    unknown = sorted(set(user) - accepted)
    if unknown:
        raise BenchInputError(
            f"--param {name}:{unknown[0]}: {name} has no parameter {unknown[0]!r}; it takes "
            f"{', '.join(sorted(accepted - set(SUITE_KEYS)))} (suite keys: {', '.join(SUITE_KEYS)})"
        )
