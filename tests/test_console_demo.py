"""``gateway demo --console`` leaves the console and the monitor view up (issue 13)."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

DEMO_TIMEOUT_S = 180


def test_demo_with_console_serves_the_console_and_the_monitor_view_until_interrupted(
    tmp_path: Path,
) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway", "demo", "--dir", str(tmp_path), "--console"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    assert proc.stdout is not None
    lines = []
    try:
        for line in proc.stdout:  # the demo prints the URLs, then waits
            lines.append(line)
            if line.startswith("Press Ctrl-C"):
                break
        text = "".join(lines)
        console = re.search(r"console \(ua\): (http://127\.0\.0\.1:\d+/)", text)
        view = re.search(r"monitor view: (http://127\.0\.0\.1:\d+/)", text)
        assert console and view, text[-2000:]
        with urllib.request.urlopen(console.group(1) + "login", timeout=10) as answer:
            assert answer.status == 200 and b'name="password"' in answer.read()
        with urllib.request.urlopen(view.group(1), timeout=10) as answer:
            assert answer.status == 200
        assert re.search(r"sign in as 'supervisor' with password '\S+'", text)
    finally:
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=DEMO_TIMEOUT_S)
    assert proc.returncode == 0, rest[-2000:]
    assert "Gateway stopped on SIGTERM" in rest
