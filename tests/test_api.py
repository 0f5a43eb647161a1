"""The HTTP API over a real uvicorn server on 127.0.0.1: the request lifecycle end to end,
tokens and scopes, the error paths (400/401/403/404/409/413/429) and schemathesis against
the served OpenAPI spec."""

from __future__ import annotations

import base64
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import uvicorn
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from agent import logging as dsr_logging
from agent.api import create_app
from agent.api.tokens import TokenStore
from agent.cli import main
from agent.config import load_config
from agent.plugins import get_plugin_manager
from agent.workflow import Workflow
from tests.request_support import Estate, make_estate

HANNAH = {"email": ["hannah.quigley@example.com"]}  # erased here
KWAME = {"email": "kwame.asante@example.com", "phone": ["07700 900061"]}  # only read
# examples per endpoint for schemathesis; raise it locally to fuzz harder
FUZZ_EXAMPLES = int(os.environ.get("DSR_API_FUZZ_EXAMPLES", "15"))
DOCS = {"documents": ["passport", "driving_licence"], "by": "A. Clerk"}


class Server:
    """uvicorn in a thread on a free port; bounded waits to start and stop."""

    def __init__(self, app: Any) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                    log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def estate(tmp_path_factory: pytest.TempPathFactory) -> Estate:
    return make_estate(tmp_path_factory.mktemp("api") / "estate", manual=False,
                       agent_extra='callback_hosts = ["127.0.0.1:*"]')


@pytest.fixture(scope="module")
def tokens(estate: Estate) -> dict[str, str]:
    workflow = estate.workflow()
    try:
        made = TokenStore(workflow.engine.store.engine)
        return {scope: made.create(f"test-{scope}", scope)[1]
                for scope in ("read", "approve", "admin")}
    finally:
        workflow.close()


@pytest.fixture(scope="module")
def server(estate: Estate, tokens: dict[str, str]) -> Iterator[Server]:
    app = create_app(estate.config_path, rate_limit=10_000, callback_delays=(0.05, 0.1, 0.2))
    with Server(app) as running:
        yield running


def client(server: Server, scope: str | None, tokens: dict[str, str]) -> httpx.Client:
    headers = {"Authorization": f"Bearer {tokens[scope]}"} if scope else {}
    return httpx.Client(base_url=server.url, headers=headers, timeout=30)


def wait_for_job(api: httpx.Client, answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code == 202, answer.text
    assert answer.headers["location"] == answer.json()["status_url"]
    deadline = time.monotonic() + 30
    while True:
        job = api.get(answer.json()["job_url"]).json()
        if job["state"] != "running":
            return job
        assert time.monotonic() < deadline, "job did not finish"
        time.sleep(0.05)


def lifecycle(api: httpx.Client, kind: str, person: dict[str, Any]) -> dict[str, Any]:
    made = api.post("/requests", json={"type": kind, "identifiers": person, "by": "A. Clerk"})
    assert made.status_code == 201, made.text
    return drive(api, made.json()["id"])


def drive(api: httpx.Client, rid: str) -> dict[str, Any]:
    """identity -> plan -> approve -> run -> sign-offs: a request to completed."""
    verified = api.post(f"/requests/{rid}/identity", json=DOCS)
    assert verified.json()["identity"]["verified"] is True
    assert wait_for_job(api, api.post(f"/requests/{rid}/plan"))["state"] == "done"
    assert api.get(f"/requests/{rid}").json()["status"] in ("planned", "disclosure_review")
    assert api.get(f"/requests/{rid}/plan").json()["actions"]
    approved = api.post(f"/requests/{rid}/approve", json={"by": "D. P. Officer"})
    assert approved.status_code == 200 and approved.json()["state"] == "approved"
    job = wait_for_job(api, api.post(f"/requests/{rid}/run"))
    assert (job["state"], job["exit_code"]) == ("done", 0), job
    shown = api.get(f"/requests/{rid}").json()
    for item in shown["result"]["signoffs_pending"]:  # the agency told, by hand
        signed = api.post(f"/requests/{rid}/signoff",
                          json={"item": item, "by": "A. Clerk", "note": "e-mailed"})
        assert signed.status_code == 200, signed.text
    shown = api.get(f"/requests/{rid}").json()
    assert shown["status"] == "completed" and shown["job"]["kind"] == "run"
    return shown


@pytest.fixture
def logged() -> Iterator[io.StringIO]:
    """The project's log lines, configured as `dsr serve` has them."""
    out = io.StringIO()
    dsr_logging.configure("info", stream=out)
    yield out
    dsr_logging.configure("info")


def test_erasure_end_to_end_with_a_signed_receipt(server, tokens, logged):
    with client(server, "approve", tokens) as api:
        request = lifecycle(api, "erasure", HANNAH)
        receipt = api.get(f"/requests/{request['id']}/receipt")
        assert receipt.status_code == 200
        body = receipt.json()
        assert body["receipt"]["request"]["id"] == request["id"]
        assert body["receipt"]["request"]["status"] == "completed"
        assert body["signature"] and body["ledger"]["inclusion_proof"] is not None
        assert "hannah" not in receipt.text.lower()
        # an erasure has no export
        assert api.get(f"/requests/{request['id']}/export").status_code == 404
        listed = api.get("/requests", params={"status": "completed"}).json()["requests"]
        assert request["id"] in {r["id"] for r in listed}
    assert "api_job_finished" in logged.getvalue()  # logs were written, with no identifier
    assert "hannah" not in logged.getvalue().lower()


def test_access_request_export_downloads(server, tokens):
    with client(server, "approve", tokens) as api:
        request = lifecycle(api, "access", KWAME)
    with client(server, "read", tokens) as reader:
        export = reader.get(f"/requests/{request['id']}/export")
        assert export.status_code == 200
        document = export.json()
        assert document["request"] == request["id"]
        crm = document["systems"]["crm"]
        emails = {row.get("email") for row in crm["contacts"]}
        assert "kwame.asante@example.com" in emails
        assert reader.get(f"/requests/{request['id']}/receipt").status_code == 200


def test_tokens_are_checked_and_scopes_enforced(server, tokens):
    body = {"type": "erasure", "identifiers": HANNAH}
    with client(server, None, tokens) as anonymous:
        answer = anonymous.get("/requests")
        assert answer.status_code == 401 and answer.headers["www-authenticate"] == "Bearer"
        assert set(answer.json()) == {"error"}
        assert anonymous.get("/requests", headers={"Authorization": "Bearer dsr_nope"}
                             ).status_code == 401
        assert anonymous.get("/requests", headers={"Authorization": "Basic eDp5"}
                             ).status_code == 401
    with client(server, "read", tokens) as reader:
        assert reader.get("/requests").status_code == 200
        denied = reader.post("/requests", json=body)
        assert denied.status_code == 403 and "approve" in denied.json()["error"]
    with client(server, "admin", tokens) as admin:
        assert admin.post("/requests", json=body).status_code == 201


def test_revoked_token_gets_401(server, estate, tokens, capsys):
    config = ["--config", str(estate.config_path)]
    assert main([*config, "tokens", "create", "--name", "short-lived", "--scope", "read",
                 "--json"]) == 0
    made = json.loads(capsys.readouterr().out)
    headers = {"Authorization": f"Bearer {made['token']}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=10) as api:
        assert api.get("/requests").status_code == 200
        assert main([*config, "tokens", "revoke", made["id"], "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["revoked_at"]
        assert api.get("/requests").status_code == 401
    assert main([*config, "tokens", "list", "--json"]) == 0
    listed = {t["id"]: t for t in json.loads(capsys.readouterr().out)}
    assert listed[made["id"]]["last_used_at"] and "token" not in listed[made["id"]]
    assert made["token"] not in json.dumps(listed)
    assert main([*config, "tokens", "revoke", "T-000000000000"]) == 1
    assert "no token" in capsys.readouterr().err


def test_bad_input_gets_400_without_echoing_values(server, tokens):
    with client(server, "approve", tokens) as api:
        bad_json = api.post("/requests", content=b'{"type": "erasure", ',
                            headers={"Content-Type": "application/json"})
        assert bad_json.status_code == 400 and set(bad_json.json()) == {"error"}
        unknown = api.post("/requests", json={"type": "erasure",
                                              "identifiers": {"shoe_size": "07700 900123"}})
        assert unknown.status_code == 400 and "unknown identifier type" in unknown.text
        assert "900123" not in unknown.text
        invalid = api.post("/requests", json={"type": "erasure",
                                              "identifiers": {"email": "not-an-address"}})
        assert invalid.status_code == 400 and "not-an-address" not in invalid.text
        wrong_type = api.post("/requests", json={"type": "delete-me", "identifiers": HANNAH})
        assert wrong_type.status_code == 400 and "unknown request type" in wrong_type.text
        missing = api.post("/requests", json={"type": "erasure"})
        assert missing.status_code == 400 and "identifiers" in missing.json()["error"]
        assert api.get("/requests", params={"status": "lost"}).status_code == 400
        assert api.get("/requests/R-nope").status_code == 404
        assert api.post("/requests/R-nope/run").status_code == 404
        assert api.get("/jobs/J999999").status_code == 404
        # a step out of order is a conflict, not a crash
        made = api.post("/requests", json={"type": "erasure", "identifiers": HANNAH}).json()
        rid = made["id"]
        assert made["clock"]["awaiting_id"] is True  # the example policy asks on receipt
        told = api.post("/requests", json={"type": "erasure", "identifiers": HANNAH,
                                           "awaiting_id": False}).json()
        assert "clock" not in told
        early = api.post(f"/requests/{rid}/approve", json={"by": "D. P. Officer"})
        assert early.status_code == 409 and set(early.json()) == {"error"}
        assert api.post(f"/requests/{rid}/run").status_code == 409
        unknown_doc = api.post(f"/requests/{rid}/identity",
                               json={"documents": ["library_card"], "by": "A. Clerk"})
        assert unknown_doc.status_code == 409 or unknown_doc.status_code == 400


def test_oversized_bodies_get_413(server, tokens):
    big = b'{"type": "erasure", "identifiers": {"name": "' + b"x" * (1024 * 1024) + b'"}}'
    with client(server, "approve", tokens) as api:
        sized = api.post("/requests", content=big, headers={"Content-Type": "application/json"})
        assert sized.status_code == 413 and set(sized.json()) == {"error"}

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
            for start in range(0, len(big), 65536):
                yield big[start:start + 65536]
        streamed = api.post("/requests", content=chunks(),
                            headers={"Content-Type": "application/json"})
        assert streamed.status_code == 413


def test_rate_limit_per_token_gets_429(estate, tokens):
    with Server(create_app(estate.config_path, rate_limit=3)) as limited:
        with client(limited, "read", tokens) as api:
            codes = [api.get("/requests").status_code for _ in range(4)]
            assert codes == [200, 200, 200, 429]
            assert int(api.get("/requests").headers["retry-after"]) >= 1
        with client(limited, "approve", tokens) as other:  # another token's own window
            assert other.get("/requests").status_code == 200


def test_openapi_is_served(server):
    spec = httpx.get(f"{server.url}/openapi.json", timeout=10).json()
    assert {"/requests", "/requests/{request_id}/run", "/requests/{request_id}/receipt",
            "/requests/{request_id}/export"} <= set(spec["paths"])
    assert "HTTPBearer" in spec["components"]["securitySchemes"]


def test_schemathesis_finds_no_server_errors(server, tokens):
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import not_a_server_error

    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    headers = {"Authorization": f"Bearer {tokens['approve']}"}
    wanted = {("POST", "/requests"), ("GET", "/requests"), ("GET", "/requests/{request_id}"),
              ("POST", "/requests/{request_id}/identity"),
              ("POST", "/requests/{request_id}/approve"), ("POST", "/requests/{request_id}/plan"),
              ("GET", "/requests/{request_id}/receipt"), ("POST", "/opengdpr_requests"),
              ("GET", "/opengdpr_requests/{subject_request_id}")}
    operations = [op.ok() for op in schema.get_all_operations()]
    chosen = [op for op in operations if (op.method.upper(), op.path) in wanted]
    assert len(chosen) == len(wanted)
    calls: list[int] = []
    for operation in chosen:
        @settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def check(case: Any) -> None:
            response = case.call_and_validate(base_url=server.url, headers=headers,
                                              checks=[not_a_server_error])
            calls.append(response.status_code)
        check()
    assert len(calls) >= 2 * len(wanted)  # it really ran examples against the server


def test_dsr_serve_runs_uvicorn(estate, tokens):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [sys.executable, "-c", "from agent.cli import run; run()", "--config",
               str(estate.config_path), "serve", "--port", str(port)]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/requests", timeout=2,
                                   headers={"Authorization": f"Bearer {tokens['read']}"})
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "dsr serve did not start"
                time.sleep(0.1)
        assert answer.status_code == 200 and "requests" in answer.json()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# --------------------------------------------------------------------------- OpenGDPR

class Receiver:
    """A controller's callback endpoint: the first call fails (500) to make us retry."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, str], bytes]] = []
        self.attempts = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.attempts += 1
                if outer.attempts == 1:
                    self.send_response(500)
                else:
                    outer.calls.append(({k.lower(): v for k, v in self.headers.items()}, body))
                    self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/callbacks"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def wait_for(self, status: str) -> tuple[dict[str, str], bytes]:
        deadline = time.monotonic() + 15
        while True:
            for headers, body in self.calls:
                if json.loads(body)["request_status"] == status:
                    return headers, body
            assert time.monotonic() < deadline, f"no {status} callback"
            time.sleep(0.02)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver()
    yield made
    made.httpd.shutdown()
    made.httpd.server_close()


def verify_signature(server: Server, headers: dict[str, str], body: bytes) -> None:
    discovery = httpx.get(f"{server.url}/discovery", timeout=10).json()
    pem = httpx.get(discovery["processor_certificate"], timeout=10).content
    public = x509.load_pem_x509_certificate(pem).public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    signature = base64.b64decode(headers["x-opengdpr-signature"])
    public.verify(signature, body, padding.PKCS1v15(), hashes.SHA256())  # raises if bad
    with pytest.raises(InvalidSignature):
        public.verify(signature, body + b" ", padding.PKCS1v15(), hashes.SHA256())


def opengdpr_body(kind: str, identities: list[dict[str, str]], urls: list[str]
                  ) -> dict[str, Any]:
    return {"subject_request_id": str(uuid.uuid4()), "subject_request_type": kind,
            "submitted_time": "2026-11-29T09:00:00Z", "api_version": "0.1",
            "subject_identities": identities, "status_callback_urls": urls}


PETER = [{"identity_type": "email", "identity_value": "peter.lindqvist@example.com",
          "identity_format": "raw"}]


def test_opengdpr_discovery_create_status_cancel_with_signed_callbacks(
        server, tokens, receiver):
    discovery = httpx.get(f"{server.url}/discovery", timeout=10).json()
    assert discovery["api_version"] == "0.1"
    assert {"erasure", "access", "portability"} == set(
        discovery["supported_subject_request_types"])
    body = opengdpr_body("erasure", PETER, [receiver.url])
    sid = body["subject_request_id"]
    with client(server, "approve", tokens) as api:
        made = api.post("/opengdpr_requests", json=body)
        assert made.status_code == 201, made.text
        answer = made.json()
        assert answer["subject_request_id"] == sid and answer["expected_completion_time"]
        assert json.loads(base64.b64decode(answer["encoded_request"]))["subject_request_id"] \
            == sid
        assert api.get(f"/opengdpr_requests/{sid}").json()["request_status"] == "pending"
        # the controller checked the person: nobody here asked for ID, the month runs
        rid = next(r["id"] for r in api.get("/requests").json()["requests"]
                   if r["received_at"] == answer["received_time"])
        assert "clock" not in api.get(f"/requests/{rid}").json()
        headers, raw = receiver.wait_for("pending")  # after one failed attempt
        assert receiver.attempts >= 2
        assert json.loads(raw)["status_callback_url"] == receiver.url
        verify_signature(server, headers, raw)
        again = api.post("/opengdpr_requests", json=body)
        assert again.status_code == 409 and again.json()["error"]["code"] == 409
        cancelled = api.delete(f"/opengdpr_requests/{sid}")
        assert cancelled.status_code == 202
        assert api.get(f"/opengdpr_requests/{sid}").json()["request_status"] == "cancelled"
        headers, raw = receiver.wait_for("cancelled")
        verify_signature(server, headers, raw)
        assert api.delete(f"/opengdpr_requests/{sid}").status_code == 409


def test_opengdpr_access_completes_with_a_results_url(server, tokens, receiver):
    kwame = [{"identity_type": "email", "identity_value": "kwame.asante@example.com"},
             {"identity_type": "phone_number", "identity_value": "07700 900061"}]
    body = opengdpr_body("access", kwame, [receiver.url])
    with client(server, "approve", tokens) as api:
        assert api.post("/opengdpr_requests", json=body).status_code == 201
        rid = next(r["id"] for r in api.get("/requests").json()["requests"]
                   if r["created_by"].endswith("(OpenGDPR)") and r["type"] == "access")
        drive(api, rid)
        _, raw = receiver.wait_for("completed")
        results = json.loads(raw)["results_url"]
        assert results.endswith(f"/requests/{rid}/export")
        assert api.get(results).status_code == 200


def test_opengdpr_errors_use_its_error_body(server, tokens):
    unknown = opengdpr_body("erasure", [{"identity_type": "shoe_size",
                                         "identity_value": "07700 900123"}], [])
    hashed = opengdpr_body("erasure", [{**PETER[0], "identity_format": "sha256"}], [])
    bad_value = opengdpr_body("erasure", [{"identity_type": "email",
                                           "identity_value": "not-an-address"}], [])
    with client(server, "approve", tokens) as api:
        for body in (unknown, hashed, bad_value):
            answer = api.post("/opengdpr_requests", json=body)
            assert answer.status_code == 400, answer.text
            error = answer.json()["error"]
            assert error["code"] == 400 and error["errors"][0]["domain"] == "OpenGDPR"
            assert "900123" not in answer.text and "not-an-address" not in answer.text
            if body is hashed:  # raw identities only: the refusal names the field
                assert "identity_format" in error["message"]
        broken = api.post("/opengdpr_requests", content=b"{",
                          headers={"Content-Type": "application/json"})
        assert broken.status_code == 400 and broken.json()["error"]["code"] == 400
        assert api.get("/opengdpr_requests/nope").json()["error"]["code"] == 404
    with client(server, None, tokens) as anonymous:
        denied = anonymous.post("/opengdpr_requests", json=unknown)
        assert denied.status_code == 401 and denied.json()["error"]["code"] == 401


def test_opengdpr_calls_back_for_changes_made_outside_the_server(estate, tokens, receiver):
    """A request the CLI cancels (not this server) is still called back: the server
    polls the statuses of open OpenGDPR requests."""
    app = create_app(estate.config_path, rate_limit=10_000, callback_delays=(0.05,),
                     status_poll=0.2)
    with Server(app) as polling:
        body = opengdpr_body("erasure", PETER, [receiver.url])
        with client(polling, "approve", tokens) as api:
            assert api.post("/opengdpr_requests", json=body).status_code == 201
            receiver.wait_for("pending")
            rid = next(r["id"] for r in api.get("/requests").json()["requests"]
                       if r["created_by"].endswith("(OpenGDPR)") and r["status"] not in
                       ("cancelled", "completed", "refused"))
        outside = Workflow(load_config(estate.config_path), get_plugin_manager())
        try:
            outside.cancel(rid, by="alice", reason="withdrawn by phone")
        finally:
            outside.close()
        headers, raw = receiver.wait_for("cancelled")
        assert json.loads(raw)["subject_request_id"] == body["subject_request_id"]
        verify_signature(polling, headers, raw)


def test_callbacks_go_only_to_allowed_hosts(server, tokens):
    from agent.api.opengdpr import callback_allowed

    assert callback_allowed("http://127.0.0.1:8123/cb", ["127.0.0.1:*"])
    assert callback_allowed("https://portal.example.com/cb", ["*.example.com"])
    assert not callback_allowed("http://169.254.169.254/latest", ["*.example.com"])
    assert not callback_allowed("http://portal.example.com:8080/", ["portal.example.com:443"])
    assert not callback_allowed("http://127.0.0.1:8123/cb", [])
    body = opengdpr_body("erasure", PETER, ["http://169.254.169.254/latest/meta-data"])
    with client(server, "approve", tokens) as api:
        refused = api.post("/opengdpr_requests", json=body)
    assert refused.status_code == 400
    assert "callback_hosts" in refused.json()["error"]["message"]


def test_guessing_tokens_is_rate_limited_per_address(estate):
    with Server(create_app(estate.config_path)) as fresh:
        answers = [httpx.get(f"{fresh.url}/requests", timeout=10,
                             headers={"Authorization": f"Bearer dsr_guess{n}"}).status_code
                   for n in range(35)]
    assert answers[:30] == [401] * 30 and 429 in answers[30:]
