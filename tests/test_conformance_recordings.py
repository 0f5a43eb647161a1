"""The recordings connector through the connector conformance kit, once per layout:

- ``asterisk``: a FreePBX monitor tree on SFTP (OpenSSH), the CDR in the running PostgreSQL;
- ``asterisk-csv``: the same tree on local disk with the CDR as a CSV export;
- ``connect``: contact records and CallRecordings on the S3 test server (versioned bucket);
- ``sidecar``: recordings with JSON sidecars in a local folder.

Jane Doe (07700 900111) is the subject, another Jane Doe (07700 900222) the look-alike; each
has one recorded call. Erasure deletes the subject's audio and records for real.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pytest

from agent.testing import ConnectorConformance as TestRecordingsConformance
from agent.testing import Seed
from tests.support import calls
from tests.support.audio import wav_bytes

if TYPE_CHECKING:
    from tests.conftest import TestDatabase
    from tests.file_servers import Share
    from tests.s3_server import Bucket

pytest_plugins = ("tests.file_servers", "tests.s3_server")
__all__ = ["TestRecordingsConformance"]

SUBJECT = {"phone": ["07700 900111"], "name": "Jane Doe"}
LOOKALIKE = {"phone": ["07700 900222"], "name": "Jane Doe"}
JANE_CONTACT = "3f2b1c4e-8d7a-4e1b-9c3d-2a1b0c9d8e7f"
OTHER_CONTACT = "7a6b5c4d-3e2f-4a1b-8c9d-0e1f2a3b4c5d"


def _pbx() -> calls.Estate:
    d = datetime
    return calls.Estate([
        calls.PbxCall("1709288100.42", d(2024, 3, 1, 10, 15), calls.JANE, "201", "Jane Doe",
                      did=calls.OUR_DDI),
        calls.PbxCall("1709546400.5", d(2024, 3, 4, 9, 0), calls.LOOKALIKE, "201",
                      "Jane Doe", did=calls.OUR_DDI),
    ])


def _asterisk(share: Share, cdr: str) -> dict[str, Any]:
    return {**share.entry("phones"), "connector": "recordings", "layout": "asterisk",
            "cdr": cdr, "our_numbers": [calls.OUR_DDI]}


def _ctr(contact: str, number: str, when: str, bucket: str) -> dict[str, Any]:
    day = when[:10].replace("-", "/")
    stamp = when[:16].replace("-", "").replace(":", "")
    return {
        "ContactId": contact, "InitialContactId": None, "Channel": "VOICE",
        "InitiationMethod": "INBOUND", "InitiationTimestamp": when,
        "DisconnectTimestamp": when, "AWSAccountId": "111122223333",
        "CustomerEndpoint": {"Address": number, "Type": "TELEPHONE_NUMBER"},
        "SystemEndpoint": {"Address": "+441632960000", "Type": "TELEPHONE_NUMBER"},
        "Agent": {"Username": "sam.staff"}, "Attributes": {"customerName": "Jane Doe"},
        "Recording": {"Location": f"{bucket}/connect/acme/CallRecordings/{day}/"
                                  f"{contact}_{stamp[:8]}T{stamp[9:11]}:{stamp[11:13]}_UTC.wav",
                      "Status": "AVAILABLE", "Type": "AUDIO"}}


@pytest.fixture(params=("asterisk", "asterisk-csv", "connect", "sidecar"))
def dsr_seed(request: pytest.FixtureRequest, make_share: Callable[..., Share],
             make_bucket: Callable[..., Bucket],
             isolated_database: Callable[[str], TestDatabase]) -> Iterator[Seed]:
    kind = request.param
    if kind.startswith("asterisk"):
        estate = _pbx()
        share = make_share("sftp" if kind == "asterisk" else "local")
        estate.write_audio(share.write)
        if kind == "asterisk":
            database = isolated_database("postgresql")
            engine = database.engine()
            calls.write_cdr_table(engine, estate.rows())
            engine.dispose()
            system = _asterisk(share, database.url)
        else:
            share.write("cdr/Master.csv", calls.cdr_csv(estate.rows()))
            system = _asterisk(share, str(share.path / "cdr" / "Master.csv"))
            system["copies"] = []
    elif kind == "connect":
        bucket = make_bucket(versioned=True)
        records = [_ctr(JANE_CONTACT, "+447700900111", "2024-03-01T10:15:00Z", bucket.name),
                   _ctr(OTHER_CONTACT, "+447700900222", "2024-03-04T09:00:00Z", bucket.name)]
        bucket.put("ctr/2024/03/04/firehose-1", "".join(json.dumps(r) for r in records))
        for record in records:
            key = record["Recording"]["Location"].split("/", 1)[1]
            bucket.put(key, wav_bytes(1.0))
        entry = bucket.entry("calls")
        system = {**entry, "connector": "recordings", "layout": "connect",
                  "url": f"s3://{bucket.name}/connect/acme/", "cdr": f"s3://{bucket.name}/ctr/"}
    else:
        share = make_share("local")
        for stem, number in (("rec-0001", "07700 900111"), ("rec-0002", "07700 900222")):
            share.write(f"2024/03/01/{stem}.wav", wav_bytes(1.0))
            share.write(f"2024/03/01/{stem}.json", json.dumps(
                {"id": stem, "direction": "inbound", "from": number, "to": "01632 960000",
                 "caller_name": "Jane Doe", "started": "2024-03-01T10:15:00Z"}))
        system = {**share.entry("calls"), "connector": "recordings", "layout": "sidecar",
                  "our_numbers": [calls.OUR_DDI]}
    yield Seed(system=system, subject=SUBJECT, lookalike=LOOKALIKE)
