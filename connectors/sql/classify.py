"""What a table's rows are about, from its name and its columns.

- person tables (contacts, leads, people): each row is one person;
- party tables (customers, accounts): each row is a customer, a person (sole trader) or an
  organisation (limited company), told apart per row;
- data groups (the policy's categories) from the table's name and identity columns.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from connectors.sql.options import data_group

PERSON_NOUNS = frozenset({
    "contact", "person", "people", "individual", "lead", "prospect", "user", "employee",
    "staff", "member", "subscriber", "applicant", "guarantor", "director", "signatory",
    "recipient", "patient", "student", "tenant", "candidate", "donor", "volunteer",
})
PARTY_NOUNS = frozenset({
    "customer", "client", "account", "company", "organisation", "organization", "business",
    "merchant", "debtor", "party", "firm",
})
# "bank_accounts", "email_accounts": accounts that are not customers
_NOT_PARTY = frozenset({"bank", "email", "user", "login", "web", "ledger", "gl", "social",
                        "card", "manager", "sip", "voip"})

_PARTY_COLUMN = re.compile(
    r"^((business|customer|client|account|entity|party|company|organi[sz]ation|legal|trading)"
    r"_?(type|kind|category|form|status|structure)|legal_?(form|status|entity)|entity|"
    r"trading_?status)$")

_GROUP_WORDS: dict[str, frozenset[str]] = {
    "Banking": frozenset({"bank", "sort", "iban", "mandate", "dd", "bacs"}),
    "CCTV": frozenset({"cctv", "camera", "footage", "video", "surveillance"}),
    "Communications": frozenset({
        "call", "cdr", "recording", "message", "email", "letter", "correspondence", "sms",
        "chat", "ticket", "note", "complaint", "conversation", "interaction", "communication",
        "voicemail", "mail", "enquiry", "inquiry"}),
    "Contact": frozenset({"contact", "person", "people", "customer", "client", "lead",
                         "prospect", "address", "subscriber", "member", "individual"}),
    "Contractual": frozenset({
        "contract", "order", "quote", "tender", "product", "service", "subscription",
        "agreement", "line", "plan", "connection", "porting", "renewal", "tariff", "proposal"}),
    "Financial": frozenset({"credit", "score", "affordability", "debt", "collection", "arrear",
                           "finance", "financial", "risk", "income"}),
    "Open Data and Public Records": frozenset({"director", "officer", "psc", "register",
                                               "registry", "public", "house"}),
    "Technical": frozenset({"device", "sim", "imei", "session", "cookie", "ip", "login",
                           "browser", "handset", "hardware", "token"}),
    "Transactional": frozenset({"invoice", "payment", "transaction", "billing", "bill",
                               "refund", "charge", "receipt", "ledger", "statement"}),
    "Usage Data": frozenset({"usage", "preference", "consent", "activity", "event",
                            "analytics", "pageview", "visit", "click", "web", "log",
                            "tracking", "optin", "subscription"}),
}
_ROLE_GROUPS: dict[str, tuple[str, ...]] = {
    "email": ("Contact",), "phone": ("Contact",), "postcode": ("Contact",),
    "first_name": ("Contact",), "last_name": ("Contact",), "full_name": ("Contact",),
    "sort_code": ("Banking",), "bank_account_number": ("Banking",), "bank_account": ("Banking",),
    "device_id": ("Technical",), "cookie_id": ("Technical",),
}

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def singular(word: str) -> str:
    if word == "people":
        return "person"
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "ches", "shes", "xes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) > 3:
        return word[:-1]
    return word


def name_words(name: str) -> list[str]:
    """``CustomerContacts`` / ``customer_contacts`` -> ["customer", "contact"]."""
    spaced = _CAMEL.sub("_", name)
    return [singular(w) for w in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if w]


def plural_forms(word: str) -> set[str]:
    """Table names a ``<word>_id`` column may point at."""
    forms = {word, word + "s", word + "es"}
    if word.endswith("y"):
        forms.add(word[:-1] + "ies")
    if word == "person":
        forms.add("people")
    return forms


def is_person_table(name: str, roles: Iterable[str]) -> bool:
    words = name_words(name)
    if words and words[-1] in PERSON_NOUNS:
        return True
    present = set(roles)
    has_name = bool(present & {"first_name", "last_name", "full_name"})
    return has_name and bool(present & {"email", "phone"}) and not is_party_name(name)


def is_party_name(name: str) -> bool:
    words = name_words(name)
    return bool(words) and words[-1] in PARTY_NOUNS and not set(words) & _NOT_PARTY


def party_column(columns: Iterable[str]) -> str | None:
    for column in columns:
        if _PARTY_COLUMN.match(column.lower()):
            return column
    return None


def infer_groups(name: str, roles: Iterable[str], detector_groups: Iterable[str],
                 *, person: bool, party: bool) -> list[str]:
    words = set(name_words(name))
    groups = {g for g, vocabulary in _GROUP_WORDS.items() if words & vocabulary}
    for role in roles:
        groups.update(_ROLE_GROUPS.get(role, ()))
    groups.update(g for g in (data_group(x) for x in detector_groups) if g)
    if person or party:
        groups.add("Contact")
    return sorted(groups)
