"""Intake of packets (SPEC §3): verify the envelope, stream the parts, commit.

The envelope is a JWS over the manifest bytes exactly as sent
(``gateway.protocol.manifest``); the manifest is parsed only from the bytes
the signature verified. Intake checks run in
the order SPEC §3 fixes and stop at the first failure: signature and signer
(401/403), schema (422), recipient (422), age (422), limits (413), then each
part while it streams to disk: size and SHA-256 (422 ``digest-mismatch``),
real type (415).

A packet is acknowledged (202) only once its parts are fsync'd, encrypted at
rest, and its row, timeline and signed ACCEPTED receipt are committed in one
transaction. The same (sender, packet_id) with the identical envelope answers
200 with the first answer; with any other envelope, 409. Packet ids are
unique across senders: a second sender reusing an id gets 409 too, so that
``/v1/packets/{id}`` always names one packet. On PostgreSQL the request
token's ``jti`` is claimed in the same statement as the packet row
(``gateway.server.jti``): a token another request claimed first stores
nothing and answers 401.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import secrets
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, BinaryIO, Protocol, cast

from gateway.protocol import case, jsontext
from gateway.protocol import status as rules
from gateway.protocol.clock import format_time, now
from gateway.protocol.crypto import jws
from gateway.protocol.crypto.digest import sha256_hex
from gateway.protocol.crypto.seal import EncryptingWriter
from gateway.protocol.errors import (
    Conflict,
    DigestMismatch,
    DXGError,
    Forbidden,
    Invalid,
    NotFound,
    TooLarge,
    Unauthenticated,
    Unavailable,
    UnsupportedMediaType,
)
from gateway.protocol.manifest import Manifest, PartSpec
from gateway.protocol.media import Sniffer
from gateway.protocol.receipt import sign_receipt
from gateway.protocol.token import REPLAYED
from gateway.server import cases, jti, receipts, registry, timeline
from gateway.server.config import Config
from gateway.server.jti import PendingClaim
from gateway.server.service import Gateway
from gateway.server.sql import Connection, Cursor
from gateway.server.store import INLINE_MAX, Finish, Statement

FUTURE_SKEW_S = 300  # SPEC §3: `created` at most 300 s in the future
WRITE_BATCH_BYTES = 1 << 20  # hand the disk 1 MiB at a time, not every network chunk


class IncomingPart(Protocol):
    """One multipart part as the HTTP layer hands it over."""

    @property
    def name(self) -> str | None: ...

    def chunks(self) -> AsyncIterator[bytes]: ...


class PartStream(Protocol):
    """The parts after the envelope, in the order they arrive."""

    async def next(self) -> IncomingPart | None: ...


@dataclass(frozen=True, slots=True)
class IntakeResult:
    status: int  # 202 first time, 200 for an identical retry
    body: dict[str, Any]


def check_envelope(
    conn: Connection,
    config: Config,
    caller: str,
    envelope: str,
    at: datetime,
    *,
    cache: registry.RegistryCache | None = None,
    look_up: bool = True,
) -> Manifest | IntakeResult:
    """Steps 2–5 of SPEC §3 (signer, schema, recipient, age, limits), in order.

    Its database reads are a few rows by key (``Database.lookup``), the
    registry's through ``cache`` where the node keeps one. Returns
    the manifest, or the first answer if this exact envelope was accepted
    before (an idempotent retry); without ``look_up`` the caller answers
    retries itself (PostgreSQL: the insert finds the id taken).

    Raises:
        Unauthenticated: bad signature, unknown/invalid key.
        Forbidden: signed by a key of, or naming, a party other than the caller.
        Invalid: schema, recipient or age.
        TooLarge: more parts or bytes than the limits.
        Conflict: the packet id was taken by another envelope.
    """
    parsed = jws.parse(envelope, typ=jws.TYP_PACKET)
    owner = registry.key_owner(conn, parsed.kid, cache=cache)
    if owner is None:
        raise Unauthenticated("the envelope is signed by an unknown key")
    if owner != caller:
        raise Forbidden("the envelope is signed by a key of another party than the caller")
    key = registry.signing_key(conn, caller, parsed.kid, at, cache=cache)
    payload = jws.verify(parsed, key).payload
    try:
        claimed = jsontext.loads(payload).get("sender")
    except (ValueError, UnicodeDecodeError, AttributeError):
        claimed = None
    if claimed is not None and claimed != caller:
        raise Forbidden("the manifest names another sender than the caller")
    manifest = Manifest.from_bytes(payload)
    if manifest.kind == "dossier":  # SPEC §10: a case named for a part the packet lacks is 422
        case.parse_case_names(manifest.body, [p.name for p in manifest.parts])
    if manifest.recipient == manifest.sender:
        raise Invalid("a packet is addressed to another party than its sender")
    recipient = registry.get_party(conn, manifest.recipient, cache=cache)
    if recipient is None or not recipient.has_role("party"):
        raise Invalid(f"the recipient {manifest.recipient!r} is not a registered party")
    if manifest.created > at + timedelta(seconds=FUTURE_SKEW_S):
        raise Invalid("the packet's created time is in the future; check the sender's clock")
    if manifest.created < at - timedelta(seconds=config.max_packet_age_s):
        raise Invalid("the packet is older than this gateway accepts")
    limits = config.limits
    if len(manifest.parts) > limits.max_parts:
        raise TooLarge(f"a packet has at most {limits.max_parts} parts")
    for part in manifest.parts:
        if part.size > limits.max_part_bytes:
            raise TooLarge(f"part {part.name!r} is over {limits.max_part_bytes} bytes")
    if sum(p.size for p in manifest.parts) > limits.max_packet_bytes:
        raise TooLarge(f"a packet has at most {limits.max_packet_bytes} bytes")
    return (_existing(conn, manifest, envelope) if look_up else None) or manifest


_EXISTING = "SELECT sender, envelope, response FROM packets WHERE packet_id = ?"
_INSERT_PACKET = (
    "INSERT INTO packets (packet_id, sender, recipient, kind, created, envelope,"
    " envelope_sha256, blob_dir, status, accepted_at, deadline, response)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'ACCEPTED', ?, ?, ?)"
)
_INSERT_PART = (
    "INSERT INTO blobs (packet_id, sha256, role, name, part_name, media_type, size,"
    " position, inline) VALUES (?, ?, 'part', ?, ?, ?, ?, ?, ?)"
)
_PART_ROW = "(?, ?, ?, ?, ?::bigint, ?::bigint, ?::bytea)"
_PACKET_ROW = "?, ?, ?, ?, ?, ?, ?, ?, 'ACCEPTED', ?, ?, ?"


@functools.lru_cache(maxsize=128)
def _insert_pg(parts: int, *, claim: bool) -> str:
    """PostgreSQL: the token's jti claim (if ``claim``), the packet row (unless the jti or
    its id is taken), its ``parts`` part rows and its timeline's first step in one
    statement, one round trip. Its row: (1 if the jti was claimed, else 0, 1 if the
    packet was inserted, else 0); without ``claim`` the first is 1.

    With the claim here an intake is one transaction, as the floor's is: the
    jti commits with the packet, in the group's one WAL flush (SPEC §2's
    replay rule, ``gateway.server.jti``). The parts are rows of scalar
    parameters, not arrays: psycopg dumps an array element by element in
    Python (regex quoting), which with the encrypted part bytes in a
    ``bytea[]`` took 5-8% of a node's samples.
    """
    blobs = "" if not parts else f"""
b AS (
    INSERT INTO blobs (packet_id, sha256, role, name, part_name, media_type, size, position,
                       inline)
    SELECT p.packet_id, t.sha256, 'part', t.name, t.part_name, t.media_type, t.size,
           t.position, t.inline
    FROM p, (VALUES {", ".join([_PART_ROW] * parts)})
        AS t(sha256, name, part_name, media_type, size, position, inline)
),"""  # noqa: S608 - placeholders only
    packet = f"VALUES ({_PACKET_ROW})"
    claimed = "1"
    if claim:
        packet = f"SELECT {_PACKET_ROW} FROM j"  # noqa: S608 - no row: the jti is taken
        claimed = "(SELECT COUNT(*) FROM j)"
    return f"""
WITH {jti.CLAIM_CTE + "," if claim else ""}
p AS (
    INSERT INTO packets (packet_id, sender, recipient, kind, created, envelope, envelope_sha256,
                         blob_dir, status, accepted_at, deadline, response)
    {packet}
    ON CONFLICT (packet_id) DO NOTHING RETURNING packet_id
),{blobs}
t AS (INSERT INTO timeline (packet_id, status, at) SELECT packet_id, ?, ? FROM p)
SELECT {claimed}, (SELECT COUNT(*) FROM p)
"""  # noqa: S608 - placeholders only


LOG_INDEX_KEY = ', "log_index": '  # the stored 202 body ends with it until the index is known


def _unfinished(head: dict[str, Any]) -> str:
    """The 202 body as stored before its log index: ``json.dumps`` of the whole, cut there."""
    return json.dumps(head)[:-1] + LOG_INDEX_KEY


def _existing(conn: Connection, manifest: Manifest, envelope: str) -> IntakeResult | None:
    return _answer_again(conn.execute(_EXISTING, (manifest.packet_id,)), manifest, envelope)


def _answer_again(found: Cursor, manifest: Manifest, envelope: str) -> IntakeResult | None:
    """The first answer to this exact envelope, if the packet id is taken (else None).

    Raises:
        Conflict: the packet id was taken by another envelope.
    """
    row = found.fetchone()
    if row is None:
        return None
    sender, stored_envelope, response = row
    if sender != manifest.sender or not secrets.compare_digest(stored_envelope, envelope):
        raise Conflict(f"packet {manifest.packet_id} was already submitted with another envelope")
    return IntakeResult(status=200, body=json.loads(response))


def _reread_answers(conn: Connection, packet_ids: list[str]) -> Callable[[], list[str]]:
    """A :class:`Finish` step: the stored 202 bodies of packets accepted earlier in this group."""
    cur = conn.execute(
        "SELECT packet_id, response FROM packets WHERE packet_id = ANY(?::text[])", (packet_ids,)
    )

    def responses() -> list[str]:
        found = dict(cur.fetchall())
        return [found[packet_id] for packet_id in packet_ids]

    return responses


def _answer_taken(
    conn: Connection, manifest: Manifest, envelope: str
) -> IntakeResult | Finish[Any, IntakeResult]:
    """The answer to an envelope whose packet id another upload has taken (PostgreSQL).

    Raises:
        Conflict: the packet id was taken by another envelope.
        Unavailable: the row that took the id is gone already (the client retries).
    """
    row = conn.execute(_EXISTING, (manifest.packet_id,)).fetchone()
    if row is None:
        raise Unavailable(f"packet {manifest.packet_id} was being removed; send it again")
    sender, stored_envelope, response = row
    if sender != manifest.sender or not secrets.compare_digest(stored_envelope, envelope):
        raise Conflict(f"packet {manifest.packet_id} was already submitted with another envelope")
    if response.endswith(LOG_INDEX_KEY):  # taken earlier in this very group: not numbered yet
        return Finish(
            _reread_answers,
            manifest.packet_id,
            lambda stored: IntakeResult(status=200, body=json.loads(stored)),
        )
    return IntakeResult(status=200, body=json.loads(response))


@dataclass(frozen=True, slots=True)
class _Spent:
    """An intake refused after its statement claimed the token's jti: raise ``refusal``."""

    refusal: Conflict | Unavailable


_Answer = IntakeResult | _Spent  # what an intake's statement step hands back


class _Uncached(Exception):
    """The envelope check needs a row the node's registry cache does not hold."""


class _CacheOnly:
    """A :class:`Connection` for a check that must not leave the event loop: it has none.

    Every statement raises :class:`_Uncached`; the caller then runs the check
    again on a reader thread with a real connection.
    """

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Cursor:
        raise _Uncached(sql)

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Cursor:
        raise _Uncached(sql)


async def _check(gw: Gateway, caller: str, envelope: str, at: datetime) -> Manifest | IntakeResult:
    """:func:`check_envelope` where it is cheapest.

    SQLite: on the event loop, the retry look-up included (rows by key, tens
    of microseconds). PostgreSQL: without the retry look-up, whose answer
    the packet's insert gives (``ON CONFLICT``, :func:`_answer_taken`), or
    the look-up after a refused part (:func:`_answer_first`); so on the event
    loop when the node's registry cache holds the rows (no round trip, no
    thread), else on a reader thread.
    """
    if not gw.db.postgres:
        return await gw.db.find(lambda c: check_envelope(c, gw.config, caller, envelope, at))

    def check(conn: Connection) -> Manifest | IntakeResult:
        return check_envelope(conn, gw.config, caller, envelope, at, cache=gw.registry,
                              look_up=False)  # fmt: skip

    try:
        return check(_CacheOnly())
    except _Uncached:
        return await gw.db.find(check)


async def _answer_first(
    gw: Gateway, manifest: Manifest, envelope: str, refusal: DXGError
) -> IntakeResult:
    """After a part was refused (PostgreSQL): the answer SQLite's up-front look-up gives.

    The first answer if this exact envelope was accepted before (200), 409
    if its id was taken by another envelope, else the part's own refusal
    (re-raised: call this only inside ``except``). So every refusal answers
    as before, at one round trip for a refused upload instead of one for
    every upload.

    Raises:
        Conflict: the packet id was taken by another envelope.
        DXGError: the part's refusal, when the packet id is free.
    """
    again = await gw.db.find(lambda c: _existing(c, manifest, envelope))
    if again is None:
        raise refusal
    return again


class _PartFile:
    """One part's encrypted file, opened on first write (in the I/O pool)."""

    def __init__(self, gw: Gateway, upload: str, packet_id: str, name: str) -> None:
        self._gw, self._upload, self._packet_id, self._name = gw, upload, packet_id, name
        self._sink: BinaryIO | None = None
        self._writer: EncryptingWriter | None = None

    def write(self, data: bytes) -> None:
        if self._writer is None:
            self._sink, self._writer = self._gw.blobs.create(
                self._upload, self._packet_id, self._name
            )
        self._writer.write(data)

    def finish(self, data: bytes) -> None:
        """Write the rest and fsync."""
        self.write(data)
        assert self._writer is not None
        self._writer.finish()
        self.close()

    def close(self) -> None:
        if self._sink is not None:
            self._sink.close()


async def _receive_part(
    gw: Gateway,
    upload: str,
    manifest: Manifest,
    spec: PartSpec,
    incoming: IncomingPart,
    *,
    inline: bool,
) -> bytes | None:
    """Receive one part while checking size, digest and type; store it encrypted.

    An ``inline`` part (small) is returned encrypted, for its database row.
    Otherwise it streams to its file: a part under ``WRITE_BATCH_BYTES``
    costs one trip to the I/O pool, a larger one is handed over a batch at a
    time and never held whole.
    """
    sniffer = Sniffer(spec.media_type)
    digest = hashlib.sha256()
    received = 0
    loop = asyncio.get_running_loop()
    part = _PartFile(gw, upload, manifest.packet_id, f"part-{spec.name}")
    try:
        pending = bytearray()
        async for chunk in incoming.chunks():
            received += len(chunk)
            if received > spec.size:
                raise DigestMismatch(f"part {spec.name!r} is longer than its manifest size")
            digest.update(chunk)  # chunks are ≤ 256 KiB: microseconds each
            sniffer.feed(chunk)
            pending += chunk
            if not inline and len(pending) >= WRITE_BATCH_BYTES:
                await loop.run_in_executor(gw.io_pool, part.write, bytes(pending))
                pending.clear()
        if received != spec.size:
            raise DigestMismatch(f"part {spec.name!r} is shorter than its manifest size")
        if digest.hexdigest() != spec.sha256:
            raise DigestMismatch(f"part {spec.name!r} does not match its manifest SHA-256")
        if not sniffer.matches():
            raise UnsupportedMediaType(f"part {spec.name!r} is not {spec.media_type}")
        if inline:
            # At most INLINE_MAX (256 KiB) per packet: sealing it costs well under
            # a millisecond, less than the trip to the I/O pool it would replace.
            return gw.blobs.seal_inline(manifest.packet_id, f"part-{spec.name}", bytes(pending))
        await loop.run_in_executor(gw.io_pool, part.finish, bytes(pending))
        return None
    finally:
        part.close()


async def accept(
    gw: Gateway,
    caller: str,
    envelope: str,
    stream: PartStream,
    *,
    claim: PendingClaim | None = None,
) -> IntakeResult:
    """Take in one packet: verify, stream its parts to disk, commit, sign ACCEPTED.

    Args:
        gw: the gateway.
        caller: the authenticated sender.
        envelope: the packet's JWS, as sent.
        stream: the parts after the envelope.
        claim: PostgreSQL: the request token's jti, claimed in the packet's
            insert; settled once that insert has committed or found it taken.

    Raises:
        Unauthenticated: ``claim``'s jti was claimed first by another request (a replay).
        DXGError: the first rule of SPEC §3 the packet breaks.
    """
    at = now()
    # Rows by key and ~0.2 ms of signature and schema checks: cheaper here than
    # the trip to a reader thread and back, which would not run them sooner.
    checked = await _check(gw, caller, envelope, at)
    if isinstance(checked, IntakeResult):
        return checked
    manifest = checked
    upload = gw.blobs.new_upload(manifest.packet_id)
    loop = asyncio.get_running_loop()
    committed = False
    inline_left = INLINE_MAX
    stored: list[bytes | None] = []
    try:
        try:
            for spec in manifest.parts:
                incoming = await stream.next()
                if incoming is None or incoming.name != spec.name:
                    raise Invalid(f"expected part {spec.name!r} next, in manifest order")
                inline = spec.size <= inline_left
                inline_left -= spec.size if inline else 0
                stored.append(
                    await _receive_part(gw, upload, manifest, spec, incoming, inline=inline)
                )
            if await stream.next() is not None:
                raise Invalid("the request carries parts that the manifest does not list")
        except DXGError as refusal:
            if gw.db.postgres:  # the retry look-up _check left out, as SQLite's answer
                return await _answer_first(gw, manifest, envelope, refusal)
            raise
        if any(data is None for data in stored):
            await loop.run_in_executor(gw.io_pool, gw.blobs.seal_upload, upload)
        at = now()
        envelope_sha = sha256_hex(envelope)
        receipt = sign_receipt(
            gw.signing_key,
            level="ACCEPTED",
            packet_id=manifest.packet_id,
            issuer=gw.config.id,
            sender=manifest.sender,
            recipient=manifest.recipient,
            envelope_sha256=envelope_sha,
            parts=[(p.name, p.sha256) for p in manifest.parts],
            extraction_sha256=None,
            reason=None,
            at=at,
        )
        deadline = at + timedelta(seconds=gw.config.delivery_ttl_s)

        head = {"packet_id": manifest.packet_id, "status": "ACCEPTED", "receipt": receipt}

        def row(response: str) -> tuple[object, ...]:
            return (
                manifest.packet_id,
                manifest.sender,
                manifest.recipient,
                manifest.kind,
                format_time(manifest.created),
                envelope,
                envelope_sha,
                upload,
                format_time(at),
                format_time(deadline),
                response,
            )

        def commit(conn: Connection) -> IntakeResult:
            # SQLite (one writer): the look-up, the next index and every insert in turn.
            again = _existing(conn, manifest, envelope)  # an identical upload won
            if again is not None:
                return again
            log_index = receipts.next_index(conn)
            receipts.record(conn, receipt, log_index, at=at)
            body = {**head, "log_index": log_index}
            conn.execute(_INSERT_PACKET, row(json.dumps(body)))
            conn.executemany(_INSERT_PART, [
                (manifest.packet_id, p.sha256, f"part-{p.name}", p.name, p.media_type, p.size,
                 i, stored[i])
                for i, p in enumerate(manifest.parts)
            ])  # fmt: skip
            timeline.start(conn, manifest.packet_id, at)
            return IntakeResult(status=202, body=body)

        def numbered(conn: Connection, row: Any) -> _Answer | Finish[Any, _Answer]:
            # PostgreSQL, after the intake statement (jti, packet, parts and timeline,
            # pipelined with the group's other intakes, before any lock): the
            # receipt is numbered at the group's end.
            claimed, inserted = row
            if not claimed:  # another request holds this token's jti: nothing was inserted
                raise Unauthenticated(REPLAYED)
            if not inserted:  # the id is taken: ON CONFLICT waited for its commit
                try:
                    taken = _answer_taken(conn, manifest, envelope)
                except (Conflict, Unavailable) as refusal:
                    # Not raised here: that would roll back only this step, and the
                    # jti row the statement inserted stays either way (pipelined, its
                    # savepoint is released already). The token is spent, as when
                    # a refused request claims it on its own.
                    return _Spent(refusal)
                return cast(_Answer | Finish[Any, _Answer], taken)  # Finish is invariant
            unnumbered = receipts.Unnumbered(
                compact=receipt,
                sha256=sha256_hex(receipt),
                packet_id=manifest.packet_id,
                level="ACCEPTED",
                issuer=gw.config.id,
                appended_at=format_time(at),
            )
            return Finish(
                receipts.number_accepted,
                unnumbered,
                lambda index: IntakeResult(status=202, body={**head, "log_index": index}),
            )

        if gw.db.postgres:
            parts = manifest.parts
            sql = _insert_pg(len(parts), claim=claim is not None)
            statement: Statement[_Answer] = Statement(sql, (
                *(claim.params() if claim is not None else ()),
                *row(_unfinished(head)),
                *(value for i, p in enumerate(parts)
                  for value in (p.sha256, f"part-{p.name}", p.name, p.media_type, p.size, i,
                                stored[i])),
                rules.ACCEPTED, format_time(at),
            ), numbered)  # fmt: skip
            try:
                answer = await gw.db.write_statement(statement)
            except Unauthenticated:
                if claim is not None:
                    claim.settled = True  # found taken: the replay answer stands
                raise
            if claim is not None:
                claim.settled = True  # committed with the packet (or its answer)
            if isinstance(answer, _Spent):
                raise answer.refusal
            result = answer
        else:
            result = await gw.db.write(commit)
        committed = result.status == 202
    finally:
        if not committed:
            await loop.run_in_executor(gw.io_pool, gw.blobs.discard, upload)
    if committed:
        gw.wake(gw.EXTRACTION)
    return result


def packet_view(conn: Connection, packet_id: str, caller: str) -> dict[str, Any]:
    """``GET /v1/packets/{id}`` for its sender or recipient.

    Raises:
        NotFound: no such packet.
        Forbidden: the caller is neither its sender nor its recipient.
    """
    row = conn.execute(
        "SELECT sender, recipient, status, deadline, kind, extraction IS NOT NULL FROM packets"
        " WHERE packet_id = ?",
        (packet_id,),
    ).fetchone()
    if row is None:
        raise NotFound(f"no packet {packet_id}")
    if caller not in (row[0], row[1]):
        raise Forbidden(f"{caller!r} is neither the sender nor the recipient of {packet_id}")
    view: dict[str, Any] = {
        "packet_id": packet_id,
        "sender": row[0],
        "recipient": row[1],
        "status": row[2],
        "deadline": row[3],
        "timeline": timeline.timeline(conn, packet_id),
        "receipts": receipts.of_packet(conn, packet_id),
    }
    if row[4] == "dossier" and row[5]:  # SPEC §10: once READY, its records' case ids
        view["records"] = cases.packet_records(conn, packet_id)
    return view
