"""``gateway pull`` verifies before it acknowledges (issue 2, SPEC §5, §6).

When anything fails to verify, the recipient writes nothing and answers
REJECTED with the reason; the sender reads that receipt.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from gateway.party.client import Client
from gateway.party.pull import Puller, PullResult
from gateway.protocol.crypto import jws
from gateway.protocol.crypto.keys import PublicKey, SigningKey
from tests.conftest import Exchange
from tests.harness import get, make_packet, post_packet, tiny_pdf, wait_for


def _send(ex: Exchange) -> str:
    packet = make_packet(ex.ua, "ru", [("dossier.pdf", "application/pdf", tiny_pdf("pull"))])
    assert post_packet(ex.gw, ex.ua, packet).status == 202
    wait_for(lambda: get(ex.gw, ex.ru, f"/v1/packets/{packet.packet_id}").json()["status"]
             == "READY")
    return packet.packet_id


def _pull(
    ex: Exchange,
    out: Path,
    *,
    trusted_keys: dict[str, list[PublicKey]] | None = None,
    gateway_key: PublicKey | None = None,
) -> list[PullResult]:
    async def run() -> list[PullResult]:
        async with Client(ex.gw.url, ex.ru.identity, trusted_keys=trusted_keys,
                          gateway_key=gateway_key) as client:
            return await Puller(client).pull(out)

    return asyncio.run(run())


def _levels(ex: Exchange, packet_id: str) -> list[dict[str, object]]:
    view = get(ex.gw, ex.ua, f"/v1/packets/{packet_id}").json()
    return [json.loads(jws.parse(r, typ=jws.TYP_RECEIPT).payload) for r in view["receipts"]]


def test_an_envelope_not_signed_by_a_trusted_key_is_rejected_and_nothing_written(
    exchange: Exchange, tmp_path: Path
) -> None:
    packet_id = _send(exchange)
    impostor = SigningKey.generate().public  # the key ru pinned for ua is not ua's
    (result,) = _pull(exchange, tmp_path, trusted_keys={"ua": [impostor]})
    assert (result.packet_id, result.level) == (packet_id, "REJECTED")
    assert result.reason is not None and "trusted key" in result.reason
    assert result.folder is None
    assert not (tmp_path / packet_id).exists()
    receipts = _levels(exchange, packet_id)
    assert [r["level"] for r in receipts] == ["ACCEPTED", "REJECTED"]
    assert receipts[1]["reason"] == result.reason
    assert get(exchange.gw, exchange.ua, f"/v1/packets/{packet_id}").json()["status"] == (
        "REJECTED")


def test_an_extraction_not_signed_by_the_pinned_gateway_key_is_rejected(
    exchange: Exchange, tmp_path: Path
) -> None:
    packet_id = _send(exchange)
    wrong: PublicKey = SigningKey.generate().public
    (result,) = _pull(exchange, tmp_path, gateway_key=wrong)
    assert result.level == "REJECTED"
    assert result.reason is not None and "pinned" in result.reason
    (rejected,) = [r for r in _levels(exchange, packet_id) if r["level"] == "REJECTED"]
    assert rejected["extraction_sha256"] is None  # it could not be verified
    assert not (tmp_path / packet_id).exists()
