"""connectors.s3.objects against a real S3 endpoint (moto's server over HTTP).

Concurrent writers are real second clients; their writes are timed with botocore's own
event hooks on our client (``before-call`` / ``after-call``), so every request still goes to
the server.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from agent.errors import ConnectorError
from connectors.files.transport import FileUnavailable
from connectors.s3 import objects as s3o

if TYPE_CHECKING:
    from tests.s3_server import Bucket, S3Server

pytest_plugins = ["tests.s3_server"]

KEY = "exports/jane.doe@example.com.csv"  # a key that names a person
ORIGINAL = b"id,email\n1,jane.doe@example.com\n2,sam@example.co.uk\n"
REWRITTEN = b"id,email\n2,sam@example.co.uk\n"
THEIRS = b"id,email\n3,other@example.com\n"
DIGEST = "a" * 64
KMS_KEY = "arn:aws:kms:eu-west-2:123456789012:key/11111111-2222-3333-4444-555555555555"

FULL_ATTRS: dict[str, Any] = {
    "ContentType": "text/csv", "ContentEncoding": "identity",
    "ContentDisposition": "attachment; filename=export.csv", "ContentLanguage": "en-GB",
    "CacheControl": "no-cache", "Expires": datetime(2031, 1, 1, tzinfo=UTC),
    "Metadata": {"owner": "crm", "source-system": "export-7"},
    "Tagging": "team=growth&retention=p1y", "StorageClass": "STANDARD_IA",
    "WebsiteRedirectLocation": "/moved", "ServerSideEncryption": "AES256"}


def ours(bucket: Bucket) -> Any:
    """A client of our own, so hooks on it never fire for the other writer's requests."""
    return bucket.server.client()


def hook(client: Any, event: str, action: Callable[[], object], times: int = 1) -> list[int]:
    """Run ``action`` (another writer) when ``event`` fires on ``client``, ``times`` times."""
    fired: list[int] = []

    def handler(**_: Any) -> None:
        if len(fired) < times:
            fired.append(1)
            action()

    client.meta.events.register(event, handler)
    return fired


def contents(bucket: Bucket, key: str) -> list[bytes]:
    """Every object version's bytes, newest first."""
    return [bucket.get(key, v["VersionId"]) for v in bucket.versions(key)
            if v["kind"] == "Versions"]


def kept(attrs: s3o.ObjectAttributes) -> dict[str, Any]:
    """The attributes a rewrite must keep (not etag, version, size, time)."""
    out = attrs.write_args()
    out.pop("Tagging", None)
    return {**out, "tags": dict(attrs.tags)}


# --- attributes and replace ---------------------------------------------------------------

def test_replace_keeps_every_attribute(make_bucket: Callable[..., Bucket]) -> None:
    bucket = make_bucket(versioned=True)
    first = bucket.put(KEY, ORIGINAL, **FULL_ATTRS)
    client = ours(bucket)
    read = s3o.attributes(client, bucket.name, KEY)
    assert read.version_id == first["VersionId"] and read.size == len(ORIGINAL)
    assert read.content_type == "text/csv" and read.storage_class == "STANDARD_IA"
    assert read.metadata == {"owner": "crm", "source-system": "export-7"}
    assert read.tags == {"team": "growth", "retention": "p1y"}
    assert read.server_side_encryption == "AES256"
    assert read.expires == datetime(2031, 1, 1, tzinfo=UTC)
    assert not read.archived and not read.lock().protected

    new_version = s3o.replace(client, bucket.name, KEY, read, io.BytesIO(REWRITTEN))

    assert new_version is not None and new_version != read.version_id
    after = s3o.attributes(client, bucket.name, KEY)
    assert after.version_id == new_version and bucket.get(KEY) == REWRITTEN
    assert kept(after) == kept(read)
    assert contents(bucket, KEY) == [REWRITTEN, ORIGINAL]  # old versions are erase's job


def test_replace_keeps_kms_encryption(make_bucket: Callable[..., Bucket]) -> None:
    bucket = make_bucket(versioned=True)
    bucket.put(KEY, ORIGINAL, ServerSideEncryption="aws:kms", SSEKMSKeyId=KMS_KEY,
               BucketKeyEnabled=True)
    client = ours(bucket)
    read = s3o.attributes(client, bucket.name, KEY)
    s3o.replace(client, bucket.name, KEY, read, REWRITTEN)
    head = client.head_object(Bucket=bucket.name, Key=KEY)
    assert (head["ServerSideEncryption"], head["SSEKMSKeyId"], head["BucketKeyEnabled"]) == \
        ("aws:kms", KMS_KEY, True)


def test_write_between_read_and_replace_is_a_conflict(
        make_bucket: Callable[..., Bucket]) -> None:
    bucket = make_bucket(versioned=True)
    bucket.put(KEY, ORIGINAL)
    client = ours(bucket)
    read = s3o.attributes(client, bucket.name, KEY)
    bucket.put(KEY, THEIRS)
    with pytest.raises(s3o.WriteConflict) as caught:
        s3o.replace(client, bucket.name, KEY, read, REWRITTEN)
    assert caught.value.key == KEY and KEY not in str(caught.value)
    assert contents(bucket, KEY) == [THEIRS, ORIGINAL]


def test_write_during_replace_fails_the_if_match(make_bucket: Callable[..., Bucket]) -> None:
    bucket = make_bucket(versioned=True)
    bucket.put(KEY, ORIGINAL)
    client = ours(bucket)
    read = s3o.attributes(client, bucket.name, KEY)
    fired = hook(client, "before-call.s3.PutObject", lambda: bucket.put(KEY, THEIRS))
    with pytest.raises(s3o.WriteConflict):
        s3o.replace(client, bucket.name, KEY, read, REWRITTEN)
    assert fired and contents(bucket, KEY) == [THEIRS, ORIGINAL]


@pytest.mark.parametrize("when", ["before-call", "after-call"])
def test_unconditional_write_is_rolled_back_on_conflict(
        make_bucket: Callable[..., Bucket], when: str) -> None:
    """Without If-Match (a store that lacks it) the version check afterwards catches another
    writer whose version lands under ours or on top of it, and removes our version."""
    bucket = make_bucket(versioned=True)
    bucket.put(KEY, ORIGINAL)
    client = ours(bucket)
    read = s3o.attributes(client, bucket.name, KEY)
    hook(client, f"{when}.s3.PutObject", lambda: bucket.put(KEY, THEIRS))
    with pytest.raises(s3o.WriteConflict):
        s3o.replace(client, bucket.name, KEY, read, REWRITTEN, conditional=False)
    assert contents(bucket, KEY) == [THEIRS, ORIGINAL]  # no version of ours remains
    assert bucket.get(KEY) == THEIRS


def test_delete_marker_during_replace_is_a_conflict(make_bucket: Callable[..., Bucket]) -> None:
    bucket = make_bucket(versioned=True)
    bucket.put(KEY, ORIGINAL)
    client = ours(bucket)
    read = s3o.attributes(client, bucket.name, KEY)
    other = bucket.client
    hook(client, "before-call.s3.PutObject",
         lambda: other.delete_object(Bucket=bucket.name, Key=KEY))
    with pytest.raises(s3o.WriteConflict):
        s3o.replace(client, bucket.name, KEY, read, REWRITTEN, conditional=False)
    assert contents(bucket, KEY) == [ORIGINAL]
    assert [v["kind"] for v in bucket.versions(KEY)].count("DeleteMarkers") == 1


def test_retry_rewrites_from_a_fresh_read(make_bucket: Callable[..., Bucket]) -> None:
    bucket = make_bucket(versioned=True)
    bucket.put(KEY, ORIGINAL, ContentType="text/csv")
    client = ours(bucket)
    hook(client, "before-call.s3.PutObject",
         lambda: bucket.put(KEY, ORIGINAL + THEIRS, ContentType="text/csv"))
    attempts: list[str | None] = []

    def rewrite() -> str | None:
        read = s3o.attributes(client, bucket.name, KEY)
        data = client.get_object(Bucket=bucket.name, Key=KEY,
                                 VersionId=read.version_id)["Body"].read()
        attempts.append(read.version_id)
        kept_lines = [line for line in data.splitlines(keepends=True) if b"jane" not in line]
        return s3o.replace(client, bucket.name, KEY, read, b"".join(kept_lines))

    version = s3o.with_retries(rewrite, attempts=3)
    assert len(attempts) == 2 and attempts[0] != attempts[1]
    assert bucket.get(KEY) == REWRITTEN + THEIRS
    assert bucket.versions(KEY)[0]["VersionId"] == version


def test_retry_gives_up_after_the_configured_attempts(
        make_bucket: Callable[..., Bucket]) -> None:
    """The second attempt's other writer puts the same bytes again: same ETag, so If-Match
    passes, and only the version check afterwards sees the extra version."""
    bucket = make_bucket(versioned=True)
    bucket.put(KEY, ORIGINAL)
    client = ours(bucket)
    fired = hook(client, "before-call.s3.PutObject", lambda: bucket.put(KEY, THEIRS), times=9)

    def rewrite() -> str | None:
        return s3o.replace(client, bucket.name, KEY,
                           s3o.attributes(client, bucket.name, KEY), REWRITTEN)

    with pytest.raises(s3o.WriteConflict):
        s3o.with_retries(rewrite, attempts=2)
    assert len(fired) == 2 and REWRITTEN not in contents(bucket, KEY)


def test_unversioned_bucket_replace_and_conflicts(make_bucket: Callable[..., Bucket]) -> None:
    bucket = make_bucket()
    bucket.put(KEY, ORIGINAL, **FULL_ATTRS)
    client = ours(bucket)
    read = s3o.attributes(client, bucket.name, KEY)
    assert read.version_id is None
    assert s3o.replace(client, bucket.name, KEY, read, REWRITTEN) is None
    after = s3o.attributes(client, bucket.name, KEY)
    assert bucket.get(KEY) == REWRITTEN and kept(after) == kept(read)

    # moto honours If-Match on put_object: a write in between fails ours, theirs stays.
    hook(client, "before-call.s3.PutObject", lambda: bucket.put(KEY, THEIRS))
    with pytest.raises(s3o.WriteConflict):
        s3o.replace(client, bucket.name, KEY, after, ORIGINAL)
    assert bucket.get(KEY) == THEIRS

    # Without If-Match nothing could detect a race here: refused before writing.
    read = s3o.attributes(client, bucket.name, KEY)
    with pytest.raises(s3o.ConditionalWriteUnsupported) as caught:
        s3o.replace(client, bucket.name, KEY, read, REWRITTEN, conditional=False)
    assert isinstance(caught.value, ConnectorError) and bucket.get(KEY) == THEIRS


def test_unversioned_write_after_ours_is_reported(make_bucket: Callable[..., Bucket]) -> None:
    bucket = make_bucket()
    bucket.put(KEY, ORIGINAL)
    client = ours(bucket)
    read = s3o.attributes(client, bucket.name, KEY)
    hook(client, "after-call.s3.PutObject", lambda: bucket.put(KEY, THEIRS))
    with pytest.raises(s3o.WriteConflict):
        s3o.replace(client, bucket.name, KEY, read, REWRITTEN)
    assert bucket.get(KEY) == THEIRS


def test_create_with_replace_refuses_an_existing_key(make_bucket: Callable[..., Bucket]) -> None:
    bucket = make_bucket()
    client = ours(bucket)
    attrs = s3o.ObjectAttributes(key="new.json", version_id=None, etag="", size=0,
                                 last_modified=None, content_type="application/json")
    assert s3o.replace(client, bucket.name, "new.json", None, b"{}", attrs=attrs) is None
    hook(client, "before-call.s3.PutObject", lambda: bucket.put("late.json", b"[]"))
    with pytest.raises(s3o.WriteConflict):  # If-None-Match: *
        s3o.replace(client, bucket.name, "late.json", None, b"{}", attrs=attrs)
    assert bucket.get("late.json") == b"[]"


def test_multipart_body_keeps_attributes(make_bucket: Callable[..., Bucket]) -> None:
    bucket = make_bucket(versioned=True)
    bucket.put(KEY, ORIGINAL, **FULL_ATTRS)
    client = ours(bucket)
    read = s3o.attributes(client, bucket.name, KEY)
    body = b"".join(b"%08d,row@example.com\n" % i for i in range(450_000))  # ~9.5 MB
    assert len(body) > s3o.MULTIPART_THRESHOLD
    version = s3o.replace(client, bucket.name, KEY, read, io.BytesIO(body))
    after = s3o.attributes(client, bucket.name, KEY)
    assert after.version_id == version and after.etag.strip('"').endswith("-2")
    assert after.size == len(body) and bucket.get(KEY) == body
    assert kept(after) == kept(read)


def test_multipart_conflict_is_rolled_back(make_bucket: Callable[..., Bucket]) -> None:
    """moto ignores If-Match on CompleteMultipartUpload (S3 honours it): the version check
    afterwards catches the other writer and our version is removed."""
    bucket = make_bucket(versioned=True)
    bucket.put(KEY, ORIGINAL)
    client = ours(bucket)
    read = s3o.attributes(client, bucket.name, KEY)
    hook(client, "before-call.s3.CompleteMultipartUpload", lambda: bucket.put(KEY, THEIRS))
    with pytest.raises(s3o.WriteConflict):
        s3o.replace(client, bucket.name, KEY, read, b"x" * (s3o.PART_SIZE + 10))
    assert contents(bucket, KEY) == [THEIRS, ORIGINAL]
    assert not client.list_multipart_uploads(Bucket=bucket.name).get("Uploads")


# --- deletion -----------------------------------------------------------------------------

def test_delete_versions_removes_only_the_named(make_bucket: Callable[..., Bucket]) -> None:
    bucket = make_bucket(versioned=True)
    v1, v2 = bucket.put(KEY, b"1")["VersionId"], bucket.put(KEY, b"2")["VersionId"]
    v3 = bucket.put(KEY, b"3")["VersionId"]
    result = s3o.delete_versions(ours(bucket), bucket.name, KEY, [v1, v2])
    assert result.removed == [v1, v2] and not result.protected and not result.failed
    assert [v["VersionId"] for v in bucket.versions(KEY)] == [v3]


def test_delete_markers_rule(make_bucket: Callable[..., Bucket]) -> None:
    bucket = make_bucket(versioned=True)
    client = ours(bucket)
    # Only markers left after the deletions: they point at nothing and all go.
    v1 = bucket.put("a.csv", b"1")["VersionId"]
    bucket.client.delete_object(Bucket=bucket.name, Key="a.csv")
    s3o.delete_versions(client, bucket.name, "a.csv", [v1])
    assert len(s3o.delete_markers(client, bucket.name, "a.csv")) == 1
    assert bucket.versions("a.csv") == []

    # Versions remain: a latest marker still hides them and stays, even when named ours;
    # a non-latest marker named ours goes; other markers are someone's history and stay.
    w1 = bucket.put("b.csv", b"1")["VersionId"]
    m1 = bucket.client.delete_object(Bucket=bucket.name, Key="b.csv")["VersionId"]
    bucket.put("b.csv", b"2")
    m2 = bucket.client.delete_object(Bucket=bucket.name, Key="b.csv")["VersionId"]
    bucket.put("b.csv", b"3")
    m3 = bucket.client.delete_object(Bucket=bucket.name, Key="b.csv")["VersionId"]
    s3o.delete_versions(client, bucket.name, "b.csv", [w1])
    assert s3o.delete_markers(client, bucket.name, "b.csv", ours=[m1, m3]) == [m1]
    left = {v["VersionId"] for v in bucket.versions("b.csv") if v["kind"] == "DeleteMarkers"}
    assert left == {m2, m3}


def test_delete_key_leaves_nothing_behind(make_bucket: Callable[..., Bucket]) -> None:
    bucket = make_bucket(versioned=True)
    v1 = bucket.put(KEY, ORIGINAL)["VersionId"]
    bucket.client.delete_object(Bucket=bucket.name, Key=KEY)  # someone's earlier delete
    v2 = bucket.put(KEY, ORIGINAL)["VersionId"]
    result = s3o.delete_key(ours(bucket), bucket.name, KEY, [v1, v2])
    assert sorted(result.removed) == sorted([v1, v2]) and len(result.markers_removed) == 1
    assert result.marker_left is None and bucket.versions(KEY) == []


def test_delete_key_hides_versions_it_keeps(make_bucket: Callable[..., Bucket]) -> None:
    bucket = make_bucket(versioned=True)
    bucket.put(KEY, b"id\n9\n")  # an old version without the subject
    current = bucket.put(KEY, ORIGINAL)["VersionId"]
    client = ours(bucket)
    result = s3o.delete_key(client, bucket.name, KEY, [current])
    assert result.removed == [current] and result.marker_left is not None
    with pytest.raises(s3o.ObjectUnavailable):  # the old version does not come back
        s3o.attributes(client, bucket.name, KEY)


def test_delete_on_unversioned_bucket(make_bucket: Callable[..., Bucket]) -> None:
    bucket = make_bucket()
    bucket.put(KEY, ORIGINAL)
    result = s3o.delete_key(ours(bucket), bucket.name, KEY, [None])
    assert result.removed == ["null"] and bucket.versions(KEY) == []


def test_object_lock_versions_are_protected(make_bucket: Callable[..., Bucket]) -> None:
    bucket = make_bucket(object_lock=True)
    until = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    plain = bucket.put(KEY, b"0")["VersionId"]
    compliance = bucket.put(KEY, b"1", ObjectLockMode="COMPLIANCE",
                            ObjectLockRetainUntilDate=until)["VersionId"]
    governance = bucket.put(KEY, b"2", ObjectLockMode="GOVERNANCE",
                            ObjectLockRetainUntilDate=until)["VersionId"]
    held = bucket.put(KEY, b"3", ObjectLockLegalHoldStatus="ON")["VersionId"]
    client = ours(bucket)

    state = s3o.attributes(client, bucket.name, KEY, compliance).lock()
    assert state.protected and state.until == until and state.mode == "COMPLIANCE"
    assert s3o.attributes(client, bucket.name, KEY, held).lock() == s3o.LockState(
        protected=True, until=None, legal_hold=True, mode=None)

    result = s3o.delete_versions(client, bucket.name, KEY, [plain, compliance, governance,
                                                           held])
    assert result.removed == [plain] and not result.failed
    assert {p.version_id: (p.until, p.legal_hold, p.mode) for p in result.protected} == {
        compliance: (until, False, "COMPLIANCE"), governance: (until, False, "GOVERNANCE"),
        held: (None, True, None)}

    bypass = s3o.delete_versions(client, bucket.name, KEY, [compliance, governance],
                                 bypass_governance=True)
    assert bypass.removed == [governance] and [p.version_id for p in bypass.protected] == \
        [compliance]
    # The rewrite itself still works on a locked current version (a new version on top).
    read = s3o.attributes(client, bucket.name, KEY)
    assert s3o.replace(client, bucket.name, KEY, read, b"4") is not None
    client.put_object_legal_hold(Bucket=bucket.name, Key=KEY, VersionId=held,
                                 LegalHold={"Status": "OFF"})


def test_lock_state_and_archive_classes() -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    assert not s3o.lock_state("COMPLIANCE", now - timedelta(seconds=1), False, now=now).protected
    assert s3o.lock_state("GOVERNANCE", now + timedelta(days=1), False, now=now).until == \
        now + timedelta(days=1)
    assert s3o.lock_state(None, None, True, now=now).protected
    assert s3o.is_archived("GLACIER") and s3o.is_archived("DEEP_ARCHIVE")
    assert not s3o.is_archived("GLACIER_IR") and not s3o.is_archived(None)
    assert s3o.is_archived("INTELLIGENT_TIERING", "ARCHIVE_ACCESS")


def test_archived_object_is_reported_until_restored(make_bucket: Callable[..., Bucket]) -> None:
    bucket = make_bucket()
    bucket.put(KEY, ORIGINAL, StorageClass="DEEP_ARCHIVE")
    bucket.put("ir.csv", ORIGINAL, StorageClass="GLACIER_IR")
    client = ours(bucket)
    archived = s3o.attributes(client, bucket.name, KEY)
    assert archived.storage_class == "DEEP_ARCHIVE" and archived.archived
    assert not s3o.attributes(client, bucket.name, "ir.csv").archived
    client.restore_object(Bucket=bucket.name, Key=KEY, RestoreRequest={"Days": 1})
    assert not s3o.attributes(client, bucket.name, KEY).archived


# --- tags ---------------------------------------------------------------------------------

def test_tags_merge_remove_and_limit(make_bucket: Callable[..., Bucket]) -> None:
    bucket = make_bucket(versioned=True)
    old = bucket.put(KEY, ORIGINAL, Tagging="team=growth&dsr-request=old")["VersionId"]
    bucket.put(KEY, REWRITTEN, Tagging="team=growth")
    client = ours(bucket)
    merged = s3o.add_tags(client, bucket.name, KEY, old, s3o.suppression_tags("req-1"))
    assert merged == {"team": "growth", "dsr-suppressed": "true", "dsr-request": "req-1"}
    assert s3o.get_tags(client, bucket.name, KEY, old) == merged
    assert s3o.get_tags(client, bucket.name, KEY) == {"team": "growth"}  # other version
    assert s3o.remove_tags(client, bucket.name, KEY, old,
                           [s3o.SUPPRESSED_TAG, s3o.REQUEST_TAG]) == {"team": "growth"}

    many = "&".join(f"t{i}=v" for i in range(9))
    bucket.put("full.csv", b"x", Tagging=many)
    with pytest.raises(s3o.TagLimitExceeded) as caught:
        s3o.add_tags(client, bucket.name, "full.csv", None, s3o.restriction_tags("req-1"))
    assert "10" in str(caught.value) and "11" in str(caught.value)
    assert len(s3o.get_tags(client, bucket.name, "full.csv")) == 9


# --- manifest -----------------------------------------------------------------------------

def entry(key: str, rows: tuple[int, ...], *, request: str = "req-1",
          action: str = "suppress") -> s3o.ManifestEntry:
    return s3o.ManifestEntry(key=key, version_id="v1", rows=rows, request_id=request,
                             subject_digest=DIGEST, action=action,  # type: ignore[arg-type]
                             time=datetime(2026, 1, 1, tzinfo=UTC))


def test_manifest_created_then_merged(make_bucket: Callable[..., Bucket]) -> None:
    bucket = make_bucket(versioned=True)
    client = ours(bucket)
    s3o.write_manifest(client, bucket.name, "dsr/manifest.json", [entry(KEY, (3, 1))])
    s3o.write_manifest(client, bucket.name, "dsr/manifest.json",
                       [entry(KEY, (2, 3)), entry(KEY, (7,), action="restrict")])
    attrs, entries = s3o.read_manifest(client, bucket.name, "dsr/manifest.json")
    assert attrs is not None and attrs.content_type == "application/json"
    assert [(e.action, e.rows) for e in entries] == [("restrict", (7,)), ("suppress", (1, 2, 3))]
    document = json.loads(bucket.get("dsr/manifest.json"))
    assert "jane" not in json.dumps(document["entries"][0]["subject_digest"])
    assert len(contents(bucket, "dsr/manifest.json")) == 2


def test_manifest_keeps_a_concurrent_writers_entries(make_bucket: Callable[..., Bucket]) -> None:
    bucket = make_bucket(versioned=True)
    client = ours(bucket)
    s3o.write_manifest(client, bucket.name, "m.json", [entry("a.csv", (1,))])
    other = bucket.client
    hook(client, "before-call.s3.PutObject",
         lambda: s3o.write_manifest(other, bucket.name, "m.json", [entry("b.csv", (2,))]))
    s3o.write_manifest(client, bucket.name, "m.json", [entry("c.csv", (3,))])
    _, entries = s3o.read_manifest(client, bucket.name, "m.json")
    assert [e.key for e in entries] == ["a.csv", "b.csv", "c.csv"]


def test_manifest_refuses_raw_values_and_foreign_objects(
        make_bucket: Callable[..., Bucket]) -> None:
    bucket = make_bucket()
    client = ours(bucket)
    raw = s3o.ManifestEntry(KEY, None, (1,), "req-1", "jane.doe@example.com", "suppress",
                            datetime(2026, 1, 1, tzinfo=UTC))
    with pytest.raises(s3o.S3ObjectError) as caught:
        s3o.write_manifest(client, bucket.name, "m.json", [raw])
    assert "jane" not in str(caught.value)
    bucket.put("m.json", b"not a manifest")
    with pytest.raises(s3o.S3ObjectError, match="not a dsr suppression manifest"):
        s3o.write_manifest(client, bucket.name, "m.json", [entry(KEY, (1,))])
    assert bucket.get("m.json") == b"not a manifest"


# --- errors -------------------------------------------------------------------------------

def test_missing_key_and_version_are_unavailable(make_bucket: Callable[..., Bucket]) -> None:
    bucket = make_bucket(versioned=True)
    client = ours(bucket)
    with pytest.raises(s3o.ObjectUnavailable) as caught:
        s3o.attributes(client, bucket.name, KEY)
    assert caught.value.key == KEY and "not found" in str(caught.value)
    assert isinstance(caught.value, FileUnavailable) and caught.value.path == KEY
    assert KEY not in str(caught.value) and "jane" not in str(caught.value)
    bucket.put(KEY, ORIGINAL)
    with pytest.raises(s3o.ObjectUnavailable):
        s3o.add_tags(client, bucket.name, "missing.csv", None, {"a": "b"})


def test_access_denied_is_reported_safely(
        dedicated_s3_server: Callable[[], S3Server], monkeypatch: pytest.MonkeyPatch) -> None:
    """A server that enforces IAM after its first five requests (the set-up below): a user
    allowed to read and list but not to read tags, write or delete."""
    monkeypatch.setenv("INITIAL_NO_AUTH_ACTION_COUNT", "5")
    server = dedicated_s3_server()
    import boto3

    admin = server.client()
    iam = boto3.client("iam", endpoint_url=server.endpoint, region_name="eu-west-2",
                       aws_access_key_id="admin", aws_secret_access_key="admin")
    admin.create_bucket(Bucket="denied", CreateBucketConfiguration={
        "LocationConstraint": "eu-west-2"})
    admin.put_object(Bucket="denied", Key=KEY, Body=ORIGINAL)
    iam.create_user(UserName="reader")
    iam.put_user_policy(UserName="reader", PolicyName="read", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*", "Action": [
            "s3:GetObject", "s3:ListBucket", "s3:ListBucketVersions"]}]}))
    secret = iam.create_access_key(UserName="reader")["AccessKey"]
    reader = boto3.client("s3", endpoint_url=server.endpoint, region_name="eu-west-2",
                          aws_access_key_id=secret["AccessKeyId"],
                          aws_secret_access_key=secret["SecretAccessKey"])

    with pytest.raises(s3o.ObjectUnavailable) as caught:
        s3o.attributes(reader, "denied", KEY)  # the tag read is refused
    assert str(caught.value) == "read tags: access denied"
    assert caught.value.code == "AccessDenied" and caught.value.key == KEY
    result = s3o.delete_versions(reader, "denied", KEY, [None])
    assert result.removed == [] and result.failed == [
        s3o.FailedVersion(None, "delete: access denied", "AccessDenied")]
    etag = reader.head_object(Bucket="denied", Key=KEY)["ETag"]
    read = s3o.ObjectAttributes(key=KEY, version_id=None, etag=etag, size=0,
                                last_modified=None)
    with pytest.raises(s3o.ObjectUnavailable, match=r"^write: access denied$"):
        s3o.replace(reader, "denied", KEY, read, REWRITTEN)
    assert reader.get_object(Bucket="denied", Key=KEY)["Body"].read() == ORIGINAL
    assert secret["SecretAccessKey"] not in str(caught.value)


def test_dropped_connection_names_no_key(dedicated_s3_server: Callable[[], S3Server]) -> None:
    server = dedicated_s3_server()
    client = server.client()
    client.create_bucket(Bucket="gone", CreateBucketConfiguration={
        "LocationConstraint": "eu-west-2"})
    server.kill()
    with pytest.raises(s3o.S3ObjectError) as caught:
        s3o.attributes(client, "gone", KEY)
    assert not isinstance(caught.value, s3o.ObjectUnavailable)
    assert "jane" not in str(caught.value) and str(caught.value).startswith("head failed: ")
