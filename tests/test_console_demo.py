"""``gateway demo --console`` leaves the console and the monitor view up (issue 13)."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from tests.console_harness import browser, save_screenshot

STORY_REUNITED = 8  # the demo's story ends with eight children home (issue 10)

DEMO_TIMEOUT_S = 180


def _screenshots(console: str, view: str, password: str, scratch: Path) -> None:
    """docs/ pictures of the board and the monitor view after the demo's whole story."""
    with browser() as chromium:
        page = chromium.new_page(locale="en-GB", viewport={"width": 1280, "height": 1000})
        page.goto(console + "login")
        page.get_by_label("User name").fill("supervisor")
        page.get_by_label("Password").fill(password)
        with page.expect_navigation():
            page.get_by_role("button", name="Sign in").click()
        page.goto(console + "cases")
        assert int(page.locator("#count-REUNITED b").inner_text()) == STORY_REUNITED
        save_screenshot(page, "console-board.png", scratch, full_page=True)
        for _ in range(120):  # the view shows the pass that covers the whole story
            page.goto(view)
            cell = page.locator("#case-table td.reunited-24h")
            if cell.count() and int(cell.first.inner_text()) == STORY_REUNITED:
                break
            page.wait_for_timeout(500)
        else:
            raise AssertionError("the monitor view never counted the story's reunions")
        save_screenshot(page, "monitor-view.png", scratch, full_page=True)


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
        password = re.search(r"sign in as 'supervisor' with password '(\S+)'", text)
        assert password, text[-2000:]
        _screenshots(console.group(1), view.group(1), password.group(1), tmp_path)
    finally:
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=DEMO_TIMEOUT_S)
    assert proc.returncode == 0, rest[-2000:]
    assert "Gateway stopped on SIGTERM" in rest
