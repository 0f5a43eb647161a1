"""Erasure requests end to end: create, verify identity, plan, approve, run, for N subjects.

    python bench/erasure_bench.py --subjects 100 --workers 1,2 \
        --url postgresql+psycopg://postgres@127.0.0.1:5432/dsr_bench_erasure

Subjects are real people of the estate built by bench/generate.py, drawn with ``--seed``
from those still there: contacts of companies, sole traders and prospects (``--mix``), each
given as their e-mail (``--identifiers``). Each goes through ``agent.workflow.Workflow``
exactly as ``dsr request`` does, against config/policy.toml: ``run`` searches again,
executes through the journal and verifies by a fresh search. For each ``--workers`` value
(threads, each with its own Workflow, engine and connections) the script reports the wall
time for all subjects, p50/p95 per subject, a per-phase breakdown, exit codes, residual
matches, rows deleted / anonymised / retained, and an independent check in raw SQL that
each subject's e-mail is gone from the identity columns.

Erasure changes the estate. Every pass draws fresh subjects (erased people are no longer
eligible, and refs used earlier in the invocation are excluded). On PostgreSQL and SQLite
the requests run on a copy of the estate (a template copy, a file copy), dropped
afterwards, so the estate stays as built and ``--seed`` gives the same subjects every run;
``--in-place`` erases in the estate itself (as on MariaDB); ``--rebuild`` rebuilds the
estate first. Results go to stdout and bench/out/erasure-<db>.jsonl.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import shutil
import statistics
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from _common import (
    OUT,
    SUBJECT_KINDS,
    ensure_database,
    log,
    percentile,
    sample_subjects,
    write_result,
)
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from agent import logging as dsr_logging
from agent.config import config_from_dict
from agent.demo.schema import build_metadata
from agent.logging import redactor
from agent.plugins import get_plugin_manager
from agent.subjects import subject_from_pairs
from agent.workflow import Workflow

ROOT = Path(__file__).resolve().parent.parent
POLICY = ROOT / "config" / "policy.toml"
DOCUMENTS = ["passport", "utility_bill"]  # the policy asks for two for an erasure
OPERATOR, APPROVER = "bench", "bench-dpo"
WARM_UP = 3  # searches per Workflow before timing: catalog reflection, connection pools
# The phases of one request, in order (``other`` is the rest of plan/run: store writes).
PHASES = ("create", "verify_identity", "plan_search", "planner", "plan_store", "approve",
          "run_search", "execute", "suppression", "verify_search", "run_finish")


# --------------------------------------------------------------------------- timing


@dataclass
class Clock:
    """Seconds per phase for the request in hand."""

    stage: str = ""
    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started


class TimedWorkflow(Workflow):
    """The production Workflow, with its inner steps timed (the bench changes no behaviour:
    every override calls the original). Also keeps what the executor returned."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.clock = Clock()
        self.runs: list[Any] = []
        execute = self.executor.execute

        def timed_execute(*a: Any, **k: Any) -> Any:
            with self.clock.phase("execute"):
                runs = execute(*a, **k)
            self.runs = list(runs)
            return runs

        self.executor.execute = timed_execute  # type: ignore[method-assign]

    def _search(self, request: Any, actor: str, secrets: Any = None,
                reason: str = "plan") -> Any:
        name = "verify_search" if reason == "verify" else f"{self.clock.stage}_search"
        with self.clock.phase(name):
            return super()._search(request, actor, secrets, reason)

    def _make_items(self, request: Any, findings: Any) -> Any:
        with self.clock.phase("planner" if self.clock.stage == "plan" else "run_replan"):
            return super()._make_items(request, findings)

    def _suppress_list(self, request: Any, result: Any, runs: Any) -> int:
        with self.clock.phase("suppression"):
            return super()._suppress_list(request, result, runs)

    def reset(self, stage: str = "") -> None:
        self.clock = Clock(stage)
        self.runs = []


# --------------------------------------------------------------------------- one subject


def erase_one(workflow: TimedWorkflow, person: Mapping[str, Any], kinds: Sequence[str]
              ) -> dict[str, Any]:
    """One erasure request from creation to verified result; never raises."""
    workflow.reset()
    clock = workflow.clock
    out: dict[str, Any] = {"ref": person["ref"], "kind": person["kind"], "exit_code": None,
                           "status": None, "residual": None, "error": None}
    started = time.perf_counter()
    try:
        with clock.phase("create"):
            request = workflow.create("erasure", pairs_of(person, kinds), actor=OPERATOR)
        with clock.phase("verify_identity"):
            workflow.verify(request.id, DOCUMENTS, by=OPERATOR,
                            issued=dict.fromkeys(DOCUMENTS, date.today()))
        clock.stage = "plan"
        with clock.phase("plan_total"):
            view = workflow.plan(request.id, actor=OPERATOR, reason="benchmark")
        with clock.phase("approve"):
            workflow.approve(request.id, by=APPROVER)
        clock.stage = "run"
        with clock.phase("run_total"):
            result = workflow.run(request.id, actor=OPERATOR)
        verification = result.summary["verification"]
        out.update(exit_code=result.exit_code, status=result.request.status,
                   residual=sum(verification["residual"].values()),
                   failed_systems=verification["failed_systems"],
                   systems_failed=[f"{s['name']}: {s.get('error')}"
                                   for s in result.summary["systems"] if s["status"] != "ok"])
        out.update(tally(view.items, workflow.runs))
    except Exception as exc:  # counted and reported, never hidden
        out["error"] = f"{type(exc).__name__}: {redactor.scrub(str(exc))}"
        out["where"] = redactor.scrub(traceback.format_exc(limit=-3).splitlines()[-3])
    out["seconds"] = time.perf_counter() - started
    out["phases"] = split_phases(clock.seconds)
    return out


def pairs_of(person: Mapping[str, Any], kinds: Sequence[str]) -> list[tuple[str, object]]:
    pairs: list[tuple[str, object]] = [("email", person["email"])]
    if "name" in kinds and person.get("name"):
        pairs.append(("name", person["name"]))
    if "phone" in kinds and person.get("phone"):
        pairs.append(("phone", person["phone"]))
    return pairs


def split_phases(seconds: Mapping[str, float]) -> dict[str, float]:
    """Nested timings into disjoint phases: what plan and run spend outside the timed
    steps is their store work (saving the plan; journal, status and receipt)."""
    out = {k: v for k, v in seconds.items() if not k.endswith("_total")}
    inner_plan = sum(seconds.get(k, 0.0) for k in ("plan_search", "planner"))
    out["plan_store"] = max(0.0, seconds.get("plan_total", 0.0) - inner_plan)
    inner_run = sum(seconds.get(k, 0.0) for k in ("run_search", "execute", "suppression",
                                                   "verify_search", "run_replan"))
    out["run_finish"] = max(0.0, seconds.get("run_total", 0.0) - inner_run)
    return out


def tally(items: Sequence[Any], runs: Sequence[Any]) -> dict[str, Any]:
    """Plan items by action and container, and the rows the executor changed."""
    actions: Counter[str] = Counter()
    containers: Counter[str] = Counter()
    action_of = {}
    for item in items:
        label = item.action if item.included else "left_out"
        actions[label] += 1
        if item.kind == "row":
            containers[f"{item.container}:{label}"] += 1
        action_of[item.id] = item.action
    rows: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    for run in runs:
        for outcome in run.outcomes:
            outcomes[outcome.status] += 1
            if outcome.status == "done":
                verb = {"delete": "deleted", "anonymise": "anonymised"}.get(
                    action_of.get(outcome.item_id, ""), "other")
                rows[verb] += int(outcome.counts.get("rows", 1))
    return {"actions": dict(actions), "containers": dict(containers), "rows": dict(rows),
            "outcomes": dict(outcomes), "findings": sum(1 for i in items if i.kind == "row")}


# --------------------------------------------------------------------------- a pass


def make_config(url: str, state_dir: Path, state_url: str | None) -> Any:
    agent = {"state": state_url or f"sqlite:///{state_dir / 'state.sqlite'}",
             "hmac_key": str(state_dir / "hmac.key"), "policy": str(POLICY),
             "exports": str(state_dir / "exports")}
    return config_from_dict({"agent": agent, "systems": [{"name": "crm", "url": url}]},
                            base_dir=state_dir)


def new_workflow(config: Any) -> tuple[TimedWorkflow, float]:
    """A Workflow with its catalog read and connections open; the seconds that took."""
    started = time.perf_counter()
    workflow = TimedWorkflow(config, get_plugin_manager())
    for n in range(WARM_UP):
        subject = subject_from_pairs(f"warm-{n}", [("email", f"warm-up-{n}@example.com")])
        workflow.engine.search([subject], operator=OPERATOR, reason="benchmark warm-up")
    return workflow, time.perf_counter() - started


def run_pass(config: Any, people: Sequence[dict[str, Any]], workers: int,
             kinds: Sequence[str]) -> dict[str, Any]:
    """Erase ``people`` with ``workers`` threads, each with its own Workflow. The Workflows
    are made (and warmed up) one after another before the clock starts: opening a fresh
    state store from several threads at once races on creating its tables."""
    todo: queue.Queue[dict[str, Any]] = queue.Queue()
    for person in people:
        todo.put(person)
    results: list[dict[str, Any]] = []
    lock = threading.Lock()
    made = [new_workflow(config) for _ in range(workers)]
    flows = [workflow for workflow, _ in made]

    def worker(workflow: TimedWorkflow) -> None:
        while True:
            try:
                person = todo.get_nowait()
            except queue.Empty:
                return
            outcome = erase_one(workflow, person, kinds)
            with lock:
                results.append(outcome)
                done = len(results)
            if done % 10 == 0 or done == len(people):
                log(f"  {done:>4} / {len(people)} requests")

    threads = [threading.Thread(target=worker, args=(flow,), name=f"bench-{n}")
               for n, flow in enumerate(flows)]
    cpu_before, machine_before = os.times(), machine_ticks()
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    cpu_after, machine_after = os.times(), machine_ticks()
    for workflow in flows:
        workflow.close()
    by_ref = {r["ref"]: r for r in results}
    summary = summarise([by_ref[p["ref"]] for p in people if p["ref"] in by_ref], wall,
                        [seconds for _, seconds in made], workers)
    client = (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)
    summary["cpu"] = {"client_s": round(client, 2),
                      "machine_busy": busy_share(machine_before, machine_after),
                      "cores": os.cpu_count()}
    return summary


def machine_ticks() -> tuple[int, int] | None:
    """(busy, total) jiffies of all CPUs from /proc/stat (Linux), else None."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def busy_share(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float | None:
    """Share of all the machine's cores busy (any process) between two readings."""
    if before is None or after is None or after[1] == before[1]:
        return None
    return round((after[0] - before[0]) / (after[1] - before[1]), 2)


def summarise(results: Sequence[dict[str, Any]], wall: float, warm: Sequence[float],
              workers: int) -> dict[str, Any]:
    totals = [r["seconds"] for r in results]
    phases: dict[str, Any] = {}
    for name in (*PHASES, "run_replan"):
        values = [r["phases"].get(name, 0.0) for r in results]
        if not any(values):
            continue
        phases[name] = {"sum_s": round(sum(values), 2), "mean_ms": ms(statistics.fmean(values)),
                        "p50_ms": ms(percentile(values, 50)),
                        "p95_ms": ms(percentile(values, 95))}
    by_kind: dict[str, Any] = {}
    for kind in SUBJECT_KINDS:
        mine = [r["seconds"] for r in results if r["kind"] == kind]
        if mine:
            by_kind[kind] = {"n": len(mine), "p50_ms": ms(percentile(mine, 50)),
                             "p95_ms": ms(percentile(mine, 95))}
    failures = [{k: r.get(k) for k in ("ref", "kind", "exit_code", "status", "residual",
                                       "failed_systems", "systems_failed", "error", "where")
                 if r.get(k) not in (None, [])}
                for r in results if not ok(r)]
    return {
        "workers": workers, "n": len(results), "wall_s": round(wall, 2),
        "requests_per_s": round(len(results) / wall, 2) if wall else None,
        "warm_up_s": [round(s, 2) for s in warm],
        "per_subject": {"p50_ms": ms(percentile(totals, 50)), "p95_ms": ms(percentile(totals, 95)),
                        "mean_ms": ms(statistics.fmean(totals)) if totals else None,
                        "max_ms": ms(max(totals)) if totals else None},
        "by_kind": by_kind, "phases": phases,
        "ok": sum(1 for r in results if ok(r)), "failures": failures,
        "exit_codes": count(r["exit_code"] for r in results),
        "statuses": count(r["status"] for r in results),
        "residual_total": sum(r["residual"] or 0 for r in results),
        "actions": add_up(r.get("actions", {}) for r in results),
        "rows": add_up(r.get("rows", {}) for r in results),
        "outcomes": add_up(r.get("outcomes", {}) for r in results),
        "containers": add_up(r.get("containers", {}) for r in results),
        "findings_mean": round(statistics.fmean(r.get("findings", 0) for r in results), 1)
        if results else None,
    }


def ok(result: Mapping[str, Any]) -> bool:
    return (result["error"] is None and result["exit_code"] == 0 and result["residual"] == 0
            and not result.get("failed_systems") and not result.get("systems_failed"))


def count(values: Any) -> dict[str, int]:
    return {str(k): v for k, v in sorted(Counter(values).items(), key=lambda kv: str(kv[0]))}


def add_up(counters: Any) -> dict[str, int]:
    total: Counter[str] = Counter()
    for one in counters:
        total.update(one)
    return dict(sorted(total.items()))


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


# --------------------------------------------------------------------------- checks


def independent_check(url: str, people: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Raw SQL, outside the agent: is each subject's e-mail still in an identity column
    (contacts.email, prospects.email, customers.billing_email) or in tickets.notes?"""
    tables = build_metadata().tables
    columns = [tables["contacts"].c.email, tables["prospects"].c.email,
               tables["customers"].c.billing_email]
    notes = tables["tickets"].c.notes
    left_identity: list[str] = []
    left_notes = 0
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            for person in people:
                email = person["email"].lower()
                for column in columns:
                    hit = conn.execute(select(func.count()).where(
                        func.lower(column) == email)).scalar_one()
                    if hit:
                        left_identity.append(f"{person['ref']}:{column.table.name}")
                left_notes += conn.execute(select(func.count()).where(
                    func.lower(notes).contains(email, autoescape=True))).scalar_one()
    finally:
        engine.dispose()
    return {"subjects": len(people), "still_in_identity_columns": left_identity,
            "ticket_notes_still_mentioning": left_notes}


def estate_counts(url: str) -> dict[str, int]:
    tables = build_metadata().tables
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {name: conn.execute(select(func.count()).select_from(table)).scalar_one()
                    for name, table in tables.items()}
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- databases


@contextmanager
def working_copy(url: str, in_place: bool) -> Iterator[str]:
    """A copy of the estate to erase from, dropped afterwards, so the estate stays as built
    and a seed gives the same subjects every run: PostgreSQL ``CREATE DATABASE … TEMPLATE``,
    SQLite a copy of the file. MariaDB/MySQL (or ``in_place``): the estate itself."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if in_place or backend not in ("postgresql", "sqlite"):
        if not in_place:
            log(f"no copy on {backend}: erasing in the estate itself (fresh subjects each run)")
        yield url
        return
    started = time.perf_counter()
    if backend == "sqlite":
        source = Path(parsed.database or "")
        target = source.with_name(f"{source.stem}-erasure-copy{source.suffix}")
        shutil.copyfile(source, target)
        log(f"copied the estate to {target.name} in {time.perf_counter() - started:.1f} s")
        try:
            yield parsed.set(database=str(target)).render_as_string(hide_password=False)
        finally:
            target.unlink(missing_ok=True)
        return
    name = f"{parsed.database}_copy"
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{parsed.database}"'))
    log(f"copied the estate to {name} in {time.perf_counter() - started:.1f} s")
    try:
        yield parsed.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def fresh_state(state_url: str | None) -> None:
    """A PostgreSQL state store starts empty: its database is dropped and created again
    (only a database whose name says it is the bench's)."""
    if not state_url:
        return
    parsed = make_url(state_url)
    name = parsed.database or ""
    if parsed.get_backend_name() != "postgresql" or "bench" not in name:
        raise SystemExit("--state-url must be a PostgreSQL database whose name contains "
                         "'bench' (it is dropped and recreated)")
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
    ensure_database(state_url)


def rebuild(url: str, customers: int, phones: str) -> float:
    from agent.demo import build_estate

    ensure_database(url)
    started = time.perf_counter()
    log(f"rebuilding the estate: {customers:,} customers, phones {phones}")
    build_estate(url, customers=customers, phones=phones)  # type: ignore[arg-type]
    return time.perf_counter() - started


# --------------------------------------------------------------------------- main


def _mix(text_: str) -> dict[str, float]:
    shares: dict[str, float] = {}
    try:
        for part in text_.split(","):
            kind, _, share = part.partition("=")
            if kind.strip() not in SUBJECT_KINDS:
                raise ValueError
            shares[kind.strip()] = float(share)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected KIND=SHARE,... with KIND one of {', '.join(SUBJECT_KINDS)}") from None
    if sum(shares.values()) <= 0:
        raise argparse.ArgumentTypeError("the shares must add up to more than 0")
    return shares


def _counts(total: int, shares: Mapping[str, float]) -> dict[str, int]:
    weight = sum(shares.values())
    counts = {k: int(total * v / weight) for k, v in shares.items()}
    first = next(iter(shares))
    counts[first] += total - sum(counts.values())
    return counts


def _workers(text_: str) -> list[int]:
    try:
        values = [int(p) for p in text_.split(",") if p.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("expected whole numbers like 1,2,4") from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError("worker counts must be >= 1")
    return values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="the estate built by bench/generate.py")
    parser.add_argument("--subjects", type=int, default=100, help="erasure requests per pass")
    parser.add_argument("--mix", type=_mix, default=_mix("contact=40,sole_trader=40,prospect=20"),
                        help="kinds of subject and their shares (default "
                             "contact=40,sole_trader=40,prospect=20)")
    parser.add_argument("--identifiers", default="email",
                        help="what each request gives: email, plus name and/or phone "
                             "(e.g. email,name); default email")
    parser.add_argument("--workers", type=_workers, default=[1],
                        help="threads, each with its own Workflow; several passes: 1,2")
    parser.add_argument("--state-url", default=None,
                        help="a PostgreSQL state store (dropped and recreated; its name must "
                             "contain 'bench'); default SQLite in a temporary folder")
    parser.add_argument("--in-place", action="store_true",
                        help="erase in the estate itself rather than a copy (PostgreSQL and "
                             "SQLite copy by default; each run then draws fresh subjects)")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the estate first")
    parser.add_argument("--customers", type=int, default=200_000, help="with --rebuild")
    parser.add_argument("--phones", choices=("shared", "unique"), default="unique",
                        help="with --rebuild (default unique)")
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--log-level", default="info",
                        help="agent log level; JSON lines go to bench/out/erasure-<db>.log")
    args = parser.parse_args(argv)
    kinds = [k.strip() for k in args.identifiers.split(",") if k.strip()]
    if "email" not in kinds or not set(kinds) <= {"email", "name", "phone"}:
        parser.error("--identifiers takes email, optionally with name and phone")

    payload: dict[str, Any] = {"args": {k: v for k, v in vars(args).items()}}
    if args.rebuild:
        payload["rebuild_s"] = round(rebuild(args.url, args.customers, args.phones), 1)
    OUT.mkdir(parents=True, exist_ok=True)
    log_file = (OUT / f"erasure-{make_url(args.url).get_backend_name()}.log").open("a")
    dsr_logging.configure(args.log_level, stream=log_file, pretty=False)
    passes: list[dict[str, Any]] = []
    try:
        with working_copy(args.url, args.in_place) as url:
            payload["estate_before"] = estate_counts(url)
            used: frozenset[str] = frozenset()
            for number, workers in enumerate(args.workers):
                people = sample_subjects(url, _counts(args.subjects, args.mix),
                                         args.seed + number, exclude=used)
                used |= {p["ref"] for p in people}
                fresh_state(args.state_url)
                with tempfile.TemporaryDirectory(prefix="dsr-erasure-bench-") as folder:
                    config = make_config(url, Path(folder), args.state_url)
                    mix = Counter(p["kind"] for p in people)
                    log(f"[{workers} worker(s)] {len(people)} erasure requests "
                        f"({', '.join(f'{n} {k}' for k, n in mix.items())})")
                    result = run_pass(config, people, workers, kinds)
                result["state"] = "postgresql" if args.state_url else "sqlite"
                result["independent_check"] = independent_check(url, people)
                log(f"[{workers} worker(s)] {json.dumps(headline(result))}")
                passes.append(result)
            payload["estate_after"] = estate_counts(url)
    finally:
        dsr_logging.configure("warning")
        log_file.close()
    payload["passes"] = passes
    path = write_result("erasure", args.url, payload)
    print(json.dumps(passes, indent=2))
    log(f"recorded in {path}")
    failed = any(p["failures"] or p["independent_check"]["still_in_identity_columns"]
                 for p in passes)
    return 1 if failed else 0


def headline(result: Mapping[str, Any]) -> dict[str, Any]:
    errors = Counter(f["error"] for f in result["failures"] if f.get("error"))
    return {k: result[k] for k in ("wall_s", "ok", "n", "exit_codes", "residual_total", "rows")} \
        | {"p50_ms": result["per_subject"]["p50_ms"], "p95_ms": result["per_subject"]["p95_ms"],
           "still_in_identity_columns": len(result["independent_check"][
               "still_in_identity_columns"]), "errors": dict(errors)}


if __name__ == "__main__":
    sys.exit(main())
