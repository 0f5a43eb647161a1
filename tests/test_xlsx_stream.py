"""The streaming XLSX extractor gives exactly what the openpyxl-based one gave (kept here as
the oracle, ``openpyxl_rows``) on varied workbooks: made by openpyxl's normal and
write-only writers, and hand-written XML for what openpyxl does not write (shared and rich
strings, cached formula values, cells and rows without references, a lying dimension, ISO
date cells, the 1904 calendar). Then corrupt and hostile workbooks.
"""

from __future__ import annotations

import datetime as dt
import io
import traceback
import tracemalloc
import zipfile

import openpyxl
import pytest
from openpyxl.cell.rich_text import CellRichText, TextBlock
from openpyxl.cell.text import InlineFont
from openpyxl.chart import BarChart, Reference

from agent.extraction import Extraction
from agent.extractors import ExtractionError, ExtractLimits
from plugins.extractors import EXTRACTORS
from plugins.extractors._common import render, row_text
from tests.fixtures_docs import EMAIL, PHONE, make_xlsx, replace_part, zip_of

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # openpyxl, the oracle
Row = tuple[str, int | None, tuple[str, ...], str, int]
MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
STRICT = "http://purl.oclc.org/ooxml/spreadsheetml/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


# ------------------------------------------------------------------ the oracle
def openpyxl_rows(data: bytes) -> list[Row]:
    """The extractor as it was: openpyxl read-only, cached values, dimensions reset."""
    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True,
                                  keep_links=False)
    out: list[Row] = []
    for sheet in book.worksheets:
        if not hasattr(sheet, "iter_rows"):
            continue  # a chart sheet
        sheet.reset_dimensions()
        number = 0
        for cells in sheet.iter_rows():
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
                out.append((f"sheet:{sheet.title}", number, tuple(values),
                            row_text(values), 0))
    book.close()
    return out


def stream_rows(data: bytes, limits: ExtractLimits | None = None) -> list[Row]:
    pieces = Extraction(EXTRACTORS, limits).pieces(io.BytesIO(data), "book.xlsx")
    return [(p.where, p.row, tuple(p.cells or ()), p.text, p.offset) for p in pieces]


def same(data: bytes) -> list[Row]:
    expected = openpyxl_rows(data)
    got = stream_rows(data)
    assert got == expected
    return got


def failure(data: bytes, limits: ExtractLimits | None = None) -> str:
    with pytest.raises(ExtractionError) as caught:
        stream_rows(data, limits)
    told = "".join(traceback.format_exception(caught.value))
    for secret in (EMAIL, PHONE, "Jane Doe", "7700900123"):
        assert secret not in told, told
    return str(caught.value)


# ------------------------------------------------------------------ hand-made packages
def package(sheets: list[tuple[str, str]], *, shared: str | None = None,
            styles: str | None = None, workbook_pr: str = "", ns: str = MAIN,
            absolute: bool = False) -> bytes:
    """A minimal workbook: ``sheets`` are (name, worksheet XML body inside <worksheet>)."""
    overrides = ['<Override PartName="/xl/workbook.xml" ContentType="application/vnd.'
                 'openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>']
    rels, entries, parts = [], [], {}
    for n, (name, body) in enumerate(sheets, 1):
        target = f"/xl/worksheets/sheet{n}.xml" if absolute else f"worksheets/sheet{n}.xml"
        rels.append(f'<Relationship Id="rId{n}" Type="{REL}/worksheet" Target="{target}"/>')
        entries.append(f'<sheet name="{name}" sheetId="{n}" r:id="rId{n}"/>')
        overrides.append(f'<Override PartName="/xl/worksheets/sheet{n}.xml" ContentType='
                         '"application/vnd.openxmlformats-officedocument.spreadsheetml.'
                         'worksheet+xml"/>')
        parts[f"xl/worksheets/sheet{n}.xml"] = (
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            f'<worksheet xmlns="{ns}" xmlns:r="{REL}">{body}</worksheet>').encode()
    if shared is not None:
        rels.append(f'<Relationship Id="rIdS" Type="{REL}/sharedStrings" '
                    'Target="sharedStrings.xml"/>')
        overrides.append('<Override PartName="/xl/sharedStrings.xml" ContentType="applicat'
                         'ion/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings'
                         '+xml"/>')
        parts["xl/sharedStrings.xml"] = f'<sst xmlns="{ns}">{shared}</sst>'.encode()
    if styles is not None:
        rels.append(f'<Relationship Id="rIdT" Type="{REL}/styles" Target="styles.xml"/>')
        parts["xl/styles.xml"] = f'<styleSheet xmlns="{ns}">{styles}</styleSheet>'.encode()
    parts["[Content_Types].xml"] = (
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
        + "".join(overrides) + "</Types>").encode()
    parts["_rels/.rels"] = (
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        f'<Relationship Id="rId1" Type="{REL}/officeDocument" Target="xl/workbook.xml"/>'
        '</Relationships>').encode()
    parts["xl/workbook.xml"] = (
        f'<workbook xmlns="{ns}" xmlns:r="{REL}">{workbook_pr}<sheets>{"".join(entries)}'
        '</sheets></workbook>').encode()
    parts["xl/_rels/workbook.xml.rels"] = (
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        + "".join(rels) + "</Relationships>").encode()
    return zip_of(parts)


def data(rows: str) -> str:
    return f"<sheetData>{rows}</sheetData>"


# xf 0 General, 1 mm-dd-yy (14), 2 h:mm:ss (21), 3 [h]:mm:ss (46), 4 custom yyyy-mm-dd,
# 5 custom literal with letters (not a date), 6 custom locale date, 7 m/d/yy h:mm (22),
# 8 custom [hh]:mm duration, 9 a custom id overriding builtin 14 with a number format
STYLES = ('<numFmts count="5"><numFmt numFmtId="164" formatCode="yyyy-mm-dd"/>'
          '<numFmt numFmtId="165" formatCode="&quot;Ref day &quot;0"/>'
          '<numFmt numFmtId="166" formatCode="[$-409]d mmm yyyy;@"/>'
          '<numFmt numFmtId="167" formatCode="[hh]:mm"/>'
          '<numFmt numFmtId="15" formatCode="0.00"/></numFmts>'
          '<cellStyleXfs count="1"><xf numFmtId="14"/></cellStyleXfs>'
          '<cellXfs count="10"><xf numFmtId="0"/><xf numFmtId="14"/><xf numFmtId="21"/>'
          '<xf numFmtId="46"/><xf numFmtId="164"/><xf numFmtId="165"/><xf numFmtId="166"/>'
          '<xf numFmtId="22"/><xf numFmtId="167"/><xf numFmtId="15"/></cellXfs>')

SHARED = ('<si><t>Name</t></si>'
          f'<si><t>{EMAIL}</t></si>'
          '<si><r><t>Jane </t></r><r><rPr><b/></rPr><t xml:space="preserve">Doe </t></r>'
          '</si>'
          '<si><t>東京</t><rPh sb="0" eb="2"><t>トウキョウ</t></rPh>'
          '<phoneticPr fontId="1"/></si>'
          '<si><t>line_x005F_x000D_one</t></si>'
          '<si><t/></si>'
          '<si><t>plain</t><r><t>+run</t></r></si>')


def test_hand_written_cells_of_every_type() -> None:
    rows = data(
        '<row r="1"><c r="A1" t="s"><v>0</v></c><c r="C1" t="s"><v>1</v></c>'
        '<c r="D1" t="s"><v>2</v></c><c r="E1" t="s"><v>3</v></c>'
        '<c r="F1" t="s"><v>4</v></c><c r="G1" t="s"><v>5</v></c>'
        '<c r="H1" t="s"><v>6</v></c><c r="I1" t="s"/></row>'
        '<row r="2"><c r="A2"><v>7700900123</v></c><c r="B2"><v>1.0</v></c>'
        '<c r="C2"><v>1E-3</v></c><c r="D2"><v>1.5E+20</v></c>'
        '<c r="E2"><v>12345678901234567890</v></c><c r="F2"><v>-0</v></c>'
        '<c r="G2"><v>3.14159</v></c><c r="H2"><v>1e16</v></c><c r="I2" t="n"><v>-7</v></c>'
        '<c r="J2"><v>9999999999999998.0</v></c><c r="K2"><v></v></c></row>'
        '<row r="4"><c r="A4" s="1"><v>44000</v></c><c r="B4" s="1"><v>44000.5</v></c>'
        '<c r="C4" s="2"><v>0.25</v></c><c r="D4" s="3"><v>1.5</v></c>'
        '<c r="E4" s="4"><v>30</v></c><c r="F4" s="5"><v>44000</v></c>'
        '<c r="G4" s="6"><v>61</v></c><c r="H4" s="7"><v>44000.75</v></c>'
        '<c r="I4" s="8"><v>0.5000001</v></c><c r="J4" s="9"><v>44000</v></c>'
        '<c r="K4" s="1"><v>3000000000</v></c><c r="L4" s="1"><v>-1</v></c>'
        '<c r="M4" s="2"><v>0.99999999</v></c><c r="N4" s=""><v>5</v></c></row>'
        '<row r="5"><c r="A5" t="b"><v>1</v></c><c r="B5" t="b"><v>0</v></c>'
        '<c r="C5" t="e"><v>#N/A</v></c><c r="D5" t="str"><f>A1&amp;"x"</f><v>Namex</v></c>'
        '<c r="E5"><f>1+1</f><v>2</v></c><c r="F5" t="e"><f>1/0</f><v>#DIV/0!</v></c>'
        '<c r="G5" t="b"><f>TRUE()</f><v>1</v></c><c r="H5"><f>NOW()</f></c>'
        '<c r="I5" t="str"><f>""</f><v></v></c></row>'
        '<row r="6"><c r="A6" t="d"><v>2021-03-04T10:20:30</v></c>'
        '<c r="B6" t="d"><v>2021-03-04</v></c><c r="C6" t="d"><v>10:20:30.5</v></c>'
        '<c r="D6" t="d"><v>2021-03-04T00:00:00Z</v></c><c r="E6" t="d"><v>PT1H30M</v></c>'
        '</row>'
        '<row r="7"><c r="A7" t="inlineStr"><is><t>inline</t></is></c>'
        '<c r="B7" t="inlineStr"><is><r><t>rich </t></r><r><rPr><i/></rPr><t>inline</t>'
        '</r><rPh sb="0" eb="1"><t>x</t></rPh></is></c>'
        '<c r="C7" t="inlineStr"><v>ignored</v></c>'
        '<c r="D7" t="inlineStr"><is><t>a_x005F_b</t></is></c><c r="E7" t="weird"><v>raw</v>'
        '</c><c r="F7" t=""><v>blank type</v></c></row>'
        '<row r="9" spans="1:3"><c r="B9" s="1"/><c r="C9" t="s"><v>5</v></c></row>'
        '<row r="10"/>')
    got = same(package([("Types", rows)], shared=SHARED, styles=STYLES))
    by_row = {row: cells for _, row, cells, _, _ in got}
    assert by_row[1][:4] == ("Name", "", EMAIL, "Jane Doe ")
    assert by_row[1][4] == "東京"  # the phonetic reading is left out
    assert by_row[2][:3] == ("7700900123", "1", "0.001")
    assert by_row[4][:4] == ("2020-06-18", "2020-06-18 12:00:00", "06:00:00",
                             "1 day, 12:00:00")
    assert by_row[5][:6] == ("TRUE", "FALSE", "#N/A", "Namex", "2", "#DIV/0!")
    assert 9 not in by_row and 10 not in by_row


def test_rows_and_cells_without_references_and_gaps() -> None:
    rows = data(
        '<row><c t="inlineStr"><is><t>first</t></is></c><c/><c><v>2</v></c></row>'
        '<row><c><v>1</v></c></row>'
        '<row r="7"><c><v>7</v></c><c r="E7"><v>5</v></c><c><v>6</v></c></row>'
        '<row><c r="C8"><v>3</v></c><c r="A8"><v>1</v></c></row>'  # last cell sizes it
        '<row><c r="B9"><v>2</v></c><c r="B9"><v>22</v></c></row>'  # the later one wins
        '<row r="12"><c r="A12"><v>12</v></c></row>'
        '<row r="11"><c r="A11"><v>11</v></c></row>'  # goes back: openpyxl drops it
        '<row r="12"><c r="A12"><v>120</v></c></row>'
        '<row r="14.0"><c r="A14"><v>14</v></c></row>'
        '<row r="15"><c r="A17"><v>17</v></c><c r="B15"><v>15</v></c></row>'
        '<row r="16"><c r="a16" t="str"><v>lower</v></c></row>'
        '<row r="0"><c><v>0</v></c></row>')
    got = same(package([("Gaps", rows)]))
    assert [r[1] for r in got] == [1, 2, 7, 8, 9, 12, 14, 17, 16]
    assert got[2][2] == ("7", "", "", "", "5", "6")


def test_unusual_but_valid_xml() -> None:
    """Prefixed elements, pretty printing, comments, CDATA, entities; style 0 a date."""
    sheet = (f'<x:worksheet xmlns:x="{MAIN}"><x:sheetData>\n  <x:row r="1">\n'
             '    <x:c r="A1" t="s">\n      <x:v>0</x:v>\n    </x:c>\n'
             '    <!-- a comment --><?pi data?>\n'
             '    <x:c r="B1" t="inlineStr"><x:is><x:t><![CDATA[a <b> & c]]></x:t></x:is>'
             '</x:c>\n    <x:c r="C1" t="str"><x:v>Tom &amp; Jerry &#233;&#x4e2d;</x:v></x:c>\n'
             '    <x:c r="D1"><x:v>44000</x:v></x:c><x:c r="E1" s="1"><x:v>44000</x:v></x:c>'
             '  </x:row>\n</x:sheetData></x:worksheet>').encode()
    styles = '<cellXfs count="2"><xf numFmtId="14"/><xf numFmtId="2"/></cellXfs>'
    book = replace_part(package([("Odd", "")], shared=SHARED, styles=styles),
                        "xl/worksheets/sheet1.xml", sheet)
    (row,) = same(book)
    assert row[2] == ("Name", "a <b> & c", "Tom & Jerry é中", "2020-06-18", "44000")


def test_a_lying_dimension_and_several_sheets_with_an_empty_one() -> None:
    lying = '<dimension ref="A1:B2"/>' + data(
        "".join(f'<row r="{r}"><c r="F{r}"><v>{r}</v></c></row>' for r in range(1, 30)))
    got = same(package([("Lies", lying), ("Empty", "<sheetData/>"), ("None", ""),
                        ("Last", data('<row r="3"><c r="B3"><v>1</v></c></row>'))],
                       absolute=True))
    assert len(got) == 30 and got[-1][0] == "sheet:Last"


def test_the_1904_calendar() -> None:
    rows = data('<row r="1"><c r="A1" s="1"><v>0</v></c><c r="B1" s="1"><v>30</v></c>'
                '<c r="C1" s="1"><v>42540</v></c><c r="D1" s="2"><v>0.5</v></c></row>')
    for flag in ("1", "true", "0", "false"):
        got = same(package([("Mac", rows)], styles=STYLES,
                           workbook_pr=f'<workbookPr date1904="{flag}"/>'))
        assert got[0][2][2] == ("2020-06-20" if flag in ("1", "true") else "2016-06-19")


def test_workbooks_written_by_openpyxl() -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Customers"
    sheet.append(["Name", "Mobile", "Email", "Since", "Rang", "Paid", "Active"])
    sheet.append(["Jane Doe", 7700900123, EMAIL, dt.date(2021, 3, 4),
                  dt.datetime(2021, 3, 4, 9, 30, 15), 12.5, True])
    sheet.append(["John Smith", 1632960123.0, "john@example.com", dt.datetime(2020, 1, 2),
                  dt.time(17, 45), -0.1, False])
    sheet["B7"] = dt.timedelta(hours=30, minutes=5)
    sheet["C7"] = "=B2*2"  # no cached value: nothing
    sheet["D7"] = "#N/A"
    sheet["E7"] = CellRichText("Jane ", TextBlock(InlineFont(b=True), "Doe"))
    sheet["F7"] = "   "
    sheet["G7"] = "x005F_kept_x000D_"
    sheet["Z40"] = 1e-7
    sheet.cell(row=41, column=1).number_format = "yyyy-mm-dd"  # styled, no value
    book.create_sheet("Empty")
    notes = book.create_sheet("Notes")
    notes["B7"] = "Rang back"
    notes["C7"] = 7700900999
    chart = book.create_chartsheet("Chart")
    bar = BarChart()
    bar.add_data(Reference(sheet, min_col=2, min_row=1, max_row=3), titles_from_data=True)
    chart.add_chart(bar)
    book.create_sheet("After")["A1"] = "after the chart"
    book.epoch = openpyxl.utils.datetime.CALENDAR_WINDOWS_1900
    out = io.BytesIO()
    book.save(out)
    got = same(out.getvalue())
    assert [w for w, *_ in got].count("sheet:After") == 1
    jane = ("Jane Doe", "7700900123", EMAIL, "2021-03-04", "2021-03-04 09:30:15", "12.5",
            "TRUE")
    assert got[1][:3] == ("sheet:Customers", 2, jane)
    same(make_xlsx())


def test_a_write_only_workbook_and_iso_dates() -> None:
    for iso in (False, True):
        book = openpyxl.Workbook(write_only=True, iso_dates=iso)
        sheet = book.create_sheet("Stream")
        for n in range(300):
            sheet.append([f"Person {n}", 7700900000 + n, f"p{n}@example.com",
                          dt.date(2020, 1, 1) + dt.timedelta(days=n), n / 7, None, n % 2 == 0])
        sheet.append([])
        sheet.append([None, None, "after a blank row"])
        book.create_sheet("Second").append(["x", dt.datetime(2022, 5, 6, 7, 8, 9)])
        out = io.BytesIO()
        book.save(out)
        got = same(out.getvalue())
        assert len(got) == 302 and got[-2][1] == 302


def test_strict_ooxml_reads_like_transitional() -> None:
    rows = data('<row r="2"><c r="A2" t="s"><v>1</v></c><c r="B2" s="1"><v>44000</v></c>'
                '<c r="C2" t="inlineStr"><is><t>inline</t></is></c></row>')
    transitional = package([("S", rows)], shared=SHARED, styles=STYLES)
    strict = package([("S", rows)], shared=SHARED, styles=STYLES, ns=STRICT)
    assert stream_rows(strict) == same(transitional)


# ------------------------------------------------------------------ memory
def test_memory_stays_flat_on_a_large_sheet() -> None:
    rows = "".join(f'<row r="{r}"><c r="A{r}" t="inlineStr"><is><t>Person {r}</t></is></c>'
                   f'<c r="B{r}"><v>{7700900000 + r}</v></c>'
                   f'<c r="C{r}" t="inlineStr"><is><t>p{r}@example.com</t></is></c></row>'
                   for r in range(1, 10_001))
    book = package([("Big", data(rows))])
    tracemalloc.start()
    try:
        count = sum(1 for _ in Extraction(EXTRACTORS).pieces(io.BytesIO(book), "b.xlsx"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert count == 10_000
    assert peak < 4 * 1024 * 1024, peak  # a tree of the sheet takes ~23 MB


# ------------------------------------------------------------------ corrupt and hostile
GOOD = [("Sheet1", data('<row r="1"><c r="A1" t="s"><v>1</v></c>'
                        '<c r="B1"><v>7700900123</v></c></row>'))]


def test_a_workbook_without_its_workbook_part() -> None:
    assert "no workbook part xl/workbook.xml" in failure(
        zip_of({"xl/worksheets/sheet1.xml": b"<worksheet/>"}))


@pytest.mark.parametrize(("part", "content", "expected"), [
    ("xl/worksheets/sheet1.xml", b"<worksheet><sheetData><row>", "xl/worksheets/sheet1.xml: "
     "not well-formed XML"),
    ("xl/sharedStrings.xml", b'<sst><si><t>jane.doe@example.com</si>',
     "xl/sharedStrings.xml: not well-formed XML"),
    ("xl/workbook.xml", b"<workbook", "xl/workbook.xml: not well-formed XML"),
    ("xl/styles.xml", b"\xff\xfe<", "xl/styles.xml: not well-formed XML"),
    ("xl/_rels/workbook.xml.rels", b"<Relationships xmlns='http://schemas.openxmlformats"
     b".org/package/2006/relationships'/>", "no relationship for sheet 1"),
    ("xl/worksheets/sheet1.xml",
     f'<worksheet xmlns="{MAIN}"><sheetData><row r="3"><c r="A3"><v>Jane Doe</v></c>'
     '</row></sheetData></worksheet>'.encode(), "xl/worksheets/sheet1.xml: row 3: a cell"),
    ("xl/worksheets/sheet1.xml",
     f'<worksheet xmlns="{MAIN}"><sheetData><row r="2"><c r="A2" t="s"><v>99</v></c>'
     '</row></sheetData></worksheet>'.encode(), "row 2: a cell value"),
    ("xl/worksheets/sheet1.xml",
     f'<worksheet xmlns="{MAIN}"><sheetData><row r="2"><c r="2A"><v>1</v></c>'
     '</row></sheetData></worksheet>'.encode(), "row 2: a cell value or reference"),
    ("xl/worksheets/sheet1.xml",
     f'<worksheet xmlns="{MAIN}"><sheetData><row r="x"/></sheetData></worksheet>'.encode(),
     "invalid row number"),
])
def test_corrupt_parts_are_named(part: str, content: bytes, expected: str) -> None:
    book = replace_part(package(GOOD, shared=SHARED, styles=STYLES), part, content)
    assert expected in failure(book)


def test_a_missing_sheet_part_is_named() -> None:
    good = package(GOOD, shared=SHARED)
    parts = {}
    with zipfile.ZipFile(io.BytesIO(good)) as archive:
        for name in archive.namelist():
            if name != "xl/worksheets/sheet1.xml":
                parts[name] = archive.read(name)
    assert "xl/worksheets/sheet1.xml: missing worksheet part" in failure(zip_of(parts))


def test_a_document_type_declaration_is_refused() -> None:
    laughs = ('<?xml version="1.0"?><!-- a comment first -->'
              '<!DOCTYPE sst [<!ENTITY a "jane.doe@example.com"><!ENTITY b "&a;&a;&a;&a;">]>'
              f'<sst xmlns="{MAIN}"><si><t>&b;</t></si></sst>').encode()
    book = replace_part(package(GOOD, shared=SHARED), "xl/sharedStrings.xml", laughs)
    assert "xl/sharedStrings.xml: XML with a document type declaration" in failure(book)
    external = (f'<!DOCTYPE worksheet SYSTEM "file:///etc/passwd"><worksheet xmlns="{MAIN}">'
                '<sheetData/></worksheet>').encode()
    book = replace_part(package(GOOD), "xl/worksheets/sheet1.xml", external)
    assert "document type declaration" in failure(book)


def test_zip_limits_apply_to_the_sheet_parts() -> None:
    book = package([("Big", data("<row><c><v>1</v></c></row>" * 60_000))])  # 1.6 MB
    assert "max_ratio" in failure(book, ExtractLimits(max_ratio=20))
    assert "max_expanded_bytes" in failure(book, ExtractLimits(max_expanded_bytes=100_000,
                                                                    max_ratio=1000))
    assert "not a valid zip archive" in failure(book[:len(book) // 2])
