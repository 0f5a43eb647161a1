"""The object operations the s3 connector's erasure, suppression and restriction call.

Every function takes a ready boto3 S3 client and a bucket name; nothing here builds clients
or reads configuration. The rules:

- ``replace`` rewrites one object keeping every attribute a rewrite must keep (content
  headers, user metadata, tags, server-side encryption, storage class, redirect) and makes
  sure nobody wrote in between: it checks the latest version against the one that was read
  before writing, writes conditionally (``If-Match``) where the store honours it, and after
  writing checks that its version sits directly on top of the one read. On a conflict it
  removes its own version again and raises ``WriteConflict``; ``with_retries`` re-runs a
  read-and-rewrite callable a few times.
- ``delete_versions`` removes named versions; versions under Object Lock (retention in the
  future or a legal hold) are refused by the store and come back as ``protected`` with
  their retain-until date. ``delete_markers`` then removes the markers left pointing at
  nothing (rule on the function).
- ``add_tags`` / ``remove_tags`` merge suppression and restriction tags (at most 10 per
  object); ``write_manifest`` merges row-level suppression entries into a JSON manifest
  object with the same conflict rule as ``replace``.

Errors are ``S3ObjectError`` (a ``ConnectorError``): the message is the reason alone, the
key (which can name a person) is on ``.key``. Messages never carry object content, the
store's own error text (it can echo the key) or credentials.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, BinaryIO, Literal, TypeVar
from urllib.parse import urlencode

from botocore.exceptions import BotoCoreError, ClientError

from agent.errors import ConnectorError
from agent.extraction import prepend, read_exact
from connectors.files.transport import FileUnavailable

MULTIPART_THRESHOLD = 8 * 1024 * 1024  # bodies larger than this go up in parts
PART_SIZE = 8 * 1024 * 1024
MAX_TAGS = 10  # S3's limit per object (version)
ARCHIVE_CLASSES = frozenset({"GLACIER", "DEEP_ARCHIVE"})  # GLACIER_IR is readable
SUPPRESSED_TAG, RESTRICTED_TAG, REQUEST_TAG = "dsr-suppressed", "dsr-restricted", "dsr-request"
MANIFEST_FORMAT = "dsr-suppression-manifest/1"

_NOT_FOUND = frozenset({"NoSuchKey", "NoSuchVersion", "404", "NotFound"})
_DENIED = frozenset({"AccessDenied", "403", "Forbidden", "AllAccessDisabled",
                     "AccountProblem"})
_PRECONDITION = frozenset({"PreconditionFailed", "412", "ConditionalRequestConflict", "409"})
# What a store says when it does not implement conditional writes.
_NO_CONDITIONAL = frozenset({"NotImplemented", "501"})
_DIGEST = re.compile(r"(?:[a-z0-9-]+:)?[0-9a-f]{32,128}")

T = TypeVar("T")


# --- errors -------------------------------------------------------------------------------

class S3ObjectError(ConnectorError):
    """An object operation failed. The message is the reason alone; the key is on ``.key``."""

    def __init__(self, key: str, reason: str, *, code: str | None = None) -> None:
        ConnectorError.__init__(self, reason)  # explicit: ObjectUnavailable mixes in
        self.key = key
        self.reason = reason
        self.code = code  # the store's error code ("AccessDenied", ...), when there was one


class ObjectUnavailable(S3ObjectError, FileUnavailable):
    """This one object (or version) is not found, not readable/changeable (access denied) or
    archived: report it for that key and go on (it is a ``FileUnavailable`` too, with the key
    on ``.path``, like the sweep's read errors). Other ``S3ObjectError``s mean the store or
    the connection failed."""

    def __init__(self, key: str, reason: str, *, code: str | None = None) -> None:
        super().__init__(key, reason, code=code)
        self.path = key


class WriteConflict(S3ObjectError):
    """Someone else wrote the object between our read and our write. When this is raised no
    version written by the failed call remains; re-read and rewrite (``with_retries``)."""


class RollbackFailed(S3ObjectError):
    """A conflicting write of ours could not be removed again: ``.version_id`` is still in
    the bucket and needs an operator."""

    def __init__(self, key: str, reason: str, version_id: str | None,
                 *, code: str | None = None) -> None:
        super().__init__(key, reason, code=code)
        self.version_id = version_id


class ConditionalWriteUnsupported(S3ObjectError):
    """The store refuses conditional writes and the bucket keeps no versions, so a
    concurrent write could not be detected: the object is left as it was."""


class TagLimitExceeded(S3ObjectError):
    """Merging the tags would exceed S3's limit of 10 tags per object."""


def _code(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return str(error.get("Code") or status or "unknown")


def _failure(exc: ClientError | BotoCoreError, key: str, action: str) -> S3ObjectError:
    """A safe error for a failed call: the error code, never the store's message text (it
    can contain the key) nor a botocore message (it can contain the URL, hence the key)."""
    if isinstance(exc, BotoCoreError):
        return S3ObjectError(key, f"{action} failed: {type(exc).__name__}")
    code = _code(exc)
    if code in _NOT_FOUND:
        return ObjectUnavailable(key, f"{action}: object or version not found", code=code)
    if code in _DENIED:
        return ObjectUnavailable(key, f"{action}: access denied", code=code)
    if code == "InvalidObjectState":
        return ObjectUnavailable(key, f"{action}: archived object, restore needed", code=code)
    if code == "NoSuchBucket":
        return S3ObjectError(key, f"{action}: bucket not found", code=code)
    return S3ObjectError(key, f"{action} failed: {code}", code=code)


# --- attributes ---------------------------------------------------------------------------

@dataclass(frozen=True)
class LockState:
    """Whether Object Lock protects a version now, and until when (None with a legal hold:
    until it is lifted)."""

    protected: bool
    until: datetime | None = None  # the retain-until date while retention is in force
    legal_hold: bool = False
    mode: str | None = None  # GOVERNANCE | COMPLIANCE while retention is in force


def lock_state(mode: str | None, retain_until: datetime | None, legal_hold: bool,
               *, now: datetime | None = None) -> LockState:
    """Protected while retention runs (retain-until in the future) or a legal hold is ON."""
    now = now or datetime.now(UTC)
    retained = retain_until is not None and retain_until > now
    return LockState(protected=retained or legal_hold,
                     until=retain_until if retained else None,
                     legal_hold=legal_hold, mode=mode if retained else None)


def is_archived(storage_class: str | None, archive_status: str | None = None) -> bool:
    """True for classes that cannot be read without a restore (GLACIER, DEEP_ARCHIVE, and
    Intelligent-Tiering's archive tiers); GLACIER_IR and the rest read directly."""
    return (storage_class or "STANDARD") in ARCHIVE_CLASSES or bool(archive_status)


@dataclass(frozen=True)
class ObjectAttributes:
    """What a head (plus the tag set) says about one version: what a rewrite keeps, and the
    version/ETag the conflict checks compare against."""

    key: str
    version_id: str | None  # None on a bucket that never had versioning
    etag: str
    size: int
    last_modified: datetime | None
    content_type: str | None = None
    content_encoding: str | None = None
    content_disposition: str | None = None
    content_language: str | None = None
    cache_control: str | None = None
    expires: datetime | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    tags_read: bool = True  # False: the store would not give the tag set (archived)
    server_side_encryption: str | None = None  # AES256 | aws:kms | aws:kms:dsse
    sse_kms_key_id: str | None = None
    bucket_key_enabled: bool | None = None
    sse_customer_algorithm: str | None = None  # SSE-C: cannot be rewritten without the key
    storage_class: str = "STANDARD"
    archive_status: str | None = None
    restore: str | None = None  # the x-amz-restore header of an archived object
    website_redirect_location: str | None = None
    retention_mode: str | None = None
    retain_until: datetime | None = None
    legal_hold: bool = False

    @property
    def archived(self) -> bool:
        """Cannot be read now: archive class and no completed restore."""
        restored = self.restore is not None and 'ongoing-request="false"' in self.restore
        return is_archived(self.storage_class, self.archive_status) and not restored

    def lock(self, now: datetime | None = None) -> LockState:
        return lock_state(self.retention_mode, self.retain_until, self.legal_hold, now=now)

    def write_args(self) -> dict[str, Any]:
        """put_object / create_multipart_upload arguments that recreate these attributes.
        Metadata is replaced as a whole (put_object semantics), so all of it is passed."""
        args: dict[str, Any] = {"Metadata": dict(self.metadata),
                                "StorageClass": self.storage_class}
        optional = {"ContentType": self.content_type, "ContentEncoding": self.content_encoding,
                    "ContentDisposition": self.content_disposition,
                    "ContentLanguage": self.content_language,
                    "CacheControl": self.cache_control, "Expires": self.expires,
                    "WebsiteRedirectLocation": self.website_redirect_location,
                    "ServerSideEncryption": self.server_side_encryption}
        args.update({name: value for name, value in optional.items() if value is not None})
        if self.tags:
            args["Tagging"] = urlencode(sorted(self.tags.items()))
        if self.server_side_encryption and self.server_side_encryption.startswith("aws:kms"):
            if self.sse_kms_key_id:
                args["SSEKMSKeyId"] = self.sse_kms_key_id
            if self.bucket_key_enabled is not None:
                args["BucketKeyEnabled"] = self.bucket_key_enabled
        return args


def _version_arg(version_id: str | None) -> dict[str, str]:
    return {"VersionId": version_id} if version_id else {}


def _head(client: Any, bucket: str, key: str, version_id: str | None) -> dict[str, Any]:
    try:
        return dict(client.head_object(Bucket=bucket, Key=key, **_version_arg(version_id)))
    except (ClientError, BotoCoreError) as exc:
        raise _failure(exc, key, "head") from exc


def get_tags(client: Any, bucket: str, key: str, version_id: str | None = None
             ) -> dict[str, str]:
    try:
        reply = client.get_object_tagging(Bucket=bucket, Key=key, **_version_arg(version_id))
    except (ClientError, BotoCoreError) as exc:
        raise _failure(exc, key, "read tags") from exc
    return {tag["Key"]: tag["Value"] for tag in reply.get("TagSet", [])}


def attributes(client: Any, bucket: str, key: str, version_id: str | None = None
               ) -> ObjectAttributes:
    """Head one version (the latest by default) and read its tags."""
    head = _head(client, bucket, key, version_id)
    tags: dict[str, str] = {}
    tags_read = True
    try:
        tags = get_tags(client, bucket, key, head.get("VersionId") or version_id)
    except ObjectUnavailable as exc:
        # Some stores refuse even the tag set of an archived object; such an object cannot
        # be read (so not rewritten) anyway, and replace refuses unknown tags.
        if exc.code != "InvalidObjectState":
            raise
        tags_read = False
    return ObjectAttributes(
        key=key, version_id=head.get("VersionId") or version_id, etag=str(head["ETag"]),
        size=int(head.get("ContentLength", 0)), last_modified=head.get("LastModified"),
        content_type=head.get("ContentType"), content_encoding=head.get("ContentEncoding"),
        content_disposition=head.get("ContentDisposition"),
        content_language=head.get("ContentLanguage"), cache_control=head.get("CacheControl"),
        expires=head.get("Expires") if isinstance(head.get("Expires"), datetime) else None,
        metadata=dict(head.get("Metadata", {})), tags=tags, tags_read=tags_read,
        server_side_encryption=head.get("ServerSideEncryption"),
        sse_kms_key_id=head.get("SSEKMSKeyId"), bucket_key_enabled=head.get("BucketKeyEnabled"),
        sse_customer_algorithm=head.get("SSECustomerAlgorithm"),
        storage_class=head.get("StorageClass") or "STANDARD",
        archive_status=head.get("ArchiveStatus"), restore=head.get("Restore"),
        website_redirect_location=head.get("WebsiteRedirectLocation"),
        retention_mode=head.get("ObjectLockMode"),
        retain_until=head.get("ObjectLockRetainUntilDate"),
        legal_hold=head.get("ObjectLockLegalHoldStatus") == "ON")


# --- version listing ----------------------------------------------------------------------

@dataclass(frozen=True)
class KeyHistory:
    """One key's object versions (newest first, the store's order) and delete markers."""

    versions: tuple[tuple[str, str], ...]  # (version id, etag)
    markers: frozenset[str]
    latest_marker: str | None  # the marker that is the current entry, if one is

    @property
    def latest_version(self) -> str | None:
        """The current object version, or None when there is none (or a marker hides it)."""
        return None if self.latest_marker or not self.versions else self.versions[0][0]


def key_history(client: Any, bucket: str, key: str) -> KeyHistory:
    """Every version and delete marker of exactly ``key`` (not of keys it prefixes)."""
    versions: list[tuple[str, str]] = []
    markers: set[str] = set()
    latest_marker: str | None = None
    try:
        for page in client.get_paginator("list_object_versions").paginate(
                Bucket=bucket, Prefix=key):
            past = False
            for item in page.get("Versions", []):
                if item["Key"] == key:
                    versions.append((str(item["VersionId"]), str(item.get("ETag", ""))))
                past = past or item["Key"] > key
            for item in page.get("DeleteMarkers", []):
                if item["Key"] == key:
                    markers.add(str(item["VersionId"]))
                    if item.get("IsLatest"):
                        latest_marker = str(item["VersionId"])
                past = past or item["Key"] > key
            if past:  # keys come in order: later pages hold only longer keys
                break
    except (ClientError, BotoCoreError) as exc:
        raise _failure(exc, key, "list versions") from exc
    return KeyHistory(tuple(versions), frozenset(markers), latest_marker)


# --- replace ------------------------------------------------------------------------------

def _unversioned(version_id: str | None) -> bool:
    return version_id in (None, "null")


def _same_etag(left: str | None, right: str | None) -> bool:
    return (left or "").strip('"') == (right or "").strip('"')


def _conflict(key: str) -> WriteConflict:
    return WriteConflict(key, "the object changed since it was read (another writer)")


@dataclass(frozen=True)
class _Snapshot:
    history: KeyHistory | None  # None on the unversioned path (checked with a head)


def _precheck(client: Any, bucket: str, key: str, read: ObjectAttributes | None) -> _Snapshot:
    """The object must still be what was read (or still absent, for ``read=None``)."""
    if read is not None and read.version_id is None:  # a bucket without versioning
        try:
            head = client.head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if _code(exc) in _NOT_FOUND:
                raise _conflict(key) from exc  # deleted since it was read
            raise _failure(exc, key, "check latest") from exc
        except BotoCoreError as exc:
            raise _failure(exc, key, "check latest") from exc
        if not _same_etag(head.get("ETag"), read.etag):
            raise _conflict(key)
        return _Snapshot(None)
    history = key_history(client, bucket, key)
    if read is None:
        if history.latest_version is not None:
            raise _conflict(key)
    elif (history.latest_version != read.version_id
          or not _same_etag(history.versions[0][1], read.etag)):
        raise _conflict(key)
    return _Snapshot(history)


def _postcheck(client: Any, bucket: str, key: str, snapshot: _Snapshot,
               new_version: str | None, new_etag: str) -> None:
    """Our version must be the latest and sit directly on the one we read; roll back and
    raise ``WriteConflict`` otherwise."""
    if _unversioned(new_version):
        # No history to inspect: the object must still be ours. If it is not, a later
        # writer replaced it and nothing of ours remains.
        try:
            head = client.head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if _code(exc) in _NOT_FOUND:
                raise _conflict(key) from exc
            raise _failure(exc, key, "check write") from exc
        except BotoCoreError as exc:
            raise _failure(exc, key, "check write") from exc
        if not _same_etag(head.get("ETag"), new_etag):
            raise _conflict(key)
        return
    after = key_history(client, bucket, key)
    before = snapshot.history
    # The newest version before our write: the one we read (or, creating, whatever older
    # version a marker hid). Ours must be current and directly on top of it.
    below = [before.versions[0][0]] if before and before.versions else []
    ids = [version for version, _ in after.versions]
    new_markers = after.markers - (before.markers if before else frozenset())
    if after.latest_version == new_version and ids[1:2] == below and not new_markers:
        return
    if new_version in ids:
        _rollback(client, bucket, key, new_version)
    raise _conflict(key)


def _rollback(client: Any, bucket: str, key: str, version_id: str | None) -> None:
    try:
        client.delete_object(Bucket=bucket, Key=key, VersionId=version_id)
    except ClientError as exc:
        raise RollbackFailed(key, f"conflicting write could not be rolled back: {_code(exc)}",
                             version_id, code=_code(exc)) from exc
    except BotoCoreError as exc:
        raise RollbackFailed(key, "conflicting write could not be rolled back: "
                             f"{type(exc).__name__}", version_id) from exc


def _conditions(read: ObjectAttributes | None, conditional: bool) -> dict[str, str]:
    if not conditional:
        return {}
    return {"IfNoneMatch": "*"} if read is None else {"IfMatch": read.etag}


def versioning_enabled(client: Any, bucket: str, key: str = "") -> bool:
    """Whether the bucket keeps versions now (so a write can be checked and undone)."""
    try:
        return client.get_bucket_versioning(Bucket=bucket).get("Status") == "Enabled"
    except (ClientError, BotoCoreError) as exc:
        raise _failure(exc, key, "read bucket versioning") from exc


def _unsafe(key: str, code: str | None = None) -> ConditionalWriteUnsupported:
    return ConditionalWriteUnsupported(
        key, "no conditional write and the bucket keeps no versions: a concurrent write "
             "could not be detected, so the object was not rewritten", code=code)


def _call_conditionally(call: Callable[..., dict[str, Any]], args: dict[str, Any],
                        conditions: dict[str, str], *, key: str, action: str,
                        can_check_after: Callable[[], bool]) -> dict[str, Any]:
    """Make a write with If-Match/If-None-Match. A failed precondition is a conflict; a
    store that does not implement conditions gets the write again without them when the
    version check afterwards can catch a concurrent writer, and a refusal otherwise."""
    try:
        return dict(call(**args, **conditions))
    except ClientError as exc:
        code = _code(exc)
        if conditions and (code in _PRECONDITION
                           or ("IfMatch" in conditions and code in _NOT_FOUND)):
            raise _conflict(key) from exc  # changed, or deleted, since it was read
        if not (conditions and code in _NO_CONDITIONAL):
            raise _failure(exc, key, action) from exc
        if not can_check_after():
            raise _unsafe(key, code) from exc
    except BotoCoreError as exc:
        raise _failure(exc, key, action) from exc
    try:
        return dict(call(**args))
    except (ClientError, BotoCoreError) as exc:
        raise _failure(exc, key, action) from exc


def _put_multipart(client: Any, bucket: str, key: str, first: bytes, rest: BinaryIO,
                   args: dict[str, Any], conditions: dict[str, str], part_size: int,
                   can_check_after: Callable[[], bool]) -> dict[str, Any]:
    """Upload in parts with the same attributes; the condition goes on the completion
    (S3 honours If-Match there; stores that ignore it are caught by the version check)."""
    try:
        upload = client.create_multipart_upload(Bucket=bucket, Key=key, **args)
    except (ClientError, BotoCoreError) as exc:
        raise _failure(exc, key, "start multipart upload") from exc
    upload_id = upload["UploadId"]
    try:
        parts: list[dict[str, Any]] = []
        chunk = first
        while chunk:
            number = len(parts) + 1
            try:
                reply = client.upload_part(Bucket=bucket, Key=key, UploadId=upload_id,
                                           PartNumber=number, Body=chunk)
            except (ClientError, BotoCoreError) as exc:
                raise _failure(exc, key, "upload part") from exc
            parts.append({"PartNumber": number, "ETag": reply["ETag"]})
            chunk = read_exact(rest, part_size)
        return _call_conditionally(
            client.complete_multipart_upload,
            {"Bucket": bucket, "Key": key, "UploadId": upload_id,
             "MultipartUpload": {"Parts": parts}},
            conditions, key=key, action="complete multipart upload",
            can_check_after=can_check_after)
    except BaseException:
        # Leave no orphaned parts behind (they are billed and hold the new content).
        with contextlib.suppress(ClientError, BotoCoreError):
            client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        raise


def replace(client: Any, bucket: str, key: str, read: ObjectAttributes | None,
            body: BinaryIO | bytes, *, attrs: ObjectAttributes | None = None,
            conditional: bool = True, part_size: int = PART_SIZE) -> str | None:
    """Write ``body`` as the new content of ``key`` and return the new version id (None on
    a bucket without versioning).

    ``read`` is the version the new content was derived from (from ``attributes``; None to
    create a key that must not exist yet). ``attrs`` (default ``read``) are the attributes
    written: content headers, metadata, tags, SSE, storage class, redirect. Object Lock
    settings are not copied: the bucket's default retention applies to the new version.

    Raises ``WriteConflict`` if anyone wrote in between (nothing of ours remains then),
    ``RollbackFailed`` if our conflicting version could not be removed,
    ``ConditionalWriteUnsupported`` (before anything is written) when no conditional write
    is possible and the bucket keeps no versions. ``conditional=False`` skips
    If-Match/If-None-Match (for stores that mishandle them); allowed on versioned buckets
    only, where the version checks still catch a concurrent writer. A store answering
    NotImplemented to a condition is retried without it on the same terms. Bodies over
    ``part_size`` go up as a multipart upload with the condition on the completion.

    Checks: before writing, the key's version listing must show ``read`` as the latest
    version with the same ETag (a head, for a bucket without versioning); after writing,
    our version must be the latest, directly on top of ``read``, with no new delete
    marker. Needs s3:ListBucketVersions on versioned buckets (and to create a key).
    """
    written = attrs or read
    if written is None:
        raise ValueError("replace needs attrs when creating a key (read=None)")
    if not written.tags_read:
        raise ObjectUnavailable(key, "tags could not be read: a rewrite would lose them")
    if written.sse_customer_algorithm:
        raise ObjectUnavailable(key, "encrypted with a customer-provided key (SSE-C): "
                                     "cannot rewrite")
    args = written.write_args()
    stream: BinaryIO = io.BytesIO(body) if isinstance(body, bytes | bytearray) else body
    first = read_exact(stream, part_size + 1)
    snapshot = _precheck(client, bucket, key, read)
    conditions = _conditions(read, conditional)

    def can_check_after() -> bool:  # only a versioned bucket lets us see and undo a race
        return versioning_enabled(client, bucket, key)

    if not conditions and not can_check_after():
        raise _unsafe(key)
    if len(first) <= part_size:
        reply = _call_conditionally(client.put_object, {"Bucket": bucket, "Key": key,
                                                        "Body": first, **args},
                                    conditions, key=key, action="write",
                                    can_check_after=can_check_after)
    else:
        head, tail = first[:part_size], first[part_size:]
        reply = _put_multipart(client, bucket, key, head, prepend(tail, stream), args,
                               conditions, part_size, can_check_after)
    new_version = reply.get("VersionId")
    _postcheck(client, bucket, key, snapshot, new_version, str(reply.get("ETag", "")))
    return None if _unversioned(new_version) else str(new_version)


def with_retries(attempt: Callable[[], T], *, attempts: int = 3) -> T:
    """Run ``attempt`` (which must re-read the object and rewrite it from that fresh read)
    until it does not hit a ``WriteConflict``; the last conflict propagates."""
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    for remaining in range(attempts - 1, -1, -1):
        try:
            return attempt()
        except WriteConflict:
            if remaining == 0:
                raise
    raise AssertionError("unreachable")


# --- deletion -----------------------------------------------------------------------------

@dataclass(frozen=True)
class ProtectedVersion:
    """A version Object Lock keeps: the connector reports it as beyond use until ``until``
    (None with a legal hold: until it is lifted)."""

    version_id: str
    until: datetime | None
    legal_hold: bool
    mode: str | None


@dataclass(frozen=True)
class FailedVersion:
    version_id: str | None
    reason: str  # safe: an error code, never the store's message text
    code: str | None = None


@dataclass
class DeleteResult:
    removed: list[str] = field(default_factory=list)  # version ids ("null" unversioned)
    protected: list[ProtectedVersion] = field(default_factory=list)
    failed: list[FailedVersion] = field(default_factory=list)
    markers_removed: list[str] = field(default_factory=list)
    marker_left: str | None = None  # a marker delete_key placed to hide remaining versions


def delete_versions(client: Any, bucket: str, key: str, version_ids: Iterable[str | None],
                    *, bypass_governance: bool = False) -> DeleteResult:
    """Permanently delete the named versions of ``key`` (None or "null": the object of a
    bucket without versioning). Versions under Object Lock are not deleted: the store
    refuses them and they come back in ``protected``. ``bypass_governance=True`` asks the
    store to override GOVERNANCE retention (needs s3:BypassGovernanceRetention);
    COMPLIANCE retention and legal holds are never bypassed."""
    result = DeleteResult()
    extra = {"BypassGovernanceRetention": True} if bypass_governance else {}
    for version_id in version_ids:
        try:
            client.delete_object(Bucket=bucket, Key=key, **_version_arg(version_id), **extra)
        except ClientError as exc:
            code = _code(exc)
            if code not in _DENIED:
                result.failed.append(FailedVersion(version_id, _failure(exc, key, "delete")
                                                   .reason, code))
                continue
            kept = _protection(client, bucket, key, version_id)
            if kept is not None:
                result.protected.append(kept)
            else:
                result.failed.append(FailedVersion(version_id, "delete: access denied", code))
            continue
        except BotoCoreError as exc:
            raise _failure(exc, key, "delete") from exc
        result.removed.append(version_id or "null")
    return result


def _protection(client: Any, bucket: str, key: str, version_id: str | None
                ) -> ProtectedVersion | None:
    """Why a delete was refused: Object Lock (read from the head), or None if not that."""
    try:
        head = client.head_object(Bucket=bucket, Key=key, **_version_arg(version_id))
    except (ClientError, BotoCoreError):
        return None
    state = lock_state(head.get("ObjectLockMode"), head.get("ObjectLockRetainUntilDate"),
                       head.get("ObjectLockLegalHoldStatus") == "ON")
    if not state.protected:
        return None
    return ProtectedVersion(str(head.get("VersionId") or version_id), state.until,
                            state.legal_hold, state.mode)


def delete_markers(client: Any, bucket: str, key: str, *, ours: Iterable[str] = ()
                   ) -> list[str]:
    """Remove the delete markers of ``key`` that point at nothing, and return their ids.

    The rule: (1) when no object version of the key remains, every marker goes (they hide
    nothing); (2) otherwise only the markers in ``ours`` (markers our own operations made)
    go, except one that is the latest entry, which still hides the remaining versions and
    would otherwise bring an older version back as current. Other markers are history
    someone else wrote and are left alone. The functions in this module never create
    markers except ``delete_key``'s deliberate one (they delete by version id).
    """
    history = key_history(client, bucket, key)
    if not history.versions:
        doomed = sorted(history.markers)
    else:
        doomed = sorted((set(ours) & history.markers) - {history.latest_marker or ""})
    removed: list[str] = []
    for marker in doomed:
        try:
            client.delete_object(Bucket=bucket, Key=key, VersionId=marker)
        except (ClientError, BotoCoreError) as exc:
            raise _failure(exc, key, "delete marker") from exc
        removed.append(marker)
    return removed


def delete_key(client: Any, bucket: str, key: str, version_ids: Iterable[str | None],
               *, bypass_governance: bool = False) -> DeleteResult:
    """Whole-object erasure on any bucket: delete the versions holding the subject, then
    the markers left pointing at nothing. If versions remain (locked ones, or ones without
    the subject) and the current one was removed, a delete marker is placed so an older
    version does not silently become the current object (``marker_left``)."""
    wanted = list(version_ids)
    before = key_history(client, bucket, key) if any(
        not _unversioned(v) for v in wanted) else None
    result = delete_versions(client, bucket, key, wanted, bypass_governance=bypass_governance)
    if before is None:
        return result
    after = key_history(client, bucket, key)
    removed_current = before.latest_version is not None and \
        before.latest_version in result.removed
    if after.versions and removed_current and after.latest_marker is None:
        try:
            reply = client.delete_object(Bucket=bucket, Key=key)
        except (ClientError, BotoCoreError) as exc:
            raise _failure(exc, key, "hide remaining versions") from exc
        result.marker_left = reply.get("VersionId")
    result.markers_removed = delete_markers(client, bucket, key)
    return result


# --- tags ---------------------------------------------------------------------------------

def suppression_tags(request_id: str) -> dict[str, str]:
    return {SUPPRESSED_TAG: "true", REQUEST_TAG: request_id}


def restriction_tags(request_id: str) -> dict[str, str]:
    return {RESTRICTED_TAG: "true", REQUEST_TAG: request_id}


def _put_tags(client: Any, bucket: str, key: str, version_id: str | None,
              tags: Mapping[str, str]) -> None:
    try:
        if tags:
            client.put_object_tagging(
                Bucket=bucket, Key=key, **_version_arg(version_id),
                Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in sorted(tags.items())]})
        else:
            client.delete_object_tagging(Bucket=bucket, Key=key, **_version_arg(version_id))
    except (ClientError, BotoCoreError) as exc:
        raise _failure(exc, key, "write tags") from exc


def add_tags(client: Any, bucket: str, key: str, version_id: str | None,
             tags: Mapping[str, str]) -> dict[str, str]:
    """Merge ``tags`` into the version's tag set (ours win on the same name) and return the
    merged set. Raises ``TagLimitExceeded`` rather than drop anyone's tag."""
    for name, value in tags.items():
        if not 1 <= len(name) <= 128 or len(value) > 256:
            raise S3ObjectError(key, "tag names are 1-128 characters, values at most 256")
    merged = {**get_tags(client, bucket, key, version_id), **tags}
    if len(merged) > MAX_TAGS:
        raise TagLimitExceeded(key, f"object tags: S3 allows at most {MAX_TAGS} per object; "
                                    f"adding these would make {len(merged)}")
    _put_tags(client, bucket, key, version_id, merged)
    return merged


def remove_tags(client: Any, bucket: str, key: str, version_id: str | None,
                names: Iterable[str]) -> dict[str, str]:
    """Drop the named tags (others stay) and return what remains."""
    drop = set(names)
    current = get_tags(client, bucket, key, version_id)
    remaining = {k: v for k, v in current.items() if k not in drop}
    if remaining != current:
        _put_tags(client, bucket, key, version_id, remaining)
    return remaining


# --- suppression manifest -----------------------------------------------------------------

@dataclass(frozen=True)
class ManifestEntry:
    """Rows of one object version that are suppressed or restricted for one subject. The
    subject is a keyed digest (never a raw value); rows are the extractor's row numbers."""

    key: str
    version_id: str | None
    rows: tuple[int, ...]
    request_id: str
    subject_digest: str
    action: Literal["suppress", "restrict"]
    time: datetime

    def identity(self) -> tuple[str, str | None, str, str, str]:
        return (self.key, self.version_id, self.request_id, self.subject_digest, self.action)

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "version_id": self.version_id, "rows": list(self.rows),
                "request_id": self.request_id, "subject_digest": self.subject_digest,
                "action": self.action, "time": self.time.astimezone(UTC).isoformat()}

    @classmethod
    def from_json(cls, item: Mapping[str, Any]) -> ManifestEntry:
        action = item["action"]
        if action not in ("suppress", "restrict"):
            raise ValueError("unknown action")
        return cls(key=str(item["key"]), version_id=item.get("version_id"),
                   rows=tuple(int(r) for r in item.get("rows", [])),
                   request_id=str(item["request_id"]),
                   subject_digest=str(item["subject_digest"]), action=action,
                   time=datetime.fromisoformat(str(item["time"])))


def _check_entry(entry: ManifestEntry, manifest_key: str) -> None:
    if not _DIGEST.fullmatch(entry.subject_digest):
        raise S3ObjectError(manifest_key, "manifest subject_digest must be a hex digest, "
                                          "never a raw identifier")
    if entry.action not in ("suppress", "restrict"):
        raise S3ObjectError(manifest_key, "manifest action must be suppress or restrict")
    if entry.time.tzinfo is None:
        raise S3ObjectError(manifest_key, "manifest time must be timezone-aware")


def merge_entries(existing: Sequence[ManifestEntry], new: Sequence[ManifestEntry]
                  ) -> list[ManifestEntry]:
    """One entry per (key, version, request, subject, action): rows united, latest time."""
    merged: dict[tuple[str, str | None, str, str, str], ManifestEntry] = {}
    for entry in [*existing, *new]:
        seen = merged.get(entry.identity())
        if seen is not None:
            entry = ManifestEntry(
                entry.key, entry.version_id, tuple(sorted({*seen.rows, *entry.rows})),
                entry.request_id, entry.subject_digest, entry.action,
                max(seen.time, entry.time))
        merged[entry.identity()] = entry
    return sorted(merged.values(), key=lambda e: (e.key, e.version_id or "", e.request_id,
                                                  e.action, e.subject_digest))


def read_manifest(client: Any, bucket: str, manifest_key: str
                  ) -> tuple[ObjectAttributes | None, list[ManifestEntry]]:
    """The manifest's attributes (None if absent) and entries, read from exactly the
    version the attributes name."""
    try:
        attrs = attributes(client, bucket, manifest_key)
    except ObjectUnavailable as exc:
        if exc.code in _NOT_FOUND:
            return None, []
        raise
    pin = _version_arg(attrs.version_id) or {"IfMatch": attrs.etag}
    try:
        raw = client.get_object(Bucket=bucket, Key=manifest_key, **pin)["Body"].read()
    except ClientError as exc:
        if _code(exc) in _PRECONDITION or _code(exc) in _NOT_FOUND:
            raise _conflict(manifest_key) from exc
        raise _failure(exc, manifest_key, "read manifest") from exc
    except BotoCoreError as exc:
        raise _failure(exc, manifest_key, "read manifest") from exc
    try:
        document = json.loads(raw)
        if document.get("format") != MANIFEST_FORMAT:
            raise ValueError("format")
        entries = [ManifestEntry.from_json(item) for item in document["entries"]]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise S3ObjectError(manifest_key, "existing object is not a dsr suppression "
                                          "manifest; left unchanged") from exc
    return attrs, entries


def _manifest_attrs(manifest_key: str) -> ObjectAttributes:
    return ObjectAttributes(key=manifest_key, version_id=None, etag="", size=0,
                            last_modified=None, content_type="application/json")


def write_manifest(client: Any, bucket: str, manifest_key: str,
                   entries: Sequence[ManifestEntry], *, attempts: int = 3) -> str | None:
    """Merge ``entries`` into the manifest object (created if absent) with a conditional
    write and the same conflict rule as ``replace``; retried from a fresh read on
    conflict. Returns the manifest's new version id (None without versioning)."""
    for entry in entries:
        _check_entry(entry, manifest_key)

    def attempt() -> str | None:
        read, existing = read_manifest(client, bucket, manifest_key)
        document = {"format": MANIFEST_FORMAT,
                    "entries": [e.to_json() for e in merge_entries(existing, entries)]}
        body = json.dumps(document, indent=1, sort_keys=True).encode("utf-8")
        return replace(client, bucket, manifest_key, read, body,
                       attrs=read or _manifest_attrs(manifest_key))

    return with_retries(attempt, attempts=attempts)

