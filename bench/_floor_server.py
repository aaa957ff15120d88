"""The intake floor: what any gateway keeping SPEC §2–§3 must do, and nothing else.

``bench/intake.py`` runs this next to the bare handler and the real gateway.
It is an aiohttp handler that does only the work the protocol makes
mandatory on every packet, with the gateway's own primitives and none of
its structure: verify the request token (Ed25519, claims, replay), verify
the envelope (Ed25519) and validate the manifest against its schema, hash
and encrypt the part, sign the ACCEPTED receipt, and commit it durably
(SQLite WAL, ``synchronous=FULL``, group commit) before answering 202.

No middleware, no metrics, no registry (the sender's key is held in
memory), no timeline, no receipt log, no background stage, a single table.
Its rate against the bare handler's is the ceiling of the ratio any
implementation on this stack and this machine can reach; the real
gateway's rate against it is how much our structure costs on top.

    python -m bench._floor_server PORT SENDER_PUBLIC_JWK DATA_DIR
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

from aiohttp import BodyPartReader, web

from gateway.protocol.crypto import jws
from gateway.protocol.crypto.keys import PublicKey, SigningKey
from gateway.protocol.crypto.seal import StorageKey
from gateway.protocol.errors import DXGError
from gateway.protocol.manifest import Manifest
from gateway.protocol.receipt import sign_receipt
from gateway.protocol.token import verify_token
from gateway.server.sql import Connection
from gateway.server.store import Database

AUDIENCE = "gw"  # the bench's gateway id, as tests.harness issues tokens for


def main() -> None:
    port, sender_jwk, data_dir = int(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    sender = PublicKey.from_jwk(json.loads(sender_jwk.read_text())["sig"])
    gateway_key = SigningKey.generate()
    storage = StorageKey.create(data_dir / "storage.key")
    db = Database(data_dir / "floor.db")
    db.write_sync(
        lambda c: c.execute(
            "CREATE TABLE floor (packet_id TEXT PRIMARY KEY, receipt TEXT, part BLOB)"
        )
    )
    seen: set[tuple[str, str]] = set()

    async def resolve(issuer: str, kid: str, at: object) -> PublicKey:
        return sender

    async def remember(issuer: str, jti: str, expires: int) -> bool:
        if (issuer, jti) in seen:
            return False
        seen.add((issuer, jti))
        return True

    async def handle(request: web.Request) -> web.Response:
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
            signed = jws.verify(jws.parse(envelope, typ=jws.TYP_PACKET), sender)
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

            def commit(conn: Connection) -> None:
                conn.execute(
                    "INSERT INTO floor VALUES (?, ?, ?)", (manifest.packet_id, receipt, sealed)
                )

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
