"""Run an approved plan through the journal: each action written before, marked after.

Per system, the connector gets all of that system's items for one method in one call, which
it carries out in one transaction where the store allows. The journal makes a re-run safe:
items marked done are never sent again, and items started but never marked (a crash) are
sent again, which connectors answer with ``absent`` when the work had in fact landed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from agent.connector import Connector
from agent.errors import DsrError
from agent.logging import get_logger, redactor
from agent.plans import Outcome, PlanItem
from agent.plugins import PluginManager
from agent.request import Request
from agent.request_store import RequestStore

log = get_logger("dsr.executor")

# Connector methods in the order a system's items run: corrections and markers first,
# erasure last (after it the records are gone).
_METHOD_ORDER = ("rectify", "restrict", "suppress", "erase")
_METHOD_OF = {"delete": "erase", "anonymise": "erase", "quarantine": "erase",
              "suppress": "suppress", "restrict": "restrict", "rectify": "rectify"}


@dataclass
class SystemRun:
    name: str
    status: str = "ok"  # ok | failed
    error: str | None = None
    outcomes: list[Outcome] = field(default_factory=list)
    skipped: int = 0  # items already done by an earlier run

    def public(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for outcome in self.outcomes:
            counts[outcome.status] = counts.get(outcome.status, 0) + 1
        out: dict[str, Any] = {"name": self.name, "status": self.status, "outcomes": counts,
                               "already_done": self.skipped}
        if self.error:
            out["error"] = self.error
        return out


class Executor:
    def __init__(self, requests: RequestStore, pm: PluginManager,
                 connector: Any) -> None:
        self.requests = requests
        self.pm = pm
        self.connector = connector  # system name -> Connector

    def execute(self, request: Request, plan_id: str, items: Sequence[PlanItem],
                changes: dict[str, str]) -> list[SystemRun]:
        journal = self.requests.journal(plan_id)
        runs: dict[str, SystemRun] = {}
        for item in items:
            if item.runnable and item.action != "export" and item.system:
                runs.setdefault(item.system, SystemRun(item.system))
        for system, run in runs.items():
            mine = [i for i in items if i.system == system and i.runnable
                    and i.action != "export"]
            todo = [i for i in mine if journal.get(i.id, {}).get("state") != "done"]
            run.skipped = len(mine) - len(todo)
            if todo:
                self._run_system(request, plan_id, run, todo, changes)
        return list(runs.values())

    def _run_system(self, request: Request, plan_id: str, run: SystemRun,
                    items: list[PlanItem], changes: dict[str, str]) -> None:
        connector: Connector = self.connector(run.name)
        # connectors that tag what they change (bucket objects) name the request they ran for
        items = [replace(i, notes={**i.notes, "request": request.id}) for i in items]
        for method in _METHOD_ORDER:
            batch = [i for i in items if _METHOD_OF[i.action] == method]
            if not batch:
                continue
            self.requests.journal_start(request.id, plan_id, batch)
            try:
                self.pm.fire("before_erasure", request=request, system=run.name, items=batch)
                outcomes = self._call(connector, method, batch, changes)
            except Exception as exc:
                error = (redactor.scrub(str(exc)) if isinstance(exc, DsrError)
                         else f"{type(exc).__name__}: {redactor.scrub(str(exc))}")
                run.status, run.error = "failed", error
                self.requests.journal_finish(plan_id, [
                    Outcome(i.id, "failed", error) for i in batch])
                log.warning("system_action_failed", system=run.name, action=method,
                            items=len(batch), error=error)
                return  # nothing more on a system that failed: its transaction rolled back
            self.requests.journal_finish(plan_id, outcomes)
            run.outcomes += outcomes
            self.pm.fire("after_erasure", request=request, system=run.name, items=batch,
                         outcomes=outcomes)
            if any(not o.ok for o in outcomes):
                run.status = "failed"
                run.error = next(o.detail for o in outcomes if not o.ok) or "an item failed"
                return

    @staticmethod
    def _call(connector: Connector, method: str, batch: list[PlanItem],
              changes: dict[str, str]) -> list[Outcome]:
        if method == "rectify":
            outcomes = list(connector.rectify(batch, changes))
        else:
            outcomes = list(getattr(connector, method)(batch))
        answered = {o.item_id for o in outcomes}
        missing = [i.id for i in batch if i.id not in answered]
        if missing:
            # a connector that stays silent about an item has not done it
            outcomes += [Outcome(i, "failed", "the connector reported no outcome")
                         for i in missing]
        return outcomes

    # ------------------------------------------------------------------ exports
    def export(self, request: Request, items: Sequence[PlanItem], out: Path
               ) -> tuple[dict[str, Any], list[SystemRun]]:
        """Read every included export item into one JSON document, by system and table."""
        document: dict[str, Any] = {"request": request.id, "type": request.type,
                                    "systems": {}}
        runs: list[SystemRun] = []
        systems = sorted({i.system for i in items if i.runnable and i.action == "export"
                          and i.system})
        for system in systems:
            run = SystemRun(system)
            runs.append(run)
            mine = [i for i in items if i.system == system and i.runnable
                    and i.action == "export"]
            try:
                records = list(self.connector(system).read([i.as_finding() for i in mine]))
            except Exception as exc:
                run.status = "failed"
                run.error = (redactor.scrub(str(exc)) if isinstance(exc, DsrError)
                             else f"{type(exc).__name__}")
                continue
            tables: dict[str, list[Any]] = document["systems"].setdefault(system, {})
            by_id = {i.id: i for i in mine}
            read_ids = set()
            for record in records:
                item = by_id.get(record.get("finding", ""))
                table = record.get("table") or (item.container if item else None) or "records"
                # a recording's export is the whole record (its audio, legs, transcripts),
                # a row's its values
                entry = dict(record) if "audio" in record else record.get("row", record)
                tables.setdefault(table, []).append(entry)
                read_ids.add(record.get("finding"))
            run.outcomes = [Outcome(i.id, "done" if i.id in read_ids else "absent")
                            for i in mine]
        _write_private(out, document)
        return document, runs


def _write_private(path: Path, document: dict[str, Any]) -> None:
    """The export holds the person's data: written 0600, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(document, handle, ensure_ascii=False, indent=2, default=str)
    os.replace(tmp, path)
