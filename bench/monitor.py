"""Benchmark of one monitor pass: the full audit against the incremental one.

Run ``python bench/monitor.py --sizes 100000,1000000 --rerun-full-up-to 100000``
(the 10^6 build and its full audit take tens of minutes on a loaded 2-core
machine) or ``python bench/monitor.py --sizes 10000 --new 500`` (a minute).

For each size N it builds a real gateway data directory whose log holds N
signed receipts, written straight into the gateway's SQLite database with
the server's own code (``gateway.server.receipts.append``, then
``gateway.server.log.MerkleLog.integrate``) instead of posting packets; the
gateway process signs the checkpoint when it starts. A monitor (in this
process, through a client that counts every request and byte) audits it
once and saves its state; then ``--new`` (default 1,000) receipts are
appended and, from copies of that same state, it runs

* **before**: ``--full``, the old full audit: every entry fetched, the root
  recomputed from all leaves, every receipt and chain verified again;
* **after**: the incremental pass: consistency proof from the saved
  checkpoint, the new entries appended to the saved compact range, the new
  receipts verified, the chain book carried on.

Both passes end at the same checkpoint and must report the same pairs
(checked). Printed: wall time and bytes fetched, median of ``--repeat``
runs, the ratio, and the state file's size.

The receipts: packets from ua to ru, in a fixed cycle of ten: six
ACCEPTED → DELIVERED → PROCESSED, two ACCEPTED → DELIVERED (still open: a
PROCESSED may follow), one ACCEPTED → REJECTED, one only ACCEPTED.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.monitor.audit import Monitor, PassResult
from gateway.party.client import Client, Identity
from gateway.protocol.crypto.keys import SigningKey, load_signing_key
from gateway.protocol.receipt import sign_receipt
from gateway.server import receipts
from gateway.server.config import DataDir
from gateway.server.log import MerkleLog
from gateway.server.store import connect

COMMIT_BATCH = 10_000  # receipts per transaction while building
INTEGRATE_BATCH = 50_000  # leaves per integration transaction while building
READY_TIMEOUT_S = 600.0  # the gateway signs the first checkpoint of a big tree at start
T0 = datetime(2026, 1, 1, tzinfo=UTC)
PARTS = [("note.txt", "ab" * 32)]


def _cli(*args: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "gateway", *args], check=True, capture_output=True, text=True
    ).stdout
    result: dict[str, Any] = json.loads(out)
    return result


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Receipts:
    """Signed receipts in the fixed cycle, packet after packet."""

    gateway: SigningKey
    ru: SigningKey
    packets: int = 0

    def packet(self) -> list[str]:
        n = self.packets
        self.packets += 1
        pid = str(uuid.UUID(int=n + 1))
        accepted = T0 + timedelta(seconds=10 * n)
        common: dict[str, Any] = {
            "packet_id": pid,
            "sender": "ua",
            "recipient": "ru",
            "envelope_sha256": f"{n:064x}",
            "parts": PARTS,
        }
        out = [
            sign_receipt(self.gateway, level="ACCEPTED", issuer="gw", extraction_sha256=None,
                         reason=None, at=accepted, **common)
        ]
        kind = n % 10
        extraction = f"{n + 1:064x}"
        if kind < 8:
            out.append(sign_receipt(self.ru, level="DELIVERED", issuer="ru",
                                    extraction_sha256=extraction, reason=None,
                                    at=accepted + timedelta(seconds=60 + n % 500), **common))
        if kind < 6:
            out.append(sign_receipt(self.ru, level="PROCESSED", issuer="ru",
                                    extraction_sha256=extraction, reason=None,
                                    at=accepted + timedelta(seconds=900), **common))
        if kind == 8:
            out.append(sign_receipt(self.ru, level="REJECTED", issuer="ru",
                                    extraction_sha256=None, reason="bench",
                                    at=accepted + timedelta(seconds=30), **common))
        return out

    def take(self, count: int) -> Iterator[str]:
        """Exactly ``count`` receipts (the last packet may be cut short: then
        its chain is simply still open)."""
        made = 0
        while made < count:
            for compact in self.packet()[: count - made]:
                made += 1
                yield compact


def append_receipts(data: DataDir, source: Iterator[str]) -> int:
    """Write receipts as the gateway records them, in big transactions."""
    conn = connect(data.database)
    written = 0
    try:
        batch: list[str] = []
        for compact in [*source, None]:
            if compact is not None:
                batch.append(compact)
            if batch and (compact is None or len(batch) == COMMIT_BATCH):
                conn.execute("BEGIN IMMEDIATE")
                for item in batch:
                    receipts.append(conn, item, at=T0)
                conn.execute("COMMIT")
                written += len(batch)
                batch = []
    finally:
        conn.close()
    return written


def build(work: Path, n: int) -> tuple[DataDir, Receipts, float]:
    """A gateway data directory whose log holds ``n`` integrated receipts."""
    root = work / "gw"
    _cli("init", str(root))
    for party, role in (("ua", "party"), ("ru", "party"), ("mon", "monitor")):
        _cli("keygen", str(work / "keys" / party))
        _cli("party", "add", str(root), party, "--role", role,
             "--keys", str(work / "keys" / f"{party}.pub.json"))
    data = DataDir(root)
    source = Receipts(load_signing_key(data.signing_key_path),
                      load_signing_key(work / "keys" / "ru.sig.jwk"))
    t = time.perf_counter()
    append_receipts(data, source.take(n))
    with MerkleLog(data.database) as log:
        while log.integrate(max_batch=INTEGRATE_BATCH):
            pass
    return data, source, time.perf_counter() - t


class CountingClient(Client):
    """Counts the requests a pass makes and the body bytes it receives."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.requests = 0
        self.bytes = 0

    async def request(self, method: str, path_qs: str, **kw: Any) -> tuple[int, bytes]:
        status, body = await super().request(method, path_qs, **kw)
        self.requests += 1
        self.bytes += len(body)
        return status, body


@dataclass(frozen=True)
class Pass:
    seconds: float
    requests: int
    bytes: int
    result: PassResult


def one_pass(url: str, identity: Identity, state: Path, *, full: bool) -> Pass:
    async def run() -> Pass:
        client = CountingClient(url, identity, timeout_s=3600)
        async with client:
            t = time.perf_counter()
            result = await Monitor(client, state_path=state, full=full).run_pass()
            seconds = time.perf_counter() - t
        if not result.clean:
            raise SystemExit(f"the pass found something: {result.findings[:3]}")
        return Pass(seconds, client.requests, client.bytes, result)

    return asyncio.run(run())


def wait_checkpoint(url: str, identity: Identity, size: int) -> None:
    async def run() -> None:
        async with Client(url, identity) as client:
            deadline = time.monotonic() + READY_TIMEOUT_S
            while time.monotonic() < deadline:
                _, body = await client.request("GET", "/v1/log/checkpoint")
                if int(body.decode().split("\n")[1]) >= size:
                    return
                await asyncio.sleep(0.2)
        raise SystemExit(f"no checkpoint of size {size} in time")

    asyncio.run(run())


def wait_ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("the gateway exited")
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit("the gateway did not become ready")


def bench_size(work: Path, n: int, new: int, repeat: int, rerun_full: bool) -> dict[str, Any]:
    data, source, build_s = build(work, n)
    print(f"  built {n:,} leaves in {build_s:.1f} s", flush=True)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = (work / "gateway.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve", str(data.root), "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT,
    )
    identity = Identity.load("mon", work / "keys" / "mon")
    try:
        wait_ready(url, proc)
        wait_checkpoint(url, identity, n)
        saved = work / "state-n.json"
        first = one_pass(url, identity, saved, full=False)
        print(f"  first pass (no state, whole log): {first.seconds:.1f} s,"
              f" {first.bytes / 1e6:.1f} MB", flush=True)
        append_receipts(data, source.take(new))
        wait_checkpoint(url, identity, n + new)
        runs: dict[str, list[Pass]] = {"full": [] if rerun_full else [first], "incremental": []}
        for _ in range(repeat):
            for mode in ("full", "incremental") if rerun_full else ("incremental",):
                state = work / f"state-{mode}.json"
                shutil.copy(saved, state)
                runs[mode].append(one_pass(url, identity, state, full=mode == "full"))
        if rerun_full:
            full_pairs = [p.to_json() for p in runs["full"][0].result.pairs]
            incr_pairs = [p.to_json() for p in runs["incremental"][0].result.pairs]
            if full_pairs != incr_pairs:
                raise SystemExit("the incremental report differs from the full audit's")
        state_bytes = (work / "state-incremental.json").stat().st_size
        saved = json.loads((work / "state-incremental.json").read_text())["body"]
        open_chains = len(saved["book"]["open"])
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(120)
        log.close()

    def med(mode: str, attr: str) -> float:
        return float(statistics.median(float(getattr(p, attr)) for p in runs[mode]))

    return {
        "n": n,
        "rerun_full": rerun_full,
        "build_s": build_s,
        "first_s": first.seconds,
        "full_s": med("full", "seconds"),
        "full_bytes": med("full", "bytes"),
        "full_requests": med("full", "requests"),
        "incr_s": med("incremental", "seconds"),
        "incr_bytes": med("incremental", "bytes"),
        "incr_requests": med("incremental", "requests"),
        "state_bytes": state_bytes,
        "open_chains": open_chains,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", default="100000,1000000",
                        help="comma-separated log sizes (default 100000,1000000)")
    parser.add_argument("--new", type=int, default=1000, help="entries added between passes")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each pass (median)")
    parser.add_argument("--dir", type=Path, help="where to build the data directories")
    parser.add_argument(
        "--rerun-full-up-to", type=int, default=10**6,
        help="above this size the full audit is not run again after the new entries:"
        " the first pass (a full audit of N leaves) stands for it (marked *)",
    )
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    for n in (int(s) for s in args.sizes.split(",")):
        work = Path(tempfile.mkdtemp(prefix=f"dxg-monitor-bench-{n}-", dir=args.dir))
        print(f"{n:,} leaves, then {args.new:,} new (in {work})", flush=True)
        try:
            rows.append(
                bench_size(work, n, args.new, args.repeat, n <= args.rerun_full_up_to)
            )
        finally:
            shutil.rmtree(work, ignore_errors=True)
        print_table(rows, args.new, args.repeat)  # after each size: a long run keeps its rows
    return 0


def print_table(rows: list[dict[str, Any]], new: int, repeat: int) -> None:
    print()
    print(f"One monitor pass after {new:,} new entries; median of {repeat} run(s)")
    print("(* full = the first pass, a full audit of the N leaves before the new ones)")
    print(f"{'leaves':>9} {'full s':>8} {'incr s':>7} {'speedup':>8} {'full MB':>8}"
          f" {'incr MB':>8} {'bytes ratio':>11} {'full req':>8} {'incr req':>8}"
          f" {'state MB':>8} {'open':>7}")
    for r in rows:
        mark = " " if r["rerun_full"] else "*"
        print(f"{r['n']:>9,}{mark}{r['full_s']:>7.2f} {r['incr_s']:>7.2f}"
              f" {r['full_s'] / r['incr_s']:>7.0f}x {r['full_bytes'] / 1e6:>8.1f}"
              f" {r['incr_bytes'] / 1e6:>8.2f} {r['full_bytes'] / r['incr_bytes']:>10.0f}x"
              f" {r['full_requests']:>8.0f} {r['incr_requests']:>8.0f}"
              f" {r['state_bytes'] / 1e6:>8.1f} {r['open_chains']:>7,}")
    print(flush=True)


if __name__ == "__main__":
    sys.exit(main())
