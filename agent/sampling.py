"""What a connector hands a discovery sweep: samples of its containers, never the whole.

A sweep asks each connector for ``discover()`` (the inventory) and then ``sample()`` per
container. A sample is cut into *units*, the things the sweep remembers between runs: a
table (its row count and schema), a file (size and mtime), an object (its ETag). Before
reading a unit the connector asks ``options.unchanged(unit, fingerprint)``; when the last
sweep saw the same fingerprint it yields the unit as ``unchanged`` without reading it, and
the sweep keeps what it found last time.

Each unit holds one or more *fields*: the columns of a table, or the text of a file. The
core runs the detectors over them; connectors never judge what is personal data.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

# defaults a sweep passes on (both configurable: [discovery] in agent.toml)
DEFAULT_VALUES_PER_COLUMN = 10_000
DEFAULT_TEXT_BYTES = 256 * 1024  # per file or object: its head plus random slices
DEFAULT_OBJECTS_PER_PREFIX = 200


@dataclass
class SampleOptions:
    """How much to read, and how to tell what the last sweep already saw."""

    values_per_column: int = DEFAULT_VALUES_PER_COLUMN
    text_bytes: int = DEFAULT_TEXT_BYTES
    objects_per_prefix: int = DEFAULT_OBJECTS_PER_PREFIX
    # (unit, fingerprint) -> True when the last sweep saw this unit exactly so
    unchanged: Callable[[str, str], bool] = lambda unit, fingerprint: False
    seed: int = 0  # random slices and row samples repeat for one seed (tests)


@dataclass
class FieldSample:
    """One place personal data may sit, with what was read of it."""

    container: str  # "table.column", a file path, an object key
    kind: str  # column | file | object | recording
    values: Sequence[object] = ()  # sampled values of a column
    text: str | None = None  # sampled text of a file or object
    column: str | None = None  # the column's own name, for detectors' name rules
    searched: bool = True  # whether a request search looks here
    not_searched_because: str | None = None  # e.g. "excluded by exclude_globs"
    size: int | None = None  # rows in the table, bytes in the file


@dataclass
class Sample:
    """One unit of a container: read (``fields``), skipped as unchanged, or unreadable."""

    unit: str
    fingerprint: str
    fields: list[FieldSample] = field(default_factory=list)
    unchanged: bool = False
    error: str | None = None  # why it could not be read; never a value from inside it
    kind: str = "table"  # table | file | object | recording: what the unit is
    # the container name policy.toml's [[mapping]] entries give for it (what findings carry
    # as ``container``); None: the name of the container discover() listed
    policy_container: str | None = None


def fingerprint(*parts: object) -> str:
    """A short stable digest of what identifies a unit's state (counts, mtimes, schema)."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode())
    return digest.hexdigest()[:24]
