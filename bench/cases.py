"""Cases benchmark (issue 10): events accepted per second, /v1/stats at 10^5 cases, the monitor.

    python bench/cases.py [--cases 100000] [--http-cases 500] [--concurrency 16]

One real gateway (its own process, SQLite with WAL and synchronous=FULL):

1. Seeding. Dossiers and their records are written straight into the
   gateway's tables (extraction is not what this measures). Then
   ``cases - http_cases`` cases × 6 events (REPORTED, VERIFIED with its
   verification packet, FAMILY_FOUND, CONTACT, RETURN_SCHEDULED, REUNITED),
   issued over the last 60 days in time order, go through the gateway's own
   acceptance (``gateway.server.cases.accept_event``: every check, the log
   append, the case row) in-process, one durable transaction per batch.
   Reported: events/s of that path (no HTTP, no signature check).
2. HTTP. The gateway serves; ``http_cases`` more cases × 6 events are posted
   by ``--concurrency`` concurrent clients (each case's events in order),
   side by side with the same number of authenticated ``GET /v1/cases/{id}``
   (the protocol's floor: token check, routing, one read). Reported: events
   accepted/s, p50/p99 latency, and the ratio to the floor.
3. ``GET /v1/stats`` at full size: the first call (the running fold catches
   up from the table), then p50/p99 of repeated calls as of now, as of 30
   days ago (rows replayed), and 8 days ahead; side by side with the
   baseline of recomputing the fold from ``case_events`` on every request.
   Target: p50 under 50 ms.
4. The monitor: every log entry fetched over HTTP, then every case event
   verified (signature, schema, member rules), replayed through the state
   machine and folded: ``gateway.monitor.cases.audit_cases``; its figures
   compared with the gateway's.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.monitor.cases import audit_cases, compare_stats
from gateway.party.client import Client
from gateway.protocol import case
from gateway.protocol.case import CaseEvent, SignedCaseEvent
from gateway.protocol.clock import format_time, now, parse_time
from gateway.protocol.crypto import jws
from gateway.protocol.crypto.keys import SigningKey
from gateway.protocol.manifest import build_manifest, sign_envelope
from gateway.protocol.stats import CaseStats, Policy
from gateway.protocol.trust import RegisteredKey
from gateway.server import cases
from gateway.server.sql import Connection
from gateway.server.store import Database
from tests.harness import GatewayProcess, Party, bearer, get, start_gateway, wait_for

RECORDS_PER_DOSSIER = 1000
SEED_BATCH = 2000  # events per durable transaction while seeding
STEPS = (
    case.REPORTED,
    case.VERIFIED,
    case.FAMILY_FOUND,
    case.CONTACT,
    case.RETURN_SCHEDULED,
    case.REUNITED,
)
STEP_DAYS = (0, 1, 2, 5, 6, 9)  # issued_at of each step after the case's first report
STATS_CALLS = 200
TARGET_STATS_MS = 50.0


def signed(gw: GatewayProcess, mon: Party) -> int:
    """The size of the latest signed checkpoint (read without touching /v1/stats)."""
    return int(get(gw, mon, "/v1/log/checkpoint").body.decode().splitlines()[1])


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def case_of(dossier: str, i: int) -> tuple[str, str]:
    record_id = f"r{i}"
    return record_id, case.derive_case_id(dossier, record_id)


def seed_records(db: Database, ua: Party, ru: Party, n: int) -> list[dict[str, Any]]:
    """Dossiers (ua → ru), their records and one verification packet per case."""
    at = format_time(now())
    plans = []
    packets: list[tuple[Any, ...]] = []
    records: list[tuple[Any, ...]] = []
    for first in range(0, n, RECORDS_PER_DOSSIER):
        dossier = str(uuid.uuid4())
        packets.append(packet_row(dossier, "ua", "ru", "dossier", "{}", at))
        for i in range(first, min(n, first + RECORDS_PER_DOSSIER)):
            record_id, case_id = case_of(dossier, i)
            aged = i % 4 == 0
            records.append((dossier, i - first, record_id, case_id, int(aged)))
            verification = str(uuid.uuid4())
            body: dict[str, Any] = {
                "case_id": case_id, "record_id": record_id, "result": "verified",
                "fields": {}, "reason": None, "note": "",
            }  # fmt: skip
            manifest = build_manifest(
                sender="ru", recipient="ua", parts=[], kind="verification",
                purpose="verification", in_reply_to=dossier, body=body, packet_id=verification,
            )  # fmt: skip
            envelope = sign_envelope(manifest, ru.identity.signing)
            packets.append(packet_row(verification, "ru", "ua", "verification", envelope, at))
            plans.append({"i": i, "dossier": dossier, "record_id": record_id, "case_id": case_id,
                          "aged": aged, "verification": verification})  # fmt: skip

    def write(conn: Connection) -> None:
        conn.executemany(
            "INSERT INTO packets (packet_id, sender, recipient, kind, created, envelope,"
            " envelope_sha256, blob_dir, status, accepted_at, deadline, response, extraction,"
            " extraction_sha256, ready_seq, ready_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'READY', ?, ?, '{}', 'x', ?, NULL, ?)",
            packets,
        )
        conn.executemany(
            "INSERT INTO case_records (packet_id, position, record_id, case_id, aged_out)"
            " VALUES (?, ?, ?, ?, ?)",
            records,
        )

    db.write_sync(write)
    return plans


def packet_row(
    packet_id: str, sender: str, recipient: str, kind: str, envelope: str, at: str
) -> tuple[Any, ...]:
    if envelope == "{}":
        manifest = build_manifest(sender=sender, recipient=recipient, parts=[], kind=kind,
                                  packet_id=packet_id)  # fmt: skip
        envelope = jws.sign(manifest, SigningKey.generate(), typ=jws.TYP_PACKET)
    # A deadline far ahead: the expirer must not turn the seeded packets into receipts.
    deadline = format_time(now() + timedelta(days=3650))
    return (packet_id, sender, recipient, kind, at, envelope, "0" * 64, f"{packet_id}.seed",
            at, deadline, "0" * 64, at)  # fmt: skip


def event_of(plan: dict[str, Any], step: str, at: datetime) -> CaseEvent:
    issuer = "ru" if case.TABLE[step].side is case.Side.HOME else "ua"
    members: dict[str, Any] = {}
    if step == case.REPORTED:
        members = {"packet_id": plan["dossier"], "record_id": plan["record_id"]}
    elif step == case.VERIFIED:
        members = {"packet_id": plan["verification"], "record_id": plan["record_id"]}
    elif step == case.RETURN_SCHEDULED:
        members = {"due": (at + timedelta(days=14)).date()}
    return CaseEvent(
        event_id=str(uuid.uuid4()), case_id=plan["case_id"], event=step, issuer=issuer,
        holder="ua", home="ru", issued_at=at, aged_out=plan["aged"], **members,
    )  # fmt: skip


def seed_events(db: Database, keys: dict[str, SigningKey], plans: list[dict[str, Any]]) -> float:
    """Accept every event of ``plans`` through the gateway's own path; events/s."""
    end = now() - timedelta(days=10)
    start = end - timedelta(days=50)
    span = (end - start) / max(1, len(plans))
    timeline = sorted(
        (start + span * n + timedelta(days=d), n, s)
        for n in range(len(plans))
        for s, d in enumerate(STEP_DAYS)
    )
    began = time.perf_counter()
    for first in range(0, len(timeline), SEED_BATCH):
        batch = []
        for at, n, s in timeline[first : first + SEED_BATCH]:
            event = event_of(plans[n], STEPS[s], at.replace(microsecond=0))
            batch.append(case.sign(event, keys[event.issuer]))

        def write(conn: Connection, batch: list[SignedCaseEvent] = batch) -> None:
            for signed in batch:
                status, _ = cases.accept_event(conn, signed, at=signed.event.issued_at)
                assert status == 201

        db.write_sync(write)
    return len(timeline) / (time.perf_counter() - began)


async def http_phase(
    url: str, ua: Party, ru: Party, plans: list[dict[str, Any]], concurrency: int
) -> dict[str, float]:
    """Post every plan's six events over HTTP; then the same count of GET /v1/cases/{id}."""
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    reads: list[float] = []
    async with Client(url, ua.identity) as holder, Client(url, ru.identity) as home:
        by_side = {"ua": holder, "ru": home}

        async def one_case(plan: dict[str, Any]) -> None:
            async with gate:
                for step in STEPS:
                    event = event_of(plan, step, now())
                    compact = case.sign(event, by_side[event.issuer].identity.signing).compact
                    started = time.perf_counter()
                    await by_side[event.issuer].request(
                        "POST", "/v1/cases/events", data=compact,
                        headers={"Content-Type": "application/jose"},
                    )  # fmt: skip
                    latencies.append(time.perf_counter() - started)

        began = time.perf_counter()
        await asyncio.gather(*(one_case(p) for p in plans))
        events_s = len(latencies) / (time.perf_counter() - began)

        async def one_read(plan: dict[str, Any]) -> None:
            async with gate:
                for _ in STEPS:
                    started = time.perf_counter()
                    await holder.request("GET", f"/v1/cases/{plan['case_id']}")
                    reads.append(time.perf_counter() - started)

        began = time.perf_counter()
        await asyncio.gather(*(one_read(p) for p in plans))
        reads_s = len(reads) / (time.perf_counter() - began)
    return {
        "events_per_s": events_s,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": pct(latencies, 0.99) * 1000,
        "floor_per_s": reads_s,
        "floor_p50_ms": statistics.median(reads) * 1000,
    }


def stats_latency(url: str, mon: Party, query: str, calls: int) -> list[float]:
    """Milliseconds per ``GET /v1/stats{query}`` over one kept-alive connection."""

    async def run() -> list[float]:
        out = []
        async with aiohttp.ClientSession() as session:
            for _ in range(calls):
                path = "/v1/stats" + query
                headers = {"Authorization": bearer(mon, "GET", path)}
                started = time.perf_counter()
                async with session.get(url + path, headers=headers) as r:
                    await r.read()
                    assert r.status == 200, r.status
                out.append((time.perf_counter() - started) * 1000)
        return out

    return asyncio.run(run())


def rescan_ms(database: Path, calls: int) -> list[float]:
    """The baseline: a fresh fold of ``case_events`` on every request."""
    conn = sqlite3.connect(database)
    out = []
    for _ in range(calls):
        started = time.perf_counter()
        fold = CaseStats(Policy())
        rows = conn.execute(
            "SELECT log_index, case_id, holder, home, event, issued_at, due, aged_out"
            " FROM case_events ORDER BY log_index"
        )
        for index, case_id, holder, home, name, issued_at, due, aged in rows:
            fold.feed_fields(
                case_id=case_id, holder=holder, home=home, event=name,
                issued_at=parse_time(issued_at),
                due=None if due is None else date.fromisoformat(due),
                aged_out=bool(aged), log_index=index,
            )  # fmt: skip
        fold.figures(as_of=now(), log_size=1 << 62)
        out.append((time.perf_counter() - started) * 1000)
    conn.close()
    return out


def monitor_phase(url: str, mon: Party, keys: dict[str, SigningKey]) -> dict[str, float]:
    async def fetch() -> tuple[list[bytes], dict[str, Any]]:
        async with Client(url, mon.identity) as client:
            served = await client.get_json(f"/v1/stats?as_of={format_time(now())}")
            size = int(served["log_size"])
            entries: list[bytes] = []
            while len(entries) < size:
                end = min(size, len(entries) + 1000)
                page = await client.get_json(f"/v1/log/entries?start={len(entries)}&end={end}")
                entries += [e.encode("ascii") for e in page["entries"]]
        return entries, served

    began = time.perf_counter()
    entries, served = asyncio.run(fetch())
    fetched = time.perf_counter() - began
    parties = {p: [RegisteredKey(k.public)] for p, k in keys.items()}
    began = time.perf_counter()
    audit = audit_cases(entries, parties, Policy())
    audited = time.perf_counter() - began
    mine = audit.stats.figures(as_of=parse_time(served["as_of"]), log_size=served["log_size"])
    differences = compare_stats(served, mine)
    return {
        "entries": len(entries),
        "events": audit.events,
        "fetch_s": fetched,
        "audit_s": audited,
        "findings": len(audit.findings) + len(differences),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--http-cases", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="dxg-bench-cases-"))
    gw = start_gateway(work)
    ua, ru, mon = gw.add_party("ua"), gw.add_party("ru"), gw.add_party("mon", role="monitor")
    keys = {"ua": ua.identity.signing, "ru": ru.identity.signing}
    database = gw.root / "dxg.sqlite3"
    db = Database(database)
    db.write_sync(cases.create_tables)
    began = time.perf_counter()
    plans = seed_records(db, ua, ru, args.cases)
    print(f"seeded {args.cases} records and verification packets in"
          f" {time.perf_counter() - began:.1f} s", flush=True)  # fmt: skip
    seeded = plans[: args.cases - args.http_cases]
    rate = seed_events(db, keys, seeded)
    db.close()
    print(
        f"1. in-process acceptance (every check, log append, durable batches of"
        f" {SEED_BATCH}): {len(seeded) * 6} events at {rate:,.0f} events/s",
        flush=True,
    )

    gw.start()
    try:
        url = gw.url
        # The log service folds the seeded entries into the tree first; the HTTP
        # phase must not compete with that (nor the first /v1/stats catch up).
        wait_for(lambda: signed(gw, mon) >= len(seeded) * 6, timeout=3600, interval=1.0)
        http = asyncio.run(http_phase(url, ua, ru, plans[len(seeded) :], args.concurrency))
        ratio = http["events_per_s"] / http["floor_per_s"]
        print(
            f"2. HTTP, concurrency {args.concurrency}: {http['events_per_s']:,.0f} events"
            f" accepted/s (p50 {http['p50_ms']:.1f} ms, p99 {http['p99_ms']:.1f} ms); floor"
            f" GET /v1/cases/{{id}} {http['floor_per_s']:,.0f}/s (p50"
            f" {http['floor_p50_ms']:.1f} ms); ratio {ratio:.2f}",
            flush=True,
        )  # fmt: skip
        total = args.cases * 6
        wait_for(lambda: signed(gw, mon) >= total, timeout=1800, interval=1.0)
        first = stats_latency(url, mon, "", 1)[0]
        now_ms = stats_latency(url, mon, "", STATS_CALLS)
        past = format_time(now() - timedelta(days=30))
        past_ms = stats_latency(url, mon, f"?as_of={past}", 20)
        ahead = format_time(now() + timedelta(days=8))
        ahead_ms = stats_latency(url, mon, f"?as_of={ahead}", STATS_CALLS)
        base = rescan_ms(database, 3)
        slower = statistics.median(base) / statistics.median(now_ms)
        print(
            f"3. GET /v1/stats at {args.cases:,} cases ({total:,} events): first call"
            f" {first:.0f} ms (the running fold catches up from the table);"
            f" as of now p50 {statistics.median(now_ms):.1f} ms,"
            f" p99 {pct(now_ms, 0.99):.1f} ms; 8 days ahead p50"
            f" {statistics.median(ahead_ms):.1f} ms, p99 {pct(ahead_ms, 0.99):.1f} ms;"
            f" 30 days ago p50 {statistics.median(past_ms):.0f} ms; baseline (refold per"
            f" request) p50 {statistics.median(base):.0f} ms: {slower:.0f}x"
            f" slower (target p50 < {TARGET_STATS_MS:.0f} ms)",
            flush=True,
        )  # fmt: skip
        mon_figures = monitor_phase(url, mon, keys)
        print(
            f"4. monitor: fetched {mon_figures['entries']:,} entries in"
            f" {mon_figures['fetch_s']:.1f} s; verified, replayed and folded"
            f" {mon_figures['events']:,} events in {mon_figures['audit_s']:.1f} s"
            f" ({mon_figures['audit_s'] / max(1, mon_figures['events']) * 1e6:.0f} us/event);"
            f" findings {mon_figures['findings']}",
            flush=True,
        )  # fmt: skip
    finally:
        gw.stop()
    print(f"(data in {work})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
