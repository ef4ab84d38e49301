"""AdvGAN's two losses (Xiao et al., IJCAI 2018), shared by the attack and the GAN-based trainer."""

from __future__ import annotations

import torch

from art_ext.core.perturb import margin_loss

__all__ = ["adversarial_loss", "hinge_loss"]


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
