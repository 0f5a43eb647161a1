"""RFC 9162 Merkle hashing and proofs against the published transparency-dev test vectors.

Vectors (tests/data/merkle/, see SOURCES.txt there) come from github.com/transparency-dev/merkle:
testonly/constants.go, proof/verify_test.go, rfc6962/rfc6962_test.go and testdata/{inclusion,
consistency}/*/*.json. The corruption probes below port corruptInclusionProof and
corruptConsistencyProof from proof/verify_test.go.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.merkle import (
    EMPTY_ROOT,
    ProofError,
    consistency_proof,
    consistency_ranges,
    inclusion_proof,
    inclusion_ranges,
    leaf_hash,
    node_hash,
    root,
    verify_consistency,
    verify_inclusion,
)

DATA = Path(__file__).parent / "data" / "merkle"
VECTORS = json.loads((DATA / "rfc6962_vectors.json").read_text())
LEAVES = [leaf_hash(bytes.fromhex(x)) for x in VECTORS["leaves"]]
ROOTS = [bytes.fromhex(x) for x in VECTORS["roots"]]
SOME_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")


def _hexes(values: list[str]) -> list[bytes]:
    return [bytes.fromhex(v) for v in values]


# --------------------------------------------------------------------------- hashing


def test_hasher_vectors():
    want = VECTORS["hasher"]
    assert root([]).hex() == want["empty_root"] == EMPTY_ROOT.hex()
    assert leaf_hash(b"").hex() == want["empty_leaf"]
    assert leaf_hash(b"L123456").hex() == want["leaf_L123456"]
    assert node_hash(b"N123", b"N456").hex() == want["node_N123_N456"]


def test_leaf_and_node_hashes_are_domain_separated():
    a, b = leaf_hash(b"Hello"), leaf_hash(b"World")
    assert a != b
    assert node_hash(a, b) != leaf_hash(a + b)
    assert node_hash(a, b) != node_hash(b, a)


@pytest.mark.parametrize("size", range(9))
def test_roots_of_every_prefix(size):
    assert root(LEAVES[:size]) == ROOTS[size]


def test_complete_subtree_hashes():
    for level, hashes in enumerate(VECTORS["node_hashes"]):
        width = 1 << level
        for i, want in enumerate(hashes):
            assert root(LEAVES[i * width:(i + 1) * width]).hex() == want


# --------------------------------------------------------------------------- published proofs


def _inclusion_probes(index: int, size: int, proof: list[bytes], root_hash: bytes,
                      leaf: bytes) -> Iterator[tuple[str, tuple[Any, ...]]]:
    """corruptInclusionProof from proof/verify_test.go: every probe must fail."""
    yield "index - 1", (index - 1, size, leaf, proof, root_hash)
    yield "index + 1", (index + 1, size, leaf, proof, root_hash)
    yield "index ^ 2", (index ^ 2, size, leaf, proof, root_hash)
    yield "size * 2", (index, size * 2, leaf, proof, root_hash)
    yield "size / 2", (index, size // 2, leaf, proof, root_hash)
    yield "wrong leaf", (index, size, b"WrongLeaf", proof, root_hash)
    yield "empty root", (index, size, leaf, proof, EMPTY_ROOT)
    yield "random root", (index, size, leaf, proof, SOME_HASH)
    yield "trailing garbage", (index, size, leaf, [*proof, b""], root_hash)
    yield "trailing root", (index, size, leaf, [*proof, root_hash], root_hash)
    yield "preceding garbage", (index, size, leaf, [b"", *proof], root_hash)
    yield "preceding root", (index, size, leaf, [root_hash, *proof], root_hash)
    for i in range(len(proof)):
        wrong = list(proof)
        wrong[i] = bytes([wrong[i][0] ^ 8]) + wrong[i][1:]
        yield f"modified proof[{i}] bit 3", (index, size, leaf, wrong, root_hash)
    if proof:
        yield "removed component", (index, size, leaf, proof[:-1], root_hash)
    if len(proof) > 1:
        yield "inserted component", (index, size, leaf, [proof[0], SOME_HASH, *proof[1:]],
                                     root_hash)


def _consistency_probes(size1: int, size2: int, root1: bytes, root2: bytes,
                        proof: list[bytes]) -> Iterator[tuple[str, tuple[Any, ...]]]:
    """corruptConsistencyProof from proof/verify_test.go: every probe must fail."""
    yield "size1 - 1", (size1 - 1, size2, root1, root2, proof)
    yield "size1 + 1", (size1 + 1, size2, root1, root2, proof)
    yield "size1 ^ 2", (size1 ^ 2, size2, root1, root2, proof)
    yield "size2 * 2", (size1, size2 * 2, root1, root2, proof)
    yield "size2 / 2", (size1, size2 // 2, root1, root2, proof)
    yield "wrong root1", (size1, size2, b"WrongRoot", root2, proof)
    yield "wrong root2", (size1, size2, root1, b"WrongRoot", proof)
    yield "swapped roots", (size1, size2, root2, root1, proof)
    yield "empty proof", (size1, size2, root1, root2, [])
    yield "trailing garbage", (size1, size2, root1, root2, [*proof, b""])
    yield "trailing root1", (size1, size2, root1, root2, [*proof, root1])
    yield "trailing root2", (size1, size2, root1, root2, [*proof, root2])
    yield "preceding garbage", (size1, size2, root1, root2, [b"", *proof])
    yield "preceding root1", (size1, size2, root1, root2, [root1, *proof])
    yield "preceding root2", (size1, size2, root1, root2, [root2, *proof])
    yield "preceding proof[0]", (size1, size2, root1, root2, [proof[0], *proof])
    yield "truncated proof", (size1, size2, root1, root2, proof[:-1])
    for i in range(len(proof)):
        wrong = list(proof)
        wrong[i] = bytes([wrong[i][0] ^ 16]) + wrong[i][1:]
        yield f"modified proof[{i}] bit 4", (size1, size2, root1, root2, wrong)


@pytest.mark.parametrize("vector", VECTORS["inclusion_proofs"],
                         ids=lambda v: f"{v['leaf']}-of-{v['size']}")
def test_published_inclusion_proofs(vector):
    index, size, want = vector["leaf"] - 1, vector["size"], _hexes(vector["proof"])
    assert inclusion_proof(index, LEAVES[:size]) == want
    verify_inclusion(index, size, LEAVES[index], want, ROOTS[size])
    accepted = []
    for desc, args in _inclusion_probes(index, size, want, ROOTS[size], LEAVES[index]):
        try:
            verify_inclusion(*args)
            accepted.append(desc)
        except ProofError:
            pass
    assert accepted == []


@pytest.mark.parametrize("vector", VECTORS["consistency_proofs"],
                         ids=lambda v: f"{v['size1']}-to-{v['size2']}")
def test_published_consistency_proofs(vector):
    size1, size2, want = vector["size1"], vector["size2"], _hexes(vector["proof"])
    assert consistency_proof(size1, LEAVES[:size2]) == want
    verify_consistency(size1, size2, ROOTS[size1], ROOTS[size2], want)
    if not want:
        return  # as in Go: only non-trivial proofs are corrupted
    accepted = []
    for desc, args in _consistency_probes(size1, size2, ROOTS[size1], ROOTS[size2], want):
        try:
            verify_consistency(*args)
            accepted.append(desc)
        except ProofError:
            pass
    assert accepted == []


def _testdata(kind: str) -> list[Path]:
    return sorted((DATA / "testdata" / kind).glob("*/*.json"))


def _b64s(values: list[str] | None) -> list[bytes]:
    return [base64.b64decode(v) for v in values or []]


@pytest.mark.parametrize("path", _testdata("inclusion"), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_transparency_dev_inclusion_testdata(path):
    case = json.loads(path.read_text())
    args = (case["leafIdx"], case["treeSize"], base64.b64decode(case["leafHash"]),
            _b64s(case["proof"]), base64.b64decode(case["root"]))
    if case["wantErr"]:
        with pytest.raises(ProofError):
            verify_inclusion(*args)
    else:
        verify_inclusion(*args)


@pytest.mark.parametrize("path", _testdata("consistency"),
                         ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_transparency_dev_consistency_testdata(path):
    case = json.loads(path.read_text())
    args = (case["size1"], case["size2"], base64.b64decode(case["root1"]),
            base64.b64decode(case["root2"]), _b64s(case["proof"]))
    if case["wantErr"]:
        with pytest.raises(ProofError):
            verify_consistency(*args)
    else:
        verify_consistency(*args)


# Proof shapes from proof/proof_test.go (TestInclusion, TestConsistency), node ids turned into
# the leaf ranges they cover; a "rehash" of several nodes is the one range they make up.
@pytest.mark.parametrize("index, size, ranges", [
    (0, 1, []),
    (0, 2, [(1, 2)]),
    (1, 3, [(0, 1), (2, 3)]),
    (0, 7, [(1, 2), (2, 4), (4, 7)]),
    (2, 7, [(3, 4), (0, 2), (4, 7)]),
    (4, 7, [(5, 6), (6, 7), (0, 4)]),
    (6, 7, [(4, 6), (0, 4)]),
    (3, 5, [(2, 3), (0, 2), (4, 5)]),
    (3, 6, [(2, 3), (0, 2), (4, 6)]),
    (4, 6, [(5, 6), (0, 4)]),
    (10, 15, [(11, 12), (8, 10), (12, 15), (0, 8)]),
])
def test_inclusion_shapes(index, size, ranges):
    assert inclusion_ranges(index, size) == ranges


@pytest.mark.parametrize("old, new, ranges", [
    (1, 2, [(1, 2)]),
    (1, 4, [(1, 2), (2, 4)]),
    (1, 6, [(1, 2), (2, 4), (4, 6)]),
    (2, 3, [(2, 3)]),
    (2, 8, [(2, 4), (4, 8)]),
    (3, 7, [(2, 3), (3, 4), (0, 2), (4, 7)]),
    (4, 7, [(4, 7)]),
    (5, 7, [(4, 5), (5, 6), (6, 7), (0, 4)]),
    (6, 7, [(4, 6), (6, 7), (0, 4)]),
    (7, 8, [(6, 7), (7, 8), (4, 6), (0, 4)]),
    (3, 3, []),
    (8, 8, []),
    (2, 4, [(2, 4)]),
    (3, 5, [(2, 3), (3, 4), (0, 2), (4, 5)]),
    (4, 6, [(4, 6)]),
    (1, 7, [(1, 2), (2, 4), (4, 7)]),
    (24, 31, [(16, 24), (24, 31), (0, 16)]),
])
def test_consistency_shapes(old, new, ranges):
    assert consistency_ranges(old, new) == ranges


# --------------------------------------------------------------------------- edge cases


@pytest.mark.parametrize("index, size", [(0, 0), (1, 0), (1, 1), (2, 1), (-1, 3), (3, 3)])
def test_inclusion_outside_the_tree_is_rejected(index, size):
    with pytest.raises(ProofError, match="outside a tree"):
        verify_inclusion(index, size, SOME_HASH, [], SOME_HASH)
    with pytest.raises(ProofError, match="no inclusion proof"):
        inclusion_ranges(index, size)


def test_single_entry_tree():
    leaf = leaf_hash(b"data")
    verify_inclusion(0, 1, leaf, [], leaf)  # root and leaf hash of a 1-entry tree agree
    for bad_leaf, bad_root in [(leaf, b""), (b"", leaf), (b"", b"")]:
        with pytest.raises(ProofError, match="32-byte"):
            verify_inclusion(0, 1, bad_leaf, [], bad_root)


@pytest.mark.parametrize("old, new, root1, root2, proof, message", [
    (1, 0, SOME_HASH, SOME_HASH, [], "cannot shrink"),
    (2, 1, SOME_HASH, SOME_HASH, [], "cannot shrink"),
    (1, 1, EMPTY_ROOT, SOME_HASH, [], "roots differ"),
    (1, 2, SOME_HASH, EMPTY_ROOT, [], "proof is empty"),
    (0, 0, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT], "must be empty"),
    (0, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT], "must be empty"),
    (1, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT], "must be empty"),
    (0, 3, SOME_HASH, ROOTS[3], [], "roots differ"),  # size 0 is the empty tree
    (1, 8, b"WrongRoot", ROOTS[8], [], "32-byte"),
])
def test_consistency_edge_cases_rejected(old, new, root1, root2, proof, message):
    with pytest.raises(ProofError, match=message):
        verify_consistency(old, new, root1, root2, proof)


def test_consistency_trivial_cases_accepted():
    verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    verify_consistency(0, 5, EMPTY_ROOT, ROOTS[5], [])
    verify_consistency(5, 5, ROOTS[5], ROOTS[5], [])


def test_proofs_for_sizes_beyond_the_leaves_are_refused():
    with pytest.raises(ProofError):
        consistency_proof(9, LEAVES)
    with pytest.raises(ProofError):
        inclusion_proof(8, LEAVES)


# --------------------------------------------------------------------------- every small tree


def _flip(proof: list[bytes], i: int) -> list[bytes]:
    out = list(proof)
    out[i] = bytes([out[i][0] ^ 1]) + out[i][1:]
    return out


def _rejects(verify: Any, *args: Any) -> bool:
    try:
        verify(*args)
    except ProofError:
        return True
    return False


def test_every_proof_up_to_64_leaves_verifies_and_tampering_fails():
    rng = random.Random(9162)
    leaves = [hashlib.sha256(rng.randbytes(16)).digest() for _ in range(128)]
    roots = [root(leaves[:n]) for n in range(129)]
    for size in range(1, 65):
        for index in range(size):
            proof = inclusion_proof(index, leaves[:size])
            assert len(proof) <= (size - 1).bit_length()
            verify_inclusion(index, size, leaves[index], proof, roots[size])
            bad = [(index, size, leaves[index], _flip(proof, i), roots[size])
                   for i in range(len(proof))]
            bad += [(index, size, leaves[index], proof, roots[size - 1]),
                    (index, size, leaves[index ^ 1], proof, roots[size]),
                    (index, size * 2, leaves[index], proof, roots[size]),
                    (index ^ 1, size, leaves[index], proof, roots[size]),
                    (index, size, leaves[index], [*proof, leaves[0]], roots[size])]
            if proof:
                bad.append((index, size, leaves[index], proof[:-1], roots[size]))
            if index < size // 2:
                bad.append((index, size // 2, leaves[index], proof, roots[size]))
            for args in bad:
                assert _rejects(verify_inclusion, *args), (index, size, args[0], args[1])
        for old in range(size + 1):
            proof = consistency_proof(old, leaves[:size])
            verify_consistency(old, size, roots[old], roots[size], proof)
            if old in (0, size):
                continue
            bad = [(old, size, roots[old], roots[size], _flip(proof, i))
                   for i in range(len(proof))]
            bad += [(old - 1, size, roots[old], roots[size], proof),
                    (old + 1, size, roots[old], roots[size], proof),
                    (old, size * 2, roots[old], roots[size], proof),
                    (old, size, roots[old - 1], roots[size], proof),
                    (old, size, roots[old], roots[size + 1], proof),
                    (old, size, roots[old], roots[size], proof[:-1])]
            for args in bad:
                assert _rejects(verify_consistency, *args), (old, size, args[:2])

