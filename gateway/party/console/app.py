"""The console's web application: routes, middlewares and the page renderer.

Middlewares, outermost first, and why in this order:

1. ``security_headers``: every answer, errors included, carries the CSP and
   the other headers, so no path escapes them; a console bound to loopback
   also refuses a ``Host`` that is not a loopback name (421), so a web page
   elsewhere cannot reach it by DNS rebinding;
2. ``errors``: a :class:`DXGError` raised by a handler becomes a page with
   its status and its detail (details never hold personal data);
3. ``sessions``: every request has a session (a new anonymous one if the
   cookie names none), so the login form has a CSRF token too;
4. ``csrf``: every POST must carry the session's token (403 otherwise),
   checked before any handler runs;
5. ``signed_in``: every page but the login, static files and health
   redirects to the login without an official.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from gateway.party.client import Client, Identity
from gateway.party.console import i18n
from gateway.party.console.access import AccessLog
from gateway.party.console.casework import CaseWork, GatewayCases
from gateway.party.console.decisions import Decisions
from gateway.party.console.inbox import Inbox
from gateway.party.console.matching import Matcher, RegistryMatcher
from gateway.party.console.office import PULL_INTERVAL_S, Office
from gateway.party.console.security import (
    SESSION_COOKIE,
    SESSION_IDLE_S,
    LoginThrottle,
    Session,
    Sessions,
    csrf_ok,
)
from gateway.party.console.users import Users
from gateway.party.trust import TrustStore
from gateway.protocol.errors import DXGError, Forbidden

log = logging.getLogger("gateway.console")
STATIC = Path(__file__).parent / "static"
TEMPLATES = Path(__file__).parent / "templates"
MAX_FORM_BYTES = 64 * 1024  # the largest form is a decision with a note; nothing is uploaded
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
PUBLIC_PATHS = ("/login", "/static/", "/healthz", "/lang/")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class ConsoleConfig:
    """How one console runs."""

    directory: Path
    gateway: str
    party_id: str
    keys: str
    registry: Path | None = None
    trust: Path | None = None  # the party's trust store: pulls verify only with its pins
    pull_interval_s: float = PULL_INTERVAL_S
    secure_cookies: bool = False  # set when served behind HTTPS
    loopback_only: bool = True  # bound to a loopback address: refuse other Host names


@dataclass(slots=True)
class Console:
    """The state one console process shares between requests."""

    config: ConsoleConfig
    users: Users
    sessions: Sessions
    throttle: LoginThrottle
    inbox: Inbox
    decisions: Decisions
    access: AccessLog
    templates: jinja2.Environment
    office: Office | None = None
    matcher: Matcher | None = None
    cases: CaseWork | None = None


CONSOLE = web.AppKey("console", Console)
# The request's session; a typed key where aiohttp has them (3.13+), a string before.
SESSION: Any = getattr(web, "RequestKey", lambda name, _type: name)("session", Session)


class PathOnlyAccessLogger(AbstractAccessLogger):
    """The server log: method, path without query, status, time. No names, no agents."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info(
            "%s %s %s %.3fs", request.method, request.rel_url.path, response.status, time
        )


def console_of(request: web.Request) -> Console:
    return request.app[CONSOLE]


def session_of(request: web.Request) -> Session:
    session: Session = request[SESSION]
    return session


def language_of(request: web.Request) -> str:
    session: Session | None = request.get(SESSION)
    if session is not None and session.lang in i18n.LANGUAGES:
        return str(session.lang)
    chosen = request.cookies.get("dxg_lang")
    if chosen in i18n.LANGUAGES:
        return str(chosen)
    return i18n.negotiate(request.headers.get("Accept-Language"))


def render(
    request: web.Request, template: str, *, status: int = 200, **context: Any
) -> web.Response:
    """A page from ``template`` in the request's language, with the session's CSRF token."""
    console = console_of(request)
    session: Session | None = request.get(SESSION)
    lang = language_of(request)
    flash = list(session.flash) if session is not None else []
    if session is not None:
        session.flash.clear()
    html = console.templates.get_template(template).render(
        t=i18n.catalogue(lang),
        lang=lang,
        languages=i18n.LANGUAGE_NAMES,
        csrf=session.csrf if session is not None else "",
        official=session.official if session is not None else None,
        here=request.rel_url.path_qs,
        party_id=console.config.party_id,
        pull=console.office.status if console.office is not None else None,
        flash=flash,
        **context,
    )
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")


LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def loopback_host(host: str | None) -> bool:
    """Whether a ``Host`` header names this machine (with or without a port)."""
    if not host:
        return False
    # An IPv6 literal is bracketed ("[::1]:8600"); any other name ends at its port.
    name = host[: host.find("]") + 1] if host.startswith("[") else host.rsplit(":", 1)[0]
    return name.lower() in LOOPBACK_NAMES


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    config = request.app[CONSOLE].config if CONSOLE in request.app else None
    if config is not None and config.loopback_only and not loopback_host(request.host):
        refused = web.Response(status=421, text="this console answers on 127.0.0.1 only\n")
        _secure(refused)
        return refused
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        _secure(exc)
        raise
    _secure(response)
    return response


def _secure(response: web.StreamResponse) -> None:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
    response.headers.setdefault("Cache-Control", "no-store")


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except DXGError as err:
        return render(request, "error.html", status=err.status, error=err)


@web.middleware
async def sessions(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith("/static/"):
        return await handler(request)
    console = console_of(request)
    session = console.sessions.get(request.cookies.get(SESSION_COOKIE))
    if session is None:
        session = console.sessions.create()
    request[SESSION] = session
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        _set_cookie(request, exc)
        raise
    _set_cookie(request, response)
    return response


def _set_cookie(request: web.Request, response: web.StreamResponse) -> None:
    session: Session = request[SESSION]
    if request.cookies.get(SESSION_COOKIE) == session.sid:
        return
    response.set_cookie(
        SESSION_COOKIE,
        session.sid,
        httponly=True,
        samesite="Strict",
        secure=console_of(request).config.secure_cookies,
        path="/",
        max_age=int(SESSION_IDLE_S),
    )


@web.middleware
async def csrf(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method == "POST":
        form = await request.post()
        if not csrf_ok(request.get(SESSION), form.get("csrf")):
            raise Forbidden(
                "this form's security token is missing or stale; reload the page and send it again"
            )
    return await handler(request)


@web.middleware
async def signed_in(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path == "/" or not request.path.startswith(PUBLIC_PATHS):
        session: Session | None = request.get(SESSION)
        if session is None or session.official is None:
            raise web.HTTPSeeOther("/login?next=" + urllib.parse.quote(request.rel_url.path_qs))
    return await handler(request)


def safe_next(target: str | None) -> str:
    """A local path to go to after a form, never another site."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def make_templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pct"] = lambda v: "—" if v is None else f"{round(float(v) * 100)}%"
    return env


def build_app(
    config: ConsoleConfig,
    *,
    office: Office | None = None,
    throttle: LoginThrottle | None = None,
) -> web.Application:
    """The console application (no work at import; the pull starts with the app).

    ``office`` is made from the configuration unless given (tests without a
    gateway give none and set ``config.gateway`` to an empty string).
    """
    from gateway.party.console import routes  # noqa: PLC0415  (routes import this module)

    app = web.Application(
        middlewares=[security_headers, errors, sessions, csrf, signed_in],
        client_max_size=MAX_FORM_BYTES,
    )
    config.directory.mkdir(parents=True, exist_ok=True)
    app[CONSOLE] = Console(
        config=config,
        users=Users(config.directory),
        sessions=Sessions(),
        throttle=throttle or LoginThrottle(),
        inbox=Inbox(config.directory / "inbox"),
        decisions=Decisions(config.directory),
        access=AccessLog(config.directory),
        templates=make_templates(),
        office=office,
        matcher=RegistryMatcher(config.registry) if config.registry is not None else None,
    )
    interrupted = app[CONSOLE].decisions.recover_interrupted()
    if interrupted:
        log.warning("%d decision(s) were being sent when the console stopped; marked failed",
                    interrupted)
    routes.add_routes(app)
    app.router.add_static("/static/", STATIC, append_version=False)
    app.cleanup_ctx.append(_gateway_link)
    return app


async def _gateway_link(app: web.Application) -> AsyncIterator[None]:
    console = app[CONSOLE]
    config = console.config
    if console.office is None and config.gateway:
        # Pulling verifies with pinned keys only; without a store each pull
        # fails with LocalError, shown on the screens, and rejects nothing.
        trust = TrustStore.load(config.trust) if config.trust is not None else None
        client = Client(config.gateway, Identity.load(config.party_id, config.keys), trust=trust)
        console.office = Office(client, config.directory / "inbox",
                                interval_s=config.pull_interval_s)
    if console.cases is None and console.office is not None:
        console.cases = GatewayCases(console.office.client)
    task = None
    if console.office is not None:
        task = asyncio.create_task(console.office.run(), name="console-pull")
    yield
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    if console.office is not None:
        await console.office.client.close()


def serve_console(config: ConsoleConfig, *, host: str, port: int) -> None:
    """Serve until interrupted; the server log holds no personal data."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if not Users(config.directory).path.exists():
        log.warning("no officials yet: add one with gateway console user add %s NAME --role ...",
                    config.directory)
    web.run_app(
        build_app(config),
        host=host,
        port=port,
        access_log_class=PathOnlyAccessLogger,
        print=lambda text: log.info("%s", text.strip()),
    )
