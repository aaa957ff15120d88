"""The shared claim of a token's ``jti`` on PostgreSQL: one claim wins, on any node.

Several nodes share the database, not their memory, so a ``jti`` new to a
node is claimed in ``seen_jti`` (``INSERT ... ON CONFLICT DO NOTHING``): a
concurrent claim of the same ``jti`` by another node waits for that node's
transaction and then finds the row, so exactly one claim wins. An upload
makes its claim in the statement that inserts its packet
(:class:`PendingClaim`, ``gateway.server.intake``); every other request on
its own, before its handler runs (``gateway.server.auth``).
"""

from __future__ import annotations

from gateway.server.sql import Connection

# ``seen_jti``'s row, as the first common table expression of intake's insert.
CLAIM_CTE = (
    "j AS (INSERT INTO seen_jti (issuer, jti, expires) VALUES (?, ?, ?)"
    " ON CONFLICT DO NOTHING RETURNING 1)"
)


def claim_jti(conn: Connection, issuer: str, jti: str, expires: int) -> bool:
    """Record ``(issuer, jti)``; whether it was new (False: a replay, on any node)."""
    row = conn.execute(
        "INSERT OR IGNORE INTO seen_jti (issuer, jti, expires) VALUES (?, ?, ?) RETURNING jti",
        (issuer, jti, expires),
    ).fetchone()
    return row is not None


class PendingClaim:
    """A ``jti`` this node saw first, whose shared claim waits for the request's own write.

    ``settled`` once the claim has been made, with the packet's insert or on
    its own, whatever it found; until then the ``jti`` is held only in this
    node's memory.
    """

    __slots__ = ("expires", "issuer", "jti", "settled")

    def __init__(self, issuer: str, jti: str, expires: int) -> None:
        self.issuer, self.jti, self.expires = issuer, jti, expires
        self.settled = False

    def params(self) -> tuple[str, str, int]:
        """The parameters of :data:`CLAIM_CTE` (and of :func:`claim_jti`)."""
        return (self.issuer, self.jti, self.expires)

    def write(self, conn: Connection) -> bool:
        """The claim on its own (:func:`claim_jti`); whether it was new."""
        return claim_jti(conn, *self.params())
