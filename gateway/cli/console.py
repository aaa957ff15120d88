"""``gateway console``: the officials' web console, and its list of officials (issue 13).

    gateway console DIR --gateway URL --id ID --keys PREFIX --trust FILE
                        [--registry FILE.csv] [--host 127.0.0.1] [--port P]
    gateway console user add DIR NAME --role reviewer|supervisor   (password on stdin)
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from pathlib import Path
from typing import Any

from gateway.cli.trust import load_trust, trust_flag
from gateway.protocol.errors import UsageError

DEFAULT_PORT = 8600  # apart from the gateway's 8443, so both run on one machine


def add_command(sub: Any) -> None:
    """Register ``gateway console`` on the CLI's subparsers."""
    p = sub.add_parser(
        "console",
        help="the officials' web console (or: console user add DIR NAME --role ROLE)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("words", nargs="+", metavar="DIR | user add DIR NAME")
    p.add_argument("--gateway", default=os.environ.get("DXG_GATEWAY"), help="gateway base URL")
    p.add_argument("--id", default=os.environ.get("DXG_ID"), help="your party id")
    p.add_argument("--keys", default=os.environ.get("DXG_KEYS"), help="your key PREFIX")
    trust_flag(p)
    p.add_argument("--registry", help="the registry CSV of SPEC §11, for the matching panel")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT)
    p.add_argument("--role", choices=["reviewer", "supervisor"], help="for user add")
    p.set_defaults(func=cmd_console)


def cmd_console(args: argparse.Namespace) -> int:
    words = list(args.words)
    if words[:1] == ["user"]:
        return _user(words[1:], args.role)
    if len(words) != 1:
        raise UsageError("give one DIR, or: gateway console user add DIR NAME --role ROLE")
    if not args.gateway or not args.id or not args.keys:
        raise UsageError("give --gateway, --id and --keys (or DXG_GATEWAY, DXG_ID, DXG_KEYS)")
    # Imported here: Jinja2 and the web app are not needed by other commands.
    from gateway.party.console.app import ConsoleConfig, serve_console  # noqa: PLC0415

    # The console pulls: it verifies deliveries only with keys pinned out of
    # band, so it refuses to start without the party's trust store.
    load_trust(args.trust, required=True)
    registry = Path(args.registry) if args.registry else None
    if registry is not None and not registry.is_file():
        raise UsageError(f"--registry {registry}: no such file")
    config = ConsoleConfig(
        directory=Path(words[0]), gateway=args.gateway, party_id=args.id, keys=args.keys,
        registry=registry, trust=Path(args.trust),
        loopback_only=args.host in ("127.0.0.1", "localhost", "::1"),
    )
    serve_console(config, host=args.host, port=args.port)
    return 0


def _user(words: list[str], role: str | None) -> int:
    from gateway.party.console.users import Users  # noqa: PLC0415

    if len(words) != 3 or words[0] != "add":
        raise UsageError("gateway console user add DIR NAME --role reviewer|supervisor")
    if role is None:
        raise UsageError("give --role reviewer or --role supervisor")
    directory, name = Path(words[1]), words[2]
    if sys.stdin.isatty():
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            raise UsageError("the two passwords differ")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    directory.mkdir(parents=True, exist_ok=True)
    official = Users(directory).add(name, password, role=role)
    print(json.dumps({"dir": str(directory), "user": official.name, "role": official.role}))
    return 0
