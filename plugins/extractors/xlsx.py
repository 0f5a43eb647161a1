"""Excel workbooks (xlsx/xlsm), every worksheet, with openpyxl in read-only mode.

``where`` is ``sheet:NAME``; ``row`` the Excel row number; ``cells`` the row's values as
text from column A (integers without ``.0`` so a phone stored as a number reads
``7700900123``; dates as ISO dates; formulas as their last computed value), trailing
empty cells dropped; ``text`` the non-empty cells joined by ", "; ``offset`` 0.
"""

from __future__ import annotations

import warnings
import zipfile
from collections.abc import Iterator
from typing import BinaryIO

import openpyxl

from agent.extraction import seekable as seekable_stream
from agent.extractors import ExtractContext, ExtractionError, Extractor, TextPiece
from plugins.extractors._common import office_sniff, open_zip, render, row_text

# openpyxl warns about features it drops (data validation, conditional formats): noise here.
warnings.filterwarnings("ignore", category=UserWarning, module=r"openpyxl(\.|$)")


class XlsxExtractor(Extractor):
    name = "xlsx"
    extensions = (".xlsx", ".xlsm", ".xltx", ".xltm")
    media_types = ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",)
    tabular = True

    @classmethod
    def sniff(cls, head: bytes, filename: str) -> bool:
        return office_sniff("xlsx", cls.extensions, head, filename)

    def extract(self, stream: BinaryIO, filename: str, context: ExtractContext
                ) -> Iterator[TextPiece]:
        with seekable_stream(stream) as data:
            open_zip(data, context.limits).close()
            data.seek(0)
            try:
                book = openpyxl.load_workbook(data, read_only=True, data_only=True,
                                              keep_links=False)
            except (KeyError, zipfile.BadZipFile, ValueError, TypeError):
                raise ExtractionError("not a valid xlsx workbook (corrupt or missing "
                                      "parts)") from None
            try:
                for sheet in book.worksheets:
                    yield from _sheet_rows(sheet)
            finally:
                book.close()


def _sheet_rows(sheet: object) -> Iterator[TextPiece]:
    if not hasattr(sheet, "iter_rows"):
        return  # a chart sheet
    sheet.reset_dimensions()  # type: ignore[attr-defined]  # stated dimensions may lie
    where = f"sheet:{sheet.title}"  # type: ignore[attr-defined]
    number = 0
    for cells in sheet.iter_rows():  # type: ignore[attr-defined]
        number += 1
        for cell in cells:
            real = getattr(cell, "row", None)
            if real:
                number = real
                break
        values = [render(cell.value) for cell in cells]
        while values and not values[-1]:
            values.pop()
        if values:
            yield TextPiece(row_text(values), where=where, offset=0, row=number,
                            cells=tuple(values))
