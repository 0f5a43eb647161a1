"""What plugins registered: validated on the way in, each entry remembering its plugin."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agent.errors import PluginError


@dataclass(frozen=True)
class Registration:
    kind: str
    name: str
    obj: Any
    plugin: str


def _expected_base(kind: str) -> tuple[type, bool]:
    """(base class, whether a class rather than an instance is registered)."""
    if kind == "connectors":
        from agent.connector import Connector
        return Connector, True
    if kind == "extractors":
        from agent.extractors import Extractor
        return Extractor, True
    if kind == "detectors":
        from agent.detectors import Detector
        return Detector, False
    if kind == "exporters":
        from agent.exporters import Exporter
        return Exporter, True
    raise ValueError(kind)


class Registry:
    def __init__(self) -> None:
        self._items: dict[str, dict[str, Registration]] = {
            "connectors": {}, "extractors": {}, "detectors": {}, "exporters": {}}

    def register_callback(self, kind: str, plugin: str) -> Callable[[Any], None]:
        def register(obj: Any) -> None:
            self.add(kind, obj, plugin)
        return register

    def add(self, kind: str, obj: Any, plugin: str) -> None:
        base, wants_class = _expected_base(kind)
        singular = kind[:-1]
        if wants_class:
            if not (inspect.isclass(obj) and issubclass(obj, base)):
                raise PluginError(f"plugin {plugin!r} registered {obj!r} as a {singular}: "
                                  f"expected a subclass of {base.__module__}.{base.__name__}")
            if inspect.isabstract(obj):
                missing = ", ".join(sorted(getattr(obj, "__abstractmethods__", ())))
                raise PluginError(f"plugin {plugin!r} registered {singular} {obj.__name__!r} "
                                  f"that does not implement {missing}")
        elif not isinstance(obj, base):
            raise PluginError(f"plugin {plugin!r} registered {obj!r} as a {singular}: "
                              f"expected an instance of {base.__module__}.{base.__name__}")
        name = getattr(obj, "name", None)
        if not isinstance(name, str) or not name:
            raise PluginError(f"plugin {plugin!r} registered a {singular} without a name")
        if name in self._items[kind]:
            other = self._items[kind][name].plugin
            raise PluginError(f"plugin {plugin!r} registered {singular} {name!r}, "
                              f"already registered by plugin {other!r}")
        validate = getattr(obj, "validate_registration", None)
        if callable(validate):
            problem = validate()
            if problem:
                raise PluginError(f"plugin {plugin!r}: {singular} {name!r} {problem}")
        if kind == "connectors":
            self._check_schemes(obj, name, plugin)
        self._items[kind][name] = Registration(kind, name, obj, plugin)

    def _check_schemes(self, cls: Any, name: str, plugin: str) -> None:
        """A URL scheme means one connector: a second claim would make every system using
        it ambiguous, so it stops start-up like a duplicate name."""
        taken = {s.lower(): r for r in self._items["connectors"].values()
                 for s in _own_schemes(r.obj)}
        for scheme in _own_schemes(cls):
            other = taken.get(scheme.lower())
            if other is not None:
                raise PluginError(f"plugin {plugin!r}: connector {name!r} claims URL scheme "
                                  f"{scheme!r}, already claimed by connector {other.name!r} "
                                  f"of plugin {other.plugin!r} (leave it out of url_schemes: "
                                  f"systems name the connector with connector =)")

    def get(self, kind: str, name: str) -> Registration | None:
        return self._items[kind].get(name)

    def all(self, kind: str) -> list[Registration]:
        return list(self._items[kind].values())

    def url_schemes(self) -> dict[str, str]:
        """URL scheme -> the registered connector that declares it in ``url_schemes`` (one
        each: a second claim is refused at registration)."""
        return {scheme.lower(): registration.name
                for registration in self._items["connectors"].values()
                for scheme in _own_schemes(registration.obj)}

    def supplied_by(self, plugin: str) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for kind, items in self._items.items():
            names = sorted(r.name for r in items.values() if r.plugin == plugin)
            if names:
                out[kind] = names
        return out


def _own_schemes(cls: Any) -> tuple[str, ...]:
    """The URL schemes a connector class declares itself: a variant subclassing a
    registered connector inherits its schemes without claiming them."""
    return tuple(vars(cls).get("url_schemes", ()))
