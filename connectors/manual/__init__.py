"""Built-in connector for systems with no automation: CCTV, paper files, a mailbox without
an API. It searches nothing and changes nothing; it puts named tasks in every plan, which a
person carries out and signs off (`dsr request signoff`)."""

from __future__ import annotations

from agent.hookspecs import Register, hookimpl
from connectors.manual.connector import ManualConnector

__all__ = ["ManualConnector"]


@hookimpl
def register_connectors(register: Register) -> None:
    register(ManualConnector)
