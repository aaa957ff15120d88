"""Each packet's chain of receipts, followed receipt by receipt (SPEC §3, §6).

A :class:`ChainBook` takes verified receipts in log order and checks that
each packet's receipts form a chain the protocol allows: one ACCEPTED
first, by the gateway; then DELIVERED, REJECTED or PROCESSED by the
recipient, EXPIRED by the gateway, in an order
:func:`gateway.protocol.status.receipt_may_follow` allows, every receipt
naming the same sender, recipient, ``envelope_sha256`` and parts, and
PROCESSED the ``extraction_sha256`` of DELIVERED.

What it keeps is bounded so an incremental monitor can carry it from pass
to pass in its state file: the **open** chains (whose last receipt another
may still follow: ACCEPTED, DELIVERED) and, per sender → recipient pair,
counters plus histograms of the few times the report needs from closed
chains (ACCEPTED → DELIVERED waits; ACCEPTED times of packets that expired
undelivered). A chain that closes is folded into those and forgotten.

``strict=True`` (the full audit, in memory only) also remembers closed
chains and every receipt id, so a receipt that reuses an old receipt id or
follows a chain closed long ago is named exactly; an incremental pass names
those only while the chain is open (a receipt on a forgotten packet that is
not ACCEPTED is still caught: a chain must start with ACCEPTED).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.protocol import status
from gateway.protocol.clock import format_time
from gateway.protocol.receipt import ReceiptClaims

GATEWAY_LEVELS = frozenset({"ACCEPTED", "EXPIRED"})  # issued by the gateway, not a party
OPEN_LEVELS = frozenset(
    level
    for level in status.RECEIPT_LEVELS
    if any(status.receipt_may_follow(level, nxt) for nxt in status.RECEIPT_LEVELS)
)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def to_micros(moment: datetime) -> int:
    """A time as whole microseconds since 1970, exact (a state file may hold
    a hundred thousand of them: cheaper than RFC 3339 text both ways)."""
    return (moment - EPOCH) // MICROSECOND


def from_micros(value: int) -> datetime:
    return EPOCH + value * MICROSECOND


def parts_digest(parts: Any) -> str:
    """A digest of a receipt's ``parts`` (names and digests), to compare chains by."""
    return hashlib.sha256(json.dumps(parts, separators=(",", ":")).encode()).hexdigest()


@dataclass(slots=True)
class PacketChain:
    """What the log says happened to one packet, in log order."""

    packet_id: str
    sender: str
    recipient: str
    envelope_sha256: str = ""
    parts_sha256: str = ""
    accepted_at: datetime | None = None
    delivered_at: datetime | None = None
    extraction_sha256: str | None = None
    levels: list[str] = field(default_factory=list)
    receipt_ids: list[tuple[str, int]] = field(default_factory=list)  # (receipt_id, log index)

    @property
    def pair(self) -> tuple[str, str]:
        return (self.sender, self.recipient)

    @property
    def open(self) -> bool:
        return bool(self.levels) and self.levels[-1] in OPEN_LEVELS

    def to_json(self) -> dict[str, Any]:
        def t(moment: datetime | None) -> int | None:
            return None if moment is None else to_micros(moment)

        return {
            "sender": self.sender,
            "recipient": self.recipient,
            "envelope_sha256": self.envelope_sha256,
            "parts_sha256": self.parts_sha256,
            "accepted_at": t(self.accepted_at),
            "delivered_at": t(self.delivered_at),
            "extraction_sha256": self.extraction_sha256,
            "levels": self.levels,
            "receipt_ids": [list(r) for r in self.receipt_ids],
        }

    @classmethod
    def from_json(cls, packet_id: str, obj: dict[str, Any]) -> PacketChain:
        def t(value: Any) -> datetime | None:
            return None if value is None else from_micros(int(value))

        return cls(
            packet_id=packet_id,
            sender=str(obj["sender"]),
            recipient=str(obj["recipient"]),
            envelope_sha256=str(obj["envelope_sha256"]),
            parts_sha256=str(obj["parts_sha256"]),
            accepted_at=t(obj["accepted_at"]),
            delivered_at=t(obj["delivered_at"]),
            extraction_sha256=obj["extraction_sha256"],
            levels=[str(v) for v in obj["levels"]],
            receipt_ids=[(r, i) for r, i in obj["receipt_ids"]],
        )


def _counter_json(counter: Counter[Any]) -> list[list[Any]]:
    return [[k, v] for k, v in sorted(counter.items())]


@dataclass(slots=True)
class PairTally:
    """One sender → recipient pair's counts, kept across chains that closed."""

    packets: int = 0
    delivered: int = 0
    processed: int = 0
    rejected: int = 0
    expired: int = 0
    waits: Counter[float] = field(default_factory=Counter)  # ACCEPTED → DELIVERED seconds
    # Closed chains that still count for "overdue" (not rejected): the wait of
    # those delivered, the ACCEPTED time of those that expired undelivered.
    closed_waits: Counter[float] = field(default_factory=Counter)
    expired_accepted: Counter[str] = field(default_factory=Counter)

    def to_json(self) -> dict[str, Any]:
        return {
            "packets": self.packets,
            "delivered": self.delivered,
            "processed": self.processed,
            "rejected": self.rejected,
            "expired": self.expired,
            "waits": _counter_json(self.waits),
            "closed_waits": _counter_json(self.closed_waits),
            "expired_accepted": _counter_json(self.expired_accepted),
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> PairTally:
        return cls(
            packets=int(obj["packets"]),
            delivered=int(obj["delivered"]),
            processed=int(obj["processed"]),
            rejected=int(obj["rejected"]),
            expired=int(obj["expired"]),
            waits=Counter({float(k): int(v) for k, v in obj["waits"]}),
            closed_waits=Counter({float(k): int(v) for k, v in obj["closed_waits"]}),
            expired_accepted=Counter({str(k): int(v) for k, v in obj["expired_accepted"]}),
        )


LEVEL_COUNTERS = {
    "DELIVERED": "delivered",
    "PROCESSED": "processed",
    "REJECTED": "rejected",
    "EXPIRED": "expired",
}


@dataclass(slots=True)
class ChainBook:
    """Open chains and per-pair tallies, advanced one verified receipt at a time."""

    gateway_id: str
    strict: bool = False
    open_chains: dict[str, PacketChain] = field(default_factory=dict)
    tallies: dict[tuple[str, str], PairTally] = field(default_factory=dict)
    _ids: dict[str, int] = field(default_factory=dict)  # receipt ids of open (strict: all) chains
    _closed: dict[str, PacketChain] = field(default_factory=dict)  # strict only

    def __post_init__(self) -> None:
        for chain in self.open_chains.values():
            self._ids.update(chain.receipt_ids)

    def add(self, r: ReceiptClaims, log_index: int) -> str | None:
        """Apply one verified receipt; the problem (a sentence) if it breaks its chain."""
        c = r.claims
        pid = r.packet_id
        receipt_id = str(c["receipt_id"])
        earlier = self._ids.get(receipt_id)
        if earlier is not None:
            return f"receipt_id {receipt_id} appears again (first at log index {earlier})"
        chain = self.open_chains.get(pid) or self._closed.get(pid)
        if chain is None:
            if r.level != "ACCEPTED":
                return f"its first verified receipt is {r.level}, not ACCEPTED"
            if r.issuer != self.gateway_id:
                return f"ACCEPTED is issued by {r.issuer!r}, not the gateway {self.gateway_id!r}"
            chain = PacketChain(
                pid,
                str(c["sender"]),
                str(c["recipient"]),
                envelope_sha256=str(c["envelope_sha256"]),
                parts_sha256=parts_digest(c["parts"]),
                accepted_at=r.issued_at,
                levels=["ACCEPTED"],
            )
            self.open_chains[pid] = chain
            self.tallies.setdefault(chain.pair, PairTally()).packets += 1
            self._remember(chain, receipt_id, log_index)
            return None
        if r.level == "ACCEPTED":
            return "a second ACCEPTED receipt"
        expected_issuer = self.gateway_id if r.level in GATEWAY_LEVELS else chain.recipient
        if r.issuer != expected_issuer:
            return f"{r.level} is issued by {r.issuer!r}, not by {expected_issuer!r}"
        if (c["sender"], c["recipient"]) != (chain.sender, chain.recipient):
            return f"{r.level} names other parties than its ACCEPTED receipt"
        if c["envelope_sha256"] != chain.envelope_sha256:
            return f"{r.level} names another envelope_sha256 than ACCEPTED"
        if parts_digest(c["parts"]) != chain.parts_sha256:
            return f"{r.level} names other parts (names or digests) than ACCEPTED"
        if not status.receipt_may_follow(chain.levels[-1], r.level) or r.level in chain.levels:
            return f"{r.level} cannot follow {' -> '.join(chain.levels)}"
        if r.level == "PROCESSED" and c["extraction_sha256"] != chain.extraction_sha256:
            return "PROCESSED names another extraction_sha256 than DELIVERED"
        tally = self.tallies.setdefault(chain.pair, PairTally())
        chain.levels.append(r.level)
        setattr(tally, LEVEL_COUNTERS[r.level], getattr(tally, LEVEL_COUNTERS[r.level]) + 1)
        if r.level == "DELIVERED":
            chain.delivered_at = r.issued_at
            chain.extraction_sha256 = c["extraction_sha256"]
            assert chain.accepted_at is not None
            tally.waits[(chain.delivered_at - chain.accepted_at).total_seconds()] += 1
        self._remember(chain, receipt_id, log_index)
        if not chain.open:
            self._close(chain, tally)
        return None

    def _remember(self, chain: PacketChain, receipt_id: str, log_index: int) -> None:
        chain.receipt_ids.append((receipt_id, log_index))
        self._ids[receipt_id] = log_index

    def _close(self, chain: PacketChain, tally: PairTally) -> None:
        """Fold a chain no receipt may follow any more into its pair's tally."""
        del self.open_chains[chain.packet_id]
        if "REJECTED" not in chain.levels and chain.accepted_at is not None:
            if chain.delivered_at is not None:
                tally.closed_waits[(chain.delivered_at - chain.accepted_at).total_seconds()] += 1
            else:
                tally.expired_accepted[format_time(chain.accepted_at)] += 1
        if self.strict:
            self._closed[chain.packet_id] = chain
        else:
            for receipt_id, _ in chain.receipt_ids:
                del self._ids[receipt_id]

    def to_json(self) -> dict[str, Any]:
        """What an incremental monitor keeps (never the strict extras)."""
        return {
            "open": {pid: chain.to_json() for pid, chain in self.open_chains.items()},
            "pairs": [
                {"sender": s, "recipient": r, **t.to_json()}
                for (s, r), t in sorted(self.tallies.items())
            ],
        }

    @classmethod
    def from_json(cls, gateway_id: str, obj: dict[str, Any]) -> ChainBook:
        """Raises: KeyError, TypeError, ValueError: not a book."""
        return cls(
            gateway_id=gateway_id,
            open_chains={
                str(pid): PacketChain.from_json(str(pid), chain)
                for pid, chain in dict(obj["open"]).items()
            },
            tallies={
                (str(p["sender"]), str(p["recipient"])): PairTally.from_json(p)
                for p in obj["pairs"]
            },
        )
