"""A party's side of cases (SPEC §9, §10): report, record, verify, read.

What the ``gateway case ...`` and ``gateway stats`` commands do, over a
:class:`Client`. Events are signed here with the party's own key through
the one signer of the shared protocol (:func:`gateway.protocol.case.sign`);
events read back from the gateway are verified with the issuer's key
before anything in them is shown.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any

from gateway.party.client import Client
from gateway.protocol import case
from gateway.protocol.case import CaseEvent
from gateway.protocol.clock import format_time, now, parse_time
from gateway.protocol.crypto import jws
from gateway.protocol.errors import DXGError, Invalid, NotFound

EVENT_OF_RESULT = {result: event for event, result in case.RESULT_OF.items()}


async def post_event(client: Client, compact: str) -> dict[str, Any]:
    """``POST /v1/cases/events``; the gateway's ``{"log_index","state"}``."""
    _, body = await client.request(
        "POST", "/v1/cases/events", data=compact, headers={"Content-Type": "application/jose"}
    )
    result: dict[str, Any] = json.loads(body)
    return result


async def get_case(client: Client, case_id: str) -> dict[str, Any]:
    """``GET /v1/cases/{case_id}`` as the gateway answers it."""
    result: dict[str, Any] = await client.get_json(f"/v1/cases/{case_id}")
    return result


async def get_stats(client: Client, as_of: datetime | None = None) -> dict[str, Any]:
    """``GET /v1/stats``, as of now or ``as_of``."""
    # An RFC 3339 time is safe in a query as it is; quoting it would make the
    # URL the client sends differ from the one its request token names.
    query = "" if as_of is None else "?as_of=" + format_time(as_of)
    result: dict[str, Any] = await client.get_json("/v1/stats" + query)
    return result


def _sign(client: Client, **members: Any) -> str:
    event = CaseEvent(
        event_id=case.new_event_id(),
        issuer=client.identity.party_id,
        issued_at=now(),
        **members,
    )
    return case.sign(event, client.identity.signing).compact


async def report(client: Client, packet_id: str) -> list[dict[str, Any]]:
    """The holder issues REPORTED for every record of a dossier it sent.

    One item per record, in the dossier's order: ``{"case_id","record_id",
    "log_index","state"}``, or ``{"case_id","record_id","error"}`` for a
    record the gateway refused (a case already reported, say); the others
    are still reported.

    Raises:
        Invalid: the caller did not send this packet, or it is not READY.
    """
    view = await client.status(packet_id)
    me = client.identity.party_id
    if view["sender"] != me:
        raise Invalid(f"only the sender of {packet_id} reports its records")
    if "records" not in view:
        raise Invalid(f"{packet_id} is not READY yet (or is not a dossier); try again shortly")
    out = []
    for record in view["records"]:
        item = {"case_id": record["case_id"], "record_id": record["record_id"]}
        compact = _sign(
            client,
            case_id=record["case_id"],
            event=case.REPORTED,
            holder=me,
            home=view["recipient"],
            aged_out=bool(record["aged_out"]),
            packet_id=packet_id,
            record_id=record["record_id"],
        )
        try:
            item |= await post_event(client, compact)
        except DXGError as err:
            item["error"] = err.detail
        out.append(item)
    return out


async def _sides(
    client: Client, case_id: str, event: str, packet_id: str | None, record_id: str | None
) -> tuple[str, str, bool]:
    """(holder, home, aged_out) of a case; for the first REPORTED, from the dossier."""
    try:
        known = await get_case(client, case_id)
        return known["holder"], known["home"], bool(known["aged_out"])
    except NotFound:
        if event != case.REPORTED or packet_id is None:
            raise
    view = await client.status(packet_id)
    for record in view.get("records", []):
        if record["record_id"] == record_id and record["case_id"] == case_id:
            return view["sender"], view["recipient"], bool(record["aged_out"])
    raise Invalid(f"the dossier {packet_id} holds no record {record_id} of case {case_id}")


async def issue(
    client: Client,
    case_id: str,
    event: str,
    *,
    packet_id: str | None = None,
    record_id: str | None = None,
    due: date | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    """Sign one event on a case and send it; the gateway's ``{"log_index","state"}``.

    The case's sides and aged-out flag are read from the gateway (for a
    first REPORTED, from the cited dossier), so the caller names only what
    the event says.

    Raises:
        Invalid: the event breaks a member rule (before anything is sent).
        DXGError: the gateway refused it.
    """
    if event not in case.EVENTS:
        raise Invalid(f"unknown case event; the events are {', '.join(case.EVENTS)}")
    holder, home, aged_out = await _sides(client, case_id, event, packet_id, record_id)
    compact = _sign(
        client,
        case_id=case_id,
        event=event,
        holder=holder,
        home=home,
        aged_out=aged_out,
        packet_id=packet_id,
        record_id=record_id,
        due=due,
        reason=reason,
    )
    return await post_event(client, compact)


async def verify(
    client: Client,
    case_id: str,
    *,
    dossier_id: str,
    record_id: str,
    result: str,
    reason: str | None = None,
    note: str = "",
    fields: Mapping[str, str] | None = None,
    packet_id: str | None = None,
    on_sent: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """The home side's answer to a report: the sealed verification packet to
    the holder, then the matching event citing it.

    The two are separate requests, so the event can be refused after the
    packet was accepted (the case moved on, the gateway restarted). A retry
    passes the accepted packet's id as ``packet_id``: the event cites it and
    no second verification packet reaches the holder.

    Args:
        packet_id: a verification packet already accepted for this answer.
        on_sent: called with the packet's id as soon as the gateway accepted
            it, before the event is sent, so that the caller can keep it.

    Returns:
        ``{"packet_id", "log_index", "state"}``: the verification packet and
        the event's place in the log.

    Raises:
        Invalid: an unknown result, or the caller is not the case's home side.
        DXGError: the gateway refused the packet or the event.
    """
    if result not in EVENT_OF_RESULT:
        raise Invalid(f"result is one of {', '.join(EVENT_OF_RESULT)}")
    known = await get_case(client, case_id)
    if known["home"] != client.identity.party_id:
        raise Invalid(f"only the home side of case {case_id} verifies it")
    body = {
        "case_id": case_id,
        "record_id": record_id,
        "result": result,
        "fields": dict(fields or {}),
        "reason": reason,
        "note": note,
    }
    case.parse_verification_body(body)  # refuse here what the gateway would refuse later
    if packet_id is None:
        sent = await client.send(
            [],
            recipient=known["holder"],
            kind="verification",
            purpose="verification",
            in_reply_to=dossier_id,
            body=body,
        )
        packet_id = str(sent["packet_id"])
        if on_sent is not None:
            on_sent(packet_id)
    answer = await issue(
        client,
        case_id,
        EVENT_OF_RESULT[result],
        packet_id=packet_id,
        record_id=record_id,
        reason=reason,
    )
    return {"packet_id": packet_id, **answer}


async def show(client: Client, case_id: str) -> tuple[dict[str, Any], list[CaseEvent]]:
    """A case as the gateway answers it, and its events verified one by one
    with their issuers' keys: pinned ones valid at each event's ``issued_at``
    when the client has a trust store, else the registry's, valid now.

    Raises:
        Unauthenticated, Invalid, VerificationFailed: an event does not
            verify (the gateway served something its issuer did not sign,
            or with a key not pinned or not valid when the event was issued).
    """
    answer = await get_case(client, case_id)
    events = []
    for item in answer["events"]:
        parsed, issuer = case.claimed_issuer(item["event"])
        key = await client.signer_key(issuer, parsed.kid, signed_issued_at(parsed))
        events.append(case.verify(parsed, key).event)
    return answer, events


def signed_issued_at(parsed: jws.ParsedJWS) -> datetime:
    """A case event's ``issued_at``, read before verification: the time its
    issuer's key is judged at (covered by the signature about to be checked).

    Raises:
        Invalid: the payload names no readable ``issued_at``.
    """
    try:
        return parse_time(str(json.loads(parsed.payload)["issued_at"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise Invalid("the case event has no readable issued_at") from exc


def render_case(answer: Mapping[str, Any], events: list[CaseEvent]) -> str:
    """``gateway case show`` without ``--json``: one line per event."""
    lines = [
        f"case {answer['case_id']}  {answer['holder']} -> {answer['home']}"
        f"  state {answer['state']}{'  (aged out)' if answer['aged_out'] else ''}",
    ]
    for item, event in zip(answer["events"], events, strict=True):
        extra = []
        if event.due is not None:
            extra.append(f"due {event.due.isoformat()}")
        if event.reason is not None:
            extra.append(f"reason {event.reason}")
        if event.packet_id is not None:
            extra.append(f"packet {event.packet_id}")
        lines.append(
            f"  #{item['log_index']:<6} {format_time(event.issued_at)}  {event.event:<16}"
            f" by {event.issuer}  {'  '.join(extra)}".rstrip()
        )
    return "\n".join(lines)


def render_stats(doc: Mapping[str, Any]) -> str:
    """``gateway stats`` without ``--json``: one block per pair."""
    lines = [f"as of {doc['as_of']}, log size {doc['log_size']}"]
    if not doc["pairs"]:
        lines.append("no cases")
    for pair in doc["pairs"]:
        counts = "  ".join(f"{s} {n}" for s, n in pair["cases"].items())
        aged = pair["aged_out"]
        med = pair["median_days"]

        def days(value: float | None) -> str:
            return "-" if value is None else f"{value:g} d"

        lines += [
            f"{pair['holder']} -> {pair['home']}",
            f"  cases: {counts}",
            f"  reunited: {pair['reunited_last_24h']} in the last 24 h,"
            f" {pair['reunited_last_7d']} in the last 7 d",
            f"  aged out: {aged['open']} open, {aged['reunited']} reunited,"
            f" {aged['return_overdue']} return overdue",
            f"  overdue: {pair['response_overdue']} response, {pair['contact_overdue']} contact",
            f"  median: report to verification {days(med['reported_to_verified'])},"
            f" verification to reunion {days(med['verified_to_reunited'])}",
        ]
    return "\n".join(lines)
