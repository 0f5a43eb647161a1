"""Built-in detectors: the personal data a UK business's CRM, files and call logs hold.

Each class only declares what it looks for; the matching logic is on
``agent.detectors.Detector``. Column patterns run over the lower snake_case column name:
``_B`` and ``_E`` mark a word boundary (``_``, digits or the ends), so ``email`` finds
``work_email`` and ``email2`` but not ``emailed``.

Two detectors have no identifier type of their own: ``sort_code`` and ``bank_account_number``
(Banking). A sort code or an account number alone does not identify anyone; the SQL
connector pairs a table's sort-code column with its account-number column into the
``bank_account`` identifier (``SSSSSS:AAAAAAAA``). An ``account_number`` column beside a
sort code is a bank account, not a customer account: that takes the table, so it is the
connector's call.

Categories are the data groups of the privacy policy (Contact, Banking, Contractual,
Financial, Open Data and Public Records, Technical, Usage Data).

Checks beyond the shape (``checks``): Luhn for payment cards, IMEIs and SIM ICCIDs; ISO
13616 mod-97 and the country's length for IBANs; the ``ipaddress`` module for IP addresses;
HMRC's prefix rules for NI numbers (in ``agent.identifiers``); Companies House prefixes;
a plausible age (0-120) for dates of birth; and VocaLink's modulus check for a sort code
written with its account number (``bank_details``), using the tables (valacdos.txt,
scsubtab.txt) the ``ukmodulus`` package ships. A sort code or an account number alone has
no check digit, so those two detectors judge the shape only.

``text_pattern`` finds candidates in running text for discovery sweeps
(``agent.sweep_text``). Identifiers with no distinctive shape are looked for in text only
after words that name them (``text_context``: "DOB:", "sort code", "company number"); shapes
that other numbers share are not counted after words naming something else
(``text_context_exclude``: "order no. 07700 900123", "version 1.2.3.4").
"""

from __future__ import annotations

import functools
import ipaddress
import re
from datetime import date

from agent.detectors import Detector, luhn_valid
from agent.hookspecs import Register, hookimpl
from agent.identifiers import try_normalise
from agent.names import find_person_names

try:  # VocaLink's modulus tables (MIT-licensed package); without it: shape only
    import ukmodulus as _ukmodulus
except ImportError:  # pragma: no cover - a declared dependency
    _ukmodulus = None
else:
    # It finds a sort code's rules by a linear walk of ~1,000 table rows on every call;
    # sweeps meet the same few sort codes again and again.
    _ukmodulus._get_weightings = functools.lru_cache(maxsize=4096)(_ukmodulus._get_weightings)

_B = r"(^|_)"  # start of a word in a snake_case name
_E = r"(_|\d|$)"  # end of a word

# Words of a person's name: letters with inner hyphens or apostrophes ("O'Brien",
# "Smith-Jones"), an initial with a dot, an optional comma ("Smith, John").
_WORD = r"[^\W\d_]+(?:['\u2019\-][^\W\d_]+)*\.?,?"
# Names of companies, not people: a limited company's name is not personal data.
_BUSINESS_WORDS = (r"&|\b(ltd|limited|plc|llp|llc|inc|corp|company|group|holdings|"
                   r"services|solutions|trading|enterprises|associates|partners|partnership|"
                   r"consulting|consultants|sons)\b")
# "<something>_name" columns that name things, not people.
_NOT_PERSON = (_B + r"(company|business|trading|organi[sz]ation|org|firm|employer|supplier|"
               r"vendor|file|user|host|domain|table|column|schema|product|plan|tariff|package|"
               r"campaign|brand|bank|branch|street|building|road|town|city|county|country|"
               r"site|server|device|network|app|event|list|role|group|team|dept|department|"
               r"field|sheet|screen|nick|login|tag|category|account|trading_as)_?names?" + _E,
               r"^username$", r"^(first|last)_(login|seen|contact|contacted|call|called|"
                              r"order|payment|visit|activity|update|updated|modified)")

# Text candidates must not sit inside a longer token: no word character, no joining "-"/"/".
_NB = r"(?<![\w/+-])"  # not glued to what comes before
_NA = r"(?![\w/-]|\.\d)"  # nor to what follows (a full stop ending a sentence is fine)
# Words before a number that say it is some other kind of reference.
_OTHER_REFERENCE = (r"\b(order|invoice|inv|ref|reference|ticket|case|job|po|sku|serial|batch|"
                    r"tracking|parcel|consignment|booking|quote|txn|transaction|policy|"
                    r"account|acct|a/c|customer|cust|id)\b\W{0,3}(no|num|number|nbr|id|#)?"
                    r"\W{0,3}$")
# Column names of references and counters, where values alone say nothing.
_REFERENCE_COLUMNS = (_B + r"(order|invoice|ref|reference|txn|transaction|ticket|case|job|po|"
                           r"sku|barcode|batch|tracking|parcel|booking|quote|id|amount|total|"
                           r"balance|price|qty|quantity|count)" + _E,)


_TITLE = re.compile(r"(?:(?:mr|mrs|ms|miss|mx|dr|prof|sir|dame|lady|lord)\.?\s+)?", re.I)


def _digits(text: str) -> str:
    return re.sub(r"[\s./-]", "", text)


# --------------------------------------------------------------------------- payment cards

# (first digits low, high, lengths): issuer identification number ranges of the card schemes
_CARD_RANGES: tuple[tuple[int, int, frozenset[int]], ...] = (
    (4, 4, frozenset({13, 16, 19})),  # Visa
    (51, 55, frozenset({16})), (2221, 2720, frozenset({16})),  # Mastercard
    (34, 34, frozenset({15})), (37, 37, frozenset({15})),  # American Express
    (6011, 6011, frozenset(range(16, 20))), (644, 649, frozenset(range(16, 20))),
    (65, 65, frozenset(range(16, 20))),  # Discover
    (3528, 3589, frozenset(range(16, 20))),  # JCB
    (300, 305, frozenset(range(14, 20))), (36, 36, frozenset(range(14, 20))),
    (38, 39, frozenset(range(16, 20))),  # Diners Club
    (62, 62, frozenset(range(16, 20))),  # UnionPay
    (5018, 5018, frozenset(range(12, 20))), (5020, 5020, frozenset(range(12, 20))),
    (5038, 5038, frozenset(range(12, 20))), (5893, 5893, frozenset(range(12, 20))),
    (6304, 6304, frozenset(range(12, 20))), (6759, 6759, frozenset(range(12, 20))),
    (6761, 6763, frozenset(range(12, 20))),  # Maestro
)


def payment_card_ok(text: str) -> bool:
    """13-19 digits, a card scheme's prefix and length, and the Luhn check digit."""
    digits = _digits(text)
    # fewer than three distinct digits: a scheme's test number (4111 1111 1111 1111), no one's
    if not digits.isdigit() or not 13 <= len(digits) <= 19 or len(set(digits)) < 3:
        return False
    for low, high, lengths in _CARD_RANGES:
        width = len(str(low))
        if low <= int(digits[:width]) <= high and len(digits) in lengths:
            return luhn_valid(digits)
    return False


# --------------------------------------------------------------------------- IBAN

# ISO 13616 lengths of the countries that issue IBANs (SWIFT's IBAN registry)
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22,
    "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32,
    "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
    "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24,
    "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24, "SC": 31,
    "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28, "TL": 23,
    "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}


def iban_ok(text: str) -> bool:
    """The country's length and the ISO 7064 mod-97 check digits."""
    compact = re.sub(r"[\s-]", "", text).upper()
    if IBAN_LENGTHS.get(compact[:2]) != len(compact) or not compact.isalnum():
        return False
    if not compact[2:4].isdigit():
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


# --------------------------------------------------------------------------- devices

# Reporting-body prefixes of IMEIs (the first two digits of the type allocation code)
_IMEI_PREFIXES = frozenset({"01", "10", "30", "33", "35", "44", "45", "49", "50", "51", "52",
                            "53", "54", "86", "91", "98", "99"})


def imei_ok(text: str) -> bool:
    digits = _digits(text)
    return (len(digits) == 15 and digits[:2] in _IMEI_PREFIXES and luhn_valid(digits)
            and len(set(digits)) > 2)


def iccid_ok(text: str) -> bool:
    """SIM serial: 89 (telecoms), 18-20 digits; the full 19-20 digit form ends in a Luhn
    check digit, the 18-digit form (no check digit) is taken by its shape."""
    digits = _digits(text)
    if not (digits.isdigit() and digits.startswith("89") and 18 <= len(digits) <= 20):
        return False
    return len(digits) == 18 or luhn_valid(digits)


def ip_address_ok(text: str) -> bool:
    try:
        address = ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return False
    return not address.is_unspecified


# --------------------------------------------------------------------------- UK registers

# Companies House prefixes (two letters then six digits); England and Wales: eight digits
_COMPANY_PREFIXES = frozenset({
    "SC", "NI", "OC", "SO", "NC", "FC", "SF", "NF", "LP", "SL", "NL", "IP", "SP", "NP",
    "IC", "SI", "NV", "RC", "SR", "NR", "ZC", "SZ", "NZ", "GE", "GS", "GN", "SE", "ES",
    "CE", "CS", "PC", "AC", "SA", "NA", "RS", "SG", "NO", "FE", "OE"})


def company_number_ok(text: str) -> bool:
    value = try_normalise("company_number", text)
    if value is None:
        return False
    if value.isdigit():
        return value != "00000000"
    if value[0] == "R" and value[1:].isdigit():  # old Northern Ireland numbers: R0000001
        return True
    return value[:2] in _COMPANY_PREFIXES


def plausible_birth_date(text: str) -> bool:
    """A date that can be someone's birthday: not in the future, at most 120 years ago."""
    value = try_normalise("dob", text)
    if value is None:
        return False
    born = date.fromisoformat(value)
    today = date.today()
    return born <= today and today.year - born.year <= 120


def person_name_ok(text: str) -> bool:
    """The whole value is a person's name by the shipped lexicon (``agent.names``): a listed
    given name and surname, or a title and a surname; "Grant Thornton Ltd" is not."""
    spans = find_person_names(text)
    if len(spans) != 1:
        return False
    covered = spans[0].end - spans[0].start
    return covered >= len(text.strip()) - len(_TITLE.match(text.strip())[0])


def bank_details_ok(text: str) -> bool:
    """A sort code with its account number: VocaLink's modulus check where the tables
    cover the sort code (sort codes they do not list cannot be checked and pass)."""
    digits = re.findall(r"\d+", text)
    joined = "".join(digits)
    if len(joined) < 12 or len(joined) > 16:
        return False
    sort, account = joined[:6], joined[6:]
    if not 6 <= len(account) <= 10:
        return False
    if _ukmodulus is None:
        return True
    try:
        return bool(_ukmodulus.validate_number(sort, account))
    except (ValueError, IndexError):
        return False


class EmailDetector(Detector):
    name = "email"
    identifier_type = "email"
    categories = ("Contact",)
    column_patterns = (_B + r"e_?mails?(_?addr(ess)?(es)?)?" + _E,)
    column_exclude = (_B + r"(domain|subject|body|template|campaign|open|opens|opened|click|"
                           r"clicks|clicked|sent|frequency)" + _E,)
    text_pattern = (r"(?<![\w.%+'-])[A-Za-z0-9][A-Za-z0-9._%+'-]{0,63}@[A-Za-z0-9-]+"
                    r"(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
    text_literal = "@"


class PhoneDetector(Detector):
    name = "phone"
    identifier_type = "phone"
    categories = ("Contact",)
    column_patterns = (
        _B + r"(tele)?phone", _B + r"tel(_?(no|num|number))?" + _E, _B + r"mobile",
        _B + r"mob(_?(no|num|number))?" + _E, _B + r"cell" + _E, _B + r"landline",
        _B + r"fax", _B + r"msisdn", _B + r"(cli|ddi|ani)" + _E,
        _B + r"contact_?(no|num|number)" + _E,
        _B + r"(caller|callee|called|dialled|dialed)_?(id|no|num|number)" + _E,
        # Asterisk call-detail records
        r"^(src|dst|clid|cnum|dnid)$",
    )
    column_exclude = (_B + r"(model|make|manufacturer|brand|handset|contract|plan|tariff|"
                           r"network|carrier|provider|bundle|imei|serial|sim|iccid|os|app|"
                           r"ext|extension|minutes|usage|bill|cost|price|data|tps|ctps)" + _E,)
    value_column_exclude = _REFERENCE_COLUMNS  # order numbers that look like phones
    value_exclude = r"^\d{1,3}(?:\.\d{1,3}){3}$"  # an IP address or a version, not 0xx...
    # UK numbers as people write them: 07700 900123, 01632 960001, +44 (0)7700 900123
    text_pattern = (_NB + r"(?:\+44\s?(?:\(0\)\s?)?|0044\s?|\(?0)\d{2,4}\)?[\s-]?\d{3,4}"
                    r"[\s-]?\d{3,4}" + _NA)
    text_context_exclude = _OTHER_REFERENCE


class PostcodeDetector(Detector):
    name = "postcode"
    identifier_type = "postcode"
    categories = ("Contact",)
    column_patterns = (_B + r"post_?code", _B + r"postal_?code", _B + r"post_?cd" + _E,
                       _B + r"zip(_?code)?" + _E, r"^pc$")
    column_exclude = (_B + r"(area|district|sector|outward|outcode|inward|incode|prefix|region|"
                           r"lookup|distance)" + _E,)
    text_pattern = r"\b[A-Z]{1,2}\d[A-Z\d]? ?\d[ABD-HJLNP-UW-Z]{2}\b"


class FirstNameDetector(Detector):
    name = "first_name"
    identifier_type = "name"
    categories = ("Contact",)
    column_patterns = (_B + r"(first|fore|given|christian)_?names?" + _E, _B + r"forenames?" + _E,
                       r"^f_?name$", r"^first$")
    column_exclude = _NOT_PERSON
    value_pattern = rf"{_WORD}(?:\s+{_WORD}){{0,2}}"
    value_exclude = _BUSINESS_WORDS
    by_value = False  # a column of single words may be towns or products


class LastNameDetector(Detector):
    name = "last_name"
    identifier_type = "name"
    categories = ("Contact",)
    column_patterns = (_B + r"(last|family|sur)_?names?" + _E, r"^l_?name$", r"^last$")
    column_exclude = _NOT_PERSON
    value_pattern = rf"{_WORD}(?:\s+{_WORD}){{0,2}}"
    value_exclude = _BUSINESS_WORDS
    by_value = False


class FullNameDetector(Detector):
    name = "full_name"
    identifier_type = "name"
    categories = ("Contact",)
    column_patterns = (
        r"^name$", r"^(contact|person|customer_contact)$",
        _B + r"(full|contact|person|persons|holder|account_holder|cardholder|card_holder|payee|"
             r"payer|signatory|director|employee|guarantor|recipient|addressee|proprietor|"
             r"owner|caller|lead|prospect|tenant|customer_contact|client_contact)_?names?" + _E,
    )
    column_exclude = _NOT_PERSON
    value_pattern = rf"{_WORD}(?:\s+{_WORD}){{0,5}}"
    value_exclude = _BUSINESS_WORDS
    by_value = False


class PersonNameDetector(Detector):
    """Names of people found by their values alone, in a column whose name says nothing
    (``col3``, ``contact``): the first/last/full name detectors decide named columns."""

    name = "person_name"
    identifier_type = None  # searched through the name detectors' columns
    categories = ("Contact",)
    value_pattern = rf"{_WORD}(?:\s+{_WORD}){{1,4}}"
    value_exclude = _BUSINESS_WORDS
    checks = (person_name_ok,)


class DateOfBirthDetector(Detector):
    name = "dob"
    identifier_type = "dob"
    categories = ("Financial",)  # collected for credit checks
    column_patterns = (_B + r"d_?o_?b" + _E, _B + r"date_?of_?birth", _B + r"birth_?date",
                       _B + r"birth_?day" + _E, _B + r"born_?(on|date)" + _E)
    column_exclude = (_B + r"(place|country|town|city)_?of_?birth", _B + r"birth_?(place|name)",
                      _B + r"birth_?day_?(greeting|card|message|offer)")
    by_value = False  # any date column parses as a date: order_date holds dates too
    checks = (plausible_birth_date,)  # not in the future, age 0-120
    # in text only after words saying so: "DOB: 31/01/1980", "born on 31 January 1980"
    text_pattern = (r"(?<![\d/.-])(?:\d{1,2}[/.-]\d{1,2}[/.-](?:19|20)\d{2}"
                    r"|(?:19|20)\d{2}-\d{2}-\d{2}"
                    r"|\d{1,2} (?:January|February|March|April|May|June|July|August|September|"
                    r"October|November|December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|"
                    r"Dec) (?:19|20)\d{2})(?![\d/-]|\.\d)")
    text_context = (r"\b(d\.?o\.?b|date of birth|birth ?date|birthday|born)\b[^\n\d]{0,12}$")
    text_context_words = ("dob", "d.o.b", "date of birth", "birth date", "birthdate",
                          "birthday", "born")


class AccountDetector(Detector):
    name = "account"
    identifier_type = "account"
    categories = ("Contractual",)
    column_patterns = (
        _B + r"(account|acct|acc|a_c)_?(no|num|number|nbr|ref|reference|code)" + _E,
        r"^(account|acct)$",
        _B + r"(customer|cust|client)_?(no|num|number|nbr|ref|reference|code)" + _E,
    )
    column_exclude = (_B + r"(bank|bacs|sort|iban|payer|payee|dd|direct_debit|manager|"
                           r"type|holder|name|status|owner)" + _E,)
    # letters and digits together: CAN-001234, ACC123456, 12/AB/3456
    value_pattern = r"(?=(?:[^\d]*\d){3})(?=.*[A-Za-z])[A-Za-z0-9][A-Za-z0-9\-/]{3,31}"
    named_value_pattern = r"\d{3,20}"
    by_value = False  # ids of any kind look alike


class CompanyNumberDetector(Detector):
    name = "company_number"
    identifier_type = "company_number"
    categories = ("Open Data and Public Records",)
    column_patterns = (_B + r"company_?(reg(istration)?_?)?(no|num|number|nbr)" + _E,
                       _B + r"crn" + _E, _B + r"companies_?house",
                       _B + r"(company_?)?registration_?(no|num|number|nbr)" + _E,
                       _B + r"(incorporation|registered)_?(no|num|number)" + _E)
    column_exclude = (_B + r"(vat|charity|phone|tel|fax|mobile|vehicle|car)" + _E,)
    value_pattern = r"[A-Za-z]{2}\s?\d{6}|[Rr]\d{7}|\d{8}"
    named_value_pattern = r"\d{1,7}"  # a number column dropped the leading zeros
    by_value = False
    checks = (company_number_ok,)  # Companies House prefixes: SC, NI, OC, SO, NC, R0...
    text_pattern = r"(?<![\w/-])(?:[A-Z]{2}\d{6}|R\d{7}|\d{8})(?![\w/-])"
    text_context = (r"\b(company|companies house|registration|registered|reg|crn)\b"
                    r"[^\n\d;]{0,24}$")
    text_context_words = ("company", "companies house", "registration", "registered", "reg",
                          "crn")


class NiNumberDetector(Detector):
    name = "ni_number"
    identifier_type = "ni_number"
    categories = ("Financial",)
    column_patterns = (_B + r"ni_?(no|num|number|nbr)" + _E, _B + r"nino" + _E,
                       _B + r"nin" + _E, r"^ni$", _B + r"national_?insurance")
    # The normalisation rules (agent.identifiers: HMRC's prefixes, first letter not D F I Q
    # U V, second not D F I O Q U V, never BG GB KN NK NT TN ZZ; suffix A-D) are strict
    # enough to judge values alone.
    text_pattern = (r"(?<![\w-])[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?"
                    r"[A-D](?![\w-])")


class SortCodeDetector(Detector):
    name = "sort_code"
    identifier_type = None  # paired with an account number into bank_account
    categories = ("Banking",)
    column_patterns = (_B + r"sort_?code", _B + r"bank_?sort" + _E)
    value_pattern = r"\d{2}[- ]?\d{2}[- ]?\d{2}"
    by_value = False
    # No check digit: shape only (the modulus check needs the account, see bank_details).
    text_pattern = r"(?<![\w/.-])\d{2}[- ]\d{2}[- ]\d{2}(?![\w/-]|\.\d)"
    text_context = r"\b(sort ?code|s/c)\b[^\n\d;]{0,12}$"
    text_context_words = ("sort code", "sortcode", "s/c")


class BankAccountNumberDetector(Detector):
    name = "bank_account_number"
    identifier_type = None  # paired with a sort code into bank_account
    categories = ("Banking",)
    column_patterns = (
        _B + r"(bank|bacs|dd|direct_debit|payer|payee)_?(account|acct|acc|ac)"
             r"(_?(no|num|number|nbr))?" + _E,
    )
    column_exclude = (_B + r"(name|holder|type|sort|iban|bic|swift|details)" + _E,)
    value_pattern = r"\d{7,8}"  # 7-digit accounts are padded with a leading zero
    by_value = False


class CookieIdDetector(Detector):
    name = "cookie_id"
    identifier_type = "cookie_id"
    categories = ("Technical", "Usage Data")
    column_patterns = (_B + r"cookie(_?(id|value))?" + _E, _B + r"ga_?(client_?id|cid)" + _E,
                       _B + r"visitor_?id" + _E, _B + r"(anonymous|anon)_?id" + _E)
    column_exclude = (_B + r"(policy|banner|name|domain|path|expires?|expiry)" + _E,)
    value_pattern = r"[A-Za-z0-9][A-Za-z0-9._:\-]{7,63}"
    by_value = False


class DeviceIdDetector(Detector):
    name = "device_id"
    identifier_type = "device_id"
    categories = ("Technical",)
    column_patterns = (_B + r"imei(sv)?" + _E, _B + r"iccid" + _E, _B + r"imsi" + _E,
                       _B + r"(meid|esn|udid)" + _E,
                       _B + r"serial(_?(no|num|number|nbr))?" + _E,
                       _B + r"device_?(id|serial|identifier)" + _E,
                       _B + r"sim_?(no|num|number|serial|id)" + _E)
    column_exclude = (_B + r"(model|make|manufacturer|brand|name|os|version)" + _E,)
    value_pattern = r"[A-Za-z0-9][A-Za-z0-9:\-]{5,63}"
    by_value = False


class BankDetailsDetector(Detector):
    """A sort code written with its account number ("20-00-00 12345678"): the pair carries
    VocaLink's modulus check, the halves alone do not."""
    name = "bank_details"
    identifier_type = None  # the SQL connector pairs sort_code and bank_account_number
    categories = ("Banking",)
    column_patterns = (_B + r"bank_?(details|account_?details)" + _E,)
    value_pattern = r"\d{2}[- ]?\d{2}[- ]?\d{2}[\s:/,;-]{1,3}\d{6,10}"
    checks = (bank_details_ok,)
    text_pattern = (r"(?<![\w/.-])\d{2}[- ]?\d{2}[- ]?\d{2}(?:[\s,/:;-]{1,3}|[\s,]+(?:a/c|acc|"
                    r"account)(?: no\.?| number)?[\s:.]{1,3})\d{7,8}(?![\w/-])")


class IbanDetector(Detector):
    name = "iban"
    identifier_type = None
    categories = ("Banking",)
    column_patterns = (_B + r"iban" + _E,)
    column_exclude = (_B + r"(country|bic|swift)" + _E,)
    value_pattern = r"[A-Za-z]{2}\d{2}(?: ?[A-Za-z0-9]){11,30}"
    checks = (iban_ok,)  # the country's length and mod-97
    text_pattern = r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b"


class PaymentCardDetector(Detector):
    name = "payment_card"
    identifier_type = None  # never searched for: card numbers are kept out of exports
    categories = ("Banking",)
    column_patterns = (_B + r"(card|cc|pan)_?(no|num|number|nbr)" + _E,
                       _B + r"(credit|debit|payment)_?card" + _E, r"^pan$")
    column_exclude = (_B + r"(type|brand|scheme|expiry|exp|expires|holder|name|last_?4|"
                           r"last_?four|token|masked|bin|iin|issuer|cvv|cvc|start|gift|loyalty|"
                           r"sim|id)" + _E,)
    value_pattern = r"\d{13,19}|\d{4}(?:[ -]\d{4}){2}[ -]\d{1,7}|\d{4}[ -]\d{6}[ -]\d{4,5}"
    checks = (payment_card_ok,)  # scheme prefix and length, Luhn
    value_column_exclude = _REFERENCE_COLUMNS
    text_pattern = (_NB + r"(?:\d{13,19}|\d{4}(?:[ -]\d{4}){2}[ -]\d{1,4}(?:[ -]\d{3})?|"
                    r"\d{4}[ -]\d{6}[ -]\d{4,5})" + _NA)
    text_context_exclude = _OTHER_REFERENCE


class IpAddressDetector(Detector):
    name = "ip_address"
    identifier_type = None
    categories = ("Technical", "Usage Data")
    column_patterns = (_B + r"ip(v[46])?(_?addr(ess)?(es)?)?" + _E,
                       _B + r"(x_)?forwarded_for" + _E, _B + r"remote_?addr" + _E)
    column_exclude = (_B + r"(country|geo|city|region|range|subnet|mask|prefix|version|type|"
                           r"allow|allowed|block|blocked|whitelist|blacklist)" + _E,)
    value_pattern = r"\d{1,3}(?:\.\d{1,3}){3}|\[?[0-9A-Fa-f:.]{2,45}\]?"
    checks = (ip_address_ok,)
    # "1.2.3.4" in a version column is a version (the module accepts it as an address)
    value_column_exclude = (_B + r"(version|ver|release|build|firmware|fw|software|sw|app|os|"
                                 r"schema|api|model|sku|oid)" + _E,)
    text_pattern = (r"(?<![\w.:-])(?:\d{1,3}(?:\.\d{1,3}){3}(?![\w-]|\.\d)|"
                    r"(?=\d[0-9A-Fa-f]{0,3}:)(?=[0-9A-Fa-f:]*::|(?:[0-9A-Fa-f]{1,4}:){7})"
                    r"[0-9A-Fa-f:]{2,39}(?![\w:-]))")
    # IPv6 in text: written from a digit (2001:db8::1), as nearly every global address is
    text_context_exclude = (r"\b(version|ver|v|release|build|firmware|upgrade|update|updated|"
                            r"patch|sdk|oid)\b\W{0,3}(to\W+)?$")


class ImeiDetector(Detector):
    name = "imei"
    identifier_type = None  # searched as a device_id (that detector names the column too)
    categories = ("Technical",)
    column_patterns = (_B + r"imei(_?(no|num|number|nbr))?" + _E,)
    column_exclude = (_B + r"(model|make|manufacturer|brand|name|os|version|sv)" + _E,)
    value_pattern = r"\d{15}|\d{2}[-/ ]\d{6}[-/ ]\d{6}[-/ ]\d|\d{8}[-/ ]\d{6}[-/ ]\d"
    checks = (imei_ok,)  # 15 digits, a reporting body's prefix, Luhn
    value_column_exclude = _REFERENCE_COLUMNS
    text_pattern = (_NB + r"(?:\d{15}|\d{2}[-/ ]\d{6}[-/ ]\d{6}[-/ ]\d|\d{8}[-/ ]\d{6}[-/ ]\d)"
                    + _NA)
    text_context_exclude = _OTHER_REFERENCE


class IccidDetector(Detector):
    name = "iccid"
    identifier_type = None  # searched as a device_id (that detector names the column too)
    categories = ("Technical",)
    column_patterns = (_B + r"iccid" + _E, _B + r"sim_?(no|num|number|serial|card_?number)" + _E)
    column_exclude = (_B + r"(type|status|name|provider|network)" + _E,)
    value_pattern = r"89\d{16,18}|89\d{2}(?: \d{4}){3,4}(?: \d{1,4})?"
    checks = (iccid_ok,)  # 89, 18-20 digits, Luhn
    text_pattern = r"(?<![\w/-])(?:89\d{16,18}|89\d{2}(?: \d{4}){3,4}(?: \d{1,4})?)(?![\w/-])"


BUILTIN_DETECTORS: tuple[type[Detector], ...] = (
    EmailDetector, PhoneDetector, PostcodeDetector, FirstNameDetector, LastNameDetector,
    FullNameDetector, DateOfBirthDetector, AccountDetector, CompanyNumberDetector,
    NiNumberDetector, SortCodeDetector, BankAccountNumberDetector, CookieIdDetector,
    DeviceIdDetector, BankDetailsDetector, IbanDetector, PaymentCardDetector,
    IpAddressDetector, ImeiDetector, IccidDetector, PersonNameDetector,
)


@hookimpl
def register_detectors(register: Register) -> None:
    for cls in BUILTIN_DETECTORS:
        register(cls())
