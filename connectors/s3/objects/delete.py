"""Deleting versions, and the delete markers left pointing at nothing; locked versions are
never deleted."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from connectors.s3.objects.attributes import _version_arg, key_history, lock_state
from connectors.s3.objects.errors import _DENIED, _code, _failure
from connectors.s3.objects.replace import _unversioned

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
