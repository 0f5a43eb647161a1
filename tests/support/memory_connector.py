"""An in-process connector plugin over a list of records, for testing the engine's rules.

It is a real plugin (registered through the hook, validated by the registry); the real
connectors are tested against real servers elsewhere.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any

from agent.connector import CheckResult, Connector
from agent.errors import ConnectorError
from agent.hookspecs import hookimpl
from agent.identifiers import try_normalise
from agent.models import Finding, Subject


class MemoryConnector(Connector):
    name = "memory"
    description = "records held in the system's options (tests)"
    capabilities = frozenset({"check", "search"})

    def _records(self) -> list[dict[str, Any]]:
        return self.system.options.get("records", [])

    def check(self) -> CheckResult:
        if self.system.options.get("fail"):
            return CheckResult(ok=False, detail="connection refused")
        return CheckResult(ok=True, detail=f"{len(self._records())} records")

    def search(self, subjects: Sequence[Subject]) -> Iterator[Finding]:
        if self.system.options.get("sleep"):
            time.sleep(float(self.system.options["sleep"]))
        if self.system.options.get("fail"):
            raise ConnectorError(f"system {self.system.name!r} is unreachable")
        for subject in subjects:
            matched_locators: dict[str, Finding] = {}
            wanted = subject.to_search()
            for record in self._records():
                values = {kind: {v for raw in raws if (v := try_normalise(kind, raw))}
                          for kind, raws in record.get("values", {}).items()}
                hits = {i.id for i in wanted if i.value in values.get(i.type, set())}
                if not hits:
                    continue
                matched_locators[record["locator"]] = finding = self._finding(
                    subject, record, values)
                finding.internal_matched_ids = hits
                yield finding
            for record in self._records():
                parent = record.get("parent")
                if parent in matched_locators and record["locator"] not in matched_locators:
                    values = {kind: {v for raw in raws if (v := try_normalise(kind, raw))}
                              for kind, raws in record.get("values", {}).items()}
                    finding = self._finding(subject, record, values)
                    finding.internal_parent = matched_locators[parent].id
                    finding.internal_link = record.get("link", "fk")
                    yield finding

    def _finding(self, subject: Subject, record: dict[str, Any],
                 values: dict[str, set[str]]) -> Finding:
        holder = try_normalise("name", record["holder"]) if record.get("holder") else None
        return Finding(system=self.system.name, kind="row", locator=record["locator"],
                       subject=subject.ref, container=record["locator"].split(":")[0],
                       categories=record.get("categories", ["Contact"]), internal_values=values,
                       internal_holder=holder, internal_party=record.get("party"))


class MemoryPlugin:
    @hookimpl
    def register_connectors(self, register: Any) -> None:
        register(MemoryConnector)
