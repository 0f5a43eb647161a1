"""The do-not-contact suppression list: keyed digests of a person's contact identifiers.

The policy: "we can mark it as do not contact". An erasure or an objection adds the
person's contact identifiers here, as HMAC digests only, so a list bought in later can be
screened against it without the agent keeping who they were. This module is the interface
the request machinery writes through; `dsr suppress add|check|export|screen` (agent/cli/
suppress_cmd.py, agent/screening.py) work on the same list by raw values, normalised and
digested here, so a value typed any way matches the entry a request added.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import sqlalchemy as sa

from agent import logging as dsr_logging
from agent.errors import IdentifierError
from agent.identifiers import normalise, normalise_name, normalise_postcode, resolve_type
from agent.keys import DigestKey
from agent.models import Identifier
from agent.store import Store, create_tables, metadata

log = dsr_logging.get_logger(__name__)

# Identifier types that reach a person: what marketing could contact them by or match on.
CONTACT_TYPES = frozenset({"email", "phone", "account", "customer_id", "contact_id",
                           "cookie_id", "device_id", "company_number"})

# A person without an e-mail or phone of their own on a purchased list: name and postcode.
NAME_POSTCODE = "name_postcode"
ENTRY_TYPES = CONTACT_TYPES | {NAME_POSTCODE}

# Digests per IN (...) query: well under every database's bound-parameter limit.
_LOOKUP_BATCH = 500

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
    added_at: datetime | None = None
    key_id: str | None = None

    def public(self) -> dict[str, Any]:
        """What may leave the agent: digests and labels, never a value."""
        added = self.added_at.isoformat() if self.added_at else None
        return {"digest": self.digest, "type": self.type, "reason": self.reason,
                "added_at": added, "key_id": self.key_id, "request_id": self.request_id}


def name_postcode_value(name: str, postcode: str) -> str:
    """The normalised value behind a name_postcode entry: ``"jane doe|SW1A 1AA"``."""
    return f"{normalise_name(name)}|{normalise_postcode(postcode)}"


def normalise_entry(type_: str, raw: str) -> tuple[str, str]:
    """(entry type, normalised value) for a raw value; a name_postcode value is
    ``"name|postcode"``. Raises IdentifierError naming the type, never the value."""
    if type_ == NAME_POSTCODE:
        name, sep, postcode = str(raw).rpartition("|")
        if not sep or not name.strip() or not postcode.strip():
            raise IdentifierError(NAME_POSTCODE, "expected a name and a postcode")
        return NAME_POSTCODE, name_postcode_value(name, postcode)
    kind = resolve_type(type_).name
    if kind not in CONTACT_TYPES:
        raise IdentifierError(kind, "not a contact identifier the suppression list holds "
                                    "(e-mail, phone, name and postcode, record ids)")
    return kind, normalise(kind, raw)


class SuppressionList(Protocol):
    def add(self, identifiers: Iterable[Identifier], *, request_id: str | None,
            reason: str) -> int: ...

    def add_values(self, pairs: Iterable[tuple[str, str]], *, reason: str,
                   request_id: str | None = None) -> int: ...

    def contains(self, type_: str, value: str) -> bool: ...

    def listed_values(self, pairs: Iterable[tuple[str, str]]) -> set[tuple[str, str]]: ...

    def check(self, pairs: Iterable[tuple[str, str]]) -> list[Entry]: ...

    def digest(self, type_: str, value: str) -> str: ...

    def listed(self, digests: Iterable[str]) -> set[str]: ...

    def entries(self, request_id: str) -> list[Entry]: ...

    def export(self) -> Iterator[dict[str, Any]]: ...


class StoreSuppressionList:
    """The list in the agent's state store (one row per digest; re-adding is a no-op).

    After an HMAC key rotation, entries digested with an older key still match: every
    lookup by value tries every key, and a value found only under an older key gets an
    entry under the current key (same type, reason, request and date) on that match."""

    def __init__(self, store: Store) -> None:
        self.engine = store.engine
        self.key: DigestKey = store.key
        create_tables(self.engine)

    def add(self, identifiers: Iterable[Identifier], *, request_id: str | None,
            reason: str) -> int:
        pairs = [(i.type, i.value) for i in identifiers if i.type in CONTACT_TYPES]
        return self._insert(pairs, request_id=request_id, reason=reason)

    def add_values(self, pairs: Iterable[tuple[str, str]], *, reason: str,
                   request_id: str | None = None) -> int:
        """Add raw values (type, value), normalised first; returns how many were new.
        Every value is checked before anything is written."""
        normalised = [normalise_entry(type_, value) for type_, value in pairs]
        return self._insert(normalised, request_id=request_id, reason=reason)

    def digest(self, type_: str, value: str) -> str:
        """The keyed digest of an already normalised value, with the current key."""
        return self.key.digest(type_, value)

    def digests(self, type_: str, value: str) -> list[str]:
        """Its digests under every key, current first."""
        return [digest for _, digest in self.key.all_digests(type_, value)]

    def check(self, pairs: Iterable[tuple[str, str]]) -> list[Entry]:
        """The entries matching raw values (type, value), in the order given (the current
        key's entry, made now if the value was listed only under an older key)."""
        normalised = [normalise_entry(type_, value) for type_, value in pairs]
        found = self._match(normalised)
        return [found[pair] for pair in dict.fromkeys(normalised) if pair in found]

    def contains(self, type_: str, value: str) -> bool:
        """Is this already normalised value listed (under any key)?"""
        return (type_, value) in self._match([(type_, value)])

    def listed_values(self, pairs: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which normalised (type, value) pairs are listed under any key (batched:
        screening asks for thousands); older-key matches are re-digested."""
        return set(self._match(pairs))

    def listed(self, digests: Iterable[str]) -> set[str]:
        """Which of these digests are on the list. Digests alone cannot be re-digested:
        give the digests of every key (``digests()``), or use ``listed_values``."""
        return set(self._rows(digests))

    def export(self) -> Iterator[dict[str, Any]]:
        """Every entry as digests, types, reason, date and key id (never a value), streamed
        oldest first."""
        query = sa.select(suppression).order_by(suppression.c.added_at, suppression.c.digest)
        with self.engine.connect() as conn:
            result = conn.execution_options(yield_per=1000).execute(query).mappings()
            for row in result:
                yield _entry(row).public()

    def entries(self, request_id: str) -> list[Entry]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(suppression).where(
                suppression.c.request_id == request_id)).mappings().all()
        return [_entry(r) for r in rows]

    # ------------------------------------------------------------------ internals
    def _insert(self, pairs: Collection[tuple[str, str]], *, request_id: str | None,
                reason: str) -> int:
        # a value listed under any key is already listed (an older key's entry is
        # re-digested by the lookup, keeping its request and reason)
        listed = self._match(pairs)
        rows: dict[str, dict[str, Any]] = {}
        now = datetime.now(UTC)
        for type_, value in pairs:
            if (type_, value) in listed:
                continue
            digest = self.key.digest(type_, value)
            rows[digest] = {"digest": digest, "type": type_, "key_id": self.key.key_id,
                            "request_id": request_id, "reason": reason, "added_at": now}
        return self._write(rows)

    def _match(self, pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Entry]:
        """The entry of each listed normalised pair, preferring the current key's."""
        wanted: dict[str, tuple[tuple[str, str], int]] = {}  # digest -> (pair, key rank)
        for pair in dict.fromkeys(pairs):
            for rank, digest in enumerate(self.digests(*pair)):
                wanted[digest] = (pair, rank)
        best: dict[tuple[str, str], tuple[int, Any]] = {}
        for digest, row in self._rows(wanted).items():
            pair, rank = wanted[digest]
            if pair not in best or rank < best[pair][0]:
                best[pair] = (rank, row)
        found = {pair: _entry(row) for pair, (rank, row) in best.items() if rank == 0}
        stale = {pair: row for pair, (rank, row) in best.items() if rank > 0}
        if stale:
            found.update(self._redigest(stale))
        return found

    def _redigest(self, stale: dict[tuple[str, str], Any]) -> dict[tuple[str, str], Entry]:
        """Entries under the current key for values listed only under an older one; the
        original type, reason, request and date are kept (the date is when the person was
        listed, not when the key changed)."""
        rows: dict[str, dict[str, Any]] = {}
        made: dict[tuple[str, str], Entry] = {}
        for pair, row in stale.items():
            old = _entry(row)  # its date with the zone SQLite drops
            digest = self.key.digest(*pair)
            rows[digest] = {"digest": digest, "type": old.type, "key_id": self.key.key_id,
                            "request_id": old.request_id, "reason": old.reason,
                            "added_at": old.added_at}
            made[pair] = _entry(rows[digest])
        added = self._write(rows)
        log.info("suppression_redigested", entries=len(rows), added=added,
                 key_id=self.key.key_id)
        return made

    def _rows(self, digests: Iterable[str]) -> dict[str, Any]:
        """digest -> row of those on the list, looked up in batches."""
        wanted = list(dict.fromkeys(digests))
        found: dict[str, Any] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(wanted), _LOOKUP_BATCH):
                batch = wanted[start:start + _LOOKUP_BATCH]
                found.update((r["digest"], r) for r in conn.execute(
                    sa.select(suppression).where(suppression.c.digest.in_(batch))).mappings())
        return found

    def _write(self, rows: dict[str, dict[str, Any]]) -> int:
        """Insert the rows not yet present; returns how many were new. Another process
        adding the same digest at the same moment is not an error."""
        if not rows:
            return 0
        try:
            return self._write_new(rows)
        except sa.exc.IntegrityError:
            return sum(self._write_one(row) for row in rows.values())

    def _write_new(self, rows: dict[str, dict[str, Any]]) -> int:
        with self.engine.begin() as conn:
            have = set(conn.execute(sa.select(suppression.c.digest).where(
                suppression.c.digest.in_(list(rows)))).scalars())
            new = [row for digest, row in rows.items() if digest not in have]
            if new:
                conn.execute(suppression.insert(), new)
        return len(new)

    def _write_one(self, row: dict[str, Any]) -> int:
        try:
            return self._write_new({row["digest"]: row})
        except sa.exc.IntegrityError:
            return 0  # added by someone else meanwhile


def _entry(row: Any) -> Entry:
    added = row["added_at"]
    if added is not None and added.tzinfo is None:
        added = added.replace(tzinfo=UTC)  # SQLite hands back the UTC time without its zone
    return Entry(row["type"], row["digest"], row["request_id"], row["reason"], added,
                 row["key_id"])
