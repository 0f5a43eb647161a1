"""Asterisk / FreePBX: a CDR table (any database the SQL connector reaches) or its CSV
export, and the monitor tree ``YYYY/MM/DD/<type>-<dst>-<src>-YYYYMMDD-HHMMSS-<uniqueid>.<ext>``.

The audio path is rebuilt from the record, never parsed out of a file name (numbers may
hold dashes): ``recordingfile`` gives the name (or a path ending in ``YYYY/MM/DD/name``),
``calldate`` the day folder. Legs of one call share ``linkedid``. Erasure deletes the rows
of the call, or anonymises them: the columns that identify a caller are blanked, every
other column (the billing ones policy.toml keeps) stays.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import ClassVar

from agent.config import SystemConfig
from connectors.recordings.cdr import CdrQuery, CdrSource, open_cdr
from connectors.recordings.layout import Layout
from connectors.recordings.matching import Wanted, number_forms
from connectors.recordings.model import Call, Leg
from connectors.recordings.options import RecordingsOptions
from connectors.recordings.store import Store

# Columns that identify a caller or a callee, blanked by an anonymise (unless kept);
# uniqueid and linkedid stay: they are the record's key, not the person's.
IDENTIFYING = ("src", "dst", "clid", "cnum", "cnam", "did", "accountcode", "userfield",
               "channel", "dstchannel", "recordingfile", "lastdata", "dnid",
               "outbound_cnum", "outbound_cnam", "peeraccount")
_DAY_PATH = re.compile(r"(?:^|/)(\d{4}/\d{2}/\d{2}/[^/]+)$")
# The epoch.sequence core of a uniqueid ("1709288100.42", "pbx1-1709288100.42")
_UNIQUEID = re.compile(r"(?<![\d.])\d{9,}\.\d+(?!\d)")


def audio_path(recordingfile: str, calldate: datetime | None) -> str | None:
    """Where the monitor tree keeps a recording: the day folder of the call plus the name
    the CDR gives (a full path in the CDR keeps its own day folder)."""
    name = (recordingfile or "").strip().replace("\\", "/")
    if not name:
        return None
    dated = _DAY_PATH.search(name)
    if dated:
        return dated.group(1)
    base = name.rsplit("/", 1)[-1]
    if not base or base in (".", ".."):
        return None
    return f"{calldate:%Y/%m/%d}/{base}" if calldate is not None else base


class AsteriskLayout(Layout):
    name: ClassVar[str] = "asterisk"

    def __init__(self, system: SystemConfig, options: RecordingsOptions, audio: Store) -> None:
        super().__init__(system, options, audio)
        assert options.cdr is not None  # checked by parse_options
        self.cdr: CdrSource = open_cdr(system, options.cdr, table=options.cdr_table,
                                       loose_numbers=options.loose_numbers)
        self.records_where = self.cdr.where

    def check(self) -> str:
        self.cdr.check()
        detail = f"{self.cdr.where}: {len(self.cdr.columns)} CDR columns"
        missing = self.cdr.missing_indexes()
        if missing:  # searches, reads and erasure then scan the whole table
            detail += f"; no index on {', '.join(missing)} (see docs/recordings.md)"
        return detail

    def candidates(self, wants: Sequence[Wanted]) -> Iterator[Leg]:
        forms, e164 = number_forms(wants)
        query = CdrQuery(numbers=forms, e164=e164,
                         accounts=frozenset(a for w in wants for a in w.accounts),
                         names=frozenset(n for w in wants for n in w.names))
        return self.cdr.search(query)

    def group_of(self, leg: Leg) -> str:
        return str(leg.fields.get("linkedid") or leg.id)

    def legs_of(self, groups: set[str], ids: set[str]) -> list[Leg]:
        return list(self.cdr.legs(uniqueids=sorted(ids | groups), linkedids=sorted(groups)))

    def scan(self) -> Iterator[Leg]:
        return self.cdr.scan()

    def record_count(self) -> int | None:
        return self.cdr.count()

    def id_tokens(self, name: str) -> set[str]:
        return set(_UNIQUEID.findall(name))

    def expected_audio(self, leg: Leg) -> list[str]:
        out = []
        for name in leg.audio:
            path = audio_path(name, leg.started)
            if path:
                out.append(path)
        return out

    def erase_records(self, call: Call, action: str, keep: Sequence[str]) -> int:
        ids = sorted({leg.id for leg in call.legs})
        if action == "delete":
            return self.cdr.delete(ids)
        kept = {k.lower() for k in keep}
        present = set(self.cdr.all_columns)
        blank = {c: "" for c in IDENTIFYING if c in present and c not in kept}
        return self.cdr.update(ids, blank) if blank else 0

    def close(self) -> None:
        self.cdr.close()
