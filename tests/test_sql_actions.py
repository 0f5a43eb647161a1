"""The SQL connector's write actions on SQLite, PostgreSQL and MariaDB (and SQL Server when
DSR_TEST_MSSQL_URL is set): erase (delete, anonymise), suppress, restrict, rectify.

One estate per backend (``tests/sql_estate.py`` plus suppress/restrict marker columns and
an ``audit_notes`` table the connector is told to leave out); each test acts on people the
others leave alone: Jane (contact 1) is deleted, Sam (contact 3) survives a failed erasure,
Omar (contact 6), Sam's customer row and Mark's prospect row are anonymised, Bob (contact 2)
is suppressed and restricted, Alice (contact 5) is rectified.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from structlog.testing import capture_logs

from agent.errors import ConfigError, ConnectorError
from agent.models import Finding
from agent.plans import Outcome, PlanItem
from connectors.sql import SqlConnector
from tests.conftest import SQL_BACKENDS, TestDatabase
from tests.sql_estate import (
    CYCLE_UPDATES,
    ROWS,
    ROWS_ORDER,
    build_metadata,
    builtin_detectors,
    by_subject,
    make_connector,
    populated,
    row_counts,
    subject,
)

MARKED = ("contacts", "prospects")
TABLE_OPTIONS: dict[str, Any] = {
    "contacts": {"suppress": "do_not_contact", "restrict": {"restricted": True}},
    "prospects": {"suppress": "do_not_contact"},
    "customers": {"erasure": "anonymise"},
    "legacy_people": {"anonymise": {"given": "-", "family": "-", "handle": "gone"}},
}


def _build(engine: sa.Engine, schema: str | None = None) -> None:
    """The test estate, with marker columns and a table the connector is told to exclude
    whose row refers to Sam (contact 3): deleting Sam must fail on it."""
    md = build_metadata(schema)
    prefix = f"{schema}." if schema else ""
    for name in MARKED:
        table = md.tables[prefix + name]
        for column in ("do_not_contact", "restricted"):
            table.append_column(sa.Column(column, sa.Boolean, server_default=sa.false()))
    sa.Table("audit_notes", md,
             sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
             sa.Column("contact_id", sa.Integer, sa.ForeignKey(prefix + "contacts.id"),
                       nullable=False),
             sa.Column("note", sa.String(100)))
    md.create_all(engine)
    with engine.begin() as conn:
        for name in ROWS_ORDER:
            conn.execute(md.tables[prefix + name].insert(), ROWS[name])
        for name, key, values in CYCLE_UPDATES:
            table = md.tables[prefix + name]
            conn.execute(table.update().where(table.c.id == key).values(**values))
        conn.execute(md.tables[prefix + "audit_notes"].insert(),
                     [{"id": 1, "contact_id": 3, "note": "complaint logged"}])


@pytest.fixture(scope="module", params=SQL_BACKENDS)
def estate(request: pytest.FixtureRequest, isolated_database) -> TestDatabase:
    return populated(isolated_database(request.param), _build)


@pytest.fixture(scope="module")
def crm(estate: TestDatabase) -> Iterator[SqlConnector]:
    connector = make_connector(estate, builtin_detectors(), exclude=["audit_notes"],
                               tables=TABLE_OPTIONS)
    yield connector
    connector.close()


@pytest.fixture(scope="module")
def engine(estate: TestDatabase) -> Iterator[sa.Engine]:
    made = estate.engine()
    yield made
    made.dispose()


# --------------------------------------------------------------------------- helpers


def loc(estate: TestDatabase, table: str, key: object) -> str:
    return f"{estate.key(table)}:{key}"


def search(crm: SqlConnector, **identifiers: object) -> dict[str, Finding]:
    return by_subject(crm.search([subject("S", **identifiers)])).get("S", {})


def item(locator: str, action: str, **extra: Any) -> PlanItem:
    return PlanItem(id=f"crm:{locator}", action=action, reason="test", system="crm",
                    kind="row", locator=locator, **extra)


def row(engine: sa.Engine, estate: TestDatabase, table: str, **key: Any) -> dict | None:
    t = sa.Table(table, sa.MetaData(), autoload_with=engine, schema=estate.schema)
    where = sa.and_(*(t.c[k] == v for k, v in key.items()))
    with engine.connect() as conn:
        found = conn.execute(sa.select(t).where(where)).mappings().first()
    return dict(found) if found else None


def statuses(outcomes: list[Outcome]) -> dict[str, str]:
    return {o.item_id.partition(":")[2]: o.status for o in outcomes}


def owned(findings: dict[str, Finding], root: str) -> list[str]:
    """The root row and every row reached through links from it."""
    ids = {f"crm:{root}"}
    grew = True
    while grew:
        grew = False
        for finding in findings.values():
            if finding.internal_parent in ids and finding.id not in ids:
                ids.add(finding.id)
                grew = True
    return sorted(i.partition(":")[2] for i in ids)


# --------------------------------------------------------------------------- erase: delete


def test_delete_a_contact_and_everything_linked_to_it(crm, estate, engine):
    jane = loc(estate, "contacts", 1)
    found = search(crm, email="jane.doe@example.com")
    locators = owned(found, jane)
    assert {loc(estate, "tickets", 1), loc(estate, "tickets", 2), loc(estate, "sim_cards", 1),
            loc(estate, "marketing_preferences", "1,email")} <= set(locators)
    before = row_counts(engine, estate.schema)
    # the parent listed first: the connector orders children before parents itself
    items = [item(jane, "delete")] + [item(x, "delete") for x in locators if x != jane]
    with capture_logs() as logs:
        outcomes = list(crm.erase(items))
    assert all(o.status == "done" and o.counts == {"rows": 1} for o in outcomes)
    assert [o.item_id for o in outcomes] == [i.id for i in items]
    after = row_counts(engine, estate.schema)
    gone = {t: before[t] - after[t] for t in before if before[t] != after[t]}
    assert gone == {"contacts": 1, "marketing_preferences": 2, "credit_checks": 1,
                    "call_logs": 2, "devices": 1, "sim_cards": 1, "tickets": 2,
                    "web_sessions": 2}
    # Bob and Alice were referred by Jane: their rows stay, the pointer to her is cleared
    assert row(engine, estate, "contacts", id=2)["referred_by"] is None
    assert row(engine, estate, "contacts", id=5)["referred_by"] is None
    assert row(engine, estate, "tickets", id=3) is not None  # Bob's ticket mentioning her
    assert loc(estate, "contacts", 1) not in search(crm, email="jane.doe@example.com")
    [line] = [entry for entry in logs if entry["event"] == "sql.action"]
    assert line["action"] == "erase" and line["items"] == len(items) and line["done"] == len(items)
    assert line["detached"] == 2
    assert "jane" not in repr(logs).lower()

    again = list(crm.erase(items))  # a re-run changes nothing more
    assert {o.status for o in again} == {"absent"}
    assert row_counts(engine, estate.schema) == after


def test_a_failure_mid_erasure_rolls_everything_back(crm, estate, engine):
    # audit_notes (left out of the connector's view) still refers to Sam: deleting his
    # contact row fails after his preferences and credit check were deleted
    sam = loc(estate, "contacts", 3)
    items = [item(sam, "delete"), item(loc(estate, "marketing_preferences", "3,post"), "delete"),
             item(loc(estate, "credit_checks", 2), "delete")]
    before = row_counts(engine, estate.schema)
    with pytest.raises(ConnectorError) as caught:
        crm.erase(items)
    message = str(caught.value)
    assert "contacts" in message and "rolled back" in message
    assert "sam" not in message.lower() and "example" not in message
    assert row_counts(engine, estate.schema) == before
    assert row(engine, estate, "credit_checks", id=2) is not None


# --------------------------------------------------------------------------- erase: anonymise


def test_anonymise_keeps_the_row_and_removes_the_person(crm, estate, engine):
    omar = loc(estate, "contacts", 6)
    assert omar in search(crm, email="omar.khan@example.com")
    [outcome] = crm.erase([item(omar, "anonymise")])
    assert outcome.status == "done" and outcome.counts["rows"] == 1
    kept = row(engine, estate, "contacts", id=6)
    assert kept is not None
    assert {k: kept[k] for k in ("first_name", "last_name", "email", "mobile", "postcode")} \
        == dict.fromkeys(("first_name", "last_name", "email", "mobile", "postcode"))
    assert omar not in search(crm, email="omar.khan@example.com", phone="07700 900654",
                              name="Omar Khan")
    assert [o.status for o in crm.erase([item(omar, "anonymise")])] == ["absent"]


def test_anonymise_fills_not_null_columns_with_a_placeholder(crm, estate, engine):
    customer = loc(estate, "customers", 2)  # the sole trader's account row
    [outcome] = crm.erase([item(customer, "anonymise")])
    assert outcome.status == "done"
    kept = row(engine, estate, "customers", id=2)
    # NOT NULL and unique: a placeholder that fits, unique per row, no personal data
    assert kept["account_number"].startswith("erased-") and len(kept["account_number"]) == 20
    assert kept["email"] is None and kept["notes"] is None and kept["phone"] is None
    assert kept["billing_account_no"] is None
    assert customer not in search(crm, account="CAN-002002")
    assert customer not in search(crm, email="sam.trader@example.co.uk")
    # the table's erasure setting is "anonymise": a delete is refused before anything runs
    with pytest.raises(ConnectorError, match="does not allow 'delete'"):
        crm.erase([item(loc(estate, "customers", 3), "delete")])
    assert row(engine, estate, "customers", id=3) is not None


def test_anonymise_rows_without_a_key_and_with_fixed_values(crm, estate, engine):
    found = search(crm, email="mark.lee@example.com")
    [mark] = [x for x in found if x.startswith(estate.key("prospects") + ":#")]
    [outcome] = crm.erase([item(mark, "anonymise")])
    assert outcome.status == "done"
    assert row_counts(engine, estate.schema)["prospects"] == 2
    assert not search(crm, email="mark.lee@example.com", phone="07700 900888")
    assert [o.status for o in crm.erase([item(mark, "anonymise")])] == ["absent"]

    legacy = loc(estate, "legacy_people", "L-2")  # anonymise = { given = "-", ... }
    assert crm.erase([item(legacy, "anonymise")])
    kept = row(engine, estate, "legacy_people", ref="L-2")
    assert (kept["given"], kept["family"], kept["handle"]) == ("-", "-", "gone")
    assert kept["remarks"] is None or kept["remarks"] == ROWS["legacy_people"][1]["remarks"]


# --------------------------------------------------------------------------- suppress, restrict


def test_suppress_and_restrict_set_the_configured_markers(crm, estate, engine):
    bob = loc(estate, "contacts", 2)
    assert statuses(list(crm.suppress([item(bob, "suppress")]))) == {bob: "done"}
    assert row(engine, estate, "contacts", id=2)["do_not_contact"] in (True, 1)
    assert statuses(list(crm.suppress([item(bob, "suppress")]))) == {bob: "absent"}
    assert row(engine, estate, "contacts", id=2)["restricted"] in (False, 0)  # MariaDB: 0/1
    assert statuses(list(crm.restrict([item(bob, "restrict")]))) == {bob: "done"}
    assert row(engine, estate, "contacts", id=2)["restricted"] in (True, 1)
    assert statuses(list(crm.restrict([item(bob, "restrict"),
                                       item(loc(estate, "contacts", 99), "restrict")]))) \
        == {bob: "absent", loc(estate, "contacts", 99): "absent"}
    # no restrict marker on prospects: refused, nothing changed
    found = search(crm, email="bob.smith@example.com")
    signup = found[loc(estate, "newsletter_signups", "NS-0002")]
    with pytest.raises(ConnectorError, match="no restrict marker"):
        crm.restrict([item(signup.locator, "restrict")])


def test_actions_for_follow_markers_and_erasure_settings(crm, estate):
    found = search(crm, email="bob.smith@example.com")
    bob = found[loc(estate, "contacts", 2)]
    assert crm.actions_for(bob) == {"delete", "anonymise", "suppress", "restrict", "rectify",
                                    "export"}
    signup = found[loc(estate, "newsletter_signups", "NS-0002")]
    assert crm.actions_for(signup) == {"delete", "anonymise", "rectify", "export"}
    customer = Finding(system="crm", kind="row", locator=loc(estate, "customers", 1),
                       container=estate.key("customers"))
    assert crm.actions_for(customer) == {"anonymise", "rectify", "export"}
    linked = [f for f in found.values() if f.container == estate.key("marketing_preferences")]
    assert linked and crm.actions_for(linked[0]) == {"delete", "anonymise", "export"}
    assert crm.actions_for(Finding(system="other", kind="row", locator=bob.locator)) == set()


# --------------------------------------------------------------------------- rectify


def test_rectify_sets_verifies_and_is_found_again(crm, estate, engine):
    alice = loc(estate, "contacts", 5)
    changes = {"email": "alice.brown@example.com", "name": "Alice Brown-Green",
               "dob": "1988-04-30"}
    other = loc(estate, "credit_checks", 2)  # no column for any of the fields
    outcomes = list(crm.rectify([item(alice, "rectify"), item(other, "rectify")], changes))
    assert statuses(outcomes) == {alice: "done", other: "skipped"}
    assert outcomes[0].counts == {"fields": 3, "columns": 4}
    stored = row(engine, estate, "contacts", id=5)
    assert (stored["email"], stored["first_name"], stored["last_name"]) == \
        ("alice.brown@example.com", "Alice", "Brown-Green")
    assert stored["dob"].isoformat() == "1988-04-30"
    assert alice in search(crm, email="alice.brown@example.com")
    assert alice not in search(crm, email="alice.green@example.com")
    assert statuses(list(crm.rectify([item(alice, "rectify")], changes))) == {alice: "absent"}


def test_rectify_refuses_what_it_cannot_place(crm, estate, engine):
    alice = loc(estate, "contacts", 5)
    before = row(engine, estate, "contacts", id=5)
    # two phone columns on contacts: the operator must name one
    with pytest.raises(ConnectorError, match="ambiguous") as caught:
        crm.rectify([item(alice, "rectify")], {"email": "a@example.com", "phone": "07700900999"})
    assert "07700900999" not in str(caught.value)
    with pytest.raises(ConnectorError, match="neither an identifier type nor a column"):
        crm.rectify([item(alice, "rectify")], {"emial": "a@example.com"})
    assert row(engine, estate, "contacts", id=5) == before
    [outcome] = crm.rectify([item(alice, "rectify")], {"contacts.mobile": "07700 900999"})
    assert outcome.status == "done"
    assert row(engine, estate, "contacts", id=5)["mobile"] == "07700 900999"


# --------------------------------------------------------------------------- unknown places


def test_unknown_rows_are_absent_and_unknown_tables_an_error(crm, estate):
    outcomes = list(crm.erase([item(loc(estate, "contacts", 404), "delete"),
                               item(loc(estate, "contacts", "not-a-number"), "delete")]))
    assert {o.status for o in outcomes} == {"absent"}
    with pytest.raises(ConnectorError, match="no table 'audit_notes'"):
        crm.erase([item("audit_notes:1", "delete")])
    with pytest.raises(ConnectorError, match="no table"):
        crm.suppress([item("nowhere:1", "suppress")])
    assert list(crm.erase([])) == []


def test_options_name_real_columns(estate):
    connector = make_connector(estate, builtin_detectors(), exclude=["audit_notes"],
                               tables={"contacts": {"suppress": "dnc"}})
    try:
        with pytest.raises(ConfigError, match="no column 'dnc'"):
            connector.catalog()
    finally:
        connector.close()
