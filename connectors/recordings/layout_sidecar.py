"""A folder of recordings, each with a JSON sidecar beside it (``rec-0001.wav`` +
``rec-0001.json``) describing the call. The sidecars are read once per operation; a
recording's copies are the files in its folder that share its name up to a separator
(``rec-0001.mp3``, ``rec-0001-redacted.wav``), never a file elsewhere that happens to share
the name, nor a file that is another recording's (``rec-0001-b.wav`` beside
``rec-0001-b.json``). A sidecar without an id in its JSON is named by its folder and stem
(``2024/03/01/rec-0001``): recorders restart their counters every day. Erasure deletes the
sidecar with the audio, or rewrites it with the caller's details blanked.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Iterator, Sequence
from typing import ClassVar

import structlog

from agent.errors import ConnectorError
from connectors.files.transport import FileUnavailable, Skipped
from connectors.recordings.layout import AUDIO_EXTENSIONS, Layout, extension_of
from connectors.recordings.matching import Wanted
from connectors.recordings.model import Call, Leg
from connectors.recordings.sidecar import SidecarError, leg_from_sidecar, rewrite_sidecar

log = structlog.get_logger("connectors.recordings")
MAX_SIDECAR = 16 << 20


def _stem(name: str) -> str:
    return name.split(".", 1)[0]


def _stem_path(path: str) -> str:
    folder, name = posixpath.split(path)
    return posixpath.join(folder, _stem(name))


def _shares_stem(name: str, stem: str) -> bool:
    return name.startswith(stem) and (len(name) == len(stem) or not name[len(stem)].isalnum())


class SidecarLayout(Layout):
    name: ClassVar[str] = "sidecar"
    records_where = "sidecar files"

    _legs: list[Leg] | None = None
    _stems: frozenset[str] = frozenset()  # folder/stem of every sidecar, unreadable too

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
                leg = self._read_leg(entry.path, entry.size, problems)
                if leg is None:
                    continue
                folder, name = posixpath.split(entry.path)
                beside = [posixpath.join(folder, n) for n in audio_by_folder.get(folder, ())
                          if _stem(n) == _stem(name)]
                # the file the JSON names counts too: missing, it makes an orphan record
                leg.audio = sorted({*leg.audio, *beside})
                legs.append(leg)
            self.unreadable = problems
            self._legs = legs
            # a sidecar that cannot be read is still a recording's: its files are not copies
            self._stems = frozenset({*(_stem_path(leg.source) for leg in legs),
                                     *(_stem_path(p.path) for p in problems
                                       if extension_of(p.path) == "json")})
        return self._legs

    def _read_leg(self, path: str, size: int, problems: list[Skipped]) -> Leg | None:
        """One sidecar as a leg, or None with the reason in ``problems``."""
        if size > MAX_SIDECAR:
            problems.append(Skipped(path, "too large for a sidecar"))
            return None
        try:
            with self.audio.open_read(path) as stream:
                data = stream.read()
            leg = leg_from_sidecar(data, path)
        except (SidecarError, FileUnavailable) as exc:
            # one sidecar that cannot be read (permission, gone, corrupt): report, go on
            problems.append(Skipped(path, str(exc)))
            log.warning("recordings.sidecar.unreadable", system=self.system.name,
                        problem=type(exc).__name__)
            return None
        folder, name = posixpath.split(path)
        if leg.id == posixpath.splitext(name)[0]:  # no id in the JSON: the stem names it
            leg.id = posixpath.join(folder, leg.id)
        return leg

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
        """Folder/stem of every sidecar, an unreadable one too (its audio has a record)."""
        self._all()
        return set(self._stems)

    def names_known_id(self, path: str, known: set[str]) -> bool:
        """A file in the folder of a sidecar it shares a stem with: rec-0001.wav in another
        day's folder is not that day's rec-0001."""
        folder = posixpath.dirname(path)
        return any(posixpath.join(folder, t) in known
                   for t in self.id_tokens(posixpath.basename(path)))

    def expected_audio(self, leg: Leg) -> list[str]:
        return list(leg.audio)

    def is_copy(self, name: str, call: Call) -> bool:
        stems = {_stem(posixpath.basename(leg.source)) for leg in call.legs}
        return any(_shares_stem(name, stem) for stem in stems)

    def _owner(self, path: str) -> str | None:
        """The folder/stem of the sidecar a file in its folder belongs to: the longest stem
        it extends (rec-0001-b.wav is rec-0001-b's, not rec-0001's)."""
        folder = posixpath.dirname(path)
        owners = [posixpath.join(folder, t) for t in self.id_tokens(posixpath.basename(path))]
        owners = [o for o in owners if o in self._stems]
        return max(owners, key=len) if owners else None

    def call_of_audio(self, path: str) -> Call | None:
        """The call of the sidecar the file belongs to (its folder and longest stem)."""
        legs = self._all()  # also fills the stems _owner looks in
        owner = self._owner(path)
        leg = next((leg for leg in legs if _stem_path(leg.source) == owner), None)
        return self.call(leg.id) if leg is not None else None

    def _theirs(self, path: str, call: Call) -> bool:
        """Whether the file belongs to another recording's sidecar."""
        owner = self._owner(path)
        return owner is not None and owner not in {_stem_path(leg.source) for leg in call.legs}

    def attach_audio(self, calls: Sequence[Call]) -> list[Skipped]:
        self._all()
        problems = super().attach_audio(calls)
        for call in calls:  # the sidecar is the record; another recording's files stay
            sources = {leg.source for leg in call.legs}
            call.audio = [p for p in call.audio
                          if p not in sources and not self._theirs(p, call)]
            call.missing_audio = [p for p in call.missing_audio if not self._theirs(p, call)]
        return problems

    def copy_folders(self, call: Call) -> list[str]:
        own = {posixpath.dirname(leg.source) for leg in call.legs}
        return sorted(own | set(super().copy_folders(call)))

    def erase_records(self, call: Call, action: str, keep: Sequence[str]) -> int:
        changed = 0
        for leg in call.legs:
            try:
                changed += self._erase_sidecar(leg, action, keep)
            except FileUnavailable as exc:
                # the share refused this sidecar: the read-back fails the item, others go on
                log.warning("recordings.sidecar.refused", system=self.system.name,
                            action=action, reason=str(exc))
        self._legs = None
        return changed

    def _erase_sidecar(self, leg: Leg, action: str, keep: Sequence[str]) -> int:
        if action == "delete":
            return int(bool(self.audio.delete(leg.source).versions))
        with self.audio.open_read(leg.source) as stream:
            data = stream.read()
        try:
            new, did = rewrite_sidecar(data, "anonymise", keep=keep)
        except SidecarError as exc:
            raise ConnectorError(f"a sidecar cannot be rewritten ({exc})") from None
        if did:
            self.audio.write(leg.source, new)
        return int(did)
