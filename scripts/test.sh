#!/usr/bin/env bash
# The newcomer's second command, and CI's: set up, lint, type-check, test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
ruff check .
mypy
# The suite is mostly waiting (gateway processes starting, nodes killed and
# taking over), so it runs on one worker per core, at most four: whole files
# to a worker (--dist loadfile), so a module's shared gateway starts once.
# Pass -n 0 to run it in one process.
pytest -q -n auto --maxprocesses 4 --dist loadfile "$@"
