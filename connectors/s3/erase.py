"""Erasure, suppression and restriction in a bucket, every version included.

Erase (``delete`` / ``anonymise``), per key:

- the current version of an object we can rewrite (rows out of CSV/TSV/JSONL/XLSX/Parquet,
  spans out of text, DOCX and e-mail) goes through the files connector's ``Eraser``: the
  same rewriting and the same read-back verification, over ``ObjectWriter``, which pins the
  version it read, writes with ``objects.replace`` (content type, metadata, tags,
  encryption and storage class kept; nobody may have written in between) and then reads the
  new version. A conflict re-reads and rewrites, up to ``ATTEMPTS`` times. The version read,
  now non-current, still holds the subject: it is deleted next;
- a whole-object delete (the policy's ``whole_document``) removes every version of the key
  holding the subject (``objects.delete_key``);
- a non-current version (``key?versionId=V``) is deleted;
- a version under Object Lock (retention or legal hold) is never deleted: its item fails
  and says until when it is locked (the plan makes such versions ``beyond_use``; a lock
  placed since planning stops the run rather than being skipped);
- then every version of the key still there is read again: the subject found in one that
  is not locked fails the item. ``Outcome.versions`` lists the version ids removed.

Suppress and restrict tag the object version (``dsr-suppressed`` / ``dsr-restricted`` and
``dsr-request``); for rows of a tabular object the tag says the object holds marked rows and
the manifest object (``MANIFEST`` under the system's prefix) lists which rows, for whom (a
digest, never a value) and for which request.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, BinaryIO

from agent.errors import ConnectorError
from agent.models import Subject
from agent.plans import Outcome, PlanItem
from connectors.files.erase import Eraser, Memory, Rescan, Seen, kind_of, whole_document
from connectors.files.options import FilesOptions
from connectors.files.sweep import extension
from connectors.s3 import objects
from connectors.s3.options import AGENT_FOLDER, S3Options, make_locator, split_locator
from connectors.s3.transport import ObjectEntry, S3Transport

ATTEMPTS = 3  # a rewrite that meets another writer this many times fails its item
MANIFEST = AGENT_FOLDER + "suppression-manifest.json"


class ObjectWriter:
    """The files ``Eraser``'s view of a bucket: reads pin the version first read, a write
    replaces exactly that version (or fails with ``objects.WriteConflict``), and reads
    after the write see the version written."""

    scheme = "s3"

    def __init__(self, reader: S3Transport) -> None:
        self.reader = reader
        self.client = reader.client
        self.bucket = reader.options.bucket
        self.read: dict[str, objects.ObjectAttributes] = {}
        self.written: dict[str, str | None] = {}

    def forget(self, key: str) -> None:
        self.read.pop(key, None)
        self.written.pop(key, None)

    def pinned(self, key: str) -> objects.ObjectAttributes:
        if key not in self.read:
            self.read[key] = objects.attributes(self.client, self.bucket, key)
        return self.read[key]

    def stat(self, path: str) -> ObjectEntry | None:
        return self.reader.stat(path)

    @contextmanager
    def open_read(self, path: str) -> Iterator[BinaryIO]:
        key, version = split_locator(path)
        if version is None:
            version = (self.written[key] if key in self.written
                       else self.pinned(key).version_id)
        with self.reader.open_read(make_locator(key, version) if version else key) as stream:
            yield stream

    def write_atomic(self, path: str, data: BinaryIO) -> None:
        key, version = split_locator(path)
        if version is not None:
            raise ConnectorError("only an object's current version is rewritten")
        self.written[key] = objects.replace(self.client, self.bucket, key, self.pinned(key),
                                            data)

    def delete(self, path: str) -> bool:
        raise ConnectorError("whole objects are deleted with their versions, not here")

    def move(self, path: str, target: str) -> None:
        raise ConnectorError("buckets have no quarantine folder")

    def walk(self, prefix: str = "") -> Iterator[Any]:
        return iter(())

    def close(self) -> None:
        """The reader's client is the connector's: nothing to release."""


@dataclass
class _KeyWork:
    """What one key's items did: versions removed, and the ones that must stay."""

    removed: list[str] = field(default_factory=list)
    locked: dict[str, str] = field(default_factory=dict)  # version id -> why it stays


class BucketEraser:
    def __init__(self, reader: S3Transport, options: S3Options, memory: Memory,
                 rescan: Rescan) -> None:
        self.reader = reader
        self.options = options
        self.memory = memory
        self.rescan = rescan
        self.writer = ObjectWriter(reader)
        self.client = reader.client
        self.bucket = options.bucket
        # the files Eraser needs only what its rewriting reads; buckets have no quarantine
        self.files = Eraser(self.writer, FilesOptions(system=options.system),  # type: ignore[arg-type]
                            memory, rescan)

    def run(self, items: Sequence[PlanItem]) -> Iterator[Outcome]:
        by_key: dict[str, list[PlanItem]] = {}
        for item in items:
            if item.action not in ("delete", "anonymise"):
                raise ConnectorError(f"the s3 connector cannot {item.action!r} an object")
            key, _ = split_locator(item.locator or "")
            by_key.setdefault(key, []).append(item)
        # every record first: an item with none fails the call before anything changes
        seen = {i.id: self.memory.get(i) for i in items}
        for key, group in by_key.items():
            yield from self._key(key, group, seen)

    # ------------------------------------------------------------------ one key
    def _key(self, key: str, items: list[PlanItem], seen: dict[str, Seen]
             ) -> Iterator[Outcome]:
        work = _KeyWork()
        outcomes: list[Outcome] = []
        current = [i for i in items if split_locator(i.locator or "")[1] is None]
        older = [i for i in items if i not in current]
        whole = any(whole_document(i) for i in current)
        if whole:
            versions = [split_locator(i.locator or "")[1] for i in older]
            outcomes += self._whole(key, current, older, versions, work)
        else:
            for item in current:
                outcomes.append(self._rewrite(key, item, seen[item.id], work))
            for item in older:
                outcomes.append(self._version(key, item, work))
        markers = objects.delete_markers(self.client, self.bucket, key)
        work.removed += markers
        done = next((o for o in outcomes if o.status == "done"), None)
        if markers and done is not None:  # delete markers are versions too, for the receipt
            done.versions += markers
        subjects = {seen[i.id].subject.ref: seen[i.id].subject for i in items}
        leftover = self._left_in_versions(key, list(subjects.values()), work)
        for outcome in outcomes:
            if leftover and outcome.status in ("done", "absent"):
                outcome.status, outcome.detail = "failed", leftover
            yield outcome

    def _rewrite(self, key: str, item: PlanItem, seen: Seen, work: _KeyWork) -> Outcome:
        kind = kind_of(key)
        if kind is None:
            raise ConnectorError(f"a .{extension(key)} object cannot be rewritten here: plan it "
                                 "for a person or delete it whole")
        sources: list[str] = []  # versions a rewrite was made from: each held the subject
        for attempt in range(1, ATTEMPTS + 1):
            self.writer.forget(key)
            entry = self.reader.stat(key)
            if entry is None:
                return Outcome(item.id, "absent", "the object is gone")
            read = self.writer.pinned(key)
            lock = read.lock()
            if lock.protected:  # its data could never leave: change nothing
                work.locked[read.version_id or ""] = _locked(lock)
                return Outcome(item.id, "failed", f"the object is locked ({_locked(lock)}): "
                               "not rewritten; it stays beyond use until then")
            try:
                if kind == "tabular":
                    outcome = self.files.rows(item, key, entry, seen)
                else:
                    outcome = self.files.spans(item, key, seen)
            except objects.WriteConflict:
                sources.append(read.version_id or "")
                if attempt == ATTEMPTS:
                    return Outcome(item.id, "failed", f"another writer changed the object "
                                   f"{ATTEMPTS} times while it was rewritten: not erased")
                continue
            if outcome.status == "done":
                sources.append(read.version_id or "")
            versions = [v for v in sources if v not in ("", "null")]
            if not versions:
                return outcome
            # the versions rewritten from hold the subject and are non-current now: they go
            result = objects.delete_versions(self.client, self.bucket, key, versions)
            problem = _problem(result, work)
            outcome.versions = list(result.removed)
            if problem:
                return Outcome(item.id, "failed", f"rewritten, but {problem}",
                               outcome.counts, outcome.versions)
            return outcome
        raise AssertionError("unreachable")

    def _version(self, key: str, item: PlanItem, work: _KeyWork) -> Outcome:
        _, version = split_locator(item.locator or "")
        if self.reader.stat(item.locator or "") is None:
            return Outcome(item.id, "absent", "the version is gone")
        result = objects.delete_versions(self.client, self.bucket, key, [version])
        problem = _problem(result, work)
        if problem:
            return Outcome(item.id, "failed", problem, {}, list(result.removed))
        return Outcome(item.id, "done", "version deleted", {"versions": 1},
                       list(result.removed))

    def _whole(self, key: str, current: list[PlanItem], older: list[PlanItem],
               versions: list[str | None], work: _KeyWork) -> list[Outcome]:
        read = objects.attributes(self.client, self.bucket, key) if self.reader.stat(key) \
            else None
        targets = [v for v in versions if v] + ([read.version_id] if read else [])
        result = objects.delete_key(self.client, self.bucket, key,
                                    targets or [None])
        problem = _problem(result, work)
        out: list[Outcome] = []
        for item in current + older:
            _, version = split_locator(item.locator or "")
            mine = [v for v in result.removed
                    if v == version or (version is None and read and v == read.version_id)]
            if problem:
                out.append(Outcome(item.id, "failed", problem, {}, mine))
            elif mine or (version is None and read is not None and read.version_id is None):
                out.append(Outcome(item.id, "done", "object deleted", {"versions": len(mine)},
                                   mine))
            else:
                out.append(Outcome(item.id, "absent", "already gone"))
        return out

    # ------------------------------------------------------------------ verification
    def _left_in_versions(self, key: str, subjects: list[Subject], work: _KeyWork) -> str:
        """Read every version of the key still there (the one just written was read back
        already): the subject may stay only in a locked one."""
        if _versioned(self.reader):
            history = objects.key_history(self.client, self.bucket, key)
            places = [make_locator(key, v) for v, _ in history.versions
                      if v not in work.locked and v != self.writer.written.get(key)]
        else:
            places = [key] if key not in self.writer.written and self.reader.stat(key) else []
        for place in places:
            for subject in subjects:
                if self.rescan(self.reader, place, subject):
                    return ("verification failed: a version of the object still holds the "
                            "subject's details after erasure")
        return ""

    # ------------------------------------------------------------------ marks
    def mark(self, items: Sequence[PlanItem], action: str) -> Iterator[Outcome]:
        """Tag each object version; rows also go in the manifest."""
        tags = (objects.suppression_tags if action == "suppress"
                else objects.restriction_tags)
        entries: list[objects.ManifestEntry] = []
        outcomes: list[Outcome] = []
        now = datetime.now(UTC)
        for item in items:
            request = str(item.notes.get("request") or "unknown")
            key, version = split_locator(item.locator or "")
            if self.reader.stat(item.locator or "") is None:
                outcomes.append(Outcome(item.id, "absent", "the object is gone"))
                continue
            wanted = tags(request)
            before = objects.get_tags(self.client, self.bucket, key, version)
            if all(before.get(name) == value for name, value in wanted.items()):
                outcomes.append(Outcome(item.id, "absent", f"already {action}ed"))
                continue  # (its rows went into the manifest with the first mark)
            objects.add_tags(self.client, self.bucket, key, version, wanted)
            counts = {"objects": 1}
            if item.rows:
                seen = self.memory.get(item)
                entries.append(objects.ManifestEntry(
                    key=key, version_id=version, rows=tuple(sorted(item.rows)),
                    request_id=request, subject_digest=_reference(request, seen.subject),
                    action=action, time=now))  # type: ignore[arg-type]
                counts["rows"] = len(item.rows)
            outcomes.append(Outcome(item.id, "done", f"object tagged {action}ed"
                                    + (" and rows listed in the manifest" if item.rows else ""),
                                    counts))
        if entries:
            objects.write_manifest(self.client, self.bucket, self.options.prefix + MANIFEST,
                                   entries)
        yield from outcomes


def _reference(request: str, subject: Subject) -> str:
    """Which person a manifest entry is for, as the request knows them: a digest of the
    request id and the subject's reference, never an identifier."""
    return hashlib.sha256(f"{request}\x00{subject.ref}".encode()).hexdigest()


def _problem(result: objects.DeleteResult, work: _KeyWork) -> str:
    work.removed += result.removed
    for version in result.protected:
        work.locked[version.version_id] = _locked(version)
    if result.protected:
        return (f"{len(result.protected)} version(s) are locked "
                f"({_locked(result.protected[0])}): not deleted, they keep the data")
    if result.failed:
        return f"{len(result.failed)} version(s) could not be deleted ({result.failed[0].reason})"
    return ""


def _locked(lock: objects.LockState | objects.ProtectedVersion) -> str:
    if lock.legal_hold:
        return "legal hold"
    until = lock.until.date().isoformat() if lock.until else "an unknown date"
    return f"{(lock.mode or 'retention').lower()} retention until {until}"


def _versioned(reader: S3Transport) -> bool:
    return reader.options.versions and reader.versioned()


