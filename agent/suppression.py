"""The do-not-contact suppression list: keyed digests of a person's contact identifiers.

The policy: "we can mark it as do not contact". An erasure or an objection adds the
person's contact identifiers here, as HMAC digests only, so a list bought in later can be
screened against it without the agent keeping who they were. This module is the interface
the request machinery writes through; the receipts issue adds `dsr suppress add|check|screen`
and may swap the storage behind ``SuppressionList``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import sqlalchemy as sa

from agent.keys import DigestKey
from agent.models import Identifier
from agent.store import Store, create_tables, metadata

# Identifier types that reach a person: what marketing could contact them by or match on.
CONTACT_TYPES = frozenset({"email", "phone", "account", "customer_id", "contact_id",
                           "cookie_id", "device_id", "company_number"})

suppression = sa.Table(
    "dsr_suppression", metadata,
    sa.Column("digest", sa.String(64), primary_key=True),
    sa.Column("type", sa.String(40), nullable=False),
    sa.Column("key_id", sa.String(32), nullable=False),
    sa.Column("request_id", sa.String(40)),
    sa.Column("reason", sa.String(40), nullable=False),  # erasure | object | manual
    sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True)
class Entry:
    type: str
    digest: str
    request_id: str | None
    reason: str


class SuppressionList(Protocol):
    def add(self, identifiers: Iterable[Identifier], *, request_id: str | None,
            reason: str) -> int: ...

    def contains(self, type_: str, value: str) -> bool: ...

    def entries(self, request_id: str) -> list[Entry]: ...


class StoreSuppressionList:
    """The list in the agent's state store (one row per digest; re-adding is a no-op)."""

    def __init__(self, store: Store) -> None:
        self.engine = store.engine
        self.key: DigestKey = store.key
        create_tables(self.engine)

    def add(self, identifiers: Iterable[Identifier], *, request_id: str | None,
            reason: str) -> int:
        rows = {}
        for ident in identifiers:
            if ident.type in CONTACT_TYPES:
                digest = self.key.digest(ident.type, ident.value)
                rows[digest] = {"digest": digest, "type": ident.type,
                                "key_id": self.key.key_id, "request_id": request_id,
                                "reason": reason, "added_at": datetime.now(UTC)}
        if not rows:
            return 0
        with self.engine.begin() as conn:
            have = set(conn.execute(sa.select(suppression.c.digest).where(
                suppression.c.digest.in_(list(rows)))).scalars())
            new = [row for digest, row in rows.items() if digest not in have]
            if new:
                conn.execute(suppression.insert(), new)
        return len(new)

    def contains(self, type_: str, value: str) -> bool:
        digest = self.key.digest(type_, value)
        with self.engine.connect() as conn:
            return conn.execute(sa.select(suppression.c.digest).where(
                suppression.c.digest == digest)).first() is not None

    def entries(self, request_id: str) -> list[Entry]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(suppression).where(
                suppression.c.request_id == request_id)).mappings().all()
        return [Entry(r["type"], r["digest"], r["request_id"], r["reason"]) for r in rows]
