"""The running gateway: its configuration, keys, storage and pools, in one place.

:class:`Gateway` is the composition root that handlers and background
workers share. Opening it does the work; importing this module does none.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import secrets
import shutil
import sqlite3
from pathlib import Path

from gateway.protocol.crypto.keys import SigningKey, load_signing_key
from gateway.protocol.crypto.seal import StorageKey
from gateway.server import migrations, registry
from gateway.server.blobs import Blobs, is_s3, open_blobs
from gateway.server.config import Config, DataDir
from gateway.server.storage import Space, is_storage_full
from gateway.server.store import Database

log = logging.getLogger(__name__)

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
        self.space = Space(root)
        if self.space.full():
            self.space.release_reserve()  # SQLite needs room to open at all
        try:
            self.db = Database(self.data.database_target(self.config))
        except sqlite3.Error as exc:
            if not (is_storage_full(exc) or "disk I/O" in str(exc)) or not (
                self.space.release_reserve()
            ):
                raise
            self.db = Database(self.data.database_target(self.config))
        self.db.write_sync(migrations.migrate)
        # PostgreSQL: parties and keys by id kept here, emptied on every change by any node.
        self.registry: registry.RegistryCache | None = None
        if self.db.postgres:
            cache = registry.RegistryCache()
            self.db.listen(registry.CHANGED_CHANNEL, lambda live: cache.reset(live=live))
            self.registry = cache
        self.blobs: Blobs = open_blobs(self.data, self.config, storage_key)
        # Whether other nodes write into the same blob store.
        self.shared_blobs = self.db.postgres or is_s3(self.config.blobs)
        self.sweep_blobs()
        self.data.tmp.mkdir(mode=0o700, exist_ok=True)
        os.chmod(self.data.tmp, 0o700)
        clean_scratch(self.data.tmp)
        self.io_pool = concurrent.futures.ThreadPoolExecutor(
            IO_THREADS, thread_name_prefix="dxg-io"
        )
        self._wakeups: dict[str, asyncio.Event] = {}
        # This process among the nodes of one database (claims of shared work).
        self.node_id = secrets.token_hex(8)

    def sweep_blobs(self) -> int:
        """Remove uploads that never committed (a crash, a lost race); how many.

        A shared store also holds other nodes' uploads in flight, so there only
        those older than ``shared_sweep_min_age_s`` go. The packets' directories
        are read before the store is listed: a directory committed meanwhile
        is younger than that age, so it is spared.
        """
        referenced = self.db.read_sync(
            lambda c: {r[0] for r in c.execute("SELECT blob_dir FROM packets")}
        )
        min_age_s = self.config.shared_sweep_min_age_s if self.shared_blobs else 0
        return self.blobs.sweep(referenced, min_age_s=min_age_s)

    async def sweep_shared_blobs(self) -> None:
        """Sweep a shared blob store every ``shared_sweep_interval_s``, for good.

        A node that crashed mid-upload leaves its part files behind; without
        this they stayed until some node restarted.
        """
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.config.shared_sweep_interval_s)
            removed = await loop.run_in_executor(self.io_pool, self.sweep_blobs)
            if removed:
                log.info("blob store: removed %d upload(s) no packet names", removed)

    def wakeup(self, worker: str) -> asyncio.Event:
        """The event that tells background ``worker`` there is new work for it."""
        return self._wakeups.setdefault(worker, asyncio.Event())

    def wake(self, worker: str) -> None:
        """Tell background ``worker`` (:attr:`EXTRACTION`, :attr:`NOTIFY`) to look now."""
        self.wakeup(worker).set()

    def close(self) -> None:
        self.io_pool.shutdown(wait=True)
        self.db.close()


def clean_scratch(tmp: Path) -> int:
    """Remove everything in the scratch directory; how many entries were removed.

    Plaintext of parts lives in ``tmp/`` only while a part is extracted. A
    process killed meanwhile (SIGKILL, power loss) leaves it behind; nothing
    runs yet when this is called at start-up, so all of it is such a remnant.
    """
    removed = 0
    for entry in tmp.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed += 1
    return removed


async def idle(event: asyncio.Event, timeout: float) -> None:
    """Wait until ``event`` is set or ``timeout`` passes, then clear it."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout)
    event.clear()
