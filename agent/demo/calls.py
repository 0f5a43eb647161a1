"""The demo's call-recording store: a FreePBX-style CDR export (``Master.csv`` with a header)
and monitor tree, built from the cast's call logs in the demo CRM.

Each call log of a cast member becomes a CDR row and a short recording (a tone: the demo
needs no speech): inbound calls ring the switchboard and are answered at extension 201,
outbound calls are dialled from it. The ``recordings`` connector searches it like a real
PBX, so the demo's erasure shows a person's calls found through the phone number learnt on
her CRM record, their audio deleted and their billing columns kept by policy.toml.
"""

from __future__ import annotations

import csv
import io
import math
import struct
import warnings
import wave
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from agent.demo.cast import CAST_SURNAMES
from agent.demo.manifest import CastMember

OUR_DDI = "01632960000"  # the business's switchboard
EXTENSION = "201"
CDR_COLUMNS = ("calldate", "clid", "src", "dst", "dcontext", "channel", "dstchannel",
               "lastapp", "duration", "billsec", "disposition", "accountcode", "uniqueid",
               "linkedid", "userfield", "recordingfile", "cnum", "cnam", "did")
AUDIO_SECONDS = 2.0  # the demo's recordings are short tones, whatever the call's length


def tone_wav(seconds: float = 1.0, *, rate: int = 8000, channels: int = 1,
             tone_hz: int = 440) -> bytes:
    """A 16-bit PCM WAV of a sine tone, ``round(seconds * rate)`` frames long."""
    frames = round(seconds * rate)
    samples = (round(12000 * math.sin(2 * math.pi * tone_hz * i / rate)) for i in range(frames))
    pcm = b"".join(struct.pack("<h", s) * channels for s in samples)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm)
    return buffer.getvalue()


@dataclass
class Pbx:
    """What was built: the folders and each cast contact's recording ids."""

    monitor: Path
    cdr: Path
    calls: dict[int, list[str]] = field(default_factory=dict)  # contact id -> uniqueids

    def of(self, member: CastMember) -> list[str]:
        """The recording ids of a cast member's calls (through their contact records)."""
        ids = {int(loc.split(":", 1)[1]) for loc in member.attributed
               if loc.startswith("contacts:")}
        return [u for contact in sorted(ids) for u in self.calls.get(contact, [])]

    def audio_of(self, uniqueid: str) -> list[Path]:
        return [p for p in self.monitor.rglob("*") if p.is_file()
                and p.name.endswith(f"-{uniqueid}.wav")]

    def records(self) -> dict[str, dict[str, str]]:
        with self.cdr.open(encoding="utf-8", newline="") as handle:
            return {row["uniqueid"]: row for row in csv.DictReader(handle)}

    def erasure_checks(self, member: CastMember, lookalike: CastMember | None
                       ) -> list[dict[str, Any]]:
        """After an erasure of ``member``: their recordings and caller details gone, the
        billing columns kept; the look-alike's calls untouched."""
        records = self.records()
        mine = self.of(member)
        left = [u for u in mine if self.audio_of(u)]
        named = [u for u in mine if records.get(u, {}).get("src") or
                 records.get(u, {}).get("dst") not in ("", None)]
        billed = [u for u in mine if not records.get(u, {}).get("billsec")]
        checks = [{"what": f"{len(mine)} recorded call(s) of {member.name}: audio deleted, "
                           "caller details blanked, billing columns kept (policy.toml)",
                   "ok": bool(mine) and not (left or named or billed),
                   "detail": f"{len(left)} with audio, {len(named)} still naming a party, "
                             f"{len(billed)} without billing columns"}]
        if lookalike is not None:
            theirs = self.of(lookalike)
            touched = [u for u in theirs if not self.audio_of(u)
                       or not records.get(u, {}).get("src")]
            checks.append({"what": f"look-alike {lookalike.name}'s {len(theirs)} recorded "
                                   "call(s) untouched", "ok": not touched,
                           "detail": ", ".join(touched)})
        return checks


def build_pbx(folder: Path, crm_url: str) -> Pbx:
    """Write ``folder/monitor`` and ``folder/Master.csv`` from the CRM's cast call logs."""
    monitor, cdr = folder / "monitor", folder / "Master.csv"
    pbx = Pbx(monitor, cdr)
    rows = []
    for n, call in enumerate(_cast_calls(crm_url), start=1):
        when: datetime = call["called_at"]
        uniqueid = f"{int(when.timestamp())}.{n}"
        name = f"{call['first_name']} {call['last_name']}"
        number = "".join(ch for ch in str(call["called_number"]) if ch.isdigit() or ch == "+")
        inbound = call["direction"] == "inbound"
        src, dst = (number, EXTENSION) if inbound else (EXTENSION, number)
        kind = "in" if inbound else "out"
        recording = f"{kind}-{dst}-{src}-{when:%Y%m%d-%H%M%S}-{uniqueid}.wav"
        path = monitor / f"{when:%Y/%m/%d}" / recording
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(tone_wav(AUDIO_SECONDS))
        seconds = int(call["duration_seconds"] or 0)
        rows.append({
            "calldate": f"{when:%Y-%m-%d %H:%M:%S}",
            "clid": f'"{name}" <{src}>' if inbound else f'"Sales" <{EXTENSION}>',
            "src": src, "dst": dst, "dcontext": "from-trunk" if inbound else "from-internal",
            "channel": f"SIP/trunk-{n:08x}" if inbound else f"SIP/{EXTENSION}-{n:08x}",
            "dstchannel": f"SIP/{EXTENSION}-{n:08x}" if inbound else f"SIP/trunk-{n:08x}",
            "lastapp": "Dial", "duration": seconds + 6, "billsec": seconds,
            "disposition": "ANSWERED", "accountcode": "", "uniqueid": uniqueid,
            "linkedid": uniqueid, "userfield": "", "recordingfile": recording,
            "cnum": src, "cnam": name if inbound else "Sales",
            "did": OUR_DDI if inbound else ""})
        pbx.calls.setdefault(int(call["contact_id"]), []).append(uniqueid)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(CDR_COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    cdr.write_text(buffer.getvalue(), encoding="utf-8")
    return pbx


def _cast_calls(crm_url: str) -> list[dict[str, object]]:
    engine = sa.create_engine(crm_url)
    try:
        md = sa.MetaData()
        with warnings.catch_warnings():  # the estate's expression indexes: irrelevant here
            warnings.simplefilter("ignore", sa.exc.SAWarning)
            logs = sa.Table("call_logs", md, autoload_with=engine)
            contacts = sa.Table("contacts", md, autoload_with=engine)
        query = (sa.select(logs, contacts.c.first_name, contacts.c.last_name)
                 .join(contacts, contacts.c.id == logs.c.contact_id)
                 .where(contacts.c.last_name.in_(sorted(CAST_SURNAMES)))
                 .order_by(logs.c.called_at, logs.c.id))
        with engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]
    finally:
        engine.dispose()


SYSTEM = '''
# The call-recording store: a FreePBX CDR export and its monitor tree (docs/recordings.md)
[[systems]]
name = "phones"
connector = "recordings"
layout = "asterisk"
url = "file:phones/monitor"
cdr = "phones/Master.csv"
our_numbers = ["{ddi}"]
description = "demo PBX: call records and recordings"
'''.replace("{ddi}", OUR_DDI)
