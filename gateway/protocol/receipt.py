"""Receipts (SPEC §6): signed statements of what happened to a packet.

The gateway issues ACCEPTED (at intake) and EXPIRED (past the deadline); the
recipient issues DELIVERED, REJECTED and PROCESSED. One function makes a
receipt's bytes (:func:`issue`), one verifies them (:func:`verify`, on the
bytes received, then the schema). A recipient's receipt names exactly what
was delivered — the envelope's SHA-256, every part's name and SHA-256 in
manifest order, and the extraction document's SHA-256 —
:func:`check_against` is that rule, for the gateway and for anyone auditing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gateway.protocol import jsontext
from gateway.protocol.clock import format_time, now, parse_time
from gateway.protocol.crypto import jws
from gateway.protocol.crypto.keys import PublicKey, SigningKey
from gateway.protocol.errors import DigestMismatch, Invalid, Unauthenticated
from gateway.protocol.schemas import RECEIPT_V1, validate

LEVELS = ("ACCEPTED", "DELIVERED", "REJECTED", "PROCESSED", "EXPIRED")
RECIPIENT_LEVELS = frozenset({"DELIVERED", "REJECTED", "PROCESSED"})
FUTURE_SKEW_S = 60  # a receipt's issued_at may run ahead of our clock this much


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


def sign_receipt(
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
        issuer = jsontext.loads(parsed.payload).get("issuer")
    except (ValueError, UnicodeDecodeError, AttributeError):
        issuer = None
    if not isinstance(issuer, str):
        raise Unauthenticated("the receipt names no issuer")
    return parsed, issuer


def verify_receipt(parsed: jws.ParsedJWS, key: PublicKey) -> Receipt:
    """Verify a receipt's signature, then its schema.

    Raises:
        Unauthenticated: bad signature.
        Invalid: the verified payload breaks ``schemas/receipt.v1.json``.
    """
    payload = jws.verify(parsed, key).payload
    try:
        claims = jsontext.loads(payload)
    except ValueError as exc:
        raise Invalid("the receipt is not JSON") from exc
    validate(RECEIPT_V1, claims, what="the receipt")
    try:
        parse_time(claims["issued_at"])
    except ValueError as exc:  # the schema's pattern admits 30 February
        raise Invalid("the receipt's issued_at is not a real date and time") from exc
    return Receipt(compact=parsed.compact, claims=claims)


@dataclass(frozen=True, slots=True)
class Delivered:
    """What the gateway delivered for a packet: what a receipt must name."""

    sender: str
    recipient: str
    status: str
    envelope_sha256: str
    parts: list[dict[str, str]]
    extraction_sha256: str | None


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
