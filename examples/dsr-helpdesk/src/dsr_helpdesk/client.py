"""The helpdesk's JSON API over HTTP: bearer token, timeouts, pages, errors without data.

Every failure becomes a ``ConnectorError`` naming the system and what went wrong (HTTP
status, timeout, refused or dropped connection) and never the URL's query, a request body,
a response body or the token: any of them may hold personal data or a secret. Identifier
values travel only in POST bodies, so they never appear in a URL (and so never in an
access log on either side, or in httpx's own request log).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import httpx

from agent.errors import ConnectorError

# httpx logs every request's full URL at INFO. Ours hold no identifier values (they go in
# POST bodies), but an admin's log is no place for a record trail either: keep it quiet,
# as dsr keeps its database drivers.
for _name in ("httpx", "httpcore"):
    if logging.getLogger(_name).level < logging.WARNING:
        logging.getLogger(_name).setLevel(logging.WARNING)

# httpx exception class -> what to tell the admin (the exception's own text may quote a URL)
_TRANSPORT_ERRORS: tuple[tuple[type[Exception], str], ...] = (
    (httpx.ConnectTimeout, "timed out connecting"),
    (httpx.TimeoutException, "timed out waiting for an answer"),
    (httpx.ConnectError, "could not connect (refused or unreachable)"),
    (httpx.RemoteProtocolError, "closed the connection without answering"),
    (httpx.TransportError, "the connection failed"),
)
_STATUS = {401: "refused the token (HTTP 401): check the token option",
           403: "denied access (HTTP 403): the token lacks a permission",
           429: "is rate limiting us (HTTP 429)"}


class HelpdeskClient:
    """One HTTP session to one helpdesk; safe to share between threads."""

    def __init__(self, system: str, base_url: str, token: str, *, timeout: float,
                 page_size: int) -> None:
        self.system = system
        self.page_size = page_size
        self._http = httpx.Client(
            base_url=base_url.rstrip("/") + "/",
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json",
                     "User-Agent": "dsr-helpdesk"},
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            follow_redirects=False,  # a redirect would resend the token elsewhere
        )

    def close(self) -> None:
        self._http.close()

    # ------------------------------------------------------------------ verbs
    def get(self, path: str, *, params: dict[str, Any] | None = None,
            missing_ok: bool = False) -> Any:
        """The JSON at ``path``; None for a 404 when ``missing_ok``."""
        return self._call("GET", path, params=params, missing_ok=missing_ok)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self._call("POST", path, json=body)

    def patch(self, path: str, body: dict[str, Any], *, missing_ok: bool = False) -> Any:
        return self._call("PATCH", path, json=body, missing_ok=missing_ok)

    def delete(self, path: str, *, missing_ok: bool = False) -> bool:
        """True when deleted, False when it was already gone (``missing_ok``)."""
        return self._call("DELETE", path, missing_ok=missing_ok, empty=True) is not None

    def pages(self, path: str, limit: int | None = None) -> Iterator[dict[str, Any]]:
        """Every record of a collection, page by page (at most ``limit``)."""
        offset = 0
        while limit is None or offset < limit:
            size = self.page_size if limit is None else min(self.page_size, limit - offset)
            page = self.get(path, params={"limit": size, "offset": offset})
            rows = page.get("data") or []
            yield from rows
            offset += len(rows)
            if not rows or offset >= int(page.get("total") or 0):
                return

    # ------------------------------------------------------------------ the one place
    def _call(self, method: str, path: str, *, missing_ok: bool = False, empty: bool = False,
              **kwargs: Any) -> Any:
        where = _collection(path)
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            reason = next((text for kind, text in _TRANSPORT_ERRORS if isinstance(exc, kind)),
                          "the request failed")
            raise ConnectorError(f"system {self.system!r}: the helpdesk {reason} "
                                 f"({method} {where}, {type(exc).__name__})") from None
        if response.status_code == 404 and missing_ok:
            return None
        if response.status_code >= 300:
            reason = _STATUS.get(response.status_code,
                                 f"answered HTTP {response.status_code}")
            raise ConnectorError(f"system {self.system!r}: the helpdesk {reason} "
                                 f"({method} {where})")
        if empty or response.status_code == 204:
            return {}
        try:
            return response.json()
        except ValueError:
            raise ConnectorError(f"system {self.system!r}: the helpdesk answered with "
                                 f"something that is not JSON ({method} {where})") from None


def _collection(path: str) -> str:
    """The path with record ids replaced: ``contacts/{id}`` (ids are not personal data, but
    a message naming the collection is all an admin needs and stays stable)."""
    return "/".join("{id}" if part.isdigit() else part for part in path.split("/"))
