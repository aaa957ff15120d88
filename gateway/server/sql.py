"""One SQL interface over the gateway's two database backends: SQLite and PostgreSQL.

The server's storage code is written once, as functions that take a
:class:`Connection` and run SQLite-dialect statements on it
(``conn.execute("... WHERE id = ?", (x,))``). An ``sqlite3.Connection``
satisfies :class:`Connection` as it is; :class:`PgConnection` wraps a
psycopg 3 connection and translates each statement once (cached):

* ``?`` placeholders become ``%s`` (and a literal ``%`` becomes ``%%``);
* ``INSERT OR IGNORE`` becomes ``INSERT ... ON CONFLICT DO NOTHING``;
* ``INSERT OR REPLACE`` becomes ``INSERT ... ON CONFLICT (key) DO UPDATE``,
  the key taken from :data:`REPLACE_KEYS`;
* ``BEGIN IMMEDIATE`` becomes ``BEGIN``.

What the two engines do differently beyond syntax is said once here:

* Gapless sequences (log indices, the inbox cursor, case numbers) are
  ``MAX(...) + 1`` inside the writing transaction. SQLite holds one write
  lock per database, so that is safe there; on PostgreSQL several nodes
  write at once, so the statement is preceded by :func:`serialize`, a
  transaction-scoped advisory lock per sequence, held until commit: the
  numbers are gapless and commit in their own order.
* Errors: :data:`DATABASE_ERRORS` is what either engine raises.

Guarantee: a function written against :class:`Connection` with SQLite
syntax from the subset above runs unchanged on both backends.
"""

from __future__ import annotations

import contextlib
import functools
import re
import sqlite3
import zlib
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol

import psycopg
from psycopg import pq
from psycopg.adapt import Dumper

POSTGRES_SCHEMES = ("postgresql://", "postgres://")
DATABASE_ERRORS: tuple[type[Exception], ...] = (sqlite3.Error, psycopg.Error)


def is_write_conflict(exc: BaseException) -> bool:
    """Whether PostgreSQL aborted a transaction for a concurrent one's sake (a
    deadlock, e.g. two clients uploading the same two packets to two nodes
    in opposite order; a serialization failure): retrying it succeeds."""
    return isinstance(exc, psycopg.errors.DeadlockDetected | psycopg.errors.SerializationFailure)


def is_unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` says the PostgreSQL server cannot be reached now (down,
    restarting, failing over, the pool out of connections): a request may
    succeed when retried. SQLite's own errors are local and are not this,
    nor is a write conflict (:func:`is_write_conflict`)."""
    return isinstance(exc, psycopg.OperationalError) and not is_write_conflict(exc)

# INSERT OR REPLACE needs the conflict target on PostgreSQL: the table's primary key.
REPLACE_KEYS: dict[str, tuple[str, ...]] = {
    "log_cosignatures": ("size", "cosigner"),
    "case_records": ("packet_id", "position"),
}


class Cursor(Protocol):
    """What a statement returns: rows to fetch or iterate, and a row count."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """The part of a DB-API connection the gateway's storage functions use."""

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Cursor: ...

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Cursor: ...


def is_postgres(target: object) -> bool:
    """Whether a database target (a path or a DSN) names a PostgreSQL server."""
    return isinstance(target, str) and target.startswith(POSTGRES_SCHEMES)


class _BoolAsInt(Dumper):
    """Python booleans go to INTEGER columns as 0/1, as SQLite stores them."""

    oid = 20  # int8

    def dump(self, obj: Any) -> bytes:
        return b"1" if obj else b"0"


def connect_postgres(dsn: str) -> psycopg.Connection[Any]:
    """A psycopg connection in autocommit mode: every transaction is an explicit BEGIN.

    Raises:
        psycopg.OperationalError: the server cannot be reached.
    """
    conn = psycopg.connect(dsn, autocommit=True)
    configure_postgres(conn)
    return conn


def configure_postgres(conn: psycopg.Connection[Any]) -> None:
    """Make a psycopg connection take parameters as sqlite3 does (booleans as 0/1)."""
    conn.adapters.register_dumper(bool, _BoolAsInt)


class PgConnection:
    """A psycopg connection that speaks the gateway's SQLite-dialect statements.

    Statements given to :meth:`defer` (the writer's ``BEGIN``, savepoint steps)
    go out with the next statement, pipelined in its round trip: a write of
    one statement costs one round trip, not two.
    """

    __slots__ = ("deferred", "raw")

    def __init__(self, raw: psycopg.Connection[Any]) -> None:
        self.raw = raw
        self.deferred: list[str] = []

    def defer(self, *statements: str) -> None:
        """Send parameterless ``statements`` before the next one, in its round trip."""
        self.deferred.extend(statements)

    def take_deferred(self) -> list[str]:
        """The deferred statements, not sent (the caller sends or drops them)."""
        taken, self.deferred = self.deferred, []
        return taken

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Cursor:
        if not self.deferred:
            return self.raw.execute(translate(sql), params_of(parameters))
        with self.raw.pipeline():  # one round trip; an error is raised at its end
            for statement in self.take_deferred():
                self.raw.execute(statement)
            cur = self.raw.execute(translate(sql), params_of(parameters))
        return cur

    def execute_script(self, sql: str) -> None:
        """Run PostgreSQL statements without parameters, joined by ``;``, in one round trip."""
        script = "; ".join([*self.take_deferred(), sql])
        self.raw.execute(script.encode())  # bytes: no placeholders parsed, no extended protocol

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Cursor:
        if self.deferred:
            self.execute_script("SELECT 1")
        cur = self.raw.cursor()
        cur.executemany(translate(sql), [params_of(p) for p in parameters])
        return cur

    @property
    def in_transaction(self) -> bool:
        return self.raw.info.transaction_status != pq.TransactionStatus.IDLE

    def close(self) -> None:
        self.raw.close()


def params_of(parameters: Sequence[Any]) -> Sequence[Any]:
    """``parameters`` as psycopg takes them."""
    # memoryview (what sqlite3 hands back for BLOBs) is bytes to psycopg too.
    return [bytes(p) if isinstance(p, memoryview) else p for p in parameters]


def serialize(conn: Connection, sequence: str) -> None:
    """Hold ``sequence``'s lock until this transaction ends (PostgreSQL only).

    Call it before computing ``MAX(...) + 1`` for a gapless sequence. On
    SQLite the writer already holds the only write lock, so this does nothing.
    """
    if isinstance(conn, PgConnection):
        conn.execute("SELECT pg_advisory_xact_lock(?)", (advisory_key(sequence),))


def pipelined(conn: Connection) -> contextlib.AbstractContextManager[object]:
    """Send the statements run inside this block without waiting for each (PostgreSQL).

    On PostgreSQL (psycopg's pipeline mode) statements whose rows are not
    fetched go out together and are answered together when the block ends,
    one round trip; a ``fetchone`` inside waits for everything sent before.
    An error of any statement is raised by the fetch or the block's end, so
    use it only around statements whose failure fails the whole block, and
    never read ``rowcount`` inside it. On SQLite statements run as they come.
    """
    if isinstance(conn, PgConnection):
        return conn.raw.pipeline()
    return contextlib.nullcontext()


def notify(conn: Connection, channel: str) -> None:
    """Tell every listener on ``channel`` once this transaction commits (PostgreSQL only).

    SQLite has one process writing and no listeners, so this does nothing there.
    """
    if isinstance(conn, PgConnection):
        conn.execute(f"NOTIFY {channel}")


def advisory_key(name: str) -> int:
    """A stable 63-bit advisory-lock key for ``name`` (every node computes the same)."""
    return zlib.crc32(b"dxg:" + name.encode()) | (0x4458 << 32)


_INSERT_VERB = re.compile(r"^\s*INSERT\s+OR\s+(IGNORE|REPLACE)\s+INTO\s+(\w+)\s*\(([^)]*)\)", re.I)
_RETURNING = re.compile(r"\sRETURNING\s", re.I)


@functools.lru_cache(maxsize=1024)
def translate(sql: str) -> str:
    """The PostgreSQL form of one SQLite-dialect statement (see the module docstring).

    Raises:
        ValueError: an ``INSERT OR REPLACE`` into a table :data:`REPLACE_KEYS` does not name.
    """
    out = _placeholders(sql)
    if re.match(r"^\s*BEGIN\s+IMMEDIATE\s*$", out, re.I):
        return "BEGIN"
    verb = _INSERT_VERB.match(out)
    if verb is None:
        return out
    action, table, columns = verb.group(1).upper(), verb.group(2), verb.group(3)
    out = re.sub(r"^\s*INSERT\s+OR\s+\w+\s+INTO", "INSERT INTO", out, count=1, flags=re.I)
    if action == "IGNORE":
        clause = " ON CONFLICT DO NOTHING"
    else:
        key = REPLACE_KEYS.get(table)
        if key is None:
            raise ValueError(f"INSERT OR REPLACE into {table}: add its key to REPLACE_KEYS")
        names = [c.strip() for c in columns.split(",")]
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in names if c not in key)
        clause = f" ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}"
    returning = _RETURNING.search(out)
    if returning is None:
        return out.rstrip().rstrip(";") + clause
    return out[: returning.start()] + clause + out[returning.start() :]


def _placeholders(sql: str) -> str:
    """``?`` outside string literals becomes ``%s``; ``%`` becomes ``%%``."""
    parts: list[str] = []
    in_literal = False
    for ch in sql:
        if ch == "'":
            in_literal = not in_literal
            parts.append(ch)
        elif ch == "%":
            parts.append("%%")
        elif ch == "?" and not in_literal:
            parts.append("%s")
        else:
            parts.append(ch)
    return "".join(parts)


def postgres_ddl(script: str) -> str:
    """The PostgreSQL form of a SQLite schema script (tables and indexes only).

    ``INTEGER`` becomes ``BIGINT`` (indices, sizes and times outgrow 32 bits),
    ``BLOB`` becomes ``BYTEA``, an ``AUTOINCREMENT`` key an identity column,
    ``WITHOUT ROWID`` (a SQLite storage choice) is dropped. Triggers are not
    translated: each backend's migration writes its own.
    """
    out = re.sub(
        r"INTEGER\s+PRIMARY\s+KEY\s+AUTOINCREMENT",
        "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
        script,
        flags=re.I,
    )
    out = re.sub(r"\bINTEGER\b", "BIGINT", out)
    out = re.sub(r"\bBLOB\b", "BYTEA", out)
    out = re.sub(r"\)\s*WITHOUT\s+ROWID", ")", out, flags=re.I)
    return out


def statements(script: str) -> list[str]:
    """The statements of a script without triggers, split on ``;`` (comments dropped first)."""
    bare = re.sub(r"--[^\n]*", "", script)
    return [s.strip() for s in bare.split(";") if s.strip()]
