"""Times as the protocol writes them (RFC 3339 UTC, whole seconds)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from gateway.protocol.clock import format_time, parse_time


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2026, 3, 1, 10, 0, tzinfo=UTC), "2026-03-01T10:00:00Z"),
        # Regression (found by schemathesis on GET /v1/stats?as_of=0038-...):
        # strftime's %Y wrote "38-01-30T...", which is no RFC 3339 time.
        (datetime(38, 1, 30, 17, 47, 42, tzinfo=UTC), "0038-01-30T17:47:42Z"),
        (datetime(121, 3, 4, 15, 36, 8, 290000, tzinfo=UTC), "0121-03-04T15:36:08Z"),
        (datetime(2026, 3, 1, 12, 0, tzinfo=timezone(timedelta(hours=2))), "2026-03-01T10:00:00Z"),
    ],
)
def test_format_time_writes_four_digit_years_in_utc(moment: datetime, text: str) -> None:
    assert format_time(moment) == text
    assert parse_time(text) == moment.replace(microsecond=0)


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        format_time(datetime(2026, 3, 1))
