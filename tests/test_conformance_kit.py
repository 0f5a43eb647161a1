"""The conformance kit itself: it passes a connector that keeps every promise, and each
deliberately broken connector fails exactly the checks for the promise it breaks.

The broken connectors run through the kit in a nested pytest run (``pytester``), in process.
"""

from __future__ import annotations

import re

import pytest

from agent.plugins import PluginManager

# the whole kit, collected here, on the sound in-memory connector (delete and anonymise)
from agent.testing import ConnectorConformance as TestKitConformance
from agent.testing import Seed, plan_items
from tests.support.kit_connector import JANE, KitPlugin, kit_seed

pytest_plugins = ["pytester"]

@pytest.fixture
def dsr_plugin_manager() -> PluginManager:
    manager = PluginManager()
    manager.add_module("kit", KitPlugin())
    return manager.load(builtins=(), use_entry_points=False)


@pytest.fixture(params=["delete", "anonymise"])
def dsr_seed(request: pytest.FixtureRequest) -> Seed:
    return kit_seed(erase_action=request.param)


def test_plan_items_follow_actions_for(dsr_kit):
    [jane] = [f for f in dsr_kit.strong("subject") if f.locator == "contacts:1"]
    [item] = plan_items([jane], "rectify", dsr_kit.connector, fields=["email"])
    assert (item.id, item.action, item.locator, item.fields) == (
        "crm:contacts:1", "rectify", "contacts:1", ["email"])
    assert item.strength == "strong" and item.runnable
    assert plan_items([jane], "quarantine", dsr_kit.connector) == []  # not the system's to do
    assert len(plan_items([jane], "quarantine")) == 1  # without a connector: no filter


# --------------------------------------------------------------------------- broken ones

CONFTEST = '''
import logging

import pytest
import structlog

from agent.connector import Connector
from agent.plans import Outcome, PlanItem
from agent.plugins import PluginManager
from tests.support.kit_connector import KitConnector, KitPlugin, store_records


class EraseDoesNothing(KitConnector):
    name = "kit_erase_noop"

    def erase(self, plan_items):
        for item in plan_items:
            yield Outcome(item.id, "done", counts={"deleted": 1})


class TouchesLookalike(KitConnector):
    """Erases everyone who shares a name with an erased record."""
    name = "kit_touches_lookalike"

    def erase(self, plan_items):
        records = store_records(self.system.url)
        wanted = {i.locator for i in plan_items}
        names = {r["name"] for r in records if r["locator"] in wanted and r.get("name")}
        namesakes = [PlanItem(id="x" + r["locator"], action="delete", reason="",
                              locator=r["locator"])
                     for r in records if r.get("name") in names and r["locator"] not in wanted]
        yield from list(super().erase([*plan_items, *namesakes]))[:len(plan_items)]


class LogsIdentifier(KitConnector):
    name = "kit_logs_identifier"

    def search(self, subjects):
        for finding in super().search(subjects):
            for email in finding.internal_values.get("email", ()):
                structlog.get_logger("kit").info("kit.found", email=email)
            yield finding

    def suppress(self, plan_items):
        wanted = {i.locator for i in plan_items}
        for record in store_records(self.system.url):
            if record["locator"] in wanted and record.get("phone"):
                logging.getLogger("kit").warning("suppressing %s", record["phone"])
        yield from super().suppress(plan_items)


class Overclaims(KitConnector):
    """Declares every action but does not really restrict or suppress."""
    name = "kit_overclaims"

    def restrict(self, plan_items):
        return Connector.restrict(self, plan_items)

    def suppress(self, plan_items):
        for item in plan_items:
            yield Outcome(item.id, "done", counts={"marked": 1})


class Underclaims(KitConnector):
    """Erases, suppresses, restricts and rectifies without declaring it."""
    name = "kit_underclaims"
    capabilities = frozenset({"check", "search", "read"})


@pytest.fixture
def dsr_plugin_manager():
    manager = PluginManager()
    manager.add_module("kit", KitPlugin(EraseDoesNothing, TouchesLookalike, LogsIdentifier,
                                        Overclaims, Underclaims))
    return manager.load(builtins=(), use_entry_points=False)
'''

MODULE = '''
import pytest

from agent.testing import ConnectorConformance as TestConformance
from tests.support.kit_connector import kit_seed


@pytest.fixture
def dsr_seed():
    return kit_seed({connector!r})
'''

ALL_CHECKS = {name for name in dir(TestKitConformance) if name.startswith("test_")}
# module -> the checks that must fail for it (every other check must pass)
BROKEN = {
    "kit_erase_noop": {"test_erase_removes_subject_only", "test_erase_again_changes_nothing"},
    "kit_touches_lookalike": {"test_erase_removes_subject_only"},
    "kit_logs_identifier": {"test_no_identifier_values_in_logs"},
    "kit_overclaims": {"test_suppress", "test_restrict", "test_capabilities_match_behaviour"},
    "kit_underclaims": {"test_capabilities_match_behaviour"},
}
_RESULT = re.compile(r"^test_(\w+)\.py::TestConformance::(test_\w+) (PASSED|FAILED|ERROR)")


def run_kit(pytester: pytest.Pytester) -> tuple[str, dict[str, dict[str, str]]]:
    """The kit over every broken connector (and a module with no seed), in one nested run:
    its output and each module's check -> PASSED | FAILED | ERROR."""
    pytester.makeconftest(CONFTEST)
    for connector in BROKEN:
        pytester.makepyfile(**{f"test_{connector}": MODULE.format(connector=connector)})
    pytester.makepyfile(test_no_seed="from agent.testing import ConnectorConformance as "
                                     "TestConformance\n")
    # no:logging: pytest's own report of captured log lines would show the leaked values
    result = pytester.runpytest("-v", "-p", "no:cacheprovider", "-p", "no:logging")
    outcomes: dict[str, dict[str, str]] = {}
    for line in result.outlines:
        match = _RESULT.match(line)
        if match:
            outcomes.setdefault(match[1], {})[match[2]] = match[3]
    return result.stdout.str(), outcomes


def test_kit_catches_broken_connectors(pytester: pytest.Pytester) -> None:
    text, outcomes = run_kit(pytester)
    for connector, broken in BROKEN.items():
        got = outcomes.get(connector, {})
        assert set(got) == ALL_CHECKS, connector
        failed = {name for name, outcome in got.items() if outcome != "PASSED"}
        assert failed == broken, connector

    # each failure says what broke, by finding id and identifier type, never by value
    assert ("after erase (delete) a search still finds the subject strongly: "
            "['crm:contacts:1', 'crm:orders:10']") in text
    assert "erasing the subject changed the look-alike: ['crm:contacts:2 no longer found'" \
        in text
    assert ("identifier values reached the logs or the console (values not shown): "
            "email of the subject in structlog event 'kit.found'") in text
    assert "phone of the subject in log record of logger 'kit'" in text
    assert "declares 'restrict' but restrict() raises NotSupported" in text
    assert "suppress() run a second time on the same items must report each one 'absent'" \
        in text
    assert "erase() works but 'erase' is not declared in capabilities" in text
    for value in (JANE["email"], JANE["phone"], "+447700900101", "07700900101"):
        assert value not in text

    # a check whose capability is not declared passes, and the summary says why
    assert outcomes["kit_underclaims"]["test_rectify"] == "PASSED"
    assert "dsr connector conformance: not applicable" in text
    assert ("test_kit_underclaims.py::TestConformance::test_rectify: 'rectify' is not "
            "declared") in text

    # no dsr_seed fixture: every check errors, saying what to define
    assert set(outcomes["no_seed"].values()) == {"ERROR"}
    assert "the connector conformance kit needs a `dsr_seed` fixture" in text
