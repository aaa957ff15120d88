"""Dates written in digits read a second time, each on its own (``2012-08-15``, ``12.09.2008``).

The page is read once with every form language loaded (``ukr+rus+eng``). In
that reading a digit in a date is sometimes taken for its neighbour with
full confidence (``2912-08-15`` for ``2012-08-15``, ``12.99.2008``): the
Cyrillic models weigh in on shapes that are only ever digits, and a date
that cannot be is lost. Read again on its own, upscaled and binarised, with
the English model alone (digits are the same in every script), the same
word comes out right.

What is read again: every word of the page's reading that is a date in
digits (:func:`is_numeral`: digits with ``.``, ``-`` or ``/`` between them)
and not a plausible calendar date (:func:`plausible`): a page of dates read
well costs nothing more (measured: the second reading of every date cost
the ``gateway extract`` command 7 % of its pages per second). A misread
that leaves a plausible date (``2020`` for ``2022``) is not caught.
Other numbers are not: on the development split the second reading of
phone groups and school numbers in serif type was worse than the first
(``5490`` as ``9490``, ``50`` as ``590``), while on dates it only repaired.
All of a page's such dates go into one image, one word a row, read by one
extra Tesseract call (``--psm 6``), so the cost does not grow with their
count.

Guarantees:

- only a date's digits change: the second reading replaces the first only
  when it is a single word of as many digits with the same separators in
  the same places (``.``, ``-``, ``/``), read with a confidence of at least
  :data:`VOTE_FLOOR`; anything else keeps the first reading. The second
  reading wins over a surer first one: the first reading's confidence is
  exactly what misleads on these digits (``2912`` at 0.96), and the
  second, with one model and the word alone, has nothing else to weigh;
- a word keeps its box; its confidence becomes the lower of the two
  readings, because two readings that disagree are less sure than either;
- nothing is added: the result has the page's words in the same order,
  but for a date read in pieces (below), whose pieces become one word.

A date read **in pieces** is read again as well: a run of words on one
line, each of digits and date marks alone, that together hold a date's
digits and a separator but are no plausible date, one of them doubted
(``15.`` ``10`` ``201)`` at 0.66 for ``15.10.2017``, wide-3400033; or one
word whose dots were read as colons, ``21:08:2022`` at 0.04). The run is
cut out as one crop and read in the same call. It becomes one word only
when that reading is a plausible date, at least :data:`VOTE_FLOOR` sure,
whose digits are within :data:`PIECE_DIGIT_EDITS` edits of the pieces'
(the same ink, a digit lost to a bracket or misread); the word spans the
pieces' boxes and is no surer than the least sure of them. A sure run is
not picked: a page of dates read well costs nothing more.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
from PIL import Image
from rapidfuzz.distance import Levenshtein

from extractors import tesseract

NUMERAL_MIN_DIGITS = 6  # a date in digits has 6 to 8; a phone group or a number fewer
NUMERAL_DIGIT_SHARE = 0.6  # of a word's characters; under it the word is text with a number
VOTE_FLOOR = 0.7  # a second reading less sure than this is a guess: it overrules nothing
UPSCALE = 2  # Tesseract reads digits of 200-300 dpi type best at twice their size
MARGIN_HEIGHTS = 0.35  # paper kept left and right of a word's box, in word heights
MARGIN_ABOVE_BELOW = 0.15  # less above and below: a rule under a value lowers the confidence
ROW_GAP_PX = 24  # white between two rows of the stacked image, at its scale
REREAD_LANGUAGE = "eng"  # digits look alike in every script; one model loads fastest
SEPARATORS = ".-/"
PLAUSIBLE_YEARS = (1900, 2100)  # a year outside these in a child's record is a misreading
PIECE_MARKS = SEPARATORS + ":,;()"  # what a piece of a date may hold besides digits
PIECE_SEPARATORS = SEPARATORS + ":"  # a date's dot is read as a colon too
PIECE_UNSURE = 0.9  # pieces are read again only when one is less sure than this
PIECE_DIGIT_EDITS = 2  # the second reading's digits stay this close to the pieces'
_INK_PERCENTILES = (5, 95)  # dark and light ends of a crop; the mean of the two binarises it


def is_numeral(text: str) -> bool:
    """Whether a word is a date in digits: mostly digits, with separators between them."""
    core = text.strip(".,;:()")
    digits = sum(c.isdigit() for c in core)
    return (digits >= NUMERAL_MIN_DIGITS and digits >= NUMERAL_DIGIT_SHARE * len(core)
            and any(c in SEPARATORS for c in core))


def plausible(text: str) -> bool:
    """Whether a date in digits reads as a calendar date of a living child's records:
    day, month and a year in :data:`PLAUSIBLE_YEARS`, year first or last. Only an
    implausible one is read again, so that a page of well-read dates costs nothing."""
    groups = re.split(f"[{re.escape(SEPARATORS)}]", text.strip(".,;:()"))
    if len(groups) != 3 or not all(g.isdigit() for g in groups):
        return False
    if len(groups[0]) == 4:
        year, month, day = (int(g) for g in groups)
    elif len(groups[2]) == 4:
        day, month, year = (int(g) for g in groups)
    else:
        return False
    return (PLAUSIBLE_YEARS[0] <= year <= PLAUSIBLE_YEARS[1] and 1 <= month <= 12
            and 1 <= day <= 31)


def _skeleton(text: str) -> str:
    """Where the separators are: a digit (or a letter read for one) is ``0``."""
    return "".join(c if c in SEPARATORS else "0" for c in text)


def vote(first: tesseract.TsvWord, again: str, confidence: float) -> tesseract.TsvWord:
    """The word to keep, given a second reading ``again`` of ``first`` (see the module)."""
    core = first.text.strip(".,;:()")
    lead = first.text[: first.text.index(core)] if core else ""
    tail = first.text[len(lead) + len(core):]
    again = again.strip(".,;:()")
    if (again == core or not again or not all(c.isdigit() or c in SEPARATORS for c in again)
            or _skeleton(again) != _skeleton(core)
            or confidence < VOTE_FLOOR):
        return first
    return replace(first, text=lead + again + tail,
                   confidence=min(first.confidence, confidence))


def _is_piece(text: str) -> bool:
    return any(c.isdigit() for c in text) and all(c.isdigit() or c in PIECE_MARKS for c in text)


def date_pieces(words: Sequence[tesseract.TsvWord]) -> list[tuple[int, int]]:
    """``(start, end)`` of each run of words that is a date read in pieces (see the module)."""
    runs: list[tuple[int, int]] = []
    start = 0
    while start < len(words):
        end = start
        while end < len(words) and _is_piece(words[end].text) and (
                end == start or _same_line(words[end - 1], words[end])):
            end += 1
        if end == start:
            start += 1
            continue
        run = words[start:end]
        joined = "".join(w.text for w in run).strip(".,;:()")
        if ((len(run) > 1 or ":" in joined)
                and sum(c.isdigit() for c in joined) >= NUMERAL_MIN_DIGITS
                and any(c in PIECE_SEPARATORS for c in joined) and not plausible(joined)
                and min(w.confidence for w in run) < PIECE_UNSURE):
            runs.append((start, end))
        start = end
    return runs


def _same_line(a: tesseract.TsvWord, b: tesseract.TsvWord) -> bool:
    return (a.block, a.paragraph, a.line) == (b.block, b.paragraph, b.line)


def join_pieces(pieces: Sequence[tesseract.TsvWord], again: str,
                confidence: float) -> tesseract.TsvWord | None:
    """The one word a date read in pieces becomes, or ``None`` to keep the pieces."""
    again = again.strip(".,;:()")
    digits = "".join(c for w in pieces for c in w.text if c.isdigit())
    if (confidence < VOTE_FLOOR or not plausible(again)
            or Levenshtein.distance(digits, "".join(c for c in again if c.isdigit()))
            > PIECE_DIGIT_EDITS):
        return None
    return replace(_spanning(pieces), text=again,
                   confidence=min(confidence, *(w.confidence for w in pieces)))


def _crop(page: Image.Image, word: tesseract.TsvWord) -> Image.Image:
    side = max(2, round(MARGIN_HEIGHTS * word.height))
    above = max(2, round(MARGIN_ABOVE_BELOW * word.height))
    box = (max(0, word.left - side), max(0, word.top - above),
           min(page.width, word.left + word.width + side),
           min(page.height, word.top + word.height + above))
    crop = page.crop(box).resize(((box[2] - box[0]) * UPSCALE, (box[3] - box[1]) * UPSCALE),
                                 Image.Resampling.LANCZOS)
    pixels = np.asarray(crop)
    dark, light = np.percentile(pixels, _INK_PERCENTILES)
    if light - dark < 1:
        return crop
    return Image.fromarray(np.where(pixels < (dark + light) / 2, 0, 255).astype(np.uint8))


def reread(page: Image.Image, words: Sequence[tesseract.TsvWord], *, dpi: int,
           timeout: float) -> list[tesseract.TsvWord]:
    """``words`` with each numeral read again on its own and voted on (see the module).

    Args:
        page: the grayscale page the words were read from, in their pixels.
        words: the page's reading.
        dpi: the page's resolution.
        timeout: seconds the extra Tesseract call may take.

    Raises:
        ExtractionFailed: the second reading failed (see ``tesseract._run``).
    """
    picks = [i for i, w in enumerate(words) if is_numeral(w.text) and not plausible(w.text)]
    runs = [r for r in date_pieces(words) if not (r[1] - r[0] == 1 and r[0] in picks)]
    if not picks and not runs:
        return list(words)
    crops = [_crop(page, words[i]) for i in picks] + [_crop(page, _spanning(words[a:b]))
                                                      for a, b in runs]
    found = tesseract.read_stacked(crops, gap=ROW_GAP_PX, dpi=dpi * UPSCALE, timeout=timeout,
                                   languages=REREAD_LANGUAGE, psm=6)
    out: list[tesseract.TsvWord | None] = list(words)
    for i, again in zip(picks, found[:len(picks)], strict=True):
        if len(again) == 1:  # a numeral read as two words is no vote on its digits
            out[i] = vote(words[i], again[0].text, again[0].confidence)
    for (a, b), again in zip(runs, found[len(picks):], strict=True):
        joined = (join_pieces(words[a:b], again[0].text, again[0].confidence)
                  if len(again) == 1 else None)
        if joined is not None:
            out[a:b] = [joined] + [None] * (b - a - 1)
    return [w for w in out if w is not None]


def _spanning(pieces: Sequence[tesseract.TsvWord]) -> tesseract.TsvWord:
    """One word whose box spans ``pieces``, to be cut out as one."""
    left, top = min(w.left for w in pieces), min(w.top for w in pieces)
    return replace(pieces[0], left=left, top=top,
                   width=max(w.left + w.width for w in pieces) - left,
                   height=max(w.top + w.height for w in pieces) - top)
