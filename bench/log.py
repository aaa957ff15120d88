"""Benchmark of the receipt log: durable appends and proof latency.

Run ``python bench/log.py`` (about a few minutes; builds 10^6 leaves) or
``python bench/log.py --quick`` (up to 10^5 leaves, seconds).

What it measures, on a real file with WAL and ``synchronous=FULL``:

1. Durable appends per second: 700-byte entries inserted into
   ``log_entries``, each call to :meth:`MerkleLog.append` one committed
   (fsynced) transaction, for several entries-per-commit; then the rate of
   :meth:`MerkleLog.integrate` in batches.
2. Inclusion-proof latency (median, p99) at 10^4, 10^5 and 10^6 leaves, with
   the proof's hash count, to show that it grows with log2 of the size; plus
   consistency-proof and verification latency. Caches are warm: the log has
   just been built.

Targets (issue 4): >= 5,000 durable appends/s; <= 1 ms per inclusion proof
at 10^6 leaves.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.protocol.merkle import InclusionProof, leaf_hash
from gateway.server.log import MerkleLog

ENTRY_BYTES = 700  # about one receipt JWS
BUILD_BATCH = 10_000  # entries per durable commit while building big trees
INTEGRATE_BATCH = 10_000  # entries per integration transaction
TARGET_APPENDS_PER_S = 5_000
TARGET_PROOF_MS = 1.0

_FILLER = bytes(random.Random(7).randrange(256) for _ in range(ENTRY_BYTES - 8))


def entry(i: int) -> bytes:
    """A distinct 700-byte entry: fixed filler and the index."""
    return _FILLER + i.to_bytes(8, "big")


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def timed_us(fn: Callable[[int], object], args: list[int]) -> list[float]:
    """Microseconds of ``fn(a)`` for each ``a``."""
    out = []
    for a in args:
        t = time.perf_counter_ns()
        fn(a)
        out.append((time.perf_counter_ns() - t) / 1000)
    return out


def _verify(proof: InclusionProof, leaf: bytes, root: bytes, _: int) -> object:
    return proof.verify(leaf_hash=leaf, root=root)


def bench_appends(workdir: Path, quick: bool) -> list[tuple[int, float]]:
    """Appends/s for each entries-per-commit."""
    print("Durable appends: 700-byte entries, WAL, synchronous=FULL, one commit per call")
    print(f"{'entries/commit':>15} {'entries':>9} {'seconds':>8} {'appends/s':>10}")
    plan = [(1, 2_000), (10, 20_000), (100, 100_000), (1_000, 200_000)]
    if quick:
        plan = [(1, 500), (10, 5_000), (100, 20_000), (1_000, 50_000)]
    rates: list[tuple[int, float]] = []
    integrate_rate = 0.0
    for per_commit, total in plan:
        path = workdir / f"appends-{per_commit}.db"
        with MerkleLog(path) as log:
            t = time.perf_counter()
            for start in range(0, total, per_commit):
                log.append([entry(i) for i in range(start, start + per_commit)])
            seconds = time.perf_counter() - t
            rates.append((per_commit, total / seconds))
            print(f"{per_commit:>15} {total:>9} {seconds:>8.2f} {total / seconds:>10.0f}")
            t = time.perf_counter()
            while log.integrate(max_batch=INTEGRATE_BATCH):
                pass
            integrate_rate = max(integrate_rate, total / (time.perf_counter() - t))
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
    print(f"integrate, batches of {INTEGRATE_BATCH}: {integrate_rate:,.0f} entries/s")
    print()
    return rates


def grow(log: MerkleLog, target: int) -> float:
    """Append and integrate up to ``target`` leaves; returns seconds spent."""
    t = time.perf_counter()
    size = log.size()
    while size < target:
        end = min(target, size + BUILD_BATCH)
        log.append([entry(i) for i in range(size, end)])
        while log.integrate(max_batch=INTEGRATE_BATCH):
            pass
        size = end
    return time.perf_counter() - t


def bench_proofs(workdir: Path, quick: bool) -> tuple[int, float]:
    """Prints the table; returns the largest size and its inclusion p99 in ms."""
    sizes = [10**3, 10**4, 10**5] if quick else [10**4, 10**5, 10**6]
    runs = 500 if quick else 2_000
    rng = random.Random(1)
    print(f"Proof latency, {runs} random proofs per size, warm cache (microseconds)")
    print(
        f"{'leaves':>9} {'build s':>8} {'hashes':>7} {'incl p50':>9} {'incl p99':>9}"
        f" {'cons p50':>9} {'cons p99':>9} {'verify p50':>11}"
    )
    last = (0, 0.0)
    with MerkleLog(workdir / "proofs.db") as log:
        for n in sizes:
            build = grow(log, n)
            root = log.root(n)
            indices = [rng.randrange(n) for _ in range(runs)]
            olds = [rng.randrange(1, n) for _ in range(runs)]
            log.inclusion(0, n)  # warm the statement cache
            incl = timed_us(partial(log.inclusion, size=n), indices)
            cons = timed_us(partial(log.consistency, new_size=n), olds)
            hashes = max(len(log.inclusion(i, n).hashes) for i in indices[:50])
            proof = log.inclusion(indices[0], n)
            leaf = leaf_hash(entry(indices[0]))
            verify = timed_us(partial(_verify, proof, leaf, root), indices)
            p50 = statistics.median(incl)
            last = (n, percentile(incl, 0.99) / 1000)
            print(
                f"{n:>9} {build:>8.1f} {hashes:>7} {p50:>9.0f} {percentile(incl, 0.99):>9.0f}"
                f" {statistics.median(cons):>9.0f} {percentile(cons, 0.99):>9.0f}"
                f" {statistics.median(verify):>11.0f}"
            )
    print()
    return last


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="up to 10^5 leaves only")
    parser.add_argument("--dir", type=Path, help="where to put the database files")
    parser.add_argument("--keep", action="store_true", help="keep the database files")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="dxg-log-bench-", dir=args.dir))
    print(f"database files in {workdir}\n")
    try:
        rates = bench_appends(workdir, args.quick)
        largest = bench_proofs(workdir, args.quick)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    enough = [per for per, rate in rates if rate >= TARGET_APPENDS_PER_S]
    ok_appends = bool(enough)
    single = dict(rates)[1]
    print(
        f"target >= {TARGET_APPENDS_PER_S} durable appends/s: "
        + (f"met from {enough[0]} entries per commit" if enough else "NOT met")
        + f"; one entry per commit gives {single:,.0f}/s (fsync-bound)"
    )
    size, p99_ms = largest
    ok_proofs = p99_ms <= TARGET_PROOF_MS
    print(
        f"target <= {TARGET_PROOF_MS} ms per inclusion proof at {size} leaves:"
        f" p99 {p99_ms:.3f} ms -> {'met' if ok_proofs else 'NOT met'}"
    )
    return 0 if ok_appends and ok_proofs else 1


if __name__ == "__main__":
    sys.exit(main())
