"""Erasure, suppression and restriction in buckets (a real S3 endpoint over HTTP, moto's
server): the current object rewritten without the subject and every older version holding
them deleted, attributes kept, another writer detected, locks respected, every step verified.

Jane Doe (jane.doe@example.com, 07700 900123) is the subject; everyone else is made up.
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from agent.models import Finding
from agent.planner import PlanContext, make_plan
from agent.plans import PlanItem
from agent.policy import load_policy
from agent.subjects import subject_from_mapping
from connectors.s3 import objects
from connectors.s3.connector import S3Connector
from connectors.s3.erase import MANIFEST

if TYPE_CHECKING:
    from tests.s3_server import Bucket

pytest_plugins = ["tests.s3_server"]

JANE = {"email": ["jane.doe@example.com"], "phone": ["07700 900123"], "name": "Jane Doe"}
SECRETS = (b"jane.doe@example.com", b"07700 900123", b"7700900123")
CSV = ("name,email,phone\n"
       "Bob Smith,bob.smith@example.com,01632 960333\n"
       "Jane Doe,jane.doe@example.com,07700 900123\n"
       "Ann Lee,ann.lee@example.com,01632 960444\n")
CSV_OLD = ("name,email,phone\n"
           "Jane Doe,jane.doe@example.com,07700 900123\n")


# --------------------------------------------------------------------------- helpers
def connector(bucket: Bucket, **options: Any) -> S3Connector:
    return S3Connector(bucket.system("bucket", **options))


def found(conn: S3Connector, person: dict[str, Any] = JANE) -> dict[str, Finding]:
    subject = subject_from_mapping(person, default_ref="S0")
    return {f.locator: f for f in conn.search([subject])}


def item(finding: Finding, action: str = "delete", **notes: Any) -> PlanItem:
    return PlanItem(id=finding.id, action=action, reason="test", system=finding.system,
                    kind="object", locator=finding.locator, container=finding.container,
                    rows=finding.rows, notes={"request": "R-TEST", **notes})


def erase_all(conn: S3Connector, **notes: Any) -> list[Any]:
    findings = found(conn)
    assert findings
    for finding in findings.values():
        assert "delete" in conn.actions_for(finding) or notes.get("whole_document")
    return list(conn.erase([item(f, "delete", **notes) for f in findings.values()]))


def clean(data: bytes) -> bool:
    return not any(secret in data.lower() for secret in SECRETS)


def only_version_ids(bucket: Bucket, key: str) -> list[str]:
    return [v["VersionId"] for v in bucket.versions(key)]


# --------------------------------------------------------------------------- versioned
def test_versioned_csv_rewritten_and_every_old_version_holding_her_deleted(
        make_bucket: Callable[..., Bucket]) -> None:
    bucket = make_bucket(versioned=True)
    old = bucket.put("lists/contacts.csv", CSV_OLD)["VersionId"]
    bob_only = bucket.put("lists/contacts.csv", "name,email\nBob,bob.smith@example.com\n")
    current = bucket.put("lists/contacts.csv", CSV, ContentType="text/csv",
                         Metadata={"owner": "marketing"}, Tagging="team=sales",
                         StorageClass="STANDARD_IA", ServerSideEncryption="AES256")
    conn = connector(bucket)
    findings = found(conn)
    assert set(findings) == {"lists/contacts.csv", f"lists/contacts.csv?versionId={old}"}

    outcomes = erase_all(conn)
    assert [o.status for o in outcomes] == ["done", "done"], [o.detail for o in outcomes]
    removed = {v for o in outcomes for v in o.versions}
    assert removed == {old, current["VersionId"]}  # the version read goes too
    # what is left: Bob's old version and the rewritten one, which keeps every attribute
    left = only_version_ids(bucket, "lists/contacts.csv")
    assert bob_only["VersionId"] in left and len(left) == 2
    body = bucket.get("lists/contacts.csv")
    assert body == CSV.replace("Jane Doe,jane.doe@example.com,07700 900123\n", "").encode()
    head = bucket.client.head_object(Bucket=bucket.name, Key="lists/contacts.csv")
    assert head["ContentType"] == "text/csv" and head["Metadata"] == {"owner": "marketing"}
    assert head["StorageClass"] == "STANDARD_IA" and head["ServerSideEncryption"] == "AES256"
    assert objects.get_tags(bucket.client, bucket.name, "lists/contacts.csv") == {
        "team": "sales"}
    assert not found(conn)
    again = list(conn.erase([item(f) for f in findings.values()]))
    assert {o.status for o in again} == {"absent"}


def test_a_write_by_someone_else_during_the_rewrite_is_not_lost(
        make_bucket: Callable[..., Bucket]) -> None:
    bucket = make_bucket(versioned=True)
    bucket.put("lists/contacts.csv", CSV)
    conn = connector(bucket)
    findings = found(conn)
    other = bucket.server.client()
    racing = {"left": 1}
    newer = CSV + "Cy Ray,cy.ray@example.com,01632 960555\n"

    def before_put(params: dict[str, Any], **_: Any) -> None:
        if racing["left"] and params.get("Key") == "lists/contacts.csv":
            racing["left"] -= 1  # another writer lands between our read and our write
            other.put_object(Bucket=bucket.name, Key="lists/contacts.csv", Body=newer.encode())

    conn.client().meta.events.register("before-parameter-build.s3.PutObject", before_put)
    [outcome] = list(conn.erase([item(f) for f in findings.values()]))
    assert outcome.status == "done", outcome.detail
    body = bucket.get("lists/contacts.csv").decode()
    assert "cy.ray@example.com" in body and "bob.smith@example.com" in body
    assert clean(body.encode())
    for version in only_version_ids(bucket, "lists/contacts.csv"):  # nothing of hers left
        assert clean(bucket.get("lists/contacts.csv", version))


def test_whole_object_delete_removes_every_version_and_leaves_no_marker(
        make_bucket: Callable[..., Bucket]) -> None:
    bucket = make_bucket(versioned=True)
    bucket.put("letters/jane.txt", "Dear Jane, jane.doe@example.com\n")
    bucket.put("letters/jane.txt", "Dear Jane, jane.doe@example.com, 07700 900123\n")
    bucket.put("letters/bob.txt", "Dear Bob, bob.smith@example.com\n")
    conn = connector(bucket)
    outcomes = erase_all(conn, whole_document=True)
    assert {o.status for o in outcomes} == {"done"}
    assert sum(len(o.versions) for o in outcomes) == 2
    assert bucket.versions("letters/jane.txt") == []  # no versions, no delete markers
    assert bucket.get("letters/bob.txt")


def test_a_locked_version_is_beyond_use_never_deleted(
        make_bucket: Callable[..., Bucket], tmp_path: Path) -> None:
    bucket = make_bucket(object_lock=True)
    until = datetime.now(UTC) + timedelta(days=30)
    bucket.put("archive/list.csv", CSV, ObjectLockMode="GOVERNANCE",
               ObjectLockRetainUntilDate=until)
    conn = connector(bucket)
    [finding] = found(conn).values()
    actions = conn.actions_for(finding)
    assert "beyond_use" in actions and "delete" not in actions
    assert conn.kept_until(finding) == until.date().isoformat()
    text = (Path(__file__).resolve().parents[1] / "config" / "policy.toml").read_text()
    text += ('\n[[mapping]]\nsystem = "bucket"\ncontainer = "*"\ngroup = "Contact"\n'
             'rule = "contact_details"\n')
    (tmp_path / "policy.toml").write_text(text)
    policy = load_policy(tmp_path / "policy.toml")
    [planned] = [i for i in make_plan(PlanContext(
        request_id="r1", request_type="erasure", policy=policy,
        connector=lambda name: conn), [finding]) if i.id == finding.id]
    assert planned.action == "beyond_use" and planned.until == until.date().isoformat()
    # a lock placed after planning stops the run for that item: never reported done
    [outcome] = list(conn.erase([item(finding)]))
    assert outcome.status == "failed" and "locked" in outcome.detail
    assert not clean(bucket.get("archive/list.csv"))


# --------------------------------------------------------------------------- unversioned
def test_unversioned_jsonl_and_text_rewritten_in_place(
        make_bucket: Callable[..., Bucket]) -> None:
    bucket = make_bucket()
    bucket.put("events/a.jsonl",
               '{"email": "bob.smith@example.com"}\n{"email": "jane.doe@example.com"}\n')
    bucket.put("notes/call.txt", "Called 07700 900123 about the quote.\nBob agreed.\n")
    conn = connector(bucket)
    outcomes = erase_all(conn)
    assert {o.status for o in outcomes} == {"done"}
    assert bucket.get("events/a.jsonl") == b'{"email": "bob.smith@example.com"}\n'
    text = bucket.get("notes/call.txt")
    assert clean(text) and b"Bob agreed." in text
    assert not found(conn)


def test_parquet_object_rewritten_with_its_exact_types(
        make_bucket: Callable[..., Bucket]) -> None:
    bucket = make_bucket(versioned=True)
    table = pa.table({"email": ["bob.smith@example.com", "jane.doe@example.com"],
                      "spent": pa.array([1, 2], pa.decimal128(10, 2)),
                      "seen": pa.array([datetime(2024, 1, 1, tzinfo=UTC)] * 2,
                                       pa.timestamp("us", tz="UTC"))})
    sink = io.BytesIO()
    pq.write_table(table, sink)
    bucket.put("analytics/people.parquet", sink.getvalue())
    conn = connector(bucket)
    outcomes = erase_all(conn)
    assert {o.status for o in outcomes} == {"done"}, [o.detail for o in outcomes]
    rewritten = pq.ParquetFile(io.BytesIO(bucket.get("analytics/people.parquet"))).read()
    assert rewritten.schema.equals(table.schema)
    assert rewritten.column("email").to_pylist() == ["bob.smith@example.com"]
    assert len(bucket.versions("analytics/people.parquet")) == 1  # the old one deleted


def test_gzip_csv_and_gzip_sql_dump_rewritten_inside_their_compression(
        make_bucket: Callable[..., Bucket]) -> None:
    bucket = make_bucket(prefix="", versioned=False)
    bucket.put("exports/contacts.csv.gz", gzip.compress(CSV.encode()),
               ContentType="application/gzip")
    dump = ("-- PostgreSQL database dump\n"
            "COPY public.contacts (name, email, phone) FROM stdin;\n"
            "Bob Smith\tbob.smith@example.com\t01632 960333\n"
            "Jane Doe\tjane.doe@example.com\t07700 900123\n"
            "\\.\n")
    bucket.put("backups/crm.sql.gz", gzip.compress(dump.encode()))
    conn = connector(bucket, backup_prefixes=["backups/"], backup_mode="rewrite")
    outcomes = erase_all(conn)
    assert {o.status for o in outcomes} == {"done"}, [o.detail for o in outcomes]
    assert gzip.decompress(bucket.get("exports/contacts.csv.gz")) == CSV.replace(
        "Jane Doe,jane.doe@example.com,07700 900123\n", "").encode()
    assert gzip.decompress(bucket.get("backups/crm.sql.gz")) == dump.replace(
        "Jane Doe\tjane.doe@example.com\t07700 900123\n", "").encode()
    head = bucket.client.head_object(Bucket=bucket.name, Key="exports/contacts.csv.gz")
    assert head["ContentType"] == "application/gzip"
    assert not found(conn)


def test_a_multipart_object_over_8_mb_is_rewritten(make_bucket: Callable[..., Bucket]) -> None:
    bucket = make_bucket(versioned=True)
    filler = "".join(f"Person {i},p{i}@example.com,01632 960{i % 1000:03d}\n"
                     for i in range(230_000))
    data = ("name,email,phone\n" + filler + "Jane Doe,jane.doe@example.com,07700 900123\n")
    assert len(data) > 8 << 20
    bucket.put("big/list.csv", data)
    conn = connector(bucket)
    outcomes = erase_all(conn)
    assert [o.status for o in outcomes] == ["done"], [o.detail for o in outcomes]
    body = bucket.get("big/list.csv")
    assert clean(body) and len(body) == len(data) - len(
        "Jane Doe,jane.doe@example.com,07700 900123\n")


# --------------------------------------------------------------------------- marks
def test_suppress_tags_objects_and_lists_rows_in_the_manifest(
        make_bucket: Callable[..., Bucket]) -> None:
    bucket = make_bucket(prefix="crm/")
    bucket.put("crm/lists/contacts.csv", CSV)
    bucket.put("crm/notes/jane.txt", "jane.doe@example.com asked not to be called\n")
    conn = connector(bucket)
    findings = found(conn)
    items = [item(f, "suppress") for f in findings.values()]
    outcomes = list(conn.suppress(items))
    assert {o.status for o in outcomes} == {"done"}
    for key in ("crm/lists/contacts.csv", "crm/notes/jane.txt"):
        tags = objects.get_tags(bucket.client, bucket.name, key)
        assert tags["dsr-suppressed"] == "true" and tags["dsr-request"] == "R-TEST"
    manifest = json.loads(bucket.get("crm/" + MANIFEST))
    text = json.dumps(manifest)
    assert "crm/lists/contacts.csv" in text and "jane" not in text.lower()
    assert {o.status for o in conn.suppress(items)} == {"absent"}  # marked once
    assert set(found(conn)) == set(findings)  # marked, not removed; manifest not searched
    restricted = list(conn.restrict([item(f, "restrict") for f in findings.values()]))
    assert {o.status for o in restricted} == {"done"}
    assert objects.get_tags(bucket.client, bucket.name, "crm/notes/jane.txt")[
        "dsr-restricted"] == "true"


def test_erasure_without_a_search_record_fails_before_changing_anything(
        make_bucket: Callable[..., Bucket]) -> None:
    bucket = make_bucket()
    bucket.put("lists/contacts.csv", CSV)
    findings = found(connector(bucket))
    fresh = connector(bucket)  # another process: no search record of who is in the rows
    with pytest.raises(Exception, match="search"):
        list(fresh.erase([item(f) for f in findings.values()]))
    assert bucket.get("lists/contacts.csv") == CSV.encode()
