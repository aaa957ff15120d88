"""SPEC §2: every /v1 request carries a token signed by its caller.

Each test breaks exactly one rule of the token and expects 401 with the
problem type ``urn:dxg:error:unauthenticated``; the control tests show that
the same request with the rule kept passes. All run against one gateway
process: a token's jti is fresh per test, and the tests that change the
registry (rotation) use parties of their own.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
import uuid
from typing import Any

import pytest

from gateway.protocol.crypto import jws
from gateway.protocol.crypto.keys import SigningKey, b64url, b64url_decode
from gateway.protocol.receipt import sign_receipt
from tests.conftest import Exchange
from tests.harness import (
    Answer,
    Party,
    assert_problem,
    auth_header,
    bearer,
    compact_jws,
    forged_bearer,
    http,
    make_keys,
    run_cli,
    token_claims,
)

PATH = "/v1/inbox?after=0"


def call(
    ex: Exchange, authorization: str | None, path_qs: str = PATH, method: str = "GET"
) -> Answer:
    headers = {} if authorization is None else {"Authorization": authorization}
    return http(method, ex.gw.url + path_qs, headers=headers)


def claims(ex: Exchange, **over: Any) -> dict[str, Any]:
    return token_claims(ex.ua, "GET", PATH) | over


def assert_unauthenticated(answer: Answer) -> None:
    assert_problem(answer, 401, "unauthenticated")


# -- the controls: what a valid token looks like ------------------------------


def test_valid_token_is_accepted(shared_exchange: Exchange) -> None:
    assert call(shared_exchange, bearer(shared_exchange.ua, "GET", PATH)).status == 200


def test_forged_helper_makes_valid_tokens(shared_exchange: Exchange) -> None:
    """The forging helper itself is sound: unspoiled, its tokens pass."""
    ex = shared_exchange
    assert call(ex, forged_bearer(ex.ua, claims(ex))).status == 200


def test_alg_eddsa_of_rfc8037_is_accepted(shared_exchange: Exchange) -> None:
    ex = shared_exchange
    header = auth_header(ex.ua) | {"alg": "EdDSA"}
    assert call(ex, forged_bearer(ex.ua, claims(ex), header=header)).status == 200


def test_gateway_info_needs_no_auth(shared_exchange: Exchange) -> None:
    answer = http("GET", shared_exchange.gw.url + "/v1/gateway")
    assert answer.status == 200
    info = answer.json()
    assert info["id"] == "gw"
    assert [(k["kty"], k["crv"], k["use"]) for k in info["keys"]] == [("OKP", "Ed25519", "sig")]


def test_lifetime_of_exactly_300_s_is_accepted(shared_exchange: Exchange) -> None:
    ex = shared_exchange
    now = int(time.time())
    assert call(ex, forged_bearer(ex.ua, claims(ex, iat=now, exp=now + 300))).status == 200


def test_clock_skew_of_60_s_is_tolerated(shared_exchange: Exchange) -> None:
    ex = shared_exchange
    now = int(time.time())
    ahead = claims(ex, iat=now + 30, exp=now + 150)
    assert call(ex, forged_bearer(ex.ua, ahead)).status == 200
    behind = claims(ex, iat=now - 150, exp=now - 30)
    assert call(ex, forged_bearer(ex.ua, behind)).status == 200


# -- one broken rule each -----------------------------------------------------


def test_missing_authorization_header(shared_exchange: Exchange) -> None:
    assert_unauthenticated(call(shared_exchange, None))


def test_authorization_scheme_other_than_bearer(shared_exchange: Exchange) -> None:
    token = bearer(shared_exchange.ua, "GET", PATH).removeprefix("Bearer ")
    assert_unauthenticated(call(shared_exchange, f"Basic {token}"))


@pytest.mark.parametrize(
    "token",
    ["", "not-a-jws", "a.b", "a.b.c.d", "eyJhbGciOiJFZDI1NTE5In0.e30.", "!!!.???.***"],
)
def test_malformed_token(shared_exchange: Exchange, token: str) -> None:
    assert_unauthenticated(call(shared_exchange, f"Bearer {token}"))


def test_claims_not_json(shared_exchange: Exchange) -> None:
    ex = shared_exchange
    token = compact_jws(auth_header(ex.ua), b"not json", ex.ua.identity.signing)
    assert_unauthenticated(call(ex, f"Bearer {token}"))


def test_iat_not_an_integer(shared_exchange: Exchange) -> None:
    ex = shared_exchange
    now = time.time()
    assert_unauthenticated(call(ex, forged_bearer(ex.ua, claims(ex, iat=now, exp=now + 60))))


def test_bad_signature(shared_exchange: Exchange) -> None:
    ex = shared_exchange
    head, body, sig = bearer(ex.ua, "GET", PATH).removeprefix("Bearer ").split(".")
    raw = bytearray(b64url_decode(sig))
    raw[0] ^= 0x01
    assert_unauthenticated(call(ex, f"Bearer {head}.{body}.{b64url(bytes(raw))}"))


def test_claims_altered_after_signing(shared_exchange: Exchange) -> None:
    ex = shared_exchange
    head, _, sig = bearer(ex.ua, "GET", PATH).removeprefix("Bearer ").split(".")
    other = b64url(json.dumps(claims(ex)).encode())
    assert_unauthenticated(call(ex, f"Bearer {head}.{other}.{sig}"))


def test_unknown_kid(shared_exchange: Exchange) -> None:
    ex = shared_exchange
    stranger = SigningKey.generate()
    header = auth_header(ex.ua) | {"kid": stranger.kid}
    assert_unauthenticated(call(ex, forged_bearer(ex.ua, claims(ex), header=header, key=stranger)))


def test_kid_of_another_party(shared_exchange: Exchange) -> None:
    """ru's valid key cannot speak for ua: iss and the key's owner must agree."""
    ex = shared_exchange
    forged = forged_bearer(ex.ua, claims(ex), header=auth_header(ex.ru), key=ex.ru.identity.signing)
    assert_unauthenticated(call(ex, forged))


def test_encryption_key_cannot_sign(shared_exchange: Exchange) -> None:
    ex = shared_exchange
    header = auth_header(ex.ua) | {"kid": ex.ua.identity.encryption.kid}
    assert_unauthenticated(call(ex, forged_bearer(ex.ua, claims(ex), header=header)))


def test_rotation_then_revocation(shared_exchange: Exchange) -> None:
    """SPEC §1: add the new key, both work; revoke the old one, only the new works."""
    ex = shared_exchange
    old = ex.gw.add_party("rot")
    assert call(ex, bearer(old, "GET", PATH)).status == 200

    new_prefix = ex.gw.root.parent / "keys" / "rot-2"
    new = Party("rot", new_prefix, make_keys(new_prefix))
    run_cli("party", "add", str(ex.gw.root), "rot", "--role", "party",
            "--keys", f"{new_prefix}.pub.json")  # fmt: skip
    assert call(ex, bearer(new, "GET", PATH)).status == 200
    assert call(ex, bearer(old, "GET", PATH)).status == 200

    run_cli("party", "revoke-key", str(ex.gw.root), "rot", old.identity.signing.kid)
    assert_unauthenticated(call(ex, bearer(old, "GET", PATH)))
    assert call(ex, bearer(new, "GET", PATH)).status == 200


def test_revoked_key(shared_exchange: Exchange) -> None:
    ex = shared_exchange
    party = ex.gw.add_party("rev")
    run_cli("party", "revoke-key", str(ex.gw.root), "rev", party.identity.signing.kid)
    assert_unauthenticated(call(ex, bearer(party, "GET", PATH)))


def test_a_party_cannot_take_the_gateways_own_id(shared_exchange: Exchange) -> None:
    """Receipts by the gateway (ACCEPTED, EXPIRED) are told from parties' by
    their issuer: a party registered under the gateway's id would blur that."""
    ex = shared_exchange
    prefix = ex.gw.root.parent / "keys" / "impostor"
    make_keys(prefix)
    added = run_cli("party", "add", str(ex.gw.root), "gw", "--role", "party",
                    "--keys", f"{prefix}.pub.json", check=False)  # fmt: skip
    assert added.returncode != 0
    assert "this gateway's own id" in added.stderr
    listing = run_cli("party", "list", str(ex.gw.root)).stdout
    assert '"gw"' not in listing


def test_expired_token(shared_exchange: Exchange) -> None:
    ex = shared_exchange
    now = int(time.time())
    assert_unauthenticated(call(ex, forged_bearer(ex.ua, claims(ex, iat=now - 400, exp=now - 120))))


def test_token_issued_in_the_future(shared_exchange: Exchange) -> None:
    ex = shared_exchange
    now = int(time.time())
    assert_unauthenticated(call(ex, forged_bearer(ex.ua, claims(ex, iat=now + 120, exp=now + 240))))


def test_lifetime_over_300_s(shared_exchange: Exchange) -> None:
    ex = shared_exchange
    now = int(time.time())
    assert_unauthenticated(call(ex, forged_bearer(ex.ua, claims(ex, iat=now, exp=now + 301))))


def test_exp_before_iat(shared_exchange: Exchange) -> None:
    ex = shared_exchange
    now = int(time.time())
    assert_unauthenticated(call(ex, forged_bearer(ex.ua, claims(ex, iat=now, exp=now - 1))))


def test_wrong_audience(shared_exchange: Exchange) -> None:
    ex = shared_exchange
    assert_unauthenticated(call(ex, forged_bearer(ex.ua, claims(ex, aud="other-gw"))))


def test_wrong_htm(shared_exchange: Exchange) -> None:
    ex = shared_exchange
    assert_unauthenticated(call(ex, forged_bearer(ex.ua, claims(ex, htm="POST"))))


@pytest.mark.parametrize(
    "htu",
    [
        "/v1/receipts?after=0",  # another path
        "/v1/inbox?after=1",  # another query
        "/v1/inbox",  # the query left out
        "/v1/inbox?after=0&limit=5",  # a query added
        "http://127.0.0.1/v1/inbox?after=0",  # an absolute URL is not the path
    ],
)
def test_wrong_htu(shared_exchange: Exchange, htu: str) -> None:
    ex = shared_exchange
    assert_unauthenticated(call(ex, forged_bearer(ex.ua, claims(ex, htu=htu))))


def test_replayed_jti(shared_exchange: Exchange) -> None:
    ex = shared_exchange
    authorization = bearer(ex.ua, "GET", PATH)
    assert call(ex, authorization).status == 200
    assert_unauthenticated(call(ex, authorization))


def test_replayed_jti_in_a_new_token(shared_exchange: Exchange) -> None:
    """The jti, not the token bytes, is what may not repeat."""
    ex = shared_exchange
    first = claims(ex)
    assert call(ex, forged_bearer(ex.ua, first)).status == 200
    again = first | {"iat": first["iat"] - 1}
    assert_unauthenticated(call(ex, forged_bearer(ex.ua, again)))


def test_replay_is_refused_for_other_requests_too(shared_exchange: Exchange) -> None:
    """A jti used on one path cannot be used again on another."""
    ex = shared_exchange
    jti = b64url(secrets.token_bytes(16))
    assert call(ex, forged_bearer(ex.ua, claims(ex, jti=jti))).status == 200
    other = token_claims(ex.ua, "GET", "/v1/receipts") | {"jti": jti}
    assert_unauthenticated(call(ex, forged_bearer(ex.ua, other), "/v1/receipts"))


@pytest.mark.parametrize("jti", ["", "abc", b64url(secrets.token_bytes(15))],
                         ids=["empty", "3-chars", "20-chars"])
def test_short_jti(shared_exchange: Exchange, jti: str) -> None:
    ex = shared_exchange
    assert_unauthenticated(call(ex, forged_bearer(ex.ua, claims(ex, jti=jti))))


def _hs256(header: dict[str, Any], payload: bytes, secret: bytes) -> str:
    head = b64url(json.dumps(header).encode())
    body = b64url(payload)
    mac = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64url(mac)}"


def test_alg_none_unsigned(shared_exchange: Exchange) -> None:
    ex = shared_exchange
    header = auth_header(ex.ua) | {"alg": "none"}
    token = compact_jws(header, json.dumps(claims(ex)).encode(), None)
    assert token.endswith(".")
    assert_unauthenticated(call(ex, f"Bearer {token}"))


def test_alg_hs256_keyed_with_the_public_key(shared_exchange: Exchange) -> None:
    """The classic confusion: HMAC with the caller's public key as the secret."""
    ex = shared_exchange
    header = auth_header(ex.ua) | {"alg": "HS256"}
    token = _hs256(header, json.dumps(claims(ex)).encode(), ex.ua.identity.signing.public.raw)
    assert_unauthenticated(call(ex, f"Bearer {token}"))


@pytest.mark.parametrize("alg", ["ES256", "RS256", "ed25519", "Ed448", None])
def test_alg_other_than_ed25519_with_a_valid_ed25519_signature(
    shared_exchange: Exchange, alg: str | None
) -> None:
    ex = shared_exchange
    header = {k: v for k, v in (auth_header(ex.ua) | {"alg": alg}).items() if v is not None}
    assert_unauthenticated(call(ex, forged_bearer(ex.ua, claims(ex), header=header)))


@pytest.mark.parametrize(
    "typ", ["dxg-receipt+jws", "dxg-packet+jws", "dxg-notify+jws", "JWT", None]
)
def test_typ_of_another_document(shared_exchange: Exchange, typ: str | None) -> None:
    ex = shared_exchange
    header = {k: v for k, v in (auth_header(ex.ua) | {"typ": typ}).items() if v is not None}
    assert_unauthenticated(call(ex, forged_bearer(ex.ua, claims(ex), header=header)))


def test_a_real_receipt_used_as_a_token(shared_exchange: Exchange) -> None:
    """A document the caller signed for another purpose is no token, even when
    its claims are made to look like one."""
    ex = shared_exchange
    receipt = sign_receipt(
        ex.ua.identity.signing,
        level="DELIVERED",
        packet_id=str(uuid.uuid4()),
        issuer="ua",
        sender="ru",
        recipient="ua",
        envelope_sha256="0" * 64,
        parts=[],
        extraction_sha256=None,
        reason=None,
    )
    assert_unauthenticated(call(ex, f"Bearer {receipt}"))
    payload = json.dumps(json.loads(b64url_decode(receipt.split(".")[1])) | claims(ex)).encode()
    lookalike = jws.sign(payload, ex.ua.identity.signing, typ=jws.TYP_RECEIPT)
    assert_unauthenticated(call(ex, f"Bearer {lookalike}"))


def test_critical_header_extension(shared_exchange: Exchange) -> None:
    ex = shared_exchange
    header = auth_header(ex.ua) | {"crit": ["exp"], "exp": 1}
    assert_unauthenticated(call(ex, forged_bearer(ex.ua, claims(ex), header=header)))


def test_unknown_issuer(shared_exchange: Exchange) -> None:
    ex = shared_exchange
    assert_unauthenticated(call(ex, forged_bearer(ex.ua, claims(ex, iss="nobody"))))


def test_failed_token_does_not_burn_its_jti(shared_exchange: Exchange) -> None:
    """tokens.py: the replay check runs last, so a forged token cannot spend a jti."""
    ex = shared_exchange
    good = claims(ex)
    assert_unauthenticated(call(ex, forged_bearer(ex.ua, good | {"aud": "other-gw"})))
    assert call(ex, forged_bearer(ex.ua, good)).status == 200

