"""``art-ext attack NAME`` for image attacks: the default runner.

:func:`run_image_attack` loads the data set, the ``--model`` (a state dict, or a checkpoint of
``art-ext train``) or the cached SmallCNN that ``art-ext bench`` uses, builds the attack through
the registry, fits it when it learns (``attack.fit``, e.g. AdvGAN) or loads a saved one
(``--load``), attacks the test split and reports robust accuracy, success rate, perturbation norms
and throughput; ``--out`` gets ``results.json`` and the fitted attack (``attack.save``).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Collection
from typing import Any

import numpy as np
import torch

import art_ext
from art_ext import checks
from art_ext.bench.metrics import perturbation_norms
from art_ext.cli.runners import (
    COMMON_OPTIONS,
    describe_params,
    honours,
    option_flag,
    prepare_out,
    write_json,
)
from art_ext.core.device import hardware_info
from art_ext.data import load_image_dataset, subset
from art_ext.evaluation import robust_mask
from art_ext.model_io import load_classifier

__all__ = ["run_image_attack"]


def norm_summary(x: np.ndarray, x_adv: np.ndarray) -> dict[str, float]:
    """Mean and largest Linf and L2 norm of ``x_adv - x`` over the examples."""
    linf, l2 = perturbation_norms(x, x_adv)
    return {"mean_linf": float(linf.mean()), "max_linf": float(linf.max()),
            "mean_l2": float(l2.mean()), "max_l2": float(l2.max())}


#: CLI option -> the attack parameter it sets
_ATTACK_PARAM = {"eps": "eps", "norm": "norm", "targeted": "targeted", "batch_size": "batch_size",
                 "epochs": "nb_epochs"}


def _attack_kwargs(args: argparse.Namespace, name: str, accepted: Collection[str],
                   explicit: Collection[str]) -> dict[str, Any]:
    """Attack parameters from the common options; an option the attack has no parameter for is
    an error naming both."""
    kwargs: dict[str, Any] = {}
    for option, param in _ATTACK_PARAM.items():
        if option not in explicit:
            continue
        if param not in accepted:
            what = {"nb_epochs": "it does not learn (no nb_epochs)"}.get(param, f"it has no {param!r} parameter")
            raise ValueError(f"{option_flag(option)}: attack {name!r} cannot use it: {what}")
        value = getattr(args, option)
        kwargs[param] = (np.inf if value == "inf" else int(value)) if option == "norm" else value
    return kwargs


def _build(args: argparse.Namespace, classifier: Any, explicit: set[str]) -> tuple[Any, bool]:
    """``(attack, loaded)``: built through the registry, or loaded from ``--load``."""
    entry = art_ext.get_plugin_manager().attacks[args.name]
    params: dict[str, Any] = dict(args.params)
    load = getattr(args, "load", None)
    if load is not None:
        target: Any = entry.load()
        if not callable(getattr(target, "load", None)):
            raise ValueError(f"--load: attack {args.name!r} cannot load a saved attack (no load method)")
        for option in ("norm", "epochs", "n_train"):
            if option in explicit:
                raise ValueError(f"{option_flag(option)}: not with --load (the saved attack fixes it; nothing is trained)")
        if "eps" in explicit:
            params["eps"] = args.eps
        try:
            attack = target.load(load, classifier, **params)
        except (ValueError, TypeError, FileNotFoundError):
            raise
        except Exception as error:  # e.g. a truncated file: still one line naming it
            first = checks.first_line(error)
            raise ValueError(f"--load {load}: cannot load ({type(error).__name__}: {first})") from None
        if "targeted" in explicit and not getattr(attack, "targeted", False):
            raise ValueError(f"--targeted: {load} holds an untargeted attack")
        if "batch_size" in explicit:
            attack.set_params(batch_size=args.batch_size)
        return attack, True
    probe = art_ext.get_attack(args.name, classifier, **params)
    accepted = list(getattr(probe, "attack_params", None) or [])
    if "n_train" in explicit and not callable(getattr(probe, "fit", None)):
        raise ValueError(f"--n-train: attack {args.name!r} does not learn (no fit), so it uses no training data")
    kwargs = _attack_kwargs(args, args.name, accepted, explicit)
    if "verbose" in accepted and "verbose" not in params:
        kwargs["verbose"] = sys.stderr.isatty()  # progress bars on a terminal only
    if not kwargs:
        return probe, False
    return art_ext.get_attack(args.name, classifier, **{**params, **kwargs}), False


def _norm_text(attack: Any) -> str:
    if not hasattr(attack, "norm"):
        return "not declared (the attack has no norm)"
    return checks.norm_name(attack.norm) or "none"


@honours(*COMMON_OPTIONS, "load")
def run_image_attack(args: argparse.Namespace) -> dict[str, Any]:
    """Fit (or ``--load``) and run attack ``args.name`` on the test split; see the module docstring."""
    start = getattr(args, "start_time", None) or time.perf_counter()
    explicit = set(getattr(args, "explicit", ()) or ())
    seed = checks.seed(0 if args.seed is None else args.seed, "--seed")
    out = None if args.out is None else prepare_out(args.out)  # before fitting: nothing fitted is lost
    full = load_image_dataset(args.dataset or "digits", args.data_dir, seed=seed)
    classifier, model_text = load_classifier(full, args.model, seed=seed, device=getattr(args, "device", None))
    data = subset(full, args.n_train, args.n_test)
    np.random.seed(seed)
    torch.manual_seed(seed)
    attack, loaded = _build(args, classifier, explicit)
    targeted = bool(getattr(attack, "targeted", False))

    x, y = data.x_test, data.y_test
    fit_seconds = 0.0
    if not loaded and callable(getattr(attack, "fit", None)):
        fit_start = time.perf_counter()
        attack.fit(data.x_train, data.y_train)
        fit_seconds = time.perf_counter() - fit_start
    labels = (y + 1) % data.nb_classes if targeted else y
    attack_start = time.perf_counter()
    x_adv = np.asarray(attack.generate(x, y=np.eye(data.nb_classes, dtype=np.float32)[labels]), dtype=np.float32)
    attack_seconds = time.perf_counter() - attack_start
    clean_pred = classifier.predict(x).argmax(axis=1)
    adv_pred = classifier.predict(x_adv).argmax(axis=1)
    correct = clean_pred == y
    success = adv_pred == labels if targeted else adv_pred != y

    eps = getattr(attack, "eps", None)
    device = str(getattr(classifier, "device", "cpu"))
    result: dict[str, Any] = {
        "ran": {
            "attack": f"{args.name} ({type(attack).__name__}{', loaded from ' + str(args.load) if loaded else ''})",
            "eps": "none (a minimal-perturbation attack)" if eps is None else f"{float(eps):g}",
            "norm": _norm_text(attack),
            "targeted": "yes: target = (label + 1) mod classes" if targeted else "no",
            "model": model_text,
            "data": f"{data.name} test split, first {len(x)} of {len(full.x_test)} examples ({full.split})",
            "threads": str(torch.get_num_threads()),
            "device": device,
        },
        "attack": args.name,
        "params": describe_params(attack),
        "dataset": data.name,
        "examples": len(x),
        "targeted": targeted,
        "clean_accuracy": float(np.mean(correct)),
        "robust_accuracy": float(np.mean(robust_mask(y, clean_pred, adv_pred))),
        "success_rate": float(success[correct].mean()) if correct.any() else float("nan"),
        **norm_summary(x, x_adv),
        "fit_seconds": fit_seconds,
        "fit_examples": len(data.x_train) if fit_seconds else 0,
        "attack_seconds": attack_seconds,
        "examples_per_second": len(x) / attack_seconds if attack_seconds > 0 else float("inf"),
        "threads": torch.get_num_threads(),
        "device": device,
        "hardware": hardware_info(),
    }
    result["outputs"] = []
    if out is not None:
        if not loaded and callable(getattr(attack, "save", None)) and getattr(attack, "fitted", False):
            artefact = attack.save(out / f"{args.name}{getattr(attack, 'save_suffix', '.safetensors')}")
            result["outputs"].append(str(artefact))
            result["load_with"] = f"art-ext attack {args.name} --load {artefact} (or {type(attack).__name__}.load)"
        result["outputs"].append(str(out / "results.json"))
        result["wall_time_s"] = time.perf_counter() - start
        write_json(out / "results.json", result)
    result["wall_time_s"] = time.perf_counter() - start
    return result
