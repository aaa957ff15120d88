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

from gateway.protocol.crypto.keys import SigningKey, load_signing_key
from gateway.protocol.crypto.seal import StorageKey
from gateway.server import cases
from gateway.server.config import Config, DataDir
from gateway.server.store import BlobStore, Database

IO_THREADS = 8  # blob writes and reads: fsync-bound, not CPU-bound


class Gateway:
    """Everything one gateway process holds open."""

    EXTRACTION = "extraction"  # a packet was ACCEPTED
    NOTIFY = "notify"  # a packet became READY

    def __init__(self, root: Path) -> None:
        self.data = DataDir(root)
        self.config: Config = self.data.load_config()
        self.signing_key: SigningKey = load_signing_key(self.data.signing_key_path)
        storage_key = StorageKey.load(self.data.storage_key_path)
        self.db = Database(self.data.database)
        self.db.write_sync(cases.create_tables)
        self.blobs = BlobStore(self.data.blobs, storage_key)
        referenced = self.db.read_sync(
            lambda c: {r[0] for r in c.execute("SELECT blob_dir FROM packets")}
        )
        self.blobs.sweep(referenced)  # uploads that never committed: a crash or a lost race
        self.data.tmp.mkdir(mode=0o700, exist_ok=True)
        os.chmod(self.data.tmp, 0o700)
        self.io_pool = concurrent.futures.ThreadPoolExecutor(
            IO_THREADS, thread_name_prefix="dxg-io"
        )
        self._wakeups: dict[str, asyncio.Event] = {}

    def wakeup(self, worker: str) -> asyncio.Event:
        """The event that tells background ``worker`` there is new work for it."""
        return self._wakeups.setdefault(worker, asyncio.Event())

    def wake(self, worker: str) -> None:
        """Tell background ``worker`` (:attr:`EXTRACTION`, :attr:`NOTIFY`) to look now."""
        self.wakeup(worker).set()

    def close(self) -> None:
        self.io_pool.shutdown(wait=True)
        self.db.close()


async def idle(event: asyncio.Event, timeout: float) -> None:
    """Wait until ``event`` is set or ``timeout`` passes, then clear it."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout)
    event.clear()
