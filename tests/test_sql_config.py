"""Per-table settings override inference; bad settings fail with the system and key named."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from agent.config import SystemConfig, config_from_dict
from agent.errors import ConfigError
from connectors.sql import SqlConnector
from tests.conftest import SQL_BACKENDS, TestDatabase
from tests.sql_estate import (
    builtin_detectors,
    by_subject,
    make_connector,
    populated,
    subject,
)


@pytest.fixture(scope="module")
def detectors() -> list:
    return builtin_detectors()


@pytest.fixture(scope="module", params=SQL_BACKENDS)
def estate(request: pytest.FixtureRequest, isolated_database) -> TestDatabase:
    return populated(isolated_database(request.param))


@pytest.fixture
def connect(estate: TestDatabase, detectors: list) -> Iterator[Any]:
    made: list[SqlConnector] = []

    def make(**options: Any) -> SqlConnector:
        connector = make_connector(estate, detectors, **options)
        made.append(connector)
        return connector

    yield make
    for connector in made:
        connector.close()


def found(connector: SqlConnector, **identifiers: Any) -> dict:
    return by_subject(connector.search([subject("S", **identifiers)])).get("S", {})


# --------------------------------------------------------------------------- overrides


def test_identity_columns_from_config(connect, estate):
    legacy = estate.key("legacy_people")
    assert not [f for f in found(connect(), name="Jane Doe").values()
                if f.container == legacy]  # no detector knows "given" / "family"
    crm = connect(tables={"legacy_people": {
        "identity": {"name": ["given", "family"], "account": "handle"},
        "categories": ["Contractual"]}})
    row = found(crm, name="Jane Doe")[f"{legacy}:L-1"]
    assert row.internal_matched_ids == {"name#1"} and row.internal_holder == "jane doe"
    assert row.categories == ["Contractual"]
    assert found(crm, account="JD-1985")[f"{legacy}:L-1"].matched == ["account"]


def test_configured_identity_replaces_the_inferred_columns(connect, estate):
    crm = connect(tables={"contacts": {"identity": {"phone": "mobile"}}})
    assert f"{estate.key('contacts')}:1" not in found(crm, phone="01632 960000")
    assert f"{estate.key('contacts')}:1" in found(crm, phone="07700 900123")


def test_ignored_columns_are_not_identity(connect, estate):
    crm = connect(tables={"contacts": {"ignore": ["work_phone"]}})
    assert not [f for f in found(crm, phone="01632 960000").values()
                if f.container == estate.key("contacts")]


def test_free_text_columns_from_config(connect, estate):
    tickets = f"{estate.key('tickets')}:3"
    assert tickets in found(connect(), email="jane.doe@example.com")
    off = connect(tables={"tickets": {"free_text": []}})
    assert tickets not in found(off, email="jane.doe@example.com")
    assert tickets not in found(connect(free_text=False), email="jane.doe@example.com")
    remarks = connect(tables={"legacy_people": {"free_text": ["remarks", "handle"]}})
    assert f"{estate.key('legacy_people')}:L-1" in found(remarks, account="JD-1985")


def test_excluded_and_included_tables(connect, estate):
    crm = connect(tables={"prospects": {"exclude": True}}, exclude=["newsletter_*"])
    containers = {f.container for f in found(crm, email="jane.doe@example.com").values()}
    assert estate.key("prospects") not in containers
    assert estate.key("newsletter_signups") not in containers
    assert estate.key("contacts") in containers
    only = connect(include=["contacts", "Credit_Checks"])
    containers = {f.container for f in found(only, email="jane.doe@example.com").values()}
    assert containers == {estate.key("contacts"), estate.key("credit_checks")}


def test_party_from_config(connect, estate):
    as_company = connect(tables={"customers": {"party": "organisation"}})
    result = found(as_company, account="CAN-002002")
    assert result[f"{estate.key('customers')}:2"].internal_party == "organisation"
    assert f"{estate.key('contracts')}:2" not in result
    by_column = connect(tables={"customers": {"party_column": "business_type",
                                              "person_values": ["Limited Company"]}})
    acme = found(by_column, account="CAN-001001")
    assert acme[f"{estate.key('customers')}:1"].internal_party == "person"
    assert f"{estate.key('contracts')}:1" in acme
    assert found(by_column, account="CAN-002002")[
        f"{estate.key('customers')}:2"].internal_party == "organisation"


def test_links_from_config_and_inference_switch(connect, estate):
    call = f"{estate.key('call_logs')}:3"
    assert call not in found(connect(infer_foreign_keys=False), email="jane.doe@example.com")
    declared = connect(infer_foreign_keys=False,
                       tables={"call_logs": {"foreign_keys": {"contact_id": "contacts.id"}}})
    assert found(declared, email="jane.doe@example.com")[call].internal_link == (
        f"{estate.key('call_logs')}.contact_id \u2192 {estate.key('contacts')}.id")
    shallow = connect(follow_depth=1)
    result = found(shallow, email="jane.doe@example.com")
    assert f"{estate.key('devices')}:1" in result
    assert f"{estate.key('sim_cards')}:1" not in result


def test_configured_key_and_erasure_strategy(connect, estate):
    crm = connect(tables={"prospects": {"key": ["email"], "erasure": "anonymise"}})
    result = found(crm, phone="07700 900123")
    assert f"{estate.key('prospects')}:jane.doe@example.com" in result
    notes = {c.name: c.notes for c in crm.discover()}
    assert notes[estate.key("prospects")]["erasure"] == "anonymise"
    assert notes[estate.key("prospects")]["key_source"] == "configured"


# --------------------------------------------------------------------------- bad config


def system(**options: Any) -> SystemConfig:
    return SystemConfig(name="crm", connector="sql", url="sqlite:///unused.sqlite",
                        options=options)


@pytest.mark.parametrize(("options", "key"), [
    ({"tabels": {}}, "systems.crm.tabels"),
    ({"sample_size": 0}, "systems.crm.sample_size"),
    ({"follow_depth": 2.5}, "systems.crm.follow_depth"),
    ({"connect_timeout": "fast"}, "systems.crm.connect_timeout"),
    ({"schema": ""}, "systems.crm.schema"),
    ({"include": [1, 2]}, "systems.crm.include"),
    ({"free_text": "yes"}, "systems.crm.free_text"),
    ({"tables": ["contacts"]}, "systems.crm.tables"),
    ({"tables": {"contacts": "person"}}, "systems.crm.tables.contacts"),
    ({"tables": {"contacts": {"identiy": {}}}}, "systems.crm.tables.contacts.identiy"),
    ({"tables": {"contacts": {"identity": {"emial": "email"}}}},
     "systems.crm.tables.contacts.identity.emial"),
    ({"tables": {"contacts": {"identity": {"email": 3}}}},
     "systems.crm.tables.contacts.identity.email"),
    ({"tables": {"contacts": {"identity": {"name": ["a", "b", "c"]}}}},
     "systems.crm.tables.contacts.identity.name"),
    ({"tables": {"contacts": {"categories": ["Marketing"]}}},
     "systems.crm.tables.contacts.categories"),
    ({"tables": {"customers": {"party": "company"}}}, "systems.crm.tables.customers.party"),
    ({"tables": {"customers": {"person_values": ["sole_trader"]}}},
     "systems.crm.tables.customers.person_values"),
    ({"tables": {"customers": {"party_column": "business_type"}}},
     "systems.crm.tables.customers.party_column"),
    ({"tables": {"customers": {"party": "person", "party_column": "business_type",
                               "person_values": ["x"]}}}, "systems.crm.tables.customers.party"),
    ({"tables": {"contacts": {"exclude": "yes"}}}, "systems.crm.tables.contacts.exclude"),
    ({"tables": {"contacts": {"foreign_keys": {"referred_by": "contacts"}}}},
     "systems.crm.tables.contacts.foreign_keys.referred_by"),
    ({"tables": {"contacts": {"erasure": "shred"}}}, "systems.crm.tables.contacts.erasure"),
])
def test_bad_options_name_the_system_and_key(options, key):
    with pytest.raises(ConfigError) as caught:
        SqlConnector(system(**options))
    assert caught.value.key == key
    assert "'crm'" in str(caught.value) and key in str(caught.value)


def test_options_from_a_config_file_shape(tmp_path):
    config = config_from_dict({"systems": [{
        "name": "crm", "url": f"sqlite:///{tmp_path}/crm.sqlite",
        "references": {"contact_id": "other.contacts.id"},
        "schema": "main", "tables": {"contacts": {
            "identity": {"email": "email", "phone": ["mobile", "work_phone"],
                         "name": ["first_name", "last_name"]},
            "categories": ["contact", "Usage"], "party": "person",
            "free_text": ["notes"], "erasure": "delete"}}}]}, base_dir=tmp_path)
    connector = SqlConnector(config.systems[0])
    table = connector.options.tables["contacts"]
    assert table.identity == {"email": ["email"], "phone": ["mobile", "work_phone"],
                              "first_name": ["first_name"], "last_name": ["last_name"]}
    assert table.categories == ["Contact", "Usage Data"]
    assert connector.options.references == {"contact_id": ("other", "contacts", "id")}


@pytest.mark.parametrize(("tables", "key"), [
    ({"contcts": {}}, "systems.crm.tables.contcts"),
    ({"contacts": {"identity": {"email": "e_mail"}}}, "systems.crm.tables.contacts.identity.email"),
    ({"contacts": {"identity": {"email": "dob"}}}, "systems.crm.tables.contacts.identity.email"),
    ({"contacts": {"free_text": ["nots"]}}, "systems.crm.tables.contacts.free_text"),
    ({"contacts": {"ignore": ["nope"]}}, "systems.crm.tables.contacts.ignore"),
    ({"prospects": {"key": ["id"]}}, "systems.crm.tables.prospects.key"),
    ({"customers": {"party_column": "kind", "person_values": ["x"]}},
     "systems.crm.tables.customers.party_column"),
    ({"contacts": {"foreign_keys": {"referred_by": "people.id"}}},
     "systems.crm.tables.contacts.foreign_keys.referred_by"),
    ({"contacts": {"foreign_keys": {"referred_by": "contacts.nope"}}},
     "systems.crm.tables.contacts.foreign_keys.referred_by"),
])
def test_settings_that_do_not_fit_the_database(connect, tables, key):
    crm = connect(tables=tables)
    with pytest.raises(ConfigError) as caught:
        crm.search([subject("S", email="jane.doe@example.com")])
    assert caught.value.key == key
    assert "jane.doe" not in str(caught.value)
