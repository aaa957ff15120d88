"""Intake on PostgreSQL with one and two nodes, beside SQLite and the bare handler.

Four servers get the same requests in the same run, interleaved round by
round so that drift hits all alike (the packets and the bare handler are
those of ``bench/intake.py``):

* bare: an aiohttp handler that only reads the multipart body;
* sqlite: one gateway on its SQLite file (the default deployment);
* pg1: one gateway on a PostgreSQL database;
* pg2: two gateways (copies of one data directory) on one PostgreSQL
  database and one blob directory, each client connection sent to one of
  them in turn, as a round-robin load balancer would.

The PostgreSQL server is a throwaway cluster (``tests/postgres.py``,
``fsync`` on) on the same machine: its CPU comes out of the same cores.

    python bench/intake_nodes.py [--requests N] [--rounds R] [--concurrency 16]

Prints, per concurrency level, each server's median accepted packets/s
over the rounds, p50/p99 latency (rounds pooled) and its ratio to bare.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.intake import BARE_SERVER, Result, _up, drain, packets_for, pdf_of_about, post_timed
from tests.harness import GatewayProcess, Packet, Party, free_port, start_gateway, wait_for
from tests.postgres import PostgresServer


async def load(
    urls: Sequence[str], sender: Party, packets: list[Packet], concurrency: int
) -> Result:
    """Send ``packets`` over ``concurrency`` connections, connection i to ``urls[i % n]``."""
    queue: asyncio.Queue[Packet] = asyncio.Queue()
    for packet in packets:
        queue.put_nowait(packet)
    latencies: list[float] = []
    errors = 0

    async def worker(url: str) -> None:
        nonlocal errors
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as session:
            while not queue.empty():
                accepted, seconds = await post_timed(session, url, sender, queue.get_nowait())
                errors += not accepted
                latencies.append(seconds)

    started = time.perf_counter()
    await asyncio.gather(*(worker(urls[i % len(urls)]) for i in range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return Result(rate=(len(packets) - errors) / elapsed, latencies=latencies, errors=errors)


def gateway(tmp: Path, config: dict[str, object]) -> tuple[GatewayProcess, Party]:
    gw = start_gateway(tmp, config)
    sender, _ = gw.add_party("ua"), gw.add_party("ru")
    return gw, sender


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="per server, level and round")
    parser.add_argument("--rounds", type=int, default=3, help="per level; the median rate is shown")
    parser.add_argument("--concurrency", default="16")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    pdf = pdf_of_about(20 * 1024)
    postgres = PostgresServer.start()
    with tempfile.TemporaryDirectory(prefix="dxg-bench-nodes-") as tmp_name, \
            postgres.database() as dsn1, postgres.database() as dsn2:  # fmt: skip
        tmp = Path(tmp_name)
        sqlite_gw, sqlite_ua = gateway(tmp / "sqlite", {})
        pg1, pg1_ua = gateway(tmp / "pg1", {"database": dsn1})
        pg2a, pg2_ua = gateway(tmp / "pg2", {"database": dsn2, "blobs": str(tmp / "pg2-blobs")})
        pg2b = GatewayProcess(root=tmp / "pg2" / "gw2")
        shutil.copytree(pg2a.root, pg2b.root, ignore=shutil.ignore_patterns("dxg.sqlite3*", "tmp"))
        gateways = [sqlite_gw, pg1, pg2a, pg2b]
        bare_port = free_port()
        bare = subprocess.Popen([sys.executable, "-c", BARE_SERVER, str(bare_port)])
        bare_url = f"http://127.0.0.1:{bare_port}"
        servers: list[tuple[str, list[str], Party, GatewayProcess | None]] = [
            ("bare", [bare_url], sqlite_ua, None),
            ("sqlite", [sqlite_gw.url], sqlite_ua, sqlite_gw),
            ("pg1", [pg1.url], pg1_ua, pg1),
            ("pg2", [pg2a.url, pg2b.url], pg2_ua, pg2a),
        ]
        try:
            for gw in gateways:
                gw.start()
            wait_for(lambda: _up(bare_url), timeout=20)
            print(f"intake by nodes: {args.rounds} rounds of {args.requests} packets per server "
                  f"and level, PDF {len(pdf) / 1024:.1f} KB; PostgreSQL 15 on the same machine")
            print("rate: median 2xx/s of the rounds; p50/p99: latency ms, rounds pooled")
            header = " | ".join(f"{name:>6} {'p50':>5} {'p99':>6}" for name, *_ in servers)
            print(f"{'conc':>4} | {header} | sqlite/bare pg1/bare pg2/bare")
            for level in levels:
                rounds: list[list[Result]] = [[] for _ in servers]
                for _ in range(args.rounds):
                    for i, (_, urls, sender, target) in enumerate(servers):
                        warm = packets_for(sender, pdf, 20)
                        asyncio.run(load(urls, sender, warm, level))
                        packets = packets_for(sender, pdf, args.requests)
                        rounds[i].append(asyncio.run(load(urls, sender, packets, level)))
                        if target is not None:
                            # extraction must not eat the next server's CPU
                            drain(target, sender, packets)
                runs = [
                    Result(statistics.median(r.rate for r in each),
                           sorted(t for r in each for t in r.latencies),
                           sum(r.errors for r in each))
                    for each in rounds
                ]  # fmt: skip
                cells = " | ".join(
                    f"{r.rate:>6.0f} {r.quantile_ms(0.5):>5.1f} {r.quantile_ms(0.99):>6.1f}"
                    for r in runs
                )
                base = runs[0].rate
                errors = sum(r.errors for r in runs)
                note = f"  ({errors} errors)" if errors else ""
                print(f"{level:>4} | {cells} | {runs[1].rate / base:>11.2f} "
                      f"{runs[2].rate / base:>8.2f} {runs[3].rate / base:>8.2f}{note}", flush=True)
        finally:
            bare.terminate()
            bare.wait(10)
            for gw in gateways:
                gw.stop()
    postgres.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
