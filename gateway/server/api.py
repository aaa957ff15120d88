"""HTTP handlers of the ``/v1`` API (SPEC §2–§8).

Handlers are thin: they read the request, call the domain modules and shape
the answer. They raise :class:`gateway.protocol.errors.DXGError`; the error
middleware in ``gateway.server.app`` renders it. Authentication has already run
(``gateway.server.app``'s auth middleware) for every route here but
``GET /v1/gateway``: the caller's :class:`registry.Party` is ``request[CALLER]``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from gateway.protocol.clock import now
from gateway.protocol.crypto.jws import MAX_COMPACT_LENGTH
from gateway.protocol.errors import (
    BadRequest,
    Forbidden,
    InsufficientStorage,
    RateLimited,
    TimedOut,
    TooLarge,
    UnsupportedMediaType,
)
from gateway.protocol.receipt import claimed_issuer
from gateway.server import apidoc, delivery, receipts, registry
from gateway.server import intake as packets
from gateway.server.service import Gateway
from gateway.server.sql import Connection

GATEWAY: web.AppKey[Gateway] = web.AppKey("gateway", Gateway)
UPLOADS: web.AppKey[dict[str, int]] = web.AppKey("uploads", dict)  # party -> uploads now
CALLER = "dxg.caller"
PENDING_CLAIM = "dxg.pending_jti"  # an upload's jti, for intake to claim with its packet
READ_CHUNK = 256 * 1024  # bytes read from the socket at a time while streaming a part
MAX_RECEIPT_BYTES = 64 * 1024  # a receipt lists ≤ 64 parts: a few KiB

routes = web.RouteTableDef()

# -- answers' shapes (docs/openapi.json is generated from these and the routes) --

_JWK: apidoc.Schema = {
    "type": "object",
    "required": ["kty", "crv", "x", "kid", "use"],
    "properties": {
        "kty": {"const": "OKP"},
        "crv": {"enum": ["Ed25519", "X25519"]},
        "x": {"type": "string"},
        "kid": {"type": "string"},
        "use": {"enum": ["sig", "enc"]},
    },
}
_NULLABLE_TIME: apidoc.Schema = {"oneOf": [apidoc.TIME, {"type": "null"}]}
_GATEWAY_INFO: apidoc.Schema = {
    "type": "object",
    "required": ["id", "origin", "keys"],
    "properties": {
        "id": apidoc.PARTY_ID,
        "origin": {"type": "string"},
        "keys": {"type": "array", "items": _JWK},
    },
}
_PARTY_INFO: apidoc.Schema = {
    "type": "object",
    "required": ["id", "roles", "keys"],
    "properties": {
        "id": apidoc.PARTY_ID,
        "roles": {"type": "array", "items": {"enum": ["party", "monitor"]}},
        "keys": {
            "type": "array",
            "items": {
                "allOf": [_JWK],
                "required": ["not_before", "not_after", "revoked_at"],
                "properties": {
                    "not_before": _NULLABLE_TIME,
                    "not_after": _NULLABLE_TIME,
                    "revoked_at": _NULLABLE_TIME,
                },
            },
        },
    },
}
_STATUS: apidoc.Schema = {
    "enum": ["ACCEPTED", "EXTRACTING", "READY", "DELIVERED", "PROCESSED", "REJECTED", "EXPIRED"]
}
_RECEIPT_JWS = apidoc.jws("dxg-receipt+jws", "receipt.v1.json")
_ACCEPTED: apidoc.Schema = {
    "type": "object",
    "required": ["packet_id", "status", "receipt", "log_index"],
    "properties": {
        "packet_id": apidoc.UUID,
        "status": {"const": "ACCEPTED"},
        "receipt": _RECEIPT_JWS,
        "log_index": {"type": "integer", "minimum": 0},
    },
}
_PACKET_VIEW: apidoc.Schema = {
    "type": "object",
    "required": ["packet_id", "sender", "recipient", "status", "timeline", "receipts"],
    "properties": {
        "packet_id": apidoc.UUID,
        "sender": apidoc.PARTY_ID,
        "recipient": apidoc.PARTY_ID,
        "status": _STATUS,
        "deadline": apidoc.TIME,
        "timeline": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["status", "at"],
                "properties": {"status": _STATUS, "at": apidoc.TIME},
            },
        },
        "receipts": {"type": "array", "items": _RECEIPT_JWS},
    },
}
_INBOX_PAGE: apidoc.Schema = {
    "type": "object",
    "required": ["items", "next"],
    "properties": {
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["packet_id", "sender", "kind", "created", "ready_at", "status"],
                "properties": {
                    "packet_id": apidoc.UUID,
                    "sender": apidoc.PARTY_ID,
                    "kind": {"enum": ["dossier", "verification", "status", "message"]},
                    "created": apidoc.TIME,
                    "ready_at": apidoc.TIME,
                    "status": _STATUS,
                },
            },
        },
        "next": apidoc.CURSOR,
    },
}
_RECEIPTS_PAGE: apidoc.Schema = {
    "type": "object",
    "required": ["items", "next"],
    "properties": {
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["receipt", "log_index"],
                "properties": {
                    "receipt": _RECEIPT_JWS,
                    "log_index": {"type": "integer", "minimum": 0},
                },
            },
        },
        "next": apidoc.CURSOR,
    },
}
_LOG_INDEX: apidoc.Schema = {
    "type": "object",
    "required": ["log_index"],
    "properties": {"log_index": {"type": "integer", "minimum": 0}},
}
_SEALED = apidoc.Answer(
    200,
    "A libsodium sealed box (crypto_box_seal) to the recipient's current X25519 key",
    {"type": "string", "format": "binary"},
    media_type=delivery.SEALED_MEDIA_TYPE,
)


def caller(request: web.Request, *, role: registry.Role | None = None) -> registry.Party:
    """The authenticated caller, optionally required to hold ``role``.

    Raises:
        Forbidden: the caller lacks ``role``.
    """
    party: registry.Party = request[CALLER]
    if role is not None and not party.has_role(role):
        raise Forbidden(f"this call needs the {role!r} role")
    return party


MAX_QUERY_DIGITS = 19  # 2^63 - 1 has 19 digits: anything longer is no index or size
MAX_QUERY_VALUE = 2**63 - 1  # SQLite's largest integer; 19 digits reach past it


def optional_int(request: web.Request, name: str, *, minimum: int = 0) -> int | None:
    """A non-negative decimal query parameter, or None if absent.

    Raises:
        BadRequest: not plain decimal digits, too long, or below ``minimum``.
    """
    raw = request.query.get(name)
    if raw is None:
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > MAX_QUERY_DIGITS:
        raise BadRequest(f"query parameter {name} must be a non-negative integer")
    value = int(raw)
    if value > MAX_QUERY_VALUE:
        raise BadRequest(f"query parameter {name} must be at most {MAX_QUERY_VALUE}")
    if value < minimum:
        raise BadRequest(f"query parameter {name} must be at least {minimum}")
    return value


def int_query(request: web.Request, name: str, default: int | None = None, *,
              minimum: int = 0) -> int:
    """A query parameter as :func:`optional_int`; without ``default`` it is required.

    Raises:
        BadRequest: missing (and required), or malformed.
    """
    value = optional_int(request, name, minimum=minimum)
    if value is not None:
        return value
    if default is None:
        raise BadRequest(f"query parameter {name} is required")
    return default


def _uuid_path(request: web.Request) -> str:
    packet_id = request.match_info["packet_id"]
    if len(packet_id) != 36:
        raise BadRequest("a packet id is a UUID")
    return packet_id


def media_type(request: web.Request) -> str:
    """The request's media type, without parameters, lower case.

    aiohttp's ``request.content_type`` runs the e-mail header parser, a
    measurable share of a packet's CPU; a media type is one token before ';'.
    """
    return request.headers.get("Content-Type", "").partition(";")[0].strip().lower()


async def read_body(request: web.Request, cap: int, what: str) -> bytes:
    """A request's whole body, at most ``cap`` bytes (``cap`` ≤ ``CLIENT_MAX_SIZE``).

    aiohttp's ``read()`` loops until the body is complete however the network
    splits it, and refuses more than the application's ``client_max_size``;
    the declared length is checked first so that an oversized body is refused
    before it is read.

    Raises:
        TooLarge: the body is longer than ``cap``.
    """
    if request.content_length is not None and request.content_length > cap:
        raise TooLarge(f"{what} is larger than this gateway accepts ({cap} bytes)")
    try:
        async with _idle_bounded(request.app[GATEWAY].config.body_idle_timeout_s):
            body = await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        raise TooLarge(f"{what} is larger than this gateway accepts ({cap} bytes)") from exc
    if len(body) > cap:
        raise TooLarge(f"{what} is larger than this gateway accepts ({cap} bytes)")
    return body


def sealed(body: bytes) -> web.Response:
    return web.Response(body=body, content_type=delivery.SEALED_MEDIA_TYPE)


@routes.get("/v1/gateway")
@apidoc.operation(
    "The gateway's id, log origin and public signing keys",
    spec="SPEC §8",
    roles=None,
    answers=(apidoc.Answer(200, "The gateway's identity", _GATEWAY_INFO),),
)
async def gateway_info(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    return web.json_response(
        {
            "id": gw.config.id,
            "origin": gw.config.origin,
            "keys": [gw.signing_key.public.to_jwk(with_meta=True)],
            "policy": gw.config.policy.to_json(),
        }
    )


@routes.get("/v1/parties/{party_id}")
@apidoc.operation(
    "A registered party's public keys and their validity",
    spec="docs/protocol.md §1",
    params=(apidoc.Param("party_id", "path", apidoc.PARTY_ID, "the party's id", required=True),),
    answers=(apidoc.Answer(200, "The party's roles and keys", _PARTY_INFO),),
    errors=(404,),
)
async def party_info(request: web.Request) -> web.Response:
    """A party's public keys with their validity, for end-to-end verification."""
    caller(request)
    gw = request.app[GATEWAY]
    party_id = request.match_info["party_id"]

    def read(conn: Connection) -> dict[str, Any]:
        party = registry.require_party(conn, party_id)
        return {
            "id": party.id,
            "roles": sorted(party.roles),
            "keys": [k.to_json() for k in registry.keys_of(conn, party_id)],
        }

    return web.json_response(await gw.db.read(read))


@contextlib.asynccontextmanager
async def _idle_bounded(seconds: float) -> AsyncIterator[None]:
    """Bound one wait for the client's bytes: a body that stops arriving is 408.

    Raises:
        TimedOut: nothing arrived for ``seconds``.
    """
    try:
        async with asyncio.timeout(seconds):
            yield
    except TimeoutError as exc:
        raise TimedOut(f"the request body stopped arriving for {seconds:g} s") from exc


@contextlib.contextmanager
def _malformed_is_bad_request() -> Iterator[None]:
    """aiohttp's multipart reader reports a broken body as ValueError, or as
    an HTTP parsing error (``LineTooLong`` for a line over its limit): the
    caller's fault (400), not ours (500)."""
    try:
        yield
    except (ValueError, HttpProcessingError) as exc:
        raise BadRequest("the multipart/form-data body is malformed") from exc


class _MultipartParts:
    """Adapts aiohttp's multipart reader to ``packets.PartStream``."""

    def __init__(self, reader: Any, idle_s: float) -> None:
        self._reader = reader
        self._idle_s = idle_s

    async def next(self) -> packets.IncomingPart | None:
        with _malformed_is_bad_request():
            async with _idle_bounded(self._idle_s):
                part = await self._reader.next()
        if part is None:
            return None
        if not isinstance(part, BodyPartReader):
            raise BadRequest("nested multipart bodies are not accepted")
        return _Part(part, self._idle_s)


class _Part:
    def __init__(self, part: BodyPartReader, idle_s: float) -> None:
        self._part = part
        self._idle_s = idle_s

    @property
    def name(self) -> str | None:
        return self._part.name

    async def chunks(self) -> AsyncIterator[bytes]:
        while True:
            with _malformed_is_bad_request():
                async with _idle_bounded(self._idle_s):
                    chunk = await self._part.read_chunk(READ_CHUNK)
            if not chunk:
                return
            yield chunk


async def _read_envelope(part: BodyPartReader, idle_s: float) -> bytes:
    """The whole envelope part, at most ``MAX_COMPACT_LENGTH`` bytes.

    ``read_chunk`` hands over what the network has delivered so far, not the
    whole part: an envelope split across TCP segments takes several calls.

    Raises:
        TooLarge: the envelope is longer than a JWS this gateway accepts.
    """
    raw = bytearray()
    while True:
        with _malformed_is_bad_request():
            async with _idle_bounded(idle_s):
                chunk = await part.read_chunk(READ_CHUNK)
        if not chunk:
            break
        raw += chunk
        if len(raw) > MAX_COMPACT_LENGTH:
            raise TooLarge("the envelope is larger than this gateway accepts")
    return bytes(raw)


@routes.post("/v1/packets")
@apidoc.operation(
    "Submit a signed packet",
    spec="SPEC §3",
    roles=apidoc.PARTIES,
    body=apidoc.Body(
        "multipart/form-data",
        {
            "type": "object",
            "required": ["envelope"],
            "properties": {"envelope": apidoc.jws("dxg-packet+jws", "manifest.v1.json")},
            "additionalProperties": {"type": "string", "format": "binary"},
        },
        "Part envelope first, then one part per manifest entry, named and ordered as in "
        "the manifest, raw bytes",
        encoding={"envelope": {"contentType": "application/jose"}},
    ),
    answers=(
        apidoc.Answer(202, "Accepted and durable", _ACCEPTED),
        apidoc.Answer(200, "The identical envelope again: the first answer", _ACCEPTED),
    ),
    errors=(400, 403, 409, 413, 415, 422, 507),
)
async def submit_packet(request: web.Request) -> web.Response:
    party = caller(request, role="party")
    gw = request.app[GATEWAY]
    limits = gw.config.limits
    # Cheap early refusal; the exact limits are checked against the manifest.
    overhead = (1 << 20) + limits.max_parts * 1024
    if request.content_length and request.content_length > limits.max_packet_bytes + overhead:
        raise TooLarge(f"a packet has at most {limits.max_packet_bytes} bytes")
    if media_type(request) != "multipart/form-data":
        raise UnsupportedMediaType("a packet is sent as multipart/form-data")
    if gw.space.full(needed=request.content_length or 0):
        raise InsufficientStorage("the gateway's disk is full; retry later, nothing was stored")
    uploads = request.app[UPLOADS]
    if uploads.get(party.id, 0) >= gw.config.max_uploads_per_party:
        raise RateLimited(
            f"at most {gw.config.max_uploads_per_party} uploads at once per party; "
            "retry when one has finished"
        )
    uploads[party.id] = uploads.get(party.id, 0) + 1
    try:
        return await _submit_packet(request, gw, party)
    finally:
        uploads[party.id] -= 1
        if not uploads[party.id]:
            del uploads[party.id]


async def _submit_packet(request: web.Request, gw: Gateway, party: registry.Party) -> web.Response:
    idle_s = gw.config.body_idle_timeout_s
    with _malformed_is_bad_request():
        reader = await request.multipart()
        async with _idle_bounded(idle_s):
            first = await reader.next()
    if not isinstance(first, BodyPartReader) or first.name != "envelope":
        raise BadRequest("the first part of a packet is its envelope")
    raw = await _read_envelope(first, idle_s)
    try:
        envelope = raw.decode("ascii").strip()
    except UnicodeDecodeError as exc:
        raise BadRequest("the envelope is a JWS compact serialization (ASCII)") from exc
    result = await packets.accept(
        gw, party.id, envelope, _MultipartParts(reader, idle_s), claim=request.get(PENDING_CLAIM)
    )
    return web.json_response(result.body, status=result.status)


@routes.get("/v1/packets/{packet_id}")
@apidoc.operation(
    "A packet's status, timeline and receipts (its sender or recipient)",
    spec="SPEC §3",
    params=(apidoc.PACKET_ID,),
    answers=(apidoc.Answer(200, "The packet's status", _PACKET_VIEW),),
    errors=(400, 403, 404),
)
async def packet_status(request: web.Request) -> web.Response:
    party = caller(request)
    gw = request.app[GATEWAY]
    packet_id = _uuid_path(request)
    return web.json_response(
        await gw.db.read(lambda c: packets.packet_view(c, packet_id, party.id))
    )


@routes.get("/v1/inbox")
@apidoc.operation(
    "Packets addressed to the caller, in the order they became READY",
    spec="SPEC §5",
    roles=apidoc.PARTIES,
    params=(apidoc.AFTER, apidoc.LIMIT),
    answers=(apidoc.Answer(200, "A page of the inbox; pass next as after", _INBOX_PAGE),),
    errors=(400, 403),
)
async def inbox(request: web.Request) -> web.Response:
    party = caller(request, role="party")
    gw = request.app[GATEWAY]
    after = int_query(request, "after", 0)
    limit = int_query(request, "limit", 100, minimum=1)
    return web.json_response(
        await gw.db.read(lambda c: delivery.inbox_page(c, party.id, after, limit))
    )


@routes.get("/v1/deliveries/{packet_id}")
@apidoc.operation(
    "The sealed delivery index of a READY packet (its recipient)",
    spec="SPEC §5",
    roles=apidoc.PARTIES,
    params=(apidoc.PACKET_ID,),
    answers=(_SEALED,),
    errors=(400, 403, 404, 409),
)
async def delivery_index(request: web.Request) -> web.Response:
    party = caller(request, role="party")
    return sealed(await delivery.sealed_index(request.app[GATEWAY], party.id, _uuid_path(request)))


@routes.get("/v1/deliveries/{packet_id}/blobs/{sha256}")
@apidoc.operation(
    "One sealed part or photo of a delivery (its recipient)",
    spec="SPEC §5",
    roles=apidoc.PARTIES,
    params=(
        apidoc.PACKET_ID,
        apidoc.Param("sha256", "path", apidoc.SHA256_HEX, "the blob's SHA-256", required=True),
    ),
    answers=(_SEALED,),
    errors=(400, 403, 404, 409),
)
async def delivery_blob(request: web.Request) -> web.Response:
    party = caller(request, role="party")
    sha256 = request.match_info["sha256"]
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise BadRequest("a blob is named by its lowercase hex SHA-256")
    body = await delivery.sealed_blob(request.app[GATEWAY], party.id, _uuid_path(request), sha256)
    return sealed(body)


@routes.post("/v1/receipts")
@apidoc.operation(
    "Send a receipt on a packet delivered to the caller",
    spec="SPEC §6",
    roles=apidoc.PARTIES,
    body=apidoc.Body("application/jose", _RECEIPT_JWS, "The receipt's JWS compact serialization"),
    answers=(
        apidoc.Answer(201, "Appended to the log", _LOG_INDEX),
        apidoc.Answer(200, "The identical receipt again: the first answer", _LOG_INDEX),
    ),
    errors=(400, 403, 404, 409, 413, 415, 422),
)
async def submit_receipt(request: web.Request) -> web.Response:
    party = caller(request, role="party")
    gw = request.app[GATEWAY]
    if media_type(request) != "application/jose":
        raise UnsupportedMediaType("a receipt is sent as application/jose")
    raw = await read_body(request, MAX_RECEIPT_BYTES, "a receipt")
    parsed, claimed = claimed_issuer(raw)
    at = now()
    status_code, body = await gw.db.write(
        lambda c: receipts.accept_from_recipient(c, party.id, parsed, claimed, at)
    )
    return web.json_response(body, status=status_code)


@routes.get("/v1/receipts")
@apidoc.operation(
    "Receipts on the caller's packets (a monitor's: all), in log order",
    spec="SPEC §6",
    params=(apidoc.AFTER, apidoc.LIMIT),
    answers=(apidoc.Answer(200, "A page of receipts; pass next as after", _RECEIPTS_PAGE),),
    errors=(400,),
)
async def list_receipts(request: web.Request) -> web.Response:
    party = caller(request)
    gw = request.app[GATEWAY]
    after = int_query(request, "after", 0)
    limit = int_query(request, "limit", 100, minimum=1)
    return web.json_response(await gw.db.read(lambda c: receipts.page_for(c, party, after, limit)))
