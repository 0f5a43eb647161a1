"""The sweep engine: detection into the data map, incremental rescans, resume after an
interruption, failures kept per system, the policy's [detections] mapping, no values.

The connector here is a small plugin-style class over tables held in memory, so each test
can change exactly one thing between sweeps; the built-in connectors' sampling is tested
against real servers in tests/test_sample_*.py and end to end in tests/test_discover_cli.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from agent.connector import Container
from agent.discovery.state import SweepStore
from agent.discovery.sweep import Sweep
from agent.errors import ConfigError, ConnectorError
from agent.plugins import PluginManager
from agent.sampling import FieldSample, Sample, SampleOptions, fingerprint

EMAILS = [f"person{i}@example.com" for i in range(40)]
PHONES = [f"07700 900{i:03d}" for i in range(40)]
ORDERS = [f"ORD-{i:06d}" for i in range(40)]


class MemoryTables:
    """Tables as {name: {column: values}}; counts each read so tests see what was read."""

    capabilities = frozenset({"discover", "sample"})

    def __init__(self, tables: dict[str, dict[str, list[object]]], *,
                 fail_on: str | None = None, interrupt_on: str | None = None,
                 not_searched: tuple[str, ...] = ()) -> None:
        self.tables = tables
        self.reads: list[str] = []
        self.fail_on, self.interrupt_on = fail_on, interrupt_on
        self.not_searched = not_searched

    def discover(self) -> Iterator[Container]:
        for name in sorted(self.tables):
            yield Container(name=name, kind="table", items=len(next(iter(
                self.tables[name].values()), [])))

    def sample(self, container: Container, options: SampleOptions) -> Iterator[Sample]:
        table = self.tables[container.name]
        fp = fingerprint(sorted(table), sum(len(v) for v in table.values()))
        if options.unchanged(container.name, fp):
            yield Sample(container.name, fp, unchanged=True)
            return
        if container.name == self.interrupt_on:
            raise KeyboardInterrupt
        if container.name == self.fail_on:
            raise ConnectorError("the server dropped the connection")
        self.reads.append(container.name)
        if "locked" in table:
            yield Sample(container.name, fp, error="permission denied reading the table")
            return
        yield Sample(container.name, fp, fields=[
            FieldSample(container=f"{container.name}.{column}", kind="column",
                        values=values[:options.values_per_column], column=column,
                        searched=column not in self.not_searched,
                        not_searched_because=("not an identity column"
                                              if column in self.not_searched else None))
            for column, values in table.items()])


@pytest.fixture
def detectors() -> list:
    pm = PluginManager()
    pm.load(use_entry_points=False)
    return [r.obj for r in pm.registry.all("detectors")]


@pytest.fixture
def store(tmp_path: Path) -> SweepStore:
    return SweepStore(sa.create_engine(f"sqlite:///{tmp_path / 'state.sqlite'}"))


def crm() -> dict[str, dict[str, list[object]]]:
    return {"contacts": {"email": list(EMAILS), "mobile": list(PHONES),
                         "notes": ["called back" for _ in EMAILS]},
            "orders": {"order_ref": list(ORDERS), "contact_email": list(EMAILS)}}


def sweep(connectors, store, detectors, **kwargs) -> Sweep:
    return Sweep(connectors, store, detectors, options=SampleOptions(), **kwargs)


def entries(datamap) -> dict[str, dict]:
    return {e.container: e.public() for e in datamap.entries}


def test_a_sweep_maps_columns_to_kinds_groups_and_counts(store, detectors) -> None:
    tables = MemoryTables(crm(), not_searched=("contact_email",))
    datamap = sweep({"crm": tables}, store, detectors).run()
    found = entries(datamap)
    assert set(found) == {"contacts.email", "contacts.mobile", "orders.contact_email"}
    email = found["contacts.email"]
    assert email["detectors"][0] == "email" and email["categories"] == ["Contact"]
    assert email["confidence"] == "high" and email["sampled"] == email["matched"] == 40
    assert found["contacts.mobile"]["detectors"][0] == "phone"
    # personal data where a request search would not look: the coverage section
    gaps = datamap.public()["coverage"]["not_searched"]
    assert [g["container"] for g in gaps] == ["orders.contact_email"]
    assert gaps[0]["not_searched_because"] == "not an identity column"
    text = json.dumps(datamap.public()) + datamap.csv()
    # the sampled phones in any writing (the sweep id and timestamps hold random digits)
    assert "example.com" not in text and "7700 900" not in text and "7700900" not in text
    assert datamap.categories() == {"Contact": 3}


def test_only_what_changed_is_read_again_unless_full(store, detectors) -> None:
    data = crm()
    first = MemoryTables(data)
    sweep({"crm": first}, store, detectors).run()
    assert first.reads == ["contacts", "orders"]
    data["orders"]["order_ref"].append("ORD-999999")
    data["orders"]["contact_email"].append("late@example.com")
    second = MemoryTables(data)
    datamap = sweep({"crm": second}, store, detectors).run()
    assert second.reads == ["orders"]  # contacts unchanged: kept, not read
    assert "contacts.email" in entries(datamap)
    assert datamap.systems[0].public()["unchanged"] == 1
    third = MemoryTables(data)
    sweep({"crm": third}, store, detectors).run(full=True)
    assert third.reads == ["contacts", "orders"]


def test_a_dropped_table_leaves_the_map(store, detectors) -> None:
    data = crm()
    sweep({"crm": MemoryTables(data)}, store, detectors).run()
    del data["orders"]
    datamap = sweep({"crm": MemoryTables(data)}, store, detectors).run()
    assert not any(c.startswith("orders.") for c in entries(datamap))


def test_an_interrupted_sweep_resumes_where_it_stopped(store, detectors) -> None:
    data = crm()
    broken = MemoryTables(data, interrupt_on="orders")
    with pytest.raises(KeyboardInterrupt):
        sweep({"crm": broken}, store, detectors).run(full=True)
    assert broken.reads == ["contacts"]
    again = MemoryTables(data)
    datamap = sweep({"crm": again}, store, detectors).run(full=True)
    assert again.reads == ["orders"]  # contacts was read before the interruption
    assert {"contacts.email", "orders.contact_email"} <= set(entries(datamap))
    # finished: the next full sweep starts afresh and reads everything
    fresh = MemoryTables(data)
    sweep({"crm": fresh}, store, detectors).run(full=True)
    assert fresh.reads == ["contacts", "orders"]


def test_a_failing_system_is_reported_and_keeps_its_last_map(store, detectors) -> None:
    data = crm()
    sweep({"crm": MemoryTables(data)}, store, detectors).run()
    datamap = sweep({"crm": MemoryTables(data, fail_on="orders"),
                     "files": MemoryTables({"letters": {"email": EMAILS[:5]}})},
                    store, detectors).run(full=True)
    status = {s.name: s.public() for s in datamap.systems}
    assert status["crm"]["status"] == "failed"
    assert status["crm"]["error"] == "the server dropped the connection"
    assert status["files"]["status"] == "ok"
    assert "orders.contact_email" in entries(datamap)  # remembered, not dropped


def test_an_unreadable_unit_is_listed_and_retried(store, detectors) -> None:
    data = crm()
    data["payroll"] = {"locked": []}
    tables = MemoryTables(data)
    datamap = sweep({"crm": tables}, store, detectors).run()
    unreadable = datamap.public()["coverage"]["unreadable"]
    assert unreadable == [{"system": "crm", "unit": "payroll", "kind": "table",
                           "reason": "permission denied reading the table"}]
    again = MemoryTables(data)
    sweep({"crm": again}, store, detectors).run()
    assert again.reads == ["payroll"]  # unreadable last time: tried again


def test_policy_detections_map_to_other_groups(store, detectors) -> None:
    datamap = sweep({"crm": MemoryTables(crm())}, store, detectors,
                    groups={"phone": ["Communications"]}).run()
    assert entries(datamap)["contacts.mobile"]["categories"] == ["Communications"]
    # the container's [[mapping]] group joins the detectors' groups
    mapped = sweep({"crm": MemoryTables(crm())}, store, detectors,
                   mapped_group=lambda system, table: "Transactional" if table == "orders"
                   else None).run(full=True)
    assert entries(mapped)["orders.contact_email"]["categories"] == ["Contact",
                                                                     "Transactional"]
    assert entries(mapped)["contacts.email"]["categories"] == ["Contact"]
    with pytest.raises(ConfigError, match="no plugin registers"):
        sweep({"crm": MemoryTables(crm())}, store, detectors, groups={"phne": ["Contact"]})


def test_a_connector_without_sampling_is_skipped(store, detectors) -> None:
    class CheckOnly:
        capabilities = frozenset({"check"})

    datamap = sweep({"manual": CheckOnly()}, store, detectors).run()
    assert datamap.systems[0].status == "skipped" and not datamap.entries
