"""CDR sources: a FreePBX-like table on PostgreSQL, MariaDB and SQLite, and CSV exports
(with a header, and Asterisk's headerless Master.csv)."""

from __future__ import annotations

import csv
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from agent.config import SystemConfig
from agent.errors import ConnectorError
from agent.identifiers import phone_variants
from connectors.recordings import cdr
from connectors.recordings.cdr import (
    MASTER_CSV_COLUMNS,
    CdrQuery,
    CdrSource,
    CsvCdr,
    SqlCdr,
    leg_from_row,
    open_cdr,
)
from tests.conftest import LOCAL_SQL_BACKENDS, TestDatabase

JANE = "+447700900111"
PASSWORD = "s3cret-Pa55"
STARTED = datetime(2026, 3, 4, 10, 11, 12)


def row(uniqueid: str, **values: str) -> dict[str, Any]:
    base = {"calldate": STARTED, "clid": "", "src": "", "dst": "", "dcontext": "from-internal",
            "channel": "PJSIP/201-00000001", "dstchannel": "", "lastapp": "Dial",
            "lastdata": "", "duration": 30, "billsec": 25, "disposition": "ANSWERED",
            "accountcode": "", "uniqueid": uniqueid, "linkedid": "", "userfield": "",
            "recordingfile": "", "cnum": "", "cnam": "", "did": ""}
    base.update(values)
    return base


# Jane's rows (every column and writing the pre-filter must catch), then other people's.
JANE_ROWS = [
    row("1001.1", src="07700 900111", dst="201", linkedid="1001.1",
        clid='"Jane Doe" <07700 900111>', recordingfile="in-201-1001.1.wav"),
    row("1002.1", src="201", dst="+447700900111"),
    row("1003.1", cnum="447700900111"),
    row("1004.1", did="00447700900111"),
    row("1005.1", clid="07700900111"),
    row("1006.1", clid='"Reception" <+447700900111>'),
    row("1007.1", accountcode="acc-1001"),
    row("1008.1", userfield="CUST42"),
    row("1009.1", cnam="JANE DOE"),
    row("1010.1", clid="Jane Doe <201>"),
    row("1011.1", clid="jane doe"),
]
OTHER_ROWS = [
    # the second leg of Jane's call: nothing of hers on it
    row("1001.2", src="201", dst="202", linkedid="1001.1", clid='"Sales" <201>'),
    row("2001.1", src="07700 900222", clid='"John Smith" <07700900222>'),
    row("2002.1", dst="077009001110", clid='"X" <077009001110>'),
    row("2003.1", accountcode="ACC-10011", userfield="CUST421"),
    row("2004.1", cnam="Jane Doering", clid='"Jane Doe Smith" <01632960000>'),
    row("2005.1", did="01632 960001", clid="Jane Does"),
]
ALL_ROWS = JANE_ROWS + OTHER_ROWS
JANE_IDS = {r["uniqueid"] for r in JANE_ROWS}
# Her number only in clid: a SQL table with src or cnum does not search clid (FreePBX
# writes the caller's number there too); the CSV matcher reads every cell anyway.
CLID_ONLY_IDS = {"1005.1", "1006.1", "1010.1"}  # Jane only in clid (number or name)
QUERY = CdrQuery(numbers=frozenset(phone_variants(JANE)), e164=frozenset({JANE}),
                 accounts=frozenset({"ACC-1001", "CUST42"}), names=frozenset({"jane doe"}))


def system(base_dir: Path | None = None) -> SystemConfig:
    return SystemConfig(name="calls", connector="recordings", url="file:///srv/recordings",
                        base_dir=base_dir or Path.cwd())


# --------------------------------------------------------------------------- SQL tables


def cdr_table(metadata: sa.MetaData, name: str, *, upper: bool = False,
              with_uniqueid: bool = True, without: frozenset[str] = frozenset()) -> sa.Table:
    """FreePBX's asteriskcdrdb.cdr: DATETIME calldate, VARCHAR NOT NULL DEFAULT ''."""
    def text(col: str, length: int = 80) -> sa.Column[Any]:
        return sa.Column(col.upper() if upper else col, sa.String(length), nullable=False,
                         server_default="")

    def number(col: str) -> sa.Column[Any]:
        return sa.Column(col.upper() if upper else col, sa.Integer, nullable=False,
                         server_default="0")

    columns = [sa.Column("CALLDATE" if upper else "calldate", sa.DateTime, nullable=False),
               text("clid"), text("src"), text("dst"), text("dcontext"), text("channel"),
               text("dstchannel"), text("lastapp"), text("lastdata"), number("duration"),
               number("billsec"), text("disposition", 45), text("accountcode", 20),
               text("linkedid", 32), text("userfield", 255), text("recordingfile", 255),
               text("cnum"), text("cnam"), text("did", 50)]
    if with_uniqueid:
        columns.append(text("uniqueid", 32))
    return sa.Table(name, metadata, *(c for c in columns if c.name.lower() not in without))


@pytest.fixture
def sql_table(isolated_database) -> Iterator[Callable[..., tuple[str, str]]]:
    """``make(backend, upper=False, with_uniqueid=True, rows=ALL_ROWS, without=())`` ->
    (url, table)."""
    made: list[tuple[sa.Engine, sa.Table]] = []

    def make(backend: str, *, upper: bool = False, with_uniqueid: bool = True,
             rows: list[dict[str, Any]] | None = None,
             without: frozenset[str] = frozenset()) -> tuple[str, str]:
        database: TestDatabase = isolated_database(backend)
        name = f"{'CDR' if upper else 'cdr'}_{uuid.uuid4().hex[:8]}"
        engine = database.engine()
        table = cdr_table(sa.MetaData(), name, upper=upper, with_uniqueid=with_uniqueid,
                          without=without)
        table.create(engine)
        made.append((engine, table))
        data = ALL_ROWS if rows is None else rows
        if data:
            by_lower = {c.name.lower(): c.name for c in table.columns}
            with engine.begin() as conn:
                conn.execute(table.insert(), [{by_lower[k]: v for k, v in r.items()
                                               if k in by_lower} for r in data])
        return database.url, name

    yield make
    for engine, table in made:
        table.drop(engine, checkfirst=True)
        engine.dispose()


# --------------------------------------------------------------------------- CSV files


def csv_value(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if isinstance(value, datetime) else str(value)


def write_header_csv(path: Path, rows: list[dict[str, Any]], *, delimiter: str = ",",
                     encoding: str = "utf-8", extra: bool = True) -> Path:
    names = list(rows[0]) + (["notes"] if extra else [])
    names.reverse()  # any order
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(names)
        for r in rows:
            writer.writerow([csv_value(r.get(n, "kept")) for n in names])
    return path


def write_master_csv(path: Path, rows: list[dict[str, Any]], *, fields: int = 21) -> Path:
    """Asterisk's cdr_csv: no header, every field quoted, CRLF-free lines."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_ALL, lineterminator="\n")
        for r in rows:
            values = {**r, "lastdata": "PJSIP/201", "answer": "", "end": "",
                      "amaflags": "DOCUMENTATION", "peeraccount": "", "sequence": "7"}
            writer.writerow([csv_value(values.get(n, "")) for n in MASTER_CSV_COLUMNS[:fields]])
    return path


# clid, cnam and did are not in Master.csv: rows needing them are left out of it
MASTER_COLUMNS = set(MASTER_CSV_COLUMNS)


def master_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if not any(r.get(c) for c in ("cnam", "cnum", "did"))]


# --------------------------------------------------------------------------- the suite

SOURCES = (*LOCAL_SQL_BACKENDS, "csv", "master")


@pytest.fixture
def source(request: pytest.FixtureRequest, sql_table, tmp_path: Path
           ) -> Iterator[tuple[CdrSource, set[str]]]:
    """A source holding ALL_ROWS (Master.csv: those its columns can hold), and Jane's ids."""
    kind = request.param
    wanted = set(JANE_IDS)
    if kind == "csv":
        opened = open_cdr(system(tmp_path), "cdr.csv")
        write_header_csv(tmp_path / "cdr.csv", ALL_ROWS)
    elif kind == "master":
        opened = open_cdr(system(), (tmp_path / "Master.csv").as_uri())
        rows = master_rows(ALL_ROWS)
        write_master_csv(tmp_path / "Master.csv", rows)
        wanted = {r["uniqueid"] for r in rows} & JANE_IDS
    else:
        url, table = sql_table(kind)
        opened = open_cdr(system(), url, table=table)
        wanted -= CLID_ONLY_IDS
    opened.check()
    yield opened, wanted
    opened.close()


@pytest.mark.parametrize("source", SOURCES, indirect=True)
def test_search_hits_every_column_and_writing_and_nothing_else(source):
    cdrs, wanted = source
    found = list(cdrs.search(QUERY))
    assert {leg.id for leg in found} == wanted
    assert len(found) == len(wanted)
    assert all(leg.source == cdrs.where for leg in found)
    assert "uniqueid" in cdrs.columns and "calldate" in cdrs.columns
    assert list(cdrs.search(CdrQuery(frozenset(), frozenset(), frozenset(), frozenset()))) == []


@pytest.mark.parametrize("source", SOURCES, indirect=True)
def test_legs_scan_and_count(source):
    cdrs, _ = source
    legs = {leg.id: leg for leg in cdrs.legs(linkedids=["1001.1"])}
    assert set(legs) == {"1001.1", "1001.2"}
    first = legs["1001.1"]
    assert first.started == STARTED
    assert first.numbers["src"] == "07700 900111"
    assert first.numbers["clid"] == "07700 900111" and first.names["clid"] == "Jane Doe"
    if "recordingfile" in cdrs.columns:  # Master.csv has none
        assert first.audio == ["in-201-1001.1.wav"]
    assert {leg.id for leg in cdrs.legs(uniqueids=["2001.1", "absent"])} == {"2001.1"}
    assert list(cdrs.legs()) == []
    everything = list(cdrs.scan())
    assert len(everything) == cdrs.count() > len(legs)
    assert all(set(leg.fields) >= {"uniqueid", "calldate", "src"} for leg in everything)


@pytest.mark.parametrize("source", SOURCES, indirect=True)
def test_update_and_delete_are_idempotent(source):
    cdrs, wanted = source
    before = cdrs.count()
    ids = sorted(wanted)
    changes = {"src": "", "dst": "", "clid": "", "accountcode": "", "userfield": ""}
    changes.update({c: "" for c in ("cnum", "cnam", "did") if c in cdrs.columns})
    assert cdrs.update(ids, changes) == len(ids)
    assert cdrs.update(ids, changes) == 0
    assert list(cdrs.search(QUERY)) == []
    assert cdrs.count() == before
    changed = {leg.id: leg for leg in cdrs.legs(uniqueids=ids)}
    assert all(not leg.numbers and not leg.accounts for leg in changed.values())
    assert changed["1001.1"].fields["channel"] == "PJSIP/201-00000001"  # others are kept
    assert cdrs.delete(["1001.1", "2001.1"]) == 2
    assert cdrs.delete(["1001.1", "2001.1"]) == 0
    assert cdrs.count() == before - 2
    assert {leg.id for leg in cdrs.legs(linkedids=["1001.1"])} == {"1001.2"}
    with pytest.raises(ConnectorError, match="no column 'nosuch'"):
        cdrs.update(ids, {"nosuch": "x"})
    assert cdrs.update([], {"src": "x"}) == 0 and cdrs.delete([]) == 0


@pytest.mark.parametrize("backend", LOCAL_SQL_BACKENDS)
def test_sql_update_is_one_transaction(backend, sql_table):
    """Ids span two IN chunks; the second chunk breaks a unique index: nothing changes."""
    url, table = sql_table(backend, rows=[row("1001.2", lastdata="a"),
                                          row("2001.1", lastdata="b")])
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE UNIQUE INDEX ux_{table} ON {table} (lastdata)"))
    engine.dispose()
    cdrs = open_cdr(system(), url, table=table)
    padding = [f"1500.{i:04d}" for i in range(cdr.CHUNK + 10)]  # sorts between the two
    ids = ["1001.2", *padding, "2001.1"]
    with pytest.raises(ConnectorError) as caught:
        cdrs.update(ids, {"lastdata": "same"})
    assert "constraint" in str(caught.value) and "same" not in str(caught.value)
    assert {leg.fields["lastdata"] for leg in cdrs.scan()} == {"a", "b"}
    assert cdrs.delete(ids) == 2  # both chunks, one transaction
    cdrs.close()


@pytest.mark.parametrize("backend", LOCAL_SQL_BACKENDS)
def test_sql_names_are_matched_case_insensitively(backend, sql_table):
    url, table = sql_table(backend, upper=True, rows=JANE_ROWS[:3])
    cdrs = open_cdr(system(), url, table=table.lower())
    assert cdrs.where == f"table {table.lower()}"
    assert set(cdrs.columns) >= {"uniqueid", "calldate", "src", "clid"}
    leg = next(cdrs.legs(uniqueids=["1001.1"]))
    assert leg.fields["calldate"] == STARTED and leg.started == STARTED
    assert {leg.id for leg in cdrs.search(QUERY)} == {"1001.1", "1002.1", "1003.1"}
    cdrs.close()


def test_sql_many_numbers_are_chunked(sql_table):
    """Thousands of forms: several IN chunks and statements, each row once."""
    url, table = sql_table("postgresql")
    others = [f"+4477009{n:05d}" for n in range(500, 700)]
    forms = {form for number in [JANE, *others] for form in phone_variants(number)}
    assert len(forms) > 3 * cdr.CHUNK
    query = CdrQuery(frozenset(forms), frozenset([JANE, *others]), frozenset(), frozenset())
    cdrs = open_cdr(system(), url, table=table)
    found = [leg.id for leg in cdrs.search(query)]
    assert sorted(found) == sorted(set(found))
    assert set(found) == JANE_IDS - CLID_ONLY_IDS - {"1007.1", "1008.1", "1009.1", "1011.1"}
    cdrs.close()


@pytest.mark.parametrize("dialect", ["mssql", "postgresql", "mysql"])
def test_sql_values_are_bound_never_formatted(sql_table, dialect: str):
    from sqlalchemy.dialects import registry

    url, table = sql_table("sqlite", rows=[])
    url_clid, table_clid = sql_table("sqlite", rows=[],
                                     without=frozenset({"src", "cnum", "cnam"}))
    for url_, table_, extraction in ((url, table, None), (url_clid, table_clid, dialect)):
        cdrs = open_cdr(system(), url_, table=table_, loose_numbers=True)
        assert isinstance(cdrs, SqlCdr)
        clauses = [p.clause for p in cdrs._search_clauses(QUERY)]
        statement = sa.select(cdrs._reflect()).where(sa.or_(*clauses))
        sql = str(statement.compile(dialect=registry.load(dialect)()))
        assert "07700" not in sql and "jane" not in sql.lower() and "cust42" not in sql.lower()
        # the name prefixes of clid, only where no cnam column holds the name
        assert ("LIKE" in sql) == (extraction is not None)
        # clid's number: one extraction per row, only where clid is the one caller column
        rendered = {"mssql": "REVERSE(", "postgresql": "substring(", "mysql": "regexp_substr("}
        assert (rendered[dialect] in sql) == (extraction is not None)
        assert "lower(trim(accountcode" not in sql.lower()  # the index stays usable
        cdrs.close()


def test_sql_schema_qualified_table(sql_table):
    url, table = sql_table("postgresql", rows=JANE_ROWS[:2])
    cdrs = open_cdr(system(), url, table=f"public.{table}")
    assert cdrs.count() == 2
    cdrs.close()


@pytest.mark.parametrize("backend", LOCAL_SQL_BACKENDS)
def test_sql_missing_table_and_missing_uniqueid(backend, sql_table):
    url, table = sql_table(backend, with_uniqueid=False, rows=[])
    missing = open_cdr(system(), url, table="nosuch_cdr")
    with pytest.raises(ConnectorError, match="table nosuch_cdr: the database has no such table"):
        missing.check()
    missing.close()
    broken = open_cdr(system(), url, table=table)
    with pytest.raises(ConnectorError, match=f"table {table}: .*no uniqueid column"):
        broken.check()
    with pytest.raises(ConnectorError, match="no uniqueid column"):
        list(broken.search(QUERY))
    broken.close()


@pytest.mark.parametrize("url", [
    f"postgresql+psycopg://cdr:{PASSWORD}@127.0.0.1:1/asteriskcdrdb",
    f"mysql+pymysql://cdr:{PASSWORD}@127.0.0.1:1/asteriskcdrdb",
])
def test_sql_unreachable_server_names_no_password(url):
    cdrs = open_cdr(dataclass_system(connect_timeout=2), url)
    assert isinstance(cdrs, SqlCdr)
    for attempt in (cdrs.check, lambda: list(cdrs.search(QUERY)), cdrs.count):
        with pytest.raises(ConnectorError) as caught:
            attempt()
        message = str(caught.value)
        assert PASSWORD not in message and "cannot connect" in message and "'calls'" in message
        assert "07700" not in message
    cdrs.close()


def dataclass_system(**options: Any) -> SystemConfig:
    return SystemConfig(name="calls", connector="recordings", url="file:///srv/recordings",
                        options=dict(options))


def test_sql_missing_sqlite_file_is_not_created(tmp_path: Path):
    path = tmp_path / "cdr.sqlite"
    with pytest.raises(ConnectorError, match="does not exist"):
        open_cdr(system(), f"sqlite:///{path}").check()
    assert not path.exists()


# --------------------------------------------------------------------------- leg_from_row


@pytest.mark.parametrize(("clid", "numbers", "names"), [
    ('"Jane Doe" <07700900111>', {"clid": "07700900111"}, {"clid": "Jane Doe"}),
    ("Jane Doe <+447700900111>", {"clid": "+447700900111"}, {"clid": "Jane Doe"}),
    ('"" <07700900111>', {"clid": "07700900111"}, {}),
    ("<07700900111>", {"clid": "07700900111"}, {}),
    ("07700 900111", {"clid": "07700 900111"}, {}),
    ("Jane Doe", {}, {"clid": "Jane Doe"}),
    ("", {}, {}),
])
def test_leg_from_row_reads_caller_id(clid, numbers, names):
    leg = leg_from_row({"UniqueID": "1.1", "CLID": clid, "calldate": "not a date"}, "table cdr")
    assert leg.numbers == numbers and leg.names == names
    assert leg.id == "1.1" and leg.started is None and leg.source == "table cdr"
    assert set(leg.fields) == {"uniqueid", "clid", "calldate"}


def test_leg_from_row_roles():
    leg = leg_from_row({**row("9.1", src="201", dst="07700900111", did="01632960000",
                              cnam="Jane Doe", accountcode="A1", recordingfile="r.wav"),
                        "calldate": "2026-03-04 10:11:12", "extra": "kept"}, "CSV file x.csv")
    assert leg.started == STARTED and leg.fields["extra"] == "kept"
    assert leg.numbers == {"src": "201", "dst": "07700900111", "did": "01632960000"}
    assert leg.names == {"cnam": "Jane Doe"} and leg.accounts == {"accountcode": "A1"}
    assert leg.audio == ["r.wav"] and leg.ours == set()


# --------------------------------------------------------------------------- CSV specifics


@pytest.mark.parametrize(("delimiter", "encoding"), [(";", "cp1252"), ("\t", "utf-8"),
                                                     (",", "utf-8")])
def test_csv_delimiters_and_encodings(tmp_path: Path, delimiter: str, encoding: str):
    rows = [*ALL_ROWS, row("3001.1", cnam="Zoë Brontë", clid='"Zoë Brontë" <01632960002>')]
    write_header_csv(tmp_path / "cdr.csv", rows, delimiter=delimiter, encoding=encoding)
    cdrs = open_cdr(system(tmp_path), "cdr.csv")
    assert isinstance(cdrs, CsvCdr) and cdrs.where == "CSV file cdr.csv"
    assert {leg.id for leg in cdrs.search(QUERY)} == JANE_IDS
    zoe = CdrQuery(frozenset(), frozenset(), frozenset(), frozenset({"zoë brontë"}))
    assert [leg.id for leg in cdrs.search(zoe)] == ["3001.1"]
    assert cdrs.update(["3001.1"], {"cnam": "Zoë B"}) == 1
    raw = (tmp_path / "cdr.csv").read_bytes()
    assert "Zoë B".encode(encoding) in raw
    assert raw.count(delimiter.encode()) >= len(rows) * len(rows[0])


def test_csv_rewrite_keeps_style_mode_ragged_rows_and_extra_columns(tmp_path: Path):
    path = write_master_csv(tmp_path / "Master.csv", master_rows(ALL_ROWS)[:4], fields=18)
    text = path.read_text()
    ragged = '"","07700 900111","201"\r\n'  # short: no uniqueid, kept as is
    path.write_text(text.replace("\n", "\r\n") + ragged, newline="")
    path.chmod(0o640)
    owner = (65534, 65534) if os.geteuid() == 0 else (os.getuid(), os.getgid())
    os.chown(path, *owner)  # as root: a file Asterisk owns keeps its owner
    cdrs = open_cdr(system(), str(path))
    assert "linkedid" not in cdrs.columns and "uniqueid" in cdrs.columns
    assert cdrs.count() == 5
    target = master_rows(ALL_ROWS)[1]["uniqueid"]
    assert cdrs.update([target], {"src": "", "calldate": STARTED}) == 1
    after = path.read_bytes().decode()
    lines = after.split("\r\n")
    assert after.endswith(ragged) and len(lines) == 6
    assert all(line.startswith('"') and line.endswith('"') for line in lines[:4])
    assert lines[0] == text.split("\n")[0] and lines[2] == text.split("\n")[2]
    assert os.stat(path).st_mode & 0o777 == 0o640
    assert (os.stat(path).st_uid, os.stat(path).st_gid) == owner
    assert [p.name for p in tmp_path.iterdir()] == ["Master.csv"]  # no temp file left

    headed = write_header_csv(tmp_path / "cdr.csv", ALL_ROWS[:3])
    cdrs = open_cdr(system(), str(headed))
    assert cdrs.delete(["1002.1"]) == 1
    legs = list(cdrs.scan())
    assert [leg.id for leg in legs] == ["1001.1", "1003.1"]
    assert legs[0].fields["notes"] == "kept"


def test_csv_master_with_optional_columns_and_empty_file(tmp_path: Path):
    path = write_master_csv(tmp_path / "Master.csv", master_rows(ALL_ROWS), fields=21)
    cdrs = open_cdr(system(), str(path))
    assert "linkedid" in cdrs.columns
    leg = next(cdrs.legs(uniqueids=["1001.1"]))
    assert leg.fields["sequence"] == "7" and leg.fields["calldate"] == "2026-03-04 10:11:12"
    (tmp_path / "empty.csv").write_text("")
    empty = open_cdr(system(tmp_path), "empty.csv")
    empty.check()
    assert empty.count() == 0 and list(empty.search(QUERY)) == []


def test_csv_corrupt_file_names_the_line_not_the_data(tmp_path: Path):
    path = write_header_csv(tmp_path / "cdr.csv", ALL_ROWS[:3])
    good = path.read_bytes()
    path.write_bytes(good + b'"x","07700 900111"broken,"y"\n')
    cdrs = open_cdr(system(), str(path))
    with pytest.raises(ConnectorError) as caught:
        cdrs.check()
    message = str(caught.value)
    assert "line 5" in message and "cannot parse" in message and "07700" not in message
    with pytest.raises(ConnectorError, match="line 5"):
        cdrs.delete(["1001.1"])  # the rewrite stops: the file is as it was
    assert path.read_bytes() == good + b'"x","07700 900111"broken,"y"\n'
    assert [p.name for p in tmp_path.iterdir()] == ["cdr.csv"]


@pytest.mark.parametrize("content", [b"a,b,c\n1,2,3\n", b"\x81\x8d\x90 uniqueid\n"])
def test_csv_not_a_cdr_file(tmp_path: Path, content: bytes):
    (tmp_path / "cdr.csv").write_bytes(content)
    with pytest.raises(ConnectorError, match=r"CSV file cdr\.csv"):
        open_cdr(system(tmp_path), "cdr.csv").check()


def test_csv_missing_and_unreadable_file(tmp_path: Path):
    with pytest.raises(ConnectorError, match="does not exist"):
        open_cdr(system(tmp_path), "absent.csv").check()
    (tmp_path / "folder.csv").mkdir()
    with pytest.raises(ConnectorError, match="not a regular file"):
        open_cdr(system(tmp_path), "folder.csv").check()


def test_csv_without_read_permission():
    """As an unprivileged user (the tests run as root, who may read anything), a CSV the
    user may not read is a clear error. A forked child drops to ``nobody`` and reports."""
    folder = Path(tempfile.mkdtemp(prefix="dsr-cdr-perm-"))
    try:
        folder.chmod(0o755)
        write_header_csv(folder / "cdr.csv", ALL_ROWS[:2]).chmod(0o600)
        source = open_cdr(system(folder), "cdr.csv")
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: never returns into pytest
            message = b"no error"
            try:
                os.setgid(65534)
                os.setuid(65534)
                source.check()
            except ConnectorError as exc:
                message = str(exc).encode()
            except BaseException as exc:
                message = f"unexpected {type(exc).__name__}".encode()
            os.write(write_end, message)
            os._exit(0)
        os.close(write_end)
        os.waitpid(pid, 0)
        with os.fdopen(read_end, "rb") as pipe:
            reported = pipe.read().decode()
        assert "cannot read the file" in reported, reported
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_csv_file_changed_under_us_is_refused(tmp_path: Path, monkeypatch):
    path = write_header_csv(tmp_path / "cdr.csv", ALL_ROWS)
    cdrs = open_cdr(system(), str(path))
    real = cdr._write_edited

    def appending(*args: Any) -> int:
        changed = real(*args)
        with path.open("a", newline="") as handle:  # Asterisk logs a call meanwhile
            handle.write(",".join(["x"] * (len(ALL_ROWS[0]) + 1)) + "\r\n")
        return changed

    monkeypatch.setattr(cdr, "_write_edited", appending)
    with pytest.raises(ConnectorError, match="changed while it was being rewritten"):
        cdrs.delete(["1001.1"])
    monkeypatch.undo()
    assert cdrs.count() == len(ALL_ROWS) + 1  # nothing lost, nothing removed
    assert [p.name for p in tmp_path.iterdir()] == ["cdr.csv"]
    assert cdrs.delete(["1001.1"]) == 1


# --------------------------------------------------------------------------- SQL pre-filter


@pytest.mark.parametrize("backend", LOCAL_SQL_BACKENDS)
def test_sql_clid_only_table_searches_the_clid_number(backend, sql_table):
    """No src or cnum: the number in clid is extracted once per row and compared."""
    rows = [row("1.1", clid='"Reception" <+447700900111>'), row("1.2", clid="07700900111"),
            row("1.3", clid='"A <B>" <07700 900111>  '), row("1.4", clid="<447700900111>"),
            row("1.5", dst="07700900111"),
            row("2.1", clid='"X" <077009001110>'), row("2.2", clid='"Y" <07700900111> x'),
            row("2.3", clid="+447700900111 <201>"), row("2.4", clid='"%" <_7700900111>')]
    url, table = sql_table(backend, rows=rows, without=frozenset({"src", "cnum"}))
    cdrs = open_cdr(system(), url, table=table)
    assert {leg.id for leg in cdrs.search(QUERY)} == {"1.1", "1.2", "1.3", "1.4", "1.5"}
    cdrs.close()


@pytest.mark.parametrize("backend", LOCAL_SQL_BACKENDS)
@pytest.mark.parametrize("loose", [False, True])
def test_sql_loose_numbers_finds_numbers_stored_formatted(backend, sql_table, loose: bool):
    """``+44-7700-900111`` is no stored form phone_variants lists: only loose_numbers
    (separators removed in SQL) finds it; exact forms are found either way."""
    rows = [row("1.1", src="+44-7700-900111"), row("1.2", dst="(+44) 7700.900111"),
            row("1.3", did="07700900111"), row("2.1", src="+44-7700-900222")]
    url, table = sql_table(backend, rows=rows)
    cdrs = open_cdr(system(), url, table=table, loose_numbers=loose)
    assert isinstance(cdrs, SqlCdr) and cdrs.loose_numbers is loose
    expected = {"1.1", "1.2", "1.3"} if loose else {"1.3"}
    assert {leg.id for leg in cdrs.search(QUERY)} == expected
    cdrs.close()
    # a CSV normalises every cell: it finds them without the option
    assert not isinstance(open_cdr(system(), "cdr.csv", loose_numbers=loose), SqlCdr)


@pytest.mark.parametrize("backend", LOCAL_SQL_BACKENDS)
def test_sql_accounts_are_compared_as_their_variants(backend, sql_table):
    """accountcode IN (as given, upper, lower, compact): index-friendly; the casings those
    cover are found. Mixed case is found only where the collation ignores case."""
    rows = [row("1.1", accountcode="ACC-1001"), row("1.2", accountcode="acc-1001"),
            row("1.3", accountcode="ACC1001"), row("1.4", userfield="acc1001"),
            row("2.1", accountcode="ACC-10011"), row("3.1", accountcode="Acc-1001")]
    url, table = sql_table(backend, rows=rows)
    cdrs = open_cdr(system(), url, table=table)
    query = CdrQuery(frozenset(), frozenset(), frozenset({"acc-1001"}), frozenset())
    found = {leg.id for leg in cdrs.search(query)}
    assert found - {"3.1"} == {"1.1", "1.2", "1.3", "1.4"}
    assert ("3.1" in found) == (backend == "mariadb")  # its collation ignores case
    cdrs.close()


@pytest.mark.parametrize("backend", LOCAL_SQL_BACKENDS)
def test_sql_missing_indexes_and_statements_per_predicate(backend, sql_table):
    url, table = sql_table(backend, rows=ALL_ROWS, without=frozenset({"did"}))
    engine = sa.create_engine(url)
    with engine.begin() as conn:  # dst leads an index; src only follows calldate
        conn.execute(sa.text(f"CREATE INDEX ix_{table}_dst ON {table} (dst)"))
        conn.execute(sa.text(f"CREATE INDEX ix_{table}_ds ON {table} (calldate, src)"))
    cdrs = open_cdr(system(), url, table=table)
    assert isinstance(cdrs, SqlCdr)
    assert cdrs.missing_indexes() == ["src", "cnum", "linkedid", "uniqueid", "accountcode"]
    cdrs.check()  # nothing new raised
    # a batch of 1,000 numbers: dst's index answers alone, the rest share one scan
    others = [f"+4477009{n:05d}" for n in range(1000, 2000)]
    forms = frozenset(f for number in [JANE, *others] for f in phone_variants(number))
    query = CdrQuery(forms, frozenset([JANE, *others]), frozenset({"ACC-1001"}), frozenset())
    predicates = cdrs._search_clauses(query)
    assert {p.index for p in predicates} == {"dst", None}
    assert len(cdrs.statements(predicates)) == (2 if backend == "postgresql" else 3)
    found = [leg.id for leg in cdrs.search(query)]
    assert sorted(found) == sorted(set(found))  # each row once across statements
    assert set(found) == {"1001.1", "1002.1", "1003.1", "1007.1"}
    cdrs.close()
    with engine.begin() as conn:
        for column in ("src", "cnum", "linkedid", "uniqueid", "accountcode"):
            conn.execute(sa.text(f"CREATE INDEX ix_{table}_{column} ON {table} ({column})"))
    engine.dispose()
    indexed = open_cdr(system(), url, table=table)
    assert isinstance(indexed, SqlCdr) and indexed.missing_indexes() == []
    assert all(p.index for p in indexed._search_clauses(query)[:3])
    assert {leg.id for leg in indexed.legs(linkedids=["1001.1"])} == {"1001.1", "1001.2"}
    indexed.close()
