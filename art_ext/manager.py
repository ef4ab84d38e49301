"""The plugin manager: finds plugins through entry points and fills the registries.

``get_plugin_manager()`` returns a cached default built on first use (never at import time);
``create_plugin_manager()`` builds a fresh one (tests, embedding applications).

Plugins come from the entry-point group ``art_ext`` (built-ins and third parties alike). In a
source checkout without installed metadata the built-ins are still found by module name.
Set ``ART_EXT_BLOCK_PLUGINS="name1,name2"`` to skip plugins by name.

Isolation: a plugin that fails to import is skipped; a registration that clashes with an
earlier one (built-ins come first, then plugins in load order) or is invalid is rejected for
that plugin only; a hook that raises has what it registered in that call rolled back. Every
error is kept on the plugin's :class:`PluginInfo` (``art-ext plugins`` shows them all) and each
plugin with errors gets one :class:`PluginLoadWarning` per manager.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import logging
import os
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Literal

import pluggy

from art_ext import checks, hookspecs
from art_ext.registry import Register, Registry

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "art_ext"
BLOCK_ENV = "ART_EXT_BLOCK_PLUGINS"
THIS_DISTRIBUTION = "art-ext"
BUILTIN_PLUGINS: dict[str, str] = {
    "standard": "art_ext_plugins.standard",
    "trainers": "art_ext_plugins.trainers",
    "gan": "art_ext_plugins.gan",
    "text": "art_ext_plugins.text",
    "autoattack": "art_ext_plugins.autoattack",
}

Status = Literal["loaded", "partial", "failed", "blocked"]


class PluginLoadError(Exception):
    """A plugin could not be imported, validated or run; the message names the plugin."""


class PluginLoadWarning(UserWarning):
    """Emitted (once per plugin and manager) when a plugin failed to load or some of its
    registrations were rejected."""


@dataclass
class PluginInfo:
    """What ``art-ext plugins`` shows for one plugin.

    ``status``: ``loaded`` (no errors), ``partial`` (loaded, but some registrations or hooks
    were rejected), ``failed`` (nothing of it is usable) or ``blocked`` (``ART_EXT_BLOCK_PLUGINS``).
    """

    name: str
    module: str
    distribution: str
    version: str
    status: Status = "loaded"
    load_error: str | None = None
    hook_errors: dict[str, list[str]] = field(default_factory=dict)
    hooks: list[str] = field(default_factory=list)
    attacks: list[str] = field(default_factory=list)
    trainers: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[str]:
        """Every error of the plugin: the import error, then each hook's, in order."""
        found = [self.load_error] if self.load_error else []
        for messages in self.hook_errors.values():
            found.extend(messages)
        return found

    @property
    def error(self) -> str | None:
        """All errors on one line (``None`` when there are none)."""
        return "; ".join(self.errors) or None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (``art-ext plugins --json``)."""
        return {
            "name": self.name, "module": self.module, "distribution": self.distribution,
            "version": self.version, "status": self.status, "errors": self.errors,
            "hooks": self.hooks, "attacks": self.attacks, "trainers": self.trainers,
        }

    def refresh_status(self) -> None:
        if self.status == "blocked":
            return
        if self.load_error:
            self.status = "failed"
        elif any(self.hook_errors.values()):
            self.status = "partial" if (self.attacks or self.trainers) else "failed"
        else:
            self.status = "loaded"


def blocked_plugin_names() -> set[str]:
    """Plugin names listed in ``ART_EXT_BLOCK_PLUGINS`` (comma or space separated)."""
    raw = os.environ.get(BLOCK_ENV, "")
    return {name.strip() for name in raw.replace(" ", ",").split(",") if name.strip()}


def _this_version() -> str:
    try:
        return importlib.metadata.version(THIS_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return "source checkout"


class ArtExtPluginManager(pluggy.PluginManager):
    """A pluggy manager that isolates failing plugins and owns the registries."""

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT_NAME)
        self.add_hookspecs(hookspecs)
        self.infos: dict[str, PluginInfo] = {}
        self._warned: set[str] = set()
        self._attacks: Registry | None = None
        self._trainers: Registry | None = None

    # -- loading -----------------------------------------------------------------------------

    def load_entrypoints(self, group: str = ENTRY_POINT_GROUP) -> int:
        """Load every plugin of the entry-point group; return how many loaded."""
        loaded = 0
        points = list(importlib.metadata.entry_points(group=group))
        # art-ext's own plugins first: they win a name clash with a third party
        points.sort(key=lambda ep: getattr(getattr(ep, "dist", None), "name", "") != THIS_DISTRIBUTION)
        for entry_point in points:
            dist = getattr(entry_point, "dist", None)
            loaded += self._load(
                entry_point.name,
                entry_point.value,
                entry_point.load,
                distribution=dist.name if dist else "unknown",
                version=dist.version if dist else "unknown",
            )
        return loaded

    def load_builtins(self) -> int:
        """Fallback for a source checkout: load built-ins the entry points did not provide."""
        loaded = 0
        for name, module in BUILTIN_PLUGINS.items():
            if name in self.infos:
                continue
            loaded += self._load(
                name,
                module,
                lambda module=module: importlib.import_module(module),  # type: ignore[misc]
                distribution=THIS_DISTRIBUTION,
                version=_this_version(),
            )
        return loaded

    def _load(
        self,
        name: str,
        module: str,
        importer: Callable[[], Any],
        *,
        distribution: str,
        version: str,
    ) -> int:
        if name in self.infos:
            self._warn(
                f"art-ext plugin {name!r} from {distribution} {version} skipped: a plugin of that name "
                f"is already loaded from {self.infos[name].distribution}"
            )
            return 0
        info = PluginInfo(name, module, distribution, version)
        self.infos[name] = info
        if name in blocked_plugin_names():
            info.status = "blocked"
            self.set_blocked(name)
            logger.info("plugin %r blocked by %s", name, BLOCK_ENV)
            return 0
        try:
            with plugin_output():
                plugin = importer()
            self.add_plugin(plugin, name)
        except Exception as error:  # a broken plugin must not take the others down
            info.load_error = f"{type(error).__name__}: {_first_line(error)}"
            info.refresh_status()
            self._report(info, f"failed and was skipped: {info.load_error}")
            return 0
        return 1

    def add_plugin(self, plugin: object, name: str) -> None:
        """Register ``plugin`` and reject hook implementations that match no spec."""
        self.register(plugin, name)
        unknown = [
            caller.name
            for caller in self.get_hookcallers(plugin) or []
            if caller.spec is None
        ]
        if unknown:
            self._attacks = self._trainers = None
            pluggy.PluginManager.unregister(self, plugin)  # keeps its info: the error is shown
            raise PluginLoadError(f"plugin {name!r} implements unknown hooks: {', '.join(unknown)}")
        self.check_pending()
        info = self.infos.setdefault(
            name, PluginInfo(name, getattr(plugin, "__name__", repr(plugin)), "(registered directly)", "")
        )
        info.hooks = sorted(caller.name for caller in self.get_hookcallers(plugin) or [])

    def _report(self, info: PluginInfo, reason: str) -> None:
        """One warning per plugin and manager; later errors are only recorded (and logged)."""
        message = f"art-ext plugin {info.name!r} ({info.distribution} {info.version}) {reason}"
        if info.name in self._warned:
            logger.info(message)
            return
        self._warned.add(info.name)
        self._warn(message + "; `art-ext plugins` lists all its errors")

    @staticmethod
    def _warn(message: str) -> None:
        logger.info(message)
        warnings.warn(message, PluginLoadWarning, stacklevel=4)

    # -- registries --------------------------------------------------------------------------

    def register(self, plugin: object, name: str | None = None) -> str | None:
        self._attacks = self._trainers = None
        return super().register(plugin, name)

    def unregister(self, plugin: object | None = None, name: str | None = None) -> Any:
        self._attacks = self._trainers = None
        if name is None and plugin is not None:
            name = self.get_name(plugin)
        result = super().unregister(plugin, name)
        info = self.infos.get(name) if name is not None else None
        if info is not None and not info.load_error and info.status != "blocked":
            del self.infos[info.name]
        return result

    @property
    def attacks(self) -> Registry:
        if self._attacks is None:
            self._attacks = self._collect("attack", "register_attacks")
        return self._attacks

    @property
    def trainers(self) -> Registry:
        if self._trainers is None:
            self._trainers = self._collect("trainer", "register_trainers")
        return self._trainers

    def _collect(self, kind: Literal["attack", "trainer"], hook_name: str) -> Registry:
        registry = Registry(kind)
        caller: pluggy.HookCaller = getattr(self.hook, hook_name)
        load_order = {name: index for index, name in enumerate(self.infos)}

        def order(impl: Any) -> tuple[int, int]:
            return (0 if self._is_builtin(impl.plugin_name) else 1, load_order.get(impl.plugin_name, len(load_order)))

        # One implementation at a time, built-ins first, so every failure is pinned on its plugin
        # and a name clash rejects the later plugin's registration only.
        for impl in sorted(caller.get_hookimpls(), key=order):
            plugin = impl.plugin_name
            info = self.infos.setdefault(plugin, PluginInfo(plugin, "?", "(registered directly)", ""))
            errors: list[str] = info.hook_errors.setdefault(hook_name, [])
            errors.clear()
            before = set(registry.by_plugin(plugin))
            register: Register = registry.bound(plugin, on_error=lambda e, errors=errors: errors.append(  # type: ignore[misc]
                f"{kind} registration rejected: {_first_line(e)}"))
            try:
                with plugin_output():
                    impl.function(register=register)
            except Exception as error:
                removed = registry.remove(sorted(set(registry.by_plugin(plugin)) - before))
                rolled = f"; rolled back its {kind}s {', '.join(removed)}" if removed else ""
                errors.append(f"{hook_name} raised {type(error).__name__}: {_first_line(error)}{rolled}")
            for message in errors:
                self._report(info, message)
        for name, info in self.infos.items():
            if info.status in ("loaded", "partial", "failed") and not info.load_error:
                setattr(info, f"{kind}s", registry.by_plugin(name))
                info.refresh_status()
        return registry

    def _is_builtin(self, name: str) -> bool:
        info = self.infos.get(name)
        return name in BUILTIN_PLUGINS and info is not None and info.distribution == THIS_DISTRIBUTION

    def plugin_infos(self) -> list[PluginInfo]:
        """Every plugin seen, loaded or not, with what it registered."""
        _ = self.attacks, self.trainers  # fills the per-plugin lists
        return [self.infos[name] for name in sorted(self.infos)]


_first_line = checks.first_line


def plugin_output() -> contextlib.AbstractContextManager[Any]:
    """Where a plugin's ``print()`` goes while art-ext runs its code: stderr, so that what
    art-ext writes to stdout (``art-ext plugins --json``, results) stays its own."""
    return contextlib.redirect_stdout(sys.stderr)


def create_plugin_manager(*, load: bool = True) -> ArtExtPluginManager:
    """A new manager; with ``load`` it loads the entry points, then the built-in fallback."""
    manager = ArtExtPluginManager()
    if load:
        manager.load_entrypoints()
        manager.load_builtins()
        manager.check_pending()
    return manager


_default_manager: ArtExtPluginManager | None = None


def get_plugin_manager() -> ArtExtPluginManager:
    """The process-wide manager, created and loaded on first call."""
    global _default_manager
    if _default_manager is None:
        _default_manager = create_plugin_manager()
    return _default_manager


def set_plugin_manager(manager: ArtExtPluginManager | None) -> ArtExtPluginManager | None:
    """Install ``manager`` as the default (``None`` resets); return the previous one."""
    global _default_manager
    previous, _default_manager = _default_manager, manager
    return previous


def plugin_module(name: str) -> ModuleType | None:
    """The loaded module of a plugin, if it is a module."""
    plugin = get_plugin_manager().get_plugin(name)
    return plugin if isinstance(plugin, ModuleType) else None
