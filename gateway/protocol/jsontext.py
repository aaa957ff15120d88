"""JSON text as DXG reads it from anyone: bounded in how deeply it nests.

Every document a peer sends (a token's header and claims, a manifest, a
receipt) is parsed by :func:`loads`. Python's parser recurses once per level
of nesting, so ``[`` repeated a few thousand times raises ``RecursionError``,
which no ``except ValueError`` catches: a 500 and a traceback per request,
from anyone, without a key. :func:`loads` turns that into :class:`TooDeep`,
a ``ValueError``, and refuses anything deeper than :data:`MAX_DEPTH` even
when the parser managed it, so that no later walk over the document
(schema validation, serialisation) can recurse out of the stack either.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 64  # a manifest or receipt nests 4 levels; a case body a few more


class TooDeep(ValueError):
    """The JSON text nests more deeply than :data:`MAX_DEPTH`."""


def loads(raw: str | bytes) -> Any:
    """Parse JSON text whose nesting is at most :data:`MAX_DEPTH` levels.

    Raises:
        ValueError: not JSON (``json.JSONDecodeError``, ``UnicodeDecodeError``),
            or :class:`TooDeep`.
    """
    try:
        value = json.loads(raw)
    except RecursionError as exc:
        raise TooDeep(f"the JSON nests more than {MAX_DEPTH} levels deep") from exc
    check_depth(value)
    return value


def check_depth(value: Any) -> None:
    """Raises: TooDeep if ``value`` nests more than :data:`MAX_DEPTH` levels."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > MAX_DEPTH:
            raise TooDeep(f"the JSON nests more than {MAX_DEPTH} levels deep")
        stack.extend((child, depth + 1) for child in children)
