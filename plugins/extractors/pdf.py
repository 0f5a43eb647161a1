"""PDF, page by page, with pypdfium2 (PDFium).

``where`` is ``page:N`` (from 1); ``offset`` the character offset in that page's text.
An encrypted PDF that needs a password, or one PDFium cannot load, is an
``ExtractionError``; a page that fails names the page. PDFium is not thread-safe: every
call into it holds one lock, released between pages.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import BinaryIO

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from agent.extraction import part_error
from agent.extraction import seekable as seekable_stream
from agent.extractors import ExtractContext, ExtractionError, Extractor, TextPiece
from plugins.extractors._common import known_binary

_PDFIUM = threading.Lock()
_LOAD_ERRORS = {
    pdfium_c.FPDF_ERR_PASSWORD: "encrypted PDF (a password is needed)",
    pdfium_c.FPDF_ERR_SECURITY: "encrypted PDF (unsupported security handler)",
    pdfium_c.FPDF_ERR_FORMAT: "not a readable PDF (corrupt or truncated)",
    pdfium_c.FPDF_ERR_FILE: "not a readable PDF (cannot be read or is empty)",
}


class PdfExtractor(Extractor):
    name = "pdf"
    extensions = (".pdf",)
    media_types = ("application/pdf",)

    @classmethod
    def sniff(cls, head: bytes, filename: str) -> bool:
        if b"%PDF-" in head[:1024]:
            return True
        return filename.lower().endswith(cls.extensions) and not known_binary(head)

    def extract(self, stream: BinaryIO, filename: str, context: ExtractContext
                ) -> Iterator[TextPiece]:
        with seekable_stream(stream) as data:
            document = _open(data)
            try:
                with _PDFIUM:
                    pages = len(document)
                for index in range(pages):
                    text = _page_text(document, index)
                    if text.strip():
                        yield TextPiece(text, where=f"page:{index + 1}", offset=0)
            finally:
                with _PDFIUM:
                    document.close()


def _open(data: BinaryIO) -> pdfium.PdfDocument:
    with _PDFIUM:
        try:
            return pdfium.PdfDocument(data)
        except pdfium.PdfiumError as exc:
            reason = _LOAD_ERRORS.get(getattr(exc, "err_code", None),
                                      "not a readable PDF")
            raise ExtractionError(reason) from None


def _page_text(document: pdfium.PdfDocument, index: int) -> str:
    with _PDFIUM:
        try:
            page = document[index]
            try:
                textpage = page.get_textpage()
                try:
                    return str(textpage.get_text_range())
                finally:
                    textpage.close()
            finally:
                page.close()
        except pdfium.PdfiumError:
            raise part_error(f"page:{index + 1}", "unreadable page") from None
