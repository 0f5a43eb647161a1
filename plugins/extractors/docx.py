"""Word documents (docx/docm), every part that holds text, read straight from the zip.

Parts, in this order, each its own ``where`` (the part name):

- the main document (``word/document.xml``: body and tables, text boxes, tracked
  insertions, deleted text ``w:delText``, field codes ``w:instrText``), then every other
  part beside it: headers, footers, footnotes, endnotes, comments, the glossary, people;
- the authors of tracked changes and comments (``w:author``), appended to their part's
  text as ``author: NAME`` lines;
- external link targets of the relationship parts (``word/_rels/document.xml.rels``:
  ``mailto:`` and web links), one per line;
- ``docProps/core.xml``, ``app.xml`` and ``custom.xml``: one ``name: value`` line per
  property.

``offset`` is the character offset in the part's extracted text, where every paragraph
ends with a newline, a tab is ``\\t`` and a line break ``\\n``. Pieces are cut at paragraph
ends. XML is read with expat, streaming; a document type declaration is refused.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Iterator
from typing import BinaryIO
from xml.parsers import expat

from agent.extraction import part_error
from agent.extraction import seekable as seekable_stream
from agent.extractors import ExtractContext, ExtractionError, Extractor, TextPiece
from plugins.extractors._common import Counted, office_sniff, open_zip

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_TEXT = {f"{W} t", f"{W} delText", f"{W} instrText", f"{W} delInstrText"}
_BREAKS = {f"{W} tab": "\t", f"{W} br": "\n", f"{W} cr": "\n", f"{W} noBreakHyphen": "-"}
_PARAGRAPH = f"{W} p"
_NOT_TEXT = {"styles.xml", "stylesWithEffects.xml", "settings.xml", "fontTable.xml",
             "webSettings.xml", "numbering.xml"}
_MAIN_TYPE = re.compile(rb'PartName="/([^"]+)"\s+ContentType="[^"]*'
                        rb'(?:wordprocessingml\.document|ms-word\.document)[^"]*main\+xml"')
PIECE_CHARS = 64 * 1024
_FEED = 64 * 1024


class DocxExtractor(Extractor):
    name = "docx"
    extensions = (".docx", ".docm", ".dotx", ".dotm")
    media_types = ("application/vnd.openxmlformats-officedocument.wordprocessingml.document",)

    @classmethod
    def sniff(cls, head: bytes, filename: str) -> bool:
        return office_sniff("docx", cls.extensions, head, filename)

    def extract(self, stream: BinaryIO, filename: str, context: ExtractContext
                ) -> Iterator[TextPiece]:
        with seekable_stream(stream) as data:
            archive = open_zip(data, context.limits)
            with archive:
                for part, kind in _parts(archive):
                    info = archive.getinfo(part)
                    if info.flag_bits & 1:
                        raise part_error(part, "encrypted")
                    with archive.open(info) as raw:
                        counted = Counted(raw, context.count)
                        yield from _read_part(counted, part, kind)


def _parts(archive: object) -> list[tuple[str, str]]:
    """(part name, kind) in reading order; kind is "word", "rels" or "props"."""
    names: list[str] = archive.namelist()  # type: ignore[attr-defined]
    main = _main_part(archive, names)
    folder = posixpath.dirname(main)
    word = [n for n in names if n != main and n.endswith(".xml") and _is_text_part(n, folder)]
    rels = [n for n in names if n.endswith(".rels") and n.startswith(f"{folder}/")]
    props = [n for n in names if n.startswith("docProps/") and n.endswith(".xml")]
    return ([(main, "word")] + [(n, "word") for n in sorted(word)]
            + [(n, "rels") for n in sorted(rels)] + [(n, "props") for n in sorted(props)])


def _main_part(archive: object, names: list[str]) -> str:
    if "[Content_Types].xml" in names:
        with archive.open("[Content_Types].xml") as types:  # type: ignore[attr-defined]
            found = _MAIN_TYPE.search(types.read(1 << 20))
        if found:
            name = found.group(1).decode("utf-8", "replace")
            if name in names:
                return name
    if "word/document.xml" not in names:
        raise ExtractionError("not a Word document (no main document part)")
    return "word/document.xml"


def _is_text_part(name: str, folder: str) -> bool:
    parent, base = posixpath.split(name)
    if parent not in (folder, f"{folder}/glossary"):
        return False
    return base not in _NOT_TEXT


# ---------------------------------------------------------------- one part
class _PartText:
    """Collects a part's text from expat callbacks; full pieces wait in ``ready``."""

    def __init__(self, part: str, kind: str) -> None:
        self.part = part
        self.kind = kind
        self.ready: list[TextPiece] = []
        self._buffer: list[str] = []
        self._size = 0
        self._offset = 0  # of the buffer's start in the part's text
        self._in_text = 0
        self._authors: dict[str, None] = {}
        self._stack: list[str] = []  # props: element local names
        self._property: str | None = None  # props: custom property name
        self._leaf: list[str] = []

    # ---- expat handlers
    def start(self, name: str, attrs: dict[str, str]) -> None:
        if self.kind == "word":
            self._start_word(name, attrs)
        elif self.kind == "rels":
            if attrs.get("TargetMode") == "External" and attrs.get("Target"):
                self._add(attrs["Target"] + "\n")
        else:
            self._stack.append(name.rpartition(" ")[2])
            if "name" in attrs and self._stack[-1] == "property":
                self._property = attrs["name"]
            self._leaf = []

    def _start_word(self, name: str, attrs: dict[str, str]) -> None:
        if name in _TEXT:
            self._in_text += 1
        elif name in _BREAKS:
            self._add(_BREAKS[name])
        for key, value in attrs.items():
            if key.rpartition(" ")[2] == "author" and value:
                self._authors[value] = None

    def end(self, name: str) -> None:
        if self.kind == "word":
            if name in _TEXT:
                self._in_text -= 1
            elif name == _PARAGRAPH:
                self._add("\n")
                if self._size >= PIECE_CHARS:
                    self._flush()
        elif self.kind == "props":
            local = self._stack.pop() if self._stack else ""
            value = "".join(self._leaf).strip()
            if value:
                label = self._property or local
                self._add(f"{label}: {value}\n")
            if local == "property":
                self._property = None
            self._leaf = []

    def data(self, text: str) -> None:
        if self.kind == "word":
            if self._in_text:
                self._add(text)
        elif self.kind == "props":
            self._leaf.append(text)

    # ---- pieces
    def _add(self, text: str) -> None:
        self._buffer.append(text)
        self._size += len(text)

    def _flush(self) -> None:
        text = "".join(self._buffer)
        if text.strip():
            self.ready.append(TextPiece(text, where=self.part, offset=self._offset))
        self._offset += len(text)
        self._buffer, self._size = [], 0

    def finish(self) -> None:
        for author in self._authors:
            self._add(f"author: {author}\n")
        self._flush()


def _read_part(stream: Counted, part: str, kind: str) -> Iterator[TextPiece]:
    collector = _PartText(part, kind)
    parser = _parser(collector, part)
    while True:
        chunk = stream.read(_FEED)
        try:
            parser.Parse(chunk or b"", not chunk)
        except expat.ExpatError as exc:
            raise part_error(part, f"not well-formed XML (line {exc.lineno}, "
                             f"column {exc.offset})") from None
        if not chunk:
            collector.finish()
        yield from collector.ready
        collector.ready.clear()
        if not chunk:
            return


def _parser(collector: _PartText, part: str) -> expat.XMLParserType:
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.buffer_text = True
    parser.StartElementHandler = collector.start
    parser.EndElementHandler = collector.end
    parser.CharacterDataHandler = collector.data
    parser.StartDoctypeDeclHandler = _refuse_doctype(part)
    return parser


def _refuse_doctype(part: str) -> Callable[..., None]:
    def refuse(*_: object) -> None:
        # OOXML never has one; a DTD is how entity-expansion attacks start
        raise part_error(part, "XML with a document type declaration is not accepted")
    return refuse
