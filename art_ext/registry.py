"""Typed registries of attacks and trainers, filled by the plugins' hooks.

:meth:`Registry.add` validates one registration and rejects a duplicate name (naming both
plugins). The plugin manager hands each hook a callback from :meth:`Registry.bound` with
``on_error`` set, so a rejected registration is recorded against its plugin instead of
aborting the hook, and :meth:`Registry.remove` rolls back what a hook registered when it raises.
"""

from __future__ import annotations

import importlib
import logging
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from art_ext.checks import first_line

logger = logging.getLogger(__name__)

Kind = Literal["attack", "trainer"]
Modality = Literal["image", "text"]
MODALITIES: tuple[str, ...] = ("image", "text")
#: what a registered name may look like: it is printed in listings and typed on command lines, so no
#: spaces, control characters or terminal escapes
NAME_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]{0,63}")


class RegistryError(Exception):
    """Base class of the registry's errors."""


class DuplicateNameError(RegistryError, ValueError):
    """A name is registered twice; the message names both plugins."""


class UnknownNameError(RegistryError, KeyError):
    """Lookup of a name nobody registered; the message lists the known names."""

    def __str__(self) -> str:
        # KeyError quotes its argument; the message reads better unquoted.
        return str(self.args[0]) if self.args else ""


class TargetLoadError(RegistryError, ImportError):
    """A registered target (``module:attribute``) cannot be imported; the message names the
    entry and its plugin."""


class UnknownAttackError(UnknownNameError):
    """No attack of that name is registered."""


class UnknownTrainerError(UnknownNameError):
    """No trainer of that name is registered."""


def printable(text: str) -> str:
    """``text`` with control characters and terminal escapes shown as escapes (``\\n``, ``\\x1b``):
    what a plugin supplies can never forge lines or colours in art-ext's listings."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def load_target(target: str | Callable[..., Any]) -> Callable[..., Any]:
    """Resolve ``"module:attribute"`` to the object, or return a callable unchanged."""
    if callable(target):
        return target
    module_name, _, attribute = target.partition(":")
    module = importlib.import_module(module_name)
    obj: Any = module
    for part in attribute.split("."):
        obj = getattr(obj, part)
    if not callable(obj):
        raise TypeError(f"{target!r} is not callable")
    return obj  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Entry:
    """One registered attack or trainer."""

    name: str
    kind: Kind
    target: str | Callable[..., Any]
    plugin: str
    description: str = ""
    modality: Modality = "image"
    cli: str | Callable[..., Any] | None = None

    def load(self) -> Callable[..., Any]:
        """The class or factory, imported on first use.

        :raises TargetLoadError: naming this entry and its plugin when the target cannot be imported."""
        return self._resolve(self.target, "target")

    def load_cli(self) -> Callable[..., Any] | None:
        """The entry's own CLI runner, if it has one."""
        return None if self.cli is None else self._resolve(self.cli, "cli runner")

    def _resolve(self, target: str | Callable[..., Any], what: str) -> Callable[..., Any]:
        try:
            return load_target(target)
        except (ImportError, AttributeError, TypeError) as error:
            raise TargetLoadError(
                f"{self.kind} {self.name!r} of plugin {self.plugin!r}: cannot load its {what} {target!r} "
                f"({type(error).__name__}: {first_line(error)})"
            ) from error


class Register(Protocol):
    """The callback a hook receives; bound to the registering plugin."""

    def __call__(
        self,
        name: str,
        target: str | Callable[..., Any],
        *,
        description: str = "",
        modality: Modality = "image",
        cli: str | Callable[..., Any] | None = None,
    ) -> Entry: ...


@dataclass
class Registry:
    """Name -> :class:`Entry` for one kind (attacks or trainers).

    ``add`` validates and rejects duplicates; ``registry[name]`` raises a ``KeyError``
    subclass that lists the known names.
    """

    kind: Kind
    _entries: dict[str, Entry] = field(default_factory=dict)

    def add(
        self,
        name: str,
        target: str | Callable[..., Any],
        *,
        plugin: str,
        description: str = "",
        modality: Modality = "image",
        cli: str | Callable[..., Any] | None = None,
    ) -> Entry:
        if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
            raise ValueError(
                f"plugin {plugin!r}: {self.kind} name must be 1-64 letters, digits and . _ + - (starting with a "
                f"letter, digit or _), got {name!r}"
            )
        if not isinstance(description, str):
            raise TypeError(f"plugin {plugin!r}: {self.kind} {name!r} description must be a string, got {description!r}")
        if not (callable(target) or (isinstance(target, str) and ":" in target)):
            raise TypeError(
                f"plugin {plugin!r}: {self.kind} {name!r} target must be a callable or a "
                f"'module:attribute' string, got {target!r}"
            )
        if modality not in MODALITIES:
            raise ValueError(f"plugin {plugin!r}: {self.kind} {name!r} modality must be one of {MODALITIES}, got {modality!r}")
        if name in self._entries:
            first = self._entries[name].plugin
            raise DuplicateNameError(
                f"{self.kind} {name!r} is registered by both plugin {first!r} and plugin {plugin!r}"
            )
        entry = Entry(name, self.kind, target, plugin, printable(description), modality, cli)
        self._entries[name] = entry
        logger.debug("plugin %s registered %s %s", plugin, self.kind, name)
        return entry

    def bound(self, plugin: str, on_error: Callable[[Exception], None] | None = None) -> Register:
        """A ``register`` callback that records ``plugin`` as the registrant.

        :param on_error: called with the error of a rejected registration (duplicate name, bad
            name, target or modality) instead of raising it; the callback then returns the
            rejected entry, which is not stored. ``None``: the error is raised.
        """

        def register(
            name: str,
            target: str | Callable[..., Any],
            *,
            description: str = "",
            modality: Modality = "image",
            cli: str | Callable[..., Any] | None = None,
        ) -> Entry:
            try:
                return self.add(
                    name, target, plugin=plugin, description=description, modality=modality, cli=cli
                )
            except (RegistryError, ValueError, TypeError) as error:
                if on_error is None:
                    raise
                on_error(error)
                return Entry(str(name), self.kind, target, plugin, description, modality, cli)

        return register

    def remove(self, names: Iterable[str]) -> list[str]:
        """Remove the entries ``names`` (rolling back a hook); returns the names removed."""
        removed = [name for name in names if self._entries.pop(name, None) is not None]
        if removed:
            logger.debug("%s registry: removed %s", self.kind, ", ".join(removed))
        return removed

    def __getitem__(self, name: str) -> Entry:
        try:
            return self._entries[name]
        except KeyError:
            error = UnknownAttackError if self.kind == "attack" else UnknownTrainerError
            known = ", ".join(sorted(self._entries)) or "(none)"
            raise error(f"unknown {self.kind} {name!r}; available: {known}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def names(self) -> list[str]:
        return sorted(self._entries)

    def entries(self) -> list[Entry]:
        return [self._entries[name] for name in sorted(self._entries)]

    def by_plugin(self, plugin: str) -> list[str]:
        return sorted(name for name, entry in self._entries.items() if entry.plugin == plugin)
