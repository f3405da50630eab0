"""RFC 6962 Merkle tree hashing (SHA-256) for the append-only audit log: roots, proofs and their checks.

- Leaf hash ``H(0x00 || data)``, node hash ``H(0x01 || left || right)``; the two prefixes keep a leaf from
  ever passing for an inner node (RFC 6962 section 2.1). The root of the empty tree is ``H(b"")``.
- The tree of ``n`` leaves splits at ``k``, the largest power of two smaller than ``n``: a complete tree of
  ``k`` leaves on the left, the rest on the right.
- ``MerkleTree`` keeps the hash of every complete subtree, so it builds once in ``O(n)`` hashes and then
  answers roots and proofs for any size up to its own in ``O(log² n)`` hashes at worst. The module's
  functions build one for a single answer: ``O(n)`` hashes a call; build a ``MerkleTree`` for more.
- The verifiers need only the proof, the sizes and the roots (RFC 9162 sections 2.1.3.2 and 2.1.4.2). A
  proof comes from outside (a downloaded bundle), so they answer ``False`` for anything that does not
  check out, sizes no log could have included; only the builders raise ``ValueError``.
- A proof's hashes do not say how many leaves lie under each: a proof for one size also passes for another
  size whose path has the same shape (leaf 0's path in 8 leaves is one in 7 as well). The size and the
  root must come together, from a signed checkpoint.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """The tree hash of these leaves: one pass, ``O(n)`` hashes, a stack of ``O(log n)`` subtree roots."""
    stack: list[tuple[int, bytes]] = []  # (leaves, hash) of complete subtrees, sizes strictly decreasing
    for leaf in leaf_hashes:
        _check_hash(leaf)
        size, node = 1, leaf
        while stack and stack[-1][0] == size:
            node = node_hash(stack.pop()[1], node)
            size *= 2
        stack.append((size, node))
    return _fold([node for _, node in stack])


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """RFC 6962 PATH(index, D[n]) for the tree of all ``leaf_hashes``; ``O(n)`` hashes."""
    return MerkleTree(leaf_hashes).inclusion_proof(index)


def consistency_proof(leaf_hashes: Sequence[bytes], old_size: int) -> list[bytes]:
    """RFC 6962 PROOF(old_size, D[n]): the tree of ``old_size`` leaves is a prefix of this one; ``O(n)``."""
    return MerkleTree(leaf_hashes).consistency_proof(old_size)


class MerkleTree:
    """An append-only tree that stores the hash of every complete subtree, level by level.

    Level ``l`` holds the hashes of the aligned subtrees of ``2**l`` leaves, packed in one ``bytearray``
    (32 bytes each, no object per hash): about ``2n`` hashes in all, 64 MB for a million leaves. Appending
    costs amortized ``O(1)`` hashes; a root or proof for any size up to ``size`` costs ``O(log² n)``.
    """

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        self._levels: list[bytearray] = [bytearray()]
        self.extend(leaf_hashes)

    @property
    def size(self) -> int:
        return len(self._levels[0]) // HASH_SIZE

    def append(self, leaf: bytes) -> None:
        self.extend((leaf,))

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        for leaf in leaf_hashes:
            _check_hash(leaf)
            self._levels[0] += leaf
        level = 0
        while len(self._levels[level]) >= 2 * HASH_SIZE:
            if level + 1 == len(self._levels):
                self._levels.append(bytearray())
            below, above = self._levels[level], self._levels[level + 1]
            # Pair up the nodes of ``below`` that have no parent yet; a pair is the 64 bytes left || right.
            start = len(above) * 2
            pairs = range(start, len(below) - 2 * HASH_SIZE + 1, 2 * HASH_SIZE)
            if not pairs:
                break  # nothing new here, so nothing new above either
            above += b"".join(hashlib.sha256(b"\x01" + below[i : i + 2 * HASH_SIZE]).digest() for i in pairs)
            level += 1

    def root(self, size: int | None = None) -> bytes:
        """The root of the tree's first ``size`` leaves (all of them by default)."""
        size = self._size_or_all(size)
        if size == 0:
            return EMPTY_ROOT
        return self._range_hash(0, size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """RFC 6962 PATH(index, D[size]): the siblings from the leaf up to the root, lowest first."""
        size = self._size_or_all(size)
        if not 0 <= index < size:
            raise ValueError(f"leaf index {index} is outside a tree of {size} leaves")
        proof: list[bytes] = []
        start, end = 0, size
        # Walk down from the root; each step's sibling goes in front of the ones found above it.
        while end - start > 1:
            split = start + _split(end - start)
            if index < split:
                proof.append(self._range_hash(split, end))
                end = split
            else:
                proof.append(self._range_hash(start, split))
                start = split
        return proof[::-1]

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """RFC 6962 PROOF(old_size, D[new_size]), which the RFC defines for ``0 < old_size < new_size``.

        Equal sizes give the empty proof. There is none from the empty tree: every tree extends it.
        """
        new_size = self._size_or_all(new_size)
        if not 0 < old_size <= new_size:
            raise ValueError(f"a consistency proof needs 0 < old size <= new size, not {old_size} and {new_size}")
        proof: list[bytes] = []
        # ``known`` while the walk has only gone left: where it stops, D[start:end] is then the whole old
        # tree, whose root the verifier already holds (RFC 6962's flag ``b``).
        start, end, known = 0, new_size, True
        while old_size != end:
            split = start + _split(end - start)
            if old_size <= split:
                proof.append(self._range_hash(split, end))
                end = split
            else:
                proof.append(self._range_hash(start, split))
                start, known = split, False
        if not known:
            # SUBPROOF(m, D[m], false): the old tree's rightmost subtree, which the verifier cannot know.
            proof.append(self._range_hash(start, end))
        return proof[::-1]

    def _size_or_all(self, size: int | None) -> int:
        if size is None:
            return self.size
        if not 0 <= size <= self.size:
            raise ValueError(f"tree size {size} is outside 0..{self.size}")
        return size

    def _node(self, level: int, index: int) -> bytes:
        offset = index * HASH_SIZE
        return bytes(self._levels[level][offset : offset + HASH_SIZE])

    def _range_hash(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) for a subtree the RFC's splits reach: ``start`` is a multiple of the largest
        power of two not above ``end - start``, so the range is complete subtrees of decreasing size."""
        nodes: list[bytes] = []
        while start < end:
            level = (end - start).bit_length() - 1
            nodes.append(self._node(level, start >> level))
            start += 1 << level
        return _fold(nodes)


def verify_inclusion(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> bool:
    """Whether ``proof`` shows the leaf at ``index`` in the tree of ``size`` leaves with ``root``
    (RFC 9162 section 2.1.3.2)."""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            return False  # more proof than the tree has levels
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            # Levels where the node is the last one of its level and a left child have no sibling: skip.
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> bool:
    """Whether ``proof`` shows the tree of ``old_size`` leaves with ``old_root`` to be a prefix of the tree
    of ``new_size`` leaves with ``new_root`` (RFC 9162 section 2.1.4.2).

    Equal sizes need an empty proof and equal roots; there is no proof from the empty tree.
    """
    if not 0 < old_size <= new_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)  # a complete old tree is a node of the new one: the proof leaves it out
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == old_root and sr == new_root


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (for ``n > 1``)."""
    return 1 << ((n - 1).bit_length() - 1)


def _fold(nodes: list[bytes]) -> bytes:
    """The root over complete subtrees listed left to right, largest first: the right ones join first."""
    if not nodes:
        return EMPTY_ROOT
    acc = nodes[-1]
    for node in reversed(nodes[:-1]):
        acc = node_hash(node, acc)
    return acc


def _check_hash(value: bytes) -> None:
    if len(value) != HASH_SIZE:
        raise ValueError(f"a leaf hash is {HASH_SIZE} bytes, not {len(value)}: hash the data with leaf_hash()")
