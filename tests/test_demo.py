"""The README's first command: ``gateway demo`` runs a whole exchange and ends by itself."""

from __future__ import annotations

from tests.harness import run_cli


def test_the_demo_exchanges_verifies_audits_and_stops_cleanly() -> None:
    proc = run_cli("demo", timeout=300)
    out = proc.stdout
    assert out.count("signatures and digests verified") == 2
    assert out.count("sent DELIVERED") == 2
    assert "1 record(s)" in out  # extraction ran on the generated forms
    assert "verified, cosigned; 4 receipts verified" in out
    assert "exit code 0" in out
    last = out.rstrip().splitlines()[-1]
    assert last == "Every packet was delivered, verified end to end and acknowledged."
