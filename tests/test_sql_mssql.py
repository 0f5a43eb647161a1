"""SQL Server's SQL without a server: every kind of statement the connector issues, built
from a real (SQLite) schema and rendered with the mssql dialect. The same search suite runs
against a live SQL Server in test_sql_search.py when DSR_TEST_MSSQL_URL is set."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mssql, mysql, postgresql, sqlite
from sqlalchemy.dialects.mssql import pymssql

from agent.models import Subject
from connectors.sql import SqlConnector
from tests.conftest import TestDatabase
from tests.sql_estate import builtin_detectors, create_estate, make_connector, subject

MSSQL = pymssql.dialect(paramstyle="pyformat")  # as create_engine sets it for pymssql
VALUES = ["jane.doe@example.com", "07700", "900123", "CAN-002002", "2002002", "Doe", "doe"]


@pytest.fixture(scope="module")
def crm(isolated_database) -> Iterator[SqlConnector]:
    database: TestDatabase = isolated_database("sqlite")
    engine = database.engine()
    create_estate(engine)
    engine.dispose()
    connector = make_connector(database, builtin_detectors())
    yield connector
    connector.close()


def jane() -> Subject:
    return subject("S", email="Jane.Doe@example.com", phone="07700 900123",
                   account="CAN-002002", name="Jane Doe")


def rendered(crm: SqlConnector, subjects: list[Subject], dialect: Any = MSSQL
             ) -> list[tuple[str, str, dict[str, Any]]]:
    out = []
    for label, statement in crm.statements(subjects, dialect=dialect):
        compiled = statement.compile(dialect=dialect,
                                     compile_kwargs={"render_postcompile": True})
        out.append((label, str(compiled), dict(compiled.params)))
    return out


def by_label(statements: list[tuple[str, str, dict[str, Any]]], label: str
             ) -> list[tuple[str, dict[str, Any]]]:
    return [(sql, params) for name, sql, params in statements if name == label]


def test_identifiers_are_always_bound_never_in_the_sql(crm):
    statements = rendered(crm, [jane()])
    assert len(statements) > 40
    bound: list[Any] = []
    for label, sql, params in statements:
        for value in VALUES:
            assert value.lower() not in sql.lower(), (label, value)
        bound += [str(v) for v in params.values()]
    for value in ("jane.doe@example.com", "07700 900123", "+447700900123", "CAN-002002",
                  "447700900123", "doe", "jane"):
        assert value in bound, value


def test_identifier_matches_on_sql_server(crm):
    statements = rendered(crm, [jane()])
    [(contacts, params)] = by_label(statements, "match:contacts")
    # SQL Server's default collation ignores case: plain IN keeps the index usable
    assert "contacts.email IN (%(" in contacts and "lower(contacts.email)" not in contacts
    assert "contacts.mobile IN (" in contacts and "contacts.work_phone IN (" in contacts
    assert "07700 900123" in params.values() and "+44 7700 900123" in params.values()
    # a phone in a BIGINT column is compared with numbers
    [(optins, optin_params)] = by_label(statements, "match:sms_optins")
    assert "sms_optins.destination IN (" in optins
    assert {447700900123, 7700900123} <= set(optin_params.values())
    # an account number in text and in an integer column
    [(customers, customer_params)] = by_label(statements, "match:customers")
    assert "customers.billing_account_no" not in customers.split("WHERE")[1]  # not digits
    assert "can-002002" in customer_params.values()
    [(customers, customer_params)] = by_label(rendered(crm, [subject("S", account="2002002")]),
                                              "match:customers")
    assert "customers.billing_account_no IN (%(" in customers
    assert 2002002 in customer_params.values() and "2002002" in customer_params.values()


def test_other_dialects_fold_case_with_lower(crm):
    for dialect in (postgresql.psycopg.dialect(), sqlite.dialect()):
        [(sql, params)] = by_label(rendered(crm, [jane()], dialect), "match:contacts")
        assert "lower(contacts.email) IN (" in sql
        assert "jane.doe@example.com" in params.values()
        assert "Jane.Doe@example.com" not in params.values()
    [(sql, _)] = by_label(rendered(crm, [jane()], mysql.pymysql.dialect()), "match:contacts")
    assert "contacts.email IN (" in sql
    # free text on PostgreSQL: lower() once per row, the patterns in one bound array
    [(sql, params)] = by_label(rendered(crm, [jane()], postgresql.psycopg.dialect()),
                               "free_text:tickets")
    assert "lower(tickets.body) LIKE ANY (%(needles)s::TEXT[])" in sql
    assert "%jane.doe@example.com%" in params["needles"]


def test_sampling_uses_top_and_brackets_quote_reserved_words(crm):
    statements = rendered(crm, [jane()])
    [(sample, _)] = by_label(statements, "sample:order")
    assert re.fullmatch(r"SELECT TOP 200 \[order\]\.id, \[order\]\.customer_id, "
                        r"\[order\]\.\[desc\]\s+FROM \[order\]", sample)
    [(column, _)] = by_label(statements, "sample_column:contacts:id")
    assert re.fullmatch(r"SELECT TOP 200 contacts\.id\s+FROM contacts\s+WHERE contacts\.id "
                        r"IS NOT NULL", column)
    reads = by_label(statements, "read:order")
    assert reads and re.search(r"FROM \[order\]\s+WHERE \[order\]\.id IN \(%\(", reads[0][0])


def test_free_text_is_a_bound_escaped_like(crm):
    statements = rendered(crm, [subject("S", email="100%_jane@example.com")])
    [(sql, params)] = by_label(statements, "free_text:tickets")
    assert "tickets.body LIKE '%' + %(" in sql and "ESCAPE '/'" in sql
    assert "100/%/_jane@example.com" in params.values()  # LIKE wildcards escaped
    many = [subject(f"S{i}", email=f"person{i}@example.com") for i in range(80)]
    [(streamed, streamed_params)] = by_label(rendered(crm, many), "free_text:tickets")
    assert "LIKE" not in streamed and "tickets.body IS NOT NULL" in streamed
    assert not streamed_params


def test_links_and_composite_keys(crm):
    statements = rendered(crm, [jane()])
    [(children, _)] = by_label(statements, "children:credit_checks:contact_id")
    assert re.search(r"FROM credit_checks\s+WHERE credit_checks\.contact_id IN \(%\(",
                     children)
    inferred = by_label(statements, "children:call_logs:contact_id")
    assert inferred  # no declared key: inferred from the column's name
    [(composite, _)] = by_label(statements, "read:marketing_preferences")
    assert ("marketing_preferences.contact_id = %(" in composite
            and "AND marketing_preferences.channel = %(" in composite)
    assert by_label(statements, "read:prospects")[0][0].startswith(
        "SELECT prospects.full_name")
    assert by_label(statements, "check")[0][0] == "SELECT %(param_1)s AS anon_1"


def test_big_batches_stay_under_the_parameter_limit(crm):
    many = [subject(f"S{i}", phone=f"07700 900{i:03d}", email=f"p{i}@example.com",
                    name=f"Person{chr(65 + i % 26)} Number{chr(65 + i // 26 % 26)}")
            for i in range(300)]
    statements = rendered(crm, many)
    contacts = by_label(statements, "match:contacts")
    assert len(contacts) > 1
    for _, sql, params in statements:
        assert len(params) <= 2000
        assert sql.count("%(") == len(params)


def test_every_statement_compiles_for_every_dialect(crm):
    for dialect in (MSSQL, mssql.dialect(), postgresql.psycopg.dialect(),
                    mysql.pymysql.dialect(), sqlite.dialect()):
        for label, statement in crm.statements([jane()], dialect=dialect):
            assert isinstance(statement, sa.sql.Executable), label
            statement.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
