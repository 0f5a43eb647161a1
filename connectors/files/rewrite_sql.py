"""Rewriting a SQL dump without some rows, with the extractor's own parser
(``plugins.extractors.sqldump.DumpParser``), so rows and numbers are the ones search saw.

A COPY row goes as its whole line; an INSERT tuple goes from its statement, the other tuples
and the separators between them kept byte for byte (the separator after a removed tuple
goes with it; the last tuple's goes when it is the one removed); a statement left with no
tuple goes whole, with its line when it had the line to itself. Everything else is copied
byte for byte. ``remove`` gets the file-wide row number (``part x PART_STRIDE + row``, parts
counted in the order the extractor yields them, as ``connectors.files.scan`` numbers them).
A gzipped dump: ``rewrite_gz.rewrite_gzip(stream, lambda s: remove_sql_rows(s, remove))``
(the numbers are the same: the extractor's ``gz:NAME/`` prefix keeps the parts' order).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import BinaryIO

from agent.errors import ConnectorError
from connectors.files.rewrite import Rewritten, RowTest, spool
from connectors.files.scan import row_number
from plugins.extractors.sqldump import (
    CopyRow,
    DumpParser,
    Header,
    Insert,
    Raw,
    SqlDumpError,
    Tuple,
)


def remove_sql_rows(stream: BinaryIO, remove: RowTest) -> Rewritten:
    out = spool()
    count = 0
    parts: dict[str, int] = {}

    def number(where: str, row: int) -> int:
        index = parts.setdefault(where, len(parts))
        return row_number(index, row)

    try:
        for event in DumpParser(stream).events():
            if isinstance(event, Raw):
                out.write(event.data)
            elif isinstance(event, Header):
                number(event.where, event.row)  # the part is counted from its header
            elif isinstance(event, CopyRow):
                if remove(number(event.where, event.row), list(event.cells)):
                    count += 1
                else:
                    out.write(event.data)
            elif isinstance(event, Insert):
                count += _write_insert(out, event, lambda t: remove(number(t.where, t.row),
                                                                    list(t.cells)))
    except SqlDumpError as exc:
        out.close()
        raise ConnectorError(f"the SQL dump cannot be parsed ({exc}): not rewritten") from None
    except BaseException:
        out.close()
        raise
    out.seek(0)
    return Rewritten(out, count)


def _write_insert(out: BinaryIO, event: Insert, gone: Callable[[Tuple], bool]) -> int:
    """The statement without the tuples ``gone`` picks, written as its tuples are read
    (nothing of it when it keeps none); the count removed."""
    data = event.data
    first: Tuple | None = None
    previous: Tuple | None = None
    kept: Tuple | None = None  # the last tuple kept
    separator = b""  # what followed ``kept`` in the original, written before the next kept
    removed = 0
    for item in event.tuples:
        if first is None:
            first = item
        if previous is not None and previous is kept:
            separator = data[previous.end:item.start]
        if gone(item):
            removed += 1
        else:
            out.write(separator if kept is not None else event.before + data[:first.start])
            out.write(memoryview(data)[item.start:item.end])
            kept = item
        previous = item
    if previous is None:
        out.writelines((event.before, data, event.after))
    elif kept is not None:
        out.writelines((memoryview(data)[previous.end:], event.after))
    return removed
