"""Per table and identifier type, the bound ``IN`` conditions that fetch candidate rows.

Every normalised and written variant of each identifier is bound (``07700 900123``,
``+447700900123``, 447700900123 for a number column ...), so an exact, indexed comparison
finds a value however it was stored. E-mail and names compare lower-cased.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

from agent.identifiers import split_bank_account, variants
from connectors.sql.columns import column_kind
from connectors.sql.matching import SubjectIndex
from connectors.sql.model import TableInfo
from connectors.sql.query import Condition, QueryBuilder

# Types compared case-insensitively (the stored value may be written in any case).
_FOLDED = frozenset({"email"})


def safe_variants(kind: str, value: str) -> list[str]:
    """Variants of a value; a malformed one (never normalised) contributes itself only."""
    try:
        return variants(kind, value)
    except Exception:  # an identifier built by hand may not parse (phonenumbers raises)
        return [value]


def table_conditions(builder: QueryBuilder, info: TableInfo,
                     index: SubjectIndex) -> Iterator[tuple[str, list[Condition]]]:
    """(identifier type, conditions) for each type the table can be searched by."""
    for kind in sorted(index.wanted):
        columns = list(info.columns(kind))
        if kind == info.own_key_type and info.table.primary_key.columns:
            pk = info.table.primary_key.columns[0].name
            if pk not in columns:
                columns.append(pk)
        if kind == "bank_account":
            yield from _bank(builder, info, index)
        if not columns:
            continue
        values = [v for value in sorted(index.wanted[kind]) for v in safe_variants(kind, value)]
        conditions: list[Condition] = []
        for name in columns:
            conditions += _column_conditions(builder, info.table.c[name], kind, values)
        if conditions:
            yield kind, conditions
    if index.wanted_names:
        conditions = _names(builder, info, index)
        if conditions:
            yield "name", conditions
    for reference in info.references:
        wanted = [v for table in sorted(reference.tables)
                  for value in sorted(index.wanted_scoped.get(table, ()))
                  for v in safe_variants("contact_id", value)]
        if wanted:
            conditions = _column_conditions(builder, info.table.c[reference.column],
                                            "reference", wanted)
            if conditions:
                yield f"reference:{reference.column}", conditions


def _column_conditions(builder: QueryBuilder, column: sa.Column[Any], kind: str,
                       values: list[str]) -> list[Condition]:
    if column_kind(column) == "int":
        bound = builder.bind_values(column, values)
        return builder.in_condition(column, bound) if bound else []
    if kind in _FOLDED:
        return builder.in_condition(builder.folded(column),
                                    list(dict.fromkeys(v.lower() for v in values)))
    return builder.in_condition(column, list(dict.fromkeys(values)))


def _bank(builder: QueryBuilder, info: TableInfo,
          index: SubjectIndex) -> Iterator[tuple[str, list[Condition]]]:
    """Sort code and account number in two columns: fetch by the account number, the row
    check compares the sort code too."""
    numbers = info.columns("bank_account_number")
    if not numbers or not info.columns("sort_code"):
        return
    accounts: list[str] = []
    for value in sorted(index.wanted["bank_account"]):
        try:
            account = split_bank_account(value)[1]
        except ValueError:
            continue
        accounts += [account, account.lstrip("0") or "0"]
    conditions: list[Condition] = []
    for name in numbers:
        conditions += _column_conditions(builder, info.table.c[name], "bank_account", accounts)
    if conditions:
        yield "bank_account_number", conditions


def _names(builder: QueryBuilder, info: TableInfo, index: SubjectIndex) -> list[Condition]:
    """Lower-cased first + last name (grouped by surname), or a full-name column."""
    conditions: list[Condition] = []
    firsts, lasts = info.columns("first_name"), info.columns("last_name")
    by_last: dict[str, set[str]] = {}
    for first, last in sorted(index.wanted_names):
        by_last.setdefault(last, set()).add(first)
    if lasts:
        last_col = builder.folded(info.table.c[lasts[0]])
        first_col = builder.folded(info.table.c[firsts[0]]) if firsts else None
        surname_only = sorted(last for last, fs in by_last.items()
                              if "" in fs or first_col is None)
        if surname_only:
            conditions += builder.in_condition(last_col, surname_only)
        if first_col is not None:
            for last, fs in sorted(by_last.items()):
                given = sorted(f for f in fs if f)
                if given and last not in surname_only:
                    conditions.append(Condition(((last_col, (last,)),
                                                 (first_col, tuple(given)))))
    for name in info.columns("full_name"):
        forms: list[str] = []
        for first, last in sorted(index.wanted_names):
            if first:
                forms += [f"{first} {last}", f"{last}, {first}", f"{last} {first}"]
            else:
                forms.append(last)
        for ref_names in _full_names(index):
            forms.append(ref_names)
        conditions += builder.in_condition(builder.folded(info.table.c[name]),
                                           list(dict.fromkeys(forms)))
    return conditions


def _full_names(index: SubjectIndex) -> Iterator[str]:
    """Whole normalised names being searched (with middle names: "jane mary doe")."""
    searching = {(ref, i.id) for ref, s in index.subjects.items() for i in s.to_search()}
    for ref, subject in index.subjects.items():
        for ident in subject.of_type("name"):
            if (ref, ident.id) in searching and not ident.scope:
                yield ident.value
