"""Cases on the gateway (SPEC §10): records, events, the case table, the figures.

The rules live in the shared protocol (:mod:`gateway.protocol.case`: the
event, its member rules and the state machine; :mod:`gateway.protocol.stats`:
the figures). This module holds what needs the gateway's records:

- the case id of every extracted record, and which dossier holds which
  record (``case_records``), written with the extraction document;
- accepting an event (:func:`accept_event`) in §10's order of checks, in the
  one write transaction that records the event, appends its exact JWS to
  the receipt log (``log_entries``) and moves the case, so an event is
  durable and in the log before the 201 leaves;
- the views of ``GET /v1/cases/{id}``, ``GET /v1/cases`` and the records of
  ``GET /v1/packets/{id}``;
- :class:`RunningFigures`, the stats fold kept up to date from
  ``case_events`` in log order, so ``GET /v1/stats`` never rescans the log.

Nothing here stores or returns personal data: ids, names of events and
states, times, a reason code, a date of return, one flag.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from gateway.protocol import case
from gateway.protocol.case import Case, CaseEvent, CaseName, CitedPacket, SignedCaseEvent
from gateway.protocol.clock import format_time, parse_time
from gateway.protocol.crypto import jws
from gateway.protocol.crypto.digest import sha256_hex
from gateway.protocol.errors import Conflict, Invalid, NotFound
from gateway.protocol.stats import CaseStats, Policy
from gateway.server import log
from gateway.server.sql import Connection, serialize

MAX_PAGE = 1000  # items per page of GET /v1/cases, as for the inbox

SCHEMA = """
CREATE TABLE IF NOT EXISTS case_records (
    packet_id TEXT NOT NULL,
    position INTEGER NOT NULL,        -- the record's place in the extraction document
    record_id TEXT NOT NULL,
    case_id TEXT NOT NULL,
    aged_out INTEGER NOT NULL,        -- age.turned_18_since_displacement, null as 0
    PRIMARY KEY (packet_id, position)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS case_records_by_record ON case_records(packet_id, record_id);
CREATE INDEX IF NOT EXISTS case_records_by_case ON case_records(case_id);
CREATE TABLE IF NOT EXISTS cases (
    seq INTEGER PRIMARY KEY,          -- GET /v1/cases cursor: the order cases began
    case_id TEXT NOT NULL UNIQUE,
    holder TEXT NOT NULL,
    home TEXT NOT NULL,
    state TEXT NOT NULL,
    aged_out INTEGER NOT NULL,
    updated_at TEXT NOT NULL          -- when the gateway accepted its last event
);
CREATE INDEX IF NOT EXISTS cases_by_holder ON cases(holder, seq);
CREATE INDEX IF NOT EXISTS cases_by_home ON cases(home, seq);
CREATE TABLE IF NOT EXISTS case_events (
    log_index INTEGER PRIMARY KEY,    -- its place in the receipt log
    event_sha256 TEXT NOT NULL UNIQUE,
    event_id TEXT NOT NULL UNIQUE,
    case_id TEXT NOT NULL,
    event TEXT NOT NULL,
    holder TEXT NOT NULL,
    home TEXT NOT NULL,
    issued_at TEXT NOT NULL,
    due TEXT,
    aged_out INTEGER NOT NULL,
    compact TEXT NOT NULL,            -- the exact JWS, as in the log
    response TEXT NOT NULL            -- the 201 body, replayed to identical retries
);
CREATE INDEX IF NOT EXISTS case_events_by_case ON case_events(case_id, log_index);
"""


def create_tables(conn: Connection) -> None:
    """Create the case tables if missing (inside the writer's transaction)."""
    # One statement at a time: executescript would commit the writer's transaction.
    for statement in SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)


# --- records and their case ids ---------------------------------------------


def manifest_of(envelope: str) -> dict[str, Any]:
    """The manifest of a stored envelope (verified at intake, so only parsed here)."""
    manifest: dict[str, Any] = json.loads(jws.parse(envelope, typ=jws.TYP_PACKET).payload)
    return manifest


def case_names(envelope: str) -> tuple[CaseName, ...]:
    """The ``body.cases`` of a stored dossier (checked at intake).

    A dossier accepted before intake checked ``body.cases`` may carry names
    that do not parse; its records then get derived ids rather than an
    extraction that fails on every retry (extraction never blocks delivery).
    """
    manifest = manifest_of(envelope)
    parts = [p["name"] for p in manifest["parts"]]
    try:
        return case.parse_case_names(manifest.get("body"), parts)
    except Invalid:
        return ()


def with_case_ids(
    packet_id: str, names: Sequence[CaseName], records: Sequence[Mapping[str, Any]]
) -> tuple[list[dict[str, Any]], list[str]]:
    """The records with their ``case_id`` (right after ``record_id``), and the
    warnings for names that found no record."""
    resolved = case.resolve_case_ids(packet_id, records, names)
    out = []
    for record, case_id in zip(records, resolved.case_ids, strict=True):
        item: dict[str, Any] = {}
        for key, value in record.items():
            item[key] = value
            if key == "record_id":
                item["case_id"] = case_id
        out.append(item)
    return out, list(resolved.warnings)


def aged_out_of(record: Mapping[str, Any]) -> bool:
    """``age.turned_18_since_displacement``, false when it is not known (SPEC §10)."""
    age = record.get("age") or {}
    return age.get("turned_18_since_displacement") is True


def store_records(
    conn: Connection, packet_id: str, records: Sequence[Mapping[str, Any]]
) -> None:
    """Remember which record of this packet is which case (in the READY transaction)."""
    conn.executemany(
        "INSERT OR REPLACE INTO case_records (packet_id, position, record_id, case_id, aged_out)"
        " VALUES (?, ?, ?, ?, ?)",
        [
            (packet_id, i, r["record_id"], r["case_id"], int(aged_out_of(r)))
            for i, r in enumerate(records)
        ],
    )


def packet_records(conn: Connection, packet_id: str) -> list[dict[str, Any]]:
    """``"records"`` of ``GET /v1/packets/{id}``: ids and the aged-out flag only."""
    rows = conn.execute(
        "SELECT record_id, case_id, aged_out FROM case_records WHERE packet_id = ?"
        " ORDER BY position",
        (packet_id,),
    ).fetchall()
    return [{"record_id": r, "case_id": c, "aged_out": bool(a)} for r, c, a in rows]


# --- accepting an event ----------------------------------------------------------


def _case(conn: Connection, case_id: str) -> Case | None:
    row = conn.execute(
        "SELECT holder, home, state, aged_out FROM cases WHERE case_id = ?", (case_id,)
    ).fetchone()
    if row is None:
        return None
    return Case(case_id, row[0], row[1], row[2], bool(row[3]))


def _packet(conn: Connection, packet_id: str) -> tuple[str, str, str, str] | None:
    row = conn.execute(
        "SELECT sender, recipient, kind, envelope FROM packets WHERE packet_id = ?", (packet_id,)
    ).fetchone()
    return None if row is None else (row[0], row[1], row[2], row[3])


def _record_flag(
    conn: Connection, packet_id: str, record_id: str, case_id: str
) -> bool | None:
    row = conn.execute(
        "SELECT aged_out FROM case_records WHERE packet_id = ? AND record_id = ? AND case_id = ?",
        (packet_id, record_id, case_id),
    ).fetchone()
    return None if row is None else bool(row[0])


def _check_report(conn: Connection, current: Case | None, event: CaseEvent) -> None:
    """REPORTED cites a dossier from holder to home whose extraction holds
    the record with this case id; the first report copies its flag."""
    assert event.packet_id is not None and event.record_id is not None
    packet = _packet(conn, event.packet_id)
    if packet is None or packet[2] != "dossier":
        raise Invalid(f"a REPORTED cites a dossier; there is no dossier {event.packet_id}")
    if (packet[0], packet[1]) != (event.holder, event.home):
        raise Invalid(
            f"the dossier {event.packet_id} is not from holder {event.holder} to home {event.home}"
        )
    flag = _record_flag(conn, event.packet_id, event.record_id, event.case_id)
    if flag is None:
        ready = conn.execute(
            "SELECT extraction IS NOT NULL FROM packets WHERE packet_id = ?", (event.packet_id,)
        ).fetchone()[0]
        if not ready:
            raise Invalid(
                f"the dossier {event.packet_id} is not READY yet; report its records once it is"
            )
        raise Invalid(
            f"the extraction of {event.packet_id} holds no record {event.record_id} with case"
            f" {event.case_id}"
        )
    if current is None and flag != event.aged_out:
        raise Invalid(
            f"aged_out is copied from the record: {str(flag).lower()} for record"
            f" {event.record_id} of {event.packet_id}"
        )


def _check_verification(conn: Connection, event: CaseEvent) -> None:
    """VERIFIED, DISPUTED and INFO_REQUESTED cite a verification packet that agrees."""
    assert event.packet_id is not None and event.record_id is not None
    packet = _packet(conn, event.packet_id)
    if packet is None:
        raise Invalid(f"there is no verification packet {event.packet_id}")
    sender, recipient, kind, envelope = packet
    manifest = manifest_of(envelope)
    dossiers = frozenset(
        r[0]
        for r in conn.execute(
            "SELECT DISTINCT r.packet_id FROM case_records r JOIN packets p USING (packet_id)"
            " WHERE r.case_id = ? AND p.sender = ? AND p.recipient = ? AND p.kind = 'dossier'",
            (event.case_id, event.holder, event.home),
        )
    )
    cited = CitedPacket(
        packet_id=event.packet_id,
        sender=sender,
        recipient=recipient,
        kind=kind,
        in_reply_to=manifest.get("in_reply_to"),
        body=manifest.get("body"),
    )
    case.check_verification(event, cited, dossiers)
    assert cited.in_reply_to is not None
    if _record_flag(conn, cited.in_reply_to, event.record_id, event.case_id) is None:
        raise Invalid(
            f"the dossier {cited.in_reply_to} holds no record {event.record_id} with case"
            f" {event.case_id}"
        )


def known_answer(conn: Connection, compact: str) -> dict[str, Any] | None:
    """The first answer to exactly these bytes, if they were accepted before."""
    row = conn.execute(
        "SELECT response FROM case_events WHERE event_sha256 = ?", (sha256_hex(compact),)
    ).fetchone()
    return None if row is None else dict(json.loads(row[0]))


def accept_event(
    conn: Connection, signed: SignedCaseEvent, *, at: datetime
) -> tuple[int, dict[str, Any]]:
    """Check and record one event whose signature the caller verified
    (SPEC §10), inside a write transaction.

    Order, after the signature: the identical event again (200, the first
    answer); an ``event_id`` already used (409); ``issued_at`` within 300 s
    (422); the case exists unless REPORTED (404); the side (403); the cited
    dossier, record, verification packet and ``aged_out`` (422); the
    transition (409, naming the state).

    Returns:
        (201, {"log_index", "state"}) the first time; (200, the same) again.
    """
    again = known_answer(conn, signed.compact)
    if again is not None:
        return 200, again
    event = signed.event
    used = conn.execute(
        "SELECT 1 FROM case_events WHERE event_id = ?", (event.event_id,)
    ).fetchone()
    if used is not None:
        raise Conflict(f"event_id {event.event_id} is taken by another event; use a new one")
    case.check_fresh(event, at)
    current = _case(conn, event.case_id)
    if current is None:
        case.transition(None, event.event, case_id=event.case_id)  # 404 unless REPORTED
    case.check_sides(current, event)
    if event.event == case.REPORTED:
        _check_report(conn, current, event)
    elif event.event in case.RESULT_OF:
        _check_verification(conn, event)
    after = case.apply(current, event)
    index = log.insert_entry(conn, signed.compact.encode("ascii"), appended_at=format_time(at))
    body = {"log_index": index, "state": after.state}
    conn.execute(
        "INSERT INTO case_events (log_index, event_sha256, event_id, case_id, event, holder,"
        " home, issued_at, due, aged_out, compact, response)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            index,
            sha256_hex(signed.compact),
            event.event_id,
            event.case_id,
            event.event,
            event.holder,
            event.home,
            event.issued_at.isoformat(),  # exact, fractions kept: the fold compares exactly
            None if event.due is None else event.due.isoformat(),
            int(event.aged_out),
            signed.compact,
            json.dumps(body),
        ),
    )
    if current is None:
        serialize(conn, "cases")  # PostgreSQL: MAX + 1 under the sequence's lock
        conn.execute(
            "INSERT INTO cases (seq, case_id, holder, home, state, aged_out, updated_at)"
            " VALUES ((SELECT COALESCE(MAX(seq), 0) + 1 FROM cases), ?, ?, ?, ?, ?, ?)",
            (event.case_id, after.holder, after.home, after.state, int(after.aged_out),
             format_time(at)),
        )  # fmt: skip
    else:
        conn.execute(
            "UPDATE cases SET state = ?, updated_at = ? WHERE case_id = ?",
            (after.state, format_time(at), event.case_id),
        )
    return 201, body


# --- views -------------------------------------------------------------------------


def case_view(
    conn: Connection, case_id: str, caller: str, *, monitor: bool
) -> dict[str, Any]:
    """``GET /v1/cases/{id}``: holder, home and monitors; 404 for anyone else.

    Raises:
        NotFound: no such case, or the caller may not see it (so as not to
            tell a third party that a case exists).
    """
    found = _case(conn, case_id)
    if found is None or not (monitor or caller in (found.holder, found.home)):
        raise NotFound(f"no case {case_id}")
    rows = conn.execute(
        "SELECT compact, log_index FROM case_events WHERE case_id = ? ORDER BY log_index",
        (case_id,),
    ).fetchall()
    return {
        "case_id": case_id,
        "holder": found.holder,
        "home": found.home,
        "state": found.state,
        "aged_out": found.aged_out,
        "events": [{"event": c, "log_index": i} for c, i in rows],
    }


def cases_page(
    conn: Connection,
    caller: str,
    *,
    monitor: bool,
    state: str | None,
    after: int,
    limit: int,
) -> dict[str, Any]:
    """``GET /v1/cases``: the caller's cases (a monitor's: all), in the order
    they began, after the cursor; pass ``next`` as ``after``."""
    limit = max(1, min(limit, MAX_PAGE))
    rows = conn.execute(
        "SELECT case_id, holder, home, state, aged_out, updated_at, seq FROM cases"
        " WHERE seq > ? AND (? OR holder = ? OR home = ?) AND (? IS NULL OR state = ?)"
        " ORDER BY seq LIMIT ?",
        (after, monitor, caller, caller, state, state, limit),
    ).fetchall()
    items = [
        {
            "case_id": r[0],
            "holder": r[1],
            "home": r[2],
            "state": r[3],
            "aged_out": bool(r[4]),
            "updated_at": r[5],
        }
        for r in rows
    ]
    return {"items": items, "next": rows[-1][6] if rows else after}


# --- the running figures --------------------------------------------------------------


class RunningFigures:
    """The stats fold of the accepted events, caught up from ``case_events``
    in log order whenever it is asked, so every figure is exactly the fold
    of what is durable, and no question rescans what was folded before."""

    def __init__(self, policy: Policy) -> None:
        self._fold = CaseStats(policy)
        self._lock = threading.Lock()  # one feeder at a time; questions wait for it

    def _catch_up(self, conn: Connection) -> None:
        rows = conn.execute(
            "SELECT log_index, case_id, holder, home, event, issued_at, due, aged_out"
            " FROM case_events WHERE log_index > ? ORDER BY log_index",
            (self._fold.last_index,),
        )
        for index, case_id, holder, home, name, issued_at, due, aged_out in rows:
            self._fold.feed_fields(
                case_id=case_id,
                holder=holder,
                home=home,
                event=name,
                issued_at=parse_time(issued_at),
                due=None if due is None else date.fromisoformat(due),
                aged_out=bool(aged_out),
                log_index=index,
            )

    def catch_up(self, conn: Connection) -> None:
        """Fold every accepted event not yet folded (the gateway warms up with
        this at start, so no request pays for a large log's first fold)."""
        with self._lock:
            self._catch_up(conn)

    def figures(
        self, conn: Connection, *, as_of: datetime, log_size: int, party: str | None
    ) -> dict[str, Any]:
        """The §10 stats document; ``party`` None for a monitor (all pairs)."""
        with self._lock:
            self._catch_up(conn)
            return self._fold.figures(as_of=as_of, log_size=log_size, party=party)
