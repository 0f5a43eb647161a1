"""Per-subject and batch search latency through the engine, against a raw-SQL baseline.

    python bench/search_bench.py --url postgresql+psycopg://postgres@127.0.0.1:5432/dsr_bench \
        --subjects 200 --batch 1000 --indexes both

Subjects are real people sampled (with a fixed seed) from the estate's contacts: their
e-mail and mobile, exactly as a request would give them. For each index state it measures
 - baseline: one ``SELECT … FROM contacts WHERE email = :e`` per subject (raw SQLAlchemy);
 - single: ``engine.search([subject])`` per subject (every round, every table, attribution,
   audit record), p50/p95/mean;
 - batch: one ``engine.search(subjects)`` call with ``--batch`` subjects, against the
   single-search mean times the batch size (or, with ``--measure-singles``, the measured
   sum of the same subjects searched one at a time).
``--indexes both`` drops the identity indexes for the second pass and restores them after.
Results go to stdout and bench/out/search-<db>.jsonl.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _common import OUT, log, percentile, write_result
from sqlalchemy import create_engine, select
from sqlalchemy.engine import make_url

from agent import logging as dsr_logging
from agent.config import config_from_dict
from agent.demo import present_indexes, set_indexes
from agent.demo.schema import build_metadata
from agent.models import Subject
from agent.subjects import subject_from_pairs

CAST_CONTACTS = 9  # the demo cast's contacts come first; benchmark ordinary people
WARM_UP = 3


def sample_people(url: str, count: int, seed: int, exclude: frozenset[int] = frozenset(),
                  need_mobile: bool = True) -> list[dict[str, Any]]:
    """``count`` contacts with an e-mail (and a mobile, if phones are searched), drawn at
    random with ``seed`` from those that qualify."""
    contacts = build_metadata().tables["contacts"]
    engine = create_engine(url)
    rng = random.Random(seed)
    try:
        with engine.connect() as conn:
            query = select(contacts.c.id).where(contacts.c.id > CAST_CONTACTS,
                                                contacts.c.email.is_not(None))
            if need_mobile:
                query = query.where(contacts.c.mobile.is_not(None))
            eligible = sorted(set(conn.execute(query).scalars()) - exclude)
            if len(eligible) < count:
                raise SystemExit(f"the estate has {len(eligible)} eligible contacts, "
                                 f"fewer than {count} subjects")
            picks = rng.sample(eligible, count)
            out: list[dict[str, Any]] = []
            for start in range(0, len(picks), 1000):
                rows = conn.execute(
                    select(contacts.c.id, contacts.c.email, contacts.c.mobile)
                    .where(contacts.c.id.in_(picks[start:start + 1000]))
                    .order_by(contacts.c.id)).all()
                out += [dict(r._mapping) for r in rows]
    finally:
        engine.dispose()
    return out


def to_subjects(people: Sequence[dict[str, Any]], kinds: Sequence[str]) -> list[Subject]:
    column = {"email": "email", "phone": "mobile"}
    return [subject_from_pairs(f"contact-{p['id']}", [(k, p[column[k]]) for k in kinds])
            for p in people]


def baseline(url: str, people: Sequence[dict[str, Any]]) -> list[float]:
    """Seconds for one exact e-mail lookup per person, on a warm connection."""
    contacts = build_metadata().tables["contacts"]
    engine = create_engine(url)
    times: list[float] = []
    try:
        with engine.connect() as conn:
            for person in people[:WARM_UP]:
                conn.execute(select(contacts).where(contacts.c.email == person["email"])).all()
            for person in people:
                started = time.perf_counter()
                conn.execute(select(contacts).where(contacts.c.email == person["email"])).all()
                times.append(time.perf_counter() - started)
    finally:
        engine.dispose()
    return times


def make_engine(url: str, state_dir: Path, max_depth: int | None = None,
                timeout: float | None = None) -> Any:
    from agent.engine import SearchEngine  # imported late: the bench reports if it is missing

    agent: dict[str, Any] = {"state": f"sqlite:///{state_dir / 'state.sqlite'}",
                             "hmac_key": str(state_dir / "hmac.key")}
    if max_depth is not None:
        agent["max_depth"] = max_depth
    system: dict[str, Any] = {"name": "crm", "url": url}
    if timeout is not None:
        system["timeout"] = timeout
    cfg = config_from_dict({"agent": agent, "systems": [system]})
    return SearchEngine(cfg)


def own_row_found(result: Any, subject: Subject) -> bool:
    locator = "contacts:" + subject.ref.split("-", 1)[1]
    return any(f.locator == locator and f.strength == "strong" for f in result.findings)


def singles(engine: Any, subjects: Sequence[Subject]) -> dict[str, Any]:
    for subject in subjects[:WARM_UP]:
        engine.search([subject], operator="bench", reason="benchmark warm-up")
    times: list[float] = []
    findings: list[int] = []
    rounds: list[int] = []
    found = errors = 0
    messages: set[str] = set()
    for subject in subjects:
        started = time.perf_counter()
        [result] = engine.search([subject], operator="bench", reason="benchmark")
        times.append(time.perf_counter() - started)
        findings.append(len(result.findings))
        rounds.append(result.rounds)
        found += own_row_found(result, subject)
        errors += result.failed
        messages.update(errors_of([result]))
    return {"n": len(times), "p50_ms": ms(percentile(times, 50)),
            "p95_ms": ms(percentile(times, 95)), "mean_ms": ms(statistics.fmean(times)),
            "max_ms": ms(max(times)), "sum_s": round(sum(times), 2),
            "findings_mean": round(statistics.fmean(findings), 1),
            "rounds_mean": round(statistics.fmean(rounds), 2),
            "own_contact_found": found, "failed_searches": errors,
            "errors": sorted(messages)}


def batch(engine: Any, subjects: Sequence[Subject]) -> dict[str, Any]:
    started = time.perf_counter()
    results = engine.search(list(subjects), operator="bench", reason="benchmark batch")
    seconds = time.perf_counter() - started
    return {"n": len(subjects), "seconds": round(seconds, 2),
            "per_subject_ms": ms(seconds / max(len(subjects), 1)),
            "own_contact_found": sum(own_row_found(r, s) for r, s in
                                     zip(results, subjects, strict=True)),
            "failed_searches": sum(r.failed for r in results), "errors": errors_of(results)}


def errors_of(results: Sequence[Any]) -> list[str]:
    """Distinct system errors (they name systems and causes, never identifier values)."""
    return sorted({s.error or s.status for r in results for s in r.systems if s.status != "ok"})


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def run_phase(url: str, indexed: bool, args: argparse.Namespace) -> dict[str, Any]:
    n_single = args.subjects if indexed else args.subjects_noindex
    sizes = args.batch if indexed else args.batch_noindex
    kinds = args.identifiers.split(",")
    need_mobile = "phone" in kinds
    people = sample_people(url, n_single, args.seed, need_mobile=need_mobile)
    phase: dict[str, Any] = {"indexes": indexed, "identifiers": kinds,
                             "max_depth": args.max_depth}
    label = f"[indexes {'on' if indexed else 'off'}]"
    log(f"{label} raw SQL baseline, {len(people)} lookups")
    times = baseline(url, people)
    phase["baseline"] = {"n": len(times), "p50_ms": ms(percentile(times, 50)),
                         "p95_ms": ms(percentile(times, 95)),
                         "mean_ms": ms(statistics.fmean(times))}
    log(f"{label} baseline: {json.dumps(phase['baseline'])}")
    with tempfile.TemporaryDirectory(prefix="dsr-bench-") as state:
        engine = make_engine(url, Path(state), args.max_depth, args.timeout)
        try:
            log(f"{label} {len(people)} single searches")
            phase["single"] = singles(engine, to_subjects(people, kinds))
            log(f"{label} single: {json.dumps(phase['single'])}")
            phase["batches"] = []
            taken = frozenset(p["id"] for p in people)
            for number, size in enumerate(sizes):
                batch_people = sample_people(url, size, args.seed + 1 + number, exclude=taken,
                                             need_mobile=need_mobile)
                taken |= {p["id"] for p in batch_people}
                subjects = to_subjects(batch_people, kinds)
                log(f"{label} one batch of {len(subjects)}")
                result = batch(engine, subjects)
                result["vs_singles_estimate_s"] = round(
                    phase["single"]["mean_ms"] * len(subjects) / 1000, 2)
                if args.measure_singles:
                    log(f"{label} the same {len(subjects)} one at a time")
                    result["vs_singles_measured_s"] = singles(engine, subjects)["sum_s"]
                log(f"{label} batch: {json.dumps(result)}")
                phase["batches"].append(result)
        finally:
            engine.close()
    return phase


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("expected whole numbers like 50,200,1000") from None
    if any(n < 0 for n in sizes):
        raise argparse.ArgumentTypeError("batch sizes must be >= 0")
    return [n for n in sizes if n]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="the estate built by bench/generate.py")
    parser.add_argument("--subjects", type=int, default=200, help="single searches (indexed)")
    parser.add_argument("--batch", type=_sizes, default=[1000],
                        help="subjects in the batch search; several sizes: 50,200,1000")
    parser.add_argument("--indexes", choices=("on", "off", "both"), default="on")
    parser.add_argument("--subjects-noindex", type=int, default=20,
                        help="single searches without indexes (each scans whole tables)")
    parser.add_argument("--batch-noindex", type=_sizes, default=[100],
                        help="batch sizes without indexes (0 to skip)")
    parser.add_argument("--timeout", type=float, default=3600,
                        help="the CRM system's search timeout in seconds (engine default 60)")
    parser.add_argument("--max-depth", type=int, default=None,
                        help="rounds of identity expansion (default: the engine's default)")
    parser.add_argument("--identifiers", default="email,phone",
                        help="what each subject gives: email, phone or both (default both)")
    parser.add_argument("--measure-singles", action="store_true",
                        help="also search the batch's subjects one at a time")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--log-level", default="info",
                        help="engine log level; lines go as JSON to bench/out/search-<db>.log")
    args = parser.parse_args(argv)
    if not set(args.identifiers.split(",")) <= {"email", "phone"}:
        parser.error("--identifiers takes email, phone or email,phone")

    # Log as production does (JSON lines, redacted) but to a file, not the terminal.
    OUT.mkdir(parents=True, exist_ok=True)
    log_file = (OUT / f"search-{make_url(args.url).get_backend_name()}.log").open("a")
    dsr_logging.configure(args.log_level, stream=log_file, pretty=False)

    had = bool(present_indexes(args.url))
    states = {"on": [True], "off": [False], "both": [True, False]}[args.indexes]
    phases = []
    try:
        for indexed in states:
            if bool(present_indexes(args.url)) != indexed:
                log(f"{'creating' if indexed else 'dropping'} identity indexes")
                set_indexes(args.url, indexed)
            phases.append(run_phase(args.url, indexed, args))
    finally:
        dsr_logging.configure("warning")
        log_file.close()
        if bool(present_indexes(args.url)) != had:
            log("restoring the indexes as they were")
            set_indexes(args.url, had)
    path = write_result("search", args.url, {"phases": phases, "args": vars(args)})
    print(json.dumps(phases, indent=2))
    log(f"recorded in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
