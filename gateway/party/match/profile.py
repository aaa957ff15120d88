"""A child as the matcher compares it: comparison keys instead of spellings.

A :class:`Profile` is built once per registry report and once per dossier
record (and once more with family and given name swapped, for forms filled
in the wrong columns). It holds only what comparison needs: the keys of
:mod:`gateway.protocol.names`, the Latin folds for a similarity when keys
differ, and dates as (year, month, day) with unknown parts ``None``.

Guarantees: building a profile never fails on odd input; what cannot be
read becomes unknown (``None``), which the comparison scores as missing,
never as a disagreement.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

from gateway.protocol.names import (
    fold_name,
    given_name_key,
    patronymic_key,
    place_key,
    surname_key,
)

_ISO = re.compile(r"^(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?$")
_DOTTED = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$")


@dataclass(frozen=True, slots=True)
class PartialDate:
    """A date known to the year, the month or the day.

    ``first`` and ``last`` are the ordinals (``date.toordinal``) of the
    first and last day it can be, so comparisons need no calendar work.
    """

    year: int
    month: int | None
    day: int | None
    first: int
    last: int

    @property
    def full(self) -> bool:
        return self.day is not None


def _span(year: int, month: int | None, day: int | None) -> tuple[int, int] | None:
    try:
        if month is None:
            return date(year, 1, 1).toordinal(), date(year, 12, 31).toordinal()
        if day is None:
            after = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
            return date(year, month, 1).toordinal(), after.toordinal() - 1
        ordinal = date(year, month, day).toordinal()
    except ValueError:  # 31 February, year 0
        return None
    return ordinal, ordinal


@lru_cache(maxsize=1 << 15)
def parse_date(text: str | None) -> PartialDate | None:
    """An ISO 8601 date, full or partial (``2012-03-14``, ``2012-03``, ``2012``).

    ``14.03.2012`` is accepted too. Anything else, or a day that does not
    exist (2012-02-30), is unknown (``None``).
    """
    if not text:
        return None
    text = text.strip()
    if m := _ISO.match(text):
        year, month, day = int(m[1]), m[2], m[3]
    elif m := _DOTTED.match(text):
        year, month, day = int(m[3]), m[2], m[1]
    else:
        return None
    mo = int(month) if month else None
    d = int(day) if day else None
    if (mo is not None and not 1 <= mo <= 12) or (d is not None and not 1 <= d <= 31):
        return None
    span = _span(year, mo, d)
    if span is None:
        return None
    return PartialDate(year, mo, d, *span)


@dataclass(frozen=True, slots=True)
class Profile:
    """The comparable parts of one child; every member may be unknown."""

    family_key: str | None
    family_fold: str
    given_key: str | None
    given_fold: str
    patronymic_key: str | None
    patronymic_fold: str
    sex: str | None
    birth_date: PartialDate | None
    birth_place: str | None
    displacement_date: PartialDate | None
    displacement_place: str | None

    @property
    def birth_year(self) -> int | None:
        return self.birth_date.year if self.birth_date else None

    @property
    def full_birth_date(self) -> PartialDate | None:
        return self.birth_date if self.birth_date and self.birth_date.full else None


def _sex(value: object) -> str | None:
    text = str(value or "").strip().lower()
    return text if text in ("female", "male") else None


def _text(value: object) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def build(
    *,
    family_name: str | None,
    given_name: str | None,
    patronymic: str | None,
    sex: object,
    birth_date: str | None,
    birth_place: str | None,
    displacement_date: str | None,
    displacement_place: str | None,
) -> Profile:
    """A profile from the members of SPEC §4.1 / the columns of §11."""
    return Profile(
        family_key=surname_key(family_name) if family_name else None,
        family_fold=fold_name(family_name) if family_name else "",
        given_key=given_name_key(given_name) if given_name else None,
        given_fold=fold_name(given_name) if given_name else "",
        patronymic_key=patronymic_key(patronymic) if patronymic else None,
        patronymic_fold=fold_name(patronymic) if patronymic else "",
        sex=_sex(sex),
        birth_date=parse_date(birth_date),
        birth_place=place_key(birth_place) if birth_place else None,
        displacement_date=parse_date(displacement_date),
        displacement_place=place_key(displacement_place) if displacement_place else None,
    )


def swapped(profile: Profile) -> Profile:
    """The same child with family and given name exchanged (a form filled in wrong)."""
    family = profile.given_fold
    given = profile.family_fold
    return Profile(
        family_key=surname_key(family) if family else None,
        family_fold=family,
        given_key=given_name_key(given) if given else None,
        given_fold=given,
        patronymic_key=profile.patronymic_key,
        patronymic_fold=profile.patronymic_fold,
        sex=profile.sex,
        birth_date=profile.birth_date,
        birth_place=profile.birth_place,
        displacement_date=profile.displacement_date,
        displacement_place=profile.displacement_place,
    )


def from_record(record: dict[str, Any]) -> Profile:
    """A profile from a biography record (SPEC §4.1).

    A name missing in Cyrillic is taken from the record's ``latin`` member.
    """
    latin = record.get("latin") if isinstance(record.get("latin"), dict) else {}
    assert isinstance(latin, dict)

    def name(member: str) -> str | None:
        return _text(record.get(member)) or _text(latin.get(member))

    return build(
        family_name=name("family_name"),
        given_name=name("given_name"),
        patronymic=name("patronymic"),
        sex=record.get("sex"),
        birth_date=_text(record.get("birth_date")),
        birth_place=_text(record.get("birth_place")),
        displacement_date=_text(record.get("displacement_date")),
        displacement_place=_text(record.get("displacement_place")),
    )
