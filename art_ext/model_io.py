"""Model I/O: where a model comes from, in one place.

* the cache (``$ART_EXT_CACHE``, else ``~/.cache/art-ext``: :func:`default_cache_dir`) and the one
  cached SmallCNN every command shares (:func:`cached_small_cnn`), keyed by the data's bytes, the
  seed, the epochs and the code version;
* weights from a file (:func:`load_weights`): a state dict or a checkpoint of ``art-ext train``
  (:func:`model_state_dict`), loaded with ``torch.load(weights_only=True)``, one error line
  naming the file when they do not fit; a weights file alone is matched to the model zoo network
  whose parameter names and shapes it holds (:func:`load_network`);
* a model zoo network by name (:func:`zoo_network`, ``--model preact_resnet18``);
* the ART classifier art-ext builds around a network for a data set (:func:`dataset_classifier`):
  the data set's clip values and its per-channel normalisation in ART's ``preprocessing``;
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
from art_ext.models import MODEL_ZOO, SmallCNN, make_classifier, make_optimizer, train_model

logger = logging.getLogger(__name__)

__all__ = [
    "CACHE_ENV",
    "DEFAULT_EPOCHS",
    "cache_key",
    "cached_classifier",
    "cached_small_cnn",
    "dataset_classifier",
    "default_cache_dir",
    "load_classifier",
    "load_network",
    "load_weights",
    "model_state_dict",
    "names_zoo_network",
    "resolve_device",
    "zoo_network",
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
    tag: str = "target", normalisation: Normalisation = None,
) -> tuple[nn.Module, dict[str, Any]]:
    """``(model, info)``: a SmallCNN trained on ``(x, y)``, from the cache when its key matches,
    else trained and cached (atomically); ``info`` says which and where (a portable path).

    With ``normalisation`` (the data set's per-channel mean and std) it trains on normalised
    images, as the classifier of :func:`dataset_classifier` will feed it."""
    folder = default_cache_dir() if cache_dir is None else cache_dir
    key = cache_key(x, y, seed=seed, epochs=epochs, tag=tag if normalisation is None else f"{tag}|{normalisation}")
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
        train_model(model, normalised(x, normalisation), y, epochs=epochs, seed=seed)
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


Normalisation = tuple[tuple[float, ...], tuple[float, ...]] | None


def normalised(x: np.ndarray, normalisation: Normalisation) -> np.ndarray:
    """``(x - mean) / std`` per channel (``x`` itself without a normalisation)."""
    if normalisation is None:
        return x
    mean, std = (np.asarray(v, dtype=np.float32).reshape(1, -1, 1, 1) for v in normalisation)
    return ((x - mean) / std).astype(np.float32)


def dataset_classifier(model: nn.Module, dataset: ImageDataset, *, device: str | torch.device = "cpu",
                       lr: float = 1e-3, nb_classes: int | None = None, optimizer: str = "adam",
                       momentum: float = 0.9, weight_decay: float = 0.0) -> Any:
    """The ART ``PyTorchClassifier`` art-ext builds around ``model`` for ``dataset``: its clip values,
    its per-channel normalisation (``dataset.normalisation``) in ART's ``preprocessing``, and the
    optimizer :func:`art_ext.models.make_optimizer` builds (default Adam at ``lr``).

    Every network art-ext trains or loads for a data set sees it normalised this way, so a weights
    file trained by ``art-ext train`` on CIFAR-10 is attacked through the same normalisation."""
    device_type = "cpu" if str(device) == "cpu" else "gpu"
    model = model.to(device)
    chosen = make_optimizer(model, optimizer, lr=lr, momentum=momentum, weight_decay=weight_decay)
    return make_classifier(model, dataset.input_shape, nb_classes or dataset.nb_classes, dataset.clip_values,
                           device_type=device_type, normalisation=dataset.normalisation, optimizer=chosen)


def cached_classifier(dataset: ImageDataset, *, epochs: int = DEFAULT_EPOCHS, seed: int = 0) -> Any:
    """The cached SmallCNN of ``dataset``'s train split (the one ``art-ext attack``, ``train`` and
    ``bench`` use) as an ART ``PyTorchClassifier`` on the best available device."""
    model, _ = cached_small_cnn(dataset.x_train, dataset.y_train, dataset.nb_classes, seed=seed, epochs=epochs,
                                normalisation=dataset.normalisation)
    return dataset_classifier(model, dataset, device=resolve_device(None))


def names_zoo_network(spec: str | None) -> bool:
    """Whether a ``--model`` value names a model zoo network (a file of that name wins)."""
    return spec in MODEL_ZOO and not Path(spec).exists()


def zoo_network(name: str, input_shape: tuple[int, ...], nb_classes: int, seed: int = 0) -> nn.Module:
    """A freshly initialised model zoo network (``seed`` fixes the initial weights)."""
    if name not in MODEL_ZOO:
        raise ValueError(f"--model {name}: not a model zoo network ({', '.join(MODEL_ZOO)}), a weights file or "
                         "package.module:factory")
    torch.manual_seed(seed)
    return MODEL_ZOO[name](input_shape, nb_classes)


def _shapes(state: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    return {key: tuple(value.shape) for key, value in state.items() if isinstance(value, torch.Tensor)}


def load_network(path: str, input_shape: tuple[int, ...], nb_classes: int,
                 what: str = "--model") -> tuple[nn.Module, str]:
    """``(model, zoo name)``: the model zoo network whose parameter names and shapes are exactly
    those in the weights file ``path`` (a state dict, ``model.pt`` or a ``last.pt``/``best.pt``
    checkpoint of ``art-ext train``), with those weights, in eval mode. Candidates are built on
    torch's ``meta`` device first, so no memory is spent on the networks that do not fit.

    :raises FileNotFoundError, ValueError: one line naming ``what`` and the path."""
    state = model_state_dict(load_tensor_file(path, what), path, what)
    wanted = _shapes(state)
    for name, build in MODEL_ZOO.items():
        try:
            with torch.device("meta"):
                skeleton = build(input_shape, nb_classes)
        except (ValueError, RuntimeError):  # the network does not take this input shape
            continue
        if _shapes(skeleton.state_dict()) == wanted:
            model = build(input_shape, nb_classes)
            load_weights(model, path, what, f"{name} weights")
            return model.eval(), name
    raise ValueError(
        f"{what} {path}: the weights fit none of the model zoo's networks ({', '.join(MODEL_ZOO)}) for input shape "
        f"{input_shape} and {nb_classes} classes; for another network pass --model package.module:factory "
        "--state-dict FILE"
    )


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


def load_classifier(dataset: ImageDataset, model_path: str | None, seed: int = 0,
                    device: str | None = None) -> tuple[Any, str]:
    """``(ART classifier, description)``: a trained network from the weights file ``model_path``
    (:func:`load_network`: a state dict, ``model.pt`` or a ``last.pt``/``best.pt`` checkpoint of
    ``art-ext train``, of any model zoo network), else the SmallCNN that ``art-ext bench`` trains on
    the data set and caches (``$ART_EXT_CACHE``)."""
    device = resolve_device(device)
    if model_path is None:
        epochs = DEFAULT_EPOCHS
        model, info = cached_small_cnn(dataset.x_train, dataset.y_train, dataset.nb_classes, seed=seed,
                                       epochs=epochs, normalisation=dataset.normalisation)
        how = "loaded from the cache" if info.get("cached") else "trained now and cached"
        description = (f"SmallCNN trained {epochs} epochs on the {dataset.name} train split "
                       f"({len(dataset.x_train)} examples, seed {seed}), {how}: {info['cache_file']}")
    else:
        if names_zoo_network(model_path):
            raise ValueError(f"--model {model_path}: a model zoo name is an untrained network; train it first "
                             f"(art-ext train --model {model_path} ...) and pass its weights (--model RUN/model.pt)")
        model, _ = load_network(model_path, dataset.input_shape, dataset.nb_classes)
        description = f"{type(model).__name__} weights from {model_path}"
    return dataset_classifier(model, dataset, device=device), description
