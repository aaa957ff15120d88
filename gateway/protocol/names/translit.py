
"""Latin spellings of Cyrillic names, and telling Ukrainian from Russian.

Two official systems, one per language, as SPEC §4.1 asks:

- Ukrainian: the national system of Cabinet of Ministers of Ukraine
  resolution No. 55 of 27 January 2010 ("KMU 2010"). Є Ї Й Ю Я are Ye Yi Y
  Yu Ya at the start of a word and ie i i iu ia elsewhere; Г after З is
  ``gh`` (Згорани → Zghorany); the soft sign and the apostrophe are not
  written. The start of a word is the start of the text or a position after
  anything that is not a letter or an apostrophe (so a hyphenated name
  restarts: Ярошенко-Юрченко → Yaroshenko-Yurchenko, while Знам'янка →
  Znamianka).
- Russian: ICAO Doc 9303 part 3, the table Russian passports use (Ё → E,
  Ж → ZH, Й → I, Х → KH, Ц → TS, Щ → SHCH, Ъ → IE, Ы → Y, Ь not written,
  Э → E, Ю → IU, Я → IA).

Case follows the source: a letter that becomes several Latin letters is
capitalised (``Zh``) unless its whole word is upper case (``ZH``).

Invariants: the output is printable ASCII or nothing. A character outside
the system's table (a Latin letter, a digit, another script) makes the name
untransliterable: :func:`latin` returns ``None`` rather than guess.
Space, hyphen, full stop and apostrophes are the only separators kept
(apostrophes are dropped).

Language (:func:`language_of`): і ї є ґ exist only in Ukrainian, ы э ъ ё
only in Russian. Many names use neither (Коваленко); the biography parser
then falls back on the other parts of the name and on the language of the
form's labels, and when even that is unknown keeps a Latin spelling only if
both systems agree on it.
"""

from __future__ import annotations

from typing import Literal

Language = Literal["uk", "ru"]

UKRAINIAN_ONLY = frozenset("іїєґІЇЄҐ")
RUSSIAN_ONLY = frozenset("ыэъёЫЭЪЁ")

# Apostrophe forms seen in Ukrainian text: ASCII, right single quotation
# mark (the usual typographic one), modifier letter apostrophe (the one the
# Ukrainian orthography prefers), left quotation mark and grave (OCR).
APOSTROPHES = frozenset("'\u2019\u02bc\u2018`\u00b4")
_KEPT = frozenset(" -.")

# KMU 2010: letters whose spelling does not depend on position.
_UK = {
    "а": "a", "б": "b", "в": "v", "г": "h", "ґ": "g", "д": "d", "е": "e", "ж": "zh",
    "з": "z", "и": "y", "і": "i", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o",
    "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts",
    "ч": "ch", "ш": "sh", "щ": "shch", "ь": "",
}  # fmt: skip
# KMU 2010: (at the start of a word, elsewhere).
_UK_POSITIONAL = {
    "є": ("ye", "ie"), "ї": ("yi", "i"), "й": ("y", "i"), "ю": ("yu", "iu"), "я": ("ya", "ia"),
}  # fmt: skip

# ICAO Doc 9303 part 3, Russian.
_RU = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh",
    "з": "z", "и": "i", "й": "i", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o",
    "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts",
    "ч": "ch", "ш": "sh", "щ": "shch", "ъ": "ie", "ы": "y", "ь": "", "э": "e", "ю": "iu",
    "я": "ia",
}  # fmt: skip

# Latin and Cyrillic letters that look alike. Born-digital Ukrainian text
# often carries a Latin "i" for "і", and OCR swaps the others freely.
_LATIN_TO_CYRILLIC = dict(zip("aceiopxyABCEHIKMOPTXYï", "асеіорхуАВСЕНІКМОРТХУї", strict=True))
_CYRILLIC_TO_LATIN = dict(zip("асеіорхуАВСЕНІКМОРТХУ", "aceiopxyABCEHIKMOPTXY", strict=True))


class Untransliterable(ValueError):
    """A character is outside the system's table; the message names no value."""


def is_cyrillic(char: str) -> bool:
    """Whether ``char`` is a letter of the basic Cyrillic block."""
    return "\u0400" <= char <= "\u04ff"


def fold_homoglyphs(word: str) -> str:
    """Rewrite look-alike letters of a mixed-script word into its main script.

    A word with more Cyrillic than Latin letters gets its Latin look-alikes
    replaced by Cyrillic ones (``Олiйник`` with a Latin ``i`` → ``Олійник``),
    and the other way round. A word in one script, or with a tie, is
    returned unchanged.
    """
    cyrillic = sum(1 for c in word if is_cyrillic(c))
    latin = sum(1 for c in word if c.isascii() and c.isalpha())
    if cyrillic and latin:
        if cyrillic > latin:
            return "".join(_LATIN_TO_CYRILLIC.get(c, c) for c in word)
        if latin > cyrillic:
            return "".join(_CYRILLIC_TO_LATIN.get(c, c) for c in word)
    return word


def to_cyrillic_lookalikes(text: str) -> str:
    """Every Latin letter that has a Cyrillic twin replaced by that twin."""
    return "".join(_LATIN_TO_CYRILLIC.get(c, c) for c in text)


def to_latin_lookalikes(text: str) -> str:
    """Every Cyrillic letter that has a Latin twin replaced by that twin."""
    return "".join(_CYRILLIC_TO_LATIN.get(c, c) for c in text)


def fold_text(text: str) -> str:
    """:func:`fold_homoglyphs` applied to each space-separated word."""
    return " ".join(fold_homoglyphs(w) for w in text.split())


def language_of(text: str) -> Language | None:
    """The language a Cyrillic text is written in, from its letters alone.

    Returns ``"uk"`` if it has a letter only Ukrainian uses and none only
    Russian uses, ``"ru"`` for the reverse, and ``None`` when it has neither
    (or both: a mixed or misread text is not guessed at).
    """
    uk = any(c in UKRAINIAN_ONLY for c in text)
    ru = any(c in RUSSIAN_ONLY for c in text)
    if uk == ru:
        return None
    return "uk" if uk else "ru"


def _cased(latin: str, source: str, word_is_upper: bool) -> str:
    if not latin or not source.isupper():
        return latin
    return latin.upper() if word_is_upper else latin.capitalize()


def _words(text: str) -> list[tuple[int, int]]:
    """Spans of the letter runs of ``text``; apostrophes stay inside a word."""
    spans: list[tuple[int, int]] = []
    start: int | None = None
    for i, c in enumerate(text):
        inside = c.isalpha() or (c in APOSTROPHES and start is not None)
        if inside and start is None:
            start = i
        elif not inside and start is not None:
            spans.append((start, i))
            start = None
    if start is not None:
        spans.append((start, len(text)))
    return spans


def _transliterate(text: str, language: Language) -> str:
    out: list[str] = []
    word_upper: dict[int, bool] = {}
    for start, end in _words(text):
        letters = [c for c in text[start:end] if c.isalpha()]
        upper = len(letters) > 1 and all(c.isupper() for c in letters)
        for i in range(start, end):
            word_upper[i] = upper
    word_start = True
    previous = ""
    for i, char in enumerate(text):
        lower = char.lower()
        upper = word_upper.get(i, False)
        if char in APOSTROPHES:
            continue  # not written in either system; does not start a word
        if char in _KEPT:
            out.append(char)
            word_start = True
            previous = ""
            continue
        if language == "uk":
            if lower in _UK_POSITIONAL:
                initial, medial = _UK_POSITIONAL[lower]
                latin = initial if word_start else medial
            elif lower == "г" and previous == "з":
                latin = "gh"
            elif lower in _UK:
                latin = _UK[lower]
            else:
                raise Untransliterable("a character is outside the KMU 2010 table")
        elif lower in _RU:
            latin = _RU[lower]
        else:
            raise Untransliterable("a character is outside the ICAO 9303 Russian table")
        out.append(_cased(latin, char, upper))
        word_start = False
        previous = lower
    return "".join(out)


def ukrainian(text: str) -> str:
    """Spell a Ukrainian name in Latin letters by KMU 2010 (resolution 55).

    Raises:
        Untransliterable: ``text`` holds a character outside the table.
    """
    return _transliterate(text, "uk")


def russian(text: str) -> str:
    """Spell a Russian name in Latin letters by ICAO Doc 9303.

    Raises:
        Untransliterable: ``text`` holds a character outside the table.
    """
    return _transliterate(text, "ru")


def latin(text: str, language: Language | None) -> str | None:
    """The Latin spelling of a name, or ``None`` when it cannot be told.

    A name already in Latin letters (printable ASCII, no Cyrillic) is its own
    Latin spelling. A Cyrillic name is transliterated by the system of
    ``language``; with ``language`` unknown, the result is kept only if
    KMU 2010 and ICAO 9303 agree on it (Коваленко → Kovalenko), because
    picking one would be a guess.
    """
    text = " ".join(text.split())
    if not text:
        return None
    if not any(is_cyrillic(c) for c in text):
        return text if text.isascii() and text.isprintable() else None
    try:
        if language == "uk":
            return _nonempty(ukrainian(text))
        if language == "ru":
            return _nonempty(russian(text))
        as_uk, as_ru = ukrainian(text), russian(text)
    except Untransliterable:
        return None
    return _nonempty(as_uk) if as_uk == as_ru else None


def _nonempty(text: str) -> str | None:
    return text if text.strip(" -.") else None
