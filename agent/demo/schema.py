"""The demo CRM's schema: one SQLAlchemy Core definition for SQLite, PostgreSQL and MariaDB.

Shaped like the privacy policy's business (a reseller of mobile, fixed-line and energy
contracts to small businesses and sole traders). Tables are built by a factory rather than
held in a module-level MetaData, because identity indexes are created after the bulk load
and would otherwise stay attached to a shared MetaData between builds.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    false,
    func,
)

EMAIL = 254
PHONE = 32
MONEY = Numeric(10, 2)

# Parents before children: the order rows are inserted and tables created.
TABLE_ORDER: tuple[str, ...] = (
    "customers", "contacts", "prospects", "contracts", "invoices", "payments",
    "credit_checks", "marketing_preferences", "call_logs", "devices", "tickets", "web_sessions",
)

# Columns that hold a person's identifiers: indexed when the estate is built with indexes.
IDENTITY_COLUMNS: dict[str, tuple[str, ...]] = {
    "customers": ("account_number", "billing_email", "switchboard", "postcode"),
    "contacts": ("email", "mobile", "landline"),
    "prospects": ("email", "phone", "postcode"),
    "payments": ("bank_account_number",),
    "call_logs": ("called_number",),
    "devices": ("imei",),
    "web_sessions": ("cookie_id",),
}

# E-mail columns that also get an index on lower(column), where the dialect supports
# expression indexes, so a case-insensitive comparison can use an index.
EMAIL_COLUMNS: dict[str, str] = {
    "customers": "billing_email", "contacts": "email", "prospects": "email",
}

# Dialects with expression (functional) indexes that SQLAlchemy renders.
_EXPRESSION_INDEX_DIALECTS = frozenset({"postgresql", "sqlite"})
# Free-text columns that get a trigram index on PostgreSQL (pg_trgm), so a substring search
# for a person's identifiers (lower(notes) LIKE ANY (...)) need not read every row.
TEXT_COLUMNS: dict[str, str] = {"tickets": "notes"}
TRIGRAM_EXTENSION = "pg_trgm"

# Marker columns the agent sets for suppression (do not contact) and restriction requests;
# the generator leaves them to their server default (false).
MARKER_COLUMNS: tuple[str, ...] = ("do_not_contact", "restricted")
MARKED_TABLES: tuple[str, ...] = ("customers", "contacts", "prospects")

# Dialects whose storage engine indexes foreign-key columns on its own (InnoDB).
_INDEXES_OWN_FOREIGN_KEYS = frozenset({"mysql", "mariadb"})


def build_metadata() -> MetaData:
    """A fresh MetaData holding every table, with primary and foreign keys but no indexes."""
    md = MetaData()
    Table(
        "customers", md,
        Column("id", Integer, primary_key=True),
        Column("account_number", String(16), nullable=False),
        Column("business_type", String(16), nullable=False),  # sole_trader|limited|partnership
        Column("company_name", String(200), nullable=False),
        Column("company_number", String(8)),
        Column("switchboard", String(PHONE)),
        Column("billing_email", String(EMAIL)),
        Column("address_line1", String(200)),
        Column("town", String(100)),
        Column("postcode", String(10)),
        Column("created_at", DateTime, nullable=False),
        *_markers(),
    )
    Table(
        "contacts", md,
        Column("id", Integer, primary_key=True),
        Column("customer_id", Integer, ForeignKey("customers.id"), nullable=False),
        Column("first_name", String(100), nullable=False),
        Column("last_name", String(100), nullable=False),
        Column("email", String(EMAIL)),
        Column("mobile", String(PHONE)),
        Column("landline", String(PHONE)),
        Column("job_title", String(100)),
        Column("dob", Date),
        Column("referred_by", Integer, ForeignKey("contacts.id")),
        Column("created_at", DateTime, nullable=False),
        *_markers(),
    )
    Table(
        "prospects", md,  # bought-in or enquiry leads: not linked to any customer
        Column("id", Integer, primary_key=True),
        Column("full_name", String(200)),
        Column("email", String(EMAIL)),
        Column("phone", String(PHONE)),
        Column("postcode", String(10)),
        Column("company_name", String(200)),
        Column("source", String(100), nullable=False),
        Column("imported_at", DateTime, nullable=False),
        *_markers(),
    )
    Table(
        "contracts", md,
        Column("id", Integer, primary_key=True),
        Column("customer_id", Integer, ForeignKey("customers.id"), nullable=False),
        Column("product", String(16), nullable=False),  # mobile|fixed|energy
        Column("supplier", String(100), nullable=False),
        Column("start_date", Date, nullable=False),
        Column("end_date", Date, nullable=False),
        Column("monthly_value", MONEY, nullable=False),
        Column("status", String(16), nullable=False),
    )
    Table(
        "invoices", md,
        Column("id", Integer, primary_key=True),
        Column("customer_id", Integer, ForeignKey("customers.id"), nullable=False),
        Column("contract_id", Integer, ForeignKey("contracts.id"), nullable=False),
        Column("invoice_number", String(20), nullable=False),
        Column("issued_on", Date, nullable=False),
        Column("due_on", Date, nullable=False),
        Column("net_amount", MONEY, nullable=False),
        Column("vat_amount", MONEY, nullable=False),
        Column("total_amount", MONEY, nullable=False),
    )
    Table(
        "payments", md,
        Column("id", Integer, primary_key=True),
        Column("invoice_id", Integer, ForeignKey("invoices.id"), nullable=False),
        Column("amount", MONEY, nullable=False),
        Column("paid_at", DateTime, nullable=False),
        Column("method", String(16), nullable=False),  # direct_debit|bacs|card
        Column("sort_code", String(8)),
        Column("bank_account_number", String(8)),
    )
    Table(
        "credit_checks", md,
        Column("id", Integer, primary_key=True),
        Column("contact_id", Integer, ForeignKey("contacts.id"), nullable=False),
        Column("agency", String(32), nullable=False),
        Column("score", Integer, nullable=False),
        Column("checked_at", DateTime, nullable=False),
    )
    Table(
        "marketing_preferences", md,  # composite key: one row per contact and channel
        Column("contact_id", Integer, ForeignKey("contacts.id"), primary_key=True),
        Column("channel", String(16), primary_key=True),
        Column("opted_in", Boolean, nullable=False),
        Column("updated_at", DateTime, nullable=False),
    )
    Table(
        "call_logs", md,
        Column("id", Integer, primary_key=True),
        Column("contact_id", Integer, ForeignKey("contacts.id"), nullable=False),
        Column("direction", String(8), nullable=False),  # inbound|outbound
        # the customer's end of the call, whichever way it went (never our own line)
        Column("called_number", String(PHONE), nullable=False),
        Column("duration_seconds", Integer, nullable=False),
        Column("called_at", DateTime, nullable=False),
    )
    Table(
        "devices", md,
        Column("id", Integer, primary_key=True),
        Column("contact_id", Integer, ForeignKey("contacts.id"), nullable=False),
        Column("imei", String(15), nullable=False),
        Column("model", String(100), nullable=False),
        Column("added_on", Date, nullable=False),
    )
    Table(
        "tickets", md,
        Column("id", Integer, primary_key=True),
        Column("contact_id", Integer, ForeignKey("contacts.id"), nullable=False),
        Column("subject", String(200), nullable=False),
        Column("notes", Text),
        Column("status", String(16), nullable=False),
        Column("opened_at", DateTime, nullable=False),
    )
    Table(
        "web_sessions", md,
        Column("id", Integer, primary_key=True),
        Column("contact_id", Integer, ForeignKey("contacts.id"), nullable=False),
        Column("cookie_id", String(64), nullable=False),
        Column("ip_address", String(45)),
        Column("user_agent", String(200)),
        Column("started_at", DateTime, nullable=False),
    )
    return md


def _markers() -> list[Column[bool]]:
    return [Column(name, Boolean, nullable=True, server_default=false())
            for name in MARKER_COLUMNS]


def columns(md: MetaData, table: str) -> tuple[str, ...]:
    return tuple(c.name for c in md.tables[table].columns)


def identity_indexes(md: MetaData, dialect: str, *, trigram: bool | None = None
                     ) -> list[Index]:
    """The indexes a well-run CRM has: identity columns, lower(email), foreign keys.

    On PostgreSQL also a trigram index on each free-text column (``trigram``: whether the
    pg_trgm extension is there; None means assume it is).

    Foreign-key columns are included because following a person's links (their contracts,
    call logs, tickets) is part of every search. MariaDB/MySQL index foreign keys themselves
    (and would refuse to drop an index that had taken over that job), so they are left out
    there.
    """
    out: list[Index] = []
    fk_indexes = dialect not in _INDEXES_OWN_FOREIGN_KEYS
    for name in TABLE_ORDER:
        table = md.tables[name]
        for col in IDENTITY_COLUMNS.get(name, ()):
            out.append(Index(f"ix_{name}_{col}", table.c[col],
                             unique=(name, col) == ("customers", "account_number")))
        if name in EMAIL_COLUMNS and dialect in _EXPRESSION_INDEX_DIALECTS:
            col = EMAIL_COLUMNS[name]
            out.append(Index(f"ix_{name}_{col}_lower", func.lower(table.c[col])))
        for fk in table.foreign_keys if fk_indexes else ():
            col = fk.parent
            if col.primary_key and next(iter(table.primary_key.columns)) is col:
                continue  # already the leading column of the primary key
            out.append(Index(f"ix_{name}_{col.name}", col))
        if name in TEXT_COLUMNS and dialect == "postgresql" and trigram is not False:
            col = TEXT_COLUMNS[name]
            expr = func.lower(table.c[col]).label(f"{col}_lower")
            out.append(Index(f"ix_{name}_{col}_trgm", expr, postgresql_using="gin",
                             postgresql_ops={f"{col}_lower": "gin_trgm_ops"}))
    return out


def index_names(dialect: str) -> set[str]:
    """Names of the identity indexes a build with indexes creates on ``dialect``."""
    return {ix.name for ix in identity_indexes(build_metadata(), dialect) if ix.name}
