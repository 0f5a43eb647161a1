"""Parquet: the extractor's rows (header row 1, nested values flattened, exact value text),
the rewriter that removes rows keeping the schema, exact types and codecs, and both through
the files connector on a local share (search finds the rows, erasure removes and verifies).

Files are made with pyarrow. Jane Doe (jane.doe@example.com, 07700 900123) is the subject;
everyone else is made up. pandas is not installed, so its schema metadata is written by hand.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any, BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from agent.errors import ConnectorError
from agent.extraction import Extraction
from agent.extractors import ExtractionError, ExtractLimits, TextPiece, choose
from agent.models import Finding
from agent.plans import PlanItem
from agent.subjects import subject_from_mapping
from connectors.files.connector import FilesConnector
from connectors.files.rewrite_parquet import remove_parquet_rows
from plugins.extractors import EXTRACTORS
from plugins.extractors.parquet import ParquetExtractor, row_cells

if TYPE_CHECKING:
    from tests.file_servers import Share

pytest_plugins = ["tests.file_servers"]

EXTRACTION = Extraction(EXTRACTORS)
JANE = {"email": ["jane.doe@example.com"], "phone": ["07700 900123"], "name": "Jane Doe"}
ROWS = 30
ROW_GROUP = 8  # 30 rows: row groups of 8, 8, 8 and 6
JANE_AT = 5  # 0-based: her own row, file row 7
NESTED_AT = 12  # her e-mail only inside a list of structs: file row 14
PHONE_AT = 21  # her phone only in a list column: file row 23
LONDON = "Europe/London"
PANDAS = json.dumps({"index_columns": [], "column_indexes": [], "columns": [],
                     "creator": {"library": "pyarrow", "version": pa.__version__},
                     "pandas_version": "2.2.0"})

CONTACT = pa.struct([
    ("email", pa.string()),
    ("address", pa.struct([("line1", pa.string()), ("postcode", pa.string())])),
])
PREVIOUS = pa.list_(pa.struct([("email", pa.string()), ("until", pa.date32())]))
SCHEMA = pa.schema([
    pa.field("id", pa.int64(), nullable=False, metadata={"comment": "customer number"}),
    pa.field("name", pa.string()),
    pa.field("contact", CONTACT),
    pa.field("phones", pa.list_(pa.string())),
    pa.field("previous", PREVIOUS),
    pa.field("prefs", pa.map_(pa.string(), pa.string())),
    pa.field("seen_at", pa.timestamp("us", tz=LONDON)),
    pa.field("loaded_at", pa.timestamp("ns")),
    pa.field("born", pa.date32()),
    pa.field("balance", pa.decimal128(12, 2)),
    pa.field("score", pa.decimal128(38, 10)),
    pa.field("mobile", pa.int64()),
    pa.field("photo", pa.binary()),
    pa.field("segment", pa.dictionary(pa.int32(), pa.string())),
    pa.field("notes", pa.string()),
], metadata={"pandas": PANDAS, "source": "crm export"})
LEAVES = ["id", "name", "contact.email", "contact.address.line1", "contact.address.postcode",
          "phones", "previous", "prefs", "seen_at", "loaded_at", "born", "balance", "score",
          "mobile", "photo", "segment", "notes"]
# zstd for these columns (by leaf path), snappy for the rest
ZSTD = ("name", "contact.email", "previous.list.element.email", "loaded_at", "score", "notes")


# --------------------------------------------------------------------------- files
def person(i: int) -> dict[str, Any]:
    """Row i of the made-up customer table (every type, nulls on some rows)."""
    name, email, phone = f"Person {i}", f"person{i}@example.com", f"07700 900{i:03d}"
    previous = [{"email": f"old{i}@example.com", "until": dt.date(2020, 1, 1 + i % 28)}]
    phones = [phone]
    if i == JANE_AT:
        name, email, phone = "Jane Doe", "jane.doe@example.com", "07700 900123"
        phones = [phone, "07700 900124"]
    if i == NESTED_AT:
        previous.append({"email": "jane.doe@example.com", "until": None})
    if i == PHONE_AT:
        phones.append("07700 900123")
    return {
        "id": 1000 + i,
        "name": name,
        "contact": None if i % 10 == 9 else {
            "email": email, "address": {"line1": f"{i} High Street",
                                        "postcode": None if i % 3 else "AB1 2CD"}},
        "phones": None if i % 7 == 6 else phones,
        "previous": previous,
        "prefs": [("channel", "post"), ("lang", None)] if i % 2 else [],
        "seen_at": None if i % 5 == 4 else dt.datetime(2024, 7, 1, 9, 30, i, 123456,
                                                       tzinfo=dt.UTC),
        "loaded_at": 1_720_000_000_000_000_000 + i * 1_000_000_001,
        "born": dt.date(1980 + i, 2, 3),
        "balance": Decimal(f"{i * 100}.50") if i % 4 else None,
        "score": Decimal(f"{i}.0000000001"),
        "mobile": 447700900000 + i,
        "photo": b"\xff\xd8\xff\xe0" if i % 2 else f"ref-{i}".encode(),
        "segment": ("retail", "business")[i % 2] if i % 6 else None,
        "notes": None if i % 2 else f"note {i}",
    }


def people(rows: int = ROWS) -> pa.Table:
    data = [person(i) for i in range(rows)]
    columns = {}
    for field in SCHEMA:
        values = [row[field.name] for row in data]
        if pa.types.is_dictionary(field.type):
            columns[field.name] = pa.array(values, pa.string()).dictionary_encode()
        else:
            columns[field.name] = pa.array(values, field.type)
    return pa.Table.from_pydict(columns, schema=SCHEMA)


def codecs(table: pa.Table) -> dict[str, str]:
    """Per leaf column path (as a written file names them): zstd or snappy."""
    out: dict[str, str] = {}
    meta = pq.ParquetFile(_write(table.slice(0, 1), "snappy")).metadata.row_group(0)
    for j in range(meta.num_columns):
        path = meta.column(j).path_in_schema
        out[path] = "zstd" if any(path == z or path.startswith(z + ".") for z in ZSTD) \
            else "snappy"
    return out


def _write(table: pa.Table, compression: Any, **options: Any) -> io.BytesIO:
    out = io.BytesIO()
    pq.write_table(table, out, compression=compression, **options)
    out.seek(0)
    return out


def parquet_bytes(table: pa.Table | None = None, **options: Any) -> bytes:
    table = people() if table is None else table
    options.setdefault("row_group_size", ROW_GROUP)
    return _write(table, codecs(table), **options).getvalue()


def read(data: bytes) -> pq.ParquetFile:
    return pq.ParquetFile(io.BytesIO(data))


def plain(table: pa.Table) -> pa.Table:
    """Dictionary columns decoded and chunks merged: equal values compare equal whatever
    dictionaries each row group carries."""
    columns = [c.cast(c.type.value_type) if pa.types.is_dictionary(c.type) else c
               for c in table.columns]
    return pa.Table.from_arrays(columns, schema=pa.schema(
        [pa.field(f.name, f.type.value_type if pa.types.is_dictionary(f.type) else f.type,
                  f.nullable, f.metadata) for f in table.schema],
        metadata=table.schema.metadata)).combine_chunks()


def column_codecs(parquet: pq.ParquetFile) -> list[dict[str, str]]:
    meta = parquet.metadata
    return [{meta.row_group(g).column(j).path_in_schema: meta.row_group(g).column(j).compression
             for j in range(meta.row_group(g).num_columns)} for g in range(meta.num_row_groups)]


class NoSeek(io.RawIOBase):
    """A stream that cannot rewind (an S3 body, a socket)."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        chunk = self._data.read(min(len(buffer), 1000))
        buffer[:len(chunk)] = chunk
        return len(chunk)


def no_seek(data: bytes) -> BinaryIO:
    return io.BufferedReader(NoSeek(data))  # type: ignore[return-value]


def pieces(data: bytes | BinaryIO, name: str = "customers.parquet",
           extraction: Extraction = EXTRACTION) -> list[TextPiece]:
    stream = io.BytesIO(data) if isinstance(data, bytes) else data
    return list(extraction.pieces(stream, name))


# --------------------------------------------------------------------------- extractor
def test_registered_right_after_pdf_and_sniffed_by_signature_or_extension() -> None:
    names = [e.name for e in EXTRACTORS]
    assert names[:2] == ["pdf", "parquet"]
    extractors = [e() for e in EXTRACTORS]
    data = parquet_bytes()
    assert choose(extractors, data[:8192], "export.bin").name == "parquet"
    assert choose(extractors, b"id,name\n1,x\n", "report.parquet").name == "parquet"
    assert choose(extractors, b"id,name\n1,x\n", "report.csv").name == "delimited"
    assert ParquetExtractor.tabular


def test_rows_header_first_then_every_row_as_text() -> None:
    got = pieces(parquet_bytes())
    assert [p.row for p in got] == list(range(1, ROWS + 2))  # header + 30, across 4 groups
    assert list(got[0].cells or ()) == LEAVES
    assert all(p.where == "" and p.offset == 0 for p in got)
    jane = dict(zip(LEAVES, got[JANE_AT + 1].cells or (), strict=True))
    assert jane == {
        "id": "1005", "name": "Jane Doe", "contact.email": "jane.doe@example.com",
        "contact.address.line1": "5 High Street", "contact.address.postcode": "",
        "phones": "07700 900123, 07700 900124",
        "previous": "{email: old5@example.com, until: 2020-01-06}",
        "prefs": "channel: post, lang",
        "seen_at": "2024-07-01T10:30:05.123456+01:00",  # London summer time, as stored
        "loaded_at": "2024-07-03T09:46:45.000000005",  # nanoseconds kept
        "born": "1985-02-03", "balance": "500.50", "score": "5.0000000001",
        "mobile": "447700900005",
        "photo": "",  # not UTF-8: left out
        "segment": "business", "notes": "",
    }
    assert got[JANE_AT + 1].text == ", ".join(v for v in jane.values() if v)
    first = dict(zip(LEAVES, got[1].cells or (), strict=True))
    assert (first["contact.address.postcode"], first["seen_at"], first["balance"],
            first["photo"], first["segment"], first["notes"], first["prefs"]) == (
        "AB1 2CD", "2024-07-01T10:30:00.123456+01:00", "", "ref-0", "", "note 0", "")
    nulls = dict(zip(LEAVES, got[10].cells or (), strict=True))  # i = 9: null struct
    assert nulls["contact.email"] == nulls["contact.address.line1"] == ""
    nested = got[NESTED_AT + 1]
    assert "{email: jane.doe@example.com}" in nested.text  # in a list of structs
    assert "07700 900123" in got[PHONE_AT + 1].text


def test_timestamps_zones_and_decimals_render_exactly() -> None:
    table = pa.table({
        "utc": pa.array([0, None], pa.timestamp("s", tz="UTC")),
        "offset": pa.array([0, 1], pa.timestamp("ms", tz="+05:30")),
        "winter": pa.array([1_705_312_800_000_000, 0], pa.timestamp("us", tz=LONDON)),
        "naive_ns": pa.array([1_000_000_000, 1], pa.timestamp("ns")),
        "whole": pa.array([Decimal("0E-10"), Decimal("12")], pa.decimal128(38, 10)),
        "ratio": pa.array([1.5, 7700900123.0]),
        "flag": pa.array([True, None]),
    })
    got = [p.cells for p in pieces(_write(table, "zstd").getvalue())]
    assert got[1] == ("1970-01-01T00:00:00+00:00", "1970-01-01T05:30:00+05:30",
                      "2024-01-15T10:00:00+00:00", "1970-01-01T00:00:01", "0.0000000000",
                      "1.5", "TRUE")
    assert got[2] == ("", "1970-01-01T05:30:00.001000+05:30", "1970-01-01T01:00:00+01:00",
                      "1970-01-01T00:00:00.000000001", "12.0000000000", "7700900123", "")


def test_cells_of_a_slice_are_those_rows_cells() -> None:
    """The rewriter renders slices of row groups: offsets into nested values must hold."""
    batch = people().combine_chunks().to_batches()[0]
    whole = list(row_cells(batch))
    assert len(whole) == ROWS
    for start, length in ((1, 7), (5, 10), (ROWS - 3, 3)):
        assert list(row_cells(batch.slice(start, length))) == whole[start:start + length]


def test_a_stream_that_cannot_seek_gives_the_same_rows() -> None:
    data = parquet_bytes()
    assert [(p.row, p.cells) for p in pieces(no_seek(data))] == \
        [(p.row, p.cells) for p in pieces(data)]


def test_corrupt_truncated_or_misnamed_files_fail_clearly() -> None:
    data = parquet_bytes()
    cases = {
        "truncated": data[:len(data) // 2],
        "footer gone": data[:-12] + b"PAR1",
        "not parquet": b"id,email\n1,jane.doe@example.com\n",
        "encrypted": b"PARE" + data[4:],
    }
    for label, broken in cases.items():
        with pytest.raises(ExtractionError) as caught:
            pieces(broken)
        message = str(caught.value)
        assert "Parquet" in message, label
        assert "example.com" not in message and "07700" not in message, label
    with pytest.raises(ExtractionError, match="encrypted"):
        pieces(cases["encrypted"])


def test_a_corrupt_row_group_names_the_row_group() -> None:
    data = bytearray(parquet_bytes())
    first = read(bytes(data)).metadata.row_group(1).column(1)
    start = first.data_page_offset
    data[start:start + 64] = b"\x00" * 64  # a page header of row group 2 zeroed
    with pytest.raises(ExtractionError, match=r"row group 2") as caught:
        pieces(bytes(data))
    assert "example.com" not in str(caught.value)


def test_a_row_group_bigger_than_the_limit_is_refused_before_reading() -> None:
    small = Extraction(EXTRACTORS, ExtractLimits(max_expanded_bytes=100))
    with pytest.raises(ExtractionError, match=r"row group 1: .*max_expanded_bytes"):
        pieces(parquet_bytes(), extraction=small)


def test_text_limit_applies_to_rows() -> None:
    tight = Extraction(EXTRACTORS, ExtractLimits(max_text_chars=500))
    with pytest.raises(ExtractionError, match="max_text_chars"):
        pieces(parquet_bytes(), extraction=tight)


# --------------------------------------------------------------------------- rewriter
Calls = list[tuple[int, list[str]]]


def rewrite(data: bytes | BinaryIO, rows: set[int]) -> tuple[bytes, int, Calls]:
    seen: Calls = []

    def remove(number: int, cells: list[str]) -> bool:
        seen.append((number, list(cells)))
        return number in rows

    stream = io.BytesIO(data) if isinstance(data, bytes) else data
    result = remove_parquet_rows(stream, remove)
    try:
        return result.data.read(), result.count, seen
    finally:
        result.data.close()


def test_rewrite_removes_exactly_the_picked_rows_and_keeps_schema_types_and_codecs() -> None:
    data = parquet_bytes()
    picked = {2, JANE_AT + 2, NESTED_AT + 2, 10, 11, ROWS + 1}  # first, last, across groups
    new, count, seen = rewrite(data, picked)
    assert count == len(picked)
    # the rewriter sees the extractor's row numbers and cells (not the header row)
    assert seen == [(p.row, list(p.cells or ())) for p in pieces(data)[1:]]

    before, after = read(data), read(new)
    assert after.schema_arrow.equals(before.schema_arrow, check_metadata=True)
    assert after.schema_arrow.metadata[b"pandas"] == PANDAS.encode()
    assert after.schema_arrow.field("id").metadata == {b"comment": b"customer number"}
    assert after.schema.equals(before.schema)  # physical and logical types
    assert [f.type for f in after.schema_arrow] == [f.type for f in before.schema_arrow]
    assert str(after.schema_arrow.field("seen_at").type) == "timestamp[us, tz=Europe/London]"
    assert str(after.schema_arrow.field("score").type) == "decimal128(38, 10)"
    assert pa.types.is_dictionary(after.schema_arrow.field("segment").type)
    assert after.metadata.num_rows == ROWS - len(picked)

    kept = [i for i in range(ROWS) if i + 2 not in picked]
    original = before.read()
    assert plain(after.read()).equals(plain(original.take(kept)))
    # each written row group keeps each column's codec (zstd and snappy as written)
    expected = column_codecs(before)[0]
    assert set(expected.values()) == {"ZSTD", "SNAPPY"}
    assert all(group == expected for group in column_codecs(after))
    assert after.metadata.num_row_groups == 4
    assert [after.metadata.row_group(g).num_rows for g in range(4)] == [6, 5, 8, 5]
    assert "jane.doe@example.com" not in " ".join(p.text for p in pieces(new))


def test_nothing_removed_counts_zero_and_everything_removed_keeps_an_empty_file() -> None:
    data = parquet_bytes()
    _, count, seen = rewrite(data, set())
    assert count == 0 and len(seen) == ROWS
    new, count, _ = rewrite(data, set(range(2, ROWS + 2)))
    assert count == ROWS
    after = read(new)
    assert after.metadata.num_rows == 0
    assert after.schema_arrow.equals(read(data).schema_arrow, check_metadata=True)
    assert [p.row for p in pieces(new)] == [1]  # the header row alone


def test_a_row_group_longer_than_a_batch_is_filtered_whole() -> None:
    table = pa.concat_tables([people()] * 300)  # 9,000 rows: over one 8,192-row batch
    data = parquet_bytes(table, row_group_size=len(table))
    last = len(table) + 1
    new, count, seen = rewrite(data, {2, 8194, last})
    assert count == 3 and len(seen) == len(table)
    after = read(new)
    assert after.metadata.num_row_groups == 1 and after.metadata.num_rows == len(table) - 3
    kept = [i for i in range(len(table)) if i + 2 not in (2, 8194, last)]
    assert plain(after.read()).equals(plain(table.take(kept)))


def test_rewrite_reads_a_stream_that_cannot_seek() -> None:
    data = parquet_bytes()
    new, count, _ = rewrite(no_seek(data), {JANE_AT + 2})
    assert count == 1 and read(new).metadata.num_rows == ROWS - 1


def test_legacy_writers_files_keep_their_physical_types() -> None:
    """A file without pyarrow's stored schema (Spark, Hive): INT96 timestamps, decimals as
    integers, no dictionary pages, format 1.0, gzip; all kept."""
    table = pa.table({
        "email": pa.array([f"p{i}@example.com" for i in range(6)]),
        "at": pa.array([1_700_000_000_000_000_000 + i for i in range(6)], pa.timestamp("ns")),
        "amount": pa.array([Decimal(f"{i}.25") for i in range(6)], pa.decimal128(9, 2)),
        "big": pa.array([Decimal(f"{i}.5") for i in range(6)], pa.decimal128(18, 1)),
    })
    data = _write(table, "gzip", use_deprecated_int96_timestamps=True, store_schema=False,
                  store_decimal_as_integer=True, use_dictionary=False, version="1.0",
                  row_group_size=4).getvalue()
    before = read(data)
    physical = [before.schema.column(i).physical_type for i in range(4)]
    assert physical == ["BYTE_ARRAY", "INT96", "INT32", "INT64"]
    new, count, _ = rewrite(data, {3})
    after = read(new)
    assert count == 1
    assert after.schema.equals(before.schema)
    assert [after.schema.column(i).physical_type for i in range(4)] == physical
    assert b"ARROW:schema" not in (after.metadata.metadata or {})
    assert after.metadata.format_version == "1.0"
    chunk = after.metadata.row_group(0).column(0)
    assert chunk.compression == "GZIP" and "RLE_DICTIONARY" not in chunk.encodings
    assert after.read().equals(before.read().take([0, 2, 3, 4, 5]))


def test_rewriting_a_corrupt_file_fails_clearly() -> None:
    data = parquet_bytes()
    for broken in (data[:len(data) // 2], b"not parquet at all"):
        with pytest.raises(ConnectorError, match="not rewritten") as caught:
            rewrite(broken, {2})
        assert "Parquet" in str(caught.value)
    damaged = bytearray(data)
    start = read(data).metadata.row_group(2).column(1).data_page_offset
    damaged[start:start + 64] = b"\x00" * 64
    with pytest.raises(ConnectorError, match=r"row group 3 .*not rewritten"):
        rewrite(bytes(damaged), {2})


# --------------------------------------------------------------------------- files connector
def connector(share: Share) -> FilesConnector:
    return FilesConnector(share.system("share"))


def search(conn: FilesConnector) -> dict[str, Finding]:
    subject = subject_from_mapping(JANE, default_ref="S0")
    return {f.locator: f for f in conn.search([subject])}


def plan_item(finding: Finding) -> PlanItem:
    return PlanItem(id=finding.id, action="delete", reason="test", system=finding.system,
                    kind="file", locator=finding.locator, container=finding.container,
                    rows=finding.rows, notes={})


@pytest.fixture
def local_share(make_share: Callable[..., Share]) -> Iterator[Share]:
    share = make_share("local")
    share.write("exports/customers.parquet", parquet_bytes())
    share.write("exports/other.parquet", parquet_bytes(people(4)))
    yield share


def test_files_search_finds_her_rows_in_a_parquet_file(local_share: Share) -> None:
    conn = connector(local_share)
    found = search(conn)
    assert set(found) == {"exports/customers.parquet"}
    finding = found["exports/customers.parquet"]
    assert finding.rows == [JANE_AT + 2, NESTED_AT + 2, PHONE_AT + 2]
    assert "jane.doe@example.com" in finding.internal_values["email"]  # from contact.email
    assert "erase" in conn.capabilities and "delete" in conn.actions_for(finding)
    rows = list(conn.read([finding]))
    assert [r["row_number"] for r in rows] == finding.rows
    assert rows[0]["row"]["contact.email"] == "jane.doe@example.com"


def test_files_erase_removes_her_parquet_rows_and_verifies(local_share: Share) -> None:
    path = local_share.path / "exports/customers.parquet"
    before = read(path.read_bytes())
    conn = connector(local_share)
    finding = search(conn)["exports/customers.parquet"]
    outcomes = list(conn.erase([plan_item(finding)]))
    assert [(o.status, o.counts) for o in outcomes] == [("done", {"rows": 3})]
    after = read(path.read_bytes())
    assert after.schema_arrow.equals(before.schema_arrow, check_metadata=True)
    assert after.schema.equals(before.schema)
    kept = [i for i in range(ROWS) if i not in (JANE_AT, NESTED_AT, PHONE_AT)]
    assert plain(after.read()).equals(plain(before.read().take(kept)))
    assert column_codecs(after)[0] == column_codecs(before)[0]
    assert "exports/customers.parquet" not in search(conn)
    again = list(conn.erase([plan_item(finding)]))
    assert [o.status for o in again] == ["absent"]


def test_files_erase_fails_when_the_read_back_file_still_holds_her(local_share: Share) -> None:
    """Her e-mail as a column name (the schema, never a removable row): the rewrite takes
    her row out, and the read-back through the extractor catches what is left."""
    table = people(JANE_AT + 1)
    table = table.append_column("jane.doe@example.com", pa.array(["x"] * (JANE_AT + 1)))
    local_share.write("exports/odd.parquet", parquet_bytes(table))
    conn = connector(local_share)
    finding = search(conn)["exports/odd.parquet"]
    assert finding.rows == [1, JANE_AT + 2]
    with pytest.raises(ConnectorError, match=r"verification failed: a \.parquet file"):
        list(conn.erase([plan_item(finding)]))
