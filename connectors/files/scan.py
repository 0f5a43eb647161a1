"""One file's pieces through the matcher: who is mentioned where, and what each matching row
says about whose it is.

Pieces with a row number (CSV, XLSX, JSONL, also inside archives and attachments) are
rows: their identity cells (by header, through the detectors) become evidence. Every other
piece is prose: only which identifiers it mentions counts.

Row numbers: a file's first tabular part (a CSV, the first sheet with rows) keeps the
extractor's numbers (the header is row 1); the n-th part adds (n-1) x ``PART_STRIDE``, so
row 5 of a workbook's second sheet is 10000005. Parts count in the order the extractor
yields them, which is the order of the workbook, so the numbers are stable across searches.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from agent.detectors import Detector, classify_column
from agent.extractors import TextPiece
from agent.identifiers import normalise_name, try_normalise
from connectors.files.matcher import OVERLAP, Matcher

PART_STRIDE = 10_000_000
# Columns whose detector names a part of a person's name or a bank detail.
NAME_ROLES = ("first_name", "last_name", "full_name")
BANK_ROLES = ("sort_code", "bank_account_number")


def row_number(part: int, row: int) -> int:
    return part * PART_STRIDE + row


def split_row_number(number: int) -> tuple[int, int]:
    """(part index, row as the extractor numbers it)."""
    return divmod(number, PART_STRIDE)


@dataclass
class RowHit:
    where: str
    row: int  # as the extractor numbers it, within ``where``
    number: int  # unique within the file (see the module docstring)
    ids: set[str]
    values: dict[str, set[str]]
    holder: str | None


@dataclass
class FileHits:
    """What one pass over one file found, per subject ref."""

    path: str
    size: int
    tabular: bool = True  # every piece was a row (a spreadsheet, CSV, JSONL)
    pieces: int = 0
    candidates: int = 0  # pieces the prefilter passed to confirmation
    partial: bool = False  # members inside it (an attachment, a zip entry) no extractor reads
    prose: dict[str, set[str]] = field(default_factory=dict)
    rows: dict[str, list[RowHit]] = field(default_factory=dict)
    categories: dict[str, set[str]] = field(default_factory=dict)  # ref -> data groups

    def __bool__(self) -> bool:
        return bool(self.prose or self.rows)


@dataclass
class _Part:
    index: int
    header: tuple[str, ...] | None = None  # the part's first row
    roles: list[str | None] | None = None  # per column, learnt from the header when needed
    categories: set[str] = field(default_factory=set)


# column name -> (role, data groups): the same headers recur across a share's files
RoleCache = dict[str, tuple[str | None, frozenset[str]]]


class TableReader:
    """Header roles per tabular part, learnt from each part's first row, and only for parts
    that have a matching row (classifying columns costs more than scanning a row)."""

    def __init__(self, detectors: Sequence[Detector], cache: RoleCache | None = None) -> None:
        self.detectors = detectors
        self.parts: dict[str, _Part] = {}
        self.cache: RoleCache = {} if cache is None else cache

    def part(self, piece: TextPiece) -> _Part:
        part = self.parts.get(piece.where)
        if part is None:
            part = self.parts[piece.where] = _Part(len(self.parts))
            if piece.cells is not None:
                part.header = tuple(c if isinstance(c, str) else "" for c in piece.cells)
        return part

    def learn(self, part: _Part) -> None:
        if part.roles is not None:
            return
        part.roles = []
        for cell in part.header or ():
            role, groups = self._role(cell)
            part.roles.append(role)
            part.categories.update(groups)

    def _role(self, cell: str) -> tuple[str | None, frozenset[str]]:
        key = cell.strip()
        known = self.cache.get(key)
        if known is not None:
            return known
        detector = classify_column(self.detectors, key) if key and len(key) < 80 else None
        role: str | None = None
        if detector is not None:
            role = (detector.name if detector.name in NAME_ROLES + BANK_ROLES
                    else detector.identifier_type)
        found = (role, frozenset(detector.categories) if detector and role else frozenset())
        if len(self.cache) < 10_000:
            self.cache[key] = found
        return found

    def facts(self, part: _Part, cells: Sequence[str]) -> tuple[dict[str, set[str]], str | None]:
        """The row's identity values (normalised, by type) and the name of its person."""
        self.learn(part)
        values: dict[str, set[str]] = {}
        names: dict[str, str] = {}
        bank: dict[str, str] = {}
        roles = part.roles or []
        for i, cell in enumerate(cells):
            text = cell.strip() if isinstance(cell, str) else ""
            if not text:
                continue
            role = roles[i] if i < len(roles) else None
            if role in NAME_ROLES:
                names.setdefault(role, text)
            elif role in BANK_ROLES:
                bank.setdefault(role, text)
            elif role is not None:
                value = try_normalise(role, text)
                if value:
                    values.setdefault(role, set()).add(value)
            elif "@" in text and len(text) < 255:
                # an e-mail says what it is whatever its column is called
                value = try_normalise("email", text)
                if value:
                    values.setdefault("email", set()).add(value)
        if len(bank) == 2:
            value = try_normalise("bank_account",
                                  f"{bank['sort_code']} {bank['bank_account_number']}")
            if value:
                values.setdefault("bank_account", set()).add(value)
        return values, _holder(names)


def _holder(names: dict[str, str]) -> str | None:
    raw = names.get("full_name") or " ".join(
        n for n in (names.get("first_name"), names.get("last_name")) if n)
    if not raw:
        return None
    try:
        return normalise_name(raw)
    except Exception:  # a name cell holding something else ("N/A", a company)
        return None


# Rows (and small prose pieces) are prefiltered in blocks: one automaton call for many, so a
# row that mentions nobody costs a join, not a call (per-row calls dominated tabular time).
ROW_BLOCK = 512
ROW_BLOCK_CHARS = 1 << 18
SMALL_PIECE = 4096  # prose pieces up to this many characters are prefiltered in blocks too


def scan_pieces(pieces: Iterable[TextPiece], matcher: Matcher, reader: TableReader,
                hits: FileHits) -> FileHits:
    """Run every piece through the matcher once, collecting evidence into ``hits``."""
    tail = ""  # the end of the previous prose piece, for a writing cut between two pieces
    tail_at: tuple[str, int] | None = None
    rows: list[TextPiece] = []
    size = 0
    notes: list[str] = []  # small prose pieces (JSON values, headers), prefiltered together
    notes_size = 0
    for piece in pieces:
        hits.pieces += 1
        if piece.row is not None:
            reader.part(piece)  # in order: a part's first row is its header
            rows.append(piece)
            size += len(piece.text or "") + 1
            if len(rows) >= ROW_BLOCK or size >= ROW_BLOCK_CHARS:
                _rows(rows, matcher, reader, hits)
                rows, size = [], 0
            tail, tail_at = "", None
            continue
        hits.tabular = False
        text = piece.text or ""
        if tail and tail_at == (piece.where, piece.offset):
            text = tail + text
        tail = _tail(piece.text or "")
        tail_at = (piece.where, piece.offset + len(piece.text or ""))
        if len(text) <= SMALL_PIECE:
            notes.append(text)
            notes_size += len(text) + 1
            if len(notes) >= ROW_BLOCK or notes_size >= ROW_BLOCK_CHARS:
                _notes(notes, matcher, hits)
                notes, notes_size = [], 0
            continue
        _prose(text, matcher, hits)
    if rows:
        _rows(rows, matcher, reader, hits)
    if notes:
        _notes(notes, matcher, hits)
    return hits


def _prose(text: str, matcher: Matcher, hits: FileHits) -> None:
    found, candidate = matcher.search(text)
    for ref, ids in found.items():
        hits.prose.setdefault(ref, set()).update(ids)
    hits.candidates += candidate


def _notes(texts: list[str], matcher: Matcher, hits: FileHits) -> None:
    for index in _hit_indexes(texts, matcher):
        _prose(texts[index], matcher, hits)


def _hit_indexes(texts: list[str], matcher: Matcher) -> Iterable[int]:
    """Which of ``texts`` the prefilter hits, from one automaton pass over them joined
    (no pattern holds a newline, so no hit spans two texts)."""
    block = "\n".join(texts)
    spans = matcher.hit_spans(block)
    if spans is None:  # lower-casing changed the length: offsets would not map back
        return range(len(texts))
    if not spans:
        return ()
    starts: list[int] = []
    offset = 0
    for text in texts:
        starts.append(offset)
        offset += len(text) + 1
    return sorted({bisect_right(starts, start) - 1 for start, _ in spans})


def _rows(rows: list[TextPiece], matcher: Matcher, reader: TableReader,
          hits: FileHits) -> None:
    """A block of rows: one prefilter pass over them joined, then only the rows a hit
    falls in are confirmed one by one."""
    for index in _hit_indexes([_row_text(piece) for piece in rows], matcher):
        hits.candidates += _row(rows[index], matcher, reader, hits)


def _row_text(piece: TextPiece) -> str:
    return piece.text or "\t".join(piece.cells or ())


def _row(piece: TextPiece, matcher: Matcher, reader: TableReader, hits: FileHits) -> bool:
    part = reader.part(piece)
    found, candidate = matcher.search(_row_text(piece))
    if not found:
        return candidate
    values, holder = reader.facts(part, piece.cells or ())
    assert piece.row is not None
    number = row_number(part.index, piece.row)
    for ref, ids in found.items():
        hits.rows.setdefault(ref, []).append(
            RowHit(piece.where, piece.row, number, set(ids), values, holder))
        hits.categories.setdefault(ref, set()).update(part.categories)
    return True


def _tail(text: str) -> str:
    """The last characters of a piece, starting at a word boundary."""
    if len(text) <= OVERLAP:
        return text
    cut = text[-OVERLAP:]
    space = next((i for i, c in enumerate(cut) if c.isspace()), -1)
    return cut[space + 1:] if space >= 0 else ""
