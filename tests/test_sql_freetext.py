"""Free text: the one-pass scanner (agent.textscan) and the SQL connector streaming notes
columns through it, pre-filtered or whole, on every backend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from agent.textscan import TextIndex, build_index, id_key
from connectors.sql import SqlConnector
from tests.conftest import SQL_BACKENDS, TestDatabase
from tests.sql_estate import builtin_detectors, by_subject, make_connector, subject

JANE = [("email", "jane.doe@example.com", "email#1"), ("phone", "+447700900123", "phone#1"),
        ("name", "jane doe", "name#1"), ("account", "CAN-001001", "account#1"),
        ("ni_number", "AB123456C", "ni#1"), ("bank_account", "123456:01234567", "bank#1"),
        ("device_id", "356938035643809", "device#1"), ("cookie_id", "ck-7f3a9b2c1d", "cookie#1")]


def index_of(entries=JANE, ref: str = "S1") -> TextIndex:
    return build_index((kind, value, (ref, ident)) for kind, value, ident in entries)


def hits(index: TextIndex, text: str) -> set[str]:
    return {h.payload[1] for h in index.scan(text)}


@pytest.mark.parametrize(("text", "expected"), [
    ("Mail JANE.DOE@Example.COM today.", {"email#1"}),
    ("<jane.doe@example.com>", {"email#1"}),
    ("call 07700 900123", {"phone#1"}),
    ("call 07700900123 or", {"phone#1"}),
    ("tel:+44 (0)7700 900123", {"phone#1"}),
    ("ring 0044 7700 900 123", {"phone#1"}),
    ("(07700) 900-123", {"phone#1"}),
    ("numbers: 07700 900123 01632 960000", {"phone#1"}),  # two numbers in one run
    ("07700 900124", set()),  # one digit off
    ("07700 9001234", set()),  # a longer number
    ("acct can-001001 and CAN 001001", {"account#1"}),
    ("account CAN001001.", {"account#1"}),
    ("NI ab 12 34 56 c", {"ni#1"}),
    ("bank 12-34-56 1234567", {"bank#1"}),
    ("IMEI 356938035643809", {"device#1"}),
    ("Spoke to Jane Doe", {"name#1"}),
    ("Spoke to jane mary doe", {"name#1"}),  # a middle name
    ("Jane\u2019s neighbour Doe", set()),
    ("jane.doe@example.com.au", set()),  # another address that starts the same
    ("mail john.jane.doe@example.com", set()),  # nor is an address read as a name
    ("", set()),
])
def test_scanner_tokens(text, expected):
    assert hits(index_of(), text) == expected


def test_one_pass_for_many_subjects():
    entries = [(kind, value, (f"S{i}", f"{kind}#1")) for i in range(500)
               for kind, value in (("email", f"person{i}@example.com"),
                                   ("phone", f"+4477009{i:05d}"))]
    index = build_index(entries)
    found = index.scan("cc person17@example.com and 07700 900499; +44 7700 900042")
    assert {h.payload for h in found} == {("S17", "email#1"), ("S499", "phone#1"),
                                          ("S42", "phone#1")}


def test_needles_cover_every_hit():
    index = index_of()
    needles = index.needles()
    assert len(needles) <= 14
    texts = ["Mail JANE.DOE@Example.COM", "call 07700 900 123", "(07700) 900-123",
             "acct CAN 001001", "NI ab 12 34 56 c", "bank 12-34-56 1234567",
             "Jane Doe rang", "IMEI 356938035643809", "+44 (0)7700 900123",
             "cookie CK-7F3A9B2C1D"]
    for text in texts:
        assert hits(index, text), text
        assert any(n in text.lower() for n in needles), text


def test_id_keys():
    assert id_key("CAN-001234") == id_key("can 001234") == id_key("CAN001234")
    assert id_key("001234") == id_key("1234") == "1234"
    assert TextIndex().add("postcode", "LS1 4AP", ("S", "postcode#1")) is False


# --------------------------------------------------------------------------- in a database

NOISE = "Customer called about {n} handsets; quoted 07700 900{d:03d} line rental, ref Q{n}."


@pytest.fixture(scope="module", params=SQL_BACKENDS)
def notes_db(request: pytest.FixtureRequest, isolated_database) -> TestDatabase:
    database = isolated_database(request.param)
    md = sa.MetaData(schema=database.schema)
    notes = sa.Table("case_notes", md,
                     sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
                     sa.Column("author", sa.String(40)),
                     sa.Column("note", sa.Text),
                     sa.Column("comments", sa.String(500)))
    rows = [dict(id=n, author="agent", note=NOISE.format(n=n, d=500 + n % 100), comments=None)
            for n in range(1, 3001)]
    rows[1499]["comments"] = "Forwarded to JANE.DOE@example.com, 100%_sure."
    rows[2499]["note"] = "Her mobile is now +44 7700 900 123."
    engine = database.engine()
    md.create_all(engine)
    with engine.begin() as conn:
        conn.execute(notes.insert(), rows)
    engine.dispose()
    return database


@pytest.fixture(scope="module")
def notes(notes_db: TestDatabase) -> Iterator[SqlConnector]:
    connector = make_connector(notes_db, builtin_detectors())
    yield connector
    connector.close()


def test_notes_columns_are_scanned(notes, notes_db):
    found = by_subject(notes.search([subject("S", email="jane.doe@example.com",
                                             phone="07700900123")]))["S"]
    key = notes_db.key("case_notes")
    assert found[f"{key}:1500"].internal_matched_ids == {"email#1"}
    assert found[f"{key}:2500"].internal_matched_ids == {"phone#1"}
    assert len(found) == 2  # the other 2,998 rows hold other numbers (07700 900500-599)


def test_prefiltered_and_streamed_scans_agree(notes, notes_db):
    jane = subject("S", email="jane.doe@example.com", phone="07700900123")
    alone = by_subject(notes.search([jane]))["S"]
    crowd = [subject(f"C{i}", email=f"c{i}@example.com") for i in range(60)]
    together = by_subject(notes.search([jane, *crowd]))["S"]
    assert set(alone) == set(together)
    assert {f.locator: f.internal_matched_ids for f in alone.values()} == \
        {f.locator: f.internal_matched_ids for f in together.values()}


def test_like_wildcards_in_an_identifier_are_literal(notes):
    found = notes.search([subject("S", email="100%_sure@example.com")])
    assert list(found) == []
