"""Export from SQLite and import into PostgreSQL at scale; every packet deliverable after.

Builds a real SQLite gateway with N packets (default 10^5), half ua -> ru,
half ru -> ua, one to three text parts each (some over the 256 KiB a packet
keeps in the database, so part files too): each packet taken in by the
gateway's own intake (``gateway.server.intake.accept``: signature checks,
parts sealed at rest, a signed ACCEPTED receipt in the log, group commit)
without HTTP in front, then extracted to READY by ``gateway serve`` — N
receipts in the log, none fetched. Then, timed: ``gateway export``, the
config pointed at a fresh PostgreSQL database (a throwaway cluster,
``tests/postgres.py``), ``gateway import``; the log's size and root on both
sides compared. ``gateway serve`` on PostgreSQL, then every packet checked
deliverable:

* the delivery query: each recipient's inbox (``GET /v1/inbox``, 1000 a
  page) lists every packet sent to it, READY;
* the blob digests: every stored part decrypted from the database or the
  blob directory, its SHA-256 that of the bytes sent;
* end to end: a seeded random 1,000 packets (``--pull-all``: all of them)
  pulled by their recipient (``Puller``: fetch, open, verify, DELIVERED
  receipt), each part compared with the bytes sent.

    python bench/transfer.py [--receipts N] [--pull-all] [--seed S]

The output says which of the two end-to-end checks ran.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.party.pull import Puller
from gateway.protocol.crypto.seal import StorageKey
from gateway.server import intake
from gateway.server.config import DataDir
from gateway.server.service import Gateway
from gateway.server.store import BlobStore, Database
from tests.failover import packet_for, packet_id_for, part_files
from tests.harness import GatewayProcess, Party, get, quick_party, run_cli, wait_for
from tests.postgres import PostgresServer

BIG_PART_SHARE = 0.002  # of parts: ~300 KB part files, ~200 MB at 10^5 packets
INTAKE_BATCH = 512  # packets taken in at once: their commits share write groups
END_TO_END = 1_000  # packets pulled end to end unless --pull-all
PULL_CONCURRENCY = 8  # deliveries fetched at once by the sampled pull
EXTRACTION_TIMEOUT_S = 3600.0  # 10^5 packets on a shared 2-core machine
TRANSFER_TIMEOUT_S = 1800.0  # gateway export / import of 10^5 receipts


class _Part:
    """One part, as the HTTP layer would hand it to intake."""

    def __init__(self, name: str, data: bytes) -> None:
        self._name, self._data = name, data

    @property
    def name(self) -> str | None:
        return self._name

    async def chunks(self) -> AsyncIterator[bytes]:
        yield self._data


class _Parts:
    """The parts of one packet, in manifest order."""

    def __init__(self, files: list[tuple[str, bytes]]) -> None:
        self._files = iter(files)

    async def next(self) -> _Part | None:
        found = next(self._files, None)
        return None if found is None else _Part(*found)


def route(index: int, ua: Party, ru: Party) -> tuple[Party, Party]:
    """Sender and recipient of packet ``index``: both directions, alternately."""
    return (ua, ru) if index % 2 == 0 else (ru, ua)


async def take_in(root: Path, seed: int, count: int, ua: Party, ru: Party) -> None:
    gw = Gateway(root)
    try:
        for start in range(0, count, INTAKE_BATCH):

            async def one(i: int) -> None:
                sender, recipient = route(i, ua, ru)
                packet = packet_for(seed, i, sender, recipient.id, big_share=BIG_PART_SHARE)
                result = await intake.accept(gw, sender.id, packet.envelope, _Parts(packet.files))
                assert result.status == 202, result

            await asyncio.gather(*(one(i) for i in range(start, min(count, start + INTAKE_BATCH))))
    finally:
        gw.close()


def waiting(root: Path) -> int:
    with sqlite3.connect(f"file:{root / 'dxg.sqlite3'}?mode=ro", uri=True) as conn:
        row = conn.execute(
            "SELECT COUNT(*) FROM packets WHERE status IN ('ACCEPTED', 'EXTRACTING')"
        ).fetchone()
    return int(row[0])


def inbox_ready(gw: GatewayProcess, party: Party) -> set[str]:
    """Every READY packet in ``party``'s inbox, page by page (the delivery query)."""
    ready: set[str] = set()
    cursor = 0
    while True:
        page = get(gw, party, f"/v1/inbox?after={cursor}&limit=1000").json()
        ready |= {item["packet_id"] for item in page["items"] if item["status"] == "READY"}
        if page["next"] == cursor:
            return ready
        cursor = int(page["next"])


def blob_digests(root: Path, dsn: str, seed: int, ids: dict[str, int]) -> int:
    """Decrypt every stored part; check its SHA-256 against the bytes sent. Parts checked."""
    data = DataDir(root)
    blobs = BlobStore(data.blobs_of(data.load_config()), StorageKey.load(data.storage_key_path))
    db = Database(dsn)
    try:
        rows = db.read_sync(lambda c: c.execute(
            "SELECT b.packet_id, p.blob_dir, b.name, b.part_name, b.inline FROM blobs b"
            " JOIN packets p ON p.packet_id = b.packet_id WHERE b.role = 'part'"
        ).fetchall())  # fmt: skip
    finally:
        db.close()
    stored: dict[str, dict[str, bytes]] = {}
    for packet_id, blob_dir, name, part_name, inline in rows:
        plain = blobs.read_all(blob_dir, packet_id, name, None if inline is None else bytes(inline))
        stored.setdefault(packet_id, {})[part_name] = hashlib.sha256(plain).digest()
    assert set(stored) == set(ids), "parts stored for other packets than those sent"
    for packet_id, index in ids.items():
        sent = {n: hashlib.sha256(d).digest()
                for n, _, d in part_files(seed, index, big_share=BIG_PART_SHARE)}  # fmt: skip
        assert stored[packet_id] == sent, f"packet {index}: a part differs from what was sent"
    return len(rows)


async def pull_sample(
    gw: GatewayProcess, seed: int, chosen: list[tuple[str, int]], parties: dict[str, Party],
    recipient_of: dict[str, str], out: Path,
) -> int:  # fmt: skip
    """Pull the chosen packets end to end, compare every part; bytes compared."""
    gate = asyncio.Semaphore(PULL_CONCURRENCY)
    compared = 0
    clients = {pid: gw.client(party) for pid, party in parties.items()}
    try:

        async def one(packet_id: str, index: int) -> None:
            nonlocal compared
            recipient = recipient_of[packet_id]
            async with gate:
                result = await Puller(clients[recipient]).pull_one(packet_id, out / recipient)
            assert result.level == "DELIVERED" and result.folder is not None, result
            for name, _, data in part_files(seed, index, big_share=BIG_PART_SHARE):
                assert (result.folder / "parts" / name).read_bytes() == data, (index, name)
                compared += len(data)

        await asyncio.gather(*(one(p, i) for p, i in chosen))
    finally:
        for client in clients.values():
            await client.close()
    return compared


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--receipts", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1402)
    parser.add_argument("--pull-all", action="store_true",
                        help="pull every packet end to end, not a random 1,000")  # fmt: skip
    args = parser.parse_args()
    postgres = PostgresServer.start()
    try:
        with tempfile.TemporaryDirectory(prefix="dxg-transfer-") as tmp, \
                postgres.database() as dsn:  # fmt: skip
            return run(Path(tmp), dsn, args.receipts, args.seed, args.pull_all)
    finally:
        postgres.close()


def run(tmp: Path, dsn: str, count: int, seed: int, pull_all: bool) -> int:
    gw = GatewayProcess(root=tmp / "gw")
    gw.init()
    ua, ru = quick_party(gw, "ua"), quick_party(gw, "ru")
    mon = quick_party(gw, "mon", role="monitor")
    started = time.perf_counter()
    asyncio.run(take_in(gw.root, seed, count, ua, ru))
    intake_s = time.perf_counter() - started
    gw.start()
    wait_for(lambda: waiting(gw.root) == 0, timeout=EXTRACTION_TIMEOUT_S, interval=1)
    wait_for(lambda: int(get(gw, mon, "/v1/log/checkpoint").body.split(b"\n")[1]) == count,
             timeout=600, interval=0.5)  # fmt: skip
    built_s = time.perf_counter() - started
    gw.stop()

    dump = tmp / "export.jsonl"
    started = time.perf_counter()
    exported = json.loads(run_cli("export", str(gw.root), str(dump),
                                  timeout=TRANSFER_TIMEOUT_S).stdout)  # fmt: skip
    export_s = time.perf_counter() - started
    config_path = gw.root / "config.json"
    config_path.write_text(json.dumps(json.loads(config_path.read_text()) | {"database": dsn}))
    run_cli("migrate", str(gw.root))
    started = time.perf_counter()
    imported = json.loads(run_cli("import", str(gw.root), str(dump),
                                  timeout=TRANSFER_TIMEOUT_S).stdout)  # fmt: skip
    import_s = time.perf_counter() - started
    same = (imported["log_size"], imported["log_root"]) == (exported["log_size"],
                                                           exported["log_root"])  # fmt: skip
    (gw.root / "dxg.sqlite3").rename(gw.root / "moved-away.sqlite3")  # served from PostgreSQL only
    print(f"{count} packets, {exported['log_size']} receipts: built in {built_s:.0f} s (intake "
          f"{intake_s:.0f} s, then extraction by gateway serve); export {export_s:.1f} s "
          f"({dump.stat().st_size / 2**20:.0f} MiB); import into PostgreSQL {import_s:.1f} s; "
          f"root {exported['log_root'][:16]}..., identical after import: {same}")  # fmt: skip
    if not same:
        return 1

    gw.start()
    try:
        ids = {packet_id_for(seed, i): i for i in range(count)}
        recipient_of = {p: route(i, ua, ru)[1].id for p, i in ids.items()}
        started = time.perf_counter()
        ready = inbox_ready(gw, ru) | inbox_ready(gw, ua)
        assert ready == set(ids), f"{len(set(ids) - ready)} packets not READY in an inbox"
        parts = blob_digests(gw.root, dsn, seed, ids)
        checked_s = time.perf_counter() - started
        print(f"delivery query: all {len(ready)} packets READY in their recipient's inbox; "
              f"blob digests: {parts} parts decrypted, every SHA-256 the one sent "
              f"({checked_s:.0f} s)")  # fmt: skip
        everything = sorted(ids.items(), key=lambda item: item[1])
        chosen = everything if pull_all else random.Random(seed).sample(
            everything, min(END_TO_END, count))  # fmt: skip
        started = time.perf_counter()
        compared = asyncio.run(pull_sample(gw, seed, chosen, {"ua": ua, "ru": ru},
                                           recipient_of, tmp / "pulled"))  # fmt: skip
        pulled_s = time.perf_counter() - started
        which = "every packet" if pull_all else f"a seeded random {len(chosen)} (seed {seed})"
        print(f"end to end: {which} pulled by its recipient, DELIVERED, {compared} bytes "
              f"identical to those sent ({pulled_s:.0f} s)")  # fmt: skip
    finally:
        gw.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
