"""Per-field correction of OCR readings (issue 12): one named regression per error class.

The strings are the misreadings seen on partner forms the project had never
seen (issue 12), as extracted → as printed. Unit tests call the corrector
directly; the parser tests feed it positioned text as a page reader would;
the last test goes through real Tesseract. Every name here is fictitious.
"""

from __future__ import annotations

import random
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from extractors import biography, correction, names
from extractors.documents import DocumentsExtractor
from extractors.layout import Line, PageText, Word
from gateway.pluginspec import PartInput
from gateway.protocol import schemas
from tests.dossiers import FONT, ScanStyle, image_pdf, pymupdf, scan_page
from tests.positioned import row

AS_OF = date(2026, 3, 1)


# -- script consistency per word -------------------------------------------------------


def test_a_latin_l_for_a_capital_i_in_an_english_patronymic() -> None:
    fixed = correction.correct_name("lvanivna", "patronymic", "latin")
    assert fixed.value == "Ivanivna"
    assert "script" in fixed.fixes


def test_cyrillic_look_alikes_for_a_latin_patronymic_on_an_english_form() -> None:
    fixed = correction.correct_name("Імапімпа", "patronymic", "latin")
    assert fixed.value == "Ivanivna"
    assert {"script", "name"} <= fixed.fixes


def test_one_latin_look_alike_in_a_cyrillic_word_and_the_reverse() -> None:
    assert correction.correct_name("Iван", "given", "cyrillic").value == "Іван"
    assert correction.correct_name("Mapко", "family", "cyrillic").value == "Марко"
    assert correction.correct_name("Оlena", "given", "latin").value == "Olena"


def test_a_name_in_the_forms_own_script_is_left_as_written() -> None:
    # A Cyrillic child on a Cyrillic form, a Latin one on an English form:
    # nothing to repair, even for names no table knows.
    cases: list[tuple[str, correction.Script]] = [
        ("Олена", "cyrillic"), ("Zoryana", "latin"), ("Ярина", "cyrillic")]
    for text, expected in cases:
        fixed = correction.correct_name(text, "given", expected)
        assert fixed.value == text and not fixed.corrected


def test_a_cyrillic_word_with_a_letter_without_latin_twin_is_not_forced_into_latin() -> None:
    fixed = correction.correct_name("Олена", "given", "latin")
    assert fixed.value == "Олена" and not fixed.corrected


# -- digits and signs where a number is expected ------------------------------------------


@pytest.mark.parametrize("misread", ["Ме", "Ne", "М»", "Мо"])
def test_numero_sign_misreads_before_a_number(misread: str) -> None:
    fixed = correction.correct_text(f"школа {misread} 12")
    assert fixed.value == "школа № 12"
    assert fixed.fixes == {"sign"}


def test_no_on_an_english_value_stays_no() -> None:
    assert correction.correct_text("School No 12").value == "School No 12"


def test_mo_for_the_numero_sign_in_a_bold_cyrillic_school_number() -> None:
    # Bold and degraded type: "№" came out as Cyrillic "Мо" (dev split,
    # "ліцей Мо 107", "школа Мо 94, 8 клас"); a Cyrillic word "мо" never
    # stands before a number on its own.
    assert correction.correct_text("ліцей Мо 107").value == "ліцей № 107"
    assert correction.correct_text("школа Мо 94, 8 клас").value == "школа № 94, 8 клас"
    assert correction.correct_text("School Mo 12").value == "School Mo 12"


@pytest.mark.parametrize(("read", "kind", "expected", "printed"), [
    ("у Ivy", "given", "latin", "Ivy"),  # fresh sample (seed 2,400,025), 300 dpi
    ("я Коваленко", "family", "cyrillic", "Коваленко"),
])
def test_a_lone_small_letter_before_a_name_is_debris(
        read: str, kind: Any, expected: Any, printed: str) -> None:
    fixed = correction.correct_name(read, kind, expected)
    assert fixed.value == printed
    assert "debris" in fixed.fixes


def test_a_capital_initial_before_a_name_is_kept() -> None:
    assert correction.correct_name("О Коваленко", "family", "cyrillic").value == "О Коваленко"


def test_a_mark_glued_before_the_numero_sign_is_debris() -> None:
    # Fresh sample (seed 2,300,001), 300 dpi, a table's rule: "школа Л№ 56, 8 класс",
    # 0.98 and not flagged. Only before a number; a word ending "№" stays otherwise.
    fixed = correction.correct_text("школа Л№ 56, 8 класс")
    assert fixed.value == "школа № 56, 8 класс"
    assert fixed.fixes == {"debris"}
    assert correction.correct_text("школа Л№").value == "школа Л№"
    assert correction.correct_text("школа 2№ 56").value == "школа 2№ 56"


@pytest.mark.parametrize(("read", "printed"), [
    ("З клас", "3 клас"), ("б класс", "6 класс"), ("школа № 4, З клас", "школа № 4, 3 клас"),
])
def test_letters_for_digits_before_a_school_year(read: str, printed: str) -> None:
    fixed = correction.correct_text(read)
    assert fixed.value == printed
    assert "digit" in fixed.fixes


def test_a_digit_one_for_a_capital_i_in_a_cyrillic_name() -> None:
    fixed = correction.correct_name("1ван", "given", "cyrillic")
    assert fixed.value == "Іван"
    assert fixed.fixes == {"digit"}


@pytest.mark.parametrize(("read", "phone"), [
    ("Мати, Київ, 4380 53 161 8384", "+380 53 161 8384"),  # "+" read as 4
    ("Мати, Київ, 380 53 161 8384", "+380 53 161 8384"),  # "+" not read
    ("Мати, Київ, 0 53 161 8384", "0 53 161 8384"),  # a national number stays as is
])
def test_a_phones_plus_where_the_country_code_needs_it(read: str, phone: str) -> None:
    assert biography.parse_contact("mother", read)["phone"] == phone


def test_a_ukrainian_only_letter_in_a_russian_value() -> None:
    fixed = correction.correct_text("социальное сопровождениє", language="ru")
    assert fixed.value == "социальное сопровождение"
    assert correction.correct_text("Києве", language="uk").value == "Києве"


@pytest.mark.parametrize(("language", "printed"), [("uk", "вакцинація"), ("ru", "вакцинация")])
def test_tsi_run_together_and_read_as_shcha(language: correction.Language,
                                            printed: str) -> None:
    # Bold type, degraded scans and phone photos (dev split): "ці"/"ци" came
    # out as "щ", confidently. Neither language writes "щя" or "щю".
    fixed = correction.correct_text("вакцинащя", kind="service", language=language)
    assert fixed.value == printed
    assert fixed.fixes == {"script"}
    assert correction.correct_text("щука", language="ru").value == "щука"
    assert correction.correct_text("вакцинащя").value == "вакцинащя"  # language unknown


@pytest.mark.parametrize(("read", "language", "printed"), [
    ("Cymu", "uk", "Суми"), ("TaraHpor", "ru", "Таганрог"),
])
def test_a_place_in_latin_look_alikes_on_a_cyrillic_form_is_cyrillic(
        read: str, language: correction.Language, printed: str) -> None:
    # Degraded and serif scans (dev split): a Cyrillic place whose every letter
    # has a Latin twin came out wholly Latin, with a capital inside.
    fixed = correction.correct_text(read, kind="place", language=language)
    assert fixed.value == printed
    assert fixed.fixes == {"script"}


def test_a_latin_place_stays_latin_where_it_can_be_one() -> None:
    assert correction.correct_text("Cymu", kind="place").value == "Cymu"  # an English form
    for place in ("Warsaw", "Berlin", "Kherson"):  # letters without a Cyrillic twin
        assert correction.correct_text(place, kind="place", language="uk").value == place
    assert correction.correct_text("Cymu", kind="service", language="uk").value == "Cymu"


# -- debris at value edges ------------------------------------------------------------------


@pytest.mark.parametrize(("read", "printed"), [
    ("Іван Я", "Іван"), ("Юлия же", "Юлия"), ("София -е", "София"), ("Евгений >", "Евгений"),
])
def test_debris_after_a_given_name_is_trimmed(read: str, printed: str) -> None:
    fixed = correction.correct_name(read, "given", "cyrillic")
    assert fixed.value == printed
    assert fixed.fixes == {"debris"}


@pytest.mark.parametrize(("read", "kind", "printed"), [
    ("Харків й", "place", "Харків"), ("Ужгород 7", "place", "Ужгород"),
    ("вакцинація У", "service", "вакцинація"), ("консультації но", "service", "консультації"),
    ("Zaporizhzhia_", "place", "Zaporizhzhia"), ("counselling |", "service", "counselling"),
])
def test_debris_after_a_place_or_a_service_is_trimmed(
        read: str, kind: correction.TextKind, printed: str) -> None:
    # Stamps, photo frames and rules at the end of a value (dev split): a
    # lone letter or digit, a short lower-case word, a rule glued on as "_".
    fixed = correction.correct_text(read, kind=kind, language="uk")
    assert fixed.value == printed
    assert fixed.fixes == {"debris"}


def test_a_digit_one_for_i_inside_a_place_is_the_letter() -> None:
    # Dev split, a phone photo in monospace: "Запоріжжя" read "Запор1жжя".
    fixed = correction.correct_text("Запор1жжя", kind="place", language="uk")
    assert fixed.value == "Запоріжжя"
    assert fixed.fixes == {"digit"}
    # A class in a service keeps its digit.
    assert correction.correct_text("школа № 5, 3Б клас", kind="service").value == (
        "школа № 5, 3Б клас")


def test_a_full_stop_after_a_place_is_debris_and_an_abbreviation_is_not() -> None:
    # Dev split, a phone photo: "Луганск" read "Луганск." at a frame's edge.
    fixed = correction.correct_text("Луганск.", kind="place", language="ru")
    assert fixed.value == "Луганск"
    assert fixed.fixes == {"debris"}
    for value in ("смт Ст.", "Кривий Ріг", "м. Київ", "Полтавська обл."):
        assert correction.correct_text(value, kind="place", language="uk").value == value


def test_debris_trimming_keeps_the_end_of_school_numbers_and_places() -> None:
    for value in ("school No. 18, grade 7", "школа № 5, 8 клас", "ліцей № 107"):
        assert correction.correct_text(value, kind="service").value == value
    assert correction.correct_text("Ростов-на-Дону", kind="place").value == "Ростов-на-Дону"
    assert correction.correct_text("Кривий Ріг", kind="place").value == "Кривий Ріг"
    assert correction.correct_text("case 7", kind="text").value == "case 7"


def test_debris_trimming_keeps_real_words_and_initials() -> None:
    assert correction.correct_name("Анна Марія", "given", "cyrillic").value == "Анна Марія"
    assert correction.correct_text("м. Київ").value == "м. Київ"
    assert correction.correct_text("Харків |").value == "Харків"
    assert correction.correct_name("Коваленко О.", "family", "cyrillic").value == "Коваленко О."


# -- a lost or misread leading letter, only when the table is unambiguous ---------------------


def test_a_misread_first_letter_is_restored_from_the_name_table() -> None:
    fixed = correction.correct_name("trina", "given", "latin")
    assert fixed.value == "Irina"
    assert fixed.fixes == {"name"}


def test_a_dropped_first_letter_with_two_candidates_is_left_alone() -> None:
    # "rina" could be Irina or Arina: a guess would be worse than the misreading.
    fixed = correction.correct_name("rina", "given", "latin")
    assert fixed.value == "rina" and not fixed.corrected


@pytest.mark.parametrize(("read", "kind", "printed"), [
    ("Грина", "given", "Ірина"),  # dev split, a phone photo of a serif form
    ("Гванович", "patronymic", "Іванович"),
])
def test_a_serif_capital_i_read_as_ge_in_an_unknown_name_is_restored(
        read: str, kind: correction.NameKind, printed: str) -> None:
    fixed = correction.correct_name(read, kind, "cyrillic")
    assert fixed.value == printed
    assert fixed.fixes == {"name"}  # provenance says "corrected"


def test_a_capital_is_serif_read_as_a_letter_of_its_own() -> None:
    # Dev split, 300 dpi, an underlined sans form: "Ivanovych" read "Ilvanovych".
    fixed = correction.correct_name("Ilvanovych", "patronymic", "latin")
    assert fixed.value == "Ivanovych" and fixed.fixes == {"name"}


def test_a_known_name_read_as_it_stands_is_never_snapped() -> None:
    # "Ганна" is a name of its own, one capital away from no other; "Гліб" too.
    for name in ("Ганна", "Гліб"):
        fixed = correction.correct_name(name, "given", "cyrillic")
        assert fixed.value == name and not fixed.corrected


def test_an_unknown_name_read_as_it_stands_is_not_edited_beyond_its_capital() -> None:
    # One edit from "Ірина" but its capital is not the misread one: left alone.
    fixed = correction.correct_name("Ирена", "given", "cyrillic")
    assert fixed.value == "Ирена" and not fixed.corrected


def test_a_last_letter_lost_at_a_frame_is_restored_only_when_one_name_fits() -> None:
    # Dev split, a phone photo: the guardian's "Ганна" cut to "Ганн" at the table's rule.
    fixed = correction.correct_text("Коваленко Ганн", kind="person", language="uk")
    assert fixed.value == "Коваленко Ганна"
    assert fixed.fixes == {"name"}
    fixed = correction.correct_name("Іванови", "patronymic", "cyrillic")
    assert fixed.value == "Іванович" and fixed.fixes == {"name"}
    # A known given name is never lengthened, nor a family name touched.
    assert correction.correct_text("Коваленко Ганна", kind="person").value == "Коваленко Ганна"
    assert correction.correct_text("Ганн Коваленко", kind="person").value == "Ганн Коваленко"


def test_name_snapping_goes_through_the_table_interface() -> None:
    table = names.StaticNameTable((names.KnownName("Zoryana", "given", "female"),))
    previous = names.set_table(table)
    try:
        assert correction.correct_name("zoryana", "given", "latin").value == "Zoryana"
        assert correction.correct_name("trina", "given", "latin").value == "trina"
    finally:
        names.set_table(previous)


# -- sex from the names ------------------------------------------------------------------------


@pytest.mark.parametrize(("given", "patronymic", "sex"), [
    ("Юлия", "Ивановна", "female"), (None, "Іванович", "male"), ("Emily", "Ivanivna", "female"),
    ("Іван", None, "male"), ("Олена", "Іванович", None), ("Zoryana", None, None),
])
def test_sex_from_patronymic_and_given_name(given: str | None, patronymic: str | None,
                                            sex: str | None) -> None:
    assert correction.infer_sex(given, patronymic) == sex


# -- through the parser ---------------------------------------------------------------------


def _row(y: float, label: str, value: str, confidence: float = 0.95) -> Line:
    return row(y, (50.0, label), (220.0, value), confidence=confidence)


def _parse(rows: list[tuple[str, str]], method: Any = "ocr") -> dict[str, Any]:
    confidence = 1.0 if method == "text" else 0.95
    lines = tuple(_row(100 + 18 * i, label, value, confidence)
                  for i, (label, value) in enumerate(rows))
    [record] = biography.parse_pages("form.pdf", [PageText(1, 595, 842, method, lines)],
                                     as_of=AS_OF)
    schemas.validate_biography(record)
    return record


def test_english_form_patronymic_in_cyrillic_look_alikes_is_repaired_with_its_latin() -> None:
    record = _parse([("Surname:", "Miller"), ("Given name:", "Emily"),
                     ("Patronymic:", "Імапімпа"), ("Date of birth:", "14.03.2012")])
    assert record["patronymic"] == "Ivanivna"
    assert record["latin"] == {"family_name": "Miller", "given_name": "Emily",
                               "patronymic": "Ivanivna"}
    assert record["provenance"]["patronymic"]["corrected"] is True
    assert "corrected" not in record["provenance"]["given_name"]


def test_sex_not_printed_is_inferred_and_marked_so() -> None:
    record = _parse([("Прізвище:", "Коваленко"), ("Ім'я:", "1ван Я"),
                     ("По батькові:", "Петрович"), ("Стать:", "ч / ж")])
    assert record["given_name"] == "Іван"
    assert record["latin"]["given_name"] == "Ivan"
    assert record["sex"] == "male"
    assert record["provenance"]["sex"]["inferred"] is True
    assert record["provenance"]["sex"]["bbox"] == record["provenance"]["patronymic"]["bbox"]
    assert record["provenance"]["given_name"]["corrected"] is True


def test_latin_has_no_double_space_when_debris_is_trimmed() -> None:
    record = _parse([("Фамилия:", "Соколова"), ("Имя:", "Юлия же"),
                     ("Отчество:", "Ивановна")])
    assert record["given_name"] == "Юлия"
    assert record["latin"]["given_name"] == "Iuliia"
    assert all("  " not in v for v in record["latin"].values() if v)


def test_an_education_value_keeps_its_number_sign_and_school_year() -> None:
    record = _parse([("Прізвище:", "Шевчук"), ("Ім'я:", "Тарас"),
                     ("Освіта:", "школа Ме 5, З клас")])
    assert record["services"]["education"] == "школа № 5, 3 клас"
    assert record["provenance"]["services.education"]["corrected"] is True


def test_low_confidence_fields_are_listed_for_review() -> None:
    lines = (_row(100, "Прізвище:", "Коваленко", 0.96), _row(118, "Ім'я:", "Олена", 0.3),
             _row(136, "Дата народження:", "14.03.2012", 0.97), _row(154, "Стать:", "жх?", 0.9))
    [record] = biography.parse_pages("form.pdf", [PageText(1, 595, 842, "ocr", lines)],
                                     as_of=AS_OF)
    schemas.validate_biography(record)
    # Sex is told by the doubtful given name alone: as doubtful as it.
    assert record["sex"] == "female"
    assert record["review"] == ["given_name", "sex"]


def test_a_born_digital_form_needs_no_review() -> None:
    record = _parse([("Прізвище:", "Коваленко"), ("Ім'я:", "Олена"), ("Стать:", "ж"),
                     ("Дата народження:", "14.03.2012")], method="text")
    assert record["review"] == []
    assert record["confidence"] == 1.0


def test_an_identity_member_not_found_is_for_review() -> None:
    record = _parse([("Прізвище:", "Коваленко"), ("Ім'я:", "Олена")], method="text")
    assert record["review"] == ["birth_date"]  # sex is told by Олена


# -- through real Tesseract ---------------------------------------------------------------------


def test_a_scanned_form_without_sex_and_with_a_school_number_through_tesseract(
        tmp_path: Path) -> None:
    doc = pymupdf.open()
    page = doc.new_page(width=595, height=842)
    rows = [("Прізвище:", "Ткаченко"), ("Ім'я:", "Олена"), ("По батькові:", "Іванівна"),
            ("Дата народження:", "14.03.2012"), ("Освіта:", "школа № 12, 3 клас")]
    for i, (label, value) in enumerate(rows):
        y = 200 + 26 * i
        page.insert_text((56, y), label, fontsize=12, fontname="dv", fontfile=FONT)
        page.insert_text((220, y), value, fontsize=12, fontname="dv", fontfile=FONT)
    # A rule of the form's frame running into the end of the given name's cell.
    page.draw_line((290, 224), (290, 234), color=(0, 0, 0), width=1.2)
    img = scan_page(page, ScanStyle(dpi=200, noise=8, blur=0.5, jpeg_quality=70),
                    random.Random(3))
    doc.close()
    path = tmp_path / "scan.pdf"
    path.write_bytes(image_pdf([img], 200))
    out = DocumentsExtractor().extract(PartInput(path.name, "application/pdf", path, AS_OF))
    [record] = out.records
    schemas.validate_biography(record)
    assert record["given_name"] == "Олена"
    assert record["patronymic"] == "Іванівна"
    assert record["sex"] == "female"
    assert record["provenance"]["sex"]["inferred"] is True
    assert record["services"]["education"] == "школа № 12, 3 клас"
    assert record["latin"] == {"family_name": "Tkachenko", "given_name": "Olena",
                               "patronymic": "Ivanivna"}


def test_a_stroke_over_a_value_is_no_value_and_puts_it_up_for_review() -> None:
    # A pen stroke read as a tall doubtful "word" across the guardian's row
    # and the next: it is neither a value nor a row joiner, and the value it
    # touches may have lost letters, so it goes to review.
    stroke = Line((Word("Жу~", (300, 130, 340, 162), 0.31),))
    lines = (_row(100, "Прізвище:", "Коваленко", 0.96), _row(118, "Ім'я:", "Олена", 0.96),
             _row(136, "Опікун:", "Шевчук Ган", 0.95), _row(154, "Освіта:", "школа", 0.96),
             stroke)
    [record] = biography.parse_pages("form.pdf", [PageText(1, 595, 842, "ocr", lines)],
                                     as_of=AS_OF)
    schemas.validate_biography(record)
    assert record["guardian"] == "Шевчук Ган"
    assert record["services"]["education"] == "школа"
    assert "guardian" in record["review"]
    assert "services.education" not in record["review"]


def test_a_letter_for_a_digit_alone_in_a_date_is_the_digit() -> None:
    # Phone photo, dev split: the day "3" read as Cyrillic "З" left the birth
    # date unread. In a date, a word made only of digit look-alikes is a number.
    assert correction.fix_date_words(["З", "июня", "2014", "г."]) == (
        ["3", "июня", "2014", "г."], {"digit"})
    assert correction.fix_date_words(["б", "березня", "2015", "р."])[0][0] == "6"
    assert correction.fix_date_words(["3", "June", "2014"]) == (["3", "June", "2014"], set())
    record = _parse([("Фамилия:", "Соколова"), ("Имя:", "София"),
                     ("Дата рождения:", "З июня 2014 г.")])
    assert record["birth_date"] == "2014-06-03"
    assert record["provenance"]["birth_date"]["corrected"] is True
