"""Log floods: at most a burst of the same message per window, then a count.

Anyone can make a gateway log: a malformed request, a connection that
breaks, a flood of connections that exhausts descriptors (asyncio then logs
"accept() out of system resource" as fast as it retries). Each line is
bounded by what produced it; :class:`FloodFilter` bounds how many: per
logger and message template, :data:`BURST` records per :data:`WINDOW_S`
pass, the rest are counted and the next record that passes says how many
were dropped. Installed on the root logger's handlers by ``gateway serve``.
"""

from __future__ import annotations

import logging
import time

BURST = 10  # the same message this many times per window: enough to see a pattern
WINDOW_S = 60.0
MAX_KEYS = 1024  # distinct messages tracked; past it the oldest window is forgotten


class FloodFilter(logging.Filter):
    """Passes at most :data:`BURST` records of one message per :data:`WINDOW_S`."""

    def __init__(self, *, burst: int = BURST, window_s: float = WINDOW_S) -> None:
        super().__init__()
        self._burst = burst
        self._window_s = window_s
        # (logger, template) -> [window start, passed, dropped]
        self._seen: dict[tuple[str, str], list[float]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, str(record.msg))
        at = time.monotonic()
        state = self._seen.get(key)
        if state is None or at - state[0] >= self._window_s:
            dropped = int(state[2]) if state is not None else 0
            if len(self._seen) >= MAX_KEYS and state is None:
                self._seen.pop(next(iter(self._seen)))
            self._seen[key] = [at, 1, 0]
            if dropped:
                record.msg = f"{record.msg} [{dropped} like it dropped in {self._window_s:g} s]"
            return True
        if state[1] >= self._burst:
            state[2] += 1
            return False
        state[1] += 1
        return True


def install(logger: logging.Logger | None = None) -> FloodFilter:
    """Add one :class:`FloodFilter` to every handler of ``logger`` (default: root)."""
    flood = FloodFilter()
    for handler in (logger or logging.getLogger()).handlers:
        handler.addFilter(flood)
    return flood
