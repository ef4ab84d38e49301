"""Model I/O: where a model comes from, in one place.

* the cache (``$ART_EXT_CACHE``, else ``~/.cache/art-ext``: :func:`default_cache_dir`) and the one
  cached SmallCNN every command shares (:func:`cached_small_cnn`), keyed by the data's bytes, the
  seed, the epochs and the code version;
* weights from a file (:func:`load_weights`): a state dict or a checkpoint of ``art-ext train``
  (:func:`model_state_dict`), loaded with ``torch.load(weights_only=True)``, one error line
  naming the file when they do not fit;
* the device a model runs on (:func:`resolve_device`);
* the ART classifier a command attacks (:func:`load_classifier`): the user's weights or the cached SmallCNN.

The CLI runners, the benchmark harness, the trainers' CLI and the plugins use these; none of them
keeps a copy.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

import art_ext
from art_ext import checks
from art_ext.core.checkpoint import load_tensor_file
from art_ext.data import ImageDataset, portable_path
from art_ext.models import SmallCNN, make_classifier, train_model

logger = logging.getLogger(__name__)

__all__ = [
    "CACHE_ENV",
    "DEFAULT_EPOCHS",
    "cache_key",
    "cached_classifier",
    "cached_small_cnn",
    "default_cache_dir",
    "load_classifier",
    "load_small_cnn",
    "load_weights",
    "model_state_dict",
    "resolve_device",
]

CACHE_ENV = "ART_EXT_CACHE"
#: epochs of the default SmallCNN that ``attack``, ``train --init clean`` and ``bench`` share (one cache entry)
DEFAULT_EPOCHS = 10


def default_cache_dir() -> Path:
    """``$ART_EXT_CACHE`` or ``~/.cache/art-ext``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else Path.home() / ".cache" / "art-ext"


def resolve_device(device: str | torch.device | None, name: str = "--device",
                   default: torch.device | None = None) -> str:
    """The one device rule: ``cpu``, ``cuda``, ``cuda:N`` (and ART's ``gpu`` for ``cuda``) or a
    ``torch.device``, checked; ``None``: ``default`` (e.g. the model's device) or CUDA when
    available, else CPU.

    :param name: the parameter the value came from, for the error (``--device``, ``device_type``).
    :raises ValueError: an unknown device, or CUDA asked for on a machine without it."""
    if device is None:
        if default is not None:
            return str(default)
        return "cuda" if torch.cuda.is_available() else "cpu"
    text = "cuda" if str(device) == "gpu" else str(device)
    if not (text in ("cpu", "cuda") or (text.startswith("cuda:") and text[5:].isdigit())):
        raise ValueError(f"{name} must be 'cpu', 'cuda', 'cuda:N' (or ART's 'gpu') or None, got {device!r}")
    if text.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"{name} {device}: CUDA is not available on this machine")
    return text


def _source_hash(*objects: Any) -> str:
    digest = hashlib.sha256()
    for obj in objects:
        digest.update(inspect.getsource(obj).encode())
    return digest.hexdigest()[:16]


def cache_key(x: np.ndarray, y: np.ndarray, *, seed: int, epochs: int, tag: str) -> str:
    """Dataset bytes + seed + epochs + code version (art-ext version, model and trainer source)."""
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(x).tobytes())
    digest.update(np.ascontiguousarray(y).tobytes())
    digest.update(f"{seed}|{epochs}|{tag}|{art_ext.__version__}|{torch.__version__}".encode())
    digest.update(_source_hash(SmallCNN, train_model).encode())
    return digest.hexdigest()[:20]


def cached_small_cnn(
    x: np.ndarray, y: np.ndarray, nb_classes: int, *, seed: int, epochs: int, cache_dir: Path | None = None,
    tag: str = "target",
) -> tuple[nn.Module, dict[str, Any]]:
    """``(model, info)``: a SmallCNN trained on ``(x, y)``, from the cache when its key matches,
    else trained and cached (atomically); ``info`` says which and where (a portable path)."""
    folder = default_cache_dir() if cache_dir is None else cache_dir
    key = cache_key(x, y, seed=seed, epochs=epochs, tag=tag)
    path = folder / f"smallcnn-{tag}-{key}.pt"
    torch.manual_seed(seed)
    model = SmallCNN(x.shape[1:], nb_classes)
    # recorded relative to the cache root ($ART_EXT_CACHE): where the cache lies is the machine's business
    from_env = os.environ.get(CACHE_ENV) and folder == default_cache_dir()
    shown = f"${CACHE_ENV}/{path.name}" if from_env else portable_path(path)
    info: dict[str, Any] = {"source": f"SmallCNN ({tag})", "cache_file": shown, "epochs": epochs, "seed": seed}
    if path.is_file():
        try:
            model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
            model.eval()
            info["cached"] = True
            logger.info("loaded cached %s from %s", tag, path)
            return model, info
        except (RuntimeError, OSError, ValueError) as error:  # corrupt or stale: retrain
            logger.warning("ignoring unreadable cache file %s (%s); retraining", path, error)
    start = time.perf_counter()
    with tqdm(total=1, desc=f"training the {tag} SmallCNN ({epochs} epochs, cached afterwards)", unit="model",
              disable=None) as bar:  # a bar on a terminal only
        train_model(model, x, y, epochs=epochs, seed=seed)
        bar.update(1)
    info["train_time_s"] = time.perf_counter() - start
    info["cached"] = False
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        torch.save(model.state_dict(), tmp)
        tmp.replace(path)
    except OSError as error:
        logger.warning("could not write the model cache %s (%s)", path, error)
    return model, info


def cached_classifier(dataset: ImageDataset, *, epochs: int = DEFAULT_EPOCHS, seed: int = 0) -> Any:
    """The cached SmallCNN of ``dataset``'s train split (the one ``art-ext attack``, ``train`` and
    ``bench`` use) as an ART ``PyTorchClassifier`` on the best available device."""
    model, _ = cached_small_cnn(dataset.x_train, dataset.y_train, dataset.nb_classes, seed=seed, epochs=epochs)
    device = resolve_device(None)
    return make_classifier(model.to(device), dataset.input_shape, dataset.nb_classes, dataset.clip_values,
                           device_type="cpu" if device == "cpu" else "gpu")


def model_state_dict(state: dict[str, Any], path: str, what: str = "--model") -> dict[str, Any]:
    """The model's state dict inside what ``torch.load`` gave: a bare state dict, a checkpoint of
    ``art-ext train`` (``{"modules": {"model": ...}}``), or ``{"model": ...}`` / ``{"state_dict": ...}``."""
    modules = state.get("modules")
    if isinstance(modules, dict):
        if isinstance(modules.get("model"), dict):
            return modules["model"]  # type: ignore[no-any-return]
        raise ValueError(f"{what} {path}: a checkpoint without a 'model' module (it has {sorted(modules)})")
    for key in ("model", "state_dict"):
        if isinstance(state.get(key), dict):
            return state[key]  # type: ignore[no-any-return]
    return state


def load_weights(model: nn.Module, path: str, what: str = "--model", expected: str = "") -> nn.Module:
    """Load the weights in ``path`` (a state dict or a checkpoint) into ``model``.

    :param expected: what the file should hold, for the error (``"SmallCNN weights for ..."``).
    :raises FileNotFoundError, ValueError: one line naming ``what``, the path and the mismatch."""
    state = model_state_dict(load_tensor_file(path, what), path, what)
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, KeyError) as error:
        detail = f"not {expected}" if expected else "does not fit the model"
        raise ValueError(f"{what} {path}: {detail} ({checks.first_line(error).rstrip(':. ')})") from None
    return model


def load_small_cnn(path: str, input_shape: tuple[int, ...], nb_classes: int, what: str = "--model") -> nn.Module:
    """SmallCNN weights (a state dict, ``model.pt`` or a ``last.pt``/``best.pt`` of ``art-ext train``)."""
    model = SmallCNN(input_shape, nb_classes)
    load_weights(model, path, what, f"SmallCNN weights for input shape {input_shape} and {nb_classes} classes")
    return model.eval()


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
