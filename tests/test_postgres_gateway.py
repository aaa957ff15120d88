"""A whole exchange through a real gateway process whose database is PostgreSQL.

``gateway init`` then ``--database`` in config.json (as ``gateway init DIR
--database postgresql://...`` writes it), ``gateway migrate``, ``gateway
serve``: packets sent both ways by the CLI, extracted, pulled and verified
byte for byte, receipts in the log, a party's inclusion proof against the
signed checkpoint, a case reported and verified, and the monitor's clean
audit of everything — with nothing of it in a SQLite file.
"""

from __future__ import annotations

import http.client as http_client
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.conftest import Exchange, running_exchange
from tests.dossiers import make_dossier
from tests.failover import lease_holders, second_node
from tests.harness import (
    Answer,
    GatewayProcess,
    Party,
    assert_problem,
    bearer,
    get,
    http,
    make_keys,
    make_packet,
    multipart,
    packet_status,
    post_packet,
    read_answer,
    run_cli,
    tiny_pdf,
    wait_for,
    wait_ready,
)
from tests.postgres import PostgresServer, move_to_postgres


@pytest.fixture
def pg_exchange(tmp_path: Path, postgres_dsn: str) -> Iterator[Exchange]:
    with running_exchange(tmp_path, {"database": postgres_dsn}) as ex:
        yield ex


def client_args(ex: Exchange, party: Party) -> list[str]:
    return ["--gateway", ex.gw.url, "--id", party.id, "--keys", str(party.prefix)]


def as_party(ex: Exchange, party: Party, *args: str) -> Any:
    env = os.environ | {"DXG_GATEWAY": ex.gw.url, "DXG_ID": party.id, "DXG_KEYS": str(party.prefix)}
    proc = subprocess.run([sys.executable, "-m", "gateway", *args], capture_output=True,
                          text=True, timeout=120, env=env, check=False)  # fmt: skip
    assert proc.returncode == 0, (args, proc.stderr)
    return json.loads(proc.stdout)


def test_init_stores_the_dsn_and_migrate_reports_the_schema(
    tmp_path: Path, postgres_dsn: str
) -> None:
    root = tmp_path / "gw"
    run_cli("init", str(root), "--database", postgres_dsn)
    assert json.loads((root / "config.json").read_text())["database"] == postgres_dsn
    answer = json.loads(run_cli("migrate", str(root)).stdout)
    assert answer == {"backend": "postgresql", "from": 2, "applied": [], "version": 2}
    refused = run_cli("init", str(tmp_path / "gw2"), "--database", "mysql://x", check=False)
    assert refused.returncode != 0 and "postgresql://" in refused.stderr


def test_a_whole_exchange_runs_on_postgresql(
    pg_exchange: Exchange, postgres_dsn: str, tmp_path: Path
) -> None:
    ex = pg_exchange
    sent: dict[str, dict[str, bytes]] = {}
    for sender, recipient in ((ex.ua, "ru"), (ex.ru, "ua")):
        folder = tmp_path / f"out-{sender.id}"
        folder.mkdir()
        (folder / "dossier.pdf").write_bytes(tiny_pdf(f"from {sender.id}"))
        (folder / "note.txt").write_bytes(f"note from {sender.id}\n".encode())
        proc = run_cli("send", *client_args(ex, sender), "--to", recipient,
                       str(folder / "dossier.pdf"), str(folder / "note.txt"))  # fmt: skip
        answer = json.loads(proc.stdout)
        assert answer["status"] == "ACCEPTED"
        sent[answer["packet_id"]] = {
            name: (folder / name).read_bytes() for name in ("dossier.pdf", "note.txt")
        }
    for party in (ex.ru, ex.ua):
        proc = run_cli("pull", *client_args(ex, party), "--trust", str(ex.gw.trust_file(party)),
                       "--out", str(tmp_path / f"in-{party.id}"))  # fmt: skip
        (result,) = json.loads(proc.stdout)
        assert result["receipt"] == "DELIVERED"
        for name, data in sent[result["packet_id"]].items():
            assert (Path(result["folder"]) / "parts" / name).read_bytes() == data

    # A case: the dossier's children reported by the holder, verified by the home side.
    dossier = make_dossier(7002, lang="ru", layout="table", children=1)
    packet = make_packet(ex.ua, "ru", [(dossier.filename, dossier.media_type, dossier.data)])
    assert post_packet(ex.gw, ex.ua, packet).status == 202
    (record,) = wait_for(
        lambda: get(ex.gw, ex.ua, f"/v1/packets/{packet.packet_id}").json().get("records"),
        timeout=120,
    )
    (reported,) = as_party(ex, ex.ua, "case", "report", packet.packet_id)
    assert reported["state"] == "REPORTED"
    verified = as_party(ex, ex.ru, "case", "verify", record["case_id"], "--packet",
                        packet.packet_id, "--record", record["record_id"], "--result", "verified",
                        "--field", "family_name=confirmed")  # fmt: skip
    assert verified["state"] == "VERIFIED"

    # 3 packets + 1 verification packet ACCEPTED, 2 DELIVERED, 2 case events.
    expected = 4 + 2 + 2
    with psycopg.connect(postgres_dsn) as conn:
        stored = conn.execute("SELECT COUNT(*) FROM log_entries").fetchone()
    assert stored == (expected,)
    wait_for(lambda: get(ex.gw, ex.mon, "/v1/log/checkpoint").body.decode().split("\n")[1]
             == str(expected), timeout=10)  # fmt: skip
    for packet_id in sent:
        status = json.loads(run_cli("status", *client_args(ex, ex.ua), packet_id).stdout)
        assert status["status"] == "DELIVERED"
        assert status["log"]["verified"] is True  # inclusion proved against the checkpoint
    audit = run_cli("monitor", *client_args(ex, ex.mon), "--once", "--json", check=False)
    assert audit.returncode == 0, audit.stderr
    report = json.loads(audit.stdout)
    assert report["verified"] is True and report["findings"] == []
    assert not (ex.gw.root / "dxg.sqlite3").exists() or _sqlite_holds_nothing(ex.gw.root)


def _sqlite_holds_nothing(root: Path) -> bool:
    import sqlite3  # noqa: PLC0415

    with sqlite3.connect(root / "dxg.sqlite3") as conn:
        return int(conn.execute("SELECT COUNT(*) FROM packets").fetchone()[0]) == 0


def lease_gauge(node: GatewayProcess) -> float:
    text = http("GET", node.url + "/metrics").body.decode()
    (line,) = [x for x in text.splitlines() if x.startswith("dxg_log_lease_held ")]
    return float(line.split()[1])


def checkpoint_of(node: GatewayProcess, party: Party) -> tuple[int, str]:
    lines = get(node, party, "/v1/log/checkpoint").body.decode().split("\n")
    return int(lines[1]), lines[2]


def pulled_part(ex: Exchange, node: GatewayProcess, out: Path, part: str) -> bytes:
    """The one packet waiting for ``ru``, pulled through ``node`` into ``out``: ``part``'s bytes."""
    pulled = run_cli("pull", "--gateway", node.url, "--id", "ru", "--keys", str(ex.ru.prefix),
                     "--trust", str(ex.gw.trust_file(ex.ru)), "--out", str(out))  # fmt: skip
    (result,) = json.loads(pulled.stdout)
    return (Path(result["folder"]) / "parts" / part).read_bytes()


def test_two_nodes_share_replay_cache_log_and_lease_and_one_takes_over_from_a_dead_one(
    tmp_path: Path, postgres_dsn: str
) -> None:
    """Two ``gateway serve`` processes on copies of one data directory, one
    PostgreSQL database and one blob directory: a token used on one node is
    refused on the other, a packet sent to one is pulled byte for byte from
    the other, exactly one node holds the log lease, and when it is killed
    (SIGKILL) the other takes the lease within 5 s and the log stays
    consistent across the handover (the monitor, keeping its state, audits
    both sides of it clean)."""
    shared = tmp_path / "shared-blobs"
    config = {"database": postgres_dsn, "blobs": str(shared)}
    with running_exchange(tmp_path, config) as ex:
        first = ex.gw
        second = second_node(ex, tmp_path / "gw2")  # config and keys copied
        second.start()
        nodes = [first, second]
        try:
            holders = wait_for(lambda: (h := lease_holders(nodes)).count(True) == 1 and h,
                               timeout=10)  # fmt: skip
            leader, follower = (first, second) if holders[0] else (second, first)
            assert (lease_gauge(leader), lease_gauge(follower)) == (1.0, 0.0)

            # A token replayed to the other node is refused (SPEC §2).
            token = bearer(ex.ru, "GET", "/v1/inbox?after=0")
            auth = {"Authorization": token}  # bearer() gives the whole header value
            assert http("GET", leader.url + "/v1/inbox?after=0", headers=auth).status == 200
            assert_problem(http("GET", follower.url + "/v1/inbox?after=0", headers=auth),
                           401, "unauthenticated")  # fmt: skip

            # Sent to one node, pulled from the other, byte for byte.
            pdf = tiny_pdf("two nodes")
            packet = make_packet(ex.ua, "ru", [("dossier.pdf", "application/pdf", pdf)])
            assert post_packet(follower, ex.ua, packet).status == 202
            wait_ready(leader, ex.ru, packet.packet_id)
            assert pulled_part(ex, leader, tmp_path / "in-ru", "dossier.pdf") == pdf

            # Both nodes serve the one log the leader signs.
            size = 2  # ACCEPTED + DELIVERED
            wait_for(lambda: checkpoint_of(follower, ex.mon)[0] == size, timeout=10)
            assert checkpoint_of(leader, ex.mon) == checkpoint_of(follower, ex.mon)
            state = tmp_path / "mon.state.json"
            audit = run_cli("monitor", "--gateway", follower.url, "--id", "mon", "--keys",
                            str(ex.mon.prefix), "--once", "--json", "--state", str(state),
                            check=False)  # fmt: skip
            assert audit.returncode == 0, audit.stderr

            leader.kill()
            killed_at = time.monotonic()
            wait_for(lambda: lease_holders([follower]) == [True], timeout=5, interval=0.05)
            takeover_s = time.monotonic() - killed_at
            assert takeover_s < 5, takeover_s
            print(f"log lease taken over {takeover_s:.2f} s after SIGKILL")  # pytest -s shows it

            more = make_packet(ex.ru, "ua", [("note.txt", "text/plain", b"after the handover\n")])
            assert post_packet(follower, ex.ru, more).status == 202
            wait_for(lambda: checkpoint_of(follower, ex.mon)[0] == size + 1, timeout=10)
            audit = run_cli("monitor", "--gateway", follower.url, "--id", "mon", "--keys",
                            str(ex.mon.prefix), "--once", "--json", "--state", str(state),
                            check=False)  # fmt: skip
            assert audit.returncode == 0, audit.stderr  # consistent with the pre-kill checkpoint
            report = json.loads(audit.stdout)
            assert report["verified"] is True and report["findings"] == []
        finally:
            second.stop()


def test_an_upload_cut_by_a_nodes_crash_is_swept_by_the_node_that_lives_on(
    tmp_path: Path, postgres_dsn: str
) -> None:
    """Regression: a node SIGKILLed mid-upload left the part files in the shared
    blob directory until some node restarted (the sweep ran only at start).
    Every node now sweeps the shared store periodically, sparing young uploads
    and every directory a packet names."""
    shared = tmp_path / "shared-blobs"
    config = {"database": postgres_dsn, "blobs": str(shared),
              "shared_sweep_min_age_s": 2.0, "shared_sweep_interval_s": 0.5}  # fmt: skip
    with running_exchange(tmp_path, config) as ex:
        doomed = ex.gw
        survivor = second_node(ex, tmp_path / "gw2")  # config and keys copied
        survivor.start()
        try:
            big = os.urandom(2 << 20).hex().encode()  # 4 MiB: written to a file 1 MiB at a time
            kept = make_packet(ex.ua, "ru", [("scan.txt", "text/plain", big)])
            assert post_packet(survivor, ex.ua, kept).status == 202
            (kept_dir,) = {d.name for d in shared.iterdir()}

            cut = make_packet(ex.ua, "ru", [("scan.txt", "text/plain", big)])
            body, content_type = cut.body()
            head = (f"POST /v1/packets HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    f"Authorization: {bearer(ex.ua, 'POST', '/v1/packets')}\r\n"
                    f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n")
            with socket.create_connection(("127.0.0.1", doomed.port), timeout=20) as upload:
                upload.sendall(head.encode() + body[: len(body) * 3 // 4])
                (orphan,) = wait_for(
                    lambda: {d.name for d in shared.iterdir()} - {kept_dir}, timeout=20
                )
                doomed.kill()
            assert (shared / orphan).is_dir()  # what the crash left

            wait_for(lambda: not (shared / orphan).exists(), timeout=30)
            assert {d.name for d in shared.iterdir()} == {kept_dir}
            assert pulled_part(ex, survivor, tmp_path / "in-ru", "scan.txt") == big
        finally:
            survivor.stop()


def test_a_token_replayed_to_a_second_node_while_its_first_upload_is_in_flight(
    tmp_path: Path, postgres_dsn: str
) -> None:
    """An upload's jti is claimed in the transaction that inserts its packet
    (one intake, one transaction). A token replayed to the other node while
    the first upload still streams: the request whose claim commits first
    is answered, the other gets the replay's 401, stores no packet and
    leaves no part behind. A replay that comes after an answer is refused
    on either node, whatever its body: with a malformed body (the token is
    checked first, SPEC §3) and as an identical retry (whose 200 claims the
    jti too)."""
    shared = tmp_path / "shared-blobs"
    with running_exchange(tmp_path, {"database": postgres_dsn, "blobs": str(shared)}) as ex:
        first = ex.gw
        second = second_node(ex, tmp_path / "gw2")  # config and keys copied
        second.start()
        try:
            token = bearer(ex.ua, "POST", "/v1/packets")
            big = os.urandom(2 << 20).hex().encode()  # 4 MiB: a file, written while it streams
            slow = make_packet(ex.ua, "ru", [("scan.txt", "text/plain", big)])
            body, content_type = slow.body()
            head = (f"POST /v1/packets HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {token}"
                    f"\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
                    "Connection: close\r\n\r\n")  # fmt: skip
            with socket.create_connection(("127.0.0.1", first.port), timeout=30) as upload:
                upload.sendall(head.encode() + body[: len(body) // 2])
                (in_flight,) = wait_for(lambda: {d.name for d in shared.iterdir()}, timeout=20)

                quick = make_packet(ex.ua, "ru", [("note.txt", "text/plain", b"the replay\n")])
                quick_body, quick_type = quick.body()
                replayed = http("POST", second.url + "/v1/packets", body=quick_body,
                                headers={"Authorization": token, "Content-Type": quick_type})
                assert replayed.status == 202  # its claim committed first

                upload.sendall(body[len(body) // 2 :])
                assert_problem(read_answer(upload), 401, "unauthenticated")

            assert not (shared / in_flight).exists()  # the refused upload's parts are removed
            with psycopg.connect(postgres_dsn) as conn:
                stored = conn.execute(
                    "SELECT packet_id FROM packets WHERE packet_id IN (%s, %s)",
                    (slow.packet_id, quick.packet_id),
                ).fetchall()
            assert stored == [(quick.packet_id,)]  # one token, one packet
            assert_problem(get(second, ex.ua, f"/v1/packets/{slow.packet_id}"), 404, "not-found")

            # After the answers: refused on either node, a malformed body or not.
            for node in (first, second):
                again = http("POST", node.url + "/v1/packets", body=quick_body,
                             headers={"Authorization": token, "Content-Type": quick_type})
                assert_problem(again, 401, "unauthenticated")
            garbage = http("POST", second.url + "/v1/packets", body=b"not multipart",
                           headers={"Authorization": token, "Content-Type": "text/plain"})
            assert_problem(garbage, 401, "unauthenticated")  # not 415: the token comes first

            # An identical retry answers 200 with a fresh token, and claims it.
            with psycopg.connect(postgres_dsn) as conn:
                claims = conn.execute("SELECT COUNT(*) FROM seen_jti").fetchone()
            assert claims is not None
            retry_token = bearer(ex.ua, "POST", "/v1/packets")
            retry = {"Authorization": retry_token, "Content-Type": quick_type}
            answered = http("POST", first.url + "/v1/packets", body=quick_body, headers=retry)
            assert (answered.status, answered.json()) == (200, replayed.json())
            assert_problem(http("POST", second.url + "/v1/packets", body=quick_body,
                                headers=retry), 401, "unauthenticated")  # fmt: skip
            with psycopg.connect(postgres_dsn) as conn:
                assert conn.execute("SELECT COUNT(*) FROM seen_jti").fetchone() == (claims[0] + 1,)
        finally:
            second.stop()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_retry_answers_alike_on_both_backends_whatever_its_parts(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    """SQLite answers a retry from a look-up before the parts; PostgreSQL
    leaves that look-up out (its insert finds the id taken, ``ON CONFLICT``)
    and looks up only after a refused part. Both answer alike: the identical
    envelope 200 with the first body even with broken or missing parts,
    another envelope on a taken id 409 even with a broken part, a free id
    the part's own refusal; and nothing a retry streamed is left behind."""
    config = {} if backend == "sqlite" else {"database": request.getfixturevalue("postgres_dsn")}
    with running_exchange(tmp_path, config) as ex:
        big = os.urandom(200 << 10).hex().encode()  # 400 KiB: a file, not an inline part
        packet = make_packet(ex.ua, "ru", [("scan.txt", "text/plain", big)])
        first = post_packet(ex.gw, ex.ua, packet)
        assert first.status == 202
        (kept,) = (ex.gw.root / "blobs").iterdir()

        def send(envelope: str, files: list[tuple[str, bytes]]) -> Answer:
            body, content_type = multipart([("envelope", envelope.encode()), *files])
            headers = {"Authorization": bearer(ex.ua, "POST", "/v1/packets"),
                       "Content-Type": content_type}  # fmt: skip
            return http("POST", ex.gw.url + "/v1/packets", headers=headers, body=body)

        for files in ([("scan.txt", big)], [("scan.txt", big[:-1] + b"!")], []):
            again = send(packet.envelope, files)
            assert (again.status, again.json()) == (200, first.json())
        other = make_packet(ex.ua, "ru", [("scan.txt", "text/plain", b"other\n")],
                            packet_id=packet.packet_id)  # fmt: skip
        assert_problem(send(other.envelope, [("scan.txt", b"tampered\n")]), 409, "conflict")
        fresh = make_packet(ex.ua, "ru", [("scan.txt", "text/plain", b"fresh\n")])
        assert_problem(send(fresh.envelope, [("scan.txt", b"tampered\n")]), 422,
                       "digest-mismatch")  # fmt: skip
        assert list((ex.gw.root / "blobs").iterdir()) == [kept]


def test_a_sqlite_deployment_moves_to_postgresql_with_its_log_root_and_packets(
    tmp_path: Path, postgres_dsn: str
) -> None:
    """gateway export on the stopped SQLite gateway, import into PostgreSQL:
    the same log root at the same size, the monitor (keeping its state)
    finds the new log consistent with the old, and packets not yet fetched
    are delivered, byte for byte, by the gateway now on PostgreSQL."""
    with running_exchange(tmp_path) as ex:
        gw = ex.gw
        parts = {}
        for i in range(3):
            data = tiny_pdf(f"moved packet {i}")
            packet = make_packet(ex.ua, "ru", [("dossier.pdf", "application/pdf", data)])
            assert post_packet(gw, ex.ua, packet).status == 202
            wait_ready(gw, ex.ru, packet.packet_id)
            parts[packet.packet_id] = data
        wait_for(lambda: checkpoint_of(gw, ex.mon)[0] == 3, timeout=10)
        size, root = checkpoint_of(gw, ex.mon)
        state = tmp_path / "mon.state.json"
        monitor = ["monitor", "--id", "mon", "--keys", str(ex.mon.prefix), "--once", "--json",
                   "--state", str(state)]  # fmt: skip
        assert run_cli(*monitor, "--gateway", gw.url, check=False).returncode == 0
        gw.stop()

        dump = tmp_path / "export.jsonl"
        exported, imported = move_to_postgres(gw, postgres_dsn, dump)
        assert (exported["log_size"], exported["log_root"]) == (size, root)
        assert imported == exported
        again = run_cli("import", str(gw.root), str(dump), check=False)
        assert again.returncode != 0 and "empty" in again.stderr  # nothing imported twice

        gw.start()
        assert checkpoint_of(gw, ex.mon) == (size, root)
        out = tmp_path / "in-ru"
        pulled = json.loads(run_cli("pull", "--gateway", gw.url, "--id", "ru", "--keys",
                                    str(ex.ru.prefix), "--trust", str(gw.trust_file(ex.ru)),
                                    "--out", str(out)).stdout)  # fmt: skip
        assert {r["packet_id"] for r in pulled} == set(parts)
        for result in pulled:
            assert result["receipt"] == "DELIVERED"
            dossier = Path(result["folder"]) / "parts" / "dossier.pdf"
            assert dossier.read_bytes() == parts[result["packet_id"]]
        wait_for(lambda: checkpoint_of(gw, ex.mon)[0] == size + 3, timeout=10)
        audit = run_cli(*monitor, "--gateway", gw.url, check=False)
        assert audit.returncode == 0, audit.stderr  # consistent with the SQLite-era checkpoint
        assert json.loads(audit.stdout)["findings"] == []


SENDERS = 16  # concurrent senders, as in the acceptance
KILL_AFTER = 40  # acknowledged packets before the lease holder is killed


def test_sigkill_of_one_node_under_load_loses_no_acknowledged_packet(
    tmp_path: Path, postgres_dsn: str
) -> None:
    """Two nodes, 16 concurrent senders spread over both, the log lease
    holder SIGKILLed mid-load: each sender retries a failed packet (the
    same envelope) at the other node. Every acknowledged packet is then
    delivered once, byte for byte, through the survivor, and the monitor
    audits the log clean across the handover."""
    config = {"database": postgres_dsn, "blobs": str(tmp_path / "shared-blobs")}
    with running_exchange(tmp_path, config) as ex:
        second = second_node(ex, tmp_path / "gw2")  # config and keys copied
        second.start()
        nodes = [ex.gw, second]
        try:
            holders = wait_for(lambda: (h := lease_holders(nodes)).count(True) == 1 and h,
                               timeout=10)  # fmt: skip
            victim = nodes[holders.index(True)]
            survivor = nodes[1 - holders.index(True)]
            packets = [make_packet(ex.ua, "ru", [("note.txt", "text/plain",
                                                  f"packet {i}\n".encode())])
                       for i in range(120)]  # fmt: skip
            acked: dict[str, bytes] = {}
            lock = threading.Lock()
            killed = threading.Event()

            def send(i: int) -> None:
                packet = packets[i]
                for attempt in range(10):
                    node = nodes[(i + attempt) % 2]
                    if node is victim and killed.is_set():
                        continue
                    try:
                        answer = post_packet(node, ex.ua, packet, timeout=10)
                    except (OSError, http_client.HTTPException):
                        continue  # the node died under this request: the other one
                    if answer.status in (200, 202):
                        with lock:
                            acked[packet.packet_id] = packet.files[0][1]
                            if len(acked) == KILL_AFTER and not killed.is_set():
                                victim.kill()
                                killed.set()
                        return

            with ThreadPoolExecutor(SENDERS) as pool:
                list(pool.map(send, range(len(packets))))
            assert killed.is_set()
            wait_for(lambda: lease_holders([survivor]) == [True], timeout=5)

            for packet_id in acked:  # the victim's extraction claims run out first (15 s)
                wait_for(lambda p=packet_id: packet_status(survivor, ex.ru, p)
                         not in ("ACCEPTED", "EXTRACTING"), timeout=90)  # fmt: skip
            out = tmp_path / "in-ru"
            pulled = json.loads(run_cli("pull", "--gateway", survivor.url, "--id", "ru",
                                        "--keys", str(ex.ru.prefix),
                                        "--trust", str(ex.gw.trust_file(ex.ru)),
                                        "--out", str(out)).stdout)  # fmt: skip
            delivered = [r["packet_id"] for r in pulled if r["receipt"] == "DELIVERED"]
            lost = set(acked) - set(delivered)
            duplicated = len(delivered) - len(set(delivered))
            print(f"two nodes, SIGKILL under load: sent {len(packets)}, acknowledged "
                  f"{len(acked)}, lost {len(lost)}, duplicated {duplicated}")
            assert not lost and duplicated == 0
            sent = {p.packet_id: p.files[0][1] for p in packets}  # unacknowledged ones too
            for result in pulled:
                data = (Path(result["folder"]) / "parts" / "note.txt").read_bytes()
                assert data == sent[result["packet_id"]]
            audit = run_cli("monitor", "--gateway", survivor.url, "--id", "mon", "--keys",
                            str(ex.mon.prefix), "--once", "--json", check=False)  # fmt: skip
            assert audit.returncode == 0, audit.stderr
            assert json.loads(audit.stdout)["findings"] == []
        finally:
            second.stop()


def test_a_key_revoked_on_the_database_is_refused_by_every_node_that_cached_it(
    tmp_path: Path, postgres_dsn: str
) -> None:
    """Each node keeps the parties and keys it read (issue 14, the registry
    cache); a revocation through ``gateway party revoke-key`` (which writes
    the database, not any node) reaches both caches by LISTEN/NOTIFY: the
    revoked key is refused on both nodes, within the notification's
    delivery, and the party's new key, added after both cached the party,
    is taken on both."""
    with running_exchange(tmp_path, {"database": postgres_dsn}) as ex:
        first = ex.gw
        second = GatewayProcess(root=tmp_path / "gw2")
        shutil.copytree(first.root, second.root, ignore=shutil.ignore_patterns("tmp"))
        second.start()
        try:
            old = first.add_party("rot")
            nodes = [first, second]
            for node in nodes:  # both nodes read (and keep) the party and its key
                assert get(node, old, "/v1/inbox?after=0").status == 200

            new_prefix = first.root.parent / "keys" / "rot-2"
            new = Party("rot", new_prefix, make_keys(new_prefix))
            run_cli("party", "add", str(first.root), "rot", "--role", "party",
                    "--keys", f"{new_prefix}.pub.json")  # fmt: skip
            for node in nodes:  # the new key is taken; the old one, still valid, is cached
                wait_for(lambda n=node: get(n, new, "/v1/inbox?after=0").status == 200,
                         timeout=2)  # fmt: skip
                assert get(node, old, "/v1/inbox?after=0").status == 200
                assert get(node, old, "/v1/inbox?after=0").status == 200

            run_cli("party", "revoke-key", str(first.root), "rot", old.identity.signing.kid)
            for node in nodes:
                wait_for(lambda n=node: get(n, old, "/v1/inbox?after=0").status == 401,
                         timeout=2)  # fmt: skip
                assert get(node, new, "/v1/inbox?after=0").status == 200
                assert get(node, old, "/v1/inbox?after=0").status == 401  # and stays refused
        finally:
            second.stop()


def _allow_connections(server: PostgresServer, dsn: str, allow: bool) -> None:
    """Open or shut the gateway's database, closing its sessions when shut."""
    name = dsn.rsplit("/", 1)[1]
    with psycopg.connect(server.admin_dsn, autocommit=True) as admin:
        admin.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS {str(allow).lower()}")
        if not allow:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                          " WHERE datname = %s AND pid <> pg_backend_pid()", (name,))


def test_an_unreachable_database_answers_503_retry_and_the_retry_is_stored_once(
    pg_exchange: Exchange, postgres_server: PostgresServer, postgres_dsn: str
) -> None:
    # Regression: with PostgreSQL down, intake answered 500 "the gateway
    # failed", which a client must not retry blindly; the database being
    # away (a restart, a failover) is temporary by nature.
    ex = pg_exchange
    packet = make_packet(ex.ua, "ru", [("a.pdf", "application/pdf", tiny_pdf("one"))])
    _allow_connections(postgres_server, postgres_dsn, False)
    try:
        refused = post_packet(ex.gw, ex.ua, packet)
        assert refused.status == 503, refused.body
        assert refused.json()["type"] == "urn:dxg:error:unavailable"
        assert "database cannot be reached" in refused.json()["detail"]
        assert refused.headers["Retry-After"].isdigit()
    finally:
        _allow_connections(postgres_server, postgres_dsn, True)
    # The same packet again (a fresh token): accepted once the pool reconnects.
    accepted = wait_for(lambda: (a := post_packet(ex.gw, ex.ua, packet)).status == 202 and a,
                        timeout=30, interval=0.5)
    assert accepted.json()["packet_id"] == packet.packet_id
    assert post_packet(ex.gw, ex.ua, packet).status == 200  # and stored once
    # The writer thread lived through it (regression: a failed ROLLBACK on the
    # dead link ended it, and every later write waited for ever), and the log
    # integrates the receipt.
    index = int(accepted.json()["log_index"])
    wait_for(lambda: checkpoint_of(ex.gw, ex.ua)[0] > index, timeout=30)
