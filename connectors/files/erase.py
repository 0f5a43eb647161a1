"""Erasure on a file share: rows out of tabular files, spans out of text, whole files deleted
or moved to quarantine, each rewrite atomic and verified over the bytes written (a Parquet
file, compressed, by extracting it again: see ``_verify_rows_extracted``). Tabular formats:
CSV/TSV, JSON Lines, XLSX, Parquet and SQL dumps (COPY rows, INSERT tuples); a gzip file of
any of these (``dump.sql.gz``) is rewritten inside its compression and checked decompressed.

Plan items carry no identifier values, so the connector keeps, per finding id, the subject
its last search matched there (``Memory``): erasure only works in the process that searched
(``dsr request run`` searches again right before executing, with the same connector). An
item the connector has no record of fails the call; it never guesses.

File stores have no transactions: each file is replaced at once (temp + rename), but a
ConnectorError part-way through a call leaves the files already rewritten in that call
rewritten (a re-run reports them ``absent``).
"""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import BinaryIO

import ahocorasick_rs

from agent.errors import ConnectorError
from agent.extraction import peek_head
from agent.identifiers import TYPES, name_parts
from agent.models import Finding, Subject
from agent.plans import Outcome, PlanItem
from connectors.files import (
    rewrite,
    rewrite_eml,
    rewrite_gz,
    rewrite_office,
    rewrite_parquet,
    rewrite_sql,
)
from connectors.files.matcher import Matcher, patterns_for
from connectors.files.options import FilesOptions
from connectors.files.sweep import extension
from connectors.files.transport import Entry, Transport, safe_relative
from plugins.extractors._common import row_text

DELIMITED = {"csv": ",", "tsv": "\t", "tab": "\t"}
JSON_LINES = {"jsonl", "ndjson"}
TEXT = {"txt", "md", "log", "text"}
PACKAGES = {"docx", "xlsx"}  # verified part by part, unzipped
PARQUET = {"parquet", "parq", "pqt"}  # verified by extracting it again (compressed)
SQL_DUMPS = {"sql"}  # COPY rows and INSERT tuples (plugins/extractors/sqldump.py)
TABULAR = set(DELIMITED) | JSON_LINES | PARQUET | SQL_DUMPS | {"xlsx"}
REDACTABLE = TEXT | {"docx", "eml"}
MTIME_SLACK = 0.001
_MEMORY_KEPT = 200_000
# (transport, path, subject) -> identifier ids of the subject the extractors still find
Rescan = Callable[[Transport, str, Subject], set[str]]


def content_format(path: str) -> tuple[str, bool]:
    """The format's extension and whether it is gzip-compressed (``dump.sql.gz``: "sql",
    True): a compressed file is rewritten inside its compression."""
    ext = extension(path)
    if ext == "gz" and len(path) > 3:
        inner = extension(path[:-3])
        if inner:
            return inner, True
    return ext, False


def kind_of(path: str) -> str | None:
    """"tabular", "text" or None (a format this connector cannot rewrite)."""
    ext, _ = content_format(path)
    if ext in TABULAR:
        return "tabular"
    if ext in REDACTABLE:
        return "text"
    return None


@dataclass(frozen=True)
class Seen:
    """What a search matched in one file for one subject."""

    subject: Subject
    ids: frozenset[str]  # identifier ids matched there
    size: int
    mtime: float

    def types(self) -> set[str]:
        return {i.type for i in self.subject.identifiers if i.id in self.ids}

    def strong(self) -> bool:
        return any(TYPES[t].strong for t in self.types())


class Memory:
    """finding id -> subject ref -> what the search saw (the latest search per subject)."""

    def __init__(self) -> None:
        self._seen: dict[str, dict[str, Seen]] = {}

    def remember(self, finding: Finding, subject: Subject, entry: Entry) -> None:
        if finding.id not in self._seen and len(self._seen) >= _MEMORY_KEPT:
            for old in list(self._seen)[:_MEMORY_KEPT // 2]:
                del self._seen[old]
        self._seen.setdefault(finding.id, {})[subject.ref] = Seen(
            replace(subject, search_ids=None), frozenset(finding.internal_matched_ids),
            entry.size, entry.mtime)

    def sole(self, finding_id: str) -> Seen | None:
        """What the search saw for the one subject it matched there (None: several, or no
        record)."""
        known = list(self._seen.get(finding_id, {}).values())
        return known[0] if len(known) == 1 else None

    def get(self, item: PlanItem) -> Seen:
        """The subject the item was planned for: the one ``notes["subject"]`` names (a
        subject ref), else of the subjects searches matched in the file, those matched by
        every identifier type the item names; then the one matched
        by a unique identifier. Anything less certain fails."""
        known = list(self._seen.get(item.id, {}).values())
        ref = item.notes.get("subject")  # a batch's plan item may say whose it is
        if ref:
            known = [s for s in known if s.subject.ref == ref]
        if not known:
            raise ConnectorError("the files connector has no search record of an item to "
                                 "erase: search again in the same process before erasing")
        wanted = set(item.matched)
        fits = [s for s in known if wanted <= s.types()] or known
        if len(fits) > 1:
            fits = [s for s in fits if s.strong()]
        if len(fits) != 1:
            raise ConnectorError("an item to erase was matched for several people and the "
                                 "plan does not say whose it is: erase it per subject")
        return fits[0]


# ---------------------------------------------------------------------- writings
def writings(seen: Seen, *, strong_only: bool = False) -> list[str]:
    """Lower-case writings of the identifiers matched in the file (as the matcher looks
    for them); a name as whole-name forms, never a single word."""
    out: list[str] = []
    for ident in seen.subject.identifiers:
        if ident.id not in seen.ids:
            continue
        if ident.type == "name":
            if strong_only:
                continue
            parts = list(name_parts(ident.value))
            if len(parts) >= 2:
                first, last = parts[0], parts[-1]
                out += [" ".join(parts), f"{first} {last}", f"{last}, {first}",
                        f"{last} {first}"]
            continue
        if strong_only and not TYPES[ident.type].strong:
            continue
        out += patterns_for(ident.type, ident.value)
    return sorted({w for w in out if w})


class Verifier:
    """A byte automaton over lower-cased bytes: which writings are still in the file."""

    def __init__(self, words: list[str]) -> None:
        self.words = [w.encode("utf-8") for w in words]
        self._ac = ahocorasick_rs.BytesAhoCorasick(self.words) if self.words else None

    def found(self, data: bytes) -> bool:
        if self._ac is None:
            return False
        lowered = data.lower()
        for _, start, end in self._ac.find_matches_as_indexes(lowered, overlapping=True):
            if _boundaries(lowered, start, end):
                return True
        return False


def _alnum(byte: int) -> bool:
    return 48 <= byte <= 57 or 97 <= byte <= 122


def _boundaries(data: bytes, start: int, end: int) -> bool:
    if start > 0 and _alnum(data[start]) and _alnum(data[start - 1]):
        return False
    return not (end < len(data) and _alnum(data[end - 1]) and _alnum(data[end]))


# ---------------------------------------------------------------------- the eraser
class Eraser:
    def __init__(self, transport: Transport, options: FilesOptions, memory: Memory,
                 rescan: Rescan | None = None, today: date | None = None) -> None:
        self.transport = transport
        self.options = options
        self.memory = memory
        self.rescan = rescan
        self.today = today or date.today()

    def run(self, items: Sequence[PlanItem]) -> Iterator[Outcome]:
        # every record first: an item with none fails the call before anything changes
        seen = {i.id: self.memory.get(i) for i in items
                if not (i.action == "quarantine" or whole_document(i))}
        for item in items:
            yield self.one(item, seen.get(item.id))

    def one(self, item: PlanItem, seen: Seen | None) -> Outcome:
        path = safe_relative(item.locator or "")
        if item.action == "quarantine":
            return self.quarantine(item, path)
        if item.action not in ("delete", "anonymise"):
            raise ConnectorError(f"the files connector cannot {item.action!r} a file")
        if whole_document(item):
            gone = not self.transport.delete(path)
            return Outcome(item.id, "absent" if gone else "done",
                           "" if gone else "file deleted", {"files": 0 if gone else 1})
        assert seen is not None
        entry = self.transport.stat(path)
        if entry is None:
            return Outcome(item.id, "absent", "the file is gone")
        kind = kind_of(path)
        if kind == "tabular":
            return self.rows(item, path, entry, seen)
        if kind == "text":
            return self.spans(item, path, seen)
        raise ConnectorError(f"a .{extension(path)} file cannot be rewritten here: plan it "
                             "for quarantine or a person")

    # ------------------------------------------------------------------ quarantine
    def quarantine(self, item: PlanItem, path: str) -> Outcome:
        folder = self.options.quarantine
        if not folder:
            raise ConnectorError("quarantine is planned but the system has no quarantine "
                                 "folder configured")
        until = (self.today + timedelta(days=self.options.quarantine_days)).isoformat()
        target = safe_relative(f"{folder}/{path}")
        if self.transport.stat(path) is None:
            held = self.transport.stat(target) is not None
            return Outcome(item.id, "absent",
                           f"quarantined until {until}" if held else "the file is gone")
        self.transport.move(path, target)
        return Outcome(item.id, "done", f"quarantined until {until}", {"files": 1})

    # ------------------------------------------------------------------ rows
    def rows(self, item: PlanItem, path: str, entry: Entry, seen: Seen) -> Outcome:
        matcher = Matcher.build([seen.subject])
        changed = (entry.size != seen.size or abs(entry.mtime - seen.mtime) > MTIME_SLACK)
        planned = set(item.rows or ())
        strong = {i.id for i in seen.subject.identifiers if TYPES[i.type].strong}
        ref = seen.subject.ref

        def remove(number: int, cells: list[str]) -> bool:
            if not changed and number not in planned:
                return False
            ids = matcher.scan(row_text(cells)).get(ref, set())
            # unchanged file: a planned row still holding the subject's identifiers;
            # changed file: any row the subject's unique identifiers match (never a name)
            return bool(ids) if not changed else bool(ids & strong)

        ext, gz = content_format(path)
        name = path.rsplit("/", 1)[-1].removesuffix(".gz" if gz else "")

        def remove_rows(stream: BinaryIO) -> rewrite.Rewritten:
            if ext == "xlsx":
                return rewrite_office.remove_xlsx_rows(rewrite_office.read_package(stream),
                                                       remove)
            if ext in DELIMITED:
                stream, delimiter = _delimiter(stream, name)
                return rewrite.remove_delimited(stream, delimiter, remove)
            if ext in PARQUET:
                return rewrite_parquet.remove_parquet_rows(stream, remove)
            if ext in SQL_DUMPS:
                return rewrite_sql.remove_sql_rows(stream, remove)
            return rewrite.remove_lines(stream, remove, _line_cells)

        with self.transport.open_read(path) as stream:
            result = rewrite_gz.rewrite_gzip(stream, remove_rows) if gz else remove_rows(stream)
        if not result.count:
            result.data.close()
            return Outcome(item.id, "absent", "none of the subject's rows are left")
        self._replace(path, result.data)
        if ext in PARQUET:
            self._verify_rows_extracted(path, seen)
        else:
            self._verify(path, Verifier(writings(seen, strong_only=True)))
        return Outcome(item.id, "done", "rows removed", {"rows": result.count})

    # ------------------------------------------------------------------ spans
    def spans(self, item: PlanItem, path: str, seen: Seen) -> Outcome:
        words = writings(seen)
        if not words:
            raise ConnectorError("no writing of the matched identifiers to redact")
        pattern = rewrite.writings_pattern([w.encode("utf-8") for w in words])
        ext, gz = content_format(path)

        def redact(stream: BinaryIO) -> rewrite.Rewritten:
            if ext == "docx":
                return rewrite_office.redact_docx(rewrite_office.read_package(stream), pattern)
            if ext == "eml":
                return rewrite_eml.redact_eml(rewrite_eml.read_eml(stream), pattern)
            return rewrite.redact_lines(stream, pattern)

        with self.transport.open_read(path) as stream:
            result = rewrite_gz.rewrite_gzip(stream, redact) if gz else redact(stream)
        if not result.count:
            result.data.close()
            self._still_there(path, seen)
            return Outcome(item.id, "absent", "none of the subject's details are left")
        self._replace(path, result.data)
        self._verify(path, Verifier(words))
        self._still_there(path, seen)
        return Outcome(item.id, "done", "spans redacted", {"spans": result.count})

    def _still_there(self, path: str, seen: Seen) -> None:
        """The extractors' view too: an attachment or archive inside the file, or a writing
        split across lines, that redaction cannot reach fails the call (a person acts)."""
        if self.rescan is None:
            return
        left = self.rescan(self.transport, path, seen.subject)
        if left & seen.ids:
            raise ConnectorError(f"verification failed: a .{extension(path)} file still "
                                 "names the subject where it cannot be redacted here (an "
                                 "attachment, an embedded file or a split writing): plan it "
                                 "for a person")

    def _verify_rows_extracted(self, path: str, seen: Seen) -> None:
        """A compressed file (Parquet) read back through the extractor: none of the
        subject's unique identifiers may be left (as the raw-byte check holds CSV to)."""
        strong = {i.id for i in seen.subject.identifiers
                  if i.id in seen.ids and TYPES[i.type].strong}
        if self.rescan is None:  # the connector always gives one; never skip the check
            raise ConnectorError(f"a rewritten .{extension(path)} file cannot be verified "
                                 "without reading it back through the extractors")
        if self.rescan(self.transport, path, seen.subject) & strong:
            raise _leftover(extension(path), "")

    # ------------------------------------------------------------------ write + verify
    @contextmanager
    def _content(self, path: str) -> Iterator[BinaryIO]:
        """The file as written, decompressed when it is gzip (the check reads content)."""
        with self.transport.open_read(path) as raw:
            if not content_format(path)[1]:
                yield raw
                return
            with gzip.GzipFile(fileobj=raw, mode="rb") as plain:
                yield plain  # type: ignore[misc]

    def _replace(self, path: str, data: BinaryIO) -> None:
        try:
            self.transport.write_atomic(path, data)
        finally:
            data.close()

    def _verify(self, path: str, verifier: Verifier) -> None:
        """Read back what was written: the raw bytes in overlapping blocks; a DOCX/XLSX
        every part unzipped (and its XML without tags); an e-mail every part decoded."""
        ext, _ = content_format(path)
        if ext in PACKAGES or ext == "eml":
            with self._content(path) as stream:
                data = rewrite_office.read_package(stream)
            views = (rewrite_eml.decoded_views(data) if ext == "eml" else
                     ((name, view) for name, body in rewrite_office.parts(data)
                      for view in rewrite_office.views(name, body)))
            for part, view in views:
                if verifier.found(view):
                    raise _leftover(ext, part)
            return
        overlap = max((len(w) for w in verifier.words), default=0) + 1
        tail = b""
        with self._content(path) as stream:
            while True:
                block = stream.read(1 << 20)
                if not block:
                    return
                if verifier.found(tail + block):
                    raise _leftover(ext, "")
                tail = (tail + block)[-overlap:]


def _delimiter(stream: BinaryIO, name: str) -> tuple[BinaryIO, str]:
    """As the CSV extractor picks it (its first line), so records split the same way; the
    stream comes back whole."""
    from plugins.extractors.delimited import _delimiter as pick

    head, stream = peek_head(stream, 1 << 16)
    first = head.split(b"\n", 1)[0]
    if first.startswith(rewrite.BOM):
        first = first[3:]
    return stream, pick(rewrite.decode(first), name)


def _leftover(ext: str, part: str) -> ConnectorError:
    where = f" (part {part})" if part else ""
    return ConnectorError(f"verification failed: a .{ext} file{where} still holds the "
                          "subject's details after rewriting")


def whole_document(item: PlanItem) -> bool:
    """The plan deletes the file whole (policy.toml: it is about one person)."""
    return item.action == "delete" and bool(item.notes.get("whole_document"))


def _line_cells(line: str) -> list[str]:
    text = line.strip()
    return [text] if text else []
