"""GAN-based adversarial training on the art-ext trainer core.

The generator / discriminator adversarial training of AdvGAN (Xiao et al., IJCAI 2018) turned
into a defence: each training step

1. updates the AdvGAN generator (and its discriminator) against the *current* classifier, with
   the AdvGAN loss ``L_GAN + alpha * L_adv + beta * L_hinge`` (the classifier is frozen for this
   update: only the generator's weights receive gradients);
2. updates the classifier on clean plus generated adversarial examples:
   ``(1 - adv_ratio) * CE(f(x), y) + adv_ratio * CE(f(x + G(x)), y)``.

Compared with PGD adversarial training, the inner maximisation is one generator forward pass
instead of ``max_iter`` gradient steps, so a step costs a few forward/backward passes; the price
is a weaker adversary (the classifier learns to resist *this* generator, which is not the same as
resisting PGD; ``benchmarks/advgan.py`` measures both).

Everything else comes from :class:`art_ext.core.AdversarialTrainer`: input and label checks,
device and precision policy, checkpoints with exact resume (the generator, discriminator and their
optimizers are registered with the core and checkpointed too), the tqdm bar, the metrics log and
per-epoch validation (clean accuracy, robust accuracy under PGD, and here also ``advgan_acc``,
the accuracy on the current generator's examples).

Args (defaults): ``eps=0.3``, ``norm="inf"``, ``alpha=10``, ``beta=1``, ``c=0.1``, ``kappa=0``
(the AdvGAN attack's MNIST defaults), ``adv_ratio=0.5``, ``g_steps=1`` (generator updates per
classifier update), ``gan_lr=1e-3``, ``generator`` / ``discriminator`` (default: the shape-adaptive
networks of :mod:`art_ext_plugins.gan.networks`), plus every ``AdversarialTrainer`` /
``CoreTrainer`` option (``nb_epochs``, ``batch_size``, ``device``, ``checkpoint_dir``, ``resume``,
``validation_split``, ``eval_max_iter``, ...).

Example::

    import art_ext
    trainer = art_ext.get_trainer("advgan", classifier, eps=0.3, nb_epochs=10)
    trainer.fit(x_train, y_train, validation_data=(x_val, y_val))
    attack = trainer.advgan_attack()     # the final generator as a fitted AdvGAN attack
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from art_ext_plugins.gan.advgan import AdvGAN, NotFittedError
from art_ext_plugins.gan.losses import discriminator_loss, generator_loss
from art_ext_plugins.gan.networks import AdvGANDiscriminator, AdvGANGenerator
from torch import Tensor, nn

from art_ext import checks
from art_ext.core import perturb
from art_ext.core.adversarial import AdversarialTrainer
from art_ext.core.batches import BatchSource
from art_ext.evaluation.robust import robust_mask

logger = logging.getLogger(__name__)

__all__ = ["AdvGANAdversarialTrainer", "advgan_trainer"]


class AdvGANAdversarialTrainer(AdversarialTrainer):
    """GAN-based adversarial training (see module docstring)."""

    def __init__(
        self,
        classifier: Any,
        *,
        eps: float = 0.3,
        norm: str | float = "inf",
        alpha: float = 10.0,
        beta: float = 1.0,
        c: float = 0.1,
        kappa: float = 0.0,
        adv_ratio: float = 0.5,
        g_steps: int = 1,
        gan_lr: float = 1e-3,
        generator: nn.Module | None = None,
        discriminator: nn.Module | None = None,
        **kwargs: Any,
    ) -> None:
        checks.channels_first(classifier, "the GAN-based trainer's generator")
        super().__init__(classifier, eps=eps, norm=norm, **kwargs)
        self.alpha, self.beta, self.c, self.kappa = alpha, beta, c, kappa
        self.adv_ratio = adv_ratio
        self.g_steps = g_steps
        self.gan_lr = gan_lr
        self._check_gan_params()
        if self.seed is not None:
            torch.manual_seed(self.seed)
        self._custom_generator = generator is not None
        self.generator = generator if generator is not None else AdvGANGenerator(self.input_shape)
        self.discriminator = discriminator if discriminator is not None else AdvGANDiscriminator(self.input_shape)
        device = next(iter(self.module.parameters())).device
        self.generator.to(device)
        self.discriminator.to(device)
        self._check_generator(device)
        self.register_module("generator", self.generator)
        self.register_module("discriminator", self.discriminator)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=gan_lr)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=gan_lr)
        self.register_optimizer("opt_g", self.opt_g)
        self.register_optimizer("opt_d", self.opt_d)

    def _check_gan_params(self) -> None:
        for name in ("alpha", "beta", "c", "kappa"):
            checks.non_negative(getattr(self, name), name)
        checks.positive(self.gan_lr, "gan_lr")
        checks.number(self.adv_ratio, "adv_ratio", low=0.0, high=1.0, low_inclusive=False)
        checks.integer(self.g_steps, "g_steps", minimum=1)

    def _check_generator(self, device: torch.device) -> None:
        x = torch.zeros(2, *self.input_shape, device=device)
        with torch.no_grad():
            out = self.generator(x)
        if not isinstance(out, Tensor) or tuple(out.shape) != tuple(x.shape):
            shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise ValueError(f"generator output shape {shape} does not match the input shape {tuple(x.shape)}")

    # ------------------------------------------------------------------ the step
    def perturb(self, x: Tensor) -> Tensor:
        """``x + G(x)``: inside the ``eps``-ball under ``norm`` and inside ``clip_values``."""
        with self.autocast():
            raw = self.generator(x)
        return perturb.constrain(x, x + raw.float() * float(self.eps), float(self.eps), self.norm, self._clip)

    def _backward_into(self, loss: Tensor, params: Sequence[Tensor]) -> None:
        if self.scaler is not None and self.scaler.is_enabled():
            self.scaler.scale(loss).backward(inputs=params)
        else:
            loss.backward(inputs=params)

    def train_step(self, batch: Any) -> dict[str, Tensor]:
        x, y = batch[0], batch[1]
        g_params = [p for p in self.generator.parameters() if p.requires_grad]
        # (1) generator and discriminator against the current (frozen) classifier
        with self.eval_mode():
            for _ in range(self.g_steps):
                x_adv = self.perturb(x)
                loss_d = discriminator_loss(self.discriminator, x, x_adv, self.autocast())
                self.opt_d.zero_grad(set_to_none=True)
                self._backward_into(loss_d, list(self.discriminator.parameters()))
                self.step(self.opt_d)
                loss_g = generator_loss(self.discriminator, self.attack_net, x, x_adv, y, targeted=False,
                                        kappa=self.kappa, c=self.c, alpha=self.alpha, beta=self.beta,
                                        autocast=self.autocast()).total
                self.opt_g.zero_grad(set_to_none=True)
                self._backward_into(loss_g, g_params)
                self.step(self.opt_g, params=g_params)
        # (2) the classifier on clean + generated adversarial examples
        with torch.no_grad(), self.eval_mode(self.generator):
            x_adv = self.perturb(x)
        with self.autocast():
            if self.dist.enabled:  # DDP expects one forward per backward: one pass over both halves
                logits_clean, logits_adv = self.net(torch.cat([x, x_adv])).float().chunk(2)
            else:  # separate passes: BatchNorm never mixes clean and adversarial statistics
                logits_clean, logits_adv = self.net(x).float(), self.net(x_adv).float()
        loss = (1 - self.adv_ratio) * F.cross_entropy(logits_clean, y) + self.adv_ratio * F.cross_entropy(logits_adv, y)
        self.optimizer_step(loss)
        return {
            "loss": loss.detach(),
            "clean_acc": (logits_clean.detach().argmax(1) == y).float().mean(),
            "gan_acc": (logits_adv.detach().argmax(1) == y).float().mean(),
            "loss_g": loss_g.detach(),
            "loss_d": loss_d.detach(),
        }

    def evaluate(self, source: BatchSource) -> dict[str, float]:
        """The core's clean and PGD robust accuracy, plus robust accuracy against the generator."""
        metrics = super().evaluate(source)
        correct = torch.zeros((), device=self.device)
        total = torch.zeros((), device=self.device)
        seen = 0
        with torch.no_grad(), self.eval_mode(), self.eval_mode(self.generator):
            for batch in self.iter_batches(source):
                x, y = batch[0], batch[1]
                if self.eval_max_samples is not None:
                    if seen >= self.eval_max_samples:
                        break
                    x, y = x[: self.eval_max_samples - seen], y[: self.eval_max_samples - seen]
                seen += len(y)
                clean_pred = self.attack_net(x.float()).argmax(1)
                correct += robust_mask(y, clean_pred, self.attack_net(self.perturb(x)).argmax(1)).sum()
                total += len(y)
        self.all_reduce_sum(correct)
        self.all_reduce_sum(total)
        metrics["advgan_acc"] = float(correct / total.clamp_min(1))
        return metrics

    def advgan_attack(self, **params: Any) -> AdvGAN:
        """The trained generator as a fitted :class:`AdvGAN` attack on this trainer's classifier.

        :raises NotFittedError: before ``fit`` has completed an epoch (the generator is untrained)."""
        if self.epoch < 1:
            raise NotFittedError("advgan_attack() called before fit(): the trainer's generator is untrained")
        params.setdefault("verbose", False)
        generator = self.generator
        attack = AdvGAN(self._classifier, eps=self.eps, norm=self.norm, generator=generator, **params)
        attack.generator.eval()
        attack.trained_eps = float(self.eps)
        attack.fitted = True
        return attack


def advgan_trainer(classifier: Any, **params: Any) -> AdvGANAdversarialTrainer:
    """Registry factory: ``art_ext.get_trainer("advgan", classifier, **params)``."""
    return AdvGANAdversarialTrainer(classifier, **params)
