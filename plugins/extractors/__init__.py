"""The built-in extractors, one module per format (see each module for what its pieces
hold in ``where``, ``offset``, ``row`` and ``cells``).

Registration order is sniffing order (``agent.extractors.choose`` takes the first that
accepts a file): signatures first (PDF, Parquet, then the zip family — Word and Excel
before plain zip — and gzip), then e-mail headers, JSON Lines before JSON, SQL dumps (by
.sql or a dump's head: before CSV and text, which would read them as records or prose),
CSV/TSV by extension, and plain text last, as the fallback for anything that reads as text.
"""

from __future__ import annotations

from agent.hookspecs import Register, hookimpl
from plugins.extractors.archives import GzipExtractor, ZipExtractor
from plugins.extractors.delimited import DelimitedExtractor
from plugins.extractors.docx import DocxExtractor
from plugins.extractors.eml import EmlExtractor
from plugins.extractors.jsondoc import JsonExtractor, JsonLinesExtractor
from plugins.extractors.parquet import ParquetExtractor
from plugins.extractors.pdf import PdfExtractor
from plugins.extractors.sqldump import SqlDumpExtractor
from plugins.extractors.text import TextExtractor
from plugins.extractors.xlsx import XlsxExtractor

EXTRACTORS = (PdfExtractor, ParquetExtractor, DocxExtractor, XlsxExtractor, ZipExtractor,
              GzipExtractor, EmlExtractor, JsonLinesExtractor, JsonExtractor, SqlDumpExtractor,
              DelimitedExtractor, TextExtractor)


@hookimpl
def register_extractors(register: Register) -> None:
    for extractor in EXTRACTORS:
        register(extractor)
