"""The log service: integrates receipts into the Merkle tree and signs checkpoints.

The gateway core writes each receipt's exact JWS bytes into ``log_entries``
in the transaction that records the receipt (``gateway.server.receipts.append``);
nothing on the request path touches the tree. This service, a background
task of the gateway process, does the rest (SPEC §7):

* it folds new entries into the :class:`~gateway.server.log.MerkleLog` in batches,
  on a thread of its own, off the event loop;
* whenever the integrated size grew, it signs a new C2SP checkpoint with the
  gateway's Ed25519 key (note key name = origin line = ``config.origin``) and
  stores it durably in ``log_checkpoints`` before serving it, so a restarted
  gateway serves the latest checkpoint it ever signed, never an older one;
* it checks and stores monitors' cosignatures (``log_cosignatures``) and
  serves them as further signature lines of the checkpoint they sign.

Invariants:

* A checkpoint is signed only over a size the tree has integrated, so every
  proof the log serves for a signed size can be produced.
* Checkpoints are signed at least every :data:`SIGN_INTERVAL_S` while
  entries arrive, and only when the size grew: one checkpoint per size, so
  ``(size)`` names the checkpoint and its body is fixed.
* Cosigner key names are monitor ids. A cosignature is accepted only from a
  registered monitor, over a checkpoint this gateway signed, verified with an
  Ed25519 ``sig`` key of that monitor that is valid now (cosignature/v1 key
  ID: type 0x04, name = monitor id). A monitor's newer cosignature of the
  same checkpoint replaces its older one.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import psycopg

from gateway.protocol import checkpoint
from gateway.protocol.checkpoint import CosignerKey, NoteKey, VerifiedCheckpoint
from gateway.protocol.clock import format_time, now
from gateway.protocol.errors import BadRequest, Forbidden, Invalid, NotFound
from gateway.protocol.merkle import ConsistencyProof, InclusionProof
from gateway.server import registry
from gateway.server.log import MerkleLog
from gateway.server.service import Gateway
from gateway.server.sql import Connection, advisory_key, connect_postgres

log = logging.getLogger(__name__)

T = TypeVar("T")

SIGN_INTERVAL_S = 0.5  # SPEC §7 wants a fresh checkpoint at least once a second under load
LEASE_NAME = "receipt-log-lease"  # the advisory lock every node of one database contends for
INTEGRATE_BATCH = 5_000  # entries per integration transaction: ~4 MB, well under a second
READ_THREADS = 4  # proofs are O(log n) look-ups: a few threads serve many monitors
MAX_COSIGNATURE_LINE = 512  # "— <name ≤ 32> <base64 of 4+8+64 bytes>" is ~140 bytes
CHECKPOINT_HISTORY = 10_000  # signed checkpoints kept besides cosigned ones (~3 h at 1/s)



@dataclass(frozen=True, slots=True)
class SignedCheckpoint:
    """A checkpoint the gateway signed: its size and the signed note."""

    size: int
    note: str
    signed_at: str


class LogService:
    """The receipt log of one gateway process: tree, checkpoints, cosignatures.

    Open it after the :class:`~gateway.server.service.Gateway`, run :meth:`run` as a
    background task, and :meth:`close` it before the gateway.
    """

    def __init__(self, gw: Gateway) -> None:
        self.gw = gw
        self.origin = gw.config.origin
        self.key = NoteKey(name=self.origin, public=gw.signing_key.public)
        # The tables are made by gateway.server.migrations when the gateway opens.
        self.tree = MerkleLog(gw.db.target)
        # One writer thread (the tree allows one), a few readers: each thread
        # keeps its own SQLite connection, so the pools bound the connections.
        self._writer = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="dxg-log-w")
        self._readers = concurrent.futures.ThreadPoolExecutor(
            READ_THREADS, thread_name_prefix="dxg-log-r"
        )
        self._latest: SignedCheckpoint | None = gw.db.read_sync(_latest_checkpoint)
        # SQLite: one process owns the file, so it always integrates. PostgreSQL:
        # whichever node holds the lease does; the others serve what it signed.
        self.lease: LogLease | None = LogLease(str(gw.db.target)) if gw.db.postgres else None

    @property
    def holds_lease(self) -> bool:
        """Whether this node integrates and signs the log now (always, on SQLite)."""
        return self.lease is None or self.lease.held

    def close(self) -> None:
        """Stop the threads, give up the lease and close the tree's connections."""
        if self.lease is not None:
            self._writer.submit(self.lease.release)
        self._writer.shutdown(wait=True)
        self._readers.shutdown(wait=True)
        self.tree.close()

    # -- the background task -----------------------------------------------

    async def run(self) -> None:
        """Integrate and sign until cancelled."""
        while True:
            try:
                more = await self.step()
            except Exception:
                # Ids and sizes only ever reach this log; entries are not printed.
                log.exception("integrating the receipt log failed; retrying")
                more = False
            if not more:
                await asyncio.sleep(SIGN_INTERVAL_S)

    async def step(self) -> bool:
        """Integrate one batch and sign a checkpoint if the tree grew.

        On PostgreSQL only the node holding the log lease does so; any other
        node reloads the latest checkpoint the holder signed, to serve it.

        Returns:
            Whether a full batch was integrated (so more may be waiting).
        """
        if self.lease is not None:
            lease = self.lease
            had = lease.held
            if not await self._on_writer(lease.try_hold):
                self._latest = await self.gw.db.read(_latest_checkpoint)
                return False
            if not had:  # taken over: continue from what the last holder signed
                log.info("this node now holds the receipt log's lease")
                self._latest = await self.gw.db.read(_latest_checkpoint)
        size = await self._on_writer(self.tree.size)
        added = 0
        # Look before taking SQLite's write lock: an idle log costs one read.
        if await self.gw.db.read(_entry_count) > size:
            added = await self._on_writer(lambda: self.tree.integrate(INTEGRATE_BATCH))
            size = await self._on_writer(self.tree.size)
        latest = self._latest
        if latest is None or size > latest.size:
            await self._sign(size)
        return added == INTEGRATE_BATCH

    async def _sign(self, size: int) -> SignedCheckpoint:
        root = await self._on_writer(lambda: self.tree.root(size))
        note = checkpoint.sign_checkpoint(self.origin, size, root, self.gw.signing_key)
        signed = SignedCheckpoint(size=size, note=note, signed_at=format_time(now()))
        # Durable before served: a restart must never serve an older checkpoint.
        await self.gw.db.write(lambda c: _store_checkpoint(c, signed))
        self._latest = signed
        return signed

    # -- serving ---------------------------------------------------------------

    async def _on_writer(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._writer, fn)

    async def _on_reader(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._readers, fn)

    def signed_size(self) -> int:
        """The tree size of the latest signed checkpoint (0 before the first).

        ``GET /v1/stats`` computes from exactly these entries (SPEC §10), so
        a monitor holding the same checkpoint recomputes the same figures.
        """
        return 0 if self._latest is None else self._latest.size

    async def checkpoint_note(self, size: int | None = None) -> str:
        """The signed checkpoint (latest, or of ``size``) with its cosignatures.

        Raises:
            NotFound: no checkpoint yet, or none was signed (or kept) at ``size``.
        """
        if size is None:
            signed = self._latest
            if signed is None:
                raise NotFound("the log has not signed a checkpoint yet")
        else:
            found = await self.gw.db.read(lambda c: _checkpoint_at(c, size))
            if found is None:
                raise NotFound("the gateway signed no checkpoint of that size")
            signed = found
        lines = await self.gw.db.read(lambda c: _cosignature_lines(c, signed.size))
        if not lines:
            return signed.note
        return checkpoint.add_signature_lines(signed.note, [line + "\n" for line in lines])

    async def entries(self, start: int, end: int) -> list[bytes]:
        """See :meth:`MerkleLog.entries`."""
        return await self._on_reader(lambda: self.tree.entries(start, end))

    async def inclusion(self, index: int, size: int) -> InclusionProof:
        """See :meth:`MerkleLog.inclusion`."""
        return await self._on_reader(lambda: self.tree.inclusion(index, size))

    async def consistency(self, old_size: int, new_size: int) -> ConsistencyProof:
        """See :meth:`MerkleLog.consistency`."""
        return await self._on_reader(lambda: self.tree.consistency(old_size, new_size))

    # -- cosignatures ------------------------------------------------------------

    async def add_cosignature(
        self, monitor: registry.Party, line: str, size: int | None
    ) -> tuple[int, int]:
        """Verify and store a monitor's cosignature of a checkpoint the gateway signed.

        Args:
            monitor: the authenticated caller; must hold the monitor role.
            line: one C2SP cosignature/v1 signature line, name = monitor id.
            size: the size of the cosigned checkpoint; default the latest.

        Returns:
            (201 for a new or newer cosignature, 200 for one already held; the size).

        Raises:
            Forbidden: the caller is not a monitor.
            BadRequest: not one signature line.
            NotFound: no checkpoint of that size.
            Invalid: not by this monitor's valid key, or it does not verify.
        """
        if not monitor.has_role("monitor"):
            raise Forbidden("only monitors cosign checkpoints")
        line = line.removesuffix("\n")
        if not line or "\n" in line or len(line) > MAX_COSIGNATURE_LINE:
            raise BadRequest("a cosignature is one C2SP signature line")
        if size is None:
            if self._latest is None:
                raise NotFound("the log has not signed a checkpoint yet")
            size = self._latest.size
        target = await self.gw.db.read(lambda c: _checkpoint_at(c, size))
        if target is None:
            raise NotFound("the gateway signed no checkpoint of that size")
        verified = checkpoint.verify_checkpoint(target.note, log_key=self.key)
        at = now()
        keys = await self.gw.db.read(lambda c: _cosigner_keys(c, monitor.id, at))
        cosig = _verify_by_any(verified, line, keys)
        return await self.gw.db.write(
            lambda c: (_store_cosignature(c, size, monitor.id, line, cosig.timestamp, at), size)
        )


class LogLease:
    """The right to integrate and sign the shared log: a PostgreSQL advisory lock.

    A session-level lock on a connection of its own: the server releases it
    the moment that connection ends, so a node that dies (SIGKILL, power,
    network) frees it and another takes it at its next :meth:`try_hold`,
    within :data:`SIGN_INTERVAL_S`. Used by one thread only (the log writer).
    """

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._conn: psycopg.Connection[Any] | None = None
        self.held = False

    def try_hold(self) -> bool:
        """Take the lease if it is free, or confirm it is still ours; whether we hold it."""
        try:
            if self._conn is None or self._conn.broken or self._conn.closed:
                self.held = False
                self._conn = connect_postgres(self._dsn)
            if self.held:
                self._conn.execute("SELECT 1")  # our session lives: the lock is ours
            else:
                row = self._conn.execute(
                    "SELECT pg_try_advisory_lock(%s)", (advisory_key(LEASE_NAME),)
                ).fetchone()
                self.held = bool(row and row[0])
        except psycopg.Error:
            log.warning("the receipt log's lease connection failed; reconnecting")
            self.release()
        return self.held

    def release(self) -> None:
        """Give the lease up (closing the session releases the lock)."""
        self.held = False
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _verify_by_any(
    verified: VerifiedCheckpoint, line: str, keys: list[CosignerKey]
) -> checkpoint.Cosignature:
    """The cosignature ``line`` over ``verified``, by one of ``keys``.

    Raises:
        Invalid: malformed, by none of the keys, or it does not verify.
    """
    note = verified.body.decode("utf-8") + "\n" + line + "\n"
    try:
        opened = checkpoint.open_note(note, keys=[], cosigners=keys)
    except Invalid as exc:
        raise Invalid(
            f"the cosignature does not verify with a valid key of this monitor"
            f" (cosignature/v1, key name = monitor id): {exc.detail}"
        ) from exc
    return opened.cosignatures[0]


def _cosigner_keys(conn: Connection, monitor_id: str, at: datetime) -> list[CosignerKey]:
    return [
        CosignerKey(name=monitor_id, public=record.key)
        for record in registry.keys_of(conn, monitor_id)
        if record.use == "sig" and record.problem_at(at) is None
    ]


def _store_checkpoint(conn: Connection, signed: SignedCheckpoint) -> None:
    conn.execute(
        "INSERT OR IGNORE INTO log_checkpoints (size, note, signed_at) VALUES (?, ?, ?)",
        (signed.size, signed.note, signed.signed_at),
    )
    # Bounded history: the newest CHECKPOINT_HISTORY, and every cosigned one.
    conn.execute(
        "DELETE FROM log_checkpoints WHERE size < ? - ?"
        " AND size NOT IN (SELECT size FROM log_cosignatures)",
        (signed.size, CHECKPOINT_HISTORY),
    )


def _store_cosignature(
    conn: Connection, size: int, cosigner: str, line: str, timestamp: int, at: datetime
) -> int:
    row = conn.execute(
        "SELECT line, timestamp FROM log_cosignatures WHERE size = ? AND cosigner = ?",
        (size, cosigner),
    ).fetchone()
    if row is not None and (row[0] == line or row[1] >= timestamp):
        return 200  # the same statement, or an older one than we hold
    conn.execute(
        "INSERT OR REPLACE INTO log_cosignatures (size, cosigner, line, timestamp, added_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (size, cosigner, line, timestamp, format_time(at)),
    )
    return 201


def _entry_count(conn: Connection) -> int:
    # idx is the primary key: MAX is one index look-up, not a scan.
    return int(conn.execute("SELECT COALESCE(MAX(idx) + 1, 0) FROM log_entries").fetchone()[0])


def _latest_checkpoint(conn: Connection) -> SignedCheckpoint | None:
    row = conn.execute(
        "SELECT size, note, signed_at FROM log_checkpoints ORDER BY size DESC LIMIT 1"
    ).fetchone()
    return None if row is None else SignedCheckpoint(int(row[0]), row[1], row[2])


def _checkpoint_at(conn: Connection, size: int) -> SignedCheckpoint | None:
    row = conn.execute(
        "SELECT size, note, signed_at FROM log_checkpoints WHERE size = ?", (size,)
    ).fetchone()
    return None if row is None else SignedCheckpoint(int(row[0]), row[1], row[2])


def _cosignature_lines(conn: Connection, size: int) -> list[str]:
    rows = conn.execute(
        "SELECT line FROM log_cosignatures WHERE size = ? ORDER BY cosigner", (size,)
    ).fetchall()
    return [str(r[0]) for r in rows]
