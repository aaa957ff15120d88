"""Factories for tests: real gateway processes on loopback ports, real parties.

Nothing here is a pytest fixture with magic: a test calls :func:`start_gateway`
(or uses the ``gateway`` fixture in conftest that wraps it) and gets a
:class:`GatewayProcess` it can stop with SIGTERM, kill with SIGKILL and
start again on the same data directory.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
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

from gateway import tokens
from gateway.client import Identity
from gateway.crypto.digest import sha256_hex
from gateway.crypto.keys import SigningKey
from gateway.packets import PartSpec, build_manifest, sign_envelope

STARTUP_TIMEOUT_S = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_cli(
    *args: str, check: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``gateway ARGS`` as a separate process."""
    proc = subprocess.run(
        [sys.executable, "-m", "gateway", *args],
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


@dataclass
class GatewayProcess:
    root: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    config: Mapping[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.root.parent / f"{self.root.name}.log"

    def init(self) -> None:
        run_cli("init", str(self.root))
        if self.config:
            path = self.root / "config.json"
            current = json.loads(path.read_text())
            current.update(self.config)
            path.write_text(json.dumps(current))

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
        return Party(party_id, prefix, Identity.load(party_id, prefix))

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gateway", "serve", str(self.root), "--port", str(self.port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=os.environ | {"PYTHONUNBUFFERED": "1"},
        )
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"gateway exited: {self.log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url + "/readyz", timeout=1) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.05)
        raise AssertionError("gateway did not become ready")

    def terminate(self, timeout: float = 40) -> int:
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
    token = tokens.issue(
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
