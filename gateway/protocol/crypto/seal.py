"""Sealing: libsodium sealed boxes for delivery, secretstream at rest.

Delivery (SPEC §5) uses ``crypto_box_seal`` to the recipient's X25519 key,
so any partner with libsodium opens it. At rest, every blob is encrypted
with the gateway's storage key using ``crypto_secretstream_xchacha20poly1305``
in fixed-size chunks: a large blob is written and read as a stream (never
whole in memory), a small one is sealed the same way in memory; truncation is
detected by the final tag, and the blob's name is the associated data of
every chunk, so two encrypted blobs cannot be swapped.
"""

from __future__ import annotations

import hmac
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import nacl.bindings as sodium
import nacl.exceptions
import nacl.public
import nacl.utils

from gateway.protocol.crypto.keys import EncryptionKey, PublicKey, write_private_file
from gateway.protocol.errors import Invalid

STORAGE_KEY_BYTES = sodium.crypto_secretstream_xchacha20poly1305_KEYBYTES
# 64 KiB plaintext chunks: large enough that the 17-byte tag is noise,
# small enough that a 64 MiB part never sits in memory whole.
CHUNK_BYTES = 64 * 1024
_ABYTES = sodium.crypto_secretstream_xchacha20poly1305_ABYTES
_HEADER_BYTES = sodium.crypto_secretstream_xchacha20poly1305_HEADERBYTES
_TAG_MESSAGE = sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE
_TAG_FINAL = sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL
_MAGIC = b"DXGBLOB1"


def seal(data: bytes, to: PublicKey) -> bytes:
    """``crypto_box_seal`` of ``data`` to an X25519 public key."""
    return bytes(nacl.public.SealedBox(to.box_key()).encrypt(data))


def open_sealed(data: bytes, key: EncryptionKey) -> bytes:
    """Open a sealed box addressed to ``key``.

    Raises:
        Invalid: the box is not for this key, or it was altered.
    """
    try:
        return bytes(nacl.public.SealedBox(key.box_key()).decrypt(data))
    except nacl.exceptions.CryptoError as exc:
        raise Invalid("the sealed box does not open with this key") from exc


class StorageKey:
    """The gateway's symmetric key for blobs at rest."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        if len(key) != STORAGE_KEY_BYTES:
            raise ValueError("a storage key has 32 bytes")
        self._key = key

    @classmethod
    def create(cls, path: Path) -> StorageKey:
        key = nacl.utils.random(STORAGE_KEY_BYTES)
        write_private_file(path, key)
        return cls(key)

    @classmethod
    def load(cls, path: Path) -> StorageKey:
        return cls(path.read_bytes())

    def __repr__(self) -> str:
        return "StorageKey(<secret>)"

    def writer(self, sink: BinaryIO, *, name: bytes) -> EncryptingWriter:
        return EncryptingWriter(self._key, sink, name)

    def encrypt(self, data: bytes, *, name: bytes) -> bytes:
        """The same format as a written blob, in memory (for small blobs)."""
        sink = io.BytesIO()
        writer = EncryptingWriter(self._key, sink, name)
        writer.write(data)
        writer.finish(durable=False)
        return sink.getvalue()

    def decrypt(self, data: bytes, *, name: bytes) -> bytes:
        """Raises: Invalid if ``data`` was altered or belongs to another name."""
        return b"".join(self.read(io.BytesIO(data), name=name))

    def read(self, source: BinaryIO, *, name: bytes) -> Iterator[bytes]:
        """Decrypt a blob chunk by chunk.

        Raises:
            Invalid: the file was altered, truncated, or belongs to another name.
        """
        magic = source.read(len(_MAGIC))
        if not hmac.compare_digest(magic, _MAGIC):
            raise Invalid("a stored blob has no valid header")
        state = sodium.crypto_secretstream_xchacha20poly1305_state()
        sodium.crypto_secretstream_xchacha20poly1305_init_pull(
            state, source.read(_HEADER_BYTES), self._key
        )
        while True:
            chunk = source.read(CHUNK_BYTES + _ABYTES)
            if not chunk:
                raise Invalid("a stored blob is truncated")
            try:
                plain, tag = sodium.crypto_secretstream_xchacha20poly1305_pull(state, chunk, name)
            except nacl.exceptions.CryptoError as exc:
                raise Invalid("a stored blob fails its integrity check") from exc
            yield plain
            if tag == _TAG_FINAL:
                if source.read(1):
                    raise Invalid("a stored blob has bytes after its end")
                return


class EncryptingWriter:
    """Buffers plaintext into fixed chunks and writes them encrypted."""

    def __init__(self, key: bytes, sink: BinaryIO, name: bytes) -> None:
        self._sink = sink
        self._name = name
        self._buffer = bytearray()
        self._state = sodium.crypto_secretstream_xchacha20poly1305_state()
        header = sodium.crypto_secretstream_xchacha20poly1305_init_push(self._state, key)
        sink.write(_MAGIC + header)

    def write(self, data: bytes) -> None:
        self._buffer += data
        while len(self._buffer) > CHUNK_BYTES:
            self._push(bytes(self._buffer[:CHUNK_BYTES]), _TAG_MESSAGE)
            del self._buffer[:CHUNK_BYTES]

    def finish(self, *, durable: bool = True) -> None:
        """Write the final chunk and (for a file) make it durable."""
        self._push(bytes(self._buffer), _TAG_FINAL)
        self._buffer.clear()
        self._sink.flush()
        if durable:
            os.fsync(self._sink.fileno())

    def _push(self, plain: bytes, tag: int) -> None:
        self._sink.write(
            sodium.crypto_secretstream_xchacha20poly1305_push(self._state, plain, self._name, tag)
        )
