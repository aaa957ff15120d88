"""The extraction document (SPEC §4) and the worker that produces it.

Every accepted packet gets one extraction document, signed by the gateway
(``typ`` ``dxg-extraction+jws``) and bound to the exact envelope by its
SHA-256. For a ``dossier``, each PDF or image part goes through the
configured extractors (``gateway.server.ingestion``); other kinds and other parts
simply list no records. Extraction runs after ACCEPTED, off the event loop,
and never blocks delivery forever: past ``extraction_timeout_s`` the document
is issued with an error and the originals go through regardless.

A packet becomes READY in the same transaction that stores its signed
extraction document and its photos' rows; at that moment it enters the
recipient's inbox (``ready_seq``) and, if the recipient has an endpoint, the
notification queue.

Plaintext of a part exists outside the encrypted blob store only while it is
extracted, in the data directory's ``tmp/`` (mode 0700), and is removed on
every path: after the extraction, when it passes its deadline or the worker
is cancelled (SIGTERM), and at start-up for what a killed process left
(``service.clean_scratch``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from gateway.pluginspec import PartInput
from gateway.protocol import status
from gateway.protocol.case import CaseName
from gateway.protocol.clock import format_time, now
from gateway.protocol.crypto import jws
from gateway.protocol.crypto.digest import sha256_hex
from gateway.protocol.crypto.keys import SigningKey
from gateway.protocol.media import DOCUMENT_TYPES
from gateway.protocol.schemas import validate_extraction
from gateway.server import cases, timeline
from gateway.server.ingestion import IngestionResult
from gateway.server.service import Gateway, idle
from gateway.server.sql import Connection, PgConnection, serialize

log = logging.getLogger(__name__)

POLL_S = 5.0  # how often the worker looks for work when nobody wakes it
CLAIM_HOLD_S = 3 * POLL_S  # renewed every poll, so only a dead node's claim runs out
MAX_CONCURRENT_JOBS = 64  # packets between ACCEPTED and READY at once
RETRY_MAX_S = 600.0  # the longest wait before a failed extraction is tried again
RELEASE_WAIT_S = 5.0  # handing claims back at shutdown; an unreachable database must not hold it
ABORT_WAIT_S = 30.0  # killed sandboxes end in milliseconds; this only bounds a stuck join


class Engine(Protocol):
    """What the worker needs of the ingestion engine (``gateway.server.ingestion.Ingestor``)."""

    def extract(self, parts: Sequence[PartInput]) -> IngestionResult: ...

    def abort(self) -> None:
        """Stop the extraction under way (from another thread), sandboxes included."""


def _nothing(*, warnings: Sequence[str] = (), errors: Sequence[str] = ()) -> IngestionResult:
    return IngestionResult([], [], [], list(warnings), list(errors), {})


def document(
    *,
    packet_id: str,
    envelope_sha256: str,
    findings: IngestionResult,
    at: str,
    case_names: Sequence[CaseName] = (),
) -> dict[str, Any]:
    """The SPEC §4 extraction document, validated against its schema.

    Every record carries its ``case_id`` (SPEC §10): the one the dossier's
    ``body.cases`` names, or the one derived from its ``record_id``; a name
    that finds no record is said in ``warnings``.

    Raises:
        Invalid: the document breaks ``schemas/extraction.v1.json`` (a bug).
    """
    found = findings.document()
    records, warnings = cases.with_case_ids(packet_id, case_names, found["records"])
    doc = {
        "v": 1,
        "packet_id": packet_id,
        "envelope_sha256": envelope_sha256,
        "extracted_at": at,
        **found,
        "records": records,
        "warnings": [*found["warnings"], *warnings],
    }
    validate_extraction(doc)
    return doc


def sign_document(doc: dict[str, Any], key: SigningKey) -> str:
    return jws.sign_json(doc, key, typ=jws.TYP_EXTRACTION)


@dataclass(frozen=True, slots=True)
class _Job:
    packet_id: str
    kind: str
    created: str
    envelope_sha256: str
    blob_dir: str
    parts: list[tuple[str, str, str, bytes | None]]  # (part name, blob name, type, inline)
    case_names: tuple[CaseName, ...]  # a dossier's body.cases (SPEC §10)


def _next_jobs(conn: Connection, skip: set[str], limit: int) -> list[_Job]:
    """Up to ``limit`` packets waiting for extraction, oldest first, not in ``skip``."""
    rows = conn.execute(
        "SELECT packet_id, kind, created, envelope_sha256, blob_dir, envelope FROM packets"
        " WHERE status IN ('ACCEPTED', 'EXTRACTING') ORDER BY accepted_at LIMIT ?",
        (limit + len(skip),),
    ).fetchall()
    return _jobs(conn, [row for row in rows if row[0] not in skip][:limit])


def _jobs(conn: Connection, chosen: Sequence[Sequence[Any]]) -> list[_Job]:
    """The jobs of packet rows (packet_id, kind, created, envelope_sha256, blob_dir, envelope)."""
    jobs = []
    for row in chosen:  # parts only for the packets taken now
        parts = conn.execute(
            "SELECT part_name, name, media_type, inline FROM blobs"
            " WHERE packet_id = ? AND role = 'part' ORDER BY position",
            (row[0],),
        ).fetchall()
        names = cases.case_names(row[5]) if row[1] == "dossier" else ()
        jobs.append(
            _Job(row[0], row[1], row[2], row[3], row[4], [tuple(p) for p in parts], names)
        )
    return jobs


_CLAIMABLE = (
    "SELECT packet_id FROM packets WHERE status IN ('ACCEPTED', 'EXTRACTING')"
    " AND (claimed_until IS NULL OR claimed_until < ? OR claimed_by = ?)"
    " ORDER BY accepted_at LIMIT ?"
)


def _claim_jobs(
    conn: Connection, *, node: str, skip: set[str], limit: int, at: datetime, hold_s: float
) -> list[_Job]:
    """Claim up to ``limit`` waiting packets for this node (several nodes, one database).

    A packet is free if nobody claimed it, its claim ran out (the claiming
    node died or gave up) or this node claimed it before (a retry). Rows
    another node is claiming right now are skipped, not waited for
    (``FOR UPDATE SKIP LOCKED``); a claim lasts ``hold_s`` and every call
    renews this node's claims, so only a dead node's claims run out.
    """
    sql = _CLAIMABLE + (" FOR UPDATE SKIP LOCKED" if isinstance(conn, PgConnection) else "")
    rows = conn.execute(sql, (format_time(at), node, limit + len(skip))).fetchall()
    chosen = [row[0] for row in rows if row[0] not in skip][:limit]
    until = format_time(at + timedelta(seconds=hold_s))
    conn.execute(  # renew what this node holds (in flight, or waiting for a retry)
        "UPDATE packets SET claimed_until = ? WHERE claimed_by = ?"
        " AND status IN ('ACCEPTED', 'EXTRACTING')",
        (until, node),
    )
    for packet_id in chosen:
        conn.execute(
            "UPDATE packets SET claimed_by = ?, claimed_until = ? WHERE packet_id = ?",
            (node, until, packet_id),
        )
    rows = [
        conn.execute(
            "SELECT packet_id, kind, created, envelope_sha256, blob_dir, envelope FROM packets"
            " WHERE packet_id = ?",
            (packet_id,),
        ).fetchone()
        for packet_id in chosen
    ]
    return _jobs(conn, rows)


def _release_claims(conn: Connection, *, node: str) -> None:
    """Hand back this node's unfinished claims (it stops cleanly, SIGTERM)."""
    conn.execute(
        "UPDATE packets SET claimed_by = NULL, claimed_until = NULL WHERE claimed_by = ?"
        " AND status IN ('ACCEPTED', 'EXTRACTING')",
        (node,),
    )


class ExtractionWorker:
    """Takes ACCEPTED packets and makes them READY.

    Jobs run concurrently, so their database writes share group commits;
    the ingestion engine itself runs one packet at a time (it spreads a
    packet's pages over the cores). A job that fails is retried with
    exponential backoff: the packet stays ACCEPTED/EXTRACTING, never lost.
    """

    def __init__(self, gw: Gateway, engine: Engine | None) -> None:
        self.gw = gw
        self.engine = engine
        self._wakeup = gw.wakeup(gw.EXTRACTION)
        self._engine_slot = asyncio.Semaphore(1)
        self._in_flight: set[str] = set()
        self._failures: dict[str, int] = {}
        self._retry_at: dict[str, float] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        try:
            while True:
                room = MAX_CONCURRENT_JOBS - len(self._in_flight)
                if room <= 0 and not self.gw.db.postgres:  # a finishing job wakes us
                    await idle(self._wakeup, POLL_S)
                    continue
                clock = time.monotonic()
                waiting = {p for p, at in self._retry_at.items() if at > clock}
                skip = self._in_flight | waiting
                if self.gw.db.postgres:  # other nodes extract from the same table
                    # Also renews this node's claims, full or not: a claim held
                    # by a live node never runs out, one of a dead node soon does.
                    claim = partial(_claim_jobs, node=self.gw.node_id, skip=skip,
                                    limit=max(room, 0), at=now(), hold_s=CLAIM_HOLD_S)  # fmt: skip
                    jobs = await self.gw.db.write(claim)
                else:
                    jobs = await self.gw.db.read(partial(_next_jobs, skip=skip, limit=room))
                for job in jobs:
                    self._in_flight.add(job.packet_id)
                    task = asyncio.create_task(self._guarded(job))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
                await idle(self._wakeup, POLL_S)
        finally:
            # Jobs end before the gateway closes its pools: each removes its
            # scratch plaintext on the way out, which needs the I/O pool.
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if self.gw.db.postgres:  # stopping, not dying: others may take them now
                release = self.gw.db.write(partial(_release_claims, node=self.gw.node_id))
                with contextlib.suppress(Exception):  # else they run out, as a dead node's
                    await asyncio.wait_for(release, RELEASE_WAIT_S)

    async def _guarded(self, job: _Job) -> None:
        try:
            await self.process(job)
            self._failures.pop(job.packet_id, None)
            self._retry_at.pop(job.packet_id, None)
        except Exception:
            # Never personal data here: the packet id and the traceback of code.
            failures = self._failures.get(job.packet_id, 0) + 1
            self._failures[job.packet_id] = failures
            self._retry_at[job.packet_id] = time.monotonic() + min(
                RETRY_MAX_S, POLL_S * 2 ** min(failures, 10)
            )
            log.exception("extraction of packet %s failed; retrying later", job.packet_id)
        finally:
            self._in_flight.discard(job.packet_id)
            self._wakeup.set()

    async def process(self, job: _Job) -> None:
        gw = self.gw
        await gw.db.write(lambda c: _mark_extracting(c, job.packet_id))
        findings = await self._findings(job)
        at = now()
        doc = document(
            packet_id=job.packet_id,
            envelope_sha256=job.envelope_sha256,
            findings=findings,
            at=format_time(at),
            case_names=job.case_names,
        )
        signed = sign_document(doc, gw.signing_key)
        loop = asyncio.get_running_loop()
        for found in findings.photos:
            await loop.run_in_executor(
                gw.io_pool,
                gw.blobs.write_blob,
                job.blob_dir,
                job.packet_id,
                f"photo-{found.photo.sha256}",
                found.photo.data,
            )

        def ready(conn: Connection) -> None:
            if not status.may_follow(timeline.current(conn, job.packet_id) or "", status.READY):
                return  # it expired while being extracted: EXPIRED is final
            serialize(conn, "ready_seq")  # PostgreSQL: MAX + 1 under the sequence's lock
            (seq,) = conn.execute("SELECT COALESCE(MAX(ready_seq), 0) + 1 FROM packets").fetchone()
            endpoint = conn.execute(
                "SELECT p.endpoint FROM parties p JOIN packets k ON k.recipient = p.id"
                " WHERE k.packet_id = ?",
                (job.packet_id,),
            ).fetchone()[0]
            conn.execute(
                "UPDATE packets SET extraction = ?, extraction_sha256 = ?, ready_seq = ?,"
                " ready_at = ?, notify_next_at = ? WHERE packet_id = ?",
                (
                    signed,
                    sha256_hex(signed),
                    seq,
                    format_time(at),
                    format_time(at) if endpoint else None,
                    job.packet_id,
                ),
            )
            conn.executemany(
                "INSERT OR IGNORE INTO blobs (packet_id, sha256, role, name, part_name,"
                " media_type, size, position) VALUES (?, ?, 'photo', ?, NULL, ?, ?, ?)",
                [
                    (
                        job.packet_id,
                        f.photo.sha256,
                        f"photo-{f.photo.sha256}",
                        f.photo.media_type,
                        len(f.photo.data),
                        i,
                    )
                    for i, f in enumerate(findings.photos)
                ],
            )
            cases.store_records(conn, job.packet_id, doc["records"])
            timeline.record(conn, job.packet_id, status.READY, at)

        await gw.db.write(ready)
        gw.wake(gw.NOTIFY)

    async def _findings(self, job: _Job) -> IngestionResult:
        documents = [p for p in job.parts if p[2] in DOCUMENT_TYPES]
        if job.kind != "dossier" or not documents or self.engine is None:
            if job.kind == "dossier" and documents and self.engine is None:
                return _nothing(warnings=["no extractor is configured; no records extracted"])
            return _nothing()
        engine = self.engine
        gw = self.gw
        async with self._engine_slot:
            return await self._run_engine(engine, gw, job, documents)

    async def _run_engine(
        self,
        engine: Engine,
        gw: Gateway,
        job: _Job,
        documents: list[tuple[str, str, str, bytes | None]],
    ) -> IngestionResult:
        as_of = date.fromisoformat(job.created[:10])
        loop = asyncio.get_running_loop()
        scratch = await loop.run_in_executor(
            gw.io_pool, partial(tempfile.mkdtemp, prefix=f"{job.packet_id}-", dir=gw.data.tmp)
        )
        try:
            inputs = []
            for part_name, blob_name, media_type, inline in documents:
                path = Path(scratch) / blob_name
                await loop.run_in_executor(
                    gw.io_pool, _decrypt_to, gw, job, blob_name, inline, path
                )
                inputs.append(PartInput(part_name, media_type, path, as_of))
            timeout = gw.config.extraction_timeout_s
            work = asyncio.ensure_future(asyncio.to_thread(engine.extract, inputs))
            try:
                return await asyncio.wait_for(asyncio.shield(work), timeout)
            except TimeoutError:
                return _nothing(errors=[f"extraction passed its deadline of {timeout:g} s"])
            finally:
                if not work.done():
                    # Past the deadline, or cancelled (SIGTERM): a thread cannot be
                    # cancelled, its sandboxes can. The scratch files go only once
                    # nothing reads them any more.
                    engine.abort()
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(asyncio.shield(work), ABORT_WAIT_S)
        finally:
            # Plaintext of the parts lives only this long; removing it is disk work.
            await loop.run_in_executor(
                gw.io_pool, partial(shutil.rmtree, scratch, ignore_errors=True)
            )


def _decrypt_to(gw: Gateway, job: _Job, blob_name: str, inline: bytes | None, path: Path) -> None:
    with path.open("wb") as sink:
        for chunk in gw.blobs.read(job.blob_dir, job.packet_id, blob_name, inline):
            sink.write(chunk)


def _mark_extracting(conn: Connection, packet_id: str) -> None:
    (current,) = conn.execute(
        "SELECT status FROM packets WHERE packet_id = ?", (packet_id,)
    ).fetchone()
    if current == status.ACCEPTED:
        timeline.record(conn, packet_id, status.EXTRACTING, now())
