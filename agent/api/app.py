"""The HTTP API over the request workflow: ``create_app(config) -> FastAPI``.

JSON in and out; every error is ``{"error": message}``. Bearer tokens (``dsr tokens``)
with nested scopes read < approve < admin. Plan and run go to a background worker and
answer 202 with a URL to poll. Identifier values never reach a log event or an error.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any

import structlog
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agent import __version__
from agent.api.jobs import HEARTBEAT, Job, JobConflict, Jobs
from agent.api.opengdpr import (
    RETRY_DELAYS,
    STATUS_POLL,
    OpenGdpr,
    OpenGdprError,
    error_body,
)
from agent.api.tokens import Token, TokenStore
from agent.config import Config, load_config
from agent.errors import DsrError, IdentifierError
from agent.plugins import PluginManager, get_plugin_manager
from agent.receipt_store import ReceiptError
from agent.request import PLANNABLE, RUNNABLE, STATUSES, RequestError
from agent.request import Request as DsrRequest
from agent.workflow import StalePlan, Workflow

log = structlog.get_logger("agent.api")

MAX_BODY = 1024 * 1024  # bytes; larger bodies get 413
RATE_LIMIT = 120  # requests per token per RATE_WINDOW seconds; more get 429
RATE_WINDOW = 60.0


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None
                 ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


# ---------------------------------------------------------------------- bodies
class CreateBody(BaseModel):
    type: str = Field(description="access, portability, erasure, rectify, object, restrict")
    identifiers: dict[str, str | list[str]] = Field(
        description='e.g. {"email": ["jane@example.com"], "name": "Jane Doe"}')
    received: datetime | None = None
    changes: dict[str, str] | None = Field(None, description="rectify: FIELD -> new value")
    by: str | None = None
    awaiting_id: bool | None = Field(
        None, description="ID was asked for: the month counts from the day the check "
                          "completes (default: policy.toml identity_check.ask_on_receipt)")


class IdentityBody(BaseModel):
    documents: list[str]
    by: str = Field(min_length=1)
    lesser_reason: str | None = None
    issued: dict[str, date] | None = Field(
        None, description="the date on a document that must be recent")


class ApproveBody(BaseModel):
    by: str = Field(min_length=1)
    include: list[str] = Field(default_factory=list)
    include_weak: bool = False


class SignoffBody(BaseModel):
    item: str = Field(min_length=1, description="a manual or notify item of the plan")
    by: str = Field(min_length=1)
    note: str | None = Field(None, description="what was done; with failed, why it could "
                                                "not be (then required)")
    failed: bool = Field(False, description="the item could not be done: the request "
                                            "becomes partially_completed")


# ---------------------------------------------------------------------- limits
FAILED_AUTH_LIMIT = 30  # calls without a valid token per client address per window


class RateLimiter:
    """A sliding window per token: at most ``limit`` calls in ``window`` seconds."""

    def __init__(self, limit: int, window: float = RATE_WINDOW) -> None:
        self.limit = limit
        self.window = window
        self.calls: dict[str, deque[float]] = defaultdict(deque)
        self.lock = threading.Lock()

    def check(self, key: str) -> None:
        moment = time.monotonic()
        with self.lock:
            calls = self.calls[key]
            while calls and calls[0] <= moment - self.window:
                calls.popleft()
            if len(calls) >= self.limit:
                wait = max(1, int(calls[0] + self.window - moment) + 1)
                raise ApiError(429, "rate limit exceeded: try again later",
                               {"Retry-After": str(wait)})
            calls.append(moment)


class BodyLimit:
    """ASGI middleware: a body over ``limit`` bytes gets 413, whether or not it says its
    length up front."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            await _too_large(scope, receive, send, self.limit)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                # FastAPI passes an HTTPException from reading the body through as it is
                raise StarletteHTTPException(413, f"request body over {self.limit} bytes")
            return message

        await self.app(scope, limited, send)


async def _too_large(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
    response = JSONResponse({"error": f"request body over {limit} bytes"}, status_code=413,
                            headers={"Connection": "close"})
    await response(scope, receive, send)


# ---------------------------------------------------------------------- the app
def create_app(config: Config | str | Path, *, pm: PluginManager | None = None,
               rate_limit: int = RATE_LIMIT, max_body: int = MAX_BODY,
               callback_delays: Sequence[float] = RETRY_DELAYS,
               status_poll: float = STATUS_POLL, job_heartbeat: float = HEARTBEAT) -> FastAPI:
    pm = pm or get_plugin_manager()
    config = config if isinstance(config, Config) else load_config(
        Path(config), schemes=pm.registry.url_schemes())
    workflow = Workflow(config, pm)
    lock = threading.RLock()  # the shared workflow serves one call at a time
    tokens = TokenStore(workflow.engine.store.engine)
    # jobs an earlier process left running are marked interrupted here, at start-up
    jobs = Jobs(workflow.engine.store.engine, lambda: Workflow(config, pm),
                heartbeat=job_heartbeat)
    limiter = RateLimiter(rate_limit)
    bearer = HTTPBearer(auto_error=False, description="a token from `dsr tokens create`")

    stop = threading.Event()

    def poll_statuses() -> None:
        """OpenGDPR callbacks for status changes made outside this server (the CLI)."""
        while not stop.wait(status_poll):
            try:
                gdpr.poll()
            except Exception as exc:  # the poller must outlive a bad moment of the store
                log.warning("opengdpr_poll_error", error=type(exc).__name__)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        poller = threading.Thread(target=poll_statuses, daemon=True,
                                  name="dsr-opengdpr-poll")
        poller.start()
        yield
        stop.set()
        poller.join(timeout=5)
        jobs.close()
        workflow.close()

    app = FastAPI(title="dsr-agent", version=__version__, lifespan=lifespan,
                  description="Data subject requests: create, verify, plan, approve, run, "
                              "receipts and exports.")
    app.add_middleware(BodyLimit, limit=max_body)
    _add_error_handlers(app)

    # failed logins per client address: guessing tokens is slowed before any check
    refused = RateLimiter(FAILED_AUTH_LIMIT)

    def caller(scope: str) -> Callable[..., Token]:
        def check(http: Request,
                  credentials: HTTPAuthorizationCredentials | None = Depends(bearer)
                  ) -> Token:
            address = http.client.host if http.client else "unknown"
            if credentials is None or credentials.scheme.lower() != "bearer":
                refused.check(address)
                raise ApiError(401, "a bearer token is needed", {"WWW-Authenticate": "Bearer"})
            token = tokens.check(credentials.credentials)
            if token is None:
                refused.check(address)
                raise ApiError(401, "the token is unknown or revoked",
                               {"WWW-Authenticate": "Bearer"})
            limiter.check(token.id)
            if not token.allows(scope):
                raise ApiError(403, f"this token's scope is {token.scope}; {scope} is needed")
            return token
        return check

    reader, approver = caller("read"), caller("approve")

    def locked(func: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any) -> Any:
            with lock:
                return func(*args)
        return call

    gdpr = OpenGdpr(
        engine=workflow.engine.store.engine, get=locked(workflow.get),
        # the controller sending an OpenGDPR request checked the person; nobody here asked
        # them for ID, so the month runs from receipt
        create=locked(lambda kind, pairs, actor: workflow.create(kind, pairs, actor=actor,
                                                                 awaiting_id=False)),
        cancel=locked(lambda rid, actor: workflow.cancel(
            rid, by=actor, reason="cancelled through OpenGDPR")),
        folder=(config.path or config.hmac_key_path).parent / "opengdpr",
        callback_delays=callback_delays, callback_hosts=config.callback_hosts)
    app.include_router(gdpr.router(reader, approver))

    def changed(request_id: str, http: Request) -> Callable[[], None]:
        base = str(http.base_url).rstrip("/")
        gdpr.base_url = base
        return lambda: gdpr.status_changed(request_id, base)

    def found(request_id: str) -> DsrRequest:
        try:
            with lock:
                return workflow.get(request_id)
        except RequestError as exc:
            raise ApiError(404, f"no request {request_id!r}") from exc

    def shown(request_id: str) -> dict[str, Any]:
        out: dict[str, Any] = found(request_id).public()
        job = jobs.latest(request_id)
        if job:
            out["job"] = job.public()
        return out

    @app.post("/requests", status_code=201, tags=["requests"])
    def create(body: CreateBody, token: Token = Depends(approver)) -> dict[str, Any]:
        pairs = _pairs(body.identifiers)
        try:
            with lock:
                made = workflow.create(body.type, pairs, received=body.received,
                                       changes=body.changes, actor=body.by or _actor(token),
                                       awaiting_id=body.awaiting_id)
        except RequestError as exc:  # nothing exists yet to conflict with: the input is bad
            raise ApiError(400, str(exc)) from exc
        log.info("api_request_created", request=made.id, type=made.type, token=token.id)
        return made.public()

    @app.get("/requests", tags=["requests"])
    def list_(status: str | None = None, token: Token = Depends(reader)) -> dict[str, Any]:
        if status is not None and status not in STATUSES:
            raise ApiError(400, f"unknown status; one of {', '.join(STATUSES)}")
        with lock:
            found_ = workflow.requests.list(status=[status] if status else [])
        return {"requests": [r.public() for r in found_]}

    @app.get("/requests/{request_id}", tags=["requests"])
    def show(request_id: str, token: Token = Depends(reader)) -> dict[str, Any]:
        return shown(request_id)

    @app.get("/requests/{request_id}/plan", tags=["requests"])
    def plan_of(request_id: str, token: Token = Depends(reader)) -> dict[str, Any]:
        found(request_id)
        with lock:
            return workflow.view(request_id).public()

    @app.post("/requests/{request_id}/identity", tags=["requests"])
    def identity(request_id: str, body: IdentityBody, token: Token = Depends(approver)
                 ) -> dict[str, Any]:
        found(request_id)
        with lock:
            done = workflow.verify(request_id, body.documents, by=body.by,
                                   lesser_reason=body.lesser_reason, issued=body.issued)
        return done.public()

    @app.post("/requests/{request_id}/plan", status_code=202, tags=["requests"])
    def plan(request_id: str, http: Request, token: Token = Depends(approver)
             ) -> JSONResponse:
        _can(found(request_id), PLANNABLE, "planned")
        actor = _actor(token)

        def work(flow: Workflow) -> int:
            flow.plan(request_id, actor=actor)
            return 0
        return _accepted(_start(jobs, request_id, "plan", work, changed(request_id, http)))

    @app.post("/requests/{request_id}/approve", tags=["requests"])
    def approve(request_id: str, body: ApproveBody, http: Request,
                token: Token = Depends(approver)) -> dict[str, Any]:
        found(request_id)
        with lock:
            view = workflow.approve(request_id, by=body.by, include=body.include,
                                    include_weak=body.include_weak)
        changed(request_id, http)()
        return view.public()

    @app.post("/requests/{request_id}/run", status_code=202, tags=["requests"])
    def run(request_id: str, http: Request, token: Token = Depends(approver)
            ) -> JSONResponse:
        request = _can(found(request_id), RUNNABLE, "run")
        if not request.identity_verified:
            raise ApiError(409, f"request {request_id}: identity not verified "
                                f"({request.identity_required} documents needed)")
        actor = _actor(token)

        def work(flow: Workflow) -> int:
            return flow.run(request_id, actor=actor).exit_code
        return _accepted(_start(jobs, request_id, "run", work, changed(request_id, http)))

    @app.post("/requests/{request_id}/signoff", tags=["requests"])
    def signoff(request_id: str, body: SignoffBody, http: Request,
                token: Token = Depends(approver)) -> dict[str, Any]:
        found(request_id)
        with lock:
            done = workflow.signoff(request_id, body.item, by=body.by, note=body.note,
                                    failed=body.failed)
        changed(request_id, http)()
        return done.public()

    @app.get("/requests/{request_id}/receipt", tags=["requests"])
    def receipt(request_id: str, token: Token = Depends(reader)) -> dict[str, Any]:
        found(request_id)
        try:
            with lock:
                return workflow.receipts.document(request_id)
        except ReceiptError as exc:
            raise ApiError(404, f"request {request_id} has no receipt yet") from exc

    @app.get("/requests/{request_id}/export", tags=["requests"],
             responses={200: {"content": {"application/json": {}}}})
    def export(request_id: str, token: Token = Depends(reader)) -> FileResponse:
        request = found(request_id)
        path = request.result.get("export") if request.result else None
        if request.type not in ("access", "portability") or not path or \
                not Path(path).is_file():
            raise ApiError(404, f"request {request_id} has no export")
        log.info("api_export_downloaded", request=request_id, token=token.id)
        return FileResponse(path, media_type="application/json",
                            filename=f"{request_id}.json")

    @app.get("/jobs/{job_id}", tags=["jobs"])
    def job(job_id: str, token: Token = Depends(reader)) -> dict[str, Any]:
        known = jobs.get(job_id)
        if known is None:
            raise ApiError(404, f"no job {job_id!r}")
        return known.public()

    return app


# what the workflow accepts (PLANNABLE, RUNNABLE from agent.request), checked up front so a
# hopeless job is a 409, not a failed job


def _can(request: DsrRequest, statuses: Sequence[str], step: str) -> DsrRequest:
    if request.status not in statuses:
        raise ApiError(409, f"request {request.id} is {request.status}: it cannot be "
                            f"{step} now")
    return request


def _pairs(identifiers: Mapping[str, str | list[str]]) -> list[tuple[str, object]]:
    pairs: list[tuple[str, object]] = []
    for kind, values in identifiers.items():
        for value in [values] if isinstance(values, str) else values:
            pairs.append((kind, value))
    return pairs


def _actor(token: Token) -> str:
    return f"api:{token.name}"


def _start(jobs: Jobs, request_id: str, kind: str, work: Callable[[Workflow], int],
           then: Callable[[], None]) -> Job:
    try:
        return jobs.start(request_id, kind, work, then)
    except JobConflict as exc:
        raise ApiError(409, str(exc)) from exc


def _accepted(job: Job) -> JSONResponse:
    url = f"/requests/{job.request_id}"
    return JSONResponse({"job": job.public(), "status_url": url, "job_url": f"/jobs/{job.id}"},
                        status_code=202, headers={"Location": url})


OPENGDPR_PATHS = ("/opengdpr_requests", "/discovery", "/opengdpr/")


def _error(http: Request, status: int, message: str,
           headers: Mapping[str, str] | None = None, reason: str = "invalid") -> JSONResponse:
    """``{"error": message}``; on the OpenGDPR endpoints the OpenGDPR error body."""
    body: dict[str, Any] = {"error": message}
    if http.url.path.startswith(OPENGDPR_PATHS):
        body = error_body(status, message, reason)
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(http: Request, exc: ApiError) -> JSONResponse:
        return _error(http, exc.status, exc.message, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(http: Request, exc: RequestValidationError) -> JSONResponse:
        # name where and why, never the input (it may be an identifier value)
        problems = ["/".join(str(p) for p in e.get("loc", ())) + ": " + str(e.get("msg"))
                    for e in exc.errors()[:5]]
        return _error(http, 400, "invalid request: " + "; ".join(problems))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(http: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(http, exc.status_code, str(exc.detail), exc.headers)

    @app.exception_handler(OpenGdprError)
    async def opengdpr_error(http: Request, exc: OpenGdprError) -> JSONResponse:
        return _error(http, exc.status, exc.message, reason=exc.reason)

    @app.exception_handler(StalePlan)
    async def stale(http: Request, exc: StalePlan) -> JSONResponse:
        return _error(http, 409, str(exc))

    @app.exception_handler(IdentifierError)
    async def bad_identifier(http: Request, exc: IdentifierError) -> JSONResponse:
        return _error(http, 400, str(exc), reason="invalid_identity")

    @app.exception_handler(DsrError)
    async def refused(http: Request, exc: DsrError) -> JSONResponse:
        status = 409 if isinstance(exc, RequestError) else 400
        return _error(http, status, str(exc))
