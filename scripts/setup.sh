#!/usr/bin/env bash
# Set up a fresh Debian/Ubuntu machine for DXG: system packages, then a
# virtual environment in .venv with the project and its test tools.
# Safe to run again; it changes nothing that is already in place.
set -euo pipefail
cd "$(dirname "$0")/.."

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq \
    tesseract-ocr tesseract-ocr-ukr tesseract-ocr-rus fonts-dejavu-core fonts-sjfonts \
    python3-venv python3-pip chromium postgresql >/dev/null
# fonts-sjfonts: the handwriting face of the generated forms (tests/dossiers.py).
# chromium: Debian's browser, driven by Playwright in the console's end-to-end
# tests (tests/test_console_browser.py); Playwright never downloads a browser.

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
# pip's own chatter goes to a log; it is shown only if the install fails.
log=.venv/install.log
if ! { .venv/bin/python -m pip install --upgrade pip \
       && .venv/bin/python -m pip install -e '.[test]'; } >"$log" 2>&1; then
    cat "$log" >&2
    echo "setup: installing the Python packages failed (log above, and in $log)" >&2
    exit 1
fi
echo "setup: system packages and .venv are ready" >&2
