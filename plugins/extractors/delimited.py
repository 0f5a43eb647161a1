"""CSV and TSV, streamed record by record (a quoted field may hold newlines).

``row`` is the record number (the header is row 1; an empty line is a record too, and
yields nothing); ``cells`` the record's fields; ``text`` the non-empty fields joined by
", "; ``offset`` the character offset where the record starts; ``where`` is "".
The delimiter: tab for .tsv/.tab, else the most frequent of , ; | tab on the first line.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import BinaryIO

from agent.extraction import part_error
from agent.extractors import ExtractContext, Extractor, TextPiece
from plugins.extractors._common import looks_like_text, row_text, text_stream

_CANDIDATES = (",", ";", "\t", "|")


class DelimitedExtractor(Extractor):
    name = "delimited"
    extensions = (".csv", ".tsv", ".tab")
    media_types = ("text/csv", "text/tab-separated-values")
    tabular = True

    @classmethod
    def sniff(cls, head: bytes, filename: str) -> bool:
        return filename.lower().endswith(cls.extensions) and looks_like_text(head)

    def extract(self, stream: BinaryIO, filename: str, context: ExtractContext
                ) -> Iterator[TextPiece]:
        text, _ = text_stream(stream)
        try:
            first = text.readline()
            lines = _Lines(first, text)
            reader = csv.reader(lines, delimiter=_delimiter(first, filename))
            row = 0
            while True:
                start = lines.consumed
                try:
                    cells = next(reader)
                except StopIteration:
                    break
                except csv.Error as exc:
                    raise part_error(f"row {row + 1}", f"malformed {self.name} record "
                                     f"({_csv_reason(exc)})") from None
                row += 1
                if cells:
                    yield TextPiece(row_text(cells), where="", offset=start, row=row,
                                    cells=tuple(cells))
        finally:
            text.detach()


class _Lines:
    """The lines csv reads (the first one already read), counting the characters handed
    out so each record's offset is known."""

    def __init__(self, first: str, text: Iterator[str]) -> None:
        self.consumed = 0
        self._lines = self._generate(first, text)

    def _generate(self, first: str, text: Iterator[str]) -> Iterator[str]:
        if first:
            self.consumed += len(first)
            yield first
        for line in text:
            self.consumed += len(line)
            yield line

    def __iter__(self) -> Iterator[str]:
        return self._lines


def _delimiter(first_line: str, filename: str) -> str:
    if filename.lower().endswith((".tsv", ".tab")):
        return "\t"
    counts = {d: _unquoted_count(first_line, d) for d in _CANDIDATES}
    best = max(_CANDIDATES, key=lambda d: counts[d])
    return best if counts[best] else ","


def _unquoted_count(line: str, delimiter: str) -> int:
    count, quoted = 0, False
    for char in line:
        if char == '"':
            quoted = not quoted
        elif char == delimiter and not quoted:
            count += 1
    return count


def _csv_reason(exc: csv.Error) -> str:
    message = str(exc)
    # csv's messages name limits and characters, not field content; keep the known ones
    for known in ("field larger than field limit", "new-line character seen in unquoted "
                  "field", "unexpected end of data", "line contains NUL"):
        if message.startswith(known):
            return known
    return "unreadable record"
