"""The core trainer behind ART's ``Trainer`` interface: options, device, data, DDP.

Longer than ~400 lines on purpose: ``CoreTrainer`` is the class every trainer subclasses, so its
public surface (ART's ``Trainer`` API, the helpers subclasses call, registration and progress that
read through to ``trainer.state``) lives on it; the work is done by the loop, the state, the device
policy and the run folder.

:class:`CoreTrainer` owns everything that is not the algorithm: device, precision and layout
policy (``device.py``), data sources (numpy, ``DataLoader``, ART ``DataGenerator``), DDP, the epoch
loop (``loop.py``), registration and checkpoint state (``state.py``), the run folder with its lock,
fingerprint and checkpoints (``run_folder.py``), and SIGINT/SIGTERM handling (``signals.py``). A trainer on the core overrides:

* :meth:`CoreTrainer.train_step` ``(batch) -> dict[str, Tensor]``: one optimisation step on a
  device batch (a tuple of tensors, or whatever your ``DataLoader`` yields, moved to the device);
  return detached scalar tensors (batch means) to log. Do not call ``.item()`` in here.
* :meth:`CoreTrainer.evaluate` ``(source) -> dict[str, float]``: validation metrics (logged
  with a ``val_`` prefix).
* optionally :meth:`CoreTrainer.prepare_batch`, :meth:`CoreTrainer.check_data`,
  :meth:`CoreTrainer.check_batch`, :meth:`CoreTrainer.get_model`,
  :meth:`CoreTrainer.check_estimator`.

Extra networks and optimizers (a GAN's generator and discriminator, say) are registered with
:meth:`CoreTrainer.register_module` / :meth:`CoreTrainer.register_optimizer` /
:meth:`CoreTrainer.register_scheduler` / :meth:`CoreTrainer.register_state`; they are moved to the
device and checkpointed and restored with the rest. See ``docs/core.md``.

The trainer is composed of two objects it owns: ``trainer.state`` (a
:class:`~art_ext.core.state.TrainerState`: the registered objects, the run's progress and the
checkpoint made of them) and ``trainer.loop`` (a :class:`~art_ext.core.loop.TrainingLoop`: the
epoch loop). The run's progress (``epoch``, ``global_step``, ``history``, ...) reads through to the
state.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from art.defences.trainer import Trainer
from torch import Tensor, nn

from art_ext import checks
from art_ext.core import distributed as ddp
from art_ext.core.batches import BatchSource, TensorSource, make_source
from art_ext.core.checkpoint import atomic_save, load_checkpoint
from art_ext.core.device import PRECISION_REQUESTS, Policy, eval_mode, maybe_compile, resolve_policy
from art_ext.core.loop import TrainingLoop
from art_ext.core.run_folder import BEST, CHANGEABLE_FIELDS, LAST, METRICS, run_fingerprint
from art_ext.core.signals import TrainingInterrupted
from art_ext.core.state import CHECKPOINT_FORMAT, TrainerState

logger = logging.getLogger(__name__)

__all__ = ["BEST", "CHECKPOINT_FORMAT", "LAST", "METRICS", "CoreTrainer", "TrainingInterrupted"]


#: the learning-rate schedules a trainer sets itself, every step (``lr_schedule``)
LR_SCHEDULES = ("cyclic", "piecewise")
#: where the piecewise schedule divides the learning rate by 10, as fractions of the run
PIECEWISE_DECAY_AT = (0.5, 0.75)


class CoreTrainer(Trainer):
    """Generic torch-native trainer; subclass it and override :meth:`train_step`.

    :param estimator: the ART estimator whose ``model`` (a ``torch.nn.Module``) is trained in place.
    :param optimizer: optimizer of the model; default: the estimator's ``optimizer``.
    :param scheduler: optional LR scheduler of that optimizer, stepped per ``scheduler_interval``.
    :param scheduler_interval: ``"epoch"`` (default) or ``"step"``.
    :param lr_schedule: ``None`` (the optimizer's learning rate, or ``scheduler``), ``"cyclic"``:
        the triangular schedule of Wong et al. (2020), 0 -> ``lr_max`` at 2/5 of the run -> 0, or
        ``"piecewise"``: Rice et al. (2020), ``lr_max`` divided by 10 after half of the run and again
        after three quarters (their epochs 100 and 150 of 200); both set every step from the position
        in the run (so resume is exact).
    :param lr_max: peak of the schedule (default: the optimizer's learning rate).
    :param nb_epochs: default number of epochs for ``fit``.
    :param batch_size: global batch size (split across ranks under DDP).
    :param device: ``None`` follows the model; ``"cpu"``, ``"cuda"``, ``"cuda:N"``.
    :param precision: ``"auto"`` (default: bf16 autocast where the hardware runs it natively,
        fp32 elsewhere), ``"fp32"``, ``"bf16"``, ``"fp16"`` (CUDA; fp16 uses a GradScaler).
    :param channels_last: ``None``: automatic (conv nets).
    :param compile: ``torch.compile`` the forward passes.
    :param seed: seeds torch/numpy/random and the data order at the start of ``fit``; ``None``
        leaves the global RNGs alone and draws the data-order seed from torch's RNG.
    :param checkpoint_dir: the run folder: ``last.pt``, ``best.pt``, ``metrics.jsonl``,
        ``fingerprint.json`` (locked while training; see ``run_folder.py``).
    :param checkpoint_every: also save ``last.pt`` every this many steps (0: at epoch ends only).
    :param resume: continue the run in ``checkpoint_dir`` (refused if it is a different run).
    :param overwrite: discard a run already in ``checkpoint_dir`` (default: refuse to start).
    :param allow_changes: fingerprint fields a resume may change (``"lr"``, ``"precision"``,
        ``"versions"``, ``"device"``); a changed learning rate is applied after loading.
    :param metrics_path: JSON-lines log; default ``checkpoint_dir/metrics.jsonl`` (or none).
    :param validation_split: fraction of ``fit``'s data held out (seeded) for per-epoch evaluation.
    :param restore_best: at the end of ``fit`` load the best checkpoint's weights.
    :param max_grad_norm: clip the gradient norm (``None``: no clipping).
    :param log_every: steps between progress-bar updates (each is one host sync on a GPU).
    :param verbose: show the tqdm bar (only on a terminal).
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
        lr_schedule: str | None = None,
        lr_max: float | None = None,
        nb_epochs: int = 10,
        batch_size: int = 128,
        device: str | torch.device | None = None,
        precision: str = "auto",
        channels_last: bool | None = None,
        compile: bool = False,
        seed: int | None = None,
        checkpoint_dir: str | os.PathLike[str] | None = None,
        checkpoint_every: int = 0,
        resume: bool = False,
        overwrite: bool = False,
        allow_changes: Sequence[str] = (),
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
        checks.model_weights(self.module, "model", trainable=True)
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
        self.overwrite = overwrite
        self.allow_changes = tuple(allow_changes) if isinstance(allow_changes, (list, tuple)) else allow_changes  # type: ignore[assignment]
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
        self.lr_schedule = lr_schedule
        self.lr_max = lr_max

        self._ready = False
        self.policy: Policy | None = None
        self.state = TrainerState(type(self).__name__)
        self.loop = TrainingLoop(self)
        self.step_hooks: list[Callable[[CoreTrainer], None]] = []
        self.register_module("model", self.module)
        opt = optimizer if optimizer is not None else getattr(estimator, "optimizer", None)
        if opt is not None:
            self.register_optimizer("optimizer", opt)
            for group in opt.param_groups:
                # the learning rate the optimizer was built with, kept where torch's schedulers keep it: a
                # schedule that moved "lr" during an interrupted fit does not change the run (its identity,
                # the cyclic schedule's peak) when a new trainer resumes it in the same process
                group.setdefault("initial_lr", group["lr"])
        # the cyclic schedule's default peak: the learning rate the optimizer was built with
        self._base_lr = float(opt.param_groups[0]["initial_lr"]) if opt is not None else 0.0
        if scheduler is not None:
            self.register_scheduler("scheduler", scheduler, interval=scheduler_interval)

        # set up at the start of fit
        self.dist = ddp.DistInfo()
        self.net: Callable[..., Any] = self.module
        self.attack_net: Callable[..., Any] = self.module
        self.scaler: torch.amp.GradScaler | None = None
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
        checks.integer(self.nb_epochs, "nb_epochs", minimum=1)
        checks.integer(self.batch_size, "batch_size", minimum=1)
        if self.seed is not None:
            checks.seed(self.seed)
        checks.choice(self.scheduler_interval, "scheduler_interval", ("epoch", "step"))
        checks.number(self.validation_split, "validation_split", low=0.0, high=1.0, high_inclusive=False)
        checks.integer(self.checkpoint_every, "checkpoint_every", minimum=0)
        checks.boolean(self.resume, "resume")
        checks.boolean(self.overwrite, "overwrite")
        if self.resume and self.checkpoint_dir is None:
            raise ValueError("resume=True needs checkpoint_dir")
        if self.resume and self.overwrite:
            raise ValueError("resume=True and overwrite=True contradict each other: pick one")
        if not isinstance(self.allow_changes, tuple) or any(c not in CHANGEABLE_FIELDS for c in self.allow_changes):
            raise ValueError(f"allow_changes must be a tuple of {', '.join(CHANGEABLE_FIELDS)}; got {self.allow_changes!r}")
        if self.max_grad_norm is not None:
            checks.positive(self.max_grad_norm, "max_grad_norm")
        checks.integer(self.log_every, "log_every", minimum=1)
        checks.choice(self.precision, "precision", PRECISION_REQUESTS)
        # a precision the device cannot run is an error now, not at the first fit
        resolve_policy(self.module, device=self.device_request, precision=self.precision, dry_run=True)
        checks.choice(self.lr_schedule, "lr_schedule", (None, *LR_SCHEDULES))
        if self.lr_max is not None:
            checks.positive(self.lr_max, "lr_max")
        if self.lr_schedule is not None and self.state.schedulers:
            raise ValueError("lr_schedule and scheduler both set the learning rate: pass one of them")

    def check_data(self, x: Any, y: Any) -> tuple[Tensor, ...]:
        """Validate ``fit``'s arrays and return them as host tensors (override per modality)."""
        checks.same_length(x, y)
        return (torch.as_tensor(np.asarray(x)), torch.as_tensor(np.asarray(y)))

    def check_batch(self, batch: Any) -> Any:
        """Validate a host batch from a ``DataLoader`` or ``DataGenerator`` (default: as is).

        ``fit(x, y)`` data is checked once by :meth:`check_data`; batches from other sources
        pass through here before :meth:`prepare_batch`.
        """
        return batch

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
        """Validation metrics (float32, eval mode); default: clean accuracy of ``(x, y)`` batches."""
        correct = torch.zeros((), device=self.device)
        total = torch.zeros((), device=self.device)
        with torch.no_grad(), self.eval_mode():
            for batch in self.iter_batches(source):
                x, y = batch[0], batch[1]
                correct += (self.attack_net(x.float()).argmax(1) == y).sum()
                total += len(y)
        self.all_reduce_sum(correct)
        self.all_reduce_sum(total)
        return {"clean_acc": float(correct / total.clamp_min(1))}

    def lr_now(self, epochs: int) -> float:
        """The learning rate of ``lr_schedule`` at the current step of a run of ``epochs`` epochs."""
        peak = self.lr_max if self.lr_max is not None else self._base_lr
        t = self.epoch + (self.step_in_epoch + 1) / max(1, self.loop.steps_per_epoch)
        if self.lr_schedule == "piecewise":
            return float(peak * 0.1 ** sum(t > fraction * epochs for fraction in PIECEWISE_DECAY_AT))
        return float(np.interp([t], [0, epochs * 2 / 5, epochs], [0, peak, 0])[0])

    def epoch_record_extras(self) -> dict[str, Any]:
        """Extra values for each epoch's metrics record (default: none)."""
        return {}

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

    def eval_mode(self, *modules: nn.Module) -> contextlib.AbstractContextManager[None]:
        """Eval mode for ``modules`` (default: the model) during the block; afterwards every
        sub-module is back in its own previous mode."""
        return eval_mode(*(modules or (self.module,)))

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
        """Device batches of ``source`` (for :meth:`evaluate`); loader batches are checked first."""
        checked = isinstance(source, TensorSource)
        for batch in source.epoch(epoch, 0):
            yield self.prepare_batch(batch if checked else self.check_batch(batch))

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
            probe = resolve_policy(self.module, device=device, precision="fp32", channels_last=False, dry_run=True)
            if probe.device.type == "cuda":
                device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
                torch.cuda.set_device(device)
            self.dist = ddp.setup(True, probe.device if device is None else torch.device(device))
        self._original_device = next(iter(self.module.parameters()), torch.empty(0)).device
        self.policy = resolve_policy(
            self.module, device=device, precision=self.precision,
            channels_last=self.channels_last_request, compile=self.compile,
        )
        for module in self.state.modules.values():
            self.policy.prepare_model(module)
        self.scaler = self.policy.make_grad_scaler()
        self.net = self.wrap(self.module)
        self.attack_net = maybe_compile(self.module, self.policy)
        self._ready = True
        logger.info("core trainer on %s, precision %s, channels_last %s, compile %s, world size %d",
                    self.policy.device, self.policy.precision, self.policy.channels_last,
                    self.policy.compile, self.dist.world_size)

    def teardown(self) -> None:
        """After a run: give the model back to the estimator as it was (device, memory format) and
        leave a process group this trainer joined."""
        if self.policy is not None and self.policy.channels_last:
            self.module.to(memory_format=torch.contiguous_format)  # type: ignore[call-overload]
        original = getattr(self, "_original_device", None)
        if original is not None and original != self.device:
            self.module.to(original)
        ddp.teardown(self.dist)
        if self.dist.initialised_here:
            self.dist = ddp.DistInfo()
            self._ready = False

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
        if kwargs:  # a misspelt option (nb_epoch=5) must not train with the default
            raise TypeError(f"fit() got unexpected keyword arguments {sorted(kwargs)} "
                            "(it takes nb_epochs, batch_size, validation_data)")
        tensors = self.check_data(x, y)
        if batch_size is not None:
            self.batch_size = checks.integer(batch_size, "batch_size", minimum=1)
        val_data = None if validation_data is None else (
            self.check_data(*validation_data) if isinstance(validation_data, (tuple, list)) else validation_data
        )
        if val_data is None and self.validation_split > 0:
            tensors, val_data = self._split(tensors)
        self.train(tensors, nb_epochs=nb_epochs, validation_data=val_data)

    def fit_generator(self, generator: Any, nb_epochs: int | None = None, validation_data: Any = None,
                      **kwargs: Any) -> None:
        """Train from an ART ``DataGenerator`` (numpy and PyTorch generators are unwrapped).

        A ``NumpyDataGenerator``'s arrays are checked once, like ``fit``'s; batches of other
        generators are checked one by one (:meth:`check_batch`).
        """
        from art.data_generators import DataGenerator, NumpyDataGenerator

        if not isinstance(generator, DataGenerator):
            raise TypeError(f"generator must be an art.data_generators.DataGenerator, got {type(generator).__name__}")
        if isinstance(generator, NumpyDataGenerator):
            self.check_data(generator.x, generator.y)
        val_data = self.check_data(*validation_data) if isinstance(validation_data, (tuple, list)) else validation_data
        self.train(generator, nb_epochs=nb_epochs, validation_data=val_data)

    def fit_loader(self, loader: Any, nb_epochs: int | None = None, validation_data: Any = None) -> None:
        """Train from a ``torch.utils.data.DataLoader`` yielding tuples (or dicts) of tensors.

        Every batch is checked on the host (:meth:`check_batch`) before it moves to the device.
        """
        val_data = self.check_data(*validation_data) if isinstance(validation_data, (tuple, list)) else validation_data
        self.train(loader, nb_epochs=nb_epochs, validation_data=val_data)

    def _split(self, tensors: tuple[Tensor, ...]) -> tuple[tuple[Tensor, ...], tuple[Tensor, ...]]:
        n = len(tensors[0])
        n_val = max(1, round(n * self.validation_split))
        generator = torch.Generator().manual_seed(0 if self.seed is None else self.seed)
        order = torch.randperm(n, generator=generator)
        train_idx, val_idx = order[n_val:].sort().values, order[:n_val].sort().values
        return tuple(t[train_idx] for t in tensors), tuple(t[val_idx] for t in tensors)

    # ------------------------------------------------------------------ run identity

    def fingerprint(self, source: BatchSource, validation: BatchSource | None = None) -> dict[str, Any]:
        """What defines this run (see :func:`art_ext.core.run_folder.run_fingerprint`)."""
        return run_fingerprint(self, source, validation)

    def apply_allowed_changes(self) -> None:
        """After a resume with ``allow_changes=("lr",)``: the learning rate asked for now wins over
        the one in the saved optimizer state."""
        if "lr" in self.allow_changes and "optimizer" in self.state.optimizers:
            wanted = self.state.progress.fingerprint.get("optimizer", {}).get("lr")
            if wanted is not None:
                for group in self.optimizer.param_groups:
                    group["lr"] = group["initial_lr"] = wanted
                self._base_lr = float(wanted)
                logger.info("resume: learning rate set to %g (allowed change)", wanted)

    # ------------------------------------------------------------------ seeds

    @staticmethod
    def seed_everything(seed: int) -> None:
        """Seed torch, numpy and ``random``."""
        torch.manual_seed(seed)
        np.random.seed(seed % 2**32)
        random.seed(seed)

    # ------------------------------------------------------------------ the run (trainer.loop)

    def train(self, data: Any, nb_epochs: int | None = None, validation_data: Any = None) -> list[dict[str, Any]]:
        """The epoch loop on any data ``fit``/``fit_generator``/``fit_loader`` accept; returns the history."""
        return self.loop.run(data, self.nb_epochs if nb_epochs is None else nb_epochs, validation_data)

    def request_stop(self, reason: str) -> None:
        """Stop after the current step (the epoch is closed, logged and checkpointed)."""
        self.loop.request_stop(reason)

    @property
    def steps_per_epoch(self) -> int:
        return self.loop.steps_per_epoch

    @property
    def last_batch(self) -> Any:
        """The last device batch trained on."""
        return self.loop.last_batch

    # ------------------------------------------------------------------ registration (trainer.state)

    def register_module(self, name: str, module: nn.Module) -> nn.Module:
        """Add a module that is moved to the device and checkpointed (name must be unique)."""
        self.state.register_module(name, module)
        if self._ready and self.policy is not None:
            self.policy.prepare_model(module)
        return module

    def register_optimizer(self, name: str, optimizer: torch.optim.Optimizer) -> torch.optim.Optimizer:
        """Add an optimizer whose state is checkpointed."""
        return self.state.register_optimizer(name, optimizer)

    def register_scheduler(self, name: str, scheduler: Any, interval: str = "epoch") -> Any:
        """Add an LR scheduler stepped every ``"epoch"`` or ``"step"`` (or ``"manual"``), checkpointed."""
        return self.state.register_scheduler(name, scheduler, interval)

    def register_state(self, name: str, obj: Any) -> Any:
        """Add any object with ``state_dict()``/``load_state_dict()`` to the checkpoint."""
        return self.state.register_state(name, obj)

    @property
    def modules(self) -> dict[str, nn.Module]:
        return dict(self.state.modules)

    @property
    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return dict(self.state.optimizers)

    @property
    def optimizer(self) -> torch.optim.Optimizer:
        """The main model's optimizer."""
        try:
            return self.state.optimizers["optimizer"]
        except KeyError:
            raise ValueError("no optimizer: the estimator has none; pass optimizer= to the trainer") from None

    # ------------------------------------------------------------------ progress (trainer.state.progress)

    @property
    def epoch(self) -> int:
        """Completed epochs."""
        return self.state.progress.epoch

    @property
    def step_in_epoch(self) -> int:
        """Completed steps of the current epoch."""
        return self.state.progress.step_in_epoch

    @property
    def global_step(self) -> int:
        return self.state.progress.global_step

    @property
    def data_seed(self) -> int:
        return self.state.progress.data_seed

    @property
    def history(self) -> list[dict[str, Any]]:
        """One metrics record per completed epoch."""
        return self.state.progress.history

    @property
    def best_value(self) -> float | None:
        return self.state.progress.best_value

    @property
    def best_epoch(self) -> int | None:
        return self.state.progress.best_epoch

    # ------------------------------------------------------------------ checkpoints

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume exactly (all values safe for ``weights_only=True``)."""
        return self.state.state_dict(self.scaler)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Inverse of :meth:`state_dict` (modules, optimizers, schedulers, scaler, RNG, progress)."""
        self.state.load_state_dict(state, scaler=self.scaler, device=self.device, dist=self.dist,
                                   reseed=self.seed_everything)

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
