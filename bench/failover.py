"""Failover drill at length: two nodes on PostgreSQL, 16 senders, many SIGKILLs.

The drill of ``tests/test_postgres_failover.py`` (``tests/failover.py``)
with more kills (default 20): each SIGKILL of the log-lease holder or the
follower at a moment drawn from the seed, the node started again, then
every acknowledged packet pulled and compared by SHA-256 and the log
audited by the monitor after every kill. Prints the figures: sent,
acknowledged, lost, duplicated, requests cut by a kill, handovers and the
takeover times, one line per kill.

    python bench/failover.py [--kills 20] [--seed 1400] [--think 1.0]

A throwaway PostgreSQL cluster (``tests/postgres.py``), or
``DXG_TEST_POSTGRES_DSN``. A failed check exits 1 with the seed to replay.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.failover import run_drill
from tests.postgres import PostgresServer


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1400)
    parser.add_argument(
        "--think", type=float, default=1.0,
        help="senders' mean pause (s) while a node restarts; 0: flat out",
    )  # fmt: skip
    args = parser.parse_args()
    postgres = PostgresServer.start()
    try:
        with tempfile.TemporaryDirectory(prefix="dxg-failover-") as tmp, \
                postgres.database() as dsn:  # fmt: skip
            try:
                report = run_drill(Path(tmp), dsn, seed=args.seed, kills=args.kills,
                                   think_s=args.think, log=print)  # fmt: skip
            except AssertionError as exc:
                print(f"FAILED: {exc}")
                return 1
    finally:
        postgres.close()
    print(report.summary())
    print("kill  node  role      acknowledged  takeover_s  restart_s")
    for n, kill in enumerate(report.kills, 1):
        takeover = "-" if kill.takeover_s is None else f"{kill.takeover_s:.2f}"
        role = "holder" if kill.held_lease else "follower"
        print(f"{n:>4}  {kill.node:>4}  {role:<8}  {kill.acknowledged_before:>12}  "
              f"{takeover:>10}  {kill.restart_s:>9.1f}")  # fmt: skip
    takeovers = report.takeovers()
    if takeovers:
        median = statistics.median(takeovers)
        print(f"takeover after SIGKILL of the holder: median {median:.2f} s, max "
              f"{max(takeovers):.2f} s over {len(takeovers)} handovers (limit 5 s)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
