"""What the native AutoAttack attacks share: ART's ``EvasionAttack`` surface around a torch-native
attack function, with art-ext's input and output checks.

Inputs go through :func:`art_ext.attack_checks.check_attack_input` (shape, dtype, range, labels);
outputs through :func:`art_ext.attack_checks.constrain_output` (inside the ball and ``clip_values``).
The attack runs in float32 on the classifier's device, in eval mode, and every sub-module's mode
is restored afterwards. Without ``y`` the classifier's predictions are the labels (ART's rule).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch
from art.attacks.attack import EvasionAttack
from art.estimators.classification.classifier import ClassifierMixin
from art.estimators.estimator import BaseEstimator, LossGradientsMixin
from torch import Tensor

from art_ext import checks
from art_ext.attack_checks import atomic_set_params, check_attack_input, constrain_output
from art_ext.core.device import eval_mode
from art_ext.evaluation.attacks import Float32, eval_module

logger = logging.getLogger(__name__)

__all__ = ["NativeAttack"]


class NativeAttack(EvasionAttack):
    """Base of the native attacks: subclasses set ``attack_params`` and implement :meth:`_attack_batch`."""

    attack_params = [*EvasionAttack.attack_params, "eps", "norm", "targeted", "batch_size", "seed"]
    _estimator_requirements = (BaseEstimator, LossGradientsMixin, ClassifierMixin)

    def __init__(self, estimator: Any, *, eps: float = 0.3, norm: Any = "inf", batch_size: int = 500,
                 seed: int = 0) -> None:
        super().__init__(estimator=estimator)
        self._targeted = False
        self.eps = eps
        self.norm = norm
        self.batch_size = batch_size
        self.seed = seed
        NativeAttack._check_params(self)

    def set_params(self, **kwargs: Any) -> None:
        atomic_set_params(self, super().set_params, kwargs)

    def _check_params(self) -> None:
        estimator = self.estimator
        self.norm = checks.parse_norm(self.norm)
        checks.check_eps(self.eps, norm=self.norm, clip_values=getattr(estimator, "clip_values", None),
                         input_shape=tuple(estimator.input_shape))
        checks.integer(self.batch_size, "batch_size", minimum=1)
        checks.seed(self.seed)
        if self.targeted:
            raise ValueError("targeted: the native AutoAttack members are untargeted (APGD-T and FAB-T choose "
                             "their target classes themselves); use targeted=False")

    def _attack_batch(self, model: Any, x: Tensor, y: Tensor, clip_values: Any,
                      generator: torch.Generator) -> Tensor:
        raise NotImplementedError

    @staticmethod
    def until_fooled(x: Tensor, runs: Iterable[Callable[[Tensor], tuple[Tensor, Tensor]]]) -> Tensor:
        """Restarts or targets one after the other, each ``run(index) -> (x_adv, fooled)`` on the
        examples no earlier run fooled; a fooled example keeps the point that fooled it."""
        best = x.clone()
        open_ = torch.ones(len(x), dtype=torch.bool, device=x.device)
        for run in runs:
            index = open_.nonzero().squeeze(1)
            if len(index) == 0:
                break
            x_adv, fooled = run(index)
            best[index] = torch.where(fooled.view(-1, *([1] * (x.dim() - 1))), x_adv, best[index])
            open_[index] = ~fooled
        return best

    def generate(self, x: np.ndarray, y: np.ndarray | None = None, **kwargs: Any) -> np.ndarray:
        """Adversarial examples for ``x`` (labels ``y``: indices or one-hot; default: predictions)."""
        if kwargs:
            raise TypeError(f"generate() got unexpected keyword arguments {sorted(kwargs)}")
        x, labels = check_attack_input(self, x, y)
        estimator = self.estimator
        out = np.empty_like(x, dtype=np.float32)
        with eval_module(estimator) as (module, device, _), eval_mode(estimator.model):
            forward = Float32(module)
            bounds = checks.clip_bounds(getattr(estimator, "clip_values", None), tuple(estimator.input_shape))
            clip = None if bounds is None else tuple(torch.as_tensor(b, dtype=torch.float32, device=device)
                                                     for b in bounds)
            generator = torch.Generator(device=device).manual_seed(int(self.seed))
            for start in range(0, len(x), self.batch_size):
                part = slice(start, start + self.batch_size)
                xb = torch.as_tensor(np.asarray(x[part], dtype=np.float32), device=device)
                if labels is None:
                    with torch.no_grad():
                        yb = forward(xb).argmax(1)
                else:
                    yb = torch.as_tensor(labels[part], device=device).long()
                out[part] = self._attack_batch(forward, xb, yb, clip, generator).detach().cpu().numpy()
        return constrain_output(self, np.asarray(x), out.astype(x.dtype), type(self).__name__)
