"""The console's dealings with cases at the gateway (SPEC §10), through ``gateway.party.cases``.

Everything here goes through the party's own case code, so the console
signs exactly what ``gateway case ...`` signs: a confirmed decision becomes
the sealed verification packet and then the matching event
(:func:`gateway.party.cases.verify`); the holder's screens report a
dossier's records, schedule returns and log contacts
(:func:`gateway.party.cases.report`, :func:`~gateway.party.cases.issue`).

The case board reads the party's cases (``GET /v1/cases``), verifies every
event of each with its issuer's key (:func:`gateway.party.cases.show`), and
asks the one implementation of the §10 figures
(:class:`gateway.protocol.stats.CaseStats`) what is overdue and how the
counts moved day by day: the board can never disagree with ``/v1/stats``
about a rule.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol

from gateway.party import cases
from gateway.party.client import Client
from gateway.party.console.decisions import FAILED, SENT, Decision
from gateway.protocol import case
from gateway.protocol.case import REUNITED, STATES, CaseEvent
from gateway.protocol.clock import now
from gateway.protocol.crypto import jws
from gateway.protocol.crypto.keys import PublicKey
from gateway.protocol.errors import DXGError, Invalid
from gateway.protocol.stats import CaseStats, Policy

MAX_BOARD_CASES = 2000  # the board verifies each case's events; past this, filter by state
CHART_DAYS = 14  # two weeks of history on the board's charts
PAGE = 100  # /v1/cases page size
PARALLEL_READS = 8  # cases read at once for the board: quick, without flooding the gateway
MAX_LISTED_DOSSIERS = 50  # the holder's report form lists its latest dossiers


class CaseWork(Protocol):
    """What the screens need from the gateway's cases."""

    async def send_decision(
        self, decision: Decision, keep: Callable[[Decision], Decision]
    ) -> Decision:
        """Sign and send a confirmed decision: the verification packet, then the event.

        ``keep`` stores the decision once its packet is accepted (with
        ``verification_packet_id``), so that a retry after a refused event
        cites that packet instead of sending the holder a second one.

        Returns the decision with its new state (``sent``, or ``failed`` with
        the error); never raises for the gateway's refusal.
        """
        ...


@dataclass(frozen=True, slots=True)
class BoardCase:
    """One case on the board, with what is overdue about it."""

    case_id: str
    holder: str
    home: str
    state: str
    aged_out: bool
    updated_at: str
    response_overdue: bool
    return_overdue: bool
    contact_overdue: bool
    due: str | None
    mine_to_act: tuple[str, ...]  # events this party may issue now


@dataclass(frozen=True, slots=True)
class Board:
    """The party's cases, the policy, and the figures over time."""

    cases: tuple[BoardCase, ...]
    policy: Policy
    counts: dict[str, int]
    days: tuple[date, ...]
    reunited_per_day: tuple[int, ...]
    states_per_day: tuple[dict[str, int], ...]
    truncated: bool


# Which side issues which event from which state (SPEC §10 table), for the buttons.
_ACTIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "holder": (("RETURN_SCHEDULED", "VERIFIED"), ("RETURN_SCHEDULED", "FAMILY_FOUND"),
               ("CONTACT", "FAMILY_FOUND"), ("CONTACT", "RETURN_SCHEDULED")),
    "home": (("FAMILY_FOUND", "VERIFIED"), ("REUNITED", "FAMILY_FOUND"),
             ("REUNITED", "RETURN_SCHEDULED"), ("CONTACT", "FAMILY_FOUND"),
             ("CONTACT", "RETURN_SCHEDULED")),
}


def actions_for(side: str, state: str) -> tuple[str, ...]:
    """The events ``side`` may issue on a case in ``state`` (CLOSED aside)."""
    return tuple(event for event, when in _ACTIONS.get(side, ()) if when == state)


class GatewayCases:
    """:class:`CaseWork` over a party's :class:`Client`."""

    def __init__(self, client: Client) -> None:
        self.client = client

    async def send_decision(
        self, decision: Decision, keep: Callable[[Decision], Decision]
    ) -> Decision:
        if decision.case_id is None:
            return dataclasses.replace(
                decision, state=FAILED,
                error="this record has no case id; pull the dossier again from a v1.1 gateway")
        sent: list[Decision] = []  # the decision as kept once its packet was accepted
        try:
            answer = await cases.verify(
                self.client,
                decision.case_id,
                dossier_id=decision.packet_id,
                record_id=decision.record_id,
                result=decision.result,
                reason=decision.reason,
                note=decision.note,
                fields=decision.fields,
                packet_id=decision.verification_packet_id,
                on_sent=lambda packet_id: sent.append(
                    keep(dataclasses.replace(decision, verification_packet_id=packet_id))
                ),
            )
        except DXGError as err:
            latest = sent[-1] if sent else decision
            return dataclasses.replace(latest, state=FAILED, error=err.detail)
        return dataclasses.replace(
            decision, state=SENT, verification_packet_id=answer["packet_id"],
            log_index=answer.get("log_index"), case_state=answer.get("state"), error=None,
        )

    async def report(self, packet_id: str) -> list[dict[str, Any]]:
        """REPORTED for every record of a dossier this party sent."""
        return await cases.report(self.client, packet_id)

    async def event(
        self, case_id: str, event: str, *, due: date | None = None, reason: str | None = None
    ) -> dict[str, Any]:
        """One event on a case (schedule a return, log a contact, family found, …)."""
        return await cases.issue(self.client, case_id, event, due=due, reason=reason)

    async def sent_dossiers(self) -> list[str]:
        """Dossiers with records this party sent, newest first, from its receipts.

        Only a list to choose from: reporting reads the gateway's own view of
        the packet (:func:`gateway.party.cases.report`), which checks it.
        """
        me, seen, after = self.client.identity.party_id, dict[str, None](), 0
        while True:
            page = await self.client.receipts(after, PAGE)
            for item in page["items"]:
                payload = json.loads(jws.parse(item["receipt"], typ=jws.TYP_RECEIPT).payload)
                if payload.get("sender") == me and payload.get("level") == "ACCEPTED":
                    seen[str(payload["packet_id"])] = None
            if not page["items"] or page["next"] == after:
                break
            after = int(page["next"])
        dossiers = []
        for packet_id in list(reversed(seen))[:MAX_LISTED_DOSSIERS]:
            view = await self.client.status(packet_id)
            if view.get("records"):  # a READY dossier with children (not a verification)
                dossiers.append(packet_id)
        return dossiers

    async def board(self, *, state: str | None = None) -> Board:
        """The party's cases (in ``state`` if given), with overdue flags and charts.

        Raises:
            DXGError: the gateway could not be read, or an event did not verify.
        """
        if state is not None and state not in STATES:
            raise Invalid("no such case state")
        info = await self.client.gateway_info()
        policy = Policy.from_json(info.get("policy", Policy().to_json()))
        listed, after, truncated = [], 0, False
        while True:
            query = f"/v1/cases?after={after}&limit={PAGE}" + (f"&state={state}" if state else "")
            page = await self.client.get_json(query)
            listed += page["items"]
            if not page["items"] or page["next"] == after:
                break
            if len(listed) >= MAX_BOARD_CASES:
                truncated = True
                break
            after = int(page["next"])
        at = now()
        events: list[tuple[int, CaseEvent]] = []
        rows = []
        me = self.client.identity.party_id
        shown = await self._show_all([item["case_id"] for item in listed[:MAX_BOARD_CASES]])
        for item, (answer, verified) in zip(listed, shown, strict=False):
            indexed = [(int(e["log_index"]), ev)
                       for e, ev in zip(answer["events"], verified, strict=True)]
            events += indexed
            flags = _flags(indexed, policy, at)
            side = "holder" if answer["holder"] == me else "home"
            due = next((ev.due.isoformat() for _, ev in reversed(indexed) if ev.due), None)
            rows.append(BoardCase(
                case_id=answer["case_id"], holder=answer["holder"], home=answer["home"],
                state=answer["state"], aged_out=bool(answer["aged_out"]),
                updated_at=str(item.get("updated_at", "")), due=due,
                mine_to_act=actions_for(side, answer["state"]), **flags,
            ))
        counts = {s: sum(1 for r in rows if r.state == s) for s in STATES}
        days, reunited, per_state = _history(events, policy, at)
        return Board(tuple(rows), policy, counts, days, reunited, per_state, truncated)


    async def _show_all(
        self, case_ids: Sequence[str]
    ) -> list[tuple[dict[str, Any], list[CaseEvent]]]:
        """Each case as the gateway answers it, every event verified with its issuer's key.

        As :func:`gateway.party.cases.show` (pinned keys valid at each
        event's ``issued_at`` with a trust store), with registry keys looked
        up once per board (not once per event) and :data:`PARALLEL_READS` cases
        read at a time: a revoked key is still seen on the next view.
        """
        keys: dict[tuple[str, str], asyncio.Task[PublicKey]] = {}
        gate = asyncio.Semaphore(PARALLEL_READS)

        async def key_of(issuer: str, kid: str, at: datetime) -> PublicKey:
            if self.client.trust is not None or issuer == self.client.identity.party_id:
                return await self.client.signer_key(issuer, kid, at)  # pinned, or its own
            if (issuer, kid) not in keys:
                keys[issuer, kid] = asyncio.ensure_future(self.client.registered_key(issuer, kid))
            return await keys[issuer, kid]

        async def show(case_id: str) -> tuple[dict[str, Any], list[CaseEvent]]:
            async with gate:
                answer = await cases.get_case(self.client, case_id)
            verified = []
            for item in answer["events"]:
                parsed, issuer = case.claimed_issuer(item["event"])
                key = await key_of(issuer, parsed.kid, cases.signed_issued_at(parsed))
                verified.append(case.verify(parsed, key).event)
            return answer, verified

        try:
            return list(await asyncio.gather(*(show(c) for c in case_ids)))
        finally:
            for task in keys.values():
                task.cancel()


def _stats(events: Sequence[tuple[int, CaseEvent]], policy: Policy) -> CaseStats:
    stats = CaseStats(policy)
    for index, event in sorted(events, key=lambda e: e[0]):
        stats.feed(event, index)
    return stats


def _flags(events: Sequence[tuple[int, CaseEvent]], policy: Policy, at: datetime
           ) -> dict[str, bool]:
    """What is overdue about one case as of ``at``, by the §10 figures of that case alone."""
    figures = _stats(events, policy).figures(as_of=at, log_size=1 << 62)
    (pair,) = figures["pairs"]
    return {
        "response_overdue": pair["response_overdue"] > 0,
        "return_overdue": pair["aged_out"]["return_overdue"] > 0,
        "contact_overdue": pair["contact_overdue"] > 0,
    }


def _history(
    events: Sequence[tuple[int, CaseEvent]], policy: Policy, at: datetime
) -> tuple[tuple[date, ...], tuple[int, ...], tuple[dict[str, int], ...]]:
    """Per day of the last :data:`CHART_DAYS`: reunions that day, and cases by state at its end."""
    today = at.astimezone(UTC).date()
    days = tuple(today - timedelta(days=n) for n in range(CHART_DAYS - 1, -1, -1))
    if not events:
        return days, tuple(0 for _ in days), tuple(dict.fromkeys(STATES, 0) for _ in days)
    stats = _stats(events, policy)
    reunited, per_state = [], []
    for day in days:
        end = min(at, datetime.combine(day, time(23, 59, 59), tzinfo=UTC))
        figures = stats.figures(as_of=end, log_size=1 << 62)
        reunited.append(sum(1 for _, e in events if e.event == REUNITED
                            and e.issued_at.astimezone(UTC).date() == day))
        totals = dict.fromkeys(STATES, 0)
        for pair in figures["pairs"]:
            for name, count in pair["cases"].items():
                totals[name] += count
        per_state.append(totals)
    return days, tuple(reunited), tuple(per_state)
