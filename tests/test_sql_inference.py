"""Zero-config inference on every backend: identity columns from names and sampled values,
free text, who a customer row is about, links and references from column names, schemas;
and the cost model: reflect once, one statement per table for a whole batch."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from agent.errors import ConfigError
from agent.models import Identifier, Subject
from connectors.sql import SqlConnector
from tests.conftest import SQL_BACKENDS, TestDatabase
from tests.sql_estate import (
    builtin_detectors,
    by_subject,
    create_estate,
    make_connector,
    populated,
    subject,
)

ACCOUNTS = [  # (id, account_ref, proprietor_name, legal_form, crn) -> expected party
    ((1, "AC-0001", "Ann Baker", "Sole Trader", None), "person"),
    ((2, "AC-0002", "Bob Baker", "Private Limited Company", "01234567"), "organisation"),
    ((3, "AC-0003", "Cat Crumb", None, "07654321"), "organisation"),
    ((4, "AC-0004", "Dan Dough", "LLP", None), "organisation"),
    ((5, "AC-0005", "Eve Ives", "partnership", None), "person"),
    ((6, "AC-0006", "Gail Hart", "other", None), None),
]
PROSE = "Member phoned to say she is moving house next month; wants paper bills stopped."


def build(engine: sa.Engine, schema: str | None) -> None:
    md = sa.MetaData(schema=schema)
    sa.Table("members", md,
             sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
             sa.Column("display_name", sa.String(80)),
             sa.Column("contact_addr", sa.String(120)),  # e-mail, known by its values
             sa.Column("tel", sa.String(30)),
             sa.Column("history", sa.Text),  # prose, named like nothing in particular
             sa.Column("status", sa.Text),  # short codes in a TEXT column: not free text
             sa.Column("sim_id", sa.Integer))  # a link to sims.id, not a SIM number
    sa.Table("sims", md,
             sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
             sa.Column("iccid", sa.String(22)))
    sa.Table("accounts", md,
             sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
             sa.Column("account_ref", sa.String(20)),
             sa.Column("proprietor_name", sa.String(80)),
             sa.Column("legal_form", sa.String(40)),
             sa.Column("crn", sa.String(8)))
    sa.Table("visits", md,
             sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
             sa.Column("member_id", sa.Integer),  # -> members.id, inferred
             sa.Column("customer_id", sa.Integer),  # no customers table: another system's
             sa.Column("page", sa.String(200)))
    sa.Table("orders", md,
             sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
             sa.Column("memberId", sa.Integer),  # camelCase -> members.id
             sa.Column("item", sa.String(60)))
    md.create_all(engine)
    table = {t.name: t for t in md.tables.values()}
    with engine.begin() as conn:
        conn.execute(table["members"].insert(), [
            dict(id=i, display_name=f"Member {i}", contact_addr=f"member{i}@example.com",
                 tel=f"07700 900{i:03d}", history=PROSE if i % 2 else None,
                 status="active" if i % 3 else "lapsed", sim_id=None) for i in range(1, 13)])
        conn.execute(table["accounts"].insert(), [
            dict(zip(("id", "account_ref", "proprietor_name", "legal_form", "crn"), row,
                     strict=True)) for row, _ in ACCOUNTS])
        conn.execute(table["visits"].insert(), [
            dict(id=1, member_id=3, customer_id=42, page="/tariffs"),
            dict(id=2, member_id=4, customer_id=7, page="/help")])
        conn.execute(table["orders"].insert(), [dict(id=1, memberId=3, item="SIM")])


@pytest.fixture(scope="module", params=SQL_BACKENDS)
def database(request: pytest.FixtureRequest, isolated_database) -> TestDatabase:
    return populated(isolated_database(request.param), build)


@pytest.fixture(scope="module")
def detectors() -> list:
    return builtin_detectors()


@pytest.fixture
def connect(database: TestDatabase, detectors: list) -> Iterator[Any]:
    made: list[SqlConnector] = []

    def make(**options: Any) -> SqlConnector:
        connector = make_connector(database, detectors, **options)
        made.append(connector)
        return connector

    yield make
    for connector in made:
        connector.close()


def inventory(connector: SqlConnector) -> dict[str, dict[str, Any]]:
    return {c.name.rpartition(".")[2]: {"items": c.items, **c.notes}
            for c in connector.discover()}


def test_identity_columns_from_names_and_values(connect):
    tables = inventory(connect())
    members = tables["members"]
    assert members["items"] == 12
    assert members["identity"]["email"] == ["contact_addr"]
    assert members["inferred_from"]["contact_addr"] == "values"
    assert members["identity"]["phone"] == ["tel"]
    assert members["inferred_from"]["tel"] == "name"
    assert members["free_text"] == ["history"]  # prose; "status" holds short codes
    assert "device_id" not in members["identity"]
    assert [link for link in members["links"] if "members.sim_id \u2192 " in link
            and link.endswith("sims.id")]
    assert tables["sims"]["identity"] == {"device_id": ["iccid"]}
    assert tables["accounts"]["identity"]["account"] == ["account_ref"]
    assert tables["accounts"]["identity"]["company_number"] == ["crn"]
    assert tables["accounts"]["party"] is True and tables["members"]["person"] is True
    assert "Contact" in members["categories"]


def test_found_by_a_value_inferred_column(connect, database):
    found = by_subject(connect().search([subject("S", email="MEMBER3@example.com")]))["S"]
    assert found[f"{database.key('members')}:3"].matched == ["email"]
    # linked by inferred names: member_id and camelCase memberId
    assert found[f"{database.key('visits')}:1"].internal_link == (
        f"{database.key('visits')}.member_id \u2192 {database.key('members')}.id")
    assert found[f"{database.key('orders')}:1"].internal_parent == \
        f"crm:{database.key('members')}:3"
    assert f"{database.key('visits')}:2" not in found


def test_who_a_customer_row_is_about(connect, database):
    crm = connect()
    subjects = [subject(f"A{row[0]}", account=row[1]) for row, _ in ACCOUNTS]
    found = by_subject(crm.search(subjects))
    for row, party in ACCOUNTS:
        finding = found[f"A{row[0]}"][f"{database.key('accounts')}:{row[0]}"]
        assert finding.internal_party == party, row
        if party == "person":
            assert finding.internal_values["customer_id"] == {str(row[0])}
        else:
            assert "customer_id" not in finding.internal_values
    assert found["A1"][f"{database.key('accounts')}:1"].internal_holder == "ann baker"
    assert found["A2"][f"{database.key('accounts')}:2"].internal_holder is None


def test_another_systems_ids_in_a_column_named_for_them(connect, database):
    web = make_connector(database, builtin_detectors(), name="web")
    try:
        scoped = Subject(ref="S", identifiers=[
            Identifier("customer_id#1", "customer_id", "42", scope="crm.customers"),
            Identifier("customer_id#2", "customer_id", "7", scope="web.customers")])
        found = by_subject(web.search([scoped]))["S"]
    finally:
        web.close()
    visit = found[f"{database.key('visits')}:1"]
    assert visit.internal_matched_ids == {"customer_id#1"}  # our own scope is ignored
    assert f"{database.key('visits')}:2" not in found
    unscoped = by_subject(connect().search([subject("U", customer_id="42")]))
    assert f"{database.key('visits')}:1" not in unscoped.get("U", {})


def statement_counter(connector: SqlConnector) -> list[str]:
    seen: list[str] = []
    sa.event.listen(connector.engine, "before_cursor_execute",
                    lambda conn, cursor, statement, *rest: seen.append(statement))
    return seen


def test_reflects_once_and_batches_cost_no_more_statements(database, detectors):
    crm = make_connector(database, detectors)
    seen = statement_counter(crm)
    try:
        crm.search([subject("S", email="member3@example.com")])
        first = len(seen)
        seen.clear()
        crm.search([subject("S", email="member3@example.com")])
        second = len(seen)
        seen.clear()
        crowd = [subject(f"S{i}", email=f"stranger{i}@example.com", phone=f"07700 900{i:03d}")
                 for i in range(200, 240)]
        crm.search([subject("S", email="member3@example.com"), *crowd])
        batch = len(seen)
    finally:
        crm.close()
    assert first > second  # the first search reflected and sampled the schema
    # one statement per table searched, plus links followed and the free-text scan
    assert second <= 6
    assert batch <= second + 2  # 41 subjects: the same statements, longer IN lists


def test_schema_option(isolated_database, detectors):
    """Schemas other than the default, on PostgreSQL: locators name the schema."""
    database = isolated_database("postgresql")
    engine = database.engine()
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE SCHEMA crm2"))
    create_estate(engine, "crm2")
    engine.dispose()
    crm = make_connector(database, detectors, schema="crm2")
    public = make_connector(database, detectors, schema="public")
    missing = make_connector(database, detectors, schema="nope")
    try:
        found = by_subject(crm.search([subject("S", email="jane.doe@example.com")]))["S"]
        assert found["crm2.contacts:1"].container == "crm2.contacts"
        assert found["crm2.credit_checks:1"].internal_link == \
            "crm2.credit_checks.contact_id \u2192 crm2.contacts.id"
        rows = list(crm.read([found["crm2.contacts:1"]]))
        assert rows[0]["table"] == "crm2.contacts"
        assert not [c.name for c in public.discover() if c.name.startswith("crm2.")]
        with pytest.raises(ConfigError) as caught:
            missing.search([subject("S", email="jane.doe@example.com")])
        assert caught.value.key == "systems.crm.schema"
    finally:
        for connector in (crm, public, missing):
            connector.close()
