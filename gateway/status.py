"""A packet's status and its timeline (SPEC §3).

Status runs ACCEPTED → EXTRACTING → READY → DELIVERED → PROCESSED, or ends
in REJECTED (by the recipient) or EXPIRED (not fetched before its deadline).
The timeline records every status change with its time, and events that do
not change the status (push notification attempts) with a ``detail`` that
holds ids, counts and outcomes only, never personal data.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import Any

from gateway.clock import format_time

ACCEPTED = "ACCEPTED"
EXTRACTING = "EXTRACTING"
READY = "READY"
DELIVERED = "DELIVERED"
PROCESSED = "PROCESSED"
REJECTED = "REJECTED"
EXPIRED = "EXPIRED"

# The statuses a receipt of each level may follow.
RECEIPT_FROM: dict[str, frozenset[str]] = {
    DELIVERED: frozenset({READY}),
    REJECTED: frozenset({READY, DELIVERED}),
    PROCESSED: frozenset({DELIVERED}),
    EXPIRED: frozenset({ACCEPTED, EXTRACTING, READY}),
}


def record(conn: sqlite3.Connection, packet_id: str, status: str, at: datetime) -> None:
    """Set a packet's status and add it to the timeline."""
    conn.execute(
        "INSERT INTO timeline (packet_id, status, at) VALUES (?, ?, ?)",
        (packet_id, status, format_time(at)),
    )
    conn.execute("UPDATE packets SET status = ? WHERE packet_id = ?", (status, packet_id))


def record_event(
    conn: sqlite3.Connection, packet_id: str, at: datetime, detail: dict[str, Any]
) -> None:
    """Add an event that does not change the status to the timeline."""
    (status,) = conn.execute(
        "SELECT status FROM packets WHERE packet_id = ?", (packet_id,)
    ).fetchone()
    conn.execute(
        "INSERT INTO timeline (packet_id, status, at, detail) VALUES (?, ?, ?, ?)",
        (packet_id, status, format_time(at), json.dumps(detail)),
    )


def timeline(conn: sqlite3.Connection, packet_id: str) -> list[dict[str, Any]]:
    """The timeline as ``GET /v1/packets/{id}`` shows it.

    Entries are ``{"status", "at"}``; an event also carries ``"event"``.
    """
    rows = conn.execute(
        "SELECT status, at, detail FROM timeline WHERE packet_id = ? ORDER BY seq", (packet_id,)
    ).fetchall()
    out: list[dict[str, Any]] = []
    for status, at, detail in rows:
        item: dict[str, Any] = {"status": status, "at": at}
        if detail is not None:
            item["event"] = json.loads(detail)
        out.append(item)
    return out
