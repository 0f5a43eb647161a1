"""Rewriting Office files: rows out of an XLSX workbook, spans out of every part of a DOCX.

Both are zip packages read whole into memory, so their size is capped (``MAX_PACKAGE_BYTES``,
and ``MAX_PART_BYTES`` per unzipped part). A DOCX is edited as bytes: each XML part (body,
headers, footers, comments, footnotes, tracked changes, document properties) has every
writing replaced by the marker, and every other member is copied unchanged. A writing split
across runs of one paragraph (Word splits runs at every edit or spelling mark) is found in
the paragraph's text and replaced across its runs. Verification reads each part also with
its tags taken out, so whatever is still split some other way fails loudly rather than
passing half-redacted.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from typing import BinaryIO

import openpyxl

from agent.errors import ConnectorError
from connectors.files.rewrite import MARKER, Rewritten, RowTest

MAX_PACKAGE_BYTES = 256 << 20
MAX_PART_BYTES = 256 << 20
MAX_MEMBERS = 10_000
MAX_EXPANDED_BYTES = 1 << 30  # every part unzipped (a zip bomb stops here)
_XML_SUFFIXES = (".xml", ".rels")
_TAG = re.compile(rb"<[^>]*>")


def read_package(stream: BinaryIO) -> bytes:
    data = stream.read(MAX_PACKAGE_BYTES + 1)
    if len(data) > MAX_PACKAGE_BYTES:
        raise ConnectorError(f"an Office file larger than {MAX_PACKAGE_BYTES >> 20} MiB is "
                             "not rewritten")
    return data


def open_package(data: bytes) -> zipfile.ZipFile:
    """The zip, its member count and sizes checked against the limits."""
    try:
        package = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise ConnectorError("not a valid Office file (corrupt zip): not rewritten") from None
    infos = package.infolist()
    if len(infos) > MAX_MEMBERS:
        package.close()
        raise ConnectorError("an Office file with too many parts is not rewritten")
    if (any(i.file_size > MAX_PART_BYTES for i in infos)
            or sum(i.file_size for i in infos) > MAX_EXPANDED_BYTES):
        package.close()
        raise ConnectorError("an Office file expands too far to be rewritten")
    return package


def parts(data: bytes) -> Iterator[tuple[str, bytes]]:
    """Every member of the package, unzipped, within the limits."""
    with open_package(data) as package:
        for info in package.infolist():
            try:
                body = package.read(info)
            except (zipfile.BadZipFile, OSError):
                raise ConnectorError("an Office file part cannot be read back") from None
            yield info.filename, body


def views(name: str, body: bytes) -> list[bytes]:
    """What verification scans in one part: the raw bytes and, for XML, the text alone."""
    if name.lower().endswith(_XML_SUFFIXES):
        return [body, _TAG.sub(b"", body)]
    return [body]


# ---------------------------------------------------------------------- docx
def redact_docx(data: bytes, pattern: re.Pattern[bytes]) -> Rewritten:
    out = io.BytesIO()
    count = 0
    with open_package(data) as package, zipfile.ZipFile(out, "w") as target:
        for info in package.infolist():
            body = package.read(info)
            if info.filename.lower().endswith(_XML_SUFFIXES):
                body, n = redact_xml(body, pattern)
                count += n
            target.writestr(info, body)
    out.seek(0)
    return Rewritten(out, count)


def redact_xml(body: bytes, pattern: re.Pattern[bytes]) -> tuple[bytes, int]:
    """Writings replaced in text and attribute values (an author is a name too); tags and
    element names are never touched (a writing holds no ``<`` or ``>``)."""
    count = 0

    def text(match: re.Match[bytes]) -> bytes:
        nonlocal count
        new, n = pattern.subn(MARKER, match.group(0))
        count += n
        return new

    body = re.sub(rb"[^<]+|<[^>]*>", text, body)
    body, across = _across_runs(body, pattern)
    return body, count + across


_TEXT_NODE = re.compile(rb"(<w:(?:t|delText|instrText)(?:\s[^>]*)?>)([^<]*)"
                        rb"(</w:(?:t|delText|instrText)>)")
_PRESERVE = b' xml:space="preserve"'


def _across_runs(body: bytes, pattern: re.Pattern[bytes]) -> tuple[bytes, int]:
    """Writings split over the text nodes of one paragraph: the marker goes in the first
    node, the rest of the writing leaves the nodes it spilled into."""
    nodes = list(_TEXT_NODE.finditer(body))
    if len(nodes) < 2:
        return body, 0
    texts = [m.group(2) for m in nodes]
    count = 0
    for group in _paragraphs(body, nodes):
        if len(group) < 2:
            continue
        starts, at = [], 0
        for i in group:
            starts.append(at)
            at += len(texts[i])
        joined = b"".join(texts[i] for i in group)
        for match in reversed(list(pattern.finditer(joined))):
            first = _node_at(starts, match.start())
            last = _node_at(starts, match.end() - 1)
            if first == last:
                continue
            a, b = group[first], group[last]
            texts[b] = texts[b][match.end() - starts[last]:]
            for k in range(first + 1, last):
                texts[group[k]] = b""
            texts[a] = texts[a][:match.start() - starts[first]] + MARKER
            count += 1
    if not count:
        return body, 0
    out, at = [], 0
    for node, text in zip(nodes, texts, strict=True):
        opening = node.group(1)
        edge_space = text[:1].isspace() or text[-1:].isspace()
        if text != node.group(2) and edge_space and b"xml:space" not in opening:
            opening = opening[:-1] + _PRESERVE + b">"
        out += [body[at:node.start()], opening, text, node.group(3)]
        at = node.end()
    out.append(body[at:])
    return b"".join(out), count


def _paragraphs(body: bytes, nodes: list[re.Match[bytes]]) -> list[list[int]]:
    groups, current = [], [0]
    for i in range(1, len(nodes)):
        if b"</w:p>" in body[nodes[i - 1].end():nodes[i].start()]:
            groups.append(current)
            current = []
        current.append(i)
    groups.append(current)
    return groups


def _node_at(starts: list[int], position: int) -> int:
    index = 0
    for i, start in enumerate(starts):
        if start <= position:
            index = i
    return index


# ---------------------------------------------------------------------- xlsx
def remove_xlsx_rows(data: bytes, remove: RowTest) -> Rewritten:
    """The rows ``remove`` picks deleted from their sheets (numbered as the extractor does:
    the n-th sheet with rows adds (n-1) x PART_STRIDE); every other cell keeps its value,
    type and style, other sheets are not touched."""
    from connectors.files.scan import row_number

    open_package(data).close()  # the limits, before openpyxl unzips anything
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), keep_links=True, keep_vba=False)
    except (KeyError, zipfile.BadZipFile, ValueError, TypeError):
        raise ConnectorError("not a valid xlsx workbook: not rewritten") from None
    count, index = 0, 0
    for sheet in book.worksheets:
        doomed: list[int] = []
        seen_rows = False
        for cells in sheet.iter_rows():
            values = ["" if c.value is None else str(c.value) for c in cells]
            while values and not values[-1]:
                values.pop()
            if not values:
                continue
            seen_rows = True
            if remove(row_number(index, cells[0].row), values):
                doomed.append(cells[0].row)
        for row in reversed(doomed):
            sheet.delete_rows(row)
        count += len(doomed)
        index += seen_rows
    out = io.BytesIO()
    if count:
        book.save(out)
    out.seek(0)
    return Rewritten(out, count)
