"""The monitor's state file: what it verified last, so the next pass reads only what is new.

It holds the last checkpoint the monitor verified (the signed note,
verbatim, and the log key it pinned), the log's compact range at that size
(:mod:`gateway.monitor.tree`: the next pass appends the new leaves to it and
recomputes the new root itself) and the chain book
(:mod:`gateway.monitor.chains`: open chains and per-pair tallies, so the
report stays what a full audit would say).

Guarantees:

* written atomically (temporary file, fsync, rename, directory fsync) and
  only after a pass that found nothing;
* on load the note is verified again with the pinned key, its size and root
  must be the file's, and the compact range must hash to that root: the
  tree state cannot be edited into trusting something the log never signed;
* the book cannot be checked against the log without reading it all, so the
  whole file is signed with the monitor's own Ed25519 key and the signature
  verified on load: an edited book is refused, not trusted.

A version 1 file (before incremental passes) is read without range or book:
the next pass checks consistency with its checkpoint and audits the whole
log once.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.monitor.tree import CompactRange
from gateway.protocol import checkpoint
from gateway.protocol.checkpoint import NoteKey, VerifiedCheckpoint
from gateway.protocol.crypto.keys import PublicKey, SigningKey, b64url, b64url_decode
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

    @property
    def incremental(self) -> bool:
        """Whether a pass may start from here rather than from the first entry."""
        return self.tree is not None and self.book is not None

    def _body(self) -> dict[str, Any]:
        assert self.tree is not None and self.book is not None
        return {
            "v": STATE_VERSION,
            "gateway_id": self.gateway_id,
            "origin": self.log_key.name,
            "log_key": self.log_key.public.to_jwk(with_meta=True),
            "checkpoint": self.note,
            "size": self.verified.size,
            "root": b64std(self.verified.root),
            "verified_at": self.verified_at,
            "range": self.tree.to_json(),
            "book": self.book,
        }

    def to_json(self, owner: SigningKey) -> dict[str, Any]:
        """The file's JSON, signed by ``owner`` (the monitor's own key)."""
        body = self._body()
        return body | {"signed_by": owner.kid, "signature": b64url(owner.sign(_canonical(body)))}

    @classmethod
    def from_json(cls, obj: Any, owner: PublicKey) -> MonitorState:
        """Read a state file's JSON and verify it again.

        Raises:
            LocalError: not a state file, its checkpoint or compact range does
                not verify, or it is not signed by ``owner``.
        """
        try:
            version = obj.get("v")
            if version not in (STATE_VERSION, OLD_STATE_VERSION):
                raise LocalError("unknown state file version")
            key = NoteKey(name=str(obj["origin"]), public=PublicKey.from_jwk(obj["log_key"]))
            note = str(obj["checkpoint"])
            verified = checkpoint.verify_checkpoint(note, log_key=key)
            if verified.size != obj["size"] or verified.root != b64std_decode(obj["root"]):
                raise LocalError("its size or root is not its checkpoint's")
            tree: CompactRange | None = None
            book: dict[str, Any] | None = None
            if version == STATE_VERSION:
                body = {k: v for k, v in obj.items() if k not in ("signed_by", "signature")}
                if obj["signed_by"] != owner.kid:
                    raise LocalError("it is signed by another key than this monitor's")
                owner.check_signature(_canonical(body), b64url_decode(str(obj["signature"])))
                tree = CompactRange.from_json(verified.size, obj["range"])
                if tree.root() != verified.root:
                    raise LocalError("its compact range does not hash to its checkpoint's root")
                book = dict(obj["book"])
            return cls(
                gateway_id=str(obj["gateway_id"]),
                log_key=key,
                note=note,
                verified=verified,
                verified_at=str(obj["verified_at"]),
                tree=tree,
                book=book,
            )
        except (DXGError, KeyError, TypeError, ValueError, AttributeError) as exc:
            detail = exc.detail if isinstance(exc, DXGError) else type(exc).__name__
            raise LocalError(f"the monitor's state file does not verify: {detail}") from exc


def _canonical(body: dict[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")


def load_state(path: Path, owner: PublicKey) -> MonitorState | None:
    """The state in ``path``; None if there is none yet.

    Raises:
        LocalError: the file exists but is not a valid state of this monitor.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        obj = json.loads(text)
    except ValueError as exc:
        raise LocalError(f"the monitor's state file {path.name} is not JSON") from exc
    return MonitorState.from_json(obj, owner)


def save_state(path: Path, state: MonitorState, owner: SigningKey) -> None:
    """Write the state atomically: a crash leaves the old or the new file, whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (json.dumps(state.to_json(owner), separators=(",", ":")) + "\n").encode("utf-8")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
