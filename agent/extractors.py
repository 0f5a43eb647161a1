"""The Extractor base class: turn a file's bytes into text with positions, or rows.

The file-share and bucket connectors choose an extractor by sniffing content as well as by
extension. Extractors are registered as classes (``register(CsvExtractor)``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, ClassVar


@dataclass
class TextPiece:
    """Text from one place in a document; ``row`` is set for tabular formats."""

    text: str
    where: str = ""
    row: int | None = None


class Extractor(ABC):
    name: ClassVar[str] = ""
    extensions: ClassVar[tuple[str, ...]] = ()
    media_types: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def sniff(cls, head: bytes, filename: str) -> bool:
        """Whether this extractor reads a file starting with ``head``."""
        return filename.lower().endswith(cls.extensions)

    @abstractmethod
    def extract(self, stream: BinaryIO, filename: str) -> Iterator[TextPiece]:
        """Stream the document's text (or rows) in order."""
