"""Rewriting one object: every attribute kept, nobody else's write lost (see ``replace``)."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from agent.extraction import prepend, read_exact
from connectors.s3.objects.attributes import KeyHistory, ObjectAttributes, key_history
from connectors.s3.objects.errors import (
    _NO_CONDITIONAL,
    _NOT_FOUND,
    _PRECONDITION,
    ConditionalWriteUnsupported,
    ObjectUnavailable,
    RollbackFailed,
    WriteConflict,
    _code,
    _failure,
)

MULTIPART_THRESHOLD = 8 * 1024 * 1024  # bodies larger than this go up in parts
PART_SIZE = 8 * 1024 * 1024
T = TypeVar("T")

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
