
"""Reading dates from forms, and counting ages from partial dates."""

from __future__ import annotations

from datetime import date

import pytest

from extractors.dates import Age, PartialDate, age, parse_date, whole_years

UK_GENITIVE = [
    "січня", "лютого", "березня", "квітня", "травня", "червня",
    "липня", "серпня", "вересня", "жовтня", "листопада", "грудня",
]  # fmt: skip
UK_NOMINATIVE = [
    "січень", "лютий", "березень", "квітень", "травень", "червень",
    "липень", "серпень", "вересень", "жовтень", "листопад", "грудень",
]  # fmt: skip
RU_GENITIVE = [
    "января", "февраля", "марта", "апреля", "мая", "июня",
    "июля", "августа", "сентября", "октября", "ноября", "декабря",
]  # fmt: skip
EN_MONTHS = [
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("14.03.2012", "2012-03-14"),
        ("4.3.2012", "2012-03-04"),
        ("2012-03-14", "2012-03-14"),
        ("14 березня 2012", "2012-03-14"),
        ("14 березня 2012 р.", "2012-03-14"),
        ("14 березня 2012 року", "2012-03-14"),
        ("14 марта 2012 г.", "2012-03-14"),
        ("14 марта 2012 года", "2012-03-14"),
        ("14 March 2012", "2012-03-14"),
        ("14 Mar 2012", "2012-03-14"),
        ("March 14, 2012", "2012-03-14"),
        ("14.03.2012р.", "2012-03-14"),
        ("  14.03.2012  ", "2012-03-14"),
        ("29.02.2012", "2012-02-29"),
        ("25/12/2012", "2012-12-25"),
        ("12/25/2012", "2012-12-25"),
        ("05/05/2012", "2012-05-05"),
    ],
)
def test_full_dates(text: str, iso: str) -> None:
    parsed = parse_date(text)
    assert parsed is not None
    assert parsed.iso() == iso
    assert parsed.precision == "day"


@pytest.mark.parametrize(
    ("text", "iso", "precision"),
    [
        ("2012-03", "2012-03", "month"),
        ("03.2012", "2012-03", "month"),
        ("3.2012", "2012-03", "month"),
        ("березень 2012", "2012-03", "month"),
        ("Березень 2012 р.", "2012-03", "month"),
        ("у березні 2012", "2012-03", "month"),
        ("март 2012 г.", "2012-03", "month"),
        ("в марте 2012", "2012-03", "month"),
        ("March 2012", "2012-03", "month"),
        ("2012", "2012", "year"),
        ("2012 р.", "2012", "year"),
        ("2012 г.", "2012", "year"),
        ("2012 року", "2012", "year"),
    ],
)
def test_partial_dates_keep_their_precision(text: str, iso: str, precision: str) -> None:
    parsed = parse_date(text)
    assert parsed is not None
    assert (parsed.iso(), parsed.precision) == (iso, precision)


@pytest.mark.parametrize("number", range(1, 13))
def test_every_month_name(number: int) -> None:
    expected = f"2012-{number:02d}-07"
    assert parse_date(f"7 {UK_GENITIVE[number - 1]} 2012") == PartialDate.from_iso(expected)
    assert parse_date(f"7 {RU_GENITIVE[number - 1]} 2012 г.") == PartialDate.from_iso(expected)
    assert parse_date(f"7 {EN_MONTHS[number - 1]} 2012") == PartialDate.from_iso(expected)
    assert parse_date(f"{UK_NOMINATIVE[number - 1]} 2012") == PartialDate(2012, number)


def test_month_names_with_ocr_homoglyphs() -> None:
    # Latin "e" inside "березня" and Cyrillic "а" inside "March".
    assert parse_date("14 бeрeзня 2012") == PartialDate(2012, 3, 14)
    assert parse_date("14 M\u0430rch 2012") == PartialDate(2012, 3, 14)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "невідомо",
        "14.03.12",  # two-digit year: which century?
        "03/04/2012",  # day-month or month-day: unknowable
        "31.02.2012",
        "14.13.2012",
        "2012-13",
        "2012-02-30",
        "14 березоля 2012",
        "14 березня",  # no year
        "1812",
        "2212",
        "14.03.2012, Харків",  # not wholly a date
        "about 2012",
    ],
)
def test_what_is_not_certainly_a_date_is_none(text: str) -> None:
    assert parse_date(text) is None


def test_partial_date_rules() -> None:
    with pytest.raises(ValueError):
        PartialDate(2012, None, 14)
    with pytest.raises(ValueError):
        PartialDate(2012, 2, 30)
    assert PartialDate(2012, 2).latest() == date(2012, 2, 29)
    assert PartialDate(2013).earliest() == date(2013, 1, 1)
    assert PartialDate.from_iso("2012-03").iso() == "2012-03"
    with pytest.raises(ValueError):
        PartialDate.from_iso("14.03.2012")


def test_whole_years_count_from_the_birthday_itself() -> None:
    born = PartialDate(2012, 3, 14)
    assert whole_years(born, date(2026, 3, 13)) == 13
    assert whole_years(born, date(2026, 3, 14)) == 14
    assert whole_years(born, date(2012, 3, 14)) == 0
    assert whole_years(born, date(2012, 3, 13)) is None  # before birth


def test_leap_day_birthdays_turn_over_on_the_first_of_march() -> None:
    born = PartialDate(2012, 2, 29)
    assert whole_years(born, date(2026, 2, 28)) == 13
    assert whole_years(born, date(2026, 3, 1)) == 14
    assert whole_years(born, date(2028, 2, 29)) == 16


def test_partial_birth_dates_give_an_age_only_when_it_is_determined() -> None:
    month = PartialDate(2012, 3)
    assert whole_years(month, date(2026, 4, 1)) == 14
    assert whole_years(month, date(2026, 3, 31)) == 14
    assert whole_years(month, date(2026, 3, 15)) is None  # 13 or 14
    assert whole_years(month, date(2026, 2, 28)) == 13
    year = PartialDate(2012)
    assert whole_years(year, date(2026, 12, 31)) == 14
    assert whole_years(year, date(2026, 6, 1)) is None
    assert whole_years(year, date(2012, 6, 1)) is None  # may not be born yet


def test_age_for_a_full_record() -> None:
    result = age(PartialDate(2006, 5, 10), PartialDate(2022, 3, 1), date(2026, 3, 1))
    assert result == Age(years=19, at_displacement=15, turned_18_since_displacement=True)
    assert result.as_json() == {
        "years": 19,
        "at_displacement": 15,
        "turned_18_since_displacement": True,
    }


def test_not_yet_18_and_already_18_at_displacement() -> None:
    as_of = date(2026, 3, 1)
    child = age(PartialDate(2012, 3, 14), PartialDate(2022, 4, 2), as_of)
    assert child == Age(13, 10, False)
    adult_already = age(PartialDate(2002, 1, 5), PartialDate(2022, 4, 2), as_of)
    assert adult_already == Age(24, 20, False)


def test_the_18th_birthday_on_the_day_counted_to_counts() -> None:
    assert age(
        PartialDate(2008, 3, 1), PartialDate(2022, 3, 1), date(2026, 3, 1)
    ).turned_18_since_displacement
    born_on_displacement_day = age(
        PartialDate(2004, 3, 1), PartialDate(2022, 3, 1), date(2026, 3, 1)
    )
    assert born_on_displacement_day == Age(22, 18, False)


def test_age_with_partial_dates() -> None:
    as_of = date(2026, 3, 1)
    # Born some day in 2008, displaced some day in March 2022: 13 or 14 then;
    # 17 or 18 now, so whether 18 came in between is unknown too.
    assert age(PartialDate(2008), PartialDate(2022, 3), as_of) == Age(None, None, None)
    # Born in May 2007, displaced in 2022: 14 or 15 then, 18 now, turned 18
    # in May 2025, after any day of 2022.
    assert age(PartialDate(2007, 5), PartialDate(2022), as_of) == Age(18, None, True)
    # Born January 2010, displaced June 2022: 12 then, 16 now, not 18 yet.
    assert age(PartialDate(2010, 1), PartialDate(2022, 6), as_of) == Age(16, 12, False)


def test_age_without_dates_or_with_contradictions() -> None:
    as_of = date(2026, 3, 1)
    assert age(None, PartialDate(2022), as_of) == Age(None, None, None)
    assert age(PartialDate(2012, 3, 14), None, as_of) == Age(13, None, None)
    assert age(PartialDate(2027), None, as_of) == Age(None, None, None)  # born after as_of
    displaced_before_birth = age(PartialDate(2015, 1, 1), PartialDate(2014, 1, 1), as_of)
    assert displaced_before_birth == Age(11, None, None)
    displaced_after_as_of = age(PartialDate(2012, 1, 1), PartialDate(2027, 1, 1), as_of)
    assert displaced_after_as_of == Age(14, None, None)


def test_a_dotted_date_whose_last_dot_ocr_read_as_a_space_is_read() -> None:
    # Issue 12, wide-1000089 (rotated, dev): "30.11 2022" was left null.
    found = parse_date("30.11 2022")
    assert found is not None and found.iso() == "2022-11-30"
    assert parse_date("30 11 2022") is None  # no dot at all: not this form
