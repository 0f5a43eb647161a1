"""SQL dumps (pg_dump, mysqldump/mariadb-dump, sqlite ``.dump``), streamed line by line: the
rows their data statements hold. One parser (``DumpParser``) serves this extractor and the
rewriter (``connectors.files.rewrite_sql``), so both see the same rows with the same numbers.

Rows:

- PostgreSQL ``COPY name (cols) FROM stdin;``: each data line up to ``\\.`` is a row, its
  cells the tab-separated fields with COPY's escapes decoded (``\\t \\n \\\\ \\x41 \\101``;
  ``\\N``, NULL, is ""). A ``WITH (FORMAT csv)`` block's lines are read as one CSV record
  each (a quoted newline inside a value is not joined up).
- ``INSERT``/``REPLACE INTO name [(cols)] VALUES (...), (...);``: each tuple is a row (one
  statement may hold many: mysqldump's extended inserts, pg_dump ``--rows-per-insert``), its
  cells the values: a quoted string decoded ('' everywhere; backslash escapes in MySQL dumps,
  in ``E'...'`` and after ``standard_conforming_strings = off``), sqlite's
  ``replace('a\\nb','\\n',char(10))`` as the text it stands for, NULL as "", anything
  else (numbers, ``X'..'``, function calls) as written.
- Everything else (DDL, SET, comments, ``INSERT ... SELECT``, psql ``\\connect`` lines,
  routines under the mysql client's ``DELIMITER ;;``) yields nothing; ``CREATE TABLE`` only
  teaches the column names an ``INSERT`` without a column list lacks.

Sniffing: a dump tool's banner (``-- PostgreSQL database dump``, ``-- MySQL dump``,
``-- MariaDB dump``) or, in the head, a line-leading ``CREATE TABLE name (``, ``INSERT INTO
name ... VALUES (`` or ``COPY name ... FROM stdin;`` (upper case, as the tools write them);
without the .sql extension the head must also start with SQL. A .sql file whose head shows
none of these (a script of queries, UPDATEs) is left to the text extractor as prose, so the
values it holds are still searched. In a dump, text outside the data statements (comments,
function bodies, UPDATEs) is not searched: dumps hold their data in COPY and INSERT.

``where`` is ``table:NAME`` (the name unquoted, schema kept: ``table:public.customers``).
Every run of data for one table and column list is a part whose first row is a header:
cells the column names (from the statement, else from the table's ``CREATE TABLE``, else
none), so column roles are learnt as for a CSV. When a table's data comes back after another
table's, that run is ``table:NAME (2)`` (then 3...): parts then follow the file's order.

Row numbers (``row``): ``line x LINE_STRIDE + n``, where ``line`` is the 1-based physical
line the row starts on (a COPY data line; a tuple's opening parenthesis; a header's
statement) and ``n`` counts the rows (headers included) starting earlier on that line, from
0. So a COPY row on line 42 is 420000000, the third tuple of a mysqldump line 57 is
570000002 (or ...3 when that line also starts a new part, its header being ...0). They only
grow through the file, so with parts in file order the connector's file-wide numbers
(``part x PART_STRIDE + row``) never collide, and a rewriter re-reading the same bytes finds
the same row under the same number.

Limits: a line over ``MAX_LINE_BYTES``, a statement over ``MAX_STATEMENT_BYTES``, more than
``LINE_STRIDE - 1`` rows on one line, an unterminated COPY block, string or statement: an
error naming the line, never content.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import BinaryIO

from agent.extractors import ExtractContext, ExtractionError, Extractor, TextPiece
from plugins.extractors._common import FALLBACK, known_binary, looks_like_text, row_text

MAX_LINE_BYTES = 64 << 20  # mysqldump writes a whole extended INSERT on one line
MAX_STATEMENT_BYTES = 64 << 20  # an INSERT or CREATE TABLE held whole to split its tuples
LINE_STRIDE = 10_000_000
_MAX_TABLES = 100_000  # CREATE TABLE column lists remembered

# ---------------------------------------------------------------- grammar (bytes)
_IDENT = rb'(?:"(?:[^"]|"")+"|`(?:[^`]|``)+`|\[[^\]]+\]|[\w$]+)'
_NAME = rb"(" + _IDENT + rb"(?:\s*\.\s*" + _IDENT + rb")*)"
_INSERT = re.compile(
    rb"\s*(?:INSERT|REPLACE)\s+(?:(?:LOW_PRIORITY|DELAYED|HIGH_PRIORITY|IGNORE|OR\s+\w+)\s+)*"
    rb"INTO\s+" + _NAME + rb"\s*(?:\(([^()]*)\))?\s*"
    rb"(?:OVERRIDING\s+(?:SYSTEM|USER)\s+VALUE\s+)?VALUES\s*", re.IGNORECASE)
_COPY = re.compile(rb"\s*COPY\s+" + _NAME + rb"\s*(?:\(([^()]*)\))?\s+FROM\s+stdin\b(.*?);\s*$",
                   re.IGNORECASE | re.DOTALL)
_CREATE = re.compile(
    rb"\s*CREATE\s+(?:OR\s+REPLACE\s+)?(?:(?:GLOBAL|LOCAL)\s+)?(?:TEMP(?:ORARY)?\s+|UNLOGGED\s+)?"
    rb"TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?" + _NAME + rb"\s*\(", re.IGNORECASE)
_START = re.compile(rb"(?:INSERT|REPLACE|COPY|CREATE)\b", re.IGNORECASE)
_IDENTS = re.compile(_IDENT)
_NOT_COLUMN = {b"PRIMARY", b"KEY", b"UNIQUE", b"CONSTRAINT", b"FOREIGN", b"CHECK", b"INDEX",
               b"FULLTEXT", b"SPATIAL", b"EXCLUDE", b"LIKE", b"PERIOD"}
_SPACE = re.compile(rb"\s*")
_NEXT = re.compile(rb"\s*,\s*\(")
_CODE = re.compile(rb"[;'\"`$]|--|/\*")
_DELIMITER = re.compile(rb"DELIMITER[ \t]+(\S+)", re.IGNORECASE)
_VALUE = re.compile(rb"[(),'\"`$]|--|/\*")
_DOLLAR = re.compile(rb"\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$")
_CLOSE = {(q, esc): re.compile(b"[\\\\" + q + b"]" if esc else re.escape(q))
          for q in (b"'", b'"', b"`") for esc in (False, True)}
_STRING_VALUE = re.compile(rb"(?:_[A-Za-z0-9]+\s*|([NnEe]))?'(.*)'(?:\s*::\s*[\w .\"\[\]]+)?",
                           re.DOTALL)
_BACKSLASH = re.compile(rb"\\(.)|''", re.DOTALL)
_COPY_ESCAPE = re.compile(r"\\(x[0-9A-Fa-f]{1,2}|[0-7]{1,3}|.)", re.DOTALL)
_ESCAPES = {b"0": b"\x00", b"b": b"\b", b"f": b"\f", b"n": b"\n", b"r": b"\r", b"t": b"\t",
            b"v": b"\v", b"Z": b"\x1a"}
_COPY_SIMPLE = tuple(("\\" + k.decode(), v.decode()) for k, v in _ESCAPES.items()
                     if k in b"bfnrtv")
_MYSQL_KEPT = {b"%", b"_"}  # MySQL keeps the backslash of \% and \_
_IDENT_CHAR = re.compile(rb"[\w$]")
# INSERT INTO `t`: a MySQL dump, even without its banner
_BACKTICK_TABLE = re.compile(rb"[A-Za-z_ ]*?INTO\s+`", re.IGNORECASE)
# What a dump's head looks like to the content sniff: a tool's banner, or a line-leading
# statement with its SQL shape (upper-case keywords, as the dump tools write them).
_BANNER = re.compile(rb"^-- (?:PostgreSQL database dump|MySQL dump|MariaDB dump)",
                     re.MULTILINE)
_SNIFF_STATEMENT = re.compile(
    rb"^(?:CREATE TABLE (?:IF NOT EXISTS )?" + _NAME + rb" ?\(|INSERT INTO " + _NAME +
    rb"[^\n]*VALUES ?\(|COPY " + _NAME + rb"[^\n]* FROM stdin;$)", re.MULTILINE)
_SNIFF_LEAD = re.compile(rb"\A(?:\s|--[^\n]*\n|/\*.*?\*/;?)*(?:SET |CREATE |INSERT |COPY |DROP |"
                         rb"BEGIN|PRAGMA |START TRANSACTION|LOCK TABLES|USE |SELECT )",
                         re.DOTALL)
_OTHER_TABULAR = (".csv", ".tsv", ".tab", ".json", ".jsonl", ".ndjson", ".parquet", ".xlsx")

State = tuple[bytes, ...] | None  # the lexer inside a string, dollar quote or comment


class SqlDumpError(ExtractionError):
    """A dump that cannot be read as one: the message names the line, never content."""


def _error(line: int, reason: str) -> SqlDumpError:
    exc = SqlDumpError(f"line {line}: {reason}")
    exc.part = f"line {line}"  # type: ignore[attr-defined]
    exc.reason = reason  # type: ignore[attr-defined]
    return exc


# ---------------------------------------------------------------- events
@dataclass
class Raw:
    """Bytes that hold no row: copied as they are."""

    data: bytes


@dataclass
class Header:
    """A part's first row: its column names (no bytes of its own)."""

    where: str
    row: int
    cells: tuple[str, ...]


@dataclass
class CopyRow:
    where: str
    row: int
    cells: tuple[str, ...]
    data: bytes  # the whole line, line end included


@dataclass
class Tuple:
    where: str
    row: int
    cells: tuple[str, ...]
    start: int  # its "(" within the statement
    end: int  # just past its ")"


@dataclass
class Insert:
    """One INSERT statement: ``before`` (the indentation before it on its first line, when
    it starts the line), ``data`` (up to its ";"), ``after`` (the rest of its last line when
    that is only white space): all three go when every tuple is removed. ``tuples`` are
    parsed as they are read (a 64 MiB line may hold millions): read them all, once, before
    the next event."""

    before: bytes
    data: bytes
    after: bytes
    tuples: Iterator[Tuple]


Event = Raw | Header | CopyRow | Insert


# ---------------------------------------------------------------- the parser
@dataclass
class _Copy:
    where: str
    line: int
    csv: bool


class DumpParser:
    """The events of one dump, in file order (see the module docstring)."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self.number = 0  # the line last read
        self.mysql = False  # backticks, backslash escapes in strings, no dollar quotes
        self.backslash = False  # backslash escapes in '...' strings
        self._columns: dict[str, tuple[str, ...]] = {}  # CREATE TABLE columns by table
        self._block: tuple[str, tuple[str, ...]] | None = None
        self._where = ""
        self._runs: dict[str, int] = {}
        self._counted = (0, -1)  # (line, rows numbered on it so far - 1)
        self._copy: _Copy | None = None  # inside a COPY block's data
        self._no_backslash = False  # a MySQL dump made with sql_mode NO_BACKSLASH_ESCAPES
        self.delimiter = b";"  # what ends a statement (DELIMITER ;; around MySQL routines)

    def _mysql(self) -> None:
        self.mysql = True
        self.backslash = not self._no_backslash

    # ------------------------------------------------------------ lines and numbers
    def _line(self) -> bytes:
        raw = self._stream.readline(MAX_LINE_BYTES + 1)
        if raw:
            self.number += 1
            if len(raw) > MAX_LINE_BYTES:
                raise _error(self.number, f"longer than {MAX_LINE_BYTES >> 20} MiB")
        return raw

    def _row(self, line: int) -> int:
        last, count = self._counted
        count = count + 1 if last == line else 0
        if count >= LINE_STRIDE:
            raise _error(line, f"more than {LINE_STRIDE - 1} rows start on this line")
        self._counted = (line, count)
        return line * LINE_STRIDE + count

    def _enter(self, table: str, columns: tuple[str, ...] | None, line: int) -> Header | None:
        """The part a statement's rows go to; its header when the part is new."""
        if columns is None:
            columns = self._columns.get(table) or self._columns.get(table.rsplit(".", 1)[-1])
        key = (table, columns or ())
        if key == self._block:
            return None
        self._block = key
        base = f"table:{table}"
        runs = self._runs[base] = self._runs.get(base, 0) + 1
        self._where = base if runs == 1 else f"{base} ({runs})"
        return Header(self._where, self._row(line), key[1])

    # ------------------------------------------------------------ the main loop
    def events(self) -> Iterator[Event]:
        other: State | None = None  # inside a statement we only pass through (its state)
        in_other = False
        opened = 0  # the line that statement started on
        comment = False  # inside a /* */ between statements
        while True:
            line = self._line()
            if not line:
                break
            number = self.number
            if self._copy is not None:
                yield self._copy_line(line, number)
                continue
            pos, flushed, starts_line = 0, 0, True
            if number == 1 and line.startswith(b"\xef\xbb\xbf"):
                pos = 3  # a BOM: kept in the bytes, not read as SQL
            while pos < len(line):
                if comment:
                    end = line.find(b"*/", pos)
                    if end < 0:
                        break
                    pos, comment = end + 2, False
                    continue
                if in_other:
                    end, other = _scan(line, pos, other, self)
                    if end < 0:
                        break
                    pos, in_other = end, False
                    continue
                pos = _SPACE.match(line, pos).end()  # type: ignore[union-attr]
                if pos >= len(line):
                    break
                if line.startswith(b"--", pos):
                    if re.match(rb"-- (?:MySQL|MariaDB) dump", line[pos:pos + 20]):
                        self._mysql()
                    break
                if line.startswith(b"\\", pos):  # a psql meta-command (\connect): one line
                    break
                delimiter = _DELIMITER.match(line, pos)
                if delimiter is not None:  # the mysql client's: routines end with ;; or //
                    self.delimiter = delimiter.group(1)
                    break
                if line.startswith(b"/*", pos):
                    if line.startswith(b"/*!", pos):
                        self._no_backslash |= b"NO_BACKSLASH_ESCAPES" in line
                        self._mysql()
                    end = line.find(b"*/", pos + 2)
                    if end < 0:
                        comment = True
                        break
                    pos = end + 2
                    continue
                kind = _START.match(line, pos) if self.delimiter == b";" else None
                word = kind.group().upper() if kind else b""
                if word == b"COPY" and (copy := _COPY.match(line, pos)):
                    yield Raw(line[flushed:])
                    flushed = pos = len(line)
                    header = self._start_copy(copy, number)
                    if header is not None:
                        yield header
                    break
                if word in (b"INSERT", b"REPLACE") or (word == b"CREATE"
                                                       and _CREATE.match(line, pos)):
                    before = line[:pos] if starts_line and not line[:pos].strip() else b""
                    if not before and flushed < pos:
                        yield Raw(line[flushed:pos])
                    if word != b"CREATE" and _BACKTICK_TABLE.match(line, pos):
                        self._mysql()
                    stmt, starts, rest = self._statement(line, pos, number)
                    after = rest if not rest.strip() else b""
                    if word == b"CREATE":
                        self._learn(stmt, number)
                        yield Raw(before + stmt + after)
                    else:
                        yield from self._insert(before, stmt, after, starts)
                    if after or not rest:
                        line, pos, flushed = b"", 0, 0
                        break
                    # another statement follows on the same line
                    line, pos, flushed, starts_line = rest, 0, 0, False
                    number = self.number
                    continue
                if line.startswith(b"SET standard_conforming_strings = off", pos):
                    self.backslash = True
                in_other, other, opened = True, None, number
            if flushed < len(line):
                yield Raw(line[flushed:])
        if self._copy is not None:
            raise _error(self._copy.line, "the COPY block starting here has no \\. end line")
        if in_other and other is not None and other[0] != b"/*":
            raise _error(opened, "a quoted string or body in the statement starting here "
                         "is not closed")

    # ------------------------------------------------------------ COPY
    def _start_copy(self, match: re.Match[bytes], line: int) -> Header | None:
        table = _table(match.group(1))
        columns = _column_list(match.group(2)) if match.group(2) is not None else None
        options = match.group(3).lower()
        header = self._enter(table, columns, line)
        self._copy = _Copy(self._where, line, b"csv" in options)
        return header

    def _copy_line(self, line: bytes, number: int) -> Event:
        assert self._copy is not None
        body = line[:-1] if line.endswith(b"\n") else line
        if body.endswith(b"\r"):
            body = body[:-1]
        if body == b"\\.":
            self._copy = None
            return Raw(line)
        if self._copy.csv:
            cells = tuple(next(csv.reader([_text(body)]), []))
        else:
            text = _text(body)
            fields = text.split("\t")
            if "\\" in text:  # NULLs and escapes: only in the fields that hold them
                for i, value in enumerate(fields):
                    if "\\" in value:
                        fields[i] = _copy_field(value)
            cells = tuple(fields)
        return CopyRow(self._copy.where, self._row(number), cells, line)

    # ------------------------------------------------------------ INSERT / CREATE
    def _statement(self, first: bytes, start: int, line: int
                   ) -> tuple[bytes, list[tuple[int, int]], bytes]:
        """A statement held whole from ``first[start:]`` (``first`` is line ``line``): (its
        bytes up to ";", where each of its lines starts as (offset, line number), the rest of
        its last line)."""
        starts = [(0, line)]
        end, state = _scan(first, start, None, self)
        if end >= 0:  # the usual case: one line (copied once: mysqldump lines are long)
            return first[start:end], starts, first[end:]
        buf = bytearray(memoryview(first)[start:])
        pos = len(buf)
        while True:
            more = self._line()
            if not more:
                if state is not None and state[0] != b"/*":
                    raise _error(line, "a quoted string in the statement starting here is "
                                 "not closed")
                raise _error(line, "the statement starting here has no ; end")
            if len(buf) + len(more) > MAX_STATEMENT_BYTES:
                raise _error(line, f"the statement starting here is longer than "
                             f"{MAX_STATEMENT_BYTES >> 20} MiB")
            starts.append((len(buf), self.number))
            buf += more
            end, state = _scan(buf, pos, state, self)
            if end >= 0:
                return bytes(buf[:end]), starts, bytes(buf[end:])
            pos = len(buf)

    def _insert(self, before: bytes, stmt: bytes, after: bytes, starts: list[tuple[int, int]]
                ) -> Iterator[Event]:
        head = _INSERT.match(stmt)
        if head is None:  # INSERT ... SELECT, DEFAULT VALUES: no rows of its own
            yield Raw(before + stmt + after)
            return
        first = starts[0][1]
        table = _table(head.group(1))
        columns = _column_list(head.group(2)) if head.group(2) is not None else None
        header = self._enter(table, columns, first)
        if header is not None:
            yield header
        yield Insert(before, stmt, after, self._tuples(stmt, head.end(), starts))

    def _tuples(self, stmt: bytes, pos: int, starts: list[tuple[int, int]]) -> Iterator[Tuple]:
        pos, index, last = _skip(stmt, pos), 0, len(starts) - 1
        where, simple = self._where, _simple_tuple
        while stmt[pos:pos + 1] == b"(":
            while index < last and starts[index + 1][0] <= pos:
                index += 1
            line = starts[index][1]
            fast = simple(stmt, pos, self.backslash)
            if fast is not None:
                end, cells = fast
            else:
                end, spans = _split(stmt, pos, self, line)
                cells = tuple(_value(stmt[a:b], self) for a, b in spans)
            yield Tuple(where, self._row(line), cells, pos, end)
            gap = _NEXT.match(stmt, end)  # ",(" and white space: the usual way on
            if gap is not None:
                pos = gap.end() - 1
                continue
            pos = _skip(stmt, end)
            if stmt[pos:pos + 1] != b",":
                break
            pos = _skip(stmt, pos + 1)

    def _learn(self, stmt: bytes, line: int) -> None:
        head = _CREATE.match(stmt)
        if head is None or len(self._columns) >= _MAX_TABLES:
            return
        try:
            _, spans = _split(stmt, head.end() - 1, self, line)
        except SqlDumpError:
            return
        columns = []
        for a, b in spans:
            element = stmt[_skip(stmt, a):b]
            ident = _IDENTS.match(element)
            if ident is None or ident.group().upper() in _NOT_COLUMN:
                continue
            columns.append(_unquote(ident.group()))
        self._columns[_table(head.group(1))] = tuple(columns)


# ---------------------------------------------------------------- lexing
def _scan(buf: bytes | bytearray, pos: int, state: State, parser: DumpParser
          ) -> tuple[int, State]:
    """From ``pos`` (inside ``state``) to just past the statement's ";": (that index, None),
    or (-1, the state at the end of ``buf``)."""
    if state is not None:
        pos = _resume(buf, pos, state)
        if pos < 0:
            return -1, state
    delimiter = parser.delimiter
    code = _CODE if delimiter == b";" else _code(delimiter)
    while True:
        if delimiter == b";":  # whole tokens at C speed; the loop for what the pattern leaves
            pos = _RUN[(parser.backslash, parser.mysql)].match(buf, pos).end()  # type: ignore[union-attr]
        m = code.search(buf, pos)
        if m is None:
            return -1, None
        token, i = m.group(), m.start()
        if token == delimiter:
            return i + len(delimiter), None
        if token == b"--":
            end = buf.find(b"\n", i)
            if end < 0:
                return -1, None
            pos = end + 1
            continue
        if token == b"/*":
            end = buf.find(b"*/", i + 2)
            if end < 0:
                return -1, (b"/*",)
            pos = end + 2
            continue
        if token == b"$":
            tag = None if parser.mysql else _dollar(buf, i)
            if tag is None:
                pos = i + 1
                continue
            end = buf.find(tag, i + len(tag))
            if end < 0:
                return -1, (b"$", tag)
            pos = end + len(tag)
            continue
        esc = _escapes(buf, i, token, parser)
        end = _close(buf, i + 1, token, esc)
        if end < 0:
            return -1, (token, b"\\" if esc else b"")
        pos = end


def _run(esc: bool, mysql: bool) -> re.Pattern[bytes]:
    """Code and complete strings up to a ";" or whatever needs the careful loop (a comment,
    a string not closed in the buffer, an E'' string, a dollar quote)."""
    single = rb"'(?:[^'\\]++|\\.|'')*+'" if esc else rb"'(?:[^']++|'')*+'"
    double = rb'"(?:[^"\\]++|\\.|"")*+"' if mysql else rb'"(?:[^"]++|"")*+"'
    dollar = rb"|\$" if mysql else rb"|\$(?![A-Za-z_$])"
    code = rb"[^;'\"`$/\-Ee]++|[Ee](?!')|-(?!-)|/(?!\*)"
    return re.compile(rb"(?:" + code + rb"|" + single + rb"|" + double + rb"|`[^`]*+`" + dollar
                      + rb")*+", re.DOTALL)


_RUN = {(esc, mysql): _run(esc, mysql) for esc in (False, True) for mysql in (False, True)}


@lru_cache(maxsize=16)
def _code(delimiter: bytes) -> re.Pattern[bytes]:
    return re.compile(re.escape(delimiter) + rb"""|['"`$]|--|/\*""")


def _resume(buf: bytes | bytearray, pos: int, state: tuple[bytes, ...]) -> int:
    kind = state[0]
    if kind == b"/*":
        end = buf.find(b"*/", pos)
        return end + 2 if end >= 0 else -1
    if kind == b"$":
        end = buf.find(state[1], pos)
        return end + len(state[1]) if end >= 0 else -1
    return _close(buf, pos, kind, bool(state[1]))


def _escapes(buf: bytes | bytearray, i: int, quote: bytes, parser: DumpParser) -> bool:
    if quote == b"`":
        return False
    if quote == b'"':
        return parser.mysql
    if parser.backslash:
        return True
    # E'...' (PostgreSQL): the prefix letter standing alone before the quote
    return (i > 0 and buf[i - 1] in b"Ee"
            and (i == 1 or not _IDENT_CHAR.match(buf, i - 2)))


def _close(buf: bytes | bytearray, pos: int, quote: bytes, esc: bool) -> int:
    """Just past the quote that closes a string whose body starts at ``pos``, or -1."""
    pattern = _CLOSE[(quote, esc)]
    while True:
        m = pattern.search(buf, pos)
        if m is None:
            return -1
        j = m.start()
        if buf[j] == 0x5C:  # a backslash escapes the next byte
            pos = j + 2
            continue
        if buf[j + 1:j + 2] == quote:  # a doubled quote
            pos = j + 2
            continue
        return j + 1


def _dollar(buf: bytes | bytearray, i: int) -> bytes | None:
    if i > 0 and _IDENT_CHAR.match(buf, i - 1):
        return None
    m = _DOLLAR.match(buf, i)
    return m.group() if m else None


def _skip(stmt: bytes, pos: int) -> int:
    """Past white space and comments."""
    while True:
        pos = _SPACE.match(stmt, pos).end()  # type: ignore[union-attr]
        if stmt.startswith(b"--", pos):
            end = stmt.find(b"\n", pos)
            pos = len(stmt) if end < 0 else end + 1
        elif stmt.startswith(b"/*", pos):
            end = stmt.find(b"*/", pos + 2)
            pos = len(stmt) if end < 0 else end + 2
        else:
            return pos


def _split(stmt: bytes, pos: int, parser: DumpParser, line: int
           ) -> tuple[int, list[tuple[int, int]]]:
    """A parenthesised list at ``pos``: (just past its ")", the spans of its top-level
    comma-separated elements)."""
    depth, start, spans = 0, pos + 1, []
    while True:
        m = _VALUE.search(stmt, pos)
        if m is None:
            raise _error(line, "a VALUES tuple starting on this line is not closed")
        token, i = m.group(), m.start()
        if token == b"(":
            depth += 1
            pos = i + 1
        elif token == b")":
            depth -= 1
            pos = i + 1
            if depth == 0:
                spans.append((start, i))
                return pos, spans
        elif token == b",":
            if depth == 1:
                spans.append((start, i))
                start = i + 1
            pos = i + 1
        elif token in (b"--", b"/*"):
            pos = _skip(stmt, i)
        elif token == b"$":
            tag = None if parser.mysql else _dollar(stmt, i)
            if tag is None:
                pos = i + 1
                continue
            end = stmt.find(tag, i + len(tag))
            if end < 0:
                raise _error(line, "a dollar-quoted string in a VALUES tuple starting on "
                             "this line is not closed")
            pos = end + len(tag)
        else:
            end = _close(stmt, i + 1, token, _escapes(stmt, i, token, parser))
            if end < 0:
                raise _error(line, "a quoted string in a VALUES tuple starting on this "
                             "line is not closed")
            pos = end


# ---------------------------------------------------------------- values
# A tuple of plain values (quoted strings without prefix, numbers, NULL), read one value
# per match; anything else (a nested parenthesis, a comment, E'..', _binary '..', "..")
# goes to the general ``_split``.
# possessive and atomic: a tuple that is not simple fails at once, never backtracks
_BARE = rb"(?:[^,()'\"`/\-$\s]++|-(?!-)|/(?!\*)|\s++(?=[^\s,)]))*+"
_STRING = {True: rb"(?:[^'\\]++|\\.|'')*+", False: rb"(?:[^']++|'')*+"}
# the whole tuple first (it is simple or not), then its cells: (string body, bare value)
_TUPLE = {esc: re.compile(rb"\((?>\s*(?:'" + body + rb"'|" + _BARE + rb")\s*,)*+\s*(?:'" + body
                          + rb"'|" + _BARE + rb")\s*\)", re.DOTALL)
          for esc, body in _STRING.items()}
_CELLS = {esc: re.compile(rb"\s*(?:'(" + body + rb")'|(" + _BARE + rb"))\s*[,)]", re.DOTALL)
          for esc, body in _STRING.items()}


def _simple_tuple(stmt: bytes, pos: int, esc: bool) -> tuple[int, tuple[str, ...]] | None:
    """(just past the tuple at ``pos``, its cells), or None when it is not that simple."""
    whole = _TUPLE[esc].match(stmt, pos)
    if whole is None:
        return None
    end = whole.end()
    cells = []
    for body, bare in _CELLS[esc].findall(stmt, pos + 1, end):
        if bare:
            cells.append("" if bare.upper() == b"NULL" else bare.decode("utf-8", FALLBACK))
            continue
        if esc:
            if b"\\" in body or b"''" in body:
                body = _BACKSLASH.sub(_unescape_mysql, body)
        elif b"''" in body:
            body = body.replace(b"''", b"'")
        cells.append(body.decode("utf-8", FALLBACK))
    return end, tuple(cells)


def _unescape_mysql(m: re.Match[bytes]) -> bytes:
    return _unescape(m, True)


def _text(data: bytes) -> str:
    return data.decode("utf-8", FALLBACK)


# sqlite .dump writes line ends as replace('a\nb','\n',char(10)), nested for \r too
_SQLITE_REPLACE = re.compile(rb"((?:replace\(\s*)+)'((?:[^']|'')*)'((?:\s*,\s*'(?:[^']|'')*'\s*,"
                             rb"\s*char\(\d+\)\s*\))+)", re.IGNORECASE | re.DOTALL)
_SQLITE_PAIR = re.compile(rb",\s*'((?:[^']|'')*)'\s*,\s*char\((\d+)\)\s*\)", re.IGNORECASE)


def _value(raw: bytes, parser: DumpParser) -> str:
    value = raw.strip()
    if value.upper() == b"NULL":
        return ""
    sqlite = _SQLITE_REPLACE.fullmatch(value)
    if sqlite is not None and not parser.backslash:
        pairs = _SQLITE_PAIR.findall(sqlite.group(3))
        if len(pairs) == sqlite.group(1).lower().count(b"replace("):
            body = sqlite.group(2).replace(b"''", b"'")
            for token, code in pairs:
                if int(code) < 0x110000:
                    body = body.replace(token.replace(b"''", b"'"), chr(int(code)).encode())
            return _text(body)
    m = _STRING_VALUE.fullmatch(value)
    if m is not None:
        esc = parser.backslash or m.group(1) in (b"E", b"e")
        quote = m.start(2) - 1
        if _close(value, quote + 1, b"'", esc) == m.end(2) + 1:  # one literal, not 'a'||'b'
            body = m.group(2)
            if esc:
                body = _BACKSLASH.sub(lambda e: _unescape(e, parser.mysql), body)
            elif b"''" in body:
                body = body.replace(b"''", b"'")
            return _text(body)
    return _text(value)


def _unescape(m: re.Match[bytes], mysql: bool) -> bytes:
    char = m.group(1)
    if char is None:
        return b"'"
    if mysql and char in _MYSQL_KEPT:
        return b"\\" + char
    return _ESCAPES.get(char, char)


def _copy_field(field_: str) -> str:
    if field_ == "\\N":
        return ""
    # the common escapes by plain replacement (a NUL, which COPY text never holds, keeps
    # an escaped backslash out of the way); octal and hex ones, rare, by the pattern
    field_ = field_.replace("\\\\", "\x00")
    for escape, char in _COPY_SIMPLE:
        field_ = field_.replace(escape, char)
    if "\\" in field_:
        field_ = _COPY_ESCAPE.sub(_copy_unescape, field_)
    return field_.replace("\x00", "\\")


def _copy_unescape(m: re.Match[str]) -> str:
    code = m.group(1)
    if code[:1] == "x" and len(code) > 1:
        return chr(int(code[1:], 16))
    if code[:1] in "01234567":
        return chr(int(code, 8) & 0xFF)
    return _ESCAPES.get(code.encode(), code.encode()).decode("latin-1")


def _unquote(ident: bytes) -> str:
    if ident[:1] in (b'"', b"`") and len(ident) >= 2:
        quote = ident[:1]
        return _text(ident[1:-1].replace(quote * 2, quote))
    if ident[:1] == b"[":
        return _text(ident[1:-1])
    return _text(ident)


def _table(raw: bytes) -> str:
    return ".".join(_unquote(part) for part in _IDENTS.findall(raw))


def _column_list(raw: bytes) -> tuple[str, ...]:
    return tuple(_unquote(part) for part in _IDENTS.findall(raw))


# ---------------------------------------------------------------- the extractor
def looks_like_dump(head: bytes) -> bool:
    """A dump tool's banner, or a head that starts with SQL and holds a data or table
    statement at a line start (ordinary text that mentions SQL does not)."""
    head = head.removeprefix(b"\xef\xbb\xbf")
    if _BANNER.search(head):
        return True
    return bool(_SNIFF_LEAD.match(head) and _SNIFF_STATEMENT.search(head))


class SqlDumpExtractor(Extractor):
    name = "sqldump"
    extensions = (".sql",)
    media_types = ("application/sql",)
    tabular = True

    @classmethod
    def sniff(cls, head: bytes, filename: str) -> bool:
        if known_binary(head) or not looks_like_text(head):
            return False
        lower = filename.lower()
        if lower.endswith(cls.extensions):
            # a .sql script with no dump statement in its head stays prose (text extractor)
            head = head.removeprefix(b"\xef\xbb\xbf")
            return bool(_BANNER.search(head) or _SNIFF_STATEMENT.search(head))
        return not lower.endswith(_OTHER_TABULAR) and looks_like_dump(head)

    def extract(self, stream: BinaryIO, filename: str, context: ExtractContext
                ) -> Iterator[TextPiece]:
        for event in DumpParser(stream).events():
            if isinstance(event, (Header, CopyRow)):
                yield TextPiece(row_text(event.cells), where=event.where, row=event.row,
                                cells=event.cells)
            elif isinstance(event, Insert):
                for item in event.tuples:
                    yield TextPiece(row_text(item.cells), where=item.where, row=item.row,
                                    cells=item.cells)
