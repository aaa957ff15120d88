"""How the gateway meets the network: connections, parser errors, and a drain on SIGTERM.

aiohttp parses HTTP/1.1 before any middleware runs; what it refuses (a 100 KB
header line, 10,000 headers, bad framing) it answers itself, in text/plain,
and logs with a traceback. :class:`GatewayRequestHandler` answers those as
every other error, RFC 9457 ``application/problem+json`` (SPEC §8), with a
one-line log that :mod:`gateway.server.logflood` bounds. It also:

- closes a connection whose request headers do not arrive within
  ``header_timeout_s`` (aiohttp's keep-alive timer, armed from the
  connection's first byte), so slow header senders cannot hold it open;
- refuses connections past :func:`connection_cap`, derived from the
  process's descriptor limit, so that a flood of connections never leaves
  the gateway without a descriptor for its database, blobs or sandboxes.

:func:`serve_until_signalled` runs the application: on SIGTERM or SIGINT it
stops accepting, lets the requests in flight (uploads included) finish within
``shutdown_grace_s``, then closes what is left and returns, so the process
exits 0.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import signal
from typing import Any

from aiohttp import web, web_protocol
from aiohttp.web_request import BaseRequest

from gateway.protocol.errors import ERRORS_BY_STATUS, BadRequest, DXGError

log = logging.getLogger(__name__)

# asyncio accepts up to the backlog in one go before any connection reaches
# the cap below, and a refused connection's descriptor is released only a loop
# iteration or two after it was accepted; on a loaded machine a few bursts are
# in flight at once (the slowloris test saw EMFILE with room for one). So the
# reserve keeps three bursts' worth of descriptors free as well.
BACKLOG = 32
FD_RESERVE = 64 + 3 * BACKLOG  # the database, blobs, sandboxes, pipes, logs, accept bursts
MAX_CONNECTIONS = 4096  # a government exchange has a few dozen clients, not thousands
MIN_CONNECTIONS = 16  # even under a tiny descriptor limit, serve someone
# After an error answer, the unread rest of a body is read (and dropped) this
# long so that the client sees the answer, not a reset; aiohttp's 10 s let a
# stalled upload hold its connection 10 s past the 408.
LINGER_S = 1.0
FINAL_CLOSE_S = 2.0  # after the grace: how long a handler gets once it is cancelled


def raise_descriptor_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard one; the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


def connection_cap(descriptors: int) -> int:
    """How many connections the gateway holds at once under ``descriptors``."""
    return max(MIN_CONNECTIONS, min(MAX_CONNECTIONS, descriptors - FD_RESERVE))


class InFlight:
    """Counts requests being handled, so that a drain can wait for them."""

    def __init__(self) -> None:
        self.count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def enter(self) -> None:
        self.count += 1
        self._idle.clear()

    def exit(self) -> None:
        self.count -= 1
        if self.count == 0:
            self._idle.set()

    async def wait_idle(self, timeout: float) -> bool:
        """Wait until no request is in flight; False if ``timeout`` passed first."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True


INFLIGHT: web.AppKey[InFlight] = web.AppKey("inflight", InFlight)
DRAINING: web.AppKey[asyncio.Event] = web.AppKey("draining", asyncio.Event)

PARSER_DETAIL = (
    "the request is not HTTP/1.1 this gateway reads: a line or header too long, too many "
    "headers, or bad framing"
)


class GatewayRequestHandler(web_protocol.RequestHandler):
    """aiohttp's connection handler, with a connection cap and problem+json parser errors."""

    def __init__(self, manager: Any, *, max_connections: int, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._max_connections = max_connections

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        manager = self._manager
        if manager is not None and len(manager.connections) > self._max_connections:
            log.warning("connection refused: %d connections open, the cap", self._max_connections)
            self.force_close()
            transport.close()

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        # One bounded line: the class of the failure, never the bytes received.
        log.warning("refused before routing: HTTP %d (%s)", status, type(exc).__name__)
        if request.writer.output_size > 0:
            raise ConnectionError("the answer had begun; the connection is closed")
        if status >= 500:
            err: DXGError = DXGError("the gateway failed; retry")
        else:
            err = ERRORS_BY_STATUS.get(status, BadRequest)(PARSER_DETAIL)
        err.status = status
        response = web.json_response(
            err.problem(), status=status, content_type="application/problem+json"
        )
        response.force_close()
        return response


async def serve_until_signalled(
    app: web.Application,
    *,
    host: str,
    port: int,
    header_timeout_s: float,
    shutdown_grace_s: float,
) -> None:
    """Serve ``app`` until SIGTERM or SIGINT, then drain and return.

    The drain: stop listening (new connections are refused), let requests in
    flight finish for up to ``shutdown_grace_s`` (answers then close their
    connections), then close everything and run the application's clean-up.
    """
    loop = asyncio.get_running_loop()
    app[INFLIGHT] = InFlight()
    app[DRAINING] = asyncio.Event()
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=FINAL_CLOSE_S)
    await runner.setup()
    server = runner.server
    assert server is not None
    cap = connection_cap(raise_descriptor_limit())

    def handler() -> GatewayRequestHandler:
        return GatewayRequestHandler(
            server,
            loop=loop,
            max_connections=cap,
            keepalive_timeout=header_timeout_s,
            lingering_time=LINGER_S,
            access_log=None,
        )

    listener = await loop.create_server(
        handler, host, port, backlog=BACKLOG, reuse_address=True
    )
    log.info("serving on http://%s:%d (at most %d connections)", host, port, cap)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
        log.info("stopping: no new connections; %d requests in flight", app[INFLIGHT].count)
        listener.close()
        app[DRAINING].set()
        if not await app[INFLIGHT].wait_idle(shutdown_grace_s):
            log.warning("%d requests still in flight after %g s; closing them",
                        app[INFLIGHT].count, shutdown_grace_s)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await runner.cleanup()
        await listener.wait_closed()
    log.info("stopped")
