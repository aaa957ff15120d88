"""A monitor pass reads only what is new since its saved checkpoint (issue 8, deliver 3).

A real gateway process; the monitor runs in this process through a client
that counts every request and byte it receives, so the test sees exactly
what a pass fetched.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

from gateway.monitor.audit import Monitor, PassResult
from gateway.monitor.tree import CompactRange, tree_root
from gateway.party.client import Client
from gateway.party.pull import Puller
from gateway.party.trust import TrustStore
from gateway.protocol.merkle import MAX_ENTRIES_PER_READ
from tests.conftest import Exchange
from tests.harness import get, wait_for

FIRST, SECOND = 12, 5  # packets ua -> ru before the first pass, and after it


class CountingClient(Client):
    """A monitor's client that records each answered request: (path, body bytes)."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.calls: list[tuple[str, int]] = []

    async def request(self, method: str, path_qs: str, **kw: Any) -> tuple[int, bytes]:
        status, body = await super().request(method, path_qs, **kw)
        self.calls.append((path_qs, len(body)))
        return status, body

    def entries_read(self) -> list[tuple[int, int]]:
        """The ``[start, end)`` ranges of every ``GET /v1/log/entries``."""
        out = []
        for path, _ in self.calls:
            if path.startswith("/v1/log/entries?"):
                query = dict(p.split("=") for p in path.split("?", 1)[1].split("&"))
                out.append((int(query["start"]), int(query["end"])))
        return out

    def bytes_of(self, prefix: str) -> int:
        return sum(n for path, n in self.calls if path.startswith(prefix))


def _exchange(ex: Exchange, n: int, out: Path) -> None:
    """``n`` messages ua -> ru, each pulled (ACCEPTED + DELIVERED)."""
    note = out / "note.txt"
    out.mkdir(parents=True, exist_ok=True)
    note.write_text("status update\n", encoding="utf-8")

    async def run() -> None:
        async with ex.gw.client(ex.ua) as sender:
            for _ in range(n):
                await sender.send([note], recipient="ru", kind="message")
        async with ex.gw.client(ex.ru) as recipient:
            delivered = 0
            for _ in range(200):
                delivered += len(await Puller(recipient).pull(out / "inbox"))
                if delivered == n:
                    return
                await asyncio.sleep(0.1)
            raise AssertionError("the packets did not become READY")

    asyncio.run(run())


def _signed_size(ex: Exchange) -> int:
    return int(get(ex.gw, ex.mon, "/v1/log/checkpoint").body.decode().split("\n")[1])


def _pass(ex: Exchange, state: Path, *, full: bool = False) -> tuple[PassResult, CountingClient]:
    trust = TrustStore.load(ex.gw.trust_file(ex.mon))

    async def run() -> tuple[PassResult, CountingClient]:
        client = CountingClient(ex.gw.url, ex.mon.identity, trust=trust)
        async with client:
            result = await Monitor(client, state_path=state, full=full).run_pass()
        return result, client

    return asyncio.run(run())


def test_a_pass_fetches_only_the_new_entries_and_reports_what_a_full_audit_does(
    exchange: Exchange, tmp_path: Path
) -> None:
    ex = exchange
    state = tmp_path / "mon.json"
    _exchange(ex, FIRST, tmp_path / "first")
    first_size = 2 * FIRST
    wait_for(lambda: _signed_size(ex) == first_size, timeout=10)
    first, counted = _pass(ex, state)
    assert first.clean, first.findings
    assert (first.full, first.audited_from, first.receipts) == (True, 0, first_size)
    assert counted.entries_read() == [(0, first_size)]
    first_bytes = counted.bytes_of("/v1/log/entries")

    _exchange(ex, SECOND, tmp_path / "second")
    size = first_size + 2 * SECOND
    wait_for(lambda: _signed_size(ex) == size, timeout=10)
    shutil.copy(state, tmp_path / "before-second.json")
    second, counted = _pass(ex, state)
    assert second.clean, second.findings
    assert (second.full, second.audited_from, second.receipts) == (False, first_size, 2 * SECOND)
    assert counted.entries_read() == [(first_size, size)]  # the new entries, nothing else
    per_entry = first_bytes / first_size
    assert counted.bytes_of("/v1/log/entries") < per_entry * 2 * SECOND * 1.5
    assert any(p.startswith(f"/v1/log/proof/consistency?from={first_size}&to={size}")
               for p, _ in counted.calls)
    listed = [p for p, _ in counted.calls if p.startswith("/v1/receipts")]
    assert listed and all(p.startswith(f"/v1/receipts?after={first_size}&") for p in listed)
    assert not any(p.startswith("/v1/parties/") for p, _ in counted.calls)  # keys are pinned

    # The whole log, audited again from the first pass's state, says the same.
    full, _ = _pass(ex, tmp_path / "before-second.json", full=True)
    assert full.clean and full.full
    assert [p.to_json() for p in full.pairs] == [p.to_json() for p in second.pairs]
    (pair,) = second.pairs
    assert (pair.packets, pair.delivered, pair.pending) == (FIRST + SECOND, FIRST + SECOND, 0)

    # Nothing new: no entry is read at all.
    third, counted = _pass(ex, state)
    assert third.clean and counted.entries_read() == []
    assert [p.to_json() for p in third.pairs] == [p.to_json() for p in second.pairs]

    saved = json.loads(state.read_text())["body"]
    assert saved["size"] == size and len(saved["range"]) == size.bit_count()
    assert saved["book"]["open"] != {}  # DELIVERED chains may still be PROCESSED


def test_the_compact_range_appends_to_the_same_root_as_the_whole_tree() -> None:
    entries = [f"entry {i}".encode() for i in range(2 * MAX_ENTRIES_PER_READ + 37)]
    for cut in (0, 1, 5, 64, 1000, len(entries)):
        grown = CompactRange().append(entries[:cut]).append(entries[cut:])
        assert grown.root() == tree_root(entries)
        assert len(grown.hashes) == len(entries).bit_count()
