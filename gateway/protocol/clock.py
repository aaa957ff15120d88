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
    # Not strftime: glibc's %Y does not pad years below 1000 to four digits,
    # and RFC 3339 requires them (year 38 is "0038", not "38").
    utc = moment.astimezone(UTC)
    return (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}"
        f"T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}Z"
    )


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
