"""Words read in the wrong script, read a second time with the form's own language model.

The page is read once with every form language loaded (``ukr+rus+eng``).
Where a word's shapes fit no model well, the three models compete letter by
letter and the word comes out in another script: a value written by hand
on a Russian form reads as Latin look-alikes (``AYLOUMCK`` for ``Луганск``,
``BOKUULOLUUS`` for ``вакцинация``), one on an English form as Cyrillic
(``Леси`` for ``April``). The form's language is known from its printed
labels, which are read well: :func:`page_language` tells it from the words
of the page read surely (a Ukrainian form's labels have ``і``, ``ї``, ``є``;
a Russian form's have none; an English form's none in Cyrillic).

What is read again: every word read under :data:`REREAD_BELOW` whose letters
are not all in the form's script (Latin letters on a Ukrainian or Russian
form, Cyrillic ones on an English form), and that is no word of an English
label (the English half of a bilingual label is Latin by right). Each line
holding such words is cut from the page and all of them are stacked into
one image, read by one extra Tesseract call (``--psm 6``) with the form's
language alone (``ukr``, ``rus`` or ``eng``), so the cost does not grow with
their count and a page without such words costs nothing.

Guarantees:

- only a word in the wrong script changes, and only into the form's script:
  it is replaced by the one word of the second reading over it (overlapping
  no other word of the first reading) when that word's letters are all in
  the form's script and about as many (:data:`LETTER_SLACK`); anything else
  keeps the first reading. Digits, phones and dates are never touched;
- a replaced word keeps its box, its line and its place; its confidence is
  the lower of the two readings', so a word read again is never surer than
  it was (a hand-filled value read again stays under review), and it is
  marked (``TsvWord.own_language``, then ``Word.own_language``) so that the record's
  provenance says the value differs from the first reading
  (``"corrected": true``), and a given name or patronymic so read may be
  snapped to the one known name within an edit, as a repaired word may
  (``extractors.correction.correct_name``);
- nothing is added or removed: the result has the same words in the same
  order as the page's reading.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Literal

from PIL import Image

from extractors import tesseract
from gateway.pluginspec import translit

Model = Literal["ukr", "rus", "eng"]

REREAD_BELOW = 0.8  # a word read at least this surely is left alone, whatever its script
SURE = 0.9  # words read at least this surely tell the page's language (labels in type)
MIN_SURE_WORDS = 4  # fewer sure words of three letters than this tell nothing
UKRAINIAN_WORDS = 2  # sure Cyrillic words with і/ї/є/ґ that make a page Ukrainian
UKRAINIAN_LETTERS = frozenset("іїєґІЇЄҐ")
RUSSIAN_LETTERS = frozenset("ыэъёЫЭЪЁ")
LATIN_PAGE_SHARE = 0.9  # of the sure words: Latin this much or more is an English form
LETTER_SLACK = 2  # letters the second reading may have more or fewer than the first
MIN_LETTERS = 2  # a word of fewer letters is a mark or an initial: not read again
ROW_GAP_PX = 24  # paper between two lines of the stacked image
MARGIN_HEIGHTS = 0.3  # paper kept round a line's words, in word heights


def _letters(text: str) -> list[str]:
    return [c for c in text if c.isalpha()]


def _script(text: str) -> Literal["cyrillic", "latin", "mixed", "none"]:
    letters = _letters(text)
    cyrillic = sum(1 for c in letters if translit.is_cyrillic(c))
    latin = sum(1 for c in letters if c.isascii())
    if not letters:
        return "none"
    if cyrillic == len(letters):
        return "cyrillic"
    if latin == len(letters):
        return "latin"
    return "mixed"


def page_language(words: Iterable[tesseract.TsvWord]) -> Model | None:
    """The form's language as its surely read words tell it, or ``None`` when they do not.

    Ukrainian when at least :data:`UKRAINIAN_WORDS` sure Cyrillic words have a
    letter only Ukrainian writes (and none only Russian does), Russian when
    sure Cyrillic words have none, English when nearly every sure word is
    Latin. Bilingual labels (``Прізвище / Surname``) count as their Cyrillic
    half.
    """
    cyrillic: list[str] = []
    latin = 0
    for w in words:
        if w.confidence < SURE or len(_letters(w.text)) < 3:
            continue
        script = _script(w.text)
        if script == "cyrillic":
            cyrillic.append(w.text)
        elif script == "latin":
            latin += 1
    sure = len(cyrillic) + latin
    if sure < MIN_SURE_WORDS:
        return None
    if latin >= LATIN_PAGE_SHARE * sure:
        return "eng"
    if len(cyrillic) < MIN_SURE_WORDS:
        return None
    ukrainian = sum(1 for t in cyrillic if UKRAINIAN_LETTERS & set(t))
    russian = sum(1 for t in cyrillic if RUSSIAN_LETTERS & set(t))
    if ukrainian >= UKRAINIAN_WORDS and not russian:
        return "ukr"
    if not ukrainian:
        return "rus"
    return None  # both: a bilingual Ukrainian-Russian page, or a misreading; no guess


def _form_script(model: Model) -> Literal["cyrillic", "latin"]:
    return "latin" if model == "eng" else "cyrillic"


def wants_reread(word: tesseract.TsvWord, model: Model, label_words: frozenset[str]) -> bool:
    """Whether ``word`` is read unsurely and not in the script of a ``model`` form."""
    if word.confidence >= REREAD_BELOW or len(_letters(word.text)) < MIN_LETTERS:
        return False
    if _script(word.text) == _form_script(model):
        return False
    return "".join(_letters(word.text)).casefold() not in label_words


def vote(first: tesseract.TsvWord, again: Sequence[tesseract.TsvWord],
         model: Model) -> tesseract.TsvWord:
    """The word to keep, given the second reading's words ``again`` over ``first``."""
    if len(again) != 1:
        return first
    second = again[0]
    letters = len(_letters(second.text))
    if (_script(second.text) != _form_script(model) or letters < MIN_LETTERS
            or abs(letters - len(_letters(first.text))) > LETTER_SLACK):
        return first
    return replace(first, text=second.text,
                   confidence=min(first.confidence, second.confidence), own_language=True)


def _overlap(a: tesseract.TsvWord, b: tesseract.TsvWord) -> int:
    return min(a.left + a.width, b.left + b.width) - max(a.left, b.left)


def reread(page: Image.Image, words: Sequence[tesseract.TsvWord], *, dpi: int,
           timeout: float, label_words: frozenset[str] = frozenset()) -> list[tesseract.TsvWord]:
    """``words`` with those in the wrong script read again with the form's model (see the module).

    Args:
        page: the grayscale page the words were read from, in their pixels.
        words: the page's reading.
        dpi: the page's resolution.
        timeout: seconds the extra Tesseract call may take.
        label_words: English label words, folded: never read again.

    Raises:
        ExtractionFailed: the second reading failed (see ``extractors.tesseract``).
    """
    model = page_language(words)
    if model is None:
        return list(words)
    lines: dict[tuple[int, int, int], list[int]] = {}
    for i, w in enumerate(words):
        lines.setdefault((w.block, w.paragraph, w.line), []).append(i)
    picked: list[tuple[list[int], tuple[int, int, int, int]]] = []
    for members in lines.values():
        if not any(wants_reread(words[i], model, label_words) for i in members):
            continue
        height = max(words[i].height for i in members)
        margin = max(2, round(MARGIN_HEIGHTS * height))
        box = (max(0, min(words[i].left for i in members) - margin),
               max(0, min(words[i].top for i in members) - margin),
               min(page.width, max(words[i].left + words[i].width for i in members) + margin),
               min(page.height, max(words[i].top + words[i].height for i in members) + margin))
        if box[2] - box[0] >= 2 and box[3] - box[1] >= 2:
            picked.append((members, box))
    if not picked:
        return list(words)
    crops = [page.crop(box) for _, box in picked]
    found = tesseract.read_stacked(crops, gap=ROW_GAP_PX, dpi=dpi, timeout=timeout,
                                   languages=model, psm=6)
    out = list(words)
    for (members, box), read in zip(picked, found, strict=True):
        again = [replace(w, left=w.left + box[0], top=w.top + box[1]) for w in read]
        first = [words[i] for i in members]
        for i in members:
            if not wants_reread(words[i], model, label_words):
                continue
            over = [a for a in again if _overlap(a, words[i]) > 0]
            # One word over it, and over no other word of the first reading: a
            # word split or merged differently is no vote on this one.
            if len(over) == 1 and sum(_overlap(over[0], f) > 0 for f in first) == 1:
                out[i] = vote(words[i], over, model)
    return out
