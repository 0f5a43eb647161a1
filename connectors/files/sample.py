"""Samples of a share's folders and a bucket's prefixes for discovery sweeps (``agent.sampling``).

``TreeSearch.sample(container, options)`` runs ``sample_container``: one unit per file (or
current object), in listing order, one at a time (never more than one unit's text held):

1. its fingerprint (the connector's ``_fingerprint``: size and mtime, or ETag and size) goes
   to ``options.unchanged`` first; a unit the last sweep saw so is yielded ``unchanged``
   without being opened;
2. otherwise a bounded read of about ``options.text_bytes`` characters. Text formats (plain
   text, CSV, JSON Lines, JSON, SQL dumps) larger than that are read as their head plus a few
   random slices (``_ranged``: seeks, or the connector's ranged reads, never the whole file),
   each cut at line or word ends so no value is split at a seam. Every other format goes
   through the registered extractors (as search reads it, with the same limits) and its text
   is cut at the budget; such a file over the size limit is an error, not parsed.

Files the request search leaves out (include/exclude, quarantine, over the size limit) are
sampled all the same, with ``searched=False`` and the reason: showing personal data where
requests would not look is what the sweep's coverage section is for. A unit that cannot be
read (permission denied, corrupt, an extractor's error, gone since listed, archived) is
yielded with ``error`` naming the problem class, never content, and the sweep goes on; the
shared ``Sweep`` classifies the failure, reconnects once after a lost connection and records
the problem in ``connector.last_report``.
"""

from __future__ import annotations

import codecs
import dataclasses
import random
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, BinaryIO

import structlog

from agent.connector import Container
from agent.errors import ConnectorError
from agent.extraction import UnsupportedFormat, content_label, peek_head, read_exact
from agent.extractors import HEAD_BYTES
from agent.sampling import FieldSample, Sample, SampleOptions, fingerprint
from connectors.files.findings import container_of
from connectors.files.sweep import SKIPPED, TOO_BIG, Problem, Sweep, Watched
from connectors.files.transport import Entry, Skipped, Transport
from plugins.extractors._common import FALLBACK, detect_encoding

if TYPE_CHECKING:
    from connectors.files.connector import TreeSearch

log = structlog.get_logger("connectors.files")

# Formats whose bytes are their text: a large one is sampled by ranges, not parsed whole.
RANGED_FORMATS = frozenset({"text", "delimited", "jsonl", "json", "sqldump"})
HEAD_SHARE = 2  # the head is 1/HEAD_SHARE of the budget; random slices share the rest
SLICES = 4
MIN_BUDGET = 256  # characters: below this a sample says nothing
# How far from a slice's edge a line end (then a space) is looked for to cut it cleanly.
LINE_REACH = 1024
WORD_REACH = 256
SEAM = "\n\n"  # between the head and the slices: no token runs across two of them

ReadAt = Callable[[int, int], bytes]  # (offset, size) -> up to size bytes from offset


# ---------------------------------------------------------------------- connector defaults
def folder_listing(transport: Transport, container: str) -> Iterator[Entry | Skipped]:
    """A share's top-level folder: every file under it (``""``: the files at the root),
    and what the walk could not read there."""
    # the root's own files only: each top-level folder is a container of its own, and
    # walking the root's subfolders here would list the whole share a second time
    items = transport.walk("", recursive=False) if container == "" else transport.walk(container)
    for item in items:
        if item.path == container or container_of(item.path) == container:
            yield item


class _Ranges:
    """Reads of byte ranges of one open, seekable stream, below its buffer (which would
    read a whole window ahead of every small slice)."""

    def __init__(self, stream: BinaryIO) -> None:
        self.raw: BinaryIO = getattr(stream, "raw", stream)

    @classmethod
    def of(cls, stream: BinaryIO) -> _Ranges | None:
        ranges = cls(stream)
        try:
            return ranges if ranges.raw.seekable() else None
        except (AttributeError, OSError, ValueError):
            return None

    def read(self, offset: int, size: int) -> bytes:
        self.raw.seek(offset)
        return read_exact(self.raw, size)

    def rewind(self) -> None:
        """Back to the start, where the buffered stream above still thinks it is."""
        self.raw.seek(0)


@contextmanager
def seeking_reader(opened: AbstractContextManager[BinaryIO]) -> Iterator[ReadAt]:
    """Ranged reads over one open, seekable stream (local, SFTP and SMB files are)."""
    with opened as stream:
        ranges = _Ranges.of(stream)
        if ranges is None:
            raise ConnectorError("the stream cannot seek: give the connector ranged reads")
        yield ranges.read


def not_searched_because(connector: TreeSearch, path: str, size: int) -> str | None:
    """Why a request search would not read this file, or None when it would."""
    options = connector.options
    if not options.wanted(path):
        if dataclasses.is_dataclass(options) and not isinstance(options, type):
            if not dataclasses.replace(options, include=(), exclude=()).wanted(path):
                return ("in the quarantine folder" if getattr(options, "quarantine", None)
                        else "the agent's own folder")
            if dataclasses.replace(options, exclude=()).wanted(path):
                return "excluded by the exclude option"
            return "not matched by the include option"
        return "left out by include/exclude"
    if size > options.max_file_bytes:
        return f"larger than {connector.size_option}"
    return None


# ---------------------------------------------------------------------- the pass
class _SampleSweep(Sweep):
    """The shared sweep, one unit at a time, remembering each unit's problem so it can be
    handed on as the unit's error."""

    def __init__(self, connector: TreeSearch) -> None:
        super().__init__(connector.system.name, connector.options, connector._connect,
                         place=connector.place, size_option=connector.size_option,
                         events=connector.events)
        self.last: Problem | None = None

    def problem(self, path: str, kind: str, reason: str, size: int | None = None, *,
                level: str = "warning") -> None:
        super().problem(path, kind, reason, size, level=level)
        self.last = Problem(path, kind, reason, size)


def sample_container(connector: TreeSearch, container: Container,
                     options: SampleOptions) -> Iterator[Sample]:
    """Every unit of ``container`` (see the module docstring), streamed."""
    sweep = _SampleSweep(connector)
    kind = connector.finding_kind
    counts = {"read": 0, "unchanged": 0, "unreadable": 0}
    started = time.perf_counter()
    listing = connector._connect()
    try:
        for item in connector._sample_listing(listing, container.name, options):
            if isinstance(item, Skipped):
                sweep.skipped(item)  # the root itself unlistable: the system fails
                sweep.report.files += 1
                counts["unreadable"] += 1
                yield Sample(item.path, fingerprint("unread", item.reason),
                             error=_error(sweep.last), kind=kind)
                continue
            sweep.report.files += 1
            done = _unit(connector, sweep, item, options)
            if done.unchanged:
                counts["unchanged"] += 1
            else:
                counts["unreadable" if done.error else "read"] += 1
            yield done
    finally:
        for closing in (listing.close, sweep.close):
            try:
                closing()
            except Exception as exc:  # closing never hides what the sweep did
                log.debug(f"{connector.events}.sample.close", error=type(exc).__name__)
        sweep.report.seconds = time.perf_counter() - started
        connector.last_report = sweep.report
        log.info(f"{connector.events}.sample", system=connector.system.name, **counts,
                 seconds=round(sweep.report.seconds, 3))


def _unit(connector: TreeSearch, sweep: _SampleSweep, entry: Entry,
          options: SampleOptions) -> Sample:
    kind = connector.finding_kind
    digest = connector._fingerprint(entry)
    if options.unchanged(entry.path, digest):
        return Sample(entry.path, digest, unchanged=True, kind=kind)
    why_not = connector._unreadable(entry)
    if why_not is not None:  # an archived object: reading it needs a restore first
        sweep.problem(entry.path, SKIPPED, why_not, entry.size)
        return Sample(entry.path, digest, error=why_not, kind=kind)
    because = not_searched_because(connector, entry.path, entry.size)
    rng = random.Random(f"{options.seed}\x1f{entry.path}")  # slices repeat for one seed
    budget = max(options.text_bytes, MIN_BUDGET)

    def work(transport: Transport, item: Entry, watch: Watched) -> str | Problem:
        return _text(connector, transport, item, watch, budget, rng)

    sweep.last = None
    text = sweep._one(work, entry)
    if isinstance(text, Problem):  # over the size limit in a format that is parsed whole
        sweep.problem(text.path, text.kind, text.reason, text.size)
        text = None
    if text is None:
        return Sample(entry.path, digest, error=_error(sweep.last), kind=kind)
    return Sample(entry.path, digest, kind=kind, fields=[FieldSample(
        container=entry.path, kind=kind, text=text, size=entry.size,
        searched=because is None, not_searched_because=because)])


def _error(problem: Problem | None) -> str:
    if problem is None:
        return "unreadable"
    if not problem.reason or problem.reason.startswith(problem.kind):
        return problem.reason or problem.kind
    return f"{problem.kind}: {problem.reason}"


# ---------------------------------------------------------------------- one unit's text
def _text(connector: TreeSearch, transport: Transport, entry: Entry, watch: Watched,
          budget: int, rng: random.Random) -> str | Problem:
    if entry.size == 0:
        return ""  # nothing to open
    name = connector._filename(entry.path)
    with connector._open(transport, entry) as opened:
        ranges = _Ranges.of(opened)  # a share's file: the head and slices from this open
        first = b""
        if ranges is not None:
            # a large file may be sampled by ranges: read its whole head at once (a seek
            # costs a round trip, and over SFTP a fresh read-ahead)
            first = ranges.read(0, HEAD_BYTES if entry.size <= budget else
                                max(HEAD_BYTES, budget // HEAD_SHARE + 4))
            head = first[:HEAD_BYTES]
            ranges.rewind()
            stream: BinaryIO = watch.wrap(opened)
        else:  # an object's body: its head here, slices by the connector's ranged reads
            head, stream = peek_head(watch.wrap(opened))
        if not head:
            return ""
        extractor = connector.extraction.extractor_for(head, name)
        if extractor is None:
            raise UnsupportedFormat(f"no extractor reads this file ({content_label(head)})")
        if extractor.name not in RANGED_FORMATS or entry.size <= budget:
            if entry.size > connector.options.max_file_bytes:
                return Problem(entry.path, TOO_BIG, (
                    f"{entry.size} bytes, over {connector.size_option} "
                    f"({connector.options.max_file_bytes}): a {extractor.name} file is "
                    "parsed whole, so it is not sampled"), entry.size)
            return _extracted(connector, stream, name, budget)
        if ranges is not None:
            return _ranged(ranges.read, first, entry.size, budget, rng)
    with connector._read_at(transport, entry) as read_at:
        return _ranged(read_at, head, entry.size, budget, rng)


def _extracted(connector: TreeSearch, stream: BinaryIO, name: str, budget: int) -> str:
    """The extractors' text of the file (as search reads it), cut at ``budget``."""
    parts: list[str] = []
    left = budget
    pieces = connector.extraction.pieces(stream, name)
    try:
        for piece in pieces:
            text = piece.text or "\t".join(piece.cells or ())
            if not text:
                continue
            parts.append(text[:left])
            left -= len(parts[-1]) + 1
            if left <= 0:
                break
    finally:
        pieces.close()  # stops the extractor (and its reads) at the budget
    return "\n".join(parts)[:budget]


def _ranged(read_at: ReadAt, first: bytes, size: int, budget: int,
            rng: random.Random) -> str:
    """The head of a text file plus ``SLICES`` random slices, one in each equal stretch of
    the rest (so the middle and the end are both reached: the last slice may start up to a
    quarter slice before the end), about ``budget`` characters."""
    codec, unit, skip = _slice_codec(first)
    head_len = _align(budget // HEAD_SHARE, unit)
    slice_len = _align((budget - head_len) // SLICES, unit)
    head = (first[skip:skip + head_len] if len(first) >= skip + head_len
            else read_at(skip, head_len))  # ``first``: the bytes read to sniff, when enough
    texts = [_trim(_decode(head, codec), start=False, end=True)]
    rest_from = skip + head_len
    stretch = (size - rest_from) // SLICES
    for index in range(SLICES):
        low = rest_from + index * stretch
        if index < SLICES - 1:  # within its stretch: slices never overlap
            room = max(stretch - slice_len, 0)
        else:  # the last may run up to the end (cut short there), so the end is reached
            room = max(size - low - slice_len // 4, 0)
        start = _align(low + rng.randint(0, room), unit, base=skip)
        data = read_at(start, min(slice_len, size - start))
        if data:  # the file's own end is no cut
            texts.append(_trim(_decode(data, codec), start=True,
                               end=start + len(data) < size))
    return SEAM.join(t for t in texts if t)[:budget]


def _slice_codec(head: bytes) -> tuple[str, int, int]:
    """(codec for any slice, its code unit in bytes, bytes of BOM to skip), from the head:
    the encoding the text extractor would choose, with its byte order made explicit."""
    encoding = detect_encoding(head)
    boms = ((codecs.BOM_UTF8, "utf-8", 1), (codecs.BOM_UTF32_LE, "utf-32-le", 4),
            (codecs.BOM_UTF32_BE, "utf-32-be", 4), (codecs.BOM_UTF16_LE, "utf-16-le", 2),
            (codecs.BOM_UTF16_BE, "utf-16-be", 2))
    if encoding in ("utf-8-sig", "utf-16", "utf-32"):
        for bom, codec, unit in boms:
            if head.startswith(bom):
                return codec, unit, len(bom)
    if encoding in ("utf-16-le", "utf-16-be"):
        return encoding, 2, 0
    return "utf-8", 1, 0


def _align(offset: int, unit: int, base: int = 0) -> int:
    return offset - (offset - base) % unit if unit > 1 else offset


def _decode(data: bytes, codec: str) -> str:
    # undecodable bytes read as Windows-1252, as the text extractor reads them
    return data.decode(codec, errors=FALLBACK)


def _trim(text: str, *, start: bool, end: bool) -> str:
    """A slice without the partial line (else word) at its cut ends (``start``, ``end``): a
    value split at a seam would be lost or, worse, look like another value."""
    if start:
        text = text[_cut(text[:LINE_REACH], first=True):]
    if not end:
        return text
    stop = _cut(text[-LINE_REACH:], first=False)
    return text[:len(text) - LINE_REACH + stop] if len(text) > LINE_REACH else text[:stop]


def _cut(part: str, *, first: bool) -> int:
    """Where to cut ``part``: just after its first line end (``first``) or at its last,
    else at a space within ``WORD_REACH``, else nowhere (one long token: keep it)."""
    if first:
        line = part.find("\n")
        if line >= 0:
            return line + 1
        word = next((i for i, c in enumerate(part[:WORD_REACH]) if c.isspace()), -1)
        return word + 1 if word >= 0 else 0
    line = part.rfind("\n")
    if line >= 0:
        return line
    tail = part[-WORD_REACH:]
    word = next((i for i in range(len(tail) - 1, -1, -1) if tail[i].isspace()), -1)
    return len(part) - len(tail) + word if word >= 0 else len(part)
