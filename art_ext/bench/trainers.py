"""``art-ext bench trainers``: every selected registered trainer at equal settings.

Each trainer gets a freshly initialised copy of the same network (same seed), the same
training data, epochs, batch size, optimizer (Adam, lr 1e-3) and perturbation budget (eps,
step 2.5 * eps / steps, 7 steps for the multi-step trainers). A trainer's factory gets the
settings its signature accepts; the accepted ones are recorded per row, so a single-step
trainer (FBF) is visibly not given ``max_iter``. Evaluation: :func:`art_ext.evaluation.evaluate`
(clean accuracy, PGD-40 with 2 restarts, AutoAttack with the ``--autoattack`` list, 95% intervals,
gradient-masking checks) at the same eps; each row also says whether the collapse guard fired.
"""

from __future__ import annotations

import copy
import inspect
import logging
import time
from typing import Any

import numpy as np
import torch
from torch import nn

from art_ext.bench.config import BenchConfig
from art_ext.bench.setup import BenchInputError, load_user_model
from art_ext.checks import first_line
from art_ext.evaluation import autoattack_label, evaluate, pgd_label
from art_ext.evaluation.masking import tolerance
from art_ext.models import SmallCNN, make_classifier

logger = logging.getLogger(__name__)

DEFAULT_TRAINER_EPS = {"digits": 0.1, "mnist": 0.3}
TRAINER_STEPS = 7


def _accepts(fn: Any) -> tuple[set[str], bool]:
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return set(), True
    names = {p.name for p in parameters}
    var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)
    return names, var_kw


def _filtered(fn: Any, values: dict[str, Any]) -> dict[str, Any]:
    names, var_kw = _accepts(fn)
    return {k: v for k, v in values.items() if k in names or var_kw}


def fresh_model(config: BenchConfig, template: nn.Module | None, input_shape: tuple[int, ...], nb_classes: int) -> nn.Module:
    """The same initial network for every trainer."""
    torch.manual_seed(config.seed)
    if config.model is None:
        return SmallCNN(input_shape, nb_classes)
    if ":" in config.model and template is None:
        model, _ = load_user_model(config, tuple(input_shape), nb_classes)
        return model
    assert template is not None
    return copy.deepcopy(template)


def evaluate_trained(classifier: Any, x: np.ndarray, y: np.ndarray, eps: float, config: BenchConfig) -> dict[str, Any]:
    """Clean, PGD-40 (2 restarts) and (unless ``--autoattack none``) AutoAttack robust accuracy,
    with 95% intervals, plus the gradient-masking checks: :func:`art_ext.evaluation.evaluate`."""
    version = None if config.autoattack == "none" else config.autoattack
    report = evaluate(classifier, x, y, eps=eps, pgd_steps=40, pgd_restarts=2, autoattack_version=version,
                      batch_size=config.batch_size, seed=config.seed, masking_checks=config.checks)
    pgd_name = pgd_label(40, 2)
    aa_name = f"autoattack-{version}" if version else None
    return {
        "clean_accuracy": report.accuracy("clean"), "clean_ci95": list(report.interval("clean")),
        "pgd_label": pgd_name, "pgd_accuracy": report.attacks[pgd_name].accuracy,
        "pgd_ci95": list(report.interval(pgd_name)),
        "autoattack_label": autoattack_label(version) if version else None,
        "autoattack_accuracy": report.attacks[aa_name].accuracy if aa_name else None,
        "autoattack_ci95": list(report.interval(aa_name)) if aa_name else None,
        "worst_case_accuracy": report.accuracy("worst"), "worst_case_ci95": list(report.interval("worst")),
        "checks": report.checks, "evaluation": report.to_dict(),
    }


def build_trainer(name: str, classifier: Any, common: dict[str, Any], user: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """``(trainer, the settings it took)``: the shared settings it accepts, then the user's
    ``--param name:KEY=VALUE`` (an unknown user key is a :class:`BenchInputError`)."""
    import art_ext

    shared = {k: v for k, v in _filtered(art_ext.get_plugin_manager().trainers[name].load(), common).items()
              if k not in user}
    while True:
        try:
            return art_ext.get_trainer(name, classifier, **shared, **user), {**shared, **user}
        except TypeError as error:  # a trainer that fixes a setting itself (FBF: 1 step)
            message = str(error)
            bad_user = [k for k in user if f"'{k}'" in message]
            if bad_user:
                raise BenchInputError(f"--param {name}:{bad_user[0]}: trainer {name} rejects it "
                                      f"({first_line(error)})") from None
            rejected = [k for k in shared if f"'{k}'" in message]
            if not rejected:
                raise
            logger.info("trainer %s does not take %s", name, rejected)
            shared = {k: v for k, v in shared.items() if k not in rejected}


def check_trainer_params(config: BenchConfig, names: list[str], input_shape: tuple[int, ...], nb_classes: int) -> None:
    """Build every trainer that has ``--param`` values once (no training), so a typo fails before
    anything runs."""
    for name in names:
        user = config.params.get(name, {})
        if not user:
            continue
        classifier = make_classifier(SmallCNN(input_shape, nb_classes), input_shape, nb_classes)
        try:
            build_trainer(name, classifier, {"nb_epochs": 1}, user)
        except BenchInputError:
            raise
        except (TypeError, ValueError) as error:
            first = (str(error).strip().splitlines() or [type(error).__name__])[0]
            raise BenchInputError(f"--param {name}: trainer {name} rejects {user} ({first})") from None


def run_trainers(
    config: BenchConfig, dataset: Any, names: list[str], template: nn.Module | None, nb_classes: int, progress: Any = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Rows (one per trainer) and the shared settings."""
    import art_ext

    input_shape = tuple(dataset.input_shape)
    low, high = dataset.clip_values
    eps = config.trainer_eps if config.trainer_eps is not None else DEFAULT_TRAINER_EPS.get(config.dataset, 0.3) * (high - low)
    epochs = config.trainer_epochs
    settings = {
        "epochs": epochs, "eps": eps, "eps_step": 2.5 * eps / TRAINER_STEPS, "max_iter": TRAINER_STEPS,
        "batch_size": config.batch_size, "optimizer": "Adam lr 1e-3", "n_train": len(dataset.x_train),
        "n_eval": min(config.n_check, len(dataset.x_test)), "seed": config.seed,
        "autoattack": config.autoattack,
    }
    x_eval = dataset.x_test[: settings["n_eval"]]
    y_eval = dataset.y_test[: settings["n_eval"]]
    common = {"eps": eps, "eps_step": settings["eps_step"], "max_iter": TRAINER_STEPS,
              "nb_epochs": epochs, "batch_size": config.batch_size}
    registry = art_ext.get_plugin_manager().trainers
    device = "cuda" if (config.device or "").startswith("cuda") else "cpu"
    rows: list[dict[str, Any]] = []
    for name in names:
        entry = registry[name]
        row: dict[str, Any] = {"trainer": name, "source": entry.plugin, "epochs": epochs, "eps": eps, "flags": [],
                               "error": None, "accepted_params": None, "time_s": None, "cpu_time_s": None, "time_per_epoch_s": None,
                               "clean_accuracy": None, "pgd_accuracy": None, "autoattack_accuracy": None,
                               "guard": None}
        if progress is not None:
            progress.set_postfix_str(name)
        try:
            model = fresh_model(config, template, input_shape, nb_classes).to(device)
            classifier = make_classifier(model, input_shape, nb_classes, clip_values=(float(low), float(high)),
                                         device_type=device)
            trainer, kwargs = build_trainer(name, classifier, common, config.params.get(name, {}))
            fit_kwargs = _filtered(trainer.fit, {"nb_epochs": epochs, "batch_size": config.batch_size})
            row["accepted_params"] = {**kwargs, **{f"fit.{k}": v for k, v in fit_kwargs.items()}}
            torch.manual_seed(config.seed)
            np.random.seed(config.seed)
            start, cpu_start = time.perf_counter(), time.process_time()
            # one-hot, ART's convention (its FBF trainer fails on index labels)
            trainer.fit(dataset.x_train, np.eye(nb_classes, dtype=np.float32)[dataset.y_train], **fit_kwargs)
            row["time_s"] = time.perf_counter() - start
            row["cpu_time_s"] = time.process_time() - cpu_start
            row["time_per_epoch_s"] = row["time_s"] / epochs
            trained = trainer.get_classifier() if hasattr(trainer, "get_classifier") else classifier
            trained.model.eval()
            row.update(evaluate_trained(trained, x_eval, y_eval, eps, config))
            tol = tolerance(len(y_eval))
            row["flags"].extend(f"gradient-masking:{c['name']}" for c in row["checks"] if not c["passed"])
            if row["autoattack_accuracy"] is not None and row["pgd_accuracy"] < row["autoattack_accuracy"] - tol:
                row["flags"].append("autoattack-weaker-than-pgd")
            guard = getattr(trainer, "guard", None)
            row["guard"] = None if guard is None else {"fired": len(guard.events), "events": guard.events,
                                                       "checks": guard.checks_run, "seconds": guard.seconds}
        except Exception as error:
            first = (str(error).strip().splitlines() or [""])[0]
            logger.warning("trainer %s failed: %s: %s", name, type(error).__name__, first)
            row["error"] = f"{type(error).__name__}: {first}"
            row["flags"].append("error")
        rows.append(row)
        if progress is not None:
            progress.update(1)
    return rows, settings
