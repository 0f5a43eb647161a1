"""Rewriting one file without the subject: rows out of CSV/TSV/JSONL, spans out of text.

Both stream: the file is read line by line and the new content goes to a spooled temporary
file (in memory up to ``SPOOL_BYTES``, then on disk), so memory stays bounded. Rows are
copied as the raw bytes they were read as (line endings, BOM, quoting untouched); the csv
module is used only to know where each record ends (a quoted field may hold newlines).
"""

from __future__ import annotations

import csv
import io
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from agent.errors import ConnectorError

SPOOL_BYTES = 8 << 20
MAX_LINE_BYTES = 16 << 20  # one line read at a time (the extractors' limit too)
MAX_RECORD_LINES = 100_000  # a record spanning more lines is a broken quote: refuse
MARKER = b"[erased]"
BOM = b"\xef\xbb\xbf"

# row number (as the extractors count them) and its cells -> remove it?
RowTest = Callable[[int, list[str]], bool]


@dataclass
class Rewritten:
    data: BinaryIO  # the new content, positioned at 0
    count: int  # rows removed or spans redacted


def spool() -> BinaryIO:
    return tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # type: ignore[return-value]


def _lines(stream: BinaryIO) -> Iterator[bytes]:
    while True:
        raw = stream.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        if len(raw) > MAX_LINE_BYTES:
            raise ConnectorError(f"a line is longer than {MAX_LINE_BYTES} bytes: not rewritten")
        yield raw


def decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", "replace")


def delimited_records(stream: BinaryIO, delimiter: str) -> Iterator[tuple[list[bytes], list[str]]]:
    """Each record's raw lines and its cells; an empty line is a record with no cells."""
    pending: list[bytes] = []

    def feed() -> Iterator[str]:
        for number, raw in enumerate(_lines(stream)):
            pending.append(raw)
            if len(pending) > MAX_RECORD_LINES:
                raise ConnectorError("a CSV record runs over too many lines: not rewritten")
            yield decode(raw[3:] if number == 0 and raw.startswith(BOM) else raw)

    reader = csv.reader(feed(), delimiter=delimiter)
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error:
            raise ConnectorError("a malformed CSV record: the file is not rewritten") from None
        yield list(pending), cells
        pending.clear()


def remove_delimited(stream: BinaryIO, delimiter: str, remove: RowTest) -> Rewritten:
    """Every record ``remove`` does not pick, byte for byte."""
    return _remove_records(delimited_records(stream, delimiter), remove)


def remove_lines(stream: BinaryIO, remove: RowTest, cells_of: Callable[[str], list[str]]
                 ) -> Rewritten:
    """JSON Lines: every line counts (blank ones too), as the extractor counts them."""

    def records() -> Iterator[tuple[list[bytes], list[str]]]:
        for number, raw in enumerate(_lines(stream), start=1):
            text = raw[3:] if number == 1 and raw.startswith(BOM) else raw
            yield [raw], cells_of(decode(text))

    return _remove_records(records(), remove)


def _remove_records(records: Iterator[tuple[list[bytes], list[str]]], remove: RowTest
                    ) -> Rewritten:
    """Copy each record's raw bytes unless ``remove`` picks it; a removed first record
    keeps the file's BOM on the next one written."""
    out, count, bom = spool(), 0, b""
    for number, (raw, cells) in enumerate(records, start=1):
        if number == 1 and raw and raw[0].startswith(BOM):
            bom = BOM
        if cells and remove(number, cells):
            count += 1
            continue
        if bom and number > 1 and out.tell() == 0:
            out.write(bom)
        out.writelines(raw)
    out.seek(0)
    return Rewritten(out, count)


def writings_pattern(writings: list[bytes]) -> re.Pattern[bytes]:
    """One case-insensitive pattern for every writing, longest first, on word boundaries."""
    ordered = sorted(set(writings), key=len, reverse=True)
    body = b"|".join(re.escape(w) for w in ordered)
    return re.compile(rb"(?<![A-Za-z0-9])(?:" + body + rb")(?![A-Za-z0-9])", re.IGNORECASE)


def redact_bytes(data: bytes, pattern: re.Pattern[bytes]) -> tuple[bytes, int]:
    return pattern.subn(MARKER, data)


def redact_lines(stream: BinaryIO, pattern: re.Pattern[bytes]) -> Rewritten:
    """Text: every occurrence of a writing replaced by the marker, the rest byte for byte."""
    out, count = spool(), 0
    for raw in _lines(stream):
        new, n = pattern.subn(MARKER, raw)
        count += n
        out.write(new)
    out.seek(0)
    return Rewritten(out, count)


def as_stream(data: bytes) -> BinaryIO:
    return io.BytesIO(data)
