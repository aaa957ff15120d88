"""An S3-compatible service on 127.0.0.1 for tests: moto's ThreadedMotoServer.

A real HTTP endpoint (a thread of the test process) that boto3 in the test
and in gateway processes reach as they would a bucket; :data:`S3_ENV`
gives them its dummy credentials through the standard AWS variables.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

from tests.harness import free_port

S3_ENV = {
    "AWS_ACCESS_KEY_ID": "dxg-test",
    "AWS_SECRET_ACCESS_KEY": "dxg-test-secret",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass
class S3Service:
    server: ThreadedMotoServer
    endpoint: str
    bucket: str

    def client(self) -> Any:
        return boto3.client("s3", endpoint_url=self.endpoint, **_credentials())

    def stop(self) -> None:
        self.server.stop()


def _credentials() -> dict[str, str]:
    return {
        "aws_access_key_id": S3_ENV["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": S3_ENV["AWS_SECRET_ACCESS_KEY"],
        "region_name": S3_ENV["AWS_REGION"],
    }


@contextlib.contextmanager
def s3_service(bucket: str = "dxg-blobs") -> Iterator[S3Service]:
    """A running emulator with an empty ``bucket``; this process's AWS variables set."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    saved = {k: os.environ.get(k) for k in S3_ENV}
    os.environ.update(S3_ENV)
    service = S3Service(server, f"http://127.0.0.1:{port}", bucket)
    try:
        service.client().create_bucket(Bucket=bucket)
        yield service
    finally:
        with contextlib.suppress(Exception):
            server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
