"""The s3 connector: AWS S3 and S3-compatible stores (MinIO, Ceph...) through boto3.

Search is the files connector's pipeline (``connectors.files.connector.TreeSearch``): one
listing pass over the bucket prefix, each object streamed once through the registered
extractors and the multi-pattern matcher, every subject of a batch at once. The bucket is
reached through ``S3Transport``; findings are ``kind = "object"``, the locator is the full
key (``key?versionId=...`` for a non-current version, every one of which is searched) and
``container`` is the key's folder (``exports/2024`` for ``exports/2024/list.csv``).

Discovery samples (``sample()``, the files connector's ``connectors.files.sample``) read
current objects only: up to ``objects_per_prefix`` of each top-level prefix, chosen at random
(seeded) when it holds more; a large text object is read by ranged GETs (its head and a few
random slices), never whole; an archived one is reported unreadable.

Objects in archive storage classes cannot be read without a restore: they are listed in the
sweep report and returned by ``manual_tasks`` ("not searched: restore needed"), which the
planner turns into items a person signs off. Objects that cannot be read for their own sake
(access denied, refused) are reported and the search goes on; an unreachable endpoint, a
missing bucket or refused credentials fail the system's search with a ConnectorError.

Actions (``actions_for``): ``export`` (``read()`` returns a tabular object's matched rows,
lists any other object for disclosure review), ``suppress`` and ``restrict`` (tags, and a
manifest of rows), ``delete``/``anonymise`` (``erase.py``: rows or spans out of the current
version, older versions deleted), and only ``beyond_use`` for objects under
``backup_prefixes`` when ``backup_mode = "beyond_use"`` and for versions under Object Lock.
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any, BinaryIO, ClassVar

import structlog

from agent.config import SystemConfig
from agent.connector import CheckResult, ConnectorContext, Container
from agent.errors import ConnectorError
from agent.models import Finding, Subject
from agent.plans import ManualTask, Outcome, PlanItem
from agent.sampling import SampleOptions, fingerprint
from connectors.files.connector import TreeSearch
from connectors.files.erase import kind_of
from connectors.files.scan import FileHits
from connectors.files.sweep import extension
from connectors.files.transport import Entry, Skipped, Transport
from connectors.s3 import objects
from connectors.s3.client import RESTORE_NEEDED, make_client, object_error, system_error
from connectors.s3.erase import BucketEraser
from connectors.s3.options import (
    AGENT_FOLDER,
    S3Options,
    object_key,
    parse_options,
    split_locator,
)
from connectors.s3.transport import ObjectEntry, S3Transport, _entry

log = structlog.get_logger("connectors.s3")

# Archived objects named one by one in the plan; past this, one task counts the rest.
MAX_RESTORE_TASKS = 100


def folder_of(key: str) -> str:
    """The key's folder ("" at the bucket's root): a finding's container."""
    return key.rsplit("/", 1)[0] if "/" in key else ""


class S3Connector(TreeSearch):
    name: ClassVar[str] = "s3"
    description: ClassVar[str] = ("S3 buckets and S3-compatible stores (s3://bucket/prefix, "
                                  "endpoint_url); every version, every format an extractor "
                                  "reads")
    url_schemes: ClassVar[tuple[str, ...]] = ("s3",)
    capabilities: ClassVar[frozenset[str]] = frozenset({"check", "discover", "sample",
                                                        "search", "read", "erase",
                                                        "suppress", "restrict"})
    finding_kind: ClassVar[str] = "object"
    events: ClassVar[str] = "s3"
    place: ClassVar[str] = "bucket"
    size_option: ClassVar[str] = "max_object_bytes"
    options: S3Options

    def __init__(self, system: SystemConfig, context: ConnectorContext | None = None) -> None:
        options = parse_options(system)
        super().__init__(system, context, options, options.limits)
        self._client_lock = threading.Lock()
        self._client_obj: Any = None
        self._archived: list[str] | None = None  # locators the last search could not read

    # ------------------------------------------------------------------ connection
    def client(self) -> Any:
        """The system's boto3 client, made once and shared by every worker."""
        with self._client_lock:
            if self._client_obj is None:
                self._client_obj = make_client(self.options)
            return self._client_obj

    def _connect(self) -> S3Transport:
        return S3Transport(self.system.name, self.options, self.client())

    def _open(self, transport: Transport, entry: Entry) -> AbstractContextManager[BinaryIO]:
        """Exactly the version the listing gave (the current one may be replaced meanwhile:
        what is searched is what the sweep and the objects module record)."""
        assert isinstance(transport, S3Transport) and isinstance(entry, ObjectEntry)
        return transport.open_read(entry.path, version=entry.version_id)

    def _filename(self, path: str) -> str:
        return object_key(path).rsplit("/", 1)[-1]

    def _findings(self, hits: FileHits, by_ref: dict[str, Subject]) -> list[Finding]:
        found = super()._findings(hits, by_ref)
        for finding in found:
            finding.container = folder_of(object_key(finding.locator))
        return found

    # ------------------------------------------------------------------ check / discover
    def check(self) -> CheckResult:
        started = time.perf_counter()
        try:
            transport = S3Transport(self.system.name, self.options, self.client(),
                                    check=False)
            transport.head_bucket()
            args: dict[str, Any] = {"Bucket": self.options.bucket, "MaxKeys": 1}
            if self.options.prefix:
                args["Prefix"] = self.options.prefix
            try:
                self.client().list_objects_v2(**args)
            except Exception as exc:
                raise system_error(self.system.name, exc, "list_objects_v2") from None
        except Exception as exc:
            return CheckResult(False, _safe(exc), time.perf_counter() - started)
        return CheckResult(True, f"listed {self.system.display_url}",
                           time.perf_counter() - started)

    def discover(self) -> Iterator[Container]:
        """One container per top-level prefix below the configured one ("" for objects
        directly under it): current objects, their bytes, non-current versions, storage
        classes, extensions, archived and excluded counts."""
        sweep = self._sweep()
        found: dict[str, Container] = {}
        started = time.perf_counter()
        try:
            for entry in self._connect().objects():
                name = _top(entry.key, self.options.prefix)
                box = found.setdefault(name, Container(
                    name=name, kind="prefix", items=0,
                    notes={"bytes": 0, "versions": 0, "storage_classes": {}, "types": {},
                           "archived": 0, "excluded": 0}))
                sweep.report.files += 1
                if not self.options.wanted(entry.path):
                    box.notes["excluded"] += 1
                    continue
                notes = box.notes
                if entry.latest:
                    box.items = (box.items or 0) + 1
                    notes["bytes"] += entry.size
                else:
                    notes["versions"] += 1
                classes = notes["storage_classes"]
                classes[entry.storage_class] = classes.get(entry.storage_class, 0) + 1
                ext = extension(entry.key) or "(none)"
                notes["types"][ext] = notes["types"].get(ext, 0) + 1
                notes["archived"] += entry.archived
        finally:
            sweep.report.seconds = time.perf_counter() - started
            self.last_report = sweep.report
        for name in sorted(found):
            notes = found[name].notes
            notes["types"] = dict(sorted(notes["types"].items()))
            notes["storage_classes"] = dict(sorted(notes["storage_classes"].items()))
            yield found[name]

    # ------------------------------------------------------------------ sample (discovery)
    def _sample_listing(self, transport: Transport, container: str,
                        options: SampleOptions) -> Iterator[Entry | Skipped]:
        """Current objects of one top-level prefix (``discover()``'s container), at most
        ``objects_per_prefix`` of them: a seeded random choice (reservoir sampling, so a
        prefix of millions is listed once and never held) when it holds more; in key order.
        The agent's own folder is no place of the business's data and is left out."""
        root = container == self.options.prefix.rstrip("/")
        prefix = self.options.prefix if root else container + "/"
        args: dict[str, Any] = {"Bucket": self.options.bucket,
                                "PaginationConfig": {"PageSize": self.options.page_size}}
        if prefix:
            args["Prefix"] = prefix
        if root:
            args["Delimiter"] = "/"  # the objects directly under it, not the folders' ones
        wanted = max(options.objects_per_prefix, 0)
        rng = random.Random(f"{options.seed}\x1f{container}")
        chosen: list[ObjectEntry] = []
        seen = 0
        try:
            for page in self.client().get_paginator("list_objects_v2").paginate(**args):
                for item in page.get("Contents", ()):
                    entry = _entry(item, None, latest=True)
                    if entry.key.startswith(self.options.prefix + AGENT_FOLDER):
                        continue
                    seen += 1
                    if len(chosen) < wanted:
                        chosen.append(entry)
                    else:
                        slot = rng.randrange(seen)
                        if slot < wanted:
                            chosen[slot] = entry
        except Exception as exc:
            raise system_error(self.system.name, exc, "listing the bucket: list_objects_v2"
                               ) from None
        yield from sorted(chosen, key=lambda e: e.key)

    def _fingerprint(self, entry: Entry) -> str:
        assert isinstance(entry, ObjectEntry)
        return fingerprint(entry.etag or entry.version_id or "", entry.size)

    def _unreadable(self, entry: Entry) -> str | None:
        if isinstance(entry, ObjectEntry) and entry.archived:
            return f"{RESTORE_NEEDED} (storage class {entry.storage_class})"
        return None

    @contextmanager
    def _read_at(self, transport: Transport, entry: Entry
                 ) -> Iterator[Callable[[int, int], bytes]]:
        """Ranged GETs of the listed version: a slice costs one request, not the object."""
        assert isinstance(entry, ObjectEntry)
        client = self.client()
        address: dict[str, Any] = {"Bucket": self.options.bucket, "Key": entry.key}
        if entry.version_id:
            address["VersionId"] = entry.version_id

        def read_at(offset: int, size: int) -> bytes:
            if size <= 0:
                return b""
            try:
                body = client.get_object(**address,
                                         Range=f"bytes={offset}-{offset + size - 1}")["Body"]
                try:
                    return bytes(body.read())
                finally:
                    body.close()
            except Exception as exc:
                raise object_error(self.system.name, entry.path, exc) from None

        yield read_at

    # ------------------------------------------------------------------ search
    def search(self, subjects: Sequence[Subject]) -> Iterable[Finding]:
        self._archived = None
        try:
            return super().search(subjects)
        finally:
            report = self.last_report
            if report is not None and report.files:
                self._archived = [p.path for p in report.problems
                                  if p.reason.startswith(RESTORE_NEEDED)]

    def manual_tasks(self, request_type: str) -> Sequence[ManualTask]:
        """Each archived object the last search could not read (any request type needs it
        restored and searched); without a search yet, the bucket is listed for them."""
        archived = self._archived
        if archived is None:
            try:
                archived = [e.path for e in self._connect().objects()
                            if e.archived and self.options.wanted(e.path)]
            except ConnectorError as exc:  # the plan still says what was not looked at
                log.warning("s3.manual_tasks.unlisted", system=self.system.name,
                            error=_safe(exc))
                return [ManualTask(
                    key="restore-unknown", where=self.system.display_url,
                    description=f"{RESTORE_NEEDED}? the bucket could not be listed for "
                                f"archived objects ({_safe(exc)})")]
        tasks = [ManualTask(key=f"restore-{_digest(locator)}",
                            description=RESTORE_NEEDED, where=locator)
                 for locator in sorted(archived)[:MAX_RESTORE_TASKS]]
        rest = len(archived) - len(tasks)
        if rest > 0:
            tasks.append(ManualTask(
                key="restore-more", where=self.system.display_url,
                description=f"{RESTORE_NEEDED}: {rest} more archived objects (the sweep "
                            "report lists them)"))
        return tasks

    # ------------------------------------------------------------------ actions
    def actions_for(self, finding: Finding) -> frozenset[str]:
        """Export, suppress and restrict anything found; delete/anonymise the current
        version of an object we can rewrite and any older version (deleted whole); a
        backup kept beyond use (``backup_mode``) or a version under Object Lock only ever
        stays, beyond use."""
        out = {"export", "suppress", "restrict"}
        if self.options.backup_mode == "beyond_use" and self.options.in_backup(
                finding.locator):
            return frozenset(out | {"beyond_use"})
        key, version = split_locator(finding.locator)
        if self._lock(key, version).protected:
            return frozenset(out | {"beyond_use"})
        if version is not None or kind_of(key) is not None:
            out |= {"delete", "anonymise"}
        return frozenset(out)

    def _lock(self, key: str, version: str | None) -> objects.LockState:
        try:
            return objects.attributes(self.client(), self.options.bucket, key,
                                      version).lock()
        except ConnectorError:  # cannot tell now: erasure checks again and never deletes it
            return objects.LockState(protected=False)

    def kept_until(self, finding: Finding) -> str | None:
        """The retain-until date of a locked version (None under a legal hold: until it is
        lifted, and for backups, kept as their own expiry rules say)."""
        lock = self._lock(*split_locator(finding.locator))
        return lock.until.date().isoformat() if lock.protected and lock.until else None

    def erase(self, plan_items: Sequence[PlanItem]) -> Iterator[Outcome]:
        return self._act(plan_items, lambda eraser, items: eraser.run(items), "erase")

    def suppress(self, plan_items: Sequence[PlanItem]) -> Iterator[Outcome]:
        return self._act(plan_items, lambda eraser, items: eraser.mark(items, "suppress"),
                         "suppress")

    def restrict(self, plan_items: Sequence[PlanItem]) -> Iterator[Outcome]:
        return self._act(plan_items, lambda eraser, items: eraser.mark(items, "restrict"),
                         "restrict")

    def _act(self, plan_items: Sequence[PlanItem],
             work: Callable[[BucketEraser, list[PlanItem]], Iterable[Outcome]],
             action: str) -> Iterator[Outcome]:
        items = [i for i in plan_items if i.system == self.system.name]
        if not items:
            return
        eraser = BucketEraser(self._connect(), self.options, self._memory, self._rescan)
        for outcome in work(eraser, items):
            log.info(f"s3.{action}", system=self.system.name, status=outcome.status,
                     removed_versions=len(outcome.versions), **outcome.counts)
            yield outcome

    def close(self) -> None:
        with self._client_lock:
            client, self._client_obj = self._client_obj, None
        if client is not None:
            client.close()


def _top(key: str, prefix: str) -> str:
    """The first folder below the configured prefix, as a full prefix without its "/"."""
    rest = key[len(prefix):] if key.startswith(prefix) else key
    if "/" not in rest:
        return prefix.rstrip("/")
    return prefix + rest.split("/", 1)[0]


def _digest(locator: str) -> str:
    return hashlib.sha256(locator.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _safe(exc: Exception) -> str:
    from agent.errors import DsrError

    return str(exc) if isinstance(exc, DsrError) else type(exc).__name__
