"""Versioned schema migrations for both database backends (``gateway migrate DIR``).

A migration is a numbered step with its statements for SQLite and for
PostgreSQL. The database records what it has in ``schema_version`` (one
row per applied step); :func:`migrate` applies the missing steps in order,
each in the caller's transaction together with its ``schema_version`` row,
so a step is either wholly applied and recorded or not at all.

Version 1 is the schema every gateway had before migrations existed. Its
SQLite statements are the ``CREATE ... IF NOT EXISTS`` the modules ran at
start-up, so a database made by an older gateway takes version 1 without
change. On PostgreSQL two nodes starting at once both call :func:`migrate`:
an advisory lock held to the end of the transaction lets one apply and the
other find the work done.

Rule for later steps: append a :class:`Migration`, never edit an applied one.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.protocol.clock import format_time, now
from gateway.server import cases, log, store
from gateway.server.sql import Connection, PgConnection, postgres_ddl, serialize, statements

VERSION_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_version ("
    " version INTEGER PRIMARY KEY, summary TEXT NOT NULL, applied_at TEXT NOT NULL)"
)

_SQLITE_LOG_TRIGGERS = tuple(
    f"CREATE TRIGGER IF NOT EXISTS {table}_no_{verb.lower()} BEFORE {verb} ON {table}"
    f" BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
    for table in ("log_entries", "log_nodes")
    for verb in ("UPDATE", "DELETE")
)

_POSTGRES_LOG_TRIGGERS = (
    "CREATE OR REPLACE FUNCTION dxg_append_only() RETURNS trigger LANGUAGE plpgsql AS"
    " $$ BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$",
    *(
        f"CREATE OR REPLACE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}"
        " FOR EACH ROW EXECUTE FUNCTION dxg_append_only()"
        for table in ("log_entries", "log_nodes")
    ),
)

# The log's own tables, as gateway.server.log creates them (without its triggers).
_LOG_TABLES = (
    "CREATE TABLE IF NOT EXISTS log_nodes("
    " level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL,"
    " PRIMARY KEY(level, idx)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS log_meta("
    " id INTEGER PRIMARY KEY CHECK (id = 0), size INTEGER NOT NULL);"
    "INSERT OR IGNORE INTO log_meta(id, size) VALUES (0, 0);"
)

_CLAIMS = (
    "ALTER TABLE packets ADD COLUMN claimed_by TEXT",  # the node extracting it (PostgreSQL)
    "ALTER TABLE packets ADD COLUMN claimed_until TEXT",  # then another node may take it
)

_V1_TABLES = store.SCHEMA + _LOG_TABLES + log.CHECKPOINT_SCHEMA + cases.SCHEMA


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step: its number, what it does, and its statements per backend."""

    version: int
    summary: str
    sqlite: tuple[str, ...]
    postgresql: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        version=1,
        summary="packets, receipts, registry, replay cache, receipt log, checkpoints, cases",
        sqlite=(*statements(_V1_TABLES), *_SQLITE_LOG_TRIGGERS),
        postgresql=(
            *statements(postgres_ddl(_V1_TABLES)),
            *_POSTGRES_LOG_TRIGGERS,
            # SQLite's implicit rowid orders a party's keys by insertion (registry.py).
            "ALTER TABLE keys ADD COLUMN rowid BIGINT GENERATED ALWAYS AS IDENTITY",
        ),
    ),
    Migration(
        version=2,
        summary="packets.claimed_by/claimed_until: extraction jobs claimed by one node",
        sqlite=_CLAIMS,
        postgresql=_CLAIMS,
    ),
)

LATEST = MIGRATIONS[-1].version


def current_version(conn: Connection) -> int:
    """The highest applied step (0 for a database without ``schema_version``)."""
    if isinstance(conn, PgConnection):
        exists = conn.execute("SELECT to_regclass('schema_version') IS NOT NULL").fetchone()[0]
    else:
        exists = conn.execute(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
        ).fetchone()[0]
    if not exists:
        return 0
    row = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()
    return int(row[0])


def migrate(conn: Connection) -> list[int]:
    """Apply every missing step, inside the caller's (write) transaction.

    Returns:
        The versions applied now, in order (empty when up to date).

    Raises:
        RuntimeError: the database is newer than this gateway (downgrades are
            not supported: run the newer gateway, or restore a backup).
    """
    serialize(conn, "schema_version")
    conn.execute(VERSION_TABLE)
    have = current_version(conn)
    if have > LATEST:
        raise RuntimeError(
            f"the database has schema version {have}, this gateway knows up to {LATEST}:"
            " run the newer gateway"
        )
    postgres = isinstance(conn, PgConnection)
    applied: list[int] = []
    for step in MIGRATIONS:
        if step.version <= have:
            continue
        for statement in step.postgresql if postgres else step.sqlite:
            conn.execute(statement)
        conn.execute(
            "INSERT INTO schema_version (version, summary, applied_at) VALUES (?, ?, ?)",
            (step.version, step.summary, format_time(now())),
        )
        applied.append(step.version)
    return applied
