"""A packet's timeline as the gateway keeps it (SPEC §3).

The timeline records every status change with its time, and events that do
not change the status (push notification attempts) with a ``detail`` that
holds ids, counts and outcomes only, never personal data. The rules of which
status may follow which are ``gateway.protocol.status``.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from gateway.protocol import status as rules
from gateway.protocol.clock import format_time
from gateway.server.sql import Connection


def start(conn: Connection, packet_id: str, at: datetime) -> None:
    """Begin a new packet's timeline with ACCEPTED (its row says ACCEPTED already)."""
    conn.execute(
        "INSERT INTO timeline (packet_id, status, at) VALUES (?, ?, ?)",
        (packet_id, rules.ACCEPTED, format_time(at)),
    )


def current(conn: Connection, packet_id: str) -> str | None:
    """A packet's status, or None if there is no such packet."""
    row = conn.execute("SELECT status FROM packets WHERE packet_id = ?", (packet_id,)).fetchone()
    return None if row is None else str(row[0])


def record(
    conn: Connection, packet_id: str, status: str, at: datetime, *, was: str | None = None
) -> None:
    """Move a packet to ``status`` and add it to the timeline.

    ``was`` is the packet's status as the caller read it in this same
    transaction, to spare reading it again; None reads it here.

    This is the only place a packet's status changes, but one: on
    PostgreSQL the extraction worker's claim moves the packets it claims
    from ACCEPTED to EXTRACTING, with this timeline step, in the statement
    that claims them (``gateway.server.extraction``).

    Raises:
        Conflict: ``status`` may not follow the packet's current status.
    """
    rules.check((was or current(conn, packet_id)) or "", status, packet_id=packet_id)
    conn.execute(
        "INSERT INTO timeline (packet_id, status, at) VALUES (?, ?, ?)",
        (packet_id, status, format_time(at)),
    )
    conn.execute("UPDATE packets SET status = ? WHERE packet_id = ?", (status, packet_id))
    if status != rules.READY:
        # Notifications say "ready to fetch": they stop once it is fetched,
        # answered or expired.
        conn.execute("UPDATE packets SET notify_next_at = NULL WHERE packet_id = ?", (packet_id,))


def record_event(
    conn: Connection, packet_id: str, at: datetime, detail: dict[str, Any]
) -> None:
    """Add an event that does not change the status to the timeline."""
    (status,) = conn.execute(
        "SELECT status FROM packets WHERE packet_id = ?", (packet_id,)
    ).fetchone()
    conn.execute(
        "INSERT INTO timeline (packet_id, status, at, detail) VALUES (?, ?, ?, ?)",
        (packet_id, status, format_time(at), json.dumps(detail)),
    )


def timeline(conn: Connection, packet_id: str) -> list[dict[str, Any]]:
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
