"""A worker node: the database-backed background work of a gateway, without HTTP.

``gateway worker DIR`` opens the same data directory as ``gateway serve``
(a copy of a node's ``config.json`` and ``keys/``) and runs the workers
whose queues live in the shared PostgreSQL database: extraction (the CPU-
heavy part: OCR of every page), push notifications and expiry. It serves
no request and holds no part of the receipt log (the serving nodes'
log lease does that).

Guarantees, from the claims each worker takes in the database
(``gateway.server.extraction``, ``gateway.server.delivery``): any number
of worker and serving nodes share the queues without doing a job twice,
and a job claimed by a worker that dies (SIGKILL, power) is taken by
another node once the claim runs out. On SIGTERM or SIGINT a worker
cancels its jobs (removing their scratch plaintext), hands its extraction
claims back at once, and exits 0.

SQLite is refused: its queues are not shared between processes by claims,
so there ``gateway serve`` extracts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter

from gateway.protocol.errors import UsageError
from gateway.server.config import DataDir
from gateway.server.delivery import Expirer, Notifier
from gateway.server.extraction import Engine, ExtractionWorker
from gateway.server.service import Gateway
from gateway.server.supervisor import supervise

log = logging.getLogger(__name__)


def check_shared(root: Path) -> None:
    """Refuse a data directory whose database is not shared (SQLite).

    Raises:
        UsageError: the configuration names no PostgreSQL database.
    """
    if DataDir(root).load_config().database is None:
        raise UsageError(
            "gateway worker needs the PostgreSQL database several nodes share"
            " (config.json: database); on SQLite, gateway serve extracts"
        )


def run(root: Path, *, engine: Engine | None) -> None:
    """Run the workers until SIGTERM or SIGINT, then stop them and return.

    Raises:
        UsageError: the database is SQLite (:func:`check_shared`).
    """
    check_shared(root)
    asyncio.run(_work(root, engine))


async def _work(root: Path, engine: Engine | None) -> None:
    gw = await asyncio.to_thread(Gateway, root)
    restarts = Counter(
        "dxg_worker_restarts",
        "Background workers restarted after an unexpected exception",
        ["worker"],
        registry=CollectorRegistry(),  # nothing serves metrics here: the log line counts
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    runs: dict[str, Callable[[], Awaitable[None]]] = {
        "extraction": lambda: ExtractionWorker(gw, engine).run(),
        "notifier": lambda: Notifier(gw).run(),
        "expirer": lambda: Expirer(gw).run(),
        "blob-sweeper": gw.sweep_shared_blobs,  # a worker always shares its blob store
    }
    tasks = [asyncio.create_task(supervise(name, fn, restarts), name=name)
             for name, fn in runs.items()]  # fmt: skip
    log.info("worker node %s running: %s", gw.node_id, ", ".join(runs))
    try:
        await stop.wait()
        log.info("worker node %s stopping", gw.node_id)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await asyncio.to_thread(gw.close)
