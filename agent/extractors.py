"""The Extractor base class: turn a file's bytes into text with positions, or rows.

The file-share and bucket connectors choose an extractor by sniffing content as well as by
extension (``choose``). Extractors are registered as classes (``register(CsvExtractor)``)
and instantiated once; ``extract`` must be safe to call from several threads.

Limits are the caller's: an extractor reads through ``context`` (which counts bytes and
enforces the per-file deadline) and hands nested members (an attachment, a zip entry) back
to ``context.nested`` so archive limits and recursion depth are enforced in one place.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO, ClassVar, Protocol

from agent.errors import DsrError

HEAD_BYTES = 8192  # what sniffing sees of a file


class ExtractionError(DsrError):
    """A file could not be read as its format (corrupt, encrypted, over a limit): the
    message names the part and the reason, never content."""


@dataclass
class TextPiece:
    """Text from one place in a document.

    ``where`` names the part (``word/document.xml``, ``sheet:Customers``,
    ``attachment:quote.docx/word/document.xml``, ``page:3``); ``offset`` is the character
    offset of ``text`` within that part; ``row`` is the 1-based row number for tabular
    formats (the header is row 1 in CSV/XLSX; JSONL counts lines), with ``cells`` holding
    the row's values as text.
    """

    text: str
    where: str = ""
    offset: int = 0
    row: int | None = None
    cells: Sequence[str] | None = None


@dataclass(frozen=True)
class ExtractLimits:
    max_depth: int = 4  # archives and attachments inside one another
    max_members: int = 10_000  # entries of one archive
    max_expanded_bytes: int = 2 * 1024**3  # all decompressed bytes of one file
    max_ratio: int = 200  # decompressed / compressed size of a member: a zip bomb
    max_seconds: float = 120.0  # per top-level file
    max_text_chars: int = 2_000_000_000  # text taken from one file (streamed: a safety cap)


class ExtractContext(Protocol):
    """What the caller gives an extractor (see the module docstring)."""

    limits: ExtractLimits
    depth: int

    def nested(self, stream: BinaryIO, filename: str, where: str) -> Iterator[TextPiece]:
        """Extract a member (zip entry, attachment) with the extractor its content asks
        for; raises ExtractionError when a limit is passed."""
        ...

    def count(self, nbytes: int) -> None:
        """Account decompressed bytes; raises ExtractionError past the limits/deadline."""
        ...


@dataclass
class Extractor(ABC):
    name: ClassVar[str] = ""
    extensions: ClassVar[tuple[str, ...]] = ()
    media_types: ClassVar[tuple[str, ...]] = ()
    tabular: ClassVar[bool] = False  # yields rows (with ``row`` and ``cells``)
    notes: dict[str, str] = field(default_factory=dict)

    @classmethod
    def sniff(cls, head: bytes, filename: str) -> bool:
        """Whether this extractor reads a file starting with ``head`` (content first; the
        extension decides only when the content says nothing)."""
        return filename.lower().endswith(cls.extensions)

    @abstractmethod
    def extract(self, stream: BinaryIO, filename: str, context: ExtractContext
                ) -> Iterator[TextPiece]:
        """Stream the document's text (or rows) in order; never load a huge file whole."""


def choose(extractors: Sequence[Extractor], head: bytes, filename: str) -> Extractor | None:
    """The first extractor whose ``sniff`` accepts the file, in registration order (the
    specific formats register before the plain-text fallback)."""
    for extractor in extractors:
        if extractor.sniff(head, filename):
            return extractor
    return None
