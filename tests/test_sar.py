"""SAR and portability packages, built from a real access run on the demo estate and opened
member by member (agent/sar, ``dsr export``)."""

from __future__ import annotations

import base64
import csv
import dataclasses
import hashlib
import io
import json
import sqlite3
import tomllib
import zipfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pyrage
import pytest
import pyzipper

from agent.cli import main
from agent.errors import ConfigError
from agent.jws import canonical, verify_detached
from agent.policy import Policy, policy_from_dict
from agent.sar import PackageError, build_package, encrypt_age, encrypt_zip
from agent.sar.redact import REDACTED, SubjectIds, redact_text, review_table, subject_ids
from agent.signing import SigningKeys
from tests.request_support import REPO, Estate, make_estate

MAYA = [("email", "maya.okafor@example.com"), ("name", "Maya Okafor")]
THIRD_EMAIL = "j.bloggs.bookkeeping@example.com"
THIRD_PHONE = "01632 960123"
SHARED_NOTE = (f"Maya Okafor (maya.okafor@example.com) asked us to copy her bookkeeper "
               f"{THIRD_EMAIL} on invoices; the bookkeeper's line is {THIRD_PHONE}.")


@dataclasses.dataclass
class Run:
    estate: Estate
    request: Any
    export_doc: dict[str, Any]
    policy: Policy
    keys: SigningKeys


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """create, verify, plan, approve, run: an access request for Maya, with a shared note."""
    estate = make_estate(tmp_path_factory.mktemp("sar") / "estate", manual=False)
    with sqlite3.connect(estate.folder / "crm.sqlite") as conn:
        conn.execute("INSERT INTO tickets (contact_id, subject, notes, status, opened_at) "
                     "VALUES (1, 'Invoice copies to bookkeeper', ?, 'closed', "
                     "'2025-05-01T10:00:00')", (SHARED_NOTE,))
    conn.close()
    workflow = estate.workflow()
    request = workflow.create("access", MAYA, actor="alice")
    workflow.verify(request.id, ["passport", "driving_licence"], by="alice")
    workflow.plan(request.id, actor="alice")
    workflow.approve(request.id, by="dpo")
    result = workflow.run(request.id, actor="alice")
    request = result.request
    config = estate.config()
    keys = SigningKeys.for_config(config)
    if not keys.exists():
        keys.init()
    doc = json.loads(Path(request.result["export"]).read_text(encoding="utf-8"))
    workflow.close()
    assert config.policy is not None
    return Run(estate, request, doc, config.policy, keys)


@pytest.fixture(scope="module")
def package(run: Run) -> zipfile.ZipFile:
    data = build_package(run.export_doc, run.request, run.policy, run.keys)
    return zipfile.ZipFile(io.BytesIO(data))


def members_text(archive: zipfile.ZipFile) -> str:
    return "\n".join(archive.read(n).decode("utf-8", "replace") for n in archive.namelist())


# ------------------------------------------------------------------ the package, opened

def test_package_has_every_member(package: zipfile.ZipFile) -> None:
    names = set(package.namelist())
    assert {"cover.html", "data.json", "review.json", "manifest.json",
            "manifest.jws"} <= names
    assert {"csv/crm/contacts.csv", "csv/crm/tickets.csv", "csv/crm/prospects.csv"} <= names
    assert package.testzip() is None


def test_cover_letter_gives_every_article_15_item(package: zipfile.ZipFile) -> None:
    html = package.read("cover.html").decode("utf-8")
    for text in (
            "Can Solutions Limited", "1 Example Business Park",  # controller facts
            "privacy@can-solutions.co.uk",  # dpo contact
            "Purposes", "Quality monitoring of calls",  # purposes per group
            "Categories of data", "Your financial position",  # categories
            "Recipients", "Licensed credit reference agencies",  # recipients
            "Retention period or criteria", "kept for 7 years after contract end",
            "Rectification", "Erasure", "Restriction", "Objection",  # rights
            "Information Commissioner", "0303 123 1113",  # complaint to the ICO
            "Purchased list: Trades Directory Q3",  # the source of a finding
            "Automated decision-making, including credit checks", "credit reference",
            "Transfers outside the UK and their safeguards", "adequacy"):
        assert text in html, text
    assert "crm / tickets (4 records)" in html
    assert "&amp;" in html and "<script" not in html


def test_cover_letter_escapes_controller_facts(run: Run) -> None:
    facts = dataclasses.replace(run.policy.controller_facts, name="<script>x</script> & Co")
    policy = dataclasses.replace(run.policy, controller_facts=facts)
    archive = zipfile.ZipFile(io.BytesIO(
        build_package(run.export_doc, run.request, policy, run.keys)))
    html = archive.read("cover.html").decode("utf-8")
    assert "<script>" not in html and "&lt;script&gt;x&lt;/script&gt; &amp; Co" in html


def test_manifest_hashes_every_member_and_its_signature_verifies(
        run: Run, package: zipfile.ZipFile) -> None:
    manifest = json.loads(package.read("manifest.json"))
    listed = {m["name"]: m for m in manifest["members"]}
    assert set(listed) == set(package.namelist()) - {"manifest.json", "manifest.jws"}
    for name, member in listed.items():
        content = package.read(name)
        assert member["sha256"] == hashlib.sha256(content).hexdigest(), name
        assert member["size"] == len(content)
    jws = package.read("manifest.jws").decode("ascii")
    kid = verify_detached(jws, canonical(manifest), run.keys.public_keys())
    assert kid == manifest["kid"] == run.keys.active_kid()
    changed = {**manifest, "members": manifest["members"][1:]}
    with pytest.raises(Exception, match="does not match"):
        verify_detached(jws, canonical(changed), run.keys.public_keys())


def test_csvs_parse_and_match_data_json(package: zipfile.ZipFile) -> None:
    data = json.loads(package.read("data.json"))
    assert data["type"] == "access"
    for name in package.namelist():
        if not name.startswith("csv/"):
            continue
        _, system, table = name.removesuffix(".csv").split("/")
        rows = list(csv.DictReader(io.StringIO(package.read(name).decode("utf-8"))))
        assert len(rows) == len(data["systems"][system][table]), name
    [contact] = data["systems"]["crm"]["contacts"]
    assert contact["email"] == "maya.okafor@example.com"


def test_third_partys_email_in_a_shared_note_is_redacted(package: zipfile.ZipFile) -> None:
    text = members_text(package)
    assert THIRD_EMAIL not in text and "960123" not in text
    notes = [r["notes"] for r in json.loads(package.read("data.json"))
             ["systems"]["crm"]["tickets"]]
    [shared] = [n for n in notes if "bookkeeper" in n]
    assert shared.count(REDACTED) == 2
    assert "maya.okafor@example.com" in shared  # the person's own address stays
    assert any("m.okafor.plumbing@example.co.uk" in n for n in notes)  # hers too
    assert any("07700 900031" in n for n in notes)  # and her own phone
    review = json.loads(package.read("review.json"))
    [entry] = [r for r in review["redacted"] if r["table"] == "tickets"]
    assert entry["field"] == "notes" and entry["redacted"] == 2
    assert "example.com" not in package.read("review.json").decode()


def test_missing_controller_fact_refuses_the_package(run: Run) -> None:
    facts = dataclasses.replace(run.policy.controller_facts, address="", transfers="")
    policy = dataclasses.replace(run.policy, controller_facts=facts)
    with pytest.raises(PackageError, match=r"\[controller\] address is missing .*postal "
                                           r"address.*also missing: transfers"):
        build_package(run.export_doc, run.request, policy, run.keys)
    with pytest.raises(PackageError, match=r"no policy\.toml"):
        build_package(run.export_doc, run.request, None, run.keys)


def test_portability_package_is_what_the_person_provided(run: Run) -> None:
    request = dataclasses.replace(run.request, type="portability")
    facts = dataclasses.replace(run.policy.controller_facts, address="")  # not needed here
    policy = dataclasses.replace(run.policy, controller_facts=facts)
    archive = zipfile.ZipFile(io.BytesIO(
        build_package(run.export_doc, request, policy, run.keys)))
    names = set(archive.namelist())
    assert "cover.html" not in names and "csv/crm/contacts.csv" in names
    assert "csv/crm/credit_checks.csv" not in names  # derived by an agency: not provided
    data = json.loads(archive.read("data.json"))
    assert data["type"] == "portability" and "credit_checks" not in data["systems"]["crm"]


def test_bad_inputs_are_refused(run: Run) -> None:
    with pytest.raises(PackageError, match="no systems"):
        build_package({"request": run.request.id}, run.request, run.policy, run.keys)
    with pytest.raises(PackageError, match="another request"):
        build_package({**run.export_doc, "request": "R-other"}, run.request, run.policy,
                      run.keys)
    erasure = dataclasses.replace(run.request, type="erasure")
    with pytest.raises(PackageError, match="erasure request has no package"):
        build_package(run.export_doc, erasure, run.policy, run.keys)


# ------------------------------------------------------------------ encryption

def test_encrypted_zip_opens_only_with_the_passphrase(run: Run) -> None:
    plain = build_package(run.export_doc, run.request, run.policy, run.keys)
    sealed = encrypt_zip(plain, "correct horse battery staple")
    with zipfile.ZipFile(io.BytesIO(sealed)) as archive, pytest.raises(
            (RuntimeError, NotImplementedError)):
        archive.read("data.json")
    with pyzipper.AESZipFile(io.BytesIO(sealed)) as archive:
        archive.setpassword(b"wrong passphrase")
        with pytest.raises(RuntimeError):
            archive.read("data.json")
        archive.setpassword(b"correct horse battery staple")
        with zipfile.ZipFile(io.BytesIO(plain)) as original:
            for name in original.namelist():
                assert archive.read(name) == original.read(name)
    assert b"maya.okafor" not in sealed
    with pytest.raises(PackageError, match="empty"):
        encrypt_zip(plain, "")


def test_age_round_trip(run: Run) -> None:
    plain = build_package(run.export_doc, run.request, run.policy, run.keys)
    identity = pyrage.x25519.Identity.generate()
    sealed = encrypt_age(plain, str(identity.to_public()))
    assert sealed.startswith(b"age-encryption.org/v1") and b"maya.okafor" not in sealed
    assert pyrage.decrypt(sealed, [identity]) == plain
    with pytest.raises(PackageError, match="not an age recipient"):
        encrypt_age(plain, "age1notakey")


# ------------------------------------------------------------------ dsr export

def test_cli_writes_the_package_and_its_encrypted_forms(
        run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    config = str(run.estate.config_path)
    out = tmp_path / "sar.zip"
    assert main(["--config", config, "export", run.request.id, "--out", str(out)]) == 0
    assert out.stat().st_mode & 0o077 == 0
    assert "cover.html" in zipfile.ZipFile(out).namelist()
    monkeypatch.setenv("DSR_TEST_SAR_PASS", "s3cret passphrase")
    sealed = tmp_path / "sealed.zip"
    assert main(["--config", config, "export", run.request.id, "--out", str(sealed),
                 "--passphrase-env", "DSR_TEST_SAR_PASS"]) == 0
    with pyzipper.AESZipFile(sealed) as archive:
        archive.setpassword(b"s3cret passphrase")
        assert json.loads(archive.read("data.json"))["request"] == run.request.id
    identity = pyrage.x25519.Identity.generate()
    aged = tmp_path / "sar2.zip"
    assert main(["--config", config, "export", run.request.id, "--out", str(aged),
                 "--age-recipient", str(identity.to_public()), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["encryption"] == "age" and summary["out"].endswith("sar2.zip.age")
    opened = pyrage.decrypt((tmp_path / "sar2.zip.age").read_bytes(), [identity])
    assert "manifest.jws" in zipfile.ZipFile(io.BytesIO(opened)).namelist()


def test_cli_errors_are_clear(run: Run, tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    config = str(run.estate.config_path)
    out = str(tmp_path / "x.zip")
    assert main(["--config", config, "export", run.request.id, "--out", out,
                 "--passphrase-env", "DSR_TEST_SAR_UNSET_VAR"]) == 1
    assert "DSR_TEST_SAR_UNSET_VAR is not set" in capsys.readouterr().err
    assert main(["--config", config, "export", run.request.id, "--out", out,
                 "--passphrase-env", "A", "--age-recipient", "B"]) == 2
    assert main(["--config", config, "export", run.request.id, "--out", out,
                 "--format", "xlsx"]) == 1
    assert "no exporter 'xlsx' is registered (registered: none)" in capsys.readouterr().err
    export = Path(run.request.result["export"])
    saved = export.read_bytes()
    export.write_text("{not json", encoding="utf-8")
    try:
        assert main(["--config", config, "export", run.request.id, "--out", out]) == 1
        assert "cannot be read: JSONDecodeError" in capsys.readouterr().err
    finally:
        export.write_bytes(saved)
    assert not Path(out).exists()


# ------------------------------------------------------------------ redaction, files

SUBJECT = SubjectIds(frozenset({"maya.okafor@example.com"}), frozenset({"07700900031"}))


def test_redact_text_keeps_the_persons_identifiers() -> None:
    text = ("Call +44 (0)7700 900031 or 07700-900-031, not 01632 960999 or +447700900555; "
            "mail Maya.Okafor@example.com, never sam@example.com. Ref 350947330000314.")
    out, count = redact_text(text, SUBJECT)
    assert count == 3
    assert out == ("Call +44 (0)7700 900031 or 07700-900-031, not [redacted] or [redacted]; "
                   "mail Maya.Okafor@example.com, never [redacted]. Ref 350947330000314.")
    assert repr(SUBJECT) == "SubjectIds(emails=1, phones=1)"


def test_subject_ids_come_from_whole_fields() -> None:
    ids = subject_ids([{"email": " maya.okafor@example.com", "mobile": "+44 7700 900031",
                        "notes": "ring sam@example.com on 01632 960000", "n": 3}])
    assert ids.emails == {"maya.okafor@example.com"} and ids.phones == {"07700900031"}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def test_files_and_recordings_are_included_redacted_or_withheld() -> None:
    rows = [
        {"path": "letters/own.txt", "whole_document": True, "text": "Dear Maya",
         "content_base64": _b64(b"Dear Maya")},
        {"path": "letters/cc.txt", "whole_document": True,
         "text": "cc sam@example.com", "content_base64": _b64(b"cc sam@example.com")},
        {"path": "letters/scan.pdf", "whole_document": True, "text": "cc sam@example.com",
         "content_base64": _b64(b"%PDF-1.4\xff\xfe binary")},
        {"path": "shared/rota.xlsx", "size": 10, "disclosure_review": True,
         "reason": "a shared file: other people's rows"},
        {"recording_id": "1.2", "audio": [{"path": "rec/1.2.wav",
                                           "content_base64": _b64(b"RIFF....WAVE")}]},
    ]
    result = review_table("share", "letters", rows, SUBJECT)
    files = dict(result.files)
    assert files["letters/own.txt"] == b"Dear Maya"
    assert files["letters/cc.txt"] == b"cc [redacted]"
    assert files["rec/1.2.wav"] == b"RIFF....WAVE"
    assert "letters/scan.pdf" not in files
    assert [w["path"] for w in result.withheld] == ["letters/scan.pdf", "shared/rota.xlsx"]
    assert "cannot be redacted" in result.withheld[0]["reason"]
    assert result.withheld[1]["reason"] == "a shared file: other people's rows"
    assert all("content_base64" not in json.dumps(r) for r in result.rows)


def test_package_files_get_safe_member_names(run: Run) -> None:
    doc = {"request": run.request.id, "systems": {"share": {"../../etc/passwd": [
        {"path": "../../etc/passwd", "whole_document": True, "text": "x",
         "content_base64": _b64(b"x")}]}}}
    archive = zipfile.ZipFile(io.BytesIO(build_package(doc, run.request, run.policy,
                                                       run.keys)))
    names = archive.namelist()
    assert "files/share/etc/passwd" in names and not any(".." in n for n in names)
    [row] = json.loads(archive.read("data.json"))["systems"]["share"]["../../etc/passwd"]
    assert row["file"] == "files/share/etc/passwd"


def test_request_stub_is_enough_for_a_synthetic_export(run: Run) -> None:
    request = SimpleNamespace(id="R-synthetic", type="access")
    archive = zipfile.ZipFile(io.BytesIO(build_package(
        {"request": "R-synthetic", "systems": {}}, request, run.policy, run.keys)))
    assert json.loads(archive.read("data.json"))["systems"] == {}


# ------------------------------------------------------------------ policy [controller]

def _policy_data() -> dict[str, Any]:
    return tomllib.loads((REPO / "config" / "policy.toml").read_text(encoding="utf-8"))


def test_controller_table_and_the_older_string_both_load() -> None:
    data = _policy_data()
    policy = policy_from_dict(data, "policy.toml")
    assert policy.controller == "Can Solutions Limited"
    assert policy.controller_facts.missing() == []
    older = policy_from_dict({**data, "controller": "Can Solutions Limited"}, "policy.toml")
    assert older.controller == "Can Solutions Limited"
    assert older.controller_facts.missing() == ["address", "dpo", "transfers",
                                                "automated_decisions"]


def test_controller_table_is_validated() -> None:
    data = _policy_data()
    with pytest.raises(ConfigError, match=r"\[controller.website\] unknown key"):
        policy_from_dict({**data, "controller": {"name": "X", "website": "y"}}, "policy.toml")
    with pytest.raises(ConfigError, match=r"\[controller.address\] must be non-empty text"):
        policy_from_dict({**data, "controller": {"name": "X", "address": 3}}, "policy.toml")
    with pytest.raises(ConfigError, match=r"\[controller\] must be a table"):
        policy_from_dict({**data, "controller": 7}, "policy.toml")


def test_a_whole_recording_record_is_flattened_and_walked() -> None:
    record = {"finding": "F1", "table": "calls", "recording_id": "1.3",
              "row": {"recording_id": "1.3", "legs": 2},
              "legs": [{"src": "07700900031", "dst": "01632960555"}],
              "audio": [{"path": "rec/1.3.wav", "content_base64": _b64(b"RIFF")}],
              "transcripts": [{"path": "rec/1.3.wav", "text": "call me on 01632 960555"}]}
    flagged = {"finding": "F2", "table": "calls", "row": {"recording_id": "1.4"},
               "disclosure_review": True, "reason": "an identifiable third person speaks"}
    result = review_table("phones", "calls", [record, flagged], SUBJECT)
    [row] = result.rows
    assert row["legs"] == [{"src": "07700900031", "dst": REDACTED}]
    assert row["transcripts"][0]["text"] == f"call me on {REDACTED}"
    assert row["audio"] == [{"path": "rec/1.3.wav", "file": "rec/1.3.wav"}]
    assert dict(result.files) == {"rec/1.3.wav": b"RIFF"}
    assert [w["reason"] for w in result.withheld] == ["an identifiable third person speaks"]
    assert {r["field"] for r in result.redactions} == {"legs", "transcripts"}


# ------------------------------------------------------------------ redaction, names

def test_third_partys_name_in_a_shared_note_is_redacted_hers_stays(run: Run) -> None:
    doc = json.loads(json.dumps(run.export_doc))
    note = ("Maya Okafor rang: her husband Daniel Whitcombe-Reid will call about the "
            "bill, and Mrs Okafor asked that Mr Pritchard stop calling. Signed M. Okafor.")
    tickets = doc["systems"]["crm"]["tickets"]
    tickets.append({**tickets[0], "id": 99_001, "subject": "Husband to call", "notes": note})
    archive = zipfile.ZipFile(io.BytesIO(build_package(doc, run.request, run.policy,
                                                       run.keys)))
    rows = json.loads(archive.read("data.json"))["systems"]["crm"]["tickets"]
    [shared] = [r["notes"] for r in rows if r["subject"] == "Husband to call"]
    assert shared == ("Maya Okafor rang: her husband [redacted] will call about the "
                      "bill, and Mrs Okafor asked that Mr [redacted] stop calling. "
                      "Signed M. Okafor.")
    text = members_text(archive)
    assert "Whitcombe" not in text and "Pritchard" not in text
    [contact] = json.loads(archive.read("data.json"))["systems"]["crm"]["contacts"]
    assert (contact["first_name"], contact["last_name"]) == ("Maya", "Okafor")
    review = json.loads(archive.read("review.json"))
    entries = [r for r in review["redacted"] if r["table"] == "tickets"]
    assert {"field": "notes", "redacted": 2} in [
        {"field": e["field"], "redacted": e["redacted"]} for e in entries]
    assert "Whitcombe" not in archive.read("review.json").decode()
    # the shared note with the bookkeeper still has its two redactions, no more
    assert sum(e["redacted"] for e in entries) == 2 + 2


def test_subject_names_come_from_name_columns() -> None:
    ids = subject_ids([{"first_name": "Maya", "last_name": "Okafor-Reid",
                        "company_name": "Okafor Plumbing", "notes": "Jane Smith rang",
                        "full_name": "M Okafor", "name": "Flat 2, 14 High St"},
                       {"finding": "F1", "table": "calls",
                        "row": {"contact_name": "Maya Okafor"}}])
    assert ids.names == {"maya", "okafor", "reid"}
    assert repr(ids) == "SubjectIds(emails=0, phones=0, names=3)"
    assert "maya" not in repr(ids).lower()
    assert ids.owns_name("Maya") and ids.owns_name("M. Okafor-Reid")
    assert not ids.owns_name("Jane Okafor") and not ids.owns_name("Plumbing")
    assert not SubjectIds().owns_name("Maya")


def test_redact_text_names() -> None:
    own = SubjectIds(frozenset({"maya.okafor@example.com"}), frozenset(),
                     frozenset({"maya", "okafor"}))
    text = ("Dr Jane Smith <jane.smith@example.com> called for Maya Okafor; cc Smith, Jane. "
            "May 2024: Grant Thornton Ltd. Will you call Mrs Okafor?")
    out, count = redact_text(text, own)
    assert out == ("Dr [redacted] <[redacted]> called for Maya Okafor; cc [redacted]. "
                   "May 2024: Grant Thornton Ltd. Will you call Mrs Okafor?")
    assert count == 3
    # a name that is the whole field is what the row records, not free text
    assert redact_text("Jane Smith", own) == ("Jane Smith", 0)


class _JsonLinesExporter:
    """A plugin's exporter: one JSON object per line."""

    name = "jsonl"
    media_type = "application/jsonl"
    extension = ".jsonl"

    def write(self, records, destination: Path) -> Path:
        path = destination / "records.jsonl"
        path.write_text("".join(json.dumps(r, default=str) + "\n" for r in records))
        return path


class _BrokenExporter(_JsonLinesExporter):
    name = "broken"

    def write(self, records, destination: Path) -> Path:
        raise ValueError(f"cannot write {next(iter(records))}")


def test_registered_exporters_add_their_format_to_the_package(run: Run) -> None:
    archive = zipfile.ZipFile(io.BytesIO(build_package(
        run.export_doc, run.request, run.policy, run.keys,
        exporters=[_JsonLinesExporter()])))
    lines = [json.loads(x) for x in archive.read("formats/data-jsonl.jsonl").splitlines()]
    data = json.loads(archive.read("data.json"))
    expected = sum(len(rows) for tables in data["systems"].values() for rows in tables.values())
    assert len(lines) == expected and {"system", "table"} <= set(lines[0])
    # the same redacted rows as data.json: the third party's e-mail is not there either
    assert "[redacted]" in archive.read("formats/data-jsonl.jsonl").decode()
    listed = {m["name"] for m in json.loads(archive.read("manifest.json"))["members"]}
    assert "formats/data-jsonl.jsonl" in listed
    with pytest.raises(PackageError, match=r"exporter 'broken' failed: ValueError$"):
        build_package(run.export_doc, run.request, run.policy, run.keys,
                      exporters=[_BrokenExporter()])
