"""Zip and gzip archives: every member goes back through ``context.nested``, so the
member's own format is sniffed and read, and depth, member count, expanded size,
compression ratio and time are enforced in one place.

Zip: ``where`` is ``zip:NAME`` (the member's path in the archive, ``\\`` turned into ``/``,
leading ``/`` and ``..`` segments dropped: a label, never a path we write to), so a CSV
member's rows come as ``zip:folder/a.csv`` with ``row``. Declared sizes are checked before
anything is inflated (a member over the ratio is a zip bomb); an encrypted member is an
error naming it. Gzip: ``where`` is ``gz:NAME``, NAME being the file name without ``.gz``
(``.tgz`` gives ``.tar``, which no built-in extractor reads).
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from typing import BinaryIO

from agent.extraction import part_error
from agent.extraction import seekable as seekable_stream
from agent.extractors import ExtractContext, Extractor, TextPiece
from plugins.extractors._common import known_binary, member_label, open_zip


class ZipExtractor(Extractor):
    name = "zip"
    extensions = (".zip",)
    media_types = ("application/zip",)

    @classmethod
    def sniff(cls, head: bytes, filename: str) -> bool:
        if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
            return True
        return filename.lower().endswith(cls.extensions) and not known_binary(head)

    def extract(self, stream: BinaryIO, filename: str, context: ExtractContext
                ) -> Iterator[TextPiece]:
        with seekable_stream(stream) as data, open_zip(data, context.limits, "zip:") as zf:
            for info in zf.infolist():
                if info.is_dir():
                    continue
                where = f"zip:{member_label(info.filename)}"
                if info.flag_bits & 1:
                    raise part_error(where, "encrypted member (a password is needed)")
                try:
                    member = zf.open(info)
                except NotImplementedError:
                    raise part_error(where, "unsupported compression method") from None
                with member:
                    yield from context.nested(member, info.filename, where)


class GzipExtractor(Extractor):
    name = "gzip"
    extensions = (".gz", ".tgz")
    media_types = ("application/gzip",)

    @classmethod
    def sniff(cls, head: bytes, filename: str) -> bool:
        if head.startswith(b"\x1f\x8b"):
            return True
        return filename.lower().endswith(cls.extensions) and not known_binary(head)

    def extract(self, stream: BinaryIO, filename: str, context: ExtractContext
                ) -> Iterator[TextPiece]:
        inner = _inner_name(filename)
        with gzip.GzipFile(fileobj=stream, mode="rb") as member:
            yield from context.nested(member, inner, f"gz:{inner}")  # type: ignore[arg-type]


def _inner_name(filename: str) -> str:
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    lower = base.lower()
    if lower.endswith(".tgz"):
        return base[:-4] + ".tar"
    if lower.endswith(".gz"):
        return base[:-3] or "_"
    return base or "_"
