"""The registry of parties and monitors and the keys we trust for each.

SPEC §1: a signature is accepted only from a key that is registered to the
party that claims it, for that use (``sig``/``enc``), within its
``not_before``/``not_after`` window, and not revoked. Rotation is "add the new
key, then revoke the old one"; in between both work. A key, once registered,
belongs to one party forever: the same kid cannot be registered twice.

Functions here take a ``Connection`` so they can run inside the
database's reader threads or inside a write transaction.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal

from gateway.protocol.clock import format_time, parse_time
from gateway.protocol.crypto.keys import PublicKey
from gateway.protocol.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthenticated
from gateway.protocol.ids import check_id
from gateway.protocol.trust import RegisteredKey
from gateway.server.sql import Connection

Role = Literal["party", "monitor"]
ROLES: frozenset[str] = frozenset({"party", "monitor"})


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


def get_party(conn: Connection, party_id: str) -> Party | None:
    row = conn.execute(
        "SELECT id, roles, endpoint FROM parties WHERE id = ?", (party_id,)
    ).fetchone()
    if row is None:
        return None
    return Party(id=row[0], roles=frozenset(json.loads(row[1])), endpoint=row[2])


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


def key_owner(conn: Connection, kid: str) -> str | None:
    """The party a kid is registered to, valid or not; None if unknown."""
    row = conn.execute("SELECT party_id FROM keys WHERE kid = ?", (kid,)).fetchone()
    return None if row is None else str(row[0])


def signing_key(conn: Connection, party_id: str, kid: str, at: datetime) -> PublicKey:
    """The ``sig`` key ``kid`` of ``party_id``, if it is valid at ``at``.

    Raises:
        Unauthenticated: unknown party or kid, a key of another party or use,
            not yet valid, expired or revoked.
    """
    row = conn.execute(_KEY_BY_KID, (kid,)).fetchone()
    if row is None:
        raise Unauthenticated("unknown key")
    record = _key_record(row)
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
