"""Samples of call records for a discovery sweep: the records are what a sweep reads.

One unit per record source (the CDR table or CSV file, the Connect contact records, the
sidecar files), fingerprinted by what is cheap to learn about it: a CSV file's size and
mtime, a CDR table's row count and columns, a listing's file count, bytes and newest mtime.
Up to ``values_per_column`` records are read (the first ones the source gives: a CDR has
no cheap random order worth a full scan here); every field they hold becomes one
FieldSample (nested contact-record fields by their dotted path), marked searched when
request search matches on it (the numbers, names and accounts the layout reads).

Audio is not transcribed in a sweep: the audio store is one unit whose only field says how
many recordings there are and whether request search listens to them (``transcripts``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from agent.connector import Container
from agent.errors import ConnectorError
from agent.sampling import FieldSample, Sample, SampleOptions, fingerprint
from connectors.files.transport import Entry, Skipped
from connectors.recordings.layout import AUDIO_EXTENSIONS, Layout, extension_of

NOT_MATCHED = ("request search does not match on this field (not a number, name or account "
               "the call record is read for)")
NOT_TRANSCRIBED = "the speech of recordings is not searched (transcripts = false)"
AUDIO_UNIT = "audio"
# what findings (and so policy.toml [[mapping]] entries) call a recorded call's records
CALLS = "calls"


def sample_container(layout: Layout, container: Container, options: SampleOptions,
                     transcripts: bool) -> Iterator[Sample]:
    """The unit of one container ``discover()`` listed: the records, or the audio."""
    unit = container.name
    fp = ""
    try:
        if unit == AUDIO_UNIT:
            yield _audio(layout, container, options, transcripts)
            return
        layout.forget_listings()  # see what is there now, not what an earlier call listed
        fp, size = records_fingerprint(layout)
        if options.unchanged(unit, fp):
            yield Sample(unit, fp, unchanged=True, kind="recording", policy_container=CALLS)
            return
        fields = sample_records(layout, unit, options.values_per_column, size)
    except Exception as exc:  # the sweep goes on with the other containers
        yield Sample(unit, fp, error=_problem(unit, exc), kind="recording", policy_container=CALLS)
        return
    yield Sample(unit, fp, fields=fields, kind="recording", policy_container=CALLS)


def records_fingerprint(layout: Layout) -> tuple[str, int | None]:
    """The records' fingerprint, and their number where that came cheaply (a CDR table)."""
    cdr = getattr(layout, "cdr", None)
    if cdr is not None:
        path = getattr(cdr, "path", None)
        if path is not None:  # a CSV export: its size and mtime say whether it changed
            st = path.stat()
            return fingerprint(layout.name, "csv", st.st_size, st.st_mtime_ns), None
        count = cdr.count()
        return fingerprint(layout.name, "table", count, ",".join(cdr.all_columns)), count
    files = list(_record_files(layout))
    return fingerprint(layout.name, len(files), sum(e.size for e in files),
                       max((e.mtime for e in files), default=0)), None


def _record_files(layout: Layout) -> Iterable[Entry]:
    """The files records are read from (Connect: under ``cdr``; sidecar: the JSON files)."""
    records = getattr(layout, "records", None)
    if records is not None:
        return [e for e in records.walk() if isinstance(e, Entry)
                and extension_of(e.path) not in AUDIO_EXTENSIONS]
    problems: list[Skipped] = []
    return [e for e in layout.listing("", problems) if extension_of(e.path) == "json"]


def sample_records(layout: Layout, unit: str, limit: int,
                   size: int | None = None) -> list[FieldSample]:
    values: dict[str, list[Any]] = {}
    searched: set[str] = set()
    legs = layout.scan()
    try:
        count = 0
        for leg in itertools.islice(legs, max(1, limit)):
            count += 1
            roles = {k.lower() for k in (*leg.numbers, *leg.names, *leg.accounts)}
            role_values = {str(v) for v in (*leg.numbers.values(), *leg.names.values(),
                                            *leg.accounts.values()) if v}
            for path, value in flatten(leg.fields):
                values.setdefault(path, [])
                if value is None or (isinstance(value, str) and not value.strip()):
                    continue
                values[path].append(value)
                if path.lower() in roles or str(value) in role_values:
                    searched.add(path)
    finally:
        close = getattr(legs, "close", None)
        if close is not None:  # a CDR table's scan holds a connection until closed
            close()
    if size is None and getattr(layout, "cdr", None) is None:
        size = layout.record_count()  # JSON records: read whole by scan(), counted already
    out = []
    for path, sampled in values.items():
        hit = path in searched
        # "calls.src": what the call records are called in findings and policy.toml
        out.append(FieldSample(container=f"{CALLS}.{path}", kind="recording", values=sampled,
                               column=path.rsplit(".", 1)[-1], searched=hit,
                               not_searched_because=None if hit else NOT_MATCHED,
                               size=size))
    return out


def flatten(record: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted path, scalar) for every leaf of a record; list items share their path."""
    for key, value in record.items():
        path = f"{prefix}{key}"
        yield from _leaves(path, value)


def _leaves(path: str, value: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping):
        yield from flatten(value, f"{path}.")
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _leaves(path, item)
    else:
        yield path, value


def _audio(layout: Layout, container: Container, options: SampleOptions,
           transcripts: bool) -> Sample:
    """The audio store as one field: how many recordings, and whether speech is searched
    (listing counts only: nothing is downloaded or transcribed)."""
    count = container.items
    formats = container.notes.get("formats", {})
    if count is None:
        problems: list[Skipped] = []
        audio = [e for e in layout.listing("", problems)
                 if extension_of(e.path) in AUDIO_EXTENSIONS]
        count = len(audio)
    fp = fingerprint(AUDIO_UNIT, count, sorted(formats.items()))
    if options.unchanged(AUDIO_UNIT, fp):
        return Sample(AUDIO_UNIT, fp, unchanged=True, kind="recording", policy_container=CALLS)
    field = FieldSample(container=AUDIO_UNIT, kind="recording", searched=transcripts,
                        not_searched_because=None if transcripts else NOT_TRANSCRIBED,
                        size=count)
    return Sample(AUDIO_UNIT, fp, fields=[field], kind="recording", policy_container=CALLS)


def _problem(unit: str, exc: BaseException) -> str:
    if isinstance(exc, ConnectorError):
        return str(exc)  # the connector's errors name no value
    if isinstance(exc, FileNotFoundError):
        return f"sampling {unit} failed: the file does not exist"
    if isinstance(exc, OSError):
        return f"sampling {unit} failed: cannot read ({type(exc).__name__})"
    return f"sampling {unit} failed: {type(exc).__name__}"
