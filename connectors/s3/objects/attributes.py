"""What a head says about one version (what a rewrite keeps, its lock), and one key's
version history."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from botocore.exceptions import BotoCoreError, ClientError

from connectors.s3.objects.errors import ObjectUnavailable, _failure

ARCHIVE_CLASSES = frozenset({"GLACIER", "DEEP_ARCHIVE"})  # GLACIER_IR is readable

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
