"""Intake on PostgreSQL with several nodes, beside SQLite, the floor and the bare handler.

The servers get the same requests in the same run, interleaved round by
round so that drift hits all alike (the packets and the bare handler are
those of ``bench/intake.py``):

* bare: an aiohttp handler that only reads the multipart body;
* sqlite: one gateway on its SQLite file (the default deployment);
* pgN (``--nodes``): N gateways (copies of one data directory) on one
  PostgreSQL database and one blob directory, each client connection sent
  to one of them in turn, as a round-robin load balancer would;
* floorN (``--floors``): N processes of the floor server on one PostgreSQL
  database (``bench/_floor_server.py``): the work SPEC §2–§3 makes
  mandatory on every packet plus the one PostgreSQL transaction a packet
  minimally needs (a shared jti claim and the packet row, group-committed,
  one round trip per group). What no gateway on this stack can beat.

The PostgreSQL server is a throwaway cluster (``tests/postgres.py``,
``fsync`` on) on the same machine: its CPU comes out of the same cores.

    python bench/intake_nodes.py [--requests N] [--rounds R] [--concurrency 16,64]
        [--nodes 1,2] [--floors 1,2] [--parties 4]

Extraction runs in the measured window: every gateway runs its own
extraction worker (the default deployment), extracting the packets it
accepted while intake goes on, on the same cores; after each round the
bench waits, outside the window, until every accepted packet is extracted.
The sandboxes' CPU is not charged to any column. ``--parties`` sends as
several parties (connection i as party ``i % parties``): one party at
concurrency 64 would pass ``max_uploads_per_party`` (32).

Prints, per concurrency level, each server's median accepted packets/s
over the rounds, p50/p99 latency (rounds pooled) and its ratio to bare;
then the median CPU per accepted packet of each piece, from ``/proc``: the
load generator (this process), the server processes, the PostgreSQL
server's processes (the postmaster and every backend, exited ones
included), their sum, and the rate that sum would allow if the machine's
cores did nothing else (``cores * 1000 / total``), as a ratio of bare's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.intake import (
    BARE_SERVER,
    ROOT,
    Result,
    _up,
    drain,
    packets_for,
    pdf_of_about,
    post_timed,
)
from tests.harness import GatewayProcess, Packet, Party, free_port, start_gateway, wait_for
from tests.postgres import PostgresServer

Sent = list[tuple[Party, Packet]]  # each packet with the party that signs and sends it


def packets_of(senders: Sequence[Party], pdf: bytes, count: int) -> Sent:
    """``count`` packets, dealt round-robin to the sending parties."""
    per = [packets_for(sender, pdf, -(-count // len(senders))) for sender in senders]
    return [(senders[i % len(senders)], per[i % len(senders)][i // len(senders)])
            for i in range(count)]  # fmt: skip


async def load(urls: Sequence[str], packets: Sent, concurrency: int) -> tuple[Result, Sent]:
    """Send ``packets`` over ``concurrency`` connections, connection i to ``urls[i % n]``.

    Connection i sends only the packets of sending party ``i % parties`` (a
    party's own uploads at once are ``concurrency / parties``, which
    ``max_uploads_per_party`` bounds). Returns the result and the packets
    that were accepted (a refused one, e.g. 429, is counted as an error).
    """
    senders = list(dict.fromkeys(sender.id for sender, _ in packets))
    queues: dict[str, asyncio.Queue[tuple[Party, Packet]]] = {s: asyncio.Queue() for s in senders}
    for sent in packets:
        queues[sent[0].id].put_nowait(sent)
    latencies: list[float] = []
    accepted: Sent = []

    async def worker(url: str, queue: asyncio.Queue[tuple[Party, Packet]]) -> None:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as session:
            while not queue.empty():
                sender, packet = queue.get_nowait()
                ok, seconds = await post_timed(session, url, sender, packet)
                if ok:
                    accepted.append((sender, packet))
                latencies.append(seconds)

    started = time.perf_counter()
    await asyncio.gather(*(worker(urls[i % len(urls)], queues[senders[i % len(senders)]])
                           for i in range(concurrency)))  # fmt: skip
    elapsed = time.perf_counter() - started
    latencies.sort()
    errors = len(packets) - len(accepted)
    return Result(rate=len(accepted) / elapsed, latencies=latencies, errors=errors), accepted


def gateway(
    tmp: Path, config: dict[str, object], parties: int
) -> tuple[GatewayProcess, list[Party]]:
    """A gateway (not started) with ``parties`` sending parties (ua, ua2, ...) and ru."""
    gw = start_gateway(tmp, config)
    senders = [gw.add_party("ua" if i == 1 else f"ua{i}") for i in range(1, parties + 1)]
    gw.add_party("ru")
    return gw, senders


def cpu_s(pid: int, *, reaped: bool = False) -> float:
    """User + system CPU seconds of a process, all threads (and its reaped children)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    ticks = int(fields[11]) + int(fields[12])
    if reaped:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / os.sysconf("SC_CLK_TCK")


def children_of(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
                found.append(int(entry.name))
    return found


def postmaster_pid(admin_dsn: str) -> int | None:
    """The local PostgreSQL server's postmaster, if this machine runs it (else None)."""
    import psycopg  # noqa: PLC0415 - only this probe needs it

    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        row = conn.execute("SHOW data_directory").fetchone()
    pid_file = Path(row[0]) / "postmaster.pid" if row else None
    try:
        return int(pid_file.read_text().split()[0]) if pid_file else None
    except OSError:
        return None


def client_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Target:
    """One server under test: its URLs (one per node or process) and what to charge CPU to."""

    name: str
    urls: list[str]
    senders: list[Party]
    pids: list[int]
    drain: GatewayProcess | None = None
    rounds: list[Result] = field(default_factory=list)
    cpu: list[tuple[float, float, float]] = field(default_factory=list)  # ms/packet


def measure(target: Target, pdf: bytes, count: int, level: int, postmaster: int | None) -> None:
    """One round of ``target``: warm up, then ``count`` packets timed and charged."""
    asyncio.run(load(target.urls, packets_of(target.senders, pdf, 20), level))
    packets = packets_of(target.senders, pdf, count)

    def sample() -> tuple[float, float, float]:
        pg = 0.0
        if postmaster is not None:
            pg = cpu_s(postmaster, reaped=True) + sum(map(cpu_s, children_of(postmaster)))
        return client_cpu_s(), sum(map(cpu_s, target.pids)), pg

    before = sample()
    result, accepted = asyncio.run(load(target.urls, packets, level))
    after = sample()
    charged = max(1, len(accepted))
    cpu = tuple((b - a) * 1000 / charged for a, b in zip(before, after, strict=True))
    target.rounds.append(result)
    target.cpu.append(cpu)  # type: ignore[arg-type]
    if target.drain is not None:
        # Extraction must not eat the next one's CPU; a refused packet is never extracted.
        for sender in target.senders:
            drain(target.drain, sender, [packet for by, packet in accepted if by is sender])


def report(targets: list[Target], level: int) -> None:
    runs = [
        Result(statistics.median(r.rate for r in t.rounds),
               sorted(x for r in t.rounds for x in r.latencies),
               sum(r.errors for r in t.rounds))
        for t in targets
    ]  # fmt: skip
    base = runs[0].rate
    cores = os.cpu_count() or 1
    print(f"concurrency {level}: {'server':>8} {'rate/s':>7} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'x bare':>6} | cpu ms/packet: {'client':>6} {'server':>6} {'pg':>6} {'total':>6} "
          f"| {'cpu-bound x bare':>16}")
    medians = [tuple(statistics.median(c[i] for c in t.cpu) for i in range(3)) for t in targets]
    base_total = sum(medians[0])
    for target, run, cpu in zip(targets, runs, medians, strict=True):
        total = sum(cpu)
        errors = f"  ({run.errors} errors)" if run.errors else ""
        print(f"{'':>14} {target.name:>8} {run.rate:>7.0f} {run.quantile_ms(0.5):>7.1f} "
              f"{run.quantile_ms(0.99):>7.1f} {run.rate / base:>6.2f} | {'':>14} "
              f"{cpu[0]:>6.2f} {cpu[1]:>6.2f} {cpu[2]:>6.2f} {total:>6.2f} "
              f"| {base_total / total:>16.2f}{errors}", flush=True)
    print(f"{'':>14} (cpu-bound x bare: bare's CPU per packet over this one's, all {cores} "
          "cores' work counted: the ratio if both ran the cores flat out)", flush=True)


def counts(text: str) -> list[int]:
    return [int(c) for c in text.split(",") if c.strip()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="per server, level and round")
    parser.add_argument("--rounds", type=int, default=3, help="per level; the median rate is shown")
    parser.add_argument("--concurrency", default="16")
    parser.add_argument("--nodes", default="1,2", help="gateway nodes on PostgreSQL, per server")
    parser.add_argument("--floors", default="1,2", help="floor processes on PostgreSQL")
    parser.add_argument("--parties", type=int, default=1,
                        help="sending parties, connection i sends as party i %% parties "
                        "(each party has max_uploads_per_party = 32 uploads at once)")  # fmt: skip
    args = parser.parse_args()
    levels = counts(args.concurrency)
    pdf = pdf_of_about(20 * 1024)
    postgres = PostgresServer.start()
    postmaster = postmaster_pid(postgres.admin_dsn)
    gateways: list[GatewayProcess] = []
    others: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="dxg-bench-nodes-") as tmp_name, \
            contextlib.ExitStack() as databases:  # fmt: skip
        tmp = Path(tmp_name)
        sqlite_gw, sqlite_ua = gateway(tmp / "sqlite", {}, args.parties)
        gateways.append(sqlite_gw)
        bare_port = free_port()
        others.append(subprocess.Popen([sys.executable, "-c", BARE_SERVER, str(bare_port)]))
        bare_url = f"http://127.0.0.1:{bare_port}"
        targets = [
            Target("bare", [bare_url], sqlite_ua, [others[-1].pid]),
            Target("sqlite", [sqlite_gw.url], sqlite_ua, [], drain=sqlite_gw),
        ]
        for n in counts(args.nodes):
            dsn = databases.enter_context(postgres.database())
            first, ua = gateway(
                tmp / f"pg{n}", {"database": dsn, "blobs": str(tmp / f"pg{n}-b")}, args.parties
            )
            nodes = [first]
            for i in range(2, n + 1):
                node = GatewayProcess(root=tmp / f"pg{n}" / f"gw{i}")
                ignore = shutil.ignore_patterns("dxg.sqlite3*", "tmp")
                shutil.copytree(first.root, node.root, ignore=ignore)
                nodes.append(node)
            gateways.extend(nodes)
            targets.append(Target(f"pg{n}", [g.url for g in nodes], ua, [], drain=first))
        for n in counts(args.floors):
            dsn = databases.enter_context(postgres.database())
            urls, pids = [], []
            for _ in range(n):
                port = free_port()
                floor = subprocess.Popen(
                    [sys.executable, "-m", "bench._floor_server", str(port),
                     ",".join(f"{p.id}={p.prefix}.pub.json" for p in sqlite_ua), dsn],
                    cwd=ROOT,
                )  # fmt: skip
                others.append(floor)
                urls.append(f"http://127.0.0.1:{port}")
                pids.append(floor.pid)
                wait_for(lambda url=urls[-1]: _up(url), timeout=20)  # one after the other
            targets.append(Target(f"floor{n}", urls, sqlite_ua, pids))
        try:
            for gw in gateways:
                gw.start()
            for target in targets:
                target.pids = target.pids or [
                    g.proc.pid for g in gateways if g.proc is not None and g.url in target.urls
                ]
            wait_for(lambda: _up(bare_url), timeout=20)
            print(f"intake by nodes: {args.rounds} rounds of {args.requests} packets per server "
                  f"and level, PDF {len(pdf) / 1024:.1f} KB; PostgreSQL on the same machine "
                  f"({os.cpu_count()} cores, shared with the load generator)")
            print("rate: median accepted/s of the rounds; p50/p99: latency ms, rounds pooled; "
                  "cpu: median of the rounds")
            print(f"{args.parties} sending part{'y' if args.parties == 1 else 'ies'}; extraction: "
                  "every gateway (sqlite, each pg node) runs its own extraction worker, which "
                  "extracts the packets it accepted during the measured window on these same "
                  "cores (its sandboxes' CPU is not in the cpu columns); after each round the "
                  "bench waits until every accepted packet is extracted, outside the window. "
                  "bare and floor do no extraction.")
            for level in levels:
                for target in targets:
                    target.rounds.clear()
                    target.cpu.clear()
                for _ in range(args.rounds):
                    for target in targets:
                        measure(target, pdf, args.requests, level, postmaster)
                report(targets, level)
        finally:
            for process in others:
                process.terminate()
                process.wait(10)
            for gw in gateways:
                gw.stop()
    postgres.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
