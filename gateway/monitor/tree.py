"""The log's tree, recomputed by the monitor itself (RFC 9162 §2.1.1).

A :class:`CompactRange` is the right frontier of a Merkle tree of ``size``
leaves: the roots of the perfect subtrees its leaves split into, largest
first, one per set bit of ``size`` (so at most log2(size) + 1 hashes). It
is all a monitor needs to append new leaves and compute the new root, so a
pass costs O(new leaves), not O(size); it is written here, independently
of the gateway's tree code, so a bug there cannot hide in both.

Invariant: ``hashes`` are exactly the perfect subtrees of ``size``; a range
read from a file is checked for that shape, and its root is compared with
a checkpoint's signed root before it is trusted (a different range with the
same root would be a SHA-256 collision).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from gateway.protocol.errors import LocalError
from gateway.protocol.merkle import EMPTY_ROOT, b64std, b64std_decode, leaf_hash, node_hash


@dataclass(frozen=True, slots=True)
class CompactRange:
    """The perfect-subtree roots of a tree of ``size`` leaves, largest first."""

    size: int = 0
    hashes: tuple[bytes, ...] = ()

    def __post_init__(self) -> None:
        if self.size < 0 or len(self.hashes) != self.size.bit_count():
            raise LocalError(
                f"a compact range of {self.size} leaves holds {self.size.bit_count()} hashes,"
                f" not {len(self.hashes)}"
            )

    def append(self, entries: Iterable[bytes]) -> CompactRange:
        """The range after appending ``entries`` (raw leaf bytes) in order."""
        stack = list(self.hashes)
        count = self.size
        for entry in entries:
            stack.append(leaf_hash(entry))
            count += 1
            merged = count
            while merged % 2 == 0:  # two equal perfect subtrees on top: merge them
                right = stack.pop()
                stack.append(node_hash(stack.pop(), right))
                merged //= 2
        return CompactRange(count, tuple(stack))

    def root(self) -> bytes:
        """``MTH`` of the tree: MTH splits at the largest power of two, so the
        root is the right fold of the perfect subtrees."""
        if not self.hashes:
            return EMPTY_ROOT
        root = self.hashes[-1]
        for left in reversed(self.hashes[:-1]):
            root = node_hash(left, root)
        return root

    def to_json(self) -> list[str]:
        return [b64std(h) for h in self.hashes]

    @classmethod
    def from_json(cls, size: int, obj: Any) -> CompactRange:
        """Raises: LocalError: not a list of base64 hashes of the right count."""
        try:
            hashes = tuple(b64std_decode(str(h)) for h in obj)
        except (TypeError, ValueError) as exc:
            raise LocalError("the compact range is not a list of base64 hashes") from exc
        if any(len(h) != 32 for h in hashes):
            raise LocalError("a compact range hash is not 32 bytes")
        return cls(size, hashes)


def tree_root(entries: Iterable[bytes]) -> bytes:
    """``MTH(entries)`` (RFC 9162 §2.1.1)."""
    return CompactRange().append(entries).root()
