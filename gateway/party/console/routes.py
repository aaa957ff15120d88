"""The console's pages and forms. Each handler reads, decides, renders; no business rules here.

Rules live in their own modules: who may confirm in :mod:`.decisions`,
throttling and tokens in :mod:`.security`, what a pulled dossier holds in
:mod:`.inbox`, the gateway in :mod:`.office` and :mod:`.casework`.
"""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

from aiohttp import web

from gateway.party.console import charts, i18n
from gateway.party.console.app import (
    SESSION,
    console_of,
    language_of,
    render,
    safe_next,
    session_of,
)
from gateway.party.console.casework import GatewayCases
from gateway.party.console.decisions import (
    FIELD_VERDICTS,
    REASONS,
    REJECTED,
    RESULTS,
    SENDING,
    SENT,
    Decision,
    Link,
)
from gateway.party.console.inbox import FIELDS, display_name, record_fields
from gateway.party.console.render import page_size, render_page
from gateway.party.console.users import normalize_name
from gateway.protocol.case import EVENTS as CASE_EVENTS
from gateway.protocol.case import STATES
from gateway.protocol.clock import format_time, now
from gateway.protocol.errors import BadRequest, DXGError, Invalid, NotFound

routes = web.RouteTableDef()


def add_routes(app: web.Application) -> None:
    app.add_routes(routes)


def _redirect(target: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(safe_next(target))


def _flash(request: web.Request, message: str) -> None:
    session_of(request).flash.append(message)


# -- health, language, login ---------------------------------------------------


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@routes.get("/lang/{lang}")
async def choose_language(request: web.Request) -> web.Response:
    lang = request.match_info["lang"]
    if lang not in i18n.LANGUAGES:
        raise NotFound("no such language")
    session_of(request).lang = lang
    response = _redirect(request.query.get("next", "/"))
    response.set_cookie("dxg_lang", lang, httponly=True, samesite="Strict", path="/",
                        max_age=365 * 86400)
    raise response


@routes.get("/login")
async def login_form(request: web.Request) -> web.Response:
    if session_of(request).official is not None:
        raise _redirect(request.query.get("next", "/"))
    return render(request, "login.html", next=safe_next(request.query.get("next")), error=None)


@routes.post("/login")
async def login(request: web.Request) -> web.Response:
    console = console_of(request)
    form = await request.post()
    name, password = str(form.get("name", "")), str(form.get("password", ""))
    target = safe_next(str(form.get("next", "/")))
    try:
        key = normalize_name(name)
    except BadRequest:
        key = ""
    t = i18n.catalogue(_lang(request))
    wait = console.throttle.retry_after(key)
    if wait:
        return _throttled(request, target, wait)
    official = await asyncio.to_thread(console.users.authenticate, name, password)
    if official is None:
        wait = console.throttle.failed(key)
        if wait:
            return _throttled(request, target, wait)
        return render(request, "login.html", status=401, next=target,
                      error=t("login.wrong"))
    console.throttle.succeeded(key)
    request[SESSION] = console.sessions.sign_in(session_of(request), official)
    raise _redirect(target)


def _lang(request: web.Request) -> str:
    return language_of(request)


def _throttled(request: web.Request, target: str, wait: int) -> web.Response:
    t = i18n.catalogue(_lang(request))
    response = render(request, "login.html", status=429, next=target,
                      error=t("login.throttled", seconds=wait))
    response.headers["Retry-After"] = str(wait)
    return response


@routes.post("/logout")
async def logout(request: web.Request) -> web.Response:
    console = console_of(request)
    console.sessions.end(session_of(request))
    request[SESSION] = console.sessions.create(lang=session_of(request).lang)
    raise _redirect("/login")


# -- inbox ------------------------------------------------------------------------


@routes.get("/")
async def inbox(request: web.Request) -> web.Response:
    console = console_of(request)
    dossiers = await asyncio.to_thread(console.inbox.dossiers)
    pending = [d for d in console.decisions.all() if d.state not in (SENT, REJECTED)]
    known = set(i18n.catalogue(_lang(request)).messages)
    return render(request, "inbox.html", dossiers=dossiers, pending=pending, reasons=REASONS,
                  known=known)


@routes.post("/pull")
async def pull(request: web.Request) -> web.Response:
    console = console_of(request)
    if console.office is None:
        raise Invalid("this console has no gateway to pull from")
    status = await console.office.pull_now()
    t = i18n.catalogue(_lang(request))
    _flash(request, t("pull.done", pulled=status.pulled) if status.error is None
           else t("pull.failed", error=status.error))
    raise _redirect(str((await request.post()).get("next", "/")))


# -- the record view --------------------------------------------------------------


def _record_context(request: web.Request, packet_id: str, record_id: str) -> dict[str, Any]:
    console = console_of(request)
    record = console.inbox.record(packet_id, record_id)
    manifest = console.inbox.manifest(packet_id)
    fields = record_fields(record)
    source = record.get("source") or {}
    part = str(source.get("part", ""))
    pages = []
    for number in source.get("pages") or []:
        if not isinstance(number, int):
            continue
        try:
            size = page_size(console.inbox.part_path(packet_id, part), number)
        except DXGError:
            continue
        boxes = [
            {"member": f.member, "x": f.bbox[0], "y": f.bbox[1],
             "w": max(1.0, f.bbox[2] - f.bbox[0]), "h": max(1.0, f.bbox[3] - f.bbox[1]),
             "low": f.low}
            for f in fields if f.bbox is not None and f.page == number
        ]
        pages.append({"number": number, "width": size.width, "height": size.height,
                      "boxes": boxes})
    photos = [str(p) for p in record.get("photos") or []]
    photo_urls = []
    for sha in photos:
        try:
            console.inbox.photo_path(packet_id, sha)
        except NotFound:
            continue
        photo_urls.append(f"/photo/{packet_id}/{sha}")
    link = console.decisions.link_of(packet_id, record_id)
    return {
        "record": record,
        "manifest": manifest,
        "name": display_name(record),
        "fields": fields,
        "part": part,
        "pages": pages,
        "photos": photo_urls,
        "packet_id": packet_id,
        "record_id": record_id,
        "case_id": record.get("case_id"),
        "link": link,
        "decisions": console.decisions.for_record(packet_id, record_id),
        "results": RESULTS,
        "reasons": REASONS,
        "verdicts": FIELD_VERDICTS,
        "members": FIELDS,
        "notes": console.inbox.notes(packet_id, part),
    }


@routes.get("/record/{packet_id}/{record_id}")
async def record_view(request: web.Request) -> web.Response:
    console = console_of(request)
    packet_id, record_id = request.match_info["packet_id"], request.match_info["record_id"]
    context = await asyncio.to_thread(_record_context, request, packet_id, record_id)
    official = session_of(request).official
    assert official is not None
    # Logged before the page leaves: who opened which child's record (kept locally only).
    await asyncio.to_thread(console.access.opened, official.name, packet_id, record_id,
                            context["case_id"])
    matches, match_error = None, None
    if console.matcher is not None:
        try:
            matches = await asyncio.to_thread(console.matcher.candidates, context["record"])
        except DXGError as err:  # a broken registry must not hide the record
            match_error = err.detail
    return render(request, "record.html", matches=matches, match_error=match_error,
                  registry=console.config.registry is not None, **context)


@routes.get("/page/{packet_id}/{page:\\d+}.png")
async def page_image(request: web.Request) -> web.Response:
    console = console_of(request)
    packet_id = request.match_info["packet_id"]
    path = console.inbox.part_path(packet_id, request.query.get("part", ""))
    data = await asyncio.to_thread(render_page, path, int(request.match_info["page"]),
                                   console.config.directory / "cache" / packet_id)
    return web.Response(body=data, content_type="image/png")  # no-store, as every page


@routes.get("/photo/{packet_id}/{sha256}")
async def photo(request: web.Request) -> web.FileResponse:
    console = console_of(request)
    path = console.inbox.photo_path(request.match_info["packet_id"], request.match_info["sha256"])
    return web.FileResponse(path)  # no-store: a child's photo stays out of the disk cache


# -- matching ----------------------------------------------------------------------


@routes.post("/record/{packet_id}/{record_id}/link")
async def link(request: web.Request) -> web.Response:
    console = console_of(request)
    packet_id, record_id = request.match_info["packet_id"], request.match_info["record_id"]
    record = console.inbox.record(packet_id, record_id)
    form = await request.post()
    report_id = str(form.get("report_id", ""))
    if console.matcher is None:
        raise Invalid("this console has no registry; start it with --registry FILE.csv")
    candidates = await asyncio.to_thread(console.matcher.candidates, record)
    chosen = next((c for c in candidates if c.report_id == report_id), None)
    if chosen is None:
        raise Invalid("that report is not among this record's candidates")
    official = session_of(request).official
    assert official is not None
    console.decisions.link(Link(packet_id, record_id, report_id, official.name,
                                format_time(now()), chosen.score))
    _flash(request, i18n.catalogue(_lang(request))("match.linked"))
    raise _redirect(f"/record/{packet_id}/{record_id}#decide")


# -- decisions ---------------------------------------------------------------------


@routes.post("/record/{packet_id}/{record_id}/decide")
async def decide(request: web.Request) -> web.Response:
    console = console_of(request)
    packet_id, record_id = request.match_info["packet_id"], request.match_info["record_id"]
    record = console.inbox.record(packet_id, record_id)
    form = await request.post()
    official = session_of(request).official
    assert official is not None
    reason = str(form.get("reason") or "") or None
    fields = {m: str(form.get(f"field.{m}", "unknown")) for m in FIELDS}
    decision = console.decisions.propose(
        official=official.name,
        packet_id=packet_id,
        record_id=record_id,
        case_id=record.get("case_id"),
        result=str(form.get("result", "")),
        reason=reason,
        fields=fields,
        note=str(form.get("note", "")),
    )
    _flash(request, i18n.catalogue(_lang(request))("decision.proposed"))
    raise _redirect(f"/decisions#d-{decision.decision_id}")


@routes.get("/decisions")
async def decisions(request: web.Request) -> web.Response:
    console = console_of(request)
    items = list(reversed(console.decisions.all()))
    names = {}
    for d in items:
        try:
            names[d.decision_id] = display_name(console.inbox.record(d.packet_id, d.record_id))
        except DXGError:
            names[d.decision_id] = "—"
    return render(request, "decisions.html", decisions=items, names=names)


@routes.post("/decisions/{decision_id}/confirm")
async def confirm(request: web.Request) -> web.Response:
    console = console_of(request)
    official = session_of(request).official
    assert official is not None
    decision = console.decisions.confirm(
        request.match_info["decision_id"], official=official.name, supervisor=official.supervisor
    )
    t = i18n.catalogue(_lang(request))
    decision = await _send(request, decision)
    _flash(request, t("decision.sent") if decision.state == SENT
           else t("decision.failed", error=decision.error or ""))
    raise _redirect(f"/decisions#d-{decision.decision_id}")


async def _send(request: web.Request, decision: Decision) -> Decision:
    """Sign and send a confirmed decision; its new state is stored either way."""
    console = console_of(request)
    assert decision.state == SENDING
    if console.cases is None:
        raise Invalid("this console has no gateway to send to")
    sent = await console.cases.send_decision(decision, console.decisions.update)
    return console.decisions.update(sent)


@routes.post("/decisions/{decision_id}/reject")
async def reject(request: web.Request) -> web.Response:
    console = console_of(request)
    official = session_of(request).official
    assert official is not None
    console.decisions.reject(
        request.match_info["decision_id"], official=official.name, supervisor=official.supervisor
    )
    _flash(request, i18n.catalogue(_lang(request))("decision.rejected"))
    raise _redirect("/decisions")


# -- cases: the board and the holder's and home side's events ---------------------------------


def _casework(request: web.Request) -> GatewayCases:
    cases = console_of(request).cases
    if not isinstance(cases, GatewayCases):
        raise Invalid("this console has no gateway to read cases from")
    return cases


@routes.get("/cases")
async def board(request: web.Request) -> web.Response:
    state = request.query.get("state") or None
    only_overdue = request.query.get("overdue") == "1"
    only_aged = request.query.get("aged_out") == "1"
    casework = _casework(request)
    result = await casework.board(state=state)
    rows = [
        c for c in result.cases
        if (not only_overdue or c.response_overdue or c.return_overdue or c.contact_overdue)
        and (not only_aged or c.aged_out)
    ]
    t = i18n.catalogue(_lang(request))
    labels = {s: t("casestate." + s) for s in STATES}
    sent = await casework.sent_dossiers()
    return render(
        request, "cases.html", board=result, rows=rows, states=STATES, state=state or "",
        only_overdue=only_overdue, only_aged=only_aged, sent=sent, reasons=REASONS,
        today=now().date().isoformat(),
        reunions_chart=charts.bars(t("board.chart_reunited"), result.days,
                                   result.reunited_per_day),
        states_chart=charts.stacked(t("board.chart_states"), result.days,
                                    result.states_per_day, STATES, labels),
    )


@routes.post("/cases/report")
async def report_cases(request: web.Request) -> web.Response:
    form = await request.post()
    packet_id = str(form.get("packet_id", ""))
    results = await _casework(request).report(packet_id)
    t = i18n.catalogue(_lang(request))
    done = sum(1 for r in results if "error" not in r)
    errors = [str(r["error"]) for r in results if "error" in r]
    _flash(request, t("board.reported", count=done)
           + ("" if not errors else " " + t("board.errors", errors="; ".join(errors))))
    raise _redirect("/cases")


@routes.post("/cases/{case_id}/event")
async def case_event(request: web.Request) -> web.Response:
    form = await request.post()
    event = str(form.get("event", ""))
    if event not in CASE_EVENTS:
        raise Invalid("unknown case event")
    due = None
    if form.get("due"):
        try:
            due = date.fromisoformat(str(form["due"]))
        except ValueError:
            raise Invalid("the return date is a date like 2026-03-01") from None
    reason = str(form.get("reason") or "") or None
    answer = await _casework(request).event(request.match_info["case_id"], event, due=due,
                                            reason=reason)
    t = i18n.catalogue(_lang(request))
    _flash(request, t("board.event_sent", event=t("caseevent." + event),
                      state=t("casestate." + str(answer.get("state")))))
    raise _redirect("/cases")
