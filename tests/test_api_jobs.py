"""Plan/run jobs of the HTTP API kept in the state store (table dsr_api_jobs), over real
uvicorn servers on 127.0.0.1: records outlive a restart, a job a killed server left
running is `interrupted` and the request runs again (resuming), ids never repeat, and one
job per request holds across two processes sharing the store."""

from __future__ import annotations

import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from agent.api import create_app
from agent.api.jobs import HEARTBEAT, JobConflict, Jobs, api_jobs
from agent.store import create_tables
from tests import test_api as api_tests
from tests.test_api import DOCS, HANNAH, KWAME, Server, client, wait_for_job

# the module fixtures of tests/test_api.py serve this module too: a demo estate, tokens
estate, tokens = api_tests.estate, api_tests.tokens


def app(estate_: Any) -> Any:
    return create_app(estate_.config_path, rate_limit=10_000, callback_delays=(0.05,))


def planned(api: httpx.Client, person: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A new erasure request, verified and planned; its id and the plan job."""
    rid = api.post("/requests", json={"type": "erasure", "identifiers": person,
                                      "by": "A. Clerk"}).json()["id"]
    assert api.post(f"/requests/{rid}/identity", json=DOCS).status_code == 200
    job = wait_for_job(api, api.post(f"/requests/{rid}/plan"))
    assert job["state"] == "done", job
    return rid, job


def test_a_job_record_survives_a_restart(estate, tokens):
    with Server(app(estate)) as first, client(first, "approve", tokens) as api:
        rid, job = planned(api, KWAME)
    assert job["id"].startswith("J-") and job["kind"] == "plan" and job["finished_at"]
    with Server(app(estate)) as second, client(second, "read", tokens) as api:
        again = api.get(f"/jobs/{job['id']}")
        assert again.status_code == 200 and again.json() == job
        assert api.get(f"/requests/{rid}").json()["job"] == job


def test_job_ids_do_not_repeat_across_restarts(estate, tokens):
    seen: dict[str, str] = {}  # job id -> request id
    for _ in range(3):
        with Server(app(estate)) as running, client(running, "approve", tokens) as api:
            for job_id, rid in seen.items():  # every earlier id still means its own job
                assert api.get(f"/jobs/{job_id}").json()["request_id"] == rid
            rid, job = planned(api, HANNAH)
            assert job["id"] not in seen
            seen[job["id"]] = rid
    assert len(seen) == 3


def test_unknown_job_is_404(estate, tokens):
    with Server(app(estate)) as running:
        with client(running, "read", tokens) as api:
            for job_id in ("J1", "J-20261129-000000", "nope"):
                answer = api.get(f"/jobs/{job_id}")
                assert answer.status_code == 404 and set(answer.json()) == {"error"}
        with client(running, None, tokens) as anonymous:
            assert anonymous.get("/jobs/J1").status_code == 401


@contextmanager
def write_locked(database: Path) -> Iterator[None]:
    """Hold the CRM's write lock: an erasure blocks (for the connector's 10 s timeout)."""
    conn = sqlite3.connect(database, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        yield
    finally:
        conn.execute("ROLLBACK")
        conn.close()


def serve_in_a_process(estate_: Any) -> tuple[subprocess.Popen[bytes], str]:
    """`dsr serve` in its own process, as in production; its URL once it answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [sys.executable, "-c", "from agent.cli import run; run()", "--config",
               str(estate_.config_path), "serve", "--port", str(port)]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        try:
            httpx.get(f"{url}/openapi.json", timeout=2)
            return proc, url
        except httpx.TransportError:
            assert time.monotonic() < deadline, "dsr serve did not start"
            time.sleep(0.1)


def wait_until(check: Any, what: str, seconds: float = 8) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def stored_state(estate_: Any, job_id: str) -> str:
    engine = sa.create_engine(estate_.config().state_url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.select(api_jobs.c.state).where(
                api_jobs.c.id == job_id)).scalar_one()
    finally:
        engine.dispose()


def test_a_job_left_running_by_a_killed_server_is_interrupted_and_resumes(estate, tokens):
    with Server(app(estate)) as running, client(running, "approve", tokens) as api:
        rid, _ = planned(api, {"email": ["hannah.quigley@example.com"],
                               "phone": ["07700 900061"]})
        approved = api.post(f"/requests/{rid}/approve", json={"by": "D. P. Officer"})
        assert approved.status_code == 200, approved.text
    headers = {"Authorization": f"Bearer {tokens['approve']}"}
    proc, url = serve_in_a_process(estate)
    try:
        with write_locked(estate.folder / "crm.sqlite"), \
                httpx.Client(base_url=url, headers=headers, timeout=30) as other:
            started = other.post(f"/requests/{rid}/run")
            assert started.status_code == 202, started.text
            job_id = started.json()["job"]["id"]
            # the run searched and moved to executing; its erasure waits for the lock
            wait_until(lambda: other.get(f"/requests/{rid}").json()["status"] == "executing",
                       "the run did not reach executing", 20)
            # a second process on the same store: the job is running, a second run is 409
            with Server(app(estate)) as second, client(second, "approve", tokens) as api:
                assert api.get(f"/jobs/{job_id}").json()["state"] == "running"
                twice = api.post(f"/requests/{rid}/run")
                assert twice.status_code == 409 and "already running" in twice.text
            assert other.get(f"/jobs/{job_id}").json()["state"] == "running"
            proc.send_signal(signal.SIGKILL)  # mid-erasure, no chance to tidy up
            proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        if proc.stderr:
            proc.stderr.close()
    restarted_app = app(estate)  # start-up marks it, before anyone asks
    assert stored_state(estate, job_id) == "interrupted"
    with Server(restarted_app) as restarted, client(restarted, "approve", tokens) as api:
        job = api.get(f"/jobs/{job_id}").json()
        assert job["state"] == "interrupted" and job["finished_at"]
        assert "server stopped" in job["error"] and "resume" in job["error"]
        shown = api.get(f"/requests/{rid}").json()
        assert shown["status"] == "executing" and shown["job"]["id"] == job_id
        resumed = wait_for_job(api, api.post(f"/requests/{rid}/run"))
        assert (resumed["state"], resumed["exit_code"]) == ("done", 0), resumed
        assert resumed["id"] != job_id
        assert api.get(f"/requests/{rid}").json()["status"] in (
            "completed", "awaiting_signoff", "partially_completed")
    assert "hannah" not in job["error"].lower()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_leases_and_one_running_job_per_request_in_the_store(isolated_database, backend):
    """A server on another host: its jobs end only by their lease; an owner that finishes
    after all records what really happened; the store itself refuses a second running
    job for a request (two processes racing past the check)."""
    engine = isolated_database(backend).engine()
    elsewhere = "another-host.example.com:4242:abcd"
    moment = datetime.now(UTC)
    create_tables(engine)
    with engine.begin() as conn:
        conn.execute(api_jobs.insert(), [
            {"id": "J-lapsed", "request_id": "R-lapsed", "kind": "plan", "state": "running",
             "started_at": moment, "owner": elsewhere,
             "lease_until": moment - timedelta(seconds=1), "running_for": "R-lapsed"},
            {"id": "J-leased", "request_id": "R-leased", "kind": "run", "state": "running",
             "started_at": moment, "owner": elsewhere,
             "lease_until": moment + timedelta(seconds=5), "running_for": "R-leased"}])
    jobs = Jobs(engine, lambda: pytest.fail("no job runs here"))
    try:
        assert jobs.interrupted == 1  # at start-up
        lapsed = jobs.get("J-lapsed")
        assert lapsed is not None and lapsed.state == "interrupted" and lapsed.finished_at
        assert lapsed.error and "plan it again" in lapsed.error
        leased = jobs.latest("R-leased")
        assert leased is not None and leased.state == "running"  # its lease holds
        with pytest.raises(JobConflict, match="already running"):
            jobs.start("R-leased", "run", lambda flow: 0)
        with pytest.raises(JobConflict, match="already running"):
            jobs._insert("R-leased", "run")  # past the check: the unique column refuses
        assert jobs.get("J-nope") is None
        # the owner renews its lease while the job runs, then finishes it
        jobs.owner = elsewhere
        jobs.mine.add("J-leased")
        jobs.renew()
        with engine.connect() as conn:
            lease = conn.execute(sa.select(api_jobs.c.lease_until).where(
                api_jobs.c.id == "J-leased")).scalar_one()
        assert lease.replace(tzinfo=UTC) > moment + timedelta(seconds=HEARTBEAT * 2)
        with engine.begin() as conn:  # someone guessed it dead meanwhile
            conn.execute(api_jobs.update().where(api_jobs.c.id == "J-leased").values(
                state="interrupted", running_for=None))
        jobs._finish("J-leased", "done", None, 0)
        finished = jobs.get("J-leased")
        assert finished is not None and (finished.state, finished.exit_code) == ("done", 0)
        assert not jobs.mine
    finally:
        jobs.close()
        engine.dispose()
