"""All subjects' identifiers in lookup tables, and each fetched row confirmed against them.

The database is asked with every stored variant of an identifier (so indexes are used);
whatever comes back is re-checked here by normalising the row's own values, so a
collation quirk or a LIKE never attributes a row, and a phone one digit off never matches.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agent.identifiers import TYPES, name_parts, try_normalise
from agent.models import Subject
from agent.textscan import TextIndex, id_key
from connectors.sql.model import TableInfo
from connectors.sql.options import BANK_ROLES, NAME_ROLES, Party
from connectors.sql.values import as_text, match_key, normalise_value, person_name

Payload = tuple[str, str]  # (subject ref, identifier id)

# Types the database is queried by. Postcode, date of birth and company number only
# narrow a row found another way: alone they match whole streets, birthdays, companies.
QUERIED_TYPES = frozenset({"email", "phone", "account", "customer_id", "contact_id",
                           "cookie_id", "device_id", "ni_number", "bank_account", "name"})
QUALIFIER_TYPES = frozenset({"postcode", "dob", "company_number"})
STRONG_TYPES = frozenset(t.name for t in TYPES.values() if t.strong)


@dataclass
class SubjectIndex:
    """Every subject's identifiers keyed for lookups, built once per search."""

    subjects: dict[str, Subject]
    system: str
    values: dict[tuple[str, str], list[Payload]] = field(default_factory=dict)
    names: dict[tuple[str, str], list[Payload]] = field(default_factory=dict)
    # other systems' record ids: (system, table, id key) and (table, id key)
    scoped: dict[tuple[str, str, str], list[Payload]] = field(default_factory=dict)
    scoped_any: dict[tuple[str, str], list[Payload]] = field(default_factory=dict)
    # what this round queries: type -> normalised values; names; table -> scoped ids
    wanted: dict[str, set[str]] = field(default_factory=dict)
    wanted_names: set[tuple[str, str]] = field(default_factory=set)
    wanted_scoped: dict[str, set[str]] = field(default_factory=dict)
    text: TextIndex[Payload] = field(default_factory=TextIndex)
    types: dict[Payload, str] = field(default_factory=dict)

    @classmethod
    def build(cls, subjects: Sequence[Subject], system: str) -> SubjectIndex:
        index = cls(subjects={s.ref: s for s in subjects}, system=system)
        for subject in subjects:
            searching = {i.id for i in subject.to_search()}
            for ident in subject.identifiers:
                index._add(subject.ref, ident.id, ident.type, ident.value, ident.scope,
                           ident.id in searching)
        return index

    def _add(self, ref: str, ident_id: str, kind: str, value: str, scope: str | None,
             searching: bool) -> None:
        payload = (ref, ident_id)
        self.types[payload] = kind
        if scope:
            system, _, table = scope.partition(".")
            if system == self.system:
                return  # our own record ids: the foreign keys already lead to those rows
            table = table.rpartition(".")[2].lower()  # "schema.table" -> "table"
            key = id_key(value)
            _append(self.scoped, (system, table, key), payload)
            _append(self.scoped_any, (table, key), payload)
            if searching:
                self.wanted_scoped.setdefault(table, set()).add(value)
            return
        if kind == "name":
            first, last = name_parts(value)
            _append(self.names, (first, last), payload)
            if searching:
                self.wanted_names.add((first, last))
                self.text.add(kind, value, payload)
            return
        _append(self.values, (kind, match_key(kind, value)), payload)
        if searching and kind in QUERIED_TYPES:
            self.wanted.setdefault(kind, set()).add(value)
            self.text.add(kind, value, payload)

    def type_of(self, ref: str, ident_id: str) -> str:
        return self.types.get((ref, ident_id)) or ident_id.partition("#")[0]

    def strong(self, ref: str, ids: set[str]) -> bool:
        return any(self.type_of(ref, i) in STRONG_TYPES for i in ids)


def _append(bucket: dict[Any, list[Payload]], key: Any, payload: Payload) -> None:
    items = bucket.setdefault(key, [])
    if payload not in items:
        items.append(payload)


@dataclass
class RowFacts:
    """The identity data a row holds, normalised."""

    values: dict[str, set[str]]
    holder: str | None
    party: Party | None
    own_key: str | None


def row_facts(info: TableInfo, row: Mapping[str, Any]) -> RowFacts:
    values: dict[str, set[str]] = {}
    for role, columns in info.roles.items():
        if role in NAME_ROLES or role in BANK_ROLES:
            continue
        for column in columns:
            value = normalise_value(role, row.get(column))
            if value:
                values.setdefault(role, set()).add(value)
    for value in _bank_accounts(info, row):
        values.setdefault("bank_account", set()).add(value)
    party = info.row_party(row)
    holder = None if party == "organisation" else _holder(info, row)
    if holder:
        values.setdefault("name", set()).add(holder)
    own_key = None
    if info.own_key_type:
        pk = info.table.primary_key.columns[0].name if info.table.primary_key.columns else None
        own_key = normalise_value(info.own_key_type, row.get(pk)) if pk else None
    return RowFacts(values=values, holder=holder, party=party, own_key=own_key)


def reported_values(info: TableInfo, facts: RowFacts) -> dict[str, set[str]]:
    """internal_values: the row's identity values, plus its own key as a contact or customer
    id when the row is a person (never a company's key: organisation ids do not expand)."""
    out = {kind: set(values) for kind, values in facts.values.items()}
    if facts.own_key and info.own_key_type and (info.person or facts.party == "person"):
        out.setdefault(info.own_key_type, set()).add(facts.own_key)
    return out


def _holder(info: TableInfo, row: Mapping[str, Any]) -> str | None:
    firsts, lasts = info.columns("first_name"), info.columns("last_name")
    if firsts or lasts:
        name = person_name(*(row.get(c) for c in firsts[:1] + lasts[:1]))
        if name:
            return name
    for column in info.columns("full_name"):
        name = person_name(row.get(column))
        if name:
            return name
    return None


def _bank_accounts(info: TableInfo, row: Mapping[str, Any]) -> list[str]:
    out = []
    for column in info.columns("bank_account"):
        value = normalise_value("bank_account", row.get(column))
        if value:
            out.append(value)
    for sort_col, number_col in zip(info.columns("sort_code"),
                                    info.columns("bank_account_number"), strict=False):
        sort, number = as_text(row.get(sort_col)), as_text(row.get(number_col))
        if not sort or not number:
            continue
        if sort.isdigit():  # a number column drops the sort code's leading zero
            sort = sort.zfill(6)
        value = try_normalise("bank_account", f"{sort} {number}")
        if value:
            out.append(value)
    return out


def match_row(index: SubjectIndex, info: TableInfo, row: Mapping[str, Any],
              facts: RowFacts) -> dict[str, set[str]]:
    """subject ref -> ids of its identifiers the row holds in identity or reference columns.

    A subject matched only by qualifiers (postcode, DOB, company number) is left out.
    """
    hits: dict[str, set[str]] = defaultdict(set)
    for kind, values in facts.values.items():
        if kind == "name":
            continue
        for value in values:
            for ref, ident_id in index.values.get((kind, match_key(kind, value)), ()):
                hits[ref].add(ident_id)
    if facts.own_key and info.own_key_type:
        for ref, ident_id in index.values.get((info.own_key_type, id_key(facts.own_key)), ()):
            hits[ref].add(ident_id)
    if facts.holder:
        first, last = name_parts(facts.holder)
        for key in {(first, last), ("", last)}:
            for ref, ident_id in index.names.get(key, ()):
                hits[ref].add(ident_id)
    for reference in info.references:
        text = as_text(row.get(reference.column))
        if not text:
            continue
        key = id_key(text)
        for table in reference.tables:
            found = (index.scoped.get((reference.system, table, key), ()) if reference.system
                     else index.scoped_any.get((table, key), ()))
            for ref, ident_id in found:
                hits[ref].add(ident_id)
    return {ref: ids for ref, ids in hits.items()
            if any(index.type_of(ref, i) not in QUALIFIER_TYPES for i in ids)}


def qualifier_hits(index: SubjectIndex, ref: str, facts: RowFacts) -> set[str]:
    """Ids of ``ref``'s qualifiers (postcode, DOB, company number) the row also holds."""
    out = set()
    for kind in QUALIFIER_TYPES:
        for value in facts.values.get(kind, ()):
            out.update(i for r, i in index.values.get((kind, match_key(kind, value)), ())
                       if r == ref)
    return out
