"""Test registries and dossier records with ground truth, for gateway match.

A registry of children reported missing (SPEC §11 CSV rows, as families
write them: Ukrainian Cyrillic mostly, sometimes Latin by whichever system)
and dossier records about some of those children (SPEC §4.1 records, as the
holder's officials write them: Russian mostly), with the truth of which
report each record is, and which error class it carries.

This generator keeps its own name inventory and its own spelling rules so
that it does not share mistakes with ``gateway.protocol.names``: its given
names include some the tables do not hold, its Russian surname forms come
from its own letter rules, and its Latin spellings from its own tables of
four systems (KMU-like, BGN/PCGN, German, French).

Error classes of a record whose child is in the registry (one each):
``russian`` (only the Russian spelling), ``latin``, ``date_off_by_one``,
``date_swapped`` (day and month), ``date_missing``, ``ocr`` (digits and
look-alike letters, a dropped or doubled letter), ``wrong_columns``
(family and given name exchanged), ``ukrainian`` (written as the family
did). Records with no report (``share_without_report``, ~20 %): ``sibling``
(same surname, patronymic and place as a registered child, another given
name and birth date), ``twin`` (the same but the given name, maybe the
sex), ``namesake`` (same full name, born years apart), ``stranger``.

Seeds: :data:`DEV_SEED` for development and choosing the threshold;
:data:`TEST_SEED` is held out: nothing is tuned on it.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

DEV_SEED = 1201
TEST_SEED = 90417  # held out: report it, never tune on it

REGISTRY_COLUMNS = (
    "report_id", "family_name", "given_name", "patronymic", "sex", "birth_date",
    "birth_place", "displacement_date", "displacement_place", "reporter_relation",
    "reporter_name", "reporter_phone",
)  # fmt: skip

MATCHED_CLASSES = (
    "russian", "ukrainian", "latin", "date_off_by_one", "date_swapped", "date_missing",
    "ocr", "wrong_columns",
)  # fmt: skip
UNMATCHED_CLASSES = ("sibling", "twin", "namesake", "stranger")

# -- the inventory: (Ukrainian, Russian) ------------------------------------

MALE = [
    ("Олександр", "Александр"), ("Олексій", "Алексей"), ("Андрій", "Андрей"),
    ("Артем", "Артём"), ("Богдан", "Богдан"), ("Вадим", "Вадим"), ("Василь", "Василий"),
    ("Віктор", "Виктор"), ("Віталій", "Виталий"), ("Владислав", "Владислав"),
    ("Володимир", "Владимир"), ("Гліб", "Глеб"), ("Григорій", "Григорий"),
    ("Данило", "Даниил"), ("Денис", "Денис"), ("Дмитро", "Дмитрий"), ("Євген", "Евгений"),
    ("Єгор", "Егор"), ("Захар", "Захар"), ("Іван", "Иван"), ("Ігор", "Игорь"),
    ("Ілля", "Илья"), ("Кирило", "Кирилл"), ("Костянтин", "Константин"), ("Лев", "Лев"),
    ("Максим", "Максим"), ("Марко", "Марк"), ("Матвій", "Матвей"), ("Микита", "Никита"),
    ("Микола", "Николай"), ("Михайло", "Михаил"), ("Назар", "Назар"), ("Олег", "Олег"),
    ("Остап", "Остап"), ("Павло", "Павел"), ("Петро", "Пётр"), ("Роман", "Роман"),
    ("Ростислав", "Ростислав"), ("Сергій", "Сергей"), ("Святослав", "Святослав"),
    ("Степан", "Степан"), ("Тарас", "Тарас"), ("Тимофій", "Тимофей"), ("Тимур", "Тимур"),
    ("Федір", "Фёдор"), ("Юрій", "Юрий"), ("Ярослав", "Ярослав"), ("Яків", "Яков"),
    ("Арсеній", "Арсений"), ("Всеволод", "Всеволод"), ("Мирослав", "Мирослав"),
    ("Устим", "Устин"), ("Зореслав", "Зореслав"), ("Радомир", "Радомир"),
    ("Северин", "Северин"), ("Левко", "Левко"),
]  # fmt: skip
FEMALE = [
    ("Олександра", "Александра"), ("Аліна", "Алина"), ("Анастасія", "Анастасия"),
    ("Ангеліна", "Ангелина"), ("Ганна", "Анна"), ("Валерія", "Валерия"),
    ("Вероніка", "Вероника"), ("Вікторія", "Виктория"), ("Дарина", "Дарья"),
    ("Діана", "Диана"), ("Єва", "Ева"), ("Єлизавета", "Елизавета"), ("Злата", "Злата"),
    ("Ірина", "Ирина"), ("Катерина", "Екатерина"), ("Кіра", "Кира"), ("Ксенія", "Ксения"),
    ("Марія", "Мария"), ("Марина", "Марина"), ("Мілана", "Милана"),
    ("Мирослава", "Мирослава"), ("Надія", "Надежда"), ("Наталія", "Наталья"),
    ("Олена", "Елена"), ("Олеся", "Олеся"), ("Ольга", "Ольга"), ("Поліна", "Полина"),
    ("Світлана", "Светлана"), ("Соломія", "Соломия"), ("Софія", "София"),
    ("Тетяна", "Татьяна"), ("Уляна", "Ульяна"), ("Христина", "Кристина"),
    ("Юлія", "Юлия"), ("Яна", "Яна"), ("Ярослава", "Ярослава"), ("Богдана", "Богдана"),
    ("Василина", "Василина"), ("Емілія", "Эмилия"), ("Зоряна", "Зоряна"),
    ("Любава", "Любава"), ("Орися", "Орыся"), ("Мар'яна", "Марьяна"), ("Стефанія", "Стефания"),
]  # fmt: skip
# Fathers: (uk son's, uk daughter's, ru son's, ru daughter's patronymic).
FATHERS = [
    ("Олександрович", "Олександрівна", "Александрович", "Александровна"),
    ("Олексійович", "Олексіївна", "Алексеевич", "Алексеевна"),
    ("Андрійович", "Андріївна", "Андреевич", "Андреевна"),
    ("Васильович", "Василівна", "Васильевич", "Васильевна"),
    ("Вікторович", "Вікторівна", "Викторович", "Викторовна"),
    ("Віталійович", "Віталіївна", "Витальевич", "Витальевна"),
    ("Володимирович", "Володимирівна", "Владимирович", "Владимировна"),
    ("Григорович", "Григорівна", "Григорьевич", "Григорьевна"),
    ("Дмитрович", "Дмитрівна", "Дмитриевич", "Дмитриевна"),
    ("Євгенович", "Євгенівна", "Евгеньевич", "Евгеньевна"),
    ("Іванович", "Іванівна", "Иванович", "Ивановна"),
    ("Ігорович", "Ігорівна", "Игоревич", "Игоревна"),
    ("Миколайович", "Миколаївна", "Николаевич", "Николаевна"),
    ("Михайлович", "Михайлівна", "Михайлович", "Михайловна"),
    ("Олегович", "Олегівна", "Олегович", "Олеговна"),
    ("Павлович", "Павлівна", "Павлович", "Павловна"),
    ("Петрович", "Петрівна", "Петрович", "Петровна"),
    ("Романович", "Романівна", "Романович", "Романовна"),
    ("Сергійович", "Сергіївна", "Сергеевич", "Сергеевна"),
    ("Юрійович", "Юріївна", "Юрьевич", "Юрьевна"),
    ("Анатолійович", "Анатоліївна", "Анатольевич", "Анатольевна"),
    ("Валерійович", "Валеріївна", "Валерьевич", "Валерьевна"),
    ("Геннадійович", "Геннадіївна", "Геннадьевич", "Геннадьевна"),
    ("Леонідович", "Леонідівна", "Леонидович", "Леонидовна"),
    ("Богданович", "Богданівна", "Богданович", "Богдановна"),
    ("Тарасович", "Тарасівна", "Тарасович", "Тарасовна"),
    ("Степанович", "Степанівна", "Степанович", "Степановна"),
    ("Федорович", "Федорівна", "Фёдорович", "Фёдоровна"),
    ("Якович", "Яківна", "Яковлевич", "Яковлевна"),
    ("Ілліч", "Іллівна", "Ильич", "Ильинична"),
]  # fmt: skip
SURNAME_STEMS = [
    "Ковал", "Бондар", "Ткач", "Кравч", "Мельнич", "Олійн", "Шевч", "Петр", "Павл",
    "Сидор", "Гриц", "Мороз", "Лисен", "Савч", "Руд", "Марч", "Бойч", "Кушн", "Литвин",
    "Гончар", "Поліщ", "Левч", "Кузьм", "Дяч", "Тимош", "Васил", "Семен", "Карп",
    "Мартин", "Остап", "Кирил", "Гаврил", "Дорош", "Федор", "Захарч", "Клим", "Ярош",
    "Гордій", "Мирон", "Назар", "Оліфір", "Білич", "Дід", "Їжак", "Гнатюч", "Головч",
    "Жук", "Зінч", "Ігнат", "Кобзар", "Лук", "Мацюк", "Нестер", "Опанас", "Пилип",
    "Рибальч", "Стеф", "Тарас", "Устим", "Филип", "Харч", "Цибул", "Чорн", "Шаповал",
    "Щерб", "Юрч", "Яковл", "Березн", "Вовч", "Гребен", "Демч", "Єрмол", "Журавл",
    "Зайч", "Іващ", "Кириленк", "Лозин", "Мазур", "Нечипор", "Осадч", "Прокоп",
    "Ребр", "Сорок", "Третяк", "Удов", "Фесен", "Хом", "Цар", "Черн", "Шкур", "Щук",
    "Яцен", "Антон", "Бабен", "Величк", "Грищ", "Довгал", "Єв", "Жовтан", "Заїк",
    "Калин", "Ліщин", "Мисник", "Никон", "Онищ", "Пономар", "Різн", "Сав", "Тищ",
    "Уман", "Фролов", "Хрущ", "Цвєтк", "Чумак", "Шуляк", "Ющ", "Ярем",
]  # fmt: skip
# (uk masculine, uk feminine, ru masculine, ru feminine) endings.
SURNAME_ENDINGS = [
    ("енко", "енко", "енко", "енко"), ("ук", "ук", "ук", "ук"), ("чук", "чук", "чук", "чук"),
    ("ишин", "ишина", "ишин", "ишина"), ("ський", "ська", "ский", "ская"),
    ("ов", "ова", "ов", "ова"), ("ьов", "ьова", "ёв", "ёва"), ("ін", "іна", "ин", "ина"),
    ("ко", "ко", "ко", "ко"), ("ич", "ич", "ич", "ич"), ("ак", "ак", "ак", "ак"),
    ("ний", "на", "ный", "ная"), ("ець", "ець", "ец", "ец"), ("єв", "єва", "ев", "ева"),
]  # fmt: skip
# (Ukrainian, Russian, Latin as a family abroad writes it)
PLACES = [
    ("Маріуполь", "Мариуполь"), ("Бердянськ", "Бердянск"), ("Мелітополь", "Мелитополь"),
    ("Херсон", "Херсон"), ("Харків", "Харьков"), ("Ізюм", "Изюм"), ("Бахмут", "Артёмовск"),
    ("Сєвєродонецьк", "Северодонецк"), ("Лисичанськ", "Лисичанск"),
    ("Нова Каховка", "Новая Каховка"), ("Енергодар", "Энергодар"), ("Токмак", "Токмак"),
    ("Волноваха", "Волноваха"), ("Горлівка", "Горловка"), ("Донецьк", "Донецк"),
    ("Луганськ", "Луганск"), ("Запоріжжя", "Запорожье"), ("Олешки", "Алешки"),
    ("Скадовськ", "Скадовск"), ("Генічеськ", "Геническ"), ("Куп'янськ", "Купянск"),
    ("Вовчанськ", "Волчанск"), ("Балаклія", "Балаклея"), ("Краматорськ", "Краматорск"),
    ("Слов'янськ", "Славянск"), ("Авдіївка", "Авдеевка"), ("Каховка", "Каховка"),
    ("Пологи", "Пологи"), ("Оріхів", "Орехов"), ("Василівка", "Васильевка"),
    ("Приморськ", "Приморск"), ("Якимівка", "Акимовка"), ("Рубіжне", "Рубежное"),
    ("Сватове", "Сватово"), ("Старобільськ", "Старобельск"), ("Щастя", "Счастье"),
    ("Дебальцеве", "Дебальцево"), ("Шахтарськ", "Шахтёрск"), ("Ясинувата", "Ясиноватая"),
    ("Покровськ", "Покровск"), ("Чугуїв", "Чугуев"), ("Великий Бурлук", "Великий Бурлук"),
]  # fmt: skip

# Ukrainian letters to Russian spelling, applied to a surname stem.
_UK_TO_RU = str.maketrans({"і": "и", "ї": "и", "є": "е", "ґ": "г", "'": "ь"})

# Own Latin tables: (letter → spelling); position rules kept simple on purpose.
_COMMON = {
    "а": "a", "б": "b", "д": "d", "е": "e", "з": "z", "к": "k", "л": "l", "м": "m",
    "н": "n", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f",
    "ь": "", "ъ": "", "'": "",
}  # fmt: skip
LATIN_SYSTEMS: dict[str, dict[str, str]] = {
    "kmu": {**_COMMON, "в": "v", "г": "h", "ґ": "g", "ж": "zh", "и": "y", "і": "i", "ї": "i",
            "й": "i", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "shch", "є": "ie",
            "ю": "iu", "я": "ia", "ё": "e", "ы": "y", "э": "e"},
    "bgn": {**_COMMON, "в": "v", "г": "g", "ґ": "g", "ж": "zh", "и": "i", "і": "i", "ї": "yi",
            "й": "y", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "shch", "є": "ye",
            "ю": "yu", "я": "ya", "ё": "yo", "ы": "y", "э": "e"},
    "german": {**_COMMON, "в": "w", "г": "g", "ґ": "g", "ж": "sch", "з": "s", "и": "i",
               "і": "i", "ї": "ji", "й": "j", "х": "ch", "ц": "z", "ч": "tsch", "ш": "sch",
               "щ": "schtsch", "є": "je", "ю": "ju", "я": "ja", "ё": "jo", "ы": "y", "э": "e"},
    "french": {**_COMMON, "в": "v", "г": "g", "ґ": "g", "ж": "j", "и": "i", "і": "i",
               "ї": "ï", "й": "ï", "х": "kh", "ц": "ts", "ч": "tch", "ш": "ch", "щ": "chtch",
               "є": "ie", "ю": "iou", "я": "ia", "ё": "io", "ы": "y", "э": "e", "у": "ou"},
}  # fmt: skip

_OCR_SWAPS = {
    "з": "3", "б": "6", "о": "0", "і": "1", "а": "a", "е": "e", "с": "c", "р": "p",
    "х": "x", "и": "н", "ш": "щ", "н": "и", "щ": "ш", "О": "0", "З": "3", "І": "1",
}  # fmt: skip


def to_latin(text: str, system: str) -> str:
    """``text`` in Latin letters by one of :data:`LATIN_SYSTEMS`, keeping case."""
    table = LATIN_SYSTEMS[system]
    out = []
    for c in text:
        latin = table.get(c.lower(), c)
        out.append(latin.capitalize() if c.isupper() else latin)
    return "".join(out)


@dataclass(frozen=True, slots=True)
class Child:
    """One child in both languages; dates as ``date`` objects."""

    sex: str
    given: tuple[str, str]  # (uk, ru)
    family: tuple[str, str]
    patronymic: tuple[str, str]
    birth_date: date
    birth_place: tuple[str, str]
    displacement_date: date
    displacement_place: tuple[str, str]


@dataclass
class Corpus:
    """A registry, records, and the truth about them."""

    registry: list[dict[str, str]] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)
    truth: dict[str, str | None] = field(default_factory=dict)  # record_id → report_id
    error_class: dict[str, str] = field(default_factory=dict)  # record_id → class

    def write_registry(self, path: Path) -> None:
        write_registry(path, self.registry)


def write_registry(path: Path, rows: list[dict[str, str]]) -> None:
    """The registry as the UTF-8 CSV of SPEC §11."""
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=REGISTRY_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


class _Maker:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        n = len(SURNAME_STEMS) * len(SURNAME_ENDINGS)
        # A long tail: the commonest surname is ~0.3 % of children, as in Ukraine.
        self.surname_weights = [1.0 / (rank + 10) ** 0.9 for rank in range(n)]
        self.surnames = [(s, e) for s in SURNAME_STEMS for e in SURNAME_ENDINGS]
        self.rng.shuffle(self.surnames)

    def surname(self, sex: str) -> tuple[str, str]:
        stem, ending = self.rng.choices(self.surnames, self.surname_weights)[0]
        uk_m, uk_f, ru_m, ru_f = ending
        ru_stem = stem.translate(_UK_TO_RU)
        if sex == "female":
            return stem + uk_f, ru_stem + ru_f
        return stem + uk_m, ru_stem + ru_m

    def given(self, sex: str, avoid: str | None = None) -> tuple[str, str]:
        pool = MALE if sex == "male" else FEMALE
        while True:
            name = self.rng.choice(pool)
            if name[0] != avoid:
                return name

    def birth_date(self) -> date:
        return date(2005, 1, 1) + timedelta(days=self.rng.randrange(17 * 365))

    def child(self) -> Child:
        rng = self.rng
        sex = rng.choice(("female", "male"))
        father = rng.choice(FATHERS)
        place = rng.choice(PLACES)
        return Child(
            sex=sex,
            given=self.given(sex),
            family=self.surname(sex),
            patronymic=(father[0], father[2]) if sex == "male" else (father[1], father[3]),
            birth_date=self.birth_date(),
            birth_place=place,
            displacement_date=date(2022, 2, 24) + timedelta(days=rng.randrange(900)),
            displacement_place=rng.choice(PLACES) if rng.random() < 0.3 else place,
        )

    def sibling(self, of: Child, *, twin: bool) -> Child:
        sex = self.rng.choice(("female", "male"))
        father = next(f for f in FATHERS if of.patronymic[0] in (f[0], f[1]))
        family = of.family
        if sex != of.sex:  # the same family name in the other sex's form
            family = self._other_sex_surname(of)
        born = of.birth_date
        if not twin:
            while abs((born - of.birth_date).days) < 300:
                born = self.birth_date()
        return replace(
            of,
            sex=sex,
            given=self.given(sex, avoid=of.given[0]),
            family=family,
            patronymic=(father[0], father[2]) if sex == "male" else (father[1], father[3]),
            birth_date=born,
        )

    def _other_sex_surname(self, of: Child) -> tuple[str, str]:
        for stem, ending in self.surnames:
            uk_m, uk_f, ru_m, ru_f = ending
            if of.family[0] in (stem + uk_m, stem + uk_f):
                ru_stem = stem.translate(_UK_TO_RU)
                if of.sex == "male":
                    return stem + uk_f, ru_stem + ru_f
                return stem + uk_m, ru_stem + ru_m
        return of.family

    def namesake(self, of: Child) -> Child:
        born = of.birth_date
        while abs(born.year - of.birth_date.year) < 2:
            born = self.birth_date()
        return replace(of, birth_date=born)

    # -- writing ----------------------------------------------------------

    def report(self, report_id: str, c: Child) -> dict[str, str]:
        """A registry row as a family writes it: Ukrainian, sometimes Latin, gaps."""
        rng = self.rng
        latin = rng.random() < 0.08
        system = rng.choice(tuple(LATIN_SYSTEMS))

        def name(uk: str) -> str:
            return to_latin(uk, system) if latin else uk

        def maybe(value: str, p_missing: float) -> str:
            return "" if rng.random() < p_missing else value

        birth = c.birth_date.isoformat()
        if rng.random() < 0.05:
            birth = birth[:7] if rng.random() < 0.5 else birth[:4]
        return {
            "report_id": report_id,
            "family_name": name(c.family[0]),
            "given_name": name(c.given[0]),
            "patronymic": maybe(name(c.patronymic[0]), 0.1),
            "sex": maybe(c.sex, 0.05),
            "birth_date": maybe(birth, 0.02),
            "birth_place": maybe(c.birth_place[0], 0.1),
            "displacement_date": maybe(c.displacement_date.isoformat(), 0.3),
            "displacement_place": maybe(c.displacement_place[0], 0.3),
            "reporter_relation": rng.choice(("mother", "father", "grandparent", "sibling")),
            "reporter_name": "",
            "reporter_phone": "",
        }

    def record(self, record_id: str, c: Child, error: str) -> dict[str, Any]:
        """A dossier record as the holder's officials write it, with one error class."""
        rng = self.rng
        lang = 0 if error == "ukrainian" else 1
        family, given, patronymic = c.family[lang], c.given[lang], c.patronymic[lang]
        place = c.birth_place[lang]
        birth: str | None = c.birth_date.isoformat()
        if error == "latin":
            system = rng.choice(tuple(LATIN_SYSTEMS))
            family, given, patronymic, place = (
                to_latin(t, system) for t in (family, given, patronymic, place)
            )
        elif error == "date_off_by_one":
            birth = (c.birth_date + timedelta(days=rng.choice((-1, 1)))).isoformat()
        elif error == "date_swapped":
            d = c.birth_date
            birth = date(d.year, d.day, d.month).isoformat() if d.day <= 12 else birth
        elif error == "date_missing":
            birth = None
        elif error == "ocr":
            fields = [family, given, patronymic]
            for _ in range(rng.choice((1, 2))):
                i = rng.randrange(3)
                fields[i] = self._ocr(fields[i])
            family, given, patronymic = fields
        elif error == "wrong_columns":
            family, given = given, family
        return {
            "record_id": record_id,
            "case_id": f"case-{record_id}",
            "family_name": family,
            "given_name": given,
            "patronymic": patronymic if rng.random() > 0.05 else None,
            "sex": c.sex if rng.random() > 0.03 else None,
            "birth_date": birth,
            "birth_place": place if rng.random() > 0.15 else None,
            "displacement_date": c.displacement_date.isoformat() if rng.random() > 0.2 else None,
            "displacement_place": c.displacement_place[lang] if rng.random() > 0.3 else None,
        }

    def _ocr(self, text: str) -> str:
        rng = self.rng
        chars = list(text)
        positions = [i for i, ch in enumerate(chars) if ch in _OCR_SWAPS]
        kind = rng.random()
        if positions and kind < 0.7:
            i = rng.choice(positions)
            chars[i] = _OCR_SWAPS[chars[i]]
        elif len(chars) > 4 and kind < 0.85:
            del chars[rng.randrange(1, len(chars) - 1)]
        else:
            i = rng.randrange(len(chars))
            chars.insert(i, chars[i])
        return "".join(chars)


def generate(
    seed: int,
    *,
    reports: int = 20_000,
    records: int = 2_000,
    share_without_report: float = 0.2,
    sibling_share: float = 0.12,
) -> Corpus:
    """A registry of ``reports`` rows and ``records`` records with ground truth.

    ``sibling_share`` of registered children have a sibling (or twin)
    registered too, so that a record must pick the right one of a family.
    """
    maker = _Maker(seed)
    rng = maker.rng
    corpus = Corpus()
    children: list[Child] = []
    while len(children) < reports:
        child = maker.child()
        children.append(child)
        if rng.random() < sibling_share and len(children) < reports:
            children.append(maker.sibling(child, twin=rng.random() < 0.2))
    rng.shuffle(children)
    for i, child in enumerate(children):
        corpus.registry.append(maker.report(f"R{i:07d}", child))
    without = round(records * share_without_report)
    picks = rng.sample(range(len(children)), records - without)
    for n, index in enumerate(picks):
        record_id = f"D{n:06d}"
        error = MATCHED_CLASSES[n % len(MATCHED_CLASSES)]
        corpus.records.append(maker.record(record_id, children[index], error))
        corpus.truth[record_id] = f"R{index:07d}"
        corpus.error_class[record_id] = error
    registered = {(c.given[0], c.family[0], c.birth_date) for c in children}
    for n in range(records - without, records):
        record_id = f"D{n:06d}"
        kind = UNMATCHED_CLASSES[n % len(UNMATCHED_CLASSES)]
        while True:  # a hard negative must not be a registered child by accident
            near = children[rng.randrange(len(children))]
            if kind == "sibling":
                child = maker.sibling(near, twin=False)
            elif kind == "twin":
                child = maker.sibling(near, twin=True)
            elif kind == "namesake":
                child = maker.namesake(near)
            else:
                child = maker.child()
            if (child.given[0], child.family[0], child.birth_date) not in registered:
                break
        corpus.records.append(maker.record(record_id, child, "russian"))
        corpus.truth[record_id] = None
        corpus.error_class[record_id] = kind
    order = list(range(len(corpus.records)))
    rng.shuffle(order)
    corpus.records = [corpus.records[i] for i in order]
    return corpus

