"""What every layout shares: calls from legs, and the audio copies of each call.

A layout (``asterisk``, ``connect``, ``sidecar``) knows where its call records are, how to
pre-select the records that may be a subject's, how legs group into calls, and where a
record says its audio is. This base class turns legs into ``Call``s and finds every copy of
their audio: the file the record names and, in the same folders and in the ``copies``
folders, every file whose name carries one of the call's recording ids (a transcoded MP3, a
redacted or analysis copy). A file that merely resembles an id (``1709288100.4`` against
``1709288100.42``) is not a copy: ids match on whole tokens only.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import ClassVar

from agent.config import SystemConfig
from connectors.files.transport import Entry, Skipped
from connectors.recordings.matching import Wanted
from connectors.recordings.model import AUDIO_EXTENSIONS, Call, Leg
from connectors.recordings.options import RecordingsOptions
from connectors.recordings.store import Store

__all__ = ["AUDIO_EXTENSIONS", "Layout", "contains_id", "extension_of"]


def contains_id(name: str, ident: str) -> bool:
    """Whether ``name`` carries ``ident`` as a whole token: not inside a longer number or
    word (``.`` counts as a separator only when no digit follows it)."""
    start = name.find(ident)
    while start >= 0:
        end = start + len(ident)
        before = name[start - 1] if start else ""
        after = name[end:end + 2]
        if not (before.isalnum() or before == ".") and not (
                after[:1].isalnum() or (after[:1] == "." and after[1:2].isdigit())):
            return True
        start = name.find(ident, start + 1)
    return False


def extension_of(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


class Layout:
    name: ClassVar[str] = ""
    records_where: ClassVar[str] = "call records"

    def __init__(self, system: SystemConfig, options: RecordingsOptions, audio: Store) -> None:
        self.system = system
        self.options = options
        self.audio = audio
        self._listings: dict[str, list[Entry]] = {}
        self.unreadable: list[Skipped] = []  # record files that could not be read

    # ------------------------------------------------------------------ records (per layout)
    def check(self) -> str:
        raise NotImplementedError

    def candidates(self, wants: Sequence[Wanted]) -> Iterator[Leg]:
        """Legs that may be a wanted subject's (a pre-filter that never misses)."""
        raise NotImplementedError

    def group_of(self, leg: Leg) -> str:
        return leg.id

    def legs_of(self, groups: set[str], ids: set[str]) -> list[Leg]:
        """Every leg of the calls with these group keys or recording ids."""
        raise NotImplementedError

    def scan(self) -> Iterator[Leg]:
        """Every record (discovery, orphans)."""
        raise NotImplementedError

    def expected_audio(self, leg: Leg) -> list[str]:
        """Audio paths (relative to the store's root) the record names."""
        raise NotImplementedError

    def is_copy(self, name: str, call: Call) -> bool:
        return any(contains_id(name, leg.id) for leg in call.legs if leg.id)

    def erase_records(self, call: Call, action: str, keep: Sequence[str]) -> int:
        """Delete or anonymise the call's records; how many records changed."""
        raise NotImplementedError

    def record_count(self) -> int | None:
        return None

    def id_tokens(self, name: str) -> set[str]:
        """The recording ids a file name carries, in the form ``known_ids`` gives them."""
        return {name.split(".", 1)[0]}

    def names_known_id(self, path: str, known: set[str]) -> bool:
        """Whether an audio file belongs to some record (for the orphan count): its name
        carries one of the records' ids (``known`` from ``known_ids``)."""
        return bool(self.id_tokens(posixpath.basename(path)) & known)

    def known_ids(self, ids: Iterable[str]) -> set[str]:
        return {t for i in ids for t in self.id_tokens(i)}

    def call_of_audio(self, path: str) -> Call | None:
        """The call a recording file belongs to, by the recording ids its name carries."""
        for token in sorted(self.id_tokens(posixpath.basename(path))):
            call = self.call(token)
            if call is not None:
                return call
        return None

    def close(self) -> None:
        """Release the record source."""

    # ------------------------------------------------------------------ calls
    def calls(self, legs: Iterable[Leg]) -> list[Call]:
        """Group legs into calls, each with every leg of its call."""
        first = list(legs)
        groups = {self.group_of(leg) for leg in first}
        ids = {leg.id for leg in first}
        every = self.legs_of(groups, ids) if first else []
        by_group: dict[str, dict[str, Leg]] = {}
        for leg in [*first, *every]:
            by_group.setdefault(self.group_of(leg), {}).setdefault(_leg_key(leg), leg)
        return [self._call(group, list(legs.values())) for group, legs in by_group.items()]

    def call(self, call_id: str) -> Call | None:
        found = self.calls(self.legs_of({call_id}, {call_id}))
        for call in found:
            if call.id == call_id or any(leg.id == call_id for leg in call.legs) \
                    or call.group == call_id:
                return call
        return None

    def _call(self, group: str, legs: list[Leg]) -> Call:
        legs.sort(key=lambda leg: (leg.started or datetime.min, leg.id))
        recorded = [leg for leg in legs if leg.audio]
        call_id = recorded[0].id if recorded else (group or legs[0].id)
        return Call(id=call_id, group=group, legs=legs)

    # ------------------------------------------------------------------ audio
    def attach_audio(self, calls: Sequence[Call]) -> list[Skipped]:
        """Set each call's ``audio`` (every copy found) and ``missing_audio`` (named by a
        record, not there); returns folders that could not be listed."""
        problems: list[Skipped] = []
        for call in calls:
            expected = [p for leg in call.legs for p in self.expected_audio(leg)]
            folders = {posixpath.dirname(p) for p in expected}
            folders |= set(self.copy_folders(call))
            found: dict[str, None] = {}
            for folder in sorted(folders):
                for entry in self.listing(folder, problems):
                    if entry.path in expected or self.is_copy(posixpath.basename(entry.path),
                                                               call):
                        found[entry.path] = None
            call.audio = sorted(found)
            call.missing_audio = sorted({p for p in expected if p not in found})
        return problems

    def copy_folders(self, call: Call) -> list[str]:
        out = []
        when = call.started
        for pattern in self.options.copies:
            if "{date}" in pattern:
                if when is None:
                    continue
                pattern = pattern.replace("{date}", f"{when:%Y/%m/%d}")
            out.append(pattern.strip("/"))
        return out

    def listing(self, folder: str, problems: list[Skipped]) -> list[Entry]:
        """The files under ``folder`` (recursively), listed once per operation."""
        whole = self._listings.get("")
        if folder not in self._listings and whole is not None:
            inside = folder.rstrip("/") + "/"
            self._listings[folder] = [e for e in whole if e.path.startswith(inside)]
        if folder not in self._listings:
            entries: list[Entry] = []
            for item in self.audio.walk(folder):
                if isinstance(item, Skipped):
                    if item.reason != "not found":
                        problems.append(item)
                    continue
                entries.append(item)
            self._listings[folder] = entries
        return self._listings[folder]

    def forget_listings(self) -> None:
        self._listings.clear()


def _leg_key(leg: Leg) -> str:
    """The same record read twice (a pre-filter hit and its call's legs) counts once; CDR
    rows may share a uniqueid (ring groups), so the whole record is the key."""
    return f"{leg.source}\x00{sorted((k, repr(v)) for k, v in leg.fields.items())}"
