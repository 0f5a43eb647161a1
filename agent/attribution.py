"""The core's rules for deciding whose a record is — the same for every connector.

Connectors report evidence (which of the subject's identifiers a record matched, the
identity values on it, the name of the person it is about, whether it is a company's);
these functions turn the evidence into identifier statuses, finding strengths, the chain
that explains each finding, and the identifiers worth searching for in the next round.

- Only strong identifiers attribute: a unique identifier (e-mail, phone, account, ids).
  Names, postcodes, dates of birth and company numbers are weak on their own.
- An identifier held by several people (records about differently named people) is
  ``shared``; a role address (accounts@) or one seen only on company records is
  ``organisation``. Both are weak everywhere and never expand.
- A weakly matched record that contradicts the subject (it carries a different value of
  a strong identifier type the subject has) is a look-alike and is dropped.
- A record reached by a link (a foreign key) is as strong as the record it hangs off.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from agent.identifiers import TYPES, is_role_email, names_compatible
from agent.models import Finding, Identifier, IdentifierStatus, Subject


def identifier_statuses(subject: Subject, findings: dict[str, Finding]
                        ) -> dict[str, IdentifierStatus]:
    holders: dict[str, list[str]] = defaultdict(list)
    on_person: set[str] = set()
    on_organisation: set[str] = set()
    for ident in subject.identifiers:
        # An identifier learnt on a person's record is held by that person: if it also
        # turns up on a differently named person's record, it is shared, not theirs alone.
        origin_holder = _holder_of(findings.get(ident.origin), findings)
        if origin_holder:
            holders[ident.id].append(origin_holder)
    for finding in findings.values():
        for ident_id in finding.internal_matched_ids:
            if finding.internal_party == "organisation":
                on_organisation.add(ident_id)
                continue
            on_person.add(ident_id)
            if finding.internal_holder:
                holders[ident_id].append(finding.internal_holder)

    statuses: dict[str, IdentifierStatus] = {}
    for ident in subject.identifiers:
        if not TYPES[ident.type].strong:
            statuses[ident.id] = "weak"
        elif _organisational(ident, on_person, on_organisation):
            statuses[ident.id] = "organisation"
        elif several_people(holders.get(ident.id, [])):
            statuses[ident.id] = "shared"
        else:
            statuses[ident.id] = "strong"
    return statuses


def _holder_of(finding: Finding | None, findings: dict[str, Finding]) -> str | None:
    """The person a record is about: its own holder, else the record it hangs off."""
    seen: set[str] = set()
    while finding is not None and finding.id not in seen:
        if finding.internal_holder:
            return finding.internal_holder
        seen.add(finding.id)
        finding = findings.get(finding.internal_parent or "")
    return None


def _organisational(ident: Identifier, on_person: set[str], on_organisation: set[str]) -> bool:
    """A role address, or an identifier seen only on company records (a switchboard)."""
    if ident.type == "email" and is_role_email(ident.value):
        return True
    return ident.id in on_organisation and ident.id not in on_person


def several_people(names: Iterable[str]) -> bool:
    """Whether the names are of more than one person ("j smith" and "john smith" are one)."""
    first: str | None = None
    for name in names:
        if first is None:
            first = name
        elif name != first and not names_compatible(name, first):
            return True
    return False


def contradicts(subject: Subject, values: dict[str, set[str]], holder: str | None,
                statuses: dict[str, IdentifierStatus] | None = None) -> bool:
    """A record carries a strong identifier of a type the subject has, but not theirs, or
    names someone the subject's name cannot be. With ``statuses``, only the subject's
    strong identifiers count as theirs."""
    for kind, found in values.items():
        itype = TYPES.get(kind)
        if itype is None or not itype.strong or not found:
            continue
        mine = {i.value for i in subject.identifiers if i.type == kind
                and (statuses is None or statuses.get(i.id) == "strong")}
        if mine and not (found & mine):
            return True
    # A named record about someone else: the subject's name is known and differs.
    if holder:
        names = [i.value for i in subject.identifiers if i.type == "name"]
        if names and not any(names_compatible(holder, n) for n in names):
            return True
    return False


def attribute(subject: Subject, findings: dict[str, Finding], *, chains: bool = True
              ) -> tuple[list[Finding], int]:
    """Set statuses and strengths; return (kept findings in a stable order, look-alikes).

    ``chains=False`` skips explaining each finding (between rounds, only strength matters).
    """
    statuses = identifier_statuses(subject, findings)
    subject.status = statuses

    decided: dict[str, str | None] = {}  # finding id -> "strong" | "weak" | None (dropped)

    def decide(fid: str, seen: frozenset[str] = frozenset()) -> str | None:
        if fid in decided:
            return decided[fid]
        finding = findings.get(fid)
        if finding is None or fid in seen:
            return None
        result: str | None = None
        if finding.internal_party == "organisation":
            decided[fid] = None  # a company's record is not a person's data
            return None
        if finding.internal_matched_ids:
            if any(statuses.get(i) == "strong" for i in finding.internal_matched_ids
                   - finding.internal_weak_ids):
                result = "strong"
            elif not contradicts(subject, finding.internal_values, finding.internal_holder,
                                  statuses):
                result = "weak"
        if result != "strong" and finding.internal_parent:
            # A row hanging off the person's record is theirs whatever else it matched.
            result = decide(finding.internal_parent, seen | {fid}) or result
        decided[fid] = result
        return result

    kept: list[Finding] = []
    lookalikes = 0
    for fid, finding in findings.items():
        verdict = decide(fid)
        if verdict is None:
            if finding.internal_party != "organisation" and finding.internal_matched_ids:
                lookalikes += 1
            continue
        finding.strength = verdict  # type: ignore[assignment]
        finding.matched = sorted({subject.get(i).type for i in finding.internal_matched_ids
                                  if subject.get(i) is not None})  # type: ignore[union-attr]
        kept.append(finding)
    if chains:
        for finding in kept:
            finding.chain = chain_of(finding, subject, findings)
    kept.sort(key=lambda f: (f.system, f.locator))
    return kept, lookalikes


def chain_of(finding: Finding, subject: Subject, findings: dict[str, Finding],
             visiting: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
    """Why a record was attributed: the strongest, then shortest, route from the request.

    A route is a matched identifier (itself from the request or found on another record)
    or the link from a parent record; routes through the record itself are not routes.
    """
    if finding.id in visiting:
        return []
    visiting = visiting | {finding.id}
    rank = {"strong": 0, "shared": 1, "organisation": 2, "weak": 3}
    routes: list[tuple[tuple[int, int], list[dict[str, Any]]]] = []
    for ident_id in sorted(finding.internal_matched_ids):
        ident = subject.get(ident_id)
        if ident is None:
            continue
        steps = identifier_chain(ident_id, subject, findings, visiting)
        if steps:
            steps.append({"step": "matched", "identifier": ident.id, "type": ident.type,
                          "record": finding.id})
            routes.append(((rank.get(subject.status.get(ident.id, "weak"), 4), len(steps)),
                           steps))
    parent = findings.get(finding.internal_parent or "")
    if parent is not None:
        steps = chain_of(parent, subject, findings, visiting)
        if steps:
            steps.append({"step": "linked", "from": parent.id,
                          "link": finding.internal_link or "", "record": finding.id})
            routes.append(((rank.get(parent.strength, 4), len(steps)), steps))
    return min(routes, key=lambda r: r[0])[1] if routes else []


def identifier_chain(ident_id: str, subject: Subject, findings: dict[str, Finding],
                     visiting: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
    """How an identifier came to be known; empty if only through ``visiting`` records."""
    ident = subject.get(ident_id)
    if ident is None:
        return []
    if ident.origin == "request" or ident.origin not in findings:
        return [{"step": "request", "identifier": ident.id, "type": ident.type}]
    steps = chain_of(findings[ident.origin], subject, findings, visiting)
    if not steps:
        return []
    steps.append({"step": "discovered", "identifier": ident.id, "type": ident.type,
                  "on": ident.origin})
    return steps


# A row that is theirs only through a link (a call log, a device) holds numbers that may be
# someone else's (the number they dialled); only its device and cookie ids are theirs.
LINKED_ROW_EXPANDS = frozenset({"device_id", "cookie_id"})


def expansion_candidates(subject: Subject, findings: Iterable[Finding]
                         ) -> list[tuple[str, str, str, str | None]]:
    """(type, value, origin finding id, scope) of identifiers to search next round.

    Only from strong findings on a person's own records, only expanding types, never role
    addresses, and never values the subject already has (whatever their status). Free text
    never expands: connectors report only identity columns as ``internal_values``.
    """
    known = {(i.type, i.value, i.scope) for i in subject.identifiers}
    out: list[tuple[str, str, str, str | None]] = []
    for finding in findings:
        if finding.strength != "strong" or finding.internal_party == "organisation":
            continue
        direct = any(subject.status.get(i) == "strong"
                     for i in finding.internal_matched_ids - finding.internal_weak_ids)
        for kind, values in sorted(finding.internal_values.items()):
            itype = TYPES.get(kind)
            if itype is None or not itype.expands:
                continue
            if not direct and kind not in LINKED_ROW_EXPANDS:
                continue
            scope = (f"{finding.system}.{finding.container}"
                     if kind in ("contact_id", "customer_id") and finding.container else None)
            for value in sorted(values):
                if kind == "email" and is_role_email(value):
                    continue
                key = (kind, value, scope)
                if key in known:
                    continue
                known.add(key)
                out.append((kind, value, finding.id, scope))
    return out
