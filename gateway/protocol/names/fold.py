"""One comparison key for a name however it was spelled: Cyrillic or Latin.

A family abroad may write Шевченко as Shevchenko (KMU 2010), Ševčenko,
Schewtschenko (German), Chevtchenko (French) or Shevchenko (BGN/PCGN); a
scanner may read it as Шевченк0 or with a Latin ``е``. :func:`fold_latin`
maps every one of those to the same lower-case ASCII key, and
:func:`fold_name` first brings Cyrillic text (Ukrainian or Russian letters
alike) into Latin so both scripts meet in one key space.

Guarantees: the key is lower-case ASCII letters, spaces and hyphens only
(possibly empty); equal inputs give equal keys; the fold is many-to-one on
purpose (г/ґ/g/h, и/і/ы/y, ж/з/с/ш/щ fall together), so equal keys mean
"could be the same spelling", never "is the same name". Comparisons that
need more (given names, patronymics, surnames, places) build on it in
:mod:`gateway.protocol.names.keys`.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from gateway.protocol.names.translit import APOSTROPHES, fold_homoglyphs, is_cyrillic

# One Latin rendering for the union of Ukrainian and Russian letters; the
# fold below erases the differences between this and KMU, ICAO or BGN.
_CYRILLIC = {
    "а": "a", "б": "b", "в": "v", "г": "h", "ґ": "g", "д": "d", "е": "e", "є": "ie",
    "ё": "e", "ж": "zh", "з": "z", "и": "y", "і": "i", "ї": "i", "й": "i", "к": "k",
    "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t",
    "у": "u", "ф": "f", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "shch",
    "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "iu", "я": "ia",
}  # fmt: skip

# OCR reads letters as the digits that look like them; which letter depends
# on the script of the rest of the word.
OCR_DIGITS_CYRILLIC = {"3": "з", "6": "б", "0": "о", "1": "і", "4": "ч", "8": "в"}
OCR_DIGITS_LATIN = {"0": "o", "1": "l", "3": "e", "5": "s", "6": "b", "8": "b"}

# Multi-letter spellings of one sound in KMU, ICAO, BGN/PCGN, German and
# French, longest first so "shch" wins over "sh".
_DIGRAPHS = (
    ("schtsch", "s"), ("chtch", "s"), ("shch", "s"), ("sch", "s"), ("tsch", "c"), ("tch", "c"),
    ("zh", "z"), ("kh", "h"), ("ch", "c"), ("sh", "s"), ("ts", "c"), ("tz", "c"),
    ("ck", "k"), ("ph", "f"), ("x", "ks"), ("w", "v"), ("q", "k"), ("ou", "u"),
    ("gue", "he"), ("gui", "hi"), ("dj", "z"), ("j", "i"), ("y", "i"), ("g", "h"), ("z", "s"),
)  # fmt: skip
_DIGRAPH_RE = re.compile("|".join(re.escape(a) for a, _ in _DIGRAPHS))
_DIGRAPH_MAP = dict(_DIGRAPHS)
_DOUBLE_RE = re.compile(r"([a-z])\1+")
# "ie" is how KMU spells є (Сергієнко → Serhiienko) where Russian has е
# (Сергеенко → Sergeenko): it folds onto "e". Other i + vowel pairs are
# spelled alike by every system (Mariia, Mariya, Marija all fold to
# "maria") and stay, so that Діана and Дана keep apart.
_IOTATED_RE = re.compile(r"(?<=[a-z])ie")
_INITIAL_IE_RE = re.compile(r"\bie")


def fix_ocr_digits(word: str) -> str:
    """Replace digits inside a word of letters by the letters OCR mistook them for.

    A word of digits only (a year, a house number) is left alone.
    """
    if not any(c.isdigit() for c in word) or not any(c.isalpha() for c in word):
        return word
    cyrillic = sum(1 for c in word if is_cyrillic(c))
    latin = sum(1 for c in word if c.isascii() and c.isalpha())
    table = OCR_DIGITS_CYRILLIC if cyrillic >= latin else OCR_DIGITS_LATIN
    return "".join(table.get(c, c) for c in word)


def clean(text: str) -> str:
    """Normalise a name as read: NFC, OCR digits, look-alike letters, spacing.

    Returns lower-case text in the script each word was mostly written in,
    apostrophes removed, words separated by single spaces.
    """
    text = unicodedata.normalize("NFC", text)
    words = []
    for raw in text.replace(",", " ").split():
        word = fold_homoglyphs(fix_ocr_digits(raw))
        word = "".join(c for c in word if c not in APOSTROPHES and c != ".")
        if word.strip("-"):
            words.append(word.lower())
    return " ".join(words)


def fold_latin(text: str) -> str:
    """The comparison key of a Latin spelling, whichever system wrote it.

    Diacritics are dropped (Ševčenko → sevcenko), the multi-letter spellings
    of one sound are merged (shch, sch, tsch, zh, kh, ch, ts → s, c, z, h, c),
    y and j become i, g becomes h (Ukrainian г is h, Russian г is g), z
    becomes s (German writes з as s), doubled letters collapse and "ie"
    becomes "e".
    """
    decomposed = unicodedata.normalize("NFKD", text.lower())
    ascii_only = "".join(c for c in decomposed if ("a" <= c <= "z") or c in " -")
    folded = _DIGRAPH_RE.sub(lambda m: _DIGRAPH_MAP[m.group(0)], ascii_only)
    folded = _DOUBLE_RE.sub(r"\1", folded)
    folded = _INITIAL_IE_RE.sub("e", folded)
    folded = _IOTATED_RE.sub("e", folded)
    folded = _DOUBLE_RE.sub(r"\1", folded)
    return " ".join(folded.split())


def cyrillic_to_latin(text: str) -> str:
    """A Latin rendering of Ukrainian or Russian letters for folding only.

    Not a transliteration to print (use :mod:`gateway.protocol.names.translit`
    for that): letters of both languages share one table and anything not
    Cyrillic passes through.
    """
    return "".join(_CYRILLIC.get(c, _CYRILLIC.get(c.lower(), c)) for c in text)


@lru_cache(maxsize=1 << 16)
def fold_name(text: str) -> str:
    """The comparison key of a name in either script (see :func:`fold_latin`)."""
    return fold_latin(cyrillic_to_latin(clean(text)))
