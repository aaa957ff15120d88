"""Officials who may use the console, with argon2id password hashes.

The list lives in ``DIR/users.json`` (mode 0600): name, role and the PHC
string of an argon2id hash (RFC 9106, argon2-cffi's defaults, which are its
"low memory" recommended profile). A password is never stored, logged or
compared other than through :func:`argon2.PasswordHasher.verify`.
"""

from __future__ import annotations

import functools
import json
import secrets
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from gateway.protocol.durable import write_atomically
from gateway.protocol.errors import BadRequest, LocalError

ROLES = ("reviewer", "supervisor")
MIN_PASSWORD_CHARS = 12  # SP 800-63B asks 8; these accounts guard children's data
MAX_PASSWORD_CHARS = 1024  # argon2 hashes any length; this only stops absurd input
NAME_MAX_CHARS = 64  # a login name, shown in the access log and on decisions
USERS_FILE = "users.json"

_HASHER = PasswordHasher()  # argon2id; parameters are recorded in every hash


@dataclass(frozen=True, slots=True)
class Official:
    """One official: a login name and a role (``reviewer`` or ``supervisor``)."""

    name: str
    role: str

    @property
    def supervisor(self) -> bool:
        return self.role == "supervisor"


def normalize_name(name: str) -> str:
    """The login name as compared: NFC, stripped, case-folded.

    Raises:
        BadRequest: empty, too long, or with control characters or spaces.
    """
    folded = unicodedata.normalize("NFC", name).strip().casefold()
    if not folded or len(folded) > NAME_MAX_CHARS:
        raise BadRequest(f"a user name has 1 to {NAME_MAX_CHARS} characters")
    if any(unicodedata.category(c).startswith(("C", "Z")) for c in folded):
        raise BadRequest("a user name has no spaces or control characters")
    return folded


class Users:
    """The officials of one console directory."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / USERS_FILE

    def _load(self) -> dict[str, dict[str, str]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise LocalError(f"cannot read {self.path} ({type(exc).__name__})") from exc
        if not isinstance(data, dict):
            raise LocalError(f"{self.path} is not a console user list")
        return data

    def add(self, name: str, password: str, *, role: str) -> Official:
        """Add an official, or set a new password and role for an existing one.

        Raises:
            BadRequest: unknown role, bad name, or a password too short or too long.
        """
        if role not in ROLES:
            raise BadRequest(f"the role is one of {', '.join(ROLES)}")
        key = normalize_name(name)
        if not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
            raise BadRequest(f"a password has at least {MIN_PASSWORD_CHARS} characters")
        users = self._load()
        users[key] = {"role": role, "hash": _HASHER.hash(password)}
        self._save(users)
        return Official(key, role)

    def _save(self, users: dict[str, dict[str, str]]) -> None:
        text = json.dumps(users, indent=2, sort_keys=True)
        write_atomically(self.path, text.encode("utf-8"))

    def authenticate(self, name: str, password: str) -> Official | None:
        """The official if ``password`` is theirs, else None (unknown names too).

        An unknown name costs one hash like a known one, so timing does not
        tell which names exist.
        """
        try:
            key = normalize_name(name)
        except BadRequest:
            key = ""
        entry = self._load().get(key)
        stored = entry["hash"] if entry else _dummy_hash()
        try:
            _HASHER.verify(stored, password[:MAX_PASSWORD_CHARS])
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        if entry is None:
            return None
        if _HASHER.check_needs_rehash(stored):
            self._rehash(key, password)
        return Official(key, entry["role"])

    def _rehash(self, key: str, password: str) -> None:
        users = self._load()
        users[key]["hash"] = _HASHER.hash(password)
        self._save(users)

    def __len__(self) -> int:
        return len(self._load())


@functools.cache
def _dummy_hash() -> str:
    """A hash no password matches, verified for unknown names (made once, not at import)."""
    return _HASHER.hash(secrets.token_urlsafe(32))
