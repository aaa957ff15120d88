"""SHA-256 as the protocol writes it: lowercase hex of the exact bytes."""

from __future__ import annotations

import hashlib


def sha256_hex(data: bytes | str) -> str:
    """Hex SHA-256 of ``data``; a str (a JWS, always ASCII) is hashed as its ASCII bytes."""
    return hashlib.sha256(data.encode("ascii") if isinstance(data, str) else data).hexdigest()
