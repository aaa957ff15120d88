"""Factories for the console's tests: a real console process, and a real browser.

The browser is Debian's Chromium (``apt-get install chromium``) driven by
Playwright for Python; no browser is ever downloaded. Tests that need it
are skipped, saying why, when ``/usr/bin/chromium`` is missing.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.harness import GatewayProcess, Party, free_port, run_cli

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
STARTUP_TIMEOUT_S = 30.0
PASSWORDS = {
    "olena": "reviewer-pass-1234",
    "taras": "supervisor-pass-5678",
    "iryna": "supervisor-pass-9012",
}
ROLES = {"olena": "reviewer", "taras": "supervisor", "iryna": "supervisor"}


def add_user(directory: Path, name: str, password: str, role: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "gateway", "console", "user", "add", str(directory), name,
         "--role", role],
        input=password + "\n", capture_output=True, text=True, timeout=60, check=False,
    )
    assert proc.returncode == 0, proc.stderr

def _spawn(args: list[str], log_path: Path, url: str, what: str) -> subprocess.Popen[bytes]:
    """Start a web process (console, monitor view) and wait until it answers /healthz."""
    log = log_path.open("ab")
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                            env=os.environ | {"PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{what} exited: {log_path.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1) as r:
                if r.status == 200:
                    return proc
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.05)
    raise AssertionError(f"{what} did not start")


def _stop(proc: subprocess.Popen[bytes] | None, sig: signal.Signals) -> None:
    """Stop a web process with ``sig`` (as an operator would), killing it if it hangs."""
    if proc is not None and proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)



@dataclass
class ConsoleProcess:
    directory: Path
    gw: GatewayProcess
    party: Party
    registry: Path | None = None
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    extra: Sequence[str] = ()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.directory.parent / f"{self.directory.name}.log"

    def start(self) -> None:
        args = [sys.executable, "-m", "gateway", "console", str(self.directory),
                "--gateway", self.gw.url, "--id", self.party.id, "--keys", str(self.party.prefix),
                "--port", str(self.port), "--trust", str(self.gw.trust_file(self.party)),
                *self.extra]
        if self.registry is not None:
            args += ["--registry", str(self.registry)]
        self.proc = _spawn(args, self.log_path, self.url, "console")

    def stop(self) -> None:
        _stop(self.proc, signal.SIGINT)
        self.proc = None


@contextmanager
def running_console(
    directory: Path, gw: GatewayProcess, party: Party, *, registry: Path | None = None,
    users: dict[str, str] | None = None,
) -> Iterator[ConsoleProcess]:
    for name, role in (users or ROLES).items():
        add_user(directory, name, PASSWORDS[name], role)
    console = ConsoleProcess(directory, gw, party, registry)
    console.start()
    try:
        yield console
    finally:
        console.stop()


@contextmanager
def browser() -> Iterator[Any]:
    """A headless Chromium (Debian's), or the test is skipped saying what to install."""
    if not Path(CHROMIUM).exists():
        pytest.skip("needs Debian's Chromium: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def cli(*args: str) -> str:
    return run_cli(*args).stdout


@dataclass
class MonitorView:
    """``gateway monitor ... --serve`` as a separate process."""

    gw: GatewayProcess
    monitor: Party
    state: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.state.parent / "monitor-view.log"

    def start(self) -> None:
        args = [sys.executable, "-m", "gateway", "monitor", "--gateway", self.gw.url,
                "--id", self.monitor.id, "--keys", str(self.monitor.prefix),
                "--state", str(self.state), "--serve", "--port", str(self.port),
                "--interval", "1", "--cosign", "--trust", str(self.gw.trust_file(self.monitor))]
        self.proc = _spawn(args, self.log_path, self.url, "monitor view")

    def stop(self) -> None:
        _stop(self.proc, signal.SIGTERM)
        self.proc = None


@contextmanager
def running_monitor_view(gw: GatewayProcess, monitor: Party, state: Path) -> Iterator[MonitorView]:
    view = MonitorView(gw, monitor, state)
    view.start()
    try:
        yield view
    finally:
        view.stop()


DOCS = Path(__file__).resolve().parent.parent / "docs"
UPDATE_SCREENSHOTS = "DXG_UPDATE_SCREENSHOTS"  # =1: write the pictures into docs/
MIN_COLOURS = 8  # a blank or unstyled page quantizes to fewer


def save_screenshot(page: Any, name: str, scratch: Path, *, full_page: bool = False) -> Path:
    """A screenshot as a 128-colour PNG (small enough to commit), checked not blank.

    It goes to ``scratch``; only with ``DXG_UPDATE_SCREENSHOTS=1`` in the
    environment does it replace ``docs/NAME``, so that a test run never
    edits the tracked pictures behind the developer's back.
    """
    import io  # noqa: PLC0415

    from PIL import Image  # noqa: PLC0415

    image = Image.open(io.BytesIO(page.screenshot(full_page=full_page))).convert("RGB")
    quantized = image.quantize(colors=128, method=Image.Quantize.MEDIANCUT)
    used = quantized.getcolors(maxcolors=256) or []
    assert len(used) >= MIN_COLOURS, f"{name}: the page looks blank ({len(used)} colours)"
    path = (DOCS if os.environ.get(UPDATE_SCREENSHOTS) == "1" else scratch) / name
    quantized.save(path, optimize=True)
    return path
