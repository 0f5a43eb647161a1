"""Row accumulation for the generator: explicit ids, per-table buffers, locators.

Ids are assigned here (never by the database) so the same seed gives the same rows on
every backend, and the manifest can name rows by their locator before they are loaded.
"""

from __future__ import annotations

from typing import Any

from agent.demo.schema import MARKED_TABLES, MARKER_COLUMNS, TABLE_ORDER

Row = dict[str, Any]
Chunk = dict[str, list[Row]]

# Tables keyed by something other than a single ``id`` column: their key columns in order.
COMPOSITE_KEYS: dict[str, tuple[str, ...]] = {"marketing_preferences": ("contact_id", "channel")}


def locator(table: str, row: Row) -> str:
    """The SQL connector's locator: ``table:pk``, composite keys joined by commas."""
    key = COMPOSITE_KEYS.get(table, ("id",))
    return f"{table}:" + ",".join(str(row[c]) for c in key)


class Sink:
    """Collects the rows of one chunk; ids continue across chunks."""

    def __init__(self) -> None:
        self._next_id: dict[str, int] = dict.fromkeys(TABLE_ORDER, 1)
        self.rows: Chunk = {t: [] for t in TABLE_ORDER}
        self.counts: dict[str, int] = dict.fromkeys(TABLE_ORDER, 0)

    def add(self, table: str, **values: Any) -> Row:
        if table not in COMPOSITE_KEYS:
            values["id"] = self._next_id[table]
            self._next_id[table] += 1
        if table in MARKED_TABLES:
            for column in MARKER_COLUMNS:  # nobody is suppressed or restricted yet
                values.setdefault(column, False)
        self.rows[table].append(values)
        self.counts[table] += 1
        return values

    def peek_id(self, table: str) -> int:
        """The id the next row added to ``table`` will get."""
        return self._next_id[table]

    def pending(self) -> int:
        return sum(len(r) for r in self.rows.values())

    def take(self) -> Chunk:
        """The buffered rows, parents first; the buffers start empty again."""
        chunk, self.rows = self.rows, {t: [] for t in TABLE_ORDER}
        return chunk
