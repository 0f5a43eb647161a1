"""Apache Parquet, streamed row group by row group with pyarrow.

Pieces are rows, numbered as a CSV file's records are: row 1 is a header row whose
``cells`` are the column names (the file-share scan learns a part's column roles from its
first row), and the file's first data row is row 2, counting on across row groups.
``where`` is "" (one part); ``offset`` 0; ``text`` the non-empty cells joined by ", ".

``cells`` are the leaf values in schema order: a struct column is flattened into one cell
per leaf (``address.postcode``); a list or map column is one cell, its items joined by
", " (a struct inside a list reads ``{email: a@example.com, phone: 07700 900123}``, a map
entry ``key: value``), so an identifier anywhere in a nested value is in the row's text.
Values read as a person would type them: integers without ``.0``, decimals with their
scale (``1234.50``), timestamps in ISO 8601 in their own time zone (nanoseconds kept),
dates as ISO dates, binary as UTF-8 text when it decodes (else nothing), null as "".

``header_cells`` and ``row_cells`` are shared with the rewriter
(``connectors/files/rewrite_parquet.py``), so it sees the same row numbers and cells.

A stream that cannot seek is spooled first (Parquet's footer is at the end). A row group
whose declared uncompressed size is over ``max_expanded_bytes`` is refused before it is
read (a decompression bomb); ``max_text_chars`` and the deadline apply per piece, as the
extraction runner enforces them.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Callable, Iterator
from typing import BinaryIO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from agent.extraction import part_error
from agent.extraction import seekable as seekable_stream
from agent.extractors import ExtractContext, ExtractionError, Extractor, TextPiece
from plugins.extractors._common import render, row_text

MAGIC = b"PAR1"
ENCRYPTED_MAGIC = b"PARE"  # encrypted footer: unreadable without the keys
BATCH_ROWS = 8192
HEADER_ROW = 1  # the column names; data rows start at 2

# pyarrow raises these for a file it cannot parse; their text may quote bytes of it
READ_ERRORS = (pa.ArrowException, OSError, ValueError, IndexError, KeyError)


class ParquetExtractor(Extractor):
    name = "parquet"
    extensions = (".parquet", ".parq", ".pqt")
    media_types = ("application/vnd.apache.parquet", "application/x-parquet")
    tabular = True

    @classmethod
    def sniff(cls, head: bytes, filename: str) -> bool:
        return head[:4] in (MAGIC, ENCRYPTED_MAGIC) or filename.lower().endswith(cls.extensions)

    def extract(self, stream: BinaryIO, filename: str, context: ExtractContext
                ) -> Iterator[TextPiece]:
        with seekable_stream(stream) as data:
            parquet = open_parquet(data)
            try:
                header = header_cells(parquet.schema_arrow)
                if not header:
                    return
                yield TextPiece(row_text(header), row=HEADER_ROW, cells=tuple(header))
                limit = context.limits.max_expanded_bytes
                number = HEADER_ROW
                for index in range(parquet.metadata.num_row_groups):
                    check_row_group(parquet, index, limit)
                    for cells in _row_group_rows(parquet, index):
                        number += 1
                        yield TextPiece(row_text(cells), row=number, cells=tuple(cells))
            finally:
                parquet.close()


def open_parquet(data: BinaryIO) -> pq.ParquetFile:
    """The file's footer read and checked; ExtractionError (naming no content) if it is not
    a Parquet file pyarrow can read."""
    start = data.read(4)
    data.seek(0)
    if start == ENCRYPTED_MAGIC:
        raise ExtractionError("encrypted Parquet file (footer encryption): cannot be read "
                              "without its keys")
    if start != MAGIC:
        raise ExtractionError("not a valid Parquet file (no PAR1 signature)")
    try:
        return pq.ParquetFile(data)
    except READ_ERRORS:
        raise ExtractionError("not a valid Parquet file (corrupt or truncated footer)"
                              ) from None


def check_row_group(parquet: pq.ParquetFile, index: int, limit: int) -> None:
    size = parquet.metadata.row_group(index).total_byte_size
    if size > limit:
        raise part_error(f"row group {index + 1}",
                         f"uncompressed size {size} bytes over the limit of {limit} "
                         "(max_expanded_bytes)")


def _row_group_rows(parquet: pq.ParquetFile, index: int) -> Iterator[list[str]]:
    batches = parquet.iter_batches(batch_size=BATCH_ROWS, row_groups=[index])
    while True:
        try:
            batch = next(batches, None)
        except READ_ERRORS:
            raise part_error(f"row group {index + 1}", "corrupt or unreadable Parquet "
                             "data") from None
        if batch is None:
            return
        yield from row_cells(batch)


# ---------------------------------------------------------------- the cells of a row
def header_cells(schema: pa.Schema) -> list[str]:
    """The leaf names in schema order: a struct's fields as ``parent.child``."""
    names: list[str] = []
    for field in schema:
        names += _leaf_names(field.name, field.type)
    return names


def _leaf_names(name: str, kind: pa.DataType) -> list[str]:
    if pa.types.is_struct(kind) and kind.num_fields:
        return [leaf for i in range(kind.num_fields)
                for leaf in _leaf_names(f"{name}.{kind.field(i).name}", kind.field(i).type)]
    return [name]


def row_cells(batch: pa.RecordBatch) -> Iterator[list[str]]:
    """Each row of the batch as its leaf values as text (see the module docstring)."""
    columns: list[list[str]] = []
    for column in batch.columns:
        for leaf in _leaves(column):
            columns.append(texts(leaf, top=True))
    if not columns:
        return
    for values in zip(*columns, strict=True):
        yield list(values)


def _leaves(array: pa.Array) -> list[pa.Array]:
    if pa.types.is_struct(array.type) and array.type.num_fields:
        # flatten() merges the struct's own nulls into its children
        return [leaf for child in array.flatten() for leaf in _leaves(child)]
    return [array]


def texts(array: pa.Array, *, top: bool = False) -> list[str]:
    """Every value of ``array`` as text ("" for null). ``top``: a list or map at the top
    of a cell reads without brackets."""
    kind = array.type
    if isinstance(kind, pa.ExtensionType):
        return texts(array.storage, top=top)
    if pa.types.is_dictionary(kind):
        return _dictionary(array, top)
    if pa.types.is_struct(kind):
        return _structs(array)
    if pa.types.is_map(kind):
        return _lists(_map_entries(array), top, entries=True)
    if _is_list(kind):
        return _lists(array, top)
    if pa.types.is_null(kind):
        return [""] * len(array)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or \
            pa.types.is_string_view(kind):
        return array.cast(pa.large_string()).fill_null("").to_pylist()
    if pa.types.is_integer(kind) or pa.types.is_date(kind):
        # Arrow's own text for these is Python's (ISO dates), without a call per value
        return _guarded(array, lambda a: a.cast(pa.string()).fill_null("").to_pylist())
    if pa.types.is_timestamp(kind):
        return _guarded(array, _timestamps)
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind) or \
            pa.types.is_fixed_size_binary(kind) or pa.types.is_binary_view(kind):
        return _guarded(array, lambda a: [_bytes_text(v) for v in a.to_pylist()])
    return _guarded(array, lambda a: [_scalar(v) for v in a.to_pylist()])


def _is_list(kind: pa.DataType) -> bool:
    return (pa.types.is_list(kind) or pa.types.is_large_list(kind)
            or pa.types.is_fixed_size_list(kind) or pa.types.is_list_view(kind)
            or pa.types.is_large_list_view(kind))


def _dictionary(array: pa.DictionaryArray, top: bool) -> list[str]:
    if len(array.dictionary) > len(array):  # cheaper to decode than to render it all
        return texts(array.dictionary_decode(), top=top)
    values = texts(array.dictionary, top=top)
    return ["" if i is None else values[i] for i in array.indices.to_pylist()]


def _structs(array: pa.StructArray) -> list[str]:
    kind = array.type
    names = [kind.field(i).name for i in range(kind.num_fields)]
    children = [texts(child) for child in array.flatten()]
    valid = array.is_valid().to_pylist()
    out: list[str] = []
    for row, ok in enumerate(valid):
        if not ok:
            out.append("")
            continue
        body = ", ".join(f"{name}: {child[row]}" for name, child in zip(names, children,
                                                                         strict=True)
                         if child[row])
        out.append("{" + body + "}" if body else "")
    return out


def _map_entries(array: pa.MapArray) -> pa.ListArray:
    """A map as a list of its key/value structs (list kernels do not take maps); offsets
    rebased to 0, as a slice of a batch has them start further in."""
    offsets = array.offsets
    first, last = offsets[0].as_py(), offsets[-1].as_py()
    rebased = pc.subtract(offsets, pa.scalar(first, offsets.type))
    return pa.ListArray.from_arrays(rebased, array.values.slice(first, last - first),
                                    mask=array.is_null())


def _lists(array: pa.Array, top: bool, *, entries: bool = False) -> list[str]:
    lengths = pc.list_value_length(array).to_pylist()
    flat = array.flatten()  # the items of the non-null lists, in order
    if entries:
        keys, values = texts(flat.field(0)), texts(flat.field(1))
        items = [f"{k}: {v}" if v else k for k, v in zip(keys, values, strict=True)]
    else:
        items = texts(flat)
    out: list[str] = []
    at = 0
    for length in lengths:
        if length is None:
            out.append("")
            continue
        body = ", ".join(filter(None, items[at:at + length]))
        at += length
        if top:
            out.append(body)
        else:
            out.append(("{" + body + "}" if entries else "[" + body + "]") if body else "")
    return out


def _guarded(array: pa.Array, convert: Callable[[pa.Array], list[str]]) -> list[str]:
    """``convert``, or Arrow's own cast to text for values Python cannot hold (a date
    past year 9999), or nothing."""
    try:
        return convert(array)
    except (ValueError, OverflowError, pa.ArrowException):
        pass
    try:
        return [v or "" for v in array.cast(pa.string()).to_pylist()]
    except pa.ArrowException:
        return [""] * len(array)


def _timestamps(array: pa.TimestampArray) -> list[str]:
    """ISO 8601 in the column's own zone (naive when it has none); nanoseconds kept."""
    kind: pa.TimestampType = array.type
    if kind.unit != "ns":
        return [_iso(v) for v in array.to_pylist()]
    raw = array.cast(pa.int64()).to_pylist()
    micro = pa.array([None if v is None else v // 1000 for v in raw], pa.int64())
    moments = micro.cast(pa.timestamp("us", kind.tz)).to_pylist()
    out: list[str] = []
    for value, moment in zip(raw, moments, strict=True):
        if moment is None or value is None:
            out.append("")
        elif value % 1000:
            text = moment.isoformat(timespec="microseconds")
            cut = len("YYYY-MM-DDTHH:MM:SS.ffffff")
            out.append(f"{text[:cut]}{value % 1000:03d}{text[cut:]}")
        else:
            out.append(_iso(moment))
    return out


def _iso(value: dt.datetime | None) -> str:
    return "" if value is None else value.isoformat()


def _bytes_text(value: bytes | None) -> str:
    if value is None:
        return ""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return ""  # an image, a hash: not text a person would type


def _scalar(value: object) -> str:
    if isinstance(value, decimal.Decimal):
        return format(value, "f")  # with its scale, never in exponent form
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value)
    return render(value)
