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
from pathlib import Path

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from gateway.protocol.errors import ERRORS_BY_STATUS, BadRequest, DXGError
from gateway.server import api, cases, cases_api, log_api
from gateway.server.auth import REPLAY, ReplayCache, authenticate, load_jti, prune_jti
from gateway.server.delivery import Expirer, Notifier
from gateway.server.extraction import Engine, ExtractionWorker
from gateway.server.service import Gateway

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# Requests other than packet uploads carry at most a receipt; packets stream
# and are bounded by the intake limits instead (aiohttp's limit applies only
# to bodies read whole).
CLIENT_MAX_SIZE = 1 << 20
SHUTDOWN_TIMEOUT_S = 30.0  # SIGTERM: in-flight requests get this long to finish
GIL_SWITCH_INTERVAL_S = 0.0005  # CPython's default is 5 ms

METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
WORKERS: web.AppKey[list[asyncio.Task[None]]] = web.AppKey("workers")
ENGINE: web.AppKey[Engine | None] = web.AppKey("engine")



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


def problem_response(err: DXGError) -> web.Response:
    """The one rendering of an error on the wire: RFC 9457 problem+json (SPEC §8)."""
    return web.json_response(
        err.problem(), status=err.status, content_type="application/problem+json"
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
        return problem_response(err)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        cls = ERRORS_BY_STATUS.get(exc.status, BadRequest)
        mapped = cls(exc.text or exc.reason)
        mapped.status = exc.status  # e.g. 405 answers as bad-request
        return problem_response(mapped)
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception:
        # The traceback names code, not data; the client learns nothing internal.
        log.exception("unhandled error on %s %s", request.method, request.path)
        return problem_response(DXGError("the gateway failed; retry"))


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
        app[cases_api.FIGURES] = figures = cases.RunningFigures(gw.config.policy)
        # Fold the case events already on disk in the background: serving starts
        # at once, and the first GET /v1/stats waits only for what is left.
        warming = asyncio.create_task(gw.db.read(figures.catch_up), name="case-figures")
        app[REPLAY] = replay = ReplayCache()
        replay.load(await gw.db.read(load_jti))
        workers = app[WORKERS]
        workers.append(
            asyncio.create_task(ExtractionWorker(gw, app[ENGINE]).run(), name="extraction")
        )
        workers.append(asyncio.create_task(Notifier(gw).run(), name="notifier"))
        workers.append(asyncio.create_task(Expirer(gw).run(), name="expirer"))
        workers.append(asyncio.create_task(prune_jti(gw, replay), name="jti-pruner"))
        try:
            yield
        finally:
            for task in [*workers, warming]:
                task.cancel()
            for task in [*workers, warming]:
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
