"""The recordings connector's samples for discovery sweeps: a FreePBX estate (CDR as a CSV
export and as a PostgreSQL / MariaDB table, audio in a monitor tree) and a sidecar folder."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from agent.config import SystemConfig
from agent.connector import Container
from agent.sampling import Sample, SampleOptions
from connectors.recordings.connector import RecordingsConnector
from connectors.recordings.sample import NOT_MATCHED, NOT_TRANSCRIBED
from tests.conftest import TestDatabase
from tests.support import calls
from tests.support.audio import wav_bytes

SEARCHED = {"src", "dst", "clid", "cnum", "cnam", "did", "accountcode"}
NOT_SEARCHED = {"channel", "dstchannel", "dcontext", "lastapp", "disposition",
                "recordingfile", "calldate", "duration", "billsec"}


def pbx(folder: Path, cdr: str, **options: Any) -> RecordingsConnector:
    monitor = folder / "monitor"
    calls.freepbx_estate().write_audio(lambda path, data: (
        (monitor / path).parent.mkdir(parents=True, exist_ok=True),
        (monitor / path).write_bytes(data)))
    system = SystemConfig(name="phones", connector="recordings", url=f"file://{monitor}",
                          options={"layout": "asterisk", "cdr": cdr,
                                   "our_numbers": [calls.OUR_DDI], **options},
                          base_dir=folder)
    return RecordingsConnector(system)


def units(connector: RecordingsConnector, options: SampleOptions | None = None
          ) -> dict[str, Sample]:
    out = {}
    for container in connector.discover():
        for unit in connector.sample(container, options or SampleOptions()):
            out[unit.unit] = unit
    return out


def by_column(unit: Sample) -> dict[str, Any]:
    return {f.container.rsplit(".", 1)[-1]: f for f in unit.fields}


@pytest.fixture
def csv_pbx(tmp_path: Path) -> tuple[RecordingsConnector, Path]:
    path = tmp_path / "Master.csv"
    path.write_text(calls.cdr_csv(calls.freepbx_estate().rows()))
    connector = pbx(tmp_path, str(path))
    yield connector, path
    connector.close()


def test_sample_declared():
    assert "sample" in RecordingsConnector.capabilities
    assert RecordingsConnector.validate_registration() is None


def test_cdr_fields_with_searched_flags(csv_pbx):
    connector, _ = csv_pbx
    got = units(connector)
    records = got["CSV file Master.csv"]
    assert records.error is None and records.kind == "recording" and records.fingerprint
    fields = by_column(records)
    assert set(calls.CDR_FIELDS) <= set(fields)
    for name in SEARCHED:
        assert fields[name].searched, name
    for name in NOT_SEARCHED:
        assert not fields[name].searched and fields[name].not_searched_because == NOT_MATCHED
    field = fields["src"]
    assert field.kind == "recording" and field.container == "calls.src"
    assert field.column == "src"
    assert calls.JANE in field.values and calls.BOB in field.values
    assert len(field.values) == len(calls.freepbx_estate().calls)
    assert "" not in fields["accountcode"].values  # blank values are not values
    # the audio store: a count, not transcribed
    audio = got["audio"]
    [speech] = audio.fields
    assert speech.size == audio_count() and not speech.values
    assert not speech.searched and speech.not_searched_because == NOT_TRANSCRIBED


def audio_count() -> int:
    estate = calls.freepbx_estate()
    recorded = [c for c in estate.calls if c.recorded and c.uniqueid != calls.LOST_AUDIO]
    return len(recorded) + sum(len(v) for v in estate.copies.values()) + \
        len(estate.orphan_audio)


def test_limit_fingerprint_and_unchanged(csv_pbx):
    connector, path = csv_pbx
    first = units(connector, SampleOptions(values_per_column=3))
    records = first["CSV file Master.csv"]
    assert all(len(f.values) <= 3 for f in records.fields)
    assert len(by_column(records)["uniqueid"].values) == 3
    again = units(connector, SampleOptions(values_per_column=3))
    assert {u: s.fingerprint for u, s in again.items()} == \
        {u: s.fingerprint for u, s in first.items()}

    asked: list[str] = []

    def unchanged(unit: str, fp: str) -> bool:
        asked.append(unit)
        return fp == first[unit].fingerprint

    skipped = units(connector, SampleOptions(unchanged=unchanged))
    assert sorted(asked) == sorted(first)
    assert all(s.unchanged and not s.fields for s in skipped.values())

    row = calls.PbxCall("1709900000.1", datetime(2024, 3, 8, 9, 0), "07700900333", "201",
                        "Ann Other", did=calls.OUR_DDI).row()
    with path.open("a") as handle:
        handle.write(calls.cdr_csv([row]).split("\n", 1)[1])
    changed = units(connector, SampleOptions(unchanged=unchanged))
    assert changed["CSV file Master.csv"].fields  # read again: the export grew
    assert changed["audio"].unchanged


@pytest.mark.parametrize("backend", ["postgresql", "mariadb"])
def test_cdr_table(backend: str, tmp_path: Path,
                   isolated_database: Callable[[str], TestDatabase]):
    database = isolated_database(backend)
    engine = database.engine()
    table = calls.write_cdr_table(engine, calls.freepbx_estate().rows())
    connector = pbx(tmp_path, database.url)
    try:
        got = units(connector)
        records = got["table cdr"]
        assert records.error is None
        fields = by_column(records)
        assert all(f.size == len(calls.freepbx_estate().calls) for f in records.fields)
        assert all(isinstance(v, int) for v in fields["duration"].values)  # numbers stay
        assert all(isinstance(v, datetime) for v in fields["calldate"].values)
        assert fields["cnam"].searched and not fields["channel"].searched
        with engine.begin() as conn:
            conn.execute(table.insert(), [calls.PbxCall(
                "1709900000.2", datetime(2024, 3, 8, 9, 0), "07700900334", "201").row()])
        assert units(connector)["table cdr"].fingerprint != records.fingerprint
        # a table gone since: an error naming the records, no values; audio still sampled
        with engine.begin() as conn:
            conn.execute(sa.text("DROP TABLE cdr"))
        gone = {u.unit: u for u in connector.sample(Container("table cdr", "call records"),
                                                    SampleOptions())}
        assert gone["table cdr"].error and "table cdr" in gone["table cdr"].error
        assert not gone["table cdr"].fields
        assert calls.JANE not in gone["table cdr"].error
    finally:
        connector.close()
        engine.dispose()


def test_unreachable_records_are_an_error(tmp_path: Path):
    connector = pbx(tmp_path, str(tmp_path / "missing.csv"))
    try:
        [unit] = list(connector.sample(Container("CSV file missing.csv", "call records"),
                                       SampleOptions()))
        assert unit.error and "does not exist" in unit.error and not unit.fields
    finally:
        connector.close()


def test_sidecar_fields_nested_and_not_searched(tmp_path: Path):
    folder = tmp_path / "calls"
    day = folder / "2024" / "03" / "01"
    day.mkdir(parents=True)
    docs = {
        "rec-0001": {"direction": "inbound", "from": "07700 900111", "to": "01632 960000",
                     "caller_name": "Jane Doe", "account": "ACC-1001", "duration": 2,
                     "start_time": "2024-03-01T09:00:00Z"},
        "rec-0002": {"id": "c-2", "direction": "outbound", "Caller": {"Number": "01632 960000"},
                     "customer": {"phone": "+44 7700 900222", "name": "Bob Brown"},
                     "notes": "call back on 07700 900999", "duration": 3,
                     "start_time": "2024-03-01T10:00:00Z"},
    }
    for stem, doc in docs.items():
        (day / f"{stem}.json").write_text(json.dumps(doc))
        (day / f"{stem}.wav").write_bytes(wav_bytes(0.2))
    system = SystemConfig(name="calls", connector="recordings", url=f"file://{folder}",
                          options={"layout": "sidecar", "our_numbers": ["01632 960000"]})
    connector = RecordingsConnector(system)
    try:
        got = units(connector)
        records = got["sidecar files"]
        assert records.error is None
        fields = {f.container.split(".", 1)[1]: f for f in records.fields}
        assert fields["from"].searched and fields["caller_name"].searched
        assert fields["customer.phone"].searched and fields["customer.name"].searched
        assert fields["account"].searched
        assert not fields["notes"].searched  # a number in the notes: search does not look
        assert fields["notes"].values == ["call back on 07700 900999"]
        assert sorted(fields["duration"].values) == [2, 3]  # numbers stay numbers
        assert all(f.size == 2 for f in records.fields)
        assert got["audio"].fields[0].size == 2
        before = records.fingerprint
        (day / "rec-0003.json").write_text(json.dumps({"from": "07700 900333"}))
        assert units(connector)["sidecar files"].fingerprint != before
    finally:
        connector.close()


def test_connect_contact_records_by_dotted_path(tmp_path: Path):
    from tests.test_recordings_records import ctr, transfer_leg

    records, audio = tmp_path / "ctr", tmp_path / "audio"
    (records / "2026" / "03").mkdir(parents=True)
    audio.mkdir()
    (records / "2026" / "03" / "batch-1").write_text(
        "".join(json.dumps(r) for r in (ctr(), transfer_leg())))
    system = SystemConfig(name="connect", connector="recordings", url=f"file://{audio}",
                          options={"layout": "connect", "cdr": f"file://{records}"})
    connector = RecordingsConnector(system)
    try:
        got = units(connector)
        unit = got["contact records"]
        assert unit.error is None
        fields = {f.container.split(".", 1)[1]: f for f in unit.fields}
        assert fields["CustomerEndpoint.Address"].searched
        assert fields["Attributes.customerName"].searched
        assert fields["Attributes.AccountNumber"].searched
        assert not fields["Agent.Username"].searched  # a person, but search does not look
        assert not fields["Tags.campaign"].searched
        assert fields["Agent.AfterContactWorkDuration"].values == [12, 12]
        assert all(f.size == 2 for f in unit.fields)
        assert not got["audio"].fields[0].size
    finally:
        connector.close()
