"""Searching what is said in recordings (``transcripts = true``; needs pocketsphinx).

Every PCM WAV recording in the store is transcribed once per connector (kept in memory
only, keyed by path, size and time, never written anywhere) and searched for the request's
phone numbers spoken digit by digit, and, by keyword spotting, for its account ids spelled
out and its names. A number said in a
call is a mention, not proof whose call it is: speech-only findings are weak (left out of a
plan unless a person includes them) and carry a review note. Transcripts are personal data:
erasing a call drops its transcripts with its audio, and nothing of them is logged.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import structlog

from agent.errors import ConfigError
from connectors.files.transport import Entry
from connectors.recordings.layout import extension_of
from connectors.recordings.matching import Wanted
from connectors.recordings.store import Store

log = structlog.get_logger("connectors.recordings")
SPOKEN_REVIEW = ("found by an identifier spoken in the recording, not by its call record: "
                 "confirm whose call it is before acting on it")
TRANSCRIBED = frozenset({"wav"})  # PCM WAV; other formats are counted as not transcribed


class SpokenSearch:
    def __init__(self, system: str, max_bytes: int) -> None:
        from connectors.recordings import transcripts

        if not transcripts.available():
            raise ConfigError(f"system {system!r}: transcripts = true needs the pocketsphinx "
                              "package (pip install 'dsr-agent[transcripts]')",
                              key=f"systems.{system}.transcripts")
        self._module = transcripts
        self._system = system
        self._max_bytes = max_bytes
        self._transcriber: Any = None  # the model loads on first use (seconds)
        self._cache: dict[tuple[str, int, float], Any] = {}
        self._spots: dict[tuple[tuple[str, int, float], str], bool] = {}
        self.not_transcribed = 0

    def transcript(self, store: Store, entry: Entry) -> Any:
        """The recording's transcript, or None (not a PCM WAV, too large, unreadable)."""
        key = (entry.path, entry.size, entry.mtime)
        if key in self._cache:
            return self._cache[key]
        found = None
        if extension_of(entry.path) in TRANSCRIBED and entry.size <= self._max_bytes:
            with store.open_read(entry.path) as stream:
                data = stream.read()
            if self._transcriber is None:
                self._transcriber = self._module.Transcriber()
            try:
                found = self._transcriber.transcribe_wav(data)
            except self._module.TranscriptError as exc:
                log.warning("recordings.transcript.failed", system=self._system,
                            problem=type(exc).__name__)
        if found is None:
            self.not_transcribed += 1
        self._cache[key] = found
        return found

    def matched(self, store: Store, entry: Entry, transcript: Any, want: Wanted) -> set[str]:
        """The subject's identifier ids said in the recording: numbers from the transcript's
        digit runs; account ids and names also by keyword spotting, which hears a spelled
        "c a n one two three" or a name the free transcript mishears."""
        ids = {ident for value, ident in want.phones.items()
               if self._module.matches(transcript, "phone", value)}
        phrases: dict[str, str] = {}
        for kind, wanted in (("account", want.accounts), ("name", want.names)):
            for value, ident in wanted.items():
                if self._module.matches(transcript, kind, value):
                    ids.add(ident)
                    continue
                for form in self._module.spoken_forms(kind, value):
                    phrases[form] = ident
        heard = self._spotted(store, entry, sorted(phrases)) if phrases else set()
        return ids | {phrases[p] for p in heard}

    def _spotted(self, store: Store, entry: Entry, phrases: list[str]) -> set[str]:
        """The phrases heard in the recording (each asked once per recording)."""
        key = (entry.path, entry.size, entry.mtime)
        new = [p for p in phrases if (key, p) not in self._spots]
        if new:
            with store.open_read(entry.path) as stream:
                data = stream.read()
            try:
                samples, rate = self._module.read_wav(data)
                got = set(self._transcriber.spot(samples.tobytes(), rate, new))
            except self._module.TranscriptError:
                got = set()
            for phrase in new:
                self._spots[(key, phrase)] = phrase in got
        return {p for p in phrases if self._spots[(key, p)]}

    def forget(self, paths: Iterable[str]) -> None:
        """Drop the transcripts of erased recordings."""
        gone = set(paths)
        for key in [k for k in self._cache if k[0] in gone]:
            del self._cache[key]
        for spot in [k for k in self._spots if k[0][0] in gone]:
            del self._spots[spot]
