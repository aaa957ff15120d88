"""What each HTTP route promises, kept beside its handler.

Every handler the gateway serves carries one :class:`Operation`, attached
with the :func:`operation` decorator right under its route decorator::

    @routes.get("/v1/inbox")
    @apidoc.operation(
        "The caller's deliveries, in the order they became READY",
        spec="§5",
        roles=apidoc.PARTIES,
        params=(apidoc.AFTER, apidoc.LIMIT),
        answers=(apidoc.Answer(200, "A page of the inbox", schema=INBOX_PAGE),),
        errors=(400, 403),
    )
    async def inbox(request): ...

``gateway.server.openapi`` builds the OpenAPI document from the
application's router and these descriptions: paths and methods come from
the router, never from a list kept in parallel, and a route whose handler
has no :class:`Operation` stops the build (a test builds it). Errors are
listed by status only: every one is an RFC 9457 problem (SPEC §8), and the
builder adds 401 and 429 to every signed route itself.

This module imports nothing of the server, so handler modules can import it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from aiohttp import web

Schema = Mapping[str, Any]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
H = TypeVar("H", bound=Handler)

PARTIES = frozenset({"party"})
MONITORS = frozenset({"monitor"})
ANYONE_REGISTERED = frozenset({"party", "monitor"})

# -- schema fragments every description shares (SPEC's formats) ---------------

UUID: Schema = {"type": "string", "format": "uuid"}
PARTY_ID: Schema = {"type": "string", "pattern": "^[a-z][a-z0-9-]{1,31}$"}
SHA256_HEX: Schema = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
TIME: Schema = {"type": "string", "format": "date-time"}
CURSOR: Schema = {"type": "integer", "minimum": 0}
# SPEC §7: Merkle hashes are standard base64 with padding (32 bytes).
B64_HASH: Schema = {"type": "string", "pattern": "^[A-Za-z0-9+/]{43}=$"}
JWS_PATTERN = "^[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+$"


def jws(typ: str, payload_schema: str | None = None) -> Schema:
    """A JWS compact serialization of ``typ``, its payload described by a project schema.

    ``payload_schema`` is a file of ``schemas/`` (``receipt.v1.json``); the
    builder turns it into a reference to that schema, which the document
    carries whole under ``components/schemas``.
    """
    schema: dict[str, Any] = {
        "type": "string",
        "pattern": JWS_PATTERN,
        "description": f'JWS compact serialization, protected header "typ": "{typ}"',
        "x-dxg-typ": typ,
    }
    if payload_schema is not None:
        schema["x-dxg-payload-schema"] = payload_schema
    return schema


# -- one operation -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Param:
    """A path or query parameter."""

    name: str
    where: Literal["path", "query"]
    schema: Schema
    description: str
    required: bool = False  # path parameters are always required


@dataclass(frozen=True, slots=True)
class Body:
    """A request body of one media type."""

    media_type: str
    schema: Schema
    description: str
    encoding: Mapping[str, Schema] | None = None  # multipart: per-field encoding


@dataclass(frozen=True, slots=True)
class Answer:
    """One successful answer: its status, media type and schema."""

    status: int
    description: str
    schema: Schema
    media_type: str = "application/json"


@dataclass(frozen=True, slots=True)
class Operation:
    """What one route does, who may call it, what it answers."""

    summary: str
    spec: str  # the SPEC section (or "docs/protocol.md") that defines it
    answers: tuple[Answer, ...]
    roles: frozenset[str] | None = None  # None: no token at all (outside /v1, or /v1/gateway)
    errors: tuple[int, ...] = ()  # problem+json statuses besides 401/429 of signed routes
    params: tuple[Param, ...] = ()
    body: Body | None = None


_OPERATIONS: dict[Callable[..., Any], Operation] = {}


def operation(
    summary: str,
    *,
    spec: str,
    answers: tuple[Answer, ...],
    roles: frozenset[str] | None = ANYONE_REGISTERED,
    errors: tuple[int, ...] = (),
    params: tuple[Param, ...] = (),
    body: Body | None = None,
) -> Callable[[H], H]:
    """Attach an :class:`Operation` to a handler (place it under the route decorator)."""
    described = Operation(
        summary=summary,
        spec=spec,
        answers=answers,
        roles=roles,
        errors=errors,
        params=params,
        body=body,
    )

    def attach(handler: H) -> H:
        _OPERATIONS[handler] = described
        return handler

    return attach


def described(handler: Callable[..., Any]) -> Operation | None:
    """The :class:`Operation` attached to ``handler``, or None."""
    return _OPERATIONS.get(handler)


# -- parameters several routes share --------------------------------------------

AFTER = Param(
    "after", "query", {**CURSOR, "default": 0}, "cursor: the `next` of the previous page"
)
LIMIT = Param("limit", "query", {"type": "integer", "minimum": 1, "default": 100},
              "page size (the gateway may return fewer)")
PACKET_ID = Param("packet_id", "path", UUID, "the packet's UUID", required=True)
