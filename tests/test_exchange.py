"""End to end: two parties, each its own process, exchange packets both ways."""

from __future__ import annotations

import json
from pathlib import Path

from gateway.protocol.errors import EXIT_LOCAL
from tests.conftest import Exchange
from tests.harness import run_cli, tiny_pdf


def _client_args(ex: Exchange, party_id: str) -> list[str]:
    prefix = ex.gw.root.parent / "keys" / party_id
    return ["--gateway", ex.gw.url, "--id", party_id, "--keys", str(prefix)]


def _pin(ex: Exchange, party_id: str, partner: str) -> str:
    """The party's trust store, made with the CLI as an operator would: the
    gateway's key checked against the kid its operator gave, the partner's
    public keys from its ``.pub.json`` handed over out of band."""
    store = str(ex.gw.root.parent / f"{party_id}.trust.json")
    run_cli("trust", "gateway", store, "--gateway", ex.gw.url, "--expect-kid", ex.gw.kid)
    run_cli("trust", "add", store, partner, "--keys",
            str(ex.gw.root.parent / "keys" / f"{partner}.pub.json"))
    return store


def test_packets_flow_both_ways_byte_for_byte(exchange: Exchange, tmp_path: Path) -> None:
    sent: dict[str, dict[str, bytes]] = {}
    for sender, recipient in (("ua", "ru"), ("ru", "ua")):
        folder = tmp_path / f"out-{sender}"
        folder.mkdir()
        (folder / "dossier.pdf").write_bytes(tiny_pdf(f"from {sender}"))
        (folder / "note.txt").write_bytes(f"note from {sender}\n".encode())
        proc = run_cli(
            "send",
            *_client_args(exchange, sender),
            "--to",
            recipient,
            str(folder / "dossier.pdf"),
            str(folder / "note.txt"),
        )
        answer = json.loads(proc.stdout)
        assert answer["status"] == "ACCEPTED"
        sent[answer["packet_id"]] = {
            "dossier.pdf": (folder / "dossier.pdf").read_bytes(),
            "note.txt": (folder / "note.txt").read_bytes(),
        }

    for recipient, partner in (("ru", "ua"), ("ua", "ru")):
        inbox = tmp_path / f"in-{recipient}"
        unpinned = run_cli("pull", *_client_args(exchange, recipient), "--out", str(inbox),
                           check=False)
        assert unpinned.returncode == EXIT_LOCAL, unpinned.stderr
        assert "gateway trust" in unpinned.stderr and not inbox.exists()
        trust = _pin(exchange, recipient, partner)
        proc = run_cli("pull", *_client_args(exchange, recipient), "--out", str(inbox),
                       "--trust", trust)
        results = json.loads(proc.stdout)
        assert len(results) == 1
        (result,) = results
        assert result["receipt"] == "DELIVERED"
        for name, data in sent[result["packet_id"]].items():
            assert (Path(result["folder"]) / "parts" / name).read_bytes() == data

    for packet_id in sent:
        status = json.loads(run_cli("status", *_client_args(exchange, "ua"), packet_id,
                                    "--trust", str(exchange.gw.root.parent / "ua.trust.json"))
                            .stdout)
        assert status["log"]["verified"] is True
        assert status["status"] == "DELIVERED"
        assert [t["status"] for t in status["timeline"]] == [
            "ACCEPTED",
            "EXTRACTING",
            "READY",
            "DELIVERED",
        ]
        assert len(status["receipts"]) == 2
