"""The named demo people: always in the estate, with the same ids at every size and seed.

Each one exists to show (and to test) one attribution rule: a sole trader whose business
records are theirs; a contact whose company's contracts are not; look-alikes that must
not be attributed (same name, a phone one digit off, the same postcode, a colleague);
a household landline shared by two people; a bought-in prospect who is also a contact.
Their phone numbers come from the reserved block, so nothing generated shares them.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

from agent.demo.manifest import CastMember
from agent.demo.rows import Row, Sink, locator
from agent.demo.values import imei
from agent.demo.words import DEVICE_MODELS

VAT = Decimal("0.20")
CAST_SURNAMES = frozenset({"Okafor", "Whitcombe", "Baptiste", "Pritchard", "Asante",
                           "Lindqvist", "Quigley"})
CAST_POSTCODES = frozenset({"LS6 2QT", "BS1 6QH", "NG7 2RD", "M14 5TP", "YO10 3BP",
                            "CF10 4AX"})


class _Builder:
    """Adds cast rows and remembers whose each one is."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.own: dict[int, list[str]] = {}  # contact id -> that person's records
        self.account_rows: dict[int, list[str]] = {}  # customer id -> account + billing

    def _mine(self, contact_id: int, table: str, row: Row) -> str:
        loc = locator(table, row)
        self.own.setdefault(contact_id, []).append(loc)
        return loc

    def customer(self, *, business_type: str, company_name: str, switchboard: str | None,
                 billing_email: str | None, address: str, town: str, postcode: str,
                 created: datetime, company_number: str | None = None) -> int:
        account = f"CAN-{self.sink.peek_id('customers'):06d}"
        row = self.sink.add("customers", account_number=account, business_type=business_type,
                            company_name=company_name, company_number=company_number,
                            switchboard=switchboard, billing_email=billing_email,
                            address_line1=address, town=town, postcode=postcode,
                            created_at=created)
        self.account_rows[row["id"]] = [locator("customers", row)]
        return row["id"]

    def contact(self, customer_id: int, first: str, last: str, *, email: str,
                mobile: str | None, landline: str | None = None, job: str | None = None,
                dob: date | None = None, referred_by: int | None = None,
                created: datetime) -> int:
        row = self.sink.add("contacts", customer_id=customer_id, first_name=first,
                            last_name=last, email=email, mobile=mobile, landline=landline,
                            job_title=job, dob=dob, referred_by=referred_by,
                            created_at=created)
        self._mine(row["id"], "contacts", row)
        return row["id"]

    def contract(self, customer_id: int, product: str, supplier: str, start: date,
                 monthly: str, *, invoices: int, method: str = "direct_debit",
                 sort_code: str | None = None, bank_account: str | None = None) -> None:
        value = Decimal(monthly)
        end = start.replace(year=start.year + 3) - timedelta(days=1)
        contract = self.sink.add("contracts", customer_id=customer_id, product=product,
                                 supplier=supplier, start_date=start, end_date=end,
                                 monthly_value=value, status="active")
        rows = self.account_rows[customer_id]
        rows.append(locator("contracts", contract))
        for month in range(invoices):
            issued = start + timedelta(days=30 * (month + 1))
            vat = (value * VAT).quantize(Decimal("0.01"))
            invoice = self.sink.add(
                "invoices", customer_id=customer_id, contract_id=contract["id"],
                invoice_number=f"INV-{self.sink.peek_id('invoices'):07d}", issued_on=issued,
                due_on=issued + timedelta(days=14), net_amount=value, vat_amount=vat,
                total_amount=value + vat)
            payment = self.sink.add(
                "payments", invoice_id=invoice["id"], amount=value + vat,
                paid_at=datetime.combine(issued + timedelta(days=10), datetime.min.time()),
                method=method, sort_code=sort_code, bank_account_number=bank_account)
            rows += [locator("invoices", invoice), locator("payments", payment)]

    def prefs(self, contact_id: int, channels: dict[str, bool], when: datetime) -> None:
        for channel, opted_in in channels.items():
            row = self.sink.add("marketing_preferences", contact_id=contact_id, channel=channel,
                                opted_in=opted_in, updated_at=when)
            self._mine(contact_id, "marketing_preferences", row)

    def call(self, contact_id: int, number: str, direction: str, seconds: int,
             at: datetime) -> None:
        row = self.sink.add("call_logs", contact_id=contact_id, direction=direction,
                            called_number=number, duration_seconds=seconds, called_at=at)
        self._mine(contact_id, "call_logs", row)

    def device(self, contact_id: int, model: int, serial: int, added: date) -> str:
        name, tac = DEVICE_MODELS[model]
        number = imei(tac, serial)  # cast serials < 100000; generated ones start above
        row = self.sink.add("devices", contact_id=contact_id, imei=number, model=name,
                            added_on=added)
        self._mine(contact_id, "devices", row)
        return number

    def ticket(self, contact_id: int, subject: str, notes: str, at: datetime,
               status: str = "closed") -> str:
        row = self.sink.add("tickets", contact_id=contact_id, subject=subject, notes=notes,
                            status=status, opened_at=at)
        return self._mine(contact_id, "tickets", row)

    def session(self, contact_id: int, cookie: str, ip: str, at: datetime) -> None:
        row = self.sink.add("web_sessions", contact_id=contact_id, cookie_id=cookie,
                            ip_address=ip, user_agent="Mozilla/5.0 (demo)", started_at=at)
        self._mine(contact_id, "web_sessions", row)

    def credit(self, contact_id: int, agency: str, score: int, at: datetime) -> None:
        row = self.sink.add("credit_checks", contact_id=contact_id, agency=agency, score=score,
                            checked_at=at)
        self._mine(contact_id, "credit_checks", row)

    def prospect(self, full_name: str, email: str, phone: str | None, postcode: str,
                 company: str, source: str, at: datetime) -> str:
        row = self.sink.add("prospects", full_name=full_name, email=email, phone=phone,
                            postcode=postcode, company_name=company, source=source,
                            imported_at=at)
        return locator("prospects", row)

    def person(self, contact_id: int) -> list[str]:
        return list(self.own.get(contact_id, []))

    def account(self, customer_id: int) -> list[str]:
        return list(self.account_rows.get(customer_id, []))


def _dt(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _d(text: str) -> date:
    return date.fromisoformat(text)


def build_cast(sink: Sink) -> dict[str, CastMember]:
    """Add the cast's rows to ``sink`` (which must be empty) and describe each person."""
    b = _Builder(sink)

    # --- a sole trader: the customer account is the person ---------------------------
    maya_mail, maya_mail2, maya_mobile = ("maya.okafor@example.com",
                                          "m.okafor.plumbing@example.co.uk", "07700 900031")
    c_maya = b.customer(business_type="sole_trader", company_name="Okafor Plumbing & Heating",
                        switchboard="+447700900031", billing_email=maya_mail2,
                        address="14 Ashdown Road", town="Leeds", postcode="LS6 2QT",
                        created=_dt("2019-04-02T10:15:00"))
    k_maya = b.contact(c_maya, "Maya", "Okafor", email=maya_mail, mobile=maya_mobile,
                       job="Owner", dob=_d("1984-03-12"), created=_dt("2019-04-02T10:15:00"))
    b.contract(c_maya, "mobile", "EE", _d("2023-05-01"), "38.00", invoices=2,
               sort_code="20-47-91", bank_account="31926480")
    b.contract(c_maya, "energy", "Octopus Energy for Business", _d("2024-01-01"), "112.40",
               invoices=2, sort_code="20-47-91", bank_account="31926480")
    b.credit(k_maya, "Experian", 742, _dt("2019-03-28T14:02:00"))
    b.prefs(k_maya, {"email": False, "sms": True}, _dt("2024-02-11T08:30:00"))
    b.call(k_maya, "07700900031", "inbound", 312, _dt("2025-03-04T11:20:00"))
    b.call(k_maya, "+44 7700 900031", "outbound", 95, _dt("2025-03-05T16:45:00"))
    maya_imei = b.device(k_maya, 0, 31, _d("2023-05-03"))
    maya_cookies = ("3f1c9a52-7e4b-4d2a-9c61-5b8e0d7a1f31", "a8d2e4c7-1b3f-4e6a-8d90-2c4f6e8a0b31")
    b.session(k_maya, maya_cookies[0], "192.0.2.31", _dt("2025-01-19T20:11:00"))
    b.session(k_maya, maya_cookies[1], "198.51.100.31", _dt("2025-04-02T07:55:00"))
    b.ticket(k_maya, "Invoice copies",
             f"Customer asked for invoice copies to go to her business mailbox {maya_mail2} "
             "as well as her usual address.", _dt("2024-06-10T09:40:00"))
    b.ticket(k_maya, "No signal on mobile",
             "Caller on 07700 900031 reports no signal at home since Tuesday. "
             "Engineer visit booked.", _dt("2025-02-17T13:05:00"), status="open")
    p_maya = b.prospect("M Okafor", maya_mail2, None, "LS6 2QT", "Okafor Plumbing",
                        "Purchased list: Trades Directory Q3", _dt("2022-09-14T00:00:00"))

    # --- a limited company with two contacts: its account is not theirs -----------------
    harbour_line = "01632 960041"
    c_harbour = b.customer(business_type="limited",
                           company_name="Harbour Freight Logistics Ltd",
                           company_number="09876543", switchboard=harbour_line,
                           billing_email="accounts+can000002@example.co.uk",
                           address="Unit 4, Avon Wharf", town="Bristol", postcode="BS1 6QH",
                           created=_dt("2020-08-19T09:00:00"))
    dan_mail, dan_mobile = "daniel.whitcombe@example.co.uk", "07700 900042"
    k_dan = b.contact(c_harbour, "Daniel", "Whitcombe", email=dan_mail, mobile=dan_mobile,
                      landline="01632960041", job="Operations Manager",
                      created=_dt("2020-08-19T09:00:00"))
    tom_mail, tom_mobile = "tom.baptiste@example.co.uk", "+447700900043"
    k_tom = b.contact(c_harbour, "Tom", "Baptiste", email=tom_mail, mobile=tom_mobile,
                      landline="+44 1632 960041", job="Finance Director",
                      created=_dt("2020-08-19T09:05:00"))
    b.contract(c_harbour, "mobile", "Vodafone", _d("2023-09-01"), "486.00", invoices=2,
               sort_code="30-91-12", bank_account="58203317")
    b.contract(c_harbour, "fixed", "Gamma", _d("2024-03-01"), "129.99", invoices=2,
               sort_code="30-91-12", bank_account="58203317")
    b.prefs(k_dan, {"email": True, "phone": False}, _dt("2023-01-09T10:00:00"))
    b.call(k_dan, dan_mobile, "outbound", 240, _dt("2025-01-14T10:30:00"))
    dan_imei = b.device(k_dan, 2, 42, _d("2023-09-04"))
    dan_cookie = "5c2b7d91-3e8f-4a1c-b6d0-9e4a2f7c8b42"
    b.session(k_dan, dan_cookie, "203.0.113.42", _dt("2025-02-02T12:00:00"))
    b.ticket(k_dan, "Handset replacement",
             "Cracked screen on fleet handset; replacement dispatched to the depot.",
             _dt("2024-11-21T15:10:00"))
    b.credit(k_tom, "Equifax", 688, _dt("2020-08-12T11:00:00"))  # director's guarantee
    b.prefs(k_tom, {"email": False}, _dt("2023-01-09T10:05:00"))
    b.call(k_tom, "+447700900043", "inbound", 421, _dt("2025-02-20T09:12:00"))
    tom_ticket = b.ticket(
        k_tom, "Authorised contacts",
        f"Tom asked that Daniel Whitcombe ({dan_mail}) be added as a second authorised "
        "contact for the fleet account.", _dt("2024-05-02T10:20:00"))

    # --- the sole trader's namesake at another company ----------------------------------
    c_bright = b.customer(business_type="limited", company_name="Brightwater Dental Ltd",
                          company_number="11223344", switchboard="01632 960051",
                          billing_email="accounts+can000003@example.co.uk",
                          address="2 Clifton Parade", town="Nottingham", postcode="NG7 2RD",
                          created=_dt("2021-02-11T12:00:00"))
    namesake_mail, namesake_mobile = "mokafor.brightwater@example.com", "07700 900052"
    k_namesake = b.contact(c_bright, "Maya", "Okafor", email=namesake_mail,
                           mobile=namesake_mobile, landline="01632 960051",
                           job="Practice Manager", created=_dt("2021-02-11T12:00:00"))
    b.contract(c_bright, "fixed", "BT Wholesale", _d("2024-06-01"), "74.50", invoices=1,
               sort_code="40-11-62", bank_account="71830254")
    b.prefs(k_namesake, {"email": True}, _dt("2024-06-01T09:00:00"))
    b.call(k_namesake, "07700900052", "inbound", 180, _dt("2025-03-04T11:25:00"))
    b.ticket(k_namesake, "Query on latest invoice",
             "Asked why the June invoice is higher; explained the line rental change.",
             _dt("2024-07-08T14:00:00"))

    # --- a sole trader whose mobile is one digit off Maya's ------------------------------
    owen_mail, owen_mobile = "owen.pritchard@example.com", "07700 900032"
    c_owen = b.customer(business_type="sole_trader", company_name="Pritchard Electrical",
                        switchboard="07700900032", billing_email=owen_mail,
                        address="9 Coedcae Road", town="Cardiff", postcode="CF10 4AX",
                        created=_dt("2022-01-05T09:30:00"))
    k_owen = b.contact(c_owen, "Owen", "Pritchard", email=owen_mail, mobile=owen_mobile,
                       job="Owner", dob=_d("1979-11-02"), created=_dt("2022-01-05T09:30:00"))
    b.contract(c_owen, "mobile", "O2", _d("2024-02-01"), "24.00", invoices=1,
               sort_code="09-01-28", bank_account="44102967")
    b.credit(k_owen, "TransUnion", 701, _dt("2022-01-04T16:00:00"))
    b.call(k_owen, "+447700900032", "inbound", 75, _dt("2025-03-04T11:22:00"))
    b.session(k_owen, "e7b3f0a2-9c4d-4b1e-8f25-6a0d3c9b7e32", "192.0.2.32",
              _dt("2025-01-30T18:40:00"))

    # --- a sole trader at Maya's postcode, whom Maya referred ---------------------------
    kwame_mail, kwame_mobile = "kwame.asante@example.com", "07700 900061"
    c_kwame = b.customer(business_type="sole_trader", company_name="Asante Window Cleaning",
                         switchboard=kwame_mobile, billing_email=kwame_mail,
                         address="27 Ashdown Road", town="Leeds", postcode="LS6 2QT",
                         created=_dt("2023-03-15T11:00:00"))
    k_kwame = b.contact(c_kwame, "Kwame", "Asante", email=kwame_mail, mobile=kwame_mobile,
                        job="Owner", dob=_d("1990-07-21"), referred_by=k_maya,
                        created=_dt("2023-03-15T11:00:00"))
    b.contract(c_kwame, "mobile", "Three", _d("2023-04-01"), "18.50", invoices=1,
               sort_code="60-83-71", bank_account="12874406")
    b.credit(k_kwame, "Experian", 655, _dt("2023-03-14T10:00:00"))
    b.prefs(k_kwame, {"sms": True}, _dt("2023-03-15T11:00:00"))
    kwame_ticket = b.ticket(
        k_kwame, "Referral credit",
        f"Referral from existing customer Maya Okafor ({maya_mail}); apply the referral "
        "credit to both accounts.", _dt("2023-03-20T12:30:00"))

    # --- a household: two sole traders at one address sharing a landline ---------------
    home_line = "01632 960071"
    peter_mail, peter_mobile = "peter.lindqvist@example.com", "07700 900071"
    sara_mail, sara_mobile = "sara.lindqvist@example.co.uk", "07700 900072"
    c_peter = b.customer(business_type="sole_trader", company_name="Lindqvist Garden Design",
                         switchboard=peter_mobile, billing_email=peter_mail,
                         address="3 Heslington Lane", town="York", postcode="YO10 3BP",
                         created=_dt("2021-05-20T10:00:00"))
    k_peter = b.contact(c_peter, "Peter", "Lindqvist", email=peter_mail, mobile=peter_mobile,
                        landline=home_line, job="Owner", dob=_d("1972-09-30"),
                        created=_dt("2021-05-20T10:00:00"))
    b.contract(c_peter, "fixed", "TalkTalk Business", _d("2023-07-01"), "32.00", invoices=1,
               sort_code="11-22-09", bank_account="60419873")
    b.call(k_peter, home_line, "outbound", 130, _dt("2025-02-10T17:00:00"))
    b.prefs(k_peter, {"post": True}, _dt("2021-05-20T10:00:00"))
    c_sara = b.customer(business_type="sole_trader", company_name="Lindqvist Bookkeeping",
                        switchboard=sara_mobile, billing_email=sara_mail,
                        address="3 Heslington Lane", town="York", postcode="YO10 3BP",
                        created=_dt("2022-10-03T14:00:00"))
    k_sara = b.contact(c_sara, "Sara", "Lindqvist", email=sara_mail, mobile=sara_mobile,
                       landline="+441632960071", job="Owner", dob=_d("1975-01-14"),
                       referred_by=k_peter, created=_dt("2022-10-03T14:00:00"))
    b.contract(c_sara, "energy", "EDF", _d("2022-11-01"), "58.20", invoices=1,
               sort_code="11-22-09", bank_account="60419881")
    b.credit(k_sara, "Equifax", 720, _dt("2022-10-01T09:00:00"))
    b.session(k_sara, "0b9e1d4c-6f2a-4c8b-a3e7-1d5f9b2c6a72", "198.51.100.72",
              _dt("2025-03-12T21:15:00"))

    # --- a contact who is also on a bought-in marketing list ----------------------------
    c_north = b.customer(business_type="limited", company_name="Northgate Print Ltd",
                         company_number="07461298", switchboard="01632 960081",
                         billing_email="invoices+can000008@example.co.uk",
                         address="Northgate Works, Wilmslow Road", town="Manchester",
                         postcode="M14 5TP", created=_dt("2018-11-30T09:00:00"))
    hannah_mail, hannah_mobile = "hannah.quigley@example.com", "07700 900081"
    k_hannah = b.contact(c_north, "Hannah", "Quigley", email=hannah_mail, mobile=hannah_mobile,
                         job="Office Manager", created=_dt("2018-11-30T09:00:00"))
    b.contract(c_north, "mobile", "EE", _d("2024-01-15"), "210.00", invoices=1, method="bacs",
               sort_code="20-00-41", bank_account="83016652")
    b.prefs(k_hannah, {"email": False, "phone": False}, _dt("2024-04-01T09:00:00"))
    b.ticket(k_hannah, "Contract renewal quote",
             "Wants a renewal quote for the fleet before January.", _dt("2024-10-01T10:00:00"))
    p_hannah = b.prospect("Hannah Quigley", "Hannah.Quigley@example.com", "07700900081",
                          "M14 5TP", "Northgate Print", "Purchased list: SME Decision Makers 2024",
                          _dt("2024-08-19T00:00:00"))

    maya_own = b.person(k_maya) + b.account(c_maya)
    return {
        "sole_trader": CastMember(
            key="sole_trader", name="Maya Okafor",
            role="sole trader (Okafor Plumbing & Heating): the customer account is hers",
            identifiers={"email": (maya_mail, maya_mail2), "phone": (maya_mobile,),
                         "account": ("CAN-000001",), "cookie_id": maya_cookies,
                         "device_id": (maya_imei,), "postcode": ("LS6 2QT",),
                         "dob": ("1984-03-12",), "bank_account": ("20-47-91 31926480",),
                         "name": ("Maya Okafor",)},
            search=(("email", maya_mail), ("name", "Maya Okafor")),
            attributed=tuple([*maya_own, p_maya]),
            via_expansion=(p_maya,),
            mentions=(kwame_ticket,),
            not_attributed=tuple(
                b.person(k_namesake) + b.account(c_bright) + b.person(k_owen)
                + b.account(c_owen) + [r for r in b.person(k_kwame) if r != kwame_ticket]
                + b.account(c_kwame)),
            notes=(
                "A sole trader's customer row carries her own e-mail and mobile, so the "
                "account, its contracts, invoices and payments (with her bank details) are hers.",
                f"Her second e-mail (her business mailbox) is the billing address on her "
                f"customer row, which her mobile finds; expansion from it finds {p_maya}, a "
                f"bought-in prospect row. Her ticket's notes quote it too, but free text never "
                f"expands a search: it may name someone else.",
                "Look-alikes that must not be attributed: a namesake Maya Okafor at Brightwater "
                "Dental (different e-mail and phone), Owen Pritchard (mobile one digit off), "
                "Kwame Asante (same postcode; his contacts.referred_by points at her row, "
                "which does not make his record hers).",
                f"{kwame_ticket} is Kwame's ticket that mentions her e-mail in free text.",
            )),
        "company_contact": CastMember(
            key="company_contact", name="Daniel Whitcombe",
            role="Operations Manager at Harbour Freight Logistics Ltd (limited company)",
            identifiers={"email": (dan_mail,), "phone": (dan_mobile,),
                         "device_id": (dan_imei,), "cookie_id": (dan_cookie,),
                         "name": ("Daniel Whitcombe",)},
            search=(("email", dan_mail), ("phone", dan_mobile)),
            attributed=tuple(b.person(k_dan)),
            mentions=(tom_ticket,),
            not_attributed=tuple(
                b.account(c_harbour)
                + [r for r in b.person(k_tom) if r != tom_ticket]),
            notes=(
                "The company's account, contracts, invoices and payments belong to the "
                "limited company, not to him.",
                f"His landline {harbour_line} is the company switchboard, also Tom Baptiste's "
                "landline: an organisation and shared number that never expands.",
                f"{tom_ticket} is his colleague's ticket that mentions his e-mail.",
            )),
        "colleague": CastMember(
            key="colleague", name="Tom Baptiste",
            role="Finance Director at Harbour Freight Logistics Ltd, Daniel's colleague",
            identifiers={"email": (tom_mail,), "phone": (tom_mobile,),
                         "name": ("Tom Baptiste",)},
            search=(("email", tom_mail),),
            attributed=tuple(b.person(k_tom)),
            not_attributed=tuple(b.account(c_harbour) + b.person(k_dan)),
            notes=("Same company and switchboard as Daniel Whitcombe: none of Daniel's "
                   "records are Tom's, nor is the company's account.",)),
        "namesake": CastMember(
            key="namesake", name="Maya Okafor",
            role="Practice Manager at Brightwater Dental Ltd: same name as the sole trader",
            identifiers={"email": (namesake_mail,), "phone": (namesake_mobile,),
                         "name": ("Maya Okafor",)},
            search=(("email", namesake_mail), ("name", "Maya Okafor")),
            attributed=tuple(b.person(k_namesake)),
            not_attributed=tuple([*maya_own, p_maya, *b.account(c_bright)]),
            notes=("Shares first and last name with the sole trader; e-mail and phone differ, "
                   "so a same-name record is a look-alike.",)),
        "near_phone": CastMember(
            key="near_phone", name="Owen Pritchard",
            role="sole trader (Pritchard Electrical) whose mobile is one digit off Maya's",
            identifiers={"email": (owen_mail,), "phone": (owen_mobile,),
                         "account": ("CAN-000004",), "name": ("Owen Pritchard",)},
            search=(("phone", owen_mobile),),
            attributed=tuple(b.person(k_owen) + b.account(c_owen)),
            not_attributed=tuple(maya_own),
            notes=(f"{owen_mobile} differs from Maya's {maya_mobile} in the last digit.",)),
        "same_postcode": CastMember(
            key="same_postcode", name="Kwame Asante",
            role="sole trader (Asante Window Cleaning) at Maya's postcode, referred by her",
            identifiers={"email": (kwame_mail,), "phone": (kwame_mobile,),
                         "account": ("CAN-000005",), "postcode": ("LS6 2QT",),
                         "name": ("Kwame Asante",)},
            search=(("email", kwame_mail),),
            attributed=tuple(b.person(k_kwame) + b.account(c_kwame)),
            not_attributed=tuple(maya_own),
            notes=("Shares a postcode with Maya Okafor: a postcode alone attributes nothing.",
                   f"His own ticket {kwame_ticket} mentions Maya's e-mail; it is still his "
                   "record, and her e-mail must not be expanded into his search.")),
        "household_a": CastMember(
            key="household_a", name="Peter Lindqvist",
            role="sole trader (Lindqvist Garden Design) sharing a home landline with Sara",
            identifiers={"email": (peter_mail,), "phone": (peter_mobile, home_line),
                         "account": ("CAN-000006",), "name": ("Peter Lindqvist",)},
            search=(("email", peter_mail), ("phone", home_line)),
            attributed=tuple(b.person(k_peter) + b.account(c_peter)),
            weak=(locator("contacts", {"id": k_sara}),),
            not_attributed=tuple(b.person(k_sara) + b.account(c_sara)),
            notes=(f"{home_line} is held by Peter and Sara Lindqvist: a shared number gives "
                   "only weak findings and never expands.",
                   "Sara's contacts.referred_by points at Peter's row; that does not make "
                   "her record his.")),
        "household_b": CastMember(
            key="household_b", name="Sara Lindqvist",
            role="sole trader (Lindqvist Bookkeeping) sharing a home landline with Peter",
            identifiers={"email": (sara_mail,), "phone": (sara_mobile, home_line),
                         "account": ("CAN-000007",), "name": ("Sara Lindqvist",)},
            search=(("email", sara_mail), ("phone", home_line)),
            attributed=tuple(b.person(k_sara) + b.account(c_sara)),
            weak=(locator("contacts", {"id": k_peter}),),
            not_attributed=tuple(b.person(k_peter) + b.account(c_peter)),
            notes=(f"Her landline is stored as +441632960071, Peter's as {home_line}.",)),
        "prospect_contact": CastMember(
            key="prospect_contact", name="Hannah Quigley",
            role="Office Manager at Northgate Print Ltd, also on a purchased marketing list",
            identifiers={"email": (hannah_mail,), "phone": (hannah_mobile,),
                         "name": ("Hannah Quigley",)},
            search=(("email", hannah_mail),),
            attributed=tuple([*b.person(k_hannah), p_hannah]),
            not_attributed=tuple(b.account(c_north)),
            notes=("The prospect row stores her e-mail with capitals (Hannah.Quigley@...) "
                   "and her mobile without spaces; both are hers.",
                   "Northgate Print's account is the company's, not hers.")),
    }
