"""``dsr receipt list|show|verify|issue`` and ``dsr ledger verify|checkpoint|consistency``:
the signed receipts of requests and the Merkle log they are appended to
(docs/receipts.md)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import click

from agent.cli.context import AppContext, emit_json, json_option, pass_app
from agent.errors import EXIT_OK, EXIT_VERIFICATION_FAILED, DsrError
from agent.receipt_store import ReceiptError, verify_document
from agent.signing import SigningKeys, load_public_keys, public_jwk


@click.group()
def receipt() -> None:
    """Signed receipts: proof of what a request searched, found, erased and kept."""


@receipt.command("list")
@click.option("--request", "request_id", metavar="ID", help="Only this request's receipts.")
@json_option
@pass_app
def list_receipts(app: AppContext, request_id: str | None, as_json: bool) -> None:
    """Every receipt issued (id, request, status, time)."""
    rows = app.workflow().receipts.list(request_id)
    data = [{**r, "created_at": r["created_at"].isoformat()} for r in rows]
    if as_json:
        emit_json(data)
        return
    for row in data:
        click.echo(f"{row['id']}  {row['request_id']}  {row['status']:<20} {row['created_at']}")


@receipt.command("show")
@click.argument("receipt_id")
@click.option("--subject-copy", is_flag=True,
              help="The person's own copy: adds the salt that lets them check the receipt "
                   "names them.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the receipt document to this file.")
@json_option
@pass_app
def show(app: AppContext, receipt_id: str, subject_copy: bool, out: Path | None,
         as_json: bool) -> None:
    """A receipt document (RECEIPT_ID, or a request id for its latest receipt)."""
    document = app.workflow().receipts.document(receipt_id, subject_copy=subject_copy)
    text = json.dumps(document, indent=2, sort_keys=True) + "\n"
    if out is not None:
        out.write_text(text, encoding="utf-8")
        click.echo(f"receipt {document['receipt']['receipt_id']} written to {out}", err=True)
        return
    if as_json:
        emit_json(document)
        return
    click.echo(_summary(document["receipt"]))


@receipt.command("verify")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--key", "key_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Public key(s) to trust: a PEM, a JWK or a JWK set (dsr keys public). "
                   "Default: this installation's keys, else the document's own (unpinned).")
@json_option
@pass_app
def verify(app: AppContext, file: Path, key_file: Path | None, as_json: bool) -> int:
    """Check a receipt document: signature, canonical form, inclusion in a signed
    checkpoint. Exit 0 when every check passes, 4 when one fails."""
    try:
        document = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReceiptError(f"{file}: not a receipt document ({type(exc).__name__})") from None
    if not isinstance(document, dict):
        raise ReceiptError(f"{file}: not a receipt document")
    keys, pinned = _trusted_keys(app, document, key_file)
    result = verify_document(document, keys, pinned=pinned)
    if as_json:
        emit_json({"ok": result.ok, "checks": result.checks})
    else:
        for check in result.checks:
            mark = "ok  " if check["ok"] else "FAIL"
            click.echo(f"{mark} {check['check']}" + (f": {check['detail']}"
                                                     if check.get("detail") else ""))
    return EXIT_OK if result.ok else EXIT_VERIFICATION_FAILED


@receipt.command("issue")
@click.argument("request_id")
@json_option
@pass_app
def issue(app: AppContext, request_id: str, as_json: bool) -> None:
    """Issue a receipt for a request as it stands now (after a failed attempt)."""
    workflow = app.workflow()
    request = workflow.get(request_id)
    document = workflow.issue_receipt(request, "operator")
    if document is None:
        raise ReceiptError(f"request {request_id}: the receipt could not be issued (see "
                           "dsr request show)")
    if as_json:
        emit_json(document)
    else:
        click.echo(f"receipt {document['receipt']['receipt_id']} issued")


@click.group()
def ledger() -> None:
    """The append-only Merkle log of receipts (RFC 9162) and its signed checkpoints."""


@ledger.command("verify")
@json_option
@pass_app
def verify_ledger(app: AppContext, as_json: bool) -> int:
    """Recompute every checkpoint from the log, check each signature and the consistency
    between checkpoints. Exit 4 when anything is wrong."""
    receipts = app.workflow().receipts
    report = receipts.ledger.verify(receipts.verifier_keys())
    data = {"ok": report.ok, **{k: v for k, v in vars(report).items() if k != "ok"}}
    if as_json:
        emit_json(data)
    else:
        click.echo(("ok: " if report.ok else "FAILED: ") + json.dumps(
            {k: v for k, v in data.items() if k != "ok"}, default=str))
    return EXIT_OK if report.ok else EXIT_VERIFICATION_FAILED


@ledger.command("checkpoint")
@json_option
@pass_app
def latest_checkpoint(app: AppContext, as_json: bool) -> None:
    """The latest signed checkpoint (C2SP signed note): publish it or hand it to a
    witness; with the verifier key it checks every receipt's inclusion."""
    receipts = app.workflow().receipts
    note = receipts.ledger.checkpoint_note()
    if note is None:
        raise DsrError("the ledger has no checkpoint yet: no receipt was issued")
    if as_json:
        emit_json({"checkpoint": note, "verifier_keys": receipts.verifier_keys()})
    else:
        click.echo(note, nl=False)


@ledger.command("consistency")
@click.argument("old_size", type=click.IntRange(min=0))
@click.argument("new_size", type=click.IntRange(min=0), required=False)
@json_option
@pass_app
def consistency(app: AppContext, old_size: int, new_size: int | None, as_json: bool) -> None:
    """The RFC 9162 consistency proof from the checkpoint of OLD_SIZE to NEW_SIZE (default:
    the latest): what a witness checks to know the log only grew."""
    led = app.workflow().receipts.ledger
    new_size = led.size() if new_size is None else new_size
    old_note, new_note = led.checkpoint_note(old_size), led.checkpoint_note(new_size)
    if old_note is None or new_note is None:
        raise DsrError(f"no signed checkpoint at size {old_size if old_note is None else new_size}")
    data = {"old_size": old_size, "new_size": new_size,
            "proof": [base64.b64encode(h).decode("ascii")
                      for h in led.consistency(old_size, new_size)],
            "old_checkpoint": old_note, "new_checkpoint": new_note}
    if as_json:
        emit_json(data)
    else:
        click.echo("\n".join(data["proof"]))


def _trusted_keys(app: AppContext, document: dict[str, Any], key_file: Path | None
                  ) -> tuple[dict[str, Any], bool]:
    if key_file is not None:
        return load_public_keys(key_file.read_text(encoding="utf-8")), True
    try:
        local = SigningKeys.for_config(app.config()).public_keys()
    except DsrError:
        local = {}
    if local:
        return local, True
    embedded = load_public_keys(json.dumps(document.get("key") or {}))
    return {kid: key for kid, key in embedded.items()
            if public_jwk(key)["x"] == (document.get("key") or {}).get("x")}, False


def _summary(body: dict[str, Any]) -> str:
    request = body["request"]
    lines = [f"receipt {body['receipt_id']} — request {request['id']} ({request['type']}), "
             f"{request['status']}",
             f"received {request['received_at']}, deadline {request['deadline']}, "
             f"closed {request['completed_at']}"]
    for system in body["systems"]:
        actions = ", ".join(f"{n} {a}" for a, n in system["actions"].items()) or "no action"
        kept = sum(g["count"] for g in system["retained"])
        lines.append(f"  {system['name']} ({system['connector']}): "
                     f"{system['findings']['total']} finding(s); {actions}"
                     + (f"; {kept} retained" if kept else ""))
    verification = body.get("verification")
    if verification:
        lines.append(f"verified by {verification['method']}: "
                     f"{sum(verification['residual'].values())} residual")
    return "\n".join(lines)
