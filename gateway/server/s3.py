"""Blobs in an S3-compatible bucket (config ``"blobs": "s3://bucket/prefix"``).

For deployments whose nodes share no file system: every node reaches the
bucket, and the bucket's own replication (or the provider's) keeps the
blobs when a machine is lost, as the PostgreSQL standby keeps the rows.

An upload's blobs are written first to a spool file in the data directory's
``tmp/`` (encrypted, as everywhere at rest), then :meth:`S3BlobStore.seal_upload`
PUTs each one to ``prefix/<upload>/<name>`` and returns only when every PUT
succeeded, so a packet is acknowledged (202) only once its blobs are in the
bucket. Each object carries the SHA-256 of its stored (encrypted) bytes, as
user metadata and as the PUT's ``ChecksumSHA256`` (the service checks what
it received); a read downloads the whole object, compares its SHA-256
before decrypting a byte, and refuses a mismatch with ``Invalid``, as the
directory store refuses an altered file.

The endpoint, region and credentials profile come from config
(``s3_endpoint``, ``s3_region``, ``s3_profile``) or, unset, from the
standard AWS environment (``AWS_ENDPOINT_URL``, ``AWS_REGION``,
``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE``,
``~/.aws/credentials``). Secrets are never in ``config.json``. Requires
boto3 (``pip install 'dxg[s3]'``).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, cast

from gateway.protocol.crypto.seal import EncryptingWriter, StorageKey
from gateway.protocol.errors import Invalid, LocalError, Unavailable
from gateway.server.config import Config
from gateway.server.store import BlobStore

log = logging.getLogger(__name__)

READ_SPOOL_BYTES = 8 * 1024 * 1024  # a downloaded blob past this is checked from a temp file
DOWNLOAD_CHUNK = 1024 * 1024  # read from the service a MiB at a time
UPLOAD_CHUNK = 1024 * 1024  # hashed a MiB at a time before its PUT
S3_RETRIES = 5  # botocore's standard mode backs off between them: a brief outage passes
S3_TIMEOUT_S = 60.0  # connect and read: a stalled service fails the request, never hangs it
SHA256_META = "sha256"  # user metadata: the hex SHA-256 of the object's bytes


class S3BlobStore:
    """Blobs as objects ``prefix/<upload>/<name>`` of one bucket (see the module docstring)."""

    def __init__(self, client: Any, bucket: str, prefix: str, key: StorageKey, spool: Path) -> None:
        self._s3 = client
        self.bucket = bucket
        self.prefix = prefix
        self._key = key
        # Uploads being received, encrypted, before their PUT; the same key
        # and layout as a directory store, whose writing code it reuses.
        self._spool = BlobStore(spool, key)

    @classmethod
    def open(cls, config: Config, key: StorageKey, *, spool: Path) -> S3BlobStore:
        """Connect to the bucket ``config.blobs`` names and check that it answers.

        Raises:
            LocalError: boto3 is not installed.
            Unavailable: the bucket does not answer (unreachable, missing, refused).
        """
        try:
            import boto3  # noqa: PLC0415 - an optional dependency, the s3 extra
            from botocore.config import Config as BotoConfig  # noqa: PLC0415
        except ImportError as exc:
            raise LocalError(
                "blobs names an S3 bucket but boto3 is not installed: pip install 'dxg[s3]'"
            ) from exc
        assert config.blobs is not None
        bucket, _, prefix = config.blobs.removeprefix("s3://").partition("/")
        session = boto3.session.Session(profile_name=config.s3_profile)
        client = session.client(
            "s3",
            endpoint_url=config.s3_endpoint,
            region_name=config.s3_region,
            config=BotoConfig(
                retries={"max_attempts": S3_RETRIES, "mode": "standard"},
                connect_timeout=S3_TIMEOUT_S,
                read_timeout=S3_TIMEOUT_S,
                max_pool_connections=32,  # the I/O pool's threads and then some
            ),
        )
        try:
            client.head_bucket(Bucket=bucket)
        except Exception as exc:  # botocore's errors: no such bucket, refused, unreachable
            raise Unavailable(
                f"the blob bucket {bucket!r} does not answer ({type(exc).__name__}):"
                " check s3_endpoint, the credentials and that the bucket exists"
            ) from exc
        return cls(client, bucket, prefix.strip("/"), key, spool)

    def _object(self, directory: str, name: str) -> str:
        return f"{self.prefix}/{directory}/{name}" if self.prefix else f"{directory}/{name}"

    def _upload_prefix(self, directory: str) -> str:
        return self._object(directory, "")

    # -- writing -----------------------------------------------------------

    def new_upload(self, packet_id: str) -> str:
        return self._spool.new_upload(packet_id)

    def create(
        self, directory: str, packet_id: str, name: str
    ) -> tuple[BinaryIO, EncryptingWriter]:
        # The spool lives in tmp/, which start-up empties: made again when needed.
        self._spool.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        return self._spool.create(directory, packet_id, name)

    def seal_upload(self, directory: str) -> None:
        """PUT every spooled blob of the upload; return once all are stored.

        Raises:
            Unavailable: a PUT failed after its retries (the packet is then not accepted).
        """
        folder = self._spool.root / directory
        for path in sorted(folder.iterdir()):
            with path.open("rb") as source:
                digest = hashlib.sha256()
                while chunk := source.read(UPLOAD_CHUNK):
                    digest.update(chunk)
                source.seek(0)
                self._put(self._object(directory, path.name), source, digest.digest())
        shutil.rmtree(folder, ignore_errors=True)

    def _put(self, key: str, body: BinaryIO | bytes, sha256: bytes) -> None:
        """Store one object; return only once the service has it.

        Raises:
            Unavailable: the PUT failed after its retries (a 503 to the sender,
                who sends the packet again; nothing was accepted).
        """
        try:
            self._s3.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=body,
                ChecksumSHA256=base64.b64encode(sha256).decode("ascii"),
                Metadata={SHA256_META: sha256.hex()},
            )
        except Exception as exc:  # botocore's: refused, timed out, 5xx, checksum refused
            raise Unavailable(
                f"the blob store did not store an upload ({type(exc).__name__}); nothing"
                " was accepted"
            ) from exc

    def discard(self, directory: str) -> None:
        """Remove an upload that will not be committed, spooled and stored parts alike.

        Never raises for the bucket: a discard runs on the way out of a failed
        upload (often a failed PUT), whose error is the one to answer; what
        stays in the bucket no packet names, and :meth:`sweep` removes it.
        """
        self._spool.discard(directory)
        try:
            for key, _ in self._list(self._upload_prefix(directory)):
                self._s3.delete_object(Bucket=self.bucket, Key=key)
        except Exception as exc:  # botocore's: the bucket does not answer
            log.warning("blob bucket: upload %s left for the sweep (%s)", directory,
                        type(exc).__name__)  # fmt: skip

    def sweep(self, referenced: set[str], *, min_age_s: float = 0) -> int:
        """Remove uploads (spooled or stored) that no packet names; how many.

        Args:
            referenced: the uploads packet rows name.
            min_age_s: spare uploads stored more recently than this (other
                nodes' uploads in flight).
        """
        removed = self._spool.sweep(set()) if self._spool.root.exists() else 0  # a crash's
        cutoff = time.time() - min_age_s
        uploads: dict[str, list[tuple[str, float]]] = {}
        root = f"{self.prefix}/" if self.prefix else ""
        for key, modified in self._list(root):
            upload = key[len(root):].split("/", 1)[0]
            uploads.setdefault(upload, []).append((key, modified))
        for upload, objects in uploads.items():
            if upload in referenced or any(m > cutoff for _, m in objects if min_age_s):
                continue
            for key, _ in objects:
                self._s3.delete_object(Bucket=self.bucket, Key=key)
            removed += 1
        return removed

    def _list(self, prefix: str) -> Iterator[tuple[str, float]]:
        """(key, last modified as a POSIX time) of every object under ``prefix``."""
        pages = self._s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        )
        for page in pages:
            for item in page.get("Contents", []):
                yield item["Key"], item["LastModified"].timestamp()

    def seal_inline(self, packet_id: str, name: str, data: bytes) -> bytes:
        return self._spool.seal_inline(packet_id, name, data)

    def write_blob(self, directory: str, packet_id: str, name: str, data: bytes) -> None:
        """Encrypt and PUT one whole blob; return once it is stored.

        Raises:
            Unavailable: the PUT failed after its retries.
        """
        body = self._key.encrypt(data, name=BlobStore._aad(packet_id, name))
        self._put(self._object(directory, name), body, hashlib.sha256(body).digest())

    # -- reading -----------------------------------------------------------

    def read(
        self, directory: str, packet_id: str, name: str, inline: bytes | None
    ) -> Iterator[bytes]:
        """Download, check the SHA-256, decrypt chunk by chunk.

        Raises:
            Invalid: the object does not match its SHA-256, or fails to decrypt.
            Unavailable: the service does not answer, or lost the object.
        """
        if inline is not None:
            yield from self._spool.read(directory, packet_id, name, inline)
            return
        key = self._object(directory, name)
        try:
            answer = self._s3.get_object(Bucket=self.bucket, Key=key)
        except Exception as exc:  # botocore's: unreachable, or the object is missing
            raise Unavailable(
                f"the blob store did not return a blob of packet {packet_id}"
                f" ({type(exc).__name__})"
            ) from exc
        expected = answer.get("Metadata", {}).get(SHA256_META)
        digest = hashlib.sha256()
        scratch = str(self._spool.root.parent)  # tmp/: on the data directory's disk
        with tempfile.SpooledTemporaryFile(READ_SPOOL_BYTES, "w+b", dir=scratch) as copy:
            body = answer["Body"]
            try:
                while chunk := body.read(DOWNLOAD_CHUNK):
                    digest.update(chunk)
                    copy.write(chunk)
            finally:
                body.close()
            if expected is None or digest.hexdigest() != expected:
                # No blob name: a part's name is the sender's file name.
                raise Invalid(f"a stored blob of packet {packet_id} fails its SHA-256 check")
            copy.seek(0)
            yield from self._key.read(cast(BinaryIO, copy), name=BlobStore._aad(packet_id, name))

    def read_all(self, directory: str, packet_id: str, name: str, inline: bytes | None) -> bytes:
        return b"".join(self.read(directory, packet_id, name, inline))
