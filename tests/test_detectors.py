"""The built-in detectors: column names (incl. false friends) and values (incl. integers)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from agent.detectors import Detector, classify_column, column_key, value_text
from agent.plugins import PluginManager
from plugins.detectors import BUILTIN_DETECTORS

DETECTORS: dict[str, Detector] = {cls.name: cls() for cls in BUILTIN_DETECTORS}
POLICY_GROUPS = {"Banking", "CCTV", "Communications", "Contact", "Contractual", "Financial",
                 "Open Data and Public Records", "Technical", "Transactional", "Usage Data"}


def named(column: str) -> set[str]:
    """Names of the detectors whose column patterns match ``column``."""
    return {d.name for d in DETECTORS.values() if d.matches_column_name(column)}


# --------------------------------------------------------------------------- registration

def test_plugin_registers_every_builtin_detector() -> None:
    manager = PluginManager().load(builtins=("plugins.detectors",), use_entry_points=False)
    registered = {r.name: r for r in manager.registry.all("detectors")}
    assert set(registered) == {
        "email", "phone", "postcode", "first_name", "last_name", "full_name", "dob",
        "account", "company_number", "ni_number", "sort_code", "bank_account_number",
        "cookie_id", "device_id", "bank_details", "iban", "payment_card", "ip_address", "imei",
        "person_name",
        "iccid"}
    assert {r.plugin for r in registered.values()} == {"plugins.detectors"}
    assert all(isinstance(r.obj, Detector) for r in registered.values())


@pytest.mark.parametrize("detector", DETECTORS.values(), ids=list(DETECTORS))
def test_declarations_are_complete(detector: Detector) -> None:
    from agent.identifiers import TYPES

    assert detector.categories and set(detector.categories) <= POLICY_GROUPS
    # a detector known only by its values (names in a column named for nothing) checks them
    assert detector.column_patterns or (detector.by_value and detector.checks)
    assert detector.identifier_type is None or detector.identifier_type in TYPES


def test_name_parts_are_names_and_bank_halves_have_no_type() -> None:
    for name in ("first_name", "last_name", "full_name"):
        assert DETECTORS[name].identifier_type == "name"
    assert DETECTORS["sort_code"].identifier_type is None
    assert DETECTORS["bank_account_number"].identifier_type is None
    assert DETECTORS["sort_code"].categories == ("Banking",)


# --------------------------------------------------------------------------- column names

@pytest.mark.parametrize(("column", "expected"), [
    ("EmailAddress", "email_address"), ("email-address", "email_address"),
    ("EMAIL ADDRESS", "email_address"), ("IMEINumber", "imei_number"),
    ("GAClientID", "ga_client_id"), ("DateOfBirth", "date_of_birth"), ("eMail", "e_mail"),
])
def test_column_key(column: str, expected: str) -> None:
    assert column_key(column) == expected


@pytest.mark.parametrize(("detector", "columns"), [
    ("email", ["email", "Email", "EmailAddress", "email_address", "work_email", "email2",
               "e_mail", "contact_email", "emailaddress", "EMAIL_ADDR"]),
    ("phone", ["phone", "telephone", "tel", "tel_no", "mobile", "MobileNumber", "mobile_no",
               "landline", "fax", "home_phone", "phone2", "contact_number", "msisdn", "cli",
               "src", "dst", "caller_id"]),
    ("postcode", ["postcode", "PostCode", "post_code", "postal_code", "billing_postcode",
                  "zip", "zip_code"]),
    ("first_name", ["first_name", "FirstName", "firstname", "forename", "forenames",
                    "given_name", "fname", "contact_first_name"]),
    ("last_name", ["last_name", "LastName", "surname", "family_name", "lname"]),
    ("full_name", ["name", "full_name", "FullName", "contact_name", "account_holder_name",
                   "cardholder_name", "director_name"]),
    ("dob", ["dob", "DOB", "date_of_birth", "DateOfBirth", "birth_date", "birthdate",
             "director_dob"]),
    ("account", ["account_number", "account_no", "AccountNumber", "acct", "acct_no",
                 "customer_ref", "customer_number", "customer_no", "cust_ref"]),
    ("company_number", ["company_number", "company_no", "crn", "CompanyRegistrationNumber",
                        "company_reg_no", "companies_house_number", "registration_number"]),
    ("ni_number", ["ni_number", "NINumber", "nino", "national_insurance_number", "ni_no"]),
    ("sort_code", ["sort_code", "SortCode", "sortcode", "bank_sort_code"]),
    ("bank_account_number", ["bank_account_number", "bank_account", "bank_acc_no",
                             "BankAccountNo", "dd_account_number"]),
    ("cookie_id", ["cookie_id", "cookie", "ga_client_id", "GAClientID", "ga_cid",
                   "visitor_id", "anonymous_id"]),
    ("device_id", ["serial_number", "serial", "serial_no", "device_id", "DeviceID", "imsi"]),
    ("iban", ["iban", "IBAN", "payer_iban"]),
    ("payment_card", ["card_number", "CardNumber", "credit_card", "pan", "cc_number"]),
    ("ip_address", ["ip", "ip_address", "IPAddress", "client_ip", "last_login_ip", "ipv6",
                    "x_forwarded_for", "remote_addr"]),
    ("bank_details", ["bank_details", "bank_account_details"]),
])
def test_column_names_are_recognised(detector: str, columns: list[str]) -> None:
    for column in columns:
        assert named(column) == {detector}, column


@pytest.mark.parametrize(("column", "expected"), [
    ("imei", {"device_id", "imei"}), ("IMEI", {"device_id", "imei"}),
    ("imei_number", {"device_id", "imei"}), ("iccid", {"device_id", "iccid"}),
    ("sim_serial", {"device_id", "iccid"}),
])
def test_device_columns_are_a_device_id_and_their_own_kind(column: str,
                                                           expected: set[str]) -> None:
    # device_id is what requests search by; imei/iccid add the checksum for discovery
    assert named(column) == expected


@pytest.mark.parametrize("column", [
    # flags and metadata about a piece of data, not the data itself
    "email_opt_in", "EmailOptIn", "email_verified", "email_consent", "email_bounced",
    "email_status", "email_sent_at", "emailed", "email_domain", "is_email_valid",
    "phone_type", "phone_verified", "mobile_model", "mobile_contract_id", "phone_tps",
    "telephone_preference_service", "phone_extension",
    "postcode_area", "postcode_district", "postcode_sector",
    # names of things, not people
    "company_name", "business_name", "trading_name", "file_name", "filename", "user_name",
    "username", "product_name", "tariff_name", "account_name", "bank_name", "device_name",
    "first_login", "last_contacted", "last_updated", "name_verified",
    # near misses
    "place_of_birth", "dob_verified", "account_manager", "account_type", "account_status",
    "accountant", "account_id", "vat_number", "cookie_consent", "cookie_name",
    "device_model", "bank_account_name", "id", "notes", "created_at", "amount",
])
def test_false_friends_match_no_detector(column: str) -> None:
    assert named(column) == set(), column


def test_company_phone_number_is_a_phone_not_a_company_number() -> None:
    assert named("company_phone_number") == {"phone"}


# --------------------------------------------------------------------------- values

def test_value_text() -> None:
    assert value_text(" a ") == "a"
    assert value_text(7700900123) == "7700900123"
    assert value_text(7700900123.0) == "7700900123"
    assert value_text(Decimal("89441000300000000001")) == "89441000300000000001"
    assert value_text(date(1980, 1, 31)) == "1980-01-31"
    assert value_text(datetime(1980, 1, 31, 12, 30)) == "1980-01-31"
    for nothing in (None, True, False, "", "   ", 1.5, float("nan"), Decimal("NaN"), b"x",
                    ["a"]):
        assert value_text(nothing) is None


@pytest.mark.parametrize(("detector", "value", "expected"), [
    ("email", "Jo.Bloggs@Example.com", "jo.bloggs@example.com"),
    ("phone", "07700 900123", "+447700900123"),
    ("phone", "+44 (0)1632 960001", "+441632960001"),
    ("phone", 447700900123, "+447700900123"),  # numbers in integer columns count
    ("phone", 7700900123, "+447700900123"),
    ("phone", 7700900123.0, "+447700900123"),
    ("phone", Decimal("441632960001"), "+441632960001"),
    ("postcode", "sw1a1aa", "SW1A 1AA"),
    ("first_name", "Anne-Marie", "anne-marie"),
    ("first_name", "José", "josé"),
    ("last_name", "O'Neil", "o'neil"),
    ("full_name", "Dr Jo Bloggs", "jo bloggs"),
    ("full_name", "Bloggs, Jo", "jo bloggs"),
    ("dob", date(1980, 1, 31), "1980-01-31"),
    ("dob", datetime(1980, 1, 31), "1980-01-31"),
    ("dob", "31/01/1980", "1980-01-31"),
    ("account", "CAN-001234", "CAN-001234"),
    ("account", "acc123456", "ACC123456"),
    ("company_number", "SC123456", "SC123456"),
    ("company_number", "01234567", "01234567"),
    ("ni_number", "ab 12 34 56 c", "AB123456C"),
    ("cookie_id", "GA1.2.1234567890.1700000000", "GA1.2.1234567890.1700000000"),
    ("device_id", 356938035643809, "356938035643809"),  # an IMEI in a BIGINT column
    ("device_id", Decimal("89441000300000000001"), "89441000300000000001"),  # an ICCID
    ("device_id", "00:1A:2B:3C:4D:5E", "00:1A:2B:3C:4D:5E"),
])
def test_values_are_recognised_and_normalised(detector: str, value: object,
                                              expected: str) -> None:
    d = DETECTORS[detector]
    assert d.matches(value)
    assert d.normalise(value) == expected


@pytest.mark.parametrize(("detector", "value"), [
    ("email", "not an address"), ("email", 12345), ("email", True),
    ("phone", "0770090012"), ("phone", "077009001234"), ("phone", "call me"), ("phone", 12),
    ("phone", True), ("phone", 7700900123.5),
    ("postcode", "SW1A"), ("postcode", 12345),
    ("first_name", "Jo3"), ("first_name", "jo@example.com"), ("first_name", "Mr"),
    ("first_name", "Acme Ltd"), ("first_name", 42),
    ("last_name", "Bloggs & Sons"),
    ("full_name", "Acme Telecom Ltd"), ("full_name", "Bright Energy Solutions"),
    ("full_name", "07700 900123"), ("full_name", "one two three four five six seven"),
    ("dob", "2999-01-01"), ("dob", date(1850, 1, 1)), ("dob", "soon"),
    ("account", "hello"), ("account", "AB"), ("account", "123456"), ("account", 123456),
    ("company_number", "1234567"), ("company_number", "123456789"),
    ("ni_number", "BG123456A"), ("ni_number", "AB123456E"),
    ("cookie_id", "short"), ("device_id", "x1"),
    ("sort_code", "12-34-5"), ("sort_code", "1234567"),
    ("bank_account_number", "123"), ("bank_account_number", "123456789"),
])
def test_values_that_do_not_fit(detector: str, value: object) -> None:
    d = DETECTORS[detector]
    assert not d.matches(value)
    assert d.normalise(value) is None


@pytest.mark.parametrize("value", [None, "", "   "])
def test_empty_values_never_match(value: object) -> None:
    for d in DETECTORS.values():
        assert not d.matches(value)
        assert d.normalise(value) is None


def test_digits_are_an_account_only_in_an_account_column() -> None:
    account = DETECTORS["account"]
    for column in ("account_no", "AccountNumber", "customer_number"):
        assert account.normalise("00123456", column) == "00123456"
        assert account.normalise(123456, column) == "123456"
    for column in (None, "notes", "amount", "id"):
        assert account.normalise("123456", column) is None
    # letters and digits count anywhere
    assert account.normalise("CAN-001234", "notes") == "CAN-001234"


def test_unpadded_company_numbers_count_only_in_a_company_number_column() -> None:
    company = DETECTORS["company_number"]
    assert company.normalise(1234567, "company_number") == "01234567"
    assert company.normalise(1234567) is None
    assert company.normalise(1234567, "amount") is None


def test_bank_halves_match_by_shape_but_normalise_to_nothing() -> None:
    sort, account = DETECTORS["sort_code"], DETECTORS["bank_account_number"]
    for value in ("12-34-56", "12 34 56", "123456", 123456):
        assert sort.matches(value)
        assert sort.normalise(value) is None  # the SQL connector pairs the two columns
    for value in ("12345678", "1234567", 12345678, 1234567):
        assert account.matches(value)
        assert account.normalise(value) is None


def test_share_matching() -> None:
    phone = DETECTORS["phone"]
    values = ["07700 900123", "01632 960001", "n/a", None, "", 447700900124]
    assert phone.share_matching(values) == pytest.approx(3 / 4)
    assert phone.share_matching([None, ""]) == 0.0


# --------------------------------------------------------------------------- columns

def test_a_named_column_is_confirmed_by_its_values() -> None:
    phone = DETECTORS["phone"]
    assert phone.identifies_column("mobile", [])  # empty table: the name decides
    assert phone.identifies_column("mobile", ["07700 900123", "07700 900124", "unknown"])
    assert not phone.identifies_column("mobile", ["yes", "no", "yes"])  # a flag, not numbers


def test_values_alone_reveal_distinctive_data() -> None:
    email = DETECTORS["email"]
    samples = ["jo@example.com", "sam@example.co.uk", "kim@example.com"]
    assert email.identifies_column("contact", samples)
    assert not email.identifies_column("contact", samples[:2])  # too few samples
    assert not email.identifies_column("contact", [*samples, "call after 5", "n/a"])


def test_numbers_in_an_unnamed_numeric_column_are_not_phones() -> None:
    phone = DETECTORS["phone"]
    numbers = [7700900123, 7700900124, 7700900125, 7700900126]
    assert not phone.identifies_column("ref", numbers)
    assert phone.identifies_column("mobile", numbers)


def test_unnamed_dates_and_words_are_not_guessed() -> None:
    assert not DETECTORS["dob"].identifies_column(
        "created", [date(1980, 1, 31), date(1990, 2, 1), date(2001, 3, 4)])
    assert not DETECTORS["full_name"].identifies_column(
        "town", ["Leeds", "York", "Bath", "Hull"])


@pytest.mark.parametrize(("column", "samples", "expected"), [
    ("email", ["jo@example.com"], "email"),
    ("contact", ["jo@example.com", "sam@example.com", "kim@example.com"], "email"),
    ("contact", ["Jo Bloggs", "Sam Smith"], "full_name"),
    ("contact", ["07700 900123", "07700 900124", "07700 900125"], "phone"),
    ("mobile", [447700900123, 447700900124], "phone"),
    ("account_no", [100234, 100235], "account"),
    ("notes", ["rang back", "left message", "no answer"], None),
    ("ref", [1, 2, 3, 4], None),
    ("email_opt_in", [True, False, True], None),
])
def test_classify_column(column: str, samples: list[object], expected: str | None) -> None:
    chosen = classify_column(DETECTORS.values(), column, samples)
    assert (chosen.name if chosen else None) == expected
