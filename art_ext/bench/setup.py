"""Data, model and ART classifier for a benchmark run.

The embedded default trains a :class:`art_ext.models.SmallCNN` on the dataset and caches its
weights in ``$ART_EXT_CACHE`` (default ``~/.cache/art-ext``), keyed by the dataset's bytes, the
seed, the epochs and the code version, and loads them back with ``weights_only=True``.
A user model is a TorchScript file or ``module:factory`` (plus ``--state-dict``); it is checked
against the data (input shape, output width) before any attack runs.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from art_ext.bench.config import BenchConfig
from art_ext.data import portable_path

logger = logging.getLogger(__name__)


class BenchInputError(ValueError):
    """Bad benchmark input (model, data, shapes): a one-line message, raised before any attack."""


class QueryCounter(nn.Module):
    """Counts the examples passed forward through ``model`` (one query = one example forward).

    Gradient computations run a forward pass too, so white-box attacks are charged one query
    per gradient, like score-based ones are charged one per prediction.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.count = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.count += int(x.shape[0])
        return self.model(x)  # type: ignore[no-any-return]

    def reset(self) -> None:
        self.count = 0


class QuantizeInput(nn.Module):
    """Rounds inputs to ``levels`` steps: non-differentiable, its gradient is zero everywhere.

    Put in front of a model it hides the gradient from white-box attacks while leaving the
    decisions almost unchanged: the textbook case of gradient masking, used to test the
    benchmark's sanity checks.
    """

    def __init__(self, levels: int = 16) -> None:
        super().__init__()
        self.levels = levels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.round(x * (self.levels - 1)) / (self.levels - 1)


@dataclass
class BenchTarget:
    """What the attacks run against."""

    classifier: Any
    counter: QueryCounter
    model_info: dict[str, Any] = field(default_factory=dict)


def resolve_device(device: str | None) -> str:
    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise BenchInputError(f"--device {device}: CUDA is not available on this machine")
    return device


def load_dataset(config: BenchConfig) -> Any:
    """The image dataset of ``config`` (``digits`` bundled, ``mnist`` from ``--data-dir``)."""
    from art_ext.data import load_image_dataset

    if config.dataset == "mr":
        raise BenchInputError("dataset 'mr' is text: use `art-ext bench text --dataset mr`")
    dataset = load_image_dataset(config.dataset, config.data_dir, seed=config.seed)
    if config.n_train is not None:
        dataset.x_train = dataset.x_train[: config.n_train]
        dataset.y_train = dataset.y_train[: config.n_train]
    if config.clip_values is not None:
        low, high = config.clip_values
        if dataset.x_train.min() < low or dataset.x_train.max() > high:
            raise BenchInputError(
                f"--clip-values {low},{high} do not contain the data range "
                f"[{dataset.x_train.min():g}, {dataset.x_train.max():g}]"
            )
        dataset.clip_values = (low, high)
    return dataset


def _source_hash(*objects: Any) -> str:
    digest = hashlib.sha256()
    for obj in objects:
        digest.update(inspect.getsource(obj).encode())
    return digest.hexdigest()[:16]


def cache_key(x: np.ndarray, y: np.ndarray, *, seed: int, epochs: int, tag: str) -> str:
    """Dataset bytes + seed + epochs + code version (art-ext version, model and trainer source)."""
    import art_ext
    from art_ext.models import SmallCNN, train_model

    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(x).tobytes())
    digest.update(np.ascontiguousarray(y).tobytes())
    digest.update(f"{seed}|{epochs}|{tag}|{art_ext.__version__}|{torch.__version__}".encode())
    digest.update(_source_hash(SmallCNN, train_model).encode())
    return digest.hexdigest()[:20]


def cached_small_cnn(
    x: np.ndarray, y: np.ndarray, nb_classes: int, *, seed: int, epochs: int, cache_dir: Path, tag: str = "target"
) -> tuple[nn.Module, dict[str, Any]]:
    """A trained SmallCNN, from the cache when its key matches, else trained and cached."""
    from art_ext.models import SmallCNN, train_model

    key = cache_key(x, y, seed=seed, epochs=epochs, tag=tag)
    path = cache_dir / f"smallcnn-{tag}-{key}.pt"
    torch.manual_seed(seed)
    model = SmallCNN(x.shape[1:], nb_classes)
    info: dict[str, Any] = {"source": f"SmallCNN ({tag})", "cache_file": portable_path(path), "epochs": epochs,
                            "seed": seed}
    if path.is_file():
        try:
            model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
            model.eval()
            info["cached"] = True
            logger.info("loaded cached %s from %s", tag, path)
            return model, info
        except (RuntimeError, OSError, ValueError) as error:  # corrupt or stale: retrain
            logger.warning("ignoring unreadable cache file %s (%s); retraining", path, error)
    import time

    from tqdm.auto import tqdm

    start = time.perf_counter()
    with tqdm(total=1, desc=f"training the {tag} SmallCNN ({epochs} epochs, cached afterwards)", unit="model",
              disable=None) as bar:  # a bar on a terminal only
        train_model(model, x, y, epochs=epochs, seed=seed)
        bar.update(1)
    info["train_time_s"] = time.perf_counter() - start
    info["cached"] = False
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        torch.save(model.state_dict(), tmp)
        tmp.replace(path)
    except OSError as error:
        logger.warning("could not write the model cache %s (%s)", path, error)
    return model, info


def _load_factory(spec: str) -> Callable[..., nn.Module]:
    module_name, _, attribute = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise BenchInputError(f"--model {spec}: cannot import module {module_name!r} ({error})") from error
    obj: Any = module
    for part in attribute.split("."):
        if not hasattr(obj, part):
            raise BenchInputError(f"--model {spec}: module {module_name!r} has no attribute {attribute!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise BenchInputError(f"--model {spec}: {attribute!r} is not callable")
    return obj  # type: ignore[no-any-return]


def _load_state(path: str, what: str) -> dict[str, Any]:
    """The model weights in ``path``: a state dict or a checkpoint of ``art-ext train``."""
    from art_ext.core.checkpoint import load_tensor_file
    from art_ext.runners import model_state_dict

    try:
        return model_state_dict(load_tensor_file(path, what), path, what)
    except (FileNotFoundError, ValueError) as error:
        raise BenchInputError(str(error)) from None


def _fit(model: nn.Module, state: dict[str, Any], what: str) -> None:
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, KeyError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise BenchInputError(f"{what}: does not fit the model ({first.rstrip(':. ')})") from None


def load_user_model(config: BenchConfig, input_shape: tuple[int, ...] | None = None,
                    nb_classes: int | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """``--model`` as a TorchScript file, SmallCNN weights (a state dict, or ``model.pt`` /
    ``last.pt`` / ``best.pt`` of ``art-ext train``; needs ``input_shape`` and ``nb_classes``), or
    ``module:factory`` (+ ``--state-dict``)."""
    spec = config.model
    assert spec is not None
    path = Path(spec)
    if path.exists() and not path.is_file():
        raise BenchInputError(f"--model {spec}: is a folder, expected a TorchScript or weights file")
    if path.is_file():
        try:
            model = torch.jit.load(str(path), map_location="cpu")
            return model, {"source": f"TorchScript {portable_path(path)}"}
        except (RuntimeError, ValueError) as error:
            script_error = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        if input_shape is None or nb_classes is None:
            raise BenchInputError(f"--model {spec}: not a TorchScript file ({script_error})")
        from art_ext.models import SmallCNN

        state = _load_state(spec, "--model")
        model = SmallCNN(input_shape, nb_classes)
        _fit(model, state, f"--model {spec} (neither TorchScript nor SmallCNN weights for {input_shape}, "
                           f"{nb_classes} classes)")
        return model.eval(), {"source": f"SmallCNN weights {portable_path(path)}"}
    if ":" not in spec:
        raise BenchInputError(f"--model {spec}: no such file, and not of the form module:factory")
    factory = _load_factory(spec)
    try:
        model = factory()
    except Exception as error:
        raise BenchInputError(f"--model {spec}: the factory failed: {type(error).__name__}: {error}") from error
    if not isinstance(model, nn.Module):
        raise BenchInputError(f"--model {spec}: the factory returned {type(model).__name__}, not a torch.nn.Module")
    info: dict[str, Any] = {"source": f"factory {spec}"}
    if config.state_dict is not None:
        _fit(model, _load_state(config.state_dict, "--state-dict"), f"--state-dict {config.state_dict}")
        info["state_dict"] = portable_path(config.state_dict)
    return model, info


def validate_model(model: nn.Module, x: np.ndarray, nb_classes: int, device: str) -> None:
    """Fails with a one-line message when ``model`` does not take ``x`` or its width is wrong."""
    batch = torch.as_tensor(x[:2], dtype=torch.float32, device=device)
    try:
        with torch.no_grad():
            output = model(batch)
    except Exception as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise BenchInputError(
            f"the model does not accept inputs of shape {tuple(x.shape[1:])} ({type(error).__name__}: {first})"
        ) from error
    if not isinstance(output, torch.Tensor) or output.ndim != 2 or output.shape[0] != batch.shape[0]:
        shape = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
        raise BenchInputError(f"the model must return logits of shape (batch, nb_classes); got {shape}")
    if output.shape[1] != nb_classes:
        raise BenchInputError(f"the model outputs {output.shape[1]} classes but --nb-classes is {nb_classes}")


def build_target(
    config: BenchConfig, dataset: Any, *, wrap: Callable[[nn.Module], nn.Module] | None = None
) -> BenchTarget:
    """The ART classifier the attacks run against, its query counter and a description.

    ``wrap`` (tests) puts a module around the model, e.g. :class:`QuantizeInput` in front.
    """
    from art_ext.models import make_classifier

    device = resolve_device(config.device)
    input_shape = tuple(dataset.input_shape)
    if config.input_shape is not None and tuple(config.input_shape) != input_shape:
        raise BenchInputError(
            f"--input-shape {','.join(map(str, config.input_shape))} does not match the data's "
            f"{','.join(map(str, input_shape))} ({config.dataset})"
        )
    nb_classes = config.nb_classes if config.nb_classes is not None else dataset.nb_classes
    if nb_classes < int(dataset.y_train.max()) + 1:
        raise BenchInputError(f"--nb-classes {nb_classes} is fewer than the data's {int(dataset.y_train.max()) + 1} classes")
    if config.model is None:
        model, info = cached_small_cnn(
            dataset.x_train, dataset.y_train, nb_classes, seed=config.seed,
            epochs=config.epochs, cache_dir=config.cache_path(),
        )
    else:
        model, info = load_user_model(config, input_shape, nb_classes)
    if wrap is not None:
        model = wrap(model)
        info["wrapped"] = type(model).__name__
    model = model.to(device).eval()
    validate_model(model, dataset.x_test, nb_classes, device)
    counter = QueryCounter(model)
    classifier = make_classifier(
        counter, input_shape, nb_classes, clip_values=tuple(dataset.clip_values), device_type=device  # type: ignore[arg-type]
    )
    info.update({"input_shape": list(input_shape), "nb_classes": nb_classes, "clip_values": list(dataset.clip_values), "device": device})
    return BenchTarget(classifier, counter, info)
