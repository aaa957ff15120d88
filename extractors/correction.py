"""Per-field correction of OCR readings: each field repaired by what it can hold.

The biography parser reads a value as the words after its label; OCR slips
inside those words are repaired here, knowing what the field can hold:

- Script, per word. A name is in one script. A word mixing Cyrillic and
  Latin look-alikes (``Iван``, ``Olенa``) is rewritten in its majority
  script; a tie, or a word wholly in the other script than the child's
  other names and the form (``Імапімпа`` among Latin names on an English
  form), is rewritten in the script the record is in, provided every letter
  has a twin there (:data:`CYRILLIC_TO_LATIN`, :data:`LATIN_TO_CYRILLIC`,
  which add the shapes OCR confuses to the typographic homoglyphs). A Latin
  name starting with ``l`` then lower case is an ``I`` (``lvanivna``).
- Digits in names and in the words of places and persons:
  ``1ван`` → ``Іван``, ``Запор1жжя`` → ``Запоріжжя`` (0 1 3 6 read for О І З
  б and the Latin O I S B). A number where one is expected: ``Ме``, ``Ne``, ``М»``,
  ``Мо`` before a number are ``№`` (on a Cyrillic value; ``No`` on an English one
  stays), and a letter before ``клас``/``класс``/``grade`` is the digit it
  looks like (``З клас`` → ``3 клас``, ``б класс`` → ``6 класс``).
- Debris at the edges of a value (a photo frame, a rule or a stray glyph
  read as text): words without a letter or digit (``>``, ``|``), a dash or
  quote glued to one or two letters (``-е``), and after a name a single
  letter or a lower-case word of up to two letters (``Іван Я``, ``Юлия
  же``); the same after a service, and a lone letter or digit after a place
  (``Харків й``, ``Ужгород 7``); after a patronymic, which is one word, any
  word of up to two letters (``Іванович Му``); after a name or a person's
  name a word without a letter (``Henry 5``); a rule glued to the last word
  (``Zaporizhzhia_``), a quote or bracket the value does not pair
  (``Ганна”``, ``(Львів``), a full stop after a place of one word
  (``Луганск.``), and after a known place a short word in capitals or in
  lower case that is none (``Луганск МИНЕ``, ``Mariupol yur``: a stamp's
  ring). A date's edges likewise: a frame glued to its number
  (``02.02.2016]``), a word of a letter or two beside it (``2008-06-03 Ї``).
  Never a word of the value itself: a value keeps at
  least one word.
- Spelling of the form's language: a place on a Cyrillic form read wholly in
  Latin look-alikes (``Cymu``, ``TaraHpor``) is rewritten in Cyrillic when
  every letter has a twin; ``щя``/``щю``, which neither language writes, are
  ``ці``/``ци`` run together (``вакцинащя``). In a date, a word made only of
  digit look-alikes is a number (``З июня 2014 г.``).
- Known names (``extractors.names``). A given name or patronymic that the
  repairs above touched, or that starts in lower case, is snapped to a
  known name only when exactly one is near enough: the first letter swapped
  for one it is mistaken for (``trina`` → ``Irina``), or within one edit
  (two, for a word rewritten from the other script). A name read as it
  stands that no table knows is checked for its first letter only: exactly
  one known name that differs from it in a capital OCR mistakes for another
  (``Грина``, ``Гванович``, ``Тванович``, ``Їванівна`` for ``Ірина``,
  ``Іванович``, ``Іванівна``, a serif ``І`` read ``Г``, ``Т`` or ``Ї``;
  ``Oaryna`` for ``Daryna``), a capital ``I`` whose serif was read as a
  letter (``Ilvanovych``), or in a last letter lost at a frame or a rule
  (``Ганн`` for ``Ганна``); the same for the given name that ends a
  guardian's or a relative's name. A month likewise (``Осіобег``), to the
  one month within reach (:func:`snap_month`). Any other name
  spelt as written, even an unknown one, is never changed.
- Known places (``extractors.places``, GeoNames). A place no known place
  spells is snapped only to exactly one known place (:func:`snap_place`):
  one word a letter from it, a letter OCR confuses with the one printed
  (``Маріупопь``, ``Mariupoi``), two halves of a
  split word (``За поріжжя``), or, on a form labelled only in English, a
  word read in Cyrillic look-alikes whose Latin twin is within reach
  (``Вегіїп``; a Cyrillic place the table knows, ``Суми``, stays).
- Sex, when the form does not print it: from the patronymic's ending
  (``-вна``/``-ична``, ``-vna``/``-ichna`` female; ``-вич``/``-ич``,
  ``-vych``/``-vich``/``-ich`` male), else from a known given name (an
  English one, ``Ivy``, only for a child without a patronymic, and only one
  that one sex bears); a patronymic and a given name that disagree give
  nothing.

Guarantees: every function is pure; a correction never adds a word the
reading did not have (it only rewrites letters and drops debris); the
result says which classes of repair were made, never the values, so
callers can mark provenance (``"corrected": true``) and log safely.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Literal

from extractors import dates, names, places
from gateway.pluginspec import translit

Script = Literal["cyrillic", "latin"]
Language = Literal["uk", "ru"]
NameKind = Literal["family", "given", "patronymic"]
Fix = Literal["script", "digit", "sign", "debris", "name", "month", "place"]
TextKind = Literal["text", "person", "place", "service"]

MAX_DEBRIS_LETTERS = 2  # a trailing word this short after a name is debris, not a name part
MAX_PLACE_DEBRIS_LETTERS = 4  # a stamp's ring read after a known place ("МИНЕ"), at most
SNAP_EDITS = 1  # edits a misread name may be from the known one it is snapped to
SNAP_EDITS_CONVERTED = 2  # the same, for a word rewritten from the other script
MIN_SNAP_LETTERS = 4  # shorter names are too close to each other to snap safely
MONTH_SNAP_EDITS = 1  # edits a misread month of up to LONG_MONTH letters may be from its name
MONTH_SNAP_EDITS_LONG = 2  # the same for a longer one: no two month names are within reach
LONG_MONTH = 6  # ("вересня" and "березня" are one edit apart: a word near both snaps to neither)

# OCR and typography confusables, each way. Beyond the homoglyphs the
# transliteration module folds, the pairs OCR mistakes on names in italic,
# serif and low-resolution type (п/n, и/u, м/m, к/k, г/r, and an italic т for m,
# "Мукотаїмпа" for "Mykolaivna"; a "g" read as "д", "Ргадие" for "Prague"; a "u"
# with a speck over it as "й", "Магійрої" for "Mariupol").
CYRILLIC_TO_LATIN = dict(zip("асеіорхуїАВСЕНІКМОРТХУпимкгЇтдй",
                             "aceiopxyiABCEHIKMOPTXYnumkrImgu", strict=True))
LATIN_TO_CYRILLIC = dict(zip("aceiopxyABCEHIKMOPTXYnumkrb", "асеіорхуАВСЕНІКМОРТХУпимкгь",
                             strict=True))
# Digits read for letters inside a word.
_DIGIT_TO_CYRILLIC = {"0": "О", "1": "І", "3": "З", "6": "б"}
_DIGIT_TO_LATIN = {"0": "O", "1": "I", "5": "S", "8": "B"}
# Letters read for digits inside a number.
_LETTER_TO_DIGIT = {"О": "0", "о": "0", "O": "0", "o": "0", "З": "3", "з": "3", "б": "6",
                    "l": "1", "I": "1", "І": "1", "|": "1", "S": "5", "B": "8"}
# What "№" comes out as; each must stand before a number to be taken for it.
# "№" as OCR reads it: its "N" as "М", "Н", "Х" or alone, its "o" as "е", "»", "s".
# Only before a number on a Cyrillic value, where no such word stands ("школа М 33").
_NUMERO_MISREADS = frozenset({"ме", "мe", "me", "mе", "ne", "nе", "м»", "m»", "n»", "н»",
                              "ns", "nº", "n°", "no", "№", "мо", "мo", "mо", "х»", "x»",
                              "м", "m"})
_NUMBER_SIGNS = frozenset({"№", "No.", "No", "#"})  # what a number stands after
_GLUED_TO_NUMERO = 2  # marks read glued before a "№" that stands before a number: debris
_NUMBER_WORDS = frozenset({"клас", "класс", "класу", "класі", "класса", "grade", "class",
                           "form", "курс"})
# First letters OCR reads for a capital (the one that was printed → what was read).
_FIRST_LETTER_MISREADS = {
    "I": frozenset("tlfi1|!"), "І": frozenset("tlfi1|!іГТЇ"), "О": frozenset("0oо"),
    "D": frozenset("O0"),
    "O": frozenset("0oо"), "З": frozenset("3з"), "С": frozenset("cс("), "C": frozenset("cс("),
}
_FEMALE_ENDINGS = ("вна", "ична", "инична", "vna", "ichna", "ivna", "ovna", "ievna")
_MALE_ENDINGS = ("вич", "ич", "vych", "vich", "ych", "ich")
# Words part at spaces, and at an underscore between two letters: a form's underline
# showing through the space between them ("Морозова_Анна"); no value writes one.
_UNDERLINED_SPACE = re.compile(r"(?<=[^\W\d_])_(?=[^\W\d_])")
_SPLIT = re.compile(r"\s+|" + _UNDERLINED_SPACE.pattern)
_SERIF_I = frozenset({"Il", "Іl", "Ii"})  # a capital I whose serif was read as a letter
_GLUED_RULE = "_|~"  # a rule or frame edge read as a mark glued to the end of a value
_QUOTES = "”“„\"«»"  # a closing quote is a value's own only if it opens one too
_GLUED_OPEN = "(["  # the same at a value's start ("(Львів"), when the value closes none
_GLUED_CLOSE = ")]}"  # and at its end ("Bondarenko}"), when the value opens none
_DATE_GLUED_MARKS = "_|~[]{}()<>«»\"'`*"  # a frame's or a box's edge glued to a date's number
_SPECKED_YEAR = re.compile(r"(?=(?:\D*\d){4}\D*$)\d+[.,]\d+[.,]?")  # "2.013", "20,13."
_YEAR_WORDS = frozenset({"р", "г", "y"})  # "2012 р.", "2012 г.": a date's own short words
# A date of numbers with a dot and a colon or a comma between them ("29:10.2016").
_SPECKED_SEPARATOR = re.compile(r"(?=[^.]*\.)(?=.*[:,])\d{1,2}[.:,]\d{1,2}[.:,]\d{4}")
_YEAR = re.compile(r"\d{4}")  # a year, alone or in a date of numbers ("2024-03-06")


@dataclass(frozen=True, slots=True)
class Corrected:
    """A value after correction, and which classes of repair it took (no values)."""

    value: str | None
    fixes: frozenset[Fix] = frozenset()

    @property
    def corrected(self) -> bool:
        """Whether any repair changed the reading."""
        return bool(self.fixes)


def script_of(text: str) -> Script | None:
    """The script most letters of ``text`` are in; ``None`` for none or a tie."""
    cyrillic = sum(1 for c in text if translit.is_cyrillic(c) and c.isalpha())
    latin = sum(1 for c in text if c.isascii() and c.isalpha())
    if cyrillic == latin:
        return None
    return "cyrillic" if cyrillic > latin else "latin"


def _convert(word: str, target: Script) -> str | None:
    """``word`` with every letter in ``target``'s script, or ``None`` if one has no twin."""
    table = LATIN_TO_CYRILLIC if target == "cyrillic" else CYRILLIC_TO_LATIN
    out = []
    for c in word:
        if not c.isalpha() or (target == "cyrillic") == translit.is_cyrillic(c):
            out.append(c)
        elif c in table:
            out.append(table[c])
        else:
            return None
    return "".join(out)


def fix_script(word: str, expected: Script | None) -> tuple[str, bool]:
    """One word in one script. Returns the word and whether it changed.

    A word mixing scripts goes into ``expected`` if every letter has a twin
    there, else into its own majority script; a word wholly in the other
    script than ``expected`` goes into ``expected`` if every letter has a
    twin there. Otherwise the word is left as read.
    """
    cyrillic = sum(1 for c in word if translit.is_cyrillic(c) and c.isalpha())
    latin = sum(1 for c in word if c.isascii() and c.isalpha())
    targets: list[Script | None]
    if cyrillic and latin:
        majority: Script | None = None if cyrillic == latin else (
            "cyrillic" if cyrillic > latin else "latin")
        targets = [expected, majority]
    elif cyrillic or latin:
        own: Script = "cyrillic" if cyrillic else "latin"
        targets = [expected] if expected != own else []
    else:
        targets = []
    for target in targets:
        converted = _convert(word, target) if target is not None else None
        if converted is not None:
            return converted, converted != word
    return word, False


def fix_digits_in_word(word: str, script: Script | None) -> tuple[str, bool]:
    """Digits inside a word of letters read as the letters they look like (``1ван``)."""
    letters = sum(1 for c in word if c.isalpha())
    if not letters or not any(c.isdigit() for c in word) or letters < len(word) / 2:
        return word, False
    if script is None:
        script = script_of(word)
    table = _DIGIT_TO_CYRILLIC if script == "cyrillic" else _DIGIT_TO_LATIN
    out = []
    for i, c in enumerate(word):
        if c in table:
            letter = table[c]
            out.append(letter if i == 0 else letter.lower())
        else:
            out.append(c)
    fixed = "".join(out)
    if any(c.isdigit() for c in fixed):
        return word, False  # a digit with no letter twin: not a misread word
    return fixed, True


def _capital_i(word: str) -> tuple[str, bool]:
    # "lvanivna": a Latin name never starts with a lower-case l before lower case.
    if len(word) >= 3 and word[0] == "l" and word[1:].isalpha() and word[1:].islower():
        return "I" + word[1:], True
    return word, False


def _is_debris(word: str) -> bool:
    """A word that is no part of any value: no letter or digit, or a mark glued to 1-2 letters."""
    if not any(c.isalnum() for c in word):
        return True
    core = word.strip("-–—»«\"'|>()<.,;:_~*")
    return word[0] in "-–—»«|>_~*" and len(core) <= MAX_DEBRIS_LETTERS


def _is_name_tail_debris(word: str) -> bool:
    letters = [c for c in word if c.isalpha()]
    if _is_debris(word):
        return True
    if len(letters) == 1 and not any(c.isdigit() for c in word) and "." not in word:
        return True  # a lone letter after a name ("Іван Я"); an initial "Я." is kept
    return len(letters) <= MAX_DEBRIS_LETTERS and word.isalpha() and word.islower()


def _is_person_tail_debris(word: str) -> bool:
    # A person's name holds no number ("Henry 5", "Кравчук Ірина 7", "Olehovych 1%").
    return _is_name_tail_debris(word) or not any(c.isalpha() for c in word)


def _is_place_tail_debris(word: str) -> bool:
    # A place never ends in a lone letter or digit ("Харків й", "Ужгород 7").
    return _is_name_tail_debris(word) or (len(word) == 1 and word.isdigit())


def trim_debris(words: list[str], *, name: bool, kind: TextKind = "text",
                ) -> tuple[list[str], bool]:
    """Drop debris at both edges. Keeps >= 1 word.

    A name, a person's name, a service (which never ends in a lone letter or a
    short lower-case word) also drop such trailing words; a name or a person's
    name also a trailing word without a letter; a place a lone trailing digit.
    A rule or frame glued to the last word (``Zaporizhzhia_``) is cut from it,
    and a quote or a closing bracket when the value opens none (``Ганна”``,
    ``Bondarenko}``); an opening bracket glued to the first word when the
    value closes none (``(Львів``).
    """
    out = list(words)
    changed = False
    while len(out) > 1 and _is_debris(out[0]):
        out.pop(0)
        changed = True
    tail = (_is_place_tail_debris if kind == "place"
            else _is_person_tail_debris if name or kind == "person"
            else _is_name_tail_debris if kind == "service" else _is_debris)
    while len(out) > 1 and tail(out[-1]) and not _number_after_sign(out):
        out.pop()
        changed = True
    if out:
        last = out[-1].rstrip(_GLUED_RULE)
        if sum(c in _QUOTES for c in " ".join(out)) == 1:
            last = last.rstrip(_QUOTES)  # a speck read as a quote ("Коваленко Ганна”")
        if not any(c in _GLUED_OPEN + "{" for c in " ".join(out)):
            last = last.rstrip(_GLUED_CLOSE)  # a frame's edge read as one ("Bondarenko}")
        if (kind == "place" and len(out) == 1 and len(last) > MAX_DEBRIS_LETTERS + 1
                and last[:-1].isalpha()):
            # A place of one word ends in no full stop ("Луганск."); in a longer one
            # the stop ends an abbreviation ("Полтавська обл.").
            last = last.rstrip(".")
        if last and last != out[-1] and last[-1].isalnum():
            out[-1] = last
            changed = True
        first = out[0].lstrip(_GLUED_OPEN)
        if (first and first != out[0] and first[0].isalpha()
                and not any(c in ")]" for c in " ".join(out))):
            out[0] = first
            changed = True
    return out, changed


def _number_after_sign(words: list[str]) -> bool:
    """Whether the last word is a number's look-alikes after ``№`` (``ліцей № З``): no debris."""
    return (len(words) >= 2 and words[-2] in _NUMBER_SIGNS
            and all(c in _LETTER_TO_DIGIT or c.isdigit() for c in words[-1].rstrip(".,")))


def fix_numbers(words: list[str], script: Script | None) -> tuple[list[str], set[Fix]]:
    """``№`` and digits where a number must stand (before a number, before ``клас``).

    A word of a class split after its first letter (``g rade 2``) is joined first.
    """
    out = list(words)
    fixes: set[Fix] = set()
    for i in range(len(out) - 2, -1, -1):
        joined = out[i] + out[i + 1]
        if (len(out[i]) == 1 and out[i].isalpha()
                and joined.lower().strip(".,;:") in _NUMBER_WORDS):
            out[i:i + 2] = [joined]
            fixes.add("debris")
    for i, word in enumerate(out):
        nxt = out[i + 1] if i + 1 < len(out) else ""
        nxt_key = nxt.lower().strip(".,;:")
        if (script == "cyrillic" and word != "№" and word.lower() in _NUMERO_MISREADS
                and nxt[:1].isdigit()):
            out[i] = "№"
            fixes.add("sign")
        elif (word != "№" and word.endswith("№") and len(word) <= _GLUED_TO_NUMERO + 1
              and not any(c.isdigit() for c in word) and nxt[:1].isdigit()):
            out[i] = "№"  # a rule or a speck read as a letter glued to it ("школа Л№ 56")
            fixes.add("debris")
        elif (nxt_key in _NUMBER_WORDS or (i > 0 and out[i - 1] in _NUMBER_SIGNS)) and (
                (core := word.rstrip(".,")) and not core.isdigit()
                and all(c in _LETTER_TO_DIGIT or c.isdigit() for c in core)):
            # "клас"'s number, or the number after "№" ("ліцей № З"): a word of
            # digit look-alikes alone is that number.
            out[i] = "".join(_LETTER_TO_DIGIT.get(c, c) for c in word)
            fixes.add("digit")
        elif (any(c.isdigit() for c in word) and sum(c.isdigit() for c in word) >= 2
              and all(c.isdigit() or c in _LETTER_TO_DIGIT or c in "./-" for c in word)
              and any(c in _LETTER_TO_DIGIT for c in word)):
            out[i] = "".join(_LETTER_TO_DIGIT.get(c, c) for c in word)  # "2О12"
            fixes.add("digit")
    return out, fixes


def fix_date_words(words: list[str]) -> tuple[list[str], set[Fix]]:
    """:func:`fix_numbers` for a date, where a word of digit look-alikes alone is a number too.

    A date holds numbers, a month's name and an abbreviation (``г.``, ``р.``);
    none of those is made only of the letters OCR reads for digits, so ``З``
    in ``З июня 2014 г.`` is the day 3. A word of letters that is no month
    but within reach of exactly one (:func:`snap_month`) is that month
    (``14 Осіобег 2012``), fix ``"month"``. Debris at the date's edges is
    dropped (``02.02.2016]``, ``2008-06-03 Ї``), fix ``"debris"``.
    """
    out, fixes = fix_numbers(words, None)
    while (len(out) > 1 and _YEAR.search(out[-2])
           and len(mark := out[-1].strip(_DATE_GLUED_MARKS + ".,")) <= 1
           and not mark.isdigit() and mark.lower() not in _YEAR_WORDS):
        # A letter alone after the year ("2024-03-06 І"): a photo frame's or a box's
        # edge. Nothing of a date but "р."/"г." follows its year, so it is no digit.
        out.pop()
        fixes.add("debris")
    for i, word in enumerate(out):
        if _SPECKED_SEPARATOR.fullmatch(word):
            # "29:10.2016": a speck over the dot made it a colon (or under it, a comma).
            out[i] = re.sub(r"[:,]", ".", word)
            fixes.add("debris")
            continue
        # A speck read as a dot inside a written date's year ("16 сентября 2.013 г."):
        # after a month's name only a year can stand, four digits.
        if (i > 0 and dates.month_number(out[i - 1].rstrip(".,")) is not None
                and _SPECKED_YEAR.fullmatch(word)):
            out[i] = "".join(c for c in word if c.isdigit()) + word[len(word.rstrip(".,")):]
            fixes.add("debris")
            continue
        core = word.rstrip(".,")
        if core and not core.isdigit() and all(
                c in _LETTER_TO_DIGIT or c.isdigit() for c in core):
            out[i] = "".join(_LETTER_TO_DIGIT.get(c, c) for c in core) + word[len(core):]
            fixes.add("digit")
        elif (month := snap_month(word)) is not None:
            out[i] = month
            fixes.add("month")
    # A frame, a rule or a box's corner read at the edge of a date: a mark glued to
    # its first or last number ("02.02.2016]"), a word of a letter or two beside it
    # ("2008-06-03 Ї"). A date's words of letters are its month and "р."/"г.".
    while len(out) > 1 and _is_date_edge_debris(out[-1]):
        out.pop()
        fixes.add("debris")
    while len(out) > 1 and _is_date_edge_debris(out[0]):
        out.pop(0)
        fixes.add("debris")
    for i in (0, len(out) - 1):
        bare = out[i].strip(_DATE_GLUED_MARKS)
        if bare != out[i] and bare[:1].isdigit() and bare[-1:].isdigit():
            out[i] = bare
            fixes.add("debris")
    return out, fixes


def _is_date_edge_debris(word: str) -> bool:
    core = word.strip(_DATE_GLUED_MARKS + ".,")
    if not core:
        return True
    if any(c.isdigit() for c in core) or dates.month_number(core) is not None:
        return False
    return core.isalpha() and len(core) <= MAX_DEBRIS_LETTERS and core.lower() not in _YEAR_WORDS


def snap_month(word: str) -> str | None:
    """The one month name ``word`` is a misreading of, or ``None`` if none or several.

    The word is compared in each script (its look-alikes rewritten, as
    :data:`CYRILLIC_TO_LATIN` and :data:`LATIN_TO_CYRILLIC` pair them) with
    every spelling of every month in ``extractors.dates`` (``Осіобег`` is
    ``Ociобer``, two edits from ``october``). It is snapped only when the
    spellings within reach (:data:`MONTH_SNAP_EDITS`, or
    :data:`MONTH_SNAP_EDITS_LONG` over :data:`LONG_MONTH` letters) are all of
    one month, and to the nearest of them. A word of digits, or of fewer than
    :data:`MIN_SNAP_LETTERS` letters, or already a month, is left alone.
    """
    core = word.rstrip(".,")
    if len(core) < MIN_SNAP_LETTERS or not core.isalpha() or dates.month_number(core):
        return None
    low = core.lower()
    folded = {
        "latin": "".join(CYRILLIC_TO_LATIN.get(c, c) for c in low).lower(),
        "cyrillic": "".join(LATIN_TO_CYRILLIC.get(c, c) for c in low).lower(),
    }
    limit = MONTH_SNAP_EDITS_LONG if len(core) > LONG_MONTH else MONTH_SNAP_EDITS
    near: dict[str, int] = {}
    for spelling in dates.MONTHS:
        d = _distance(folded[script_of(spelling) or "latin"], spelling)
        if d <= limit:
            near[spelling] = d
    if len({dates.MONTHS[s] for s in near}) != 1:
        return None
    return min(near, key=lambda s: (near[s], s)) + word[len(core):]


def _distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def snap_name(word: str, kind: names.Kind, *, converted: bool,
              table: names.NameTable | None = None, first_letter_only: bool = False,
              ) -> str | None:
    """The one known name ``word`` is a misreading of, or ``None`` if none or several.

    Candidates are names in the word's script of the same length whose first
    letter OCR mistakes for the word's (``trina`` → ``Irina``), and names
    within :data:`SNAP_EDITS` edits (:data:`SNAP_EDITS_CONVERTED` for a word
    rewritten from the other script). Fewest edits wins; a tie is no answer.
    A name one letter longer that starts with the whole word is as good: the
    last letter was lost at a photo frame, a stamp or a rule (``Ганн``); so is,
    in Cyrillic, one letter read as a look-alike OCR confuses it with
    (:data:`places.CONFUSED_LETTERS`: ``Пслина`` for ``Полина``).
    With ``first_letter_only``, only those three kinds of candidate count (for a
    word no repair touched: its other letters were read as they stand).
    """
    table = table or names.table()
    if len(word) < MIN_SNAP_LETTERS:
        return None
    known = table.lookup(word, kind)
    if known is not None:  # known but for its case ("zoryana"): the table's spelling
        return known.text if known.text != word else None
    script = script_of(word)
    low = names.key(word)
    limit = SNAP_EDITS_CONVERTED if converted else SNAP_EDITS
    best: dict[str, int] = {}
    for entry in table.entries(kind):
        if script_of(entry.text) != script:
            continue
        candidate = names.key(entry.text)
        if (len(candidate) == len(low) and candidate[1:] == low[1:]
                and word[0] in _FIRST_LETTER_MISREADS.get(entry.text[0], frozenset())):
            best[entry.text] = 0  # the first letter misread: as good as exact
            continue
        if len(candidate) == len(low) + 1 and candidate.startswith(low):
            best[entry.text] = 0  # the last letter lost at a frame or a rule ("Ганн")
            continue
        if (script == "cyrillic" and len(candidate) == len(low)
                and _one_confused_letter(low, candidate)):
            # A letter read as its look-alike ("Пслина"). Latin names are not so
            # repaired: most English names are in no table here, and one such
            # letter from a known name is often a name of its own (Lara, Lana).
            best[entry.text] = 0
            continue
        if first_letter_only:
            continue
        d = _distance(low, candidate)
        if d <= limit:
            best[entry.text] = min(d, best.get(entry.text, d))
    if not best:
        return None
    least = min(best.values())
    winners = {names.key(t) for t, d in best.items() if d == least}
    if len(winners) != 1:
        return None
    return next(t for t, d in best.items() if d == least)


def snap_english_given(word: str) -> str | None:
    """The one English given name a Latin word no list knows is a look-alike letter from.

    ``Samuei``, ``Hannan``: a capitalised word of :data:`MIN_SNAP_LETTERS`
    letters or more, no name the tables or the census lists hold
    (:func:`names.english_given_names`), one letter of a pair OCR confuses
    (:data:`places.CONFUSED_LETTERS`) from exactly one census name. A name
    the lists hold is never touched (``Lara`` stays ``Lara``, a letter from
    ``Lana``); of the census names, 6 % have such a neighbour.
    """
    if (len(word) < MIN_SNAP_LETTERS or not word[:1].isupper() or script_of(word) != "latin"
            or not all(c.isalpha() or c == "!" for c in word)
            or names.table().lookup(word, "given") is not None):
        return None
    low = names.key(word)
    census = _english_by_length()
    if low in census.get(len(low), {}):
        return None
    found = [name for candidate, name in census.get(len(low), {}).items()
             if _one_confused_letter(low, candidate)]
    return found[0] if len(found) == 1 else None


@functools.cache
def _english_by_length() -> dict[int, dict[str, str]]:
    out: dict[int, dict[str, str]] = {}
    for name in names.english_given_names():
        out.setdefault(len(name), {})[names.key(name)] = name
    return out


def _one_confused_letter(read: str, known: str) -> bool:
    """Whether two spellings of one length differ in one letter only, a pair OCR confuses."""
    pairs = [(a, b) for a, b in zip(read, known, strict=True) if a != b]
    return len(pairs) == 1 and frozenset(pairs[0]) in places.CONFUSED_LETTERS


def correct_name(text: str | None, kind: NameKind, expected: Script | None, *,
                 own_language: bool = False) -> Corrected:
    """A family name, given name or patronymic, repaired (see the module docstring).

    Args:
        text: the value as read (homoglyphs already folded per word), or ``None``.
        kind: which name it is; given names and patronymics may be snapped to known ones.
        expected: the script of the child's names and form, when known.
        own_language: a word of it was read in the wrong script and again in the
            form's own language (``extractors.own_language``): its letters are
            as doubtful as a repaired word's, so it may be snapped like one.
    """
    if text is None:
        return Corrected(None)
    fixes: set[Fix] = set()
    words, trimmed = trim_debris(_SPLIT.split(text.strip()), name=True)
    trimmed |= _UNDERLINED_SPACE.search(text) is not None
    while len(words) > 1 and len(words[0]) == 1 and words[0].islower() and words[1][:1].isupper():
        # A lone small letter before a name ("у Ivy"): a mark over the line read as
        # one; no name starts with a one-letter word in lower case.
        words.pop(0)
        trimmed = True
    while kind == "patronymic" and len(words) > 1 and sum(
            c.isalpha() for c in words[-1]) <= MAX_DEBRIS_LETTERS:
        # A patronymic is one word: a short word after it, capital or not
        # ("Іванович Му"), is a frame or a label's half, not a part of it.
        words.pop()
        trimmed = True
    if trimmed:
        fixes.add("debris")
    out: list[str] = []
    for read in words:
        suspicious = own_language
        word, changed = fix_digits_in_word(read, expected)
        if changed:
            fixes.add("digit")
            suspicious = True
        word, changed = fix_script(word, expected)
        converted = changed
        if changed:
            fixes.add("script")
            suspicious = True
        if script_of(word) == "latin":
            word, changed = _capital_i(word)
            if changed:
                fixes.add("script")
                suspicious = True
        table_kind: names.Kind = "given" if kind == "given" else "patronymic"
        if kind != "family" and (suspicious or word[:1].islower()):
            snapped = snap_name(word, table_kind, converted=converted)
            if snapped is not None and snapped != word:
                word = snapped
                fixes.add("name")
        elif kind != "family" and names.table().lookup(word, table_kind) is None:
            # An unknown name one capital away from exactly one known name: the
            # capital was misread ("Грина", "Гванович" for "Ірина", "Іванович"),
            # or its serif read as a letter of its own ("Ilvanovych").
            snapped = snap_name(word, table_kind, converted=False, first_letter_only=True)
            if snapped is None and word[:2] in _SERIF_I and len(word) > MIN_SNAP_LETTERS:
                known = names.table().lookup(word[0] + word[2:], table_kind)
                snapped = known.text if known is not None else None
            if snapped is None and kind == "given":
                snapped = snap_english_given(word)
            if snapped is not None and snapped != word:
                word = snapped
                fixes.add("name")
        out.append(word)
    value = " ".join(out).strip()
    return Corrected(value or None, frozenset(fixes))


# Letters one of the two Cyrillic orthographies lacks, as OCR (reading both
# at once) puts them into the other: the look-alike the language has.
_NOT_RUSSIAN = str.maketrans("єЄ", "еЕ")


# "ці"/"ци" run together read as "щ"; neither orthography writes "щя" or "щю".
_MERGED_TSI = re.compile("щ([яю])")


def fix_language(word: str, language: Language | None) -> tuple[str, bool]:
    """A word repaired by its language's spelling.

    A Russian word with a Ukrainian-only look-alike (``сопровождениє``); ``щя``,
    ``щю``, which neither language writes, for ``ція``/``ция`` (``вакцинащя``).
    """
    if language is None:
        return word, False
    fixed = word.translate(_NOT_RUSSIAN) if language == "ru" else word
    vowel = "і" if language == "uk" else "и"
    fixed = _MERGED_TSI.sub(lambda m: f"ц{vowel}{m.group(1)}", fixed)
    return fixed, fixed != word


def _cyrillic_place(word: str) -> str | None:
    """A place read in Latin look-alikes (``Cymu``, ``TaraHpor``) on a Cyrillic form, or None.

    Every letter must have a Cyrillic twin; letters after the first take the
    case of the word's lower-case letters (``ТагаНрог`` is ``Таганрог``).
    """
    if not word[:1].isupper() or script_of(word) != "latin":
        return None
    converted = _convert(word, "cyrillic")
    if converted is None or any(c.isascii() and c.isalpha() for c in converted):
        return None
    rest = converted[1:]
    if any(c.islower() for c in rest):
        rest = rest.lower()
    return converted[0] + rest


def _is_short_debris(word: str) -> bool:
    """Letters only, up to :data:`MAX_PLACE_DEBRIS_LETTERS`, all capitals or all lower case."""
    return (word.isalpha() and len(word) <= MAX_PLACE_DEBRIS_LETTERS
            and (word.isupper() or word.islower()))


def _after_given_name(words: list[str]) -> int:
    """How many words at the end of a person's ``Family Given`` are a stamp's debris.

    ``Turner Alice eee PES ini``: after a known given name (the shared tables,
    or the English lists), short words of letters in capitals or lower case
    (:func:`_is_short_debris`); a person's own next word, a patronymic, is
    capitalised and longer.
    """
    n = 0
    while len(words) - n > 2 and _is_short_debris(words[-1 - n]):
        n += 1
        given = words[-1 - n]
        if names.table().lookup(given, "given") is not None or names.english_sex(given):
            return n
    return 0


def _after_known_place(words: list[str], table: places.PlaceTable) -> int:
    """How many words at the end are a stamp's or a frame's debris after a known place.

    ``Луганск МИНЕ``, ``Mariupol yur``, ``Бердянск РА``: the words before
    them spell a known place, and each is letters only, of up to
    :data:`MAX_PLACE_DEBRIS_LETTERS`, in capitals or in lower case (a
    place's own next word is capitalised, ``Нова Каховка``, or longer,
    ``oblast``) and no known place. A country's code after its town
    (``Kyiv UA``) goes too: the place it says stays. So do digits alone
    (``Ростов-на-Дону 7317``, a stamp's remains read at 0.99): a place is
    a name, and a number after it is none of it; nor are marks alone
    (``Ужгород ( mete``).
    """
    n = 0
    while n < len(words) - 1:
        word = words[-1 - n]
        if (not (_is_short_debris(word) or word.isdigit() or not any(c.isalnum() for c in word))
                or table.known(word)):
            break
        n += 1
        if table.known(" ".join(words[:-n])):
            return n
    return 0


def snap_place(words: list[str], form: Script | None = None,
               table: places.PlaceTable | None = None) -> list[str] | None:
    """The known place a place read with one slip stands for, or ``None``.

    Only a value no known place spells (:mod:`extractors.places`), and only
    to exactly one known place: a one-word value a confusable letter from
    it (``Маріупопь``, ``Mariupoi``; :meth:`places.PlaceTable.snap`); a
    value split in two whose halves, the second in lower case as no place's
    own second word is, join into it
    (``За поріжжя``); on a form labelled only in English, a word read wholly
    in Cyrillic look-alikes whose Latin twin is it, or snaps to it
    (``Вегіїп``), never a Cyrillic place the table knows (``Суми``).
    """
    table = table or places.table()
    if table.known(" ".join(words)):
        return None
    if (len(words) == 2 and all(w.isalpha() for w in words) and words[1][:1].islower()
            and table.known(words[0] + words[1])):
        return [table.spelling(words[0] + words[1])]
    if len(words) != 1:
        return None
    snapped = table.snap(words[0])
    if snapped is None and form == "latin" and script_of(words[0]) == "cyrillic":
        latin = _convert(words[0], "latin")
        if latin is not None and script_of(latin) == "latin":
            snapped = table.spelling(latin) if table.known(latin) else table.snap(latin)
    return [snapped] if snapped is not None else None


def correct_text(text: str | None, *, person: bool = False, kind: TextKind = "text",
                 language: Language | None = None, form: Script | None = None,
                 names_script: Script | None = None) -> Corrected:
    """A place, a service, a guardian or a relative: script per word, numbers, debris.

    Args:
        text: the value as read, or ``None``.
        person: the value is a person's name (a guardian): trailing debris is
            trimmed as after a name.
        kind: what the value is, for the debris its end can carry
            (:func:`trim_debris`); a place on a Cyrillic form read wholly in
            Latin look-alikes is rewritten in Cyrillic.
        language: the form's Cyrillic language, when its labels tell it.
        form: the script of the form's labels (``latin`` for one labelled only
            in English), for a place read in the other script's look-alikes.
        names_script: the script of the child's names (:func:`expected_script`): a
            person's name with words in both scripts, every one of them in it
            or to be rewritten into it, is put into it, though most of its
            letters were read in the other script's look-alikes (``Соорег
            Alice`` beside a child named in Latin).
    """
    if text is None:
        return Corrected(None)
    fixes: set[Fix] = set()
    words, trimmed = trim_debris(_SPLIT.split(text.strip()), name=person, kind=kind)
    trimmed |= _UNDERLINED_SPACE.search(text) is not None
    if trimmed:
        fixes.add("debris")
    script = script_of(" ".join(words))
    if ((person or kind == "person") and names_script is not None and script != names_script
            and {script_of(w) for w in words} >= {"cyrillic", "latin"}
            and all(script_of(fix_script(w, names_script)[0]) in (None, names_script)
                    for w in words)):
        # One name in two scripts is a misreading; a name wholly in the other
        # script than the child's may be as written (a guardian abroad).
        script = names_script
    if kind == "place" and language is not None and script == "latin":
        cyrillic = [_cyrillic_place(w) if w[:1].isalpha() else w for w in words]
        if all(p is not None for p in cyrillic):
            words = [p for p in cyrillic if p is not None]
            script = "cyrillic"
            fixes.add("script")
    fixed = []
    for read in words:
        word = read
        if (kind in ("place", "person") or person) and sum(c.isalpha() for c in read) >= 3:
            # "Запор1жжя"; a service's "3Б" (a class) keeps its digit.
            word, changed_digit = fix_digits_in_word(read, script)
            if changed_digit:
                fixes.add("digit")
        word, changed = fix_script(word, script)
        word, changed_language = fix_language(word, language)
        if changed or changed_language:
            fixes.add("script")
        fixed.append(word)
    if (person or kind == "person") and len(fixed) > 2 and (debris := _after_given_name(fixed)):
        fixed = fixed[:-debris]
        fixes.add("debris")
    if (person or kind == "person") and len(fixed) >= 2:
        # "Family Given": the given name, at the value's end, is where a photo
        # frame or a stamp takes a letter ("Коваленко Ганн").
        given = fixed[-1]
        if given[:1].isupper() and names.table().lookup(given, "given") is None:
            snapped = (snap_name(given, "given", converted=False, first_letter_only=True)
                       or snap_english_given(given))
            if snapped is not None and snapped != given:
                fixed[-1] = snapped
                fixes.add("name")
    fixed, number_fixes = fix_numbers(fixed, script)
    fixes |= number_fixes
    if kind == "place" and len(fixed) > 1 and (debris := _after_known_place(
            fixed, places.table())):
        fixed = fixed[:-debris]
        fixes.add("debris")
    if kind == "place" and (known := snap_place(fixed, form)) is not None:
        fixed = known
        fixes.add("place")
    value = " ".join(fixed).strip()
    return Corrected(value or None, frozenset(fixes))


def is_known_name(text: str, kind: names.Kind, table: names.NameTable | None = None) -> bool:
    """Whether every word of ``text`` is a known name of ``kind``."""
    table = table or names.table()
    return all(table.lookup(word, kind) is not None for word in text.split())


def infer_sex(given: str | None, patronymic: str | None,
              table: names.NameTable | None = None) -> names.Sex | None:
    """The sex a patronymic's ending or a known given name says.

    A given name no table of ``table`` knows is looked up among English given
    names (:func:`names.english_sex`) when the child has no patronymic: a
    child with one is of a naming tradition the English lists do not
    describe (``Sasha`` is a girl's name there, either sex's here).

    ``None`` when neither says, or they disagree.
    """
    table = table or names.table()
    said: set[names.Sex] = set()
    if patronymic:
        last = names.key(patronymic.split()[-1])
        if last.endswith(_FEMALE_ENDINGS):
            said.add("female")
        elif last.endswith(_MALE_ENDINGS):
            said.add("male")
    if given:
        first = given.split()[0]
        known = table.lookup(first, "given")
        if known is not None and known.sex is not None:
            said.add(known.sex)
        elif known is None and not patronymic and (english := names.english_sex(first)):
            said.add(english)
    return said.pop() if len(said) == 1 else None


def expected_script(values: list[str | None], form: Script | None) -> Script | None:
    """The script a child's names are in: most of their letters, else the form's.

    ``None`` when the names are in the other script than the form: one of
    them, or the form, was misread, and which cannot be told (``Parker``
    beside ``Непгу`` on an English form: the given name is the misread one;
    ``Сорока Тарас`` on one: neither is). A word is then rewritten only when
    it mixes the scripts.
    """
    names_script = script_of(" ".join(v for v in values if v))
    if names_script is not None and form is not None and names_script != form:
        return None
    return names_script or form
