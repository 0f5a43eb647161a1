"""Build the demo CRM estate in any SQLAlchemy database: schema, cast, generated population.

``build_estate(url)`` drops and recreates the CRM tables, streams generated rows in chunks
(parents before children, so foreign keys hold at every commit), then creates the identity
indexes and refreshes planner statistics. PostgreSQL loads through COPY; other databases
through executemany. Memory stays flat: one chunk of customers is held at a time.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Table, create_engine, event, func, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SAWarning

from agent.config import mask_url
from agent.demo.cast import build_cast
from agent.demo.manifest import CastMember, Manifest
from agent.demo.population import PhoneMode, generate_customers
from agent.demo.rows import COMPOSITE_KEYS, Chunk, Row, Sink
from agent.demo.schema import (
    TABLE_ORDER,
    TRIGRAM_EXTENSION,
    build_metadata,
    identity_indexes,
    index_names,
)
from agent.demo.values import reserved_numbers

DEFAULT_CUSTOMERS = 40
DEFAULT_SEED = 7
CHUNK_CUSTOMERS = 1000  # ~12k rows per chunk: one transaction, one COPY/executemany per table

Progress = Callable[[int, int], None]


class EstateGenerator:
    """The estate's rows, chunk by chunk: first the cast, then the generated customers."""

    def __init__(self, customers: int = DEFAULT_CUSTOMERS, seed: int = DEFAULT_SEED,
                 chunk: int = CHUNK_CUSTOMERS, phones: PhoneMode = "shared") -> None:
        if isinstance(customers, bool) or not isinstance(customers, int) or customers < 0:
            raise ValueError("customers must be a whole number >= 0")
        if chunk < 1:
            raise ValueError("chunk must be at least 1")
        self.customers = customers
        self.seed = seed
        self.chunk = chunk
        self.phones = phones
        self._sink = Sink()
        self.cast: dict[str, CastMember] = build_cast(self._sink)
        self.done = 0  # generated customers handed out so far

    @property
    def counts(self) -> dict[str, int]:
        """Rows per table generated so far (complete once ``chunks()`` is exhausted)."""
        return dict(self._sink.counts)

    def chunks(self) -> Iterator[Chunk]:
        yield self._sink.take()
        for _ in generate_customers(self._sink, self.seed, self.customers, self.chunk,
                                    self.phones):
            self.done = min(self.done + self.chunk, self.customers)
            yield self._sink.take()
        self.done = self.customers
        if self._sink.pending():
            yield self._sink.take()


def cast_manifest() -> dict[str, CastMember]:
    """The named demo people, without building anything (they are the same at every size)."""
    return EstateGenerator(0).cast


def build_estate(url: str, *, customers: int = DEFAULT_CUSTOMERS, seed: int = DEFAULT_SEED,
                 indexes: bool = True, chunk: int = CHUNK_CUSTOMERS,
                 progress: Progress | None = None, phones: PhoneMode = "shared") -> Manifest:
    """Drop and recreate the CRM tables at ``url`` and fill them; return the manifest.

    ``customers`` generated customers are added to the fixed cast of named demo people.
    """
    generator = EstateGenerator(customers, seed, chunk, phones)
    engine = _engine(url)
    seconds: dict[str, float] = {}
    try:
        md = build_metadata()
        started = time.perf_counter()
        with engine.begin() as conn:
            md.drop_all(conn, checkfirst=True)
            md.create_all(conn)
        seconds["schema"] = time.perf_counter() - started

        started = time.perf_counter()
        load = _copy_rows if _uses_copy(engine) else _insert_rows
        for chunk_rows in generator.chunks():
            with engine.begin() as conn:
                for name in TABLE_ORDER:
                    if chunk_rows[name]:
                        load(conn, md.tables[name], chunk_rows[name])
            if progress:
                progress(generator.done, customers)
        if engine.dialect.name == "postgresql":
            _reset_sequences(engine, md)
        seconds["load"] = time.perf_counter() - started

        if indexes:
            seconds["indexes"] = _create_indexes(engine)
        started = time.perf_counter()
        _analyze(engine)
        seconds["analyze"] = time.perf_counter() - started
    finally:
        engine.dispose()
    return Manifest(url=mask_url(url), seed=seed, customers=customers, indexes=indexes,
                    counts=generator.counts, cast=generator.cast,
                    reserved_numbers=reserved_numbers(), seconds=seconds)


def set_indexes(url: str, enabled: bool) -> float:
    """Create or drop the identity indexes of an existing estate; returns the seconds taken."""
    engine = _engine(url)
    try:
        seconds = _create_indexes(engine) if enabled else _drop_indexes(engine)
        _analyze(engine)
        return seconds
    finally:
        engine.dispose()


def present_indexes(url: str) -> set[str]:
    """Which of the estate's identity indexes exist at ``url``."""
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            return _existing_indexes(conn) & index_names(engine.dialect.name)
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- internals

def _engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":
        # A bulk build of a scratch file: durability of each commit does not matter.
        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA synchronous = OFF")
            cursor.close()
    return engine


def _uses_copy(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg"


def _insert_rows(conn: Connection, table: Table, rows: list[Row]) -> None:
    conn.execute(table.insert(), rows)


def _copy_rows(conn: Connection, table: Table, rows: list[Row]) -> None:
    from psycopg import sql  # only needed for PostgreSQL builds

    names = [c.name for c in table.columns]
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table.name), sql.SQL(", ").join(sql.Identifier(n) for n in names))
    raw = conn.connection.driver_connection
    with raw.cursor() as cursor, cursor.copy(statement) as copy:  # type: ignore[union-attr]
        for row in rows:
            copy.write_row(tuple(row.get(n) for n in names))


def _reset_sequences(engine: Engine, md: Any) -> None:
    """Explicit ids bypass PostgreSQL's serial sequences: move them past the loaded rows."""
    with engine.begin() as conn:
        for name in TABLE_ORDER:
            if name in COMPOSITE_KEYS:
                continue
            table = md.tables[name]
            conn.execute(select(func.setval(
                func.pg_get_serial_sequence(name, "id"),
                func.coalesce(select(func.max(table.c.id)).scalar_subquery(), 0) + 1,
                False)))


def _existing_indexes(conn: Connection) -> set[str]:
    if conn.dialect.name == "sqlite":
        # SQLite's reflection leaves out expression indexes (lower(email)) altogether.
        found = conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'index'"))
        return {name for (name,) in found}
    insp = inspect(conn)
    tables = set(insp.get_table_names())
    with warnings.catch_warnings():
        # Some dialects cannot reflect expression indexes' columns; only names matter here.
        warnings.filterwarnings("ignore", message=".*expression-based index.*",
                                category=SAWarning)
        return {ix["name"] for name in TABLE_ORDER if name in tables
                for ix in insp.get_indexes(name) if ix.get("name")}


def _trigram_available(engine: Engine) -> bool:
    """Whether pg_trgm is (or can be made) available; needs CREATE privilege on the db."""
    try:
        with engine.begin() as conn:
            conn.execute(text(f"CREATE EXTENSION IF NOT EXISTS {TRIGRAM_EXTENSION}"))
    except DBAPIError:
        return False
    return True


def _create_indexes(engine: Engine) -> float:
    started = time.perf_counter()
    trigram = engine.dialect.name == "postgresql" and _trigram_available(engine)
    with engine.begin() as conn:
        existing = _existing_indexes(conn)
        for index in identity_indexes(build_metadata(), engine.dialect.name, trigram=trigram):
            if index.name not in existing:
                index.create(conn)
    return time.perf_counter() - started


def _drop_indexes(engine: Engine) -> float:
    started = time.perf_counter()
    with engine.begin() as conn:
        existing = _existing_indexes(conn)
        for index in identity_indexes(build_metadata(), engine.dialect.name):
            if index.name in existing:
                index.drop(conn)
    return time.perf_counter() - started


def _analyze(engine: Engine) -> None:
    """Fresh planner statistics, so the first searches see the real table sizes."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))
    elif engine.dialect.name == "sqlite":
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
