"""The README's first command: ``gateway demo`` runs a whole exchange and ends by itself."""

from __future__ import annotations

from tests.harness import run_cli


def test_the_demo_exchanges_verifies_audits_and_stops_cleanly() -> None:
    proc = run_cli("demo", timeout=300)
    out = proc.stdout
    assert out.count("signatures and digests verified") == 2
    assert out.count("sent DELIVERED") == 2
    assert "1 record(s)" in out  # extraction ran on the generated forms
    assert "verified, cosigned; 26 receipts verified, 58 case events verified" in out
    # The case story: counted by the monitor from the log alone.
    assert "a dossier about 8 children (2 turned 18 since displacement)" in out
    assert "7 VERIFIED, 1 DISPUTED" in out
    assert (
        "ru -> ua: 8 reunited in the last 24 h (8 in 7 d); aged out: 0 open, 2 reunited,"
        " 0 return overdue; overdue: 0 response, 0 contact"
    ) in out
    assert "exit code 0" in out
    last = out.rstrip().splitlines()[-1]
    assert last == "Every packet was delivered, verified end to end and acknowledged."
