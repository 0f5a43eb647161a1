"""A bucket (under its configured prefix) as a ``connectors.files`` ``Transport``, so the
shared sweep, extractors and matcher search it exactly as they search a share.

Paths are locators (DESIGN.md): the object's full key, prefix included, for the current
version, and ``key?versionId=ID`` for a non-current one. ``walk("")`` lists with paginators:
``list_object_versions`` when the bucket is (or was) versioned and ``versions`` is on, so
every version holding data is searched; ``list_objects_v2`` otherwise. Delete markers hold
nothing and are not listed. Objects in archive storage classes (GLACIER, DEEP_ARCHIVE) are
``Skipped`` with the reason ``not searched: restore needed``, unless the listing says a
restored copy is available (GLACIER_IR is read like any object). The connector turns those
into manual plan items.

``open_read`` streams the body (buffered, never read whole into memory); a failure while
reading is a ``ConnectorError`` (a lost connection: the sweep reconnects once, then fails
the search). The transport only reads: rewriting and deleting objects, with their versions,
metadata and locks, is the objects module's work, not the file-share ``write_atomic``.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, BinaryIO

from agent.errors import NotSupported
from connectors.files.transport import Entry, Skipped
from connectors.s3.client import RESTORE_NEEDED, error_code, object_error, system_error
from connectors.s3.options import S3Options, make_locator, split_locator

READ_BUFFER = 256 * 1024
ARCHIVE_CLASSES = frozenset({"GLACIER", "DEEP_ARCHIVE"})


@dataclass(frozen=True)
class ObjectEntry(Entry):
    """One object version as listed (``path`` is its locator)."""

    key: str = ""
    version_id: str | None = None  # None: an unversioned bucket's object
    latest: bool = True
    storage_class: str = "STANDARD"
    etag: str = ""
    restored: bool = False  # an archived object with a readable restored copy

    @property
    def archived(self) -> bool:
        return self.storage_class in ARCHIVE_CLASSES and not self.restored


class S3Transport:
    """One bucket prefix, read through a shared boto3 client. ``check=True`` proves the
    bucket is reachable (head_bucket) before the transport is handed out, so a sweep's
    reconnect after a lost connection fails clearly when the endpoint is gone."""

    scheme = "s3"

    def __init__(self, system: str, options: S3Options, client: Any, *,
                 check: bool = True) -> None:
        self.system = system
        self.options = options
        self.client = client
        if check:
            self.head_bucket()

    # ------------------------------------------------------------------ bucket
    def head_bucket(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.options.bucket)
        except Exception as exc:
            raise system_error(self.system, exc, "head_bucket") from None

    def versioned(self) -> bool:
        """Whether the bucket has (or had) versioning on: suspended buckets keep versions."""
        try:
            status = self.client.get_bucket_versioning(Bucket=self.options.bucket)
        except Exception as exc:
            if error_code(exc) in ("AccessDenied", "403"):
                return True  # cannot tell: list versions (its own permission is checked)
            raise system_error(self.system, exc, "get_bucket_versioning") from None
        return status.get("Status") in ("Enabled", "Suspended")

    # ------------------------------------------------------------------ listing
    def objects(self, prefix: str = "") -> Iterator[ObjectEntry]:
        """Every object version under the configured prefix (+ ``prefix``), delete
        markers left out; archived ones included (see ``walk``)."""
        full = self.options.prefix + prefix
        if self.options.versions and self.versioned():
            yield from self._versions(full)
        else:
            yield from self._latest(full)

    def _pages(self, operation: str, prefix: str) -> Iterator[dict[str, Any]]:
        args: dict[str, Any] = {"Bucket": self.options.bucket,
                                "PaginationConfig": {"PageSize": self.options.page_size}}
        if prefix:
            args["Prefix"] = prefix
        try:
            yield from self.client.get_paginator(operation).paginate(**args)
        except Exception as exc:
            raise system_error(self.system, exc, f"listing the bucket: {operation}") from None

    def _latest(self, prefix: str) -> Iterator[ObjectEntry]:
        for page in self._pages("list_objects_v2", prefix):
            for item in page.get("Contents", ()):
                yield _entry(item, None, latest=True)

    def _versions(self, prefix: str) -> Iterator[ObjectEntry]:
        for page in self._pages("list_object_versions", prefix):
            for item in page.get("Versions", ()):  # DeleteMarkers hold no data
                version = item.get("VersionId")
                yield _entry(item, None if version in (None, "") else str(version),
                             latest=bool(item.get("IsLatest", True)))

    def walk(self, prefix: str = "") -> Iterator[ObjectEntry | Skipped]:
        """Objects to read; archived ones the include/exclude patterns want are Skipped
        with the reason ``RESTORE_NEEDED`` (recorded, never silently left out)."""
        for entry in self.objects(prefix):
            if entry.archived and self.options.wanted(entry.path):
                yield Skipped(entry.path, f"{RESTORE_NEEDED} (storage class "
                                          f"{entry.storage_class})")
            else:
                yield entry

    # ------------------------------------------------------------------ one object
    def _address(self, locator: str, version: str | None = None) -> dict[str, Any]:
        key, named = split_locator(locator)
        out: dict[str, Any] = {"Bucket": self.options.bucket, "Key": key}
        if named or version:
            out["VersionId"] = named or version
        return out

    def stat(self, path: str) -> ObjectEntry | None:
        try:
            head = self.client.head_object(**self._address(path))
        except Exception as exc:
            if error_code(exc) in ("404", "NoSuchKey", "NoSuchVersion", "NotFound"):
                return None
            raise object_error(self.system, path, exc) from None
        key, version = split_locator(path)
        return ObjectEntry(path=path, size=int(head.get("ContentLength", 0)),
                           mtime=_seconds(head.get("LastModified")), key=key,
                           version_id=version or head.get("VersionId"), latest=version is None,
                           storage_class=head.get("StorageClass") or "STANDARD",
                           etag=str(head.get("ETag", "")))

    @contextmanager
    def open_read(self, path: str, version: str | None = None) -> Iterator[BinaryIO]:
        """The object's body; ``version`` pins the current object to the version listed
        (a ``key?versionId=`` locator names its own)."""
        try:
            response = self.client.get_object(**self._address(path, version))
        except Exception as exc:
            raise object_error(self.system, path, exc) from None
        body = response["Body"]
        stream = io.BufferedReader(_BodyReader(self.system, body), buffer_size=READ_BUFFER)
        try:
            yield stream  # type: ignore[misc]
        finally:
            stream.close()

    def write_atomic(self, path: str, data: BinaryIO) -> None:
        raise NotSupported("the s3 transport only reads; objects are rewritten by the s3 "
                           "connector's objects module")

    def delete(self, path: str) -> bool:
        raise NotSupported("the s3 transport only reads; versions are deleted by the s3 "
                           "connector's objects module")

    def move(self, path: str, target: str) -> None:
        raise NotSupported("buckets have no quarantine folder")

    def close(self) -> None:
        """Nothing to release: the client (and its connection pool) is the connector's."""


class _BodyReader(io.RawIOBase):
    """botocore's StreamingBody as a raw stream; a failure mid-body is the connection's."""

    def __init__(self, system: str, body: Any) -> None:
        super().__init__()
        self._system = system
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            data = self._body.read(len(buffer))
        except Exception as exc:
            raise system_error(self._system, exc, "reading an object") from None
        count = len(data)
        buffer[:count] = data
        return count

    def close(self) -> None:
        if not self.closed:
            try:
                self._body.close()
            finally:
                super().close()


def _entry(item: dict[str, Any], version: str | None, *, latest: bool) -> ObjectEntry:
    key = str(item["Key"])
    restore = item.get("RestoreStatus") or {}
    restored = bool(restore.get("RestoreExpiryDate")) and not restore.get(
        "IsRestoreInProgress", False)
    return ObjectEntry(path=key if latest else make_locator(key, version),
                       size=int(item.get("Size", 0)), mtime=_seconds(item.get("LastModified")),
                       key=key, version_id=version, latest=latest,
                       storage_class=str(item.get("StorageClass") or "STANDARD"),
                       etag=str(item.get("ETag", "")), restored=restored)


def _seconds(when: Any) -> float:
    """Whole seconds: listings give milliseconds, HEAD's Last-Modified only seconds."""
    return float(int(when.timestamp())) if when is not None else 0.0
