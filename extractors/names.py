"""Known given names and patronymics: what the field corrector may snap a misread name to.

A :class:`NameTable` answers two questions for the corrector
(``extractors.correction``): is this spelling a known given name or
patronymic (and of which sex), and which known names a misread spelling
may stand for. The corrector snaps a name only when the table leaves
exactly one candidate, because a wrong name is worse than a misspelt one: a
caseworker can still match ``Imanimna`` by eye, never an ``Ivanovna`` that
was ``Ivanivna``.

The table used (:func:`table`) is built from the project's shared name
knowledge, reached through ``gateway.pluginspec.names`` (the tables the
matching work keeps under ``gateway/protocol/names/``): every Ukrainian and
Russian form of every given name, and the patronymics formed from the male
ones in both languages, each in Cyrillic as written and in Latin as SPEC
§4.1 spells it (KMU 2010 for Ukrainian, ICAO 9303 for Russian), with the
sex it implies. Any object with this interface may replace it
(:func:`set_table`), e.g. a partner's own list.

English given names (``Ivy``, ``Grace``, ``Leo``), which the shared tables
do not hold, are known by sex only (:func:`english_sex`), from the US
Census 1990 first-name lists (public domain; ``data/english_given_names.csv``,
its source beside it in ``data/ENGLISH-GIVEN-NAMES-SOURCE.txt``). They are
never snap targets: a misread English name is left as read.

Guarantees: lookups are case-insensitive, ``ё`` counts as ``е`` and
apostrophes are ignored; a spelling borne by names of both sexes is kept
with no sex rather than a guessed one; nothing here logs.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal, Protocol

from gateway.pluginspec import names as shared
from gateway.pluginspec import translit

Kind = Literal["given", "patronymic"]
Sex = Literal["female", "male"]

# An English given name tells a sex only when that sex bears it at least this
# many times as often as the other (in the census's share of each): ``James``
# (0.010 % of females, 3.318 % of males) is male, ``Jordan`` (0.012 / 0.056 %)
# and ``Kelly`` are used for both and tell nothing.
ENGLISH_SEX_RATIO = 20.0


@dataclass(frozen=True, slots=True)
class KnownName:
    """One spelling of a known name, with what it says about its bearer."""

    text: str  # as written: "Іванівна", "Ivanivna"
    kind: Kind
    sex: Sex | None  # None: a spelling names of both sexes share


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


class StaticNameTable:
    """A :class:`NameTable` over a fixed list of entries, indexed by spelling."""

    __slots__ = ("_by_key", "_by_kind")

    def __init__(self, known: Iterable[KnownName]) -> None:
        by_key: dict[tuple[str, Kind], KnownName] = {}
        for entry in known:
            k = (key(entry.text), entry.kind)
            previous = by_key.setdefault(k, entry)
            if previous.sex != entry.sex:
                by_key[k] = KnownName(previous.text, entry.kind, None)
        self._by_key = by_key
        self._by_kind: dict[Kind, tuple[KnownName, ...]] = {
            kind: tuple(n for n in by_key.values() if n.kind == kind)
            for kind in ("given", "patronymic")
        }

    def lookup(self, text: str, kind: Kind) -> KnownName | None:
        return self._by_key.get((key(text), kind))

    def entries(self, kind: Kind) -> Iterator[KnownName]:
        return iter(self._by_kind[kind])


def _spellings(text: str, language: translit.Language) -> list[str]:
    latin = translit.latin(text, language)
    return [text, latin] if latin else [text]


def _build() -> StaticNameTable:
    """The shared tables as entries: given names, and patronymics from the male ones."""
    entries: list[KnownName] = []
    for given in shared.given_names():
        forms: list[tuple[str, translit.Language]] = [
            *((f, "uk") for f in given.ukrainian), *((f, "ru") for f in given.russian)]
        for form, language in forms:
            entries += [KnownName(s, "given", given.sex) for s in _spellings(form, language)]
            if given.sex != "male":
                continue
            male, female = shared.patronymics(form, language)
            for patronymic, sex in ((male, "male"), (female, "female")):
                if patronymic:
                    entries += [KnownName(s, "patronymic", sex)  # type: ignore[arg-type]
                                for s in _spellings(patronymic.capitalize(), language)]
    return StaticNameTable(entries)


@cache
def _shared_table() -> StaticNameTable:
    return _build()


_chosen: dict[str, NameTable] = {}  # "table": one set by set_table, else the shared one


def table() -> NameTable:
    """The table the corrector uses (built from the shared tables on first use)."""
    return _chosen.get("table") or _shared_table()


def set_table(new: NameTable | None) -> NameTable:
    """Use ``new`` from now on (``None``: the shared tables again); returns the table it
    replaces, for tests and for fuller tables."""
    previous = table()
    if new is None:
        _chosen.pop("table", None)
    else:
        _chosen["table"] = new
    return previous


@cache
def _english_sexes() -> dict[str, Sex]:
    """Census first names borne overwhelmingly by one sex, by :func:`key`."""
    text = resources.files("extractors").joinpath(
        "data", "english_given_names.csv").read_text("utf-8")
    sexes: dict[str, Sex] = {}
    for row in csv.DictReader(text.splitlines()):
        female, male = float(row["female_percent"]), float(row["male_percent"])
        if female >= ENGLISH_SEX_RATIO * male:
            sexes[key(row["name"])] = "female"
        elif male >= ENGLISH_SEX_RATIO * female:
            sexes[key(row["name"])] = "male"
    return sexes


@cache
def english_given_names() -> tuple[str, ...]:
    """Every census first name, as the lists spell it (``Ivy``), of either sex or both."""
    text = resources.files("extractors").joinpath(
        "data", "english_given_names.csv").read_text("utf-8")
    return tuple(row["name"] for row in csv.DictReader(text.splitlines()))


def english_sex(text: str) -> Sex | None:
    """The sex an English given name says, if one sex bears it (:data:`ENGLISH_SEX_RATIO`).

    ``None`` for a name the census lists do not have, or one used for both sexes.
    """
    return _english_sexes().get(key(text))
