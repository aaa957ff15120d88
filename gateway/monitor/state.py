"""The monitor's state file: what it verified last, so the next pass reads only what is new.

It holds the last checkpoint the monitor verified (the signed note,
verbatim, and the log key it pinned), the log's compact range at that size
(:mod:`gateway.monitor.tree`: the next pass appends the new leaves to it and
recomputes the new root itself) and the chain book
(:mod:`gateway.monitor.chains`: open chains and per-pair tallies, so the
report stays what a full audit would say) and the case book
(:class:`gateway.monitor.cases.CaseBook`: each case's state, the event ids
seen and the fold behind the ``GET /v1/stats`` figures, so an incremental
pass recomputes the figures a full one would).

Guarantees:

* written atomically (temporary file, fsync, rename, directory fsync) and
  only after a pass that found nothing;
* on load the note is verified again with the pinned key, its size and root
  must be the file's, and the compact range must hash to that root: the
  tree state cannot be edited into trusting something the log never signed;
* the books cannot be checked against the log without reading it all, so the
  file is signed with the monitor's own Ed25519 key, over the exact bytes
  of its body, and the signature is verified before anything is parsed: an
  edited book (chains or cases) is refused, not trusted.

Layout (version 2): one line of JSON,
``{"v":2,"signed_by":<kid>,"signature":<b64url>,"body":<body>}``, where the
signature is over ``STATE_SIGNING_PREFIX || SHA-256(<body bytes>)`` and the
body is written and read as exact bytes (no re-serialisation: the book of a
10^6-leaf log is tens of megabytes).

A version 1 file (before incremental passes), or a version 2 file without
a case book (written before the monitor audited case events), is read
without what it lacks: the next pass checks consistency with its checkpoint
and audits the whole log once.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.monitor.tree import CompactRange
from gateway.protocol import checkpoint
from gateway.protocol.checkpoint import NoteKey, VerifiedCheckpoint
from gateway.protocol.crypto.keys import PublicKey, SigningKey, b64url, b64url_decode
from gateway.protocol.durable import write_atomically
from gateway.protocol.errors import DXGError, LocalError
from gateway.protocol.merkle import b64std, b64std_decode

STATE_VERSION = 2
OLD_STATE_VERSION = 1  # a checkpoint only: read, then replaced after a full pass


@dataclass(frozen=True, slots=True)
class MonitorState:
    """The last checkpoint this monitor verified, its compact range and chain book."""

    gateway_id: str
    log_key: NoteKey
    note: str
    verified: VerifiedCheckpoint
    verified_at: str
    tree: CompactRange | None = None  # None: a version 1 file; the next pass is full
    book: dict[str, Any] | None = None  # ChainBook.to_json()
    cases: dict[str, Any] | None = None  # CaseBook.to_json(); None: the next pass is full

    @property
    def incremental(self) -> bool:
        """Whether a pass may start from here rather than from the first entry."""
        return self.tree is not None and self.book is not None and self.cases is not None

    def body(self) -> dict[str, Any]:
        """What the version 2 file signs: everything but the signature."""
        assert self.tree is not None and self.book is not None
        return {
            "gateway_id": self.gateway_id,
            "origin": self.log_key.name,
            "log_key": self.log_key.public.to_jwk(with_meta=True),
            "checkpoint": self.note,
            "size": self.verified.size,
            "root": b64std(self.verified.root),
            "verified_at": self.verified_at,
            "range": self.tree.to_json(),
            "book": self.book,
            "cases": self.cases,
        }

    def to_bytes(self, owner: SigningKey) -> bytes:
        """The file's bytes, signed by ``owner`` (the monitor's own key)."""
        body = json.dumps(self.body(), separators=(",", ":")).encode("utf-8")
        signature = b64url(owner.sign(_signed_message(body)))
        head = f'{{"v":{STATE_VERSION},"signed_by":"{owner.kid}","signature":"{signature}","body":'
        return head.encode("ascii") + body + b"}\n"

    @classmethod
    def from_bytes(cls, data: bytes, owner: PublicKey) -> MonitorState:
        """Verify a state file's bytes, then read them.

        Raises:
            LocalError: not a state file, not signed by ``owner``, or its
                checkpoint or compact range does not verify.
        """
        try:
            signed = _SIGNED_STATE.match(data)
            if signed is not None:
                kid, signature = (g.decode("ascii") for g in signed.groups())
                body = data[signed.end() :].rstrip(b"\n")
                if not body.endswith(b"}"):
                    raise LocalError("it is cut short")
                body = body[:-1]
                if kid != owner.kid:
                    raise LocalError("it is signed by another key than this monitor's")
                owner.check_signature(_signed_message(body), b64url_decode(signature))
                return cls._read(json.loads(body), version=STATE_VERSION)
            obj = json.loads(data)
            if not isinstance(obj, dict) or obj.get("v") != OLD_STATE_VERSION:
                raise LocalError("unknown state file version, or not signed")
            return cls._read(obj, version=OLD_STATE_VERSION)
        except (DXGError, KeyError, TypeError, ValueError, AttributeError) as exc:
            detail = exc.detail if isinstance(exc, DXGError) else type(exc).__name__
            raise LocalError(f"the monitor's state file does not verify: {detail}") from exc

    @classmethod
    def _read(cls, obj: dict[str, Any], *, version: int) -> MonitorState:
        key = NoteKey(name=str(obj["origin"]), public=PublicKey.from_jwk(obj["log_key"]))
        note = str(obj["checkpoint"])
        verified = checkpoint.verify_checkpoint(note, log_key=key)
        if verified.size != obj["size"] or verified.root != b64std_decode(obj["root"]):
            raise LocalError("its size or root is not its checkpoint's")
        tree: CompactRange | None = None
        book: dict[str, Any] | None = None
        cases: dict[str, Any] | None = None
        if version == STATE_VERSION:
            tree = CompactRange.from_json(verified.size, obj["range"])
            if tree.root() != verified.root:
                raise LocalError("its compact range does not hash to its checkpoint's root")
            book = dict(obj["book"])
            if obj.get("cases") is not None:
                cases = dict(obj["cases"])
        return cls(
            gateway_id=str(obj["gateway_id"]),
            log_key=key,
            note=note,
            verified=verified,
            verified_at=str(obj["verified_at"]),
            tree=tree,
            book=book,
            cases=cases,
        )


STATE_SIGNING_PREFIX = b"dxg-monitor-state/v2\n"  # the signature means nothing else
_SIGNED_STATE = re.compile(
    rb'\A\{"v":2,"signed_by":"([A-Za-z0-9_-]{1,64})","signature":"([A-Za-z0-9_-]{1,128})","body":'
)


def _signed_message(body: bytes) -> bytes:
    return STATE_SIGNING_PREFIX + hashlib.sha256(body).digest()


def load_state(path: Path, owner: PublicKey) -> MonitorState | None:
    """The state in ``path``; None if there is none yet.

    Raises:
        LocalError: the file exists but is not a valid state of this monitor.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    return MonitorState.from_bytes(data, owner)


def save_state(path: Path, state: MonitorState, owner: SigningKey) -> None:
    """Write the state atomically: a crash leaves the old or the new file, whole."""
    write_atomically(path, state.to_bytes(owner))
