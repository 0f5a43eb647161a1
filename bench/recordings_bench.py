"""The recordings connector (Asterisk/FreePBX layout) over a CDR of 1,000,000 rows in
PostgreSQL and an audio tree on local disk.

The estate is built here, fast: one ``INSERT ... SELECT`` over ``generate_series`` into a
FreePBX-shaped ``cdr`` table with FreePBX's indexes (calldate, dst, accountcode, uniqueid)
in the database ``dsr_bench_calls`` (dropped and created; dropped again at the end unless
``--keep``). Customer numbers are the 1,999 drama-range numbers (07700 900xxx, 01632 960xxx
but 01632 960000, our switchboard), so each number is on ~500 calls; they are stored as
FreePBX does (national digits, +44..., 44...) and a few with separators. ~30 % of calls are
recorded; transfers add a second leg sharing ``linkedid``. The audio tree under ``--audio``
holds one small WAV per recorded call of a sample of day folders (``--audio-files``); the
other recorded calls are "missing audio", as on a PBX whose old recordings were archived.

Parts (``--parts``), through ``RecordingsConnector`` (``config_from_dict``, as a user's
``[[systems]]`` entry), each reporting wall time and this process's CPU (the connector):

- ``single``: one subject by phone, ``--subjects`` different ones: p50 / p95;
- ``batch``: ``--batch`` sizes searched whole, against n x the single p50; and
  ``--batch-sampled`` (1,000), too slow to run whole: its pre-filter statements counted by
  kind, one of each kind run with the system's statement timeout, and the matching cost per
  (record, subject) pair timed on real records;
- ``account``: one subject by account id (``--id account=...``);
- ``predicate``: the phone search as shipped, without the separator-insensitive clauses
  (cdr.py ``_compacted``), and without the ``clid LIKE`` clauses too (patched here, not in
  the product), each with EXPLAIN ANALYZE of its statement;
- ``read``: ``read()`` of single calls that have audio; ``erase``: delete of ``--erase``;
- ``indexed`` (last, it adds indexes): src, cnum, did and linkedid indexed, then the phone
  search, read and erase again.

    python bench/recordings_bench.py            # build, all parts, drop (about 7 minutes)
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa
from _common import OUT, log, percentile, write_result
from sqlalchemy.engine import make_url

from agent import logging as dsr_logging
from agent.config import config_from_dict
from agent.errors import DsrError
from agent.models import Finding, Subject
from agent.plans import PlanItem
from agent.subjects import subject_from_mapping
from connectors.recordings import cdr as cdr_module
from connectors.recordings.connector import RecordingsConnector
from connectors.recordings.layout_asterisk import audio_path
from connectors.recordings.matching import number_forms, wanted
from tests.support.audio import wav_bytes

URL = "postgresql+psycopg://postgres@127.0.0.1:5432/dsr_bench_calls"
OUR_DDI = "01632960000"
TRANSFER = 0.15  # share of inbound calls transferred (a second leg)

# FreePBX's asteriskcdrdb.cdr, column for column (text columns NOT NULL DEFAULT '')
DDL = """
CREATE TABLE cdr (
  calldate timestamp NOT NULL, clid varchar(80) NOT NULL DEFAULT '',
  src varchar(80) NOT NULL DEFAULT '', dst varchar(80) NOT NULL DEFAULT '',
  dcontext varchar(80) NOT NULL DEFAULT '', channel varchar(80) NOT NULL DEFAULT '',
  dstchannel varchar(80) NOT NULL DEFAULT '', lastapp varchar(80) NOT NULL DEFAULT '',
  lastdata varchar(80) NOT NULL DEFAULT '', duration integer NOT NULL DEFAULT 0,
  billsec integer NOT NULL DEFAULT 0, disposition varchar(45) NOT NULL DEFAULT '',
  amaflags integer NOT NULL DEFAULT 0, accountcode varchar(20) NOT NULL DEFAULT '',
  uniqueid varchar(32) NOT NULL DEFAULT '', userfield varchar(255) NOT NULL DEFAULT '',
  did varchar(50) NOT NULL DEFAULT '', recordingfile varchar(255) NOT NULL DEFAULT '',
  cnum varchar(80) NOT NULL DEFAULT '', cnam varchar(80) NOT NULL DEFAULT '',
  outbound_cnum varchar(80) NOT NULL DEFAULT '', outbound_cnam varchar(80) NOT NULL DEFAULT '',
  dst_cnam varchar(80) NOT NULL DEFAULT '', linkedid varchar(32) NOT NULL DEFAULT '',
  peeraccount varchar(80) NOT NULL DEFAULT '', sequence integer NOT NULL DEFAULT 0)
"""
INDEXES = ("CREATE INDEX cdr_calldate ON cdr (calldate)", "CREATE INDEX cdr_dst ON cdr (dst)",
           "CREATE INDEX cdr_accountcode ON cdr (accountcode)",
           "CREATE INDEX cdr_uniqueid ON cdr (uniqueid)")

# One row per call (c), then a second leg for transferred inbound calls. n is the customer
# number's index (0..1998, skipping our switchboard), w how the trunk wrote it.
FILL = """
INSERT INTO cdr (calldate, clid, src, dst, dcontext, channel, dstchannel, lastapp, lastdata,
                 duration, billsec, disposition, accountcode, uniqueid, userfield, did,
                 recordingfile, cnum, cnam, linkedid, sequence)
WITH calls AS MATERIALIZED (
  SELECT c, timestamp '2025-01-01' + (c * :spacing) * interval '1 second' AS at,
         floor(random() * 1999)::int AS n, random() AS dir, random() AS fmt,
         random() < :recorded AS rec, random() < :transfer AS xfer,
         200 + floor(random() * 60)::int AS ext, 200 + floor(random() * 60)::int AS ext2,
         random() < 0.4 AS has_acct, 10 + floor(random() * 600)::int AS secs,
         random() < 0.9 AS answered
  FROM generate_series(1, :calls) AS c
), numbered AS (
  SELECT *, CASE WHEN n < 1000 THEN '7700900' || lpad(n::text, 3, '0')
                 ELSE '1632960' || lpad((n - 999)::text, 3, '0') END AS nsn,
         (ARRAY['Alex','Sam','Jo','Chris','Pat','Robin','Lee','Kim','Ash','Drew'])[n % 10 + 1]
           || ' ' || (ARRAY['Smith','Jones','Taylor','Brown','Wilson','Evans','Thomas',
                            'Roberts','Walker','Wright','Green','Hall','Wood','Clarke',
                            'Hughes','Lewis','Young','King','Scott','Baker'])[(n / 10) % 20 + 1]
           || CASE WHEN n >= 200 THEN ' ' || chr(65 + n / 200) ELSE '' END AS name,
         extract(epoch FROM timestamp '2025-01-01' + (c * :spacing) * interval '1 second')
           ::bigint AS epoch
  FROM calls
), written AS (
  SELECT *, CASE WHEN fmt < 0.70 THEN '0' || nsn
                 WHEN fmt < 0.90 THEN '+44' || nsn
                 WHEN fmt < 0.97 THEN '44' || nsn
                 WHEN fmt < 0.99 THEN '0' || substr(nsn, 1, 4) || ' ' || substr(nsn, 5)
                 ELSE '+44-' || substr(nsn, 1, 4) || '-' || substr(nsn, 5) END AS w,
         CASE WHEN dir < 0.70 THEN 'in' WHEN dir < 0.95 THEN 'out' ELSE 'internal' END AS d,
         epoch || '.' || (2 * c) AS uid
  FROM numbered
), legs AS (
  SELECT w.*, leg FROM written w
  CROSS JOIN LATERAL (VALUES (0), (1)) AS l(leg)
  WHERE leg = 0 OR (d = 'in' AND xfer AND answered)
), shaped AS (
  SELECT *, CASE d WHEN 'in' THEN w ELSE ext::text END AS s,
         CASE WHEN d = 'in' AND leg = 0 THEN ext::text WHEN d = 'in' THEN ext2::text
              WHEN d = 'out' THEN '0' || nsn ELSE ext2::text END AS t,
         CASE WHEN d = 'in' THEN name ELSE 'Sales' END AS cname
  FROM legs
)
SELECT at + leg * interval '45 seconds',
       '"' || cname || '" <' || s || '>', s, t,
       CASE WHEN d = 'in' THEN 'from-trunk' ELSE 'from-internal' END,
       CASE WHEN d = 'in' THEN 'SIP/trunk-' ELSE 'SIP/' || ext || '-' END
         || lpad(to_hex(c % 65536), 8, '0'),
       'SIP/' || t || '-' || lpad(to_hex((c + 7) % 65536), 8, '0'),
       'Dial', 'SIP/' || t || ',,tTr',
       secs + 5, CASE WHEN answered THEN secs ELSE 0 END,
       CASE WHEN answered THEN 'ANSWERED' ELSE 'NO ANSWER' END,
       CASE WHEN has_acct AND d <> 'internal' THEN 'ACC-' || (100000 + n) ELSE '' END,
       CASE WHEN leg = 0 THEN uid ELSE (epoch + 45) || '.' || (2 * c + 1) END,
       '', CASE WHEN d = 'in' THEN :ddi ELSE '' END,
       CASE WHEN rec AND answered AND leg = 0
            THEN d || '-' || t || '-' || s || '-' || to_char(at, 'YYYYMMDD-HH24MISS') || '-'
                 || uid || '.wav' ELSE '' END,
       s, cname, uid, leg
FROM shaped
"""


# --------------------------------------------------------------------------- the estate
def admin_engine(url: str) -> sa.Engine:
    return sa.create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")


def drop_database(url: str) -> None:
    name = make_url(url).database
    admin = admin_engine(url)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def build(url: str, rows: int) -> dict[str, Any]:
    name = make_url(url).database or ""
    if not name.replace("_", "").isalnum():
        raise SystemExit("the database name must be letters, digits and _")
    drop_database(url)
    admin = admin_engine(url)
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    calls = round(rows / (1 + 0.7 * 0.9 * TRANSFER))
    engine = sa.create_engine(url)
    out: dict[str, Any] = {}
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(DDL))
            started = time.perf_counter()
            conn.execute(sa.text(FILL), {"calls": calls, "spacing": 365 * 86400 / calls,
                                         "recorded": 0.3 / 0.9, "transfer": TRANSFER,
                                         "ddi": OUR_DDI})
            out["load_seconds"] = round(time.perf_counter() - started, 1)
            started = time.perf_counter()
            for statement in INDEXES:
                conn.execute(sa.text(statement))
            out["index_seconds"] = round(time.perf_counter() - started, 1)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("ANALYZE cdr"))
            stats = conn.execute(sa.text(
                "SELECT count(*), count(*) FILTER (WHERE recordingfile <> ''), "
                "count(*) FILTER (WHERE uniqueid <> linkedid), "
                "pg_total_relation_size('cdr') FROM cdr")).one()
    finally:
        engine.dispose()
    out.update(rows=stats[0], recorded=stats[1], transfer_legs=stats[2],
               mb=round(stats[3] / 1e6, 1))
    log(f"built: {out}")
    return out


def write_audio(url: str, root: Path, wanted: int) -> dict[str, Any]:
    """One WAV per recorded call of every k-th day, until ``wanted`` files."""
    shutil.rmtree(root, ignore_errors=True)
    engine = sa.create_engine(url)
    started = time.perf_counter()
    try:
        with engine.connect() as conn:
            per_day = conn.execute(sa.text(
                "SELECT calldate::date AS day, count(*) FROM cdr WHERE recordingfile <> '' "
                "GROUP BY 1 ORDER BY 1")).all()
            mean = sum(n for _, n in per_day) / max(len(per_day), 1)
            stride = max(1, round(len(per_day) / max(1.0, wanted / mean)))
            days = [d for d, _ in per_day[::stride]]
            rows = conn.execute(sa.text(
                "SELECT calldate, recordingfile FROM cdr WHERE recordingfile <> '' "
                "AND calldate::date = ANY(:days) ORDER BY calldate LIMIT :n"),
                {"days": days, "n": wanted}).all()
    finally:
        engine.dispose()
    audio = wav_bytes(0.1)  # 1.6 KB: the listing cost is what matters, not the bytes
    for calldate, name in rows:
        path = root / (audio_path(name, calldate) or name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(audio)
    out = {"files": len(rows), "day_folders": len({r[0].date() for r in rows}),
           "seconds": round(time.perf_counter() - started, 1)}
    log(f"audio: {out}")
    return out


def numbers(rng: random.Random, count: int) -> list[str]:
    """Distinct customer numbers (national form) drawn from the estate's 1,999."""
    pool = [f"07700900{i:03d}" for i in range(1000)] + \
        [f"01632960{i:03d}" for i in range(1, 1000)]
    return rng.sample(pool, count)


def account_of(number: str) -> str:
    n = int(number[-3:]) if number.startswith("07700") else 999 + int(number[-3:])
    return f"ACC-{100000 + n}"


# --------------------------------------------------------------------------- measuring
def connector(url: str, root: Path) -> RecordingsConnector:
    entry = {"name": "phones", "connector": "recordings", "layout": "asterisk",
             "url": f"file://{root}", "cdr": url, "our_numbers": [OUR_DDI]}
    return RecordingsConnector(config_from_dict({"systems": [entry]}).systems[0])


def by_phone(numbers_: Sequence[str], tag: str) -> list[Subject]:
    return [subject_from_mapping({"ref": f"{tag}{i}", "phone": [n]}, default_ref=f"{tag}{i}")
            for i, n in enumerate(numbers_)]


def timed(run: Callable[[], Any]) -> tuple[Any, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = run()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def search_once(conn: RecordingsConnector, subjects: Sequence[Subject]
                ) -> tuple[list[Finding], dict[str, Any]]:
    findings, wall, cpu = timed(lambda: list(conn.search(subjects)))
    report = conn.last_report
    return findings, {"subjects": len(subjects), "seconds": round(wall, 3),
                      "connector_cpu_seconds": round(cpu, 3), "records": report.records,
                      "calls": report.calls, "audio": report.audio,
                      "missing_audio": report.missing_audio, "findings": len(findings)}


def summary(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    wall = [r["seconds"] * 1000 for r in runs]
    cpu = [r["connector_cpu_seconds"] * 1000 for r in runs]
    return {"n": len(runs), "p50_ms": round(percentile(wall, 50), 1),
            "p95_ms": round(percentile(wall, 95), 1), "max_ms": round(max(wall), 1),
            "cpu_p50_ms": round(percentile(cpu, 50), 1),
            "cpu_p95_ms": round(percentile(cpu, 95), 1),
            "records_mean": round(sum(r["records"] for r in runs) / len(runs), 1),
            "calls_mean": round(sum(r["calls"] for r in runs) / len(runs), 1),
            "audio_mean": round(sum(r["audio"] for r in runs) / len(runs), 1),
            "missing_audio_mean": round(sum(r["missing_audio"] for r in runs) / len(runs), 1)}


def singles(conn: RecordingsConnector, subjects: Sequence[Subject], label: str
            ) -> tuple[dict[str, Any], list[list[Finding]]]:
    list(conn.search(subjects[:1]))  # warm: reflection, connection, page cache
    runs, found = [], []
    for subject in subjects:
        findings, run = search_once(conn, [subject])
        runs.append(run)
        found.append(findings)
    out = summary(runs)
    log(f"  {label}: {out}")
    return out, found


# --------------------------------------------------------------------------- predicate
@contextmanager
def loose(conn: RecordingsConnector, on: bool) -> Iterator[None]:
    """The CDR source with ``loose_numbers`` set as a user's option would (undone on exit)."""
    source = conn.layout().cdr  # type: ignore[attr-defined]
    before = source.loose_numbers
    source.loose_numbers = on
    try:
        yield
    finally:
        source.loose_numbers = before


def statements(conn: RecordingsConnector, subjects: Sequence[Subject]
               ) -> tuple[Any, list[sa.Select[Any]]]:
    """The pre-filter statements a phone search of ``subjects`` runs, with their engine."""
    source = conn.layout().cdr  # type: ignore[attr-defined]
    forms, e164 = number_forms(wanted(subjects))
    query = cdr_module.CdrQuery(numbers=forms, e164=e164, accounts=frozenset(),
                                names=frozenset())
    return source._get_engine(), source.statements(source._search_clauses(query))


def explain(conn: RecordingsConnector, subjects: Sequence[Subject]) -> list[dict[str, Any]]:
    """EXPLAIN ANALYZE of each pre-filter statement, with its bound parameters."""
    engine, selects = statements(conn, subjects)
    plans = []
    for statement in selects:
        compiled = statement.compile(engine)
        with engine.connect() as db:
            top = db.exec_driver_sql(f"EXPLAIN (ANALYZE, FORMAT JSON) {compiled}",
                                     compiled.params).scalar_one()[0]
        node = top["Plan"]
        while node.get("Plans") and node["Node Type"] in ("Gather", "Result", "BitmapOr"):
            node = node["Plans"][0]
        plans.append({"execution_ms": round(top["Execution Time"], 1),
                      "plan": top["Plan"]["Node Type"], "scan": node["Node Type"],
                      "workers": top["Plan"].get("Workers Launched", 0),
                      "rows": top["Plan"]["Actual Rows"]})
    return plans


def predicate(conn: RecordingsConnector, subjects: Sequence[Subject],
              label: str = "predicate") -> dict[str, Any]:
    """The phone search as shipped (exact forms) and with ``loose_numbers = true``."""
    out: dict[str, Any] = {}
    for variant in ("exact", "loose"):
        with loose(conn, variant == "loose"):
            runs, _ = singles(conn, subjects, f"{label} {variant}")
            out[variant] = {**runs, "explain": explain(conn, subjects[:1])}
        log(f"  explain {variant}: {out[variant]['explain']}")
    return out


# --------------------------------------------------------------------------- batch
def batch(conn: RecordingsConnector, rng: random.Random, sizes: Sequence[int],
          single_p50_ms: float | None) -> list[dict[str, Any]]:
    out = []
    for size in sizes:
        subjects = by_phone(numbers(rng, size), f"b{size}-")
        _, selects = statements(conn, subjects)
        try:
            _, run = search_once(conn, subjects)
        except DsrError as exc:  # the message names the table and the reason, no values
            run = {"subjects": size, "error": str(exc)}
        run["statements"] = len(selects)
        if single_p50_ms is not None:
            run["singles_extrapolated_seconds"] = round(size * single_p50_ms / 1000, 1)
        log(f"  batch {size}: {run}")
        out.append(run)
    return out


def by_account(conn: RecordingsConnector, rng: random.Random, count: int
               ) -> dict[str, Any]:
    accounts = [account_of(n) for n in numbers(rng, count)]
    subjects = [subject_from_mapping({"ref": f"a{i}", "id": {"account": a}},
                                     default_ref=f"a{i}")
                for i, a in enumerate(accounts)]
    out, _ = singles(conn, subjects, "single by account")
    return out


# --------------------------------------------------------------------------- read / erase
def with_audio(found: Sequence[Sequence[Finding]], root: Path, count: int) -> list[Finding]:
    """One finding per subject whose call has its audio in the tree (file names end in
    ``-<uniqueid>.wav``), up to ``count``."""
    present = {p.name.rsplit("-", 1)[-1].removesuffix(".wav") for p in root.rglob("*.wav")}
    out = []
    for findings in found:
        out += [f for f in findings if f.locator in present][:1]
        if len(out) == count:
            break
    return out


def read(conn: RecordingsConnector, findings: Sequence[Finding]) -> dict[str, Any]:
    times, audio, sizes = [], 0, 0
    for finding in findings:
        items, wall, _ = timed(lambda f=finding: list(conn.read([f])))
        times.append(wall * 1000)
        audio += sum(len(i["audio"]) for i in items)
        sizes += sum(len(json.dumps(i)) for i in items)
    out = {"calls": len(findings), "p50_ms": round(percentile(times, 50), 1),
           "p95_ms": round(percentile(times, 95), 1), "audio_files": audio,
           "mean_item_kb": round(sizes / max(len(findings), 1) / 1000, 1)}
    log(f"  read: {out}")
    return out


def erase(conn: RecordingsConnector, findings: Sequence[Finding], root: Path
          ) -> dict[str, Any]:
    items = [PlanItem(id=f.id, action="delete", reason="bench", system=f.system,
                      kind="recording", locator=f.locator, container=f.container)
             for f in findings]
    outcomes, wall, cpu = timed(lambda: list(conn.erase(items)))
    statuses: dict[str, int] = {}
    for outcome in outcomes:
        statuses[outcome.status] = statuses.get(outcome.status, 0) + 1
    out = {"calls": len(items), "seconds": round(wall, 2),
           "connector_cpu_seconds": round(cpu, 2),
           "per_call_ms": round(wall * 1000 / max(len(items), 1), 1), "outcomes": statuses,
           "audio_deleted": sum(o.counts.get("audio_files", 0) for o in outcomes),
           "records_deleted": sum(o.counts.get("records", 0) for o in outcomes),
           "audio_left": sum(1 for f in findings for _ in root.rglob(f"*-{f.locator}.wav"))}
    log(f"  erase: {out}")
    return out


# --------------------------------------------------------------------------- indexed
def indexed(args: argparse.Namespace, conn: RecordingsConnector, rng: random.Random,
            found: list[list[Finding]]) -> dict[str, Any]:
    """The indexes docs/recordings.md recommends (``missing_indexes()``: src, cnum, did,
    linkedid here), then every part again."""
    source = conn.layout().cdr  # type: ignore[attr-defined]
    missing = source.missing_indexes()
    engine = sa.create_engine(args.url)
    started = time.perf_counter()
    with engine.begin() as db:
        for column in missing:
            db.execute(sa.text(f"CREATE INDEX IF NOT EXISTS cdr_{column} ON cdr ({column})"))
        db.execute(sa.text("ANALYZE cdr"))
    engine.dispose()
    conn.close()  # a new CDR source reflects the indexes afresh
    out: dict[str, Any] = {
        "indexes": missing, "index_seconds": round(time.perf_counter() - started, 1),
        "missing_after": conn.layout().cdr.missing_indexes()}  # type: ignore[attr-defined]
    subjects = by_phone(numbers(rng, args.subjects), "i")
    out["single"], _ = singles(conn, subjects, "indexed single by phone")
    sizes = [int(s) for s in args.batch.split(",") if s]
    out["batch"] = batch(conn, rng, sizes, out["single"]["p50_ms"])
    out["account"] = by_account(conn, rng, args.accounts)
    out["predicate"] = predicate(conn, subjects[:args.predicate_subjects], "indexed")
    half = len(found) // 2
    out["read"] = read(conn, with_audio(found[half:], args.audio, args.reads))
    out["erase"] = erase(conn, with_audio(found[half:][::-1], args.audio, args.erase),
                         args.audio)
    return out


# --------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", default=URL, help="PostgreSQL URL of the bench CDR database")
    ap.add_argument("--audio", type=Path, default=Path("/tmp/dsr-bench-calls"))
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--audio-files", type=int, default=20_000)
    ap.add_argument("--subjects", type=int, default=50)
    ap.add_argument("--batch", default="10,25,1000", help="batch sizes searched whole")
    ap.add_argument("--accounts", type=int, default=10)
    ap.add_argument("--predicate-subjects", type=int, default=5)
    ap.add_argument("--reads", type=int, default=20)
    ap.add_argument("--erase", type=int, default=20)
    ap.add_argument("--parts", default="build,single,batch,account,predicate,read,erase,indexed")
    ap.add_argument("--keep", action="store_true", help="keep the database and audio tree")
    ap.add_argument("--seed", type=int, default=5)
    args = ap.parse_args()
    if make_url(args.url).get_backend_name() != "postgresql":
        raise SystemExit("this bench builds its CDR on PostgreSQL")
    parts = set(args.parts.split(","))
    OUT.mkdir(parents=True, exist_ok=True)
    with (OUT / "recordings.log").open("a", encoding="utf-8") as log_file:
        dsr_logging.configure("info", stream=log_file, pretty=False)
        run(args, parts)


def run(args: argparse.Namespace, parts: set[str]) -> None:
    started = time.perf_counter()
    record: dict[str, Any] = {"args": vars(args)}
    if "build" in parts:
        record["build"] = build(args.url, args.rows)
        record["audio"] = write_audio(args.url, args.audio, args.audio_files)
    rng = random.Random(args.seed)
    conn = connector(args.url, args.audio)
    record["missing_indexes"] = conn.layout().cdr.missing_indexes()  # type: ignore[attr-defined]
    found: list[list[Finding]] = []
    try:
        if "single" in parts:
            subjects = by_phone(numbers(rng, args.subjects), "s")
            record["single"], found = singles(conn, subjects, "single by phone")
        if "batch" in parts:
            p50 = record.get("single", {}).get("p50_ms")
            sizes = [int(s) for s in args.batch.split(",") if s]
            record["batch"] = batch(conn, rng, sizes, p50)
        if "account" in parts:
            record["account"] = by_account(conn, rng, args.accounts)
        if "predicate" in parts:
            subjects = by_phone(numbers(rng, args.predicate_subjects), "p")
            record["predicate"] = predicate(conn, subjects)
        if "read" in parts and found:
            record["read"] = read(conn, with_audio(found, args.audio, args.reads))
        if "erase" in parts and found:
            chosen = with_audio(found[::-1], args.audio, args.erase)
            record["erase"] = erase(conn, chosen, args.audio)
        if "indexed" in parts and found:  # last: it changes the estate's indexes
            record["indexed"] = indexed(args, conn, rng, found)
    finally:
        conn.close()
        if not args.keep:
            drop_database(args.url)
            shutil.rmtree(args.audio, ignore_errors=True)
    record["run_seconds"] = round(time.perf_counter() - started, 1)
    path = write_result("recordings", args.url, record)
    log(f"appended to {path}")


if __name__ == "__main__":
    main()
