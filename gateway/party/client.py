"""The party side: a small client for partners who script against a gateway.

It signs every request (SPEC §2), sends packets (SPEC §3) streaming their
files with optional progress, reads statuses, inboxes and receipts, and
fetches sealed deliveries (SPEC §5); ``gateway.party.pull`` verifies and
acknowledges them.

Trust: keys come from the party's own :class:`~gateway.party.trust.TrustStore`
(``trust=``), pinned out of band, never from the gateway being checked.
``gateway pull`` refuses to run without one. Without a store (``gateway
status`` or a monitor run without ``--trust``) the gateway's key is taken
from ``GET /v1/gateway``, and only for its checkpoints.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp

from gateway.party.trust import TrustStore
from gateway.protocol.clock import now
from gateway.protocol.crypto.keys import (
    EncryptionKey,
    PublicKey,
    SigningKey,
    load_encryption_key,
    load_signing_key,
)
from gateway.protocol.crypto.seal import open_sealed
from gateway.protocol.errors import (
    Invalid,
    LocalError,
    NetworkError,
    ServerError,
    Unauthenticated,
    VerificationFailed,
    from_problem,
)
from gateway.protocol.manifest import PartSpec, build_manifest, sign_envelope
from gateway.protocol.token import sign_token
from gateway.protocol.trust import RegisteredKey

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


def neutral_name(position: int, path: Path) -> str:
    """A part name that says nothing about the file: ``part-<n>`` and its type's suffix.

    Monitors read every receipt, and receipts carry part names; a file saved
    as a child's name must not become one (the original name travels in the
    manifest body, see :data:`FILES_MEMBER`).
    """
    return f"part-{position}{SUFFIX_BY_MEDIA_TYPE[media_type_of(path)]}"


# The manifest body member that maps neutral part names to the senders' file
# names: ``{"files": [{"part": <part name>, "name": <file name>}]}``. The
# manifest reaches only the gateway and the recipient (inside the envelope and
# the sealed delivery); receipts, which monitors read, carry part names only.
FILES_MEMBER = "files"


def describe(path: Path, name: str | None = None) -> PartSpec:
    """Size and SHA-256 of a file, streamed, as a manifest entry."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as source:
        while chunk := source.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return PartSpec(name or path.name, media_type_of(path), size, digest.hexdigest())


class Client:
    """Talks to one gateway as one party (or monitor)."""

    def __init__(
        self,
        base_url: str,
        identity: Identity,
        *,
        trust: TrustStore | None = None,
        timeout_s: float = 300.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.identity = identity
        self.trust = trust
        self._gateway_id: str | None = None
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s))

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._session.close()

    # -- plumbing ----------------------------------------------------------

    @contextlib.contextmanager
    def _network(self) -> Iterator[None]:
        """Turn a failure to talk to the gateway into one :class:`NetworkError`."""
        try:
            yield
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise NetworkError(
                f"cannot reach the gateway at {self.base_url} ({type(exc).__name__})"
            ) from exc

    async def gateway_info(self) -> dict[str, Any]:
        """``GET /v1/gateway`` (no authentication).

        Raises:
            NetworkError: the gateway could not be reached.
            ServerError: it answered something that is not its information.
        """
        with self._network():
            async with self._session.get(self.base_url + "/v1/gateway") as response:
                raw = await response.read()
                status = response.status
        try:
            body: dict[str, Any] = json.loads(raw)
            if status != 200 or not isinstance(body.get("id"), str):
                raise ValueError(status)
        except ValueError as exc:
            raise ServerError(
                f"{self.base_url}/v1/gateway did not answer a gateway's information"
                f" (HTTP {status}); check the URL"
            ) from exc
        if self._gateway_id is None:
            self._gateway_id = str(body["id"])
        return body

    async def _audience(self) -> str:
        if self._gateway_id is None:
            await self.gateway_info()
        assert self._gateway_id is not None
        return self._gateway_id

    async def _headers(self, method: str, path_qs: str) -> dict[str, str]:
        token = sign_token(
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
            DXGError: the gateway's problem, rebuilt (same class, same detail);
                a 5xx is :class:`Temporary` whatever it says.
            NetworkError: the gateway could not be reached or the answer broke off.
        """
        all_headers = await self._headers(method, path_qs) | dict(headers or {})
        with self._network():
            async with self._session.request(
                method, self.base_url + path_qs, data=data, headers=all_headers
            ) as response:
                body = await response.read()
                status = response.status
        if status >= 300:
            try:
                problem = json.loads(body)
                if not isinstance(problem, dict):
                    raise ValueError("not an object")
            except ValueError:
                problem = {"detail": f"HTTP {status}"}
            raise from_problem(status, problem)
        return status, body

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
        keep_names: bool = False,
    ) -> dict[str, Any]:
        """Sign and submit a packet of ``files``; the gateway's 202/200 body.

        Parts are named ``part-1.pdf``, ``part-2.txt``… and the file names go
        to the recipient in the manifest body (:data:`FILES_MEMBER`), never
        into a receipt; ``keep_names`` names each part after its file instead.
        A packet without files (a verification, SPEC §10) gets no such member:
        kinds with a closed body stay exactly as their SPEC section defines them.

        Raises:
            Invalid: a file is of an unsupported type.
        """
        if keep_names:
            names = [f.name for f in files]
        else:
            names = [neutral_name(i, f) for i, f in enumerate(files, start=1)]
        if names and not keep_names:  # a packet of no files (a verification) maps no names
            body = dict(body or {})
            pairs = zip(names, files, strict=True)
            body.setdefault(FILES_MEMBER, [{"part": n, "name": f.name} for n, f in pairs])
        specs = [await asyncio.to_thread(describe, f, n) for f, n in zip(files, names, strict=True)]
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

    async def fetch_sealed(self, path: str) -> bytes:
        """GET a sealed body (SPEC §5) and open it with this party's key."""
        _, body = await self.request("GET", path)
        return await asyncio.to_thread(open_sealed, body, self.identity.encryption)

    async def party_keys(self, party_id: str) -> list[RegisteredKey]:
        """A party's keys with their validity, as the gateway's registry lists them."""
        info = await self.get_json(f"/v1/parties/{party_id}")
        return [RegisteredKey.from_json(k) for k in info["keys"]]

    def pinned(self) -> TrustStore:
        """The trust store, which verifying anything a party pulls requires.

        Raises:
            LocalError: this client was made without one; says how to make it.
        """
        if self.trust is None:
            raise LocalError(
                "no trust store: give --trust FILE (or DXG_TRUST), made with gateway trust"
                " gateway FILE --gateway URL and gateway trust add FILE PARTY --keys"
                " PARTY.pub.json"
            )
        return self.trust

    async def gateway_key(self, kid: str, at: datetime | None = None) -> PublicKey:
        """The gateway's signing key ``kid``, valid at ``at`` (default now).

        Pinned in the trust store when there is one; otherwise (``status`` or
        a monitor without ``--trust``) as the gateway publishes it.

        Raises:
            VerificationFailed: not a pinned key of the gateway's, not valid at
                ``at``, or (unpinned) not published.
            LocalError: the trust store pins no gateway.
        """
        if self.trust is not None:
            self.trust.require()
            assert self.trust.gateway is not None
            return self.trust.signing_key(self.trust.gateway.id, kid, at or now())
        for jwk in (await self.gateway_info())["keys"]:
            key = PublicKey.from_jwk(jwk)
            if key.kid == kid:
                return key
        raise VerificationFailed("signed by a key the gateway does not publish")

    async def signer_key(self, issuer: str, kid: str, at: datetime) -> PublicKey:
        """The signing key ``kid`` of ``issuer``, for a document it signed at ``at``.

        This party's own current key is known without asking anyone. Else,
        with a trust store: the pinned key, valid at ``at`` (the document's
        own signed time, as :meth:`sender_key` judges a manifest); without
        one: the key the gateway's registry lists, valid now (an unpinned
        reading: a key revoked since then fails).

        Raises:
            VerificationFailed: (pinned) not pinned for ``issuer``, or not
                valid at ``at``.
            Unauthenticated: (unpinned) not registered, or not valid now.
        """
        own = self.identity.signing.public
        if issuer == self.identity.party_id and kid == own.kid:
            return own  # this party's own key: it needs no pin (a case holds both sides' events)
        if self.trust is not None:
            return self.trust.signing_key(issuer, kid, at)
        return await self.registered_key(issuer, kid)

    async def registered_key(self, party: str, kid: str) -> PublicKey:
        """``party``'s signing key ``kid`` as the gateway's registry lists it, valid now.

        Raises:
            Unauthenticated: unknown, revoked, expired or not yet valid.
        """
        at = now()
        for record in await self.party_keys(party):
            if record.kid != kid or record.use != "sig":
                continue
            problem = record.problem_at(at)
            if problem is not None:
                raise Unauthenticated(f"{party}'s key {kid} is {problem}")
            return record.key
        raise Unauthenticated(f"signed by key {kid}, which is not a registered key of {party}")

    def sender_key(self, sender: str, kid: str, at: datetime) -> PublicKey:
        """The sender's pinned signing key ``kid``, valid at ``at`` (the manifest's ``created``).

        Raises:
            VerificationFailed: not pinned for ``sender``, or not valid at ``at``.
            LocalError: no trust store.
        """
        return self.pinned().signing_key(sender, kid, at)


async def _read_file(path: Path, progress: Progress | None) -> AsyncIterator[bytes]:
    with path.open("rb") as source:
        while chunk := await asyncio.to_thread(source.read, CHUNK):
            if progress is not None:
                progress(len(chunk))
            yield chunk
