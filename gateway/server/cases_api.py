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
from gateway.protocol.errors import BadRequest, Forbidden, UnsupportedMediaType
from gateway.server import cases, registry
from gateway.server.api import GATEWAY, caller, int_query, media_type, read_body
from gateway.server.log_api import LOG

MAX_EVENT_BYTES = 16 * 1024  # a case event is ~600 bytes of ids; anything near this is not one

FIGURES: web.AppKey[cases.RunningFigures] = web.AppKey("case-figures", cases.RunningFigures)

routes = web.RouteTableDef()


async def _read_jose(request: web.Request) -> bytes:
    if media_type(request) != "application/jose":
        raise UnsupportedMediaType("a case event is sent as application/jose")
    return await read_body(request, MAX_EVENT_BYTES, "a case event")


@routes.post("/v1/cases/events")
async def post_event(request: web.Request) -> web.Response:
    party = caller(request, role="party")
    gw = request.app[GATEWAY]
    parsed, claimed = case.claimed_issuer(await _read_jose(request))
    if claimed != party.id:
        raise Forbidden("a party sends only case events it issued itself")
    at = now()
    key = gw.db.lookup(lambda c: registry.signing_key(c, party.id, parsed.kid, at))
    signed = case.verify(parsed, key)
    status, body = await gw.db.write(lambda c: cases.accept_event(c, signed, at=at))
    return web.json_response(body, status=status)


def _case_id(request: web.Request) -> str:
    case_id = request.match_info["case_id"]
    if len(case_id) != 36:
        raise BadRequest("a case id is a UUID")
    return case_id


@routes.get("/v1/cases/{case_id}")
async def get_case(request: web.Request) -> web.Response:
    party = caller(request)
    gw = request.app[GATEWAY]
    case_id = _case_id(request)
    monitor = party.has_role("monitor")
    return web.json_response(
        await gw.db.read(lambda c: cases.case_view(c, case_id, party.id, monitor=monitor))
    )


@routes.get("/v1/cases")
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
