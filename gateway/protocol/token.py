"""Request tokens (SPEC §2): every ``/v1`` call is signed by its caller.

A token is a self-issued JWS (``typ`` ``dxg-auth+jwt``) bound to one
request: its method (``htm``) and its path with query (``htu``), for one
audience (the gateway id), for at most five minutes, and once only (``jti``).

Verification order, each step failing with 401 before the next one runs:
parse and header (alg, typ), the issuer's key by kid, the signature, then the
claims: audience, time window with 60 s skew, ``htm``/``htu``, and last the
replay check, so that a forged token can never burn a legitimate ``jti``.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from gateway.protocol import jsontext
from gateway.protocol.clock import now
from gateway.protocol.crypto import jws
from gateway.protocol.crypto.keys import PublicKey, SigningKey, b64url
from gateway.protocol.errors import Unauthenticated

MAX_LIFETIME_S = 300  # SPEC §2: exp - iat <= 300
CLOCK_SKEW_S = 60  # SPEC §2: accepted from iat - 60 s to exp + 60 s
JTI_MIN_BYTES = 16  # SPEC §2: at least 16 random bytes
# Any encoding may carry them; 22 characters is 16 bytes in base64url, the
# densest text a JOSE library writes, so a shorter jti cannot hold enough.
JTI_MIN_CHARS = 22
JTI_MAX_CHARS = 256  # the replay cache stores it
DEFAULT_LIFETIME_S = 120
REPLAYED = "the token was already used (replay)"  # the one detail of every replay refusal


@dataclass(frozen=True, slots=True)
class TokenClaims:
    iss: str
    aud: str
    iat: int
    exp: int
    jti: str
    htm: str
    htu: str


def sign_token(
    key: SigningKey,
    *,
    issuer: str,
    audience: str,
    method: str,
    path_qs: str,
    lifetime_s: int = DEFAULT_LIFETIME_S,
    at: datetime | None = None,
) -> str:
    """A fresh token for one request, as a party's client makes it."""
    iat = int((at or now()).timestamp())
    claims = {
        "iss": issuer,
        "aud": audience,
        "iat": iat,
        "exp": iat + lifetime_s,
        "jti": b64url(secrets.token_bytes(JTI_MIN_BYTES)),
        "htm": method.upper(),
        "htu": path_qs,
    }
    return jws.sign_json(claims, key, typ=jws.TYP_AUTH)


KeyResolver = Callable[[str, str, datetime], Awaitable[PublicKey]]
"""(issuer, kid, at) -> the issuer's valid ``sig`` key; raises Unauthenticated."""
ReplayGuard = Callable[[str, str, int], Awaitable[bool]]
"""(issuer, jti, expires_at) -> True the first time, False for a replay."""


def _claims(payload: bytes) -> TokenClaims:
    try:
        raw = jsontext.loads(payload)
    except ValueError as exc:
        raise Unauthenticated("the token's claims are not JSON") from exc
    if not isinstance(raw, dict):
        raise Unauthenticated("the token's claims are not a JSON object")
    strings = ("iss", "aud", "jti", "htm", "htu")
    if not all(isinstance(raw.get(k), str) for k in strings):
        raise Unauthenticated("a token needs string claims iss, aud, jti, htm and htu")
    ints = ("iat", "exp")
    if not all(type(raw.get(k)) is int for k in ints):
        raise Unauthenticated("a token needs integer claims iat and exp")
    return TokenClaims(**{k: raw[k] for k in strings + ints})


async def verify_token(
    token: str,
    *,
    audience: str,
    method: str,
    path_qs: str,
    resolve_key: KeyResolver,
    remember_jti: ReplayGuard,
    at: datetime | None = None,
) -> TokenClaims:
    """Authenticate one request.

    Raises:
        Unauthenticated: for every failure of SPEC §2, with the reason.
    """
    moment = at or now()
    parsed = jws.parse(token, typ=jws.TYP_AUTH)
    # The issuer is read before the signature is checked only to find the key;
    # nothing else in the claims is trusted until verify() has passed.
    unverified = _claims(parsed.payload)
    key = await resolve_key(unverified.iss, parsed.kid, moment)
    claims = _claims(jws.verify(parsed, key).payload)
    if claims.aud != audience:
        raise Unauthenticated("the token is for another audience")
    if claims.exp - claims.iat > MAX_LIFETIME_S or claims.exp < claims.iat:
        raise Unauthenticated(f"a token lives at most {MAX_LIFETIME_S} s")
    t = int(moment.timestamp())
    if t < claims.iat - CLOCK_SKEW_S:
        raise Unauthenticated("the token is issued in the future; check the caller's clock")
    if t > claims.exp + CLOCK_SKEW_S:
        raise Unauthenticated("the token has expired")
    if claims.htm != method.upper() or claims.htu != path_qs:
        raise Unauthenticated("the token is bound to another request (htm/htu)")
    if not JTI_MIN_CHARS <= len(claims.jti) <= JTI_MAX_CHARS:
        raise Unauthenticated(f"a jti carries at least {JTI_MIN_BYTES} random bytes")
    if not await remember_jti(claims.iss, claims.jti, claims.exp + CLOCK_SKEW_S):
        raise Unauthenticated(REPLAYED)
    return claims
