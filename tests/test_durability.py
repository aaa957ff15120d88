"""Durable before acknowledged; notifications that survive an offline recipient."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from gateway.party.pull import Puller
from gateway.protocol.crypto import jws
from gateway.protocol.crypto.keys import PublicKey
from tests.harness import (
    GatewayProcess,
    Party,
    free_port,
    get,
    http,
    make_packet,
    post_packet,
    start_gateway,
    tiny_pdf,
    wait_for,
)


def _status(gw: GatewayProcess, party: Party, packet_id: str) -> dict[str, Any]:
    view: dict[str, Any] = get(gw, party, f"/v1/packets/{packet_id}").json()
    return view


def test_sigkill_right_after_202_loses_nothing_and_delivers_once(tmp_path: Path) -> None:
    gw = start_gateway(tmp_path)
    ua, ru = gw.add_party("ua"), gw.add_party("ru")
    gw.start()
    packet = make_packet(ua, "ru", [("dossier.pdf", "application/pdf", tiny_pdf("crash"))])
    first = post_packet(gw, ua, packet)
    assert first.status == 202
    gw.kill()  # SIGKILL: no drain, no cleanup

    gw.start()
    try:
        wait_for(lambda: _status(gw, ua, packet.packet_id)["status"] == "READY")
        retry = post_packet(gw, ua, packet)
        assert retry.status == 200
        assert retry.json() == first.json()

        async def pull() -> list[str]:
            async with gw.client(ru) as client:
                results = await Puller(client).pull(tmp_path / "inbox")
                again = await Puller(client).pull(tmp_path / "inbox", after=0)
            assert again == []  # DELIVERED already: nothing is delivered twice
            return [r.packet_id for r in results if r.level == "DELIVERED"]

        assert asyncio.run(pull()) == [packet.packet_id]
        inbox = get(gw, ru, "/v1/inbox?after=0").json()
        assert [i["packet_id"] for i in inbox["items"]] == [packet.packet_id]
        delivered = tmp_path / "inbox" / packet.packet_id / "parts" / "dossier.pdf"
        assert delivered.read_bytes() == packet.files[0][1]
    finally:
        gw.stop()


def test_sigterm_drains_and_exits_zero(tmp_path: Path) -> None:
    gw = start_gateway(tmp_path)
    gw.add_party("ua")
    gw.start()
    assert http("GET", gw.url + "/healthz").status == 200
    assert gw.terminate() == 0


def test_notifications_retry_until_the_recipient_is_back(tmp_path: Path) -> None:
    port = free_port()
    gw = start_gateway(tmp_path, config={"notify_backoff_base_s": 0.2, "notify_backoff_max_s": 0.5})
    ua = gw.add_party("ua")
    ru = gw.add_party("ru", endpoint=f"http://127.0.0.1:{port}/notify")
    gw.start()
    listener = None
    try:
        packet = make_packet(ua, "ru", [("note.txt", "text/plain", b"hello\n")])
        assert post_packet(gw, ua, packet).status == 202

        def attempts() -> list[dict[str, Any]]:
            return [
                t["event"]["notification"]
                for t in _status(gw, ua, packet.packet_id)["timeline"]
                if "event" in t
            ]

        wait_for(lambda: len(attempts()) >= 3, timeout=60)
        assert not any(a["delivered"] for a in attempts())  # the recipient is offline

        received = tmp_path / "notifications.txt"
        listener = subprocess.Popen(
            [sys.executable, "-m", "tests.notify_listener", str(port), str(received)]
        )
        wait_for(lambda: any(a["delivered"] for a in attempts()), timeout=60)
        final = attempts()
        assert final[-1]["delivered"] is True
        assert [a["attempt"] for a in final] == list(range(1, len(final) + 1))

        (token,) = received.read_text().split()
        key = PublicKey.from_jwk(http("GET", gw.url + "/v1/gateway").json()["keys"][0])
        claims = json.loads(jws.verify(jws.parse(token, typ=jws.TYP_NOTIFY), key).payload)
        assert claims["packet_id"] == packet.packet_id
        assert (claims["sender"], claims["recipient"]) == ("ua", "ru")

        # Nothing was lost while the recipient was away.
        inbox = get(gw, ru, "/v1/inbox").json()
        assert [i["packet_id"] for i in inbox["items"]] == [packet.packet_id]
    finally:
        if listener is not None:
            listener.terminate()
            listener.wait(10)
        gw.stop()


def test_a_packet_never_fetched_expires_with_a_gateway_receipt(tmp_path: Path) -> None:
    gw = start_gateway(tmp_path, config={"delivery_ttl_s": 1, "sweep_interval_s": 0.2})
    ua, ru = gw.add_party("ua"), gw.add_party("ru")
    gw.start()
    try:
        packet = make_packet(ua, "ru", [("note.txt", "text/plain", b"hello\n")])
        assert post_packet(gw, ua, packet).status == 202
        view = wait_for(
            lambda: (v := _status(gw, ua, packet.packet_id))["status"] == "EXPIRED" and v
        )
        key = PublicKey.from_jwk(http("GET", gw.url + "/v1/gateway").json()["keys"][0])
        levels = [
            json.loads(jws.verify(jws.parse(r, typ=jws.TYP_RECEIPT), key).payload)
            for r in view["receipts"]
        ]
        assert [r["level"] for r in levels] == ["ACCEPTED", "EXPIRED"]
        assert levels[1]["issuer"] == "gw" and levels[1]["reason"]
        late = get(gw, ru, f"/v1/deliveries/{packet.packet_id}")
        assert late.status == 409
        assert late.json()["type"] == "urn:dxg:error:conflict"
    finally:
        gw.stop()
