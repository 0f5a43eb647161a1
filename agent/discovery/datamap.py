"""The data map a sweep builds: where personal data sits, by kind and data group.

One entry per place (a column, a file, an object), with counts of what was sampled and
matched — never a value. The JSON, CSV and HTML outputs are all rendered from
``DataMap``; the coverage section lists what a request search would not find.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

CONFIDENCE_ORDER = {"high": 0, "medium": 1, "low": 2}
CSV_COLUMNS = ("system", "container", "kind", "categories", "detectors", "confidence",
               "sampled", "matched", "sample_unit", "searched", "not_searched_because")


@dataclass
class Entry:
    """A place holding personal data, as the detectors judged its sample."""

    system: str
    container: str  # "table.column", a file path, an object key
    kind: str  # column | file | object | recording
    categories: list[str]  # the policy's data groups
    detectors: list[str]  # strongest first
    confidence: str  # high | medium | low
    sampled: int  # values (columns) or bytes of text (files, objects) read
    matched: int  # values that matched / matches found in the text
    sample_unit: str = "values"  # values | bytes
    searched: bool = True  # a request search looks here
    not_searched_because: str | None = None
    matches: dict[str, int] = field(default_factory=dict)  # per detector
    unit: str = ""  # the remembered unit it came from (a table, a file)

    def public(self) -> dict[str, Any]:
        out = asdict(self)
        if out["not_searched_because"] is None:
            del out["not_searched_because"]
        return out

    @classmethod
    def from_public(cls, data: dict[str, Any]) -> Entry:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass
class Unreadable:
    system: str
    unit: str  # a table, a file path, an object key
    kind: str
    reason: str  # never a value from inside it

    def public(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SystemSummary:
    name: str
    status: str  # ok | failed | skipped (no sampling support)
    units: int = 0  # read this sweep
    unchanged: int = 0  # skipped: same fingerprint as last time
    unreadable: int = 0
    error: str | None = None
    seconds: float = 0.0

    def public(self) -> dict[str, Any]:
        out = asdict(self)
        if out["error"] is None:
            del out["error"]
        out["seconds"] = round(self.seconds, 3)
        return out


@dataclass
class DataMap:
    entries: list[Entry] = field(default_factory=list)
    unreadable: list[Unreadable] = field(default_factory=list)
    systems: list[SystemSummary] = field(default_factory=list)
    sweep: dict[str, Any] = field(default_factory=dict)  # id, started, finished, full

    def sorted_entries(self) -> list[Entry]:
        return sorted(self.entries, key=lambda e: (e.system, e.container))

    def not_searched(self) -> list[Entry]:
        """Personal data a request search would not look at (the coverage gap)."""
        return [e for e in self.sorted_entries() if not e.searched]

    def categories(self) -> dict[str, int]:
        """Data group -> places holding it."""
        counts: dict[str, int] = {}
        for entry in self.entries:
            for category in entry.categories:
                counts[category] = counts.get(category, 0) + 1
        return dict(sorted(counts.items()))

    def public(self) -> dict[str, Any]:
        return {
            "sweep": self.sweep,
            "systems": [s.public() for s in self.systems],
            "entries": [e.public() for e in self.sorted_entries()],
            "categories": self.categories(),
            "coverage": {
                "not_searched": [e.public() for e in self.not_searched()],
                "unreadable": [u.public() for u in
                               sorted(self.unreadable, key=lambda u: (u.system, u.unit))],
            },
        }

    def csv(self) -> str:
        return entries_csv(self.sorted_entries())


def entries_csv(entries: Iterable[Entry]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for entry in entries:
        row = entry.public()
        row["categories"] = ";".join(entry.categories)
        row["detectors"] = ";".join(entry.detectors)
        row["searched"] = "yes" if entry.searched else "no"
        writer.writerow([row.get(c, "") if row.get(c) is not None else "" for c in CSV_COLUMNS])
    return out.getvalue()
