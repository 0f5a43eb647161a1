"""Any rewriter over a gzip file: decompress (streamed, to a spooled temporary file), run the
inner rewriter on the plain content, compress its output again.

The new file keeps the first member's header: file name, comment, modification time,
extra field and OS byte; the compression level is read from its XFL byte (2: level 9, 4:
level 1, else 6). A file of several concatenated members (``cat a.gz b.gz``, pigz blocks)
is read whole and written back as ONE member (with the first member's header): gunzip gives
the same bytes either way. Trailing zero padding is ignored; other trailing bytes are an
error.

Limits, as the extraction limits have them (``agent.extractors.ExtractLimits``): more than
``max_ratio`` decompressed bytes per compressed byte (past ``RATIO_FLOOR``) or more than
``max_bytes`` decompressed is refused while it expands (a gzip bomb); so is a rewritten
content over ``max_bytes``. Errors say what is wrong, never content.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from agent.errors import ConnectorError
from agent.extraction import RATIO_FLOOR
from agent.extractors import ExtractLimits
from connectors.files.rewrite import Rewritten, spool

MAGIC = b"\x1f\x8b"
_FHCRC, _FEXTRA, _FNAME, _FCOMMENT = 2, 4, 8, 16
_BLOCK = 1 << 20
_MAX_HEADER = 1 << 16  # a name or comment longer than this is not a header we keep
_DEFAULTS = ExtractLimits()


@dataclass(frozen=True)
class GzipHeader:
    mtime: int
    name: bytes | None  # as stored (Latin-1 by the format), without the terminating NUL
    comment: bytes | None
    extra: bytes | None
    xfl: int
    os: int

    @property
    def level(self) -> int:
        return {2: 9, 4: 1}.get(self.xfl, 6)

    def encode(self) -> bytes:
        flags = ((_FEXTRA if self.extra is not None else 0) | (_FNAME if self.name is not None
                 else 0) | (_FCOMMENT if self.comment is not None else 0))
        out = MAGIC + struct.pack("<BBIBB", 8, flags, self.mtime, self.xfl, self.os)
        if self.extra is not None:
            out += struct.pack("<H", len(self.extra)) + self.extra
        if self.name is not None:
            out += self.name + b"\x00"
        if self.comment is not None:
            out += self.comment + b"\x00"
        return out


def read_header(data: bytes) -> GzipHeader:
    """The first member's header from the file's first bytes."""
    if len(data) < 10 or not data.startswith(MAGIC):
        raise ConnectorError("not a gzip file (no gzip signature): not rewritten")
    method, flags, mtime, xfl, os_byte = struct.unpack_from("<BBIBB", data, 2)
    if method != 8:
        raise ConnectorError("the gzip file uses an unknown compression method: not rewritten")
    pos = 10
    extra = name = comment = None
    if flags & _FEXTRA:
        if len(data) < pos + 2:
            raise _corrupt("its header is cut short")
        (size,) = struct.unpack_from("<H", data, pos)
        extra = data[pos + 2:pos + 2 + size]
        pos += 2 + size
    for flag in (_FNAME, _FCOMMENT):
        if flags & flag:
            end = data.find(b"\x00", pos)
            if end < 0:
                raise _corrupt("its header is cut short or over-long")
            if flag == _FNAME:
                name = data[pos:end]
            else:
                comment = data[pos:end]
            pos = end + 1
    return GzipHeader(mtime, name, comment, extra, xfl, os_byte)


def rewrite_gzip(stream: BinaryIO, inner: Callable[[BinaryIO], Rewritten], *,
                 max_ratio: int = _DEFAULTS.max_ratio,
                 max_bytes: int = _DEFAULTS.max_expanded_bytes) -> Rewritten:
    """``inner`` run over the decompressed content; its output compressed again with the
    original header. ``count`` is the inner count (0: nothing to write, ``data`` empty)."""
    plain, header = _decompress(stream, max_ratio, max_bytes)
    try:
        result = inner(plain)
    finally:
        plain.close()
    if not result.count:
        result.data.close()
        return Rewritten(spool(), 0)
    try:
        return Rewritten(_compress(result.data, header, max_bytes), result.count)
    finally:
        result.data.close()


def _corrupt(reason: str) -> ConnectorError:
    return ConnectorError(f"the gzip file is corrupt ({reason}): not rewritten")


def _decompress(stream: BinaryIO, max_ratio: int, max_bytes: int
                ) -> tuple[BinaryIO, GzipHeader]:
    out = spool()
    try:
        first = stream.read(_MAX_HEADER)
        header = read_header(first)
        read, expanded, members, padded = len(first), 0, 1, False
        pending = first
        engine: zlib._Decompress | None = zlib.decompressobj(16 + zlib.MAX_WBITS)
        while True:
            if not pending:
                pending = stream.read(_BLOCK)
                read += len(pending)
                if not pending:
                    break
            if engine is None:  # between members: another member, or zero padding to the end
                stripped = pending.lstrip(b"\x00")
                padded = padded or len(stripped) < len(pending)
                if not stripped:
                    pending = b""
                    continue
                if padded or not stripped.startswith(MAGIC[:len(stripped)]):
                    raise _corrupt(f"bytes that are not gzip follow member {members}")
                members += 1
                engine = zlib.decompressobj(16 + zlib.MAX_WBITS)
            try:
                # max_length: a bomb never expands more than a block in memory at once
                chunk = engine.decompress(pending, _BLOCK)
            except zlib.error:
                raise _corrupt(f"member {members} does not inflate") from None
            pending = engine.unconsumed_tail
            expanded += len(chunk)
            if expanded > max_bytes:
                raise ConnectorError(f"the gzip file expands past {max_bytes} bytes "
                                     "(max_expanded_bytes): not rewritten")
            if expanded > RATIO_FLOOR and expanded > max_ratio * max(read, 1):
                raise ConnectorError(f"the gzip file's compression ratio is over the limit "
                                     f"of {max_ratio} (max_ratio): not rewritten")
            out.write(chunk)
            if engine.eof:
                pending = engine.unused_data + pending
                engine = None
        if engine is not None:
            raise _corrupt(f"member {members} is cut short")
    except BaseException:
        out.close()
        raise
    out.seek(0)
    return out, header


def _compress(data: BinaryIO, header: GzipHeader, max_bytes: int) -> BinaryIO:
    out = spool()
    try:
        out.write(header.encode())
        engine = zlib.compressobj(header.level, zlib.DEFLATED, -zlib.MAX_WBITS, 9)
        crc, size = 0, 0
        while block := data.read(_BLOCK):
            size += len(block)
            if size > max_bytes:
                raise ConnectorError(f"the rewritten content is over {max_bytes} bytes "
                                     "(max_expanded_bytes): not rewritten")
            crc = zlib.crc32(block, crc)
            out.write(engine.compress(block))
        out.write(engine.flush())
        out.write(struct.pack("<II", crc & 0xFFFFFFFF, size & 0xFFFFFFFF))
    except BaseException:
        out.close()
        raise
    out.seek(0)
    return out
