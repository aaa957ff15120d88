"""The receipt log: stored-subtree proofs against a naive RFC 9162 tree, storage rules.

The naive reference below is the RFC's recursive definitions transcribed
literally (§2.1.1 MTH, §2.1.3.1 PATH, §2.1.4.1 PROOF/SUBPROOF) over the entries
themselves; it shares nothing with ``gateway.protocol.merkle`` but the two hash functions.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from functools import cache
from pathlib import Path

import pytest

from gateway.protocol import clock
from gateway.protocol.errors import BadRequest, DXGError, Invalid, NotFound, TooLarge
from gateway.protocol.merkle import (
    EMPTY_ROOT,
    MAX_ENTRIES_PER_READ,
    MAX_ENTRY_BYTES,
    ConsistencyProof,
    InclusionProof,
    Node,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    range_root,
    verify_consistency,
    verify_inclusion,
)
from gateway.server.log import MerkleLog, insert_entry

N_BRUTE = 40  # every size 1..40 covers all shapes up to five levels plus a ragged sixth

RFC6962_LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
RFC6962_ROOT = bytes.fromhex("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")


def entries(n: int) -> list[bytes]:
    return [f"receipt-{i}".encode() * (i % 3 + 1) for i in range(n)]


# --- The naive reference -------------------------------------------------------------


class Naive:
    """RFC 9162 §2.1 by its recursive definitions, memoised on (begin, end)."""

    def __init__(self, leaves: list[bytes]) -> None:
        self.leaves = leaves
        self.mth = cache(self._mth)

    @staticmethod
    def _k(n: int) -> int:
        k = 1
        while k * 2 < n:
            k *= 2
        return k

    def _mth(self, begin: int, end: int) -> bytes:
        n = end - begin
        if n == 0:
            return hashlib.sha256(b"").digest()
        if n == 1:
            return hashlib.sha256(b"\x00" + self.leaves[begin]).digest()
        k = self._k(n)
        return hashlib.sha256(
            b"\x01" + self.mth(begin, begin + k) + self.mth(begin + k, end)
        ).digest()

    def path(self, m: int, begin: int, end: int) -> list[bytes]:
        n = end - begin
        if n == 1:
            return []
        k = self._k(n)
        if m < k:
            return [*self.path(m, begin, begin + k), self.mth(begin + k, end)]
        return [*self.path(m - k, begin + k, end), self.mth(begin, begin + k)]

    def subproof(self, m: int, begin: int, end: int, b: bool) -> list[bytes]:
        n = end - begin
        if m == n:
            return [] if b else [self.mth(begin, end)]
        k = self._k(n)
        if m <= k:
            return [*self.subproof(m, begin, begin + k, b), self.mth(begin + k, end)]
        return [*self.subproof(m - k, begin + k, end, False), self.mth(begin, begin + k)]

    def proof(self, m: int, n: int) -> list[bytes]:
        return [] if m in (0, n) else self.subproof(m, 0, n, True)

    def nodes(self, keys: Sequence[Node]) -> list[bytes]:
        """A NodeReader straight from the definition of a perfect subtree."""
        return [self.mth(idx << level, (idx + 1) << level) for level, idx in keys]


@pytest.fixture(scope="module")
def brute(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MerkleLog, Naive]]:
    leaves = entries(N_BRUTE)
    log = MerkleLog(tmp_path_factory.mktemp("brute") / "log.db")
    # Odd batches so that integration crosses subtree boundaries mid-batch.
    for start in range(0, N_BRUTE, 7):
        log.append(leaves[start : start + 7])
        log.integrate(max_batch=5)
        log.integrate(max_batch=5)
    assert log.size() == N_BRUTE
    yield log, Naive(leaves)
    log.close()


# --- Hashing and the reference tree ---------------------------------------------------


def test_hashes_are_rfc9162() -> None:
    assert leaf_hash(b"abc") == hashlib.sha256(b"\x00abc").digest()
    assert (
        node_hash(b"L" * 32, b"R" * 32) == hashlib.sha256(b"\x01" + b"L" * 32 + b"R" * 32).digest()
    )
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_rfc6962_reference_tree(tmp_path: Path) -> None:
    with MerkleLog(tmp_path / "log.db") as log:
        assert log.root() == EMPTY_ROOT
        assert log.append(RFC6962_LEAVES) == list(range(8))
        assert log.size() == 0, "appended but not yet integrated"
        assert log.integrate() == 8
        assert log.root() == RFC6962_ROOT
        assert log.head().root == RFC6962_ROOT
        assert Naive(RFC6962_LEAVES).mth(0, 8) == RFC6962_ROOT


# --- Brute force: stored subtrees == naive recursion, and both verify -------------------


def test_roots_match_naive_for_every_size(brute: tuple[MerkleLog, Naive]) -> None:
    log, naive = brute
    for n in range(N_BRUTE + 1):
        assert log.root(n) == naive.mth(0, n)


def test_inclusion_matches_naive_for_every_size(brute: tuple[MerkleLog, Naive]) -> None:
    log, naive = brute
    for n in range(1, N_BRUTE + 1):
        root = naive.mth(0, n)
        for m in range(n):
            want = naive.path(m, 0, n)
            proof = log.inclusion(m, n)
            assert list(proof.hashes) == want, (m, n)
            assert inclusion_proof(m, n, naive.nodes) == want
            done = proof.verify(leaf_hash=leaf_hash(naive.leaves[m]), root=root)
            assert (done.index, done.size, done.root) == (m, n, root)


def test_consistency_matches_naive_for_every_size(brute: tuple[MerkleLog, Naive]) -> None:
    log, naive = brute
    for n in range(N_BRUTE + 1):
        for m in range(n + 1):
            want = naive.proof(m, n)
            proof = log.consistency(m, n)
            assert list(proof.hashes) == want, (m, n)
            assert consistency_proof(m, n, naive.nodes) == want
            proof.verify(old_root=naive.mth(0, m), new_root=naive.mth(0, n))


def test_range_root_over_aligned_ranges(brute: tuple[MerkleLog, Naive]) -> None:
    _, naive = brute
    assert range_root(8, 13, naive.nodes) == naive.mth(8, 13)
    assert range_root(16, 40, naive.nodes) == naive.mth(16, 40)
    with pytest.raises(ValueError, match="aligned"):
        range_root(3, 9, naive.nodes)


def test_every_tampering_of_a_proof_fails(brute: tuple[MerkleLog, Naive]) -> None:
    log, naive = brute
    m, n = 13, 37
    leaf, root = leaf_hash(naive.leaves[m]), naive.mth(0, n)
    good = list(log.inclusion(m, n).hashes)
    for i in range(len(good)):
        for bit in (0, 7, 255):
            bad = list(good)
            bad[i] = bytes(
                b ^ (1 << (bit % 8)) if j == bit // 8 else b for j, b in enumerate(bad[i])
            )
            with pytest.raises(Invalid):
                verify_inclusion(leaf_hash=leaf, index=m, size=n, proof=bad, root=root)
    for bad in (good[:-1], [*good, good[-1]], [good[0], *good], good[1:], good[::-1]):
        with pytest.raises(Invalid):
            verify_inclusion(leaf_hash=leaf, index=m, size=n, proof=bad, root=root)
    # Sizes only matter through the tree's shape along the path: (13, 37) and
    # (13, 38) share one, so only shape-changing sizes can fail here.
    for index, size in ((m + 1, n), (m - 1, n), (m, 32), (m, 16), (n, n)):
        with pytest.raises(Invalid):
            verify_inclusion(leaf_hash=leaf, index=index, size=size, proof=good, root=root)

    old, new = naive.mth(0, m), naive.mth(0, n)
    cons = list(log.consistency(m, n).hashes)
    for bad in (cons[:-1], [*cons, cons[0]], cons[::-1], [b"\x00" * 32, *cons[1:]]):
        with pytest.raises(Invalid):
            verify_consistency(old_size=m, new_size=n, old_root=old, new_root=new, proof=bad)
    with pytest.raises(Invalid):
        verify_consistency(old_size=m, new_size=n, old_root=new, new_root=old, proof=cons)
    with pytest.raises(Invalid):
        verify_consistency(old_size=m + 1, new_size=n, old_root=old, new_root=new, proof=cons)


# --- The verifiers reject garbage cleanly ---------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"leaf_hash": b"x" * 31},
        {"leaf_hash": "not bytes"},
        {"root": b"x" * 33},
        {"root": None},
        {"proof": [b"x" * 32, b"short"]},
        {"proof": b"x" * 32},
        {"proof": "abc"},
        {"proof": [b"x" * 32] * 129},
        {"proof": None},
        {"index": -1},
        {"index": True},
        {"index": 1.0},
        {"size": 2**64},
        {"size": "2"},
    ],
)
def test_verify_inclusion_rejects_garbage(kwargs: dict[str, object]) -> None:
    args: dict[str, object] = {
        "leaf_hash": b"l" * 32,
        "index": 1,
        "size": 2,
        "proof": [b"p" * 32],
        "root": b"r" * 32,
    } | kwargs
    with pytest.raises(Invalid):
        verify_inclusion(**args)  # type: ignore[arg-type]


def test_consistency_from_the_empty_tree_policy() -> None:
    root = node_hash(leaf_hash(b"a"), leaf_hash(b"b"))
    done = verify_consistency(old_size=0, new_size=2, old_root=EMPTY_ROOT, new_root=root, proof=[])
    assert done.old_size == 0
    verify_consistency(old_size=0, new_size=0, old_root=EMPTY_ROOT, new_root=EMPTY_ROOT, proof=[])
    with pytest.raises(Invalid, match="empty tree"):
        verify_consistency(old_size=0, new_size=2, old_root=root, new_root=root, proof=[])
    with pytest.raises(Invalid, match="empty"):
        verify_consistency(old_size=0, new_size=2, old_root=EMPTY_ROOT, new_root=root, proof=[root])
    with pytest.raises(Invalid):
        verify_consistency(old_size=0, new_size=0, old_root=EMPTY_ROOT, new_root=root, proof=[])
    with pytest.raises(Invalid):
        verify_consistency(old_size=0, new_size=2, old_root=EMPTY_ROOT, new_root=b"x", proof=[])


def test_consistency_rejects_shrinking_and_garbage() -> None:
    h = b"h" * 32
    with pytest.raises(Invalid, match="larger"):
        verify_consistency(old_size=3, new_size=2, old_root=h, new_root=h, proof=[])
    with pytest.raises(Invalid):
        verify_consistency(old_size=2, new_size=3, old_root=h, new_root=h, proof=[b"x"])
    with pytest.raises(Invalid):
        verify_consistency(old_size=2, new_size=3, old_root=h[:12], new_root=h, proof=[h])
    with pytest.raises(Invalid):
        verify_consistency(old_size=2, new_size=2**63, old_root=h, new_root=h, proof=[h])


def test_proof_json_round_trip(brute: tuple[MerkleLog, Naive]) -> None:
    log, naive = brute
    inc = log.inclusion(5, 21)
    body = inc.to_json()
    assert set(body) == {"index", "size", "hashes"}
    again = InclusionProof.from_json(body)
    assert again == inc
    again.verify(leaf_hash=leaf_hash(naive.leaves[5]), root=naive.mth(0, 21))
    cons = log.consistency(6, 21)
    assert set(cons.to_json()) == {"from", "to", "hashes"}
    assert ConsistencyProof.from_json(cons.to_json()) == cons


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"index": 1, "size": 2},
        {"index": "1", "size": 2, "hashes": []},
        {"index": 1, "size": 2, "hashes": ["AAAA"]},
        {"index": 1, "size": 2, "hashes": [1]},
        {"index": 1, "size": 2, "hashes": ["not base64!"]},
        {"index": 1, "size": 2, "hashes": ["47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU"]},
    ],
)
def test_proof_from_json_rejects_garbage(body: object) -> None:
    with pytest.raises(Invalid):
        InclusionProof.from_json(body)


# --- Storage ----------------------------------------------------------------------------


def test_durable_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    leaves = entries(11)
    with MerkleLog(path) as log:
        log.append(leaves[:9])
        log.integrate()
        root9 = log.root()
        log.append(leaves[9:])  # appended, not integrated: must survive too
    with MerkleLog(path) as log:
        assert log.size() == 9
        assert log.root() == root9
        assert log.integrate() == 2
        assert log.root() == Naive(leaves).mth(0, 11)
        assert log.entries(0, 11) == leaves
        log.consistency(9, 11).verify(old_root=root9, new_root=log.root())


def test_schema_of_log_entries(tmp_path: Path) -> None:
    with MerkleLog(tmp_path / "log.db"):
        pass
    conn = sqlite3.connect(tmp_path / "log.db")
    cols = [(r[1], r[2], r[3], r[5]) for r in conn.execute("PRAGMA table_info(log_entries)")]
    assert cols == [
        ("idx", "INTEGER", 0, 1),
        ("entry", "BLOB", 1, 0),
        ("appended_at", "TEXT", 1, 0),
    ]
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_core_inserts_in_its_own_transaction(tmp_path: Path) -> None:
    """The core's table may exist first; a rolled-back receipt leaves no entry."""
    path = tmp_path / "gateway.db"
    core = sqlite3.connect(path, isolation_level=None)
    core.execute(
        "CREATE TABLE log_entries(idx INTEGER PRIMARY KEY, entry BLOB NOT NULL,"
        " appended_at TEXT NOT NULL)"
    )
    core.execute("CREATE TABLE receipts(id TEXT PRIMARY KEY, log_index INTEGER NOT NULL)")
    when = clock.format_time(clock.now())
    core.execute("BEGIN")
    index = insert_entry(core, b"jws-0", appended_at=when)
    core.execute("INSERT INTO receipts VALUES ('r0', ?)", (index,))
    core.execute("COMMIT")
    assert index == 0, "indices start at 0, not at SQLite's default rowid 1"
    core.execute("BEGIN")
    insert_entry(core, b"jws-lost", appended_at=when)
    core.execute("ROLLBACK")
    core.execute("BEGIN")
    assert insert_entry(core, b"jws-1", appended_at=when) == 1
    core.execute("COMMIT")
    with MerkleLog(path) as log:
        assert log.integrate() == 2
        assert log.entries(0, 2) == [b"jws-0", b"jws-1"]
    core.close()


def test_log_is_append_only(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    with MerkleLog(path) as log:
        log.append([b"a", b"b"])
        log.integrate()
    conn = sqlite3.connect(path)
    for sql in (
        "UPDATE log_entries SET entry = x'00' WHERE idx = 0",
        "DELETE FROM log_entries WHERE idx = 1",
        "UPDATE log_nodes SET hash = x'00'",
        "DELETE FROM log_nodes",
    ):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute(sql)
    conn.close()


def test_integrate_refuses_a_gap(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    with MerkleLog(path) as log:
        conn = sqlite3.connect(path)
        conn.execute("INSERT INTO log_entries VALUES (1, x'01', '2026-01-01T00:00:00Z')")
        conn.commit()
        conn.close()
        with pytest.raises(DXGError, match="gap at index 0"):
            log.integrate()
        assert log.size() == 0


def test_integrate_batches(tmp_path: Path) -> None:
    with MerkleLog(tmp_path / "log.db") as log:
        log.append(entries(10))
        assert [log.integrate(max_batch=4) for _ in range(4)] == [4, 4, 2, 0]
        with pytest.raises(BadRequest):
            log.integrate(max_batch=0)


def test_entry_size_limit(tmp_path: Path) -> None:
    with MerkleLog(tmp_path / "log.db") as log:
        log.append([b"x" * MAX_ENTRY_BYTES])
        with pytest.raises(TooLarge):
            log.append([b"ok", b"x" * (MAX_ENTRY_BYTES + 1)])
        assert log.integrate() == 1, "the failed batch inserted nothing"


def test_entries_range_rules(tmp_path: Path) -> None:
    with MerkleLog(tmp_path / "log.db") as log:
        leaves = entries(1005)
        log.append(leaves)
        log.integrate(max_batch=1003)
        assert log.entries(0, MAX_ENTRIES_PER_READ) == leaves[:1000]
        assert log.entries(1000, 1005) == leaves[1000:1003], "clipped to the integrated size"
        assert log.entries(7, 7) == []
        with pytest.raises(BadRequest):
            log.entries(0, MAX_ENTRIES_PER_READ + 1)
        with pytest.raises(BadRequest):
            log.entries(5, 4)
        with pytest.raises(BadRequest):
            log.entries(-1, 4)
        with pytest.raises(NotFound):
            log.entries(1003, 1004)


def test_proof_request_rules(tmp_path: Path) -> None:
    with MerkleLog(tmp_path / "log.db") as log:
        log.append(entries(5))
        log.integrate()
        with pytest.raises(BadRequest):
            log.inclusion(5, 5)
        with pytest.raises(BadRequest):
            log.inclusion(-1, 5)
        with pytest.raises(NotFound):
            log.inclusion(0, 6)
        with pytest.raises(BadRequest):
            log.consistency(3, 2)
        with pytest.raises(NotFound):
            log.consistency(2, 6)
        with pytest.raises(NotFound):
            log.root(6)
        assert log.consistency(0, 5).hashes == ()
        assert log.consistency(5, 5).hashes == ()
        assert log.root(0) == EMPTY_ROOT


def test_one_writer_many_readers(tmp_path: Path) -> None:
    """Readers always see a tree whose proofs verify while the writer grows it."""
    path = tmp_path / "log.db"
    log = MerkleLog(path)
    leaves = entries(600)
    stop = threading.Event()
    failures: list[BaseException] = []

    def writer() -> None:
        try:
            for start in range(0, len(leaves), 25):
                log.append(leaves[start : start + 25])
                log.integrate(max_batch=10)
                log.integrate()
        except BaseException as exc:  # reported below
            failures.append(exc)
        finally:
            stop.set()

    def reader() -> None:
        try:
            last = log.head()
            while not stop.is_set() or last.size < len(leaves):
                head = log.head()
                if head.size:
                    i = head.size // 2
                    log.inclusion(i, head.size).verify(
                        leaf_hash=leaf_hash(leaves[i]), root=head.root
                    )
                    log.consistency(last.size, head.size).verify(
                        old_root=last.root, new_root=head.root
                    )
                last = head
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=writer)] + [
        threading.Thread(target=reader) for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    log.close()
    assert not failures, failures
    with MerkleLog(path) as again:
        assert again.root() == Naive(leaves).mth(0, len(leaves))


def test_closed_log_refuses_new_threads(tmp_path: Path) -> None:
    log = MerkleLog(tmp_path / "log.db")
    log.close()
    with pytest.raises(DXGError, match="closed"):
        log.size()
