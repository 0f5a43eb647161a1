"""Findings per (subject, row) as a search sees rows: matched in identity columns, mentioned
in free text, or reached through a link; and which matched rows lead on to their links."""

from __future__ import annotations

from typing import Any

from agent.attribution import several_people
from agent.models import Finding
from connectors.sql.follow import Node
from connectors.sql.matching import (
    RowFacts,
    SubjectIndex,
    match_row,
    qualifier_hits,
    reported_values,
    row_facts,
)
from connectors.sql.model import Link, TableInfo

# Keys of found rows remembered for read(); a long-lived connector forgets the oldest.
_ROW_KEYS_KEPT = 200_000


class FindingCollector:
    """Findings per (subject, row), merged as direct, free-text and linked sightings arrive."""

    def __init__(self, system: str, index: SubjectIndex,
                 row_keys: dict[str, tuple[Any, ...]]) -> None:
        self.system = system
        self.index = index
        self.row_keys = row_keys
        self.items: dict[tuple[str, str], Finding] = {}
        # (ref, locator) of findings whose row is the person's own (matched in an identity
        # column, or reached through a link) rather than only mentioning them in its text
        self._owned: set[tuple[str, str]] = set()
        self._direct_seen: set[str] = set()
        # rows matched in identity columns: (ref, locator) -> (node, matched ids, holder)
        self._direct: dict[tuple[str, str], tuple[Node, set[str], str | None]] = {}

    def _finding(self, info: TableInfo, row: dict[str, Any], ref: str,
                 facts: RowFacts) -> Finding:
        locator = info.locator(row)
        existing = self.items.get((ref, locator))
        if existing is not None:
            return existing
        finding = Finding(system=self.system, kind="row", locator=locator, subject=ref,
                          categories=list(info.categories), container=info.key,
                          internal_values=reported_values(info, facts),
                          internal_holder=facts.holder,
                          internal_party=facts.party if info.party_table else None)
        self.items[(ref, locator)] = finding
        if info.key_source != "hash":
            if len(self.row_keys) >= _ROW_KEYS_KEPT:
                for old in list(self.row_keys)[:_ROW_KEYS_KEPT // 2]:
                    del self.row_keys[old]
            self.row_keys[locator] = tuple(row[c] for c in info.locator_columns)
        return finding

    def direct(self, info: TableInfo, row: dict[str, Any]) -> None:
        """A row fetched by an identity or reference column."""
        locator = info.locator(row)
        if locator in self._direct_seen:  # fetched again by another identifier type
            return
        self._direct_seen.add(locator)
        facts = row_facts(info, row)
        for ref, ids in match_row(self.index, info, row, facts).items():
            finding = self._finding(info, row, ref, facts)
            finding.internal_matched_ids |= ids
            self._owned.add((ref, locator))
            # A limited company's row leads nowhere: its contracts are not a contact's
            # personal data.
            if facts.party != "organisation":
                self._direct[(ref, locator)] = (Node(info, row, ref, finding.id), ids,
                                                facts.holder)

    def text(self, info: TableInfo, row: dict[str, Any], hits: dict[str, set[str]]) -> None:
        facts = row_facts(info, row)
        for ref, ids in hits.items():
            finding = self._finding(info, row, ref, facts)
            finding.internal_matched_ids |= ids | qualifier_hits(self.index, ref, facts)

    def child(self, info: TableInfo, row: dict[str, Any], parent: Node, link: Link) -> str:
        finding = self._finding(info, row, parent.ref, row_facts(info, row))
        self._owned.add((parent.ref, finding.locator))
        if finding.internal_parent is None:
            finding.internal_parent = parent.finding_id
            finding.internal_link = link.label
        return finding.id

    def roots(self) -> list[Node]:
        """Rows to follow links from: matched by a strong identifier that, in this system,
        is not on several differently named people (a shared office landline attributes
        nothing, so the rows hanging off its holders are not followed)."""
        holders: dict[tuple[str, str], list[str]] = {}
        for (ref, _), (_, ids, holder) in self._direct.items():
            if holder:
                for ident_id in ids:
                    holders.setdefault((ref, ident_id), []).append(holder)
        shared = {key for key, names in holders.items() if several_people(names)}
        return [node for (ref, _), (node, ids, _) in self._direct.items()
                if any((ref, i) not in shared for i in ids if self.index.strong(ref, {i}))]

    def findings(self) -> list[Finding]:
        for key, finding in self.items.items():
            ref = key[0]
            finding.matched = sorted({self.index.type_of(ref, i)
                                      for i in finding.internal_matched_ids})
            if key not in self._owned:
                # Only mentioned in free text (Bob's ticket quoting Jane's e-mail): the row's
                # own identity data, holder and party are someone else's, so they must not
                # expand the search, mark Jane's e-mail as shared, or make her mention a
                # company's record.
                finding.internal_values = {}
                finding.internal_holder = None
                finding.internal_party = None
        return list(self.items.values())
