"""The HMAC digest key and the state store (SQLite by default, PostgreSQL accepted)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from agent.errors import ConfigError
from agent.keys import DigestKey
from agent.models import Identifier, SearchResult, Subject, SystemStatus
from agent.store import Store


def test_key_created_once_with_mode_0600_and_never_replaced(tmp_path):
    path = tmp_path / "keys" / "hmac.key"
    first = DigestKey.load_or_create(path)
    assert path.stat().st_mode & 0o777 == 0o600
    before = path.read_bytes()
    second = DigestKey.load_or_create(path)
    assert path.read_bytes() == before
    assert first.digest("email", "a@example.com") == second.digest("email", "a@example.com")
    assert first.key_id == second.key_id


def test_digest_is_keyed_and_domain_separated(tmp_path):
    a = DigestKey.load_or_create(tmp_path / "a.key")
    b = DigestKey.load_or_create(tmp_path / "b.key")
    assert a.digest("email", "x@example.com") != b.digest("email", "x@example.com")
    assert a.digest("account", "123") != a.digest("customer_id", "123")


@pytest.mark.parametrize("content, message", [
    ("not hex at all\n", "corrupt"),
    ("abcd\n", "too short"),
])
def test_corrupt_key_is_an_error_not_a_new_key(tmp_path, content, message):
    path = tmp_path / "hmac.key"
    path.write_text(content)
    path.chmod(0o600)
    with pytest.raises(ConfigError, match=message):
        DigestKey.load_or_create(path)
    assert path.read_text() == content  # never replaced


def test_key_readable_by_others_is_refused(tmp_path):
    path = tmp_path / "hmac.key"
    DigestKey.load_or_create(path)
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        DigestKey.load_or_create(path)


def _result(search_id: str) -> SearchResult:
    subject = Subject(ref="S1", identifiers=[
        Identifier("email#1", "email", "ann.lee@example.com"),
        Identifier("phone#1", "phone", "+447700900201", origin="crm:contacts:1", round=1)])
    return SearchResult(subject=subject, findings=[], search_id=search_id,
                        systems=[SystemStatus("crm"), SystemStatus("s3", "error", "down")])


@pytest.fixture
def pg_url() -> Iterator[str]:
    name = f"dsr_store_{uuid.uuid4().hex[:8]}"
    with psycopg.connect("host=127.0.0.1 dbname=test user=postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1/{name}"
    finally:
        with psycopg.connect("host=127.0.0.1 dbname=test user=postgres",
                             autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_store_records_search_with_digests_only(tmp_path, request, backend):
    url = (f"sqlite:///{tmp_path}/state/state.sqlite" if backend == "sqlite"
           else request.getfixturevalue("pg_url"))
    key = DigestKey.load_or_create(tmp_path / "hmac.key")
    store = Store(url, key)
    search_id = str(uuid.uuid4())
    store.record_search(search_id, datetime.now(UTC), [_result(search_id)], operator="dpo",
                        reason="SAR-7")
    [row] = store.searches()
    assert row["operator"] == "dpo" and row["reason"] == "SAR-7" and row["subjects"] == 1
    assert '"error": "down"' in row["systems"]
    idents = {i["identifier"]: i for i in store.identifiers_of(search_id)}
    assert idents["phone#1"]["origin"] == "crm:contacts:1"
    assert idents["email#1"]["digest"] == key.digest("email", "ann.lee@example.com")
    assert "ann.lee" not in repr(store.identifiers_of(search_id))
    store.close()


def test_unreachable_state_store_is_a_clear_error(tmp_path):
    key = DigestKey.load_or_create(tmp_path / "hmac.key")
    with pytest.raises(ConfigError) as info:
        Store("postgresql+psycopg://dsr:pw-secret@127.0.0.1:1/state", key)
    assert "agent.state" in str(info.value) and "pw-secret" not in str(info.value)


def test_state_store_folder_is_created(tmp_path):
    key = DigestKey.load_or_create(tmp_path / "hmac.key")
    Store(f"sqlite:///{tmp_path}/a/b/state.sqlite", key).close()
    assert Path(tmp_path / "a" / "b" / "state.sqlite").exists()
    assert os.access(tmp_path / "a" / "b" / "state.sqlite", os.R_OK)


def test_threads_opening_a_new_state_store_at_once_all_succeed(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from agent.request_store import RequestStore

    key = DigestKey.load_or_create(tmp_path / "hmac.key")
    url = f"sqlite:///{tmp_path / 'state.sqlite'}"

    def open_store(_: int) -> str:
        store = Store(url, key)
        try:
            RequestStore(store)
            return "ok"
        finally:
            store.close()

    with ThreadPoolExecutor(max_workers=6) as pool:
        assert list(pool.map(open_store, range(6))) == ["ok"] * 6


def test_vault_seals_with_a_key_derived_from_the_hmac_key(tmp_path):
    from agent.errors import DsrError
    from agent.vault import Vault

    key = DigestKey.load_or_create(tmp_path / "a.key")
    token = Vault(key).seal({"identifiers": [{"type": "email", "value": "a@example.com"}]})
    assert "example.com" not in token
    assert Vault(key).open(token)["identifiers"][0]["value"] == "a@example.com"
    other = DigestKey.load_or_create(tmp_path / "b.key")
    with pytest.raises(DsrError, match="cannot be opened"):
        Vault(other).open(token)
