"""The recordings connector on a sidecar store: audio with a JSON file beside each recording,
on a local folder and over SMB (Samba started on loopback).

The tree is a small call centre's three days: Jane Doe's calls in several sidecar spellings
(flat, nested ``customer.phone``, no direction), a transcoded and a redacted copy of her
first call, another Jane Doe on another number (a look-alike), a recording whose stem only
resembles hers (``rec-00011``), a recording in the next day's folder with the same file name
as hers, a sidecar whose audio is lost, audio with no sidecar and a corrupt sidecar.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import io
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from agent.engine import SearchEngine
from agent.errors import ConnectorError
from tests.support.audio import convert, soxi_seconds, wav_bytes
from tests.support.engines import engines
from tests.support.recordings import by_locator, connector, item, search

if TYPE_CHECKING:
    from tests.file_servers import Share

pytest_plugins = ("tests.file_servers",)

OUR_NUMBER = "01632 960000"
JANE_PHONE = "07700 900111"
JANE_ACCOUNT = "AC-100234"
JANE = {"ref": "jane", "phone": [JANE_PHONE], "name": "Jane Doe"}
DAY1, DAY2, DAY3 = "2024/03/01", "2024/03/02", "2024/03/03"
# Locators: the JSON's id, else the sidecar's folder and stem (stems repeat across days).
FIRST = f"{DAY1}/rec-0001"  # Jane, inbound to our number: no review
NESTED = "c-0002"  # Jane, outbound, her number under customer.phone: no review
OUTSIDE = "c-0003"  # Jane to an outside number: review
TO_US = "c-0004"  # Jane, no direction, to our number: no review
LOOKALIKE = "c-0005"  # another Jane Doe on another number
LOST = "c-0006"  # Jane's account; its audio is missing
SECONDS = 2.0


@pytest.fixture(scope="module")
def audio(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """Two-second recordings as wav, mp3 and gsm (converted by sox)."""
    folder = tmp_path_factory.mktemp("sidecar-audio")
    wav = folder / "call.wav"
    wav.write_bytes(wav_bytes(SECONDS))
    return {"wav": wav.read_bytes(),
            "mp3": convert(wav, folder / "call.mp3").read_bytes(),
            "gsm": convert(wav, folder / "call.gsm").read_bytes()}


@pytest.fixture(scope="module")
def mp3_seconds(audio: dict[str, bytes], tmp_path_factory: pytest.TempPathFactory) -> float:
    """The MP3's length as sox reads it (the encoder pads the last frame)."""
    path = tmp_path_factory.mktemp("sidecar-mp3") / "call.mp3"
    path.write_bytes(audio["mp3"])
    return soxi_seconds(path)


def sidecars() -> dict[str, dict[str, Any]]:
    """Sidecar path -> JSON, in the spellings recorders use."""
    return {
        f"{DAY1}/rec-0001.json": {  # no id: the stem names it
            "direction": "inbound", "from": JANE_PHONE, "to": OUR_NUMBER, "agent": "201",
            "caller_name": "Jane Doe", "account": JANE_ACCOUNT,
            "start_time": "2024-03-01T09:00:00Z", "duration": 2, "file": "rec-0001.wav"},
        f"{DAY1}/rec-00011.json": {
            "call_id": "c-0011", "direction": "inbound", "from": "07700 900222",
            "to": OUR_NUMBER, "caller_name": "Bob Brown", "start_time": "2024-03-01T09:30:00Z"},
        f"{DAY1}/rec-0002.json": {
            "UUID": NESTED, "CallDirection": "OUTBOUND", "Caller": {"Number": OUR_NUMBER},
            "Agent": {"Extension": "202"}, "started_at": "2024-03-01T11:00:00Z",
            "customer": {"phone": "+44 7700 900111", "name": "Jane Doe"}, "duration": 2,
            "notes": "called back on 07700 900111 about the renewal"},
        f"{DAY1}/rec-0001-b.json": {  # a recording of its own, not a copy of rec-0001
            "call_id": "c-0012", "direction": "inbound", "from": "07700 900222",
            "to": OUR_NUMBER, "start_time": "2024-03-01T10:00:00Z"},
        f"{DAY2}/rec-0001.json": {  # same file name as Jane's first call, Bob's call
            "direction": "inbound", "from": "07700 900222", "to": OUR_NUMBER,
            "caller_name": "Bob Brown", "start_time": "2024-03-02T08:00:00Z"},
        f"{DAY2}/rec-0003.json": {
            "id": OUTSIDE, "from": JANE_PHONE, "to": "07700 900444", "caller_name": "Jane Doe",
            "start_time": "2024-03-02T10:00:00Z"},
        f"{DAY2}/rec-0004.json": {
            "id": TO_US, "from": "+447700900111", "to": OUR_NUMBER,
            "start_time": "2024-03-02T11:00:00Z"},
        f"{DAY2}/rec-0005.json": {
            "id": LOOKALIKE, "direction": "inbound", "from": "07700 900555",
            "to": OUR_NUMBER, "caller_name": "Jane Doe", "account": "AC-999999",
            "start_time": "2024-03-02T12:00:00Z"},
        f"{DAY3}/rec-0006.json": {
            "id": LOST, "direction": "inbound", "from": "01632 960777", "to": OUR_NUMBER,
            "account": JANE_ACCOUNT, "file": "rec-0006.wav",
            "start_time": "2024-03-03T09:00:00Z"},
    }


def tree(audio: dict[str, bytes]) -> dict[str, bytes]:
    files = {path: json.dumps(doc, indent=2).encode() + b"\n"
             for path, doc in sidecars().items()}
    files.update({
        f"{DAY1}/rec-0001.wav": audio["wav"],
        f"{DAY1}/rec-0001.mp3": audio["mp3"],  # the transcoded copy
        f"{DAY1}/rec-0001-redacted.wav": audio["wav"],
        f"{DAY1}/rec-00011.wav": audio["wav"],  # not a copy of rec-0001
        f"{DAY1}/rec-0001-b.wav": audio["wav"],  # nor is this: it has its own sidecar
        f"{DAY1}/rec-0002.gsm": audio["gsm"],
        f"{DAY2}/rec-0001.wav": audio["wav"],
        f"{DAY2}/rec-0003.mp3": audio["mp3"],
        f"{DAY2}/rec-0004.wav": audio["wav"],
        f"{DAY2}/rec-0005.wav": audio["wav"],
        f"{DAY3}/rec-0007.wav": audio["wav"],  # audio without a sidecar
        f"{DAY3}/rec-0002.wav": audio["wav"],  # without a sidecar in its own folder
        # a corrupt sidecar (cut short): reported, the search goes on; its recording is
        # still not a copy of rec-0001
        f"{DAY1}/rec-0001-c.wav": audio["wav"],
        f"{DAY1}/rec-0001-c.json": b'{"from": "07700 900111", "to": ',
    })
    return files


@pytest.fixture(params=("local", "smb"))
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store(make_share: Callable[..., Share], audio: dict[str, bytes], kind: str) -> Share:
    return filled(make_share(kind), audio)


@pytest.fixture
def local(make_share: Callable[..., Share], audio: dict[str, bytes]) -> Share:
    return filled(make_share("local"), audio)


def filled(share: Share, audio: dict[str, bytes]) -> Share:
    for path, data in tree(audio).items():
        share.write(path, data)
    return share


@pytest.fixture
def engine_for(tmp_path: Path) -> Iterator[Callable[[Share], SearchEngine]]:
    def entry(share: Share) -> dict[str, Any]:
        return {**share.entry("calls"), "connector": "recordings", "layout": "sidecar",
                "our_numbers": [OUR_NUMBER], "timeout": 60}

    with engines(tmp_path) as make:
        yield lambda share: make(entry(share))










def files(share: Share) -> set[str]:
    return {p.relative_to(share.path).as_posix() for p in share.path.rglob("*") if p.is_file()}


# --------------------------------------------------------------------------- search


def test_phone_finds_janes_calls_and_review_follows_the_other_party(
        engine_for: Callable[[Share], SearchEngine], store: Share) -> None:
    engine = engine_for(store)
    result = search(engine, JANE)[0]
    found = by_locator(result)
    assert set(found) == {FIRST, NESTED, OUTSIDE, TO_US}
    assert all(f.kind == "recording" and f.container == "calls" for f in found.values())
    assert all(f.strength == "strong" and "phone" in f.matched for f in found.values())
    # the other Jane Doe calls from another number: a look-alike, dropped
    assert LOOKALIKE not in found and result.excluded_lookalikes >= 1
    # only the call whose other party is an outside number goes to review; our number,
    # our agent and the direction's own side are our staff
    assert found[OUTSIDE].review and "third person" in found[OUTSIDE].review
    assert not any(found[c].review for c in (FIRST, NESTED, TO_US))
    report = connector(engine).last_report
    # the corrupt sidecar is reported by its reason, without what it holds
    assert len(report.unreadable) == 1 and "not JSON" in report.unreadable[0]
    assert "900111" not in report.unreadable[0]
    # counted before attribution: the look-alike's call and its recording are in
    assert report.calls == 5 and report.audio == 7 and report.missing_audio == 0


def test_account_finds_strongly_and_counts_the_lost_audio(
        engine_for: Callable[[Share], SearchEngine], local: Share) -> None:
    engine = engine_for(local)
    found = by_locator(search(engine, {"id": {"account": JANE_ACCOUNT}})[0])
    assert set(found) == {FIRST, LOST}
    assert all(f.strength == "strong" and f.matched == ["account"] for f in found.values())
    assert connector(engine).last_report.missing_audio == 1


def test_name_alone_is_weak_and_a_contradicting_number_is_a_lookalike(
        engine_for: Callable[[Share], SearchEngine], local: Share) -> None:
    engine = engine_for(local)
    by_name = by_locator(search(engine, {"name": "Jane Doe"})[0])
    assert {FIRST, NESTED, OUTSIDE, LOOKALIKE} <= set(by_name)
    assert all(f.strength == "weak" for f in by_name.values())
    # the name with her number: the other Jane Doe's call is dropped
    both = search(engine, {"name": "Jane Doe", "phone": [JANE_PHONE]})[0]
    assert LOOKALIKE not in by_locator(both) and both.excluded_lookalikes == 1


def test_a_sidecar_the_share_will_not_open_is_reported_and_the_search_goes_on(
        engine_for: Callable[[Share], SearchEngine], make_share: Callable[..., Share],
        audio: dict[str, bytes]) -> None:
    """Samba logs in as an ordinary user: a root-owned 000 sidecar is closed to it."""
    share = filled(make_share("smb"), audio)
    closed = share.path / DAY2 / "rec-0004.json"
    os.chown(closed, 0, 0)
    closed.chmod(0)
    engine = engine_for(share)
    found = by_locator(search(engine, JANE)[0])
    assert set(found) == {FIRST, NESTED, OUTSIDE}
    unreadable = connector(engine).last_report.unreadable
    assert len(unreadable) == 2 and "permission denied" in unreadable


# --------------------------------------------------------------------------- read


def test_read_gives_audio_with_format_and_duration_and_the_sidecar(
        engine_for: Callable[[Share], SearchEngine], store: Share,
        audio: dict[str, bytes], mp3_seconds: float) -> None:
    engine = engine_for(store)
    by_phone, by_account = search(engine, JANE, {"id": {"account": JANE_ACCOUNT}})
    found = {**by_locator(by_phone), **by_locator(by_account)}
    records = {r["recording_id"]: r for r in connector(engine).read(list(found.values()))}
    first = {a["path"]: a for a in records[FIRST]["audio"]}
    assert set(first) == {f"{DAY1}/rec-0001.wav", f"{DAY1}/rec-0001.mp3",
                          f"{DAY1}/rec-0001-redacted.wav"}
    wav = first[f"{DAY1}/rec-0001.wav"]
    assert base64.b64decode(wav["content_base64"]) == audio["wav"]
    assert wav["format"] == "wav" and wav["duration_seconds"] == SECONDS
    mp3 = first[f"{DAY1}/rec-0001.mp3"]
    assert base64.b64decode(mp3["content_base64"]) == audio["mp3"]
    assert mp3["format"] == "mp3"
    assert mp3["duration_seconds"] == pytest.approx(mp3_seconds, abs=0.03)
    gsm = records[NESTED]["audio"]
    assert [a["path"] for a in gsm] == [f"{DAY1}/rec-0002.gsm"]
    assert gsm[0]["format"] == "gsm" and gsm[0]["duration_seconds"] == SECONDS
    # the metadata is the sidecar as written, in JSON and CSV
    legs = json.loads(records[FIRST]["metadata_json"])["legs"]
    assert legs == [sidecars()[f"{DAY1}/rec-0001.json"]]
    rows = list(csv.DictReader(io.StringIO(records[NESTED]["metadata_csv"])))
    assert json.loads(rows[0]["customer"]) == {"phone": "+44 7700 900111", "name": "Jane Doe"}
    assert rows[0]["audio_format"] == "gsm"
    assert records[OUTSIDE]["disclosure_review"] is True
    assert "disclosure_review" not in records[FIRST]
    assert records[LOST]["audio"] == [] and records[LOST]["missing_audio"] == \
        [f"{DAY3}/rec-0006.wav"]


# --------------------------------------------------------------------------- erase


def test_delete_removes_audio_copies_and_sidecar_and_nothing_else(
        engine_for: Callable[[Share], SearchEngine], store: Share) -> None:
    engine = engine_for(store)
    found = by_locator(search(engine, JANE)[0])
    before = files(store)
    outcomes = list(connector(engine).erase([item(found[FIRST], "delete")]))
    assert [o.status for o in outcomes] == ["done"], outcomes
    assert outcomes[0].counts == {"audio_files": 3, "records": 1}
    assert before - files(store) == {f"{DAY1}/rec-0001.wav", f"{DAY1}/rec-0001.mp3",
                                     f"{DAY1}/rec-0001-redacted.wav", f"{DAY1}/rec-0001.json"}
    # the stem look-alikes, the same name on another day and the other Jane Doe stay
    assert {f"{DAY1}/rec-00011.wav", f"{DAY1}/rec-0001-b.wav", f"{DAY1}/rec-0001-b.json",
            f"{DAY1}/rec-0001-c.wav", f"{DAY1}/rec-0001-c.json",
            f"{DAY2}/rec-0001.wav", f"{DAY2}/rec-0001.json", f"{DAY2}/rec-0005.wav"} \
        <= files(store)
    again = by_locator(search(engine, JANE)[0])
    assert FIRST not in again and NESTED in again
    second = list(connector(engine).erase([item(found[FIRST], "delete")]))
    assert [o.status for o in second] == ["absent"]


def test_anonymise_deletes_audio_and_blanks_the_sidecar_but_kept_fields(
        engine_for: Callable[[Share], SearchEngine], store: Share) -> None:
    engine = engine_for(store)
    found = by_locator(search(engine, JANE)[0])
    keep = ["CallDirection", "Agent", "started_at", "duration"]
    outcomes = list(connector(engine).erase([item(found[NESTED], "anonymise", keep=keep)]))
    assert [o.status for o in outcomes] == ["done"], outcomes
    assert outcomes[0].counts == {"audio_files": 1, "records": 1}
    assert not (store.path / DAY1 / "rec-0002.gsm").exists()
    doc = json.loads((store.path / DAY1 / "rec-0002.json").read_text())
    assert doc == {"UUID": NESTED, "CallDirection": "OUTBOUND", "Caller": {"Number": ""},
                   "Agent": {"Extension": "202"}, "started_at": "2024-03-01T11:00:00Z",
                   "customer": {"phone": "", "name": ""}, "duration": 2, "notes": ""}
    assert NESTED not in by_locator(search(engine, JANE)[0])
    second = list(connector(engine).erase([item(found[NESTED], "anonymise", keep=keep)]))
    assert [o.status for o in second] == ["absent"]


def test_a_folder_that_refuses_deletion_fails_the_item(
        engine_for: Callable[[Share], SearchEngine], local: Share) -> None:
    engine = engine_for(local)
    found = by_locator(search(engine, JANE)[0])
    before = files(local)
    with immutable(local.path / DAY1):
        try:
            outcomes = list(connector(engine).erase([item(found[FIRST], "delete")]))
        except ConnectorError as exc:  # the executor fails the whole batch
            assert str(exc) == "permission denied"
            outcomes = []
    assert all(o.status == "failed" for o in outcomes)
    assert files(local) == before
    assert FIRST in by_locator(search(engine, JANE)[0])


def test_a_sidecar_the_share_refuses_to_delete_fails_the_item_after_its_audio(
        engine_for: Callable[[Share], SearchEngine], local: Share) -> None:
    engine = engine_for(local)
    found = by_locator(search(engine, JANE)[0])
    with immutable(local.path / DAY1 / "rec-0001.json"):
        outcomes = list(connector(engine).erase([item(found[FIRST], "delete")]))
    assert [o.status for o in outcomes] == ["failed"]
    assert outcomes[0].detail == "the call's records are still there after deleting them"
    # the audio went first; the record left behind still finds a retry
    assert not any((local.path / DAY1 / n).exists()
                   for n in ("rec-0001.wav", "rec-0001.mp3", "rec-0001-redacted.wav"))
    assert FIRST in by_locator(search(engine, JANE)[0])
    retry = list(connector(engine).erase([item(found[FIRST], "delete")]))
    assert [o.status for o in retry] == ["done"]
    assert not (local.path / DAY1 / "rec-0001.json").exists()


@contextlib.contextmanager
def immutable(path: Path) -> Iterator[None]:
    """Tests run as root, who ignores a read-only mode; an immutable file or folder refuses
    even root's unlink (the folder's entries cannot change)."""
    # e2fsprogs is an Essential Debian package; a filesystem without the immutable flag
    # cannot run this check at all: fail loudly rather than pass unchecked
    if shutil.which("chattr") is None:
        pytest.fail("chattr (Debian e2fsprogs) is needed to make a folder refuse root")
    done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False)
    if done.returncode != 0:
        pytest.fail("the test folder's filesystem cannot make a file immutable (chattr +i)")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], capture_output=True, check=True)


# --------------------------------------------------------------------------- discover


def test_discover_counts_orphans_on_both_sides(
        engine_for: Callable[[Share], SearchEngine], local: Share) -> None:
    containers = {c.name: c for c in connector(engine_for(local)).discover()}
    records = containers["sidecar files"]
    assert records.items == len(sidecars())
    assert records.notes == {"records_without_audio": 1, "unreadable": 1}
    media = containers["audio"]
    assert media.items == 13
    assert media.notes["formats"] == {"wav": 10, "mp3": 2, "gsm": 1}
    # rec-0007 and the rec-0002 in another day's folder have no sidecar; copies and the
    # audio beside the corrupt sidecar have one
    assert media.notes["audio_without_record"] == 2
