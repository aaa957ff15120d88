"""Key validity (SPEC §1): the one rule of when a registered key may sign.

A signature counts only if its key was registered to the party that claims
it, for that use, and valid at the reference time: not before
``not_before``, not after ``not_after``, not at or after ``revoked_at``.
The gateway applies it at "now" to requests; a party applies it at a
packet's ``created`` time to what it pulls, and a monitor at each receipt's
``issued_at``, both against keys they hold themselves. This module is that
rule, written once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gateway.protocol.clock import format_time, parse_time
from gateway.protocol.crypto.keys import PublicKey


def _time(value: object) -> datetime | None:
    return None if value is None else parse_time(str(value))


@dataclass(frozen=True, slots=True)
class RegisteredKey:
    """A public key with its validity window, as a registry lists it."""

    key: PublicKey
    not_before: datetime | None = None
    not_after: datetime | None = None
    revoked_at: datetime | None = None

    @property
    def kid(self) -> str:
        return self.key.kid

    @property
    def use(self) -> str:
        return self.key.use

    def problem_at(self, at: datetime) -> str | None:
        """Why the key is not valid at ``at`` (a sentence), or None if it is."""
        if self.revoked_at is not None and at >= self.revoked_at:
            return f"revoked at {format_time(self.revoked_at)}"
        if self.not_before is not None and at < self.not_before:
            return f"not valid before {format_time(self.not_before)}"
        if self.not_after is not None and at > self.not_after:
            return f"expired at {format_time(self.not_after)}"
        return None

    def to_json(self) -> dict[str, Any]:
        """The public JWK with ``kid``, ``use`` and the validity window."""

        def t(moment: datetime | None) -> str | None:
            return None if moment is None else format_time(moment)

        return self.key.to_jwk(with_meta=True) | {
            "not_before": t(self.not_before),
            "not_after": t(self.not_after),
            "revoked_at": t(self.revoked_at),
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> RegisteredKey:
        """Raises: BadRequest for a malformed JWK; ValueError for a malformed time."""
        return cls(
            key=PublicKey.from_jwk(obj),
            not_before=_time(obj.get("not_before")),
            not_after=_time(obj.get("not_after")),
            revoked_at=_time(obj.get("revoked_at")),
        )
