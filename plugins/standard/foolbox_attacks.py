"""Foolbox's attacks as ART ``EvasionAttack``s, so that the registry, ``art-ext plugins``,
``art-ext attack`` and ``art-ext bench`` see them like ART's (``foolbox.*`` names).

:class:`FoolboxEvasion` runs a Foolbox attack on a ``foolbox.PyTorchModel`` of the estimator's
own network (ART's mean/std preprocessing included, eval mode, bounds from ``clip_values``) and
keeps art-ext's attack contract (:mod:`art_ext.attack_checks`): inputs checked before Foolbox
sees them, outputs in the input's dtype, inside the budget and ``clip_values``.

Fixed-budget attacks (``LinfPGD``, ``L2PGD``) have ``eps`` (passed as Foolbox's ``epsilons``);
minimal-perturbation attacks (``L2CarliniWagnerAttack``, ``LinfDeepFoolAttack``) have none and
return their unbounded adversarial examples. Labels: ``y`` (indices or one-hot), else the
model's predictions (ART's convention); ``targeted=True`` uses Foolbox's
``TargetedMisclassification`` with ``y`` as the targets.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
from art.attacks import EvasionAttack
from art.estimators.classification import ClassifierMixin
from art.estimators.estimator import BaseEstimator, LossGradientsMixin

from art_ext import checks
from art_ext.attack_checks import atomic_set_params, check_attack_input, constrain_output
from art_ext.core.device import eval_mode, model_device
from art_ext.core.forward import classifier_forward

logger = logging.getLogger(__name__)

__all__ = ["FoolboxEvasion", "cw_l2", "l2_pgd", "linf_deepfool", "linf_pgd"]


class FoolboxEvasion(EvasionAttack):
    """Base class: subclasses set :attr:`foolbox_class`, :attr:`norm`, :attr:`fixed` and
    :attr:`foolbox_params` (the Foolbox constructor's keywords with their defaults)."""

    foolbox_class: ClassVar[str] = ""
    foolbox_params: ClassVar[dict[str, Any]] = {}
    fixed: ClassVar[bool] = True
    can_target: ClassVar[bool] = True
    norm: Any = "inf"  # the subclass's norm (fixed per class)
    #: read by ``art-ext bench`` (gradient access is what Foolbox's attacks use)
    threat_model = "white-box"
    _estimator_requirements = (BaseEstimator, LossGradientsMixin, ClassifierMixin)

    def __init__(self, estimator: Any, *, eps: float | None = None, norm: Any = None, targeted: bool = False,
                 batch_size: int = 128, verbose: bool = False, **params: Any) -> None:
        super().__init__(estimator=estimator)
        unknown = sorted(set(params) - set(self.foolbox_params))
        if unknown:
            raise TypeError(
                f"{type(self).__name__}: unknown parameter(s) {', '.join(unknown)}; "
                f"it takes {', '.join(self.attack_params)}"
            )
        model = getattr(estimator, "model", None)
        import torch

        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"estimator: Foolbox attacks need an ART PyTorchClassifier, got {type(estimator).__name__}")
        if getattr(estimator, "clip_values", None) is None:
            raise ValueError("estimator: Foolbox attacks need clip_values (Foolbox's model bounds)")
        fixed_norm = type(self).norm
        if norm is not None and checks.parse_norm(norm) != fixed_norm:
            raise ValueError(f"norm: {type(self).__name__} is an {_label(fixed_norm)} attack, got norm={norm!r}")
        self.norm = fixed_norm
        if self.fixed:
            self.eps = 0.3 if eps is None else eps
        elif eps is not None:
            raise TypeError(f"{type(self).__name__} is a minimal-perturbation attack: it has no eps")
        self._targeted = targeted
        self.batch_size = batch_size
        self.verbose = verbose
        for key, default in self.foolbox_params.items():
            setattr(self, key, params.get(key, default))
        self._check_params()

    @property
    def targeted(self) -> bool:
        return self._targeted

    @targeted.setter
    def targeted(self, value: bool) -> None:
        self._targeted = value

    def set_params(self, **kwargs: Any) -> None:
        """ART's ``set_params``, all or nothing (:func:`art_ext.attack_checks.atomic_set_params`)."""
        atomic_set_params(self, super().set_params, kwargs)

    def _check_params(self) -> None:
        if self.fixed:
            self.eps = checks.check_eps(self.eps, norm=self.norm, clip_values=self.estimator.clip_values,
                                        input_shape=tuple(self.estimator.input_shape))
        checks.integer(self.batch_size, "batch_size", minimum=1)
        checks.boolean(self._targeted, "targeted")
        for key in self.foolbox_params:
            value = getattr(self, key)
            if value is not None or key not in _OPTIONAL:
                _FOOLBOX_RULES[key](value, key)
        if self._targeted and not self.can_target:
            raise ValueError(f"targeted: {type(self).__name__} is untargeted only (Foolbox's DeepFool)")

    def foolbox_attack(self) -> Any:
        """The Foolbox attack object with this attack's parameters."""
        import foolbox as fb

        return getattr(fb.attacks, self.foolbox_class)(**{k: getattr(self, k) for k in self.foolbox_params})

    def generate(self, x: np.ndarray, y: np.ndarray | None = None, **kwargs: Any) -> np.ndarray:
        import foolbox as fb
        import torch

        x_checked, labels = check_attack_input(self, x, y)
        estimator = self.estimator
        if labels is None:
            labels = np.argmax(estimator.predict(np.asarray(x_checked, dtype=np.float32), batch_size=self.batch_size), axis=1)
        bounds = checks.clip_bounds(estimator.clip_values, x_checked.shape[1:])
        assert bounds is not None
        low, high = float(np.min(bounds[0])), float(np.max(bounds[1]))
        module = classifier_forward(estimator)
        device = model_device(estimator.model)
        attack = self.foolbox_attack()
        epsilons = float(self.eps) if self.fixed else None
        out = np.empty_like(x_checked, dtype=np.float32)
        with eval_mode(estimator.model):
            fmodel = fb.PyTorchModel(module, bounds=(low, high), device=device)
            for start in range(0, len(x_checked), self.batch_size):
                part = slice(start, start + self.batch_size)
                inputs = torch.as_tensor(np.asarray(x_checked[part], dtype=np.float32), device=device)
                targets = torch.as_tensor(labels[part], device=device)
                criterion = (fb.criteria.TargetedMisclassification(targets) if self.targeted
                             else fb.criteria.Misclassification(targets))
                _, clipped, _ = attack(fmodel, inputs, criterion, epsilons=epsilons)
                out[part] = clipped.detach().cpu().numpy()
        return constrain_output(self, x_checked, out, name=f"Foolbox {self.foolbox_class}")


#: the rule of each Foolbox constructor parameter art-ext exposes (Foolbox itself checks none of
#: them: a negative rel_stepsize turns PGD into descent, steps=-5 returns the inputs unattacked)
_FOOLBOX_RULES: dict[str, Callable[[Any, str], Any]] = {
    "rel_stepsize": checks.positive, "abs_stepsize": checks.positive, "stepsize": checks.positive,
    "initial_const": checks.positive, "confidence": checks.non_negative, "overshoot": checks.non_negative,
    "steps": lambda v, n: checks.integer(v, n, minimum=1),
    "binary_search_steps": lambda v, n: checks.integer(v, n, minimum=1),
    "candidates": lambda v, n: checks.integer(v, n, minimum=2),
    "random_start": checks.boolean, "abort_early": checks.boolean,
    "loss": lambda v, n: checks.choice(v, n, ("logits", "crossentropy")),
}
#: parameters Foolbox lets be None (abs_stepsize: use rel_stepsize; candidates: all classes)
_OPTIONAL = ("abs_stepsize", "candidates")


def _label(norm: str) -> str:
    return {"inf": "Linf", "2": "L2"}.get(norm, norm)


def _subclass(name: str, foolbox_class: str, norm: str, fixed: bool, params: dict[str, Any],
              can_target: bool = True) -> type[FoolboxEvasion]:
    own = ["eps"] if fixed else []
    attrs: dict[str, Any] = {
        "foolbox_class": foolbox_class, "foolbox_params": params, "fixed": fixed, "norm": norm,
        "can_target": can_target,
        "attack_params": [*EvasionAttack.attack_params, *own, "norm", "targeted", "batch_size", "verbose", *params],
        "__module__": __name__,
        "__doc__": f"Foolbox ``{foolbox_class}`` ({_label(norm)}, "
                   f"{'fixed budget eps' if fixed else 'minimal perturbation'}) as an ART EvasionAttack.",
    }
    return type(name, (FoolboxEvasion,), attrs)


FoolboxLinfPGD = _subclass("FoolboxLinfPGD", "LinfPGD", "inf", True,
                           {"rel_stepsize": 0.01 / 0.3, "abs_stepsize": None, "steps": 40, "random_start": True})
FoolboxL2PGD = _subclass("FoolboxL2PGD", "L2PGD", "2", True,
                         {"rel_stepsize": 0.025, "abs_stepsize": None, "steps": 50, "random_start": True})
FoolboxL2CarliniWagner = _subclass("FoolboxL2CarliniWagner", "L2CarliniWagnerAttack", "2", False,
                                   {"binary_search_steps": 9, "steps": 10000, "stepsize": 0.01, "confidence": 0.0,
                                    "initial_const": 0.001, "abort_early": True})
FoolboxLinfDeepFool = _subclass("FoolboxLinfDeepFool", "LinfDeepFoolAttack", "inf", False,
                                {"steps": 50, "candidates": 10, "overshoot": 0.02, "loss": "logits"},
                                can_target=False)


def linf_pgd(estimator: Any, **params: Any) -> FoolboxEvasion:
    """Foolbox ``LinfPGD`` (Madry et al. 2018), Foolbox's defaults (40 steps, step eps/30)."""
    return FoolboxLinfPGD(estimator, **params)


def l2_pgd(estimator: Any, **params: Any) -> FoolboxEvasion:
    """Foolbox ``L2PGD``, Foolbox's defaults (50 steps, step eps/40)."""
    return FoolboxL2PGD(estimator, **params)


def cw_l2(estimator: Any, **params: Any) -> FoolboxEvasion:
    """Foolbox ``L2CarliniWagnerAttack`` (Carlini & Wagner 2017), minimal L2, Foolbox's defaults."""
    return FoolboxL2CarliniWagner(estimator, **params)


def linf_deepfool(estimator: Any, **params: Any) -> FoolboxEvasion:
    """Foolbox ``LinfDeepFoolAttack`` (Moosavi-Dezfooli et al. 2016), minimal Linf, untargeted."""
    return FoolboxLinfDeepFool(estimator, **params)
