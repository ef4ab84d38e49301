"""The forward pass of an ART ``PyTorchClassifier`` on raw inputs, as one ``nn.Module``.

ART applies its mean/std preprocessing outside the model; the core's trainers and the
evaluation entry point need it inside the forward pass (their attacks differentiate through
it). :func:`classifier_forward` builds that module once, for everyone.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from art.preprocessing.standardisation_mean_std.utils import broadcastable_mean_std
from torch import Tensor, nn

from art_ext import checks
from art_ext.core.device import restore_modes, snapshot_modes

__all__ = ["ChannelsLast", "Normalized", "check_agrees_with_predict", "classifier_forward"]


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

    The mean and std broadcast by ART's own rule (``broadcastable_mean_std``), so the module sees
    exactly what ``classifier.predict`` feeds the model, in the classifier's layout (NCHW, or NHWC
    with ``channels_first=False``). :func:`check_agrees_with_predict` then proves it on a probe batch.

    :raises ValueError: the classifier has preprocessing defences, or preprocessing other than
        mean/std (neither can be differentiated through here), or the module disagrees with
        ``classifier.predict``.
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
    forward = model
    if not (np.all(mean == 0) and np.all(std == 1)):
        input_shape = tuple(int(d) for d in getattr(classifier, "input_shape", ()))
        mean, std = broadcastable_mean_std(np.empty((1, *input_shape), dtype=np.float32), mean, std)
        device = next(iter(model.parameters()), torch.empty(0)).device
        forward = Normalized(model, torch.as_tensor(mean).to(device), torch.as_tensor(std).to(device))
    check_agrees_with_predict(classifier, forward)
    return forward


def check_agrees_with_predict(classifier: Any, forward: nn.Module, *, tolerance: float = 1e-3) -> None:
    """Raise ``ValueError`` unless ``forward(x)`` equals ``classifier.predict(x)`` on a probe batch.

    The probe is two seeded uniform inputs inside ``clip_values``, run in eval mode (every
    sub-module's mode restored afterwards) and in float32: the one check that art-ext reads the
    classifier as ART does, whatever its layout or preprocessing.
    """
    input_shape = tuple(int(d) for d in getattr(classifier, "input_shape", ()))
    predict = getattr(classifier, "predict", None)
    if not input_shape or not callable(predict):
        return
    low, high = (0.0, 1.0) if getattr(classifier, "clip_values", None) is None else classifier.clip_values
    generator = np.random.default_rng(0)
    span = np.asarray(high, dtype=np.float32) - np.asarray(low, dtype=np.float32)
    probe = (np.asarray(low, dtype=np.float32) + generator.random((2, *input_shape), dtype=np.float32) * span)
    probe = probe.astype(np.float32)
    modes = snapshot_modes(forward, getattr(classifier, "model", forward))
    try:
        forward.eval()
        classifier.model.eval()
        device = next(iter(forward.parameters()), torch.empty(0)).device
        # ART's predict draws from torch's global generator (its DataLoader's base seed): the probe
        # leaves the generator as it found it, so checking changes no later random start
        forked = [device] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=forked), torch.no_grad(), \
                torch.autocast(device_type=device.type, enabled=False):
            output = forward(torch.from_numpy(probe).to(device))
            checks.logits(output, "the model's output")
            ours = output.float().cpu().numpy()
            theirs = np.asarray(predict(probe, batch_size=2), dtype=np.float32)
    except (RuntimeError, ValueError, IndexError) as error:  # torch's own, from inside the model
        raise ValueError(f"classifier: its model fails on a float32 probe batch of shape {probe.shape} "
                         f"({type(error).__name__}: {checks.first_line(error)})") from None
    finally:
        restore_modes(modes)
    if ours.shape != theirs.shape:
        raise ValueError(f"classifier: art-ext's forward pass gives outputs of shape {ours.shape}, its predict "
                         f"{theirs.shape}, on a probe batch of shape {probe.shape}")
    gap = float(np.max(np.abs(ours - theirs)))
    scale = max(1.0, float(np.max(np.abs(theirs))))
    if gap > tolerance * scale:
        raise ValueError(
            f"classifier: art-ext's forward pass (preprocessing inside the model) disagrees with the classifier's "
            f"predict by {gap:.3g} on a probe batch of shape {probe.shape} (channels_first="
            f"{getattr(classifier, 'channels_first', None)}, preprocessing {classifier.preprocessing_operations}); "
            "art-ext would attack another function than the one ART predicts with"
        )
