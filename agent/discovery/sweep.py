"""Run a discovery sweep: every system's containers sampled, judged and remembered.

Incremental by default: a unit (a table, a file, an object) whose fingerprint is what the
last sweep recorded is not read again, and keeps its entries. ``full`` reads everything.
Each unit is committed as soon as it is judged, so a sweep that is interrupted (Ctrl-C, a
crash) resumes where it stopped: run it again with the same systems and ``full`` setting.
Systems are swept one after another; a system that fails is reported and the sweep goes
on, and its remembered units are kept as they were.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import structlog

from agent.connector import Connector
from agent.detectors import Detector
from agent.discovery.datamap import DataMap, Entry, SystemSummary, Unreadable
from agent.discovery.detect import FieldJudge
from agent.discovery.state import SweepRecord, SweepStore, UnitState
from agent.errors import ConfigError, DsrError
from agent.logging import redactor
from agent.sampling import Sample, SampleOptions

if TYPE_CHECKING:
    from agent.engine import SearchEngine

log = structlog.get_logger(__name__)

Progress = Callable[[str, dict[str, Any]], None]


def sweep_for(engine: SearchEngine, names: Sequence[str] | None = None, *,
              progress: Progress | None = None) -> Sweep:
    """A sweep over the engine's systems (``names``, or every enabled one) with the
    registered detectors, the policy's [detections] and [[mapping]] groups, the state store
    and the [discovery] limits of the configuration."""
    config = engine.config
    policy = config.policy

    def mapped_group(system: str, container: str) -> str | None:
        entry = policy.mapping_for(system, container) if policy else None
        return entry.group if entry else None

    connectors = {s.name: engine.connector(s) for s in engine.systems(names)}
    detectors = [r.obj for r in engine.pm.registry.all("detectors")]
    return Sweep(connectors, SweepStore(engine.store.engine), detectors,
                 options=config.discovery, groups=dict(policy.detections) if policy else {},
                 mapped_group=mapped_group, progress=progress)


def new_sweep_id() -> str:
    return f"S-{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(3)}"


class Sweep:
    """One sweep over some systems, with the state store that remembers units."""

    def __init__(self, connectors: Mapping[str, Connector], store: SweepStore,
                 detectors: Sequence[Detector], *, options: SampleOptions,
                 groups: Mapping[str, Sequence[str]] | None = None,
                 mapped_group: Callable[[str, str], str | None] | None = None,
                 progress: Progress | None = None) -> None:
        """``groups``: policy.toml [detections] (detector -> data groups);
        ``mapped_group(system, container)``: the data group its [[mapping]] gives."""
        known = {d.name for d in detectors}
        unknown = sorted(set(groups or {}) - known)
        if unknown:
            raise ConfigError(f"[detections] names detector(s) {unknown} that no plugin "
                              f"registers (registered: {', '.join(sorted(known))})")
        self.connectors = dict(connectors)
        self.store = store
        self.judge = FieldJudge(detectors, groups)
        self.options = options
        self.mapped_group = mapped_group or (lambda _system, _container: None)
        self.progress = progress or (lambda _event, _data: None)

    def run(self, *, full: bool = False, actor: str = "dsr") -> DataMap:
        systems = sorted(self.connectors)
        record = self._resume_or_start(systems, full, actor)
        summaries = [self._system(name, record) for name in systems]
        self.store.finish(record.id)
        return self.datamap(systems, summaries, record)

    def _resume_or_start(self, systems: list[str], full: bool, actor: str) -> SweepRecord:
        previous = self.store.unfinished()
        if previous and previous.systems == systems and previous.full == full:
            log.info("sweep_resumed", sweep=previous.id)
            self.progress("resumed", {"sweep": previous.id,
                                      "started": previous.started_at.isoformat()})
            return previous
        return self.store.start(new_sweep_id(), full=full, systems=systems, actor=actor)

    # ------------------------------------------------------------------ one system
    def _system(self, name: str, record: SweepRecord) -> SystemSummary:
        connector = self.connectors[name]
        summary = SystemSummary(name=name, status="ok")
        if "sample" not in connector.capabilities:
            summary.status, summary.error = "skipped", "its connector cannot sample"
            return summary
        started = time.perf_counter()
        known = self.store.units(name)
        unchanged: list[str] = []
        options = replace(self.options, unchanged=self._unchanged(known, record))
        self.progress("system", {"system": name})
        try:
            for container in connector.discover():
                for sample in connector.sample(container, options):
                    if sample.unchanged:
                        unchanged.append(sample.unit)
                        summary.unchanged += 1
                    else:
                        group = self.mapped_group(name, sample.policy_container
                                                  or container.name)
                        self._save(name, sample, record.id, summary, group)
                    self.progress("unit", {"system": name, "read": summary.units,
                                           "unchanged": summary.unchanged})
        except DsrError as exc:
            summary.status, summary.error = "failed", redactor.scrub(str(exc))
        except (OSError, ValueError, RuntimeError) as exc:  # a connector's bug or a system's
            summary.status = "failed"
            summary.error = f"{type(exc).__name__}: {redactor.scrub(str(exc))}"
        finally:
            self.store.seen(name, unchanged, record.id)
            summary.seconds = time.perf_counter() - started
        if summary.status == "ok":
            self.store.drop_unseen(name, record.id)
        log.info("sweep_system", sweep=record.id, system=name, status=summary.status,
                 units=summary.units, unchanged=summary.unchanged,
                 unreadable=summary.unreadable, seconds=round(summary.seconds, 3))
        return summary

    @staticmethod
    def _unchanged(known: Mapping[str, UnitState], record: SweepRecord
                   ) -> Callable[[str, str], bool]:
        def unchanged(unit: str, fingerprint: str) -> bool:
            state = known.get(unit)
            if state is None or state.error or state.fingerprint != fingerprint:
                return False
            # a full sweep rereads everything, except what it already read before an
            # interruption
            return not record.full or state.sweep_id == record.id
        return unchanged

    def _save(self, system: str, sample: Sample, sweep_id: str, summary: SystemSummary,
              mapped_group: str | None) -> None:
        entries: list[Entry] = []
        if sample.error:
            summary.unreadable += 1
        else:
            summary.units += 1
            for field in sample.fields:
                entry = self.judge.judge(system, sample.unit, field, mapped_group)
                if entry is not None:
                    entries.append(entry)
        error = redactor.scrub(sample.error) if sample.error else None
        self.store.save(system, sample.unit, sample.kind, sample.fingerprint, sweep_id,
                        entries, error)

    # ------------------------------------------------------------------ the map
    def datamap(self, systems: Sequence[str], summaries: Sequence[SystemSummary],
                record: SweepRecord) -> DataMap:
        entries, errors = self.store.entries(systems)
        return DataMap(
            entries=entries, unreadable=[Unreadable(**e) for e in errors],
            systems=list(summaries),
            sweep={"id": record.id, "started": record.started_at.isoformat(),
                   "finished": datetime.now(UTC).isoformat(), "full": record.full,
                   "systems": list(systems)})
