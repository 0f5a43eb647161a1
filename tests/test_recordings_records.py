"""Contact trace records (Amazon Connect) and sidecar JSON: parsing into legs and rewriting.

Pure functions over bytes, so the tests feed real-shaped documents (written from the public
CTR data model) in every framing Firehose produces, plus broken ones. All data made up:
Ofcom drama numbers, example.com addresses.
"""

from __future__ import annotations

import copy
import gzip
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from connectors.recordings import connect, sidecar
from connectors.recordings.connect import RecordError
from connectors.recordings.sidecar import SidecarError, SidecarKeys
from tests.support.recordings import decode_all

CALLER = "+447700900123"
CALLBACK = "07700 900124"
OUR_DDI = "+441632960000"
TRANSFER = "+447700900555"
ID_A = "6f1b0c2e-3a4d-4e5f-8a9b-0c1d2e3f4a5b"
ID_B = "0a9e8d7c-6b5a-4f3e-9d2c-1b0a9f8e7d6c"  # transfer leg of A
ID_CHAT = "c0ffee00-1234-4abc-9def-0123456789ab"
BUCKET = "acme-connect-recordings"
AUDIO_A = f"connect/acme/CallRecordings/2026/03/01/{ID_A}_20260301T10:15_UTC.wav"


def ctr(contact_id: str = ID_A, **over: Any) -> dict[str, Any]:
    """A voice CTR as Connect writes it (fields from the CTR data model)."""
    record: dict[str, Any] = {
        "AWSAccountId": "123456789012",
        "AWSContactTraceRecordFormatVersion": "2017-03-10",
        "Agent": {"ARN": "arn:aws:connect:eu-west-2:123456789012:instance/i/agent/a1",
                  "Username": "agent.smith", "AfterContactWorkDuration": 12,
                  "ConnectedToAgentTimestamp": "2026-03-01T10:15:42Z",
                  "HierarchyGroups": None, "RoutingProfile": {"Name": "Basic"}},
        "AgentConnectionAttempts": 1,
        "Attributes": {"customerName": "Jane Doe", "AccountNumber": "AC-100234",
                       "callbackNumber": CALLBACK, "intent": "billing"},
        "Channel": "VOICE",
        "ConnectedToSystemTimestamp": "2026-03-01T10:15:31Z",
        "ContactId": contact_id,
        "CustomerEndpoint": {"Address": CALLER, "Type": "TELEPHONE_NUMBER"},
        "DisconnectReason": "CUSTOMER_DISCONNECT",
        "DisconnectTimestamp": "2026-03-01T10:21:07Z",
        "InitialContactId": None,
        "InitiationMethod": "INBOUND",
        "InitiationTimestamp": "2026-03-01T10:15:30.512Z",
        "InstanceARN": "arn:aws:connect:eu-west-2:123456789012:instance/i",
        "LastUpdateTimestamp": "2026-03-01T10:22:10Z",
        "MediaStreams": [{"Type": "AUDIO"}],
        "NextContactId": None,
        "PreviousContactId": None,
        "Queue": {"ARN": "arn:aws:connect:eu-west-2:123456789012:instance/i/queue/q1",
                  "Name": "BasicQueue", "Duration": 11},
        "Recording": {"DeletionReason": None, "Location": f"{BUCKET}/{AUDIO_A}",
                      "Status": "AVAILABLE", "Type": "AUDIO"},
        "Recordings": [{"DeletionReason": None, "FragmentStartNumber": None,
                        "FragmentStopNumber": None, "Location": f"{BUCKET}/{AUDIO_A}",
                        "MediaStreamType": "AUDIO", "ParticipantType": "AGENT",
                        "StartTimestamp": "2026-03-01T10:15:42Z", "Status": "AVAILABLE",
                        "StopTimestamp": "2026-03-01T10:21:07Z", "StorageType": "S3"}],
        "SystemEndpoint": {"Address": OUR_DDI, "Type": "TELEPHONE_NUMBER"},
        "Tags": {"aws:connect:instanceId": "i", "campaign": "jane-renewal"},
        "TransferCompletedTimestamp": None,
        "TransferredToEndpoint": None,
    }
    record.update(over)
    return record


def transfer_leg() -> dict[str, Any]:
    return ctr(ID_B, InitialContactId=ID_A, PreviousContactId=ID_A,
               InitiationMethod="TRANSFER",
               TransferredToEndpoint={"Address": TRANSFER, "Type": "TELEPHONE_NUMBER"},
               Recording=None, Recordings=[])


def chat() -> dict[str, Any]:
    return ctr(ID_CHAT, Channel="CHAT", CustomerEndpoint=None, Recording=None, Recordings=[])


def records() -> list[dict[str, Any]]:
    return [ctr(), transfer_leg(), chat()]


def concatenated(items: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(item, separators=(",", ":")) for item in items).encode()


def json_lines(items: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(item) + "\n" for item in items).encode()


def array(items: list[dict[str, Any]]) -> bytes:
    return json.dumps(items, indent=2).encode()


FRAMINGS = {
    "concatenated": concatenated,
    "lines": json_lines,
    "array": array,
    "gzip": lambda items: gzip.compress(concatenated(items)),
}




# --------------------------------------------------------------------------- ids

def test_contact_ids_in_names() -> None:
    assert connect.ids_in_name(AUDIO_A) == [ID_A]
    assert connect.ids_in_name(f"x/{ID_A.upper()}_{ID_A.upper()}.wav") == [ID_A.upper()]
    assert connect.ids_in_name("connect/acme/CallRecordings/2026/03/01/readme.txt") == []
    assert connect.ids_in_name(f"x{ID_A}0.wav") == []  # part of a longer hex run
    assert connect.CONTACT_ID.fullmatch(ID_B)


# --------------------------------------------------------------------------- parsing

@pytest.mark.parametrize("framing", FRAMINGS)
def test_every_framing_gives_the_voice_legs(framing: str) -> None:
    legs = list(connect.parse_records(FRAMINGS[framing](records()), "ctr/2026/03/01/f1"))
    assert [leg.id for leg in legs] == [ID_A, ID_B]  # the chat contact is skipped
    assert all(leg.source == "ctr/2026/03/01/f1" for leg in legs)


def test_single_object_and_whitespace_between() -> None:
    assert [leg.id for leg in connect.parse_records(json.dumps(ctr()).encode(), "s")] == [ID_A]
    spaced = b"\xef\xbb\xbf \n" + json.dumps(ctr()).encode() + b" \r\n\t " + \
        json.dumps(transfer_leg()).encode() + b"\n\n"
    assert [leg.id for leg in connect.parse_records(spaced, "s")] == [ID_A, ID_B]
    assert list(connect.parse_records(b"", "s")) == []
    assert list(connect.parse_records(b"  \n", "s")) == []
    assert list(connect.parse_records(b"[]", "s")) == []


def test_leg_from_a_voice_record() -> None:
    leg = connect.leg_from_record(ctr(), "f1")
    assert leg is not None
    assert leg.id == ID_A
    assert leg.started == datetime(2026, 3, 1, 10, 15, 30, 512000, tzinfo=UTC)
    assert leg.numbers == {"customer": CALLER, "system": OUR_DDI,
                           "Attributes.callbackNumber": CALLBACK}
    assert leg.ours == {"system"}
    assert leg.names == {"customerName": "Jane Doe"}
    assert leg.accounts == {"AccountNumber": "AC-100234"}  # matched case-insensitively
    assert leg.audio == [AUDIO_A]  # bucket dropped, Recording and Recordings deduplicated
    assert leg.fields == ctr()
    assert "InitialContactId" in leg.fields  # the connector groups legs by it


def test_transfer_leg_numbers() -> None:
    leg = connect.leg_from_record(transfer_leg(), "f1")
    assert leg is not None
    assert leg.numbers["transfer"] == TRANSFER
    assert leg.audio == []
    assert leg.fields["InitialContactId"] == ID_A


def test_names_accounts_from_other_keys() -> None:
    record = ctr(Attributes={"first_name": "Jane", "LASTNAME": "Doe", "customer-id": "C-77",
                             "note": "prefers mornings"})
    leg = connect.leg_from_record(record, "f1")
    assert leg is not None
    assert leg.names == {"first_name+LASTNAME": "Jane Doe"}
    assert leg.accounts == {"customer-id": "C-77"}
    custom = connect.leg_from_record(record, "f1", account_keys=("note",), name_keys=("nope",))
    assert custom is not None and custom.names == {} and custom.accounts == {
        "note": "prefers mornings"}


def test_endpoints_and_recordings_that_are_not_numbers_or_objects() -> None:
    record = ctr(CustomerEndpoint={"Address": "jane@example.com", "Type": "EMAIL_ADDRESS"},
                 SystemEndpoint={"Address": OUR_DDI},  # no Type: taken as a number
                 Attributes=None,
                 Recording={"Location": "no-key-only-bucket", "Status": "AVAILABLE"},
                 Recordings=[
                     {"Location": "arn:aws:kinesisvideo:eu-west-2:1:stream/s",
                      "StorageType": "KINESIS_VIDEO_STREAM", "MediaStreamType": "AUDIO"},
                     {"Location": f"{BUCKET}/connect/acme/ScreenRecordings/{ID_A}.webm",
                      "StorageType": "S3", "MediaStreamType": "VIDEO"}],
                 InitiationTimestamp="not a time")
    leg = connect.leg_from_record(record, "f1")
    assert leg is not None
    assert leg.numbers == {"system": OUR_DDI}
    assert leg.names == {} and leg.accounts == {}
    assert leg.audio == [f"connect/acme/ScreenRecordings/{ID_A}.webm"]
    assert leg.started is None


@pytest.mark.parametrize("channel", ["CHAT", "TASK", "EMAIL", "chat"])
def test_non_voice_contacts_are_skipped(channel: str) -> None:
    assert connect.leg_from_record(ctr(Channel=channel), "f1") is None


def test_records_that_are_not_contacts_are_skipped() -> None:
    no_id = ctr()
    del no_id["ContactId"]
    data = json.dumps([no_id, 42, "text", None, ctr(Channel=None)]).encode()
    assert [leg.id for leg in connect.parse_records(data, "s")] == [ID_A]


# --------------------------------------------------------------------------- bad input

SECRET_TEXT = '{"ContactId":"x","CustomerEndpoint":{"Address":"+447700900999"'


@pytest.mark.parametrize(("data", "where"), [
    (SECRET_TEXT.encode(), len(SECRET_TEXT)),  # cut short
    (b'{"a":1}{"b":', 12),
    (b'{"a":1}\n{"b":2,}\n', 15),
    (b'[{"a":1} {"b":2}]', 9),  # missing comma
    (b'[{"a":1}, {"b":2}', 17),  # unterminated
    (b'[{"a":1}] {"b":2}', 10),  # data after the array
    ('{"n":"Zoë"}{'.encode(), 13),  # positions count bytes, not characters
])
def test_corrupt_json_names_the_byte_never_the_content(data: bytes, where: int) -> None:
    for call in (lambda: list(connect.parse_records(data, "s")),
                 lambda: connect.rewrite_records(data, [ID_A], "delete")):
        with pytest.raises(RecordError) as info:
            call()
        message = str(info.value)
        assert message.startswith(f"contact records: not JSON at byte {where} ")
        assert "7700" not in message and "ContactId" not in message
        err = info.value
        assert err.__cause__ is None and (err.__context__ is None or err.__suppress_context__)


def test_not_utf8_and_corrupt_gzip() -> None:
    with pytest.raises(RecordError, match=r"not UTF-8 at byte 6$"):
        list(connect.parse_records(b'{"a":"\xff"}', "s"))
    with pytest.raises(RecordError, match="corrupt gzip"):
        list(connect.parse_records(gzip.compress(concatenated(records()))[:40], "s"))
    with pytest.raises(ValueError, match="unknown action"):
        connect.rewrite_records(concatenated(records()), [ID_A], "shred")


# --------------------------------------------------------------------------- rewrite

@pytest.mark.parametrize("framing", FRAMINGS)
def test_delete_keeps_framing_and_untouched_bytes(framing: str) -> None:
    data = FRAMINGS[framing](records())
    out, count = connect.rewrite_records(data, [ID_A.upper()], "delete")
    assert count == 1
    expected = FRAMINGS[framing]([transfer_leg(), chat()])  # same framing, same bytes
    if framing == "gzip":
        out, expected = gzip.decompress(out), gzip.decompress(expected)
    assert out == expected
    again, count = connect.rewrite_records(out, [ID_A], "delete")
    assert (again, count) == (out, 0)


def test_delete_everything() -> None:
    out, count = connect.rewrite_records(array(records()), [ID_A, ID_B, ID_CHAT], "delete")
    assert count == 3 and json.loads(out) == []
    out, count = connect.rewrite_records(json.dumps(ctr()).encode(), [ID_A], "delete")
    assert (out, count) == (b"", 1)
    out, count = connect.rewrite_records(json_lines(records()), [ID_B, ID_CHAT], "delete")
    assert out == json_lines([ctr()])


def test_delete_in_a_compact_array_and_at_the_ends() -> None:
    data = json.dumps(records(), separators=(",", ":")).encode()
    for gone, left in ((ID_A, [transfer_leg(), chat()]), (ID_CHAT, [ctr(), transfer_leg()]),
                       (ID_B, [ctr(), chat()])):
        out, count = connect.rewrite_records(data, [gone], "delete")
        assert count == 1 and out == json.dumps(left, separators=(",", ":")).encode()


def test_nothing_matched_returns_the_same_bytes() -> None:
    data = concatenated(records())
    out, count = connect.rewrite_records(data, ["00000000-0000-4000-8000-000000000000"],
                                         "anonymise")
    assert out is data and count == 0
    assert connect.rewrite_records(b"", [ID_A], "delete") == (b"", 0)


def anonymised(record: dict[str, Any]) -> dict[str, Any]:
    """What the module documents anonymise does, spelled out independently."""
    out = copy.deepcopy(record)
    if out.get("CustomerEndpoint"):
        out["CustomerEndpoint"]["Address"] = ""
    if out.get("TransferredToEndpoint"):
        out["TransferredToEndpoint"]["Address"] = ""
    out["Attributes"] = dict.fromkeys(out["Attributes"], "")
    out["Tags"]["campaign"] = ""
    for rec in [out["Recording"], *out["Recordings"]]:
        if rec:
            rec.update(Location="", Status="DELETED", DeletionReason="erasure request")
    return out


@pytest.mark.parametrize("framing", FRAMINGS)
def test_anonymise_blanks_the_caller_and_is_idempotent(framing: str) -> None:
    data = FRAMINGS[framing](records())
    out, count = connect.rewrite_records(data, [ID_A, ID_B], "anonymise")
    assert count == 2
    assert decode_all(out) == [anonymised(ctr()), anonymised(transfer_leg()), chat()]
    assert out.startswith(b"\x1f\x8b") == (framing == "gzip")
    if framing == "lines":
        assert out.count(b"\n") == 3 and out.endswith(b"\n")
    expected = [anonymised(ctr()), anonymised(transfer_leg()), chat()]
    if framing in ("array", "lines", "concatenated"):  # the file's layout is kept
        assert out == FRAMINGS[framing](expected)
    again, count = connect.rewrite_records(out, [ID_A, ID_B], "anonymise")
    assert (again, count) == (out, 0)
    legs = list(connect.parse_records(out, "s"))
    assert legs[0].numbers == {"system": OUR_DDI} and legs[0].audio == []
    assert legs[0].names == {} and legs[0].accounts == {}
    assert CALLER.encode() not in (gzip.decompress(out) if framing == "gzip" else out)


def test_anonymise_clears_other_identifying_fields() -> None:
    record = ctr(Name="Call back Jane", Description="Jane Doe, renewal", CustomerId="cp-991",
                 ContactDetails={"Name": "Jane", "Numbers": ["07700 900126"], "Flag": True},
                 References=[{"Name": "ticket", "Type": "URL", "Value": "https://x/9"}],
                 VoiceIdResult={"GeneratedSpeakerId": "spk-1", "SpeakerEnrolled": False})
    out, count = connect.rewrite_records(json.dumps(record).encode(), [ID_A], "anonymise")
    new = json.loads(out)
    assert count == 1
    assert (new["Name"], new["Description"], new["CustomerId"]) == ("", "", "")
    assert new["ContactDetails"] == {"Name": "", "Numbers": [""], "Flag": True}
    assert new["References"] == [{"Name": "ticket", "Type": "URL", "Value": ""}]
    assert new["VoiceIdResult"] == {"GeneratedSpeakerId": "", "SpeakerEnrolled": False}
    assert new["Agent"] == record["Agent"] and new["Queue"] == record["Queue"]
    assert new["SystemEndpoint"] == record["SystemEndpoint"]
    assert new["Tags"]["aws:connect:instanceId"] == "i"


def test_anonymise_keeps_listed_paths() -> None:
    keep = ["attributes.accountnumber", "Recordings.Location", "ContactDetails.Numbers"]
    record = ctr(ContactDetails={"Name": "Jane", "Numbers": ["07700 900126"]})
    out, _ = connect.rewrite_records(json.dumps(record).encode(), [ID_A], "anonymise", keep)
    new = json.loads(out)
    assert new["Attributes"]["AccountNumber"] == "AC-100234"
    assert new["Attributes"]["customerName"] == ""
    assert new["Recordings"] == record["Recordings"]
    assert new["Recording"]["Status"] == "DELETED"
    assert new["ContactDetails"] == {"Name": "", "Numbers": ["07700 900126"]}


def test_an_already_deleted_recording_keeps_its_reason() -> None:
    gone = {"Location": "", "Status": "DELETED", "DeletionReason": "retention"}
    record = anonymised(ctr())
    record["Recording"] = gone
    data = json.dumps(record).encode()
    assert connect.rewrite_records(data, [ID_A], "anonymise") == (data, 0)


# --------------------------------------------------------------------------- sidecar paths

def test_sidecar_and_audio_paths() -> None:
    assert sidecar.sidecar_path("a/b/rec-0001.wav") == "a/b/rec-0001.json"
    assert sidecar.sidecar_path("rec-0001") == "rec-0001.json"
    assert sidecar.sidecar_path("a.d/b/rec.v2.mp3") == "a.d/b/rec.v2.json"
    assert sidecar.sidecar_path(r"share\calls\rec.WAV") == r"share\calls\rec.json"
    assert sidecar.sidecar_path("a/.hidden") == "a/.hidden.json"
    candidates = sidecar.audio_candidates("a/b/rec-0001.json")
    assert candidates[:3] == ["a/b/rec-0001.wav", "a/b/rec-0001.mp3", "a/b/rec-0001.gsm"]
    assert "a/b/rec-0001.WAV" in candidates and "a/b/rec-0001.json" not in candidates


# --------------------------------------------------------------------------- sidecar legs

def flat(direction: str | None = "inbound") -> dict[str, Any]:
    doc = {"call_id": "pbx-1740824130.17", "direction": direction,
           "from": "07700 900123", "to": "01632 960000", "agent": "201",
           "caller_name": "Jane Doe", "account": "AC-100234",
           "start_time": "2026-03-01T10:15:30Z", "duration": 337,
           "file": "rec-0001.wav", "notes": "wants a call back"}
    return {k: v for k, v in doc.items() if v is not None}


def leg_of(doc: dict[str, Any], path: str = "calls/2026/rec-0001.json",
           keys: SidecarKeys = sidecar.DEFAULT_KEYS) -> Any:
    return sidecar.leg_from_sidecar(json.dumps(doc).encode(), path, keys)


def test_flat_sidecar() -> None:
    leg = leg_of(flat())
    assert leg.id == "pbx-1740824130.17"
    assert leg.started == datetime(2026, 3, 1, 10, 15, 30, tzinfo=UTC)
    assert leg.numbers == {"from": "07700 900123", "to": "01632 960000", "agent": "201"}
    assert leg.names == {"caller_name": "Jane Doe"}
    assert leg.accounts == {"account": "AC-100234"}
    assert leg.audio == ["calls/2026/rec-0001.wav"]
    assert leg.source == "calls/2026/rec-0001.json"
    assert leg.fields == flat()


@pytest.mark.parametrize(("direction", "ours"), [
    ("inbound", {"to", "agent"}), ("Incoming", {"to", "agent"}),
    ("OUTBOUND", {"from", "agent"}), ("out", {"from", "agent"}),
    ("internal", {"agent"}), (None, {"agent"}),
])
def test_ours_follows_the_direction(direction: str | None, ours: set[str]) -> None:
    assert leg_of(flat(direction)).ours == ours


def test_nested_and_differently_spelled_keys() -> None:
    doc = {"UUID": "r-77", "CallDirection": "outbound", "Timestamp": 1772360130,
           "Caller": {"Number": "+44 1632 960001", "Name": "Acme Sales"},
           "Callee": {"Number": "07700 900123"}, "customer": {"name": "Jane Doe",
                                                             "account": "AC-100234"},
           "Agent": {"Extension": "201", "Name": "Agent Smith"},
           "AltNumber": "+447700900123"}
    leg = leg_of(doc)
    assert leg.id == "r-77"
    assert leg.started == datetime.fromtimestamp(1772360130, UTC)
    # "caller.number" is a default path for "from"; "callee.number" for "to"
    assert leg.numbers["from"] == "+44 1632 960001"
    assert leg.numbers["to"] == "07700 900123"
    assert leg.numbers["agent"] == "201"
    assert leg.numbers["AltNumber"] == "+447700900123"  # an unknown key: scanned
    assert leg.ours == {"from", "agent"}
    assert leg.names == {"Caller.Name": "Acme Sales", "customer.name": "Jane Doe"}
    assert leg.accounts == {"customer.account": "AC-100234"}
    assert "Agent Smith" not in leg.names.values()


def test_unknown_schema_still_yields_phones() -> None:
    doc = {"meta": {"parties": [{"role": "ext", "tel": "0207 946 0000x"},
                                {"role": "cust", "tel": "+44 (0)7700 900123"}]},
           "ref": "01234", "batch": "00000000000000000017", "when": "2026-03-01",
           "amount": "0.00", "line": "01632 960123"}
    leg = leg_of(doc, "x/unknown.json")
    assert leg.id == "unknown"  # no id key: the file stem
    assert leg.numbers == {"meta.parties.1.tel": "+44 (0)7700 900123",
                           "line": "01632 960123"}
    assert leg.ours == set() and leg.names == {} and leg.audio == []


def test_custom_keys_for_a_vendor_schema() -> None:
    keys = SidecarKeys(id=("rec.guid",), started=("rec.begin",),
                       numbers={"from": ("parties.a",), "to": ("parties.b",)},
                       names=("parties.a_name",), accounts=("crm.ref",), direction=("dir",),
                       agent=("parties.ext",), audio=("rec.media",))
    doc = {"rec": {"guid": "G1", "begin": "2026-03-01 10:15:30", "media": "../../etc/x.wav"},
           "dir": "in", "parties": {"a": "07700900123", "b": "01632960000", "ext": "12",
                                    "a_name": "Jane"}, "crm": {"ref": 99812}}
    leg = leg_of(doc, "share/c/rec.json", keys)
    assert leg.id == "G1"
    assert leg.started == datetime(2026, 3, 1, 10, 15, 30)
    assert leg.numbers == {"from": "07700900123", "to": "01632960000", "agent": "12"}
    assert leg.ours == {"to", "agent"}
    assert leg.names == {"parties.a_name": "Jane"}
    assert leg.accounts == {"crm.ref": "99812"}
    assert leg.audio == ["share/c/x.wav"]  # a name in the JSON never leads out of the folder


def test_first_and_last_names_join_and_agent_names_are_not_numbers() -> None:
    doc = {"first_name": "Jane", "LastName": "Doe", "agent": "Agent Smith",
           "recording": {"file": "r.txt"}}
    leg = leg_of(doc)
    assert leg.names == {"first_name+LastName": "Jane Doe"}
    assert "agent" not in leg.numbers
    assert leg.audio == []  # not an audio file name


# --------------------------------------------------------------------------- sidecar rewrite

def test_anonymise_sidecar() -> None:
    doc = {**flat(), "notes": "call back on 07700 900124 or jane@example.com",
           "contacts": [{"email": "Jane.Doe@Example.com"}, {"tel": "+447700900125"}],
           "tags": ["vip", 7, None, True]}
    data = json.dumps(doc, indent=2).encode() + b"\n"
    out, changed = sidecar.rewrite_sidecar(data, "anonymise")
    assert changed and out.endswith(b"}\n") and b'\n  "' in out  # layout kept
    new = json.loads(out)
    for key in ("from", "to", "agent", "caller_name", "account", "notes"):
        assert new[key] == "", key
    assert new["contacts"] == [{"email": ""}, {"tel": ""}]
    for key in ("call_id", "direction", "start_time", "duration", "file", "tags"):
        assert new[key] == doc[key], key
    again, changed = sidecar.rewrite_sidecar(out, "anonymise")
    assert again is out and not changed
    leg = sidecar.leg_from_sidecar(out, "rec-0001.json")
    assert leg.numbers == {} and leg.names == {} and leg.accounts == {}


def test_anonymise_sidecar_keeps_listed_paths() -> None:
    doc = {**flat(), "parties": [{"tel": "07700 900123"}, {"tel": "01632 960000"}],
           "customer": {"name": "Jane Doe"}}
    data = json.dumps(doc, separators=(",", ":")).encode()
    out, changed = sidecar.rewrite_sidecar(data, "anonymise",
                                           keep=["TO", "agent", "parties.tel", "account"])
    new = json.loads(out)
    assert changed and b", " not in out  # compact stays compact
    assert (new["to"], new["agent"], new["account"]) == ("01632 960000", "201", "AC-100234")
    assert new["parties"] == doc["parties"]  # a kept path covers every list item
    assert new["from"] == "" and new["caller_name"] == ""
    assert new["customer"]["name"] == ""


def test_sidecar_rewrite_actions() -> None:
    data = json.dumps(flat()).encode()
    with pytest.raises(ValueError, match="connector"):
        sidecar.rewrite_sidecar(data, "delete")
    with pytest.raises(ValueError, match="unknown action"):
        sidecar.rewrite_sidecar(data, "shred")
    clean = json.dumps({"id": "r1", "duration": 12}).encode()
    assert sidecar.rewrite_sidecar(clean, "anonymise") == (clean, False)


@pytest.mark.parametrize(("data", "message"), [
    (b'{"from": "07700 900123", "to": ', "sidecar: not JSON at byte 31 "),
    (b'{"from": "07700 900123",}', "sidecar: not JSON at byte 24 "),
    (b"", "sidecar: not JSON at byte 0 "),
    (b'["07700 900123"]', "sidecar: expected a JSON object, found list"),
    (b'{"from": "\xff07700 900123"}', "sidecar: not UTF-8 at byte 10"),
])
def test_bad_sidecars(data: bytes, message: str) -> None:
    for call in (lambda: sidecar.leg_from_sidecar(data, "r.json"),
                 lambda: sidecar.rewrite_sidecar(data, "anonymise")):
        with pytest.raises(SidecarError) as info:
            call()
        assert str(info.value).startswith(message)
        assert "7700" not in str(info.value)
        assert info.value.__cause__ is None


def test_sidecar_with_bom() -> None:
    leg = sidecar.leg_from_sidecar(b"\xef\xbb\xbf" + json.dumps(flat()).encode(), "r.json")
    assert leg.id == "pbx-1740824130.17"
