"""Moving a deployment between databases: ``gateway export`` and ``gateway import``.

An export is a JSON-lines file: a header, then one line per row of every
table of the gateway's schema (``{"t": table, "r": [values]}``, bytes as
``{"b64": ...}``). The header carries the schema version, each table's
columns and row count, and the log's integrated size and root.

An import writes all rows into an empty, migrated database (typically
PostgreSQL, from a SQLite export) in one transaction, then checks what the
header promised: every table's row count, and the log's root at the same
size. A mismatch rolls the whole import back, so a deployment is either
moved with every receipt or not at all.

Blobs are not in the file: they stay in the blob directory, which the
operator copies (or shares) along with the data directory.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Sequence
from typing import IO, Any

from gateway.protocol.errors import Conflict, Invalid
from gateway.protocol.merkle import range_root
from gateway.server import migrations
from gateway.server.log import MerkleLog
from gateway.server.sql import Connection, PgConnection
from gateway.server.store import Database

FORMAT = 1
BATCH_ROWS = 1_000  # rows per executemany: bounded memory for 10^5 receipts and more
# Every table, parents before children; schema_version is the target's own.
TABLES = (
    "parties", "keys", "packets", "blobs", "timeline", "receipts", "seen_jti",
    "log_entries", "log_nodes", "log_meta", "log_checkpoints", "log_cosignatures",
    "case_records", "cases", "case_events",
)  # fmt: skip
# Insertion order that the target must keep without storing it (SQLite's rowid).
ORDER_BY = {"keys": "rowid", "timeline": "seq", "log_entries": "idx"}


def _columns(conn: Connection, table: str) -> list[str]:
    if isinstance(conn, PgConnection):
        rows = conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ?"
            " AND column_name <> 'rowid' ORDER BY ordinal_position",
            (table,),
        ).fetchall()
        return [str(r[0]) for r in rows]
    return [str(r[1]) for r in conn.execute(f"PRAGMA table_info({table})")]


def _encode(value: object) -> object:
    if isinstance(value, (bytes, memoryview)):
        return {"b64": base64.b64encode(bytes(value)).decode("ascii")}
    return value


def _decode(value: Any) -> object:
    if isinstance(value, dict):
        return base64.b64decode(value["b64"])
    return value


def export(db: Database, out: IO[str], log: MerkleLog) -> dict[str, Any]:
    """Write the whole database to ``out``; the header written first.

    Run it on a stopped gateway (nothing writes meanwhile).
    """

    def run(conn: Connection) -> dict[str, Any]:
        header: dict[str, Any] = {
            "dxg_export": FORMAT,
            "schema_version": migrations.current_version(conn),
            "tables": {},
        }
        size = log.size()
        header["log_size"] = size
        header["log_root"] = base64.b64encode(log.root(size)).decode("ascii")
        for table in TABLES:
            (rows,) = conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()  # noqa: S608
            header["tables"][table] = {"columns": _columns(conn, table), "rows": int(rows)}
        out.write(json.dumps(header) + "\n")
        for table in TABLES:
            columns = header["tables"][table]["columns"]
            order = ORDER_BY.get(table, "1")
            cursor = conn.execute(
                f"SELECT {', '.join(columns)} FROM {table} ORDER BY {order}"  # noqa: S608
            )
            for row in cursor:
                out.write(json.dumps({"t": table, "r": [_encode(v) for v in row]}) + "\n")
        return header

    return db.read_sync(run)


def _lines(source: IO[str]) -> Iterator[dict[str, Any]]:
    for line in source:
        if line.strip():
            yield json.loads(line)


def import_(db: Database, source: IO[str]) -> dict[str, Any]:
    """Load an export into ``db`` (empty, migrated) and check it against its header.

    Raises:
        Invalid: not an export, or a count or the log root differs after loading.
        Conflict: the target database holds packets or receipts already.
    """
    lines = _lines(source)
    header = next(lines, None)
    if not isinstance(header, dict) or header.get("dxg_export") != FORMAT:
        raise Invalid("not a gateway export (gateway export DIR FILE makes one)")
    tables: dict[str, Any] = header["tables"]
    if sorted(tables) != sorted(TABLES):
        raise Invalid("the export's tables are not this gateway's: export with the same version")

    def run(conn: Connection) -> None:
        for table in ("packets", "receipts", "log_entries", "parties"):
            (rows,) = conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()  # noqa: S608
            if rows:
                raise Conflict(f"the target database has {table} already: import into an empty one")
        conn.execute("DELETE FROM log_meta")  # the migration's (0, 0): the export has the real one
        pending: dict[str, list[list[object]]] = {}

        def flush(table: str) -> None:
            rows = pending.pop(table, [])
            if rows:
                columns = tables[table]["columns"]
                marks = ", ".join("?" for _ in columns)
                conn.executemany(
                    f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",  # noqa: S608
                    rows,
                )

        current = None
        for line in lines:
            table = line["t"]
            if table not in tables:
                raise Invalid(f"the export names an unknown table {table!r}")
            if table != current:
                # Rows come parents before children (TABLES): a child's first
                # batch goes in only after its parent's last (foreign keys).
                for waiting in list(pending):
                    flush(waiting)
                current = table
            pending.setdefault(table, []).append([_decode(v) for v in line["r"]])
            if len(pending[table]) >= BATCH_ROWS:
                flush(table)
        for table in list(pending):
            flush(table)
        for table, facts in tables.items():
            (rows,) = conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()  # noqa: S608
            if rows != facts["rows"]:
                raise Invalid(f"{table}: {rows} rows imported, the export has {facts['rows']}")
        root = range_root(0, header["log_size"], lambda keys: _nodes(conn, keys))
        if base64.b64encode(root).decode("ascii") != header["log_root"]:
            raise Invalid(
                "the imported log's root differs from the exported one: nothing was imported;"
                " export again from the stopped source gateway"
            )
        if isinstance(conn, PgConnection):  # identity columns continue after the imported rows
            conn.execute(
                "SELECT setval(pg_get_serial_sequence('timeline', 'seq'),"
                " (SELECT COALESCE(MAX(seq), 0) + 1 FROM timeline), false)"
            )

    db.write_sync(run)
    return header


def _nodes(conn: Connection, keys: Sequence[tuple[int, int]]) -> list[bytes]:
    """Stored subtree hashes, read in the importing transaction.

    Raises:
        Invalid: a node the root needs was not in the export.
    """
    found = []
    for level, idx in keys:
        row = conn.execute(
            "SELECT hash FROM log_nodes WHERE level = ? AND idx = ?", (level, idx)
        ).fetchone()
        if row is None:
            raise Invalid(f"the export lacks log node {(level, idx)}: export again")
        found.append(bytes(row[0]))
    return found
