"""The hook implementations: what the ``dsr_agent`` entry point names.

dsr-agent imports this module at start-up (``dsr plugins list`` shows it as ``helpdesk``)
and calls its hooks; the connector itself lives in ``dsr_helpdesk.connector``.
"""

from __future__ import annotations

from agent.hookspecs import Register, hookimpl
from dsr_helpdesk.connector import HelpdeskConnector


@hookimpl
def register_connectors(register: Register) -> None:
    register(HelpdeskConnector)
