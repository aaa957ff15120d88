"""The Merkle math of the receipt log (SPEC §7, RFC 9162 §2.1), shared by every role.

Every receipt and case event is a leaf of one Merkle tree, hashed as its
exact JWS bytes (RFC 9162 §2.1.1): leaf ``SHA-256(0x00||entry)``, interior
node ``SHA-256(0x01||left||right)``, and the empty tree ``SHA-256("")``.
The gateway stores the tree (``gateway.server.log``); parties and monitors
verify what it serves with the functions here.

Invariants:

* Every tree of size ``n`` has its root, and every inclusion and
  consistency proof within it, computable from perfect subtrees alone: RFC
  9162 splits at the largest power of two below the size, so every range it
  visits starts at a multiple of its own largest power of two and is the
  right fold of at most ``log2(n)`` perfect subtrees (:func:`subtree_cover`).
  A proof therefore costs ``O(log n)`` node look-ups, in one query.
* Verification (:func:`verify_inclusion`, :func:`verify_consistency`) is
  written from RFC 9162 §2.1.3.2 and §2.1.4.2 and shares no code with proof
  generation beyond :func:`node_hash`. It returns a verified value or raises
  :class:`~gateway.protocol.errors.Invalid`; it never returns a bare bool.

Policy for consistency from the empty tree (RFC 9162 defines proofs only for
``0 < m < n``): the empty tree is a prefix of every tree, and its root is the
constant :data:`EMPTY_ROOT`. So ``0 -> n`` verifies when the proof is empty,
the old root is exactly :data:`EMPTY_ROOT` and the new root is a 32-byte hash
(and, for ``0 -> 0``, equal to the old root). Such a check proves nothing
about the new tree, which the result object's ``old_size == 0`` makes
visible; anything else from size 0 fails closed. The log serves the empty
proof for ``consistency(0, n)`` to match.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from gateway.protocol.errors import BadRequest, Invalid

HASH_SIZE = 32  # SHA-256, the only hash of RFC 9162 §2.1 we use
EMPTY_ROOT = hashlib.sha256(b"").digest()  # MTH({}), RFC 9162 §2.1.1
LEAF_PREFIX = b"\x00"  # RFC 9162 §2.1.1: domain-separates leaves ...
NODE_PREFIX = b"\x01"  # ... from interior nodes (second-preimage resistance)

MAX_TREE_SIZE = 2**63 - 1  # the largest SQLite INTEGER, and C2SP's u64 fits it
MAX_PROOF_HASHES = 128  # honest proofs under MAX_TREE_SIZE carry at most 64 hashes
MAX_ENTRIES_PER_READ = 1000  # SPEC §7: GET /v1/log/entries answers at most 1000
MAX_ENTRY_BYTES = 64 * 1024  # a receipt JWS is ~1-2 KiB; 1000 of these must fit an answer

Node = tuple[int, int]
"""A perfect subtree ``(level, idx)``: leaves ``[idx * 2**level, (idx + 1) * 2**level)``."""

NodeReader = Callable[[Sequence[Node]], Sequence[bytes]]
"""Returns the hashes of the given perfect subtrees, in the same order."""


# --- Hashing: RFC 9162 §2.1.1 ----------------------------------------------------


def leaf_hash(entry: bytes) -> bytes:
    """``SHA-256(0x00 || entry)``: the hash of one leaf (RFC 9162 §2.1.1)."""
    return hashlib.sha256(LEAF_PREFIX + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``: an interior node (RFC 9162 §2.1.1)."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def b64std(data: bytes) -> str:
    """Standard base64 with padding (RFC 4648 §4), as C2SP and SPEC §7 write hashes."""
    return base64.b64encode(data).decode("ascii")


def b64std_decode(text: str) -> bytes:
    """Strict inverse of :func:`b64std`.

    Raises:
        ValueError: not canonical padded standard base64.
    """
    if not text.isascii():
        raise ValueError("base64 must be ASCII")
    raw = base64.b64decode(text, validate=True)
    if b64std(raw) != text:  # refuses missing padding and non-zero trailing bits
        raise ValueError("non-canonical base64")
    return raw


# --- Tree shape: which perfect subtrees make up a range --------------------------


def _split(n: int) -> int:
    """The largest power of two strictly below ``n`` (``n >= 2``): RFC 9162's ``k``."""
    return 1 << ((n - 1).bit_length() - 1)


def subtree_cover(begin: int, end: int) -> tuple[Node, ...]:
    """The perfect subtrees, left to right, whose right fold is ``MTH(D[begin:end])``.

    RFC 9162 §2.1.1 splits ``D[begin:end]`` at the largest power of two ``k``
    below its length: the left part is perfect, the right part recurses. So
    the range decomposes along the binary digits of its length, largest
    first, provided ``begin`` is a multiple of the largest of them, which
    holds for every range the RFC's recursions visit.

    Raises:
        ValueError: an empty or unaligned range (a programming error).
    """
    length = end - begin
    if begin < 0 or length <= 0:
        raise ValueError("a subtree cover needs a non-empty range")
    if begin % (1 << (length.bit_length() - 1)):
        raise ValueError("range is not aligned to its largest perfect subtree")
    nodes: list[Node] = []
    pos = begin
    for level in range(length.bit_length() - 1, -1, -1):
        if length >> level & 1:
            nodes.append((level, pos >> level))
            pos += 1 << level
    return tuple(nodes)


def _fold(hashes: Sequence[bytes]) -> bytes:
    """Right fold of a cover: ``node(h0, node(h1, ... node(h[-2], h[-1])))``."""
    acc = hashes[-1]
    for left in reversed(hashes[:-1]):
        acc = node_hash(left, acc)
    return acc


def _resolve(plan: Sequence[tuple[Node, ...]], read: NodeReader) -> list[bytes]:
    """Fetch every node of a plan in one read, then fold each group."""
    keys = list(dict.fromkeys(node for group in plan for node in group))
    if not keys:
        return []
    found = dict(zip(keys, read(keys), strict=True))
    return [_fold([found[node] for node in group]) for group in plan]


def inclusion_plan(index: int, size: int) -> list[tuple[Node, ...]]:
    """The covers of each hash of ``PATH(index, D[0:size])``, RFC 9162 §2.1.3.1.

    The RFC's recursion appends the sibling of each level after the deeper
    path, so the proof lists siblings from the leaf upwards; this walks from
    the root down and reverses.
    """
    check_index(index, size)
    plan: list[tuple[Node, ...]] = []
    begin, end = 0, size
    while end - begin > 1:
        k = _split(end - begin)
        if index < begin + k:  # PATH(m, D[0:k]) : MTH(D[k:n])
            plan.append(subtree_cover(begin + k, end))
            end = begin + k
        else:  # PATH(m - k, D[k:n]) : MTH(D[0:k])
            plan.append(subtree_cover(begin, begin + k))
            begin += k
    plan.reverse()
    return plan


def consistency_plan(old_size: int, new_size: int) -> list[tuple[Node, ...]]:
    """The covers of each hash of ``PROOF(m, D[0:n])``, RFC 9162 §2.1.4.1.

    ``m == 0`` and ``m == n`` give the empty proof (see the module's policy).
    """
    check_sizes(old_size, new_size)
    if old_size in (0, new_size):
        return []
    plan: list[tuple[Node, ...]] = []
    begin, end = 0, new_size
    known = True  # SUBPROOF's flag b: the old tree's root is this subtree's root
    while old_size != end:
        k = _split(end - begin)
        if old_size <= begin + k:  # SUBPROOF(m, D[0:k], b) : MTH(D[k:n])
            plan.append(subtree_cover(begin + k, end))
            end = begin + k
        else:  # SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])
            plan.append(subtree_cover(begin, begin + k))
            begin += k
            known = False
    if not known:  # SUBPROOF(m, D[m], false) = {MTH(D[m])}
        plan.append(subtree_cover(begin, end))
    plan.reverse()
    return plan


def range_root(begin: int, end: int, read: NodeReader) -> bytes:
    """``MTH(D[begin:end])`` for an aligned range (see :func:`subtree_cover`).

    ``range_root(0, n, read)`` is the root of the tree of size ``n``; the
    empty range gives :data:`EMPTY_ROOT`.

    Raises:
        ValueError: the range is unaligned or reversed.
    """
    if begin == end:
        return EMPTY_ROOT
    return _resolve([subtree_cover(begin, end)], read)[0]


def inclusion_proof(index: int, size: int, read: NodeReader) -> list[bytes]:
    """The audit path of leaf ``index`` in the tree of ``size`` (RFC 9162 §2.1.3.1).

    Raises:
        BadRequest: ``index`` is not in ``[0, size)``.
    """
    return _resolve(inclusion_plan(index, size), read)


def consistency_proof(old_size: int, new_size: int, read: NodeReader) -> list[bytes]:
    """The consistency proof from ``old_size`` to ``new_size`` (RFC 9162 §2.1.4.1).

    Raises:
        BadRequest: sizes negative or ``old_size > new_size``.
    """
    return _resolve(consistency_plan(old_size, new_size), read)


def check_index(index: int, size: int) -> None:
    if not (is_size(index) and is_size(size)) or index >= size:
        raise BadRequest("a leaf index must be in [0, tree size)")


def check_sizes(old_size: int, new_size: int) -> None:
    if not (is_size(old_size) and is_size(new_size)) or old_size > new_size:
        raise BadRequest("consistency needs 0 <= from <= to")


def is_size(value: object) -> bool:
    return type(value) is int and 0 <= value <= MAX_TREE_SIZE


# --- Verification: RFC 9162 §2.1.3.2 and §2.1.4.2 ----------------------------------


@dataclass(frozen=True, slots=True)
class VerifiedInclusion:
    """A leaf hash proven to sit at ``index`` in the tree ``(size, root)``."""

    leaf_hash: bytes
    index: int
    size: int
    root: bytes


@dataclass(frozen=True, slots=True)
class VerifiedConsistency:
    """The tree ``(old_size, old_root)`` proven a prefix of ``(new_size, new_root)``.

    ``old_size == 0`` is the trivial case of the module's policy: it says
    nothing about the new tree beyond its root being 32 bytes.
    """

    old_size: int
    old_root: bytes
    new_size: int
    new_root: bytes


def _hash_arg(value: object, what: str) -> bytes:
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        raise Invalid(f"{what} must be a {HASH_SIZE}-byte SHA-256 hash")
    return value


def _proof_arg(proof: object) -> list[bytes]:
    if isinstance(proof, (bytes, str)) or not isinstance(proof, Sequence):
        raise Invalid("a proof must be a list of hashes")
    if len(proof) > MAX_PROOF_HASHES:
        raise Invalid(f"a proof has at most {MAX_PROOF_HASHES} hashes")
    return [_hash_arg(item, "every proof hash") for item in proof]


def _size_arg(value: object, what: str) -> int:
    if not is_size(value):
        raise Invalid(f"{what} must be an integer in [0, 2^63)")
    return cast(int, value)


def _same(a: bytes, b: bytes) -> bool:
    return hmac.compare_digest(a, b)


def verify_inclusion(
    *, leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> VerifiedInclusion:
    """Verify an inclusion proof exactly as RFC 9162 §2.1.3.2 says.

    Args:
        leaf_hash: ``SHA-256(0x00 || entry)`` of the entry claimed to be included.
        index: its claimed leaf index.
        size: the size of the tree whose root is ``root``.
        proof: the audit path, leaf level first.
        root: the root hash, from a checkpoint the caller already verified.

    Returns:
        What was proven.

    Raises:
        Invalid: malformed arguments (wrong-length hashes, index out of range,
            too long a proof) or a proof that does not reach ``root``.
    """
    leaf = _hash_arg(leaf_hash, "the leaf hash")
    want = _hash_arg(root, "the root hash")
    path = _proof_arg(proof)
    m, n = _size_arg(index, "the leaf index"), _size_arg(size, "the tree size")
    # Step 1: the leaf must lie inside the tree.
    if m >= n:
        raise Invalid("the leaf index is not below the tree size")
    # Step 2, 3.
    fn, sn, r = m, n - 1, leaf
    # Step 4.
    for p in path:
        if sn == 0:  # more hashes than the path has levels: an extended proof
            raise Invalid("the inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            # Skip the levels where this node is the lone rightmost child.
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    # Step 5.
    if sn != 0:
        raise Invalid("the inclusion proof is shorter than the tree is deep")
    if not _same(r, want):
        raise Invalid("the inclusion proof does not lead to the root")
    return VerifiedInclusion(leaf_hash=leaf, index=m, size=n, root=want)


def verify_consistency(
    *,
    old_size: int,
    new_size: int,
    old_root: bytes,
    new_root: bytes,
    proof: Sequence[bytes],
) -> VerifiedConsistency:
    """Verify a consistency proof as RFC 9162 §2.1.4.2 says, plus edge policy.

    Equal sizes verify with an empty proof and equal roots. Size 0 follows
    the module docstring's policy: empty proof, ``old_root == EMPTY_ROOT``.

    Returns:
        What was proven.

    Raises:
        Invalid: malformed arguments (wrong-length hashes, ``old_size >
            new_size``, too long a proof) or a proof that does not reconcile
            both roots.
    """
    first_hash = _hash_arg(old_root, "the old root")
    second_hash = _hash_arg(new_root, "the new root")
    path = _proof_arg(proof)
    first = _size_arg(old_size, "the old size")
    second = _size_arg(new_size, "the new size")
    done = VerifiedConsistency(
        old_size=first, old_root=first_hash, new_size=second, new_root=second_hash
    )
    if first > second:
        raise Invalid("a tree cannot be consistent with a larger, older one")
    if first == 0 and not _same(first_hash, EMPTY_ROOT):
        raise Invalid("the root of the empty tree is SHA-256 of nothing")
    if first in (0, second):
        if path:
            raise Invalid("this consistency proof must be empty")
        if first == second and not _same(first_hash, second_hash):
            raise Invalid("two trees of the same size have different roots")
        return done
    # Now 0 < first < second, the RFC's own precondition.
    # Step 1.
    if not path:
        raise Invalid("the consistency proof is empty")
    # Step 2.
    if first & (first - 1) == 0:
        path = [first_hash, *path]
    # Step 3.
    fn, sn = first - 1, second - 1
    # Step 4.
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    # Step 5.
    fr = sr = path[0]
    # Step 6.
    for c in path[1:]:
        if sn == 0:
            raise Invalid("the consistency proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    # Step 7.
    if sn != 0:
        raise Invalid("the consistency proof is shorter than the tree is deep")
    if not _same(fr, first_hash):
        raise Invalid("the consistency proof does not lead to the old root")
    if not _same(sr, second_hash):
        raise Invalid("the consistency proof does not lead to the new root")
    return done


# --- Proofs as SPEC §7 writes them ---------------------------------------------------


def _hashes_from_json(value: object) -> tuple[bytes, ...]:
    if not isinstance(value, list) or len(value) > MAX_PROOF_HASHES:
        raise Invalid("hashes must be a list of base64 SHA-256 hashes")
    out: list[bytes] = []
    for item in value:
        try:
            raw = b64std_decode(item) if isinstance(item, str) else b""
        except ValueError:
            raw = b""
        out.append(_hash_arg(raw, "every proof hash"))
    return tuple(out)


def _int_from_json(obj: dict[str, Any], key: str) -> int:
    return _size_arg(obj.get(key), f"{key!r}")


@dataclass(frozen=True, slots=True)
class InclusionProof:
    """An unverified inclusion proof, as served by ``GET /v1/log/proof/inclusion``."""

    index: int
    size: int
    hashes: tuple[bytes, ...]

    def __post_init__(self) -> None:
        _size_arg(self.index, "the leaf index")
        _size_arg(self.size, "the tree size")
        _proof_arg(self.hashes)

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "size": self.size, "hashes": [b64std(h) for h in self.hashes]}

    @classmethod
    def from_json(cls, obj: object) -> InclusionProof:
        """Read SPEC §7's ``{"index","size","hashes"}``.

        Raises:
            Invalid: not that shape, or a hash that is not 32 bytes of base64.
        """
        if not isinstance(obj, dict):
            raise Invalid("an inclusion proof is a JSON object")
        return cls(
            index=_int_from_json(obj, "index"),
            size=_int_from_json(obj, "size"),
            hashes=_hashes_from_json(obj.get("hashes")),
        )

    def verify(self, *, leaf_hash: bytes, root: bytes) -> VerifiedInclusion:
        """See :func:`verify_inclusion`.

        Raises:
            Invalid: the proof does not place ``leaf_hash`` under ``root``.
        """
        return verify_inclusion(
            leaf_hash=leaf_hash, index=self.index, size=self.size, proof=self.hashes, root=root
        )


@dataclass(frozen=True, slots=True)
class ConsistencyProof:
    """An unverified consistency proof, as served by ``GET /v1/log/proof/consistency``."""

    old_size: int
    new_size: int
    hashes: tuple[bytes, ...]

    def __post_init__(self) -> None:
        _size_arg(self.old_size, "the old size")
        _size_arg(self.new_size, "the new size")
        _proof_arg(self.hashes)

    def to_json(self) -> dict[str, Any]:
        return {
            "from": self.old_size,
            "to": self.new_size,
            "hashes": [b64std(h) for h in self.hashes],
        }

    @classmethod
    def from_json(cls, obj: object) -> ConsistencyProof:
        """Read SPEC §7's ``{"from","to","hashes"}``.

        Raises:
            Invalid: not that shape, or a hash that is not 32 bytes of base64.
        """
        if not isinstance(obj, dict):
            raise Invalid("a consistency proof is a JSON object")
        return cls(
            old_size=_int_from_json(obj, "from"),
            new_size=_int_from_json(obj, "to"),
            hashes=_hashes_from_json(obj.get("hashes")),
        )

    def verify(self, *, old_root: bytes, new_root: bytes) -> VerifiedConsistency:
        """See :func:`verify_consistency`.

        Raises:
            Invalid: the proof does not reconcile the two roots.
        """
        return verify_consistency(
            old_size=self.old_size,
            new_size=self.new_size,
            old_root=old_root,
            new_root=new_root,
            proof=self.hashes,
        )


@dataclass(frozen=True, slots=True)
class TreeHead:
    """A size and the root of the tree of that size: what a checkpoint signs."""

    size: int
    root: bytes
