"""Plan and run jobs of the HTTP API: a worker thread, and a record of each job in the state
store (table ``dsr_api_jobs``) so a job outlives the server that ran it.

Each server process is an *owner* (host, pid and a random part) that renews a lease on the
jobs it is running. A running job whose owner is gone (a dead process on this host, this
host's own earlier incarnation, or a lease left to expire) is marked ``interrupted``: the
request itself stays where the job left it, and planning or running again resumes it.
At most one job runs per request, across every process sharing the store: a running job
holds its request's id in a unique column (``running_for``).
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Connection, Engine

from agent.errors import DsrError
from agent.request_store import new_id
from agent.store import create_tables, metadata
from agent.workflow import Workflow

log = structlog.get_logger("agent.api")

HEARTBEAT = 10.0  # seconds between renewals of the lease on this process's running jobs
LEASES = 3  # a lease lasts this many heartbeats: a stalled renewal or two is no death
STATES = ("running", "done", "failed", "interrupted")

api_jobs = sa.Table(
    "dsr_api_jobs", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("request_id", sa.String(40), nullable=False, index=True),
    sa.Column("kind", sa.String(10), nullable=False),  # plan | run
    sa.Column("state", sa.String(20), nullable=False, index=True),  # STATES
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Column("error", sa.Text),
    sa.Column("exit_code", sa.Integer),
    sa.Column("owner", sa.String(300), nullable=False),  # host:pid:random of the server
    sa.Column("lease_until", sa.DateTime(timezone=True), nullable=False),
    # the request id while running, else null: unique, so one running job per request
    sa.Column("running_for", sa.String(40), unique=True),
)


class JobConflict(DsrError):
    """A plan or run job is already running for the request."""


@dataclass
class Job:
    id: str
    request_id: str
    kind: str  # plan | run
    state: str  # running | done | failed | interrupted
    started_at: str
    finished_at: str | None = None
    error: str | None = None
    exit_code: int | None = None

    def public(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def interrupted_error(kind: str) -> str:
    again = "run it again to resume" if kind == "run" else "plan it again"
    return f"the server stopped while this {kind} job ran; the request is resumable: {again}"


class Jobs:
    """Plan and run on one worker thread, each with its own Workflow (and connections);
    every job recorded in the state store."""

    def __init__(self, engine: Engine, make_workflow: Callable[[], Workflow], *,
                 heartbeat: float = HEARTBEAT) -> None:
        create_tables(engine)
        self.engine = engine
        self.make_workflow = make_workflow
        self.heartbeat = heartbeat
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dsr-api-job")
        self.lock = threading.Lock()
        self.mine: set[str] = set()  # ids of this process's running jobs
        self.stop = threading.Event()
        self.renewer: threading.Thread | None = None
        self.interrupted = self.sweep()  # jobs an earlier process left running

    # ------------------------------------------------------------------ reading
    def get(self, job_id: str) -> Job | None:
        row = self._row(api_jobs.c.id == job_id)
        if row is not None and self._orphaned(row):
            self._interrupt(row)
            row = self._row(api_jobs.c.id == job_id)
        return _job(row) if row is not None else None

    def latest(self, request_id: str) -> Job | None:
        """The request's most recent job, or None."""
        where = api_jobs.c.request_id == request_id
        row = self._row(where)
        if row is not None and self._orphaned(row):
            self._interrupt(row)
            row = self._row(where)
        return _job(row) if row is not None else None

    def _row(self, where: Any) -> Mapping[str, Any] | None:
        query = sa.select(api_jobs).where(where).order_by(api_jobs.c.started_at.desc(),
                                                          api_jobs.c.id.desc()).limit(1)
        with self.engine.connect() as conn:
            return conn.execute(query).mappings().first()

    # ------------------------------------------------------------------ orphans
    def sweep(self) -> int:
        """Mark ``interrupted`` every running job whose owner is gone; how many."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(api_jobs).where(api_jobs.c.state == "running")
                                ).mappings().all()
        done = sum(self._interrupt(r) for r in rows if self._orphaned(r))
        if done:
            log.warning("api_jobs_interrupted", count=done)
        return done

    def _orphaned(self, row: Mapping[str, Any]) -> bool:
        if row["state"] != "running" or row["owner"] == self.owner:
            return False
        if _aware(row["lease_until"]) < _now():
            return True
        host, pid, _ = [*row["owner"].rsplit(":", 2), "", ""][:3]
        if host != socket.gethostname() or not pid.isdigit():
            return False  # another host: only its lease tells
        # this host: our own pid is an earlier incarnation (a restarted container)
        return int(pid) == os.getpid() or not _alive(int(pid))

    def _interrupt(self, row: Mapping[str, Any]) -> bool:
        # only if nobody finished or renewed it since it was read
        with self.engine.begin() as conn:
            done = conn.execute(api_jobs.update().where(
                api_jobs.c.id == row["id"], api_jobs.c.state == "running",
                api_jobs.c.owner == row["owner"],
                api_jobs.c.lease_until == row["lease_until"]).values(
                state="interrupted", finished_at=_now(), running_for=None,
                error=interrupted_error(row["kind"]))).rowcount
        if done:
            log.info("api_job_interrupted", job=row["id"], kind=row["kind"],
                     request=row["request_id"])
        return bool(done)

    # ------------------------------------------------------------------ running
    def start(self, request_id: str, kind: str, work: Callable[[Workflow], int],
              then: Callable[[], None] | None = None) -> Job:
        """Record and queue a job; JobConflict when one already runs for the request."""
        with self.lock:
            current = self.latest(request_id)  # interrupts an orphan first
            if current is not None and current.state == "running":
                raise JobConflict(_busy(current))
            job = self._insert(request_id, kind)
            self.mine.add(job.id)
            self._renewing()
        self.pool.submit(self._run, job, work, then)
        return job

    def _insert(self, request_id: str, kind: str) -> Job:
        for _ in range(5):
            started = _now()
            job = Job(id=new_id("J"), request_id=request_id, kind=kind, state="running",
                      started_at=started.isoformat())
            try:
                with self.engine.begin() as conn:
                    conn.execute(api_jobs.insert().values(
                        id=job.id, request_id=request_id, kind=kind, state="running",
                        started_at=started, owner=self.owner, lease_until=self._lease(),
                        running_for=request_id))
                return job
            except sa.exc.IntegrityError:
                # another process started one for this request, or (rarely) the id is taken
                current = self._row(sa.and_(api_jobs.c.request_id == request_id,
                                            api_jobs.c.state == "running"))
                if current is not None:
                    raise JobConflict(_busy(_job(current))) from None
        raise DsrError("could not record the job (id collisions); try again")

    def _run(self, job: Job, work: Callable[[Workflow], int],
             then: Callable[[], None] | None) -> None:
        state, error, code = "failed", None, None
        workflow: Workflow | None = None
        try:
            workflow = self.make_workflow()
            code, state = work(workflow), "done"
        except DsrError as exc:
            error = str(exc)
        except Exception as exc:  # a bug: the job fails, the server stays up
            log.exception("api_job_crashed", job=job.id, kind=job.kind)
            error = f"internal error ({type(exc).__name__})"
        finally:
            if workflow is not None:
                workflow.close()
        log.info("api_job_finished", job=job.id, kind=job.kind, request=job.request_id,
                 state=state)
        if then is not None:
            try:
                then()
            except Exception:  # a callback's trouble must not hide the job's outcome
                log.exception("api_job_followup_failed", job=job.id)
        # the state goes last: a poller that sees it finished sees everything above done
        self._finish(job.id, state, error, code)

    def _finish(self, job_id: str, state: str, error: str | None, code: int | None) -> None:
        # by owner, whatever the state: what really happened beats an "interrupted" guess
        try:
            with self.engine.begin() as conn:
                conn.execute(api_jobs.update().where(
                    api_jobs.c.id == job_id, api_jobs.c.owner == self.owner).values(
                    state=state, error=error, exit_code=code, finished_at=_now(),
                    running_for=None))
        except sa.exc.SQLAlchemyError as exc:  # the next start-up sweep marks it instead
            log.error("api_job_unrecorded", job=job_id, error=type(exc).__name__)
        finally:
            with self.lock:
                self.mine.discard(job_id)

    # ------------------------------------------------------------------ leases
    def _lease(self) -> datetime:
        return _now() + timedelta(seconds=self.heartbeat * LEASES)

    def _renewing(self) -> None:
        if self.renewer is None:
            self.renewer = threading.Thread(target=self._renew_loop, daemon=True,
                                            name="dsr-api-job-lease")
            self.renewer.start()

    def _renew_loop(self) -> None:
        while not self.stop.wait(self.heartbeat):
            try:
                self.renew()
            except Exception as exc:  # the renewer must outlive a bad moment of the store
                log.warning("api_job_lease_error", error=type(exc).__name__)

    def renew(self) -> None:
        with self.lock:
            ids = sorted(self.mine)
        if not ids:
            return
        with self.engine.begin() as conn:
            _extend(conn, ids, self.owner, self._lease())

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.stop.set()
        if self.renewer is not None:
            self.renewer.join(timeout=5)
        with self.lock:
            left = sorted(self.mine)  # queued and cancelled: they never ran
        for job_id in left:
            row = self._row(api_jobs.c.id == job_id)
            if row is not None:
                self._finish(job_id, "interrupted", interrupted_error(row["kind"]), None)


def _extend(conn: Connection, ids: list[str], owner: str, until: datetime) -> None:
    conn.execute(api_jobs.update().where(
        api_jobs.c.id.in_(ids), api_jobs.c.owner == owner, api_jobs.c.state == "running"
    ).values(lease_until=until))


def _busy(job: Job) -> str:
    return f"a {job.kind} job is already running for request {job.request_id}"


def _job(row: Mapping[str, Any]) -> Job:
    return Job(id=row["id"], request_id=row["request_id"], kind=row["kind"],
               state=row["state"], started_at=_aware(row["started_at"]).isoformat(),
               finished_at=_iso(row["finished_at"]), error=row["error"],
               exit_code=row["exit_code"])


def _alive(pid: int) -> bool:
    if os.name != "posix":
        return True  # no cheap check: the lease decides
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; they were stored as UTC
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _iso(value: datetime | None) -> str | None:
    return _aware(value).isoformat() if value is not None else None
