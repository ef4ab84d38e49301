"""art-ext: GAN attacks, text attacks and a fast adversarial trainer for ART and Foolbox.

Everything reaches users through pluggy plugins (entry-point group ``art_ext``) and comes
out as ordinary ART objects::

    import art_ext
    attack = art_ext.get_attack("advgan", classifier, eps=0.3)
    trainer = art_ext.get_trainer("pgd", classifier, eps=0.3)
    fb_attack = art_ext.to_foolbox(attack)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from art_ext.hookspecs import hookimpl
from art_ext.manager import (
    PluginInfo,
    PluginLoadError,
    PluginLoadWarning,
    create_plugin_manager,
    get_plugin_manager,
)
from art_ext.registry import (
    DuplicateNameError,
    UnknownAttackError,
    UnknownNameError,
    UnknownTrainerError,
)

if TYPE_CHECKING:
    from art.attacks import EvasionAttack
    from art.defences.trainer import Trainer

    from art_ext.foolbox import ArtAttackAsFoolbox

__version__ = "0.1.0"

__all__ = [
    "DuplicateNameError",
    "PluginInfo",
    "PluginLoadError",
    "PluginLoadWarning",
    "UnknownAttackError",
    "UnknownNameError",
    "UnknownTrainerError",
    "__version__",
    "create_plugin_manager",
    "get_attack",
    "get_plugin_manager",
    "get_trainer",
    "hookimpl",
    "list_attacks",
    "list_plugins",
    "list_trainers",
    "to_foolbox",
]


def get_attack(name: str, estimator: Any, **params: Any) -> EvasionAttack:
    """Build the registered attack ``name`` on an ART ``estimator``.

    :raises UnknownAttackError: (a ``KeyError``) listing the registered names.
    :raises TypeError: if the plugin's factory does not return an ``EvasionAttack``.
    """
    from art.attacks import EvasionAttack

    entry = get_plugin_manager().attacks[name]
    factory = entry.load()
    _check_estimator(estimator, f"attack {name!r}")
    attack = factory(estimator, **params)
    if not isinstance(attack, EvasionAttack):
        raise TypeError(
            f"attack {name!r} from plugin {entry.plugin!r} returned {type(attack).__name__}, "
            "not an art.attacks.EvasionAttack"
        )
    return attack


def get_trainer(name: str, estimator: Any, **params: Any) -> Trainer:
    """Build the registered trainer ``name`` around an ART ``estimator``.

    :raises UnknownTrainerError: (a ``KeyError``) listing the registered names.
    :raises TypeError: if the plugin's factory does not return an ART ``Trainer``.
    """
    from art.defences.trainer import Trainer

    entry = get_plugin_manager().trainers[name]
    factory = entry.load()
    _check_estimator(estimator, f"trainer {name!r}")
    trainer = factory(estimator, **params)
    if not isinstance(trainer, Trainer):
        raise TypeError(
            f"trainer {name!r} from plugin {entry.plugin!r} returned {type(trainer).__name__}, "
            "not an art.defences.trainer.Trainer"
        )
    return trainer


def _check_estimator(estimator: Any, what: str) -> None:
    from art.estimators.estimator import BaseEstimator

    if not isinstance(estimator, BaseEstimator):
        raise TypeError(f"estimator: {what} needs an ART estimator (e.g. a PyTorchClassifier), "
                        f"got {type(estimator).__name__}")


def list_plugins() -> list[PluginInfo]:
    """Every plugin found: name, distribution, version, status, hooks, what it registered."""
    return get_plugin_manager().plugin_infos()


def list_attacks() -> list[str]:
    """Names of the registered attacks."""
    return get_plugin_manager().attacks.names()


def list_trainers() -> list[str]:
    """Names of the registered trainers."""
    return get_plugin_manager().trainers.names()


def to_foolbox(attack: EvasionAttack) -> ArtAttackAsFoolbox:
    """Wrap an ART evasion attack as a Foolbox ``FixedEpsilonAttack``."""
    from art_ext.foolbox import ArtAttackAsFoolbox

    return ArtAttackAsFoolbox(attack)
