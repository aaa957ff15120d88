"""Sessions, CSRF tokens and login throttling for the console.

- A session is a random 256-bit id in a cookie that is ``HttpOnly`` and
  ``SameSite=Strict`` (``Secure`` too when the console is served over
  HTTPS); it lives in memory only, so restarting the console logs everyone
  out. The id is replaced at login (no session fixation).
- Every session, signed in or not, has its own CSRF token; every form
  carries it and a POST without the right one is refused with 403. Tokens
  are compared with :func:`hmac.compare_digest`.
- Logins are throttled per user name: after :data:`MAX_FAILURES` wrong
  passwords in :data:`FAILURE_WINDOW_S`, every attempt for that name is
  answered 429 with ``Retry-After`` for :data:`LOCKOUT_S`; after that a
  correct password signs in again (the lock is lifted within a minute).
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from gateway.party.console.users import Official

SESSION_COOKIE = "dxg_console"
SESSION_IDLE_S = 30 * 60  # an unattended screen with children's data logs out after 30 minutes
MAX_SESSIONS = 10_000  # bounds memory against a flood of anonymous visits
MAX_FAILURES = 5  # wrong passwords before a name is locked: enough for typos, too few to guess
FAILURE_WINDOW_S = 15 * 60  # failures older than this are forgotten
LOCKOUT_S = 30.0  # how long a locked name waits; under a minute, as the console promises

Clock = Callable[[], float]


@dataclass(slots=True)
class Session:
    """One browser's session: its CSRF token and, once signed in, the official."""

    sid: str
    csrf: str
    seen: float
    official: Official | None = None
    lang: str | None = None
    flash: list[str] = field(default_factory=list)


def new_token() -> str:
    return secrets.token_urlsafe(32)


class Sessions:
    """Sessions in memory, by id, expiring after :data:`SESSION_IDLE_S` idle."""

    def __init__(self, *, clock: Clock = time.monotonic, idle_s: float = SESSION_IDLE_S) -> None:
        self._clock = clock
        self._idle_s = idle_s
        self._by_id: dict[str, Session] = {}

    def get(self, sid: str | None) -> Session | None:
        if not sid:
            return None
        session = self._by_id.get(sid)
        if session is None:
            return None
        now = self._clock()
        if now - session.seen > self._idle_s:
            del self._by_id[sid]
            return None
        session.seen = now
        return session

    def create(self, *, lang: str | None = None) -> Session:
        if len(self._by_id) >= MAX_SESSIONS:
            self._expire()
        if len(self._by_id) >= MAX_SESSIONS:  # all live: drop the anonymous ones first
            for sid in [s.sid for s in self._by_id.values() if s.official is None]:
                del self._by_id[sid]
        session = Session(sid=new_token(), csrf=new_token(), seen=self._clock(), lang=lang)
        self._by_id[session.sid] = session
        return session

    def sign_in(self, old: Session, official: Official) -> Session:
        """A fresh session (new id and CSRF token) for ``official``; the old one ends."""
        self.end(old)
        session = self.create(lang=old.lang)
        session.official = official
        return session

    def end(self, session: Session) -> None:
        self._by_id.pop(session.sid, None)

    def _expire(self) -> None:
        now = self._clock()
        for sid in [s.sid for s in self._by_id.values() if now - s.seen > self._idle_s]:
            del self._by_id[sid]


def csrf_ok(session: Session | None, token: object) -> bool:
    """Whether ``token`` is this session's CSRF token (constant-time)."""
    if session is None or not isinstance(token, str) or not token:
        return False
    return hmac.compare_digest(session.csrf.encode(), token.encode())


@dataclass(slots=True)
class _Record:
    failures: list[float] = field(default_factory=list)
    locked_until: float = 0.0


class LoginThrottle:
    """Counts wrong passwords per user name and locks a name for a while.

    Security parameters are keyword-only so a test can shorten them and say so.
    """

    def __init__(
        self,
        *,
        clock: Clock = time.monotonic,
        max_failures: int = MAX_FAILURES,
        window_s: float = FAILURE_WINDOW_S,
        lockout_s: float = LOCKOUT_S,
    ) -> None:
        self._clock = clock
        self._max = max_failures
        self._window = window_s
        self._lockout = lockout_s
        self._by_name: dict[str, _Record] = {}

    def retry_after(self, name: str) -> int:
        """Whole seconds until ``name`` may try again; 0 if it may now."""
        record = self._by_name.get(name)
        if record is None:
            return 0
        left = record.locked_until - self._clock()
        return max(0, int(left) + (1 if left > int(left) else 0)) if left > 0 else 0

    def failed(self, name: str) -> int:
        """Count a wrong password; the seconds to wait if that locked the name, else 0."""
        now = self._clock()
        record = self._by_name.setdefault(name, _Record())
        record.failures = [t for t in record.failures if now - t < self._window] + [now]
        if len(record.failures) >= self._max:
            record.locked_until = now + self._lockout
            # One more wrong password after the lock ends locks it again.
            record.failures = record.failures[-(self._max - 1):] if self._max > 1 else []
            return self.retry_after(name)
        return 0

    def succeeded(self, name: str) -> None:
        self._by_name.pop(name, None)
