"""`dsr suppress add|check|export|screen`: the do-not-contact list on the command line.

Real CSV files of thousands of generated rows (Ofcom drama-range numbers, example.com
addresses), a real SQLite state store, and one run against a PostgreSQL state store.
"""

from __future__ import annotations

import csv
import io
import json
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from agent.cli import main
from agent.identifiers import phone_variants
from agent.keys import DigestKey
from agent.models import Identifier
from agent.store import Store
from agent.suppression import StoreSuppressionList

LISTED_MOBILES = [f"+4477009000{n:02d}" for n in range(20)]  # 07700 900000-900019
LISTED_LANDLINES = [f"+4416329600{n:02d}" for n in range(10)]  # 01632 960000-960009
LISTED_EMAILS = [f"listed.person{n}@example.com" for n in range(20)]
HEADER = ["Name", "Email Address", "Mobile", "Landline", "Post Code"]

Run = Callable[..., tuple[int, str, str]]




@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], config: Path) -> Run:
    def invoke(*args: str) -> tuple[int, str, str]:
        code = main(["--log-level", "warning", *args])
        out, err = capsys.readouterr()
        return code, out, err
    return invoke


def _list_everyone(run: Run) -> None:
    args: list[str] = []
    for email in LISTED_EMAILS:
        args += ["--email", email]
    for phone in LISTED_MOBILES + LISTED_LANDLINES:
        args += ["--phone", phone]
    code, out, _ = run("suppress", "add", *args, "--reason", "object", "--json")
    assert code == 0
    assert json.loads(out)["added"] == len(args) // 2


def _writings(e164: str) -> list[str]:
    """Every way people write a UK number, including Excel's lost leading zero."""
    trunk = "0" + e164[3:]
    return [*phone_variants(e164), trunk[1:], f"tel:{e164}", f" {trunk} ",
            f"({trunk[:5]}) {trunk[5:]}", f"{trunk[:5]}.{trunk[5:8]}.{trunk[8:]}"]


def _email_cases(email: str) -> list[str]:
    local, domain = email.split("@")
    return [email.upper(), email.title(), f"  {email} ", f"{local.capitalize()}@{domain.upper()}",
            f"Listed Person <{email}>", f"mailto:{email}"]


def _filler_phone(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return f"07700 900{rng.randrange(100, 1000):03d}"
    return f"01632 960{rng.randrange(100, 1000):03d}"


def _write(path: Path, rows: list[list[str]], *, header: list[str] = HEADER,
           encoding: str = "utf-8", **fmt: object) -> None:
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle, **fmt)  # type: ignore[arg-type]
        writer.writerow(header)
        writer.writerows(rows)


def _read(path: Path, encoding: str = "utf-8") -> list[list[str]]:
    with path.open(encoding=encoding, newline="") as handle:
        return list(csv.reader(handle))


def test_add_check_round_trip_matches_any_writing(run: Run) -> None:
    code, out, _ = run("suppress", "add", "--email", "Jo.Bloggs@Example.com", "--phone",
                       "07700 900123", "--name", "Mrs Jo Bloggs", "--postcode", "sw1a1aa",
                       "--json")
    assert code == 0
    assert json.loads(out) == {"added": 3, "already_listed": 0,
                               "types": ["email", "name_postcode", "phone"]}
    code, out, _ = run("suppress", "add", "--phone", "+44 7700 900123", "--json")
    assert code == 0 and json.loads(out)["added"] == 0  # the same number, written otherwise

    code, out, _ = run("suppress", "check", "--email", " JO.BLOGGS@example.COM ", "--phone",
                       "0044 (0)7700-900-123", "--phone", "01632 960123", "--name",
                       "Bloggs, Jo", "--postcode", "SW1A 1AA", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["listed"] is True
    assert [(c["type"], c["listed"]) for c in data["checked"]] == [
        ("email", True), ("phone", True), ("phone", False), ("name_postcode", True)]
    entry = data["checked"][0]["entry"]
    assert entry["reason"] == "manual" and len(entry["digest"]) == 64 and entry["key_id"]
    assert "bloggs" not in out.lower() and "900123" not in out

    code, out, _ = run("suppress", "check", "--email", "someone.else@example.com")
    assert code == 0 and "listed: false" in out and "someone" not in out


def test_check_and_add_refuse_bad_input_without_echoing_it(run: Run) -> None:
    code, _, err = run("suppress", "check", "--email", "jo.bloggs-at-example.com")
    assert code == 1 and "invalid email" in err and "bloggs" not in err
    code, _, err = run("suppress", "add", "--phone", "07700 9001")
    assert code == 1 and "invalid phone" in err and "9001" not in err
    code, _, err = run("suppress", "check", "--name", "Jo Bloggs")
    assert code == 2 and "--postcode" in err
    code, _, err = run("suppress", "add")
    assert code == 2 and "at least one" in err
    code, _, err = run("suppress", "add", "--email", "jo@example.com", "--reason",
                       "jo@example.com")
    assert code == 2 and "--reason" in err
    # nothing was half-added by the refused commands
    code, out, _ = run("suppress", "export")
    assert code == 0 and out == ""


def test_export_has_digests_never_values(run: Run, tmp_path: Path) -> None:
    _list_everyone(run)
    run("suppress", "add", "--name", "Ann Example", "--postcode", "EC1A 1BB", "--request",
        "R-20261129-abc123", "--reason", "erasure")
    code, out, _ = run("suppress", "export")
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert len(lines) == len(LISTED_EMAILS) + len(LISTED_MOBILES) + len(LISTED_LANDLINES) + 1
    assert {tuple(sorted(e)) for e in lines} == {
        ("added_at", "digest", "key_id", "reason", "request_id", "type")}
    assert {e["type"] for e in lines} == {"email", "phone", "name_postcode"}
    assert next(e for e in lines if e["request_id"])["reason"] == "erasure"

    target = tmp_path / "export.jsonl"
    code, out, _ = run("suppress", "export", "--out", str(target), "--json")
    assert code == 0 and json.loads(out) == {"written": str(target), "entries": len(lines)}
    exported = target.read_text()
    assert exported.splitlines() == [json.dumps(e) for e in lines]
    state = (tmp_path / "state.sqlite").read_bytes() + exported.encode()
    for value in [*LISTED_EMAILS, *LISTED_MOBILES, *LISTED_LANDLINES, "ann example",
                  "EC1A 1BB", "listed.person", "77009000"]:
        assert value.encode() not in state, value


def test_screen_drops_every_writing_of_listed_phones_and_emails(run: Run, tmp_path: Path
                                                               ) -> None:
    _list_everyone(run)
    rng = random.Random(7)
    rows: list[list[str]] = []
    listed_rows: list[list[str]] = []
    for e164 in LISTED_MOBILES + LISTED_LANDLINES:
        for writing in _writings(e164):
            column = 2 if e164.startswith("+447") else 3
            row = ["Listed Person", "", "", "", "EC1A 1BB"]
            row[column] = writing
            listed_rows.append(row)
    for email in LISTED_EMAILS:
        listed_rows += [["Listed Person", case, "", "", ""] for case in _email_cases(email)]
    # listed number in the landline column, two numbers in one cell
    listed_rows.append(["Two Numbers", "", "", f"01632 960555 / 0{LISTED_MOBILES[3][3:]}", ""])
    for n in range(3000):
        rows.append([f"Filler Person{n}", f"filler{n}@example.com", _filler_phone(rng),
                     _filler_phone(rng) if n % 3 else "", "EC1A 1BB"])
    # look-alikes: one digit off, listed address as a substring, kept
    lookalikes = [["Near Miss", "", "07700 900020", "", ""],
                  ["Near Miss", "xlisted.person1@example.com", "", "", ""],
                  ["Near Miss", "listed.person1@example.co.uk", "", "", ""]]
    everything = rows + listed_rows + lookalikes
    rng.shuffle(everything)
    source, clean, removed = tmp_path / "bought.csv", tmp_path / "clean.csv", tmp_path / "rm.csv"
    _write(source, everything)

    code, out, err = run("suppress", "screen", str(source), "--out", str(clean), "--removed",
                         str(removed), "--json")
    assert code == 0, err
    report = json.loads(out)
    kept, gone = _read(clean), _read(removed)
    assert kept[0] == gone[0] == HEADER
    assert sorted(map(tuple, gone[1:])) == sorted(map(tuple, listed_rows))
    assert sorted(map(tuple, kept[1:])) == sorted(map(tuple, rows + lookalikes))
    assert report["rows"] == len(everything)
    assert report["kept"] == len(rows) + len(lookalikes)
    assert report["dropped"] == len(listed_rows)
    assert report["dropped_by"]["email"] == len(LISTED_EMAILS) * 6
    assert report["dropped_by"]["name_postcode"] == 0
    assert report["columns"] == {"email": ["Email Address"], "phone": ["Mobile", "Landline"],
                                 "name": ["Name"], "postcode": ["Post Code"]}
    assert report["encoding"] == "utf-8" and report["delimiter"] == ","
    assert removed.stat().st_mode & 0o777 == 0o600


def test_name_postcode_rule_keeps_same_name_rows_with_their_own_contacts(run: Run,
                                                                        tmp_path: Path) -> None:
    run("suppress", "add", "--name", "Jane Doe", "--postcode", "SW1A 1AA")
    header = ["Title", "First Name", "Surname", "E-mail", "Tel", "Postcode"]
    dropped = [["", "Jane", "Doe", "", "", "SW1A 1AA"],
               ["Mrs", "JANE", "DOE", "", "", "sw1a1aa"],
               ["", "Jane", "Doe", "n/a", "", "SW1A  1AA"],
               ["", "Jane", "Doe", "not an address", "", "SW1A 1AA"]]
    kept = [["", "Jane", "Doe", "jane.other@example.com", "", "SW1A 1AA"],
            ["", "Jane", "Doe", "", "07700 900777", "SW1A 1AA"],
            ["", "Jane", "Doe", "", "", "SW1A 2AA"],
            ["", "Janet", "Doe", "", "", "SW1A 1AA"],
            ["", "Jane", "Doe", "", "", ""]]
    rows = [[f"Mx{n}", "Pat", f"Filler{n}", "", _filler_phone(random.Random(n)), "EC1A 1BB"]
            for n in range(2000)] + dropped + kept
    source, clean = tmp_path / "list.csv", tmp_path / "clean.csv"
    _write(source, rows, header=header)
    code, out, err = run("suppress", "screen", str(source), "--out", str(clean), "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["dropped_by"] == {"email": 0, "phone": 0, "name_postcode": len(dropped)}
    assert report["unparseable"]["email"] == 1
    assert report["columns"]["name"] == ["First Name", "Surname"]
    assert _read(clean)[1:] == rows[:2000] + kept

    # a full-name column given by flag, written surname first
    source.write_text("Customer,Where,Notes\n\"Doe, Jane\",SW1A 1AA,x\nJohn Doe,SW1A 1AA,y\n")
    code, _, err = run("suppress", "screen", str(source), "--out", str(clean), "--name-col",
                       "customer", "--postcode-col", "where")
    assert code == 0 and "kept 1, dropped 1" in err
    assert clean.read_text() == "Customer,Where,Notes\nJohn Doe,SW1A 1AA,y\n"


def test_column_flags_by_header_or_number(run: Run, tmp_path: Path) -> None:
    _list_everyone(run)
    source, clean = tmp_path / "odd.csv", tmp_path / "clean.csv"
    header = ["ref", "Contact 1", "Contact 2", "notes"]
    rows = [[str(n), f"person{n}@example.com", _filler_phone(random.Random(n)), "x"]
            for n in range(1500)]
    rows += [["L1", LISTED_EMAILS[0].upper(), "", "x"], ["L2", "", LISTED_MOBILES[0], "x"]]
    _write(source, rows, header=header)

    code, _, err = run("suppress", "screen", str(source), "--out", str(clean))
    assert code == 1
    assert "no e-mail, phone, or name and postcode column" in err
    assert "'Contact 1', 'Contact 2'" in err and not clean.exists()

    code, out, err = run("suppress", "screen", str(source), "--out", str(clean), "--email-col",
                         "CONTACT 1", "--phone-col", "3", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["dropped_by"] == {"email": 1, "phone": 1, "name_postcode": 0}
    assert report["columns"]["email"] == ["Contact 1"]
    assert report["columns"]["phone"] == ["Contact 2"]
    assert _read(clean)[1:] == rows[:1500]

    code, _, err = run("suppress", "screen", str(source), "--out", str(clean), "--email-col",
                       "Work Email")
    assert code == 1 and "no column 'Work Email' for --email-col" in err


@pytest.mark.parametrize(("encoding", "fmt", "terminator"), [
    ("cp1252", {"delimiter": ";", "quoting": csv.QUOTE_ALL}, "\r\n"),
    ("utf-8-sig", {"delimiter": "\t"}, "\n"),
    ("utf-8", {"delimiter": "|", "quoting": csv.QUOTE_NONNUMERIC}, "\r\n"),
])
def test_screen_keeps_dialect_encoding_and_quoting(run: Run, tmp_path: Path, encoding: str,
                                                  fmt: dict[str, object], terminator: str
                                                  ) -> None:
    _list_everyone(run)
    header = ["Nom", "Email", "Phone Number", "Credit £", "Notes"]
    rows: list[list[object]] = []
    for n in range(1200):
        rows.append([f"Zoë Café{n}", f"zoe{n}@example.com", _filler_phone(random.Random(n)),
                     n, "line one\nline \"two\"; £5, é" if n % 100 == 0 else "ok"])
    drop_at = {17, 640, 1199}
    for n in drop_at:
        rows[n][2] = _writings(LISTED_MOBILES[n % 20])[n % 5]
    source, clean = tmp_path / "in.csv", tmp_path / "out.csv"
    _write(source, rows, header=header, encoding=encoding, lineterminator=terminator, **fmt)
    code, out, err = run("suppress", "screen", str(source), "--out", str(clean), "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["encoding"] == encoding and report["dropped"] == len(drop_at)

    expected = tmp_path / "expected.csv"
    _write(expected, [r for n, r in enumerate(rows) if n not in drop_at], header=header,
           encoding=encoding, lineterminator=terminator, **fmt)
    assert clean.read_bytes() == expected.read_bytes()


def test_old_mac_line_endings_and_a_quoted_carriage_return(run: Run, tmp_path: Path) -> None:
    _list_everyone(run)
    source, clean = tmp_path / "mac.csv", tmp_path / "clean.csv"
    body = (f'Phone,Notes\r07700 900500,"a\rb"\r{LISTED_MOBILES[1]},x\r'
            f'01632 960500,"c\r\nd"')
    source.write_bytes(body.encode("cp1252"))
    code, _, err = run("suppress", "screen", str(source), "--out", str(clean))
    assert code == 0 and "kept 2, dropped 1" in err
    assert clean.read_bytes() == b'Phone,Notes\r07700 900500,"a\rb"\r01632 960500,"c\r\nd"'


def test_bad_input_gives_clear_errors_and_no_half_file(run: Run, tmp_path: Path) -> None:
    _list_everyone(run)
    clean = tmp_path / "clean.csv"
    code, _, err = run("suppress", "screen", str(tmp_path / "missing.csv"), "--out", str(clean))
    assert code == 1 and "missing.csv: no such file" in err
    code, _, err = run("suppress", "screen", str(tmp_path), "--out", str(clean))
    assert code == 1 and "not a file" in err

    broken = tmp_path / "broken.csv"
    lines = ["Email,Phone"] + [f"p{n}@example.com,07700 900{n:03d}" for n in range(100, 900)]
    lines[700] = 'p700@example.com,"07700 900700"x'  # text after a closing quote
    broken.write_text("\n".join(lines) + "\n")
    clean.write_text("the previous clean list\n")
    code, _, err = run("suppress", "screen", str(broken), "--out", str(clean))
    assert code == 1 and "broken.csv: line 701: not valid CSV" in err
    assert clean.read_text() == "the previous clean list\n"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []

    unterminated = tmp_path / "open.csv"
    unterminated.write_text('Email,Notes\na@example.com,"never closed\nb@example.com,x\n')
    code, _, err = run("suppress", "screen", str(unterminated), "--out", str(clean))
    assert code == 1 and "line 2: not valid CSV" in err

    headerless = tmp_path / "headerless.csv"
    headerless.write_text("jo@example.com,07700 900555\nal@example.com,07700 900556\n")
    code, _, err = run("suppress", "screen", str(headerless), "--out", str(clean))
    assert code == 1 and "looks like data, not a header row" in err and "jo@" not in err

    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    code, _, err = run("suppress", "screen", str(empty), "--out", str(clean))
    assert code == 1 and "empty file" in err

    bad_utf8 = tmp_path / "bad.csv"
    bad_utf8.write_bytes(b"Email,Name\na@example.com,Zo\xc3\xab\nb@example.com,Zo\xeb\n")
    code, _, err = run("suppress", "screen", str(bad_utf8), "--out", str(clean), "--encoding",
                       "utf-8")
    assert code == 1 and "line 3: not UTF-8 text" in err

    code, _, err = run("suppress", "screen", str(broken), "--out", str(broken))
    assert code == 1 and "must not be the input" in err
    code, _, err = run("suppress", "screen", str(headerless), "--out",
                       str(tmp_path / "nowhere" / "clean.csv"))
    assert code == 1 and "no such directory" in err
    code, _, err = run("suppress", "screen", str(headerless), "--out", str(clean), "--removed",
                       str(tmp_path / "nowhere" / "removed.csv"))
    assert code == 1 and "no such directory" in err
    assert clean.read_text() == "the previous clean list\n"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_entries_a_request_added_screen_out_bought_rows(config: Path, tmp_path: Path,
                                                       run: Run) -> None:
    """The workflow adds normalised identifiers; screening must match them."""
    store = Store(f"sqlite:///{tmp_path / 'state.sqlite'}",
                  DigestKey.load_or_create(tmp_path / "keys" / "hmac.key"))
    added = StoreSuppressionList(store).add(
        [Identifier("email#1", "email", "hana.q@example.com"),
         Identifier("phone#1", "phone", "+441632960321"),
         Identifier("name#1", "name", "hana q")], request_id="R-1", reason="erasure")
    store.close()
    assert added == 2  # a name alone is not a contact identifier
    source, clean = tmp_path / "in.csv", tmp_path / "out.csv"
    source.write_text("Email,Telephone\nHana.Q@example.com,\n,(01632) 960321\n,01632 960322\n")
    code, out, _ = run("suppress", "screen", str(source), "--out", str(clean), "--json")
    assert code == 0 and json.loads(out)["kept"] == 1
    code, out, _ = run("suppress", "check", "--phone", "01632960321", "--json")
    assert json.loads(out)["checked"][0]["entry"]["request_id"] == "R-1"


def test_screen_against_a_postgresql_state_store(isolated_database, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    database = isolated_database("postgresql")
    path = tmp_path / "agent.toml"
    path.write_text(f'[agent]\nstate = "{database.url}"\nhmac_key = "keys/hmac.key"\n')
    monkeypatch.setenv("DSR_CONFIG", str(path))
    args = [arg for phone in LISTED_MOBILES for arg in ("--phone", phone)]
    assert main(["--log-level", "warning", "suppress", "add", *args]) == 0
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["email", "mobile"])
    for n in range(5000):  # several lookup batches and chunks
        phone = LISTED_MOBILES[n % 20] if n % 250 == 0 else _filler_phone(random.Random(n))
        writer.writerow([f"pg{n}@example.com", phone])
    source, clean = tmp_path / "in.csv", tmp_path / "out.csv"
    source.write_text(buffer.getvalue())
    capsys.readouterr()
    code = main(["--log-level", "warning", "suppress", "screen", str(source), "--out",
                 str(clean), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["dropped_by"]["phone"] == 20 and report["kept"] == 4980
