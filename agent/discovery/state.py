"""What sweeps remember, in the state store: each sweep, and each unit's last fingerprint
and data-map entries (counts only), so the next sweep rescans only what changed and an
interrupted one resumes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from agent.discovery.datamap import Entry
from agent.store import create_tables, metadata

sweeps = sa.Table(
    "dsr_sweeps", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True)),  # null: under way or interrupted
    sa.Column("full", sa.Boolean, nullable=False),
    sa.Column("systems", sa.Text, nullable=False),  # JSON list of the systems it covers
    sa.Column("actor", sa.String(200), nullable=False),
)

sweep_units = sa.Table(
    "dsr_sweep_units", metadata,
    sa.Column("system", sa.String(200), primary_key=True),
    # a table key, a file path or an object key: long paths are real
    sa.Column("unit", sa.String(1024), primary_key=True),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("sweep_id", sa.String(40), nullable=False, index=True),  # last sweep to see it
    sa.Column("swept_at", sa.DateTime(timezone=True), nullable=False),  # last read
    sa.Column("entries", sa.Text, nullable=False),  # JSON list of Entry.public()
    sa.Column("error", sa.Text),  # why it could not be read (retried next sweep)
)


@dataclass
class UnitState:
    fingerprint: str
    sweep_id: str
    error: str | None


@dataclass
class SweepRecord:
    id: str
    started_at: datetime
    finished_at: datetime | None
    full: bool
    systems: list[str]


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class SweepStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        create_tables(engine)

    # ------------------------------------------------------------------ sweeps
    def start(self, sweep_id: str, *, full: bool, systems: Sequence[str], actor: str
              ) -> SweepRecord:
        record = SweepRecord(sweep_id, _now(), None, full, list(systems))
        with self.engine.begin() as conn:
            conn.execute(sweeps.insert().values(
                id=sweep_id, started_at=record.started_at, full=full,
                systems=json.dumps(list(systems)), actor=actor))
        return record

    def unfinished(self) -> SweepRecord | None:
        """The latest sweep that never finished (interrupted), if the latest is one."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(sweeps).order_by(sweeps.c.started_at.desc())
                               .limit(1)).mappings().first()
        if row is None or row["finished_at"] is not None:
            return None
        return SweepRecord(row["id"], _aware(row["started_at"]), None, bool(row["full"]),
                           json.loads(row["systems"]))

    def finish(self, sweep_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(sweeps.update().where(sweeps.c.id == sweep_id)
                         .values(finished_at=_now()))

    # ------------------------------------------------------------------ units
    def units(self, system: str) -> dict[str, UnitState]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(
                sweep_units.c.unit, sweep_units.c.fingerprint, sweep_units.c.sweep_id,
                sweep_units.c.error).where(sweep_units.c.system == system)).all()
        return {r.unit: UnitState(r.fingerprint, r.sweep_id, r.error) for r in rows}

    def save(self, system: str, unit: str, kind: str, fingerprint: str, sweep_id: str,
             entries: Sequence[Entry], error: str | None) -> None:
        """A unit read (or found unreadable) by this sweep; committed at once, so an
        interrupted sweep keeps what it did."""
        values = {"kind": kind, "fingerprint": fingerprint, "sweep_id": sweep_id,
                  "swept_at": _now(), "error": error,
                  "entries": json.dumps([e.public() for e in entries])}
        key = (sweep_units.c.system == system) & (sweep_units.c.unit == unit)
        with self.engine.begin() as conn:
            if not conn.execute(sweep_units.update().where(key).values(**values)).rowcount:
                conn.execute(sweep_units.insert().values(system=system, unit=unit, **values))

    def seen(self, system: str, units: Sequence[str], sweep_id: str) -> None:
        """Units this sweep found unchanged: they stay in the map as they were."""
        if not units:
            return
        with self.engine.begin() as conn:
            for start in range(0, len(units), 500):
                conn.execute(sweep_units.update().where(
                    (sweep_units.c.system == system)
                    & sweep_units.c.unit.in_(units[start:start + 500])).values(
                        sweep_id=sweep_id))

    def drop_unseen(self, system: str, sweep_id: str) -> int:
        """After a system's complete pass: units it no longer has (a dropped table, a
        deleted file) leave the map."""
        with self.engine.begin() as conn:
            return conn.execute(sweep_units.delete().where(
                (sweep_units.c.system == system) & (sweep_units.c.sweep_id != sweep_id))
            ).rowcount

    def forget_system(self, system: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(sweep_units.delete().where(sweep_units.c.system == system))

    def entries(self, systems: Sequence[str]) -> tuple[list[Entry], list[dict[str, Any]]]:
        """The map as remembered: entries, and the units that could not be read."""
        found: list[Entry] = []
        errors: list[dict[str, Any]] = []
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(sweep_units).where(
                sweep_units.c.system.in_(list(systems)))).mappings().all()
        for row in rows:
            found.extend(Entry.from_public(e) for e in json.loads(row["entries"]))
            if row["error"]:
                errors.append({"system": row["system"], "unit": row["unit"],
                               "kind": row["kind"], "reason": row["error"]})
        return found, errors
