"""Built-in plugin `trainers`: PGD-AT, TRADES, Free-AT, FBF, N-FGSM and GradAlign on the art-ext core.

Hookimpls only; the trainer modules are imported lazily through "module:attr" targets.
"""

from __future__ import annotations

import art_ext
from art_ext.registry import Register

_PKG = "art_ext_plugins.trainers"
_CLI = "art_ext.cli.train:run_train"


@art_ext.hookimpl
def register_attacks(register: Register) -> None:
    pass


@art_ext.hookimpl
def register_trainers(register: Register) -> None:
    register("pgd", f"{_PKG}.pgd:pgd_trainer", cli=_CLI,
             description="PGD adversarial training (Madry et al. 2018), torch-native core")
    register("trades", f"{_PKG}.trades:trades_trainer", cli=_CLI,
             description="TRADES (Zhang et al. 2019) with the paper's KL inner maximisation, beta")
    register("free", f"{_PKG}.free:free_trainer", cli=_CLI,
             description="Free adversarial training (Shafahi et al. 2019), minibatch replays")
    register("fbf", f"{_PKG}.fbf:fbf_trainer", cli=_CLI,
             description="Fast is better than free (Wong et al. 2020): FGSM, random init, step 1.25 eps, collapse guard")
    register("nfgsm", f"{_PKG}.nfgsm:nfgsm_trainer", cli=_CLI,
             description="N-FGSM (de Jorge et al. 2022): noise 2 eps, step eps, no projection, collapse guard")
    register("gradalign", f"{_PKG}.gradalign:gradalign_trainer", cli=_CLI,
             description="FGSM + GradAlign (Andriushchenko & Flammarion 2020): gradient-alignment regulariser")
