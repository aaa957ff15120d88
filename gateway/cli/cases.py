"""``gateway case ...`` and ``gateway stats``: the party commands of cases (SPEC §9, §10).

- ``case report PACKET_ID``: the holder reports every record of a dossier it sent;
- ``case event CASE_ID EVENT [--packet] [--record] [--due] [--reason]``: one
  signed event; prints ``{"log_index","state"}``;
- ``case verify CASE_ID --packet ID --record ID --result R [--reason] [--note]
  [--field MEMBER=VERDICT]... [--sent PACKET_ID]``: the verification packet to
  the holder, then the matching event (``--sent``: retry the event alone);
- ``case show CASE_ID [--json]`` and ``stats [--as-of TIME] [--json]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from datetime import date, datetime
from typing import Any

from gateway.cli.trust import load_trust, trust_flag
from gateway.party import cases
from gateway.party.client import Client, Identity
from gateway.protocol import case
from gateway.protocol.clock import parse_time
from gateway.protocol.errors import EXIT_OK, EXIT_REFUSED, UsageError


def _client(args: argparse.Namespace) -> Client:
    if not args.gateway or not args.id or not args.keys:
        raise UsageError("give --gateway, --id and --keys (or DXG_GATEWAY, DXG_ID, DXG_KEYS)")
    # With a trust store, case show verifies events with pinned keys valid
    # when each was issued; without one, with the registry's keys valid now.
    trust = load_trust(args.trust, required=False)
    return Client(args.gateway, Identity.load(args.id, args.keys), trust=trust)


def _flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--gateway", default=os.environ.get("DXG_GATEWAY"), help="gateway URL")
    parser.add_argument("--id", default=os.environ.get("DXG_ID"), help="your party id")
    parser.add_argument("--keys", default=os.environ.get("DXG_KEYS"), help="your key PREFIX")
    trust_flag(parser)


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError("--due takes a date like 2026-04-01") from exc


def _time(value: str) -> datetime:
    try:
        return parse_time(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError("--as-of takes a time like 2026-03-01T10:00:00Z") from exc


def _field(value: str) -> tuple[str, str]:
    member, sep, verdict = value.partition("=")
    if not sep or verdict not in case.FIELD_VERDICTS:
        raise argparse.ArgumentTypeError(
            f"--field takes MEMBER=VERDICT, VERDICT one of {', '.join(case.FIELD_VERDICTS)}"
        )
    return member, verdict


async def _run(args: argparse.Namespace) -> Any:
    async with _client(args) as client:
        if args.case_command == "report":
            return await cases.report(client, args.packet_id)
        if args.case_command == "event":
            return await cases.issue(
                client,
                args.case_id,
                args.event,
                packet_id=args.packet,
                record_id=args.record,
                due=args.due,
                reason=args.reason,
            )
        if args.case_command == "verify":
            return await cases.verify(
                client,
                args.case_id,
                dossier_id=args.packet,
                record_id=args.record,
                result=args.result,
                reason=args.reason,
                note=args.note,
                fields=dict(args.field or []),
                packet_id=args.sent,
                on_sent=_say_sent,
            )
        if args.case_command == "show":
            answer, events = await cases.show(client, args.case_id)
            return answer if args.json else cases.render_case(answer, events)
        doc = await cases.get_stats(client, args.as_of)
        return doc if args.json else cases.render_stats(doc)


def _say_sent(packet_id: str) -> None:
    """Between the verification packet and its event: how to retry without a second packet."""
    print(f"verification packet {packet_id} accepted; if the event that follows is refused,"
          f" retry with --sent {packet_id} so that the holder gets no second packet",
          file=sys.stderr)


def cmd_case(args: argparse.Namespace) -> int:
    """Run one ``gateway case`` or ``gateway stats`` command."""
    result = asyncio.run(_run(args))
    if isinstance(result, str):
        print(result)
        return EXIT_OK
    print(json.dumps(result, indent=2))
    if args.case_command == "report" and any("error" in item for item in result):
        return EXIT_REFUSED  # the others were reported; the errors say why these were not
    return EXIT_OK


def add_commands(sub: Any) -> None:
    """Register ``gateway case ...`` and ``gateway stats`` on the CLI's subparsers."""
    group = sub.add_parser("case", help="report, record and read cases (SPEC §10)")
    commands = group.add_subparsers(dest="case_command", required=True)

    p = commands.add_parser("report", help="report every record of a dossier you sent")
    _flags(p)
    p.add_argument("packet_id")

    p = commands.add_parser("event", help="issue one signed case event")
    _flags(p)
    p.add_argument("case_id")
    p.add_argument("event", choices=case.EVENTS)
    p.add_argument("--packet", help="the dossier (REPORTED) or verification packet it cites")
    p.add_argument("--record", help="the record it cites")
    p.add_argument("--due", type=_day, help="RETURN_SCHEDULED: the planned date of return")
    p.add_argument("--reason", choices=case.REASONS, help="DISPUTED, CLOSED, INFO_REQUESTED")

    p = commands.add_parser("verify", help="answer a report: verification packet, then event")
    _flags(p)
    p.add_argument("case_id")
    p.add_argument("--packet", required=True, help="the dossier that reported the child")
    p.add_argument("--record", required=True, help="the record that names the child")
    p.add_argument("--result", required=True, choices=list(cases.EVENT_OF_RESULT))
    p.add_argument("--reason", choices=case.REASONS)
    p.add_argument("--note", default="", help="a short note for the holder (sealed)")
    p.add_argument(
        "--sent",
        metavar="PACKET_ID",
        help="the verification packet an earlier try had accepted before its event was"
        " refused: the event cites it and no second packet is sent",
    )
    p.add_argument(
        "--field",
        action="append",
        type=_field,
        metavar="MEMBER=VERDICT",
        help="what your records say of one biography member (repeatable)",
    )

    p = commands.add_parser("show", help="a case and its events, verified")
    _flags(p)
    p.add_argument("case_id")
    p.add_argument("--json", action="store_true", help="the GET /v1/cases/{id} answer")

    for p in (commands.choices[name] for name in ("report", "event", "verify", "show")):
        p.set_defaults(func=cmd_case)

    p = sub.add_parser("stats", help="case figures per pair of sides (SPEC §10)")
    _flags(p)
    p.add_argument("--as-of", type=_time, help="a time, past or future (default now)")
    p.add_argument("--json", action="store_true", help="the GET /v1/stats answer")
    p.set_defaults(func=cmd_case, case_command="stats")
