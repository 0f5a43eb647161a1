"""The SAR cover letter (``cover.html``): every UK GDPR Art 15(1)-(2) item.

Statutory wording (rights, the ICO) is the agent's; the controller's facts come from
policy.toml (``[controller]``, groups, recipients, retention). Every value is HTML-escaped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any

from agent.errors import DsrError
from agent.policy import CONTROLLER_FACTS, DataGroup, Policy, RetentionRule

UNCLASSIFIED = "Other records"
# Columns whose value says where a record came from (a purchased list, a referral)
SOURCE_FIELDS = ("source", "lead_source", "data_source", "list_name", "origin")

RIGHTS = (
    ("Rectification", "You can ask us to correct personal data about you that is inaccurate, "
                      "and to complete data that is incomplete (UK GDPR Article 16)."),
    ("Erasure", "You can ask us to erase personal data about you, for example when we no "
                "longer need it for the purpose we collected it for (Article 17)."),
    ("Restriction", "You can ask us to restrict how we use your personal data, for example "
                    "while we check that it is accurate (Article 18)."),
    ("Objection", "You can object to our use of your personal data where we rely on our "
                  "legitimate interests, and at any time to direct marketing (Article 21)."),
    ("Portability", "Where we use data you gave us under a contract or your consent, you can "
                    "have it in a machine-readable form (Article 20): see data.json and the "
                    "CSV files in this package."),
)
ICO = ("You have the right to complain to the Information Commissioner's Office (ICO), the UK "
       "supervisory authority: ico.org.uk/make-a-complaint, telephone 0303 123 1113, or "
       "Information Commissioner's Office, Wycliffe House, Water Lane, Wilmslow, Cheshire "
       "SK9 5AF.")
BASES = {"contract": "performance of a contract with you",
         "legal_obligation": "a legal obligation", "legitimate_interests":
         "our legitimate interests", "consent": "your consent",
         "vital_interests": "vital interests", "public_task": "a public task"}


class PackageError(DsrError):
    """A package cannot be built: names the missing fact or the broken input, no values."""


@dataclass
class GroupFound:
    """One data group found for the person, where it was, and what says how long."""

    group: DataGroup | None
    rules: dict[str, RetentionRule] = field(default_factory=dict)
    places: list[str] = field(default_factory=list)  # "system / table (n records)"
    sources: set[str] = field(default_factory=set)  # sources named in the records


def require_facts(policy: Policy) -> None:
    """Refuse the letter when policy.toml lacks a controller fact it must give."""
    missing = policy.controller_facts.missing()
    if missing:
        key = missing[0]
        raise PackageError(f"{policy.path}: [controller] {key} is missing "
                           f"({CONTROLLER_FACTS[key]}); the SAR cover letter must state it"
                           + (f" (also missing: {', '.join(missing[1:])})"
                              if len(missing) > 1 else ""))


def groups_found(systems: Mapping[str, Mapping[str, Sequence[Mapping[str, Any]]]],
                 policy: Policy) -> dict[str, GroupFound]:
    """The policy's groups the person's records fall in, by each table's mapping."""
    found: dict[str, GroupFound] = {}
    for system, tables in sorted(systems.items()):
        for table, rows in sorted(tables.items()):
            matched = policy.rule_for(system, table)
            group = matched[0] if matched else None
            entry = found.setdefault(group.name if group else UNCLASSIFIED, GroupFound(group))
            rule = matched[1] if matched else (
                policy.retention.get(policy.default_rule) if policy.default_rule else None)
            if rule is not None:
                entry.rules[rule.name] = rule
            entry.places.append(f"{system} / {table} ({len(rows)} record"
                                f"{'' if len(rows) == 1 else 's'})")
            entry.sources |= {str(r[f]) for r in rows for f in SOURCE_FIELDS
                              if isinstance(r, Mapping) and r.get(f)}
    return found


def render_cover(request: Any, policy: Policy, found: Mapping[str, GroupFound],
                 withheld: int, generated: str) -> str:
    """The letter as one HTML page."""
    require_facts(policy)
    facts = policy.controller_facts
    parts = [
        f"<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>Your subject access request {_e(request.id)}</title></head><body>",
        f"<h1>Your subject access request {_e(request.id)}</h1>",
        _p(f"From {facts.name}, {facts.address}. Prepared {generated}. This package holds a "
           "copy of the personal data we hold about you (data.json, one CSV file per table, "
           "and your files under files/), and the information below that the UK GDPR "
           "(Article 15) entitles you to."),
        "<h2>Who to contact</h2>", _p(facts.dpo),
        "<h2>What we hold, why, who receives it, how long we keep it and where it came "
        "from</h2>",
        *(_group(name, entry, policy) for name, entry in sorted(found.items())),
        "<h2>Automated decision-making, including credit checks</h2>",
        _p(facts.automated_decisions),
        "<h2>Transfers outside the UK and their safeguards</h2>", _p(facts.transfers),
        "<h2>Your rights</h2>", "<ul>",
        *(f"<li><strong>{_e(n)}.</strong> {_e(t)}</li>" for n, t in RIGHTS), "</ul>",
        "<h2>Your right to complain</h2>", _p(ICO),
        "<h2>What we have not included</h2>",
        _p(f"{withheld} item(s) also hold other people's data and are being reviewed; "
           "review.json lists them with the reason. Other people's e-mail addresses and "
           "phone numbers in notes are shown as [redacted]." if withheld else
           "Other people's e-mail addresses and phone numbers in notes are shown as "
           "[redacted]; nothing else was withheld."),
        _p("manifest.json lists every file in this package with its SHA-256 digest, and "
           "manifest.jws is our signature over it."),
        "</body></html>\n",
    ]
    return "\n".join(parts)


def _group(name: str, entry: GroupFound, policy: Policy) -> str:
    group = entry.group
    rows: list[tuple[str, str]] = []
    if group is not None:
        rows += [("Categories of data", group.description or group.name),
                 ("Purposes", "; ".join(group.purposes) or "not stated"),
                 ("Lawful basis", "; ".join(BASES.get(b, b) for b in group.basis)
                  + (f" ({group.legitimate_interests})" if group.legitimate_interests
                     else "")),
                 ("Recipients", "; ".join(f"{r.description}" for r in
                                          policy.recipients_of(group.name)) or "none")]
    else:
        rows += [("Categories of data", "records not yet assigned to a data group"),
                 ("Purposes", "to be confirmed by our privacy team on request")]
    rows.append(("Retention period or criteria", "; ".join(
        _retention(r) for r in entry.rules.values()) or "decided case by case"))
    sources = sorted(entry.sources) + list(group.sources if group else ())
    rows.append(("Source", "; ".join(sources) or "you"))
    rows.append(("Where we found it", "; ".join(entry.places)))
    cells = "".join(f"<tr><th scope=\"row\">{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
    return f"<h3>{_e(name)}</h3>\n<table>{cells}</table>"


def _retention(rule: RetentionRule) -> str:
    if rule.action == "retain" and rule.has_period:
        span = " and ".join(p for p in (_count(rule.years, "year"), _count(rule.months, "month"))
                            if p)
        when = f"kept for {span} after {str(rule.anchor).replace('_', ' ')}"
    elif rule.action == "retain":
        when = "kept while your contract is live"
    else:
        when = {"delete": "deleted when no longer needed",
                "anonymise": "anonymised when no longer needed",
                "suppress": "kept only as a do-not-contact marker"}[rule.action]
    detail = rule.description or rule.basis
    return f"{when} ({detail})"


def _count(value: int, unit: str) -> str:
    return f"{value} {unit}{'' if value == 1 else 's'}" if value else ""


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _p(text: str) -> str:
    return f"<p>{_e(text)}</p>"
