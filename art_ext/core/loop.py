"""The epoch loop of :class:`~art_ext.core.trainer.CoreTrainer`: start or resume a run, run
epochs, evaluate, log, checkpoint, stop on a signal.

:class:`TrainingLoop` is an object the trainer owns (``trainer.loop``). It drives the trainer
through the interface :class:`LoopOwner` names (set-up, batches, ``train_step``, ``evaluate``,
checkpoints), keeps the run's progress in the trainer's :class:`~art_ext.core.state.TrainerState`,
and follows the run folder's rules (``run_folder.py``: the lock, the fingerprint check on resume,
no silent overwrite).
"""

from __future__ import annotations

import logging
import os
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import Tensor
from tqdm.auto import tqdm

from art_ext.core import distributed as ddp
from art_ext.core.batches import BatchSource, LoaderSource, TensorSource
from art_ext.core.checkpoint import capture_rng, load_checkpoint, restore_rng
from art_ext.core.device import restore_modes, snapshot_modes
from art_ext.core.run_folder import RunFolder, append_metrics, check_metrics_target, write_metrics
from art_ext.core.signals import StopSignals, TrainingInterrupted
from art_ext.core.state import TrainerState

logger = logging.getLogger(__name__)

__all__ = ["LoopOwner", "TrainingLoop"]


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


class LoopOwner(Protocol):
    """What the loop needs from its trainer (``CoreTrainer`` provides all of it)."""

    state: TrainerState
    dist: ddp.DistInfo
    seed: int | None
    checkpoint_dir: Path | None
    checkpoint_every: int
    metrics_path: Path | None
    resume: bool
    overwrite: bool
    allow_changes: tuple[str, ...]
    restore_best: bool
    handle_signals: bool
    verbose: bool
    log_every: int
    best_metric: str | None
    lr_schedule: str | None
    step_hooks: list[Callable[[Any], None]]

    @property
    def device(self) -> torch.device: ...
    @property
    def optimizer(self) -> torch.optim.Optimizer: ...
    def setup(self) -> None: ...
    def teardown(self) -> None: ...
    def seed_everything(self, seed: int) -> None: ...
    def make_source(self, data: Any, *, shuffle: bool = True, batch_size: int | None = None) -> BatchSource: ...
    def fingerprint(self, source: BatchSource, validation: BatchSource | None = None) -> dict[str, Any]: ...
    def load_state_dict(self, state: dict[str, Any]) -> None: ...
    def apply_allowed_changes(self) -> None: ...
    def check_batch(self, batch: Any) -> Any: ...
    def prepare_batch(self, batch: Any) -> Any: ...
    def train_step(self, batch: Any) -> dict[str, Tensor]: ...
    def update_scaler(self) -> None: ...
    def lr_now(self, epochs: int) -> float: ...
    def all_reduce_sum(self, tensor: Tensor) -> Tensor: ...
    def evaluate(self, source: BatchSource) -> dict[str, float]: ...
    def epoch_record_extras(self) -> dict[str, Any]: ...
    def save_checkpoint(self, path: Any = None) -> Path | None: ...


class TrainingLoop:
    """``run()`` and everything it does (see the module docstring), for one trainer."""

    def __init__(self, trainer: LoopOwner) -> None:
        self.trainer = trainer
        self.steps_per_epoch = 0
        self.last_batch: Any = None  #: the last device batch trained on (the collapse guard probes it)
        self.stop_reason: str | None = None
        self._epochs = 0
        self._train_modes: list[tuple[Any, bool]] = []
        self._signals: StopSignals | None = None

    @property
    def progress(self) -> Any:
        return self.trainer.state.progress

    # ------------------------------------------------------------------ the run
    def run(self, data: Any, epochs: int, validation_data: Any = None) -> list[dict[str, Any]]:
        """The epoch loop on any data ``fit``/``fit_generator``/``fit_loader`` accept; returns the history."""
        trainer = self.trainer
        if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1:
            raise ValueError(f"nb_epochs must be a positive integer, got {epochs!r}")
        trainer.setup()
        folder = RunFolder(trainer.checkpoint_dir) if trainer.checkpoint_dir is not None else None
        if folder is not None and trainer.dist.is_main:
            folder.acquire()
        user_modes = snapshot_modes(*trainer.state.modules.values())
        try:
            return self._run(data, epochs, validation_data, folder)
        finally:
            restore_modes(user_modes)
            if folder is not None:
                folder.release()

    def _run(self, data: Any, epochs: int, validation_data: Any, folder: RunFolder | None) -> list[dict[str, Any]]:
        trainer, run = self.trainer, self.progress
        if trainer.seed is not None:
            trainer.seed_everything(trainer.seed + trainer.dist.rank)
            run.data_seed = trainer.seed
        else:
            run.data_seed = int(torch.randint(0, 2**31 - 1, ()).item())
        source = trainer.make_source(data, shuffle=True)
        if trainer.dist.enabled and isinstance(source, LoaderSource):
            sampler = getattr(source.loader, "sampler", None)
            if type(sampler).__name__ != "DistributedSampler":
                logger.warning("DDP with a DataLoader without DistributedSampler: every rank sees all data")
        val_source = None if validation_data is None else trainer.make_source(validation_data, shuffle=False)
        if len(source) == 0:
            raise ValueError("training data yields no batches")
        self.steps_per_epoch = len(source)
        self._epochs = epochs
        if trainer.metrics_path is not None and trainer.dist.is_main:
            check_metrics_target(trainer.metrics_path, folder, resume=trainer.resume, overwrite=trainer.overwrite)
        if not self._start(folder, source, val_source):
            run.restart()
        if trainer.metrics_path is not None and trainer.dist.is_main:
            write_metrics(trainer.metrics_path, run.history)
        self._train_modes = self._training_modes()
        try:
            with StopSignals(trainer.handle_signals) as signals:
                self._signals = signals
                for epoch in range(run.epoch, epochs):
                    self._run_epoch(epoch, epochs, source, val_source, folder)
                    if self.stop_reason:
                        logger.warning("training stopped after epoch %d: %s", epoch + 1, self.stop_reason)
                        break
            if trainer.restore_best and folder is not None and folder.best.is_file():
                self._load_best(folder)
        finally:
            trainer.teardown()
        return list(run.history)

    def _start(self, folder: RunFolder | None, source: BatchSource, val_source: BatchSource | None) -> bool:
        """Fresh start or resume (the run folder decides, see ``run_folder.py``); True when resumed."""
        trainer, run = self.trainer, self.progress
        run.fingerprint = trainer.fingerprint(source, val_source)
        self.stop_reason = None
        if folder is None:
            return False
        state: dict[str, Any] | None = None
        if trainer.dist.is_main:
            state = folder.prepare(run.fingerprint, resume=trainer.resume, overwrite=trainer.overwrite,
                                   allow_changes=trainer.allow_changes)
        ddp.barrier(trainer.dist)
        if not trainer.dist.is_main and trainer.resume and folder.last.is_file():
            state = load_checkpoint(folder.last)
        if state is None:
            return False
        trainer.load_state_dict(state)
        trainer.apply_allowed_changes()
        logger.info("resumed from %s at epoch %d step %d", folder.last, run.epoch, run.step_in_epoch)
        return True

    def _training_modes(self) -> list[tuple[Any, bool]]:
        """The modes modules train in: a module handed over in train mode keeps its sub-modules'
        own modes (a frozen BatchNorm stays frozen); one handed over in eval mode trains fully."""
        modes: list[tuple[Any, bool]] = []
        for module in self.trainer.state.modules.values():
            if module.training:
                modes.extend(snapshot_modes(module))
            else:
                modes.extend((m, True) for m in module.modules())
        return modes

    # ------------------------------------------------------------------ one epoch
    def _run_epoch(self, epoch: int, epochs: int, source: BatchSource, val_source: BatchSource | None,
                   folder: RunFolder | None) -> None:
        trainer, run = self.trainer, self.progress
        start = run.step_in_epoch
        if start > 0 and run.epoch_start_rng is not None and run.resume_rng is not None:
            # exact mid-epoch resume: same RNG as the epoch's start when the iterator is made
            restore_rng(run.epoch_start_rng)
            iterator = source.epoch(epoch, start)
            restore_rng(run.resume_rng)
        else:
            if start == 0:
                run.sums, run.count = {}, 0
            run.epoch_start_rng = capture_rng()
            iterator = source.epoch(epoch, start)
        run.resume_rng = None
        restore_modes(self._train_modes)
        bar = tqdm(total=len(source), initial=start, desc=f"epoch {epoch + 1}/{epochs}",
                   disable=None if (trainer.verbose and trainer.dist.is_main) else True,
                   leave=False, dynamic_ncols=True)
        t0 = time.perf_counter()
        signals = self._signals
        assert signals is not None
        try:
            checked = isinstance(source, TensorSource)  # fit(x, y) arrays were checked up front
            for raw in iterator:
                self._one_step(raw if checked else trainer.check_batch(raw), bar)
                if trainer.checkpoint_every and run.global_step % trainer.checkpoint_every == 0:
                    trainer.save_checkpoint()
                if signals.received is not None:
                    path = trainer.save_checkpoint()
                    logger.warning("signal %d: saved %s, stopping", signals.received, path)
                    raise TrainingInterrupted(signals.received, path)
                if self.stop_reason:
                    break
        finally:
            bar.close()
        if trainer.device.type == "cuda":
            torch.cuda.synchronize(trainer.device)
        self._end_epoch(epoch, epochs, time.perf_counter() - t0, val_source, folder)

    def _one_step(self, raw: Any, bar: Any) -> None:
        trainer, run = self.trainer, self.progress
        if trainer.lr_schedule is not None:
            lr = trainer.lr_now(self._epochs)
            for group in trainer.optimizer.param_groups:
                group["lr"] = lr
        batch = trainer.prepare_batch(raw)
        self.last_batch = batch
        metrics = trainer.train_step(batch)
        trainer.update_scaler()
        trainer.state.step_schedulers("step")
        n = batch_len(batch)
        for key, value in metrics.items():
            value = value.detach().float()
            run.sums[key] = run.sums[key] + value * n if key in run.sums else value * n
        run.count += n
        run.step_in_epoch += 1
        run.global_step += 1
        bar.update(1)
        if run.step_in_epoch % trainer.log_every == 0 and run.sums:
            bar.set_postfix({k: f"{float(v) / run.count:.3f}" for k, v in run.sums.items()})
        for hook in trainer.step_hooks:
            hook(trainer)

    def _end_epoch(self, epoch: int, epochs: int, train_time: float, val_source: BatchSource | None,
                   folder: RunFolder | None) -> None:
        trainer, run = self.trainer, self.progress
        record: dict[str, Any] = {"epoch": epoch + 1, "step": run.global_step}
        totals = {k: v.clone() for k, v in run.sums.items()}
        count = torch.tensor(float(run.count), device=trainer.device)
        for value in totals.values():
            trainer.all_reduce_sum(value)
        trainer.all_reduce_sum(count)
        record.update({f"train_{k}": float(v / count.clamp_min(1)) for k, v in totals.items()})
        trainer.state.step_schedulers("epoch")
        if "optimizer" in trainer.state.optimizers:
            record["lr"] = float(trainer.optimizer.param_groups[0]["lr"])
        record["train_time"] = train_time
        t1 = time.perf_counter()
        if val_source is not None:
            record.update({f"val_{k}": v for k, v in trainer.evaluate(val_source).items()})
            restore_modes(self._train_modes)
        record["eval_time"] = time.perf_counter() - t1
        record.update(trainer.epoch_record_extras())
        record["rss_mb"], record["peak_rss_mb"] = rss_mb()
        run.close_epoch(record)
        improved = False
        key = f"val_{trainer.best_metric}" if trainer.best_metric is not None else None
        if key is not None and key in record:
            score = float(record[key])
            if run.best_value is None or score > run.best_value:
                run.best_value, run.best_epoch, improved = score, epoch + 1, True
        record["best_epoch"] = run.best_epoch
        if improved and folder is not None and trainer.dist.is_main:
            folder.save_best(trainer.state.best_state(record, trainer.best_metric))
        if trainer.metrics_path is not None and trainer.dist.is_main:
            append_metrics(trainer.metrics_path, record)
        if folder is not None:
            trainer.save_checkpoint()
        if trainer.verbose and trainer.dist.is_main:
            shown = {k: round(v, 4) for k, v in record.items() if isinstance(v, float)}
            logger.info("epoch %d/%d %s", epoch + 1, epochs, shown)

    def request_stop(self, reason: str) -> None:
        """Stop after the current step (the epoch is closed, logged and checkpointed)."""
        self.stop_reason = reason

    def _load_best(self, folder: RunFolder) -> None:
        state = folder.load_best(map_location=self.trainer.device)
        for name, module in self.trainer.state.modules.items():
            if name in state["modules"]:
                module.load_state_dict(state["modules"][name])
        logger.info("restored best checkpoint (epoch %s, %s = %s)", state["epoch"], state["metric"], state["value"])
