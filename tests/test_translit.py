
"""KMU 2010 and ICAO 9303 transliteration, and telling the languages apart."""

from __future__ import annotations

import pytest

from gateway.protocol.names import translit

# The examples printed in the table of Cabinet of Ministers of Ukraine
# resolution No. 55 of 27 January 2010, in the table's order.
RESOLUTION_55 = [
    ("Алушта", "Alushta"), ("Андрій", "Andrii"),
    ("Борщагівка", "Borshchahivka"), ("Борисенко", "Borysenko"),
    ("Вінниця", "Vinnytsia"), ("Володимир", "Volodymyr"),
    ("Гадяч", "Hadiach"), ("Богдан", "Bohdan"), ("Згурський", "Zghurskyi"),
    ("Ґалаґан", "Galagan"), ("Ґорґани", "Gorgany"),
    ("Донецьк", "Donetsk"), ("Дмитро", "Dmytro"),
    ("Рівне", "Rivne"), ("Олег", "Oleh"), ("Есмань", "Esman"),
    ("Єнакієве", "Yenakiieve"), ("Гаєвич", "Haievych"), ("Короп'є", "Koropie"),
    ("Житомир", "Zhytomyr"), ("Жанна", "Zhanna"), ("Жежелів", "Zhezheliv"),
    ("Закарпаття", "Zakarpattia"), ("Казимирчук", "Kazymyrchuk"),
    ("Медвин", "Medvyn"), ("Михайленко", "Mykhailenko"),
    ("Іванків", "Ivankiv"), ("Іващенко", "Ivashchenko"),
    ("Їжакевич", "Yizhakevych"), ("Кадиївка", "Kadyivka"), ("Мар'їне", "Marine"),
    ("Йосипівка", "Yosypivka"), ("Стрий", "Stryi"), ("Олексій", "Oleksii"),
    ("Київ", "Kyiv"), ("Коваленко", "Kovalenko"),
    ("Лебедин", "Lebedyn"), ("Леонід", "Leonid"),
    ("Миколаїв", "Mykolaiv"), ("Маринич", "Marynych"),
    ("Ніжин", "Nizhyn"), ("Наталія", "Nataliia"),
    ("Одеса", "Odesa"), ("Онищенко", "Onyshchenko"),
    ("Полтава", "Poltava"), ("Петро", "Petro"),
    ("Решетилівка", "Reshetylivka"), ("Рибчинський", "Rybchynskyi"),
    ("Суми", "Sumy"), ("Соломія", "Solomiia"),
    ("Тернопіль", "Ternopil"), ("Троць", "Trots"),
    ("Ужгород", "Uzhhorod"), ("Уляна", "Uliana"),
    ("Фастів", "Fastiv"), ("Філіпчук", "Filipchuk"),
    ("Харків", "Kharkiv"), ("Христина", "Khrystyna"),
    ("Біла Церква", "Bila Tserkva"), ("Стеценко", "Stetsenko"),
    ("Чернівці", "Chernivtsi"), ("Шевченко", "Shevchenko"),
    ("Шостка", "Shostka"), ("Кишеньки", "Kyshenky"),
    ("Щербухи", "Shcherbukhy"), ("Гоща", "Hoshcha"), ("Гаращенко", "Harashchenko"),
    ("Юрій", "Yurii"), ("Корюківка", "Koriukivka"),
    ("Яготин", "Yahotyn"), ("Ярошенко", "Yaroshenko"),
    ("Костянтин", "Kostiantyn"), ("Знам'янка", "Znamianka"), ("Феодосія", "Feodosiia"),
    # The resolution's notes: "зг" is "zgh", unlike "ж" = "zh".
    ("Згорани", "Zghorany"), ("Розгон", "Rozghon"),
]  # fmt: skip

# The examples the brief lists. Most are resolution 55's; Дон, Наєнко, Іршава,
# Ічня and Крюківка come from the 1996 table of the same system and still
# follow the 2010 rules.
BRIEF_LIST = [
    ("Алушта", "Alushta"), ("Борщагівка", "Borshchahivka"), ("Вінниця", "Vinnytsia"),
    ("Гадяч", "Hadiach"), ("Згорани", "Zghorany"), ("Ґалаґан", "Galagan"), ("Дон", "Don"),
    ("Рівне", "Rivne"), ("Єнакієве", "Yenakiieve"), ("Наєнко", "Naienko"),
    ("Житомир", "Zhytomyr"), ("Закарпаття", "Zakarpattia"), ("Медвин", "Medvyn"),
    ("Іршава", "Irshava"), ("Іванків", "Ivankiv"), ("Їжакевич", "Yizhakevych"),
    ("Кадиївка", "Kadyivka"), ("Йосипівка", "Yosypivka"), ("Стрий", "Stryi"),
    ("Київ", "Kyiv"), ("Лебедин", "Lebedyn"), ("Миколаїв", "Mykolaiv"), ("Ніжин", "Nizhyn"),
    ("Одеса", "Odesa"), ("Полтава", "Poltava"), ("Ромни", "Romny"), ("Суми", "Sumy"),
    ("Тетерів", "Teteriv"), ("Ужгород", "Uzhhorod"), ("Фастів", "Fastiv"),
    ("Харків", "Kharkiv"), ("Біла Церква", "Bila Tserkva"), ("Чернівці", "Chernivtsi"),
    ("Шостка", "Shostka"), ("Гоща", "Hoshcha"), ("Юрій", "Yurii"), ("Крюківка", "Kriukivka"),
    ("Яготин", "Yahotyn"), ("Ічня", "Ichnia"), ("Знам'янка", "Znamianka"),
]  # fmt: skip

# ICAO Doc 9303 part 3, Russian: every letter of the table, then names.
ICAO_LETTERS = [
    ("А", "A"), ("Б", "B"), ("В", "V"), ("Г", "G"), ("Д", "D"), ("Е", "E"), ("Ё", "E"),
    ("Ж", "ZH"), ("З", "Z"), ("И", "I"), ("Й", "I"), ("К", "K"), ("Л", "L"), ("М", "M"),
    ("Н", "N"), ("О", "O"), ("П", "P"), ("Р", "R"), ("С", "S"), ("Т", "T"), ("У", "U"),
    ("Ф", "F"), ("Х", "KH"), ("Ц", "TS"), ("Ч", "CH"), ("Ш", "SH"), ("Щ", "SHCH"),
    ("Ы", "Y"), ("Ъ", "IE"), ("Э", "E"), ("Ю", "IU"), ("Я", "IA"),
]  # fmt: skip
ICAO_NAMES = [
    ("Юлия", "Iuliia"), ("Фёдоров", "Fedorov"), ("Артём", "Artem"), ("Дарья", "Daria"),
    ("Объедков", "Obieedkov"), ("Хрущёв", "Khrushchev"), ("Цой", "Tsoi"), ("Быстрова", "Bystrova"),
    ("Эдуард", "Eduard"), ("Ксения", "Kseniia"), ("Сергей", "Sergei"), ("Щукин", "Shchukin"),
    ("Жуков", "Zhukov"), ("Ильич", "Ilich"), ("Наталья Андреевна", "Natalia Andreevna"),
]  # fmt: skip


@pytest.mark.parametrize(("cyrillic", "expected"), RESOLUTION_55)
def test_resolution_55_examples(cyrillic: str, expected: str) -> None:
    assert translit.ukrainian(cyrillic) == expected


@pytest.mark.parametrize(("cyrillic", "expected"), BRIEF_LIST)
def test_the_briefs_examples(cyrillic: str, expected: str) -> None:
    assert translit.ukrainian(cyrillic) == expected


@pytest.mark.parametrize(("cyrillic", "expected"), ICAO_LETTERS)
def test_icao_table_letter_by_letter(cyrillic: str, expected: str) -> None:
    # A single upper-case letter in a word with lower case: capitalised.
    assert translit.russian(cyrillic + "а") == expected.capitalize() + "a"
    assert translit.russian("А" + cyrillic) == "A" + expected


def test_icao_soft_sign_is_not_written() -> None:
    assert translit.russian("Ь") == ""
    assert translit.russian("Игорь") == "Igor"


@pytest.mark.parametrize(("cyrillic", "expected"), ICAO_NAMES)
def test_icao_names(cyrillic: str, expected: str) -> None:
    assert translit.russian(cyrillic) == expected


@pytest.mark.parametrize("apostrophe", ["'", "\u2019", "\u02bc", "`"])
def test_every_apostrophe_form_is_dropped_and_does_not_start_a_word(apostrophe: str) -> None:
    assert translit.ukrainian(f"Знам{apostrophe}янка") == "Znamianka"
    assert translit.ukrainian(f"Мар{apostrophe}їне") == "Marine"


def test_kmu_positional_letters_restart_after_space_and_hyphen() -> None:
    assert translit.ukrainian("Ярошенко-Юрченко") == "Yaroshenko-Yurchenko"
    assert translit.ukrainian("Олена Євгенівна") == "Olena Yevhenivna"
    assert translit.ukrainian("Соломія Їжак") == "Solomiia Yizhak"


def test_kmu_upper_case_words() -> None:
    assert translit.ukrainian("ЩЕРБУХИ") == "SHCHERBUKHY"
    assert translit.ukrainian("ЗГОРАНИ") == "ZGHORANY"
    assert translit.ukrainian("ЮРІЙ") == "YURII"
    assert translit.ukrainian("Ю. Я.") == "Yu. Ya."


def test_zh_versus_zgh() -> None:
    assert translit.ukrainian("Згода Зжин") == "Zghoda Zzhyn"


def test_characters_outside_the_table_are_refused() -> None:
    with pytest.raises(translit.Untransliterable):
        translit.ukrainian("Коваленко2")
    with pytest.raises(translit.Untransliterable):
        translit.russian("Олійник")  # і is not Russian
    with pytest.raises(translit.Untransliterable):
        translit.ukrainian("Быстрова")  # ы is not Ukrainian


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Олійник", "uk"),
        ("Ґалаґан", "uk"),
        ("Наєнко", "uk"),
        ("Їжак", "uk"),
        ("Быстрова", "ru"),
        ("Эдуард", "ru"),
        ("Объедков", "ru"),
        ("Фёдоров", "ru"),
        ("Коваленко", None),
        ("Марина", None),
        ("Їжакёв", None),  # both kinds: misread or mixed, not guessed
        ("Smith", None),
    ],
)
def test_language_of_a_name_from_its_letters(text: str, language: str | None) -> None:
    assert translit.language_of(text) == language


def test_latin_uses_the_language_system() -> None:
    assert translit.latin("Сергій", "uk") == "Serhii"
    assert translit.latin("Сергей", "ru") == "Sergei"
    assert translit.latin("Григорій", "uk") == "Hryhorii"
    assert translit.latin("Григорий", "ru") == "Grigorii"


def test_latin_with_unknown_language_keeps_only_an_agreed_spelling() -> None:
    assert translit.latin("Коваленко", None) == "Kovalenko"
    assert translit.latin("Марина", None) is None  # Maryna (uk) or Marina (ru)
    assert translit.latin("Ольга", None) is None  # Olha or Olga


def test_latin_of_a_latin_name_is_the_name() -> None:
    assert translit.latin("  Smith  Jones ", None) == "Smith Jones"
    assert translit.latin("Müller", None) is None  # not ASCII: no rule here to spell it


def test_latin_of_untransliterable_or_empty_is_none() -> None:
    assert translit.latin("Олійник", "ru") is None
    assert translit.latin("", "uk") is None
    assert translit.latin("ь", "uk") is None


def test_fold_homoglyphs_towards_the_main_script() -> None:
    latin_i = "Олiйник"  # Latin "i" in a Cyrillic word, common in typed text
    assert latin_i != "Олійник"
    assert translit.fold_homoglyphs(latin_i) == "Олійник"
    assert translit.fold_homoglyphs("Smіth") == "Smith"  # Cyrillic "і" in a Latin word
    assert translit.fold_homoglyphs("Sмith") == "Sмith"  # lower-case "м" has no Latin twin
    assert translit.fold_homoglyphs("Cеx") == "Cex"  # Cyrillic "е" in a Latin word
    assert translit.fold_homoglyphs("Коваленко") == "Коваленко"
    assert translit.fold_text("Олiйник  Марiя") == "Олійник Марія"


def test_lookalikes_turned_wholesale_either_way() -> None:
    # OCR read most of "МІСЦЕ" in Latin: majority folding would go the wrong way.
    mostly_latin = "MIC\u0426E"
    assert translit.fold_homoglyphs(mostly_latin) == mostly_latin
    assert translit.to_cyrillic_lookalikes(mostly_latin) == "МІСЦЕ"
    assert translit.to_latin_lookalikes("Сех") == "Cex"
