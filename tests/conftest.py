"""Shared set-ups: a real gateway process with two parties and a monitor."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.harness import GatewayProcess, Party, start_gateway
from tests.postgres import PostgresServer


@dataclass
class Exchange:
    gw: GatewayProcess
    ua: Party
    ru: Party
    mon: Party


@contextlib.contextmanager
def running_exchange(tmp: Path, config: Mapping[str, Any] | None = None) -> Iterator[Exchange]:
    """A gateway process in ``tmp`` with parties ``ua``, ``ru`` and monitor ``mon``."""
    gw = start_gateway(tmp, config)
    ua, ru = gw.add_party("ua"), gw.add_party("ru")
    mon = gw.add_party("mon", role="monitor")
    gw.start()
    try:
        yield Exchange(gw, ua, ru, mon)
    finally:
        gw.stop()


@pytest.fixture
def exchange(tmp_path: Path) -> Iterator[Exchange]:
    """A running gateway with parties ``ua`` and ``ru`` and monitor ``mon``."""
    with running_exchange(tmp_path) as ex:
        yield ex


@pytest.fixture(scope="module")
def shared_exchange(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exchange]:
    """Like ``exchange``, but one gateway for a whole module, for tests whose
    packets and parties do not interfere (each test makes its own)."""
    with running_exchange(tmp_path_factory.mktemp("shared")) as ex:
        yield ex


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the whole session (see tests/postgres.py)."""
    server = PostgresServer.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def postgres_dsn(postgres_server: PostgresServer) -> Iterator[str]:
    """The DSN of a fresh, empty PostgreSQL database for one test."""
    with postgres_server.database() as dsn:
        yield dsn


@pytest.fixture(params=["sqlite", "postgresql"])
def database_target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path | str]:
    """Each storage test twice: on a SQLite file, and on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield tmp_path / "dxg.sqlite3"
    else:
        yield request.getfixturevalue("postgres_dsn")
