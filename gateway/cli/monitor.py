"""``gateway monitor``: the command line of the monitor (SPEC §9)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from gateway.cli.trust import load_trust, trust_flag
from gateway.monitor.audit import (
    DEFAULT_INTERVAL_S,
    DEFAULT_OVERDUE_S,
    EXIT_CLEAN,
    EXIT_FAILED,
    Monitor,
    PassResult,
)
from gateway.monitor.cases import render_case_summary, render_case_table
from gateway.monitor.report import render_table
from gateway.monitor.state import MonitorState
from gateway.party.client import Client, Identity
from gateway.protocol.errors import UsageError
from gateway.protocol.merkle import b64std

# --- The command line --------------------------------------------------------------------


def add_command(sub: Any) -> None:
    """Register ``gateway monitor`` on the CLI's subparsers."""
    p = sub.add_parser(
        "monitor",
        help="audit the receipt log: checkpoints, proofs, receipts and packet chains",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    p.add_argument("--gateway", default=os.environ.get("DXG_GATEWAY"), help="gateway base URL")
    p.add_argument("--id", default=os.environ.get("DXG_ID"), help="your monitor id")
    p.add_argument("--keys", default=os.environ.get("DXG_KEYS"), help="your key PREFIX")
    p.add_argument("--state", help="state file: the last verified checkpoint and pinned log key")
    p.add_argument(
        "--overdue-after",
        type=float,
        default=DEFAULT_OVERDUE_S,
        metavar="SECONDS",
        help=f"a packet with no DELIVERED this long after ACCEPTED is overdue"
        f" (default {DEFAULT_OVERDUE_S})",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--cosign", action="store_true", help="cosign checkpoints that verified")
    p.add_argument("--once", action="store_true", help="one pass, then exit")
    p.add_argument(
        "--full",
        action="store_true",
        help="re-read and re-verify the whole log each pass, not only what is new",
    )
    trust_flag(p)
    p.add_argument(
        "--interval", type=float, default=DEFAULT_INTERVAL_S, help="seconds between passes"
    )
    p.add_argument("--serve", action="store_true",
                   help="serve a read-only web view of the audit (nothing personal)")
    p.add_argument("--host", default="127.0.0.1", help="--serve: address (default this machine)")
    p.add_argument("--port", type=int, default=8601, help="--serve: port (default 8601)")
    p.set_defaults(func=cmd_monitor)


def cmd_monitor(args: argparse.Namespace) -> int:
    """Run ``gateway monitor``; 0 if everything verified, 3 if anything failed."""
    if not args.gateway or not args.id or not args.keys:
        raise UsageError("give --gateway, --id and --keys (or DXG_GATEWAY, DXG_ID, DXG_KEYS)")
    if args.serve:
        return _serve(args)
    return asyncio.run(_follow(args))


def _serve(args: argparse.Namespace) -> int:
    """``--serve``: passes every ``--interval`` behind a read-only web view."""
    from gateway.monitor.view import serve_view  # noqa: PLC0415  (web stack only when asked)

    state_path = Path(args.state) if args.state else None
    identity = Identity.load(args.id, args.keys)
    trust = load_trust(args.trust, required=False)

    def make_monitor() -> Monitor:
        return Monitor(Client(args.gateway, identity, trust=trust), state_path=state_path,
                       overdue_after_s=args.overdue_after, cosign=args.cosign, full=args.full)

    serve_view(make_monitor, host=args.host, port=args.port, interval_s=args.interval)
    return EXIT_CLEAN


async def _follow(args: argparse.Namespace) -> int:
    state_path = Path(args.state) if args.state else None
    if state_path is None:
        print(
            "gateway monitor: no --state: rollbacks and forks are caught within this run only",
            file=sys.stderr,
        )
    trust = load_trust(args.trust, required=False)
    async with Client(args.gateway, Identity.load(args.id, args.keys), trust=trust) as client:
        monitor = Monitor(
            client,
            state_path=state_path,
            overdue_after_s=args.overdue_after,
            cosign=args.cosign,
            full=args.full,
        )
        last_size: int | None = None
        while True:
            previous = monitor.state
            result = await monitor.run_pass()
            size = None if result.head is None else result.head.size
            if args.once or not result.clean or size != last_size:
                _print(result, previous, as_json=args.json)
            if not result.clean:
                return EXIT_FAILED
            if args.once:
                return EXIT_CLEAN
            last_size = size
            await asyncio.sleep(args.interval)


def _print(result: PassResult, previous: MonitorState | None, *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result.to_json(previous), indent=2), flush=True)
        return
    for finding in result.findings:
        print(f"gateway monitor: {finding}", file=sys.stderr)
    if result.head is not None:
        verdict = "verified" if result.clean else "FAILED"
        print(
            f"checkpoint {result.head.verified.origin} size {result.head.size}"
            f" root {b64std(result.head.root)}: {verdict}"
            f"{', cosigned' if result.cosigned else ''}"
            + (
                f"; {result.receipts} receipts verified"
                + (f", {result.case_events} case events verified" if result.case_events else "")
                + f" ({'whole log' if result.full else f'new since {result.audited_from}'})"
                if result.tree_verified
                else ""
            )
        )
    if result.pairs:
        print(render_table(result.pairs))
    if result.cases is not None and result.cases["pairs"]:
        print(f"cases as of {result.cases['as_of']}, recomputed from the log:")
        print(render_case_table(result.cases["pairs"]))
        print(render_case_summary(result.cases["pairs"]))
    sys.stdout.flush()
