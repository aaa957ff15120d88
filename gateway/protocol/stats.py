"""The case figures of ``GET /v1/stats`` (SPEC §10), as one fold over the log.

:class:`CaseStats` is fed the accepted case events in log order and answers
the §10 stats document as of any time T and log size N: only events among
the first N log entries whose ``issued_at`` ≤ T count. The gateway keeps
one running as events are accepted; a monitor builds one from the log
alone. Both run this code, so a difference between them is a finding about
the log, never about two implementations.

How it stays fast on a large log: per case it keeps one row of columns
(state, the times that matter, ``due``), updated as each event is fed. A
question as of T and N reads those rows with vectorised comparisons; only
the cases that have an event after T or at or past N (in practice the few
events of the last minutes) are replayed from their events into scratch
rows, by the same step function that keeps the rows. So the answer as of
T, N is exactly the fold of the events that count, at O(cases) in numpy
plus O(recent events) in Python.

Definitions (§10), each in one function that works on one case or on the
columns of all of them (:func:`response_overdue`, :func:`return_overdue`,
:func:`contact_overdue`): times compare exactly, to the microsecond, and a
period of d days is d × 86,400 s. "Longer than" and "not within" are both
strictly more than the period.

The state of a case as of T is the name of its last counted event (log
order) other than CONTACT. ``median_days`` pairs the first REPORTED with
the first VERIFIED, and the first VERIFIED with the first REUNITED, both
counted; the median is the middle sample or the mean of the middle two,
in days, rounded half up to two places.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np
import numpy.typing as npt

from gateway.protocol.case import (
    CLOSED,
    CONTACT,
    EVENTS,
    FAMILY_FOUND,
    REPORTED,
    RETURN_SCHEDULED,
    REUNITED,
    STATES,
    VERIFIED,
    CaseEvent,
)
from gateway.protocol.clock import format_time

DAY_US = 86_400 * 1_000_000  # SPEC §10: a period of d days is d × 86,400 s
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# "No such event yet": far below any real time, yet T - NONE cannot overflow int64.
NONE = -(1 << 62)
NO_DUE = -(1 << 30)
_NO_STATE = -1
_CODE = {name: code for code, name in enumerate(STATES)}
_CONTACT = len(STATES)
_EVENT_CODE = {**_CODE, CONTACT: _CONTACT}
assert set(_EVENT_CODE) == set(EVENTS)
_INITIAL_CAPACITY = 1024  # rows grow by doubling from here
STATS_FORMAT = 1  # the version of CaseStats.to_json's layout


@dataclass(frozen=True, slots=True)
class Policy:
    """The gateway's three promise periods, in days (SPEC §10 defaults)."""

    response_days: int = 7
    aged_out_return_days: int = 30
    contact_interval_days: int = 14

    def __post_init__(self) -> None:
        for name in ("response_days", "aged_out_return_days", "contact_interval_days"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"policy {name} is a whole number of days, at least 1")

    def to_json(self) -> dict[str, int]:
        """The ``"policy"`` member of ``GET /v1/gateway``."""
        return {
            "response_days": self.response_days,
            "aged_out_return_days": self.aged_out_return_days,
            "contact_interval_days": self.contact_interval_days,
        }

    @classmethod
    def from_json(cls, obj: Any) -> Policy:
        """Raises: ValueError for a missing, extra or bad period."""
        if not isinstance(obj, dict) or set(obj) != set(cls().to_json()):
            raise ValueError(
                "policy has exactly response_days, aged_out_return_days and contact_interval_days"
            )
        return cls(**obj)


def micros(moment: datetime) -> int:
    """Exact microseconds since the epoch of an aware time (no float rounding)."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return (moment - _EPOCH) // timedelta(microseconds=1)


def day_number(day: date) -> int:
    """A calendar date as an integer that orders like the dates."""
    return day.toordinal()


# --- what is overdue: each rule once, for one case or for columns of many ------
# The arguments are either Python ints (one case) or numpy arrays (many);
# `&`, `|`, `==` and np.maximum mean the same on both.


def response_overdue(state: Any, last_reported: Any, t: int, policy: Policy) -> Any:
    """In REPORTED for longer than ``response_days`` since its last REPORTED."""
    return (state == _CODE[REPORTED]) & (t - last_reported > policy.response_days * DAY_US)


def return_overdue(
    state: Any, aged_out: Any, last_verified: Any, due: Any, t: int, policy: Policy
) -> Any:
    """Aged out, and in VERIFIED or FAMILY_FOUND for longer than
    ``aged_out_return_days`` since its last VERIFIED, or in RETURN_SCHEDULED
    with ``due`` before T's UTC date."""
    waiting = (state == _CODE[VERIFIED]) | (state == _CODE[FAMILY_FOUND])
    late = waiting & (t - last_verified > policy.aged_out_return_days * DAY_US)
    past_due = (state == _CODE[RETURN_SCHEDULED]) & (due < _utc_day_number(t))
    return aged_out & (late | past_due)


def contact_overdue(state: Any, entered_at: Any, last_contact: Any, t: int, policy: Policy) -> Any:
    """In FAMILY_FOUND or RETURN_SCHEDULED, and neither a CONTACT nor the
    event that entered the state within the last ``contact_interval_days``."""
    keeping_in_touch = (state == _CODE[FAMILY_FOUND]) | (state == _CODE[RETURN_SCHEDULED])
    latest = np.maximum(entered_at, last_contact)
    return keeping_in_touch & (t - latest > policy.contact_interval_days * DAY_US)


def _utc_day_number(t: int) -> int:
    return day_number((_EPOCH + timedelta(microseconds=t)).date())


# --- the rows ----------------------------------------------------------------------

_I64 = np.int64
_COLUMNS: dict[str, tuple[type[np.generic], int]] = {
    # name: (dtype, value of a row with no event)
    "pair": (np.int32, 0),
    "aged_out": (np.bool_, False),
    "state": (np.int8, _NO_STATE),
    "entered_at": (_I64, NONE),  # the last event other than CONTACT
    "first_reported": (_I64, NONE),
    "last_reported": (_I64, NONE),
    "first_verified": (_I64, NONE),
    "last_verified": (_I64, NONE),
    "reunited": (_I64, NONE),  # the first REUNITED
    "due": (np.int32, NO_DUE),  # of the last RETURN_SCHEDULED
    "last_contact": (_I64, NONE),
    "latest_issued": (_I64, NONE),  # to find rows an as_of in the past changes
    "latest_index": (_I64, -1),  # to find rows a log size cuts
}


class _Rows:
    """Columns of per-case rows, grown by doubling."""

    def __init__(self, capacity: int) -> None:
        self.size = 0
        self.cols: dict[str, npt.NDArray[Any]] = {
            name: np.full(capacity, empty, dtype=dtype) for name, (dtype, empty) in _COLUMNS.items()
        }

    def add(self, pair: int, aged_out: bool) -> int:
        if self.size == len(self.cols["pair"]):
            for name, (dtype, empty) in _COLUMNS.items():
                grown = np.full(2 * self.size, empty, dtype=dtype)
                grown[: self.size] = self.cols[name]
                self.cols[name] = grown
        row = self.size
        self.cols["pair"][row] = pair
        self.cols["aged_out"][row] = aged_out
        self.size += 1
        return row

    def step(self, row: int, code: int, t: int, due: int, index: int) -> None:
        """Fold one event into a row: the one definition of what each event changes."""
        c = self.cols
        if code != _CONTACT:
            c["state"][row] = code
            c["entered_at"][row] = t
        if code == _CODE[REPORTED]:
            if c["first_reported"][row] == NONE:
                c["first_reported"][row] = t
            c["last_reported"][row] = t
        elif code == _CODE[VERIFIED]:
            if c["first_verified"][row] == NONE:
                c["first_verified"][row] = t
            c["last_verified"][row] = t
        elif code == _CODE[REUNITED]:
            if c["reunited"][row] == NONE:
                c["reunited"][row] = t
        elif code == _CODE[RETURN_SCHEDULED]:
            c["due"][row] = due
        elif code == _CONTACT:
            c["last_contact"][row] = max(int(c["last_contact"][row]), t)
        c["latest_issued"][row] = max(int(c["latest_issued"][row]), t)
        c["latest_index"][row] = index

    def view(self) -> dict[str, npt.NDArray[Any]]:
        return {name: col[: self.size] for name, col in self.cols.items()}


_EVENT_COLUMNS: dict[str, type[np.generic]] = {
    "row": np.int32,
    "code": np.int8,
    "t": _I64,
    "due": np.int32,
    "index": _I64,
}


def _column_to_text(col: npt.NDArray[Any]) -> str:
    """A column's values as base64 of their little-endian bytes (exact, compact)."""
    return base64.b64encode(col.astype(col.dtype.newbyteorder("<"), copy=False).tobytes()).decode(
        "ascii"
    )


def _column_from_text(
    text: Any, dtype: type[np.generic], size: int, capacity: int, empty: Any
) -> npt.NDArray[Any]:
    """Raises: ValueError if ``text`` is not ``size`` values of ``dtype``."""
    if not isinstance(text, str):
        raise ValueError("a column is base64 text")
    raw = base64.b64decode(text.encode("ascii"), validate=True)
    values = np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<"))
    if values.size != size:
        raise ValueError(f"a column holds {values.size} values, not {size}")
    col = np.full(max(capacity, size, 1), empty, dtype=dtype)
    col[:size] = values
    return col


class _Events:
    """Every fed event, compactly, to replay the few rows a question cuts."""

    def __init__(self, capacity: int) -> None:
        self.size = 0
        self.row = np.zeros(capacity, dtype=np.int32)
        self.code = np.zeros(capacity, dtype=np.int8)
        self.t = np.zeros(capacity, dtype=_I64)
        self.due = np.zeros(capacity, dtype=np.int32)
        self.index = np.zeros(capacity, dtype=_I64)

    def add(self, row: int, code: int, t: int, due: int, index: int) -> None:
        if self.size == len(self.row):
            for name in ("row", "code", "t", "due", "index"):
                old = getattr(self, name)
                grown = np.zeros(2 * self.size, dtype=old.dtype)
                grown[: self.size] = old
                setattr(self, name, grown)
        n = self.size
        self.row[n], self.code[n], self.t[n], self.due[n], self.index[n] = row, code, t, due, index
        self.size += 1


def _median_days(samples: npt.NDArray[np.int64]) -> float | None:
    if samples.size == 0:
        return None
    ordered = np.sort(samples)
    n = ordered.size
    middle = (
        Decimal(int(ordered[n // 2]))
        if n % 2
        else (Decimal(int(ordered[n // 2 - 1])) + Decimal(int(ordered[n // 2]))) / 2
    )
    return float((middle / DAY_US).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


class CaseStats:
    """The running fold of accepted case events behind ``GET /v1/stats``.

    Feed every accepted case event in log order (:meth:`feed`), then ask for
    the figures as of a time and a log size (:meth:`figures`). Not
    thread-safe: one writer feeds it, and questions are asked between feeds.
    """

    def __init__(self, policy: Policy | None = None) -> None:
        self.policy = policy or Policy()
        self._pairs: dict[tuple[str, str], int] = {}
        self._pair_names: list[tuple[str, str]] = []
        self._case_rows: dict[str, int] = {}
        self._rows = _Rows(_INITIAL_CAPACITY)
        self._events = _Events(_INITIAL_CAPACITY)
        self._last_index = -1

    def __len__(self) -> int:
        """The number of events fed."""
        return self._events.size

    @property
    def last_index(self) -> int:
        """The log index of the last event fed (-1 before any)."""
        return self._last_index

    def feed(self, event: CaseEvent, log_index: int) -> None:
        """Fold one accepted event, at its place in the log.

        Raises:
            ValueError: ``log_index`` is not after the previous event's.
        """
        self.feed_fields(
            case_id=event.case_id,
            holder=event.holder,
            home=event.home,
            event=event.event,
            issued_at=event.issued_at,
            due=event.due,
            aged_out=event.aged_out,
            log_index=log_index,
        )

    def feed_fields(
        self,
        *,
        case_id: str,
        holder: str,
        home: str,
        event: str,
        issued_at: datetime,
        due: date | None,
        aged_out: bool,
        log_index: int,
    ) -> None:
        """:meth:`feed` from stored columns, for a gateway reloading its
        records without parsing each event again.

        The sides and ``aged_out`` of a case are those of its first event.

        Raises:
            ValueError: ``log_index`` is not after the previous event's, or
                an unknown event name.
        """
        if log_index <= self._last_index:
            raise ValueError("case events are fed in log order")
        code = _EVENT_CODE[event]
        row = self._case_rows.get(case_id)
        if row is None:
            pair = self._pairs.setdefault((holder, home), len(self._pairs))
            if pair == len(self._pair_names):
                self._pair_names.append((holder, home))
            row = self._rows.add(pair, aged_out)
            self._case_rows[case_id] = row
        t = micros(issued_at)
        due_n = NO_DUE if due is None else day_number(due)
        self._rows.step(row, code, t, due_n, log_index)
        self._events.add(row, code, t, due_n, log_index)
        self._last_index = log_index

    def _rows_as_of(self, t: int, log_size: int) -> dict[str, npt.NDArray[Any]]:
        """The rows as if only the events that count had been fed."""
        rows = self._rows.view()
        cut = np.nonzero((rows["latest_issued"] > t) | (rows["latest_index"] >= log_size))[0]
        if cut.size == 0:
            return rows
        ev = self._events
        n = ev.size
        chosen = np.isin(ev.row[:n], cut) & (ev.t[:n] <= t) & (ev.index[:n] < log_size)
        scratch = _Rows(max(1, int(cut.size)))
        slot: dict[int, int] = {}
        for r in cut.tolist():
            slot[r] = scratch.add(int(rows["pair"][r]), bool(rows["aged_out"][r]))
        for i in np.nonzero(chosen)[0].tolist():
            scratch.step(
                slot[int(ev.row[i])],
                int(ev.code[i]),
                int(ev.t[i]),
                int(ev.due[i]),
                int(ev.index[i]),
            )
        patched = {name: col.copy() for name, col in rows.items()}
        for name, col in scratch.view().items():
            patched[name][cut] = col
        return patched

    def figures(
        self, *, as_of: datetime, log_size: int, party: str | None = None
    ) -> dict[str, Any]:
        """The §10 stats document as of ``as_of`` (taken to the whole second).

        Args:
            as_of: T; events with ``issued_at`` ≤ T count. May lie in the future.
            log_size: N, the signed tree size; events at log index ≥ N do not count.
            party: only the pairs this party is in; None for all (a monitor).
        """
        as_of = as_of.astimezone(UTC).replace(microsecond=0)
        t = micros(as_of)
        rows = self._rows_as_of(t, log_size)
        policy = self.policy
        n_pairs = len(self._pair_names)
        state = rows["state"].astype(np.int64)
        pair = rows["pair"].astype(np.int64)
        live = state != _NO_STATE
        aged = rows["aged_out"] & live

        def per_pair(mask: npt.NDArray[np.bool_]) -> list[int]:
            counts = np.bincount(pair[mask], minlength=n_pairs)
            return [int(c) for c in counts]

        by_state = np.bincount(
            pair[live] * len(STATES) + state[live], minlength=n_pairs * len(STATES)
        ).reshape(n_pairs, len(STATES))
        reunited = rows["reunited"]
        r24 = per_pair((reunited > t - DAY_US) & (reunited <= t))
        r7d = per_pair((reunited > t - 7 * DAY_US) & (reunited <= t))
        finished = (state == _CODE[REUNITED]) | (state == _CODE[CLOSED])
        aged_open = per_pair(aged & ~finished)
        aged_reunited = per_pair(aged & (state == _CODE[REUNITED]))
        aged_late = per_pair(
            live
            & return_overdue(state, rows["aged_out"], rows["last_verified"], rows["due"], t, policy)
        )
        response_late = per_pair(live & response_overdue(state, rows["last_reported"], t, policy))
        contact_late = per_pair(
            live & contact_overdue(state, rows["entered_at"], rows["last_contact"], t, policy)
        )
        to_verified = (rows["first_reported"] != NONE) & (rows["first_verified"] != NONE)
        to_reunited = (rows["first_verified"] != NONE) & (reunited != NONE)
        span_verified = rows["first_verified"] - rows["first_reported"]
        span_reunited = reunited - rows["first_verified"]

        pairs = []
        for p in sorted(range(n_pairs), key=lambda p: self._pair_names[p]):
            holder, home = self._pair_names[p]
            if party is not None and party not in (holder, home):
                continue
            if not by_state[p].any():
                continue
            mine = pair == p
            pairs.append(
                {
                    "holder": holder,
                    "home": home,
                    "cases": {s: int(by_state[p][c]) for c, s in enumerate(STATES)},
                    "reunited_last_24h": r24[p],
                    "reunited_last_7d": r7d[p],
                    "aged_out": {
                        "open": aged_open[p],
                        "reunited": aged_reunited[p],
                        "return_overdue": aged_late[p],
                    },
                    "response_overdue": response_late[p],
                    "contact_overdue": contact_late[p],
                    "median_days": {
                        "reported_to_verified": _median_days(span_verified[mine & to_verified]),
                        "verified_to_reunited": _median_days(span_reunited[mine & to_reunited]),
                    },
                }
            )
        return {"as_of": format_time(as_of), "log_size": log_size, "pairs": pairs}

    def case_ids(self) -> Iterator[str]:
        """The ids of every case fed, in the order first seen."""
        return iter(self._case_rows)

    def to_json(self) -> dict[str, Any]:
        """Everything fed, exactly, to carry the fold across processes (a
        monitor's state file): rows and events as base64 columns. The policy
        is not part of it: it only shapes the questions, not the fold.
        """
        rows, ev = self._rows, self._events
        return {
            "format": STATS_FORMAT,
            "pairs": [list(p) for p in self._pair_names],
            "cases": list(self._case_rows),
            "last_index": self._last_index,
            "rows": {name: _column_to_text(rows.cols[name][: rows.size]) for name in _COLUMNS},
            "events": {
                name: _column_to_text(getattr(ev, name)[: ev.size]) for name in _EVENT_COLUMNS
            },
        }

    @classmethod
    def from_json(cls, obj: Any, policy: Policy | None = None) -> CaseStats:
        """The fold :meth:`to_json` wrote, answering as it did.

        Raises:
            ValueError: not a fold this code wrote, or one that contradicts
                itself (a row or pair out of range, events out of log order).
        """
        try:
            if not isinstance(obj, dict) or obj.get("format") != STATS_FORMAT:
                raise ValueError(f"not a case fold of format {STATS_FORMAT}")
            pair_names = [(str(h), str(m)) for h, m in obj["pairs"]]
            case_ids = [str(c) for c in obj["cases"]]
            last_index = int(obj["last_index"])
            stats = cls(policy)
            n_rows, n_events = len(case_ids), _column_size(obj["events"]["row"], np.int32)
            stats._rows.size = n_rows
            stats._rows.cols = {
                name: _column_from_text(obj["rows"][name], dtype, n_rows, _INITIAL_CAPACITY, empty)
                for name, (dtype, empty) in _COLUMNS.items()
            }
            stats._events.size = n_events
            for name, dtype in _EVENT_COLUMNS.items():
                col = _column_from_text(obj["events"][name], dtype, n_events, _INITIAL_CAPACITY, 0)
                setattr(stats._events, name, col)
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise ValueError(f"the case fold does not read: {exc}") from exc
        rows, ev = stats._rows.view(), stats._events
        if len(set(case_ids)) != n_rows or len(set(pair_names)) != len(pair_names):
            raise ValueError("the case fold names a case or pair twice")
        pair_col = rows["pair"]
        if n_rows and (int(pair_col.min()) < 0 or int(pair_col.max()) >= len(pair_names)):
            raise ValueError("the case fold has a row of no pair")
        if n_events:
            rows_fed, index = ev.row[:n_events], ev.index[:n_events]
            if int(rows_fed.min()) < 0 or int(rows_fed.max()) >= n_rows:
                raise ValueError("the case fold has an event of no row")
            if np.any(np.diff(index) <= 0) or int(index[-1]) != last_index:
                raise ValueError("the case fold's events are not in log order")
        elif last_index != -1:
            raise ValueError("the case fold has no events but a last index")
        stats._pair_names = pair_names
        stats._pairs = {p: i for i, p in enumerate(pair_names)}
        stats._case_rows = {c: i for i, c in enumerate(case_ids)}
        stats._last_index = last_index
        return stats


def _column_size(text: Any, dtype: type[np.generic]) -> int:
    """How many values of ``dtype`` a base64 column holds."""
    if not isinstance(text, str):
        raise ValueError("a column is base64 text")
    raw = base64.b64decode(text.encode("ascii"), validate=True)
    width = np.dtype(dtype).itemsize
    if len(raw) % width:
        raise ValueError("a column's bytes are not whole values")
    return len(raw) // width
