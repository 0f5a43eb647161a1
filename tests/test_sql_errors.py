"""Unreachable and failing databases: reported quickly, without secrets or personal data."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from agent.config import SystemConfig, config_from_dict
from agent.errors import ConnectorError
from agent.models import Finding
from connectors.sql import SqlConnector
from tests.conftest import LOCAL_SQL_BACKENDS, TestDatabase
from tests.sql_estate import builtin_detectors, make_connector, subject

PASSWORD = "s3cret-Pa55"
DOWN = {
    "postgresql": f"postgresql+psycopg://root:{PASSWORD}@127.0.0.1:1/test",
    "mariadb": f"mysql+pymysql://root:{PASSWORD}@127.0.0.1:1/test",
}


def connector_for(url: str, **options: object) -> SqlConnector:
    return SqlConnector(SystemConfig(name="crm", connector="sql", url=url, options=options))


@pytest.mark.parametrize("backend", sorted(DOWN))
def test_a_server_that_is_down(backend, db_servers):
    crm = connector_for(DOWN[backend], connect_timeout=2)
    started = time.monotonic()
    result = crm.check()
    assert result.ok is False
    assert PASSWORD not in result.detail and "***" in result.detail
    assert "127.0.0.1:1" in result.detail and "cannot connect" in result.detail
    with pytest.raises(ConnectorError) as caught:
        crm.search([subject("S", email="jane.doe@example.com")])
    message = str(caught.value)
    assert PASSWORD not in message and "jane.doe" not in message and "'crm'" in message
    with pytest.raises(ConnectorError):
        list(crm.discover())
    with pytest.raises(ConnectorError):
        list(crm.read([Finding(system="crm", kind="row", locator="contacts:1")]))
    assert time.monotonic() - started < 10
    crm.close()


def test_an_env_secret_in_the_url_is_masked(monkeypatch, db_servers):
    monkeypatch.setenv("CRM_DB_PASSWORD", PASSWORD)
    config = config_from_dict({"systems": [{
        "name": "crm", "url": "postgresql+psycopg://root:${CRM_DB_PASSWORD}@127.0.0.1:1/test",
        "connect_timeout": 2}]})
    crm = SqlConnector(config.systems[0])
    result = crm.check()
    assert not result.ok and PASSWORD not in result.detail


def test_a_missing_sqlite_file_is_not_created(tmp_path: Path):
    path = tmp_path / "absent.sqlite"
    crm = connector_for(f"sqlite:///{path}")
    result = crm.check()
    assert not result.ok and "does not exist" in result.detail
    with pytest.raises(ConnectorError):
        crm.search([subject("S", email="jane.doe@example.com")])
    assert not path.exists()


def test_a_relative_sqlite_path_means_the_config_folder(tmp_path: Path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'crm.sqlite'}")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE contacts (id INTEGER PRIMARY KEY, email TEXT)"))
        conn.execute(sa.text("INSERT INTO contacts VALUES (1, 'jane.doe@example.com')"))
    engine.dispose()
    system = SystemConfig(name="crm", connector="sql", url="sqlite:///crm.sqlite",
                          base_dir=tmp_path)
    crm = SqlConnector(system, None)
    assert crm.check().ok
    crm.close()


@pytest.mark.parametrize("url", ["postgresql+nodriver://u@127.0.0.1/db", "not a url at all"])
def test_a_url_the_connector_cannot_use(url):
    result = connector_for(url).check()
    assert result.ok is False and "crm" in result.detail


@pytest.fixture(params=LOCAL_SQL_BACKENDS)
def scratch(request: pytest.FixtureRequest, isolated_database) -> TestDatabase:
    database = isolated_database(request.param)
    engine = database.engine()
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS scratch"))
        conn.execute(sa.text("CREATE TABLE scratch (id INTEGER PRIMARY KEY, email VARCHAR(120))"))
        conn.execute(sa.text("INSERT INTO scratch VALUES (1, 'jane.doe@example.com')"))
    engine.dispose()
    return database


def test_a_failing_statement_names_the_step_not_the_data(scratch: TestDatabase):
    crm = make_connector(scratch, builtin_detectors())
    try:
        found = crm.search([subject("S", email="jane.doe@example.com")])
        assert [f.locator for f in found] == ["scratch:1"]
        assert crm.check().ok
        engine = scratch.engine()
        with engine.begin() as conn:
            conn.execute(sa.text("DROP TABLE scratch"))
        engine.dispose()
        with pytest.raises(ConnectorError) as caught:
            crm.search([subject("S", email="jane.doe@example.com")])
    finally:
        crm.close()
    message = str(caught.value)
    assert "searching table scratch" in message
    assert "jane" not in message.lower() and "example.com" not in message
