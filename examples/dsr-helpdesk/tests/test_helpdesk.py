"""The connector's own promises beyond the kit: clear errors, phones in any writing,
mentions in ticket notes, erasure that refuses before it changes anything."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from conftest import JANE, seed_people, system_entry
from crm_server import CrmServer
from dsr_helpdesk.connector import HelpdeskConnector

from agent.config import Config, config_from_dict
from agent.engine import SearchEngine
from agent.errors import ConfigError, ConnectorError
from agent.plugins import PluginManager
from agent.sampling import SampleOptions
from agent.subjects import subject_from_mapping
from agent.testing import plan_items


def make_config(tmp_path: Path, entry: dict[str, object]) -> Config:
    return config_from_dict({
        "agent": {"state": f"sqlite:///{tmp_path / 'state.sqlite'}",
                  "hmac_key": str(tmp_path / "keys" / "hmac.key")},
        "systems": [entry]}, base_dir=tmp_path)


@pytest.fixture
def engine(tmp_path: Path, crm: CrmServer, dsr_plugin_manager: PluginManager):
    engine = SearchEngine(make_config(tmp_path, system_entry(crm)), dsr_plugin_manager)
    yield engine
    engine.close()


def connector_of(engine: SearchEngine) -> HelpdeskConnector:
    connector = engine.connector(engine.config.systems[0])
    assert isinstance(connector, HelpdeskConnector)
    return connector


def search(engine: SearchEngine, **identifiers: object):
    [result] = engine.search([subject_from_mapping(dict(identifiers), default_ref="s")],
                             operator="test", reason="test", record=False)
    return result


# --------------------------------------------------------------------------- errors

def test_bad_token_is_a_clear_error_without_the_token(tmp_path, crm, dsr_plugin_manager,
                                                      monkeypatch, caplog):
    seed_people(crm)
    monkeypatch.setenv("HELPDESK_TEST_TOKEN", "not-the-token-0123456789")
    engine = SearchEngine(make_config(tmp_path, system_entry(crm)), dsr_plugin_manager)
    try:
        check = connector_of(engine).check()
        assert not check.ok
        assert check.detail == ("system 'helpdesk': the helpdesk refused the token (HTTP 401): "
                                "check the token option (GET me)")
        with caplog.at_level(logging.DEBUG):
            result = search(engine, email=JANE["email"])
    finally:
        engine.close()
    [status] = result.systems
    assert status.status == "error" and "refused the token (HTTP 401)" in status.error
    assert result.findings == []
    everything = f"{check.detail} {status.error} {caplog.text}"
    assert "not-the-token" not in everything and JANE["email"] not in everything


def test_dropped_connection_names_the_system(engine, crm):
    seed_people(crm)
    crm.drop_connections = True
    connector = connector_of(engine)
    with pytest.raises(ConnectorError) as raised:
        list(connector.search([subject_from_mapping({"email": [JANE["email"]]}, default_ref="s")]))
    assert str(raised.value) == (
        "system 'helpdesk': the helpdesk closed the connection without answering "
        "(POST contacts/search, RemoteProtocolError)")
    assert not connector.check().ok
    [status] = search(engine, email=JANE["email"]).systems  # the engine reports, not crashes
    assert status.status == "error" and "system 'helpdesk'" in status.error


def test_unreachable_and_misconfigured(tmp_path, crm, dsr_plugin_manager):
    config = make_config(tmp_path, {**system_entry(crm), "url": "http://127.0.0.1:9/api/v1"})
    engine = SearchEngine(config, dsr_plugin_manager)
    try:
        check = connector_of(engine).check()
    finally:
        engine.close()
    assert not check.ok and "could not connect" in check.detail
    for entry, key in (({"token": ""}, "token"),
                       ({"url": "http://crm.example.com/api/v1"}, "url"),
                       ({"tokn": "x"}, "tokn"),
                       ({"batch_size": 500}, "batch_size")):
        system = make_config(tmp_path, {**system_entry(crm), **entry}).systems[0]
        with pytest.raises(ConfigError, match=rf"\[systems\.helpdesk\.{key}\]"):
            HelpdeskConnector(system)


# --------------------------------------------------------------------------- search

PHONE_WRITINGS = ["07700 900303", "07700900303", "+44 7700 900303", "+44 (0)7700 900303",
                  "0044 7700 900303", "447700900303", "(07700) 900-303", "07700.900.303"]


@pytest.mark.parametrize("stored", PHONE_WRITINGS)
def test_search_finds_a_phone_in_any_uk_writing(engine, crm, stored):
    data = crm.data
    wanted = data.add_contact("Alex Example", "alex@example.com", stored)
    data.add_contact("Decoy One", "decoy1@example.com", "07700 900304")  # one digit off
    data.add_contact("Decoy Two", "decoy2@example.com", "017700900303")  # same tail
    for asked in ("+447700900303", "07700-900-303", "+44 (0) 7700 900303"):
        found = search(engine, phone=[asked]).findings
        # the phone matched; the contact's e-mail, learnt from it, matched in round two
        assert [(f.locator, f.strength, f.matched) for f in found] == [
            (f"contacts:{wanted}", "strong", ["email", "phone"])], (stored, asked)


def test_one_request_per_batch_and_tickets_follow(engine, crm):
    ids = seed_people(crm)
    subjects = [subject_from_mapping({"email": [f"nobody{n}@example.com"]}, default_ref=f"S{n}")
                for n in range(30)]
    subjects.append(subject_from_mapping({"email": [JANE["email"]]}, default_ref="jane"))
    crm.requests.clear()
    found = list(connector_of(engine).search(subjects))
    assert sorted(crm.requests) == [("POST", "/api/v1/contacts/search"),
                                    ("POST", "/api/v1/tickets/search")]
    assert sorted(f.locator for f in found) == sorted(
        f"{kind}:{ids[key]}" for kind, key in (("contacts", "jane"), ("tickets", "jane_ticket"),
                                               ("tickets", "jane_ticket2")))
    assert {f.subject for f in found} == {"jane"}


def test_a_ticket_quoting_the_person_is_a_mention(engine, crm):
    ids = seed_people(crm)
    quoting = crm.data.add_ticket(ids["stranger"], "Referral",
                                  "Sam says call his friend on 07700-900-101 or "
                                  "JANE.DOE@example.com.")
    near_miss = crm.data.add_ticket(ids["stranger"], "Other",
                                    "wrote to xjane.doe@example.com and 07700 9001011")
    found = {f.locator: f for f in search(engine, email=[JANE["email"]]).findings}
    assert f"tickets:{quoting}" in found and f"tickets:{near_miss}" not in found
    mention = found[f"tickets:{quoting}"]
    assert mention.matched == ["email", "phone"] and mention.chain[-1]["step"] == "matched"
    assert f"contacts:{ids['stranger']}" not in found  # Sam's own record is not Jane's


# --------------------------------------------------------------------------- actions

def test_erase_refuses_orphaning_tickets_and_changes_nothing(engine, crm):
    ids = seed_people(crm)
    connector = connector_of(engine)
    [contact] = [f for f in search(engine, email=[JANE["email"]]).findings
                 if f.container == "contacts"]
    items = plan_items([contact], "delete", connector)
    assert connector.kept_references(items) == {contact.id: "tickets that stay refer to it"}
    with pytest.raises(ConnectorError, match="nothing was changed"):
        list(connector.erase(items))
    assert ids["jane"] in crm.data.contacts and ids["jane_ticket"] in crm.data.tickets


def test_erase_failing_midway_says_how_far_it_got(engine, crm):
    ids = seed_people(crm)
    connector = connector_of(engine)
    findings = search(engine, email=[JANE["email"]]).findings
    items = plan_items(findings, "delete", connector)
    assert connector.kept_references(items) == {}
    crm.fail_method = "DELETE"
    with pytest.raises(ConnectorError, match=r"HTTP 503 \(DELETE tickets/\{id\}\); erase "
                                             r"stopped after 0 of 3 changes"):
        list(connector.erase(items))
    crm.fail_method = None
    outcomes = {o.item_id: o.status for o in connector.erase(items)}
    assert sorted(outcomes.values()) == ["done"] * 3
    assert ids["jane"] not in crm.data.contacts and ids["other"] in crm.data.contacts


def test_sample_reads_pages_up_to_the_limit(tmp_path, crm, dsr_plugin_manager):
    seed_people(crm)
    for n in range(7):
        crm.data.add_contact(f"Person {n}", f"p{n}@example.com", f"01632 9601{n:02d}")
    config = make_config(tmp_path, system_entry(crm, page_size=3))
    engine = SearchEngine(config, dsr_plugin_manager)
    try:
        connector = connector_of(engine)
        [contacts, tickets] = connector.discover()
        assert (contacts.items, tickets.items) == (10, 4)
        crm.requests.clear()
        [sample] = connector.sample(contacts, SampleOptions(values_per_column=8))
    finally:
        engine.close()
    emails = next(f for f in sample.fields if f.column == "email")
    assert len(emails.values) == 8 and emails.size == 10
    assert len(crm.requests) == 1 + 3  # the fingerprint, then pages of 3, 3 and 2
