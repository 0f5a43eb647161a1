"""The data that flows one way through the agent: Subject -> Finding -> (later) Plan.

Public fields are what JSON output and receipts show. Fields whose names start with an
underscore-free ``internal`` prefix are never serialised: they carry the values the engine
needs to attribute records (the identity values on a record, the holder's name) and stay
in memory only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

Strength = Literal["strong", "weak"]
Kind = Literal["row", "file", "object", "recording"]

# Identifier status after attribution: only "strong" ones ever expand.
IdentifierStatus = Literal["strong", "weak", "shared", "organisation"]


@dataclass(frozen=True)
class Identifier:
    """One normalised identifier of a subject.

    ``id`` is stable inside a search (``email#1``); ``origin`` is ``request`` or the id of
    the finding it was discovered on; ``scope`` namespaces record ids (``crm.contacts``).
    """

    id: str
    type: str
    value: str
    origin: str = "request"
    round: int = 0
    scope: str | None = None

    def public(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "type": self.type, "value": self.value,
                               "origin": self.origin, "round": self.round}
        if self.scope:
            out["scope"] = self.scope
        return out


@dataclass
class Subject:
    """A person as identifiers. ``search_ids`` limits a round to the identifiers new in it."""

    ref: str
    identifiers: list[Identifier] = field(default_factory=list)
    search_ids: frozenset[str] | None = None
    status: dict[str, IdentifierStatus] = field(default_factory=dict)

    def of_type(self, *types: str) -> list[Identifier]:
        return [i for i in self.identifiers if i.type in types]

    def to_search(self) -> list[Identifier]:
        """Identifiers a connector should query for in this round."""
        if self.search_ids is None:
            return list(self.identifiers)
        return [i for i in self.identifiers if i.id in self.search_ids]

    def get(self, ident_id: str) -> Identifier | None:
        return next((i for i in self.identifiers if i.id == ident_id), None)

    def public(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "identifiers": [
                {**i.public(), "status": self.status.get(i.id, "strong")}
                for i in self.identifiers
            ],
        }


@dataclass
class Finding:
    """One place (row, file, object, recording) holding the subject's data.

    A connector fills the public fields it knows plus the ``internal_*`` evidence; the
    engine decides ``strength`` and ``chain`` from the evidence with the core's rules,
    so every connector attributes the same way.
    """

    system: str
    kind: Kind
    locator: str
    subject: str = ""
    categories: list[str] = field(default_factory=list)
    matched: list[str] = field(default_factory=list)
    strength: Strength = "weak"
    rows: list[int] | None = None
    chain: list[dict[str, Any]] = field(default_factory=list)
    container: str | None = None  # table, folder or prefix: for policy mapping later
    # why an export of this finding needs a person's disclosure review (it also holds a
    # third person's data: the other party of a call), or None
    review: str | None = None
    # --- evidence, never serialised or logged ---
    internal_matched_ids: set[str] = field(default_factory=set)
    # of those, identifiers that are only weak evidence on this record (a number the
    # system knows is shared: a switchboard, a household landline)
    internal_weak_ids: set[str] = field(default_factory=set)
    # identity values on the record by identifier type (normalised), for expansion and
    # for spotting look-alikes (a same-name record whose e-mail differs)
    internal_values: dict[str, set[str]] = field(default_factory=dict)
    internal_holder: str | None = None  # normalised name of the person the record is about
    internal_party: Literal["person", "organisation"] | None = None
    # reached by following a link from another finding (FK child, declared reference)
    internal_parent: str | None = None
    internal_link: str | None = None

    @property
    def id(self) -> str:
        return f"{self.system}:{self.locator}"

    def public(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "system": self.system,
            "kind": self.kind,
            "locator": self.locator,
            "categories": sorted(self.categories),
            "matched": sorted(self.matched),
            "strength": self.strength,
            "chain": self.chain,
        }
        if self.container:
            out["container"] = self.container
        if self.review:
            out["review"] = self.review
        if self.rows is not None:
            out["rows"] = self.rows
        return out

    def merge(self, other: Finding) -> None:
        """Fold a second sighting of the same place into this one."""
        self.internal_matched_ids |= other.internal_matched_ids
        self.internal_weak_ids |= other.internal_weak_ids
        self.review = self.review or other.review
        for kind, values in other.internal_values.items():
            self.internal_values.setdefault(kind, set()).update(values)
        self.categories = sorted(set(self.categories) | set(other.categories))
        if other.rows:
            self.rows = sorted(set(self.rows or []) | set(other.rows))
        if self.internal_parent is None:
            self.internal_parent, self.internal_link = other.internal_parent, other.internal_link
        self.internal_holder = self.internal_holder or other.internal_holder
        self.internal_party = self.internal_party or other.internal_party


@dataclass
class SystemStatus:
    name: str
    status: Literal["ok", "error"] = "ok"
    error: str | None = None
    seconds: float = 0.0
    notes: dict[str, Any] = field(default_factory=dict)

    def public(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "status": self.status,
                               "seconds": round(self.seconds, 3)}
        if self.error:
            out["error"] = self.error
        if self.notes:
            out.update(self.notes)
        return out


@dataclass
class SearchResult:
    subject: Subject
    findings: list[Finding]
    systems: list[SystemStatus]
    search_id: str = ""
    rounds: int = 0
    excluded_lookalikes: int = 0

    @property
    def failed(self) -> bool:
        return any(s.status != "ok" for s in self.systems)

    def public(self) -> dict[str, Any]:
        return {
            "search_id": self.search_id,
            "subject": self.subject.public(),
            "findings": [f.public() for f in self.findings],
            "systems": [s.public() for s in self.systems],
            "rounds": self.rounds,
            "excluded_lookalikes": self.excluded_lookalikes,
        }


def findings_by_id(findings: Iterable[Finding]) -> dict[str, Finding]:
    return {f.id: f for f in findings}
