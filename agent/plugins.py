"""The plugin manager: built-ins from one tuple, then entry points, validated at start-up."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any

import pluggy

from agent import __version__, hookspecs
from agent.errors import PluginError
from agent.registry import Registry

# Built-in plugins are ordinary modules; this tuple is the whole list.
DEFAULT_PLUGINS: tuple[str, ...] = (
    "plugins.detectors",
    "plugins.extractors",
    "connectors.sql",
    "connectors.manual",
    "connectors.files",
    "connectors.s3",
    "connectors.recordings",
)

ENTRY_POINT_GROUP = "dsr_agent"
LIFECYCLE_EVENTS: tuple[str, ...] = ("request_status_changed", "before_erasure", "after_erasure")


@dataclass
class PluginInfo:
    name: str
    version: str
    builtin: bool
    hooks: list[str] = field(default_factory=list)
    registered: dict[str, list[str]] = field(default_factory=dict)


def _names_from_env(var: str) -> set[str] | None:
    raw = os.environ.get(var)
    if raw is None:
        return None
    return {n.strip() for n in raw.split(",") if n.strip()}


class PluginManager:
    """A typed facade over pluggy plus the registry of what plugins supplied."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.registry = Registry()
        self.versions: dict[str, tuple[str, bool]] = {}

    # -------------------------------------------------------------- loading
    def load(self, *, builtins: tuple[str, ...] = DEFAULT_PLUGINS,
             use_entry_points: bool = True) -> PluginManager:
        disabled = _names_from_env("DSR_DISABLE_PLUGINS") or set()
        only = _names_from_env("DSR_LOAD_PLUGINS")
        for module_name in builtins:
            if module_name in disabled:
                continue
            self._add(module_name, lambda m=module_name: importlib.import_module(m),
                      __version__, builtin=True)
        if use_entry_points:
            for ep in entry_points(group=ENTRY_POINT_GROUP):
                if ep.name in disabled or (only is not None and ep.name not in only):
                    continue
                version = ep.dist.version if ep.dist else "unknown"
                self._add(ep.name, ep.load, version, builtin=False)
        self._check_pending()
        self._collect_registrations()
        return self

    def add_module(self, name: str, module: ModuleType | object, version: str = "test") -> None:
        """Register an in-process plugin (tests, embedding)."""
        self._add(name, lambda: module, version, builtin=False)

    def _add(self, name: str, loader: Callable[[], Any], version: str, *, builtin: bool) -> None:
        try:
            plugin = loader()
        except Exception as exc:
            raise PluginError(
                f"plugin {name!r} failed to import: {type(exc).__name__}: {exc}. "
                f"Start without it with DSR_DISABLE_PLUGINS={name}") from exc
        try:
            self.pm.register(plugin, name=name)
        except (pluggy.PluginValidationError, ValueError) as exc:
            raise PluginError(f"plugin {name!r} is invalid: {_one_line(exc)}. "
                              f"Start without it with DSR_DISABLE_PLUGINS={name}") from exc
        self.versions[name] = (version, builtin)

    def _check_pending(self) -> None:
        # A hook implementation whose name matches no hookspec is a misspelling.
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            name = self.pm.get_name(exc.plugin) or repr(exc.plugin)
            raise PluginError(
                f"plugin {name!r}: {_one_line(exc)} (misspelled hook?). "
                f"Start without it with DSR_DISABLE_PLUGINS={name}") from exc

    def _collect_registrations(self) -> None:
        for kind in ("connectors", "extractors", "detectors", "exporters"):
            caller = getattr(self.pm.hook, f"register_{kind}")
            for impl in caller.get_hookimpls():
                register = self.registry.register_callback(kind, impl.plugin_name)
                hint = f"Start without it with DSR_DISABLE_PLUGINS={impl.plugin_name}"
                try:
                    impl.function(register=register)
                except PluginError as exc:
                    raise PluginError(f"{exc}. {hint}") from exc
                except Exception as exc:
                    raise PluginError(
                        f"plugin {impl.plugin_name!r} failed in register_{kind}: "
                        f"{type(exc).__name__}: {exc}. {hint}") from exc

    def add_commands(self, cli: Any) -> None:
        """Run every ``register_commands`` hook on the root group, one plugin at a time.

        Unlike ``pm.hook.register_commands(cli=cli)``, a hook that raises, or that replaces a
        command already there (click's ``add_command`` silently overwrites), is a
        PluginError naming the plugin and the way out.
        """
        for impl in self.pm.hook.register_commands.get_hookimpls():
            hint = f"Start without it with DSR_DISABLE_PLUGINS={impl.plugin_name}"
            before = dict(cli.commands)
            try:
                impl.function(**{name: cli for name in impl.argnames})
            except Exception as exc:
                raise PluginError(
                    f"plugin {impl.plugin_name!r} failed in register_commands: "
                    f"{type(exc).__name__}: {exc}. {hint}") from exc
            replaced = sorted(n for n, c in before.items() if cli.commands.get(n) is not c)
            if replaced:
                raise PluginError(f"plugin {impl.plugin_name!r} replaced the command(s) "
                                  f"{', '.join(replaced)}. {hint}")

    # -------------------------------------------------------------- facade
    @property
    def hook(self) -> Any:
        return self.pm.hook

    def plugins(self) -> list[PluginInfo]:
        out = []
        for name, plugin in self.pm.list_name_plugin():
            version, builtin = self.versions.get(name, ("unknown", False))
            hooks = sorted(c.name for c in self.pm.get_hookcallers(plugin) or [])
            out.append(PluginInfo(name=name, version=version, builtin=builtin, hooks=hooks,
                                  registered=self.registry.supplied_by(name)))
        return out

    def fire(self, event: str, **kwargs: Any) -> None:
        """Call a lifecycle hook; a plugin's failure is a PluginError naming the plugin.

        ``before_erasure`` relies on this: a plugin raises to stop a plan, and the error
        says which plugin stopped it and why.
        """
        if event not in LIFECYCLE_EVENTS:
            raise ValueError(f"unknown lifecycle event {event!r} "
                             f"(known: {', '.join(LIFECYCLE_EVENTS)})")
        caller = getattr(self.pm.hook, event)
        try:
            caller(**kwargs)
        except pluggy.HookCallError:
            raise  # the core called the hook wrongly: no plugin to blame
        except Exception as exc:
            name = _failing_plugin(exc, caller.get_hookimpls())
            raise PluginError(f"plugin {name!r} failed in {event}: "
                              f"{type(exc).__name__}: {exc}") from exc


def _one_line(exc: BaseException) -> str:
    """pluggy's multi-line validation messages as one line: start-up errors are one line."""
    return "; ".join(line.strip().rstrip(".") for line in str(exc).splitlines() if line.strip())


def _failing_plugin(exc: BaseException, impls: list[pluggy.HookImpl]) -> str:
    """The plugin whose hook implementation is on the traceback (the innermost one)."""
    codes = {impl.function.__code__: impl.plugin_name for impl in impls
             if hasattr(impl.function, "__code__")}
    found = "unknown"
    tb = exc.__traceback__
    while tb is not None:
        found = codes.get(tb.tb_frame.f_code, found)
        tb = tb.tb_next
    return found


_default: PluginManager | None = None


def get_plugin_manager() -> PluginManager:
    """The process-wide manager, loaded once."""
    global _default
    if _default is None:
        _default = PluginManager().load()
    return _default


def reset_plugin_manager() -> None:
    global _default
    _default = None
