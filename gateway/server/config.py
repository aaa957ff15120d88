"""A gateway's data directory and its configuration.

Layout of a data directory (made by ``gateway init``)::

    config.json            settings below; no secrets
    keys/gateway.sig.jwk   the gateway's Ed25519 key, mode 0600
    keys/storage.key       the key that encrypts blobs at rest, mode 0600
    dxg.sqlite3            packets, receipts, registry, log (WAL); unless
                           ``database`` names a PostgreSQL server
    blobs/                 parts and photos, encrypted at rest (or ``blobs``:
                           a shared directory, or an s3:// bucket)
    tmp/                   plaintext scratch for extraction, mode 0700

Every setting has a default chosen for a government-grade exchange; a
config file only lists what it changes.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.protocol.errors import BadRequest
from gateway.protocol.ids import check_id
from gateway.protocol.stats import Policy
from gateway.server.sql import is_postgres

MiB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Limits:
    """Intake limits of SPEC §3 (defaults are the SPEC's)."""

    max_parts: int = 64
    max_part_bytes: int = 64 * MiB
    max_packet_bytes: int = 256 * MiB


@dataclass(frozen=True, slots=True)
class Config:
    id: str = "gw"
    origin: str = "dxg.local/receipts"
    limits: Limits = field(default_factory=Limits)
    # A packet created longer ago than this is refused (SPEC §3): a week covers
    # a sender that was offline, not a replay from last year.
    max_packet_age_s: int = 7 * 24 * 3600
    # How long a recipient has to fetch a packet before it EXPIRES (SPEC §3, §5).
    delivery_ttl_s: int = 14 * 24 * 3600
    # Extraction never blocks delivery for longer than this (SPEC §4).
    extraction_timeout_s: float = 600.0
    # Push notifications: exponential backoff with full jitter, capped.
    notify_backoff_base_s: float = 2.0
    notify_backoff_max_s: float = 600.0
    notify_timeout_s: float = 10.0
    # How often deadlines are checked.
    sweep_interval_s: float = 5.0
    # A blob store several nodes share (PostgreSQL, S3): an upload cut by a
    # node's crash is removed once it is this old (far longer than any upload:
    # 256 MiB at a slow 20 kB/s), by a sweep every running node makes this often.
    shared_sweep_min_age_s: float = 6 * 3600.0
    shared_sweep_interval_s: float = 3600.0
    # Slow clients: a request's headers arrive within this (and an idle
    # keep-alive connection closes after it); an upload never pauses longer
    # than body_idle_timeout_s; one party uploads at most this many packets at once.
    header_timeout_s: float = 15.0
    body_idle_timeout_s: float = 30.0
    max_uploads_per_party: int = 32  # a batch client sends 16 at once; twice that is abuse
    # SIGTERM: requests in flight (uploads included) get this long to finish.
    shutdown_grace_s: float = 25.0
    extractors: tuple[str, ...] = ("documents",)
    # The promise periods of SPEC §10 (days), shown in GET /v1/gateway.
    policy: Policy = field(default_factory=Policy)
    # Extractors not installed as packages (a local plugin, a test's), name ->
    # "module:factory"; they run only if ``extractors`` lists them too.
    plugins: dict[str, str] = field(default_factory=dict)
    # Where packets, receipts, the registry and the log live: None for the
    # SQLite file in the data directory, or a PostgreSQL DSN
    # ("postgresql://user@host/db"; a password belongs in ~/.pgpass, not here).
    database: str | None = None
    # The blob directory; None for blobs/ in the data directory. Several nodes
    # on one PostgreSQL database share one (a network file system).
    blobs: str | None = None
    # An S3-compatible bucket instead ("blobs": "s3://bucket/prefix", the s3
    # extra): its endpoint URL, region and credentials profile; unset, the
    # standard AWS environment variables (AWS_ENDPOINT_URL, AWS_REGION,
    # AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE) decide. No secrets here.
    s3_endpoint: str | None = None
    s3_region: str | None = None
    s3_profile: str | None = None
    # Whether ``gateway serve`` runs the extraction worker. False on serving
    # nodes that leave extraction (OCR, the heavy part) to ``gateway worker``
    # nodes of the same PostgreSQL database.
    extraction_worker: bool = True

    def __post_init__(self) -> None:
        check_id(self.id, what="the gateway id")
        if not self.origin or "\n" in self.origin:
            raise BadRequest("the log origin is one non-empty line")
        if self.database is not None and not is_postgres(self.database):
            raise BadRequest("database is a postgresql:// DSN (leave it out for SQLite)")
        if not self.extraction_worker and self.database is None:
            raise BadRequest(
                "extraction_worker false leaves extraction to gateway worker nodes, which"
                " need a PostgreSQL database: set database, or leave extraction_worker out"
            )

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Config:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(raw) - known
        if unknown:
            raise BadRequest(f"unknown configuration keys: {sorted(unknown)}")
        values = dict(raw)
        if "limits" in values:
            values["limits"] = Limits(**values["limits"])
        if "extractors" in values:
            values["extractors"] = tuple(values["extractors"])
        if "policy" in values:
            try:
                values["policy"] = Policy.from_json(values["policy"])
            except ValueError as exc:
                raise BadRequest(f"configuration policy: {exc}") from exc
        return cls(**values)


class DataDir:
    """Paths inside a gateway data directory."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def config_path(self) -> Path:
        return self.root / "config.json"

    @property
    def keys(self) -> Path:
        return self.root / "keys"

    @property
    def signing_key_path(self) -> Path:
        return self.keys / "gateway.sig.jwk"

    @property
    def storage_key_path(self) -> Path:
        return self.keys / "storage.key"

    @property
    def database(self) -> Path:
        return self.root / "dxg.sqlite3"

    @property
    def blobs(self) -> Path:
        return self.root / "blobs"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    def database_target(self, config: Config) -> Path | str:
        """The database ``config`` names: its PostgreSQL DSN, or the SQLite file here."""
        return config.database if config.database is not None else self.database

    def blobs_of(self, config: Config) -> Path:
        """The blob directory ``config`` names: a shared one, or blobs/ here.

        (An ``s3://`` bucket is opened by ``gateway.server.blobs.open_blobs``.)
        """
        return Path(config.blobs) if config.blobs is not None else self.blobs

    def load_config(self) -> Config:
        """Raises: BadRequest if the directory is not an initialised gateway."""
        try:
            raw = json.loads(self.config_path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise BadRequest(
                f"{self.root} is not a gateway data directory (run gateway init)"
            ) from exc
        return Config.from_json(raw)

    def save_config(self, config: Config) -> None:
        tmp = self.config_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(config.to_json(), indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, self.config_path)
