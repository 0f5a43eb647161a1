"""Screening a bought-in CSV list against the do-not-contact list, streamed, any size.

Rows are parsed with the csv module but written back as the exact text they were read
from, so the clean file keeps the input's delimiter, quoting, line endings and encoding.
A row is dropped when any of its e-mails or phones is listed, or when its name+postcode
is listed and it has no e-mail or phone of its own (a same-name row with other contact
details is someone else, or at least not the person we promised not to contact).
"""

from __future__ import annotations

import codecs
import csv
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

from agent import logging as dsr_logging
from agent.errors import DsrError, IdentifierError
from agent.identifiers import normalise_email, phone_e164
from agent.suppression import NAME_POSTCODE, name_postcode_value

log = dsr_logging.get_logger(__name__)

CHUNK_ROWS = 2000  # rows whose digests are looked up together
_READ_BYTES = 1 << 20
_DELIMITERS = (",", ";", "\t", "|")
_REASONS = ("email", "phone", NAME_POSTCODE)

# Placeholders people type into a contact cell: empty, not unparseable.
_PLACEHOLDERS = frozenset({"n/a", "na", "none", "nil", "null", "-", "--", "?", "unknown",
                           "tbc", "0"})
_EMAIL_SPLIT = re.compile(r"[,;|\s]+")
_PHONE_SPLIT = re.compile(r"\s*(?:[,;|/]|\s(?:or|and|&)\s)\s*", re.IGNORECASE)

# Header guessing, on headers lower-cased with _ - . / # : turned into spaces.
_QUALIFIER = (r"(?:(?:work|home|personal|business|private|primary|main|secondary|other|alt|"
              r"alternative|alternate|contact|customer|daytime|evening|office|direct|mobile)"
              r"\s)?")
_NUMBERED = r"(?:\s?\d{1,2})?"
_HEADER_RULES: dict[str, re.Pattern[str]] = {
    "email": re.compile(rf"^{_QUALIFIER}email(?:\s?address(?:es)?)?{_NUMBERED}$"),
    "phone": re.compile(rf"^{_QUALIFIER}(?:phone|telephone|tel|mobile|mob|cell|cellphone|"
                        rf"landline|mobile phone|cell phone)(?:\s?(?:no|number|num|nr))?"
                        rf"{_NUMBERED}$"),
    "name": re.compile(r"^(?:full |contact |customer |person )?name$"),
    "first_name": re.compile(r"^(?:(?:first|given|fore)\s?names?|first)$"),
    "last_name": re.compile(r"^(?:(?:last|sur|family)\s?name|last)$"),
    "postcode": re.compile(r"^(?:post\s?code|postal\s?code|zip(?:\s?code)?)$"),
}


class Lookup(Protocol):
    """What screening needs of the suppression list: which normalised (type, value) pairs
    are listed. By value, not by digest, so the list can match entries digested with an
    older HMAC key and re-digest them (StoreSuppressionList.listed_values)."""

    def listed_values(self, pairs: Iterable[tuple[str, str]]) -> set[tuple[str, str]]: ...


@dataclass(frozen=True)
class ColumnSpec:
    """Columns given by flags (a header, case-insensitive, or a 1-based number); a kind
    left empty is guessed from the headers."""

    email: tuple[str, ...] = ()
    phone: tuple[str, ...] = ()
    name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    postcode: str | None = None


@dataclass(frozen=True)
class Columns:
    email: tuple[int, ...]
    phone: tuple[int, ...]
    name: tuple[int, ...]  # one full-name column, or the first- and last-name columns
    postcode: int | None

    def named(self, header: list[str]) -> dict[str, list[str]]:
        post = [] if self.postcode is None else [header[self.postcode]]
        return {"email": [header[i] for i in self.email],
                "phone": [header[i] for i in self.phone],
                "name": [header[i] for i in self.name], "postcode": post}


@dataclass
class ScreenReport:
    rows: int = 0
    kept: int = 0
    dropped_by: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_REASONS, 0))
    unparseable: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_REASONS, 0))
    without_contact: int = 0
    encoding: str = ""
    delimiter: str = ","
    columns: dict[str, list[str]] = field(default_factory=dict)

    @property
    def dropped(self) -> int:
        return sum(self.dropped_by.values())

    def public(self) -> dict[str, Any]:
        return {"rows": self.rows, "kept": self.kept, "dropped": self.dropped,
                "dropped_by": dict(self.dropped_by), "unparseable": dict(self.unparseable),
                "rows_without_contact": self.without_contact, "encoding": self.encoding,
                "delimiter": self.delimiter, "columns": self.columns}


@dataclass
class _Row:
    """One record's normalised values (held only while its chunk is looked up)."""

    raw: str
    counted: bool = True  # blank lines pass through uncounted
    emails: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    name_postcode: str | None = None

    def pairs(self) -> list[tuple[str, str]]:
        return ([("email", v) for v in self.emails] + [("phone", v) for v in self.phones]
                + ([(NAME_POSTCODE, self.name_postcode)] if self.name_postcode else []))

    def reason(self, listed: set[tuple[str, str]]) -> str | None:
        if any(("email", v) in listed for v in self.emails):
            return "email"
        if any(("phone", v) in listed for v in self.phones):
            return "phone"
        if (not self.emails and not self.phones and self.name_postcode
                and (NAME_POSTCODE, self.name_postcode) in listed):
            return NAME_POSTCODE
        return None


# --------------------------------------------------------------------------- atomic output

class AtomicText:
    """A text file written beside its target and renamed over it only on commit, so a
    failure never leaves half a file."""

    def __init__(self, target: Path, encoding: str, mode: int) -> None:
        self.target = target
        folder = target.parent if str(target.parent) else Path(".")
        if not folder.is_dir():
            raise DsrError(f"{folder}: no such directory")
        try:
            fd, name = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=".tmp")
        except OSError as exc:
            raise DsrError(f"{target}: cannot write ({exc.strerror})") from exc
        self.temp = Path(name)
        os.fchmod(fd, mode)
        self.handle: IO[str] = open(fd, "w", encoding=encoding, newline="")  # noqa: SIM115

    def commit(self) -> None:
        try:
            self.handle.flush()
            os.fsync(self.handle.fileno())
            self.handle.close()
            os.replace(self.temp, self.target)
        except OSError as exc:
            self.discard()
            raise DsrError(f"{self.target}: cannot write ({exc.strerror})") from exc

    def discard(self) -> None:
        if not self.handle.closed:
            self.handle.close()
        self.temp.unlink(missing_ok=True)


# --------------------------------------------------------------------------- reading

def detect_encoding(path: Path) -> str:
    """UTF-8 with a BOM, UTF-8, else Windows-1252 (what Excel saves on UK machines).
    The whole file is checked, streamed: a stray byte deep in the file decides."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    with _open_binary(path) as handle:
        first = handle.read(_READ_BYTES)
        if first.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            raise DsrError(f"{path}: UTF-16 text is not supported; save it as UTF-8 CSV")
        encoding = "utf-8-sig" if first.startswith(codecs.BOM_UTF8) else "utf-8"
        chunk = first
        try:
            while chunk:
                decoder.decode(chunk)
                chunk = handle.read(_READ_BYTES)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return "cp1252"
    return encoding


def _open_binary(path: Path) -> IO[bytes]:
    try:
        if path.is_dir():
            raise DsrError(f"{path}: is a directory, not a CSV file")
        return path.open("rb")
    except FileNotFoundError as exc:
        raise DsrError(f"{path}: no such file") from exc
    except OSError as exc:
        raise DsrError(f"{path}: cannot read ({exc.strerror})") from exc


class _Capture:
    """The physical lines the csv reader consumes, so each record's raw text is known."""

    def __init__(self, lines: Iterator[str]) -> None:
        self.lines = lines
        self.count = 0
        self.buffer: list[str] = []

    def __iter__(self) -> _Capture:
        return self

    def __next__(self) -> str:
        line = next(self.lines)
        self.count += 1
        self.buffer.append(line)
        return line

    def take(self) -> str:
        raw = "".join(self.buffer)
        self.buffer.clear()
        return raw


def _delimiter(first_line: str) -> str:
    """The separator the header line uses most (ties: comma first)."""
    counts = [(first_line.count(d), -i, d) for i, d in enumerate(_DELIMITERS)]
    best = max(counts)
    return best[2] if best[0] else ","


_LONE_CR = re.compile(r"(?<=\r)(?!\n|$)")


def _text_lines(handle: IO[bytes], encoding: str) -> Iterator[str]:
    """Decoded lines with their endings (\n, \r\n or a lone \r), decoded line by line so
    a bad byte is reported on its own line."""
    decoder = codecs.getincrementaldecoder(encoding)()
    for chunk in handle:
        text = decoder.decode(chunk)
        yield from (line for line in (_LONE_CR.split(text) if "\r" in text else (text,))
                    if line)
    tail = decoder.decode(b"", final=True)
    if tail:
        yield tail


def _records(path: Path, lines: Iterator[str], report: ScreenReport
             ) -> Iterator[tuple[list[str], str]]:
    """(fields, raw text) per record; errors name the line the record starts on."""
    capture = _Capture(lines)
    start = 1
    try:
        head: list[str] = []
        for line in capture:  # the separator is the one the header line uses
            head.append(line)
            if line.strip():
                break
        capture.buffer.clear()
        report.delimiter = _delimiter(head[-1] if head else "")
        reader = csv.reader(_replay(head, capture), delimiter=report.delimiter,
                            quotechar='"', doublequote=True, strict=True)
        for record in reader:
            yield record, capture.take()
            start = capture.count + 1
    except csv.Error as exc:
        raise DsrError(f"{path}: line {start}: not valid CSV ({exc})") from exc
    except UnicodeDecodeError as exc:
        raise DsrError(f"{path}: line {capture.count + 1}: not {_label(report.encoding)} "
                       f"text (give --encoding)") from exc
    except OSError as exc:
        raise DsrError(f"{path}: cannot read ({exc.strerror})") from exc


def _replay(head: list[str], capture: _Capture) -> Iterator[str]:
    for line in head:
        capture.buffer.append(line)
        yield line
    yield from capture


def _label(encoding: str) -> str:
    return {"utf-8": "UTF-8", "utf-8-sig": "UTF-8", "cp1252": "Windows-1252"}.get(
        encoding, encoding)


# --------------------------------------------------------------------------- columns

def _header_key(text: str) -> str:
    text = re.sub(r"[_\-./#:()]+", " ", text.strip().lower())
    text = re.sub(r"\s+", " ", text).strip()
    return re.sub(r"\be mail\b", "email", text)


def _find(header: list[str], given: str, flag: str) -> int:
    wanted = _header_key(given)
    for index, name in enumerate(header):
        if _header_key(name) == wanted:
            return index
    if given.isdigit() and 1 <= int(given) <= len(header):
        return int(given) - 1
    raise DsrError(f"no column {given!r} for {flag} (columns: {_shown(header)})")


def _shown(header: list[str]) -> str:
    return ", ".join(repr(h) for h in header) or "none"


def _guess(header: list[str], kind: str) -> list[int]:
    rule = _HEADER_RULES[kind]
    return [i for i, name in enumerate(header) if rule.match(_header_key(name))]


def resolve_columns(header: list[str], spec: ColumnSpec) -> Columns:
    """Flags first, headers guessed for the rest; fails naming the headers seen."""
    _refuse_data_as_header(header)
    email = ([_find(header, c, "--email-col") for c in spec.email] if spec.email
             else _guess(header, "email"))
    phone = ([_find(header, c, "--phone-col") for c in spec.phone] if spec.phone
             else _guess(header, "phone"))
    name = _name_columns(header, spec)
    post = ([_find(header, spec.postcode, "--postcode-col")] if spec.postcode
            else _guess(header, "postcode"))
    columns = Columns(tuple(dict.fromkeys(email)), tuple(dict.fromkeys(phone)), name,
                      post[0] if post else None)
    if not columns.email and not columns.phone and not (columns.name and post):
        raise DsrError(f"no e-mail, phone, or name and postcode column found (columns: "
                       f"{_shown(header)}); name them with --email-col, --phone-col, "
                       f"--name-col and --postcode-col")
    return columns


def _name_columns(header: list[str], spec: ColumnSpec) -> tuple[int, ...]:
    if spec.name:
        return (_find(header, spec.name, "--name-col"),)
    if spec.first_name or spec.last_name:
        return tuple(_find(header, c, flag) for c, flag in (
            (spec.first_name, "--first-name-col"), (spec.last_name, "--last-name-col")) if c)
    full = _guess(header, "name")
    if full:
        return (full[0],)
    parts = _guess(header, "first_name")[:1] + _guess(header, "last_name")[:1]
    return tuple(parts)


def _refuse_data_as_header(header: list[str]) -> None:
    """A file without a header row would pass its first person through unscreened."""
    for cell in header:
        if phone_e164(cell) or _email(cell):
            raise DsrError("the first line looks like data, not a header row: the file needs "
                           "a header row naming its columns")


# --------------------------------------------------------------------------- values

def _email(text: str) -> str | None:
    if "@" not in text:
        return None
    try:
        return normalise_email(text)
    except IdentifierError:
        return None


def _parse_cell(cell: str, parse: Callable[[str], str | None],
                split: re.Pattern[str]) -> tuple[list[str], int]:
    """(normalised values, unparseable count) of one cell; a cell may hold several."""
    text = cell.strip()
    if not text or text.lower() in _PLACEHOLDERS:
        return [], 0
    whole = parse(text)
    if whole:
        return [whole], 0
    parts = [p for p in split.split(text) if p.strip()]
    if len(parts) < 2:
        return [], 1
    values = [v for v in map(parse, parts) if v]
    if not values:
        return [], 1  # one bad value, however many words it has
    return values, len(parts) - len(values)


def _cell(record: list[str], index: int) -> str:
    return record[index] if index < len(record) else ""


def _row(record: list[str], raw: str, columns: Columns, report: ScreenReport) -> _Row:
    row = _Row(raw)
    for index in columns.email:
        values, bad = _parse_cell(_cell(record, index), _email, _EMAIL_SPLIT)
        row.emails += values
        report.unparseable["email"] += bad
    for index in columns.phone:
        values, bad = _parse_cell(_cell(record, index), phone_e164, _PHONE_SPLIT)
        row.phones += values
        report.unparseable["phone"] += bad
    # name+postcode only decides for a row without an e-mail or phone of its own
    if not row.emails and not row.phones and columns.name and columns.postcode is not None:
        name = " ".join(_cell(record, i).strip() for i in columns.name).strip()
        postcode = _cell(record, columns.postcode).strip()
        if name and postcode:
            try:
                row.name_postcode = name_postcode_value(name, postcode)
            except IdentifierError:
                report.unparseable[NAME_POSTCODE] += 1
    return row


# --------------------------------------------------------------------------- screening

def screen_csv(source: Path, out: Path, lookup: Lookup, *, spec: ColumnSpec | None = None,
               removed: Path | None = None, encoding: str | None = None) -> ScreenReport:
    """Write ``source``'s rows not on the list to ``out`` (and the others to ``removed``),
    both atomically; returns the counts."""
    _check_paths(source, out, removed)
    report = ScreenReport(encoding=encoding or detect_encoding(source))
    try:
        codecs.lookup(report.encoding)
    except LookupError as exc:
        raise DsrError(f"unknown encoding {report.encoding!r}") from exc
    outputs: list[AtomicText] = []
    try:
        outputs.append(AtomicText(out, report.encoding, _mode(source)))
        if removed is not None:  # the people who asked not to be contacted: owner only
            outputs.append(AtomicText(removed, report.encoding, 0o600))
        _screen(source, outputs, lookup, spec or ColumnSpec(), report)
        for output in outputs:
            output.commit()
    except BaseException:
        for output in outputs:
            output.discard()
        raise
    log.info("suppression_screened", rows=report.rows, kept=report.kept,
             dropped=report.dropped)
    return report


def _check_paths(source: Path, out: Path, removed: Path | None) -> None:
    if not source.exists():
        raise DsrError(f"{source}: no such file")
    if not source.is_file():
        raise DsrError(f"{source}: not a file")
    targets = [out] + ([removed] if removed is not None else [])
    if any(t.resolve() == source.resolve() for t in targets):
        raise DsrError("--out and --removed must not be the input file")
    if removed is not None and removed.resolve() == out.resolve():
        raise DsrError("--out and --removed must be different files")


def _mode(source: Path) -> int:
    return source.stat().st_mode & 0o666  # the clean list holds what the input held


def _screen(source: Path, outputs: list[AtomicText], lookup: Lookup, spec: ColumnSpec,
            report: ScreenReport) -> None:
    with _open_binary(source) as handle:
        records = _records(source, _text_lines(handle, report.encoding), report)
        columns = _header(source, records, outputs, spec, report)
        pending: list[_Row] = []
        for record, raw in records:
            if not record:
                pending.append(_Row(raw, counted=False))
            else:
                pending.append(_row(record, raw, columns, report))
            if len(pending) >= CHUNK_ROWS:
                _flush(pending, outputs, lookup, report)
        _flush(pending, outputs, lookup, report)


def _header(source: Path, records: Iterator[tuple[list[str], str]],
            outputs: list[AtomicText], spec: ColumnSpec, report: ScreenReport) -> Columns:
    """Blank lines before the header pass through; the header goes to every output."""
    for record, raw in records:
        for output in outputs:
            output.handle.write(raw)
        if record:
            try:
                columns = resolve_columns(record, spec)
            except DsrError as exc:
                raise DsrError(f"{source}: {exc}") from exc
            report.columns = columns.named(record)
            return columns
    raise DsrError(f"{source}: empty file (no header row)")


def _flush(pending: list[_Row], outputs: list[AtomicText], lookup: Lookup,
           report: ScreenReport) -> None:
    listed = lookup.listed_values(p for row in pending for p in row.pairs())
    for row in pending:
        if not row.counted:
            outputs[0].handle.write(row.raw)
            continue
        report.rows += 1
        if not row.emails and not row.phones and row.name_postcode is None:
            report.without_contact += 1
        reason = row.reason(listed)
        if reason is None:
            report.kept += 1
            outputs[0].handle.write(row.raw)
        else:
            report.dropped_by[reason] += 1
            if len(outputs) > 1:
                outputs[1].handle.write(row.raw)
    pending.clear()
