"""A folder of recordings, each with a JSON sidecar beside it (``rec-0001.wav`` +
``rec-0001.json``) describing the call. The sidecars are read once per operation; a
recording's copies are the files in its folder that share its name up to a separator
(``rec-0001.mp3``, ``rec-0001-redacted.wav``), never a file elsewhere that happens to share
the name. Erasure deletes the sidecar with the audio, or rewrites it with the caller's
details blanked.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Iterator, Sequence
from typing import ClassVar

import structlog

from agent.errors import ConnectorError
from connectors.files.transport import Skipped
from connectors.recordings.layout import AUDIO_EXTENSIONS, Layout, extension_of
from connectors.recordings.matching import Wanted
from connectors.recordings.model import Call, Leg
from connectors.recordings.sidecar import SidecarError, leg_from_sidecar, rewrite_sidecar

log = structlog.get_logger("connectors.recordings")
MAX_SIDECAR = 16 << 20


def _stem(name: str) -> str:
    return name.split(".", 1)[0]


def _shares_stem(name: str, stem: str) -> bool:
    return name.startswith(stem) and (len(name) == len(stem) or not name[len(stem)].isalnum())


class SidecarLayout(Layout):
    name: ClassVar[str] = "sidecar"
    records_where = "sidecar files"

    _legs: list[Leg] | None = None

    def check(self) -> str:
        return f"{len(self._all())} sidecar file(s)"

    def _all(self) -> list[Leg]:
        if self._legs is None:
            problems: list[Skipped] = []
            entries = self.listing("", problems)
            audio_by_folder: dict[str, list[str]] = {}
            for entry in entries:
                if extension_of(entry.path) in AUDIO_EXTENSIONS:
                    folder, name = posixpath.split(entry.path)
                    audio_by_folder.setdefault(folder, []).append(name)
            legs: list[Leg] = []
            for entry in entries:
                if extension_of(entry.path) != "json":
                    continue
                if entry.size > MAX_SIDECAR:
                    problems.append(Skipped(entry.path, "too large for a sidecar"))
                    continue
                folder, name = posixpath.split(entry.path)
                stem = _stem(name)
                beside = [n for n in audio_by_folder.get(folder, ()) if _stem(n) == stem]
                with self.audio.open_read(entry.path) as stream:
                    data = stream.read()
                try:
                    leg = leg_from_sidecar(data, entry.path)
                except SidecarError as exc:
                    problems.append(Skipped(entry.path, str(exc)))
                    log.warning("recordings.sidecar.unreadable", system=self.system.name,
                                problem=type(exc).__name__)
                    continue
                leg.audio = [posixpath.join(folder, n) for n in sorted(beside)]
                legs.append(leg)
            self.unreadable = problems
            self._legs = legs
        return self._legs

    def forget_listings(self) -> None:
        super().forget_listings()
        self._legs = None

    def candidates(self, wants: Sequence[Wanted]) -> Iterator[Leg]:
        return iter(self._all())

    def legs_of(self, groups: set[str], ids: set[str]) -> list[Leg]:
        return [leg for leg in self._all() if leg.id in ids or leg.id in groups]

    def scan(self) -> Iterator[Leg]:
        return iter(self._all())

    def record_count(self) -> int | None:
        return len(self._all())

    def id_tokens(self, name: str) -> set[str]:
        """The name's stem and each shorter stem at a separator ("rec-0001-redacted" ->
        rec-0001-redacted, rec-0001, rec): copies extend the recording's own name."""
        stem = _stem(name)
        cuts = [i for i, c in enumerate(stem) if not c.isalnum()]
        return {stem, *(stem[:i] for i in cuts if i)}

    def known_ids(self, ids: Iterable[str]) -> set[str]:
        return {_stem(posixpath.basename(leg.source)) for leg in self._all()}

    def expected_audio(self, leg: Leg) -> list[str]:
        return list(leg.audio)

    def is_copy(self, name: str, call: Call) -> bool:
        stems = {_stem(posixpath.basename(leg.source)) for leg in call.legs}
        return any(_shares_stem(name, stem) for stem in stems)

    def attach_audio(self, calls: Sequence[Call]) -> list[Skipped]:
        problems = super().attach_audio(calls)
        for call in calls:  # the sidecar is the record, not a copy of the audio
            sources = {leg.source for leg in call.legs}
            call.audio = [p for p in call.audio if p not in sources]
        return problems

    def copy_folders(self, call: Call) -> list[str]:
        own = {posixpath.dirname(leg.source) for leg in call.legs}
        return sorted(own | set(super().copy_folders(call)))

    def erase_records(self, call: Call, action: str, keep: Sequence[str]) -> int:
        changed = 0
        for leg in call.legs:
            if action == "delete":
                changed += bool(self.audio.delete(leg.source).versions)
                continue
            with self.audio.open_read(leg.source) as stream:
                data = stream.read()
            try:
                new, did = rewrite_sidecar(data, "anonymise", keep=keep)
            except SidecarError as exc:
                raise ConnectorError(f"a sidecar cannot be rewritten ({exc})") from None
            if did:
                self.audio.write(leg.source, new)
                changed += 1
        self._legs = None
        return changed
