"""Searching what is said in recordings (``transcripts = true``, pocketsphinx): a call whose
record does not name the caller, and a recording no record names, found by the number
spoken in them; weak, for a person to confirm; transcripts in the export; erasure drops them.

Speech is made by espeak-ng (voice ``en-us+klatt``) at 16 kHz; assertions are on digit
strings, never on free text.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from agent.engine import SearchEngine
from connectors.recordings.spoken import SPOKEN_REVIEW
from tests.support.audio import speech_wav, wav_bytes
from tests.support.engines import engines
from tests.support.recordings import by_locator, connector, item, search

if TYPE_CHECKING:
    from tests.file_servers import Share

pytest_plugins = ("tests.file_servers",)

SAID = "hello my phone number is 0 7 7 0 0 9 0 0 1 1 1 thank you"
ACCOUNT_SAID = "this is jane doe, my account is c a n 1 2 3"
VOICE = "en-us+klatt"


@pytest.fixture
def store(make_share: Callable[..., Share], tmp_path: Path) -> Share:
    share = make_share("local")
    # a withheld-number call: the record names nobody, the caller says her number
    speech_wav(SAID, share.path / "2024/03/01/rec-0001.wav", voice=VOICE) \
        if (share.path / "2024/03/01").mkdir(parents=True) is None else None
    share.write("2024/03/01/rec-0001.json", json.dumps(
        {"id": "rec-0001", "direction": "inbound", "from": "anonymous",
         "to": "01632 960000", "started": "2024-03-01T10:15:00Z"}))
    # a recording with no record at all, the same words
    speech_wav(SAID, share.path / "2024/03/02/lost-0002.wav", voice=VOICE) \
        if (share.path / "2024/03/02").mkdir(parents=True) is None else None
    # a call where she spells her account and says her name
    speech_wav(ACCOUNT_SAID, share.path / "2024/03/01/rec-0004.wav", voice=VOICE)
    share.write("2024/03/01/rec-0004.json", json.dumps(
        {"id": "rec-0004", "direction": "inbound", "from": "withheld",
         "to": "01632 960000"}))
    # a call about something else: a tone
    share.write("2024/03/01/rec-0003.wav", wav_bytes(1.0))
    share.write("2024/03/01/rec-0003.json", json.dumps(
        {"id": "rec-0003", "direction": "inbound", "from": "01632 960333",
         "to": "01632 960000"}))
    return share


@pytest.fixture
def engine(store: Share, tmp_path: Path) -> Iterator[SearchEngine]:
    with engines(tmp_path) as make:
        yield make({**store.entry("calls"), "connector": "recordings", "layout": "sidecar",
                    "our_numbers": ["01632 960000"], "transcripts": True, "timeout": 120})


def test_spoken_number_finds_the_recordings_weakly_for_review(engine: SearchEngine) -> None:
    [result] = search(engine, {"phone": ["07700 900111"]})
    found = by_locator(result)
    assert set(found) == {"2024/03/01/rec-0001", "2024/03/02/lost-0002.wav"}
    assert all(f.strength == "weak" and f.review == SPOKEN_REVIEW for f in found.values())
    notes = result.systems[0].public()
    assert notes["transcribed"] == 4 and notes["not_transcribed"] == 0
    # a number nobody said finds nothing
    assert search(engine, {"phone": ["07700 900222"]})[0].findings == []


def test_spelled_account_and_name_are_found_by_keyword_spotting(engine: SearchEngine) -> None:
    by_account = by_locator(search(engine, {"id": {"account": "CAN123"}})[0])
    assert set(by_account) == {"2024/03/01/rec-0004"}
    assert by_account["2024/03/01/rec-0004"].strength == "weak"
    assert "2024/03/01/rec-0004" in by_locator(search(engine, {"name": "Jane Doe"})[0])
    assert search(engine, {"id": {"account": "XYZ987"}})[0].findings == []


def test_export_carries_the_transcript_and_erasure_removes_the_recording(
        engine: SearchEngine, store: Share) -> None:
    found = by_locator(search(engine, {"phone": ["07700 900111"]})[0])
    records = {r["recording_id"]: r for r in connector(engine).read(list(found.values()))}
    [said] = records["2024/03/01/rec-0001"]["transcripts"]
    assert any("07700900111" in run for run in said["digits"])
    assert records["2024/03/02/lost-0002.wav"]["audio"][0]["format"] == "wav"
    outcomes = list(connector(engine).erase([item(found["2024/03/02/lost-0002.wav"],
                                                  "delete")]))
    assert [o.status for o in outcomes] == ["done"]
    assert not (store.path / "2024/03/02/lost-0002.wav").exists()
    assert (store.path / "2024/03/01/rec-0001.wav").exists()
    assert set(by_locator(search(engine, {"phone": ["07700 900111"]})[0])) == {
        "2024/03/01/rec-0001"}
