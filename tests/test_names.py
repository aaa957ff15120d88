"""The name tables and keys of gateway.protocol.names, every equivalence both ways."""

from __future__ import annotations

import csv
from importlib import resources

import pytest

from gateway.protocol import names
from gateway.protocol.names import translit

GIVEN = names.given_names()


def _latin(form: str, system: str) -> str | None:
    try:
        return translit.ukrainian(form) if system == "uk" else translit.russian(form)
    except translit.Untransliterable:
        return None


def test_the_given_name_table_has_hundreds_of_names_of_both_sexes() -> None:
    assert sum(1 for n in GIVEN if n.sex == "male") >= 150
    assert sum(1 for n in GIVEN if n.sex == "female") >= 150


@pytest.mark.parametrize("name", GIVEN, ids=lambda n: n.key)
def test_each_given_name_equivalence_holds_both_ways(name: names.GivenName) -> None:
    for uk in name.ukrainian:
        for ru in name.russian:
            assert names.given_name_key(uk) == names.given_name_key(ru) == name.key, (uk, ru)
            assert ru in names.equivalents(uk) and uk in names.equivalents(ru)


@pytest.mark.parametrize("name", GIVEN, ids=lambda n: n.key)
def test_each_given_name_in_official_latin_finds_its_cyrillic_forms(
    name: names.GivenName,
) -> None:
    """KMU 2010 spelling of the Ukrainian form, ICAO 9303 of the Russian one."""
    misses = []
    for forms, system in ((name.ukrainian[:1], "uk"), (name.russian[:1], "ru")):
        for form in forms:
            latin = _latin(form, system)
            if latin and names.given_name_key(latin) != name.key:
                misses.append(latin)
    assert not misses


@pytest.mark.parametrize(
    ("spellings", "same"),
    [
        (["Олексій", "Алексей", "Oleksii", "Aleksey", "Alexej", "Alexei"], True),
        (["Сергій", "Сергей", "Serhii", "Sergey", "Sergej", "Sergueï", "Serhiy"], True),
        (["Юрій", "Юрий", "Yurii", "Iouri", "Jurij", "Yuriy", "Juri"], True),
        (["Наталія", "Наталья", "Наталя", "Natalia", "Nataliya", "Natalja"], True),
        (["Ганна", "Анна", "Hanna", "Anna"], True),
        (["Анна", "Яна"], False),
        (["Олександр", "Олександра"], False),
        (["Іван", "Іванна"], False),
    ],
)
def test_given_names_across_latin_systems(spellings: list[str], same: bool) -> None:
    keys = {names.given_name_key(s) for s in spellings}
    assert (len(keys) == 1) is same, keys


def test_unknown_given_names_still_meet_across_scripts() -> None:
    assert names.given_name_key("Зореслав") == names.given_name_key("Zoreslav")
    assert names.given_name_key("Зореслав").startswith("~")  # type: ignore[union-attr]
    assert names.given_name_key("  ") is None


@pytest.mark.parametrize("name", [n for n in GIVEN if n.sex == "male"], ids=lambda n: n.key)
def test_patronymics_derived_in_both_languages_share_one_key(name: names.GivenName) -> None:
    keys: set[str | None] = set()
    for given in name.ukrainian:
        if given.isalpha():
            keys.update(names.patronymic_key(p) for p in names.patronymics(given, "uk"))
    for given in name.russian:
        if given.isalpha():
            keys.update(names.patronymic_key(p) for p in names.patronymics(given, "ru"))
    assert keys == {"p:" + name.key}


@pytest.mark.parametrize(
    ("spellings"),
    [
        ["Дмитрович", "Дмитриевич", "Дмитрівна", "Дмитриевна", "Dmytrovych", "Dmitrievna"],
        ["Миколайович", "Николаевич", "Mykolaivna", "Nikolaevna", "Nikolayevich"],
        ["Сергійович", "Сергеевич", "Serhiivna", "Sergeevna", "Sergeyevich"],
        ["Юрійович", "Юрьевич", "Yuriivna", "Yurievna", "Jurjewitsch"],
        ["Ілліч", "Ильич", "Іллівна", "Ильинична"],
    ],
)
def test_patronymic_spellings(spellings: list[str]) -> None:
    assert len({names.patronymic_key(s) for s in spellings}) == 1


def test_patronymics_of_different_fathers_differ() -> None:
    assert names.patronymic_key("Дмитрович") != names.patronymic_key("Данилович")
    assert names.patronymic_key("Іванович") != names.patronymic_key("Іванівна".replace("І", "О"))


@pytest.mark.parametrize(
    ("spellings"),
    [
        ["Ковальов", "Ковалёв", "Ковалев", "Ковальова", "Ковалева", "Kovalov", "Kovalyova"],
        ["Шевченко", "Shevchenko", "Schewtschenko", "Ševčenko", "Шевченк0", "Шeвчeнкo"],
        ["Сосницький", "Сосницкий", "Сосницька", "Сосницкая", "Sosnytskyi", "Sosnitskaya"],
        ["Сергієнко", "Сергеенко", "Serhiienko", "Sergeenko"],
        ["Ґудзь", "Гудзь", "Gudz", "Hudz"],
        ["Гаврилюк", "Гаврилюк", "Havryliuk", "Gavriliuk", "Gawriljuk"],
        ["Їжак", "Ижак", "Yizhak"],
        ["Єрмоленко", "Ермоленко", "Yermolenko", "Ermolenko"],
        ["Петрова", "Петров", "Petrova", "Petrov"],
        ["Кузьміна", "Кузьмина", "Кузьмін", "Kuzmina"],
    ],
)
def test_surname_rules(spellings: list[str]) -> None:
    assert len({names.surname_key(s) for s in spellings}) == 1


def test_surnames_that_are_different_stay_different() -> None:
    assert names.surname_key("Коваленко") != names.surname_key("Ковальчук")
    assert names.surname_key("Петренко") != names.surname_key("Павленко")


def _place_rows() -> list[dict[str, str]]:
    text = resources.files("gateway.protocol.names").joinpath("data", "places.csv")
    return list(csv.DictReader(text.read_text("utf-8").splitlines()))


@pytest.mark.parametrize("row", _place_rows(), ids=lambda r: r["uk"])
def test_each_place_equivalence_holds_both_ways(row: dict[str, str]) -> None:
    forms = [row["uk"], *row["ru"].split("|"), *(f for f in row["other"].split("|") if f)]
    keys = {names.place_key(f) for f in forms}
    keys |= {names.place_key(translit.ukrainian(row["uk"]))}
    assert len(keys) == 1, keys


def test_place_prefixes_and_regions_are_ignored() -> None:
    assert (
        names.place_key("м. Маріуполь")
        == names.place_key("г. Мариуполь, Донецкая обл.")
        == names.place_key("Mariupol, Donetsk oblast")
    )
    assert names.place_key("Маріуполь") != names.place_key("Мелітополь")


@pytest.mark.parametrize(
    ("misread", "meant"),
    [("3ахар", "Захар"), ("Ма6ріна", "Мабріна"), ("Мар1я", "Марія"), ("0лена", "Олена"),
     ("Олeна", "Олена"), ("Oлeнa", "Олена"), ("Kateryna", "Катерина")],
)  # fmt: skip
def test_ocr_confusables_fold_away(misread: str, meant: str) -> None:
    assert names.given_name_key(misread) == names.given_name_key(meant)


def test_latin_systems_fold_to_one_key() -> None:
    assert len({names.fold_latin(s) for s in
                ["Shevchenko", "Schewtschenko", "Ševčenko", "Ŝevĉenko"]}) == 1  # fmt: skip
    assert names.fold_latin("Zhytomyr") == "zitomir"
    assert names.fold_latin("Yevhen") == names.fold_latin("Jewhen") == names.fold_latin("Evhen")


@pytest.mark.parametrize(
    ("foreign", "cyrillic"),
    [("Nadejda", "Надія"), ("Nadeschda", "Надежда"), ("Michajlo", "Михайло"),
     ("Wiktorija", "Вікторія"), ("Natalija", "Наталія"), ("Wolodymyr", "Володимир"),
     ("Iouri", "Юрій"), ("Ioulia", "Юлія"), ("Yekaterina", "Катерина")],
)  # fmt: skip
def test_german_french_and_bgn_spellings_of_given_names(foreign: str, cyrillic: str) -> None:
    assert names.given_name_key(foreign) == names.given_name_key(cyrillic)


def test_an_alternative_spelling_never_takes_an_official_one() -> None:
    """French Жанна is "Janna", which folds like KMU "Yana" (Яна): Яна keeps it."""
    assert names.given_name_key("Yana") == names.given_name_key("Яна")
    assert names.given_name_key("Yana") != names.given_name_key("Жанна")


def test_names_that_only_fold_alike_stay_different_names() -> None:
    """Regression: merging by fold made Діана and Дана one name (twins would agree)."""
    assert len({n.key for n in GIVEN}) == len(GIVEN)
    assert names.given_name_key("Діана") != names.given_name_key("Дана")
    assert names.given_name_key("Ліана") != names.given_name_key("Лана")
    assert names.given_name_key("Віолетта") == names.given_name_key("Виолета")


@pytest.mark.parametrize(
    ("misread", "meant"),
    [("Катерииа", "Катерина"), ("Юрнй", "Юрій"), ("Фдор", "Федір"), ("Викторня", "Вікторія"),
     ("Oleksandr", "Олександр"), ("Олексій", "Алексей")],
)  # fmt: skip
def test_nearest_given_name_recovers_one_misread_letter(misread: str, meant: str) -> None:
    found = names.nearest_given_name(misread)
    assert found is not None and found.key == names.given_name_key(meant)


@pytest.mark.parametrize("text", ["Яи", "Зореслав", "Qwxyz", "", "Ирииа"])
def test_nearest_given_name_does_not_guess(text: str) -> None:
    """Too short, unknown and near no name, nothing at all, or near two (Ирина, Илья)."""
    assert names.nearest_given_name(text) is None
