"""Known given names and patronymics: what the field corrector may snap a misread name to.

A :class:`NameTable` answers two questions for the corrector
(``extractors.correction``): is this spelling a known given name or
patronymic, and which known names does a misread spelling stand for. The
corrector snaps a name only when the table leaves exactly one candidate,
because a wrong name is worse than a misspelt one: a caseworker can still
match ``Imanimna`` by eye, never an ``Ivanovna`` that was ``Ivanivna``.

The table here (:data:`BUILTIN`) is small and deliberate: common Ukrainian
and Russian given names and the patronymics formed from common fathers'
names, in Cyrillic as written and in Latin as SPEC §4.1 spells them (KMU 2010
for Ukrainian, ICAO 9303 for Russian), each with the sex it implies. It is
general knowledge, not the generator's lists. The project's matching work is
building fuller tables under ``gateway/protocol/names/``; any object with
this interface can replace :data:`BUILTIN` (see :func:`set_table`).

Guarantees: lookups are case-insensitive, ``ё`` counts as ``е`` and
apostrophes are ignored; nothing here logs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal, Protocol

from gateway.pluginspec import translit

Kind = Literal["given", "patronymic"]
Sex = Literal["female", "male"]


@dataclass(frozen=True, slots=True)
class KnownName:
    """One spelling of a known name, with what it says about its bearer."""

    text: str  # as written: "Іванівна", "Ivanivna"
    kind: Kind
    sex: Sex


class NameTable(Protocol):
    """What the corrector needs of a table of names."""

    def lookup(self, text: str, kind: Kind) -> KnownName | None:
        """The entry spelled ``text`` (case-insensitively), if known."""
        ...

    def entries(self, kind: Kind) -> Iterable[KnownName]:
        """Every entry of ``kind``, in all scripts."""
        ...


def key(text: str) -> str:
    """The spelling compared: lower case, ``ё`` as ``е``, no apostrophes."""
    return "".join(c for c in text.lower().replace("ё", "е") if c not in translit.APOSTROPHES)


# Given names: (Ukrainian, Russian) forms per sex.
_GIVEN_F_UK = (
    "Олена", "Марія", "Софія", "Ганна", "Ірина", "Дарина", "Оксана", "Наталія", "Тетяна",
    "Юлія", "Анастасія", "Катерина", "Вікторія", "Ольга", "Світлана", "Людмила", "Валентина",
    "Надія", "Любов", "Галина", "Христина", "Соломія", "Мирослава", "Злата", "Єва", "Аліна",
    "Діана", "Поліна", "Вероніка", "Яна", "Анна", "Олександра", "Василина", "Уляна", "Майя",
)  # fmt: skip
_GIVEN_M_UK = (
    "Олексій", "Андрій", "Богдан", "Тарас", "Юрій", "Дмитро", "Іван", "Петро", "Микола",
    "Олег", "Сергій", "Василь", "Михайло", "Олександр", "Володимир", "Максим", "Артем",
    "Денис", "Євген", "Віктор", "Роман", "Ярослав", "Степан", "Григорій", "Павло", "Назар",
    "Матвій", "Кирило", "Данило", "Остап", "Антон", "Ігор", "Віталій", "Владислав", "Марко",
)  # fmt: skip
_GIVEN_F_RU = (
    "Анна", "Мария", "Ольга", "Екатерина", "Татьяна", "Полина", "Елена", "Ирина", "Наталья",
    "Юлия", "Анастасия", "Дарья", "Виктория", "Светлана", "Людмила", "Валентина", "Надежда",
    "Любовь", "Галина", "Ксения", "Алиса", "Софья", "София", "Вера", "Арина", "Алина",
    "Елизавета", "Варвара", "Маргарита", "Кристина", "Евгения", "Александра", "Милана",
)  # fmt: skip
_GIVEN_M_RU = (
    "Алексей", "Дмитрий", "Иван", "Михаил", "Никита", "Сергей", "Андрей", "Пётр", "Николай",
    "Олег", "Владимир", "Александр", "Максим", "Артём", "Денис", "Евгений", "Виктор", "Роман",
    "Ярослав", "Павел", "Кирилл", "Даниил", "Матвей", "Антон", "Игорь", "Илья", "Егор",
    "Тимофей", "Фёдор", "Григорий", "Степан", "Василий", "Юрий", "Константин", "Глеб",
)  # fmt: skip
# Fathers' names and the patronymics they give: (male, female).
_PATRONYMIC_UK = (
    ("Іванович", "Іванівна"), ("Петрович", "Петрівна"), ("Миколайович", "Миколаївна"),
    ("Олегович", "Олегівна"), ("Андрійович", "Андріївна"), ("Сергійович", "Сергіївна"),
    ("Олександрович", "Олександрівна"), ("Володимирович", "Володимирівна"),
    ("Васильович", "Василівна"), ("Михайлович", "Михайлівна"), ("Юрійович", "Юріївна"),
    ("Богданович", "Богданівна"), ("Тарасович", "Тарасівна"), ("Вікторович", "Вікторівна"),
    ("Романович", "Романівна"), ("Дмитрович", "Дмитрівна"), ("Олексійович", "Олексіївна"),
    ("Степанович", "Степанівна"), ("Григорович", "Григорівна"), ("Павлович", "Павлівна"),
    ("Ярославович", "Ярославівна"), ("Ігорович", "Ігорівна"), ("Євгенович", "Євгенівна"),
)  # fmt: skip
_PATRONYMIC_RU = (
    ("Иванович", "Ивановна"), ("Петрович", "Петровна"), ("Сергеевич", "Сергеевна"),
    ("Андреевич", "Андреевна"), ("Николаевич", "Николаевна"), ("Олегович", "Олеговна"),
    ("Александрович", "Александровна"), ("Владимирович", "Владимировна"),
    ("Алексеевич", "Алексеевна"), ("Дмитриевич", "Дмитриевна"), ("Михайлович", "Михайловна"),
    ("Викторович", "Викторовна"), ("Юрьевич", "Юрьевна"), ("Васильевич", "Васильевна"),
    ("Евгеньевич", "Евгеньевна"), ("Игоревич", "Игоревна"), ("Павлович", "Павловна"),
    ("Романович", "Романовна"), ("Максимович", "Максимовна"), ("Денисович", "Денисовна"),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class StaticNameTable:
    """A :class:`NameTable` over a fixed list of entries."""

    known: tuple[KnownName, ...]

    def lookup(self, text: str, kind: Kind) -> KnownName | None:
        wanted = key(text)
        return next((n for n in self.known if n.kind == kind and key(n.text) == wanted), None)

    def entries(self, kind: Kind) -> Iterator[KnownName]:
        return (n for n in self.known if n.kind == kind)


def _spellings(text: str, language: translit.Language) -> list[str]:
    latin = translit.latin(text, language)
    return [text, latin] if latin else [text]


def _build() -> StaticNameTable:
    found: dict[tuple[str, Kind], KnownName] = {}

    def add(texts: Iterable[str], kind: Kind, sex: Sex, language: translit.Language) -> None:
        for text in texts:
            for spelling in _spellings(text, language):
                # A spelling in both languages (Анна, Олег) is one entry; no
                # name here is borne by both sexes.
                found.setdefault((key(spelling), kind), KnownName(spelling, kind, sex))

    add(_GIVEN_F_UK, "given", "female", "uk")
    add(_GIVEN_M_UK, "given", "male", "uk")
    add(_GIVEN_F_RU, "given", "female", "ru")
    add(_GIVEN_M_RU, "given", "male", "ru")
    add((m for m, _ in _PATRONYMIC_UK), "patronymic", "male", "uk")
    add((f for _, f in _PATRONYMIC_UK), "patronymic", "female", "uk")
    add((m for m, _ in _PATRONYMIC_RU), "patronymic", "male", "ru")
    add((f for _, f in _PATRONYMIC_RU), "patronymic", "female", "ru")
    return StaticNameTable(tuple(found.values()))


BUILTIN: NameTable = _build()
_table: NameTable = BUILTIN


def table() -> NameTable:
    """The table the corrector uses."""
    return _table


def set_table(new: NameTable) -> NameTable:
    """Use ``new`` from now on; returns the table it replaces (for tests and fuller tables)."""
    global _table
    previous, _table = _table, new
    return previous
