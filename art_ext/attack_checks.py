"""The contract every image attack art-ext hands out keeps, and the wrapper that gives it to ART's.

Parameters: ``eps`` (where the attack has one) passes :func:`art_ext.checks.check_eps` (positive,
finite, inside the input range) and ``eps_step`` must be positive, before ART's own checks, at
construction and in ``set_params``.

Input (:func:`check_attack_input`): ``x`` passes :func:`art_ext.checks.images` against the
estimator (float32/float64, shape, no NaN/inf, inside ``clip_values``); ``y`` passes
:func:`art_ext.checks.class_indices` (index or exactly one-hot labels, in range); a targeted
attack needs ``y``.

Output (:func:`constrain_output`): the same shape and dtype as ``x``, inside the ``eps``-ball of
the attack's norm (fixed-budget attacks) and inside ``clip_values``, without NaN (an example the
attack returns as NaN falls back to its clean input, with a warning: the attack failed on it);
the model's sub-modules are in the modes they were in before.

:func:`checked` makes a subclass of an ART attack class whose ``generate`` applies both; the
built-in ``standard`` plugin registers ART's attacks through it, so ``art_ext.get_attack("art.pgd",
...)`` is still a ``ProjectedGradientDescent`` (``isinstance`` holds, ``set_params`` works).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from art_ext import checks
from art_ext.core.device import restore_modes, snapshot_modes
from art_ext.core.perturb import clip as clip_to
from art_ext.core.perturb import constrain

logger = logging.getLogger(__name__)

__all__ = ["atomic_set_params", "check_attack_input", "checked", "checked_trainer", "constrain_output",
           "fixed_budget"]

_CHECKED: dict[type, type] = {}


def check_attack_input(attack: Any, x: Any, y: Any = None) -> tuple[np.ndarray, np.ndarray | None]:
    """``(x, y)`` checked for ``attack``'s estimator; ``y`` comes back as class indices (or ``None``)."""
    estimator = attack.estimator
    input_shape = tuple(int(d) for d in estimator.input_shape)
    x = checks.images(x, input_shape=input_shape, clip_values=getattr(estimator, "clip_values", None))
    labels = None
    if y is not None:
        labels = checks.class_indices(y, nb_classes=int(estimator.nb_classes), n=len(x))
    elif getattr(attack, "targeted", False):
        raise ValueError("y: a targeted attack needs the target classes (indices or one-hot)")
    return x, labels


def fixed_budget(attack: Any) -> tuple[float, str] | None:
    """``(eps, norm)`` of a fixed-budget attack (one with an ``eps`` parameter and an Lp norm)."""
    if "eps" not in (getattr(attack, "attack_params", None) or []) or not checks.is_real(getattr(attack, "eps", None)):
        return None
    try:
        return float(attack.eps), checks.parse_norm(getattr(attack, "norm", "inf"))
    except ValueError:
        return None


def constrain_output(attack: Any, x: np.ndarray, x_adv: Any, name: str = "attack") -> np.ndarray:
    """``x_adv`` in ``x``'s shape and dtype, inside the attack's ball and ``clip_values``, NaN-free."""
    import torch

    out = np.asarray(x_adv)
    if out.shape != x.shape:
        raise RuntimeError(f"{name} returned shape {out.shape} for inputs of shape {x.shape}")
    out = out.astype(x.dtype, copy=True)
    bad = ~np.isfinite(out).reshape(len(out), -1).all(axis=1)
    if bad.any():
        logger.warning("%s returned NaN/inf for %d of %d examples; those keep their clean input", name, int(bad.sum()), len(out))
        out[bad] = x[bad]
    estimator = attack.estimator
    bounds = checks.clip_bounds(getattr(estimator, "clip_values", None), x.shape[1:])
    clip = None if bounds is None else tuple(torch.from_numpy(np.asarray(b, dtype=x.dtype)) for b in bounds)
    budget = fixed_budget(attack)
    xt, advt = torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(out)
    if budget is not None:
        eps, norm = budget
        result = constrain(xt, advt, eps, norm, clip)
    elif clip is not None:
        result = clip_to(advt, clip)
    else:
        result = advt
    return result.numpy()


def atomic_set_params(attack: Any, apply: Callable[..., None], params: dict[str, Any]) -> None:
    """``apply(**params)`` (an attack's ``set_params``) all or nothing.

    ART's ``set_params`` assigns every value before ``_check_params`` raises, so a refused
    ``eps=5.0`` would stay set and the next ``generate`` would use it. Here the previous values come
    back whenever ``apply`` raises; every art-ext attack's ``set_params`` goes through this.
    """
    missing = object()
    previous = {name: getattr(attack, name, missing) for name in params}
    try:
        apply(**params)
    except Exception:
        for name, value in previous.items():
            if value is missing:
                attack.__dict__.pop(name, None)
            else:
                setattr(attack, name, value)
        raise


def _own_param_checks(cls: type, estimator: Any, values: dict[str, Any]) -> None:
    """art-ext's rules (a budget inside the input range, a positive step), before ART's own."""
    if "norm" in values:  # L1 too: ART implements it for some attacks, and checks that itself
        checks.parse_norm(values["norm"], allowed=("inf", "2", "1"))
    if "eps" in values and "eps" in (getattr(cls, "attack_params", None) or []):
        norm = values.get("norm", "inf")
        if checks.parse_norm(norm, allowed=("inf", "2", "1")) == "1":
            norm = "inf"  # art-ext bounds no L1 budget: ART checks it
        checks.check_eps(values["eps"], norm=norm, clip_values=getattr(estimator, "clip_values", None),
                         input_shape=tuple(estimator.input_shape))
    if "eps_step" in values and checks.is_real(values["eps_step"]):
        checks.positive(values["eps_step"], "eps_step")


def _named(subclass: type, cls: type) -> type:
    subclass.__name__ = cls.__name__
    subclass.__qualname__ = f"checked_{cls.__name__}"
    subclass.__module__ = __name__
    setattr(sys.modules[__name__], f"checked_{cls.__name__}", subclass)  # picklable by name
    _CHECKED[cls] = subclass
    return subclass


def checked(cls: type) -> type:
    """A subclass of the ART attack class ``cls`` whose ``generate`` keeps the contract above."""
    if cls in _CHECKED:
        return _CHECKED[cls]

    class Checked(cls):  # type: ignore[valid-type, misc]
        __doc__ = f"ART's {cls.__name__} with art-ext's input and output checks (see art_ext.attack_checks)."

        def __init__(self, estimator: Any, *args: Any, **kwargs: Any) -> None:
            _own_param_checks(cls, estimator, kwargs)  # ART's __init__ calls its class's _check_params directly
            super().__init__(estimator, *args, **kwargs)

        def _check_params(self) -> None:
            params = {name: getattr(self, name) for name in ("eps", "eps_step", "norm") if hasattr(self, name)}
            _own_param_checks(cls, self.estimator, params)
            super()._check_params()

        def set_params(self, **kwargs: Any) -> None:
            atomic_set_params(self, super().set_params, kwargs)

        def generate(self, x: np.ndarray, y: np.ndarray | None = None, **kwargs: Any) -> np.ndarray:
            x_checked, labels = check_attack_input(self, x, y)
            nb_classes = int(self.estimator.nb_classes)
            one_hot = None if labels is None else np.eye(nb_classes, dtype=np.float32)[labels]
            model = getattr(self.estimator, "model", None)
            modes = snapshot_modes(model) if model is not None and hasattr(model, "modules") else []
            try:  # ART's estimators switch the model to eval mode and leave it there
                x_adv = super().generate(np.asarray(x_checked, dtype=np.float32), y=one_hot, **kwargs)
            finally:
                restore_modes(modes)
            return constrain_output(self, x_checked, x_adv, name=cls.__name__)

    return _named(Checked, cls)


def checked_trainer(cls: type) -> type:
    """A subclass of the ART trainer class ``cls`` whose ``fit`` checks ``x`` and ``y`` first (the
    checks of :func:`check_attack_input`; labels reach ART one-hot, which every ART trainer takes)."""
    if cls in _CHECKED:
        return _CHECKED[cls]

    class Checked(cls):  # type: ignore[valid-type, misc]
        __doc__ = f"ART's {cls.__name__} with art-ext's input checks (see art_ext.attack_checks)."

        def fit(self, x: np.ndarray, y: np.ndarray, **kwargs: Any) -> Any:
            for name in ("nb_epochs", "batch_size"):  # ART would run range(0) or truncate 1.9 to 1
                if name in kwargs:
                    checks.integer(kwargs[name], name, minimum=1)
            estimator = self.get_classifier()
            x = checks.images(x, input_shape=tuple(estimator.input_shape), clip_values=estimator.clip_values)
            labels = checks.class_indices(y, nb_classes=int(estimator.nb_classes), n=len(x))
            one_hot = np.eye(int(estimator.nb_classes), dtype=np.float32)[labels]
            return super().fit(np.asarray(x, dtype=np.float32), one_hot, **kwargs)

    return _named(Checked, cls)
