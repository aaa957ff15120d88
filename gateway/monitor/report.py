"""The monitor's report: per pair of parties, what the receipts say happened.

Computed from verified receipts only (ids, levels and times); nothing personal.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(slots=True)
class PacketChain:
    """What the log says happened to one packet, in log order."""

    packet_id: str
    sender: str
    recipient: str
    accepted_at: datetime | None = None
    delivered_at: datetime | None = None
    extraction_sha256: str | None = None
    levels: list[str] = field(default_factory=list)

    @property
    def pair(self) -> tuple[str, str]:
        return (self.sender, self.recipient)


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


def pair_stats(
    chains: dict[str, PacketChain], *, at: datetime, overdue_after_s: float
) -> list[PairStats]:
    """Counts and ACCEPTED → DELIVERED times per sender → recipient pair."""
    by_pair: dict[tuple[str, str], list[PacketChain]] = defaultdict(list)
    for chain in chains.values():
        by_pair[chain.pair].append(chain)
    out = []
    for (sender, recipient), group in sorted(by_pair.items()):
        waits = [
            (c.delivered_at - c.accepted_at).total_seconds()
            for c in group
            if c.delivered_at is not None and c.accepted_at is not None
        ]
        overdue = 0
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
                packets=len(group),
                delivered=sum("DELIVERED" in c.levels for c in group),
                processed=sum("PROCESSED" in c.levels for c in group),
                rejected=sum("REJECTED" in c.levels for c in group),
                expired=sum("EXPIRED" in c.levels for c in group),
                pending=sum(c.levels == ["ACCEPTED"] for c in group),
                overdue=overdue,
                median_s=statistics.median(waits) if waits else None,
                p95_s=nearest_rank(waits, 0.95) if waits else None,
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
