"""Data, model and ART classifier for a benchmark run.

The embedded default is the cached SmallCNN of :mod:`art_ext.model_io` (``$ART_EXT_CACHE``,
default ``~/.cache/art-ext``, keyed by the dataset's bytes, the seed, the epochs and the code
version, loaded back with ``weights_only=True``).
A user model is a TorchScript file or ``module:factory`` (plus ``--state-dict``); it is checked
against the data (input shape, output width) before any attack runs.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from art_ext.bench.config import BenchConfig
from art_ext.checks import first_line
from art_ext.data import TEXT_DATASETS, load_image_dataset, portable_path
from art_ext.model_io import (
    cached_small_cnn,
    dataset_classifier,
    load_network,
    load_weights,
    resolve_device,
)
from art_ext.models import make_classifier

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


def load_dataset(config: BenchConfig) -> Any:
    """The image dataset of ``config`` (``digits`` bundled, ``mnist`` from ``--data-dir``)."""
    if config.dataset in TEXT_DATASETS:
        raise BenchInputError(f"dataset {config.dataset!r} is text: use `art-ext bench text --dataset {config.dataset}`")
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
            script_error = first_line(error)
        if input_shape is None or nb_classes is None:
            raise BenchInputError(f"--model {spec}: not a TorchScript file ({script_error})")
        try:
            model, name = load_network(spec, input_shape, nb_classes)
        except (FileNotFoundError, ValueError) as error:
            raise BenchInputError(f"{error} (and not TorchScript: {script_error})") from None
        return model, {"source": f"{name} weights {portable_path(path)}", "zoo": name}
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
        try:
            load_weights(model, config.state_dict, "--state-dict")
        except (FileNotFoundError, ValueError) as error:
            raise BenchInputError(str(error)) from None
        info["state_dict"] = portable_path(config.state_dict)
    return model, info


def validate_model(model: nn.Module, x: np.ndarray, nb_classes: int, device: str) -> None:
    """Fails with a one-line message when ``model`` does not take ``x`` or its width is wrong."""
    batch = torch.as_tensor(x[:2], dtype=torch.float32, device=device)
    try:
        with torch.no_grad():
            output = model(batch)
    except Exception as error:
        first = first_line(error)
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
            epochs=config.epochs, cache_dir=config.cache_path(), normalisation=dataset.normalisation,
        )
        info["zoo"] = "smallcnn"
    else:
        model, info = load_user_model(config, input_shape, nb_classes)
    if wrap is not None:
        model = wrap(model)
        info["wrapped"] = type(model).__name__
    model = model.to(device).eval()
    validate_model(model, dataset.x_test, nb_classes, device)
    counter = QueryCounter(model)
    if info.get("zoo"):  # art-ext's own networks see the data set's normalisation, in the classifier
        classifier = dataset_classifier(counter, dataset, device=device, nb_classes=nb_classes)
    else:  # a TorchScript or factory model gets [0, 1] images and normalises itself, as RobustBench's do
        classifier = make_classifier(counter, input_shape, nb_classes, clip_values=tuple(dataset.clip_values),
                                     device_type="cpu" if device == "cpu" else "gpu")
    info.update({"input_shape": list(input_shape), "nb_classes": nb_classes, "clip_values": list(dataset.clip_values), "device": device})
    return BenchTarget(classifier, counter, info)
