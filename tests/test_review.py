"""Disclosure-review decisions (``dsr request review | decide``) honoured by the package, and
the retention of kept exports (``dsr export purge``), on a real access run of the demo estate
with a file share holding letters that name other people."""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import os
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

from agent.cli import main
from agent.config import load_config
from agent.errors import ConfigError
from agent.request import RequestError
from agent.sar import build_package
from agent.sar.redact import SubjectIds, review_table
from agent.sar.retention import purge_exports
from agent.signing import SigningKeys
from tests.request_support import Estate, make_estate

MAYA = [("email", "maya.okafor@example.com"), ("name", "Maya Okafor")]
KEPT = "share:letters/bookkeeper.txt"  # to be withheld
SHOWN = "share:letters/neighbour.txt"  # to be disclosed with consent
LETTERS = {
    "bookkeeper.txt": "Dear Maya Okafor (maya.okafor@example.com), please copy "
                      "j.bloggs.bookkeeping@example.com on invoices; her line is 01632 960123.\n",
    "neighbour.txt": "Complaint from sam.neighbour@example.com about Maya Okafor "
                     "(maya.okafor@example.com): the van blocks the drive.\n",
}
DAY = 86400


@dataclasses.dataclass
class Run:
    estate: Estate
    request_id: str

    @property
    def config(self) -> str:
        return str(self.estate.config_path)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """create, verify, plan, approve, run: an access request whose letters need review."""
    folder = tmp_path_factory.mktemp("review")
    estate = make_estate(folder / "estate", manual=False)
    letters = folder / "share" / "letters"
    letters.mkdir(parents=True)
    for name, text in LETTERS.items():
        (letters / name).write_text(text, encoding="utf-8")
    with estate.config_path.open("a", encoding="utf-8") as handle:
        handle.write(f'\n[[systems]]\nname = "share"\nconnector = "files"\n'
                     f'url = "file://{(folder / "share").as_posix()}"\n')
    workflow = estate.workflow()
    try:
        request = workflow.create("access", MAYA, actor="alice")
        workflow.verify(request.id, ["passport", "driving_licence"], by="alice")
        workflow.plan(request.id, actor="alice")
        workflow.approve(request.id, by="dpo")
        workflow.run(request.id, actor="alice")
    finally:
        workflow.close()
    keys = SigningKeys.for_config(estate.config())
    if not keys.exists():
        keys.init()
    return Run(estate, request.id)


def cli(run: Run, *args: str) -> int:
    return main(["--config", run.config, *args])


def events(run: Run, kind: str) -> list[dict[str, Any]]:
    workflow = run.estate.workflow()
    try:
        return [e for e in workflow.requests.events(run.request_id) if e["event"] == kind]
    finally:
        workflow.close()


def package(run: Run, out: Path) -> zipfile.ZipFile:
    assert cli(run, "export", run.request_id, "--out", str(out)) == 0
    return zipfile.ZipFile(out)


# ------------------------------------------------------------------ review and decide

def test_review_lists_items_without_values(run: Run,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(run, "request", "review", run.request_id, "--json") == 0
    out = capsys.readouterr().out
    items = {i["item"]: i for i in json.loads(out)["items"]}
    assert set(items) == {KEPT, SHOWN}
    assert items[KEPT]["system"] == "share" and items[KEPT]["decision"] == "pending"
    assert "other people" in items[KEPT]["why"]
    assert "example.com" not in out and "960123" not in out


def test_nothing_to_review_before_a_plan(run: Run) -> None:
    workflow = run.estate.workflow()
    try:
        fresh = workflow.create("access", MAYA, actor="alice")
        with pytest.raises(RequestError, match="no plan or export yet"):
            workflow.review(fresh.id)
        workflow.plan(fresh.id, actor="alice")
        assert workflow.review(fresh.id) == []  # the file share flags letters as it reads
        workflow.cancel(fresh.id, by="alice", reason="test done")
    finally:
        workflow.close()


def test_undecided_items_are_withheld_pending_review(run: Run, tmp_path: Path) -> None:
    archive = package(run, tmp_path / "before.zip")
    review = json.loads(archive.read("review.json"))
    assert {w["item"] for w in review["withheld"]} == {KEPT, SHOWN}
    assert all(w["decision"].startswith("pending review") for w in review["withheld"])
    assert review["disclosed"] == []
    share = json.loads(archive.read("data.json"))["systems"]["share"]
    assert all(rows == [] for rows in share.values())


def test_bad_decisions_are_refused(run: Run, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(run, "request", "decide", run.request_id, "share:letters/maya-okafor.txt",
               "--withhold", "--reason", "x", "--by", "dpo") == 1
    err = capsys.readouterr().err
    assert "no such item awaiting review" in err and "maya-okafor" not in err
    assert cli(run, "request", "decide", run.request_id, KEPT, "--withhold",
               "--by", "dpo") == 2  # no --reason
    assert cli(run, "request", "decide", run.request_id, KEPT, "--disclose",
               "--reason", "x", "--by", "dpo") == 2  # disclose takes --consent
    assert cli(run, "request", "decide", run.request_id, KEPT, "--withhold",
               "--reason", "x") == 2  # no --by
    assert events(run, "review_decision") == []


def test_decisions_are_recorded_and_the_package_honours_them(
        run: Run, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(run, "request", "decide", run.request_id, KEPT, "--withhold", "--reason",
               "names the bookkeeper; no consent", "--by", "dpo", "--json") == 0
    assert json.loads(capsys.readouterr().out)["decision"] == "withhold"
    assert cli(run, "request", "decide", run.request_id, SHOWN, "--disclose", "--consent",
               "neighbour agreed by e-mail on 2026-11-20", "--by", "dpo") == 0
    recorded = events(run, "review_decision")
    assert [(e["actor"], e["detail"]["item"], e["detail"]["decision"]) for e in recorded] == [
        ("dpo", KEPT, "withhold"), ("dpo", SHOWN, "disclose")]
    assert recorded[0]["reason"] == "names the bookkeeper; no consent" and recorded[0]["at"]

    capsys.readouterr()
    assert cli(run, "request", "review", run.request_id, "--json") == 0
    items = {i["item"]: i for i in json.loads(capsys.readouterr().out)["items"]}
    assert items[KEPT]["decision"] == "withhold" and items[KEPT]["decided_by"] == "dpo"
    assert items[SHOWN]["consent"] == "neighbour agreed by e-mail on 2026-11-20"

    archive = package(run, tmp_path / "after.zip")
    review = json.loads(archive.read("review.json"))
    [withheld] = review["withheld"]
    assert withheld["item"] == KEPT and withheld["decision"] == "withheld"
    assert withheld["reason"] == "names the bookkeeper; no consent"
    assert "other people" in withheld["flagged"]
    [disclosed] = review["disclosed"]
    assert disclosed["item"] == SHOWN and disclosed["decided_by"] == "dpo"
    assert disclosed["consent"] == "neighbour agreed by e-mail on 2026-11-20"
    # the export only listed it; disclosing it fetched it from the share for the package
    assert disclosed["content"] == "included"
    shared = run.estate.folder.parent / "share" / "letters" / "neighbour.txt"
    assert any(name.endswith("letters/neighbour.txt") and archive.read(name) ==
               shared.read_bytes() for name in archive.namelist())
    share = json.loads(archive.read("data.json"))["systems"]["share"]
    assert share["letters/bookkeeper.txt"] == []
    [row] = share["letters/neighbour.txt"]
    assert row["path"] == "letters/neighbour.txt" and "disclosure_review" not in row


def test_disclosed_content_goes_in_unredacted() -> None:
    """A document the export holds but cannot redact (not text) is withheld, and included
    as it is once disclosed with consent."""
    data = b"%PDF-1.4\xff\xfe cc sam@example.com"
    row = {"path": "letters/scan.pdf", "whole_document": True, "text": "cc sam@example.com",
           "content_base64": base64.b64encode(data).decode("ascii")}
    subject = SubjectIds(frozenset({"maya.okafor@example.com"}), frozenset())
    held = review_table("share", "letters", [row], subject)
    [entry] = held.withheld
    assert entry["item"] == "share/letters#0" and held.files == []
    shown = review_table("share", "letters", [row], subject, frozenset({entry["item"]}))
    assert shown.withheld == [] and dict(shown.files) == {"letters/scan.pdf": data}
    assert shown.rows[0]["text"] == "cc sam@example.com"
    assert shown.disclosed[0]["content"] == "included"


def test_build_package_without_decisions_still_works(run: Run) -> None:
    config = run.estate.config()
    workflow = run.estate.workflow()
    try:
        request = workflow.get(run.request_id)
    finally:
        workflow.close()
    doc = json.loads(Path(request.result["export"]).read_text(encoding="utf-8"))
    archive = zipfile.ZipFile(io.BytesIO(build_package(
        doc, request, config.policy, SigningKeys.for_config(config))))
    assert len(json.loads(archive.read("review.json"))["withheld"]) == 2


# ------------------------------------------------------------------ retention

def _age(path: Path, days: int) -> None:
    then = time.time() - days * DAY
    os.utime(path, (then, then))


def test_retention_option_is_checked(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_text("[agent]\n", encoding="utf-8")
    assert load_config(path).export_retention_days == 30
    path.write_text("[agent]\nexport_retention_days = 0\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="export_retention_days"):
        load_config(path)


def test_export_purges_old_packages_first(run: Run, tmp_path: Path) -> None:
    exports = run.estate.config().exports_dir
    old = exports / f"{run.request_id}-sar.zip"
    old.write_bytes(b"PK old package")
    _age(old, 31)
    fresh = exports / f"{run.request_id}-today.zip"
    fresh.write_bytes(b"PK fresh package")
    package(run, tmp_path / "sar.zip")
    assert not old.exists() and fresh.exists()
    [purged] = events(run, "export_purged")
    assert purged["actor"] == "retention" and purged["detail"]["files"] == 1


def test_purge_removes_exports_past_retention(run: Run, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    config = run.estate.config()
    workflow = run.estate.workflow()
    try:
        export = Path(workflow.get(run.request_id).result["export"])
    finally:
        workflow.close()
    assert purge_exports(config) == 0  # nothing old yet
    _age(export, 31)
    stray = config.exports_dir / "nobody.json"
    stray.write_text("{}", encoding="utf-8")
    _age(stray, 40)
    capsys.readouterr()
    assert cli(run, "export", "purge", "--json") == 0
    out = capsys.readouterr().out
    assert json.loads(out) == {"purged": 2, "retention_days": 30}
    assert run.request_id not in out
    assert not export.exists() and not stray.exists()
    assert (config.exports_dir / f"{run.request_id}-today.zip").exists()
    purged = events(run, "export_purged")
    assert purged[-1]["detail"] == {"files": 1, "retention_days": 30}
    assert cli(run, "export", run.request_id, "--out", str(tmp_path / "x.zip")) == 1
    assert "gone" in capsys.readouterr().err


def test_purge_never_sweeps_a_folder_holding_the_agents_files(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_text('[agent]\nexports = "."\nexport_retention_days = 1\n', encoding="utf-8")
    old = tmp_path / "old-export.json"
    old.write_text("{}", encoding="utf-8")
    _age(old, 40)
    assert purge_exports(load_config(path)) == 0
    assert old.exists()
