"""The SQL connector's samples for discovery sweeps, on SQLite, PostgreSQL and MariaDB (and
SQL Server's statements rendered without a server).

A small estate per backend: ``people`` (5,000 rows: identity, free-text and other columns),
``orders`` linked to it, an empty table, a table whose name has spaces and quotes, and an
``audit_log`` the system excludes from request search.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mssql, mysql, postgresql, sqlite

from agent.connector import Container
from agent.errors import ConnectorError
from agent.sampling import Sample, SampleOptions
from agent.subjects import subject_from_pairs
from connectors.sql import SqlConnector
from connectors.sql.sample import NOT_SEARCHED, SampleQuery
from tests.conftest import LOCAL_SQL_BACKENDS, TestDatabase
from tests.sql_estate import builtin_detectors, make_connector

PEOPLE = 5_000
N = 1_000
WEIRD = 'odd "quoted" table'
COLOURS = ("red", "green", "blue")


def build(schema: str | None = None) -> sa.MetaData:
    md = sa.MetaData(schema=schema)
    prefix = f"{schema}." if schema else ""
    sa.Table("people", md,
             sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
             sa.Column("email", sa.String(120)),
             sa.Column("mobile", sa.String(30)),
             sa.Column("score", sa.Integer),
             sa.Column("balance", sa.Numeric(10, 2)),
             sa.Column("colour", sa.String(20)),
             sa.Column("notes", sa.Text))
    sa.Table("orders", md,
             sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
             sa.Column("person_id", sa.Integer, sa.ForeignKey(f"{prefix}people.id")),
             sa.Column("product", sa.String(60)))
    sa.Table("empty_things", md,
             sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
             sa.Column("email", sa.String(120)))
    sa.Table(WEIRD, md,
             sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
             sa.Column("e-mail address", sa.String(120)),
             sa.Column("it's", sa.String(20)))
    sa.Table("audit_log", md,
             sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
             sa.Column("actor_email", sa.String(120)),
             sa.Column("blob", sa.LargeBinary))
    return md


def people_rows(start: int, stop: int) -> list[dict[str, Any]]:
    return [{"id": i, "email": f"person{i}@example.com", "mobile": f"07700 9{i % 1000:05d}",
             "score": i % 97, "balance": Decimal(f"{i % 500}.25"),
             "colour": COLOURS[i % 3],
             "notes": f"Called on 01632 96{i % 1000:04d} about the contract" if i % 4 else None}
            for i in range(start, stop)]


@pytest.fixture(scope="module", params=LOCAL_SQL_BACKENDS)
def estate(request: pytest.FixtureRequest, isolated_database) -> TestDatabase:
    database: TestDatabase = isolated_database(request.param)
    engine = database.engine()
    md = build(database.schema)
    md.create_all(engine)
    with engine.begin() as conn:
        conn.execute(md.tables["people"].insert(), people_rows(1, PEOPLE + 1))
        conn.execute(md.tables["orders"].insert(),
                     [{"id": i, "person_id": i, "product": "SIM only"} for i in range(1, 51)])
        conn.execute(md.tables[WEIRD].insert(),
                     [{"id": 1, "e-mail address": "odd@example.co.uk", "it's": "yes"}])
        conn.execute(md.tables["audit_log"].insert(),
                     [{"id": 1, "actor_email": "admin@example.com", "blob": b"\x00\xff" * 10},
                      {"id": 2, "actor_email": "ops@example.com", "blob": b"short text"}])
    engine.dispose()
    return database


@pytest.fixture
def crm(estate: TestDatabase) -> Iterator[SqlConnector]:
    connector = make_connector(estate, builtin_detectors(), exclude=["audit_*"])
    yield connector
    connector.close()


def containers(connector: SqlConnector) -> dict[str, Container]:
    return {c.name: c for c in connector.discover()}


def sample_of(connector: SqlConnector, table: str, options: SampleOptions | None = None,
              container: Container | None = None) -> Sample:
    container = container or containers(connector).get(table) or Container(table, "table")
    [unit] = list(connector.sample(container, options or SampleOptions(values_per_column=N)))
    return unit


def fields(unit: Sample) -> dict[str, Any]:
    return {f.column: f for f in unit.fields}


def test_sample_declared():
    assert "sample" in SqlConnector.capabilities
    assert SqlConnector.validate_registration() is None


def test_limit_respected_and_rows_are_random(crm, estate):
    unit = sample_of(crm, "people")
    assert unit.error is None and not unit.unchanged and unit.kind == "table"
    assert unit.unit == "people"
    got = fields(unit)
    assert set(got) == {"id", "email", "mobile", "score", "balance", "colour", "notes"}
    ids = got["id"].values
    assert len(ids) == N and len(set(ids)) == N
    assert max(ids) > N + 500  # not simply the first N rows
    for field in unit.fields:
        assert field.kind == "column" and field.size == PEOPLE
        assert field.container == f"people.{field.column}"
        assert len(field.values) <= N
    # non-null values only: a quarter of the notes are NULL
    assert 0 < len(got["notes"].values) < N
    assert all(v is not None for v in got["notes"].values)


def test_numbers_stay_numbers(crm):
    got = fields(sample_of(crm, "people", SampleOptions(values_per_column=50)))
    assert all(isinstance(v, int) and not isinstance(v, bool) for v in got["id"].values)
    assert all(isinstance(v, int) for v in got["score"].values)
    assert all(isinstance(v, Decimal | float) for v in got["balance"].values)
    assert all(isinstance(v, str) for v in got["email"].values)


def test_searched_flags(crm):
    people = fields(sample_of(crm, "people", SampleOptions(values_per_column=20)))
    assert people["email"].searched and people["mobile"].searched
    assert people["notes"].searched  # free text is scanned
    for name in ("colour", "score", "balance"):
        assert not people[name].searched
        assert people[name].not_searched_because == NOT_SEARCHED
    orders = fields(sample_of(crm, "orders", SampleOptions(values_per_column=20)))
    assert orders["person_id"].searched  # a link, followed from a matched person
    assert not orders["product"].searched


def test_free_text_off_is_the_reason(estate):
    connector = make_connector(estate, builtin_detectors(), exclude=["audit_*"],
                               free_text=False)
    try:
        notes = fields(sample_of(connector, "people", SampleOptions(values_per_column=5)))
        assert not notes["notes"].searched
        assert "free_text = false" in (notes["notes"].not_searched_because or "")
    finally:
        connector.close()


def test_excluded_table_is_sampled_but_not_searched(crm):
    listed = containers(crm)
    assert "exclude pattern 'audit_*'" in listed["audit_log"].notes["excluded"]
    unit = sample_of(crm, "audit_log", container=listed["audit_log"])
    assert unit.error is None
    got = fields(unit)
    assert sorted(got["actor_email"].values) == ["admin@example.com", "ops@example.com"]
    assert all(not f.searched and "exclude pattern 'audit_*'" in (f.not_searched_because or "")
               for f in unit.fields)
    # binary that is short text is decoded; other binary is left out
    assert got["blob"].values == ["short text"]
    # a table that does not exist at all is an error, not a sample
    missing = sample_of(crm, "no_such_table", container=Container("no_such_table", "table"))
    assert missing.error and "no_such_table" in missing.error and not missing.fields


def test_empty_table(crm):
    unit = sample_of(crm, "empty_things")
    assert unit.error is None and unit.fingerprint
    assert {f.column: (list(f.values), f.size) for f in unit.fields} == {
        "id": ([], 0), "email": ([], 0)}


def test_weird_identifiers(crm):
    unit = sample_of(crm, WEIRD)
    assert unit.error is None, unit.error
    got = fields(unit)
    assert got["e-mail address"].values == ["odd@example.co.uk"]
    assert got["e-mail address"].container == f"{WEIRD}.e-mail address"
    assert got["it's"].values == ["yes"]


def test_fingerprint_changes_with_rows_and_columns_only(crm, estate):
    options = SampleOptions(values_per_column=10)
    first = sample_of(crm, "orders", options).fingerprint
    assert sample_of(crm, "orders", options).fingerprint == first
    assert sample_of(crm, "orders", SampleOptions(values_per_column=20, seed=7)
                     ).fingerprint == first  # how much is read is not the table's state
    engine = estate.engine()
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO orders (id, person_id, product) "
                                 "VALUES (1000, 1, 'Broadband')"))
        more_rows = sample_of(crm, "orders", options).fingerprint
        assert more_rows != first
        with engine.begin() as conn:
            conn.execute(sa.text("ALTER TABLE orders ADD COLUMN gift_note VARCHAR(40)"))
        more_columns = sample_of(crm, "orders", options)
        assert more_columns.fingerprint not in (first, more_rows)
        # the column added since the connector read the schema is sampled too
        assert "gift_note" in fields(more_columns)
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM orders WHERE id = 1000"))
        engine.dispose()


def test_unchanged_unit_is_skipped_without_reading(crm):
    seen = sample_of(crm, "people", SampleOptions(values_per_column=10))
    asked: list[tuple[str, str]] = []
    statements: list[str] = []

    def unchanged(unit: str, fp: str) -> bool:
        asked.append((unit, fp))
        return fp == seen.fingerprint

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    people = containers(crm)["people"]
    sa.event.listen(crm.engine, "before_cursor_execute", record)
    try:
        [unit] = list(crm.sample(people, SampleOptions(values_per_column=10,
                                                      unchanged=unchanged)))
    finally:
        sa.event.remove(crm.engine, "before_cursor_execute", record)
    assert asked == [("people", seen.fingerprint)]
    assert unit.unchanged and unit.fingerprint == seen.fingerprint and not unit.fields
    assert not any("notes" in s.lower() for s in statements), "rows were read"


def test_unreadable_table_is_an_error_and_the_sweep_goes_on(crm, estate):
    """A table dropped since the schema was read (every backend)."""
    engine = estate.engine()
    name = f"gone_{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE {name} (id INTEGER PRIMARY KEY, email VARCHAR(80))"))
    connector = make_connector(estate, builtin_detectors(), exclude=["audit_*"])
    try:
        listed = containers(connector)
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE {name}"))
        unit = sample_of(connector, name, container=listed[name])
        assert unit.error and name in unit.error and "no longer exists" in unit.error
        assert not unit.fields
        assert sample_of(connector, "orders", container=listed["orders"]).error is None
    finally:
        connector.close()
        engine.dispose()


# --------------------------------------------------------------------------- permissions


@pytest.fixture
def limited(estate: TestDatabase) -> Iterator[tuple[TestDatabase, str]]:
    """A login that may read every table now (so the schema can be read), for a test to
    revoke one table from: (database as that login, revoke statement)."""
    assert estate.backend != "sqlite", "SQLite has no permissions"
    role = f"dsr_sampler_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(estate.url, isolation_level="AUTOCOMMIT")
    url = sa.make_url(estate.url)
    if estate.backend == "postgresql":
        setup = [f'CREATE ROLE "{role}" LOGIN', f'GRANT SELECT ON ALL TABLES IN SCHEMA public '
                 f'TO "{role}"']
        revoke = f'REVOKE SELECT ON people FROM "{role}"'
        teardown = [f'REVOKE ALL ON ALL TABLES IN SCHEMA public FROM "{role}"',
                    f'DROP ROLE "{role}"']
    else:
        setup = [f"CREATE USER '{role}'@'%'", f"CREATE USER '{role}'@'localhost'"]
        for host in ("%", "localhost"):
            setup += [f"GRANT SELECT ON `{url.database}`.`{t}` TO '{role}'@'{host}'"
                      for t in ("people", "orders", "empty_things", WEIRD)]
        revoke = (f"REVOKE SELECT ON `{url.database}`.`people` FROM '{role}'@'%'; "
                  f"REVOKE SELECT ON `{url.database}`.`people` FROM '{role}'@'localhost'")
        teardown = [f"DROP USER '{role}'@'%'", f"DROP USER '{role}'@'localhost'"]
    with engine.connect() as conn:
        for statement in setup:
            conn.execute(sa.text(statement))
    as_role = TestDatabase(estate.backend, url.set(username=role).render_as_string(False))
    try:
        yield as_role, revoke
    finally:
        with engine.connect() as conn:
            for statement in teardown:
                conn.execute(sa.text(statement))
        engine.dispose()


@pytest.mark.parametrize("estate", ["postgresql", "mariadb"], indirect=True)
def test_permission_denied_is_an_error_naming_the_table(estate, limited):
    database, revoke = limited
    connector = make_connector(database, builtin_detectors())
    admin = sa.create_engine(estate.url, isolation_level="AUTOCOMMIT")
    try:
        listed = containers(connector)
        assert "people" in listed
        with admin.connect() as conn:
            for statement in revoke.split("; "):
                conn.execute(sa.text(statement))
        unit = sample_of(connector, "people", container=listed["people"])
        assert unit.error == "system 'crm': sampling table people failed: permission denied " \
            f"(SQLSTATE {'42501' if estate.backend == 'postgresql' else '42000'}) " \
            f"[{'InsufficientPrivilege' if estate.backend == 'postgresql' else 'OperationalError'}]"
        assert not unit.fields
        assert "@example.com" not in unit.error
        # the same connection goes on with the next table
        assert sample_of(connector, "orders", container=listed["orders"]).error is None
    finally:
        connector.close()
        admin.dispose()


@pytest.mark.parametrize("estate", ["postgresql", "mariadb"], indirect=True)
def test_a_table_unreadable_from_the_start_is_listed_and_fails_search_loudly(estate, limited):
    database, revoke = limited
    statements = revoke.split("; ")
    if estate.backend == "mariadb":
        # MariaDB hides a table the login holds no privilege on at all: give it one that
        # is not SELECT, as a write-only feed table would have
        role, db = sa.make_url(database.url).username, sa.make_url(estate.url).database
        statements = [f"GRANT INSERT ON `{db}`.`people` TO '{role}'@'{host}'"
                      for host in ("%", "localhost")] + statements
    admin = sa.create_engine(estate.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for statement in statements:
            conn.execute(sa.text(statement))
    admin.dispose()
    connector = make_connector(database, builtin_detectors())
    try:
        listed = containers(connector)
        assert "permission denied" in listed["people"].notes["unreadable"]
        assert listed["orders"].items is not None  # the others are inventoried as before
        unit = sample_of(connector, "people", container=listed["people"])
        assert unit.error and "reading table people failed: permission denied" in unit.error
        assert sample_of(connector, "orders", container=listed["orders"]).error is None
        subject = subject_from_pairs("s", [("email", "someone@example.com")])
        with pytest.raises(ConnectorError, match="cannot search every table: reading table "
                                                 "people failed: permission denied"):
            list(connector.search([subject]))
    finally:
        connector.close()


# --------------------------------------------------------------------------- big tables


@pytest.mark.parametrize("items", [200_000, 3_000_000])
def test_big_table_statements_run(crm, items):
    """The statements for tables too big to sort run for real (the row count is taken as
    discover() gave it): at most N rows, no error."""
    container = Container("people", "table", items=items)
    unit = sample_of(crm, "people", SampleOptions(values_per_column=200, seed=3), container)
    assert unit.error is None, unit.error
    assert all(len(f.values) <= 200 for f in unit.fields)


def rendered(dialect: Any, count: int, limit: int = N,
             key_range: tuple[int, int] | None = None) -> str:
    table = build().tables[WEIRD]
    statement = SampleQuery(dialect, seed=42).rows(table, count, limit, key_range)
    return str(statement.compile(dialect=dialect, compile_kwargs={"render_postcompile": True}))


def test_statements_per_dialect():
    pg = postgresql.dialect()
    assert "TABLESAMPLE" not in rendered(pg, 500)
    small = rendered(pg, 5_000)
    assert "TABLESAMPLE bernoulli(30.000000) REPEATABLE (42)" in small and "LIMIT" in small
    assert '"odd ""quoted"" table"' in small
    assert "TABLESAMPLE system(" in rendered(pg, 10_000_000)

    ms = mssql.dialect()
    assert "TOP 1000" in rendered(ms, 500) and "newid" not in rendered(ms, 500)
    assert "ORDER BY newid()" in rendered(ms, 50_000)
    big = rendered(ms, 10_000_000)
    assert "TABLESAMPLE system(0.030000 PERCENT) REPEATABLE (42)" in big
    assert "TOP 1000" in big and '[odd "quoted" table]' in big

    my = mysql.dialect()
    assert "ORDER BY rand(%s)" in rendered(my, 50_000)  # the seed, bound
    ranged = rendered(my, 10_000_000, key_range=(1, 10_000_000))
    assert "WHERE" in ranged and "ORDER BY" in ranged and "rand" not in ranged
    assert "`odd \"quoted\" table`" in ranged
    assert "ORDER BY" not in rendered(my, 10_000_000)  # no key: the first rows

    lite = sqlite.dialect()
    assert "ORDER BY random()" in rendered(lite, 50_000)
    assert "ORDER BY" not in rendered(lite, 10_000_000)


def test_schema_qualified_keys(isolated_database):
    """A system searching a schema other than the default: keys are ``schema.table``."""
    database: TestDatabase = isolated_database("postgresql")
    schema = f"sales_{uuid.uuid4().hex[:6]}"
    engine = sa.create_engine(database.url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        md = build(schema)
        md.create_all(engine)
        with engine.begin() as conn:
            conn.execute(md.tables[f"{schema}.people"].insert(), people_rows(1, 11))
        connector = make_connector(database, builtin_detectors(), schema=schema,
                                   exclude=["audit_*"])
        try:
            people = sample_of(connector, f"{schema}.people")
            assert people.unit == f"{schema}.people" and people.error is None
            email = fields(people)["email"]
            assert email.container == f"{schema}.people.email" and len(email.values) == 10
            audit = sample_of(connector, f"{schema}.audit_log",
                              container=Container(f"{schema}.audit_log", "table"))
            assert audit.error is None and not any(f.searched for f in audit.fields)
        finally:
            connector.close()
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


def test_seed_repeats_the_sample_where_the_dialect_can(crm, estate):
    def ids(seed: int) -> list[Any]:
        unit = sample_of(crm, "people", SampleOptions(values_per_column=100, seed=seed))
        return list(fields(unit)["id"].values)

    if estate.backend == "sqlite":  # random() takes no seed: a different sample each time
        assert len(ids(5)) == 100
        return
    assert ids(5) == ids(5)
    assert ids(5) != ids(6)


def test_values_handed_on():
    from connectors.sql.sample import MAX_BYTES, MAX_TEXT, handed_on

    ident = uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert handed_on(ident) == str(ident)
    assert handed_on({"email": "a@example.com"}) == '{"email": "a@example.com"}'
    assert handed_on(memoryview(b"jane@example.com")) == "jane@example.com"
    assert handed_on(b"\x00\x01\xff") is None and handed_on(b"x" * (MAX_BYTES + 1)) is None
    assert handed_on("y" * (MAX_TEXT + 5)) == "y" * MAX_TEXT
    assert handed_on(7700900123) == 7700900123 and handed_on(Decimal("1.5")) == Decimal("1.5")
