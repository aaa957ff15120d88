"""The monitor's report: per pair of parties, what the receipts say happened.

Computed from verified receipts only (ids, levels and times); nothing personal:
from a :class:`~gateway.monitor.chains.ChainBook`'s per-pair tallies and
open chains, so an incremental pass reports exactly what a full audit does.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gateway.monitor.chains import ChainBook, PacketChain
from gateway.protocol.clock import parse_time

# --- The report ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PairStats:
    sender: str
    recipient: str
    packets: int
    delivered: int
    processed: int
    rejected: int
    expired: int
    pending: int
    overdue: int
    median_s: float | None
    p95_s: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "sender": self.sender,
            "recipient": self.recipient,
            "packets": self.packets,
            "delivered": self.delivered,
            "processed": self.processed,
            "rejected": self.rejected,
            "expired": self.expired,
            "pending": self.pending,
            "overdue": self.overdue,
            "accepted_to_delivered_s": {"median": self.median_s, "p95": self.p95_s},
        }


def nearest_rank(samples: Sequence[float], q: float) -> float:
    """The ``q`` quantile by nearest rank (``q`` in (0, 1])."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def nth_smallest(histogram: Counter[float], k: int) -> float:
    """The ``k``-th smallest sample (0-based) of a histogram ``{value: count}``."""
    for value in sorted(histogram):
        k -= histogram[value]
        if k < 0:
            return value
    raise IndexError(k)


def histogram_median(histogram: Counter[float]) -> float | None:
    """What :func:`statistics.median` gives over the samples, or None."""
    n = histogram.total()
    if n == 0:
        return None
    if n % 2:
        return nth_smallest(histogram, n // 2)
    return (nth_smallest(histogram, n // 2 - 1) + nth_smallest(histogram, n // 2)) / 2


def histogram_rank(histogram: Counter[float], q: float) -> float | None:
    """What :func:`nearest_rank` gives over the samples, or None."""
    n = histogram.total()
    return None if n == 0 else nth_smallest(histogram, max(0, math.ceil(q * n) - 1))


def pair_stats(book: ChainBook, *, at: datetime, overdue_after_s: float) -> list[PairStats]:
    """Counts and ACCEPTED → DELIVERED times per sender → recipient pair.

    From the book's tallies (closed chains) and its open chains, so a monitor
    that carries the book from pass to pass reports what a full audit would.
    """
    open_by_pair: dict[tuple[str, str], list[PacketChain]] = defaultdict(list)
    for chain in book.open_chains.values():
        open_by_pair[chain.pair].append(chain)
    out = []
    for (sender, recipient), tally in sorted(book.tallies.items()):
        group = open_by_pair[(sender, recipient)]
        overdue = sum(n for wait, n in tally.closed_waits.items() if wait > overdue_after_s)
        overdue += sum(
            n
            for accepted, n in tally.expired_accepted.items()
            if (at - parse_time(accepted)).total_seconds() > overdue_after_s
        )
        for c in group:
            if "REJECTED" in c.levels or c.accepted_at is None:
                continue
            waited = ((c.delivered_at or at) - c.accepted_at).total_seconds()
            if waited > overdue_after_s:
                overdue += 1
        out.append(
            PairStats(
                sender=sender,
                recipient=recipient,
                packets=tally.packets,
                delivered=tally.delivered,
                processed=tally.processed,
                rejected=tally.rejected,
                expired=tally.expired,
                pending=sum(c.levels == ["ACCEPTED"] for c in group),
                overdue=overdue,
                median_s=histogram_median(tally.waits),
                p95_s=histogram_rank(tally.waits, 0.95),
            )
        )
    return out


def render_table(stats: Sequence[PairStats]) -> str:
    """A fixed-width table of :func:`pair_stats`, one line per pair."""
    header = "pair packets deliv proc reject expired pending overdue median_s p95_s"
    rows: list[list[str]] = [header.split()]

    def secs(value: float | None) -> str:
        return "-" if value is None else f"{value:.0f}"

    for s in stats:
        counts = (s.packets, s.delivered, s.processed, s.rejected, s.expired, s.pending)
        cells = [str(v) for v in (*counts, s.overdue)]
        rows.append([f"{s.sender} -> {s.recipient}", *cells, secs(s.median_s), secs(s.p95_s)])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    return "\n".join(lines)
