"""A partner's client in the same language, but none of our crypto code.

Everything a partner signs here is made with joserfc, an independent JOSE
library, from the JWK files ``gateway keygen`` wrote; everything the gateway
signs is verified with joserfc; sealed deliveries are opened with libsodium's
``crypto_box_seal_open`` directly; digests and kids are computed with
hashlib. The gateway process is the only DXG code on the path (the harness
still uses the CLI to make keys and register parties).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
import uuid
from pathlib import Path
from typing import Any

import nacl.bindings
import pytest
from joserfc import jws
from joserfc.jwk import OKPKey

from tests.conftest import Exchange
from tests.harness import GatewayProcess, Party, http, multipart, wait_ready

pytestmark = pytest.mark.filterwarnings("ignore::joserfc.errors.SecurityWarning")  # EdDSA

ALGS = ["Ed25519", "EdDSA"]
PDF = b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"
TEXT = "Лист від партнера, a partner's letter\n".encode()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sha256(data: bytes | str) -> str:
    return hashlib.sha256(data.encode("ascii") if isinstance(data, str) else data).hexdigest()


def thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 for an OKP key: exactly crv, kty, x, sorted, no whitespace."""
    members = {"crv": jwk["crv"], "kty": jwk["kty"], "x": jwk["x"]}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canonical.encode()).digest())


def jwk_file(party: Party, which: str) -> dict[str, Any]:
    jwk: dict[str, Any] = json.loads(Path(f"{party.prefix}.{which}.jwk").read_text())
    return jwk


def public_jwks(party: Party) -> dict[str, dict[str, Any]]:
    jwks: dict[str, dict[str, Any]] = json.loads(Path(f"{party.prefix}.pub.json").read_text())
    return jwks


def signer(party: Party) -> tuple[OKPKey, str]:
    """The party's Ed25519 key as joserfc imports it, and its kid computed here."""
    jwk = jwk_file(party, "sig")
    return OKPKey.import_key(jwk), thumbprint(jwk)


def sign(party: Party, typ: str, payload: bytes, alg: str = "Ed25519") -> str:
    key, kid = signer(party)
    header = {"alg": alg, "kid": kid, "typ": typ}
    compact: str = jws.serialize_compact(header, payload, key, algorithms=[alg])
    return compact


def token(party: Party, method: str, path_qs: str, alg: str = "Ed25519") -> str:
    now = int(time.time())
    claims = {
        "iss": party.id,
        "aud": "gw",
        "iat": now,
        "exp": now + 60,
        "jti": secrets.token_hex(16),  # 16 random bytes, written as hex this time
        "htm": method,
        "htu": path_qs,
    }
    return "Bearer " + sign(party, "dxg-auth+jwt", json.dumps(claims).encode(), alg)


def call(
    gw: GatewayProcess,
    party: Party,
    method: str,
    path_qs: str,
    *,
    body: bytes | None = None,
    content_type: str | None = None,
    alg: str = "Ed25519",
) -> tuple[int, bytes, str]:
    headers = {"Authorization": token(party, method, path_qs, alg)}
    if content_type:
        headers["Content-Type"] = content_type
    answer = http(method, gw.url + path_qs, headers=headers, body=body)
    return answer.status, answer.body, answer.headers.get("Content-Type", "")


def gateway_jwk(gw: GatewayProcess) -> dict[str, Any]:
    (jwk,) = json.loads(http("GET", gw.url + "/v1/gateway").body)["keys"]
    assert isinstance(jwk, dict)
    return jwk


def verify(compact: str, jwk: dict[str, Any], typ: str, alg: str = "Ed25519") -> dict[str, Any]:
    """Verify with joserfc; the header must be exactly alg, the key's thumbprint as kid, typ.

    What the gateway signs is always ``Ed25519`` (SPEC: "Everything the gateway signs").
    """
    result = jws.deserialize_compact(compact, OKPKey.import_key(jwk), algorithms=[alg])
    assert result.headers() == {"alg": alg, "kid": thumbprint(jwk), "typ": typ}
    claims: dict[str, Any] = json.loads(result.payload)
    return claims


def submit(ex: Exchange, alg: str = "Ed25519") -> tuple[str, str, dict[str, Any]]:
    """ua sends ru a packet built and signed here; (packet_id, envelope, 202 body)."""
    files = [("letter.pdf", "application/pdf", PDF), ("letter.txt", "text/plain", TEXT)]
    manifest = {
        "v": 1,
        "packet_id": str(uuid.uuid4()),
        "sender": "ua",
        "recipient": "ru",
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "kind": "message",
        "purpose": "reunification",
        "legal_basis": ["vital_interest", "consent"],
        "in_reply_to": None,
        "parts": [
            {"name": n, "media_type": t, "size": len(d), "sha256": sha256(d)} for n, t, d in files
        ],
        "body": {"note": "built with joserfc"},
    }
    # Pretty-printed on purpose: the gateway must keep these bytes, not re-serialise.
    envelope = sign(ex.ua, "dxg-packet+jws", json.dumps(manifest, indent=1).encode(), alg)
    fields = [("envelope", envelope.encode()), *((n, d) for n, _, d in files)]
    body, content_type = multipart(fields)
    status, answer, _ = call(ex.gw, ex.ua, "POST", "/v1/packets", body=body,
                             content_type=content_type, alg=alg)  # fmt: skip
    assert status == 202, answer
    return str(manifest["packet_id"]), envelope, json.loads(answer)


def open_sealed(party: Party, sealed: bytes) -> bytes:
    jwk = jwk_file(party, "enc")
    assert jwk["crv"] == "X25519"
    public, private = unb64url(jwk["x"]), unb64url(jwk["d"])
    opened: bytes = nacl.bindings.crypto_box_seal_open(sealed, public, private)
    return opened


def fetch(ex: Exchange, party: Party, path: str) -> bytes:
    status, body, content_type = call(ex.gw, party, "GET", path)
    assert status == 200, body
    assert content_type == "application/vnd.dxg.sealed"
    return open_sealed(party, body)


# -- what partners sign, the gateway accepts ----------------------------------


@pytest.mark.parametrize("alg", ALGS)
def test_joserfc_token_is_accepted(shared_exchange: Exchange, alg: str) -> None:
    ex = shared_exchange
    key, kid = signer(ex.ua)
    assert kid == key.thumbprint() == public_jwks(ex.ua)["sig"]["kid"]
    status, body, _ = call(ex.gw, ex.ua, "GET", "/v1/inbox?after=0&limit=5", alg=alg)
    assert status == 200, body


@pytest.mark.parametrize("alg", ALGS)
def test_joserfc_envelope_is_accepted_and_the_receipt_verifies(
    shared_exchange: Exchange, alg: str
) -> None:
    ex = shared_exchange
    packet_id, envelope, answer = submit(ex, alg)
    assert answer["packet_id"] == packet_id and answer["status"] == "ACCEPTED"

    claims = verify(answer["receipt"], gateway_jwk(ex.gw), "dxg-receipt+jws")
    assert claims["level"] == "ACCEPTED"
    assert claims["issuer"] == "gw"
    assert claims["envelope_sha256"] == sha256(envelope)
    assert claims["parts"] == [
        {"name": "letter.pdf", "sha256": sha256(PDF)},
        {"name": "letter.txt", "sha256": sha256(TEXT)},
    ]


def test_gateway_kid_is_the_rfc7638_thumbprint(shared_exchange: Exchange) -> None:
    jwk = gateway_jwk(shared_exchange.gw)
    assert (jwk["kty"], jwk["crv"], jwk["use"]) == ("OKP", "Ed25519", "sig")
    assert jwk["kid"] == thumbprint(jwk) == OKPKey.import_key(jwk).thumbprint()


# -- what the gateway delivers, a partner verifies end to end -----------------


def test_open_delivery_with_libsodium_and_verify_everything(shared_exchange: Exchange) -> None:
    ex = shared_exchange
    packet_id, envelope, _ = submit(ex)
    wait_ready(ex.gw, ex.ru, packet_id)

    index = json.loads(fetch(ex, ex.ru, f"/v1/deliveries/{packet_id}"))
    assert (index["v"], index["packet_id"], index["sender"], index["recipient"]) == (
        1, packet_id, "ua", "ru",
    )  # fmt: skip
    assert index["envelope"] == envelope  # verbatim

    # The sender's signature, with the key from the sender's own public file.
    manifest = verify(index["envelope"], public_jwks(ex.ua)["sig"], "dxg-packet+jws")
    assert manifest["packet_id"] == packet_id

    # The gateway's extraction document, bound to these exact envelope bytes.
    doc = verify(index["extraction"], gateway_jwk(ex.gw), "dxg-extraction+jws")
    assert doc["v"] == 1
    assert doc["packet_id"] == packet_id
    assert doc["envelope_sha256"] == sha256(envelope)
    assert doc["records"] == [] and doc["photos"] == []  # a message has no records

    # Every part, against the manifest's digests and sizes.
    parts = {p["sha256"]: p for p in manifest["parts"]}
    listed = [b for b in index["blobs"] if b["role"] == "part"]
    assert [b["sha256"] for b in listed] == [p["sha256"] for p in manifest["parts"]]
    received = {}
    for blob in index["blobs"]:
        data = fetch(ex, ex.ru, f"/v1/deliveries/{packet_id}/blobs/{blob['sha256']}")
        assert sha256(data) == blob["sha256"]
        assert len(data) == blob["size"]
        spec = parts[blob["sha256"]]
        assert (len(data), blob["media_type"]) == (spec["size"], spec["media_type"])
        received[spec["name"]] = data
    assert received == {"letter.pdf": PDF, "letter.txt": TEXT}


def test_joserfc_receipts_are_accepted(shared_exchange: Exchange) -> None:
    ex = shared_exchange
    packet_id, envelope, _ = submit(ex)
    wait_ready(ex.gw, ex.ru, packet_id)
    index = json.loads(fetch(ex, ex.ru, f"/v1/deliveries/{packet_id}"))
    manifest = verify(index["envelope"], public_jwks(ex.ua)["sig"], "dxg-packet+jws")

    def receipt(level: str, alg: str) -> str:
        claims = {
            "v": 1,
            "receipt_id": str(uuid.uuid4()),
            "level": level,
            "packet_id": packet_id,
            "issuer": "ru",
            "sender": "ua",
            "recipient": "ru",
            "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "envelope_sha256": sha256(envelope),
            "parts": [{"name": p["name"], "sha256": p["sha256"]} for p in manifest["parts"]],
            "extraction_sha256": sha256(index["extraction"]),
            "reason": None,
        }
        return sign(ex.ru, "dxg-receipt+jws", json.dumps(claims, indent=2).encode(), alg)

    for level, alg in (("DELIVERED", "Ed25519"), ("PROCESSED", "EdDSA")):
        status, body, _ = call(ex.gw, ex.ru, "POST", "/v1/receipts",
                               body=receipt(level, alg).encode(),
                               content_type="application/jose")  # fmt: skip
        assert status == 201, body
        assert set(json.loads(body)) == {"log_index"}

    status, body, _ = call(ex.gw, ex.ua, "GET", f"/v1/packets/{packet_id}")
    view = json.loads(body)
    assert view["status"] == "PROCESSED"
    # The sender verifies the recipient's receipts with ru's public key.
    levels = [
        verify(r, public_jwks(ex.ru)["sig"], "dxg-receipt+jws", alg)["level"]
        for r, alg in zip(view["receipts"][1:], ("Ed25519", "EdDSA"), strict=True)
    ]
    assert levels == ["DELIVERED", "PROCESSED"]
