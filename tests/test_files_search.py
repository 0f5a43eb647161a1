"""The files connector's search and read: one estate of real documents (TXT, CSV, XLSX, DOCX,
PDF, EML with an attachment, JSON, JSONL, ZIP, GZ) made with the libraries, searched over
file://, SFTP (OpenSSH) and SMB (Samba) through the engine, so the core's attribution
decides strength and look-alikes as it does for every connector.

Jane Doe is the subject; another Jane Doe (jane.doe@example.co.uk) is the look-alike; the
rest of the people are bystanders.
"""

from __future__ import annotations

import base64
import email.message
import gzip
import io
import json
import os
import subprocess
import sys
import time
import tracemalloc
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import docx
import openpyxl
import pytest
from fpdf import FPDF

from agent.engine import SearchEngine
from agent.models import Finding, SearchResult, Subject
from agent.subjects import subject_from_mapping
from connectors.files.connector import FilesConnector
from connectors.files.matcher import Matcher
from connectors.files.scan import PART_STRIDE
from tests.support.engines import engines

if TYPE_CHECKING:
    from tests.file_servers import Share

pytest_plugins = ("tests.file_servers",)  # file_servers, make_share, share

JANE = {"ref": "jane", "email": ["jane.doe@example.com"], "phone": ["07700 900123"],
        "name": "Jane Doe", "account": ["CAN-001234"]}
LOOKALIKE_EMAIL = "jane.doe@example.co.uk"
GIVEN = ("Amy", "Ben", "Cat", "Dan", "Eve", "Fay", "Gus", "Hal", "Ivy", "Jon")
SURNAMES = ("Adams", "Baker", "Clark", "Davis", "Evans", "Ford", "Green", "Hill", "Irwin",
            "Jones", "King", "Lewis")

# --------------------------------------------------------------------------- documents


def docx_bytes(paragraphs: list[str], table: list[list[str]] = (), header: str = "",
               comment: str = "") -> bytes:
    document = docx.Document()
    if header:
        document.sections[0].header.paragraphs[0].text = header
    for text in paragraphs:
        document.add_paragraph(text)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, value in enumerate(row):
                grid.cell(r, c).text = value
    if comment:
        document.add_comment(document.paragraphs[-1].runs or
                             [document.paragraphs[-1].add_run("see")], text=comment)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def xlsx_bytes(sheets: dict[str, list[list[Any]]]) -> bytes:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def pdf_bytes(lines: list[str]) -> bytes:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=11)
    for line in lines:
        pdf.cell(0, 8, line, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def eml_bytes(sender: str, to: str, subject: str, body: str,
              attachments: dict[str, bytes] = ()) -> bytes:
    message = email.message.EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, subject
    message.set_content(body)
    for name, data in dict(attachments).items():
        maintype, subtype = ("text", "plain") if name.endswith(".txt") else (
            "application", "octet-stream")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return message.as_bytes()


def zip_bytes(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


PURCHASED_CSV = (
    "name,email,phone,notes\r\n"
    'Bob Smith,bob.smith@example.com,01632 960111,"called twice\r\nsays no"\r\n'
    f"Jane Doe,{LOOKALIKE_EMAIL},07700 900222,lookalike\r\n"
    "Jane Doe,jane.doe@example.com,07700 900123,\"likes \"\"SIM only\"\"\"\r\n"
    "Ann Lee,ann.lee@example.com,07700 900333,\r\n")


def write_estate(share: Share) -> None:
    """Every format, Jane in most of them, in the usual folders of the business."""
    share.write("letters/welcome.txt",
                "Dear Ms Doe,\nThank you for calling us from 07700-900-123.\nRegards\n")
    share.write("letters/mention.txt", "Jane Doe rang about her bill; no details taken.\n")
    share.write("lists/purchased.csv", PURCHASED_CSV)
    share.write("lists/lookalike_only.csv",
                f"name,email\nJane Doe,{LOOKALIKE_EMAIL}\nBob Smith,bob.smith@example.com\n")
    share.write("lists/leads.xlsx", xlsx_bytes({
        "2023": [["Name", "Email", "Mobile"], ["Ann Lee", "ann.lee@example.com", "07700900333"]],
        "2024": [["Name", "Email", "Mobile"], ["Bob Smith", "bob.smith@example.com", None],
                 ["Jane Doe", "JANE.DOE@example.com", "07700 900123"]],
    }))
    share.write("quotes/quote-2041.docx", docx_bytes(
        ["Quote for mobile contract", "Prepared for our customer."],
        table=[["Customer", "E-mail"], ["J. Doe", "jane.doe@example.com"]],
        header="Acme Telecom Ltd"))
    share.write("credit/report.pdf", pdf_bytes(
        ["Credit report", "Applicant phone: +44 7700 900123", "Score: 812"]))
    share.write("mail/2024/quote.eml", eml_bytes(
        "sales@example.com", "bob.smith@example.com", "Your quote",
        "Hello Bob, please find the quote attached.",
        {"notes.txt": b"Account CAN-001234 transferred from the old system.\n"}))
    share.write("exports/contacts.jsonl",
                json.dumps({"name": "Bob Smith", "email": "bob.smith@example.com"}) + "\n"
                + json.dumps({"name": "Jane Doe", "email": "jane.doe@example.com"}) + "\n")
    share.write("exports/profile.json",
                json.dumps({"customer": {"contact": {"phone": "+447700900123"}}}))
    share.write("archive/2019.zip", zip_bytes(
        {"old/notes.txt": b"Complaint from jane.doe@example.com, resolved.\n"}))
    share.write("archive/calls.txt.gz", gzip.compress(b"14:02 inbound (07700) 900123 3m\n"))
    share.write("misc/unrelated.txt", "Nothing about anyone here.\n")


EXPECTED = {  # path -> (strength, matched types, rows)
    "letters/welcome.txt": ("strong", ["phone"], None),
    "letters/mention.txt": ("weak", ["name"], None),
    "lists/purchased.csv": ("strong", ["email", "name", "phone"], [4]),
    "lists/leads.xlsx": ("strong", ["email", "name", "phone"], [PART_STRIDE + 3]),
    "quotes/quote-2041.docx": ("strong", ["email"], None),
    "credit/report.pdf": ("strong", ["phone"], None),
    "mail/2024/quote.eml": ("strong", ["account"], None),
    "exports/contacts.jsonl": ("strong", ["email", "name"], [2]),
    "exports/profile.json": ("strong", ["phone"], None),
    "archive/2019.zip": ("strong", ["email"], None),
    "archive/calls.txt.gz": ("strong", ["phone"], None),
}

# --------------------------------------------------------------------------- helpers


@pytest.fixture
def engine_for(tmp_path: Path) -> Iterator[Callable[..., SearchEngine]]:
    with engines(tmp_path) as make:
        yield lambda share, **options: make(share.entry("share", timeout=120, **options))


def search(engine: SearchEngine, *people: dict[str, Any]) -> list[SearchResult]:
    subjects = [subject_from_mapping(p, default_ref=f"S{i}") for i, p in enumerate(people)]
    results = engine.search(subjects, operator="test", reason="files test", record=False)
    for result in results:
        assert all(s.status == "ok" for s in result.systems), result.systems
    return results


def by_path(result: SearchResult) -> dict[str, Finding]:
    return {f.locator: f for f in result.findings}


def connector(engine: SearchEngine) -> FilesConnector:
    found = engine.connector(engine.config.systems[0])
    assert isinstance(found, FilesConnector)
    return found


# --------------------------------------------------------------------------- every transport


def test_finds_the_subject_in_every_format(share: Share, engine_for) -> None:
    write_estate(share)
    engine = engine_for(share)
    [result] = search(engine, JANE)
    found = by_path(result)
    assert set(found) == set(EXPECTED), sorted(set(found) ^ set(EXPECTED))
    for path, (strength, matched, rows) in EXPECTED.items():
        finding = found[path]
        assert (finding.strength, finding.matched, finding.rows) == (strength, matched, rows), \
            path
        assert finding.kind == "file" and finding.system == "share"
        assert finding.container == path.split("/", 1)[0]
    # the look-alike's own file is dropped by the core's rules, and counted
    assert result.excluded_lookalikes >= 1
    assert found["lists/purchased.csv"].categories == ["Contact"]
    report = connector(engine).last_report
    assert report is not None and report.problems == [] and report.scanned == 13


def test_read_gives_only_the_subjects_rows_and_lists_documents(share: Share,
                                                               engine_for) -> None:
    write_estate(share)
    engine = engine_for(share)
    [result] = search(engine, JANE)
    records = list(connector(engine).read(result.findings))
    by_finding: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        by_finding.setdefault(record["finding"], []).append(record)
    assert set(by_finding) == {f.id for f in result.findings}
    [row] = by_finding["share:lists/purchased.csv"]
    assert row["table"] == "lists/purchased.csv" and row["row_number"] == 4
    assert row["row"] == {"name": "Jane Doe", "email": "jane.doe@example.com",
                          "phone": "07700 900123", "notes": 'likes "SIM only"'}
    [sheet_row] = by_finding["share:lists/leads.xlsx"]
    assert sheet_row["row"]["Email"] == "JANE.DOE@example.com"
    assert sheet_row["part"] == "sheet:2024" and sheet_row["part_row"] == 3
    [line] = by_finding["share:exports/contacts.jsonl"]
    assert line["row"] == {"name": "Jane Doe", "email": "jane.doe@example.com"}
    text = json.dumps(records)
    assert "bob.smith" not in text and LOOKALIKE_EMAIL not in text  # nobody else's rows
    # a document about her alone (only her phone in it) comes whole; one that names
    # somebody else (an e-mail to Bob) is listed for disclosure review, not copied
    [pdf] = by_finding["share:credit/report.pdf"]
    assert pdf["table"] == "credit/report.pdf" and pdf["row"]["whole_document"] is True
    assert "Applicant phone" in pdf["row"]["text"]
    assert base64.b64decode(pdf["row"]["content_base64"]).startswith(b"%PDF")
    [quote] = by_finding["share:mail/2024/quote.eml"]
    assert quote["disclosure_review"] is True and quote["size"] > 0
    assert "Your quote" not in text


def test_unreadable_files_are_reported_and_the_rest_still_found(share: Share, engine_for,
                                                                tmp_path: Path) -> None:
    share.write("a/jane.txt", "contact: jane.doe@example.com\n")
    share.write("a/broken.docx", b"PK\x03\x04" + os.urandom(300))
    share.write("a/truncated.pdf", pdf_bytes(["jane.doe@example.com"])[:200])
    share.write("a/huge.txt", "x" * 9000)
    share.write("a/bomb.zip", zip_bytes({"zeros.txt": bytes(3_000_000)}))
    outside = tmp_path / "outside.txt"
    outside.write_text("jane.doe@example.com lives outside the share\n")
    share.symlink("a/link.txt", outside)
    if share.kind != "local":  # the servers run as an unprivileged user
        locked = share.write("a/locked.txt", "jane.doe@example.com\n")
        os.chown(locked, 0, 0)
        locked.chmod(0o600)
    share.write("z/last.txt", "jane.doe@example.com again\n")
    engine = engine_for(share, max_file_bytes=8192)
    [result] = search(engine, {"email": ["jane.doe@example.com"]})
    assert sorted(by_path(result)) == ["a/jane.txt", "z/last.txt"]
    report = connector(engine).last_report
    assert report is not None
    kinds = {p.path: p.kind for p in report.problems}
    assert kinds["a/broken.docx"] == "corrupt or unreadable"
    assert kinds["a/truncated.pdf"] == "corrupt or unreadable"
    assert kinds["a/huge.txt"] == "too big"
    assert kinds["a/bomb.zip"] == "over an extraction limit"
    if share.kind != "local":
        assert kinds["a/locked.txt"] == "permission denied"
    # a symbolic link out of the root is never followed: reported (Samba, with its
    # default "wide links = no", does not even list one that leaves the share)
    assert kinds.get("a/link.txt", share.kind) in ("skipped by the walk", "smb")
    assert all(p.reason for p in report.problems)


def test_a_batch_of_fifty_is_found_in_one_pass(share: Share, engine_for) -> None:
    people = [{"ref": f"P{i}", "email": [f"person{i}@example.com"],
               "phone": [f"07700 900{i:03d}"], "name": f"{GIVEN[i % 10]} {SURNAMES[i // 10]}"}
              for i in range(120)]
    lines = ["name,email,phone"] + [f"{p['name']},{p['email'][0]},{p['phone'][0]}"
                                    for p in people]
    share.write("lists/all.csv", "\n".join(lines) + "\n")
    share.write("letters/some.txt", "\n".join(f"Called {p['phone'][0].replace(' ', '')}"
                                              for p in people[::10]))
    engine = engine_for(share)
    wanted = people[:50]
    results = search(engine, *wanted)
    report = connector(engine).last_report
    assert report is not None and report.scanned == 2  # each file read once for all 50
    for person, result in zip(wanted, results, strict=True):
        found = by_path(result)
        i = int(person["ref"][1:])
        assert found["lists/all.csv"].rows == [i + 2], person["ref"]
        assert found["lists/all.csv"].strength == "strong"
        assert ("letters/some.txt" in found) == (i % 10 == 0), person["ref"]


# --------------------------------------------------------------------------- local only


def test_prefilter_is_what_makes_it_fast(tmp_path: Path) -> None:
    """Pieces that mention nobody never reach the confirming scanner: with 1,000 subjects
    the automaton passes only the pieces holding a writing of theirs."""
    from agent.identifiers import normalise
    from agent.models import Identifier

    subjects = [Subject(f"S{i}", [
        Identifier("email#1", "email", f"person{i}@example.com"),
        Identifier("phone#1", "phone", normalise("phone", f"07700 9{i:05d}"[:12])),
        Identifier("name#1", "name", f"quentin{i} zabriskie")]) for i in range(1000)]
    matcher = Matcher.build(subjects)
    prose = ("Thank you for your order of the SIM only plan, reference 55321. Our engineer "
             "will call between 9 and 5 on the day. ") * 40
    started = time.perf_counter()
    for _ in range(200):
        assert matcher.scan(prose) == {}
    prefiltered = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(200):
        assert matcher.index.scan(prose) == []
    confirmed_all = time.perf_counter() - started
    assert matcher.prefilter_hits(prose) == 0
    assert prefiltered < confirmed_all  # measured in bench/, asserted only as an ordering
    assert matcher.scan(prose + " mail person17@example.com now") == {"S17": {"email#1"}}


def test_a_huge_file_is_streamed_in_bounded_memory(make_share, engine_for) -> None:
    share = make_share("local")
    line = "call log entry without anybody in it, just words and 12345 numbers\n"
    with open(share.path / "big.log", "w") as out:
        for _ in range(40 * 1024 * 1024 // len(line)):
            out.write(line)
        out.write("last line: jane.doe@example.com\n")
    engine = engine_for(share)
    tracemalloc.start()
    try:
        [result] = search(engine, {"email": ["jane.doe@example.com"]})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert list(by_path(result)) == ["big.log"]
    assert peak < 24 * 1024 * 1024, peak  # a 40 MB file, read in pieces


def test_include_and_exclude_globs(make_share, engine_for) -> None:
    share = make_share("local")
    for path in ("keep/a.txt", "keep/skip.tmp", "old/b.txt", "c.txt"):
        share.write(path, "jane.doe@example.com\n")
    engine = engine_for(share, include=["keep/", "*.txt"], exclude=["old/*", "*.tmp"])
    [result] = search(engine, {"email": ["jane.doe@example.com"]})
    assert sorted(by_path(result)) == ["c.txt", "keep/a.txt"]
    assert connector(engine).last_report.excluded == 2


def test_options_are_validated_naming_the_key(make_share) -> None:
    from agent.errors import ConfigError

    share = make_share("local")
    for options, key in (({"workers": 0}, "systems.share.workers"),
                         ({"include": [3]}, "systems.share.include"),
                         ({"extraction": {"max_depth": "deep"}},
                          "systems.share.extraction.max_depth"),
                         ({"extraction": {"max_dept": 2}}, "systems.share.extraction.max_dept"),
                         ({"max_file_byte": 10}, "systems.share.max_file_byte")):
        with pytest.raises(ConfigError) as caught:
            FilesConnector(share.system(**options))
        assert caught.value.key == key


def test_check_and_discover(make_share) -> None:
    from agent.errors import ConnectorError
    from agent.models import Identifier

    share = make_share("local")
    share.write("letters/a.txt", "hello\n")
    share.write("letters/2024/b.txt", "hello again\n")
    share.write("top.csv", "a,b\n")
    files = FilesConnector(share.system())
    assert files.check().ok
    containers = {c.name: c for c in files.discover()}
    assert containers["letters"].items == 2 and containers["letters"].notes["bytes"] == 18
    assert containers[""].notes["types"] == {"csv": 1}
    missing = FilesConnector(make_share("local").system(url=(share.path / "nope").as_uri()))
    assert not missing.check().ok
    with pytest.raises(ConnectorError):  # never an empty "ok" search
        list(missing.search([Subject("S", [Identifier("email#1", "email", "a@example.com")])]))


def test_permission_denied_on_a_mounted_folder(make_share, file_servers) -> None:
    """The CLI as an unprivileged user (root reads everything): the locked file is
    reported on stderr by a digest of its path, never by name or content; the rest found."""
    share = make_share("local")
    user = file_servers.user
    share.write("open/jane.txt", "jane.doe@example.com\n")
    locked = share.write("locked/jane-doe.txt", "jane.doe@example.com\n")
    locked.chmod(0o600)
    work = make_share("local").path  # pytest's tmp_path is root's alone
    (work / "agent.toml").write_text(
        f'[agent]\nmax_depth = 0\n\n[[systems]]\nname = "share"\nurl = "{share.url}"\n')
    os.chown(work, user.uid, -1)
    done = subprocess.run(
        ["setpriv", f"--reuid={user.uid}", f"--regid={user.uid}", "--clear-groups",
         str(Path(sys.executable).parent / "dsr"), "--config", str(work / "agent.toml"),
         "search", "--email", "jane.doe@example.com", "--json"],
        cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, timeout=60,
        env={**os.environ, "HOME": str(work)}, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    output = json.loads(done.stdout)
    assert [f["locator"] for f in output["findings"]] == ["open/jane.txt"]
    assert "permission denied" in done.stderr
    assert "jane-doe" not in done.stderr and "jane.doe@example.com" not in done.stderr


def test_a_file_over_its_time_limit_is_reported(make_share, engine_for) -> None:
    share = make_share("local")
    share.write("slow.txt", ("words and more words\n" * 50_000) * 4)  # 4 MB: four pieces
    share.write("fast.txt", "jane.doe@example.com\n")
    engine = engine_for(share, file_timeout=0.001)
    [result] = search(engine, {"email": ["jane.doe@example.com"]})
    assert list(by_path(result)) == ["fast.txt"]
    [problem] = connector(engine).last_report.problems
    assert (problem.path, problem.kind) == ("slow.txt", "timed out")


def test_a_writing_cut_between_two_pieces_is_still_found() -> None:
    """Text extractors cut long text into pieces; the end of one piece is carried into the
    next, so an e-mail split across the cut is still one writing."""
    from agent.extractors import TextPiece
    from agent.identifiers import normalise
    from agent.models import Identifier
    from connectors.files.scan import FileHits, TableReader, scan_pieces

    subject = Subject("S", [Identifier("email#1", "email", "jane.doe@example.com"),
                            Identifier("phone#1", "phone", normalise("phone", "07700 900123"))])
    first = "filler " * 100 + "write to jane.do"
    pieces = [TextPiece(first, "", 0), TextPiece("e@example.com or 07700", "", len(first)),
              TextPiece(" 900123 today", "", len(first) + 22)]
    hits = scan_pieces(pieces, Matcher.build([subject]), TableReader(()), FileHits("a.txt", 1))
    assert hits.prose == {"S": {"email#1", "phone#1"}} and not hits.tabular
