"""Pulling deliveries (SPEC §5): fetch, verify end to end, store, acknowledge.

Before it acknowledges, a party verifies everything: the sender's signature
on the manifest (with the sender's key pinned in the party's trust store,
valid at the manifest's ``created``), every part against the manifest's
size and SHA-256, the gateway's signature on the extraction document (its
pinned key, valid at the document's ``extracted_at``) and its binding to the
envelope, and every photo against the document. Only then does it write the
files and send a DELIVERED receipt; when a signature or digest does not
verify, it writes nothing and sends REJECTED with the reason.

Layout of what a pull writes, one folder per packet under ``out``::

    <packet_id>/manifest.json  extraction.json  records.json
                envelope.jws  extraction.jws  receipt.jws
                parts/<name>  photos/<sha256>.<ext>
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from gateway.party.client import SUFFIX_BY_MEDIA_TYPE, Client
from gateway.protocol.clock import parse_time
from gateway.protocol.crypto import jws
from gateway.protocol.crypto.digest import sha256_hex
from gateway.protocol.errors import DXGError, Invalid, LocalError
from gateway.protocol.manifest import Manifest
from gateway.protocol.receipt import sign_receipt


@dataclass(slots=True)
class PullResult:
    packet_id: str
    sender: str
    level: str  # DELIVERED or REJECTED
    reason: str | None
    folder: Path | None
    records: int = 0
    photos: int = 0
    log_index: int | None = None


@dataclass(slots=True)
class _Opened:
    """What has been verified of a delivery so far (for a REJECTED receipt too)."""

    envelope: str
    envelope_sha256: str
    parts: list[tuple[str, str]] = field(default_factory=list)
    extraction_sha256: str | None = None


class Puller:
    """Pulls one party's deliveries through its :class:`Client`."""

    def __init__(self, client: Client) -> None:
        self.client = client

    async def pull_one(self, packet_id: str, out: Path) -> PullResult:
        """Fetch, verify and store one delivery, then acknowledge it.

        The folder ``out/<packet_id>`` appears only when everything verified;
        otherwise a REJECTED receipt names the reason.

        Raises:
            LocalError: no trust store, or it pins no gateway or not the
                sender: a missing pin is this party's to fix, never a reason
                to reject the packet.
        """
        trust = self.client.pinned()
        trust.require()
        index = json.loads(await self.client.fetch_sealed(f"/v1/deliveries/{packet_id}"))
        trust.require(str(index.get("sender")))
        envelope = str(index["envelope"])
        opened = _Opened(envelope=envelope, envelope_sha256=sha256_hex(envelope))
        staging = out / f".{packet_id}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        try:
            result = await self._verify_and_write(packet_id, index, opened, staging)
        except DXGError as err:
            shutil.rmtree(staging, ignore_errors=True)
            receipt = self._receipt("REJECTED", packet_id, index, opened, reason=err.detail)
            answer = await self.client.send_receipt(receipt)
            return PullResult(
                packet_id,
                str(index.get("sender")),
                "REJECTED",
                err.detail,
                None,
                log_index=answer.get("log_index"),
            )
        receipt = self._receipt("DELIVERED", packet_id, index, opened, reason=None)
        (staging / "receipt.jws").write_text(receipt + "\n", encoding="ascii")
        folder = out / packet_id
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(staging, folder)
        answer = await self.client.send_receipt(receipt)
        result.folder = folder
        result.log_index = answer.get("log_index")
        return result

    def _receipt(
        self, level: str, packet_id: str, index: dict[str, Any], opened: _Opened, reason: str | None
    ) -> str:
        parts = opened.parts or _unverified_parts(opened.envelope)
        return sign_receipt(
            self.client.identity.signing,
            level=level,
            packet_id=packet_id,
            issuer=self.client.identity.party_id,
            sender=str(index.get("sender")),
            recipient=self.client.identity.party_id,
            envelope_sha256=opened.envelope_sha256,
            parts=parts,
            extraction_sha256=opened.extraction_sha256,
            reason=reason,
        )

    async def _verify_and_write(
        self, packet_id: str, index: dict[str, Any], opened: _Opened, staging: Path
    ) -> PullResult:
        sender = str(index["sender"])
        parsed = jws.parse(opened.envelope, typ=jws.TYP_PACKET)
        # The reference time is the one the signature covers: the key is
        # judged at the manifest's created, read here before verification
        # and bound by it (a changed created breaks the signature).
        created = Manifest.from_bytes(parsed.payload).created
        key = self.client.sender_key(sender, parsed.kid, created)
        manifest = Manifest.from_bytes(jws.verify(parsed, key).payload)
        if (manifest.packet_id, manifest.sender, manifest.recipient) != (
            packet_id,
            sender,
            self.client.identity.party_id,
        ):
            raise Invalid("the manifest names another packet, sender or recipient")
        opened.parts = [(p.name, p.sha256) for p in manifest.parts]

        extraction = str(index["extraction"])
        parsed_doc = jws.parse(extraction, typ=jws.TYP_EXTRACTION)
        gateway_key = await self.client.gateway_key(
            parsed_doc.kid, _signed_at(parsed_doc.payload, "extracted_at") or manifest.created
        )
        doc = json.loads(jws.verify(parsed_doc, gateway_key).payload)
        if (
            doc.get("packet_id") != packet_id
            or doc.get("envelope_sha256") != opened.envelope_sha256
        ):
            raise Invalid("the extraction document is bound to another packet or envelope")
        opened.extraction_sha256 = sha256_hex(extraction)

        listed = {(b["sha256"], b["role"]) for b in index["blobs"]}
        (staging / "parts").mkdir(parents=True)
        for spec in manifest.parts:
            if (spec.sha256, "part") not in listed:
                raise Invalid(f"the delivery does not list part {spec.name!r}")
            data = await self.client.fetch_sealed(f"/v1/deliveries/{packet_id}/blobs/{spec.sha256}")
            if len(data) != spec.size or sha256_hex(data) != spec.sha256:
                raise Invalid(f"part {spec.name!r} does not match the sender's manifest")
            await asyncio.to_thread((staging / "parts" / spec.name).write_bytes, data)
        photos = doc.get("photos", [])
        if photos:
            (staging / "photos").mkdir()
        for photo in photos:
            digest = str(photo["sha256"])
            data = await self.client.fetch_sealed(f"/v1/deliveries/{packet_id}/blobs/{digest}")
            if sha256_hex(data) != digest:
                raise Invalid("a photo does not match the extraction document")
            suffix = SUFFIX_BY_MEDIA_TYPE.get(str(photo.get("media_type")), ".bin")
            await asyncio.to_thread((staging / "photos" / f"{digest}{suffix}").write_bytes, data)
        _write_json(staging / "manifest.json", json.loads(manifest.raw))
        _write_json(staging / "extraction.json", doc)
        _write_json(staging / "records.json", doc.get("records", []))
        (staging / "envelope.jws").write_text(opened.envelope + "\n", encoding="ascii")
        (staging / "extraction.jws").write_text(extraction + "\n", encoding="ascii")
        return PullResult(
            packet_id,
            sender,
            "DELIVERED",
            None,
            None,
            records=len(doc.get("records", [])),
            photos=len(photos),
        )

    async def pull(self, out: Path, *, after: int | None = None) -> list[PullResult]:
        """Pull every READY packet in the inbox after the saved cursor.

        Raises:
            LocalError: no trust store, it pins no gateway or another one than
                this, or not the sender of a READY packet: nothing of that
                packet is fetched or answered until its keys are pinned.
        """
        trust = self.client.pinned()
        trust.require()
        assert trust.gateway is not None
        serving = str((await self.client.gateway_info())["id"])
        if serving != trust.gateway.id:
            raise LocalError(
                f"the gateway at {self.client.base_url} is {serving!r}, but the trust store"
                f" pins {trust.gateway.id!r}; pin this one with gateway trust gateway FILE"
                " --gateway URL --expect-kid KID"
            )
        out.mkdir(parents=True, exist_ok=True)
        cursor_file = out / ".inbox-cursor"
        cursor = after if after is not None else _read_cursor(cursor_file)
        results = []
        while True:
            page = await self.client.inbox(cursor)
            ready = [item for item in page["items"] if item["status"] == "READY"]
            # Every sender of the page is checked before anything is pulled, so
            # a missing pin stops the run at a page boundary (the cursor).
            trust.require(*{str(item["sender"]) for item in ready})
            for item in ready:
                results.append(await self.pull_one(item["packet_id"], out))
            if page["next"] == cursor:
                break
            cursor = int(page["next"])
            cursor_file.write_text(f"{cursor}\n", encoding="ascii")
        return results


def _unverified_parts(envelope: str) -> list[tuple[str, str]]:
    """The parts an envelope lists, read without trusting it (for REJECTED only)."""
    try:
        doc = json.loads(jws.parse(envelope, typ=jws.TYP_PACKET).payload)
        return [(str(p["name"]), str(p["sha256"])) for p in doc["parts"]]
    except (DXGError, ValueError, KeyError, TypeError):
        return []


def _signed_at(payload: bytes, member: str) -> datetime | None:
    """A signed document's own time ``member``, read before verification (it is
    covered by the signature about to be checked); None if absent or malformed."""
    try:
        return parse_time(str(json.loads(payload)[member]))
    except (ValueError, KeyError, TypeError):
        return None


def _read_cursor(path: Path) -> int:
    try:
        return int(path.read_text(encoding="ascii").strip())
    except (FileNotFoundError, ValueError):
        return 0


def _write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
