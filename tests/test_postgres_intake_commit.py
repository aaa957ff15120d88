"""Intake's commit on PostgreSQL: inserts before any lock, the log's index at the group's end.

An intake write (``Database.write_unlocked``) inserts its packet, parts and
timeline without the cross-node write-group lock; its receipt is numbered
by a :class:`gateway.server.store.Finish` step, under the log's own lock,
pipelined with COMMIT. These tests hold each lock from another connection
(another node) and check what waits and what does not, that indices stay
gapless across two nodes mixing intakes and ordinary receipts, and that a
packet sent again while its first upload is still in flight answers the
first body.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any, cast

import psycopg
import pytest

from gateway.protocol.crypto import jws
from gateway.protocol.manifest import Manifest
from gateway.server import migrations, receipts, sql
from gateway.server.intake import IntakeResult, _answer_taken
from gateway.server.log import insert_entry
from gateway.server.sql import Connection, advisory_key
from gateway.server.store import WRITE_GROUP_LOCK, Database, Finish
from tests.conftest import Exchange, running_exchange
from tests.harness import Party, make_keys, make_packet, post_packet, tiny_pdf, wait_for
from tests.writer import hold_writer

WAIT_S = 10  # bounds every wait: the failure mode under test is a hang
PREFIX = '{"packet_id": "%s", "status": "ACCEPTED", "log_index": '  # a 202 body before its index


def open_migrated(dsn: str) -> Database:
    db = Database(dsn)
    db.write_sync(migrations.migrate)
    return db


def submit_intake(db: Database, packet_id: str) -> Future[int]:
    """Submit a write shaped like intake's; its future gives the receipt's log index."""
    return cast("Future[int]", db.submit(intake(packet_id), lock_first=False))


def intake(packet_id: str) -> Callable[[Connection], Finish[Any, int]]:
    """A write shaped like intake's: the packet row (its body unnumbered), then a Finish."""

    def run(conn: Connection) -> Finish[Any, int]:
        conn.execute(
            "INSERT INTO packets (packet_id, sender, recipient, kind, created, envelope,"
            " envelope_sha256, blob_dir, status, accepted_at, deadline, response)"
            " VALUES (?, 'ua', 'ru', 'dossier', 't', 'e', 'h', 'd', 'ACCEPTED', 't', 't', ?)",
            (packet_id, PREFIX % packet_id),
        )
        item = receipts.Unnumbered(
            compact=f"receipt-of-{packet_id}",
            sha256=f"sha-{packet_id}",
            packet_id=packet_id,
            level="ACCEPTED",
            issuer="gw",
            appended_at="2026-12-01T00:00:00Z",
        )
        return Finish(receipts.number_accepted, item, int)

    return run


def wait_for_advisory_waiter(watch: psycopg.Connection[Any]) -> bool:
    """Whether a backend comes to wait for an advisory lock (polled in pg_locks, bounded)."""

    def waiting() -> bool:
        row = watch.execute(
            "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        ).fetchone()
        return row is not None and row[0] == 1

    return bool(wait_for(waiting, timeout=WAIT_S, interval=0.01))


class HeldLock:
    """An advisory lock held by another session (another node) until released."""

    def __init__(self, dsn: str, name: str) -> None:
        self._conn = psycopg.connect(dsn, autocommit=True)
        self._conn.execute("SELECT pg_advisory_lock(%s)", (advisory_key(name),))

    def release(self) -> None:
        self._conn.close()  # a session lock ends with its session


@pytest.fixture
def node(postgres_dsn: str) -> Iterator[Database]:
    db = open_migrated(postgres_dsn)
    yield db
    db.close()


def test_an_intake_commits_while_another_node_holds_the_write_group_lock(
    node: Database, postgres_dsn: str
) -> None:
    # Regression for the 2-node intake rate: every group used to take the
    # write-group lock at BEGIN, so one node's intakes queued behind the
    # other's whole group. Now an intake never takes it.
    held = HeldLock(postgres_dsn, WRITE_GROUP_LOCK)
    try:
        assert submit_intake(node, "p-1").result(WAIT_S) == 0
        ordinary = node.submit(lambda c: c.execute("SELECT 1").fetchone()[0])
        with psycopg.connect(postgres_dsn, autocommit=True) as watch:
            assert wait_for_advisory_waiter(watch)  # an ordinary write still waits for it
        assert not ordinary.done()
    finally:
        held.release()
    assert ordinary.result(WAIT_S) == 1


def test_an_intake_inserts_before_the_log_lock_and_commits_after_it(
    node: Database, postgres_dsn: str
) -> None:
    held = HeldLock(postgres_dsn, "log_entries")
    try:
        pending = submit_intake(node, "p-1")
        # The packet row is in (its insert waits for no lock); not yet committed.
        with psycopg.connect(postgres_dsn, autocommit=True) as watch:
            assert wait_for_advisory_waiter(watch), "the intake never reached the log's lock"
            assert not pending.done()
            visible = watch.execute("SELECT COUNT(*) FROM packets").fetchone()
            assert visible is not None and visible[0] == 0  # nothing half-committed
    finally:
        held.release()
    assert pending.result(WAIT_S) == 0
    body = node.read_sync(
        lambda c: c.execute("SELECT response FROM packets WHERE packet_id = 'p-1'").fetchone()[0]
    )
    assert json.loads(body)["log_index"] == 0


def test_two_nodes_number_intakes_and_other_receipts_gapless_and_consistently(
    postgres_dsn: str,
) -> None:
    nodes = [open_migrated(postgres_dsn), Database(postgres_dsn)]
    per_node = 60
    try:
        futures: list[Future[int]] = []
        for k in range(per_node):
            for n, db in enumerate(nodes):
                futures.append(submit_intake(db, f"p-{n}-{k}"))
                if k % 3 == 0:  # an ordinary receipt (a case event, a delivery) in between
                    name = f"other-{n}-{k}".encode()
                    futures.append(db.submit(partial(insert_entry, entry=name, appended_at="t")))
        indices = sorted(f.result(WAIT_S) for f in futures)
        assert indices == list(range(len(futures)))
        rows = nodes[0].read_sync(lambda c: c.execute(
            "SELECT p.packet_id, p.response, r.log_index, e.entry FROM packets p"
            " JOIN receipts r ON r.packet_id = p.packet_id"
            " JOIN log_entries e ON e.idx = r.log_index"
        ).fetchall())  # fmt: skip
        assert len(rows) == 2 * per_node
        for packet_id, response, log_index, entry in rows:
            assert json.loads(response) == {
                "packet_id": packet_id, "status": "ACCEPTED", "log_index": log_index
            }
            assert bytes(entry) == f"receipt-of-{packet_id}".encode()
    finally:
        for db in nodes:
            db.close()


def test_an_upload_of_an_id_taken_earlier_in_its_group_answers_the_first_whole_body(
    node: Database, tmp_path: Path
) -> None:
    # Regression: the first upload's stored body has no log index until the
    # group's end; the second, in the same group, must not answer (or parse)
    # it half-made, but wait for the numbering and answer 200 with the whole.
    ua = Party("ua", tmp_path / "ua", make_keys(tmp_path / "ua"))
    packet = make_packet(ua, "ru", [("a.pdf", "application/pdf", tiny_pdf("one"))])
    manifest = Manifest.from_bytes(jws.parse(packet.envelope, typ=jws.TYP_PACKET).payload)
    gate, busy = hold_writer(node, WAIT_S)  # holds the writer: the next two group

    def first(conn: Connection) -> Finish[Any, int]:
        finish = intake(packet.packet_id)(conn)
        conn.execute(
            "UPDATE packets SET sender = ?, envelope = ? WHERE packet_id = ?",
            (ua.id, packet.envelope, packet.packet_id),
        )
        return finish

    def again(conn: Connection) -> object:
        return _answer_taken(conn, manifest, packet.envelope)

    index = cast("Future[int]", node.submit(first, lock_first=False))
    answer = node.submit(again, lock_first=False)
    gate.set()
    assert busy.result(WAIT_S) is True
    assert answer.result(WAIT_S) == IntakeResult(status=200, body={
        "packet_id": packet.packet_id, "status": "ACCEPTED", "log_index": index.result(WAIT_S)
    })  # fmt: skip


@pytest.fixture
def pg_exchange(tmp_path: Path, postgres_dsn: str) -> Iterator[Exchange]:
    with running_exchange(tmp_path, {"database": postgres_dsn}) as ex:
        yield ex


def test_the_same_packet_sent_at_once_is_accepted_once_and_every_answer_is_the_first_body(
    pg_exchange: Exchange,
) -> None:
    # Regression: an upload whose id was taken earlier in the same write
    # group finds the first body still without its log index; it must wait
    # for the group's numbering and answer 200 with the whole first body.
    ex = pg_exchange
    for round_ in range(4):
        packet = make_packet(ex.ua, "ru", [("a.pdf", "application/pdf", tiny_pdf(str(round_)))])
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(post_packet, [ex.gw] * 8, [ex.ua] * 8, [packet] * 8))
        assert sorted(a.status for a in answers) == [200] * 7 + [202], [a.body for a in answers]
        bodies = [a.json() for a in answers]
        assert all(body == bodies[0] for body in bodies)
        assert isinstance(bodies[0]["log_index"], int)


def test_a_deadlock_is_a_write_conflict_to_retry_not_an_unreachable_database(
    postgres_dsn: str,
) -> None:
    """Regression: two uploads of the same two packets to two nodes in opposite
    order can deadlock their intake groups; PostgreSQL aborts one, and its
    callers were told the database "cannot be reached". A real deadlock on
    two rows taken in opposite order is now a write conflict to retry."""
    with psycopg.connect(postgres_dsn, autocommit=True) as setup:
        setup.execute("CREATE TABLE pair (id int PRIMARY KEY)")
        setup.execute("INSERT INTO pair VALUES (1), (2)")
    first_locked, second_locked = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def take(first: int, second: int, mine: threading.Event, theirs: threading.Event) -> None:
        with psycopg.connect(postgres_dsn) as conn:
            try:
                conn.execute("SELECT 1 FROM pair WHERE id = %s FOR UPDATE", (first,))
                mine.set()
                theirs.wait(10)
                conn.execute("SELECT 1 FROM pair WHERE id = %s FOR UPDATE", (second,))
            except psycopg.Error as exc:
                failures.append(exc)

    threads = [threading.Thread(target=take, args=(1, 2, first_locked, second_locked)),
               threading.Thread(target=take, args=(2, 1, second_locked, first_locked))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    [failure] = failures  # PostgreSQL aborts exactly one of the two
    assert sql.is_write_conflict(failure) and not sql.is_unreachable(failure)
    assert sql.is_unreachable(psycopg.OperationalError("connection refused"))


def test_a_write_aborted_as_a_deadlock_is_run_again_once_in_the_next_group(
    postgres_dsn: str,
) -> None:
    """Regression: a write that PostgreSQL aborted as a deadlock (two nodes
    inserting the same two rows in opposite order, as two uploads of the same
    two packets do) was answered 503 at once. The node now runs it again,
    once, in its next write group, after the transaction it deadlocked with
    could commit: both callers get an answer, neither an error."""
    with psycopg.connect(postgres_dsn, autocommit=True) as setup:
        setup.execute("CREATE TABLE pair (id int PRIMARY KEY)")
    nodes = [Database(postgres_dsn), Database(postgres_dsn)]
    holding = [threading.Event(), threading.Event()]
    runs: list[int] = []

    def both(node: int) -> Callable[[Connection], int]:
        mine, theirs = holding[node], holding[1 - node]
        first, second = (1, 2) if node == 0 else (2, 1)

        def run(conn: Connection) -> int:
            runs.append(node)
            insert = "INSERT INTO pair VALUES (?) ON CONFLICT DO NOTHING RETURNING id"
            inserted = conn.execute(insert, (first,)).fetchall()
            mine.set()
            theirs.wait(WAIT_S)  # both hold their first row: the second inserts deadlock
            return len(inserted + conn.execute(insert, (second,)).fetchall())

        return run

    try:
        futures = [nodes[n].submit(both(n), lock_first=False) for n in (0, 1)]
        counts = sorted(future.result(3 * WAIT_S) for future in futures)
    finally:
        for node in nodes:
            node.close()
    assert counts == [0, 2]  # one inserted both rows; the aborted one, run again, found them
    assert sorted(runs) in ([0, 0, 1], [0, 1, 1])  # exactly one write ran twice
    with psycopg.connect(postgres_dsn) as conn:
        assert conn.execute("SELECT id FROM pair ORDER BY id").fetchall() == [(1,), (2,)]
