"""A tiny helpdesk CRM for the plugin's tests: a real HTTP server on 127.0.0.1.

It serves the JSON API the connector is written against (``/api/v1``), the way a hosted
helpdesk would, from memory, on a free port, in a thread of the test process:

- every request needs ``Authorization: Bearer <token>``, else 401;
- ``GET /me``; ``GET /contacts`` and ``GET /tickets`` (``limit``/``offset`` pages with
  ``total`` and ``last_modified``); ``GET|PATCH|DELETE /contacts/{id}`` and ``/tickets/{id}``;
- ``POST /contacts/search`` ``{"email": [...], "phone": [...], "name": [...]}`` (any of them,
  at most 100 values a request): e-mail and name equal ignoring case, a phone when the
  stored number's digits end with the query's digits (at least 7);
- ``POST /tickets/search`` ``{"contact_id": [...], "text": [...]}``: tickets of those
  contacts, or whose subject or notes contain a text (ignoring case);
- ``DELETE /contacts/{id}`` answers 409 while tickets still refer to the contact.

``server.drop_connections = True`` makes it close every connection without answering
(a crashed upstream); ``server.fail_method = "DELETE"`` answers that method with 503.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

PREFIX = "/api/v1"
MAX_SEARCH_VALUES = 100
_DIGITS = re.compile(r"\D")


class CrmData:
    """The CRM's records, behind one lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.contacts: dict[int, dict[str, Any]] = {}
        self.tickets: dict[int, dict[str, Any]] = {}
        self._next = 1
        self.last_modified = _now()

    def add_contact(self, name: str | None, email: str | None = None,
                    phone: str | None = None, company: str | None = None) -> int:
        with self.lock:
            key = self._take_id()
            self.contacts[key] = {"id": key, "name": name, "email": email, "phone": phone,
                                  "company": company, "do_not_contact": False,
                                  "updated_at": _now()}
            self.last_modified = _now()
            return key

    def add_ticket(self, contact_id: int | None, subject: str, notes: str = "") -> int:
        with self.lock:
            key = self._take_id()
            self.tickets[key] = {"id": key, "contact_id": contact_id, "subject": subject,
                                 "notes": notes, "status": "open", "updated_at": _now()}
            self.last_modified = _now()
            return key

    def _take_id(self) -> int:
        key, self._next = self._next, self._next + 1
        return key


class CrmServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, token: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.token = token
        self.data = CrmData()
        self.drop_connections = False
        self.fail_method: str | None = None
        self.requests: list[tuple[str, str]] = []  # (method, path) for tests to count

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}{PREFIX}"


@contextmanager
def serve(token: str) -> Iterator[CrmServer]:
    """A running CRM for the duration of the ``with`` block."""
    server = CrmServer(token)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class _Handler(BaseHTTPRequestHandler):
    server: CrmServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else each small write waits for a delayed ACK (40 ms)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: a real server's access log is not the test's business

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    # ------------------------------------------------------------------ plumbing
    def _dispatch(self, method: str) -> None:
        server = self.server
        if server.drop_connections:
            self.close_connection = True
            self.connection.close()  # no status line at all
            return
        parts = urlsplit(self.path)
        body = self._body()
        server.requests.append((method, parts.path))
        if self.headers.get("Authorization") != f"Bearer {server.token}":
            return self._send(401, {"error": "unauthorized"})
        if server.fail_method == method:
            return self._send(503, {"error": "maintenance"})
        if not parts.path.startswith(PREFIX + "/"):
            return self._send(404, {"error": "not found"})
        path = parts.path[len(PREFIX) + 1:].strip("/").split("/")
        query = parse_qs(parts.query)
        with server.data.lock:
            status, payload = _route(server.data, method, path, query, body)
        self._send(status, payload)

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        if not length:
            return None
        try:
            return json.loads(self.rfile.read(length))
        except ValueError:
            return {"__invalid__": True}

    def _send(self, status: int, payload: Any) -> None:
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        if payload is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _route(data: CrmData, method: str, path: list[str], query: dict[str, list[str]],
           body: Any) -> tuple[int, Any]:
    if path == ["me"] and method == "GET":
        return 200, {"account": "example-helpdesk", "api": "v1"}
    if not path or path[0] not in ("contacts", "tickets"):
        return 404, {"error": "not found"}
    table = data.contacts if path[0] == "contacts" else data.tickets
    if len(path) == 1 and method == "GET":
        return _list(data, table, query)
    if len(path) == 2 and path[1] == "search" and method == "POST":
        if not isinstance(body, dict) or "__invalid__" in body:
            return 400, {"error": "expected a JSON object"}
        values = [v for vs in body.values() if isinstance(vs, list) for v in vs]
        if len(values) > MAX_SEARCH_VALUES:
            return 400, {"error": f"at most {MAX_SEARCH_VALUES} values per search"}
        search = _search_contacts if path[0] == "contacts" else _search_tickets
        return 200, {"data": search(data, body)}
    if len(path) != 2 or not path[1].isdigit():
        return 404, {"error": "not found"}
    key = int(path[1])
    record = table.get(key)
    if record is None:
        return 404, {"error": "not found"}
    if method == "GET":
        return 200, record
    if method == "PATCH":
        if not isinstance(body, dict):
            return 400, {"error": "expected a JSON object"}
        unknown = set(body) - set(record) | ({"id"} & set(body))
        if unknown:
            return 400, {"error": f"unknown or read-only fields {sorted(unknown)}"}
        record.update(body, updated_at=_now())
        data.last_modified = _now()
        return 200, record
    if method == "DELETE":
        if path[0] == "contacts" and any(t["contact_id"] == key for t in data.tickets.values()):
            return 409, {"error": "the contact still has tickets"}
        del table[key]
        data.last_modified = _now()
        return 204, None
    return 405, {"error": "method not allowed"}


def _list(data: CrmData, table: dict[int, dict[str, Any]], query: dict[str, list[str]]
          ) -> tuple[int, Any]:
    try:
        limit = min(int(query.get("limit", ["50"])[0]), 200)
        offset = int(query.get("offset", ["0"])[0])
    except ValueError:
        return 400, {"error": "limit and offset are numbers"}
    rows = [table[k] for k in sorted(table)]
    return 200, {"data": rows[offset:offset + limit], "total": len(rows),
                 "last_modified": data.last_modified}


def _search_contacts(data: CrmData, body: dict[str, Any]) -> list[dict[str, Any]]:
    emails = {str(v).casefold() for v in body.get("email", [])}
    names = {str(v).casefold() for v in body.get("name", [])}
    phones = [d for d in (_DIGITS.sub("", str(v)) for v in body.get("phone", []))
              if len(d) >= 7]
    out = []
    for contact in data.contacts.values():
        stored = _DIGITS.sub("", contact["phone"] or "")
        if ((contact["email"] or "").casefold() in emails
                or (contact["name"] or "").casefold() in names
                or (stored and any(stored.endswith(p) for p in phones))):
            out.append(contact)
    return out


def _search_tickets(data: CrmData, body: dict[str, Any]) -> list[dict[str, Any]]:
    contacts = {v for v in body.get("contact_id", []) if isinstance(v, int)}
    texts = [str(v).casefold() for v in body.get("text", []) if str(v).strip()]
    out = []
    for ticket in data.tickets.values():
        words = f"{ticket['subject']}\n{ticket['notes']}".casefold()
        if ticket["contact_id"] in contacts or any(t in words for t in texts):
            out.append(ticket)
    return out


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")
