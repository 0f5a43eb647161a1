"""The engine's attribution, expansion and failure rules, over an in-process connector."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import pytest

from agent import logging as dsr_logging
from agent.config import config_from_dict
from agent.engine import SearchEngine
from agent.plugins import PluginManager
from agent.subjects import subject_from_pairs
from tests.support.memory_connector import MemoryPlugin

JANE = {"locator": "contacts:1", "holder": "Jane Doe",
        "values": {"email": ["jane.doe@example.com"], "phone": ["07700 900101"],
                   "name": ["Jane Doe"]}}


@pytest.fixture
def pm() -> PluginManager:
    manager = PluginManager()
    manager.add_module("memory", MemoryPlugin())
    return manager.load(builtins=(), use_entry_points=False)


def make_engine(pm: PluginManager, tmp_path: Path, systems: list[dict[str, Any]],
                **agent: Any) -> SearchEngine:
    cfg = config_from_dict({
        "agent": {"state": f"sqlite:///{tmp_path}/state.sqlite",
                  "hmac_key": str(tmp_path / "hmac.key"), **agent},
        "systems": [{"connector": "memory", "url": "memory://", **s} for s in systems],
    }, base_dir=tmp_path)
    return SearchEngine(cfg, pm)


def search_one(engine: SearchEngine, *pairs: tuple[str, str]):
    [result] = engine.search([subject_from_pairs("S1", list(pairs))], operator="test",
                             reason="unit test")
    return result


def by_id(result) -> dict[str, Any]:
    return {f.id: f for f in result.findings}


def test_email_finds_record_strong_with_chain(pm, tmp_path):
    engine = make_engine(pm, tmp_path, [{"name": "crm", "records": [JANE]}])
    result = search_one(engine, ("email", "Jane.Doe@Example.com "))
    finding = by_id(result)["crm:contacts:1"]
    assert finding.strength == "strong"
    assert finding.matched == ["email", "phone"]  # phone learnt from it, searched in round 2
    assert finding.chain == [
        {"step": "request", "identifier": "email#1", "type": "email"},
        {"step": "matched", "identifier": "email#1", "type": "email", "record": "crm:contacts:1"},
    ]
    public = result.public()
    assert public["systems"] == [{"name": "crm", "status": "ok", "seconds": pytest.approx(
        public["systems"][0]["seconds"])}]


def test_identifiers_on_own_record_expand_across_systems(pm, tmp_path):
    call = {"locator": "calls:9", "values": {"phone": ["+44 7700 900101"]},
            "categories": ["Communications"]}
    engine = make_engine(pm, tmp_path, [{"name": "crm", "records": [JANE]},
                                        {"name": "pbx", "records": [call]}])
    result = search_one(engine, ("email", "jane.doe@example.com"))
    found = by_id(result)
    assert found["pbx:calls:9"].strength == "strong"
    phone = result.subject.get("phone#1")
    assert phone is not None and phone.origin == "crm:contacts:1" and phone.round == 1
    steps = [s["step"] for s in found["pbx:calls:9"].chain]
    assert steps == ["request", "matched", "discovered", "matched"]
    assert result.rounds == 2


def test_shared_landline_is_weak_and_never_attributes_other_person(pm, tmp_path):
    jane = {**JANE, "values": {**JANE["values"], "phone": ["01632 960001"]}}
    bob = {"locator": "contacts:2", "holder": "Bob Jones",
           "values": {"email": ["bob.jones@example.com"], "phone": ["01632960001"]}}
    engine = make_engine(pm, tmp_path, [{"name": "crm", "records": [jane, bob]}])

    result = search_one(engine, ("email", "jane.doe@example.com"))
    assert set(by_id(result)) == {"crm:contacts:1"}
    assert by_id(result)["crm:contacts:1"].strength == "strong"
    landline = result.subject.of_type("phone")[0]
    assert result.subject.status[landline.id] == "shared"
    assert result.excluded_lookalikes == 1

    only_landline = search_one(engine, ("phone", "01632 960001"))
    assert {f.strength for f in only_landline.findings} == {"weak"}
    assert len(only_landline.findings) == 2
    # weak findings never expand: no e-mail was learnt from either record
    assert not only_landline.subject.of_type("email")


def test_same_name_lookalike_is_excluded(pm, tmp_path):
    other = {"locator": "contacts:3", "holder": "Jane Doe",
             "values": {"email": ["jane.doe@elsewhere.example.co.uk"], "name": ["Jane Doe"]}}
    engine = make_engine(pm, tmp_path, [{"name": "crm", "records": [JANE, other]}])
    result = search_one(engine, ("email", "jane.doe@example.com"), ("name", "Jane Doe"))
    assert set(by_id(result)) == {"crm:contacts:1"}
    assert result.excluded_lookalikes == 1


def test_name_only_match_is_weak(pm, tmp_path):
    engine = make_engine(pm, tmp_path, [{"name": "crm", "records": [JANE]}])
    result = search_one(engine, ("name", "Mrs JANE DOE"))
    assert [f.strength for f in result.findings] == ["weak"]


def test_role_address_and_company_records_never_expand(pm, tmp_path):
    jane = {**JANE, "values": {**JANE["values"], "email": ["jane.doe@example.com",
                                                            "accounts@example.com"]}}
    company = {"locator": "customers:7", "party": "organisation",
               "values": {"account": ["CAN-000777"], "email": ["accounts@example.com"]}}
    engine = make_engine(pm, tmp_path, [{"name": "crm", "records": [jane, company]}])
    result = search_one(engine, ("email", "jane.doe@example.com"))
    assert [i.value for i in result.subject.of_type("email")] == ["jane.doe@example.com"]
    assert "crm:customers:7" not in by_id(result)

    by_account = search_one(engine, ("account", "CAN-000777"))
    assert by_account.findings == []
    assert by_account.subject.status["account#1"] == "organisation"


def test_linked_rows_inherit_strength(pm, tmp_path):
    child = {"locator": "devices:5", "parent": "contacts:1", "link": "devices.contact_id",
             "values": {"device_id": ["356938035643809"]}, "categories": ["Technical"]}
    engine = make_engine(pm, tmp_path, [{"name": "crm", "records": [JANE, child]}])
    strong = by_id(search_one(engine, ("email", "jane.doe@example.com")))
    assert strong["crm:devices:5"].strength == "strong"
    assert strong["crm:devices:5"].chain[-1]["step"] == "linked"
    weak = by_id(search_one(engine, ("name", "Jane Doe")))
    assert weak["crm:devices:5"].strength == "weak"


def test_depth_limit_stops_expansion(pm, tmp_path):
    records = [
        {"locator": f"contacts:{n}", "holder": "Jane Doe",
         "values": {"email": [f"jane{n}@example.com", f"jane{n + 1}@example.com"]}}
        for n in range(6)
    ]
    engine = make_engine(pm, tmp_path, [{"name": "crm", "records": records}], max_depth=2)
    result = search_one(engine, ("email", "jane0@example.com"))
    assert sorted(by_id(result)) == ["crm:contacts:0", "crm:contacts:1", "crm:contacts:2"]
    assert result.rounds == 3


def test_failed_system_is_reported_and_others_still_searched(pm, tmp_path):
    engine = make_engine(pm, tmp_path, [{"name": "down", "fail": True},
                                        {"name": "crm", "records": [JANE]}])
    result = search_one(engine, ("email", "jane.doe@example.com"))
    assert result.failed
    status = {s.name: s for s in result.systems}
    assert status["down"].status == "error" and "unreachable" in status["down"].error
    assert status["crm"].status == "ok"
    assert "crm:contacts:1" in by_id(result)


def test_hanging_system_times_out_without_holding_up_the_rest(pm, tmp_path):
    engine = make_engine(pm, tmp_path, [{"name": "slow", "sleep": 1.5, "timeout": 0.3},
                                        {"name": "crm", "records": [JANE]}])
    started = time.monotonic()
    result = search_one(engine, ("email", "jane.doe@example.com"))
    assert time.monotonic() - started < 1.2
    status = {s.name: s for s in result.systems}
    assert status["slow"].status == "error" and "timed out" in status["slow"].error
    assert "crm:contacts:1" in by_id(result)
    time.sleep(1.5)  # let the abandoned thread finish while the test still owns stderr


def test_batch_keeps_subjects_apart(pm, tmp_path):
    bob = {"locator": "contacts:2", "holder": "Bob Jones",
           "values": {"email": ["bob.jones@example.com"]}}
    engine = make_engine(pm, tmp_path, [{"name": "crm", "records": [JANE, bob]}])
    results = engine.search([subject_from_pairs("A", [("email", "jane.doe@example.com")]),
                             subject_from_pairs("B", [("email", "bob.jones@example.com")])],
                            operator="t")
    assert [sorted(by_id(r)) for r in results] == [["crm:contacts:1"], ["crm:contacts:2"]]


def test_audit_holds_digests_not_values(pm, tmp_path):
    engine = make_engine(pm, tmp_path, [{"name": "crm", "records": [JANE]}])
    result = search_one(engine, ("email", "jane.doe@example.com"))
    [row] = engine.store.searches()
    assert row["operator"] == "test" and row["reason"] == "unit test"
    idents = engine.store.identifiers_of(result.search_id)
    assert {i["type"] for i in idents} == {"email", "phone"}
    assert all(len(i["digest"]) == 64 for i in idents)
    engine.close()
    raw = (tmp_path / "state.sqlite").read_bytes()
    assert b"jane.doe@example.com" not in raw and b"7700900101" not in raw
    assert (tmp_path / "hmac.key").stat().st_mode & 0o777 == 0o600


def test_logs_redact_searched_values(pm, tmp_path):
    stream = io.StringIO()
    dsr_logging.configure("debug", stream=stream, pretty=False)
    engine = make_engine(pm, tmp_path, [{"name": "crm", "records": [JANE]}])
    log = dsr_logging.get_logger("test")
    # anything logged while the search runs (here: from its progress events) is redacted,
    # including identifiers learnt on the way (the phone) and other writings of them
    engine.progress = lambda event, data: log.warning(
        event, detail="07700900101 JANE.DOE@EXAMPLE.COM +44 7700 900101")
    search_one(engine, ("email", "jane.doe@example.com"))
    text = stream.getvalue()
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines and all("search_id" in l_ for l_ in lines if l_["event"].startswith("search"))
    rounds = [l_["detail"] for l_ in lines if l_["event"] == "round"]
    assert len(rounds) == 2
    assert "jane.doe@example.com" not in text.lower()
    # the phone is learnt in round 0, so from round 1 on it is redacted in every writing
    assert rounds[-1] == "[redacted] [redacted] [redacted]"


def test_identifier_learnt_on_her_record_but_held_by_another_person_is_shared(pm, tmp_path):
    # Her ticket's notes quote an address that is really Bob's: it must not make Bob's
    # record hers.
    jane = {**JANE, "values": {**JANE["values"], "email": ["jane.doe@example.com",
                                                            "bob.jones@example.com"]}}
    bob = {"locator": "contacts:2", "holder": "Bob Jones",
           "values": {"email": ["bob.jones@example.com"], "name": ["Bob Jones"]}}
    engine = make_engine(pm, tmp_path, [{"name": "crm", "records": [jane, bob]}])
    result = search_one(engine, ("email", "jane.doe@example.com"))
    assert set(by_id(result)) == {"crm:contacts:1"}
    learnt = [i for i in result.subject.of_type("email") if i.origin != "request"]
    assert [result.subject.status[i.id] for i in learnt] == ["shared"]


def test_linked_rows_expand_only_device_and_cookie_ids(pm, tmp_path):
    call = {"locator": "call_logs:4", "parent": "contacts:1", "link": "call_logs.contact_id",
            "values": {"phone": ["07700 900555"]}}  # the number she dialled
    device = {"locator": "devices:5", "parent": "contacts:1",
              "values": {"device_id": ["356938035643809"]}}
    engine = make_engine(pm, tmp_path, [{"name": "crm", "records": [JANE, call, device]}])
    result = search_one(engine, ("email", "jane.doe@example.com"))
    learnt = {(i.type, i.value) for i in result.subject.identifiers if i.origin != "request"}
    assert ("device_id", "356938035643809") in learnt
    assert ("phone", "+447700900555") not in learnt


def test_redactor_matches_whole_values_and_leaves_agent_fields_alone():
    from agent.logging import Redactor
    redactor = Redactor()
    redactor.add(["4123", "jane@example.com"])
    assert redactor.scrub("contact 4123 wrote") == "contact [redacted] wrote"
    assert redactor.scrub("invoice CAN-0041234") == "invoice CAN-0041234"
    assert redactor.scrub("to JANE@example.com.") == "to [redacted]."
    event = redactor(None, "info", {"search_id": "89de01c3-a847-4123-b766", "detail": "4123"})
    assert event == {"search_id": "89de01c3-a847-4123-b766", "detail": "[redacted]"}


def test_max_depth_zero_searches_once_and_learns_nothing(pm, tmp_path):
    engine = make_engine(pm, tmp_path, [{"name": "crm", "records": [JANE]}], max_depth=0)
    result = search_one(engine, ("email", "jane.doe@example.com"))
    assert result.rounds == 1
    assert [i.id for i in result.subject.identifiers] == ["email#1"]


def test_search_releases_its_values_from_the_redactor_but_secrets_stay(pm, tmp_path):
    from agent.logging import REDACTED, redactor
    held = redactor.add(["config-secret-value"])
    engine = make_engine(pm, tmp_path, [{"name": "crm", "records": [JANE]}])
    search_one(engine, ("email", "jane.doe@example.com"))
    assert redactor.scrub("jane.doe@example.com") == "jane.doe@example.com"
    assert redactor.scrub("config-secret-value") == REDACTED
    redactor.release(held)
    assert redactor.scrub("config-secret-value") == "config-secret-value"
