"""Workers shared by the nodes of one PostgreSQL database, with real processes.

Two ``gateway serve`` nodes (copies of one data directory, one database, one
blob directory) and a notification endpoint in its own process
(``tests/notify_listener.py``): each READY packet is notified once, not once
per node, and when the node holding notifications is SIGKILLed the other
sends the rest once the dead node's claims run out. Expiry: one EXPIRED
receipt per packet whatever the number of nodes. ``gateway worker``: a
node that serves no HTTP extracts what a serving node (its extraction
off) accepted, and a second worker finishes what a killed one claimed.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from gateway.protocol.crypto import jws
from gateway.protocol.crypto.keys import load_signing_key
from gateway.protocol.errors import EXIT_USAGE
from gateway.server.config import DataDir
from gateway.server.delivery import NOTIFY_CONCURRENCY
from tests.harness import (
    GatewayProcess,
    Party,
    free_port,
    gateway_command,
    http,
    make_packet,
    post_packet,
    run_cli,
    start_gateway,
    tiny_pdf,
    wait_for,
    wait_ready,
)

NOTIFY_TIMEOUT_S = 5.0  # short attempts, so a dead node's claims run out within the test


class Listener:
    """``tests.notify_listener`` in a process of its own: what a party's endpoint received."""

    def __init__(self, tmp: Path, *, hold_s: float = 0.0) -> None:
        self.port = free_port()
        self.out = tmp / f"notifications-{self.port}.txt"
        self.out.touch()
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.notify_listener",
                                      str(self.port), str(self.out), str(hold_s)])  # fmt: skip

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/notify"

    def packet_ids(self, gw: GatewayProcess) -> list[str]:
        """The packet of every notification received so far, each verified."""
        key = load_signing_key(DataDir(gw.root).signing_key_path).public  # it may be down
        return [
            json.loads(jws.verify(jws.parse(token, typ=jws.TYP_NOTIFY), key).payload)["packet_id"]
            for token in self.out.read_text().split()
        ]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[Listener]:
    ear = Listener(tmp_path, hold_s=0.0)
    try:
        yield ear
    finally:
        ear.stop()


def second_node(first: GatewayProcess, root: Path) -> GatewayProcess:
    """Another node of ``first``'s deployment: a copy of its config and keys."""
    node = GatewayProcess(root=root, config=first.config)
    shutil.copytree(first.root, root, ignore=shutil.ignore_patterns("dxg.sqlite3*", "tmp"))
    return node


def two_node_deployment(
    tmp: Path, dsn: str, endpoint: str, **config: object
) -> tuple[GatewayProcess, GatewayProcess, Party]:
    """Two nodes (not started) and sender ``ua``; ``ru`` is notified at ``endpoint``."""
    first = start_gateway(tmp, {"database": dsn, "blobs": str(tmp / "shared-blobs"),
                                "notify_timeout_s": NOTIFY_TIMEOUT_S,
                                "notify_backoff_base_s": 0.2, **config})  # fmt: skip
    ua = first.add_party("ua")
    first.add_party("ru", endpoint=endpoint)
    return first, second_node(first, tmp / "gw2"), ua


def notification_rows(dsn: str) -> list[tuple[int, int]]:
    """(notify_done, notify_attempts) of every packet."""
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT notify_done, notify_attempts FROM packets").fetchall()


def notification_events(dsn: str, *, failed: bool = False) -> int:
    """Notification attempts in the packets' timelines (only the failed ones, if asked)."""
    with psycopg.connect(dsn) as conn:
        details = [r[0] for r in conn.execute(
            "SELECT detail FROM timeline WHERE detail LIKE '%notification%'")]  # fmt: skip
    attempts = [json.loads(d)["notification"] for d in details]
    return sum(1 for a in attempts if not failed or not a["delivered"])


def test_two_nodes_send_each_notification_once(
    tmp_path: Path, postgres_dsn: str, listener: Listener
) -> None:
    """N packets posted over two nodes that both run a notifier: the
    endpoint receives exactly N notifications, one per packet, and each
    packet's timeline shows one attempt."""
    first, second, ua = two_node_deployment(tmp_path, postgres_dsn, listener.url)
    nodes = [first, second]
    count = 24
    try:
        for node in nodes:
            node.start()
        packets = [make_packet(ua, "ru", [("note.txt", "text/plain", f"n {i}\n".encode())])
                   for i in range(count)]  # fmt: skip
        for i, packet in enumerate(packets):
            assert post_packet(nodes[i % 2], ua, packet).status == 202
        # Done: every packet's delivered attempt is recorded (a second sender would
        # have sent before recording, so its notification would be in the file).
        wait_for(lambda: [d for d, _ in notification_rows(postgres_dsn)] == [1] * count,
                 timeout=60)  # fmt: skip
        received = listener.packet_ids(first)
        # An attempt that timed out on this busy machine is retried, as it must be:
        # only then may the endpoint see a packet twice. Normally: N, each once.
        failed = notification_events(postgres_dsn, failed=True)
        assert set(received) == {p.packet_id for p in packets}
        assert count <= len(received) <= count + failed
        assert notification_events(postgres_dsn) - failed == count  # one delivered attempt each
        print(f"two nodes: {count} packets, {len(received)} notifications, {failed} failed")
    finally:
        for node in nodes:
            node.stop()


def test_notifications_held_by_a_killed_node_are_sent_by_the_other(
    tmp_path: Path, postgres_dsn: str
) -> None:
    """The only node running claims notifications to a slow endpoint and is
    SIGKILLed with attempts in flight; a second node started then sends
    every notification the dead one had not finished, once its claims run
    out. Only notifications in flight at the kill may arrive twice
    (at-least-once); none is lost."""
    slow = Listener(tmp_path, hold_s=1.0)
    first, second, ua = two_node_deployment(tmp_path, postgres_dsn, slow.url)
    count = 3 * NOTIFY_CONCURRENCY  # more than one round of claims
    try:
        first.start()
        packets = [make_packet(ua, "ru", [("note.txt", "text/plain", f"k {i}\n".encode())])
                   for i in range(count)]  # fmt: skip
        for packet in packets:
            assert post_packet(first, ua, packet).status == 202
        wait_for(lambda: slow.out.stat().st_size > 0, timeout=60)  # the first attempts arrive
        first.kill()
        before = len(slow.packet_ids(second))
        assert before < count  # killed mid-way
        second.start()
        expected = {p.packet_id for p in packets}
        wait_for(lambda: set(slow.packet_ids(second)) == expected, timeout=90)
        wait_for(lambda: all(done == 1 for done, _ in notification_rows(postgres_dsn)),
                 timeout=30)  # fmt: skip
        received = slow.packet_ids(second)
        twice = len(received) - len(set(received))
        print(f"notifications: {count} packets, {before} received before the kill,"
              f" {len(received)} in all, {twice} sent twice")  # pytest -s shows it
        # Only what the dead node had in flight, and retries of attempts that
        # failed (a timeout on this busy machine: the endpoint may have read it).
        assert twice <= NOTIFY_CONCURRENCY + notification_events(postgres_dsn, failed=True)
    finally:
        first.stop()
        second.stop()
        slow.stop()


def test_two_nodes_expire_each_packet_once(tmp_path: Path, postgres_dsn: str) -> None:
    """Packets never fetched, two nodes sweeping deadlines every 0.1 s: each
    packet gets exactly one EXPIRED receipt in the log."""
    first = start_gateway(tmp_path, {"database": postgres_dsn, "delivery_ttl_s": 1,
                                     "sweep_interval_s": 0.1,
                                     "blobs": str(tmp_path / "shared-blobs")})  # fmt: skip
    ua = first.add_party("ua")
    first.add_party("ru")
    second = second_node(first, tmp_path / "gw2")
    nodes = [first, second]
    count = 20
    try:
        for node in nodes:
            node.start()
        packets = [make_packet(ua, "ru", [("note.txt", "text/plain", f"e {i}\n".encode())])
                   for i in range(count)]  # fmt: skip
        for i, packet in enumerate(packets):
            assert post_packet(nodes[i % 2], ua, packet).status == 202

        def statuses() -> list[str]:
            with psycopg.connect(postgres_dsn) as conn:
                return [r[0] for r in conn.execute("SELECT status FROM packets")]

        wait_for(lambda: statuses() == ["EXPIRED"] * count, timeout=60)
        with psycopg.connect(postgres_dsn) as conn:
            levels = conn.execute(
                "SELECT packet_id, level FROM receipts WHERE level = 'EXPIRED'"
            ).fetchall()
        assert sorted(p for p, _ in levels) == sorted(p.packet_id for p in packets)
    finally:
        for node in nodes:
            node.stop()


class WorkerProcess:
    """``gateway worker DIR`` in a process of its own, its output in ``DIR.log``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.log_path = root.parent / f"{root.name}.log"
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen([*gateway_command(), "worker", str(root)],
                                         stdout=log, stderr=subprocess.STDOUT)  # fmt: skip

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(60)


def claims(dsn: str) -> list[tuple[str, str | None]]:
    """(status, claimed_by) of every packet."""
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT status, claimed_by FROM packets").fetchall()


def test_a_worker_node_extracts_and_another_takes_over_from_a_killed_one(
    tmp_path: Path, postgres_dsn: str
) -> None:
    """A serving node with ``"extraction_worker": false`` accepts packets and
    extracts none; a ``gateway worker`` process on a copy of its data
    directory makes them READY. A worker SIGKILLed while it holds claims
    loses nothing: a second worker takes the claims once they run out, every
    packet becomes READY once and is delivered byte for byte."""
    gw = start_gateway(tmp_path, {"database": postgres_dsn, "extraction_worker": False,
                                  "blobs": str(tmp_path / "shared-blobs")})  # fmt: skip
    ua, ru = gw.add_party("ua"), gw.add_party("ru")
    workers: list[WorkerProcess] = []

    def start_worker(name: str) -> WorkerProcess:
        root = tmp_path / name
        shutil.copytree(gw.root, root, ignore=shutil.ignore_patterns("dxg.sqlite3*", "tmp"))
        workers.append(WorkerProcess(root))
        return workers[-1]

    try:
        gw.start()
        sent: dict[str, bytes] = {}

        def post(text: str) -> str:
            pdf = tiny_pdf(text)
            packet = make_packet(ua, "ru", [("dossier.pdf", "application/pdf", pdf)])
            assert post_packet(gw, ua, packet).status == 202
            sent[packet.packet_id] = pdf
            return packet.packet_id

        first = post("for the worker")
        assert claims(postgres_dsn) == [("ACCEPTED", None)]  # the serving node does not extract
        assert 'worker="extraction"' not in http("GET", gw.url + "/metrics").body.decode()

        doomed = start_worker("worker1")
        wait_ready(gw, ru, first)
        for i in range(8):
            post(f"batch {i}")
        # Killed while it holds claims of packets not READY yet.
        wait_for(lambda: any(s != "READY" and by for s, by in claims(postgres_dsn)), timeout=30)
        doomed.kill()
        left = sum(1 for s, _ in claims(postgres_dsn) if s != "READY")
        assert left > 0

        heir = start_worker("worker2")
        wait_for(lambda: all(s == "READY" for s, _ in claims(postgres_dsn)), timeout=90)
        holders = {by for _, by in claims(postgres_dsn)}
        assert len(holders) == 2  # both workers extracted: the second took the dead one's claims
        print(f"worker killed with {left} of {len(sent)} packets not READY; all READY after")

        # SIGTERM instead: the worker exits 0 and hands back what it had not finished.
        for i in range(6):
            post(f"stopped {i}")
        wait_for(lambda: any(s != "READY" and by for s, by in claims(postgres_dsn)), timeout=30)
        assert heir.terminate() == 0
        unfinished = [by for s, by in claims(postgres_dsn) if s != "READY"]
        assert unfinished and unfinished == [None] * len(unfinished)  # free for any node now
        last = start_worker("worker3")
        wait_for(lambda: all(s == "READY" for s, _ in claims(postgres_dsn)), timeout=60)
        assert last.terminate() == 0

        with psycopg.connect(postgres_dsn) as conn:
            ready = conn.execute(
                "SELECT packet_id, COUNT(*) FROM timeline WHERE status = 'READY' GROUP BY packet_id"
            ).fetchall()
        assert dict(ready) == dict.fromkeys(sent, 1)  # each extracted and made READY once
        pulled = json.loads(run_cli("pull", "--gateway", gw.url, "--id", "ru", "--keys",
                                    str(ru.prefix), "--trust", str(gw.trust_file(ru)),
                                    "--out", str(tmp_path / "in-ru")).stdout)  # fmt: skip
        assert {r["packet_id"] for r in pulled} == set(sent)
        for result in pulled:
            dossier = Path(result["folder"]) / "parts" / "dossier.pdf"
            assert dossier.read_bytes() == sent[result["packet_id"]]
    finally:
        for w in workers:
            if w.proc.poll() is None:
                w.kill()
        gw.stop()


def test_gateway_worker_refuses_sqlite_and_explains_itself(tmp_path: Path) -> None:
    gw = start_gateway(tmp_path)
    refused = run_cli("worker", str(gw.root), check=False)
    assert refused.returncode == EXIT_USAGE
    assert "PostgreSQL" in refused.stderr and "what to do" in refused.stderr
    helped = run_cli("worker", "--help").stdout
    assert "claim" in helped and "extraction_worker" in helped
    assert "gateway worker" in run_cli("serve", "--help").stdout
    bad = json.loads((gw.root / "config.json").read_text()) | {"extraction_worker": False}
    (gw.root / "config.json").write_text(json.dumps(bad))
    refused = run_cli("serve", str(gw.root), check=False)  # nothing would ever extract
    assert refused.returncode != 0 and "extraction_worker" in refused.stderr
