"""Image adversarial training on an ART ``PyTorchClassifier``: input checks, attacks, evaluation.

:class:`AdversarialTrainer` is the base of the built-in ``pgd``, ``trades``, ``free`` and ``fbf``
trainers (``art_ext_plugins.trainers``). It adds to :class:`~art_ext.core.trainer.CoreTrainer`:

* the checks ART users expect (estimator type, input shape, label format and range, NaN/inf,
  values outside ``clip_values``, attack parameters), each a ``ValueError``/``TypeError`` naming
  the problem;
* index or one-hot labels everywhere (one-hot is reduced to indices on the device);
* the estimator's mean/std preprocessing applied inside the forward pass;
* :meth:`AdversarialTrainer.attack`: on-device PGD/FGSM with the trainer's parameters;
* :meth:`AdversarialTrainer.evaluate`: clean and robust accuracy (PGD with restarts) per epoch,
  in float32 and with robust accuracy as :mod:`art_ext.evaluation` defines it; the best-robust
  checkpoint is selected on ``val_robust_acc``.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import numpy as np
import torch
from torch import Tensor

from art_ext import checks
from art_ext.core import perturb
from art_ext.core.batches import BatchSource
from art_ext.core.device import as_clip_tensors, maybe_compile
from art_ext.core.forward import Normalized, classifier_forward
from art_ext.core.guard import CollapseGuard
from art_ext.core.trainer import CoreTrainer
from art_ext.evaluation.robust import pgd_batch_masks

logger = logging.getLogger(__name__)

__all__ = ["AdversarialTrainer", "Normalized", "single_step_kwargs"]  # Normalized: from art_ext.core.forward


def _is_number(value: Any) -> bool:
    return checks.is_real(value)


def single_step_kwargs(trainer: str, kwargs: dict[str, Any], *, step_name: str) -> None:
    """Single-step trainers take one gradient step per batch and call its size ``step_name``:
    refuse the multi-step spellings with a message that says so (not Python's "multiple values")."""
    hints = {"max_iter": f"{trainer} takes one gradient step per batch",
             "eps_step": f"{trainer}'s step size is {step_name}"}
    for key, hint in hints.items():
        if key in kwargs:
            raise TypeError(f"{trainer}: unexpected keyword argument '{key}' ({hint}; got {key}={kwargs[key]!r})")


class AdversarialTrainer(CoreTrainer):
    """Base of the image adversarial trainers (see module docstring).

    :param classifier: an ART ``PyTorchClassifier`` (trained in place).
    :param eps: attack budget (Linf or L2 radius) in input units.
    :param eps_step: attack step; default ``min(eps, 2.5 * eps / max_iter)`` (Madry et al.).
    :param max_iter: attack steps during training.
    :param norm: ``"inf"`` / ``np.inf`` or ``"2"`` / ``2``.
    :param num_random_init: random restarts during training (1 = one random start).
    :param eval_max_iter: PGD steps of the per-epoch robust evaluation (default 20); 0 evaluates clean
        accuracy only (no ``val_robust_acc``, so no ``best.pt`` is chosen on it).
    :param eval_restarts: random restarts of that evaluation (default 2).
    :param eval_eps_step: step of that evaluation; default ``2.5 * eps / eval_max_iter``.
    :param eval_max_samples: evaluate on at most this many validation examples (default 1000).
    :param attack_train_mode: craft training attacks in train mode (default: eval mode, like ART).
    :param guard: a :class:`~art_ext.core.guard.CollapseGuard`, ``True`` (a default one), ``False``
        or ``None`` (the trainer's default: on for single-step trainers, off otherwise).
    :param on_collapse: what the default guard does on catastrophic overfitting: ``"rollback"``
        (default), ``"stop"`` or ``"warn"``.
    :param kwargs: the :class:`~art_ext.core.trainer.CoreTrainer` options (``nb_epochs``,
        ``batch_size``, ``device``, ``precision``, ``checkpoint_dir``, ``resume``, ...).
    """

    best_metric = "robust_acc"
    #: whether ``eps_step`` may exceed ``eps`` (FBF's 1.25 eps step)
    _allow_step_above_eps = False
    #: whether the collapse guard is on by default (single-step trainers)
    _guard_by_default = False

    def __init__(
        self,
        classifier: Any,
        *,
        eps: float = 0.3,
        eps_step: float | None = None,
        max_iter: int = 7,
        norm: str | float = "inf",
        num_random_init: int = 1,
        eval_max_iter: int = 20,
        eval_restarts: int = 2,
        eval_eps_step: float | None = None,
        eval_max_samples: int | None = 1000,
        attack_train_mode: bool = False,
        guard: Any = None,
        on_collapse: str = "rollback",
        **kwargs: Any,
    ) -> None:
        super().__init__(classifier, **kwargs)
        self.eps = eps
        self.max_iter = max_iter
        self.norm = perturb.normalize_norm(norm)
        self.eps_step = eps_step if eps_step is not None else (
            min(eps, 2.5 * eps / max_iter) if _is_number(eps) and _is_number(max_iter) and max_iter > 0 else eps
        )
        self.num_random_init = num_random_init
        self.eval_max_iter = eval_max_iter
        self.eval_restarts = eval_restarts
        self.eval_eps_step = eval_eps_step if eval_eps_step is not None else (
            min(eps, 2.5 * eps / eval_max_iter) if _is_number(eps) and _is_number(eval_max_iter) and eval_max_iter > 0 else eps
        )
        self.eval_max_samples = eval_max_samples
        self.attack_train_mode = attack_train_mode
        self.input_shape = tuple(classifier.input_shape)
        self.nb_classes = int(classifier.nb_classes)
        self.clip_values = classifier.clip_values
        self._clip: Any = None
        forward = classifier_forward(classifier, self.module)
        self._forward_module = forward if forward is not self.module else None
        AdversarialTrainer._check_params(self)
        self.on_collapse = checks.choice(on_collapse, "on_collapse", ("rollback", "stop", "warn"))
        self.guard = self._make_guard(guard, on_collapse)

    def _make_guard(self, guard: Any, on_collapse: str) -> Any:
        if guard is None:
            guard = self._guard_by_default
        if guard is True:
            guard = CollapseGuard(on_collapse=on_collapse)
        if guard is False:
            return None
        if not isinstance(guard, CollapseGuard):
            raise TypeError(f"guard must be a CollapseGuard, True, False or None, got {type(guard).__name__}")
        guard.attach(self)
        return guard

    @property
    def step_scale(self) -> float:
        """Factor on the single-step size (1.0 until the collapse guard rolls back)."""
        return self.guard.step_scale if self.guard is not None else 1.0

    def epoch_record_extras(self) -> dict[str, Any]:
        return self.guard.record() if self.guard is not None else {}

    # ------------------------------------------------------------------ checks

    def check_estimator(self, estimator: Any) -> None:
        from art.estimators.classification import PyTorchClassifier

        if not isinstance(estimator, PyTorchClassifier):
            raise TypeError(
                f"classifier must be an ART PyTorchClassifier (art.estimators.classification), "
                f"got {type(estimator).__name__}"
            )

    def _check_params(self) -> None:
        super()._check_params()
        checks.clip_bounds(self.clip_values, self.input_shape, "classifier clip_values")
        checks.check_eps(self.eps, norm=self.norm, clip_values=self.clip_values, input_shape=self.input_shape)
        checks.integer(self.max_iter, "max_iter", minimum=1)
        checks.positive(self.eps_step, "eps_step")
        if self.eps_step > self.eps * (1 + 1e-9) and not self._allow_step_above_eps:
            raise ValueError(f"eps_step must be <= eps, got eps_step={self.eps_step} > eps={self.eps}")
        checks.integer(self.num_random_init, "num_random_init", minimum=1)
        checks.integer(self.eval_max_iter, "eval_max_iter", minimum=0)
        checks.integer(self.eval_restarts, "eval_restarts", minimum=1)
        checks.number(self.eval_eps_step, "eval_eps_step", low=0.0, high=self.eps * (1 + 1e-9), low_inclusive=False)
        if self.eval_max_samples is not None:
            checks.integer(self.eval_max_samples, "eval_max_samples", minimum=1)
        checks.boolean(self.attack_train_mode, "attack_train_mode")

    def check_data(self, x: Any, y: Any) -> tuple[Tensor, ...]:
        """Validate images and labels; return float32 images and int64 index labels (host tensors)."""
        x = checks.images(x, input_shape=self.input_shape, clip_values=self.clip_values)
        labels = checks.class_indices(y, nb_classes=self.nb_classes, n=len(x))
        return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), torch.from_numpy(labels)

    def check_labels(self, y: Any) -> np.ndarray:
        """Index labels (N,) in [0, nb_classes) or one-hot (N, nb_classes) -> int64 indices."""
        return checks.class_indices(y, nb_classes=self.nb_classes)

    def check_batch(self, batch: Any) -> Any:
        """A loader's ``(x, y, ...)`` batch checked like ``fit``'s arrays (labels become indices)."""
        if isinstance(batch, (tuple, list)) and len(batch) >= 2:
            x, y = self.check_data(batch[0], batch[1])
            return (x, y, *batch[2:])
        raise TypeError(
            f"training batches must be (x, y, ...) tuples for {type(self).__name__}, got {type(batch).__name__}"
        )

    # ------------------------------------------------------------------ setup, batches

    def setup(self) -> None:
        if self._ready:
            return
        super().setup()
        if self._forward_module is not None:
            # train through the normalising wrapper; the user's module stays the estimator's model

            assert self.policy is not None
            self._forward_module.to(self.device)
            self.net = self.wrap(self._forward_module)
            self.attack_net = maybe_compile(self._forward_module, self.policy)
        assert self.policy is not None
        self._clip = as_clip_tensors(self.clip_values, self.policy)

    def prepare_batch(self, batch: Any) -> Any:
        """Move ``(x, y, ...)`` to the device; float one-hot labels become indices."""
        assert self.policy is not None
        batch = self.policy.to_device(batch)
        if isinstance(batch, tuple) and len(batch) >= 2:
            x, y = batch[0], batch[1]
            if (x.dtype != torch.float32 and x.is_floating_point()) or not x.is_floating_point():
                x = x.float()
            if y.dim() == 2:
                y = y.argmax(dim=1)
            y = y.long()
            batch = (x, y, *batch[2:])
        return batch

    # ------------------------------------------------------------------ attacks

    def attack_mode(self) -> contextlib.AbstractContextManager[Any]:
        """The mode training attacks run in: eval (default) or, with ``attack_train_mode``, as is."""
        return contextlib.nullcontext() if self.attack_train_mode else self.eval_mode()

    def attack(
        self,
        x: Tensor,
        y: Tensor,
        *,
        eps: float | None = None,
        eps_step: float | None = None,
        max_iter: int | None = None,
        restarts: int | None = None,
        random_start: bool = True,
        loss_fn: perturb.LossFn = perturb.cross_entropy,
        targeted: bool = False,
        generator: torch.Generator | None = None,
        x_init: Tensor | None = None,
    ) -> Tensor:
        """On-device PGD with the trainer's parameters (overridable per call); the model is
        put in eval mode (unless ``attack_train_mode``) and restored afterwards."""
        with self.attack_mode(), self.autocast():
            return perturb.pgd(
                self.attack_net, x, y,
                eps=self.eps if eps is None else eps,
                step=self.eps_step if eps_step is None else eps_step,
                steps=self.max_iter if max_iter is None else max_iter,
                norm=self.norm, random_start=random_start,
                restarts=self.num_random_init if restarts is None else restarts,
                loss_fn=loss_fn, targeted=targeted, clip_values=self._clip, generator=generator,
                x_init=x_init,
            )

    def evaluate(self, source: BatchSource) -> dict[str, float]:
        """Clean and robust accuracy under PGD-``eval_max_iter`` with ``eval_restarts`` random
        restarts (fixed seed, so epochs are comparable) on at most ``eval_max_samples``: float32,
        eval mode, robust accuracy as :func:`art_ext.evaluation.robust_mask` defines it."""
        device = self.device
        generator = torch.Generator(device=device).manual_seed(1234 + self.dist.rank)
        clean = torch.zeros((), device=device)
        robust = torch.zeros((), device=device)
        total = torch.zeros((), device=device)
        limit = self.eval_max_samples
        seen = 0
        per_rank_limit = None if limit is None else -(-limit // self.dist.world_size)
        with self.eval_mode():
            for batch in self.iter_batches(source):
                x, y = batch[0], batch[1]
                if per_rank_limit is not None:
                    if seen >= per_rank_limit:
                        break
                    x, y = x[: per_rank_limit - seen], y[: per_rank_limit - seen]
                seen += len(y)
                if self.eval_max_iter == 0:  # no attack: a clean figure only, never a "robust" one
                    with torch.no_grad():
                        clean_ok = self.attack_net(x.float()).argmax(1) == y
                    robust_ok = clean_ok[:0]
                else:
                    clean_ok, robust_ok = pgd_batch_masks(
                        self.attack_net, x, y, eps=float(self.eps), norm=self.norm, steps=self.eval_max_iter,
                        restarts=self.eval_restarts, step=self.eval_eps_step, clip_values=self._clip,
                        generator=generator,
                    )
                clean += clean_ok.sum()
                robust += robust_ok.sum()
                total += len(y)
        for t in (clean, robust, total):
            self.all_reduce_sum(t)
        n = total.clamp_min(1)
        if self.eval_max_iter == 0:
            return {"clean_acc": float(clean / n)}
        return {"clean_acc": float(clean / n), "robust_acc": float(robust / n)}
