"""Signed receipts end to end: an erasure through the workflow on the demo estate issues one;
`dsr receipt show/verify` and `dsr ledger verify` check it; tampering fails with a clear
message; a third party verifies it with the script and the openssl recipe in
docs/receipts.md, without importing dsr-agent; nothing of the person is stored in clear.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import rfc8785
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.cli import main
from agent.signing import public_jwk
from tests.request_support import REPO, Estate, make_estate

MAYA = [("email", "maya.okafor@example.com"), ("name", "Maya Okafor")]
DOCS = REPO / "docs" / "receipts.md"


@pytest.fixture(scope="module")
def done(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One completed erasure (notices signed off) on the demo estate, and its receipt."""
    folder = tmp_path_factory.mktemp("receipts")
    estate = make_estate(folder / "estate")
    workflow = estate.workflow()
    try:
        request = workflow.create("erasure", MAYA, actor="alice")
        workflow.verify(request.id, ["passport", "driving_licence"], by="alice")
        workflow.plan(request.id, actor="alice")
        workflow.approve(request.id, by="dpo")
        result = workflow.run(request.id, actor="alice")
        for item in result.summary["signoffs_pending"]:
            workflow.signoff(request.id, item, by="dpo", note="done")
        assert workflow.get(request.id).status == "completed"
        receipts = workflow.receipts.list(request.id)
        document = workflow.receipts.document(request.id)
        copy = workflow.receipts.document(request.id, subject_copy=True)
    finally:
        workflow.close()
    path = folder / "receipt.json"
    path.write_text(json.dumps(document))
    return {"estate": estate, "request": request.id, "receipts": receipts, "path": path,
            "document": document, "copy": copy, "folder": folder}


def cli(estate: Estate, *args: str) -> int:
    return main(["--config", str(estate.config_path), *args])


def test_every_stage_that_ends_work_gets_a_receipt(done: dict[str, Any]) -> None:
    # awaiting sign-off is not an end; the completion after the notices is
    assert [r["status"] for r in done["receipts"]] == ["completed"]
    body = done["document"]["receipt"]
    assert body["request"]["type"] == "erasure" and body["request"]["status"] == "completed"
    assert body["identity_check"]["verified"] is True
    assert {d["type"] for d in body["identity_check"]["documents_seen"]} == {
        "passport", "driving_licence"}
    crm = next(s for s in body["systems"] if s["name"] == "crm")
    assert crm["searched"] and crm["connector"] == "sql"
    assert crm["actions"]["deleted"] > 0 and crm["actions"]["anonymised"] > 0
    assert all(g["basis"] and g["until"] for g in crm["retained"])
    assert body["verification"]["residual"] == {}
    assert body["notified"] and all(n["signed_off_by"] == "dpo" for n in body["notified"])


def test_cli_verifies_the_receipt_and_the_ledger(done: dict[str, Any], tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    estate, path = done["estate"], done["path"]
    assert cli(estate, "receipt", "verify", str(path), "--json") == 0
    checks = json.loads(capsys.readouterr().out)["checks"]
    assert [c["check"] for c in checks] == [
        "canonical form (RFC 8785)", "signature (detached JWS, Ed25519)",
        "checkpoint signature (C2SP signed note)", "inclusion in the ledger (RFC 9162)"]
    assert cli(estate, "ledger", "verify", "--json") == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True
    # pinned to a key file from `dsr keys public`
    assert cli(estate, "keys", "public") == 0
    (tmp_path / "key.jwk").write_text(capsys.readouterr().out)
    assert cli(estate, "receipt", "verify", str(path), "--key", str(tmp_path / "key.jwk")) == 0


def _tampered(done: dict[str, Any], tmp_path: Path, change: Any) -> Path:
    document = json.loads(done["path"].read_text())
    change(document)
    path = tmp_path / "tampered.json"
    path.write_text(json.dumps(document))
    return path


@pytest.mark.parametrize(("what", "change", "failing"), [
    ("one byte of the body", lambda d: d["receipt"]["request"].update(status="completea"),
     "canonical form"),
    ("the signed payload too", lambda d: (d["receipt"]["request"].update(type="access"),
                                          d.update(payload=_payload(d["receipt"]))),
     "signature"),
    ("the inclusion proof", lambda d: d["ledger"].update(index=d["ledger"]["index"] + 1),
     "ledger proof"),
])
def test_tampering_with_a_receipt_fails_with_a_clear_message(
        done: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str],
        what: str, change: Any, failing: str) -> None:
    path = _tampered(done, tmp_path, change)
    assert cli(done["estate"], "receipt", "verify", str(path), "--json") == 4, what
    failed = [c for c in json.loads(capsys.readouterr().out)["checks"] if not c["ok"]]
    assert failed and failed[0]["check"].startswith(failing), failed


def test_a_key_we_do_not_trust_fails(done: dict[str, Any], tmp_path: Path) -> None:
    other = public_jwk(Ed25519PrivateKey.generate().public_key())
    (tmp_path / "other.jwk").write_text(json.dumps(other))
    assert cli(done["estate"], "receipt", "verify", str(done["path"]), "--key",
               str(tmp_path / "other.jwk")) == 4


def test_the_persons_copy_lets_them_check_the_commitment(done: dict[str, Any]) -> None:
    copy = done["copy"]
    assert "subject_copy" not in done["document"]
    salt = bytes.fromhex(copy["subject_copy"]["salt"])
    pairs = sorted([["email", "maya.okafor@example.com"], ["name", "maya okafor"]])
    assert hashlib.sha256(salt + rfc8785.dumps(pairs)).hexdigest() == \
        copy["receipt"]["subject"]["commitment"]


def _payload(body: Any) -> str:
    import base64

    return base64.urlsafe_b64encode(rfc8785.dumps(body)).rstrip(b"=").decode()


def _block(marker: str) -> str:
    text = DOCS.read_text()
    match = re.search(re.escape(marker) + r"\n```\w+\n(.*?)```", text, re.S)
    assert match, f"docs/receipts.md has no block after {marker}"
    return match.group(1)


BLOCKER = """
import sys
class _NoDsr:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("agent", "connectors", "plugins"):
            raise ImportError("the third-party check must not use dsr-agent")
sys.meta_path.insert(0, _NoDsr())
"""


def test_a_third_party_verifies_with_the_documented_script(done: dict[str, Any],
                                                           tmp_path: Path) -> None:
    jwk_path = tmp_path / "key.jwk"
    jwk_path.write_text(json.dumps(done["document"]["key"]))
    script = tmp_path / "verify.py"
    script.write_text(BLOCKER + _block("<!-- verify-script -->"))
    ran = subprocess.run([sys.executable, "-I", str(script), str(done["path"]),
                          str(jwk_path)], capture_output=True, text=True, timeout=60,
                         cwd=tmp_path, check=False)
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert "verified: signature, checkpoint, inclusion" in ran.stdout
    for change in (lambda d: d["receipt"]["request"].update(status="refused"),
                   lambda d: d["ledger"].update(checkpoint=d["ledger"]["checkpoint"].replace(
                       "\n1\n", "\n2\n", 1)),
                   lambda d: d["ledger"].update(index=d["ledger"]["index"] + 1)):
        bad = _tampered(done, tmp_path, change)
        again = subprocess.run([sys.executable, "-I", str(script), str(bad), str(jwk_path)],
                               capture_output=True, text=True, timeout=60, cwd=tmp_path,
                               check=False)
        assert again.returncode != 0 and "verified" not in again.stdout


def test_a_third_party_verifies_the_signature_with_openssl(done: dict[str, Any],
                                                           tmp_path: Path) -> None:
    import base64

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    x = done["document"]["key"]["x"]
    raw = base64.urlsafe_b64decode(x + "=" * (-len(x) % 4))
    (tmp_path / "key.pem").write_bytes(Ed25519PublicKey.from_public_bytes(raw).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    (tmp_path / "receipt.json").write_text(done["path"].read_text())
    ran = subprocess.run(["bash", "-euo", "pipefail", "-c", _block("<!-- verify-openssl -->")],
                         capture_output=True, text=True, timeout=60, cwd=tmp_path,
                         check=False)
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert "Signature Verified Successfully" in ran.stdout
    assert "payload is the receipt" in ran.stdout


def test_refusal_gets_a_receipt_with_the_right_to_complain(tmp_path: Path) -> None:
    workflow = make_estate(tmp_path / "estate", manual=False).workflow()
    try:
        request = workflow.create("erasure", MAYA, actor="alice")
        workflow.refuse(request.id, by="dpo", reason="manifestly unfounded")
        body = workflow.receipts.document(request.id)["receipt"]
    finally:
        workflow.close()
    assert body["request"]["status"] == "refused"
    assert body["refusal"]["reason"] == "manifestly unfounded"
    assert "Information Commissioner" in body["refusal"]["right_to_complain"]


def test_nothing_of_the_person_is_kept_in_clear(done: dict[str, Any]) -> None:
    estate = done["estate"]
    values = ["maya.okafor@example.com", "Maya Okafor", "maya okafor", "07700 900031",
              "07700900031", "+447700900031", "m.okafor.plumbing@example.co.uk"]
    state = estate.config().state_url.removeprefix("sqlite:///")
    engine = sa.create_engine(estate.config().state_url)
    try:
        with engine.connect() as conn:
            tables = [r[0] for r in conn.execute(sa.text(
                "select name from sqlite_master where type = 'table'"))]
            dump = "\n".join(str(row) for table in tables
                             for row in conn.execute(sa.text(f'select * from "{table}"')))
    finally:
        engine.dispose()
    stored = [dump, Path(state).read_bytes().decode("latin-1"),
              json.dumps(done["document"]), json.dumps(done["receipts"], default=str)]
    for value in values:
        for text in stored:
            assert value.lower() not in text.lower(), "an identifier value is stored in clear"


def test_erasure_lists_name_and_postcode_for_screening(tmp_path: Path) -> None:
    workflow = make_estate(tmp_path / "estate", manual=False).workflow()
    try:
        request = workflow.create("erasure", [*MAYA, ("postcode", "LS6 2QT")], actor="alice")
        workflow.verify(request.id, ["passport", "driving_licence"], by="alice")
        workflow.plan(request.id, actor="alice")
        workflow.approve(request.id, by="dpo")
        workflow.run(request.id, actor="alice")
        listed = workflow.suppression.check([("name_postcode", "MAYA OKAFOR|ls62qt")])
    finally:
        workflow.close()
    assert [e.type for e in listed] == ["name_postcode"]


def test_ledger_verify_catches_a_changed_entry(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    estate = make_estate(tmp_path / "estate", manual=False)
    workflow = estate.workflow()
    try:
        for _ in range(3):  # three refusals: three receipts, three checkpoints
            request = workflow.create("erasure", MAYA, actor="alice")
            workflow.refuse(request.id, by="dpo", reason="duplicate request")
    finally:
        workflow.close()
    assert cli(estate, "ledger", "verify") == 0
    capsys.readouterr()
    engine = sa.create_engine(estate.config().state_url)
    with engine.begin() as conn:
        conn.execute(sa.text("update dsr_ledger_entries set leaf_hash = :h where idx = 1"),
                     {"h": "00" * 32})
    engine.dispose()
    assert cli(estate, "ledger", "verify", "--json") == 4
    report = json.loads(capsys.readouterr().out)
    assert not report["ok"] and any("size 2" in p or "size 3" in p for p in report["problems"])


def test_a_full_run_logs_no_identifier_value(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    estate = make_estate(tmp_path / "estate", manual=False)
    args = ["request", "create", "erasure", "--email", "maya.okafor@example.com",
            "--name", "Maya Okafor", "--json"]
    assert cli(estate, "--log-level", "debug", *args[:0], *args) in (0, None)
    created = json.loads(capsys.readouterr().out)
    rid = created["id"]
    for step in (["request", "verify", rid, "--doc", "passport", "--doc", "driving_licence",
                  "--by", "alice"], ["request", "plan", rid], ["request", "approve", rid,
                                                              "--by", "dpo"]):
        cli(estate, "--log-level", "debug", *step)
    logs = capsys.readouterr().err
    cli(estate, "--log-level", "debug", "request", "run", rid, "--json")
    run = capsys.readouterr()
    logs += run.err
    pending = json.loads(run.out)["result"]["signoffs_pending"]
    for item in pending:
        cli(estate, "--log-level", "debug", "request", "signoff", rid, item, "--by", "dpo")
    cli(estate, "--log-level", "debug", "receipt", "show", rid, "--json")
    out = capsys.readouterr()
    logs += out.err
    assert "receipt_id" in out.out
    for value in ("maya.okafor@example.com", "Maya Okafor", "07700 900031", "07700900031",
                  "+447700900031"):
        assert value.lower() not in logs.lower(), "an identifier value reached the logs"


def test_receipts_still_verify_after_the_signing_key_rotates(tmp_path: Path) -> None:
    estate = make_estate(tmp_path / "estate", manual=False)
    workflow = estate.workflow()
    try:
        first = workflow.create("erasure", MAYA, actor="alice")
        workflow.refuse(first.id, by="dpo", reason="duplicate request")
        workflow.receipts.keys.rotate()
        second = workflow.create("erasure", MAYA, actor="alice")
        workflow.refuse(second.id, by="dpo", reason="duplicate request")
        for request in (first, second):
            path = tmp_path / f"{request.id}.json"
            path.write_text(json.dumps(workflow.receipts.document(request.id)))
            assert cli(estate, "receipt", "verify", str(path)) == 0
        kids = {workflow.receipts.document(r.id)["key"]["kid"] for r in (first, second)}
        assert len(kids) == 2
        assert workflow.receipts.ledger.verify(workflow.receipts.verifier_keys()).ok
    finally:
        workflow.close()


def test_a_witness_checks_the_log_only_grew(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    import base64

    from agent import checkpoint, merkle
    estate = make_estate(tmp_path / "estate", manual=False)
    workflow = estate.workflow()
    try:
        for _ in range(5):
            request = workflow.create("erasure", MAYA, actor="alice")
            workflow.refuse(request.id, by="dpo", reason="duplicate request")
        vkeys = workflow.receipts.verifier_keys()
    finally:
        workflow.close()
    assert cli(estate, "ledger", "consistency", "2", "--json") == 0
    data = json.loads(capsys.readouterr().out)
    old = checkpoint.parse_checkpoint(checkpoint.open_note(data["old_checkpoint"], vkeys))
    new = checkpoint.parse_checkpoint(checkpoint.open_note(data["new_checkpoint"], vkeys))
    assert (old.size, new.size) == (2, 5)
    merkle.verify_consistency(old.size, new.size, old.root, new.root,
                              [base64.b64decode(p) for p in data["proof"]])
