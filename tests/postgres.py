"""A real PostgreSQL server for tests: a throwaway cluster, one fresh database per test.

:class:`PostgresServer` runs ``initdb`` and ``pg_ctl`` (PostgreSQL 15, the
Debian package's ``/usr/lib/postgresql/<v>/bin``) in a temporary directory
on a free loopback port, as the ``postgres`` user when the tests run as
root (the server refuses to run as root). With ``DXG_TEST_POSTGRES_DSN``
set, the tests use that server instead (its user must be allowed to
``CREATE DATABASE``).

A missing PostgreSQL is a skip on a developer's machine and a failure in
CI (``CI`` set): ``.ci/run`` installs and starts one, so no PostgreSQL test
is ever skipped there.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.harness import GatewayProcess, free_port, run_cli

DSN_ENV = "DXG_TEST_POSTGRES_DSN"
START_TIMEOUT_S = 60


def _bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def unavailable(reason: str) -> None:
    """Skip, or fail in CI, where a missing server is a broken set-up.

    Raises:
        pytest.fail.Exception: in CI.
        pytest.skip.Exception: elsewhere.
    """
    if os.environ.get("CI"):
        pytest.fail(f"PostgreSQL is required in CI: {reason}")
    pytest.skip(f"no PostgreSQL: {reason} (apt-get install postgresql, or set {DSN_ENV})")


class PostgresServer:
    """One PostgreSQL server the tests may make databases on."""

    def __init__(self, admin_dsn: str, stop: list[str] | None, workdir: Path | None) -> None:
        self.admin_dsn = admin_dsn
        self._stop = stop
        self._workdir = workdir

    @classmethod
    def start(cls) -> PostgresServer:
        """The server of ``DXG_TEST_POSTGRES_DSN``, or a new throwaway cluster."""
        if os.environ.get(DSN_ENV):
            return cls(os.environ[DSN_ENV], None, None)
        bindir = _bin_dir()
        if bindir is None:
            unavailable("no /usr/lib/postgresql/*/bin/initdb")
            raise AssertionError("unreachable")
        workdir = Path(tempfile.mkdtemp(prefix="dxg-pg-"))
        as_postgres: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(workdir, "postgres")
            as_postgres = ["runuser", "-u", "postgres", "--"]
        data, port = workdir / "data", free_port()
        subprocess.run(
            [*as_postgres, str(bindir / "initdb"), "-D", str(data), "-A", "trust",
             "-U", "postgres", "-E", "UTF8", "--no-sync"],
            check=True, capture_output=True, timeout=START_TIMEOUT_S,
        )  # fmt: skip
        options = f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1 -c max_connections=200"
        subprocess.run(
            [*as_postgres, str(bindir / "pg_ctl"), "-D", str(data), "-o", options,
             "-l", str(workdir / "server.log"), "-w", "-t", str(START_TIMEOUT_S), "start"],
            check=True, capture_output=True, timeout=START_TIMEOUT_S + 5,
        )  # fmt: skip
        stop = [*as_postgres, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]
        return cls(f"postgresql://postgres@127.0.0.1:{port}/postgres", stop, workdir)

    @contextlib.contextmanager
    def database(self) -> Iterator[str]:
        """A fresh, empty database for one test; its DSN. Dropped afterwards."""
        name = f"dxg_{secrets.token_hex(6)}"
        with psycopg.connect(self.admin_dsn, autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {name}")
        base = self.admin_dsn.rsplit("/", 1)[0]
        try:
            yield f"{base}/{name}"
        finally:
            with psycopg.connect(self.admin_dsn, autocommit=True) as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def close(self) -> None:
        if self._stop is not None:
            subprocess.run(self._stop, capture_output=True, timeout=START_TIMEOUT_S, check=False)
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)


def move_to_postgres(gw: GatewayProcess, dsn: str, dump: Path) -> tuple[Any, Any]:
    """``gateway export`` a stopped SQLite gateway to ``dump``, point its
    config at ``dsn`` and ``gateway import`` it there: what each command printed."""
    exported = json.loads(run_cli("export", str(gw.root), str(dump)).stdout)
    config = json.loads((gw.root / "config.json").read_text())
    (gw.root / "config.json").write_text(json.dumps(config | {"database": dsn}))
    imported = json.loads(run_cli("import", str(gw.root), str(dump)).stdout)
    return exported, imported

