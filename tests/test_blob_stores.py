"""One blob suite, run against every blob store: a directory and an S3-compatible bucket.

The bucket is moto's emulator on 127.0.0.1 (tests/s3server.py), reached over
HTTP by boto3 as a real service would be. Each test asks of both stores what
``gateway.server.blobs.Blobs`` promises: an upload reads back byte for byte
once sealed, whole blobs and inline ones too, an altered or moved blob is
refused, a discarded or unreferenced upload is gone. Then the gateway on a
bucket: a 202 only once the blobs are stored, 503 and nothing accepted when
the bucket does not answer.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.protocol.crypto.seal import CHUNK_BYTES, StorageKey
from gateway.protocol.errors import Invalid, Unavailable
from gateway.server.blobs import Blobs
from gateway.server.config import Config
from gateway.server.s3 import SHA256_META, S3BlobStore
from gateway.server.store import INLINE_MAX, BlobStore
from tests.harness import (
    GatewayProcess,
    assert_problem,
    gateway_command,
    get,
    make_packet,
    post_packet,
    run_cli,
    start_gateway,
    tiny_pdf,
    wait_ready,
)
from tests.s3server import S3_ENV, S3Service, s3_service

PACKET = "3f2b6c0e-0d7e-4c5e-9a59-3c1a1f0b7d11"
BIG = os.urandom(2 * CHUNK_BYTES + 12345)  # several encryption chunks


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Service]:
    with s3_service() as service:
        yield service


@pytest.fixture(params=["directory", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Blobs:
    key = StorageKey.create(tmp_path / "storage.key")
    if request.param == "directory":
        return BlobStore(tmp_path / "blobs", key)
    s3: S3Service = request.getfixturevalue("s3")
    prefix = tmp_path.name  # a prefix per test: one bucket for the module
    config = Config(blobs=f"s3://{s3.bucket}/{prefix}", s3_endpoint=s3.endpoint)
    return S3BlobStore.open(config, key, spool=tmp_path / "tmp" / "s3-spool")


def upload(store: Blobs, name: str, data: bytes) -> str:
    """One sealed upload holding blob ``name``, written as intake writes it."""
    directory = store.new_upload(PACKET)
    sink, writer = store.create(directory, PACKET, name)
    try:
        for i in range(0, len(data), 100_000):
            writer.write(data[i : i + 100_000])
        writer.finish()
    finally:
        sink.close()
    store.seal_upload(directory)
    return directory


def test_an_upload_reads_back_byte_for_byte(store: Blobs) -> None:
    directory = upload(store, "part-scan.pdf", BIG)
    assert store.read_all(directory, PACKET, "part-scan.pdf", None) == BIG
    assert len(list(store.read(directory, PACKET, "part-scan.pdf", None))) >= 3  # streamed


def test_a_whole_blob_and_an_inline_one_read_back(store: Blobs) -> None:
    directory = upload(store, "part-a.pdf", b"a")
    store.write_blob(directory, PACKET, "photo-1", b"\xff\xd8\xff photo")
    assert store.read_all(directory, PACKET, "photo-1", None) == b"\xff\xd8\xff photo"
    sealed = store.seal_inline(PACKET, "part-note.txt", b"small")
    assert sealed != b"small"  # encrypted for its database row
    assert store.read_all(directory, PACKET, "part-note.txt", sealed) == b"small"


def test_a_blob_read_under_another_packet_or_name_is_refused(store: Blobs) -> None:
    directory = upload(store, "part-a.pdf", b"child's dossier")
    _copy_raw(store, directory, "part-a.pdf", "part-c.pdf")
    with pytest.raises(Invalid):  # encrypted for part-a.pdf's name, not part-c.pdf's
        store.read_all(directory, PACKET, "part-c.pdf", None)
    with pytest.raises(Invalid):
        store.read_all(directory, "another-packet", "part-a.pdf", None)


def _copy_raw(store: Blobs, directory: str, source: str, target: str) -> None:
    """Copy a stored blob's bytes under another name, as an intruder at rest would."""
    if isinstance(store, S3BlobStore):
        client = store._s3
        got = client.get_object(Bucket=store.bucket, Key=store._object(directory, source))
        client.put_object(Bucket=store.bucket, Key=store._object(directory, target),
                          Body=got["Body"].read(), Metadata=got["Metadata"])  # fmt: skip
    else:
        assert isinstance(store, BlobStore)
        folder = store.root / directory
        (folder / target).write_bytes((folder / source).read_bytes())


def test_an_altered_blob_is_refused(store: Blobs) -> None:
    directory = upload(store, "part-a.pdf", BIG)
    if isinstance(store, S3BlobStore):
        client = store._s3
        key = store._object(directory, "part-a.pdf")
        got = client.get_object(Bucket=store.bucket, Key=key)
        body = bytearray(got["Body"].read())
        body[-1] ^= 1
        client.put_object(Bucket=store.bucket, Key=key, Body=bytes(body),
                          Metadata=got["Metadata"])  # fmt: skip
        with pytest.raises(Invalid, match="SHA-256"):  # before a byte is decrypted
            next(iter(store.read(directory, PACKET, "part-a.pdf", None)))
    else:
        assert isinstance(store, BlobStore)
        path = store.root / directory / "part-a.pdf"
        body = bytearray(path.read_bytes())
        body[-1] ^= 1
        path.write_bytes(bytes(body))
        with pytest.raises(Invalid):
            store.read_all(directory, PACKET, "part-a.pdf", None)


def test_discard_and_sweep_remove_what_no_packet_names(store: Blobs) -> None:
    kept = upload(store, "part-a.pdf", b"kept")
    orphan = upload(store, "part-a.pdf", b"orphan")
    discarded = upload(store, "part-a.pdf", b"discarded")
    store.discard(discarded)
    with pytest.raises((OSError, Unavailable)):
        store.read_all(discarded, PACKET, "part-a.pdf", None)
    assert store.sweep({kept}, min_age_s=3600) == 0  # young: another node's in flight
    assert store.sweep({kept}) == 1
    with pytest.raises((OSError, Unavailable)):
        store.read_all(orphan, PACKET, "part-a.pdf", None)
    assert store.read_all(kept, PACKET, "part-a.pdf", None) == b"kept"


def test_the_bucket_keeps_each_blobs_sha256(s3: S3Service, tmp_path: Path) -> None:
    store = S3BlobStore.open(
        Config(blobs=f"s3://{s3.bucket}/sha", s3_endpoint=s3.endpoint),
        StorageKey.create(tmp_path / "storage.key"),
        spool=tmp_path / "spool",
    )
    directory = upload(store, "part-a.pdf", b"x")
    head = s3.client().head_object(Bucket=s3.bucket, Key=f"sha/{directory}/part-a.pdf")
    assert len(head["Metadata"][SHA256_META]) == 64
    assert not (tmp_path / "spool" / directory).exists()  # the spool is emptied once stored


def test_a_missing_bucket_is_said_at_start(s3: S3Service, tmp_path: Path) -> None:
    with pytest.raises(Unavailable, match="bucket"):
        S3BlobStore.open(Config(blobs="s3://no-such-bucket/x", s3_endpoint=s3.endpoint),
                         StorageKey.create(tmp_path / "k"), spool=tmp_path / "spool")  # fmt: skip


def test_a_gateway_on_a_bucket_acknowledges_only_stored_blobs(tmp_path: Path) -> None:
    """``"blobs": "s3://..."``: a packet whose part is a file (past the inline
    limit) is acknowledged once its object is in the bucket and delivered byte
    for byte from it; with the bucket down, the same upload is refused 503
    (retry later) and nothing is accepted."""
    with s3_service() as s3:
        gw = start_gateway(tmp_path, {"blobs": f"s3://{s3.bucket}/gw",
                                      "s3_endpoint": s3.endpoint})  # fmt: skip
        gw.env = S3_ENV
        ua, ru = gw.add_party("ua"), gw.add_party("ru")
        gw.start()
        try:
            big = os.urandom(300 * 1024).hex().encode()  # > INLINE_MAX: a blob of its own
            packet = make_packet(ua, "ru", [("notes.txt", "text/plain", big)])
            assert post_packet(gw, ua, packet).status == 202
            listed = s3.client().list_objects_v2(Bucket=s3.bucket, Prefix="gw/")
            assert [o["Key"].rsplit("/", 1)[1] for o in listed["Contents"]] == ["part-notes.txt"]
            wait_ready(gw, ru, packet.packet_id)
            pulled = json.loads(run_cli("pull", "--gateway", gw.url, "--id", "ru", "--keys",
                                        str(ru.prefix), "--trust", str(gw.trust_file(ru)),
                                        "--out", str(tmp_path / "in")).stdout)  # fmt: skip
            (result,) = pulled
            assert (Path(result["folder"]) / "parts" / "notes.txt").read_bytes() == big

            s3.stop()  # the bucket is gone
            late = make_packet(ua, "ru", [("notes.txt", "text/plain", big)])
            assert_problem(post_packet(gw, ua, late, timeout=120), 503, "unavailable")
            assert_problem(get(gw, ua, f"/v1/packets/{late.packet_id}"), 404, "not-found")
        finally:
            gw.stop()


def test_nodes_and_a_worker_sharing_only_postgresql_and_a_bucket(
    tmp_path: Path, postgres_dsn: str
) -> None:
    """No shared directory: a serving node (its extraction off) accepts a
    packet whose PDF goes to the bucket, a ``gateway worker`` on its own copy
    of the data directory reads it from the bucket and makes the packet
    READY, and a second serving node delivers it byte for byte."""
    with s3_service() as s3:
        gw = start_gateway(tmp_path, {"database": postgres_dsn, "extraction_worker": False,
                                      "blobs": f"s3://{s3.bucket}/nodes",
                                      "s3_endpoint": s3.endpoint})  # fmt: skip
        gw.env = S3_ENV
        ua, ru = gw.add_party("ua"), gw.add_party("ru")
        copy = shutil.ignore_patterns("dxg.sqlite3*", "tmp")
        shutil.copytree(gw.root, tmp_path / "worker", ignore=copy)
        shutil.copytree(gw.root, tmp_path / "gw2", ignore=copy)
        other = GatewayProcess(root=tmp_path / "gw2", config=gw.config, env=S3_ENV)
        worker = subprocess.Popen([*gateway_command(), "worker", str(tmp_path / "worker")],
                                  env=os.environ | S3_ENV)  # fmt: skip
        try:
            gw.start()
            other.start()
            # The note fills the inline budget, so the PDF is a file: an object.
            note = b"n" * (INLINE_MAX - 100)
            pdf = tiny_pdf("from the bucket")
            packet = make_packet(ua, "ru", [("note.txt", "text/plain", note),
                                            ("dossier.pdf", "application/pdf", pdf)])  # fmt: skip
            assert post_packet(gw, ua, packet).status == 202
            listed = s3.client().list_objects_v2(Bucket=s3.bucket, Prefix="nodes/")
            assert [o["Key"].rsplit("/", 1)[1] for o in listed["Contents"]] == ["part-dossier.pdf"]
            wait_ready(other, ru, packet.packet_id)  # extracted by the worker, from the bucket
            pulled = json.loads(run_cli("pull", "--gateway", other.url, "--id", "ru", "--keys",
                                        str(ru.prefix), "--trust", str(gw.trust_file(ru)),
                                        "--out", str(tmp_path / "in")).stdout)  # fmt: skip
            (result,) = pulled
            assert (Path(result["folder"]) / "parts" / "dossier.pdf").read_bytes() == pdf
            assert (Path(result["folder"]) / "parts" / "note.txt").read_bytes() == note
            assert not (tmp_path / "gw" / "blobs").exists() or not any(
                (tmp_path / "gw" / "blobs").iterdir()
            )  # nothing on a node's disk
        finally:
            worker.terminate()
            assert worker.wait(60) == 0
            other.stop()
            gw.stop()
