"""The receipt log end to end: 200 exchanges, a clean audit, then a tampered store.

One real gateway process exchanges 200 packets between ``ua`` and ``ru``;
``gateway monitor`` (its own process) audits them clean and saves its state.
Then the gateway is stopped, its SQLite file tampered with the way an
insider with the database could (triggers dropped first), the gateway
restarted, and the monitor must name each tampering and exit 3.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import shutil
import sqlite3
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gateway.monitor.tree import tree_root
from gateway.party.client import Client
from gateway.party.pull import Puller
from gateway.protocol.crypto import jws
from gateway.protocol.crypto.digest import sha256_hex
from gateway.protocol.errors import EXIT_LOCAL
from gateway.protocol.receipt import sign_receipt
from gateway.server.log import MerkleLog
from tests.conftest import Exchange
from tests.harness import GatewayProcess, Party, get, run_cli, wait_for

UA_TO_RU, RU_TO_UA = 190, 10
PENDING, REJECTED, PROCESSED = 5, 5, 10  # of ua -> ru; the rest is just DELIVERED
SEND_CONCURRENCY = 16
MONITOR_EXIT_FAILED = 3


def client_args(gw: GatewayProcess, party: Party) -> list[str]:
    return ["--gateway", gw.url, "--id", party.id, "--keys", str(party.prefix)]


def monitor(
    gw: GatewayProcess, mon: Party, *extra: str, state: Path | None = None
) -> subprocess.CompletedProcess[str]:
    args = ["monitor", *client_args(gw, mon), "--once", *extra]
    if state is not None:
        args += ["--state", str(state)]
    return run_cli(*args, check=False)


async def send_many(
    gw: GatewayProcess, sender: Party, recipient: str, n: int, folder: Path
) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    note = folder / "note.txt"
    note.write_bytes(f"status update from {sender.id}\n".encode())
    gate = asyncio.Semaphore(SEND_CONCURRENCY)
    async with Client(gw.url, sender.identity) as client:

        async def one() -> str:
            async with gate:
                answer = await client.send([note], recipient=recipient, kind="message")
            assert answer["status"] == "ACCEPTED"
            return str(answer["packet_id"])

        return list(await asyncio.gather(*(one() for _ in range(n))))


async def recipient_receipt(
    client: Client, packet_id: str, level: str, reason: str | None = None
) -> str:
    """A receipt naming exactly what was delivered, as a back office would send it."""
    index = json.loads(await client.fetch_sealed(f"/v1/deliveries/{packet_id}"))
    manifest = json.loads(jws.parse(index["envelope"], typ=jws.TYP_PACKET).payload)
    return sign_receipt(
        client.identity.signing,
        level=level,
        packet_id=packet_id,
        issuer=client.identity.party_id,
        sender=str(index["sender"]),
        recipient=client.identity.party_id,
        envelope_sha256=sha256_hex(index["envelope"]),
        parts=[(p["name"], p["sha256"]) for p in manifest["parts"]],
        extraction_sha256=sha256_hex(index["extraction"]),
        reason=reason,
    )


async def receive(
    gw: GatewayProcess,
    party: Party,
    expected: list[str],
    out: Path,
    *,
    pending: int,
    rejected: int,
    processed: int,
) -> None:
    """Pull everything but ``pending`` packets; reject some, process some."""
    async with gw.client(party) as client:

        async def ready() -> set[str]:
            items: list[dict[str, Any]] = []
            cursor = 0
            while True:
                page = await client.inbox(cursor, limit=1000)
                items += page["items"]
                if page["next"] == cursor:
                    return {i["packet_id"] for i in items if i["status"] == "READY"}
                cursor = page["next"]

        for _ in range(300):
            if await ready() >= set(expected):
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("packets did not become READY")
        to_reject = expected[pending : pending + rejected]
        to_pull = expected[pending + rejected :]
        for packet_id in to_reject:
            await client.send_receipt(
                await recipient_receipt(client, packet_id, "REJECTED", "test: refused")
            )
        gate = asyncio.Semaphore(SEND_CONCURRENCY)

        async def pull(packet_id: str) -> None:
            async with gate:
                result = await Puller(client).pull_one(packet_id, out)
            assert result.level == "DELIVERED", result.reason

        await asyncio.gather(*map(pull, to_pull))
        for packet_id in to_pull[:processed]:
            await client.send_receipt(await recipient_receipt(client, packet_id, "PROCESSED"))


def checkpoint_size(gw: GatewayProcess, mon: Party) -> int:
    return int(get(gw, mon, "/v1/log/checkpoint").body.decode().split("\n")[1])


# --- Tampering: what an insider with the SQLite file can do ---------------------------


def open_db(gw: GatewayProcess) -> sqlite3.Connection:
    conn = sqlite3.connect(gw.root / "dxg.sqlite3", isolation_level=None)
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        conn.execute(f"DROP TRIGGER {name}")
    return conn


def altered(entry: bytes) -> bytes:
    """The same receipt with another issued_at, its signature kept: a forgery."""
    head, body, sig = entry.decode().split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims["issued_at"] = "2020-01-01T00:00:00Z"
    forged = base64.urlsafe_b64encode(json.dumps(claims, separators=(",", ":")).encode())
    return f"{head}.{forged.rstrip(b'=').decode()}.{sig}".encode()


def alter_entry(conn: sqlite3.Connection, index: int) -> None:
    (entry,) = conn.execute("SELECT entry FROM log_entries WHERE idx = ?", (index,)).fetchone()
    forged = altered(bytes(entry))
    conn.execute("UPDATE log_entries SET entry = ? WHERE idx = ?", (forged, index))
    conn.execute("UPDATE receipts SET compact = ? WHERE log_index = ?", (forged.decode(), index))


def rebuild_tree(conn: sqlite3.Connection) -> None:
    """Forget the tree and every checkpoint: the gateway re-signs what is there now."""
    conn.execute("DELETE FROM log_nodes")
    conn.execute("UPDATE log_meta SET size = 0")
    conn.execute("DELETE FROM log_checkpoints")
    conn.execute("DELETE FROM log_cosignatures")


def remove_entry(conn: sqlite3.Connection) -> None:
    conn.execute("DELETE FROM log_entries WHERE idx = 17")
    conn.execute("DELETE FROM receipts WHERE log_index = 17")


def alter_receipt(conn: sqlite3.Connection) -> None:
    alter_entry(conn, 42)


def rewrite_history(conn: sqlite3.Connection) -> None:
    alter_entry(conn, 42)
    rebuild_tree(conn)


def rewrite_and_extend(conn: sqlite3.Connection) -> None:
    rewrite_history(conn)
    (last,) = conn.execute("SELECT MAX(idx) FROM log_entries").fetchone()
    conn.execute(
        "INSERT INTO log_entries (idx, entry, appended_at) SELECT ?, entry, appended_at"
        " FROM log_entries WHERE idx = 0",
        (last + 1,),
    )


def roll_back(conn: sqlite3.Connection) -> None:
    """Restore the log as it was ten receipts ago, as from an old backup."""
    (size,) = conn.execute("SELECT COUNT(*) FROM log_entries").fetchone()
    conn.execute("DELETE FROM log_entries WHERE idx >= ?", (size - 10,))
    conn.execute("DELETE FROM receipts WHERE log_index >= ?", (size - 10,))
    rebuild_tree(conn)


def remove_new_entry(conn: sqlite3.Connection) -> None:
    """Remove an entry the early monitor state has not audited yet."""
    conn.execute("DELETE FROM log_entries WHERE idx = ?", (NEW_INDEX,))
    conn.execute("DELETE FROM receipts WHERE log_index = ?", (NEW_INDEX,))


def alter_new_receipt(conn: sqlite3.Connection) -> None:
    alter_entry(conn, NEW_INDEX)


@dataclass(frozen=True)
class Tampering:
    name: str
    tamper: Callable[[sqlite3.Connection], None]
    expected: tuple[str, ...]  # what the monitor's stderr must say
    # Which saved state the monitor starts from: "clean" (the whole log audited),
    # "early" (only the ACCEPTED receipts audited: the pass is incremental over
    # the rest) or None (a fresh monitor).
    state: str | None = "clean"
    flags: tuple[str, ...] = ()


NEW_INDEX = UA_TO_RU + RU_TO_UA + 30  # past the early state's size: new to an incremental pass

TAMPERING = [
    Tampering(
        "entry removed",
        remove_entry,
        ("MISSING-ENTRY [log index 17]", "log entry 17 is missing", "checkpoint has at 18"),
        flags=("--full",),
    ),
    Tampering(
        "receipt altered",
        alter_receipt,
        ("ALTERED-ENTRY [log index 42]", "log entry 42 was altered"),
        flags=("--full",),
    ),
    Tampering(
        "new entry removed, incremental",
        remove_new_entry,
        (f"MISSING-ENTRY [log index {NEW_INDEX}]", f"log entry {NEW_INDEX} is missing"),
        state="early",
    ),
    Tampering(
        "new receipt altered, incremental",
        alter_new_receipt,
        (f"ALTERED-ENTRY [log index {NEW_INDEX}]", f"log entry {NEW_INDEX} was altered"),
        state="early",
    ),
    Tampering("history rewritten", rewrite_history, ("FORK", "two different trees of size")),
    Tampering(
        "rewritten and extended",
        rewrite_and_extend,
        ("FORK", "not consistent with the one verified before"),
    ),
    Tampering(
        "history rewritten, incremental",
        rewrite_history,
        ("FORK", "not consistent with the one verified before"),
        state="early",
    ),
    Tampering(
        "forged receipt, fresh monitor",
        rewrite_history,
        ("RECEIPT-SIGNATURE [log index 42]", "bad signature"),
        state=None,
    ),
    Tampering("checkpoint rolled back", roll_back, ("ROLLBACK", "the log was rolled back")),
]


def test_monitor_audits_200_exchanges_and_names_every_tampering(
    exchange: Exchange, tmp_path: Path
) -> None:
    gw, ua, ru, mon = exchange.gw, exchange.ua, exchange.ru, exchange.mon

    early_state = tmp_path / "mon.early.json"

    async def run() -> tuple[list[str], list[str]]:
        to_ru, to_ua = await asyncio.gather(
            send_many(gw, ua, "ru", UA_TO_RU, tmp_path / "ua"),
            send_many(gw, ru, "ua", RU_TO_UA, tmp_path / "ru"),
        )
        # A monitor audits the ACCEPTED receipts alone; its next pass will read
        # only what the exchanges add after them.
        await asyncio.to_thread(
            wait_for, lambda: checkpoint_size(gw, mon) == UA_TO_RU + RU_TO_UA, timeout=10
        )
        early = await asyncio.to_thread(monitor, gw, mon, state=early_state)
        assert early.returncode == 0, early.stderr
        await asyncio.gather(
            receive(
                gw,
                ru,
                to_ru,
                tmp_path / "in-ru",
                pending=PENDING,
                rejected=REJECTED,
                processed=PROCESSED,
            ),
            receive(gw, ua, to_ua, tmp_path / "in-ua", pending=0, rejected=0, processed=0),
        )
        return to_ru, to_ua

    to_ru, _ = asyncio.run(run())
    total_receipts = (
        UA_TO_RU
        + RU_TO_UA  # ACCEPTED
        + (UA_TO_RU - PENDING - REJECTED)
        + RU_TO_UA  # DELIVERED
        + REJECTED
        + PROCESSED
    )
    wait_for(lambda: checkpoint_size(gw, mon) == total_receipts, timeout=10)

    # A party proves its packet's receipts are in the signed log.
    processed_packet = to_ru[PENDING + REJECTED]
    status = json.loads(run_cli("status", *client_args(gw, ua), processed_packet).stdout)
    assert status["log"]["verified"] is True
    assert [r["level"] for r in status["log"]["receipts"]] == ["ACCEPTED", "DELIVERED", "PROCESSED"]
    assert status["log"]["checkpoint"]["size"] == total_receipts

    state = tmp_path / "mon.state.json"
    clean = monitor(gw, mon, "--json", state=state)
    assert clean.returncode == 0, clean.stderr
    report = json.loads(clean.stdout)
    assert report["verified"] is True and report["findings"] == []
    assert report["receipts"] == total_receipts
    pairs = {(p["sender"], p["recipient"]): p for p in report["pairs"]}
    assert pairs[("ua", "ru")] | {"accepted_to_delivered_s": None} == {
        "sender": "ua",
        "recipient": "ru",
        "packets": UA_TO_RU,
        "delivered": UA_TO_RU - PENDING - REJECTED,
        "processed": PROCESSED,
        "rejected": REJECTED,
        "expired": 0,
        "pending": PENDING,
        "overdue": 0,
        "accepted_to_delivered_s": None,
    }
    assert pairs[("ru", "ua")]["delivered"] == RU_TO_UA
    assert pairs[("ua", "ru")]["accepted_to_delivered_s"]["median"] is not None
    saved = json.loads(state.read_text())
    assert saved["body"]["size"] == total_receipts

    # The readable table, from a second pass that is consistent with the first.
    table = monitor(gw, mon, state=state)
    assert table.returncode == 0, table.stderr
    assert "ua -> ru" in table.stdout and "verified" in table.stdout

    # The early monitor's pass reads only the new entries and reports what the
    # full audit reported.
    pristine_early = tmp_path / "pristine.early.json"
    shutil.copy(early_state, pristine_early)
    incremental = monitor(gw, mon, "--json", state=early_state)
    assert incremental.returncode == 0, incremental.stderr
    again = json.loads(incremental.stdout)
    assert again["audited"] == {
        "mode": "incremental", "from": UA_TO_RU + RU_TO_UA, "to": total_receipts
    }
    assert again["receipts"] == total_receipts - UA_TO_RU - RU_TO_UA
    assert again["pairs"] == report["pairs"]
    assert report["audited"] == {"mode": "full", "from": 0, "to": total_receipts}

    gw.stop()
    pristine, pristine_state = tmp_path / "pristine", tmp_path / "pristine.state.json"
    shutil.copytree(gw.root, pristine)
    shutil.copy(state, pristine_state)
    for case in TAMPERING:
        name = case.name
        shutil.rmtree(gw.root)
        shutil.copytree(pristine, gw.root)
        run_state = tmp_path / f"state-{name.replace(' ', '-').replace(',', '')}.json"
        saved = {"clean": pristine_state, "early": pristine_early}.get(case.state or "")
        if saved is not None:
            shutil.copy(saved, run_state)
        conn = open_db(gw)
        try:
            case.tamper(conn)
        finally:
            conn.close()
        gw.start()
        try:
            caught = monitor(gw, mon, *case.flags, state=run_state)
        finally:
            gw.stop()
        assert caught.returncode == MONITOR_EXIT_FAILED, (name, caught.stdout, caught.stderr)
        for text in case.expected:
            assert text in caught.stderr, (name, caught.stderr)
        if saved is not None:  # a failed pass never advances the state
            assert json.loads(run_state.read_text()) == json.loads(saved.read_text())

    # An edited state file is refused, not trusted: its tree (the checkpoint
    # covers that), and its chain book (which only the monitor's own
    # signature covers), edited in place or rewritten as other JSON.
    bad_state = tmp_path / "edited.state.json"
    early_size = UA_TO_RU + RU_TO_UA
    text = pristine_early.read_text()
    edits = {
        "size": text.replace(f'"size":{early_size},', f'"size":{early_size - 1},'),
        "packets": text.replace(f'"packets":{UA_TO_RU},', f'"packets":{UA_TO_RU - 1},'),
        "open chain": re.sub(r'"open":\{"[0-9a-f-]{36}":\{[^{}]*\},', '"open":{', text, count=1),
    }
    for edit, changed in edits.items():
        assert changed != text, edit
        bad_state.write_text(changed)
        refused = monitor(gw, mon, state=bad_state)
        assert refused.returncode == EXIT_LOCAL, edit
        assert "state file does not verify: bad signature" in refused.stderr, edit
    reformatted = json.loads(text)
    bad_state.write_text(json.dumps(reformatted, indent=2))
    refused = monitor(gw, mon, state=bad_state)
    assert refused.returncode == EXIT_LOCAL
    assert "state file does not verify" in refused.stderr


@pytest.mark.parametrize("size", [0, 1, 2, 3, 7, 8, 9, 100])
def test_tree_root_matches_the_gateway_tree(size: int, tmp_path: Path) -> None:
    entries = [f"entry {i}".encode() for i in range(size)]
    with MerkleLog(tmp_path / "log.sqlite3") as log:
        log.append(entries)
        log.integrate()
        assert tree_root(entries) == log.root()
