"""Real documents for the extractor tests, made with the libraries users' files come from
(python-docx, openpyxl, fpdf2, the standard library's email, zipfile and gzip).

Made-up people only: Jane Doe, jane.doe@example.com, 07700 900123 and friends.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import zipfile
from email.message import EmailMessage

import docx
import openpyxl
from fpdf import FPDF

EMAIL = "jane.doe@example.com"
PHONE = "07700 900123"

W_NS = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
TRACKED = (
    '<w:p><w:ins w:id="901" w:author="Jane Doe" w:date="2026-11-01T09:00:00Z">'
    '<w:r><w:t xml:space="preserve">New address jane.doe@example.co.uk</w:t></w:r></w:ins>'
    '<w:del w:id="902" w:author="B. Editor" w:date="2026-11-01T09:05:00Z">'
    '<w:r><w:delText xml:space="preserve">Old mobile 07700 900789</w:delText></w:r></w:del>'
    '</w:p>')
FOOTNOTES = (
    f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:footnotes {W_NS}>'
    '<w:footnote w:id="1"><w:p><w:r><w:t>Account CAN-000123 per footnote</w:t></w:r></w:p>'
    '</w:footnote></w:footnotes>')
CUSTOM = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/custom-properties"'
    ' xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes">'
    '<property fmtid="{D5CDD505-2E9C-101B-9397-08002B2CF9AE}" pid="2" name="Client phone">'
    '<vt:lpwstr>07700 900456</vt:lpwstr></property></Properties>')
HYPERLINK_REL = ('<Relationship Id="rId99" Type="http://schemas.openxmlformats.org/'
                 'officeDocument/2006/relationships/hyperlink" '
                 'Target="mailto:jane.doe@example.com" TargetMode="External"/>')


def make_docx() -> bytes:
    """Body, a table, a header, a footer, a comment and core properties from python-docx;
    tracked changes, a footnote, a custom property and a mailto link added as XML."""
    document = docx.Document()
    paragraph = document.add_paragraph("Quote for Jane Doe, sole trader.")
    document.add_comment(paragraph.runs, text=f"Call {PHONE} before sending",
                         author="A. Clerk", initials="AC")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text = "Email"
    table.cell(0, 1).text = EMAIL
    table.cell(1, 0).text = "Postcode"
    table.cell(1, 1).text = "SW1A 1AA"
    section = document.sections[0]
    section.header.paragraphs[0].text = "Prepared for jane.doe@example.com"
    section.footer.paragraphs[0].text = "Switchboard 01632 960001"
    document.core_properties.author = "Jane Doe"
    document.core_properties.title = "Quote Q-1001"
    out = io.BytesIO()
    document.save(out)
    return _add_word_parts(out.getvalue())


def _add_word_parts(data: bytes) -> bytes:
    parts = _zip_parts(data)
    body = parts["word/document.xml"].decode()
    at = body.index("<w:body>") + len("<w:body>")
    parts["word/document.xml"] = (body[:at] + TRACKED + body[at:]).encode()
    parts["word/footnotes.xml"] = FOOTNOTES.encode()
    parts["docProps/custom.xml"] = CUSTOM.encode()
    types = parts["[Content_Types].xml"].decode()
    extra = ('<Override PartName="/word/footnotes.xml" ContentType="application/vnd.'
             'openxmlformats-officedocument.wordprocessingml.footnotes+xml"/>'
             '<Override PartName="/docProps/custom.xml" ContentType="application/vnd.'
             'openxmlformats-officedocument.custom-properties+xml"/>')
    parts["[Content_Types].xml"] = types.replace("</Types>", extra + "</Types>").encode()
    rels = parts["word/_rels/document.xml.rels"].decode()
    footnote_rel = ('<Relationship Id="rId98" Type="http://schemas.openxmlformats.org/'
                    'officeDocument/2006/relationships/footnotes" Target="footnotes.xml"/>')
    parts["word/_rels/document.xml.rels"] = rels.replace(
        "</Relationships>", footnote_rel + HYPERLINK_REL + "</Relationships>").encode()
    return zip_of(parts)


def _zip_parts(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def replace_part(data: bytes, name: str, content: bytes) -> bytes:
    parts = _zip_parts(data)
    parts[name] = content
    return zip_of(parts)


def make_xlsx() -> bytes:
    """Customers: header row 1, Jane on row 3 with her mobile stored as a number;
    Notes: a date, a float, an empty gap of rows."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Customers"
    sheet.append(["Name", "Mobile", "Email", "Since"])
    sheet.append(["John Smith", 7700900001, "john.smith@example.com", dt.date(2020, 1, 2)])
    sheet.append(["Jane Doe", 7700900123, EMAIL, dt.datetime(2021, 3, 4, 0, 0)])
    notes = book.create_sheet("Notes")
    notes["B7"] = "Rang back"
    notes["C7"] = 1632960123.0  # a landline stored as a float
    notes["D7"] = 12.5
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def make_pdf(pages: list[str], *, user_password: str | None = None) -> bytes:
    pdf = FPDF()
    if user_password is not None:
        pdf.set_encryption(owner_password="owner-secret", user_password=user_password)
    pdf.set_font("helvetica", size=12)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 10, text=text)
    return bytes(pdf.output())


def make_csv() -> bytes:
    return (b"name,email,notes\r\n"
            b"John Smith,john.smith@example.com,plain\r\n"
            b'Jane Doe,jane.doe@example.com,"rang twice\r\nsecond line"\r\n'
            b'"Ann, Other",ann@example.com,"three\nline\nnote"\r\n'
            b"Last Person,last@example.com,07700 900999\r\n")


def make_eml(attachments: dict[str, bytes], *, html: bool = True) -> bytes:
    message = EmailMessage()
    message["From"] = f"Jane Doe <{EMAIL}>"
    message["To"] = "Sales <sales@example.co.uk>"
    message["Cc"] = "Bob Other <bob.other@example.com>"
    message["Reply-To"] = "jane.private@example.com"
    message["Subject"] = "Quote request from Jane Doe"
    message["Message-ID"] = "<q1@example.com>"
    message.set_content(f"Hi, please call me on {PHONE}.\nJane\n")
    if html:
        message.add_alternative(
            '<html><head><style>p {color: red}</style></head><body><p>Hi, please '
            'call <a href="tel:+447700900123">my mobile</a>.</p><script>var x=1;</script>'
            '</body></html>', subtype="html")
    for name, data in attachments.items():
        if name.endswith(".csv"):
            message.add_attachment(data, maintype="text", subtype="csv", filename=name)
        else:
            message.add_attachment(data, maintype="application",
                                   subtype="octet-stream", filename=name)
    return message.as_bytes()


def zip_of(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def nested_zips(depth: int, inner: bytes, name: str = "a.csv") -> bytes:
    """``inner`` as ``name`` inside ``depth`` zips, each holding the next as level-N.zip."""
    data = zip_of({name: inner})
    for level in range(depth - 1, 0, -1):
        data = zip_of({f"level-{level}.zip": data})
    return data


def zip_bomb(megabytes: int = 20) -> bytes:
    return zip_of({"readme.txt": b"nothing here\n",
                   "bomb.txt": b"\0" * (megabytes << 20)})


def gzip_bomb(megabytes: int = 20) -> bytes:
    return gzip.compress(b"\0" * (megabytes << 20), compresslevel=9)
