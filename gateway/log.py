"""The receipt log of SPEC §7: an append-only RFC 9162 Merkle tree on SQLite.

Every receipt the gateway issues or accepts is a leaf of one Merkle tree,
hashed as its exact JWS bytes (RFC 9162 §2.1.1): leaf ``SHA-256(0x00||entry)``,
interior node ``SHA-256(0x01||left||right)``, and the empty tree
``SHA-256("")``.

Two tables live in the gateway's SQLite file:

* ``log_entries(idx, entry, appended_at)`` belongs to the gateway core. The
  core inserts a receipt's row with :func:`insert_entry` in the same
  transaction as the receipt itself, before it answers 2xx, so an
  acknowledged receipt survives ``kill -9`` (STYLE habit 6). Indices are
  assigned sequentially from 0 and never reused.
* ``log_nodes(level, idx, hash)`` belongs to :class:`MerkleLog`. It holds the
  hash of every *perfect* subtree: the ``2**level`` leaves starting at
  ``idx * 2**level``. Level 0 holds the leaf hashes.

:meth:`MerkleLog.integrate` turns entries into nodes in batches, advancing the
*integrated size* (table ``log_meta``) in the same transaction as the nodes it
writes. Everything the log serves — sizes, roots, entries, proofs — refers to
the integrated prefix only.

Invariants:

* Append-only: rows of ``log_entries`` and ``log_nodes`` are never updated or
  deleted; SQLite triggers refuse it. A node, once written, is final, so a
  proof for a size ``n`` read after the integrated size reached ``n`` needs no
  snapshot isolation.
* Every tree of size ``n <= size()`` has its root, and every inclusion and
  consistency proof within it, computable from perfect subtrees alone: RFC
  9162 splits at the largest power of two below the size, so every range it
  visits starts at a multiple of its own largest power of two and is the
  right fold of at most ``log2(n)`` perfect subtrees (:func:`subtree_cover`).
  A proof therefore costs ``O(log n)`` node look-ups, in one query.
* Verification (:func:`verify_inclusion`, :func:`verify_consistency`) is
  written from RFC 9162 §2.1.3.2 and §2.1.4.2 and shares no code with proof
  generation beyond :func:`node_hash`. It returns a verified value or raises
  :class:`~gateway.errors.Invalid`; it never returns a bare bool.

Policy for consistency from the empty tree (RFC 9162 defines proofs only for
``0 < m < n``): the empty tree is a prefix of every tree, and its root is the
constant :data:`EMPTY_ROOT`. So ``0 -> n`` verifies when the proof is empty,
the old root is exactly :data:`EMPTY_ROOT` and the new root is a 32-byte hash
(and, for ``0 -> 0``, equal to the old root). Such a check proves nothing
about the new tree, which the result object's ``old_size == 0`` makes
visible; anything else from size 0 fails closed. The log serves the empty
proof for ``consistency(0, n)`` to match.

Concurrency: one writer thread plus any number of reader threads. Each thread
gets its own connection (WAL, ``synchronous=FULL``, a busy timeout); writes
in this process are serialised by a lock and take SQLite's write lock with
``BEGIN IMMEDIATE``, so the core's own inserts from another connection wait
rather than fail.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from gateway import clock
from gateway.errors import BadRequest, DXGError, Invalid, NotFound, TooLarge

HASH_SIZE = 32  # SHA-256, the only hash of RFC 9162 §2.1 we use
EMPTY_ROOT = hashlib.sha256(b"").digest()  # MTH({}), RFC 9162 §2.1.1
LEAF_PREFIX = b"\x00"  # RFC 9162 §2.1.1: domain-separates leaves ...
NODE_PREFIX = b"\x01"  # ... from interior nodes (second-preimage resistance)

MAX_TREE_SIZE = 2**63 - 1  # the largest SQLite INTEGER, and C2SP's u64 fits it
MAX_PROOF_HASHES = 128  # honest proofs under MAX_TREE_SIZE carry at most 64 hashes
MAX_ENTRIES_PER_READ = 1000  # SPEC §7: GET /v1/log/entries answers at most 1000
MAX_ENTRY_BYTES = 64 * 1024  # a receipt JWS is ~1-2 KiB; 1000 of these must fit an answer
DEFAULT_INTEGRATE_BATCH = 10_000  # ~7 MB of receipts per transaction: bounded memory
BUSY_TIMEOUT_MS = 5_000  # a reader or the core waits this long for the writer

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
    _check_index(index, size)
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
    _check_sizes(old_size, new_size)
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


def _check_index(index: int, size: int) -> None:
    if not (_is_size(index) and _is_size(size)) or index >= size:
        raise BadRequest("a leaf index must be in [0, tree size)")


def _check_sizes(old_size: int, new_size: int) -> None:
    if not (_is_size(old_size) and _is_size(new_size)) or old_size > new_size:
        raise BadRequest("consistency needs 0 <= from <= to")


def _is_size(value: object) -> bool:
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
    if not _is_size(value):
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


# --- Storage -------------------------------------------------------------------------

# log_entries is owned by the gateway core; its schema is fixed by the core's
# contract and must stay exactly this.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS log_entries(
    idx INTEGER PRIMARY KEY, entry BLOB NOT NULL, appended_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS log_nodes(
    level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL,
    PRIMARY KEY(level, idx)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS log_meta(
    id INTEGER PRIMARY KEY CHECK (id = 0), size INTEGER NOT NULL);
INSERT OR IGNORE INTO log_meta(id, size) VALUES (0, 0);
CREATE TRIGGER IF NOT EXISTS log_entries_no_update BEFORE UPDATE ON log_entries
    BEGIN SELECT RAISE(ABORT, 'log_entries is append-only'); END;
CREATE TRIGGER IF NOT EXISTS log_entries_no_delete BEFORE DELETE ON log_entries
    BEGIN SELECT RAISE(ABORT, 'log_entries is append-only'); END;
CREATE TRIGGER IF NOT EXISTS log_nodes_no_update BEFORE UPDATE ON log_nodes
    BEGIN SELECT RAISE(ABORT, 'log_nodes is append-only'); END;
CREATE TRIGGER IF NOT EXISTS log_nodes_no_delete BEFORE DELETE ON log_nodes
    BEGIN SELECT RAISE(ABORT, 'log_nodes is append-only'); END;
"""

# The next index is MAX + 1 inside the inserting transaction, which holds
# SQLite's write lock, so indices are gapless even with several writers.
# (A bare INSERT would let SQLite pick rowids from 1, not 0.)
_INSERT_ENTRY = (
    "INSERT INTO log_entries(idx, entry, appended_at) "
    "SELECT COALESCE(MAX(idx) + 1, 0), ?, ? FROM log_entries RETURNING idx"
)


def insert_entry(conn: sqlite3.Connection, entry: bytes, *, appended_at: str) -> int:
    """Insert one entry into ``log_entries`` on the caller's connection.

    The gateway core calls this inside the transaction that stores the
    receipt, so that both commit together (durable before acknowledged).
    The entry becomes part of the tree at the next :meth:`MerkleLog.integrate`.

    Args:
        conn: a connection to the gateway's database, inside a transaction.
        entry: the exact bytes of the receipt JWS.
        appended_at: RFC 3339 UTC time (:func:`gateway.clock.format_time`).

    Returns:
        The entry's log index.

    Raises:
        TooLarge: the entry exceeds :data:`MAX_ENTRY_BYTES`.
    """
    if len(entry) > MAX_ENTRY_BYTES:
        raise TooLarge(f"a log entry has at most {MAX_ENTRY_BYTES} bytes")
    row = conn.execute(_INSERT_ENTRY, (entry, appended_at)).fetchone()
    return int(row[0])


class MerkleLog:
    """The durable receipt log: entries, integrated perfect subtrees, proofs.

    Safe for one writer thread and any number of reader threads; see the
    module docstring. Call :meth:`close` from the owning thread once no other
    thread uses the log.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        """Open (or create) the log's tables in the SQLite file at ``path``."""
        self._path = os.fspath(path)
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._conns_lock = threading.Lock()
        self._conns: list[sqlite3.Connection] = []
        self._closed = False
        with self._write_lock:
            conn = self._conn()
            try:
                conn.executescript("BEGIN IMMEDIATE;" + _SCHEMA + "COMMIT;")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    # -- connections

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        if self._closed:
            raise DXGError("the receipt log is closed")
        # Autocommit mode: every transaction below is an explicit BEGIN.
        # check_same_thread is off only so that close() may close every
        # thread's connection; each connection is used by its own thread alone.
        conn = sqlite3.connect(
            self._path,
            isolation_level=None,
            check_same_thread=False,
            timeout=BUSY_TIMEOUT_MS / 1000,
        )
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")  # a commit survives power loss
        self._local.conn = conn
        with self._conns_lock:
            self._conns.append(conn)
        return conn

    def close(self) -> None:
        """Close every connection this log opened."""
        with self._conns_lock:
            self._closed = True
            conns, self._conns = self._conns, []
        for conn in conns:
            conn.close()
        self._local = threading.local()

    def __enter__(self) -> MerkleLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _read_nodes(self, keys: Sequence[Node]) -> list[bytes]:
        conn = self._conn()
        where = " OR ".join(["(level = ? AND idx = ?)"] * len(keys))
        params = [v for key in keys for v in key]
        sql = f"SELECT level, idx, hash FROM log_nodes WHERE {where}"  # noqa: S608 - placeholders only
        rows = conn.execute(sql, params)
        found = {(level, idx): bytes(h) for level, idx, h in rows}
        missing = [key for key in keys if key not in found]
        if missing:
            raise DXGError(f"receipt log is missing node {missing[0]}: storage is damaged")
        return [found[key] for key in keys]

    # -- writing

    def append(self, entries: Sequence[bytes]) -> list[int]:
        """Durably insert entries into ``log_entries`` in one transaction.

        For tests and benchmarks: the gateway core inserts with
        :func:`insert_entry` inside its own receipt transaction instead.

        Returns:
            The log index of each entry, in order.

        Raises:
            TooLarge: an entry exceeds :data:`MAX_ENTRY_BYTES` (nothing is inserted).
        """
        when = clock.format_time(clock.now())
        with self._write_lock, self._transaction() as conn:
            return [insert_entry(conn, bytes(entry), appended_at=when) for entry in entries]

    def integrate(self, max_batch: int = DEFAULT_INTEGRATE_BATCH) -> int:
        """Fold up to ``max_batch`` new entries into the tree, in one transaction.

        Reads entries from the integrated size on, hashes them, computes the
        perfect subtrees they complete and commits those together with the
        new integrated size.

        Returns:
            How many entries were integrated (0 when there were none).

        Raises:
            BadRequest: ``max_batch`` is not positive.
            DXGError: ``log_entries`` has a gap, which the append-only rules
                forbid: the database was damaged.
        """
        if type(max_batch) is not int or max_batch <= 0:
            raise BadRequest("max_batch must be a positive integer")
        with self._write_lock, self._transaction() as conn:
            size = self._stored_size(conn)
            rows = conn.execute(
                "SELECT idx, entry FROM log_entries WHERE idx >= ? ORDER BY idx LIMIT ?",
                (size, max_batch),
            ).fetchall()
            if not rows:
                return 0
            # The left siblings new leaves may need are exactly the perfect
            # subtrees that make up the current tree: one per set bit of size.
            frontier = [
                (lvl, (size >> lvl) - 1) for lvl in range(size.bit_length()) if size >> lvl & 1
            ]
            known = dict(zip(frontier, self._read_nodes(frontier), strict=True)) if frontier else {}
            new: list[tuple[int, int, bytes]] = []
            for expected, (idx, entry) in enumerate(rows, start=size):
                if idx != expected:
                    raise DXGError(f"receipt log has a gap at index {expected}")
                h = leaf_hash(bytes(entry))
                level, pos = 0, idx
                known[(level, pos)] = h
                new.append((level, pos, h))
                while pos & 1:  # this node completes its parent
                    h = node_hash(known[(level, pos - 1)], h)
                    level, pos = level + 1, pos >> 1
                    known[(level, pos)] = h
                    new.append((level, pos, h))
            conn.executemany("INSERT INTO log_nodes(level, idx, hash) VALUES (?, ?, ?)", new)
            conn.execute("UPDATE log_meta SET size = ? WHERE id = 0", (size + len(rows),))
            return len(rows)

    def _transaction(self) -> _Transaction:
        return _Transaction(self._conn())

    @staticmethod
    def _stored_size(conn: sqlite3.Connection) -> int:
        return int(conn.execute("SELECT size FROM log_meta WHERE id = 0").fetchone()[0])

    # -- reading

    def size(self) -> int:
        """The integrated size: the tree every answer of this log refers to."""
        return self._stored_size(self._conn())

    def _check_served(self, size: int) -> None:
        if not _is_size(size):
            raise BadRequest("a tree size must be a non-negative integer")
        if size > self.size():
            raise NotFound("the log has not reached that size yet")

    def root(self, size: int | None = None) -> bytes:
        """The root of the tree of ``size`` leaves (default: the integrated size).

        Raises:
            BadRequest: a negative size.
            NotFound: ``size`` is beyond the integrated size.
        """
        if size is None:
            size = self.size()
        self._check_served(size)
        return range_root(0, size, self._read_nodes)

    def head(self) -> TreeHead:
        """The integrated size and its root, for signing a checkpoint."""
        size = self.size()
        return TreeHead(size=size, root=self.root(size))

    def entries(self, start: int, end: int) -> list[bytes]:
        """The entries ``[start, end)``; ``end`` is clipped to the integrated size.

        Raises:
            BadRequest: ``start > end``, negatives, or more than
                :data:`MAX_ENTRIES_PER_READ` asked for.
            NotFound: ``start`` is at or beyond the integrated size.
        """
        if not (_is_size(start) and _is_size(end)) or start > end:
            raise BadRequest("entries need 0 <= start <= end")
        if end - start > MAX_ENTRIES_PER_READ:
            raise BadRequest(f"at most {MAX_ENTRIES_PER_READ} entries per request")
        if start == end:
            return []
        size = self.size()
        if start >= size:
            raise NotFound("the log has no entry at that index yet")
        rows = self._conn().execute(
            "SELECT entry FROM log_entries WHERE idx >= ? AND idx < ? ORDER BY idx",
            (start, min(end, size)),
        )
        return [bytes(entry) for (entry,) in rows]

    def inclusion(self, index: int, size: int) -> InclusionProof:
        """The inclusion proof of leaf ``index`` in the tree of ``size``.

        Raises:
            BadRequest: ``index`` not in ``[0, size)``.
            NotFound: ``size`` is beyond the integrated size.
        """
        _check_index(index, size)
        self._check_served(size)
        hashes = inclusion_proof(index, size, self._read_nodes)
        return InclusionProof(index=index, size=size, hashes=tuple(hashes))

    def consistency(self, old_size: int, new_size: int) -> ConsistencyProof:
        """The consistency proof from the tree of ``old_size`` to that of ``new_size``.

        Raises:
            BadRequest: negatives or ``old_size > new_size``.
            NotFound: ``new_size`` is beyond the integrated size.
        """
        _check_sizes(old_size, new_size)
        self._check_served(new_size)
        hashes = consistency_proof(old_size, new_size, self._read_nodes)
        return ConsistencyProof(old_size=old_size, new_size=new_size, hashes=tuple(hashes))


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, or ``ROLLBACK`` on any exception."""

    __slots__ = ("_conn",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> sqlite3.Connection:
        # IMMEDIATE takes the write lock now, so the size we read cannot
        # change under us and no other writer can slip in between.
        self._conn.execute("BEGIN IMMEDIATE")
        return self._conn

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        self._conn.execute("COMMIT" if exc_type is None else "ROLLBACK")
