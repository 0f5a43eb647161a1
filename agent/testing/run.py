"""One conformance test's view of the seeded system: search, read, act, compare states.

Failure messages name finding ids, identifier types, capabilities and counts, never an
identifier value (the test report is a log too).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, NoReturn

import pytest

from agent.connector import Connector
from agent.engine import SearchEngine
from agent.errors import NotSupported
from agent.models import Finding, SearchResult, Subject
from agent.plans import Outcome, PlanItem
from agent.testing.items import plan_items
from agent.testing.seed import MIN_PROTECTED, Seed, value_forms

NOT_APPLICABLE = pytest.StashKey[list[tuple[str, str]]]()
OPERATOR = "conformance-kit"


def fail(message: str) -> NoReturn:
    """Fail with the message alone: the kit's messages say what broke and where."""
    pytest.fail(message, pytrace=False)


@dataclass(frozen=True)
class Sighting:
    """The comparable part of a finding."""

    id: str
    strength: str
    matched: tuple[str, ...]
    categories: tuple[str, ...]

    @classmethod
    def of(cls, finding: Finding) -> Sighting:
        return cls(finding.id, finding.strength, tuple(sorted(finding.matched)),
                   tuple(sorted(finding.categories)))


@dataclass(frozen=True)
class State:
    """What a search (and read, where declared) shows of one person."""

    sightings: frozenset[Sighting]
    content: tuple[tuple[str, str], ...]  # (finding id, canonical JSON of what read returned)

    def differences(self, other: State) -> list[str]:
        """Finding ids that appeared, disappeared or changed between two states."""
        mine = {s.id: s for s in self.sightings}
        theirs = {s.id: s for s in other.sightings}
        out = [f"{i} no longer found" for i in sorted(set(mine) - set(theirs))]
        out += [f"{i} newly found" for i in sorted(set(theirs) - set(mine))]
        out += [f"{i} found differently (strength, matched types or categories)"
                for i in sorted(set(mine) & set(theirs)) if mine[i] != theirs[i]]
        before, after = Counter(self.content), Counter(other.content)
        changed = {i for i, _ in (before - after) + (after - before)}
        out += [f"{i}: read() content changed" for i in sorted(changed)]
        return out


class ConformanceRun:
    """The seeded system behind the engine the pytest plugin built for one test."""

    def __init__(self, seed: Seed, engine: SearchEngine, request: pytest.FixtureRequest
                 ) -> None:
        self.seed = seed
        self.engine = engine
        self.request = request
        self.system = engine.config.systems[0]
        # identifiers searches learnt from the people's own records (their other phone...)
        self.learnt: dict[tuple[str, str, str], None] = {}

    @cached_property
    def connector(self) -> Connector:
        return self.engine.connector(self.system)

    def declares(self, capability: str) -> bool:
        return capability in self.connector.capabilities

    def not_applicable(self, reason: str) -> None:
        """Record why a check had nothing to do; the test passes, the summary says why."""
        self.request.node.user_properties.append(("not_applicable", reason))
        self.request.config.stash.setdefault(NOT_APPLICABLE, []).append(
            (self.request.node.nodeid, reason))

    # ------------------------------------------------------------------ search / read
    def person(self, who: str) -> Subject:
        """A fresh Subject each time: a search adds what it learns to the one it is given."""
        try:
            return self.seed.rectified() if who == "rectified" else self.seed.person(who)
        except ValueError as exc:
            fail(str(exc))

    def search(self, who: str) -> SearchResult:
        if not self.declares("search"):
            fail(f"connector {self.connector.name!r} does not declare 'search': the kit "
                 "finds the seeded subject through it")
        [result] = self.engine.search([self.person(who)], operator=OPERATOR,
                                      reason="connector conformance", record=False)
        for status in result.systems:
            if status.status != "ok":
                fail(f"searching for the {who} failed on system {status.name!r}: "
                     f"{status.error}")
        for ident in result.subject.identifiers:
            self.learnt[(who, ident.type, ident.value)] = None
        return result

    def protected_values(self) -> list[tuple[str, str, str]]:
        """(whose, type, form) of every value the logs must not show: the seed's, and
        what searches learnt, in every stored form."""
        out = dict.fromkeys(self.seed.protected_values())
        for who, kind, value in self.learnt:
            whose = {"lookalike": "look-alike", "rectified": "rectified subject"}.get(who, who)
            out.update(dict.fromkeys((whose, kind, form) for form in value_forms(kind, value)
                                     if len(form) >= MIN_PROTECTED))
        return list(out)

    def found(self, who: str) -> list[Finding]:
        return list(self.search(who).findings)

    def strong(self, who: str) -> list[Finding]:
        return [f for f in self.found(who) if f.strength == "strong"]

    def read(self, findings: Sequence[Finding]) -> list[tuple[str, str]]:
        """(finding id, canonical JSON) per item ``read()`` returned, sorted."""
        out = []
        for item in self.connector.read(list(findings)):
            if not isinstance(item, dict) or not isinstance(item.get("finding"), str):
                fail("read() must yield dicts carrying 'finding' (the finding id) beside the "
                     f"content; got a {type(item).__name__} without it")
            text = json.dumps(item, sort_keys=True, default=str, ensure_ascii=False)
            out.append((item["finding"], text))
        return sorted(out)

    def state(self, who: str) -> State:
        findings = self.found(who)
        content = tuple(self.read(findings)) if self.declares("read") else ()
        return State(frozenset(Sighting.of(f) for f in findings), content)

    # ------------------------------------------------------------------ actions
    def items(self, findings: Sequence[Finding], action: str,
              fields: Sequence[str] = ()) -> list[PlanItem]:
        return plan_items(findings, action, self.connector, fields=fields)

    def act(self, capability: str, items: Sequence[PlanItem],
            changes: dict[str, str] | None = None) -> list[Outcome]:
        """Run one action method; exactly one Outcome per item is part of the contract."""
        method = getattr(self.connector, capability)
        args: tuple[Any, ...] = (list(items),)
        if capability == "rectify":
            args += (dict(changes or {}),)
        try:
            outcomes = list(method(*args))
        except NotSupported:
            outcomes = None  # failed below, outside the handler: no chained traceback
        if outcomes is None:
            fail(f"the connector declares {capability!r} but {capability}() raises "
                 "NotSupported")
        bad = [type(o).__name__ for o in outcomes if not isinstance(o, Outcome)]
        if bad:
            fail(f"{capability}() must yield agent.plans.Outcome objects; got {sorted(set(bad))}")
        counts = Counter(o.item_id for o in outcomes)
        wanted = {item.id for item in items}
        missing = sorted(wanted - set(counts))
        repeated = sorted(i for i, n in counts.items() if n > 1)
        unknown = sorted(set(counts) - wanted)
        if missing or repeated or unknown:
            fail(f"{capability}() must yield exactly one Outcome per item: "
                 f"missing {missing}, repeated {repeated}, not asked for {unknown}")
        return outcomes


def require_done(capability: str, outcomes: Sequence[Outcome]) -> None:
    """Every item ok, and at least one really changed (the seed has something to change)."""
    failed = [f"{o.item_id}: {o.status} {o.detail}".strip() for o in outcomes if not o.ok]
    if failed:
        fail(f"{capability}() reported failures: {failed}")
    if not any(o.status == "done" for o in outcomes):
        fail(f"{capability}() reported no item done on freshly seeded data "
             f"(statuses: {sorted(Counter(o.status for o in outcomes).items())})")


def require_no_change(capability: str, outcomes: Sequence[Outcome],
                      first: Sequence[Outcome] = ()) -> None:
    """A repeat must report each item ``absent`` (already gone or already marked), or
    ``done`` with counts that are all zero; ``skipped`` only where the first run skipped the
    item too (nothing there to change, then or now)."""
    skipped_first = {o.item_id for o in first if o.status == "skipped"}
    wrong = [f"{o.item_id}: {o.status} {dict(o.counts)}" for o in outcomes
             if not (o.status == "absent"
                     or (o.status == "done" and o.counts and not any(o.counts.values()))
                     or (o.status == "skipped" and o.item_id in skipped_first))]
    if wrong:
        fail(f"{capability}() run a second time on the same items must report each one "
             f"'absent' (or 'done' with zero counts); got {wrong}")
