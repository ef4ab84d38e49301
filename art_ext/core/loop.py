"""The epoch loop of :class:`~art_ext.core.trainer.CoreTrainer`: start or resume a run, run
epochs, evaluate, log, checkpoint, stop on a signal.

:class:`TrainingLoop` is a mixin of ``CoreTrainer``; it relies on the trainer's registration,
state and policy (``trainer.py``) and on the run folder's rules (``run_folder.py``: the lock,
the fingerprint check on resume, no silent overwrite).
"""

from __future__ import annotations

import logging
import os
import resource
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from art_ext.core import distributed as ddp
from art_ext.core.batches import BatchSource, LoaderSource, TensorSource
from art_ext.core.checkpoint import capture_rng, load_checkpoint, restore_rng
from art_ext.core.device import restore_modes, snapshot_modes
from art_ext.core.run_folder import RunFolder, append_metrics, check_metrics_target, write_metrics
from art_ext.core.signals import StopSignals, TrainingInterrupted
from art_ext.core.state import CHECKPOINT_FORMAT

logger = logging.getLogger(__name__)

__all__ = ["TrainingLoop"]


def rss_mb() -> tuple[float, float]:
    """(current RSS, peak RSS) of this process in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    try:
        with open("/proc/self/statm") as handle:
            pages = int(handle.read().split()[1])
        current = pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):  # pragma: no cover - not Linux
        current = float("nan")
    return current, peak


def batch_len(batch: Any) -> int:
    if isinstance(batch, Tensor):
        return len(batch)
    if isinstance(batch, dict):
        return len(next(iter(batch.values())))
    return len(batch[0])


class TrainingLoop:
    """Mixin: ``train()`` and everything it does (see the module docstring)."""

    # provided by CoreTrainer (trainer.py)
    module: Any
    _modules: dict[str, Any]
    _optimizers: dict[str, Any]
    _schedulers: dict[str, tuple[Any, str]]
    checkpoint_dir: Path | None
    checkpoint_every: int
    metrics_path: Path | None
    nb_epochs: int
    seed: int | None
    data_seed: int
    dist: ddp.DistInfo
    resume: bool
    overwrite: bool
    allow_changes: tuple[str, ...]
    restore_best: bool
    handle_signals: bool
    verbose: bool
    log_every: int
    best_metric: str | None
    step_hooks: list[Any]
    lr_schedule: str | None
    _ready: bool
    _epochs: int
    _base_lr: float

    if TYPE_CHECKING:
        @property
        def device(self) -> torch.device: ...
        @property
        def optimizer(self) -> torch.optim.Optimizer: ...

        def setup(self) -> None: ...
        def _teardown(self) -> None: ...
        def make_source(self, data: Any, *, shuffle: bool = True, batch_size: int | None = None) -> BatchSource: ...
        def fingerprint(self, source: BatchSource, validation: BatchSource | None = None) -> dict[str, Any]: ...
        def load_state_dict(self, state: dict[str, Any]) -> None: ...
        def _apply_allowed_changes(self) -> None: ...
        def prepare_batch(self, batch: Any) -> Any: ...
        def check_batch(self, batch: Any) -> Any: ...
        def train_step(self, batch: Any) -> dict[str, Tensor]: ...
        def update_scaler(self) -> None: ...
        def all_reduce_sum(self, tensor: Tensor) -> Tensor: ...
        def evaluate(self, source: BatchSource) -> dict[str, float]: ...
        def epoch_record_extras(self) -> dict[str, Any]: ...
        def lr_now(self, epochs: int) -> float: ...
        def save_checkpoint(self, path: Any = None) -> Path | None: ...
        @staticmethod
        def _seed_everything(seed: int) -> None: ...

    # ------------------------------------------------------------------ the run
    def train(self, data: Any, nb_epochs: int | None = None, validation_data: Any = None) -> list[dict[str, Any]]:
        """The epoch loop on any data ``fit``/``fit_generator``/``fit_loader`` accept; returns the history."""
        epochs = self.nb_epochs if nb_epochs is None else nb_epochs
        if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1:
            raise ValueError(f"nb_epochs must be a positive integer, got {epochs!r}")
        self.setup()
        folder = RunFolder(self.checkpoint_dir) if self.checkpoint_dir is not None else None
        if folder is not None and self.dist.is_main:
            folder.acquire()
        user_modes = snapshot_modes(*self._modules.values())
        try:
            return self._train(data, epochs, validation_data, folder)
        finally:
            restore_modes(user_modes)
            if folder is not None:
                folder.release()

    def _train(self, data: Any, epochs: int, validation_data: Any, folder: RunFolder | None) -> list[dict[str, Any]]:
        if self.seed is not None:
            self._seed_everything(self.seed + self.dist.rank)
            self.data_seed = self.seed
        else:
            self.data_seed = int(torch.randint(0, 2**31 - 1, ()).item())
        source = self.make_source(data, shuffle=True)
        if self.dist.enabled and isinstance(source, LoaderSource):
            sampler = getattr(source.loader, "sampler", None)
            if type(sampler).__name__ != "DistributedSampler":
                logger.warning("DDP with a DataLoader without DistributedSampler: every rank sees all data")
        val_source = None if validation_data is None else self.make_source(validation_data, shuffle=False)
        if len(source) == 0:
            raise ValueError("training data yields no batches")
        self.steps_per_epoch = len(source)
        self._epochs = epochs
        if self.metrics_path is not None and self.dist.is_main:
            check_metrics_target(self.metrics_path, folder, resume=self.resume, overwrite=self.overwrite)
        resumed = self._start_run(folder, source, val_source)
        if not resumed:
            self.epoch, self.step_in_epoch, self.global_step = 0, 0, 0
            self.history = []
            self.best_value, self.best_epoch = None, None
        if self.metrics_path is not None and self.dist.is_main:
            write_metrics(self.metrics_path, self.history)
        self._train_modes = self._training_modes()
        try:
            with StopSignals(self.handle_signals) as signals:
                self._signals = signals
                for epoch in range(self.epoch, epochs):
                    self._run_epoch(epoch, epochs, source, val_source, folder)
                    if self._stop_requested:
                        logger.warning("training stopped after epoch %d: %s", epoch + 1, self._stop_requested)
                        break
            if self.restore_best and folder is not None and folder.best.is_file():
                self._load_best(folder)
        finally:
            self._teardown()
            ddp.teardown(self.dist)
            if self.dist.initialised_here:
                self.dist = ddp.DistInfo()
                self._ready = False
        return self.history

    def _start_run(self, folder: RunFolder | None, source: BatchSource, val_source: BatchSource | None) -> bool:
        """Fresh start or resume (the run folder decides, see ``run_folder.py``)."""
        self._fingerprint = self.fingerprint(source, val_source)
        self._stop_requested: str | None = None
        if folder is None:
            return False
        state: dict[str, Any] | None = None
        if self.dist.is_main:
            state = folder.prepare(self._fingerprint, resume=self.resume, overwrite=self.overwrite,
                                   allow_changes=self.allow_changes)
        ddp.barrier(self.dist)
        if not self.dist.is_main and self.resume and folder.last.is_file():
            state = load_checkpoint(folder.last)
        if state is None:
            return False
        self.load_state_dict(state)
        self._apply_allowed_changes()
        logger.info("resumed from %s at epoch %d step %d", folder.last, self.epoch, self.step_in_epoch)
        return True

    def _training_modes(self) -> list[tuple[Any, bool]]:
        """The modes modules train in: a module handed over in train mode keeps its sub-modules'
        own modes (a frozen BatchNorm stays frozen); one handed over in eval mode trains fully."""
        modes: list[tuple[Any, bool]] = []
        for module in self._modules.values():
            if module.training:
                modes.extend(snapshot_modes(module))
            else:
                modes.extend((m, True) for m in module.modules())
        return modes

    # ------------------------------------------------------------------ one epoch
    def _run_epoch(self, epoch: int, epochs: int, source: BatchSource, val_source: BatchSource | None,
                   folder: RunFolder | None) -> None:
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
        restore_modes(self._train_modes)
        bar = tqdm(total=len(source), initial=start, desc=f"epoch {epoch + 1}/{epochs}",
                   disable=None if (self.verbose and self.dist.is_main) else True,
                   leave=False, dynamic_ncols=True)
        t0 = time.perf_counter()
        try:
            checked = isinstance(source, TensorSource)  # fit(x, y) arrays were checked up front
            for raw in iterator:
                self._one_step(raw if checked else self.check_batch(raw), bar)
                if self.checkpoint_every and self.global_step % self.checkpoint_every == 0:
                    self.save_checkpoint()
                if self._signals.received is not None:
                    path = self.save_checkpoint()
                    logger.warning("signal %d: saved %s, stopping", self._signals.received, path)
                    raise TrainingInterrupted(self._signals.received, path)
                if self._stop_requested:
                    break
        finally:
            bar.close()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self._end_epoch(epoch, epochs, time.perf_counter() - t0, val_source, folder)

    def _one_step(self, raw: Any, bar: Any) -> None:
        if self.lr_schedule == "cyclic":
            lr = self.lr_now(self._epochs)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
        batch = self.prepare_batch(raw)
        self._last_batch = batch
        metrics = self.train_step(batch)
        self.update_scaler()
        for sched, interval in self._schedulers.values():
            if interval == "step":
                sched.step()
        n = batch_len(batch)
        for key, value in metrics.items():
            value = value.detach().float()
            self._sums[key] = self._sums[key] + value * n if key in self._sums else value * n
        self._count += n
        self.step_in_epoch += 1
        self.global_step += 1
        bar.update(1)
        if self.step_in_epoch % self.log_every == 0 and self._sums:
            bar.set_postfix({k: f"{float(v) / self._count:.3f}" for k, v in self._sums.items()})
        for hook in self.step_hooks:
            hook(self)

    def _end_epoch(self, epoch: int, epochs: int, train_time: float, val_source: BatchSource | None,
                   folder: RunFolder | None) -> None:
        record: dict[str, Any] = {"epoch": epoch + 1, "step": self.global_step}
        totals = {k: v.clone() for k, v in self._sums.items()}
        count = torch.tensor(float(self._count), device=self.device)
        for value in totals.values():
            self.all_reduce_sum(value)
        self.all_reduce_sum(count)
        record.update({f"train_{k}": float(v / count.clamp_min(1)) for k, v in totals.items()})
        for sched, interval in self._schedulers.values():
            if interval == "epoch":
                sched.step()
        if "optimizer" in self._optimizers:
            record["lr"] = float(self.optimizer.param_groups[0]["lr"])
        record["train_time"] = train_time
        t1 = time.perf_counter()
        if val_source is not None:
            record.update({f"val_{k}": v for k, v in self.evaluate(val_source).items()})
            restore_modes(self._train_modes)
        record["eval_time"] = time.perf_counter() - t1
        record.update(self.epoch_record_extras())
        record["rss_mb"], record["peak_rss_mb"] = rss_mb()
        self.epoch = epoch + 1
        self.step_in_epoch = 0
        self._sums, self._count = {}, 0
        self._epoch_start_rng = None
        self.history.append(record)
        improved = False
        key = f"val_{self.best_metric}" if self.best_metric is not None else None
        if key is not None and key in record:
            score = float(record[key])
            if self.best_value is None or score > self.best_value:
                self.best_value, self.best_epoch, improved = score, epoch + 1, True
        record["best_epoch"] = self.best_epoch
        if improved and folder is not None and self.dist.is_main:
            folder.save_best(self._best_state(record))
        if self.metrics_path is not None and self.dist.is_main:
            append_metrics(self.metrics_path, record)
        if folder is not None:
            self.save_checkpoint()
        if self.verbose and self.dist.is_main:
            shown = {k: round(v, 4) for k, v in record.items() if isinstance(v, float)}
            logger.info("epoch %d/%d %s", epoch + 1, epochs, shown)

    def request_stop(self, reason: str) -> None:
        """Stop after the current step (the epoch is closed, logged and checkpointed)."""
        self._stop_requested = reason

    # ------------------------------------------------------------------ best weights
    def _best_state(self, record: dict[str, Any]) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT,
            "trainer": type(self).__name__,
            "epoch": record["epoch"],
            "metric": self.best_metric,
            "value": self.best_value,
            "record": {k: v for k, v in record.items() if isinstance(v, (int, float, str)) or v is None},
            "modules": {name: m.state_dict() for name, m in self._modules.items()},
            "fingerprint": self._fingerprint,
        }

    def _load_best(self, folder: RunFolder) -> None:
        state = folder.load_best(map_location=self.device)
        for name, module in self._modules.items():
            if name in state["modules"]:
                module.load_state_dict(state["modules"][name])
        logger.info("restored best checkpoint (epoch %s, %s = %s)", state["epoch"], state["metric"], state["value"])

    # run state, declared for type checkers (set by CoreTrainer.__init__)
    epoch: int
    step_in_epoch: int
    global_step: int
    history: list[dict[str, Any]]
    best_value: float | None
    best_epoch: int | None
    _sums: dict[str, Tensor]
    _count: int
    _epoch_start_rng: dict[str, Any] | None
    _resume_rng: dict[str, Any] | None
    _fingerprint: dict[str, Any]
    _train_modes: list[tuple[Any, bool]]
    _signals: StopSignals
    _last_batch: Any
    steps_per_epoch: int
