"""A small CRM for the SQL connector's tests, built with SQLAlchemy Core on any backend.

Shaped like the business in PRIVACY-POLICY.txt: customers (a limited company, a sole
trader, another company), their contacts, and what hangs off them. The people and the
traps:

- Jane Doe (contact 1) works for Acme Widgets Ltd (customer 1). Her preferences, credit
  check, call logs (linked by a contact_id column without a declared foreign key),
  device -> SIM card -> device (a cycle), tickets (self-referencing threads), web sessions
  (no primary key) belong to her; Acme's contracts do not.
- Bob Smith (contact 2) is her colleague: same company, same office landline (shared),
  same postcode.
- Sam Trader (contact 3) is a sole trader (customer 2): his contracts, invoices, payments
  and order are his.
- A second Jane Doe (contact 4): same name and postcode, a different e-mail, a mobile one
  digit off.
- Phones are stored in every common writing, in text and in integer columns.

Phones come from Ofcom's drama ranges; e-mail addresses from example.com / example.co.uk.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from agent.config import SystemConfig
from agent.connector import ConnectorContext
from agent.detectors import Detector
from agent.models import Finding, Subject
from agent.plugins import PluginManager
from agent.subjects import subject_from_pairs
from connectors.sql import SqlConnector


def build_metadata(schema: str | None = None) -> sa.MetaData:
    md = sa.MetaData(schema=schema)
    prefix = f"{schema}." if schema else ""

    def fk(target: str, **kw: Any) -> sa.ForeignKey:
        return sa.ForeignKey(prefix + target, **kw)

    sa.Table("customers", md,
             sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
             sa.Column("account_number", sa.String(20), nullable=False, unique=True),
             sa.Column("billing_account_no", sa.BigInteger),
             sa.Column("name", sa.String(120)),
             sa.Column("business_type", sa.String(40)),
             sa.Column("company_number", sa.String(8)),
             sa.Column("phone", sa.String(30)),
             sa.Column("email", sa.String(120)),
             sa.Column("postcode", sa.String(10)),
             sa.Column("notes", sa.Text))
    sa.Table("contacts", md,
             sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
             sa.Column("customer_id", sa.Integer, fk("customers.id")),
             sa.Column("first_name", sa.String(60)),
             sa.Column("last_name", sa.String(60)),
             sa.Column("email", sa.String(120)),
             sa.Column("mobile", sa.String(30)),
             sa.Column("work_phone", sa.String(30)),
             sa.Column("postcode", sa.String(10)),
             sa.Column("dob", sa.Date),
             sa.Column("referred_by", sa.Integer, fk("contacts.id")))
    sa.Table("marketing_preferences", md,
             sa.Column("contact_id", sa.Integer, fk("contacts.id"), primary_key=True,
                       autoincrement=False),
             sa.Column("channel", sa.String(20), primary_key=True),
             sa.Column("opted_in", sa.Boolean, nullable=False))
    sa.Table("credit_checks", md,
             sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
             sa.Column("contact_id", sa.Integer, fk("contacts.id")),
             sa.Column("agency", sa.String(40)),
             sa.Column("score", sa.Integer),
             sa.Column("checked_on", sa.Date))
    # contact_id without a declared foreign key: the link is inferred from the name
    sa.Table("call_logs", md,
             sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
             sa.Column("contact_id", sa.Integer),
             sa.Column("caller_number", sa.String(30)),
             sa.Column("started_at", sa.DateTime),
             sa.Column("duration_seconds", sa.Integer))
    sa.Table("devices", md,
             sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
             sa.Column("contact_id", sa.Integer, fk("contacts.id")),
             sa.Column("imei", sa.String(20)),
             sa.Column("model", sa.String(40)),
             sa.Column("active_sim_id", sa.Integer,
                       fk("sim_cards.id", use_alter=True, name="fk_devices_active_sim")))
    sa.Table("sim_cards", md,
             sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
             sa.Column("device_id", sa.Integer, fk("devices.id")),
             sa.Column("iccid", sa.String(22)))
    sa.Table("tickets", md,
             sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
             sa.Column("contact_id", sa.Integer, fk("contacts.id")),
             sa.Column("parent_ticket_id", sa.Integer, fk("tickets.id")),
             sa.Column("subject", sa.String(200)),
             sa.Column("body", sa.Text))
    sa.Table("web_sessions", md,  # no primary key, no unique index
             sa.Column("contact_id", sa.Integer, fk("contacts.id")),
             sa.Column("cookie_id", sa.String(64)),
             sa.Column("started_at", sa.DateTime),
             sa.Column("page_count", sa.Integer))
    sa.Table("contracts", md,
             sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
             sa.Column("customer_id", sa.Integer, fk("customers.id")),
             sa.Column("product", sa.String(60)),
             sa.Column("start_date", sa.Date))
    sa.Table("invoices", md,
             sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
             sa.Column("contract_id", sa.Integer, fk("contracts.id")),
             sa.Column("amount", sa.Numeric(10, 2)),
             sa.Column("issued_on", sa.Date))
    sa.Table("payments", md,
             sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
             sa.Column("invoice_id", sa.Integer, fk("invoices.id")),
             sa.Column("amount", sa.Numeric(10, 2)),
             sa.Column("sort_code", sa.String(8)),
             sa.Column("account_number", sa.String(8)))
    # reserved words as table and column names: quoting must hold on every dialect
    sa.Table("order", md,
             sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
             sa.Column("customer_id", sa.Integer, fk("customers.id")),
             sa.Column("desc", sa.String(200)))
    sa.Table("prospects", md,  # no key at all: rows are located by a hash
             sa.Column("full_name", sa.String(120)),
             sa.Column("email", sa.String(120)),
             sa.Column("phone", sa.String(30)),
             sa.Column("source", sa.String(40)))
    sa.Table("newsletter_signups", md,  # no primary key, a unique constraint
             sa.Column("signup_ref", sa.String(12), nullable=False, unique=True),
             sa.Column("email", sa.String(120)),
             sa.Column("signed_up", sa.Date))
    sa.Table("sms_optins", md,  # a phone in a number column, named so no detector knows it
             sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
             sa.Column("destination", sa.BigInteger),
             sa.Column("opted_in_at", sa.DateTime))
    # columns no detector recognises by name: the config override tests name them
    sa.Table("legacy_people", md,
             sa.Column("ref", sa.String(10), primary_key=True),
             sa.Column("given", sa.String(60)),
             sa.Column("family", sa.String(60)),
             sa.Column("handle", sa.String(120)),
             sa.Column("remarks", sa.String(400)))
    return md


CUSTOMERS = [
    dict(id=1, account_number="CAN-001001", billing_account_no=1001001,
         name="Acme Widgets Ltd", business_type="limited_company", company_number="01234567",
         phone="01632 960999", email="accounts@acme.example.com", postcode="LS1 4AP",
         notes="Key account since 2019."),
    dict(id=2, account_number="CAN-002002", billing_account_no=2002002, name="Sam Trader",
         business_type="sole_trader", company_number=None, phone="07700 900789",
         email="sam.trader@example.co.uk", postcode="M1 1AE",
         notes="Pays by direct debit."),
    dict(id=3, account_number="CAN-003003", billing_account_no=3003003,
         name="Northwind Trading Ltd", business_type="Private Limited Company",
         company_number="SC123456", phone="01632 960555", email="info@northwind.example.com",
         postcode="G1 1AA", notes=None),
]
CONTACTS = [
    dict(id=1, customer_id=1, first_name="Jane", last_name="Doe", email="Jane.Doe@example.com",
         mobile="07700 900123", work_phone="01632 960000", postcode="LS1 4AP",
         dob=date(1985, 3, 14), referred_by=None),
    dict(id=2, customer_id=1, first_name="Bob", last_name="Smith", email="bob.smith@example.com",
         mobile="07700900456", work_phone="01632 960000", postcode="LS1 4AP",
         dob=date(1979, 11, 2), referred_by=1),
    dict(id=3, customer_id=2, first_name="Sam", last_name="Trader",
         email="sam.trader@example.co.uk", mobile="+447700900789", work_phone=None,
         postcode="M1 1AE", dob=None, referred_by=None),
    dict(id=4, customer_id=3, first_name="Jane", last_name="Doe", email="jane.doe@example.co.uk",
         mobile="+44 7700 900124", work_phone="01632 960555", postcode="LS1 4AP",
         dob=date(1990, 7, 1), referred_by=None),
    dict(id=5, customer_id=1, first_name="Alice", last_name="Green",
         email="alice.green@example.com", mobile="(07700) 900321", work_phone="01632 960001",
         postcode="LS2 7EY", dob=None, referred_by=1),
    dict(id=6, customer_id=None, first_name="Omar", last_name="Khan",
         email="omar.khan@example.com", mobile="07700-900-654", work_phone=None,
         postcode="B1 1AA", dob=None, referred_by=None),
    dict(id=7, customer_id=None, first_name="Zoe", last_name="O'Brien",
         email="zoe.obrien@example.com", mobile="+44 (0)7700 900777", work_phone=None,
         postcode="CF10 1AA", dob=None, referred_by=None),
]
ROWS: dict[str, list[dict[str, Any]]] = {
    "customers": CUSTOMERS,
    "contacts": CONTACTS,
    "marketing_preferences": [
        dict(contact_id=1, channel="email", opted_in=True),
        dict(contact_id=1, channel="sms", opted_in=False),
        dict(contact_id=2, channel="email", opted_in=True),
        dict(contact_id=3, channel="post", opted_in=True),
    ],
    "credit_checks": [
        dict(id=1, contact_id=1, agency="Experian", score=812, checked_on=date(2023, 5, 2)),
        dict(id=2, contact_id=3, agency="Equifax", score=640, checked_on=date(2022, 1, 9)),
    ],
    "call_logs": [
        dict(id=1, contact_id=1, caller_number="+447700900123",
             started_at=datetime(2024, 1, 5, 9, 30), duration_seconds=320),
        dict(id=2, contact_id=2, caller_number="01632 960000",
             started_at=datetime(2024, 1, 6, 14, 0), duration_seconds=95),
        dict(id=3, contact_id=1, caller_number="01632960000",
             started_at=datetime(2024, 2, 1, 11, 15), duration_seconds=41),
        dict(id=4, contact_id=4, caller_number="07700 900124",
             started_at=datetime(2024, 2, 3, 16, 45), duration_seconds=600),
    ],
    "devices": [
        dict(id=1, contact_id=1, imei="356938035643809", model="Phone X", active_sim_id=None),
        dict(id=2, contact_id=2, imei="356938035643817", model="Phone Y", active_sim_id=None),
    ],
    "sim_cards": [
        dict(id=1, device_id=1, iccid="8944100000000000011"),
        dict(id=2, device_id=2, iccid="8944100000000000029"),
    ],
    "tickets": [
        dict(id=1, contact_id=1, parent_ticket_id=None, subject="Bill query",
             body="Customer asked about roaming charges on her last bill."),
        dict(id=2, contact_id=1, parent_ticket_id=1, subject="Follow-up",
             body="Called back; explained the roaming bundle."),
        dict(id=3, contact_id=2, parent_ticket_id=None, subject="Quote",
             body="Bob asked us to copy JANE.DOE@example.com on the quote and to ring her "
                  "on +44 7700 900123 if anything changes."),
        dict(id=4, contact_id=4, parent_ticket_id=None, subject="Porting",
             body="Caller (the other Jane) wants to port 07700 900124 to us."),
    ],
    "web_sessions": [
        dict(contact_id=1, cookie_id="ck-7f3a9b2c1d", started_at=datetime(2024, 3, 1, 8, 0),
             page_count=4),
        dict(contact_id=1, cookie_id="ck-7f3a9b2c1d", started_at=datetime(2024, 3, 2, 8, 5),
             page_count=2),
        dict(contact_id=2, cookie_id="ck-0000b0b111", started_at=datetime(2024, 3, 1, 9, 0),
             page_count=7),
    ],
    "contracts": [
        dict(id=1, customer_id=1, product="Mobile fleet", start_date=date(2021, 4, 1)),
        dict(id=2, customer_id=2, product="Business broadband", start_date=date(2022, 6, 1)),
        dict(id=3, customer_id=2, product="Business energy", start_date=date(2023, 1, 1)),
        dict(id=4, customer_id=3, product="Fixed line", start_date=date(2020, 9, 1)),
    ],
    "invoices": [
        dict(id=1, contract_id=1, amount=Decimal("1200.00"), issued_on=date(2024, 1, 31)),
        dict(id=2, contract_id=2, amount=Decimal("45.50"), issued_on=date(2024, 1, 31)),
        dict(id=3, contract_id=3, amount=Decimal("310.20"), issued_on=date(2024, 2, 29)),
        dict(id=4, contract_id=4, amount=Decimal("80.00"), issued_on=date(2024, 2, 29)),
    ],
    "payments": [
        dict(id=1, invoice_id=1, amount=Decimal("1200.00"), sort_code="12-34-56",
             account_number="11112222"),
        dict(id=2, invoice_id=2, amount=Decimal("45.50"), sort_code="20-00-00",
             account_number="12345678"),
        dict(id=3, invoice_id=3, amount=Decimal("310.20"), sort_code="20-00-00",
             account_number="12345678"),
        dict(id=4, invoice_id=4, amount=Decimal("80.00"), sort_code="40-11-22",
             account_number="87654321"),
    ],
    "order": [
        dict(id=1, customer_id=2, desc="Router for the workshop"),
        dict(id=2, customer_id=1, desc="Twenty handsets"),
    ],
    "prospects": [
        dict(full_name="Jane Doe", email="jane.doe@example.com", phone="07700900123",
             source="trade show"),
        dict(full_name="Mark Lee", email="mark.lee@example.com", phone="07700 900888",
             source="web"),
    ],
    "newsletter_signups": [
        dict(signup_ref="NS-0001", email="JANE.DOE@EXAMPLE.COM", signed_up=date(2023, 2, 1)),
        dict(signup_ref="NS-0002", email="bob.smith@example.com", signed_up=date(2023, 2, 2)),
    ],
    "sms_optins": [
        dict(id=1, destination=447700900123, opted_in_at=datetime(2023, 1, 1, 12, 0)),
        dict(id=2, destination=447700900456, opted_in_at=datetime(2023, 1, 2, 12, 0)),
        dict(id=3, destination=7700900789, opted_in_at=datetime(2023, 1, 3, 12, 0)),
    ],
    "legacy_people": [
        dict(ref="L-1", given="Jane", family="Doe", handle="jd-1985",
             remarks="Migrated from the old CRM."),
        dict(ref="L-2", given="Bob", family="Smith", handle="bsmith", remarks=None),
    ],
}
# links that close a cycle, set once every row exists: Jane was referred by Alice whom
# she referred; device -> SIM -> device; a ticket thread pointing both ways
CYCLE_UPDATES = [("contacts", 1, {"referred_by": 5}), ("devices", 1, {"active_sim_id": 1}),
                 ("devices", 2, {"active_sim_id": 2}), ("tickets", 1, {"parent_ticket_id": 2})]


def create_estate(engine: sa.Engine, schema: str | None = None) -> sa.MetaData:
    """Create the tables and rows; returns the metadata (tables by name)."""
    md = build_metadata(schema)
    md.create_all(engine)
    with engine.begin() as conn:
        for name in ROWS_ORDER:
            conn.execute(md.tables[_qualified(name, schema)].insert(), ROWS[name])
        for name, key, values in CYCLE_UPDATES:
            table = md.tables[_qualified(name, schema)]
            conn.execute(table.update().where(table.c.id == key).values(**values))
    return md


def populated(database: Any, build: Any = None) -> Any:
    """``database`` (a conftest TestDatabase) with a schema built in it (default: the estate)."""
    engine = database.engine()
    try:
        (build or create_estate)(engine, database.schema)
    finally:
        engine.dispose()
    return database


def row_counts(engine: sa.Engine, schema: str | None = None) -> dict[str, int]:
    md = build_metadata(schema)
    with engine.connect() as conn:
        return {name: conn.execute(sa.select(sa.func.count()).select_from(
            md.tables[_qualified(name, schema)])).scalar_one() for name in ROWS}


def _qualified(name: str, schema: str | None) -> str:
    return f"{schema}.{name}" if schema else name


# parents before children
ROWS_ORDER = ["customers", "contacts", "marketing_preferences", "credit_checks", "call_logs",
              "devices", "sim_cards", "tickets", "web_sessions", "contracts", "invoices",
              "payments", "order", "prospects", "newsletter_signups", "sms_optins",
              "legacy_people"]


# --------------------------------------------------------------------------- test helpers


def builtin_detectors() -> list[Detector]:
    """The detectors the agent loads (through the plugin manager, as in production)."""
    manager = PluginManager().load(builtins=("plugins.detectors", "connectors.sql"),
                                   use_entry_points=False)
    return [registration.obj for registration in manager.registry.all("detectors")]


def make_connector(database: Any, detectors: list[Detector], *, name: str = "crm",
                   references: dict[str, str] | None = None, timeout: float = 30.0,
                   **options: Any) -> SqlConnector:
    system = SystemConfig(name=name, connector="sql", url=database.url,
                          options={**database.options, **options},
                          references=dict(references or {}), timeout=timeout)
    return SqlConnector(system, ConnectorContext(detectors=detectors))


def subject(ref: str, **identifiers: Any) -> Subject:
    """``subject("S1", email="...", phone=["...", "..."])``."""
    pairs = [(kind, value) for kind, values in identifiers.items()
             for value in (values if isinstance(values, list) else [values])]
    return subject_from_pairs(ref, pairs)


def by_subject(findings: Iterable[Finding]) -> dict[str, dict[str, Finding]]:
    """subject ref -> locator -> finding."""
    out: dict[str, dict[str, Finding]] = {}
    for finding in findings:
        out.setdefault(finding.subject, {})[finding.locator] = finding
    return out
