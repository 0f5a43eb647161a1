"""The s3 connector over a bucket of ~10,000 mixed objects (~1 GB) on a local S3 endpoint.

The objects are files of the generated share (bench/files_generate.py: text, logs, CSV,
JSONL, JSON, XLSX, DOCX, PDF, e-mail), every ``--stride``-th one, plus ``--parquet`` CSV files
converted to Parquet and ``--gzip`` JSONL files gzipped. The endpoint is moto's standalone
server (``moto_server``, the test extras), started here on 127.0.0.1 and stopped at the end;
boto3 talks to it over HTTP as to any S3-compatible store. The bucket is versioned.

Parts, each appended as a JSON line to bench/out/s3.jsonl:

- ``single``, ``batch``: one subject, then ``--batch`` subjects in one pass over the whole
  bucket (objects/s, MB/s);
- ``rewrite``: a batch search over ``--rewrite-include`` (tabular folders), then erasure of
  ``--rewrite`` tabular objects holding the batch's subjects, through
  ``S3Connector.erase`` (read, rewrite, conditional write, delete of the version read,
  read-back verification): objects/s and MB/s.

Every part reports the connector's own CPU time (this process: boto3, extraction, matching)
apart from the server's (the moto process, from /proc), since on one machine they share
the cores and a real S3 would not cost the client anything.

    python bench/s3_bench.py --data /tmp/dsr-bench-files
"""

from __future__ import annotations

import argparse
import fnmatch
import gzip
import io
import os
import random
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import log, write_record
from files_bench import load_subjects

from agent.config import config_from_dict
from agent.models import Finding, Subject
from agent.plans import PlanItem
from connectors.files.erase import kind_of
from connectors.s3.connector import S3Connector

REGION = "eu-west-2"
BUCKET = "dsr-bench"


# --------------------------------------------------------------------------- the server
class Server:
    def __init__(self) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        moto = Path(sys.executable).parent / "moto_server"
        command = [str(moto) if moto.exists() else "moto_server", "-H", "127.0.0.1", "-p",
                   str(self.port)]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise SystemExit("moto_server did not start within 30 s")

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu(self) -> float:
        """The server process's CPU seconds so far (user + system)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def client(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client("s3", endpoint_url=self.endpoint, region_name=REGION,
                            aws_access_key_id="bench", aws_secret_access_key="bench",
                            config=Config(max_pool_connections=32))

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)


# --------------------------------------------------------------------------- the bucket
def objects_from(share: Path, stride: int, parquet: int, gzipped: int
                 ) -> list[tuple[str, Callable[[], bytes]]]:
    files = sorted(p for p in share.rglob("*") if p.is_file())
    picked = files[::stride]
    out: list[tuple[str, Callable[[], bytes]]] = [
        (str(p.relative_to(share)), p.read_bytes) for p in picked]
    csvs = [p for p in files[1::stride] if p.suffix == ".csv"][:parquet]
    out += [(f"analytics/{p.stem}.parquet", lambda p=p: _parquet(p)) for p in csvs]
    jsonls = [p for p in files[1::stride] if p.suffix == ".jsonl"][:gzipped]
    out += [(f"exports/{p.name}.gz", lambda p=p: gzip.compress(p.read_bytes()))
            for p in jsonls]
    return out


def _parquet(path: Path) -> bytes:
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    table = pacsv.read_csv(path)
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="snappy")
    return sink.getvalue()


def upload(server: Server, items: list[tuple[str, Callable[[], bytes]]]) -> dict[str, Any]:
    client = server.client()
    client.create_bucket(Bucket=BUCKET,
                         CreateBucketConfiguration={"LocationConstraint": REGION})
    client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    started = time.perf_counter()

    def put(item: tuple[str, Callable[[], bytes]]) -> int:
        data = item[1]()
        client.put_object(Bucket=BUCKET, Key=item[0], Body=data)
        return len(data)

    with ThreadPoolExecutor(16) as pool:
        sizes = list(pool.map(put, items))
    return {"objects": len(items), "mb": round(sum(sizes) / 1e6, 1),
            "seconds": round(time.perf_counter() - started, 1)}


# --------------------------------------------------------------------------- parts
def connector(server: Server, **options: Any) -> S3Connector:
    os.environ["DSR_BENCH_S3_KEY"] = "bench"
    entry = {"name": "bucket", "connector": "s3", "url": f"s3://{BUCKET}",
             "endpoint_url": server.endpoint, "region": REGION,
             "access_key_id": "${DSR_BENCH_S3_KEY}", "secret_access_key": "${DSR_BENCH_S3_KEY}",
             # the emulator on two busy cores can take longer than a real store to answer
             "connect_timeout": 120, "read_timeout": 600, **options}
    return S3Connector(config_from_dict({"systems": [entry]}).systems[0])


def measured(server: Server, run: Callable[[], Any]) -> tuple[Any, dict[str, float]]:
    wall, cpu, served = time.perf_counter(), time.process_time(), server.cpu()
    result = run()
    return result, {"seconds": round(time.perf_counter() - wall, 2),
                    "connector_cpu_seconds": round(time.process_time() - cpu, 2),
                    "server_cpu_seconds": round(server.cpu() - served, 2)}


def search(server: Server, conn: S3Connector, subjects: Sequence[Subject]
           ) -> tuple[list[Finding], dict[str, Any]]:
    try:
        findings, times = measured(server, lambda: list(conn.search(subjects)))
    except Exception as exc:  # say what the store did (the connector's message is generic)
        log(f"  search failed: {exc}; cause: {exc.__context__!r}; server alive: "
            f"{server.process.poll() is None}")
        raise
    report = conn.last_report
    assert report is not None
    mb = report.bytes / 1e6
    out = {"subjects": len(subjects), **times, "objects": report.scanned,
           "mb": round(mb, 1), "objects_per_s": round(report.scanned / times["seconds"], 1),
           "mb_per_s": round(mb / times["seconds"], 2), "findings": len(findings),
           "problems": report.counts()}
    log(f"  search: {out}")
    return findings, out


def rewrite(server: Server, conn: S3Connector, findings: list[Finding], count: int,
            seed: int) -> dict[str, Any]:
    """Erase one subject's rows from each of ``count`` objects (current versions)."""
    current = [f for f in findings if f.rows and "?versionId=" not in f.locator
               and kind_of(f.locator) == "tabular"]
    by_object: dict[str, Finding] = {}
    for finding in random.Random(seed).sample(current, len(current)):
        by_object.setdefault(finding.locator, finding)
    chosen = list(by_object.values())[:count]
    if not chosen:
        raise SystemExit("no tabular object holds a batch subject: nothing to rewrite")
    sizes = {f.locator: conn._connect().stat(f.locator) for f in chosen}
    items = [PlanItem(id=f.id, action="delete", reason="bench", system=f.system,
                      kind="object", locator=f.locator, container=f.container, rows=f.rows,
                      matched=list(f.matched), notes={"request": "bench", "subject": f.subject})
             for f in chosen]
    outcomes, times = measured(server, lambda: list(conn.erase(items)))
    mb = sum(e.size for e in sizes.values() if e) / 1e6
    statuses: dict[str, int] = {}
    for outcome in outcomes:
        statuses[outcome.status] = statuses.get(outcome.status, 0) + 1
    out = {"objects": len(items), "mb": round(mb, 1), **times,
           "objects_per_s": round(len(items) / times["seconds"], 2),
           "mb_per_s": round(mb / times["seconds"], 2), "outcomes": statuses,
           "versions_removed": sum(len(o.versions) for o in outcomes),
           "failed_detail": sorted({o.detail for o in outcomes if o.status == "failed"})[:3]}
    log(f"  rewrite: {out}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=Path("/tmp/dsr-bench-files"))
    ap.add_argument("--stride", type=int, default=2, help="every n-th file of the share")
    ap.add_argument("--parquet", type=int, default=200)
    ap.add_argument("--gzip", type=int, default=200)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--rewrite", type=int, default=200)
    ap.add_argument("--parts", default="single,batch,rewrite")
    ap.add_argument("--rewrite-include", default="csv/000/*,jsonl/000/*,analytics/*,exports/*",
                    help="the objects the rewrite part's bucket holds (globs)")
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args()
    share = args.data / "share"
    if not share.is_dir():
        raise SystemExit(f"no share at {share}: run bench/files_generate.py first")
    if not shutil.which("moto_server") and not (Path(sys.executable).parent /
                                                "moto_server").exists():
        raise SystemExit("moto_server is not installed: pip install -e '.[test]'")
    subjects = load_subjects(args.data, args.batch, args.seed)
    items = objects_from(share, args.stride, args.parquet, args.gzip)
    record: dict[str, Any] = {"args": vars(args)}
    parts = args.parts.split(",")
    # One server per part: moto's server keeps what it serves in memory and was killed
    # for want of memory (23 GB) during a second full pass over 1 GB.
    if "single" in parts:
        with fresh_bucket(items, record) as server:
            _, record["single"] = search(server, connector(server), subjects[:1])
    if "batch" in parts:
        with fresh_bucket(items, record) as server:
            _, record["batch"] = search(server, connector(server), subjects)
    if "rewrite" in parts:
        # a bucket of the tabular objects alone: moto copies a bucket's every version on
        # each version listing, and the per-key checks list versions (it ran out of memory)
        wanted = args.rewrite_include.split(",")
        tabular = [i for i in items if any(fnmatch.fnmatchcase(i[0], p) for p in wanted)]
        with fresh_bucket(tabular, record) as server:
            conn = connector(server)
            findings, record["rewrite_search"] = search(server, conn, subjects)
            record["rewrite"] = rewrite(server, conn, findings, args.rewrite, args.seed)
    if "single" in record and "batch" in record:
        record["batch_over_single"] = round(
            record["batch"]["seconds"] / record["single"]["seconds"], 2)
    write_record("s3", record)

@contextmanager
def fresh_bucket(items: list[tuple[str, Callable[[], bytes]]], record: dict[str, Any]
                 ) -> Iterator[Server]:
    server = Server()
    try:
        record["bucket"] = upload(server, items)
        log(f"uploaded: {record['bucket']}")
        yield server
    finally:
        server.stop()

if __name__ == "__main__":
    main()
