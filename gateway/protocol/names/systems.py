"""Latin spellings a family abroad may use, besides the official ones.

KMU 2010 and ICAO 9303 (:mod:`.translit`) are what the extractors print.
Families write names as their new country spells them: BGN/PCGN (British
and US usage), German (Duden-style: Wolodymyr, Schewtschenko, Natalija),
French (Volodymyr, Chevtchenko, Nadejda). The tables here let the name
tables be indexed under those spellings too, so that a Latin name is found
whatever system wrote it. They are not for printing: position rules are
simplified (an iotated vowel is spelled the same everywhere).

Guarantees: :func:`spellings` returns one spelling per system for a word of
Ukrainian or Russian letters; a character outside the tables passes
through unchanged.
"""

from __future__ import annotations

_COMMON = {
    "а": "a", "б": "b", "д": "d", "е": "e", "к": "k", "л": "l", "м": "m", "н": "n",
    "о": "o", "п": "p", "р": "r", "т": "t", "ф": "f", "ь": "", "ъ": "", "'": "",
}  # fmt: skip

SYSTEMS: dict[str, dict[str, str]] = {
    "bgn-pcgn": {**_COMMON, "в": "v", "г": "g", "ґ": "g", "ж": "zh", "з": "z", "и": "i",
                 "і": "i", "ї": "yi", "й": "y", "с": "s", "у": "u", "х": "kh", "ц": "ts",
                 "ч": "ch", "ш": "sh", "щ": "shch", "є": "ye", "ю": "yu", "я": "ya",
                 "ё": "yo", "ы": "y", "э": "e"},
    "german": {**_COMMON, "в": "w", "г": "g", "ґ": "g", "ж": "sch", "з": "s", "и": "i",
               "і": "i", "ї": "ji", "й": "j", "с": "s", "у": "u", "х": "ch", "ц": "z",
               "ч": "tsch", "ш": "sch", "щ": "schtsch", "є": "je", "ю": "ju", "я": "ja",
               "ё": "jo", "ы": "y", "э": "e"},
    "french": {**_COMMON, "в": "v", "г": "g", "ґ": "g", "ж": "j", "з": "z", "и": "i",
               "і": "i", "ї": "ï", "й": "ï", "с": "s", "у": "ou", "х": "kh", "ц": "ts",
               "ч": "tch", "ш": "ch", "щ": "chtch", "є": "ie", "ю": "iou", "я": "ia",
               "ё": "io", "ы": "y", "э": "e"},
}  # fmt: skip


def spell(text: str, system: str) -> str:
    """``text`` in the Latin of ``system`` (lower case)."""
    table = SYSTEMS[system]
    return "".join(table.get(c, c) for c in text.lower())


def spellings(text: str) -> dict[str, str]:
    """``text`` in every system of :data:`SYSTEMS`."""
    return {system: spell(text, system) for system in SYSTEMS}
