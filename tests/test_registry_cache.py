"""The per-node registry cache (gateway.server.registry.RegistryCache), on a real SQLite file.

The cache is what PostgreSQL nodes use; its rules do not depend on the
engine, so they are tested here directly: it serves only while live, a row
read across a change is not kept, a reset forgets everything, and it never
holds more than CACHE_MAX_ENTRIES.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.protocol.crypto.keys import SigningKey
from gateway.protocol.errors import Unauthenticated
from gateway.server import registry
from gateway.server.store import SCHEMA, connect

AT = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.fixture
def conn(tmp_path: Path) -> sqlite3.Connection:
    db = connect(tmp_path / "dxg.sqlite3")
    db.executescript(SCHEMA)
    return db


def add(conn: sqlite3.Connection, party_id: str) -> str:
    key = SigningKey.generate().public
    registry.add_party(conn, party_id, roles=["party"], keys=[key], endpoint=None, at=AT,
                       gateway_id="gw")  # fmt: skip
    return key.kid


def test_a_live_cache_serves_a_revoked_key_until_it_is_reset(conn: sqlite3.Connection) -> None:
    """What the node's listener is for: without the reset a NOTIFY triggers,
    a cached key outlives its revocation; after it, the revocation holds."""
    cache = registry.RegistryCache()
    cache.reset(live=True)
    kid = add(conn, "ua")
    registry.signing_key(conn, "ua", kid, AT, cache=cache)  # read and kept
    registry.revoke_key(conn, "ua", kid, at=AT)
    registry.signing_key(conn, "ua", kid, AT, cache=cache)  # still the kept row
    cache.reset(live=True)  # the notification of the revocation
    with pytest.raises(Unauthenticated, match="revoked"):
        registry.signing_key(conn, "ua", kid, AT, cache=cache)


def test_a_cache_that_is_not_listening_keeps_nothing(conn: sqlite3.Connection) -> None:
    cache = registry.RegistryCache()  # not live until its listener says so
    kid = add(conn, "ua")
    assert registry.key_owner(conn, kid, cache=cache) == "ua"
    assert cache.held("ua", kid) is None
    cache.reset(live=True)
    registry.signing_key(conn, "ua", kid, AT, cache=cache)
    assert registry.get_party(conn, "ua", cache=cache) is not None
    assert cache.held("ua", kid) is not None
    cache.reset(live=False)  # the listener lost its connection: changes may be missed
    assert cache.held("ua", kid) is None
    registry.signing_key(conn, "ua", kid, AT, cache=cache)
    assert cache.held("ua", kid) is None


def test_a_row_read_while_a_change_arrives_is_not_kept(conn: sqlite3.Connection) -> None:
    cache = registry.RegistryCache()
    cache.reset(live=True)
    kid = add(conn, "ua")

    class ChangeDuringRead:
        """A connection whose read is overtaken by a change (the listener's reset)."""

        def execute(self, sql: str, parameters: tuple[object, ...] = ()) -> sqlite3.Cursor:
            rows = conn.execute(sql, parameters)
            cache.reset(live=True)
            return rows

        def executemany(self, sql: str, parameters: object) -> sqlite3.Cursor:
            raise AssertionError("a look-up does not write")

    registry.signing_key(ChangeDuringRead(), "ua", kid, AT, cache=cache)  # type: ignore[arg-type]
    registry.get_party(conn, "ua", cache=cache)
    assert cache.held("ua", kid) is None  # the party is kept, the overtaken key is not


def test_the_cache_holds_at_most_its_limit(conn: sqlite3.Connection) -> None:
    cache = registry.RegistryCache()
    cache.reset(live=True)
    for i in range(registry.CACHE_MAX_ENTRIES + 1):
        conn.execute("INSERT INTO parties (id, roles, endpoint, added_at) VALUES (?, ?, ?, ?)",
                     (f"p{i}", '["party"]', None, "2026-12-01T00:00:00Z"))  # fmt: skip
        assert registry.get_party(conn, f"p{i}", cache=cache) is not None
    held = len(cache._parties) + len(cache._keys)  # the limit under test
    assert 0 < held <= registry.CACHE_MAX_ENTRIES
