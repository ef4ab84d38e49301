"""Built-in plugin `gan`: AdvGAN attack and GAN-based adversarial trainer (hookimpls only;
targets are imported lazily on first use)."""

from __future__ import annotations

import art_ext
from art_ext.registry import Register


@art_ext.hookimpl
def register_attacks(register: Register) -> None:
    register(
        "advgan",
        "art_ext_plugins.gan.advgan:AdvGAN",
        description="AdvGAN: generator-based attack, semi-whitebox or black-box distillation (Xiao et al. 2018)",
    )


@art_ext.hookimpl
def register_trainers(register: Register) -> None:
    register(
        "advgan",
        "art_ext_plugins.gan.trainer:advgan_trainer",
        cli="art_ext.cli.train:run_train",
        description="GAN-based adversarial training: AdvGAN generator vs classifier, on the core",
    )
