"""What the connector knows about a database after reflection and inference.

Built once per connector instance (see ``schema.build_catalog``) and read by the query
builder, the row matcher and the foreign-key walker.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from connectors.sql.options import Party, normalise_party_value
from connectors.sql.values import key_text, row_hash

# Values of a business_type-style column, read case- and separator-insensitively.
# Organisation words are checked first: "private limited company" is a company.
_ORGANISATION_WORDS = ("limited", "ltd", "plc", "llp", "company", "corporat", "incorporated",
                       "inc", "charity", "cic", "public sector", "government", "council",
                       "trust", "society", "association", "organisation", "organization")
_PERSON_WORDS = ("sole", "individual", "person", "private", "consumer", "residential",
                 "domestic", "partnership", "self employed", "freelance")


def party_from_words(value: str) -> Party | None:
    text = f" {normalise_party_value(value)} "
    if any(f" {w}" in text for w in _ORGANISATION_WORDS):
        return "organisation"
    if any(f" {w}" in text for w in _PERSON_WORDS):
        return "person"
    return None


@dataclass(frozen=True)
class PartyRule:
    """How to tell whether a row of a party table (customers, accounts) is a person."""

    fixed: Party | None = None
    column: str | None = None
    person_values: frozenset[str] | None = None
    organisation_values: frozenset[str] | None = None
    company_number_columns: tuple[str, ...] = ()

    def party_of(self, row: Mapping[str, Any]) -> Party | None:
        if self.fixed:
            return self.fixed
        if self.column:
            raw = row.get(self.column)
            if raw is not None and str(raw).strip():
                party = self._from_value(str(raw))
                if party:
                    return party
        # A company registration number is the mark of a company (sole traders have none).
        for column in self.company_number_columns:
            value = row.get(column)
            if value is not None and str(value).strip():
                return "organisation"
        return None

    def _from_value(self, raw: str) -> Party | None:
        value = normalise_party_value(raw)
        if self.person_values is None and self.organisation_values is None:
            return party_from_words(value)
        if self.person_values is not None and value in self.person_values:
            return "person"
        if self.organisation_values is not None:
            return "organisation" if value in self.organisation_values else None
        return "organisation"  # configured person values only: anything else is not one


@dataclass(frozen=True)
class Link:
    """A foreign key, declared or inferred: ``child.child_cols`` -> ``parent.parent_cols``."""

    child: str
    child_cols: tuple[str, ...]
    parent: str
    parent_cols: tuple[str, ...]
    declared: bool = True

    @property
    def label(self) -> str:
        return (f"{self.child}.{','.join(self.child_cols)} \u2192 "
                f"{self.parent}.{','.join(self.parent_cols)}")


@dataclass(frozen=True)
class Reference:
    """A column holding another system's record keys (``contact_id`` -> ``crm.contacts``).

    ``system`` is None when inferred from the column name: any other system's table named
    in ``tables`` qualifies.
    """

    column: str
    system: str | None
    tables: frozenset[str]
    declared: bool


@dataclass
class TableInfo:
    key: str  # name in locators and containers: "contacts", or "sales.contacts"
    table: sa.Table
    locator_columns: tuple[str, ...] = ()
    key_source: str = "hash"  # primary | unique | configured | hash
    # identity role -> columns: identifier types plus first_name, last_name, full_name,
    # sort_code, bank_account_number
    roles: dict[str, list[str]] = field(default_factory=dict)
    role_source: dict[str, str] = field(default_factory=dict)  # column -> config|name|values
    free_text: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    person: bool = False  # each row is about one person (contacts-like)
    party_table: bool = False  # each row is a customer: a person or an organisation
    party: PartyRule | None = None
    own_key_type: str | None = None  # contact_id | customer_id
    children: list[Link] = field(default_factory=list)  # links pointing at this table
    parents: list[Link] = field(default_factory=list)  # this table's links
    references: list[Reference] = field(default_factory=list)
    erasure: str | None = None

    @property
    def name(self) -> str:
        return self.table.name

    def columns(self, role: str) -> list[str]:
        return self.roles.get(role, [])

    def locator(self, row: Mapping[str, Any]) -> str:
        values = [row.get(c) for c in self.locator_columns]
        if values and all(v is not None for v in values):
            return f"{self.key}:{','.join(key_text(v) for v in values)}"
        return f"{self.key}:#{row_hash(dict(row))}"

    def row_party(self, row: Mapping[str, Any]) -> Party | None:
        return self.party.party_of(row) if self.party_table and self.party else None

    @property
    def followable(self) -> bool:
        """Rows reached through a link belong to the linked row's person. A table whose rows
        are people or customers in their own right is never pulled in that way."""
        return not (self.person or self.party_table)


@dataclass
class Catalog:
    dialect: str
    default_schema: str | None
    schema: str | None
    tables: dict[str, TableInfo] = field(default_factory=dict)
    # tables that could not be read while the schema was read (a missing SELECT grant):
    # key -> why (a class of problem and its code, never data)
    unreadable: dict[str, str] = field(default_factory=dict)

    def __iter__(self) -> Iterator[TableInfo]:
        return iter(self.tables.values())

    def get(self, key: str) -> TableInfo | None:
        return self.tables.get(key)

    def table_for_locator(self, locator: str) -> tuple[TableInfo, str] | None:
        """The table a locator names and the key part after ``table:``."""
        best: TableInfo | None = None
        for info in self.tables.values():
            if locator.startswith(info.key + ":") and (best is None or
                                                       len(info.key) > len(best.key)):
                best = info
        if best is None:
            return None
        return best, locator[len(best.key) + 1:]
