"""policy.toml: the shipped example, validation errors that name file and key, retention
dates, mapping lookups and identity-check settings."""

from __future__ import annotations

import copy
import tomllib
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from agent.demo.schema import TABLE_ORDER
from agent.errors import ConfigError, DsrError
from agent.policy import (
    DATA_GROUPS,
    DEFAULT_DOCUMENTS,
    DEFAULT_REQUIRED,
    RetentionRule,
    add_months,
    data_group,
    load_policy,
    policy_from_dict,
)

EXAMPLE = Path(__file__).resolve().parent.parent / "config" / "policy.toml"
WHERE = "policy.toml"


@pytest.fixture(scope="module")
def example_data() -> dict[str, Any]:
    return tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))


def minimal() -> dict[str, Any]:
    return {
        "groups": {
            "Contact": {"basis": ["contract"]},
            "Transactional": {"basis": "legal_obligation"},
        },
        "retention": {
            "erase": {"basis": "no duty to keep", "action": "delete"},
            "records": {"basis": "contract end + 7 years", "action": "retain",
                        "anchor": "contract_end", "years": 7},
        },
        "mapping": [
            {"system": "crm", "container": "*", "group": "Contact", "rule": "erase"},
            {"system": "crm", "container": "invoice*", "group": "Transactional",
             "rule": "records"},
            {"system": "crm", "container": "invoices", "group": "Transactional",
             "rule": "records", "backup": "rewrite"},
            {"system": "*", "container": "calls/*", "group": "Contact", "rule": "erase",
             "whole_document": True},
        ],
    }


def error_of(data: dict[str, Any]) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        policy_from_dict(data, WHERE)
    return info.value


# -- the shipped example ---------------------------------------------------------------

def test_example_loads_with_every_group_and_crm_table() -> None:
    policy = load_policy(EXAMPLE)
    assert policy.controller == "Can Solutions Limited"
    assert set(policy.groups) == set(DATA_GROUPS)
    assert {m.container for m in policy.mappings if m.system == "crm"} == set(TABLE_ORDER)
    for table in TABLE_ORDER:
        assert policy.rule_for("crm", table) is not None, table


def test_example_references_resolve_and_rules_name_their_basis() -> None:
    policy = load_policy(EXAMPLE)
    for recipient in policy.recipients.values():
        assert recipient.description
        assert all(g in policy.groups for g in recipient.groups)
    for entry in policy.mappings:
        assert entry.group in policy.groups and entry.rule in policy.retention
    for rule in policy.retention.values():
        assert len(rule.basis) > 20
    for group in policy.groups.values():
        assert group.purposes and group.basis
        assert (group.legitimate_interests is not None) == (
            "legitimate_interests" in group.basis)


def test_example_recipients_cover_the_policy_list() -> None:
    policy = load_policy(EXAMPLE)
    assert set(policy.recipients) == {
        "service_providers", "leasing_companies", "joint_venture_partners", "repair_centres",
        "direct_debit_scheme", "debt_collectors", "credit_reference_agencies",
        "marketing_agency", "authorities"}
    banking = {r.name for r in policy.recipients_of("Banking")}
    assert "direct_debit_scheme" in banking and "marketing_agency" not in banking


def test_example_rules_match_the_policy() -> None:
    policy = load_policy(EXAMPLE)
    end = {"contract_end": date(2024, 1, 31)}
    for table in ("invoices", "payments", "credit_checks"):
        _, rule = policy.rule_for("crm", table) or (None, None)
        assert rule is not None and rule.action == "retain"
        assert rule.until(end) == date(2031, 1, 31)
        assert "Limitation Act" in rule.basis and "HMRC" in rule.basis
    _, contract = policy.rule_for("crm", "contracts") or (None, None)
    assert contract is not None and contract.while_ == "contract_live"
    _, prospect = policy.rule_for("crm", "prospects") or (None, None)
    assert prospect is not None and prospect.action == "delete"
    assert "ceiling" in prospect.basis and prospect.until(end) is None
    for table in ("marketing_preferences", "web_sessions", "devices", "call_logs"):
        _, rule = policy.rule_for("crm", table) or (None, None)
        assert rule is not None and rule.action == "delete", table
    _, calls = policy.rule_for("crm", "call_logs") or (None, None)
    assert calls is not None and calls.hold_on == ("open_complaint",)


def test_example_identity_check_is_the_policy_list() -> None:
    identity = load_policy(EXAMPLE).identity
    assert dict(identity.documents) == DEFAULT_DOCUMENTS
    assert identity.ask_on_receipt is True  # the business asks for ID when acknowledging
    assert identity.max_age_months("utility_bill") == 3
    assert identity.max_age_months("passport") is None
    assert identity.required_for("erasure") == 2 and identity.required_for("object") == 0


def test_policy_is_read_only() -> None:
    policy = load_policy(EXAMPLE)
    with pytest.raises(TypeError):
        policy.retention["x"] = policy.retention["usage"]  # type: ignore[index]
    with pytest.raises(AttributeError):
        policy.controller = "someone else"  # type: ignore[misc]


# -- identity-check defaults and overrides -----------------------------------------------

def test_identity_check_defaults_when_absent() -> None:
    identity = policy_from_dict(minimal(), WHERE).identity
    assert dict(identity.required) == DEFAULT_REQUIRED
    assert [identity.required_for(t) for t in ("access", "portability", "erasure", "object")] \
        == [2, 2, 2, 0]
    assert dict(identity.documents) == DEFAULT_DOCUMENTS
    # the clock runs from receipt unless the policy says ID is asked for on receipt
    assert identity.ask_on_receipt is False and identity.chase_after_days == 14


def test_detections_map_detectors_to_groups() -> None:
    data = minimal()
    data["detections"] = {"email": ["Contact"], "phone": "Contact"}
    policy = policy_from_dict(data, WHERE)
    assert dict(policy.detections) == {"email": ("Contact",), "phone": ("Contact",)}
    assert dict(policy_from_dict(minimal(), WHERE).detections) == {}


def test_identity_check_overrides() -> None:
    data = minimal()
    data["identity_check"] = {"documents": {"passport": {}, "national_id": {}},
                              "required": {"access": 1}, "ask_on_receipt": True,
                              "chase_after_days": 21}
    identity = policy_from_dict(data, WHERE).identity
    assert identity.ask_on_receipt is True and identity.chase_after_days == 21
    assert set(identity.documents) == {"passport", "national_id"}
    assert identity.required_for("access") == 1
    assert identity.required_for("erasure") == 2


# -- until-date arithmetic -----------------------------------------------------------------

@pytest.mark.parametrize(("start", "months", "expected"), [
    (date(2024, 1, 31), 84, date(2031, 1, 31)),
    (date(2024, 2, 29), 12, date(2025, 2, 28)),
    (date(2024, 2, 29), 48, date(2028, 2, 29)),
    (date(2024, 1, 31), 1, date(2024, 2, 29)),
    (date(2023, 1, 31), 1, date(2023, 2, 28)),
    (date(2024, 8, 31), 1, date(2024, 9, 30)),
    (date(2024, 11, 15), 3, date(2025, 2, 15)),
    (date(2024, 12, 31), 0, date(2024, 12, 31)),
    (datetime(2024, 3, 31, 17, 5), 1, date(2024, 4, 30)),
])
def test_add_months_clamps_to_month_end(start: date, months: int, expected: date) -> None:
    assert add_months(start, months) == expected


def test_until_combines_years_and_months() -> None:
    rule = RetentionRule(name="r", basis="b", action="retain", anchor="last_contact",
                         years=1, months=1)
    assert rule.until({"last_contact": date(2024, 1, 31)}) == date(2025, 2, 28)
    assert rule.until({"last_contact": date(2024, 2, 29),
                       "contract_end": date(2000, 1, 1)}) == date(2025, 3, 29)


def test_until_is_none_without_a_period_and_errors_without_the_anchor_date() -> None:
    live = RetentionRule(name="live", basis="b", action="retain", while_="contract_live")
    assert live.until({"contract_end": date(2024, 1, 1)}) is None
    erase = RetentionRule(name="erase", basis="b", action="delete")
    assert erase.until({}) is None
    records = policy_from_dict(minimal(), WHERE).retention["records"]
    with pytest.raises(DsrError, match="contract_end"):
        records.until({"created": date(2024, 1, 1)})


# -- rule_for ------------------------------------------------------------------------------

def test_rule_for_picks_the_most_specific_pattern() -> None:
    policy = policy_from_dict(minimal(), WHERE)
    exact = policy.mapping_for("crm", "invoices")
    assert exact is not None and exact.backup == "rewrite"
    glob = policy.mapping_for("crm", "invoice_lines")
    assert glob is not None and glob.container == "invoice*" and glob.backup == "beyond_use"
    group, rule = policy.rule_for("crm", "contacts") or (None, None)
    assert group is not None and group.name == "Contact"
    assert rule is not None and rule.name == "erase"
    calls = policy.mapping_for("fileshare", "calls/2024/rec-001.wav")
    assert calls is not None and calls.whole_document
    assert policy.rule_for("fileshare", "hr/payroll.xlsx") is None
    assert policy.rule_for("CRM", "INVOICES") == policy.rule_for("crm", "invoices")


# -- group names ---------------------------------------------------------------------------

def test_group_aliases() -> None:
    assert data_group("usage") == "Usage Data"
    assert data_group(" open data and public records ") == "Open Data and Public Records"
    assert data_group("Marketing") is None
    data = minimal()
    data["groups"]["Usage"] = {"basis": "consent"}
    data["mapping"].append({"system": "web", "container": "hits", "group": "usage",
                            "rule": "erase"})
    policy = policy_from_dict(data, WHERE)
    assert "Usage Data" in policy.groups
    assert policy.group("usage").basis == ("consent",)


# -- bad inputs: each names the file and the key -----------------------------------------

def _set(path: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(minimal())
    node: Any = data
    *parents, last = path.split(".")
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    node[int(last) if isinstance(node, list) else last] = value
    return data


@pytest.mark.parametrize(("data", "key", "message"), [
    (_set("groups.Marketing", {"basis": "consent"}), "groups.Marketing", "unknown data group"),
    (_set("mapping.0.group", "Marketing"), "mapping[0].group", "unknown data group"),
    (_set("mapping.0.group", "CCTV"), "mapping[0].group", "not defined in [groups]"),
    (_set("mapping.1.rule", "nope"), "mapping[1].rule", "unknown retention rule"),
    (_set("mapping.1.backup", "tape"), "mapping[1].backup", "rewrite, beyond_use"),
    (_set("mapping.1.whole_document", "yes"), "mapping[1].whole_document", "true or false"),
    (_set("mapping.2.container", "INVOICE*"), "mapping[2].container", "duplicate"),
    (_set("retention.erase", {"action": "delete"}), "retention.erase.basis", "required"),
    (_set("retention.erase.basis", "  "), "retention.erase.basis", "non-empty"),
    (_set("retention.erase.action", "shred"), "retention.erase.action", "delete, anonymise"),
    (_set("retention.records.anchor", "birthday"), "retention.records.anchor",
     "contract_end"),
    (_set("retention.records.years", -1), "retention.records.years", "whole number"),
    (_set("retention.records.months", 1.5), "retention.records.months", "whole number"),
    (_set("retention.records.years", True), "retention.records.years", "whole number"),
    (_set("retention.records.keep", 1), "retention.records.keep", "unknown key"),
    (_set("retention.erase.years", 1), "retention.erase.years", "only for action"),
    (_set("retention.records.while", "forever"), "retention.records.while", "contract_live"),
    (_set("retention.records.hold_on", ["audit"]), "retention.records.hold_on",
     "open_complaint"),
    (_set("retention.Bad Name", {"basis": "b", "action": "delete"}), "retention.Bad Name",
     "lower case"),
    (_set("groups.Contact.basis", ["goodwill"]), "groups.Contact.basis", "legal_obligation"),
    (_set("groups.Contact.basis", ["legitimate_interests"]),
     "groups.Contact.legitimate_interests", "non-empty"),
    (_set("groups.Contact.legitimate_interests", "x"), "groups.Contact.legitimate_interests",
     "only with basis"),
    (_set("groups.Contact.purpose", ["x"]), "groups.Contact.purpose", "unknown key"),
    (_set("recipients", {"bank": {"description": "d", "groups": ["CCTV"]}}),
     "recipients.bank.groups", "not defined"),
    (_set("recipients", {"bank": {"groups": ["Contact"]}}), "recipients.bank.description",
     "non-empty"),
    (_set("policy", {}), "policy", "unknown key"),
    (_set("mapping", {"system": "crm"}), "mapping", "array of tables"),
    (_set("identity_check", {"required": {"erase": 2}}), "identity_check.required.erase",
     "unknown key"),
    (_set("identity_check", {"required": {"access": 9}}), "identity_check.required.access",
     "from 0 to 6"),
    (_set("detections", {"email": ["Contacts"]}), "detections.email", "unknown data group"),
    (_set("detections", {"iban": ["Banking"]}), "detections.iban", "not defined in [groups]"),
    (_set("detections", {"email": 3}), "detections.email", "list of text"),
    (_set("identity_check", {"ask_on_receipt": "yes"}), "identity_check.ask_on_receipt",
     "true or false"),
    (_set("identity_check", {"chase_after_days": 0}), "identity_check.chase_after_days",
     "whole number"),
    (_set("identity_check", {"documents": {"passport": {"max_age_months": 0}}}),
     "identity_check.documents.passport.max_age_months", "whole number"),
    (_set("identity_check", {"documents": {"passport": {}}}),
     "identity_check.required.access", "only 1 are accepted"),
    (_set("mapping.1.dates", {"birthday": "dob"}), "mapping[1].dates.birthday", "contract_end"),
    (_set("mapping.1.dates", {"contract_end": ""}), "mapping[1].dates.contract_end",
     "non-empty"),
    (_set("mapping.1.dates", "end_date"), "mapping[1].dates", "must be a table"),
    (_set("default_rule", "shred"), "default_rule", "unknown retention rule"),
    (_set("recipients", {"bank": {"description": "d", "groups": ["Contact"], "notify": "no"}}),
     "recipients.bank.notify", "true or false"),
])
def test_bad_input_names_file_and_key(data: dict[str, Any], key: str, message: str) -> None:
    error = error_of(data)
    assert error.path == WHERE and error.key == key
    assert str(error).startswith(f"{WHERE}: [{key}] ")
    assert message in str(error)


@pytest.mark.parametrize(("body", "key"), [
    ({"basis": "b", "action": "retain"}, "retention.r.action"),
    ({"basis": "b", "action": "retain", "years": 7}, "retention.r.anchor"),
    ({"basis": "b", "action": "retain", "anchor": "created"}, "retention.r.years"),
])
def test_retain_needs_a_period_or_while(body: dict[str, Any], key: str) -> None:
    assert error_of(_set("retention.r", body)).key == key


def test_dates_default_rule_and_quiet_recipients_load(example_data: dict[str, Any]) -> None:
    policy = policy_from_dict(_set("default_rule", "erase"), WHERE)
    assert policy.default_rule == "erase"
    example = policy_from_dict(example_data, WHERE)
    contracts = example.mapping_for("crm", "contracts")
    assert contracts is not None and dict(contracts.dates) == {"contract_end": "end_date"}
    assert not example.recipients["authorities"].notify
    assert example.recipients["marketing_agency"].notify
    assert example.default_rule is None  # unmapped data: a person decides


def test_missing_tables_are_named() -> None:
    data = minimal()
    del data["retention"]
    assert error_of(data).key == "retention"
    assert error_of({}).key == "groups"


def test_bad_toml_and_missing_file_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "policy.toml"
    bad.write_text("[retention.prospect\nbasis = 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML") as info:
        load_policy(bad)
    assert info.value.path == str(bad)
    with pytest.raises(ConfigError, match="not found") as missing:
        load_policy(tmp_path / "absent.toml")
    assert missing.value.path == str(tmp_path / "absent.toml")


def test_load_policy_error_carries_the_path(tmp_path: Path, example_data: dict[str, Any]
                                            ) -> None:
    text = EXAMPLE.read_text(encoding="utf-8").replace('rule = "usage"', 'rule = "usage2"')
    path = tmp_path / "policy.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_policy(path)
    index = len(example_data["mapping"]) - 1
    assert str(info.value).startswith(f"{path}: [mapping[{index}].rule] unknown retention rule")
