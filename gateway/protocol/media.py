"""Media types DXG accepts and how their bytes are recognised (SPEC §3).

A part's declared ``media_type`` must match what its bytes really are. Binary
types are recognised by their magic numbers. JSON and plain text have none,
so the rule for them is: valid UTF-8 throughout, no NUL byte, not starting
with a binary magic number, and for JSON a first non-blank character of
``{`` or ``[``. The check streams: it sees each chunk once and keeps only a
few bytes of state.
"""

from __future__ import annotations

import codecs

ACCEPTED = frozenset(
    {"application/pdf", "image/png", "image/jpeg", "image/tiff", "application/json", "text/plain"}
)
DOCUMENT_TYPES = frozenset({"application/pdf", "image/png", "image/jpeg", "image/tiff"})

MAGIC: dict[str, tuple[bytes, ...]] = {
    "application/pdf": (b"%PDF-",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/tiff": (b"II*\x00", b"MM\x00*"),
}
_HEAD = 8  # the longest magic number
_ALL_MAGIC = tuple(m for ms in MAGIC.values() for m in ms)


class Sniffer:
    """Decides, chunk by chunk, whether bytes are of a declared media type."""

    def __init__(self, media_type: str) -> None:
        self.media_type = media_type
        self._head = b""
        self._text = media_type in ("application/json", "text/plain")
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._ok = True
        self._first_char: str | None = None

    def feed(self, chunk: bytes) -> None:
        if len(self._head) < _HEAD:
            self._head += chunk[: _HEAD - len(self._head)]
        if not self._text or not self._ok:
            return
        if b"\x00" in chunk:
            self._ok = False
            return
        try:
            text = self._decoder.decode(chunk)
        except UnicodeDecodeError:
            self._ok = False
            return
        if self._first_char is None:
            stripped = text.lstrip("\ufeff \t\r\n")
            if stripped:
                self._first_char = stripped[0]

    def matches(self) -> bool:
        """Whether everything fed is of the declared type."""
        if self.media_type in MAGIC:
            return self._head.startswith(MAGIC[self.media_type])
        if not self._text or not self._ok:
            return False
        try:
            self._decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return False
        if self._head.startswith(_ALL_MAGIC):
            return False
        if self.media_type == "application/json":
            return self._first_char in ("{", "[")
        return True
