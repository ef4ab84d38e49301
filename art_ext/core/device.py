"""Device and precision policy of the trainer core.

:func:`resolve_policy` turns the user's wishes and the model into a :class:`Policy`:

* **device**: the one given, else the device of the model's parameters (so an ART
  ``PyTorchClassifier`` built with ``device_type="gpu"`` trains on CUDA with nothing else to set);
* **precision**: ``"fp32"`` (default), ``"bf16"`` or ``"fp16"``, opt-in and CUDA only: autocast
  through ``torch.amp`` and, for fp16, a ``torch.amp.GradScaler``. Asked for on a CPU, mixed
  precision falls back to fp32 with a warning (bf16 on CPU can be forced with
  ``allow_cpu_bf16=True``);
* **channels_last**: ``None`` means on for conv nets on CUDA, off otherwise;
* **compile**: ``torch.compile`` the forward passes (off by default);
* **pin_memory / non_blocking**: on for CUDA; host batches are pinned and copied asynchronously.

The policy only decides; it never touches CUDA itself, so its dispatch is testable on a CPU by
passing ``device="cuda"`` with ``dry_run=True``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

logger = logging.getLogger(__name__)

Precision = Literal["fp32", "bf16", "fp16"]
PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "fp16")
_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class Policy:
    """The resolved device and precision policy (see module docstring)."""

    device: torch.device
    precision: Precision = "fp32"
    channels_last: bool = False
    compile: bool = False
    pin_memory: bool = False
    non_blocking: bool = False

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        return _DTYPES[self.precision]

    @property
    def use_grad_scaler(self) -> bool:
        return self.precision == "fp16" and self.device.type == "cuda"

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """An autocast context for the forward passes (a no-op in fp32)."""
        dtype = self.autocast_dtype
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=dtype)

    def make_grad_scaler(self) -> torch.amp.GradScaler:
        """A ``torch.amp.GradScaler``, enabled only for fp16 on CUDA."""
        return torch.amp.GradScaler(self.device.type, enabled=self.use_grad_scaler)

    def to_device(self, batch: Any) -> Any:
        """Move a tensor, or a tuple/list/dict of tensors, to the device (channels_last for 4-D floats)."""
        if isinstance(batch, torch.Tensor):
            tensor = batch
            if self.pin_memory and tensor.device.type == "cpu" and not tensor.is_pinned():
                tensor = tensor.pin_memory()
            tensor = tensor.to(self.device, non_blocking=self.non_blocking)
            if self.channels_last and tensor.dim() == 4 and tensor.is_floating_point():
                tensor = tensor.contiguous(memory_format=torch.channels_last)
            return tensor
        if isinstance(batch, Mapping):
            return type(batch)({k: self.to_device(v) for k, v in batch.items()})  # type: ignore[call-arg]
        if isinstance(batch, tuple):
            return tuple(self.to_device(v) for v in batch)
        if isinstance(batch, list):
            return [self.to_device(v) for v in batch]
        return batch

    def prepare_model(self, model: nn.Module) -> nn.Module:
        """Move ``model`` to the device (in place) and to channels_last when the policy says so."""
        model.to(self.device)
        if self.channels_last:
            model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        return model


def has_conv(model: nn.Module) -> bool:
    """Whether ``model`` holds a 2-D convolution (channels_last pays off only for those)."""
    return any(isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) for m in model.modules())


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (or buffer); CPU for a model with neither."""
    for param in model.parameters():
        return param.device
    for buffer in model.buffers():
        return buffer.device
    return torch.device("cpu")


def resolve_policy(
    model: nn.Module,
    *,
    device: str | torch.device | None = None,
    precision: str = "fp32",
    channels_last: bool | None = None,
    compile: bool = False,
    pin_memory: bool | None = None,
    allow_cpu_bf16: bool = False,
    dry_run: bool = False,
) -> Policy:
    """Decide device, precision, memory format and copies for ``model``.

    :param device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, a ``torch.device`` or ``None`` (follow the model).
    :param precision: ``"fp32"``, ``"bf16"`` or ``"fp16"``.
    :param channels_last: ``None``: on for conv nets on CUDA.
    :param dry_run: decide without checking that the device exists (for tests of the dispatch).
    :raises ValueError: unknown precision or device string; CUDA asked for but not available.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if device is None:
        dev = model_device(model)
    else:
        try:
            dev = torch.device(device)
        except (RuntimeError, TypeError) as error:
            raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}") from error
    if dev.type == "cuda" and not dry_run and not torch.cuda.is_available():
        raise ValueError(f"device {str(dev)!r} requested but CUDA is not available")
    on_cuda = dev.type == "cuda"
    chosen: Precision = precision  # type: ignore[assignment]
    if not on_cuda and precision != "fp32":
        if precision == "bf16" and allow_cpu_bf16:
            logger.info("bf16 autocast on CPU (allow_cpu_bf16=True)")
        else:
            logger.warning("precision %r is for CUDA; training in fp32 on %s", precision, dev)
            chosen = "fp32"
    use_cl = bool(on_cuda and has_conv(model)) if channels_last is None else bool(channels_last)
    if use_cl and not on_cuda:
        logger.info("channels_last requested on %s; allowed but rarely faster off CUDA", dev)
    pin = on_cuda if pin_memory is None else bool(pin_memory and on_cuda)
    return Policy(
        device=dev,
        precision=chosen,
        channels_last=use_cl,
        compile=bool(compile),
        pin_memory=pin,
        non_blocking=on_cuda,
    )


def maybe_compile(model: nn.Module, policy: Policy) -> Any:
    """``torch.compile(model)`` when the policy says so, else ``model`` itself."""
    if not policy.compile:
        return model
    return torch.compile(model)


@contextlib.contextmanager
def eval_mode(*modules: nn.Module) -> Iterator[None]:
    """Put modules in eval mode for the block and restore each one's previous mode."""
    previous = [m.training for m in modules]
    try:
        for m in modules:
            m.eval()
        yield
    finally:
        for m, mode in zip(modules, previous):
            m.train(mode)


def as_clip_tensors(clip_values: Sequence[Any] | None, policy: Policy) -> tuple[Any, Any] | None:
    """ART ``clip_values`` as floats when scalar, else as tensors on the device."""
    if clip_values is None:
        return None
    low, high = clip_values[0], clip_values[1]
    try:
        return float(low), float(high)
    except (TypeError, ValueError):
        return (
            torch.as_tensor(low, dtype=torch.float32, device=policy.device),
            torch.as_tensor(high, dtype=torch.float32, device=policy.device),
        )
