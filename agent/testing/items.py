"""Plan items straight from findings, for tests that act without the request planner."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from agent.connector import Connector
from agent.models import Finding
from agent.plans import PlanItem

REASON = "connector conformance kit"


def plan_items(findings: Iterable[Finding], action: str, connector: Connector | None = None,
               *, fields: Sequence[str] = ()) -> list[PlanItem]:
    """One ``action`` item per finding, keeping only the findings ``connector.actions_for``
    allows the action on when a connector is given. ``fields`` names what a rectify
    corrects."""
    items = []
    for finding in findings:
        if connector is not None and action not in connector.actions_for(finding):
            continue
        items.append(PlanItem(
            id=finding.id, action=action, reason=REASON, system=finding.system,
            kind=finding.kind, locator=finding.locator, container=finding.container,
            strength=finding.strength, matched=sorted(finding.matched),
            categories=sorted(finding.categories),
            rows=list(finding.rows) if finding.rows is not None else None,
            fields=list(fields)))
    return items
