"""Receipts as the gateway keeps them (SPEC §6): recorded, logged, listed, accepted.

The receipt itself — its bytes, signature and rules — is
``gateway.protocol.receipt``. A recipient's receipt is accepted only when it
is signed by a key of the packet's recipient valid now and names exactly what
was delivered (``receipt.check_against``), and only in a status that allows
it (``gateway.protocol.status``).

Every receipt the gateway issues or accepts is appended, as its exact JWS
bytes, to the receipt log (SPEC §7) in the same transaction that records it;
its log index is its place there and its cursor in ``GET /v1/receipts``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from gateway.protocol import status
from gateway.protocol.clock import format_time, parse_time
from gateway.protocol.crypto import jws
from gateway.protocol.crypto.digest import sha256_hex
from gateway.protocol.errors import (
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
)
from gateway.protocol.receipt import (
    FUTURE_SKEW_S,
    RECIPIENT_LEVELS,
    Delivered,
    check_against,
    verify_receipt,
)
from gateway.server import registry, timeline
from gateway.server.sql import Connection, serialize

MAX_PAGE = 1000  # items per page of GET /v1/receipts


def append(conn: Connection, compact: str, *, at: datetime) -> int:
    """Record a receipt and append it to the receipt log; its log index."""
    index = next_index(conn)
    record(conn, compact, index, at=at)
    return index


def next_index(conn: Connection) -> int:
    """The log index the next receipt of this transaction takes (:func:`record` it next).

    On PostgreSQL it holds the log's sequence lock until the transaction
    ends, so no other node takes the same index; inside
    ``gateway.server.sql.pipelined`` the lock and the read are one round trip.
    """
    serialize(conn, "log_entries")  # PostgreSQL: MAX + 1 under the sequence's lock
    (index,) = conn.execute("SELECT COALESCE(MAX(idx) + 1, 0) FROM log_entries").fetchone()
    return int(index)


@dataclass(frozen=True, slots=True)
class Unnumbered:
    """An accepted packet's receipt, inserted without its log index, waiting for it.

    Its packet row is in the same transaction already, its stored 202 body
    ``response`` ending in ``"log_index": `` (:func:`number_accepted` appends the
    index and the closing brace).
    """

    compact: str
    sha256: str
    packet_id: str
    level: str
    issuer: str
    appended_at: str  # RFC 3339, the receipt's time


# One statement: the next index, every receipt's log entry and row, and each
# packet's 202 body completed with its index (PostgreSQL: unnest, WITH ORDINALITY).
_NUMBER_ACCEPTED = """
WITH base AS (SELECT COALESCE(MAX(idx) + 1, 0) AS first FROM log_entries),
n AS (
    SELECT base.first + t.ord - 1 AS idx, t.compact, t.sha, t.packet_id, t.level, t.issuer,
           t.appended_at
    FROM base, unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[])
        WITH ORDINALITY AS t(compact, sha, packet_id, level, issuer, appended_at, ord)
),
e AS (
    INSERT INTO log_entries (idx, entry, appended_at)
    SELECT idx, convert_to(compact, 'UTF8'), appended_at FROM n
),
r AS (
    INSERT INTO receipts (receipt_sha256, packet_id, level, issuer, log_index, compact)
    SELECT sha, packet_id, level, issuer, idx, compact FROM n
),
p AS (
    UPDATE packets SET response = packets.response || n.idx::text || '}'
    FROM n WHERE packets.packet_id = n.packet_id
)
SELECT first FROM base
"""


def number_accepted(conn: Connection, items: list[Unnumbered]) -> Callable[[], list[int]]:
    """Give a write group's accepted receipts their log indices (PostgreSQL only).

    Sends, without waiting (the writer pipelines it with the group's COMMIT):
    the log's sequence lock, then one statement that numbers ``items`` from
    the log's next index in order, inserts their log entries and receipt
    rows, and completes their packets' stored 202 bodies. The lock is held
    to COMMIT, so indices are gapless and commit in order; everything is in
    the packets' own transaction, so a crash leaves neither a hole nor a
    receipt without its packet.

    Returns:
        A function that, once the pipeline has synced, gives each item's index.
    """
    serialize(conn, "log_entries")
    cur = conn.execute(
        _NUMBER_ACCEPTED,
        (
            [i.compact for i in items],
            [i.sha256 for i in items],
            [i.packet_id for i in items],
            [i.level for i in items],
            [i.issuer for i in items],
            [i.appended_at for i in items],
        ),
    )

    def indices() -> list[int]:
        (first,) = cur.fetchone()
        return [int(first) + k for k in range(len(items))]

    return indices


def record(conn: Connection, compact: str, index: int, *, at: datetime) -> None:
    """Record a receipt at log index ``index``, from :func:`next_index` in this transaction."""
    claims = json.loads(jws.parse(compact, typ=jws.TYP_RECEIPT).payload)
    conn.execute(
        "INSERT INTO log_entries (idx, entry, appended_at) VALUES (?, ?, ?)",
        (index, compact.encode("ascii"), format_time(at)),
    )
    conn.execute(
        "INSERT INTO receipts (receipt_sha256, packet_id, level, issuer, log_index, compact)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (
            sha256_hex(compact),
            claims["packet_id"],
            claims["level"],
            claims["issuer"],
            index,
            compact,
        ),
    )


def of_packet(conn: Connection, packet_id: str) -> list[str]:
    rows = conn.execute(
        "SELECT compact FROM receipts WHERE packet_id = ? ORDER BY log_index", (packet_id,)
    ).fetchall()
    return [r[0] for r in rows]


def page_for(
    conn: Connection, party: registry.Party, after: int, limit: int
) -> dict[str, Any]:
    """``GET /v1/receipts``: receipts on the caller's packets, in log order.

    The cursor is one past the last log index returned, so ``after=0`` starts
    at the beginning. Monitors see every receipt: they hold no personal data.
    """
    limit = max(1, min(limit, MAX_PAGE))
    if party.has_role("monitor"):
        rows = conn.execute(
            "SELECT compact, log_index FROM receipts WHERE log_index >= ?"
            " ORDER BY log_index LIMIT ?",
            (after, limit),
        ).fetchall()
    else:
        rows = conn.execute(
            "SELECT r.compact, r.log_index FROM receipts r JOIN packets p USING (packet_id)"
            " WHERE r.log_index >= ? AND (p.sender = ? OR p.recipient = ?)"
            " ORDER BY r.log_index LIMIT ?",
            (after, party.id, party.id, limit),
        ).fetchall()
    items = [{"receipt": c, "log_index": i} for c, i in rows]
    return {"items": items, "next": rows[-1][1] + 1 if rows else after}


def delivered(conn: Connection, packet_id: str) -> Delivered:
    """Raises: NotFound if there is no such packet."""
    row = conn.execute(
        "SELECT sender, recipient, status, envelope_sha256, extraction_sha256"
        " FROM packets WHERE packet_id = ?",
        (packet_id,),
    ).fetchone()
    if row is None:
        raise NotFound(f"no packet {packet_id}")
    parts = conn.execute(
        "SELECT part_name, sha256 FROM blobs WHERE packet_id = ? AND role = 'part'"
        " ORDER BY position",
        (packet_id,),
    ).fetchall()
    return Delivered(
        sender=row[0],
        recipient=row[1],
        status=row[2],
        envelope_sha256=row[3],
        parts=[{"name": n, "sha256": d} for n, d in parts],
        extraction_sha256=row[4],
    )


def accept_from_recipient(
    conn: Connection, caller: str, parsed: jws.ParsedJWS, claimed: str, at: datetime
) -> tuple[int, dict[str, Any]]:
    """Check and record a receipt a recipient sent (runs in a write transaction).

    Returns (201, {"log_index"}) the first time, (200, same) for the identical
    receipt again.

    Raises:
        Forbidden: the caller is not the receipt's issuer, or not the recipient.
        Unauthenticated: bad signature or key.
        Invalid, DigestMismatch: the receipt does not match the packet.
        NotFound: no such packet.
        Conflict: the packet's status does not allow this receipt now.
    """
    if claimed != caller:
        raise Forbidden("a party sends only receipts it issued itself")
    known = conn.execute(
        "SELECT log_index FROM receipts WHERE receipt_sha256 = ?", (sha256_hex(parsed.compact),)
    ).fetchone()
    if known is not None:
        return 200, {"log_index": known[0]}
    key = registry.signing_key(conn, caller, parsed.kid, at)
    receipt = verify_receipt(parsed, key)
    if receipt.level not in RECIPIENT_LEVELS:
        raise Invalid(f"a party issues only {sorted(RECIPIENT_LEVELS)} receipts")
    if parse_time(receipt.claims["issued_at"]) > at + timedelta(seconds=FUTURE_SKEW_S):
        raise Invalid("the receipt is issued in the future; check the recipient's clock")
    facts = delivered(conn, receipt.packet_id)
    if facts.recipient != caller:
        raise Forbidden("only a packet's recipient sends receipts on it")
    check_against(receipt, facts)
    if facts.status not in status.RECEIPT_FROM[receipt.level]:
        raise Conflict(f"a {receipt.level} receipt cannot follow status {facts.status}")
    index = append(conn, receipt.compact, at=at)
    timeline.record(conn, receipt.packet_id, receipt.level, at)
    return 201, {"log_index": index}
