"""Field-by-field comparison of two profiles and the Fellegi–Sunter score.

Each member of SPEC §11's ``fields`` gets a level: ``agree`` (same key),
``close`` (a near spelling, or a date off by a day, with day and month
swapped, or known to fewer parts), ``differ``, or ``missing`` (unknown on
either side). Each level carries a weight log2(m/u): m is how often the
level occurs when the two are the same child, u how often when they are
not. They are set by hand from estimates, not learned (a registry has no
labels): a full birth date agrees for ~85 % of true pairs and ~1 in 3,000
unrelated children born over 17 years, log2(0.85/0.0003) ≈ 11.5; a given
name agrees for ~90 % of true pairs and ~1 in 50 unrelated ones, ≈ 5.5.
They were then checked on the development seed of
``bench/match_corpus.py``; the held-out seed never tuned them.

The score is the posterior probability of "same child" from the summed
weights and a prior (:data:`PRIOR_LOG2_ODDS`), with one rule outside
Fellegi–Sunter, because its independence assumption fails exactly on the
cases that hurt most: a given name, a birth date or the sex that *differs*
(siblings, twins, namesakes born years apart) caps the score at
:data:`VETO_CAP`, below any threshold the tool offers. A wrong match sends
a child to the wrong family; a missed one waits for an official's search.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

from rapidfuzz.distance import JaroWinkler

from gateway.party.match.profile import PartialDate, Profile, parse_date
from gateway.protocol.names.keys import NEAR_MIN_LETTERS, UNKNOWN_PREFIX, one_edit_from

Level = Literal["agree", "close", "differ", "missing"]
FIELDS = (
    "family_name", "given_name", "patronymic", "sex", "birth_date", "birth_place",
    "displacement_date", "displacement_place",
)  # fmt: skip

CLOSE_NAME = 0.88  # Jaro–Winkler of folds at or above this is a near spelling (OCR, typos)
PRIOR_LOG2_ODDS = -14.0  # ~1 in 16,000: a report drawn at random from a blocked candidate set
VETO_CAP = 0.05  # the highest score of a pair whose given name, birth date or sex differs

# log2(m/u) per field and kind of evidence; the kind before "_" is the level
# SPEC §11 shows ("close_year" is shown as "close"); missing is no evidence.
WEIGHTS: dict[str, dict[str, float]] = {
    "family_name": {"agree": 9.0, "close": 4.0, "differ": -10.0},
    "given_name": {"agree": 5.5, "close": 2.5, "differ": -6.0},
    "patronymic": {"agree": 4.5, "close": 2.0, "differ": -4.0},
    "sex": {"agree": 0.9, "differ": -4.0},
    "birth_date": {"agree": 11.5, "close_near": 6.5, "close_month": 5.0, "close_year": 2.5,
                   "differ": -6.0},
    "birth_place": {"agree": 4.0, "close": 1.5, "differ": -2.0},
    "displacement_date": {"agree": 3.0, "close_near": 1.5, "close_month": 1.5,
                          "close_year": 0.5, "differ": -0.5},
    "displacement_place": {"agree": 2.0, "close": 1.0, "differ": -0.5},
}  # fmt: skip
VETO_FIELDS = ("sex", "birth_date", "given_name")  # cheapest check first
TABLED = ("g:", "p:")  # key prefixes of names the tables know (gateway.protocol.names.keys)


def _name(key_a: str | None, key_b: str | None, fold_a: str, fold_b: str) -> Level:
    """Keys equal: agree. Two names both in the tables but different: differ,
    however alike they look (Олександр and Олександра are twins, not a typo).
    Otherwise a near fold is close."""
    if key_a is None or key_b is None:
        return "missing"
    if key_a == key_b:
        return "agree"
    if key_a.startswith(TABLED) and key_b.startswith(TABLED):
        return "differ"
    if fold_a and fold_b and JaroWinkler.normalized_similarity(fold_a, fold_b) >= CLOSE_NAME:
        return "close"
    return "differ"


def _given(key_a: str | None, key_b: str | None, fold_a: str, fold_b: str) -> str:
    """As :func:`_name`, and an unknown spelling one edit away from any form
    of a known name is close: OCR reads и as н or drops a letter (Ирииа,
    Юрнй, Фдор for Ирина, Юрій, Федор)."""
    level = _name(key_a, key_b, fold_a, fold_b)
    if level != "differ" or key_a is None or key_b is None:
        return level
    for known, other, fold in ((key_a, key_b, fold_b), (key_b, key_a, fold_a)):
        if (known.startswith(TABLED) and other.startswith(UNKNOWN_PREFIX)
                and len(fold) >= NEAR_MIN_LETTERS and one_edit_from(known, fold)):  # fmt: skip
            return "close"
    return level


def date_evidence(a: PartialDate | None, b: PartialDate | None) -> str:
    """The kind of evidence two dates give (a key of :data:`WEIGHTS`).

    ``agree``: equal and full. ``close_near``: one is a misreading of the
    other (a day apart, day and month swapped, the year off by one).
    ``close_month`` / ``close_year``: consistent, but one is known only to
    the month or the year (the less is known, the less it weighs).
    """
    if a is None or b is None:
        return "missing"
    if a.first == b.first and a.last == b.last:
        return "agree" if a.full else "close_month" if a.month else "close_year"
    gap = max(a.first, b.first) - min(a.last, b.last)
    if gap <= 0:  # consistent: one lies within the other
        return "close_month" if max(a.last - a.first, b.last - b.first) < 31 else "close_year"
    if gap == 1:
        return "close_near"
    if a.full and b.full and (a.month, a.day) == (b.month, b.day) and abs(a.year - b.year) == 1:
        return "close_near"
    for full, other in ((a, b), (b, a)):
        swapped = _day_month_swapped(full)
        if swapped and max(swapped.first, other.first) <= min(swapped.last, other.last):
            return "close_near"  # 2016-01-11 written for 2016-11-01, or for 2016-11
    return "differ"


def _day_month_swapped(d: PartialDate) -> PartialDate | None:
    """The full date with day and month exchanged, when that is a date."""
    if d.day is None or d.month is None or d.day > 12 or d.day == d.month:
        return None
    return parse_date(f"{d.year:04d}-{d.day:02d}-{d.month:02d}")


def compare_dates(a: PartialDate | None, b: PartialDate | None) -> Level:
    """The SPEC §11 level of two dates (see :func:`date_evidence`)."""
    return _level(date_evidence(a, b))


def _level(evidence: str) -> Level:
    level = evidence.split("_", 1)[0]
    assert level in ("agree", "close", "differ", "missing")
    return level  # type: ignore[return-value]


def _equal(a: str | None, b: str | None) -> Level:
    if a is None or b is None:
        return "missing"
    return "agree" if a == b else "differ"


def _bare(key: str) -> str:
    """A place key without its table or unknown prefix, for a similarity."""
    return key.removeprefix("l:").removeprefix("~")


def _place(a: str | None, b: str | None) -> Level:
    if a is None or b is None:
        return "missing"
    if a == b:
        return "agree"
    if JaroWinkler.normalized_similarity(_bare(a), _bare(b)) >= CLOSE_NAME:
        return "close"
    return "differ"


_COMPARATORS: dict[str, Callable[[Profile, Profile], str]] = {
    "family_name": lambda r, q: _name(r.family_key, q.family_key, r.family_fold, q.family_fold),
    "given_name": lambda r, q: _given(r.given_key, q.given_key, r.given_fold, q.given_fold),
    "patronymic": lambda r, q: _name(
        r.patronymic_key, q.patronymic_key, r.patronymic_fold, q.patronymic_fold
    ),
    "sex": lambda r, q: _equal(r.sex, q.sex),
    "birth_date": lambda r, q: date_evidence(r.birth_date, q.birth_date),
    "birth_place": lambda r, q: _place(r.birth_place, q.birth_place),
    "displacement_date": lambda r, q: date_evidence(r.displacement_date, q.displacement_date),
    "displacement_place": lambda r, q: _place(r.displacement_place, q.displacement_place),
}


def compare(record: Profile, report: Profile) -> dict[str, str]:
    """The evidence of every field of SPEC §11, in :data:`FIELDS` order.

    Values are keys of :data:`WEIGHTS` (or ``missing``); :func:`levels`
    turns them into the four levels SPEC §11 shows.
    """
    return {name: _COMPARATORS[name](record, report) for name in FIELDS}


def vetoed_either_way(record: Profile, report: Profile) -> bool:
    """Whether sex or birth date differs: vetoed whichever way the names are read."""
    if record.sex and report.sex and record.sex != report.sex:
        return True
    return date_evidence(record.birth_date, report.birth_date) == "differ"


def given_vetoed(record: Profile, report: Profile) -> bool:
    """Whether the given name differs (vetoed as the names are read here)."""
    given = _given(record.given_key, report.given_key, record.given_fold, report.given_fold)
    return given == "differ"


def vetoed(record: Profile, report: Profile) -> bool:
    """Whether a veto field differs, so that :func:`score` is at most :data:`VETO_CAP`.

    Cheaper than :func:`compare`; the linker skips such pairs whenever the
    threshold is above the cap.
    """
    return vetoed_either_way(record, report) or given_vetoed(record, report)


def levels(evidence: dict[str, str]) -> dict[str, Level]:
    """The SPEC §11 level (agree/close/differ/missing) of each field."""
    return {name: _level(kind) for name, kind in evidence.items()}


def score(evidence: dict[str, str]) -> float:
    """The probability that two profiles with this evidence are the same child."""
    total = PRIOR_LOG2_ODDS + sum(WEIGHTS[f].get(kind, 0.0) for f, kind in evidence.items())
    probability = 1.0 / (1.0 + math.pow(2.0, -total))
    if any(evidence[f] == "differ" for f in VETO_FIELDS):
        probability = min(probability, VETO_CAP)
    return probability
