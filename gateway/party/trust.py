"""The party's trust store: the keys it pinned itself, and the one rule to use them.

A party verifies what the gateway serves against keys it holds locally,
never against keys fetched from the gateway it is checking (a gateway that
swapped a party's key in its registry could otherwise vouch for its own
forgery). In the manner of python-tuf's trusted metadata set, trust is
rooted in what was pinned out of band, and every key is judged at one
reference time: the manifest's ``created`` for the sender's envelope, the
extraction document's ``extracted_at`` for the gateway's signature — not at
"now", so a key revoked or expired after a packet was signed still verifies
that packet, and a key not yet valid when it was signed does not.

The store is a JSON file, written by ``gateway trust add|revoke|gateway``::

    {"v": 1,
     "gateway": {"id": "gw", "origin": "dxg.local/receipts",
                 "keys": [<RegisteredKey JSON: public JWK + kid, use, validity>]},
     "parties": {"ua": [<RegisteredKey JSON>...], ...}}

It is loaded once into an immutable :class:`TrustStore`; changes produce a
new store, saved atomically. Validity is the shared rule
(:class:`gateway.protocol.trust.RegisteredKey`), written once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

from gateway.protocol.clock import format_time
from gateway.protocol.crypto.keys import PublicKey
from gateway.protocol.durable import write_atomically
from gateway.protocol.errors import DXGError, LocalError, VerificationFailed
from gateway.protocol.ids import check_id
from gateway.protocol.trust import RegisteredKey

TRUST_VERSION = 1
TRUST_ENV = "DXG_TRUST"  # the environment variable naming the trust store


@dataclass(frozen=True, slots=True)
class PinnedGateway:
    """The gateway as the party pinned it: its id, log origin and signing keys."""

    id: str
    origin: str
    keys: tuple[RegisteredKey, ...]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "origin": self.origin, "keys": [k.to_json() for k in self.keys]}


def _empty_parties() -> Mapping[str, tuple[RegisteredKey, ...]]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class TrustStore:
    """What one party pinned: the gateway, and each partner's signing keys."""

    gateway: PinnedGateway | None = None
    parties: Mapping[str, tuple[RegisteredKey, ...]] = field(default_factory=_empty_parties)

    # -- the one question -------------------------------------------------------------

    def signing_key(self, party: str, kid: str, at: datetime) -> PublicKey:
        """The pinned ``sig`` key ``kid`` of ``party`` (or of the gateway), valid at ``at``.

        Args:
            party: the signer's id; the pinned gateway's id names the gateway.
            kid: the key id the signature names.
            at: the reference time: when the document says it was signed.

        Raises:
            VerificationFailed: the party or key was never pinned, or the key
                was not valid at ``at`` (not yet, expired, revoked).
        """
        if self.gateway is not None and party == self.gateway.id:
            candidates: Iterable[RegisteredKey] = self.gateway.keys
            how = "gateway trust gateway FILE --gateway URL --expect-kid=KID"
        elif party in self.parties:
            candidates = self.parties[party]
            how = f"gateway trust add FILE {party} --keys {party}.pub.json"
        else:
            raise VerificationFailed(
                f"no keys of {party!r} are pinned in the trust store; get its public keys"
                f" out of band and pin them with: gateway trust add FILE {party}"
                f" --keys {party}.pub.json"
            )
        for record in candidates:
            if record.kid != kid or record.use != "sig":
                continue
            problem = record.problem_at(at)
            if problem is not None:
                raise VerificationFailed(
                    f"signed by {party}'s key {kid}, which was {problem}; it was used at"
                    f" {format_time(at)}"
                )
            return record.key
        raise VerificationFailed(
            f"signed by key {kid}, which is not a key of {party!r} pinned in the trust store"
            f" (a key the gateway serves is not trusted until pinned out of band: {how})"
        )

    def gateway_keys(self, at: datetime) -> list[PublicKey]:
        """The pinned gateway's signing keys valid at ``at`` (for its checkpoints)."""
        if self.gateway is None:
            return []
        return [k.key for k in self.gateway.keys if k.use == "sig" and k.problem_at(at) is None]

    def require(self, *parties: str) -> None:
        """Refuse to work without a pinned gateway and ``parties``.

        Raises:
            LocalError: the gateway or one of ``parties`` is not pinned; says how.
        """
        if self.gateway is None:
            raise LocalError(
                "the trust store pins no gateway; pin it with: gateway trust gateway FILE"
                " --gateway URL --expect-kid=KID (the kid from the gateway's operator)"
            )
        for party in parties:
            if party != self.gateway.id and party not in self.parties:
                raise LocalError(
                    f"the trust store pins no keys of {party!r}; get its {party}.pub.json out"
                    f" of band and pin it with: gateway trust add FILE {party} --keys"
                    f" {party}.pub.json"
                )

    # -- changes (each returns a new store) --------------------------------------------

    def with_gateway(self, gateway: PinnedGateway) -> TrustStore:
        return replace(self, gateway=gateway)

    def with_party_keys(self, party: str, keys: Iterable[RegisteredKey]) -> TrustStore:
        """Pin ``keys`` for ``party`` besides those already pinned (rotation).

        A key already pinned is replaced by the new record (new validity).
        """
        check_id(party)
        new = list(keys)
        kept = [k for k in self.parties.get(party, ()) if k.kid not in {n.kid for n in new}]
        parties = dict(self.parties)
        parties[party] = (*kept, *new)
        return replace(self, parties=MappingProxyType(parties))

    def revoke(self, party: str, kid: str, at: datetime) -> TrustStore:
        """Mark ``party``'s key ``kid`` revoked from ``at`` on.

        Raises:
            LocalError: no such pinned key.
        """
        records = self.parties.get(party)
        if records is None or kid not in {k.kid for k in records}:
            raise LocalError(f"the trust store pins no key {kid} of {party!r}; see trust show")
        parties = dict(self.parties)
        parties[party] = tuple(
            replace(k, revoked_at=at) if k.kid == kid else k for k in records
        )
        return replace(self, parties=MappingProxyType(parties))

    # -- the file --------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "v": TRUST_VERSION,
            "gateway": None if self.gateway is None else self.gateway.to_json(),
            "parties": {
                p: [k.to_json() for k in keys] for p, keys in sorted(self.parties.items())
            },
        }

    @classmethod
    def from_json(cls, obj: Any) -> TrustStore:
        """Raises: LocalError: not a trust store of this version, or a malformed key."""
        try:
            if obj.get("v") != TRUST_VERSION:
                raise LocalError("unknown trust store version")
            gw = obj.get("gateway")
            gateway = (
                None
                if gw is None
                else PinnedGateway(
                    id=check_id(str(gw["id"])),
                    origin=str(gw["origin"]),
                    keys=tuple(RegisteredKey.from_json(k) for k in gw["keys"]),
                )
            )
            parties = {
                check_id(str(p)): tuple(RegisteredKey.from_json(k) for k in keys)
                for p, keys in dict(obj["parties"]).items()
            }
        except (DXGError, KeyError, TypeError, ValueError, AttributeError) as exc:
            detail = exc.detail if isinstance(exc, DXGError) else type(exc).__name__
            raise LocalError(f"the trust store is malformed: {detail}") from exc
        return cls(gateway=gateway, parties=MappingProxyType(parties))

    @classmethod
    def load(cls, path: Path) -> TrustStore:
        """Read a trust store once.

        Raises:
            LocalError: missing, not JSON or malformed; says how to make one.
        """
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise LocalError(
                f"no trust store at {path}; make one with gateway trust gateway {path}"
                f" --gateway URL and gateway trust add {path} PARTY --keys PARTY.pub.json"
            ) from exc
        try:
            obj = json.loads(text)
        except ValueError as exc:
            raise LocalError(f"the trust store {path} is not JSON") from exc
        return cls.from_json(obj)

    @classmethod
    def load_or_empty(cls, path: Path) -> TrustStore:
        """The store in ``path``, or an empty one if there is no file yet."""
        return cls.load(path) if path.exists() else cls()

    def save(self, path: Path) -> None:
        """Write atomically: a crash leaves the old or the new file, whole."""
        data = (json.dumps(self.to_json(), indent=2) + "\n").encode("utf-8")
        write_atomically(path, data)


def party_keys_from_file(
    path: Path, *, not_before: datetime | None = None, not_after: datetime | None = None
) -> list[RegisteredKey]:
    """The ``sig`` key of a ``PREFIX.pub.json`` (``gateway keygen``), with a validity window.

    Only the signing key is pinned: it is the one that signs envelopes and
    receipts; the encryption key is the gateway's business.

    Raises:
        LocalError: the file is unreadable or holds no Ed25519 ``sig`` key.
    """
    try:
        public = json.loads(path.read_text(encoding="utf-8"))
        key = PublicKey.from_jwk(public["sig"])
    except (OSError, ValueError, KeyError, TypeError, DXGError) as exc:
        raise LocalError(f"{path} is not a public key file with a sig key") from exc
    if key.use != "sig":
        raise LocalError(f"{path}: sig is not an Ed25519 key")
    return [RegisteredKey(key, not_before=not_before, not_after=not_after)]
