"""The SQL connector through the connector conformance kit, on SQLite, PostgreSQL and MariaDB
(and SQL Server when DSR_TEST_MSSQL_URL is set): a small CRM seeded afresh for every check.

Jane Doe (contact 1, two orders) is the subject; another Jane Doe (contact 2, one order) is
the look-alike; Bob Smith (contact 3) is a bystander.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
import sqlalchemy as sa

from agent.testing import ConnectorConformance as TestSqlConformance
from agent.testing import Seed
from tests.conftest import SQL_BACKENDS, TestDatabase

CONTACTS = [
    {"id": 1, "first_name": "Jane", "last_name": "Doe", "email": "jane.doe@example.com",
     "mobile": "07700 900111"},
    {"id": 2, "first_name": "Jane", "last_name": "Doe", "email": "jane.doe@example.co.uk",
     "mobile": "07700 900222"},
    {"id": 3, "first_name": "Bob", "last_name": "Smith", "email": "bob.smith@example.com",
     "mobile": "01632 960333"},
]
ORDERS = [
    {"id": 10, "contact_id": 1, "product": "SIM only 30GB", "ordered_on": date(2024, 3, 1)},
    {"id": 11, "contact_id": 1, "product": "Broadband 500", "ordered_on": date(2024, 6, 9)},
    {"id": 20, "contact_id": 2, "product": "SIM only 10GB", "ordered_on": date(2024, 4, 2)},
    {"id": 30, "contact_id": 3, "product": "Energy fixed 12m", "ordered_on": date(2024, 5, 5)},
]


def build_tables(schema: str | None) -> sa.MetaData:
    md = sa.MetaData(schema=schema)
    prefix = f"{schema}." if schema else ""
    sa.Table("contacts", md,
             sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
             sa.Column("first_name", sa.String(60)),
             sa.Column("last_name", sa.String(60)),
             sa.Column("email", sa.String(120)),
             sa.Column("mobile", sa.String(30)),
             sa.Column("do_not_contact", sa.Boolean, nullable=False, default=False),
             sa.Column("restricted", sa.Boolean, nullable=False, default=False))
    sa.Table("orders", md,
             sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
             sa.Column("contact_id", sa.Integer, sa.ForeignKey(f"{prefix}contacts.id"),
                       nullable=False),
             sa.Column("product", sa.String(60)),
             sa.Column("ordered_on", sa.Date))
    return md


@pytest.fixture(scope="module", params=SQL_BACKENDS)
def crm(request: pytest.FixtureRequest, isolated_database) -> tuple[TestDatabase, sa.MetaData]:
    """The module's database on one backend, with the tables (emptied per test)."""
    database = isolated_database(request.param)
    metadata = build_tables(database.schema)
    engine = database.engine()
    try:
        metadata.create_all(engine)
    finally:
        engine.dispose()
    return database, metadata


@pytest.fixture
def dsr_seed(crm: tuple[TestDatabase, sa.MetaData]) -> Seed:
    database, metadata = crm
    contacts, orders = metadata.tables[database.key("contacts")], \
        metadata.tables[database.key("orders")]
    engine = database.engine()
    try:
        with engine.begin() as conn:
            conn.execute(orders.delete())
            conn.execute(contacts.delete())
            conn.execute(contacts.insert(), [{**c, "do_not_contact": False,
                                              "restricted": False} for c in CONTACTS])
            conn.execute(orders.insert(), ORDERS)
    finally:
        engine.dispose()
    return Seed(
        system={"name": "crm", "url": database.url, **database.options,
                "tables": {"contacts": {"suppress": "do_not_contact",
                                        "restrict": "restricted"}}},
        subject={"email": ["jane.doe@example.com"], "name": "Jane Doe"},
        lookalike={"email": ["jane.doe@example.co.uk"], "name": "Jane Doe"},
        rectify={"email": "jane.new@example.com"},
    )


class TestSqlAnonymise:
    """Erasure by anonymising (the row stays, the person's details go), through the same
    checks."""

    test_erase_removes_subject_only = TestSqlConformance.test_erase_removes_subject_only
    test_erase_again_changes_nothing = TestSqlConformance.test_erase_again_changes_nothing

    @pytest.fixture
    def dsr_seed(self, dsr_seed: Seed) -> Seed:
        return replace(dsr_seed, erase_action="anonymise")
