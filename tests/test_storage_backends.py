"""One storage suite, run against both backends: a SQLite file and a real PostgreSQL.

Every test takes ``database_target`` (tests/conftest.py): a SQLite path, then
the DSN of a fresh database on a throwaway PostgreSQL cluster. It covers the
writer's guarantees (durable before acknowledged, even across ``kill -9``;
group commit with a savepoint per write; readers see every committed write
and cannot write), the schema migrations, the log's gapless indices with two
writers at once, and the Merkle tree, whose root must not depend on the backend.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway.protocol.merkle import range_root
from gateway.server import migrations, store
from gateway.server.extraction import _claim_jobs
from gateway.server.log import MerkleLog, insert_entry
from gateway.server.sql import DATABASE_ERRORS, Connection, translate
from gateway.server.store import Database
from tests.writer import hold_writer

WAIT_S = 10  # bounds every wait on the writer: the failure mode under test is a hang
QUEUED = 40  # writes queued behind a held writer: they must commit as one group


def open_migrated(target: Path | str) -> Database:
    db = Database(target)
    db.write_sync(migrations.migrate)
    return db


def count(table: str) -> Callable[[Connection], int]:
    def run(c: Connection) -> int:
        return int(c.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])

    return run


def test_migrations_bring_an_empty_database_to_the_latest_version_once(
    database_target: Path | str,
) -> None:
    db = Database(database_target)
    try:
        assert db.read_sync(migrations.current_version) == 0
        assert db.write_sync(migrations.migrate) == list(range(1, migrations.LATEST + 1))
        assert db.read_sync(migrations.current_version) == migrations.LATEST
        assert db.write_sync(migrations.migrate) == []  # nothing left to apply
        for table in ("packets", "receipts", "seen_jti", "log_entries", "log_nodes",
                      "log_checkpoints", "cases", "case_events"):  # fmt: skip
            assert db.read_sync(count(table)) == 0
        assert db.read_sync(count("log_meta")) == 1
        assert db.read_sync(count("packets WHERE claimed_by IS NULL")) == 0  # version 2
    finally:
        db.close()


def test_a_database_of_an_older_gateway_migrates_and_keeps_its_rows(tmp_path: Path) -> None:
    """A SQLite file made before migrations existed (tables, no schema_version)
    takes version 1 unchanged, then version 2, its rows kept."""
    path = tmp_path / "dxg.sqlite3"
    with sqlite3.connect(path) as old:
        old.executescript(store.SCHEMA)
        old.execute("INSERT INTO parties (id, roles, added_at) VALUES ('ua', '[]', 't')")
    db = Database(path)
    try:
        assert db.write_sync(migrations.migrate) == [1, 2]
        assert db.read_sync(lambda c: c.execute("SELECT id FROM parties").fetchall()) == [("ua",)]
    finally:
        db.close()


def test_the_log_refuses_to_rewrite_an_entry_on_either_backend(
    database_target: Path | str,
) -> None:
    db = open_migrated(database_target)
    try:
        db.write_sync(lambda c: insert_entry(c, b"receipt-0", appended_at="2026-01-01T00:00:00Z"))
        with pytest.raises(DATABASE_ERRORS, match="append-only"):
            db.write_sync(lambda c: c.execute("UPDATE log_entries SET entry = ?", (b"forged",)))
        with pytest.raises(DATABASE_ERRORS, match="append-only"):
            db.write_sync(lambda c: c.execute("DELETE FROM log_entries"))
        assert db.read_sync(
            lambda c: bytes(c.execute("SELECT entry FROM log_entries").fetchone()[0])
        ) == b"receipt-0"
    finally:
        db.close()


def test_a_failing_write_in_a_group_rolls_back_alone(database_target: Path | str) -> None:
    """Group commit: writes queued while the writer is busy share one
    transaction, each in its own savepoint; the one that fails is undone and
    its caller gets the error, the others commit."""
    db = open_migrated(database_target)
    try:
        db.write_sync(lambda c: c.execute("CREATE TABLE t (x INTEGER PRIMARY KEY)"))
        gate, busy = hold_writer(db, WAIT_S)  # holds the writer: the rest queue up

        def insert(x: int) -> Callable[[Connection], int]:
            def run(c: Connection) -> int:
                c.execute("INSERT INTO t (x) VALUES (?)", (x,))
                if x == 7:
                    c.execute("INSERT INTO t (x) VALUES (?)", (x,))  # a duplicate key: fails
                return x

            return run

        futures = [db.submit(insert(x)) for x in range(QUEUED)]
        gate.set()
        assert busy.result(WAIT_S) is True
        for x, future in enumerate(futures):
            if x == 7:
                with pytest.raises(DATABASE_ERRORS):
                    future.result(WAIT_S)
            else:
                assert future.result(WAIT_S) == x
        rows = db.read_sync(lambda c: [r[0] for r in c.execute("SELECT x FROM t ORDER BY x")])
        assert rows == [x for x in range(QUEUED) if x != 7]
    finally:
        db.close()


def test_one_statement_writes_of_a_group_fail_alone_whichever_way_they_fail(
    database_target: Path | str,
) -> None:
    """An intake's form of write (one statement, then Python on its row): on
    PostgreSQL a group sends all their statements in one pipeline. One that
    the database refuses (x=3, a CHECK), one refused before it leaves (x=7,
    a parameter psycopg cannot send) and one whose step after its row raises
    (x=5, after writing a row of its own) are each their caller's error
    alone, undone; every other write commits, the ones after a refused
    statement too (sent again). SQLite runs each in turn, with the same
    answers."""
    db = open_migrated(database_target)
    try:
        db.write_sync(lambda c: c.execute("CREATE TABLE t (x INTEGER PRIMARY KEY CHECK (x <> 3))"))
        db.write_sync(lambda c: c.execute("INSERT INTO t (x) VALUES (5)"))
        gate, busy = hold_writer(db, WAIT_S)  # holds the writer: the rest queue up

        def step(c: Connection, row: Any) -> int:
            if row is None:  # x=5 was there: nothing inserted, and this step is refused
                c.execute("INSERT INTO t (x) VALUES (500)")
                raise LookupError("refused after its row")
            return int(row[0])

        insert = "INSERT INTO t (x) VALUES (?) ON CONFLICT DO NOTHING RETURNING x"
        futures = [
            db.submit_statement(store.Statement(insert, (object() if x == 7 else x,), step))
            for x in range(QUEUED)
        ]
        gate.set()
        assert busy.result(WAIT_S) is True
        for x, future in enumerate(futures):
            if x in (3, 7):
                with pytest.raises(DATABASE_ERRORS):
                    future.result(WAIT_S)
            elif x == 5:
                with pytest.raises(LookupError):
                    future.result(WAIT_S)
            else:
                assert future.result(WAIT_S) == x
        rows = db.read_sync(lambda c: [r[0] for r in c.execute("SELECT x FROM t ORDER BY x")])
        assert rows == [x for x in range(QUEUED) if x not in (3, 7)]
    finally:
        db.close()


def test_queued_writes_commit_in_one_transaction_on_postgresql(postgres_dsn: str) -> None:
    """The group is one transaction (one commit, one WAL flush) on PostgreSQL too."""
    db = open_migrated(postgres_dsn)
    try:
        gate, busy = hold_writer(db, WAIT_S)
        futures = [
            db.submit(lambda c: int(c.execute("SELECT txid_current()").fetchone()[0]))
            for _ in range(QUEUED)
        ]
        gate.set()
        busy.result(WAIT_S)
        assert len({f.result(WAIT_S) for f in futures}) == 1
    finally:
        db.close()


def test_a_reader_sees_every_acknowledged_write_and_cannot_write(
    database_target: Path | str,
) -> None:
    db = open_migrated(database_target)
    try:
        db.write_sync(lambda c: c.execute("CREATE TABLE t (x INTEGER)"))
        for expected in (1, 2, 3):
            db.write_sync(lambda c: c.execute("INSERT INTO t VALUES (1)"))
            assert db.lookup(count("t")) == expected
            assert db.read_sync(count("t")) == expected
        with pytest.raises(DATABASE_ERRORS):
            db.lookup(lambda c: c.execute("INSERT INTO t VALUES (2)"))
        assert db.read_sync(count("t")) == 3
    finally:
        db.close()


_WRITER = """
import sys
from gateway.server.store import Database
from gateway.server import migrations, store
target = sys.argv[1]
db = Database(target)
db.write_sync(migrations.migrate)
db.write_sync(lambda c: c.execute("CREATE TABLE IF NOT EXISTS acked (n INTEGER PRIMARY KEY)"))
n = 0
while True:
    futures = [db.submit(lambda c, k=k: c.execute("INSERT INTO acked VALUES (?)", (k,)))
               for k in range(n, n + 8)]
    for k, f in zip(range(n, n + 8), futures):
        f.result()
        print(k, flush=True)  # acknowledged: the write returned
    n += 8
"""


def test_every_acknowledged_write_survives_kill_9(database_target: Path | str) -> None:
    """Durable before acknowledged: a writer process killed with SIGKILL in
    the middle of its stream loses none of the writes it had acknowledged."""
    target = str(database_target)
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, target],
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ | {"PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    acked: list[int] = []
    for line in proc.stdout:
        acked.append(int(line))
        if len(acked) >= 300:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(WAIT_S)
    acked += [int(line) for line in proc.stdout.read().split()]  # printed before the kill
    db = Database(database_target)
    try:
        stored = set(db.read_sync(lambda c: [r[0] for r in c.execute("SELECT n FROM acked")]))
    finally:
        db.close()
    assert set(acked) <= stored, sorted(set(acked) - stored)[:5]


def test_two_writers_append_gapless_log_indices(database_target: Path | str) -> None:
    """Two databases on one store (two gateway nodes) append to the log at
    once: every index from 0 is used exactly once."""
    nodes = [open_migrated(database_target), Database(database_target)]
    per_node = 60
    try:
        def entry(name: str) -> Callable[[Connection], int]:
            return lambda c: insert_entry(c, name.encode(), appended_at="2026-01-01T00:00:00Z")

        futures = [
            node.submit(entry(f"node{n}-{k}"))
            for k in range(per_node)
            for n, node in enumerate(nodes)
        ]
        indices = sorted(f.result(WAIT_S) for f in futures)
        assert indices == list(range(2 * per_node))
    finally:
        for node in nodes:
            node.close()


def test_two_nodes_deciding_on_one_row_decide_once(database_target: Path | str) -> None:
    """Regression for two nodes on PostgreSQL: a write that reads a status
    and acts on it (expire a packet, make it READY) must see the other
    node's committed decision. READ COMMITTED alone lets both read "not yet"
    and both act; the write-group lock serialises them."""
    nodes = [open_migrated(database_target), Database(database_target)]
    nodes[0].write_sync(lambda c: c.execute("CREATE TABLE flags (k INTEGER PRIMARY KEY, done INT)"))
    nodes[0].write_sync(lambda c: c.execute("CREATE TABLE acts (k INTEGER, node INTEGER)"))
    keys = range(200)  # without the lock, some of them race (checked: the test fails)
    nodes[0].write_sync(
        lambda c: c.executemany("INSERT INTO flags (k, done) VALUES (?, 0)", [(k,) for k in keys])
    )

    def decide(k: int, node: int) -> Callable[[Connection], None]:
        def run(c: Connection) -> None:
            (done,) = c.execute("SELECT done FROM flags WHERE k = ?", (k,)).fetchone()
            if not done:
                c.execute("INSERT INTO acts (k, node) VALUES (?, ?)", (k, node))
                c.execute("UPDATE flags SET done = 1 WHERE k = ?", (k,))

        return run

    try:
        futures = [nodes[n].submit(decide(k, n)) for k in keys for n in (0, 1)]
        for future in futures:
            future.result(WAIT_S)
        acts = nodes[0].read_sync(lambda c: [r[0] for r in c.execute("SELECT k FROM acts")])
        assert sorted(acts) == list(keys)  # each decided exactly once
    finally:
        for node in nodes:
            node.close()


def test_the_merkle_root_does_not_depend_on_the_backend(
    tmp_path: Path, postgres_dsn: str
) -> None:
    entries = [f"receipt {i}".encode() for i in range(1000)]
    roots = []
    for target in (tmp_path / "log.sqlite3", postgres_dsn):
        open_migrated(target).close()
        with MerkleLog(target) as log:
            log.append(entries[:600])
            assert log.integrate(250) == 250
            while log.integrate(250):
                pass
            log.append(entries[600:])
            log.integrate()
            assert log.size() == len(entries)
            assert log.entries(598, 602) == entries[598:602]
            roots.append((log.root(), log.root(600), log.consistency(600, 1000).hashes))
    assert roots[0] == roots[1]
    from gateway.protocol.merkle import leaf_hash  # noqa: PLC0415

    leaves = [leaf_hash(e) for e in entries]
    assert roots[0][0] == range_root(0, len(entries), lambda keys: [_node(leaves, k) for k in keys])


def _node(leaves: list[bytes], key: tuple[int, int]) -> bytes:
    from gateway.protocol.merkle import node_hash  # noqa: PLC0415

    level, idx = key
    if level == 0:
        return leaves[idx]
    return node_hash(_node(leaves, (level - 1, 2 * idx)), _node(leaves, (level - 1, 2 * idx + 1)))


@pytest.mark.parametrize(
    ("sqlite", "postgresql"),
    [
        ("SELECT x FROM t WHERE a = ? AND b LIKE 'a?%'",
         "SELECT x FROM t WHERE a = %s AND b LIKE 'a?%%'"),
        ("INSERT OR IGNORE INTO seen_jti (issuer, jti, expires) VALUES (?, ?, ?)",
         "INSERT INTO seen_jti (issuer, jti, expires) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING"),
        ("INSERT OR IGNORE INTO t (a) SELECT ? RETURNING a",
         "INSERT INTO t (a) SELECT %s ON CONFLICT DO NOTHING RETURNING a"),
        ("INSERT OR REPLACE INTO case_records (packet_id, position, case_id) VALUES (?, ?, ?)",
         "INSERT INTO case_records (packet_id, position, case_id) VALUES (%s, %s, %s)"
         " ON CONFLICT (packet_id, position) DO UPDATE SET case_id = EXCLUDED.case_id"),
        ("BEGIN IMMEDIATE", "BEGIN"),
    ],
)  # fmt: skip
def test_statements_translate_to_postgresql(sqlite: str, postgresql: str) -> None:
    assert translate(sqlite) == postgresql


def test_insert_or_replace_into_an_unknown_table_is_refused_not_guessed() -> None:
    with pytest.raises(ValueError, match="REPLACE_KEYS"):
        translate("INSERT OR REPLACE INTO mystery (a, b) VALUES (?, ?)")


def test_two_nodes_claim_disjoint_extraction_jobs_and_a_dead_nodes_claim_runs_out(
    database_target: Path | str,
) -> None:
    """Extraction shares its queue through the database: two nodes claiming
    at once get disjoint packets; a packet claimed by a node that then died
    is taken by another once the claim has run out."""
    nodes = [open_migrated(database_target), Database(database_target)]
    ids = [f"00000000-0000-4000-8000-{i:012d}" for i in range(30)]
    at = datetime(2026, 1, 1, tzinfo=UTC)

    def packets(c: Connection) -> None:
        c.executemany(
            "INSERT INTO packets (packet_id, sender, recipient, kind, created, envelope,"
            " envelope_sha256, blob_dir, status, accepted_at, deadline, response)"
            " VALUES (?, 'ua', 'ru', 'message', 't', 'e', 'h', ?, 'ACCEPTED', ?, 't', '{}')",
            [(p, p, f"2026-01-01T00:00:{i:02d}Z") for i, p in enumerate(ids)],
        )

    def claim(node: int, at: datetime, limit: int = 10) -> Callable[[Connection], list[str]]:
        def run(c: Connection) -> list[str]:
            jobs = _claim_jobs(c, node=f"node{node}", skip=set(), limit=limit, at=at, hold_s=60,
                               renew=True)
            return [job.packet_id for job in jobs]

        return run

    try:
        nodes[0].write_sync(packets)
        futures = [nodes[n].submit(claim(n, at)) for n in (0, 1)]
        first, second = (f.result(WAIT_S) for f in futures)
        assert len(first) == len(second) == 10 and not set(first) & set(second)
        # node0 dies; before its claims run out nobody else takes them ...
        third = nodes[1].write_sync(claim(2, at + timedelta(seconds=30), limit=30))
        assert set(third) == set(ids) - set(first) - set(second)
        # ... after, another node does.
        later = nodes[1].write_sync(claim(2, at + timedelta(seconds=61), limit=30))
        assert set(first) <= set(later)
    finally:
        for node in nodes:
            node.close()
