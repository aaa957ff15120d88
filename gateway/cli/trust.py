"""``gateway trust``: the party's trust store, kept by hand, out of band.

A party pins the gateway's signing key and each partner's signing key
(``PARTNER.pub.json``, handed over out of band, never fetched from the
gateway being checked); ``pull``, ``status`` and ``monitor`` verify with
them (``--trust FILE`` or ``DXG_TRUST``). See ``gateway.party.trust``.

- ``gateway trust add FILE PARTY --keys PARTY.pub.json [--not-before T] [--not-after T]``
- ``gateway trust revoke FILE PARTY KID [--at T]``
- ``gateway trust gateway FILE --gateway URL [--expect-kid=KID]``: pins the
  gateway's id, origin and key; without ``--expect-kid`` on first use
  (printed with its kid, to compare with the operator's), with it only if
  the gateway publishes that key. A key the store does not pin yet is
  never added without ``--expect-kid``.
- ``gateway trust show FILE``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp

from gateway.party.trust import TRUST_ENV, PinnedGateway, TrustStore, party_keys_from_file
from gateway.protocol.clock import format_time, now, parse_time
from gateway.protocol.crypto.keys import PublicKey
from gateway.protocol.errors import (
    BadRequest,
    LocalError,
    NetworkError,
    ServerError,
    VerificationFailed,
)
from gateway.protocol.ids import check_id
from gateway.protocol.trust import RegisteredKey

GATEWAY_INFO_TIMEOUT_S = 30.0  # one small unauthenticated GET


def trust_flag(parser: argparse.ArgumentParser) -> None:
    """``--trust FILE`` (env ``DXG_TRUST``) on a party-side command."""
    parser.add_argument(
        "--trust",
        default=os.environ.get(TRUST_ENV),
        help=f"trust store of pinned keys, from gateway trust (env {TRUST_ENV})",
    )


def load_trust(path: str | None, *, required: bool) -> TrustStore | None:
    """The store named by ``--trust``; None if not given and not required.

    Raises:
        LocalError: required and not given, or unreadable; says how to make one.
    """
    if not path:
        if required:
            raise LocalError(
                f"no trust store: give --trust FILE (or {TRUST_ENV}); make it with"
                " gateway trust gateway FILE --gateway URL --expect-kid=KID and"
                " gateway trust add FILE PARTY --keys PARTY.pub.json"
            )
        return None
    return TrustStore.load(Path(path))


def _time(value: str) -> datetime:
    try:
        return parse_time(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError("give a time like 2026-03-01T10:00:00Z") from exc


def cmd_trust_add(args: argparse.Namespace) -> int:
    path = Path(args.file)
    keys = party_keys_from_file(Path(args.keys), not_before=args.not_before,
                                not_after=args.not_after)
    store = TrustStore.load_or_empty(path).with_party_keys(args.party, keys)
    store.save(path)
    print(json.dumps({"party": args.party, "pinned": [k.to_json() for k in keys]}))
    return 0


def cmd_trust_revoke(args: argparse.Namespace) -> int:
    path = Path(args.file)
    at: datetime = args.at or now()
    TrustStore.load(path).revoke(args.party, args.kid, at).save(path)
    print(json.dumps({"party": args.party, "revoked": args.kid, "at": format_time(at)}))
    return 0


async def _gateway_info(url: str) -> dict[str, Any]:
    timeout = aiohttp.ClientTimeout(total=GATEWAY_INFO_TIMEOUT_S)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(url.rstrip("/") + "/v1/gateway") as response,
        ):
            raw, status = await response.read(), response.status
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise NetworkError(f"cannot reach the gateway at {url} ({type(exc).__name__})") from exc
    try:
        body: dict[str, Any] = json.loads(raw)
        if status != 200 or not isinstance(body.get("keys"), list):
            raise ValueError(status)
        check_id(str(body["id"]))
        str(body["origin"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ServerError(f"{url}/v1/gateway did not answer a gateway's information") from exc
    return body


def cmd_trust_gateway(args: argparse.Namespace) -> int:
    path = Path(args.file)
    store = TrustStore.load_or_empty(path)
    info = asyncio.run(_gateway_info(args.gateway))
    published = [k for k in map(PublicKey.from_jwk, info["keys"]) if k.use == "sig"]
    pinned = store.gateway
    if pinned is not None and (pinned.id, pinned.origin) != (info["id"], info["origin"]):
        raise LocalError(
            f"the store pins gateway {pinned.id!r} ({pinned.origin}); {args.gateway} is"
            f" {info['id']!r} ({info['origin']}): use another trust store for it"
        )
    known = {k.kid: k for k in (pinned.keys if pinned else ())}
    if args.expect_kid:
        chosen = [k for k in published if k.kid == args.expect_kid]
        if not chosen:
            raise VerificationFailed(
                f"the gateway at {args.gateway} does not publish key {args.expect_kid};"
                " do not pin it; ask its operator for its key id"
            )
    elif pinned is None:
        chosen = published  # trust on first use: printed below, to compare out of band
    else:
        chosen = [k for k in published if k.kid in known]
        new = [k.kid for k in published if k.kid not in known]
        if new:
            raise LocalError(
                f"the gateway publishes key(s) {', '.join(new)} this store does not pin;"
                " check them with its operator, then: gateway trust gateway FILE"
                " --gateway URL --expect-kid=KID"
            )
    if not chosen:
        raise VerificationFailed(f"the gateway at {args.gateway} publishes no signing key")
    keys = {**known, **{k.kid: RegisteredKey(k) for k in chosen if k.kid not in known}}
    store.with_gateway(
        PinnedGateway(id=str(info["id"]), origin=str(info["origin"]), keys=tuple(keys.values()))
    ).save(path)
    if not args.expect_kid and pinned is None:
        print(
            "gateway trust: pinned on first use: compare these key ids with the ones the"
            f" gateway's operator gave you: {', '.join(k.kid for k in chosen)}",
            file=sys.stderr,
        )
    print(json.dumps({"gateway": info["id"], "origin": info["origin"],
                      "kids": [k.kid for k in chosen]}))
    return 0


def cmd_trust_show(args: argparse.Namespace) -> int:
    print(json.dumps(TrustStore.load(Path(args.file)).to_json(), indent=2))
    return 0


def _party(value: str) -> str:
    try:
        return check_id(value)
    except BadRequest as exc:
        raise argparse.ArgumentTypeError(exc.detail) from exc


def add_command(sub: Any) -> None:
    """Register ``gateway trust`` on the CLI's subparsers."""
    trust = sub.add_parser(
        "trust", help="pin the gateway's and partners' keys (the party's trust store)"
    ).add_subparsers(dest="trust_command", required=True)

    p = trust.add_parser("add", help="pin a partner's signing key (PARTY.pub.json, out of band)")
    p.add_argument("file", help="the trust store (created if missing)")
    p.add_argument("party", type=_party)
    p.add_argument("--keys", required=True, help="PARTY.pub.json from gateway keygen")
    p.add_argument("--not-before", type=_time, help="valid from (RFC 3339)")
    p.add_argument("--not-after", type=_time, help="valid until (RFC 3339)")
    p.set_defaults(func=cmd_trust_add)

    p = trust.add_parser("revoke", help="revoke a pinned key from a time on (default now)")
    p.add_argument("file")
    p.add_argument("party", type=_party)
    p.add_argument("kid")
    p.add_argument("--at", type=_time, help="revoked from (RFC 3339; default now)")
    p.set_defaults(func=cmd_trust_revoke)

    p = trust.add_parser("gateway", help="pin the gateway's id, origin and signing key")
    p.add_argument("file", help="the trust store (created if missing)")
    p.add_argument("--gateway", required=True, help="gateway base URL")
    p.add_argument("--expect-kid", help="pin only if the gateway publishes this key id")
    p.set_defaults(func=cmd_trust_gateway)

    p = trust.add_parser("show", help="print the trust store")
    p.add_argument("file")
    p.set_defaults(func=cmd_trust_show)
