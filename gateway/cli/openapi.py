"""Write (or check) ``docs/openapi.json``, the gateway's generated OpenAPI document.

    python -m gateway.cli.openapi [--output docs/openapi.json] [--check]

The document is built from the routes of a gateway application
(``gateway.server.openapi``); no server runs and no data directory is read.
``--check`` exits 1 if the file differs from what the code generates.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gateway.server.app import create_app
from gateway.server.openapi import build, render

DEFAULT_OUTPUT = Path("docs/openapi.json")


def generate() -> str:
    """The document's text for the routes of this version of the gateway."""
    # create_app opens nothing until the application starts: the path is never read.
    return render(build(create_app(Path("/nonexistent"))))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args(argv)
    text = generate()
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is stale: run python -m gateway.cli.openapi", file=sys.stderr)
            return 1
        return 0
    args.output.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
