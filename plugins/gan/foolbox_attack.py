"""AdvGAN as a native Foolbox attack.

Paper: Xiao et al., "Generating Adversarial Examples with Adversarial Networks", IJCAI 2018.
Distance: ``LinfDistance`` or ``L2Distance``, following the trained generator's ``norm``.

:class:`AdvGANAttack` is a ``foolbox.attacks.FixedEpsilonAttack`` around a *trained*
:class:`~art_ext_plugins.gan.advgan.AdvGAN`: each call is one forward pass of the generator.

Epsilons: a generator is trained for one bound, ``advgan.eps``. For ``epsilon <= advgan.eps`` the
generator's perturbation is projected onto the ``epsilon`` ball (clamped for L_inf, rescaled for
L2), which is what Foolbox would do to it anyway. For ``epsilon > advgan.eps`` the perturbation
stays within ``advgan.eps``: the attack is honestly *not* stronger at a larger epsilon than the
generator it was trained as, so success rates for such epsilons are those at ``advgan.eps``
(a warning is logged once per attack). Train a generator per epsilon to compare epsilons.

Criteria: ``Misclassification`` needs an untargeted generator, ``TargetedMisclassification``
a targeted one; a mismatch is a ``ValueError``.

Example::

    import foolbox as fb
    fmodel = fb.PyTorchModel(model.eval(), bounds=(0, 1))
    attack = AdvGANAttack(advgan)                    # advgan fitted with AdvGAN.fit
    raw, clipped, success = attack(fmodel, images, labels, epsilons=0.3)
"""

from __future__ import annotations

import logging
import math
from typing import Any

import eagerpy as ep
import torch
from art_ext_plugins.gan.advgan import AdvGAN, NotFittedError
from foolbox.attacks.base import FixedEpsilonAttack, T, get_criterion, raise_if_kwargs
from foolbox.criteria import Misclassification, TargetedMisclassification
from foolbox.distances import l2, linf
from foolbox.models import Model

logger = logging.getLogger(__name__)

__all__ = ["AdvGANAttack"]


class AdvGANAttack(FixedEpsilonAttack):
    """Foolbox ``FixedEpsilonAttack`` that runs a trained AdvGAN generator.

    :param advgan: a fitted (or loaded) :class:`AdvGAN`.
    """

    def __init__(self, advgan: AdvGAN) -> None:
        if not isinstance(advgan, AdvGAN):
            raise TypeError(f"advgan must be an AdvGAN attack, got {type(advgan).__name__}")
        if not advgan.fitted:
            raise NotFittedError("advgan: the generator is not trained; call fit() or AdvGAN.load() first")
        self.advgan = advgan
        self._warned = False

    @property
    def distance(self) -> Any:
        return linf if math.isinf(self.advgan.norm_value) else l2

    def run(self, model: Model, inputs: T, criterion: Any, *, epsilon: float, **kwargs: Any) -> T:
        raise_if_kwargs(kwargs)
        x, restore_type = ep.astensor_(inputs)
        criterion_ = get_criterion(criterion)
        if not isinstance(x, ep.PyTorchTensor):
            raise TypeError(f"inputs: AdvGAN's generator is a PyTorch module; got a {type(x).__name__}")
        if epsilon is None or not epsilon > 0:
            raise ValueError(f"epsilon must be positive, got {epsilon!r}")
        if epsilon > self.advgan.eps and not self._warned:
            logger.warning(
                "epsilon=%g is above the generator's trained eps=%g: perturbations stay within %g",
                epsilon, self.advgan.eps, self.advgan.eps,
            )
            self._warned = True

        targets: torch.Tensor | None = None
        if isinstance(criterion_, TargetedMisclassification):
            if not self.advgan.targeted:
                raise ValueError("criterion: TargetedMisclassification needs an AdvGAN trained with targeted=True")
            targets = criterion_.target_classes.raw
        elif isinstance(criterion_, Misclassification):
            if self.advgan.targeted:
                raise ValueError("criterion: this AdvGAN is targeted; use TargetedMisclassification(target_classes)")
        else:
            raise ValueError(f"criterion: {type(criterion_).__name__} is not supported (Misclassification or TargetedMisclassification)")

        raw = x.raw
        device = self.advgan.device
        low, high = model.bounds
        bounds = (torch.tensor(float(low), device=device), torch.tensor(float(high), device=device))
        self.advgan.generator.eval()
        with torch.no_grad():
            x_adv = self.advgan.perturb(
                raw.to(device),
                None if targets is None else targets.to(device).long(),
                eps=epsilon,
                bounds=bounds,
            )
        return restore_type(ep.astensor(x_adv.to(raw.device, raw.dtype)))
