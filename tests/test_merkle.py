"""The audit log's RFC 6962 hashing against published vectors and a literal transcription of the RFC's
definitions; its signed checkpoints and keys.

The vectors are transparency-dev/merkle's (github.com/transparency-dev/merkle, commit 417fb0c3), where
certificate-transparency's own test data now lives:
- ``testonly/constants.go``: the eight leaf inputs, every complete subtree's hash, the root of every size;
- ``testdata/inclusion/*/happy-path.json`` and ``testdata/consistency/*/happy-path.json``: proofs (base64
  there, hex here);
- ``testonly/vectors_test.go``: the accumulated "Subtree Test Vectors" of draft-ietf-plants-merkle-tree-certs,
  one SHA-256 over every subtree hash and every inclusion proof of a 130-leaf tree.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from audit.checkpoint import (
    Checkpoint,
    canonical_event,
    checkpoint_message,
    generate_key,
    load_or_create_key,
    load_private_key,
    parse_public_key,
    private_key_b64,
    private_key_pem,
    public_key_b64,
    public_key_pem,
    save_private_key,
    sign_checkpoint,
    verify_checkpoint,
)
from audit.merkle import (
    EMPTY_ROOT,
    MerkleTree,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root,
    verify_consistency,
    verify_inclusion,
)


def hexes(*values: str) -> list[bytes]:
    return [bytes.fromhex(v) for v in values]


LEAF_INPUTS = hexes("", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f")
# NODE_HASHES[level][i]: the complete subtree of 2**level leaves starting at leaf i * 2**level.
NODE_HASHES = [
    hexes(
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
    ),
    hexes(
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    ),
    hexes(
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ),
    hexes("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
]
ROOTS = hexes(  # by size, from the empty tree
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
)
INCLUSION_PROOFS = [  # (leaf index, tree size, proof)
    (0, 1, []),
    (0, 8, hexes(
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    )),
    (5, 8, hexes(
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    )),
    (2, 3, hexes("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")),
    (1, 5, hexes(
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    )),
]  # fmt: skip
CONSISTENCY_PROOFS = [  # (old size, new size, proof)
    (1, 1, []),
    (1, 8, hexes(
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    )),
    (6, 8, hexes(
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    )),
    (2, 5, hexes(
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    )),
    (6, 7, hexes(
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    )),
]  # fmt: skip
# One SHA-256 over a line per subtree hash / inclusion proof of the tree d[i] = bytes([i]), i < 130.
SUBTREE_HASH_VECTOR = "b82806ad4265bb151c1119c0f4db437bb4d1a1f887b3a7fba1cd4ebf552e3e81"
SUBTREE_INCLUSION_VECTOR = "ac2a8f989e44d99e399db448050ff5f19757df53cfb716aa81015d3955d8163f"

LEAVES = [leaf_hash(data) for data in LEAF_INPUTS]
AT = datetime(2026, 5, 1, 8, 0, 0, tzinfo=UTC)


# RFC 6962 section 2.1, written as the RFC writes it: recursion over the list of inputs, nothing cached,
# and hashlib rather than the module's helpers, so that it shares no code with audit.merkle.
def _largest_power_of_two_below(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def rfc_mth(d: Sequence[bytes]) -> bytes:
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return hashlib.sha256(b"\x00" + d[0]).digest()
    k = _largest_power_of_two_below(len(d))
    return hashlib.sha256(b"\x01" + rfc_mth(d[:k]) + rfc_mth(d[k:])).digest()


def rfc_path(m: int, d: Sequence[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = _largest_power_of_two_below(len(d))
    if m < k:
        return rfc_path(m, d[:k]) + [rfc_mth(d[k:])]
    return rfc_path(m - k, d[k:]) + [rfc_mth(d[:k])]


def rfc_subproof(m: int, d: Sequence[bytes], b: bool) -> list[bytes]:
    if m == len(d):
        return [] if b else [rfc_mth(d)]
    k = _largest_power_of_two_below(len(d))
    if m <= k:
        return rfc_subproof(m, d[:k], b) + [rfc_mth(d[k:])]
    return rfc_subproof(m - k, d[k:], False) + [rfc_mth(d[:k])]


def flipped(proof: list[bytes], i: int) -> list[bytes]:
    hash_ = bytearray(proof[i])
    hash_[0] ^= 0x10
    return [*proof[:i], bytes(hash_), *proof[i + 1 :]]


def swapped(proof: list[bytes], i: int) -> list[bytes]:
    return [*proof[:i], proof[i + 1], proof[i], *proof[i + 2 :]]


def bad_inclusions(
    leaf: bytes, index: int, size: int, proof: list[bytes], root_: bytes
) -> Iterator[tuple[str, tuple[bytes, int, int, list[bytes], bytes]]]:
    """Every way to get an inclusion proof a little wrong; none may verify."""
    for wrong in {index - 1, index + 1, index ^ 2} - {index}:
        yield f"index {wrong}", (leaf, wrong, size, proof, root_)
    for wrong in {size * 2, size // 2}:  # a size whose path has another shape (see the test of a neighbour)
        yield f"size {wrong}", (leaf, index, wrong, proof, root_)
    yield "another leaf", (leaf_hash(b"another"), index, size, proof, root_)
    yield "another root", (leaf, index, size, proof, EMPTY_ROOT)
    yield "a hash too many at the end", (leaf, index, size, [*proof, root_], root_)
    yield "a hash too many in front", (leaf, index, size, [root_, *proof], root_)
    if proof:
        yield "a hash missing", (leaf, index, size, proof[:-1], root_)
    for i in range(len(proof)):
        yield f"proof[{i}] flipped", (leaf, index, size, flipped(proof, i), root_)
    for i in range(len(proof) - 1):
        yield f"proof[{i}] and [{i + 1}] swapped", (leaf, index, size, swapped(proof, i), root_)


def bad_consistencies(
    m: int, n: int, old: bytes, new: bytes, proof: list[bytes]
) -> Iterator[tuple[str, tuple[int, int, bytes, bytes, list[bytes]]]]:
    """Every way to get a (non-empty) consistency proof a little wrong; none may verify."""
    for wrong in {m - 1, m + 1, m ^ 2} - {m}:
        yield f"old size {wrong}", (wrong, n, old, new, proof)
    for wrong in {n * 2, n // 2} - {n}:
        yield f"new size {wrong}", (m, wrong, old, new, proof)
    yield "roots swapped", (m, n, new, old, proof)
    yield "another old root", (m, n, EMPTY_ROOT, new, proof)
    yield "another new root", (m, n, old, EMPTY_ROOT, proof)
    yield "empty proof", (m, n, old, new, [])
    yield "a hash missing", (m, n, old, new, proof[:-1])
    for extra in (old, new, proof[0]):
        yield "a hash too many at the end", (m, n, old, new, [*proof, extra])
        yield "a hash too many in front", (m, n, old, new, [extra, *proof])
    for i in range(len(proof)):
        yield f"proof[{i}] flipped", (m, n, old, new, flipped(proof, i))
    for i in range(len(proof) - 1):
        yield f"proof[{i}] and [{i + 1}] swapped", (m, n, old, new, swapped(proof, i))


def assert_inclusion_holds(leaf: bytes, index: int, size: int, proof: list[bytes], root_: bytes) -> None:
    assert verify_inclusion(leaf, index, size, proof, root_), (index, size)
    accepted = [what for what, probe in bad_inclusions(leaf, index, size, proof, root_) if verify_inclusion(*probe)]
    assert accepted == [], (index, size)


def assert_consistency_holds(m: int, n: int, old: bytes, new: bytes, proof: list[bytes]) -> None:
    assert verify_consistency(m, n, old, new, proof), (m, n)
    if m < n:
        accepted = [what for what, probe in bad_consistencies(m, n, old, new, proof) if verify_consistency(*probe)]
        assert accepted == [], (m, n)


# The published vectors.


def test_leaf_and_complete_subtree_hashes_are_the_published_ones() -> None:
    assert LEAVES == NODE_HASHES[0]
    for level, hashes in enumerate(NODE_HASHES):
        width = 2**level
        assert [root(LEAVES[i * width : (i + 1) * width]) for i in range(len(hashes))] == hashes


def test_the_root_of_every_size_is_the_published_one() -> None:
    tree = MerkleTree(LEAVES)
    for size in range(9):
        assert root(LEAVES[:size]) == ROOTS[size]
        assert tree.root(size) == ROOTS[size]
        assert rfc_mth(LEAF_INPUTS[:size]) == ROOTS[size]  # the transcription is right too
    assert root([]) == EMPTY_ROOT == hashlib.sha256(b"").digest()


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION_PROOFS)
def test_published_inclusion_proofs_are_produced_and_verify(index: int, size: int, proof: list[bytes]) -> None:
    assert inclusion_proof(LEAVES[:size], index) == proof
    assert MerkleTree(LEAVES).inclusion_proof(index, size) == proof
    assert_inclusion_holds(LEAVES[index], index, size, proof, ROOTS[size])


@pytest.mark.parametrize(("m", "n", "proof"), CONSISTENCY_PROOFS)
def test_published_consistency_proofs_are_produced_and_verify(m: int, n: int, proof: list[bytes]) -> None:
    assert consistency_proof(LEAVES[:n], m) == proof
    assert MerkleTree(LEAVES).consistency_proof(m, n) == proof
    assert_consistency_holds(m, n, ROOTS[m], ROOTS[n], proof)


def test_every_inclusion_proof_in_trees_of_1_to_8_leaves() -> None:
    tree = MerkleTree(LEAVES)
    for size in range(1, 9):
        for index in range(size):
            proof = tree.inclusion_proof(index, size)
            assert proof == rfc_path(index, LEAF_INPUTS[:size]) == inclusion_proof(LEAVES[:size], index)
            assert_inclusion_holds(LEAVES[index], index, size, proof, ROOTS[size])


def test_every_consistency_proof_between_trees_of_1_to_8_leaves() -> None:
    tree = MerkleTree(LEAVES)
    for n in range(1, 9):
        for m in range(1, n + 1):
            proof = tree.consistency_proof(m, n)
            assert proof == rfc_subproof(m, LEAF_INPUTS[:n], True) == consistency_proof(LEAVES[:n], m)
            assert_consistency_holds(m, n, ROOTS[m], ROOTS[n], proof)


def _valid_subtree(start: int, end: int) -> bool:
    """The draft's subtrees: [start, end) with start a multiple of the smallest power of two >= its size."""
    if start == 0 or start == end:
        return True
    ceiling = 1 << (end - start - 1).bit_length()
    return start % ceiling == 0


def test_the_accumulated_subtree_hash_and_inclusion_vectors() -> None:
    leaves = [leaf_hash(bytes([i])) for i in range(130)]
    hashes, proofs = hashlib.sha256(), hashlib.sha256()
    for end in range(131):
        for start in range(end + 1):
            if not _valid_subtree(start, end):
                continue
            # A subtree is a tree of its own leaves: its hash and proofs are theirs.
            subtree = MerkleTree(leaves[start:end])
            hashes.update(f"[{start}, {end}) {subtree.root().hex()}\n".encode())
            for index in range(start, end):
                path = "".join(f" {h.hex()}" for h in subtree.inclusion_proof(index - start))
                proofs.update(f"{index} [{start}, {end}){path}\n".encode())
    assert hashes.hexdigest() == SUBTREE_HASH_VECTOR
    assert proofs.hexdigest() == SUBTREE_INCLUSION_VECTOR


# Larger trees: what the RFC's transcription gives, and what verifies.


def random_leaves(count: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    return [leaf_hash(rng.randbytes(rng.randrange(40))) for _ in range(count)]


def test_every_proof_of_a_300_leaf_tree_verifies() -> None:
    leaves = random_leaves(300, seed=6962)
    tree = MerkleTree(leaves)
    roots = [root(leaves[:size]) for size in range(301)]
    for size in range(1, 301):
        assert tree.root(size) == roots[size]
        for index in range(size):
            assert verify_inclusion(leaves[index], index, size, tree.inclusion_proof(index, size), roots[size])
        for old in range(1, size + 1):
            assert verify_consistency(old, size, roots[old], roots[size], tree.consistency_proof(old, size))


def test_random_proofs_are_the_rfcs_and_reject_a_flipped_byte() -> None:
    rng = random.Random(9162)
    data = [rng.randbytes(rng.randrange(40)) for _ in range(300)]
    leaves = [leaf_hash(d) for d in data]
    tree = MerkleTree(leaves)
    for _ in range(200):
        size = rng.randrange(1, 301)
        index, old = rng.randrange(size), rng.randrange(1, size + 1)
        proof = tree.inclusion_proof(index, size)
        assert proof == rfc_path(index, data[:size])
        consistency = tree.consistency_proof(old, size)
        assert consistency == rfc_subproof(old, data[:size], True)
        if proof:
            at = rng.randrange(len(proof))
            assert not verify_inclusion(leaves[index], index, size, flipped(proof, at), tree.root(size))
        if consistency:
            at = rng.randrange(len(consistency))
            bad = flipped(consistency, at)
            assert not verify_consistency(old, size, tree.root(old), tree.root(size), bad)


def test_a_tree_grown_leaf_by_leaf_is_the_tree_built_at_once() -> None:
    leaves = random_leaves(200, seed=1)
    grown = MerkleTree()
    for size, leaf in enumerate(leaves, start=1):
        grown.append(leaf)
        assert grown.size == size
        assert grown.root() == root(leaves[:size])
    grown.extend(random_leaves(57, seed=2))
    whole = MerkleTree(leaves + random_leaves(57, seed=2))
    assert grown.root() == whole.root()
    assert grown.inclusion_proof(3, 250) == whole.inclusion_proof(3, 250)
    assert grown.consistency_proof(77, 257) == whole.consistency_proof(77, 257)


def test_a_proof_fits_any_size_whose_path_has_its_shape_so_the_size_comes_signed() -> None:
    """Leaf 0's path in 8 leaves is a path in 7 as well, its last hash standing for leaves 4..6: only the
    checkpoint's signature ties a size to its root."""
    proof = inclusion_proof(LEAVES, 0)
    assert verify_inclusion(LEAVES[0], 0, 7, proof, ROOTS[8])
    assert verify_consistency(1, 7, ROOTS[1], ROOTS[8], consistency_proof(LEAVES, 1))
    key = generate_key()
    resized = sign_checkpoint(key, 8, ROOTS[8], AT).model_copy(update={"size": 7})
    assert not verify_checkpoint(key.public_key(), resized)


# Misuse, and what a verifier does with sizes no log has.


def test_out_of_range_indexes_and_sizes_say_so() -> None:
    tree = MerkleTree(LEAVES)
    with pytest.raises(ValueError, match="leaf index 8 is outside a tree of 8 leaves"):
        inclusion_proof(LEAVES, 8)
    with pytest.raises(ValueError, match="leaf index -1"):
        tree.inclusion_proof(-1)
    with pytest.raises(ValueError, match="leaf index 0 is outside a tree of 0 leaves"):
        inclusion_proof([], 0)
    with pytest.raises(ValueError, match="0 < old size <= new size, not 0 and 8"):
        consistency_proof(LEAVES, 0)
    with pytest.raises(ValueError, match="not 9 and 8"):
        consistency_proof(LEAVES, 9)
    with pytest.raises(ValueError, match="not 5 and 4"):
        tree.consistency_proof(5, 4)
    with pytest.raises(ValueError, match="tree size 9 is outside 0..8"):
        tree.root(9)
    with pytest.raises(ValueError, match="a leaf hash is 32 bytes, not 2"):
        root([b"ab"])
    with pytest.raises(ValueError, match="a leaf hash is 32 bytes"):
        MerkleTree().append(LEAF_INPUTS[7])


def test_verifiers_refuse_sizes_no_log_could_have() -> None:
    assert not verify_inclusion(LEAVES[0], 0, 0, [], EMPTY_ROOT)
    assert not verify_inclusion(LEAVES[0], -1, 8, inclusion_proof(LEAVES, 0), ROOTS[8])
    assert not verify_inclusion(LEAVES[0], 8, 8, inclusion_proof(LEAVES, 0), ROOTS[8])
    assert not verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])  # nothing to prove about the empty tree
    assert not verify_consistency(0, 8, EMPTY_ROOT, ROOTS[8], [])
    assert not verify_consistency(8, 6, ROOTS[8], ROOTS[6], consistency_proof(LEAVES, 6))
    assert verify_consistency(3, 3, ROOTS[3], ROOTS[3], [])
    assert not verify_consistency(3, 3, ROOTS[3], ROOTS[4], [])
    assert not verify_consistency(3, 3, ROOTS[3], ROOTS[3], [ROOTS[3]])


# Checkpoints and keys.


def test_a_checkpoint_signs_exactly_its_documented_message() -> None:
    key = generate_key()
    checkpoint = sign_checkpoint(key, 8, ROOTS[8], AT + timedelta(microseconds=999))
    assert checkpoint.size == 8
    assert checkpoint.root == ROOTS[8].hex()
    assert checkpoint.signed_at == "2026-05-01T08:00:00Z"
    message = b"linli-checkpoint/v1\n8\n5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328\n"
    assert checkpoint_message(8, checkpoint.root, checkpoint.signed_at) == message + b"2026-05-01T08:00:00Z\n"
    assert verify_checkpoint(key.public_key(), checkpoint)
    # Another zone is the same moment, written in UTC.
    east8 = sign_checkpoint(key, 8, ROOTS[8], datetime(2026, 5, 1, 16, 0, tzinfo=timezone(timedelta(hours=8))))
    assert east8.signed_at == checkpoint.signed_at


def test_a_checkpoint_changed_anywhere_or_checked_with_another_key_fails() -> None:
    key = generate_key()
    checkpoint = sign_checkpoint(key, 8, ROOTS[8], AT)
    other = sign_checkpoint(key, 7, ROOTS[7], AT)
    changed: dict[str, dict[str, object]] = {
        "size": {"size": 7},
        "root": {"root": ROOTS[7].hex()},
        "signed_at": {"signed_at": "2026-05-01T08:00:01Z"},
        "signature": {"signature": other.signature},
        "signature not base64": {"signature": "not base64!"},
        "signature truncated": {"signature": checkpoint.signature[:-4]},
    }
    for what, update in changed.items():
        assert not verify_checkpoint(key.public_key(), checkpoint.model_copy(update=update)), what
    assert not verify_checkpoint(generate_key().public_key(), checkpoint)


def test_a_checkpoint_survives_json_and_bad_json_is_refused() -> None:
    key = generate_key()
    checkpoint = sign_checkpoint(key, 3, ROOTS[3], AT)
    again = Checkpoint.model_validate_json(checkpoint.model_dump_json())
    assert again == checkpoint and verify_checkpoint(key.public_key(), again)
    for bad in ({"size": "3"}, {"root": ROOTS[3].hex().upper()}, {"signed_at": "2026-05-01T08:00:00+00:00"}):
        with pytest.raises(ValueError):
            Checkpoint.model_validate({**checkpoint.model_dump(), **bad})


def test_signing_needs_a_real_root_and_an_aware_time() -> None:
    key = generate_key()
    with pytest.raises(ValueError, match="time zone"):
        sign_checkpoint(key, 1, ROOTS[1], datetime(2026, 5, 1, 8, 0))
    with pytest.raises(ValueError, match="32-byte root"):
        sign_checkpoint(key, 1, ROOTS[1].hex().encode(), AT)
    with pytest.raises(ValueError, match="size >= 0"):
        sign_checkpoint(key, -1, ROOTS[1], AT)


@pytest.mark.parametrize("pem", [True, False])
def test_a_saved_key_is_the_owners_alone_loads_again_and_is_never_overwritten(tmp_path: Path, pem: bool) -> None:
    key, path = generate_key(), tmp_path / "audit.key"
    save_private_key(key, path, pem=pem)
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert path.read_text(encoding="utf-8").startswith("-----BEGIN PRIVATE KEY-----") == pem
    assert private_key_b64(load_private_key(path)) == private_key_b64(key)
    with pytest.raises(FileExistsError):
        save_private_key(generate_key(), path, pem=pem)
    assert private_key_b64(load_private_key(path)) == private_key_b64(key)


def test_the_installation_key_is_created_once(tmp_path: Path) -> None:
    path = tmp_path / "data" / "audit.key"
    first = load_or_create_key(path)
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert private_key_b64(load_or_create_key(path)) == private_key_b64(first)


def test_public_keys_export_as_raw_base64_and_pem_and_parse_back() -> None:
    key = generate_key()
    checkpoint = sign_checkpoint(key, 1, ROOTS[1], AT)
    raw, pem = public_key_b64(key), public_key_pem(key)
    assert len(raw) == 44 and pem.startswith("-----BEGIN PUBLIC KEY-----")
    assert public_key_b64(key.public_key()) == raw
    for text in (raw, pem):
        assert verify_checkpoint(parse_public_key(text), checkpoint)
    for bad, message in (("not a key", "neither"), (raw[:-4], "32 bytes"), (private_key_pem(key), "PEM public")):
        with pytest.raises(ValueError, match=message):
            parse_public_key(bad)


def test_a_canonical_event_is_sorted_compact_utf8_json() -> None:
    event = {"seq": 3, "action": "comment", "body": {"text": "楼道灯坏了", "photos": []}, "at": AT.isoformat()}
    expected = '{"action":"comment","at":"2026-05-01T08:00:00+00:00","body":{"photos":[],"text":"楼道灯坏了"},"seq":3}'
    assert canonical_event(event) == expected.encode("utf-8")
    assert canonical_event(dict(reversed(event.items()))) == canonical_event(event)
    assert json.loads(canonical_event(event)) == event
    with pytest.raises(TypeError):
        canonical_event({"at": AT})  # times go in as ISO strings, chosen by the caller
    with pytest.raises(ValueError):
        canonical_event({"score": float("nan")})
