"""Shared fixtures: real database servers, and an isolated database per test module.

PostgreSQL (127.0.0.1:5432) and MariaDB (127.0.0.1:3306) run on the machine; when one is
down it is started here, never skipped. Each test module gets databases of its own on each
backend (``isolated_database("postgresql")``), dropped when the module is done. SQL Server
runs only when ``DSR_TEST_MSSQL_URL`` names a server (a fresh schema there per module).
"""

from __future__ import annotations

import os
import re
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
MARIADB_ADMIN_URL = "mysql+pymysql://root@127.0.0.1:3306/test"
MSSQL_URL_ENV = "DSR_TEST_MSSQL_URL"
# Parameters for a suite that runs on every SQL backend. SQL Server cannot run on these
# machines: it joins the suite (marked ``mssql``) only when a live server is configured, and
# otherwise its statements are rendered and checked in test_sql_mssql.py.
LOCAL_SQL_BACKENDS = ("sqlite", "postgresql", "mariadb")
SQL_BACKENDS: tuple[Any, ...] = LOCAL_SQL_BACKENDS + (
    (pytest.param("mssql", marks=pytest.mark.mssql),) if os.environ.get(MSSQL_URL_ENV) else ())


@dataclass
class TestDatabase:
    """An empty database (or schema) of one backend, for one test module."""

    __test__ = False  # not a test class

    backend: str
    url: str
    schema: str | None = None  # set where isolation is by schema (SQL Server)
    options: dict[str, Any] = field(default_factory=dict)  # connector options it needs

    def engine(self) -> sa.Engine:
        return sa.create_engine(self.url)

    def key(self, table: str) -> str:
        """A table's name in locators: schema-qualified when not in the default schema."""
        return f"{self.schema}.{table}" if self.schema else table


# --------------------------------------------------------------------------- servers


def _reachable(url: str) -> bool:
    engine = sa.create_engine(url, connect_args=_connect_args(url))
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        return True
    except sa.exc.OperationalError:
        return False
    finally:
        engine.dispose()


def _connect_args(url: str) -> dict[str, Any]:
    return {"connect_timeout": 3} if url.startswith(("postgresql", "mysql")) else {}


def _start(command: list[str], url: str, what: str, seconds: float = 60.0) -> None:
    subprocess.run(command, check=False, capture_output=True, timeout=seconds)
    deadline = time.monotonic() + seconds
    while not _reachable(url):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not come up after {' '.join(command)}")
        time.sleep(0.5)


def ensure_postgres() -> None:
    if not _reachable(PG_ADMIN_URL):
        version = sorted(os.listdir("/etc/postgresql"))[-1]
        _start(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"],
               PG_ADMIN_URL, "PostgreSQL")


def ensure_mariadb() -> None:
    if not _reachable(MARIADB_ADMIN_URL):
        _start(["start-stop-daemon", "--start", "--oknodo", "--background", "--exec",
                "/usr/sbin/mariadbd"], MARIADB_ADMIN_URL, "MariaDB")


@pytest.fixture(scope="session")
def db_servers() -> None:
    """PostgreSQL and MariaDB are up (started when down)."""
    ensure_postgres()
    ensure_mariadb()


# --------------------------------------------------------------------------- databases


def _module_tag(request: pytest.FixtureRequest) -> str:
    stem = Path(str(request.node.path)).stem
    return re.sub(r"[^a-z0-9]", "", stem.lower())[-20:] + "_" + uuid.uuid4().hex[:8]


@pytest.fixture(scope="module")
def isolated_database(request: pytest.FixtureRequest, db_servers: None,
                      tmp_path_factory: pytest.TempPathFactory
                      ) -> Iterator[Callable[[str], TestDatabase]]:
    """``make(backend)``: a fresh database on that backend, dropped after the module."""
    tag = _module_tag(request)
    cleanups: list[Callable[[], None]] = []
    made: dict[str, TestDatabase] = {}

    def make(backend: str) -> TestDatabase:
        if backend in made:
            return made[backend]
        name = f"dsr_{tag}"
        if backend == "sqlite":
            folder = tmp_path_factory.mktemp(f"sqlite_{tag}")
            database = TestDatabase("sqlite", f"sqlite:///{folder / 'crm.sqlite'}")
        elif backend == "postgresql":
            _admin(PG_ADMIN_URL, f'CREATE DATABASE "{name}"')
            cleanups.append(lambda: _admin(PG_ADMIN_URL,
                                           f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            database = TestDatabase("postgresql",
                                    f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}")
        elif backend == "mariadb":
            _admin(MARIADB_ADMIN_URL, f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
            cleanups.append(lambda: _admin(MARIADB_ADMIN_URL, f"DROP DATABASE IF EXISTS `{name}`"))
            database = TestDatabase("mariadb", f"mysql+pymysql://root@127.0.0.1:3306/{name}")
        elif backend == "mssql":
            url = os.environ[MSSQL_URL_ENV]  # present only when DSR_TEST_MSSQL_URL is set
            _admin(url, f"CREATE SCHEMA [{name}]")
            cleanups.append(lambda: _drop_mssql_schema(url, name))
            database = TestDatabase("mssql", url, schema=name, options={"schema": name})
        else:
            raise ValueError(backend)
        made[backend] = database
        return database

    yield make
    for cleanup in reversed(cleanups):
        cleanup()


def _admin(url: str, statement: str) -> None:
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(statement))
    finally:
        engine.dispose()


def _drop_mssql_schema(url: str, schema: str) -> None:
    engine = sa.create_engine(url)
    try:
        metadata = sa.MetaData()
        metadata.reflect(engine, schema=schema)
        metadata.drop_all(engine)
    finally:
        engine.dispose()
    _admin(url, f"DROP SCHEMA [{schema}]")


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A minimal agent.toml (state store and HMAC key in the test's folder), made the
    default for `dsr` commands through DSR_CONFIG."""
    path = tmp_path / "agent.toml"
    path.write_text('[agent]\nstate = "sqlite:///state.sqlite"\nhmac_key = "keys/hmac.key"\n')
    monkeypatch.setenv("DSR_CONFIG", str(path))
    return path
