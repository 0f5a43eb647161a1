"""OpenGDPR endpoints over the request workflow: discovery, create, status, cancel, and
status callbacks signed with RSA-SHA256 (``X-OpenGDPR-Signature``, base64) and retried
with backoff.

An OpenGDPR request becomes an ordinary dsr request; identity, plan, approve and run
are still done by people (the API or the CLI). Callbacks go out when a step taken
through this server changes the OpenGDPR status (pending, in_progress, completed,
cancelled).
"""

from __future__ import annotations

import base64
import fnmatch
import json
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import sqlalchemy as sa
import structlog
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.engine import Engine

from agent.api.tokens import Token
from agent.errors import DsrError
from agent.request import Request as DsrRequest
from agent.store import create_tables, metadata

log = structlog.get_logger("agent.api.opengdpr")

API_VERSION = "0.1"
CONTROLLER_ID = "dsr-agent"
IDENTITY_TYPES = {"email": "email", "phone_number": "phone"}  # OpenGDPR -> dsr
REQUEST_TYPES = ("erasure", "access", "portability")
RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0)  # seconds before each retry of a failed callback
STATUS_POLL = 15.0  # seconds between checks for status changes made outside the server
FINAL_STATUSES = ("completed", "cancelled")

opengdpr_requests = sa.Table(
    "dsr_opengdpr_requests", metadata,
    sa.Column("subject_request_id", sa.String(64), primary_key=True),
    sa.Column("request_id", sa.String(40), nullable=False, unique=True),
    sa.Column("callback_urls", sa.Text, nullable=False),  # JSON list
    sa.Column("last_status", sa.String(20)),  # the status last called back
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
)


class Identity(BaseModel):
    identity_type: str
    identity_value: str = Field(min_length=1, max_length=500)
    identity_format: Literal["raw"] = "raw"


class OpenGdprBody(BaseModel):
    subject_request_id: str = Field(min_length=1, max_length=64)
    subject_request_type: Literal["erasure", "access", "portability"]
    submitted_time: datetime | None = None
    subject_identities: list[Identity] = Field(min_length=1, max_length=20)
    api_version: str = API_VERSION
    property_id: str | None = None
    status_callback_urls: list[str] = Field(default_factory=list, max_length=5)


class OpenGdprError(Exception):
    def __init__(self, status: int, message: str, reason: str = "invalid") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.reason = reason


def error_body(status: int, message: str, reason: str = "invalid") -> dict[str, Any]:
    """The OpenGDPR error form (after the Google JSON style guide the spec follows)."""
    return {"error": {"code": status, "message": message,
                      "errors": [{"domain": "OpenGDPR", "reason": reason,
                                  "message": message}]}}


# our statuses as OpenGDPR's: nothing has been changed or disclosed before `executing`
PENDING = ("received", "identity_pending", "verified", "searching", "planned",
           "disclosure_review", "approved")
IN_PROGRESS = ("executing", "verifying", "awaiting_signoff", "partially_completed")


def opengdpr_status(status: str) -> str:
    if status in PENDING:
        return "pending"
    if status in IN_PROGRESS:
        return "in_progress"
    return "cancelled" if status in ("refused", "cancelled") else "completed"


# ---------------------------------------------------------------------- signing
class CallbackSigner:
    """The RSA key callbacks are signed with and its self-signed certificate, made on first
    use beside the configuration (the key file mode 0600)."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        key_path, cert_path = folder / "callback-key.pem", folder / "callback-cert.pem"
        if not key_path.exists():
            _write_key_pair(key_path, cert_path)
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        assert isinstance(key, rsa.RSAPrivateKey)
        self.key = key
        self.certificate = cert_path.read_bytes()

    def sign(self, body: bytes) -> str:
        signature = self.key.sign(body, padding.PKCS1v15(), hashes.SHA256())
        return base64.b64encode(signature).decode("ascii")


def _write_key_pair(key_path: Path, cert_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dsr-agent OpenGDPR callbacks")])
    start = datetime.now(UTC) - timedelta(minutes=5)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + timedelta(days=3650))
            .sign(key, hashes.SHA256()))
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


# ---------------------------------------------------------------------- callbacks
class Callbacks:
    """Sends each callback on its own daemon thread, retrying with backoff."""

    def __init__(self, signer: CallbackSigner, domain: str,
                 delays: Sequence[float] = RETRY_DELAYS, timeout: float = 10.0) -> None:
        self.signer = signer
        self.domain = domain
        self.delays = tuple(delays)
        self.timeout = timeout

    def send(self, url: str, document: dict[str, Any]) -> threading.Thread:
        body = json.dumps(document, separators=(",", ":")).encode("utf-8")
        thread = threading.Thread(target=self._deliver, args=(url, body), daemon=True,
                                  name="dsr-opengdpr-callback")
        thread.start()
        return thread

    def _deliver(self, url: str, body: bytes) -> bool:
        headers = {"Content-Type": "application/json",
                   "X-OpenGDPR-Signature": self.signer.sign(body),
                   "X-OpenGDPR-Processor-Domain": self.domain}
        for attempt, delay in enumerate((0.0, *self.delays), start=1):
            time.sleep(delay)
            try:
                post = urllib.request.Request(url, data=body, headers=headers, method="POST")
                with urllib.request.urlopen(post, timeout=self.timeout) as answer:
                    if 200 <= answer.status < 300:
                        return True
            except (urllib.error.URLError, OSError) as exc:
                # the URL's host is the controller's, not personal data; keep it out anyway
                log.warning("opengdpr_callback_failed", attempt=attempt,
                            error=type(exc).__name__)
        log.error("opengdpr_callback_gave_up", attempts=len(self.delays) + 1)
        return False


# ---------------------------------------------------------------------- the store
class OpenGdprStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        create_tables(engine)

    def add(self, subject_request_id: str, request_id: str, urls: Sequence[str]) -> None:
        with self.engine.begin() as conn:
            conn.execute(opengdpr_requests.insert().values(
                subject_request_id=subject_request_id, request_id=request_id,
                callback_urls=json.dumps(list(urls)), received_at=datetime.now(UTC)))

    def get(self, subject_request_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(opengdpr_requests).where(
                opengdpr_requests.c.subject_request_id == subject_request_id)).mappings().first()
        return dict(row) if row else None

    def by_request(self, request_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(opengdpr_requests).where(
                opengdpr_requests.c.request_id == request_id)).mappings().first()
        return dict(row) if row else None

    def open_requests(self) -> list[str]:
        """Request ids whose last called-back status is not final."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(opengdpr_requests.c.request_id).where(sa.or_(
                opengdpr_requests.c.last_status.is_(None),
                opengdpr_requests.c.last_status.not_in(FINAL_STATUSES))))
            return [r[0] for r in rows]

    def mark(self, subject_request_id: str, status: str) -> bool:
        """Record ``status`` as called back; False when it already was."""
        with self.engine.begin() as conn:
            done = conn.execute(opengdpr_requests.update().where(
                opengdpr_requests.c.subject_request_id == subject_request_id,
                sa.or_(opengdpr_requests.c.last_status.is_(None),
                       opengdpr_requests.c.last_status != status))
                .values(last_status=status)).rowcount
        return bool(done)


# ---------------------------------------------------------------------- the routes
class OpenGdpr:
    """The OpenGDPR side of one app: its routes, its store and its callbacks."""

    def __init__(self, *, engine: Engine, get: Callable[[str], DsrRequest],
                 create: Callable[[str, list[tuple[str, object]], str], DsrRequest],
                 cancel: Callable[[str, str], DsrRequest], folder: Path,
                 callback_delays: Sequence[float] = RETRY_DELAYS,
                 callback_hosts: Sequence[str] = ()) -> None:
        self.store = OpenGdprStore(engine)
        self.get_request, self.create_request, self.cancel_request = get, create, cancel
        self.signer = CallbackSigner(folder)
        self.callbacks = Callbacks(self.signer, CONTROLLER_ID, callback_delays)
        self.base_url = ""  # the server's address as callers reach it (for results_url)
        self.callback_hosts = tuple(callback_hosts)

    def status_changed(self, request_id: str, base_url: str = "") -> None:
        """Call back if the request's OpenGDPR status moved since the last callback."""
        row = self.store.by_request(request_id)
        if row is None:
            return
        request = self.get_request(request_id)
        status = opengdpr_status(request.status)
        if not self.store.mark(row["subject_request_id"], status):
            return
        for url in json.loads(row["callback_urls"]):
            document = {**self._status(row, request, base_url), "status_callback_url": url}
            self.callbacks.send(url, document)

    def poll(self, base_url: str = "") -> int:
        """Call back every open OpenGDPR request whose status moved, whoever moved it (the
        CLI, another process): the server polls this. Returns how many were checked."""
        checked = 0
        for request_id in self.store.open_requests():
            try:
                self.status_changed(request_id, base_url or self.base_url)
            except DsrError as exc:  # a request gone or unreadable: try again next time
                log.warning("opengdpr_poll_failed", error=type(exc).__name__)
            checked += 1
        return checked

    def _status(self, row: dict[str, Any], request: DsrRequest, base_url: str
                ) -> dict[str, Any]:
        status = opengdpr_status(request.status)
        out = {"controller_id": CONTROLLER_ID,
               "expected_completion_time": _deadline(request),
               "subject_request_id": row["subject_request_id"], "request_status": status,
               "api_version": API_VERSION}
        if status == "completed" and request.type in ("access", "portability"):
            out["results_url"] = f"{base_url}/requests/{request.id}/export"
        return out

    def router(self, reader: Callable[..., Token], approver: Callable[..., Token]
               ) -> APIRouter:
        router = APIRouter(tags=["opengdpr"])

        @router.get("/discovery")
        def discovery(http: Request) -> dict[str, Any]:
            return {"api_version": API_VERSION,
                    "supported_identities": [{"identity_type": t, "identity_format": "raw"}
                                             for t in IDENTITY_TYPES],
                    "supported_subject_request_types": list(REQUEST_TYPES),
                    "processor_certificate": _base(http) + "/opengdpr/certificate.pem"}

        @router.get("/opengdpr/certificate.pem", response_class=Response)
        def certificate() -> Response:
            return Response(self.signer.certificate, media_type="application/x-pem-file")

        @router.post("/opengdpr_requests", status_code=201)
        def create(body: OpenGdprBody, http: Request, token: Token = Depends(approver)
                   ) -> JSONResponse:
            pairs = [(_identity_type(i.identity_type), i.identity_value)
                     for i in body.subject_identities]
            for url in body.status_callback_urls:
                if not url.startswith(("http://", "https://")):
                    raise OpenGdprError(400, "a status_callback_url must be http(s)")
                if not callback_allowed(url, self.callback_hosts):
                    raise OpenGdprError(400, "a status_callback_url's host is not in "
                                             "[agent] callback_hosts")
            if self.store.get(body.subject_request_id):
                raise OpenGdprError(409, "subject_request_id already used", "duplicate")
            request = self.create_request(body.subject_request_type, pairs,
                                          f"api:{token.name} (OpenGDPR)")
            self.store.add(body.subject_request_id, request.id, body.status_callback_urls)
            self.status_changed(request.id, _base(http))
            raw = json.dumps(body.model_dump(mode="json"), separators=(",", ":"))
            return JSONResponse({
                "controller_id": CONTROLLER_ID,
                "expected_completion_time": _deadline(request),
                "received_time": request.received_at.isoformat(),
                "encoded_request": base64.b64encode(raw.encode("utf-8")).decode("ascii"),
                "subject_request_id": body.subject_request_id}, status_code=201)

        @router.get("/opengdpr_requests/{subject_request_id}")
        def status(subject_request_id: str, http: Request, token: Token = Depends(reader)
                   ) -> dict[str, Any]:
            row = self._row(subject_request_id)
            return self._status(row, self.get_request(row["request_id"]), _base(http))

        @router.delete("/opengdpr_requests/{subject_request_id}", status_code=202)
        def cancel(subject_request_id: str, http: Request, token: Token = Depends(approver)
                   ) -> JSONResponse:
            row = self._row(subject_request_id)
            request = self.get_request(row["request_id"])
            if opengdpr_status(request.status) != "pending":
                raise OpenGdprError(409, "only a pending request can be cancelled",
                                    "not_pending")
            self.cancel_request(request.id, f"api:{token.name} (OpenGDPR)")
            self.status_changed(request.id, _base(http))
            return JSONResponse({"controller_id": CONTROLLER_ID,
                                 "subject_request_id": subject_request_id,
                                 "received_time": request.received_at.isoformat(),
                                 "api_version": API_VERSION}, status_code=202)

        return router

    def _row(self, subject_request_id: str) -> dict[str, Any]:
        row = self.store.get(subject_request_id)
        if row is None:
            raise OpenGdprError(404, "no such subject_request_id", "not_found")
        return row


def callback_allowed(url: str, hosts: Sequence[str]) -> bool:
    """Whether ``url``'s host (and port) is one the operator allowed: the server must not
    be made to send requests anywhere an API token's holder names."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if not host:
        return False
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return False
    return any(fnmatch.fnmatchcase(f"{host}:{port}", pattern) if ":" in pattern
               else fnmatch.fnmatchcase(host, pattern) for pattern in hosts)


def _identity_type(kind: str) -> str:
    if kind not in IDENTITY_TYPES:
        raise OpenGdprError(400, f"unsupported identity_type; one of "
                                 f"{', '.join(IDENTITY_TYPES)}", "unsupported_identity")
    return IDENTITY_TYPES[kind]


def _deadline(request: DsrRequest) -> str:
    return datetime.combine(request.deadline, datetime.min.time(), UTC).isoformat()


def _base(http: Request) -> str:
    return str(http.base_url).rstrip("/")
