"""The party side: a small client for partners who script against a gateway.

It signs every request (SPEC §2), sends packets (SPEC §3) streaming their
files with optional progress, and pulls deliveries (SPEC §5) verifying
everything end to end before it acknowledges: the sender's signature on the
manifest (with the sender's key as the gateway's registry lists it, valid at
the time of checking), every part against the manifest's size and SHA-256,
the gateway's signature on the extraction document and its binding to the
envelope, and every photo against the document. Only then does it write the
files and send a DELIVERED receipt; if anything fails, it writes nothing and
sends REJECTED with the reason.

Trust: the gateway's own key is taken from ``GET /v1/gateway`` unless a
pinned key is given (``gateway_key=``); parties that want the sender's key
pinned too pass ``trusted_keys``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from gateway import receipts, tokens
from gateway.clock import now, parse_time
from gateway.crypto import jws
from gateway.crypto.digest import sha256_hex
from gateway.crypto.keys import (
    EncryptionKey,
    PublicKey,
    SigningKey,
    load_encryption_key,
    load_signing_key,
)
from gateway.crypto.seal import open_sealed
from gateway.errors import DXGError, Invalid, Unauthenticated, from_problem
from gateway.packets import Manifest, PartSpec, build_manifest, sign_envelope

CHUNK = 256 * 1024
MEDIA_TYPES_BY_SUFFIX = {
    ".pdf": "application/pdf",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".json": "application/json",
    ".txt": "text/plain",
}
SUFFIX_BY_MEDIA_TYPE = {
    "application/pdf": ".pdf",
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/tiff": ".tif",
    "application/json": ".json",
    "text/plain": ".txt",
}
Progress = Callable[[int], object]


@dataclass(frozen=True, slots=True)
class Identity:
    """A party's id and private keys, as ``gateway keygen PREFIX`` wrote them."""

    party_id: str
    signing: SigningKey
    encryption: EncryptionKey

    @classmethod
    def load(cls, party_id: str, prefix: str | Path) -> Identity:
        prefix = str(prefix)
        return cls(
            party_id=party_id,
            signing=load_signing_key(Path(prefix + ".sig.jwk")),
            encryption=load_encryption_key(Path(prefix + ".enc.jwk")),
        )


def media_type_of(path: Path) -> str:
    """Raises: Invalid if the file's suffix is not of an accepted media type."""
    media_type = MEDIA_TYPES_BY_SUFFIX.get(path.suffix.lower())
    if media_type is None:
        raise Invalid(f"{path.name}: unsupported file type {path.suffix!r}")
    return media_type


def describe(path: Path, name: str | None = None) -> PartSpec:
    """Size and SHA-256 of a file, streamed, as a manifest entry."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as source:
        while chunk := source.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return PartSpec(name or path.name, media_type_of(path), size, digest.hexdigest())


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


class Client:
    """Talks to one gateway as one party (or monitor)."""

    def __init__(
        self,
        base_url: str,
        identity: Identity,
        *,
        gateway_key: PublicKey | None = None,
        trusted_keys: Mapping[str, Sequence[PublicKey]] | None = None,
        timeout_s: float = 300.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.identity = identity
        self._gateway_key = gateway_key
        self._gateway_id: str | None = None
        self._trusted = dict(trusted_keys or {})
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s))

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._session.close()

    # -- plumbing ----------------------------------------------------------

    async def gateway_info(self) -> dict[str, Any]:
        async with self._session.get(self.base_url + "/v1/gateway") as response:
            body: dict[str, Any] = await response.json()
        if self._gateway_id is None:
            self._gateway_id = str(body["id"])
        return body

    async def _audience(self) -> str:
        if self._gateway_id is None:
            await self.gateway_info()
        assert self._gateway_id is not None
        return self._gateway_id

    async def _headers(self, method: str, path_qs: str) -> dict[str, str]:
        token = tokens.issue(
            self.identity.signing,
            issuer=self.identity.party_id,
            audience=await self._audience(),
            method=method,
            path_qs=path_qs,
        )
        return {"Authorization": f"Bearer {token}"}

    async def request(
        self,
        method: str,
        path_qs: str,
        *,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, bytes]:
        """One signed request; the status and body of a 2xx answer.

        Raises:
            DXGError: the gateway's problem, rebuilt (same class, same detail).
        """
        all_headers = await self._headers(method, path_qs) | dict(headers or {})
        async with self._session.request(
            method, self.base_url + path_qs, data=data, headers=all_headers
        ) as response:
            body = await response.read()
            if response.status >= 300:
                try:
                    problem = json.loads(body)
                except ValueError:
                    problem = {"detail": f"HTTP {response.status}"}
                raise from_problem(response.status, problem)
            return response.status, body

    async def get_json(self, path_qs: str) -> Any:
        _, body = await self.request("GET", path_qs)
        return json.loads(body)

    # -- sending -----------------------------------------------------------

    async def send(
        self,
        files: Sequence[Path],
        *,
        recipient: str,
        kind: str = "dossier",
        purpose: str = "family_tracing",
        legal_basis: Sequence[str] = ("vital_interest",),
        in_reply_to: str | None = None,
        body: dict[str, Any] | None = None,
        packet_id: str | None = None,
        progress: Progress | None = None,
    ) -> dict[str, Any]:
        """Sign and submit a packet of ``files``; the gateway's 202/200 body."""
        specs = [await asyncio.to_thread(describe, f) for f in files]
        manifest = build_manifest(
            sender=self.identity.party_id,
            recipient=recipient,
            parts=specs,
            kind=kind,
            purpose=purpose,
            legal_basis=legal_basis,
            in_reply_to=in_reply_to,
            body=body,
            packet_id=packet_id,
        )
        envelope = sign_envelope(manifest, self.identity.signing)
        return await self.submit(envelope, list(zip(specs, files, strict=True)), progress)

    async def submit(
        self,
        envelope: str,
        parts: Sequence[tuple[PartSpec, Path]],
        progress: Progress | None = None,
    ) -> dict[str, Any]:
        """Submit an already signed envelope with its files, streamed from disk."""
        writer = aiohttp.MultipartWriter("form-data")
        env = writer.append(envelope, {"Content-Type": "application/jose"})
        env.set_content_disposition("form-data", name="envelope")
        for spec, path in parts:
            payload = aiohttp.AsyncIterablePayload(
                _read_file(path, progress), content_type=spec.media_type
            )
            part = writer.append_payload(payload)
            part.set_content_disposition("form-data", name=spec.name, filename=spec.name)
        _, body = await self.request("POST", "/v1/packets", data=writer)
        result: dict[str, Any] = json.loads(body)
        return result

    # -- reading -----------------------------------------------------------

    async def status(self, packet_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.get_json(f"/v1/packets/{packet_id}")
        return result

    async def inbox(self, after: int = 0, limit: int = 100) -> dict[str, Any]:
        result: dict[str, Any] = await self.get_json(f"/v1/inbox?after={after}&limit={limit}")
        return result

    async def receipts(self, after: int = 0, limit: int = 100) -> dict[str, Any]:
        result: dict[str, Any] = await self.get_json(f"/v1/receipts?after={after}&limit={limit}")
        return result

    async def send_receipt(self, compact: str) -> dict[str, Any]:
        _, body = await self.request(
            "POST", "/v1/receipts", data=compact, headers={"Content-Type": "application/jose"}
        )
        result: dict[str, Any] = json.loads(body)
        return result

    async def party_keys(
        self, party_id: str
    ) -> list[tuple[PublicKey, str | None, str | None, str | None]]:
        info = await self.get_json(f"/v1/parties/{party_id}")
        return [
            (PublicKey.from_jwk(k), k.get("not_before"), k.get("not_after"), k.get("revoked_at"))
            for k in info["keys"]
        ]

    async def gateway_key(self, kid: str) -> PublicKey:
        """The gateway's signing key ``kid`` (pinned, or as it publishes it).

        Raises:
            Unauthenticated: the gateway publishes no such key.
        """
        if self._gateway_key is not None:
            if self._gateway_key.kid != kid:
                raise Unauthenticated("signed by a gateway key other than the pinned one")
            return self._gateway_key
        for jwk in (await self.gateway_info())["keys"]:
            key = PublicKey.from_jwk(jwk)
            if key.kid == kid:
                return key
        raise Unauthenticated("signed by a key the gateway does not publish")

    async def sender_key(self, sender: str, kid: str) -> PublicKey:
        """The sender's signing key ``kid``, valid now.

        Raises:
            Unauthenticated: unknown, revoked, expired or not yet valid.
        """
        if sender in self._trusted:
            for key in self._trusted[sender]:
                if key.kid == kid:
                    return key
            raise Unauthenticated(f"the envelope is not signed by a trusted key of {sender}")
        at = now()
        for key, not_before, not_after, revoked_at in await self.party_keys(sender):
            if key.kid != kid or key.use != "sig":
                continue
            if revoked_at is not None and at >= parse_time(revoked_at):
                raise Unauthenticated(f"the envelope's key of {sender} is revoked")
            if not_before is not None and at < parse_time(not_before):
                raise Unauthenticated(f"the envelope's key of {sender} is not yet valid")
            if not_after is not None and at > parse_time(not_after):
                raise Unauthenticated(f"the envelope's key of {sender} has expired")
            return key
        raise Unauthenticated(f"the envelope is not signed by a registered key of {sender}")

    # -- pulling -----------------------------------------------------------

    async def fetch_sealed(self, path: str) -> bytes:
        _, body = await self.request("GET", path)
        return await asyncio.to_thread(open_sealed, body, self.identity.encryption)

    async def pull_one(self, packet_id: str, out: Path) -> PullResult:
        """Fetch, verify and store one delivery, then acknowledge it.

        The folder ``out/<packet_id>`` appears only when everything verified;
        otherwise a REJECTED receipt names the reason.
        """
        index = json.loads(await self.fetch_sealed(f"/v1/deliveries/{packet_id}"))
        envelope = str(index["envelope"])
        opened = _Opened(envelope=envelope, envelope_sha256=sha256_hex(envelope))
        staging = out / f".{packet_id}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        try:
            result = await self._verify_and_write(packet_id, index, opened, staging)
        except DXGError as err:
            shutil.rmtree(staging, ignore_errors=True)
            receipt = self._receipt("REJECTED", packet_id, index, opened, reason=err.detail)
            answer = await self.send_receipt(receipt)
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
        answer = await self.send_receipt(receipt)
        result.folder = folder
        result.log_index = answer.get("log_index")
        return result

    def _receipt(
        self, level: str, packet_id: str, index: dict[str, Any], opened: _Opened, reason: str | None
    ) -> str:
        parts = opened.parts or _unverified_parts(opened.envelope)
        return receipts.issue(
            self.identity.signing,
            level=level,
            packet_id=packet_id,
            issuer=self.identity.party_id,
            sender=str(index.get("sender")),
            recipient=self.identity.party_id,
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
        key = await self.sender_key(sender, parsed.kid)
        manifest = Manifest.from_bytes(jws.verify(parsed, key).payload)
        if (manifest.packet_id, manifest.sender, manifest.recipient) != (
            packet_id,
            sender,
            self.identity.party_id,
        ):
            raise Invalid("the manifest names another packet, sender or recipient")
        opened.parts = [(p.name, p.sha256) for p in manifest.parts]

        extraction = str(index["extraction"])
        parsed_doc = jws.parse(extraction, typ=jws.TYP_EXTRACTION)
        doc = json.loads(jws.verify(parsed_doc, await self.gateway_key(parsed_doc.kid)).payload)
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
            data = await self.fetch_sealed(f"/v1/deliveries/{packet_id}/blobs/{spec.sha256}")
            if len(data) != spec.size or sha256_hex(data) != spec.sha256:
                raise Invalid(f"part {spec.name!r} does not match the sender's manifest")
            await asyncio.to_thread((staging / "parts" / spec.name).write_bytes, data)
        photos = doc.get("photos", [])
        if photos:
            (staging / "photos").mkdir()
        for photo in photos:
            digest = str(photo["sha256"])
            data = await self.fetch_sealed(f"/v1/deliveries/{packet_id}/blobs/{digest}")
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
        """Pull every READY packet in the inbox after the saved cursor."""
        out.mkdir(parents=True, exist_ok=True)
        cursor_file = out / ".inbox-cursor"
        cursor = after if after is not None else _read_cursor(cursor_file)
        results = []
        while True:
            page = await self.inbox(cursor)
            for item in page["items"]:
                if item["status"] == "READY":
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


def _read_cursor(path: Path) -> int:
    try:
        return int(path.read_text(encoding="ascii").strip())
    except (FileNotFoundError, ValueError):
        return 0


def _write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


async def _read_file(path: Path, progress: Progress | None) -> AsyncIterator[bytes]:
    with path.open("rb") as source:
        while chunk := await asyncio.to_thread(source.read, CHUNK):
            if progress is not None:
                progress(len(chunk))
            yield chunk
