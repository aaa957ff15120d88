"""The receipt log of SPEC §7 as the gateway keeps it: an append-only Merkle tree on SQLite.

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
* The hashing, proof construction and verification are the shared
  ``gateway.protocol.merkle``; this module stores and serves.

Concurrency: one writer thread plus any number of reader threads. Each thread
gets its own connection (WAL, ``synchronous=FULL``, a busy timeout); writes
in this process are serialised by a lock and take SQLite's write lock with
``BEGIN IMMEDIATE``, so the core's own inserts from another connection wait
rather than fail.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Sequence

from gateway.protocol import clock
from gateway.protocol.errors import BadRequest, DXGError, NotFound, TooLarge
from gateway.protocol.merkle import (
    MAX_ENTRIES_PER_READ,
    MAX_ENTRY_BYTES,
    ConsistencyProof,
    InclusionProof,
    Node,
    TreeHead,
    check_index,
    check_sizes,
    consistency_proof,
    inclusion_proof,
    is_size,
    leaf_hash,
    node_hash,
    range_root,
)
from gateway.server.sql import (
    Connection,
    PgConnection,
    connect_postgres,
    is_postgres,
    serialize,
)

BUSY_TIMEOUT_MS = 5_000  # a reader or the core waits this long for the writer
DEFAULT_INTEGRATE_BATCH = 10_000  # ~7 MB of receipts per transaction: bounded memory

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

# The gateway's signed checkpoints and monitors' cosignatures of them
# (gateway.server.log_service serves them).
CHECKPOINT_SCHEMA = """
CREATE TABLE IF NOT EXISTS log_checkpoints (
    size INTEGER PRIMARY KEY,
    note TEXT NOT NULL,               -- the signed note, the log's signature line only
    signed_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS log_cosignatures (
    size INTEGER NOT NULL,
    cosigner TEXT NOT NULL,           -- the monitor id: the cosigner key name
    line TEXT NOT NULL,               -- the C2SP signature line, without its newline
    timestamp INTEGER NOT NULL,       -- the cosignature's own time (POSIX seconds)
    added_at TEXT NOT NULL,
    PRIMARY KEY (size, cosigner)
) WITHOUT ROWID;
"""

# The next index is MAX + 1 inside the inserting transaction, which holds
# SQLite's write lock, so indices are gapless even with several writers.
# (A bare INSERT would let SQLite pick rowids from 1, not 0.)
_INSERT_ENTRY = (
    "INSERT INTO log_entries(idx, entry, appended_at) "
    "SELECT COALESCE(MAX(idx) + 1, 0), ?, ? FROM log_entries RETURNING idx"
)


def insert_entry(conn: Connection, entry: bytes, *, appended_at: str) -> int:
    """Insert one entry into ``log_entries`` on the caller's connection.

    The gateway core calls this inside the transaction that stores the
    receipt, so that both commit together (durable before acknowledged).
    The entry becomes part of the tree at the next :meth:`MerkleLog.integrate`.

    Args:
        conn: a connection to the gateway's database, inside a transaction.
        entry: the exact bytes of the receipt JWS.
        appended_at: RFC 3339 UTC time (:func:`gateway.protocol.clock.format_time`).

    Returns:
        The entry's log index.

    Raises:
        TooLarge: the entry exceeds :data:`MAX_ENTRY_BYTES`.
    """
    if len(entry) > MAX_ENTRY_BYTES:
        raise TooLarge(f"a log entry has at most {MAX_ENTRY_BYTES} bytes")
    serialize(conn, "log_entries")  # PostgreSQL: MAX + 1 under the sequence's lock
    row = conn.execute(_INSERT_ENTRY, (entry, appended_at)).fetchone()
    return int(row[0])


class MerkleLog:
    """The durable receipt log: entries, integrated perfect subtrees, proofs.

    Safe for one writer thread and any number of reader threads; see the
    module docstring. Call :meth:`close` from the owning thread once no other
    thread uses the log.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        """Open the log in the SQLite file at ``path`` (creating its tables), or at a DSN.

        A ``postgresql://`` DSN names a database whose schema
        ``gateway.server.migrations`` has made already.
        """
        self._path = os.fspath(path)
        self._postgres = is_postgres(self._path)
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._conns_lock = threading.Lock()
        self._conns: list[sqlite3.Connection | PgConnection] = []
        self._closed = False
        if self._postgres:
            return
        with self._write_lock:
            conn = self._conn()
            assert isinstance(conn, sqlite3.Connection)
            try:
                conn.executescript("BEGIN IMMEDIATE;" + _SCHEMA + "COMMIT;")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    # -- connections

    def _conn(self) -> sqlite3.Connection | PgConnection:
        existing: sqlite3.Connection | PgConnection | None = getattr(self._local, "conn", None)
        if existing is not None:
            if not (isinstance(existing, PgConnection)
                    and (existing.raw.broken or existing.raw.closed)):
                return existing
            # The server restarted or the link broke: this thread connects
            # anew (else the log would fail on the dead link for ever).
            with self._conns_lock:
                if existing in self._conns:
                    self._conns.remove(existing)
            existing.close()
            self._local.conn = None
        if self._closed:
            raise DXGError("the receipt log is closed")
        if self._postgres:
            pg = PgConnection(connect_postgres(self._path))
            self._local.conn = pg
            with self._conns_lock:
                self._conns.append(pg)
            return pg
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
            serialize(conn, "log_nodes")  # PostgreSQL: one integrator at a time, any node
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
    def _stored_size(conn: Connection) -> int:
        return int(conn.execute("SELECT size FROM log_meta WHERE id = 0").fetchone()[0])

    # -- reading

    def size(self) -> int:
        """The integrated size: the tree every answer of this log refers to."""
        return self._stored_size(self._conn())

    def _check_served(self, size: int) -> None:
        if not is_size(size):
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
        if not (is_size(start) and is_size(end)) or start > end:
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
        check_index(index, size)
        self._check_served(size)
        hashes = inclusion_proof(index, size, self._read_nodes)
        return InclusionProof(index=index, size=size, hashes=tuple(hashes))

    def consistency(self, old_size: int, new_size: int) -> ConsistencyProof:
        """The consistency proof from the tree of ``old_size`` to that of ``new_size``.

        Raises:
            BadRequest: negatives or ``old_size > new_size``.
            NotFound: ``new_size`` is beyond the integrated size.
        """
        check_sizes(old_size, new_size)
        self._check_served(new_size)
        hashes = consistency_proof(old_size, new_size, self._read_nodes)
        return ConsistencyProof(old_size=old_size, new_size=new_size, hashes=tuple(hashes))


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, or ``ROLLBACK`` on any exception."""

    __slots__ = ("_conn",)

    def __init__(self, conn: sqlite3.Connection | PgConnection) -> None:
        self._conn = conn

    def __enter__(self) -> sqlite3.Connection | PgConnection:
        # IMMEDIATE takes the write lock now, so the size we read cannot
        # change under us and no other writer can slip in between.
        self._conn.execute("BEGIN IMMEDIATE")
        return self._conn

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        self._conn.execute("COMMIT" if exc_type is None else "ROLLBACK")
