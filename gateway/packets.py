"""Packets: a signed manifest (the envelope) and the parts it lists (SPEC §3).

The envelope is a JWS over the manifest bytes exactly as sent; the manifest
is parsed only from the bytes the signature verified. Intake checks run in
the order SPEC §3 fixes and stop at the first failure: signature and signer
(401/403), schema (422), recipient (422), age (422), limits (413), then each
part while it streams to disk: size and SHA-256 (422 ``digest-mismatch``),
real type (415).

A packet is acknowledged (202) only once its parts are fsync'd, encrypted at
rest, and its row, timeline and signed ACCEPTED receipt are committed in one
transaction. The same (sender, packet_id) with the identical envelope answers
200 with the first answer; with any other envelope, 409. Packet ids are
unique across senders: a second sender reusing an id gets 409 too, so that
``/v1/packets/{id}`` always names one packet.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import shutil
import sqlite3
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from gateway import receipts, registry, status
from gateway.clock import format_time, now, parse_time
from gateway.crypto import jws
from gateway.crypto.digest import sha256_hex
from gateway.crypto.keys import SigningKey
from gateway.errors import (
    Conflict,
    DigestMismatch,
    Forbidden,
    Invalid,
    NotFound,
    TooLarge,
    Unauthenticated,
    UnsupportedMediaType,
)
from gateway.media import Sniffer
from gateway.schemas import validate
from gateway.service import Gateway

FUTURE_SKEW_S = 300  # SPEC §3: `created` at most 300 s in the future
WRITE_BATCH_BYTES = 1 << 20  # hand the disk 1 MiB at a time, not every network chunk


@dataclass(frozen=True, slots=True)
class PartSpec:
    name: str
    media_type: str
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class Manifest:
    """A manifest parsed from the exact bytes its envelope signed."""

    raw: bytes
    packet_id: str
    sender: str
    recipient: str
    created: datetime
    kind: str
    purpose: str
    legal_basis: tuple[str, ...]
    in_reply_to: str | None
    parts: tuple[PartSpec, ...]
    body: dict[str, Any] | None

    @classmethod
    def from_bytes(cls, raw: bytes) -> Manifest:
        """Parse and validate manifest bytes.

        Raises:
            Invalid: not JSON, breaks ``schemas/manifest.v1.json``, names a part twice,
                or its created time is not a real date.
        """
        try:
            doc = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise Invalid("the manifest is not JSON") from exc
        validate("manifest.v1.json", doc, what="the manifest")
        parts = tuple(PartSpec(**p) for p in doc["parts"])
        if len({p.name for p in parts}) != len(parts):
            raise Invalid("the manifest names a part twice")
        try:
            created = parse_time(doc["created"])
        except ValueError as exc:  # the schema's pattern admits 30 February
            raise Invalid("the manifest's created is not a real date and time") from exc
        return cls(
            raw=raw,
            packet_id=doc["packet_id"],
            sender=doc["sender"],
            recipient=doc["recipient"],
            created=created,
            kind=doc["kind"],
            purpose=doc["purpose"],
            legal_basis=tuple(doc["legal_basis"]),
            in_reply_to=doc["in_reply_to"],
            parts=parts,
            body=doc.get("body"),
        )


def build_manifest(
    *,
    sender: str,
    recipient: str,
    parts: Sequence[PartSpec],
    kind: str = "dossier",
    purpose: str = "family_tracing",
    legal_basis: Sequence[str] = ("vital_interest",),
    in_reply_to: str | None = None,
    body: dict[str, Any] | None = None,
    packet_id: str | None = None,
    created: datetime | None = None,
) -> bytes:
    """The manifest bytes a sender signs (client side)."""
    doc: dict[str, Any] = {
        "v": 1,
        "packet_id": packet_id or str(uuid.uuid4()),
        "sender": sender,
        "recipient": recipient,
        "created": format_time(created or now()),
        "kind": kind,
        "purpose": purpose,
        "legal_basis": list(legal_basis),
        "in_reply_to": in_reply_to,
        "parts": [
            {"name": p.name, "media_type": p.media_type, "size": p.size, "sha256": p.sha256}
            for p in parts
        ],
    }
    if body is not None:
        doc["body"] = body
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sign_envelope(manifest: bytes, key: SigningKey) -> str:
    return jws.sign(manifest, key, typ=jws.TYP_PACKET)


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


async def verify_envelope(gw: Gateway, caller: str, envelope: str) -> Manifest:
    """Steps 2–5 of SPEC §3: signer, schema, recipient, age, limits.

    Raises:
        Unauthenticated: bad signature, unknown/invalid key.
        Forbidden: signed by a key of, or naming, a party other than the caller.
        Invalid: schema, recipient or age.
        TooLarge: more parts or bytes than the limits.
    """
    parsed = jws.parse(envelope, typ=jws.TYP_PACKET)
    at = now()
    record = await gw.db.read(lambda c: registry.key_owner(c, parsed.kid))
    if record is None:
        raise Unauthenticated("the envelope is signed by an unknown key")
    if record != caller:
        raise Forbidden("the envelope is signed by a key of another party than the caller")
    key = await gw.db.read(lambda c: registry.signing_key(c, caller, parsed.kid, at))
    payload = jws.verify(parsed, key).payload
    try:
        claimed = json.loads(payload).get("sender")
    except (ValueError, UnicodeDecodeError, AttributeError):
        claimed = None
    if claimed is not None and claimed != caller:
        raise Forbidden("the manifest names another sender than the caller")
    manifest = Manifest.from_bytes(payload)
    if manifest.recipient == manifest.sender:
        raise Invalid("a packet is addressed to another party than its sender")
    recipient = await gw.db.read(lambda c: registry.get_party(c, manifest.recipient))
    if recipient is None or not recipient.has_role("party"):
        raise Invalid(f"the recipient {manifest.recipient!r} is not a registered party")
    if manifest.created > at + timedelta(seconds=FUTURE_SKEW_S):
        raise Invalid("the packet's created time is in the future; check the sender's clock")
    if manifest.created < at - timedelta(seconds=gw.config.max_packet_age_s):
        raise Invalid("the packet is older than this gateway accepts")
    limits = gw.config.limits
    if len(manifest.parts) > limits.max_parts:
        raise TooLarge(f"a packet has at most {limits.max_parts} parts")
    for part in manifest.parts:
        if part.size > limits.max_part_bytes:
            raise TooLarge(f"part {part.name!r} is over {limits.max_part_bytes} bytes")
    if sum(p.size for p in manifest.parts) > limits.max_packet_bytes:
        raise TooLarge(f"a packet has at most {limits.max_packet_bytes} bytes")
    return manifest


def _existing(conn: sqlite3.Connection, manifest: Manifest, envelope: str) -> IntakeResult | None:
    row = conn.execute(
        "SELECT sender, envelope, response FROM packets WHERE packet_id = ?",
        (manifest.packet_id,),
    ).fetchone()
    if row is None:
        return None
    sender, stored_envelope, response = row
    if sender != manifest.sender or not secrets.compare_digest(stored_envelope, envelope):
        raise Conflict(f"packet {manifest.packet_id} was already submitted with another envelope")
    return IntakeResult(status=200, body=json.loads(response))


async def _receive_part(
    gw: Gateway, stage: Path, manifest: Manifest, spec: PartSpec, incoming: IncomingPart
) -> None:
    sniffer = Sniffer(spec.media_type)
    digest = hashlib.sha256()
    received = 0
    loop = asyncio.get_running_loop()
    with (stage / f"part-{spec.name}").open("wb") as sink:
        writer = gw.blobs.open_writer(sink, manifest.packet_id, f"part-{spec.name}")
        pending = bytearray()
        async for chunk in incoming.chunks():
            received += len(chunk)
            if received > spec.size:
                raise DigestMismatch(f"part {spec.name!r} is longer than its manifest size")
            digest.update(chunk)  # chunks are ≤ 256 KiB: microseconds each
            sniffer.feed(chunk)
            pending += chunk
            if len(pending) >= WRITE_BATCH_BYTES:
                await loop.run_in_executor(gw.io_pool, writer.write, bytes(pending))
                pending.clear()
        if received != spec.size:
            raise DigestMismatch(f"part {spec.name!r} is shorter than its manifest size")
        if digest.hexdigest() != spec.sha256:
            raise DigestMismatch(f"part {spec.name!r} does not match its manifest SHA-256")
        if not sniffer.matches():
            raise UnsupportedMediaType(f"part {spec.name!r} is not {spec.media_type}")

        def flush() -> None:
            writer.write(bytes(pending))
            writer.finish()

        await loop.run_in_executor(gw.io_pool, flush)


async def accept(gw: Gateway, caller: str, envelope: str, stream: PartStream) -> IntakeResult:
    """Take in one packet: verify, stream its parts to disk, commit, sign ACCEPTED.

    Raises:
        DXGError: the first rule of SPEC §3 the packet breaks.
    """
    manifest = await verify_envelope(gw, caller, envelope)
    earlier = await gw.db.read(lambda c: _existing(c, manifest, envelope))
    if earlier is not None:
        return earlier
    stage = gw.blobs.new_stage(secrets.token_hex(16))
    try:
        for spec in manifest.parts:
            incoming = await stream.next()
            if incoming is None or incoming.name != spec.name:
                raise Invalid(f"expected part {spec.name!r} next, in manifest order")
            await _receive_part(gw, stage, manifest, spec, incoming)
        if await stream.next() is not None:
            raise Invalid("the request carries parts that the manifest does not list")
        at = now()
        envelope_sha = sha256_hex(envelope)
        receipt = receipts.issue(
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

        def commit(conn: sqlite3.Connection) -> IntakeResult:
            again = _existing(conn, manifest, envelope)  # a concurrent identical upload won
            if again is not None:
                return again
            gw.blobs.commit_stage(stage, manifest.packet_id)
            log_index = receipts.append(conn, receipt, at=at)
            body = {
                "packet_id": manifest.packet_id,
                "status": "ACCEPTED",
                "receipt": receipt,
                "log_index": log_index,
            }
            conn.execute(
                "INSERT INTO packets (packet_id, sender, recipient, kind, created, envelope,"
                " envelope_sha256, status, accepted_at, deadline, response)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, 'ACCEPTED', ?, ?, ?)",
                (
                    manifest.packet_id,
                    manifest.sender,
                    manifest.recipient,
                    manifest.kind,
                    format_time(manifest.created),
                    envelope,
                    envelope_sha,
                    format_time(at),
                    format_time(deadline),
                    json.dumps(body),
                ),
            )
            conn.executemany(
                "INSERT INTO blobs (packet_id, sha256, role, name, part_name, media_type, size,"
                " position) VALUES (?, ?, 'part', ?, ?, ?, ?, ?)",
                [
                    (
                        manifest.packet_id,
                        p.sha256,
                        f"part-{p.name}",
                        p.name,
                        p.media_type,
                        p.size,
                        i,
                    )
                    for i, p in enumerate(manifest.parts)
                ],
            )
            status.record(conn, manifest.packet_id, status.ACCEPTED, at)
            return IntakeResult(status=202, body=body)

        result = await gw.db.write(commit)
    finally:
        if stage.exists():
            shutil.rmtree(stage, ignore_errors=True)
    gw.wake_workers()
    return result


def packet_view(conn: sqlite3.Connection, packet_id: str, caller: str) -> dict[str, Any]:
    """``GET /v1/packets/{id}`` for its sender or recipient.

    Raises:
        NotFound: no such packet.
        Forbidden: the caller is neither its sender nor its recipient.
    """
    row = conn.execute(
        "SELECT sender, recipient, status, deadline FROM packets WHERE packet_id = ?",
        (packet_id,),
    ).fetchone()
    if row is None:
        raise NotFound(f"no packet {packet_id}")
    if caller not in (row[0], row[1]):
        raise Forbidden(f"{caller!r} is neither the sender nor the recipient of {packet_id}")
    return {
        "packet_id": packet_id,
        "sender": row[0],
        "recipient": row[1],
        "status": row[2],
        "deadline": row[3],
        "timeline": status.timeline(conn, packet_id),
        "receipts": receipts.of_packet(conn, packet_id),
    }
