"""Built-in plugin ``autoattack`` (import name ``art_ext_plugins.autoattack``): Croce & Hein's
AutoAttack members, torch-native, as ART evasion attacks.

Registers ``apgd`` (APGD-CE / APGD-DLR), ``apgd-t`` (targeted DLR, 9 targets), ``fab-t`` (targeted
FAB), ``square`` (Square Attack) and ``autoattack`` (a whole list, ``standard`` by default), each
on the classifier's device in float32 with art-ext's input and output checks. The algorithms live
in :mod:`art_ext.core` (``apgd``, ``fab``, ``square``), the lists in
:mod:`art_ext.evaluation.native`; ``art_ext.evaluation.evaluate`` runs the same code.
"""

from __future__ import annotations

import art_ext
from art_ext.registry import Register

_PKG = "art_ext_plugins.autoattack"


@art_ext.hookimpl
def register_attacks(register: Register) -> None:
    register("apgd", f"{_PKG}.apgd:APGD",
             description="APGD-CE / APGD-DLR, torch-native, step-size schedule with checkpoints (Croce & Hein 2020)")
    register("apgd-t", f"{_PKG}.apgd:APGDTargeted",
             description="APGD-T: APGD on the targeted DLR loss over the top-9 other classes (Croce & Hein 2020)")
    register("fab-t", f"{_PKG}.fab:FABTargeted",
             description="FAB-T: targeted fast adaptive boundary attack, minimal perturbation (Croce & Hein 2020)")
    register("square", f"{_PKG}.square:Square",
             description="Square Attack, score-based black-box random search, torch-native (Andriushchenko et al. 2020)")
    register("autoattack", f"{_PKG}.autoattack:AutoAttack",
             description="AutoAttack, Croce & Hein's standard list (APGD-CE, APGD-T, FAB-T, Square), torch-native")
