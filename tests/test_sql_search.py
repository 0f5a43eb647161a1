"""The SQL connector's search, the same suite on SQLite, PostgreSQL, MariaDB (and SQL Server
when DSR_TEST_MSSQL_URL is set): every test runs against a real database built from
``tests/sql_estate.py``."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest

from agent.models import Identifier, Subject
from agent.subjects import add_identifier
from connectors.sql import SqlConnector
from tests.conftest import SQL_BACKENDS, TestDatabase
from tests.sql_estate import (
    ROWS,
    builtin_detectors,
    by_subject,
    make_connector,
    populated,
    row_counts,
    subject,
)


@pytest.fixture(scope="module", params=SQL_BACKENDS)
def estate(request: pytest.FixtureRequest, isolated_database) -> TestDatabase:
    return populated(isolated_database(request.param))


@pytest.fixture(scope="module")
def crm(estate: TestDatabase) -> Iterator[SqlConnector]:
    connector = make_connector(estate, builtin_detectors())
    yield connector
    connector.close()


def loc(estate: TestDatabase, table: str, key: object) -> str:
    return f"{estate.key(table)}:{key}"


def search_one(crm: SqlConnector, **identifiers: object) -> dict:
    return by_subject(crm.search([subject("S", **identifiers)])).get("S", {})


# --------------------------------------------------------------------------- direct matches


def test_finds_a_person_by_email_in_any_case(crm, estate):
    found = search_one(crm, email="JANE.DOE@Example.COM")
    jane = found[loc(estate, "contacts", 1)]
    assert jane.matched == ["email"] and jane.internal_matched_ids == {"email#1"}
    assert jane.system == "crm" and jane.kind == "row" and jane.subject == "S"
    assert jane.container == estate.key("contacts")
    assert "Contact" in jane.categories
    assert jane.internal_holder == "jane doe"
    assert jane.internal_values["email"] == {"jane.doe@example.com"}
    assert jane.internal_values["phone"] == {"+447700900123", "+441632960000"}
    assert jane.internal_values["contact_id"] == {"1"}  # her own key, for other systems
    # stored upper-case in another table
    assert found[loc(estate, "newsletter_signups", "NS-0001")].matched == ["email"]
    # the look-alike with a different address is not found by e-mail
    assert loc(estate, "contacts", 4) not in found


@pytest.mark.parametrize(("contact", "query"), [
    (1, "07700900123"),          # stored "07700 900123"
    (2, "+44 7700 900456"),      # stored "07700900456"
    (3, "07700 900789"),         # stored "+447700900789"
    (4, "0044 7700 900124"),     # stored "+44 7700 900124"
    (5, "+447700900321"),        # stored "(07700) 900321"
    (6, "07700 900654"),         # stored "07700-900-654"
    (7, "7700 900777"),          # stored "+44 (0)7700 900777"
])
def test_finds_a_phone_in_every_stored_format(crm, estate, contact, query):
    found = search_one(crm, phone=query)
    assert found[loc(estate, "contacts", contact)].matched == ["phone"]
    others = {f.locator for f in found.values() if f.container == estate.key("contacts")
              and f.internal_matched_ids}
    assert others == {loc(estate, "contacts", contact)}


def test_finds_a_phone_stored_in_an_integer_column(crm, estate):
    jane = search_one(crm, phone="07700 900123")
    assert jane[loc(estate, "sms_optins", 1)].internal_matched_ids == {"phone#1"}
    # 7700900789 lost its leading zero and country code in a number column
    sam = search_one(crm, phone="+44 7700 900789")
    assert sam[loc(estate, "sms_optins", 3)].internal_matched_ids == {"phone#1"}
    assert loc(estate, "sms_optins", 1) not in sam


def test_finds_a_customer_by_account_number_as_text_or_integer(crm, estate):
    for query in ("can-002002", "CAN-002002 ", "2002002"):
        found = search_one(crm, account=query)
        sam = found[loc(estate, "customers", 2)]
        assert sam.matched == ["account"], query
        assert sam.internal_party == "person"
        assert sam.internal_values["customer_id"] == {"2"}
        assert sam.internal_values["account"] == {"CAN-002002", "2002002"}


def test_record_ids_from_the_request_match_the_tables_own_keys(crm, estate):
    found = search_one(crm, customer_id="2", contact_id="1")
    assert found[loc(estate, "customers", 2)].internal_matched_ids == {"customer_id#1"}
    assert found[loc(estate, "contacts", 1)].internal_matched_ids == {"contact_id#1"}
    assert loc(estate, "contacts", 2) not in found and loc(estate, "customers", 1) not in found
    assert loc(estate, "contracts", 2) in found  # the sole trader's, as for his account


def test_a_phone_one_digit_off_never_matches(crm, estate):
    found = search_one(crm, phone="07700 900124")  # Jane's is ...123
    assert loc(estate, "contacts", 4) in found
    assert loc(estate, "contacts", 1) not in found
    assert loc(estate, "sms_optins", 1) not in found


# --------------------------------------------------------------------------- following links


def test_rows_hanging_off_the_person_carry_parent_and_link(crm, estate):
    found = search_one(crm, email="jane.doe@example.com")
    jane_id = f"crm:{loc(estate, 'contacts', 1)}"
    expect_children = {
        loc(estate, "credit_checks", 1): "credit_checks.contact_id",
        loc(estate, "marketing_preferences", "1,email"): "marketing_preferences.contact_id",
        loc(estate, "marketing_preferences", "1,sms"): "marketing_preferences.contact_id",
        loc(estate, "call_logs", 1): "call_logs.contact_id",  # inferred: no declared key
        loc(estate, "call_logs", 3): "call_logs.contact_id",
        loc(estate, "devices", 1): "devices.contact_id",
        loc(estate, "tickets", 1): "tickets.contact_id",
        loc(estate, "tickets", 2): "tickets.contact_id",
    }
    for locator, column in expect_children.items():
        child = found[locator]
        assert child.internal_parent == jane_id, locator
        assert child.internal_link == (f"{estate.key(column.split('.')[0])}."
                                       f"{column.split('.')[1]} \u2192 "
                                       f"{estate.key('contacts')}.id")
        assert child.internal_matched_ids == set() and child.matched == []
    sim = found[loc(estate, "sim_cards", 1)]  # a grandchild
    assert sim.internal_parent == f"crm:{loc(estate, 'devices', 1)}"
    sessions = [f for f in found.values() if f.container == estate.key("web_sessions")]
    assert len(sessions) == 2 and all(f.internal_parent == jane_id for f in sessions)
    assert all(f.internal_values == {"cookie_id": {"ck-7f3a9b2c1d"}} for f in sessions)
    assert found[loc(estate, "devices", 1)].internal_values == {
        "device_id": {"356938035643809"}}


def test_never_climbs_to_the_company_or_pulls_in_colleagues(crm, estate):
    found = search_one(crm, email="jane.doe@example.com")
    for table, key in [("customers", 1), ("contracts", 1), ("invoices", 1), ("payments", 1),
                       ("order", 2), ("contacts", 2), ("contacts", 5), ("devices", 2),
                       ("credit_checks", 2)]:
        assert loc(estate, table, key) not in found, (table, key)


def test_a_sole_traders_contracts_invoices_and_payments_are_followed(crm, estate):
    found = search_one(crm, account="CAN-002002")
    customer = f"crm:{loc(estate, 'customers', 2)}"
    assert found[loc(estate, "contracts", 2)].internal_parent == customer
    assert found[loc(estate, "contracts", 3)].internal_parent == customer
    assert found[loc(estate, "order", 1)].internal_parent == customer
    assert found[loc(estate, "invoices", 2)].internal_parent == \
        f"crm:{loc(estate, 'contracts', 2)}"
    payment = found[loc(estate, "payments", 3)]
    assert payment.internal_parent == f"crm:{loc(estate, 'invoices', 3)}"
    assert payment.internal_values == {"bank_account": {"200000:12345678"}}
    assert "Banking" in payment.categories
    # his contact row is a person table in its own right: found by itself, not pulled in
    assert loc(estate, "contacts", 3) not in found
    assert loc(estate, "contracts", 1) not in found


def test_a_limited_companys_account_is_not_followed(crm, estate):
    found = search_one(crm, account="CAN-001001")
    acme = found[loc(estate, "customers", 1)]
    assert acme.internal_party == "organisation" and acme.internal_holder is None
    assert "customer_id" not in acme.internal_values  # a company's key never expands
    assert {f.container for f in found.values()} == {estate.key("customers")}


def test_sole_trader_found_by_email_on_customer_and_contact(crm, estate):
    found = search_one(crm, email="sam.trader@example.co.uk")
    assert found[loc(estate, "customers", 2)].internal_holder == "sam trader"
    assert found[loc(estate, "contacts", 3)].matched == ["email"]
    assert loc(estate, "contracts", 2) in found
    assert loc(estate, "credit_checks", 2) in found  # hanging off his contact row


# --------------------------------------------------------------------------- look-alikes


def test_look_alikes_get_no_strong_identifier(crm, estate):
    found = search_one(crm, email="jane.doe@example.com", phone="07700 900123",
                       name="Jane Doe", postcode="LS1 4AP")
    other_jane = found[loc(estate, "contacts", 4)]  # same name and postcode
    assert other_jane.internal_matched_ids == {"name#1", "postcode#1"}
    assert other_jane.internal_values["email"] == {"jane.doe@example.co.uk"}  # she differs
    assert loc(estate, "contacts", 2) not in found  # a colleague: shared postcode only
    assert loc(estate, "contacts", 6) not in found
    assert loc(estate, "call_logs", 4) not in found  # the other Jane's call
    jane = found[loc(estate, "contacts", 1)]
    assert jane.internal_matched_ids == {"email#1", "phone#1", "name#1", "postcode#1"}


def test_a_shared_landline_is_on_two_people_with_different_holders(crm, estate):
    found = search_one(crm, phone="01632 960000")
    jane, bob = found[loc(estate, "contacts", 1)], found[loc(estate, "contacts", 2)]
    assert jane.internal_matched_ids == bob.internal_matched_ids == {"phone#1"}
    assert (jane.internal_holder, bob.internal_holder) == ("jane doe", "bob smith")
    assert found[loc(estate, "call_logs", 2)].internal_matched_ids == {"phone#1"}
    assert found[loc(estate, "call_logs", 3)].internal_matched_ids == {"phone#1"}
    # a number on two people attributes nothing: their devices, checks, tickets stay out
    assert not [f for f in found.values() if f.internal_parent]
    # her own address still leads to her rows when the landline comes with it
    both = search_one(crm, email="jane.doe@example.com", phone="01632 960000")
    assert both[loc(estate, "devices", 1)].internal_parent == f"crm:{loc(estate, 'contacts', 1)}"
    assert loc(estate, "devices", 2) not in both


def test_sql_injection_strings_are_inert(crm, estate):
    engine = estate.engine()
    before = row_counts(engine, estate.schema)
    hostile = Subject(ref="X", identifiers=[
        Identifier("email#1", "email", "' OR '1'='1"),
        Identifier("email#2", "email", "x@example.com'; DROP TABLE contacts; --"),
        Identifier("phone#1", "phone", "1); DELETE FROM contacts; --"),
        Identifier("account#1", "account", "' OR 1=1 --"),
        Identifier("name#1", "name", "robert'); drop table contacts; --"),
        Identifier("contact_id#1", "contact_id", "1 OR 1=1", scope="other.contacts"),
    ])
    valid = Subject(ref="Y")  # a syntactically valid address full of quotes
    add_identifier(valid, "email", "x'or'1'='1@example.com")
    add_identifier(valid, "name", "O'Brien' OR 'a'='a")
    found = crm.search([hostile, valid])
    assert [f for f in found if f.internal_matched_ids] == []
    assert row_counts(engine, estate.schema) == before
    engine.dispose()
    # a real apostrophe still matches
    zoe = search_one(crm, name="Zoe O'Brien")
    assert zoe[loc(estate, "contacts", 7)].internal_matched_ids == {"name#1"}


# --------------------------------------------------------------------------- keys and cycles


def test_a_table_without_any_key_is_located_by_row_hash(crm, estate):
    found = search_one(crm, email="jane.doe@example.com")
    prospects = [f for f in found.values() if f.container == estate.key("prospects")]
    assert len(prospects) == 1
    assert re.fullmatch(re.escape(estate.key("prospects")) + r":#[0-9a-f]{64}",
                        prospects[0].locator)
    again = search_one(crm, phone="07700 900123")
    assert prospects[0].locator in again  # stable


def test_composite_and_unique_keys_make_the_locator(crm, estate):
    found = search_one(crm, email="jane.doe@example.com")
    assert loc(estate, "marketing_preferences", "1,email") in found
    assert loc(estate, "newsletter_signups", "NS-0001") in found


def test_self_references_and_cycles_terminate(estate):
    deep = make_connector(estate, builtin_detectors(), follow_depth=50)
    try:
        found = deep.search([subject("S", email="jane.doe@example.com")])
    finally:
        deep.close()
    locators = [f.locator for f in found]
    assert len(locators) == len(set(locators))
    # tickets 1 <-> 2 point at each other; devices -> sim cards -> devices
    assert loc(estate, "tickets", 2) in locators and loc(estate, "sim_cards", 1) in locators
    # contacts.referred_by: people she referred are people in their own right
    assert loc(estate, "contacts", 2) not in locators


# --------------------------------------------------------------------------- free text


def test_free_text_mentions_are_found(crm, estate):
    found = search_one(crm, email="jane.doe@example.com", phone="07700900123")
    mention = found[loc(estate, "tickets", 3)]  # Bob's ticket quoting her address and phone
    assert mention.internal_matched_ids == {"email#1", "phone#1"}
    assert mention.internal_parent is None
    # the row's own identity data is Bob's, not hers
    assert mention.internal_values == {} and mention.internal_holder is None


def test_free_text_phone_in_another_writing(crm, estate):
    found = search_one(crm, phone="+447700900124")
    assert found[loc(estate, "tickets", 4)].internal_matched_ids == {"phone#1"}


# --------------------------------------------------------------------------- batches and read


def test_a_batch_returns_each_subjects_own_findings(crm, estate):
    subjects = [subject("JANE", email="jane.doe@example.com"),
                subject("BOB", email="bob.smith@example.com"),
                subject("SAM", account="CAN-002002"),
                subject("NOBODY", email="nobody@example.com")]
    found = by_subject(crm.search(subjects))
    assert set(found) == {"JANE", "BOB", "SAM"}
    assert loc(estate, "contacts", 1) in found["JANE"]
    assert loc(estate, "contacts", 2) in found["BOB"]
    assert loc(estate, "customers", 2) in found["SAM"]
    assert loc(estate, "contacts", 2) not in found["JANE"]
    assert loc(estate, "contacts", 1) not in found["BOB"]
    # Bob's ticket is his through the link, and Jane's through the mention in it
    assert found["BOB"][loc(estate, "tickets", 3)].internal_parent is not None
    assert found["JANE"][loc(estate, "tickets", 3)].internal_matched_ids == {"email#1"}
    # the same as searching one by one
    for ref, ident in [("JANE", {"email": "jane.doe@example.com"}),
                       ("SAM", {"account": "CAN-002002"})]:
        alone = by_subject(crm.search([subject(ref, **ident)]))[ref]
        assert set(alone) == set(found[ref])


def test_read_returns_the_rows_as_json(crm, estate):
    findings = list(crm.search([subject("S", email="jane.doe@example.com")]))
    records = list(crm.read(findings))
    assert len(records) == len(findings)
    by_id = {r["finding"]: r for r in records}
    jane = by_id[f"crm:{loc(estate, 'contacts', 1)}"]
    assert jane["table"] == estate.key("contacts")
    assert jane["row"]["email"] == "Jane.Doe@example.com"
    assert jane["row"]["dob"] == "1985-03-14"
    prospect = next(r for r in records if r["table"] == estate.key("prospects"))
    assert prospect["row"]["source"] == "trade show"
    prefs = by_id[f"crm:{loc(estate, 'marketing_preferences', '1,sms')}"]
    assert prefs["row"]["opted_in"] in (False, 0)
    json.dumps(records)


def test_read_by_locator_alone_in_a_new_connector(crm, estate):
    sam = list(crm.search([subject("S", account="CAN-002002")]))
    fresh = make_connector(estate, builtin_detectors())
    try:
        records = {r["finding"]: r["row"] for r in fresh.read(sam)}
    finally:
        fresh.close()
    assert set(records) == {f.id for f in sam}
    assert records[f"crm:{loc(estate, 'payments', 2)}"]["amount"] in ("45.50", "45.5")
    assert records[f"crm:{loc(estate, 'order', 1)}"]["desc"] == ROWS["order"][0]["desc"]
    web = [f for f in crm.search([subject("J", email="jane.doe@example.com")])
           if f.container == estate.key("web_sessions")]
    fresh = make_connector(estate, builtin_detectors())
    try:
        rows = list(fresh.read(web))
    finally:
        fresh.close()
    assert sorted(r["row"]["page_count"] for r in rows) == [2, 4]


def test_scoped_ids_of_this_system_are_left_to_the_links(crm, estate):
    own = Subject(ref="S", identifiers=[
        Identifier("contact_id#1", "contact_id", "1", scope="crm.contacts")])
    assert list(crm.search([own])) == []


def test_declared_reference_matches_another_systems_ids(estate):
    warehouse = make_connector(estate, builtin_detectors(), name="warehouse",
                               references={"contact_id": "crm.contacts.id"})
    try:
        scoped = Subject(ref="S", identifiers=[
            Identifier("contact_id#1", "contact_id", "1", scope="crm.contacts")])
        found = by_subject(warehouse.search([scoped]))["S"]
    finally:
        warehouse.close()
    assert found[loc(estate, "call_logs", 3)].internal_matched_ids == {"contact_id#1"}
    assert found[loc(estate, "credit_checks", 1)].matched == ["contact_id"]
    assert loc(estate, "call_logs", 2) not in found
    assert found[loc(estate, "sim_cards", 1)].internal_parent == \
        f"warehouse:{loc(estate, 'devices', 1)}"
