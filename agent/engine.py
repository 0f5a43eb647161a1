"""The search engine: fan subjects out to every system in parallel, in rounds.

Round 0 searches what the request gave. Identifiers found on the person's own records
(strong findings) are searched for in the next round across all systems, until nothing
new appears or ``max_depth`` rounds have run. One failed system never hides another's
results: its status says what went wrong and the others carry on.
"""

from __future__ import annotations

import getpass
import os
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog

from agent import attribution
from agent.config import Config, SystemConfig
from agent.connector import CheckResult, Connector, ConnectorContext
from agent.errors import ConfigError, DsrError, IdentifierError
from agent.identifiers import variants
from agent.keys import DigestKey
from agent.logging import get_logger, redactor
from agent.models import Finding, Identifier, SearchResult, Subject, SystemStatus
from agent.plugins import PluginManager, get_plugin_manager
from agent.store import Store
from agent.subjects import add_identifier

log = get_logger("dsr.engine")

ProgressCallback = Callable[[str, dict[str, Any]], None]
BATCH_UNIT = 100  # subjects a system's ``timeout`` covers in one round


@dataclass
class _SubjectState:
    subject: Subject
    findings: dict[str, Finding] = field(default_factory=dict)
    new_ids: set[str] = field(default_factory=set)
    rounds: int = 0


def default_operator() -> str:
    try:
        return os.environ.get("DSR_OPERATOR") or getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


class SearchEngine:
    def __init__(self, config: Config, plugin_manager: PluginManager | None = None, *,
                 progress: ProgressCallback | None = None) -> None:
        self.config = config
        self.pm = plugin_manager or get_plugin_manager()
        self.progress = progress or (lambda _event, _data: None)
        self._connectors: dict[str, Connector] = {}
        self._key: DigestKey | None = None
        self._store: Store | None = None
        redactor.add(config.secrets)

    # ------------------------------------------------------------------ set-up
    @property
    def key(self) -> DigestKey:
        if self._key is None:
            self._key = DigestKey.load_or_create(self.config.hmac_key_path)
        return self._key

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = Store(self.config.state_url, self.key)
        return self._store

    def systems(self, names: Sequence[str] | None = None) -> list[SystemConfig]:
        if names:
            return [self.config.system(n) for n in names]
        return [s for s in self.config.systems if s.enabled]

    def connector(self, system: SystemConfig) -> Connector:
        if system.name not in self._connectors:
            registration = self.pm.registry.get("connectors", system.connector)
            if registration is None:
                known = ", ".join(sorted(r.name for r in self.pm.registry.all("connectors")))
                raise ConfigError(f"unknown connector {system.connector!r} (known: {known})",
                                  path=str(self.config.path) if self.config.path else None,
                                  key=f"systems.{system.name}.connector")
            detectors = [r.obj for r in self.pm.registry.all("detectors")]
            extractors = [r.obj for r in self.pm.registry.all("extractors")]
            context = ConnectorContext(detectors=detectors, extractors=extractors,
                                       system_names=[s.name for s in self.config.systems])
            self._connectors[system.name] = registration.obj(system, context)
        return self._connectors[system.name]

    def searchable(self, system: SystemConfig) -> bool:
        return "search" in self.connector(system).capabilities

    def close(self) -> None:
        for connector in self._connectors.values():
            try:
                connector.close()
            except Exception as exc:  # closing must never mask the result
                log.warning("connector_close_failed", error=type(exc).__name__)
        self._connectors.clear()
        if self._store is not None:
            self._store.close()
            self._store = None

    # ------------------------------------------------------------------ check
    def check(self, names: Sequence[str] | None = None) -> list[tuple[SystemConfig, CheckResult]]:
        systems = self.systems(names)
        with ThreadPoolExecutor(max_workers=min(self.config.workers, max(1, len(systems)))) as ex:
            futures = {s.name: ex.submit(self._check_one, s) for s in systems}
            return [(s, futures[s.name].result()) for s in systems]

    def _check_one(self, system: SystemConfig) -> CheckResult:
        started = time.monotonic()
        try:
            result = self.connector(system).check()
        except DsrError as exc:
            result = CheckResult(ok=False, detail=redactor.scrub(str(exc)))
        except Exception as exc:
            result = CheckResult(ok=False, detail=f"{type(exc).__name__}: "
                                                  f"{redactor.scrub(str(exc))}")
        result.seconds = time.monotonic() - started
        return result

    # ------------------------------------------------------------------ search
    def search(self, subjects: Sequence[Subject], *, operator: str | None = None,
               reason: str | None = None, systems: Sequence[str] | None = None,
               record: bool = True) -> list[SearchResult]:
        """Search every system for every subject; returns one result per subject."""
        search_id = str(uuid.uuid4())
        started = datetime.now(UTC)
        # systems with no search (the manual connector) are never reported as searched
        targets = [s for s in self.systems(systems) if self.searchable(s)]
        states = [_SubjectState(s, new_ids={i.id for i in s.identifiers}) for s in subjects]
        held: list[frozenset[str]] = []  # redacted while this search runs, released after
        for state in states:
            held.append(self._protect(state.subject.identifiers))
        statuses = {s.name: SystemStatus(name=s.name) for s in targets}
        structlog.contextvars.bind_contextvars(search_id=search_id)
        try:
            log.info("search_started", subjects=len(states), systems=len(targets),
                     reason_given=bool(reason))
            for round_no in range(self.config.max_depth + 1):
                active = [st for st in states if st.new_ids]
                if not active:
                    break
                self.progress("round", {"round": round_no, "subjects": len(active)})
                self._run_round(active, targets, statuses, round_no)
                last = round_no == self.config.max_depth
                for state in active:
                    state.rounds = round_no + 1
                    if last:
                        state.new_ids.clear()  # nothing learnt now would be searched
                    else:
                        held.append(self._expand(state, round_no + 1))
            results = []
            for state in states:
                kept, lookalikes = attribution.attribute(state.subject, state.findings)
                results.append(SearchResult(
                    subject=state.subject, findings=kept,
                    systems=[statuses[s.name] for s in targets], search_id=search_id,
                    rounds=state.rounds, excluded_lookalikes=lookalikes))
            failed = [s.name for s in statuses.values() if s.status != "ok"]
            log.info("search_finished", findings=sum(len(r.findings) for r in results),
                     failed_systems=failed)
            if record:
                self.store.record_search(search_id, started, results,
                                         operator=operator or default_operator(), reason=reason)
            return results
        finally:
            structlog.contextvars.unbind_contextvars("search_id")
            for values in held:
                redactor.release(values)

    def _protect(self, identifiers: Sequence[Identifier]) -> frozenset[str]:
        """Teach the log redactor every value (and stored variant) being searched."""
        values: list[str] = []
        for ident in identifiers:
            values.append(ident.value)
            try:
                values += variants(ident.type, ident.value)
            except Exception:  # a variant generator must never break a search
                values.append(ident.value)
        return redactor.add(values)

    def _run_round(self, active: list[_SubjectState], targets: list[SystemConfig],
                   statuses: dict[str, SystemStatus], round_no: int) -> None:
        by_ref = {st.subject.ref: st for st in active}
        if len(by_ref) != len(active):
            raise DsrError("subject refs must be unique within one search")
        round_subjects = [Subject(ref=st.subject.ref, identifiers=list(st.subject.identifiers),
                                  search_ids=frozenset(st.new_ids)) for st in active]
        live = [s for s in targets if statuses[s.name].status == "ok"]
        if not live:
            return
        workers = min(self.config.workers, len(live))
        # Not a with-block: a system that hangs past its timeout must not hold up the rest.
        ex = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dsr-search")
        try:
            submitted = time.monotonic()
            # ``timeout`` is per round of up to BATCH_UNIT subjects; a big batch gets more.
            scale = max(1, -(-len(round_subjects) // BATCH_UNIT))
            futures: dict[str, Future[tuple[list[Finding], float, dict[str, Any]]]] = {
                s.name: ex.submit(self._search_system, s, round_subjects) for s in live}
            for system in live:
                status = statuses[system.name]
                seconds = 0.0
                try:
                    limit = system.timeout * scale
                    remaining = max(0.0, submitted + limit - time.monotonic())
                    found, seconds, notes = futures[system.name].result(timeout=remaining)
                    _add_notes(status.notes, notes)
                except FutureTimeout:
                    status.status, status.error = "error", f"timed out after {limit:g} s"
                    futures[system.name].cancel()
                    found = []
                except DsrError as exc:
                    status.status, status.error = "error", redactor.scrub(str(exc))
                    found = []
                except Exception as exc:
                    status.status = "error"
                    status.error = f"{type(exc).__name__}: {redactor.scrub(str(exc))}"
                    found = []
                status.seconds += seconds or (time.monotonic() - submitted)
                if status.status != "ok":
                    log.warning("system_failed", system=system.name, round=round_no,
                                error=status.error)
                    self.progress("system_failed", {"system": system.name})
                    continue
                for finding in found:
                    state = by_ref.get(finding.subject)
                    if state is None:
                        continue  # a connector answering for a subject it was not asked about
                    existing = state.findings.get(finding.id)
                    if existing is None:
                        state.findings[finding.id] = finding
                    else:
                        existing.merge(finding)
                self.progress("system_done", {"system": system.name, "round": round_no,
                                              "findings": len(found)})
        finally:
            ex.shutdown(wait=False, cancel_futures=True)

    def _search_system(self, system: SystemConfig, subjects: list[Subject]
                       ) -> tuple[list[Finding], float, dict[str, Any]]:
        started = time.monotonic()
        connector = self.connector(system)
        found = list(connector.search(subjects))
        for finding in found:
            if finding.system != system.name:
                finding.system = system.name
        seconds = time.monotonic() - started
        log.info("system_searched", system=system.name, findings=len(found),
                 seconds=round(seconds, 3))
        return found, seconds, connector.search_notes()

    def _expand(self, state: _SubjectState, next_round: int) -> frozenset[str]:
        # Attribute what we have so far; only strong findings feed the next round.
        attribution.attribute(state.subject, state.findings, chains=False)
        state.new_ids.clear()
        added = []
        for kind, value, origin, scope in attribution.expansion_candidates(
                state.subject, state.findings.values()):
            try:
                ident = add_identifier(state.subject, kind, value, origin=origin,
                                       round_=next_round, scope=scope)
            except IdentifierError:
                continue  # a connector reported a value that is not a valid identifier
            if ident is not None:
                state.new_ids.add(ident.id)
                added.append(ident)
        held = self._protect(added) if added else frozenset()
        if added:
            log.debug("identity_expanded", subject=state.subject.ref, round=next_round,
                      new_identifiers=len(added), types=sorted({i.type for i in added}))
        return held


def _add_notes(into: dict[str, Any], notes: dict[str, Any]) -> None:
    """A system's notes over the rounds of one search: counts add up, the rest is the
    latest round's."""
    for key, value in notes.items():
        if isinstance(value, int) and not isinstance(value, bool) \
                and isinstance(into.get(key), int):
            into[key] += value
        else:
            into[key] = value
