"""Holding a database's one writer thread, so that writes queue up behind it."""

from __future__ import annotations

import threading
from concurrent.futures import Future

from gateway.server.sql import Connection
from gateway.server.store import Database


def hold_writer(db: Database, wait_s: float) -> tuple[threading.Event, Future[bool]]:
    """Occupy ``db``'s writer until the returned gate is set (or ``wait_s`` passes).

    Returns only once the writer is running the hold: a write submitted
    after that waits behind it, and all such writes form the next group.
    Returning at once after submitting would race the writer, which may take
    the hold and the first few queued writes into one group (this made the
    group-commit tests fail now and then, two transactions where one was
    expected).

    Raises:
        AssertionError: the writer did not start the hold within ``wait_s``.
    """
    started = threading.Event()
    gate = threading.Event()

    def hold(_conn: Connection) -> bool:
        started.set()
        return gate.wait(wait_s)

    busy = db.submit(hold)
    if not started.wait(wait_s):
        raise AssertionError(f"the database writer did not start a write within {wait_s} s")
    return gate, busy
