"""What a :class:`~art_ext.core.trainer.CoreTrainer` checkpoints: its registered objects and the
progress of its run.

:class:`TrainerState` is an object the trainer owns (``trainer.state``): the modules, optimizers,
LR schedulers and other stateful objects a trainer registers, the :class:`Progress` of the run,
and the checkpoint built from them (:meth:`TrainerState.state_dict` /
:meth:`TrainerState.load_state_dict`). What is in a checkpoint, and so what an exact resume
restores, is defined here and nowhere else; writing and reading the file is
:mod:`art_ext.core.checkpoint`'s job.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from art_ext.core import distributed as ddp
from art_ext.core.checkpoint import capture_rng, restore_rng

CHECKPOINT_FORMAT = "art-ext-core/2"

__all__ = ["CHECKPOINT_FORMAT", "Progress", "TrainerState"]


@dataclass
class Progress:
    """Where a run stands; all of it is checkpointed."""

    epoch: int = 0  #: completed epochs
    step_in_epoch: int = 0  #: completed steps of the current epoch
    global_step: int = 0
    data_seed: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    best_value: float | None = None
    best_epoch: int | None = None
    #: running sums of the step metrics of the current epoch, and the examples they cover
    sums: dict[str, torch.Tensor] = field(default_factory=dict)
    count: int = 0
    #: RNG state at the start of the current epoch (an exact mid-epoch resume rebuilds its iterator)
    epoch_start_rng: dict[str, Any] | None = None
    #: RNG state saved with the checkpoint, restored after that iterator is rebuilt
    resume_rng: dict[str, Any] | None = None
    fingerprint: dict[str, Any] = field(default_factory=dict)

    def restart(self) -> None:
        """A fresh run: no epoch done, no history, no best value."""
        self.epoch, self.step_in_epoch, self.global_step = 0, 0, 0
        self.history = []
        self.best_value, self.best_epoch = None, None

    def close_epoch(self, record: dict[str, Any]) -> None:
        """The epoch ``record`` describes is done: count it and clear the running sums."""
        self.epoch = int(record["epoch"])
        self.step_in_epoch = 0
        self.sums, self.count = {}, 0
        self.epoch_start_rng = None
        self.history.append(record)


class TrainerState:
    """Registered objects and progress of one trainer, and the checkpoint made of them."""

    def __init__(self, trainer_name: str) -> None:
        self.trainer_name = trainer_name
        self.modules: dict[str, nn.Module] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.schedulers: dict[str, tuple[Any, str]] = {}
        self.states: dict[str, Any] = {}
        self.progress = Progress()

    # ------------------------------------------------------------------ registration

    def register_module(self, name: str, module: nn.Module) -> nn.Module:
        if not isinstance(module, nn.Module):
            raise TypeError(f"register_module({name!r}) needs a torch.nn.Module, got {type(module).__name__}")
        if name in self.modules:
            raise ValueError(f"module {name!r} is already registered")
        self.modules[name] = module
        return module

    def register_optimizer(self, name: str, optimizer: torch.optim.Optimizer) -> torch.optim.Optimizer:
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"register_optimizer({name!r}) needs a torch.optim.Optimizer, got {type(optimizer).__name__}")
        if name in self.optimizers:
            raise ValueError(f"optimizer {name!r} is already registered")
        self.optimizers[name] = optimizer
        return optimizer

    def register_scheduler(self, name: str, scheduler: Any, interval: str = "epoch") -> Any:
        if interval not in ("epoch", "step", "manual"):
            raise ValueError(f"interval must be 'epoch', 'step' or 'manual', got {interval!r}")
        if not hasattr(scheduler, "state_dict") or not hasattr(scheduler, "step"):
            raise TypeError(f"register_scheduler({name!r}) needs an LR scheduler, got {type(scheduler).__name__}")
        self.schedulers[name] = (scheduler, interval)
        return scheduler

    def register_state(self, name: str, obj: Any) -> Any:
        if not (hasattr(obj, "state_dict") and hasattr(obj, "load_state_dict")):
            raise TypeError(f"register_state({name!r}) needs state_dict()/load_state_dict()")
        self.states[name] = obj
        return obj

    def step_schedulers(self, interval: str) -> None:
        """Step every scheduler registered with ``interval`` (``"step"`` or ``"epoch"``)."""
        for scheduler, registered in self.schedulers.values():
            if registered == interval:
                scheduler.step()

    # ------------------------------------------------------------------ the checkpoint

    def state_dict(self, scaler: torch.amp.GradScaler | None) -> dict[str, Any]:
        """Everything needed to resume exactly (all values safe for ``weights_only=True``)."""
        run = self.progress
        return {
            "format": CHECKPOINT_FORMAT,
            "trainer": self.trainer_name,
            "epoch": run.epoch,
            "step_in_epoch": run.step_in_epoch,
            "global_step": run.global_step,
            "data_seed": run.data_seed,
            "modules": {name: m.state_dict() for name, m in self.modules.items()},
            "optimizers": {name: o.state_dict() for name, o in self.optimizers.items()},
            "schedulers": {name: s.state_dict() for name, (s, _) in self.schedulers.items()},
            "states": {name: s.state_dict() for name, s in self.states.items()},
            "scaler": scaler.state_dict() if scaler is not None and scaler.is_enabled() else {},
            "rng": capture_rng(),
            "epoch_start_rng": run.epoch_start_rng if run.step_in_epoch > 0 else None,
            "sums": {k: v.detach().cpu() for k, v in run.sums.items()},
            "count": run.count,
            "history": run.history,
            "best_value": run.best_value,
            "best_epoch": run.best_epoch,
            "fingerprint": run.fingerprint,
        }

    def best_state(self, record: dict[str, Any], metric: str | None) -> dict[str, Any]:
        """The ``best.pt`` of the epoch ``record`` describes: its weights, not the resumable state."""
        return {
            "format": CHECKPOINT_FORMAT,
            "trainer": self.trainer_name,
            "epoch": record["epoch"],
            "metric": metric,
            "value": self.progress.best_value,
            "record": {k: v for k, v in record.items() if isinstance(v, (int, float, str)) or v is None},
            "modules": {name: m.state_dict() for name, m in self.modules.items()},
            "fingerprint": self.progress.fingerprint,
        }

    def load_state_dict(self, state: dict[str, Any], *, scaler: torch.amp.GradScaler | None, device: torch.device,
                        dist: ddp.DistInfo, reseed: Callable[[int], None]) -> None:
        """Inverse of :meth:`state_dict` (modules, optimizers, schedulers, scaler, RNG, progress).

        Rank 0 restores the saved RNG; other DDP ranks ``reseed`` deterministically per rank.
        """
        if state.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"checkpoint format {state.get('format')!r}, expected {CHECKPOINT_FORMAT!r}")
        for kind, registry in (("modules", self.modules), ("optimizers", self.optimizers),
                               ("schedulers", {k: s for k, (s, _) in self.schedulers.items()}),
                               ("states", self.states)):
            saved = state[kind]
            missing = sorted(set(registry) - set(saved))
            if missing:
                raise ValueError(f"checkpoint lacks {kind} {missing} (has {sorted(saved)})")
            for name, obj in registry.items():
                obj.load_state_dict(saved[name])
        if scaler is not None and scaler.is_enabled() and state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        run = self.progress
        run.epoch = int(state["epoch"])
        run.step_in_epoch = int(state["step_in_epoch"])
        run.global_step = int(state["global_step"])
        run.data_seed = int(state["data_seed"])
        run.sums = {k: v.to(device) for k, v in state["sums"].items()}
        run.count = int(state["count"])
        run.history = list(state["history"])
        run.best_value = state["best_value"]
        run.best_epoch = state["best_epoch"]
        run.epoch_start_rng = state["epoch_start_rng"]
        run.resume_rng = state["rng"]
        if dist.is_main:
            restore_rng(state["rng"])
        else:  # other ranks: a deterministic, rank-specific reseed
            reseed((run.data_seed + 7919 * dist.rank + run.global_step) % 2**31)
            run.resume_rng = None
            run.epoch_start_rng = None if run.step_in_epoch == 0 else state["epoch_start_rng"]
