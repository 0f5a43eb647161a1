"""Made-up call-recording estates for the recordings connector's tests.

``PbxCall`` is one CDR row as FreePBX writes it; ``freepbx_estate()`` is a small PBX's
week: Jane Doe's calls (in, out, transferred between staff, one with an outside third
party), a look-alike Jane Doe on another number, a household landline two people share,
calls of other people, a record whose audio is gone and audio nobody recorded a CDR for.
Every number is from Ofcom's drama ranges. ``write_cdr_table`` / ``write_cdr_csv`` store
the rows; ``Estate.write_audio`` puts valid WAV files in a monitor tree through ``put``.
"""

from __future__ import annotations

import csv
import io
import shutil
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

from tests.support.audio import wav_bytes

REPO = Path(__file__).resolve().parents[2]

OUR_DDI = "01632960000"  # the business's switchboard number
JANE = "07700900111"
JANE_ACCOUNT = "ACC-1001"
LOOKALIKE = "07700900222"  # another Jane Doe
SHARED_LANDLINE = "01632960123"  # Jane's household: she and John Smith call from it
THIRD_PARTY = "07700900555"  # an outside person conferenced into one of Jane's calls
BOB = "01632960333"

CDR_FIELDS = ("calldate", "clid", "src", "dst", "dcontext", "channel", "dstchannel",
              "lastapp", "duration", "billsec", "disposition", "accountcode", "uniqueid",
              "linkedid", "userfield", "recordingfile", "cnum", "cnam", "did")


@dataclass
class PbxCall:
    uniqueid: str
    calldate: datetime
    src: str
    dst: str
    cnam: str = ""
    direction: str = "in"  # in | out | internal
    linkedid: str = ""
    accountcode: str = ""
    userfield: str = ""
    did: str = ""
    recorded: bool = True
    seconds: float = 1.5
    dcontext: str = "from-trunk"
    disposition: str = "ANSWERED"
    lastapp: str = "Dial"
    channel: str = ""
    dstchannel: str = ""

    @property
    def recordingfile(self) -> str:
        if not self.recorded:
            return ""
        stamp = f"{self.calldate:%Y%m%d-%H%M%S}"
        return f"{self.direction}-{self.dst}-{self.src}-{stamp}-{self.uniqueid}.wav"

    @property
    def audio_path(self) -> str:
        return f"{self.calldate:%Y/%m/%d}/{self.recordingfile}"

    def row(self) -> dict[str, object]:
        clid = f'"{self.cnam}" <{self.src}>' if self.cnam else self.src
        return {"calldate": self.calldate, "clid": clid, "src": self.src, "dst": self.dst,
                "dcontext": self.dcontext, "channel": self.channel or f"SIP/trunk-{self.uniqueid}",
                "dstchannel": self.dstchannel or "SIP/201-0000001a", "lastapp": self.lastapp,
                "duration": int(self.seconds) + 5, "billsec": int(self.seconds),
                "disposition": self.disposition, "accountcode": self.accountcode,
                "uniqueid": self.uniqueid, "linkedid": self.linkedid or self.uniqueid,
                "userfield": self.userfield, "recordingfile": self.recordingfile,
                "cnum": self.src, "cnam": self.cnam, "did": self.did}


@dataclass
class Estate:
    calls: list[PbxCall]
    orphan_audio: list[str] = field(default_factory=list)  # audio with no CDR row
    copies: dict[str, list[str]] = field(default_factory=dict)  # uniqueid -> extra copies

    def rows(self) -> list[dict[str, object]]:
        return [c.row() for c in self.calls]

    def by_id(self, uniqueid: str) -> PbxCall:
        return next(c for c in self.calls if c.uniqueid == uniqueid)

    def write_audio(self, put: Callable[[str, bytes], object]) -> None:
        """Every recorded call's WAV (but the one whose audio is "lost"), its copies and
        the orphan audio, through ``put(relative path, bytes)``."""
        for call in self.calls:
            if not call.recorded or call.uniqueid == LOST_AUDIO:
                continue
            audio = wav_bytes(call.seconds)
            put(call.audio_path, audio)
            for copy in self.copies.get(call.uniqueid, []):
                put(copy, audio)
        for path in self.orphan_audio:
            put(path, wav_bytes(0.5))


LOST_AUDIO = "1709460000.90"  # a CDR row whose recording was never stored


def freepbx_estate() -> Estate:
    d = datetime
    calls = [
        # Jane rings the switchboard; ext 201 answers and transfers her to ext 202
        PbxCall("1709288100.42", d(2024, 3, 1, 10, 15), JANE, "201", "Jane Doe", did=OUR_DDI,
                seconds=2.5, accountcode=JANE_ACCOUNT),
        PbxCall("1709288100.43", d(2024, 3, 1, 10, 16), JANE, "202", "Jane Doe",
                linkedid="1709288100.42", did=OUR_DDI, recorded=False),
        # ext 201 rings Jane back; the number is stored with a plus and dashes
        PbxCall("1709374500.7", d(2024, 3, 2, 10, 15), "201", "+44-7700-900111", "Sales",
                direction="out", dcontext="from-internal", seconds=1.0),
        # Jane's call with an outside adviser conferenced in: a third person's voice
        PbxCall("1709460000.12", d(2024, 3, 3, 10, 0), JANE, THIRD_PARTY, "Jane Doe",
                dcontext="from-trunk", seconds=1.2),
        # Jane's record whose audio was lost (a CDR pointing at missing audio)
        PbxCall(LOST_AUDIO, d(2024, 3, 3, 15, 0), JANE, "201", "Jane Doe", did=OUR_DDI),
        # the look-alike: another Jane Doe on her own number
        PbxCall("1709546400.5", d(2024, 3, 4, 9, 0), LOOKALIKE, "201", "Jane Doe",
                did=OUR_DDI, accountcode="ACC-2002"),
        # the household landline: Jane and John Smith both call from it
        PbxCall("1709632800.8", d(2024, 3, 5, 9, 0), SHARED_LANDLINE, "201", "Jane Doe",
                did=OUR_DDI),
        PbxCall("1709632900.9", d(2024, 3, 5, 9, 2), SHARED_LANDLINE, "202", "John Smith",
                did=OUR_DDI),
        # Bob, unrelated
        PbxCall("1709719200.3", d(2024, 3, 6, 11, 0), BOB, "201", "Bob Smith", did=OUR_DDI,
                accountcode="ACC-3003"),
        # an internal call between staff
        PbxCall("1709719300.4", d(2024, 3, 6, 11, 5), "201", "202", "Sales",
                direction="internal", dcontext="from-internal"),
    ]
    jane_first = calls[0]
    copies = {"1709288100.42": [
        f"mp3/{jane_first.calldate:%Y/%m/%d}/{jane_first.recordingfile[:-4]}.mp3",
        "redacted/1709288100.42-redacted.wav"]}
    # a copy whose name only resembles Jane's id: not hers
    copies["1709719200.3"] = ["redacted/1709288100.421-redacted.wav"]
    orphan = ["2024/03/07/in-201-07700900999-20240307-120000-1709812800.77.wav"]
    return Estate(calls, orphan, copies)


# ----------------------------------------------------------------------------- storing

def cdr_table(metadata: sa.MetaData, name: str = "cdr") -> sa.Table:
    """A FreePBX-like CDR table: text columns NOT NULL DEFAULT '', numeric durations."""
    text = [sa.Column(c, sa.String(80), nullable=False, server_default="")
            for c in CDR_FIELDS if c not in ("calldate", "duration", "billsec")]
    return sa.Table(name, metadata,
                    sa.Column("calldate", sa.DateTime, nullable=False),
                    sa.Column("duration", sa.Integer, nullable=False, server_default="0"),
                    sa.Column("billsec", sa.Integer, nullable=False, server_default="0"),
                    *text, sa.Index(f"ix_{name}_uniqueid", "uniqueid"))


def write_cdr_table(engine: sa.Engine, rows: Sequence[dict[str, object]], name: str = "cdr"
                    ) -> sa.Table:
    metadata = sa.MetaData()
    table = cdr_table(metadata, name)
    metadata.drop_all(engine, tables=[table])
    metadata.create_all(engine, tables=[table])
    with engine.begin() as conn:
        conn.execute(table.insert(), list(rows))
    return table


def cdr_csv(rows: Sequence[dict[str, object]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(CDR_FIELDS), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (v.strftime("%Y-%m-%d %H:%M:%S") if isinstance(v, datetime) else v)
                         for k, v in row.items()})
    return buffer.getvalue()


def write_pbx_config(folder: Path, *, copies: bool = True) -> Path:
    """The estate's monitor tree and Master.csv in ``folder``, the example policy.toml, and
    an agent.toml with one ``phones`` recordings system over them; returns its path."""
    estate = freepbx_estate()
    monitor = folder / "monitor"

    def put(relative: str, data: bytes) -> None:
        target = monitor / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)

    estate.write_audio(put)
    (folder / "Master.csv").write_text(cdr_csv(estate.rows()))
    shutil.copy(REPO / "config" / "policy.toml", folder / "policy.toml")
    extra = 'copies = ["mp3/{date}", "redacted"]\n' if copies else ""
    path = folder / "agent.toml"
    path.write_text(f"""
[agent]
state = "sqlite:///state.sqlite"
hmac_key = "keys/hmac.key"

[[systems]]
name = "phones"
connector = "recordings"
url = "file://{monitor}"
layout = "asterisk"
cdr = "Master.csv"
our_numbers = ["{OUR_DDI}"]
{extra}""")
    return path


__all__ = ["Estate", "PbxCall", "asdict", "cdr_csv", "cdr_table", "freepbx_estate",
           "write_cdr_table", "write_pbx_config"]
