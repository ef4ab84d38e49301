"""AdvGAN's losses (Xiao et al., IJCAI 2018), shared by the attack and the GAN-based trainer.

The two differ only in how they step their optimizers (the attack directly, the trainer through
the core's GradScaler and DDP rules); what D and G minimise is defined once, here.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from art_ext.core.perturb import margin_loss

__all__ = ["GeneratorLoss", "adversarial_loss", "discriminator_loss", "generator_loss", "hinge_loss"]


def adversarial_loss(logits: torch.Tensor, labels: torch.Tensor, targeted: bool, kappa: float) -> torch.Tensor:
    """AdvGAN's L_adv per example, the C&W margin clamped at ``-kappa``: untargeted
    ``max(Z_y - max_{i!=y} Z_i, -kappa)``, targeted ``max(max_{i!=t} Z_i - Z_t, -kappa)``.

    The margin is :func:`art_ext.core.perturb.margin_loss` (``max_{j != y} Z_j - Z_y``, positive
    when misclassified), negated for the untargeted loss that G minimises."""
    margin = margin_loss(logits, labels)
    return (margin if targeted else -margin).clamp_min(-kappa)


def hinge_loss(x_adv: torch.Tensor, x: torch.Tensor, c: float) -> torch.Tensor:
    """AdvGAN's L_hinge per example: ``max(0, ||x_adv - x||_2 - c)``."""
    return ((x_adv - x).float().flatten(1).norm(p=2, dim=1) - c).clamp_min(0)


def discriminator_loss(discriminator: nn.Module, x: torch.Tensor, x_adv: torch.Tensor,
                       autocast: AbstractContextManager[Any]) -> torch.Tensor:
    """The least-squares GAN loss of D: real examples towards 1, generated ones towards 0
    (``x_adv`` is detached: this loss trains D only)."""
    with autocast:
        real, fake = discriminator(x).float(), discriminator(x_adv.detach()).float()
    return (real - 1).pow(2).mean() + fake.pow(2).mean()


@dataclass(frozen=True)
class GeneratorLoss:
    """G's objective ``total = gan + alpha * adv + beta * hinge`` and its parts (batch means)."""

    total: torch.Tensor
    gan: torch.Tensor
    adv: torch.Tensor
    hinge: torch.Tensor
    logits: torch.Tensor  #: the attacked model's logits on ``x_adv``


def generator_loss(discriminator: nn.Module, classify: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                   x_adv: torch.Tensor, goal: torch.Tensor, *, targeted: bool, kappa: float, c: float, alpha: float,
                   beta: float, autocast: AbstractContextManager[Any]) -> GeneratorLoss:
    """AdvGAN's generator objective (Xiao et al. 2018, eq. 4): fool D (least squares), move the
    attacked model ``classify`` away from ``goal`` (or to it, ``targeted``) and keep
    ``||x_adv - x||_2`` under ``c``. The attack and the GAN-based trainer both minimise this."""
    with autocast:
        gan = (discriminator(x_adv).float() - 1).pow(2).mean()
        logits = classify(x_adv).float()
    adv = adversarial_loss(logits, goal, targeted, kappa).mean()
    hinge = hinge_loss(x_adv, x, c).mean()
    return GeneratorLoss(gan + alpha * adv + beta * hinge, gan, adv, hinge, logits)
