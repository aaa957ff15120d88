"""The aiohttp application: factory, middlewares, background workers, serving.

Nothing happens at import. :func:`create_app` builds an application over a
data directory; the gateway's resources are opened and closed in a
``cleanup_ctx``, and so are the background workers (extraction, push
notifications, expiry).

Middleware order (outermost first), and why:
1. ``metrics``: counts every answer, errors included;
2. ``problems``: turns every error into RFC 9457 ``application/problem+json``,
   so that nothing below needs to know how errors look on the wire;
3. ``authenticate``: verifies the request token (SPEC §2) before any handler
   reads a byte of the body.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from pathlib import Path

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from gateway import api, log_api, registry, tokens
from gateway.crypto.keys import PublicKey
from gateway.delivery import Expirer, Notifier
from gateway.errors import DXGError, Unauthenticated
from gateway.extraction import Engine, ExtractionWorker
from gateway.server import cases, cases_api
from gateway.service import Gateway

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# Requests other than packet uploads carry at most a receipt; packets stream
# and are bounded by the intake limits instead (aiohttp's limit applies only
# to bodies read whole).
CLIENT_MAX_SIZE = 1 << 20
SHUTDOWN_TIMEOUT_S = 30.0  # SIGTERM: in-flight requests get this long to finish
UNAUTHENTICATED_PATHS = frozenset({"/v1/gateway"})
JTI_PRUNE_INTERVAL_S = 60.0
GIL_SWITCH_INTERVAL_S = 0.0005  # CPython's default is 5 ms

METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
WORKERS: web.AppKey[list[asyncio.Task[None]]] = web.AppKey("workers")
ENGINE: web.AppKey[Engine | None] = web.AppKey("engine")
REPLAY: web.AppKey[tokens.ReplayCache] = web.AppKey("replay", tokens.ReplayCache)

_HTTP_CODES = {
    400: "bad-request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not-found",
    405: "bad-request",
    409: "conflict",
    413: "too-large",
    415: "unsupported-media-type",
    422: "invalid",
    429: "rate-limited",
    503: "unavailable",
}


class Metrics:
    """Prometheus metrics; labels are routes and codes, never personal data."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "dxg_http_requests",
            "HTTP requests answered",
            ["route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "dxg_http_request_seconds",
            "Time to answer a request",
            ["route"],
            registry=self.registry,
        )


def problem_response(status: int, code: str, title: str, detail: str) -> web.Response:
    return web.json_response(
        {"type": f"urn:dxg:error:{code}", "title": title, "status": status, "detail": detail},
        status=status,
        content_type="application/problem+json",
    )


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    metrics = request.app[METRICS]
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "unmatched"
    started = time.perf_counter()
    response = await handler(request)
    metrics.latency.labels(route).observe(time.perf_counter() - started)
    metrics.requests.labels(route, str(response.status)).inc()
    return response


@web.middleware
async def problems_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except DXGError as err:
        return problem_response(err.status, err.code, err.title, err.detail)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _HTTP_CODES.get(exc.status, "bad-request")
        return problem_response(exc.status, code, exc.reason, exc.text or exc.reason)
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception:
        # The traceback names code, not data; the client learns nothing internal.
        log.exception("unhandled error on %s %s", request.method, request.path)
        return problem_response(500, "internal", "Internal error", "the gateway failed; retry")


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith("/v1/") or request.path in UNAUTHENTICATED_PATHS:
        return await handler(request)
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("every /v1 call carries Authorization: Bearer <signed token>")
    gw = request.app[api.GATEWAY]
    replay = request.app[REPLAY]
    caller: list[registry.Party] = []

    async def resolve(issuer: str, kid: str, at: datetime) -> PublicKey:
        def lookup(conn: sqlite3.Connection) -> tuple[PublicKey, registry.Party | None]:
            return registry.signing_key(conn, issuer, kid, at), registry.get_party(conn, issuer)

        key, party = gw.db.lookup(lookup)  # two rows by primary key: no thread hop
        if party is not None:
            caller.append(party)
        return key

    async def remember(issuer: str, jti: str, expires: int) -> bool:
        if not replay.first_use(issuer, jti, expires):
            return False
        gw.db.submit(lambda c: _persist_jti(c, issuer, jti, expires))  # ordered before effects
        return True

    await tokens.verify(
        token.strip(),
        audience=gw.config.id,
        method=request.method,
        path_qs=request.raw_path,
        resolve_key=resolve,
        remember_jti=remember,
    )
    if not caller:  # a key without a party cannot exist; refuse rather than assume
        raise Unauthenticated("unknown caller")
    request[api.CALLER] = caller[0]
    return await handler(request)


def _persist_jti(conn: sqlite3.Connection, issuer: str, jti: str, expires: int) -> None:
    conn.execute(
        "INSERT OR IGNORE INTO seen_jti (issuer, jti, expires) VALUES (?, ?, ?)",
        (issuer, jti, expires),
    )


def _load_jti(conn: sqlite3.Connection) -> list[tuple[str, str, int]]:
    rows = conn.execute(
        "SELECT issuer, jti, expires FROM seen_jti WHERE expires >= ?", (int(time.time()),)
    ).fetchall()
    return [(str(a), str(b), int(c)) for a, b, c in rows]


async def _prune_jti(gw: Gateway, replay: tokens.ReplayCache) -> None:
    def prune(conn: sqlite3.Connection) -> None:
        conn.execute("DELETE FROM seen_jti WHERE expires < ?", (int(time.time()),))

    while True:
        replay.prune(int(time.time()))
        await gw.db.write(prune)
        await asyncio.sleep(JTI_PRUNE_INTERVAL_S)


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    gw = request.app[api.GATEWAY]
    try:
        await gw.db.read(lambda c: c.execute("SELECT 1").fetchone())
    except sqlite3.Error:
        return web.json_response({"status": "database unavailable"}, status=503)
    dead = [t.get_name() for t in request.app[WORKERS] if t.done()]
    if dead:
        return web.json_response({"status": "workers stopped", "workers": dead}, status=503)
    return web.json_response({"status": "ready"})


async def metrics_handler(request: web.Request) -> web.Response:
    body = generate_latest(request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def create_app(root: Path, *, engine: Engine | None = None) -> web.Application:
    """An application serving the gateway whose data directory is ``root``."""
    app = web.Application(
        client_max_size=CLIENT_MAX_SIZE,
        middlewares=[metrics_middleware, problems_middleware, authenticate],
    )
    app[METRICS] = Metrics()
    app[ENGINE] = engine
    app[WORKERS] = []
    app.add_routes(api.routes)
    app.add_routes(log_api.routes)
    app.add_routes(cases_api.routes)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_handler)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        gw = await asyncio.to_thread(Gateway, root)
        app[api.GATEWAY] = gw
        app[cases_api.FIGURES] = cases.RunningFigures(gw.config.policy)
        app[REPLAY] = replay = tokens.ReplayCache()
        replay.load(await gw.db.read(_load_jti))
        workers = app[WORKERS]
        workers.append(
            asyncio.create_task(ExtractionWorker(gw, app[ENGINE]).run(), name="extraction")
        )
        workers.append(asyncio.create_task(Notifier(gw).run(), name="notifier"))
        workers.append(asyncio.create_task(Expirer(gw).run(), name="expirer"))
        workers.append(asyncio.create_task(_prune_jti(gw, replay), name="jti-pruner"))
        try:
            yield
        finally:
            for task in workers:
                task.cancel()
            for task in workers:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await asyncio.to_thread(gw.close)

    app.cleanup_ctx.append(lifecycle)
    app.cleanup_ctx.append(log_api.lifecycle(WORKERS))  # after lifecycle: it needs the Gateway
    return app


def serve(root: Path, *, host: str, port: int, engine: Engine | None = None) -> None:
    """Serve until SIGTERM or SIGINT, then drain in-flight requests and return."""
    # The event loop shares the GIL with the database and I/O threads; a
    # shorter switch interval lets it back in quickly after every C call that
    # released it (signature checks, hashing, socket I/O), which is where it
    # otherwise queues behind them.
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    web.run_app(
        create_app(root, engine=engine),
        host=host,
        port=port,
        shutdown_timeout=SHUTDOWN_TIMEOUT_S,
        handle_signals=True,
        print=lambda text: log.info("%s", text),
        access_log=None,
    )
