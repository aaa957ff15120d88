"""Reading a gateway's receipt log from outside, verifying every answer (SPEC §7).

This is the client half of the log: parties (``gateway status``) and
monitors (``gateway monitor``) use it through their signed
:class:`~gateway.party.client.Client`. Nothing the gateway answers is believed
until it is verified:

* a checkpoint only once the log's Ed25519 signature over the exact note
  text verified, with the note key named after the log's origin (SPEC §7);
  the key is the one pinned in the party's trust store, else the gateway's
  published ``sig`` key;
* an inclusion or consistency proof only once it leads to the root of such a
  checkpoint (RFC 9162 §2.1.3.2, §2.1.4.2, via :mod:`gateway.protocol.merkle`), and only
  for the index and sizes that were asked for;
* a page of entries only as bytes; whether they belong to a tree is the
  caller's to prove (by proofs or by recomputing the root).

Verifications return result objects; failures raise
:class:`~gateway.protocol.errors.Invalid` with what exactly failed.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gateway.party.client import Client
from gateway.protocol import checkpoint
from gateway.protocol.checkpoint import CosignerKey, NoteKey, VerifiedCheckpoint
from gateway.protocol.clock import now
from gateway.protocol.crypto import jws
from gateway.protocol.crypto.keys import PublicKey
from gateway.protocol.errors import DXGError, Invalid
from gateway.protocol.merkle import (
    MAX_ENTRIES_PER_READ,
    ConsistencyProof,
    InclusionProof,
    VerifiedConsistency,
    VerifiedInclusion,
    b64std,
    leaf_hash,
)

CHECKPOINT_WAIT_S = 5.0  # the log signs within a second; a receipt waits at most this long
POLL_S = 0.2
RECEIPT_PAGE = 1000  # GET /v1/receipts answers at most this many per page


@dataclass(frozen=True, slots=True)
class SignedTreeHead:
    """A checkpoint as received (``note``) and what its verification proved."""

    note: str
    verified: VerifiedCheckpoint

    @property
    def size(self) -> int:
        return self.verified.size

    @property
    def root(self) -> bytes:
        return self.verified.root

    def to_json(self) -> dict[str, Any]:
        return {
            "origin": self.verified.origin,
            "size": self.size,
            "root": b64std(self.root),
            "signers": list(self.verified.signers),
        }


class LogReader:
    """The receipt log of one gateway, read through ``client`` and verified."""

    def __init__(
        self,
        client: Client,
        *,
        log_keys: Sequence[NoteKey] | None = None,
        cosigners: Sequence[CosignerKey] = (),
    ) -> None:
        """Read the log with ``client``.

        Args:
            client: a signed client of a party or monitor.
            log_keys: pinned note keys of the log; default the gateway's
                published Ed25519 keys, named after its origin.
            cosigners: monitors whose cosignatures are verified when present.
        """
        self.client = client
        self._log_keys = list(log_keys) if log_keys is not None else None
        self._cosigners = list(cosigners)

    async def log_keys(self) -> list[NoteKey]:
        """The note keys a checkpoint must be signed with.

        The gateway's keys pinned in the client's trust store (named after
        the pinned origin) when it has one; otherwise the gateway's published
        ``sig`` keys, named after its published origin.
        """
        if self._log_keys is None:
            trust = self.client.trust
            if trust is not None:
                trust.require()
                assert trust.gateway is not None
                origin = trust.gateway.origin
                self._log_keys = [
                    NoteKey(name=origin, public=k) for k in trust.gateway_keys(now())
                ]
                return self._log_keys
            info = await self.client.gateway_info()
            origin = str(info["origin"])
            self._log_keys = [
                NoteKey(name=origin, public=PublicKey.from_jwk(jwk))
                for jwk in info["keys"]
                if PublicKey.from_jwk(jwk).use == "sig"
            ]
        return self._log_keys

    async def checkpoint(self, size: int | None = None) -> SignedTreeHead:
        """The latest checkpoint (or the one of ``size``), its signature verified.

        Raises:
            Invalid: malformed, not signed by the log's key, or another origin.
            DXGError: the gateway's error (e.g. NotFound).
        """
        path = "/v1/log/checkpoint" if size is None else f"/v1/log/checkpoint?size={size}"
        _, body = await self.client.request("GET", path)
        note = body.decode("utf-8", errors="replace")
        verified = verify_note(note, await self.log_keys(), self._cosigners)
        if size is not None and verified.size != size:
            raise Invalid(f"asked for the checkpoint of size {size}, got size {verified.size}")
        return SignedTreeHead(note=note, verified=verified)

    async def checkpoint_covering(
        self, index: int, *, wait_s: float = CHECKPOINT_WAIT_S
    ) -> SignedTreeHead:
        """A verified checkpoint whose tree contains leaf ``index``.

        The log signs new checkpoints within a second; this waits that long.

        Raises:
            Invalid: no such checkpoint within ``wait_s``, or a bad one.
        """
        deadline = time.monotonic() + wait_s
        while True:
            head = await self.checkpoint()
            if head.size > index:
                return head
            if time.monotonic() >= deadline:
                raise Invalid(
                    f"the log's checkpoint (size {head.size}) still does not cover"
                    f" log index {index} after {wait_s:g} s"
                )
            await asyncio.sleep(POLL_S)

    async def entries(self, start: int, end: int) -> list[bytes]:
        """The entries ``[start, end)``, fetched in pages, as bytes.

        Raises:
            Invalid: the log answered fewer or more entries than asked for.
        """
        out: list[bytes] = []
        for page_start in range(start, end, MAX_ENTRIES_PER_READ):
            page_end = min(end, page_start + MAX_ENTRIES_PER_READ)
            body = await self.client.get_json(f"/v1/log/entries?start={page_start}&end={page_end}")
            page = body.get("entries") if isinstance(body, dict) else None
            if not isinstance(page, list) or not all(isinstance(e, str) for e in page):
                raise Invalid(f"the entries [{page_start}, {page_end}) are not a list of strings")
            out.extend(e.encode("utf-8") for e in page)
            if len(page) != page_end - page_start:
                break  # the caller names the first index that does not verify
        return out

    async def inclusion(self, index: int, size: int) -> InclusionProof:
        """The (unverified) inclusion proof of ``index`` in the tree of ``size``.

        Raises:
            Invalid: malformed, or for another index or size than asked.
        """
        body = await self.client.get_json(f"/v1/log/proof/inclusion?index={index}&size={size}")
        proof = InclusionProof.from_json(body)
        if (proof.index, proof.size) != (index, size):
            raise Invalid(f"asked for the inclusion of {index} in {size}, got another proof")
        return proof

    async def prove_inclusion(
        self, entry: bytes, index: int, head: SignedTreeHead
    ) -> VerifiedInclusion:
        """Prove that ``entry`` is leaf ``index`` of the checkpoint ``head``.

        Raises:
            Invalid: the proof does not lead to the checkpoint's root.
        """
        proof = await self.inclusion(index, head.size)
        try:
            return proof.verify(leaf_hash=leaf_hash(entry), root=head.root)
        except Invalid as exc:
            raise Invalid(
                f"log index {index} is not included in checkpoint {head.size}: {exc.detail}"
            ) from exc

    async def prove_consistency(
        self, old: SignedTreeHead | VerifiedCheckpoint, new: SignedTreeHead
    ) -> VerifiedConsistency:
        """Prove that checkpoint ``old`` is a prefix of checkpoint ``new``.

        Raises:
            Invalid: the proof fails: the log forked or rewrote its history.
        """
        old_size, old_root = old.size, old.root
        body = await self.client.get_json(
            f"/v1/log/proof/consistency?from={old_size}&to={new.size}"
        )
        proof = ConsistencyProof.from_json(body)
        if (proof.old_size, proof.new_size) != (old_size, new.size):
            raise Invalid(f"asked for consistency {old_size} -> {new.size}, got another proof")
        return proof.verify(old_root=old_root, new_root=new.root)


def verify_note(
    note: str, keys: Sequence[NoteKey], cosigners: Sequence[CosignerKey] = ()
) -> VerifiedCheckpoint:
    """Verify a checkpoint with whichever of the log's keys signed it.

    Raises:
        Invalid: no key of the log's verifies it, or it is malformed.
    """
    if not keys:
        raise Invalid("the gateway publishes no signing key to verify its checkpoint with")
    failure: Invalid | None = None
    for key in keys:
        try:
            return checkpoint.verify_checkpoint(note, log_key=key, cosigners=cosigners)
        except Invalid as exc:
            failure = exc
    assert failure is not None
    raise Invalid(f"the checkpoint does not verify with the gateway's key: {failure.detail}")


# --- A packet's receipts in the log: what ``gateway status`` shows -------------------


@dataclass(frozen=True, slots=True)
class IncludedReceipt:
    """One receipt of a packet, proven to be leaf ``log_index`` of the checkpoint."""

    level: str
    issuer: str
    log_index: int

    def to_json(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "issuer": self.issuer,
            "log_index": self.log_index,
            "included": True,
        }


@dataclass(frozen=True, slots=True)
class PacketInLog:
    """Every receipt of a packet proven included in one verified checkpoint."""

    packet_id: str
    head: SignedTreeHead
    receipts: tuple[IncludedReceipt, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "verified": True,
            "checkpoint": self.head.to_json(),
            "receipts": [r.to_json() for r in self.receipts],
        }


async def log_indices(client: Client, wanted: Sequence[str]) -> dict[str, int]:
    """The log index of each receipt in ``wanted``, read from ``GET /v1/receipts``.

    Scans the caller's receipts in log order and stops once all are found.

    Raises:
        Invalid: a receipt is not listed (the gateway hides it).
    """
    missing = set(wanted)
    found: dict[str, int] = {}
    cursor = 0
    while missing:
        page = await client.receipts(after=cursor, limit=RECEIPT_PAGE)
        for item in page["items"]:
            compact = str(item["receipt"])
            if compact in missing:
                found[compact] = int(item["log_index"])
                missing.discard(compact)
        if int(page["next"]) == cursor:
            break
        cursor = int(page["next"])
    if missing:
        raise Invalid(f"{len(missing)} receipt(s) of the packet are not listed in the receipt log")
    return found


async def prove_packet(
    client: Client, packet_id: str, receipts: Sequence[str] | None = None
) -> PacketInLog:
    """Prove that every receipt of a packet is in the gateway's signed log.

    Finds each receipt's log index (``GET /v1/receipts``), fetches a
    checkpoint that covers them all and verifies its signature with the
    gateway's key (``GET /v1/gateway``, or the client's pinned key), then
    fetches each inclusion proof at the checkpoint's size and verifies it
    against the checkpoint's root, over the receipt's exact bytes.

    Args:
        client: the sender's or recipient's client.
        packet_id: the packet.
        receipts: its receipts as ``GET /v1/packets/{id}`` listed them;
            fetched when not given.

    Raises:
        Invalid: a receipt is missing from the log, the checkpoint does not
            verify, or an inclusion proof fails.
    """
    if receipts is None:
        receipts = [str(r) for r in (await client.status(packet_id))["receipts"]]
    if not receipts:
        raise Invalid("the packet has no receipts to prove")
    indices = await log_indices(client, receipts)
    reader = LogReader(client)
    head = await reader.checkpoint_covering(max(indices.values()))
    proven = []
    for compact in receipts:
        index = indices[compact]
        await reader.prove_inclusion(compact.encode("ascii"), index, head)
        level, issuer = _level_and_issuer(compact)
        proven.append(IncludedReceipt(level=level, issuer=issuer, log_index=index))
    return PacketInLog(packet_id=packet_id, head=head, receipts=tuple(proven))


async def packet_log_report(
    client: Client, packet_id: str, receipts: Sequence[str] | None = None
) -> dict[str, Any]:
    """The ``"log"`` member of ``gateway status``: :func:`prove_packet`, as JSON.

    A verification that fails is reported (``"verified": false`` with the
    problem code and detail), not raised, so the status is still shown.
    """
    try:
        return (await prove_packet(client, packet_id, receipts)).to_json()
    except DXGError as err:
        return {"verified": False, "problem": err.code, "detail": err.detail}


def _level_and_issuer(compact: str) -> tuple[str, str]:
    """Read, not trust, a receipt's level and issuer (for display only)."""
    try:
        claims = json.loads(jws.parse(compact, typ=jws.TYP_RECEIPT).payload)
        return str(claims["level"]), str(claims["issuer"])
    except (DXGError, ValueError, KeyError, TypeError):
        return "?", "?"
