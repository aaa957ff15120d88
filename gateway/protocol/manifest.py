"""The manifest: what a packet is, signed by its sender (SPEC §3).

A packet's envelope is a JWS (``typ`` ``dxg-packet+jws``) over the manifest
bytes exactly as the sender made them. One function makes those bytes
(:func:`build_manifest`) and one signs them (:func:`sign_envelope`); a
manifest is parsed only from the bytes a signature verified
(:func:`open_envelope`, or :meth:`Manifest.from_bytes` on verified bytes),
never from a re-serialised object.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gateway.protocol import jsontext
from gateway.protocol.clock import format_time, now, parse_time
from gateway.protocol.crypto import jws
from gateway.protocol.crypto.keys import PublicKey, SigningKey
from gateway.protocol.errors import Invalid
from gateway.protocol.schemas import MANIFEST_V1, validate

# A part's name becomes a file name on the recipient's disk: ASCII letters,
# digits, '.', '_' and '-', at most 64, never starting with a dot (so never
# '.', '..' or a hidden file) and so never a path. schemas/manifest.v1.json
# says the same; this is the check a party runs before it opens a file.
PART_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}")


def is_safe_part_name(name: str) -> bool:
    """Whether ``name`` may be a part's name, and so a file name in one folder."""
    return PART_NAME.fullmatch(name) is not None


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
            doc = jsontext.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise Invalid("the manifest is not JSON") from exc
        validate(MANIFEST_V1, doc, what="the manifest")
        for i, p in enumerate(doc["parts"]):
            if not is_safe_part_name(p["name"]):  # the schema says so too; never rely on one
                raise Invalid(f"parts[{i}].name is not a safe file name")
            if type(p["size"]) is not int:  # JSON Schema's integer admits 3.0
                raise Invalid(f"parts[{i}].size is not an integer")
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


def open_envelope(parsed: jws.ParsedJWS, key: PublicKey) -> Manifest:
    """Verify an envelope's signature with the sender's ``key``, then parse it.

    Raises:
        Unauthenticated: the signature does not verify with ``key``.
        Invalid: the verified manifest breaks the schema.
    """
    return Manifest.from_bytes(jws.verify(parsed, key).payload)
