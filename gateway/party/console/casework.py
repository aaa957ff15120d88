"""Sending what officials decided: the one place the console signs case events.

:class:`CaseWork` is what the screens need from the gateway's case
protocol (SPEC §10); the console's routes call only this.
"""

from __future__ import annotations

from typing import Protocol

from gateway.party.console.decisions import Decision


class CaseWork(Protocol):
    """The console's dealings with cases at the gateway."""

    async def send_decision(self, decision: Decision) -> Decision:
        """Sign and send a confirmed decision: the verification packet, then the event.

        Returns the decision with its new state (``sent`` or ``failed`` with
        the error), never raising for the gateway's refusal.
        """
        ...
