"""Small reference models and the helpers that wrap them as ART classifiers.

Used by the CLI, the benchmarks and the tests so that every comparison runs on the same net.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from art_ext import checks
from art_ext.cifar_models import CifarCNN, PreActResNet18, wide_resnet_28_10
from art_ext.core.device import resolve_policy

logger = logging.getLogger(__name__)



class SmallCNN(nn.Module):
    """Two conv layers and two linear layers; adapts to (C, H, W) inputs of 8x8 and up.

    On MNIST this reaches ~98% test accuracy after a few epochs on 8,000 images.
    """

    def __init__(self, input_shape: Sequence[int] = (1, 28, 28), nb_classes: int = 10, width: int = 32) -> None:
        super().__init__()
        channels, height, _ = input_shape
        # 8x8 digits keep their resolution; larger images are pooled twice.
        pool: nn.Module = nn.Identity() if height <= 8 else nn.MaxPool2d(2)
        self.features = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1),
            nn.ReLU(),
            pool,
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        with torch.no_grad():
            flat = self.features(torch.zeros(1, *input_shape)).numel()
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(flat, 128), nn.ReLU(), nn.Linear(128, nb_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))  # type: ignore[no-any-return]


class BNCNN(nn.Module):
    """:class:`SmallCNN` with BatchNorm after each convolution and Dropout before the last layer.

    The model zoo's net with train/eval-dependent layers: trainers and attacks must put it in
    the right mode (and give it back in the mode it came in).
    """

    def __init__(self, input_shape: Sequence[int] = (1, 28, 28), nb_classes: int = 10, width: int = 32,
                 dropout: float = 0.25) -> None:
        super().__init__()
        channels, height, _ = input_shape
        pool: nn.Module = nn.Identity() if height <= 8 else nn.MaxPool2d(2)
        self.features = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(), pool,
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU(), nn.MaxPool2d(2),
        )
        with torch.no_grad():
            flat = self.features.eval()(torch.zeros(1, *input_shape)).numel()
        self.features.train()
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(flat, 128), nn.ReLU(), nn.Dropout(dropout), nn.Linear(128, nb_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))  # type: ignore[no-any-return]


#: the reference models by name, each built as ``MODEL_ZOO[name](input_shape, nb_classes)``
#: (benchmarks' ``--arch``; the 32x32 colour networks are in :mod:`art_ext.cifar_models`)
MODEL_ZOO: dict[str, Callable[..., nn.Module]] = {
    "smallcnn": SmallCNN, "bncnn": BNCNN, "cifar_cnn": CifarCNN, "preact_resnet18": PreActResNet18,
    "wrn_28_10": wide_resnet_28_10,
}


#: the optimizers a classifier art-ext builds can carry (``make_optimizer``)
OPTIMIZERS = ("adam", "sgd")


def make_optimizer(model: nn.Module, name: str = "adam", *, lr: float = 1e-3, momentum: float = 0.9,
                   weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """``adam`` (torch's defaults but ``lr`` and ``weight_decay``) or ``sgd`` (with ``momentum``, as
    in Wong et al. 2020 and Rice et al. 2020: 0.9, weight decay 5e-4) over ``model``'s parameters."""
    checks.choice(name, "optimizer", OPTIMIZERS)
    checks.positive(lr, "lr")
    checks.number(weight_decay, "weight_decay", low=0.0)
    if name == "sgd":
        checks.number(momentum, "momentum", low=0.0, high=1.0, high_inclusive=False)
        return torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    return torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)


def make_classifier(
    model: nn.Module,
    input_shape: Sequence[int],
    nb_classes: int,
    clip_values: tuple[float, float] = (0.0, 1.0),
    lr: float = 1e-3,
    device_type: str = "cpu",
    normalisation: tuple[Sequence[float], Sequence[float]] | None = None,
    optimizer: torch.optim.Optimizer | None = None,
) -> Any:
    """Wrap ``model`` in an ART ``PyTorchClassifier`` with cross-entropy and ``optimizer`` (default:
    Adam at ``lr``, :func:`make_optimizer`).

    :param normalisation: per-channel ``(mean, std)`` of the data set (``ImageDataset.normalisation``),
        applied by ART's ``preprocessing`` inside the classifier: attacks see images in ``clip_values``.
    """
    from art.estimators.classification import PyTorchClassifier

    preprocessing: Any = (0.0, 1.0)  # ART's default: none
    if normalisation is not None:
        mean, std = (np.asarray(v, dtype=np.float32).reshape(-1, 1, 1) for v in normalisation)
        preprocessing = (mean, std)
    return PyTorchClassifier(
        model=model,
        loss=nn.CrossEntropyLoss(),
        optimizer=optimizer if optimizer is not None else make_optimizer(model, lr=lr),
        input_shape=tuple(input_shape),
        nb_classes=nb_classes,
        clip_values=clip_values,
        device_type=device_type,
        preprocessing=preprocessing,
    )


def train_model(
    model: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    *,
    epochs: int = 5,
    batch_size: int = 128,
    lr: float = 1e-3,
    seed: int = 0,
    precision: str = "auto",
) -> nn.Module:
    """Plain (non-adversarial) training with Adam, on tensors, deterministic for a seed.

    Runs under the core's device policy (:func:`art_ext.core.device.resolve_policy`): bf16
    autocast and channels_last where the hardware runs them natively (``precision="fp32"``
    to turn it off). The model comes back in eval mode and the default memory format.
    """
    policy = resolve_policy(model, precision=precision)
    policy.prepare_model(model)
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.as_tensor(x, dtype=torch.float32)
    labels = torch.as_tensor(y, dtype=torch.long)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(inputs), generator=generator)
        for start in range(0, len(inputs), batch_size):
            batch = order[start : start + batch_size]
            xb, yb = policy.to_device((inputs[batch], labels[batch]))
            optimizer.zero_grad(set_to_none=True)
            with policy.autocast():
                logits = model(xb)
            loss = nn.functional.cross_entropy(logits.float(), yb)
            loss.backward()
            optimizer.step()
    model.eval()
    if policy.channels_last:
        model.to(memory_format=torch.contiguous_format)  # type: ignore[call-overload]
    return model


def accuracy(classifier: Any, x: np.ndarray, y: np.ndarray, batch_size: int = 512) -> float:
    """Top-1 accuracy of an ART classifier; ``y`` as indices or one-hot."""
    labels = np.argmax(y, axis=1) if y.ndim == 2 else y
    predictions = classifier.predict(x, batch_size=batch_size)
    return float(np.mean(np.argmax(predictions, axis=1) == labels))


def trained_small_cnn(
    x: np.ndarray, y: np.ndarray, nb_classes: int = 10, *, epochs: int = 5, seed: int = 0, **classifier_kwargs: Any
) -> Any:
    """A :class:`SmallCNN` trained on ``(x, y)`` and wrapped as an ART classifier."""
    torch.manual_seed(seed)
    model = SmallCNN(x.shape[1:], nb_classes)
    train_model(model, x, y, epochs=epochs, seed=seed)
    return make_classifier(model, x.shape[1:], nb_classes, **classifier_kwargs)
