"""Disclosure-review decisions: a person withholds an item with a reason or discloses it with
the other person's consent. Kept in ``dsr_review_decisions`` beside the request tables (the
latest decision per item counts) and recorded as a request event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from agent.request_store import RequestStore, now
from agent.store import create_tables, metadata

DECISIONS = ("withhold", "disclose")

review_decisions = sa.Table(
    "dsr_review_decisions", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.String(40), sa.ForeignKey("dsr_requests.id"), nullable=False,
              index=True),
    sa.Column("item", sa.String(1000), nullable=False),  # a finding id or system/table#row
    sa.Column("decision", sa.String(20), nullable=False),  # withhold | disclose
    sa.Column("note", sa.Text, nullable=False),  # the reason, or how consent was given
    sa.Column("decided_by", sa.String(200), nullable=False),
    sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True)
class Decision:
    item: str
    decision: str  # withhold | disclose
    note: str
    by: str
    at: datetime

    def public(self) -> dict[str, Any]:
        key = "reason" if self.decision == "withhold" else "consent"
        return {"item": self.item, "decision": self.decision, key: self.note,
                "decided_by": self.by, "decided_at": self.at.isoformat()}


def save_decision(requests: RequestStore, request_id: str, item: str, decision: str,
                  note: str, by: str) -> Decision:
    """Store the decision and record it as a ``review_decision`` event."""
    if decision not in DECISIONS:
        raise ValueError(f"decision must be one of {DECISIONS}")
    made = Decision(item, decision, note, by, now())
    create_tables(requests.engine)  # a state store made before this table gains it
    with requests.engine.begin() as conn:
        conn.execute(review_decisions.insert().values(
            request_id=request_id, item=item, decision=decision, note=note, decided_by=by,
            decided_at=made.at))
    requests.record(request_id, by, "review_decision", note,
                    {"item": item, "decision": decision})
    return made


def load_decisions(requests: RequestStore, request_id: str) -> dict[str, Decision]:
    """The latest decision per item."""
    create_tables(requests.engine)
    with requests.engine.connect() as conn:
        rows = conn.execute(sa.select(review_decisions).where(
            review_decisions.c.request_id == request_id).order_by(review_decisions.c.id)
        ).mappings().all()
    return {r["item"]: Decision(r["item"], r["decision"], r["note"], r["decided_by"],
                                _aware(r["decided_at"])) for r in rows}


def _aware(value: datetime) -> datetime:
    # SQLite hands back naive datetimes: they were stored in UTC
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value
