"""SQL dumps: the extractor's rows, the rewriter that removes them, gzip around any rewriter,
and both through the files connector.

Dumps are made up in each tool's style (pg_dump COPY and --inserts, mysqldump extended
INSERTs, sqlite .dump) and also written by the real tools from scratch databases
(``dsr_sqldump_test_<random>`` on 127.0.0.1), and every rewritten dump is loaded back into
a real database to prove it is still valid SQL.
"""

from __future__ import annotations

import gzip
import io
import random
import sqlite3
import subprocess
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from agent.config import config_from_dict
from agent.engine import SearchEngine
from agent.errors import ConnectorError
from agent.extraction import Extraction
from agent.extractors import ExtractionError, choose
from agent.subjects import subject_from_mapping
from connectors.files import rewrite_gz, rewrite_sql
from connectors.files.rewrite import Rewritten
from connectors.files.scan import row_number
from plugins.extractors import EXTRACTORS, sqldump
from plugins.extractors.sqldump import LINE_STRIDE, SqlDumpExtractor

if TYPE_CHECKING:
    from tests.file_servers import Share

EXTRACTION = Extraction(EXTRACTORS)
JANE_EMAIL = "jane.doe@example.com"
JANE = {"ref": "jane", "email": [JANE_EMAIL], "phone": ["07700 900123"], "name": "Jane Doe"}
PG = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-X", "-q", "-v", "ON_ERROR_STOP=1"]
MY = ["mysql", "-h", "127.0.0.1", "-P", "3306", "-uroot", "--batch", "--skip-column-names"]

# --------------------------------------------------------------------------- made-up dumps
# COPY lines are written with a visible "|" for the tab between fields.
PG_DUMP = """--
-- PostgreSQL database dump
--

SET statement_timeout = 0;
SET standard_conforming_strings = on;

CREATE TABLE public.customers (
    id integer NOT NULL,
    email text,
    phone text,
    name text,
    note text,
    CONSTRAINT customers_pkey PRIMARY KEY (id)
);

CREATE TABLE public.orders (
    id integer NOT NULL,
    email text,
    memo text
);

CREATE FUNCTION public.touch() RETURNS void LANGUAGE sql AS $$
INSERT INTO public.orders VALUES (99, 'not.a.row@example.com', 'body');
$$;

COPY public.customers (id, email, phone, name, note) FROM stdin;
1|amy.adams@example.com|07700 900001|Amy Adams|likes\\ttabs
2|ben.baker@example.com|\\N|Ben Baker|line one\\nline two
3|jane.doe@example.com|07700 900123|Jane Doe|back\\\\slash \\x41\\102
\\.

INSERT INTO public.orders VALUES
\t(1, 'jane.doe@example.com', 'it''s here'),
\t(2, 'cat.clark@example.com', NULL),
\t(3, 'dan.davis@example.com', E'semi;colon\\n(paren');
""".replace("|", "\t")

MYSQL_DUMP = r"""-- MySQL dump 10.13  Distrib 8.0.36, for Linux (x86_64)
--
-- Host: localhost    Database: shop
-- ------------------------------------------------------
/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;
/*!40101 SET NAMES utf8mb4 */;
/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */;

--
-- Table structure for table `customers`
--

DROP TABLE IF EXISTS `customers`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
CREATE TABLE `customers` (
  `id` int(11) NOT NULL,
  `email` varchar(255) DEFAULT NULL,
  `phone` varchar(32) DEFAULT NULL,
  `note` text,
  `balance` decimal(10,2) DEFAULT NULL,
  PRIMARY KEY (`id`),
  KEY `by_email` (`email`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

LOCK TABLES `customers` WRITE;
/*!40000 ALTER TABLE `customers` DISABLE KEYS */;
{EXTENDED}
INSERT INTO `customers` VALUES (4,'eve.evans@example.com','07700 900004','',0.00);
/*!40000 ALTER TABLE `customers` ENABLE KEYS */;
UNLOCK TABLES;
""".replace("{EXTENDED}", "INSERT INTO `customers` VALUES " + ",".join((
    r"""(1,'amy.adams@example.com','07700 900001','O\'Brien said \"hi\"',12.50)""",
    r"""(2,'jane.doe@example.com','07700 900123','line\nbreak; (parens), commas',-3.00)""",
    r"""(3,NULL,'07700 900003','back\\slash',NULL)""")) + ";")

SQLITE_DUMP = """PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE IF NOT EXISTS "contacts"(id INTEGER PRIMARY KEY, "email" TEXT, phone TEXT, note TEXT);
INSERT INTO "contacts" VALUES(1,'amy.adams@example.com','07700 900001','it''s fine');
{MANY}
INSERT INTO "contacts" VALUES(5,'jane.doe@example.com','07700 900123','second
line');
COMMIT;
""".replace("{MANY}", "INSERT INTO \"contacts\" VALUES" + ",".join((
    "(2,'jane.doe@example.com','07700 900123',NULL)",
    "(3,'fay.ford@example.com','07700 900006','two, (three)')",
    "(4,'gus.green@example.com',NULL,'x')")) + ";")


def rows_of(data: bytes, filename: str = "dump.sql") -> list[tuple[str, int, tuple[str, ...]]]:
    return [(p.where, p.row, tuple(p.cells or ())) for p in
            EXTRACTION.pieces(io.BytesIO(data), filename)]


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def at(line: int, n: int = 0) -> int:
    return line * LINE_STRIDE + n


def jane(number: int, cells: list[str]) -> bool:
    return JANE_EMAIL in cells


def rewrite(data: bytes, remove: Callable[[int, list[str]], bool] = jane) -> tuple[bytes, int]:
    result = rewrite_sql.remove_sql_rows(io.BytesIO(data), remove)
    return result.data.read(), result.count


# --------------------------------------------------------------------------- extraction


def test_pg_dump_copy_rows_and_multi_row_inserts() -> None:
    rows = rows_of(PG_DUMP.encode())
    copy = line_of(PG_DUMP, "COPY public.customers")
    insert = line_of(PG_DUMP, "(1, 'jane.doe") - 1
    assert rows == [
        ("table:public.customers", at(copy), ("id", "email", "phone", "name", "note")),
        ("table:public.customers", at(copy + 1),
         ("1", "amy.adams@example.com", "07700 900001", "Amy Adams", "likes\ttabs")),
        ("table:public.customers", at(copy + 2),
         ("2", "ben.baker@example.com", "", "Ben Baker", "line one\nline two")),
        ("table:public.customers", at(copy + 3),
         ("3", JANE_EMAIL, "07700 900123", "Jane Doe", "back\\slash AB")),
        # no column list: the names come from CREATE TABLE; the function body is no row
        ("table:public.orders", at(insert), ("id", "email", "memo")),
        ("table:public.orders", at(insert + 1), ("1", JANE_EMAIL, "it's here")),
        ("table:public.orders", at(insert + 2), ("2", "cat.clark@example.com", "")),
        ("table:public.orders", at(insert + 3), ("3", "dan.davis@example.com",
                                                 "semi;colon\n(paren")),
    ]
    assert copy == 27 and rows[1][1] == 280_000_000  # a COPY row: its line x LINE_STRIDE


def test_mysqldump_extended_inserts() -> None:
    rows = rows_of(MYSQL_DUMP.encode())
    first = line_of(MYSQL_DUMP, "VALUES (1,")
    second = line_of(MYSQL_DUMP, "VALUES (4,")
    assert rows == [
        ("table:customers", at(first), ("id", "email", "phone", "note", "balance")),
        ("table:customers", at(first, 1),
         ("1", "amy.adams@example.com", "07700 900001", 'O\'Brien said "hi"', "12.50")),
        ("table:customers", at(first, 2),
         ("2", JANE_EMAIL, "07700 900123", "line\nbreak; (parens), commas", "-3.00")),
        ("table:customers", at(first, 3), ("3", "", "07700 900003", "back\\slash", "")),
        ("table:customers", at(second), ("4", "eve.evans@example.com", "07700 900004", "",
                                         "0.00")),
    ]


def test_sqlite_dump_rows() -> None:
    rows = rows_of(SQLITE_DUMP.encode())
    first = line_of(SQLITE_DUMP, "VALUES(1,")
    many = line_of(SQLITE_DUMP, "VALUES(2,")
    assert [r[1] for r in rows] == [at(first), at(first, 1), at(many), at(many, 1),
                                    at(many, 2), at(many + 1)]
    assert rows[0] == ("table:contacts", at(first), ("id", "email", "phone", "note"))
    assert rows[1][2] == ("1", "amy.adams@example.com", "07700 900001", "it's fine")
    assert rows[3][2] == ("3", "fay.ford@example.com", "07700 900006", "two, (three)")
    assert rows[5][2] == ("5", JANE_EMAIL, "07700 900123", "second\nline")


def test_backticks_in_a_postgresql_value_do_not_switch_to_mysql_escapes() -> None:
    dump = (b"SET standard_conforming_strings = on;\n"
            b"INSERT INTO t (a, b) VALUES ('run `ls`', 'C:\\dir\\'), ('x', 'y');\n")
    assert [r[2] for r in rows_of(dump)] == [("a", "b"), ("run `ls`", "C:\\dir\\"),
                                             ("x", "y")]


def test_crlf_lines_a_bom_and_a_csv_copy_block() -> None:
    dump = ("\ufeff-- PostgreSQL database dump\r\n"
            "COPY public.t (a, email) FROM stdin WITH (FORMAT csv);\r\n"
            '1,"jane.doe@example.com"\r\n2,"x, y"\r\n\\.\r\n'
            "INSERT INTO \"T\" (\"Email\", n) VALUES ('jane.doe@example.com', 1), ('b', 2);\r\n"
            ).encode()
    rows = rows_of(dump)
    assert rows == [("table:public.t", at(2), ("a", "email")),
                    ("table:public.t", at(3), ("1", JANE_EMAIL)),
                    ("table:public.t", at(4), ("2", "x, y")),
                    ("table:T", at(6), ("Email", "n")),
                    ("table:T", at(6, 1), (JANE_EMAIL, "1")),
                    ("table:T", at(6, 2), ("b", "2"))]
    new, count = rewrite(dump)
    assert count == 2
    assert new == dump.replace(b'1,"jane.doe@example.com"\r\n', b"").replace(
        b"('jane.doe@example.com', 1), ", b"")


def test_a_table_coming_back_is_a_new_part_and_numbers_only_grow() -> None:
    dump = ("INSERT INTO a (x) VALUES ('1');\nINSERT INTO b (y) VALUES ('2');\n"
            "INSERT INTO a (x) VALUES ('3'), ('4');\nINSERT INTO a (x, z) VALUES ('5', '6');\n")
    rows = rows_of(dump.encode())
    assert [r[0] for r in rows] == ["table:a"] * 2 + ["table:b"] * 2 + ["table:a (2)"] * 3 + \
        ["table:a (3)"] * 2
    assert rows[-2] == ("table:a (3)", at(4), ("x", "z"))
    numbers, parts = [], {}
    for where, row, _ in rows:
        numbers.append(row_number(parts.setdefault(where, len(parts)), row))
    assert numbers == sorted(set(numbers))  # file-wide numbers: unique and in file order


def test_sniffing_takes_dumps_and_leaves_ordinary_text() -> None:
    extractors = [e() for e in EXTRACTORS]
    def name(head: bytes, filename: str) -> str | None:
        chosen = choose(extractors, head, filename)
        return chosen.name if chosen else None

    assert name(b"-- nightly\nINSERT INTO t VALUES (1);\n", "q.sql") == "sqldump"
    # a script of queries stays prose: its values are still searched as text
    assert name(b"UPDATE users SET email = 'amy.adams@example.com' WHERE id = 1;\n",
                "fix.sql") == "text"
    for dump in (PG_DUMP, MYSQL_DUMP, SQLITE_DUMP):
        assert name(dump.encode(), "nightly.dump") == "sqldump"
        assert name(dump.encode(), "backup") == "sqldump"
    prose = (b"Notes from the meeting.\nWe agreed to CREATE TABLE for the orders and to\n"
             b"INSERT INTO it later; COPY x FROM stdin; was discussed.\n")
    assert name(prose, "notes.txt") == "text"
    assert name(b"Create table notes (draft)\nINSERT INTO plan VALUES (1);\n", "n.txt") == "text"
    assert name(b"id,email\n1,a@example.com\n", "INSERT INTO.csv") == "delimited"
    assert name(b"INSERT INTO t VALUES (1);\n", "rows.csv") == "delimited"
    assert name(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "image.sql") != "sqldump"


def test_malformed_dumps_fail_naming_the_line_never_the_content(monkeypatch) -> None:
    secret = "jane.doe@example.com"
    cases = {
        "COPY public.t (a) FROM stdin;\n" + secret + "\n": (1, "COPY block"),
        "SET x = 1;\nINSERT INTO t VALUES (1, '" + secret + ");\n": (2, "not closed"),
        "INSERT INTO t VALUES (1, '" + secret + "')\n": (1, "no ; end"),
        "-- PostgreSQL database dump\nDO $$ BEGIN\nRAISE NOTICE '" + secret + "';\n":
            (2, "not closed"),
    }
    for dump, (line, words) in cases.items():
        with pytest.raises(ExtractionError) as caught:
            rows_of(dump.encode())
        assert f"line {line}" in str(caught.value) and words in str(caught.value)
        assert secret not in str(caught.value)
        with pytest.raises(ConnectorError) as refused:
            rewrite(dump.encode())
        assert f"line {line}" in str(refused.value) and secret not in str(refused.value)
        assert "not rewritten" in str(refused.value)
    monkeypatch.setattr(sqldump, "MAX_LINE_BYTES", 100)
    long = "INSERT INTO t VALUES ('" + "x" * 200 + "');\n"
    with pytest.raises(ExtractionError, match=r"line 2: longer than"):
        rows_of(("-- a dump\n" + long).encode())
    monkeypatch.setattr(sqldump, "MAX_LINE_BYTES", 64 << 20)
    monkeypatch.setattr(sqldump, "MAX_STATEMENT_BYTES", 100)
    with pytest.raises(ExtractionError, match=r"line 1: the statement starting here is "
                                              r"longer than"):
        rows_of(("INSERT INTO t VALUES ('a'),\n" + "('abcdefghijklmnopqrstuvwxyz'),\n" * 9
                 + "('z');\n").encode())


# --------------------------------------------------------------------------- rewriting


def kept_lines(text: str, drop: Callable[[str], bool]) -> list[str]:
    return [line for line in text.splitlines(keepends=True) if not drop(line)]


def test_rewrite_removes_exactly_the_chosen_rows_byte_for_byte() -> None:
    for dump in (PG_DUMP, MYSQL_DUMP):
        original = dump.encode()
        new, count = rewrite(original)
        assert JANE_EMAIL.encode() not in new
        if dump is PG_DUMP:
            assert count == 2
            # a COPY row and a tuple on its own line: both go as whole lines
            assert new.decode().splitlines(True) == kept_lines(dump, lambda s: JANE_EMAIL in s)
        else:
            assert count == 1
            expected = original.replace(b"(2,'jane.doe@example.com','07700 900123','line\\"
                                        b"nbreak; (parens), commas',-3.00),", b"")
            assert new == expected
    new, count = rewrite(SQLITE_DUMP.encode())
    assert count == 2
    lines, old = new.decode().splitlines(True), SQLITE_DUMP.splitlines(True)
    many = line_of(SQLITE_DUMP, "VALUES(2,") - 1
    # the three-tuple line keeps two; the two-line statement of row 5 goes whole
    assert lines == [*old[:many], lines[many], *old[many + 3:]]
    assert lines[many] == ("INSERT INTO \"contacts\" VALUES(3,'fay.ford@example.com','07700 "
                           "900006','two, (three)'),(4,'gus.green@example.com',NULL,'x');\n")


def test_rewrite_numbers_are_the_extractors() -> None:
    for dump in (PG_DUMP, MYSQL_DUMP, SQLITE_DUMP):
        parts: dict[str, int] = {}
        wanted = {}
        for where, row, cells in rows_of(dump.encode()):
            number = row_number(parts.setdefault(where, len(parts)), row)
            if JANE_EMAIL in cells:
                wanted[number] = list(cells)
        seen: dict[int, list[str]] = {}

        def remove(number: int, cells: list[str], seen: dict[int, list[str]] = seen,
                   wanted: dict[int, list[str]] = wanted) -> bool:
            seen[number] = cells
            return number in wanted

        new, count = rewrite(dump.encode(), remove)
        assert count == len(wanted) and JANE_EMAIL.encode() not in new
        assert all(seen[n] == cells for n, cells in wanted.items())


def test_rewrite_keeps_every_other_row_whatever_the_damage() -> None:
    """Damaged dumps (quotes, brackets, escapes sprinkled in): when one still parses, the
    rewrite removes exactly the picked rows and the rest read back the same."""
    rnd = random.Random(5)
    noise = b"'\"`();,\\\n\t$-/*E0"
    checked = 0
    for _ in range(300):
        data = bytearray(rnd.choice((PG_DUMP, MYSQL_DUMP, SQLITE_DUMP)).encode())
        for _ in range(rnd.randint(0, 3)):
            i = rnd.randrange(len(data))
            data[i:i] = bytes(rnd.choice(noise) for _ in range(rnd.randint(1, 2)))
        try:
            before = rows_of(bytes(data))
        except ExtractionError:
            continue
        numbered = data_rows(before)
        pick = {n for n, _ in numbered if rnd.random() < 0.4}
        new, count = rewrite(bytes(data), lambda n, cells, pick=pick: n in pick)
        assert count == len(pick)
        if not pick:
            assert new == bytes(data)
        try:
            after = rows_of(new)
        except ExtractionError:
            continue
        checked += 1
        assert Counter(c for _, c in data_rows(after)) == Counter(
            c for n, c in numbered if n not in pick)
    assert checked > 200


def data_rows(rows: list[tuple[str, int, tuple[str, ...]]]) -> list[tuple[int, tuple[str, ...]]]:
    """(file-wide number, cells) of each row but the parts' headers (their first rows)."""
    parts: dict[str, int] = {}
    out = []
    for where, row, cells in rows:
        if where not in parts:
            parts[where] = len(parts)
            continue
        out.append((row_number(parts[where], row), cells))
    return out


def test_removing_every_tuple_drops_the_statement_and_its_line() -> None:
    dump = b"BEGIN;\n  INSERT INTO t VALUES (1,'a'),(2,'b');  \nINSERT INTO t VALUES (3,'c');\n"
    new, count = rewrite(dump, lambda n, cells: cells[0] in ("1", "2"))
    assert count == 2 and new == b"BEGIN;\nINSERT INTO t VALUES (3,'c');\n"
    new, count = rewrite(dump, lambda n, cells: cells[0] == "2")
    assert new == b"BEGIN;\n  INSERT INTO t VALUES (1,'a');  \nINSERT INTO t VALUES (3,'c');\n"
    same, count = rewrite(dump, lambda n, cells: False)
    assert same == dump and count == 0


def test_one_of_three_tuples_removed_still_loads_into_sqlite() -> None:
    new, count = rewrite(SQLITE_DUMP.encode())
    assert count == 2
    db = sqlite3.connect(":memory:")
    db.executescript(new.decode())
    assert db.execute("SELECT id, email, note FROM contacts ORDER BY id").fetchall() == [
        (1, "amy.adams@example.com", "it's fine"), (3, "fay.ford@example.com", "two, (three)"),
        (4, "gus.green@example.com", "x")]


def test_a_real_sqlite_dump(tmp_path: Path) -> None:
    source = tmp_path / "source.db"
    db = sqlite3.connect(source)
    db.executescript("CREATE TABLE people (id INTEGER PRIMARY KEY, email TEXT, note TEXT);")
    values = [(1, "amy.adams@example.com", "O'Hara; (x), y"), (2, JANE_EMAIL, "two\nlines"),
              (3, "ben.baker@example.com", None)]
    db.executemany("INSERT INTO people VALUES (?, ?, ?)", values)
    db.commit()
    db.close()
    dump = subprocess.run(["sqlite3", str(source), ".dump"], check=True,
                          capture_output=True).stdout
    rows = [r for r in rows_of(dump) if r[2] != ("id", "email", "note")]
    assert [r[2] for r in rows] == [(str(i), e, n or "") for i, e, n in values]
    crlf = b"INSERT INTO t VALUES(replace(replace('a\\r\\nb','\\r',char(13)),'\\n',char(10)));\n"
    assert rows_of(crlf)[-1][2] == ("a\r\nb",)
    new, count = rewrite(dump)
    assert count == 1
    restored = sqlite3.connect(":memory:")
    restored.executescript(new.decode())
    assert restored.execute("SELECT * FROM people ORDER BY id").fetchall() == [values[0],
                                                                              values[2]]


# --------------------------------------------------------------------------- real servers


@pytest.fixture
def pg_database() -> Iterator[Callable[[], str]]:
    made: list[str] = []

    def make() -> str:
        name = f"dsr_sqldump_test_{uuid.uuid4().hex[:10]}"
        subprocess.run([*PG, "-d", "postgres", "-c", f"CREATE DATABASE {name}"], check=True)
        made.append(name)
        return name

    yield make
    for name in made:
        subprocess.run([*PG, "-d", "postgres", "-c", f"DROP DATABASE IF EXISTS {name}"],
                       check=False)


def psql(database: str, sql: str = "", *, file: Path | None = None) -> str:
    args = [*PG, "-A", "-t", "-d", database] + (["-f", str(file)] if file else ["-c", sql])
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


PG_VALUES = "(1, 'amy.adams@example.com', E'tab\\there', NULL), " \
            "(2, 'jane.doe@example.com', E'new\\nline; (paren)', '07700 900123'), " \
            "(3, 'ben.baker@example.com', E'back\\\\slash and it''s', '07700 900002')"


def test_made_up_pg_dump_rewritten_loads_into_postgresql(pg_database, tmp_path: Path) -> None:
    new, count = rewrite(PG_DUMP.encode())
    assert count == 2
    target = pg_database()
    (tmp_path / "new.sql").write_bytes(new)
    psql(target, file=tmp_path / "new.sql")
    assert psql(target, "SELECT string_agg(email, ',' ORDER BY id) FROM public.customers"
                ).strip() == "amy.adams@example.com,ben.baker@example.com"
    assert psql(target, "SELECT string_agg(id::text, ',' ORDER BY id) FROM public.orders"
                ).strip() == "2,3"


@pytest.mark.parametrize("style", [[], ["--inserts", "--rows-per-insert=3"],
                                   ["--column-inserts"]])
def test_real_pg_dump_read_and_rewritten(pg_database, tmp_path: Path, style: list[str]
                                         ) -> None:
    source = pg_database()
    psql(source, "CREATE TABLE people (id int PRIMARY KEY, email text, note text, phone text);"
                 f"INSERT INTO people VALUES {PG_VALUES}")
    dump = subprocess.run(["pg_dump", "-h", "127.0.0.1", "-U", "postgres", "--no-owner",
                           *style, source], check=True, capture_output=True).stdout
    rows = [r for r in rows_of(dump) if r[2][0] != "id"]
    assert [r[2] for r in rows] == [
        ("1", "amy.adams@example.com", "tab\there", ""),
        ("2", JANE_EMAIL, "new\nline; (paren)", "07700 900123"),
        ("3", "ben.baker@example.com", "back\\slash and it's", "07700 900002")]
    assert all(r[0] == "table:public.people" for r in rows)
    new, count = rewrite(dump)
    assert count == 1
    target = pg_database()
    (tmp_path / "new.sql").write_bytes(new)
    psql(target, file=tmp_path / "new.sql")
    assert psql(target, "SELECT string_agg(id || ':' || note, '|' ORDER BY id) FROM people"
                ).strip() == "1:tab\there|3:back\\slash and it's"


@pytest.fixture
def mariadb_database() -> Iterator[Callable[[], str]]:
    made: list[str] = []

    def make() -> str:
        name = f"dsr_sqldump_test_{uuid.uuid4().hex[:10]}"
        subprocess.run([*MY, "-e", f"CREATE DATABASE {name} CHARACTER SET utf8mb4"],
                       check=True)
        made.append(name)
        return name

    yield make
    for name in made:
        subprocess.run([*MY, "-e", f"DROP DATABASE IF EXISTS {name}"], check=False)


def mysql(database: str, sql: str = "", *, data: bytes | None = None) -> str:
    args = [*MY, database] + ([] if data is not None else ["-e", sql])
    return subprocess.run(args, check=True, capture_output=True, input=data).stdout.decode()


def test_mysqldump_rewritten_loads_into_mariadb(mariadb_database) -> None:
    target = mariadb_database()
    new, count = rewrite(MYSQL_DUMP.encode())
    assert count == 1
    mysql(target, data=new)
    assert mysql(target, "SELECT id, note FROM customers ORDER BY id") == (
        "1\tO'Brien said \"hi\"\n3\tback\\\\slash\n4\t\n")
    # and a real mysqldump: extended INSERTs with the server's own escaping
    source = mariadb_database()
    mysql(source, "CREATE TABLE people (id int PRIMARY KEY, email varchar(99), note text);"
                  "INSERT INTO people VALUES (1,'amy.adams@example.com','tab\\there'),"
                  "(2,'jane.doe@example.com','it''s \\\\ (x), y\\nz'),"
                  "(3,'ben.baker@example.com',NULL)")
    # routines and triggers: bodies with ";" inside, under DELIMITER ;; - not data
    mysql(source, data=b"CREATE TABLE audit (id int, note text);\nDELIMITER //\n"
          b"CREATE PROCEDURE touch() BEGIN\nINSERT INTO audit VALUES (1, 'from; a (proc)');\n"
          b"INSERT INTO audit VALUES (2, 'x');\nEND//\n"
          b"CREATE TRIGGER keep AFTER INSERT ON people FOR EACH ROW BEGIN\n"
          b"INSERT INTO audit VALUES (NEW.id, 'added');\nEND//\nDELIMITER ;\n")
    dump = subprocess.run(["mysqldump", "-h", "127.0.0.1", "-P", "3306", "-uroot", "--routines",
                           source], check=True, capture_output=True).stdout
    assert b"DELIMITER ;;" in dump
    rows = [r[2] for r in rows_of(dump) if r[0] == "table:people"]
    assert rows == [("id", "email", "note"), ("1", "amy.adams@example.com", "tab\there"),
                    ("2", JANE_EMAIL, "it's \\ (x), y\nz"), ("3", "ben.baker@example.com", "")]
    assert {r[0] for r in rows_of(dump)} == {"table:people"}  # no rows from the bodies
    new, count = rewrite(dump)
    assert count == 1
    restored = mariadb_database()
    mysql(restored, data=new)
    assert mysql(restored, "SELECT id FROM people ORDER BY id") == "1\n3\n"
    assert mysql(restored, "SHOW PROCEDURE STATUS WHERE Db = DATABASE()").count("touch") == 1


# --------------------------------------------------------------------------- gzip


def gz(data: bytes, name: str = "dump.sql", mtime: int = 1_700_000_000, level: int = 6
       ) -> bytes:
    out = io.BytesIO()
    with gzip.GzipFile(filename=name, mode="wb", fileobj=out, mtime=mtime,
                       compresslevel=level) as f:
        f.write(data)
    return out.getvalue()


def sql_inside(stream) -> Rewritten:
    return rewrite_sql.remove_sql_rows(stream, jane)


def test_gzip_round_trip_keeps_name_and_mtime() -> None:
    inner, count = rewrite(MYSQL_DUMP.encode())
    for level in (1, 6, 9):
        result = rewrite_gz.rewrite_gzip(io.BytesIO(gz(MYSQL_DUMP.encode(), level=level)),
                                         sql_inside)
        data = result.data.read()
        assert result.count == count == 1
        header = rewrite_gz.read_header(data)
        assert (header.name, header.mtime) == (b"dump.sql", 1_700_000_000)
        assert header.level == {1: 1, 6: 6, 9: 9}[level]
        assert gzip.decompress(data) == inner
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as f:
            f.read()
            assert f.mtime == 1_700_000_000


def test_gzip_several_members_become_one() -> None:
    text = PG_DUMP.encode()
    cut = text.index(b"INSERT INTO public.orders")
    joined = gz(text[:cut]) + gzip.compress(text[cut:]) + b"\x00" * 16
    result = rewrite_gz.rewrite_gzip(io.BytesIO(joined), sql_inside)
    data = result.data.read()
    assert result.count == 2 and gzip.decompress(data) == rewrite(text)[0]
    assert data.count(b"\x1f\x8b\x08") == 1


def test_gzip_with_nothing_to_remove_writes_nothing() -> None:
    result = rewrite_gz.rewrite_gzip(io.BytesIO(gz(b"SELECT 1;\n")), sql_inside)
    assert result.count == 0 and result.data.read() == b""


def test_bad_gzip_files_are_refused_clearly() -> None:
    good = gz(PG_DUMP.encode() * 20)
    corrupt = bytearray(good)
    corrupt[len(corrupt) // 2] ^= 0xFF
    cases = {
        bytes(corrupt): "corrupt",
        good[:-40]: "cut short",
        good + b"trailing junk": "not gzip follow",
        b"plain text, not gzip": "no gzip signature",
    }
    for data, words in cases.items():
        with pytest.raises(ConnectorError, match=words):
            rewrite_gz.rewrite_gzip(io.BytesIO(data), sql_inside)
    bomb = gzip.compress(b"\x00" * (40 << 20))
    with pytest.raises(ConnectorError, match=r"ratio is over the limit of 200 \(max_ratio\)"):
        rewrite_gz.rewrite_gzip(io.BytesIO(bomb), sql_inside)
    with pytest.raises(ConnectorError, match=r"expands past 1000 bytes"):
        rewrite_gz.rewrite_gzip(io.BytesIO(good), sql_inside, max_bytes=1000)


# --------------------------------------------------------------------------- the connector


@pytest.fixture
def local_share(tmp_path: Path) -> Share:
    from tests.file_servers import Share  # imported late: file_servers is a pytest plugin

    folder = tmp_path / "share"
    folder.mkdir()
    return Share("local", folder, folder.as_uri())


def test_files_connector_finds_rows_in_dumps_and_gzipped_dumps(local_share: Share,
                                                               tmp_path: Path) -> None:
    local_share.write("backups/dump.sql", PG_DUMP)
    local_share.write("backups/dump.sql.gz", gz(MYSQL_DUMP.encode()))
    local_share.write("backups/other.sql", SQLITE_DUMP.replace(JANE_EMAIL, "x@example.com")
                      .replace("07700 900123", "07700 900999"))
    config = config_from_dict({
        "agent": {"state": f"sqlite:///{(tmp_path / 'state.sqlite').as_posix()}",
                  "hmac_key": str(tmp_path / "keys" / "hmac.key"), "max_depth": 0},
        "systems": [local_share.entry("share", timeout=120)],
    }, base_dir=tmp_path)
    engine = SearchEngine(config)
    try:
        subject = subject_from_mapping(JANE, default_ref="S0")
        [result] = engine.search([subject], operator="test", reason="sqldump test",
                                 record=False)
        assert all(s.status == "ok" for s in result.systems), result.systems
        found = {f.locator: f for f in result.findings}
        assert set(found) == {"backups/dump.sql", "backups/dump.sql.gz"}
        copy = line_of(PG_DUMP, "COPY public.customers")
        orders = line_of(PG_DUMP, "(1, 'jane.doe") - 1
        assert found["backups/dump.sql"].rows == [at(copy + 3), row_number(1, at(orders + 1))]
        assert found["backups/dump.sql"].strength == "strong"
        first = line_of(MYSQL_DUMP, "VALUES (1,")
        assert found["backups/dump.sql.gz"].rows == [at(first, 2)]
        # the rewriters find the very rows the search named
        for path, finding in found.items():
            planned = set(finding.rows or ())
            data = (local_share.path / path).read_bytes()

            def remove(number: int, cells: list[str], planned: set[int] = planned) -> bool:
                return number in planned

            if path.endswith(".gz"):
                result_ = rewrite_gz.rewrite_gzip(
                    io.BytesIO(data), lambda s: rewrite_sql.remove_sql_rows(s, remove))
                new = gzip.decompress(result_.data.read())
            else:
                result_ = rewrite_sql.remove_sql_rows(io.BytesIO(data), remove)
                new = result_.data.read()
            assert result_.count == len(planned) and JANE_EMAIL.encode() not in new
        records = list(engine.connector(config.systems[0]).read(result.findings))
        rows = [r["row"] for r in records if r["finding"] == "share:backups/dump.sql"]
        assert {r["email"] for r in rows} == {JANE_EMAIL}
    finally:
        engine.close()


def test_extractor_is_tabular_and_registered() -> None:
    assert SqlDumpExtractor.tabular and SqlDumpExtractor in EXTRACTORS
    names = [e.name for e in EXTRACTORS]
    assert names.index("sqldump") < names.index("delimited") < names.index("text")
