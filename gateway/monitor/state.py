"""The monitor's state file: the last checkpoint it verified, and what it pinned.

Written atomically (temporary file, fsync, rename, directory fsync) and only
after a pass whose tree verified; on load the stored note is verified again
with the pinned key, so the state cannot be edited into trusting something
the log never signed.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.protocol import checkpoint
from gateway.protocol.checkpoint import NoteKey, VerifiedCheckpoint
from gateway.protocol.crypto.keys import PublicKey
from gateway.protocol.errors import DXGError, LocalError
from gateway.protocol.merkle import b64std, b64std_decode

# --- The state file --------------------------------------------------------------------


STATE_VERSION = 1


@dataclass(frozen=True, slots=True)
class MonitorState:
    """The last checkpoint this monitor verified, and the log key it pinned."""

    gateway_id: str
    log_key: NoteKey
    note: str
    verified: VerifiedCheckpoint
    verified_at: str

    def to_json(self) -> dict[str, Any]:
        return {
            "v": STATE_VERSION,
            "gateway_id": self.gateway_id,
            "origin": self.log_key.name,
            "log_key": self.log_key.public.to_jwk(with_meta=True),
            "checkpoint": self.note,
            "size": self.verified.size,
            "root": b64std(self.verified.root),
            "verified_at": self.verified_at,
        }

    @classmethod
    def from_json(cls, obj: Any) -> MonitorState:
        """Read a state file's JSON and verify its checkpoint again.

        Raises:
            BadRequest: not a state file, or its checkpoint does not verify.
        """
        try:
            if obj.get("v") != STATE_VERSION:
                raise LocalError("unknown state file version")
            key = NoteKey(name=str(obj["origin"]), public=PublicKey.from_jwk(obj["log_key"]))
            note = str(obj["checkpoint"])
            verified = checkpoint.verify_checkpoint(note, log_key=key)
            if verified.size != obj["size"] or verified.root != b64std_decode(obj["root"]):
                raise LocalError("its size or root is not its checkpoint's")
            return cls(
                gateway_id=str(obj["gateway_id"]),
                log_key=key,
                note=note,
                verified=verified,
                verified_at=str(obj["verified_at"]),
            )
        except (DXGError, KeyError, TypeError, ValueError, AttributeError) as exc:
            detail = exc.detail if isinstance(exc, DXGError) else type(exc).__name__
            raise LocalError(f"the monitor's state file does not verify: {detail}") from exc


def load_state(path: Path) -> MonitorState | None:
    """The state in ``path``; None if there is none yet.

    Raises:
        BadRequest: the file exists but is not a valid state.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        obj = json.loads(text)
    except ValueError as exc:
        raise LocalError(f"the monitor's state file {path.name} is not JSON") from exc
    return MonitorState.from_json(obj)


def save_state(path: Path, state: MonitorState) -> None:
    """Write the state atomically: a crash leaves the old or the new file, whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (json.dumps(state.to_json(), indent=2) + "\n").encode("utf-8")
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
