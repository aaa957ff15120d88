"""Authentication of every ``/v1`` request (SPEC §2), and the replay cache.

The middleware verifies the request token before any handler reads a byte
of the body (``gateway.protocol.token`` holds the token's rules). Replays
are checked in memory (:class:`ReplayCache`); each new ``jti`` is persisted
through the database writer, ordered before the request's own effects, and
loaded back at start-up, so a replay is refused across ``kill -9``. On
PostgreSQL, where several nodes share the database but not their memory,
a ``jti`` new to this node is also claimed in the database
(``gateway.server.jti``) and the request waits for that answer: a token
replayed to another node is refused.

An upload (``POST /v1/packets``) on PostgreSQL does not claim its ``jti``
on its own: intake claims it in the statement that inserts the packet, so
one intake is one transaction (:class:`PendingClaim`). Whatever else the
request ends in (a refusal at any step, an identical retry's 200, an
error), the middleware claims the ``jti`` before the answer leaves and
answers 401 instead if another node has claimed it. So every replay that
reaches a node after the first request's answer is refused with the same
401 as before, whatever its body, as SPEC §2–§3 order it (the token
first). Of two requests with one token in flight at once on two nodes,
the one whose claim commits first is answered; the other gets 401 and
stores nothing (its parts are removed).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import datetime

from aiohttp import web

from gateway.protocol.crypto.keys import PublicKey
from gateway.protocol.errors import RateLimited, Unauthenticated
from gateway.protocol.token import REPLAYED, verify_token
from gateway.server import api, registry
from gateway.server.jti import PendingClaim, claim_jti
from gateway.server.service import Gateway
from gateway.server.sql import DATABASE_ERRORS, Connection

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
UNAUTHENTICATED_PATHS = frozenset({"/v1/gateway"})
INTAKE_PATH = "/v1/packets"  # POST: the upload, whose jti intake claims with its packet
JTI_PRUNE_INTERVAL_S = 60.0


def requires_token(path: str) -> bool:
    """Whether a request to ``path`` must carry a token (SPEC §2: all of /v1 but one)."""
    return path.startswith("/v1/") and path not in UNAUTHENTICATED_PATHS


class ReplayCache:
    """The ``jti`` values seen within their tokens' lifetime, in memory.

    The gateway checks replays here, without a round trip to the database,
    and persists each new ``jti`` through the database writer without
    waiting for it. The writer commits in queue order, so any effect a
    request makes durable (a packet, a receipt) is committed together with,
    or after, its ``jti``; on start-up the persisted values are loaded back.
    """

    def __init__(self, *, capacity: int = 1_000_000) -> None:
        # Bounded: a flood of valid tokens from registered parties cannot grow it
        # without limit; past capacity new tokens are refused until entries expire.
        self._seen: dict[tuple[str, str], int] = {}
        self._capacity = capacity

    def __len__(self) -> int:
        return len(self._seen)

    def load(self, entries: list[tuple[str, str, int]]) -> None:
        for issuer, jti, expires in entries:
            self._seen[(issuer, jti)] = expires

    def first_use(self, issuer: str, jti: str, expires: int) -> bool:
        """True the first time (issuer, jti) is seen, False for a replay.

        Raises:
            RateLimited: the cache is full of unexpired tokens.
        """
        key = (issuer, jti)
        if key in self._seen:
            return False
        if len(self._seen) >= self._capacity:
            raise RateLimited("too many requests in flight; retry shortly")
        self._seen[key] = expires
        return True

    def prune(self, now_s: int) -> None:
        self._seen = {k: v for k, v in self._seen.items() if v >= now_s}


REPLAY: web.AppKey[ReplayCache] = web.AppKey("replay", ReplayCache)


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not requires_token(request.path):
        return await handler(request)
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("every /v1 call carries Authorization: Bearer <signed token>")
    gw = request.app[api.GATEWAY]
    replay = request.app[REPLAY]
    caller: list[registry.Party] = []

    async def resolve(issuer: str, kid: str, at: datetime) -> PublicKey:
        held = gw.registry.held(issuer, kid) if gw.registry is not None else None
        if held is not None:  # PostgreSQL, both rows cached: no round trip, no thread
            caller.append(held[0])
            return registry.valid_signing_key(held[1], issuer, at)

        def lookup(conn: Connection) -> tuple[PublicKey, registry.Party | None]:
            return (
                registry.signing_key(conn, issuer, kid, at, cache=gw.registry),
                registry.get_party(conn, issuer, cache=gw.registry),
            )

        key, party = await gw.db.find(lookup)  # two rows by primary key
        if party is not None:
            caller.append(party)
        return key

    deferred = gw.db.postgres and request.method == "POST" and request.path == INTAKE_PATH
    pending: list[PendingClaim] = []

    async def remember(issuer: str, jti: str, expires: int) -> bool:
        if not replay.first_use(issuer, jti, expires):
            return False
        if deferred:  # claimed with the packet, or after the handler (below)
            pending.append(PendingClaim(issuer, jti, expires))
            return True
        if gw.db.postgres:
            # Other nodes share the database, not this memory: the database
            # decides before the request has any effect (made durable with it).
            return await gw.db.write_early(lambda c: claim_jti(c, issuer, jti, expires))
        gw.db.submit(lambda c: _persist_jti(c, issuer, jti, expires))  # ordered before effects
        return True

    await verify_token(
        token.strip(),
        audience=gw.config.id,
        method=request.method,
        path_qs=request.raw_path,
        resolve_key=resolve,
        remember_jti=remember,
    )
    if not caller:  # a key without a party cannot exist; refuse rather than assume
        raise Unauthenticated("unknown caller")
    request[api.CALLER] = caller[0]
    if not pending:
        return await handler(request)
    claim = request[api.PENDING_CLAIM] = pending[0]
    try:
        response = await handler(request)
    except asyncio.CancelledError:
        raise  # no answer leaves; the claim only mattered with an effect, and there is none
    except Exception:
        if await _settle_after_failure(gw, claim):
            raise Unauthenticated(REPLAYED) from None
        raise
    if not claim.settled:  # e.g. an identical retry's 200: claimed here, before it leaves
        claim.settled = True
        if not await gw.db.write_early(claim.write):
            raise Unauthenticated(REPLAYED)
    return response


async def _settle_after_failure(gw: Gateway, claim: PendingClaim) -> bool:
    """Claim the jti of a request that failed; whether it was a replay (then 401 instead).

    A claim that cannot be made (the database is unreachable) leaves the
    request's own error standing: the request had no effect to guard.
    """
    if claim.settled:
        return False
    claim.settled = True
    try:
        return not await gw.db.write_early(claim.write)
    except DATABASE_ERRORS:
        return False


def _persist_jti(conn: Connection, issuer: str, jti: str, expires: int) -> None:
    conn.execute(
        "INSERT OR IGNORE INTO seen_jti (issuer, jti, expires) VALUES (?, ?, ?)",
        (issuer, jti, expires),
    )


def load_jti(conn: Connection) -> list[tuple[str, str, int]]:
    rows = conn.execute(
        "SELECT issuer, jti, expires FROM seen_jti WHERE expires >= ?", (int(time.time()),)
    ).fetchall()
    return [(str(a), str(b), int(c)) for a, b, c in rows]


async def prune_jti(gw: Gateway, replay: ReplayCache) -> None:
    def prune(conn: Connection) -> None:
        conn.execute("DELETE FROM seen_jti WHERE expires < ?", (int(time.time()),))

    while True:
        replay.prune(int(time.time()))
        await gw.db.write(prune)
        await asyncio.sleep(JTI_PRUNE_INTERVAL_S)
