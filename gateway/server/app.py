"""The aiohttp application: factory, middlewares, background workers, serving.

Nothing happens at import. :func:`create_app` builds an application over a
data directory; the gateway's resources are opened and closed in a
``cleanup_ctx``, and so are the background workers (extraction, push
notifications, expiry).

Middleware order (outermost first), and why:
0. ``in_flight``: counts requests being handled, so that SIGTERM waits for
   them (``gateway.server.serving``), and closes connections once draining;
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
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from gateway.protocol.errors import (
    ERRORS_BY_STATUS,
    BadRequest,
    DXGError,
    InsufficientStorage,
    TimedOut,
    Unavailable,
)
from gateway.server import api, apidoc, cases, cases_api, log_api, logflood, openapi
from gateway.server.auth import REPLAY, ReplayCache, authenticate, load_jti, prune_jti
from gateway.server.config import DataDir
from gateway.server.delivery import Expirer, Notifier
from gateway.server.extraction import Engine, ExtractionWorker
from gateway.server.service import Gateway
from gateway.server.serving import DRAINING, INFLIGHT, serve_until_signalled
from gateway.server.sql import DATABASE_ERRORS, is_unreachable, is_write_conflict
from gateway.server.storage import is_storage_full
from gateway.server.supervisor import supervise

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# Requests other than packet uploads carry at most a receipt; packets stream
# and are bounded by the intake limits instead (aiohttp's limit applies only
# to bodies read whole).
CLIENT_MAX_SIZE = 1 << 20
RETRY_AFTER_S = 5  # what a temporary refusal (429, 503, 507) asks a client to wait
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
        self.restarts = Counter(
            "dxg_worker_restarts",
            "Background workers restarted after an unexpected exception",
            ["worker"],
            registry=self.registry,
        )
        self.log_lease = Gauge(
            "dxg_log_lease_held",
            "1 if this node integrates and signs the receipt log (holds its lease), else 0",
            registry=self.registry,
        )
        self.latency = Histogram(
            "dxg_http_request_seconds",
            "Time to answer a request",
            ["route"],
            registry=self.registry,
        )


def problem_response(err: DXGError) -> web.Response:
    """The one rendering of an error on the wire: RFC 9457 problem+json (SPEC §8).

    A temporary one says when to retry (``Retry-After``).
    """
    response = web.json_response(
        err.problem(), status=err.status, content_type="application/problem+json"
    )
    if err.retryable:
        response.headers["Retry-After"] = str(RETRY_AFTER_S)
    return response


@web.middleware
async def in_flight_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    counter = request.app.get(INFLIGHT)
    if counter is None:  # an application not run by serve() (embedded, tests)
        return await handler(request)
    counter.enter()
    try:
        response = await handler(request)
    finally:
        counter.exit()
    if request.app[DRAINING].is_set():
        response.force_close()  # the client reconnects, to another instance
    return response


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
    except TimedOut as err:
        response = problem_response(err)
        response.force_close()  # the client stalled: do not linger reading its body
        return response
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
    except Exception as exc:
        if is_storage_full(exc):
            log.warning("disk full: %s %s answered 507", request.method, request.path)
            return problem_response(
                InsufficientStorage("the gateway's disk is full; nothing was stored")
            )
        if is_write_conflict(exc):
            log.warning("write conflict: %s %s answered 503 (%s)",
                        request.method, request.path, type(exc).__name__)
            return problem_response(Unavailable(
                "a concurrent write on the same packets made the database abort this one;"
                " retry the same request (an identical retry is answered once, never"
                " stored twice)"))
        if is_unreachable(exc):
            log.warning("database unreachable: %s %s answered 503 (%s)",
                        request.method, request.path, type(exc).__name__)
            return problem_response(Unavailable(
                "the gateway's database cannot be reached; retry the same request (an"
                " identical retry is answered once, never stored twice)"))
        # The traceback names code, not data; the client learns nothing internal.
        log.exception("unhandled error on %s %s", request.method, request.path)
        return problem_response(DXGError("the gateway failed; retry"))


_STATUS: apidoc.Schema = {
    "type": "object", "required": ["status"], "properties": {"status": {"type": "string"}}
}
_READY: apidoc.Schema = {
    "type": "object",
    "required": ["status"],
    "properties": {
        "status": {"type": "string"},
        # Several nodes on one PostgreSQL: whether this one integrates and signs the log.
        "log_lease": {"type": "boolean"},
    },
}


@apidoc.operation(
    "Liveness: the process answers",
    spec="SPEC §8",
    roles=None,
    answers=(apidoc.Answer(200, "Alive", _STATUS),),
)
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@apidoc.operation(
    "Readiness: the database answers and every background worker runs",
    spec="SPEC §8",
    roles=None,
    answers=(
        apidoc.Answer(200, "Ready", _READY),
        # A probe reads the status code; the body names what is down.
        apidoc.Answer(503, "Not ready: the database or a worker is down", _STATUS),
    ),
)
async def readyz(request: web.Request) -> web.Response:
    gw = request.app[api.GATEWAY]
    try:
        await gw.db.read(lambda c: c.execute("SELECT 1").fetchone())
    except DATABASE_ERRORS:
        return web.json_response({"status": "database unavailable"}, status=503)
    if gw.space.full():
        return web.json_response(
            {"status": "storage full"}, status=503, headers={"Retry-After": str(RETRY_AFTER_S)}
        )
    dead = [t.get_name() for t in request.app[WORKERS] if t.done()]
    if dead:
        return web.json_response({"status": "workers stopped", "workers": dead}, status=503)
    return web.json_response({"status": "ready", "log_lease": _holds_log_lease(request.app)})


def _holds_log_lease(app: web.Application) -> bool:
    """Whether this node integrates and signs the log (several nodes: one does)."""
    service = app.get(log_api.LOG)
    return service is not None and service.holds_lease


@apidoc.operation(
    "Prometheus metrics (labels: routes and status codes, never personal data)",
    spec="SPEC §8",
    roles=None,
    answers=(apidoc.Answer(200, "Prometheus text format", {"type": "string"}, "text/plain"),),
)
async def metrics_handler(request: web.Request) -> web.Response:
    metrics = request.app[METRICS]
    metrics.log_lease.set(1 if _holds_log_lease(request.app) else 0)
    body = generate_latest(metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def create_app(root: Path, *, engine: Engine | None = None) -> web.Application:
    """An application serving the gateway whose data directory is ``root``."""
    app = web.Application(
        client_max_size=CLIENT_MAX_SIZE,
        middlewares=[in_flight_middleware, metrics_middleware, problems_middleware, authenticate],
    )
    app[METRICS] = Metrics()
    app[ENGINE] = engine
    app[WORKERS] = []
    app[api.UPLOADS] = {}
    app.add_routes(api.routes)
    app.add_routes(log_api.routes)
    app.add_routes(cases_api.routes)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_handler)
    # Signed like every /v1 call but /v1/gateway (docs/protocol.md, "OpenAPI").
    app.router.add_get("/v1/openapi.json", openapi.serve_document)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        gw = await asyncio.to_thread(Gateway, root)
        app[api.GATEWAY] = gw
        app[cases_api.FIGURES] = figures = cases.RunningFigures(gw.config.policy)
        # Fold the case events already on disk in the background: serving starts
        # at once, and the first GET /v1/stats waits only for what is left.
        warming = asyncio.create_task(gw.db.read(figures.catch_up), name="case-figures")
        app[REPLAY] = replay = ReplayCache()
        replay.load(await gw.db.read(load_jti))
        engine = app[ENGINE]
        workers = [
            start_worker(app, "notifier", lambda: Notifier(gw).run()),
            start_worker(app, "expirer", lambda: Expirer(gw).run()),
            start_worker(app, "jti-pruner", lambda: prune_jti(gw, replay)),
            start_worker(app, "storage", lambda: watch_storage(gw)),
        ]
        if gw.shared_blobs:  # a node that crashed mid-upload left files behind
            workers.append(start_worker(app, "blob-sweeper", gw.sweep_shared_blobs))
        if gw.config.extraction_worker:  # else gateway worker nodes extract
            workers.append(
                start_worker(app, "extraction", lambda: ExtractionWorker(gw, engine).run())
            )
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
    app.cleanup_ctx.append(log_api.lifecycle(start_worker))  # after lifecycle: needs the Gateway
    return app


def start_worker(
    app: web.Application, name: str, run: Callable[[], Awaitable[None]]
) -> asyncio.Task[None]:
    """Start background worker ``name`` under supervision; ``/readyz`` watches its task."""
    task = asyncio.create_task(supervise(name, run, app[METRICS].restarts), name=name)
    app[WORKERS].append(task)
    return task


STORAGE_CHECK_S = 10.0  # how often a released disk reserve is made again


async def watch_storage(gw: Gateway) -> None:
    """Make the disk reserve again once space has returned (``gateway.server.storage``)."""
    loop = asyncio.get_running_loop()
    while True:
        await loop.run_in_executor(gw.io_pool, gw.space.restore_reserve)
        await asyncio.sleep(STORAGE_CHECK_S)


def serve(root: Path, *, host: str, port: int, engine: Engine | None = None) -> None:
    """Serve until SIGTERM or SIGINT, then drain in-flight requests and return."""
    # The event loop shares the GIL with the database and I/O threads; a
    # shorter switch interval lets it back in quickly after every C call that
    # released it (signature checks, hashing, socket I/O), which is where it
    # otherwise queues behind them.
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    logflood.install()
    config = DataDir(root).load_config()
    asyncio.run(
        serve_until_signalled(
            create_app(root, engine=engine),
            host=host,
            port=port,
            header_timeout_s=config.header_timeout_s,
            shutdown_grace_s=config.shutdown_grace_s,
        )
    )
