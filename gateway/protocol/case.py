"""Case events (SPEC §10): what each side did for one child, signed, in order.

A **case** follows one child from the first dossier about them until they
are home. Each side records what it did as a signed **case event**, a JWS
with ``typ`` ``dxg-case+jws`` whose payload is closed: ids, an event name,
a time, a date, a reason code and one flag, never a name, a place or a
date of birth.

This module is the one place, shared by the gateway, the parties and the
monitor, that

- makes the signed bytes of an event (:func:`sign`) and verifies them
  (:func:`verify`: the bytes first, then the closed schema
  ``schemas/case-event.v1.json``, then the member rules);
- holds the state machine of the §10 table (:data:`TABLE`,
  :func:`transition`, :func:`apply`), so that the gateway accepting an event
  and a monitor replaying the log decide exactly alike;
- derives case ids (:func:`derive_case_id`) and resolves the names a dossier
  gives them in ``body.cases`` (:func:`parse_case_names`,
  :func:`resolve_case_ids`);
- reads the body of a verification packet and checks it agrees with the
  event that cites it (:func:`parse_verification_body`,
  :func:`check_verification`).

Guarantees:

- A :class:`CaseEvent` cannot be built breaking a member rule of §10 (which
  events carry ``packet_id``/``record_id``, ``due``, ``reason``): every
  breach raises :class:`~gateway.errors.Invalid` (422) when the value is
  made, whether it was read from a JWS or is about to be signed.
- A receipt, token, packet or extraction document is never taken for a case
  event, nor a case event for any of them: the ``typ`` is checked before a
  key is looked at.
- Error details name members, event names, states and ids only: never a
  value a person wrote.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

from gateway.protocol.clock import format_time, parse_time
from gateway.protocol.crypto import jws
from gateway.protocol.crypto.keys import PublicKey, SigningKey
from gateway.protocol.errors import Conflict, Forbidden, Invalid, NotFound, Unauthenticated
from gateway.protocol.schemas import CASE_EVENT_V1, validate

REPORTED = "REPORTED"
VERIFIED = "VERIFIED"
DISPUTED = "DISPUTED"
INFO_REQUESTED = "INFO_REQUESTED"
FAMILY_FOUND = "FAMILY_FOUND"
CONTACT = "CONTACT"
RETURN_SCHEDULED = "RETURN_SCHEDULED"
REUNITED = "REUNITED"
CLOSED = "CLOSED"

# The eight states, in the order of the §10 table; CONTACT is an event, never a state.
STATES = (
    REPORTED,
    VERIFIED,
    DISPUTED,
    INFO_REQUESTED,
    FAMILY_FOUND,
    RETURN_SCHEDULED,
    REUNITED,
    CLOSED,
)
EVENTS = (*STATES[:5], CONTACT, *STATES[5:])
REASONS = (
    "identity_mismatch",
    "photo_mismatch",
    "insufficient_information",
    "duplicate",
    "not_found",
    "transferred",
    "other",
)
# The three events a verification packet backs, and the body's `result` for each.
RESULT_OF = {VERIFIED: "verified", DISPUTED: "disputed", INFO_REQUESTED: "info_requested"}
FIELD_VERDICTS = ("confirmed", "differs", "unknown")

ISSUED_AT_WINDOW_S = 300  # SPEC §10: issued_at within 300 s of the gateway's now
MAX_NOTE_CHARS = 4000  # a verification note is a short free text for the holder's officials


class Side(StrEnum):
    """Who may issue an event: the case's holder, its home side, or either."""

    HOLDER = "holder"
    HOME = "home"
    EITHER = "either"


@dataclass(frozen=True, slots=True)
class Transition:
    """One row of the §10 table.

    ``accepted_from`` holds the states the case may be in; ``None`` stands for
    a case that does not exist yet. The resulting state is the event's name,
    except for CONTACT, which keeps the state.
    """

    event: str
    side: Side
    accepted_from: frozenset[str | None]

    def result(self, state: str) -> str:
        return state if self.event == CONTACT else self.event


def _row(event: str, side: Side, *states: str | None) -> tuple[str, Transition]:
    return event, Transition(event, side, frozenset(states))


TABLE: Mapping[str, Transition] = dict(
    (
        _row(REPORTED, Side.HOLDER, None, INFO_REQUESTED, DISPUTED),
        _row(VERIFIED, Side.HOME, REPORTED),
        _row(DISPUTED, Side.HOME, REPORTED),
        _row(INFO_REQUESTED, Side.HOME, REPORTED),
        _row(FAMILY_FOUND, Side.HOME, VERIFIED),
        _row(CONTACT, Side.EITHER, FAMILY_FOUND, RETURN_SCHEDULED),
        _row(RETURN_SCHEDULED, Side.HOLDER, VERIFIED, FAMILY_FOUND),
        _row(REUNITED, Side.HOME, FAMILY_FOUND, RETURN_SCHEDULED),
        _row(CLOSED, Side.EITHER, *(s for s in STATES if s not in (REUNITED, CLOSED))),
    )
)
"""The §10 table: event → who issues it → the states it is accepted from."""

# Which members each event carries besides the ones every event has (SPEC §10,
# "Members the table does not mention"). "required", "optional" or absent (= null).
_CITES_RECORD = frozenset({REPORTED, VERIFIED, DISPUTED, INFO_REQUESTED})
_REASON = {DISPUTED: "required", CLOSED: "required", INFO_REQUESTED: "optional"}
_DUE = {RETURN_SCHEDULED: "required"}


def _article(word: str) -> str:
    return "an" if word[0] in "AEIOU" else "a"


@dataclass(frozen=True, slots=True)
class CaseEvent:
    """The payload of a case event, its member rules checked when built.

    Raises (on construction):
        Invalid: an unknown event name or reason code, a naive time, a case
            between a party and itself, or a member present or missing
            against the rules of §10.
    """

    event_id: str
    case_id: str
    event: str
    issuer: str
    holder: str
    home: str
    issued_at: datetime
    aged_out: bool
    packet_id: str | None = None
    record_id: str | None = None
    due: date | None = None
    reason: str | None = None

    def __post_init__(self) -> None:
        check_members(self)

    @property
    def side(self) -> Side | None:
        """The side the issuer speaks for in this event's own terms, or None."""
        if self.issuer == self.holder:
            return Side.HOLDER
        if self.issuer == self.home:
            return Side.HOME
        return None

    def claims(self) -> dict[str, Any]:
        """The payload as JSON members, in the order of SPEC §10."""
        return {
            "v": 1,
            "event_id": self.event_id,
            "case_id": self.case_id,
            "event": self.event,
            "issuer": self.issuer,
            "holder": self.holder,
            "home": self.home,
            "issued_at": format_time(self.issued_at),
            "packet_id": self.packet_id,
            "record_id": self.record_id,
            "due": None if self.due is None else self.due.isoformat(),
            "reason": self.reason,
            "aged_out": self.aged_out,
        }

    @classmethod
    def from_claims(cls, claims: Any) -> CaseEvent:
        """Read a payload: the closed schema first, then the member rules.

        Raises:
            Invalid: the payload breaks ``schemas/case-event.v1.json`` (the
                detail names JSON Pointers and keywords, never values), a time
                or date that does not exist, or a member rule of §10.
        """
        check_shape(claims)
        try:
            issued_at = parse_time(claims["issued_at"])
        except ValueError as exc:  # the schema's pattern admits 30 February
            raise Invalid("the case event's issued_at is not a real date and time") from exc
        due = None
        if claims["due"] is not None:
            try:
                due = date.fromisoformat(claims["due"])
            except ValueError as exc:
                raise Invalid("the case event's due is not a real date") from exc
        return cls(
            event_id=claims["event_id"],
            case_id=claims["case_id"],
            event=claims["event"],
            issuer=claims["issuer"],
            holder=claims["holder"],
            home=claims["home"],
            issued_at=issued_at,
            aged_out=claims["aged_out"],
            packet_id=claims["packet_id"],
            record_id=claims["record_id"],
            due=due,
            reason=claims["reason"],
        )


# What the closed schema says of each member, as plain checks: strings are
# matched whole, so these are never looser than the schema's anchored patterns.
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_PARTY = re.compile(r"[a-z][a-z0-9-]{1,31}")
_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z")
_RECORD = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_MEMBERS = frozenset(
    ("v", "event_id", "case_id", "event", "issuer", "holder", "home", "issued_at",
     "packet_id", "record_id", "due", "reason", "aged_out")
)  # fmt: skip


def _matches(pattern: re.Pattern[str], value: object, *, nullable: bool = False) -> bool:
    if value is None:
        return nullable
    return isinstance(value, str) and pattern.fullmatch(value) is not None


def plainly_valid(claims: Any) -> bool:
    """True only for payloads that certainly satisfy ``case-event.v1.json``.

    The schema is the contract and decides every other payload (and words
    the detail); this check is the common case made cheap: a JSON Schema
    validator costs about a millisecond per event, this a few microseconds,
    and a monitor replays every event of the log.
    """
    return (
        isinstance(claims, dict)
        and claims.keys() == _MEMBERS
        and type(claims["v"]) is int
        and claims["v"] == 1
        and _matches(_UUID, claims["event_id"])
        and _matches(_UUID, claims["case_id"])
        and isinstance(claims["event"], str)
        and claims["event"] in TABLE
        and _matches(_PARTY, claims["issuer"])
        and _matches(_PARTY, claims["holder"])
        and _matches(_PARTY, claims["home"])
        and _matches(_TIME, claims["issued_at"])
        and _matches(_UUID, claims["packet_id"], nullable=True)
        and _matches(_RECORD, claims["record_id"], nullable=True)
        and _matches(_DATE, claims["due"], nullable=True)
        and (claims["reason"] is None or claims["reason"] in REASONS)
        and type(claims["aged_out"]) is bool
    )


def check_shape(claims: Any) -> None:
    """The payload satisfies the closed schema ``schemas/case-event.v1.json``.

    Raises:
        Invalid: it does not; the detail names JSON Pointers and schema
            keywords, never values.
    """
    if not plainly_valid(claims):
        validate(CASE_EVENT_V1, claims, what="the case event")


def check_members(event: CaseEvent) -> None:
    """The member rules of §10, in one place.

    ``packet_id`` and ``record_id`` both on REPORTED, VERIFIED, DISPUTED and
    INFO_REQUESTED, both null elsewhere; ``due`` only on RETURN_SCHEDULED,
    where it is required; ``reason`` required on DISPUTED and CLOSED,
    optional on INFO_REQUESTED, null elsewhere.

    Raises:
        Invalid: the first rule broken, named by member and event.
    """
    name = event.event
    if not isinstance(name, str) or name not in TABLE:
        raise Invalid(f"unknown case event; the events are {', '.join(EVENTS)}")
    if event.reason is not None and event.reason not in REASONS:
        raise Invalid(f"unknown reason code; the codes are {', '.join(REASONS)}")
    if event.issued_at.tzinfo is None:
        raise Invalid("the case event's issued_at carries no time zone")
    if event.holder == event.home:
        raise Invalid("a case is between two parties: holder and home differ")
    a = _article(name)
    cited = (event.packet_id is not None, event.record_id is not None)
    if name in _CITES_RECORD and cited != (True, True):
        raise Invalid(f"{a} {name} event names both packet_id and record_id")
    if name not in _CITES_RECORD and cited != (False, False):
        raise Invalid(f"{a} {name} event has null packet_id and record_id")
    for member, value, rules in (("due", event.due, _DUE), ("reason", event.reason, _REASON)):
        rule = rules.get(name)
        if rule == "required" and value is None:
            raise Invalid(f"{a} {name} event gives its {member}")
        if rule is None and value is not None:
            raise Invalid(f"{a} {name} event has a null {member}")


@dataclass(frozen=True, slots=True)
class SignedCaseEvent:
    """A case event with the exact JWS that carries it."""

    compact: str
    event: CaseEvent


def new_event_id() -> str:
    """A fresh random ``event_id``."""
    return str(uuid.uuid4())


def sign(event: CaseEvent, key: SigningKey) -> SignedCaseEvent:
    """Make the signed bytes of ``event``: the one place they are made.

    The payload is the compact JSON of :meth:`CaseEvent.claims`, checked
    against the schema before it is signed, so that no side can sign an
    event the gateway would refuse for its shape.

    Raises:
        Invalid: the event breaks the schema (say an id that is no UUID).
    """
    claims = event.claims()
    check_shape(claims)
    return SignedCaseEvent(compact=jws.sign_json(claims, key, typ=jws.TYP_CASE), event=event)


def claimed_issuer(compact: str | bytes) -> tuple[jws.ParsedJWS, str]:
    """Parse a case event and read who claims to have issued it (not yet verified).

    Only to find the key to verify with; nothing else is read before
    :func:`verify` has checked the signature.

    Raises:
        Unauthenticated: malformed, a ``typ`` other than ``dxg-case+jws``, an
            ``alg`` other than Ed25519/EdDSA, or no issuer member.
    """
    parsed = jws.parse(compact, typ=jws.TYP_CASE)
    try:
        issuer = json.loads(parsed.payload).get("issuer")
    except (ValueError, UnicodeDecodeError, AttributeError):
        issuer = None
    if not isinstance(issuer, str):
        raise Unauthenticated("the case event names no issuer")
    return parsed, issuer


def verify(parsed: jws.ParsedJWS, key: PublicKey) -> SignedCaseEvent:
    """Verify a case event's signature, then read the verified bytes.

    The caller finds ``key`` from :func:`claimed_issuer`; that the key
    belongs to the event's issuer, valid at the time, is the caller's check
    (the registry's, on the gateway; the pinned keys', on a monitor).

    Raises:
        Unauthenticated: bad signature, or a key other than the header's kid.
        Invalid: the signed payload is not JSON, breaks the closed schema or a
            member rule of §10.
    """
    payload = jws.verify(parsed, key).payload
    try:
        claims = json.loads(payload)
    except ValueError as exc:
        raise Invalid("the case event is not JSON") from exc
    return SignedCaseEvent(compact=parsed.compact, event=CaseEvent.from_claims(claims))


def check_fresh(event: CaseEvent, at: datetime) -> None:
    """SPEC §10: ``issued_at`` lies within 300 s of the gateway's ``at``.

    Raises:
        Invalid: further apart than that; the detail says which way.
    """
    window = timedelta(seconds=ISSUED_AT_WINDOW_S)
    if event.issued_at > at + window:
        raise Invalid(
            f"the case event is issued more than {ISSUED_AT_WINDOW_S} s in the future;"
            " check the issuer's clock"
        )
    if event.issued_at < at - window:
        raise Invalid(
            f"the case event was issued more than {ISSUED_AT_WINDOW_S} s ago;"
            " sign it again with the current time"
        )


# --- the state machine -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Case:
    """What the state machine knows of a case: its sides, state and flag."""

    case_id: str
    holder: str
    home: str
    state: str
    aged_out: bool


def transition(state: str | None, event: str, *, case_id: str) -> str:
    """The state after ``event`` on a case in ``state`` (None: no such case yet).

    Raises:
        NotFound: an event other than REPORTED on a case that does not exist.
        Conflict: the table does not accept ``event`` in ``state``; the detail
            names the current state.
    """
    row = TABLE[event]
    if state is None:
        if None in row.accepted_from:
            return row.result(REPORTED)
        raise NotFound(f"no case {case_id}; a case begins with REPORTED")
    if state not in row.accepted_from:
        allowed = sorted(s for s in row.accepted_from if s is not None)
        if None in row.accepted_from:
            allowed.insert(0, "new")
        raise Conflict(
            f"case {case_id} is {state}; {event} is accepted only when it is {' or '.join(allowed)}"
        )
    return row.result(state)


def check_sides(case: Case | None, event: CaseEvent) -> None:
    """The issuer is the side the table names, and the sides are the case's.

    On a new case the event's own ``holder`` and ``home`` make the sides.

    Raises:
        Forbidden: the issuer is not the side the table names, or a later
            event names other sides than the case's.
        Invalid: a REPORTED on an existing case names other sides (§10 makes
            that 422, not 403).
    """
    if case is not None and (event.holder, event.home) != (case.holder, case.home):
        detail = f"case {case.case_id} is between holder {case.holder} and home {case.home}"
        if event.event == REPORTED:
            raise Invalid(f"{detail}; a REPORTED names the case's sides")
        raise Forbidden(f"{detail}; the event names other sides")
    row = TABLE[event.event]
    side = event.side
    if side is None:
        raise Forbidden("the issuer of a case event is its holder or its home side")
    if row.side is not Side.EITHER and side is not row.side:
        raise Forbidden(f"{event.event} is issued by the {row.side} side, not the {side} side")


def apply(case: Case | None, event: CaseEvent) -> Case:
    """The case after ``event``: the checks of §10 that need only the case.

    In §10's order: the case exists unless the event is REPORTED (404), the
    sides (403), ``aged_out`` repeats the case's (422), the transition (409).
    What needs the gateway's records (the cited packet and record) is checked
    by the caller between :func:`check_sides` and this.

    Raises:
        NotFound: no such case and the event is not REPORTED.
        Forbidden: wrong side (see :func:`check_sides`).
        Invalid: ``aged_out`` differs from the case's first REPORTED.
        Conflict: the transition is not in the table; names the current state.
    """
    if case is None:
        transition(None, event.event, case_id=event.case_id)  # 404 unless REPORTED
        check_sides(None, event)
        return Case(event.case_id, event.holder, event.home, REPORTED, event.aged_out)
    check_sides(case, event)
    if event.aged_out != case.aged_out:
        raise Invalid(
            f"case {case.case_id} has aged_out {str(case.aged_out).lower()} from its first"
            " REPORTED; every later event repeats it"
        )
    state = transition(case.state, event.event, case_id=case.case_id)
    return Case(case.case_id, case.holder, case.home, state, case.aged_out)


# --- case ids ------------------------------------------------------------------


def derive_case_id(packet_id: str, record_id: str) -> str:
    """A record's case id when the dossier names none: UUIDv5 of ``record_id``
    in the namespace of the packet's UUID (SPEC §10)."""
    return str(uuid.uuid5(uuid.UUID(packet_id), record_id))


@dataclass(frozen=True, slots=True)
class CaseName:
    """One entry of a dossier's ``body.cases``: this child is that case."""

    case_id: str
    part: str
    index: int


MAX_CASE_NAMES = 10_000  # far above any dossier's children; bounds the work at intake


def _is_uuid(text: object) -> bool:
    if not isinstance(text, str):
        return False
    try:
        return str(uuid.UUID(text)) == text
    except ValueError:
        return False


def parse_case_names(
    body: Mapping[str, Any] | None, part_names: Sequence[str]
) -> tuple[CaseName, ...]:
    """Read ``body.cases`` of a dossier's manifest, checked for intake.

    Raises:
        Invalid: ``cases`` is not a list of ``{"case_id","part","index"}``
            objects (lowercase UUID, a part of this manifest, an index
            ≥ 0), or names a case or a position twice. Details give the
            entry's position, never its contents.
    """
    if not body or "cases" not in body:
        return ()
    entries = body["cases"]
    if not isinstance(entries, list):
        raise Invalid("body.cases is a list of {case_id, part, index}")
    if len(entries) > MAX_CASE_NAMES:
        raise Invalid(f"body.cases names at most {MAX_CASE_NAMES} cases")
    parts = set(part_names)
    names: list[CaseName] = []
    seen_ids: set[str] = set()
    seen_positions: set[tuple[str, int]] = set()
    for n, entry in enumerate(entries):
        where = f"body.cases[{n}]"
        if not isinstance(entry, dict) or set(entry) != {"case_id", "part", "index"}:
            raise Invalid(f"{where} has exactly the members case_id, part and index")
        case_id, part, index = entry["case_id"], entry["part"], entry["index"]
        if not _is_uuid(case_id):
            raise Invalid(f"{where}.case_id is a lowercase UUID")
        if not isinstance(index, int) or isinstance(index, bool) or index < 0:
            raise Invalid(f"{where}.index is an integer, 0 or more")
        if not isinstance(part, str) or part not in parts:
            raise Invalid(f"{where}.part is not a part of this packet's manifest")
        if case_id in seen_ids:
            raise Invalid(f"{where} names a case_id that an earlier entry names")
        if (part, index) in seen_positions:
            raise Invalid(f"{where} names a record that an earlier entry names")
        seen_ids.add(case_id)
        seen_positions.add((part, index))
        names.append(CaseName(case_id=case_id, part=part, index=index))
    return tuple(names)


@dataclass(frozen=True, slots=True)
class CaseIds:
    """The case id of every record of an extraction, in record order."""

    case_ids: tuple[str, ...]
    warnings: tuple[str, ...] = field(default=())


def resolve_case_ids(
    packet_id: str, records: Sequence[Mapping[str, Any]], names: Sequence[CaseName]
) -> CaseIds:
    """Give every record its ``case_id`` (SPEC §10).

    A record named in ``body.cases`` (its part, and its 0-based position
    among the records of that part in reading order, which is the order of
    ``records``) takes the named id; any other record the UUIDv5 of its
    ``record_id`` in the packet's namespace. A name whose index finds no
    record names nothing, and says so in ``warnings`` (by its position in
    ``body.cases``, never by anything a person wrote).
    """
    by_part: dict[str, list[int]] = {}
    for position, record in enumerate(records):
        by_part.setdefault(str(record["source"]["part"]), []).append(position)
    named: dict[int, str] = {}
    warnings: list[str] = []
    for n, name in enumerate(names):
        positions = by_part.get(name.part, [])
        if name.index < len(positions):
            named[positions[name.index]] = name.case_id
        else:
            warnings.append(
                f"body.cases[{n}] names no record: index {name.index}, but its part has"
                f" {len(positions)} record(s); that case_id was not given"
            )
    ids = tuple(
        named.get(i) or derive_case_id(packet_id, str(r["record_id"]))
        for i, r in enumerate(records)
    )
    return CaseIds(case_ids=ids, warnings=tuple(warnings))


# --- verification packets --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VerificationBody:
    """The body of a verification packet (home → holder), as §10 fixes it.

    Only the members an event is checked against are kept; ``fields`` and
    ``note`` travel sealed to the holder and are checked for shape only.
    """

    case_id: str
    record_id: str
    result: str
    reason: str | None


def parse_verification_body(body: Any) -> VerificationBody:
    """Read a verification packet's ``body``.

    Raises:
        Invalid: a member missing, extra or of the wrong kind. Details name
            members, never the note's text.
    """
    required = {"case_id", "record_id", "result", "fields", "reason", "note"}
    if not isinstance(body, dict) or set(body) != required:
        raise Invalid(
            "a verification packet's body has exactly case_id, record_id, result, fields,"
            " reason and note"
        )
    if not _is_uuid(body["case_id"]):
        raise Invalid("the verification body's case_id is a lowercase UUID")
    if not isinstance(body["record_id"], str) or not body["record_id"]:
        raise Invalid("the verification body's record_id is a record id")
    if body["result"] not in RESULT_OF.values():
        raise Invalid(f"the verification body's result is one of {', '.join(RESULT_OF.values())}")
    reason = body["reason"]
    if reason is not None and reason not in REASONS:
        raise Invalid(f"the verification body's reason is null or one of {', '.join(REASONS)}")
    fields = body["fields"]
    if not isinstance(fields, dict) or not all(
        isinstance(k, str) and v in FIELD_VERDICTS for k, v in fields.items()
    ):
        raise Invalid(
            f"the verification body's fields map biography members to {', '.join(FIELD_VERDICTS)}"
        )
    if not isinstance(body["note"], str) or len(body["note"]) > MAX_NOTE_CHARS:
        raise Invalid(
            f"the verification body's note is a text of at most {MAX_NOTE_CHARS} characters"
        )
    return VerificationBody(
        case_id=body["case_id"], record_id=body["record_id"], result=body["result"], reason=reason
    )


@dataclass(frozen=True, slots=True)
class CitedPacket:
    """What the gateway knows of the packet an event cites."""

    packet_id: str
    sender: str
    recipient: str
    kind: str
    in_reply_to: str | None
    body: Any


def check_verification(event: CaseEvent, packet: CitedPacket, dossiers: frozenset[str]) -> None:
    """A VERIFIED, DISPUTED or INFO_REQUESTED cites a verification packet that
    agrees with it (SPEC §10); ``dossiers`` are the packet ids of the dossiers
    of this case. The packet need not be delivered yet.

    Raises:
        Invalid: the packet is not from home to holder, not of kind
            ``verification``, does not reply to a dossier of this case, or its
            body's case_id, record_id, result or reason differ from the event's.
    """
    name = event.event
    if (packet.sender, packet.recipient) != (event.home, event.holder):
        raise Invalid(f"{_article(name)} {name} cites a verification packet from home to holder")
    if packet.kind != "verification":
        raise Invalid(f"the packet {packet.packet_id} an event cites is of kind verification")
    if packet.in_reply_to not in dossiers:
        raise Invalid(
            f"the verification packet {packet.packet_id} replies to no dossier of case"
            f" {event.case_id}"
        )
    body = parse_verification_body(packet.body)
    for member, mine, theirs in (
        ("case_id", event.case_id, body.case_id),
        ("record_id", event.record_id, body.record_id),
        ("result", RESULT_OF[name], body.result),
        ("reason", event.reason, body.reason),
    ):
        if mine != theirs:
            raise Invalid(
                f"the verification packet {packet.packet_id} and the {name} event differ in"
                f" {member}"
            )


def utc_day(moment: datetime) -> date:
    """The UTC calendar date of ``moment`` (``due`` is compared with it)."""
    return moment.astimezone(UTC).date()
