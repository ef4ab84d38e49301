"""The generic training loop of the core, behind ART's ``Trainer`` interface.

:class:`CoreTrainer` owns everything that is not the algorithm: device and precision policy,
data sources (numpy, ``DataLoader``, ART ``DataGenerator``), DDP, the epoch loop with a tqdm bar,
per-epoch evaluation, a JSON-lines metrics log, atomic checkpoints with exact resume, the best
checkpoint, and SIGINT/SIGTERM handling. A trainer on the core overrides:

* :meth:`CoreTrainer.train_step` ``(batch) -> dict[str, Tensor]``: one optimisation step on a
  device batch (a tuple of tensors, or whatever your ``DataLoader`` yields, moved to the device);
  return detached scalar tensors (batch means) to log. Do not call ``.item()`` in here.
* :meth:`CoreTrainer.evaluate` ``(source) -> dict[str, float]``: validation metrics.
* optionally :meth:`CoreTrainer.prepare_batch`, :meth:`CoreTrainer.check_data`,
  :meth:`CoreTrainer.get_model`, :meth:`CoreTrainer.check_estimator`.

Extra networks and optimizers (a GAN's generator and discriminator, say) are registered with
:meth:`CoreTrainer.register_module` / :meth:`CoreTrainer.register_optimizer` /
:meth:`CoreTrainer.register_scheduler` / :meth:`CoreTrainer.register_state`; they are moved to the
device and checkpointed and restored with the rest. See ``docs/core.md``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import resource
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from art.defences.trainer import Trainer
from torch import Tensor, nn

from art_ext.core import distributed as ddp
from art_ext.core.batches import BatchSource, LoaderSource, TensorSource, make_source
from art_ext.core.checkpoint import atomic_save, capture_rng, load_checkpoint, restore_rng
from art_ext.core.device import Policy, maybe_compile, resolve_policy

logger = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "art-ext-core/1"
LAST = "last.pt"
BEST = "best.pt"
METRICS = "metrics.jsonl"

__all__ = ["CHECKPOINT_FORMAT", "CoreTrainer", "TrainingInterrupted"]


class TrainingInterrupted(KeyboardInterrupt):
    """Raised by ``fit`` after SIGINT/SIGTERM once the checkpoint is saved."""

    def __init__(self, signum: int, checkpoint: Path | None) -> None:
        super().__init__(f"training interrupted by signal {signum}; checkpoint: {checkpoint}")
        self.signum = signum
        self.checkpoint = checkpoint


def _rss_mb() -> tuple[float, float]:
    """(current RSS, peak RSS) of this process in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    try:
        with open("/proc/self/statm") as handle:
            pages = int(handle.read().split()[1])
        current = pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):  # pragma: no cover - not Linux
        current = float("nan")
    return current, peak


def _batch_len(batch: Any) -> int:
    if isinstance(batch, Tensor):
        return len(batch)
    if isinstance(batch, dict):
        return len(next(iter(batch.values())))
    return len(batch[0])


class CoreTrainer(Trainer):
    """Generic torch-native trainer; subclass it and override :meth:`train_step`.

    :param estimator: the ART estimator whose ``model`` (a ``torch.nn.Module``) is trained in place.
    :param optimizer: optimizer of the model; default: the estimator's ``optimizer``.
    :param scheduler: optional LR scheduler of that optimizer, stepped per ``scheduler_interval``.
    :param scheduler_interval: ``"epoch"`` (default) or ``"step"``.
    :param nb_epochs: default number of epochs for ``fit``.
    :param batch_size: global batch size (split across ranks under DDP).
    :param device: ``None`` follows the model; ``"cpu"``, ``"cuda"``, ``"cuda:N"``.
    :param precision: ``"fp32"`` (default), ``"bf16"``, ``"fp16"`` (CUDA; fp16 uses a GradScaler).
    :param channels_last: ``None``: automatic (conv nets on CUDA).
    :param compile: ``torch.compile`` the forward passes.
    :param seed: seeds torch/numpy/random and the data order at the start of ``fit``; ``None``
        leaves the global RNGs alone and draws the data-order seed from torch's RNG.
    :param checkpoint_dir: folder for ``last.pt``, ``best.pt`` and ``metrics.jsonl``.
    :param checkpoint_every: also save ``last.pt`` every this many steps (0: at epoch ends only).
    :param resume: continue from ``checkpoint_dir/last.pt`` when it exists.
    :param metrics_path: JSON-lines log; default ``checkpoint_dir/metrics.jsonl`` (or none).
    :param validation_split: fraction of ``fit``'s data held out (seeded) for per-epoch evaluation.
    :param restore_best: at the end of ``fit`` load the best checkpoint's weights.
    :param max_grad_norm: clip the gradient norm (``None``: no clipping).
    :param log_every: steps between progress-bar updates (each is one host sync on a GPU).
    :param verbose: show the tqdm bar.
    :param distributed: ``None``: automatic under ``torchrun``.
    :param handle_signals: save and stop cleanly on SIGINT/SIGTERM.
    """

    #: metric of :meth:`evaluate` that selects the best checkpoint (higher is better); None: none
    best_metric: str | None = None

    def __init__(
        self,
        estimator: Any,
        *,
        optimizer: torch.optim.Optimizer | None = None,
        scheduler: Any = None,
        scheduler_interval: str = "epoch",
        nb_epochs: int = 10,
        batch_size: int = 128,
        device: str | torch.device | None = None,
        precision: str = "fp32",
        channels_last: bool | None = None,
        compile: bool = False,
        seed: int | None = None,
        checkpoint_dir: str | os.PathLike[str] | None = None,
        checkpoint_every: int = 0,
        resume: bool = False,
        metrics_path: str | os.PathLike[str] | None = None,
        validation_split: float = 0.0,
        restore_best: bool = False,
        max_grad_norm: float | None = None,
        log_every: int = 20,
        verbose: bool = True,
        distributed: bool | None = None,
        handle_signals: bool = True,
    ) -> None:
        self.check_estimator(estimator)
        super().__init__(estimator)
        self.module: nn.Module = self.get_model(estimator)
        self.nb_epochs = nb_epochs
        self.batch_size = batch_size
        self.device_request = device
        self.precision = precision
        self.channels_last_request = channels_last
        self.compile = compile
        self.seed = seed
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
        self.checkpoint_every = checkpoint_every
        self.resume = resume
        self.metrics_path = (
            Path(metrics_path) if metrics_path is not None
            else (self.checkpoint_dir / METRICS if self.checkpoint_dir is not None else None)
        )
        self.validation_split = validation_split
        self.restore_best = restore_best
        self.max_grad_norm = max_grad_norm
        self.log_every = log_every
        self.verbose = verbose
        self.distributed = distributed
        self.handle_signals = handle_signals
        self.scheduler_interval = scheduler_interval

        self._ready = False
        self.policy: Policy | None = None
        self._modules: dict[str, nn.Module] = {}
        self._optimizers: dict[str, torch.optim.Optimizer] = {}
        self._schedulers: dict[str, tuple[Any, str]] = {}
        self._states: dict[str, Any] = {}
        self.register_module("model", self.module)
        opt = optimizer if optimizer is not None else getattr(estimator, "optimizer", None)
        if opt is not None:
            self.register_optimizer("optimizer", opt)
        if scheduler is not None:
            self.register_scheduler("scheduler", scheduler, interval=scheduler_interval)

        # run state (checkpointed)
        self.epoch = 0  # completed epochs
        self.step_in_epoch = 0  # completed steps of the current epoch
        self.global_step = 0
        self.data_seed = 0
        self.history: list[dict[str, Any]] = []
        self.best_value: float | None = None
        self.best_epoch: int | None = None
        self._sums: dict[str, Tensor] = {}
        self._count = 0
        self._epoch_start_rng: dict[str, Any] | None = None
        self._resume_rng: dict[str, Any] | None = None

        # set up at the start of fit
        self.dist = ddp.DistInfo()
        self.net: Callable[..., Any] = self.module
        self.attack_net: Callable[..., Any] = self.module
        self.scaler: torch.amp.GradScaler | None = None
        self._stop_signal: int | None = None
        self._scaler_pending = False
        CoreTrainer._check_params(self)

    # ------------------------------------------------------------------ overridable pieces

    def check_estimator(self, estimator: Any) -> None:
        """Raise ``TypeError`` unless ``estimator`` carries a ``torch.nn.Module`` as ``model``."""
        model = getattr(estimator, "model", None)
        if not isinstance(model, nn.Module):
            raise TypeError(
                f"estimator must be a PyTorch estimator whose .model is a torch.nn.Module, "
                f"got {type(estimator).__name__}"
            )

    def get_model(self, estimator: Any) -> nn.Module:
        """The module to train (default ``estimator.model``; trained in place)."""
        return estimator.model  # type: ignore[no-any-return]

    def _check_params(self) -> None:
        if not isinstance(self.nb_epochs, int) or isinstance(self.nb_epochs, bool) or self.nb_epochs < 1:
            raise ValueError(f"nb_epochs must be a positive integer, got {self.nb_epochs!r}")
        if not isinstance(self.batch_size, int) or isinstance(self.batch_size, bool) or self.batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {self.batch_size!r}")
        if self.scheduler_interval not in ("epoch", "step"):
            raise ValueError(f"scheduler_interval must be 'epoch' or 'step', got {self.scheduler_interval!r}")
        if not 0.0 <= float(self.validation_split) < 1.0:
            raise ValueError(f"validation_split must be in [0, 1), got {self.validation_split!r}")
        if not isinstance(self.checkpoint_every, int) or self.checkpoint_every < 0:
            raise ValueError(f"checkpoint_every must be an integer >= 0, got {self.checkpoint_every!r}")
        if self.resume and self.checkpoint_dir is None:
            raise ValueError("resume=True needs checkpoint_dir")
        if self.max_grad_norm is not None and not self.max_grad_norm > 0:
            raise ValueError(f"max_grad_norm must be > 0 or None, got {self.max_grad_norm!r}")
        if not isinstance(self.log_every, int) or self.log_every < 1:
            raise ValueError(f"log_every must be a positive integer, got {self.log_every!r}")
        from art_ext.core.device import PRECISIONS

        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")

    def check_data(self, x: Any, y: Any) -> tuple[Tensor, ...]:
        """Validate ``fit``'s arrays and return them as host tensors (override per modality)."""
        if len(x) != len(y):
            raise ValueError(f"x and y have different lengths: {len(x)} and {len(y)}")
        return (torch.as_tensor(np.asarray(x)), torch.as_tensor(np.asarray(y)))

    def prepare_batch(self, batch: Any) -> Any:
        """Move a host batch to the device (override to also convert it, e.g. one-hot labels)."""
        assert self.policy is not None
        return self.policy.to_device(batch)

    def train_step(self, batch: Any) -> dict[str, Tensor]:
        """One optimisation step; default: clean cross-entropy on ``(x, y)``.

        :return: detached scalar tensors (batch means) to log, e.g. ``{"loss": ..., "acc": ...}``.
        """
        x, y = batch[0], batch[1]
        with self.autocast():
            logits = self.net(x)
            loss = nn.functional.cross_entropy(logits.float(), y)
        self.optimizer_step(loss)
        return {"loss": loss.detach(), "acc": (logits.detach().argmax(1) == y).float().mean()}

    def evaluate(self, source: BatchSource) -> dict[str, float]:
        """Validation metrics; default: clean accuracy of ``(x, y)`` batches."""
        correct = torch.zeros((), device=self.device)
        total = torch.zeros((), device=self.device)
        with torch.no_grad(), self.eval_mode(), self.autocast():
            for batch in self.iter_batches(source):
                x, y = batch[0], batch[1]
                correct += (self.attack_net(x).argmax(1) == y).sum()
                total += len(y)
        self.all_reduce_sum(correct)
        self.all_reduce_sum(total)
        return {"clean_acc": float(correct / total.clamp_min(1))}

    # ------------------------------------------------------------------ registration

    def register_module(self, name: str, module: nn.Module) -> nn.Module:
        """Add a module that is moved to the device and checkpointed (name must be unique)."""
        if not isinstance(module, nn.Module):
            raise TypeError(f"register_module({name!r}) needs a torch.nn.Module, got {type(module).__name__}")
        if name in self._modules:
            raise ValueError(f"module {name!r} is already registered")
        self._modules[name] = module
        if self._ready and self.policy is not None:
            self.policy.prepare_model(module)
        return module

    def register_optimizer(self, name: str, optimizer: torch.optim.Optimizer) -> torch.optim.Optimizer:
        """Add an optimizer whose state is checkpointed."""
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"register_optimizer({name!r}) needs a torch.optim.Optimizer, got {type(optimizer).__name__}")
        if name in self._optimizers:
            raise ValueError(f"optimizer {name!r} is already registered")
        self._optimizers[name] = optimizer
        return optimizer

    def register_scheduler(self, name: str, scheduler: Any, interval: str = "epoch") -> Any:
        """Add an LR scheduler stepped every ``"epoch"`` or ``"step"`` (or ``"manual"``), checkpointed."""
        if interval not in ("epoch", "step", "manual"):
            raise ValueError(f"interval must be 'epoch', 'step' or 'manual', got {interval!r}")
        if not hasattr(scheduler, "state_dict") or not hasattr(scheduler, "step"):
            raise TypeError(f"register_scheduler({name!r}) needs an LR scheduler, got {type(scheduler).__name__}")
        self._schedulers[name] = (scheduler, interval)
        return scheduler

    def register_state(self, name: str, obj: Any) -> Any:
        """Add any object with ``state_dict()``/``load_state_dict()`` to the checkpoint."""
        if not (hasattr(obj, "state_dict") and hasattr(obj, "load_state_dict")):
            raise TypeError(f"register_state({name!r}) needs state_dict()/load_state_dict()")
        self._states[name] = obj
        return obj

    @property
    def modules(self) -> dict[str, nn.Module]:
        return dict(self._modules)

    @property
    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return dict(self._optimizers)

    @property
    def optimizer(self) -> torch.optim.Optimizer:
        """The main model's optimizer."""
        try:
            return self._optimizers["optimizer"]
        except KeyError:
            raise ValueError(
                "no optimizer: the estimator has none; pass optimizer= to the trainer"
            ) from None

    @property
    def estimator(self) -> Any:
        return self._classifier

    # ------------------------------------------------------------------ helpers for subclasses

    @property
    def device(self) -> torch.device:
        return self.policy.device if self.policy is not None else torch.device("cpu")

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """Autocast context of the precision policy (no-op in fp32)."""
        return self.policy.autocast() if self.policy is not None else contextlib.nullcontext()

    @contextlib.contextmanager
    def eval_mode(self, *modules: nn.Module) -> Iterator[None]:
        """Eval mode for ``modules`` (default: the model) during the block, then restore."""
        targets = modules or (self.module,)
        previous = [m.training for m in targets]
        try:
            for m in targets:
                m.eval()
            yield
        finally:
            for m, mode in zip(targets, previous):
                m.train(mode)

    def backward(self, loss: Tensor) -> None:
        """``loss.backward()``, through the GradScaler when fp16 is on."""
        if self.scaler is not None and self.scaler.is_enabled():
            self.scaler.scale(loss).backward()
        else:
            loss.backward()

    def step(self, optimizer: torch.optim.Optimizer | None = None, params: Any = None) -> None:
        """Clip (if ``max_grad_norm``), step ``optimizer`` (default: main) through the scaler, zero its grads."""
        opt = optimizer if optimizer is not None else self.optimizer
        scaling = self.scaler is not None and self.scaler.is_enabled()
        if self.max_grad_norm is not None:
            if scaling:
                assert self.scaler is not None
                self.scaler.unscale_(opt)
            parameters = params if params is not None else [p for g in opt.param_groups for p in g["params"]]
            torch.nn.utils.clip_grad_norm_(parameters, self.max_grad_norm)
        if scaling:
            assert self.scaler is not None
            self.scaler.step(opt)
            self._scaler_pending = True
        else:
            opt.step()
        opt.zero_grad(set_to_none=True)

    def update_scaler(self) -> None:
        """``GradScaler.update()`` if an optimizer stepped through it since the last update.

        The loop calls this after every :meth:`train_step`; call it yourself only when one
        ``train_step`` makes several backward/step rounds (as Free-AT's replays do)."""
        if self._scaler_pending and self.scaler is not None:
            self.scaler.update()
        self._scaler_pending = False

    def optimizer_step(self, loss: Tensor, optimizer: torch.optim.Optimizer | None = None) -> None:
        """Zero grads, backward, clip, step: the usual update of ``optimizer`` (default: main)."""
        opt = optimizer if optimizer is not None else self.optimizer
        opt.zero_grad(set_to_none=True)
        self.backward(loss)
        self.step(opt)

    def wrap(self, module: nn.Module, ddp_wrap: bool = True) -> Callable[..., Any]:
        """``module`` as a training forward: DDP-wrapped under torchrun, compiled if asked."""
        assert self.policy is not None
        wrapped: Any = module
        if ddp_wrap and self.dist.enabled and any(p.requires_grad for p in module.parameters()):
            from torch.nn.parallel import DistributedDataParallel

            device_ids = [self.policy.device.index or 0] if self.policy.device.type == "cuda" else None
            wrapped = DistributedDataParallel(module, device_ids=device_ids)
        return maybe_compile(wrapped, self.policy)

    def all_reduce_sum(self, tensor: Tensor) -> Tensor:
        """Sum over DDP ranks (no-op with one process)."""
        return ddp.all_reduce_sum(tensor, self.dist)

    def iter_batches(self, source: BatchSource, epoch: int = 0) -> Iterator[Any]:
        """Device batches of ``source`` (for :meth:`evaluate`)."""
        for batch in source.epoch(epoch, 0):
            yield self.prepare_batch(batch)

    def make_source(self, data: Any, *, shuffle: bool = True, batch_size: int | None = None) -> BatchSource:
        """A :class:`BatchSource` for ``data`` with this trainer's device, DDP rank and seed."""
        assert self.policy is not None
        on_device = self.policy.device if self.policy.device.type == "cuda" else None
        if isinstance(data, (tuple, list)) and all(isinstance(t, (np.ndarray, Tensor)) for t in data):
            tensors = tuple(torch.as_tensor(t) for t in data)
            if on_device is not None:
                nbytes = sum(t.element_size() * t.numel() for t in tensors)
                if nbytes > 2**30:  # keep big data on the (pinned) host
                    on_device = None
            return TensorSource(tensors, batch_size or self.batch_size, shuffle=shuffle, seed=self.data_seed,
                                rank=self.dist.rank, world_size=self.dist.world_size,
                                device=on_device, pin_memory=self.policy.pin_memory)
        return make_source(data, batch_size=batch_size or self.batch_size, shuffle=shuffle,
                           seed=self.data_seed, rank=self.dist.rank, world_size=self.dist.world_size,
                           device=on_device, pin_memory=self.policy.pin_memory)

    # ------------------------------------------------------------------ setup

    def setup(self) -> None:
        """Resolve the policy, join DDP, move modules, wrap the forward, make the scaler (once)."""
        if self._ready:
            return
        device = self.device_request
        wants_dist = self.distributed if self.distributed is not None else ddp.env_world_size() > 1
        if wants_dist:
            probe = resolve_policy(self.module, device=device, precision="fp32", dry_run=True)
            if probe.device.type == "cuda":
                device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
                torch.cuda.set_device(device)
            self.dist = ddp.setup(True, probe.device if device is None else torch.device(device))
        self._original_device = next(iter(self.module.parameters()), torch.empty(0)).device
        self.policy = resolve_policy(
            self.module, device=device, precision=self.precision,
            channels_last=self.channels_last_request, compile=self.compile,
        )
        for module in self._modules.values():
            self.policy.prepare_model(module)
        self.scaler = self.policy.make_grad_scaler()
        self.net = self.wrap(self.module)
        self.attack_net = maybe_compile(self.module, self.policy)
        self._ready = True
        logger.info("core trainer on %s, precision %s, channels_last %s, compile %s, world size %d",
                    self.policy.device, self.policy.precision, self.policy.channels_last,
                    self.policy.compile, self.dist.world_size)

    def _teardown(self) -> None:
        """Give the model back to the estimator as it was (device, memory format)."""
        if self.policy is not None and self.policy.channels_last:
            self.module.to(memory_format=torch.contiguous_format)  # type: ignore[call-overload]
        original = getattr(self, "_original_device", None)
        if original is not None and original != self.device:
            self.module.to(original)

    # ------------------------------------------------------------------ public fit API

    def fit(  # type: ignore[override]
        self,
        x: Any,
        y: Any,
        nb_epochs: int | None = None,
        batch_size: int | None = None,
        validation_data: tuple[Any, Any] | Any | None = None,
        **kwargs: Any,
    ) -> None:
        """Train on arrays ``x``, ``y`` (numpy or tensors) like ART's trainers.

        :param validation_data: ``(x_val, y_val)`` or a ``DataLoader`` evaluated each epoch;
            default: the ``validation_split`` fraction of ``(x, y)`` (none when 0).
        """
        if kwargs:
            logger.debug("ignoring fit kwargs %s", sorted(kwargs))
        tensors = self.check_data(x, y)
        if batch_size is not None:
            self.batch_size = batch_size
        val_data = None if validation_data is None else (
            self.check_data(*validation_data) if isinstance(validation_data, (tuple, list)) else validation_data
        )
        if val_data is None and self.validation_split > 0:
            tensors, val_data = self._split(tensors)
        self.train(tensors, nb_epochs=nb_epochs, validation_data=val_data)

    def fit_generator(self, generator: Any, nb_epochs: int | None = None, validation_data: Any = None,
                      **kwargs: Any) -> None:
        """Train from an ART ``DataGenerator`` (numpy and PyTorch generators are unwrapped)."""
        from art.data_generators import DataGenerator

        if not isinstance(generator, DataGenerator):
            raise TypeError(f"generator must be an art.data_generators.DataGenerator, got {type(generator).__name__}")
        val_data = self.check_data(*validation_data) if isinstance(validation_data, (tuple, list)) else validation_data
        self.train(generator, nb_epochs=nb_epochs, validation_data=val_data)

    def fit_loader(self, loader: Any, nb_epochs: int | None = None, validation_data: Any = None) -> None:
        """Train from a ``torch.utils.data.DataLoader`` yielding tuples (or dicts) of tensors."""
        val_data = self.check_data(*validation_data) if isinstance(validation_data, (tuple, list)) else validation_data
        self.train(loader, nb_epochs=nb_epochs, validation_data=val_data)

    def _split(self, tensors: tuple[Tensor, ...]) -> tuple[tuple[Tensor, ...], tuple[Tensor, ...]]:
        n = len(tensors[0])
        n_val = max(1, round(n * self.validation_split))
        generator = torch.Generator().manual_seed(0 if self.seed is None else self.seed)
        order = torch.randperm(n, generator=generator)
        train_idx, val_idx = order[n_val:].sort().values, order[:n_val].sort().values
        return tuple(t[train_idx] for t in tensors), tuple(t[val_idx] for t in tensors)

    # ------------------------------------------------------------------ the loop

    def train(self, data: Any, nb_epochs: int | None = None, validation_data: Any = None) -> list[dict[str, Any]]:
        """The epoch loop on any data ``fit``/``fit_generator``/``fit_loader`` accept; returns the history."""
        epochs = self.nb_epochs if nb_epochs is None else nb_epochs
        if not isinstance(epochs, int) or epochs < 1:
            raise ValueError(f"nb_epochs must be a positive integer, got {epochs!r}")
        self.setup()
        if self.seed is not None:
            self._seed_everything(self.seed + self.dist.rank)
            self.data_seed = self.seed
        else:
            self.data_seed = int(torch.randint(0, 2**31 - 1, ()).item())
        resumed = self._maybe_resume()
        source = self.make_source(data, shuffle=True)
        if self.dist.enabled and isinstance(source, LoaderSource):
            sampler = getattr(source.loader, "sampler", None)
            if type(sampler).__name__ != "DistributedSampler":
                logger.warning("DDP with a DataLoader without DistributedSampler: every rank sees all data")
        val_source = None if validation_data is None else self.make_source(validation_data, shuffle=False)
        if len(source) == 0:
            raise ValueError("training data yields no batches")
        if not resumed:
            self.epoch, self.step_in_epoch, self.global_step = 0, 0, 0
            self.history = []
            self.best_value, self.best_epoch = None, None
        self._write_metrics_file()

        previous_handlers = self._install_signal_handlers()
        try:
            for epoch in range(self.epoch, epochs):
                self._run_epoch(epoch, epochs, source, val_source)
            if self.restore_best and self.checkpoint_dir is not None and (self.checkpoint_dir / BEST).is_file():
                self._load_best()
        finally:
            self._restore_signal_handlers(previous_handlers)
            self._teardown()
            ddp.teardown(self.dist)
            if self.dist.initialised_here:
                self.dist = ddp.DistInfo()
                self._ready = False
        return self.history

    def _run_epoch(self, epoch: int, epochs: int, source: BatchSource, val_source: BatchSource | None) -> None:
        from tqdm.auto import tqdm

        start = self.step_in_epoch
        if start > 0 and self._epoch_start_rng is not None and self._resume_rng is not None:
            # exact mid-epoch resume: same RNG as the epoch's start when the iterator is made
            restore_rng(self._epoch_start_rng)
            iterator = source.epoch(epoch, start)
            restore_rng(self._resume_rng)
        else:
            if start == 0:
                self._sums, self._count = {}, 0
            self._epoch_start_rng = capture_rng()
            iterator = source.epoch(epoch, start)
        self._resume_rng = None
        self.module.train()
        for m in self._modules.values():
            m.train()
        bar = tqdm(total=len(source), initial=start, desc=f"epoch {epoch + 1}/{epochs}",
                   disable=not (self.verbose and self.dist.is_main), leave=False, dynamic_ncols=True)
        t0 = time.perf_counter()
        try:
            for raw in iterator:
                batch = self.prepare_batch(raw)
                metrics = self.train_step(batch)
                self.update_scaler()
                for _, (sched, interval) in self._schedulers.items():
                    if interval == "step":
                        sched.step()
                n = _batch_len(batch)
                for key, value in metrics.items():
                    value = value.detach().float()
                    self._sums[key] = self._sums[key] + value * n if key in self._sums else value * n
                self._count += n
                self.step_in_epoch += 1
                self.global_step += 1
                bar.update(1)
                if self.step_in_epoch % self.log_every == 0 and self._sums:
                    bar.set_postfix({k: f"{float(v) / self._count:.3f}" for k, v in self._sums.items()})
                if self.checkpoint_every and self.global_step % self.checkpoint_every == 0:
                    self.save_checkpoint()
                if self._stop_signal is not None:
                    path = self.save_checkpoint()
                    logger.warning("signal %d: saved %s, stopping", self._stop_signal, path)
                    raise TrainingInterrupted(self._stop_signal, path)
        finally:
            bar.close()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        train_time = time.perf_counter() - t0
        record: dict[str, Any] = {"epoch": epoch + 1, "step": self.global_step}
        totals = {k: v.clone() for k, v in self._sums.items()}
        count = torch.tensor(float(self._count), device=self.device)
        for value in totals.values():
            self.all_reduce_sum(value)
        self.all_reduce_sum(count)
        record.update({f"train_{k}": float(v / count.clamp_min(1)) for k, v in totals.items()})
        for _, (sched, interval) in self._schedulers.items():
            if interval == "epoch":
                sched.step()
        if "optimizer" in self._optimizers:
            record["lr"] = float(self.optimizer.param_groups[0]["lr"])
        record["train_time"] = train_time
        t1 = time.perf_counter()
        if val_source is not None:
            record.update(self.evaluate(val_source))
            self.module.train()
        record["eval_time"] = time.perf_counter() - t1
        record["rss_mb"], record["peak_rss_mb"] = _rss_mb()
        self.epoch = epoch + 1
        self.step_in_epoch = 0
        self._sums, self._count = {}, 0
        self._epoch_start_rng = None
        self.history.append(record)
        improved = False
        if self.best_metric is not None and self.best_metric in record:
            score = float(record[self.best_metric])
            if self.best_value is None or score > self.best_value:
                self.best_value, self.best_epoch, improved = score, epoch + 1, True
        record["best_epoch"] = self.best_epoch
        if improved and self.checkpoint_dir is not None and self.dist.is_main:
            atomic_save(self._best_state(record), self.checkpoint_dir / BEST)
        self._append_metrics(record)
        if self.checkpoint_dir is not None:
            self.save_checkpoint()
        if self.verbose and self.dist.is_main:
            shown = {k: round(v, 4) for k, v in record.items() if isinstance(v, float)}
            logger.info("epoch %d/%d %s", epoch + 1, epochs, shown)

    # ------------------------------------------------------------------ checkpoints

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume exactly (all values safe for ``weights_only=True``)."""
        return {
            "format": CHECKPOINT_FORMAT,
            "trainer": type(self).__name__,
            "epoch": self.epoch,
            "step_in_epoch": self.step_in_epoch,
            "global_step": self.global_step,
            "data_seed": self.data_seed,
            "modules": {name: m.state_dict() for name, m in self._modules.items()},
            "optimizers": {name: o.state_dict() for name, o in self._optimizers.items()},
            "schedulers": {name: s.state_dict() for name, (s, _) in self._schedulers.items()},
            "states": {name: s.state_dict() for name, s in self._states.items()},
            "scaler": self.scaler.state_dict() if self.scaler is not None and self.scaler.is_enabled() else {},
            "rng": capture_rng(),
            "epoch_start_rng": self._epoch_start_rng if self.step_in_epoch > 0 else None,
            "sums": {k: v.detach().cpu() for k, v in self._sums.items()},
            "count": self._count,
            "history": self.history,
            "best_value": self.best_value,
            "best_epoch": self.best_epoch,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Inverse of :meth:`state_dict` (modules, optimizers, schedulers, scaler, RNG, counters)."""
        if state.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"checkpoint format {state.get('format')!r}, expected {CHECKPOINT_FORMAT!r}")
        for kind, registry in (("modules", self._modules), ("optimizers", self._optimizers),
                               ("schedulers", {k: s for k, (s, _) in self._schedulers.items()}),
                               ("states", self._states)):
            saved = state[kind]
            missing = sorted(set(registry) - set(saved))
            if missing:
                raise ValueError(f"checkpoint lacks {kind} {missing} (has {sorted(saved)})")
            for name, obj in registry.items():
                obj.load_state_dict(saved[name])
        if self.scaler is not None and self.scaler.is_enabled() and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.epoch = int(state["epoch"])
        self.step_in_epoch = int(state["step_in_epoch"])
        self.global_step = int(state["global_step"])
        self.data_seed = int(state["data_seed"])
        self._sums = {k: v.to(self.device) for k, v in state["sums"].items()}
        self._count = int(state["count"])
        self.history = list(state["history"])
        self.best_value = state["best_value"]
        self.best_epoch = state["best_epoch"]
        self._epoch_start_rng = state["epoch_start_rng"]
        self._resume_rng = state["rng"]
        if self.dist.is_main:
            restore_rng(state["rng"])
        else:  # other ranks: a deterministic, rank-specific reseed
            self._seed_everything((self.data_seed + 7919 * self.dist.rank + self.global_step) % 2**31)
            self._resume_rng = None
            self._epoch_start_rng = None if self.step_in_epoch == 0 else state["epoch_start_rng"]

    def save_checkpoint(self, path: str | os.PathLike[str] | None = None) -> Path | None:
        """Write the resumable state atomically (rank 0 only); default ``checkpoint_dir/last.pt``."""
        target = Path(path) if path is not None else (self.checkpoint_dir / LAST if self.checkpoint_dir else None)
        if target is None:
            return None
        state = self.state_dict()
        if self.dist.is_main:
            atomic_save(state, target)
        ddp.barrier(self.dist)
        return target

    def load_checkpoint(self, path: str | os.PathLike[str]) -> None:
        """Load a checkpoint written by :meth:`save_checkpoint` (``weights_only=True``)."""
        self.setup()
        self.load_state_dict(load_checkpoint(path, map_location=self.device))

    def _maybe_resume(self) -> bool:
        if not self.resume or self.checkpoint_dir is None:
            return False
        path = self.checkpoint_dir / LAST
        if not path.is_file():
            logger.info("resume: no checkpoint at %s, starting fresh", path)
            return False
        self.load_state_dict(load_checkpoint(path, map_location=self.device))
        logger.info("resumed from %s at epoch %d step %d", path, self.epoch, self.step_in_epoch)
        return True

    def _best_state(self, record: dict[str, Any]) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT,
            "trainer": type(self).__name__,
            "epoch": record["epoch"],
            "metric": self.best_metric,
            "value": self.best_value,
            "record": {k: v for k, v in record.items() if isinstance(v, (int, float, str)) or v is None},
            "modules": {name: m.state_dict() for name, m in self._modules.items()},
        }

    def _load_best(self) -> None:
        assert self.checkpoint_dir is not None
        state = load_checkpoint(self.checkpoint_dir / BEST, map_location=self.device)
        for name, module in self._modules.items():
            if name in state["modules"]:
                module.load_state_dict(state["modules"][name])
        logger.info("restored best checkpoint (epoch %s, %s = %s)", state["epoch"], state["metric"], state["value"])

    # ------------------------------------------------------------------ metrics log

    def _write_metrics_file(self) -> None:
        """(Re)write the log from the history, so a resumed run's log has no duplicates."""
        if self.metrics_path is None or not self.dist.is_main:
            return
        self.metrics_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.metrics_path.with_name(f".{self.metrics_path.name}.tmp{os.getpid()}")
        with open(tmp, "w") as handle:
            for record in self.history:
                handle.write(json.dumps(record) + "\n")
        os.replace(tmp, self.metrics_path)

    def _append_metrics(self, record: dict[str, Any]) -> None:
        if self.metrics_path is None or not self.dist.is_main:
            return
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}
        with open(self.metrics_path, "a") as handle:
            handle.write(json.dumps(clean) + "\n")
            handle.flush()

    # ------------------------------------------------------------------ seeds and signals

    @staticmethod
    def _seed_everything(seed: int) -> None:
        import random

        torch.manual_seed(seed)
        np.random.seed(seed % 2**32)
        random.seed(seed)

    def _install_signal_handlers(self) -> dict[int, Any]:
        self._stop_signal = None
        if not self.handle_signals or threading.current_thread() is not threading.main_thread():
            return {}
        previous: dict[int, Any] = {}

        def handler(signum: int, frame: Any) -> None:
            if self._stop_signal is not None:  # second signal: stop at once
                raise KeyboardInterrupt
            self._stop_signal = signum
            logger.warning("signal %d received: saving a checkpoint after this step", signum)

        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, handler)
        return previous

    @staticmethod
    def _restore_signal_handlers(previous: dict[int, Any]) -> None:
        for signum, old in previous.items():
            signal.signal(signum, old)
