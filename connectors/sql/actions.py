"""The SQL connector's write actions: erase (delete or anonymise), suppress, restrict, rectify.

Every call runs in one transaction on one connection: rows are located again (by key, or
by content hash for rows without one), changed, and the outcomes handed back only once the
transaction has committed. Any failure rolls everything back and raises a ConnectorError
naming the step and the table, never a value. Re-running the same items changes nothing
more: a row already gone, already anonymised, already marked or already corrected is
``absent``.

Deletes run children first: tables are ordered over the catalog's links; a cycle of
links (devices <-> SIM cards, a ticket thread) is broken by setting its nullable link
columns to NULL on the rows being deleted, and a nullable self-reference from a row
outside the plan (another contact ``referred_by`` the erased one) is set to NULL, as
``ON DELETE SET NULL`` would. Any other row outside the plan still referring to a deleted
row makes the database refuse, and the whole call is rolled back.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql import ColumnElement

from agent.config import SystemConfig
from agent.errors import ConfigError, ConnectorError, DsrError
from agent.models import Finding
from agent.plans import Outcome, PlanItem
from connectors.sql import db
from connectors.sql.columns import column_kind
from connectors.sql.model import Catalog, Link, TableInfo
from connectors.sql.options import IDENTITY_KEYS, SqlOptions, TableOptions
from connectors.sql.query import QueryBuilder

# The connector's row locator: (connection, builder, table, locators) -> locator -> row
Locate = Callable[[Connection, QueryBuilder, TableInfo, list[str]],
                  dict[str, tuple[TableInfo, dict[str, Any]]]]
T = TypeVar("T")

ERASE_ACTIONS = frozenset({"delete", "anonymise"})
MARK_ACTIONS = ("suppress", "restrict")
# The erase actions each table ``erasure`` strategy allows (unset: both).
_STRATEGY_ACTIONS: dict[str | None, frozenset[str]] = {
    None: ERASE_ACTIONS, "delete": frozenset({"delete"}),
    "anonymise": frozenset({"anonymise"}), "suppress": frozenset(),
    "restrict": frozenset(), "retain": frozenset(),
}
# Fields rectify resolves through a table's identity roles rather than by column name.
ROLE_FIELDS = frozenset(IDENTITY_KEYS) | {"name", "dob"}
PLACEHOLDER_PREFIX = "erased-"
PLACEHOLDER_DATE = date(1900, 1, 1)


# --------------------------------------------------------------------------- what is possible


def protected_columns(info: TableInfo) -> set[str]:
    """Columns an anonymise never overwrites: the row's key and its links."""
    out = set(info.locator_columns)
    out.update(c.parent.name for fk in info.table.foreign_key_constraints for c in fk.elements)
    out.update(c for link in info.parents for c in link.child_cols)
    return out


def anonymised_columns(info: TableInfo, topts: TableOptions) -> dict[str, Any]:
    """column -> fixed value, or None (NULL when nullable, else a placeholder)."""
    if topts.anonymise is not None:
        return dict(topts.anonymise)
    protected = protected_columns(info)
    columns = [c for cols in info.roles.values() for c in cols] + list(info.free_text)
    return {c: None for c in dict.fromkeys(columns) if c not in protected}


def available_actions(info: TableInfo, topts: TableOptions) -> frozenset[str]:
    """The plan actions possible on a row of ``info`` (see ``SqlConnector.actions_for``)."""
    out = {"export"} | _STRATEGY_ACTIONS[topts.erasure]
    out.update(action for action in MARK_ACTIONS if topts.marker(action))
    if any(c not in protected_columns(info) for cols in info.roles.values() for c in cols):
        out.add("rectify")
    return frozenset(out)


def finding_table(catalog: Catalog, finding: Finding) -> TableInfo | None:
    info = catalog.get(finding.container) if finding.container else None
    if info is None:
        located = catalog.table_for_locator(finding.locator)
        info = located[0] if located else None
    return info


def check_options(catalog: Catalog, options: SqlOptions) -> None:
    """The columns the anonymise, suppress and restrict settings name exist (a ConfigError
    when the catalog is built, not halfway through an erasure)."""
    for info in catalog:
        topts = options.table(info.name)
        settings = {"anonymise": topts.anonymise, "suppress": topts.suppress,
                    "restrict": topts.restrict}
        for setting, columns in settings.items():
            for column in columns or {}:
                if column not in info.table.c:
                    raise options.error(f"table {info.name!r} has no column {column!r}",
                                        "tables", info.name, setting)
                if setting == "anonymise" and column in info.locator_columns:
                    raise options.error(f"column {column!r} identifies the row and cannot "
                                        "be overwritten", "tables", info.name, setting)


# --------------------------------------------------------------------------- transactions


def in_transaction(conn: Connection, system: SystemConfig, work: Callable[[], T]) -> T:
    """Run ``work`` in one transaction; on SQLite with foreign keys enforced, so a
    violation fails there as it would on a server."""
    sqlite = conn.dialect.name == "sqlite"
    if conn.in_transaction():
        conn.rollback()
    try:
        if sqlite:
            # only outside a transaction does SQLite accept the pragma
            conn.exec_driver_sql("PRAGMA foreign_keys=ON")
            conn.commit()
        with conn.begin():
            return work()
    except ConnectorError as exc:
        raise ConnectorError(f"{exc}; rolled back, nothing was changed") from None
    except DsrError:
        raise
    except sa.exc.SQLAlchemyError as exc:
        raise ConnectorError(f"{db.query_error(system, exc, 'committing the changes')}; "
                             "rolled back, nothing was changed") from None
    finally:
        if sqlite and not conn.closed and not conn.invalidated:
            try:
                conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
                conn.commit()
            except sa.exc.SQLAlchemyError:
                conn.invalidate()  # never hand a connection in an unknown state back


@dataclass
class Located:
    item: PlanItem
    info: TableInfo
    locator: str
    row: dict[str, Any] | None

    @property
    def hashed(self) -> bool:
        return self.locator[len(self.info.key) + 1:].startswith("#")

    @property
    def key(self) -> tuple[Any, ...]:
        assert self.row is not None
        return tuple(self.row[c] for c in self.info.locator_columns)


@dataclass
class RowActions:
    """One call's work on one connection, inside the transaction ``in_transaction`` opened."""

    system: SystemConfig
    options: SqlOptions
    catalog: Catalog
    conn: Connection
    locate: Locate
    builder: QueryBuilder = field(init=False)
    detached: int = 0  # rows outside the plan whose self-reference was set to NULL

    def __post_init__(self) -> None:
        self.builder = QueryBuilder(self.conn.dialect)

    # ------------------------------------------------------------------ erase
    def erase(self, items: Sequence[PlanItem]) -> list[Outcome]:
        located = self._locate(items, ERASE_ACTIONS)
        for entry in located:
            allowed = _STRATEGY_ACTIONS[self._topts(entry.info).erasure]
            if entry.item.action not in allowed:
                raise self._error(f"table {entry.info.key} does not allow "
                                  f"{entry.item.action!r} (its erasure setting is "
                                  f"{self._topts(entry.info).erasure!r})")
        outcomes: dict[int, Outcome] = {}
        deletes: list[tuple[int, Located]] = []
        for n, entry in enumerate(located):
            if entry.row is None:
                outcomes[n] = Outcome(entry.item.id, "absent", "no such row")
            elif entry.item.action == "anonymise":
                outcomes[n] = self._anonymise(entry)
            else:
                deletes.append((n, entry))
        for n, rows in self._delete([entry for _, entry in deletes]).items():
            entry = deletes[n][1]
            outcomes[deletes[n][0]] = (Outcome(entry.item.id, "done", "deleted", {"rows": rows})
                                       if rows else Outcome(entry.item.id, "absent",
                                                            "no such row"))
        return [outcomes[n] for n in range(len(located))]

    def _anonymise(self, entry: Located) -> Outcome:
        info, row = entry.info, entry.row
        assert row is not None
        digest = hashlib.sha256(entry.locator.encode("utf-8")).hexdigest()
        wanted = {}
        for name, fixed in anonymised_columns(info, self._topts(info)).items():
            column = info.table.c[name]
            wanted[name] = (_coerce_fixed(column, fixed) if fixed is not None
                            else None if column.nullable else self._placeholder(info, column,
                                                                                digest))
        changes = {c: v for c, v in wanted.items() if not _same(row.get(c), v)}
        if not wanted:
            return Outcome(entry.item.id, "skipped", "the table has no columns to overwrite")
        if not changes:
            return Outcome(entry.item.id, "absent", "already anonymised")
        with self._step(f"anonymising a row of table {info.key}"):
            result = self.conn.execute(sa.update(info.table).where(self._where(entry, row))
                                       .values({info.table.c[c]: v for c, v in changes.items()}))
        return Outcome(entry.item.id, "done", "anonymised: " + ", ".join(sorted(changes)),
                       {"rows": result.rowcount, "columns": len(changes)})

    def _placeholder(self, info: TableInfo, column: sa.Column[Any], digest: str) -> Any:
        """A NOT NULL column's stand-in: unique per row, holding nothing of the person."""
        kind = column.type
        if isinstance(kind, sa.Boolean):
            return False
        if isinstance(kind, sa.Enum) and kind.enums:
            return kind.enums[0]
        if isinstance(kind, sa.Integer | sa.Numeric):
            return 0
        if isinstance(kind, sa.DateTime):
            return datetime(1900, 1, 1)
        if isinstance(kind, sa.Date):
            return PLACEHOLDER_DATE
        if isinstance(kind, sa.String | sa.types.NullType):
            text = PLACEHOLDER_PREFIX + digest
            length = getattr(kind, "length", None)
            return text[:length] if length else text
        raise self._error(f"column {column.name} of table {info.key} is NOT NULL and of a type "
                          "with no placeholder: give it a value in the table's anonymise "
                          "setting")

    def _delete(self, entries: list[Located]) -> dict[int, int]:
        """Delete the rows children first; entry index -> rows deleted."""
        by_table: dict[str, list[int]] = {}
        for n, entry in enumerate(entries):
            by_table.setdefault(entry.info.key, []).append(n)
        if not by_table:
            return {}
        links = [link for key in by_table for link in self.catalog.tables[key].parents
                 if link.parent in by_table]
        cross = [link for link in links if link.child != link.parent]
        cyclic = _cyclic_links(list(by_table), cross)
        broken = [link for link in cyclic if self._nullable(link)]
        for link in links:
            if link.child == link.parent and self._nullable(link):
                self._detach(link, [entries[n] for n in by_table[link.child]])
        for link in broken:
            self._unlink(link, [entries[n] for n in by_table[link.child]])
        out: dict[int, int] = {}
        hard = [link for link in cross if link not in broken]
        for key in _children_first(list(by_table), hard):
            out.update(self._delete_table(self.catalog.tables[key],
                                          [(n, entries[n]) for n in by_table[key]]))
        return out

    def _delete_table(self, info: TableInfo, entries: list[tuple[int, Located]]
                      ) -> dict[int, int]:
        out: dict[int, int] = {}
        keyed = [(n, e) for n, e in entries if not e.hashed]
        with self._step(f"deleting rows of table {info.key}"):
            for clause in self._key_clauses(info, info.locator_columns,
                                            [e.key for _, e in keyed]):
                self.conn.execute(sa.delete(info.table).where(clause))
            for n, entry in entries:
                if entry.hashed:
                    assert entry.row is not None
                    result = self.conn.execute(sa.delete(info.table)
                                               .where(self._where(entry, entry.row)))
                    out[n] = result.rowcount
        out.update({n: 1 for n, _ in keyed})  # each key names one row, read just now
        return out

    def _nullable(self, link: Link) -> bool:
        table = self.catalog.tables[link.child].table
        return all(table.c[c].nullable for c in link.child_cols)

    def _detach(self, link: Link, deleted: list[Located]) -> None:
        """A self-reference to a deleted row (``referred_by``) is set to NULL everywhere,
        rows outside the plan included: the pointer itself is the erased person's. The
        plan's own rows are cleared too, so a thread of them deletes in any order."""
        info = self.catalog.tables[link.child]
        if info.key_source == "hash":
            return  # nothing can point at a row without a key
        rows = [e.row for e in deleted if e.row is not None]
        values = {v for v in (tuple(r.get(c) for c in link.parent_cols) for r in rows)
                  if None not in v}
        own = sum(1 for r in rows if tuple(r.get(c) for c in link.child_cols) in values)
        columns = [info.table.c[c] for c in link.child_cols]
        cleared = 0
        with self._step(f"clearing references of table {info.key} to its deleted rows"):
            for clause in self._key_clauses(info, link.child_cols, list(values)):
                result = self.conn.execute(sa.update(info.table).where(clause)
                                           .values({c: None for c in columns}))
                cleared += max(0, result.rowcount)
        self.detached += max(0, cleared - own)

    def _unlink(self, link: Link, rows: list[Located]) -> None:
        """Break a cycle between tables: NULL the link on the plan's own rows only."""
        info = self.catalog.tables[link.child]
        keys = [e.key for e in rows if not e.hashed]
        columns = [info.table.c[c] for c in link.child_cols]
        with self._step(f"unlinking rows of table {info.key} before deleting them"):
            for clause in self._key_clauses(info, info.locator_columns, keys):
                self.conn.execute(sa.update(info.table).where(clause)
                                  .values({c: None for c in columns}))

    # ------------------------------------------------------------------ suppress / restrict
    def mark(self, items: Sequence[PlanItem], action: str) -> list[Outcome]:
        located = self._locate(items, frozenset({action}))
        outcomes: list[Outcome] = []
        pending: dict[str, list[Located]] = {}
        for entry in located:
            marker = self._topts(entry.info).marker(action)
            if not marker:
                raise self._error(f"table {entry.info.key} has no {action} marker")
            values = {c: _coerce_fixed(entry.info.table.c[c], v) for c, v in marker.items()}
            if entry.row is None:
                outcomes.append(Outcome(entry.item.id, "absent", "no such row"))
            elif all(_same(entry.row.get(c), v) for c, v in values.items()):
                outcomes.append(Outcome(entry.item.id, "absent", f"already marked ({action})"))
            else:
                pending.setdefault(entry.info.key, []).append(entry)
                outcomes.append(Outcome(entry.item.id, "done", f"marked ({action}): "
                                        + ", ".join(sorted(values)), {"rows": 1}))
        for key, entries in pending.items():
            info = self.catalog.tables[key]
            values = {info.table.c[c]: _coerce_fixed(info.table.c[c], v)
                      for c, v in (self._topts(info).marker(action) or {}).items()}
            with self._step(f"marking rows of table {info.key} ({action})"):
                for clause in self._key_clauses(info, info.locator_columns,
                                                [e.key for e in entries if not e.hashed]):
                    self.conn.execute(sa.update(info.table).where(clause).values(values))
                for entry in entries:
                    if entry.hashed and entry.row is not None:
                        self.conn.execute(sa.update(info.table)
                                          .where(self._where(entry, entry.row)).values(values))
        return outcomes

    # ------------------------------------------------------------------ rectify
    def rectify(self, items: Sequence[PlanItem], changes: Mapping[str, str]) -> list[Outcome]:
        self._check_fields(changes)
        located = self._locate(items, frozenset({"rectify"}))
        outcomes = []
        for entry in located:
            if entry.row is None:
                outcomes.append(Outcome(entry.item.id, "absent", "no such row"))
                continue
            wanted = {f: v for f, v in changes.items()
                      if not entry.item.fields or f in entry.item.fields}
            outcomes.append(self._rectify_row(entry, wanted))
        return outcomes

    def _check_fields(self, changes: Mapping[str, str]) -> None:
        if not changes:
            raise self._error("rectify was given no fields to set")
        for name in changes:
            if name in ROLE_FIELDS:
                continue
            if "." in name:
                table, _, column = name.rpartition(".")
                info = self._table_named(table)
                if info is None or column not in info.table.c:
                    raise self._error(f"rectify field {name!r} names no table and column "
                                      "of the system")
            elif not any(name in info.table.c for info in self.catalog):
                raise self._error(f"rectify field {name!r} is neither an identifier type "
                                  "nor a column of any table")

    def _rectify_row(self, entry: Located, changes: Mapping[str, str]) -> Outcome:
        info, row = entry.info, entry.row
        assert row is not None
        assignments: dict[str, Any] = {}
        fields: list[str] = []
        for name, value in changes.items():
            resolved = self._resolve(info, name, value)
            if resolved:
                fields.append(name)
                assignments.update(resolved)
        if not assignments:
            return Outcome(entry.item.id, "skipped",
                           "no column for: " + ", ".join(sorted(changes)))
        if all(_same(row.get(c), v) for c, v in assignments.items()):
            return Outcome(entry.item.id, "absent", "already set: " + ", ".join(sorted(fields)))
        new_row = {**row, **assignments}
        with self._step(f"rectifying a row of table {info.key}"):
            self.conn.execute(sa.update(info.table).where(self._where(entry, row))
                              .values({info.table.c[c]: v for c, v in assignments.items()}))
            stored = self.conn.execute(sa.select(info.table)
                                       .where(self._where(entry, new_row))).mappings().first()
        wrong = sorted(c for c, v in assignments.items()
                       if stored is None or not _same(stored.get(c), v))
        if wrong:
            raise self._error(f"rectify of a row of table {info.key} did not read back as "
                              f"written (columns {', '.join(wrong)})")
        return Outcome(entry.item.id, "done", "set " + ", ".join(sorted(fields)),
                       {"fields": len(fields), "columns": len(assignments)})

    def _resolve(self, info: TableInfo, name: str, value: str) -> dict[str, Any]:
        """The columns of ``info`` a rectify field sets, with their typed values."""
        protected = protected_columns(info)
        if "." in name:
            table, _, column = name.rpartition(".")
            if self._table_named(table) is not info:
                return {}
            targets = {column: value}
        elif name == "name":
            targets = self._name_targets(info, value, protected)
        elif name in ROLE_FIELDS:
            columns = [c for c in info.columns(name) if c not in protected]
            if len(columns) > 1:
                raise self._error(f"rectify field {name!r} is ambiguous on table {info.key} "
                                  f"(columns {', '.join(columns)}): give {info.key}.COLUMN")
            targets = {columns[0]: value} if columns else {}
        else:
            targets = {name: value} if name in info.table.c else {}
        return {c: self._typed(info, info.table.c[c], v) for c, v in targets.items()}

    def _name_targets(self, info: TableInfo, value: str, protected: set[str]
                      ) -> dict[str, Any]:
        full = [c for c in info.columns("full_name") if c not in protected]
        firsts = [c for c in info.columns("first_name") if c not in protected]
        lasts = [c for c in info.columns("last_name") if c not in protected]
        if len(full) > 1 or len(firsts) > 1 or len(lasts) > 1:
            raise self._error(f"rectify field 'name' is ambiguous on table {info.key}: "
                              f"give {info.key}.COLUMN")
        targets: dict[str, Any] = {c: value.strip() for c in full}
        if firsts or lasts:
            first, _, last = value.strip().rpartition(" ")  # one word is a surname
            for column, part in ((firsts, first.strip()), (lasts, last)):
                if column:
                    targets[column[0]] = part or None
        return targets

    def _typed(self, info: TableInfo, column: sa.Column[Any], value: Any) -> Any:
        """A rectified value as the column stores it; a value that cannot be stored stops
        the call (the error names the column and its type, never the value)."""
        where = f"column {column.name} of table {info.key}"
        if value is None:
            if not column.nullable:
                raise self._error(f"{where} cannot be empty")
            return None
        kind = column_kind(column)
        try:
            if kind == "int":
                digits = "".join(str(value).split()).lstrip("+")
                if not digits.isdigit():
                    raise ValueError
                return int(digits)
            if kind == "date":
                if isinstance(column.type, sa.DateTime):
                    return datetime.fromisoformat(str(value))
                return date.fromisoformat(str(value))
            if isinstance(column.type, sa.Boolean):
                return _coerce_fixed(column, value)
        except ValueError:
            raise self._error(f"{where} holds {kind} values: the new value is not one") from None
        text = str(value)
        length = getattr(column.type, "length", None)
        if length and len(text) > length:
            raise self._error(f"{where} holds at most {length} characters; the new value is "
                              "longer")
        return text

    # ------------------------------------------------------------------ shared
    def _locate(self, items: Sequence[PlanItem], actions: frozenset[str]) -> list[Located]:
        """Each item's table and current row (None: gone), read inside the transaction."""
        entries: list[tuple[PlanItem, TableInfo, str]] = []
        for item in items:
            if item.action not in actions:
                raise self._error(f"action {item.action!r} is not carried out by this call")
            if item.system not in (None, self.system.name) or item.kind not in (None, "row") \
                    or not item.locator:
                raise self._error("an item is not a row of this system")
            found = self.catalog.table_for_locator(item.locator)
            if found is None:
                table = item.locator.partition(":")[0]
                raise self._error(f"no table {table!r} in the system (dropped, renamed or "
                                  "excluded since the plan?)")
            entries.append((item, found[0], item.locator))
        rows: dict[str, tuple[TableInfo, dict[str, Any]]] = {}
        by_table: dict[str, list[str]] = {}
        for _, info, locator in entries:
            by_table.setdefault(info.key, []).append(locator)
        for key, locators in by_table.items():
            info = self.catalog.tables[key]
            with self._step(f"reading rows of table {info.key}"):
                rows.update(self.locate(self.conn, self.builder, info, locators))
        return [Located(item, info, locator, rows[locator][1] if locator in rows else None)
                for item, info, locator in entries]

    def _where(self, entry: Located, row: Mapping[str, Any]) -> ColumnElement[bool]:
        """The row by its key, or by every column when it has none."""
        info = entry.info
        names = [c.name for c in info.table.columns] if entry.hashed \
            else list(info.locator_columns)
        return sa.and_(*(info.table.c[n].is_(None) if row.get(n) is None
                         else info.table.c[n] == row[n] for n in names))

    def _key_clauses(self, info: TableInfo, names: Sequence[str],
                     keys: Sequence[tuple[Any, ...]]) -> Iterator[ColumnElement[bool]]:
        """``names IN keys``, split to respect the dialect's parameter limit."""
        keys = list(dict.fromkeys(keys))
        columns = [info.table.c[n] for n in names]
        step = max(1, self.builder.max_params // max(1, len(columns)))
        for i in range(0, len(keys), step):
            chunk = keys[i:i + step]
            if len(columns) == 1:
                yield columns[0].in_([k[0] for k in chunk])
            else:  # SQL Server has no row-value IN
                yield sa.or_(*(sa.and_(*(c == v for c, v in zip(columns, key, strict=True)))
                               for key in chunk))

    def _topts(self, info: TableInfo) -> TableOptions:
        return self.options.table(info.name)

    def _table_named(self, name: str) -> TableInfo | None:
        info = self.catalog.get(name)
        if info is None:
            info = next((i for i in self.catalog if i.name.lower() == name.lower()
                         or i.key.lower() == name.lower()), None)
        return info

    def _error(self, message: str) -> ConnectorError:
        return ConnectorError(f"system {self.system.name!r}: {message}")

    def _step(self, what: str) -> AbstractContextManager[None]:
        """A database error as a ConnectorError naming the step, never a value."""
        return db.step(self.system, what)


# --------------------------------------------------------------------------- helpers


def _cyclic_links(tables: list[str], links: list[Link]) -> list[Link]:
    """Links whose two tables reach each other (a cycle: no order deletes them safely)."""
    parents: dict[str, set[str]] = {t: set() for t in tables}
    for link in links:
        parents[link.child].add(link.parent)

    def reach(start: str) -> set[str]:
        seen: set[str] = set()
        todo = [start]
        while todo:
            for parent in parents[todo.pop()]:
                if parent not in seen:
                    seen.add(parent)
                    todo.append(parent)
        return seen

    reached = {t: reach(t) for t in tables}
    return [link for link in links if link.child in reached[link.parent]]


def _children_first(tables: list[str], links: list[Link]) -> list[str]:
    """Tables ordered so each comes before every table it links to; a cycle left (links
    that cannot be NULLed) is appended as it stands and the database has the last word."""
    waiting = {t: {link.child for link in links if link.parent == t and link.child != t}
               for t in tables}
    order: list[str] = []
    while waiting:
        ready = sorted(t for t, children in waiting.items() if not children)
        if not ready:
            ready = sorted(waiting)
        for table in ready:
            order.append(table)
            del waiting[table]
        for children in waiting.values():
            children.difference_update(ready)
    return order


def _coerce_fixed(column: sa.Column[Any], value: Any) -> Any:
    """A configured value for its column: a date column takes ISO text, a boolean
    column takes true/false or 1/0."""
    if isinstance(column.type, sa.Boolean) and not isinstance(value, bool):
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "y"):
            return True
        if text in ("0", "false", "no", "n"):
            return False
        raise ConfigError(f"column {column.name!r} is boolean: the value must be true or "
                          "false")
    if isinstance(value, str) and column_kind(column) == "date":
        try:
            if isinstance(column.type, sa.DateTime):
                return datetime.fromisoformat(value)
            return date.fromisoformat(value)
        except ValueError:
            raise ConfigError(f"column {column.name!r} holds dates: the value must be an "
                              "ISO date") from None
    return value


def _same(stored: Any, wanted: Any) -> bool:
    """Whether a stored value already is the wanted one, across driver representations."""
    if stored is None or wanted is None:
        return stored is None and wanted is None
    if isinstance(wanted, bool) or isinstance(stored, bool):
        return bool(stored) == bool(wanted) and isinstance(stored, bool | int) \
            and isinstance(wanted, bool | int)
    if isinstance(wanted, datetime) or isinstance(stored, datetime):
        if isinstance(stored, datetime) and isinstance(wanted, datetime):
            return stored.replace(tzinfo=None) == wanted.replace(tzinfo=None)
        return _as_date(stored) == _as_date(wanted)
    if isinstance(wanted, int | float | Decimal) and isinstance(stored, int | float | Decimal):
        return Decimal(str(stored)) == Decimal(str(wanted))
    if isinstance(wanted, date) and isinstance(stored, str):
        return stored[:10] == wanted.isoformat()
    return bool(stored == wanted)


def _as_date(value: Any) -> Any:
    return value.date() if isinstance(value, datetime) else value

