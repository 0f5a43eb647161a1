"""The generated population: many ordinary customers around the cast, from one seed.

Everything is drawn from a single ``random.Random(seed)`` in a fixed order, so the same
seed gives the same rows. Phones come from the unreserved drama-range numbers, handed out
in a shuffled cycle: unique while the population is small, repeating (in varied formats)
once it outgrows the 1,800 numbers, as the benchmark's 200k customers do.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Literal

from agent.demo import values as v
from agent.demo import words as w
from agent.demo.cast import CAST_POSTCODES, VAT
from agent.demo.rows import Sink

START = datetime(2015, 1, 1)
END = datetime(2025, 6, 30)
_SPAN_SECONDS = int((END - START).total_seconds())
_CENT = Decimal("0.01")

# "shared": the 1,800 generated numbers repeat across a large population (a harsh case:
# every phone search meets hundreds of other people); "unique": each number is given to
# one person, later people have none (like a real CRM, where a mobile is one person's).
PhoneMode = Literal["shared", "unique"]


class _Cycle:
    """Hands out a shuffled list's items in turn; when it runs out it starts again, or, with
    ``repeat=False``, hands out None (every number belongs to one person only)."""

    def __init__(self, items: list[str], rng: random.Random, repeat: bool = True) -> None:
        rng.shuffle(items)
        self.items = items
        self.repeat = repeat
        self.next = 0

    def take(self) -> str | None:
        if not self.repeat and self.next >= len(self.items):
            return None
        item = self.items[self.next % len(self.items)]
        self.next += 1
        return item


class Population:
    """Adds generated customers (and everything hanging off them) to a Sink."""

    def __init__(self, sink: Sink, seed: int, phones: PhoneMode = "shared") -> None:
        self.sink = sink
        self.rng = random.Random(seed)
        repeat = phones == "shared"
        self.mobiles = _Cycle(v.generated_numbers("mobile"), self.rng, repeat)
        self.landlines = _Cycle(v.generated_numbers("landline"), self.rng, repeat)
        self.person_seq = 1000  # e-mail uniqueness: every generated person takes one
        self.device_serial = dict.fromkeys(range(len(w.DEVICE_MODELS)), 100_000)
        # recent people, for notes that mention someone else and for list overlaps
        self.recent: deque[tuple[str, str, int]] = deque(maxlen=500)

    # ------------------------------------------------------------------ small draws
    def _when(self, after: datetime = START) -> datetime:
        span = max(int((END - after).total_seconds()), 1)
        return after + timedelta(seconds=self.rng.randrange(span))

    def _phone(self, kind: str) -> str | None:
        national = (self.mobiles if kind == "mobile" else self.landlines).take()
        if national is None:
            return None  # "unique" phones: the drama ranges are used up
        return v.phone_format(national, self.rng.randrange(v.PHONE_STYLES))

    def _postcode(self) -> tuple[str, str]:
        town, outwards = self.rng.choice(w.TOWNS)
        while True:
            code = (f"{self.rng.choice(outwards)} {self.rng.randrange(10)}"
                    f"{self.rng.choice(w.INWARD_LETTERS)}{self.rng.choice(w.INWARD_LETTERS)}")
            if code not in CAST_POSTCODES:
                return town, code

    def _name(self) -> tuple[str, str]:
        return self.rng.choice(w.FIRST_NAMES), self.rng.choice(w.SURNAMES)

    def _email(self, first: str, last: str) -> str:
        self.person_seq += 1
        return v.email(first, last, self.person_seq, self.rng)

    # ------------------------------------------------------------------ one customer
    def customer(self) -> None:
        rng = self.rng
        kind = rng.choices(("sole_trader", "limited", "partnership"), (50, 40, 10))[0]
        created = self._when()
        town, postcode = self._postcode()
        address = f"{rng.randrange(1, 200)} {rng.choice(w.STREETS)}"
        account = f"CAN-{self.sink.peek_id('customers'):06d}"
        first, last = self._name()
        trade = rng.choice(w.TRADES)
        people = [(first, last)]
        if kind == "sole_trader":
            email = self._email(first, last)
            mobile = self._phone("mobile")
            company = f"{first} {last} {trade}" if rng.random() < 0.5 else f"{last} {trade}"
            customer = self.sink.add(
                "customers", account_number=account, business_type=kind, company_name=company,
                company_number=None, switchboard=mobile, billing_email=email,
                address_line1=address, town=town, postcode=postcode, created_at=created)
            contacts = [self._contact(customer["id"], first, last, created, email=email,
                                      mobile=mobile, job="Owner", sole_trader=True)]
        else:
            if kind == "partnership":
                people.append(self._name())
                company = f"{last} & {people[1][1]} {trade}"
                number, role = None, "office"
            else:
                company = f"{last} {trade} Ltd"
                number, role = f"{rng.randrange(1, 15_000_000):08d}", "accounts"
                extra = 1 if rng.random() < 0.5 else 0
                extra += 1 if rng.random() < 0.2 else 0
                people += [self._name() for _ in range(extra)]
            switchboard = self._phone("landline")
            customer = self.sink.add(
                "customers", account_number=account, business_type=kind, company_name=company,
                company_number=number, switchboard=switchboard,
                billing_email=v.role_email(role, account), address_line1=address, town=town,
                postcode=postcode, created_at=created)
            contacts = []
            for index, (pf, pl) in enumerate(people):
                # staff often list the switchboard as their landline: an office number
                landline = switchboard if rng.random() < 0.3 else None
                job = ("Partner" if kind == "partnership"
                       else "Director" if index == 0 else rng.choice(w.JOB_TITLES))
                contacts.append(self._contact(customer["id"], pf, pl, created,
                                              email=self._email(pf, pl),
                                              mobile=self._phone("mobile"),
                                              landline=landline, job=job,
                                              sole_trader=False))
        self._contracts(customer["id"], created)
        for contact_id, email, phone in contacts:
            self._activity(contact_id, created, email, phone)
        if rng.random() < 0.3:
            self._prospect()

    def _contact(self, customer_id: int, first: str, last: str, created: datetime, *,
                 email: str, mobile: str | None, job: str, sole_trader: bool,
                 landline: str | None = None) -> tuple[int, str, str]:
        rng = self.rng
        if not sole_trader and rng.random() < 0.15:
            mobile = None
        if landline is None and rng.random() < 0.2:
            landline = self._phone("landline")
        dob = (date(1950, 1, 1) + timedelta(days=rng.randrange(18_000))) if sole_trader else None
        referred = None
        if self.recent and rng.random() < 0.05:
            referred = self.recent[rng.randrange(len(self.recent))][2]
        row = self.sink.add(
            "contacts", customer_id=customer_id, first_name=first, last_name=last, email=email,
            mobile=mobile, landline=landline, job_title=job, dob=dob, referred_by=referred,
            created_at=created)
        self.recent.append((email, mobile or landline or "", row["id"]))
        if sole_trader or rng.random() < 0.2:
            self.sink.add("credit_checks", contact_id=row["id"],
                          agency=rng.choice(w.CREDIT_AGENCIES), score=rng.randrange(300, 1000),
                          checked_at=created - timedelta(days=rng.randrange(1, 10)))
        return row["id"], email, mobile or landline or ""

    def _contracts(self, customer_id: int, created: datetime) -> None:
        rng = self.rng
        method = rng.choices(("direct_debit", "bacs", "card"), (70, 20, 10))[0]
        sort_code = f"{rng.randrange(10, 99)}-{rng.randrange(100):02d}-{rng.randrange(100):02d}"
        bank_account = f"{rng.randrange(10_000_000, 100_000_000)}"
        for _ in range(rng.choices((1, 2, 3), (70, 25, 5))[0]):
            product = rng.choice(("mobile", "fixed", "energy"))
            start = self._when(created).date()
            value = Decimal(rng.randrange(1500, 60_000)) / 100
            contract = self.sink.add(
                "contracts", customer_id=customer_id, product=product,
                supplier=rng.choice(w.SUPPLIERS[product]), start_date=start,
                end_date=start + timedelta(days=365 * rng.choice((1, 2, 3))),
                monthly_value=value, status=rng.choices(("active", "ended"), (75, 25))[0])
            for month in range(rng.choices((0, 1, 2), (30, 50, 20))[0]):
                issued = start + timedelta(days=30 * (month + 1))
                vat = (value * VAT).quantize(_CENT)
                invoice = self.sink.add(
                    "invoices", customer_id=customer_id, contract_id=contract["id"],
                    invoice_number=f"INV-{self.sink.peek_id('invoices'):07d}",
                    issued_on=issued, due_on=issued + timedelta(days=14), net_amount=value,
                    vat_amount=vat, total_amount=value + vat)
                if rng.random() < 0.85:
                    banked = method != "card"
                    self.sink.add(
                        "payments", invoice_id=invoice["id"], amount=value + vat,
                        paid_at=datetime.combine(issued, datetime.min.time())
                        + timedelta(days=rng.randrange(1, 20)),
                        method=method, sort_code=sort_code if banked else None,
                        bank_account_number=bank_account if banked else None)

    def _activity(self, contact_id: int, created: datetime, email: str, phone: str) -> None:
        """What a contact leaves behind: preferences, calls, devices, tickets, sessions."""
        rng = self.rng
        for channel in rng.sample(w.MARKETING_CHANNELS, rng.choices((0, 1, 2), (35, 45, 20))[0]):
            self.sink.add("marketing_preferences", contact_id=contact_id, channel=channel,
                          opted_in=rng.random() < 0.4, updated_at=self._when(created))
        for _ in range(rng.choices((0, 1, 2), (35, 45, 20))[0]):
            number = phone if phone and rng.random() < 0.8 else self._phone("mobile")
            if number is None:
                continue
            number = v.phone_format(_national(number), rng.randrange(v.PHONE_STYLES))
            self.sink.add(
                "call_logs", contact_id=contact_id,
                direction="inbound" if rng.random() < 0.5 else "outbound",
                called_number=number, duration_seconds=rng.randrange(5, 1800),
                called_at=self._when(created))
        if rng.random() < 0.5:
            model = rng.randrange(len(w.DEVICE_MODELS))
            name, tac = w.DEVICE_MODELS[model]
            self.device_serial[model] += 1
            self.sink.add("devices", contact_id=contact_id,
                          imei=v.imei(tac, self.device_serial[model]), model=name,
                          added_on=self._when(created).date())
        if rng.random() < 0.3:
            self.sink.add("tickets", contact_id=contact_id, subject=rng.choice(w.TICKET_SUBJECTS),
                          notes=self._notes(email, phone),
                          status=rng.choice(("open", "closed", "closed")),
                          opened_at=self._when(created))
        for _ in range(rng.choices((0, 1, 2), (55, 30, 15))[0]):
            self.sink.add("web_sessions", contact_id=contact_id, cookie_id=v.cookie_id(rng),
                          ip_address=v.documentation_ip(rng), user_agent=rng.choice(w.USER_AGENTS),
                          started_at=self._when(created))

    def _notes(self, email: str, phone: str) -> str:
        """Free text as agents type it: sometimes the person's details, sometimes others'."""
        rng = self.rng
        pick = rng.randrange(6)
        other_email, other_phone, _ = self.recent[rng.randrange(len(self.recent))]
        if pick == 0 and phone:
            return f"Customer asked us to call back on {phone} after 3pm."
        if pick == 1:
            return f"Please send the revised quote to {email.lower()} by Friday."
        if pick == 2:
            return (f"Spoke to their accountant ({other_email}) about the overdue balance; "
                    "payment promised next week.")
        if pick == 3 and other_phone:
            return f"Porting request: number {other_phone} to move onto this account."
        if pick == 4:
            return "Engineer attended, fault cleared at the exchange. No further action."
        return "Customer happy with the resolution; closed on the call."

    def _prospect(self) -> None:
        """A bought-in lead; sometimes the same person as an existing contact."""
        rng = self.rng
        _town, postcode = self._postcode()
        source = rng.choice(w.PROSPECT_SOURCES)
        if self.recent and rng.random() < 0.15:
            email, phone, _ = self.recent[rng.randrange(len(self.recent))]
            first, last = email.split("@")[0].split(".")[:2]
            name = f"{first.capitalize()} {last.capitalize()}"
            email = email.upper() if rng.random() < 0.2 else email
        else:
            first, last = self._name()
            name, email = f"{first} {last}", self._email(first, last)
            phone = self._phone("mobile")
        self.sink.add("prospects", full_name=name, email=email, phone=phone or None,
                      postcode=postcode, company_name=f"{last} {rng.choice(w.TRADES)}",
                      source=source, imported_at=self._when())


def _national(number: str) -> str:
    """``07700 900123`` back from any of the formats phone_format writes."""
    digits = "".join(ch for ch in number if ch.isdigit())
    if digits.startswith("440"):
        digits = digits[3:]
    elif digits.startswith("44"):
        digits = digits[2:]
    digits = digits.lstrip("0")
    return f"0{digits[:4]} {digits[4:]}"


def generate_customers(sink: Sink, seed: int, customers: int, chunk: int,
                       phones: PhoneMode = "shared") -> Iterator[None]:
    """Add ``customers`` generated customers to ``sink``, pausing every ``chunk``."""
    population = Population(sink, seed, phones)
    for index in range(customers):
        population.customer()
        if (index + 1) % chunk == 0:
            yield None
