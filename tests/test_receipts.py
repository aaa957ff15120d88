"""SPEC §6: the recipient's receipts, and who reads receipts.

The recipient opens a delivery with the Client (without acknowledging it),
then each test sends a receipt that breaks one rule, or a valid one, by hand.
Every test makes its own packet on one shared gateway.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import pytest

from gateway.party.client import Client
from gateway.protocol.crypto import jws
from gateway.protocol.crypto.digest import sha256_hex
from gateway.protocol.crypto.keys import PublicKey, SigningKey
from gateway.protocol.receipt import sign_receipt
from tests.conftest import Exchange
from tests.harness import (
    Answer,
    Party,
    assert_problem,
    bearer,
    get,
    http_in_pieces,
    packet_status,
    post_raw,
    post_receipt,
    send_ready_packet,
)


@dataclass(frozen=True)
class Delivery:
    """What the recipient was delivered: what its receipts must name."""

    packet_id: str
    sender: Party
    recipient: Party
    envelope_sha256: str
    parts: list[tuple[str, str]]
    extraction_sha256: str

    def receipt(self, level: str = "DELIVERED", **over: Any) -> str:
        """A receipt on this delivery, signed by the recipient unless ``key`` says otherwise."""
        fields: dict[str, Any] = {
            "level": level,
            "packet_id": self.packet_id,
            "issuer": self.recipient.id,
            "sender": self.sender.id,
            "recipient": self.recipient.id,
            "envelope_sha256": self.envelope_sha256,
            "parts": self.parts,
            "extraction_sha256": self.extraction_sha256,
            "reason": None,
        } | over
        key: SigningKey = fields.pop("key", self.recipient.identity.signing)
        return sign_receipt(key, **fields)


async def _open_index(ex: Exchange, recipient: Party, packet_id: str) -> dict[str, Any]:
    async with Client(ex.gw.url, recipient.identity) as client:
        index: dict[str, Any] = json.loads(await client.fetch_sealed(f"/v1/deliveries/{packet_id}"))
    return index


def delivered(
    ex: Exchange, sender: Party | None = None, recipient: Party | None = None
) -> Delivery:
    """Send a two-part packet, wait until READY, and open its index as the recipient."""
    sender, recipient = sender or ex.ua, recipient or ex.ru
    files = [("a.txt", "text/plain", b"first part\n"), ("b.json", "application/json", b"{}")]
    packet = send_ready_packet(ex.gw, sender, recipient, files)
    index = asyncio.run(_open_index(ex, recipient, packet.packet_id))
    manifest = json.loads(jws.parse(index["envelope"], typ=jws.TYP_PACKET).payload)
    return Delivery(
        packet_id=packet.packet_id,
        sender=sender,
        recipient=recipient,
        envelope_sha256=sha256_hex(index["envelope"]),
        parts=[(p["name"], p["sha256"]) for p in manifest["parts"]],
        extraction_sha256=sha256_hex(index["extraction"]),
    )


def levels(ex: Exchange, party: Party, packet_id: str) -> list[str]:
    view = get(ex.gw, party, f"/v1/packets/{packet_id}").json()
    return [receipt_claims(r)["level"] for r in view["receipts"]]


def receipt_claims(compact: str) -> dict[str, Any]:
    """A receipt's claims, unverified: for reading what the gateway already checked."""
    claims: dict[str, Any] = json.loads(jws.parse(compact, typ=jws.TYP_RECEIPT).payload)
    return claims


# -- digests (422 digest-mismatch) --------------------------------------------


def test_wrong_envelope_digest(shared_exchange: Exchange) -> None:
    ex = shared_exchange
    d = delivered(ex)
    answer = post_receipt(ex.gw, ex.ru, d.receipt(envelope_sha256=sha256_hex(b"other")))
    assert_problem(answer, 422, "digest-mismatch")
    assert packet_status(ex.gw, ex.ru, d.packet_id) == "READY"


@pytest.mark.parametrize("spoil", ["digest", "order", "missing", "extra", "name"])
def test_wrong_parts(shared_exchange: Exchange, spoil: str) -> None:
    ex = shared_exchange
    d = delivered(ex)
    (a, a_sha), (b, b_sha) = d.parts
    parts = {
        "digest": [(a, a_sha), (b, sha256_hex(b"other"))],
        "order": [(b, b_sha), (a, a_sha)],
        "missing": [(a, a_sha)],
        "extra": [(a, a_sha), (b, b_sha), ("c.txt", a_sha)],
        "name": [("renamed.txt", a_sha), (b, b_sha)],
    }[spoil]
    assert_problem(post_receipt(ex.gw, ex.ru, d.receipt(parts=parts)), 422, "digest-mismatch")


@pytest.mark.parametrize("extraction", [sha256_hex(b"other"), None])
def test_wrong_extraction_digest(shared_exchange: Exchange, extraction: str | None) -> None:
    ex = shared_exchange
    d = delivered(ex)
    answer = post_receipt(ex.gw, ex.ru, d.receipt(extraction_sha256=extraction))
    assert_problem(answer, 422, "digest-mismatch")


# -- who issues it ------------------------------------------------------------


def test_receipt_by_the_sender(shared_exchange: Exchange) -> None:
    """The sender signs a receipt naming itself as issuer: it is not the recipient."""
    ex = shared_exchange
    d = delivered(ex)
    receipt = d.receipt(issuer=ex.ua.id, key=ex.ua.identity.signing)
    assert_problem(post_receipt(ex.gw, ex.ua, receipt), 403, "forbidden")


def test_receipt_signed_by_the_sender_sent_by_the_recipient(shared_exchange: Exchange) -> None:
    ex = shared_exchange
    d = delivered(ex)
    receipt = d.receipt(issuer=ex.ua.id, key=ex.ua.identity.signing)
    assert_problem(post_receipt(ex.gw, ex.ru, receipt), 403, "forbidden")


def test_receipt_naming_the_recipient_but_signed_by_the_sender(shared_exchange: Exchange) -> None:
    ex = shared_exchange
    d = delivered(ex)
    receipt = d.receipt(key=ex.ua.identity.signing)
    assert_problem(post_receipt(ex.gw, ex.ru, receipt), 401, "unauthenticated")


def test_receipt_with_a_bad_signature(shared_exchange: Exchange) -> None:
    ex = shared_exchange
    d = delivered(ex)
    head, _, sig = d.receipt().split(".")
    other = d.receipt(reason="altered").split(".")[1]
    assert_problem(post_receipt(ex.gw, ex.ru, f"{head}.{other}.{sig}"), 401, "unauthenticated")


def test_receipt_of_another_typ(shared_exchange: Exchange) -> None:
    ex = shared_exchange
    d = delivered(ex)
    payload = jws.parse(d.receipt(), typ=jws.TYP_RECEIPT).payload
    token_typed = jws.sign(payload, ex.ru.identity.signing, typ=jws.TYP_AUTH)
    assert_problem(post_receipt(ex.gw, ex.ru, token_typed), 401, "unauthenticated")


# -- what it says -------------------------------------------------------------


@pytest.mark.parametrize("level", ["ACCEPTED", "EXPIRED"])
def test_levels_only_the_gateway_issues(shared_exchange: Exchange, level: str) -> None:
    ex = shared_exchange
    d = delivered(ex)
    assert_problem(post_receipt(ex.gw, ex.ru, d.receipt(level)), 422, "invalid")


def test_other_parties_named(shared_exchange: Exchange) -> None:
    ex = shared_exchange
    d = delivered(ex)
    assert_problem(post_receipt(ex.gw, ex.ru, d.receipt(sender="mon")), 422, "invalid")


def test_rejected_without_reason(shared_exchange: Exchange) -> None:
    ex = shared_exchange
    d = delivered(ex)
    assert_problem(post_receipt(ex.gw, ex.ru, d.receipt("REJECTED")), 422, "invalid")
    assert_problem(post_receipt(ex.gw, ex.ru, d.receipt("REJECTED", reason="")), 422, "invalid")
    assert packet_status(ex.gw, ex.ru, d.packet_id) == "READY"


def test_rejected_with_reason_before_verifying_the_extraction(shared_exchange: Exchange) -> None:
    """A recipient that could not verify the extraction document names none."""
    ex = shared_exchange
    d = delivered(ex)
    receipt = d.receipt("REJECTED", reason="the extraction does not verify", extraction_sha256=None)
    assert post_receipt(ex.gw, ex.ru, receipt).status == 201
    assert packet_status(ex.gw, ex.ru, d.packet_id) == "REJECTED"


def test_receipt_schema_violation(shared_exchange: Exchange) -> None:
    ex = shared_exchange
    d = delivered(ex)
    claims = json.loads(jws.parse(d.receipt(), typ=jws.TYP_RECEIPT).payload) | {"extra": 1}
    receipt = jws.sign_json(claims, ex.ru.identity.signing, typ=jws.TYP_RECEIPT)
    assert_problem(post_receipt(ex.gw, ex.ru, receipt), 422, "invalid")


@pytest.mark.parametrize(
    "issued_at",
    ["2999-01-01T00:00:00Z", "2026-02-30T10:00:00Z"],
    ids=["future", "not-a-date"],
)
def test_issued_at_not_acceptable(shared_exchange: Exchange, issued_at: str) -> None:
    ex = shared_exchange
    d = delivered(ex)
    claims = json.loads(jws.parse(d.receipt(), typ=jws.TYP_RECEIPT).payload)
    claims["issued_at"] = issued_at
    receipt = jws.sign_json(claims, ex.ru.identity.signing, typ=jws.TYP_RECEIPT)
    assert_problem(post_receipt(ex.gw, ex.ru, receipt), 422, "invalid")


def test_receipt_on_an_unknown_packet(shared_exchange: Exchange) -> None:
    ex = shared_exchange
    d = delivered(ex)
    receipt = d.receipt(packet_id="00000000-0000-4000-8000-000000000000")
    assert_problem(post_receipt(ex.gw, ex.ru, receipt), 404, "not-found")


def test_receipt_not_sent_as_application_jose(shared_exchange: Exchange) -> None:
    ex = shared_exchange
    d = delivered(ex)
    answer = post_raw(ex.gw, ex.ru, "/v1/receipts", d.receipt().encode(), "text/plain")
    assert_problem(answer, 415, "unsupported-media-type")


def test_monitor_cannot_send_receipts(shared_exchange: Exchange) -> None:
    ex = shared_exchange
    d = delivered(ex)
    assert_problem(post_receipt(ex.gw, ex.mon, d.receipt()), 403, "forbidden")


# -- the valid ones, and the order they come in -------------------------------


def test_delivered_then_processed(shared_exchange: Exchange) -> None:
    ex = shared_exchange
    d = delivered(ex)
    first = post_receipt(ex.gw, ex.ru, d.receipt())
    assert first.status == 201
    assert first.headers["Content-Type"].startswith("application/json")
    body = first.json()
    assert set(body) == {"log_index"} and type(body["log_index"]) is int
    assert packet_status(ex.gw, ex.ru, d.packet_id) == "DELIVERED"

    processed = post_receipt(ex.gw, ex.ru, d.receipt("PROCESSED"))
    assert processed.status == 201
    assert processed.json()["log_index"] > body["log_index"]
    assert packet_status(ex.gw, ex.ua, d.packet_id) == "PROCESSED"
    assert levels(ex, ex.ua, d.packet_id) == ["ACCEPTED", "DELIVERED", "PROCESSED"]
    view = get(ex.gw, ex.ua, f"/v1/packets/{d.packet_id}").json()
    assert [t["status"] for t in view["timeline"] if "event" not in t] == [
        "ACCEPTED", "EXTRACTING", "READY", "DELIVERED", "PROCESSED",
    ]  # fmt: skip


def test_identical_receipt_again(shared_exchange: Exchange) -> None:
    ex = shared_exchange
    d = delivered(ex)
    receipt = d.receipt()
    first = post_receipt(ex.gw, ex.ru, receipt)
    assert first.status == 201
    again = post_receipt(ex.gw, ex.ru, receipt)
    assert again.status == 200
    assert again.json() == first.json()
    assert levels(ex, ex.ru, d.packet_id) == ["ACCEPTED", "DELIVERED"]


def test_processed_before_delivered_is_a_conflict(shared_exchange: Exchange) -> None:
    ex = shared_exchange
    d = delivered(ex)
    assert_problem(post_receipt(ex.gw, ex.ru, d.receipt("PROCESSED")), 409, "conflict")


def test_a_second_different_delivered_is_a_conflict(shared_exchange: Exchange) -> None:
    ex = shared_exchange
    d = delivered(ex)
    assert post_receipt(ex.gw, ex.ru, d.receipt()).status == 201
    assert_problem(post_receipt(ex.gw, ex.ru, d.receipt()), 409, "conflict")


def test_receipt_arriving_in_several_segments(shared_exchange: Exchange) -> None:
    """Regression: the body was read with one StreamReader.read, which returns what
    has arrived so far; a receipt split across TCP segments was cut short (401)."""
    ex = shared_exchange
    d = delivered(ex)
    body = d.receipt().encode()
    headers = {
        "Authorization": bearer(ex.ru, "POST", "/v1/receipts"),
        "Content-Type": "application/jose",
    }
    answer = http_in_pieces(
        ex.gw, "POST", "/v1/receipts", headers=headers, body=body, cuts=[len(body) // 2]
    )
    assert answer.status == 201, answer.body


# -- reading receipts ---------------------------------------------------------


def _page(ex: Exchange, party: Party, query: str) -> dict[str, Any]:
    answer: Answer = get(ex.gw, party, f"/v1/receipts?{query}")
    assert answer.status == 200, answer.body
    page: dict[str, Any] = answer.json()
    return page


def test_sender_reads_the_delivered_receipt(shared_exchange: Exchange) -> None:
    ex = shared_exchange
    d = delivered(ex)
    receipt = d.receipt()
    assert post_receipt(ex.gw, ex.ru, receipt).status == 201

    items = _page(ex, ex.ua, "after=0&limit=1000")["items"]
    mine = [i for i in items if i["receipt"] == receipt]
    assert len(mine) == 1
    # The sender checks the recipient's signature with the key the registry lists.
    keys = get(ex.gw, ex.ua, "/v1/parties/ru").json()["keys"]
    (sig,) = [PublicKey.from_jwk(k) for k in keys if k["use"] == "sig"]
    claims = jws.verify(jws.parse(receipt, typ=jws.TYP_RECEIPT), sig).json()
    assert (claims["level"], claims["issuer"], claims["packet_id"]) == (
        "DELIVERED", "ru", d.packet_id,
    )  # fmt: skip


def test_receipts_pagination(shared_exchange: Exchange) -> None:
    ex = shared_exchange
    for _ in range(2):
        d = delivered(ex)
        assert post_receipt(ex.gw, ex.ru, d.receipt()).status == 201

    whole = _page(ex, ex.ua, "after=0&limit=1000")
    assert whole == _page(ex, ex.ua, "limit=1000")  # no after = from the start
    indexes = [i["log_index"] for i in whole["items"]]
    assert indexes == sorted(set(indexes)) and len(indexes) >= 6

    collected: list[dict[str, Any]] = []
    cursor = 0
    while True:
        page = _page(ex, ex.ua, f"after={cursor}&limit=2")
        assert len(page["items"]) <= 2
        if not page["items"]:
            assert page["next"] == cursor  # the end: the cursor stays where it is
            break
        collected += page["items"]
        assert page["next"] > cursor
        cursor = page["next"]
    assert collected == whole["items"]
    assert _page(ex, ex.ua, f"after={whole['next']}&limit=10")["items"] == []


def test_receipts_are_read_only_by_their_parties(shared_exchange: Exchange) -> None:
    ex = shared_exchange
    d = delivered(ex)
    outsider = ex.gw.add_party("outsider")
    assert _page(ex, outsider, "after=0")["items"] == []
    items = _page(ex, ex.mon, "after=0&limit=1000")["items"]
    monitor_sees = [receipt_claims(i["receipt"])["packet_id"] for i in items]
    assert d.packet_id in monitor_sees
