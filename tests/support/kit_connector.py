"""An in-memory connector with every action, for testing the conformance kit itself.

Records live in a process-wide store named by the system's URL (``kit://NAME``), so they
outlive one connector instance the way a database outlives a connection. Each record is a
dict: ``locator`` (``table:key``), the identity fields ``email``, ``phone`` and ``name``,
an optional ``parent`` locator (a child row, found through its parent), and the flags
``do_not_contact`` and ``restricted``.

It is a real plugin (registered through the hook, validated by the registry); the
deliberately broken variants the kit must catch subclass it in tests/test_conformance_kit.py.
"""

from __future__ import annotations

import copy
import threading
import uuid
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import structlog

from agent.connector import CheckResult, Connector
from agent.errors import ConnectorError
from agent.hookspecs import hookimpl
from agent.identifiers import try_normalise
from agent.models import Finding, Subject
from agent.plans import Outcome, PlanItem
from agent.testing import Seed

log = structlog.get_logger("tests.kit_connector")

IDENTITY_FIELDS = ("email", "phone", "name")
_STORES: dict[str, list[dict[str, Any]]] = {}
_LOCK = threading.Lock()


# Jane Doe (the subject) and another Jane Doe (the look-alike), each with an order.
JANE = {"locator": "contacts:1", "email": "jane.doe@example.com", "phone": "07700 900101",
        "name": "Jane Doe"}
OTHER_JANE = {"locator": "contacts:2", "email": "jane.doe@example.co.uk",
              "phone": "07700 900202", "name": "Jane Doe"}
ORDERS = [{"locator": "orders:10", "parent": "contacts:1"},
          {"locator": "orders:20", "parent": "contacts:2"}]


def kit_seed(connector: str = "kit", erase_action: str = "delete") -> Seed:
    """A freshly seeded store for the conformance kit, reached through ``connector``."""
    return Seed(system={"name": "crm", "connector": connector,
                        "url": new_store([JANE, OTHER_JANE, *ORDERS])},
                subject={"email": [JANE["email"]], "name": JANE["name"]},
                lookalike={"email": [OTHER_JANE["email"]], "name": OTHER_JANE["name"]},
                rectify={"email": "jane.new@example.com"},
                erase_action=erase_action)  # type: ignore[arg-type]


def new_store(records: Iterable[dict[str, Any]]) -> str:
    """Seed a fresh store; returns the URL a ``[[systems]]`` entry names it by."""
    name = uuid.uuid4().hex[:12]
    with _LOCK:
        _STORES[name] = [{"do_not_contact": False, "restricted": False, "parent": None,
                          **copy.deepcopy(r)} for r in records]
    return f"kit://{name}"


def store_records(url: str) -> list[dict[str, Any]]:
    """A copy of a store's records (tests look inside)."""
    with _LOCK:
        return copy.deepcopy(_STORES[url.removeprefix("kit://")])


class KitConnector(Connector):
    name = "kit"
    description = "records in a process-wide in-memory store (conformance kit tests)"
    url_schemes = ("kit",)
    capabilities = frozenset({"check", "search", "read", "erase", "suppress", "restrict",
                              "rectify"})

    # ------------------------------------------------------------------ store
    @property
    def store_name(self) -> str:
        return self.system.url.removeprefix("kit://")

    def _records(self) -> list[dict[str, Any]]:
        records = _STORES.get(self.store_name)
        if records is None:
            raise ConnectorError(f"system {self.system.name!r}: no such in-memory store")
        return records

    def _snapshot(self) -> list[dict[str, Any]]:
        with _LOCK:
            return copy.deepcopy(self._records())

    def _commit(self, records: list[dict[str, Any]]) -> None:
        with _LOCK:
            _STORES[self.store_name] = records

    # ------------------------------------------------------------------ check / search
    def check(self) -> CheckResult:
        try:
            count = len(self._snapshot())
        except ConnectorError as exc:
            return CheckResult(ok=False, detail=str(exc))
        return CheckResult(ok=True, detail=f"{count} records")

    def search(self, subjects: Sequence[Subject]) -> Iterator[Finding]:
        records = self._snapshot()
        found = 0
        for subject in subjects:
            wanted = subject.to_search()
            matched: dict[str, Finding] = {}
            for record in records:
                values = _values(record)
                hits = {i.id for i in wanted if i.value in values.get(i.type, set())}
                if hits:
                    matched[record["locator"]] = self._finding(subject, record, values)
                    matched[record["locator"]].internal_matched_ids = hits
            children = []
            for record in records:
                parent = matched.get(record.get("parent") or "")
                if parent is not None and record["locator"] not in matched:
                    child = self._finding(subject, record, _values(record))
                    child.internal_parent, child.internal_link = parent.id, "fk"
                    children.append(child)
            found += len(matched) + len(children)
            yield from matched.values()
            yield from children
        log.info("kit.search", system=self.system.name, subjects=len(subjects), findings=found)

    def _finding(self, subject: Subject, record: dict[str, Any],
                 values: dict[str, set[str]]) -> Finding:
        return Finding(system=self.system.name, kind="row", locator=record["locator"],
                       subject=subject.ref, container=record["locator"].split(":")[0],
                       categories=["Contact"], internal_values=values,
                       internal_holder=next(iter(values.get("name", ())), None),
                       internal_party="person")

    def read(self, findings: Sequence[Finding]) -> Iterator[dict[str, Any]]:
        by_locator = {r["locator"]: r for r in self._snapshot()}
        for finding in findings:
            record = by_locator.get(finding.locator)
            if finding.system == self.system.name and record is not None:
                yield {"finding": finding.id, "record": record}

    # ------------------------------------------------------------------ actions
    def erase(self, plan_items: Sequence[PlanItem]) -> Iterator[Outcome]:
        records = self._snapshot()
        outcomes = [self._erase_one(records, item) for item in plan_items]
        self._commit(records)  # all items at once: nothing is half-done
        log.info("kit.erase", system=self.system.name, items=len(outcomes))
        yield from outcomes

    def _erase_one(self, records: list[dict[str, Any]], item: PlanItem) -> Outcome:
        record = _find(records, item.locator)
        if item.action == "anonymise":
            if record is None or all(record.get(f) is None for f in IDENTITY_FIELDS):
                return Outcome(item.id, "absent")
            for name in IDENTITY_FIELDS:
                record[name] = None
            return Outcome(item.id, "done", counts={"anonymised": 1})
        if item.action != "delete":
            return Outcome(item.id, "failed", detail=f"unknown erase action {item.action!r}")
        if record is None:
            return Outcome(item.id, "absent")
        gone = {item.locator} | {r["locator"] for r in records if r["parent"] == item.locator}
        records[:] = [r for r in records if r["locator"] not in gone]  # children with it
        return Outcome(item.id, "done", counts={"deleted": len(gone)})

    def suppress(self, plan_items: Sequence[PlanItem]) -> Iterator[Outcome]:
        yield from self._flag(plan_items, "do_not_contact")

    def restrict(self, plan_items: Sequence[PlanItem]) -> Iterator[Outcome]:
        yield from self._flag(plan_items, "restricted")

    def _flag(self, plan_items: Sequence[PlanItem], flag: str) -> Iterator[Outcome]:
        records = self._snapshot()
        outcomes = []
        for item in plan_items:
            record = _find(records, item.locator)
            if record is None or record[flag]:
                outcomes.append(Outcome(item.id, "absent"))
                continue
            record[flag] = True
            outcomes.append(Outcome(item.id, "done", counts={"marked": 1}))
        self._commit(records)
        log.info("kit.flag", system=self.system.name, flag=flag, items=len(outcomes))
        yield from outcomes

    def rectify(self, plan_items: Sequence[PlanItem], changes: dict[str, str]
                ) -> Iterator[Outcome]:
        unknown = sorted(set(changes) - set(IDENTITY_FIELDS))
        if unknown:
            raise ConnectorError(f"system {self.system.name!r}: cannot rectify {unknown}")
        records = self._snapshot()
        outcomes = []
        for item in plan_items:
            record = _find(records, item.locator)
            if record is None or all(record.get(k) == v for k, v in changes.items()):
                outcomes.append(Outcome(item.id, "absent"))
                continue
            record.update(changes)
            outcomes.append(Outcome(item.id, "done", counts={"updated": len(changes)}))
        self._commit(records)
        log.info("kit.rectify", system=self.system.name, fields=sorted(changes),
                 items=len(outcomes))
        yield from outcomes


def _find(records: list[dict[str, Any]], locator: str | None) -> dict[str, Any] | None:
    return next((r for r in records if r["locator"] == locator), None)


def _values(record: dict[str, Any]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for kind in IDENTITY_FIELDS:
        value = try_normalise(kind, record[kind]) if record.get(kind) else None
        if value:
            out[kind] = {value}
    return out


class KitPlugin:
    """Registers ``KitConnector`` plus any broken variants a test hands it."""

    def __init__(self, *extra: type[Connector]) -> None:
        self.extra = extra

    @hookimpl
    def register_connectors(self, register: Any) -> None:
        register(KitConnector)
        for connector in self.extra:
            register(connector)
