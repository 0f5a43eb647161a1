"""Identifier types: how each is normalised, how it may be stored, how strong it is.

One table (``TYPES``) holds the rules, so the CLI, connectors and the text scanner agree.
Normalisation errors name the identifier type and the reason, never the value.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache

import phonenumbers

from agent.errors import IdentifierError

# --------------------------------------------------------------------------- e-mail

_EMAIL = re.compile(r"^[a-z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
                    r"(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$")

# Shared mailboxes of a business, not of a person: they never expand a search.
ROLE_LOCAL_PARTS = frozenset({
    "accounts", "admin", "billing", "contact", "enquiries", "enquiry", "finance", "hello",
    "help", "hr", "info", "invoices", "mail", "marketing", "office", "orders", "payments",
    "postmaster", "privacy", "reception", "sales", "service", "support", "team", "webmaster",
    "noreply", "no-reply", "accountspayable", "purchasing", "bookings",
})


_DISPLAY_ADDRESS = re.compile(r"^[^<>]*<([^<>]*)>$")


def normalise_email(raw: str) -> str:
    value = raw.strip()
    display = _DISPLAY_ADDRESS.match(value)  # "Jo Bloggs <jo@example.com>"
    if display:
        value = display.group(1)
    value = value.strip().lower()
    if value.startswith("mailto:"):
        value = value[7:].strip()
    if not _EMAIL.match(value):
        raise IdentifierError("email", "expected an address like name@example.com")
    return value


def is_role_email(value: str) -> bool:
    local = value.split("@", 1)[0]
    return local.split("+", 1)[0] in ROLE_LOCAL_PARTS


def email_variants(value: str) -> list[str]:
    return [value]  # compared case-insensitively by connectors


# --------------------------------------------------------------------------- phone

_PHONE_JUNK = re.compile(r"[\s.\-/()\[\]]")


def _gb_length_fits(nsn: str) -> bool:
    """UK national significant numbers: mobiles and most others 10 digits, a few 9 or 7."""
    if nsn.startswith("7"):
        return len(nsn) == 10
    if nsn.startswith("1"):
        return len(nsn) in (9, 10)
    if nsn.startswith("800"):
        return len(nsn) in (7, 9, 10)
    if nsn[:1] in {"2", "3", "5", "8", "9"}:
        return len(nsn) == 10
    return False


def parse_phone(raw: str) -> phonenumbers.PhoneNumber | None:
    """Parse a phone in any common UK or international writing; None if not a phone."""
    text = raw.strip()
    if text[:4].lower() == "tel:":  # tel: URIs from web forms and vCards
        text = text[4:]
    compact = _PHONE_JUNK.sub("", text.replace("(0)", ""))
    if compact.startswith("+"):
        digits = compact[1:]
        if not digits.isdigit():
            return None
        candidate = "+" + digits
    else:
        if not compact.isdigit():
            return None
        if compact.startswith("00"):
            candidate = "+" + compact[2:]
        elif compact.startswith("44") and len(compact) in (11, 12):
            candidate = "+" + compact  # 44 7700 900123 written without the plus
        else:
            candidate = compact
    try:
        number = phonenumbers.parse(candidate, "GB")
    except phonenumbers.NumberParseException:
        return None
    # is_valid_number would reject Ofcom's drama ranges and newly allocated ranges.
    if not phonenumbers.is_possible_number(number):
        return None
    if number.country_code == 44 and not _gb_length_fits(str(number.national_number)):
        return None
    return number


@lru_cache(maxsize=1 << 16)
def phone_e164(raw: str) -> str | None:
    """``parse_phone`` as E.164, remembered: the same few writings recur across a store's
    rows and documents, and phonenumbers' parsing costs ~0.1 ms each time."""
    number = parse_phone(raw)
    if number is None:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_phone(raw: str) -> str:
    e164 = phone_e164(raw)
    if e164 is None:
        # the forms as patterns, not sample numbers that could echo part of what was typed
        raise IdentifierError("phone", "not a possible phone number (UK forms: 07xxx xxxxxx, "
                                       "+44 7xxx xxxxxx, 0044 1xxx xxxxxx)")
    return e164


def phone_variants(value: str) -> list[str]:
    """Every way the number is commonly stored, so an exact (indexed) lookup finds it."""
    number = phonenumbers.parse(value, None)
    e164 = value
    intl = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    nsn = str(number.national_number)
    cc = str(number.country_code)
    out = [e164, intl, e164[1:], "00" + e164[1:], f"+{cc} (0){nsn}"]
    if number.country_code == 44:
        national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
        trunk = "0" + nsn
        out += [national, trunk, national.replace(" ", "-"), national.replace(" ", "."),
                f"+44 (0){national[1:]}", f"+44 (0) {national[1:]}", f"{cc} {national[1:]}"]
        if len(trunk) == 11:
            out += [f"{trunk[:5]} {trunk[5:8]} {trunk[8:]}",
                    f"{trunk[:5]}-{trunk[5:8]}-{trunk[8:]}",
                    f"{trunk[:4]} {trunk[4:7]} {trunk[7:]}",
                    f"({trunk[:5]}) {trunk[5:]}",
                    f"{trunk[:3]} {trunk[3:7]} {trunk[7:]}"]
    return list(dict.fromkeys(out))


# --------------------------------------------------------------------------- names

_TITLES = frozenset({"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "dame", "lady",
                     "lord", "rev", "revd"})
_NAME_JUNK = re.compile(r"[^\w\s'\-]")


_SUFFIXES = frozenset({"jr", "jnr", "junior", "sr", "snr", "senior", "ii", "iii", "iv", "esq",
                       "phd"})


def name_tokens(raw: str) -> list[str]:
    text = unicodedata.normalize("NFKC", raw).casefold()
    text = text.replace("\u2019", "'")
    text = _NAME_JUNK.sub(" ", text)
    tokens = [t.strip("'-") for t in text.split()]
    tokens = [t for t in tokens if t and t.rstrip(".") not in _TITLES]
    # "John Smith Jr": the surname is the word before the suffix
    if len(tokens) >= 3 and tokens[-1] in _SUFFIXES:
        tokens.pop()
    return tokens


def normalise_name(raw: str) -> str:
    surname, comma, given = raw.partition(",")
    if (comma and surname.strip() and given.strip() and "," not in given
            and given.strip().rstrip(".").casefold() not in _SUFFIXES):
        raw = f"{given} {surname}"  # "Smith, John" is written surname first
    tokens = name_tokens(raw)
    if not tokens or any(any(c.isdigit() for c in t) for t in tokens):
        raise IdentifierError("name", "expected a person's name (letters, spaces, hyphens)")
    return " ".join(tokens)


def name_parts(value: str) -> tuple[str, str]:
    """(first, last) of a normalised name; a single word is a surname."""
    tokens = value.split()
    if len(tokens) == 1:
        return "", tokens[0]
    return tokens[0], tokens[-1]


def names_compatible(a: str, b: str) -> bool:
    """Same surname and a first name or initial that agrees ("j smith" ~ "john smith")."""
    fa, la = name_parts(a)
    fb, lb = name_parts(b)
    if la != lb:
        return False
    if not fa or not fb:
        return True
    return fa == fb or (len(fa) == 1 and fb.startswith(fa)) or (len(fb) == 1 and fa.startswith(fb))


def name_variants(value: str) -> list[str]:
    first, last = name_parts(value)
    titled = " ".join(t.capitalize() for t in value.split())
    return list(dict.fromkeys([value, titled, value.upper(), f"{last}, {first}".strip(", ")]))


# --------------------------------------------------------------------------- postcode

_POSTCODE = re.compile(
    r"^(GIR0AA|[A-PR-UWYZ][A-HK-Y]?[0-9][0-9A-HJKMNPR-Y]?[0-9][ABD-HJLNP-UW-Z]{2})$")


def normalise_postcode(raw: str) -> str:
    compact = re.sub(r"\s+", "", raw).upper()
    if not _POSTCODE.match(compact):
        raise IdentifierError("postcode", "expected a UK postcode like SW1A 1AA")
    return f"{compact[:-3]} {compact[-3:]}"


def postcode_variants(value: str) -> list[str]:
    compact = value.replace(" ", "")
    return list(dict.fromkeys([value, compact, value.lower(), compact.lower()]))


# --------------------------------------------------------------------------- date of birth

_DOB_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y", "%d %B %Y", "%d %b %Y",
                "%Y/%m/%d", "%Y%m%d")


# A date read back from a DATETIME column or an ISO timestamp: keep the date.
_TIME_PART = re.compile(r"[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")


def normalise_dob(raw: str) -> str:
    text = _TIME_PART.sub("", raw.strip())
    for fmt in _DOB_FORMATS:
        try:
            parsed = datetime.strptime(text, fmt).date()
        except ValueError:
            continue
        if not (date(1900, 1, 1) <= parsed <= date.today()):
            raise IdentifierError("dob", "date of birth is out of range")
        return parsed.isoformat()
    raise IdentifierError("dob", "expected a date like 1980-01-31 or 31/01/1980")


def dob_variants(value: str) -> list[str]:
    y, m, d = value.split("-")
    return [value, f"{d}/{m}/{y}", f"{d}-{m}-{y}", f"{d}.{m}.{y}"]


# --------------------------------------------------------------------------- record ids

_ID_TEXT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _./:\-]{0,63}$")


def _normalise_id(kind: str, *, fold_case: bool = True) -> Callable[[str], str]:
    def normalise(raw: str) -> str:
        value = raw.strip()
        if not _ID_TEXT.match(value):
            raise IdentifierError(kind, "expected 1-64 letters, digits and - _ . / :")
        return value.upper() if fold_case else value
    return normalise


def id_variants(value: str) -> list[str]:
    compact = re.sub(r"[\s\-_./]", "", value)
    out = [value, value.upper(), value.lower(), compact, compact.upper(), compact.lower()]
    if value.isdigit():
        out.append(value.lstrip("0") or "0")
    return list(dict.fromkeys(out))


# --------------------------------------------------------------------------- company number

_COMPANY = re.compile(r"^(?:[A-Z]{2}\d{6}|\d{8}|R\d{7})$")


def normalise_company_number(raw: str) -> str:
    value = re.sub(r"\s+", "", raw).upper()
    if value.isdigit() and len(value) <= 8:
        value = value.zfill(8)
    if not _COMPANY.match(value) or value == "00000000":
        raise IdentifierError("company_number",
                              "expected 8 characters, e.g. 01234567 or SC123456")
    return value


def company_number_variants(value: str) -> list[str]:
    out = [value]
    if value.isdigit():
        out.append(value.lstrip("0"))
    return out


# --------------------------------------------------------------------------- NI number

_NI = re.compile(r"^[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]\d{6}[A-D]$")
_NI_BAD_PREFIXES = frozenset({"BG", "GB", "NK", "KN", "TN", "NT", "ZZ"})


def normalise_ni_number(raw: str) -> str:
    value = re.sub(r"[\s\-]", "", raw).upper()
    if not _NI.match(value) or value[:2] in _NI_BAD_PREFIXES:
        raise IdentifierError("ni_number", "expected a National Insurance number like AB123456C")
    return value


def ni_variants(value: str) -> list[str]:
    spaced = f"{value[:2]} {value[2:4]} {value[4:6]} {value[6:8]} {value[8]}"
    return [value, spaced, value.lower()]


# --------------------------------------------------------------------------- bank account

def normalise_bank_account(raw: str) -> str:
    """Sort code and account number as ``SSSSSS:AAAAAAAA`` (7-digit accounts zero-padded)."""
    digits = re.findall(r"\d+", raw)
    if len(digits) == 1 and len(digits[0]) in (13, 14):
        sort, account = digits[0][:6], digits[0][6:]
    elif len(digits) >= 2:
        # the last group is the account, the groups before it the sort code (12-34-56)
        sort, account = "".join(digits[:-1]), digits[-1]
    else:
        raise IdentifierError("bank_account",
                              "expected sort code and account number like 12-34-56 12345678")
    if len(account) == 7:
        account = "0" + account
    if len(sort) != 6 or len(account) != 8:
        raise IdentifierError("bank_account",
                              "expected a 6-digit sort code and an 8-digit account number")
    return f"{sort}:{account}"


def split_bank_account(value: str) -> tuple[str, str]:
    sort, account = value.split(":")
    return sort, account


def sort_code_variants(sort: str) -> list[str]:
    return [sort, f"{sort[:2]}-{sort[2:4]}-{sort[4:]}", f"{sort[:2]} {sort[2:4]} {sort[4:]}"]


def bank_account_variants(value: str) -> list[str]:
    sort, account = split_bank_account(value)
    return [f"{s} {account}" for s in sort_code_variants(sort)] + [sort + account]


# --------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class IdentifierType:
    name: str
    normalise: Callable[[str], str]
    variants: Callable[[str], list[str]]
    # strong: matching it alone attributes a record to the person
    strong: bool
    # expands: found on the person's own record, it is searched for in the next round
    expands: bool
    label: str


TYPES: dict[str, IdentifierType] = {t.name: t for t in (
    IdentifierType("email", normalise_email, email_variants, True, True, "e-mail address"),
    IdentifierType("phone", normalise_phone, phone_variants, True, True, "phone number"),
    IdentifierType("name", normalise_name, name_variants, False, False, "name"),
    IdentifierType("postcode", normalise_postcode, postcode_variants, False, False, "postcode"),
    IdentifierType("dob", normalise_dob, dob_variants, False, False, "date of birth"),
    IdentifierType("account", _normalise_id("account"), id_variants, True, True,
                   "account number"),
    IdentifierType("customer_id", _normalise_id("customer_id"), id_variants, True, True,
                   "customer id"),
    IdentifierType("contact_id", _normalise_id("contact_id"), id_variants, True, True,
                   "contact id"),
    # Cookie ids are case-sensitive tokens: keep their case (variants add the folded ones).
    IdentifierType("cookie_id", _normalise_id("cookie_id", fold_case=False), id_variants,
                   True, True,
                   "cookie id"),
    IdentifierType("device_id", _normalise_id("device_id"), id_variants, True, True,
                   "device number (IMEI, serial, SIM)"),
    # A company number names a company, never a person: it narrows, it does not attribute.
    IdentifierType("company_number", normalise_company_number, company_number_variants,
                   False, False, "Companies House number"),
    IdentifierType("ni_number", normalise_ni_number, ni_variants, True, False,
                   "National Insurance number"),
    IdentifierType("bank_account", normalise_bank_account, bank_account_variants, True, False,
                   "sort code and account number"),
)}

# What `--id TYPE=VALUE` accepts besides the canonical names.
ALIASES = {
    "account_number": "account", "acct": "account", "customer": "customer_id",
    "contact": "contact_id", "cookie": "cookie_id", "device": "device_id", "imei": "device_id",
    "serial": "device_id", "company": "company_number", "crn": "company_number",
    "ni": "ni_number", "nino": "ni_number", "bank": "bank_account", "date_of_birth": "dob",
    "mobile": "phone", "telephone": "phone", "phone_number": "phone", "mobile_number": "phone",
    # resolve_type turns "-" into "_" before the lookup, so "e-mail" arrives as "e_mail"
    "e_mail": "email", "mail": "email", "email_address": "email", "post_code": "postcode",
    "birth_date": "dob", "national_insurance": "ni_number", "ni_no": "ni_number",
    "company_no": "company_number",
}


def resolve_type(kind: str) -> IdentifierType:
    key = kind.strip().lower().replace("-", "_")
    key = ALIASES.get(key, key)
    if key not in TYPES:
        known = ", ".join(sorted(TYPES))
        raise IdentifierError(kind or "identifier", f"unknown identifier type (known: {known})")
    return TYPES[key]


def normalise(kind: str, raw: object) -> str:
    """Normalise ``raw`` as identifier type ``kind`` or raise IdentifierError."""
    itype = resolve_type(kind)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        raise IdentifierError(itype.name, "empty value")
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise IdentifierError(itype.name, "expected text")
    return itype.normalise(str(raw))


def try_normalise(kind: str, raw: object) -> str | None:
    """Normalise a value read from a record; None when it is not a valid identifier."""
    try:
        return normalise(kind, raw)
    except IdentifierError:
        return None


def variants(kind: str, value: str) -> list[str]:
    return TYPES[kind].variants(value)
