"""The ``gateway`` command line (SPEC §9), for operators, parties and monitors.

This is the one place that turns errors into messages and exit codes: every
:class:`~gateway.protocol.errors.DXGError` carries its own exit code and
what to do (``gateway --help`` lists the codes; docs/errors.md explains
them). An unreachable gateway is one line, never a traceback; a traceback is
printed only for a bug, and only with ``--verbose``. Results go to stdout
(JSON where a program reads them), messages and progress bars to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import sys
import threading
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from tqdm import tqdm

from gateway.cli.cases import add_commands as add_case_commands
from gateway.cli.console import add_command as add_console_command
from gateway.cli.match import add_command as add_match_command
from gateway.cli.monitor import add_command as add_monitor_command
from gateway.cli.trust import add_command as add_trust_command
from gateway.cli.trust import load_trust, trust_flag
from gateway.party import log as log_reader
from gateway.party.client import SUFFIX_BY_MEDIA_TYPE, Client, Identity, media_type_of
from gateway.party.pull import Puller
from gateway.pluginspec import Limits, PartInput
from gateway.protocol.clock import now
from gateway.protocol.crypto.keys import EncryptionKey, PublicKey, SigningKey, save_private_key
from gateway.protocol.crypto.seal import StorageKey
from gateway.protocol.errors import (
    EXIT_CODES,
    EXIT_INTERNAL,
    EXIT_LOCAL,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_VERIFICATION,
    BadRequest,
    DXGError,
    LocalError,
    UsageError,
)
from gateway.protocol.ids import check_id
from gateway.server import migrations, registry, transfer, worker
from gateway.server.app import serve
from gateway.server.config import Config, DataDir
from gateway.server.ingestion import SANDBOX_GRACE_S, Ingestor
from gateway.server.log import MerkleLog
from gateway.server.store import Database

ENGINE_MARGIN_S = 5.0  # the engine's part deadline ends this long before the packet's


def cmd_init(args: argparse.Namespace) -> int:
    data = DataDir(Path(args.dir))
    if data.config_path.exists():
        raise LocalError(f"{data.root} is already a gateway data directory")
    config = Config(id=args.id, origin=args.origin, database=args.database, blobs=args.blobs)
    data.root.mkdir(parents=True, exist_ok=True)
    data.keys.mkdir(mode=0o700, exist_ok=True)
    key = SigningKey.generate()
    save_private_key(data.signing_key_path, key)
    StorageKey.create(data.storage_key_path)
    data.save_config(config)
    _migrated(Database(data.database_target(config))).close()
    print(
        json.dumps(
            {"dir": str(data.root), "id": config.id, "origin": config.origin, "kid": key.kid}
        )
    )
    return 0


def cmd_keygen(args: argparse.Namespace) -> int:
    prefix = str(args.prefix)
    sig, enc = SigningKey.generate(), EncryptionKey.generate()
    Path(prefix).parent.mkdir(parents=True, exist_ok=True)
    save_private_key(Path(prefix + ".sig.jwk"), sig)
    save_private_key(Path(prefix + ".enc.jwk"), enc)
    public = {"sig": sig.public.to_jwk(with_meta=True), "enc": enc.public.to_jwk(with_meta=True)}
    Path(prefix + ".pub.json").write_text(json.dumps(public, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({"sig_kid": sig.kid, "enc_kid": enc.kid, "public": prefix + ".pub.json"}))
    return 0


def _open_registry(directory: str) -> tuple[Database, Config]:
    data = DataDir(Path(directory))
    config = data.load_config()  # refuses a directory that is not a gateway's
    return _migrated(Database(data.database_target(config))), config


def _migrated(db: Database) -> Database:
    """``db`` with every schema migration applied (closed if that fails).

    Raises:
        RuntimeError: the database is newer than this gateway.
    """
    try:
        db.write_sync(migrations.migrate)
    except BaseException:
        db.close()
        raise
    return db


def cmd_export(args: argparse.Namespace) -> int:
    data = DataDir(Path(args.dir))
    target = data.database_target(data.load_config())
    db = _migrated(Database(target))
    try:
        with MerkleLog(target) as tree, Path(args.file).open("w", encoding="utf-8") as out:
            header = transfer.export(db, out, tree)
    finally:
        db.close()
    print(json.dumps(_transfer_summary(header)))
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    data = DataDir(Path(args.dir))
    db = _migrated(Database(data.database_target(data.load_config())))
    try:
        with Path(args.file).open(encoding="utf-8") as source:
            header = transfer.import_(db, source)
    finally:
        db.close()
    print(json.dumps(_transfer_summary(header)))
    return 0


def _transfer_summary(header: dict[str, Any]) -> dict[str, Any]:
    return {
        "log_size": header["log_size"],
        "log_root": header["log_root"],
        "rows": {name: t["rows"] for name, t in header["tables"].items()},
    }


def cmd_migrate(args: argparse.Namespace) -> int:
    data = DataDir(Path(args.dir))
    config = data.load_config()
    db = Database(data.database_target(config))
    try:
        before = db.read_sync(migrations.current_version)
        applied = db.write_sync(migrations.migrate)
    finally:
        db.close()
    backend = "postgresql" if config.database else "sqlite"
    print(json.dumps({"backend": backend, "from": before, "applied": applied,
                      "version": migrations.LATEST}))
    return 0


def cmd_party_add(args: argparse.Namespace) -> int:
    try:
        public = json.loads(Path(args.keys).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LocalError(f"cannot read {args.keys}: {type(exc).__name__}") from exc
    if not isinstance(public, dict) or not {"sig", "enc"} <= set(public):
        raise LocalError(f"{args.keys} is not a public key file (members sig and enc)")
    keys = [PublicKey.from_jwk(public["sig"]), PublicKey.from_jwk(public["enc"])]
    if [k.use for k in keys] != ["sig", "enc"]:
        raise LocalError("sig must be an Ed25519 key and enc an X25519 key")
    db, config = _open_registry(args.dir)
    try:
        party = db.write_sync(
            lambda c: registry.add_party(
                c,
                args.id,
                roles=args.role,
                keys=keys,
                endpoint=args.endpoint,
                at=now(),
                gateway_id=config.id,
            )
        )
    finally:
        db.close()
    print(
        json.dumps(
            {
                "id": party.id,
                "roles": sorted(party.roles),
                "endpoint": party.endpoint,
                "kids": [k.kid for k in keys],
            }
        )
    )
    return 0


def cmd_party_revoke_key(args: argparse.Namespace) -> int:
    db, _ = _open_registry(args.dir)
    try:
        db.write_sync(lambda c: registry.revoke_key(c, args.id, args.kid, at=now()))
    finally:
        db.close()
    print(json.dumps({"id": args.id, "revoked": args.kid}))
    return 0


def cmd_party_list(args: argparse.Namespace) -> int:
    db, _ = _open_registry(args.dir)
    try:
        listing = db.read_sync(
            lambda c: [
                {
                    "id": p.id,
                    "roles": sorted(p.roles),
                    "endpoint": p.endpoint,
                    "keys": [k.to_json() for k in registry.keys_of(c, p.id)],
                }
                for p in registry.list_parties(c)
            ]
        )
    finally:
        db.close()
    print(json.dumps(listing, indent=2))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    config = DataDir(Path(args.dir)).load_config()
    # A part's own deadline, with the sandbox's start-up and reply allowance,
    # ends inside the packet's: the engine kills a part's sandbox before the
    # gateway gives up on the whole document (and then kills what is left).
    limits = Limits(document_timeout_s=part_deadline_s(config.extraction_timeout_s))
    with Ingestor(
        config.extractors, limits, workers=os.cpu_count() or 1, plugins=config.plugins
    ) as engine:
        serve(Path(args.dir), host=args.host, port=args.port, engine=engine)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    root = Path(args.dir)
    worker.check_shared(root)  # before the engine's fork server starts
    config = DataDir(root).load_config()
    limits = Limits(document_timeout_s=part_deadline_s(config.extraction_timeout_s))
    with Ingestor(
        config.extractors, limits, workers=os.cpu_count() or 1, plugins=config.plugins
    ) as engine:
        worker.run(root, engine=engine)
    return 0


def part_deadline_s(extraction_timeout_s: float) -> float:
    """How long one part's extractor may read, inside a packet's extraction deadline."""
    return max(1.0, extraction_timeout_s - ENGINE_MARGIN_S - SANDBOX_GRACE_S)


SERVE_HELP = f"""\
Serve the gateway until SIGTERM or SIGINT.

Extraction deadlines (config.json): a packet's extraction ends after
extraction_timeout_s (default 600 s) whatever happens; its sandboxes are
killed with their process groups and the packet goes on READY with an error
in its extraction document. Each part's extractor gets that deadline minus
{ENGINE_MARGIN_S:g} s of margin minus {SANDBOX_GRACE_S:g} s for its sandbox to start and
reply (at least 1 s), so a slow part is stopped before the packet's deadline.

On SIGTERM the gateway stops accepting connections, lets requests in flight
(uploads included) finish for up to shutdown_grace_s (default 25 s), then
exits 0. Slow clients: request headers must arrive within header_timeout_s
(15 s), an upload may not pause longer than body_idle_timeout_s (30 s), and
one party uploads at most max_uploads_per_party (32) packets at once.

Several nodes (docs/postgresql.md): copies of one data directory on one
PostgreSQL database share all work through it. With "extraction_worker":
false a node leaves extraction to gateway worker nodes (see gateway worker
--help).
"""


WORKER_HELP = """\
Run a worker node until SIGTERM or SIGINT: the gateway's background work
without HTTP. DIR is a copy of a serving node's data directory (config.json
and keys/); its database must be PostgreSQL, shared with the serving nodes.

A worker node extracts accepted packets (OCR of every page, the heavy part),
sends push notifications and issues EXPIRED receipts, sharing each queue with
every other node through claims in the database: no job is done twice, and a
job held by a node that died is taken by another once its claim runs out
(extraction: 15 s). Start as many as the OCR load needs, on any machine that
reaches the database and the blob store. Serving nodes with
"extraction_worker": false in their config.json leave extraction to them.

On SIGTERM the worker cancels its jobs, hands its claims back and exits 0.
Extraction deadlines are those of gateway serve (see gateway serve --help).
"""


def cmd_extract(args: argparse.Namespace) -> int:
    as_of: date = args.as_of or now().date()
    parts = []
    for name in args.files:
        path = Path(name)
        if not path.is_file():
            raise LocalError(f"{name}: no such file")
        parts.append(PartInput(path.name, media_type_of(path), path, as_of))
    allow = [e for e in args.extractors.split(",") if e]
    with (
        Ingestor(allow, Limits(), workers=os.cpu_count() or 1) as engine,
        tqdm(total=0, unit="page", desc="extract", file=sys.stderr, disable=None,
             leave=False) as bar,
    ):
        seen: dict[str, tuple[int, int]] = {}
        lock = threading.Lock()

        def pages(part: str, done: int, total: int) -> None:
            # Parts run in parallel: the bar shows the pages of all of them.
            with lock:
                seen[part] = (done, total)
                bar.total = sum(t for _, t in seen.values())
                bar.n = sum(d for d, _ in seen.values())
                bar.refresh()

        result = engine.extract(parts, pages=pages)
    if args.photos:
        folder = Path(args.photos)
        folder.mkdir(parents=True, exist_ok=True)
        for found in result.photos:
            suffix = SUFFIX_BY_MEDIA_TYPE.get(found.photo.media_type, ".bin")
            (folder / f"{found.photo.sha256}{suffix}").write_bytes(found.photo.data)
    print(json.dumps({"as_of": as_of.isoformat(), **result.document()}, ensure_ascii=False,
                     indent=2))
    return EXIT_REFUSED if result.errors else EXIT_OK


def _client(args: argparse.Namespace, *, trust_required: bool = False) -> Client:
    if not args.gateway or not args.id or not args.keys:
        raise UsageError("give --gateway, --id and --keys (or DXG_GATEWAY, DXG_ID, DXG_KEYS)")
    trust = load_trust(getattr(args, "trust", None), required=trust_required)
    return Client(args.gateway, Identity.load(args.id, args.keys), trust=trust)


async def _send(args: argparse.Namespace) -> dict[str, Any]:
    files = [Path(f) for f in args.files]
    total = sum(f.stat().st_size for f in files)
    async with _client(args) as client:
        with tqdm(
            total=total,
            unit="B",
            unit_scale=True,
            desc="upload",
            file=sys.stderr,
            disable=None,
            leave=False,
        ) as bar:
            result: dict[str, Any] = await client.send(
                files,
                recipient=args.to,
                kind=args.kind,
                purpose=args.purpose,
                legal_basis=args.legal_basis or ["vital_interest"],
                progress=bar.update,
                keep_names=args.keep_names,
            )
    return result


def cmd_send(args: argparse.Namespace) -> int:
    result = asyncio.run(_send(args))
    print(json.dumps(result))
    return 0


async def _pull(args: argparse.Namespace) -> list[dict[str, Any]]:
    async with _client(args, trust_required=True) as client:
        results = await Puller(client).pull(Path(args.out))
    return [
        {
            "packet_id": r.packet_id,
            "sender": r.sender,
            "receipt": r.level,
            "reason": r.reason,
            "folder": None if r.folder is None else str(r.folder),
            "records": r.records,
            "photos": r.photos,
            "log_index": r.log_index,
        }
        for r in results
    ]


def cmd_pull(args: argparse.Namespace) -> int:
    results = asyncio.run(_pull(args))
    print(json.dumps(results, indent=2))
    return EXIT_OK if all(r["receipt"] == "DELIVERED" for r in results) else EXIT_VERIFICATION


async def _status(args: argparse.Namespace) -> dict[str, Any]:
    async with _client(args) as client:
        result: dict[str, Any] = await client.status(args.packet_id)
        result["log"] = await log_reader.packet_log_report(
            client, args.packet_id, result["receipts"]
        )
    return result


def cmd_status(args: argparse.Namespace) -> int:
    result = asyncio.run(_status(args))
    print(json.dumps(result, indent=2))
    return EXIT_OK if result["log"]["verified"] else EXIT_VERIFICATION


def cmd_demo(args: argparse.Namespace) -> int:
    # Imported here: the demo pulls in PyMuPDF, which every other command would
    # pay for at start-up.
    from gateway.cli.demo import run_demo  # noqa: PLC0415

    return run_demo(Path(args.dir) if args.dir else None, keep=args.keep, console=args.console)


def _party_id(value: str) -> str:
    try:
        return check_id(value)
    except BadRequest as exc:
        raise argparse.ArgumentTypeError(exc.detail) from exc


def _as_of(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError("--as-of takes a date like 2026-03-01") from exc


def _client_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--gateway",
        default=os.environ.get("DXG_GATEWAY"),
        help="gateway base URL (env DXG_GATEWAY)",
    )
    parser.add_argument("--id", default=os.environ.get("DXG_ID"), help="your party id (env DXG_ID)")
    parser.add_argument(
        "--keys",
        default=os.environ.get("DXG_KEYS"),
        help="your key PREFIX from gateway keygen (env DXG_KEYS)",
    )


# A kid is an RFC 7638 thumbprint: 43 base64url characters, and one in 64
# begins with '-'. No option of ours has that shape.
_KID_SHAPE = re.compile(r"-[A-Za-z0-9_-]{42}")


class _Parser(argparse.ArgumentParser):
    """argparse that reads a key id beginning with '-' as a value, not an option.

    Without it ``gateway trust revoke FILE PARTY -Ab3...`` (or ``--expect-kid
    -Ab3...``) stops with a usage error one time in 64, for a kid that is
    perfectly valid; the subcommand parsers inherit the class.
    """

    def _parse_optional(self, arg_string: str) -> Any:
        if _KID_SHAPE.fullmatch(arg_string):
            return None
        return super()._parse_optional(arg_string)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="gateway",
        description=__doc__.splitlines()[0],
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log more to stderr")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("init", help="create a gateway data directory")
    p.add_argument("dir")
    p.add_argument("--id", type=_party_id, default="gw")
    p.add_argument("--origin", default="dxg.local/receipts")
    p.add_argument("--database", default=None, metavar="DSN",
                   help="a postgresql://... DSN; default: SQLite in DIR")
    p.add_argument("--blobs", default=None, metavar="DIR",
                   help="a blob directory shared by several nodes, or s3://bucket/prefix"
                        " (the s3 extra); default: DIR/blobs")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("migrate", help="apply the database's pending schema migrations")
    p.add_argument("dir")
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("export", help="write a stopped gateway's whole database to a file")
    p.add_argument("dir")
    p.add_argument("file")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser(
        "import", help="load an export into DIR's empty database, checking counts and log root"
    )
    p.add_argument("dir")
    p.add_argument("file")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("keygen", help="make a party's signing and encryption keys")
    p.add_argument("prefix")
    p.set_defaults(func=cmd_keygen)

    party = sub.add_parser("party", help="manage the registry of parties").add_subparsers(
        dest="party_command", required=True
    )
    p = party.add_parser("add", help="register a party, or add keys to it (rotation)")
    p.add_argument("dir")
    p.add_argument("id", type=_party_id)
    p.add_argument("--role", action="append", choices=sorted(registry.ROLES), required=True)
    p.add_argument("--keys", required=True, help="PREFIX.pub.json from gateway keygen")
    p.add_argument("--endpoint", help="URL the gateway POSTs notifications to")
    p.set_defaults(func=cmd_party_add)
    p = party.add_parser("revoke-key", help="revoke one key of a party")
    p.add_argument("dir")
    p.add_argument("id", type=_party_id)
    p.add_argument("kid")
    p.set_defaults(func=cmd_party_revoke_key)
    p = party.add_parser("list", help="list parties and their keys")
    p.add_argument("dir")
    p.set_defaults(func=cmd_party_list)

    p = sub.add_parser(
        "serve",
        help="serve the gateway until SIGTERM",
        description=SERVE_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("dir")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8443)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser(
        "worker",
        help="run extraction, notifications and expiry without HTTP (PostgreSQL)",
        description=WORKER_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("dir")
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("extract", help="print the extraction of local files as JSON")
    p.add_argument("files", nargs="+")
    p.add_argument("--as-of", type=_as_of, default=None, help="count ages up to this date")
    p.add_argument("--extractors", default="documents",
                   help="comma-separated extractors to run (default: documents)")
    p.add_argument("--photos", help="also write the photos found into this folder")
    p.set_defaults(func=cmd_extract)

    p = sub.add_parser("send", help="sign files as a packet and submit it")
    _client_flags(p)
    p.add_argument("--to", required=True, type=_party_id, help="the recipient party id")
    p.add_argument(
        "--kind", default="dossier", choices=["dossier", "verification", "status", "message"]
    )
    p.add_argument(
        "--purpose",
        default="family_tracing",
        choices=[
            "family_tracing",
            "reunification",
            "care_continuity",
            "verification",
            "status_update",
        ],
    )
    p.add_argument(
        "--legal-basis",
        action="append",
        choices=["vital_interest", "public_interest", "consent", "legal_obligation"],
    )
    p.add_argument(
        "files",
        nargs="+",
        help="each becomes a part named part-1.pdf, part-2.txt…; the file names travel"
        " to the recipient only, in the signed manifest, and gateway pull restores them",
    )
    p.add_argument(
        "--keep-names",
        action="store_true",
        help="name each part after its file instead; monitors see part names in every"
        " receipt, so use this only with neutral file names (never a child's name)",
    )
    p.set_defaults(func=cmd_send)

    p = sub.add_parser("pull", help="fetch, verify, store and acknowledge deliveries")
    _client_flags(p)
    p.add_argument("--out", required=True, help="folder that receives one folder per packet")
    trust_flag(p)
    p.set_defaults(func=cmd_pull)

    p = sub.add_parser("status", help="a packet's status, timeline and receipts")
    _client_flags(p)
    trust_flag(p)
    p.add_argument("packet_id")
    p.set_defaults(func=cmd_status)

    add_case_commands(sub)
    add_monitor_command(sub)
    add_match_command(sub)
    add_console_command(sub)
    add_trust_command(sub)

    p = sub.add_parser("demo", help="run a whole exchange on this machine and explain it")
    p.add_argument("--dir", help="work here instead of a temporary directory")
    p.add_argument("--keep", action="store_true", help="keep the demo's files")
    p.add_argument("--console", action="store_true",
                   help="then leave the officials' console and the monitor view running")
    p.set_defaults(func=cmd_demo)
    return parser


EXIT_CODES_HELP = "exit codes:\n" + "\n".join(
    f"  {code}  {meaning}" for code, meaning in sorted(EXIT_CODES.items())
)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        code: int = args.func(args)
    except DXGError as err:
        print(f"gateway: {err.diagnostics()}", file=sys.stderr)
        return err.exit_code
    except OSError as exc:  # a file named on the command line, a full disk, a permission
        where = f" {exc.filename}" if exc.filename else ""
        print(
            f"gateway: local error:{where}: {exc.strerror or type(exc).__name__}\n"
            f"  what to do: {LocalError.action}",
            file=sys.stderr,
        )
        return EXIT_LOCAL
    except KeyboardInterrupt:
        return 130
    except Exception:
        # A bug. The traceback names code, not data; shown only when asked for.
        logging.getLogger("gateway").debug("unexpected error", exc_info=True)
        print(
            "gateway: internal error: this is a bug; run again with --verbose for the"
            " traceback and report it",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
    return code


if __name__ == "__main__":
    sys.exit(main())
