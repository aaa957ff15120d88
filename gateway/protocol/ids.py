"""Identifiers of SPEC §1: party, monitor and gateway ids."""

from __future__ import annotations

import re

from gateway.protocol.errors import BadRequest

ID_PATTERN = re.compile(r"^[a-z][a-z0-9-]{1,31}$")  # SPEC §1


def check_id(value: str, *, what: str = "id") -> str:
    """Raises: BadRequest unless ``value`` is a party/gateway id of SPEC §1."""
    if not ID_PATTERN.fullmatch(value):
        raise BadRequest(f"{what} must match {ID_PATTERN.pattern}")
    return value
