"""``gateway pull`` verifies before it acknowledges (issue 2, SPEC §5, §6), with
keys the party pinned itself, judged at the time the packet says it was made
(issue 8, deliver 2).

When anything fails to verify, the recipient writes nothing and answers
REJECTED with the reason; the sender reads that receipt. A key the gateway
serves but the party never pinned verifies nothing.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway.party.client import Client
from gateway.party.pull import Puller, PullResult
from gateway.party.trust import PinnedGateway, TrustStore, party_keys_from_file
from gateway.protocol.clock import now
from gateway.protocol.crypto import jws
from gateway.protocol.crypto.keys import SigningKey
from gateway.protocol.errors import LocalError
from gateway.protocol.trust import RegisteredKey
from tests.conftest import Exchange
from tests.harness import (
    Packet,
    Party,
    get,
    make_packet,
    post_packet,
    run_cli,
    tiny_pdf,
    wait_for,
)


def _send(ex: Exchange, *, sender: Party | None = None, **manifest_kw: Any) -> str:
    packet = make_packet(
        sender or ex.ua, "ru", [("dossier.pdf", "application/pdf", tiny_pdf("pull"))],
        **manifest_kw,
    )
    assert post_packet(ex.gw, sender or ex.ua, packet).status == 202
    _ready(ex, packet)
    return packet.packet_id


def _ready(ex: Exchange, packet: Packet) -> None:
    wait_for(lambda: get(ex.gw, ex.ru, f"/v1/packets/{packet.packet_id}").json()["status"]
             == "READY")


def _store(ex: Exchange) -> TrustStore:
    """ru's trust store as the harness pins it: the gateway and ua, out of band."""
    return TrustStore.load(ex.gw.trust_file(ex.ru, partners=[ex.ua]))


def _pull_one(ex: Exchange, out: Path, packet_id: str, trust: TrustStore | None) -> PullResult:
    async def run() -> PullResult:
        async with Client(ex.gw.url, ex.ru.identity, trust=trust) as client:
            return await Puller(client).pull_one(packet_id, out)

    return asyncio.run(run())


def _levels(ex: Exchange, packet_id: str) -> list[dict[str, object]]:
    view = get(ex.gw, ex.ua, f"/v1/packets/{packet_id}").json()
    return [json.loads(jws.parse(r, typ=jws.TYP_RECEIPT).payload) for r in view["receipts"]]


def _ua_key(ex: Exchange) -> RegisteredKey:
    (key,) = party_keys_from_file(Path(f"{ex.ua.prefix}.pub.json"))
    return key


def test_an_envelope_not_signed_by_a_trusted_key_is_rejected_and_nothing_written(
    shared_exchange: Exchange, tmp_path: Path
) -> None:
    ex = shared_exchange
    packet_id = _send(ex)
    impostor = RegisteredKey(SigningKey.generate().public)  # what ru pinned for ua is not ua's
    store = TrustStore(gateway=_store(ex).gateway).with_party_keys("ua", [impostor])
    result = _pull_one(ex, tmp_path, packet_id, store)
    assert (result.packet_id, result.level) == (packet_id, "REJECTED")
    assert result.reason is not None and "not a key of 'ua' pinned" in result.reason
    assert result.folder is None
    assert not (tmp_path / packet_id).exists()
    receipts = _levels(ex, packet_id)
    assert [r["level"] for r in receipts] == ["ACCEPTED", "REJECTED"]
    assert receipts[1]["reason"] == result.reason
    assert get(ex.gw, ex.ua, f"/v1/packets/{packet_id}").json()["status"] == "REJECTED"


def test_an_extraction_not_signed_by_the_pinned_gateway_key_is_rejected(
    shared_exchange: Exchange, tmp_path: Path
) -> None:
    ex = shared_exchange
    packet_id = _send(ex)
    pinned = _store(ex)
    assert pinned.gateway is not None
    wrong = PinnedGateway(pinned.gateway.id, pinned.gateway.origin,
                          (RegisteredKey(SigningKey.generate().public),))
    result = _pull_one(ex, tmp_path, packet_id, pinned.with_gateway(wrong))
    assert result.level == "REJECTED"
    assert result.reason is not None and "not a key of 'gw' pinned" in result.reason
    (rejected,) = [r for r in _levels(ex, packet_id) if r["level"] == "REJECTED"]
    assert rejected["extraction_sha256"] is None  # it could not be verified
    assert not (tmp_path / packet_id).exists()


def test_a_key_swapped_into_the_gateways_registry_is_rejected(
    shared_exchange: Exchange, tmp_path: Path
) -> None:
    """Regression (issue 8): the party used to fetch the sender's keys from the
    very gateway it checks, so a gateway that registered a key of its own
    choosing under ``ua`` could forge ua's packets."""
    ex = shared_exchange
    forger = ex.gw.root.parent / "keys" / "forger"
    run_cli("keygen", str(forger))
    run_cli("party", "add", str(ex.gw.root), "ua", "--role", "party",
            "--keys", f"{forger}.pub.json")
    fake_ua = Party("ua", forger, type(ex.ua.identity).load("ua", forger))
    served = get(ex.gw, ex.ru, "/v1/parties/ua").json()["keys"]
    assert fake_ua.identity.signing.kid in {k["kid"] for k in served}  # the gateway vouches
    packet_id = _send(ex, sender=fake_ua)
    result = _pull_one(ex, tmp_path, packet_id, _store(ex))
    assert result.level == "REJECTED"
    assert result.reason is not None
    assert f"signed by key {fake_ua.identity.signing.kid}" in result.reason
    assert "not a key of 'ua' pinned" in result.reason
    assert not (tmp_path / packet_id).exists()
    run_cli("party", "revoke-key", str(ex.gw.root), "ua", fake_ua.identity.signing.kid)


def test_a_key_revoked_after_created_verifies_and_one_created_after_revocation_does_not(
    shared_exchange: Exchange, tmp_path: Path
) -> None:
    ex = shared_exchange
    start = now().replace(microsecond=0)
    before = _send(ex, created=start - timedelta(seconds=120))
    after = _send(ex, created=start - timedelta(seconds=10))
    revoked = _store(ex).revoke("ua", _ua_key(ex).kid, start - timedelta(seconds=60))

    early = _pull_one(ex, tmp_path, before, revoked)
    assert early.level == "DELIVERED", early.reason
    assert early.folder is not None and (early.folder / "parts" / "dossier.pdf").exists()

    late = _pull_one(ex, tmp_path, after, revoked)
    assert late.level == "REJECTED"
    assert late.reason is not None and "revoked at" in late.reason
    assert not (tmp_path / after).exists()


def test_a_key_not_yet_valid_when_the_packet_was_created_is_rejected(
    shared_exchange: Exchange, tmp_path: Path
) -> None:
    ex = shared_exchange
    created = now().replace(microsecond=0) - timedelta(seconds=60)
    packet_id = _send(ex, created=created)
    key = _ua_key(ex)
    pinned = TrustStore(gateway=_store(ex).gateway).with_party_keys(
        "ua", [RegisteredKey(key.key, not_before=created + timedelta(seconds=30))]
    )
    result = _pull_one(ex, tmp_path, packet_id, pinned)
    assert result.level == "REJECTED"
    assert result.reason is not None and "not valid before" in result.reason


def test_pull_without_the_senders_pin_refuses_and_rejects_nothing(
    shared_exchange: Exchange, tmp_path: Path
) -> None:
    ex = shared_exchange
    packet_id = _send(ex)
    only_gateway = TrustStore(gateway=_store(ex).gateway)
    with pytest.raises(LocalError, match="gateway trust add FILE ua"):
        _pull_one(ex, tmp_path, packet_id, only_gateway)
    with pytest.raises(LocalError, match="--trust"):
        _pull_one(ex, tmp_path, packet_id, None)
    assert [r["level"] for r in _levels(ex, packet_id)] == ["ACCEPTED"]
    assert _pull_one(ex, tmp_path, packet_id, _store(ex)).level == "DELIVERED"
