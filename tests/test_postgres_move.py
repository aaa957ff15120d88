"""Issue 14's move at small scale: every packet still deliverable after export/import.

A SQLite gateway with 300 packets both ways (300 ACCEPTED receipts), all
extracted and none fetched yet, is stopped, exported, imported into
PostgreSQL and served again: the same log root at the same size, the
monitor (keeping its state) finds the new log consistent with the old, and
each recipient pulls every one of its packets, each part's SHA-256 the one
sent. ``bench/transfer.py`` does the same at 10^5 receipts.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from gateway.server import transfer
from tests.conftest import running_exchange
from tests.failover import SENDERS, checkpoint_size, packet_for
from tests.harness import (
    GatewayProcess,
    Packet,
    Party,
    make_packet,
    post_packet,
    run_cli,
    wait_for,
)
from tests.postgres import move_to_postgres

PACKETS = 300  # receipts to move: a few seconds of intake, every one pulled after
SEED = 1401


def waiting_for_extraction(gw: GatewayProcess) -> int:
    with sqlite3.connect(f"file:{gw.root / 'dxg.sqlite3'}?mode=ro", uri=True) as conn:
        row = conn.execute(
            "SELECT COUNT(*) FROM packets WHERE status IN ('ACCEPTED', 'EXTRACTING')"
        ).fetchone()
    return int(row[0])


def test_300_receipts_move_to_postgresql_and_every_packet_is_pulled_after(
    tmp_path: Path, postgres_dsn: str
) -> None:
    with running_exchange(tmp_path) as ex:
        gw = ex.gw
        plan: list[tuple[Party, Packet]] = []
        for i in range(PACKETS):
            sender, recipient = (ex.ua, "ru") if i % 2 == 0 else (ex.ru, "ua")
            plan.append((sender, packet_for(SEED, i, sender, recipient)))
        with ThreadPoolExecutor(SENDERS) as pool:
            answers = list(pool.map(lambda sp: post_packet(gw, sp[0], sp[1]), plan))
        assert [a.status for a in answers] == [202] * PACKETS
        wait_for(lambda: waiting_for_extraction(gw) == 0, timeout=120, interval=0.2)
        wait_for(lambda: checkpoint_size(gw, ex.mon) == PACKETS, timeout=30)
        state = tmp_path / "mon.state.json"
        monitor = ["monitor", "--id", "mon", "--keys", str(ex.mon.prefix), "--once", "--json",
                   "--state", str(state)]  # fmt: skip
        assert run_cli(*monitor, "--gateway", gw.url, check=False).returncode == 0
        gw.stop()

        exported, imported = move_to_postgres(gw, postgres_dsn, tmp_path / "export.jsonl")
        assert exported["log_size"] == PACKETS
        assert imported == exported  # the same log size and root, every table's rows
        (gw.root / "dxg.sqlite3").rename(gw.root / "moved-away.sqlite3")  # nothing read from it

        gw.start()
        sent = {packet.packet_id: packet for _, packet in plan}
        delivered: list[str] = []
        for party in (ex.ru, ex.ua):
            pulled = json.loads(run_cli("pull", "--gateway", gw.url, "--id", party.id, "--keys",
                                        str(party.prefix), "--trust", str(gw.trust_file(party)),
                                        "--out", str(tmp_path / f"in-{party.id}"),
                                        timeout=300).stdout)  # fmt: skip
            for result in pulled:
                assert result["receipt"] == "DELIVERED", result
                folder = Path(result["folder"]) / "parts"
                for name, data in sent[result["packet_id"]].files:
                    digest = hashlib.sha256((folder / name).read_bytes()).hexdigest()
                    assert digest == hashlib.sha256(data).hexdigest(), (result["packet_id"], name)
                delivered.append(result["packet_id"])
        assert sorted(delivered) == sorted(sent)  # every packet, each once
        wait_for(lambda: checkpoint_size(gw, ex.mon) == 2 * PACKETS, timeout=30)
        audit = run_cli(*monitor, "--gateway", gw.url, check=False)
        assert audit.returncode == 0, audit.stderr  # consistent with the SQLite-era checkpoint
        report = json.loads(audit.stdout)
        assert report["findings"] == [] and report["previous"]["size"] == PACKETS


def test_import_of_more_part_rows_than_one_batch_keeps_packets_before_their_parts(
    tmp_path: Path, postgres_dsn: str
) -> None:
    """Regression: ``gateway import`` inserted rows a batch of BATCH_ROWS at a
    time per table, so a full batch of ``blobs`` went in while the last
    ``packets`` rows still waited in theirs: a foreign-key violation and
    "internal error" for any deployment with over 1,000 parts (found by
    bench/transfer.py at 600 packets). Rows now go in in the export's
    parents-before-children order."""
    parts_per_packet = 63  # SPEC §3 allows 64
    packets = transfer.BATCH_ROWS // parts_per_packet + 1  # 16 packets, 1008 part rows
    assert packets < transfer.BATCH_ROWS < packets * parts_per_packet
    with running_exchange(tmp_path) as ex:
        for i in range(packets):
            files = [(f"p{j}.txt", "text/plain", f"{i}/{j}\n".encode())
                     for j in range(parts_per_packet)]  # fmt: skip
            assert post_packet(ex.gw, ex.ua, make_packet(ex.ua, "ru", files)).status == 202
    dump = tmp_path / "export.jsonl"
    exported = json.loads(run_cli("export", str(ex.gw.root), str(dump)).stdout)
    config = json.loads((ex.gw.root / "config.json").read_text())
    (ex.gw.root / "config.json").write_text(json.dumps(config | {"database": postgres_dsn}))
    imported = run_cli("import", str(ex.gw.root), str(dump), check=False)
    assert imported.returncode == 0, imported.stderr
    assert json.loads(imported.stdout) == exported
