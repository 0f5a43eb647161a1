"""The ``manual`` connector: declared tasks instead of automation.

``[[systems]]`` with ``connector = "manual"`` (or a ``manual://NAME`` URL) and either
``tasks`` (a list of ``{ key, description, where, requests }``) or just a ``description``,
which becomes one task. It never claims ``search``: the engine leaves it out of every
search, so no output can suggest it was searched automatically.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from agent.config import SystemConfig
from agent.connector import CheckResult, Connector, ConnectorContext
from agent.errors import ConfigError
from agent.plans import ManualTask
from agent.policy import REQUEST_TYPES

_KEY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_TASK_KEYS = {"key", "description", "where", "requests"}


class ManualConnector(Connector):
    name: ClassVar[str] = "manual"
    description: ClassVar[str] = ("a system with no automation (CCTV, paper files): plans get "
                                  "tasks a person signs off")
    url_schemes: ClassVar[tuple[str, ...]] = ("manual",)
    capabilities: ClassVar[frozenset[str]] = frozenset({"check"})

    def __init__(self, system: SystemConfig, context: ConnectorContext | None = None) -> None:
        super().__init__(system, context)
        self.tasks = _parse_tasks(system)

    def check(self) -> CheckResult:
        return CheckResult(True, f"{len(self.tasks)} manual task(s); nothing is searched "
                                 "automatically")

    def manual_tasks(self, request_type: str) -> Sequence[ManualTask]:
        return [task for task, types in self.tasks if request_type in types]


def _parse_tasks(system: SystemConfig) -> list[tuple[ManualTask, frozenset[str]]]:
    def error(message: str, *key: str) -> ConfigError:
        return ConfigError(f"system {system.name!r}: {message}",
                           key=".".join(("systems", system.name, *key)))

    unknown = sorted(set(system.options) - {"tasks"})
    if unknown:
        raise error(f"unknown option(s) {unknown}; the manual connector knows tasks "
                    "(and description)", unknown[0])
    raw = system.options.get("tasks")
    if raw is None:
        text = system.description or f"the {system.name} system"
        return [(ManualTask("search", f"search {text} by hand and act on the request"),
                 frozenset(REQUEST_TYPES))]
    if not isinstance(raw, list) or not raw:
        raise error("must be a list of tables: [{ key, description, where, requests }]",
                    "tasks")
    out: list[tuple[ManualTask, frozenset[str]]] = []
    seen: set[str] = set()
    for index, body in enumerate(raw):
        where = f"tasks[{index}]"
        if not isinstance(body, Mapping):
            raise error("must be a table", where)
        extra = sorted(set(body) - _TASK_KEYS)
        if extra:
            raise error(f"unknown key {extra[0]!r}; known: {sorted(_TASK_KEYS)}", where)
        key = body.get("key")
        if not isinstance(key, str) or not _KEY.match(key) or key in seen:
            raise error("key is required: unique, lower case letters, digits, - or _", where,
                        "key")
        seen.add(key)
        description = body.get("description")
        if not isinstance(description, str) or not description.strip():
            raise error("description is required: what the person must do", where,
                        "description")
        types = _request_types(body.get("requests", list(REQUEST_TYPES)), error, where)
        place: Any = body.get("where", "")
        if not isinstance(place, str):
            raise error("must be text", where, "where")
        out.append((ManualTask(key, description.strip(), place.strip()), types))
    return out


def _request_types(raw: Any, error: Any, where: str) -> frozenset[str]:
    if not isinstance(raw, list) or not all(t in REQUEST_TYPES for t in raw):
        raise error(f"requests must list request types: {', '.join(REQUEST_TYPES)}", where,
                    "requests")
    return frozenset(raw)
