"""A failover drill: two gateway nodes on one PostgreSQL, 16 senders, repeated SIGKILLs.

:func:`run_drill` starts two ``gateway serve`` processes on copies of one
data directory (one database, one blob directory), has 16 sender threads
post signed packets to both, and SIGKILLs a node at moments drawn from a
seeded RNG — the log-lease holder and the follower, several times, each
killed node started again before the next kill. A sender whose request
fails on a connection error resends the same packet (the same envelope, a
fresh token) to the other node, as a client behind a load balancer would;
a packet the dead node had committed is then answered 200 with the first
answer, never stored twice (SPEC §3).

After the last kill, :func:`run_drill` checks what the issue's acceptance
asks and returns the figures: every acknowledged packet stored once, its
every answer the stored one, delivered exactly once to the recipient's
``gateway pull`` through the nodes, each part's SHA-256 the one sent; the
monitor (``gateway monitor --state``) audits the log clean before the
first kill and after every one, each pass proving the new checkpoint
consistent with the one before the handover. Any breach raises
``AssertionError`` with the seed; ``DXG_FAILOVER_SEED`` replays the same
packets and the same kill plan (which role dies after how many
acknowledgements), though not the threads' exact interleaving.

Used by ``tests/test_postgres_failover.py`` (4 kills) and
``bench/failover.py`` (20 kills, for the closing note).
"""

from __future__ import annotations

import hashlib
import http.client as http_client
import itertools
import json
import random
import shutil
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from tests.conftest import Exchange, running_exchange
from tests.harness import (
    GatewayProcess,
    Packet,
    Party,
    get,
    http,
    make_packet,
    post_packet,
    run_cli,
    wait_for,
)

SENDERS = 16  # concurrent senders, as in the acceptance
LEASE_TAKEOVER_LIMIT_S = 5.0  # the issue: another node takes over within 5 s
ACKS_BETWEEN_KILLS = (10, 60)  # acknowledgements from a restart to the next kill, drawn
ACKS_AFTER_LAST = 48  # load on both nodes again after the last restart, then stop
SEND_ATTEMPTS = 20  # a packet is retried this often across both nodes before it counts failed
SEND_TIMEOUT_S = 30.0  # one POST: a loaded 2-core machine answers within a few seconds
RETRY_PAUSE_S = 0.05  # a client's back-off once both nodes failed in a row (times attempts)
BIG_PART_BYTES = 300_000  # over the 256 KiB a packet keeps in the database: a blob file
BIG_PART_SHARE = 0.05  # of parts: blob files on the shared directory, without slowing the drill
RESENT_AT_END = 16  # acknowledged packets resent to both nodes: each must answer 200, store nothing
ACK_WAIT_S = 120.0  # for the next few dozen acknowledgements, on a loaded machine
EXTRACTION_TIMEOUT_S = 90.0  # a dead node's extraction claims run out after 15 s
PULL_TIMEOUT_S = 600.0  # gateway pull of every packet, sequential


@dataclass(frozen=True, slots=True)
class Kill:
    """One SIGKILL of the drill and what followed it."""

    node: int  # 0 or 1
    held_lease: bool  # the victim was the log-lease holder (a handover followed)
    acknowledged_before: int  # packets acknowledged when it was killed
    takeover_s: float | None  # SIGKILL to the survivor's /readyz saying it holds the lease
    restart_s: float  # ``gateway serve`` again until /readyz answers 200


@dataclass(frozen=True, slots=True)
class Audit:
    """One ``gateway monitor --once --state`` pass: from which checkpoint to which."""

    previous_size: int | None
    size: int
    mode: str


@dataclass(frozen=True, slots=True)
class DrillReport:
    """The figures of one drill (every check already passed)."""

    seed: int
    sent: int  # distinct packets posted
    posts: int  # POST requests, retries included
    acknowledged: int
    refused: int  # packets resent after a node refused the connection (it was down)
    cut: int  # packets resent after their request died with the node serving it
    answered_as_duplicate: int  # cut ones the other node answered 200 (already stored)
    resent_at_end: int  # acknowledged ones resent to both nodes: 200, the first answer
    orphan_uploads: int  # part directories of uploads a kill cut, on the shared blob directory
    lost: int
    duplicated: int
    kills: tuple[Kill, ...]
    audits: tuple[Audit, ...]
    delivered: int
    bytes_compared: int
    seconds: float

    @property
    def handovers(self) -> int:
        return sum(k.held_lease for k in self.kills)

    def takeovers(self) -> list[float]:
        return [k.takeover_s for k in self.kills if k.takeover_s is not None]

    def summary(self) -> str:
        """The figures on a few lines, as the single-node kill test prints them."""
        takeovers = self.takeovers()
        spread = (f"median {statistics.median(takeovers):.2f} s, max {max(takeovers):.2f} s"
                  if takeovers else "none")  # fmt: skip
        restarts = [k.restart_s for k in self.kills]
        return (
            f"two nodes, {len(self.kills)} SIGKILLs under load (seed {self.seed}): sent "
            f"{self.sent}, acknowledged {self.acknowledged}, lost {self.lost}, duplicated "
            f"{self.duplicated}\n"
            f"  posts {self.posts}; resent: {self.cut} cut by a kill mid-request (answered 200, "
            f"already stored: {self.answered_as_duplicate}), {self.refused} refused; "
            f"{self.resent_at_end} resent to both nodes at the end, each answered 200 with "
            f"the first answer\n"
            f"  kills: {sum(not k.held_lease for k in self.kills)} of the follower, "
            f"{self.handovers} of the lease holder; handovers {self.handovers}, takeover "
            f"{spread} ({', '.join(f'{t:.2f}' for t in takeovers)})\n"
            f"  restart to ready median {statistics.median(restarts):.1f} s; monitor passes "
            f"{len(self.audits)}, all clean, log size {self.audits[-1].size}\n"
            f"  delivered {self.delivered} exactly once, {self.bytes_compared} bytes compared "
            f"by SHA-256; {self.orphan_uploads} part directories of cut uploads left in the "
            f"blob directory; {self.seconds:.0f} s"
        )


@dataclass
class _Tally:
    """What the senders saw, shared between their threads under ``lock``."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    progress: threading.Condition = field(init=False)
    packets: dict[str, Packet] = field(default_factory=dict)
    senders: dict[str, Party] = field(default_factory=dict)
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)  # packet id -> body
    statuses: dict[str, int] = field(default_factory=dict)
    posts: int = 0
    out: set[int] = field(default_factory=set)  # nodes a request failed on, until ready again
    refused: set[str] = field(default_factory=set)  # packets whose connection was refused
    cut: set[str] = field(default_factory=set)  # packets whose request died with its node
    failures: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.progress = threading.Condition(self.lock)


def part_files(
    seed: int, index: int, *, big_share: float = BIG_PART_SHARE
) -> list[tuple[str, str, bytes]]:
    """The parts of packet ``index`` of ``seed``: 1-3 texts, a ``big_share`` of them big.

    The bytes depend on (seed, index) only, so a replay sends the same packets
    and a check after the fact regenerates what was sent.
    """
    rng = random.Random(f"{seed}/{index}")
    files = []
    for j in range(rng.randint(1, 3)):
        size = BIG_PART_BYTES if rng.random() < big_share else rng.randint(32, 4096)
        text = rng.randbytes(size // 2 + 1).hex()[:size].encode("ascii")
        files.append((f"part{j}.txt", "text/plain", text))
    return files


def packet_id_for(seed: int, index: int) -> str:
    """The packet id of packet ``index`` of ``seed`` (a version 4 UUID)."""
    return str(uuid.UUID(int=random.Random(f"{seed}/{index}/id").getrandbits(128), version=4))


def packet_for(
    seed: int, index: int, sender: Party, recipient: str, *, big_share: float = BIG_PART_SHARE
) -> Packet:
    """Packet ``index`` of the drill with ``seed``, signed by ``sender``."""
    files = part_files(seed, index, big_share=big_share)
    return make_packet(sender, recipient, files, packet_id=packet_id_for(seed, index),
                       kind="message", purpose="status_update")  # fmt: skip


def lease_holders(nodes: list[GatewayProcess]) -> list[bool]:
    """Each node's answer to "do you hold the log lease?", from /readyz's body."""
    return [json.loads(http("GET", node.url + "/readyz").body)["log_lease"] for node in nodes]


def checkpoint_size(node: GatewayProcess, party: Party) -> int:
    return int(get(node, party, "/v1/log/checkpoint").body.decode().split("\n")[1])


def second_node(ex: Exchange, root: Path) -> GatewayProcess:
    """A second ``gateway serve`` on a copy of the first's config and keys."""
    node = GatewayProcess(root=root, config=ex.gw.config)
    shutil.copytree(ex.gw.root, root, ignore=shutil.ignore_patterns("dxg.sqlite3*", "tmp"))
    return node


def run_drill(
    tmp: Path,
    dsn: str,
    *,
    seed: int,
    kills: int,
    think_s: float = 0.0,
    log: Callable[[str], None] = lambda _: None,
) -> DrillReport:
    """Run the drill in ``tmp`` on the empty database ``dsn``; its figures.

    Senders send flat out, so every kill cuts requests in flight; from a
    kill until the node is ready again (and during the first monitor pass)
    each also pauses a drawn 0 to
    ``2 * think_s`` seconds after each packet, which bounds how many packets
    the drill sends, pulls and compares while a node restarts (seconds).

    Raises:
        AssertionError: a packet acknowledged and not delivered exactly once,
            bytes that differ, a takeover slower than 5 s, a monitor finding,
            a sender that gave up; the message names the seed.
    """
    started = time.monotonic()
    config = {"database": dsn, "blobs": str(tmp / "shared-blobs")}
    with running_exchange(tmp, config) as ex:
        other = second_node(ex, tmp / "gw2")
        other.start()
        nodes = [ex.gw, other]
        try:
            return _drill(ex, nodes, tmp, dsn, seed, kills, think_s, started, log)
        except AssertionError as exc:
            raise AssertionError(f"failover drill, seed {seed} (DXG_FAILOVER_SEED): {exc}") from exc
        finally:
            other.stop()


def _drill(
    ex: Exchange,
    nodes: list[GatewayProcess],
    tmp: Path,
    dsn: str,
    seed: int,
    kills: int,
    think_s: float,
    started: float,
    log: Callable[[str], None],
) -> DrillReport:
    rng = random.Random(seed)
    tally = _Tally()
    stop = threading.Event()
    paced = threading.Event()  # senders pause: a monitor pass or a restart is under way
    state = tmp / "monitor.state.json"
    audits: list[Audit] = []

    def acknowledged() -> int:
        return len(tally.answers)

    def sender(thread: int) -> None:
        party, recipient = (ex.ua, "ru") if thread % 2 == 0 else (ex.ru, "ua")
        preferred = (thread // 2) % 2  # senders of both parties on both nodes
        index = thread
        pauses = random.Random(f"{seed}/sender {thread}")
        while not stop.is_set():
            packet = packet_for(seed, index, party, recipient)
            with tally.lock:
                tally.packets[packet.packet_id] = packet
                tally.senders[packet.packet_id] = party
            _send(nodes, preferred, party, packet, tally)
            index += SENDERS
            pause = pauses.uniform(0, 2 * think_s)  # drawn every time: the same sequence
            if paced.is_set():
                stop.wait(pause)

    threads = [threading.Thread(target=sender, args=(t,), daemon=True) for t in range(SENDERS)]
    for thread in threads:
        thread.start()
    done: list[Kill] = []
    try:
        _wait_acks(tally, SENDERS)  # some load first, and the log audited before any kill
        wait_for(lambda: checkpoint_size(nodes[0], ex.mon) > 0, timeout=30)
        paced.set()
        audits.append(_audit(nodes[0], ex.mon, state))
        paced.clear()
        for k in range(kills):
            _wait_acks(tally, acknowledged() + rng.randint(*ACKS_BETWEEN_KILLS))
            holders = lease_holders(nodes)
            assert holders.count(True) == 1, holders
            # The holder first, then the follower, then either: both roles die.
            role = ("holder", "follower")[k] if k < 2 else rng.choice(("holder", "follower"))
            victim = holders.index(True) if role == "holder" else holders.index(False)
            survivor = nodes[1 - victim]
            before = checkpoint_size(survivor, ex.mon)
            at_ack = acknowledged()
            nodes[victim].kill()
            killed_at = time.monotonic()
            paced.set()
            takeover_s = None
            if role == "holder":
                wait_for(lambda s=survivor: lease_holders([s]) == [True],
                         timeout=LEASE_TAKEOVER_LIMIT_S, interval=0.02)  # fmt: skip
                takeover_s = time.monotonic() - killed_at
            else:
                assert lease_holders([survivor]) == [True], "the lease moved with no holder killed"
            # A checkpoint past the pre-kill one, signed by whoever holds the lease
            # now; the monitor proves it consistent with its last (pre-kill) one.
            wait_for(lambda s=survivor, b=before: checkpoint_size(s, ex.mon) > b, timeout=30)
            audits.append(_audit(survivor, ex.mon, state))
            restarted_at = time.monotonic()
            nodes[victim].start()
            with tally.lock:
                tally.out.discard(victim)  # ready again: the balancer sends to it
            paced.clear()
            done.append(Kill(victim, role == "holder", at_ack, takeover_s,
                             time.monotonic() - restarted_at))  # fmt: skip
            taken = "" if takeover_s is None else f", lease taken over in {takeover_s:.2f} s"
            log(f"kill {k + 1}/{kills}: node {victim} ({role}) at {at_ack} acknowledged{taken}")
        _wait_acks(tally, acknowledged() + ACKS_AFTER_LAST)
    finally:
        stop.set()
        for thread in threads:
            thread.join(SEND_ATTEMPTS * SEND_TIMEOUT_S)
    assert not tally.failures, tally.failures[:5]
    assert len(tally.answers) == len(tally.packets), "a sender gave up on a packet"
    log(f"load stopped at {time.monotonic() - started:.1f} s")
    return _verify(ex, nodes, tmp, dsn, seed, tally, tuple(done), audits, state, started, log)


def _wait_acks(tally: _Tally, target: int) -> None:
    """Until ``target`` packets are acknowledged; a sender's failure ends the wait."""

    def reached() -> bool:
        return len(tally.answers) >= target or bool(tally.failures)

    with tally.progress:
        assert tally.progress.wait_for(reached, ACK_WAIT_S), "the senders stalled"
    assert not tally.failures, tally.failures[:5]


def _send(
    nodes: list[GatewayProcess], preferred: int, party: Party, packet: Packet, tally: _Tally
) -> None:
    """Post until a node answers 200/202, as a client behind a load balancer.

    Like a balancer's passive health check, a node that failed a request is
    taken out (``tally.out``) until the drill has started it again and its
    /readyz answers (the active check): a request it had read is resent to
    the other node. A refused connection never reached a node; a cut one
    may have been committed there, so its resend may be answered 200.
    """
    for attempt in range(SEND_ATTEMPTS):
        with tally.lock:
            up = [n for n in (preferred, 1 - preferred) if n not in tally.out]
            tally.posts += 1
        node = up[0] if up else preferred  # both out: try anyway, a client would
        try:
            answer = post_packet(nodes[node], party, packet, timeout=SEND_TIMEOUT_S)
        except (OSError, http_client.HTTPException) as exc:
            refused = isinstance(getattr(exc, "reason", exc), ConnectionRefusedError)
            with tally.lock:
                tally.out.add(node)
                (tally.refused if refused else tally.cut).add(packet.packet_id)
            if not up or attempt > 1:
                time.sleep(RETRY_PAUSE_S * attempt)  # a client's back-off
            continue
        if answer.status in (200, 202):
            with tally.progress:
                tally.answers[packet.packet_id] = answer.json()
                tally.statuses[packet.packet_id] = answer.status
                tally.progress.notify_all()
            return
        if answer.status == 503:  # not ready (starting): the other node
            continue
        with tally.progress:
            tally.failures.append(f"{packet.packet_id}: {answer.status} {answer.body[:300]!r}")
            tally.progress.notify_all()
        return
    with tally.progress:
        tally.failures.append(f"{packet.packet_id}: no node answered in {SEND_ATTEMPTS} tries")
        tally.progress.notify_all()


def _audit(node: GatewayProcess, mon: Party, state: Path) -> Audit:
    """One monitor pass with its state file; it must find the log clean."""
    proc = run_cli("monitor", "--gateway", node.url, "--id", mon.id, "--keys", str(mon.prefix),
                   "--once", "--json", "--state", str(state), check=False)  # fmt: skip
    assert proc.returncode == 0, f"monitor: {proc.stderr[-2000:]}"
    report = json.loads(proc.stdout)
    assert report["verified"] is True and report["findings"] == [], report["findings"]
    previous = report["previous"]
    return Audit(None if previous is None else int(previous["size"]),
                 int(report["checkpoint"]["size"]), report["audited"]["mode"])  # fmt: skip


def _stored(dsn: str) -> Iterator[tuple[str, str]]:
    with psycopg.connect(dsn) as conn:
        yield from conn.execute("SELECT packet_id, response FROM packets")


def _verify(
    ex: Exchange,
    nodes: list[GatewayProcess],
    tmp: Path,
    dsn: str,
    seed: int,
    tally: _Tally,
    kills: tuple[Kill, ...],
    audits: list[Audit],
    state: Path,
    started: float,
    log: Callable[[str], None],
) -> DrillReport:
    # A sample resent to both nodes, as a client unsure of its answer would:
    # each node answers 200 with the first answer and stores nothing new.
    sample = random.Random(f"{seed}/resend").sample(sorted(tally.answers), RESENT_AT_END)
    for packet_id in sample:
        packet = tally.packets[packet_id]
        for node in nodes:
            answer = post_packet(node, tally.senders[packet_id], packet)
            assert (answer.status, answer.json()) == (200, tally.answers[packet_id]), packet_id
    # Stored once each, and every answer (first or retried) is the stored one.
    stored = dict(_stored(dsn))
    with psycopg.connect(dsn) as conn:
        named = {str(r[0]) for r in conn.execute("SELECT blob_dir FROM packets")}
    shared = tmp / "shared-blobs"
    folders = list(shared.iterdir()) if shared.exists() else []  # made at a first big part
    orphans = [d for d in folders if d.is_dir() and d.name not in named]
    assert set(stored) == set(tally.answers), "stored packets are not the acknowledged ones"
    for packet_id, body in tally.answers.items():
        assert json.loads(stored[packet_id]) == body, f"{packet_id}: answered otherwise"
    with psycopg.connect(dsn) as conn:
        twice = conn.execute(
            "SELECT packet_id, level FROM receipts GROUP BY packet_id, level HAVING COUNT(*) > 1"
        ).fetchall()
        assert twice == [], f"receipts stored twice: {twice[:5]}"

        def extracted() -> bool:
            row = conn.execute(
                "SELECT COUNT(*) FROM packets WHERE status IN ('ACCEPTED', 'EXTRACTING')"
            ).fetchone()
            conn.commit()  # a fresh snapshot at every look
            return row is not None and row[0] == 0

        wait_for(extracted, timeout=EXTRACTION_TIMEOUT_S, interval=0.2)
    log(f"every packet extracted at {time.monotonic() - started:.1f} s")

    # Each recipient pulls through one node (both at once); a second pull
    # through the other node finds nothing left: delivered exactly once.
    plan = ((ex.ru, 0, 1), (ex.ua, 1, 0))
    with ThreadPoolExecutor(len(plan)) as pool:
        pulled = list(pool.map(
            lambda p: _pull(ex, nodes[p[1]], p[0], tmp / f"in-{p[0].id}"), plan
        ))  # fmt: skip
    delivered: list[str] = []
    compared = 0
    for (party, _, second), results in zip(plan, pulled, strict=True):
        again = _pull(ex, nodes[second], party, tmp / f"again-{party.id}")  # inbox from 0
        assert again == [], "a packet was delivered twice"
        for result in results:
            assert result["receipt"] == "DELIVERED", result
            packet = tally.packets[result["packet_id"]]
            folder = Path(result["folder"]) / "parts"
            for name, data in packet.files:
                pulled_bytes = (folder / name).read_bytes()
                assert hashlib.sha256(pulled_bytes).digest() == hashlib.sha256(data).digest(), name
                compared += len(pulled_bytes)
            delivered.append(result["packet_id"])
    log(f"pulled at {time.monotonic() - started:.1f} s")
    lost = set(tally.answers) - set(delivered)
    duplicated = len(delivered) - len(set(delivered))
    assert not lost and duplicated == 0, (len(lost), duplicated)

    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT COUNT(*) FROM log_entries").fetchone()
    entries = 0 if row is None else int(row[0])  # every receipt, DELIVERED ones too
    wait_for(lambda: checkpoint_size(nodes[0], ex.mon) == entries, timeout=30)
    audits.append(_audit(nodes[0], ex.mon, state))
    for earlier, later in itertools.pairwise(audits):
        assert later.previous_size == earlier.size and later.size > earlier.size, (earlier, later)
    return DrillReport(
        seed=seed,
        sent=len(tally.packets),
        posts=tally.posts,
        acknowledged=len(tally.answers),
        refused=len(tally.refused),
        cut=len(tally.cut),
        answered_as_duplicate=sum(tally.statuses[p] == 200 for p in tally.cut),
        resent_at_end=len(sample),
        orphan_uploads=len(orphans),
        lost=len(lost),
        duplicated=duplicated,
        kills=kills,
        audits=tuple(audits),
        delivered=len(delivered),
        bytes_compared=compared,
        seconds=time.monotonic() - started,
    )


def _pull(ex: Exchange, node: GatewayProcess, party: Party, out: Path) -> list[dict[str, Any]]:
    proc = run_cli("pull", "--gateway", node.url, "--id", party.id, "--keys", str(party.prefix),
                   "--trust", str(ex.gw.trust_file(party)), "--out", str(out),
                   check=False, timeout=PULL_TIMEOUT_S)  # fmt: skip
    assert proc.returncode == 0, f"pull: {proc.stderr[-2000:]}"
    results: list[dict[str, Any]] = json.loads(proc.stdout)
    return results
