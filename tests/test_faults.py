"""Regression tests of issue 9: each fault a code review and an outside probe found.

Every test is named ``test_fault_NN_...`` after the finding it covers and runs
against a real gateway process (``tests.harness``) where the finding is about
the gateway. The heavy ones (disk full, kill -9 under load, SIGTERM during
uploads, slowloris, fuzzing) are in ``tests/test_fault_injection.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import socket
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PIL import Image

from gateway.party.client import Client
from gateway.party.pull import Puller, PullResult, safe_file_name
from gateway.party.trust import TrustStore
from gateway.protocol import checkpoint, jsontext
from gateway.protocol.checkpoint import NoteKey
from gateway.protocol.crypto import jws
from gateway.protocol.crypto.keys import (
    PublicKey,
    b64url,
)
from gateway.protocol.errors import Invalid, Temporary
from gateway.protocol.manifest import Manifest, is_safe_part_name, sign_envelope
from gateway.server.logflood import FloodFilter
from tests.conftest import Exchange
from tests.harness import (
    Answer,
    GatewayProcess,
    Packet,
    Party,
    assert_problem,
    auth_header,
    bearer,
    compact_jws,
    free_port,
    get,
    http,
    http_in_pieces,
    make_packet,
    manifest_doc,
    packet_from_doc,
    post_packet,
    post_raw,
    post_receipt,
    quick_party,
    run_cli,
    send_ready_packet,
    start_gateway,
    tiny_pdf,
    wait_for,
    wait_ready,
)

# -- a proxy that injects the gateway's temporary failures ---------------------

Policy = Callable[[str, str], int | None]  # (method, path) -> status to answer instead


class FaultProxy:
    """An HTTP proxy in front of a gateway that answers some requests itself.

    ``policy(method, path)`` returns a status (429, 503…) to answer with a
    problem document instead of forwarding, or None to forward. What a
    network or a failing gateway does to a party, without touching the gateway.
    """

    def __init__(self, upstream: str, policy: Policy) -> None:
        self.upstream = upstream
        self.policy = policy
        self.answered: list[tuple[str, str, int]] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length) if length else None
                injected = proxy.policy(self.command, self.path)
                if injected is not None:
                    proxy.answered.append((self.command, self.path, injected))
                    problem = json.dumps({"type": "urn:dxg:error:unavailable",
                                          "title": "injected", "status": injected,
                                          "detail": "injected by the test proxy"}).encode()
                    self.send_response(injected)
                    self.send_header("Content-Type", "application/problem+json")
                    self.send_header("Content-Length", str(len(problem)))
                    self.end_headers()
                    self.wfile.write(problem)
                    return
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("host", "content-length", "connection")}
                request = urllib.request.Request(proxy.upstream + self.path, data=body,
                                                 method=self.command, headers=headers)
                try:
                    with urllib.request.urlopen(request, timeout=30) as r:
                        status, answer, reply = r.status, r.read(), dict(r.headers)
                except urllib.error.HTTPError as e:
                    status, answer, reply = e.code, e.read(), dict(e.headers)
                self.send_response(status)
                self.send_header("Content-Type", reply.get("Content-Type", "application/json"))
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_GET = do_POST = _any  # noqa: N815 - http.server's names

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


# PDFs are extracted as usual; every TIFF part hangs until the packet's deadline (4 s).
SLOW_TIFF = {
    "extractors": ["documents", "hangs-tiff"],
    "plugins": {"hangs-tiff": "tests.plugins.slow:hangs_tiff"},
    "extraction_timeout_s": 4.0,
}
CONFIG = {
    **SLOW_TIFF,
    "notify_backoff_base_s": 0.02,
    "notify_backoff_max_s": 0.1,
    "header_timeout_s": 2.0,
    "body_idle_timeout_s": 2.0,
    "max_uploads_per_party": 2,
}
# Packets expire one second after intake, checked five times a second.
EXPIRING = {**SLOW_TIFF, "delivery_ttl_s": 1, "sweep_interval_s": 0.2}


@contextlib.contextmanager
def running(tmp: Path, config: dict[str, object]) -> Iterator[Exchange]:
    """A gateway process with parties ``ua``, ``ru`` and monitor ``mon``."""
    gw = start_gateway(tmp, config)
    ex = Exchange(gw, quick_party(gw, "ua"), quick_party(gw, "ru"),
                  quick_party(gw, "mon", role="monitor"))
    gw.start()
    try:
        yield ex
    finally:
        gw.stop()


@pytest.fixture(scope="module")
def shared_exchange(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exchange]:
    with running(tmp_path_factory.mktemp("faults"), CONFIG) as ex:
        yield ex


@pytest.fixture(scope="module")
def expiring(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exchange]:
    with running(tmp_path_factory.mktemp("expiring"), EXPIRING) as ex:
        yield ex


def tiff() -> bytes:
    out = io.BytesIO()
    Image.new("L", (8, 8), 255).save(out, "TIFF")
    return out.getvalue()


_fresh = iter(range(1, 10_000))


@pytest.fixture
def exchange(shared_exchange: Exchange) -> Exchange:
    """The module's gateway with a sender and a recipient of this test's own.

    One gateway per module keeps the suite fast; fresh parties keep each
    test's inbox, cursor and receipts its own.
    """
    n = next(_fresh)
    gw = shared_exchange.gw
    return Exchange(gw, quick_party(gw, f"ua-{n}"), quick_party(gw, f"ru-{n}"), shared_exchange.mon)


@pytest.fixture
def proxied(exchange: Exchange) -> Iterator[Callable[[Policy], FaultProxy]]:
    proxies: list[FaultProxy] = []

    def make(policy: Policy) -> FaultProxy:
        proxy = FaultProxy(exchange.gw.url, policy)
        proxies.append(proxy.__enter__())
        return proxy

    yield make
    for proxy in proxies:
        proxy.__exit__()


def _pull(url: str, ex: Exchange, out: Path, *, attempts: int = 6) -> list[PullResult]:
    async def run() -> list[PullResult]:
        trust = TrustStore.load(ex.gw.trust_file(ex.ru))
        async with Client(url, ex.ru.identity, trust=trust) as client:
            return await Puller(client, retry_attempts=attempts, retry_base_s=0.01).pull(out)

    return asyncio.run(run())


def _receipt_levels(ex: Exchange, packet_id: str) -> list[str]:
    view = get(ex.gw, ex.ua, f"/v1/packets/{packet_id}").json()
    return [json.loads(jws.parse(r, typ=jws.TYP_RECEIPT).payload)["level"]
            for r in view["receipts"]]


# -- 1. a temporary failure is never a verdict --------------------------------------------


@pytest.mark.parametrize("status", [429, 500, 503])
def test_fault_01_temporary_failures_during_pull_are_retried_not_rejected(
    exchange: Exchange, proxied: Callable[[Policy], FaultProxy], tmp_path: Path, status: int
) -> None:
    packet = send_ready_packet(exchange.gw, exchange.ua, exchange.ru,
                               [("dossier.pdf", "application/pdf", tiny_pdf("retry"))])
    failures = {"left": 2}

    def flaky_blobs(method: str, path: str) -> int | None:
        if "/blobs/" in path and failures["left"] > 0:
            failures["left"] -= 1
            return status
        return None

    proxy = proxied(flaky_blobs)
    (result,) = _pull(proxy.url, exchange, tmp_path)
    assert len(proxy.answered) == 2  # the two failures happened, then the retry went through
    assert result.level == "DELIVERED"
    assert _receipt_levels(exchange, packet.packet_id) == ["ACCEPTED", "DELIVERED"]


def test_fault_01_a_gateway_that_keeps_failing_leaves_the_packet_ready_and_the_cursor(
    exchange: Exchange, proxied: Callable[[Policy], FaultProxy], tmp_path: Path
) -> None:
    first = send_ready_packet(exchange.gw, exchange.ua, exchange.ru)
    second = send_ready_packet(exchange.gw, exchange.ua, exchange.ru)
    proxy = proxied(lambda method, path: 503 if first.packet_id + "/blobs/" in path else None)
    with pytest.raises(Temporary):
        _pull(proxy.url, exchange, tmp_path, attempts=3)
    assert len(proxy.answered) == 3
    assert _receipt_levels(exchange, first.packet_id) == ["ACCEPTED"]  # no REJECTED
    assert _receipt_levels(exchange, second.packet_id) == ["ACCEPTED"]  # not passed over
    assert get(exchange.gw, exchange.ru, f"/v1/packets/{first.packet_id}").json()["status"] == (
        "READY")
    assert not (tmp_path / ".inbox-cursor").exists()  # the cursor did not pass it
    assert not list(tmp_path.glob(".*.partial"))
    # Once the gateway answers again, the same pull delivers both, in order.
    results = _pull(exchange.gw.url, exchange, tmp_path)
    assert [(r.packet_id, r.level) for r in results] == [
        (first.packet_id, "DELIVERED"), (second.packet_id, "DELIVERED")]


# -- 2. part names are safe file names ----------------------------------------------------


@pytest.mark.parametrize("name", ["..", ".", ".hidden", "../x"])
def test_fault_02_a_part_name_that_is_no_safe_file_name_is_refused_at_intake(
    shared_exchange: Exchange, name: str
) -> None:
    ex = shared_exchange
    doc = manifest_doc(ex.ua.id, ex.ru.id, [(name, "text/plain", b"x")])
    packet = packet_from_doc(doc, [(name, b"x")], ex.ua.identity.signing)
    problem = assert_problem(post_packet(ex.gw, ex.ua, packet), 422, "invalid")
    assert "name" in problem["detail"]


def test_fault_02_pull_refuses_an_unsafe_part_name_without_writing_outside(
    tmp_path: Path,
) -> None:
    # A sender signing such a manifest cannot get it past intake; a party checks again
    # before it opens a file, whatever a gateway serves.
    raw = json.dumps(manifest_doc("ua", "ru", [("..", "text/plain", b"x")])).encode()
    with pytest.raises(Invalid, match="name"):
        Manifest.from_bytes(raw)
    assert is_safe_part_name("part-1.pdf") and not is_safe_part_name("..")
    assert not is_safe_part_name("a/b") and not is_safe_part_name(".a")


# -- 3. one rule of status changes, and every caller keeps it -----------------------------


def _timeline(ex: Exchange, packet_id: str) -> list[dict[str, object]]:
    timeline: list[dict[str, object]] = get(
        ex.gw, ex.ua, f"/v1/packets/{packet_id}").json()["timeline"]
    return timeline


def test_fault_03_an_expired_packet_never_becomes_ready_and_expires_once(
    expiring: Exchange,
) -> None:
    ex = expiring
    packet = make_packet(ex.ua, ex.ru.id, [("scan.tif", "image/tiff", tiff())])
    assert post_packet(ex.gw, ex.ua, packet).status == 202
    wait_for(lambda: get(ex.gw, ex.ua, f"/v1/packets/{packet.packet_id}").json()["status"]
             == "EXPIRED")
    # The extraction still runs; it ends when the sandbox's deadline passes and
    # its scratch directory goes: only then could it have made the packet READY.
    scratch = ex.gw.root / "tmp"
    wait_for(lambda: any(scratch.iterdir()), timeout=10)
    wait_for(lambda: not any(scratch.iterdir()), timeout=30)
    statuses = [e["status"] for e in _timeline(ex, packet.packet_id) if "event" not in e]
    assert statuses == ["ACCEPTED", "EXTRACTING", "EXPIRED"]
    assert _receipt_levels(ex, packet.packet_id) == ["ACCEPTED", "EXPIRED"]
    assert get(ex.gw, ex.ru, "/v1/inbox?after=0").json()["items"] == []


def test_fault_03_notifications_stop_once_the_packet_is_delivered(
    shared_exchange: Exchange, tmp_path: Path
) -> None:
    gw = shared_exchange.gw
    n = next(_fresh)
    # The endpoint refuses connections: the gateway retries every ~0.1 s.
    ex = Exchange(gw, quick_party(gw, f"ua-{n}"),
                  quick_party(gw, f"ru-{n}", endpoint=f"http://127.0.0.1:{free_port()}/notify"),
                  shared_exchange.mon)

    def attempts(packet_id: str) -> int:
        return sum(1 for e in _timeline(ex, packet_id) if "event" in e)

    first = send_ready_packet(gw, ex.ua, ex.ru)
    wait_for(lambda: attempts(first.packet_id) >= 3)
    (result,) = _pull(gw.url, ex, tmp_path)
    assert result.level == "DELIVERED"
    at_delivery = attempts(first.packet_id)
    second = send_ready_packet(gw, ex.ua, ex.ru)  # the notifier keeps working for others
    wait_for(lambda: attempts(second.packet_id) >= 10)
    assert attempts(first.packet_id) <= at_delivery + 1  # at most one already in flight


# -- 5. scratch plaintext is removed on every path ----------------------------------------


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, dead but not yet reaped, does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def _start_hanging_extraction(ex: Exchange) -> Path:
    """Send a TIFF packet and wait until its plaintext sits in the scratch directory."""
    packet = make_packet(ex.ua, ex.ru.id, [("scan.tif", "image/tiff", tiff())])
    assert post_packet(ex.gw, ex.ua, packet).status == 202
    scratch = ex.gw.root / "tmp"
    return Path(wait_for(lambda: next(scratch.glob(f"{packet.packet_id}-*/*.pid"), None)))


def test_fault_05_plaintext_left_by_sigkill_is_removed_at_start_up(
    shared_exchange: Exchange,
) -> None:
    exchange = shared_exchange
    pid_file = _start_hanging_extraction(exchange)
    assert list(pid_file.parent.glob("part-*"))  # the decrypted part
    grandchild = int(pid_file.read_text())
    exchange.gw.kill()
    # SIGKILL gives the gateway no chance to stop its sandbox; the sandbox sees
    # its parent go and stops its whole group (regression: it ran on, holding
    # the decrypted part, until its own deadline).
    wait_for(lambda: not _alive(grandchild), timeout=10)
    assert pid_file.parent.exists()  # what a crash leaves behind
    exchange.gw.start()
    # Gone at start-up (the restarted extraction of the same packet makes its own).
    assert not pid_file.parent.exists()


def test_fault_05_sigterm_during_extraction_removes_plaintext_and_exits_cleanly(
    shared_exchange: Exchange,
) -> None:
    exchange = shared_exchange
    log_size = exchange.gw.log_path.stat().st_size
    pid_file = _start_hanging_extraction(exchange)
    grandchild = int(pid_file.read_text())
    assert exchange.gw.terminate() == 0
    assert not _alive(grandchild)  # the sandbox's whole process group was stopped
    assert list((exchange.gw.root / "tmp").iterdir()) == []
    log = exchange.gw.log_path.read_bytes()[log_size:].decode()
    assert "cannot schedule new futures" not in log and "Traceback" not in log, log[-3000:]
    exchange.gw.start()


# -- 6. file names reach the recipient only ------------------------------------------------


def _cli_args(ex: Exchange, party: Party) -> list[str]:
    return ["--gateway", ex.gw.url, "--id", party.id, "--keys", str(party.prefix)]


def test_fault_06_send_names_parts_neutrally_and_pull_restores_the_file_names(
    exchange: Exchange, tmp_path: Path
) -> None:
    child = tmp_path / "Ivanenko_Olena_2012.pdf"  # what an official saves a dossier as
    child.write_bytes(tiny_pdf("dossier"))
    note = tmp_path / "Лист про дитину.txt"
    note.write_bytes(b"a note\n")
    answer = json.loads(run_cli("send", *_cli_args(exchange, exchange.ua), "--to",
                                exchange.ru.id, str(child), str(note)).stdout)
    receipt = json.loads(jws.parse(answer["receipt"], typ=jws.TYP_RECEIPT).payload)
    assert [p["name"] for p in receipt["parts"]] == ["part-1.pdf", "part-2.txt"]
    wait_for(lambda: get(exchange.gw, exchange.ua, f"/v1/packets/{answer['packet_id']}")
             .json()["status"] == "READY")
    (pulled,) = json.loads(run_cli("pull", *_cli_args(exchange, exchange.ru), "--out",
                                   str(tmp_path / "in"),
                                   "--trust", str(exchange.gw.trust_file(exchange.ru))).stdout)
    parts = Path(pulled["folder"]) / "parts"
    assert sorted(p.name for p in parts.iterdir()) == sorted([child.name, note.name])
    assert (parts / child.name).read_bytes() == child.read_bytes()
    # What a monitor reads of this packet names no file.
    log = get(exchange.gw, exchange.mon, "/v1/receipts?after=0&limit=1000").body.decode()
    mine = [json.loads(jws.parse(i["receipt"], typ=jws.TYP_RECEIPT).payload)
            for i in json.loads(log)["items"]]
    seen = json.dumps([r for r in mine if r["packet_id"] == answer["packet_id"]])
    assert "Ivanenko" not in seen and "part-1.pdf" in seen


def test_fault_06_keep_names_names_parts_after_their_files(
    exchange: Exchange, tmp_path: Path
) -> None:
    neutral = tmp_path / "dossier-0142.pdf"
    neutral.write_bytes(tiny_pdf("dossier"))
    answer = json.loads(run_cli("send", *_cli_args(exchange, exchange.ua), "--to",
                                exchange.ru.id, "--keep-names", str(neutral)).stdout)
    receipt = json.loads(jws.parse(answer["receipt"], typ=jws.TYP_RECEIPT).payload)
    assert [p["name"] for p in receipt["parts"]] == ["dossier-0142.pdf"]


@pytest.mark.parametrize(("given", "written"), [
    ("../../etc/passwd", "_.._etc_passwd"),
    ("..", None),
    (".bashrc", "bashrc"),
    ("a\\b:c.pdf", "a_b_c.pdf"),
    ("Шевченко.pdf", "Шевченко.pdf"),
    (42, None),
])
def test_fault_06_restored_file_names_never_leave_the_folder(
    given: object, written: str | None
) -> None:
    assert safe_file_name(given) == written


# -- 7–11. every input gets a 4xx problem, never a 500, and a bounded log line -------------

DEEP = 3000  # far past Python's recursion limit (1000)


def _log_since(ex: Exchange, offset: int) -> str:
    return ex.gw.log_path.read_bytes()[offset:].decode(errors="replace")


def test_fault_07_deeply_nested_token_is_401_not_500(shared_exchange: Exchange) -> None:
    ex = shared_exchange
    offset = ex.gw.log_path.stat().st_size
    key = ex.ua.identity.signing
    deep_claims = compact_jws(auth_header(ex.ua), b"[" * DEEP, key)
    head = b64url(b"[" * DEEP)
    deep_header = f"{head}.{b64url(b'{}')}.{b64url(bytes(64))}"
    for token in (deep_claims, deep_header):
        answer = http("GET", ex.gw.url + "/v1/inbox",
                      headers={"Authorization": f"Bearer {token}"})
        assert_problem(answer, 401, "unauthenticated")
    assert "Traceback" not in _log_since(ex, offset)


def test_fault_07_deeply_nested_receipt_and_manifest_are_refused_not_500(
    shared_exchange: Exchange,
) -> None:
    ex = shared_exchange
    offset = ex.gw.log_path.stat().st_size
    key = ex.ru.identity.signing
    receipt = compact_jws({"alg": "Ed25519", "kid": key.kid, "typ": jws.TYP_RECEIPT},
                          b'{"issuer":"' + ex.ru.id.encode() + b'","x":' + b"[" * DEEP,
                          key)
    assert post_receipt(ex.gw, ex.ru, receipt).status == 401
    nested: object = []
    for _ in range(200):  # parses, but deeper than any DXG document
        nested = [nested]
    doc = manifest_doc(ex.ua.id, ex.ru.id, [("a.txt", "text/plain", b"x")],
                       body={"deep": nested})
    packet = packet_from_doc(doc, [("a.txt", b"x")], ex.ua.identity.signing)
    assert_problem(post_packet(ex.gw, ex.ua, packet), 422, "invalid")
    raw = b'{"v":1,"parts":' + b"[" * DEEP + b"]" * DEEP + b"}"
    envelope = sign_envelope(raw, ex.ua.identity.signing)
    body, content_type = Packet("x", envelope, []).body()
    answer = post_raw(ex.gw, ex.ua, "/v1/packets", body, content_type)
    assert 400 <= answer.status < 500, answer.body
    assert "Traceback" not in _log_since(ex, offset)
    with pytest.raises(ValueError, match="levels deep"):
        jsontext.loads(b"[" * DEEP + b"]" * DEEP)


TOO_BIG = "9999999999999999999"  # 19 digits, above 2^63 - 1


@pytest.mark.parametrize("path_qs", [
    f"/v1/inbox?after={TOO_BIG}",
    f"/v1/inbox?limit={TOO_BIG}",
    f"/v1/receipts?after={TOO_BIG}",
    f"/v1/log/checkpoint?size={TOO_BIG}",
    f"/v1/log/entries?start=0&end={TOO_BIG}",
    f"/v1/log/proof/inclusion?index=0&size={TOO_BIG}",
    f"/v1/log/proof/consistency?from=0&to={TOO_BIG}",
])
def test_fault_08_integers_past_2_63_are_400_not_500(
    shared_exchange: Exchange, path_qs: str,
) -> None:
    ex = shared_exchange
    assert_problem(get(ex.gw, ex.ua, path_qs), 400, "bad-request")


def test_fault_09_multipart_without_a_line_break_is_400_not_500(
    shared_exchange: Exchange,
) -> None:
    ex = shared_exchange
    body = b"--b\r\n" + b"x" * (600 * 1024)
    answer = post_raw(ex.gw, ex.ua, "/v1/packets", body,
                      "multipart/form-data; boundary=b")
    assert_problem(answer, 400, "bad-request")


def test_fault_10_cosignature_split_across_tcp_segments_is_accepted(
    shared_exchange: Exchange,
) -> None:
    ex = shared_exchange
    send_ready_packet(ex.gw, ex.ua, ex.ru)
    info = http("GET", ex.gw.url + "/v1/gateway").json()
    log_key = NoteKey(name=info["origin"], public=PublicKey.from_jwk(info["keys"][0]))
    note = get(ex.gw, ex.mon, "/v1/log/checkpoint").body.decode()
    signed = checkpoint.verify_checkpoint(note, log_key=log_key)
    line = checkpoint.cosign(signed, ex.mon.identity.signing, name=ex.mon.id)
    path = f"/v1/log/cosignatures?size={signed.size}"
    body = line.encode()
    answer = http_in_pieces(
        ex.gw, "POST", path, body=body, cuts=[len(body) // 2],
        headers={"Authorization": bearer(ex.mon, "POST", path),
                 "Content-Type": "text/plain"})
    assert answer.status in (200, 201), answer.body


def test_fault_11_a_fractional_size_is_refused(shared_exchange: Exchange) -> None:
    ex = shared_exchange
    doc = manifest_doc(ex.ua.id, ex.ru.id, [("a.txt", "text/plain", b"abc")])
    doc["parts"][0]["size"] = 3.0
    packet = packet_from_doc(doc, [("a.txt", b"abc")], ex.ua.identity.signing)
    problem = assert_problem(post_packet(ex.gw, ex.ua, packet), 422, "invalid")
    assert "size" in problem["detail"]


def _raw(gw: GatewayProcess, data: bytes, *, timeout: float = 10) -> Answer:
    """Send ``data`` as it is on a fresh connection; the answer read until the close."""
    with socket.create_connection(("127.0.0.1", gw.port), timeout=timeout) as s:
        with contextlib.suppress(ConnectionResetError, BrokenPipeError):
            s.sendall(data)
        received = bytearray()
        with contextlib.suppress(ConnectionResetError):
            while chunk := s.recv(65536):
                received += chunk
    head, _, body = bytes(received).partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines if ": " in line)
    return Answer(int(status_line.split()[1]), headers, body)


@pytest.mark.parametrize("request_bytes", [
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(
        f"X-H{i}: v\r\n".encode() for i in range(10_000)) + b"\r\n",
    b"POST /v1/receipts HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
    b"Transfer-Encoding: chunked\r\n\r\nabcde",
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,  # TLS to an HTTP port
], ids=["100KB-header", "10000-headers", "length-and-chunked", "negative-length", "tls"])
def test_fault_11_errors_of_aiohttps_parser_are_problem_json(
    shared_exchange: Exchange, request_bytes: bytes
) -> None:
    ex = shared_exchange
    offset = ex.gw.log_path.stat().st_size
    answer = _raw(ex.gw, request_bytes)
    assert_problem(answer, 400, "bad-request")
    logged = _log_since(ex, offset)
    assert "Traceback" not in logged and len(logged) < 1000, logged


# -- 13. background workers are supervised -------------------------------------------------

WORKERS = ("extraction", "notifier", "expirer", "jti-pruner", "storage", "receipt-log")


def _restarts(gw: GatewayProcess, worker: str) -> float:
    for line in http("GET", gw.url + "/metrics").body.decode().splitlines():
        if line.startswith(f'dxg_worker_restarts_total{{worker="{worker}"}}'):
            return float(line.split()[-1])
    raise AssertionError(f"no restart counter for {worker}")


def test_fault_13_a_failing_worker_is_restarted_counted_and_logged(expiring: Exchange) -> None:
    ex = expiring
    assert all(_restarts(ex.gw, w) >= 0 for w in WORKERS)  # every worker is supervised
    offset = ex.gw.log_path.stat().st_size
    database = sqlite3.connect(ex.gw.root / "dxg.sqlite3", timeout=10)
    try:
        # A real failure inside the expirer's write: the database refuses it.
        with database:
            database.execute(
                "CREATE TRIGGER fault_13 BEFORE INSERT ON timeline WHEN NEW.status = 'EXPIRED'"
                " BEGIN SELECT RAISE(ABORT, 'injected by test_fault_13'); END")
        packet = make_packet(ex.ua, ex.ru.id, [("a.txt", "text/plain", b"expires\n")])
        assert post_packet(ex.gw, ex.ua, packet).status == 202
        wait_for(lambda: _restarts(ex.gw, "expirer") >= 2, timeout=20)
        assert get(ex.gw, ex.ua, f"/v1/packets/{packet.packet_id}").json()["status"] != "EXPIRED"
        assert http("GET", ex.gw.url + "/readyz").status == 200  # restarting, not dead
    finally:
        with database:
            database.execute("DROP TRIGGER IF EXISTS fault_13")
        database.close()
    # The restarted expirer does its work once the fault is gone.
    wait_for(lambda: get(ex.gw, ex.ua, f"/v1/packets/{packet.packet_id}").json()["status"]
             == "EXPIRED", timeout=20)
    logged = _log_since(ex, offset)
    assert "worker expirer failed (IntegrityError); restarting" in logged
    assert "injected by test_fault_13" not in logged  # the class, never the message


# -- 15. slow clients are bounded ----------------------------------------------------------


def _upload_head(ex: Exchange, body_length: int, content_type: str) -> bytes:
    return (f"POST /v1/packets HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: {bearer(ex.ua, 'POST', '/v1/packets')}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {body_length}\r\n\r\n").encode()


def _answer_of(s: socket.socket) -> Answer:
    received = bytearray()
    with contextlib.suppress(ConnectionResetError):
        while chunk := s.recv(65536):
            received += chunk
    head, _, body = bytes(received).partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines if ": " in line)
    return Answer(int(status_line.split()[1]), headers, body)


def test_fault_15_an_upload_that_stops_is_cut_after_the_idle_timeout(
    shared_exchange: Exchange,
) -> None:
    exchange = shared_exchange
    packet = make_packet(exchange.ua, exchange.ru.id, [("a.txt", "text/plain", b"a" * 100_000)])
    body, content_type = packet.body()
    with socket.create_connection(("127.0.0.1", exchange.gw.port), timeout=20) as s:
        s.sendall(_upload_head(exchange, len(body), content_type) + body[:len(body) // 2])
        started = time.monotonic()
        answer = _answer_of(s)  # and then nothing more is sent
    assert_problem(answer, 408, "bad-request")
    assert time.monotonic() - started < 10  # body_idle_timeout_s is 2 s here


def test_fault_15_a_party_has_at_most_its_cap_of_uploads_at_once(shared_exchange: Exchange) -> None:
    exchange = shared_exchange
    packets = [make_packet(exchange.ua, exchange.ru.id, [("a.txt", "text/plain", b"a" * 1000)])
               for _ in range(3)]
    bodies = [p.body() for p in packets]
    with contextlib.ExitStack() as stack:
        slow = []
        for body, content_type in bodies[:2]:  # two uploads under way, each paused
            s = stack.enter_context(socket.create_connection(("127.0.0.1", exchange.gw.port)))
            s.sendall(_upload_head(exchange, len(body), content_type) + body[:500])
            slow.append(s)
        body, content_type = bodies[2]

        def third() -> Answer:
            with socket.create_connection(("127.0.0.1", exchange.gw.port), timeout=10) as s:
                s.sendall(_upload_head(exchange, len(body), content_type) + body)
                return _answer_of(s)

        # The two are in flight once the third is refused; before that it may pass.
        answer = wait_for(lambda: (a := third()).status == 429 and a, timeout=10)
        assert int(answer.headers["Retry-After"]) > 0
        for s, (body_n, _) in zip(slow, bodies[:2], strict=True):
            with contextlib.suppress(OSError):  # it may have hit the 2 s idle timeout
                s.sendall(body_n[500:])
            assert _answer_of(s).status in (202, 408)
    # Both ended: the party may upload again.
    assert third().status == 202


def test_fault_15_headers_that_never_end_are_cut_after_the_header_timeout(
    shared_exchange: Exchange,
) -> None:
    with socket.create_connection(("127.0.0.1", shared_exchange.gw.port), timeout=20) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        started = time.monotonic()
        assert s.recv(1024) == b""  # closed by the gateway
    assert time.monotonic() - started < 10  # header_timeout_s is 2 s here


# -- 4. the extraction deadline stops the extraction ---------------------------------------


def test_fault_04_the_deadline_kills_the_sandboxes_before_the_scratch_files_go(
    exchange: Exchange, tmp_path: Path
) -> None:
    started = time.monotonic()
    pid_file = _start_hanging_extraction(exchange)  # extraction_timeout_s is 4 s here
    grandchild = int(pid_file.read_text())
    wait_for(lambda: not pid_file.parent.exists(), timeout=30)
    assert not _alive(grandchild)  # nothing reads the plaintext once it is removed
    wait_ready(exchange.gw, exchange.ua, pid_file.parent.name[:36])  # <packet id>-<random>
    (result,) = _pull(exchange.gw.url, exchange, tmp_path)
    assert result.level == "DELIVERED" and result.folder is not None
    assert time.monotonic() - started < 4 + 10  # the packet's deadline, not the part's 16 s
    errors = json.loads((result.folder / "extraction.json").read_text())["errors"]
    assert any("deadline" in e for e in errors), errors


def test_fault_15_the_same_log_message_is_rate_limited() -> None:
    flood = FloodFilter(burst=10, window_s=60.0)

    def record(msg: str) -> logging.LogRecord:
        return logging.LogRecord("asyncio", logging.ERROR, __file__, 1, msg, None, None)

    passed = [flood.filter(record("socket.accept() out of system resource")) for _ in range(1000)]
    assert sum(passed) == 10
    assert flood.filter(record("another message"))  # each message has its own budget
