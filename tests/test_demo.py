"""The README's first command: ``gateway demo`` runs a whole exchange and ends by itself."""

from __future__ import annotations

from pathlib import Path

from tests.harness import run_cli


def test_the_demo_exchanges_verifies_audits_and_stops_cleanly(tmp_path: Path) -> None:
    work = tmp_path / "demo"
    proc = run_cli("demo", "--dir", str(work), "--keep", timeout=300)
    out = proc.stdout
    assert out.count("signatures and digests verified") == 2
    assert out.count("sent DELIVERED") == 2
    assert "1 record(s)" in out  # extraction ran on the generated forms
    assert (
        "verified, cosigned; 26 receipts verified, 58 case events verified (whole log)" in out
    )
    # Each party pinned the gateway and its partner out of band (the trust store).
    assert "ua and ru pinned the gateway's key and each other's" in out
    assert (work / "trust" / "ua.json").is_file() and (work / "trust" / "ru.json").is_file()
    # Regression: an automated rename once named the gateway's log file
    # "gateway.protocol.merkle"; it is the gateway's log, gateway.log.
    assert (work / "gateway.log").is_file()
    assert not (work / "gateway.protocol.merkle").exists()
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
