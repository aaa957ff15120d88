"""The second reading in the form's own language (issue 12): which page is which
language, which words are read again, and which second readings are taken."""

from __future__ import annotations

import pytest

from extractors import own_language, tesseract

ENGLISH_LABEL_WORDS = frozenset({"surname", "given", "name", "place", "of", "birth"})


def _word(text: str, confidence: float, left: int = 100, width: int = 180) -> tesseract.TsvWord:
    return tesseract.TsvWord(text, left, 200, width, 30, confidence, 1, 1, 1)


def _page(*texts: str, confidence: float = 0.95) -> list[tesseract.TsvWord]:
    return [_word(t, confidence) for t in texts]


@pytest.mark.parametrize(("labels", "model"), [
    # A Ukrainian form's labels, some bilingual: і in several sure words.
    (("Прізвище", "Surname", "Ім'я", "Дата", "народження", "Місце", "переміщення"), "ukr"),
    # A Russian form's labels have no letter only Ukrainian writes.
    (("Фамилия", "Surname", "Имя", "Отчество", "Дата", "рождения", "Место"), "rus"),
    (("Surname", "Given", "name", "Date", "birth", "Place", "displacement"), "eng"),
    # Too few sure words, or both Ukrainian and Russian letters: no guess.
    (("Прізвище", "Дата"), None),
    (("Прізвище", "Місце", "Объём", "Дата", "переміщення"), None),
])
def test_the_form_language_is_told_by_its_surely_read_labels(
        labels: tuple[str, ...], model: str | None) -> None:
    assert own_language.page_language(_page(*labels)) == model


def test_unsure_words_do_not_tell_the_form_language() -> None:
    # Hand-filled values read as Latin look-alikes at low confidence must not
    # make a Russian form English.
    page = _page("Фамилия", "Имя", "Отчество", "Дата", "рождения") + [
        _word(t, 0.3) for t in ("AYLOUMCK", "BOKUULOLUUS", "Cunuprodor", "Dowewk", "Taranpor",
                                "COWpObOacgGEHUCS", "KOH", "CHAM")]
    assert own_language.page_language(page) == "rus"


@pytest.mark.parametrize(("text", "confidence", "model", "wanted"), [
    ("AYLOUMCK", 0.22, "rus", True),  # Latin look-alikes on a Russian form
    ("Пемровно", 0.3, "rus", False),  # in the form's script already
    ("Леси", 0.37, "eng", True),  # Cyrillic on an English form
    ("Surname", 0.5, "rus", False),  # the English half of a bilingual label
    ("Taranpor", 0.85, "rus", False),  # read surely: left alone
    ("+380", 0.3, "ukr", False),  # digits are in every script
    ("Ko", 0.3, "ukr", True),
    ("K", 0.3, "ukr", False),  # a letter: a mark or an initial
])
def test_which_words_are_read_again(text: str, confidence: float, model: str,
                                    wanted: bool) -> None:
    word = _word(text, confidence)
    assert own_language.wants_reread(word, model,  # type: ignore[arg-type]
                                     ENGLISH_LABEL_WORDS) is wanted


@pytest.mark.parametrize(("first", "again", "model", "kept"), [
    ("Mopexo8a", ["Морезова"], "rus", "Морезова"),  # into the form's script
    ("AYLOUMCK", ["АУооСк"], "rus", "АУооСк"),
    ("Леси", ["April"], "eng", "April"),
    ("AYLOUMCK", ["AYLOUMCK"], "rus", "AYLOUMCK"),  # still Latin: no vote
    ("AYLOUMCK", ["АУoоСк"], "rus", "AYLOUMCK"),  # still mixed: no vote
    ("BOKUULOLUUS", ["вОкИАН", "ОКА"], "rus", "BOKUULOLUUS"),  # split in two: no vote
    ("COWpObOacgGEHUCS", ["сопр"], "rus", "COWpObOacgGEHUCS"),  # letters lost: no vote
    ("Cunuprodor", [], "rus", "Cunuprodor"),  # nothing read: the first reading stands
])
def test_a_second_reading_replaces_a_word_only_with_one_in_the_form_script(
        first: str, again: list[str], model: str, kept: str) -> None:
    word = _word(first, 0.4)
    voted = own_language.vote(word, [_word(t, 0.6) for t in again],
                              model)  # type: ignore[arg-type]
    assert voted.text == kept
    assert voted.own_language is (kept != first)
    assert (voted.left, voted.top, voted.width, voted.height) == (100, 200, 180, 30)


def test_a_word_read_again_is_never_surer_than_either_reading() -> None:
    # A hand-filled value read again stays under review: two readings that
    # disagree are no surer than the less sure of them.
    assert own_language.vote(_word("AYLOUMCK", 0.22), [_word("Луганск", 0.9)],
                             "rus").confidence == 0.22
    assert own_language.vote(_word("AYLOUMCK", 0.7), [_word("Луганск", 0.1)],
                             "rus").confidence == 0.1
