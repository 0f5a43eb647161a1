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
"""

from __future__ import annotations

from agent.detectors import Detector
from agent.hookspecs import Register, hookimpl

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


class EmailDetector(Detector):
    name = "email"
    identifier_type = "email"
    categories = ("Contact",)
    column_patterns = (_B + r"e_?mails?(_?addr(ess)?(es)?)?" + _E,)
    column_exclude = (_B + r"(domain|subject|body|template|campaign|open|opens|opened|click|"
                           r"clicks|clicked|sent|frequency)" + _E,)


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


class PostcodeDetector(Detector):
    name = "postcode"
    identifier_type = "postcode"
    categories = ("Contact",)
    column_patterns = (_B + r"post_?code", _B + r"postal_?code", _B + r"post_?cd" + _E,
                       _B + r"zip(_?code)?" + _E, r"^pc$")
    column_exclude = (_B + r"(area|district|sector|outward|outcode|inward|incode|prefix|region|"
                           r"lookup|distance)" + _E,)


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


class DateOfBirthDetector(Detector):
    name = "dob"
    identifier_type = "dob"
    categories = ("Financial",)  # collected for credit checks
    column_patterns = (_B + r"d_?o_?b" + _E, _B + r"date_?of_?birth", _B + r"birth_?date",
                       _B + r"birth_?day" + _E, _B + r"born_?(on|date)" + _E)
    column_exclude = (_B + r"(place|country|town|city)_?of_?birth", _B + r"birth_?(place|name)",
                      _B + r"birth_?day_?(greeting|card|message|offer)")
    by_value = False  # any date column parses as a date


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


class NiNumberDetector(Detector):
    name = "ni_number"
    identifier_type = "ni_number"
    categories = ("Financial",)
    column_patterns = (_B + r"ni_?(no|num|number|nbr)" + _E, _B + r"nino" + _E,
                       _B + r"nin" + _E, r"^ni$", _B + r"national_?insurance")
    # The normalisation rules (HMRC prefixes) are strict enough to judge values alone.


class SortCodeDetector(Detector):
    name = "sort_code"
    identifier_type = None  # paired with an account number into bank_account
    categories = ("Banking",)
    column_patterns = (_B + r"sort_?code", _B + r"bank_?sort" + _E)
    value_pattern = r"\d{2}[- ]?\d{2}[- ]?\d{2}"
    by_value = False


class BankAccountNumberDetector(Detector):
    name = "bank_account_number"
    identifier_type = None  # paired with a sort code into bank_account
    categories = ("Banking",)
    column_patterns = (
        _B + r"(bank|bacs|dd|direct_debit|payer|payee)_?(account|acct|acc|ac)"
             r"(_?(no|num|number|nbr))?" + _E,
    )
    column_exclude = (_B + r"(name|holder|type|sort|iban|bic|swift)" + _E,)
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


BUILTIN_DETECTORS: tuple[type[Detector], ...] = (
    EmailDetector, PhoneDetector, PostcodeDetector, FirstNameDetector, LastNameDetector,
    FullNameDetector, DateOfBirthDetector, AccountDetector, CompanyNumberDetector,
    NiNumberDetector, SortCodeDetector, BankAccountNumberDetector, CookieIdDetector,
    DeviceIdDetector,
)


@hookimpl
def register_detectors(register: Register) -> None:
    for cls in BUILTIN_DETECTORS:
        register(cls())
