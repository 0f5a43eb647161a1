"""Rows out of a Parquet file, keeping its schema and exact types.

The file is read one row group at a time (memory is bounded by the largest row group) and
each row group is written again without the rows ``remove`` picks, as one row group, with
pyarrow's ``ParquetWriter``. ``remove`` sees the row numbers and cells the Parquet extractor
yields (data rows from 2; row 1, the column names, is the schema and never removed).

Kept from the original: the Arrow schema with its field and key-value metadata (pandas
metadata, field ids), every column's physical and logical type (timestamp unit and zone,
decimal precision and scale, nested structs, lists and maps, dictionary-encoded columns),
each column's compression codec, dictionary encoding, other encodings pyarrow can write
(delta, byte-stream-split), statistics, sorting columns, INT96 timestamps and integer-
stored decimals. The compression level is not recorded in a file: the codec's default is
used. After writing, the new file's Parquet schema is compared with the original's and a
difference fails the rewrite rather than changing a column's type.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from agent.errors import ConnectorError
from agent.extraction import seekable
from agent.extractors import ExtractionError
from connectors.files.rewrite import Rewritten, RowTest, spool
from plugins.extractors.parquet import (
    BATCH_ROWS,
    HEADER_ROW,
    READ_ERRORS,
    open_parquet,
    row_cells,
)

MAX_ROW_GROUP_BYTES = 2 << 30  # uncompressed: a row group is read whole
_CODECS = {"UNCOMPRESSED": "NONE", "SNAPPY": "SNAPPY", "GZIP": "GZIP", "BROTLI": "BROTLI",
           "LZ4": "LZ4", "LZ4_RAW": "LZ4", "ZSTD": "ZSTD"}
_DICTIONARY = {"PLAIN_DICTIONARY", "RLE_DICTIONARY"}
_ENCODINGS = ("BYTE_STREAM_SPLIT", "DELTA_BINARY_PACKED", "DELTA_LENGTH_BYTE_ARRAY",
              "DELTA_BYTE_ARRAY")


def remove_parquet_rows(stream: BinaryIO, remove: RowTest) -> Rewritten:
    """The file without the rows ``remove`` picks; ``count`` the rows removed (0: nothing
    to write, ``data`` is empty)."""
    with seekable(stream) as data:
        try:
            original = open_parquet(data)
        except ExtractionError as exc:
            raise ConnectorError(f"{exc}: not rewritten") from None
        try:
            return _rewrite(original, remove)
        finally:
            original.close()


def _rewrite(original: pq.ParquetFile, remove: RowTest) -> Rewritten:
    out = spool()
    try:
        count = _write_kept(original, remove, out)
        if count:
            out.seek(0)
            _check_types(original, out)
    except BaseException:
        out.close()
        raise
    if not count:
        out.close()
        return Rewritten(spool(), 0)
    out.seek(0)
    return Rewritten(out, count)


def _write_kept(original: pq.ParquetFile, remove: RowTest, out: BinaryIO) -> int:
    """Every row group without the rows ``remove`` picks, into ``out``; rows removed."""
    with _writing("the Parquet file could not be written again with its own schema"):
        writer = pq.ParquetWriter(out, original.schema_arrow, **writer_options(original))
    count = 0
    try:
        number = HEADER_ROW
        for index in range(original.metadata.num_row_groups):
            table = _row_group(original, index)
            keep: list[bool] = []
            with _writing(f"row group {index + 1} of the Parquet file has a value that "
                          "cannot be read as text"):
                for cells in _rows(table):
                    number += 1
                    gone = remove(number, cells)
                    count += gone
                    keep.append(not gone)
            if not any(keep):
                continue
            with _writing("the Parquet file could not be written again with its own "
                          "schema"):
                kept = table if all(keep) else table.filter(pa.array(keep, pa.bool_()))
                writer.write_table(kept, row_group_size=max(kept.num_rows, 1))
    finally:
        with _writing("the Parquet file could not be finished"):
            writer.close()
    return count


@contextmanager
def _writing(what: str) -> Iterator[None]:
    """pyarrow's errors as a ConnectorError saying ``what`` (their text may quote data)."""
    try:
        yield
    except (pa.ArrowException, OSError, ValueError, TypeError) as exc:
        raise ConnectorError(f"{what} ({type(exc).__name__}): not rewritten") from None


def _row_group(original: pq.ParquetFile, index: int) -> pa.Table:
    size = original.metadata.row_group(index).total_byte_size
    if size > MAX_ROW_GROUP_BYTES:
        raise ConnectorError(f"a Parquet row group of {size >> 20} MiB uncompressed is over "
                             f"the rewrite limit of {MAX_ROW_GROUP_BYTES >> 20} MiB: not "
                             "rewritten")
    try:
        return original.read_row_group(index)
    except READ_ERRORS:
        raise ConnectorError(f"row group {index + 1} of the Parquet file is corrupt or "
                             "unreadable: not rewritten") from None


def _rows(table: pa.Table) -> Iterator[list[str]]:
    for batch in table.to_batches(max_chunksize=BATCH_ROWS):
        yield from row_cells(batch)


# ---------------------------------------------------------------- what the writer keeps
def writer_options(original: pq.ParquetFile) -> dict[str, Any]:
    """ParquetWriter options that write the file as it was written (from its footer)."""
    meta = original.metadata
    leaves = [original.schema.column(i) for i in range(len(original.schema))]
    options: dict[str, Any] = {
        "version": "1.0" if meta.format_version == "1.0" else "2.6",
        "store_schema": b"ARROW:schema" in (meta.metadata or {}),
        "use_deprecated_int96_timestamps": any(c.physical_type == "INT96" for c in leaves),
        "store_decimal_as_integer": any(
            c.logical_type.type == "DECIMAL" and c.physical_type in ("INT32", "INT64")
            for c in leaves),
    }
    if not meta.num_row_groups:
        return options
    group = meta.row_group(0)
    compression: dict[str, str] = {}
    dictionary: list[str] = []
    encoding: dict[str, str] = {}
    statistics: list[str] = []
    for j in range(group.num_columns):
        chunk = group.column(j)
        path = chunk.path_in_schema
        compression[path] = _CODECS.get(chunk.compression, "SNAPPY")
        used = set(chunk.encodings)
        if used & _DICTIONARY:
            dictionary.append(path)
        else:
            special = next((e for e in _ENCODINGS if e in used), None)
            if special:
                encoding[path] = special
        if chunk.is_stats_set:
            statistics.append(path)
    options.update(compression=compression, use_dictionary=dictionary,
                   write_statistics=statistics)
    if encoding:
        options["column_encoding"] = encoding
    sorting = group.sorting_columns
    if sorting:
        options["sorting_columns"] = sorting
    return options


def _check_types(original: pq.ParquetFile, written: BinaryIO) -> None:
    """The new file's Parquet and Arrow schemas are the original's, or the rewrite fails."""
    try:
        new = pq.ParquetFile(written)
    except READ_ERRORS:
        raise ConnectorError("the rewritten Parquet file does not read back: not "
                             "rewritten") from None
    try:
        same = (new.schema.equals(original.schema)
                and new.schema_arrow.equals(original.schema_arrow, check_metadata=True))
    finally:
        new.close()
    if not same:
        raise ConnectorError("rewriting would change the Parquet file's column types or "
                             "metadata: not rewritten")
