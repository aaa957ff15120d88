"""The matching panel's view of the registry: candidates for a record, side by side.

The console does not score anything itself: a :class:`Matcher` gives, for a
record, the registry reports SPEC §11 finds (best first, each with its
score and per-field agreement) together with the report's own values, so
an official sees both side by side. Choosing one is the official's act.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from gateway.party import match
from gateway.party.match.linker import Linker
from gateway.party.match.profile import from_record
from gateway.party.match.registry import Report, read_registry, unique_reports

COMPARED = (
    "family_name", "given_name", "patronymic", "sex", "birth_date", "birth_place",
    "displacement_date", "displacement_place",
)


@dataclass(frozen=True, slots=True)
class Candidate:
    """One registry report proposed for a record."""

    report_id: str
    score: float
    fields: dict[str, str]  # member -> agree | close | differ | missing (SPEC §11)
    report: dict[str, str | None]  # the report's own values, for side-by-side display


class Matcher(Protocol):
    """Anything that proposes registry reports for a record."""

    def candidates(self, record: dict[str, Any]) -> list[Candidate]:
        """The candidates for ``record``, best first."""
        ...


class RegistryMatcher:
    """SPEC §11 candidates from the registry CSV, through ``gateway.party.match``.

    The registry is read once, and again when the file changes (its size or
    modification time), so officials see a registry their colleagues update.
    """

    def __init__(self, path: Path, *, threshold: float | None = None, top: int | None = None
                 ) -> None:
        self.path = path
        self.threshold = match.DEFAULT_THRESHOLD if threshold is None else threshold
        self.top = match.DEFAULT_TOP if top is None else top
        self._stamp: tuple[int, int] | None = None
        self._reports: list[Report] = []
        self._linker: Linker | None = None
        self._lock = threading.Lock()

    def _load(self) -> Linker:
        """Raises: RegistryError: the registry cannot be read (the message says why)."""
        with self._lock:
            stat = self.path.stat()
            stamp = (stat.st_mtime_ns, stat.st_size)
            if self._linker is None or stamp != self._stamp:
                reports = list(unique_reports(read_registry(self.path), self.path))
                self._linker, self._reports, self._stamp = Linker(reports), reports, stamp
            return self._linker

    def candidates(self, record: dict[str, Any]) -> list[Candidate]:
        linker = self._load()
        found = linker.match(from_record(record), threshold=self.threshold, top=self.top)
        return [
            Candidate(
                report_id=c.report_id,
                score=c.score,
                fields=dict(c.fields),
                report={m: getattr(self._reports[c.index], m) for m in COMPARED},
            )
            for c in found
        ]
