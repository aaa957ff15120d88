"""Time as the protocol writes it: RFC 3339 UTC with a ``Z``, whole seconds.

Every time in DXG is timezone-aware; a naive datetime is a bug.
"""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    """The current time, UTC, to the whole second."""
    return datetime.now(UTC).replace(microsecond=0)


def format_time(moment: datetime) -> str:
    """``2026-03-01T10:00:00Z``.

    Raises:
        ValueError: ``moment`` is naive.
    """
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    """Parse an RFC 3339 time; it must carry a zone (``Z`` or an offset).

    Raises:
        ValueError: not RFC 3339 or no zone.
    """
    if "T" not in text and "t" not in text:
        raise ValueError("an RFC 3339 time has a T between date and time")
    moment = datetime.fromisoformat(text.replace("z", "Z"))
    if moment.tzinfo is None:
        raise ValueError("an RFC 3339 time carries a zone")
    return moment.astimezone(UTC)
