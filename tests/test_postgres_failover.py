"""Issue 14's acceptance under faults: repeated SIGKILLs of either node under load.

Two nodes on one PostgreSQL, 16 concurrent senders spread over both, four
SIGKILLs at moments drawn from a seeded RNG (the log-lease holder, the
follower, then either), each killed node started again: every acknowledged
packet is delivered exactly once, byte for byte, the monitor audits the log
clean across every handover (``tests/failover.py`` does the drill and the
checks). A failure names its seed; ``DXG_FAILOVER_SEED=<seed>`` replays it.
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.failover import run_drill

DEFAULT_SEED = 1400  # any seed passes; this one is the test's
KILLS = 4  # holder, follower, two drawn: each role at least once
THINK_S = 1.0  # senders' mean pause while a node restarts: ~16 packets/s then, not ~100


def test_repeated_sigkill_of_either_node_under_load_loses_and_duplicates_nothing(
    tmp_path: Path, postgres_dsn: str
) -> None:
    seed = int(os.environ.get("DXG_FAILOVER_SEED", DEFAULT_SEED))
    report = run_drill(tmp_path, postgres_dsn, seed=seed, kills=KILLS, think_s=THINK_S,
                        log=print)  # fmt: skip
    print(report.summary())  # pytest -s shows the figures
    assert (report.lost, report.duplicated) == (0, 0)
    assert report.acknowledged == report.sent == report.delivered
    assert report.cut > 0  # kills fell on requests in flight: the resend path ran
    assert report.handovers >= 1 and report.handovers < KILLS  # both roles were killed
    assert max(report.takeovers()) < 5
    assert len(report.audits) == KILLS + 2  # before, after each kill, at the end
