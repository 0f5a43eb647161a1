"""Searching what is said in recordings (``transcripts = true``; needs pocketsphinx).

Every PCM WAV recording in the store is transcribed once per connector (kept in memory
only, keyed by path, size and time, never written anywhere) and searched for the request's
phone numbers and account ids spoken digit by digit, and for its names. A number said in a
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

    def matched(self, transcript: Any, want: Wanted) -> set[str]:
        """The subject's identifier ids said in the recording."""
        ids = {ident for value, ident in want.phones.items()
               if self._module.matches(transcript, "phone", value)}
        ids |= {ident for value, ident in want.accounts.items()
                if self._module.matches(transcript, "account", value)}
        ids |= {ident for value, ident in want.names.items()
                if self._module.matches(transcript, "name", value)}
        return ids

    def forget(self, paths: Iterable[str]) -> None:
        """Drop the transcripts of erased recordings."""
        gone = set(paths)
        for key in [k for k in self._cache if k[0] in gone]:
            del self._cache[key]
