"""The recordings connector on an Asterisk/FreePBX store: the CDR in the running
PostgreSQL and MariaDB and as a CSV export, the monitor tree on local disk and over SFTP.

The estate (``tests.support.calls``) is a small PBX's week: Jane Doe's calls, a look-alike
Jane Doe, a household landline Jane shares with John Smith, a call with an outside third
party, a record whose audio is lost and audio with no record.
"""

from __future__ import annotations

import base64
import csv
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa

from agent.engine import SearchEngine
from agent.errors import ConfigError
from agent.subjects import subject_from_mapping
from connectors.recordings.connector import RecordingsConnector
from connectors.recordings.layout_asterisk import audio_path
from tests.support import calls
from tests.support.engines import engines
from tests.support.recordings import by_locator, connector, item, search

if TYPE_CHECKING:
    from tests.conftest import TestDatabase
    from tests.file_servers import Share

pytest_plugins = ("tests.file_servers",)

JANE = {"ref": "jane", "phone": ["07700 900111"], "name": "Jane Doe"}
FIRST = "1709288100.42"


@pytest.fixture(params=("postgresql", "mariadb", "csv"))
def cdr_spec(request: pytest.FixtureRequest, tmp_path: Path,
             isolated_database: Callable[[str], TestDatabase]) -> Iterator[str]:
    estate = calls.freepbx_estate()
    if request.param == "csv":
        path = tmp_path / "Master.csv"
        path.write_text(calls.cdr_csv(estate.rows()))
        yield str(path)
        return
    database = isolated_database(request.param)
    engine = database.engine()
    table = f"cdr_{request.node.name[-12:].strip('[]').replace('-', '_')}"
    calls.write_cdr_table(engine, estate.rows(), name="cdr")
    try:
        yield database.url
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("DROP TABLE IF EXISTS cdr"))
        engine.dispose()
        del table


@pytest.fixture
def monitor(make_share: Callable[..., Share]) -> Share:
    share = make_share("local")
    calls.freepbx_estate().write_audio(share.write)
    return share


def entry(share: Share, spec: str, **extra: Any) -> dict[str, Any]:
    table = {**share.entry("phones"), "connector": "recordings", "layout": "asterisk",
             "cdr": spec, "our_numbers": [calls.OUR_DDI], "copies": ["mp3/{date}", "redacted"],
             # one call's number is stored "+44-7700-900111": compare without separators
             "loose_numbers": True, "timeout": 60}
    table.update(extra)
    return table


@pytest.fixture
def engine_for(tmp_path: Path) -> Iterator[Callable[..., SearchEngine]]:
    with engines(tmp_path) as make:
        yield lambda share, spec, **extra: make(entry(share, spec, **extra))










# --------------------------------------------------------------------------- search


def test_search_finds_janes_calls_grouped_by_linkedid(
        engine_for: Callable[..., SearchEngine], monitor: Share, cdr_spec: str) -> None:
    engine = engine_for(monitor, cdr_spec)
    [result] = search(engine, JANE)
    found = by_locator(result)
    # the search's status shows the record whose audio is missing (counts only)
    assert result.systems[0].public()["missing_audio"] == 1
    # the transfer's second leg joins its call: one finding named by the recorded leg; a
    # "Jane Doe" call from another number contradicts hers and is left out
    assert set(found) == {FIRST, "1709374500.7", "1709460000.12", calls.LOST_AUDIO}
    assert all(f.kind == "recording" and f.container == "calls" for f in found.values())
    assert all(f.strength == "strong" and "phone" in f.matched for f in found.values())
    # only the call with an outside party goes to disclosure review
    assert found["1709460000.12"].review and "third person" in found["1709460000.12"].review
    assert not found[FIRST].review and not found["1709374500.7"].review
    report = connector(engine).last_report
    # the connector matched six calls; attribution dropped two name-only look-alikes
    assert report.missing_audio == 1 and report.calls == 6


def test_a_landline_two_people_call_from_gives_weak_findings_only(
        engine_for: Callable[..., SearchEngine], monitor: Share, cdr_spec: str) -> None:
    engine = engine_for(monitor, cdr_spec)
    result = search(engine, {"phone": ["01632 960123"], "name": "Jane Doe"})[0]
    found = by_locator(result)
    # Jane Doe and John Smith both call from it: the number is shared, never strong;
    # John's call names someone else and is not hers
    assert "1709632800.8" in found and "1709632900.9" not in found
    assert all(f.strength == "weak" for f in found.values())
    assert result.subject.status[result.subject.of_type("phone")[0].id] == "shared"


@pytest.mark.parametrize("writing", ["+44 7700 900111", "00447700900111", "(07700) 900111",
                                     "447700900111", "07700-900-111"])
def test_every_uk_writing_of_the_number_finds_the_same_calls(
        engine_for: Callable[..., SearchEngine], monitor: Share, writing: str,
        tmp_path: Path) -> None:
    path = tmp_path / "cdr.csv"
    path.write_text(calls.cdr_csv(calls.freepbx_estate().rows()))
    found = by_locator(search(engine_for(monitor, str(path)), {"phone": [writing]})[0])
    assert {FIRST, "1709374500.7", "1709460000.12", calls.LOST_AUDIO} <= set(found)


def test_account_id_finds_the_call_and_name_alone_is_weak_without_lookalikes(
        engine_for: Callable[..., SearchEngine], monitor: Share, tmp_path: Path) -> None:
    path = tmp_path / "cdr.csv"
    path.write_text(calls.cdr_csv(calls.freepbx_estate().rows()))
    engine = engine_for(monitor, str(path))
    by_account = by_locator(search(engine, {"id": {"account": calls.JANE_ACCOUNT}})[0])
    assert set(by_account) == {FIRST} and by_account[FIRST].strength == "strong"
    # the name and her number: the other Jane Doe's call contradicts her number and is
    # dropped as a look-alike; the name-only call from the shared landline stays weak
    result = search(engine, JANE)[0]
    assert "1709546400.5" not in by_locator(result)
    assert result.excluded_lookalikes >= 1


def test_shared_numbers_option_makes_matches_weak(
        engine_for: Callable[..., SearchEngine], monitor: Share, tmp_path: Path) -> None:
    path = tmp_path / "cdr.csv"
    path.write_text(calls.cdr_csv(calls.freepbx_estate().rows()))
    engine = engine_for(monitor, str(path), shared_numbers=["07700 900111"])
    found = search(engine, {"phone": ["07700900111"]})[0].findings
    assert found and all(f.strength == "weak" for f in found)


def test_audio_path_is_rebuilt_from_the_record_not_the_file_name() -> None:
    name = "out-+44-7700-900111-201-20240302-101500-1709374500.7.wav"
    from datetime import datetime
    assert audio_path(name, datetime(2024, 3, 2, 10, 15)) == f"2024/03/02/{name}"
    assert audio_path(f"/var/spool/asterisk/monitor/2024/03/02/{name}", None) == \
        f"2024/03/02/{name}"
    assert audio_path("", datetime(2024, 3, 2)) is None
    assert audio_path("../../etc/passwd", datetime(2024, 3, 2)) == "2024/03/02/passwd"


# --------------------------------------------------------------------------- read


def test_read_gives_audio_bytes_and_call_metadata(
        engine_for: Callable[..., SearchEngine], monitor: Share, cdr_spec: str) -> None:
    engine = engine_for(monitor, cdr_spec)
    found = by_locator(search(engine, JANE)[0])
    records = {r["recording_id"]: r for r in connector(engine).read(list(found.values()))}
    first = records[FIRST]
    paths = {a["path"] for a in first["audio"]}
    estate = calls.freepbx_estate()
    assert paths == {estate.by_id(FIRST).audio_path, *estate.copies[FIRST]}
    original = next(a for a in first["audio"] if a["path"] == estate.by_id(FIRST).audio_path)
    assert base64.b64decode(original["content_base64"]) == \
        (monitor.path / original["path"]).read_bytes()
    assert original["format"] == "wav" and original["duration_seconds"] == 2.5
    assert original["sample_rate"] == 8000 and original["channels"] == 1
    assert first["row"]["duration_seconds"] == 2.5 and first["row"]["legs"] == 2
    legs = json.loads(first["metadata_json"])["legs"]
    assert {leg["uniqueid"] for leg in legs} == {FIRST, "1709288100.43"}
    rows = list(csv.DictReader(io.StringIO(first["metadata_csv"])))
    assert len(rows) == 2 and rows[0]["audio_duration_seconds"] == "2.5"
    assert {r["uniqueid"] for r in rows} == {FIRST, "1709288100.43"}
    # the third-party call is marked for review; the lost recording says so
    assert records["1709460000.12"]["disclosure_review"] is True
    assert records[calls.LOST_AUDIO]["audio"] == []
    assert records[calls.LOST_AUDIO]["missing_audio"]


# --------------------------------------------------------------------------- erase


def test_delete_removes_every_copy_and_every_leg_and_nothing_else(
        engine_for: Callable[..., SearchEngine], monitor: Share, cdr_spec: str) -> None:
    engine = engine_for(monitor, cdr_spec)
    found = by_locator(search(engine, JANE)[0])
    estate = calls.freepbx_estate()
    before = {p.relative_to(monitor.path).as_posix() for p in monitor.path.rglob("*")
              if p.is_file()}
    outcomes = list(connector(engine).erase([item(found[FIRST], "delete")]))
    assert [o.status for o in outcomes] == ["done"]
    assert outcomes[0].counts == {"audio_files": 3, "records": 2}
    after = {p.relative_to(monitor.path).as_posix() for p in monitor.path.rglob("*")
             if p.is_file()}
    assert before - after == {estate.by_id(FIRST).audio_path, *estate.copies[FIRST]}
    # the look-alike copy of Bob's call ("...42" + "1") stays
    assert "redacted/1709288100.421-redacted.wav" in after
    again = by_locator(search(engine, JANE)[0])
    assert FIRST not in again and "1709374500.7" in again
    assert [o.status for o in connector(engine).erase([item(found[FIRST], "delete")])] == \
        ["absent"]


def test_anonymise_keeps_billing_columns_and_the_call_is_no_longer_found(
        engine_for: Callable[..., SearchEngine], monitor: Share, cdr_spec: str) -> None:
    engine = engine_for(monitor, cdr_spec)
    found = by_locator(search(engine, JANE)[0])
    keep = ["calldate", "duration", "billsec", "disposition"]
    outcomes = list(connector(engine).erase([item(found[FIRST], "anonymise", keep=keep)]))
    assert outcomes[0].status == "done", outcomes[0].detail
    conn = connector(engine)
    conn.layout().forget_listings()
    call = conn.layout().call(FIRST)
    assert call is not None and len(call.legs) == 2
    for leg in call.legs:
        assert leg.fields["src"] == "" and leg.fields["clid"] == "" and \
            leg.fields["cnam"] == "" and leg.fields["accountcode"] == ""
        kept = calls.freepbx_estate().by_id(leg.id).row()
        assert str(leg.fields["billsec"]) == str(kept["billsec"])
        assert leg.fields["disposition"] == "ANSWERED" and leg.fields["uniqueid"] == leg.id
    assert FIRST not in by_locator(search(engine, JANE)[0])
    assert FIRST not in by_locator(search(engine, {"id": {"account": calls.JANE_ACCOUNT}})[0])
    assert [o.status for o in conn.erase([item(found[FIRST], "anonymise", keep=keep)])] == \
        ["absent"]


def test_erase_of_a_call_whose_audio_is_lost_still_erases_the_record(
        engine_for: Callable[..., SearchEngine], monitor: Share, tmp_path: Path) -> None:
    path = tmp_path / "cdr.csv"
    path.write_text(calls.cdr_csv(calls.freepbx_estate().rows()))
    engine = engine_for(monitor, str(path))
    found = by_locator(search(engine, JANE)[0])
    outcome = next(iter(connector(engine).erase([item(found[calls.LOST_AUDIO], "delete")])))
    assert outcome.status == "done" and "already missing" in outcome.detail
    assert calls.LOST_AUDIO not in path.read_text()


def test_discover_reports_orphans_on_both_sides(
        engine_for: Callable[..., SearchEngine], monitor: Share, tmp_path: Path) -> None:
    path = tmp_path / "cdr.csv"
    path.write_text(calls.cdr_csv(calls.freepbx_estate().rows()))
    containers = {c.name: c for c in connector(engine_for(monitor, str(path))).discover()}
    records = containers["CSV file cdr.csv"]
    assert records.items == len(calls.freepbx_estate().calls)
    assert records.notes["records_without_audio"] == 1
    audio = containers["audio"]
    # the orphan recording, and the copy whose id only resembles Jane's
    assert audio.notes["audio_without_record"] == 2
    assert audio.notes["formats"] == {"wav": audio.items - 1, "mp3": 1}


# --------------------------------------------------------------------------- over SFTP


def test_freepbx_tree_over_sftp(engine_for: Callable[..., SearchEngine],
                                make_share: Callable[..., Share], tmp_path: Path) -> None:
    share = make_share("sftp")
    calls.freepbx_estate().write_audio(share.write)
    path = tmp_path / "cdr.csv"
    path.write_text(calls.cdr_csv(calls.freepbx_estate().rows()))
    engine = engine_for(share, str(path))
    assert connector(engine).check().ok
    found = by_locator(search(engine, JANE)[0])
    record = next(iter(connector(engine).read([found[FIRST]])))
    assert len(record["audio"]) == 3
    outcome = next(iter(connector(engine).erase([item(found[FIRST], "delete")])))
    assert outcome.status == "done" and outcome.counts["audio_files"] == 3
    assert not (share.path / calls.freepbx_estate().by_id(FIRST).audio_path).exists()


# --------------------------------------------------------------------------- bad input


def test_bad_options_name_the_key(tmp_path: Path) -> None:
    from agent.config import config_from_dict

    def make(**options: Any) -> RecordingsConnector:
        table = {"name": "phones", "connector": "recordings", "url": f"file://{tmp_path}",
                 **options}
        return RecordingsConnector(config_from_dict({"systems": [table]}).systems[0])

    with pytest.raises(ConfigError, match="needs cdr"):
        make(layout="asterisk")
    with pytest.raises(ConfigError, match="must be one of"):
        make(layout="genesys")
    with pytest.raises(ConfigError, match="not a possible phone number"):
        make(layout="asterisk", cdr="x.csv", our_numbers=["12"])
    with pytest.raises(ConfigError, match="unknown option"):
        make(layout="asterisk", cdr="x.csv", endpoint_url="http://127.0.0.1:1")


def test_unreachable_cdr_database_fails_the_system_without_secrets(
        engine_for: Callable[..., SearchEngine], monitor: Share) -> None:
    engine = engine_for(monitor, "postgresql+psycopg://postgres:s3cret-pw@127.0.0.1:1/test")
    subjects = [subject_from_mapping(JANE, default_ref="jane")]
    result = engine.search(subjects, operator="test", reason="test", record=False)[0]
    status = result.systems[0]
    assert status.status == "error" and "s3cret-pw" not in (status.error or "")
    assert not connector(engine).check().ok


def test_loose_numbers_off_compares_only_the_usual_writings_in_a_database(
        engine_for: Callable[..., SearchEngine], monitor: Share, cdr_spec: str) -> None:
    engine = engine_for(monitor, cdr_spec, loose_numbers=False)
    found = set(by_locator(search(engine, JANE)[0]))
    usual = {FIRST, "1709460000.12", calls.LOST_AUDIO}
    if "://" in cdr_spec:  # the index-friendly exact writings miss "+44-7700-900111"
        assert found == usual
    else:  # a CSV's cells are each normalised: every writing is found
        assert found == usual | {"1709374500.7"}


def test_check_names_the_cdr_columns_without_an_index(
        engine_for: Callable[..., SearchEngine], monitor: Share,
        isolated_database: Callable[[str], TestDatabase]) -> None:
    database = isolated_database("postgresql")
    engine = database.engine()
    calls.write_cdr_table(engine, calls.freepbx_estate().rows(), name="cdr_noidx")
    engine.dispose()
    result = connector(engine_for(monitor, database.url, cdr_table="cdr_noidx")).check()
    # the test table indexes uniqueid only
    assert result.ok and "no index on src, dst, cnum, did, linkedid" in result.detail
