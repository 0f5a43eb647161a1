"""The s3 connector's search, read, check and discover against moto's standalone S3 server
over HTTP (``tests.s3_server``): boto3 talks to it through ``endpoint_url`` as it would to
MinIO or AWS, and the engine's attribution decides strength as for every connector.

Jane Doe is the subject; another Jane Doe (jane.doe@example.co.uk) is the look-alike; the
rest are bystanders. All data is made up (example.com, 07700 900xxx).
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import os
import socket
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from agent.engine import SearchEngine
from agent.errors import ConfigError
from agent.models import Finding, SearchResult
from agent.subjects import subject_from_mapping
from connectors.s3.connector import S3Connector
from connectors.s3.transport import S3Transport
from tests.support.documents import docx_bytes
from tests.support.engines import engines

if TYPE_CHECKING:
    from agent.testing import LogCapture
    from tests.s3_server import Bucket, S3Server

pytest_plugins = ["tests.s3_server"]

JANE = {"ref": "jane", "email": ["jane.doe@example.com"], "phone": ["07700 900123"],
        "name": "Jane Doe"}
BOB = {"ref": "bob", "email": ["bob.smith@example.com"], "name": "Bob Smith"}
AMY = {"ref": "amy", "email": ["amy.adams@example.co.uk"], "name": "Amy Adams"}
CONTACTS_HEADER = "name,email,phone,notes\n"


# --------------------------------------------------------------------------- helpers




@pytest.fixture
def engine_for(tmp_path: Path) -> Iterator[Callable[..., SearchEngine]]:
    with engines(tmp_path) as make:
        yield lambda bucket, **options: make(bucket.entry("bucket", timeout=120, **options))


def search(engine: SearchEngine, *people: dict[str, Any], ok: bool = True
           ) -> list[SearchResult]:
    subjects = [subject_from_mapping(p, default_ref=f"S{i}") for i, p in enumerate(people)]
    results = engine.search(subjects, operator="test", reason="s3 test", record=False)
    if ok:
        for result in results:
            assert all(s.status == "ok" for s in result.systems), result.systems
    return results


def by_locator(result: SearchResult) -> dict[str, Finding]:
    return {f.locator: f for f in result.findings}


def connector(engine: SearchEngine) -> S3Connector:
    found = engine.connector(engine.config.systems[0])
    assert isinstance(found, S3Connector)
    return found


def write_estate(bucket: Bucket, base: str = "") -> None:
    """Every format once, the subject in each; a bystanders-only list beside them."""
    bucket.put(f"{base}crm/contacts.csv",
               CONTACTS_HEADER
               + 'Bob Smith,bob.smith@example.com,01632 960333,"called twice\nno answer"\n'
               + 'Jane Doe,jane.doe@example.com,07700 900123,"prefers e-mail"\n')
    bucket.put(f"{base}crm/events.jsonl",
               json.dumps({"name": "Bob Smith", "email": "bob.smith@example.com"}) + "\n"
               + json.dumps({"name": "Jane Doe", "email": "jane.doe@example.com"}) + "\n")
    bucket.put(f"{base}exports/2024/contacts.csv.gz", gzip.compress(
        (CONTACTS_HEADER + "Jane Doe,jane.doe@example.com,07700 900123,gz\n").encode()))
    bucket.put(f"{base}notes/call.txt", "Spoke to the customer on 07700 900123 today.\n")
    bucket.put(f"{base}letters/complaint.docx", docx_bytes(
        "Dear Ms Doe,", "We reply to jane.doe@example.com about your complaint.",
        "Copy to our agent, desk.agent@example.co.uk."))
    bucket.put(f"{base}crm/others.csv",
               CONTACTS_HEADER + "Amy Adams,amy.adams@example.co.uk,07700 900456,x\n")


ESTATE = {  # locator -> (strength, rows)
    "crm/contacts.csv": ("strong", [3]),  # records: the quoted newline is inside row 2
    "crm/events.jsonl": ("strong", [2]),
    "exports/2024/contacts.csv.gz": ("strong", [2]),
    "notes/call.txt": ("strong", None),
    "letters/complaint.docx": ("strong", None),
}


# --------------------------------------------------------------------------- formats, read


def test_finds_the_subject_in_every_format(make_bucket, engine_for) -> None:
    bucket = make_bucket()
    write_estate(bucket)
    engine = engine_for(bucket)
    [result] = search(engine, JANE)
    found = by_locator(result)
    assert set(found) == set(ESTATE), sorted(set(found) ^ set(ESTATE))
    for locator, (strength, rows) in ESTATE.items():
        finding = found[locator]
        assert (finding.strength, finding.rows) == (strength, rows), locator
        assert finding.kind == "object" and finding.system == "bucket"
        assert finding.container == locator.rsplit("/", 1)[0]
    report = connector(engine).last_report
    assert report is not None and report.problems == [] and report.scanned == 6
    assert connector(engine).manual_tasks("access") == []


def test_read_gives_the_subjects_rows_and_lists_documents(make_bucket, engine_for) -> None:
    bucket = make_bucket()
    write_estate(bucket)
    engine = engine_for(bucket)
    [result] = search(engine, JANE)
    records = list(connector(engine).read(result.findings))
    by_finding: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        by_finding.setdefault(record["finding"], []).append(record)
    assert set(by_finding) == {f.id for f in result.findings}
    [row] = by_finding["bucket:crm/contacts.csv"]
    assert row["row_number"] == 3 and row["row"] == {
        "name": "Jane Doe", "email": "jane.doe@example.com", "phone": "07700 900123",
        "notes": "prefers e-mail"}
    [line] = by_finding["bucket:crm/events.jsonl"]
    assert line["row"] == {"name": "Jane Doe", "email": "jane.doe@example.com"}
    [gz_row] = by_finding["bucket:exports/2024/contacts.csv.gz"]
    assert gz_row["row"]["notes"] == "gz"
    [letter] = by_finding["bucket:letters/complaint.docx"]  # names Bob too: for review
    assert letter["disclosure_review"] is True and letter["size"] > 0
    [note] = by_finding["bucket:notes/call.txt"]  # about her alone: the object itself
    assert note["row"]["whole_document"] is True
    assert base64.b64decode(note["row"]["content_base64"]).startswith(b"Spoke to")
    text = json.dumps(records)
    assert "desk.agent" not in text and "We reply" not in text  # documents naming others listed


def test_prefix_include_and_exclude(make_bucket, engine_for) -> None:
    bucket = make_bucket(prefix="team/")
    write_estate(bucket, "team/")
    write_estate(bucket, "elsewhere/")  # outside the configured prefix: never listed
    engine = engine_for(bucket, include=["*.csv.gz", "team/notes/", "*.csv"],
                        exclude=["team/crm/*"])
    [result] = search(engine, JANE)
    # locators are full keys, prefix included
    assert sorted(by_locator(result)) == ["team/exports/2024/contacts.csv.gz",
                                          "team/notes/call.txt"]
    report = connector(engine).last_report
    assert report is not None and report.files == 6 and report.excluded == 4


# --------------------------------------------------------------------------- versions


def test_non_current_versions_are_searched(make_bucket, engine_for) -> None:
    bucket = make_bucket(versioned=True)
    old = bucket.put("crm/contacts.csv", CONTACTS_HEADER
                     + "Jane Doe,jane.doe@example.com,07700 900123,old\n")["VersionId"]
    bucket.put("crm/contacts.csv", CONTACTS_HEADER
               + "Bob Smith,bob.smith@example.com,01632 960333,new\n")
    both_old = bucket.put("crm/both.csv", CONTACTS_HEADER
                          + "Jane Doe,jane.doe@example.com,07700 900123,v1\n")["VersionId"]
    bucket.put("crm/both.csv", CONTACTS_HEADER
               + "Jane Doe,jane.doe@example.com,07700 900123,v2\n")
    gone = bucket.put("notes/deleted.txt", "Call jane.doe@example.com back.\n")["VersionId"]
    bucket.client.delete_object(Bucket=bucket.name, Key="notes/deleted.txt")  # a marker
    engine = engine_for(bucket)
    [result] = search(engine, JANE)
    found = by_locator(result)
    assert set(found) == {f"crm/contacts.csv?versionId={old}", "crm/both.csv",
                          f"crm/both.csv?versionId={both_old}",
                          f"notes/deleted.txt?versionId={gone}"}
    assert all(f.container in ("crm", "notes") for f in found.values())
    assert found[f"crm/contacts.csv?versionId={old}"].rows == [2]
    # read() reads the version the locator names
    records = list(connector(engine).read([found[f"crm/both.csv?versionId={both_old}"],
                                           found["crm/both.csv"]]))
    assert sorted(r["row"]["notes"] for r in records) == ["v1", "v2"]
    # versions = false: the current objects only
    [current] = search(engine_for(bucket, versions=False), JANE)
    assert sorted(by_locator(current)) == ["crm/both.csv"]


# --------------------------------------------------------------------------- scale


def test_over_a_thousand_objects_are_paged_through(make_bucket, engine_for) -> None:
    bucket = make_bucket()
    count = 1010  # over a thousand; most empty (listed, not read: moto answers ~100/s)
    written = {i for i in range(count) if i % 50 == 0} | {count - 3}

    def put(i: int) -> None:
        text = f"ticket {i}: nothing personal\n" if i in written else ""
        if i == count - 3:
            text = f"ticket {i}: call back on 07700 900123\n"
        bucket.put(f"tickets/{i // 100:02d}/{i:05d}.txt", text)

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(put, range(count)))
    engine = engine_for(bucket, page_size=250)
    pages: list[str] = []  # the connector's own client counts its listing requests
    connector(engine).client().meta.events.register(
        "before-call.s3.ListObjectsV2", lambda **_: pages.append("page"))
    [result] = search(engine, JANE)
    assert len(pages) == 5
    assert sorted(by_locator(result)) == [f"tickets/10/{count - 3:05d}.txt"]
    report = connector(engine).last_report
    assert report is not None and report.files == count
    assert report.scanned == len(written)  # every object with content read, on every page
    # emptied in bulk here: the fixture deletes one request per object
    keys = [{"Key": f"tickets/{i // 100:02d}/{i:05d}.txt"} for i in range(count)]
    for start in range(0, count, 1000):
        bucket.client.delete_objects(Bucket=bucket.name,
                                     Delete={"Objects": keys[start:start + 1000], "Quiet": True})


def test_a_multipart_object_over_8_mb(make_bucket, engine_for) -> None:
    from boto3.s3.transfer import TransferConfig

    bucket = make_bucket()
    note = "n" * 120  # long rows: fewer of them to parse for the same size
    filler = "".join(f"Customer {i},c{i}@example.org,01632 960{i % 1000:03d},{note}\n"
                     for i in range(60_000))
    body = (CONTACTS_HEADER + filler + "Jane Doe,jane.doe@example.com,07700 900123,end\n")
    data = body.encode()
    assert len(data) > 8 << 20
    bucket.client.upload_fileobj(io.BytesIO(data), bucket.name, "big/contacts.csv",
                                 Config=TransferConfig(multipart_threshold=5 << 20,
                                                       multipart_chunksize=5 << 20))
    head = bucket.client.head_object(Bucket=bucket.name, Key="big/contacts.csv")
    assert "-" in head["ETag"]  # uploaded in parts
    engine = engine_for(bucket)
    [result] = search(engine, JANE)
    [finding] = result.findings
    assert finding.locator == "big/contacts.csv" and finding.rows == [60_002]
    [record] = connector(engine).read([finding])
    assert record["row"]["notes"] == "end"


def test_a_batch_is_searched_in_one_pass(make_bucket, engine_for) -> None:
    bucket = make_bucket()
    write_estate(bucket)
    bucket.put("crm/bob.txt", "Bob Smith wrote from bob.smith@example.com.\n")
    engine = engine_for(bucket)
    jane, bob, amy = search(engine, JANE, BOB, AMY)
    assert set(by_locator(jane)) == set(ESTATE)
    assert set(by_locator(bob)) == {"crm/contacts.csv", "crm/events.jsonl", "crm/bob.txt"}
    assert set(by_locator(amy)) == {"crm/others.csv"}
    report = connector(engine).last_report
    assert report is not None and report.scanned == 7  # each object read once for all three


# --------------------------------------------------------------------------- unread objects


def test_archived_objects_are_not_read_and_become_manual_tasks(make_bucket,
                                                               engine_for) -> None:
    bucket = make_bucket()
    bucket.put("backups/2023.csv", CONTACTS_HEADER
               + "Jane Doe,jane.doe@example.com,07700 900123,archived\n", StorageClass="GLACIER")
    bucket.put("backups/deep.csv", "x\n", StorageClass="DEEP_ARCHIVE")
    bucket.put("backups/ir.csv", CONTACTS_HEADER
               + "Jane Doe,jane.doe@example.com,07700 900123,ir\n", StorageClass="GLACIER_IR")
    engine = engine_for(bucket)
    [result] = search(engine, JANE)
    assert sorted(by_locator(result)) == ["backups/ir.csv"]  # instant retrieval is read
    s3 = connector(engine)
    tasks = s3.manual_tasks("erasure")
    assert [(t.description, t.where) for t in tasks] == [
        ("not searched: restore needed", "backups/2023.csv"),
        ("not searched: restore needed", "backups/deep.csv")]
    assert len({t.key for t in tasks}) == 2
    assert s3.last_report is not None
    assert sorted(p.path for p in s3.last_report.problems) == ["backups/2023.csv",
                                                                "backups/deep.csv"]
    # a fresh connector, before any search, lists them too
    fresh = S3Connector(bucket.system("bucket"))
    assert [t.where for t in fresh.manual_tasks("access")] == [t.where for t in tasks]
    [box] = fresh.discover()
    assert box.notes["archived"] == 2 and box.notes["storage_classes"] == {
        "DEEP_ARCHIVE": 1, "GLACIER": 1, "GLACIER_IR": 1}


def test_the_planner_turns_archived_objects_into_manual_items(make_bucket,
                                                              engine_for) -> None:
    from agent.planner import PlanContext, make_plan

    bucket = make_bucket()
    bucket.put("old/2019.csv", "x\n", StorageClass="GLACIER")
    engine = engine_for(bucket)
    search(engine, JANE)
    s3 = connector(engine)
    items = make_plan(PlanContext(request_id="r1", request_type="access", policy=None,
                                  connector=lambda name: s3, manual_systems=["bucket"]), [])
    [item] = [i for i in items if i.action == "manual"]
    assert item.system == "bucket" and "not searched: restore needed" in item.reason
    assert item.notes["where"] == "old/2019.csv"


def test_an_access_denied_object_is_reported_and_the_rest_found(make_bucket,
                                                                engine_for) -> None:
    """A bucket policy denying GetObject on one key (moto's server enforces it over HTTP)."""
    bucket = make_bucket()
    write_estate(bucket)
    bucket.put("hr/secret.csv", CONTACTS_HEADER
               + "Jane Doe,jane.doe@example.com,07700 900123,hr\n")
    bucket.client.put_bucket_policy(Bucket=bucket.name, Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{bucket.name}/hr/secret.csv"}]}))
    engine = engine_for(bucket)
    [result] = search(engine, JANE)
    assert set(by_locator(result)) == set(ESTATE)
    report = connector(engine).last_report
    assert report is not None
    assert [(p.path, p.kind) for p in report.problems] == [("hr/secret.csv",
                                                            "permission denied")]


def test_an_object_over_max_object_bytes_is_reported(make_bucket, engine_for) -> None:
    bucket = make_bucket()
    write_estate(bucket)
    engine = engine_for(bucket, max_object_bytes=150)
    search(engine, JANE)
    report = connector(engine).last_report
    assert report is not None and report.problems
    assert {p.kind for p in report.problems} == {"too big"}
    assert all("max_object_bytes" in p.reason for p in report.problems)


# --------------------------------------------------------------------------- failures


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_wrong_endpoint_fails_the_system_clearly(make_bucket, engine_for) -> None:
    bucket = make_bucket()
    wrong = f"http://127.0.0.1:{_free_port()}"
    engine = engine_for(bucket, endpoint_url=wrong, connect_timeout=2)
    [result] = search(engine, JANE, ok=False)
    [status] = result.systems
    assert status.status == "error" and "'bucket'" in status.error
    assert "cannot reach the S3 endpoint" in status.error
    assert os.environ["DSR_TEST_S3_SECRET"] not in status.error
    # the plan still says the archive was not looked at
    [task] = connector(engine).manual_tasks("access")
    assert task.key == "restore-unknown" and "could not be listed" in task.description
    check = S3Connector(bucket.system("bucket", endpoint_url=wrong,
                                      connect_timeout=2)).check()
    assert not check.ok and "cannot reach the S3 endpoint" in check.detail
    missing = S3Connector(bucket.system("bucket", url="s3://dsr-no-such-bucket")).check()
    assert not missing.ok and "bucket" in missing.detail


def test_a_server_killed_mid_search_fails_the_search(make_bucket, engine_for,
                                                     dedicated_s3_server,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    server: S3Server = dedicated_s3_server()
    bucket = make_bucket(server=server)
    for i in range(40):
        bucket.put(f"notes/{i:03d}.txt", f"note {i}\n")
    reads = 0
    original = S3Transport.open_read

    def open_read(self: S3Transport, path: str, version: str | None = None) -> Any:
        nonlocal reads
        reads += 1
        if reads == 5:
            server.kill()  # the real server goes away while the sweep is reading
        return original(self, path, version)

    monkeypatch.setattr(S3Transport, "open_read", open_read)
    engine = engine_for(bucket, workers=2, connect_timeout=2)
    [result] = search(engine, JANE, ok=False)
    [status] = result.systems
    assert status.status == "error" and "'bucket'" in status.error, status
    assert "lost the connection to the bucket" in status.error
    assert "cannot reach the S3 endpoint" in status.error
    assert os.environ["DSR_TEST_S3_SECRET"] not in status.error
    assert os.environ["DSR_TEST_S3_KEY"] not in status.error


def test_options_are_validated_naming_the_key(make_bucket) -> None:
    bucket = make_bucket()
    cases = {
        "backup_mode": {"backup_mode": "shred"},
        "workers": {"workers": 0},
        "secret_access_key": {"secret_access_key": None},
        "endpoint_url": {"endpoint_url": "ftp://example.com"},
        "colour": {"colour": "blue"},
        "extraction.max_depth": {"extraction": {"max_depth": -1}},
        "url": {"url": "s3://"},
    }
    for key, options in cases.items():
        with pytest.raises(ConfigError) as caught:
            S3Connector(bucket.system("bucket", **options))
        assert caught.value.key == f"systems.bucket.{key}", (key, caught.value.key)
        assert os.environ["DSR_TEST_S3_SECRET"] not in str(caught.value)


def test_check_discover_and_actions(make_bucket) -> None:
    bucket = make_bucket(versioned=True)
    write_estate(bucket)
    bucket.put("crm/contacts.csv", CONTACTS_HEADER)  # the old version stays
    bucket.put("dumps/db.sql.gz", gzip.compress(b"-- dump\n"))
    s3 = S3Connector(bucket.system("bucket", backup_prefixes=["dumps/"]))
    assert s3.check().ok
    boxes = {c.name: c for c in s3.discover()}
    assert sorted(boxes) == ["crm", "dumps", "exports", "letters", "notes"]
    crm = boxes["crm"]
    assert crm.kind == "prefix" and crm.items == 3 and crm.notes["versions"] == 1
    assert crm.notes["types"] == {"csv": 3, "jsonl": 1}
    backup = Finding(system="bucket", kind="object", locator="dumps/db.sql.gz")
    plain = Finding(system="bucket", kind="object", locator="crm/contacts.csv")
    marks = {"export", "suppress", "restrict"}
    assert s3.actions_for(backup) == marks | {"beyond_use"}
    assert s3.actions_for(plain) == marks | {"delete", "anonymise"}
    rewrite = S3Connector(bucket.system("bucket", backup_prefixes=["dumps/"],
                                        backup_mode="rewrite"))
    assert "beyond_use" not in rewrite.actions_for(backup)


def test_no_personal_data_in_logs(make_bucket, engine_for, dsr_logs: LogCapture) -> None:
    bucket = make_bucket()
    write_estate(bucket)
    bucket.put("letters/jane.doe@example.com.txt", "Dear Jane Doe, hello.\n")  # a key naming her
    bucket.put("hr/broken.docx", b"PK\x03\x04 not really a document jane.doe@example.com")
    bucket.put("old/jane-07700900123.csv", "x\n", StorageClass="GLACIER")
    engine = engine_for(bucket)
    search(engine, JANE, BOB)
    connector(engine).manual_tasks("access")
    values = [("subject", "email", "jane.doe@example.com"), ("subject", "phone", "07700900123"),
              ("subject", "phone", "07700 900123"), ("subject", "name", "Jane Doe"),
              ("bystander", "email", "bob.smith@example.com"),
              ("config", "secret", os.environ["DSR_TEST_S3_SECRET"])]
    assert dsr_logs.leaks(values) == []


def test_store_errors_are_sorted_into_object_and_system_problems() -> None:
    """What each S3 error code means for the sweep, including ones moto cannot produce over
    HTTP (an Intelligent-Tiering archive tier refuses GetObject with InvalidObjectState)."""
    from botocore.exceptions import ClientError, EndpointConnectionError

    from agent.errors import ConnectorError
    from connectors.files.transport import FileUnavailable
    from connectors.s3.client import RESTORE_NEEDED, object_error
    from connectors.s3.transport import _entry

    def refused(code: str, status: int) -> ClientError:
        return ClientError({"Error": {"Code": code, "Message": "key jane.doe@example.com"},
                            "ResponseMetadata": {"HTTPStatusCode": status}}, "GetObject")

    def reason(exc: Exception) -> str:
        error = object_error("bucket", "hr/a.csv", exc)
        if isinstance(error, FileUnavailable):
            return f"object: {error.reason}"
        assert isinstance(error, ConnectorError) and "jane" not in str(error)
        return f"system: {error}"

    assert reason(refused("AccessDenied", 403)) == "object: permission denied"
    assert reason(refused("NoSuchKey", 404)) == "object: not found"
    assert reason(refused("InvalidObjectState", 403)).startswith(f"object: {RESTORE_NEEDED}")
    assert reason(refused("InvalidRequest", 400)) == \
        "object: the store refused to read it (InvalidRequest)"
    assert reason(refused("NoSuchBucket", 404)) == \
        "system: system 'bucket': the bucket does not exist"
    assert reason(refused("InvalidAccessKeyId", 403)).startswith(
        "system: system 'bucket': the store refused the credentials")
    assert reason(refused("InternalError", 500)).startswith("system: ")
    assert reason(EndpointConnectionError(endpoint_url="http://127.0.0.1:1")) == \
        "system: system 'bucket': cannot reach the S3 endpoint"
    # an archived object the listing says has a restored copy is read
    listed = {"Key": "old/a.csv", "Size": 3, "StorageClass": "GLACIER"}
    assert _entry(listed, None, latest=True).archived
    restored = {**listed, "RestoreStatus": {"IsRestoreInProgress": False,
                                            "RestoreExpiryDate": "2030-01-01"}}
    assert not _entry(restored, None, latest=True).archived
