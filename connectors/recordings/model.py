"""One call as every layout describes it: the record (CDR rows, a contact record, a sidecar)
and the audio it points at, in one shape the connector searches, reads and erases.

Values stay as the store holds them (``"07700 900111"``, ``'"Jane Doe" <07700900111>'``);
matching normalises them (``agent.identifiers``). A ``Call`` is personal data: it is never
logged or put in an error message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# The Asterisk/FreePBX CDR columns the connector knows; a table may hold any subset.
CDR_COLUMNS = ("calldate", "clid", "src", "dst", "dcontext", "channel", "dstchannel",
               "lastapp", "duration", "billsec", "disposition", "accountcode", "uniqueid",
               "linkedid", "userfield", "recordingfile", "cnum", "cnam", "did")
# Audio file extensions a recording store holds (compared lower-cased), most usual first.
AUDIO_EXTENSIONS = ("wav", "mp3", "gsm", "wav49", "sln", "sln16", "ulaw", "alaw", "g722",
                    "g729", "ogg", "opus", "flac", "m4a", "aac", "amr", "webm")
# CDR columns holding a phone number as dialled or presented (clid: '"Name" <number>').
NUMBER_COLUMNS = ("src", "dst", "cnum", "did", "clid")
# CDR columns holding an account or customer reference.
ACCOUNT_COLUMNS = ("accountcode", "userfield")
# CDR columns holding a caller's name (weak: names are not unique).
NAME_COLUMNS = ("cnam", "clid")


@dataclass
class Leg:
    """One record of a call: a CDR row, a contact record, a sidecar file."""

    id: str  # uniqueid / ContactId / the sidecar's recording id
    fields: dict[str, Any]  # the record as stored, for read() and erasure
    started: datetime | None = None
    # role -> value as stored; roles: src dst cnum did clid / customer system transfer /
    # the sidecar's number keys
    numbers: dict[str, str] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)  # cnam, clid / customer_name ...
    accounts: dict[str, str] = field(default_factory=dict)  # accountcode, userfield ...
    audio: list[str] = field(default_factory=list)  # audio paths the record points at
    # roles (keys of ``numbers``) that are our side of the call: our DDI, the Connect
    # system endpoint, an agent's number; the rest are the caller's or a third party's
    ours: set[str] = field(default_factory=set)
    source: str = ""  # where the record lives (table, CSV file, object key, sidecar path)


@dataclass
class Call:
    """The legs of one call (Asterisk ``linkedid``, Connect ``InitialContactId``): found,
    read and erased together. ``id`` is the recording id that names the call (the locator):
    the recorded leg's uniqueid or ContactId, else the group's."""

    id: str
    group: str
    legs: list[Leg] = field(default_factory=list)
    audio: list[str] = field(default_factory=list)  # every copy found in the store
    missing_audio: list[str] = field(default_factory=list)  # named by a record, not found

    @property
    def started(self) -> datetime | None:
        times = [leg.started for leg in self.legs if leg.started is not None]
        return min(times) if times else None
