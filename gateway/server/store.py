"""Durable storage: one database (SQLite or PostgreSQL) and a directory of encrypted blobs.

Guarantee: when a write has returned, it survives ``kill -9`` and power loss.
The database runs in WAL mode with ``synchronous=FULL``; blobs are written
into a directory of their upload, and every file and directory entry is
fsync'd before the transaction that names them commits, so a row never names
a blob that is not on disk.

Writes go through one writer thread that commits in groups: every write
queued while the previous commit was on disk joins the next transaction, each
in its own savepoint, so one failing write never takes the others down and a
busy gateway pays one fsync for many requests. Reads run on a small pool of
threads with their own connections; only look-ups of a few rows by key
(:meth:`Database.lookup`) run where they are called, because the trip to a
thread and back costs more than they do and, in WAL mode, a reader never
waits for the writer.

On PostgreSQL (a ``postgresql://`` DSN instead of a path; see
``gateway.server.sql`` for the one interface both satisfy) the same holds:
the writer is one connection committing groups with a savepoint per write
(``synchronous_commit`` on: a commit has reached the server's disk), reads
take read-only connections from a psycopg pool. Several nodes write to one
database, so a write that decides on what it reads (a status change, the
next number of a sequence) runs under one transaction-scoped advisory
lock (:data:`WRITE_GROUP_LOCK`), taken by its group before it and held
to COMMIT: such writes of different nodes commit one after another, each
sees every write committed before it, and no two nodes deadlock on the
finer locks taken inside (``gateway.server.sql.serialize``). A write that
only inserts rows of its own (an intake) is submitted with
``lock_first=False``: it runs before the group takes any lock, and what
must be numbered in commit order (its receipt's log index) it hands back
as a :class:`Finish`, a step shared by the group's writes that runs last,
under the log's own lock, pipelined with COMMIT. So a group of intakes
holds a cross-node lock for one round trip, not for the whole group. An
intake is a :class:`Statement` (one statement, then Python on its row): the
statements of a group's intakes go out together, each in its own savepoint,
in one pipeline, so a group of n intakes makes one round trip for them, not
n; one that fails is its own write's answer, as before. A
write PostgreSQL aborts as a deadlock or serialization failure runs once
more, in the next group, before its caller hears of it. The
schema is not made here but by ``gateway.server.migrations``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import queue
import secrets
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Generic, TypeVar, cast

import psycopg
from psycopg_pool import ConnectionPool

from gateway.protocol.crypto.seal import EncryptingWriter, StorageKey
from gateway.server.sql import (
    Connection,
    PgConnection,
    advisory_key,
    configure_postgres,
    connect_postgres,
    is_postgres,
    is_write_conflict,
    params_of,
    translate,
)

T = TypeVar("T")
V = TypeVar("V")

INLINE_MAX = 256 * 1024  # bytes of blobs per packet kept in the database, not in files
GROUP_COMMIT_MAX = 256  # writes per transaction: bounds the latency of the last one
READ_THREADS = 4
BUSY_TIMEOUT_MS = 10_000
WRITE_GROUP_LOCK = "write-group"  # the advisory lock every node's write group takes first
PG_POOL_MAX = READ_THREADS + 4  # the reader threads, plus look-ups on the event loop and spares
PG_CONNECT_TIMEOUT_S = 10.0  # a node that cannot reach its database says so instead of hanging
LISTEN_POLL_S = 0.5  # how soon a listener notices that the database is closing
LISTEN_RETRY_S = 1.0  # between attempts to reconnect a lost listener

SCHEMA = """
CREATE TABLE IF NOT EXISTS parties (
    id TEXT PRIMARY KEY,
    roles TEXT NOT NULL,              -- JSON list: "party", "monitor"
    endpoint TEXT,
    added_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS keys (
    kid TEXT PRIMARY KEY,
    party_id TEXT NOT NULL REFERENCES parties(id),
    use TEXT NOT NULL CHECK (use IN ('sig', 'enc')),
    jwk TEXT NOT NULL,
    not_before TEXT,
    not_after TEXT,
    revoked_at TEXT,
    added_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS keys_by_party ON keys(party_id, use);
CREATE TABLE IF NOT EXISTS seen_jti (
    issuer TEXT NOT NULL,
    jti TEXT NOT NULL,
    expires INTEGER NOT NULL,
    PRIMARY KEY (issuer, jti)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS packets (
    packet_id TEXT PRIMARY KEY,
    sender TEXT NOT NULL,
    recipient TEXT NOT NULL,
    kind TEXT NOT NULL,
    created TEXT NOT NULL,
    envelope TEXT NOT NULL,
    envelope_sha256 TEXT NOT NULL,
    blob_dir TEXT NOT NULL,           -- this packet's directory under blobs/
    status TEXT NOT NULL,
    accepted_at TEXT NOT NULL,
    deadline TEXT NOT NULL,
    response TEXT NOT NULL,           -- the 202 body, replayed to identical retries
    extraction TEXT,                  -- the gateway's signed extraction JWS
    extraction_sha256 TEXT,
    ready_seq INTEGER UNIQUE,         -- inbox cursor: order in which packets became READY
    ready_at TEXT,
    fetched_at TEXT,
    notify_attempts INTEGER NOT NULL DEFAULT 0,
    notify_next_at TEXT,              -- NULL: nothing (more) to notify
    notify_done INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS packets_by_recipient ON packets(recipient, ready_seq);
CREATE INDEX IF NOT EXISTS packets_by_status ON packets(status, accepted_at);
CREATE INDEX IF NOT EXISTS packets_to_notify ON packets(notify_next_at)
    WHERE notify_next_at IS NOT NULL AND notify_done = 0;
CREATE INDEX IF NOT EXISTS packets_by_deadline ON packets(deadline)
    WHERE fetched_at IS NULL;
CREATE TABLE IF NOT EXISTS blobs (
    packet_id TEXT NOT NULL REFERENCES packets(packet_id),
    sha256 TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('part', 'photo')),
    name TEXT NOT NULL,               -- file name under blobs/<packet_id>/
    part_name TEXT,                   -- the manifest name, for parts
    media_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    position INTEGER NOT NULL,
    inline BLOB,                      -- small blobs: encrypted bytes here, not in a file
    PRIMARY KEY (packet_id, role, name)
);
CREATE INDEX IF NOT EXISTS blobs_by_digest ON blobs(packet_id, sha256);
CREATE TABLE IF NOT EXISTS timeline (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    packet_id TEXT NOT NULL,
    status TEXT NOT NULL,
    at TEXT NOT NULL,
    detail TEXT                       -- JSON; notification attempts, never personal data
);
CREATE INDEX IF NOT EXISTS timeline_by_packet ON timeline(packet_id, seq);
CREATE TABLE IF NOT EXISTS receipts (
    receipt_sha256 TEXT PRIMARY KEY,
    packet_id TEXT NOT NULL,
    level TEXT NOT NULL,
    issuer TEXT NOT NULL,
    log_index INTEGER NOT NULL UNIQUE,
    compact TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS receipts_by_packet ON receipts(packet_id, log_index);
CREATE TABLE IF NOT EXISTS log_entries (
    idx INTEGER PRIMARY KEY,
    entry BLOB NOT NULL,
    appended_at TEXT NOT NULL
);
"""


def connect(path: Path) -> sqlite3.Connection:
    """A connection with the durability settings every user of the file needs."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


FinishStep = Callable[[Connection, list[Any]], Callable[[], list[Any]]]


@dataclass(frozen=True, slots=True)
class Finish(Generic[V, T]):
    """What a write leaves for the end of its group (PostgreSQL, ``lock_first=False``).

    Once every write of the group has run, the writer calls each distinct
    ``step`` once, in the order the writes returned them, with the ``item`` of
    every write that named it: ``step(conn, items)`` sends its statements
    (pipelined with the group's COMMIT, so they run in the same transaction,
    after every write) and returns a function that, called after the commit,
    gives one value per item. The write's caller receives ``then(value)``. A
    failing step fails the whole group, like a failing COMMIT.
    """

    step: FinishStep
    item: V
    then: Callable[[Any], T]


@dataclass(frozen=True, slots=True)
class Statement(Generic[T]):
    """A write that is one statement and then Python on its first row (PostgreSQL).

    Submitted with :meth:`Database.write_statement`. Its group sends the
    statements of all such writes at once, each in a savepoint of its own,
    in one pipeline: one round trip for all of them (each write's own round
    trip cost the writer ~0.1 ms of CPU and the group its latency). Then,
    in its turn with the group's other writes and in a savepoint of its own,
    ``then(conn, row)`` runs (it may execute more statements, return a
    :class:`Finish`, or raise); what it raises rolls back its own
    statements, not the first one's: a ``then`` that refuses after the
    statement wrote something must leave that write harmless. A statement
    that fails rolls back to its savepoint, is its write's answer alone, and
    the statements after it are sent again.
    """

    sql: str
    params: Sequence[Any]
    then: Callable[[Connection, Any], T | Finish[Any, T]]

    def run(self, conn: Connection) -> T | Finish[Any, T]:
        """The write run on its own: the statement, then ``then`` (SQLite, a retry)."""
        return self.then(conn, conn.execute(self.sql, self.params).fetchone())


class _Write:
    __slots__ = ("fn", "future", "lock_first", "retried", "started", "statement")

    def __init__(
        self,
        fn: Callable[[Connection], object],
        *,
        lock_first: bool,
        statement: Statement[Any] | None = None,
    ) -> None:
        self.fn = fn
        self.lock_first = lock_first
        self.statement = statement  # sent with the group's other statements first
        self.future: concurrent.futures.Future[object] = concurrent.futures.Future()
        self.started = False  # its future is running: its caller waits for this write
        self.retried = False  # PostgreSQL aborted it once for a concurrent write's sake

    def start(self) -> bool:
        """Whether to run the write: its caller still waits (the first call marks it running).

        A caller that gave up (its task cancelled) gets no write and no
        answer: running it anyway would end in set_result on a cancelled
        future, which raises and would kill the writer thread.
        """
        if not self.started:
            self.started = self.future.set_running_or_notify_cancel()
        return self.started


class Database:
    """The gateway's database (SQLite file or PostgreSQL DSN) with a group-committing writer."""

    def __init__(self, target: Path | str) -> None:
        """Open the database at ``target``: a SQLite file path or a ``postgresql://`` DSN.

        Raises:
            sqlite3.Error: the SQLite file cannot be opened.
            psycopg.OperationalError: the PostgreSQL server cannot be reached.
        """
        self.target = target
        self.postgres = is_postgres(target)
        self._pool: ConnectionPool[psycopg.Connection[Any]] | None = None
        self._early_pool: ConnectionPool[psycopg.Connection[Any]] | None = None
        if self.postgres:
            self._pool = ConnectionPool(
                str(target),
                min_size=1,
                max_size=PG_POOL_MAX,
                kwargs={"autocommit": True},
                configure=_configure_reader,
                timeout=PG_CONNECT_TIMEOUT_S,
                open=False,
            )
            self._pool.open(wait=True, timeout=PG_CONNECT_TIMEOUT_S)
            early: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
                str(target),
                min_size=1,
                max_size=READ_THREADS,
                kwargs={"autocommit": True, "options": "-c synchronous_commit=off"},
                configure=configure_postgres,
                timeout=PG_CONNECT_TIMEOUT_S,
                open=False,
            )
            early.open(wait=True, timeout=PG_CONNECT_TIMEOUT_S)
            self._early_pool = early
        else:
            with connect(Path(target)) as conn:
                conn.executescript(SCHEMA)
        self._queue: queue.SimpleQueue[_Write | None] = queue.SimpleQueue()
        self._writer = threading.Thread(target=self._write_loop, name="dxg-db-writer", daemon=True)
        self._local = threading.local()
        self._read_connections: list[sqlite3.Connection] = []  # every thread's, to close
        self._readers_lock = threading.Lock()
        self._readers = concurrent.futures.ThreadPoolExecutor(
            READ_THREADS, thread_name_prefix="dxg-db-reader"
        )
        self._closed = False
        self._listeners: list[threading.Thread] = []
        self._writer.start()

    @property
    def path(self) -> Path:
        """The SQLite file (a PostgreSQL database has none).

        Raises:
            RuntimeError: the database is on PostgreSQL.
        """
        if self.postgres:
            raise RuntimeError("a PostgreSQL database has no file path")
        return Path(self.target)

    def _write_connection(self) -> sqlite3.Connection | PgConnection:
        if self.postgres:
            return PgConnection(connect_postgres(str(self.target)))
        return connect(self.path)

    # -- writing -----------------------------------------------------------

    def submit(
        self, fn: Callable[[Connection], T], *, lock_first: bool = True
    ) -> concurrent.futures.Future[T]:
        """Queue ``fn`` to run inside a write transaction; the future resolves once durable.

        Args:
            fn: the write; on PostgreSQL with ``lock_first=False`` it may return
                a :class:`Finish`, and its caller then receives ``then(value)``.
            lock_first: PostgreSQL: hold the write-group lock while ``fn`` runs
                (needed by a write that decides on what it reads). ``False``
                for a write that only inserts rows of its own: it runs before
                the lock is taken. SQLite ignores it (one writer, one lock).

        Raises:
            RuntimeError: the database is closed.
        """
        if self._closed:
            raise RuntimeError("the database is closed")
        item = _Write(fn, lock_first=lock_first)
        self._queue.put(item)
        return item.future  # type: ignore[return-value]

    async def write(self, fn: Callable[[Connection], T], *, lock_first: bool = True) -> T:
        return await asyncio.wrap_future(self.submit(fn, lock_first=lock_first))

    async def write_unlocked(self, fn: Callable[[Connection], T | Finish[Any, T]]) -> T:
        """:meth:`write` with ``lock_first=False``: ``fn`` only inserts rows of its own.

        On PostgreSQL ``fn`` runs before its group takes the write-group lock
        and may leave the part that needs a lock to a :class:`Finish`; the
        caller receives the finished value.
        """
        future = self.submit(fn, lock_first=False)
        return cast(T, await asyncio.wrap_future(future))

    def submit_statement(self, statement: Statement[T]) -> concurrent.futures.Future[T]:
        """Queue a one-statement write (``lock_first=False``); the future resolves once durable.

        On PostgreSQL the statement goes out with the other statements of its
        group, in one round trip; SQLite runs ``statement.run``.

        Raises:
            RuntimeError: the database is closed.
        """
        if self._closed:
            raise RuntimeError("the database is closed")
        item = _Write(statement.run, lock_first=False, statement=statement)
        self._queue.put(item)
        return item.future  # type: ignore[return-value]

    async def write_statement(self, statement: Statement[T]) -> T:
        """:meth:`submit_statement`, awaited; the caller receives a :class:`Finish`'s value."""
        return cast(T, await asyncio.wrap_future(self.submit_statement(statement)))

    def write_sync(self, fn: Callable[[Connection], T]) -> T:
        return self.submit(fn).result()

    def _write_loop(self) -> None:
        conn: sqlite3.Connection | PgConnection | None = None
        again: list[_Write] = []  # aborted for a concurrent write's sake: in the next group
        try:
            while True:
                batch, again = again, []
                if not batch:
                    first = self._queue.get()
                    if first is None:
                        return
                    batch = [first]
                while len(batch) < GROUP_COMMIT_MAX:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is None:
                        self._queue.put(None)  # finish this batch, then stop
                        break
                    batch.append(item)
                if isinstance(conn, PgConnection) and (conn.raw.broken or conn.raw.closed):
                    conn.close()  # the server restarted or the link broke: reconnect
                    conn = None
                if conn is None:
                    try:
                        conn = self._write_connection()
                    except Exception as exc:  # handed to every waiting caller
                        for item in batch:
                            if item.start():
                                item.future.set_exception(exc)
                        continue
                if isinstance(conn, PgConnection):
                    again = self._commit_pg(conn, batch)
                else:
                    self._commit(conn, batch)
        finally:
            if conn is not None:
                conn.close()

    @staticmethod
    def _commit(conn: sqlite3.Connection, batch: list[_Write]) -> None:
        """One SQLite group: ``BEGIN IMMEDIATE`` (the file's one write lock), a savepoint each."""
        results: list[tuple[_Write, object, BaseException | None]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for item in batch:
                if not item.start():
                    continue
                conn.execute("SAVEPOINT w")
                results.append(_run(conn, item))
                conn.execute("RELEASE w")
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            _fail(batch, exc)
            return
        _resolve(results, {})

    @staticmethod
    def _commit_pg(conn: PgConnection, batch: list[_Write]) -> list[_Write]:
        """One PostgreSQL group: a savepoint per write, the group lock only where needed.

        The writes submitted with ``lock_first=False`` run first, without
        the write-group lock; the lock is taken (outside any savepoint, so a
        write rolled back does not release it) before the first write that
        needs it. Then the :class:`Finish` steps and the COMMIT go in one
        pipeline: one round trip.

        A write PostgreSQL aborts for a concurrent one's sake (a deadlock, a
        serialization failure: ``sql.is_write_conflict``), alone or with its
        whole group, is not answered yet: it is returned, to run once more
        in the next group, after this transaction has ended and the other
        could commit (run again here it would meet the same locks, which
        this transaction still holds). Its second failure is its answer.
        """
        results: list[tuple[_Write, object, BaseException | None]] = []
        again: list[_Write] = []
        ordered = [w for w in batch if not w.lock_first] + [w for w in batch if w.lock_first]
        control = ["BEGIN"]  # statements sent with the next one of their kind, one message
        locked = False
        try:
            # A retried write runs on its own: it may be what conflicts.
            pipelined = [w for w in ordered if w.statement is not None and not w.retried]
            rows: dict[int, tuple[Any, BaseException | None]] = {}
            if len(pipelined) > 1:  # one alone gains nothing
                started = [w for w in pipelined if w.start()]
                control = _run_statements(conn, started, control, rows)
            for item in ordered:
                if not item.start():
                    continue
                if item.lock_first and not locked:
                    control.append(_PG_GROUP_LOCK)
                    locked = True
                conn.defer(*control, "SAVEPOINT w")  # sent with the write's first statement
                control = ["RELEASE w"]
                ran = _run(conn, item, rows.get(id(item)))
                if ran[2] is not None and is_write_conflict(ran[2]) and not item.retried:
                    item.retried = True
                    again.append(item)
                else:
                    results.append(ran)
            steps: dict[FinishStep, list[Finish[Any, Any]]] = {}
            for _, value, _ in results:
                if isinstance(value, Finish):
                    steps.setdefault(value.step, []).append(value)
            finished: dict[int, object] = {}
            if steps:
                with conn.raw.pipeline():
                    for statement in [*conn.take_deferred(), *control]:  # RELEASE w, or none
                        conn.execute(statement)
                    collect = [(finishes, step(conn, [f.item for f in finishes]))
                               for step, finishes in steps.items()]  # fmt: skip
                    conn.execute("COMMIT")
                for finishes, values in collect:
                    for finish, value in zip(finishes, values(), strict=True):
                        finished[id(finish)] = value
            else:
                conn.execute_script("; ".join([*control, "COMMIT"]))
        except BaseException as exc:
            # A lost link fails the ROLLBACK too; that must not end this thread
            # (every later write would wait for ever): the loop reconnects
            # before the next group, and the server rolled back.
            conn.take_deferred()  # not sent: the transaction ends here
            with contextlib.suppress(psycopg.OperationalError):
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            if is_write_conflict(exc):  # every write still waiting runs again (once)
                for item in batch:
                    if item.started and not item.retried and not item.future.done():
                        item.retried = True
                        again.append(item)
            _fail([w for w in batch if w not in again], exc)
            return again
        _resolve(results, finished)
        return again

    # -- reading -----------------------------------------------------------

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path)
            conn.execute("PRAGMA query_only = ON")
            self._local.conn = conn
            with self._readers_lock:
                self._read_connections.append(conn)
        return conn

    def _run_read(self, fn: Callable[[Connection], T]) -> T:
        if self._pool is None:
            return fn(self._reader())
        with self._pool.connection() as raw:
            return fn(PgConnection(raw))

    async def read(self, fn: Callable[[Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, lambda: self._run_read(fn))

    def lookup(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn`` now, on this thread's own read connection.

        Only for look-ups of a few rows by an indexed key (a party, a key, one
        packet row): tens of microseconds, less than the hand-off to a reader
        thread and back, and never blocked by the writer in WAL mode. Anything
        that scans, pages or sorts goes through :meth:`read`. (On PostgreSQL
        it is one round trip on a pooled connection, ~0.1 ms on loopback.)
        """
        return self._run_read(fn)

    async def find(self, fn: Callable[[Connection], T]) -> T:
        """A look-up of a few rows by key, where it is cheapest for the backend.

        SQLite: :meth:`lookup`, here on the event loop (tens of microseconds).
        PostgreSQL: a network round trip, which must not stall the event
        loop, so on a reader thread (:meth:`read`).
        """
        if self.postgres:
            return await self.read(fn)
        return self.lookup(fn)

    async def write_early(self, fn: Callable[[Connection], T]) -> T:
        """Run one-statement write ``fn`` now, visible to every node, flushed lazily.

        For a record that only matters with a later effect: the jti claim.
        It commits on a connection of its own (PostgreSQL only, without
        waiting for the WAL flush), so it costs no group commit; the effect
        it guards commits later through :meth:`write` with a flush, which
        makes every earlier WAL record durable too. Lost by a database crash
        is only a claim whose request had no durable effect.

        Raises:
            RuntimeError: the database is SQLite (use :meth:`write`).
        """
        pool = self._early_pool
        if pool is None:
            raise RuntimeError("write_early is for PostgreSQL; SQLite writes through write()")

        def run() -> T:
            with pool.connection() as raw:
                return fn(PgConnection(raw))

        return await asyncio.get_running_loop().run_in_executor(self._readers, run)

    def read_sync(self, fn: Callable[[Connection], T]) -> T:
        return self._readers.submit(lambda: self._run_read(fn)).result()

    # -- notifications -----------------------------------------------------

    def listen(self, channel: str, changed: Callable[[bool], None]) -> None:
        """Hear every ``NOTIFY`` on ``channel``, from any node (PostgreSQL only).

        ``changed(True)`` is called once listening starts and on every
        notification; ``changed(False)`` when the listening connection is
        lost (notifications may be missed until ``changed(True)`` again, after
        a reconnection). Runs on a thread and connection of its own.

        Raises:
            RuntimeError: the database is SQLite (one process writes it, nothing to hear).
        """
        if not self.postgres:
            raise RuntimeError("listen is for PostgreSQL: SQLite has no other writer to hear")
        thread = threading.Thread(
            target=self._listen_loop, args=(channel, changed), name="dxg-db-listener", daemon=True
        )
        self._listeners.append(thread)
        thread.start()

    def _listen_loop(self, channel: str, changed: Callable[[bool], None]) -> None:
        while not self._closed:
            try:
                with psycopg.connect(
                    str(self.target), autocommit=True, connect_timeout=int(PG_CONNECT_TIMEOUT_S)
                ) as conn:
                    conn.execute(f"LISTEN {channel}")
                    changed(True)
                    while not self._closed:
                        for _ in conn.notifies(timeout=LISTEN_POLL_S):
                            changed(True)
            except psycopg.Error:
                changed(False)
                time.sleep(LISTEN_RETRY_S)
        changed(False)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._writer.join()
        for listener in self._listeners:
            listener.join()
        self._readers.shutdown(wait=True)
        with self._readers_lock:
            for conn in self._read_connections:
                conn.close()
            self._read_connections.clear()
        if self._pool is not None:
            self._pool.close()
        if self._early_pool is not None:
            self._early_pool.close()


_PG_GROUP_LOCK = f"SELECT pg_advisory_xact_lock({advisory_key(WRITE_GROUP_LOCK)})"


def _run(
    conn: sqlite3.Connection | PgConnection,
    item: _Write,
    row: tuple[Any, BaseException | None] | None = None,
) -> tuple[_Write, object, BaseException | None]:
    """One write inside its open savepoint ``w``, rolled back to it if it fails.

    ``row``: a :class:`Statement`'s row (or error) from the group's pipeline;
    then only its ``then`` runs here.

    Its error is handed to its caller, not swallowed, and does not fail the group.
    """
    try:
        if row is None or item.statement is None:
            return item, item.fn(conn), None
        value, error = row
        if error is not None:
            return item, None, error  # rolled back to its own savepoint already
        return item, item.statement.then(conn, value), None
    except BaseException as exc:
        conn.execute("ROLLBACK TO w")
        return item, None, exc


def _run_statements(
    conn: PgConnection,
    items: list[_Write],
    control: list[str],
    rows: dict[int, tuple[Any, BaseException | None]],
) -> list[str]:
    """Send the statements of ``items`` in one pipeline, each in savepoint ``w``.

    ``control`` (``BEGIN``) goes first. Fills ``rows`` with each item's first
    row or its error, by ``id(item)``, and returns the control statements
    still to send (none). A statement that fails is rolled back to its
    savepoint and the ones after it (which PostgreSQL skipped) are sent
    again, in another pipeline.

    Raises:
        psycopg.Error: a control statement failed, or the link did: the group fails.
    """
    pending = [(w, w.statement) for w in items if w.statement is not None]
    while pending:
        sent: list[tuple[_Write | None, psycopg.Cursor[Any]]] = []
        raw = conn.raw
        attempting: _Write | None = None  # its statement is being queued
        try:
            with raw.pipeline():
                for statement in [*conn.take_deferred(), *control]:
                    sent.append((None, raw.execute(statement)))
                control = []
                for item, write in pending:
                    sent.append((None, raw.execute("SAVEPOINT w")))
                    attempting = item
                    sent.append((item, raw.execute(translate(write.sql), params_of(write.params))))
                    attempting = None
                    sent.append((None, raw.execute("RELEASE w")))
        except psycopg.Error as exc:
            # The first command without a result is the one PostgreSQL refused
            # (it skipped every one after it); if every command sent has one,
            # the statement being queued was refused before it left (its
            # parameters). A control statement's failure, or the link's, is
            # the group's.
            refused = [(item, i) for i, (item, cur) in enumerate(sent) if cur.pgresult is None]
            culprit = refused[0][0] if refused else attempting
            if culprit is None or raw.broken or raw.closed:
                raise
            _keep_rows(sent[: refused[0][1]] if refused else sent, rows)
            rows[id(culprit)] = (None, exc)
            raw.execute("ROLLBACK TO w")  # the culprit's savepoint, the last one made
            raw.execute("RELEASE w")
            pending = pending[[w for w, _ in pending].index(culprit) + 1 :]
            continue
        _keep_rows(sent, rows)
        pending = []
    return control


def _keep_rows(
    sent: list[tuple[_Write | None, psycopg.Cursor[Any]]],
    rows: dict[int, tuple[Any, BaseException | None]],
) -> None:
    for item, cur in sent:
        if item is not None:
            rows[id(item)] = (cur.fetchone(), None)


def _fail(batch: list[_Write], exc: BaseException) -> None:
    """The group did not commit: every write still waiting gets ``exc``."""
    for item in batch:
        if not item.future.done():
            item.future.set_exception(exc)


def _resolve(
    results: list[tuple[_Write, object, BaseException | None]], finished: dict[int, object]
) -> None:
    """The group committed: each write's caller gets its value or its own error."""
    for item, value, error in results:
        if error is not None:
            item.future.set_exception(error)
        elif isinstance(value, Finish):
            try:
                item.future.set_result(value.then(finished[id(value)]))
            except Exception as exc:  # a bug in then(): the caller hears of it
                item.future.set_exception(exc)
        else:
            item.future.set_result(value)


def _configure_reader(raw: psycopg.Connection[Any]) -> None:
    """A pooled read connection: SQLite-compatible parameters, and read-only."""
    configure_postgres(raw)
    raw.execute("SET default_transaction_read_only = on")


class BlobStore:
    """Parts and photos of packets, encrypted at rest under the storage key.

    Small blobs (``INLINE_MAX`` per packet in all) are kept, encrypted, in the
    database row that names them, so they are durable with its commit and cost
    no fsync of their own. Larger ones are files: each accepted upload has a
    directory of its own, ``<packet_id>.<random>``,
    written and fsync'd before the transaction that names it commits; a
    directory that no packet row names is the remnant of a crash or a lost
    race and is removed by :meth:`sweep`. A blob's packet id and file name are
    the associated data of its encryption, so a file moved to another name or
    packet fails to decrypt instead of being served as the wrong blob.
    """

    def __init__(self, root: Path, key: StorageKey) -> None:
        self.root = root
        self._key = key
        root.mkdir(mode=0o700, parents=True, exist_ok=True)

    def new_upload(self, packet_id: str) -> str:
        """A fresh directory name for one upload of ``packet_id`` (not yet created)."""
        return f"{packet_id}.{secrets.token_hex(8)}"

    @staticmethod
    def _aad(packet_id: str, name: str) -> bytes:
        return f"{packet_id}/{name}".encode()

    def create(
        self, directory: str, packet_id: str, name: str
    ) -> tuple[BinaryIO, EncryptingWriter]:
        """Open a new blob file for writing (the caller finishes and closes it)."""
        folder = self.root / directory
        folder.mkdir(mode=0o700, exist_ok=True)
        sink = (folder / name).open("xb")
        return sink, self._key.writer(sink, name=self._aad(packet_id, name))

    def seal_upload(self, directory: str) -> None:
        """Make an upload's directory entries durable (its files are fsync'd already)."""
        _fsync_dir(self.root / directory)
        _fsync_dir(self.root)

    def discard(self, directory: str) -> None:
        shutil.rmtree(self.root / directory, ignore_errors=True)

    def sweep(self, referenced: set[str], *, min_age_s: float = 0) -> int:
        """Remove upload directories no packet names; how many were removed.

        Args:
            referenced: the directories packet rows name.
            min_age_s: spare directories changed more recently than this (a
                shared directory holds other nodes' uploads in flight).
        """
        removed = 0
        cutoff = time.time() - min_age_s
        for entry in self.root.iterdir():
            if min_age_s and entry.is_dir() and entry.stat().st_mtime > cutoff:
                continue
            if entry.is_dir() and entry.name not in referenced:
                shutil.rmtree(entry, ignore_errors=True)
                removed += 1
        return removed

    def seal_inline(self, packet_id: str, name: str, data: bytes) -> bytes:
        """Encrypt a small blob for the ``inline`` column (same format as a file)."""
        return self._key.encrypt(data, name=self._aad(packet_id, name))

    def write_blob(self, directory: str, packet_id: str, name: str, data: bytes) -> None:
        """Write one whole blob (a large photo) into an upload's directory, durably."""
        folder = self.root / directory
        if not folder.exists():
            folder.mkdir(mode=0o700)
            _fsync_dir(self.root)
        # A name of its own: on a shared directory another node may write the same blob.
        tmp = folder / f".{name}.{secrets.token_hex(4)}.tmp"
        with tmp.open("wb") as sink:
            writer = self._key.writer(sink, name=self._aad(packet_id, name))
            writer.write(data)
            writer.finish()
        os.rename(tmp, folder / name)
        _fsync_dir(folder)

    def read(
        self, directory: str, packet_id: str, name: str, inline: bytes | None
    ) -> Iterator[bytes]:
        """Decrypt one blob chunk by chunk (raises Invalid if it was altered)."""
        aad = self._aad(packet_id, name)
        if inline is not None:
            yield self._key.decrypt(inline, name=aad)
            return
        with (self.root / directory / name).open("rb") as source:
            yield from self._key.read(source, name=aad)

    def read_all(self, directory: str, packet_id: str, name: str, inline: bytes | None) -> bytes:
        return b"".join(self.read(directory, packet_id, name, inline))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
