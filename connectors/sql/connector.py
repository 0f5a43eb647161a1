"""The SQL connector: SQL Server, PostgreSQL, MariaDB/MySQL and SQLite through SQLAlchemy Core.

Given only a URL it reflects the schema once, infers identity columns (names and sampled
values), and searches many subjects in one pass per table: one statement per table with
every subject's identifier variants bound (split only at the parameter limit), rows
re-confirmed in Python, free-text columns streamed and tokenised once, and foreign keys
followed level by level with one statement per link and level.

Write actions (``erase``, ``suppress``, ``restrict``, ``rectify``; see ``actions.py``) run
all items of a call in one transaction, children before parents, and report each item's
outcome only after the commit. An item whose table is not in the catalog (dropped,
renamed or excluded since the plan) stops the call with a ConnectorError; a row that is
no longer there (or a key that cannot exist) is ``absent``.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql import Executable

from agent.config import SystemConfig
from agent.connector import CheckResult, ConnectorContext, Container
from agent.connector import Connector as BaseConnector
from agent.errors import ConnectorError, DsrError
from agent.models import Finding, Subject
from agent.plans import Outcome, PlanItem
from agent.sampling import Sample, SampleOptions
from connectors.sql import actions, db
from connectors.sql import sample as sampling
from connectors.sql.collect import FindingCollector
from connectors.sql.columns import column_kind, key_from_text
from connectors.sql.follow import follow
from connectors.sql.freetext import free_text_statement, scan_table
from connectors.sql.matching import SubjectIndex
from connectors.sql.model import Catalog, TableInfo
from connectors.sql.options import SqlOptions, parse_options
from connectors.sql.predicates import table_conditions
from connectors.sql.query import QueryBuilder
from connectors.sql.references import kept_references
from connectors.sql.schema import build_catalog
from connectors.sql.values import json_safe

log = structlog.get_logger("connectors.sql")


class SqlConnector(BaseConnector):
    name: ClassVar[str] = "sql"
    description: ClassVar[str] = ("SQL databases (SQL Server, PostgreSQL, MariaDB/MySQL, SQLite) "
                                  "through SQLAlchemy: zero-config search of every table")
    url_schemes: ClassVar[tuple[str, ...]] = ("mssql", "postgresql", "postgres", "mysql",
                                              "mariadb", "sqlite")
    capabilities: ClassVar[frozenset[str]] = frozenset({
        "check", "discover", "sample", "search", "read", "erase", "suppress", "restrict",
        "rectify"})

    def __init__(self, system: SystemConfig, context: ConnectorContext | None = None) -> None:
        super().__init__(system, context)
        self.options: SqlOptions = parse_options(system)
        self._engine: Engine | None = None
        self._catalog: Catalog | None = None
        self._lock = threading.Lock()
        # locator -> key values of rows this instance found, so read() need not parse them
        self._row_keys: dict[str, tuple[Any, ...]] = {}

    # ------------------------------------------------------------------ connection
    @property
    def engine(self) -> Engine:
        with self._lock:
            if self._engine is None:
                self._engine = db.create_engine(self.system, self.options.connect_timeout)
            return self._engine

    @contextmanager
    def _session(self) -> Iterator[Connection]:
        db.check_sqlite_file(self.system)
        try:
            conn = self.engine.connect()
        except sa.exc.SQLAlchemyError as exc:
            raise db.connect_error(self.system, exc) from None
        try:
            yield conn
        finally:
            with contextlib.suppress(sa.exc.SQLAlchemyError):
                conn.close()  # a dead connection is discarded by the pool

    def _doing(self, what: str) -> contextlib.AbstractContextManager[None]:
        """Turn a database error into a ConnectorError that names the step, not the data."""
        return db.step(self.system, what)

    def catalog(self, conn: Connection | None = None) -> Catalog:
        """The reflected schema with inferred identity columns (built once, then cached)."""
        if self._catalog is not None:
            return self._catalog
        if conn is None:
            with self._session() as own:
                return self.catalog(own)
        with self._lock:
            if self._catalog is None:
                started = time.perf_counter()
                with self._doing("reading the schema"):
                    catalog = build_catalog(conn, self.options, self.context.detectors,
                                            self.system.name)
                    conn.rollback()  # end the sampling transaction before streaming reads
                actions.check_options(catalog, self.options)
                self._catalog = catalog
                log.debug("sql.catalog", system=self.system.name,
                          tables=len(self._catalog.tables),
                          seconds=round(time.perf_counter() - started, 3))
            return self._catalog

    # ------------------------------------------------------------------ check / discover
    def check(self) -> CheckResult:
        started = time.perf_counter()
        try:
            with self._session() as conn, self._doing("the connection check"):
                conn.execute(QueryBuilder(conn.dialect).probe()).scalar()
        except ConnectorError as exc:
            return CheckResult(False, str(exc), time.perf_counter() - started)
        return CheckResult(True, f"connected to {self.system.display_url}",
                           time.perf_counter() - started)

    def discover(self) -> Iterator[Container]:
        """Every table: those request search reads (with their inferred identity columns and
        row count), those it leaves out (``notes.excluded``: the option that does) and those
        the login cannot read (``notes.unreadable``). A count that fails leaves ``items``
        unknown and says why, instead of ending the inventory."""
        containers: list[Container] = []
        with self._session() as conn:
            catalog = self.catalog(conn)
            for info in catalog:
                try:
                    with conn.begin_nested(), self._doing(f"counting rows of table {info.key}"):
                        count: int | None = int(conn.execute(
                            sa.select(sa.func.count()).select_from(info.table)).scalar_one())
                except ConnectorError as exc:
                    count = None
                    log.warning("sql.count_failed", system=self.system.name, table=info.key,
                                error=str(exc))
                container = _container(info, count)
                if count is None:
                    container.notes["unreadable"] = "counting its rows failed"
                containers.append(container)
            for key, why in sorted(catalog.unreadable.items()):
                containers.append(Container(name=key, kind="table",
                                            notes={"unreadable": why}))
            excluded = sampling.excluded_tables(conn, self.options,
                                                [i.table.name for i in catalog]
                                                + list(catalog.unreadable))
            for name, why in sorted(excluded.items()):
                key = (f"{catalog.schema}.{name}" if catalog.schema
                       and catalog.schema != catalog.default_schema else name)
                containers.append(Container(name=key, kind="table", notes={"excluded": why}))
        yield from containers

    def sample(self, container: Container, options: SampleOptions) -> Iterator[Sample]:
        """One unit per table (see ``sample.py``); a table request search leaves out
        (``exclude``, ``include``) is sampled too, its columns marked not searched."""
        with self._session() as conn:
            catalog = self.catalog(conn)
            info = catalog.get(container.name)
            if container.name in catalog.unreadable:
                yield Sample(container.name, "", error=catalog.unreadable[container.name])
                return
            if info is not None:
                columns = sampling.searched_columns(info, self.options)
                name, schema = info.table.name, info.table.schema
            else:
                name = _unqualified(container.name, catalog.schema)
                # discover() said why search leaves it out; else ask the database
                why = container.notes.get("excluded") or sampling.excluded_tables(
                    conn, self.options, [i.table.name for i in catalog]).get(name)
                if not why:
                    yield Sample(container.name, "", error=f"no table {container.name} in "
                                 f"system {self.system.name!r}")
                    return
                columns = sampling.Columns(frozenset(), frozenset(), False, why)
                schema = catalog.schema
            yield from sampling.TableSampler(self.system, conn).sample(
                container.name, name, schema, columns, options, container.items)

    # ------------------------------------------------------------------ search
    def search(self, subjects: Sequence[Subject]) -> Iterable[Finding]:
        subjects = list(subjects)
        index = SubjectIndex.build(subjects, self.system.name)
        if not (index.wanted or index.wanted_names or index.wanted_scoped):
            return []
        started = time.perf_counter()
        collector = FindingCollector(self.system.name, index, self._row_keys)
        statements = 0
        with self._session() as conn:
            catalog = self.catalog(conn)
            if catalog.unreadable:
                # a search that skipped a table could pass for a complete one
                raise ConnectorError(
                    f"system {self.system.name!r}: cannot search every table: "
                    + "; ".join(catalog.unreadable[k] for k in sorted(catalog.unreadable))
                    + " (grant SELECT, or leave the table out with exclude)")
            builder = QueryBuilder(conn.dialect)
            for info in catalog:
                # every identifier type of every subject in one statement per table (split
                # only at the parameter limit); rows are confirmed in Python
                conditions = [c for _, cs in table_conditions(builder, info, index) for c in cs]
                for statement in builder.matching(info, conditions):
                    statements += 1
                    with self._doing(f"searching table {info.key}"):
                        rows = conn.execute(statement).mappings().all()
                    for row in rows:
                        collector.direct(info, dict(row))
                if self.options.free_text and info.free_text and index.text:
                    statements += 1
                    with self._doing(f"scanning the free text of table {info.key}"):
                        for row, hits in scan_table(conn, builder, info, index.text):
                            collector.text(info, row, hits)
            with self._doing("following links from matched rows"):
                reached = follow(conn, builder, catalog, collector.roots(),
                                 self.options.follow_depth, collector.child)
        findings = collector.findings()
        log.info("sql.search", system=self.system.name, subjects=len(subjects),
                 statements=statements, findings=len(findings), linked=reached,
                 seconds=round(time.perf_counter() - started, 3))
        return findings

    def statements(self, subjects: Sequence[Subject],
                   dialect: sa.engine.Dialect | None = None) -> list[tuple[str, Executable]]:
        """Every kind of statement a search for ``subjects`` issues, built for ``dialect``
        (default: the system's own), labelled ``what:table[:detail]``. Lets SQL Server's
        SQL be checked with the ``mssql`` dialect where no server runs."""
        with self._session() as conn:
            catalog = self.catalog(conn)
            builder = QueryBuilder(dialect or conn.dialect)
        index = SubjectIndex.build(list(subjects), self.system.name)
        out: list[tuple[str, Executable]] = []
        for info in catalog:
            sampled = [c.name for c in info.table.columns if column_kind(c) != "other"]
            if sampled:
                out.append((f"sample:{info.key}",
                            builder.sample(info.table, sampled, self.options.sample_size)))
                out.append((f"sample_column:{info.key}:{sampled[0]}",
                            builder.sample_column(info.table, sampled[0],
                                                  self.options.sample_size)))
            conditions = [c for _, cs in table_conditions(builder, info, index) for c in cs]
            out += [(f"match:{info.key}", s) for s in builder.matching(info, conditions)]
            if info.free_text and index.text:
                out.append((f"free_text:{info.key}",
                            free_text_statement(builder, info, index.text)))
            for link in info.children:
                child = catalog.tables[link.child]
                if child.followable:
                    key = tuple(_placeholder(info.table.c[c]) for c in link.parent_cols)
                    out += [(f"children:{child.key}:{','.join(link.child_cols)}", s)
                            for s in builder.children(child, link, [key])]
            if info.key_source == "hash":
                out.append((f"read:{info.key}", builder.scan(info)))
            else:
                columns = [info.table.c[c] for c in info.locator_columns]
                out += [(f"read:{info.key}", s) for s in builder.by_keys(
                    info, columns, [tuple(_placeholder(c) for c in columns)])]
        out.append(("check", builder.probe()))
        return out

    # ------------------------------------------------------------------ read
    def read(self, findings: Sequence[Finding]) -> Iterator[dict[str, Any]]:
        mine = [f for f in findings if f.system == self.system.name and f.kind == "row"]
        if not mine:
            return
        rows: dict[str, tuple[TableInfo, dict[str, Any]]] = {}
        with self._session() as conn:
            catalog = self.catalog(conn)
            builder = QueryBuilder(conn.dialect)
            by_table: dict[str, tuple[TableInfo, list[str]]] = {}
            for finding in mine:
                located = catalog.table_for_locator(finding.locator)
                if located is None:
                    log.warning("sql.read.unknown_table", system=self.system.name)
                    continue
                by_table.setdefault(located[0].key, (located[0], []))[1].append(finding.locator)
            for info, locators in by_table.values():
                with self._doing(f"reading table {info.key}"):
                    rows.update(self._read_table(conn, builder, info, locators))
        for finding in mine:
            found = rows.get(finding.locator)
            if found is None:
                log.warning("sql.read.missing_row", system=self.system.name)
                continue
            info, row = found
            yield {"finding": finding.id, "table": info.key,
                   "row": {column: json_safe(value) for column, value in row.items()}}

    def _read_table(self, conn: Connection, builder: QueryBuilder, info: TableInfo,
                    locators: list[str]) -> dict[str, tuple[TableInfo, dict[str, Any]]]:
        wanted = set(locators)
        out: dict[str, tuple[TableInfo, dict[str, Any]]] = {}
        keys = [k for k in (self._key_of(info, loc) for loc in locators
                            if not loc[len(info.key):].startswith(":#")) if k is not None]
        if keys and info.locator_columns:
            columns = [info.table.c[c] for c in info.locator_columns]
            for statement in builder.by_keys(info, columns, keys):
                for mapping in conn.execute(statement).mappings():
                    row = dict(mapping)
                    locator = info.locator(row)
                    if locator in wanted:
                        out[locator] = (info, row)
        if any(loc[len(info.key):].startswith(":#") for loc in wanted - set(out)):
            # rows without a key are found again by their content hash
            for mapping in conn.execute(builder.scan(info)).mappings():
                row = dict(mapping)
                locator = info.locator(row)
                if locator in wanted and locator not in out:
                    out[locator] = (info, row)
        return out

    def _key_of(self, info: TableInfo, locator: str) -> tuple[Any, ...] | None:
        cached = self._row_keys.get(locator)
        if cached is not None:
            return cached
        text = locator[len(info.key) + 1:]
        columns = [info.table.c[c] for c in info.locator_columns]
        if not columns:
            return None
        parts = text.split(",", len(columns) - 1)
        if len(parts) != len(columns):
            return None
        out = []
        for column, part in zip(columns, parts, strict=True):
            value = key_from_text(column, part)
            if value is None:
                return None
            out.append(value)
        return tuple(out)

    # ------------------------------------------------------------------ actions
    def actions_for(self, finding: Finding) -> frozenset[str]:
        """delete/anonymise as the table's ``erasure`` setting allows (both when unset),
        suppress/restrict where the table has that marker, rectify where it has identity
        columns, export for every row."""
        if finding.system != self.system.name or finding.kind != "row":
            return frozenset()
        info = actions.finding_table(self.catalog(), finding)
        if info is None:
            return frozenset()
        return actions.available_actions(info, self.options.table(info.name))

    def kept_references(self, plan_items: Sequence[PlanItem]) -> dict[str, str]:
        items = [i for i in plan_items if i.system == self.system.name and i.locator]
        if not items:
            return {}
        with self._session() as conn, self._doing("checking what refers to rows to delete"):
            catalog = self.catalog(conn)
            return kept_references(conn, QueryBuilder(conn.dialect), catalog,
                                   self.system.name, items, self._read_table)

    def erase(self, plan_items: Sequence[PlanItem]) -> Iterator[Outcome]:
        return self._act("erase", plan_items, lambda run, items: run.erase(items))

    def suppress(self, plan_items: Sequence[PlanItem]) -> Iterator[Outcome]:
        return self._act("suppress", plan_items, lambda run, items: run.mark(items, "suppress"))

    def restrict(self, plan_items: Sequence[PlanItem]) -> Iterator[Outcome]:
        return self._act("restrict", plan_items, lambda run, items: run.mark(items, "restrict"))

    def rectify(self, plan_items: Sequence[PlanItem], changes: dict[str, str]
                ) -> Iterator[Outcome]:
        return self._act("rectify", plan_items, lambda run, items: run.rectify(items, changes))

    def _act(self, action: str, plan_items: Sequence[PlanItem],
             work: Callable[[actions.RowActions, list[PlanItem]], list[Outcome]]
             ) -> Iterator[Outcome]:
        """Run one call's work in one transaction; outcomes only once it has committed
        (the work is done on the call, not on iteration)."""
        items = list(plan_items)
        started = time.perf_counter()
        outcomes: list[Outcome] = []
        detached = 0
        try:
            if items:
                catalog = self.catalog()
                with self._session() as conn:
                    runner = actions.RowActions(self.system, self.options, catalog, conn,
                                                self._read_table)
                    outcomes = actions.in_transaction(conn, self.system,
                                                      lambda: work(runner, items))
                    detached = runner.detached
        except DsrError:
            log.warning("sql.action.failed", system=self.system.name, action=action,
                        items=len(items), seconds=round(time.perf_counter() - started, 3))
            raise
        statuses = {s: sum(1 for o in outcomes if o.status == s)
                    for s in ("done", "absent", "skipped")}
        log.info("sql.action", system=self.system.name, action=action, items=len(items),
                 **statuses, detached=detached, seconds=round(time.perf_counter() - started, 3))
        return iter(outcomes)

    def close(self) -> None:
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None


def _container(info: TableInfo, count: int | None) -> Container:
    identity = {role: list(cols) for role, cols in sorted(info.roles.items())}
    notes: dict[str, Any] = {
        "identity": identity,
        "inferred_from": dict(sorted(info.role_source.items())),
        "free_text": list(info.free_text),
        "categories": list(info.categories),
        "key": list(info.locator_columns),
        "key_source": info.key_source,
        "person": info.person,
        "party": info.party_table,
        "links": [link.label for link in info.parents],
        "references": [f"{r.column} \u2192 {r.system or '*'}."
                       f"{'|'.join(sorted(r.tables))}" for r in info.references],
    }
    if info.erasure:
        notes["erasure"] = info.erasure
    return Container(name=info.key, kind="table", items=count,
                     fields=[c.name for c in info.table.columns], notes=notes)


def _unqualified(key: str, schema: str | None) -> str:
    """A table's name from its key (``sales.contacts`` -> ``contacts`` in schema sales)."""
    return key[len(schema) + 1:] if schema and key.startswith(schema + ".") else key


def _placeholder(column: sa.Column[Any]) -> Any:
    return 1 if column_kind(column) == "int" else "1"
