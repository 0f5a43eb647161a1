"""The document extractors and the extraction runner, on real files made by the libraries
(see tests/fixtures_docs.py): text with positions, rows with row numbers, every part of a
docx, pages of a PDF, an e-mail's headers, bodies and attachments, archives, sniffing by
content, limits (zip bombs, nesting, size, time) and corrupt files.
"""

from __future__ import annotations

import gzip
import io
import threading
import time
import traceback
from collections.abc import Iterable, Iterator
from typing import BinaryIO

import docx
import pytest

from agent.extraction import Extraction, UnsupportedFormat
from agent.extractors import ExtractContext, ExtractionError, ExtractLimits, Extractor, TextPiece
from agent.identifiers import try_normalise
from agent.plugins import DEFAULT_PLUGINS, PluginManager
from agent.textscan import build_index
from plugins.extractors import EXTRACTORS, jsondoc
from tests.fixtures_docs import (
    EMAIL,
    PHONE,
    gzip_bomb,
    make_csv,
    make_docx,
    make_eml,
    make_pdf,
    make_xlsx,
    nested_zips,
    replace_part,
    zip_bomb,
    zip_of,
)

EXTRACTION = Extraction(EXTRACTORS)


class NoSeek(io.RawIOBase):
    """A stream that cannot rewind (an S3 body, a socket), optionally slow."""

    def __init__(self, data: bytes, delay: float = 0.0) -> None:
        self._data = io.BytesIO(data)
        self._delay = delay

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._delay:
            time.sleep(self._delay)
        chunk = self._data.read(min(len(buffer), 1000))
        buffer[:len(chunk)] = chunk
        return len(chunk)


def extract(data: bytes, name: str, limits: ExtractLimits | None = None, *,
            seekable: bool = True, skipped: list[str] | None = None) -> list[TextPiece]:
    extraction = Extraction(EXTRACTORS, limits) if limits else EXTRACTION
    stream = io.BytesIO(data) if seekable else NoSeek(data)
    return list(extraction.pieces(stream, name, skipped=skipped))  # type: ignore[arg-type]


def by_where(pieces: Iterable[TextPiece]) -> dict[str, str]:
    out: dict[str, str] = {}
    for piece in pieces:
        out[piece.where] = out.get(piece.where, "") + piece.text
    return out


def failure(data: bytes, name: str, limits: ExtractLimits | None = None,
            **kwargs: object) -> ExtractionError:
    with pytest.raises(ExtractionError) as caught:
        extract(data, name, limits, **kwargs)  # type: ignore[arg-type]
    exc = caught.value
    told = "".join(traceback.format_exception(exc))
    for secret in (EMAIL, PHONE, "Jane Doe", "07700900123"):
        assert secret not in told, f"content in the error or its traceback: {told}"
    assert exc.__cause__ is None
    return exc


# ------------------------------------------------------------------ the plugin
def test_the_plugin_registers_every_extractor_specific_formats_first() -> None:
    assert "plugins.extractors" in DEFAULT_PLUGINS
    manager = PluginManager().load(builtins=("plugins.extractors",), use_entry_points=False)
    names = [r.name for r in manager.registry.all("extractors")]
    assert names == [e.name for e in EXTRACTORS]
    assert names[-1] == "text" and names.index("docx") < names.index("zip")
    assert names.index("jsonl") < names.index("json") < names.index("delimited")
    tabular = {e.name for e in EXTRACTORS if e.tabular}
    assert tabular >= {"delimited", "xlsx", "jsonl", "parquet"}
    assert not tabular & {"text", "pdf", "docx", "eml", "json", "zip", "gzip"}


class VcardExtractor(Extractor):
    """A plugin's extractor for a text-based format, registered after the built-ins."""

    name = "vcard"
    extensions = (".vcf",)

    @classmethod
    def sniff(cls, head: bytes, filename: str) -> bool:
        return head.startswith(b"BEGIN:VCARD")

    def extract(self, stream: BinaryIO, filename: str, context: ExtractContext
                ) -> Iterator[TextPiece]:
        yield TextPiece(stream.read().decode(), where="vcard")


def test_a_plugin_extractor_for_a_text_format_is_tried_before_the_text_fallback() -> None:
    extraction = Extraction([*EXTRACTORS, VcardExtractor])
    card = f"BEGIN:VCARD\nEMAIL:{EMAIL}\nEND:VCARD\n".encode()
    (piece,) = extraction.pieces(io.BytesIO(card), "jane.vcf")
    assert piece.where == "vcard" and EMAIL in piece.text
    assert [e.name for e in extraction.extractors][-1] == "text"


# ------------------------------------------------------------------ text
def test_text_is_streamed_in_pieces_cut_at_line_ends_with_offsets() -> None:
    line = "call notes for a customer, nothing personal here at all\n"
    text = line * 40_000 + f"Jane rang from {PHONE} about {EMAIL}\n" + line * 10
    pieces = extract(text.encode(), "calls.log")
    assert len(pieces) >= 2
    assert "".join(p.text for p in pieces) == text
    running = 0
    for piece in pieces:
        assert piece.offset == running and piece.where == "" and piece.row is None
        assert piece.text.endswith("\n")
        running += len(piece.text)
    hit = next(p for p in pieces if EMAIL in p.text)
    assert text[hit.offset + hit.text.index(EMAIL):].startswith(EMAIL)


@pytest.mark.parametrize(("data", "expected"), [
    ("Jane Doe £5 café jane.doe@example.com".encode("utf-16"), "£5 café"),
    ("Jane Doe £5 café jane.doe@example.com".encode("utf-16-le"), "£5 café"),
    ("\ufeffJane Doe £5 café jane.doe@example.com".encode(), "£5 café"),
    ("Jane Doe £5 café jane.doe@example.com".encode("cp1252"), "£5 café"),
    ("Jane Doe “quoted” jane.doe@example.com".encode("cp1252"), "“quoted”"),
    # UTF-8 with a stray Windows-1252 byte: each part read as what it is
    ("Jane Doe £5 ".encode() + "café".encode("cp1252") + b" jane.doe@example.com", "£5 café"),
])
def test_text_encodings(data: bytes, expected: str) -> None:
    (piece,) = extract(data, "note.txt")
    assert expected in piece.text and EMAIL in piece.text
    assert piece.text.startswith("Jane Doe") and piece.offset == 0


def test_binary_top_level_file_is_unsupported_and_says_what_it_looks_like() -> None:
    exc = failure(b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "photo.png")
    assert isinstance(exc, UnsupportedFormat) and "png" in str(exc)
    assert extract(b"", "empty.docx") == []  # empty: nothing to read, whatever the name


# ------------------------------------------------------------------ tabular
def test_csv_rows_are_record_numbers_across_quoted_newlines() -> None:
    data = make_csv()
    pieces = extract(data, "list.csv")
    rows = {p.row: p for p in pieces}
    assert sorted(rows) == [1, 2, 3, 4, 5]
    assert rows[1].cells == ("name", "email", "notes")
    jane = rows[3]
    assert jane.cells == ("Jane Doe", EMAIL, "rang twice\r\nsecond line")
    assert EMAIL in jane.text and jane.where == ""
    assert data.decode()[jane.offset:].startswith("Jane Doe")
    assert rows[4].cells[0] == "Ann, Other"
    assert rows[5].cells[2] == "07700 900999"
    assert data.decode()[rows[5].offset:].startswith("Last Person")


def test_tsv_and_semicolon_files() -> None:
    tsv = extract(b"name\temail\nJane Doe\tjane.doe@example.com\n", "x.tsv")
    assert tsv[1].cells == ("Jane Doe", EMAIL) and tsv[1].row == 2
    semi = extract(b"name;email\nJane Doe;jane.doe@example.com\n", "x.csv")
    assert semi[1].cells == ("Jane Doe", EMAIL)
    # Excel's "Unicode text" export: UTF-16 with a BOM; and UTF-8 with a BOM
    utf16 = extract("name\temail\r\nJane Doe\tjane.doe@example.com\r\n".encode("utf-16"),
                    "export.tsv")
    assert utf16[0].cells == ("name", "email") and utf16[1].cells == ("Jane Doe", EMAIL)
    bom = extract("\ufeffname,email\nJané Doe,jane.doe@example.com\n".encode(), "x.csv")
    assert bom[0].cells == ("name", "email") and bom[1].cells == ("Jané Doe", EMAIL)


def test_xlsx_every_sheet_with_excel_row_numbers_and_numbers_as_typed() -> None:
    pieces = extract(make_xlsx(), "customers.xlsx")
    jane = next(p for p in pieces if EMAIL in p.text)
    assert (jane.where, jane.row) == ("sheet:Customers", 3)
    assert jane.cells == ("Jane Doe", "7700900123", EMAIL, "2021-03-04")
    assert pieces[0].row == 1 and pieces[0].cells[0] == "Name"
    note = next(p for p in pieces if p.where == "sheet:Notes")
    assert note.row == 7 and note.cells == ("", "Rang back", "1632960123", "12.5")
    # the phone stored as a number is found by the core's text scanner
    phone = try_normalise("phone", PHONE)
    assert phone
    index = build_index([("phone", phone, "S1")])
    assert index.scan(jane.text)


def test_jsonl_rows_are_line_numbers_and_json_leaves_have_paths() -> None:
    data = (b'{"name": "John Smith", "email": "john@example.com"}\n\n'
            b'{"name": "Jane Doe", "contact": {"email": "jane.doe@example.com", '
            b'"mobile": 7700900123}}\nnot json at all\n')
    rows = extract(data, "events.jsonl")
    assert [p.row for p in rows] == [1, 3, 4]
    assert rows[1].cells == ("Jane Doe", EMAIL, "7700900123")
    assert data.decode()[rows[1].offset:].startswith('{"name": "Jane Doe"')
    assert rows[2].cells == ("not json at all",)

    document = (b'{"customers": [{"name": "John"}, {"name": "Jane Doe", "email": '
                b'"jane.doe@example.com", "phone": 7700900123, "ok": true}], '
                b'"by email": {"jane.doe@example.com": 3}}')
    leaves = {p.where: p.text for p in extract(document, "export.json")}
    assert leaves["$.customers[1].email"] == EMAIL
    assert leaves["$.customers[1].phone"] == "7700900123"
    assert leaves['$["by email"]["jane.doe@example.com"]#key'] == EMAIL
    assert "$.customers[1].ok" not in leaves


def test_a_json_document_over_the_parse_cap_is_searched_as_text(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jsondoc, "MAX_JSON_BYTES", 1000)
    data = b'{"notes": "' + b"x" * 2000 + b'", "email": "jane.doe@example.com"}'
    pieces = extract(data, "big.json")
    assert [p.where for p in pieces] == [""] and EMAIL in pieces[0].text
    assert pieces[0].text == data.decode()


# ------------------------------------------------------------------ documents
def test_docx_every_part_named_with_positions() -> None:
    pieces = extract(make_docx(), "quote.docx")
    parts = by_where(pieces)
    body = parts["word/document.xml"]
    assert "Quote for Jane Doe" in body and EMAIL in body  # paragraph and table
    assert "jane.doe@example.co.uk" in body  # tracked insertion
    assert "Old mobile 07700 900789" in body  # deleted text (w:delText)
    assert "author: Jane Doe" in body and "author: B. Editor" in body
    assert EMAIL in parts["word/header1.xml"]
    assert "01632 960001" in parts["word/footer1.xml"]
    assert PHONE in parts["word/comments.xml"] and "author: A. Clerk" in parts[
        "word/comments.xml"]
    assert "CAN-000123" in parts["word/footnotes.xml"]
    assert "mailto:jane.doe@example.com" in parts["word/_rels/document.xml.rels"]
    assert "creator: Jane Doe" in parts["docProps/core.xml"]
    assert "title: Quote Q-1001" in parts["docProps/core.xml"]
    assert "Client phone: 07700 900456" in parts["docProps/custom.xml"]
    assert not any(p.startswith(("word/styles", "word/settings", "word/theme"))
                   for p in parts)
    first = next(p for p in pieces if p.where == "word/document.xml")
    assert first.offset == 0
    assert first.text.index("Quote for") > first.text.index("Old mobile")  # order kept


def test_a_long_docx_part_comes_in_pieces_with_running_offsets() -> None:
    document = docx.Document()
    for n in range(3000):
        document.add_paragraph(f"Paragraph {n} of a long tender document, no one named.")
    document.add_paragraph(f"Contact {EMAIL}")
    out = io.BytesIO()
    document.save(out)
    pieces = [p for p in extract(out.getvalue(), "tender.docx")
              if p.where == "word/document.xml"]
    assert len(pieces) >= 2
    running = 0
    for piece in pieces:
        assert piece.offset == running and piece.text.endswith("\n")
        running += len(piece.text)
    assert EMAIL in pieces[-1].text


def test_pdf_pages_and_unreadable_pdfs() -> None:
    pieces = extract(make_pdf(["Tender summary", f"Contact {EMAIL} or {PHONE}"]), "t.pdf")
    assert [p.where for p in pieces] == ["page:1", "page:2"]
    assert EMAIL in pieces[1].text and PHONE in pieces[1].text
    # an owner password alone (no user password) still opens
    owner_only = extract(make_pdf([f"Owner only {EMAIL}"], user_password=""), "o.pdf")
    assert EMAIL in owner_only[0].text
    exc = failure(make_pdf([f"Secret {EMAIL}"], user_password="user-secret"), "c.pdf")
    assert "encrypted" in str(exc)
    good = make_pdf([f"Contact {EMAIL}"])
    assert "not a readable PDF" in str(failure(good[:200], "t.pdf"))


def test_eml_headers_bodies_and_attachments_through_nested() -> None:
    data = make_eml({"quote.docx": make_docx(), "list.csv": make_csv()})
    pieces = extract(data, "request.eml")
    parts = by_where(pieces)
    assert parts["header:From"] == f"Jane Doe <{EMAIL}>"
    assert parts["header:Reply-To"] == "jane.private@example.com"
    assert "bob.other@example.com" in parts["header:Cc"]
    assert "sales@example.co.uk" in parts["header:To"]
    assert parts["header:Subject"] == "Quote request from Jane Doe"
    assert PHONE in parts["body:1"]
    html = parts["body:2"]
    assert "tel:+447700900123" in html and "color" not in html and "var x" not in html
    assert EMAIL in parts["attachment:quote.docx/word/document.xml"]
    assert "Client phone" in parts["attachment:quote.docx/docProps/custom.xml"]
    jane = next(p for p in pieces if p.where == "attachment:list.csv" and p.row == 3)
    assert jane.cells and jane.cells[1] == EMAIL


def test_an_attached_message_is_read_as_a_message() -> None:
    from email import message_from_bytes, policy

    inner = message_from_bytes(make_eml({}, html=False), policy=policy.default)
    outer = message_from_bytes(make_eml({}, html=False), policy=policy.default)
    outer.add_attachment(inner)  # type: ignore[attr-defined]
    parts = by_where(extract(outer.as_bytes(), "fwd.eml"))
    forwarded = [w for w in parts if w.endswith("/header:From")]
    assert forwarded and forwarded[0].startswith("attachment:")
    assert EMAIL in parts[forwarded[0]]


# ------------------------------------------------------------------ archives
def test_zip_and_gzip_members_through_nested() -> None:
    inner = zip_of({"b.docx": make_docx()})
    archive = zip_of({"folder/a.csv": make_csv(), "notes/call.txt": f"rang {PHONE}\n".encode(),
                      "logo.png": b"\x89PNG\r\n\x1a\n" + bytes(64), "inner.zip": inner,
                      "../evil/x.txt": b"jane.doe@example.com"})
    skipped: list[str] = []
    pieces = extract(archive, "share.zip", skipped=skipped)
    rows = [p for p in pieces if p.where == "zip:folder/a.csv"]
    assert [p.row for p in rows] == [1, 2, 3, 4, 5] and rows[2].cells[1] == EMAIL
    parts = by_where(pieces)
    assert PHONE in parts["zip:notes/call.txt"]
    assert EMAIL in parts["zip:inner.zip/zip:b.docx/word/document.xml"]
    assert "zip:evil/x.txt" in parts
    assert skipped == ["zip:logo.png: no extractor (png)"]

    gz = extract(gzip.compress(make_csv()), "list.csv.gz")
    assert {p.where for p in gz} == {"gz:list.csv"} and gz[2].row == 3


@pytest.mark.parametrize(("name", "make", "expected"), [
    ("quote.bin", make_docx, "word/document.xml"),
    ("export.dat", make_xlsx, "sheet:Customers"),
    ("scan", lambda: make_pdf([EMAIL]), "page:1"),
    ("message.txt", lambda: make_eml({}), "header:From"),
    ("data", lambda: b'  {"email": "jane.doe@example.com"}', "$.email"),
    ("events.log", lambda: b'{"e": "jane.doe@example.com"}\n{"e": 1}\n', ""),
    ("archive", lambda: gzip.compress(f"{EMAIL}\n".encode()), "gz:archive"),
    ("list.csv", make_csv, ""),
    ("q.docx.zip", lambda: zip_of({"q.docx": make_docx()}), "zip:q.docx/word/document.xml"),
])
def test_formats_are_sniffed_by_content(name: str, make: object, expected: str) -> None:
    pieces = extract(make(), name)  # type: ignore[operator]
    assert any(p.where == expected and EMAIL in p.text for p in pieces), by_where(pieces)


@pytest.mark.parametrize(("name", "make"), [
    ("q.docx", make_docx), ("c.xlsx", make_xlsx), ("t.pdf", lambda: make_pdf([EMAIL])),
    ("m.eml", lambda: make_eml({"quote.docx": make_docx()})),
    ("a.zip", lambda: zip_of({"a.csv": make_csv()})), ("list.csv", make_csv),
])
def test_a_stream_that_cannot_seek_gives_the_same_pieces(name: str, make: object) -> None:
    data = make()  # type: ignore[operator]
    assert extract(data, name, seekable=False) == extract(data, name)


# ------------------------------------------------------------------ limits
def test_a_zip_bomb_is_refused_before_inflating() -> None:
    exc = failure(zip_bomb(20), "backup.zip")
    assert str(exc).startswith("zip:bomb.txt: compression ratio")
    assert "max_ratio" in str(exc)
    # the same bomb attached to a message is named through the attachment
    exc = failure(make_eml({"backup.zip": zip_bomb(20)}), "m.eml")
    assert str(exc).startswith("attachment:backup.zip/zip:bomb.txt:")


def test_a_gzip_bomb_stops_while_it_expands() -> None:
    started = time.monotonic()
    exc = failure(gzip_bomb(20), "data.txt.gz")
    assert "max_ratio" in str(exc) and str(exc).startswith("gz:data.txt")
    assert time.monotonic() - started < 5


def test_nesting_deeper_than_the_limit() -> None:
    at_limit = extract(nested_zips(4, make_csv()), "deep.zip")
    assert any(p.where == "zip:level-1.zip/zip:level-2.zip/zip:level-3.zip/zip:a.csv"
               and p.row == 3 for p in at_limit)
    exc = failure(nested_zips(5, make_csv()), "deeper.zip")
    assert "max_depth" in str(exc) and "zip:level-4.zip/zip:a.csv" in str(exc)
    exc = failure(nested_zips(3, make_csv()), "deep.zip", ExtractLimits(max_depth=2))
    assert "nested deeper than 2 (max_depth)" in str(exc)


@pytest.mark.parametrize(("limits", "data", "name", "limit"), [
    (ExtractLimits(max_members=2), zip_of({"a.txt": b"a", "b.txt": b"b", "c.txt": b"c"}),
     "x.zip", "max_members"),
    (ExtractLimits(max_expanded_bytes=4000), zip_of({"a.txt": b"jane " * 2000}), "x.zip",
     "max_expanded_bytes"),
    (ExtractLimits(max_text_chars=100), ("Jane Doe " * 50).encode(), "a.txt",
     "max_text_chars"),
    (ExtractLimits(max_text_chars=10), make_csv(), "list.csv", "max_text_chars"),
])
def test_limits_are_named_when_passed(limits: ExtractLimits, data: bytes, name: str,
                                      limit: str) -> None:
    assert f"({limit})" in str(failure(data, name, limits))


def test_the_per_file_deadline() -> None:
    slow = Extraction(EXTRACTORS, ExtractLimits(max_seconds=0.05))
    with pytest.raises(ExtractionError, match=r"max_seconds"):
        list(slow.pieces(NoSeek(b"line\n" * 2000, delay=0.01), "a.txt"))  # type: ignore[arg-type]


# ------------------------------------------------------------------ corrupt files
def _broken_docx() -> bytes:
    xml = (b'<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/'
           b'wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>jane.doe@example.com</w:t>'
           b'</w:r></w:p><w:p></w:body>')
    return replace_part(make_docx(), "word/document.xml", xml)


def _laughs_docx() -> bytes:
    xml = (b'<?xml version="1.0"?><!DOCTYPE lol [<!ENTITY lol "lol">'
           b'<!ENTITY lol2 "&lol;&lol;&lol;">]><w:document xmlns:w="http://schemas.'
           b'openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>&lol2;'
           b'</w:t></w:r></w:p></w:body></w:document>')
    return replace_part(make_docx(), "word/document.xml", xml)


CORRUPT = [
    ("truncated docx", "q.docx", lambda: make_docx()[:5000], "not a valid zip archive"),
    ("broken docx XML", "q.docx", _broken_docx,
     "word/document.xml: not well-formed XML (line 1"),
    ("docx with a DTD", "q.docx", _laughs_docx,
     "word/document.xml: XML with a document type declaration"),
    ("zip member with broken XML", "a.zip", lambda: zip_of({"q.docx": _broken_docx()}),
     "zip:q.docx/word/document.xml: not well-formed XML"),
    ("not a zip named docx", "q.docx", lambda: b"Jane Doe jane.doe@example.com " * 20,
     "not a valid zip archive"),
    ("truncated xlsx", "c.xlsx", lambda: make_xlsx()[:3000], "not a valid zip archive"),
    ("xlsx without a workbook", "c.xlsx",
     lambda: zip_of({"xl/worksheets/sheet1.xml": b"<worksheet/>"}), "xlsx"),
    ("truncated pdf", "t.pdf", lambda: make_pdf([EMAIL])[:400], "not a readable PDF"),
    ("garbage pdf", "t.pdf", lambda: b"%PDF-1.7\n" + b"jane.doe@example.com " * 50,
     "not a readable PDF"),
    ("truncated gzip", "list.csv.gz", lambda: gzip.compress(make_csv() * 50)[:-12],
     "gz:list.csv: "),
    ("gzip with a bad header", "list.gz", lambda: b"\x1f\x8b\x09" + bytes(40),
     "not a valid gzip stream"),
    ("invalid json", "x.json", lambda: b'{"email": "jane.doe@example.com", oops}',
     "not valid JSON (line 1)"),
    ("corrupt attachment", "m.eml", lambda: make_eml({"quote.docx": make_docx()[:3000]}),
     "attachment:quote.docx: not a valid zip archive"),
]


@pytest.mark.parametrize(("name", "make", "expected"),
                         [c[1:] for c in CORRUPT], ids=[c[0] for c in CORRUPT])
def test_corrupt_files_name_the_part_and_never_the_content(name: str, make: object,
                                                          expected: str) -> None:
    exc = failure(make(), name)  # type: ignore[operator]
    assert expected in str(exc), str(exc)


# ------------------------------------------------------------------ threads
def test_extraction_is_safe_from_several_threads() -> None:
    files = [("t.pdf", make_pdf([f"Contact {EMAIL}"] * 3)), ("q.docx", make_docx()),
             ("c.xlsx", make_xlsx()), ("m.eml", make_eml({"list.csv": make_csv()}))]
    expected = {name: extract(data, name) for name, data in files}
    results: list[bool] = []

    def work(name: str, data: bytes) -> None:
        for _ in range(3):
            results.append(extract(data, name) == expected[name])

    threads = [threading.Thread(target=work, args=f) for f in files * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results and all(results)
