"""SPEC §10 in the shared protocol: the case event, its state machine, case ids
and the stats fold, without a server.

The expected answers are written out here from the text of §10, not read
from ``gateway.protocol.case.TABLE``, so a wrong row in the code fails a test.
The stats fold is also checked against a plain reference implementation of
the §10 definitions over random event streams (fixed seeds).
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from gateway.protocol import case as cases
from gateway.protocol import receipt as receipts
from gateway.protocol import schemas
from gateway.protocol import token as tokens
from gateway.protocol.case import (
    CLOSED,
    CONTACT,
    DISPUTED,
    EVENTS,
    FAMILY_FOUND,
    INFO_REQUESTED,
    REPORTED,
    RETURN_SCHEDULED,
    REUNITED,
    STATES,
    VERIFIED,
    Case,
    CaseEvent,
    CaseName,
    CitedPacket,
)
from gateway.protocol.crypto import jws
from gateway.protocol.crypto.keys import PublicKey, SigningKey, b64url, b64url_decode
from gateway.protocol.errors import Conflict, Forbidden, Invalid, NotFound, Unauthenticated
from gateway.protocol.stats import CaseStats, Policy, micros

HOLDER, HOME, THIRD = "holder-gov", "home-gov", "third-gov"
T0 = datetime(2026, 3, 1, 10, 0, 0, tzinfo=UTC)
DAY = timedelta(days=1)
SECOND = timedelta(seconds=1)
PACKET = "6f0a3c1e-2b4d-4e5f-8a9b-0c1d2e3f4a5b"
VERIFICATION_PACKET = "7f0a3c1e-2b4d-4e5f-8a9b-0c1d2e3f4a5b"
CASE = "11111111-2222-4333-8444-555555555555"
CASE_UPPER = "AAAAAAAA-2222-4333-8444-555555555555"

# SPEC §10, the table, written out: event -> (issuer side, states accepted from).
# None is a case that does not exist yet.
SPEC_TABLE: dict[str, tuple[str, set[str | None]]] = {
    REPORTED: ("holder", {None, INFO_REQUESTED, DISPUTED}),
    VERIFIED: ("home", {REPORTED}),
    DISPUTED: ("home", {REPORTED}),
    INFO_REQUESTED: ("home", {REPORTED}),
    FAMILY_FOUND: ("home", {VERIFIED}),
    CONTACT: ("either", {FAMILY_FOUND, RETURN_SCHEDULED}),
    RETURN_SCHEDULED: ("holder", {VERIFIED, FAMILY_FOUND}),
    REUNITED: ("home", {FAMILY_FOUND, RETURN_SCHEDULED}),
    CLOSED: (
        "either",
        {REPORTED, VERIFIED, DISPUTED, INFO_REQUESTED, FAMILY_FOUND, RETURN_SCHEDULED},
    ),
}


def members_for(name: str) -> dict[str, Any]:
    """The members a valid event of this name carries besides the common ones."""
    out: dict[str, Any] = {}
    if name in (REPORTED, VERIFIED, DISPUTED, INFO_REQUESTED):
        out |= {"packet_id": PACKET, "record_id": "rec-1"}
    if name == RETURN_SCHEDULED:
        out["due"] = date(2026, 4, 1)
    if name in (DISPUTED, CLOSED):
        out["reason"] = "identity_mismatch"
    return out


def make_event(name: str = REPORTED, **over: Any) -> CaseEvent:
    """A valid event of ``name`` (issued by the side the table names), with overrides."""
    side = SPEC_TABLE[name][0]
    fields: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "case_id": CASE,
        "event": name,
        "issuer": HOME if side == "home" else HOLDER,
        "holder": HOLDER,
        "home": HOME,
        "issued_at": T0,
        "aged_out": False,
        **members_for(name),
    }
    return CaseEvent(**(fields | over))


def valid_claims(name: str = REPORTED) -> dict[str, Any]:
    return make_event(name).claims()


def sign_claims(claims: dict[str, Any], key: SigningKey, typ: str = jws.TYP_CASE) -> str:
    return jws.sign_json(claims, key, typ=typ)


def public(key: SigningKey) -> PublicKey:
    return key.public


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return SigningKey.generate()


# --- the signed bytes ---------------------------------------------------------


def test_sign_then_verify_reads_back_the_same_event(key: SigningKey) -> None:
    event = make_event(RETURN_SCHEDULED)
    signed = cases.sign(event, key)
    parsed, issuer = cases.claimed_issuer(signed.compact)
    assert issuer == HOLDER
    assert parsed.header["typ"] == "dxg-case+jws"
    verified = cases.verify(parsed, public(key))
    assert verified.event == event
    assert verified.compact == signed.compact


def test_the_signed_payload_is_exactly_the_spec_members(key: SigningKey) -> None:
    compact = cases.sign(make_event(REPORTED, aged_out=True), key).compact
    payload = json.loads(b64url_decode(compact.split(".")[1]))
    assert list(payload) == [
        "v", "event_id", "case_id", "event", "issuer", "holder", "home", "issued_at",
        "packet_id", "record_id", "due", "reason", "aged_out",
    ]  # fmt: skip
    assert payload["issued_at"] == "2026-03-01T10:00:00Z"
    assert payload["aged_out"] is True
    assert payload["due"] is None


def test_verify_uses_the_signed_bytes_not_a_reserialisation(key: SigningKey) -> None:
    """Members in another order and with spaces verify: the bytes are read as sent."""
    claims = valid_claims(VERIFIED)
    payload = json.dumps(dict(reversed(list(claims.items()))), indent=1).encode()
    compact = jws.sign(payload, key, typ=jws.TYP_CASE)
    verified = cases.verify(cases.claimed_issuer(compact)[0], public(key))
    assert verified.event.event == VERIFIED
    assert verified.compact == compact


def test_a_tampered_event_fails_its_signature(key: SigningKey) -> None:
    compact = cases.sign(make_event(), key).compact
    head, _, sig = compact.split(".")
    forged = b64url(json.dumps(valid_claims(CLOSED)).encode())
    with pytest.raises(Unauthenticated, match="bad signature"):
        cases.verify(cases.claimed_issuer(f"{head}.{forged}.{sig}")[0], public(key))


def test_an_event_signed_by_another_key_is_refused(key: SigningKey) -> None:
    compact = cases.sign(make_event(), key).compact
    with pytest.raises(Unauthenticated):
        cases.verify(cases.claimed_issuer(compact)[0], public(SigningKey.generate()))


# --- typ separation, both ways --------------------------------------------------------


def a_receipt(key: SigningKey) -> str:
    return receipts.sign_receipt(
        key,
        level="DELIVERED",
        packet_id=PACKET,
        issuer=HOME,
        sender=HOLDER,
        recipient=HOME,
        envelope_sha256="0" * 64,
        parts=[("a.pdf", "1" * 64)],
        extraction_sha256="2" * 64,
        reason=None,
    )


def test_a_receipt_is_refused_as_a_case_event(key: SigningKey) -> None:
    with pytest.raises(Unauthenticated, match="dxg-case\\+jws"):
        cases.claimed_issuer(a_receipt(key))


def test_a_case_event_is_refused_as_a_receipt(key: SigningKey) -> None:
    compact = cases.sign(make_event(), key).compact
    with pytest.raises(Unauthenticated, match="dxg-receipt\\+jws"):
        receipts.claimed_issuer(compact)


def test_a_case_payload_under_the_receipt_typ_is_refused_by_both(key: SigningKey) -> None:
    """The typ, not the payload, decides: case claims signed as a receipt are neither."""
    compact = sign_claims(valid_claims(), key, typ=jws.TYP_RECEIPT)
    with pytest.raises(Unauthenticated):
        cases.claimed_issuer(compact)
    parsed, _ = receipts.claimed_issuer(compact)
    with pytest.raises(Invalid):
        receipts.verify_receipt(parsed, public(key))


def test_a_request_token_is_refused_as_a_case_event(key: SigningKey) -> None:
    token = tokens.sign_token(
        key, issuer=HOLDER, audience="gw", method="POST", path_qs="/v1/cases/events"
    )
    with pytest.raises(Unauthenticated, match="dxg-case\\+jws"):
        cases.claimed_issuer(token)


def test_a_case_event_is_refused_as_a_request_token(key: SigningKey) -> None:
    compact = cases.sign(make_event(), key).compact

    async def resolve(issuer: str, kid: str, at: datetime) -> PublicKey:
        return public(key)

    async def remember(issuer: str, jti: str, expires: int) -> bool:
        return True

    with pytest.raises(Unauthenticated, match="dxg-auth\\+jwt"):
        asyncio.run(
            tokens.verify_token(
                compact,
                audience="gw",
                method="POST",
                path_qs="/v1/cases/events",
                resolve_key=resolve,
                remember_jti=remember,
            )
        )


@pytest.mark.parametrize("typ", [jws.TYP_PACKET, jws.TYP_EXTRACTION, jws.TYP_NOTIFY])
def test_other_signed_documents_are_refused_as_case_events(key: SigningKey, typ: str) -> None:
    with pytest.raises(Unauthenticated):
        cases.claimed_issuer(sign_claims(valid_claims(), key, typ=typ))


def test_alg_none_is_refused_before_any_key(key: SigningKey) -> None:
    head = b64url(b'{"alg":"none","kid":"x","typ":"dxg-case+jws"}')
    body = b64url(json.dumps(valid_claims()).encode())
    with pytest.raises(Unauthenticated, match="alg"):
        cases.claimed_issuer(f"{head}.{body}.{b64url(bytes(64))}")


# --- the closed schema -------------------------------------------------------------


def verify_claims(claims: Any, key: SigningKey) -> cases.SignedCaseEvent:
    compact = jws.sign_json(claims, key, typ=jws.TYP_CASE)
    return cases.verify(jws.parse(compact, typ=jws.TYP_CASE), public(key))


def test_an_extra_member_such_as_a_name_is_refused_without_echoing_it(key: SigningKey) -> None:
    claims = valid_claims() | {"family_name": "Шевченко"}
    with pytest.raises(Invalid) as err:
        verify_claims(claims, key)
    assert "additionalProperties" in err.value.detail
    assert "Шевченко" not in err.value.detail


@pytest.mark.parametrize(
    "member", ["v", "event_id", "case_id", "event", "issuer", "holder", "home", "issued_at",
               "packet_id", "record_id", "due", "reason", "aged_out"]
)  # fmt: skip
def test_every_member_is_required(key: SigningKey, member: str) -> None:
    claims = valid_claims()
    del claims[member]
    with pytest.raises(Invalid, match="required"):
        verify_claims(claims, key)


@pytest.mark.parametrize(
    ("member", "value"),
    [
        ("v", 2),
        ("event_id", "not-a-uuid"),
        ("case_id", "11111111-2222-4333-8444-55555555555G"),
        ("event", "ADOPTED"),
        ("issuer", "Holder"),
        ("issued_at", "2026-03-01T10:00:00+02:00"),
        ("issued_at", "2026-03-01"),
        ("packet_id", 7),
        ("record_id", "with space"),
        ("due", "01.04.2026"),
        ("reason", "because"),
        ("aged_out", None),
        ("aged_out", "false"),
    ],
)
def test_members_of_the_wrong_shape_are_refused(key: SigningKey, member: str, value: Any) -> None:
    claims = valid_claims() | {member: value}
    with pytest.raises(Invalid) as err:
        verify_claims(claims, key)
    assert str(value) not in err.value.detail or member == "v"


def test_an_issued_at_that_does_not_exist_is_refused(key: SigningKey) -> None:
    with pytest.raises(Invalid, match="issued_at is not a real"):
        verify_claims(valid_claims() | {"issued_at": "2026-02-30T10:00:00Z"}, key)


def test_a_due_date_that_does_not_exist_is_refused(key: SigningKey) -> None:
    claims = valid_claims(RETURN_SCHEDULED) | {"due": "2026-02-30"}
    with pytest.raises(Invalid, match="due is not a real date"):
        verify_claims(claims, key)


def test_a_payload_that_is_not_an_object_is_refused(key: SigningKey) -> None:
    with pytest.raises(Invalid):
        verify_claims([valid_claims()], key)
    compact = jws.sign(b"\xff not json", key, typ=jws.TYP_CASE)
    with pytest.raises(Unauthenticated, match="no issuer"):
        cases.claimed_issuer(compact)


def test_sign_refuses_an_event_of_the_wrong_shape(key: SigningKey) -> None:
    with pytest.raises(Invalid, match="event_id"):
        cases.sign(make_event(event_id="not-a-uuid"), key)


def test_the_fast_shape_check_never_accepts_what_the_schema_refuses() -> None:
    """``plainly_valid`` may only say yes where ``case-event.v1.json`` does.

    Every member of valid payloads of every event is replaced by values of
    every kind (including near misses of each pattern), removed, and joined
    by an extra member; the schema is the judge.
    """
    odd: list[Any] = [
        None, True, False, 0, 1, 1.0, 2, "", " ", "x", [], {}, "REPORTED", "other",
        CASE, CASE_UPPER, CASE + "\n", CASE[:-1], "ua", "Ua", "u", "ua\n", "a" * 33,
        "2026-03-01T10:00:00Z", "2026-03-01T10:00:00.5Z", "2026-03-01T10:00:00Z\n",
        "2026-03-01", "2026-03-01\n", "01.03.2026", "rec-1", "rec 1", "r" * 129,
    ]  # fmt: skip
    schema_ok = 0
    for name in EVENTS:
        base = valid_claims(name)
        assert cases.plainly_valid(base)
        variants = [base | {member: value} for member in base for value in odd]
        variants += [{k: v for k, v in base.items() if k != member} for member in base]
        variants += [base | {"family_name": "x"}]
        for claims in variants:
            if cases.plainly_valid(claims):
                assert schemas.check(schemas.CASE_EVENT_V1, claims).ok, claims
                schema_ok += 1
    assert schema_ok > 100  # the fast path does decide the common cases


# --- the member rules ------------------------------------------------------------------

CITING = {REPORTED, VERIFIED, DISPUTED, INFO_REQUESTED}


@pytest.mark.parametrize("name", EVENTS)
def test_packet_and_record_ids_are_both_given_exactly_where_the_spec_says(name: str) -> None:
    if name in CITING:
        make_event(name)
        for missing in ({"packet_id": None}, {"record_id": None}):
            with pytest.raises(Invalid, match="names both packet_id and record_id"):
                make_event(name, **missing)
    else:
        make_event(name)
        for extra in ({"packet_id": PACKET}, {"record_id": "rec-1"}):
            with pytest.raises(Invalid, match="null packet_id and record_id"):
                make_event(name, **extra)


@pytest.mark.parametrize("name", EVENTS)
def test_due_only_on_return_scheduled_where_it_is_required(name: str) -> None:
    if name == RETURN_SCHEDULED:
        with pytest.raises(Invalid, match="RETURN_SCHEDULED event gives its due"):
            make_event(name, due=None)
    else:
        with pytest.raises(Invalid, match="null due"):
            make_event(name, due=date(2026, 4, 1))


@pytest.mark.parametrize("name", EVENTS)
def test_reason_required_on_disputed_and_closed_optional_on_info_requested(name: str) -> None:
    if name in (DISPUTED, CLOSED):
        with pytest.raises(Invalid, match="gives its reason"):
            make_event(name, reason=None)
        assert make_event(name, reason="other").reason == "other"
    elif name == INFO_REQUESTED:
        assert make_event(name, reason=None).reason is None
        assert make_event(name, reason="insufficient_information").reason is not None
    else:
        with pytest.raises(Invalid, match="null reason"):
            make_event(name, reason="other")


@pytest.mark.parametrize("reason", cases.REASONS)
def test_every_reason_code_of_the_spec_is_accepted(reason: str) -> None:
    assert make_event(CLOSED, reason=reason).reason == reason


def test_reason_codes_are_exactly_the_spec_list() -> None:
    assert cases.REASONS == (
        "identity_mismatch", "photo_mismatch", "insufficient_information",
        "duplicate", "not_found", "transferred", "other",
    )  # fmt: skip
    with pytest.raises(Invalid, match="unknown reason"):
        make_event(CLOSED, reason="lost")


def test_holder_and_home_differ() -> None:
    with pytest.raises(Invalid, match="holder and home differ"):
        make_event(REPORTED, home=HOLDER)


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(Invalid, match="time zone"):
        make_event(issued_at=datetime(2026, 3, 1, 10, 0, 0))


def test_member_rule_details_carry_no_values() -> None:
    with pytest.raises(Invalid) as err:
        make_event(CONTACT, record_id="Ivanenko-Olena")
    assert "Ivanenko" not in err.value.detail


# --- issued_at within 300 s --------------------------------------------------------


def test_issued_at_within_300_seconds_either_way() -> None:
    event = make_event()
    cases.check_fresh(event, T0 + timedelta(seconds=300))
    cases.check_fresh(event, T0 - timedelta(seconds=300))
    with pytest.raises(Invalid, match="ago"):
        cases.check_fresh(event, T0 + timedelta(seconds=301))
    with pytest.raises(Invalid, match="future"):
        cases.check_fresh(event, T0 - timedelta(seconds=301))


# --- the state machine --------------------------------------------------------------

ALL_STATES: list[str | None] = [None, *STATES]


def case_in(state: str, *, aged_out: bool = False) -> Case:
    return Case(CASE, HOLDER, HOME, state, aged_out)


@pytest.mark.parametrize("name", EVENTS)
@pytest.mark.parametrize("state", ALL_STATES)
def test_every_cell_of_the_table(name: str, state: str | None) -> None:
    """Each event in each state: accepted with the spec's result, else 409/404."""
    accepted = SPEC_TABLE[name][1]
    event = make_event(name)
    current = None if state is None else case_in(state)
    if state in accepted:
        after = cases.apply(current, event)
        expected = state if name == CONTACT else name
        assert after.state == expected
        assert (after.holder, after.home, after.case_id) == (HOLDER, HOME, CASE)
    elif state is None:
        with pytest.raises(NotFound, match="begins with REPORTED"):
            cases.apply(current, event)
    else:
        with pytest.raises(Conflict) as err:
            cases.apply(current, event)
        assert f"is {state};" in err.value.detail  # the detail names the current state


def test_transition_alone_matches_the_table() -> None:
    for name, (_, accepted) in SPEC_TABLE.items():
        for state in STATES:
            if state in accepted:
                assert cases.transition(state, name, case_id=CASE) in (name, state)
            else:
                with pytest.raises(Conflict):
                    cases.transition(state, name, case_id=CASE)


def test_table_has_exactly_the_spec_rows() -> None:
    assert set(cases.TABLE) == set(SPEC_TABLE)
    for name, (side, accepted) in SPEC_TABLE.items():
        assert cases.TABLE[name].side.value == side
        assert set(cases.TABLE[name].accepted_from) == accepted


def test_reported_again_after_info_requested_and_disputed() -> None:
    for state in (INFO_REQUESTED, DISPUTED):
        assert cases.apply(case_in(state), make_event(REPORTED)).state == REPORTED


def test_contact_keeps_the_state() -> None:
    for state in (FAMILY_FOUND, RETURN_SCHEDULED):
        for issuer in (HOLDER, HOME):
            after = cases.apply(case_in(state), make_event(CONTACT, issuer=issuer))
            assert after.state == state


@pytest.mark.parametrize("name", EVENTS)
def test_the_wrong_side_is_forbidden(name: str) -> None:
    side, accepted = SPEC_TABLE[name]
    state = next(s for s in ALL_STATES if s in accepted)
    current = None if state is None else case_in(state)
    for issuer, issuer_side in ((HOLDER, "holder"), (HOME, "home")):
        event = make_event(name, issuer=issuer)
        if side in ("either", issuer_side):
            cases.apply(current, event)
        else:
            with pytest.raises(Forbidden, match=f"issued by the {side} side"):
                cases.apply(current, event)


def test_an_issuer_who_is_neither_side_is_forbidden() -> None:
    with pytest.raises(Forbidden, match="holder or its home"):
        cases.apply(case_in(FAMILY_FOUND), make_event(CONTACT, issuer=THIRD))
    with pytest.raises(Forbidden):
        cases.apply(None, make_event(REPORTED, issuer=THIRD))


def test_the_side_is_checked_before_the_transition() -> None:
    """§10's order: a home-side REPORTED on a VERIFIED case is 403, not 409."""
    with pytest.raises(Forbidden):
        cases.apply(case_in(VERIFIED), make_event(REPORTED, issuer=HOME))


def test_a_later_event_naming_other_sides_is_forbidden() -> None:
    event = make_event(VERIFIED, issuer=THIRD, home=THIRD)
    with pytest.raises(Forbidden, match="other sides"):
        cases.apply(case_in(REPORTED), event)


def test_a_reported_naming_other_sides_is_invalid() -> None:
    event = make_event(REPORTED, issuer=THIRD, holder=THIRD)
    with pytest.raises(Invalid, match="names the case's sides"):
        cases.apply(case_in(DISPUTED), event)


def test_aged_out_differing_from_the_first_report_is_invalid() -> None:
    with pytest.raises(Invalid, match="aged_out"):
        cases.apply(case_in(REPORTED, aged_out=True), make_event(VERIFIED, aged_out=False))
    with pytest.raises(Invalid, match="aged_out"):
        cases.apply(case_in(DISPUTED, aged_out=False), make_event(REPORTED, aged_out=True))
    after = cases.apply(case_in(REPORTED, aged_out=True), make_event(VERIFIED, aged_out=True))
    assert after.aged_out is True


def test_a_new_case_takes_its_sides_and_flag_from_its_first_report() -> None:
    after = cases.apply(None, make_event(REPORTED, aged_out=True))
    assert after == Case(CASE, HOLDER, HOME, REPORTED, True)


def test_closed_and_reunited_are_final() -> None:
    for state in (CLOSED, REUNITED):
        for name in EVENTS:
            with pytest.raises(Conflict, match=f"is {state}"):
                cases.apply(case_in(state), make_event(name))


# --- case ids ---------------------------------------------------------------------------


def test_derived_case_id_is_uuid5_of_record_id_in_the_packet_namespace() -> None:
    # RFC 4122 Appendix C's DNS namespace and Python's documented example value.
    dns = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
    assert cases.derive_case_id(dns, "python.org") == "886313e1-3b8a-5372-9b90-0c9aee199e5d"


def record(part: str, record_id: str) -> dict[str, Any]:
    return {"record_id": record_id, "source": {"part": part, "pages": [1], "method": "text"}}


def test_named_cases_take_their_ids_by_part_and_position() -> None:
    records = [record("a.pdf", "r1"), record("b.pdf", "r2"), record("a.pdf", "r3")]
    named_a1 = "aaaaaaaa-0000-4000-8000-000000000001"
    named_b0 = "bbbbbbbb-0000-4000-8000-000000000000"
    names = [CaseName(named_a1, "a.pdf", 1), CaseName(named_b0, "b.pdf", 0)]
    resolved = cases.resolve_case_ids(PACKET, records, names)
    assert resolved.case_ids == (cases.derive_case_id(PACKET, "r1"), named_b0, named_a1)
    assert resolved.warnings == ()


def test_an_index_finding_no_record_names_nothing_and_warns() -> None:
    records = [record("a.pdf", "r1")]
    names = [CaseName("aaaaaaaa-0000-4000-8000-000000000001", "a.pdf", 1)]
    resolved = cases.resolve_case_ids(PACKET, records, names)
    assert resolved.case_ids == (cases.derive_case_id(PACKET, "r1"),)
    assert len(resolved.warnings) == 1
    assert "body.cases[0]" in resolved.warnings[0]
    assert "aaaaaaaa" not in resolved.warnings[0]


def test_a_packet_without_records_gets_no_ids() -> None:
    assert cases.resolve_case_ids(PACKET, [], []).case_ids == ()


def test_body_cases_are_read_and_checked() -> None:
    body = {"cases": [{"case_id": CASE, "part": "a.pdf", "index": 0}]}
    assert cases.parse_case_names(body, ["a.pdf"]) == (CaseName(CASE, "a.pdf", 0),)
    assert cases.parse_case_names(None, ["a.pdf"]) == ()
    assert cases.parse_case_names({"other": 1}, ["a.pdf"]) == ()


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ({"case_id": CASE}, "is a list"),
        ([{"case_id": CASE, "part": "z.pdf", "index": 0}], "not a part of this packet"),
        ([{"case_id": CASE, "part": "a.pdf", "index": -1}], "index is an integer"),
        ([{"case_id": CASE, "part": "a.pdf", "index": True}], "index is an integer"),
        ([{"case_id": CASE_UPPER, "part": "a.pdf", "index": 0}], "lowercase UUID"),
        ([{"case_id": CASE, "part": "a.pdf"}], "exactly the members"),
        ([{"case_id": CASE, "part": "a.pdf", "index": 0, "name": "x"}], "exactly the members"),
        (
            [
                {"case_id": CASE, "part": "a.pdf", "index": 0},
                {"case_id": CASE, "part": "a.pdf", "index": 1},
            ],
            "case_id that an earlier",
        ),
        (
            [
                {"case_id": CASE, "part": "a.pdf", "index": 0},
                {"case_id": str(uuid.uuid4()), "part": "a.pdf", "index": 0},
            ],
            "record that an earlier",
        ),
    ],
)
def test_bad_body_cases_are_invalid(entries: Any, message: str) -> None:
    with pytest.raises(Invalid, match=message):
        cases.parse_case_names({"cases": entries}, ["a.pdf"])


# --- verification packets ----------------------------------------------------------------


def verification_body(**over: Any) -> dict[str, Any]:
    return {
        "case_id": CASE,
        "record_id": "rec-1",
        "result": "disputed",
        "fields": {"family_name": "confirmed", "birth_date": "differs"},
        "reason": "identity_mismatch",
        "note": "Дата не збігається",
    } | over


def cited(**over: Any) -> CitedPacket:
    fields: dict[str, Any] = {
        "packet_id": VERIFICATION_PACKET,
        "sender": HOME,
        "recipient": HOLDER,
        "kind": "verification",
        "in_reply_to": PACKET,
        "body": verification_body(),
    }
    return CitedPacket(**(fields | over))


def test_a_verification_packet_that_agrees_is_accepted() -> None:
    event = make_event(DISPUTED, packet_id=VERIFICATION_PACKET)
    cases.check_verification(event, cited(), frozenset({PACKET}))


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"sender": HOLDER, "recipient": HOME}, "from home to holder"),
        ({"kind": "dossier"}, "of kind verification"),
        ({"in_reply_to": None}, "replies to no dossier"),
        ({"in_reply_to": VERIFICATION_PACKET}, "replies to no dossier"),
        ({"body": verification_body(case_id=str(uuid.uuid4()))}, "differ in case_id"),
        ({"body": verification_body(record_id="rec-2")}, "differ in record_id"),
        ({"body": verification_body(result="verified")}, "differ in result"),
        ({"body": verification_body(reason="photo_mismatch")}, "differ in reason"),
        ({"body": verification_body(fields={"family_name": "maybe"})}, "fields map"),
        ({"body": {"case_id": CASE}}, "has exactly"),
    ],
)
def test_a_verification_packet_that_disagrees_is_invalid(
    over: dict[str, Any], message: str
) -> None:
    event = make_event(DISPUTED, packet_id=VERIFICATION_PACKET)
    with pytest.raises(Invalid, match=message) as err:
        cases.check_verification(event, cited(**over), frozenset({PACKET}))
    assert "Дата" not in err.value.detail


# --- policy ------------------------------------------------------------------------------------


def test_policy_defaults_are_the_spec_defaults() -> None:
    assert Policy().to_json() == {
        "response_days": 7,
        "aged_out_return_days": 30,
        "contact_interval_days": 14,
    }
    assert Policy.from_json({"response_days": 3, "aged_out_return_days": 10,
                             "contact_interval_days": 2}).response_days == 3  # fmt: skip
    with pytest.raises(ValueError, match="whole number"):
        Policy(response_days=0)
    with pytest.raises(ValueError, match="exactly"):
        Policy.from_json({"response_days": 3})


# --- the stats fold --------------------------------------------------------------------------


class Story:
    """Feeds events of several cases into a CaseStats, in log order."""

    def __init__(self, policy: Policy | None = None) -> None:
        self.stats = CaseStats(policy)
        self.index = 0

    def add(
        self,
        name: str,
        at: datetime,
        *,
        case: str = CASE,
        holder: str = HOLDER,
        home: str = HOME,
        aged_out: bool = False,
        due: date | None = None,
    ) -> None:
        event = make_event(
            name, case_id=case, holder=holder, home=home, issued_at=at, aged_out=aged_out,
            issuer=holder if SPEC_TABLE[name][0] != "home" else home,
        )  # fmt: skip
        if due is not None:
            event = replace(event, due=due)
        self.stats.feed(event, self.index)
        self.index += 2  # receipts sit between case events in the log

    def pair(self, as_of: datetime, **kw: Any) -> dict[str, Any]:
        doc = self.stats.figures(as_of=as_of, log_size=kw.pop("log_size", self.index), **kw)
        assert len(doc["pairs"]) == 1
        pair: dict[str, Any] = doc["pairs"][0]
        return pair


def test_no_events_no_pairs() -> None:
    doc = CaseStats().figures(as_of=T0, log_size=0)
    assert doc == {"as_of": "2026-03-01T10:00:00Z", "log_size": 0, "pairs": []}


def test_the_eight_states_are_listed_with_zeros() -> None:
    story = Story()
    story.add(REPORTED, T0)
    pair = story.pair(T0)
    assert pair["cases"] == {s: (1 if s == REPORTED else 0) for s in STATES}
    assert list(pair["cases"]) == list(STATES)
    assert pair["median_days"] == {"reported_to_verified": None, "verified_to_reunited": None}
    assert (pair["holder"], pair["home"]) == (HOLDER, HOME)


def test_contact_does_not_change_the_counted_state() -> None:
    story = Story()
    for name in (REPORTED, VERIFIED, FAMILY_FOUND, CONTACT):
        story.add(name, T0)
    assert story.pair(T0)["cases"][FAMILY_FOUND] == 1


def test_response_overdue_at_its_boundary() -> None:
    story = Story()
    story.add(REPORTED, T0)
    assert story.pair(T0 + 7 * DAY)["response_overdue"] == 0
    assert story.pair(T0 + 7 * DAY + SECOND)["response_overdue"] == 1


def test_response_overdue_counts_from_the_last_report() -> None:
    story = Story()
    story.add(REPORTED, T0)
    story.add(INFO_REQUESTED, T0 + DAY)
    story.add(REPORTED, T0 + 3 * DAY)
    assert story.pair(T0 + 10 * DAY)["response_overdue"] == 0
    assert story.pair(T0 + 10 * DAY + SECOND)["response_overdue"] == 1
    # and as of a time before the second report, the case was INFO_REQUESTED
    assert story.pair(T0 + 2 * DAY)["cases"][INFO_REQUESTED] == 1


def test_response_overdue_uses_the_configured_period() -> None:
    story = Story(Policy(response_days=2))
    story.add(REPORTED, T0)
    assert story.pair(T0 + 2 * DAY + SECOND)["response_overdue"] == 1


def test_return_overdue_in_verified_and_family_found_at_its_boundary() -> None:
    story = Story()
    story.add(REPORTED, T0, aged_out=True)
    story.add(VERIFIED, T0 + DAY, aged_out=True)
    verified = T0 + DAY
    assert story.pair(verified + 30 * DAY)["aged_out"]["return_overdue"] == 0
    assert story.pair(verified + 30 * DAY + SECOND)["aged_out"]["return_overdue"] == 1
    story.add(FAMILY_FOUND, T0 + 20 * DAY, aged_out=True)  # counts still from VERIFIED
    assert story.pair(verified + 30 * DAY)["aged_out"]["return_overdue"] == 0
    assert story.pair(verified + 30 * DAY + SECOND)["aged_out"]["return_overdue"] == 1


def test_return_overdue_only_for_the_aged_out() -> None:
    story = Story()
    story.add(REPORTED, T0)
    story.add(VERIFIED, T0)
    assert story.pair(T0 + 365 * DAY)["aged_out"]["return_overdue"] == 0


def test_return_overdue_when_due_is_before_the_utc_date_of_t() -> None:
    story = Story()
    story.add(REPORTED, T0, aged_out=True)
    story.add(VERIFIED, T0, aged_out=True)
    story.add(RETURN_SCHEDULED, T0, aged_out=True, due=date(2026, 3, 5))
    last_moment_of_due = datetime(2026, 3, 5, 23, 59, 59, tzinfo=UTC)
    assert story.pair(last_moment_of_due)["aged_out"]["return_overdue"] == 0
    assert story.pair(last_moment_of_due + SECOND)["aged_out"]["return_overdue"] == 1
    # RETURN_SCHEDULED is not overdue by the 30 days since VERIFIED
    assert story.pair(datetime(2026, 3, 4, tzinfo=UTC) + 0 * DAY)["aged_out"] == {
        "open": 1,
        "reunited": 0,
        "return_overdue": 0,
    }


def test_contact_overdue_at_its_boundary_and_reset_by_contact() -> None:
    story = Story()
    story.add(REPORTED, T0)
    story.add(VERIFIED, T0)
    story.add(FAMILY_FOUND, T0 + DAY)
    entered = T0 + DAY
    assert story.pair(entered + 14 * DAY)["contact_overdue"] == 0
    assert story.pair(entered + 14 * DAY + SECOND)["contact_overdue"] == 1
    story.add(CONTACT, entered + 10 * DAY)
    assert story.pair(entered + 24 * DAY)["contact_overdue"] == 0
    assert story.pair(entered + 24 * DAY + SECOND)["contact_overdue"] == 1


def test_contact_overdue_reset_by_entering_return_scheduled() -> None:
    story = Story()
    story.add(REPORTED, T0)
    story.add(VERIFIED, T0)
    story.add(FAMILY_FOUND, T0)
    story.add(RETURN_SCHEDULED, T0 + 5 * DAY, due=date(2026, 12, 1))
    assert story.pair(T0 + 19 * DAY)["contact_overdue"] == 0
    assert story.pair(T0 + 19 * DAY + SECOND)["contact_overdue"] == 1


def test_contact_overdue_not_for_other_states() -> None:
    story = Story()
    story.add(REPORTED, T0)
    story.add(VERIFIED, T0)
    assert story.pair(T0 + 100 * DAY)["contact_overdue"] == 0


def test_reunited_last_24h_and_7d_at_their_boundaries() -> None:
    story = Story()
    reunited = T0 + 2 * DAY
    story.add(REPORTED, T0)
    story.add(VERIFIED, T0)
    story.add(FAMILY_FOUND, T0)
    story.add(REUNITED, reunited)
    assert story.pair(reunited)["reunited_last_24h"] == 1
    assert story.pair(reunited + DAY - SECOND)["reunited_last_24h"] == 1
    assert story.pair(reunited + DAY)["reunited_last_24h"] == 0
    assert story.pair(reunited + 7 * DAY - SECOND)["reunited_last_7d"] == 1
    assert story.pair(reunited + 7 * DAY)["reunited_last_7d"] == 0
    assert story.pair(reunited - SECOND)["reunited_last_24h"] == 0  # not yet
    assert story.pair(reunited - SECOND)["cases"][FAMILY_FOUND] == 1


def test_aged_out_open_and_reunited() -> None:
    story = Story()
    for n, end in enumerate((None, REUNITED, CLOSED)):
        case = f"{n}1111111-2222-4333-8444-555555555555"
        story.add(REPORTED, T0, case=case, aged_out=True)
        if end == REUNITED:
            for name in (VERIFIED, FAMILY_FOUND, REUNITED):
                story.add(name, T0, case=case, aged_out=True)
        elif end == CLOSED:
            story.add(CLOSED, T0, case=case, aged_out=True)
    story.add(REPORTED, T0, case=str(uuid.uuid4()))  # not aged out
    pair = story.pair(T0)
    assert pair["aged_out"] == {"open": 1, "reunited": 1, "return_overdue": 0}
    assert sum(pair["cases"].values()) == 4


def test_medians_odd_even_rounded_and_absent() -> None:
    story = Story()
    # reported -> verified spans: 1 day, 2 days, 1/3 day, 4 days -> even count:
    # sorted 0.333.., 1, 2, 4 -> mean of 1 and 2 = 1.5
    for n, span in enumerate((DAY, 2 * DAY, DAY / 3, 4 * DAY)):
        case = f"{n}1111111-2222-4333-8444-555555555555"
        story.add(REPORTED, T0, case=case)
        story.add(VERIFIED, T0 + span, case=case)
    pair = story.pair(T0 + 10 * DAY)
    assert pair["median_days"] == {"reported_to_verified": 1.5, "verified_to_reunited": None}
    # as of 2 days: three samples (1/3, 1, 2) -> the middle one
    assert story.pair(T0 + 2 * DAY)["median_days"]["reported_to_verified"] == 1.0
    # just before: two samples (1/3, 1) -> their mean, 0.666.. rounded to 0.67
    as_of = T0 + 2 * DAY - SECOND
    assert story.pair(as_of)["median_days"]["reported_to_verified"] == 0.67


def test_median_of_one_sample_rounds_to_two_places() -> None:
    story = Story()
    story.add(REPORTED, T0)
    story.add(VERIFIED, T0 + DAY / 3)
    assert story.pair(T0 + DAY)["median_days"]["reported_to_verified"] == 0.33
    story.add(FAMILY_FOUND, T0 + DAY)
    story.add(REUNITED, T0 + DAY / 3 + 2 * DAY + timedelta(hours=12))
    assert story.pair(T0 + 5 * DAY)["median_days"]["verified_to_reunited"] == 2.5


def test_as_of_in_the_future_looks_ahead() -> None:
    story = Story()
    story.add(REPORTED, T0)
    doc = story.stats.figures(as_of=T0 + 30 * DAY, log_size=story.index)
    assert doc["as_of"] == "2026-03-31T10:00:00Z"
    assert doc["pairs"][0]["response_overdue"] == 1


def test_as_of_in_the_past_counts_only_events_issued_by_then() -> None:
    story = Story()
    story.add(REPORTED, T0)
    story.add(REPORTED, T0 + DAY, case=str(uuid.uuid4()), holder="another-gov")
    doc = story.stats.figures(as_of=T0 - SECOND, log_size=story.index)
    assert doc["pairs"] == []
    doc = story.stats.figures(as_of=T0, log_size=story.index)
    assert [(p["holder"], p["home"]) for p in doc["pairs"]] == [(HOLDER, HOME)]


def test_only_events_within_the_log_size_count() -> None:
    story = Story()
    story.add(REPORTED, T0)  # index 0
    story.add(VERIFIED, T0)  # index 2
    assert story.pair(T0, log_size=2)["cases"][REPORTED] == 1
    assert story.pair(T0, log_size=3)["cases"][VERIFIED] == 1
    assert story.stats.figures(as_of=T0, log_size=0)["pairs"] == []


def test_pairs_are_ordered_by_holder_then_home_and_filtered_by_party() -> None:
    story = Story()
    for holder, home in (("b-gov", "a-gov"), ("a-gov", "c-gov"), ("a-gov", "b-gov")):
        story.add(REPORTED, T0, case=str(uuid.uuid4()), holder=holder, home=home)
    doc = story.stats.figures(as_of=T0, log_size=story.index)
    order = [(p["holder"], p["home"]) for p in doc["pairs"]]
    assert order == [("a-gov", "b-gov"), ("a-gov", "c-gov"), ("b-gov", "a-gov")]
    seen = story.stats.figures(as_of=T0, log_size=story.index, party="c-gov")["pairs"]
    assert [(p["holder"], p["home"]) for p in seen] == [("a-gov", "c-gov")]


def test_events_must_be_fed_in_log_order() -> None:
    stats = CaseStats()
    stats.feed(make_event(), 5)
    with pytest.raises(ValueError, match="log order"):
        stats.feed(make_event(VERIFIED), 5)


def test_as_of_is_taken_to_the_whole_second() -> None:
    story = Story()
    story.add(REPORTED, T0)
    doc = story.stats.figures(as_of=T0 - timedelta(microseconds=1), log_size=story.index)
    assert doc["as_of"] == "2026-03-01T09:59:59Z"
    assert doc["pairs"] == []


# --- the fold against a reference implementation of the §10 text ---------------------------


def reference(
    events: list[tuple[int, CaseEvent]], as_of: datetime, log_size: int, policy: Policy
) -> dict[str, Any]:
    """§10's stats, computed the slow obvious way from the events that count."""
    t = as_of.replace(microsecond=0)
    counted = [e for i, e in events if i < log_size and e.issued_at <= t]
    by_case: dict[str, list[CaseEvent]] = {}
    for e in counted:
        by_case.setdefault(e.case_id, []).append(e)
    first_of: dict[str, CaseEvent] = {}
    for _, e in events:
        first_of.setdefault(e.case_id, e)
    pairs: dict[tuple[str, str], dict[str, Any]] = {}
    spans: dict[tuple[str, str], tuple[list[float], list[float]]] = {}
    for case_id, evs in by_case.items():
        states = [e for e in evs if e.event != CONTACT]
        if not states:
            continue
        first = first_of[case_id]
        key = (first.holder, first.home)
        p = pairs.setdefault(
            key,
            {
                "cases": dict.fromkeys(STATES, 0),
                "r24": 0, "r7": 0, "open": 0, "reun": 0, "rlate": 0, "resp": 0, "cont": 0,
            },
        )  # fmt: skip
        state = states[-1].event
        entered = states[-1].issued_at
        aged = first.aged_out
        p["cases"][state] += 1

        def last(name: str, evs: list[CaseEvent] = evs) -> datetime | None:
            found = [e.issued_at for e in evs if e.event == name]
            return found[-1] if found else None

        def first_at(name: str, evs: list[CaseEvent] = evs) -> datetime | None:
            found = [e.issued_at for e in evs if e.event == name]
            return found[0] if found else None

        for e in evs:
            if e.event == REUNITED:
                p["r24"] += t - DAY < e.issued_at <= t
                p["r7"] += t - 7 * DAY < e.issued_at <= t
        if aged and state not in (REUNITED, CLOSED):
            p["open"] += 1
        if aged and state == REUNITED:
            p["reun"] += 1
        lv = last(VERIFIED)
        if aged and state in (VERIFIED, FAMILY_FOUND) and lv is not None:
            p["rlate"] += t - lv > policy.aged_out_return_days * DAY
        if aged and state == RETURN_SCHEDULED:
            due = [e.due for e in evs if e.event == RETURN_SCHEDULED][-1]
            assert due is not None
            p["rlate"] += due < t.date()
        lr = last(REPORTED)
        if state == REPORTED and lr is not None:
            p["resp"] += t - lr > policy.response_days * DAY
        if state in (FAMILY_FOUND, RETURN_SCHEDULED):
            touch = [e.issued_at for e in evs if e.event == CONTACT] + [entered]
            p["cont"] += all(t - x > policy.contact_interval_days * DAY for x in touch)
        a, b, c = first_at(REPORTED), first_at(VERIFIED), first_at(REUNITED)
        s = spans.setdefault(key, ([], []))
        if a is not None and b is not None:
            s[0].append((b - a) / DAY)
        if b is not None and c is not None:
            s[1].append((c - b) / DAY)

    def med(xs: list[float]) -> float | None:
        return None if not xs else round(statistics.median(xs) + 1e-12, 2)

    out = []
    for key in sorted(pairs):
        p = pairs[key]
        s = spans.get(key, ([], []))
        out.append(
            {
                "holder": key[0],
                "home": key[1],
                "cases": p["cases"],
                "reunited_last_24h": p["r24"],
                "reunited_last_7d": p["r7"],
                "aged_out": {
                    "open": p["open"],
                    "reunited": p["reun"],
                    "return_overdue": p["rlate"],
                },
                "response_overdue": p["resp"],
                "contact_overdue": p["cont"],
                "median_days": {
                    "reported_to_verified": med(s[0]),
                    "verified_to_reunited": med(s[1]),
                },
            }
        )
    return {"as_of": t.strftime("%Y-%m-%dT%H:%M:%SZ"), "log_size": log_size, "pairs": out}


def random_story(rng: random.Random, n_cases: int) -> list[tuple[int, CaseEvent]]:
    """Legal event streams of random cases, interleaved in time, with jitter in issued_at."""
    pairs = [("a-gov", "b-gov"), ("b-gov", "a-gov"), ("a-gov", "c-gov")]
    pending: list[tuple[datetime, str, Case | None, str, bool]] = []
    for _ in range(n_cases):
        holder, home = rng.choice(pairs)
        start = T0 + timedelta(seconds=rng.randrange(0, 40 * 86_400))
        pending.append((start, str(uuid.uuid4()), None, f"{holder}|{home}", rng.random() < 0.3))
    events: list[tuple[int, CaseEvent]] = []
    index = 0
    while pending:
        pending.sort(key=lambda p: p[0])
        at, case_id, current, sides, aged = pending.pop(0)
        holder, home = sides.split("|")
        state = None if current is None else current.state
        options = [n for n, (_, acc) in SPEC_TABLE.items() if state in acc]
        if len(options) > 1 and rng.random() > 0.08:
            options.remove(CLOSED)  # most cases go on, so every state is well sampled
        if not options or (current is not None and rng.random() < 0.1):
            continue  # the case rests where it is
        name = rng.choice(options)
        side = SPEC_TABLE[name][0]
        issuer = {"holder": holder, "home": home}.get(side, rng.choice([holder, home]))
        extra = members_for(name)
        if name == RETURN_SCHEDULED:
            extra["due"] = (at + timedelta(days=rng.randrange(-5, 40))).date()
        jitter = timedelta(seconds=rng.randrange(-300, 301))  # a clock within §10's window
        event = make_event(
            name, case_id=case_id, issuer=issuer, holder=holder, home=home,
            issued_at=at + jitter, aged_out=aged, **extra,
        )  # fmt: skip
        after = cases.apply(current, event)
        events.append((index, event))
        index += rng.choice([1, 1, 2])
        gap = timedelta(seconds=rng.choice([60, 3_600, 86_400, 5 * 86_400, 20 * 86_400]))
        pending.append((at + gap, case_id, after, sides, aged))
    return events


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fold_equals_the_reference_at_random_times_and_sizes(seed: int) -> None:
    rng = random.Random(seed)
    policy = Policy(response_days=5, aged_out_return_days=12, contact_interval_days=4)
    events = random_story(rng, 60)
    stats = CaseStats(policy)
    for i, event in events:
        stats.feed(event, i)
    end = events[-1][0] + 1
    span = max(e.issued_at for _, e in events) - T0
    for _ in range(40):
        as_of = T0 + span * rng.uniform(-0.05, 1.2)
        size = rng.choice([end, end, rng.randrange(0, end + 1)])
        got = stats.figures(as_of=as_of, log_size=size)
        assert got == reference(events, as_of, size, policy), (as_of, size)


def test_fold_keeps_up_with_the_reference_as_events_arrive() -> None:
    """The gateway's running fold answers between feeds as a fresh one would."""
    rng = random.Random(7)
    events = random_story(rng, 25)
    stats = CaseStats()
    for n, (i, event) in enumerate(events):
        stats.feed(event, i)
        if n % 10 == 0:
            as_of = event.issued_at + timedelta(seconds=rng.randrange(-400, 400))
            assert stats.figures(as_of=as_of, log_size=i + 1) == reference(
                events[: n + 1], as_of, i + 1, Policy()
            )


def test_micros_is_exact() -> None:
    moment = datetime(2026, 3, 1, 10, 0, 0, 123456, tzinfo=UTC)
    assert micros(moment) == 1_772_359_200_123_456
    with pytest.raises(ValueError, match="naive"):
        micros(datetime(2026, 3, 1))


@pytest.mark.parametrize("seed", [4, 5])
def test_the_fold_written_and_read_back_answers_and_grows_as_the_original(seed: int) -> None:
    """CaseStats.to_json / from_json: what a monitor's state file carries between passes."""
    rng = random.Random(seed)
    policy = Policy(response_days=5, aged_out_return_days=12, contact_interval_days=4)
    events = random_story(rng, 50)
    cut = len(events) // 2
    original = CaseStats(policy)
    for i, event in events[:cut]:
        original.feed(event, i)
    text = json.dumps(original.to_json())  # through text, as in the state file
    restored = CaseStats.from_json(json.loads(text), policy)
    assert (len(restored), restored.last_index) == (len(original), original.last_index)
    assert list(restored.case_ids()) == list(original.case_ids())
    for i, event in events[cut:]:  # both go on with the rest of the log
        original.feed(event, i)
        restored.feed(event, i)
    end = events[-1][0] + 1
    span = max(e.issued_at for _, e in events) - T0
    for _ in range(30):
        as_of = T0 + span * rng.uniform(-0.05, 1.2)
        size = rng.choice([end, rng.randrange(0, end + 1)])
        got = restored.figures(as_of=as_of, log_size=size)
        assert got == original.figures(as_of=as_of, log_size=size)
        assert got == reference(events, as_of, size, policy), (as_of, size)
    with pytest.raises(ValueError, match="log order"):
        restored.feed(events[-1][1], events[-1][0])


def test_an_empty_fold_round_trips() -> None:
    restored = CaseStats.from_json(json.loads(json.dumps(CaseStats().to_json())))
    assert (len(restored), restored.last_index) == (0, -1)
    assert restored.figures(as_of=T0, log_size=0)["pairs"] == []
    restored.feed(make_event(), 3)
    assert restored.figures(as_of=T0 + DAY, log_size=4)["pairs"][0]["cases"][REPORTED] == 1


def test_a_fold_that_contradicts_itself_is_refused() -> None:
    stats = CaseStats()
    stats.feed(make_event(), 0)
    stats.feed(make_event(VERIFIED), 2)
    good = stats.to_json()
    out_of_order = json.loads(json.dumps(good)) | {"last_index": 7}
    with pytest.raises(ValueError, match="log order"):
        CaseStats.from_json(out_of_order)
    no_row = json.loads(json.dumps(good)) | {"cases": []}
    with pytest.raises(ValueError):
        CaseStats.from_json(no_row)
    cut = json.loads(json.dumps(good))
    cut["events"]["t"] = cut["events"]["t"][:4]
    with pytest.raises(ValueError):
        CaseStats.from_json(cut)
    with pytest.raises(ValueError, match="format"):
        CaseStats.from_json(good | {"format": 99})
