"""Receipts: what a request searched, found, erased, kept and why, as one JSON document
a regulator or the person can check without our software.

A receipt never holds an identifier value or a locator (a file name can name a person):
the person is a salted commitment, places are counted by system and category, and actions
are counted by what they did, with each retention's legal basis and until-date, each
sign-off's signer, each failure's (value-free) error, and the object version ids removed.

The body is canonical JSON (RFC 8785), signed as a detached JWS (``agent.jws``) and
appended to the Merkle ledger (``agent.ledger``); see ``agent.receipt_store`` for how the
three are tied together and docs/receipts.md for how anyone verifies them.
"""

from __future__ import annotations

import hashlib
import secrets
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import rfc8785

from agent import __version__
from agent.plans import PlanItem
from agent.request import ICO_COMPLAINT, Request

RECEIPT_VERSION = 1
SALT_BYTES = 32
# plan action -> the word a receipt counts it under
DONE_WORDS = {"delete": "deleted", "anonymise": "anonymised", "suppress": "suppressed",
              "restrict": "restricted", "rectify": "rectified", "quarantine": "quarantined",
              "export": "exported"}
COMMITMENT_SCHEME = ("sha256(salt || RFC 8785 JSON of the sorted [type, value] pairs of the "
                     "request's normalised identifiers), hex")


def new_salt() -> bytes:
    return secrets.token_bytes(SALT_BYTES)


def subject_commitment(identifiers: Sequence[Mapping[str, Any]], salt: bytes) -> str:
    """The commitment a receipt names the person by. The person, given the salt (their own
    copy of the receipt), recomputes it from the identifiers they gave."""
    pairs = sorted([str(i["type"]), str(i["value"])] for i in identifiers)
    return hashlib.sha256(salt + rfc8785.dumps(pairs)).hexdigest()


@dataclass
class ReceiptInputs:
    """Everything a receipt is made of, gathered by the workflow."""

    request: Request
    commitment: str
    documents: Sequence[Mapping[str, Any]] = ()  # identity documents seen (types, not copies)
    items: Sequence[PlanItem] = ()
    journal: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # item id -> entry
    searched: Sequence[Mapping[str, Any]] = ()  # the plan's search: per system status
    connectors: Mapping[str, str] = field(default_factory=dict)  # system -> connector name
    result: Mapping[str, Any] = field(default_factory=dict)  # the run summary, if any


def build_receipt(inputs: ReceiptInputs, *, receipt_id: str, issued_at: datetime
                  ) -> dict[str, Any]:
    request = inputs.request
    body: dict[str, Any] = {
        "receipt_version": RECEIPT_VERSION,
        "receipt_id": receipt_id,
        "issued_at": _time(issued_at),
        "agent": {"name": "dsr-agent", "version": __version__},
        "request": {"id": request.id, "type": request.type, "status": request.status,
                    "received_at": _time(request.received_at),
                    "deadline": request.deadline.isoformat(),
                    "completed_at": _time(request.updated_at or issued_at)},
        "subject": {"commitment": inputs.commitment, "scheme": COMMITMENT_SCHEME},
        "identity_check": _identity(request, inputs.documents),
        "systems": _systems(inputs),
    }
    notified = _signed(inputs, "notify")
    if notified:
        body["notified"] = notified
    result = inputs.result
    if result.get("verification"):
        verification = result["verification"]
        body["verification"] = {"method": verification.get("method"),
                                "residual": dict(verification.get("residual", {})),
                                "failed_systems": list(verification.get("failed_systems", []))}
    if "suppression_entries_added" in result:
        body["suppression_entries_added"] = int(result["suppression_entries_added"])
    if request.refusal:
        body["refusal"] = {"reason": request.refusal.get("reason"),
                           "partial": bool(request.refusal.get("partial")),
                           "right_to_complain": ICO_COMPLAINT}
    return body


def _identity(request: Request, documents: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "required": request.identity_required, "verified": request.identity_verified,
        "documents_seen": [{"type": d["document"], "seen_by": d.get("seen_by"),
                            "seen_at": _time(d.get("seen_at"))} for d in documents]}
    if request.identity_waived:
        out["lesser_check_reason"] = request.identity_waived
    return out


def _systems(inputs: ReceiptInputs) -> list[dict[str, Any]]:
    searched = {s["name"]: s for s in inputs.searched}
    names = sorted({*searched, *(i.system for i in inputs.items if i.system)})
    return [_system(name, inputs, searched.get(name)) for name in names]


def _system(name: str, inputs: ReceiptInputs, search: Mapping[str, Any] | None
            ) -> dict[str, Any]:
    items = [i for i in inputs.items if i.system == name and i.kind not in ("task", "notice")]
    out: dict[str, Any] = {
        "name": name, "connector": inputs.connectors.get(name, "unknown"),
        "searched": bool(search) and search.get("status") == "ok",
    }
    if search and search.get("status") != "ok":
        out["search_error"] = search.get("error")
    categories: Counter[str] = Counter()
    for item in items:
        categories.update(item.categories or ["uncategorised"])
    out["findings"] = {"total": len(items), "by_category": dict(sorted(categories.items())),
                       "weak_not_included": sum(1 for i in items if not i.included)}
    done: Counter[str] = Counter()
    failed, versions = [], []
    for item in items:
        if not item.included or item.action not in DONE_WORDS:
            continue
        outcome = (inputs.journal.get(item.id) or {}).get("outcome") or {}
        status = outcome.get("status")
        if status in ("done", "absent", "skipped"):
            done[DONE_WORDS[item.action]] += 1
            versions += [v.rsplit("versionId=", 1)[-1] for v in outcome.get("versions", [])]
        elif status == "failed":
            failed.append({"action": item.action, "error": outcome.get("detail", "")})
        else:
            done[f"not_run_{item.action}"] += 1
    out["actions"] = dict(sorted(done.items()))
    out["retained"] = _grouped(items, "retain", ("rule", "basis", "until", "held"))
    out["beyond_use"] = _grouped(items, "beyond_use", ("rule", "until"))
    manual = _signed(inputs, "manual", system=name)
    if manual:
        out["manual"] = manual
    if failed:
        out["failed"] = failed
    if versions:
        out["versions_removed"] = sorted(set(versions))
    return out


def _grouped(items: Sequence[PlanItem], action: str, keys: Sequence[str]
             ) -> list[dict[str, Any]]:
    groups: Counter[tuple[Any, ...]] = Counter(
        tuple(getattr(i, k) for k in keys) for i in items if i.included and i.action == action)
    return [{**{k: v for k, v in zip(keys, group, strict=True) if v is not None},
             "count": count} for group, count in sorted(groups.items(), key=str)]


def _signed(inputs: ReceiptInputs, action: str, *, system: str | None = None
            ) -> list[dict[str, Any]]:
    """Manual tasks and notices: who signed each off, and when (or still pending)."""
    out = []
    for item in inputs.items:
        if item.action != action or not item.included or (system and item.system != system):
            continue
        entry = inputs.journal.get(item.id) or {}
        outcome = entry.get("outcome") or {}
        # a recipient or a task's key; never a locator (a file name can name a person)
        what = item.notes.get("recipient") if action == "notify" else (
            item.id.rsplit(":", 1)[-1] if item.kind == "task" else f"a {item.kind or 'record'}")
        record: dict[str, Any] = {"what": what}
        if entry.get("state") in ("signed", "signoff_failed"):
            record["signed_off_by"] = outcome.get("signed_by")
            record["at"] = outcome.get("at")
            if entry["state"] == "signoff_failed":
                record["not_done"] = True  # the reason stays in the request's events
        else:
            record["pending"] = True
        out.append(record)
    return out


def _time(value: Any) -> str | None:
    if value is None:
        return None
    return value.isoformat() if isinstance(value, datetime) else str(value)
