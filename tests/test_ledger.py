"""Signed notes and checkpoints (C2SP), and the Merkle ledger on SQLite, PostgreSQL, MariaDB.

Note vectors are the Go reference's: golang.org/x/mod sumdb/note/note_test.go (PeterNeumann
and EnochRoot keys, signatures and notes), and the examples in C2SP signed-note.md and
tlog-checkpoint.md; matching them byte for byte means our notes interoperate.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent import merkle
from agent.checkpoint import (
    BadSignatureError,
    Checkpoint,
    MalformedNoteError,
    NoteError,
    UnknownKeyError,
    cosign,
    make_checkpoint,
    note_text,
    open_note,
    parse_checkpoint,
    sign_note,
    verifier_key,
)
from agent.keys import DigestKey
from agent.ledger import Ledger, LedgerError, checkpoints, entries
from agent.store import Store

# --------------------------------------------------------------------------- Go vectors

PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = ("If you think cryptography is the answer to your problem,\n"
        "then you don't know what your problem is.\n")
PETER_SIG = ("\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNX"
             "gKvqfqdngotpRZb6KE6RyyBwJnAM=\n")
ENOCH_SIG = ("\u2014 EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovT"
             "G01oOTGwnWLox33WWd1RvMc+QQ=\n")

# c2sp.org/tlog-checkpoint and c2sp.org/signed-note examples (no public keys published)
C2SP_CHECKPOINT = (
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n"
    "\u2014 example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/"
    "Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n")
C2SP_NOTE = (
    "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned \u00e8 subito "
    "sera.\n\n\u2014 quasimodo.example/salvatore NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+Eh"
    "fLW9oJKONrMouFSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=\n")


def _peter() -> Ed25519PrivateKey:
    raw = base64.b64decode(PETER_SKEY.split("+", 4)[4])  # the key itself may hold a +
    assert raw[0] == 1  # algorithm byte, then the 32-byte seed
    return Ed25519PrivateKey.from_private_bytes(raw[1:])


def test_verifier_key_and_signature_match_the_go_reference():
    key = _peter()
    assert verifier_key("PeterNeumann", key.public_key()) == PETER_VKEY
    assert sign_note(TEXT, "PeterNeumann", key) == TEXT + "\n" + PETER_SIG


def test_open_note_ignores_unknown_keys_and_needs_one_known():
    note = TEXT + "\n" + PETER_SIG + ENOCH_SIG
    assert open_note(note, [PETER_VKEY]) == TEXT
    assert open_note(note, [PETER_VKEY, ENOCH_VKEY]) == TEXT
    assert open_note(note.encode(), [ENOCH_VKEY]) == TEXT
    with pytest.raises(UnknownKeyError, match=r"no verifiable signatures.*"
                                              r"EnochRoot\+af0cfe78, PeterNeumann\+c74f20a3"):
        open_note(note, [])
    with pytest.raises(UnknownKeyError, match=r"PeterNeumann\+c74f20a3"):
        open_note(TEXT + "\n" + PETER_SIG, [ENOCH_VKEY])


def test_a_known_keys_bad_signature_rejects_the_note():
    bad = PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    with pytest.raises(BadSignatureError,
                       match=r"invalid signature for key PeterNeumann\+c74f20a3"):
        open_note(TEXT + "\n" + bad, [PETER_VKEY])
    with pytest.raises(BadSignatureError):  # a known key's signature over altered text
        open_note(TEXT.replace("answer", "Answer") + "\n" + PETER_SIG, [PETER_VKEY])


@pytest.mark.parametrize("note", [
    TEXT,
    TEXT + "\n",
    TEXT + "\n" + PETER_SIG[:-1],
    "\x01" + TEXT + "\n" + PETER_SIG,
    b"\xff" + (TEXT + "\n" + PETER_SIG).encode(),
    TEXT + "\n" + "\u2014 Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNX"
    "gKvqfqdngotpRZb6KE6RyyBwJnAM=",
    TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
    TEXT + "\n" + PETER_SIG * 101,
    TEXT + "\n" + "\u2014 PeterNeumann AAAA\n",
], ids=["no-sigs", "blank-only", "no-final-newline", "control-char", "not-utf8", "bad-name",
        "unexpected-line", "too-many", "short-sig"])
def test_malformed_notes(note):
    with pytest.raises(MalformedNoteError, match="malformed note"):
        open_note(note, [PETER_VKEY])


def test_mangled_verifier_keys_are_refused():
    bad = [PETER_VKEY[i:j] for i in range(len(PETER_VKEY) + 1)
           for j in range(i + 1, len(PETER_VKEY) + 1) if (i, j) != (0, len(PETER_VKEY))]
    bad += [PETER_VKEY[:i] + chr(ord(PETER_VKEY[i]) + 1) + PETER_VKEY[i + 1:]
            for i in range(len(PETER_VKEY))]
    bad += ["PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
            "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"]
    for vkey in bad:
        with pytest.raises(NoteError):
            open_note(TEXT + "\n" + PETER_SIG, [vkey])


def test_c2sp_examples_parse():
    assert note_text(C2SP_CHECKPOINT) == C2SP_CHECKPOINT.split("\n\n")[0] + "\n"
    checkpoint = parse_checkpoint(note_text(C2SP_CHECKPOINT))
    assert checkpoint == Checkpoint("example.com/behind-the-sofa", 20852163, base64.b64decode(
        "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="))
    with pytest.raises(UnknownKeyError, match=r"example\.com/behind-the-sofa\+"):
        open_note(C2SP_CHECKPOINT, [PETER_VKEY])
    # the text runs to the *last* blank line: a poem's own blank line stays in it
    assert note_text(C2SP_NOTE).endswith(":\n\ned \u00e8 subito sera.\n")


def test_checkpoint_round_trip_and_extensions():
    root = hashlib.sha256(b"r").digest()
    text = make_checkpoint("example.com/dsr", 0, root)
    assert text == f"example.com/dsr\n0\n{base64.b64encode(root).decode()}\n"
    assert parse_checkpoint(text) == Checkpoint("example.com/dsr", 0, root)
    assert parse_checkpoint(text + "ext\n").extensions == ("ext",)


@pytest.mark.parametrize("text, message", [
    ("log\n5\n" + base64.b64encode(bytes(32)).decode(), "end with a newline"),
    ("log\n05\n" + base64.b64encode(bytes(32)).decode() + "\n", "decimal"),
    ("log\n-5\n" + base64.b64encode(bytes(32)).decode() + "\n", "decimal"),
    ("log\n5\n" + base64.b64encode(bytes(31)).decode() + "\n", "not 32 bytes"),
    ("log\n5\nnot base64!\n", "base64"),
    ("log\n5\n", "origin, size and root"),
    ("log\n5\n" + base64.b64encode(bytes(32)).decode() + "\n\n", "none empty"),
])
def test_malformed_checkpoints(text, message):
    with pytest.raises(MalformedNoteError, match=message):
        parse_checkpoint(text)


def test_bad_names_texts_and_origins_are_refused():
    key = Ed25519PrivateKey.generate()
    for name in ["", "a b", "a+b", "tab\tname"]:
        with pytest.raises(MalformedNoteError, match="key name"):
            sign_note(TEXT, name, key)
    for text in ["no newline", "bell\x07\n", ""]:
        with pytest.raises(MalformedNoteError, match="note text"):
            sign_note(text, "k", key)
    for origin in ["", "two\nlines"]:
        with pytest.raises(MalformedNoteError, match="origin"):
            make_checkpoint(origin, 1, bytes(32))
    with pytest.raises(MalformedNoteError, match="tree size"):
        make_checkpoint("log", -1, bytes(32))


def test_cosign_adds_a_second_signature_once():
    old, new = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    note = sign_note(TEXT, "example.com/old", old)
    both = cosign(note, "example.com/new", new)
    assert both.count("\u2014 ") == 2 and cosign(both, "example.com/new", new) == both
    assert open_note(both, [verifier_key("example.com/new", new.public_key())]) == TEXT
    assert open_note(both, [verifier_key("example.com/old", old.public_key())]) == TEXT


# --------------------------------------------------------------------------- the ledger

ORIGIN = "dsr.example.com/ledger"
NAME = "dsr.example.com/ledger"
KEY = Ed25519PrivateKey.generate()
VKEYS = [verifier_key(NAME, KEY.public_key())]


def _data(i: int) -> bytes:
    return hashlib.sha256(f"receipt {i}".encode()).digest()  # stands in for a receipt hash


@pytest.fixture(scope="module")
def urls(isolated_database, tmp_path_factory) -> dict[str, str]:
    return {"sqlite": f"sqlite:///{tmp_path_factory.mktemp('ledger') / 'state.sqlite'}",
            "postgresql": isolated_database("postgresql").url}


def _open(url: str) -> Store:
    return Store(url, DigestKey(b"k" * 32))


# The state store's backends (docs/configuration.md): MariaDB/MySQL cannot hold the
# request journal's keys (InnoDB's 3,072-byte key limit), so the ledger is not run there.
@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, urls) -> Iterator[Store]:
    store = _open(urls[request.param])
    yield store
    with store.engine.begin() as conn:  # the database is this module's own: empty it
        conn.execute(entries.delete())
        conn.execute(checkpoints.delete())
    store.close()


@pytest.fixture
def ledger(store) -> Ledger:
    return Ledger(store, ORIGIN)


def _fill(ledger: Ledger, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        assert ledger.append(_data(i), f"R{i}") == i


def test_empty_ledger(ledger):
    assert ledger.size() == 0
    assert ledger.root() == merkle.EMPTY_ROOT
    note = ledger.checkpoint(NAME, KEY)
    assert parse_checkpoint(open_note(note, VKEYS)) == Checkpoint(ORIGIN, 0, merkle.EMPTY_ROOT)
    report = ledger.verify(VKEYS)
    assert report.ok and report.size == 0 and report.checkpoints == 1


def test_append_proofs_and_checkpoints(ledger):
    _fill(ledger, 11)
    leaves = [merkle.leaf_hash(_data(i)) for i in range(11)]
    assert ledger.size() == 11
    assert [ledger.root(n) for n in range(12)] == [merkle.root(leaves[:n]) for n in range(12)]
    first = parse_checkpoint(open_note(ledger.checkpoint(NAME, KEY), VKEYS))
    _fill(ledger, 6, start=11)
    note = ledger.checkpoint(NAME, KEY)
    assert ledger.checkpoint_note() == note and ledger.checkpoint_note(11) is not None
    second = parse_checkpoint(open_note(note, VKEYS))  # what a third party would trust
    assert (first.size, second.size) == (11, 17)
    for index in range(17):
        proof = ledger.inclusion(index, 17)
        merkle.verify_inclusion(index, 17, merkle.leaf_hash(_data(index)), proof, second.root)
    merkle.verify_consistency(11, 17, first.root, second.root, ledger.consistency(11, 17))
    report = ledger.verify(VKEYS)
    assert report.ok, report.problems
    assert (report.size, report.checkpoints, report.verified_size) == (17, 2, 17)


def test_append_is_idempotent_per_receipt(ledger):
    _fill(ledger, 3)
    assert ledger.append(_data(1), "R1") == 1
    assert ledger.size() == 3 and ledger.index_of("R2") == 2 and ledger.index_of("R9") is None
    with pytest.raises(LedgerError, match="receipt R1 is already in the ledger"):
        ledger.append(_data(7), "R1")


def test_proof_requests_outside_the_ledger(ledger):
    _fill(ledger, 4)
    with pytest.raises(LedgerError, match="outside the ledger"):
        ledger.inclusion(0, 5)
    with pytest.raises(merkle.ProofError, match="no inclusion proof"):
        ledger.inclusion(4, 4)
    with pytest.raises(merkle.ProofError, match="no consistency proof"):
        ledger.consistency(4, 3)
    with pytest.raises(LedgerError):
        ledger.root(9)


def test_checkpoint_at_the_same_size_is_reused_or_cosigned(ledger):
    _fill(ledger, 2)
    note = ledger.checkpoint(NAME, KEY)
    assert ledger.checkpoint(NAME, KEY) == note
    new_key = Ed25519PrivateKey.generate()  # a rotated key signs the same tree head
    both = ledger.checkpoint("dsr.example.com/ledger-2", new_key)
    assert both.startswith(note) and both.count("\u2014 ") == 2
    assert ledger.verify([verifier_key("dsr.example.com/ledger-2",
                                       new_key.public_key())]).ok


def test_concurrent_appends_get_distinct_indexes(store, urls):
    other = _open(store.url)  # a second process would hold its own connections
    ledgers = [Ledger(store, ORIGIN), Ledger(other, ORIGIN)]
    got: list[list[int]] = [[], []]
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            got[n].extend(ledgers[n].append(_data(1000 * n + i), f"T{n}-{i}") for i in range(15))
        except BaseException as exc:  # surfaced below, a thread cannot raise into pytest
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    other.close()
    assert not errors
    assert sorted(got[0] + got[1]) == list(range(30))
    ledgers[0].checkpoint(NAME, KEY)
    assert ledgers[0].verify(VKEYS).ok


# --------------------------------------------------------------------------- tampering


def _exec(ledger: Ledger, statement: sa.Executable) -> None:
    with ledger.engine.begin() as conn:
        conn.execute(statement)


def _leaf_of(ledger: Ledger, idx: int) -> str:
    with ledger.engine.connect() as conn:
        return conn.execute(sa.select(entries.c.leaf_hash).where(entries.c.idx == idx)).scalar()


def _two_checkpoints(ledger: Ledger) -> None:
    _fill(ledger, 4)
    ledger.checkpoint(NAME, KEY)
    _fill(ledger, 4, start=4)
    ledger.checkpoint(NAME, KEY)


def _change(ledger: Ledger) -> None:
    _exec(ledger, entries.update().where(entries.c.idx == 5)
          .values(leaf_hash=merkle.leaf_hash(b"forged").hex()))


def _reorder(ledger: Ledger) -> None:
    a, b = _leaf_of(ledger, 5), _leaf_of(ledger, 6)
    _exec(ledger, entries.update().where(entries.c.idx == 5).values(leaf_hash=b))
    _exec(ledger, entries.update().where(entries.c.idx == 6).values(leaf_hash=a))


def _delete(ledger: Ledger) -> None:
    _exec(ledger, entries.delete().where(entries.c.idx == 5))


def _delete_and_close_the_gap(ledger: Ledger) -> None:
    _exec(ledger, entries.delete().where(entries.c.idx == 5))
    for idx in (6, 7):
        _exec(ledger, entries.update().where(entries.c.idx == idx).values(idx=idx - 1))


def _insert(ledger: Ledger) -> None:
    # shift 5.. up by one in two steps (no transient primary-key clash), then fill the slot
    _exec(ledger, entries.update().where(entries.c.idx >= 5).values(idx=entries.c.idx + 1000))
    _exec(ledger, entries.update().where(entries.c.idx >= 1000).values(idx=entries.c.idx - 999))
    _exec(ledger, entries.insert().values(idx=5, leaf_hash=merkle.leaf_hash(b"x").hex(),
                                          receipt_id="forged", appended_at=sa.func.now()))


def _corrupt(ledger: Ledger) -> None:
    _exec(ledger, entries.update().where(entries.c.idx == 5).values(leaf_hash="zz"))


@pytest.mark.parametrize("tamper, messages", [
    (_change, ["checkpoint at size 8: the entries do not hash to the signed root; an entry "
               "in [4, 8) was changed", "checkpoints at sizes 4 and 8 are not consistent"]),
    (_reorder, ["checkpoint at size 8: the entries do not hash to the signed root"]),
    (_delete, ["ledger entry 5 is missing",
               "checkpoint at size 8: its root cannot be recomputed, entry 5 is missing"]),
    (_delete_and_close_the_gap, ["checkpoint at size 8: the ledger holds only 7 entries"]),
    (_insert, ["checkpoint at size 8: the entries do not hash to the signed root; an entry "
               "in [4, 8)"]),
    (_corrupt, ["ledger entry 5: the stored leaf hash is not a 32-byte hex hash"]),
], ids=["change", "reorder", "delete", "delete-renumber", "insert", "corrupt"])
def test_tampered_entries_are_caught(ledger, tamper, messages):
    _two_checkpoints(ledger)
    assert ledger.verify(VKEYS).ok
    tamper(ledger)
    report = ledger.verify(VKEYS)
    assert not report.ok
    for message in messages:
        assert any(message in problem for problem in report.problems), report.problems
    assert report.verified_size == 4  # the earlier checkpoint still holds
    with pytest.raises(LedgerError):  # and the log will not sign over the damage
        ledger.checkpoint(NAME, KEY)


def test_an_entry_far_beyond_the_end_is_reported_as_a_gap(ledger):
    _two_checkpoints(ledger)
    _exec(ledger, entries.insert().values(idx=10**12, leaf_hash=merkle.leaf_hash(b"x").hex(),
                                          receipt_id="far", appended_at=sa.func.now()))
    report = ledger.verify(VKEYS)  # without allocating a slot per missing index
    assert report.problems == [f"ledger entries 8 to {10**12 - 1} are missing"]
    assert report.size == 10**12 + 1 and report.verified_size == 8


def test_signing_refuses_a_log_truncated_below_its_checkpoint(ledger):
    _two_checkpoints(ledger)
    _exec(ledger, entries.delete().where(entries.c.idx >= 6))
    with pytest.raises(LedgerError, match="covers more entries than the ledger holds"):
        ledger.checkpoint(NAME, KEY)


def _replace_note(ledger: Ledger, size: int, note: str) -> None:
    _exec(ledger, checkpoints.update().where(checkpoints.c.size == size).values(note=note))


def test_checkpoint_signed_by_another_key_is_caught(ledger):
    _two_checkpoints(ledger)
    text = make_checkpoint(ORIGIN, 8, ledger.root(8))
    _replace_note(ledger, 8, sign_note(text, "intruder.example", Ed25519PrivateKey.generate()))
    problems = ledger.verify(VKEYS).problems
    assert problems == ["checkpoint at size 8: note has no verifiable signatures: signed only "
                        f"by unknown key(s) intruder.example+{problems[0][-8:]}"]


def test_checkpoint_forged_under_our_key_name_is_caught(ledger):
    _two_checkpoints(ledger)
    text = make_checkpoint(ORIGIN, 8, ledger.root(8))
    forged = sign_note(text, NAME, Ed25519PrivateKey.generate())
    # same name; a key hash collision would lead to a failed signature, not acceptance
    head, _, sig = forged.rpartition(" ")
    ours = ledger.checkpoint_note(8).rpartition(" ")[2]
    raw = base64.b64decode(ours)[:4] + base64.b64decode(sig)[4:]
    _replace_note(ledger, 8, f"{head} {base64.b64encode(raw).decode()}\n")
    problems = ledger.verify(VKEYS).problems
    assert len(problems) == 1 and "invalid signature for key" in problems[0]


def test_checkpoint_for_another_log_or_size_is_caught(ledger):
    _two_checkpoints(ledger)
    _replace_note(ledger, 8, sign_note(make_checkpoint("other.example/log", 8, ledger.root(8)),
                                       NAME, KEY))
    _replace_note(ledger, 4, sign_note(make_checkpoint(ORIGIN, 5, ledger.root(5)), NAME, KEY))
    problems = ledger.verify(VKEYS).problems
    assert any("size 8: signed for another log" in p for p in problems), problems
    assert any("size 4: the signed note is for size 5" in p for p in problems), problems


def test_a_ledger_verified_under_another_origin_fails(store):
    _fill(Ledger(store, ORIGIN), 3)
    Ledger(store, ORIGIN).checkpoint(NAME, KEY)
    report = Ledger(store, "someone-else.example/log").verify(VKEYS)
    assert not report.ok and "signed for another log" in report.problems[0]


def test_entries_after_the_last_checkpoint_are_reported_unchecked(ledger):
    _two_checkpoints(ledger)
    _fill(ledger, 3, start=8)
    report = ledger.verify(VKEYS)
    assert report.ok and report.unchecked == 3


def test_verify_needs_well_formed_keys(ledger):
    _two_checkpoints(ledger)
    with pytest.raises(MalformedNoteError, match="verifier key"):
        ledger.verify(["not a key"])
    with pytest.raises(NoteError, match="no verifier keys"):
        ledger.verify([])
    assert ledger.verify(VKEYS[0]).ok  # one key as a plain string


def test_unusable_origin_is_refused(store):
    with pytest.raises(MalformedNoteError, match="origin"):
        Ledger(store, "two\nlines")
