"""RFC 9162 (Certificate Transparency v2) Merkle tree hashing, proofs and their verification.

Pure functions over leaf hashes. Leaves are hashed SHA-256(0x00 || data), interior nodes
SHA-256(0x01 || left || right) (RFC 9162 §2.1.1), so a leaf can never pass for a node.
Proofs are built from the subtree ranges of §2.1.3.1 / §2.1.4.1 (``inclusion_ranges``,
``consistency_ranges``), which lets a store fetch one range per proof node; verification
follows §2.1.3.2 and §2.1.4.2 step by step.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from agent.errors import EXIT_VERIFICATION_FAILED, DsrError

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

Range = tuple[int, int]  # [start, end) of leaf indexes


class ProofError(DsrError):
    """A proof, root or tree size does not verify (or a proof was asked for nonsense)."""

    exit_code = EXIT_VERIFICATION_FAILED


# --------------------------------------------------------------------------- hashing


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH(D[n]) over already-hashed leaves; the empty tree's root is SHA-256 of nothing."""
    if not leaf_hashes:
        return EMPTY_ROOT
    # Bottom-up: pair neighbours level by level; an odd last node is carried up unchanged,
    # which gives the same tree as the recursive split at the largest power of two.
    level = list(leaf_hashes)
    while len(level) > 1:
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


# --------------------------------------------------------------------------- proof shapes


def inclusion_ranges(index: int, size: int) -> list[Range]:
    """The leaf ranges whose subtree hashes make PATH(index, D[size]), leaf end first."""
    if not 0 <= index < size:
        raise ProofError(f"no inclusion proof for leaf {index} in a tree of size {size}")
    out: list[Range] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index - start < k:
            out.append((start + k, end))
            end = start + k
        else:
            out.append((start, start + k))
            start += k
    out.reverse()
    return out


def consistency_ranges(old_size: int, new_size: int) -> list[Range]:
    """The leaf ranges whose subtree hashes make PROOF(old_size, D[new_size])."""
    if not 0 <= old_size <= new_size:
        raise ProofError(f"no consistency proof from size {old_size} to size {new_size}")
    if old_size in (0, new_size):
        return []
    out: list[Range] = []
    m, start, end, whole = old_size, 0, new_size, True
    while m != end - start:
        k = _split(end - start)
        if m <= k:
            out.append((start + k, end))
            end = start + k
        else:
            out.append((start, start + k))
            m, start, whole = m - k, start + k, False
    if not whole:  # SUBPROOF(m, D[m], false) = {MTH(D[m])}
        out.append((start, end))
    out.reverse()
    return out


def inclusion_proof(index: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    return [root(leaf_hashes[a:b]) for a, b in inclusion_ranges(index, len(leaf_hashes))]


def consistency_proof(old_size: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    return [root(leaf_hashes[a:b])
            for a, b in consistency_ranges(old_size, len(leaf_hashes))]


# --------------------------------------------------------------------------- verification


def _check_hash(value: bytes, what: str) -> None:
    if not isinstance(value, bytes | bytearray) or len(value) != HASH_SIZE:
        raise ProofError(f"{what} is not a {HASH_SIZE}-byte SHA-256 hash")


def _check_proof(proof: Sequence[bytes]) -> None:
    for i, node in enumerate(proof):
        _check_hash(node, f"proof node {i}")


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes],
                     root_hash: bytes) -> None:
    """RFC 9162 §2.1.3.2: raises ProofError unless the proof puts ``leaf`` at ``index``."""
    _check_hash(leaf, "leaf hash")
    _check_hash(root_hash, "root hash")
    _check_proof(proof)
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of size {size}")
    fn, sn, r = index, size - 1, bytes(leaf)
    for p in proof:
        if sn == 0:
            raise ProofError(f"inclusion proof for leaf {index} in size {size} is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError(f"inclusion proof for leaf {index} in size {size} is too short")
    if r != root_hash:
        raise ProofError(f"inclusion proof for leaf {index} in size {size} does not lead to "
                         "the root hash")


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes,
                       proof: Sequence[bytes]) -> None:
    """RFC 9162 §2.1.4.2: raises ProofError unless the tree of ``old_size`` is a prefix of
    the tree of ``new_size``. Equal sizes need equal roots and an empty proof; size 0 is the
    empty tree (its root SHA-256 of nothing), a prefix of every tree."""
    _check_hash(old_root, "old root hash")
    _check_hash(new_root, "new root hash")
    _check_proof(proof)
    what = f"consistency from size {old_size} to size {new_size}"
    if old_size < 0 or new_size < old_size:
        raise ProofError(f"{what}: a tree cannot shrink")
    if old_size == new_size or old_size == 0:
        if proof:
            raise ProofError(f"{what}: the proof must be empty")
        expected = new_root if old_size == new_size else EMPTY_ROOT
        if old_root != expected:
            raise ProofError(f"{what}: the roots differ")
        return
    if not proof:
        raise ProofError(f"{what}: the proof is empty")
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # an exact power of two: the old root is a node
        path.insert(0, bytes(old_root))
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError(f"{what}: the proof is too long")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError(f"{what}: the proof is too short")
    if fr != old_root:
        raise ProofError(f"{what}: the proof does not lead to the old root")
    if sr != new_root:
        raise ProofError(f"{what}: the proof does not lead to the new root")
