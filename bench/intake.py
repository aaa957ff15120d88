"""Intake benchmark: durable packet acceptance against a bare aiohttp baseline.

Both servers run as their own processes on loopback, in the same run, and get
the same requests: a multipart body with a ~1 KB signed manifest and a ~20 KB
PDF, with a fresh request token each. The baseline handler only reads the
multipart body; the gateway verifies the token and the envelope, streams and
hashes the part, encrypts it at rest, fsyncs it, and commits the packet and a
signed ACCEPTED receipt before it answers 202.

    python bench/intake.py [--requests N] [--concurrency 1,4,16,64]

Prints accepted packets/s and p50/p99 latency per concurrency level, and the
gateway's rate as a ratio of the baseline's (target: >= 0.5).
"""

from __future__ import annotations

import argparse
import asyncio
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
    make_packet,
    start_gateway,
    wait_for,
)

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
    rate: float
    p50_ms: float
    p99_ms: float
    errors: int


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
                packet = queue.get_nowait()
                body, content_type = packet.body()
                headers = {"Authorization": bearer(sender, "POST", "/v1/packets"),
                           "Content-Type": content_type}
                started = time.perf_counter()
                async with session.post(url + "/v1/packets", data=body, headers=headers) as r:
                    await r.read()
                    if r.status != 202:
                        errors += 1
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return Result(
        rate=(len(packets) - errors) / elapsed,
        p50_ms=statistics.median(latencies) * 1000,
        p99_ms=latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        errors=errors,
    )


def packets_for(sender: Party, pdf: bytes, count: int) -> list[Packet]:
    # ~1 KB manifest: the body carries case metadata a real sender would add.
    body = {"case_ref": "BENCH-" + "0" * 24, "notes": "x" * 600}
    return [
        make_packet(sender, "ru", [("dossier.pdf", "application/pdf", pdf)], body=body)
        for _ in range(count)
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400, help="per concurrency level")
    parser.add_argument("--concurrency", default="1,4,16,64")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    pdf = pdf_of_about(20 * 1024)

    with tempfile.TemporaryDirectory(prefix="dxg-bench-") as tmp:
        gw: GatewayProcess = start_gateway(Path(tmp))
        ua, _ = gw.add_party("ua"), gw.add_party("ru")
        gw.start()
        bare_port = free_port()
        bare = subprocess.Popen([sys.executable, "-c", BARE_SERVER, str(bare_port)])
        bare_url = f"http://127.0.0.1:{bare_port}"
        try:
            wait_for(lambda: _up(bare_url), timeout=20)
            print(f"intake: {args.requests} packets per level, manifest ~1 KB + PDF "
                  f"{len(pdf) / 1024:.1f} KB; 2 processes on loopback; fsync on")
            print(f"{'conc':>5} | {'bare req/s':>10} {'p50 ms':>7} {'p99 ms':>7} | "
                  f"{'gw pkt/s':>9} {'p50 ms':>7} {'p99 ms':>7} | {'ratio':>5}")
            for level in levels:
                # Warm-up, then the measured run; each run gets fresh packets and tokens.
                asyncio.run(load(bare_url, ua, packets_for(ua, pdf, 20), level))
                base = asyncio.run(load(bare_url, ua, packets_for(ua, pdf, args.requests), level))
                asyncio.run(load(gw.url, ua, packets_for(ua, pdf, 20), level))
                ours = asyncio.run(load(gw.url, ua, packets_for(ua, pdf, args.requests), level))
                print(f"{level:>5} | {base.rate:>10.0f} {base.p50_ms:>7.1f} {base.p99_ms:>7.1f} | "
                      f"{ours.rate:>9.0f} {ours.p50_ms:>7.1f} {ours.p99_ms:>7.1f} | "
                      f"{ours.rate / base.rate:>5.2f}"
                      + (f"  ({ours.errors} errors)" if ours.errors or base.errors else ""))
        finally:
            bare.terminate()
            bare.wait(10)
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
