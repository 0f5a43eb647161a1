"""Suppression and restriction: tags on object versions and the row manifest object."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from botocore.exceptions import BotoCoreError, ClientError

from connectors.s3.objects.attributes import ObjectAttributes, _version_arg, attributes, get_tags
from connectors.s3.objects.errors import (
    _NOT_FOUND,
    _PRECONDITION,
    ObjectUnavailable,
    S3ObjectError,
    TagLimitExceeded,
    _code,
    _failure,
)
from connectors.s3.objects.replace import _conflict, replace, with_retries

MAX_TAGS = 10  # S3's limit per object (version)
SUPPRESSED_TAG, RESTRICTED_TAG, REQUEST_TAG = "dsr-suppressed", "dsr-restricted", "dsr-request"
MANIFEST_FORMAT = "dsr-suppression-manifest/1"
_DIGEST = re.compile(r"(?:[a-z0-9-]+:)?[0-9a-f]{32,128}")

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
