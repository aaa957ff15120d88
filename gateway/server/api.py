"""HTTP handlers of the ``/v1`` API (SPEC §2–§8).

Handlers are thin: they read the request, call the domain modules and shape
the answer. They raise :class:`gateway.protocol.errors.DXGError`; the error
middleware in ``gateway.server.app`` renders it. Authentication has already run
(``gateway.server.app``'s auth middleware) for every route here but
``GET /v1/gateway``: the caller's :class:`registry.Party` is ``request[CALLER]``.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator, Iterator
from typing import Any

from aiohttp import BodyPartReader, web

from gateway.protocol.clock import now
from gateway.protocol.crypto.jws import MAX_COMPACT_LENGTH
from gateway.protocol.errors import BadRequest, Forbidden, TooLarge, UnsupportedMediaType
from gateway.protocol.receipt import claimed_issuer
from gateway.server import delivery, receipts, registry
from gateway.server import intake as packets
from gateway.server.service import Gateway

GATEWAY: web.AppKey[Gateway] = web.AppKey("gateway", Gateway)
CALLER = "dxg.caller"
READ_CHUNK = 256 * 1024  # bytes read from the socket at a time while streaming a part
MAX_RECEIPT_BYTES = 64 * 1024  # a receipt lists ≤ 64 parts: a few KiB

routes = web.RouteTableDef()


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
        body = await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        raise TooLarge(f"{what} is larger than this gateway accepts ({cap} bytes)") from exc
    if len(body) > cap:
        raise TooLarge(f"{what} is larger than this gateway accepts ({cap} bytes)")
    return body


def sealed(body: bytes) -> web.Response:
    return web.Response(body=body, content_type=delivery.SEALED_MEDIA_TYPE)


@routes.get("/v1/gateway")
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
async def party_info(request: web.Request) -> web.Response:
    """A party's public keys with their validity, for end-to-end verification."""
    caller(request)
    gw = request.app[GATEWAY]
    party_id = request.match_info["party_id"]

    def read(conn: sqlite3.Connection) -> dict[str, Any]:
        party = registry.require_party(conn, party_id)
        return {
            "id": party.id,
            "roles": sorted(party.roles),
            "keys": [k.to_json() for k in registry.keys_of(conn, party_id)],
        }

    return web.json_response(await gw.db.read(read))


@contextlib.contextmanager
def _malformed_is_bad_request() -> Iterator[None]:
    """aiohttp's multipart reader reports a broken body as ValueError: the
    caller's fault (400), not ours (500)."""
    try:
        yield
    except ValueError as exc:
        raise BadRequest("the multipart/form-data body is malformed") from exc


class _MultipartParts:
    """Adapts aiohttp's multipart reader to ``packets.PartStream``."""

    def __init__(self, reader: Any) -> None:
        self._reader = reader

    async def next(self) -> packets.IncomingPart | None:
        with _malformed_is_bad_request():
            part = await self._reader.next()
        if part is None:
            return None
        if not isinstance(part, BodyPartReader):
            raise BadRequest("nested multipart bodies are not accepted")
        return _Part(part)


class _Part:
    def __init__(self, part: BodyPartReader) -> None:
        self._part = part

    @property
    def name(self) -> str | None:
        return self._part.name

    async def chunks(self) -> AsyncIterator[bytes]:
        while True:
            with _malformed_is_bad_request():
                chunk = await self._part.read_chunk(READ_CHUNK)
            if not chunk:
                return
            yield chunk


async def _read_envelope(part: BodyPartReader) -> bytes:
    """The whole envelope part, at most ``MAX_COMPACT_LENGTH`` bytes.

    ``read_chunk`` hands over what the network has delivered so far, not the
    whole part: an envelope split across TCP segments takes several calls.

    Raises:
        TooLarge: the envelope is longer than a JWS this gateway accepts.
    """
    raw = bytearray()
    while True:
        with _malformed_is_bad_request():
            chunk = await part.read_chunk(READ_CHUNK)
        if not chunk:
            break
        raw += chunk
        if len(raw) > MAX_COMPACT_LENGTH:
            raise TooLarge("the envelope is larger than this gateway accepts")
    return bytes(raw)


@routes.post("/v1/packets")
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
    with _malformed_is_bad_request():
        reader = await request.multipart()
        first = await reader.next()
    if not isinstance(first, BodyPartReader) or first.name != "envelope":
        raise BadRequest("the first part of a packet is its envelope")
    raw = await _read_envelope(first)
    try:
        envelope = raw.decode("ascii").strip()
    except UnicodeDecodeError as exc:
        raise BadRequest("the envelope is a JWS compact serialization (ASCII)") from exc
    result = await packets.accept(gw, party.id, envelope, _MultipartParts(reader))
    return web.json_response(result.body, status=result.status)


@routes.get("/v1/packets/{packet_id}")
async def packet_status(request: web.Request) -> web.Response:
    party = caller(request)
    gw = request.app[GATEWAY]
    packet_id = _uuid_path(request)
    return web.json_response(
        await gw.db.read(lambda c: packets.packet_view(c, packet_id, party.id))
    )


@routes.get("/v1/inbox")
async def inbox(request: web.Request) -> web.Response:
    party = caller(request, role="party")
    gw = request.app[GATEWAY]
    after = int_query(request, "after", 0)
    limit = int_query(request, "limit", 100, minimum=1)
    return web.json_response(
        await gw.db.read(lambda c: delivery.inbox_page(c, party.id, after, limit))
    )


@routes.get("/v1/deliveries/{packet_id}")
async def delivery_index(request: web.Request) -> web.Response:
    party = caller(request, role="party")
    return sealed(await delivery.sealed_index(request.app[GATEWAY], party.id, _uuid_path(request)))


@routes.get("/v1/deliveries/{packet_id}/blobs/{sha256}")
async def delivery_blob(request: web.Request) -> web.Response:
    party = caller(request, role="party")
    sha256 = request.match_info["sha256"]
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise BadRequest("a blob is named by its lowercase hex SHA-256")
    body = await delivery.sealed_blob(request.app[GATEWAY], party.id, _uuid_path(request), sha256)
    return sealed(body)


@routes.post("/v1/receipts")
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
async def list_receipts(request: web.Request) -> web.Response:
    party = caller(request)
    gw = request.app[GATEWAY]
    after = int_query(request, "after", 0)
    limit = int_query(request, "limit", 100, minimum=1)
    return web.json_response(await gw.db.read(lambda c: receipts.page_for(c, party, after, limit)))
