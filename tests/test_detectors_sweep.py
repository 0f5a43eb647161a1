"""Detectors for discovery sweeps: checksums, column confidence and the text scanner,
measured for precision and recall on a labelled set of made-up columns and snippets.

The set (built from a seed; ``bench/sweep_bench.py`` reuses it) includes look-alikes:
order numbers shaped like phones, dates that are not birth dates, version strings shaped
like IP addresses, 16-digit references failing Luhn, NI numbers with prefixes HMRC never
issues, IBANs and bank details with a wrong check digit. Assertion messages carry detector
names and figures only, never a value.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

import pytest

from agent.detectors import Detector, column_confidence, luhn_valid
from agent.plugins import PluginManager
from agent.sweep_text import SweepScanner
from plugins.detectors import (
    BUILTIN_DETECTORS,
    IBAN_LENGTHS,
    iban_ok,
    imei_ok,
    payment_card_ok,
)

DETECTORS: dict[str, Detector] = {cls.name: cls() for cls in BUILTIN_DETECTORS}
# The detectors measured here (names and record ids have tests of their own).
MEASURED = ("email", "phone", "postcode", "dob", "company_number", "ni_number", "sort_code",
            "bank_account_number", "bank_details", "iban", "payment_card", "ip_address",
            "imei", "iccid", "person_name")
TEXT_MEASURED = ("email", "phone", "postcode", "dob", "company_number", "ni_number",
                 "sort_code", "bank_details", "iban", "payment_card", "ip_address", "imei",
                 "iccid")
# Thresholds: the figures measured on this set (bench/SWEEP_RESULTS.md) less a margin.
MIN_COLUMN_PRECISION = MIN_COLUMN_RECALL = 0.95
MIN_TEXT_PRECISION = MIN_TEXT_RECALL = 0.95


# --------------------------------------------------------------------------- generators

def with_luhn(body: str) -> str:
    for check in "0123456789":
        if luhn_valid(body + check):
            return body + check
    raise AssertionError("unreachable")


def without_luhn(body: str) -> str:
    good = with_luhn(body)
    return good[:-1] + str((int(good[-1]) + 1 + random.Random(body).randrange(9)) % 10)


class Make:
    """Made-up identifiers (phones in Ofcom's drama ranges, e-mail at example.com)."""

    def __init__(self, seed: int = 7) -> None:
        self.r = random.Random(seed)

    def person(self) -> str:
        given = ["Maya", "Hannah", "Daniel", "Priya", "Tomasz", "Aisha", "Owen", "Fiona",
                 "James", "Grace", "Mohammed", "Sophie"]
        surnames = ["Okafor", "Quigley", "Patel", "Nowak", "Evans", "Campbell", "Murphy",
                    "Khan", "Taylor", "Brown", "Walsh", "Hughes"]
        return f"{self.r.choice(given)} {self.r.choice(surnames)}"

    def digits(self, n: int) -> str:
        return "".join(self.r.choice("0123456789") for _ in range(n))

    def phone(self) -> str:
        if self.r.random() < 0.5:
            n = f"07700 900{self.r.randrange(1000):03d}"
        else:
            n = f"01632 960{self.r.randrange(1000):03d}"
        style = self.r.randrange(3)
        if style == 1:
            return n.replace(" ", "")
        if style == 2:
            return "+44 " + n[1:]
        return n

    def email(self) -> str:
        first = self.r.choice(["jo", "sam", "kim", "alex", "pat", "lee", "max", "ash"])
        last = self.r.choice(["bloggs", "smith", "jones", "taylor", "brown", "evans"])
        dom = self.r.choice(["example.com", "example.co.uk"])
        return f"{first}.{last}{self.r.randrange(100)}@{dom}"

    def postcode(self) -> str:
        area = self.r.choice(["SW1A", "EC1A", "M1", "LS6", "B33", "CR2", "DN55", "W1A"])
        return f"{area} {self.r.randrange(10)}{self.r.choice('ABDEFGHJLNPQRSTUWXYZ')}" \
               f"{self.r.choice('ABDEFGHJLNPQRSTUWXYZ')}"

    def ni(self, valid: bool = True) -> str:
        first_ok, second_ok = "ABCEGHJKLMNOPRSTWXYZ", "ABCEGHJKLMNPRSTWXYZ"
        while True:
            prefix = self.r.choice(first_ok) + self.r.choice(second_ok)
            if prefix not in {"BG", "GB", "NK", "KN", "TN", "NT", "ZZ"}:
                break
        suffix = self.r.choice("ABCD")
        if not valid:
            kind = self.r.randrange(4)
            if kind == 0:
                prefix = self.r.choice(["BG", "GB", "NK", "KN", "TN", "NT", "ZZ"])
            elif kind == 1:
                prefix = self.r.choice("DFIQUV") + prefix[1]
            elif kind == 2:
                prefix = prefix[0] + self.r.choice("DFIOQUV")
            else:
                suffix = self.r.choice("EFGXYZ")
        d = self.digits(6)
        if self.r.random() < 0.5:
            return f"{prefix} {d[:2]} {d[2:4]} {d[4:]} {suffix}"
        return f"{prefix}{d}{suffix}"

    def card(self, valid: bool = True) -> str:
        prefix, length = self.r.choice([("4", 16), ("51", 16), ("55", 16), ("2221", 16),
                                        ("34", 15), ("37", 15), ("6011", 16), ("3530", 16)])
        body = prefix + self.digits(length - len(prefix) - 1)
        number = with_luhn(body) if valid else without_luhn(body)
        if length == 16 and self.r.random() < 0.5:
            sep = self.r.choice([" ", "-"])
            return sep.join(number[i:i + 4] for i in range(0, 16, 4))
        return number

    def iban(self, valid: bool = True) -> str:
        country = self.r.choice(["GB", "DE", "FR", "NL", "IE", "ES"])
        length = IBAN_LENGTHS[country]
        if country in {"GB", "IE"}:
            bban = self.r.choice(["WEST", "BARC", "AIBK"]) + self.digits(length - 8)
        elif country == "NL":
            bban = "ABNA" + self.digits(length - 8)
        else:
            bban = self.digits(length - 4)
        moved = bban + country + "00"
        check = 98 - int("".join(str(int(c, 36)) for c in moved)) % 97
        iban = f"{country}{check:02d}{bban}"
        if not valid:
            i = self.r.randrange(8, len(iban))
            swapped = str((int(iban[i]) + 1) % 10) if iban[i].isdigit() else iban[i]
            iban = iban[:i] + swapped + iban[i + 1:]
        if self.r.random() < 0.5:
            return " ".join(iban[i:i + 4] for i in range(0, len(iban), 4))
        return iban

    def ipv4(self) -> str:
        return f"{self.r.choice([10, 81, 172, 192, 203])}.{self.r.randrange(256)}." \
               f"{self.r.randrange(256)}.{self.r.randrange(1, 255)}"

    def ipv6(self) -> str:
        groups = [f"{self.r.randrange(65536):x}" for _ in range(4)]
        if self.r.random() < 0.5:
            return "2001:db8::" + ":".join(groups[:2])
        return "2001:db8:" + ":".join(groups) + ":" + f"{self.r.randrange(65536):x}:1"

    def version(self) -> str:
        return f"{self.r.randrange(1, 10)}.{self.r.randrange(20)}.{self.r.randrange(20)}." \
               f"{self.r.randrange(200)}"

    def imei(self, valid: bool = True) -> str:
        body = self.r.choice(["35", "86", "01"]) + self.digits(12)
        number = with_luhn(body) if valid else without_luhn(body)
        style = self.r.randrange(3)
        if style == 1:
            return f"{number[:2]}-{number[2:8]}-{number[8:14]}-{number[14]}"
        if style == 2:
            return f"{number[:8]}/{number[8:14]}/{number[14]}"
        return number

    def iccid(self, valid: bool = True) -> str:
        body = "8944" + self.digits(14)
        return with_luhn(body) if valid else without_luhn(body)

    def company(self, valid: bool = True) -> str:
        if not valid:
            return self.r.choice(["XY", "QQ", "AB", "ZX"]) + self.digits(6)
        if self.r.random() < 0.6:
            return self.r.choice(["SC", "NI", "OC", "SO", "NC"]) + self.digits(6)
        return self.r.choice(["0", "1", "R"]) + self.digits(7)

    def dob(self) -> date:
        return date(1940, 1, 1) + timedelta(days=self.r.randrange(365 * 60))

    def bank(self, valid: bool = True) -> tuple[str, str]:
        import ukmodulus

        sort = self.r.choice(["200000", "202959", "089999", "107999", "309634", "401234"])
        while True:
            account = self.digits(8)
            if bool(ukmodulus.validate_number(sort, account)) == valid:
                return f"{sort[:2]}-{sort[2:4]}-{sort[4:]}", account


# --------------------------------------------------------------------------- labelled set

@dataclass
class Column:
    name: str
    samples: list[object]
    truth: frozenset[str]


@dataclass
class Snippet:
    text: str
    truth: Counter[str] = field(default_factory=Counter)


def labelled_columns(seed: int = 7, per_kind: int = 8, size: int = 25) -> list[Column]:
    m = Make(seed)
    r = m.r
    cols: list[Column] = []

    def add(name: str, gen: object, truth: set[str], n: int = per_kind) -> None:
        for _ in range(n):
            cols.append(Column(name, [gen() for _ in range(size)], frozenset(truth)))  # type: ignore[operator]

    # columns named for their data, and the same data under names that say nothing
    add("email", m.email, {"email"})
    add("contact", m.email, {"email"})
    add("mobile", m.phone, {"phone"})
    add("contact_no", m.phone, {"phone"})
    add("mobile", lambda: int("44" + m.phone().replace(" ", "").replace("+44", "")[-10:]),
        {"phone"})  # a BIGINT column
    add("postcode", m.postcode, {"postcode"})
    add("addr_pc", m.postcode, {"postcode"})
    add("date_of_birth", m.dob, {"dob"})
    add("dob", lambda: m.dob().strftime("%d/%m/%Y"), {"dob"})
    add("company_number", m.company, {"company_number"})
    add("ni_number", m.ni, {"ni_number"})
    add("nino", m.ni, {"ni_number"})
    add("sort_code", lambda: m.bank()[0], {"sort_code"})
    add("bank_account_number", lambda: m.bank()[1], {"bank_account_number"})
    add("bank_details", lambda: " ".join(m.bank()), {"bank_details"})
    add("iban", m.iban, {"iban"})
    add("payer_ref", m.iban, {"iban"})
    add("card_number", m.card, {"payment_card"})
    add("pay_data", lambda: m.card().replace(" ", "").replace("-", ""), {"payment_card"})
    add("pay_num", lambda: Decimal(m.card().replace(" ", "").replace("-", "")),
        {"payment_card"})  # a NUMERIC column
    add("ip_address", m.ipv4, {"ip_address"})
    add("client_ip", m.ipv6, {"ip_address"})
    add("last_seen_from", m.ipv4, {"ip_address"})
    add("imei", m.imei, {"imei"})
    add("handset", lambda: int(with_luhn("35" + m.digits(12))), {"imei"})
    add("iccid", m.iccid, {"iccid"})
    add("sim_ref", m.iccid, {"iccid"})
    add("col3", m.person, {"person_name"})  # names in a column named for nothing
    add("attendee", lambda: f"{r.choice(['Mr', 'Mrs', 'Ms', 'Dr'])} {m.person().split()[-1]}",
        {"person_name"})
    # look-alikes: nothing personal the measured detectors should report
    add("supplier", lambda: f"{m.person().split()[-1]} {r.choice(['Ltd', '& Sons', 'plc'])}",
        set())  # a company named after its founder
    add("street", lambda: f"{r.choice(['London', 'Station', 'Church', 'Mill'])} "
                          f"{r.choice(['Road', 'Lane', 'Street'])}", set())
    add("order_no", lambda: "0" + r.choice("17") + m.digits(9), set())  # phone-shaped
    add("order_id", lambda: int("7" + m.digits(9)), set())
    add("order_date", m.dob, set())  # dates that are not birth dates
    add("created", lambda: m.dob().isoformat(), set())
    add("version", m.version, set())  # 1.2.3.4
    add("app_version", m.version, set())
    add("payment_ref", lambda: without_luhn("4" + m.digits(14)), set())  # 16 digits, no Luhn
    add("reference", lambda: without_luhn("5" + m.digits(14)), set())
    add("ni_number", lambda: m.ni(valid=False), set())  # prefixes HMRC never issues
    add("iban", lambda: m.iban(valid=False), set())
    add("bank_details", lambda: " ".join(m.bank(valid=False)), set())
    add("company_number", lambda: m.company(valid=False), set())
    add("imei", lambda: m.imei(valid=False), set())
    add("dob", lambda: (date.today() + timedelta(days=r.randrange(1, 900))).isoformat(),
        set())  # future dates: a typo'd column of delivery dates
    add("notes", lambda: r.choice(["rang back", "left message", "no answer"]), set())
    add("amount", lambda: Decimal(m.digits(4)) / 100, set())
    return cols


_FILLER = [
    "Thanks for your message about the renewal.", "We have updated the account as requested.",
    "The engineer visited on Tuesday and replaced the router.", "Invoice total was 42.50 GBP.",
    "Please find the contract attached for signature.", "Meeting moved to 10:30 on 12 March.",
    "The customer asked for a callback after 5pm.", "Broadband speed was 67 Mbps on test.",
    "Our office at 3 Market Street opens at 9.", "Ticket escalated to tier 2 support.",
    "Direct debit collected on the 1st of each month.", "Tariff changed from Standard to Plus.",
]


def labelled_snippets(seed: int = 11, count: int = 600) -> list[Snippet]:
    m = Make(seed)
    r = m.r
    kinds = [
        ("phone", lambda: (f"Please call me on {m.phone()} after lunch.", "phone")),
        ("email", lambda: (f"Send it to {m.email()} please.", "email")),
        ("postcode", lambda: (f"Moved house, new postcode {m.postcode()}.", "postcode")),
        ("dob", lambda: (f"Caller confirmed DOB: {m.dob().strftime('%d/%m/%Y')}.", "dob")),
        ("dob", lambda: (f"She was born on {m.dob().strftime('%d %B %Y')}.", "dob")),
        ("company", lambda: (f"Registered in Scotland, company number {m.company()}.",
                             "company_number")),
        ("ni", lambda: (f"NI number {m.ni()} given for payroll.", "ni_number")),
        ("bank", lambda: ("Pay into sort code {} account {}.".format(*m.bank()),
                          "bank_details")),
        ("sort", lambda: (f"Their sort code is {m.bank()[0]}.", "sort_code")),
        ("iban", lambda: (f"Refund to IBAN {m.iban()} today.", "iban")),
        ("card", lambda: (f"Paid with card {m.card()} yesterday.", "payment_card")),
        ("ip", lambda: (f"Login from {m.ipv4()} was blocked.", "ip_address")),
        ("ip6", lambda: (f"Session came from {m.ipv6()} overnight.", "ip_address")),
        ("imei", lambda: (f"Handset IMEI {m.imei()} reported stolen.", "imei")),
        ("iccid", lambda: (f"Replacement SIM {m.iccid()} posted.", "iccid")),
    ]
    fakes: list[Callable[[], str | tuple[str, str]]] = [
        lambda: f"Order no. {'0' + r.choice('17') + m.digits(9)} was dispatched.",
        lambda: f"Order date {m.dob().strftime('%d/%m/%Y')} confirmed.",
        lambda: f"Delivered on {m.dob().strftime('%d %B %Y')}.",
        lambda: f"Upgraded firmware to version {m.version()} last night.",
        lambda: f"Running build {m.version()} in production.",
        lambda: f"Payment reference {without_luhn('4' + m.digits(14))} received.",
        lambda: f"Tracking {without_luhn('5' + m.digits(14))} with the courier.",
        lambda: f"The form said NI number {m.ni(valid=False)} which cannot be right.",
        lambda: f"Quoted IBAN {m.iban(valid=False)} bounced.",
        # the account fails the modulus check: the sort code is still a sort code
        lambda: ("Sort code {} account {} failed validation.".format(*m.bank(valid=False)),
                 "sort_code"),
        lambda: f"Serial {without_luhn('35' + m.digits(12))} on the box.",
        lambda: f"Batch {m.digits(8)} shipped on 04/05/2021.",
        lambda: f"Call ref {m.digits(11)} logged at 14:05:33.",
        # a reference that passes Luhn with a card prefix, named as a reference
        lambda: f"Quote ref {with_luhn('4' + m.digits(14))} attached.",
        lambda: f"Client app v{m.version()} crashed twice.",
    ]
    out: list[Snippet] = []
    for _ in range(count):
        parts = [r.choice(_FILLER)]
        truth: Counter[str] = Counter()
        for _ in range(r.randrange(1, 3)):
            text, kind = r.choice(kinds)[1]()
            parts.append(text)
            truth[kind] += 1
        for _ in range(r.randrange(0, 3)):
            fake = r.choice(fakes)()
            text, kind = fake if isinstance(fake, tuple) else (fake, None)
            parts.append(text)
            if kind:
                truth[kind] += 1
        r.shuffle(parts)
        out.append(Snippet(" ".join(parts), truth))
    return out


# --------------------------------------------------------------------------- scoring

@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


def score_columns(columns: list[Column]) -> dict[str, Score]:
    scores = {name: Score() for name in MEASURED}
    for col in columns:
        for name in MEASURED:
            found = column_confidence(DETECTORS[name], col.name, col.samples) is not None
            wanted = name in col.truth
            s = scores[name]
            s.tp += found and wanted
            s.fp += found and not wanted
            s.fn += wanted and not found
    return scores


def score_snippets(scanner: SweepScanner, snippets: list[Snippet]) -> dict[str, Score]:
    scores = {name: Score() for name in TEXT_MEASURED}
    for snip in snippets:
        got = scanner.count(snip.text)
        for name in TEXT_MEASURED:
            s, want, have = scores[name], snip.truth[name], got[name]
            s.tp += min(want, have)
            s.fp += max(0, have - want)
            s.fn += max(0, want - have)
    return scores


@pytest.fixture(scope="module")
def scanner() -> SweepScanner:
    manager = PluginManager().load(builtins=("plugins.detectors",), use_entry_points=False)
    return SweepScanner(r.obj for r in manager.registry.all("detectors"))


# --------------------------------------------------------------------------- precision/recall

def test_column_precision_and_recall_per_detector() -> None:
    scores = score_columns(labelled_columns())
    low = {n: (round(s.precision, 3), round(s.recall, 3)) for n, s in scores.items()
           if s.precision < MIN_COLUMN_PRECISION or s.recall < MIN_COLUMN_RECALL}
    assert not low, f"detectors below the column thresholds (precision, recall): {low}"
    assert all(s.tp for s in scores.values())  # every measured detector was exercised


def test_text_precision_and_recall_per_detector(scanner: SweepScanner) -> None:
    scores = score_snippets(scanner, labelled_snippets())
    low = {n: (round(s.precision, 3), round(s.recall, 3)) for n, s in scores.items()
           if s.precision < MIN_TEXT_PRECISION or s.recall < MIN_TEXT_RECALL}
    assert not low, f"detectors below the text thresholds (precision, recall): {low}"
    assert all(s.tp for s in scores.values())


# --------------------------------------------------------------------------- checks

def test_checksums() -> None:
    assert luhn_valid("79927398713") and not luhn_valid("79927398710")
    assert not luhn_valid("12a4")
    assert iban_ok("GB82 WEST 1234 5698 7654 32") and iban_ok("GB82WEST12345698765432")
    assert not iban_ok("GB82 WEST 1234 5698 7654 33")  # check digits
    assert not iban_ok("GB82 WEST 1234 5698 7654 3")  # the country's length
    assert not iban_ok("XX82 WEST 1234 5698 7654 32")  # no such country
    card = with_luhn("453201511283036")
    assert payment_card_ok(card) and payment_card_ok(f"{card[:4]} {card[4:8]} {card[8:12]} "
                                                     f"{card[12:]}")
    assert not payment_card_ok(without_luhn("453201511283036"))
    assert not payment_card_ok(with_luhn("999201511283036"))  # no card scheme starts 99
    assert not payment_card_ok("4111 1111 1111 1111")  # a scheme's test number
    assert imei_ok("356938035643809") and imei_ok("35-693803-564380-9")
    assert not imei_ok("356938035643808")


@pytest.mark.parametrize(("detector", "value", "expected"), [
    ("ni_number", "AB 12 34 56 C", True), ("ni_number", "OA123456A", True),
    ("ni_number", "DA123456A", False), ("ni_number", "AO123456A", False),
    ("ni_number", "GB123456A", False), ("ni_number", "ZZ123456A", False),
    ("ni_number", "AB123456E", False),
    ("company_number", "SC123456", True), ("company_number", "NI012345", True),
    ("company_number", "OC301234", True), ("company_number", "R0000123", True),
    ("company_number", "01234567", True), ("company_number", "XY123456", False),
    ("company_number", "00000000", False),
    ("ip_address", "192.0.2.1", True), ("ip_address", "2001:db8::1", True),
    ("ip_address", "300.1.2.3", False), ("ip_address", "0.0.0.0", False),
    ("iccid", "89441000300000000001", False), ("iccid", with_luhn("894410003000000000"), True),
    ("iccid", "894410003000000000", True), ("iccid", with_luhn("123410003000000000"), False),
    ("bank_details", "08-99-99 66374958", True), ("bank_details", "089999 66374959", False),
])
def test_values_with_checks(detector: str, value: str, expected: bool) -> None:
    assert DETECTORS[detector].matches(value) is expected


def test_birth_dates_are_plausible() -> None:
    dob = DETECTORS["dob"]
    today = date.today()
    assert dob.matches(today - timedelta(days=365 * 40))
    assert dob.matches(today)  # age 0
    assert not dob.matches(today + timedelta(days=1))
    assert not dob.matches(date(today.year - 121, 1, 1))


# --------------------------------------------------------------------------- confidence

@pytest.mark.parametrize(("detector", "column", "samples", "expected"), [
    ("email", "email", ["jo@example.com"] * 5, "high"),
    ("email", "contact", ["jo@example.com"] * 5, "medium"),  # values alone: never high
    ("email", "email", [], "low"),  # an empty column: the name alone
    ("email", "email", ["jo@example.com", "n/a", "n/a", "n/a"], "low"),
    ("phone", "mobile", [447700900123, 447700900124, 447700900125], "high"),  # BIGINT
    ("phone", "mobile", ["yes", "no", "yes"], None),  # a flag named like a phone
    ("phone", "ref", [7700900123, 7700900124, 7700900125], None),  # bare numbers, no name
    ("phone", "order_no", ["07700900123", "07700900124", "07700900125"], None),
    ("payment_card", "amount_ref",
     [int(with_luhn("45320151128303")) for _ in range(3)], None),  # reference column
    ("payment_card", "pay_num", [Decimal(with_luhn("453201511283036"))] * 3, "medium"),
    ("ip_address", "version", ["1.2.3.4", "1.2.3.5", "2.0.0.1"], None),
    ("ip_address", "host", ["1.2.3.4", "1.2.3.5", "2.0.0.1"], "medium"),
    ("dob", "order_date", [date(1980, 1, 31)] * 3, None),  # dates that are not birth dates
    ("dob", "dob", [date(1980, 1, 31)] * 3, "high"),
])
def test_column_confidence(detector: str, column: str, samples: list[object],
                           expected: str | None) -> None:
    got = column_confidence(DETECTORS[detector], column, samples)
    assert (got[0] if got else None) == expected
    if got:
        assert 0.3 <= got[1] <= 1.0


def test_the_scanner_counts_and_spans(scanner: SweepScanner) -> None:
    text = ("Call 07700 900123 or write to jo@example.com; order no. 07700 900124 is not a "
            "phone. DOB: 31/01/1980, order date 12/03/2021. Upgrade to version 1.2.3.4 on "
            "192.0.2.10. NI AB 12 34 56 C but never BG 12 34 56 A.")
    result = scanner.scan(text, spans=True)
    assert result.counts == Counter({"phone": 1, "email": 1, "dob": 1, "ip_address": 1,
                                     "ni_number": 1})
    assert all(text[s:e] == text[s:e].strip() for _, s, e in result.spans)
    assert scanner.count("") == Counter() and scanner.count("no numbers here") == Counter()
    assert "email" in scanner.detector_names and "first_name" not in scanner.detector_names


def test_bank_details_claim_their_sort_code(scanner: SweepScanner) -> None:
    # a pair passing the modulus check is bank details, its sort code not counted again
    assert scanner.count("Sort code 08-99-99 account 66374958 for refunds.") == Counter(
        {"bank_details": 1})
    # the account fails the check: the sort code alone still counts
    assert scanner.count("Sort code 08-99-99 account 66374959 for refunds.") == Counter(
        {"sort_code": 1})
    assert scanner.count("Quote ref 08-99-99 from the sort code list.") == Counter()


def test_context_words_are_whole_words_and_survive_case_folding(
        scanner: SweepScanner) -> None:
    assert scanner.count("Regarding 12/03/1980, unregistered item 01234567.") == Counter()
    # "İ" lower-cases to two characters: offsets of the lower-cased text would drift
    text = "İstanbul office. Date of birth: 31/01/1980. Registered company no. SC123456."
    assert scanner.count(text) == Counter({"dob": 1, "company_number": 1})


def test_an_iban_is_not_also_a_card(scanner: SweepScanner) -> None:
    iban = "FR83 4170 7251 2886 8997 1202 417"  # made up; its 2nd-5th groups pass as a Visa
    assert iban_ok(iban) and payment_card_ok("4170 7251 2886 8997")
    compact = iban.replace(" ", "")
    spaced = " ".join(compact[i:i + 4] for i in range(0, len(compact), 4))
    for text in (f"Refund to IBAN {spaced} today.", f"Refund to {compact}."):
        assert scanner.count(text) == Counter({"iban": 1})
