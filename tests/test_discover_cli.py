"""`dsr discover` end to end on the demo estate: the CRM (SQLite), the PBX (CDR + audio
tree) and a folder of letters, through the real connectors. The data map, its coverage
section, CSV and HTML; incremental reruns; a failing system; never a personal value."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from agent.cli import main
from agent.demo.calls import SYSTEM as PBX_SYSTEM
from agent.demo.calls import build_pbx
from agent.demo.config import write_config
from agent.demo.estate import build_estate
from agent.demo.manifest import Manifest

LETTERS = '''
[[systems]]
name = "letters"
url = "file:letters"
exclude = ["archive/*"]
'''
DOWN = '''
[[systems]]
name = "warehouse"
url = "postgresql://nobody@127.0.0.1:1/nothing"
'''
LETTER = ("Dear Ms Quigley,\nThank you for your call on 07700 900461. We will write to "
          "hannah.quigley@example.com with the new contract.\n")


@pytest.fixture
def estate(tmp_path: Path) -> tuple[Path, Manifest]:
    db = tmp_path / "crm.sqlite"
    manifest = build_estate(f"sqlite:///{db}")
    build_pbx(tmp_path / "phones", f"sqlite:///{db}")
    letters = tmp_path / "letters"
    (letters / "2026").mkdir(parents=True)
    (letters / "archive").mkdir()
    (letters / "2026" / "quigley.txt").write_text(LETTER)
    (letters / "archive" / "old-quigley.txt").write_text(LETTER)
    (letters / "2026" / "broken.docx").write_bytes(b"PK\x03\x04 not really a docx")
    config = write_config(tmp_path, f"sqlite:///{db.as_posix()}", extra=PBX_SYSTEM + LETTERS)
    return config, manifest


def dsr(config: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["--config", str(config), "--log-level", "warning", "discover", *args])
    out, err = capsys.readouterr()
    return code, out, err


def personal_values(manifest: Manifest) -> list[str]:
    values = [value for member in manifest.cast.values()
              for values in member.identifiers.values() for value in values]
    return [v for v in values if len(v) > 5] + ["hannah.quigley@example.com", "07700 900461"]


def test_a_sweep_maps_every_system_and_shows_what_requests_would_miss(
        estate: tuple[Path, Manifest], capsys: pytest.CaptureFixture[str],
        tmp_path: Path) -> None:
    config, manifest = estate
    html, table = tmp_path / "map.html", tmp_path / "map.csv"
    code, out, _ = dsr(config, capsys, "--json", "--html", str(html), "--csv", str(table))
    assert code == 0
    data = json.loads(out)
    assert {s["name"]: s["status"] for s in data["systems"]} == {
        "crm": "ok", "phones": "ok", "letters": "ok"}
    found: dict[str, dict[str, Any]] = {(e["system"], e["container"]): e
                                        for e in data["entries"]}
    email = found["crm", "contacts.email"]
    assert email["detectors"][0] == "email" and email["confidence"] == "high"
    assert email["categories"] == ["Contact"] and email["sampled"] == email["matched"] > 0
    # a policy [[mapping]] adds the container's group: a payment's sort code is Banking data
    # held under Transactional records
    assert found["crm", "payments.sort_code"]["categories"] == ["Banking", "Transactional"]
    assert "Communications" in found["crm", "tickets.notes"]["categories"]
    letter = found["letters", "2026/quigley.txt"]
    assert set(letter["detectors"]) >= {"email", "phone"} and letter["sample_unit"] == "bytes"
    assert any(system == "phones" and "Communications" in e["categories"]
               for (system, _), e in found.items())
    # coverage: personal data request search would not look at, and what was unreadable
    gaps = {(g["system"], g["container"]): g for g in data["coverage"]["not_searched"]}
    assert "exclude" in gaps["letters", "archive/old-quigley.txt"]["not_searched_because"]
    assert ("crm", "web_sessions.ip_address") in gaps
    unreadable = {(u["system"], u["unit"]) for u in data["coverage"]["unreadable"]}
    assert ("letters", "2026/broken.docx") in unreadable
    # the CSV has the same places; no output holds a personal value
    rows = list(csv.DictReader(io.StringIO(table.read_text())))
    assert {(r["system"], r["container"]) for r in rows} == set(found)
    page = html.read_text()
    assert "Personal data a request search would not find" in page
    everything = (out + table.read_text() + page).lower()
    leaked = [v for v in personal_values(manifest) if v.lower() in everything]
    assert not leaked, f"{len(leaked)} personal value(s) in the outputs"


def test_a_second_sweep_reads_only_what_changed(estate: tuple[Path, Manifest],
                                                capsys: pytest.CaptureFixture[str]) -> None:
    config, _ = estate
    code, out, _ = dsr(config, capsys, "--json")
    first = {s["name"]: s for s in json.loads(out)["systems"]}
    assert code == 0 and first["crm"]["units"] > 0 and first["crm"]["unchanged"] == 0
    (config.parent / "letters" / "2026" / "new.txt").write_text("Call 01632 960123 please.")
    code, out, _ = dsr(config, capsys, "--json", "--system", "letters", "--system", "crm")
    again = json.loads(out)
    systems = {s["name"]: s for s in again["systems"]}
    assert set(systems) == {"crm", "letters"}
    assert systems["crm"]["units"] == 0 and systems["crm"]["unchanged"] == first["crm"]["units"]
    assert systems["letters"]["units"] == 1  # only the new letter (the broken one is retried)
    assert any(e["container"] == "2026/new.txt" for e in again["entries"])
    assert any(e["container"] == "contacts.email" for e in again["entries"])  # kept
    code, out, _ = dsr(config, capsys, "--json", "--system", "crm", "--full")
    assert json.loads(out)["systems"][0]["unchanged"] == 0


def test_a_system_that_cannot_be_reached_fails_the_sweep_with_exit_3(
        tmp_path: Path, estate: tuple[Path, Manifest],
        capsys: pytest.CaptureFixture[str]) -> None:
    config, _ = estate
    config.write_text(config.read_text() + DOWN)
    code, out, _ = dsr(config, capsys)
    assert code == 3
    assert "warehouse" in out and "failed" in out and "cannot connect" in out
    assert "Data map" in out and "contacts" in out  # the others were swept
