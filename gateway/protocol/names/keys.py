"""Comparison keys for given names, patronymics, surnames and places.

Two spellings of the same name get the same key:

- given names by table (``data/given_names.csv``, with variants taken from
  names-translator in ``data/given_names_nt.csv``, MIT, licence beside it):
  Олексій, Алексей, Oleksii, Aleksey and Alexej share one key;
- patronymics by deriving them from those given names in both languages
  (Дмитрович, Дмитриевич, Dmytrivna, Dmitrievna → the father Дмитро/Дмитрий),
  with the irregular ones in ``data/patronymic_exceptions.csv``;
- surnames by rule: the letter differences of :mod:`.fold` (і/и/ы, ї/и,
  є/е, ґ/г, ё/е) plus masculine/feminine endings (-ов/-ова, -ський/-ська/
  -ская, -ин/-іна) and -ьов/-ёв/-ев;
- places by table (``data/places.csv``: Маріуполь/Мариуполь, renamed
  towns such as Бахмут/Артемовск) after dropping "м.", "г.", "с." and
  anything after a comma.

A name the tables do not know still gets a key: ``"~"`` and its fold, so
spelling variants the fold merges still meet. Keys are opaque strings to
compare for equality; they are not for display. A key of ``None`` means
the text holds no letters.

Guarantees (``tests/test_names.py``): every table equivalence holds both
ways, in Cyrillic and in the Latin of KMU 2010, ICAO 9303, BGN/PCGN,
German and French (:mod:`.systems`); a
Latin spelling that two different names fold to is left ambiguous (it falls
back to its fold) rather than assigned to either.
"""

from __future__ import annotations

import contextlib
import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from typing import Literal

from rapidfuzz.distance import Levenshtein

from gateway.protocol.names.fold import clean, fold_latin, fold_name
from gateway.protocol.names.systems import spellings
from gateway.protocol.names.translit import Untransliterable, is_cyrillic, russian, ukrainian

Sex = Literal["female", "male"]
UNKNOWN_PREFIX = "~"  # the key of a name no table knows: its fold


@dataclass(frozen=True, slots=True)
class GivenName:
    """One given name in its Ukrainian and Russian forms."""

    key: str
    sex: Sex
    ukrainian: tuple[str, ...]
    russian: tuple[str, ...]


def _rows(name: str) -> Iterator[dict[str, str]]:
    text = resources.files("gateway.protocol.names").joinpath("data", name).read_text("utf-8")
    yield from csv.DictReader(text.splitlines())


def _norm(text: str) -> str:
    """Cyrillic lookup form: cleaned, ё as е, no hyphen spacing."""
    return clean(text).replace("ё", "е")


def _official_forms(form: str) -> set[str]:
    """Folds of the form itself and of its KMU 2010 and ICAO 9303 spellings."""
    forms = {fold_name(form)}
    for system in (ukrainian, russian):
        with contextlib.suppress(Untransliterable):
            forms.add(fold_latin(system(form)))
    forms.discard("")
    return forms


def _other_forms(form: str) -> set[str]:
    """Folds of its BGN/PCGN, German and French spellings."""
    forms = {fold_latin(latin) for latin in spellings(form.lower()).values()}
    forms.discard("")
    return forms


@dataclass(frozen=True, slots=True)
class _Index:
    """Exact Cyrillic forms and Latin folds, each pointing at one key."""

    cyrillic: dict[str, str]
    latin: dict[str, str]

    def lookup(self, text: str) -> str | None:
        norm = _norm(text)
        if norm in self.cyrillic:
            return self.cyrillic[norm]
        return self.latin.get(fold_name(text))


def _build_index(entries: list[tuple[str, list[str]]]) -> _Index:
    """Index (key, forms) pairs; a Latin fold claimed by two keys is dropped.

    The official spellings are indexed first; the other systems only add
    folds no official spelling holds (French Жанна → Janna must not take
    Yana from Яна).
    """
    cyrillic: dict[str, str] = {}
    official: dict[str, set[str]] = {}
    other: dict[str, set[str]] = {}
    for key, forms in entries:
        for form in forms:
            cyrillic.setdefault(_norm(form), key)
            for folded in _official_forms(form):
                official.setdefault(folded, set()).add(key)
            for folded in _other_forms(form):
                other.setdefault(folded, set()).add(key)
    unique = {folded: next(iter(keys)) for folded, keys in other.items() if len(keys) == 1}
    for folded in official:
        unique.pop(folded, None)
    unique.update({f: next(iter(keys)) for f, keys in official.items() if len(keys) == 1})
    return _Index(cyrillic, unique)


@cache
def given_names() -> tuple[GivenName, ...]:
    """The table of given names, forms sharing a spelling merged into one name."""
    groups: list[tuple[Sex, list[str], list[str]]] = []
    for row in _rows("given_names.csv"):
        sex: Sex = "female" if row["sex"] == "female" else "male"
        groups.append((sex, row["uk"].split("|"), row["ru"].split("|")))
    # Variants from names-translator join the name their other side names.
    by_form: dict[str, int] = {}
    for i, (_, uk, ru) in enumerate(groups):
        for form in uk + ru:
            by_form.setdefault(_norm(form), i)
    for row in _rows("given_names_nt.csv"):
        i_uk, i_ru = by_form.get(_norm(row["uk"])), by_form.get(_norm(row["ru"]))
        target = i_uk if i_uk is not None else i_ru
        if target is None:
            continue
        if i_uk is None:
            groups[target][1].append(row["uk"])
        if i_ru is None:
            groups[target][2].append(row["ru"])
    # Union the rows that share a written form (Панас and Опанас both →
    # Афанасий); never by fold, which would merge Діана with Дана.
    parent = list(range(len(groups)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[tuple[str, str], int] = {}
    for i, (sex, uk, ru) in enumerate(groups):
        for form in uk + ru:
            j = owner.setdefault((sex, _norm(form)), i)
            parent[find(i)] = find(j)
    merged: dict[int, tuple[Sex, list[str], list[str]]] = {}
    for i, (sex, uk, ru) in enumerate(groups):
        root = merged.setdefault(find(i), (sex, [], []))
        root[1].extend(f for f in uk if f not in root[1])
        root[2].extend(f for f in ru if f not in root[2])
    return tuple(
        GivenName(key="g:" + _norm(uk[0]) + ":" + sex[0], sex=sex,
                  ukrainian=tuple(uk), russian=tuple(ru))
        for sex, uk, ru in merged.values()
    )  # fmt: skip


@cache
def _given_index() -> _Index:
    return _build_index([(n.key, [*n.ukrainian, *n.russian]) for n in given_names()])


@cache
def _given_by_key() -> dict[str, GivenName]:
    return {n.key: n for n in given_names()}


def _unknown(text: str) -> str | None:
    folded = fold_name(text)
    return UNKNOWN_PREFIX + folded if folded else None


@lru_cache(maxsize=1 << 16)
def given_name_key(text: str) -> str | None:
    """The key of a given name: equal for its Ukrainian, Russian and Latin forms.

    Args:
        text: a given name as written (either script, any case, OCR noise).

    Returns:
        ``"g:..."`` for a name in the table, ``"~"`` + its fold otherwise,
        ``None`` for text without letters.
    """
    return _given_index().lookup(text) or _unknown(text)


def given_name_sex(text: str) -> Sex | None:
    """The sex a given name belongs to, when the table knows the name."""
    name = _given_by_key().get(given_name_key(text) or "")
    return name.sex if name else None


def equivalents(text: str) -> frozenset[str]:
    """Every Cyrillic form the table holds for the name ``text`` (empty if unknown)."""
    name = _given_by_key().get(given_name_key(text) or "")
    return frozenset((*name.ukrainian, *name.russian)) if name else frozenset()


@cache
def _folds_by_key() -> dict[str, frozenset[str]]:
    out: dict[str, frozenset[str]] = {}
    for name in given_names():
        folds: set[str] = set()
        for form in (*name.ukrainian, *name.russian):
            folds |= _official_forms(form) | _other_forms(form)
        out[name.key] = frozenset(folds)
    return out


def given_name_folds(key: str) -> frozenset[str]:
    """The Latin folds of every form of the given name with this key (empty if none).

    For telling whether an unknown spelling is a misreading of a known name:
    compare its :func:`~gateway.protocol.names.fold.fold_name` with these.
    """
    return _folds_by_key().get(key, frozenset())


NEAR_MIN_LETTERS = 4  # one edit in a shorter name is too much of it (Ян, Яна, Яи)


def nearest_given_name(text: str) -> GivenName | None:
    """The known given name ``text`` is, or is one misread letter away from.

    For an extractor checking a near-miss (OCR's Ирииа for Ирина, Юрнй for
    Юрій) and for the matcher. A name in the tables is returned as is; an
    unknown spelling of at least :data:`NEAR_MIN_LETTERS` folded letters is
    returned as the one known name within one edit of it, and ``None`` when
    none or several are (a guess between two names is no answer).
    """
    known = _given_by_key().get(given_name_key(text) or "")
    if known:
        return known
    folded = fold_name(text)
    if len(folded) < NEAR_MIN_LETTERS:
        return None
    keys = {key for key in _folds_by_key() if one_edit_from(key, folded)}
    return _given_by_key()[keys.pop()] if len(keys) == 1 else None


@lru_cache(maxsize=1 << 16)
def one_edit_from(key: str, folded: str) -> bool:
    """Whether the fold ``folded`` is within one edit of a spelling of the name ``key``."""
    return any(
        Levenshtein.distance(folded, known, score_cutoff=1) <= 1 for known in given_name_folds(key)
    )


# -- patronymics -------------------------------------------------------------

_UK_VOWELS = "аеєиіїоуюя"


def _uk_patronymics(given: str) -> tuple[str, str]:
    g = given.lower()
    if g.endswith("ій"):
        return g + "ович", g[:-1] + "ївна"
    if g.endswith("й"):
        return g + "ович", g[:-1] + "ївна"
    if g.endswith("ь"):
        return g + "ович", g[:-1] + "івна"
    if g[-1] in _UK_VOWELS:
        return g[:-1] + "ович", g[:-1] + "івна"
    return g + "ович", g + "івна"


def _ru_patronymics(given: str) -> tuple[str, str]:
    g = given.lower().replace("ё", "е")
    if g.endswith("ий"):
        stem = g[:-2]
        two_consonants = len(stem) > 1 and not any(c in "аеиоуыэюя" for c in stem[-2:])
        soft = "иев" if two_consonants else "ьев"
        return stem + soft + "ич", stem + soft + "на"
    if g.endswith("й"):
        return g[:-1] + "евич", g[:-1] + "евна"
    if g.endswith("ь"):
        stem = g[:-1] if g[-2] == "р" else g
        return stem + "евич", stem + "евна"
    if g[-1] in "аяо":
        return g[:-1] + "ович", g[:-1] + "овна"
    if g[-1] in "жшчщц":
        return g + "евич", g + "евна"
    return g + "ович", g + "овна"


def patronymics(given: str, language: Literal["uk", "ru"]) -> tuple[str, str]:
    """The (son's, daughter's) patronymic from a father's given name.

    Irregular ones come from ``data/patronymic_exceptions.csv``; the rest
    follow the regular endings of each language (Сергій → Сергійович,
    Сергіївна; Сергей → Сергеевич, Сергеевна). Lower case.
    """
    exception = _patronymic_exceptions().get((language, _norm(given)))
    if exception:
        return exception
    return _uk_patronymics(given) if language == "uk" else _ru_patronymics(given)


@cache
def _patronymic_exceptions() -> dict[tuple[str, str], tuple[str, str]]:
    return {
        (row["language"], _norm(row["given"])): (row["male"].lower(), row["female"].lower())
        for row in _rows("patronymic_exceptions.csv")
    }


@cache
def _patronymic_index() -> _Index:
    entries: list[tuple[str, list[str]]] = []
    for name in given_names():
        if name.sex != "male":
            continue
        forms: list[str] = []
        for language, givens in (("uk", name.ukrainian), ("ru", name.russian)):
            for given in map(_norm, givens):
                if given and all(is_cyrillic(c) for c in given):
                    forms.extend(patronymics(given, language))  # type: ignore[arg-type]
        entries.append(("p:" + name.key, forms))
    return _build_index(entries)


_PATRONYMIC_ENDING = re.compile(r"(ovic|evic|ivic|ovna|evna|ivna|inicna|icna|ic)$")


@lru_cache(maxsize=1 << 16)
def patronymic_key(text: str) -> str | None:
    """The key of a patronymic: equal for both languages and both sexes.

    A son's and a daughter's patronymic from the same father share a key
    (Дмитрович, Дмитрівна, Дмитриевич, Dmitrievna), so siblings do too.
    """
    found = _patronymic_index().lookup(text)
    if found:
        return found
    folded = fold_name(text)
    if not folded:
        return None
    return UNKNOWN_PREFIX + _PATRONYMIC_ENDING.sub("", folded)


# -- surnames ----------------------------------------------------------------

# Applied to each folded word in order; masculine and feminine meet, and so
# do the Ukrainian and Russian adjective endings.
_SURNAME_RULES = (
    (re.compile(r"aia$"), "a"),  # Russian feminine -ая (Сосницкая, Ратушная)
    (re.compile(r"io(va?)$"), r"o\1"),  # ё spelled yo/jo (Kovalyova)
    (re.compile(r"sk(?:a|i|oi)$"), "sk"),
    (re.compile(r"ck(?:a|i|oi)$"), "ck"),
    (re.compile(r"(?<=[oe]v)a$"), ""),
    (re.compile(r"(?<=in)a$"), ""),
    (re.compile(r"[oe]v$"), "v"),
)


@lru_cache(maxsize=1 << 16)
def surname_key(text: str) -> str | None:
    """The key of a family name across scripts, languages and sexes.

    Ковальов, Ковалёв, Ковалев, Ковалева and Kovalova share a key, as do
    Шевченко/Schewtschenko and Сосницький/Сосницкая/Sosnytska.
    """
    words = []
    for folded in fold_name(text).replace("-", " ").split():
        word = folded
        for pattern, replacement in _SURNAME_RULES:
            word = pattern.sub(replacement, word)
        words.append(word)
    return " ".join(words) or None


# -- places ------------------------------------------------------------------

_PLACE_PREFIXES = frozenset(
    {"м", "г", "с", "смт", "пгт", "сел", "село", "селище", "місто", "город", "поселок"}
    | {"city", "town", "village", "of"}
)


@cache
def _place_index() -> _Index:
    entries = []
    for row in _rows("places.csv"):
        forms = [row["uk"], *row["ru"].split("|"), *row["other"].split("|")]
        entries.append(("l:" + fold_name(row["uk"]), [f for f in forms if f]))
    return _build_index(entries)


def _place_name(text: str) -> str:
    head = text.split(",", maxsplit=1)[0]
    words = clean(head.replace(".", " ")).split()
    while words and words[0] in _PLACE_PREFIXES:
        words.pop(0)
    return " ".join(words)


@lru_cache(maxsize=1 << 16)
def place_key(text: str) -> str | None:
    """The key of a town or village: its table entry, else its fold.

    Only the part before the first comma counts (a region after it is
    written in too many ways), without a leading "м.", "г.", "с.", "смт".
    """
    name = _place_name(text)
    if not name:
        return None
    return _place_index().lookup(name) or _unknown(name)
