"""Values on printed forms that the page's reading did not give at all (issue 12).

Two classes, each with its regression tests:

- ink Tesseract left unread (type beside a photo frame, against a rule) is
  read again, region by region (``documents._reread_unread_ink``); the value
  says in its provenance that it was read again, never surer than
  ``UNREAD_MAX_CONFIDENCE``;
- a label read with a slip the parser did not forgive (a short label with
  one wrong letter, ``Im'a:`` for ``Ім'я:``; a colon read apart from its
  label), so that its value went to the field above or to nothing.

Every child here is fictitious (``tests/dossiers.py``, development seeds).
"""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw, ImageFont

from extractors import biography, confidence, documents, tesseract
from extractors.layout import PageText
from gateway.pluginspec import PartInput
from gateway.protocol import schemas
from tests.dossiers import FONT, wide_dossier
from tests.positioned import page, row

AS_OF = date(2026, 3, 1)


def _read_one(tmp: Path, seed: int, lang: str, condition: str,
              ) -> tuple[dict[str, Any], dict[str, Any]]:
    dossier = wide_dossier(seed, lang, condition)  # type: ignore[arg-type]
    out = documents.DocumentsExtractor().extract(
        PartInput(dossier.filename, dossier.media_type, dossier.write(tmp), AS_OF))
    [record] = out.records
    schemas.validate_biography(record)
    return record, dossier.children[0].truth()


@pytest.mark.parametrize(("seed", "lang", "condition", "member", "value"), [
    # Beside the photo frame, the birth place was not in the page's reading.
    (1_000_028, "uk", "300 dpi", "birth_place", "Запоріжжя"),
    # Left of the photo, on a 200-dpi scan: the surname and the sex letter.
    (1_000_070, "en", "degraded", "family_name", "Harris"),
    (1_000_070, "en", "degraded", "sex", "female"),
    # The whole line "11 October 2011" was left out; read again, its day too.
    (1_000_041, "en", "300 dpi", "birth_date", "2011-10-11"),
])
def test_a_value_the_page_reading_left_out_is_read_again(
        tmp_path: Path, seed: int, lang: str, condition: str, member: str, value: str) -> None:
    record, truth = _read_one(tmp_path, seed, lang, condition)
    assert record[member] == truth[member] == value
    provenance = record["provenance"][member]
    assert provenance["read_again"] is True
    assert provenance["confidence"] <= confidence.READ_AGAIN_MAX_CONFIDENCE
    assert member in record["review"]  # no model was fitted on such values: a person looks


def test_a_label_the_page_reading_left_out_is_read_again_as_a_line(tmp_path: Path) -> None:
    # Fresh sample (seed 2,400,001), 300 dpi: "Ім'я:" alone was left out, and its crop,
    # read as a block of lines, as nothing; the given name under it had no label.
    record, truth = _read_one(tmp_path, 2_400_011, "uk", "300 dpi")
    assert record["given_name"] == truth["given_name"] == "Андрій"


def _typed_page(lines: list[str]) -> Image.Image:
    img = Image.new("L", (1400, 90 * len(lines) + 120), 255)
    draw = ImageDraw.Draw(img)
    for n, text in enumerate(lines):
        draw.text((60, 60 + 90 * n), text, fill=0, font=ImageFont.truetype(FONT, 44))
    return img


LINES = ["Surname: Kovalenko", "Given name: Olena", "Place of birth: Kharkiv",
         "Guardian: Shevchuk Hanna", "Current location: Lviv"]


def test_ink_no_word_covers_is_read_again_and_marked() -> None:
    img = _typed_page(LINES)
    words = tesseract.ocr_words(img, dpi=300, timeout=60)
    dropped = [w for w in words if w.text == "Kharkiv"]
    assert dropped  # the first reading had it; the test takes it away
    first = [w for w in words if w.text != "Kharkiv"]
    out, again = documents._reread_unread_ink(img, first, [], dpi=300, deadline=_later())
    assert [out[i].text for i in sorted(again)] == ["Kharkiv"]
    [found] = [out[i] for i in again]
    assert abs(found.left - dropped[0].left) <= 6 and abs(found.top - dropped[0].top) <= 6
    assert found.confidence <= documents.UNREAD_MAX_CONFIDENCE
    assert found.block >= documents.UNREAD_BLOCK  # a line of its own
    assert out[: len(first)] == first  # every word of the first reading kept


@pytest.mark.parametrize(("line", "taken"), [
    ("11 October 2011", ["11", "October", "2011"]),  # a day leads its month
    ("11", []),  # a number alone in the column is a box's edge or a mark, no value
])
def test_a_short_number_read_again_is_taken_only_leading_its_line(
        line: str, taken: list[str]) -> None:
    img = _typed_page([*LINES[:2], line, *LINES[2:]])
    words = tesseract.ocr_words(img, dpi=300, timeout=60)
    top = 60 + 90 * 2
    first = [w for w in words if not top - 20 <= w.top <= top + 40]
    assert len(first) < len(words)  # the first reading had the line; the test takes it away
    out, again = documents._reread_unread_ink(img, first, [], dpi=300, deadline=_later())
    assert [out[i].text for i in sorted(again)] == taken


def test_a_page_whose_ink_was_all_read_costs_no_second_call(
        monkeypatch: pytest.MonkeyPatch) -> None:
    img = _typed_page(LINES)
    words = tesseract.ocr_words(img, dpi=300, timeout=60)

    def no_call(*_: Any, **__: Any) -> list[tesseract.TsvWord]:
        raise AssertionError("a second reading of a page read in full")

    monkeypatch.setattr(tesseract, "ocr_words", no_call)
    out, again = documents._reread_unread_ink(img, words, [], dpi=300, deadline=_later())
    assert out == words and not again


def test_a_photo_and_a_rule_are_not_read_again(monkeypatch: pytest.MonkeyPatch) -> None:
    img = _typed_page(LINES)
    words = tesseract.ocr_words(img, dpi=300, timeout=60)
    draw = ImageDraw.Draw(img)
    draw.rectangle((1000, 40, 1300, 400), fill=90)  # a photo
    draw.rectangle((950, 20, 956, 500), fill=0)  # a box's vertical rule
    draw.rectangle((40, 520, 1350, 524), fill=0)  # a horizontal rule

    def no_call(*_: Any, **__: Any) -> list[tesseract.TsvWord]:
        raise AssertionError("a picture or a rule read again")

    monkeypatch.setattr(tesseract, "ocr_words", no_call)
    out, again = documents._reread_unread_ink(img, words, [(1000, 40, 1300, 400)], dpi=300,
                                              deadline=_later())
    assert out == words and not again


def _later() -> float:
    return time.monotonic() + 60


@pytest.mark.parametrize(("text", "member"), [
    ("Im'a:", "given_name"),  # І as I, м as m, я as a
    ("Їм'я:", "given_name"),
    ("Sax:", "sex"),
])
def test_a_short_label_read_with_its_colon_forgives_one_slip(text: str, member: str) -> None:
    label = biography.match_label(text)
    assert label is not None and label.member == member


@pytest.mark.parametrize("text", ["Im'a", "Їма", "Sax", "Ира:"])  # ("Їм'я" is "Ім'я" read)
def test_a_short_label_without_its_colon_or_near_two_forgives_nothing(text: str) -> None:
    assert biography.match_label(text) is None


def _above(*pairs: tuple[str, str]) -> PageText:
    lines = []
    for n, (label, value) in enumerate(pairs):
        lines += [row(100 + 40 * n, (50, label)), row(114 + 40 * n, (50, value))]
    return page(*lines, method="ocr")


def test_a_garbled_short_label_no_longer_joins_its_value_to_the_field_above() -> None:
    # "Бондаренко Ім'а: Богдан" was the surname, and the given name was lost.
    [record] = biography.parse_pages("form.pdf", [_above(
        ("Прізвище:", "Бондаренко"), ("Im'a:", "Богдан"), ("По батькові:", "Іванович"))],
        as_of=AS_OF)
    assert record["family_name"] == "Бондаренко"
    assert record["given_name"] == "Богдан"


def test_a_colon_read_apart_from_its_label_is_no_value() -> None:
    lines = [row(100, (50, "Фамилия:")), row(114, (50, "Соколов")),
             row(140, (50, "ТЕКУЩЕЕ МЕСТОНАХОЖДЕНИЕ"), (205, ":")), row(154, (50, "Таганрог"))]
    [record] = biography.parse_pages("form.pdf", [page(*lines, method="ocr")], as_of=AS_OF)
    assert record["current_location"] == "Таганрог"


@pytest.mark.parametrize(("seed", "condition", "member", "value"), [
    (1_000_025, "300 dpi", "given_name", "Богдан"),
    (1_000_025, "300 dpi", "family_name", "Бондаренко"),
    (1_000_054, "degraded", "given_name", "Левко"),  # "їм'я:"
])
def test_a_form_whose_short_label_was_garbled_is_read(
        tmp_path: Path, seed: int, condition: str, member: str, value: str) -> None:
    record, truth = _read_one(tmp_path, seed, "uk", condition)
    assert record[member] == truth[member] == value


def test_a_garbled_label_closed_by_its_colon_ends_the_value_above() -> None:
    # "GRANDMOTHER:" read as Cyrillic look-alikes matched no label; the row was
    # taken for the guardian's second line, relative and all.
    lines = [row(100, (50, "Surname:")), row(114, (50, "Parker")),
             row(140, (50, "Guardian:")), row(154, (50, "Harris Emily")),
             row(168, (50, "СВАМОМОТНЕВ:")),
             row(182, (50, "Parker Chloe, Mariupol, +380 76 697 9807"))]
    [record] = biography.parse_pages("form.pdf", [page(*lines, method="ocr")], as_of=AS_OF)
    assert record["guardian"] == "Harris Emily"


def test_a_value_a_stroke_crosses_is_read_though_a_mark_of_it_remains(tmp_path: Path) -> None:
    # The line with the pen dropped read "Harris Emily ©"; the "©" (0.49), the
    # stroke's remains over no word of the first reading, blocked the vote.
    record, truth = _read_one(tmp_path, 1_000_045, "en", "300 dpi")
    assert record["guardian"] == truth["guardian"] == "Harris Emily"


def test_a_value_under_a_stroke_read_as_nothing_is_read(tmp_path: Path) -> None:
    # The first reading had "а" at 0.00 for the place under a signature; the
    # second, with the pen dropped, "Бердянск" and ":" (the stroke's remains),
    # and was refused for having more letters than nothing.
    record, truth = _read_one(tmp_path, 1_000_084, "ru", "rotated")
    assert record["displacement_place"] == truth["displacement_place"] == "Бердянск"


@pytest.mark.parametrize(("seed", "condition", "value"), [
    (1_000_062, "degraded", "Смирнов"),  # "1/" read again over "/ Surname"
    (1_000_064, "degraded", "Попов"),  # the "/" of "Фамилия / Surname" dropped as a mark
    (1_000_086, "rotated", "Волков"),
])
def test_a_bilingual_label_read_again_keeps_its_value(
        tmp_path: Path, seed: int, condition: str, value: str) -> None:
    record, truth = _read_one(tmp_path, seed, "ru", condition)
    assert record["family_name"] == truth["family_name"] == value


_PARKER = "Parker Chloe, Mariupol, +380 76 697 9807"


@pytest.mark.parametrize(("label", "relation"), [
    ("СВАМОМОТНЕВ:", "grandparent"),  # "GRANDMOTHER:" in Cyrillic look-alikes (wide-1000045)
    ("Gxqwzv:", "other"),  # near no relation's label: a relative all the same
])
def test_a_relative_under_a_label_too_garbled_to_match_is_kept_for_review(
        label: str, relation: str) -> None:
    # The relative under it was no field, and was lost without a word.
    [record] = biography.parse_pages("form.pdf", [_above(
        ("Surname:", "Parker"), ("Given name:", "Liam"), (label, _PARKER),
        ("Mother:", "Parker Grace, Kherson, +380 81 286 3123"))], as_of=AS_OF)
    assert record["family_contacts"] == [
        {"relation": relation, "name": "Parker Chloe", "place": "Mariupol",
         "phone": "+380 76 697 9807"},
        {"relation": "mother", "name": "Parker Grace", "place": "Kherson",
         "phone": "+380 81 286 3123"}]
    confidence_of = record["provenance"]["family_contacts.0"]["confidence"]
    assert confidence_of <= biography.UNREAD_LABEL_MAX_CONFIDENCE
    assert "family_contacts.0" in record["review"]


@pytest.mark.parametrize("value", ["Parker Chloe, Mariupol", "+380 76 697 9807"])
def test_a_garbled_label_over_no_relative_gives_no_contact(value: str) -> None:
    [record] = biography.parse_pages("form.pdf", [_above(
        ("Surname:", "Parker"), ("Given name:", "Liam"), ("СВАМОМОТНЕВ:", value))],
        as_of=AS_OF)
    assert record["family_contacts"] == []


def test_a_form_whose_relative_label_was_garbled_keeps_the_relative(tmp_path: Path) -> None:
    # wide-1000045 (300 dpi): "GRANDMOTHER:" read "СВАМОМОТНЕВ:" at 0.90.
    record, truth = _read_one(tmp_path, 1_000_045, "en", "300 dpi")
    assert record["family_contacts"] == truth["family_contacts"]
    assert record["family_contacts"][0]["relation"] == "grandparent"
    assert "family_contacts.0" in record["review"]


def _word(text: str, left: int, width: int, confidence: float = 0.96) -> tesseract.TsvWord:
    return tesseract.TsvWord(text, left, 1558, width, 32, confidence, 1, 1, 1)


@pytest.mark.parametrize(("read", "tail", "whole"), [
    ("200", ")9", "2009"),  # wide-3400057: "2009" read "200", the "9" read again as ")9"
    ("15.10.201", "7", "15.10.2017"),
    ("2016", "1", None),  # a whole year: a box's edge after it is no digit of it
    ("Харків", "1", None),  # a word of letters
    ("200", "9a", None),  # letters read again are no digits of a year
])
def test_a_year_cut_short_is_given_back_its_digits_read_again(
        read: str, tail: str, whole: str | None) -> None:
    words = [_word("23", 236, 47), _word(read, 492, 74)]
    again = _word(tail, 566, 30, confidence=0.92)
    found = documents._year_cut_short(again, words, word_h=32)
    if whole is None:
        assert found is None
    else:
        assert found is not None and found[0] == 1
        assert (found[1].text, found[1].width) == (whole, 104)
        assert found[1].confidence <= documents.UNREAD_MAX_CONFIDENCE


def test_a_year_whose_last_digit_the_page_lost_is_read_whole(tmp_path: Path) -> None:
    # wide-3400057 (fresh sample): the birth date was lost as "23 вересня 200".
    record, truth = _read_one(tmp_path, 3_400_057, "uk", "300 dpi")
    assert record["birth_date"] == truth["birth_date"] == "2009-09-23"
    assert "birth_date" in record["review"]  # read again: a person looks


def test_ink_two_regions_took_in_is_read_once(tmp_path: Path) -> None:
    # wide-3500006 (fresh sample): "Kharkiv" beside a table's rule was cut out twice,
    # once with the rule and once without, and the birth place read "Kharkiv Kharkiv".
    record, truth = _read_one(tmp_path, 3_500_006, "en", "300 dpi")
    assert record["birth_place"] == truth["birth_place"] == "Kharkiv"
