"""HTTP handlers of cases (SPEC §10): events in, cases and figures out.

Routes (all authenticated by the gateway's auth middleware):

* ``POST /v1/cases/events`` (parties): one case event, ``application/jose``;
  ``201 {"log_index","state"}`` once durable and in the log, ``200`` with
  the same body for the identical event again;
* ``GET /v1/cases/{case_id}`` (its holder, its home side, monitors);
* ``GET /v1/cases?state=&after=&limit=`` (a party's cases; a monitor's: all);
* ``GET /v1/stats?as_of=`` (parties: their pairs; monitors: all).

The signature is checked here, before the write transaction, with a key
that is valid now; everything that needs the records runs in
:func:`gateway.server.cases.accept_event`, inside that transaction.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.protocol import case
from gateway.protocol.clock import now, parse_time
from gateway.protocol.crypto import jws
from gateway.protocol.errors import BadRequest, Forbidden, UnsupportedMediaType
from gateway.server import apidoc, cases, registry
from gateway.server.api import GATEWAY, caller, int_query, media_type, read_body
from gateway.server.log_api import LOG

MAX_EVENT_BYTES = 16 * 1024  # a case event is ~600 bytes of ids; anything near this is not one

FIGURES: web.AppKey[cases.RunningFigures] = web.AppKey("case-figures", cases.RunningFigures)

routes = web.RouteTableDef()

# -- what the routes answer (OpenAPI, gateway.server.openapi) ------------------

_EVENT_JWS = apidoc.jws(jws.TYP_CASE, "case-event.v1.json")
_STATE: apidoc.Schema = {"enum": list(case.STATES)}
_ACCEPTED_EVENT: apidoc.Schema = {
    "type": "object",
    "required": ["log_index", "state"],
    "properties": {"log_index": {"type": "integer", "minimum": 0}, "state": _STATE},
}
_CASE: apidoc.Schema = {
    "type": "object",
    "required": ["case_id", "holder", "home", "state", "aged_out", "events"],
    "properties": {
        "case_id": apidoc.UUID,
        "holder": apidoc.PARTY_ID,
        "home": apidoc.PARTY_ID,
        "state": _STATE,
        "aged_out": {"type": "boolean"},
        "events": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["event", "log_index"],
                "properties": {
                    "event": _EVENT_JWS,
                    "log_index": {"type": "integer", "minimum": 0},
                },
            },
        },
    },
}
_CASES_PAGE: apidoc.Schema = {
    "type": "object",
    "required": ["items", "next"],
    "properties": {
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["case_id", "holder", "home", "state", "aged_out", "updated_at"],
                "properties": {
                    "case_id": apidoc.UUID,
                    "holder": apidoc.PARTY_ID,
                    "home": apidoc.PARTY_ID,
                    "state": _STATE,
                    "aged_out": {"type": "boolean"},
                    "updated_at": apidoc.TIME,
                },
            },
        },
        "next": apidoc.CURSOR,
    },
}
_COUNT: apidoc.Schema = {"type": "integer", "minimum": 0}
_MEDIAN: apidoc.Schema = {"type": ["number", "null"], "minimum": 0}
_STATS: apidoc.Schema = {
    "type": "object",
    "required": ["as_of", "log_size", "pairs"],
    "properties": {
        "as_of": apidoc.TIME,
        "log_size": _COUNT,
        "pairs": {
            "type": "array",
            "items": {
                "type": "object",
                "required": [
                    "holder", "home", "cases", "reunited_last_24h", "reunited_last_7d",
                    "aged_out", "response_overdue", "contact_overdue", "median_days",
                ],
                "properties": {
                    "holder": apidoc.PARTY_ID,
                    "home": apidoc.PARTY_ID,
                    "cases": {
                        "type": "object",
                        "required": list(case.STATES),
                        "properties": {s: _COUNT for s in case.STATES},
                    },
                    "reunited_last_24h": _COUNT,
                    "reunited_last_7d": _COUNT,
                    "aged_out": {
                        "type": "object",
                        "required": ["open", "reunited", "return_overdue"],
                        "properties": {
                            "open": _COUNT, "reunited": _COUNT, "return_overdue": _COUNT,
                        },
                    },
                    "response_overdue": _COUNT,
                    "contact_overdue": _COUNT,
                    "median_days": {
                        "type": "object",
                        "required": ["reported_to_verified", "verified_to_reunited"],
                        "properties": {
                            "reported_to_verified": _MEDIAN,
                            "verified_to_reunited": _MEDIAN,
                        },
                    },
                },
            },
        },
    },
}  # fmt: skip
_CASE_ID = apidoc.Param("case_id", "path", apidoc.UUID, "the case's UUID", required=True)
_STATE_FILTER = apidoc.Param("state", "query", _STATE, "only cases in this state")
_AS_OF = apidoc.Param(
    "as_of", "query", apidoc.TIME, "the time the figures are for (default now; may be ahead)"
)


async def _read_jose(request: web.Request) -> bytes:
    if media_type(request) != "application/jose":
        raise UnsupportedMediaType("a case event is sent as application/jose")
    return await read_body(request, MAX_EVENT_BYTES, "a case event")


@routes.post("/v1/cases/events")
@apidoc.operation(
    "Record a signed case event",
    spec="SPEC §10",
    roles=apidoc.PARTIES,
    body=apidoc.Body("application/jose", _EVENT_JWS, "The event's JWS compact serialization"),
    answers=(
        apidoc.Answer(201, "Durable and in the log; the case's new state", _ACCEPTED_EVENT),
        apidoc.Answer(200, "The identical event again: the first answer", _ACCEPTED_EVENT),
    ),
    errors=(400, 403, 404, 409, 413, 415, 422),
)
async def post_event(request: web.Request) -> web.Response:
    party = caller(request, role="party")
    gw = request.app[GATEWAY]
    parsed, claimed = case.claimed_issuer(await _read_jose(request))
    if claimed != party.id:
        raise Forbidden("a party sends only case events it issued itself")
    at = now()
    key = await gw.db.find(lambda c: registry.signing_key(c, party.id, parsed.kid, at))
    signed = case.verify(parsed, key)
    status, body = await gw.db.write(lambda c: cases.accept_event(c, signed, at=at))
    return web.json_response(body, status=status)


def _case_id(request: web.Request) -> str:
    case_id = request.match_info["case_id"]
    if len(case_id) != 36:
        raise BadRequest("a case id is a UUID")
    return case_id


@routes.get("/v1/cases/{case_id}")
@apidoc.operation(
    "One case and its events, in the order accepted",
    spec="SPEC §10",
    params=(_CASE_ID,),
    answers=(apidoc.Answer(200, "The case", _CASE),),
    errors=(400, 404),
)
async def get_case(request: web.Request) -> web.Response:
    party = caller(request)
    gw = request.app[GATEWAY]
    case_id = _case_id(request)
    monitor = party.has_role("monitor")
    return web.json_response(
        await gw.db.read(lambda c: cases.case_view(c, case_id, party.id, monitor=monitor))
    )


@routes.get("/v1/cases")
@apidoc.operation(
    "The caller's cases (a monitor's: all), paged as the inbox is",
    spec="SPEC §10",
    params=(_STATE_FILTER, apidoc.AFTER, apidoc.LIMIT),
    answers=(apidoc.Answer(200, "A page of cases; pass next as after", _CASES_PAGE),),
    errors=(400,),
)
async def list_cases(request: web.Request) -> web.Response:
    party = caller(request)
    gw = request.app[GATEWAY]
    state = request.query.get("state")
    if state is not None and state not in case.STATES:
        raise BadRequest(f"state is one of {', '.join(case.STATES)}")
    after = int_query(request, "after", 0)
    limit = int_query(request, "limit", 100, minimum=1)
    monitor = party.has_role("monitor")

    def page(conn: Any) -> dict[str, Any]:
        return cases.cases_page(
            conn, party.id, monitor=monitor, state=state, after=after, limit=limit
        )

    return web.json_response(await gw.db.read(page))


@routes.get("/v1/stats")
@apidoc.operation(
    "Cases counted by state per pair of parties, from the signed log",
    spec="SPEC §10",
    params=(_AS_OF,),
    answers=(apidoc.Answer(200, "The figures as of the given time", _STATS),),
    errors=(400,),
)
async def get_stats(request: web.Request) -> web.Response:
    party = caller(request)
    gw = request.app[GATEWAY]
    raw = request.query.get("as_of")
    try:
        as_of = now() if raw is None else parse_time(raw)
    except ValueError as exc:
        raise BadRequest("as_of is an RFC 3339 time, e.g. 2026-03-01T10:00:00Z") from exc
    log_size = request.app[LOG].signed_size()
    visible = None if party.has_role("monitor") else party.id
    figures = request.app[FIGURES]

    def compute(conn: Any) -> dict[str, Any]:
        return figures.figures(conn, as_of=as_of, log_size=log_size, party=visible)

    return web.json_response(await gw.db.read(compute))
