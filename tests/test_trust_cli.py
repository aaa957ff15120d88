"""``gateway trust``: pinning the gateway's and partners' keys by hand (issue 8, deliver 2)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from gateway.party.trust import TrustStore
from gateway.protocol.clock import parse_time
from gateway.protocol.crypto.keys import EncryptionKey, SigningKey, load_signing_key
from gateway.protocol.errors import EXIT_LOCAL, EXIT_VERIFICATION
from gateway.protocol.trust import RegisteredKey
from tests.conftest import Exchange
from tests.harness import run_cli


def test_trust_commands_pin_show_and_revoke(shared_exchange: Exchange, tmp_path: Path) -> None:
    ex = shared_exchange
    store = tmp_path / "ru.trust.json"
    keys = ex.gw.root.parent / "keys"

    wrong = run_cli("trust", "gateway", str(store), "--gateway", ex.gw.url,
                    "--expect-kid", "not-the-gateways-kid", check=False)
    assert wrong.returncode == EXIT_VERIFICATION
    assert "does not publish key not-the-gateways-kid" in wrong.stderr
    assert not store.exists()
    # Regression: a kid is base64url and may begin with '-'; the demo passed it
    # as a separate argument, which argparse took for an option (usage error).
    dashed = run_cli("trust", "gateway", str(store), "--gateway", ex.gw.url,
                     "--expect-kid=-not-the-gateways-kid", check=False)
    assert dashed.returncode == EXIT_VERIFICATION, dashed.stderr
    assert "does not publish key -not-the-gateways-kid" in dashed.stderr

    first_use = run_cli("trust", "gateway", str(store), "--gateway", ex.gw.url)
    assert json.loads(first_use.stdout)["kids"] == [ex.gw.kid]
    assert "pinned on first use" in first_use.stderr and ex.gw.kid in first_use.stderr

    added = run_cli("trust", "add", str(store), "ua", "--keys", str(keys / "ua.pub.json"),
                    "--not-before", "2026-01-01T00:00:00Z")
    (pinned,) = json.loads(added.stdout)["pinned"]
    assert pinned["kid"] == ex.ua.identity.signing.kid and pinned["use"] == "sig"

    revoked = run_cli("trust", "revoke", str(store), "ua", pinned["kid"],
                      "--at", "2026-06-01T00:00:00Z")
    assert json.loads(revoked.stdout)["at"] == "2026-06-01T00:00:00Z"

    shown = json.loads(run_cli("trust", "show", str(store)).stdout)
    assert shown["gateway"]["id"] == "gw" and shown["gateway"]["origin"] == "dxg.local/receipts"
    assert [k["kid"] for k in shown["gateway"]["keys"]] == [ex.gw.kid]
    (ua,) = shown["parties"]["ua"]
    assert (ua["not_before"], ua["revoked_at"]) == ("2026-01-01T00:00:00Z", "2026-06-01T00:00:00Z")

    loaded = TrustStore.load(store)
    key = loaded.signing_key("ua", pinned["kid"], parse_time("2026-03-01T00:00:00Z"))
    assert key.kid == pinned["kid"]

    unknown = run_cli("trust", "revoke", str(store), "ua", "no-such-kid", check=False)
    assert unknown.returncode == EXIT_LOCAL and "pins no key no-such-kid" in unknown.stderr
    missing = run_cli("trust", "show", str(tmp_path / "none.json"), check=False)
    assert missing.returncode == EXIT_LOCAL and "gateway trust gateway" in missing.stderr


def test_status_with_a_trust_store_verifies_the_log_with_the_pinned_key(
    shared_exchange: Exchange, tmp_path: Path
) -> None:
    ex = shared_exchange
    args = ["--gateway", ex.gw.url, "--id", "ua", "--keys", str(ex.ua.prefix)]
    note = tmp_path / "note.txt"
    note.write_text("hello\n", encoding="utf-8")
    sent = json.loads(run_cli("send", *args, "--to", "ru", "--kind", "message", str(note)).stdout)
    good = ex.gw.trust_file(ex.ua)
    status = json.loads(run_cli("status", *args, sent["packet_id"], "--trust", str(good)).stdout)
    assert status["log"]["verified"] is True

    # A store that pins another key for the gateway: the checkpoint does not verify.
    other = tmp_path / "other.json"
    run_cli("init", str(tmp_path / "other-gw"))
    impostor = load_signing_key(tmp_path / "other-gw" / "keys" / "gateway.sig.jwk").public
    pinned = TrustStore.load(good)
    assert pinned.gateway is not None
    pinned.with_gateway(
        replace(pinned.gateway, keys=(RegisteredKey(impostor),))
    ).save(other)
    refused = run_cli("status", *args, sent["packet_id"], "--trust", str(other), check=False)
    assert refused.returncode == EXIT_VERIFICATION
    assert json.loads(refused.stdout)["log"]["verified"] is False




def _keys_with_a_dash_led_kid(prefix: Path) -> str:
    """Writes PREFIX.pub.json for a signing key whose kid begins with '-' (1 in 64)."""
    while not (sig := SigningKey.generate()).kid.startswith("-"):
        pass
    enc = EncryptionKey.generate()
    public = {"sig": sig.public.to_jwk(with_meta=True), "enc": enc.public.to_jwk(with_meta=True)}
    prefix.parent.mkdir(parents=True, exist_ok=True)
    Path(f"{prefix}.pub.json").write_text(json.dumps(public), encoding="utf-8")
    return sig.kid


def test_a_kid_that_begins_with_a_dash_is_a_value_on_every_command(
    shared_exchange: Exchange, tmp_path: Path
) -> None:
    """Regression: ``trust revoke FILE PARTY KID`` and ``party revoke-key DIR ID
    KID`` took a kid beginning with '-' for an option (a usage error), one valid
    key in 64."""
    ex = shared_exchange
    prefix = tmp_path / "dash"
    kid = _keys_with_a_dash_led_kid(prefix)

    store = tmp_path / "dash.trust.json"
    run_cli("trust", "add", str(store), "ua", "--keys", f"{prefix}.pub.json")
    revoked = run_cli("trust", "revoke", str(store), "ua", kid, "--at", "2026-06-01T00:00:00Z")
    assert json.loads(revoked.stdout)["revoked"] == kid
    (pinned,) = json.loads(run_cli("trust", "show", str(store)).stdout)["parties"]["ua"]
    assert (pinned["kid"], pinned["revoked_at"]) == (kid, "2026-06-01T00:00:00Z")

    run_cli("party", "add", str(ex.gw.root), "dash", "--role", "party",
            "--keys", f"{prefix}.pub.json")  # fmt: skip
    assert json.loads(run_cli("party", "revoke-key", str(ex.gw.root), "dash", kid).stdout) == {
        "id": "dash", "revoked": kid,
    }  # fmt: skip
    (party,) = [p for p in json.loads(run_cli("party", "list", str(ex.gw.root)).stdout)
                if p["id"] == "dash"]  # fmt: skip
    assert [k["revoked_at"] is not None for k in party["keys"] if k["kid"] == kid] == [True]
