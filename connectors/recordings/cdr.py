"""Where Asterisk/FreePBX CDR rows live: a SQL table (``cdr``) or a CSV export (Master.csv).

Both sources answer the same questions: a pre-filter search that must not miss a row of the
person's, the other legs of a call, a full scan for orphans, and in-place update and delete.
Rows are personal data: error messages name the table, file, column or line, never a value.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import os
import re
import stat
import tempfile
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlparse

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler

from agent.config import SystemConfig
from agent.errors import ConnectorError, IdentifierError
from agent.identifiers import id_variants, normalise_name, phone_e164
from connectors.recordings.model import ACCOUNT_COLUMNS, CDR_COLUMNS, Leg
from connectors.sql import db

CHUNK = 500  # uniqueids per IN list of an update or delete
# Bound values per search statement, under each dialect's limit (SQL Server allows 2,100;
# SQLite 32,766 since 3.32; pymysql formats values into the text). PostgreSQL binds one
# array per predicate instead, so a batch of any size is one statement per predicate kind.
_MAX_PARAMS = {"mssql": 2000, "sqlite": 30_000, "mysql": 20_000, "mariadb": 20_000}
_DEFAULT_MAX_PARAMS = 2000
_LIKE_CHUNK = 100  # clid LIKE patterns per OR, on dialects without a clid extraction
_PLAIN_NUMBERS = ("src", "dst", "cnum", "did")
# Columns FreePBX writes the caller's number to; with one of them, clid is not searched.
_CALLER_COLUMNS = ("src", "cnum")
# Columns a search or a read looks up: each wants an index starting with it.
RECOMMENDED_INDEXES = ("src", "dst", "cnum", "did", "linkedid", "uniqueid", "accountcode")
# Separators a number may be stored with ("+44-7700-900111", "07700 900111"): a number
# column is also compared with them removed, so no writing escapes the pre-filter.
_SEPARATORS = (" ", "-", "(", ")", ".", "/")
# cdr_csv's fixed order (Master.csv has no header); the last three are optional
MASTER_CSV_COLUMNS = ("accountcode", "src", "dst", "dcontext", "clid", "channel", "dstchannel",
                      "lastapp", "lastdata", "calldate", "answer", "end", "duration", "billsec",
                      "disposition", "amaflags", "uniqueid", "userfield", "linkedid",
                      "peeraccount", "sequence")
_MASTER_MIN_FIELDS = 18
_CLID = re.compile(r'^\s*(?:"(?P<quoted>[^"]*)"|(?P<bare>[^<>"]*?))\s*<(?P<number>[^<>]*)>\s*$')
_NUMBER_TEXT = re.compile(r"^\s*\+?[\d\s().\-]+$")
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


@dataclass(frozen=True)
class CdrQuery:
    numbers: frozenset[str]  # raw forms of the wanted numbers (phone_variants output)
    e164: frozenset[str]  # the same numbers as E.164
    accounts: frozenset[str]  # account/customer ids, normalised
    names: frozenset[str]  # normalised names (normalise_name output)

    @property
    def forms(self) -> frozenset[str]:
        return self.numbers | self.e164

    @property
    def folded_accounts(self) -> frozenset[str]:
        return frozenset(a.strip().casefold() for a in self.accounts if a.strip())

    @property
    def folded_names(self) -> frozenset[str]:
        return frozenset(n.strip().casefold() for n in self.names if n.strip())


class CdrSource(Protocol):
    kind: str  # "sql" | "csv"
    where: str  # "table cdr" / "CSV file Master.csv": no secrets, no folders

    @property
    def columns(self) -> tuple[str, ...]: ...  # which of CDR_COLUMNS exist (lower-case)
    @property
    def all_columns(self) -> tuple[str, ...]: ...  # every column, lower-case (lastdata...)

    def check(self) -> None: ...
    def search(self, query: CdrQuery) -> Iterator[Leg]: ...
    def legs(self, uniqueids: Collection[str] = (),
             linkedids: Collection[str] = ()) -> Iterator[Leg]: ...
    def scan(self) -> Iterator[Leg]: ...
    def count(self) -> int: ...
    def missing_indexes(self) -> list[str]: ...  # lookup columns no index serves
    def update(self, uniqueids: Collection[str], changes: Mapping[str, Any]) -> int: ...
    def delete(self, uniqueids: Collection[str]) -> int: ...
    def close(self) -> None: ...


def open_cdr(system: SystemConfig, spec: str, *, table: str = "cdr",
             loose_numbers: bool = False) -> CdrSource:
    """A SQLAlchemy URL opens the table; anything else is a CSV path (``file:///``,
    absolute, or relative to the config's folder). ``loose_numbers`` also compares a SQL
    table's numbers with separators removed (a full scan; a CSV is normalised anyway)."""
    if "://" in spec and not spec.lower().startswith("file://"):
        return SqlCdr(dataclasses.replace(system, url=spec), table,
                      loose_numbers=loose_numbers)
    return CsvCdr(system, _csv_path(system, spec))


def _csv_path(system: SystemConfig, spec: str) -> Path:
    if spec.lower().startswith("file://"):
        parsed = urlparse(spec)
        if parsed.netloc not in ("", "localhost"):
            raise ConnectorError(f"system {system.name!r}: a file:// CDR path must be local")
        return Path(unquote(parsed.path))
    path = Path(spec).expanduser()
    return path if path.is_absolute() else system.base_dir / path


def _compact_text(value: str) -> str:
    for separator in _SEPARATORS:
        value = value.replace(separator, "")
    return value


def _compacted(column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """The column with separators removed, in SQL every dialect has (nested REPLACE)."""
    out: sa.ColumnElement[Any] = column
    for separator in _SEPARATORS:
        out = sa.func.replace(out, separator, "")
    return out


class _ClidNumber(sa.sql.functions.GenericFunction[str]):
    """The ``<number>`` at the end of a caller id, brackets included (one extraction per
    row, compared with a hashed list; compiled per dialect below)."""

    type = sa.String()
    name = "clid_number"
    inherit_cache = True


# Dialects that compile _ClidNumber; elsewhere a clid-only table falls back to LIKEs.
_CLID_DIALECTS = frozenset({"postgresql", "mysql", "mariadb", "sqlite", "mssql"})


def _clid_arg(element: _ClidNumber, compiler: SQLCompiler, **kw: Any) -> str:
    (argument,) = element.clauses
    return f"rtrim({compiler.process(argument, **kw)})"


@compiles(_ClidNumber, "postgresql")
def _clid_number_pg(element: _ClidNumber, compiler: SQLCompiler, **kw: Any) -> str:
    return f"substring({_clid_arg(element, compiler, **kw)} from '<[^<>]*>$')"


@compiles(_ClidNumber, "mysql")
@compiles(_ClidNumber, "mariadb")
def _clid_number_my(element: _ClidNumber, compiler: SQLCompiler, **kw: Any) -> str:
    return f"regexp_substr({_clid_arg(element, compiler, **kw)}, '<[^<>]*>$')"


@compiles(_ClidNumber, "sqlite")
def _clid_number_sqlite(element: _ClidNumber, compiler: SQLCompiler, **kw: Any) -> str:
    # rtrim(t, <every character of t but '<'>) ends at the last '<': its length is where
    # the number starts
    t = _clid_arg(element, compiler, **kw)
    return f"substr({t}, length(rtrim({t}, replace({t}, '<', ''))))"


@compiles(_ClidNumber, "mssql")
def _clid_number_mssql(element: _ClidNumber, compiler: SQLCompiler, **kw: Any) -> str:
    t = _clid_arg(element, compiler, **kw)
    return f"RIGHT({t}, CHARINDEX('<', REVERSE({t})))"


@dataclass(frozen=True)
class _Predicate:
    params: int  # values bound (one for a PostgreSQL array)
    clause: sa.ColumnElement[bool]
    index: str | None = None  # the column whose index can answer it alone


# --------------------------------------------------------------------------- rows -> legs


def leg_from_row(row: Mapping[str, Any], source: str) -> Leg:
    fields = {str(k).lower(): v for k, v in row.items()}
    leg = Leg(id=_text(fields.get("uniqueid")), fields=fields, source=source,
              started=_started(fields.get("calldate")))
    for role in _PLAIN_NUMBERS:
        if value := _text(fields.get(role)):
            leg.numbers[role] = value
    _add_clid(leg, _text(fields.get("clid")))
    if cnam := _text(fields.get("cnam")):
        leg.names["cnam"] = cnam
    for role in ACCOUNT_COLUMNS:
        if value := _text(fields.get(role)):
            leg.accounts[role] = value
    if audio := _text(fields.get("recordingfile")):
        leg.audio.append(audio)
    return leg


def _text(value: Any) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    return text if text.strip() else ""


def _started(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    text = _text(value).strip()
    if not text:
        return None
    try:
        return datetime.strptime(text, _TIME_FORMAT)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def split_clid(clid: str) -> tuple[str, str]:
    """(name, number) of a caller id: ``"Jane Doe" <07700900111>``; a bare value is a
    number when it reads as one, else a name."""
    match = _CLID.match(clid)
    if match:
        name = match.group("quoted") if match.group("quoted") is not None \
            else match.group("bare")
        return (name or "").strip(), match.group("number").strip()
    if _NUMBER_TEXT.match(clid):
        return "", clid.strip()
    return clid.strip(), ""


def _add_clid(leg: Leg, clid: str) -> None:
    if not clid:
        return
    name, number = split_clid(clid)
    if number:
        leg.numbers["clid"] = number
    if name:
        leg.names["clid"] = name


# --------------------------------------------------------------------------- SQL


def _chunks(values: Iterable[str], size: int = CHUNK) -> Iterator[list[str]]:
    items = sorted(set(values))
    for start in range(0, len(items), size):
        yield items[start:start + size]


class SqlCdr:
    """A CDR table reached through SQLAlchemy; every predicate uses bound parameters."""

    kind = "sql"

    def __init__(self, system: SystemConfig, table: str = "cdr", *,
                 loose_numbers: bool = False) -> None:
        self.system = system
        self.table_spec = table
        self.loose_numbers = loose_numbers
        self.where = f"table {table}"
        self._engine: Engine | None = None
        self._table: sa.Table | None = None
        self._by_lower: dict[str, sa.Column[Any]] = {}
        self._indexed: frozenset[str] = frozenset()  # columns an index starts with

    # ----------------------------------------------------------- connection and reflection

    def _error(self, message: str) -> ConnectorError:
        return ConnectorError(f"system {self.system.name!r}: {self.where}: {message}")

    def _get_engine(self) -> Engine:
        if self._engine is None:
            db.check_sqlite_file(self.system)
            timeout = float(self.system.options.get("connect_timeout", 10))
            self._engine = db.create_engine(self.system, timeout)
        return self._engine

    @contextmanager
    def _connect(self, what: str, *, begin: bool = False) -> Iterator[Connection]:
        engine = self._get_engine()
        try:
            conn = engine.connect()
        except sa.exc.SQLAlchemyError as exc:
            raise db.connect_error(self.system, exc) from None
        try:
            with db.step(self.system, f"{what} ({self.where})"):
                if begin:
                    with conn.begin():
                        yield conn
                else:
                    yield conn
        finally:
            conn.close()

    def _reflect(self) -> sa.Table:
        if self._table is not None:
            return self._table
        schema, _, name = self.table_spec.rpartition(".")
        with self._connect("reading the table's columns") as conn:
            names = sa.inspect(conn).get_table_names(schema=schema or None)
            real = next((n for n in names if n.lower() == name.lower()), None)
            if real is None:
                raise self._error("the database has no such table")
            table = sa.Table(real, sa.MetaData(), schema=schema or None, autoload_with=conn)
            indexed = _index_leads(sa.inspect(conn), real, schema or None)
        by_lower = {c.name.lower(): c for c in table.columns}
        if "uniqueid" not in by_lower:
            raise self._error("the table has no uniqueid column")
        self._table, self._by_lower, self._indexed = table, by_lower, indexed
        return table

    @property
    def _dialect(self) -> str:
        return self._get_engine().dialect.name

    @property
    def columns(self) -> tuple[str, ...]:
        self._reflect()
        return tuple(c for c in CDR_COLUMNS if c in self._by_lower)

    @property
    def all_columns(self) -> tuple[str, ...]:
        self._reflect()
        return tuple(self._by_lower)

    def _col(self, name: str) -> sa.ColumnElement[Any] | None:
        column = self._by_lower.get(name)
        if column is None:
            return None
        # a numeric column compared with text would fail on PostgreSQL: compare as text
        return column if isinstance(column.type, sa.String) else sa.cast(column, sa.String)

    def check(self) -> None:
        self._reflect()
        with self._connect("reading a row") as conn:
            conn.execute(sa.select(self._by_lower["uniqueid"]).limit(1)).fetchall()

    def missing_indexes(self) -> list[str]:
        """The columns a search or read looks up that exist but no index starts with:
        each of them makes those statements scan the table."""
        self._reflect()
        return [c for c in RECOMMENDED_INDEXES if c in self._by_lower and c not in self._indexed]

    # ----------------------------------------------------------- reading

    def search(self, query: CdrQuery) -> Iterator[Leg]:
        yield from self._select(self._search_clauses(query), "searching")

    def _search_clauses(self, query: CdrQuery) -> list[_Predicate]:
        self._reflect()
        forms = frozenset(f for f in query.forms if f.strip())
        # FreePBX writes the caller's number to src and cnum: clid is searched only when it
        # is the table's one caller column (the matcher still reads clid on fetched rows)
        roles = [r for r in _PLAIN_NUMBERS if r in self._by_lower]
        clid_only = "clid" in self._by_lower and not any(
            c in self._by_lower for c in _CALLER_COLUMNS)
        predicates: list[_Predicate] = []
        for role in roles:
            predicates += self._in(role, forms)
        if clid_only:
            predicates += self._in("clid", forms) + self._clid_number_clauses(forms)
        if self.loose_numbers:  # opt-in: a function of every row, so a full scan
            compact = frozenset(c for f in forms if (c := _compact_text(f)))
            for role in roles + (["clid"] if clid_only else []):
                predicates += self._in(role, compact, _compacted)
        accounts = frozenset(v for a in query.accounts if a.strip()
                             for v in id_variants(a.strip()) if v.strip())
        for role in ACCOUNT_COLUMNS:
            predicates += self._in(role, accounts)
        return predicates + self._name_clauses(query.folded_names)

    def _in(self, role: str, values: Collection[str],
            transform: Callable[[sa.ColumnElement[Any]], sa.ColumnElement[Any]] | None = None
            ) -> list[_Predicate]:
        """``column IN values`` (``= ANY(array)`` on PostgreSQL), chunked to the dialect's
        limit; marked with the column when an index can answer it."""
        column = self._col(role)
        if column is None or not values:
            return []
        plain = transform is None and column is self._by_lower[role]
        index = role if plain and role in self._indexed else None
        target = column if transform is None else transform(column)
        if self._dialect == "postgresql":
            array = sa.bindparam(None, sorted(values), type_=ARRAY(sa.String()))
            return [_Predicate(1, target == sa.any_(array), index)]
        size = _MAX_PARAMS.get(self._dialect, _DEFAULT_MAX_PARAMS)
        return [_Predicate(len(c), target.in_(c), index) for c in _chunks(values, size)]

    def _clid_number_clauses(self, forms: frozenset[str]) -> list[_Predicate]:
        """The number of ``"Name" <number>``: one extraction per row against the wanted
        ``<form>``s; LIKE patterns (chunked) where the dialect has no extraction."""
        if self._dialect in _CLID_DIALECTS:
            return self._in("clid", frozenset(f"<{f}>" for f in forms), _ClidNumber)
        clid = self._col("clid")
        assert clid is not None
        return [_Predicate(len(c), sa.or_(*(clid.endswith(f"<{f}>", autoescape=True)
                                            for f in c)))
                for c in _chunks(forms, _LIKE_CHUNK)]

    def _name_clauses(self, names: frozenset[str]) -> list[_Predicate]:
        predicates: list[_Predicate] = []
        for role in ("cnam", "clid"):
            predicates += self._in(role, names, _folded)
        # the name part of '"Jane Doe" <07700900111>': only where no cnam column holds it
        # (PBXes fill cnam with it); the prefix patterns grow with the batch and scan
        if (clid := self._col("clid")) is not None and self._col("cnam") is None:
            lowered = sa.func.lower(clid)
            for chunk in _chunks(names, CHUNK // 2):
                predicates.append(_Predicate(2 * len(chunk), sa.or_(*(
                    lowered.startswith(prefix, autoescape=True)
                    for n in chunk for prefix in (f'"{n}" <', f"{n} <")))))
        return predicates

    def legs(self, uniqueids: Collection[str] = (),
             linkedids: Collection[str] = ()) -> Iterator[Leg]:
        self._reflect()
        predicates = self._in("uniqueid", {str(i) for i in uniqueids}) \
            + self._in("linkedid", {str(i) for i in linkedids})
        yield from self._select(predicates, "reading call legs")

    def statements(self, predicates: Sequence[_Predicate]) -> list[sa.Select[Any]]:
        """The SELECTs that answer ``predicates``: those an index answers alone get a
        statement per column (each an index lookup); the rest share statements (one scan),
        none binding more values than the dialect allows."""
        table = self._reflect()
        groups: dict[str | None, list[_Predicate]] = {}
        for predicate in predicates:
            groups.setdefault(predicate.index, []).append(predicate)
        limit = 1 if self._dialect == "postgresql" else \
            _MAX_PARAMS.get(self._dialect, _DEFAULT_MAX_PARAMS)
        return [sa.select(table).where(sa.or_(*batch))
                for group in groups.values() for batch in _batches(group, limit)]

    def _select(self, predicates: Sequence[_Predicate], what: str) -> Iterator[Leg]:
        statements = self.statements(predicates)
        seen: set[tuple[Any, ...]] = set()
        for statement in statements:
            with self._connect(what) as conn:
                for row in conn.execute(statement).mappings():
                    if len(statements) > 1:  # a row may match in several statements
                        key = tuple(str(v) for v in row.values())
                        if key in seen:
                            continue
                        seen.add(key)
                    yield leg_from_row(row, self.where)

    def scan(self) -> Iterator[Leg]:
        table = self._reflect()
        with self._connect("scanning") as conn:
            streamed = conn.execution_options(stream_results=True, yield_per=1000)
            for row in streamed.execute(sa.select(table)).mappings():
                yield leg_from_row(row, self.where)

    def count(self) -> int:
        table = self._reflect()
        with self._connect("counting rows") as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())

    # ----------------------------------------------------------- changing

    def update(self, uniqueids: Collection[str], changes: Mapping[str, Any]) -> int:
        table = self._reflect()
        values = self._checked_changes(changes)
        if not uniqueids or not values:
            return 0
        # only rows that differ: the count is of rows changed, and a re-run changes none
        differs = sa.or_(*(_differs(table.c[name], value) for name, value in values.items()))
        changed = 0
        with self._connect("updating rows", begin=True) as conn:
            for chunk in _chunks(str(i) for i in uniqueids):
                where = sa.and_(self._by_lower["uniqueid"].in_(chunk), differs)
                changed += conn.execute(table.update().where(where).values(values)).rowcount
        return changed

    def _checked_changes(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, value in changes.items():
            column = self._by_lower.get(name)
            if column is None or name != name.lower():
                raise self._error(f"no column {name!r} to update (lower-case names)")
            values[column.name] = value
        return values

    def delete(self, uniqueids: Collection[str]) -> int:
        table = self._reflect()
        removed = 0
        with self._connect("deleting rows", begin=True) as conn:
            for chunk in _chunks(str(i) for i in uniqueids):
                where = self._by_lower["uniqueid"].in_(chunk)
                removed += conn.execute(table.delete().where(where)).rowcount
        return removed

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def _differs(column: sa.Column[Any], value: Any) -> sa.ColumnElement[bool]:
    if value is None:
        return column.is_not(None)
    return sa.or_(column.is_(None), column != value)


def _batches(predicates: Sequence[_Predicate], limit: int) -> list[list[sa.ColumnElement[bool]]]:
    """Clauses grouped so no statement binds more than ``limit`` values (PostgreSQL's
    arrays count one each, so its group is one statement)."""
    if limit == 1:
        return [[p.clause for p in predicates]] if predicates else []
    batches: list[list[sa.ColumnElement[bool]]] = []
    size = limit
    for predicate in predicates:
        if size + predicate.params > limit:
            batches.append([])
            size = 0
        batches[-1].append(predicate.clause)
        size += predicate.params
    return batches


def _folded(column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    return sa.func.lower(sa.func.trim(column))


def _index_leads(inspector: Any, table: str, schema: str | None) -> frozenset[str]:
    """Lower-case names of the columns some index (or the primary key) starts with."""
    leads: set[str] = set()
    try:
        indexes = [i.get("column_names") or [] for i in inspector.get_indexes(table, schema)]
        indexes.append(inspector.get_pk_constraint(table, schema).get("constrained_columns")
                       or [])
    except NotImplementedError:  # a dialect that cannot reflect indexes: none known
        return frozenset()
    for columns in indexes:
        if columns and columns[0]:
            leads.add(str(columns[0]).lower())
    return frozenset(leads)


# --------------------------------------------------------------------------- CSV


@dataclass(frozen=True)
class _Layout:
    encoding: str
    delimiter: str
    header: tuple[str, ...] | None  # lower-cased header, None for Master.csv
    names: tuple[str, ...]  # the field name at each position
    present: tuple[str, ...]  # the fields the first record has (Master.csv's are optional)


@dataclass
class _Record:
    line: int  # line number where the record ends (csv.reader.line_num)
    raw: str  # the record's text as read, line ending included
    cells: list[str]


class CsvCdr:
    """A CDR CSV export: read streaming, rewritten atomically."""

    kind = "csv"

    def __init__(self, system: SystemConfig, path: Path) -> None:
        self.system = system
        self.path = path
        self.where = f"CSV file {path.name}"
        self._layout: _Layout | None = None
        self._layout_stat: tuple[int, int, int] | None = None

    def _error(self, message: str) -> ConnectorError:
        return ConnectorError(f"system {self.system.name!r}: {self.where}: {message}")

    def _stat(self) -> tuple[int, int, int]:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            raise self._error("the file does not exist") from None
        except OSError as exc:
            raise self._error(f"cannot read the file ({type(exc).__name__})") from None
        if not stat.S_ISREG(st.st_mode):
            raise self._error("not a regular file")
        return st.st_mtime_ns, st.st_size, st.st_ino

    # ----------------------------------------------------------- layout

    def layout(self) -> _Layout:
        snapshot = self._stat()
        if self._layout is None or snapshot != self._layout_stat:
            self._layout = self._detect()
            self._layout_stat = snapshot
        return self._layout

    def _detect(self) -> _Layout:
        encoding = self._encoding()
        try:
            with self.path.open(encoding=encoding, newline="") as handle:
                first = handle.readline()
        except OSError as exc:
            raise self._error(f"cannot read the file ({type(exc).__name__})") from None
        delimiter = _sniff_delimiter(first)
        cells = next(csv.reader([first], delimiter=delimiter), []) if first.strip() else []
        lowered = tuple(c.strip().lower() for c in cells)
        if "uniqueid" in lowered:
            return _Layout(encoding, delimiter, lowered, lowered, lowered)
        if cells and len(cells) < _MASTER_MIN_FIELDS:
            raise self._error("line 1: no header with a uniqueid column, and too few fields "
                              f"for Asterisk's Master.csv ({len(cells)} < {_MASTER_MIN_FIELDS})")
        width = len(cells) if cells else _MASTER_MIN_FIELDS
        return _Layout(encoding, delimiter, None, MASTER_CSV_COLUMNS,
                       MASTER_CSV_COLUMNS[:width])

    def _encoding(self) -> str:
        """UTF-8 when the whole file decodes as UTF-8 (checked streaming), else cp1252."""
        try:
            with self.path.open("rb") as handle:
                head = handle.read(3)
                handle.seek(0)
                if _decodes(handle, "utf-8"):
                    return "utf-8-sig" if head == codecs.BOM_UTF8 else "utf-8"
                handle.seek(0)
                if _decodes(handle, "cp1252"):
                    return "cp1252"
        except OSError as exc:
            raise self._error(f"cannot read the file ({type(exc).__name__})") from None
        raise self._error("the file is neither UTF-8 nor cp1252 text")

    @property
    def columns(self) -> tuple[str, ...]:
        names = set(self.layout().present)
        return tuple(c for c in CDR_COLUMNS if c in names)

    @property
    def all_columns(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.layout().present))

    def check(self) -> None:
        for _ in self._records():
            pass

    # ----------------------------------------------------------- reading

    def _records(self) -> Iterator[_Record]:
        """Every record, blank lines included (cells == []), with its raw text."""
        layout = self.layout()
        try:
            with self.path.open(encoding=layout.encoding, newline="") as handle:
                yield from _read_records(handle, layout.delimiter)
        except csv.Error as exc:
            raise self._error(f"line {exc.args[1] if len(exc.args) > 1 else '?'}: "
                              f"cannot parse the CSV ({exc.args[0]})") from None
        except UnicodeDecodeError:
            raise self._error("the file changed encoding while being read") from None
        except OSError as exc:
            raise self._error(f"cannot read the file ({type(exc).__name__})") from None

    def _rows(self) -> Iterator[tuple[_Record, dict[str, str]]]:
        layout = self.layout()
        for index, record in enumerate(self._records()):
            if not record.cells or (index == 0 and layout.header is not None):
                continue
            yield record, _fields(layout.names, record.cells)

    def _legs(self, keep: Callable[[dict[str, str]], bool]) -> Iterator[Leg]:
        for _, fields in self._rows():
            if keep(fields):
                yield leg_from_row(fields, self.where)

    def search(self, query: CdrQuery) -> Iterator[Leg]:
        matcher = _CsvMatcher(query)
        yield from self._legs(matcher)

    def legs(self, uniqueids: Collection[str] = (),
             linkedids: Collection[str] = ()) -> Iterator[Leg]:
        unique, linked = {str(i) for i in uniqueids}, {str(i) for i in linkedids}
        yield from self._legs(lambda f: f.get("uniqueid", "").strip() in unique
                              or f.get("linkedid", "").strip() in linked)

    def scan(self) -> Iterator[Leg]:
        yield from self._legs(lambda f: True)

    def missing_indexes(self) -> list[str]:
        """A CSV is read through on every search: there are no indexes to miss."""
        return []

    def count(self) -> int:
        return sum(1 for _ in self._rows())

    # ----------------------------------------------------------- changing

    def update(self, uniqueids: Collection[str], changes: Mapping[str, Any]) -> int:
        layout = self.layout()
        positions = {name: i for i, name in reversed(list(enumerate(layout.names)))}
        for name in changes:
            if name not in positions:
                raise self._error(f"no column {name!r} to update (lower-case names)")
        wanted = {str(i) for i in uniqueids}
        values = {positions[k]: _cell(v) for k, v in changes.items()}

        def edit(cells: list[str]) -> list[str] | None:
            new = list(cells)
            for index, value in values.items():
                if index < len(new):  # a short (ragged) row keeps its shape
                    new[index] = value
            return new

        return self._rewrite(wanted, edit)

    def delete(self, uniqueids: Collection[str]) -> int:
        return self._rewrite({str(i) for i in uniqueids}, lambda cells: None)

    def _rewrite(self, wanted: set[str], edit: Callable[[list[str]], list[str] | None]) -> int:
        """Write the file with ``edit`` applied to the rows of ``wanted`` uniqueids (None
        drops the row); other records are copied byte for byte. Returns rows changed."""
        if not wanted:
            return 0
        layout = self.layout()
        before = self._stat()
        position = layout.names.index("uniqueid")
        folder = self.path.parent
        fd, temp_name = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=folder)
        temp = Path(temp_name)
        try:
            with os.fdopen(fd, "w", encoding=layout.encoding, newline="") as out:
                changed = _write_edited(self._records(), out, layout, position, wanted, edit)
                out.flush()
                os.fsync(out.fileno())
            if changed == 0:
                temp.unlink()
                return 0
            if self._stat() != before:
                raise self._error("the file changed while it was being rewritten; "
                                  "nothing was changed, try again")
            _copy_owner_and_mode(self.path, temp)
            os.replace(temp, self.path)
            _fsync_folder(folder)
        except UnicodeEncodeError:
            raise self._error(f"a new value cannot be written in {layout.encoding}") from None
        finally:
            with suppress(FileNotFoundError):
                temp.unlink()
        self._layout_stat = None
        return changed

    def close(self) -> None:
        self._layout = None


def _read_records(handle: Iterable[str], delimiter: str) -> Iterator[_Record]:
    raw: list[str] = []

    def lines() -> Iterator[str]:
        for line in handle:
            raw.append(line)
            yield line

    reader = csv.reader(lines(), delimiter=delimiter, strict=True)
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise csv.Error(str(exc), reader.line_num) from None
        yield _Record(reader.line_num, "".join(raw), cells)
        raw.clear()


def _write_edited(records: Iterable[_Record], out: Any, layout: _Layout, position: int,
                  wanted: set[str], edit: Callable[[list[str]], list[str] | None]) -> int:
    changed = 0
    for index, record in enumerate(records):
        is_header = index == 0 and layout.header is not None
        if is_header or position >= len(record.cells) \
                or record.cells[position].strip() not in wanted:
            out.write(record.raw)
            continue
        new = edit(record.cells)
        if new == record.cells:
            out.write(record.raw)
            continue
        changed += 1
        if new is not None:
            out.write(_serialise(new, record.raw, layout.delimiter))
    return changed


def _serialise(cells: list[str], raw: str, delimiter: str) -> str:
    """One record in the style of the one it replaces: its line ending, and every field
    quoted when the original quoted every field (Asterisk's Master.csv does)."""
    ending = "\r\n" if raw.endswith("\r\n") else "\n" if raw.endswith(("\n", "\r")) else ""
    body = raw[:len(raw) - len(ending)] if ending else raw
    quote_all = body.startswith('"') and body.endswith('"') \
        and body.count(f'"{delimiter}"') >= len(cells) - 1
    quoting = csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL

    class _Buffer:
        text = ""

        def write(self, chunk: str) -> None:
            self.text += chunk

    buffer = _Buffer()
    csv.writer(buffer, delimiter=delimiter, quoting=quoting,
               lineterminator=ending or "").writerow(cells)
    return buffer.text


def _fields(names: Sequence[str], cells: list[str]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for name, value in zip(names, cells, strict=False):
        fields.setdefault(name, value)  # a repeated header name keeps its first column
    return fields


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime(_TIME_FORMAT)
    return str(value)


def _sniff_delimiter(line: str) -> str:
    """The candidate that splits the first line into the most fields."""
    best, most = ",", 0
    for candidate in (",", ";", "\t"):
        cells = next(csv.reader([line], delimiter=candidate), [])
        if len(cells) > most:
            best, most = candidate, len(cells)
    return best


def _decodes(handle: Any, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        while chunk := handle.read(1 << 20):
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _copy_owner_and_mode(original: Path, temp: Path) -> None:
    st = original.stat()
    os.chmod(temp, stat.S_IMODE(st.st_mode))
    if (st.st_uid, st.st_gid) != (os.geteuid(), os.getegid()):
        # Asterisk must still be able to append to its Master.csv after we replace it
        with suppress(PermissionError):
            os.chown(temp, st.st_uid, st.st_gid)


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # not every platform opens folders; the replace itself is done
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class _CsvMatcher:
    """The search pre-filter over one CSV row's cells, after normalising them."""

    def __init__(self, query: CdrQuery) -> None:
        self.forms = {f.strip() for f in query.forms}
        self.e164 = query.e164
        self.accounts = query.folded_accounts
        self.names = query.folded_names

    def __call__(self, fields: Mapping[str, str]) -> bool:
        name, number = split_clid(fields.get("clid", ""))
        numbers = [fields.get(role, "") for role in _PLAIN_NUMBERS] + [number]
        if any(self._number(n) for n in numbers if n.strip()):
            return True
        if any(fields.get(role, "").strip().casefold() in self.accounts
               for role in ACCOUNT_COLUMNS):
            return True
        return any(self._name(n) for n in (fields.get("cnam", ""), name) if n.strip())

    def _number(self, value: str) -> bool:
        return value.strip() in self.forms or phone_e164(value) in self.e164

    def _name(self, value: str) -> bool:
        if value.strip().casefold() in self.names:
            return True
        try:
            return normalise_name(value) in self.names
        except IdentifierError:
            return False
