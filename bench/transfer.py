"""Export from SQLite and import into PostgreSQL at scale: time, size, the same log root.

Builds a SQLite gateway database with N receipts (default 10^5): each a
receipt-sized entry (~700 bytes) in the log and its row in ``receipts``,
integrated into the Merkle tree as the gateway would; then runs
``gateway.server.transfer`` export and import into a fresh PostgreSQL
database (a throwaway cluster, ``tests/postgres.py``) and compares the
log's size and root on both sides.

    python bench/transfer.py [--receipts N]

The synthetic receipts are not signed: this measures moving rows and
proving the log identical, not delivery (tests/test_postgres_gateway.py
moves real packets and delivers them after the move).
"""

from __future__ import annotations

import argparse
import base64
import secrets
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.server import migrations, transfer
from gateway.server.log import MerkleLog
from gateway.server.sql import Connection
from gateway.server.store import Database
from tests.postgres import PostgresServer

BATCH = 5_000  # receipts per write transaction while building the source


def build(path: Path, receipts: int) -> None:
    db = Database(path)
    db.write_sync(migrations.migrate)

    def batch(start: int, end: int) -> Callable[[Connection], None]:
        def run(c: Connection) -> None:
            entries = [(i, secrets.token_urlsafe(520).encode(), "2026-01-01T00:00:00Z")
                       for i in range(start, end)]  # fmt: skip
            c.executemany("INSERT INTO log_entries (idx, entry, appended_at) VALUES (?, ?, ?)",
                          entries)  # fmt: skip
            c.executemany(
                "INSERT INTO receipts (receipt_sha256, packet_id, level, issuer, log_index,"
                " compact) VALUES (?, ?, 'ACCEPTED', 'gw', ?, ?)",
                [(f"{i:064x}", f"p{i}", i, e.decode()) for i, e, _ in entries],
            )

        return run

    for start in range(0, receipts, BATCH):
        db.write_sync(batch(start, min(receipts, start + BATCH)))
    db.close()
    with MerkleLog(path) as log:
        while log.integrate():
            pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--receipts", type=int, default=100_000)
    args = parser.parse_args()
    postgres = PostgresServer.start()
    try:
        with tempfile.TemporaryDirectory(prefix="dxg-transfer-") as tmp, \
                postgres.database() as dsn:  # fmt: skip
            source, dump = Path(tmp) / "dxg.sqlite3", Path(tmp) / "export.jsonl"
            started = time.perf_counter()
            build(source, args.receipts)
            built = time.perf_counter() - started
            with MerkleLog(source) as log:
                size, root = log.size(), log.root()
            db = Database(source)
            started = time.perf_counter()
            with MerkleLog(source) as log, dump.open("w") as out:
                transfer.export(db, out, log)
            exported = time.perf_counter() - started
            db.close()
            target = Database(dsn)
            target.write_sync(migrations.migrate)
            started = time.perf_counter()
            with dump.open() as source_file:
                transfer.import_(target, source_file)
            imported = time.perf_counter() - started
            target.close()
            with MerkleLog(dsn) as log:
                same = (log.size(), log.root()) == (size, root)
            print(f"{args.receipts} receipts: built in {built:.1f} s; export {exported:.1f} s "
                  f"({dump.stat().st_size / 2**20:.0f} MiB); import into PostgreSQL "
                  f"{imported:.1f} s; log size {size}, root "
                  f"{base64.b64encode(root).decode()[:16]}..., identical after import: {same}")
            return 0 if same else 1
    finally:
        postgres.close()


if __name__ == "__main__":
    sys.exit(main())
