"""``gateway match`` (SPEC §11): registry reports for each record, no server needed."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from gateway.party import match


def cmd_match(args: argparse.Namespace) -> int:
    result = match.run(
        Path(args.registry),
        [Path(f) for f in args.records],
        threshold=args.threshold,
        top=args.top,
    )
    print(json.dumps(result, ensure_ascii=False))
    return 0


def add_command(sub: Any) -> None:
    p = sub.add_parser("match", help="find registry reports for each record (no server)")
    p.add_argument("--registry", required=True, help="the registry CSV (SPEC §11)")
    p.add_argument(
        "--threshold",
        type=float,
        default=match.DEFAULT_THRESHOLD,
        help=f"lowest score shown (default {match.DEFAULT_THRESHOLD}; docs/matching.md)",
    )
    p.add_argument("--top", type=int, default=match.DEFAULT_TOP, help="candidates per record")
    p.add_argument("records", nargs="+", help="extraction documents or records.json files")
    p.set_defaults(func=cmd_match)
