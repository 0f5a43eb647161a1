"""Amazon Connect style: contact records (CTRs, as Kinesis Firehose writes them: objects of
concatenated JSON, JSON Lines or arrays) under ``cdr``, audio objects under
``connect/<instance>/CallRecordings/YYYY/MM/DD/<contactId>_<timestamp>_UTC.wav``.

A record names its audio (``Recording.Location``, ``bucket/key``); the key is taken relative
to the audio store's prefix. Contacts of one call (transfers) share ``InitialContactId``.
Records cannot be queried in place: every record file is read once per operation and the
matching is done here (audio under the records' prefix is not read as records; a file that
cannot be read is reported in ``unreadable`` and the rest searched). Erasure rewrites each
record file holding the call (the call's records removed, or the caller's details blanked),
then deletes the versions that held them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import ClassVar

import structlog

from agent.config import SystemConfig
from agent.errors import ConnectorError
from connectors.files.transport import Entry, FileUnavailable, Skipped
from connectors.recordings.connect import (
    RecordError,
    ids_in_name,
    parse_records,
    rewrite_records,
)
from connectors.recordings.layout import AUDIO_EXTENSIONS, Layout, extension_of
from connectors.recordings.matching import Wanted
from connectors.recordings.model import Call, Leg
from connectors.recordings.options import RecordingsOptions
from connectors.recordings.store import BucketStore, Store, open_store
from connectors.s3.client import NOT_FOUND

log = structlog.get_logger("connectors.recordings")
MAX_RECORD_FILE = 256 << 20  # a CTR file is a few MB at most; refuse anything absurd


class ConnectLayout(Layout):
    name: ClassVar[str] = "connect"
    records_where = "contact records"

    def __init__(self, system: SystemConfig, options: RecordingsOptions, audio: Store) -> None:
        super().__init__(system, options, audio)
        assert options.cdr is not None
        self.records: Store = open_store(system, options.cdr, options.store_options)
        self._legs: list[Leg] | None = None

    def check(self) -> str:
        files = sum(1 for item in self.records.walk() if not isinstance(item, Skipped))
        if not files:  # a mistyped prefix would otherwise search nothing, silently
            raise ConnectorError("no contact record files under cdr: check the URL")
        return f"{files} contact record file(s)"

    # ------------------------------------------------------------------ records
    def _all(self) -> list[Leg]:
        """Every voice contact record, read once per operation."""
        if self._legs is None:
            legs: list[Leg] = []
            self.unreadable = []
            for item in self.records.walk():
                if isinstance(item, Skipped):
                    self.unreadable.append(item)
                elif extension_of(item.path) not in AUDIO_EXTENSIONS:
                    # audio: cdr may be a prefix above the recordings (the bucket's root)
                    legs += self._read(item)
            self._legs = legs
        return self._legs

    def _read(self, item: Entry) -> list[Leg]:
        """The legs of one record file; a file that cannot be read is noted, not fatal."""
        if item.size > MAX_RECORD_FILE:
            self.unreadable.append(Skipped(item.path, "too large for a record file"))
            return []
        try:
            with self.records.open_read(item.path) as stream:
                data = stream.read()
            return [_with_paths(leg) for leg in parse_records(data, item.path)]
        except FileUnavailable as exc:  # denied, or only older versions behind a marker
            reason = (exc.reason if exc.reason != NOT_FOUND else
                      "gone since it was listed, or only older versions behind a delete "
                      "marker: not searched")
            self.unreadable.append(Skipped(item.path, reason))
        except RecordError as exc:
            self.unreadable.append(Skipped(item.path, str(exc)))
        log.warning("recordings.records.unreadable", system=self.system.name,
                    problem=self.unreadable[-1].reason)
        return []

    def forget_listings(self) -> None:
        super().forget_listings()
        self._legs = None

    def candidates(self, wants: Sequence[Wanted]) -> Iterator[Leg]:
        return iter(self._all())  # matched by the connector: no index to push to

    def group_of(self, leg: Leg) -> str:
        return str(leg.fields.get("InitialContactId") or leg.id)

    def legs_of(self, groups: set[str], ids: set[str]) -> list[Leg]:
        return [leg for leg in self._all() if leg.id in ids or self.group_of(leg) in groups]

    def scan(self) -> Iterator[Leg]:
        return iter(self._all())

    def record_count(self) -> int | None:
        return len(self._all())

    def id_tokens(self, name: str) -> set[str]:
        return set(ids_in_name(name))

    def expected_audio(self, leg: Leg) -> list[str]:
        prefix = self.audio.prefix if isinstance(self.audio, BucketStore) else ""
        out = []
        for key in leg.audio:
            key = key.lstrip("/")
            if prefix and key.startswith(prefix):
                key = key[len(prefix):]
            if key:
                out.append(key)
        return out

    def erase_records(self, call: Call, action: str, keep: Sequence[str]) -> int:
        ids = {leg.id for leg in call.legs}
        changed = 0
        for source in sorted({leg.source for leg in call.legs}):
            with self.records.open_read(source) as stream:
                data = stream.read()
            try:
                new, count = rewrite_records(data, ids, action, keep)
            except RecordError as exc:
                raise ConnectorError(f"a contact record file cannot be rewritten ({exc})"
                                     ) from None
            if count:
                self.records.write(source, new)
                changed += count
        self._legs = None
        return changed

    def close(self) -> None:
        self.records.close()


def _with_paths(leg: Leg) -> Leg:
    """Name and account roles as the record's dotted paths (``Attributes.customerId``): the
    form ``keep`` lists, so an anonymised record keeping one still verifies."""
    def path(role: str) -> str:
        return "+".join(f"Attributes.{part}" for part in role.split("+"))

    leg.names = {path(role): value for role, value in leg.names.items()}
    leg.accounts = {path(role): value for role, value in leg.accounts.items()}
    return leg
