"""The intake floor: what any gateway keeping SPEC §2–§3 must do, and nothing else.

``bench/intake.py`` runs this next to the bare handler and the real gateway.
It is an aiohttp handler that does only the work the protocol makes
mandatory on every packet, with the gateway's own primitives and none of
its structure: verify the request token (Ed25519, claims, replay), verify
the envelope (Ed25519) and validate the manifest against its schema, hash
and encrypt the part, sign the ACCEPTED receipt, and commit it durably
(SQLite WAL, ``synchronous=FULL``, group commit) before answering 202.

Given a ``postgresql://`` DSN instead of a data directory, it is the floor
on PostgreSQL, for several processes on one database (``bench/intake_nodes.py``):
the one transaction a packet minimally needs there. A token replayed to
another process must be refused, so the jti claim is shared: each packet is
one statement that claims the jti and inserts the packet row only if the
claim was new, and a writer thread commits every statement queued meanwhile
in one transaction, sent as one pipeline (one round trip, one WAL flush,
``synchronous_commit`` on). Still no log, like the SQLite floor.

No middleware, no metrics, no registry (the sender's key is held in
memory), no timeline, no receipt log, no background stage, a single table.
Its rate against the bare handler's is the ceiling of the ratio any
implementation on this stack and this machine can reach; the real
gateway's rate against it is how much our structure costs on top.

    python -m bench._floor_server PORT SENDER_PUBLIC_JWK DATA_DIR|DSN
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import json
import queue
import secrets
import sys
import threading
from pathlib import Path
from typing import Any

import psycopg
from aiohttp import BodyPartReader, web

from gateway.protocol.crypto import jws
from gateway.protocol.crypto.keys import PublicKey, SigningKey
from gateway.protocol.crypto.seal import StorageKey
from gateway.protocol.errors import DXGError, Unauthenticated
from gateway.protocol.manifest import Manifest
from gateway.protocol.receipt import sign_receipt
from gateway.protocol.token import verify_token
from gateway.server.sql import Connection, is_postgres
from gateway.server.store import GROUP_COMMIT_MAX, Database

AUDIENCE = "gw"  # the bench's gateway id, as tests.harness issues tokens for

PG_TABLES = (
    "CREATE TABLE IF NOT EXISTS floor_jti (issuer TEXT, jti TEXT, PRIMARY KEY (issuer, jti))",
    "CREATE TABLE IF NOT EXISTS floor (packet_id TEXT PRIMARY KEY, receipt TEXT, part BYTEA)",
)
PG_PACKET = (
    "WITH j AS (INSERT INTO floor_jti VALUES (%s, %s) ON CONFLICT DO NOTHING RETURNING 1)"
    " INSERT INTO floor SELECT %s, %s, %s FROM j ON CONFLICT DO NOTHING RETURNING 1"
)


class PgFloorWriter:
    """One connection committing every queued packet statement in one pipelined transaction."""

    def __init__(self, dsn: str) -> None:
        self._conn = psycopg.connect(dsn, autocommit=True)
        for ddl in PG_TABLES:  # the bench starts the floor processes one after another
            self._conn.execute(ddl)
        self._queue: queue.SimpleQueue[
            tuple[tuple[Any, ...], concurrent.futures.Future[bool]]
        ] = queue.SimpleQueue()
        threading.Thread(target=self._loop, name="floor-writer", daemon=True).start()

    async def commit(self, params: tuple[Any, ...]) -> bool:
        """Whether the packet was stored (False: its jti was claimed before, on any process)."""
        future: concurrent.futures.Future[bool] = concurrent.futures.Future()
        self._queue.put((params, future))
        return await asyncio.wrap_future(future)

    def _loop(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < GROUP_COMMIT_MAX:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                with self._conn.pipeline() as pipeline:
                    self._conn.execute("BEGIN")
                    cursors = [self._conn.execute(PG_PACKET, params) for params, _ in batch]
                    self._conn.execute("COMMIT")
                    pipeline.sync()
                    stored = [cur.fetchone() is not None for cur in cursors]
            except psycopg.Error as exc:
                for _, future in batch:
                    future.set_exception(exc)
                continue
            for (_, future), ok in zip(batch, stored, strict=True):
                future.set_result(ok)


def main() -> None:
    # Senders: "id=path/to/keys.pub.json", comma-separated (one or more parties).
    port, sender_jwks, target = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    senders = {
        party: PublicKey.from_jwk(json.loads(Path(path).read_text())["sig"])
        for party, _, path in (pair.partition("=") for pair in sender_jwks.split(","))
    }
    gateway_key = SigningKey.generate()
    storage = StorageKey(secrets.token_bytes(32))  # the bench's throwaway key
    db: Database | None = None
    pg: PgFloorWriter | None = None
    if is_postgres(target):
        pg = PgFloorWriter(target)
    else:
        db = Database(Path(target) / "floor.db")
        db.write_sync(
            lambda c: c.execute(
                "CREATE TABLE floor (packet_id TEXT PRIMARY KEY, receipt TEXT, part BLOB)"
            )
        )
    seen: set[tuple[str, str]] = set()

    async def resolve(issuer: str, kid: str, at: object) -> PublicKey:
        if issuer not in senders:
            raise Unauthenticated("unknown caller")
        return senders[issuer]

    async def handle(request: web.Request) -> web.Response:
        claimed: list[tuple[str, str]] = []  # on PostgreSQL, claimed again with the packet

        async def remember(issuer: str, jti: str, expires: int) -> bool:
            if (issuer, jti) in seen:
                return False
            seen.add((issuer, jti))
            claimed.append((issuer, jti))
            return True

        try:
            _, _, token = request.headers.get("Authorization", "").partition(" ")
            await verify_token(
                token,
                audience=AUDIENCE,
                method=request.method,
                path_qs=request.raw_path,
                resolve_key=resolve,
                remember_jti=remember,
            )
            reader = await request.multipart()
            envelope_part = await reader.next()
            assert isinstance(envelope_part, BodyPartReader)
            envelope = (await envelope_part.read()).decode("ascii")
            caller = claimed[-1][0]  # the token's issuer, verified above
            signed = jws.verify(jws.parse(envelope, typ=jws.TYP_PACKET), senders[caller])
            manifest = Manifest.from_bytes(signed.payload)
            spec = manifest.parts[0]
            part = await reader.next()
            assert isinstance(part, BodyPartReader)
            digest, data = hashlib.sha256(), bytearray()
            while chunk := await part.read_chunk(256 * 1024):
                digest.update(chunk)
                data += chunk
            if digest.hexdigest() != spec.sha256:
                return web.json_response({"error": "digest"}, status=422)
            sealed = storage.encrypt(bytes(data), name=spec.name.encode())
            receipt = sign_receipt(
                gateway_key,
                level="ACCEPTED",
                packet_id=manifest.packet_id,
                issuer=AUDIENCE,
                sender=manifest.sender,
                recipient=manifest.recipient,
                envelope_sha256=hashlib.sha256(envelope.encode()).hexdigest(),
                parts=[(spec.name, spec.sha256)],
                extraction_sha256=None,
                reason=None,
            )

            if pg is not None:
                issuer, jti = claimed.pop()
                if not await pg.commit((issuer, jti, manifest.packet_id, receipt, sealed)):
                    return web.json_response({"error": "replayed"}, status=401)
            else:

                def commit(conn: Connection) -> None:
                    conn.execute(
                        "INSERT INTO floor VALUES (?, ?, ?)", (manifest.packet_id, receipt, sealed)
                    )

                assert db is not None
                await db.write(commit)
            return web.json_response({"status": "ACCEPTED", "receipt": receipt}, status=202)
        except DXGError as err:
            return web.json_response({"error": err.code}, status=err.status)

    async def ready(request: web.Request) -> web.Response:
        return web.json_response({})

    app = web.Application(client_max_size=64 << 20)
    app.router.add_post("/v1/packets", handle)
    app.router.add_get("/readyz", ready)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


if __name__ == "__main__":
    main()
