"""Device, precision and thread policy of the trainer core.

:func:`resolve_policy` turns the user's wishes and the model into a :class:`Policy`:

* **device**: the one given, else the device of the model's parameters (so an ART
  ``PyTorchClassifier`` built with ``device_type="gpu"`` trains on CUDA with nothing else to set);
* **precision**: ``"auto"`` (default) trains with bf16 autocast where the hardware runs bf16
  natively (CUDA devices with bf16 support; CPUs with AMX or AVX512-BF16, detected through
  oneDNN and the CPU flags) and in fp32 elsewhere. ``"fp32"``, ``"bf16"`` and ``"fp16"`` (CUDA
  only, with a ``torch.amp.GradScaler``) force one; asking for a precision the hardware cannot
  run natively is an error, never a silent fallback. Autocast covers the network's forward
  passes only: inputs, perturbations, clipping and losses stay float32, and every evaluation
  (:mod:`art_ext.evaluation`) runs in float32;
* **channels_last**: ``None`` means on for conv nets (oneDNN on CPUs, cuDNN on CUDA), off
  otherwise;
* **compile**: ``torch.compile`` the forward passes (off by default; slower on CPUs here);
* **pin_memory / non_blocking**: on for CUDA; host batches are pinned and copied asynchronously.

:func:`default_threads` is the one rule for torch's CPU thread count (CLI and benchmarks),
:func:`fused_optimizer` the one rule for the optimizers art-ext creates itself (the fused
Adam/AdamW kernel where every parameter allows it), and :func:`hardware_info` what every results
file records about the machine.

The policy only decides; it never touches CUDA itself, so its dispatch is testable on a CPU by
passing ``device="cuda"`` with ``dry_run=True``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

logger = logging.getLogger(__name__)

Precision = Literal["fp32", "bf16", "fp16"]
PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "fp16")
#: what users may ask for: a precision, or "auto" (the hardware's native one)
PRECISION_REQUESTS: tuple[str, ...] = ("auto", *PRECISIONS)
THREADS_ENV = "ART_EXT_THREADS"
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


def cpu_flags() -> set[str]:
    """The CPU feature flags of ``/proc/cpuinfo`` (empty where it cannot be read)."""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo`` (``platform.processor()`` elsewhere), for timings."""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpu_bf16_native() -> bool:
    """Whether this CPU runs bf16 matmuls and convolutions natively (AMX or AVX512-BF16 via oneDNN)."""
    try:
        supported = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        supported = False
    flags = cpu_flags()
    return supported and bool(flags & {"amx_bf16", "avx512_bf16"} or not flags)


def cuda_bf16_native(device: torch.device) -> bool:
    """Whether the CUDA device runs bf16 natively (compute capability 8.0 and up)."""
    if not torch.cuda.is_available():
        return False
    index = device.index if device.index is not None else torch.cuda.current_device()
    return bool(torch.cuda.get_device_capability(index)[0] >= 8)


def native_precision(device: torch.device, *, dry_run: bool = False) -> Precision:
    """What ``precision="auto"`` resolves to on ``device``."""
    if device.type == "cuda":
        return "bf16" if dry_run or cuda_bf16_native(device) else "fp32"
    if device.type == "cpu":
        return "bf16" if cpu_bf16_native() else "fp32"
    return "fp32"


def default_threads(*, small_model: bool = False) -> int:
    """torch CPU threads for a run: ``$ART_EXT_THREADS`` if set, 1 for tiny models (the 8x8
    digits nets, where more threads only add contention), else the cores this process may use."""
    env = os.environ.get(THREADS_ENV)
    if env:
        try:
            value = int(env)
        except ValueError:
            raise ValueError(f"{THREADS_ENV} must be a positive integer, got {env!r}") from None
        if value < 1:
            raise ValueError(f"{THREADS_ENV} must be a positive integer, got {env!r}")
        return value
    if small_model:
        return 1
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def set_threads(threads: int | None, *, small_model: bool = False) -> int:
    """Apply ``threads`` (default: :func:`default_threads`) to torch; return the number set."""
    value = default_threads(small_model=small_model) if threads is None else int(threads)
    if value < 1:
        raise ValueError(f"threads must be a positive integer, got {threads!r}")
    torch.set_num_threads(value)
    return value


def hardware_info() -> dict[str, Any]:
    """CPU capability, bf16 support, threads and CUDA devices, for results files."""
    flags = cpu_flags()
    info: dict[str, Any] = {
        "cpu_model": cpu_model(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_bf16_flags": sorted(flags & {"amx_bf16", "amx_tile", "amx_int8", "avx512_bf16"}),
        "cpu_bf16_native": cpu_bf16_native(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": str(torch.__version__),
        "cuda": torch.cuda.is_available(),
    }
    if torch.cuda.is_available():
        info["cuda_devices"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return info


def resolve_policy(
    model: nn.Module,
    *,
    device: str | torch.device | None = None,
    precision: str = "auto",
    channels_last: bool | None = None,
    compile: bool = False,
    pin_memory: bool | None = None,
    dry_run: bool = False,
) -> Policy:
    """Decide device, precision, memory format and copies for ``model``.

    :param device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, a ``torch.device`` or ``None`` (follow the model).
    :param precision: ``"auto"`` (native bf16 where the hardware has it, else fp32), ``"fp32"``,
        ``"bf16"`` or ``"fp16"`` (CUDA only).
    :param channels_last: ``None``: on for conv nets.
    :param dry_run: decide without checking that the device exists (for tests of the dispatch).
    :raises ValueError: unknown precision or device string; CUDA asked for but not available; a
        precision the device cannot run natively.
    """
    if precision not in PRECISION_REQUESTS:
        raise ValueError(f"precision must be one of {PRECISION_REQUESTS}, got {precision!r}")
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
    if precision == "auto":
        chosen: Precision = native_precision(dev, dry_run=dry_run)
    else:
        chosen = precision  # type: ignore[assignment]
        if chosen == "fp16" and not on_cuda:
            raise ValueError(f"precision='fp16' needs CUDA; on {dev} use 'auto', 'bf16' or 'fp32'")
        if chosen == "bf16" and not on_cuda and not cpu_bf16_native():
            raise ValueError(
                "precision='bf16' asked for, but this CPU has no native bf16 (AMX or AVX512-BF16); "
                "use precision='auto' or 'fp32'"
            )
        if chosen == "bf16" and on_cuda and not dry_run and not cuda_bf16_native(dev):
            raise ValueError(f"precision='bf16' asked for, but {dev} has no native bf16; use 'auto', 'fp16' or 'fp32'")
    use_cl = has_conv(model) if channels_last is None else bool(channels_last)
    pin = on_cuda if pin_memory is None else bool(pin_memory and on_cuda)
    return Policy(
        device=dev,
        precision=chosen,
        channels_last=use_cl,
        compile=bool(compile),
        pin_memory=pin,
        non_blocking=on_cuda,
    )


def fused_optimizer(params: Any) -> bool | None:
    """The ``fused`` argument of Adam / AdamW: ``True`` when every parameter is a floating tensor
    on the CPU or CUDA, else ``None`` (torch's own choice).

    For the Adam / AdamW optimizers art-ext creates itself (the text trainers' default AdamW):
    torch's fused kernel updates all parameters in one pass, where the default ``foreach`` path
    makes several passes over memory, a fixed cost per step that bf16 autocast does not shrink
    (``benchmarks/text_profile.py`` measures it on MiniLM). The arithmetic is Adam's;
    the results agree with the unfused path to float32 rounding, not bit for bit.
    """
    tensors = list(params)
    ok = bool(tensors) and all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in tensors)
    return True if ok else None


def maybe_compile(model: nn.Module, policy: Policy) -> Any:
    """``torch.compile(model)`` when the policy says so, else ``model`` itself."""
    if not policy.compile:
        return model
    return torch.compile(model)


def snapshot_modes(*modules: nn.Module) -> list[tuple[nn.Module, bool]]:
    """Every sub-module's ``training`` flag, to restore later with :func:`restore_modes`."""
    return [(m, m.training) for module in modules for m in module.modules()]


def restore_modes(snapshot: list[tuple[nn.Module, bool]]) -> None:
    """Put every sub-module back in the mode :func:`snapshot_modes` recorded."""
    for module, mode in snapshot:
        module.training = mode


@contextlib.contextmanager
def channels_last_weights(module: nn.Module) -> Iterator[None]:
    """The module's 4-D weights and buffers in channels_last for the block, each back in its own
    layout afterwards (same values, the same storage, the same ``Parameter`` objects: optimizers keep theirs).

    Why: oneDNN picks its fast convolution layout from the input *or* the weight, and a
    one-channel input (MNIST) is contiguous in both layouts, so channels_last inputs alone change
    nothing there; with the weights converted a lone SmallCNN float32 forward ran ~2.3x faster at
    1 thread (AMD EPYC, micro-benchmark; a whole evaluation beside another process gained a few %).
    """
    originals = [(t, t.data) for t in (*module.parameters(), *module.buffers())
                 if t.dim() == 4 and not t.is_contiguous(memory_format=torch.channels_last)]
    try:
        for tensor, data in originals:
            tensor.data = data.contiguous(memory_format=torch.channels_last)
        yield
    finally:
        for tensor, data in originals:
            with torch.no_grad():
                data.copy_(tensor.data)  # the original storage, with whatever the block wrote
            tensor.data = data


@contextlib.contextmanager
def eval_mode(*modules: nn.Module) -> Iterator[None]:
    """Eval mode for the block; afterwards every sub-module is back in its own previous mode
    (a BatchNorm the user froze inside a training model stays frozen)."""
    snapshot = snapshot_modes(*modules)
    try:
        for m in modules:
            m.eval()
        yield
    finally:
        restore_modes(snapshot)


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
