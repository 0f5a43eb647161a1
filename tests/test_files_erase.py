"""Erasure on file shares: rows out of CSV/TSV/JSONL/XLSX, spans out of text, DOCX and EML,
whole documents deleted, unrewritable files quarantined; every rewrite verified.

Jane Doe (jane.doe@example.com, 07700 900123) is the subject; everyone else is made up.
"""

from __future__ import annotations

import datetime as dt
import email
import io
import zipfile
from collections.abc import Callable
from email.policy import default as default_policy
from pathlib import Path
from typing import TYPE_CHECKING, Any

import docx
import openpyxl
import pytest
from openpyxl.styles import Font, PatternFill

from agent.errors import ConnectorError
from agent.models import Finding
from agent.plans import PlanItem
from agent.subjects import subject_from_mapping
from connectors.files import rewrite_office
from connectors.files.connector import FilesConnector
from tests.fixtures_docs import make_docx, make_pdf

if TYPE_CHECKING:
    from tests.file_servers import Share

pytest_plugins = ["tests.file_servers"]

JANE = {"email": ["jane.doe@example.com"], "phone": ["07700 900123"], "name": "Jane Doe"}
SECRETS = (b"jane.doe@example.com", b"07700 900123", b"7700900123", b"jane doe")


# --------------------------------------------------------------------------- helpers
def connector(share: Share, **options: Any) -> FilesConnector:
    return FilesConnector(share.system("share", **options))


def found(conn: FilesConnector, person: dict[str, Any] = JANE) -> dict[str, Finding]:
    subject = subject_from_mapping(person, default_ref="S0")
    return {f.locator: f for f in conn.search([subject])}


def item(finding: Finding, action: str = "delete", **notes: Any) -> PlanItem:
    return PlanItem(id=finding.id, action=action, reason="test", system=finding.system,
                    kind="file", locator=finding.locator, container=finding.container,
                    rows=finding.rows, notes=dict(notes))


def erase(conn: FilesConnector, path: str, action: str = "delete", **notes: Any):
    finding = found(conn)[path]
    assert action in conn.actions_for(finding) or notes.get("whole_document")
    outcomes = list(conn.erase([item(finding, action, **notes)]))
    assert len(outcomes) == 1
    return finding, outcomes[0]


def rerun_is_absent(conn: FilesConnector, finding: Finding, action: str = "delete") -> None:
    again = list(conn.erase([item(finding, action)]))
    assert [o.status for o in again] == ["absent"]


def assert_clean(data: bytes) -> None:
    lowered = data.lower()
    for secret in SECRETS:
        assert secret not in lowered, secret


def parts_of(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as package:
        return {n: package.read(n) for n in package.namelist()}


# --------------------------------------------------------------------------- tabular
CSV = (b"\xef\xbb\xbfname,email,notes\r\n"
       b"John Smith,john.smith@example.com,plain\r\n"
       b'Jane Doe,jane.doe@example.com,"rang twice\r\nsecond line"\r\n'
       b'"Ann, Other",ann@example.com,"three\nline\nnote"\r\n'
       b'Jane Doe,jane.doe@example.co.uk,"another Jane, not her"\r\n'
       b"Last Person,last@example.com,07700 900999")  # no trailing newline


@pytest.mark.parametrize("kind", ["local", "sftp", "smb"])
def test_csv_rows_removed_others_byte_identical(kind: str, make_share: Callable[..., Share]
                                                ) -> None:
    share = make_share(kind)
    share.write("lists/bought.csv", CSV)
    conn = connector(share)
    finding, outcome = erase(conn, "lists/bought.csv")
    assert (outcome.status, outcome.counts) == ("done", {"rows": 1})
    lines = CSV.split(b"\r\n")
    expected = b"\r\n".join(lines[:2] + lines[4:])  # the two physical lines of her record
    assert (share.path / "lists/bought.csv").read_bytes() == expected
    rerun_is_absent(conn, finding)
    left = found(conn)["lists/bought.csv"]  # the other Jane Doe's row: a look-alike only
    assert left.internal_values["email"] == {"jane.doe@example.co.uk"}


def test_tsv_and_jsonl_rows_removed(make_share: Callable[..., Share]) -> None:
    share = make_share("local")
    tsv = b"name\temail\nBob\tbob@example.com\nJane Doe\tjane.doe@example.com\n"
    jsonl = (b'{"name": "Bob", "email": "bob@example.com"}\n\n'
             b'{"name": "Jane Doe", "phone": "07700900123"}\r\n'
             b'{"name": "Zed", "email": "zed@example.com"}\n')
    share.write("exports/a.tsv", tsv)
    share.write("exports/b.jsonl", jsonl)
    conn = connector(share)
    _, out_tsv = erase(conn, "exports/a.tsv", "anonymise")
    _, out_jsonl = erase(conn, "exports/b.jsonl")
    assert out_tsv.counts == out_jsonl.counts == {"rows": 1}
    assert (share.path / "exports/a.tsv").read_bytes() == b"name\temail\nBob\tbob@example.com\n"
    assert (share.path / "exports/b.jsonl").read_bytes() == (
        b'{"name": "Bob", "email": "bob@example.com"}\n\n'
        b'{"name": "Zed", "email": "zed@example.com"}\n')


def test_a_changed_file_is_matched_again_never_by_row_number(make_share: Callable[..., Share]
                                                             ) -> None:
    share = make_share("local")
    share.write("lists/l.csv", b"name,email\nJane Doe,jane.doe@example.com\nBob,bob@example.com\n")
    conn = connector(share)
    finding = found(conn)["lists/l.csv"]
    assert finding.rows == [2]
    # rows move after the plan: two new rows on top, one of them Bob's
    share.write("lists/l.csv", b"name,email\nAl,al@example.com\nBob,bob@example.com\n"
                               b"Jane Doe,jane.doe@example.com\nBob,bob@example.com\n")
    outcome = next(iter(conn.erase([item(finding)])))
    assert outcome.counts == {"rows": 1}
    assert (share.path / "lists/l.csv").read_bytes() == (
        b"name,email\nAl,al@example.com\nBob,bob@example.com\nBob,bob@example.com\n")


def test_xlsx_rows_removed_styles_and_types_kept(make_share: Callable[..., Share]) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Customers"
    sheet.append(["Name", "Mobile", "Email", "Since", "Spend"])
    sheet.append(["John Smith", 7700900001, "john.smith@example.com", dt.date(2020, 1, 2), 1.5])
    sheet.append(["Jane Doe", 7700900123, "jane.doe@example.com", dt.date(2021, 3, 4), 2.5])
    sheet.append(["Zoe Last", 7700900002, "zoe@example.com", dt.date(2022, 5, 6), 3.5])
    sheet["A4"].font = Font(bold=True, color="FF0000")
    sheet["E4"].fill = PatternFill("solid", fgColor="FFFF00")
    sheet["E4"].number_format = "0.00"
    other = book.create_sheet("Notes")
    other["B7"] = "Rang back"
    other["C7"] = 1632960123.0
    data = io.BytesIO()
    book.save(data)
    share = make_share("local")
    share.write("lists/leads.xlsx", data.getvalue())
    conn = connector(share)
    finding, outcome = erase(conn, "lists/leads.xlsx")
    assert outcome.counts == {"rows": 1}
    after = openpyxl.load_workbook(share.path / "lists/leads.xlsx")
    rows = list(after["Customers"].iter_rows(values_only=True))
    assert rows == [("Name", "Mobile", "Email", "Since", "Spend"),
                    ("John Smith", 7700900001, "john.smith@example.com",
                     dt.datetime(2020, 1, 2), 1.5),
                    ("Zoe Last", 7700900002, "zoe@example.com", dt.datetime(2022, 5, 6), 3.5)]
    zoe = after["Customers"]
    assert zoe["A3"].font.bold and zoe["A3"].font.color.rgb.endswith("FF0000")
    assert zoe["E3"].fill.fgColor.rgb.endswith("FFFF00") and zoe["E3"].number_format == "0.00"
    assert isinstance(zoe["B3"].value, int)
    assert after["Notes"]["B7"].value == "Rang back" and after["Notes"]["C7"].value == 1632960123
    for body in parts_of((share.path / "lists/leads.xlsx").read_bytes()).values():
        assert_clean(body)
    rerun_is_absent(conn, finding)


# --------------------------------------------------------------------------- documents
def test_text_spans_redacted_rest_kept(make_share: Callable[..., Share]) -> None:
    share = make_share("local")
    text = (b"Call notes\r\nSpoke to JANE DOE on 07700 900123 (+44 7700 900123).\r\n"
            b"Her e-mail: Jane.Doe@example.com; colleague bob@example.com\r\n")
    share.write("notes/call.txt", text)
    conn = connector(share)
    finding, outcome = erase(conn, "notes/call.txt", "anonymise")
    assert outcome.status == "done" and outcome.counts == {"spans": 4}
    assert (share.path / "notes/call.txt").read_bytes() == (
        b"Call notes\r\nSpoke to [erased] on [erased] ([erased]).\r\n"
        b"Her e-mail: [erased]; colleague bob@example.com\r\n")
    rerun_is_absent(conn, finding, "anonymise")


@pytest.mark.parametrize("kind", ["local", "sftp", "smb"])
def test_docx_spans_gone_from_every_part(kind: str, make_share: Callable[..., Share]) -> None:
    share = make_share(kind)
    original = make_docx()
    share.write("quotes/q.docx", original)
    conn = connector(share)
    finding, outcome = erase(conn, "quotes/q.docx")
    assert outcome.status == "done" and outcome.counts["spans"] >= 5
    data = (share.path / "quotes/q.docx").read_bytes()
    before, after = parts_of(original), parts_of(data)
    assert sorted(before) == sorted(after)
    for name, body in after.items():
        assert_clean(body)
        assert_clean(rewrite_office.views(name, body)[-1])
    for name in ("word/header1.xml", "word/comments.xml", "docProps/core.xml",
                 "word/_rels/document.xml.rels"):
        assert b"[erased]" in after[name], name
    assert after["word/footer1.xml"] == before["word/footer1.xml"]
    assert b"07700 900789" in after["word/document.xml"]  # tracked deletion, someone else's
    document = docx.Document(io.BytesIO(data))
    assert document.paragraphs[1].text == "Quote for [erased], sole trader."
    assert document.tables[0].cell(0, 1).text == "[erased]"
    assert document.core_properties.author == "[erased]"
    assert document.core_properties.title == "Quote Q-1001"
    rerun_is_absent(conn, finding)


def test_docx_writing_split_across_runs_is_redacted(make_share: Callable[..., Share]) -> None:
    document = docx.Document()
    paragraph = document.add_paragraph("Dear ")
    paragraph.add_run("Jane ").bold = True
    paragraph.add_run("Doe, write to jane.doe@")
    paragraph.add_run("example.com").italic = True
    paragraph.add_run(" or Bob.")
    document.add_paragraph("Unrelated: bob@example.com")
    data = io.BytesIO()
    document.save(data)
    share = make_share("local")
    share.write("letters/split.docx", data.getvalue())
    conn = connector(share)
    _, outcome = erase(conn, "letters/split.docx")
    assert outcome.counts == {"spans": 2}
    after = docx.Document(share.path / "letters/split.docx")
    assert after.paragraphs[0].text == "Dear [erased], write to [erased] or Bob."
    assert after.paragraphs[0].runs[1].bold  # the runs' formatting stays
    assert after.paragraphs[1].text == "Unrelated: bob@example.com"


def test_eml_redacted_reencoded_and_parseable(make_share: Callable[..., Share]) -> None:
    from email.message import EmailMessage

    message = EmailMessage()
    message["From"] = "Jane Doe <jane.doe@example.com>"
    message["To"] = "Sales <sales@example.co.uk>"
    message["Subject"] = "Quote request"
    message.set_content("Please call me on 07700 900123 \u2013 thanks.\n", charset="utf-8",
                        cte="quoted-printable")
    message.add_alternative("<p>Mobile: <b>07700 900123</b>, r\u00e9f\u00e9rence</p>",
                            subtype="html", charset="utf-8", cte="base64")
    share = make_share("local")
    share.write("mail/q.eml", message.as_bytes())
    conn = connector(share)
    finding, outcome = erase(conn, "mail/q.eml")
    assert outcome.status == "done"
    data = (share.path / "mail/q.eml").read_bytes()
    assert_clean(data)
    parsed = email.message_from_bytes(data, policy=default_policy)
    raw_headers = email.message_from_bytes(data)  # compat32: the header text as written
    assert raw_headers["From"] == "[erased] <[erased]>"
    assert parsed["To"] == "Sales <sales@example.co.uk>"
    plain = parsed.get_body(("plain",))
    html = parsed.get_body(("html",))
    assert plain["Content-Transfer-Encoding"] == "quoted-printable"
    assert html["Content-Transfer-Encoding"] == "base64"
    assert plain.get_content() == "Please call me on [erased] \u2013 thanks.\n"
    assert html.get_content().startswith("<p>Mobile: <b>[erased]</b>, r\u00e9f\u00e9rence")
    rerun_is_absent(conn, finding)


def test_eml_attachment_naming_the_subject_fails_loudly_every_time(
        make_share: Callable[..., Share]) -> None:
    from email.message import EmailMessage

    message = EmailMessage()
    message["From"] = "jane.doe@example.com"
    message["Subject"] = "Signed quote"
    message.set_content("Attached.\n")
    message.add_attachment(make_docx(), maintype="application", subtype="octet-stream",
                           filename="quote.docx")
    share = make_share("local")
    share.write("mail/a.eml", message.as_bytes())
    conn = connector(share)
    finding = found(conn)["mail/a.eml"]
    for _ in range(2):  # the second run must not report the half-redacted file as absent
        with pytest.raises(ConnectorError, match=r"\.eml file .*attachment"):
            list(conn.erase([item(finding)]))


def test_whole_document_is_deleted(make_share: Callable[..., Share]) -> None:
    share = make_share("local")
    share.write("credit/jane.pdf", make_pdf(["Credit report for jane.doe@example.com"]))
    conn = connector(share)
    finding, outcome = erase(conn, "credit/jane.pdf", whole_document=True)
    assert outcome.status == "done" and not (share.path / "credit/jane.pdf").exists()
    again = list(conn.erase([item(finding, whole_document=True)]))
    assert again[0].status == "absent"


def test_pdf_is_never_rewritten_and_quarantined_when_configured(
        make_share: Callable[..., Share]) -> None:
    share = make_share("local")
    share.write("credit/report.pdf", make_pdf(["Report: jane.doe@example.com"]))
    plain = connector(share)
    finding = found(plain)["credit/report.pdf"]
    assert plain.actions_for(finding) == {"export"}
    conn = connector(share, quarantine="_quarantine", quarantine_days=30)
    finding = found(conn)["credit/report.pdf"]
    assert conn.actions_for(finding) == {"export", "quarantine"}
    outcome = next(iter(conn.erase([item(finding, "quarantine")])))
    until = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    assert outcome.status == "done" and until in outcome.detail
    assert not (share.path / "credit/report.pdf").exists()
    assert (share.path / "_quarantine/credit/report.pdf").exists()  # moved, not deleted
    assert found(conn) == {}  # the quarantine folder is never searched
    assert next(iter(conn.erase([item(finding, "quarantine")]))).status == "absent"


# --------------------------------------------------------------------------- safety
def test_verification_catches_a_missed_part(make_share: Callable[..., Share],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    share = make_share("local")
    share.write("quotes/q.docx", make_docx())
    conn = connector(share)
    real = rewrite_office.redact_xml

    def misses_headers(body: bytes, pattern: Any) -> tuple[bytes, int]:
        return (body, 0) if b"<w:hdr" in body else real(body, pattern)

    monkeypatch.setattr(rewrite_office, "redact_xml", misses_headers)
    finding = found(conn)["quotes/q.docx"]
    with pytest.raises(ConnectorError, match=r"\.docx file \(part word/header1\.xml\)") as err:
        list(conn.erase([item(finding)]))
    assert "jane" not in str(err.value).lower()


def test_a_corrupt_docx_fails_the_call_and_stays_as_it_was(make_share: Callable[..., Share]
                                                            ) -> None:
    share = make_share("local")
    share.write("quotes/q.docx", make_docx())
    conn = connector(share)
    finding = found(conn)["quotes/q.docx"]
    broken = b"PK\x03\x04 broken since the search: jane.doe@example.com"
    share.write("quotes/q.docx", broken)
    with pytest.raises(ConnectorError, match="corrupt zip"):
        list(conn.erase([item(finding)]))
    assert (share.path / "quotes/q.docx").read_bytes() == broken


def test_quarantine_option_must_stay_inside_the_root(make_share: Callable[..., Share]) -> None:
    from agent.errors import ConfigError

    share = make_share("local")
    with pytest.raises(ConfigError, match="quarantine"):
        connector(share, quarantine="../elsewhere")
    with pytest.raises(ConfigError, match="quarantine_days"):
        connector(share, quarantine="q", quarantine_days=0)


def test_an_item_without_a_search_record_fails_the_call(make_share: Callable[..., Share]
                                                        ) -> None:
    share = make_share("local")
    share.write("notes/a.txt", b"jane.doe@example.com\n")
    finding = found(connector(share))["notes/a.txt"]
    with pytest.raises(ConnectorError, match="no search record"):
        list(connector(share).erase([item(finding)]))
    assert (share.path / "notes/a.txt").read_bytes() == b"jane.doe@example.com\n"


def test_a_locator_outside_the_root_is_refused(make_share: Callable[..., Share]) -> None:
    share = make_share("local")
    share.write("notes/a.txt", b"jane.doe@example.com\n")
    conn = connector(share)
    finding = found(conn)["notes/a.txt"]
    bad = item(finding, whole_document=True)
    bad.locator = "../outside.txt"
    with pytest.raises(ConnectorError):
        list(conn.erase([bad]))


# --------------------------------------------------------------------------- end to end
POLICY_EXTRA = '''
[[mapping]]
system = "share"
container = "lists"
group = "Contact"
rule = "prospect"

[[mapping]]
system = "share"
container = "letters"
group = "Contact"
rule = "correspondence"

[[mapping]]
system = "share"
container = "credit"
group = "Contact"
rule = "prospect"
whole_document = true
'''


def test_erasure_request_on_a_local_share_is_verified(tmp_path: Path) -> None:
    from agent.config import load_config
    from agent.demo.config import write_config
    from agent.plugins import get_plugin_manager
    from agent.workflow import Workflow

    root = tmp_path / "share"
    for name, data in {
        "lists/bought.csv": CSV,
        "letters/2024-01.txt": b"Dear Jane Doe,\nabout jane.doe@example.com\n",
        "letters/q.docx": make_docx(),
        "credit/jane.txt": b"Credit file: jane.doe@example.com\n",
        # a PDF cannot be rewritten, but a whole-document file is deleted whole
        "credit/report.pdf": make_pdf(["Credit report for jane.doe@example.com"]),
    }.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    folder = tmp_path / "estate"
    folder.mkdir()
    (folder / "crm.sqlite").touch()
    share = f'\n[[systems]]\nname = "share"\nurl = "file://{root.as_posix()}"\n'
    path = write_config(folder, f"sqlite:///{(folder / 'crm.sqlite').as_posix()}", extra=share)
    text = path.read_text()
    start = text.index('[[systems]]\nname = "crm"')
    path.write_text(text[:start] + text[text.index('[[systems]]\nname = "share"'):])
    with (folder / "policy.toml").open("a") as policy:
        policy.write(POLICY_EXTRA)
    workflow = Workflow(load_config(path), get_plugin_manager())
    request = workflow.create("erasure", [("email", "jane.doe@example.com"),
                                          ("name", "Jane Doe")], actor="alice")
    workflow.verify(request.id, ["passport", "driving_licence"], by="alice")
    workflow.plan(request.id, actor="alice")
    actions = {i.locator: i.action for i in workflow.view(request.id).items if i.locator}
    assert actions == {"lists/bought.csv": "delete", "letters/2024-01.txt": "delete",
                       "letters/q.docx": "delete", "credit/jane.txt": "delete",
                       "credit/report.pdf": "delete"}
    workflow.approve(request.id, by="dpo")
    result = workflow.run(request.id, actor="alice")
    assert result.exit_code == 0, result.summary
    assert result.summary["verification"]["residual"] == {}
    assert not (root / "credit/jane.txt").exists()
    assert not (root / "credit/report.pdf").exists()
    assert b"jane.doe@example.com" not in (root / "lists/bought.csv").read_bytes()
    assert b"jane.doe@example.co.uk" in (root / "lists/bought.csv").read_bytes()
    assert (root / "letters/2024-01.txt").read_bytes() == b"Dear [erased],\nabout [erased]\n"
