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
  with the best-robust checkpoint selected on ``robust_acc``.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from art_ext.core import perturb
from art_ext.core.batches import BatchSource
from art_ext.core.device import as_clip_tensors
from art_ext.core.trainer import CoreTrainer

logger = logging.getLogger(__name__)

__all__ = ["AdversarialTrainer", "Normalized"]


class Normalized(nn.Module):
    """``model((x - mean) / std)``: ART's mean/std preprocessing as part of the forward pass."""

    mean: Tensor
    std: Tensor

    def __init__(self, model: nn.Module, mean: Tensor, std: Tensor) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)

    def forward(self, x: Tensor) -> Tensor:
        return self.model((x - self.mean) / self.std)  # type: ignore[no-any-return]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool)


class AdversarialTrainer(CoreTrainer):
    """Base of the image adversarial trainers (see module docstring).

    :param classifier: an ART ``PyTorchClassifier`` (trained in place).
    :param eps: attack budget (Linf or L2 radius) in input units.
    :param eps_step: attack step; default ``min(eps, 2.5 * eps / max_iter)`` (Madry et al.).
    :param max_iter: attack steps during training.
    :param norm: ``"inf"`` / ``np.inf`` or ``"2"`` / ``2``.
    :param num_random_init: random restarts during training (1 = one random start).
    :param eval_max_iter: PGD steps of the per-epoch robust evaluation (default 20).
    :param eval_restarts: random restarts of that evaluation (default 2).
    :param eval_eps_step: step of that evaluation; default ``2.5 * eps / eval_max_iter``.
    :param eval_max_samples: evaluate on at most this many validation examples (default 1000).
    :param attack_train_mode: craft training attacks in train mode (default: eval mode, like ART).
    :param kwargs: the :class:`~art_ext.core.trainer.CoreTrainer` options (``nb_epochs``,
        ``batch_size``, ``device``, ``precision``, ``checkpoint_dir``, ``resume``, ...).
    """

    best_metric = "robust_acc"
    #: whether ``eps_step`` may exceed ``eps`` (FBF's 1.25 eps step)
    _allow_step_above_eps = False

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
        self._forward_module = self._with_preprocessing(classifier, self.module)
        AdversarialTrainer._check_params(self)

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
        if not _is_number(self.eps) or not self.eps > 0 or not np.isfinite(self.eps):
            raise ValueError(f"eps must be a finite number > 0, got {self.eps!r}")
        if not isinstance(self.max_iter, int) or isinstance(self.max_iter, bool) or self.max_iter < 1:
            raise ValueError(f"max_iter must be a positive integer, got {self.max_iter!r}")
        if not _is_number(self.eps_step) or not self.eps_step > 0:
            raise ValueError(f"eps_step must be a number > 0, got {self.eps_step!r}")
        if self.eps_step > self.eps * (1 + 1e-9) and not self._allow_step_above_eps:
            raise ValueError(f"eps_step must be <= eps, got eps_step={self.eps_step} > eps={self.eps}")
        if not isinstance(self.num_random_init, int) or self.num_random_init < 1:
            raise ValueError(f"num_random_init must be a positive integer, got {self.num_random_init!r}")
        if not isinstance(self.eval_max_iter, int) or self.eval_max_iter < 0:
            raise ValueError(f"eval_max_iter must be an integer >= 0, got {self.eval_max_iter!r}")
        if not isinstance(self.eval_restarts, int) or self.eval_restarts < 1:
            raise ValueError(f"eval_restarts must be a positive integer, got {self.eval_restarts!r}")
        if not _is_number(self.eval_eps_step) or not 0 < self.eval_eps_step <= self.eps * (1 + 1e-9):
            raise ValueError(f"eval_eps_step must be in (0, eps], got {self.eval_eps_step!r}")
        if self.eval_max_samples is not None and (not isinstance(self.eval_max_samples, int) or self.eval_max_samples < 1):
            raise ValueError(f"eval_max_samples must be a positive integer or None, got {self.eval_max_samples!r}")
        if self.clip_values is not None:
            low, high = np.asarray(self.clip_values[0]), np.asarray(self.clip_values[1])
            if np.any(low >= high):
                raise ValueError(f"classifier clip_values must have min < max, got {self.clip_values!r}")

    def _with_preprocessing(self, classifier: Any, module: nn.Module) -> nn.Module | None:
        """A :class:`Normalized` wrapper when the classifier standardises inputs, else ``None``."""
        if classifier.preprocessing_defences:
            raise ValueError(
                "classifier has preprocessing_defences "
                f"{[type(d).__name__ for d in classifier.preprocessing_defences]}; the core trainers "
                "do not apply them: build the classifier without them"
            )
        operations = classifier.preprocessing_operations or []
        mean, std = np.asarray(0.0), np.asarray(1.0)
        for op in operations:
            if hasattr(op, "mean") and hasattr(op, "std"):
                mean, std = np.asarray(op.mean, dtype=np.float32), np.asarray(op.std, dtype=np.float32)
            else:
                raise ValueError(f"classifier preprocessing {type(op).__name__} is not supported (only mean/std)")
        if np.all(mean == 0) and np.all(std == 1):
            return None
        shape = (1, *mean.shape, 1, 1) if mean.ndim == 1 and len(self.input_shape) == 3 else mean.shape
        return Normalized(module, torch.as_tensor(mean).reshape(shape), torch.as_tensor(std).reshape(shape))

    def check_data(self, x: Any, y: Any) -> tuple[Tensor, ...]:
        """Validate images and labels; return float32 images and int64 index labels (host tensors)."""
        if isinstance(x, Tensor):
            x = x.detach().cpu().numpy()
        if isinstance(y, Tensor):
            y = y.detach().cpu().numpy()
        if not isinstance(x, np.ndarray):
            raise TypeError(f"x must be a numpy array or a torch tensor, got {type(x).__name__}")
        if not isinstance(y, np.ndarray):
            raise TypeError(f"y must be a numpy array or a torch tensor, got {type(y).__name__}")
        if x.ndim != len(self.input_shape) + 1 or tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(
                f"x has shape {x.shape}; expected (N, {', '.join(map(str, self.input_shape))}) "
                f"for the classifier's input_shape {self.input_shape}"
            )
        if len(x) == 0:
            raise ValueError("x is empty")
        if len(y) != len(x):
            raise ValueError(f"x and y have different lengths: {len(x)} and {len(y)}")
        if not np.issubdtype(x.dtype, np.number):
            raise ValueError(f"x must be numeric, got dtype {x.dtype}")
        x = x.astype(np.float32, copy=False)
        if not np.isfinite(x).all():
            raise ValueError(f"x contains {int((~np.isfinite(x)).sum())} NaN or inf values")
        if self.clip_values is not None:
            low, high = np.asarray(self.clip_values[0]), np.asarray(self.clip_values[1])
            tol = 1e-5
            if np.any(x < low - tol) or np.any(x > high + tol):
                raise ValueError(
                    f"x has values in [{float(x.min()):.4g}, {float(x.max()):.4g}], outside the "
                    f"classifier's clip_values {self.clip_values.tolist() if hasattr(self.clip_values, 'tolist') else self.clip_values}"
                )
        labels = self.check_labels(y)
        return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(labels)

    def check_labels(self, y: np.ndarray) -> np.ndarray:
        """Index labels (N,) in [0, nb_classes) or one-hot (N, nb_classes) -> int64 indices."""
        k = self.nb_classes
        if y.ndim == 2:
            if y.shape[1] != k:
                raise ValueError(f"one-hot y has width {y.shape[1]}; expected nb_classes = {k}")
            if not np.isfinite(y).all():
                raise ValueError("y contains NaN or inf values")
            if not (np.isin(y, (0, 1)).all() and np.all(y.sum(axis=1) == 1)):
                raise ValueError("2-D y must be one-hot (one 1 per row, zeros elsewhere)")
            return np.argmax(y, axis=1).astype(np.int64)
        if y.ndim != 1:
            raise ValueError(f"y has shape {y.shape}; expected (N,) class indices or (N, {k}) one-hot")
        if not np.issubdtype(y.dtype, np.integer) and (
            not np.issubdtype(y.dtype, np.floating) or not np.isfinite(y).all() or np.any(y != np.round(y))
        ):
            raise ValueError(f"y must hold integer class indices, got dtype {y.dtype}")
        if len(y) and (y.min() < 0 or y.max() >= k):
            raise ValueError(f"y has labels in [{int(y.min())}, {int(y.max())}]; expected 0 <= label < nb_classes = {k}")
        return y.astype(np.int64)

    # ------------------------------------------------------------------ setup, batches

    def setup(self) -> None:
        if self._ready:
            return
        if self._forward_module is not None:
            # train through the normalising wrapper; the user's module stays the estimator's model
            inner = self.module
            super().setup()
            self._forward_module.to(self.device)
            self.net = self.wrap(self._forward_module)
            from art_ext.core.device import maybe_compile

            assert self.policy is not None
            self.attack_net = maybe_compile(self._forward_module, self.policy)
            assert inner is self.module
        else:
            super().setup()
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
        mode = contextlib.nullcontext() if self.attack_train_mode else self.eval_mode()
        with mode, self.autocast():
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
        """Clean accuracy and robust accuracy under PGD-``eval_max_iter`` with ``eval_restarts``
        random restarts (fixed seed, so epochs are comparable), on at most ``eval_max_samples``."""
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
                with torch.no_grad(), self.autocast():
                    clean += (self.attack_net(x).argmax(1) == y).sum()
                if self.eval_max_iter > 0:
                    x_adv = self.attack(x, y, eps_step=self.eval_eps_step, max_iter=self.eval_max_iter,
                                        restarts=self.eval_restarts, generator=generator)
                else:
                    x_adv = x
                with torch.no_grad(), self.autocast():
                    robust += (self.attack_net(x_adv).argmax(1) == y).sum()
                total += len(y)
        for t in (clean, robust, total):
            self.all_reduce_sum(t)
        n = total.clamp_min(1)
        return {"clean_acc": float(clean / n), "robust_acc": float(robust / n)}

