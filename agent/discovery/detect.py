"""Judge a sampled field with the registered detectors: which kinds of personal data it
holds, how sure we are, and how many sampled values (or text matches) support that."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from agent.detectors import ColumnVerdict, Detector, judge_column, value_text
from agent.discovery.datamap import CONFIDENCE_ORDER, Entry
from agent.sampling import FieldSample
from agent.sweep_text import SweepScanner

# A column with no detector named for it is checked on this many values first; none
# matching means the rest are not tried (most columns of a wide table hold no one's data).
_PROBE = 200


class FieldJudge:
    """Detectors and the policy's data groups, applied to one field at a time."""

    def __init__(self, detectors: Sequence[Detector],
                 groups: Mapping[str, Sequence[str]] | None = None) -> None:
        self.detectors = list(detectors)
        self.scanner = SweepScanner(self.detectors)
        overrides = groups or {}
        self.groups = {d.name: list(overrides.get(d.name, d.categories))
                       for d in self.detectors}
        self.strong_text = {d.name for d in self.detectors if d.checks or d.text_literal}
        self.by_name = {d.name: d for d in self.detectors}

    def judge(self, system: str, unit: str, field: FieldSample,
              mapped_group: str | None = None) -> Entry | None:
        """The entry for a field holding personal data, else None. ``mapped_group``: the
        data group policy.toml's [[mapping]] gives the field's container (a call record's
        phone number is Communications as well as Contact)."""
        entry = (self._text(system, unit, field) if field.text is not None
                 else self._column(system, unit, field))
        if entry is not None and mapped_group and mapped_group not in entry.categories:
            entry.categories = sorted([*entry.categories, mapped_group])
        return entry

    # ------------------------------------------------------------------ columns
    def _column(self, system: str, unit: str, field: FieldSample) -> Entry | None:
        column = field.column or field.container.rsplit(".", 1)[-1]
        present = [v for v in field.values if value_text(v) is not None]
        judged: list[tuple[int, float, str, Detector, ColumnVerdict]] = []
        for detector in self.detectors:
            if not detector.matches_column_name(column) and not self._probe(
                    detector, present, column):
                continue
            verdict = judge_column(detector, column, present)
            if verdict is not None:
                judged.append((CONFIDENCE_ORDER[verdict.level], -verdict.score,
                               detector.name, detector, verdict))
        if not judged:
            return self._free_text_column(system, unit, field, present)
        judged.sort(key=lambda j: j[:3])
        best = judged[0][4]
        kept = [(d, v) for _, _, _, d, v in judged if v.level == best.level]
        matches = {d.name: v.matched for d, v in kept}
        return self._entry(system, unit, field, [d for d, _ in kept], best.level,
                           len(present), best.matched, matches, "values")

    def _free_text_column(self, system: str, unit: str, field: FieldSample,
                          present: Sequence[object]) -> Entry | None:
        """Notes, letters, comments: values that are mostly prose are scanned as text;
        ``matched`` counts the values holding something."""
        texts = [v for v in present if isinstance(v, str) and (" " in v or len(v) > 40)]
        if not self.scanner or not texts or len(texts) * 2 < len(present):
            return None
        counts: dict[str, int] = {}
        holding = 0
        for text in texts:
            found = self.scanner.count(text)
            if found:
                holding += 1
                for name, n in found.items():
                    counts[name] = counts.get(name, 0) + n
        if not counts:
            return None
        kept, level = self._text_verdict(counts)
        return self._entry(system, unit, field, kept, level, len(present), holding, counts,
                           "values")

    @staticmethod
    def _probe(detector: Detector, present: Sequence[object], column: str) -> bool:
        """Worth judging by values alone: some of the first values fit."""
        if not detector.by_value or not present:
            return False
        return any(detector.matches(v, column) for v in present[:_PROBE])

    # ------------------------------------------------------------------ text
    def _text(self, system: str, unit: str, field: FieldSample) -> Entry | None:
        text = field.text or ""
        counts = self.scanner.count(text) if self.scanner and text else {}
        counts = {name: n for name, n in counts.items() if n}
        if not counts:
            return None
        kept, level = self._text_verdict(counts)
        return self._entry(system, unit, field, kept, level, len(text.encode()),
                           sum(counts.values()), dict(counts), "bytes")

    def _text_verdict(self, counts: Mapping[str, int]) -> tuple[list[Detector], str]:
        """Detectors found in text, most matches first, and how sure: high when one of them
        checks more than a shape (a checksum, an e-mail's @), medium from three matches."""
        kept = sorted((self.by_name[n] for n in counts),
                      key=lambda d: (-counts[d.name], d.name))
        if any(d.name in self.strong_text for d in kept):
            return kept, "high"
        return kept, "medium" if sum(counts.values()) >= 3 else "low"

    def _entry(self, system: str, unit: str, field: FieldSample, kept: Sequence[Detector],
               level: str, sampled: int, matched: int, matches: dict[str, int],
               sample_unit: str) -> Entry:
        categories: list[str] = []
        for detector in kept:
            for group in self.groups[detector.name]:
                if group not in categories:
                    categories.append(group)
        return Entry(system=system, container=field.container, kind=field.kind,
                     categories=sorted(categories), detectors=[d.name for d in kept],
                     confidence=level, sampled=sampled, matched=matched,
                     sample_unit=sample_unit, searched=field.searched,
                     not_searched_because=None if field.searched
                     else field.not_searched_because, matches=matches, unit=unit)
