"""Disk space: a full disk refuses writes with 507 and never stops the gateway.

A gateway whose disk fills must keep what it acknowledged, keep serving what
it holds (deliveries, receipts, the log) and refuse new writes with a
temporary error (507 ``InsufficientStorage``, ``Retry-After``), and it must
still start: SQLite needs room for its write-ahead log and shared memory
before it reads anything.

So the data directory keeps a ballast file, ``reserve`` (:data:`RESERVE_BYTES`
of real blocks). When free space falls below :data:`LOW_WATER_BYTES` the
gateway is *full*: ``/readyz`` answers 503, intake 507. At start-up on a
full disk the ballast is given up, which is what lets the database open; it
is made again once space has returned (:meth:`Space.restore_reserve`, run
by a supervised worker). A write that meets ENOSPC or SQLITE_FULL anyway (the
disk filled during an upload) is recognised by :func:`is_storage_full` and
answered 507 as well.
"""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
from pathlib import Path

log = logging.getLogger(__name__)

RESERVE_BYTES = 8 * 1024 * 1024  # SQLite's WAL and shared memory, a checkpoint, some receipts
LOW_WATER_BYTES = 4 * 1024 * 1024  # below this nothing new is accepted: answers still fit
RESERVE_NAME = "reserve"
FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


def is_storage_full(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) says the disk or quota is full."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in FULL_ERRNOS:
            return True
        if isinstance(current, sqlite3.Error):
            code = getattr(current, "sqlite_errorcode", None)
            if code is not None and code & 0xFF == sqlite3.SQLITE_FULL:
                return True
            if "disk is full" in str(current):
                return True
        current = current.__cause__ or current.__context__
    return False


class Space:
    """Free space of one data directory and its ballast file."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.reserve = root / RESERVE_NAME

    def free_bytes(self) -> int:
        stat = os.statvfs(self.root)
        return stat.f_bavail * stat.f_frsize

    def full(self, *, needed: int = 0) -> bool:
        """Whether writing ``needed`` more bytes would pass the low-water mark.

        A released reserve counts as used: the gateway that gave it up to
        start on a full disk stays read-only until the reserve is back.
        """
        missing = 0 if self.reserve.exists() else RESERVE_BYTES
        return self.free_bytes() - needed - missing < LOW_WATER_BYTES

    def release_reserve(self) -> bool:
        """Give the ballast's space back (start-up on a full disk); whether there was one."""
        try:
            self.reserve.unlink()
        except FileNotFoundError:
            return False
        log.warning("disk full: released the %d-byte reserve so that the gateway can start",
                    RESERVE_BYTES)
        return True

    def restore_reserve(self) -> bool:
        """Make the ballast if it is missing and space allows; whether it exists now."""
        if self.reserve.exists():
            return True
        if self.free_bytes() < RESERVE_BYTES + 2 * LOW_WATER_BYTES:
            return False
        partial = self.reserve.with_suffix(".tmp")
        try:
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                block = bytes(1 << 20)
                for _ in range(RESERVE_BYTES // len(block)):  # real blocks, not a sparse file
                    os.write(fd, block)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(partial, self.reserve)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            if exc.errno in FULL_ERRNOS:
                return False
            raise
        return True
