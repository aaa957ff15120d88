"""Background workers run supervised: an unexpected exception restarts them.

The notifier, the expirer, the extraction loop, the jti pruner, the receipt
log and the storage watcher each run for the life of the process. A worker
that raised used to stay dead (one ENOSPC and the replay cache was never
pruned again). :func:`supervise` runs a worker, and when it raises (or
returns, which a worker never should) logs one line, counts the restart in
``dxg_worker_restarts_total{worker}`` and starts it again after a backoff
that doubles up to :data:`RESTART_MAX_S`, reset once a run has lasted
:data:`HEALTHY_AFTER_S`. Only cancellation (shutdown) ends it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from prometheus_client import Counter

log = logging.getLogger(__name__)

RESTART_BASE_S = 0.5  # the first restart comes quickly: most failures are transient
RESTART_MAX_S = 30.0  # a worker failing for good is retried twice a minute, not in a loop
HEALTHY_AFTER_S = 60.0  # a run this long counts as recovered: the backoff starts over


async def supervise(
    name: str,
    run: Callable[[], Awaitable[None]],
    restarts: Counter,
    *,
    base_s: float = RESTART_BASE_S,
) -> None:
    """Run ``run()`` until cancelled, restarting it whenever it ends.

    ``restarts`` is labelled by worker name; its label is created at once, so
    a worker that never failed shows 0.
    """
    counter = restarts.labels(name)
    loop = asyncio.get_running_loop()
    failures = 0
    while True:
        started = loop.time()
        try:
            await run()
            outcome = "returned"
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # The class only: an exception's text may quote data it was handling.
            outcome = f"failed ({type(exc).__name__})"
            log.debug("worker %s traceback", name, exc_info=True)
        failures = 1 if loop.time() - started >= HEALTHY_AFTER_S else failures + 1
        delay = min(RESTART_MAX_S, base_s * 2 ** (failures - 1))
        counter.inc()
        log.error("worker %s %s; restarting in %.1f s", name, outcome, delay)
        await asyncio.sleep(delay)
