"""A data subject request: its type, its clock, its identity check and its lifecycle.

The status moves only along ``TRANSITIONS``; every move is stored with who made it, when
and why (``RequestStore.transition``) and fires the ``request_status_changed`` hook.
A new request moves on to ``identity_pending`` (or ``verified`` when its type needs no
documents), but ``Request.identity_verified`` stays the authority: search and plan may run
before the person's ID is checked (the status then moves on past ``identity_pending``), but
``run`` (and any export) waits for the flag.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from agent.deadlines import clock_deadline
from agent.errors import DsrError
from agent.policy import REQUEST_TYPES

# What each type asks for (UK GDPR article), shown by `dsr request create --help` and docs.
TYPE_DESCRIPTIONS: dict[str, str] = {
    "access": "a copy of their data (Art 15)",
    "portability": "their data in a machine-readable form (Art 20)",
    "erasure": "erase their data where no law requires keeping it (Art 17)",
    "rectify": "correct inaccurate data (Art 16)",
    "object": "stop direct marketing: do not contact (Art 21)",
    "restrict": "keep their data but stop using it (Art 18)",
}
assert set(TYPE_DESCRIPTIONS) == set(REQUEST_TYPES)

OPEN_STATUSES = ("received", "identity_pending", "verified", "searching", "planned",
                 "disclosure_review", "approved", "executing", "verifying", "awaiting_signoff",
                 "partially_completed")
FINAL_STATUSES = ("completed", "refused", "cancelled")
STATUSES = OPEN_STATUSES + FINAL_STATUSES

# Every allowed move, with what makes it (the docs table is rendered from this). `plan` may
# run again from any open status before execution starts: a fresh plan replaces the old
# one and needs approving again. A search or run that crashed part-way stays `searching` /
# `executing` / `verifying` and is simply started again.
MOVES: tuple[tuple[str, str, str], ...] = (
    ("received", "identity_pending", "create: ID documents are required, none seen yet"),
    ("received", "verified", "create: no ID documents are required for the type"),
    ("received", "searching", "plan (a request recorded before identity was a status)"),
    ("received", "refused", "refuse"),
    ("received", "cancelled", "cancel"),
    ("identity_pending", "verified", "verify: enough documents seen, or a lesser check"),
    ("identity_pending", "searching", "plan: search may run before ID is verified"),
    ("identity_pending", "refused", "refuse (e.g. the ID never came)"),
    ("identity_pending", "cancelled", "cancel"),
    ("verified", "searching", "plan"),
    ("verified", "refused", "refuse"),
    ("verified", "cancelled", "cancel"),
    ("searching", "planned", "plan: the search finished and the plan is stored"),
    ("searching", "disclosure_review", "plan: an access/portability plan holds other "
     "people's data"),
    ("searching", "refused", "refuse"),
    ("searching", "cancelled", "cancel"),
    ("planned", "searching", "plan again, or run found new data (stale plan)"),
    ("planned", "approved", "approve"),
    ("planned", "refused", "refuse"),
    ("planned", "cancelled", "cancel"),
    ("disclosure_review", "planned", "review: every third-party item decided"),
    ("disclosure_review", "approved", "approve (the approver makes the review decisions)"),
    ("disclosure_review", "searching", "plan again"),
    ("disclosure_review", "refused", "refuse"),
    ("disclosure_review", "cancelled", "cancel"),
    ("approved", "searching", "plan again, or run found new data (stale plan)"),
    ("approved", "executing", "run (identity must be verified)"),
    ("approved", "refused", "refuse"),
    ("approved", "cancelled", "cancel"),
    ("executing", "verifying", "run: the plan was carried out; checking the result"),
    ("executing", "searching", "run resumed after a crash found new data (stale plan)"),
    ("verifying", "completed", "run: done and verified, nothing to sign off"),
    ("verifying", "partially_completed", "run: a system failed or residual data was found"),
    ("verifying", "awaiting_signoff", "run: manual or notify items wait for a person"),
    ("verifying", "searching", "run resumed after a crash found new data (stale plan)"),
    ("awaiting_signoff", "completed", "signoff of the last manual/notify item"),
    ("awaiting_signoff", "partially_completed", "signoff --failed: a manual or notify item "
     "could not be done"),
    ("awaiting_signoff", "refused", "refuse"),
    ("partially_completed", "executing", "run again (the journal skips what is done)"),
    ("partially_completed", "searching", "plan again"),
    ("partially_completed", "completed", "signoff of the last outstanding manual item, "
     "when the run itself was clean"),
    ("partially_completed", "refused", "refuse the rest"),
    ("completed", "executing", "reapply an erasure after a backup restore"),
)

# status -> statuses it may move to
TRANSITIONS: dict[str, tuple[str, ...]] = {
    status: tuple(new for old, new, _ in MOVES if old == status) for status in STATUSES}
assert set(TRANSITIONS) == set(STATUSES)
assert {n for _, n, _ in MOVES} <= set(STATUSES) and len(set(MOVES)) == len(MOVES)

# what each step accepts (the workflow and the API share these, so the API answers 409
# up front instead of starting a job that is bound to fail)
PLANNABLE = ("received", "identity_pending", "verified", "searching", "planned",
             "disclosure_review", "approved", "partially_completed")
APPROVABLE = ("planned", "disclosure_review")
RUNNABLE = ("approved", "partially_completed", "executing", "verifying")
RESUMABLE = ("executing", "verifying")  # a run that crashed part-way
SIGNABLE = ("approved", "executing", "verifying", "awaiting_signoff", "partially_completed")
IDENTITY_WAITING = ("received", "identity_pending")  # verify moves these to verified

ICO_COMPLAINT = ("You have the right to complain to the Information Commissioner's Office "
                 "(ico.org.uk/make-a-complaint, 0303 123 1113) and to seek a judicial "
                 "remedy.")


class RequestError(DsrError):
    """A request operation is not allowed now (wrong status, not verified, stale plan)."""


WAITING_FOR_ID = "1 month after ID arrives"


@dataclass
class Clock:
    """The statutory clock beside the status: when it started, pauses, extensions."""

    started: date | None  # None while waiting for requested ID
    extension_months: int = 0
    told: date | None = None  # when the person was told of the extension
    paused_days: int = 0  # finished pauses, added to the deadline
    paused_since: date | None = None  # a pause under way
    id_requested: date | None = None  # while waiting for ID: the day it was asked for

    @property
    def awaiting_id(self) -> bool:
        return self.started is None

    def waiting_days(self, today: date) -> int | None:
        """Days spent waiting for the requested ID (None: not waiting, or day unknown)."""
        if not self.awaiting_id or self.id_requested is None:
            return None
        return max(0, (today - self.id_requested).days)

    def public(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "started": self.started.isoformat() if self.started else None,
            "awaiting_id": self.awaiting_id, "paused": self.paused_since is not None,
            "paused_days": self.paused_days, "extension_months": self.extension_months}
        if self.awaiting_id and self.id_requested:
            out["id_requested"] = self.id_requested.isoformat()
        if self.paused_since:
            out["paused_since"] = self.paused_since.isoformat()
        if self.told:
            out["extension_told"] = self.told.isoformat()
        return out


@dataclass
class Request:
    id: str
    type: str
    status: str
    received_at: datetime
    deadline: date
    created_by: str
    identity_required: int
    identity_verified: bool = False
    identity_waived: str | None = None  # reason a lesser check was accepted
    plan_id: str | None = None
    changes_fields: list[str] = field(default_factory=list)  # rectify: field names only
    result: dict[str, Any] = field(default_factory=dict)
    refusal: dict[str, Any] | None = None
    updated_at: datetime | None = None
    clock: Clock | None = None  # None: a clock running from receipt, never paused

    @property
    def open(self) -> bool:
        return self.status in OPEN_STATUSES

    def due(self, today: date) -> date | None:
        """The deadline as it stands today: none while waiting for ID; a pause under way
        pushes it on by the days paused so far."""
        clock = self.clock
        if clock is None:
            return self.deadline
        if clock.awaiting_id:
            return None
        if clock.paused_since and today > clock.paused_since:
            running = (today - clock.paused_since).days
            return clock_deadline(clock.started, extension_months=clock.extension_months,
                                  paused_days=clock.paused_days + running)
        return self.deadline

    def overdue(self, today: date) -> bool:
        due = self.due(today)
        return self.open and due is not None and today > due

    def public(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id, "type": self.type, "status": self.status,
            "received_at": self.received_at.isoformat(), "deadline": self.deadline.isoformat(),
            "created_by": self.created_by,
            "identity": {"required": self.identity_required,
                         "verified": self.identity_verified},
            "plan_id": self.plan_id,
        }
        if self.identity_waived:
            out["identity"]["lesser_check_reason"] = self.identity_waived
        if self.changes_fields:
            out["changes"] = self.changes_fields
        if self.result:
            out["result"] = self.result
        if self.refusal:
            out["refusal"] = self.refusal
        if self.updated_at:
            out["updated_at"] = self.updated_at.isoformat()
        if self.clock:
            out["clock"] = self.clock.public()
            if self.clock.awaiting_id:
                # "deadline" stays the provisional date from receipt for older readers
                out["due"] = WAITING_FOR_ID
        return out


def transitions_table() -> str:
    """The Markdown table of ``MOVES`` as docs/requests.md shows it (a test keeps them equal)."""
    rows = ["| from | to | by |", "|---|---|---|"]
    rows += [f"| {old} | {new} | {how} |" for old, new, how in MOVES]
    return "\n".join(rows) + "\n"


def check_transition(request: Request, new: str) -> None:
    if new not in TRANSITIONS[request.status]:
        allowed = ", ".join(TRANSITIONS[request.status]) or "none: the request is closed"
        raise RequestError(f"request {request.id} is {request.status}; it cannot become "
                           f"{new} (allowed next: {allowed})")
