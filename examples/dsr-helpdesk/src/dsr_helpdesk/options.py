"""The connector's options (the keys of its ``[[systems]]`` table), checked at start-up."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from agent.config import SystemConfig
from agent.errors import ConfigError

_LOOPBACK = {"localhost", "127.0.0.1", "::1"}
KNOWN = {"token", "request_timeout", "page_size", "batch_size"}


@dataclass(frozen=True)
class HelpdeskOptions:
    token: str
    request_timeout: float = 15.0  # seconds per HTTP request
    page_size: int = 100  # records per page when listing (discovery, sampling)
    batch_size: int = 50  # identifier values per search request (the API takes 100)


def parse_options(system: SystemConfig) -> HelpdeskOptions:
    def error(message: str, key: str) -> ConfigError:
        return ConfigError(f"system {system.name!r}: {message}",
                           key=f"systems.{system.name}.{key}")

    unknown = sorted(set(system.options) - KNOWN)
    if unknown:
        raise error(f"unknown option(s) {unknown}; the helpdesk connector knows "
                    f"{sorted(KNOWN)}", unknown[0])
    url = urlsplit(system.url)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise error("url must be the API's base, e.g. https://crm.example.com/api/v1", "url")
    if url.scheme == "http" and url.hostname not in _LOOPBACK:
        raise error("url must use https: the token would cross the network in clear", "url")
    if url.username or url.password:
        raise error("give the token as the token option, not in the url", "url")
    token = system.options.get("token")
    if not isinstance(token, str) or not token.strip():
        raise error('token is required, e.g. token = "${HELPDESK_TOKEN}"', "token")
    timeout = system.options.get("request_timeout", HelpdeskOptions.request_timeout)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 300:
        raise error("must be a number of seconds between 0 and 300", "request_timeout")
    sizes = {}
    for key, top in (("page_size", 200), ("batch_size", 100)):
        value = system.options.get(key, getattr(HelpdeskOptions, key))
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
            raise error(f"must be a whole number from 1 to {top}", key)
        sizes[key] = value
    return HelpdeskOptions(token=token.strip(), request_timeout=float(timeout), **sizes)
