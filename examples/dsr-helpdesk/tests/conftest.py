"""Fixtures: a helpdesk CRM served on loopback per test, and the plugin registered.

``crm`` is a real HTTP server (tests/crm_server.py) with a fresh token and no records;
``seed_people`` fills it with the conformance kit's subject and look-alike.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from importlib.metadata import entry_points

import dsr_helpdesk
import pytest
from crm_server import CrmServer, serve
from dsr_helpdesk import plugin

from agent.plugins import PluginManager, get_plugin_manager

TOKEN_VARIABLE = "HELPDESK_TEST_TOKEN"

JANE = {"name": "Jane Doe", "email": "jane.doe@example.com", "phone": "(07700) 900-101"}
OTHER_JANE = {"name": "Jane Doe", "email": "Jane.Doe@example.co.uk", "phone": "07700 900202"}


@pytest.fixture
def crm(monkeypatch: pytest.MonkeyPatch) -> Iterator[CrmServer]:
    token = secrets.token_urlsafe(24)
    monkeypatch.setenv(TOKEN_VARIABLE, token)  # the config names it as ${HELPDESK_TEST_TOKEN}
    with serve(token) as server:
        yield server


def system_entry(crm: CrmServer, **options: object) -> dict[str, object]:
    """The [[systems]] table a user would write for this CRM."""
    return {"name": "helpdesk", "connector": "helpdesk", "url": crm.url,
            "token": f"${{{TOKEN_VARIABLE}}}", **options}


def seed_people(crm: CrmServer) -> dict[str, int]:
    """Jane (two tickets), another Jane Doe (one ticket), and a stranger; returns ids."""
    data = crm.data
    jane = data.add_contact(**JANE, company="Doe Plumbing")
    other = data.add_contact(**OTHER_JANE)
    stranger = data.add_contact("Sam Smith", "sam.smith@example.com", "01632 960123")
    return {"jane": jane, "other": other, "stranger": stranger,
            "jane_ticket": data.add_ticket(jane, "Router down",
                                           "Customer rang from the shop line, engineer booked"),
            "jane_ticket2": data.add_ticket(jane, "Bill query", "Asked for a copy invoice"),
            "other_ticket": data.add_ticket(other, "Move line", "Moving premises in March"),
            "stranger_ticket": data.add_ticket(stranger, "Upgrade", "Wants fibre")}


@pytest.fixture(scope="session")
def dsr_plugin_manager() -> PluginManager:
    """The plugins dsr loads; the helpdesk plugin added by hand when it is not installed
    (tests run from a checkout with ``pythonpath = ["src"]``). Loaded once per session."""
    if any(ep.name == "helpdesk" for ep in entry_points(group="dsr_agent")):
        return get_plugin_manager()
    manager = PluginManager()
    manager.add_module("helpdesk", plugin, version=dsr_helpdesk.__version__)
    return manager.load()
