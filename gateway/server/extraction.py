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
CLAIM_HOLD_S = 3 * POLL_S  # renewed every RENEW_S, so only a dead node's claim runs out
# At the first loop turn this long after the last renewal; a turn comes at least
# every POLL_S, so a live claim is renewed within RENEW_S + POLL_S (7.5 s) < CLAIM_HOLD_S.
RENEW_S = POLL_S / 2
# PostgreSQL: woken by every intake, the worker claims at most this often, so a
# burst of intakes is claimed in one statement, not one claim (and write group)
# each; a packet waits at most this long to be claimed, less than a dossier's OCR.
CLAIM_EVERY_S = 0.25
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
    marked: bool  # EXTRACTING already (its claim moved it there), or not yet


def _next_jobs(conn: Connection, skip: set[str], limit: int) -> list[_Job]:
    """Up to ``limit`` packets waiting for extraction, oldest first, not in ``skip``."""
    rows = conn.execute(
        "SELECT packet_id, kind, created, envelope_sha256, blob_dir, envelope FROM packets"
        " WHERE status IN ('ACCEPTED', 'EXTRACTING') ORDER BY accepted_at LIMIT ?",
        (limit + len(skip),),
    ).fetchall()
    return _jobs(conn, [row for row in rows if row[0] not in skip][:limit])


def _jobs(
    conn: Connection, chosen: Sequence[Sequence[Any]], *, marked: bool = False
) -> list[_Job]:
    """The jobs of packet rows (packet_id, kind, created, envelope_sha256, blob_dir, envelope).

    Their parts come in one statement for all of them.
    """
    if not chosen:
        return []
    ids = [row[0] for row in chosen]
    sql = (
        "SELECT packet_id, part_name, name, media_type, inline FROM blobs"  # noqa: S608 - placeholders only
        f" WHERE packet_id IN ({', '.join('?' * len(ids))}) AND role = 'part'"
        " ORDER BY packet_id, position"
    )
    parts: dict[str, list[tuple[str, str, str, bytes | None]]] = {i: [] for i in ids}
    for packet_id, *part in conn.execute(sql, ids):
        parts[packet_id].append(tuple(part))
    return [
        _Job(row[0], row[1], row[2], row[3], row[4], parts[row[0]],
             cases.case_names(row[5]) if row[1] == "dossier" else (), marked)
        for row in chosen
    ]  # fmt: skip


# One statement claims a batch for this node: the waiting packets nobody holds
# (or whose claim ran out, or that this node held before: a retry), oldest
# first, skipping rows another node is claiming right now (SKIP LOCKED, never
# waited for); those still ACCEPTED move to EXTRACTING in the same statement,
# with their timeline step (ACCEPTED -> EXTRACTING, gateway.protocol.status).
_CLAIM_PG = """
WITH c AS (
    SELECT packet_id, status FROM packets
    WHERE status IN ('ACCEPTED', 'EXTRACTING')
      AND (claimed_until IS NULL OR claimed_until < ? OR claimed_by = ?)
      AND packet_id <> ALL(?::text[])
    ORDER BY accepted_at LIMIT ? FOR UPDATE SKIP LOCKED
),
u AS (
    UPDATE packets k SET claimed_by = ?, claimed_until = ?, status = 'EXTRACTING',
                         notify_next_at = NULL
    FROM c WHERE k.packet_id = c.packet_id
    RETURNING k.packet_id, k.kind, k.created, k.envelope_sha256, k.blob_dir, k.envelope,
              k.accepted_at, c.status AS was
),
t AS (
    INSERT INTO timeline (packet_id, status, at)
    SELECT packet_id, 'EXTRACTING', ? FROM u WHERE was = 'ACCEPTED'
)
SELECT packet_id, kind, created, envelope_sha256, blob_dir, envelope FROM u ORDER BY accepted_at
"""


# Renews every claim this node holds (in flight, or waiting for a retry).
_RENEW = (
    "UPDATE packets SET claimed_until = ? WHERE claimed_by = ?"
    " AND status IN ('ACCEPTED', 'EXTRACTING')"
)


def _claim_jobs(
    conn: Connection,
    *,
    node: str,
    skip: set[str],
    limit: int,
    at: datetime,
    hold_s: float,
    renew: bool,
) -> list[_Job]:
    """Claim up to ``limit`` waiting packets for this node (PostgreSQL: several nodes).

    A packet is free if nobody claimed it, its claim ran out (the claiming
    node died or gave up) or this node claimed it before (a retry). Rows
    another node is claiming right now are skipped, not waited for
    (``FOR UPDATE SKIP LOCKED``). A claim lasts ``hold_s``; with ``renew``
    this node's other claims are renewed too (the caller renews well
    within ``hold_s``), so only a dead node's claims run out. The claimed
    packets are EXTRACTING when this returns (:attr:`_Job.marked`): one
    statement for the batch, and one more for their parts.
    """
    until = format_time(at + timedelta(seconds=hold_s))
    if not isinstance(conn, PgConnection):  # SQLite: one writer, statement by statement
        return _claim_one_by_one(conn, node=node, skip=skip, limit=limit, at=at, until=until)
    if renew:  # what this node holds (in flight, or waiting for a retry)
        conn.execute(_RENEW, (until, node))
    if limit <= 0:
        return []
    rows = conn.execute(
        _CLAIM_PG, (format_time(at), node, sorted(skip), limit, node, until, format_time(at))
    ).fetchall()
    return _jobs(conn, rows, marked=True)


def _claim_one_by_one(
    conn: Connection, *, node: str, skip: set[str], limit: int, at: datetime, until: str
) -> list[_Job]:
    """:func:`_claim_jobs` on SQLite (one writer, no row locks), without marking."""
    rows = conn.execute(
        "SELECT packet_id FROM packets WHERE status IN ('ACCEPTED', 'EXTRACTING')"
        " AND (claimed_until IS NULL OR claimed_until < ? OR claimed_by = ?)"
        " ORDER BY accepted_at LIMIT ?",
        (format_time(at), node, limit + len(skip)),
    ).fetchall()
    chosen = [row[0] for row in rows if row[0] not in skip][:limit]
    conn.execute(_RENEW, (until, node))
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
        renewed_at = -POLL_S  # monotonic time of this node's last claim renewal: never
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
                    # Also renews this node's claims every RENEW_S, full or not: a
                    # claim held by a live node never runs out, a dead node's soon does.
                    renew = clock - renewed_at >= RENEW_S
                    if room <= 0 and not renew:
                        await idle(self._wakeup, POLL_S)
                        continue
                    claim = partial(_claim_jobs, node=self.gw.node_id, skip=skip,
                                    limit=max(room, 0), at=now(), hold_s=CLAIM_HOLD_S,
                                    renew=renew)  # fmt: skip
                    jobs = await self.gw.db.write(claim)
                    renewed_at = clock if renew else renewed_at
                else:
                    jobs = await self.gw.db.read(partial(_next_jobs, skip=skip, limit=room))
                for job in jobs:
                    self._in_flight.add(job.packet_id)
                    task = asyncio.create_task(self._guarded(job))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
                await idle(self._wakeup, POLL_S)
                if self.gw.db.postgres:  # a burst of wake-ups: one claim for it
                    await asyncio.sleep(max(0.0, clock + CLAIM_EVERY_S - time.monotonic()))
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
            full = len(self._in_flight) >= MAX_CONCURRENT_JOBS
            self._in_flight.discard(job.packet_id)
            if full:  # the loop waits for room; else new work wakes it, and the poll
                self._wakeup.set()

    async def process(self, job: _Job) -> None:
        gw = self.gw
        if not job.marked:
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

        def ready(conn: Connection) -> bool:
            """Whether a notification is due (the recipient has an endpoint)."""
            was, endpoint = conn.execute(
                "SELECT k.status, p.endpoint FROM packets k JOIN parties p ON p.id = k.recipient"
                " WHERE k.packet_id = ?",
                (job.packet_id,),
            ).fetchone()
            if not status.may_follow(was, status.READY):
                return False  # it expired while being extracted: EXPIRED is final
            serialize(conn, "ready_seq")  # PostgreSQL: MAX + 1 under the sequence's lock
            (seq,) = conn.execute("SELECT COALESCE(MAX(ready_seq), 0) + 1 FROM packets").fetchone()
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
            timeline.record(conn, job.packet_id, status.READY, at, was=was)
            return bool(endpoint)

        if await gw.db.write(ready):  # else nothing to push: the notifier need not look
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
