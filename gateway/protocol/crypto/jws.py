"""JWS compact serialization with Ed25519, the only signature DXG knows.

One function makes the bytes that get signed (:func:`sign`), one verifies
them (:func:`verify`). Verification works on the bytes received: the payload
handed back is exactly the signed octets, never a re-serialised object.

The ``typ`` header separates tokens, packets, receipts, extraction
documents, notifications and case events (SPEC §2–§6, §10), so that none can be replayed as
another: :func:`parse` refuses a token whose ``typ`` is not the one expected.
``alg`` must be ``Ed25519`` (RFC 9864) or ``EdDSA`` (RFC 8037); everything
else, ``none`` first of all, is refused before any key is looked at.
"""

from __future__ import annotations

import binascii
import json
from dataclasses import dataclass
from typing import Any

from gateway.protocol.crypto.keys import PublicKey, SigningKey, b64url, b64url_decode
from gateway.protocol.errors import Unauthenticated

ALGORITHMS = frozenset({"Ed25519", "EdDSA"})
SIGNATURE_BYTES = 64
# Bounds what a hostile caller can make us parse before anything is verified.
MAX_COMPACT_LENGTH = 1 << 20  # 1 MiB: a manifest of 64 parts is a few KiB
MAX_HEADER_LENGTH = 4096

TYP_AUTH = "dxg-auth+jwt"
TYP_PACKET = "dxg-packet+jws"
TYP_RECEIPT = "dxg-receipt+jws"
TYP_EXTRACTION = "dxg-extraction+jws"
TYP_NOTIFY = "dxg-notify+jws"
TYP_CASE = "dxg-case+jws"


@dataclass(frozen=True, slots=True)
class ParsedJWS:
    """A JWS split into its parts, its signature not yet checked."""

    compact: str
    header: dict[str, Any]
    kid: str
    payload: bytes
    signature: bytes

    @property
    def signing_input(self) -> bytes:
        head, body, _ = self.compact.split(".")
        return f"{head}.{body}".encode("ascii")


@dataclass(frozen=True, slots=True)
class Verified:
    """What a valid signature proves: these exact payload bytes, by this key."""

    header: dict[str, Any]
    payload: bytes
    key: PublicKey

    def json(self) -> Any:
        """The payload parsed as JSON (it was verified as bytes first)."""
        return json.loads(self.payload)


def sign(payload: bytes, key: SigningKey, *, typ: str) -> str:
    """Sign ``payload`` as a JWS compact serialization with ``alg`` Ed25519."""
    header = {"alg": "Ed25519", "kid": key.kid, "typ": typ}
    head = b64url(json.dumps(header, separators=(",", ":")).encode("ascii"))
    body = b64url(payload)
    signing_input = f"{head}.{body}".encode("ascii")
    return f"{head}.{body}.{b64url(key.sign(signing_input))}"


def sign_json(claims: dict[str, Any], key: SigningKey, *, typ: str) -> str:
    """Serialise ``claims`` compactly and sign those bytes."""
    payload = json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return sign(payload, key, typ=typ)


def parse(compact: str | bytes, *, typ: str) -> ParsedJWS:
    """Split a compact JWS and check its header, without verifying.

    Raises:
        Unauthenticated: malformed, an algorithm other than Ed25519/EdDSA,
            critical extensions, or a ``typ`` other than ``typ``.
    """
    if isinstance(compact, bytes):
        try:
            compact = compact.decode("ascii")
        except UnicodeDecodeError as exc:
            raise Unauthenticated("a JWS compact serialization is ASCII") from exc
    compact = compact.strip()
    if len(compact) > MAX_COMPACT_LENGTH:
        raise Unauthenticated("the JWS is longer than this gateway accepts")
    pieces = compact.split(".")
    if len(pieces) != 3:
        raise Unauthenticated("a JWS compact serialization has exactly three parts")
    head, body, sig = pieces
    if len(head) > MAX_HEADER_LENGTH:
        raise Unauthenticated("the JWS protected header is too long")
    try:
        header = json.loads(b64url_decode(head))
        payload = b64url_decode(body)
        signature = b64url_decode(sig)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise Unauthenticated("the JWS is not valid base64url JSON") from exc
    if not isinstance(header, dict):
        raise Unauthenticated("the JWS protected header is not a JSON object")
    alg = header.get("alg")
    if alg not in ALGORITHMS:
        raise Unauthenticated(f"alg {alg!r} is not accepted; use Ed25519 (or EdDSA)")
    if "crit" in header or header.get("b64", True) is not True:
        raise Unauthenticated("JWS critical extensions are not supported")
    if header.get("typ") != typ:
        raise Unauthenticated(f"expected a JWS of typ {typ!r}, got {header.get('typ')!r}")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise Unauthenticated("the JWS header names no kid")
    if len(signature) != SIGNATURE_BYTES:
        raise Unauthenticated("an Ed25519 signature has 64 bytes")
    return ParsedJWS(compact=compact, header=header, kid=kid, payload=payload, signature=signature)


def verify(parsed: ParsedJWS, key: PublicKey) -> Verified:
    """Check the signature of ``parsed`` with ``key``.

    Raises:
        Unauthenticated: the key is not the header's kid, or the signature fails.
    """
    if key.kid != parsed.kid:
        raise Unauthenticated("the JWS kid does not name the key it is checked with")
    key.check_signature(parsed.signing_input, parsed.signature)
    return Verified(header=parsed.header, payload=parsed.payload, key=key)
