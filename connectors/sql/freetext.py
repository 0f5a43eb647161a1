"""Scan a table's free-text columns (notes, comments) for every subject at once.

Rows are streamed in batches (a server-side cursor where the driver has one); each row's
text is tokenised once by :class:`agent.textscan.TextIndex`, whatever the number of
subjects. While few identifiers are searched, a bound ``LIKE`` pre-filter lets the
database skip rows that cannot match (and use a trigram index where there is one).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.sql import Select

from agent.textscan import TextIndex
from connectors.sql.matching import Payload
from connectors.sql.model import TableInfo
from connectors.sql.query import MAX_LIKE_TERMS, QueryBuilder
from connectors.sql.values import as_text


def free_text_statement(builder: QueryBuilder, info: TableInfo,
                        index: TextIndex[Payload]) -> Select[Any]:
    needles = index.needles()
    use_filter = bool(needles) and len(needles) * len(info.free_text) <= MAX_LIKE_TERMS
    return builder.free_text(info, info.free_text, needles if use_filter else None)


def scan_table(conn: Connection, builder: QueryBuilder, info: TableInfo,
               index: TextIndex[Payload]) -> Iterator[tuple[dict[str, Any], dict[str, set[str]]]]:
    """(row, subject ref -> matched identifier ids) for each row whose text holds any."""
    statement = free_text_statement(builder, info, index)
    matched: list[tuple[dict[str, Any], dict[str, set[str]]]] = []
    # Collect before yielding: some drivers cannot run another statement mid-stream.
    for row in conn.execute(statement).mappings():
        text = "\n".join(t for t in (_text(row.get(c)) for c in info.free_text) if t)
        if not text:
            continue
        hits: dict[str, set[str]] = {}
        for hit in index.scan(text):
            ref, ident_id = hit.payload
            hits.setdefault(ref, set()).add(ident_id)
        if hits:
            matched.append((dict(row), hits))
    yield from matched


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", errors="replace")
    return as_text(value)
