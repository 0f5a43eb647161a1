"""From findings to a plan: one item per finding with its action and why, by policy.toml.

The planner decides, the connectors only say what they can do (``actions_for``). Rules:
- weak findings are listed but left out until an approver includes them;
- erasure follows the container's retention rule (delete, anonymise, suppress, retain with
  its basis and until-date), holds turn items into ``retain``, and a record that kept
  records still refer to is anonymised rather than deleted, so foreign keys hold;
- an action the system cannot carry out becomes ``manual`` (or ``beyond_use`` for backups
  the policy says cannot be rewritten); never silently dropped;
- systems with no automation add their ``manual`` tasks; every recipient of a touched data
  group gets a ``notify`` item (Art 19).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from agent.connector import Connector
from agent.errors import DsrError
from agent.models import Finding
from agent.plans import PlanItem
from agent.policy import MappingEntry, Policy, RetentionRule

# Actions after which the record (or its data) is gone or changed: recipients are told.
_NOTIFY_AFTER = frozenset({"delete", "anonymise", "rectify", "restrict"})
# Actions after which the row is still there: a parent must not be deleted under it.
_KEEPS_ROW = frozenset({"anonymise", "retain", "beyond_use", "manual", "suppress",
                        "restrict", "quarantine"})


@dataclass
class PlanContext:
    request_id: str
    request_type: str
    policy: Policy | None
    connector: Callable[[str], Connector | None]  # system name -> its connector
    manual_systems: Sequence[str] = ()  # systems whose connector declares manual tasks
    holds: Sequence[Mapping[str, Any]] = ()
    today: date = field(default_factory=date.today)
    fields: Sequence[str] = ()  # rectify: the fields to correct


def make_plan(ctx: PlanContext, findings: Sequence[Finding]) -> list[PlanItem]:
    if ctx.request_type in ("erasure", "object") and ctx.policy is None:
        raise DsrError(f"a{'n' if ctx.request_type[0] in 'aeiou' else ''} "
                       f"{ctx.request_type} plan needs policy.toml (see docs/policy.md)")
    anchors, own = (_anchor_dates(ctx, findings) if ctx.request_type == "erasure"
                    else ({}, {}))
    # a record that carries its own anchor date (a contract's end) is kept by that date;
    # the rest by the person's latest (the relationship ends with the last contract)
    items = [_item(ctx, f, {**anchors, **own.get(f.id, {})}) for f in findings]
    apply_holds(ctx, items)
    if ctx.request_type == "erasure":
        _keep_parents(items, findings)
        _keep_referenced(ctx, items)
    items += _manual_items(ctx)
    if ctx.request_type in ("erasure", "rectify", "restrict") and ctx.policy is not None:
        items += _notify_items(ctx.policy, items)
    return items


# ---------------------------------------------------------------------- one finding
def _item(ctx: PlanContext, finding: Finding, anchors: Mapping[str, date]) -> PlanItem:
    mapping = (ctx.policy.mapping_for(finding.system, finding.container or "")
               if ctx.policy else None)
    item = PlanItem(
        id=finding.id, action="manual", reason="", system=finding.system, kind=finding.kind,
        locator=finding.locator, container=finding.container,
        group=mapping.group if mapping else None, rule=mapping.rule if mapping else None,
        strength=finding.strength, matched=sorted(finding.matched),
        categories=sorted(finding.categories), rows=finding.rows,
        included=finding.strength == "strong")
    if mapping is not None and mapping.whole_document:
        item.notes["whole_document"] = True  # the file is about one person: delete it whole
    if finding.review:
        item.notes["disclosure_review"] = finding.review  # it holds another person's data
    connector = ctx.connector(finding.system)
    can = connector.actions_for(finding) if connector is not None else frozenset()
    if item.notes.get("whole_document") and connector is not None \
            and "erase" in connector.capabilities and "beyond_use" not in can:
        # a file about one person is deleted whole, any format (unless it cannot be
        # changed at all: a locked or backup copy stays beyond use)
        can = can | {"delete"}
    wanted, reason = _wanted(ctx, item, mapping, anchors)
    if wanted == "delete" and mapping is not None and mapping.keep_fields:
        wanted, reason = _keep_fields(ctx, item, mapping, anchors, reason)
    _settle(item, wanted, reason, can)
    if item.action == "beyond_use" and connector is not None:
        item.until = connector.kept_until(finding)
        if item.until:
            item.reason += f" (locked until {item.until})"
    if not item.included:
        item.reason += " Weak match (no unique identifier): left out unless an approver " \
                       "includes it."
    return item


def _wanted(ctx: PlanContext, item: PlanItem, mapping: MappingEntry | None,
            anchors: Mapping[str, date]) -> tuple[str, str]:
    kind = ctx.request_type
    if kind in ("access", "portability"):
        return "export", "the person's data: copied into the export"
    if kind == "restrict":
        return "restrict", "processing restricted on request (Art 18)"
    if kind == "rectify":
        return "rectify", f"correct {', '.join(ctx.fields) or 'the named fields'} (Art 16)"
    assert ctx.policy is not None
    if kind == "object":
        group = ctx.policy.groups.get(item.group) if item.group else None
        if group is None or any("marketing" in p.lower() for p in group.purposes):
            return "suppress", "objection to direct marketing (Art 21): do not contact"
        return "retain", (f"{group.name} data is not used for direct marketing; the "
                          "objection needs no change here")
    # erasure
    rule_name = item.rule or ctx.policy.default_rule
    if rule_name is None:
        return "manual", (f"no [[mapping]] in policy.toml covers {item.system}:"
                          f"{item.container or item.locator}: a person decides")
    rule = ctx.policy.retention[rule_name]
    item.rule = rule_name
    if rule.action != "retain":
        return rule.action, f"rule {rule.name}: {_summary(rule)}"
    return _retain(item, rule, anchors, ctx.today)


def _keep_fields(ctx: PlanContext, item: PlanItem, mapping: MappingEntry,
                 anchors: Mapping[str, date], reason: str) -> tuple[str, str]:
    """A record whose mapping keeps some fields under a retain rule (billing columns) is
    anonymised: those fields stay, the rest of the person's data goes."""
    assert ctx.policy is not None and mapping.keep_rule is not None
    rule = ctx.policy.retention[mapping.keep_rule]
    kept = f"{', '.join(mapping.keep_fields)} kept under rule {rule.name}"
    try:
        until = rule.until(anchors)
    except DsrError:
        until = None
        kept += f" until {rule.anchor} + {_period(rule)} (date not found: a person sets it)"
    if until is not None and until < ctx.today:
        return "delete", f"{reason}; rule {rule.name} for {', '.join(mapping.keep_fields)} " \
                         f"ended on {until.isoformat()}"
    if until is not None:
        item.notes["keep_until"] = until.isoformat()
        kept += f" until {until.isoformat()}"
    item.notes["keep"] = list(mapping.keep_fields)
    item.basis = rule.basis
    return "anonymise", f"{reason}; {kept}"


def _retain(item: PlanItem, rule: RetentionRule, anchors: Mapping[str, date],
            today: date) -> tuple[str, str]:
    item.basis = rule.basis
    try:
        until = rule.until(anchors)
    except DsrError:
        return "manual", (f"rule {rule.name} keeps this until {rule.anchor} + "
                          f"{_period(rule)}, but no {rule.anchor} date was found: a person "
                          "must set the date")
    if until is not None and until < today:
        return "delete", (f"rule {rule.name}: the retention period ended on "
                          f"{until.isoformat()}")
    item.until = until.isoformat() if until else None
    live = rule.while_ == "contract_live" and (
        anchors.get("contract_end") is None or anchors["contract_end"] >= today)
    why = f"rule {rule.name}: kept"
    if live:
        why += " while the contract is live"
    if until is not None:
        why += f"{' and' if live else ''} until {until.isoformat()} ({rule.anchor} + " \
               f"{_period(rule)})"
    return "retain", why


def _settle(item: PlanItem, wanted: str, reason: str, can: frozenset[str]) -> None:
    """Fit the wanted action to what the system can do."""
    item.action, item.reason = wanted, reason
    if wanted in ("retain", "manual") or wanted in can:
        return
    if wanted == "delete" and "anonymise" in can:
        item.action = "anonymise"
        item.reason = f"{reason} (this system cannot delete the record: anonymised)"
    elif wanted in ("delete", "anonymise") and "quarantine" in can:
        item.action = "quarantine"
        item.reason = (f"{reason}; this file cannot be rewritten here: moved to the "
                       "quarantine folder, out of use, until a person decides")
    elif wanted in ("delete", "anonymise") and "beyond_use" in can:
        # a backup or locked copy the connector cannot rewrite (policy.toml backup mode)
        item.action = "beyond_use"
        item.reason = (f"{reason}; the copy here cannot be rewritten: kept until it "
                       "expires, never used, erasure re-applied after a restore")
    else:
        item.action = "manual"
        item.reason = f"{reason}; system {item.system} cannot {wanted} here: a person must"


def apply_holds(ctx: PlanContext, items: Sequence[PlanItem]) -> int:
    """Turn held items into ``retain`` (a hold only ever keeps more); returns how many."""
    count = 0
    for item in items:
        if item.kind in ("task", "notice") or item.action in ("retain", "export"):
            continue
        hold = _hold_for(ctx, item)
        if hold is not None:
            item.action, item.held = "retain", hold["reason"]
            item.reason = f"held ({hold['condition'] or 'by an operator'}): {hold['reason']}"
            item.basis, item.until = "a hold placed on this request", None
            count += 1
    return count


def _hold_for(ctx: PlanContext, item: PlanItem) -> Mapping[str, Any] | None:
    rule = ctx.policy.retention.get(item.rule) if ctx.policy and item.rule else None
    for hold in ctx.holds:
        if hold["item"] not in ("*", item.id):
            continue
        condition = hold.get("condition")
        # a hold for a named condition keeps only what the rule says that condition keeps
        if hold["item"] == "*" and condition and (rule is None or condition not in rule.hold_on):
            continue
        return hold
    return None


def _keep_parents(items: list[PlanItem], findings: Sequence[Finding]) -> None:
    """A record that kept records refer to is anonymised, not deleted (children first)."""
    by_id = {i.id: i for i in items}
    parent_of = {f.id: f.internal_parent for f in findings if f.internal_parent}
    changed = True
    while changed:
        changed = False
        for child_id, parent_id in parent_of.items():
            child, parent = by_id.get(child_id), by_id.get(parent_id or "")
            if child is None or parent is None or parent.action != "delete":
                continue
            if child.action in _KEEPS_ROW or not child.included:
                parent.action = "anonymise"
                parent.reason += (f" Anonymised, not deleted: kept records refer to it "
                                  f"({child.container or child.id}).")
                changed = True


def _keep_referenced(ctx: PlanContext, items: list[PlanItem]) -> None:
    """Ask each system which deletes records that stay still refer to (an expired contract
    its retained invoices point at), and anonymise those instead; repeat, since a record
    kept that way may in turn hold its own parent."""
    for _ in range(10):  # each pass only turns deletes into anonymise: few are needed
        changed = False
        systems = sorted({i.system for i in items if i.action == "delete" and i.system})
        for system in systems:
            connector = ctx.connector(system)
            if connector is None:
                continue
            deletes = [i for i in items if i.system == system and i.action == "delete"
                       and i.included]
            for item_id, where in connector.kept_references(deletes).items():
                item = next(i for i in deletes if i.id == item_id)
                can = connector.actions_for(item.as_finding())
                item.action = "anonymise" if "anonymise" in can else "manual"
                done = "Anonymised" if item.action == "anonymise" else "Left to a person"
                item.reason += f" {done}, not deleted: kept records in {where} refer to it."
                changed = True
        if not changed:
            return


def _manual_items(ctx: PlanContext) -> list[PlanItem]:
    out: list[PlanItem] = []
    for system in ctx.manual_systems:
        connector = ctx.connector(system)
        for task in connector.manual_tasks(ctx.request_type) if connector else ():
            out.append(PlanItem(
                id=f"{system}:manual:{task.key}", action="manual", system=system, kind="task",
                reason=f"not searched automatically: {task.description}"
                       + (f" ({task.where})" if task.where else ""),
                notes={"where": task.where} if task.where else {}))
    return out


def _notify_items(policy: Policy, items: Sequence[PlanItem]) -> list[PlanItem]:
    touched: dict[str, set[str]] = {}
    for item in items:
        if item.included and item.action in _NOTIFY_AFTER and item.group:
            for recipient in policy.recipients_of(item.group):
                if not recipient.notify:
                    continue
                touched.setdefault(recipient.name, set()).add(item.group)
    return [PlanItem(
        id=f"notify:{name}", action="notify", kind="notice",
        reason=(f"{name} received {', '.join(sorted(groups))} data: tell them (Art 19), "
                "unless impossible or disproportionate"),
        notes={"recipient": name, "description": policy.recipients[name].description,
               "groups": sorted(groups)})
        for name, groups in sorted(touched.items())]


# ---------------------------------------------------------------------- anchor dates
def _anchor_dates(ctx: PlanContext, findings: Sequence[Finding]
                  ) -> tuple[dict[str, date], dict[str, dict[str, date]]]:
    """Anchor dates (contract_end, ...) read from the containers policy.toml names them in:
    the person's latest of each, and each record's own."""
    assert ctx.policy is not None
    wanted: dict[str, list[tuple[Finding, Mapping[str, str]]]] = {}
    for finding in findings:
        mapping = ctx.policy.mapping_for(finding.system, finding.container or "")
        if mapping and mapping.dates and finding.strength == "strong":
            wanted.setdefault(finding.system, []).append((finding, mapping.dates))
    out: dict[str, date] = {}
    own: dict[str, dict[str, date]] = {}
    for system, pairs in wanted.items():
        connector = ctx.connector(system)
        if connector is None or "read" not in connector.capabilities:
            continue
        fields_of = {f.id: dates for f, dates in pairs}
        for record in connector.read([f for f, _ in pairs]):
            values = record.get("row") or record.get("fields") or {}
            for anchor, column in fields_of.get(record.get("finding", ""), {}).items():
                when = _as_date(values.get(column))
                if when is None:
                    continue
                own.setdefault(record["finding"], {})[anchor] = when
                if anchor not in out or when > out[anchor]:
                    out[anchor] = when
    return out, own


def _as_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and value:
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def _period(rule: RetentionRule) -> str:
    parts = []
    if rule.years:
        parts.append(f"{rule.years} year{'s' if rule.years != 1 else ''}")
    if rule.months:
        parts.append(f"{rule.months} month{'s' if rule.months != 1 else ''}")
    return " ".join(parts)


def _summary(rule: RetentionRule) -> str:
    """The rule's description, else its basis, on one line (the basis stays in policy.toml
    and, for a retain, in the item's ``basis``)."""
    text = " ".join((rule.description or rule.basis).split())
    return text if len(text) <= 120 else text[:117] + "..."
