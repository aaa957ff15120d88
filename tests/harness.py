"""Factories for tests: real gateway processes on loopback ports, real parties.

Nothing here is a pytest fixture with magic: a test calls :func:`start_gateway`
(or uses the ``gateway`` fixture in conftest that wraps it) and gets a
:class:`GatewayProcess` it can stop with SIGTERM, kill with SIGKILL and
start again on the same data directory.
"""

from __future__ import annotations

import json
import os
import resource
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pymupdf

from gateway.party.client import Client, Identity
from gateway.party.trust import PinnedGateway, TrustStore, party_keys_from_file
from gateway.protocol.clock import now
from gateway.protocol.crypto.digest import sha256_hex
from gateway.protocol.crypto.keys import (
    EncryptionKey,
    SigningKey,
    b64url,
    load_signing_key,
    save_private_key,
)
from gateway.protocol.manifest import PartSpec, build_manifest, sign_envelope
from gateway.protocol.token import sign_token
from gateway.protocol.trust import RegisteredKey
from gateway.server import registry
from gateway.server.config import DataDir
from gateway.server.sql import PgConnection, connect_postgres

STARTUP_TIMEOUT_S = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def gateway_command() -> list[str]:
    """How tests start ``gateway``: this tree's, or an installed one.

    ``DXG_TEST_GATEWAY`` names a ``gateway`` executable (a wheel installed in
    another environment, tests/test_wheel.py); its console script imports the
    installed package, never this source tree.
    """
    installed = os.environ.get("DXG_TEST_GATEWAY")
    return [installed] if installed else [sys.executable, "-m", "gateway"]


def run_cli(
    *args: str, check: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``gateway ARGS`` as a separate process."""
    proc = subprocess.run(
        [*gateway_command(), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"gateway {args[0]} failed ({proc.returncode}): {proc.stderr}")
    return proc


@dataclass
class Party:
    id: str
    prefix: Path
    identity: Identity


def make_keys(prefix: Path) -> Identity:
    prefix.parent.mkdir(parents=True, exist_ok=True)
    run_cli("keygen", str(prefix))
    return Identity.load("unnamed", prefix)


# Above the gateway's own bound on a SIGTERM stop (the drain, then a running
# extraction's abort, which may wait ABORT_WAIT_S = 30 s for a sandbox still
# starting on a loaded machine, then the claims' release): a stop slower than
# this is a hang, not a busy machine.
STOP_TIMEOUT_S = 90.0


@dataclass
class GatewayProcess:
    root: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    config: Mapping[str, Any] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)  # extra environment of the server
    nofile: int | None = None  # the server's descriptor limit (soft and hard), if set
    parties: dict[str, Party] = field(default_factory=dict)  # added by add_party, in order
    kid: str = ""  # the gateway's signing key id, as `gateway init` printed it

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.root.parent / f"{self.root.name}.log"

    def init(self) -> None:
        self.kid = json.loads(run_cli("init", str(self.root)).stdout)["kid"]
        if self.config:
            path = self.root / "config.json"
            current = json.loads(path.read_text())
            current.update(self.config)
            path.write_text(json.dumps(current))
        if self.config.get("database"):
            run_cli("migrate", str(self.root))  # the PostgreSQL database starts empty

    def add_party(
        self, party_id: str, *, role: str = "party", endpoint: str | None = None
    ) -> Party:
        prefix = self.root.parent / "keys" / party_id
        run_cli("keygen", str(prefix))
        args = [
            "party",
            "add",
            str(self.root),
            party_id,
            "--role",
            role,
            "--keys",
            f"{prefix}.pub.json",
        ]
        if endpoint:
            args += ["--endpoint", endpoint]
        run_cli(*args)
        party = Party(party_id, prefix, Identity.load(party_id, prefix))
        self.parties[party_id] = party
        return party

    def trust_file(self, party: Party, *, partners: Sequence[Party] | None = None) -> Path:
        """``party``'s trust store, pinned as a real deployment would, out of band:

        the gateway's id, origin and public key as its operator hands them
        over (read from its data directory), and each partner's
        ``PREFIX.pub.json`` (default: every other party added so far).
        """
        data = DataDir(self.root)
        config = data.load_config()
        gateway_key = load_signing_key(data.signing_key_path).public
        store = TrustStore().with_gateway(
            PinnedGateway(config.id, config.origin, (RegisteredKey(gateway_key),))
        )
        others = partners if partners is not None else [
            p for p in self.parties.values() if p.id != party.id
        ]
        for other in others:
            store = store.with_party_keys(
                other.id, party_keys_from_file(Path(f"{other.prefix}.pub.json"))
            )
        path = self.root.parent / "trust" / f"{party.id}.json"
        store.save(path)
        return path

    def client(self, party: Party, **kw: Any) -> Client:
        """A client of ``party`` that verifies with its pinned trust store."""
        return Client(self.url, party.identity, trust=TrustStore.load(self.trust_file(party)), **kw)

    def start(self, *, ready_path: str = "/readyz") -> None:
        """Start ``gateway serve`` and wait until ``ready_path`` answers 200.

        ``/healthz`` for a gateway expected to run but not be ready (a full disk).
        """
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [*gateway_command(), "serve", str(self.root), "--port", str(self.port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=os.environ | {"PYTHONUNBUFFERED": "1"} | dict(self.env),
            # setrlimit only, in the child before exec: nothing a thread could hold.
            preexec_fn=None if self.nofile is None else self._limit_descriptors,  # noqa: PLW1509
        )
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"gateway exited: {self.log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url + ready_path, timeout=1) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.05)
        raise AssertionError("gateway did not become ready")

    def _limit_descriptors(self) -> None:  # runs in the child, before exec
        assert self.nofile is not None
        resource.setrlimit(resource.RLIMIT_NOFILE, (self.nofile, self.nofile))

    def terminate(self, timeout: float = STOP_TIMEOUT_S) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        self.proc = None
        return code

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.terminate()


def quick_party(
    gw: GatewayProcess, party_id: str, *, endpoint: str | None = None, role: str = "party"
) -> Party:
    """Keys (with ``PREFIX.pub.json``) and a registration as ``gateway keygen`` and
    ``party add`` make them, in-process.

    The same files and the same registry call as the CLI (tests/test_exchange.py
    covers the CLI), without two interpreter start-ups per party.
    """
    prefix = gw.root.parent / "keys" / party_id
    prefix.parent.mkdir(parents=True, exist_ok=True)
    sig, enc = SigningKey.generate(), EncryptionKey.generate()
    save_private_key(Path(f"{prefix}.sig.jwk"), sig)
    save_private_key(Path(f"{prefix}.enc.jwk"), enc)
    public = {"sig": sig.public.to_jwk(with_meta=True), "enc": enc.public.to_jwk(with_meta=True)}
    Path(f"{prefix}.pub.json").write_text(json.dumps(public, indent=2) + "\n", encoding="utf-8")
    dsn = gw.config.get("database")
    database: sqlite3.Connection | PgConnection
    if dsn:
        database = PgConnection(connect_postgres(dsn))
    else:
        database = sqlite3.connect(gw.root / "dxg.sqlite3", timeout=30, isolation_level=None)
    try:
        database.execute("BEGIN IMMEDIATE")
        registry.add_party(database, party_id, roles=[role], keys=[sig.public, enc.public],
                           endpoint=endpoint, at=now(), gateway_id="gw")
        database.execute("COMMIT")
    finally:
        database.close()
    party = Party(party_id, prefix, Identity.load(party_id, prefix))
    gw.parties[party_id] = party  # pinned by trust_file, as add_party's are
    return party


def start_gateway(tmp: Path, config: Mapping[str, Any] | None = None) -> GatewayProcess:
    gw = GatewayProcess(root=tmp / "gw", config=dict(config or {}))
    gw.init()
    return gw


# -- raw HTTP, for tests that build requests byte by byte --------------------


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def http(
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    timeout: float = 30,
) -> Answer:
    request = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            return Answer(r.status, dict(r.headers), r.read())
    except urllib.error.HTTPError as e:
        return Answer(e.code, dict(e.headers), e.read())


def bearer(party: Party, method: str, path_qs: str, *, audience: str = "gw", **kw: Any) -> str:
    token = sign_token(
        party.identity.signing,
        issuer=party.id,
        audience=audience,
        method=method,
        path_qs=path_qs,
        **kw,
    )
    return f"Bearer {token}"


def multipart(fields: Sequence[tuple[str, bytes]]) -> tuple[bytes, str]:
    """A multipart/form-data body with the fields in order; (body, content type)."""
    boundary = "dxg-" + secrets.token_hex(12)
    out = bytearray()
    for name, data in fields:
        out += f"--{boundary}\r\n".encode()
        out += f'Content-Disposition: form-data; name="{name}"\r\n'.encode()
        out += b"Content-Type: application/octet-stream\r\n\r\n"
        out += data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def tiny_pdf(text: str = "DXG test") -> bytes:
    doc = pymupdf.open()
    page = doc.new_page()
    page.insert_text((72, 72), text)
    data: bytes = doc.tobytes()
    return data


@dataclass(frozen=True)
class Packet:
    packet_id: str
    envelope: str
    files: list[tuple[str, bytes]]

    def body(self) -> tuple[bytes, str]:
        return multipart([("envelope", self.envelope.encode()), *self.files])


def make_packet(
    sender: Party,
    recipient: str,
    files: Sequence[tuple[str, str, bytes]],
    *,
    key: SigningKey | None = None,
    declared: Mapping[str, Mapping[str, Any]] | None = None,
    **manifest_kw: Any,
) -> Packet:
    """A signed packet of (name, media type, bytes); ``declared`` overrides manifest entries."""
    specs = []
    for name, media_type, data in files:
        over = dict((declared or {}).get(name, {}))
        specs.append(
            PartSpec(
                name=name,
                media_type=over.get("media_type", media_type),
                size=over.get("size", len(data)),
                sha256=over.get("sha256", sha256_hex(data)),
            )
        )
    packet_id = manifest_kw.pop("packet_id", None) or str(uuid.uuid4())
    manifest = build_manifest(
        sender=sender.id, recipient=recipient, parts=specs, packet_id=packet_id, **manifest_kw
    )
    envelope = sign_envelope(manifest, key or sender.identity.signing)
    return Packet(packet_id, envelope, [(n, d) for n, _, d in files])


def post_packet(gw: GatewayProcess, sender: Party, packet: Packet, **kw: Any) -> Answer:
    body, content_type = packet.body()
    headers = {"Authorization": bearer(sender, "POST", "/v1/packets"), "Content-Type": content_type}
    return http("POST", gw.url + "/v1/packets", headers=headers, body=body, **kw)


def get(gw: GatewayProcess, party: Party, path_qs: str) -> Answer:
    return http("GET", gw.url + path_qs, headers={"Authorization": bearer(party, "GET", path_qs)})


def wait_for(predicate: Any, *, timeout: float = 30, interval: float = 0.05) -> Any:
    """Poll a condition of another process (a gateway's status), bounded in time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")


# -- building documents rule by rule, and reading problems --------------------


def compact_jws(header: Mapping[str, Any], payload: bytes, key: SigningKey | None) -> str:
    """A JWS with exactly this protected header, signed by ``key`` (None: empty signature).

    Unlike ``gateway.protocol.crypto.jws.sign`` nothing is checked or filled in, so a
    test can write any ``alg``, ``typ`` or ``kid`` it wants the gateway to refuse.
    """
    head = b64url(json.dumps(dict(header), separators=(",", ":")).encode())
    body = b64url(payload)
    signature = b"" if key is None else key.sign(f"{head}.{body}".encode("ascii"))
    return f"{head}.{body}.{b64url(signature)}"


def token_claims(
    party: Party, method: str, path_qs: str, *, audience: str = "gw", lifetime_s: int = 120
) -> dict[str, Any]:
    """The claims of a valid request token (SPEC §2), to be spoiled one at a time."""
    iat = int(time.time())
    return {
        "iss": party.id,
        "aud": audience,
        "iat": iat,
        "exp": iat + lifetime_s,
        "jti": b64url(secrets.token_bytes(16)),
        "htm": method,
        "htu": path_qs,
    }


def auth_header(party: Party) -> dict[str, Any]:
    return {"alg": "Ed25519", "kid": party.identity.signing.kid, "typ": "dxg-auth+jwt"}


def forged_bearer(
    party: Party,
    claims: Mapping[str, Any],
    *,
    header: Mapping[str, Any] | None = None,
    key: SigningKey | None = None,
) -> str:
    """``Bearer <token>`` with these claims and header, signed by ``key`` (default: party's)."""
    signer = key or party.identity.signing
    token = compact_jws(header or auth_header(party), json.dumps(dict(claims)).encode(), signer)
    return f"Bearer {token}"


PROBLEM_MEDIA_TYPE = "application/problem+json"


def assert_problem(answer: Answer, status: int, code: str) -> dict[str, Any]:
    """The answer is an RFC 9457 problem with this status and ``urn:dxg:error:<code>``."""
    assert answer.status == status, (answer.status, answer.body[:500])
    content_type = answer.headers.get("Content-Type", "")
    assert content_type.split(";")[0].strip() == PROBLEM_MEDIA_TYPE, content_type
    problem: dict[str, Any] = answer.json()
    assert problem["type"] == f"urn:dxg:error:{code}", problem
    assert problem["status"] == status
    assert isinstance(problem["title"], str) and isinstance(problem["detail"], str)
    return problem


def manifest_doc(
    sender: str, recipient: str, files: Sequence[tuple[str, str, bytes]], **over: Any
) -> dict[str, Any]:
    """A valid manifest as a dict, for tests that break one member of it."""
    doc: dict[str, Any] = {
        "v": 1,
        "packet_id": str(uuid.uuid4()),
        "sender": sender,
        "recipient": recipient,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "kind": "dossier",
        "purpose": "family_tracing",
        "legal_basis": ["vital_interest"],
        "in_reply_to": None,
        "parts": [
            {"name": n, "media_type": t, "size": len(d), "sha256": sha256_hex(d)}
            for n, t, d in files
        ],
    }
    doc.update(over)
    return doc


def packet_from_doc(
    doc: Mapping[str, Any], files: Sequence[tuple[str, bytes]], key: SigningKey
) -> Packet:
    """A packet whose envelope signs ``doc`` serialised compactly."""
    raw = json.dumps(dict(doc), separators=(",", ":")).encode()
    return Packet(str(doc.get("packet_id")), sign_envelope(raw, key), list(files))


def post_raw(
    gw: GatewayProcess, party: Party, path_qs: str, body: bytes, content_type: str
) -> Answer:
    headers = {"Authorization": bearer(party, "POST", path_qs), "Content-Type": content_type}
    return http("POST", gw.url + path_qs, headers=headers, body=body)


def post_receipt(gw: GatewayProcess, party: Party, compact: str) -> Answer:
    return post_raw(gw, party, "/v1/receipts", compact.encode("ascii"), "application/jose")


def packet_status(gw: GatewayProcess, party: Party, packet_id: str) -> str:
    answer = get(gw, party, f"/v1/packets/{packet_id}")
    assert answer.status == 200, answer.body
    return str(answer.json()["status"])


def wait_ready(gw: GatewayProcess, party: Party, packet_id: str) -> None:
    """Wait until the packet has its extraction document (READY or beyond)."""
    wait_for(lambda: packet_status(gw, party, packet_id) not in ("ACCEPTED", "EXTRACTING"))


def send_ready_packet(
    gw: GatewayProcess,
    sender: Party,
    recipient: Party,
    files: Sequence[tuple[str, str, bytes]] | None = None,
) -> Packet:
    """Submit a packet (a text part by default) and wait until it is READY."""
    packet = make_packet(
        sender, recipient.id, files or [("note.txt", "text/plain", secrets.token_hex(8).encode())]
    )
    answer = post_packet(gw, sender, packet)
    assert answer.status == 202, answer.body
    wait_ready(gw, sender, packet.packet_id)
    return packet



PIECE_PAUSE_S = 0.2  # long enough that the server reads each piece on its own


def http_in_pieces(
    gw: GatewayProcess,
    method: str,
    path_qs: str,
    *,
    headers: Mapping[str, str],
    body: bytes,
    cuts: Sequence[int],
) -> Answer:
    """One request over a raw socket, its body sent in pieces cut at ``cuts``.

    A real network delivers a body in segments of any size; the server must not
    depend on a document arriving in one read. The pause between pieces is the
    point of the test, not a wait for an event.
    """
    head = f"{method} {path_qs} HTTP/1.1\r\nHost: 127.0.0.1:{gw.port}\r\n"
    for name, value in {**headers, "Content-Length": str(len(body)), "Connection": "close"}.items():
        head += f"{name}: {value}\r\n"
    pieces, previous = [], 0
    for cut in [*cuts, len(body)]:
        pieces.append(body[previous:cut])
        previous = cut
    with socket.create_connection(("127.0.0.1", gw.port), timeout=30) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(head.encode("ascii") + b"\r\n" + pieces[0])
        for piece in pieces[1:]:
            time.sleep(PIECE_PAUSE_S)
            s.sendall(piece)
        return read_answer(s)


def read_answer(sock: socket.socket) -> Answer:
    """The whole HTTP answer on ``sock`` (the request sent ``Connection: close``)."""
    received = bytearray()
    while chunk := sock.recv(65536):
        received += chunk
    raw_head, _, body = bytes(received).partition(b"\r\n\r\n")
    status_line, *header_lines = raw_head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in header_lines)
    return Answer(int(status_line.split()[1]), headers, body)
