"""The console's dealings with the gateway: it pulls, and it sends what officials decided.

The console is a party like any other: it signs its requests with the
party's key (``gateway.party.client``), pulls and verifies deliveries
exactly as ``gateway pull`` does (``gateway.party.pull.Puller``, into
``DIR/inbox``), every :data:`PULL_INTERVAL_S` and whenever an official asks.
A failed pull is reported on the screens and in the server log by its
error class and detail only (details never hold personal data, SPEC §8).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from gateway.party.client import Client
from gateway.party.pull import Puller
from gateway.protocol.clock import now
from gateway.protocol.errors import DXGError

PULL_INTERVAL_S = 5.0  # new dossiers appear within seconds; each pull costs one signed GET
log = logging.getLogger("gateway.console")


@dataclass(frozen=True, slots=True)
class PullStatus:
    """What the last pull did, for the screens."""

    at: datetime | None = None
    pulled: int = 0
    rejected: int = 0
    error: str | None = None


class Office:
    """One party's connection to its gateway, shared by every official's session."""

    def __init__(self, client: Client, inbox: Path, *, interval_s: float = PULL_INTERVAL_S) -> None:
        self.client = client
        self.inbox = inbox
        self.interval_s = interval_s
        self.status = PullStatus()
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._pulls = 0

    @property
    def party_id(self) -> str:
        return self.client.identity.party_id

    async def pull_now(self) -> PullStatus:
        """Pull every READY delivery now (one pull at a time); the new status."""
        async with self._lock:
            try:
                results = await Puller(self.client).pull(self.inbox)
            except DXGError as err:
                log.warning("pull failed: %s: %s", type(err).__name__, err.detail)
                self.status = PullStatus(now(), 0, 0, err.detail)
            else:
                rejected = sum(1 for r in results if r.level != "DELIVERED")
                if results:
                    log.info("pulled %d packets, %d rejected", len(results), rejected)
                self.status = PullStatus(now(), len(results) - rejected, rejected, None)
            self._pulls += 1
            return self.status

    async def run(self) -> None:
        """Pull every ``interval_s`` and whenever :meth:`wake` is called, until cancelled."""
        while True:
            await self.pull_now()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval_s)
            self._wake.clear()

    def wake(self) -> None:
        self._wake.set()
