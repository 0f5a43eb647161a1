"""Which rows a plan would delete that rows staying behind still refer to.

Asked at plan time, so a delete that a foreign key would refuse becomes an anonymise in
the plan (with the reason) instead of failing the whole system's transaction at run time.
Only declared foreign keys count: the database enforces nothing else. A nullable
self-reference does not block: erase clears it (``referred_by`` pointing at the person).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from agent.plans import PlanItem
from connectors.sql.model import Catalog, Link, TableInfo
from connectors.sql.query import QueryBuilder

ReadTable = Callable[[Connection, QueryBuilder, TableInfo, list[str]],
                     dict[str, tuple[TableInfo, dict[str, Any]]]]


def kept_references(conn: Connection, builder: QueryBuilder, catalog: Catalog, system: str,
                    items: Sequence[PlanItem], read_table: ReadTable) -> dict[str, str]:
    """delete item id -> the tables whose rows outside the plan refer to its row."""
    deleting = {i.id for i in items}
    by_table: dict[str, list[PlanItem]] = {}
    for item in items:
        found = catalog.table_for_locator(item.locator or "")
        if found is not None:
            by_table.setdefault(found[0].key, []).append(item)
    blocked: dict[str, set[str]] = {}
    for key, mine in by_table.items():
        info = catalog.tables[key]
        links = [link for link in info.children if link.declared and not _clears(catalog, link)]
        if not links:
            continue
        rows = read_table(conn, builder, info, [i.locator or "" for i in mine])
        item_of = {i.locator: i.id for i in mine}
        for link in links:
            child = catalog.tables[link.child]
            parents = {tuple(row.get(c) for c in link.parent_cols): item_of[locator]
                       for locator, (_, row) in rows.items()}
            parents = {k: v for k, v in parents.items() if None not in k}
            for row in _children(conn, builder, child, link, list(parents)):
                locator = child.locator(row)
                if f"{system}:{locator}" in deleting:
                    continue
                parent = parents.get(tuple(row.get(c) for c in link.child_cols))
                if parent is not None:
                    blocked.setdefault(parent, set()).add(child.key)
    return {item: ", ".join(sorted(tables)) for item, tables in blocked.items()}


def _clears(catalog: Catalog, link: Link) -> bool:
    table = catalog.tables[link.child].table
    return link.child == link.parent and all(table.c[c].nullable for c in link.child_cols)


def _children(conn: Connection, builder: QueryBuilder, child: TableInfo, link: Link,
              keys: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    if not keys:
        return []
    wanted = list(dict.fromkeys([*child.locator_columns, *link.child_cols]))
    if child.key_source == "hash":
        wanted = [c.name for c in child.table.columns]
    columns = [child.table.c[c] for c in wanted]
    link_cols = [child.table.c[c] for c in link.child_cols]
    out: list[dict[str, Any]] = []
    step = max(1, builder.max_params // max(1, len(link_cols)))
    for i in range(0, len(keys), step):
        chunk = keys[i:i + step]
        if len(link_cols) == 1:
            where = link_cols[0].in_([k[0] for k in chunk])
        else:
            where = sa.or_(*(sa.and_(*(c == v for c, v in zip(link_cols, k, strict=True)))
                             for k in chunk))
        out += [dict(r) for r in conn.execute(sa.select(*columns).where(where)).mappings()]
    return out
