"""HTTP handlers of the receipt log (SPEC §7), and the log service's lifecycle.

Every route here is under ``/v1`` and so authenticated by the gateway's auth
middleware: parties and monitors alike may read the log, which holds
receipts: ids, digests, part names and times, no dossier content. Only
monitors post cosignatures.

Routes:

* ``GET /v1/log/checkpoint[?size=N]``: the latest signed checkpoint (or the
  one the gateway signed at size ``N``), ``text/plain``, with the
  cosignature lines monitors have given it appended;
* ``GET /v1/log/entries?start=I&end=J``: ``{"entries":[<receipt JWS>...]}``,
  half-open, at most 1000, clipped to the integrated size;
* ``GET /v1/log/proof/inclusion?index=I&size=N``: ``{"index","size","hashes"}``;
* ``GET /v1/log/proof/consistency?from=M&to=N``: ``{"from","to","hashes"}``;
* ``POST /v1/log/cosignatures[?size=N]`` (monitors): body one C2SP
  cosignature/v1 line, ``text/plain``, key name = the monitor's id, over the
  checkpoint of size ``N`` (default: the latest). ``201 {"size"}`` when
  stored, ``200`` when already held.

Bad parameters answer 400 ``bad-request``; sizes beyond what the log has
integrated (or signed) answer 404 ``not-found``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from gateway.protocol.errors import BadRequest, UnsupportedMediaType
from gateway.server.api import GATEWAY, caller, int_query, media_type, optional_int, read_body
from gateway.server.log_service import MAX_COSIGNATURE_LINE, LogService
from gateway.server.storage import is_storage_full

log = logging.getLogger(__name__)

LOG: web.AppKey[LogService] = web.AppKey("receipt-log", LogService)
NOTE_MEDIA_TYPE = "text/plain; charset=utf-8"

routes = web.RouteTableDef()


@routes.get("/v1/log/checkpoint")
async def get_checkpoint(request: web.Request) -> web.Response:
    caller(request)
    size = optional_int(request, "size")
    note = await request.app[LOG].checkpoint_note(size)
    return web.Response(
        text=note, content_type="text/plain", charset="utf-8", headers={"Cache-Control": "no-store"}
    )


@routes.get("/v1/log/entries")
async def get_entries(request: web.Request) -> web.Response:
    caller(request)
    start, end = int_query(request, "start"), int_query(request, "end")
    entries = await request.app[LOG].entries(start, end)
    return web.json_response({"entries": [e.decode("ascii") for e in entries]})


@routes.get("/v1/log/proof/inclusion")
async def get_inclusion(request: web.Request) -> web.Response:
    caller(request)
    index, size = int_query(request, "index"), int_query(request, "size")
    proof = await request.app[LOG].inclusion(index, size)
    return web.json_response(proof.to_json())


@routes.get("/v1/log/proof/consistency")
async def get_consistency(request: web.Request) -> web.Response:
    caller(request)
    old, new = int_query(request, "from"), int_query(request, "to")
    proof = await request.app[LOG].consistency(old, new)
    return web.json_response(proof.to_json())


@routes.post("/v1/log/cosignatures")
async def post_cosignature(request: web.Request) -> web.Response:
    monitor = caller(request, role="monitor")
    size = optional_int(request, "size")
    if media_type(request) != "text/plain":
        raise UnsupportedMediaType("a cosignature is sent as text/plain")
    # One line and its newline; read whole however the network splits it.
    raw = await read_body(request, MAX_COSIGNATURE_LINE + 1, "a cosignature line")
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest("a cosignature line is UTF-8") from exc
    status, signed_size = await request.app[LOG].add_cosignature(monitor, line, size)
    return web.json_response({"size": signed_size}, status=status)


StartWorker = Callable[[web.Application, str, Callable[[], Awaitable[None]]], asyncio.Task[None]]


def lifecycle(start_worker: StartWorker) -> Callable[[web.Application], AsyncIterator[None]]:
    """A ``cleanup_ctx`` that opens the log service and runs it as a worker.

    Append it after the context that opens the :class:`Gateway`;
    ``start_worker`` runs it supervised, where ``/readyz`` watches it.
    """

    async def context(app: web.Application) -> AsyncIterator[None]:
        service = await asyncio.to_thread(LogService, app[GATEWAY])
        app[LOG] = service
        try:
            await service.step()  # ready means a checkpoint is there to serve
        except Exception as exc:
            if not is_storage_full(exc):
                raise
            # A full disk: serve what is signed already; the worker retries.
            log.warning("disk full: the receipt log is not integrated at start-up")
        task = start_worker(app, "receipt-log", service.run)
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await asyncio.to_thread(service.close)

    return context
