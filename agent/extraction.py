"""Run the registered extractors over one file, enforcing every limit in one place.

``Extraction(extractors, limits).pieces(stream, filename)`` sniffs the file (the first
``HEAD_BYTES``, rewound on a seekable stream, chained back in front otherwise), picks an
extractor with ``choose()`` and streams its ``TextPiece`` objects. Each call keeps its own
state, so one ``Extraction`` serves many threads.

Limits (``ExtractLimits``), all per top-level file:

- ``max_depth``: archives and attachments inside one another (``nested`` past it fails);
- ``max_members``: ``nested`` calls one archive or message may make;
- ``max_expanded_bytes``: decompressed bytes, counted as nested members are read and when
  an extractor calls ``count``;
- ``max_ratio``: decompressed bytes against the bytes read from the file itself (past the
  first ``RATIO_FLOOR`` bytes), so a gzip or zip bomb stops while it expands; the zip
  extractors also refuse members whose declared sizes are over the ratio before opening;
- ``max_seconds``: checked on reads of the file and of members, on ``count`` and every 64
  pieces;
- ``max_text_chars``: the text of all pieces together.

Errors are ``ExtractionError`` naming the part (``zip:a.zip/zip:b.csv: ...``) and, for a
limit, the limit's name; anything else an extractor raises is turned into one that names
the part and the kind of failure, never the content (``from None``: no chained traceback).
A file no extractor reads raises ``UnsupportedFormat``; an empty file yields nothing.

Helpers for extractors: ``part_error`` (an error in one named part), ``seekable`` (spool a
stream for random access), ``peek_head`` and ``prepend`` (look at the start of a stream).
"""

from __future__ import annotations

import gzip
import io
import json
import shutil
import tempfile
import time
import xml.etree.ElementTree as ET
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import BinaryIO
from xml.parsers import expat

from agent.extractors import (
    HEAD_BYTES,
    ExtractionError,
    ExtractLimits,
    Extractor,
    TextPiece,
    choose,
)

# Below this many decompressed bytes a high ratio is harmless (a small file of spaces).
RATIO_FLOOR = 1024 * 1024
_BUFFER = 256 * 1024
SPOOL_IN_MEMORY = 16 << 20  # a stream that cannot seek is copied to memory up to this


class UnsupportedFormat(ExtractionError):
    """No registered extractor reads this content (a picture, an executable, ...)."""


@dataclass
class _Run:
    """The state of one top-level file: what every nested level adds to."""

    limits: ExtractLimits
    started: float = field(default_factory=time.monotonic)
    raw_bytes: int = 0  # read from the top-level file itself
    expanded: int = 0  # decompressed bytes of members and counted parts
    text_chars: int = 0
    pieces: int = 0
    skipped: list[str] | None = None

    def check_time(self, where: str) -> None:
        if time.monotonic() - self.started > self.limits.max_seconds:
            raise _located(f"{_label(where)}: took longer than {self.limits.max_seconds:g} s "
                           f"(max_seconds)")

    def add_expanded(self, nbytes: int, where: str) -> None:
        self.expanded += nbytes
        limits = self.limits
        if self.expanded > limits.max_expanded_bytes:
            raise _located(f"{_label(where)}: expanded size over the limit of "
                           f"{limits.max_expanded_bytes} bytes (max_expanded_bytes)")
        if (self.expanded > RATIO_FLOOR
                and self.expanded > limits.max_ratio * max(self.raw_bytes, 1)):
            raise _located(f"{_label(where)}: compression ratio over the limit of "
                           f"{limits.max_ratio} (max_ratio)")
        self.check_time(where)


class Extraction:
    """The registered extractors (classes or instances, in registration order) and limits.

    Sniffing tries them in that order, except that fallbacks (an extractor class with
    ``fallback = True``, like the built-in plain-text one, which accepts anything that reads
    as text) go last, so a plugin's extractor for a text-based format is tried first.
    """

    def __init__(self, extractors: Sequence[Extractor | type[Extractor]],
                 limits: ExtractLimits | None = None) -> None:
        made = [e() if isinstance(e, type) else e for e in extractors]
        self.extractors: list[Extractor] = sorted(
            made, key=lambda e: bool(getattr(e, "fallback", False)))
        self.limits = limits or ExtractLimits()

    @classmethod
    def from_plugins(cls, limits: ExtractLimits | None = None) -> Extraction:
        """Every extractor the loaded plugins registered."""
        from agent.plugins import get_plugin_manager

        registry = get_plugin_manager().registry
        return cls([r.obj for r in registry.all("extractors")], limits)

    def pieces(self, stream: BinaryIO, filename: str, *,
               skipped: list[str] | None = None) -> Iterator[TextPiece]:
        """The file's text pieces, in order; ``skipped`` (when given) collects the
        nested members no extractor reads (``zip:logo.png: no extractor (png)``)."""
        run = _Run(self.limits, skipped=skipped)
        counted = _RawCounter(stream, run)
        reader: BinaryIO = io.BufferedReader(counted, _BUFFER)
        yield from _Context(self, run, depth=0, prefix="").extract(reader, filename)

    def extractor_for(self, head: bytes, filename: str) -> Extractor | None:
        return choose(self.extractors, head, filename)


class _Context:
    """The ``ExtractContext`` an extractor gets: one per nesting level."""

    def __init__(self, extraction: Extraction, run: _Run, depth: int, prefix: str,
                 local: str = "") -> None:
        self._extraction = extraction
        self._run = run
        self.limits = run.limits
        self.depth = depth
        self.prefix = prefix  # the full where of this level (for messages)
        self._local = local  # what this level adds in front of its pieces' where
        self._members = 0

    # ------------------------------------------------------------ the protocol
    def nested(self, stream: BinaryIO, filename: str, where: str) -> Iterator[TextPiece]:
        full = _join(self.prefix, where)
        self._members += 1
        if self._members > self.limits.max_members:
            raise _located(f"{_label(self.prefix)}: more than {self.limits.max_members} "
                           f"members (max_members)")
        if self.depth + 1 > self.limits.max_depth:
            raise _located(f"{full}: nested deeper than {self.limits.max_depth} "
                           f"(max_depth)")
        self._run.check_time(full)
        child = _Context(self._extraction, self._run, self.depth + 1, full, where)
        reader = io.BufferedReader(_Meter(stream, self._run, full), _BUFFER)
        return child.extract(reader, filename)

    def count(self, nbytes: int) -> None:
        self._run.add_expanded(nbytes, self.prefix)

    # ------------------------------------------------------------ running one level
    def extract(self, stream: BinaryIO, filename: str) -> Iterator[TextPiece]:
        extractor: Extractor | None = None
        try:
            head, stream = peek_head(stream)
            if not head:
                return  # an empty file or member holds no text, whatever its name
            extractor = self._extraction.extractor_for(head, filename)
            if extractor is None:
                self._unsupported(head)
                return
            for piece in extractor.extract(stream, filename, self):
                # each level adds its own name as the piece passes up through it
                if self._local:
                    piece.where = _join(self._local, piece.where)
                self._account(piece)
                yield piece
        except ExtractionError as exc:
            if getattr(exc, "located", False):
                raise
            part = getattr(exc, "part", "")
            reason = getattr(exc, "reason", str(exc))
            raise _located(_message(_join(self.prefix, part), reason), type(exc)) from None
        except Exception as exc:
            what = f"cannot read as {extractor.name}" if extractor else "cannot read"
            raise _located(_message(self.prefix, f"{what}: {describe(exc)}")) from None

    def _unsupported(self, head: bytes) -> None:
        what = content_label(head)
        if self.depth == 0:
            raise _located(f"no extractor reads this file ({what})", UnsupportedFormat)
        if self._run.skipped is not None:
            self._run.skipped.append(f"{self.prefix}: no extractor ({what})")

    def _account(self, piece: TextPiece) -> None:
        run = self._run
        if self.depth == 0:  # every piece passes the top level once, with its full where
            run.text_chars += len(piece.text)
            if run.text_chars > run.limits.max_text_chars:
                raise _located(f"{_label(piece.where)}: text over the limit of "
                               f"{run.limits.max_text_chars} characters (max_text_chars)")
        run.pieces += 1
        # the clock every 64 pieces (rows are small and many), and at every large piece
        if run.pieces & 63 == 1 or len(piece.text) > 65_536:
            run.check_time(self.prefix)


# ---------------------------------------------------------------- streams
class _RawCounter(io.RawIOBase):
    """The top-level file: counts the bytes read (the ratio's denominator); seekable when
    the file is."""

    def __init__(self, stream: BinaryIO, run: _Run) -> None:
        self._stream = stream
        self._run = run

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return _seekable(self._stream)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._stream.seek(offset, whence)

    def tell(self) -> int:
        return self._stream.tell()

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self._stream.read(len(buffer))
        n = len(data or b"")
        buffer[:n] = data or b""
        self._run.raw_bytes += n
        self._run.check_time("")
        return n


class _Meter(io.RawIOBase):
    """A nested member: every byte read counts as expanded (limits, ratio, deadline).
    Never seekable: an extractor that needs random access spools it."""

    def __init__(self, stream: BinaryIO, run: _Run, where: str) -> None:
        self._stream = stream
        self._run = run
        self._where = where

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self._stream.read(len(buffer))
        n = len(data or b"")
        buffer[:n] = data or b""
        if n:
            self._run.add_expanded(n, self._where)
        return n


class _Chained(io.RawIOBase):
    """The sniffed head put back in front of a stream that cannot rewind."""

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        self._head = memoryview(head)
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._stream.read(len(buffer))
        n = len(data or b"")
        buffer[:n] = data or b""
        return n


def peek_head(stream: BinaryIO, size: int = HEAD_BYTES) -> tuple[bytes, BinaryIO]:
    """The first ``size`` bytes and a stream that still starts at the beginning (the same
    stream rewound when it can seek, else the head chained back in front of it)."""
    if _seekable(stream):
        start = stream.tell()
        head = read_exact(stream, size)
        stream.seek(start)
        return head, stream
    head = read_exact(stream, size)
    return head, io.BufferedReader(_Chained(head, stream), _BUFFER)


@contextmanager
def seekable(stream: BinaryIO) -> Iterator[BinaryIO]:
    """``stream`` itself when it can seek, else a spooled copy (in memory up to
    ``SPOOL_IN_MEMORY``, then on disk) for readers that need random access (zip, PDF)."""
    if _seekable(stream):
        yield stream
        return
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as spool:
        shutil.copyfileobj(stream, spool, 1 << 20)
        spool.seek(0)
        yield spool  # type: ignore[misc]


def prepend(head: bytes, stream: BinaryIO) -> io.BufferedReader:
    """``head`` followed by the rest of ``stream``, as one (non-seekable) stream."""
    return io.BufferedReader(_Chained(head, stream), _BUFFER)


def _seekable(stream: BinaryIO) -> bool:
    try:
        return bool(stream.seekable())
    except (AttributeError, OSError, ValueError):
        return False


def read_exact(stream: BinaryIO, size: int) -> bytes:
    """``size`` bytes, or fewer only at the end of the stream (reads may return less)."""
    chunks: list[bytes] = []
    left = size
    while left > 0:
        chunk = stream.read(left)
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


# ---------------------------------------------------------------- messages
def _join(prefix: str, where: str) -> str:
    if not prefix:
        return where
    return f"{prefix}/{where}" if where else prefix


def _label(where: str) -> str:
    return where or "file"


def _message(where: str, reason: str) -> str:
    return f"{where}: {reason}" if where else reason


def part_error(part: str, reason: str) -> ExtractionError:
    """An error in one part of a document (``word/comments.xml``, ``page:3``); the nesting
    prefix is added in front of ``part`` as the error leaves each level."""
    exc = ExtractionError(_message(part, reason))
    exc.part = part  # type: ignore[attr-defined]
    exc.reason = reason  # type: ignore[attr-defined]
    return exc


def _located(message: str, kind: type[ExtractionError] = ExtractionError) -> ExtractionError:
    exc = kind(message)
    exc.located = True  # type: ignore[attr-defined]
    return exc


def describe(exc: BaseException) -> str:
    """What went wrong, by the kind of failure; never the exception's text (which may
    quote content), except for kinds whose text is known to hold only positions."""
    if isinstance(exc, json.JSONDecodeError):
        return f"not valid JSON (line {exc.lineno}, column {exc.colno})"
    if isinstance(exc, expat.ExpatError):
        return f"not well-formed XML (line {exc.lineno}, column {exc.offset})"
    if isinstance(exc, ET.ParseError):
        line, column = getattr(exc, "position", (0, 0))
        return f"not well-formed XML (line {line}, column {column})"
    if isinstance(exc, zipfile.BadZipFile):
        return "not a valid zip archive (corrupt or truncated)"
    if isinstance(exc, gzip.BadGzipFile):
        return "not a valid gzip stream (corrupt or truncated)"
    if isinstance(exc, EOFError):
        return "truncated (ended early)"
    if isinstance(exc, zlib.error):
        return "corrupt compressed data"
    if isinstance(exc, UnicodeError):
        return "undecodable text"
    if isinstance(exc, NotImplementedError):
        return "uses a feature this reader does not support (e.g. a compression method)"
    if isinstance(exc, MemoryError):
        return "too large to read in memory"
    if isinstance(exc, RecursionError):
        return "nested too deeply to read"
    return f"{type(exc).__name__}"


_MAGICS: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "zip"), (b"PK\x05\x06", "zip"), (b"%PDF-", "pdf"),
    (b"\x1f\x8b", "gzip"), (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
                            "OLE compound file: legacy Office or encrypted Office"),
    (b"\x89PNG", "png"), (b"\xff\xd8\xff", "jpeg"), (b"GIF8", "gif"), (b"BM", "bmp"),
    (b"II*\x00", "tiff"), (b"MM\x00*", "tiff"), (b"Rar!", "rar"), (b"7z\xbc\xaf", "7z"),
    (b"BZh", "bzip2"), (b"\xfd7zXZ", "xz"), (b"\x7fELF", "executable"), (b"MZ", "executable"),
    (b"ID3", "audio"), (b"RIFF", "audio/video"), (b"OggS", "audio"), (b"fLaC", "audio"),
    (b"SQLite format 3", "sqlite database"),
)


def content_label(head: bytes) -> str:
    """A short name for what the head looks like (for messages; never content)."""
    for magic, label in _MAGICS:
        if head.startswith(magic):
            return label
    if not head:
        return "empty"
    return "binary data"
