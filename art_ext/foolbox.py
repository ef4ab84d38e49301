"""The bridge from ART-style evasion attacks to Foolbox.

``ArtAttackAsFoolbox(attack)`` is a Foolbox ``FixedEpsilonAttack``: call it as any Foolbox attack,
``raw, clipped, success = fb_attack(fmodel, images, criterion, epsilons=[...])``.

Semantics, chosen to match what Foolbox users expect:

* For each epsilon the wrapped attack's ``eps`` is set to it; if the attack has an ``eps_step``,
  the step is scaled by the same factor, so the ratio step/eps the user chose is kept.
* ``Misclassification(labels)`` runs the attack untargeted with ``labels``;
  ``TargetedMisclassification(target_classes)`` sets ``targeted=True`` and passes the targets
  (an attack without a ``targeted`` parameter raises ``ValueError``).
* The ART attack computes gradients through its own estimator; Foolbox judges success with the
  ``fmodel`` it is given. Wrap the same network in both.
* Inputs outside the model's bounds raise ``ValueError`` here, before Foolbox's bare assertion.
"""

from __future__ import annotations

import logging
from typing import Any

import eagerpy as ep
import numpy as np
from foolbox.attacks.base import FixedEpsilonAttack, get_criterion
from foolbox.criteria import Misclassification, TargetedMisclassification
from foolbox.distances import Distance, l1, l2, linf
from foolbox.models import Model

from art_ext import checks

logger = logging.getLogger(__name__)


def _distance_for(norm: Any) -> Distance:
    """Foolbox's distance for an ART norm (spellings as :func:`art_ext.checks.parse_norm` reads them)."""
    key = checks.parse_norm(norm, name="attack norm", allowed=("inf", "2", "1"))
    return {"inf": linf, "2": l2, "1": l1}[key]


def check_bounds(inputs: Any, bounds: tuple[float, float], name: str = "inputs") -> None:
    """Raise ``ValueError`` naming ``name`` if any value lies outside ``bounds``."""
    values = ep.astensor(inputs)
    low, high = float(values.min().item()), float(values.max().item())
    if low < bounds[0] or high > bounds[1]:
        raise ValueError(
            f"{name} span [{low:.4g}, {high:.4g}], outside the model's bounds {tuple(bounds)}"
        )


class ArtAttackAsFoolbox(FixedEpsilonAttack):
    """Foolbox ``FixedEpsilonAttack`` running an ART ``EvasionAttack``.

    :param attack: the ART evasion attack (it keeps its own estimator).
    :param eps_param: name of the attack's budget parameter (``eps`` for ART's attacks).
    """

    def __init__(self, attack: Any, eps_param: str = "eps") -> None:
        if not hasattr(attack, "generate") or not hasattr(attack, "set_params"):
            raise TypeError(f"attack must be an ART EvasionAttack, got {type(attack).__name__}")
        if not hasattr(attack, eps_param):
            raise ValueError(f"eps_param {eps_param!r} is not a parameter of {type(attack).__name__}")
        self.attack = attack
        self.eps_param = eps_param
        self._distance = _distance_for(getattr(attack, "norm", np.inf))

    @property
    def distance(self) -> Distance:
        return self._distance

    def __repr__(self) -> str:
        return f"{type(self).__name__}({type(self.attack).__name__})"

    def __call__(self, model: Model, inputs: Any, criterion: Any, **kwargs: Any) -> Any:  # type: ignore[override,misc]
        check_bounds(inputs, model.bounds)
        self._criterion(criterion)
        return super().__call__(model, inputs, criterion, **kwargs)

    def run(self, model: Model, inputs: Any, criterion: Any, *, epsilon: float, **kwargs: Any) -> Any:
        x, restore_type = ep.astensor_(inputs)
        labels, targeted = self._labels(self._criterion(criterion), len(x))
        overrides = self._overrides(float(epsilon), targeted)
        saved = {name: getattr(self.attack, name) for name in overrides}
        try:  # set_params is all or nothing; whatever happens, the attack ends as it was handed over
            self.attack.set_params(**overrides)
            nb_classes = int(self.attack.estimator.nb_classes)
            one_hot = np.eye(nb_classes, dtype=np.float32)[labels]
            adversarial = self.attack.generate(x.numpy().astype(np.float32), y=one_hot)
        finally:
            for name, value in saved.items():  # no checks: these values were the attack's own
                setattr(self.attack, name, value)
        return restore_type(ep.from_numpy(x, adversarial.astype(x.numpy().dtype)))

    @staticmethod
    def _criterion(criterion: Any) -> Any:
        try:
            return get_criterion(criterion)
        except ValueError:
            raise TypeError(
                "criterion must be a label tensor, Misclassification or TargetedMisclassification, "
                f"got {type(criterion).__name__}"
            ) from None

    def _labels(self, criterion: Any, n: int) -> tuple[np.ndarray, bool]:
        """Class indices through the shared label check (:func:`art_ext.checks.class_indices`)."""
        nb_classes = int(self.attack.estimator.nb_classes)
        if isinstance(criterion, TargetedMisclassification):
            raw, name, targeted = criterion.target_classes, "target_classes", True
        elif isinstance(criterion, Misclassification):
            raw, name, targeted = criterion.labels, "labels", False
        else:
            raw = None
        if raw is not None:
            return checks.class_indices(ep.astensor(raw).numpy(), nb_classes=nb_classes, n=n, name=name), targeted
        raise TypeError(
            f"criterion must be Misclassification or TargetedMisclassification, got {type(criterion).__name__}"
        )

    def _overrides(self, epsilon: float, targeted: bool) -> dict[str, Any]:
        if epsilon <= 0:
            raise ValueError(f"epsilons must be positive, got {epsilon}")
        overrides: dict[str, Any] = {self.eps_param: epsilon}
        current_eps = float(getattr(self.attack, self.eps_param))
        step = getattr(self.attack, "eps_step", None)
        if isinstance(step, (int, float, np.floating)) and current_eps > 0:
            overrides["eps_step"] = float(step) * epsilon / current_eps
        if hasattr(self.attack, "targeted"):
            overrides["targeted"] = targeted
        elif targeted:
            raise ValueError(
                f"{type(self.attack).__name__} has no 'targeted' parameter; use Misclassification"
            )
        return overrides
