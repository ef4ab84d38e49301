"""AutoAttack's lists run torch-native, on the model's device, in float32.

The ``standard`` list is Croce & Hein's (ICML 2020; RobustBench's protocol), member by member:

* ``apgd-ce``: APGD on cross-entropy, 100 iterations, 1 restart;
* ``apgd-t``: APGD on the targeted DLR loss, 100 iterations, the 9 classes the clean model ranks
  highest after the true one as targets, one after the other;
* ``fab-t``: targeted FAB, 100 iterations, the same 9 targets;
* ``square``: Square Attack, 5,000 queries, 1 restart.

As in AutoAttack, each member attacks only the examples every earlier member failed on (an example
one member breaks stays broken), and an example the model gets wrong clean is never attacked. The
targeted members take one target after the other, each on the examples still robust, batched over
examples. Running every (example, target) pair in one batch was measured slower on a CPU (APGD-T on
100 MNIST images: 31 s against 15 s): it attacks the later targets of examples an earlier target
already broke, and a CPU is busy computing, not waiting on small batches. Every
member's output is projected onto the ``eps``-ball and into ``clip_values`` and re-classified here,
so an example counts as broken only by a point inside the threat model.

``fast`` is a named reduced list (APGD-CE, APGD-DLR, Square with 1,000 queries): cheaper, weaker,
never called AutoAttack in a table. The attacks themselves are :mod:`art_ext.core.apgd`,
:mod:`art_ext.core.fab` and :mod:`art_ext.core.square`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor
from tqdm.auto import tqdm

from art_ext.core.apgd import apgd
from art_ext.core.fab import fab_targeted
from art_ext.core.perturb import ClipValues, constrain
from art_ext.core.square import square

__all__ = ["MEMBERS", "NATIVE_LISTS", "Member", "ranked_targets", "run_native_list"]

Model = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class Member:
    """One attack of a list: how it is called and what a table says about it."""

    kind: str  #: "apgd", "fab" or "square"
    description: str
    params: dict[str, Any] = field(default_factory=dict)
    targets: int = 0  #: targeted members: how many target classes (ranked by the clean logits)


#: every member a native list may hold, with Croce & Hein's budgets
MEMBERS: dict[str, Member] = {
    "apgd-ce": Member("apgd", "APGD-CE (100 iterations)", {"loss": "ce", "steps": 100}),
    "apgd-dlr": Member("apgd", "APGD-DLR (100 iterations)", {"loss": "dlr", "steps": 100}),
    "apgd-t": Member("apgd", "APGD-T (targeted DLR, 100 iterations, 9 targets)",
                     {"loss": "dlr-targeted", "steps": 100}, targets=9),
    "fab-t": Member("fab", "FAB-T (100 iterations, 9 targets)", {"steps": 100}, targets=9),
    "square": Member("square", "Square (5,000 queries)", {"queries": 5000}),
    "square-1000": Member("square", "Square (1,000 queries)", {"queries": 1000}),
}

#: the named native lists, in the order their members run
NATIVE_LISTS: dict[str, tuple[str, ...]] = {
    "standard": ("apgd-ce", "apgd-t", "fab-t", "square"),
    "fast": ("apgd-ce", "apgd-dlr", "square-1000"),
}


def ranked_targets(model: Model, x: Tensor, rank: int) -> Tensor:
    """The class the model ranks ``rank``-th (2 = runner-up) on the clean inputs."""
    with torch.no_grad():
        return model(x).float().argsort(dim=1, descending=True)[:, rank - 1]


def _run_member(member: Member, model: Model, x: Tensor, y: Tensor, *, eps: float, norm: str,
                clip_values: ClipValues, generator: torch.Generator, target: Tensor | None) -> Tensor:
    if member.kind == "apgd":
        x_adv, _ = apgd(model, x, y, eps=eps, norm=norm, clip_values=clip_values, generator=generator,
                        target=target, **member.params)
    elif member.kind == "fab":
        assert target is not None
        x_adv, _ = fab_targeted(model, x, y, target, eps=eps, norm=norm, clip_values=clip_values, **member.params)
    else:
        x_adv, _ = square(model, x, y, eps=eps, norm=norm, clip_values=clip_values, generator=generator,
                          **member.params)
    return x_adv


def run_native_list(
    model: Model, x: Tensor, y: Tensor, clean: Tensor, *, eps: float, norm: str, version: str,
    clip_values: ClipValues, nb_classes: int, batch_size: int, seed: int, progress: bool = False,
) -> tuple[Tensor, Tensor, dict[str, Any]]:
    """``(robust, x_adv, details)``: the per-example robust mask under the list ``version``, the
    point that broke each broken example (the clean input elsewhere) and, per member, how many
    examples it broke and its seconds.

    ``model`` is in eval mode and returns float32 logits; ``clean`` is the clean-correct mask.
    """
    robust = clean.clone()
    adversarial = x.detach().clone()
    generator = torch.Generator(device=x.device).manual_seed(seed)
    broken_by: dict[str, int] = {}
    seconds: dict[str, float] = {}
    bar = tqdm(NATIVE_LISTS[version], desc=f"AutoAttack {version}", disable=None if progress else True, leave=False)
    for name in bar:
        bar.set_postfix_str(f"{name}, {int(robust.sum())} robust")
        member = MEMBERS[name]
        start = time.perf_counter()
        ranks = range(2, min(member.targets, nb_classes - 1) + 2) if member.targets else [None]
        broken = 0
        for rank in ranks:
            remaining = robust.nonzero().squeeze(1)
            if len(remaining) == 0:  # torch splits an empty index into one empty chunk
                break
            for chunk in remaining.split(batch_size):
                x_b, y_b = x[chunk], y[chunk]
                target = None if rank is None else ranked_targets(model, x_b, rank)
                x_adv = _run_member(member, model, x_b, y_b, eps=eps, norm=norm, clip_values=clip_values,
                                    generator=generator, target=target)
                x_adv = constrain(x_b, x_adv, eps, norm, clip_values)  # only points inside the threat model count
                with torch.no_grad():
                    held = model(x_adv).float().argmax(1) == y_b
                robust[chunk] = held
                adversarial[chunk] = torch.where(held.view(-1, *([1] * (x.dim() - 1))), x_b, x_adv)
                broken += int((~held).sum())
        broken_by[name] = broken
        seconds[name] = time.perf_counter() - start
    return robust, adversarial, {"broken_by": broken_by, "seconds": seconds}
