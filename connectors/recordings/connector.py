"""The recordings connector: call records and their audio, found, exported and erased
together.

One finding per call (``kind = "recording"``, ``container = "calls"``): the legs of the call
(Asterisk CDR rows sharing ``linkedid``, Connect contacts sharing ``InitialContactId``, a
sidecar) and every copy of its audio. The locator is the recording id: the recorded leg's
``uniqueid`` / ``ContactId`` (the group's id for a call nobody recorded).

- ``search``: the layout pre-selects records (pushed to the CDR database as bound
  predicates; read once for JSON records), ``matching`` decides whose they are; a call whose
  other party is an outside person carries ``review`` (the plan sends it to disclosure
  review). Calls whose record names audio that is not there are counted (``last_report``).
- ``read``: the call's records as JSON and CSV, and each audio copy's bytes with its format
  and duration read from the audio itself.
- ``erase``: every audio copy deleted (every version in a bucket) first, then the records
  deleted, or anonymised keeping the fields policy.toml keeps (``notes["keep"]``); then
  read back: a record still naming the person, or audio still there, fails the item.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import structlog

from agent.config import SystemConfig
from agent.connector import CheckResult, Connector, ConnectorContext, Container
from agent.errors import ConnectorError, DsrError
from agent.models import Finding, Subject
from agent.plans import Outcome, PlanItem
from agent.sampling import Sample, SampleOptions
from connectors.files.sweep import VERSION_MARK
from connectors.files.transport import FileUnavailable, Skipped
from connectors.recordings.export import CallExport
from connectors.recordings.layout import AUDIO_EXTENSIONS, Layout, extension_of
from connectors.recordings.matching import CallMatcher, Wanted, WantIndex, wanted
from connectors.recordings.model import Call
from connectors.recordings.options import RecordingsOptions, parse_options
from connectors.recordings.sample import sample_container
from connectors.recordings.spoken import SPOKEN_REVIEW, SpokenSearch
from connectors.recordings.store import Store, open_store

log = structlog.get_logger("connectors.recordings")
ERASE_ACTIONS = frozenset({"delete", "anonymise"})


@dataclass
class RecordingsReport:
    """What the last search saw, in counts only."""

    records: int = 0  # records the pre-filter returned
    calls: int = 0  # calls matched to a subject
    audio: int = 0  # audio copies of those calls
    missing_audio: int = 0  # named by a record, not in the store (orphan records)
    transcribed: int = 0  # recordings whose speech was searched (transcripts = true)
    not_transcribed: int = 0  # not PCM WAV, too large or unreadable
    unreadable: list[str] = field(default_factory=list)  # reasons, never paths
    seconds: float = 0.0


class RecordingsConnector(Connector):
    name: ClassVar[str] = "recordings"
    description: ClassVar[str] = ("call recordings with their call records: Asterisk/FreePBX "
                                  "CDR + audio tree, Amazon Connect contact records + "
                                  "CallRecordings, or audio with JSON sidecars; audio on a "
                                  "folder, SFTP, SMB or S3")
    url_schemes: ClassVar[tuple[str, ...]] = ()  # file/sftp/smb/s3 belong to files and s3
    capabilities: ClassVar[frozenset[str]] = frozenset({"check", "discover", "sample",
                                                        "search", "read", "erase"})

    def __init__(self, system: SystemConfig, context: ConnectorContext | None = None) -> None:
        super().__init__(system, context)
        self.options: RecordingsOptions = parse_options(system)
        self.matcher = CallMatcher(self.options)
        self._layout: Layout | None = None
        self._store: Store | None = None
        self.last_report = RecordingsReport()
        self.spoken = (SpokenSearch(system.name, self.options.max_audio_bytes)
                       if self.options.transcripts else None)

    # ------------------------------------------------------------------ connection
    def layout(self) -> Layout:
        """The layout over a connected audio store, opened on first use."""
        if self._layout is None:
            store = open_store(self.system, self.options.url, self.options.store_options)
            try:
                self._layout = _make_layout(self.system, self.options, store)
            except BaseException:
                store.close()
                raise
            self._store = store
        return self._layout

    def close(self) -> None:
        layout, store = self._layout, self._store
        self._layout = self._store = None
        try:
            if layout is not None:
                layout.close()
        finally:
            if store is not None:
                store.close()

    # ------------------------------------------------------------------ check / discover
    def check(self) -> CheckResult:
        started = time.perf_counter()
        try:
            layout = self.layout()
            detail = layout.check()
            first = next(iter(layout.audio.walk()), None)
            if isinstance(first, Skipped) and first.path in ("", "."):
                raise ConnectorError(f"cannot list the recordings' {layout.audio.where} "
                                     f"({first.reason})")
        except DsrError as exc:
            return CheckResult(False, str(exc), time.perf_counter() - started)
        return CheckResult(True, f"{self.options.layout}: {detail}",
                           time.perf_counter() - started)

    def discover(self) -> Iterator[Container]:
        """The call records and the audio store, with the orphans on each side."""
        layout = self.layout()
        layout.forget_listings()
        ids: set[str] = set()
        expected: set[str] = set()
        records = 0
        for leg in layout.scan():
            records += 1
            ids.add(leg.id)
            expected.update(layout.expected_audio(leg))
        problems: list[Skipped] = []
        audio = [e for e in layout.listing("", problems)
                 if extension_of(e.path) in AUDIO_EXTENSIONS]
        present = {e.path for e in audio}
        formats: dict[str, int] = {}
        for entry in audio:
            formats[extension_of(entry.path)] = formats.get(extension_of(entry.path), 0) + 1
        known = layout.known_ids(ids)
        orphan_audio = sum(1 for e in audio if e.path not in expected
                           and not layout.names_known_id(e.path, known))
        yield Container(name=layout.records_where, kind="call records", items=records,
                        notes={"records_without_audio": len(expected - present),
                               "unreadable": len(layout.unreadable)})
        yield Container(name="audio", kind=f"recordings {layout.audio.where}", items=len(audio),
                        notes={"formats": formats, "audio_without_record": orphan_audio,
                               "unlisted_folders": len(problems)})

    def sample(self, container: Container, options: SampleOptions) -> Iterator[Sample]:
        """The call records (every field of up to N records) or the audio store (a count):
        see ``sample.py``. Audio is never transcribed in a sweep."""
        try:
            layout = self.layout()
        except DsrError as exc:
            yield Sample(container.name, "", error=str(exc), kind="recording")
            return
        yield from sample_container(layout, container, options, self.options.transcripts)

    # ------------------------------------------------------------------ search
    def search(self, subjects: Sequence[Subject]) -> Iterable[Finding]:
        started = time.perf_counter()
        report = RecordingsReport()
        self.last_report = report
        wants = wanted(subjects)
        if not wants:  # nothing a call record holds (an e-mail, a postcode alone)
            return []
        layout = self.layout()
        layout.forget_listings()
        self.matcher.forget()
        index = WantIndex(wants)
        hits = []
        for leg in layout.candidates(wants):
            report.records += 1
            single = Call(leg.id, leg.id, [leg])
            if any(self.matcher.match(single, w)
                   for w in self.matcher.wanting([leg], index)):
                hits.append(leg)
        calls = layout.calls(hits)
        report.unreadable = [p.reason for p in layout.attach_audio(calls)]
        report.unreadable += [p.reason for p in layout.unreadable]
        findings = self._findings(calls, index)
        self.matcher.forget()
        if self.spoken is not None:
            findings += self._spoken_findings(layout, wants, findings, report)
        report.calls = len({f.locator for f in findings})
        matched = {f.locator for f in findings}
        for call in calls:
            if call.id in matched:
                report.audio += len(call.audio)
                report.missing_audio += len(call.missing_audio)
        report.seconds = time.perf_counter() - started
        log.info("recordings.search", system=self.system.name, layout=self.options.layout,
                 subjects=len(subjects), records=report.records, calls=report.calls,
                 audio=report.audio, missing_audio=report.missing_audio,
                 unreadable=len(report.unreadable), findings=len(findings),
                 seconds=round(report.seconds, 3))
        return findings

    def search_notes(self) -> dict[str, Any]:
        report = self.last_report
        notes: dict[str, Any] = {"calls": report.calls, "missing_audio": report.missing_audio}
        if report.unreadable:
            notes["unreadable"] = len(report.unreadable)
        if self.spoken is not None:
            notes["transcribed"] = report.transcribed
            notes["not_transcribed"] = report.not_transcribed
        return notes

    def _spoken_findings(self, layout: Layout, wants: Sequence[Wanted],
                         found: Sequence[Finding], report: RecordingsReport) -> list[Finding]:
        """Recordings whose speech names a subject (weak: a mention, see ``spoken``)."""
        assert self.spoken is not None
        problems: list[Skipped] = []
        audio = [e for e in layout.listing("", problems)
                 if extension_of(e.path) in AUDIO_EXTENSIONS]
        seen = {(f.locator, f.subject) for f in found}
        before = self.spoken.not_transcribed
        out: list[Finding] = []
        for entry in audio:
            transcript = self.spoken.transcript(layout.audio, entry)
            if transcript is None:
                continue
            report.transcribed += 1
            for want in wants:
                ids = self.spoken.matched(layout.audio, entry, transcript, want)
                if not ids:
                    continue
                call = layout.call_of_audio(entry.path)
                locator = call.id if call is not None else entry.path
                if (locator, want.subject.ref) in seen:
                    continue  # already theirs by the call's record
                seen.add((locator, want.subject.ref))
                out.append(Finding(
                    system=self.system.name, kind="recording", locator=locator,
                    subject=want.subject.ref, categories=["Communications"],
                    container="calls", review=SPOKEN_REVIEW, internal_matched_ids=ids,
                    internal_weak_ids=set(ids)))
        report.not_transcribed += self.spoken.not_transcribed - before
        return out

    def _call(self, layout: Layout, locator: str) -> Call | None:
        """The call a locator names; a recording no record names (found by its speech) is
        a call of its own, named by its path."""
        call = layout.call(locator)
        if call is not None:
            return call
        if extension_of(locator) in AUDIO_EXTENSIONS and layout.audio.stat(locator):
            return Call(id=locator, group=locator, legs=[], audio=[locator])
        return None

    def _findings(self, calls: Sequence[Call], index: WantIndex) -> list[Finding]:
        out = []
        for call in calls:
            for want in self.matcher.wanting(call.legs, index):
                found = self.matcher.match(call, want)
                if found is not None:
                    out.append(self.matcher.finding(self.system.name, call, want.subject,
                                                    found))
        return out

    # ------------------------------------------------------------------ read
    def read(self, findings: Sequence[Finding]) -> Iterator[dict[str, Any]]:
        mine = [f for f in findings if f.system == self.system.name and f.kind == "recording"]
        if not mine:
            return
        layout = self.layout()
        layout.forget_listings()
        export = CallExport(self.options, layout, self.spoken)
        for finding in mine:
            call = self._call(layout, finding.locator)
            if call is None:
                log.warning("recordings.read.gone", system=self.system.name)
                continue
            if call.legs:
                layout.attach_audio([call])
            yield export.content(finding, call)

    # ------------------------------------------------------------------ erase
    def actions_for(self, finding: Finding) -> frozenset[str]:
        return frozenset({"delete", "anonymise", "export"})

    def erase(self, plan_items: Sequence[PlanItem]) -> Iterator[Outcome]:
        layout = self.layout()
        for item in plan_items:
            if item.action not in ERASE_ACTIONS:
                raise ConnectorError(f"system {self.system.name!r}: recordings are deleted or "
                                     f"anonymised, not {item.action!r}")
        for item in plan_items:
            layout.forget_listings()
            yield self._erase_one(layout, item)

    def _erase_one(self, layout: Layout, item: PlanItem) -> Outcome:
        call = self._call(layout, item.locator or "")
        if call is None:
            return Outcome(item.id, "absent", "no call record with this recording id")
        if call.legs:
            layout.attach_audio([call])
        if self.spoken is not None:
            self.spoken.forget(call.audio)
        removed: list[str] = []
        locked: dict[str, str] = {}
        for path in call.audio:  # audio first: a record left behind still finds a retry
            try:
                result = layout.audio.delete(path)
            except FileUnavailable as exc:  # this file refused: the item fails, not the run
                return Outcome(item.id, "failed", f"the {layout.audio.where} refused to "
                               f"delete a recording ({exc.reason}); nothing else changed "
                               "for this call", {"audio_files": len(removed)},
                               [v for v in removed if VERSION_MARK in v])
            removed += [path if v in ("file", "null") else f"{path}{VERSION_MARK}{v}"
                        for v in result.versions]
            locked.update({f"{path}{VERSION_MARK}{v}": until
                           for v, until in result.locked.items()})
        keep = [str(k) for k in item.notes.get("keep", [])]
        changed = layout.erase_records(call, item.action, keep)
        problem = self._verify(layout, item, keep)
        counts = {"audio_files": len(call.audio), "records": changed}
        versions = [v for v in removed if VERSION_MARK in v]
        if locked:
            dates = sorted({d for d in locked.values() if d})
            return Outcome(item.id, "failed",
                           f"Object Lock keeps {len(locked)} audio version(s)"
                           + (f" until {dates[-1]}" if dates else " (legal hold)")
                           + ": plan them beyond use", counts, versions)
        if problem:
            return Outcome(item.id, "failed", problem, counts, versions)
        if not removed and not changed:
            return Outcome(item.id, "absent", f"already {_past(item.action)}", counts)
        detail = (f"{len(call.audio)} audio file(s) deleted; {changed} record(s) "
                  f"{_past(item.action)}")
        if call.missing_audio:
            detail += f"; {len(call.missing_audio)} audio file(s) the record named were " \
                      "already missing"
        return Outcome(item.id, "done", detail, counts, versions)

    def _verify(self, layout: Layout, item: PlanItem, keep: Sequence[str]) -> str | None:
        """Read the call back: no audio, and no record naming anyone (or none at all)."""
        layout.forget_listings()
        after = self._call(layout, item.locator or "")
        if after is None:
            return None
        if not after.legs:
            return "the recording is still there after deleting it"
        if item.action == "delete":
            return "the call's records are still there after deleting them"
        layout.attach_audio([after])
        if after.audio:
            return f"{len(after.audio)} audio file(s) still there after deleting them"
        for leg in after.legs:
            named = [role for role, value in {**leg.numbers, **leg.names,
                                              **leg.accounts}.items()
                     if value and not _kept(role, keep) and role not in leg.ours]
            if named:
                return f"an anonymised record still holds {', '.join(sorted(named))}"
        return None


def _make_layout(system: SystemConfig, options: RecordingsOptions, store: Store) -> Layout:
    if options.layout == "asterisk":
        from connectors.recordings.layout_asterisk import AsteriskLayout

        return AsteriskLayout(system, options, store)
    if options.layout == "connect":
        from connectors.recordings.layout_connect import ConnectLayout

        return ConnectLayout(system, options, store)
    from connectors.recordings.layout_sidecar import SidecarLayout

    return SidecarLayout(system, options, store)


def _kept(role: str, keep: Sequence[str]) -> bool:
    """A field the plan keeps: named, or under a kept path (``customer`` keeps
    ``customer.name``), compared without case as the layouts' rewrites compare them."""
    role = role.lower()
    return any(role == k.lower() or role.startswith(k.lower() + ".") for k in keep)


def _past(action: str) -> str:
    return {"delete": "deleted", "anonymise": "anonymised"}.get(action, action)
