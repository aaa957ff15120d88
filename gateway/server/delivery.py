"""Delivery (SPEC §5): inbox, sealed index and blobs, push notifications, expiry.

Only a packet's recipient reads its delivery, and only once it is READY.
Both the index and every blob leave the gateway as libsodium sealed boxes to
the recipient's current X25519 key, so they are opaque to anyone between.
The opened index carries the sender's envelope and the gateway's extraction
document verbatim, so the recipient verifies end to end without trusting us.

Push notifications are a hint, never the data: a JWS naming the packet,
POSTed to the recipient's registered endpoint, retried with exponential
backoff and full jitter until a 2xx or the packet's deadline. Every attempt
goes into the packet's timeline. The schedule lives in the database, so a
restart resumes it.

Past its deadline, a packet the recipient never fetched gets a gateway-signed
EXPIRED receipt.

Several nodes on one database share both queues through claims, so each
event is handled by one node, not by every node:

* A notification is claimed in a write (``FOR UPDATE SKIP LOCKED`` on
  PostgreSQL) by moving its ``notify_next_at`` past the attempt
  (:func:`notify_claim_s`): no other node finds it due meanwhile. The
  attempt's outcome then sets the real next time, but only if the claim is
  still the one this node made. A node that dies holding a claim leaves the
  notification due again once the claim runs out, and another node sends
  it: at-least-once, and once when no node dies.
* Expiry claims overdue packets and issues their EXPIRED receipts in the
  same transaction: the rows stay locked until it commits, a dead node's
  transaction is rolled back with its locks, and the status is re-read
  under them, so a packet gets one EXPIRED receipt.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import aiohttp

from gateway.protocol import status
from gateway.protocol.clock import format_time, now, parse_time
from gateway.protocol.crypto import jws
from gateway.protocol.crypto.seal import seal
from gateway.protocol.errors import Conflict, Forbidden, NotFound
from gateway.protocol.receipt import sign_receipt
from gateway.server import receipts, registry, timeline
from gateway.server.service import Gateway, idle
from gateway.server.sql import Connection, PgConnection

log = logging.getLogger(__name__)

SEALED_MEDIA_TYPE = "application/vnd.dxg.sealed"
MAX_PAGE = 1000  # inbox items per page
DELIVERABLE = frozenset({status.READY, status.DELIVERED, status.PROCESSED, status.REJECTED})
NOTIFY_CONCURRENCY = 16  # endpoints contacted at once; also what one node claims per round
NOTIFY_CLAIM_SLACK_S = 10.0  # beyond the attempt's timeout: recording it, a busy event loop
EXPIRE_BATCH = 100  # EXPIRED receipts signed in one write: bounds the write's duration


def inbox_page(conn: Connection, recipient: str, after: int, limit: int) -> dict[str, Any]:
    """Packets addressed to ``recipient`` in the order they became READY."""
    limit = max(1, min(limit, MAX_PAGE))
    rows = conn.execute(
        "SELECT packet_id, sender, kind, created, ready_at, status, ready_seq FROM packets"
        " WHERE recipient = ? AND ready_seq > ? ORDER BY ready_seq LIMIT ?",
        (recipient, after, limit),
    ).fetchall()
    items = [
        {
            "packet_id": r[0],
            "sender": r[1],
            "kind": r[2],
            "created": r[3],
            "ready_at": r[4],
            "status": r[5],
        }
        for r in rows
    ]
    return {"items": items, "next": rows[-1][6] if rows else after}


def _deliverable(conn: Connection, packet_id: str, caller: str) -> tuple[Any, ...]:
    row = conn.execute(
        "SELECT sender, recipient, status, envelope, extraction FROM packets WHERE packet_id = ?",
        (packet_id,),
    ).fetchone()
    if row is None:
        raise NotFound(f"no packet {packet_id}")
    if row[1] != caller:
        raise Forbidden(f"only the recipient of {packet_id} reads its delivery")
    if row[2] not in DELIVERABLE:
        raise Conflict(f"packet {packet_id} is {row[2]}, not ready for delivery")
    return tuple(row)


def _index(conn: Connection, packet_id: str, caller: str) -> tuple[bytes, Any]:
    sender, recipient, _, envelope, extraction = _deliverable(conn, packet_id, caller)
    blobs = conn.execute(
        "SELECT sha256, media_type, size, role FROM blobs WHERE packet_id = ?"
        " ORDER BY role = 'photo', position",
        (packet_id,),
    ).fetchall()
    index = {
        "v": 1,
        "packet_id": packet_id,
        "sender": sender,
        "recipient": recipient,
        "envelope": envelope,
        "extraction": extraction,
        "blobs": [{"sha256": b[0], "media_type": b[1], "size": b[2], "role": b[3]} for b in blobs],
    }
    key = registry.encryption_key(conn, recipient, now())
    return json.dumps(index, separators=(",", ":")).encode("utf-8"), key


async def sealed_index(gw: Gateway, caller: str, packet_id: str) -> bytes:
    """``GET /v1/deliveries/{id}``: the index, sealed to the recipient.

    Raises:
        NotFound, Forbidden, Conflict: no packet, not the recipient, not READY.
    """
    plain, key = await gw.db.read(lambda c: _index(c, packet_id, caller))

    def first_fetch(conn: Connection) -> None:
        conn.execute(
            "UPDATE packets SET fetched_at = COALESCE(fetched_at, ?) WHERE packet_id = ?",
            (format_time(now()), packet_id),
        )

    await gw.db.write(first_fetch)
    return await asyncio.get_running_loop().run_in_executor(gw.io_pool, seal, plain, key)


async def sealed_blob(gw: Gateway, caller: str, packet_id: str, sha256: str) -> bytes:
    """``GET /v1/deliveries/{id}/blobs/{sha256}``: one part or photo, sealed.

    Raises:
        NotFound, Forbidden, Conflict: as :func:`sealed_index`, or no such blob.
    """

    def find(conn: Connection) -> tuple[str, str, bytes | None, Any]:
        _deliverable(conn, packet_id, caller)
        row = conn.execute(
            "SELECT k.blob_dir, b.name, b.inline FROM blobs b JOIN packets k USING (packet_id)"
            " WHERE b.packet_id = ? AND b.sha256 = ? LIMIT 1",
            (packet_id, sha256),
        ).fetchone()
        if row is None:
            raise NotFound(f"packet {packet_id} has no blob {sha256}")
        return row[0], row[1], row[2], registry.encryption_key(conn, caller, now())

    directory, name, inline, key = await gw.db.read(find)

    def read_and_seal() -> bytes:
        return seal(gw.blobs.read_all(directory, packet_id, name, inline), key)

    return await asyncio.get_running_loop().run_in_executor(gw.io_pool, read_and_seal)


def backoff_s(attempt: int, *, base: float, cap: float) -> float:
    """Full-jitter exponential backoff: uniform in [0, min(cap, base·2^attempt)]."""
    return random.uniform(0, min(cap, base * 2 ** min(attempt, 32)))  # noqa: S311 - jitter, not a secret


class Notifier:
    """Pushes READY notifications to recipients that registered an endpoint."""

    def __init__(self, gw: Gateway) -> None:
        self.gw = gw
        self._wakeup = gw.wakeup(gw.NOTIFY)

    async def run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self.gw.config.notify_timeout_s)
        hold_s = notify_claim_s(self.gw.config.notify_timeout_s)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                claim = partial(claim_notifications, at=now(), hold_s=hold_s,
                                limit=NOTIFY_CONCURRENCY)  # fmt: skip
                claimed = await self.gw.db.write(claim)
                if claimed:
                    await asyncio.gather(*(self._attempt(session, *item) for item in claimed))
                    continue  # more may be due: claim again before sleeping
                wait = await self.gw.db.read(_seconds_to_next)
                await idle(self._wakeup, wait)

    async def _attempt(
        self,
        session: aiohttp.ClientSession,
        packet_id: str,
        sender: str,
        recipient: str,
        endpoint: str,
        attempts: str,
        deadline: str,
        claim: str,
    ) -> None:
        gw = self.gw
        claims = {
            "packet_id": packet_id,
            "sender": sender,
            "recipient": recipient,
            "issued_at": format_time(now()),
        }
        token = jws.sign_json(claims, gw.signing_key, typ=jws.TYP_NOTIFY)
        try:
            async with session.post(
                endpoint, data=token, headers={"Content-Type": "application/jose"}
            ) as response:
                outcome = f"HTTP {response.status}"
                ok = 200 <= response.status < 300
        except (aiohttp.ClientError, TimeoutError) as exc:
            outcome, ok = type(exc).__name__, False
        attempt = int(attempts) + 1
        at = now()
        if ok:
            next_at = None
        else:
            delay = backoff_s(
                attempt, base=gw.config.notify_backoff_base_s, cap=gw.config.notify_backoff_max_s
            )
            candidate = at + timedelta(seconds=delay)
            next_at = None if candidate > parse_time(deadline) else format_time(candidate)
        detail = {"notification": {"attempt": attempt, "outcome": outcome, "delivered": ok}}

        def record(conn: Connection) -> None:
            # The packet may have been fetched, answered or expired during the attempt.
            still_ready = timeline.current(conn, packet_id) == status.READY
            conn.execute(
                "UPDATE packets SET notify_attempts = ?, notify_next_at = ?, notify_done = ?"
                " WHERE packet_id = ? AND notify_next_at = ?",  # still this node's claim
                (attempt, next_at if still_ready else None, int(ok), packet_id, claim),
            )
            timeline.record_event(conn, packet_id, at, detail)

        await gw.db.write(record)


_DUE = (
    "SELECT k.packet_id, k.sender, k.recipient, p.endpoint, k.notify_attempts, k.deadline"
    " FROM packets k JOIN parties p ON p.id = k.recipient"
    " WHERE k.notify_next_at IS NOT NULL AND k.notify_next_at <= ? AND k.notify_done = 0"
    " AND k.status = 'READY' AND p.endpoint IS NOT NULL ORDER BY k.notify_next_at LIMIT ?"
)
_OVERDUE = (
    "SELECT packet_id FROM packets WHERE deadline < ? AND fetched_at IS NULL"
    " AND status IN ('ACCEPTED', 'EXTRACTING', 'READY') ORDER BY deadline LIMIT ?"
)


def notify_claim_s(notify_timeout_s: float) -> float:
    """How long a claimed notification stays this node's: its attempt, then some slack."""
    return notify_timeout_s + NOTIFY_CLAIM_SLACK_S


def claim_notifications(
    conn: Connection, *, at: datetime, hold_s: float, limit: int
) -> list[tuple[str, ...]]:
    """Claim up to ``limit`` due notifications for this node, in a write.

    The claim is the packet's ``notify_next_at`` moved ``hold_s`` ahead: no
    node (this one included) finds it due until then. Rows another node is
    claiming at this moment are skipped, not waited for (PostgreSQL's
    ``FOR UPDATE SKIP LOCKED``).

    Returns:
        (packet_id, sender, recipient, endpoint, attempts, deadline, claim)
        per notification, ``claim`` being the ``notify_next_at`` it now holds.
    """
    sql = _DUE + (" FOR UPDATE OF k SKIP LOCKED" if isinstance(conn, PgConnection) else "")
    rows = conn.execute(sql, (format_time(at), limit)).fetchall()
    claim = format_time(at + timedelta(seconds=hold_s))
    conn.executemany(
        "UPDATE packets SET notify_next_at = ? WHERE packet_id = ?",
        [(claim, r[0]) for r in rows],
    )
    return [(*(str(v) for v in r), claim) for r in rows]


def _seconds_to_next(conn: Connection) -> float:
    row = conn.execute(
        "SELECT MIN(notify_next_at) FROM packets WHERE notify_next_at IS NOT NULL"
        " AND notify_done = 0"
    ).fetchone()
    if row[0] is None:
        return 60.0
    return max(0.05, min(60.0, (parse_time(row[0]) - now()).total_seconds()))


class Expirer:
    """Issues EXPIRED receipts for packets never fetched before their deadline."""

    def __init__(self, gw: Gateway) -> None:
        self.gw = gw

    async def run(self) -> None:
        while True:
            await self.sweep()
            await asyncio.sleep(self.gw.config.sweep_interval_s)

    async def sweep(self) -> int:
        """Expire every overdue packet, a batch per write; how many were expired."""
        gw = self.gw
        at = now()
        expired = 0
        while True:
            found, done = await gw.db.write(
                lambda c: expire_overdue(c, gw, at=at, limit=EXPIRE_BATCH)
            )
            expired += done
            if found < EXPIRE_BATCH or done == 0:
                return expired


def expire_overdue(conn: Connection, gw: Gateway, *, at: datetime, limit: int) -> tuple[int, int]:
    """Claim up to ``limit`` overdue packets and expire them, in this write.

    The rows stay locked (PostgreSQL: ``FOR UPDATE SKIP LOCKED``, so another
    node's sweep takes other rows) until the receipts commit with them.

    Returns:
        (packets found overdue, packets expired now).
    """
    sql = _OVERDUE + (" FOR UPDATE SKIP LOCKED" if isinstance(conn, PgConnection) else "")
    rows = conn.execute(sql, (format_time(at), limit)).fetchall()
    return len(rows), sum(_expire(conn, gw, row[0], at) for row in rows)


def _expire(conn: Connection, gw: Gateway, packet_id: str, at: datetime) -> bool:
    facts = receipts.delivered(conn, packet_id)
    if facts.status not in status.RECEIPT_FROM[status.EXPIRED]:
        return False  # fetched or answered meanwhile
    receipt = sign_receipt(
        gw.signing_key,
        level=status.EXPIRED,
        packet_id=packet_id,
        issuer=gw.config.id,
        sender=facts.sender,
        recipient=facts.recipient,
        envelope_sha256=facts.envelope_sha256,
        parts=[(p["name"], p["sha256"]) for p in facts.parts],
        extraction_sha256=facts.extraction_sha256,
        reason="not fetched before the delivery deadline",
        at=at,
    )
    receipts.append(conn, receipt, at=at)
    conn.execute("UPDATE packets SET notify_next_at = NULL WHERE packet_id = ?", (packet_id,))
    timeline.record(conn, packet_id, status.EXPIRED, at)
    return True
