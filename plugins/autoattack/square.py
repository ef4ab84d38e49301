"""Square Attack as an ART evasion attack, torch-native.

Paper: Maksym Andriushchenko, Francesco Croce, Nicolas Flammarion and Matthias Hein, "Square
Attack: a query-efficient black-box adversarial attack via random search", ECCV 2020
(arXiv:1912.00049). Distance: Linf (``norm="inf"``, default) or L2 (``norm=2``); black-box (scores
only); images ``(N, C, H, W)`` only.

Arguments (defaults are AutoAttack's):

* ``eps`` (0.3), ``norm`` (``"inf"``);
* ``max_queries`` (5000): queries per example and restart; ``nb_restarts`` (1), each on the examples
  still not fooled;
* ``p_init`` (0.8): initial share of the image a square covers (halved on the paper's schedule);
* ``batch_size`` (500), ``seed`` (0).

Example::

    attack = art_ext.get_attack("square", classifier, eps=0.3, max_queries=1000)
    x_adv = attack.generate(x_test, y_test)

The algorithm is :func:`art_ext.core.square.square`.
"""

from __future__ import annotations

from typing import Any

import torch
from art_ext_plugins.autoattack.base import NativeAttack
from torch import Tensor

from art_ext import checks
from art_ext.core.square import square

__all__ = ["Square"]


def _bounds_nchw(bound: Tensor) -> Tensor:
    """Bounds that broadcast against (H, W, C) images, made to broadcast against (C, H, W)."""
    if bound.dim() == 3:
        return bound.permute(2, 0, 1)
    if bound.dim() == 2:  # (W, C)
        return bound.t().unsqueeze(1)
    if bound.dim() == 1:  # (C,)
        return bound.view(-1, 1, 1)
    return bound


class Square(NativeAttack):
    """Square Attack (see the module docstring)."""

    #: score-based: it queries the model's outputs only (the benchmark's threat column and checks)
    threat_model = "black-box"
    attack_params = [*NativeAttack.attack_params, "max_queries", "nb_restarts", "p_init"]

    def __init__(self, estimator: Any, *, eps: float = 0.3, norm: Any = "inf", max_queries: int = 5000,
                 nb_restarts: int = 1, p_init: float = 0.8, batch_size: int = 500, seed: int = 0) -> None:
        self.max_queries = max_queries
        self.nb_restarts = nb_restarts
        self.p_init = p_init
        super().__init__(estimator, eps=eps, norm=norm, batch_size=batch_size, seed=seed)
        self._check_params()

    def _check_params(self) -> None:
        super()._check_params()
        if len(tuple(self.estimator.input_shape)) != 3:
            raise ValueError(f"square needs image inputs (C, H, W), the estimator's input_shape is "
                             f"{tuple(self.estimator.input_shape)}")
        checks.integer(self.max_queries, "max_queries", minimum=1)
        checks.integer(self.nb_restarts, "nb_restarts", minimum=1)
        checks.number(self.p_init, "p_init", low=0.0, high=1.0, low_inclusive=False)

    def _attack_batch(self, model: Any, x: Tensor, y: Tensor, clip_values: Any,
                      generator: torch.Generator) -> Tensor:
        if getattr(self.estimator, "channels_first", True) is False:
            # the squares are spatial: search in (N, C, H, W), query the model in its own layout
            def nhwc(images: Tensor) -> Tensor:
                return images.permute(0, 2, 3, 1)

            clip = None if clip_values is None else tuple(_bounds_nchw(b) for b in clip_values)
            found = self._search(lambda images: model(nhwc(images)), x.permute(0, 3, 1, 2), y, clip, generator)
            return nhwc(found)
        return self._search(model, x, y, clip_values, generator)

    def _search(self, model: Any, x: Tensor, y: Tensor, clip_values: Any, generator: torch.Generator) -> Tensor:
        def restart(index: Tensor) -> tuple[Tensor, Tensor]:
            return square(model, x[index], y[index], eps=float(self.eps), norm=self.norm, queries=self.max_queries,
                          p_init=float(self.p_init), clip_values=clip_values, generator=generator)

        return self.until_fooled(x, (restart for _ in range(self.nb_restarts)))
