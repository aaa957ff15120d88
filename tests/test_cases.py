"""SPEC §10 against a real gateway: case ids, events, the order of checks, views, stats.

One gateway process for the module with a holder (``ua``), a home side
(``ru``), a third party (``by``) and a monitor (``mon``). Dossiers are
born-digital forms (tests/dossiers.py) so their records come from real
extraction; every test makes its own dossier, so its cases are its own.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway.party import cases as party_cases
from gateway.party.client import Client
from gateway.party.pull import Puller
from gateway.party.trust import TrustStore
from gateway.protocol import case
from gateway.protocol.case import CaseEvent
from gateway.protocol.clock import format_time, now
from gateway.protocol.crypto import jws
from gateway.protocol.crypto.keys import SigningKey
from gateway.protocol.errors import VerificationFailed
from gateway.protocol.manifest import PartSpec, build_manifest, sign_envelope
from gateway.protocol.receipt import sign_receipt
from gateway.protocol.trust import RegisteredKey
from gateway.server import cases as server_cases
from tests.dossiers import make_dossier
from tests.harness import (
    Answer,
    GatewayProcess,
    Party,
    assert_problem,
    get,
    http,
    make_packet,
    post_packet,
    post_raw,
    post_receipt,
    start_gateway,
    wait_for,
)


@dataclass
class World:
    gw: GatewayProcess
    ua: Party  # holder
    ru: Party  # home
    by: Party  # a third party
    mon: Party


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    gw = start_gateway(tmp_path_factory.mktemp("cases"), {"extraction_timeout_s": 120})
    ua, ru, by = gw.add_party("ua"), gw.add_party("ru"), gw.add_party("by")
    mon = gw.add_party("mon", role="monitor")
    gw.start()
    try:
        yield World(gw, ua, ru, by, mon)
    finally:
        gw.stop()


# --- factories ---------------------------------------------------------------------


SEEDS = iter(range(5000, 6000))


@dataclass(frozen=True)
class Record:
    packet_id: str
    record_id: str
    case_id: str
    aged_out: bool


def send_dossier(
    w: World, holder: Party, home: Party, *, children: int = 1, body: Any = None
) -> list[Record]:
    """A born-digital dossier from holder to home, READY; its records' ids."""
    dossier = make_dossier(next(SEEDS), lang="uk", layout="left", children=children)
    packet = make_packet(
        holder, home.id, [(dossier.filename, dossier.media_type, dossier.data)], body=body
    )
    answer = post_packet(w.gw, holder, packet)
    assert answer.status == 202, answer.body

    def records() -> list[dict[str, Any]] | None:
        view: dict[str, Any] = get(w.gw, holder, f"/v1/packets/{packet.packet_id}").json()
        return view.get("records")

    found = wait_for(records, timeout=120)
    assert len(found) == children
    return [Record(packet.packet_id, r["record_id"], r["case_id"], r["aged_out"]) for r in found]


def sign_event(party: Party, name: str, record: Record, **over: Any) -> str:
    """A valid event of ``name`` on ``record``'s case between ua and ru, by ``party``."""
    members: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "case_id": record.case_id,
        "event": name,
        "issuer": party.id,
        "holder": "ua",
        "home": "ru",
        "issued_at": datetime.now(UTC).replace(microsecond=0),
        "aged_out": record.aged_out,
    }
    if name == case.REPORTED:
        members |= {"packet_id": record.packet_id, "record_id": record.record_id}
    if name == case.RETURN_SCHEDULED:
        members["due"] = (datetime.now(UTC) + timedelta(days=10)).date()
    if name == case.CLOSED:
        members["reason"] = "transferred"
    members |= over
    return case.sign(CaseEvent(**members), party.identity.signing).compact


def sign_claims(party: Party, claims: dict[str, Any], key: SigningKey | None = None) -> str:
    """Any payload, signed as a case event: for members the value type refuses."""
    return jws.sign_json(claims, key or party.identity.signing, typ=jws.TYP_CASE)


def post_event(w: World, party: Party, compact: str) -> Answer:
    return post_raw(w.gw, party, "/v1/cases/events", compact.encode("ascii"), "application/jose")


def accepted(w: World, party: Party, compact: str, state: str) -> dict[str, Any]:
    answer = post_event(w, party, compact)
    assert answer.status == 201, answer.body
    body: dict[str, Any] = answer.json()
    assert body["state"] == state
    assert isinstance(body["log_index"], int)
    return body


def verification(
    w: World, record: Record, result: str, *, reason: str | None = None, **over: Any
) -> str:
    """The home side's verification packet for ``record`` (accepted, not delivered)."""
    body = {
        "case_id": record.case_id,
        "record_id": record.record_id,
        "result": result,
        "fields": {"family_name": "confirmed", "birth_date": "unknown"},
        "reason": reason,
        "note": "",
    } | over.pop("body", {})
    sender = over.pop("sender", w.ru)
    packet = make_packet(
        sender,
        over.pop("recipient", "ua"),
        [],
        kind=over.pop("kind", "verification"),
        purpose="verification",
        in_reply_to=over.pop("in_reply_to", record.packet_id),
        body=body,
    )
    answer = post_packet(w.gw, sender, packet)
    assert answer.status == 202, answer.body
    return packet.packet_id


def answer_report(w: World, record: Record, name: str, reason: str | None = None) -> None:
    """The home side verifies, disputes or asks, with its verification packet."""
    packet_id = verification(w, record, case.RESULT_OF[name], reason=reason)
    compact = sign_event(
        w.ru, name, record, packet_id=packet_id, record_id=record.record_id, reason=reason
    )
    accepted(w, w.ru, compact, name)


def drive(w: World, record: Record, state: str) -> None:
    """Bring ``record``'s case into ``state`` by legal events."""
    accepted(w, w.ua, sign_event(w.ua, case.REPORTED, record), case.REPORTED)
    if state == case.REPORTED:
        return
    if state in (case.DISPUTED, case.INFO_REQUESTED):
        reason = "photo_mismatch" if state == case.DISPUTED else None
        answer_report(w, record, state, reason)
        return
    if state == case.CLOSED:
        accepted(w, w.ua, sign_event(w.ua, case.CLOSED, record), case.CLOSED)
        return
    answer_report(w, record, case.VERIFIED)
    if state == case.VERIFIED:
        return
    accepted(w, w.ru, sign_event(w.ru, case.FAMILY_FOUND, record), case.FAMILY_FOUND)
    if state == case.FAMILY_FOUND:
        return
    final = case.RETURN_SCHEDULED if state == case.RETURN_SCHEDULED else case.REUNITED
    party = w.ua if final == case.RETURN_SCHEDULED else w.ru
    accepted(w, party, sign_event(party, final, record), final)


# --- case ids on records ----------------------------------------------------------------


def test_records_carry_named_or_derived_case_ids_and_a_warning_for_a_bad_index(
    world: World, tmp_path: Path
) -> None:
    dossier = make_dossier(next(SEEDS), lang="uk", layout="left", children=2)
    named = str(uuid.uuid4())
    body = {
        "cases": [
            {"case_id": named, "part": dossier.filename, "index": 1},
            {"case_id": str(uuid.uuid4()), "part": dossier.filename, "index": 5},
        ]
    }
    packet = make_packet(
        world.ua, "ru", [(dossier.filename, dossier.media_type, dossier.data)], body=body
    )
    assert post_packet(world.gw, world.ua, packet).status == 202
    view = wait_for(
        lambda: (
            (v := get(world.gw, world.ru, f"/v1/packets/{packet.packet_id}").json()).get("records")
            and v
        ),
        timeout=120,
    )
    first, second = view["records"]
    assert second["case_id"] == named
    assert first["case_id"] == str(uuid.uuid5(uuid.UUID(packet.packet_id), first["record_id"]))
    assert set(first) == {"record_id", "case_id", "aged_out"}
    # The signed extraction document says the same, and warns of index 5; pull
    # writes the case id beside each record.
    folder = pulled(world, packet.packet_id, tmp_path)
    extraction = json.loads((folder / "extraction.json").read_text())
    assert [r["case_id"] for r in extraction["records"]] == [first["case_id"], named]
    assert any("body.cases[1] names no record" in w for w in extraction["warnings"])
    records = json.loads((folder / "records.json").read_text())
    assert [(r["record_id"], r["case_id"]) for r in records] == [
        (first["record_id"], first["case_id"]),
        (second["record_id"], named),
    ]


def pulled(w: World, packet_id: str, out: Path) -> Path:
    """The home side pulls the dossier as ``gateway pull`` does; its folder."""

    async def run() -> Path:
        async with w.gw.client(w.ru) as client:
            result = await Puller(client).pull_one(packet_id, out)
        assert result.level == "DELIVERED", result.reason
        assert result.folder is not None
        return result.folder

    return asyncio.run(run())


def test_a_body_cases_part_not_in_the_manifest_is_422_at_intake(world: World) -> None:
    dossier = make_dossier(next(SEEDS), lang="uk", layout="left")
    body = {"cases": [{"case_id": str(uuid.uuid4()), "part": "other.pdf", "index": 0}]}
    packet = make_packet(
        world.ua, "ru", [(dossier.filename, dossier.media_type, dossier.data)], body=body
    )
    problem = assert_problem(post_packet(world.gw, world.ua, packet), 422, "invalid")
    assert "body.cases[0].part" in problem["detail"]


def test_a_packet_view_has_no_records_before_ready_nor_for_other_kinds(world: World) -> None:
    packet = make_packet(world.ua, "ru", [("note.txt", "text/plain", b"hello")], kind="message",
                         purpose="status_update")  # fmt: skip
    assert post_packet(world.gw, world.ua, packet).status == 202
    wait_for(lambda: get(world.gw, world.ua, f"/v1/packets/{packet.packet_id}").json()["status"]
             == "READY")  # fmt: skip
    assert "records" not in get(world.gw, world.ua, f"/v1/packets/{packet.packet_id}").json()


# --- every row of the table ---------------------------------------------------------------

# event -> (a state it is accepted from, the issuer's side, a state it is refused in)
ROWS = {
    case.REPORTED: (case.DISPUTED, "holder", case.VERIFIED),
    case.VERIFIED: (case.REPORTED, "home", case.DISPUTED),
    case.DISPUTED: (case.REPORTED, "home", case.VERIFIED),
    case.INFO_REQUESTED: (case.REPORTED, "home", case.FAMILY_FOUND),
    case.FAMILY_FOUND: (case.VERIFIED, "home", case.REPORTED),
    case.CONTACT: (case.RETURN_SCHEDULED, "either", case.VERIFIED),
    case.RETURN_SCHEDULED: (case.VERIFIED, "holder", case.REPORTED),
    case.REUNITED: (case.FAMILY_FOUND, "home", case.VERIFIED),
    case.CLOSED: (case.INFO_REQUESTED, "either", case.REUNITED),
}


def event_for(w: World, party: Party, name: str, record: Record, **over: Any) -> str:
    if name in case.RESULT_OF:
        result = case.RESULT_OF[name]
        reason = "identity_mismatch" if name == case.DISPUTED else None
        packet_id = verification(w, record, result, reason=reason)
        over = {"packet_id": packet_id, "record_id": record.record_id, "reason": reason} | over
    return sign_event(party, name, record, **over)


@pytest.mark.parametrize("name", list(ROWS))
def test_every_row_accepted_from_its_state_by_its_side(world: World, name: str) -> None:
    state, side, _ = ROWS[name]
    records = send_dossier(world, world.ua, world.ru, children=2)
    for record, party in zip(records, (world.ua, world.ru), strict=True):
        if (side == "holder" and party is world.ru) or (side == "home" and party is world.ua):
            continue
        drive(world, record, state)
        expected = state if name == case.CONTACT else name
        accepted(world, party, event_for(world, party, name, record), expected)
        shown = get(world.gw, world.ru, f"/v1/cases/{record.case_id}").json()
        assert shown["state"] == expected


@pytest.mark.parametrize("name", list(ROWS))
def test_every_row_refused_in_another_state_naming_it(world: World, name: str) -> None:
    _, side, refused = ROWS[name]
    (record,) = send_dossier(world, world.ua, world.ru)
    drive(world, record, refused)
    party = world.ru if side == "home" else world.ua
    problem = assert_problem(
        post_event(world, party, event_for(world, party, name, record)), 409, "conflict"
    )
    assert f"is {refused};" in problem["detail"]


@pytest.mark.parametrize("name", list(ROWS))
def test_every_row_refuses_the_wrong_side(world: World, name: str) -> None:
    state, side, _ = ROWS[name]
    (record,) = send_dossier(world, world.ua, world.ru)
    if name != case.REPORTED:
        drive(world, record, state)
    if side == "either":
        # Neither side: a third party signing for a case between ua and ru.
        compact = sign_event(world.by, name, record)
        assert_problem(post_event(world, world.by, compact), 403, "forbidden")
        return
    wrong = world.ua if side == "home" else world.ru
    compact = event_for(world, wrong, name, record) if name not in case.RESULT_OF else (
        sign_event(wrong, name, record, packet_id=record.packet_id,
                   record_id=record.record_id,
                   reason="other" if name == case.DISPUTED else None)
    )  # fmt: skip
    problem = assert_problem(post_event(world, wrong, compact), 403, "forbidden")
    assert f"issued by the {side} side" in problem["detail"]


def test_a_whole_case_from_report_to_reunion(world: World) -> None:
    (record,) = send_dossier(world, world.ua, world.ru)
    drive(world, record, case.FAMILY_FOUND)
    accepted(world, world.ua, sign_event(world.ua, case.CONTACT, record), case.FAMILY_FOUND)
    accepted(world, world.ru, sign_event(world.ru, case.CONTACT, record), case.FAMILY_FOUND)
    accepted(world, world.ua, sign_event(world.ua, case.RETURN_SCHEDULED, record),
             case.RETURN_SCHEDULED)  # fmt: skip
    last = accepted(world, world.ru, sign_event(world.ru, case.REUNITED, record), case.REUNITED)
    shown = get(world.gw, world.mon, f"/v1/cases/{record.case_id}").json()
    assert (shown["holder"], shown["home"], shown["state"]) == ("ua", "ru", "REUNITED")
    assert shown["aged_out"] is record.aged_out
    names = [json.loads(jws.parse(e["event"], typ=jws.TYP_CASE).payload)["event"]
             for e in shown["events"]]  # fmt: skip
    assert names == ["REPORTED", "VERIFIED", "FAMILY_FOUND", "CONTACT", "CONTACT",
                     "RETURN_SCHEDULED", "REUNITED"]  # fmt: skip
    assert shown["events"][-1]["log_index"] == last["log_index"]
    # The log holds the event's exact bytes at its index.
    index = last["log_index"]
    entries = wait_for(
        lambda: (
            get(world.gw, world.mon, f"/v1/log/entries?start={index}&end={index + 1}")
            .json()
            .get("entries")
        ),
        timeout=30,
    )
    assert entries == [shown["events"][-1]["event"]]
    problem = assert_problem(
        post_event(world, world.ua, sign_event(world.ua, case.CLOSED, record)), 409, "conflict"
    )
    assert "is REUNITED;" in problem["detail"]


# --- the order of checks -----------------------------------------------------------------


def test_an_identical_retry_answers_200_with_the_first_body_even_later(world: World) -> None:
    (record,) = send_dossier(world, world.ua, world.ru)
    compact = sign_event(world.ua, case.REPORTED, record)
    first = accepted(world, world.ua, compact, case.REPORTED)
    answer_report(world, record, case.VERIFIED)  # the case has moved on since
    again = post_event(world, world.ua, compact)
    assert again.status == 200
    assert again.json() == first


def test_another_event_with_a_used_event_id_is_409(world: World) -> None:
    (record,) = send_dossier(world, world.ua, world.ru)
    compact = sign_event(world.ua, case.REPORTED, record)
    accepted(world, world.ua, compact, case.REPORTED)
    event_id = json.loads(jws.parse(compact, typ=jws.TYP_CASE).payload)["event_id"]
    other = sign_event(world.ua, case.CLOSED, record, event_id=event_id)
    problem = assert_problem(post_event(world, world.ua, other), 409, "conflict")
    assert "event_id" in problem["detail"]


def test_an_extra_member_such_as_a_name_is_422_and_not_echoed(world: World) -> None:
    (record,) = send_dossier(world, world.ua, world.ru)
    claims = json.loads(jws.parse(sign_event(world.ua, case.REPORTED, record),
                                  typ=jws.TYP_CASE).payload)  # fmt: skip
    claims["family_name"] = "Шевченко"
    problem = assert_problem(post_event(world, world.ua, sign_claims(world.ua, claims)), 422,
                             "invalid")  # fmt: skip
    assert "Шевченко" not in problem["detail"]
    assert "additionalProperties" in problem["detail"]


@pytest.mark.parametrize("seconds", [-400, 400])
def test_a_stale_or_future_issued_at_is_422(world: World, seconds: int) -> None:
    (record,) = send_dossier(world, world.ua, world.ru)
    at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=seconds)
    compact = sign_event(world.ua, case.REPORTED, record, issued_at=at)
    problem = assert_problem(post_event(world, world.ua, compact), 422, "invalid")
    assert "300 s" in problem["detail"]


def test_missing_reason_or_due_is_422(world: World) -> None:
    (record,) = send_dossier(world, world.ua, world.ru)
    drive(world, record, case.VERIFIED)
    claims = json.loads(jws.parse(sign_event(world.ua, case.RETURN_SCHEDULED, record),
                                  typ=jws.TYP_CASE).payload)  # fmt: skip
    claims["due"] = None
    problem = assert_problem(post_event(world, world.ua, sign_claims(world.ua, claims)), 422,
                             "invalid")  # fmt: skip
    assert "gives its due" in problem["detail"]
    claims = json.loads(jws.parse(sign_event(world.ua, case.CLOSED, record),
                                  typ=jws.TYP_CASE).payload)  # fmt: skip
    claims["reason"] = None
    problem = assert_problem(post_event(world, world.ua, sign_claims(world.ua, claims)), 422,
                             "invalid")  # fmt: skip
    assert "gives its reason" in problem["detail"]


def test_a_dossier_of_another_pair_is_422(world: World) -> None:
    (mine,) = send_dossier(world, world.ua, world.ru)
    (theirs,) = send_dossier(world, world.ua, world.by)
    compact = sign_event(world.ua, case.REPORTED, mine, packet_id=theirs.packet_id,
                         record_id=theirs.record_id)  # fmt: skip
    problem = assert_problem(post_event(world, world.ua, compact), 422, "invalid")
    assert "is not from holder ua to home ru" in problem["detail"]


def test_a_record_not_in_that_extraction_is_422(world: World) -> None:
    (record,) = send_dossier(world, world.ua, world.ru)
    compact = sign_event(world.ua, case.REPORTED, record, record_id="not-a-record")
    problem = assert_problem(post_event(world, world.ua, compact), 422, "invalid")
    assert "holds no record" in problem["detail"]
    other = sign_event(world.ua, case.REPORTED, record, case_id=str(uuid.uuid4()))
    assert_problem(post_event(world, world.ua, other), 422, "invalid")


def test_aged_out_differing_from_the_record_or_the_first_report_is_422(world: World) -> None:
    (record,) = send_dossier(world, world.ua, world.ru)
    wrong = not record.aged_out
    problem = assert_problem(
        post_event(world, world.ua, sign_event(world.ua, case.REPORTED, record, aged_out=wrong)),
        422,
        "invalid",
    )
    assert "aged_out" in problem["detail"]
    drive(world, record, case.REPORTED)
    closing = sign_event(world.ru, case.CLOSED, record, aged_out=wrong)
    problem = assert_problem(post_event(world, world.ru, closing), 422, "invalid")
    assert "first" in problem["detail"]


def test_a_reported_naming_other_sides_is_422(world: World) -> None:
    (record,) = send_dossier(world, world.ua, world.ru)
    drive(world, record, case.DISPUTED)
    compact = sign_event(world.ua, case.REPORTED, record, home="by")
    assert_problem(post_event(world, world.ua, compact), 422, "invalid")


def test_an_event_on_an_unknown_case_is_404(world: World) -> None:
    (record,) = send_dossier(world, world.ua, world.ru)
    compact = sign_event(world.ru, case.FAMILY_FOUND, record)
    assert_problem(post_event(world, world.ru, compact), 404, "not-found")


def test_a_verification_packet_that_disagrees_is_422(world: World) -> None:
    (record,) = send_dossier(world, world.ua, world.ru)
    drive(world, record, case.REPORTED)
    for over, words in (
        ({}, "differ in result"),  # a "verified" packet cited by a DISPUTED event
        ({"body": {"record_id": "other-record"}}, "differ in record_id"),
        ({"kind": "message"}, "of kind verification"),
        ({"in_reply_to": None}, "replies to no dossier"),
    ):
        packet_id = verification(world, record, "verified", **over)
        compact = sign_event(world.ru, case.DISPUTED, record, packet_id=packet_id,
                             record_id=record.record_id, reason="other")  # fmt: skip
        problem = assert_problem(post_event(world, world.ru, compact), 422, "invalid")
        assert words in problem["detail"], problem
    # a verification packet from the holder's side is not the home side's answer
    packet_id = verification(world, record, "verified", sender=world.ua, recipient="ru")
    compact = sign_event(world.ru, case.VERIFIED, record, packet_id=packet_id,
                         record_id=record.record_id)  # fmt: skip
    problem = assert_problem(post_event(world, world.ru, compact), 422, "invalid")
    assert "from home to holder" in problem["detail"]


def test_a_case_event_posted_as_a_receipt_is_refused(world: World) -> None:
    (record,) = send_dossier(world, world.ua, world.ru)
    problem = assert_problem(
        post_receipt(world.gw, world.ua, sign_event(world.ua, case.REPORTED, record)),
        401,
        "unauthenticated",
    )
    assert "dxg-receipt+jws" in problem["detail"]


def test_a_receipt_posted_as_a_case_event_is_refused(world: World) -> None:
    receipt = sign_receipt(
        world.ru.identity.signing, level="DELIVERED", packet_id=str(uuid.uuid4()), issuer="ru",
        sender="ua", recipient="ru", envelope_sha256="0" * 64, parts=[],
        extraction_sha256="1" * 64, reason=None,
    )  # fmt: skip
    problem = assert_problem(post_event(world, world.ru, receipt), 401, "unauthenticated")
    assert "dxg-case+jws" in problem["detail"]


def test_an_event_by_another_than_the_caller_or_badly_signed_is_refused(world: World) -> None:
    (record,) = send_dossier(world, world.ua, world.ru)
    compact = sign_event(world.ua, case.REPORTED, record)
    assert_problem(post_event(world, world.ru, compact), 403, "forbidden")
    claims = json.loads(jws.parse(compact, typ=jws.TYP_CASE).payload)
    forged = sign_claims(world.ua, claims, key=SigningKey.generate())
    assert_problem(post_event(world, world.ua, forged), 401, "unauthenticated")
    head, body, sig = compact.split(".")
    tampered = f"{head}.{body[:-4]}AAAA.{sig}"
    assert_problem(post_event(world, world.ua, tampered), 401, "unauthenticated")


def test_a_monitor_issues_no_events(world: World) -> None:
    (record,) = send_dossier(world, world.ua, world.ru)
    compact = sign_event(world.mon, case.REPORTED, record)
    assert_problem(post_event(world, world.mon, compact), 403, "forbidden")


def test_the_event_is_durable_before_the_201(world: World) -> None:
    (record,) = send_dossier(world, world.ua, world.ru)
    body = accepted(world, world.ua, sign_event(world.ua, case.REPORTED, record), "REPORTED")
    world.gw.kill()
    world.gw.start()
    shown = get(world.gw, world.ru, f"/v1/cases/{record.case_id}").json()
    assert [e["log_index"] for e in shown["events"]] == [body["log_index"]]
    assert shown["state"] == "REPORTED"


# --- views -------------------------------------------------------------------------------------


def test_a_case_is_seen_by_its_sides_and_monitors_only(world: World) -> None:
    (record,) = send_dossier(world, world.ua, world.ru)
    drive(world, record, case.REPORTED)
    for party in (world.ua, world.ru, world.mon):
        assert get(world.gw, party, f"/v1/cases/{record.case_id}").status == 200
    assert_problem(get(world.gw, world.by, f"/v1/cases/{record.case_id}"), 404, "not-found")


def test_cases_are_listed_per_party_with_a_state_filter_and_paging(world: World) -> None:
    records = send_dossier(world, world.ua, world.ru, children=3)
    drive(world, records[0], case.REPORTED)
    drive(world, records[1], case.CLOSED)
    drive(world, records[2], case.REPORTED)
    mine = {r.case_id for r in records}

    def walk(party: Party, query: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        after = 0
        while True:
            page = get(world.gw, party, f"/v1/cases?{query}after={after}&limit=2").json()
            if not page["items"]:
                return items
            items += page["items"]
            after = page["next"]

    listed = [i for i in walk(world.ru, "") if i["case_id"] in mine]
    assert {i["case_id"] for i in listed} == mine
    assert set(listed[0]) == {"case_id", "holder", "home", "state", "aged_out", "updated_at"}
    closed = [i["case_id"] for i in walk(world.ua, "state=CLOSED&")]
    assert records[1].case_id in closed and records[0].case_id not in closed
    assert not [i for i in walk(world.by, "") if i["case_id"] in mine]
    assert {i["case_id"] for i in walk(world.mon, "")} >= mine
    assert_problem(get(world.gw, world.ua, "/v1/cases?state=LOST"), 400, "bad-request")


def test_the_gateway_shows_its_policy(world: World) -> None:
    info = http("GET", world.gw.url + "/v1/gateway").json()
    assert info["policy"] == {
        "response_days": 7,
        "aged_out_return_days": 30,
        "contact_interval_days": 14,
    }


def test_stats_count_from_the_signed_log_per_pair(world: World) -> None:
    (record,) = send_dossier(world, world.ua, world.by)
    compact = sign_event(world.ua, case.REPORTED, record, home="by")
    body = accepted(world, world.ua, compact, case.REPORTED)

    def stats(party: Party, query: str = "") -> dict[str, Any]:
        answer = get(world.gw, party, f"/v1/stats{query}")
        assert answer.status == 200, answer.body
        doc: dict[str, Any] = answer.json()
        return doc

    doc = wait_for(lambda: (d := stats(world.by))["log_size"] > body["log_index"] and d)
    (pair,) = doc["pairs"]  # "by" is in this pair only
    assert (pair["holder"], pair["home"]) == ("ua", "by")
    assert pair["cases"] == {s: int(s == "REPORTED") for s in case.STATES}
    assert pair["response_overdue"] == 0
    ahead = format_time(datetime.now(UTC) + timedelta(days=8))
    (later,) = stats(world.by, f"?as_of={ahead}")["pairs"]
    assert later["response_overdue"] == 1
    assert stats(world.by, f"?as_of={ahead}")["as_of"] == ahead
    monitor_pairs = {(p["holder"], p["home"]) for p in stats(world.mon)["pairs"]}
    assert {("ua", "by"), ("ua", "ru")} <= monitor_pairs
    checkpoint = get(world.gw, world.mon, "/v1/log/checkpoint").body.decode().split("\n")
    assert int(checkpoint[1]) >= doc["log_size"]
    assert_problem(get(world.gw, world.by, "/v1/stats?as_of=yesterday"), 400, "bad-request")


def test_regression_a_stored_dossier_with_bad_body_cases_gets_derived_ids() -> None:
    """A dossier accepted before intake checked body.cases must not fail extraction forever."""
    body = {"cases": [{"case_id": str(uuid.uuid4()), "part": "gone.pdf", "index": 0}]}
    manifest = build_manifest(sender="ua", recipient="ru", parts=[], body=body)
    envelope = sign_envelope(manifest, SigningKey.generate())
    assert server_cases.case_names(envelope) == ()
    good = {"cases": [{"case_id": str(uuid.uuid4()), "part": "a.pdf", "index": 0}]}
    manifest = build_manifest(
        sender="ua", recipient="ru", parts=[PartSpec("a.pdf", "application/pdf", 1, "0" * 64)],
        body=good,
    )  # fmt: skip
    (name,) = server_cases.case_names(sign_envelope(manifest, SigningKey.generate()))
    assert (name.part, name.index) == ("a.pdf", 0)


# --- case show with the trust store ---------------------------------------------------------


def test_case_show_judges_each_event_by_the_key_pinned_and_valid_when_it_was_issued(
    world: World,
) -> None:
    """Regression (merge of trust and cases): case show verified with keys valid now."""
    (record,) = send_dossier(world, world.ua, world.ru)
    drive(world, record, case.REPORTED)
    pinned = TrustStore.load(world.gw.trust_file(world.ru))

    def show(trust: TrustStore) -> list[CaseEvent]:
        async def run() -> list[CaseEvent]:
            async with Client(world.gw.url, world.ru.identity, trust=trust) as client:
                return (await party_cases.show(client, record.case_id))[1]

        return asyncio.run(run())

    (event,) = show(pinned)
    assert (event.event, event.issuer) == (case.REPORTED, "ua")
    ua_key = world.ua.identity.signing.public
    # Revoked a microsecond after the event was issued: revoked now, valid then.
    revoked_at = event.issued_at + timedelta(microseconds=1)
    wait_for(lambda: now() >= revoked_at)  # the clock (whole seconds) has passed it
    later = pinned.with_party_keys("ua", [RegisteredKey(ua_key, revoked_at=revoked_at)])
    assert [e.event_id for e in show(later)] == [event.event_id]
    # Revoked before it was issued: refused, saying so.
    earlier = pinned.with_party_keys(
        "ua", [RegisteredKey(ua_key, revoked_at=event.issued_at - timedelta(seconds=1))]
    )
    with pytest.raises(VerificationFailed, match="revoked"):
        show(earlier)
    # Not pinned at all: the key the gateway's registry lists is not trusted.
    assert pinned.gateway is not None
    with pytest.raises(VerificationFailed, match="no keys of 'ua' are pinned"):
        show(TrustStore().with_gateway(pinned.gateway))
