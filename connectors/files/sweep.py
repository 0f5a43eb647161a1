"""Walk a share once and run every file through one piece of work, in parallel.

The walk runs in the calling thread on a transport of its own; files go to ``workers``
threads, each with its own transport (transports serve one thread at a time), with a
bounded number of files in flight so a share of millions of files never queues them all.

A file that cannot be read (permission denied, corrupt, over a limit, timed out, gone,
too big) never stops the sweep: it is recorded with the reason in the ``SweepReport`` and
logged once, as a warning naming a short digest of its path (a file name can be a
person's name), its extension, size and the kind of problem. A lost connection is not a
file's problem: the worker reconnects once, and the search fails if it cannot.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Protocol, TypeVar

import structlog

from agent.errors import ConnectorError
from agent.extraction import UnsupportedFormat
from agent.extractors import ExtractionError
from connectors.files.transport import Entry, FileUnavailable, Skipped, Transport, UnsafePath

log = structlog.get_logger("connectors.files")

T = TypeVar("T")
# Work on one file: (the worker's transport, the entry, a problem recorder) -> result.
Work = Callable[[Transport, Entry, "Watched"], T]

# Problem kinds (what the log says; the report keeps the full reason)
PERMISSION = "permission denied"
CORRUPT = "corrupt or unreadable"
LIMIT = "over an extraction limit"
TIMEOUT = "timed out"
TOO_BIG = "too big"
GONE = "gone since listed"
SKIPPED = "skipped by the walk"
UNSUPPORTED = "no extractor for its format"
UNSAFE = "unsafe path"
# Files handed to a worker at once: up to this many, or this many bytes.
BATCH_FILES = 32
BATCH_BYTES = 8 << 20
VERSION_MARK = "?versionId="


class SweepOptions(Protocol):
    """What a sweep needs of a connector's options (``FilesOptions``, ``S3Options``)."""

    workers: int

    @property
    def max_file_bytes(self) -> int: ...

    def wanted(self, path: str) -> bool: ...


def path_digest(path: str) -> str:
    """A short, stable stand-in for a path in logs (the report has the path itself)."""
    return hashlib.sha256(path.encode("utf-8", "surrogatepass")).hexdigest()[:12]


def extension(path: str) -> str:
    # a bucket's non-current version is named "key?versionId=..." (see DESIGN.md, locators)
    name = path.split(VERSION_MARK, 1)[0].rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[-1].lower()[:10] if "." in name.lstrip(".") else ""


@dataclass(frozen=True)
class Problem:
    path: str
    kind: str
    reason: str
    size: int | None = None

    def public(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "kind": self.kind, "reason": self.reason}
        if self.size is not None:
            out["size"] = self.size
        return out


@dataclass
class SweepReport:
    """What one sweep did: files listed, read, left out, and every problem with its path."""

    files: int = 0  # regular files the walk listed
    excluded: int = 0  # left out by include/exclude
    scanned: int = 0  # read through the extraction
    bytes: int = 0  # size of the files read
    pieces: int = 0  # text pieces extracted
    candidates: int = 0  # pieces the prefilter passed to confirmation
    partial: int = 0  # files read whole except members no extractor reads
    problems: list[Problem] = field(default_factory=list)
    seconds: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, problem: Problem) -> None:
        with self._lock:
            self.problems.append(problem)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for problem in self.problems:
            out[problem.kind] = out.get(problem.kind, 0) + 1
        return dict(sorted(out.items()))

    def public(self) -> dict[str, Any]:
        """For the CLI and discovery (holds paths: for the admin, not for logs)."""
        return {"files": self.files, "excluded": self.excluded, "scanned": self.scanned,
                "bytes": self.bytes, "pieces": self.pieces, "candidates": self.candidates,
                "partial": self.partial, "problems": self.counts(),
                "unread": [p.public() for p in self.problems],
                "seconds": round(self.seconds, 3)}


class Watched:
    """A file's stream that remembers a transport failure, so a lost connection mid-read
    is told apart from a corrupt file (the extraction reports both as ExtractionError)."""

    def __init__(self) -> None:
        self.failure: BaseException | None = None

    def wrap(self, stream: BinaryIO) -> BinaryIO:
        return _WatchedStream(stream, self)  # type: ignore[return-value]


class _WatchedStream:
    def __init__(self, stream: BinaryIO, watch: Watched) -> None:
        self._stream = stream
        self._watch = watch

    def read(self, size: int = -1) -> bytes:
        try:
            return self._stream.read(size)
        except Exception as exc:
            self._watch.failure = exc
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class Sweep:
    """One pass over a share: ``run(work)`` yields each file's result."""

    def __init__(self, system_name: str, options: SweepOptions,
                 connect: Callable[[], Transport], *, place: str = "share",
                 size_option: str = "max_file_bytes", events: str = "files") -> None:
        self.system = system_name
        self.options = options
        self.connect = connect
        self.place = place  # what messages call the store: "share", "bucket"
        self.size_option = size_option  # the option named when a file is too big
        self.events = events  # log event prefix: "files.unread", "s3.unread"
        self.report = SweepReport()
        self._local = threading.local()
        self._opened: list[Transport] = []
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ transports
    def _transport(self) -> Transport:
        transport = getattr(self._local, "transport", None)
        if transport is None:
            transport = self.connect()
            self._local.transport = transport
            with self._lock:
                self._opened.append(transport)
        return transport

    def _reconnect(self) -> Transport:
        old = getattr(self._local, "transport", None)
        self._local.transport = None
        if old is not None:
            with contextlib.suppress(Exception):
                old.close()
        try:
            return self._transport()
        except Exception as exc:
            # a transport's own ConnectorError is safe and says what failed
            why = str(exc) if isinstance(exc, ConnectorError) else type(exc).__name__
            why = why.removeprefix(f"system {self.system!r}: ")
            raise ConnectorError(f"system {self.system!r}: lost the connection to the "
                                 f"{self.place} and could not reconnect ({why})") from None

    def close(self) -> None:
        with self._lock:
            opened, self._opened = self._opened, []
        for transport in opened:
            with contextlib.suppress(Exception):
                transport.close()

    # ------------------------------------------------------------------ the pass
    def entries(self, walker: Transport) -> Iterator[Entry]:
        """The files to read, after include/exclude and the size limit; problems recorded."""
        for item in walker.walk(""):
            if isinstance(item, Skipped):
                self.skipped(item)
                continue
            self.report.files += 1
            if not self.options.wanted(item.path):
                self.report.excluded += 1
                continue
            if item.size > self.options.max_file_bytes:
                self.problem(item.path, TOO_BIG, f"{item.size} bytes, over {self.size_option} "
                             f"({self.options.max_file_bytes})", item.size)
                continue
            if item.size == 0:
                continue  # nothing in it to find
            yield item

    def run(self, work: Work[T]) -> Iterator[T]:
        started = time.perf_counter()
        walker = self.connect()
        try:
            if self.options.workers == 1:
                for entry in self.entries(walker):  # no thread hand-off for one worker
                    result = self._one(work, entry)
                    if result is not None:
                        yield result
            else:
                yield from self._parallel(work, self._batches(self.entries(walker)))
        finally:
            with contextlib.suppress(Exception):
                walker.close()
            self.close()
            self.report.seconds = time.perf_counter() - started

    def _parallel(self, work: Work[T], batches: Iterator[list[Entry]]) -> Iterator[T]:
        workers = self.options.workers
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dsr-files")
        pending: set[Future[list[T]]] = set()
        try:
            for batch in batches:
                pending.add(pool.submit(self._batch, work, batch))
                if len(pending) >= workers * 2:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    yield from _results(done)
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                yield from _results(done)
        finally:
            for future in pending:
                future.cancel()
            pool.shutdown(wait=True, cancel_futures=True)

    @staticmethod
    def _batches(entries: Iterator[Entry]) -> Iterator[list[Entry]]:
        """Small files travel to the workers together (one hand-off per batch)."""
        batch: list[Entry] = []
        size = 0
        for entry in entries:
            batch.append(entry)
            size += entry.size
            if len(batch) >= BATCH_FILES or size >= BATCH_BYTES:
                yield batch
                batch, size = [], 0
        if batch:
            yield batch

    def _batch(self, work: Work[T], batch: list[Entry]) -> list[T]:
        return [r for r in (self._one(work, entry) for entry in batch) if r is not None]

    def _one(self, work: Work[T], entry: Entry) -> T | None:
        for attempt in (1, 2):
            transport = self._transport() if attempt == 1 else self._reconnect()
            watch = Watched()
            try:
                result = work(transport, entry, watch)
            except UnsupportedFormat as exc:
                self.problem(entry.path, UNSUPPORTED, str(exc), entry.size, level="info")
                return None
            except ExtractionError as exc:
                if watch.failure is not None and not _file_level(watch.failure) \
                        and attempt == 1:
                    continue  # the connection failed mid-read: reconnect and read it again
                self.problem(entry.path, *_extraction_kind(exc, watch.failure), entry.size)
                return None
            except Exception as exc:
                kind = _file_level(exc)
                if kind is None and attempt == 1:
                    continue
                self.problem(entry.path, kind or CORRUPT, _reason(exc), entry.size)
                return None
            with self.report._lock:
                self.report.scanned += 1
                self.report.bytes += entry.size
            return result
        return None

    def skipped(self, item: Skipped) -> None:
        """Record what the walk skipped; the root itself skipped means nothing was searched."""
        if item.path in ("", "."):
            raise ConnectorError(f"system {self.system!r}: cannot list the {self.place}'s "
                                 f"folder ({item.reason})")
        self.problem(item.path, SKIPPED, item.reason)

    def problem(self, path: str, kind: str, reason: str, size: int | None = None, *,
                level: str = "warning") -> None:
        self.report.add(Problem(path, kind, reason, size))
        getattr(log, level)(f"{self.events}.unread", system=self.system,
                            path_sha256=path_digest(path), ext=extension(path), size=size,
                            problem=kind)


def _results(done: set[Future[list[T]]]) -> Iterator[T]:
    for future in done:
        yield from future.result()  # a lost connection raises here and ends the search


def _file_level(exc: BaseException) -> str | None:
    """The problem kind of a failure that is the file's own; None for a connection's."""
    if isinstance(exc, PermissionError):
        return PERMISSION
    if isinstance(exc, FileNotFoundError):
        return GONE
    if isinstance(exc, UnsafePath):
        return UNSAFE
    if isinstance(exc, IsADirectoryError | NotADirectoryError):
        return GONE
    if isinstance(exc, FileUnavailable):
        reason = exc.reason.lower()
        if "permission" in reason or "denied" in reason:
            return PERMISSION
        if "not found" in reason or "no such" in reason:
            return GONE
        return exc.reason
    return None  # any other ConnectorError or OSError: the connection failed


def _extraction_kind(exc: ExtractionError, failure: BaseException | None) -> tuple[str, str]:
    text = str(exc)
    if failure is not None:
        return _file_level(failure) or CORRUPT, f"reading failed: {_reason(failure)}"
    if "(max_seconds)" in text:
        return TIMEOUT, text
    if "(max_" in text:
        return LIMIT, text
    return CORRUPT, text


def _reason(exc: BaseException) -> str:
    """Our own errors carry safe messages; others are named by their type only."""
    if isinstance(exc, ConnectorError | ExtractionError):
        return str(exc)
    if isinstance(exc, OSError) and exc.strerror:
        return f"{type(exc).__name__}: {exc.strerror}"
    return type(exc).__name__
