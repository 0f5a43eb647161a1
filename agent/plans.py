"""Plans: what will be done to each finding of a request, and what each action did.

A plan is a list of ``PlanItem``s made from the findings by the policy (``agent.planner``);
an approved plan is executed item by item through the journal (``agent.executor``), each
connector returning an ``Outcome`` per item. Both are plain data that serialise to JSON and
carry no identifier values: locators, types and reasons only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from agent.models import Finding

# Every action a plan item can carry, with what it means (shown in `dsr request plan`).
ACTIONS: dict[str, str] = {
    "delete": "remove the record",
    "anonymise": "keep the record, overwrite the person's details (column rules)",
    "suppress": "mark the record do-not-contact",
    "restrict": "mark the record restricted: kept, not used",
    "retain": "keep, under a named legal basis, until a date or a condition ends",
    "beyond_use": "cannot be rewritten (backup, locked object): kept until expiry, never "
                  "used, erasure re-applied after a restore",
    "quarantine": "move to the system's quarantine folder: out of use, kept until a date, "
                  "not deleted",
    "rectify": "correct named fields",
    "export": "copy into the access or portability export",
    "manual": "a person must act (named system or place) and sign off",
    "notify": "tell a recipient who received the data (UK GDPR Art 19)",
}
Action = Literal["delete", "anonymise", "suppress", "restrict", "retain", "beyond_use",
                 "quarantine", "rectify", "export", "manual", "notify"]

# Actions a connector carries out, and the connector method that does each.
CONNECTOR_ACTIONS: dict[str, str] = {
    "delete": "erase", "anonymise": "erase", "quarantine": "erase", "suppress": "suppress",
    "restrict": "restrict", "rectify": "rectify", "export": "read",
}
# Actions a person completes with `dsr request signoff`.
SIGNOFF_ACTIONS = frozenset({"manual", "notify"})
# Actions that change nothing and need no step at run time.
PASSIVE_ACTIONS = frozenset({"retain", "beyond_use"})

OutcomeStatus = Literal["done", "absent", "skipped", "failed"]


@dataclass
class PlanItem:
    """One thing to do. ``id`` is the finding id (``system:locator``) for findings,
    ``notify:RECIPIENT`` for Art 19 notices and ``SYSTEM:manual:KEY`` for manual tasks."""

    id: str
    action: str
    reason: str
    system: str | None = None
    kind: str | None = None  # row | file | object | recording | task | notice
    locator: str | None = None
    container: str | None = None
    group: str | None = None
    rule: str | None = None
    basis: str | None = None  # the legal basis a retain quotes
    until: str | None = None  # ISO date a retain or beyond_use ends
    strength: str | None = None
    included: bool = True  # weak findings are left out until an approver includes them
    matched: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    rows: list[int] | None = None
    held: str | None = None  # the hold's reason, when a hold turned this into retain
    fields: list[str] = field(default_factory=list)  # rectify: the field names corrected
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def runnable(self) -> bool:
        """Carried out by a connector at run time."""
        return self.included and self.action in CONNECTOR_ACTIONS

    def public(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in (None, [], {})}

    def as_finding(self) -> Finding:
        """The finding this item stands for, as a connector's read() and actions_for()
        take it (the evidence stays behind: only what the plan recorded)."""
        return Finding(system=self.system or "", kind=self.kind or "row",  # type: ignore[arg-type]
                       locator=self.locator or "", container=self.container, rows=self.rows,
                       strength=self.strength or "strong",  # type: ignore[arg-type]
                       categories=list(self.categories), matched=list(self.matched),
                       review=self.notes.get("disclosure_review"))

    @classmethod
    def from_public(cls, data: dict[str, Any]) -> PlanItem:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class Outcome:
    """What a connector did with one item. ``absent`` = already gone (a re-run, or a
    record removed since the plan): it counts as done. ``failed`` rolls back its system."""

    item_id: str
    status: OutcomeStatus
    detail: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    versions: list[str] = field(default_factory=list)  # object versions removed (buckets)

    @property
    def ok(self) -> bool:
        return self.status in ("done", "absent", "skipped")

    def public(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in ("", [], {})}

    @classmethod
    def from_public(cls, data: dict[str, Any]) -> Outcome:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class ManualTask:
    """A place a person must search and act on by hand (CCTV, paper files, a mailbox
    without an API), declared by a system with no automation."""

    key: str
    description: str
    where: str = ""
