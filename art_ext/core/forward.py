"""The forward pass of an ART ``PyTorchClassifier`` on raw inputs, as one ``nn.Module``.

ART applies its mean/std preprocessing outside the model; the core's trainers and the
evaluation entry point need it inside the forward pass (their attacks differentiate through
it). :func:`classifier_forward` builds that module once, for everyone.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

__all__ = ["ChannelsLast", "Normalized", "classifier_forward"]


class Normalized(nn.Module):
    """``model((x - mean) / std)``: ART's mean/std preprocessing as part of the forward pass."""

    mean: Tensor
    std: Tensor

    def __init__(self, model: nn.Module, mean: Tensor, std: Tensor) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)

    def forward(self, x: Tensor) -> Tensor:
        return self.model((x - self.mean) / self.std)  # type: ignore[no-any-return]


class ChannelsLast(nn.Module):
    """Feeds the model channels_last inputs (oneDNN's fast convolution layout); same arithmetic
    precision as the model's own, used by the fp32 evaluation on CPUs."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.model(x)  # type: ignore[no-any-return]


def classifier_forward(classifier: Any, module: nn.Module | None = None) -> nn.Module:
    """``module`` (default ``classifier.model``) with the classifier's mean/std preprocessing.

    :raises ValueError: the classifier has preprocessing defences, or preprocessing other than
        mean/std (neither can be differentiated through here).
    """
    model = classifier.model if module is None else module
    defences = getattr(classifier, "preprocessing_defences", None)
    if defences:
        raise ValueError(
            f"classifier has preprocessing_defences {[type(d).__name__ for d in defences]}; art-ext's "
            "trainers and evaluation do not apply them: build the classifier without them"
        )
    mean, std = np.asarray(0.0, dtype=np.float32), np.asarray(1.0, dtype=np.float32)
    for op in getattr(classifier, "preprocessing_operations", None) or []:
        if not (hasattr(op, "mean") and hasattr(op, "std")):
            raise ValueError(f"classifier preprocessing {type(op).__name__} is not supported (only mean/std)")
        mean, std = np.asarray(op.mean, dtype=np.float32), np.asarray(op.std, dtype=np.float32)
    if np.all(mean == 0) and np.all(std == 1):
        return model
    input_shape = tuple(getattr(classifier, "input_shape", ()))
    shape = (1, *mean.shape, 1, 1) if mean.ndim == 1 and len(input_shape) == 3 else mean.shape
    device = next(iter(model.parameters()), torch.empty(0)).device
    return Normalized(model, torch.as_tensor(mean).reshape(shape).to(device), torch.as_tensor(std).reshape(shape).to(device))
