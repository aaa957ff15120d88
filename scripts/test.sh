#!/usr/bin/env bash
# The newcomer's second command, and CI's: set up, lint, type-check, test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
ruff check .
mypy
pytest -q "$@"
