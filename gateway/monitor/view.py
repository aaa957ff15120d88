"""The monitor's web view (``gateway monitor ... --serve``): the audit, for people to read.

It shows what a pass of :class:`gateway.monitor.audit.Monitor` found: the
verdict and findings, the checkpoint as signed with its cosignatures, the
per-pair tables of receipts and of cases (recomputed from the log alone),
and the console's charts of reunions per day and cases per state. A
monitor sees no personal data and neither does this page: only ids,
counts, times and hashes, exactly what the log holds.

Read-only: GET only, no sessions and no forms, the console's strict CSP,
bound to 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import jinja2
from aiohttp import web

from gateway.monitor.audit import Monitor, PassResult
from gateway.monitor.state import MonitorState
from gateway.party.console import charts, i18n
from gateway.party.console.app import (
    STATIC,
    TEMPLATES,
    PathOnlyAccessLogger,
    make_templates,
    security_headers,
)
from gateway.protocol.case import STATES
from gateway.protocol.clock import now
from gateway.protocol.errors import DXGError
from gateway.protocol.merkle import b64std
from gateway.protocol.stats import CaseStats

log = logging.getLogger("gateway.monitor")
CHART_DAYS = 14  # as on the console's board


@dataclass(slots=True)
class View:
    """The last pass, as the page shows it."""

    make_monitor: Callable[[], Monitor]
    interval_s: float
    monitor: Monitor | None = None
    result: PassResult | None = None
    previous: MonitorState | None = None
    at: datetime | None = None
    error: str | None = None


VIEW = web.AppKey("view", View)
TEMPLATES_KEY = web.AppKey("templates", jinja2.Environment)


def history(
    stats: CaseStats | None, log_size: int, at: datetime
) -> tuple[list[date], list[int], list[dict[str, int]]]:
    """Per day of the last :data:`CHART_DAYS`: reunions that day, and cases by state at its end."""
    today = at.astimezone(UTC).date()
    days = [today - timedelta(days=n) for n in range(CHART_DAYS - 1, -1, -1)]
    reunited, per_state = [], []

    def figures_at(moment: datetime) -> dict[str, Any]:
        if stats is None:
            return {"pairs": []}
        return stats.figures(as_of=min(at, moment), log_size=log_size)

    # REUNITED is final, so the reunions of a day are the REUNITED count at its
    # end less the count at the end of the day before.
    before = _reunited_total(figures_at(datetime.combine(days[0], time(0), tzinfo=UTC)
                                        - timedelta(seconds=1)))
    for day in days:
        figures = figures_at(datetime.combine(day, time(23, 59, 59), tzinfo=UTC))
        total = _reunited_total(figures)
        reunited.append(total - before)
        before = total
        totals = dict.fromkeys(STATES, 0)
        for pair in figures["pairs"]:
            for name, count in pair["cases"].items():
                totals[name] += count
        per_state.append(totals)
    return days, reunited, per_state


def _reunited_total(figures: dict[str, Any]) -> int:
    return sum(p["cases"].get("REUNITED", 0) for p in figures["pairs"])


async def page(request: web.Request) -> web.Response:
    view = request.app[VIEW]
    lang = request.cookies.get("dxg_lang")
    if lang not in i18n.LANGUAGES:
        lang = i18n.negotiate(request.headers.get("Accept-Language"))
    t = i18n.catalogue(lang)
    result = view.result
    at = view.at or now()
    days, reunited, per_state = history(
        None if result is None else result.case_stats,
        0 if result is None else result.case_log_size, at)
    labels = {s: t("casestate." + s) for s in STATES}
    html = request.app[TEMPLATES_KEY].get_template("monitor.html").render(
        t=t, lang=lang, languages=i18n.LANGUAGE_NAMES, here=request.rel_url.path_qs,
        view=view, result=result, states=STATES, b64std=b64std,
        reunions_chart=charts.bars(t("board.chart_reunited"), days, reunited),
        states_chart=charts.stacked(t("board.chart_states"), days, per_state, STATES, labels),
    )
    return web.Response(text=html, content_type="text/html", charset="utf-8")


async def choose_language(request: web.Request) -> web.Response:
    lang = request.match_info["lang"]
    response = web.HTTPSeeOther("/")
    if lang in i18n.LANGUAGES:
        response.set_cookie("dxg_lang", lang, httponly=True, samesite="Strict", path="/")
    raise response


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "passes": request.app[VIEW].at is not None})


async def _follow(app: web.Application) -> AsyncIterator[None]:
    view = app[VIEW]
    monitor = view.monitor = view.make_monitor()  # its client's session lives on this loop

    async def loop() -> None:
        while True:
            previous = monitor.state
            try:
                result = await monitor.run_pass()
            except DXGError as err:
                view.error = err.detail
                log.warning("monitor pass failed: %s: %s", type(err).__name__, err.detail)
            else:
                view.result, view.previous, view.at, view.error = result, previous, now(), None
                for finding in result.findings:
                    log.warning("finding: %s", finding)
            await asyncio.sleep(view.interval_s)

    task = asyncio.create_task(loop(), name="monitor-passes")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await monitor.client.close()


def build_view(make_monitor: Callable[[], Monitor], *, interval_s: float) -> web.Application:
    """The read-only monitor view over the passes of the monitor ``make_monitor`` makes."""
    app = web.Application(middlewares=[security_headers])
    app[VIEW] = View(make_monitor, interval_s)
    app[TEMPLATES_KEY] = make_templates()
    app.router.add_get("/", page)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/lang/{lang}", choose_language)
    app.router.add_static("/static/", STATIC)
    app.cleanup_ctx.append(_follow)
    return app


def serve_view(
    make_monitor: Callable[[], Monitor], *, host: str, port: int, interval_s: float
) -> None:
    """Serve the view until interrupted."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    web.run_app(
        build_view(make_monitor, interval_s=interval_s), host=host, port=port,
        access_log_class=PathOnlyAccessLogger, print=lambda text: log.info("%s", text.strip()),
    )


__all__ = ["TEMPLATES", "build_view", "history", "serve_view"]
