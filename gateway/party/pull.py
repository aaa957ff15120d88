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

Fetching and verifying are kept apart, as python-tuf keeps a download error
apart from a repository error: a request the gateway failed, refused or never
answered (network, 429, 5xx, any problem it answered) is retried with
backoff (:data:`RETRY_ATTEMPTS`) and then propagates: the packet stays READY,
the inbox cursor does not pass it, and no receipt is sent. Only
:class:`VerificationFailed`, something served that does not verify, becomes
a REJECTED receipt, which is final.

Nothing is written outside ``out/<packet_id>``: part names are safe file
names (the manifest schema), checked again before a file is opened.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import shutil
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from gateway.party.client import FILES_MEMBER, SUFFIX_BY_MEDIA_TYPE, Client
from gateway.protocol.clock import parse_time
from gateway.protocol.crypto import jws
from gateway.protocol.crypto.digest import sha256_hex
from gateway.protocol.errors import DXGError, LocalError, Temporary, VerificationFailed
from gateway.protocol.manifest import Manifest, is_safe_part_name
from gateway.protocol.receipt import sign_receipt

log = logging.getLogger(__name__)
T = TypeVar("T")

RETRY_ATTEMPTS = 6  # tries of one request before a temporary failure propagates
RETRY_BASE_S = 0.5  # first backoff; doubles per try, with full jitter
RETRY_MAX_S = 30.0  # one wait never exceeds this: about a minute and a half in all


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

    def __init__(
        self,
        client: Client,
        *,
        retry_attempts: int = RETRY_ATTEMPTS,
        retry_base_s: float = RETRY_BASE_S,
    ) -> None:
        self.client = client
        self._attempts = max(1, retry_attempts)
        self._base_s = retry_base_s

    async def _retrying(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        """``call()``, retried with full-jitter backoff while it fails temporarily.

        Raises:
            Temporary: still failing after the last attempt (nothing was decided).
            DXGError: any other answer of the gateway, at once.
        """
        for attempt in range(1, self._attempts + 1):
            try:
                return await call()
            except Temporary as err:
                if attempt == self._attempts:
                    raise
                delay = random.uniform(0, min(RETRY_MAX_S, self._base_s * 2**attempt))  # noqa: S311 - jitter
                log.info("%s: %s (try %d of %d); retrying in %.1f s",
                         what, err.code, attempt, self._attempts, delay)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def _fetch(self, path: str) -> bytes:
        return await self._retrying(path, partial(self.client.fetch_sealed, path))

    async def pull_one(self, packet_id: str, out: Path) -> PullResult:
        """Fetch, verify and store one delivery, then acknowledge it.

        The folder ``out/<packet_id>`` appears only when everything verified;
        when something served does not verify, a REJECTED receipt names the
        reason.

        Raises:
            LocalError: no trust store, or it pins no gateway or not the
                sender: a missing pin is this party's to fix, never a reason
                to reject the packet.
            Temporary: the gateway stayed unreachable or failing; nothing was
                decided, no receipt sent, the packet stays READY.
            DXGError: the gateway refused a request; likewise nothing decided.
        """
        trust = self.client.pinned()
        trust.require()
        raw_index = await self._fetch(f"/v1/deliveries/{packet_id}")
        staging = out / f".{packet_id}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        index: dict[str, Any] = {}
        opened = _Opened(envelope="", envelope_sha256="")
        try:
            with _verifying():
                index = _parse_index(raw_index)
                trust.require(str(index["sender"]))
                opened = _Opened(
                    envelope=str(index["envelope"]),
                    envelope_sha256=sha256_hex(str(index["envelope"])),
                )
            result = await self._verify_and_write(packet_id, index, opened, staging)
        except VerificationFailed as err:
            shutil.rmtree(staging, ignore_errors=True)
            receipt = self._receipt("REJECTED", packet_id, index, opened, reason=err.detail)
            answer = await self._send_receipt(receipt)
            return PullResult(
                packet_id,
                str(index.get("sender")),
                "REJECTED",
                err.detail,
                None,
                log_index=answer.get("log_index"),
            )
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        receipt = self._receipt("DELIVERED", packet_id, index, opened, reason=None)
        (staging / "receipt.jws").write_text(receipt + "\n", encoding="ascii")
        folder = out / packet_id
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(staging, folder)
        answer = await self._send_receipt(receipt)
        result.folder = folder
        result.log_index = answer.get("log_index")
        return result

    async def _send_receipt(self, receipt: str) -> dict[str, Any]:
        # The identical receipt sent again is answered 200 (SPEC §6): safe to retry.
        return await self._retrying("receipt", partial(self.client.send_receipt, receipt))

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
        with _verifying():
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
                raise VerificationFailed("the manifest names another packet, sender or recipient")
            opened.parts = [(p.name, p.sha256) for p in manifest.parts]

            extraction = str(index["extraction"])
            parsed_doc = jws.parse(extraction, typ=jws.TYP_EXTRACTION)
            gateway_key = await self.client.gateway_key(
                parsed_doc.kid, _signed_at(parsed_doc.payload, "extracted_at") or manifest.created
            )
            doc = json.loads(jws.verify(parsed_doc, gateway_key).payload)
            if not isinstance(doc, dict) or (
                doc.get("packet_id") != packet_id
                or doc.get("envelope_sha256") != opened.envelope_sha256
            ):
                raise VerificationFailed(
                    "the extraction document is bound to another packet or envelope"
                )
            opened.extraction_sha256 = sha256_hex(extraction)
            listed = {(b["sha256"], b["role"]) for b in index["blobs"]}
            photos = [(str(p["sha256"]), str(p.get("media_type"))) for p in doc.get("photos", [])]

        (staging / "parts").mkdir(parents=True)
        file_names = original_names(manifest)
        for spec in manifest.parts:
            if (spec.sha256, "part") not in listed:
                raise VerificationFailed(f"the delivery does not list part {spec.name!r}")
            data = await self._fetch(f"/v1/deliveries/{packet_id}/blobs/{spec.sha256}")
            if len(data) != spec.size or sha256_hex(data) != spec.sha256:
                raise VerificationFailed(f"part {spec.name!r} does not match the sender's manifest")
            target = _inside(staging / "parts", spec.name)
            if spec.name in file_names:
                target = staging / "parts" / file_names[spec.name]
            await asyncio.to_thread(target.write_bytes, data)
        if photos:
            (staging / "photos").mkdir()
        for digest, media_type in photos:
            data = await self._fetch(f"/v1/deliveries/{packet_id}/blobs/{digest}")
            if sha256_hex(data) != digest:
                raise VerificationFailed("a photo does not match the extraction document")
            suffix = SUFFIX_BY_MEDIA_TYPE.get(media_type, ".bin")
            target = staging / "photos" / f"{digest}{suffix}"  # hex digest, verified above
            await asyncio.to_thread(target.write_bytes, data)
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
                " --gateway URL --expect-kid=KID"
            )
        out.mkdir(parents=True, exist_ok=True)
        cursor_file = out / ".inbox-cursor"
        cursor = after if after is not None else _read_cursor(cursor_file)
        results = []
        while True:
            page = await self._retrying("inbox", partial(self.client.inbox, cursor))
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


MAX_FILE_NAME_CHARS = 120  # well under the 255 bytes a file name may have in UTF-8
FILE_NAME_PUNCTUATION = frozenset(" ._-()+,")


def safe_file_name(name: object) -> str | None:
    """A sender's file name made safe to create in one folder, or None if nothing is left.

    Letters of any script and digits stay (a Cyrillic name is the point);
    path separators and every other character become ``_``; no leading dot
    or blank, so never ``.``, ``..`` or a hidden file.
    """
    if not isinstance(name, str):
        return None
    cleaned = "".join(c if c.isalnum() or c in FILE_NAME_PUNCTUATION else "_" for c in name)
    cleaned = cleaned.lstrip(". ").rstrip(" ")[:MAX_FILE_NAME_CHARS]
    return cleaned or None


def original_names(manifest: Manifest) -> dict[str, str]:
    """Part name -> the sender's file name, from the manifest body, made safe.

    A part whose file name is missing, unusable or taken by another part
    keeps its part name.
    """
    body = manifest.body or {}
    listed = body.get(FILES_MEMBER)
    if not isinstance(listed, list):
        return {}
    parts = {p.name for p in manifest.parts}
    names: dict[str, str] = {}
    taken = set(parts)
    for entry in listed:
        if not isinstance(entry, dict):
            continue
        part, name = entry.get("part"), safe_file_name(entry.get("name"))
        if part in parts and part not in names and name is not None and name not in taken:
            names[str(part)] = name
            taken.add(name)
    return names


@contextlib.contextmanager
def _verifying() -> Iterator[None]:
    """Turn what this party concluded about served content into :class:`VerificationFailed`.

    A temporary failure, a local problem (no trust store, a partner not
    pinned) or any problem the gateway itself answered passes through
    unchanged: it is no verdict.
    """
    try:
        yield
    except (VerificationFailed, LocalError):  # a missing pin is this party's to fix
        raise
    except DXGError as err:
        if err.retryable or err.answered_by_peer:
            raise
        raise VerificationFailed(err.detail) from err
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise VerificationFailed(f"the delivery is malformed ({type(exc).__name__})") from exc


def _parse_index(raw: bytes) -> dict[str, Any]:
    index = json.loads(raw)
    if not isinstance(index, dict):
        raise VerificationFailed("the delivery index is not a JSON object")
    return index


def _inside(folder: Path, name: str) -> Path:
    """``folder/name``, refusing any name that could leave ``folder``.

    Raises:
        VerificationFailed: ``name`` is not a safe file name.
    """
    if not is_safe_part_name(name):
        raise VerificationFailed("a part name is not a safe file name")
    return folder / name


def _unverified_parts(envelope: str) -> list[tuple[str, str]]:
    """The parts an envelope lists, read without trusting it (for REJECTED only)."""
    try:
        doc = json.loads(jws.parse(envelope, typ=jws.TYP_PACKET).payload)
        return [(str(p["name"]), str(p["sha256"])) for p in doc["parts"]]
    except (DXGError, ValueError, KeyError, TypeError, RecursionError):
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
