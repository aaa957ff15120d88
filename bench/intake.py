"""Intake benchmark: durable packet acceptance against a bare aiohttp baseline.

Three servers run as their own processes on loopback, in the same run, and
get the same requests: a multipart body with a ~1 KB signed manifest and a
~20 KB PDF, with a fresh request token each.

* bare: an aiohttp handler that only reads the multipart body.
* floor (``bench/_floor_server.py``): the bare handler plus only the work
  SPEC §2–§3 makes mandatory on every packet (two signature checks, the
  schema, hashing, encryption at rest, a signed receipt, a durable commit).
  Its ratio to bare bounds what any implementation on this stack can reach.
* gateway: the real thing, as deployed, its extraction stage running
  behind intake. Between levels the benchmark waits for that stage to
  finish, so that it never takes CPU from the next level's baseline.

    python bench/intake.py [--requests N] [--rounds R] [--concurrency 1,4,16,64]

Prints accepted packets/s, p50/p99 latency and server CPU per request for
each, per concurrency level, and the gateway's and the floor's rate as a
ratio of the baseline's (the issue's target for the gateway: >= 0.5).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pymupdf

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.harness import (
    GatewayProcess,
    Packet,
    Party,
    bearer,
    free_port,
    http,
    make_packet,
    start_gateway,
    wait_for,
)

ROOT = Path(__file__).resolve().parent.parent
WARM_UP = 20  # packets per server and level before the measured run
BACKLOG = ("ACCEPTED", "EXTRACTING")
DRAIN_TIMEOUT_S = 600

BARE_SERVER = """
import sys
from aiohttp import web

async def handle(request):
    reader = await request.multipart()
    size = 0
    while (part := await reader.next()) is not None:
        while chunk := await part.read_chunk(256 * 1024):
            size += len(chunk)
    return web.json_response({"read": size}, status=202)

app = web.Application()
app.router.add_post("/v1/packets", handle)
app.router.add_get("/readyz", lambda r: web.json_response({}))
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""


def pdf_of_about(size: int) -> bytes:
    """A real PDF of roughly ``size`` bytes (uncompressed text pages)."""
    doc = pymupdf.open()
    page = doc.new_page()
    line = "Bench dossier line, fictitious content only. " * 2
    y = 40.0
    while len(doc.tobytes()) < size:
        page.insert_text((20, y), line, fontsize=6)
        y += 7
        if y > 800:
            page, y = doc.new_page(), 40.0
    data: bytes = doc.tobytes()
    return data


@dataclass
class Result:
    """One run: its rate, and every request's latency in seconds, sorted."""

    rate: float
    latencies: list[float]
    errors: int

    def quantile_ms(self, q: float) -> float:
        return self.latencies[min(len(self.latencies) - 1, int(len(self.latencies) * q))] * 1000


def combined(runs: list[Result]) -> Result:
    """Rounds of one server at one level: the median rate, all latencies pooled."""
    return Result(
        rate=statistics.median(r.rate for r in runs),
        latencies=sorted(t for r in runs for t in r.latencies),
        errors=sum(r.errors for r in runs),
    )


async def post_timed(
    session: aiohttp.ClientSession, url: str, sender: Party, packet: Packet
) -> tuple[bool, float]:
    """POST one signed packet; whether it was accepted (202), and the seconds it took."""
    body, content_type = packet.body()
    headers = {
        "Authorization": bearer(sender, "POST", "/v1/packets"),
        "Content-Type": content_type,
    }
    started = time.perf_counter()
    async with session.post(url + "/v1/packets", data=body, headers=headers) as r:
        await r.read()
        accepted = r.status == 202
    return accepted, time.perf_counter() - started


async def load(url: str, sender: Party, packets: list[Packet], concurrency: int) -> Result:
    queue: asyncio.Queue[Packet] = asyncio.Queue()
    for packet in packets:
        queue.put_nowait(packet)
    latencies: list[float] = []
    errors = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal errors
            while not queue.empty():
                accepted, seconds = await post_timed(session, url, sender, queue.get_nowait())
                errors += not accepted
                latencies.append(seconds)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return Result(rate=(len(packets) - errors) / elapsed, latencies=latencies, errors=errors)


def packets_for(sender: Party, pdf: bytes, count: int) -> list[Packet]:
    # ~1 KB manifest: the body carries case metadata a real sender would add.
    body = {"case_ref": "BENCH-" + "0" * 24, "notes": "x" * 600}
    return [
        make_packet(sender, "ru", [("dossier.pdf", "application/pdf", pdf)], body=body)
        for _ in range(count)
    ]


@dataclass
class Server:
    """One server under test: where it listens and which process to charge CPU to."""

    name: str
    url: str
    pid: int

    def cpu_s(self) -> float:
        """User + system CPU seconds of the server process, all its threads (Linux)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Measured:
    """A server's rounds at one level."""

    result: Result
    cpu_ms: float  # median server CPU per request, all threads


def measure(
    server: Server, sender: Party, pdf: bytes, count: int, level: int
) -> tuple[Result, float, list[Packet]]:
    """One round: warm up, then ``count`` packets; (result, CPU ms per request, packets)."""
    asyncio.run(load(server.url, sender, packets_for(sender, pdf, WARM_UP), level))
    packets = packets_for(sender, pdf, count)
    cpu = server.cpu_s()
    result = asyncio.run(load(server.url, sender, packets, level))
    return result, (server.cpu_s() - cpu) / count * 1000, packets


def drain(gw: GatewayProcess, sender: Party, packets: list[Packet]) -> None:
    """Wait until the gateway has extracted every packet it accepted.

    Its extraction stage runs behind intake; left running, it would take CPU
    from the next level's baseline and flatter the ratio.
    """
    for packet in reversed(packets):  # extraction goes in order of acceptance
        path = f"/v1/packets/{packet.packet_id}"

        def extracted(path: str = path) -> bool:
            answer = http(
                "GET", gw.url + path, headers={"Authorization": bearer(sender, "GET", path)}
            )
            return answer.status == 200 and answer.json()["status"] not in BACKLOG

        wait_for(extracted, timeout=DRAIN_TIMEOUT_S)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="per server, level and round")
    parser.add_argument("--rounds", type=int, default=3, help="per level; the median rate is shown")
    parser.add_argument("--concurrency", default="1,4,16,64")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    pdf = pdf_of_about(20 * 1024)

    with tempfile.TemporaryDirectory(prefix="dxg-bench-") as tmp:
        gw: GatewayProcess = start_gateway(Path(tmp))
        ua, _ = gw.add_party("ua"), gw.add_party("ru")
        gw.start()
        assert gw.proc is not None
        floor_dir = Path(tmp) / "floor"
        floor_dir.mkdir()
        bare_port, floor_port = free_port(), free_port()
        bare = subprocess.Popen([sys.executable, "-c", BARE_SERVER, str(bare_port)])
        floor = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench._floor_server",
                str(floor_port),
                f"{ua.id}={ua.prefix}.pub.json",
                str(floor_dir),
            ],
            cwd=ROOT,
        )
        servers = [
            Server("bare", f"http://127.0.0.1:{bare_port}", bare.pid),
            Server("floor", f"http://127.0.0.1:{floor_port}", floor.pid),
            Server("gateway", gw.url, gw.proc.pid),
        ]
        try:
            for server in servers[:2]:
                wait_for(lambda url=server.url: _up(url), timeout=20)
            print(
                f"intake: {args.rounds} rounds of {args.requests} packets per server and level, "
                f"manifest ~1 KB + PDF "
                f"{len(pdf) / 1024:.1f} KB; each server its own process on loopback; "
                f"{os.cpu_count()} cores shared with the load generator"
            )
            print(
                "rate: median 2xx/s of the rounds; p50/p99: latency ms, rounds pooled; "
                "cpu: median server CPU ms per request, all threads"
            )
            print(
                f"{'conc':>4} | {'bare':>5} {'p50':>5} {'p99':>5} {'cpu':>5} | "
                f"{'floor':>5} {'p50':>5} {'p99':>5} {'cpu':>5} | "
                f"{'gw':>5} {'p50':>5} {'p99':>5} {'cpu':>5} | {'gw/bare':>7} {'floor/bare':>10}"
            )
            for level in levels:
                rounds: list[list[tuple[Result, float]]] = [[] for _ in servers]
                for _ in range(args.rounds):  # interleaved, so drift hits all three alike
                    for i, server in enumerate(servers):
                        result, cpu_ms, packets = measure(server, ua, pdf, args.requests, level)
                        rounds[i].append((result, cpu_ms))
                    drain(gw, ua, packets)  # before the next baseline runs
                runs = [
                    Measured(combined([r for r, _ in each]), statistics.median(c for _, c in each))
                    for each in rounds
                ]
                base, least, ours = (run.result for run in runs)
                cells = " | ".join(
                    f"{run.result.rate:>5.0f} {run.result.quantile_ms(0.5):>5.1f} "
                    f"{run.result.quantile_ms(0.99):>5.1f} {run.cpu_ms:>5.2f}"
                    for run in runs
                )
                errors = sum(run.result.errors for run in runs)
                note = f"  ({errors} errors)" if errors else ""
                print(
                    f"{level:>4} | {cells} | {ours.rate / base.rate:>7.2f} "
                    f"{least.rate / base.rate:>10.2f}{note}",
                    flush=True,
                )
        finally:
            for process in (bare, floor):
                process.terminate()
                process.wait(10)
            gw.stop()
    return 0


def _up(url: str) -> bool:
    import urllib.request  # noqa: PLC0415 - only this probe needs it

    try:
        with urllib.request.urlopen(url + "/readyz", timeout=1):
            return True
    except OSError:
        return False


if __name__ == "__main__":
    sys.exit(main())
