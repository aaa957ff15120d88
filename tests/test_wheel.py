"""The built wheel, installed for real (not editable), runs a whole exchange.

A regular install once answered every packet with 500: the JSON Schemas
were not in the wheel. Here the wheel is built from this tree (no build
isolation, no network), installed into a fresh virtual environment, and
only that install's ``gateway`` command runs the exchange: init, keygen,
party add, serve, send, pull, status.

No network in tests: the fresh environment gets the project's dependencies
from the environment running the tests, through a ``.pth`` file naming a
folder of links to every installed distribution except DXG itself, so the
only ``gateway`` it can import is the one the wheel installed. This runs in
the normal suite (CI included); it takes some tens of seconds.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest

from tests.harness import STARTUP_TIMEOUT_S, free_port, tiny_pdf, wait_for

ROOT = Path(__file__).resolve().parent.parent
BUILD_TIMEOUT_S = 180
CLI_TIMEOUT_S = 120
# What of the running environment the fresh one must NOT see: DXG itself
# (the editable install's metadata and import hook) and the source tree.
OWN = ("dxg-", "dxg.", "__editable__", "gateway", "extractors")

pytestmark = pytest.mark.timeout(300)


def run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None,
        timeout: float = CLI_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)
    assert proc.returncode == 0, f"{args[:3]} failed ({proc.returncode}): {proc.stderr[-2000:]}"
    return proc


def source_copy(dest: Path) -> Path:
    """The tree's files as git sees them (tracked and new, not ignored), links kept.

    Building in the tree itself would reuse its ``build/`` and ``*.egg-info``
    left by earlier builds, which can hold files the packaging no longer ships.
    """
    listed = run("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard",
                 cwd=ROOT).stdout.split("\0")
    for name in filter(None, listed):
        source, target = ROOT / name, dest / name
        if not source.exists() and not source.is_symlink():
            continue  # deleted in the work tree, not yet in the index
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target, follow_symlinks=False)
    return dest


def build_wheel(out: Path) -> Path:
    source = source_copy(out / "src")
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
        "--quiet", "--wheel-dir", out, source, cwd=out, timeout=BUILD_TIMEOUT_S)
    (wheel,) = out.glob("dxg-*.whl")
    return wheel


def dependencies_folder(folder: Path) -> Path:
    """Links to everything installed here except DXG: the fresh venv's dependencies."""
    folder.mkdir()
    site = Path(sysconfig.get_paths()["purelib"])
    for entry in site.iterdir():
        if entry.name.startswith(OWN) or entry.suffix == ".pth":
            continue
        (folder / entry.name).symlink_to(entry)
    return folder


def fresh_venv(where: Path, deps: Path) -> Path:
    run(sys.executable, "-m", "venv", where, cwd=where.parent, timeout=BUILD_TIMEOUT_S)
    python = where / "bin" / "python"
    purelib = run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])",
                  cwd=where).stdout.strip()
    (Path(purelib) / "dxg-test-dependencies.pth").write_text(f"{deps}\n")
    return where


def test_the_installed_wheel_runs_a_whole_exchange(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
    for schema in sorted((ROOT / "schemas").glob("*.json")):
        assert f"gateway/protocol/schema_files/{schema.name}" in names, names

    venv = fresh_venv(tmp_path / "venv", dependencies_folder(tmp_path / "deps"))
    work = tmp_path / "work"  # outside the source tree: nothing imports from it
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PYTHONUNBUFFERED"] = "1"
    run(venv / "bin" / "python", "-m", "pip", "install", "--quiet", "--no-index", "--no-deps",
        wheel, cwd=work, env=env, timeout=BUILD_TIMEOUT_S)
    where = run(venv / "bin" / "python", "-c",
                "import gateway, extractors; print(gateway.__file__, extractors.__file__)",
                cwd=work, env=env).stdout.split()
    assert all(p.startswith(str(venv)) for p in where), where  # the wheel, not this tree

    gateway = venv / "bin" / "gateway"
    data = work / "gw"
    gateway_kid = json.loads(run(gateway, "init", data, cwd=work, env=env).stdout)["kid"]
    for party in ("ua", "ru"):
        run(gateway, "keygen", work / "keys" / party, cwd=work, env=env)
        run(gateway, "party", "add", data, party, "--role", "party",
            "--keys", work / "keys" / f"{party}.pub.json", cwd=work, env=env)

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (work / "serve.log").open("wb")
    server = subprocess.Popen([str(gateway), "serve", str(data), "--port", str(port)],
                              cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: _ready(url, server), timeout=STARTUP_TIMEOUT_S)

        def client(party: str) -> list[str | Path]:
            return ["--gateway", url, "--id", party, "--keys", work / "keys" / party]

        dossier = work / "dossier-0001.pdf"
        dossier.write_bytes(tiny_pdf("Installed from the wheel"))
        sent = json.loads(run(gateway, "send", *client("ua"), "--to", "ru", dossier,
                              cwd=work, env=env).stdout)
        assert sent["status"] == "ACCEPTED"  # not the 500 an install without schemas gave

        def ready() -> bool:
            status = subprocess.run(
                [str(gateway), "status", *map(str, client("ua")), sent["packet_id"]],
                cwd=work, env=env, capture_output=True, text=True, timeout=CLI_TIMEOUT_S,
                check=False)
            return status.stdout != "" and json.loads(status.stdout)["status"] == "READY"

        wait_for(ready, timeout=60, interval=0.5)
        # The recipient pins, out of band, the gateway's key and the sender's (docs/trust.md).
        trust = work / "ru.trust.json"
        run(gateway, "trust", "gateway", trust, "--gateway", url, "--expect-kid", gateway_kid,
            cwd=work, env=env)
        run(gateway, "trust", "add", trust, "ua", "--keys", work / "keys" / "ua.pub.json",
            cwd=work, env=env)
        pulled = json.loads(run(gateway, "pull", *client("ru"), "--trust", trust,
                                "--out", work / "inbox", cwd=work, env=env).stdout)
        assert [(p["packet_id"], p["receipt"]) for p in pulled] == [
            (sent["packet_id"], "DELIVERED")
        ]
        folder = Path(pulled[0]["folder"])
        assert (folder / "parts" / dossier.name).read_bytes() == dossier.read_bytes()
    finally:
        server.terminate()
        assert server.wait(40) == 0  # SIGTERM drains and exits 0 (SPEC §9)
        log.close()
    assert b"Traceback" not in (work / "serve.log").read_bytes()

    # The outside client (joserfc and raw libsodium, tests/test_interop.py)
    # against gateways started from the installed wheel.
    interop = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         str(ROOT / "tests" / "test_interop.py")],
        cwd=ROOT, env=os.environ | {"DXG_TEST_GATEWAY": str(gateway)},
        capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, check=False)
    assert interop.returncode == 0, interop.stdout[-3000:] + interop.stderr[-2000:]
    assert " passed" in interop.stdout and " failed" not in interop.stdout


def _ready(url: str, server: subprocess.Popen[bytes]) -> bool:
    if server.poll() is not None:
        raise AssertionError("the installed gateway exited at start-up")
    try:
        with urllib.request.urlopen(url + "/readyz", timeout=1) as answer:
            return bool(answer.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False
