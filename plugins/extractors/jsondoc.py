"""JSON documents and JSON Lines.

JSON: one piece per string or number leaf, ``where`` its path (``$.customers[3].email``,
``$["odd key"]``), ``text`` the value (numbers as written); an object key that looks like
data rather than a field name (it holds a digit or an ``@``) is a piece too, at
``PATH#key``. A document over ``MAX_JSON_BYTES`` (or the text limit) is not parsed: its
text is streamed like a text file (``where`` ""), so its values are still searched.
A file that only looks like JSON (no .json extension) and does not parse is read as text.

JSON Lines (.jsonl/.ndjson, or lines that each hold a JSON value): one piece per line,
``row`` the line number (from 1, blank lines counted), ``cells`` the line's leaf values in
order, ``text`` those joined by ", ", ``offset`` the line's character offset; a line that is
not JSON is one cell holding the line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any, BinaryIO

from agent.extraction import part_error, prepend
from agent.extractors import ExtractContext, ExtractionError, Extractor, TextPiece
from plugins.extractors._common import decode, iter_text, known_binary, row_text

MAX_JSON_BYTES = 64 << 20
MAX_LINE_BYTES = 16 << 20
JSON_EXTENSIONS = (".json", ".geojson", ".har")
JSONL_EXTENSIONS = (".jsonl", ".ndjson", ".jsonlines")
_NOT_JSON_EXTENSIONS = (".csv", ".tsv", ".tab")
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DATA_KEY = re.compile(r"[\d@]")
# What a JSON document's first characters look like: an object with a key or empty,
# an array of values or empty.
_JSON_START = re.compile(rb'\s*(\{\s*["}]|\[\s*[\[{"\d\-tfn\]])')


def _strip_bom(head: bytes) -> bytes:
    return head[3:] if head.startswith(b"\xef\xbb\xbf") else head


def _first_line_json(head: bytes) -> bool:
    line, newline, rest = _strip_bom(head).partition(b"\n")
    if not newline or not _JSON_START.match(line):
        return False
    try:
        json.loads(line)
    except ValueError:
        return False
    return rest.lstrip()[:1] in (b"{", b"[")


class JsonLinesExtractor(Extractor):
    name = "jsonl"
    extensions = JSONL_EXTENSIONS
    media_types = ("application/x-ndjson", "application/jsonl")
    tabular = True

    @classmethod
    def sniff(cls, head: bytes, filename: str) -> bool:
        lower = filename.lower()
        if lower.endswith(JSONL_EXTENSIONS):
            return not known_binary(head)
        if lower.endswith(_NOT_JSON_EXTENSIONS + JSON_EXTENSIONS):
            return False
        return _first_line_json(head)

    def extract(self, stream: BinaryIO, filename: str, context: ExtractContext
                ) -> Iterator[TextPiece]:
        offset = 0
        number = 0
        while True:
            raw = stream.readline(MAX_LINE_BYTES + 1)
            if not raw:
                return
            number += 1
            if len(raw) > MAX_LINE_BYTES:
                raise part_error(f"line {number}", f"longer than {MAX_LINE_BYTES} bytes")
            if number == 1:
                raw = _strip_bom(raw)
            line = raw.decode("utf-8", "dsr-cp1252")
            cells = _line_cells(line)
            if cells:
                yield TextPiece(row_text(cells), where="", offset=offset, row=number,
                                cells=tuple(cells))
            offset += len(line)


def _line_cells(line: str) -> list[str]:
    stripped = line.strip()
    if not stripped:
        return []
    try:
        value = _loads(stripped)
    except ValueError:
        return [stripped]
    return _values(value)


def _values(value: Any) -> list[str]:
    """The string/number leaves in document order, without paths (a line's cells: the
    paths would be thrown away, and building them was most of a JSON Lines row's cost)."""
    if type(value) is str:
        return [value]
    out: list[str] = []
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        kind = type(item)  # exact types: json.loads makes nothing else, and it is faster
        if kind is str:
            out.append(item)
        elif kind is dict:
            children = list(item.values())
            children.reverse()
            stack += children
        elif kind is list:
            stack += item[::-1]
    return out


class JsonExtractor(Extractor):
    name = "json"
    extensions = JSON_EXTENSIONS
    media_types = ("application/json",)

    @classmethod
    def sniff(cls, head: bytes, filename: str) -> bool:
        lower = filename.lower()
        if lower.endswith(JSON_EXTENSIONS):
            return not known_binary(head)
        if lower.endswith(_NOT_JSON_EXTENSIONS + JSONL_EXTENSIONS):
            return False
        return bool(_JSON_START.match(_strip_bom(head)))

    def extract(self, stream: BinaryIO, filename: str, context: ExtractContext
                ) -> Iterator[TextPiece]:
        cap = min(MAX_JSON_BYTES, context.limits.max_text_chars)
        data = stream.read(cap + 1)
        if len(data) > cap:  # too big to parse in memory: search its text instead
            for offset, text in iter_text(prepend(data, stream)):
                yield TextPiece(text, where="", offset=offset)
            return
        declared = filename.lower().endswith(JSON_EXTENSIONS)
        try:
            value = _loads(decode(data))
        except ValueError as exc:
            if declared:
                line = getattr(exc, "lineno", 0)
                raise ExtractionError(f"not valid JSON (line {line})") from None
            for offset, text in iter_text(prepend(data, stream)):
                yield TextPiece(text, where="", offset=offset)
            return
        except RecursionError:
            raise ExtractionError("JSON nested too deeply to read") from None
        for where, text in _leaves(value, "$", keys=True):
            yield TextPiece(text, where=where, offset=0)


# numbers stay as written (no float rounding, no "1e+16"); one decoder for every call
_DECODER = json.JSONDecoder(parse_int=str, parse_float=str, parse_constant=str)


def _loads(text: str) -> Any:
    return _DECODER.decode(text.lstrip("\ufeff"))


def _leaves(value: Any, root: str, *, keys: bool) -> Iterator[tuple[str, str]]:
    """(path, text) of every string/number leaf, in document order, without recursion."""
    steps: dict[str, tuple[str, bool]] = {}  # key -> (its path step, a data-like key)
    stack: list[tuple[str, Any]] = [(root, value)]
    while stack:
        path, item = stack.pop()
        kind = type(item)
        if kind is str:
            yield path, item
        elif kind is dict:
            children = []
            for key, child in item.items():
                step = steps.get(key)
                if step is None:  # records repeat their keys: work each one out once
                    step = (f".{key}" if _PLAIN_KEY.fullmatch(key) else
                            f"[{json.dumps(key, ensure_ascii=False)}]",
                            bool(_DATA_KEY.search(key)))
                    if len(steps) < 10_000:
                        steps[key] = step
                child_path = path + step[0]
                children.append((child_path, child))
                if keys and step[1]:
                    children.append((f"{child_path}#key", key))
            children.reverse()
            stack += children
        elif kind is list:
            children = [(f"{path}[{i}]", c) for i, c in enumerate(item)]
            children.reverse()
            stack += children
