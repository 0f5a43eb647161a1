"""End to end: the engine and the SQL connector over the demo CRM on every backend.

Each cast member of the estate's manifest is searched the way an operator would; their own
records must be found strong, look-alikes and company records never attributed, records
behind shared identifiers kept weak.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.cli.demo_cmd import check_expectations
from agent.config import config_from_dict
from agent.demo import build_estate
from agent.engine import SearchEngine
from agent.plugins import PluginManager
from agent.subjects import subject_from_pairs
from tests.conftest import SQL_BACKENDS


@pytest.fixture(scope="module", params=SQL_BACKENDS)
def estate(request: pytest.FixtureRequest, isolated_database: Any,
           tmp_path_factory: pytest.TempPathFactory) -> Any:
    database = isolated_database(request.param)
    manifest = build_estate(database.url, customers=40, seed=7)
    state = tmp_path_factory.mktemp("state")
    config = config_from_dict({
        "agent": {"state": f"sqlite:///{state}/state.sqlite", "hmac_key": str(state / "k")},
        "systems": [{"name": "crm", "url": database.url, **database.options}],
    }, base_dir=Path(state))
    engine = SearchEngine(config, PluginManager().load(use_entry_points=False))
    yield manifest, engine
    engine.close()


CAST = ("sole_trader", "company_contact", "colleague", "namesake", "near_phone",
        "same_postcode", "household_a", "household_b", "prospect_contact")


@pytest.mark.parametrize("key", CAST)
def test_cast_member_is_found_and_nobody_else(estate, key):
    manifest, engine = estate
    member = manifest.member(key)
    [result] = engine.search([subject_from_pairs(key, list(member.search))], operator="test")
    assert all(s.status == "ok" for s in result.systems), result.systems
    failed = [c for c in check_expectations(member, result) if not c["ok"]]
    assert not failed, failed


def test_batch_gives_each_person_the_same_answer_as_alone(estate):
    manifest, engine = estate
    subjects = [subject_from_pairs(k, list(manifest.member(k).search)) for k in CAST]
    batch = {r.subject.ref: r for r in engine.search(subjects, operator="test")}
    for key in CAST:
        [alone] = engine.search([subject_from_pairs(key, list(manifest.member(key).search))],
                                operator="test")
        assert ({(f.id, f.strength) for f in batch[key].findings}
                == {(f.id, f.strength) for f in alone.findings}), key


def test_down_system_is_reported_while_the_crm_is_still_searched(estate, tmp_path):
    manifest, engine = estate
    crm = engine.config.system("crm")
    config = config_from_dict({
        "agent": {"state": f"sqlite:///{tmp_path}/s.sqlite", "hmac_key": str(tmp_path / "k")},
        "systems": [{"name": "crm", "url": crm.url, **crm.options},
                    {"name": "billing", "url": "postgresql+psycopg://dsr:pw@127.0.0.1:1/billing",
                     "timeout": 20}],
    }, base_dir=tmp_path)
    other = SearchEngine(config, engine.pm)
    member = manifest.member("sole_trader")
    try:
        [result] = other.search([subject_from_pairs("x", list(member.search))], operator="t")
    finally:
        other.close()
    status = {s.name: s for s in result.systems}
    assert status["billing"].status == "error" and "pw" not in (status["billing"].error or "")
    assert status["crm"].status == "ok"
    assert set(member.attributed) <= {f.locator for f in result.findings}


@pytest.mark.parametrize("declared", [True, False])
def test_other_system_holding_crm_contact_ids_is_searched_by_them(estate, tmp_path, declared):
    import sqlite3
    manifest, engine = estate
    member = manifest.member("sole_trader")
    contact = next(loc for loc in member.attributed if loc.startswith("contacts:"))
    contact_id = int(contact.split(":")[1])
    web = tmp_path / "web.sqlite"
    with sqlite3.connect(web) as conn:
        conn.execute("create table page_views (id integer primary key, contact_id integer, "
                     "url text)")
        conn.executemany("insert into page_views values (?, ?, ?)",
                         [(1, contact_id, "/tariffs"), (2, contact_id + 1, "/energy")])
    crm = engine.config.system("crm")
    web_system: dict[str, Any] = {"name": "web", "url": f"sqlite:///{web}"}
    if declared:
        web_system["references"] = {"contact_id": "crm.contacts.id"}
    config = config_from_dict({
        "agent": {"state": f"sqlite:///{tmp_path}/s.sqlite", "hmac_key": str(tmp_path / "k")},
        "systems": [{"name": "crm", "url": crm.url, **crm.options}, web_system],
    }, base_dir=tmp_path)
    both = SearchEngine(config, engine.pm)
    try:
        [result] = both.search([subject_from_pairs("m", list(member.search))], operator="t")
    finally:
        both.close()
    found = {f.id: f for f in result.findings}
    assert "web:page_views:1" in found and "web:page_views:2" not in found
    view = found["web:page_views:1"]
    assert view.strength == "strong"
    assert {"step": "discovered", "identifier": view.chain[-2]["identifier"],
            "type": "contact_id", "on": f"crm:{contact}"} == view.chain[-2]
