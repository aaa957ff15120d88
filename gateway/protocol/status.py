"""A packet's status and the rules of how it may change (SPEC §3).

Status runs ACCEPTED → EXTRACTING → READY → DELIVERED → PROCESSED, or ends
in REJECTED (by the recipient) or EXPIRED (not fetched before its deadline).
:data:`TRANSITIONS` is the one statement of which status may follow which:
the gateway refuses any other change (``gateway.server.timeline``), and a
monitor, which sees only the receipts, checks each packet's chain of
receipts against the same table (:func:`receipt_may_follow`).
"""

from __future__ import annotations

from gateway.protocol.errors import Conflict

ACCEPTED = "ACCEPTED"
EXTRACTING = "EXTRACTING"
READY = "READY"
DELIVERED = "DELIVERED"
PROCESSED = "PROCESSED"
REJECTED = "REJECTED"
EXPIRED = "EXPIRED"

TRANSITIONS: dict[str, frozenset[str]] = {
    # A packet whose extraction finishes before the worker marks it EXTRACTING
    # (nothing to extract) goes straight to READY.
    ACCEPTED: frozenset({EXTRACTING, READY, EXPIRED}),
    EXTRACTING: frozenset({READY, EXPIRED}),
    READY: frozenset({DELIVERED, REJECTED, EXPIRED}),
    DELIVERED: frozenset({PROCESSED, REJECTED}),
    PROCESSED: frozenset(),
    REJECTED: frozenset(),
    EXPIRED: frozenset(),
}
FINAL = frozenset(s for s, after in TRANSITIONS.items() if not after)

# Statuses that have a receipt of the same name (SPEC §6); the others
# (EXTRACTING, READY) change nothing a monitor can see.
RECEIPT_LEVELS = frozenset({ACCEPTED, DELIVERED, REJECTED, PROCESSED, EXPIRED})

# The statuses a receipt of each level may follow, derived from TRANSITIONS.
RECEIPT_FROM: dict[str, frozenset[str]] = {
    level: frozenset(s for s, after in TRANSITIONS.items() if level in after)
    for level in RECEIPT_LEVELS - {ACCEPTED}
}


def may_follow(current: str, new: str) -> bool:
    """Whether a packet in status ``current`` may move to ``new``."""
    return new in TRANSITIONS.get(current, frozenset())


def check(current: str, new: str, *, packet_id: str) -> None:
    """Raises: Conflict naming the current status if ``new`` may not follow it."""
    if not may_follow(current, new):
        raise Conflict(f"packet {packet_id} is {current}; it cannot become {new}")


def receipt_may_follow(previous: str, level: str) -> bool:
    """Whether a receipt of ``level`` may come next after one of ``previous``.

    Receipts show only the statuses of :data:`RECEIPT_LEVELS`; between two
    receipts the packet may pass through the silent ones (EXTRACTING, READY).
    """
    frontier, seen = {previous}, set()
    while frontier:
        status = frontier.pop()
        seen.add(status)
        for nxt in TRANSITIONS.get(status, frozenset()):
            if nxt == level:
                return True
            if nxt not in RECEIPT_LEVELS and nxt not in seen:
                frontier.add(nxt)
    return False
