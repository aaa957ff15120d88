"""The registry of parties and monitors and the keys we trust for each.

SPEC §1: a signature is accepted only from a key that is registered to the
party that claims it, for that use (``sig``/``enc``), within its
``not_before``/``not_after`` window, and not revoked. Rotation is "add the new
key, then revoke the old one"; in between both work. A key, once registered,
belongs to one party forever: the same kid cannot be registered twice.

Functions here take a ``Connection`` so they can run inside the
database's reader threads or inside a write transaction.

On PostgreSQL every node keeps the rows it reads on the request path (a
party by id, a key by kid) in a :class:`RegistryCache`, which saves a
round trip on every signature check. Every change of the registry
(:func:`add_party`, :func:`revoke_key`) notifies :data:`CHANGED_CHANNEL`
in its transaction; each node listens on a connection of its own and empties
its cache on every notification, and serves nothing from it while it is
not listening (at start, after a lost connection). A key's validity window
and revocation are checked at every use from the cached row, so a
revocation takes effect on every node as soon as its commit is delivered
to their listeners: milliseconds, the same window as a request that read
the row just before the revocation committed.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal, TypeVar

from gateway.protocol.clock import format_time, parse_time
from gateway.protocol.crypto.keys import PublicKey
from gateway.protocol.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthenticated
from gateway.protocol.ids import check_id
from gateway.protocol.trust import RegisteredKey
from gateway.server.sql import Connection, notify

Role = Literal["party", "monitor"]
ROLES: frozenset[str] = frozenset({"party", "monitor"})
CHANGED_CHANNEL = "dxg_registry"  # NOTIFY channel: a party or key changed, on some node
CACHE_MAX_ENTRIES = 4096  # parties and keys one node keeps; past it the cache starts over
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class KeyRecord(RegisteredKey):
    """A registered key and the party it belongs to (validity: ``RegisteredKey``)."""

    party_id: str = ""


@dataclass(frozen=True, slots=True)
class Party:
    id: str
    roles: frozenset[str]
    endpoint: str | None

    def has_role(self, role: Role) -> bool:
        return role in self.roles


def _time(text: str | None) -> datetime | None:
    return None if text is None else parse_time(text)


@lru_cache(maxsize=1024)
def _public_key(jwk: str) -> PublicKey:
    # Every request reads its caller's key row; parsing the stored JWK and
    # checking its thumbprint once per distinct row text is enough (keys are
    # immutable values; the row's validity columns are read every time).
    return PublicKey.from_jwk(json.loads(jwk))


def _key_record(row: sqlite3.Row | tuple[Any, ...]) -> KeyRecord:
    _kid, party_id, jwk, not_before, not_after, revoked_at = row
    return KeyRecord(
        party_id=party_id,
        key=_public_key(jwk),
        not_before=_time(not_before),
        not_after=_time(not_after),
        revoked_at=_time(revoked_at),
    )


# Newest last. added_at has whole seconds, so the insertion order (rowid)
# breaks ties: a key added in the same second as another is still the newer.
_KEYS_OF_PARTY = (
    "SELECT kid, party_id, jwk, not_before, not_after, revoked_at FROM keys"
    " WHERE party_id = ? ORDER BY added_at, rowid"
)
_KEY_BY_KID = "SELECT kid, party_id, jwk, not_before, not_after, revoked_at FROM keys WHERE kid = ?"


class RegistryCache:
    """Parties by id and keys by kid as read from the database, until the next change.

    Thread-safe: filled by reader threads, emptied by the listener thread.
    Only what was found is kept (an unknown kid costs a round trip every
    time, so a flood of made-up kids cannot fill it). A row read while a
    change arrived is not kept: it may predate the change.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._generation = 0
        self._live = False  # serve and fill only while the node listens for changes
        self._parties: dict[str, Party] = {}
        self._keys: dict[str, KeyRecord] = {}

    def reset(self, *, live: bool) -> None:
        """Forget everything (a change, or the listener (re)connected or was lost).

        Args:
            live: whether changes are heard from now on; while not, nothing is cached.
        """
        with self._lock:
            self._generation += 1
            self._live = live
            self._parties.clear()
            self._keys.clear()

    def party(self, conn: Connection, party_id: str) -> Party | None:
        return self._get(self._parties, party_id, lambda: _load_party(conn, party_id))

    def key(self, conn: Connection, kid: str) -> KeyRecord | None:
        return self._get(self._keys, kid, lambda: _load_key(conn, kid))

    def held(self, party_id: str, kid: str) -> tuple[Party, KeyRecord] | None:
        """The party and key if both are held now (no database needed), else None."""
        with self._lock:
            party, key = self._parties.get(party_id), self._keys.get(kid)
        return None if party is None or key is None else (party, key)

    def _get(self, table: dict[str, V], ident: str, load: Callable[[], V | None]) -> V | None:
        with self._lock:
            found = table.get(ident)
            generation = self._generation
        if found is not None:
            return found  # only a live cache holds anything
        value = load()
        with self._lock:
            if value is not None and self._live and generation == self._generation:
                if len(self._parties) + len(self._keys) >= CACHE_MAX_ENTRIES:
                    self._parties.clear()
                    self._keys.clear()
                table[ident] = value
        return value


def _load_party(conn: Connection, party_id: str) -> Party | None:
    row = conn.execute(
        "SELECT id, roles, endpoint FROM parties WHERE id = ?", (party_id,)
    ).fetchone()
    if row is None:
        return None
    return Party(id=row[0], roles=frozenset(json.loads(row[1])), endpoint=row[2])


def _load_key(conn: Connection, kid: str) -> KeyRecord | None:
    row = conn.execute(_KEY_BY_KID, (kid,)).fetchone()
    return None if row is None else _key_record(row)


def get_party(
    conn: Connection, party_id: str, *, cache: RegistryCache | None = None
) -> Party | None:
    """A registered party, or None (through ``cache`` if the node keeps one)."""
    if cache is not None:
        return cache.party(conn, party_id)
    return _load_party(conn, party_id)


def require_party(conn: Connection, party_id: str) -> Party:
    """Raises: NotFound if ``party_id`` is not registered."""
    party = get_party(conn, party_id)
    if party is None:
        raise NotFound(f"no party {party_id!r} is registered")
    return party


def list_parties(conn: Connection) -> list[Party]:
    rows = conn.execute("SELECT id, roles, endpoint FROM parties ORDER BY id").fetchall()
    return [Party(id=r[0], roles=frozenset(json.loads(r[1])), endpoint=r[2]) for r in rows]


def keys_of(conn: Connection, party_id: str) -> list[KeyRecord]:
    rows = conn.execute(_KEYS_OF_PARTY, (party_id,)).fetchall()
    return [_key_record(r) for r in rows]


def add_party(
    conn: Connection,
    party_id: str,
    *,
    roles: Sequence[str],
    keys: Sequence[PublicKey],
    endpoint: str | None,
    at: datetime,
    gateway_id: str,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
) -> Party:
    """Register a party, or add keys to one (the first half of a rotation).

    Raises:
        BadRequest: a malformed id, role or endpoint.
        Conflict: the gateway's own id, a key already registered to another
            party, or a role change.
    """
    check_id(party_id, what="a party id")
    if party_id == gateway_id:
        # The issuer of a receipt tells the gateway's (ACCEPTED, EXPIRED) from
        # a party's; a party under the gateway's id could blur the two.
        raise Conflict(f"{party_id!r} is this gateway's own id, not a party's")
    if not roles or not set(roles) <= ROLES:
        raise BadRequest(f"roles must be among {sorted(ROLES)}")
    if endpoint is not None and not endpoint.startswith(("http://", "https://")):
        raise BadRequest("an endpoint is an http(s) URL")
    existing = get_party(conn, party_id)
    if existing is None:
        conn.execute(
            "INSERT INTO parties (id, roles, endpoint, added_at) VALUES (?, ?, ?, ?)",
            (party_id, json.dumps(sorted(set(roles))), endpoint, format_time(at)),
        )
    else:
        if existing.roles != frozenset(roles):
            raise Conflict(f"{party_id!r} is registered with roles {sorted(existing.roles)}")
        if endpoint is not None:
            conn.execute("UPDATE parties SET endpoint = ? WHERE id = ?", (endpoint, party_id))
    for key in keys:
        row = conn.execute("SELECT party_id FROM keys WHERE kid = ?", (key.kid,)).fetchone()
        if row is not None:
            if row[0] != party_id:
                raise Conflict(f"key {key.kid} is registered to another party")
            continue
        conn.execute(
            "INSERT INTO keys (kid, party_id, use, jwk, not_before, not_after, added_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                key.kid,
                party_id,
                key.use,
                json.dumps(key.to_jwk()),
                None if not_before is None else format_time(not_before),
                None if not_after is None else format_time(not_after),
                format_time(at),
            ),
        )
    notify(conn, CHANGED_CHANNEL)  # every node's cache, once this commits
    party = get_party(conn, party_id)
    assert party is not None
    return party


def revoke_key(conn: Connection, party_id: str, kid: str, *, at: datetime) -> None:
    """Revoke one key of a party from ``at`` on.

    Raises:
        NotFound: the party has no such key.
    """
    cur = conn.execute(
        "UPDATE keys SET revoked_at = COALESCE(revoked_at, ?) WHERE kid = ? AND party_id = ?",
        (format_time(at), kid, party_id),
    )
    if cur.rowcount == 0:
        raise NotFound(f"{party_id!r} has no key {kid}")
    notify(conn, CHANGED_CHANNEL)  # every node's cache, once this commits


def key_owner(conn: Connection, kid: str, *, cache: RegistryCache | None = None) -> str | None:
    """The party a kid is registered to, valid or not; None if unknown."""
    if cache is not None:
        record = cache.key(conn, kid)
        return None if record is None else record.party_id
    row = conn.execute("SELECT party_id FROM keys WHERE kid = ?", (kid,)).fetchone()
    return None if row is None else str(row[0])


def signing_key(
    conn: Connection,
    party_id: str,
    kid: str,
    at: datetime,
    *,
    cache: RegistryCache | None = None,
) -> PublicKey:
    """The ``sig`` key ``kid`` of ``party_id``, if it is valid at ``at``.

    Raises:
        Unauthenticated: unknown party or kid, a key of another party or use,
            not yet valid, expired or revoked.
    """
    return valid_signing_key(
        cache.key(conn, kid) if cache is not None else _load_key(conn, kid), party_id, at
    )


def valid_signing_key(record: KeyRecord | None, party_id: str, at: datetime) -> PublicKey:
    """The key of ``record`` if it is a ``sig`` key of ``party_id`` valid at ``at``.

    Raises:
        Unauthenticated: no record (an unknown kid), a key of another party
            or use, not yet valid, expired or revoked.
    """
    if record is None:
        raise Unauthenticated("unknown key")
    if record.party_id != party_id:
        raise Unauthenticated("the key does not belong to the party that claims it")
    if record.use != "sig":
        raise Unauthenticated("the key is not a signing key")
    problem = record.problem_at(at)
    if problem is not None:
        raise Unauthenticated(f"the signing key is {problem}")
    return record.key


def encryption_key(conn: Connection, party_id: str, at: datetime) -> PublicKey:
    """The party's current X25519 key: the newest one valid at ``at``.

    Raises:
        Forbidden: the party has no valid encryption key to seal to.
    """
    valid = [r for r in keys_of(conn, party_id) if r.use == "enc" and r.problem_at(at) is None]
    if not valid:
        raise Forbidden(f"{party_id!r} has no valid encryption key registered")
    return valid[-1].key
