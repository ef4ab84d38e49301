"""Orchestration of a benchmark run: setup, attacks, sanity checks, trainers, text, outputs."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import logging
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from art_ext.bench import attacks as attack_runner
from art_ext.bench import sanity
from art_ext.bench.config import DEFAULT_EPS_INF, DEFAULT_EPS_L2, BenchConfig
from art_ext.bench.report import write_all
from art_ext.bench.setup import BenchInputError, build_target, load_dataset
from art_ext.bench.trainers import check_trainer_params, run_trainers
from art_ext.core.device import hardware_info, set_threads
from art_ext.data import TEXT_DATASETS

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 3  # 2: AutoAttack lists renamed (standard and fast are native; ART's are art-default, art-fast);
#   3: ART's C&W-L2 starts from initial_const 1.0 (was ART's 0.01)
TEXT_BENCH_TARGET = "art_ext_plugins.text.benchmark.suite:run_bench"
#: distributions whose versions change the numbers (pinned exactly by ``tox -e bench-check``)
PINNED = ("torch", "adversarial-robustness-toolbox", "foolbox", "eagerpy", "numpy", "scipy", "scikit-learn")


class BenchUnavailableError(RuntimeError):
    """A suite cannot run here (missing optional dependency or plugin); one-line message."""


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def environment(device: str) -> dict[str, Any]:
    """Versions, machine and device recorded in results.json."""
    import art_ext

    versions = {
        "art-ext": art_ext.__version__,
        "adversarial-robustness-toolbox": _version("adversarial-robustness-toolbox"),
        "foolbox": _version("foolbox"),
        "torch": torch.__version__,
        "transformers": _version("transformers"),
        "numpy": np.__version__,
        "python": platform.python_version(),
    }

    for dist in PINNED:
        versions.setdefault(dist, _version(dist))
    info: dict[str, Any] = {
        "versions": versions,
        "machine": f"{platform.system()} {platform.machine()} ({platform.processor() or platform.node()})",
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": device,
        "hardware": hardware_info(),
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def eps_grids(config: BenchConfig, clip_values: tuple[float, float]) -> tuple[list[float], list[float]]:
    """The Linf and L2 grids: the user's, else the dataset's defaults scaled to the clip range."""
    scale = float(clip_values[1] - clip_values[0])
    inf = config.eps if config.eps is not None else [e * scale for e in DEFAULT_EPS_INF.get(config.dataset, DEFAULT_EPS_INF["mnist"])]
    l2 = config.eps_l2 if config.eps_l2 is not None else [e * scale for e in DEFAULT_EPS_L2.get(config.dataset, DEFAULT_EPS_L2["mnist"])]
    return list(inf), list(l2)


def reference_eps(grid: list[float]) -> float:
    """The eps the model-level checks use: the middle of the Linf grid."""
    return grid[len(grid) // 2]


def _select_image_attacks(config: BenchConfig) -> tuple[list[str], dict[str, attack_runner.Candidate], list[dict[str, str]]]:
    candidates = attack_runner.available_attacks()
    names = attack_runner.select(config.attacks, candidates, "attack")
    skipped = [{"name": n, "reason": "text attack: run `art-ext bench text`"} for n in names
               if candidates[n].modality == "text"]
    return [n for n in names if candidates[n].modality != "text"], candidates, skipped


def _select_trainers(config: BenchConfig) -> tuple[list[str], list[dict[str, str]]]:
    import art_ext

    registry = art_ext.get_plugin_manager().trainers
    candidates = {e.name: e for e in registry.entries()}
    names = attack_runner.select(config.trainers, candidates, "trainer")  # type: ignore[arg-type]
    skipped = [{"name": n, "reason": "text trainer: run `art-ext bench text`"} for n in names
               if candidates[n].modality == "text"]
    return [n for n in names if candidates[n].modality != "text"], skipped


def run(
    config: BenchConfig, *, wrap: Callable[[nn.Module], nn.Module] | None = None, command: str | None = None,
    write: bool = True, progress: bool = True,
) -> dict[str, Any]:
    """Run the suite of ``config`` and (``write``) write every output under ``config.out``.

    Everything that can be wrong with the input (names, data, model shapes) fails before the
    first attack runs.
    """
    start = time.perf_counter()
    results_cpu_start = time.process_time()

    # the machine rule (art_ext.core.device): 1 thread for the 8x8 digits SmallCNN, else the cores
    set_threads(config.threads, small_model=config.dataset == "digits" and config.model is None)
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    results: dict[str, Any] = {
        "schema": SCHEMA_VERSION, "suite": config.suite, "config": config.to_dict(),
        "command": command or "art-ext bench", "checks": [], "skipped": [],
    }
    if config.suite == "text":
        results["environment"] = environment("cpu")
        results["text"] = run_text(config)
        results["model"] = {}
        return _finish(results, config, start, write, results_cpu_start)

    do_attacks = config.suite in ("default", "attacks")
    do_trainers = config.suite == "trainers"
    attack_names: list[str] = []
    candidates: dict[str, attack_runner.Candidate] = {}
    trainer_names: list[str] = []
    if do_attacks:
        attack_names, candidates, skipped = _select_image_attacks(config)
        results["skipped"].extend(skipped)
    if do_trainers:
        trainer_names, skipped = _select_trainers(config)
        results["skipped"].extend(skipped)

    check_param_names(config)
    dataset = load_dataset(config)
    target = build_target(config, dataset, wrap=wrap)
    results["environment"] = environment(target.model_info["device"])
    results["data"] = {"dataset": dataset.name, "split": dataset.split, "n_train": len(dataset.x_train),
                       "n_test": len(dataset.x_test)}
    n_eval = min(config.n_test, len(dataset.x_test))
    x, y = dataset.x_test[:n_eval], dataset.y_test[:n_eval]
    clean_pred = np.argmax(target.classifier.predict(x, batch_size=config.batch_size), axis=1)
    target.model_info["clean_accuracy"] = float(np.mean(clean_pred == y))
    results["model"] = target.model_info
    results["n_eval"] = n_eval
    eps_inf, eps_l2 = eps_grids(config, tuple(dataset.clip_values))
    results["eps_grid"] = {"inf": eps_inf, "2": eps_l2}

    for name in attack_names:
        attack_runner.check_attack_params(name, target.classifier, config)
    if do_trainers:
        check_trainer_params(config, trainer_names, tuple(dataset.input_shape), int(target.classifier.nb_classes))
    show = None if progress else True  # tqdm: bars only on a terminal, never with progress=False
    if do_attacks:
        data = {"x": x, "y": y, "clean_pred": clean_pred, "x_train": dataset.x_train, "y_train": dataset.y_train}
        rows: list[dict[str, Any]] = []
        bar = tqdm(attack_names, desc="attacks", unit="attack", disable=show)
        for name in bar:
            bar.set_postfix_str(name)
            for row in attack_runner.run_attack(name, candidates[name], target, data, config, eps_inf, eps_l2):
                if row.get("eps_mode") == "skipped":
                    results["skipped"].append({"name": name, "reason": row["skipped"]})
                else:
                    rows.append(row)
        bar.close()
        results["attacks"] = rows
        results["notes"] = [f"{name}: the attack has no norm; benchmarked as Linf" for name in
                            sorted({r["attack"] for r in rows if r.get("norm_assumed")})]
        if config.checks:
            n_check = min(config.n_check, n_eval)
            eps_ref = reference_eps(eps_inf)
            bar = tqdm(total=sanity.MODEL_CHECK_STEPS, desc="sanity checks", unit="check", disable=show)
            model_checks = sanity.model_checks(target, dataset, x[:n_check], y[:n_check], config, eps_ref, bar)
            bar.close()
            failed = sanity.apply_model_flags(rows, model_checks)
            if failed:
                logger.warning("gradient masking suspected (%s): white-box results are flagged", ", ".join(failed))
            results["checks"] = model_checks + sanity.row_checks(rows)
    if do_trainers:
        template = None
        if config.model is not None and ":" not in config.model:
            template = target.counter.model
        bar = tqdm(total=len(trainer_names), desc="trainers", unit="trainer", disable=show)

        trainer_rows, settings = run_trainers(config, dataset, trainer_names, template,
                                              int(target.classifier.nb_classes), bar)
        bar.close()
        results["trainers"] = trainer_rows
        results["trainer_settings"] = settings
    results["flagged"] = any(r.get("flags") for r in results.get("attacks", []) + results.get("trainers", []))
    results["failed"] = sorted({r.get("attack") or r.get("trainer") for r in results.get("attacks", []) + results.get("trainers", [])
                                if r.get("error")})
    return _finish(results, config, start, write, results_cpu_start)


def check_param_names(config: BenchConfig) -> None:
    """Every ``--param NAME:...`` names a registered attack or trainer (a typo fails early); a
    registered one that is not selected is only logged."""
    import difflib

    import art_ext

    manager = art_ext.get_plugin_manager()
    known = set(manager.attacks.names()) | set(manager.trainers.names())
    for name in sorted(config.params):
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise BenchInputError(f"--param {name}:...: {name!r} is not a registered attack or trainer{hint}")


def _finish(results: dict[str, Any], config: BenchConfig, start: float, write: bool, cpu_start: float) -> dict[str, Any]:
    results["wall_time_s"] = time.perf_counter() - start
    results["cpu_time_s"] = time.process_time() - cpu_start
    try:
        results["load_average"] = list(os.getloadavg())
    except OSError:
        results["load_average"] = None
    if write:
        write_all(results, Path(config.out))
    return results


def run_text(config: BenchConfig) -> dict[str, Any]:
    """Delegate to the text plugin's benchmark, ``art_ext_plugins.text.benchmark.suite:run_bench``.

    Contract: ``run_bench(config: BenchConfig) -> dict`` that writes nothing outside
    ``config.out`` and returns a JSON-able dict with at least ``summary`` (a flat dict of
    headline numbers); ``rows`` (attack rows with the keys of :data:`ROW_KEYS`) are optional.
    """
    if importlib.util.find_spec("transformers") is None:
        raise BenchUnavailableError("`art-ext bench text` needs transformers: pip install 'art-ext[text]'")
    module_name, _, attribute = TEXT_BENCH_TARGET.partition(":")
    try:
        found = importlib.util.find_spec(module_name) is not None
    except ModuleNotFoundError:
        found = False
    if not found:
        raise BenchUnavailableError(
            f"the text plugin provides no benchmark ({TEXT_BENCH_TARGET} not found); "
            "is art-ext's text plugin installed and enabled?"
        )
    function = getattr(importlib.import_module(module_name), attribute, None)
    if not callable(function):
        raise BenchUnavailableError(f"{TEXT_BENCH_TARGET} is not a function")
    if config.dataset not in TEXT_DATASETS:
        raise BenchInputError(f"`art-ext bench text` runs on text data ({', '.join(TEXT_DATASETS)}), "
                              f"not --dataset {config.dataset}")
    outcome = function(config)
    if not isinstance(outcome, dict):
        raise BenchUnavailableError(f"{TEXT_BENCH_TARGET} returned {type(outcome).__name__}, not a dict")
    return outcome
