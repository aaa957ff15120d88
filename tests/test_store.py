"""Regression tests for the database's group-committing writer (gateway.server.store)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from gateway.server.sql import Connection
from gateway.server.store import Database
from tests.writer import hold_writer

WAIT_S = 5  # bounds the wait on a writer that died: the failure mode under test


def test_a_write_cancelled_while_queued_does_not_stop_the_writer(tmp_path: Path) -> None:
    """Regression: a write whose caller gave up (an asyncio task cancelled at
    shutdown cancels the wrapped future) was run anyway, and set_result on the
    cancelled future raised InvalidStateError in the writer thread. The thread
    died, the rest of its batch never got an answer, and every later write
    waited forever.
    """
    db = Database(tmp_path / "dxg.sqlite3")
    try:
        gate, busy = hold_writer(db, WAIT_S)  # holds the writer
        given_up = db.submit(lambda c: c.execute("CREATE TABLE given_up (x)"))
        assert given_up.cancel()
        gate.set()
        assert busy.result(WAIT_S) is True

        def tables(c: Connection) -> list[str]:
            return [r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type='table'")]

        assert db.submit(lambda _c: 42).result(WAIT_S) == 42
        assert "given_up" not in db.read_sync(tables)  # its caller gave up: never run
    finally:
        db.close()


def test_a_lookup_sees_every_committed_write_and_closes_with_the_database(
    tmp_path: Path,
) -> None:
    """Database.lookup runs on the caller's own connection: it must see what
    the writer committed after that connection was opened (no stale snapshot
    held between look-ups), refuse to write, and be closed by close()."""
    db = Database(tmp_path / "dxg.sqlite3")
    db.write_sync(lambda c: c.execute("CREATE TABLE t (x INTEGER)"))

    def count(c: Connection) -> int:
        return int(c.execute("SELECT COUNT(*) FROM t").fetchone()[0])

    try:
        assert db.lookup(count) == 0
        for expected in (1, 2, 3):
            db.write_sync(lambda c: c.execute("INSERT INTO t VALUES (1)"))
            assert db.lookup(count) == expected
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            db.lookup(lambda c: c.execute("INSERT INTO t VALUES (2)"))
        assert db.read_sync(count) == 3
    finally:
        db.close()
    with pytest.raises(sqlite3.ProgrammingError):  # closed with the database
        db.lookup(count)
