"""Receipts (SPEC §6): signed statements of what happened to a packet.

The gateway issues ACCEPTED (at intake) and EXPIRED (past the deadline); the
recipient issues DELIVERED, REJECTED and PROCESSED. A recipient's receipt is
accepted only when it is signed by a valid key of the packet's recipient and
names exactly what was delivered: the envelope's SHA-256, every part's name
and SHA-256 in manifest order, and the extraction document's SHA-256.

Every receipt the gateway issues or accepts is appended, as its exact JWS
bytes, to the receipt log (SPEC §7) in the same transaction that records it;
its log index is its place there and its cursor in ``GET /v1/receipts``.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from gateway import registry, status
from gateway.clock import format_time, now, parse_time
from gateway.crypto import jws
from gateway.crypto.digest import sha256_hex
from gateway.crypto.keys import PublicKey, SigningKey
from gateway.errors import (
    Conflict,
    DigestMismatch,
    Forbidden,
    Invalid,
    NotFound,
    Unauthenticated,
)
from gateway.schemas import RECEIPT_V1, validate

LEVELS = ("ACCEPTED", "DELIVERED", "REJECTED", "PROCESSED", "EXPIRED")
RECIPIENT_LEVELS = frozenset({"DELIVERED", "REJECTED", "PROCESSED"})
FUTURE_SKEW_S = 60  # a receipt's issued_at may run ahead of our clock this much
MAX_PAGE = 1000  # items per page of GET /v1/receipts


class ReceiptClaims:
    """Typed access to the claims of a receipt that has been verified."""

    __slots__ = ()
    claims: dict[str, Any]

    @property
    def level(self) -> str:
        return str(self.claims["level"])

    @property
    def packet_id(self) -> str:
        return str(self.claims["packet_id"])

    @property
    def issuer(self) -> str:
        return str(self.claims["issuer"])

    @property
    def issued_at(self) -> datetime:
        return parse_time(str(self.claims["issued_at"]))


@dataclass(frozen=True, slots=True)
class Receipt(ReceiptClaims):
    """A receipt whose signature has been verified."""

    compact: str
    claims: dict[str, Any]


def issue(
    key: SigningKey,
    *,
    level: str,
    packet_id: str,
    issuer: str,
    sender: str,
    recipient: str,
    envelope_sha256: str,
    parts: Sequence[tuple[str, str]],
    extraction_sha256: str | None,
    reason: str | None,
    at: datetime | None = None,
) -> str:
    """Sign a receipt; the gateway and the parties' clients both use this."""
    claims = {
        "v": 1,
        "receipt_id": str(uuid.uuid4()),
        "level": level,
        "packet_id": packet_id,
        "issuer": issuer,
        "sender": sender,
        "recipient": recipient,
        "issued_at": format_time(at or now()),
        "envelope_sha256": envelope_sha256,
        "parts": [{"name": n, "sha256": d} for n, d in parts],
        "extraction_sha256": extraction_sha256,
        "reason": reason,
    }
    return jws.sign_json(claims, key, typ=jws.TYP_RECEIPT)


def claimed_issuer(compact: str | bytes) -> tuple[jws.ParsedJWS, str]:
    """Parse a receipt and read who claims to have issued it (not yet verified).

    Raises:
        Unauthenticated: malformed, wrong typ or alg, or no issuer claim.
    """
    parsed = jws.parse(compact, typ=jws.TYP_RECEIPT)
    try:
        issuer = json.loads(parsed.payload).get("issuer")
    except (ValueError, UnicodeDecodeError, AttributeError):
        issuer = None
    if not isinstance(issuer, str):
        raise Unauthenticated("the receipt names no issuer")
    return parsed, issuer


def verify(parsed: jws.ParsedJWS, key: PublicKey) -> Receipt:
    """Verify a receipt's signature, then its schema.

    Raises:
        Unauthenticated: bad signature.
        Invalid: the verified payload breaks ``schemas/receipt.v1.json``.
    """
    payload = jws.verify(parsed, key).payload
    try:
        claims = json.loads(payload)
    except ValueError as exc:
        raise Invalid("the receipt is not JSON") from exc
    validate(RECEIPT_V1, claims, what="the receipt")
    try:
        parse_time(claims["issued_at"])
    except ValueError as exc:  # the schema's pattern admits 30 February
        raise Invalid("the receipt's issued_at is not a real date and time") from exc
    return Receipt(compact=parsed.compact, claims=claims)


def append(conn: sqlite3.Connection, compact: str, *, at: datetime) -> int:
    """Record a receipt and append it to the receipt log; its log index."""
    claims = json.loads(jws.parse(compact, typ=jws.TYP_RECEIPT).payload)
    (index,) = conn.execute("SELECT COALESCE(MAX(idx) + 1, 0) FROM log_entries").fetchone()
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
    return int(index)


def of_packet(conn: sqlite3.Connection, packet_id: str) -> list[str]:
    rows = conn.execute(
        "SELECT compact FROM receipts WHERE packet_id = ? ORDER BY log_index", (packet_id,)
    ).fetchall()
    return [r[0] for r in rows]


def page_for(
    conn: sqlite3.Connection, party: registry.Party, after: int, limit: int
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


@dataclass(frozen=True, slots=True)
class Delivered:
    """What the gateway delivered for a packet: what a receipt must name."""

    sender: str
    recipient: str
    status: str
    envelope_sha256: str
    parts: list[dict[str, str]]
    extraction_sha256: str | None


def delivered(conn: sqlite3.Connection, packet_id: str) -> Delivered:
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


def check_against(receipt: Receipt, facts: Delivered) -> None:
    """A recipient's receipt must name exactly what was delivered.

    Raises:
        Invalid: wrong parties or a missing reason on REJECTED.
        DigestMismatch: any digest differs from what was delivered.
    """
    c = receipt.claims
    if c["sender"] != facts.sender or c["recipient"] != facts.recipient:
        raise Invalid("the receipt names other parties than the packet's")
    if c["envelope_sha256"] != facts.envelope_sha256:
        raise DigestMismatch("the receipt's envelope_sha256 is not the delivered envelope's")
    if c["parts"] != facts.parts:
        raise DigestMismatch("the receipt's parts are not the delivered parts")
    extraction = c["extraction_sha256"]
    rejected = receipt.level == "REJECTED"
    if extraction != facts.extraction_sha256 and not (rejected and extraction is None):
        raise DigestMismatch("the receipt's extraction_sha256 is not the delivered document's")
    if rejected and not c["reason"]:
        raise Invalid("a REJECTED receipt gives its reason")


def accept_from_recipient(
    conn: sqlite3.Connection, caller: str, parsed: jws.ParsedJWS, claimed: str, at: datetime
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
    receipt = verify(parsed, key)
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
    status.record(conn, receipt.packet_id, receipt.level, at)
    return 201, {"log_index": index}
