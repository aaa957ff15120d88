"""The running gateway: its configuration, keys, storage and pools, in one place.

:class:`Gateway` is the composition root that handlers and background
workers share. Opening it does the work; importing this module does none.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
from pathlib import Path

from gateway.config import Config, DataDir
from gateway.crypto.keys import SigningKey, load_signing_key
from gateway.crypto.seal import StorageKey
from gateway.store import BlobStore, Database

IO_THREADS = 8  # blob writes and reads: fsync-bound, not CPU-bound


class Gateway:
    """Everything one gateway process holds open."""

    def __init__(self, root: Path) -> None:
        self.data = DataDir(root)
        self.config: Config = self.data.load_config()
        self.signing_key: SigningKey = load_signing_key(self.data.signing_key_path)
        storage_key = StorageKey.load(self.data.storage_key_path)
        self.db = Database(self.data.database)
        self.blobs = BlobStore(self.data.blobs, storage_key)
        self.blobs.clear_staging()
        self.data.tmp.mkdir(mode=0o700, exist_ok=True)
        os.chmod(self.data.tmp, 0o700)
        self.io_pool = concurrent.futures.ThreadPoolExecutor(
            IO_THREADS, thread_name_prefix="dxg-io"
        )
        self._wakeups: list[asyncio.Event] = []

    def wakeup(self) -> asyncio.Event:
        """An event of one background worker's own, set by :meth:`wake_workers`."""
        event = asyncio.Event()
        self._wakeups.append(event)
        return event

    def wake_workers(self) -> None:
        """Tell background workers (extraction, notification) there is new work."""
        for event in self._wakeups:
            event.set()

    def close(self) -> None:
        self.io_pool.shutdown(wait=True)
        self.db.close()


async def idle(event: asyncio.Event, timeout: float) -> None:
    """Wait until ``event`` is set or ``timeout`` passes, then clear it."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout)
    event.clear()
