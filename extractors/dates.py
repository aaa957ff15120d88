
"""Dates as forms write them, and ages counted from them.

A :class:`PartialDate` is a calendar date known to the day, the month or
only the year, written in ISO 8601 at exactly that precision (``2012-03-14``,
``2012-03``, ``2012``). :func:`parse_date` reads the forms of SPEC §4 —
``14.03.2012``, ``2012-03-14``, ``14 березня 2012``, ``14 марта 2012 г.``,
``14 March 2012`` — and their partial forms (``2012-03``, ``03.2012``,
``березень 2012``, ``March 2012``, ``2012``).

Invariants (never guess):
- a text that is not wholly one of these forms gives ``None``;
- a two-digit year gives ``None`` (which century?);
- ``a/b/yyyy`` is read only where the order is certain: one of ``a``, ``b``
  is over 12, or both are equal; ``03/04/2012`` gives ``None``;
- dotted and textual forms are day-month-year (``14.03 2012``, its last dot
  lost to OCR, too), the order of uk, ru and most
  en forms; ``March 14, 2012`` is read too, it has only one reading;
- years outside 1900–2100 give ``None``: on these forms they are misreads.

Ages (:func:`age`) are whole years: a birthday counts from its own day, and
someone born on 29 February turns a year older on 1 March in common years.
For a partial date every day it may stand for is considered; an age is given
only when all of them give the same answer, otherwise ``None``. So born
``2012-03`` is 14 on 2026-04-01 but unknown on 2026-03-15.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date

MIN_YEAR = 1900  # older dates on a child's form are misreads
MAX_YEAR = 2100  # likewise newer ones
ADULT_AGE = 18  # the age SPEC §4.1's turned_18_since_displacement refers to

_UK_MONTHS = (
    ("січень", "січня", "січні"),
    ("лютий", "лютого", "лютому"),
    ("березень", "березня", "березні"),
    ("квітень", "квітня", "квітні"),
    ("травень", "травня", "травні"),
    ("червень", "червня", "червні"),
    ("липень", "липня", "липні"),
    ("серпень", "серпня", "серпні"),
    ("вересень", "вересня", "вересні"),
    ("жовтень", "жовтня", "жовтні"),
    ("листопад", "листопада", "листопаді"),
    ("грудень", "грудня", "грудні"),
)
_RU_MONTHS = (
    ("январь", "января", "январе"),
    ("февраль", "февраля", "феврале"),
    ("март", "марта", "марте"),
    ("апрель", "апреля", "апреле"),
    ("май", "мая", "мае"),
    ("июнь", "июня", "июне"),
    ("июль", "июля", "июле"),
    ("август", "августа", "августе"),
    ("сентябрь", "сентября", "сентябре"),
    ("октябрь", "октября", "октябре"),
    ("ноябрь", "ноября", "ноябре"),
    ("декабрь", "декабря", "декабре"),
)
_EN_MONTHS = (
    ("january", "jan"),
    ("february", "feb"),
    ("march", "mar"),
    ("april", "apr"),
    ("may",),
    ("june", "jun"),
    ("july", "jul"),
    ("august", "aug"),
    ("september", "sep", "sept"),
    ("october", "oct"),
    ("november", "nov"),
    ("december", "dec"),
)
MONTHS: dict[str, int] = {
    name: number
    for table in (_UK_MONTHS, _RU_MONTHS, _EN_MONTHS)
    for number, names in enumerate(table, start=1)
    for name in names
}

# Look-alike Latin letters OCR puts into Cyrillic month names, and back.
_TO_CYRILLIC = str.maketrans("aceiopxyk", "асеіорхук")
_TO_LATIN = str.maketrans("асеіорхук", "aceiopxyk")

# "р." / "року" (uk), "г." / "года" (ru) after a year; "y." rarely in en.
_YEAR_WORD = r"(?:\s*(?:р\.?|року|рік|г\.?|года|год|y\.?))?"
# The second dot may be read as a space ("30.11 2022"): two dots' worth of
# day and month before a four-digit year can be nothing else.
_NUMERIC_DMY = re.compile(r"(\d{1,2})\.(\d{1,2})(?:\.|\.?\s+)(\d{4})" + _YEAR_WORD,
                          re.IGNORECASE)
_NUMERIC_MY = re.compile(r"(\d{1,2})\.(\d{4})" + _YEAR_WORD, re.IGNORECASE)
_SLASHED = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})", re.IGNORECASE)
_ISO = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?", re.IGNORECASE)
_YEAR = re.compile(r"(\d{4})" + _YEAR_WORD, re.IGNORECASE)
_WORDY_DMY = re.compile(r"(\d{1,2})\s+([^\W\d_]+)\.?,?\s+(\d{4})" + _YEAR_WORD, re.IGNORECASE)
_WORDY_MDY = re.compile(r"([^\W\d_]+)\.?\s+(\d{1,2}),?\s+(\d{4})", re.IGNORECASE)
_WORDY_MY = re.compile(r"(?:(?:у|в|in)\s+)?([^\W\d_]+)\.?,?\s+(\d{4})" + _YEAR_WORD, re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class PartialDate:
    """A calendar date known to the day, the month, or the year only.

    Raises:
        ValueError: on construction, if it is not a real date in range, or a
            day is given without a month.
    """

    year: int
    month: int | None = None
    day: int | None = None

    def __post_init__(self) -> None:
        if not MIN_YEAR <= self.year <= MAX_YEAR:
            raise ValueError("year out of range")
        if self.month is None:
            if self.day is not None:
                raise ValueError("a day needs a month")
            return
        if not 1 <= self.month <= 12:
            raise ValueError("month out of range")
        if self.day is not None:
            date(self.year, self.month, self.day)  # raises on 2012-02-30

    @property
    def precision(self) -> str:
        """``"day"``, ``"month"`` or ``"year"``."""
        if self.day is not None:
            return "day"
        return "month" if self.month is not None else "year"

    def iso(self) -> str:
        """ISO 8601 at the known precision: ``2012-03-14``, ``2012-03``, ``2012``."""
        text = f"{self.year:04d}"
        if self.month is not None:
            text += f"-{self.month:02d}"
            if self.day is not None:
                text += f"-{self.day:02d}"
        return text

    def earliest(self) -> date:
        """The first day this date may stand for."""
        return date(self.year, self.month or 1, self.day or 1)

    def latest(self) -> date:
        """The last day this date may stand for."""
        month = self.month or 12
        day = self.day or calendar.monthrange(self.year, month)[1]
        return date(self.year, month, day)

    @classmethod
    def from_iso(cls, text: str) -> PartialDate:
        """Read ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``.

        Raises:
            ValueError: ``text`` is not one of these, or not a real date.
        """
        match = _ISO.fullmatch(text)
        if match is None:
            raise ValueError("not an ISO 8601 date")
        year, month, day = match.groups()
        return cls(int(year), int(month) if month else None, int(day) if day else None)


def month_number(word: str) -> int | None:
    """The month ``word`` names (any case, a full stop after it, Latin look-alikes in a
    Cyrillic name or the reverse), or ``None``."""
    word = word.lower().rstrip(".")
    found = MONTHS.get(word)
    if found is None:
        found = MONTHS.get(word.translate(_TO_CYRILLIC)) or MONTHS.get(word.translate(_TO_LATIN))
    return found


def _make(year: str, month: int | str | None = None, day: str | None = None) -> PartialDate | None:
    try:
        return PartialDate(
            int(year),
            int(month) if month is not None else None,
            int(day) if day is not None else None,
        )
    except ValueError:
        return None


def parse_date(text: str) -> PartialDate | None:
    """Read a date the way uk, ru or en forms write it.

    Returns:
        The date at the precision the text gives, or ``None`` when the text
        is not wholly a date in one of the known forms, or is ambiguous.
    """
    text = " ".join(text.split()).strip(" ,;")
    if not text:
        return None
    if match := _NUMERIC_DMY.fullmatch(text):
        day, month, year = match.groups()
        return _make(year, month, day)
    if match := _ISO.fullmatch(text):
        year, month, day = match.groups()
        return _make(year, month, day)
    if match := _NUMERIC_MY.fullmatch(text):
        month, year = match.groups()
        return _make(year, month)
    if match := _YEAR.fullmatch(text):
        return _make(match.group(1))
    if match := _SLASHED.fullmatch(text):
        first, second, year = (int(g) for g in match.groups())
        if first > 12 >= second or first == second:
            return _make(str(year), second, str(first))
        if second > 12 >= first:
            return _make(str(year), first, str(second))
        return None
    if match := _WORDY_DMY.fullmatch(text):
        day, word, year = match.groups()
        number = month_number(word)
        return _make(year, number, day) if number else None
    if match := _WORDY_MDY.fullmatch(text):
        word, day, year = match.groups()
        number = month_number(word)
        return _make(year, number, day) if number else None
    if match := _WORDY_MY.fullmatch(text):
        word, year = match.groups()
        number = month_number(word)
        return _make(year, number) if number else None
    return None


def _years_between(born: date, on: date) -> int:
    # Feb 29 birthdays compare as (2, 29) > (2, 28): a year older on 1 March.
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def whole_years(born: PartialDate, first: date, last: date | None = None) -> int | None:
    """Whole years from ``born`` to a day in ``first``..``last``, if determined.

    Args:
        born: the birth date, at any precision.
        first: the day the age is counted to, or the first of the days it may be.
        last: the last of the days it may be; ``first`` when not given.

    Returns:
        The age, if every birth day and every counting day in range give the
        same one; ``None`` otherwise, or if a counting day precedes a birth day.
    """
    last = last or first
    youngest = _years_between(born.latest(), first)
    oldest = _years_between(born.earliest(), last)
    if youngest != oldest or first < born.latest():
        return None
    return youngest


@dataclass(frozen=True, slots=True)
class Age:
    """SPEC §4.1 ``age``: ``None`` wherever the dates do not determine it."""

    years: int | None
    at_displacement: int | None
    turned_18_since_displacement: bool | None

    def as_json(self) -> dict[str, int | bool | None]:
        return {
            "years": self.years,
            "at_displacement": self.at_displacement,
            "turned_18_since_displacement": self.turned_18_since_displacement,
        }


def _adult_from(born: date) -> date:
    try:
        return born.replace(year=born.year + ADULT_AGE)
    except ValueError:  # 29 February into a common year
        return date(born.year + ADULT_AGE, 3, 1)


def age(born: PartialDate | None, displaced: PartialDate | None, as_of: date) -> Age:
    """Ages up to ``as_of`` and at displacement, and whether 18 came between.

    ``turned_18_since_displacement`` is true when the 18th birthday falls
    after the displacement day and on or before ``as_of``; with partial dates
    it is given only when every possible birth and displacement day agree.
    """
    if born is None or born.earliest() > as_of:
        return Age(None, None, None)  # unknown, or born after the day counted to
    years = whole_years(born, as_of)
    if displaced is None or displaced.earliest() > as_of:
        return Age(years, None, None)
    at_displacement = whole_years(born, displaced.earliest(), displaced.latest())
    adult_earliest = _adult_from(born.earliest())
    adult_latest = _adult_from(born.latest())
    turned: bool | None
    if adult_earliest > as_of or adult_latest <= displaced.earliest():
        turned = False  # not 18 yet, or already 18 when displaced
    elif displaced.latest() < adult_earliest and adult_latest <= as_of:
        turned = True
    else:
        turned = None
    if born.earliest() > displaced.latest():
        turned = None  # displaced before birth: the dates contradict each other
    return Age(years, at_displacement, turned)
