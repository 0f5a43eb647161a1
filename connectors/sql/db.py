"""Engines with timeouts, and database errors as messages free of secrets and personal data.

A driver's message may quote a password (a connection string echoed back) or a searched
value ("invalid input syntax for type integer: ..."): messages for errors while querying
are therefore built from the error's class and code only, and connection errors have the
system's secrets masked.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url

from agent.config import SystemConfig, url_password
from agent.errors import ConnectorError, DsrError

# Words of driver messages turned into a short, value-free reason.
_REASONS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("timeout", "timed out", "canceling statement"), "timed out"),
    (("password authentication", "access denied", "login failed", "authentication"),
     "authentication failed"),
    (("permission denied", "command denied", "not authorized", "privilege"),
     "permission denied"),
    (("does not exist", "doesn't exist", "no such table", "unknown database", "invalid object"),
     "an object does not exist"),
    (("connection refused", "could not connect", "can't connect", "unable to connect",
      "name or service not known", "could not translate host", "no route", "unreachable",
      "server closed the connection", "lost connection", "connection reset",
      "unable to open database"), "cannot connect"),
)


def sqlalchemy_url(system: SystemConfig) -> URL:
    """The system's URL, with a relative SQLite path anchored at the config's folder."""
    try:
        url = make_url(system.url)
    except (sa.exc.ArgumentError, ValueError) as exc:
        raise ConnectorError(f"system {system.name!r}: not a database URL "
                             f"({system.display_url})") from exc
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:" \
            and not url.database.startswith("file:"):
        path = Path(url.database).expanduser()
        if not path.is_absolute():
            url = url.set(database=str(system.base_dir / path))
    return url


def create_engine(system: SystemConfig, connect_timeout: float) -> Engine:
    url = sqlalchemy_url(system)
    backend = url.get_backend_name()
    statement_seconds = max(1, math.ceil(system.timeout))
    connect_seconds = max(1, math.ceil(connect_timeout))
    connect_args: dict[str, Any] = {}
    if backend == "postgresql":
        connect_args = {"connect_timeout": max(2, connect_seconds),
                        "options": f"-c statement_timeout={statement_seconds * 1000}"}
    elif backend in {"mysql", "mariadb"}:
        connect_args = {"connect_timeout": connect_seconds, "read_timeout": statement_seconds,
                        "write_timeout": statement_seconds}
    elif backend == "mssql":
        connect_args = {"login_timeout": connect_seconds, "timeout": statement_seconds}
    elif backend == "sqlite":
        connect_args = {"timeout": connect_seconds}
    try:
        return sa.create_engine(url, connect_args=connect_args, pool_pre_ping=True,
                                hide_parameters=True)
    except (sa.exc.NoSuchModuleError, ImportError) as exc:
        raise ConnectorError(f"system {system.name!r}: no database driver for "
                             f"{url.drivername!r} ({system.display_url})") from exc
    except (sa.exc.ArgumentError, TypeError) as exc:
        raise ConnectorError(f"system {system.name!r}: invalid database URL "
                             f"({system.display_url})") from exc


def check_sqlite_file(system: SystemConfig) -> None:
    """SQLite creates a missing file on connect: an absent database is an error here."""
    url = sqlalchemy_url(system)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:" \
            or url.database.startswith("file:"):
        return
    if not Path(url.database).is_file():
        raise ConnectorError(f"system {system.name!r}: cannot connect to "
                             f"{system.display_url}: the database file does not exist")


def _secrets(system: SystemConfig) -> list[str]:
    found = set(system.secrets)
    password = url_password(system.url)
    if password:
        found.add(password)
    return sorted((s for s in found if s), key=len, reverse=True)


def _reason(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).lower()
    for words, reason in _REASONS:
        if any(w in text for w in words):
            return reason
    return "database error"


def _code(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate:
        return f" (SQLSTATE {sqlstate})"
    args = getattr(orig, "args", ())
    if args and isinstance(args[0], int):
        return f" (error {args[0]})"
    return ""


def connect_error(system: SystemConfig, exc: BaseException) -> ConnectorError:
    """Could not connect: the driver's first line (it names no searched value: nothing was
    searched yet), with the system's secrets masked."""
    orig = getattr(exc, "orig", None) or exc
    first_line = (str(orig).strip().splitlines() or [""])[0][:300]
    for secret in _secrets(system):
        first_line = first_line.replace(secret, "***")
    return ConnectorError(f"system {system.name!r}: cannot connect to {system.display_url}: "
                          f"{first_line or _reason(exc)}")


def problem(exc: BaseException) -> str:
    """The class of a database failure and its code, never the driver's text (it may quote
    a value): ``permission denied (SQLSTATE 42501) [InsufficientPrivilege]``."""
    return (f"{_reason(exc)}{_code(exc)} "
            f"[{type(getattr(exc, 'orig', None) or exc).__name__}]")


def query_error(system: SystemConfig, exc: BaseException, doing: str) -> ConnectorError:
    """A statement failed: what was being done, the class of failure and its code only."""
    return ConnectorError(f"system {system.name!r}: {doing} failed: {problem(exc)}")


@contextmanager
def step(system: SystemConfig, what: str) -> Iterator[None]:
    """Run a step; a database error becomes a ConnectorError naming the step, never data
    (a refused constraint says so, since that is what an operator must look at)."""
    try:
        yield
    except DsrError:
        raise
    except sa.exc.IntegrityError as exc:
        raise ConnectorError(f"{query_error(system, exc, what)}: a foreign-key, unique or "
                             "not-null constraint refused the change") from None
    except sa.exc.SQLAlchemyError as exc:
        raise query_error(system, exc, what) from None
