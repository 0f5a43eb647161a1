"""The recordings connector on an Amazon Connect estate in a bucket: contact trace records as
Kinesis Firehose writes them (several records concatenated per object under ``ctr/``) and
the CallRecordings audio objects under ``connect/acme/``, on the S3 test server, versioned and
unversioned.

The estate: Jane Doe's calls (one transferred between two contacts, one transferred to an
outside number and published again when it changed, one whose audio object is gone, one
chat), a look-alike Jane Doe on another number, Bob's and Carol's calls in the same record
objects as Jane's (one object gzip-compressed), Contact Lens's redacted copy of a recording,
and audio nobody has a record for.
Numbers are from Ofcom's drama ranges; everything is made up.
"""

from __future__ import annotations

import base64
import csv
import gzip
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from agent.engine import SearchEngine
from tests.support.audio import wav_bytes
from tests.support.engines import engines
from tests.support.recordings import by_locator, connector, decode_all, item, search

if TYPE_CHECKING:
    from tests.s3_server import Bucket

pytest_plugins = ("tests.s3_server",)

OUR_DDI = "+441632960000"
JANE_PHONE = "+447700900111"
JANE_ID = "CUST-1001"
LOOKALIKE_PHONE = "+447700900222"
OUTSIDE = "+447700900555"  # the outside number one call is transferred to
BOB_PHONE = "+441632960333"
CAROL_PHONE = "+441632960444"

FIRST = "6f1b0c2e-3a4d-4e5f-8a9b-0c1d2e3f4a5b"  # Jane's call, recorded
SECOND = "0a9e8d7c-6b5a-4f3e-9d2c-1b0a9f8e7d6c"  # its transfer to another agent, recorded
OUT = "1b2c3d4e-5f60-4718-8293-a4b5c6d7e8f9"  # Jane's call transferred to an outside number
LOST = "2c3d4e5f-6071-4829-93a4-b5c6d7e8f9a0"  # Jane's call whose audio object is gone
CHAT = "c0ffee00-1234-4abc-9def-0123456789ab"  # Jane's chat: not a recording
LOOKALIKE = "3d4e5f60-7182-493a-a4b5-c6d7e8f9a0b1"  # another Jane Doe
BOB = "4e5f6071-8293-4a4b-b5c6-d7e8f9a0b1c2"
CAROL = "6a7b8c9d-0e1f-4a2b-9c3d-4e5f6a7b8c9d"  # a caller who hung up in the queue
ORPHAN = "5f607182-93a4-4b5c-86d7-e8f9a0b1c2d3"  # audio with no record

AUDIO_PREFIX = "connect/acme/"
RECORDED = {FIRST: 2.5, SECOND: 1.5, OUT: 1.0, LOOKALIKE: 1.0, BOB: 1.0}
CTR_ONE = "ctr/2024/03/01/acme-ctr-1-2024-03-01-10-20-00-9a8b7c6d-1111-4222-8333-944455556666"
CTR_TWO = "ctr/2024/03/01/acme-ctr-1-2024-03-01-11-20-00-9a8b7c6d-2222-4333-8444-955566667777"
CTR_GZ = "ctr/2024/03/01/acme-ctr-1-2024-03-01-11-50-00-9a8b7c6d-4444-4555-8666-977788889999.gz"
CTR_BROKEN = "ctr/2024/03/01/acme-ctr-1-2024-03-01-12-20-00-9a8b7c6d-3333-4444-8555-966677778888"
# Contact Lens's redacted copy of the first recording: found through the copies option
REDACTED = f"{AUDIO_PREFIX}Analysis/Voice/Redacted/2024/03/01/" \
    f"{FIRST}_call_recording_redacted_2024-03-01T10:15:01Z.wav"
JANE = {"ref": "jane", "phone": ["07700 900111"], "name": "Jane Doe"}


def audio_key(contact: str, minute: int) -> str:
    return f"{AUDIO_PREFIX}CallRecordings/2024/03/01/{contact}_20240301T10:{minute:02d}_UTC.wav"


MINUTE = {FIRST: 15, SECOND: 18, OUT: 30, LOST: 40, LOOKALIKE: 45, BOB: 50, ORPHAN: 55,
          CHAT: 20, CAROL: 52}


def ctr(bucket: str, contact: str, caller: str | None, *, customer_id: str = "",
        name: str = "", recorded: bool = True, **over: Any) -> dict[str, Any]:
    """A voice CTR with the fields of Connect's CTR data model."""
    minute = MINUTE[contact]
    stamp = f"2024-03-01T10:{minute:02d}"
    location = f"{bucket}/{audio_key(contact, minute)}"
    attributes = {k: v for k, v in (("customerId", customer_id), ("customerName", name))
                  if v}
    record: dict[str, Any] = {
        "AWSAccountId": "123456789012",
        "AWSContactTraceRecordFormatVersion": "2017-03-10",
        "Agent": {"ARN": "arn:aws:connect:eu-west-2:123456789012:instance/i/agent/a1",
                  "Username": "agent.one", "AfterContactWorkDuration": 12,
                  "ConnectedToAgentTimestamp": f"{stamp}:12Z",
                  "RoutingProfile": {"Name": "Basic"}},
        "Attributes": {**attributes, "intent": "billing"},
        "Channel": "VOICE",
        "ContactId": contact,
        "CustomerEndpoint": {"Address": caller, "Type": "TELEPHONE_NUMBER"} if caller
        else None,
        "DisconnectReason": "CUSTOMER_DISCONNECT",
        "DisconnectTimestamp": f"{stamp}:59Z",
        "InitialContactId": None,
        "InitiationMethod": "INBOUND",
        "InitiationTimestamp": f"{stamp}:01.512Z",
        "InstanceARN": "arn:aws:connect:eu-west-2:123456789012:instance/i",
        "NextContactId": None,
        "PreviousContactId": None,
        "Queue": {"ARN": "arn:aws:connect:eu-west-2:123456789012:instance/i/queue/q1",
                  "Name": "Sales", "Duration": 11},
        "Recording": {"DeletionReason": None, "Location": location, "Status": "AVAILABLE",
                      "Type": "AUDIO"} if recorded else None,
        "Recordings": [{"Location": location, "MediaStreamType": "AUDIO",
                        "ParticipantType": "AGENT", "Status": "AVAILABLE",
                        "StorageType": "S3"}] if recorded else [],
        "SystemEndpoint": {"Address": OUR_DDI, "Type": "TELEPHONE_NUMBER"},
        "TransferredToEndpoint": None,
    }
    record.update(over)
    return record


def estate(bucket: str) -> dict[str, list[dict[str, Any]]]:
    """Record object key -> its records, in the order Firehose wrote them."""
    jane = {"customer_id": JANE_ID, "name": "Jane Doe"}
    first = ctr(bucket, FIRST, JANE_PHONE, NextContactId=SECOND, **jane)
    second = ctr(bucket, SECOND, JANE_PHONE, InitialContactId=FIRST, PreviousContactId=FIRST,
                 InitiationMethod="TRANSFER", **jane)
    chat = ctr(bucket, CHAT, None, recorded=False, Channel="CHAT", **jane)
    outside = ctr(bucket, OUT, JANE_PHONE, TransferredToEndpoint={
        "Address": OUTSIDE, "Type": "TELEPHONE_NUMBER"}, **jane)
    lost = ctr(bucket, LOST, JANE_PHONE, **jane)
    lookalike = ctr(bucket, LOOKALIKE, LOOKALIKE_PHONE, customer_id="CUST-2002",
                    name="Jane Doe")
    bob = ctr(bucket, BOB, BOB_PHONE, customer_id="CUST-3003", name="Bob Jones")
    carol = ctr(bucket, CAROL, CAROL_PHONE, recorded=False, Agent=None,
                DisconnectReason="CUSTOMER_DISCONNECT")
    # Connect publishes a contact's record again when it changes (a post-call survey here)
    updated = {**outside, "Attributes": {**outside["Attributes"], "surveyScore": "5"},
               "LastUpdateTimestamp": "2024-03-01T11:02:00Z"}
    return {CTR_ONE: [first, bob, chat], CTR_TWO: [second, outside, lookalike],
            CTR_GZ: [lost, updated, carol]}


def concatenated(records: list[dict[str, Any]]) -> bytes:
    """Firehose's framing: JSON objects back to back, no separator."""
    return "".join(json.dumps(r, separators=(",", ":")) for r in records).encode()


def framed(key: str, records: list[dict[str, Any]]) -> bytes:
    """An object's bytes as Firehose delivers them (gzip-compressed when the key says so)."""
    data = concatenated(records)
    return gzip.compress(data) if key.endswith(".gz") else data




@dataclass
class Estate:
    bucket: Bucket
    records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def records_in(self, key: str) -> list[dict[str, Any]]:
        return decode_all(self.bucket.get(key))

    def ids_in(self, key: str) -> list[str]:
        return [r["ContactId"] for r in self.records_in(key)]

    def audio_versions(self, contact: str) -> list[dict[str, Any]]:
        return self.bucket.versions(audio_key(contact, MINUTE[contact]))


def write_estate(bucket: Bucket, *, broken: bool = False) -> Estate:
    records = estate(bucket.name)
    for contact, seconds in RECORDED.items():
        key = audio_key(contact, MINUTE[contact])
        if bucket.versioned:  # an earlier upload of the same recording: a second version
            bucket.put(key, wav_bytes(0.5), ContentType="audio/wav")
        bucket.put(key, wav_bytes(seconds), ContentType="audio/wav")
    bucket.put(REDACTED, wav_bytes(2.5))
    bucket.put(audio_key(ORPHAN, MINUTE[ORPHAN]), wav_bytes(0.5))
    for key, items in records.items():
        if bucket.versioned:  # Firehose retried the delivery: an older copy holds them too
            bucket.put(key, framed(key, items))
        bucket.put(key, framed(key, items))
    if broken:  # a delivery cut short: the object ends inside a record
        bucket.put(CTR_BROKEN, concatenated([records[CTR_ONE][1]])[:-40])
    return Estate(bucket, records)


def entry(bucket: Bucket, **extra: Any) -> dict[str, Any]:
    table = {**bucket.entry("calls"), "connector": "recordings", "layout": "connect",
             "url": f"s3://{bucket.name}/{AUDIO_PREFIX}", "cdr": f"s3://{bucket.name}/ctr/",
             "copies": ["Analysis/Voice/Redacted/{date}"]}
    table.update(extra)
    return table


@pytest.fixture(params=[True, False], ids=["versioned", "unversioned"])
def versioned(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


@pytest.fixture
def engine_for(tmp_path: Path) -> Iterator[Callable[..., SearchEngine]]:
    with engines(tmp_path) as make:
        yield lambda bucket, **extra: make(entry(bucket, **extra))










# --------------------------------------------------------------------------- search


def test_search_by_phone_finds_janes_calls_one_finding_per_call(
        engine_for: Callable[..., SearchEngine], make_bucket: Callable[..., Bucket]) -> None:
    bucket = make_bucket()
    write_estate(bucket)
    engine = engine_for(bucket)
    assert connector(engine).check().ok
    result = search(engine, JANE)[0]
    found = by_locator(result)
    # the transfer's two contacts are one call named by its first recorded contact; the
    # chat is not a recording; the other Jane Doe (another number) is a look-alike
    assert set(found) == {FIRST, OUT, LOST}
    assert all(f.kind == "recording" and f.container == "calls" for f in found.values())
    assert all(f.strength == "strong" and "phone" in f.matched for f in found.values())
    assert found[OUT].review and "third person" in found[OUT].review
    assert not found[FIRST].review and not found[LOST].review
    assert result.excluded_lookalikes >= 1
    report = connector(engine).last_report
    assert report.missing_audio == 1 and report.unreadable == []
    # counted before attribution: the look-alike's call (matched on the name) is in them
    assert report.calls == 4 and report.audio == 5  # the redacted copy is FIRST's too


def test_every_uk_writing_of_the_number_finds_the_same_calls(
        engine_for: Callable[..., SearchEngine], make_bucket: Callable[..., Bucket]) -> None:
    bucket = make_bucket()
    write_estate(bucket)
    engine = engine_for(bucket)
    writings = ["+44 7700 900111", "00447700900111", "(07700) 900111", "447700900111",
                "07700-900-111", "+44 (0)7700 900111"]
    people = [{"ref": w, "phone": [w]} for w in writings]
    for writing, result in zip(writings, search(engine, *people), strict=True):
        assert set(by_locator(result)) == {FIRST, OUT, LOST}, writing


def test_customer_id_finds_the_calls_strongly(
        engine_for: Callable[..., SearchEngine], make_bucket: Callable[..., Bucket]) -> None:
    bucket = make_bucket()
    write_estate(bucket)
    found = by_locator(search(engine_for(bucket), {"id": {"customer_id": JANE_ID}})[0])
    assert set(found) == {FIRST, OUT, LOST}
    assert all(f.strength == "strong" for f in found.values())
    # the look-alike's own id finds only her call, never Jane's
    other = by_locator(search(engine_for(bucket), {"id": {"customer_id": "CUST-2002"}})[0])
    assert set(other) == {LOOKALIKE}


def test_a_corrupt_record_object_is_reported_and_the_rest_found(
        engine_for: Callable[..., SearchEngine], make_bucket: Callable[..., Bucket]) -> None:
    bucket = make_bucket()
    write_estate(bucket, broken=True)
    engine = engine_for(bucket)
    found = by_locator(search(engine, JANE)[0])
    assert set(found) == {FIRST, OUT, LOST}
    report = connector(engine).last_report
    assert len(report.unreadable) == 1 and "not JSON" in report.unreadable[0]
    # the reason names the position, never the record's content or the object's key
    assert "Bob" not in report.unreadable[0] and CTR_BROKEN not in report.unreadable[0]


# --------------------------------------------------------------------------- read


def test_read_gives_the_wav_bytes_duration_and_metadata(
        engine_for: Callable[..., SearchEngine], make_bucket: Callable[..., Bucket]) -> None:
    bucket = make_bucket(versioned=True)
    write_estate(bucket)
    engine = engine_for(bucket)
    found = by_locator(search(engine, JANE)[0])
    records = {r["recording_id"]: r for r in connector(engine).read(list(found.values()))}
    first = records[FIRST]
    paths = {a["path"] for a in first["audio"]}
    assert paths == {audio_key(c, MINUTE[c])[len(AUDIO_PREFIX):] for c in (FIRST, SECOND)} \
        | {REDACTED[len(AUDIO_PREFIX):]}
    original = next(a for a in first["audio"] if FIRST in a["path"])
    assert base64.b64decode(original["content_base64"]) == \
        bucket.get(audio_key(FIRST, MINUTE[FIRST]))
    assert original["format"] == "wav" and original["duration_seconds"] == 2.5
    assert original["sample_rate"] == 8000 and original["channels"] == 1
    assert first["row"]["duration_seconds"] == 2.5 and first["row"]["legs"] == 2
    metadata = json.loads(first["metadata_json"])
    assert {leg["ContactId"] for leg in metadata["legs"]} == {FIRST, SECOND}
    assert metadata["legs"][0]["CustomerEndpoint"]["Address"] == JANE_PHONE
    rows = list(csv.DictReader(io.StringIO(first["metadata_csv"])))
    assert {r["ContactId"] for r in rows} == {FIRST, SECOND}
    assert {r["audio_format"] for r in rows} == {"wav"}
    assert json.loads(rows[0]["Attributes"])["customerId"] == JANE_ID
    assert records[OUT]["disclosure_review"] is True and records[OUT]["row"]["legs"] == 2
    assert records[LOST]["audio"] == [] and records[LOST]["missing_audio"]


def test_the_csv_gives_each_leg_its_own_recordings_duration(
        engine_for: Callable[..., SearchEngine], make_bucket: Callable[..., Bucket]) -> None:
    bucket = make_bucket()
    write_estate(bucket)
    engine = engine_for(bucket)
    found = by_locator(search(engine, JANE)[0])
    record = next(iter(connector(engine).read([found[FIRST]])))
    rows = list(csv.DictReader(io.StringIO(record["metadata_csv"])))
    durations = {r["ContactId"]: r["audio_duration_seconds"] for r in rows}
    assert durations == {FIRST: "2.5", SECOND: "1.5"}


# --------------------------------------------------------------------------- erase


def test_delete_removes_every_audio_version_and_only_the_calls_records(
        engine_for: Callable[..., SearchEngine], make_bucket: Callable[..., Bucket],
        versioned: bool) -> None:
    bucket = make_bucket(versioned=versioned)
    world = write_estate(bucket)
    if versioned:  # someone "deleted" the transfer's recording: its versions are still there
        bucket.client.delete_object(Bucket=bucket.name, Key=audio_key(SECOND, MINUTE[SECOND]))
    engine = engine_for(bucket)
    found = by_locator(search(engine, JANE)[0])
    outcomes = list(connector(engine).erase([item(found[FIRST], "delete")]))
    assert [o.status for o in outcomes] == ["done"], outcomes[0].detail
    assert outcomes[0].counts == {"audio_files": 3, "records": 2}
    for contact in (FIRST, SECOND):  # every version and marker of both recordings
        assert world.audio_versions(contact) == []
    assert bucket.versions(REDACTED) == []
    assert len(world.audio_versions(BOB)) == (2 if versioned else 1)
    # the other records in the same objects are untouched, byte for byte
    one, two = world.records[CTR_ONE], world.records[CTR_TWO]
    assert bucket.get(CTR_ONE) == concatenated(one[1:])
    assert bucket.get(CTR_TWO) == concatenated(two[1:])
    if versioned:  # the older copies held the records: only the rewritten one is left
        for key in (CTR_ONE, CTR_TWO):
            assert [v["kind"] for v in bucket.versions(key)] == ["Versions"]
        assert len(bucket.versions(CTR_GZ)) == 2  # not Jane's first call: left alone
    again = by_locator(search(engine, JANE)[0])
    assert set(again) == {OUT, LOST}
    assert [o.status for o in connector(engine).erase([item(found[FIRST], "delete")])] == \
        ["absent"]


def test_after_every_call_is_deleted_a_search_finds_nothing(
        engine_for: Callable[..., SearchEngine], make_bucket: Callable[..., Bucket],
        versioned: bool, capfd: pytest.CaptureFixture[str]) -> None:
    bucket = make_bucket(versioned=versioned)
    world = write_estate(bucket)
    engine = engine_for(bucket)
    found = search(engine, JANE)[0].findings
    outcomes = list(connector(engine).erase([item(f, "delete") for f in found]))
    assert [o.status for o in outcomes] == ["done"] * 3, [o.detail for o in outcomes]
    lost = next(o for o in outcomes if o.item_id.endswith(LOST))
    assert "already missing" in lost.detail and lost.counts["records"] == 1
    assert search(engine, JANE)[0].findings == []
    assert search(engine, {"id": {"customer_id": JANE_ID}})[0].findings == []
    assert world.ids_in(CTR_TWO) == [LOOKALIKE]
    # the gzip object stays gzip, Carol's record in it as it was
    # (the updated record of the outside call went with it)
    assert gzip.decompress(bucket.get(CTR_GZ)) == concatenated(world.records[CTR_GZ][2:])
    assert set(by_locator(search(engine, {"phone": [LOOKALIKE_PHONE]})[0])) == {LOOKALIKE}
    assert set(by_locator(search(engine, {"phone": [CAROL_PHONE]})[0])) == {CAROL}
    assert [o.status for o in connector(engine).erase([item(f, "delete") for f in found])] \
        == ["absent"] * 3
    # nothing of the caller in the logs or the outcomes
    said = capfd.readouterr().err + " ".join(o.detail for o in outcomes)
    for value in ("900111", "900555", JANE_ID, "Jane", "Doe"):
        assert value not in said


def test_anonymise_keeps_the_record_with_the_callers_address_blanked(
        engine_for: Callable[..., SearchEngine], make_bucket: Callable[..., Bucket],
        versioned: bool) -> None:
    bucket = make_bucket(versioned=versioned)
    world = write_estate(bucket)
    engine = engine_for(bucket)
    found = by_locator(search(engine, JANE)[0])
    # the lost call's customer id is kept (a retention rule names the record's path)
    keep = ["Attributes.customerId"]
    outcomes = list(connector(engine).erase([item(found[OUT], "anonymise"),
                                             item(found[LOST], "anonymise", keep=keep)]))
    assert [o.status for o in outcomes] == ["done"] * 2, [o.detail for o in outcomes]
    assert outcomes[0].counts == {"audio_files": 1, "records": 2}  # and its update
    lost, updated, carol = world.records_in(CTR_GZ)
    assert lost["Attributes"] == {"customerId": JANE_ID, "customerName": "", "intent": ""}
    assert lost["CustomerEndpoint"]["Address"] == ""
    assert updated["ContactId"] == OUT and updated["CustomerEndpoint"]["Address"] == ""
    assert set(updated["Attributes"].values()) == {""}
    assert carol == world.records[CTR_GZ][2]
    assert world.audio_versions(OUT) == []
    before = {r["ContactId"]: r for r in world.records[CTR_TWO]}
    after = {r["ContactId"]: r for r in world.records_in(CTR_TWO)}
    assert list(after) == [SECOND, OUT, LOOKALIKE]
    record = after[OUT]
    assert record["CustomerEndpoint"] == {"Address": "", "Type": "TELEPHONE_NUMBER"}
    assert record["TransferredToEndpoint"]["Address"] == ""
    assert record["Attributes"] == {"customerId": "", "customerName": "", "intent": ""}
    assert record["Recording"]["Location"] == "" and record["Recording"]["Status"] == "DELETED"
    assert {r["Location"] for r in record["Recordings"]} == {""}
    # what is not the caller's stays: ids, times, our number, the agent, the queue
    for key in ("SystemEndpoint", "InitiationTimestamp", "Agent", "Queue", "ContactId"):
        assert record[key] == before[OUT][key]
    assert after[SECOND] == before[SECOND] and after[LOOKALIKE] == before[LOOKALIKE]
    if versioned:
        assert len(bucket.versions(CTR_TWO)) == 1
    assert set(by_locator(search(engine, JANE)[0])) == {FIRST}
    again = [item(found[OUT], "anonymise"), item(found[LOST], "anonymise", keep=keep)]
    assert [o.status for o in connector(engine).erase(again)] == ["absent"] * 2


# --------------------------------------------------------------------------- bad input


def test_a_record_object_hidden_by_a_delete_marker_is_reported_not_fatal(
        engine_for: Callable[..., SearchEngine], make_bucket: Callable[..., Bucket]) -> None:
    bucket = make_bucket(versioned=True)
    write_estate(bucket)
    bucket.client.delete_object(Bucket=bucket.name, Key=CTR_ONE)
    engine = engine_for(bucket)
    found = by_locator(search(engine, JANE)[0])
    # the first contact's record is hidden: its transfer leg is the call now
    assert set(found) == {SECOND, OUT, LOST}
    unreadable = connector(engine).last_report.unreadable
    assert len(unreadable) == 1 and "delete marker" in unreadable[0]


def test_records_prefix_above_the_audio_reads_no_audio_as_records(
        engine_for: Callable[..., SearchEngine], make_bucket: Callable[..., Bucket]) -> None:
    bucket = make_bucket()
    write_estate(bucket)
    engine = engine_for(bucket, cdr=f"s3://{bucket.name}/")
    assert set(by_locator(search(engine, JANE)[0])) == {FIRST, OUT, LOST}
    assert connector(engine).last_report.unreadable == []


def test_a_records_prefix_with_nothing_in_it_fails_the_check_and_finds_nothing(
        engine_for: Callable[..., SearchEngine], make_bucket: Callable[..., Bucket]) -> None:
    bucket = make_bucket()
    bucket.put(audio_key(ORPHAN, MINUTE[ORPHAN]), wav_bytes(0.5))
    engine = engine_for(bucket)
    check = connector(engine).check()
    assert not check.ok and "no contact record files under cdr" in check.detail
    assert search(engine, JANE)[0].findings == []


# --------------------------------------------------------------------------- discover


def test_discover_counts_records_audio_and_orphans(
        engine_for: Callable[..., SearchEngine], make_bucket: Callable[..., Bucket]) -> None:
    bucket = make_bucket()
    write_estate(bucket, broken=True)
    containers = {c.name: c for c in connector(engine_for(bucket)).discover()}
    records = containers["contact records"]
    assert records.items == 8  # voice records; the chat is not a call
    assert records.notes == {"records_without_audio": 1, "unreadable": 1}
    audio = containers["audio"]
    # the recordings, the redacted copy (it names a contact) and the orphan
    assert audio.items == len(RECORDED) + 2
    assert audio.notes["audio_without_record"] == 1
    assert audio.notes["formats"] == {"wav": len(RECORDED) + 2}

