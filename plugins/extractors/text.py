"""Plain text (txt, log, md, and anything else that reads as text): the fallback.

Encoding: UTF-8/16/32 by BOM, UTF-16 without BOM by its zero bytes, else UTF-8 with any
undecodable byte read as Windows-1252 (latin-1 where 1252 has no character). Streamed in
pieces of about a megabyte cut at a line end; ``where`` is "" (the file itself) and
``offset`` the character offset in the decoded text (after any BOM).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from agent.extractors import ExtractContext, Extractor, TextPiece
from plugins.extractors._common import iter_text, known_binary, looks_like_text


class TextExtractor(Extractor):
    name = "text"
    extensions = (".txt", ".text", ".log", ".md", ".markdown", ".rst", ".ini", ".cfg",
                  ".conf", ".xml", ".html", ".htm", ".yaml", ".yml", ".sql")
    media_types = ("text/plain", "text/markdown", "text/html", "text/xml")
    fallback = True  # accepts anything texty: agent.extraction.Extraction tries it last

    @classmethod
    def sniff(cls, head: bytes, filename: str) -> bool:
        if looks_like_text(head):
            return True
        return filename.lower().endswith(cls.extensions) and not known_binary(head)

    def extract(self, stream: BinaryIO, filename: str, context: ExtractContext
                ) -> Iterator[TextPiece]:
        for offset, text in iter_text(stream):
            yield TextPiece(text, where="", offset=offset)
