"""Registration and resumable state of :class:`~art_ext.core.trainer.CoreTrainer`.

:class:`TrainerState` is a mixin: the modules, optimizers, LR schedulers and other stateful
objects a trainer registers, and the checkpoint built from them (``state_dict`` /
``load_state_dict``, atomic ``save_checkpoint``, ``weights_only`` ``load_checkpoint``). What is in a
checkpoint, and so what an exact resume restores, is defined here and nowhere else.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from art_ext.core import distributed as ddp
from art_ext.core.checkpoint import atomic_save, capture_rng, load_checkpoint, restore_rng
from art_ext.core.run_folder import LAST

CHECKPOINT_FORMAT = "art-ext-core/2"

__all__ = ["CHECKPOINT_FORMAT", "TrainerState"]


class TrainerState:
    """Mixin: registered objects and the checkpoint (see the module docstring)."""

    # provided by CoreTrainer (trainer.py) and TrainingLoop (loop.py)
    _modules: dict[str, nn.Module]
    _optimizers: dict[str, torch.optim.Optimizer]
    _schedulers: dict[str, tuple[Any, str]]
    _states: dict[str, Any]
    _ready: bool
    _sums: dict[str, torch.Tensor]
    _count: int
    _epoch_start_rng: Any
    _resume_rng: Any
    _fingerprint: dict[str, Any]
    policy: Any
    scaler: Any
    epoch: int
    step_in_epoch: int
    global_step: int
    data_seed: int
    history: list[dict[str, Any]]
    best_value: float | None
    best_epoch: int | None
    checkpoint_dir: Path | None
    dist: ddp.DistInfo

    if TYPE_CHECKING:
        @property
        def device(self) -> torch.device: ...

        def setup(self) -> None: ...
        @staticmethod
        def _seed_everything(seed: int) -> None: ...

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
            "fingerprint": self._fingerprint,
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
