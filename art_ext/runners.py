"""CLI runners: what ``art-ext attack NAME`` runs for image attacks, and the runner contract.

**The contract** (also for plugin authors; see ``docs/cli.md``). A runner is a callable
``runner(args: argparse.Namespace) -> dict`` registered with ``register(..., cli="module:runner")``
or the default one below. It declares the common options it honours with :func:`honours`; the
CLI rejects every other common option the user gave, with one line, before the runner starts.
``args.explicit`` lists the common options the user set. The returned dict holds:

* ``"ran"``: what ran, for the header the CLI prints (``attack``/``trainer``, ``eps``, ``norm``,
  ``model``, ``data``, ``threads``, ``device``, ...), one short string each;
* ``"outputs"``: the files it wrote;
* metrics (numbers and short strings), printed one per line; everything goes to ``--json``.

The CLI applies ``--threads`` and rejects ``--device cuda`` without CUDA before calling a runner,
and prints the command's wall time.

**The image-attack runner** :func:`run_image_attack` loads the data set, the ``--model`` (a state
dict, or a checkpoint of ``art-ext train``) or the cached SmallCNN that ``art-ext bench`` uses,
builds the attack through the registry, fits it when it learns (``attack.fit``, e.g. AdvGAN) or
loads a saved one (``--load``), attacks the test split and reports robust accuracy, success rate,
perturbation norms and throughput; ``--out`` gets ``results.json`` and the fitted attack
(``attack.save``).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from art_ext import checks
from art_ext.data import ImageDataset, load_image_dataset
from art_ext.model_io import (
    DEFAULT_EPOCHS,
    cached_small_cnn,
    load_small_cnn,
    model_state_dict,
    resolve_device,
)
from art_ext.models import make_classifier

logger = logging.getLogger(__name__)

__all__ = [
    "COMMON_OPTIONS",
    "TRAIN_OPTIONS",
    "honours",
    "load_classifier",
    "model_state_dict",
    "option_flag",
    "perturbation_norms",
    "prepare_out",
    "run_image_attack",
    "runner_options",
    "subset",
]

#: options every ``attack``/``train`` runner may honour (argparse ``dest`` names)
COMMON_OPTIONS: tuple[str, ...] = (
    "dataset", "data_dir", "model", "eps", "norm", "targeted", "epochs", "batch_size", "n_train", "n_test",
    "seed", "out",
)
#: options only ``art-ext attack`` has
ATTACK_OPTIONS: tuple[str, ...] = ("load",)
#: options only ``art-ext train`` has
TRAIN_OPTIONS: tuple[str, ...] = ("init", "checkpoint_dir", "resume", "overwrite", "allow_change")

F = TypeVar("F", bound=Callable[..., Any])


def option_flag(dest: str) -> str:
    """``n_test`` -> ``--n-test``."""
    return "--" + dest.replace("_", "-")


def honours(*options: str, exclude: Mapping[str, Iterable[str]] | None = None) -> Callable[[F], F]:
    """Declare the common options a runner honours (argparse ``dest`` names, e.g. ``"n_test"``).

    :param exclude: per registered name, options the runner does not honour for that name
        (e.g. ``{"text-hotflip": ("eps", "norm")}``: HotFlip has no budget).
    """
    known = set(COMMON_OPTIONS) | set(ATTACK_OPTIONS) | set(TRAIN_OPTIONS)
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(f"honours: unknown option(s) {unknown}; known: {sorted(known)}")
    excluded = {name: frozenset(values) for name, values in (exclude or {}).items()}

    def mark(runner: F) -> F:
        runner.cli_options = frozenset(options)  # type: ignore[attr-defined]
        runner.cli_excluded = excluded  # type: ignore[attr-defined]
        return runner

    return mark


def runner_options(runner: Callable[..., Any], name: str) -> Collection[str] | None:
    """The options ``runner`` honours for ``name``; ``None`` when it declares none (all pass)."""
    declared = getattr(runner, "cli_options", None)
    if declared is None:
        return None
    excluded = getattr(runner, "cli_excluded", {}).get(name, frozenset())
    return frozenset(declared) - frozenset(excluded)


# --------------------------------------------------------------------------- data and model


def subset(dataset: ImageDataset, n_train: int | None, n_test: int | None) -> ImageDataset:
    """The first ``n_train`` / ``n_test`` examples of each split (``None`` keeps all)."""
    for name, value in (("n_train", n_train), ("n_test", n_test)):
        if value is not None and value <= 0:
            raise ValueError(f"{name} must be positive, got {value}")
    return ImageDataset(
        dataset.name,
        dataset.x_train[:n_train], dataset.y_train[:n_train],
        dataset.x_test[:n_test], dataset.y_test[:n_test],
        dataset.nb_classes, dataset.clip_values, dataset.split,
    )


def load_classifier(dataset: ImageDataset, model_path: str | None, seed: int = 0,
                    device: str | None = None) -> tuple[Any, str]:
    """``(ART classifier, description)``: the user's SmallCNN weights (``--model``: a state dict,
    ``model.pt`` or a ``last.pt``/``best.pt`` checkpoint of ``art-ext train``), else the SmallCNN
    that ``art-ext bench`` trains on the data set and caches (``$ART_EXT_CACHE``)."""
    device = resolve_device(device)
    if model_path is None:
        epochs = DEFAULT_EPOCHS
        model, info = cached_small_cnn(dataset.x_train, dataset.y_train, dataset.nb_classes, seed=seed,
                                       epochs=epochs)
        how = "loaded from the cache" if info.get("cached") else "trained now and cached"
        description = (f"SmallCNN trained {epochs} epochs on the {dataset.name} train split "
                       f"({len(dataset.x_train)} examples, seed {seed}), {how}: {info['cache_file']}")
    else:
        model = load_small_cnn(model_path, dataset.input_shape, dataset.nb_classes)
        description = f"SmallCNN weights from {model_path}"
    classifier = make_classifier(model.to(device), dataset.input_shape, dataset.nb_classes, dataset.clip_values,
                                 device_type="cpu" if device == "cpu" else "gpu")
    return classifier, description


def perturbation_norms(x: np.ndarray, x_adv: np.ndarray) -> dict[str, float]:
    delta = (x_adv.astype(np.float64) - x.astype(np.float64)).reshape(len(x), -1)
    linf = np.abs(delta).max(axis=1)
    l2 = np.linalg.norm(delta, axis=1)
    return {
        "mean_linf": float(linf.mean()), "max_linf": float(linf.max()),
        "mean_l2": float(l2.mean()), "max_l2": float(l2.max()),
    }


def describe_params(attack: Any) -> dict[str, Any]:
    """The attack's plain parameters (numbers, strings, flags) by name, for results files."""
    shown: dict[str, Any] = {}
    for key in getattr(attack, "attack_params", None) or []:
        value = getattr(attack, key, None)
        if isinstance(value, (bool, int, float, str)) or value is None:
            shown[key] = "inf" if isinstance(value, float) and np.isinf(value) else value
    return shown


def prepare_out(out: str | Path, flag: str = "--out") -> Path:
    """The output folder, created and proven writable before any work that would be lost.

    :raises ValueError: naming ``flag`` when the folder is a file or cannot be written.
    """
    import tempfile

    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{flag} {folder}: is a file, expected a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".art-ext-probe-"):
            pass
    except OSError as error:
        raise ValueError(f"{flag} {folder}: cannot write there ({error.strerror or error})") from None
    return folder


def write_json(path: Path, data: dict[str, Any]) -> Path:
    from art_ext.core.checkpoint import atomic_write_text

    return atomic_write_text(path, json.dumps(data, indent=2, default=str) + "\n")


# --------------------------------------------------------------------------- the attack runner

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
    import art_ext

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
    from art_ext.core.device import hardware_info
    from art_ext.evaluation import robust_mask

    start = getattr(args, "start_time", None) or time.perf_counter()
    explicit = set(getattr(args, "explicit", ()) or ())
    seed = checks.seed(0 if args.seed is None else args.seed, "--seed")
    out = None if args.out is None else prepare_out(args.out)  # before fitting: nothing fitted is lost
    full = load_image_dataset(args.dataset or "digits", args.data_dir, seed=seed)
    classifier, model_text = load_classifier(full, args.model, seed=seed, device=getattr(args, "device", None))
    data = subset(full, args.n_train, args.n_test)
    np.random.seed(seed)
    import torch

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
        **perturbation_norms(x, x_adv),
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
