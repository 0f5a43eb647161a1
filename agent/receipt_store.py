"""Issuing, keeping and checking receipts: a receipt's canonical body is signed (detached JWS,
``agent.jws``), its SHA-256 appended to the Merkle ledger (``agent.ledger``), and a signed
checkpoint made for the new tree; the receipt document carries the signature, the inclusion
proof and the checkpoint, so it verifies on its own with standard tools (docs/receipts.md).

The person is named by a salted commitment made when the request is created
(``commit_subject``): the salt is kept here, given only in the person's own copy
(``document(..., subject_copy=True)``), never in the receipt itself.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from agent import checkpoint, merkle
from agent.errors import DsrError
from agent.jws import b64url, canonical, sign_detached, verify_detached
from agent.ledger import Ledger
from agent.receipts import ReceiptInputs, build_receipt, new_salt, subject_commitment
from agent.signing import SigningKeys, public_jwk
from agent.store import Store, create_tables, metadata

DOCUMENT_FORMAT = "dsr-agent receipt v1"

receipts = sa.Table(
    "dsr_receipts", metadata,
    sa.Column("id", sa.String(48), primary_key=True),
    sa.Column("request_id", sa.String(40), nullable=False, index=True),
    sa.Column("status", sa.String(24), nullable=False),
    sa.Column("body", sa.Text, nullable=False),  # RFC 8785 JSON
    sa.Column("jws", sa.Text, nullable=False),
    sa.Column("kid", sa.String(64), nullable=False),
    sa.Column("leaf_index", sa.Integer, nullable=False),
    sa.Column("tree_size", sa.Integer, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)
commitments = sa.Table(
    "dsr_subject_commitments", metadata,
    sa.Column("request_id", sa.String(40), primary_key=True),
    sa.Column("salt", sa.String(64), nullable=False),  # hex; not personal data by itself
    sa.Column("commitment", sa.String(64), nullable=False),
)


class ReceiptError(DsrError):
    """A receipt is unknown, or does not verify (the message says which check failed)."""

    exit_code = 4


@dataclass
class Verification:
    ok: bool
    checks: list[dict[str, Any]] = field(default_factory=list)

    def add(self, what: str, ok: bool, detail: str = "") -> None:
        self.checks.append({"check": what, "ok": ok, **({"detail": detail} if detail else {})})
        self.ok = self.ok and ok


class ReceiptStore:
    def __init__(self, store: Store, keys: SigningKeys) -> None:
        self.store = store
        self.engine = store.engine
        self.keys = keys
        # one origin per installation, stable across signing-key and HMAC-key rotation:
        # named after the installation's first HMAC key, which is never deleted
        self.origin = f"dsr-agent/{store.key.keys[-1].key_id}"
        self.ledger = Ledger(store, self.origin)
        create_tables(self.engine)

    def verifier_keys(self) -> list[str]:
        """The checkpoint verifier keys (C2SP note form) of every signing key, retired too."""
        return [checkpoint.verifier_key(self.origin, public)
                for public in self.keys.public_keys().values()]

    # ------------------------------------------------------------------ the person
    def commit_subject(self, request_id: str, identifiers: Sequence[Mapping[str, Any]]
                       ) -> str:
        salt = new_salt()
        commitment = subject_commitment(identifiers, salt)
        with self.engine.begin() as conn:
            conn.execute(commitments.insert().values(request_id=request_id, salt=salt.hex(),
                                                     commitment=commitment))
        return commitment

    def commitment_of(self, request_id: str) -> tuple[str, str]:
        """(commitment, salt hex) of a request."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(commitments).where(
                commitments.c.request_id == request_id)).first()
        if row is None:
            raise ReceiptError(f"request {request_id} has no subject commitment (it was "
                               "created before receipts existed)")
        return row.commitment, row.salt

    # ------------------------------------------------------------------ issuing
    def issue(self, inputs: ReceiptInputs) -> dict[str, Any]:
        """Build, sign, log and keep the receipt for the request's current status."""
        if not self.keys.exists():
            self.keys.init()  # the first receipt of an installation: `dsr keys init` implied
        kid, private_key = self.keys.active()
        receipt_id = f"RCPT-{inputs.request.id}-{uuid.uuid4().hex[:8]}"
        issued = datetime.now(UTC)
        body = build_receipt(inputs, receipt_id=receipt_id, issued_at=issued)
        payload = canonical(body)
        jws = sign_detached(payload, kid, private_key)
        index = self.ledger.append(hashlib.sha256(payload).digest(), receipt_id)
        note = self.ledger.checkpoint(self.origin, private_key)
        # the checkpoint just signed (with the receipt's own key) is the one its proof uses
        size = checkpoint.parse_checkpoint(checkpoint.note_text(note)).size
        with self.engine.begin() as conn:
            conn.execute(receipts.insert().values(
                id=receipt_id, request_id=inputs.request.id, status=inputs.request.status,
                body=payload.decode("utf-8"), jws=jws, kid=kid, leaf_index=index,
                tree_size=size, created_at=issued))
        return self.document(receipt_id)

    # ------------------------------------------------------------------ reading
    def list(self, request_id: str | None = None) -> list[dict[str, Any]]:
        query = sa.select(receipts.c.id, receipts.c.request_id, receipts.c.status,
                          receipts.c.created_at).order_by(receipts.c.created_at)
        if request_id:
            query = query.where(receipts.c.request_id == request_id)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def _row(self, receipt_or_request: str) -> Any:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(receipts).where(
                receipts.c.id == receipt_or_request)).first()
            if row is None:  # a request id: its latest receipt
                row = conn.execute(sa.select(receipts).where(
                    receipts.c.request_id == receipt_or_request)
                    .order_by(receipts.c.created_at.desc())).first()
        if row is None:
            raise ReceiptError(f"no receipt {receipt_or_request!r} (dsr receipt list)")
        return row

    def document(self, receipt_or_request: str, *, subject_copy: bool = False
                 ) -> dict[str, Any]:
        """The receipt as handed out: body, signature, the signing key, and the inclusion
        proof against the checkpoint signed when it was logged (by the same key, so one
        trusted key checks everything; later checkpoints extend it, see `dsr ledger
        verify`)."""
        row = self._row(receipt_or_request)
        note = self.ledger.checkpoint_note(row.tree_size)
        if note is None:
            raise ReceiptError(f"no signed checkpoint covers receipt {row.id}")
        proved = row.tree_size
        proof = self.ledger.inclusion(row.leaf_index, proved)
        public = self.keys.public_keys()[row.kid]
        doc: dict[str, Any] = {
            "format": DOCUMENT_FORMAT,
            "receipt": json.loads(row.body),
            # the signed bytes (RFC 8785 form of "receipt"), so a verifier needs no
            # canonicaliser: check they decode to "receipt", then verify the JWS over them
            "payload": b64url(row.body.encode("utf-8")),
            "signature": row.jws,
            "key": public_jwk(public) | {"kid": row.kid},
            "ledger": {
                "origin": self.origin, "index": row.leaf_index, "tree_size": proved,
                "leaf": "SHA-256 of the receipt's RFC 8785 form; leaf hash = "
                        "SHA-256(0x00 || leaf) (RFC 9162)",
                "inclusion_proof": [base64.b64encode(h).decode("ascii") for h in proof],
                "checkpoint": note,
                "checkpoint_key": checkpoint.verifier_key(self.origin, public)}}
        if subject_copy:
            commitment, salt = self.commitment_of(row.request_id)
            doc["subject_copy"] = {"salt": salt, "commitment": commitment,
                                   "how": "sha256(bytes.fromhex(salt) + RFC 8785 JSON of "
                                          "the sorted [type, value] pairs you gave)"}
        return doc


def verify_document(doc: Mapping[str, Any], keys: Mapping[str, Ed25519PublicKey],
                    *, pinned: bool) -> Verification:
    """Check a receipt document: canonical form, signature (with ``keys``: the operator's
    or a file the verifier trusts; ``pinned=False`` when only the document's own key was
    available), the checkpoint's signature and the receipt's inclusion in it."""
    result = Verification(ok=True)
    try:
        body = doc["receipt"]
        payload = canonical(body)
        given = doc.get("payload")
        if given is not None:
            result.add("canonical form (RFC 8785)", b64url(payload) == given,
                       "" if b64url(payload) == given else
                       "the receipt differs from the signed payload")
        kid = verify_detached(str(doc["signature"]), payload, keys)
        result.add("signature (detached JWS, Ed25519)", True,
                   f"key {kid}" + ("" if pinned else " (the document's own key: not pinned)"))
    except (KeyError, TypeError):
        result.add("receipt document", False, "missing receipt or signature")
        return result
    except DsrError as exc:
        result.add("signature (detached JWS, Ed25519)", False, str(exc))
        return result
    ledger = doc.get("ledger") or {}
    try:
        vkeys = [checkpoint.verifier_key(str(ledger["origin"]), public)
                 for public in keys.values()]
        text = checkpoint.open_note(str(ledger["checkpoint"]), vkeys)
        signed = checkpoint.parse_checkpoint(text)
        result.add("checkpoint signature (C2SP signed note)", True,
                   f"tree size {signed.size}")
        proof = [base64.b64decode(h) for h in ledger["inclusion_proof"]]
        leaf = merkle.leaf_hash(hashlib.sha256(payload).digest())
        merkle.verify_inclusion(int(ledger["index"]), signed.size, leaf, proof, signed.root)
        result.add("inclusion in the ledger (RFC 9162)", True,
                   f"entry {ledger['index']} of {signed.size}")
    except (KeyError, TypeError, ValueError) as exc:
        result.add("ledger proof", False, f"missing or malformed ({type(exc).__name__})")
    except DsrError as exc:
        result.add("ledger proof", False, str(exc))
    return result
