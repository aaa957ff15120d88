"""SPEC §5: who reads a delivery, and the inbox cursor.

The inbox is always the caller's own, so the rules to test are about the
other doors: another party's delivery index and blobs, another party's
packet status, a monitor at the inbox, a blob that is not in the packet.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gateway.protocol.crypto.digest import sha256_hex
from gateway.protocol.crypto.keys import EncryptionKey, SigningKey, save_private_key
from gateway.protocol.crypto.seal import open_sealed
from gateway.protocol.errors import Invalid
from tests.conftest import Exchange
from tests.harness import (
    Answer,
    Party,
    assert_problem,
    get,
    run_cli,
    send_ready_packet,
)

SEALED = "application/vnd.dxg.sealed"
PART = b"a part only the recipient reads\n"


@pytest.fixture(scope="module")
def outsider(shared_exchange: Exchange) -> Party:
    """A registered party that is neither sender nor recipient of ua -> ru packets."""
    return shared_exchange.gw.add_party("pl")


def ready(ex: Exchange) -> str:
    packet = send_ready_packet(ex.gw, ex.ua, ex.ru, [("a.txt", "text/plain", PART)])
    return packet.packet_id


# -- who may read -------------------------------------------------------------


def test_recipient_reads_index_and_blob(shared_exchange: Exchange) -> None:
    """The control for the refusals below."""
    ex = shared_exchange
    packet_id = ready(ex)
    index = get(ex.gw, ex.ru, f"/v1/deliveries/{packet_id}")
    assert index.status == 200 and index.headers["Content-Type"] == SEALED
    blob = get(ex.gw, ex.ru, f"/v1/deliveries/{packet_id}/blobs/{sha256_hex(PART)}")
    assert blob.status == 200 and blob.headers["Content-Type"] == SEALED
    assert open_sealed(blob.body, ex.ru.identity.encryption) == PART


def test_third_party_reads_delivery_index(shared_exchange: Exchange, outsider: Party) -> None:
    ex = shared_exchange
    answer = get(ex.gw, outsider, f"/v1/deliveries/{ready(ex)}")
    assert_problem(answer, 403, "forbidden")


def test_third_party_reads_blob(shared_exchange: Exchange, outsider: Party) -> None:
    ex = shared_exchange
    answer = get(ex.gw, outsider, f"/v1/deliveries/{ready(ex)}/blobs/{sha256_hex(PART)}")
    assert_problem(answer, 403, "forbidden")


def test_sender_reads_its_own_delivery(shared_exchange: Exchange) -> None:
    """The sender has the bytes already; the delivery is the recipient's alone."""
    ex = shared_exchange
    assert_problem(get(ex.gw, ex.ua, f"/v1/deliveries/{ready(ex)}"), 403, "forbidden")


def test_third_party_reads_packet_status(shared_exchange: Exchange, outsider: Party) -> None:
    ex = shared_exchange
    packet_id = ready(ex)
    assert get(ex.gw, ex.ua, f"/v1/packets/{packet_id}").status == 200
    assert get(ex.gw, ex.ru, f"/v1/packets/{packet_id}").status == 200
    assert_problem(get(ex.gw, outsider, f"/v1/packets/{packet_id}"), 403, "forbidden")


def test_monitor_reads_packet_status(shared_exchange: Exchange) -> None:
    ex = shared_exchange
    assert_problem(get(ex.gw, ex.mon, f"/v1/packets/{ready(ex)}"), 403, "forbidden")


@pytest.mark.parametrize("path", ["/v1/inbox", "/v1/inbox?after=0&limit=10"])
def test_monitor_calls_inbox(shared_exchange: Exchange, path: str) -> None:
    ex = shared_exchange
    assert_problem(get(ex.gw, ex.mon, path), 403, "forbidden")


def test_monitor_reads_a_delivery(shared_exchange: Exchange) -> None:
    ex = shared_exchange
    assert_problem(get(ex.gw, ex.mon, f"/v1/deliveries/{ready(ex)}"), 403, "forbidden")


# -- what there is to read ----------------------------------------------------


def test_blob_not_in_the_packet(shared_exchange: Exchange) -> None:
    ex = shared_exchange
    answer = get(ex.gw, ex.ru, f"/v1/deliveries/{ready(ex)}/blobs/{sha256_hex(b'elsewhere')}")
    assert_problem(answer, 404, "not-found")


def test_blob_of_another_packet(shared_exchange: Exchange) -> None:
    ex = shared_exchange
    data = b"other bytes\n"
    other = send_ready_packet(ex.gw, ex.ua, ex.ru, [("b.txt", "text/plain", data)])
    answer = get(ex.gw, ex.ru, f"/v1/deliveries/{ready(ex)}/blobs/{sha256_hex(data)}")
    assert_problem(answer, 404, "not-found")
    assert get(ex.gw, ex.ru, f"/v1/deliveries/{other.packet_id}").status == 200


def test_unknown_packet(shared_exchange: Exchange) -> None:
    ex = shared_exchange
    answer = get(ex.gw, ex.ru, "/v1/deliveries/00000000-0000-4000-8000-000000000000")
    assert_problem(answer, 404, "not-found")


@pytest.mark.parametrize("blob", ["ABC", "A" * 64, "0" * 63 + "g"])
def test_blob_name_not_a_sha256(shared_exchange: Exchange, blob: str) -> None:
    ex = shared_exchange
    answer = get(ex.gw, ex.ru, f"/v1/deliveries/{ready(ex)}/blobs/{blob}")
    assert_problem(answer, 400, "bad-request")


def test_dot_segments_reach_no_blob(shared_exchange: Exchange) -> None:
    ex = shared_exchange
    answer = get(ex.gw, ex.ru, f"/v1/deliveries/{ready(ex)}/blobs/../../../gateway")
    assert_problem(answer, 404, "not-found")


def _keys_sorting_before(prefix: Path, kid: str) -> tuple[SigningKey, EncryptionKey]:
    """New keys whose X25519 kid sorts before ``kid``: a tie on the registration
    time must then be broken by the order the keys were added, not by kid."""
    enc = EncryptionKey.generate()
    while enc.kid >= kid:
        enc = EncryptionKey.generate()
    sig = SigningKey.generate()
    save_private_key(Path(f"{prefix}.sig.jwk"), sig)
    save_private_key(Path(f"{prefix}.enc.jwk"), enc)
    public = {"sig": sig.public.to_jwk(with_meta=True), "enc": enc.public.to_jwk(with_meta=True)}
    Path(f"{prefix}.pub.json").write_text(json.dumps(public))
    return sig, enc


def test_delivery_is_sealed_to_the_newest_key(shared_exchange: Exchange) -> None:
    """SPEC §5 seals to the recipient's current key: after rotation, the new one.

    Regression: keys were ordered by (added_at, kid) with added_at in whole
    seconds, so a key added in the same second as the old one lost to it
    whenever its kid sorted first, and deliveries went on being sealed to
    the old key.
    """
    ex = shared_exchange
    old = ex.gw.add_party("rotd")
    new_prefix = ex.gw.root.parent / "keys" / "rotd-2"
    _, new_enc = _keys_sorting_before(new_prefix, old.identity.encryption.kid)
    run_cli("party", "add", str(ex.gw.root), "rotd", "--role", "party",
            "--keys", f"{new_prefix}.pub.json")  # fmt: skip

    packet = send_ready_packet(ex.gw, ex.ua, old)
    sealed = get(ex.gw, old, f"/v1/deliveries/{packet.packet_id}").body
    assert b'"packet_id"' in open_sealed(sealed, new_enc)
    with pytest.raises(Invalid):
        open_sealed(sealed, old.identity.encryption)


# -- the inbox cursor ---------------------------------------------------------

ITEM_MEMBERS = {"packet_id", "sender", "kind", "created", "ready_at", "status"}


def inbox(ex: Exchange, party: Party, query: str = "") -> dict[str, Any]:
    answer: Answer = get(ex.gw, party, "/v1/inbox" + query)
    assert answer.status == 200, answer.body
    page: dict[str, Any] = answer.json()
    return page


def test_inbox_cursor(shared_exchange: Exchange) -> None:
    ex = shared_exchange
    box = ex.gw.add_party("inb")
    assert inbox(ex, box, "?after=0") == {"items": [], "next": 0}

    sent = [send_ready_packet(ex.gw, ex.ua, box).packet_id for _ in range(3)]
    whole = inbox(ex, box, "?after=0")
    assert inbox(ex, box) == whole  # no after: from the beginning
    assert sorted(i["packet_id"] for i in whole["items"]) == sorted(sent)
    for item in whole["items"]:
        assert set(item) == ITEM_MEMBERS
        assert (item["sender"], item["kind"], item["status"]) == ("ua", "dossier", "READY")
    ready_at = [i["ready_at"] for i in whole["items"]]
    assert ready_at == sorted(ready_at)  # in the order they became READY

    paged: list[dict[str, Any]] = []
    cursor = 0
    while True:
        page = inbox(ex, box, f"?after={cursor}&limit=1")
        if not page["items"]:
            assert page["next"] == cursor
            break
        assert len(page["items"]) == 1
        paged += page["items"]
        assert page["next"] != cursor
        cursor = page["next"]
    assert paged == whole["items"]
    assert cursor == whole["next"]

    # The cursor continues: a packet that becomes READY later comes after it.
    late = send_ready_packet(ex.gw, ex.ru, box).packet_id
    after = inbox(ex, box, f"?after={cursor}")
    assert [i["packet_id"] for i in after["items"]] == [late]
    assert inbox(ex, box, f"?after={after['next']}")["items"] == []


def test_inbox_limit_is_bounded(shared_exchange: Exchange) -> None:
    ex = shared_exchange
    page = inbox(ex, ex.ru, "?after=0&limit=1000000")
    assert len(page["items"]) <= 1000


@pytest.mark.parametrize("query", ["?after=-1", "?after=x", "?limit=0", "?limit=ten"])
def test_inbox_bad_cursor(shared_exchange: Exchange, query: str) -> None:
    ex = shared_exchange
    assert_problem(get(ex.gw, ex.ru, "/v1/inbox" + query), 400, "bad-request")


def test_inbox_is_the_callers_own(shared_exchange: Exchange, outsider: Party) -> None:
    ex = shared_exchange
    packet_id = ready(ex)
    assert packet_id in [i["packet_id"] for i in inbox(ex, ex.ru, "?limit=1000")["items"]]
    mine = [i["packet_id"] for i in inbox(ex, outsider, "?limit=1000")["items"]]
    assert packet_id not in mine
    assert packet_id not in [i["packet_id"] for i in inbox(ex, ex.ua, "?limit=1000")["items"]]
