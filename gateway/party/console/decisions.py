"""Decisions on records, kept in the console's directory until four eyes have seen them.

A reviewer (or a supervisor) *proposes* a decision on a child's record:
verified, disputed (with a reason) or information requested, each field
confirmed / differs / unknown, a note. Nothing is signed then. A *second*
official whose role is ``supervisor`` confirms it; only then does the
console sign and send the verification packet and the case event (SPEC
§10). The proposer can never confirm their own decision, whatever their
role; a supervisor may also send a proposal back (rejected), which ends it.

The state lives in ``DIR/decisions.json`` (written atomically), with the
registry report an official linked to the record (``links``): report ids
are the home side's own data and are never sent.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from gateway.protocol.clock import format_time, now
from gateway.protocol.durable import write_atomically
from gateway.protocol.errors import Conflict, Forbidden, Invalid, NotFound

DECISIONS_FILE = "decisions.json"
RESULTS = ("verified", "disputed", "info_requested")
FIELD_VERDICTS = ("confirmed", "differs", "unknown")
REASONS = (
    "identity_mismatch", "photo_mismatch", "insufficient_information", "duplicate",
    "not_found", "transferred", "other",
)
INTERRUPTED = (
    "the console stopped while sending this decision; check the case on the board"
    " (it may already be verified) before confirming it again"
)
NOTE_MAX_CHARS = 4000  # a note travels sealed to the holder; longer belongs in a document

AWAITING = "awaiting_supervisor"
SENDING = "sending"
SENT = "sent"
FAILED = "failed"
REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class Decision:
    """One proposed answer to a record, and what became of it."""

    decision_id: str
    packet_id: str
    record_id: str
    case_id: str | None
    result: str
    reason: str | None
    fields: dict[str, str]
    note: str
    proposed_by: str
    proposed_at: str
    state: str = AWAITING
    confirmed_by: str | None = None
    confirmed_at: str | None = None
    verification_packet_id: str | None = None
    log_index: int | None = None
    case_state: str | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Link:
    """A registry report an official chose as this record's family report."""

    packet_id: str
    record_id: str
    report_id: str
    linked_by: str
    linked_at: str
    score: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def check_proposal(
    result: str, reason: str | None, fields: Mapping[str, str], note: str
) -> None:
    """Refuse a proposal §10 would refuse, before anyone confirms it.

    Raises:
        Invalid: unknown result, reason or field verdict; a dispute with no
            reason; a reason on a verification; a note too long.
    """
    if result not in RESULTS:
        raise Invalid(f"the result is one of {', '.join(RESULTS)}")
    if reason is not None and reason not in REASONS:
        raise Invalid(f"the reason is one of {', '.join(REASONS)}")
    if result == "disputed" and reason is None:
        raise Invalid("a dispute needs a reason")
    if result == "verified" and reason is not None:
        raise Invalid("a verification has no reason")
    if any(v not in FIELD_VERDICTS for v in fields.values()):
        raise Invalid(f"each field is {', '.join(FIELD_VERDICTS)}")
    if len(note) > NOTE_MAX_CHARS:
        raise Invalid(f"a note has at most {NOTE_MAX_CHARS} characters")


class Decisions:
    """The decisions and links of one console directory."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / DECISIONS_FILE

    def _load(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"decisions": [], "links": []}
        return data

    def _save(self, data: dict[str, Any]) -> None:
        text = json.dumps(data, indent=2, ensure_ascii=False)
        write_atomically(self.path, text.encode("utf-8"))

    def all(self) -> list[Decision]:
        return [Decision(**d) for d in self._load()["decisions"]]

    def get(self, decision_id: str) -> Decision:
        """Raises: NotFound: no such decision."""
        for decision in self.all():
            if decision.decision_id == decision_id:
                return decision
        raise NotFound("no such decision")

    def for_record(self, packet_id: str, record_id: str) -> list[Decision]:
        return [d for d in self.all() if (d.packet_id, d.record_id) == (packet_id, record_id)]

    def propose(
        self,
        *,
        official: str,
        packet_id: str,
        record_id: str,
        case_id: str | None,
        result: str,
        reason: str | None,
        fields: Mapping[str, str],
        note: str,
    ) -> Decision:
        """Record a proposal awaiting a supervisor.

        Raises:
            Invalid: see :func:`check_proposal`.
            Conflict: this record already has a decision awaiting a supervisor.
        """
        check_proposal(result, reason, fields, note)
        if any(d.state in (AWAITING, SENDING) for d in self.for_record(packet_id, record_id)):
            raise Conflict("this record already has a decision awaiting a supervisor")
        decision = Decision(
            decision_id=str(uuid.uuid4()),
            packet_id=packet_id,
            record_id=record_id,
            case_id=case_id,
            result=result,
            reason=reason,
            fields=dict(fields),
            note=note,
            proposed_by=official,
            proposed_at=format_time(now()),
        )
        data = self._load()
        data["decisions"].append(asdict(decision))
        self._save(data)
        return decision

    def confirm(self, decision_id: str, *, official: str, supervisor: bool) -> Decision:
        """A supervisor's confirmation: the decision may now be signed and sent.

        Raises:
            Forbidden: the official is not a supervisor, or proposed it.
            Conflict: the decision is not awaiting a supervisor.
        """
        decision = self.get(decision_id)
        if not supervisor:
            raise Forbidden("only a supervisor confirms a decision")
        if decision.proposed_by == official:
            raise Forbidden("a second official confirms: not the one who proposed it")
        if decision.state not in (AWAITING, FAILED):
            raise Conflict(f"this decision is {decision.state}, not awaiting a supervisor")
        return self.update(
            replace(decision, state=SENDING, confirmed_by=official,
                    confirmed_at=format_time(now()), error=None)
        )

    def reject(self, decision_id: str, *, official: str, supervisor: bool) -> Decision:
        """A supervisor sends a proposal back; nothing is signed.

        Raises:
            Forbidden: the official is not a supervisor.
            Conflict: the decision is not awaiting a supervisor.
        """
        decision = self.get(decision_id)
        if not supervisor:
            raise Forbidden("only a supervisor sends a decision back")
        if decision.state not in (AWAITING, FAILED):
            raise Conflict(f"this decision is {decision.state}, not awaiting a supervisor")
        return self.update(replace(decision, state=REJECTED, confirmed_by=official,
                                   confirmed_at=format_time(now())))

    def update(self, decision: Decision) -> Decision:
        data = self._load()
        data["decisions"] = [
            asdict(decision) if d["decision_id"] == decision.decision_id else d
            for d in data["decisions"]
        ]
        self._save(data)
        return decision

    def recover_interrupted(self) -> int:
        """At start-up: decisions left *sending* by a console that stopped become *failed*.

        Whether their packet or event reached the gateway is unknown, so a
        supervisor checks the case on the board before confirming again.
        Returns how many there were.
        """
        stuck = [d for d in self.all() if d.state == SENDING]
        for decision in stuck:
            self.update(replace(decision, state=FAILED, error=INTERRUPTED))
        return len(stuck)

    def link(self, link: Link) -> Link:
        """Choose a registry report for a record (replacing an earlier choice)."""
        data = self._load()
        data["links"] = [
            x for x in data["links"] if (x["packet_id"], x["record_id"])
            != (link.packet_id, link.record_id)
        ] + [asdict(link)]
        self._save(data)
        return link

    def link_of(self, packet_id: str, record_id: str) -> Link | None:
        for x in self._load()["links"]:
            if (x["packet_id"], x["record_id"]) == (packet_id, record_id):
                return Link(**x)
        return None
