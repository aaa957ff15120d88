"""Where parts and photos live: one interface, a shared directory or an S3-compatible store.

:class:`Blobs` is what intake, extraction, delivery and start-up ask of a
blob store. Two satisfy it:

* ``gateway.server.store.BlobStore``: a directory, ``blobs/`` in the data
  directory by default, or one every node mounts (config ``blobs``: a path);
* ``gateway.server.s3.S3BlobStore``: a bucket of an S3-compatible service
  (config ``blobs``: ``s3://bucket/prefix``; needs the ``s3`` extra).

Both keep the same guarantees: a blob is encrypted at rest under the
gateway's storage key with its packet and name as associated data; an
upload is durable (fsync'd, or stored by the service) before
:meth:`Blobs.seal_upload` returns, so before the transaction that names it
commits and before any 202; a blob that was altered does not decrypt
(and, in a bucket, fails its SHA-256 first).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO, Protocol

from gateway.protocol.crypto.seal import EncryptingWriter, StorageKey
from gateway.server.config import Config, DataDir
from gateway.server.store import BlobStore

S3_SCHEME = "s3://"


class Blobs(Protocol):
    """The blob store of a gateway (see the module docstring for what each must keep)."""

    def new_upload(self, packet_id: str) -> str:
        """A fresh name for one upload of ``packet_id``: the group of its blobs."""

    def create(
        self, directory: str, packet_id: str, name: str
    ) -> tuple[BinaryIO, EncryptingWriter]:
        """Open a new blob for writing; the caller finishes the writer and closes the sink."""

    def seal_upload(self, directory: str) -> None:
        """Make every blob of an upload durable; returns only once they are."""

    def discard(self, directory: str) -> None:
        """Remove an upload that will not be committed."""

    def sweep(self, referenced: set[str], *, min_age_s: float = 0) -> int:
        """Remove uploads no packet names and older than ``min_age_s``; how many."""

    def seal_inline(self, packet_id: str, name: str, data: bytes) -> bytes:
        """Encrypt a small blob for its database row."""

    def write_blob(self, directory: str, packet_id: str, name: str, data: bytes) -> None:
        """Write one whole blob into an upload, durably."""

    def read(
        self, directory: str, packet_id: str, name: str, inline: bytes | None
    ) -> Iterator[bytes]:
        """Decrypt one blob chunk by chunk (raises Invalid if it was altered)."""

    def read_all(self, directory: str, packet_id: str, name: str, inline: bytes | None) -> bytes:
        """One whole blob, decrypted (raises Invalid if it was altered)."""


def is_s3(location: str | None) -> bool:
    """Whether a ``blobs`` setting names an S3-compatible bucket."""
    return location is not None and location.startswith(S3_SCHEME)


def open_blobs(data: DataDir, config: Config, key: StorageKey) -> Blobs:
    """The blob store ``config`` names.

    Raises:
        LocalError: ``s3://`` without boto3 installed (the ``s3`` extra).
        Unavailable: the bucket cannot be reached.
    """
    if is_s3(config.blobs):
        from gateway.server.s3 import S3BlobStore  # noqa: PLC0415 - boto3 only when used

        assert config.blobs is not None
        return S3BlobStore.open(config, key, spool=data.tmp / "s3-spool")
    return BlobStore(data.blobs_of(config), key)
