"""Samples of a table for a discovery sweep: a bounded, random-ish read of its rows.

One unit per table, fingerprinted by its row count and a hash of its columns' names and
types; a table the last sweep saw so is not read again. Rows come in one statement per
table, chosen per dialect so a big table is never sorted whole:

- PostgreSQL: ``TABLESAMPLE BERNOULLI`` (rows) up to a million rows, ``SYSTEM`` (pages)
  beyond, both ``REPEATABLE (seed)``; the percentage asks for a margin over N, ``LIMIT N``
  cuts it;
- SQL Server: ``ORDER BY NEWID()`` for a table a sort costs little on, else
  ``TABLESAMPLE SYSTEM (p PERCENT) REPEATABLE (seed)``;
- MariaDB/MySQL: ``ORDER BY RAND(seed)`` for a modest table, else a random range of an
  integer primary key (an index range read), else the first N rows;
- SQLite: ``ORDER BY random()`` for a modest table, else the first N rows.

A table with at most N rows is read whole (``LIMIT N``). The sample says for each column
whether a request search looks at it (identity, link and free-text columns); the core's
detectors judge the values, never this module.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import random
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql import Select

from agent.config import SystemConfig
from agent.errors import ConnectorError
from agent.sampling import FieldSample, Sample, SampleOptions, fingerprint
from connectors.sql import db
from connectors.sql.columns import column_kind
from connectors.sql.model import TableInfo
from connectors.sql.options import SqlOptions
from connectors.sql.schema import quiet_reflection

# Tables up to this many rows are sampled with a random sort (the sort is cheap there).
RANDOM_SORT_ROWS = 100_000
# PostgreSQL: BERNOULLI reads every page but picks rows evenly; SYSTEM beyond this reads
# only the pages it picks (rows then come in page-sized clumps).
BERNOULLI_ROWS = 1_000_000
# Ask the sampling clause for this many times N (it returns about p% of the rows, not
# exactly N); LIMIT N keeps the excess off the wire.
MARGIN = 1.5
FETCH_CHUNK = 1_000  # rows fetched per round trip (memory stays bounded by N anyway)
MAX_BYTES = 4_096  # binary values up to this size are decoded as UTF-8 when they are text
MAX_TEXT = 65_536  # characters of one text value handed on (the head of a huge value)

NOT_SEARCHED = "request search does not look here (not an identity, link or free-text column)"
FREE_TEXT_OFF = "free-text scanning is turned off for this system (free_text = false)"


@dataclass(frozen=True)
class Columns:
    """Which columns of a table a request search looks at, and why not the others."""

    searched: frozenset[str]
    free_text: frozenset[str]
    free_text_on: bool
    excluded_because: str | None = None

    def verdict(self, column: str) -> tuple[bool, str | None]:
        if self.excluded_because:
            return False, self.excluded_because
        if column in self.searched:
            return True, None
        if column in self.free_text:
            return (True, None) if self.free_text_on else (False, FREE_TEXT_OFF)
        return False, NOT_SEARCHED


def searched_columns(info: TableInfo, options: SqlOptions) -> Columns:
    """Identity columns (inferred or configured), link columns (followed both ways),
    columns holding other systems' keys, the table's own key where identifiers name it
    (``contact_id`` of a contacts table), and free-text columns."""
    searched: set[str] = set(info.role_source)
    for role_columns in info.roles.values():
        searched.update(role_columns)
    for link in info.parents:
        searched.update(link.child_cols)
    for link in info.children:
        searched.update(link.parent_cols)
    searched.update(r.column for r in info.references)
    if info.own_key_type and info.table.primary_key.columns:
        searched.add(info.table.primary_key.columns[0].name)
    return Columns(frozenset(searched), frozenset(info.free_text), options.free_text)


def exclusion(name: str, options: SqlOptions) -> str | None:
    """Why request search leaves a table out (the options that say so), or None."""
    lowered = name.lower()
    if options.table(name).exclude:
        return f"table excluded from request search (tables.{name}.exclude = true)"
    if options.include and not any(fnmatch.fnmatchcase(lowered, p.lower())
                                   for p in options.include):
        return "table not in the system's include list: request search leaves it out"
    for pattern in options.exclude:
        if fnmatch.fnmatchcase(lowered, pattern.lower()):
            return f"table matches the system's exclude pattern {pattern!r}: request " \
                   "search leaves it out"
    return None


def reflect(conn: Connection, name: str, schema: str | None) -> sa.Table:
    """The table as the database describes it now (the catalog's copy may predate a new
    column)."""
    with quiet_reflection():
        return sa.Table(name, sa.MetaData(), schema=schema, autoload_with=conn,
                        resolve_fks=False)


def schema_hash(table: sa.Table, dialect: sa.engine.Dialect) -> str:
    """A digest of the columns' names and types, in table order."""
    return fingerprint(*(f"{c.name}:{_type_name(c.type, dialect)}" for c in table.columns))


def _type_name(kind: Any, dialect: sa.engine.Dialect) -> str:
    try:
        return str(kind.compile(dialect=dialect))
    except Exception:  # a type the dialect cannot render (reflected as NullType)
        return type(kind).__name__


# ----------------------------------------------------------------------- statements


@dataclass
class SampleQuery:
    """Builds the one statement that reads a table's sample, for any dialect (nothing here
    executes: SQL Server's SQL is checked by rendering it with the mssql dialect)."""

    dialect: sa.engine.Dialect
    seed: int = 0

    @property
    def name(self) -> str:
        return self.dialect.name

    def rows(self, table: sa.Table, count: int, limit: int,
             key_range: tuple[int, int] | None = None) -> Select[Any]:
        """Up to ``limit`` rows of ``table`` (``count`` rows in all); ``key_range`` is the
        (min, max) of an integer primary key, for MariaDB's range read."""
        limit = max(1, limit)
        whole = sa.select(table)
        if count <= limit:
            return whole.limit(limit)
        share = min(100.0, 100.0 * limit * MARGIN / count)
        if self.name == "postgresql":
            method = sa.func.bernoulli if count <= BERNOULLI_ROWS else sa.func.system
            sampled = table.tablesample(method(_number(share)), seed=_number(self._seed31()))
            return sa.select(sampled).limit(limit)
        if self.name == "mssql":
            if count <= RANDOM_SORT_ROWS:
                return whole.order_by(sa.func.newid()).limit(limit)
            # pages, not rows: ask for more than PostgreSQL would (pages vary in fill)
            share = min(100.0, share * 2)
            sampled = table.tablesample(sa.func.system(sa.literal_column(
                f"{share:.6f} PERCENT")), seed=_number(self._seed31()))
            return sa.select(sampled).limit(limit)
        if self.name in ("mysql", "mariadb"):
            if count <= RANDOM_SORT_ROWS:
                return whole.order_by(sa.func.rand(self._seed31())).limit(limit)
            key = int_primary_key(table)
            if key is not None and key_range is not None:
                low, high = key_range
                start = random.Random(self.seed).randint(low, max(low, high))
                return whole.where(key >= start).order_by(key).limit(limit)
            return whole.limit(limit)
        if self.name == "sqlite" and count <= RANDOM_SORT_ROWS:
            return whole.order_by(sa.func.random()).limit(limit)
        return whole.limit(limit)

    def needs_key_range(self, table: sa.Table, count: int) -> bool:
        return (self.name in ("mysql", "mariadb") and count > RANDOM_SORT_ROWS
                and int_primary_key(table) is not None)

    def key_range(self, table: sa.Table) -> Select[Any]:
        key = int_primary_key(table)
        assert key is not None
        return sa.select(sa.func.min(key), sa.func.max(key))

    def _seed31(self) -> int:
        return self.seed % (2**31 - 1)


def int_primary_key(table: sa.Table) -> sa.Column[Any] | None:
    columns = list(table.primary_key.columns)
    if len(columns) == 1 and column_kind(columns[0]) == "int":
        return columns[0]
    return None


def _number(value: float | int) -> sa.ColumnElement[Any]:
    """A number the connector computed (never a value read or searched) as SQL text:
    TABLESAMPLE and REPEATABLE take constants on SQL Server."""
    text = str(value) if isinstance(value, int) else f"{value:.6f}"
    return sa.literal_column(text)


# ----------------------------------------------------------------------- reading


@dataclass
class TableSampler:
    """Samples one table through an open connection."""

    system: SystemConfig
    conn: Connection

    def sample(self, key: str, name: str, schema: str | None, columns: Columns,
               options: SampleOptions, count: int | None = None) -> Iterator[Sample]:
        """The table's one unit: read, unchanged, or unreadable (``error``)."""
        fp = ""
        try:
            with db.step(self.system, f"sampling table {key}"):
                table = reflect(self.conn, name, schema)
                if count is None:
                    count = int(self.conn.execute(
                        sa.select(sa.func.count()).select_from(table)).scalar_one())
                fp = fingerprint(count, schema_hash(table, self.conn.dialect))
                if options.unchanged(key, fp):
                    self.conn.rollback()
                    yield Sample(key, fp, unchanged=True)
                    return
                values = self._read(table, count, options)
                self.conn.rollback()  # end the read transaction (PostgreSQL: no idle locks)
        except Exception as exc:  # the sweep goes on with the other tables
            self._recover()
            yield Sample(key, fp, error=_problem(key, exc))
            return
        fields = []
        for column in table.columns:
            searched, because = columns.verdict(column.name)
            fields.append(FieldSample(container=f"{key}.{column.name}", kind="column",
                                      values=values[column.name], column=column.name,
                                      searched=searched, not_searched_because=because,
                                      size=count))
        yield Sample(key, fp, fields=fields)

    def _read(self, table: sa.Table, count: int, options: SampleOptions
              ) -> dict[str, list[Any]]:
        limit = max(1, options.values_per_column)
        query = SampleQuery(self.conn.dialect, options.seed)
        key_range = None
        if query.needs_key_range(table, count):
            low, high = self.conn.execute(query.key_range(table)).one()
            if low is not None and high is not None:
                key_range = (int(low), int(high))
        statement = query.rows(table, count, limit, key_range)
        names = [c.name for c in table.columns]
        values: dict[str, list[Any]] = {name: [] for name in names}
        read = 0
        # a server-side cursor where the driver has one: rows come FETCH_CHUNK at a time
        result = self.conn.execute(statement.execution_options(stream_results=True))
        for chunk in result.partitions(FETCH_CHUNK):
            for row in chunk:
                read += 1
                for name, value in zip(names, row, strict=True):
                    kept = handed_on(value)
                    if kept is not None:
                        values[name].append(kept)
                if read >= limit:
                    break
            if read >= limit:
                break
        result.close()
        return values

    def _recover(self) -> None:
        # PostgreSQL refuses further statements in a failed transaction
        with contextlib.suppress(sa.exc.SQLAlchemyError):
            self.conn.rollback()


def handed_on(value: Any) -> Any:
    """A value as the detectors get it: as the driver returned it (numbers and dates stay
    what they are), except that binary values are decoded when they are short UTF-8 text
    and dropped otherwise, UUIDs and JSON documents become their text, and a huge text is
    cut to its head."""
    if value is None:
        return None
    if isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
        if len(data) > MAX_BYTES:
            return None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return None
        return text if all(ch.isprintable() or ch in "\t\r\n" for ch in text) else None
    if isinstance(value, uuid.UUID):  # PostgreSQL / SQL Server uuid columns: their text
        return str(value)
    if isinstance(value, dict | list):  # a JSON column: its text, for the detectors to read
        value = json.dumps(value, ensure_ascii=False, default=str)
    if isinstance(value, str) and len(value) > MAX_TEXT:
        return value[:MAX_TEXT]
    return value


def _problem(key: str, exc: BaseException) -> str:
    """Why a table could not be sampled, naming the table and the class of problem only
    (a driver's own message may quote a value)."""
    if isinstance(exc, sa.exc.NoSuchTableError) or isinstance(
            getattr(exc, "__context__", None), sa.exc.NoSuchTableError):
        return f"sampling table {key} failed: the table no longer exists"
    if isinstance(exc, ConnectorError):
        return str(exc)  # built by db.step from the step, the reason and the code
    return f"sampling table {key} failed: {type(exc).__name__}"


def excluded_tables(conn: Connection, options: SqlOptions,
                    catalogued: Sequence[str]) -> dict[str, str]:
    """Tables of the searched schema that request search leaves out -> why."""
    names = sa.inspect(conn).get_table_names(schema=options.schema)
    out: dict[str, str] = {}
    for name in names:
        if name in catalogued:
            continue
        because = exclusion(name, options)
        if because:
            out[name] = because
    return out
