"""The append-only Merkle log receipts go into, with signed checkpoints.

Each entry is the RFC 9162 leaf hash of what was appended (a receipt's hash) at a dense
index; a checkpoint is a C2SP signed note over the tree's size and root, kept so anyone
holding our public key can check an inclusion proof, and so two checkpoints prove the log
only ever grew. ``verify`` recomputes every checkpoint from the entries: a changed,
reordered, removed or inserted entry below the latest checkpoint is caught; entries after
it are covered once the next checkpoint is signed. The ledger holds hashes and receipt ids,
never personal data, and its messages name indexes and sizes only.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError, OperationalError

from agent import merkle
from agent.checkpoint import (
    NoteError,
    check_verifier_keys,
    cosign,
    make_checkpoint,
    note_text,
    open_note,
    parse_checkpoint,
    sign_note,
)
from agent.errors import EXIT_VERIFICATION_FAILED, DsrError
from agent.store import Store, create_tables, metadata

entries = sa.Table(
    "dsr_ledger_entries", metadata,
    sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("leaf_hash", sa.String(64), nullable=False),  # hex
    sa.Column("receipt_id", sa.String(100), nullable=False, unique=True),
    sa.Column("appended_at", sa.DateTime(timezone=True), nullable=False),
)

checkpoints = sa.Table(
    "dsr_ledger_checkpoints", metadata,
    sa.Column("size", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("root", sa.String(64), nullable=False),  # hex
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

_ATTEMPTS = 50  # concurrent writers lose a race on the primary key and try again


class LedgerError(DsrError):
    """The ledger cannot do what was asked, or found itself altered."""

    exit_code = EXIT_VERIFICATION_FAILED


@dataclass
class LedgerReport:
    size: int  # entries held (highest index + 1)
    checkpoints: int  # checkpoints stored
    verified_size: int  # the largest checkpointed size that verified against the entries
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def unchecked(self) -> int:
        """Entries after the latest verified checkpoint: not yet covered by a signature."""
        return max(self.size - self.verified_size, 0)


_TRANSIENT = ("lock", "busy", "deadlock", "serializ")


def _back_off(exc: IntegrityError | OperationalError) -> None:
    """Wait a moment after losing a race; re-raise anything that is not a race (a server
    that went away should say so, not be retried as 'busy')."""
    if isinstance(exc, OperationalError) and not any(
            word in str(exc.orig).lower() for word in _TRANSIENT):
        raise exc
    time.sleep(random.uniform(0.001, 0.02))


def _now() -> datetime:
    return datetime.now(UTC)


def _leaf_bytes(idx: int, value: str) -> bytes:
    try:
        raw = bytes.fromhex(value)
    except (TypeError, ValueError):
        raw = b""
    if len(raw) != merkle.HASH_SIZE:
        raise LedgerError(f"ledger entry {idx}: the stored leaf hash is not a 32-byte hex hash")
    return raw


class Ledger:
    def __init__(self, store: Store, origin: str) -> None:
        make_checkpoint(origin, 0, merkle.EMPTY_ROOT)  # rejects an unusable origin early
        self.store = store
        self.engine = store.engine
        self.origin = origin
        create_tables(self.engine)

    # ------------------------------------------------------------------ writing
    def append(self, data: bytes, receipt_id: str) -> int:
        """Append ``data`` (a receipt's hash) and return its index. Appending the same
        receipt again returns its first index, so a resumed run cannot log it twice."""
        leaf = merkle.leaf_hash(data).hex()
        for _ in range(_ATTEMPTS):
            try:
                with self.engine.begin() as conn:
                    return self._append(conn, leaf, receipt_id)
            except (IntegrityError, OperationalError) as exc:
                # another writer took the index (or holds a lock): re-read and try again
                _back_off(exc)
        raise LedgerError(f"could not append receipt {receipt_id}: the ledger stayed busy")

    def _append(self, conn: Connection, leaf: str, receipt_id: str) -> int:
        existing = conn.execute(sa.select(entries.c.idx, entries.c.leaf_hash)
                                .where(entries.c.receipt_id == receipt_id)).first()
        if existing is not None:
            if existing.leaf_hash != leaf:
                raise LedgerError(f"receipt {receipt_id} is already in the ledger (entry "
                                  f"{existing.idx}) with a different hash")
            return int(existing.idx)
        idx = int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(entries.c.idx) + 1, 0)))
                  .scalar_one())
        conn.execute(entries.insert().values(idx=idx, leaf_hash=leaf, receipt_id=receipt_id,
                                             appended_at=_now()))
        return idx

    def checkpoint(self, name: str, private_key: Ed25519PrivateKey) -> str:
        """Sign and store a checkpoint for the current size; returns the note. Refuses when
        the entries no longer match the latest stored checkpoint: a log must never sign a
        tree inconsistent with one it signed before."""
        for _ in range(_ATTEMPTS):
            size = self.size()
            leaves = self._leaves(0, size)
            if not self._consistent_with_latest(leaves):
                continue  # another writer appended and signed meanwhile: look again
            try:
                with self.engine.begin() as conn:
                    return self._store_checkpoint(conn, size, merkle.root(leaves), name,
                                                  private_key)
            except (IntegrityError, OperationalError) as exc:
                _back_off(exc)
        raise LedgerError("could not store the checkpoint: the ledger stayed busy")

    def _consistent_with_latest(self, leaves: Sequence[bytes]) -> bool:
        """True when the latest checkpoint is a prefix of ``leaves``; False when it is newer
        than them (a race); raises when the entries contradict it."""
        with self.engine.connect() as conn:
            latest = conn.execute(sa.select(checkpoints.c.size, checkpoints.c.root)
                                  .order_by(checkpoints.c.size.desc()).limit(1)).first()
        if latest is None:
            return True
        if latest.size > len(leaves):
            if self.size() < latest.size:
                raise LedgerError(f"refusing to sign: the checkpoint at size {latest.size} "
                                  "covers more entries than the ledger holds (entries removed)")
            return False
        if merkle.root(leaves[:latest.size]).hex() != latest.root:
            raise LedgerError("refusing to sign: the entries no longer match the checkpoint "
                              f"at size {latest.size} (the ledger was altered)")
        return True

    def _store_checkpoint(self, conn: Connection, size: int, root: bytes, name: str,
                          private_key: Ed25519PrivateKey) -> str:
        text = make_checkpoint(self.origin, size, root)
        row = conn.execute(sa.select(checkpoints.c.note)
                           .where(checkpoints.c.size == size)).first()
        if row is None:
            note = sign_note(text, name, private_key)
            conn.execute(checkpoints.insert().values(size=size, root=root.hex(), note=note,
                                                     created_at=_now()))
            return note
        if note_text(row.note) != text:
            raise LedgerError(f"the stored checkpoint at size {size} differs from the entries "
                              "(the ledger was altered)")
        note = cosign(row.note, name, private_key)
        if note != row.note:
            conn.execute(checkpoints.update().where(checkpoints.c.size == size)
                         .values(note=note))
        return note

    # ------------------------------------------------------------------ reading
    def size(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(entries.c.idx) + 1,
                                                               0))).scalar_one())

    def root(self, size: int | None = None) -> bytes:
        size = self._size_arg(size)
        return merkle.root(self._leaves(0, size))

    def inclusion(self, index: int, size: int) -> list[bytes]:
        """The inclusion proof of entry ``index`` in the tree of ``size``: one query per proof
        node, each reading the leaves of one subtree."""
        self._size_arg(size)
        return [merkle.root(self._leaves(a, b)) for a, b in merkle.inclusion_ranges(index, size)]

    def consistency(self, old: int, new: int) -> list[bytes]:
        self._size_arg(new)
        return [merkle.root(self._leaves(a, b)) for a, b in merkle.consistency_ranges(old, new)]

    def checkpoint_note(self, size: int | None = None) -> str | None:
        """The stored note for ``size``, or the latest one when no size is given."""
        query = sa.select(checkpoints.c.note)
        query = (query.order_by(checkpoints.c.size.desc()).limit(1) if size is None
                 else query.where(checkpoints.c.size == size))
        with self.engine.connect() as conn:
            return conn.execute(query).scalar_one_or_none()

    def index_of(self, receipt_id: str) -> int | None:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(entries.c.idx)
                                .where(entries.c.receipt_id == receipt_id)).scalar_one_or_none()

    def _size_arg(self, size: int | None) -> int:
        current = self.size()
        if size is None:
            return current
        if not 0 <= size <= current:
            raise LedgerError(f"tree size {size} is outside the ledger (size {current})")
        return size

    def _leaves(self, start: int, end: int) -> list[bytes]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(entries.c.idx, entries.c.leaf_hash)
                                .where(entries.c.idx >= start, entries.c.idx < end)
                                .order_by(entries.c.idx)).all()
        leaves = []
        for expected, row in enumerate(rows, start):
            if row.idx != expected:
                raise LedgerError(f"ledger entry {expected} is missing")
            leaves.append(_leaf_bytes(row.idx, row.leaf_hash))
        if len(leaves) != end - start:
            raise LedgerError(f"ledger entry {start + len(leaves)} is missing")
        return leaves

    # ------------------------------------------------------------------ verification
    def verify(self, verifier_keys: Sequence[str]) -> LedgerReport:
        """Check every stored checkpoint: its signature, its root against the entries, and
        its consistency with the checkpoint before it. Loads all leaf hashes once."""
        if isinstance(verifier_keys, str):
            verifier_keys = [verifier_keys]
        if not verifier_keys:
            raise NoteError("no verifier keys given: checkpoints cannot be checked")
        check_verifier_keys(verifier_keys)
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(entries.c.idx, entries.c.leaf_hash)
                                .order_by(entries.c.idx)).all()
            stored = conn.execute(sa.select(checkpoints.c.size, checkpoints.c.root,
                                            checkpoints.c.note)
                                  .order_by(checkpoints.c.size)).all()
        problems: list[str] = []
        leaves, size = _load_leaves(rows, problems)
        report = LedgerReport(size=size, checkpoints=len(stored), verified_size=0,
                              problems=problems)
        previous: tuple[int, bytes] | None = None  # the last checkpoint whose signature held
        for row in stored:
            signed = self._signed_checkpoint(row, verifier_keys, problems)
            if signed is None:
                continue
            signed_size, signed_root = signed
            if signed_size > size:
                problems.append(f"checkpoint at size {signed_size}: the ledger holds only "
                                f"{size} entries (entries were removed)")
            elif signed_size > len(leaves):
                problems.append(f"checkpoint at size {signed_size}: its root cannot be "
                                f"recomputed, entry {len(leaves)} is missing or corrupt")
            else:
                _check_root(leaves, signed_size, signed_root, report)
                if previous is not None:
                    _check_consistency(leaves, previous, signed, problems)
            previous = signed
        return report

    def _signed_checkpoint(self, row: sa.Row, verifier_keys: Sequence[str],
                           problems: list[str]) -> tuple[int, bytes] | None:
        """The (size, root) a stored checkpoint signs, when its signature and fields hold."""
        where = f"checkpoint at size {row.size}"
        try:
            checkpoint = parse_checkpoint(open_note(row.note, verifier_keys))
        except NoteError as exc:
            problems.append(f"{where}: {exc}")
            return None
        if checkpoint.origin != self.origin:
            problems.append(f"{where}: signed for another log (origin {checkpoint.origin!r})")
            return None
        if checkpoint.size != row.size:
            problems.append(f"{where}: the signed note is for size {checkpoint.size}")
            return None
        if checkpoint.root.hex() != row.root:
            problems.append(f"{where}: the stored root differs from the signed root")
        return checkpoint.size, checkpoint.root


def _load_leaves(rows: Sequence[sa.Row], problems: list[str]) -> tuple[list[bytes], int]:
    """The leaf hashes from index 0 up to the first missing or corrupt entry, and the size
    the entries claim (highest index + 1). Rows come ordered by index."""
    intact: list[bytes] = []
    expected, broken = 0, False
    for row in rows:
        if row.idx < 0:
            problems.append("a ledger entry has a negative index")
            continue
        if row.idx > expected:
            problems.append(f"ledger entry {expected} is missing" if row.idx == expected + 1
                            else f"ledger entries {expected} to {row.idx - 1} are missing")
            broken = True
        expected = row.idx + 1
        try:
            leaf = _leaf_bytes(row.idx, row.leaf_hash)
        except LedgerError as exc:
            problems.append(str(exc))
            broken = True
            continue
        if not broken:
            intact.append(leaf)
    return intact, expected


def _check_root(leaves: list[bytes], size: int, signed_root: bytes,
                report: LedgerReport) -> None:
    if merkle.root(leaves[:size]) == signed_root:
        report.verified_size = max(report.verified_size, size)
        return
    report.problems.append(
        f"checkpoint at size {size}: the entries do not hash to the signed root; an entry "
        f"in [{report.verified_size}, {size}) was changed, removed, inserted or reordered")


def _check_consistency(leaves: list[bytes], old: tuple[int, bytes], new: tuple[int, bytes],
                       problems: list[str]) -> None:
    proof = merkle.consistency_proof(old[0], leaves[:new[0]])
    try:
        merkle.verify_consistency(old[0], new[0], old[1], new[1], proof)
    except merkle.ProofError as exc:
        problems.append(f"checkpoints at sizes {old[0]} and {new[0]} are not consistent: {exc}")
