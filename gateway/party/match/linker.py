"""Finding a record's candidate reports without comparing it to every report.

Blocking: each report is filed under a few compound keys (surname and given
name; given name and full birth date; surname and full birth date; given
name, patronymic and birth year; surname and patronymic; surname and birth
year; given name and birth year; patronymic and full birth date; the first
four letters of the surname's fold with the given name, and with the birth
year). A record is
compared only with the reports that share at least one key with it, or
one of :data:`SWAPPED_KEYS` with its family and given name exchanged. Each key tolerates a
different error: a misread surname still meets its report through the
given name and date, a wrong date through the three names, and so on; a
child whose surname *and* date are both wrong may be missed (measured per
error class by ``bench/match.py``).

Guarantees: candidates are scored by :func:`gateway.party.match.compare.score`,
best first, ties broken by report order; the result does not depend on the
order in which blocks were visited.
"""

from __future__ import annotations

import multiprocessing
from collections import defaultdict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass

from gateway.party.match.compare import (
    VETO_CAP,
    Level,
    compare,
    given_vetoed,
    levels,
    score,
    vetoed_either_way,
)
from gateway.party.match.profile import Profile, swapped
from gateway.party.match.profile import build as build_profile
from gateway.party.match.registry import Report

MAX_BLOCK = 5000  # a key shared by more reports than this identifies no one; others still do
SWAPPED_KEYS = frozenset({"fg", "fd", "fp", "gd", "gpy", "f4g"})  # not the broad per-year keys
WORKERS = 2  # processes scoring records: the two cores of the machines DXG runs on
PARALLEL_MIN_RECORDS = 1000  # below this, starting processes costs more than it saves

# The linker and records a forked worker scores: set before the pool forks,
# inherited by the workers, never sent through a pipe.
_SHARED: tuple[Linker, Sequence[Profile], float, int] | None = None


@dataclass(frozen=True, slots=True)
class Candidate:
    """One report that may be the record's child, with its explanation."""

    report_id: str
    score: float
    fields: dict[str, Level]
    index: int


def block_keys(p: Profile) -> list[Hashable]:
    """The blocking keys of a profile (those with an unknown part are left out)."""
    fam, giv, pat = p.family_key, p.given_key, p.patronymic_key
    full, year = p.full_birth_date, p.birth_year
    dob = full.first if full else None  # the ordinal hashes faster than the date object
    keys: list[Hashable] = []
    if fam and giv:
        keys.append(("fg", fam, giv))
    if giv and dob:
        keys.append(("gd", giv, dob))
    if fam and dob:
        keys.append(("fd", fam, dob))
    if giv and pat and year:
        keys.append(("gpy", giv, pat, year))
    if fam and pat:
        keys.append(("fp", fam, pat))
    if fam and year:
        keys.append(("fy", fam, year))
    if giv and year:
        keys.append(("gy", giv, year))
    if pat and dob:
        keys.append(("pd", pat, dob))
    if len(p.family_fold) >= 4:
        if giv:
            keys.append(("f4g", p.family_fold[:4], giv))
        if year:
            keys.append(("f4y", p.family_fold[:4], year))
    return keys


def report_profile(report: Report) -> Profile:
    """The profile of a registry row."""
    return build_profile(
        family_name=report.family_name,
        given_name=report.given_name,
        patronymic=report.patronymic,
        sex=report.sex,
        birth_date=report.birth_date,
        birth_place=report.birth_place,
        displacement_date=report.displacement_date,
        displacement_place=report.displacement_place,
    )


class Linker:
    """The registry, indexed for blocking; answers one record at a time."""

    def __init__(self, reports: Iterable[Report]) -> None:
        self.report_ids: list[str] = []
        self.profiles: list[Profile] = []
        self._blocks: dict[Hashable, list[int]] = defaultdict(list)
        for report in reports:
            index = len(self.report_ids)
            profile = report_profile(report)
            self.report_ids.append(report.report_id)
            self.profiles.append(profile)
            for key in block_keys(profile):
                self._blocks[key].append(index)

    @property
    def rows(self) -> int:
        return len(self.report_ids)

    def _found(self, profile: Profile) -> set[int]:
        found: set[int] = set()
        for key in block_keys(profile):
            block = self._blocks.get(key)
            if block and len(block) <= MAX_BLOCK:
                found.update(block)
        return found

    def _found_exchanged(self, alternative: Profile) -> set[int]:
        """Reports found by the surname-bearing keys of the swapped profile only:
        the other keys would find the given name's crowd (every Олександр born
        that year), not the child whose names were put in the wrong columns."""
        found: set[int] = set()
        for key in block_keys(alternative):
            if key[0] in SWAPPED_KEYS:  # type: ignore[index]
                block = self._blocks.get(key)
                if block and len(block) <= MAX_BLOCK:
                    found.update(block)
        return found

    def candidates(self, record: Profile) -> set[int]:
        """Indexes of the reports sharing a blocking key with the record or its swap."""
        return self._found(record) | self._found_exchanged(swapped(record))

    def match(self, record: Profile, *, threshold: float, top: int) -> list[Candidate]:
        """The best ``top`` reports scoring at least ``threshold``, best first.

        Each candidate is compared as written and with family and given name
        exchanged; the better comparison counts.
        """
        alternative = swapped(record)
        skip_vetoed = threshold > VETO_CAP  # a vetoed pair could not reach the threshold
        scored: list[Candidate] = []
        for index in self.candidates(record):
            report = self.profiles[index]
            if skip_vetoed and vetoed_either_way(record, report):
                continue
            best: tuple[float, dict[str, str]] | None = None
            for profile in (record, alternative):
                if skip_vetoed and given_vetoed(profile, report):
                    continue
                evidence = compare(profile, report)
                value = score(evidence)
                if best is None or value > best[0]:
                    best = (value, evidence)
            if best is not None and best[0] >= threshold:
                fields = levels(best[1])
                scored.append(Candidate(self.report_ids[index], best[0], fields, index))
        scored.sort(key=lambda c: (-c.score, c.index))
        return scored[:top]

    def match_all(
        self, records: Sequence[Profile], *, threshold: float, top: int, workers: int = WORKERS
    ) -> list[list[Candidate]]:
        """:meth:`match` for every record, in order; in ``workers`` forked processes.

        The result is the same as the sequential one (a test holds it).
        Where ``fork`` is unavailable, or for few records, it runs here.
        """
        global _SHARED  # noqa: PLW0603 - handed to forked workers, see _SHARED
        if (
            workers <= 1
            or len(records) < PARALLEL_MIN_RECORDS
            or "fork" not in multiprocessing.get_all_start_methods()
        ):
            return [self.match(r, threshold=threshold, top=top) for r in records]
        step = -(-len(records) // (workers * 4))  # a few chunks per worker evens out the load
        chunks = [(i, min(i + step, len(records))) for i in range(0, len(records), step)]
        _SHARED = (self, records, threshold, top)
        try:
            with multiprocessing.get_context("fork").Pool(workers) as pool:
                parts = pool.map(_match_chunk, chunks)
        finally:
            _SHARED = None
        return [found for part in parts for found in part]


def _match_chunk(bounds: tuple[int, int]) -> list[list[Candidate]]:
    assert _SHARED is not None
    linker, records, threshold, top = _SHARED
    return [linker.match(r, threshold=threshold, top=top) for r in records[bounds[0]:bounds[1]]]
