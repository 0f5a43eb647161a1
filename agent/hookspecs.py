"""Every hook a dsr-agent plugin can implement, in one typed module.

Plugins implement hooks with ``@hookimpl`` (``from agent.hookspecs import hookimpl``).
``register_*`` hooks receive a ``register`` callback: the core validates each object it is
given (type, unique name) and records which plugin supplied it. The real work lives on the
base classes (``agent.connector.Connector``, ``agent.detectors.Detector``), not in hooks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click

PROJECT = "dsr_agent"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

Register = Callable[..., None]


@hookspec
def register_connectors(register: Register) -> None:
    """Register connector classes: ``register(MyConnector)``.

    Each class subclasses ``agent.connector.Connector`` and sets a unique ``name`` (the
    value of ``connector =`` in a ``[[systems]]`` table).
    """


@hookspec
def register_extractors(register: Register) -> None:
    """Register text extractors: ``register(MyExtractor)`` (``agent.extractors.Extractor``)."""


@hookspec
def register_detectors(register: Register) -> None:
    """Register detectors of personal data in values: ``register(MyDetector())``.

    Each is an ``agent.detectors.Detector`` instance with a unique ``name``.
    """


@hookspec
def register_exporters(register: Register) -> None:
    """Register export formats: ``register(MyExporter)`` (``agent.exporters.Exporter``)."""


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add commands or groups to the ``dsr`` command line: ``cli.add_command(...)``."""


@hookspec
def request_status_changed(request: Any, old: str | None, new: str, actor: str,
                           reason: str | None) -> None:
    """A request moved from ``old`` to ``new`` status (fired after the change is stored)."""


@hookspec
def before_erasure(request: Any, system: str, items: Any) -> None:
    """A system's approved items (``agent.plans.PlanItem``) are about to be carried out.

    Fired once per system and connector method, after the journal marks the items started
    and before the connector changes anything; raise to stop that system (its items are
    marked failed and the request ends partially completed).
    """


@hookspec
def after_erasure(request: Any, system: str, items: Any, outcomes: Any) -> None:
    """A system's items were carried out and journalled; ``outcomes`` holds an
    ``agent.plans.Outcome`` per item. Verification by a fresh search follows."""
