"""Where recordings (and Connect contact records, and sidecars) live: a folder, an SFTP or
SMB share, or an S3 bucket, behind one small interface.

The file shares reuse the files connector's transports (``open_transport``); buckets reuse
the s3 connector's listing (``S3Transport``) and object operations (``objects``), so a
recording store gets their path safety, timeouts, value-free errors and version handling.

Paths are relative to the store's root (the URL's folder or key prefix), ``/``-separated.
On a bucket every version of a key is a copy of the recording: ``walk`` lists each key that
has any version (a key hidden by a delete marker included), ``delete`` removes every version
and marker of it, and versions under Object Lock are reported back, never forced.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from typing import Any, BinaryIO, Protocol

from agent.config import SystemConfig
from agent.errors import ConnectorError
from connectors.files.sweep import VERSION_MARK
from connectors.files.transport import Entry, Skipped, Transport
from connectors.files.transports import TRANSPORT_KEYS, open_transport
from connectors.s3 import objects
from connectors.s3.client import make_client
from connectors.s3.options import OPTIONS as S3_OPTION_KEYS
from connectors.s3.options import parse_options
from connectors.s3.transport import S3Transport

FILE_SCHEMES = ("file", "sftp", "smb")


@dataclass
class Removed:
    """What deleting one stored file did: ``versions`` removed (bucket version ids, or
    ``["file"]`` for a share's file), ``locked`` versions Object Lock keeps (with the date
    they may go, ISO, or "" for a legal hold)."""

    versions: list[str] = field(default_factory=list)
    locked: dict[str, str] = field(default_factory=dict)

    @property
    def gone(self) -> bool:
        return not self.locked


class Store(Protocol):
    where: str  # "bucket", "share": for messages

    def walk(self, prefix: str = "") -> Iterator[Entry | Skipped]: ...
    def stat(self, path: str) -> Entry | None: ...
    def open_read(self, path: str) -> AbstractContextManager[BinaryIO]: ...
    def write(self, path: str, data: bytes) -> None: ...
    def delete(self, path: str) -> Removed: ...
    def close(self) -> None: ...


def scheme_of(url: str) -> str:
    return url.split(":", 1)[0].lower() if ":" in url else ""


def open_store(system: SystemConfig, url: str, options: dict[str, Any]) -> Store:
    """The store at ``url`` with the connection settings among ``options`` (the system's
    table: transport keys for shares, the s3 connector's keys for buckets)."""
    scheme = scheme_of(url)
    if scheme in FILE_SCHEMES:
        mine = {k: v for k, v in options.items() if k in TRANSPORT_KEYS}
        return ShareStore(open_transport(replace(system, url=url, options=mine)))
    if scheme == "s3":
        mine = {k: v for k, v in options.items() if k in S3_OPTION_KEYS}
        return BucketStore(system.name, replace(system, url=url, options=mine))
    raise ConnectorError(f"system {system.name!r}: recordings live at a file://, sftp://, "
                         "smb:// or s3:// URL")


class ShareStore:
    """A folder or share through a files transport."""

    where = "share"

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    def walk(self, prefix: str = "") -> Iterator[Entry | Skipped]:
        return self.transport.walk(prefix)

    def stat(self, path: str) -> Entry | None:
        return self.transport.stat(path)

    def open_read(self, path: str) -> AbstractContextManager[BinaryIO]:
        return self.transport.open_read(path)

    def write(self, path: str, data: bytes) -> None:
        self.transport.write_atomic(path, io.BytesIO(data))

    def delete(self, path: str) -> Removed:
        return Removed(["file"] if self.transport.delete(path) else [])

    def close(self) -> None:
        self.transport.close()


class BucketStore:
    """A bucket prefix: paths are keys relative to the prefix."""

    where = "bucket"

    def __init__(self, system: str, config: SystemConfig) -> None:
        self.options = parse_options(config)
        self.client = make_client(self.options)
        self.bucket = self.options.bucket
        self.prefix = self.options.prefix
        self.transport = S3Transport(system, self.options, self.client)

    def key(self, path: str) -> str:
        return self.prefix + path

    def _relative(self, key: str) -> str:
        return key[len(self.prefix):] if key.startswith(self.prefix) else key

    def walk(self, prefix: str = "") -> Iterator[Entry | Skipped]:
        """Each key once (its newest version), whether current or hidden by a marker."""
        seen: set[str] = set()
        for item in self.transport.walk(prefix):
            if isinstance(item, Skipped):
                yield Skipped(self._relative(item.path.split(VERSION_MARK, 1)[0]), item.reason)
                continue
            key = getattr(item, "key", item.path)
            if key in seen:
                continue
            seen.add(key)
            yield Entry(self._relative(key), item.size, item.mtime)

    def stat(self, path: str) -> Entry | None:
        found = self.transport.stat(self.key(path))
        return None if found is None else Entry(path, found.size, found.mtime)

    def open_read(self, path: str) -> AbstractContextManager[BinaryIO]:
        return self.transport.open_read(self.key(path))

    def write(self, path: str, data: bytes) -> None:
        """Replace the object, keeping its attributes, then delete its older versions: they
        hold the content being erased (the new version keeps everything else)."""
        key = self.key(path)

        def attempt() -> str | None:
            read = objects.attributes(self.client, self.bucket, key)
            return objects.replace(self.client, self.bucket, key, read, data)

        new = objects.with_retries(attempt)
        if new is None:
            return
        history = objects.key_history(self.client, self.bucket, key)
        older = [v for v, _ in history.versions if v != new]
        if older:
            result = objects.delete_versions(self.client, self.bucket, key, older)
            if result.failed or result.protected:
                raise ConnectorError("older versions of a rewritten record object could not "
                                     "be deleted")

    def delete(self, path: str) -> Removed:
        key = self.key(path)
        history = objects.key_history(self.client, self.bucket, key)
        versions: list[str | None] = [v for v, _ in history.versions] or [None]
        if not history.versions and not history.markers \
                and self.transport.stat(key) is None:
            return Removed()
        result = objects.delete_key(self.client, self.bucket, key, versions)
        if result.failed:
            first = result.failed[0]
            raise ConnectorError(f"deleting a recording from the bucket failed ({first.reason})")
        locked = {p.version_id: (p.until.date().isoformat() if p.until else "")
                  for p in result.protected}
        return Removed([v for v in result.removed], locked)

    def close(self) -> None:
        self.transport.close()
