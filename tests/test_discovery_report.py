"""The sweep's one-page HTML report: structure, counts, coverage, escaping of hostile place
names, and a real render in headless Chromium (Debian ``chromium``) that must show the
content and none of the personal values the swept data held.

The data map is built from made-up source data (a CRM table, a file share, a bucket) by the
real detectors counting matches, as a sweep would; the report only sees the map.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path

import pypdfium2 as pdfium
import pytest

from agent.discovery.datamap import DataMap, Entry, SystemSummary, Unreadable
from agent.discovery.report import render_html
from plugins.detectors import BUILTIN_DETECTORS

DETECTORS = {cls.name: cls() for cls in BUILTIN_DETECTORS}
GROUP_OF = {"email": "Contact", "phone": "Contact", "postcode": "Contact",
            "ni_number": "Contractual", "payment_card": "Banking"}

# --------------------------------------------------------------------------- source data
# What the swept systems hold. None of these values may reach the report.
CRM_CUSTOMERS = {
    "email": ["maya.okafor@example.com", "tom.reyes@example.co.uk", "ops@example.com",
              "not-an-address", "jo.baptiste@example.com"],
    "mobile": ["07700 900123", "07700 900456", "01632 960001", "", "07700 900789"],
    "order_ref": ["ORD-0770090012", "ORD-0770090013", "ORD-0770090014", "ORD-1", "ORD-2"],
}
CRM_NOTES = {"note": ["Rang Maya Okafor on 07700 900123 about her NI AB123456C",
                      "Tom asked us to post to SW1A 1AA", "nothing here", "ok", "chased"]}
SHARE_FILES = {
    "hr/contracts/okafor-contract.txt":
        "Employee: Maya Okafor\nNI number AB123456C\nHome phone 01632 960123\n"
        "E-mail maya.okafor@example.com\n",
    "finance/old exports/list.csv": "name,email\nTom Reyes,tom.reyes@example.co.uk\n",
}
BUCKET_OBJECTS = {"exports/2026/leads.csv": "Jo Baptiste,jo.baptiste@example.com,07700 900789\n"}
PERSONAL_VALUES = ["maya.okafor@example.com", "tom.reyes@example.co.uk", "jo.baptiste@example.com",
                   "07700 900123", "07700900123", "07700 900456", "07700 900789", "01632 960123",
                   "01632 960001", "AB123456C", "SW1A 1AA", "Maya Okafor", "Okafor@",
                   "Tom Reyes", "Jo Baptiste"]

HOSTILE = ("<script>document.title='PWNED';"
           "document.documentElement.setAttribute('data-pwned','1')</script>")
HOSTILE_IMG = "<img src=x onerror=\"document.title='PWNED'\">"


def _pieces(text: str) -> set[str]:
    """Lines, comma-separated fields, words and word pairs: a crude text scan, enough for
    the detectors to see every value planted here."""
    out: set[str] = set()
    for line in text.splitlines():
        words = line.split()
        out |= {line, *line.split(","), *words}
        out |= {f"{a} {b}" for a, b in itertools.pairwise(words)}
    return {p.strip(",:") for p in out if p.strip(",:")}


def _holds(detector: str, value: str, column: str) -> bool:
    return DETECTORS[detector].matches(value, column) or any(
        DETECTORS[detector].matches(p) for p in _pieces(value))


def _column_entry(system: str, table: str, column: str, values: list[str], *,
                  searched: bool = True, because: str | None = None) -> Entry | None:
    matches = {name: sum(1 for v in values if _holds(name, v, column)) for name in GROUP_OF}
    matches = {k: v for k, v in matches.items() if v}
    if not matches:
        return None
    detectors = sorted(matches, key=lambda k: -matches[k])
    matched = sum(1 for v in values if any(_holds(d, v, column) for d in matches))
    share = matched / len(values)
    return Entry(system=system, container=f"{table}.{column}", kind="column",
                 categories=sorted({GROUP_OF[d] for d in detectors}), detectors=detectors,
                 confidence="high" if share >= 0.6 else "medium" if share >= 0.3 else "low",
                 sampled=len(values), matched=matched, searched=searched,
                 not_searched_because=because, matches=matches, unit=table)


def _text_entry(system: str, path: str, text: str, kind: str, *, searched: bool = True,
                because: str | None = None) -> Entry | None:
    matches = {name: len({p for p in _pieces(text) if DETECTORS[name].matches(p)})
               for name in GROUP_OF}
    matches = {k: v for k, v in matches.items() if v}
    if not matches:
        return None
    detectors = sorted(matches, key=lambda k: -matches[k])
    return Entry(system=system, container=path, kind=kind,
                 categories=sorted({GROUP_OF[d] for d in detectors}), detectors=detectors,
                 confidence="medium", sampled=len(text.encode()),
                 matched=sum(matches.values()), sample_unit="bytes", searched=searched,
                 not_searched_because=because, matches=matches, unit=path)


def source_datamap() -> DataMap:
    entries = [
        *(_column_entry("crm", "customers", c, v) for c, v in CRM_CUSTOMERS.items()),
        _column_entry("crm", "call_notes", "note", CRM_NOTES["note"], searched=False,
                      because="free-text column: not an identity or link column"),
        _text_entry("share", "hr/contracts/okafor-contract.txt",
                    SHARE_FILES["hr/contracts/okafor-contract.txt"], "file"),
        _text_entry("share", "finance/old exports/list.csv",
                    SHARE_FILES["finance/old exports/list.csv"], "file", searched=False,
                    because="folder finance/old exports/ is excluded from request search"),
        _text_entry("bucket", "exports/2026/leads.csv",
                    BUCKET_OBJECTS["exports/2026/leads.csv"], "object"),
    ]
    return DataMap(
        entries=[e for e in entries if e is not None],
        unreadable=[Unreadable("share", "hr/payroll/2025.xlsx", "file",
                               "permission denied"),
                    Unreadable("bucket", "exports/2026/archive.zip", "object",
                               "encrypted archive: cannot be sampled")],
        systems=[SystemSummary("crm", "ok", units=2, unchanged=3, seconds=1.25),
                 SystemSummary("share", "ok", units=2, unchanged=0, unreadable=1,
                               seconds=0.4),
                 SystemSummary("bucket", "ok", units=1, unchanged=7, unreadable=1,
                               seconds=2.0)],
        sweep={"id": "sw-20261129-01", "started": "2026-11-29T13:00:00Z",
               "finished": "2026-11-29T13:00:04Z", "full": False})


def text_of(html: str) -> str:
    """The page's text with tags dropped and whitespace collapsed, as a reader sees it."""
    class Text(HTMLParser):
        def __init__(self) -> None:
            super().__init__(convert_charrefs=True)
            self.parts: list[str] = []
            self.skip = False

        def handle_starttag(self, tag: str, attrs: object) -> None:
            self.skip = tag in ("style", "title")
            self.parts.append(" ")

        def handle_endtag(self, tag: str) -> None:
            self.skip = False
            self.parts.append(" ")

        def handle_data(self, data: str) -> None:
            if not self.skip:
                self.parts.append(data)

    parser = Text()
    parser.feed(html)
    return " ".join("".join(parser.parts).split())


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def tags_of(html: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    parser = Tags()
    parser.feed(html)
    return parser.tags


ALLOWED_TAGS = {"html", "head", "meta", "title", "style", "body", "header", "footer", "section",
                "h1", "h2", "h3", "h4", "p", "br", "span", "table", "thead", "tbody", "tfoot",
                "tr", "th", "td"}
ALLOWED_ATTRS = {"lang", "charset", "http-equiv", "content", "name", "class", "colspan"}


# --------------------------------------------------------------------------- unit tests

def test_structure_and_self_contained() -> None:
    html = render_html(source_datamap())
    assert html.startswith("<!doctype html>")
    tags = tags_of(html)
    assert {t for t, _ in tags} <= ALLOWED_TAGS
    assert {a for _, attrs in tags for a, _ in attrs} <= ALLOWED_ATTRS
    # Nothing to fetch, nothing to run.
    for needle in ("://", "url(", "@import", "<script", "<link", "<img", "src=", "href=",
                   "javascript:", "@font-face"):
        assert needle not in html.lower(), needle
    csp = [dict(a) for t, a in tags if t == "meta" and ("http-equiv", "Content-Security-Policy")
           in a]
    assert csp and "default-src 'none'" in (csp[0]["content"] or "")
    assert "@media print" in html
    assert [t for t, _ in tags].count("h1") == 1


def test_header_summary_and_counts() -> None:
    datamap = source_datamap()
    text = text_of(render_html(datamap, title="Acme Ltd data map"))
    assert text.startswith("Acme Ltd data map Sweep sw-20261129-01 from 2026-11-29T13:00:00Z "
                           "to 2026-11-29T13:00:04Z. Incremental sweep: only places changed")
    assert (f"Personal data found in {len(datamap.entries)} places across 3 of 3 systems. "
            "2 places would not be found by a request search. 2 places could not be read."
            in text)
    # Systems: status, read, unchanged, unreadable, places found, seconds.
    assert "crm ok 2 3 0 3 1.2" in text  # 1.25 s, rounded half to even
    assert "share ok 2 0 1 2 0.4" in text
    assert "bucket ok 1 7 1 1 2.0" in text
    assert "Total time 3.6" in text or "Total time 3.7" in text
    datamap.systems.append(SystemSummary("calls", "failed", error="cannot connect"))
    assert (f"Personal data found in {len(datamap.entries)} places across 3 of 4 systems. "
            "Not read: 1 system failed. 2 places would not be found") in text_of(
        render_html(datamap))
    # Data groups -> places.
    groups = datamap.categories()
    assert groups == {"Contact": 6, "Contractual": 2}
    assert "Data group Places Systems Contact 6 bucket, crm, share Contractual 2 crm, share" \
        in text


def test_places_grouped_for_reading() -> None:
    text = text_of(render_html(source_datamap()))
    # Columns under their table, with detector counts, confidence and sampled/matched values.
    assert ("Table customers Column Data groups Detectors Confidence Sampled Matched "
            "email Contact email (4) high 5 values 4 values (80%) "
            "mobile Contact phone (4) high 5 values 4 values (80%)") in text
    assert "order_ref" not in text  # the look-alike order numbers matched nothing
    assert "Table call_notes" in text
    assert "note not searched by requests Contact, Contractual" in text
    # Files under their folder, text counted in bytes and matches.
    contract = len(SHARE_FILES["hr/contracts/okafor-contract.txt"].encode())
    assert "Folder hr/contracts/ File Data groups" in text
    assert re.search(rf"okafor-contract\.txt Contact, Contractual .*? medium "
                     rf"{contract} bytes \d+ matches", text)
    assert "Folder finance/old exports/" in text
    # Objects under their prefix.
    assert "Prefix exports/2026/ Object" in text
    # Systems in the sweep's order.
    assert text.index("System crm") < text.index("System share") < text.index("System bucket")


def test_coverage_sections() -> None:
    text = text_of(render_html(source_datamap()))
    gap = text[text.index("Personal data a request search would not find"):
               text.index("Could not be read")]
    assert ("crm call_notes.note column Contact, Contractual" in gap
            and "free-text column: not an identity or link column" in gap)
    assert ("share finance/old exports/list.csv file Contact medium folder finance/old "
            "exports/ is excluded from request search") in gap
    unread = text[text.index("Could not be read"):]
    assert "bucket exports/2026/archive.zip object encrypted archive: cannot be sampled" in unread
    assert "share hr/payroll/2025.xlsx file permission denied" in unread


def test_no_personal_value_in_the_page() -> None:
    datamap = source_datamap()
    html = render_html(datamap)
    assert datamap.entries and all(e.matched for e in datamap.entries)
    for value in PERSONAL_VALUES:
        assert value.lower() not in html.lower(), "a personal value reached the report"


def test_hostile_names_are_escaped() -> None:
    datamap = DataMap(
        entries=[Entry(system=HOSTILE, container=f"{HOSTILE}.{HOSTILE_IMG}", kind="column",
                       categories=[HOSTILE], detectors=[HOSTILE_IMG], confidence=HOSTILE,
                       sampled=3, matched=1, searched=False, not_searched_because=HOSTILE_IMG,
                       matches={HOSTILE_IMG: 1}, unit=HOSTILE),
                 Entry(system="share", container=f"a/{HOSTILE_IMG}/b\"&'.txt", kind=HOSTILE,
                       categories=["Contact"], detectors=["email"], confidence="low",
                       sampled=10, matched=1, sample_unit=HOSTILE)],
        unreadable=[Unreadable(HOSTILE, HOSTILE_IMG, HOSTILE, HOSTILE)],
        systems=[SystemSummary(HOSTILE, HOSTILE, units=1, error=HOSTILE_IMG)],
        sweep={"id": HOSTILE, "started": HOSTILE_IMG, "full": True})
    html = render_html(datamap, title=HOSTILE)
    assert "<script" not in html.lower() and "<img" not in html.lower()
    tags = tags_of(html)
    assert {t for t, _ in tags} <= ALLOWED_TAGS
    assert {a for _, attrs in tags for a, _ in attrs} <= ALLOWED_ATTRS
    # Class names are the report's own, never taken from the data.
    classes = {c for _, attrs in tags for a, v in attrs if a == "class" for c in (v or "").split()}
    assert classes <= {"places", "gap", "unread", "meta", "lede", "note", "num", "name", "conf",
                       "conf-high", "conf-medium", "conf-low", "status", "status-ok",
                       "status-failed", "status-skipped", "status-other", "flag", "error"}
    # The names are still there, as text.
    assert "&lt;script&gt;document.title=&#x27;PWNED&#x27;" in html
    assert text_of(html).count(HOSTILE) >= 8
    assert HOSTILE_IMG in text_of(html)


def test_empty_map() -> None:
    datamap = DataMap(systems=[SystemSummary("crm", "ok", units=4, seconds=0.2),
                               SystemSummary("share", "ok", units=0, unchanged=9),
                               SystemSummary("bucket", "ok", units=2)],
                      sweep={"id": "sw-empty", "started": 1_796_000_000.0, "full": True})
    text = text_of(render_html(datamap))
    assert "No personal data found in 3 systems." in text
    assert "Sweep sw-empty at 2026-11-30 00:53:20 UTC. Full sweep: every place" in text
    assert "No personal data was found, so no data group applies." in text
    assert text.count("No personal data found.") == 3  # once per system
    assert "None: a request search looks at every place" in text
    assert "None: every place listed was read." in text


def test_empty_map_says_which_systems_failed() -> None:
    datamap = DataMap(systems=[SystemSummary("crm", "ok", units=4),
                               SystemSummary("files", "failed",
                                             error="cannot connect: timed out"),
                               SystemSummary("calls", "skipped")])
    text = text_of(render_html(datamap))
    assert ("No personal data found in 1 system. Not read: 1 system failed and 1 system cannot "
            "be sampled.") in text
    assert "Not read: the sweep failed: cannot connect: timed out." in text
    assert "Not read: cannot be sampled: its connector has no sampling for sweeps." in text
    unread = text[text.index("Could not be read"):]
    assert ("files the whole system system the sweep failed: cannot connect: timed out "
            "calls the whole system system cannot be sampled") in unread
    assert "files failed cannot connect: timed out" in text
    assert "No systems were swept." in text_of(render_html(DataMap()))


def test_confidence_styles_and_units() -> None:
    entries = [Entry("db", f"t.c_{level}", "column", ["Contact"], ["email"], level,
                     sampled=10_000, matched=n, matches={"email": n}, unit="t")
               for level, n in (("high", 9_500), ("medium", 1_200), ("low", 3))]
    entries.append(Entry("db", "sales.public.orders.notes", "column", ["Contact"], ["phone"],
                         "low", sampled=1, matched=1, unit="sales.public.orders"))
    entries.append(Entry("fs", "readme.txt", "file", [], ["ip_address"], "low",
                         sampled=48_213, matched=17, sample_unit="bytes"))
    html = render_html(DataMap(entries=entries, systems=[SystemSummary("db", "ok")]))
    for level in ("high", "medium", "low"):
        assert f'<span class="conf conf-{level}">{level}</span>' in html
    text = text_of(html)
    assert "c_high Contact email (9,500) high 10,000 values 9,500 values (95%)" in text
    assert "c_medium Contact email (1,200) medium 10,000 values 1,200 values (12%)" in text
    assert "c_low Contact email (3) low 10,000 values 3 values (0%)" in text
    assert "Table sales.public.orders Column" in text and "notes Contact phone low 1 value" in text
    assert "Folder (top level) File" in text
    assert "readme.txt — ip_address low 48,213 bytes 17 matches" in text
    assert "1 place matched no data group in policy.toml." in text
    assert "System fs" in text  # named only by an entry, still shown


# --------------------------------------------------------------------------- Chromium

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail("headless Chromium is needed for the report's render test and is not "
                    "installed: apt-get install chromium chromium-driver (Debian packages; the "
                    "README's test command installs them)")
    profile = tmp_path / "profile"
    profile.mkdir(exist_ok=True)
    # Flags from ../shared/SERVICES.md: no network chatter, a throwaway profile.
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
               "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-first-run", "--disable-extensions",
               f"--user-data-dir={profile}", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, f"chromium failed ({done.returncode}): {done.stderr[-2000:]}"
    return done


@pytest.fixture
def hostile_report(tmp_path: Path) -> Path:
    datamap = source_datamap()
    # A column whose name is markup, in a table whose name is a script.
    datamap.entries.append(Entry("crm", f"{HOSTILE}.{HOSTILE_IMG}", "column", ["Contact"],
                                 ["email"], "high", sampled=5, matched=5, unit=HOSTILE))
    datamap.unreadable.append(Unreadable("share", HOSTILE_IMG, "file", "unsupported format"))
    path = tmp_path / "report.html"
    path.write_text(render_html(datamap, title=f"Acme data map {HOSTILE}"), encoding="utf-8")
    return path


def test_chromium_renders_the_dom(tmp_path: Path, hostile_report: Path) -> None:
    started = time.monotonic()
    dom = chromium(tmp_path, "--virtual-time-budget=2000", "--dump-dom",
                   hostile_report.as_uri()).stdout
    assert "</html>" in dom, "chromium printed no DOM"
    # The hostile names stayed text: no script ran, no element came from them.
    assert "<script" not in dom.lower() and "<img" not in dom.lower()
    assert not re.search(r"<html[^>]*data-pwned", dom) and "<title>PWNED" not in dom
    text = text_of(dom)
    assert HOSTILE in text and HOSTILE_IMG in text
    for expected in ("System crm", "System share", "System bucket", "Table customers",
                     "email Contact email (4) high 5 values 4 values (80%)",
                     "Contact 7 bucket, crm, share", "Contractual 2 crm, share",
                     "Personal data a request search would not find",
                     "free-text column: not an identity or link column",
                     "Could not be read", "encrypted archive: cannot be sampled",
                     "permission denied", "sw-20261129-01"):
        assert expected in text, expected
    for value in PERSONAL_VALUES:
        assert value.lower() not in dom.lower(), "a personal value reached the rendered page"
    assert time.monotonic() - started < 15


def test_chromium_prints_the_report(tmp_path: Path, hostile_report: Path) -> None:
    """Printed to PDF (the DPO's copy): the text a reader sees, read back from the PDF."""
    pdf = tmp_path / "report.pdf"
    chromium(tmp_path, "--no-pdf-header-footer", f"--print-to-pdf={pdf}",
             hostile_report.as_uri())
    document = pdfium.PdfDocument(str(pdf))
    try:
        pages = [document[i].get_textpage().get_text_range() for i in range(len(document))]
    finally:
        document.close()
    text = " ".join(" ".join(pages).split())
    assert 1 <= len(pages) <= 4, f"{len(pages)} printed pages"
    for expected in ("Acme data map", "Systems swept", "Data groups", "Contractual",
                     "Personal data a request search would not find", "Could not be read",
                     "okafor-contract.txt", "exports/2026/", "Incremental sweep",
                     "PWNED"):  # the hostile title, printed as text
        assert expected in text, expected
    for value in PERSONAL_VALUES:
        assert value.lower() not in text.lower(), "a personal value reached the printed page"
