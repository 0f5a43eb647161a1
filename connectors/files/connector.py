"""The files connector: a mounted folder, an SFTP server or an SMB share, one implementation.

Search walks the share once and streams each file once through the registered extractors;
every subject of the batch is looked for in one pass over each piece of text (see
``matcher.py``). Findings name the file by its path relative to the share root and, for
spreadsheets, CSV and JSONL, the matching rows. Files that cannot be read are reported
(``last_report``) and never stop the search.

``read()`` returns, for a tabular file, only the subject's rows; any other document is
listed for disclosure review (it may name other people), not copied.

``sample()`` hands a discovery sweep a bounded read of every file of a top-level folder
(``sample.py``).

``TreeSearch`` holds check, discover, sample, search and read over any ``Transport``; the s3
connector is one too (its own options, transport, finding kind and actions), so both stores
share one search pipeline. ``FilesConnector`` adds the share transports and erasure.
"""

from __future__ import annotations

import base64
import io
import json
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, BinaryIO, ClassVar

import structlog

from agent.config import SystemConfig
from agent.connector import CheckResult, ConnectorContext, Container
from agent.connector import Connector as BaseConnector
from agent.detectors import Detector
from agent.errors import ConnectorError
from agent.extraction import Extraction, read_exact
from agent.extractors import HEAD_BYTES, ExtractLimits, Extractor, TextPiece
from agent.identifiers import try_normalise
from agent.models import Finding, Subject
from agent.plans import Outcome, PlanItem
from agent.sampling import Sample, SampleOptions, fingerprint
from connectors.files import alone, sample
from connectors.files.erase import Eraser, Memory, kind_of
from connectors.files.findings import container_of, file_findings
from connectors.files.matcher import Matcher
from connectors.files.options import FilesOptions, parse_options
from connectors.files.scan import (
    PART_STRIDE,
    FileHits,
    RoleCache,
    TableReader,
    row_number,
    scan_pieces,
)
from connectors.files.sweep import Sweep, SweepOptions, SweepReport, Watched, extension
from connectors.files.transport import Entry, Skipped, Transport

log = structlog.get_logger("connectors.files")

REVIEW_REASON = ("a document may name other people besides the subject: it goes to "
                 "disclosure review and is listed here, not copied")
CHANGED_REASON = ("the file changed since it was searched: search again before its rows "
                  "are disclosed")
MTIME_SLACK = 0.001  # seconds
MAX_LINE_BYTES = 16 << 20  # a JSON Lines line read() parses (the extractor's limit too)
# Files whose size and time read() compares with what the search saw; the oldest go first.
_SEEN_KEPT = 200_000


class TreeSearch(BaseConnector):
    """Check, discover, search and read over a ``Transport``: the files connector and the
    s3 connector (``connectors.s3``) both are one of these, with their own options,
    transport, finding kind and actions."""

    finding_kind: ClassVar[str] = "file"  # Finding.kind of what search returns
    events: ClassVar[str] = "files"  # log event prefix
    place: ClassVar[str] = "share"  # what messages call the store
    size_option: ClassVar[str] = "max_file_bytes"

    def __init__(self, system: SystemConfig, context: ConnectorContext | None,
                 options: SweepOptions, limits: ExtractLimits) -> None:
        super().__init__(system, context)
        self.options = options
        self.extraction = Extraction(_extractors(self.context), limits)
        self.detectors: Sequence[Detector] = self.context.detectors or _plugin_detectors()
        self.last_report: SweepReport | None = None
        self._roles: RoleCache = {}  # column roles by header text, shared by all files
        # path -> (size, mtime) as the last search read it (read() refuses changed files)
        self._seen: dict[str, tuple[int, float]] = {}
        # finding id -> the subject matched there (erase() needs the values; plans hold none)
        self._memory = Memory()

    def _connect(self) -> Transport:
        """A transport over the store (one per worker); each subclass opens its own."""
        raise NotImplementedError(f"{type(self).__name__} must open its transport")

    def _sweep(self) -> Sweep:
        return Sweep(self.system.name, self.options, self._connect, place=self.place,
                     size_option=self.size_option, events=self.events)

    def _filename(self, path: str) -> str:
        """The name the extractors choose by (its extension)."""
        return _name(path)

    def _open(self, transport: Transport, entry: Entry) -> AbstractContextManager[BinaryIO]:
        """The listed file's content for search."""
        return transport.open_read(entry.path)

    def _findings(self, hits: FileHits, by_ref: dict[str, Subject]) -> list[Finding]:
        found = file_findings(self.system.name, hits, by_ref)
        for finding in found:
            finding.kind = self.finding_kind  # type: ignore[assignment]
        return found

    def _rescan(self, transport: Transport, path: str, subject: Subject) -> set[str]:
        """The subject's identifier ids the extractors and the matcher still find in a
        rewritten file or object (attachments and archives inside it included)."""
        matcher = Matcher.build([subject])
        left: set[str] = set()
        with transport.open_read(path) as stream:
            for piece in self.extraction.pieces(stream, self._filename(path)):
                text = piece.text or "\t".join(piece.cells or ())
                left |= matcher.scan(text).get(subject.ref, set())
        return left

    # ------------------------------------------------------------------ check / discover
    def check(self) -> CheckResult:
        started = time.perf_counter()
        try:
            transport = self._connect()
            try:
                first = next(iter(transport.walk("")), None)
            finally:
                transport.close()
        except Exception as exc:
            return CheckResult(False, _safe_error(exc), time.perf_counter() - started)
        if isinstance(first, Skipped) and first.path in ("", "."):
            return CheckResult(False, f"cannot list the share root: {first.reason}",
                               time.perf_counter() - started)
        return CheckResult(True, f"listed {self.system.display_url}",
                           time.perf_counter() - started)

    def discover(self) -> Iterator[Container]:
        """One container per top-level folder ("" for files at the root): files, bytes,
        extensions; unreadable entries are counted (and listed in ``last_report``)."""
        sweep = self._sweep()
        folders: dict[str, Container] = {}
        walker = self._connect()
        started = time.perf_counter()
        try:
            for item in walker.walk(""):
                if isinstance(item, Skipped):
                    sweep.skipped(item)  # the root skipped: a ConnectorError
                folder = folders.setdefault(container_of(item.path), Container(
                    name=container_of(item.path), kind="folder", items=0,
                    notes={"bytes": 0, "types": {}, "unread": 0, "excluded": 0}))
                if isinstance(item, Skipped):
                    folder.notes["unread"] += 1
                    continue
                sweep.report.files += 1
                if not self.options.wanted(item.path):
                    folder.notes["excluded"] += 1
                    continue
                folder.items = (folder.items or 0) + 1
                folder.notes["bytes"] += item.size
                types = folder.notes["types"]
                ext = extension(item.path) or "(none)"
                types[ext] = types.get(ext, 0) + 1
        finally:
            walker.close()
            sweep.report.seconds = time.perf_counter() - started
            self.last_report = sweep.report
        for name in sorted(folders):
            folders[name].notes["types"] = dict(sorted(folders[name].notes["types"].items()))
            yield folders[name]

    # ------------------------------------------------------------------ sample (discovery)
    def sample(self, container: Container, options: SampleOptions) -> Iterator[Sample]:
        """One sample per file (or object) of a container ``discover()`` listed: its head
        and random slices, unchanged ones unread; see ``connectors.files.sample``."""
        return sample.sample_container(self, container, options)

    def _sample_listing(self, transport: Transport, container: str,
                        options: SampleOptions) -> Iterator[Entry | Skipped]:
        """The units of one container, as the walk gives them."""
        return sample.folder_listing(transport, container)

    def _fingerprint(self, entry: Entry) -> str:
        """What tells a sweep the unit changed since it was sampled."""
        return fingerprint(entry.size, entry.mtime)

    def _unreadable(self, entry: Entry) -> str | None:
        """Why a listed unit cannot be read at all (none on a share)."""
        return None

    def _read_at(self, transport: Transport, entry: Entry
                 ) -> AbstractContextManager[Callable[[int, int], bytes]]:
        """Reads of byte ranges of the listed file, for sampling slices of a large one."""
        return sample.seeking_reader(self._open(transport, entry))

    # ------------------------------------------------------------------ search
    def search(self, subjects: Sequence[Subject]) -> Iterable[Finding]:
        subjects = list(subjects)
        matcher = Matcher.build(subjects)
        if not matcher:  # nothing searchable in documents (a postcode or a DOB alone)
            self.last_report = SweepReport()
            return []
        by_ref = {s.ref: s for s in subjects}
        sweep = self._sweep()

        def work(transport: Transport, entry: Entry, watch: Watched) -> tuple[Entry, FileHits]:
            hits = FileHits(entry.path, entry.size)
            skipped: list[str] = []
            with self._open(transport, entry) as stream:
                pieces = self.extraction.pieces(watch.wrap(stream), self._filename(entry.path),
                                                skipped=skipped)
                scan_pieces(pieces, matcher, TableReader(self.detectors, self._roles), hits)
            hits.partial = bool(skipped)
            return entry, hits

        findings: list[Finding] = []
        report = sweep.report
        try:
            for entry, hits in sweep.run(work):
                report.pieces += hits.pieces
                report.candidates += hits.candidates
                report.partial += hits.partial
                if hits:
                    self._remember(entry)
                    found = self._findings(hits, by_ref)
                    for finding in found:
                        self._memory.remember(finding, by_ref[finding.subject or ""], entry)
                    findings += found
        finally:
            self.last_report = report
        log.info(f"{self.events}.search", system=self.system.name, subjects=len(subjects),
                 files=report.files, scanned=report.scanned, unread=len(report.problems),
                 pieces=report.pieces, candidates=report.candidates, findings=len(findings),
                 left_out=matcher.left_out, seconds=round(report.seconds, 3))
        return findings

    def _remember(self, entry: Entry) -> None:
        if len(self._seen) >= _SEEN_KEPT:
            for old in list(self._seen)[:_SEEN_KEPT // 2]:
                del self._seen[old]
        self._seen[entry.path] = (entry.size, entry.mtime)

    # ------------------------------------------------------------------ read
    def read(self, findings: Sequence[Finding]) -> Iterator[dict[str, Any]]:
        mine = [f for f in findings if f.system == self.system.name and f.kind == self.finding_kind]
        if not mine:
            return
        by_path: dict[str, list[Finding]] = {}
        for finding in mine:
            by_path.setdefault(finding.locator, []).append(finding)
        transport = self._connect()
        try:
            for path, group in by_path.items():
                yield from self._read_file(transport, path, group)
        finally:
            transport.close()

    def _read_file(self, transport: Transport, path: str, group: list[Finding]
                   ) -> Iterator[dict[str, Any]]:
        entry = transport.stat(path)
        if entry is None:
            log.warning(f"{self.events}.read.gone", system=self.system.name, ext=extension(path))
            return
        seen = self._seen.get(path)
        # listings and stat may round times differently (SMB: microseconds against 100 ns)
        changed = seen is not None and (seen[0] != entry.size
                                        or abs(seen[1] - entry.mtime) > MTIME_SLACK)
        tabular = [f for f in group if f.rows]
        for finding in group:
            if finding not in tabular or changed:
                whole = None if changed else self._whole(transport, path, finding, entry)
                yield whole or _listing(finding, entry, CHANGED_REASON if changed and
                                        finding.rows else REVIEW_REASON)
        if not tabular or changed:
            return
        wanted = {n for f in tabular for n in f.rows or ()}
        rows = self._rows(transport, path, wanted)
        for finding in tabular:
            for number in finding.rows or ():
                found = rows.get(number)
                if found is None:
                    log.warning(f"{self.events}.read.missing_row", system=self.system.name,
                                ext=extension(path))
                    continue
                where, row, values = found
                yield {"finding": finding.id, "table": path, "path": path,
                       "row_number": number, "part": where, "part_row": row, "row": values}

    def _whole(self, transport: Transport, path: str, finding: Finding, entry: Entry
               ) -> dict[str, Any] | None:
        """The document itself (text and bytes) when it is about the subject alone
        (``alone.py``); None sends it to disclosure review."""
        seen = self._memory.sole(finding.id)
        if seen is None or entry.size > alone.MAX_BYTES or not alone.strongly_matched(
                seen.subject, seen.ids):
            return None
        with transport.open_read(path) as stream:
            data = read_exact(stream, alone.MAX_BYTES + 1)
        if len(data) > alone.MAX_BYTES:
            return None
        texts = [p.text or "\t".join(p.cells or ())
                 for p in self.extraction.pieces(io.BytesIO(data), self._filename(path))]
        if alone.others_named(texts, seen.subject):
            return None
        return {"finding": finding.id, "table": path, "path": path, "row": {
            "path": path, "size": len(data), "whole_document": True, "text": "\n".join(texts),
            "content_base64": base64.b64encode(data).decode("ascii")}}

    def fetch(self, finding: Finding, max_bytes: int) -> bytes:
        """A listed document's bytes, for a disclosure a person approved."""
        transport = self._connect()
        try:
            entry = transport.stat(finding.locator)
            if entry is None:
                raise ConnectorError("the document is gone since it was read")
            if entry.size > max_bytes:
                raise ConnectorError("the document is larger than an export may carry")
            with self._open(transport, entry) as stream:
                return read_exact(stream, max_bytes + 1)[:max_bytes]
        finally:
            transport.close()

    def _rows(self, transport: Transport, path: str, wanted: set[int]
              ) -> dict[int, tuple[str, int, dict[str, Any]]]:
        """Only the wanted rows (numbered as the search numbers them), as header -> value;
        a JSON Lines file's rows as the objects its lines hold."""
        with transport.open_read(path) as stream:
            head = stream.read(HEAD_BYTES)
        chosen = self.extraction.extractor_for(head, self._filename(path))
        if chosen is not None and chosen.name == "jsonl" and max(wanted) < PART_STRIDE:
            return self._json_lines(transport, path, wanted)
        out: dict[int, tuple[str, int, dict[str, Any]]] = {}
        parts: dict[str, tuple[int, list[str] | None]] = {}
        with transport.open_read(path) as stream:
            for piece in self.extraction.pieces(stream, self._filename(path)):
                if piece.row is None:
                    continue
                if piece.where not in parts:
                    parts[piece.where] = (len(parts), _header(piece))
                index, header = parts[piece.where]
                number = row_number(index, piece.row)
                if number in wanted:
                    out[number] = (piece.where, piece.row, _as_dict(piece, header))
                    if len(out) == len(wanted):
                        break
        return out


    def _json_lines(self, transport: Transport, path: str, wanted: set[int]
                    ) -> dict[int, tuple[str, int, dict[str, Any]]]:
        """The wanted lines parsed, counted as the JSON Lines extractor counts them (every
        line from 1, blank ones too); a line that is not a JSON object stays text."""
        out: dict[int, tuple[str, int, dict[str, Any]]] = {}
        last = max(wanted)
        with transport.open_read(path) as stream:
            for number in range(1, last + 1):
                raw = stream.readline(MAX_LINE_BYTES + 1)
                if not raw:
                    break
                if number in wanted:
                    out[number] = ("", number, _json_row(raw, first=number == 1))
        return out


class FilesConnector(TreeSearch):
    name: ClassVar[str] = "files"
    description: ClassVar[str] = ("file shares: a mounted folder (file://), SFTP (sftp://) or "
                                  "SMB (smb://); every format an extractor reads")
    url_schemes: ClassVar[tuple[str, ...]] = ("file", "sftp", "smb")
    capabilities: ClassVar[frozenset[str]] = frozenset({"check", "discover", "sample",
                                                        "search", "read", "erase"})
    options: FilesOptions

    def __init__(self, system: SystemConfig, context: ConnectorContext | None = None) -> None:
        options = parse_options(system)
        super().__init__(system, context, options, options.limits)

    def _connect(self) -> Transport:
        from connectors.files.transports import open_transport

        return open_transport(self.system)

    # ------------------------------------------------------------------ erase
    def actions_for(self, finding: Finding) -> frozenset[str]:
        """Rows out of tabular files and spans out of text (delete = anonymise there);
        a file we cannot rewrite only moves to quarantine, where one is configured."""
        out = {"export"}
        if kind_of(finding.locator) is not None:
            out |= {"delete", "anonymise"}
        elif self.options.quarantine:
            out.add("quarantine")
        return frozenset(out)

    def erase(self, plan_items: Sequence[PlanItem]) -> Iterator[Outcome]:
        items = [i for i in plan_items if i.system == self.system.name]
        if not items:
            return
        transport = self._connect()
        try:
            eraser = Eraser(transport, self.options, self._memory, self._rescan)
            for outcome in eraser.run(items):
                log.info("files.erase", system=self.system.name, status=outcome.status,
                         **outcome.counts)
                yield outcome
        finally:
            transport.close()



# ---------------------------------------------------------------------- helpers
def _json_row(raw: bytes, *, first: bool) -> dict[str, Any]:
    if first and raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    text = raw.decode("utf-8", "replace").strip()
    try:
        value = json.loads(text)
    except ValueError:
        return {"line": text}
    return value if isinstance(value, dict) else {"value": value}


def _listing(finding: Finding, entry: Entry, reason: str) -> dict[str, Any]:
    return {"finding": finding.id, "table": entry.path, "path": entry.path, "size": entry.size,
            "disclosure_review": True, "reason": reason}


def _header(piece: TextPiece) -> list[str] | None:
    """The part's first row as column names, unless it looks like data (an e-mail, a phone
    or a number in it: a file without a header row)."""
    cells = [c.strip() if isinstance(c, str) else "" for c in piece.cells or ()]
    if not cells or not any(cells):
        return None
    for cell in cells:
        if cell.replace(".", "").replace("-", "").isdigit() or len(cell) > 80:
            return None
        if try_normalise("email", cell) or try_normalise("phone", cell):
            return None
    return cells


def _as_dict(piece: TextPiece, header: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for i, cell in enumerate(piece.cells or ()):
        name = header[i] if header and i < len(header) and header[i] else f"column {i + 1}"
        key, n = name, 2
        while key in out:
            key, n = f"{name} ({n})", n + 1
        out[key] = cell
    return out


def _name(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def _extractors(context: ConnectorContext) -> list[Extractor | type[Extractor]]:
    given = list(getattr(context, "extractors", ()) or ())
    if given:
        return given
    from agent.plugins import get_plugin_manager

    return [r.obj for r in get_plugin_manager().registry.all("extractors")]


def _plugin_detectors() -> list[Detector]:
    from agent.plugins import get_plugin_manager

    return [r.obj for r in get_plugin_manager().registry.all("detectors")]


def _safe_error(exc: Exception) -> str:
    from agent.errors import DsrError

    if isinstance(exc, DsrError):
        return str(exc)
    if isinstance(exc, OSError) and exc.strerror:
        return f"{type(exc).__name__}: {exc.strerror}"
    return type(exc).__name__
