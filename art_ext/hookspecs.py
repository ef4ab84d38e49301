"""The hooks an art-ext plugin may implement.

A plugin is a module (or any object) with functions decorated by :data:`art_ext.hookimpl`.
It is found through the entry-point group ``art_ext``. Each hook receives a ``register``
callback bound to the plugin, so the registry knows who registered what::

    import art_ext

    @art_ext.hookimpl
    def register_attacks(register):
        register("my-attack", "my_pkg.attack:MyAttack", description="...")

A target may be a class or factory, or a ``"module:attribute"`` string that is imported only
when the attack or trainer is first used, which keeps plugin import cheap.

Isolation (:mod:`art_ext.manager`): a rejected registration (a name another plugin registered
first, built-ins first; an invalid name, target or modality) is recorded against the plugin and
the hook goes on; a hook that raises has what it registered in that call rolled back. Both show in
``art-ext plugins`` and as one warning per plugin. ``cli="module:runner"`` gives the name its own
``art-ext attack``/``train`` runner (contract: :mod:`art_ext.cli.runners`, ``docs/cli.md``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from art_ext.registry import Register

PROJECT_NAME = "art_ext"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def register_attacks(register: Register) -> None:
    """Register evasion attacks.

    Call ``register(name, target, *, description, modality, cli)`` once per attack.
    ``target(estimator, **params)`` must return an ``art.attacks.EvasionAttack``. ``art-ext bench``
    reads its ``eps`` (in ``attack_params``: a fixed-budget attack) and ``norm`` (absent: Linf).

    :param register: callback that adds one attack to the attack registry.
    """


@hookspec
def register_trainers(register: Register) -> None:
    """Register adversarial trainers.

    Call ``register(name, target, *, description, modality, cli)`` once per trainer.
    ``target(estimator, **params)`` must return an ``art.defences.trainer.Trainer``.

    :param register: callback that adds one trainer to the trainer registry.
    """
