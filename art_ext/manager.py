"""The plugin manager: finds plugins through entry points and fills the registries.

``get_plugin_manager()`` returns a cached default built on first use (never at import time);
``create_plugin_manager()`` builds a fresh one (tests, embedding applications).

Plugins come from the entry-point group ``art_ext`` (built-ins and third parties alike). In a
source checkout without installed metadata the built-ins are still found by module name.
Set ``ART_EXT_BLOCK_PLUGINS="name1,name2"`` to skip plugins by name.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Literal

import pluggy

from art_ext import hookspecs
from art_ext.registry import DuplicateNameError, Register, Registry

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "art_ext"
BLOCK_ENV = "ART_EXT_BLOCK_PLUGINS"
THIS_DISTRIBUTION = "art-ext"
BUILTIN_PLUGINS: dict[str, str] = {
    "standard": "art_ext_plugins.standard",
    "trainers": "art_ext_plugins.trainers",
    "gan": "art_ext_plugins.gan",
    "text": "art_ext_plugins.text",
}

Status = Literal["loaded", "failed", "blocked"]


class PluginLoadError(Exception):
    """A plugin could not be imported, validated or run; the message names the plugin."""


class PluginLoadWarning(UserWarning):
    """Emitted when a plugin is skipped because it failed to load."""


@dataclass
class PluginInfo:
    """What ``art-ext plugins`` shows for one plugin."""

    name: str
    module: str
    distribution: str
    version: str
    status: Status = "loaded"
    error: str | None = None
    hooks: list[str] = field(default_factory=list)
    attacks: list[str] = field(default_factory=list)
    trainers: list[str] = field(default_factory=list)


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
        self._attacks: Registry | None = None
        self._trainers: Registry | None = None

    # -- loading -----------------------------------------------------------------------------

    def load_entrypoints(self, group: str = ENTRY_POINT_GROUP) -> int:
        """Load every plugin of the entry-point group; return how many loaded."""
        loaded = 0
        for entry_point in importlib.metadata.entry_points(group=group):
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
            logger.warning(
                "plugin %r from %s %s skipped: a plugin of that name is already loaded from %s",
                name, distribution, version, self.infos[name].distribution,
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
            plugin = importer()
            self.add_plugin(plugin, name)
        except Exception as error:  # a broken plugin must not take the others down
            self._fail(info, f"{type(error).__name__}: {error}")
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
            self.unregister(plugin)
            raise PluginLoadError(f"plugin {name!r} implements unknown hooks: {', '.join(unknown)}")
        self.check_pending()
        info = self.infos.setdefault(
            name, PluginInfo(name, getattr(plugin, "__name__", repr(plugin)), "(registered directly)", "")
        )
        info.hooks = sorted(caller.name for caller in self.get_hookcallers(plugin) or [])

    def _fail(self, info: PluginInfo, reason: str) -> None:
        info.status = "failed"
        info.error = reason
        message = (
            f"art-ext plugin {info.name!r} (distribution {info.distribution} {info.version}) "
            f"failed and was skipped: {reason}"
        )
        logger.warning(message)
        warnings.warn(message, PluginLoadWarning, stacklevel=3)

    # -- registries --------------------------------------------------------------------------

    def register(self, plugin: object, name: str | None = None) -> str | None:
        self._attacks = self._trainers = None
        return super().register(plugin, name)

    def unregister(self, plugin: object | None = None, name: str | None = None) -> Any:
        self._attacks = self._trainers = None
        result = super().unregister(plugin, name)
        if name is not None and name in self.infos and self.infos[name].status == "loaded":
            del self.infos[name]
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
        # Call implementations one by one so a failure is pinned on its plugin.
        for impl in reversed(caller.get_hookimpls()):
            register: Register = registry.bound(impl.plugin_name)
            try:
                impl.function(register=register)
            except DuplicateNameError:
                raise
            except Exception as error:
                self._hook_failed(impl.plugin_name, hook_name, error)
        for name, info in self.infos.items():
            if info.status == "loaded":
                setattr(info, f"{kind}s", registry.by_plugin(name))
        return registry

    def _hook_failed(self, plugin_name: str, hook_name: str, error: Exception) -> None:
        info = self.infos.setdefault(plugin_name, PluginInfo(plugin_name, "?", "?", "?"))
        self._fail(info, f"{hook_name} raised {type(error).__name__}: {error}")

    def plugin_infos(self) -> list[PluginInfo]:
        """Every plugin seen, loaded or not, with what it registered."""
        _ = self.attacks, self.trainers  # fills the per-plugin lists
        return [self.infos[name] for name in sorted(self.infos)]


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
