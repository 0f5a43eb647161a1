"""Identifier normalisation: every type, the forms people write, and the bad paths.

All values are made up: Ofcom drama phone ranges, example.com addresses.
"""

from __future__ import annotations

from datetime import date

import pytest

from agent import identifiers as ids
from agent.errors import EXIT_USER_ERROR, IdentifierError
from agent.subjects import (
    add_identifier,
    parse_id_option,
    subject_from_mapping,
    subject_from_pairs,
)


def rejects(kind: str, raw: object) -> IdentifierError:
    """Normalising ``raw`` fails with an error that names the type and hides the value."""
    with pytest.raises(IdentifierError) as info:
        ids.normalise(kind, raw)
    err = info.value
    assert err.exit_code == EXIT_USER_ERROR
    if isinstance(raw, str) and len(raw.strip()) > 2:
        assert raw.strip() not in str(err)
    return err


# --------------------------------------------------------------------------- e-mail

@pytest.mark.parametrize("raw", [
    "jo.bloggs@example.com", "Jo.Bloggs@Example.COM", "  jo.bloggs@example.com\t",
    "mailto:jo.bloggs@example.com", "MAILTO:Jo.Bloggs@example.com",
    "<jo.bloggs@example.com>", "Jo Bloggs <jo.bloggs@example.com>",
    "<mailto:jo.bloggs@example.com>",
])
def test_email_forms_normalise_to_lower_case(raw: str) -> None:
    assert ids.normalise("email", raw) == "jo.bloggs@example.com"


def test_email_keeps_plus_tags_and_subdomains() -> None:
    assert ids.normalise("email", "Jo+CRM@Mail.Example.co.uk") == "jo+crm@mail.example.co.uk"


@pytest.mark.parametrize("raw", [
    "jo.bloggs", "jo.bloggs@example", "jo bloggs@example.com", "jo@@example.com",
    "@example.org", "jo@-example.com", "jo@example..com",
])
def test_invalid_email_error_names_type_not_value(raw: str) -> None:
    err = rejects("email", raw)
    assert err.kind == "email"
    assert "email" in str(err)


def test_role_addresses_are_recognised() -> None:
    assert ids.is_role_email("accounts@example.com")
    assert ids.is_role_email("sales+leads@example.com")
    assert not ids.is_role_email("jo.bloggs@example.com")


# --------------------------------------------------------------------------- phone

@pytest.mark.parametrize("raw", [
    "07700 900123", "07700900123", "07700-900-123", "07700.900.123", "(07700) 900123",
    "077 0090 0123", "+447700900123", "+44 7700 900123", "+44 (0)7700 900123",
    "+44(0)7700-900-123", "0044 7700 900123", "0044 (0) 7700 900123", "00447700900123",
    "44 7700 900123", "447700900123", "7700900123", "tel:+447700900123",
    447700900123, 7700900123,
])
def test_uk_mobile_forms_normalise_to_e164(raw: object) -> None:
    assert ids.normalise("phone", raw) == "+447700900123"


@pytest.mark.parametrize(("raw", "expected"), [
    ("01632 960001", "+441632960001"),  # Ofcom drama landline: possible but not "valid"
    ("+44 1632 960001", "+441632960001"),
    ("020 7946 0000", "+442079460000"),
    ("+44 (0)20 7946 0000", "+442079460000"),
    ("0800 123 4567", "+448001234567"),
    ("+1 202 555 0143", "+12025550143"),
])
def test_landlines_and_international_numbers(raw: str, expected: str) -> None:
    assert ids.normalise("phone", raw) == expected


def test_drama_numbers_are_accepted_although_phonenumbers_calls_them_invalid() -> None:
    import phonenumbers

    for raw in ("07700 900123", "01632 960001"):
        number = phonenumbers.parse(raw, "GB")
        assert phonenumbers.is_possible_number(number)
        assert not phonenumbers.is_valid_number(number)
        assert ids.normalise("phone", raw).startswith("+44")


@pytest.mark.parametrize("raw", [
    "0770090012",  # one digit short
    "077009001234",  # one digit long
    "+44 7700 90044",
    "07700 9001a3",  # a letter
    "phone me",
    "07700 900123 ext 2",
    "987",
    "+",
    "'; DROP TABLE contacts; --",
])
def test_impossible_phones_are_rejected(raw: str) -> None:
    err = rejects("phone", raw)
    assert err.kind == "phone"


def test_phone_variants_cover_the_common_stored_forms() -> None:
    variants = ids.variants("phone", "+447700900123")
    for stored in ("07700 900123", "07700900123", "+447700900123", "+44 7700 900123",
                   "447700900123", "00447700900123", "+44 (0)7700 900123"):
        assert stored in variants
    assert len(variants) == len(set(variants))
    # every variant normalises back to the same number
    assert {ids.normalise("phone", v) for v in variants} == {"+447700900123"}


def test_landline_variants() -> None:
    variants = ids.variants("phone", "+441632960001")
    assert "01632 960001" in variants
    assert "01632960001" in variants
    assert "+44 1632 960001" in variants


# --------------------------------------------------------------------------- names

@pytest.mark.parametrize(("raw", "expected"), [
    ("Jo Bloggs", "jo bloggs"),
    ("  JO   BLOGGS ", "jo bloggs"),
    ("Mr Jo Bloggs", "jo bloggs"),
    ("Dr. Jo Bloggs", "jo bloggs"),
    ("Mrs Anne-Marie O'Neil", "anne-marie o'neil"),
    ("Anne-Marie O\u2019Neil", "anne-marie o'neil"),
    ("Bloggs, Jo", "jo bloggs"),
    ("Jo Bloggs Jr", "jo bloggs"),
    ("José Álvarez", "josé álvarez"),
    ("ZOË STRASSE", "zoë strasse"),
    ("J. Bloggs", "j bloggs"),
])
def test_names_drop_titles_and_fold_case(raw: str, expected: str) -> None:
    assert ids.normalise("name", raw) == expected


def test_unicode_compatibility_forms_fold() -> None:
    # full-width letters and the German sharp s fold to their plain forms
    assert ids.normalise("name", "\uff2a\uff4f Stra\u00dfe") == "jo strasse"


@pytest.mark.parametrize("raw", ["Jo Bloggs 2", "Mr", "Dr.", "--", "   ", "R2D2"])
def test_invalid_names(raw: str) -> None:
    with pytest.raises(IdentifierError) as info:
        ids.normalise("name", raw)
    assert info.value.kind == "name"


def test_names_compatible() -> None:
    assert ids.names_compatible("jo bloggs", "jo bloggs")
    assert ids.names_compatible("j bloggs", "jo bloggs")
    assert ids.names_compatible("jo bloggs", "j bloggs")
    assert ids.names_compatible("bloggs", "jo bloggs")
    assert ids.names_compatible("jo anne bloggs", "jo bloggs")
    assert not ids.names_compatible("jo bloggs", "jo smith")
    assert not ids.names_compatible("jo bloggs", "sam bloggs")
    assert not ids.names_compatible("k bloggs", "jo bloggs")


def test_name_variants() -> None:
    variants = ids.variants("name", "jo bloggs")
    assert {"jo bloggs", "Jo Bloggs", "JO BLOGGS", "bloggs, jo"} <= set(variants)


# --------------------------------------------------------------------------- postcode

@pytest.mark.parametrize(("raw", "expected"), [
    ("sw1a1aa", "SW1A 1AA"), (" SW1A  1AA ", "SW1A 1AA"), ("ec1a 1bb", "EC1A 1BB"),
    ("M11AE", "M1 1AE"), ("B33 8TH", "B33 8TH"), ("CR2 6XH", "CR2 6XH"),
    ("DN55 1PT", "DN55 1PT"), ("W1A 0AX", "W1A 0AX"), ("gir 0aa", "GIR 0AA"),
])
def test_postcodes(raw: str, expected: str) -> None:
    assert ids.normalise("postcode", raw) == expected


@pytest.mark.parametrize("raw", ["EC1A", "EC1A 1B", "12345", "QW1 1AA", "EC1A 1CI", "not one"])
def test_invalid_postcodes(raw: str) -> None:
    assert rejects("postcode", raw).kind == "postcode"


def test_postcode_variants() -> None:
    assert set(ids.variants("postcode", "SW1A 1AA")) == {
        "SW1A 1AA", "SW1A1AA", "sw1a 1aa", "sw1a1aa"}


# --------------------------------------------------------------------------- date of birth

@pytest.mark.parametrize("raw", [
    "1980-01-31", "31/01/1980", "31-01-1980", "31.01.1980", "31 January 1980", "31 Jan 1980",
    "1980/01/31", "19800131", "1980-01-31 00:00:00", "1980-01-31T00:00:00Z",
])
def test_dob_formats(raw: str) -> None:
    assert ids.normalise("dob", raw) == "1980-01-31"


@pytest.mark.parametrize("raw", ["31/02/1980", "1980-13-01", "01/31/1980", "yesterday"])
def test_dob_malformed(raw: str) -> None:
    assert "expected a date" in str(rejects("dob", raw))


@pytest.mark.parametrize("raw", ["1899-12-31", (date.today().replace(year=date.today().year + 1)
                                                .isoformat())])
def test_dob_out_of_range(raw: str) -> None:
    assert "out of range" in str(rejects("dob", raw))


def test_dob_variants() -> None:
    assert ids.variants("dob", "1980-01-31") == [
        "1980-01-31", "31/01/1980", "31-01-1980", "31.01.1980"]


# --------------------------------------------------------------------------- company number

@pytest.mark.parametrize(("raw", "expected"), [
    ("1234567", "01234567"), ("01234567", "01234567"), (1234567, "01234567"),
    ("SC123456", "SC123456"), ("sc 123456", "SC123456"), ("NI012345", "NI012345"),
    ("R1234567", "R1234567"), ("86", "00000086"),
])
def test_company_numbers_are_eight_characters(raw: object, expected: str) -> None:
    assert ids.normalise("company_number", raw) == expected


@pytest.mark.parametrize("raw", ["123456789", "NI98765", "S9876543", "0", "ABCDEFGH"])
def test_invalid_company_numbers(raw: str) -> None:
    assert rejects("company_number", raw).kind == "company_number"


def test_company_number_variants_include_unpadded() -> None:
    assert ids.variants("company_number", "01234567") == ["01234567", "1234567"]


# --------------------------------------------------------------------------- NI number

@pytest.mark.parametrize("raw", ["AB123456C", "ab123456c", "AB 12 34 56 C", "ab-12-34-56-c"])
def test_ni_numbers(raw: str) -> None:
    assert ids.normalise("ni_number", raw) == "AB123456C"


@pytest.mark.parametrize("prefix", ["BG", "GB", "NK", "KN", "TN", "NT", "ZZ"])
def test_ni_unallocated_prefixes(prefix: str) -> None:
    assert rejects("ni_number", f"{prefix}123456A").kind == "ni_number"


@pytest.mark.parametrize("first", list("DFIQUV"))
def test_ni_bad_first_letters(first: str) -> None:
    rejects("ni_number", f"{first}A123456A")


@pytest.mark.parametrize("second", list("DFIOQUV"))
def test_ni_bad_second_letters(second: str) -> None:
    rejects("ni_number", f"A{second}123456A")


@pytest.mark.parametrize("raw", ["JK987654E", "JK987654", "JK98765C", "J9876543C"])
def test_ni_bad_shape(raw: str) -> None:
    rejects("ni_number", raw)


def test_ni_variants() -> None:
    assert ids.variants("ni_number", "AB123456C") == ["AB123456C", "AB 12 34 56 C", "ab123456c"]


# --------------------------------------------------------------------------- bank account

@pytest.mark.parametrize(("raw", "expected"), [
    ("12-34-56 12345678", "123456:12345678"),
    ("123456 12345678", "123456:12345678"),
    ("12 34 56 12345678", "123456:12345678"),
    ("12-34-56-12345678", "123456:12345678"),
    ("12345612345678", "123456:12345678"),
    ("12-34-56 1234567", "123456:01234567"),  # 7-digit accounts are zero-padded
    ("1234561234567", "123456:01234567"),
    ("123456:12345678", "123456:12345678"),  # the normalised form is stable
])
def test_bank_accounts(raw: str, expected: str) -> None:
    assert ids.normalise("bank_account", raw) == expected


@pytest.mark.parametrize("raw", [
    "12-34-5 12345678",  # a short sort code must not borrow an account digit
    "12-34-56 123456",
    "12-34-56 123456789",
    "87654321",
    "65-43-21",
    "no digits",
])
def test_invalid_bank_accounts(raw: str) -> None:
    assert rejects("bank_account", raw).kind == "bank_account"


def test_bank_account_variants() -> None:
    variants = ids.variants("bank_account", "123456:12345678")
    assert "12-34-56 12345678" in variants
    assert "12345612345678" in variants
    assert ids.split_bank_account("123456:12345678") == ("123456", "12345678")
    assert ids.sort_code_variants("123456") == ["123456", "12-34-56", "12 34 56"]


# --------------------------------------------------------------------------- record ids

def test_account_ids_upper_case_and_variants() -> None:
    assert ids.normalise("account", " can-001234 ") == "CAN-001234"
    variants = ids.variants("account", "CAN-001234")
    assert {"CAN-001234", "can-001234", "CAN001234", "can001234"} <= set(variants)


def test_numeric_ids_have_an_unpadded_variant() -> None:
    assert ids.normalise("customer_id", 1234) == "1234"
    assert "1234" in ids.variants("customer_id", "001234")


def test_cookie_ids_keep_their_case() -> None:
    value = ids.normalise("cookie_id", "GA1.2.aBcD1234")
    assert value == "GA1.2.aBcD1234"
    assert {"GA1.2.aBcD1234", "ga1.2.abcd1234", "GA1.2.ABCD1234"} <= set(
        ids.variants("cookie_id", value))


@pytest.mark.parametrize("raw", ["-leading-dash", "a" * 65, "has;semicolon", "x=1"])
def test_invalid_record_ids(raw: str) -> None:
    assert rejects("account", raw).kind == "account"


# --------------------------------------------------------------------------- every type

@pytest.mark.parametrize(("kind", "raw"), [
    ("email", "jo@example.com"), ("phone", "07700 900123"), ("name", "Jo Bloggs"),
    ("postcode", "SW1A 1AA"), ("dob", "31/01/1980"), ("account", "CAN-001234"),
    ("customer_id", "C-1"), ("contact_id", "42"), ("cookie_id", "GA1.2.345"),
    ("device_id", "356938035643809"), ("company_number", "1234567"),
    ("ni_number", "AB123456C"), ("bank_account", "12-34-56 12345678"),
])
def test_normalisation_is_idempotent_for_every_type(kind: str, raw: str) -> None:
    once = ids.normalise(kind, raw)
    assert ids.normalise(kind, once) == once
    if kind != "bank_account":  # SSSSSS:AAAAAAAA is the agent's own form, not a stored one
        assert once in ids.variants(kind, once)


def test_every_type_is_covered_above() -> None:
    assert set(ids.TYPES) == {"email", "phone", "name", "postcode", "dob", "account",
                              "customer_id", "contact_id", "cookie_id", "device_id",
                              "company_number", "ni_number", "bank_account"}


@pytest.mark.parametrize("raw", [None, "", "   ", True, 1.5, ["jo@example.com"], {"a": 1}])
def test_empty_and_non_text_values(raw: object) -> None:
    with pytest.raises(IdentifierError) as info:
        ids.normalise("email", raw)
    assert info.value.kind == "email"


def test_try_normalise_returns_none_for_bad_values() -> None:
    assert ids.try_normalise("phone", "not a phone") is None
    assert ids.try_normalise("phone", "07700 900123") == "+447700900123"


# --------------------------------------------------------------------------- injection

@pytest.mark.parametrize("kind", sorted(ids.TYPES))
@pytest.mark.parametrize("raw", [
    "'; DROP TABLE contacts; --",
    "' OR '1'='1",
    "1; DELETE FROM customers",
    "x' UNION SELECT password FROM users --",
])
def test_sql_injection_strings_are_rejected_or_harmless(kind: str, raw: str) -> None:
    value = ids.try_normalise(kind, raw)
    if value is None:
        return
    # accepted values carry no SQL punctuation (they are bound as parameters anyway)
    assert not set(value) & set("';=\"`")
    assert "--" not in value


def test_injection_in_a_name_keeps_only_words() -> None:
    assert ids.normalise("name", "Robert'); DROP TABLE students;--") == (
        "robert drop table students")


# --------------------------------------------------------------------------- types and --id

@pytest.mark.parametrize(("option", "expected"), [
    ("account=CAN-001234", ("account", "CAN-001234")),
    ("ni=AB123456C", ("ni_number", "AB123456C")),
    ("NINO=AB123456C", ("ni_number", "AB123456C")),
    ("bank=12-34-56 12345678", ("bank_account", "12-34-56 12345678")),
    ("imei=356938035643809", ("device_id", "356938035643809")),
    ("e-mail=jo@example.com", ("email", "jo@example.com")),
    ("crn=01234567", ("company_number", "01234567")),
    ("date-of-birth=31/01/1980", ("dob", "31/01/1980")),
    (" account =x=y", ("account", "x=y")),  # only the first = splits
    ("account@crm.customers=CAN-001234", ("account@crm.customers", "CAN-001234")),
    ("acct@crm.customers=CAN-001234", ("account@crm.customers", "CAN-001234")),
])
def test_parse_id_option(option: str, expected: tuple[str, str]) -> None:
    assert parse_id_option(option) == expected


def test_parse_id_option_without_equals() -> None:
    with pytest.raises(IdentifierError, match="TYPE=VALUE"):
        parse_id_option("CAN-001234")


def test_unknown_type_lists_known_types() -> None:
    with pytest.raises(IdentifierError) as info:
        parse_id_option("passport=123456789")
    message = str(info.value)
    assert "passport" in message
    assert "123456789" not in message
    for known in ("account", "email", "ni_number", "phone"):
        assert known in message


def test_bad_scope_is_rejected() -> None:
    with pytest.raises(IdentifierError, match=r"SYSTEM\.TABLE"):
        parse_id_option("account@crm=CAN-001234")


def test_resolve_type_aliases() -> None:
    assert ids.resolve_type("Mobile").name == "phone"
    assert ids.resolve_type("serial").name == "device_id"
    assert ids.resolve_type("E-Mail").name == "email"
    assert ids.resolve_type("email").label == "e-mail address"


def test_strength_and_expansion_rules() -> None:
    assert ids.TYPES["email"].strong and ids.TYPES["email"].expands
    assert not ids.TYPES["name"].strong
    assert not ids.TYPES["postcode"].strong
    assert not ids.TYPES["company_number"].strong  # names a company, not a person
    assert ids.TYPES["ni_number"].strong and not ids.TYPES["ni_number"].expands


# --------------------------------------------------------------------------- subjects

def test_add_identifier_dedupes_and_numbers() -> None:
    subject = subject_from_pairs("S1", [("email", "Jo@Example.com")])
    assert add_identifier(subject, "email", "jo@example.com") is None
    second = add_identifier(subject, "e-mail", "jo.work@example.com", origin="crm:contacts:1",
                            round_=1)
    assert second is not None
    assert (second.id, second.type, second.origin, second.round) == (
        "email#2", "email", "crm:contacts:1", 1)
    assert [i.value for i in subject.of_type("email")] == [
        "jo@example.com", "jo.work@example.com"]


def test_add_identifier_with_scope_in_kind() -> None:
    subject = subject_from_pairs("S1", [("account@crm.customers", "can-001234")])
    (ident,) = subject.identifiers
    assert (ident.type, ident.value, ident.scope) == ("account", "CAN-001234", "crm.customers")
    # the same value unscoped is a different identifier
    assert add_identifier(subject, "account", "CAN-001234") is not None


def test_subject_needs_an_identifier() -> None:
    with pytest.raises(IdentifierError, match="at least one identifier"):
        subject_from_pairs("S1", [])


def test_subject_from_mapping_lists_scalars_and_ref() -> None:
    subject = subject_from_mapping({
        "ref": "S1",
        "email": ["Jo@Example.com", "jo.work@example.co.uk"],
        "phone": "07700 900123",
        "name": "Mr Jo Bloggs",
        "id": {"account": "CAN-001234", "ni": ["AB123456C"]},
        "postcode": None,
    }, default_ref="line-1")
    assert subject.ref == "S1"
    assert [(i.type, i.value) for i in subject.identifiers] == [
        ("email", "jo@example.com"), ("email", "jo.work@example.co.uk"),
        ("phone", "+447700900123"), ("name", "jo bloggs"),
        ("account", "CAN-001234"), ("ni_number", "AB123456C")]


def test_subject_from_mapping_default_ref() -> None:
    subject = subject_from_mapping({"phone": 447700900123}, default_ref="line-7")
    assert subject.ref == "line-7"
    assert subject.identifiers[0].value == "+447700900123"


@pytest.mark.parametrize("line", [["jo@example.com"], "jo@example.com", 5])
def test_subject_line_must_be_an_object(line: object) -> None:
    with pytest.raises(IdentifierError, match="JSON object"):
        subject_from_mapping(line, default_ref="x")  # type: ignore[arg-type]


def test_subject_from_mapping_bad_value_names_the_type() -> None:
    with pytest.raises(IdentifierError) as info:
        subject_from_mapping({"ref": "S2", "phone": ["07700 900123", "07700 9004"]},
                             default_ref="x")
    assert info.value.kind == "phone"
    assert "07700 9004" not in str(info.value)


def test_subject_from_mapping_unknown_key() -> None:
    with pytest.raises(IdentifierError, match="unknown identifier type"):
        subject_from_mapping({"emial": "jo@example.com"}, default_ref="x")


def test_subject_public_form_has_no_internal_state() -> None:
    subject = subject_from_mapping({"ref": "S1", "email": "jo@example.com"}, default_ref="x")
    assert subject.public() == {"ref": "S1", "identifiers": [
        {"id": "email#1", "type": "email", "value": "jo@example.com", "origin": "request",
         "round": 0, "status": "strong"}]}
