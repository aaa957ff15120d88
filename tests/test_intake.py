"""SPEC §3: packet intake, one broken rule per test.

Most tests share one gateway with the default limits; the limit tests run
their own gateway with small limits so that they stay fast. Every packet has
its own id, so the tests do not see each other.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from gateway.protocol.crypto import jws
from gateway.protocol.crypto.digest import sha256_hex
from gateway.protocol.crypto.keys import PublicKey, SigningKey, b64url
from tests.conftest import Exchange, running_exchange
from tests.harness import (
    Answer,
    GatewayProcess,
    Packet,
    Party,
    assert_problem,
    bearer,
    compact_jws,
    get,
    http,
    http_in_pieces,
    make_packet,
    manifest_doc,
    multipart,
    packet_from_doc,
    post_packet,
    post_raw,
    tiny_pdf,
    wait_ready,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(17)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(16)
TIFF = b"II*\x00\x08\x00\x00\x00" + bytes(16)
FAKE_PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n%%EOF\n"
TEXT = "a note, and Cyrillic: Примітка\n".encode()
JSON = b'{"case": 1}'


def note(name: str = "note.txt", data: bytes = TEXT) -> list[tuple[str, str, bytes]]:
    return [(name, "text/plain", data)]


def created(offset_s: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + offset_s))


def submit_doc(
    ex: Exchange,
    doc: dict[str, Any],
    files: list[tuple[str, bytes]],
    *,
    key: SigningKey | None = None,
    caller: Party | None = None,
) -> Answer:
    packet = packet_from_doc(doc, files, key or ex.ua.identity.signing)
    return post_packet(ex.gw, caller or ex.ua, packet)


def gateway_key(gw: GatewayProcess) -> PublicKey:
    (jwk,) = http("GET", gw.url + "/v1/gateway").json()["keys"]
    return PublicKey.from_jwk(jwk)


# -- acceptance ---------------------------------------------------------------


def test_accepted_body_and_receipt(shared_exchange: Exchange) -> None:
    ex = shared_exchange
    files = [
        ("dossier.pdf", "application/pdf", tiny_pdf()),
        ("photo.png", "image/png", PNG),
        ("photo.jpg", "image/jpeg", JPEG),
        ("scan.tif", "image/tiff", TIFF),
        ("data.json", "application/json", JSON),
        ("note.txt", "text/plain", TEXT),
    ]
    packet = make_packet(ex.ua, "ru", files)
    answer = post_packet(ex.gw, ex.ua, packet)

    assert answer.status == 202, answer.body
    assert answer.headers["Content-Type"].startswith("application/json")
    body = answer.json()
    assert set(body) == {"packet_id", "status", "receipt", "log_index"}
    assert body["packet_id"] == packet.packet_id
    assert body["status"] == "ACCEPTED"
    assert type(body["log_index"]) is int and body["log_index"] >= 0

    parsed = jws.parse(body["receipt"], typ=jws.TYP_RECEIPT)
    assert parsed.header["alg"] == "Ed25519"
    claims = jws.verify(parsed, gateway_key(ex.gw)).json()
    assert claims["v"] == 1
    assert uuid.UUID(claims["receipt_id"])
    assert claims["level"] == "ACCEPTED"
    assert (claims["packet_id"], claims["issuer"], claims["sender"], claims["recipient"]) == (
        packet.packet_id,
        "gw",
        "ua",
        "ru",
    )
    assert claims["envelope_sha256"] == sha256_hex(packet.envelope)
    assert claims["parts"] == [{"name": n, "sha256": sha256_hex(d)} for n, _, d in files]
    assert claims["extraction_sha256"] is None
    assert claims["reason"] is None

    view = get(ex.gw, ex.ua, f"/v1/packets/{packet.packet_id}").json()
    assert view["receipts"][0] == body["receipt"]
    assert view["timeline"][0]["status"] == "ACCEPTED"


def test_identical_retry_answers_200_with_the_same_body(shared_exchange: Exchange) -> None:
    ex = shared_exchange
    packet = make_packet(ex.ua, "ru", note())
    first = post_packet(ex.gw, ex.ua, packet)
    assert first.status == 202
    again = post_packet(ex.gw, ex.ua, packet)
    assert again.status == 200
    assert again.json() == first.json()

    wait_ready(ex.gw, ex.ua, packet.packet_id)
    view = get(ex.gw, ex.ua, f"/v1/packets/{packet.packet_id}").json()
    assert [json.loads(jws.parse(r, typ=jws.TYP_RECEIPT).payload)["level"]
            for r in view["receipts"]] == ["ACCEPTED"]  # fmt: skip
    inbox = get(ex.gw, ex.ru, "/v1/inbox?after=0&limit=1000").json()["items"]
    assert [i["packet_id"] for i in inbox].count(packet.packet_id) == 1


def test_same_packet_id_with_another_envelope_is_a_conflict(shared_exchange: Exchange) -> None:
    ex = shared_exchange
    packet = make_packet(ex.ua, "ru", note(data=b"first\n"))
    assert post_packet(ex.gw, ex.ua, packet).status == 202
    other = make_packet(ex.ua, "ru", note(data=b"second\n"), packet_id=packet.packet_id)
    assert_problem(post_packet(ex.gw, ex.ua, other), 409, "conflict")


def test_same_packet_id_from_another_sender_is_a_conflict(shared_exchange: Exchange) -> None:
    ex = shared_exchange
    packet = make_packet(ex.ua, "ru", note())
    assert post_packet(ex.gw, ex.ua, packet).status == 202
    theirs = make_packet(ex.ru, "ua", note(), packet_id=packet.packet_id)
    assert_problem(post_packet(ex.gw, ex.ru, theirs), 409, "conflict")


def test_a_refused_packet_leaves_nothing_behind(shared_exchange: Exchange) -> None:
    """After a digest mismatch, the same packet id with the right bytes is a first submission."""
    ex = shared_exchange
    bad = make_packet(ex.ua, "ru", note(), declared={"note.txt": {"sha256": "0" * 64}})
    assert_problem(post_packet(ex.gw, ex.ua, bad), 422, "digest-mismatch")
    good = make_packet(ex.ua, "ru", note(), packet_id=bad.packet_id)
    assert post_packet(ex.gw, ex.ua, good).status == 202


def test_created_a_little_in_the_future_is_accepted(shared_exchange: Exchange) -> None:
    ex = shared_exchange
    doc = manifest_doc("ua", "ru", note(), created=created(200))
    assert submit_doc(ex, doc, [("note.txt", TEXT)]).status == 202


def test_alg_eddsa_envelope_is_accepted(shared_exchange: Exchange) -> None:
    ex = shared_exchange
    doc = manifest_doc("ua", "ru", note())
    header = {"alg": "EdDSA", "kid": ex.ua.identity.signing.kid, "typ": "dxg-packet+jws"}
    envelope = compact_jws(header, json.dumps(doc).encode(), ex.ua.identity.signing)
    packet = Packet(doc["packet_id"], envelope, [("note.txt", TEXT)])
    assert post_packet(ex.gw, ex.ua, packet).status == 202


# -- who sends it (401/403) ---------------------------------------------------


def test_envelope_signed_by_another_partys_key(shared_exchange: Exchange) -> None:
    ex = shared_exchange
    doc = manifest_doc("ua", "ru", note())
    answer = submit_doc(ex, doc, [("note.txt", TEXT)], key=ex.ru.identity.signing)
    assert_problem(answer, 403, "forbidden")


def test_manifest_naming_another_sender(shared_exchange: Exchange) -> None:
    ex = shared_exchange
    doc = manifest_doc("ru", "ua", note())
    assert_problem(submit_doc(ex, doc, [("note.txt", TEXT)]), 403, "forbidden")


def test_envelope_signed_by_an_unknown_key(shared_exchange: Exchange) -> None:
    ex = shared_exchange
    doc = manifest_doc("ua", "ru", note())
    answer = submit_doc(ex, doc, [("note.txt", TEXT)], key=SigningKey.generate())
    assert_problem(answer, 401, "unauthenticated")


def test_envelope_with_a_bad_signature(shared_exchange: Exchange) -> None:
    ex = shared_exchange
    packet = make_packet(ex.ua, "ru", note())
    head, _, sig = packet.envelope.split(".")
    altered = b64url(json.dumps(manifest_doc("ua", "ru", note())).encode())
    forged = Packet(packet.packet_id, f"{head}.{altered}.{sig}", packet.files)
    assert_problem(post_packet(ex.gw, ex.ua, forged), 401, "unauthenticated")


def test_envelope_of_another_typ(shared_exchange: Exchange) -> None:
    ex = shared_exchange
    doc = manifest_doc("ua", "ru", note())
    envelope = jws.sign(json.dumps(doc).encode(), ex.ua.identity.signing, typ=jws.TYP_RECEIPT)
    packet = Packet(doc["packet_id"], envelope, [("note.txt", TEXT)])
    assert_problem(post_packet(ex.gw, ex.ua, packet), 401, "unauthenticated")


def test_monitor_cannot_submit(shared_exchange: Exchange) -> None:
    ex = shared_exchange
    packet = make_packet(ex.mon, "ru", note())
    assert_problem(post_packet(ex.gw, ex.mon, packet), 403, "forbidden")


# -- what the manifest says (422) ---------------------------------------------


def part(**over: Any) -> dict[str, Any]:
    return {"name": "a.txt", "media_type": "text/plain", "size": 1, "sha256": "0" * 64} | over


@pytest.mark.parametrize(
    "change",
    [
        {"v": 2},
        {"packet_id": "not-a-uuid"},
        {"packet_id": "4BD426C5-7407-4AB9-970E-F4DAE9D9D08E"},
        {"kind": "gossip"},
        {"purpose": "marketing"},
        {"legal_basis": []},
        {"legal_basis": ["curiosity"]},
        {"legal_basis": ["consent", "consent"]},
        {"in_reply_to": "yesterday"},
        {"created": "2026-03-01 10:00:00"},
        {"created": "2026-03-01T10:00:00+01:00"},
        {"created": "2026-02-30T10:00:00Z"},  # the pattern passes, the calendar does not
        {"created": "2026-13-01T25:61:00Z"},
        {"recipient": "RU"},
        {"body": "not an object"},
        {"extra": True},
        {"parts": [part(name="../etc/passwd")]},
        {"parts": [part(media_type="application/x-msdownload")]},
        {"parts": [part(size=-1)]},
        {"parts": [part(sha256="A" * 64)]},
        {"parts": [{"name": "a.txt", "media_type": "text/plain", "size": 1}]},
    ],
    ids=",".join,
)
def test_schema_violation(shared_exchange: Exchange, change: dict[str, Any]) -> None:
    ex = shared_exchange
    doc = manifest_doc("ua", "ru", note()) | change
    assert_problem(submit_doc(ex, doc, [("note.txt", TEXT)]), 422, "invalid")


def test_missing_member(shared_exchange: Exchange) -> None:
    ex = shared_exchange
    doc = manifest_doc("ua", "ru", note())
    del doc["legal_basis"]
    assert_problem(submit_doc(ex, doc, [("note.txt", TEXT)]), 422, "invalid")


def test_manifest_not_json(shared_exchange: Exchange) -> None:
    ex = shared_exchange
    envelope = jws.sign(b"not json", ex.ua.identity.signing, typ=jws.TYP_PACKET)
    packet = Packet(str(uuid.uuid4()), envelope, [])
    assert_problem(post_packet(ex.gw, ex.ua, packet), 422, "invalid")


def test_part_named_twice(shared_exchange: Exchange) -> None:
    ex = shared_exchange
    doc = manifest_doc("ua", "ru", note() + note())
    files = [("note.txt", TEXT), ("note.txt", TEXT)]
    assert_problem(submit_doc(ex, doc, files), 422, "invalid")


@pytest.mark.parametrize("recipient", ["nobody", "ua", "mon"])
def test_recipient_unknown_sender_or_monitor(shared_exchange: Exchange, recipient: str) -> None:
    ex = shared_exchange
    doc = manifest_doc("ua", recipient, note())
    assert_problem(submit_doc(ex, doc, [("note.txt", TEXT)]), 422, "invalid")


@pytest.mark.parametrize("offset_s", [400, -8 * 24 * 3600], ids=["future", "too-old"])
def test_created_out_of_range(shared_exchange: Exchange, offset_s: int) -> None:
    ex = shared_exchange
    doc = manifest_doc("ua", "ru", note(), created=created(offset_s))
    assert_problem(submit_doc(ex, doc, [("note.txt", TEXT)]), 422, "invalid")


# -- the parts ----------------------------------------------------------------


def test_wrong_sha256(shared_exchange: Exchange) -> None:
    ex = shared_exchange
    packet = make_packet(ex.ua, "ru", note(), declared={"note.txt": {"sha256": sha256_hex(b"x")}})
    assert_problem(post_packet(ex.gw, ex.ua, packet), 422, "digest-mismatch")


@pytest.mark.parametrize("delta", [1, -1], ids=["declared-longer", "declared-shorter"])
def test_wrong_size(shared_exchange: Exchange, delta: int) -> None:
    ex = shared_exchange
    declared = {"note.txt": {"size": len(TEXT) + delta}}
    packet = make_packet(ex.ua, "ru", note(), declared=declared)
    assert_problem(post_packet(ex.gw, ex.ua, packet), 422, "digest-mismatch")


@pytest.mark.parametrize(
    ("media_type", "data"),
    [
        ("application/pdf", PNG),
        ("image/png", FAKE_PDF),
        ("image/jpeg", PNG),
        ("image/tiff", JPEG),
        ("text/plain", b"\x00\x01\x02binary\xff\xfe"),
        ("text/plain", b"caf\xe9 in Latin-1"),
        ("text/plain", FAKE_PDF),
        ("application/json", b"plain words"),
        ("application/json", PNG),
    ],
    ids=[
        "pdf<-png", "png<-pdf", "jpeg<-png", "tiff<-jpeg", "text<-nul", "text<-latin1",
        "text<-pdf", "json<-words", "json<-png",
    ],
)
def test_bytes_not_of_the_declared_type(
    shared_exchange: Exchange, media_type: str, data: bytes
) -> None:
    ex = shared_exchange
    packet = make_packet(ex.ua, "ru", [("part", media_type, data)])
    assert_problem(post_packet(ex.gw, ex.ua, packet), 415, "unsupported-media-type")


def _post_fields(ex: Exchange, packet: Packet, fields: list[tuple[str, bytes]]) -> Answer:
    body, content_type = multipart([("envelope", packet.envelope.encode()), *fields])
    return post_raw(ex.gw, ex.ua, "/v1/packets", body, content_type)


TWO = [("a.txt", "text/plain", b"first\n"), ("b.txt", "text/plain", b"second\n")]


def test_parts_out_of_manifest_order(shared_exchange: Exchange) -> None:
    ex = shared_exchange
    packet = make_packet(ex.ua, "ru", TWO)
    answer = _post_fields(ex, packet, [packet.files[1], packet.files[0]])
    assert_problem(answer, 422, "invalid")


def test_part_missing(shared_exchange: Exchange) -> None:
    ex = shared_exchange
    packet = make_packet(ex.ua, "ru", TWO)
    assert_problem(_post_fields(ex, packet, packet.files[:1]), 422, "invalid")


def test_part_not_in_the_manifest(shared_exchange: Exchange) -> None:
    ex = shared_exchange
    packet = make_packet(ex.ua, "ru", TWO)
    answer = _post_fields(ex, packet, [*packet.files, ("c.txt", b"third\n")])
    assert_problem(answer, 422, "invalid")


def test_part_under_another_name(shared_exchange: Exchange) -> None:
    ex = shared_exchange
    packet = make_packet(ex.ua, "ru", TWO)
    answer = _post_fields(ex, packet, [packet.files[0], ("c.txt", packet.files[1][1])])
    assert_problem(answer, 422, "invalid")


# -- the request itself -------------------------------------------------------


def test_body_not_multipart(shared_exchange: Exchange) -> None:
    ex = shared_exchange
    packet = make_packet(ex.ua, "ru", note())
    answer = post_raw(ex.gw, ex.ua, "/v1/packets", packet.envelope.encode(), "application/jose")
    assert_problem(answer, 415, "unsupported-media-type")


def test_first_part_not_the_envelope(shared_exchange: Exchange) -> None:
    ex = shared_exchange
    packet = make_packet(ex.ua, "ru", note())
    body, content_type = multipart([*packet.files, ("envelope", packet.envelope.encode())])
    assert_problem(post_raw(ex.gw, ex.ua, "/v1/packets", body, content_type), 400, "bad-request")


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"not multipart at all", "multipart/form-data; boundary=xyz"),
        (b"--xyz\r\nno end", "multipart/form-data"),
    ],
    ids=["no-boundary-in-body", "no-boundary-parameter"],
)
def test_malformed_multipart_is_a_bad_request(
    shared_exchange: Exchange, body: bytes, content_type: str
) -> None:
    """Regression: aiohttp's ValueError on a broken body surfaced as 500 internal."""
    ex = shared_exchange
    assert_problem(post_raw(ex.gw, ex.ua, "/v1/packets", body, content_type), 400, "bad-request")


def test_body_cut_off_inside_a_part_is_a_bad_request(shared_exchange: Exchange) -> None:
    """Regression, as above, for a body whose last part never ends."""
    ex = shared_exchange
    packet = make_packet(ex.ua, "ru", note())
    body, content_type = packet.body()
    cut = body[: body.rindex(TEXT) + len(TEXT)]  # the part whole, its boundary never comes
    assert_problem(post_raw(ex.gw, ex.ua, "/v1/packets", cut, content_type), 400, "bad-request")


def test_envelope_arriving_in_several_segments(shared_exchange: Exchange) -> None:
    """Regression: the envelope was read with one read_chunk, so an envelope split
    across TCP segments failed (500) although nothing was wrong with it."""
    ex = shared_exchange
    packet = make_packet(ex.ua, "ru", note())
    body, content_type = packet.body()
    middle = body.index(packet.envelope.encode()) + len(packet.envelope) // 2
    headers = {"Authorization": bearer(ex.ua, "POST", "/v1/packets"), "Content-Type": content_type}
    answer = http_in_pieces(ex.gw, "POST", "/v1/packets", headers=headers, body=body, cuts=[middle])
    assert answer.status == 202, answer.body
    assert json.loads(answer.body)["packet_id"] == packet.packet_id


# -- limits (413), on a gateway of their own with small limits ----------------

SMALL = {"max_parts": 64, "max_part_bytes": 4096, "max_packet_bytes": 16384}


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exchange]:
    with running_exchange(tmp_path_factory.mktemp("small"), {"limits": SMALL}) as ex:
        yield ex


def _texts(count: int, size: int) -> list[tuple[str, str, bytes]]:
    return [
        (f"p{i}.txt", "text/plain", f"{i:08d}".encode().ljust(size, b"x")) for i in range(count)
    ]


def test_at_the_limits_is_accepted(small: Exchange) -> None:
    packet = make_packet(small.ua, "ru", _texts(4, 4096))  # 4 x 4096 = 16384 bytes
    assert post_packet(small.gw, small.ua, packet).status == 202
    packet = make_packet(small.ua, "ru", _texts(64, 1))
    assert post_packet(small.gw, small.ua, packet).status == 202


def test_part_over_the_limit(small: Exchange) -> None:
    packet = make_packet(small.ua, "ru", _texts(1, 4097))
    assert_problem(post_packet(small.gw, small.ua, packet), 413, "too-large")


def test_too_many_parts(small: Exchange) -> None:
    packet = make_packet(small.ua, "ru", _texts(65, 1))
    assert_problem(post_packet(small.gw, small.ua, packet), 413, "too-large")


def test_packet_over_the_limit(small: Exchange) -> None:
    packet = make_packet(small.ua, "ru", _texts(5, 4000))  # 20000 bytes
    assert_problem(post_packet(small.gw, small.ua, packet), 413, "too-large")


def test_part_declared_small_but_sent_large(small: Exchange) -> None:
    """The declared size bounds what is read: the excess is a digest mismatch, not stored."""
    data = b"x" * 8000
    packet = make_packet(small.ua, "ru", [("a.txt", "text/plain", data)],
                         declared={"a.txt": {"size": 100}})  # fmt: skip
    assert_problem(post_packet(small.gw, small.ua, packet), 422, "digest-mismatch")


def test_recipient_is_checked_before_limits(small: Exchange) -> None:
    """SPEC §3 fixes the order; the first failure is the one reported."""
    packet = make_packet(small.ua, "nobody", _texts(65, 1))
    assert_problem(post_packet(small.gw, small.ua, packet), 422, "invalid")


def test_limits_are_checked_before_any_part_is_read(small: Exchange) -> None:
    """A packet over the limits is refused from its manifest, whatever its parts are."""
    packet = make_packet(small.ua, "ru", _texts(1, 4097))
    truncated = Packet(packet.packet_id, packet.envelope, [])
    assert_problem(post_packet(small.gw, small.ua, truncated), 413, "too-large")
