"""Follow foreign keys from matched rows to the rows that hang off them.

Breadth-first, one statement per (link, level) for every subject at once: the parent keys
of all rows reached so far go into one ``IN`` list (split at the parameter limit), never a
query per row. Only links *into* a row are followed (its call logs, devices, invoices),
never out of it (a contact's company), and never into a table whose rows are people or
customers in their own right. A seen-set per subject ends self-references and cycles.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from connectors.sql.columns import column_kind
from connectors.sql.model import Catalog, Link, TableInfo
from connectors.sql.query import QueryBuilder
from connectors.sql.values import key_lookup


@dataclass
class Node:
    info: TableInfo
    row: dict[str, Any]
    ref: str  # the subject the row belongs to
    finding_id: str


# Called for each row reached: returns the id of the finding it became.
OnChild = Callable[[TableInfo, dict[str, Any], Node, Link], str]


def follow(conn: Connection, builder: QueryBuilder, catalog: Catalog, roots: Sequence[Node],
           depth: int, on_child: OnChild) -> int:
    """Walk down from ``roots`` up to ``depth`` levels; returns the number of rows reached."""
    seen = {(n.ref, n.info.key, n.info.locator(n.row)) for n in roots}
    frontier = list(roots)
    reached = 0
    for _ in range(depth):
        if not frontier:
            break
        by_table: dict[str, list[Node]] = {}
        for node in frontier:
            by_table.setdefault(node.info.key, []).append(node)
        frontier = []
        for key, nodes in by_table.items():
            for link in catalog.tables[key].children:
                child = catalog.tables[link.child]
                if not child.followable:
                    continue
                for row, parent in _children(conn, builder, child, link, nodes):
                    mark = (parent.ref, child.key, child.locator(row))
                    if mark in seen:
                        continue
                    seen.add(mark)
                    reached += 1
                    finding_id = on_child(child, row, parent, link)
                    frontier.append(Node(child, row, parent.ref, finding_id))
    return reached


def _children(conn: Connection, builder: QueryBuilder, child: TableInfo, link: Link,
              parents: Sequence[Node]) -> list[tuple[dict[str, Any], Node]]:
    by_key: dict[tuple[str | None, ...], list[Node]] = {}
    bound: dict[tuple[str | None, ...], tuple[Any, ...]] = {}
    columns = [child.table.c[name] for name in link.child_cols]
    for node in parents:
        values = tuple(node.row.get(c) for c in link.parent_cols)
        coerced = _coerce(columns, values)
        if coerced is None:
            continue
        lookup = tuple(key_lookup(v) for v in values)
        by_key.setdefault(lookup, []).append(node)
        bound[lookup] = coerced
    out: list[tuple[dict[str, Any], Node]] = []
    if not bound:
        return out
    for statement in builder.children(child, link, list(bound.values())):
        for mapping in conn.execute(statement).mappings():
            row = dict(mapping)
            lookup = tuple(key_lookup(row.get(c)) for c in link.child_cols)
            out.extend((row, parent) for parent in by_key.get(lookup, ()))
    return out


def _coerce(columns: Sequence[Any], values: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """Parent key values as the child columns store them (an inferred link may join an
    integer key to a text column); None when a value is missing or cannot be one."""
    out = []
    for column, value in zip(columns, values, strict=True):
        if value is None:
            return None
        kind = column_kind(column)
        if kind == "int" and not isinstance(value, int):
            text = str(value).strip()
            if not text.lstrip("-").isdigit():
                return None
            value = int(text)
        elif kind in {"str", "text"} and not isinstance(value, str):
            value = str(value)
        out.append(value)
    return tuple(out)
