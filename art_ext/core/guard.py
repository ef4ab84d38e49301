"""A guard against catastrophic overfitting in single-step adversarial training.

Wong et al. (2020) found that FGSM training can lose all robustness within an epoch
("catastrophic overfitting"): accuracy under the single-step training attack keeps rising while
accuracy under PGD collapses to near zero. Their remedy is early stopping on a PGD check of a
training minibatch. :class:`CollapseGuard` automates it for any image trainer on the core:

* every ``every`` optimisation steps (default: once per epoch, as Wong et al.) it measures, in eval mode and
  the training precision, robust accuracy under PGD-``pgd_steps`` and under FGSM on a fixed
  training minibatch of ``n_examples`` (taken from the first batches, kept for the whole run);
* a **collapse** is either a PGD accuracy at least ``drop`` below the best PGD accuracy seen so
  far while FGSM accuracy stays at least ``gap`` above it, or (a run that overfits before it ever
  gained robustness) FGSM accuracy of at least ``min_fgsm`` with PGD accuracy at most ``ratio``
  times it: in both cases the single-step attack no longer finds what PGD finds;
* on a collapse it logs a warning naming the step, records the event in the metrics log, and
  acts as ``on_collapse`` says: ``"rollback"`` (default) restores the last good state (weights and
  optimizer states from the last check that passed) and multiplies the trainer's single-step
  size by ``step_factor`` (trainers read :attr:`CollapseGuard.step_scale`) (at most ``max_rollbacks`` times, then stops); ``"stop"`` restores the
  last good state and ends training; ``"warn"`` only reports.

The guard's state (fixed batch, best accuracy, last good state, events, current step size) is
checkpointed with the run, so a resumed run continues the same guard.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

import torch
from torch import Tensor

from art_ext import checks
from art_ext.core import perturb
from art_ext.evaluation.robust import robust_mask

logger = logging.getLogger(__name__)

__all__ = ["ON_COLLAPSE", "CollapseGuard"]

ON_COLLAPSE = ("rollback", "stop", "warn")


def _cpu_copy(state: Any) -> Any:
    if isinstance(state, Tensor):
        return state.detach().to("cpu", copy=True)
    if isinstance(state, dict):
        return {k: _cpu_copy(v) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(_cpu_copy(v) for v in state)
    return copy.deepcopy(state)


class CollapseGuard:
    """Detect catastrophic overfitting and react (see the module docstring).

    :param every: steps between checks; ``None`` (default): one epoch.
    :param n_examples: size of the fixed training minibatch checked (default 32).
    :param pgd_steps: PGD steps of the check (default 10, step ``2.5 * eps / pgd_steps``).
    :param drop: PGD accuracy fall below its best that counts as a collapse (default 0.2).
    :param gap: FGSM minus PGD accuracy that must also hold (default 0.3).
    :param ratio: PGD accuracy at most this fraction of FGSM accuracy is a collapse (default 0.25)...
    :param min_fgsm: ... when FGSM accuracy is at least this (default 0.6).
    :param on_collapse: ``"rollback"``, ``"stop"`` or ``"warn"``.
    :param step_factor: multiplier of the single-step size on each rollback (default 0.5).
    :param max_rollbacks: rollbacks before the guard stops training instead (default 3).
    """

    def __init__(
        self,
        *,
        every: int | None = None,
        n_examples: int = 32,
        pgd_steps: int = 10,
        drop: float = 0.2,
        gap: float = 0.3,
        ratio: float = 0.25,
        min_fgsm: float = 0.6,
        on_collapse: str = "rollback",
        step_factor: float = 0.5,
        max_rollbacks: int = 3,
    ) -> None:
        if every is not None:
            checks.integer(every, "guard every", minimum=1)
        checks.integer(n_examples, "guard n_examples", minimum=1)
        checks.integer(pgd_steps, "guard pgd_steps", minimum=1)
        checks.number(drop, "guard drop", low=0.0, high=1.0, low_inclusive=False)
        checks.number(gap, "guard gap", low=0.0, high=1.0)
        checks.number(ratio, "guard ratio", low=0.0, high=1.0)
        checks.number(min_fgsm, "guard min_fgsm", low=0.0, high=1.0)
        checks.choice(on_collapse, "on_collapse", ON_COLLAPSE)
        checks.number(step_factor, "guard step_factor", low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
        checks.integer(max_rollbacks, "guard max_rollbacks", minimum=0)
        self.every = every
        self.n_examples = n_examples
        self.pgd_steps = pgd_steps
        self.drop = drop
        self.gap = gap
        self.ratio = ratio
        self.min_fgsm = min_fgsm
        self.on_collapse = on_collapse
        self.step_factor = step_factor
        self.max_rollbacks = max_rollbacks
        self.reset()

    def reset(self) -> None:
        self.x: Tensor | None = None
        self.y: Tensor | None = None
        self.best_pgd: float | None = None
        self.good_state: dict[str, Any] | None = None
        self.events: list[dict[str, Any]] = []
        self.checks_run = 0
        self.rollbacks = 0
        self.step_scale = 1.0
        self.last: dict[str, float] = {}
        self.seconds = 0.0

    # ------------------------------------------------------------------ hook
    def attach(self, trainer: Any) -> None:
        """Register as the trainer's step hook and checkpointed state."""
        trainer.step_hooks.append(self)
        trainer.register_state("collapse_guard", self)

    def __call__(self, trainer: Any) -> None:
        batch = trainer.last_batch
        if self.x is None or len(self.x) < self.n_examples:
            self._collect(batch)
        if self.good_state is None:  # the state to roll back to before the first check
            self.good_state = self._snapshot(trainer)
        every = self.every or max(1, getattr(trainer, "steps_per_epoch", 1))
        if trainer.global_step % every != 0 or self.x is None:
            return
        import time

        start = time.perf_counter()
        pgd_acc, fgsm_acc = self._measure(trainer)
        self.seconds += time.perf_counter() - start
        self.checks_run += 1
        self.last = {"pgd_acc": pgd_acc, "fgsm_acc": fgsm_acc}
        collapsed = self.collapsed(pgd_acc, fgsm_acc)
        if not collapsed:
            if self.best_pgd is None or pgd_acc >= self.best_pgd:
                self.best_pgd = pgd_acc
            self.good_state = self._snapshot(trainer)
            return
        self._react(trainer, pgd_acc, fgsm_acc)

    def collapsed(self, pgd_acc: float, fgsm_acc: float) -> bool:
        """The collapse criterion of the module docstring."""
        fell = self.best_pgd is not None and self.best_pgd - pgd_acc >= self.drop and fgsm_acc - pgd_acc >= self.gap
        never_robust = fgsm_acc >= self.min_fgsm and pgd_acc <= self.ratio * fgsm_acc
        return bool(fell or never_robust)

    def _collect(self, batch: Any) -> None:
        if not isinstance(batch, (tuple, list)) or len(batch) < 2:
            return
        x, y = batch[0].detach(), batch[1].detach()
        need = self.n_examples - (0 if self.x is None else len(self.x))
        x, y = x[:need].clone(), y[:need].clone()
        self.x = x if self.x is None else torch.cat([self.x, x])
        self.y = y if self.y is None else torch.cat([self.y, y])

    def _measure(self, trainer: Any) -> tuple[float, float]:
        """(PGD, FGSM) robust accuracy on the guard batch, under the training precision (a
        detector, not a reported figure; reported robustness always comes from the float32
        evaluation)."""
        self.to(trainer.device)
        assert self.x is not None and self.y is not None
        x, y, eps, model = self.x, self.y, float(trainer.eps), trainer.attack_net
        generator = torch.Generator(device=x.device).manual_seed(4321)
        with trainer.eval_mode(), trainer.autocast():
            x_pgd = perturb.pgd(model, x, y, eps, 2.5 * eps / self.pgd_steps, self.pgd_steps, norm=trainer.norm,
                                clip_values=trainer._clip, generator=generator)
            x_fgsm = perturb.fgsm(model, x, y, eps, norm=trainer.norm, clip_values=trainer._clip)
            with torch.no_grad():
                clean = model(x).argmax(1)
                pgd_ok = robust_mask(y, clean, model(x_pgd).argmax(1))
                fgsm_ok = robust_mask(y, clean, model(x_fgsm).argmax(1))
        return float(pgd_ok.float().mean()), float(fgsm_ok.float().mean())

    def _snapshot(self, trainer: Any) -> dict[str, Any]:
        return {
            "modules": {n: _cpu_copy(m.state_dict()) for n, m in trainer.modules.items()},
            "optimizers": {n: _cpu_copy(o.state_dict()) for n, o in trainer.optimizers.items()},
        }

    def _restore(self, trainer: Any) -> None:
        if self.good_state is None:
            return
        for name, module in trainer.modules.items():
            module.load_state_dict(self.good_state["modules"][name])
        for name, optimizer in trainer.optimizers.items():
            optimizer.load_state_dict(self.good_state["optimizers"][name])

    def _react(self, trainer: Any, pgd_acc: float, fgsm_acc: float) -> None:
        action = self.on_collapse
        if action == "rollback" and self.rollbacks >= self.max_rollbacks:
            action = "stop"
        event = {"step": trainer.global_step, "epoch": trainer.epoch + 1, "pgd_acc": pgd_acc, "fgsm_acc": fgsm_acc,
                 "best_pgd_acc": self.best_pgd, "action": action}
        logger.warning(
            "catastrophic overfitting at step %d (epoch %d): PGD-%d accuracy %.3f on the guard batch, best %.3f, "
            "FGSM accuracy %.3f -> %s", trainer.global_step, trainer.epoch + 1, self.pgd_steps, pgd_acc,
            self.best_pgd or 0.0, fgsm_acc, action,
        )
        if action in ("rollback", "stop"):
            self._restore(trainer)
        if action == "rollback":
            self.rollbacks += 1
            self.step_scale *= self.step_factor
            event["step_scale"] = self.step_scale
        elif action == "stop":
            trainer.request_stop(f"collapse guard: PGD accuracy {pgd_acc:.3f} fell from {self.best_pgd:.3f}")
        self.events.append(event)

    # ------------------------------------------------------------------ metrics and checkpoint
    def record(self) -> dict[str, Any]:
        """What the epoch's metrics record shows about the guard."""
        out: dict[str, Any] = {"guard_fired": len(self.events), "guard_checks": self.checks_run,
                               "guard_seconds": self.seconds}
        out.update({f"guard_{k}": v for k, v in self.last.items()})
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"x": None if self.x is None else self.x.cpu(), "y": None if self.y is None else self.y.cpu(),
                "best_pgd": self.best_pgd, "good_state": self.good_state, "events": self.events,
                "checks_run": self.checks_run, "rollbacks": self.rollbacks, "step_scale": self.step_scale,
                "last": self.last, "seconds": self.seconds}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.x, self.y = state["x"], state["y"]
        self.best_pgd, self.good_state = state["best_pgd"], state["good_state"]
        self.events, self.checks_run = list(state["events"]), int(state["checks_run"])
        self.rollbacks, self.step_scale = int(state["rollbacks"]), float(state["step_scale"])
        self.last, self.seconds = dict(state["last"]), float(state["seconds"])

    def to(self, device: torch.device) -> CollapseGuard:
        if self.x is not None and self.y is not None:
            self.x, self.y = self.x.to(device), self.y.to(device)
        return self
