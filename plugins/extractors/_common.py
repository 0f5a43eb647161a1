"""What several extractors share: decoding, chunking text, zip limits, values."""

from __future__ import annotations

import codecs
import datetime as dt
import io
import re
import struct
import zipfile
import zlib
from collections.abc import Iterator
from typing import BinaryIO

from agent.extraction import RATIO_FLOOR, content_label, part_error, peek_head
from agent.extractors import ExtractionError, ExtractLimits

CHUNK_CHARS = 1 << 20  # text pieces of about this size, cut at a line end

# ---------------------------------------------------------------- decoding
# Undecodable bytes in "UTF-8" text are read as Windows-1252 (latin-1 where 1252 has a
# hole), byte by byte: files that mix the two (common in exports) lose nothing.
_CP1252 = tuple(
    bytes([b]).decode("cp1252", errors="ignore") or chr(b) for b in range(256))


def _cp1252_fallback(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    bad = exc.object[exc.start:exc.end]
    return "".join(_CP1252[b] for b in bad), exc.end


FALLBACK = "dsr-cp1252"
codecs.register_error(FALLBACK, _cp1252_fallback)

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"))


def detect_encoding(head: bytes) -> str:
    """UTF-8/16/32 by their BOM, UTF-16 without one by its zero bytes, else UTF-8 (read
    with the Windows-1252 fallback, see ``FALLBACK``)."""
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return encoding
    sample = head[:4096]
    if len(sample) >= 4 and b"\x00" in sample:
        even, odd = sample[0::2], sample[1::2]
        if odd.count(0) > 0.4 * len(odd) and even.count(0) < 0.05 * len(even):
            return "utf-16-le"
        if even.count(0) > 0.4 * len(even) and odd.count(0) < 0.05 * len(odd):
            return "utf-16-be"
    return "utf-8"


def decoder(encoding: str) -> codecs.IncrementalDecoder:
    return codecs.getincrementaldecoder(encoding)(errors=FALLBACK)


def decode(data: bytes) -> str:
    return data.decode(detect_encoding(data[:4096]), errors=FALLBACK)


_CONTROL = re.compile(rb"[\x00-\x08\x0e-\x1a\x1c-\x1f]")


def looks_like_text(head: bytes) -> bool:
    """No known binary signature, and text in some encoding we read."""
    if not head:
        return True
    encoding = detect_encoding(head)
    if encoding != "utf-8":
        return True
    if content_label(head) != "binary data":
        return False
    return len(_CONTROL.findall(head)) <= len(head) // 100


def known_binary(head: bytes) -> bool:
    """The head carries a signature of some format (zip, pdf, png, ...)."""
    return bool(head) and content_label(head) not in ("binary data", "empty")


def text_stream(stream: BinaryIO) -> tuple[io.TextIOWrapper, str]:
    """A text reader over ``stream`` (newlines untranslated), and the encoding chosen.
    Detach it when done so the caller's stream is not closed with it."""
    head, stream = peek_head(stream, 4096)
    encoding = detect_encoding(head)
    buffered = stream if isinstance(stream, io.BufferedIOBase) else io.BufferedReader(
        _Raw(stream))
    return io.TextIOWrapper(buffered, encoding=encoding, errors=FALLBACK, newline=""), encoding


class _Raw(io.RawIOBase):
    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self._stream.read(len(buffer)) or b""
        buffer[:len(data)] = data
        return len(data)


def iter_text(stream: BinaryIO, chunk_bytes: int = CHUNK_CHARS) -> Iterator[tuple[int, str]]:
    """``(character offset, text)`` pieces of a text stream, each cut after a line end
    (or, in a line longer than a chunk, after a space) so no identifier is split."""
    head, stream = peek_head(stream, 4096)
    decode_more = decoder(detect_encoding(head))
    pending = ""
    offset = 0
    while True:
        data = stream.read(chunk_bytes)
        pending += decode_more.decode(data or b"", final=not data)
        if not data:
            break
        if len(pending) < chunk_bytes:
            continue
        cut = _cut(pending)
        yield offset, pending[:cut]
        offset += cut
        pending = pending[cut:]
    if pending:
        yield offset, pending


def _cut(text: str) -> int:
    for mark in ("\n", " ", "\t"):
        at = text.rfind(mark)
        if at > 0:
            return at + 1
    return len(text)


# ---------------------------------------------------------------- zip parts
class Counted(io.RawIOBase):
    """A decompressed part read straight from a zip: its bytes count against the limits."""

    def __init__(self, stream: BinaryIO, count: object) -> None:
        self._stream = stream
        self._count = count

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self._stream.read(len(buffer)) or b""
        buffer[:len(data)] = data
        if data:
            self._count(len(data))  # type: ignore[operator]
        return len(data)


# ---------------------------------------------------------------- zip archives
def open_zip(stream: BinaryIO, limits: ExtractLimits, label: str = "") -> zipfile.ZipFile:
    """A zip whose declared sizes are within the limits (Python's zipfile never inflates
    a member past its declared size, so the check up front holds while reading)."""
    try:
        archive = zipfile.ZipFile(stream)
    except zipfile.BadZipFile:
        raise ExtractionError("not a valid zip archive (corrupt or truncated)") from None
    infos = archive.infolist()
    if len(infos) > limits.max_members:
        raise ExtractionError(f"{len(infos)} members, over the limit of "
                              f"{limits.max_members} (max_members)")
    total = 0
    for info in infos:
        total += info.file_size
        if info.file_size > RATIO_FLOOR and \
                info.file_size > limits.max_ratio * max(info.compress_size, 1):
            ratio = info.file_size // max(info.compress_size, 1)
            raise part_error(f"{label}{member_label(info.filename)}",
                             f"compression ratio {ratio} over the limit of "
                             f"{limits.max_ratio} (max_ratio)")
    if total > limits.max_expanded_bytes:
        raise ExtractionError(f"declared expanded size {total} bytes, over the limit of "
                              f"{limits.max_expanded_bytes} (max_expanded_bytes)")
    return archive


def member_label(name: str) -> str:
    """A member's name as a label: ``/`` separators, no leading ``/``, no ``..`` segments
    (a label only: nothing is ever written under it)."""
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".", "..")]
    return "/".join(parts) or "_"


_LOCAL_HEADER = b"PK\x03\x04"
_WORD = (b"wordprocessingml.document", b"ms-word.document")
_SHEET = (b"spreadsheetml.sheet", b"ms-excel.sheet")


def office_kind(head: bytes) -> str | None:
    """"docx", "xlsx" or None, from the zip entries the head shows (their names, and
    ``[Content_Types].xml`` when it is there whole)."""
    if not head.startswith(_LOCAL_HEADER):
        return None
    at = 0
    while at >= 0 and at + 30 <= len(head):
        flags, method = struct.unpack_from("<HH", head, at + 6)
        size = struct.unpack_from("<I", head, at + 18)[0]
        name_len, extra_len = struct.unpack_from("<HH", head, at + 26)
        name = head[at + 30:at + 30 + name_len]
        if name.startswith(b"word/"):
            return "docx"
        if name.startswith(b"xl/"):
            return "xlsx"
        data_at = at + 30 + name_len + extra_len
        if name == b"[Content_Types].xml" and not flags & 8:
            kind = _content_types_kind(head[data_at:data_at + size], method)
            if kind:
                return kind
        at = head.find(_LOCAL_HEADER, at + 4)
    return None


def _content_types_kind(data: bytes, method: int) -> str | None:
    try:
        xml = zlib.decompressobj(-15).decompress(data, 1 << 16) if method == 8 else data
    except zlib.error:
        return None
    if any(t in xml for t in _WORD):
        return "docx"
    if any(t in xml for t in _SHEET):
        return "xlsx"
    return None


# ---------------------------------------------------------------- values
def render(value: object) -> str:
    """A cell or JSON value as the text a person would type: integers without ``.0`` (a
    phone stored as a number), dates as ISO dates."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(value)
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0, 0) and value.tzinfo is None:
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return str(value)


def row_text(cells: list[str] | tuple[str, ...]) -> str:
    """The scanned text of a row: non-empty cells joined by ", " (a comma keeps two
    numbers in neighbouring cells from reading as one phone number)."""
    return ", ".join(filter(None, cells))


def office_sniff(kind: str, extensions: tuple[str, ...], head: bytes, filename: str) -> bool:
    """An Office Open XML package of ``kind`` (docx, xlsx): by its parts when the head shows
    them, else by extension unless the content is some other binary format."""
    found = office_kind(head)
    if found:
        return found == kind
    return filename.lower().endswith(extensions) and (not known_binary(head)
                                                      or head.startswith(b"PK"))
