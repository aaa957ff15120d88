"""The matching panel's view of the registry: candidates for a record, side by side.

The console does not score anything itself: a :class:`Matcher` gives, for a
record, the registry reports SPEC §11 finds (best first, each with its
score and per-field agreement) together with the report's own values, so
an official sees both side by side. Choosing one is the official's act.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

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
