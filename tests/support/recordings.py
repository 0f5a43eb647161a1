"""What the recordings connector's test modules share: search a system, index findings by
locator, reach the connector, make a plan item, read contact records back."""

from __future__ import annotations

import gzip
import json
from typing import Any

from agent.engine import SearchEngine
from agent.models import Finding, SearchResult
from agent.plans import PlanItem
from agent.subjects import subject_from_mapping
from connectors.recordings.connector import RecordingsConnector


def search(engine: SearchEngine, *people: dict[str, Any]) -> list[SearchResult]:
    """One result per person (identifier mappings); every system must have answered."""
    subjects = [subject_from_mapping(p, default_ref=f"S{i}") for i, p in enumerate(people)]
    results = engine.search(subjects, operator="test", reason="recordings test", record=False)
    for result in results:
        assert all(s.status == "ok" for s in result.systems), result.systems
    return results


def by_locator(result: SearchResult) -> dict[str, Finding]:
    return {f.locator: f for f in result.findings}


def connector(engine: SearchEngine) -> RecordingsConnector:
    found = engine.connector(engine.config.systems[0])
    assert isinstance(found, RecordingsConnector)
    return found


def item(finding: Finding, action: str, **notes: Any) -> PlanItem:
    """A plan item for ``finding`` as the planner would make it (``notes``: keep=...)."""
    return PlanItem(id=finding.id, action=action, reason="test", system=finding.system,
                    kind=finding.kind, locator=finding.locator, container=finding.container,
                    strength=finding.strength, notes=dict(notes))


def decode_all(data: bytes) -> list[dict[str, Any]]:
    """Every contact record in a Firehose-style object (concatenated JSON, JSON Lines, an
    array; gzip or not), read back with the standard library, not the code under test."""
    if data.startswith(b"\x1f\x8b"):
        data = gzip.decompress(data)
    text = data.decode().strip()
    if text.startswith("["):
        return list(json.loads(text))
    decoder, out, index = json.JSONDecoder(), [], 0
    while index < len(text):
        value, index = decoder.raw_decode(text, index)
        out.append(value)
        while index < len(text) and text[index].isspace():
            index += 1
    return out
