"""The demo CRM estate: same rows on every backend, keys that hold, a cast that is documented.

Built for real on SQLite, the running PostgreSQL and the running MariaDB (each in a
database of its own, created and dropped here; servers are started when down).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pymysql
import pytest
from sqlalchemy import and_, create_engine, func, select
from sqlalchemy.exc import OperationalError

from agent.demo import (
    EstateGenerator,
    Manifest,
    build_estate,
    cast_manifest,
    present_indexes,
    set_indexes,
)
from agent.demo.rows import COMPOSITE_KEYS
from agent.demo.schema import TABLE_ORDER, build_metadata, index_names
from agent.demo.values import reserved_numbers
from agent.identifiers import normalise_email, normalise_phone, try_normalise

CUSTOMERS, SEED = 40, 7
PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=3"
DB_NAME = f"dsr_estate_test_{os.getpid()}"

PHONE_COLUMNS = {
    "customers": ("switchboard",), "contacts": ("mobile", "landline"), "prospects": ("phone",),
    "call_logs": ("called_number",),
}
EMAIL_COLUMNS = {"customers": ("billing_email",), "contacts": ("email",),
                 "prospects": ("email",)}
DRAMA = re.compile(r"^\+44(7700900\d{3}|1632960\d{3})$")
EXAMPLE = re.compile(r"@example\.(com|co\.uk)$", re.IGNORECASE)
EMAIL_IN_TEXT = re.compile(r"[\w.+-]+@[\w.-]+\.\w+")
PHONE_IN_TEXT = re.compile(r"(?:\+44|0)[\d ()-]{9,16}\d")
RESERVED = {normalise_phone(n) for n in reserved_numbers()}


# --------------------------------------------------------------------------- servers

def _wait(check, what: str, seconds: float = 40.0) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            check()
            return
        except Exception:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not come up") from None
            time.sleep(0.5)


def _pg_check() -> None:
    import psycopg

    psycopg.connect(PG_ADMIN).close()


def _maria_check() -> None:
    pymysql.connect(host="127.0.0.1", port=3306, user="root", password="",
                    connect_timeout=3).close()


def _ensure_postgres() -> None:
    try:
        _pg_check()
    except Exception:
        version = sorted(os.listdir("/etc/postgresql"))[-1]
        subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"],
                       check=False, capture_output=True)
        _wait(_pg_check, "PostgreSQL")


def _ensure_mariadb() -> None:
    try:
        _maria_check()
    except Exception:
        subprocess.run(["start-stop-daemon", "--start", "--oknodo", "--background", "--exec",
                        "/usr/sbin/mariadbd"], check=False, capture_output=True)
        _wait(_maria_check, "MariaDB")


@pytest.fixture(scope="module")
def pg_database() -> Iterator[Callable[[str], str]]:
    """Creates PostgreSQL databases of this run on demand; drops them all afterwards."""
    import psycopg

    _ensure_postgres()
    made: list[str] = []

    def create(suffix: str) -> str:
        name = f"{DB_NAME}_{suffix}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        made.append(name)
        return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"

    yield create
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        for name in made:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def pg_url(pg_database: Callable[[str], str]) -> str:
    return pg_database("built")


@pytest.fixture
def pg_scratch(pg_database: Callable[[str], str]) -> str:
    return pg_database("scratch")


@pytest.fixture(scope="module")
def maria_url() -> Iterator[str]:
    _ensure_mariadb()
    conn = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="")
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{DB_NAME}`")
        cur.execute(f"CREATE DATABASE `{DB_NAME}`")
    yield f"mysql+pymysql://root@127.0.0.1:3306/{DB_NAME}"
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{DB_NAME}`")
    conn.close()


@pytest.fixture(scope="module")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("estate")
    yield f"sqlite:///{folder / 'crm.sqlite'}"
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module", params=["sqlite", "postgresql", "mariadb"])
def built(request: pytest.FixtureRequest) -> tuple[str, Manifest]:
    fixture = {"sqlite": "sqlite_url", "postgresql": "pg_url", "mariadb": "maria_url"}
    url = request.getfixturevalue(fixture[request.param])
    return url, build_estate(url, customers=CUSTOMERS, seed=SEED)


# --------------------------------------------------------------------------- helpers

def _generated(customers: int = CUSTOMERS, seed: int = SEED) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {t: [] for t in TABLE_ORDER}
    for chunk in EstateGenerator(customers, seed, chunk=17).chunks():
        for table, rows in chunk.items():
            out[table].extend(rows)
    return out


def _key(table: str) -> tuple[str, ...]:
    return COMPOSITE_KEYS.get(table, ("id",))


def _db_rows(url: str) -> dict[str, list[dict]]:
    md = build_metadata()
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {name: [dict(r._mapping) for r in conn.execute(
                select(md.tables[name]).order_by(*(md.tables[name].c[k] for k in _key(name))))]
                for name in TABLE_ORDER}
    finally:
        engine.dispose()


def _locators(rows: dict[str, list[dict]]) -> set[str]:
    return {f"{t}:" + ",".join(str(r[k]) for k in _key(t)) for t, rs in rows.items() for r in rs}


def _phones(rows: dict[str, list[dict]]) -> list[tuple[str, str, str]]:
    """(locator, column, normalised number) for every phone in columns and in notes."""
    out = []
    for table, cols in PHONE_COLUMNS.items():
        for row in rows[table]:
            for col in cols:
                if row[col]:
                    out.append((f"{table}:{row['id']}", col, normalise_phone(row[col])))
    for row in rows["tickets"]:
        for raw in PHONE_IN_TEXT.findall(row["notes"] or ""):
            out.append((f"tickets:{row['id']}", "notes", normalise_phone(raw)))
    return out


def _emails(rows: dict[str, list[dict]]) -> list[str]:
    out = [row[c] for t, cols in EMAIL_COLUMNS.items() for row in rows[t] for c in cols
           if row[c]]
    out += [m for row in rows["tickets"] for m in EMAIL_IN_TEXT.findall(row["notes"] or "")]
    return out


# --------------------------------------------------------------------------- generator

def test_same_seed_gives_same_rows_and_another_seed_differs() -> None:
    first, again, other = _generated(), _generated(), _generated(seed=SEED + 1)
    assert first == again
    assert first["contacts"] != other["contacts"]
    # the cast is fixed: same rows at every seed and size
    cast_a = next(EstateGenerator(5, 1).chunks())
    cast_b = next(EstateGenerator(500, 99).chunks())
    assert cast_a == cast_b


def test_chunk_size_does_not_change_the_rows() -> None:
    small = [r for c in EstateGenerator(30, 3, chunk=4).chunks() for r in c["tickets"]]
    large = [r for c in EstateGenerator(30, 3, chunk=1000).chunks() for r in c["tickets"]]
    assert small == large


@pytest.mark.parametrize("bad", [-1, "10", 2.5, True])
def test_rejects_a_bad_customer_count(bad: object) -> None:
    with pytest.raises(ValueError, match="customers"):
        EstateGenerator(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="customers"):
        build_estate("sqlite://", customers=bad)  # type: ignore[arg-type]


def test_rejects_a_zero_chunk() -> None:
    with pytest.raises(ValueError, match="chunk"):
        EstateGenerator(10, chunk=0)


def test_every_phone_is_a_drama_number_and_cast_numbers_stay_unique_at_scale() -> None:
    rows = _generated(customers=2500)  # > 1,800 generated numbers: they must repeat
    cast_rows = {t: [] for t in TABLE_ORDER}
    for table, rs in next(EstateGenerator(0).chunks()).items():
        cast_rows[table] = rs
    cast_locators = _locators(cast_rows)
    phones = _phones(rows)
    assert all(DRAMA.match(p) for _, _, p in phones)
    for loc, col, number in phones:
        if number in RESERVED:
            assert loc in cast_locators, f"{loc}.{col} holds a reserved number"
    contact_mobiles = [normalise_phone(r["mobile"]) for r in rows["contacts"][20:] if r["mobile"]]
    assert len(set(contact_mobiles)) < len(contact_mobiles)  # repeats at this size
    stored = {r["mobile"] for r in rows["contacts"] if r["mobile"]}
    assert any(s.startswith("+44") for s in stored) and any(" " in s for s in stored)
    assert any(s.isdigit() for s in stored)


def test_every_email_is_at_an_example_domain_and_unique_per_generated_person() -> None:
    rows = _generated(customers=300)
    emails = _emails(rows)
    assert emails and all(EXAMPLE.search(e) for e in emails)
    assert all(normalise_email(e) for e in emails)
    contacts = [r["email"].lower() for r in rows["contacts"]]
    assert len(set(contacts)) == len(contacts)
    billing = [r["billing_email"] for r in rows["customers"] if r["business_type"] != "sole_trader"]
    assert all(e.split("+")[0] in {"accounts", "office", "invoices"} for e in billing)


def test_free_text_mentions_own_and_other_peoples_details() -> None:
    rows = _generated(customers=400)
    contacts = {r["id"]: r for r in rows["contacts"]}
    own = others = 0
    for ticket in rows["tickets"]:
        holder = contacts[ticket["contact_id"]]
        for found in EMAIL_IN_TEXT.findall(ticket["notes"]):
            if found.lower() == holder["email"].lower():
                own += 1
            else:
                others += 1
    assert own and others


# --------------------------------------------------------------------------- the cast

def test_manifest_is_consistent_and_serialisable() -> None:
    cast = cast_manifest()
    assert set(cast) == {"sole_trader", "company_contact", "colleague", "namesake",
                         "near_phone", "same_postcode", "household_a", "household_b",
                         "prospect_contact"}
    for member in cast.values():
        assert member.attributed and member.notes and member.search
        assert set(member.via_expansion) <= set(member.attributed)
        assert not set(member.attributed) & set(member.not_attributed)
        assert not set(member.mentions) & (set(member.attributed) | set(member.not_attributed))
        for number in member.identifiers.get("phone", ()):
            assert normalise_phone(number) in RESERVED
    json.dumps({k: m.public() for k, m in cast.items()})
    sole, namesake = cast["sole_trader"], cast["namesake"]
    assert sole.name == namesake.name
    assert not set(sole.identifiers["email"]) & set(namesake.identifiers["email"])
    near = normalise_phone(cast["near_phone"].identifiers["phone"][0])
    mine = normalise_phone(sole.identifiers["phone"][0])
    assert sum(a != b for a, b in zip(near, mine, strict=True)) == 1
    assert cast["household_a"].identifiers["phone"][1] == cast["household_b"].identifiers[
        "phone"][1]


# --------------------------------------------------------------------------- every backend

def test_row_counts_match_the_manifest(built: tuple[str, Manifest]) -> None:
    url, manifest = built
    md = build_metadata()
    engine = create_engine(url)
    with engine.connect() as conn:
        counts = {t: conn.execute(select(func.count()).select_from(md.tables[t])).scalar_one()
                  for t in TABLE_ORDER}
    engine.dispose()
    assert counts == manifest.counts
    assert manifest.counts["customers"] == CUSTOMERS + 8
    assert all(n > 0 for n in counts.values())


def test_foreign_keys_hold(built: tuple[str, Manifest]) -> None:
    url, _ = built
    md = build_metadata()
    engine = create_engine(url)
    with engine.connect() as conn:
        for table in md.sorted_tables:
            for fk in table.foreign_keys:
                parent = fk.column.table.alias("parent")
                orphans = conn.execute(
                    select(func.count()).select_from(
                        table.outerjoin(parent, fk.parent == parent.c[fk.column.name]))
                    .where(and_(fk.parent.is_not(None), parent.c[fk.column.name].is_(None)))
                ).scalar_one()
                assert orphans == 0, f"{table.name}.{fk.parent.name} has orphans"
    engine.dispose()


def test_database_holds_exactly_the_generated_rows(built: tuple[str, Manifest]) -> None:
    url, _ = built
    expected = _generated()
    for table, rows in expected.items():
        rows.sort(key=lambda r, t=table: tuple(r[k] for k in _key(t)))
    assert _db_rows(url) == expected


def test_cast_records_exist_with_unique_phones(built: tuple[str, Manifest]) -> None:
    url, manifest = built
    rows = _db_rows(url)
    present = _locators(rows)
    cast_locators: set[str] = set()
    for member in manifest.cast.values():
        for group in (member.attributed, member.mentions, member.weak, member.not_attributed):
            assert set(group) <= present, member.key
            cast_locators |= set(group)
    accounts = {r["account_number"]: r for r in rows["customers"]}
    for key in ("sole_trader", "near_phone", "same_postcode", "household_a"):
        account = manifest.member(key).identifiers["account"][0]
        assert f"customers:{accounts[account]['id']}" in manifest.member(key).attributed
    # a cast number is only on cast rows, and (but for the household line) on one person's
    contacts = {r["id"]: r for r in rows["contacts"]}
    holders: dict[str, set[str]] = {}
    for loc, _col, number in _phones(rows):
        if number in RESERVED:
            assert loc in cast_locators
            if loc.startswith("contacts:"):
                person = contacts[int(loc.split(":")[1])]
                holders.setdefault(number, set()).add(person["first_name"] + person["last_name"])
    shared = {n for n, people in holders.items() if len(people) > 1}
    assert shared == {normalise_phone(manifest.member("household_a").identifiers["phone"][1]),
                      normalise_phone("01632 960041")}  # household line, office switchboard
    assert all(DRAMA.match(p) for _, _, p in _phones(rows))
    assert all(EXAMPLE.search(e) for e in _emails(rows))
    # the second e-mail of the sole trader is in her ticket and on a prospect row
    second = manifest.member("sole_trader").identifiers["email"][1]
    assert any(second in (t["notes"] or "") for t in rows["tickets"])
    assert [p["id"] for p in rows["prospects"] if p["email"] == second] == [1]


def test_identity_indexes_are_created(built: tuple[str, Manifest]) -> None:
    url, manifest = built
    dialect = create_engine(url).dialect.name
    expected = index_names(dialect)
    assert "ix_contacts_email" in expected and "ix_web_sessions_cookie_id" in expected
    if dialect in ("postgresql", "sqlite"):
        assert "ix_contacts_email_lower" in expected
    assert present_indexes(url) == expected
    assert manifest.indexes and manifest.seconds["indexes"] >= 0


def test_indexes_can_be_left_out_and_toggled(pg_scratch: str) -> None:
    pg_url = pg_scratch
    manifest = build_estate(pg_url, customers=5, indexes=False)
    assert present_indexes(pg_url) == set()
    assert "indexes" not in manifest.seconds
    set_indexes(pg_url, True)
    assert present_indexes(pg_url) == index_names("postgresql")
    set_indexes(pg_url, False)
    assert present_indexes(pg_url) == set()
    # sequences were moved past the explicit ids: a plain insert does not collide
    md = build_metadata()
    engine = create_engine(pg_url)
    with engine.begin() as conn:
        new_id = conn.execute(md.tables["prospects"].insert().values(
            full_name="New Lead", source="test", imported_at=func.now())
            .returning(md.tables["prospects"].c.id)).scalar_one()
    engine.dispose()
    assert new_id == manifest.counts["prospects"] + 1


def test_rebuilding_replaces_the_estate(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'nested' / 'crm.sqlite'}"
    build_estate(url, customers=12, seed=3)
    manifest = build_estate(url, customers=6, seed=3, indexes=False)
    assert sum(len(rs) for rs in _db_rows(url).values()) == manifest.rows
    assert present_indexes(url) == set()
    assert "***" not in manifest.url and manifest.public()["rows"] == manifest.rows


def test_an_unreachable_server_fails_loudly_without_the_password() -> None:
    with pytest.raises(OperationalError) as info:
        build_estate("postgresql+psycopg://postgres:s3cret@127.0.0.1:1/none", customers=1)
    assert "s3cret" not in str(info.value)


def test_manifest_masks_a_password(pg_scratch: str) -> None:
    url = pg_scratch.replace("postgres@", "postgres:pw-not-needed@")
    manifest = build_estate(url, customers=0)
    assert "pw-not-needed" not in json.dumps(manifest.public())
    assert manifest.counts["customers"] == 8
    assert try_normalise("email", manifest.member("colleague").identifiers["email"][0])


def test_unique_phone_mode_gives_every_number_to_one_person(tmp_path):
    from sqlalchemy import create_engine, text
    url = f"sqlite:///{tmp_path / 'unique.sqlite'}"
    build_estate(url, customers=1500, seed=3, phones="unique", indexes=False)
    engine = create_engine(url)
    with engine.connect() as conn:
        numbers = [try_normalise("phone", m) for (m,) in conn.execute(
            text("select mobile from contacts where mobile is not null"))]
        without = conn.execute(text("select count(*) from contacts where mobile is null")
                               ).scalar_one()
    engine.dispose()
    assert len(numbers) == len(set(numbers))  # no number on two contacts
    assert without > 0  # the ranges ran out: later people have no mobile
