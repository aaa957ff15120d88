
"""Biography records (SPEC §4.1) from the positioned text of label–value forms.

A page reader (PDF text layer or OCR) hands over :class:`PageText`: lines of
words with boxes in PDF points, top-left origin. This module finds the
labels of the SPEC §4.1 table in Ukrainian, Russian or English and the value
each one labels, groups them into one record per child, and derives the
Latin spellings and ages.

How a form is read:

- Rows. Lines whose boxes overlap vertically by half the smaller height are
  one visual row (a reader may give table cells as separate lines). On a
  scan, a doubtful word wholly inside a photo, or half its width over or
  under surer words of the row's other lines, is a mark read as letters and
  no part of the row.
- Labels. Matched on a key: homoglyphs folded to the word's main script,
  lower case, ё as е, apostrophes and everything but letters dropped, so
  case, spacing, a trailing colon and ``Ім'я``/``Імʼя``/``Iм'я`` all match.
  OCR slips are forgiven by edit distance: none for keys of up to 4 letters,
  1 up to 8, 2 beyond; a short key (3 or 4 letters) read with its colon, the
  mark of a label, is forgiven one slip (``Im'a:`` and ``Їм'я:`` for ``Ім'я:``).
  A colon standing alone after a label is the label's. A label starts a row
  or follows a gap of at least :data:`CELL_GAP_FACTOR` line heights (the
  next cell or column). A bilingual
  label (``Прізвище / Surname``) is one label; a hint in parentheses after it
  (``Стать (ч / ж)``) is skipped.
- Values. The words after the label on its row, up to the next label (left
  of the value, or a table row). A label with nothing after it takes the
  words below it (value under the label): the first row below, within
  :data:`BELOW_GAP_FACTOR` line heights, whose words fall in the label's
  column (from the label's left edge to the next label on its row). A row
  below that starts with a label means the value is empty. A dash after a
  label, or words all read as nothing and holding no digit, give way to a
  value under the label in its column (a stamp's ring, a label's half over
  a photo's frame).
- Continuations. Rows right below a value, close (within
  :data:`CONTINUATION_GAP_FACTOR` line heights), with no label and their
  first word aligned with the value's first word, continue the value; a
  first word of letters closed by a colon is a label too garbled to match,
  and ends the value.
- Children. A new record starts at a heading ``Дитина 1`` / ``Ребёнок 2`` /
  ``Child 3`` (any number, optional ``№``/``No.``/``#``), or when a family
  name or a given name label comes again in the current record. The same
  label on two consecutive rows (a bilingual form printing ``Surname``
  under ``Прізвище``) is one field.
- Relatives. ``Мати``/``Мать``/``Mother`` → mother, ``Батько``/``Отец``/
  ``Father`` → father, brother/sister → sibling, grandmother/grandfather →
  grandparent, aunt/uncle → other; a row led by a label too garbled to
  match, over a value that reads as a relative's (a name and a phone), is
  a relative whose relation is guessed (or "other") and always reviewed.
  The value is read as ``name, place, phone``: the phone is the run of
  digits (9 to 15, may start with +, may hold spaces, brackets, hyphens)
  wherever it stands; of the rest, split at commas, the first part is the
  name and the others, joined, the place.
- Photos. Each image on a page goes to the child whose block of fields on
  that page it is nearest to, among blocks it is not below (a photo sits
  above, left or right of its child's fields), if within
  :data:`PHOTO_MAX_GAP` points.

What a record says:

- Values are as written, whitespace collapsed, then repaired by what each
  field can hold (``extractors.correction``): script per word (a Latin
  ``i`` typed inside a Cyrillic name becomes ``і``; a name is put in the
  script of the child's other names, else the form's), digits and ``№``
  where a number stands, debris at the edges, a misread given name or
  patronymic snapped to a known one only when unambiguous. Words OCR all
  but rejects (specks) and doubtful words a cell gap after a value (a
  stamp's ring, a pen stroke) are not part of it. Dashes and "unknown" in
  any of the three languages are null. Dates and sex that cannot be read
  with certainty are null, with a warning; sex not printed or not read is
  told by the patronymic or a known given name when they agree.
- ``latin``: built from the repaired names. The language of a name is told
  by its own letters (і ї є ґ → Ukrainian, ы э ъ ё → Russian), else by all
  the child's names together, else by the labels (of the child's block,
  then of the document); with none of these the spelling is kept only if
  KMU 2010 and ICAO agree.
- ``provenance``: per member found, the page, the value's box, the page's
  method, and a confidence: the probability the value is right, from the
  fitted model of ``extractors.confidence`` over how it was read (word and
  label confidences, label edits, length, repairs, specks dropped beside
  it, an OCR'd given name or patronymic no name table knows, an
  implausible date, the page's condition); a text-layer value neither
  repaired nor inferred is 1.0. A repaired value says ``"corrected":
  true``, and so does a value with a word read again in the form's own
  language (``extractors.own_language``), which is never surer than that
  word's weaker reading (the model weighs it, and caps it there); a value
  the page's first reading left out and a second reading of that region
  found (``extractors.documents``) says ``"read_again": true``, is never
  surer than ``confidence.READ_AGAIN_MAX_CONFIDENCE`` and is for review;
  a sex told by the names says ``"inferred": true`` and carries
  that name's page and box. A place no table knows, in another script
  than the child's names, is never surer than
  :data:`STRANGE_PLACE_MAX_CONFIDENCE` (``Yepuiris`` for ``Чернігів``). A
  photo's confidence falls from 1 to 0.5 with its distance from the block.
- ``review``: the members a person should check: those under the model's
  threshold (chosen on the development split so that review holds most of
  the wrong members), a photo under :data:`PHOTO_REVIEW_THRESHOLD`, those
  whose label was found but whose value could not be read, and the
  child's identity (family and given name, sex, birth date) where it was
  not found. When more than :data:`ILLEGIBLE_SHARE` of the values a record
  read are under the threshold, all of them are for review (a hand the OCR
  cannot read), and a warning says to transcribe the page.
- ``confidence``: the lowest member confidence (the weakest reading is
  what a caseworker must check); 0 if nothing has provenance.
- ``record_id``: SHA-256 of part name, first page and the record's ordinal
  among the records starting on that page, first 32 hex digits: the same
  part read the same way gives the same ids.
- A block with no family name, given name, patronymic or birth date is not a
  child and gives no record (a warning says so).

Nothing here logs or raises with a value in it: warnings name pages and
members only.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any, Literal

from extractors import confidence, correction, dates, places
from extractors.layout import ImageRegion, Line, PageText, Word
from gateway.pluginspec import BBox, translit

LabelLanguage = Literal["uk", "ru", "en"]

CELL_GAP_FACTOR = 0.8  # a gap this many line heights wide separates cells or columns
WIDE_LABEL_GAP = 2.0  # up to this many cell gaps, words that make a label exactly are one
BELOW_GAP_FACTOR = 1.6  # how far below its label (in label heights) a value may start
CONTINUATION_GAP_FACTOR = 1.0  # the widest gap between the rows of one value
ALIGN_TOLERANCE = 8.0  # points a continuation or below-value may stray from its column edge
PHOTO_MAX_GAP = 216.0  # points (3 in) between a photo and its child's block, at most
GARBLED_GAP_RATIO = 2.0  # a gap this many label spaces wide ends a garbled label half
MAX_GARBLED_WORDS = 3  # words of a garbled first half before a bilingual label's "/"
SHORT_LABEL_CLOSED = 3  # a key this long or longer, read with a colon after it, allows one edit
MAX_LABEL_WORDS = 5  # the longest label is 3 words; room for a bilingual split
LABEL_WORD_LETTERS = 4  # a label's word this long, read whole, names its label's half
TRUNCATED_LABEL_LETTERS = 7  # a label's start this long ("датанаро") may stand for it ...
TRUNCATED_LABEL_SHARE = 0.5  # ... when it is at least this share of it
TRUNCATED_SLIP_LETTERS = 9  # a start this long may hold one letter read as another
GARBLED_WORD_LETTERS = 2  # letters a label's last word read in the other script may differ by
UNREAD_RELATION_SHARE = 0.5  # of a relation label's letters, the most an unread label may miss
UNREAD_RELATION_MARGIN = 2  # edits the nearest relation must win by to be named; else "other"
UNREAD_LABEL_MAX_CONFIDENCE = 0.5  # a relative under a label no table matched: always reviewed
STRANGE_PLACE_MAX_CONFIDENCE = 0.5  # a place no table knows, not in the names' script: reviewed
STRANGE_NAME_MAX_CONFIDENCE = 0.5  # a name left in another script than the others': reviewed
LABEL_MEMO = 8192  # texts whose label is remembered: a document's label candidates, many times
MAX_VALUE_CHARS = 500  # the schema's limit; longer is not a form value
TALL_LINE = 1.8  # a line this many typical line heights tall is a row of its own
STRETCHED_SURE = 0.9  # a tall word read this surely is type a rule stretched, not a frame
INK_REACH = 2.0  # line heights past a value's end at which a stroke may still have hit it
SPECK_CHARS = 2  # a word this short ...
SPECK_CONFIDENCE = 0.3  # ... read with less confidence than this is a speck, not a value
DOUBTFUL_WORD = 0.5  # OCR word confidence under which a word apart from its value is debris
PHOTO_EDGE = 2.0  # points a word inside a photo may reach past its found edge
OVERLAID_WORD = 0.7  # a word under a surer word of its row's other line, less sure: a mark
PHOTO_REVIEW_THRESHOLD = 0.9  # a photo over ~43 pt from its child's block is for review
# A record with more than this share of the values it read under the review
# threshold was not read as type at all (a hand-filled form, a ruined scan):
# every member goes to review. Chosen on the development split, where printed
# records have at most 0.33 of their values under it and hand-filled ones at
# least 0.64 (with the model refitted on 2026-12-02: 0.43 and 0.92).
ILLEGIBLE_SHARE = 0.5
ILLEGIBLE_MIN_VALUES = 4  # a share of fewer values read says nothing of the hand
RECORD_ID_HEX = 32  # 128 bits: unique within any packet

# member → language → label texts. Members with a dot are services; those
# starting "contact:" are relatives with their SPEC relation.
LABELS: dict[str, dict[LabelLanguage, tuple[str, ...]]] = {
    "family_name": {
        "uk": ("Прізвище",),
        "ru": ("Фамилия",),
        "en": ("Surname", "Family name", "Last name"),
    },
    "given_name": {
        "uk": ("Ім'я",),
        "ru": ("Имя",),
        "en": ("Given name", "First name", "Forename"),
    },
    "patronymic": {"uk": ("По батькові",), "ru": ("Отчество",), "en": ("Patronymic",)},
    "other_names": {
        "uk": ("Інші імена", "Інші прізвища"),
        "ru": ("Другие имена", "Другие фамилии"),
        "en": ("Other names", "Also known as"),
    },
    "sex": {"uk": ("Стать",), "ru": ("Пол",), "en": ("Sex", "Gender")},
    "birth_date": {
        "uk": ("Дата народження",),
        "ru": ("Дата рождения",),
        "en": ("Date of birth", "Birth date"),
    },
    "birth_place": {
        "uk": ("Місце народження",),
        "ru": ("Место рождения",),
        "en": ("Place of birth", "Birthplace"),
    },
    "displacement_date": {
        "uk": ("Дата переміщення",),
        "ru": ("Дата перемещения",),
        "en": ("Date of displacement", "Displacement date"),
    },
    "displacement_place": {
        "uk": ("Місце переміщення",),
        "ru": ("Место перемещения",),
        "en": ("Place of displacement", "Displacement place"),
    },
    "current_location": {
        "uk": ("Теперішнє місцеперебування", "Поточне місцеперебування"),
        "ru": ("Текущее местонахождение",),
        "en": ("Current location",),
    },
    "guardian": {"uk": ("Опікун",), "ru": ("Опекун",), "en": ("Guardian",)},
    "services.medical": {
        "uk": ("Медичні послуги",),
        "ru": ("Медицинские услуги",),
        "en": ("Medical services",),
    },
    "services.psychological": {
        "uk": ("Психологічні послуги",),
        "ru": ("Психологические услуги",),
        "en": ("Psychological services",),
    },
    "services.social": {
        "uk": ("Соціальні послуги",),
        "ru": ("Социальные услуги",),
        "en": ("Social services",),
    },
    "services.education": {"uk": ("Освіта",), "ru": ("Образование",), "en": ("Education",)},
    "contact:mother": {"uk": ("Мати",), "ru": ("Мать",), "en": ("Mother",)},
    "contact:father": {"uk": ("Батько",), "ru": ("Отец",), "en": ("Father",)},
    "contact:sibling": {
        "uk": ("Брат", "Сестра"),
        "ru": ("Брат", "Сестра"),
        "en": ("Brother", "Sister"),
    },
    "contact:grandparent": {
        "uk": ("Бабуся", "Дідусь"),
        "ru": ("Бабушка", "Дедушка"),
        "en": ("Grandmother", "Grandfather"),
    },
    "contact:other": {
        "uk": ("Тітка", "Дядько"),
        "ru": ("Тётя", "Дядя"),
        "en": ("Aunt", "Uncle"),
    },
}

_SCALARS = (
    "family_name", "given_name", "patronymic", "sex", "birth_date", "displacement_date",
    "birth_place", "displacement_place", "current_location", "guardian",
)  # fmt: skip
_NAMES = ("family_name", "given_name", "patronymic")
_IDENTITY = ("family_name", "given_name", "patronymic", "birth_date")
_NEW_CHILD_MEMBERS = frozenset({"family_name", "given_name"})
_MUST_LOOK = ("family_name", "given_name", "sex", "birth_date")  # null: in review
_SERVICES = ("medical", "psychological", "social", "education")

_HEADING = re.compile(r"(дитина|ребенок|child)\s*(№|no\.?|#)?\s*\d{1,3}\s*[:.]?", re.IGNORECASE)
_NULL_VALUES = frozenset(
    {"невідомо", "не відомо", "неизвестно", "unknown", "n/a", "н/д", "немає даних",
     "нет данных", "not known", "-", "--", "—", "–", "?"}
)  # fmt: skip
_MALE = frozenset({"ч", "чол", "чоловіча", "чоловічий", "м", "муж", "мужской", "m", "male"})
_FEMALE = frozenset({"ж", "жін", "жіноча", "жіночий", "жен", "женский", "f", "female"})
_PHONE = re.compile(r"\+?\(?\d[\d ()\-]{5,24}\d")
# A "+" read as "4" before a country code: "4380 ..." has one digit too many.
_PLUS_AS_FOUR = re.compile(r"^4(?=380[\d ()-]{9,})")
# ... or not read at all: twelve digits from 380 on are Ukraine's international form.
_PLUS_LOST = re.compile(r"^(?=380(?:[ ()-]*\d){9}$)")
_PHONE_WORDS = re.compile(r"(?<!\w)(тел|tel|phone|моб|mob)\.?:?(?!\w)", re.IGNORECASE)
_VALUE_TRIM = " \t:;,-–—|"
_SIGNS = "№#"  # signs that are values' own, not specks
_VALUE_PUNCT = ",.;:()"  # punctuation values hold between their words
_EMPTY_MARKS = "-–—_"  # a value of only these says the field is empty


@dataclass(frozen=True, slots=True)
class Label:
    """One label text of the table, with the member it stands for."""

    member: str
    languages: frozenset[LabelLanguage]
    key: str


@dataclass(frozen=True, slots=True)
class ParseResult:
    """Records found in one part, warnings free of personal data, and per record
    the evidence each provenance confidence was scored from (for calibration)."""

    records: list[dict[str, Any]]
    warnings: list[str]
    evidence: dict[str, dict[str, confidence.Evidence]] = field(default_factory=dict)
    illegible: frozenset[str] = frozenset()  # records with every member for review


@dataclass(frozen=True, slots=True)
class _Token:
    text: str
    bbox: BBox
    confidence: float
    reread: bool = False  # read by a second reading of ink the page's reading left unread
    own_language: bool = False  # read a second time in the form's own language


@dataclass(frozen=True, slots=True)
class _Row:
    page: int
    tokens: tuple[_Token, ...]
    bbox: BBox
    ink: bool = False  # a stroke or a stamp's ring read as text: no label, no value

    @property
    def height(self) -> float:
        return max(self.bbox[3] - self.bbox[1], 1.0)


@dataclass(slots=True)
class _Segment:
    label: Label | None
    label_tokens: list[_Token]
    distance: int
    value_tokens: list[_Token] = field(default_factory=list)
    marked_empty: bool = False  # "—" after the label: the value is empty (unless one is below)
    noisy: bool = False  # specks were dropped beside the value (a stamp, a stroke)


@dataclass(frozen=True, slots=True)
class _Field:
    member: str
    label: Label
    distance: int
    label_tokens: tuple[_Token, ...]
    value_tokens: tuple[_Token, ...]
    page: int
    noisy: bool = False  # ink that was not text lay on or beside the value
    marked_empty: bool = False  # a dash says the field is empty (not a value unread)
    unread_label: bool = False  # a relative under a label no table matched (its relation guessed)


@dataclass(frozen=True, slots=True)
class _Heading:
    page: int
    bbox: BBox


def _key(text: str) -> str:
    folded = translit.fold_text(text).lower().replace("ё", "е")
    return "".join(c for c in folded if c.isalpha())


# Digits and marks OCR reads for the letters of a label ("1м'я" for "Ім'я",
# "PATBOMYM!C" for "PATRONYMIC"), in each script; and "ї" for "і" ("їм'я":
# a speck over the capital; no label has a "ї").
_DIGITS_AS_CYRILLIC = str.maketrans("103!mїЇ", "іозіміІ")  # and a Cyrillic "м" read as Latin "m"
_DIGITS_AS_LATIN = str.maketrans("10!", "ioi")
# Cyrillic letters OCR reads for Latin ones of another shape than their twins
# ("Раїгопутіс" for "Patronymic": "ї" for "t", "г" for "r", "п" for "n", "т" for "m").
_SHAPES_AS_LATIN = str.maketrans(correction.CYRILLIC_TO_LATIN)
# And the other way ("no BATbKOB" for "ПО БАТЬКОВ": "n" for "п", "b" for "ь").
_SHAPES_AS_CYRILLIC = str.maketrans(correction.LATIN_TO_CYRILLIC)
# Letters a box's corner or its left edge is read as, glued before the label in it.
_FRAME_EDGES = "ГгLlIІ"


def _keys(text: str) -> tuple[str, ...]:
    # OCR may read most of a Cyrillic label in Latin look-alikes ("MICЦE"),
    # so a label is also tried with every look-alike turned each way, and
    # with a digit read for a letter as that letter. The text as read first.
    cyrillic = translit.to_cyrillic_lookalikes(text)
    latin = translit.to_latin_lookalikes(text)
    return (
        _key(text),
        _key(cyrillic),
        _key(latin),
        _key(cyrillic.translate(_DIGITS_AS_CYRILLIC)),
        _key(latin.translate(_DIGITS_AS_LATIN)),
        _key(latin.translate(_SHAPES_AS_LATIN)),
        _key(cyrillic.translate(_SHAPES_AS_CYRILLIC)),
    )


def _build_labels() -> tuple[Label, ...]:
    languages: dict[tuple[str, str], set[LabelLanguage]] = {}
    for member, by_language in LABELS.items():
        for language, texts in by_language.items():
            for text in texts:
                languages.setdefault((member, _key(text)), set()).add(language)
    return tuple(Label(m, frozenset(langs), k) for (m, k), langs in languages.items())


_ALL_LABELS = _build_labels()
# Each member's label words long enough to tell it ("date", "birth"; never "of").
_LABEL_WORDS: dict[str, frozenset[str]] = {
    member: frozenset(w for texts in by_language.values() for text in texts
                      for w in map(_key, text.split()) if len(w) >= LABEL_WORD_LETTERS)
    for member, by_language in LABELS.items()}


# Labels of two words or more: (member, key, key of all words but the last, script,
# letters of the last word), for a label whose last word OCR garbled.
_LABEL_HEADS: tuple[tuple[str, str, str, correction.Script | None, int], ...] = tuple(
    (member, _key(text), _key(" ".join(words[:-1])), correction.script_of(text),
     len(_key(words[-1])))
    for member, by_language in LABELS.items() for texts in by_language.values()
    for text in texts if len(words := text.split()) >= 2)


def _shared_heads() -> dict[str, frozenset[str]]:
    heads: dict[str, set[str]] = {}
    for member, by_language in LABELS.items():
        for texts in by_language.values():
            for text in texts:
                words = text.split()
                for n in range(1, len(words)):
                    heads.setdefault(_key(" ".join(words[:n])), set()).add(member)
    return {key: frozenset(members) for key, members in heads.items()
            if len(members) > 1 and len(key) >= LABEL_WORD_LETTERS}


# The first words of the labels of more than one member ("Дата", "Place of"): a label
# cut short there says only which members it may be (:func:`_shared_head`).
_SHARED_HEADS = _shared_heads()
_EITHER = "?"  # a member name starting so stands for the members it lists, "/"-separated


def _tolerance(key: str, *, closed: bool = False) -> int:
    """Edits forgiven in reading ``key``; ``closed``: the text read ends in a colon."""
    if len(key) <= 4:
        if closed and len(key) >= SHORT_LABEL_CLOSED:
            return 1
        return 0
    return 1 if len(key) <= 8 else 2


def _distance(a: str, b: str, limit: int) -> int:
    """Levenshtein distance, or ``limit + 1`` once it is certainly over."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        if min(current) > limit:
            return limit + 1
        previous = current
    return previous[-1]


def _split_word(text: str, bbox: BBox, confidence: float, reread: bool = False,
                own_language: bool = False) -> list[_Token]:
    # "Прізвище/Surname" and "Прізвище:Коваленко" arrive as one word; the
    # parts get a share of the box proportional to their length.
    pieces: list[str] = []
    for part in re.split(r"(/)", text):
        if not part:
            continue
        head, colon, tail = part.partition(":")
        if colon and tail and head and all(c.isalpha() or c in translit.APOSTROPHES for c in head):
            pieces.extend([head + colon, tail])
        else:
            pieces.append(part)
    if len(pieces) == 1:
        return [_Token(text, bbox, confidence, reread, own_language)]
    x0, y0, x1, y1 = bbox
    width = (x1 - x0) / max(len(text), 1)
    tokens, offset = [], 0
    for piece in pieces:
        start = x0 + offset * width
        tokens.append(_Token(piece, (start, y0, start + len(piece) * width, y1), confidence,
                             reread, own_language))
        offset += len(piece)
    return tokens


def _rows(page: PageText) -> list[_Row]:
    """Lines of one page grouped into visual rows, top to bottom."""
    lines = [ln for ln in page.lines if ln.words]
    if page.method == "ocr" and page.images:
        lines = [kept for ln in lines if (kept := Line(tuple(
            w for w in ln.words if not _in_a_photo(w, page.images)))).words]
    heights = sorted(ln.bbox[3] - ln.bbox[1] for ln in lines)
    typical = heights[len(heights) // 2] if heights else 0.0
    # In the order of where they sit (a stretched word's line at its middle), so
    # that a mark between a value and its label's row does not part them.
    lines.sort(key=lambda ln: (_extent(ln, TALL_LINE * typical)[0], ln.bbox[0]))
    groups: list[list[Line]] = []
    tall: list[list[Line]] = []
    for line in lines:
        y0, y1 = _extent(line, TALL_LINE * typical)
        if y1 - y0 > TALL_LINE * typical:
            tall.append([line])  # a stroke or a ring: it would bridge the rows it crosses
            continue
        if groups:
            last = groups[-1]
            gy0 = min(_extent(ln, TALL_LINE * typical)[0] for ln in last)
            gy1 = max(_extent(ln, TALL_LINE * typical)[1] for ln in last)
            overlap = min(y1, gy1) - max(y0, gy0)
            if overlap >= 0.5 * min(y1 - y0, gy1 - gy0):
                last.append(line)
                continue
        groups.append([line])
    rows = []
    for group in sorted(groups + tall, key=lambda g: min(ln.bbox[1] for ln in g)):
        words = sorted((w for ln in group for w in ln.words if not _overlaid(w, ln, group)),
                       key=lambda w: w.bbox[0])
        tokens = tuple(t for w in words for t in _split_word(w.text, w.bbox, w.confidence,
                                                             w.reread, w.own_language))
        bbox = _union(t.bbox for t in tokens)
        # A word of three letters or digits OCR is sure of is text, even in a
        # tall line (a date read again, its box with the crop's margin).
        ink = any(group is g for g in tall) and all(
            t.confidence < DOUBTFUL_WORD or sum(c.isalnum() for c in t.text) < 3
            for t in tokens)
        rows.append(_Row(page.page, tokens, bbox, ink))
    return rows


def _in_a_photo(word: Word, images: Sequence[ImageRegion]) -> bool:
    """Whether a scan's word, read less than surely, lies wholly inside a photo on the page.

    A photo holds no text of the form: what OCR makes of its hair or its
    frame (``Те`` at 0.59 after ``Илья``, wide-3100011) is no value's. A word
    read at :data:`STRETCHED_SURE` or more is kept: a photo found where type
    is would otherwise take the type with it.
    """
    x0, y0, x1, y1 = word.bbox
    return word.confidence < STRETCHED_SURE and any(
        b[0] - PHOTO_EDGE <= x0 and x1 <= b[2] + PHOTO_EDGE
        and b[1] - PHOTO_EDGE <= y0 and y1 <= b[3] + PHOTO_EDGE
        for b in (image.bbox for image in images))


def _overlaid(word: Word, line: Line, group: Sequence[Line]) -> bool:
    """Whether a word of one of a row's lines lies over or under a word of another.

    Two words of one row never share their width; where they do, the one OCR
    doubts (under :data:`OVERLAID_WORD`, and less sure than the others) is a
    mark read as letters: a pen stroke under ``Коваленко Олена`` read ``Se``
    at 0.56 and put between the two names (wide-3200065); one through
    ``Birth date`` read ``Steck`` at 0.28 before it, and the label was lost
    (wide-3100037). Half its width under surer words makes it one.
    """
    if word.confidence >= OVERLAID_WORD:
        return False
    shared = sum(max(0.0, min(w.bbox[2], word.bbox[2]) - max(w.bbox[0], word.bbox[0]))
                 for other in group if other is not line for w in other.words
                 if w.confidence > word.confidence)
    return shared >= 0.5 * (word.bbox[2] - word.bbox[0])


def _extent(line: Line, tallest: float) -> tuple[float, float]:
    """Top and bottom of a line's words of ordinary height, or of all if none is.

    A word surely read whose box a rule or a stroke stretched (``July`` over
    an underline) stays on its line (``extractors.documents``); the line sits
    where its other words do, so that it still meets its label's row, or,
    if all its words are so stretched, a typical line's height at their middle.
    """
    plain = [w.bbox for w in line.words if w.bbox[3] - w.bbox[1] <= tallest]
    if not plain and all((w.reread or w.confidence >= STRETCHED_SURE)
                         and sum(c.isalnum() for c in w.text) >= 3 for w in line.words):
        # Only words surely read, each stretched (a frame's edge read glued to a
        # value read again, "Мукотаїмпа|"; "male" over a table's rule): a line of
        # ordinary height at their middle. A frame read as letters ('"ять' at
        # 0.58) is no such word: it stays a row of its own.
        middle = (line.bbox[1] + line.bbox[3]) / 2
        return middle - tallest / TALL_LINE / 2, middle + tallest / TALL_LINE / 2
    plain = plain or [line.bbox]
    return min(b[1] for b in plain), max(b[3] for b in plain)


def _union(boxes: Iterable[BBox]) -> BBox:
    boxes = list(boxes)
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


def match_label(text: str) -> Label | None:
    """The label ``text`` is, allowing for case, spacing, colons and OCR slips."""
    found = _best_label(text)
    return found[0] if found else None


@functools.lru_cache(maxsize=LABEL_MEMO)
def _best_label(text: str) -> tuple[Label, int] | None:
    # Remembered: every page of a form asks for the same labels, each an edit
    # distance to every known label (62 % of parsing a scanned page).
    # The text's own reading first, so that the choice among its variants
    # never depends on the order of a set (which differs between processes).
    best: tuple[Label, int] | None = None
    rivals: set[str] = set()  # members another label equally near stands for
    closed = text.rstrip().endswith(":")
    for key in dict.fromkeys(_keys(text)):
        if not key:
            continue
        for label in _ALL_LABELS:
            limit = _tolerance(label.key, closed=closed)
            d = _distance(key, label.key, limit)
            if d > limit or (best is not None and d > best[1]):
                continue
            if best is None or d < best[1]:
                best, rivals = (label, d), set()
            elif label.member != best[0].member:
                rivals.add(label.member)
    if best is not None and best[1] > 0 and rivals:
        return None  # an inexact reading as near to two fields names neither
    if best is None and text[:1] in _FRAME_EDGES and len(_key(text[1:])) >= SHORT_LABEL_CLOSED:
        # "Гимя" for "ИМЯ": the corner of the label's box read as a letter glued to
        # it. Only the rest spelling a label exactly, and one edit more.
        found = _best_label(text[1:])
        if found is not None and found[1] == 0:
            return found[0], 1
    return best


def _label_at(
    tokens: Sequence[_Token], start: int, cell_gap: float
) -> tuple[Label, int, int] | None:
    """The label starting at ``tokens[start]``: (label, end index, edits)."""
    best: tuple[Label, int, int] | None = None
    wide = False
    for end in range(start + 1, min(len(tokens), start + MAX_LABEL_WORDS) + 1):
        words = tokens[start:end]
        if words[-1].text == "/" or not any(c.isalpha() for c in words[-1].text):
            break  # a separator or a number ("14.03.2012") is never part of a label
        gap = words[-1].bbox[0] - words[-2].bbox[2] if end - start > 1 else 0.0
        if gap >= WIDE_LABEL_GAP * cell_gap:
            break  # the next cell begins: a label does not reach into it
        # A gap of a cell's width is a cell's edge, unless the words beyond it
        # complete a label exactly: a monospaced or spaced-out "LAST NAME"
        # leaves a wide space between its words.
        wide = wide or gap >= cell_gap
        found = _best_label(" ".join(t.text for t in words))
        if (found and wide and found[1] > 0 and not words[-1].text.endswith(":")
                and not (end < len(tokens) and tokens[end].text == "/")):
            # Inexact across a cell's width: a cell's edge, unless a colon closes it
            # ("МЕДИЧНТ ПОСЛУГИ:", capitals whose row is short, so its cell gap is)
            # or a bilingual label's "/" follows (wide-3500030: "Ло батькові / Раїг",
            # "По" read "Ло" on a row of small type, its box short of the space).
            found = None
        # Fewest edits wins, then the longer label ("Дата народження" over a
        # shorter fuzzy match); a colon closes the label.
        if found and (best is None or found[1] < best[2] or found[1] == best[2]):
            best = (found[0], end, found[1])
        if words[-1].text.endswith(":"):
            break
    return best


def _garbled_first_half(tokens: Sequence[_Token], start: int,
                        cell_gap: float) -> tuple[Label, int, int] | None:
    """A bilingual label whose first half OCR garbled ("BABYLUKA / GRANDMOTHER:"):
    up to :data:`MAX_GARBLED_WORDS` words of letters, "/", then a label."""
    for slash in range(start + 1, min(len(tokens), start + MAX_GARBLED_WORDS + 1)):
        if tokens[slash].text != "/":
            if not any(c.isalpha() for c in tokens[slash].text):
                return None
            continue
        if not all(any(c.isalpha() for c in t.text) for t in tokens[start:slash]):
            return None
        other = _label_at(tokens, slash + 1, cell_gap)
        if other is None:
            return None
        label, end, distance = other
        return label, end, distance + 1  # one half unread: a little less sure
    return None


def _debris_after(tokens: Sequence[_Token], end: int, cell_gap: float) -> bool:
    """Whether the words after ``tokens[:end]`` on its row are debris, not a value or a
    label: each OCR doubts, or is a letter or two standing a wide cell gap from the
    word before it (a photo frame's edge read "H", sure, far along the row)."""
    for n in range(end, len(tokens)):
        word = tokens[n]
        if word.confidence < DOUBTFUL_WORD:
            continue
        if (n > 0 and sum(c.isalnum() for c in word.text) <= SPECK_CHARS
                and word.bbox[0] - tokens[n - 1].bbox[2] >= WIDE_LABEL_GAP * cell_gap):
            continue
        return False
    return True


def _label_rest(rest: Sequence[_Token]) -> bool:
    """Whether the words after a label's head are the rest of it, garbled: no more
    than a label's words, closed by its colon, with no digit but a one-mark word
    (a bilingual label's "/" read as "7")."""
    return (0 < len(rest) <= MAX_LABEL_WORDS and rest[-1].text.endswith(":")
            and all(len(t.text) == 1 or not any(c.isdigit() for c in t.text) for t in rest))


def _truncated_label(tokens: Sequence[_Token], start: int,
                     cell_gap: float) -> tuple[Label, int, int] | None:
    """A label OCR read only the start of, alone on its row ("Дата наро,", "ДАТА РОЖД").

    The row's words, from ``start``, spell the start of exactly one member's
    labels, into its second word, at least :data:`TRUNCATED_LABEL_SHARE` of
    it and :data:`TRUNCATED_LABEL_LETTERS` letters, as read or in either
    script's look-alikes (:func:`_keys`); a start of
    :data:`TRUNCATED_SLIP_LETTERS` or more may hold one letter read as
    another (``no BATbKOB`` for ``ПО БАТЬКОВ``, cut by a photo's frame,
    wide-3200065), at one edit more; whatever follows on the
    row is debris (:func:`_debris_after`: ``"п``, the rest of the label
    garbled; ``H`` far along, a frame's edge). Its value
    is then looked for below it, as for any label alone on its row; no value,
    no field. Counted as one edit more than a label read whole.
    """
    for end in range(len(tokens), start + 1, -1):
        if not _debris_after(tokens, end, cell_gap):
            break  # a sure word after the label: a value or another label, not debris
        text = " ".join(t.text for t in tokens[start:end])
        found: dict[Label, int] = {}  # label -> its start's letters read as another
        for read in dict.fromkeys(_keys(text)):
            if len(read) < TRUNCATED_LABEL_LETTERS:
                continue
            slips = 1 if len(read) >= TRUNCATED_SLIP_LETTERS else 0
            for label in _ALL_LABELS:
                if (len(label.key) > len(read)
                        and len(read) >= TRUNCATED_LABEL_SHARE * len(label.key)):
                    missed = sum(a != b for a, b in zip(read, label.key, strict=False))
                    if missed <= min(slips, found.get(label, slips)):
                        found[label] = missed
        if len({label.member for label in found}) == 1 and match_label(text) is None:
            label, missed = min(found.items(), key=lambda item: (item[1], item[0].key))
            return label, len(tokens), 1 + missed
    return None


def _garbled_last_word(tokens: Sequence[_Token]) -> tuple[Label, int, int] | None:
    """A label alone on its row whose last word OCR read in the other script's
    shapes (``Current 'осаНоп`` for "Current location").

    The row's words but the last spell the first words of exactly one
    member's labels, all but its last word, in one script; the last word is
    of letters mostly of the other script, within :data:`GARBLED_WORD_LETTERS`
    letters of the word it stands for. Its value is then looked for below
    it, as for any label alone on its row. Counted as one edit more than a
    label read whole.
    """
    if len(tokens) < 2:
        return None
    head, last = " ".join(t.text for t in tokens[:-1]), tokens[-1].text
    head_script, last_script = correction.script_of(head), correction.script_of(last)
    if head_script is None or last_script is None or head_script == last_script:
        return None
    read = _key(head)
    letters = sum(c.isalpha() for c in last)
    found = {(member, key) for member, key, first, script, last_letters in _LABEL_HEADS
             if first == read and script == head_script
             and abs(last_letters - letters) <= GARBLED_WORD_LETTERS}
    if len({member for member, _ in found}) != 1:
        return None
    member, key = min(found)  # never a set's order, which differs between processes
    label = next(lb for lb in _ALL_LABELS if lb.member == member and lb.key == key)
    return label, len(tokens), 1


def _shared_head(tokens: Sequence[_Token], cell_gap: float) -> tuple[Label, int, int] | None:
    """A label cut short where it still reads as the start of more than one member's
    labels ("Дата" for "Дата народжен|", the rest under a photo's frame).

    The row's words, the first of them read surely, spell exactly the first
    words of such labels (:data:`_SHARED_HEADS`); whatever follows is debris
    (:func:`_debris_after`) or the rest of the label garbled
    (:func:`_label_rest`: ``Дата народжеРТА Г "Оате OT DIT:``,
    wide-3200048). The label is returned as a stand-in for those members
    (:data:`_EITHER`): which of them it is, the child's other labels tell
    (:func:`_told_apart`). Counted as two edits more than a label read whole:
    half of it unread, and its member told by elimination.
    """
    if tokens[0].confidence < DOUBTFUL_WORD:
        return None
    for end in range(len(tokens), 0, -1):
        if not (_debris_after(tokens, end, cell_gap) or _label_rest(tokens[end:])):
            break
        key = _key(" ".join(t.text for t in tokens[:end]))
        members = _SHARED_HEADS.get(key)
        if members is not None:
            languages = frozenset(lang for lb in _ALL_LABELS if lb.member in members
                                  and lb.key.startswith(key) for lang in lb.languages)
            return Label(_EITHER + "/".join(sorted(members)), languages, key), len(tokens), 2
    return None


def _told_apart(child: _Child) -> None:
    """Each stand-in label of a child (:func:`_shared_head`) as the one member it may be
    that none of the child's other labels is, or dropped if that is not exactly one.

    A form prints each member once a child: "Дата" with "Дата переміщення" also
    on the child's form is "Дата народження".
    """
    present = {f.member for f in child.fields if not f.member.startswith(_EITHER)}
    told = {id(f): left[0] for f in child.fields if f.member.startswith(_EITHER)
            and len(left := [m for m in f.member[1:].split("/") if m not in present]) == 1}
    twice = {m for m in told.values() if list(told.values()).count(m) > 1}
    kept = []
    for f in child.fields:
        if not f.member.startswith(_EITHER):
            kept.append(f)
            continue
        member = told.get(id(f))
        if member is None or member in twice:
            continue  # either, neither, or two such labels one: no value beats a guess
        label = min((lb for lb in _ALL_LABELS if lb.member == member
                     and lb.key.startswith(f.label.key)), key=lambda lb: lb.key)
        kept.append(replace(f, member=member, label=label))
    child.fields = kept


def _garbled_label_end(tokens: Sequence[_Token], slash: int, cell_gap: float) -> int:
    """Where the words after a bilingual label's "/" end: a colon, a cell gap, or a cap.

    A cell gap is a gap of at least ``cell_gap`` that is also clearly wider
    than the spaces of the label itself (a monospaced face spaces widely).
    """
    spaces = [tokens[k].bbox[0] - tokens[k - 1].bbox[2]
              for k in (slash, slash + 1) if 0 < k < len(tokens)]
    space = max(spaces, default=0.0)
    end = slash + 1
    while end < len(tokens) and end - slash <= MAX_LABEL_WORDS:
        gap = tokens[end].bbox[0] - tokens[end - 1].bbox[2]
        if end > slash + 1 and gap >= cell_gap and gap >= GARBLED_GAP_RATIO * space:
            break
        space = max(space, gap)
        end += 1
        if tokens[end - 1].text.endswith(":"):
            break
    return end


def _segments(row: _Row) -> list[_Segment]:
    tokens = row.tokens
    cell_gap = CELL_GAP_FACTOR * row.height
    segments: list[_Segment] = []
    current: _Segment | None = None
    i = 0
    while i < len(tokens):
        # A mark over the word's own box (a first reading's "|" left under a
        # label read again) stands in no cell: the gap is from the word before it.
        before = i - 1
        while before >= 0 and _is_ghost_mark(tokens[before], tokens[i]):
            before -= 1
        cell_start = before < 0 or tokens[i].bbox[0] - tokens[before].bbox[2] >= cell_gap
        found = _label_at(tokens, i, cell_gap) if cell_start else None
        if found is None and cell_start:
            found = _garbled_first_half(tokens, i, cell_gap)
        if found is None and i == 0:
            found = (_truncated_label(tokens, i, cell_gap) or _garbled_last_word(tokens)
                     or _shared_head(tokens, cell_gap))
        if found is None:
            if current is None:
                current = _Segment(None, [], 0)
                segments.append(current)
            current.value_tokens.append(tokens[i])
            i += 1
            continue
        label, end, distance = found
        label_tokens = list(tokens[i:end])
        while True:
            # A hint after the label: "Стать (ч / ж):".
            if end < len(tokens) and tokens[end].text.startswith("("):
                close = next(
                    (j for j in range(end, min(len(tokens), end + 8)) if ")" in tokens[j].text),
                    None,
                )
                if close is not None:
                    label_tokens.extend(tokens[end : close + 1])
                    end = close + 1
                    continue
            # A bilingual label: "Прізвище / Surname".
            if end + 1 < len(tokens) and tokens[end].text == "/":
                other = _label_at(tokens, end + 1, cell_gap)
                if other is not None:
                    label_tokens.extend(tokens[end : other[1]])
                    end, distance = other[1], min(distance, other[2])
                    continue
                # OCR garbled the other language's half ("/ 5игпате"). A value
                # never starts with "/", so up to a colon or the end of the
                # cell it is still label, not the child's name.
                end = _garbled_label_end(tokens, end, cell_gap)
                label_tokens = list(tokens[i:end])
            # A colon read apart from its label ("МЕСТОНАХОЖДЕНИЕ :") is the label's,
            # not a value of one mark.
            if end < len(tokens) and tokens[end].text == ":":
                label_tokens.append(tokens[end])
                end += 1
            break
        current = _Segment(label, label_tokens, distance)
        segments.append(current)
        i = end
    for segment in segments:
        # A dash after a label says "empty"; a mark with no letter or digit
        # in it ("~", "|", a speck) says nothing and is dropped.
        kept = [t for t in segment.value_tokens if not _is_speck(t)]
        if not any(c.isalnum() or c in _SIGNS for t in kept for c in t.text):
            kept = []  # a value's punctuation alone (";," after a label) is no value
        segment.marked_empty = not kept and any(
            t.text and not t.text.strip(_EMPTY_MARKS) and t.confidence >= DOUBTFUL_WORD
            for t in segment.value_tokens)
        segment.noisy = len(kept) < len(segment.value_tokens) and not segment.marked_empty
        segment.value_tokens = kept
    return segments


def _is_ghost_mark(mark: _Token, word: _Token) -> bool:
    """Whether ``mark`` has no letter or digit and its box reaches over ``word``'s start."""
    return (not any(c.isalnum() for c in mark.text) and mark.text not in ("/", ":")
            and mark.bbox[0] <= word.bbox[0] < mark.bbox[2])


def _is_speck(token: _Token, confidence: float = 0.0) -> bool:
    """A mark that is no value: no letter or digit, or one or two characters OCR all but
    rejects (a stamp's edge, a dot of dirt); ``confidence`` may raise the bar."""
    if not any(c.isalnum() or c in _SIGNS for c in token.text):
        # Punctuation a reader split off ("27 ," "No .") is the value's own.
        return not all(c in _VALUE_PUNCT for c in token.text)
    return len(token.text) <= SPECK_CHARS and token.confidence < max(SPECK_CONFIDENCE,
                                                                     confidence)


def _without_far_doubtful_tail(tokens: list[_Token], gap: float) -> list[_Token]:
    """The value without trailing words OCR doubts that stand a cell gap apart from it:
    a stamp's ring or a pen stroke beside the value, not the value."""
    out = list(tokens)
    while len(out) > 1 and out[-1].confidence < DOUBTFUL_WORD and (
            out[-1].bbox[0] - out[-2].bbox[2] >= gap or out[-1].bbox[1] >= out[-2].bbox[3]):
        out.pop()
    return out


def _first_cell(tokens: list[_Token], gap: float) -> list[_Token]:
    """The tokens up to the first gap of ``gap`` or more, or the first line's end."""
    for n in range(1, len(tokens)):
        if (tokens[n].bbox[0] - tokens[n - 1].bbox[2] >= gap
                or tokens[n].bbox[1] >= tokens[n - 1].bbox[3]):
            return tokens[:n]
    return tokens


def _is_heading(row: _Row) -> bool:
    text = translit.fold_text(" ".join(t.text for t in row.tokens)).lower().replace("ё", "е")
    return _HEADING.fullmatch(text) is not None


@dataclass(slots=True)
class _PageReader:
    """Turns one page's rows into fields and headings, in reading order."""

    rows: list[_Row]
    segments: list[list[_Segment]]
    width: float
    photos: tuple[BBox, ...] = ()  # where the page's pictures sit
    used: set[tuple[int, int]] = field(default_factory=set)  # (row, token) taken as values

    def events(self) -> list[_Field | _Heading]:
        out: list[_Field | _Heading] = []
        for r, row in enumerate(self.rows):
            if row.ink:
                continue
            if _is_heading(row):
                out.append(_Heading(row.page, row.bbox))
                continue
            segs = self.segments[r]
            for s, cell in enumerate(segs):
                segment: _Segment | None = cell
                unread_label = cell.label is None
                if unread_label:
                    segment = _unread_relative(cell) if s == 0 else None
                    taken = set(self.used)  # given back if no relative is under it
                if segment is None or segment.label is None:
                    continue  # no label, nor a relative's unread one
                right = self._right_edge(segs, s)
                value = list(segment.value_tokens)
                noisy = segment.noisy
                if segment.label.member != "sex" and len(value) == 1 and _is_speck(
                        value[0], confidence=DOUBTFUL_WORD):
                    value, noisy = [], True  # only sex is ever one doubtful letter
                last_row = r
                label_tokens = tuple(segment.label_tokens)
                distance = segment.distance
                if value and self._glued_label_half(segment, value, row.height):
                    # "Дата народження ГП ОТ ОТ РТТ"": the other language's half,
                    # garbled and read without its "/", with the value below.
                    below = self._below(r, segment, right)
                    if below is not None:
                        label_tokens += tuple(value)
                        distance += 1  # one half unread: a little less sure
                        last_row, value = below
                elif not value:
                    below = self._below(r, segment, right)
                    if below is not None:
                        # A dash after the label with a value under it in the label's
                        # column was a mark (a stamp's ring: "GUARDIAN: -" over
                        # "Miller Hannah", wide-3100053), not "empty": an empty
                        # field's value is nowhere, and a next label is under it.
                        last_row, value = below
                        noisy = noisy or segment.marked_empty
                elif (segment.label.member in _TYPED
                      and not _reads_as(segment.label.member, value)
                      and not label_tokens[-1].text.endswith(":")
                      and value[0].bbox[0] - label_tokens[-1].bbox[2]
                      >= CELL_GAP_FACTOR * row.height):
                    # "ДАТА ПЕРЕМЕЩЕНИЯ ... 300": a mark far along the label's row that
                    # is no date, with the date below the label as on the rest of the form.
                    below = self._below(r, segment, right)
                    if below is not None and _reads_as(segment.label.member, below[1]):
                        last_row, value = below
                        noisy = True
                elif (all(t.confidence < DOUBTFUL_WORD for t in value)
                      and not any(c.isdigit() for t in value for c in t.text)):
                    # "Прізвище 5 мена ————": words read as nothing after the label (its
                    # other half over a photo's frame, wide-2900004), and a value read
                    # surely under it in its column: the value is that one. A digit may
                    # be the value's own, read badly ("14 ОТ"): kept, as before.
                    unused = set(self.used)
                    below = self._below(r, segment, right)
                    if below is not None and all(t.confidence >= DOUBTFUL_WORD
                                                 for t in below[1]):
                        last_row, value = below
                        noisy = True
                    else:
                        self.used = unused  # left for the label under it, if any
                if value:
                    value += self._continuation(last_row, value[0].bbox[0], right)
                    trimmed = _without_far_doubtful_tail(value, CELL_GAP_FACTOR * row.height)
                    noisy = noisy or len(trimmed) < len(value) or self._ink_near(trimmed)
                    value = trimmed
                    if segment.label.member == "sex" and not _reads_as("sex", value):
                        # "F ; "9": the sex, then a cell along, a frame's edge read as
                        # marks. Never "ч / ж" (its "/" dropped as a speck): a sex word
                        # after it says the row offers a choice.
                        head = _first_cell(value, WIDE_LABEL_GAP * CELL_GAP_FACTOR * row.height)
                        if (len(head) < len(value) and _reads_as("sex", head)
                                and not any(_reads_as("sex", [t]) for t in value[len(head):])):
                            value, noisy = head, True
                if unread_label and not _reads_as_relative(value):
                    self.used = taken  # no relative under it: the label stays unread
                    continue
                label = segment.label
                out.append(
                    _Field(
                        label.member,
                        label,
                        distance,
                        label_tokens,
                        tuple(value),
                        row.page,
                        noisy or unread_label,
                        segment.marked_empty and not value,
                        unread_label,
                    )
                )
        return out

    def _glued_label_half(self, segment: _Segment, value: list[_Token], height: float) -> bool:
        """Whether the words after an open label are its other half, garbled, not a value.

        They follow the label at a word's space (a value stands a cell apart, or
        after a colon), hold no digit, are no more than a label's words, and
        OCR doubts at least one of them, or one runs into a photo's edge (``ОТЧЕСТВО
        ДІ``: the "/" and the frame read as letters, the rest of the label under
        it, wide-3100011). The caller also wants a value below.
        """
        last = segment.label_tokens[-1]
        if (last.text.endswith(":") or len(value) > MAX_LABEL_WORDS
                or value[0].bbox[0] - last.bbox[2] >= CELL_GAP_FACTOR * height):
            return False
        if segment.label is not None and any(
                _key(t.text) in _LABEL_WORDS.get(segment.label.member, ()) for t in value):
            # "Дата народження" 7—Date of DiTtn :": a word of the member's own label
            # in another language, read whole, says which half this is; the "/"
            # read as "7" and the colon are the label's then, not a value's.
            return True
        return (not any(c.isdigit() or c == ":" for t in value for c in t.text)
                and (min(t.confidence for t in value) < DOUBTFUL_WORD or any(
                    t.bbox[0] < photo[0] < t.bbox[2] and t.bbox[1] < photo[3]
                    and photo[1] < t.bbox[3] for t in value for photo in self.photos)))

    def _ink_near(self, value: list[_Token]) -> bool:
        """Whether a stroke or a ring lies on or just beyond the value: it may have
        taken letters with it."""
        box = _union(t.bbox for t in value)
        height = max(box[3] - box[1], 1.0)
        return any(
            row.ink and row.bbox[1] < box[3] and row.bbox[3] > box[1]
            and row.bbox[0] < box[2] + INK_REACH * height and row.bbox[2] > box[0]
            for row in self.rows)

    def _right_edge(self, segs: list[_Segment], index: int) -> float:
        for later in segs[index + 1 :]:
            if later.label is not None:
                return later.label_tokens[0].bbox[0]
        return self.width + ALIGN_TOLERANCE

    def _column(self, r: int, left: float, right: float) -> list[tuple[int, _Token]]:
        return [
            (t, token)
            for t, token in enumerate(self.rows[r].tokens)
            if left - ALIGN_TOLERANCE <= token.bbox[0] < right and (r, t) not in self.used
        ]

    def _labelled_in(self, r: int, left: float, right: float) -> bool:
        return any(
            seg.label is not None and left - ALIGN_TOLERANCE <= seg.label_tokens[0].bbox[0] < right
            for seg in self.segments[r]
        )

    def _below(self, r: int, segment: _Segment, right: float) -> tuple[int, list[_Token]] | None:
        label_box = _union(t.bbox for t in segment.label_tokens)
        height = max(label_box[3] - label_box[1], 1.0)
        left = label_box[0]
        for below in range(r + 1, len(self.rows)):
            row = self.rows[below]
            if row.ink:
                continue
            if row.bbox[1] - label_box[3] > BELOW_GAP_FACTOR * height:
                return None
            if _is_heading(row):
                return None
            column = self._column(below, left, right)
            if not column:
                continue
            if self._labelled_in(below, left, right):
                return None
            # A speck, or punctuation alone (a label's colon read a line apart,
            # right of the label's end): no value, and the value may be below it.
            tokens = [tok for _, tok in column if not _is_speck(tok)
                      and tok.text.strip(_VALUE_PUNCT)]
            if not tokens:
                continue
            if (segment.label is not None and segment.label.member != "sex" and len(tokens) == 1
                    and len(tokens[0].text) == 1 and tokens[0].text.isalpha()
                    and tokens[0].confidence < STRETCHED_SURE):
                continue  # one letter, unsure, is only ever sex: a stroke's end over the value
            if _overlap(_union(t.bbox for t in tokens), label_box) <= 0 and (
                tokens[0].bbox[0] > label_box[2] + ALIGN_TOLERANCE
            ):
                return None
            self.used.update((below, t) for t, _ in column)
            return below, tokens
        return None

    def _continuation(self, r: int, x0: float, right: float) -> list[_Token]:
        extra: list[_Token] = []
        previous = self.rows[r]
        for below in range(r + 1, len(self.rows)):
            row = self.rows[below]
            if row.ink:
                continue
            if row.bbox[1] - previous.bbox[3] > CONTINUATION_GAP_FACTOR * previous.height:
                break
            if _is_heading(row) or any(seg.label is not None for seg in self.segments[below]):
                break
            column = self._column(below, x0, right)
            if not column or abs(column[0][1].bbox[0] - x0) > ALIGN_TOLERANCE:
                break
            if _unread_label(column[0][1]):
                break
            if any(
                tok.bbox[0] < x0 - ALIGN_TOLERANCE and (below, t) not in self.used
                for t, tok in enumerate(row.tokens)
            ):
                break  # text left of the value column: an unread label, not a continuation
            self.used.update((below, t) for t, _ in column)
            extra.extend(tok for _, tok in column)
            previous = row
        return extra


def _unread_label(token: _Token) -> bool:
    """A word of letters closed by a colon ("СВАМОМОТНЕВ:" for "GRANDMOTHER:"): a label
    too garbled to match, never the next line of a value above it."""
    head = token.text[:-1]
    return (token.text.endswith(":") and sum(c.isalpha() for c in head) >= SHORT_LABEL_CLOSED
            and all(c.isalpha() or c in translit.APOSTROPHES for c in head))


_RELATION_LABELS = tuple(label for label in _ALL_LABELS if label.member.startswith("contact:"))


def _unread_relative(segment: _Segment) -> _Segment | None:
    """A row that starts with a label too garbled to match, as a relative's label, or None.

    ``СВАМОМОТНЕВ:`` for ``GRANDMOTHER:`` (wide-1000045) hid a relative: the
    line under it, name, place and phone, was no field and was lost without
    a word. A row's first word that is an unread label (:func:`_unread_label`)
    now stands for a relative's label, taken only when its value reads as a
    relative's, a name and a phone (the caller checks,
    :func:`_reads_as_relative`). The relation is the one whose label, in
    either script's look-alikes, is nearest it, missing at most
    :data:`UNREAD_RELATION_SHARE` of its letters and nearer by
    :data:`UNREAD_RELATION_MARGIN` edits than any other relation's; else
    ``other``. Either way a person looks (:data:`UNREAD_LABEL_MAX_CONFIDENCE`).
    """
    if not segment.value_tokens or not _unread_label(segment.value_tokens[0]):
        return None
    head = segment.value_tokens[0]
    best: dict[str, int] = {}
    for key in set(_keys(head.text)):
        for label in _RELATION_LABELS:
            limit = int(UNREAD_RELATION_SHARE * len(label.key))
            edits = _distance(key, label.key, limit)
            if edits <= limit:
                best[label.member] = min(best.get(label.member, edits), edits)
    ranked = sorted(best.items(), key=lambda item: item[1])
    member, edits = "contact:other", len(_key(head.text))
    if ranked and (len(ranked) == 1 or ranked[1][1] - ranked[0][1] >= UNREAD_RELATION_MARGIN):
        member, edits = ranked[0]
    return _Segment(Label(member, frozenset(), ""), [head], edits,
                    list(segment.value_tokens[1:]), segment.marked_empty, segment.noisy)


def _reads_as_relative(value: Sequence[_Token]) -> bool:
    """Whether a value reads as a relative's: a name and a phone (``name, place, phone``)."""
    contact = parse_contact("other", _text(value) or "")
    return contact["name"] is not None and contact["phone"] is not None


def _overlap(a: BBox, b: BBox) -> float:
    return min(a[2], b[2]) - max(a[0], b[0])


def _gap(a: BBox, b: BBox) -> float:
    dx = max(a[0] - b[2], b[0] - a[2], 0.0)
    dy = max(a[1] - b[3], b[1] - a[3], 0.0)
    return float((dx * dx + dy * dy) ** 0.5)


@dataclass(slots=True)
class _Child:
    """The fields gathered for one child while reading."""

    fields: list[_Field] = field(default_factory=list)
    headings: list[_Heading] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)

    @property
    def empty(self) -> bool:
        return not self.fields

    def first_page(self) -> int:
        pages = [f.page for f in self.fields] + [h.page for h in self.headings]
        return min(pages)

    def blocks(self) -> dict[int, BBox]:
        boxes: dict[int, list[BBox]] = {}
        for f in self.fields:
            for t in (*f.label_tokens, *f.value_tokens):
                boxes.setdefault(f.page, []).append(t.bbox)
        for h in self.headings:
            boxes.setdefault(h.page, []).append(h.bbox)
        return {page: _union(b) for page, b in boxes.items()}


def _group(events: Sequence[_Field | _Heading]) -> list[_Child]:
    children: list[_Child] = []
    current = _Child()
    previous: _Field | _Heading | None = None
    for event in events:
        if isinstance(event, _Heading):
            if not current.empty:
                children.append(current)
                current = _Child()
            current.headings.append(event)
        elif isinstance(previous, _Field) and previous.member == event.member:
            # One field printed twice, e.g. "Прізвище" with "Surname" under it.
            if event.value_tokens and not previous.value_tokens:
                current.fields[-1] = event
            elif event.value_tokens and event.member.startswith("contact:"):
                current.fields.append(event)  # two sisters, one after the other
        else:
            if event.member in _NEW_CHILD_MEMBERS and event.member in current.seen:
                children.append(current)
                current = _Child()
            current.seen.add(event.member)
            current.fields.append(event)
        previous = event
    if not current.empty:
        children.append(current)
    for child in children:
        _told_apart(child)
    return [child for child in children if not child.empty]


def _text(tokens: Sequence[_Token], *, fold: bool = True) -> str | None:
    joined = " ".join(t.text for t in tokens)
    text = (translit.fold_text(joined) if fold else " ".join(joined.split())).strip(_VALUE_TRIM)
    if not text or text.lower() in _NULL_VALUES:
        return None
    return text[:MAX_VALUE_CHARS]


def parse_date(text: str) -> tuple[dates.PartialDate | None, frozenset[correction.Fix]]:
    """A date member's value as read, and the repairs it took (``correction.fix_date_words``)."""
    parsed = dates.parse_date(text)
    if parsed is not None:
        return parsed, frozenset()
    words, fixes = correction.fix_date_words(text.split())
    return (dates.parse_date(" ".join(words)) if fixes else None), frozenset(fixes)


_TYPED = ("sex", "birth_date", "displacement_date")  # members whose values a reader can check


def _reads_as(member: str, tokens: Sequence[_Token]) -> bool:
    """Whether ``tokens`` read as a value of a :data:`_TYPED` member: a sex, a date."""
    text = _text(tokens)
    if text is None:
        return False
    if member == "sex":
        return parse_sex(text) is not None
    return parse_date(text)[0] is not None


def parse_sex(text: str) -> str | None:
    """``"male"``/``"female"`` from ч/ж, м/ж, M/F and the written-out words."""
    words = {w for w in re.split(r"[^\w]+", translit.fold_text(text).lower()) if w}
    male, female = bool(words & _MALE), bool(words & _FEMALE)
    if male == female or not words <= (_MALE | _FEMALE):
        return None  # neither, both (an unmarked "ч / ж"), or something else
    return "male" if male else "female"


def parse_contact(relation: str, text: str) -> dict[str, str | None]:
    """A relative from ``name, place, phone`` (see the module docstring)."""
    phone: str | None = None
    for match in _PHONE.finditer(text):
        candidate = _PLUS_LOST.sub("+", _PLUS_AS_FOUR.sub("+", match.group().strip()))
        digits = sum(c.isdigit() for c in candidate)
        if 9 <= digits <= 15 and candidate.count("(") == candidate.count(")"):
            phone = candidate
            text = text[: match.start()] + text[match.end() :]
            break
    text = _PHONE_WORDS.sub(" ", text)
    parts = [" ".join(p.split()).strip(_VALUE_TRIM) for p in re.split(r"[,;]", text)]
    parts = [p for p in parts if p and p.lower() not in _NULL_VALUES]
    if len(parts) == 1 and ". " in parts[0]:
        # The comma after the name read as a full stop ("Ткаченко Ірина. Маріуполь"):
        # parted there only when what follows is a known place.
        name, _, place = parts[0].rpartition(". ")
        if name and places.table().known(place):
            parts = [name, place]
    return {
        "relation": relation,
        "name": parts[0] if parts else None,
        "place": ", ".join(parts[1:]) or None,
        "phone": phone,
    }


def _language_votes(fields: Iterable[_Field]) -> tuple[int, int]:
    uk = ru = 0
    for f in fields:
        languages = f.label.languages - {"en"}
        if languages == {"uk"}:
            uk += 1
        elif languages == {"ru"}:
            ru += 1
    return uk, ru


def _majority(votes: tuple[int, int]) -> translit.Language | None:
    uk, ru = votes
    if uk == ru:
        return None
    return "uk" if uk > ru else "ru"


def _form_script(fields: Iterable[_Field]) -> correction.Script | None:
    """Latin for a form labelled only in English, Cyrillic for one with uk/ru labels."""
    languages = [f.label.languages for f in fields]
    if not languages:
        return None
    if all(langs == {"en"} for langs in languages):
        return "latin"
    if any(langs - {"en"} for langs in languages):
        return "cyrillic"
    return None


def _kind(member: str) -> confidence.Kind:
    if member.startswith("contact:"):
        return "contact"
    if member.startswith("services."):
        return "service"
    if member in ("birth_date", "displacement_date"):
        return "date"
    if member in ("birth_place", "displacement_place", "current_location"):
        return "place"
    kinds: dict[str, confidence.Kind] = {
        "family_name": "family_name", "given_name": "given_name", "patronymic": "patronymic",
        "other_names": "other_names", "sex": "sex", "guardian": "guardian",
    }  # fmt: skip
    return kinds[member]


def _evidence(f: _Field, method: str, fixes: frozenset[correction.Fix],
              page: confidence.PageCondition, *, unknown_name: bool = False) -> confidence.Evidence:
    """How a value was read (see ``extractors.confidence``)."""
    words = [(t.text, t.confidence) for t in f.value_tokens]
    return confidence.Evidence(
        kind=_kind(f.member),
        method="text" if method == "text" else "ocr",
        min_word=min((c for _, c in words), default=0.0),
        mean_word=confidence.mean_confidence(words),
        label=min((t.confidence for t in f.label_tokens), default=1.0),
        label_edits=f.distance,
        chars=len(" ".join(text for text, _ in words)),
        words=len(words),
        fixes=frozenset(fixes),
        noisy=f.noisy,
        unknown_name=unknown_name,
        beside_image=page.beside_image(_union(t.bbox for t in f.value_tokens)),
        read_again=any(t.reread for t in f.value_tokens),
        own_language=min((t.confidence for t in f.value_tokens if t.own_language), default=None),
        ceiling=_ceiling(f, fixes),
        page=page,
    )


def _ceiling(f: _Field, fixes: frozenset[correction.Fix]) -> float:
    """The most a value's confidence may be, whatever the model says: what it rests on.

    A value a second reading of unread ink found, no more than
    ``confidence.READ_AGAIN_MAX_CONFIDENCE`` (the development split holds too
    few to trust more); one with a word read again in the form's own language,
    no more than that word (the lower of its two readings); a month told from
    a word that was none (``correction.snap_month``) or a place snapped to the
    one known place a letter away (``correction.snap_place``), no more than its
    weakest word; a relative under a label no table matched, no more than
    :data:`UNREAD_LABEL_MAX_CONFIDENCE`.
    """
    caps = [1.0]
    if f.unread_label:
        caps.append(UNREAD_LABEL_MAX_CONFIDENCE)
    if any(t.reread for t in f.value_tokens):
        caps.append(confidence.READ_AGAIN_MAX_CONFIDENCE)
    caps += [t.confidence for t in f.value_tokens if t.own_language]
    if "month" in fixes or "place" in fixes:
        caps += [t.confidence for t in f.value_tokens]
    return min(caps)


def _provenance(f: _Field, method: str, evidence: confidence.Evidence) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "page": f.page,
        "bbox": list(_union(t.bbox for t in f.value_tokens)),
        "method": method,
        "confidence": confidence.model().score(evidence),
    }
    if evidence.fixes or any(t.own_language for t in f.value_tokens):
        # Repaired, or read a second time in the form's own language: either
        # way not what the page's first reading said.
        entry["corrected"] = True
    if any(t.reread for t in f.value_tokens):
        entry["read_again"] = True
    return entry


_NAME_KINDS: dict[str, correction.NameKind] = {
    "family_name": "family", "given_name": "given", "patronymic": "patronymic",
}  # fmt: skip
_PLACES = ("birth_place", "displacement_place", "current_location")
_TEXT_MEMBERS = (*_PLACES, "guardian")


@dataclass(slots=True)
class _Builder:
    part: str
    as_of: date
    methods: dict[int, str]
    document_language: translit.Language | None
    warnings: list[str]
    conditions: dict[int, confidence.PageCondition] = field(default_factory=dict)
    evidence: dict[str, dict[str, confidence.Evidence]] = field(default_factory=dict)
    _read: dict[str, confidence.Evidence] = field(default_factory=dict)  # the current record's

    def _entry(self, key: str, f: _Field, fixes: frozenset[correction.Fix] = frozenset(), *,
               unknown_name: bool = False) -> dict[str, Any]:
        """A provenance entry, its evidence kept for the record's final scoring."""
        method = self.methods[f.page]
        condition = self.conditions.get(f.page, confidence.PageCondition())
        self._read[key] = _evidence(f, method, fixes, condition, unknown_name=unknown_name)
        return _provenance(f, method, self._read[key])

    def record(self, child: _Child, record_id: str) -> dict[str, Any] | None:
        self._read = {}
        values: dict[str, Any] = dict.fromkeys(_SCALARS)
        services: dict[str, str | None] = dict.fromkeys(_SERVICES)
        contacts: list[dict[str, str | None]] = []
        other_names: list[str] = []
        provenance: dict[str, dict[str, Any]] = {}
        unread: set[str] = set()  # labelled members whose value could not be read
        unread_sex: int | None = None  # the index of its warning in self.warnings
        found: dict[str, _Field] = {}
        form_language = _majority(_language_votes(child.fields)) or self.document_language
        form_script = _form_script(child.fields)
        # The script people's names are written in here: the child's, as read.
        names_script = correction.expected_script(
            [_text(f.value_tokens) for f in child.fields if f.member in _NAMES and f.value_tokens],
            form_script)
        for f in child.fields:
            # Values the corrector repairs come unfolded: it folds each word
            # knowing the script the field should be in.
            fold = f.member in ("sex", "birth_date", "displacement_date", "other_names")
            text = _text(f.value_tokens, fold=fold) if f.value_tokens else None
            where = f"page {f.page}: {f.member}"
            if text is None:
                if (not f.value_tokens and not f.marked_empty and self.methods[f.page] == "ocr"
                        and not f.member.startswith("contact:")):
                    unread.add(f.member)  # a labelled blank on a scan: ink may be lost
                continue
            if f.member.startswith("contact:"):
                fixed = correction.correct_text(text, language=form_language)
                key = f"family_contacts.{len(contacts)}"
                contact = parse_contact(f.member.removeprefix("contact:"), fixed.value or text)
                # The relative's name is a person's name like the guardian's: its
                # given name's misread capital ("Шевчук Грина") is repaired alike.
                person = correction.correct_text(contact["name"], person=True, kind="person",
                                                 language=form_language,
                                                 names_script=names_script)
                contact["name"] = person.value or contact["name"]
                # And the place a place, its debris trimmed alike ("Харків, І", "Sumy, +").
                place = correction.correct_text(contact["place"], kind="place",
                                                language=form_language, form=form_script)
                contact["place"] = (place.value or "").strip(_VALUE_TRIM) or contact["place"]
                provenance[key] = self._entry(key, f, fixed.fixes | person.fixes | place.fixes)
                contacts.append(contact)
                self._read[key] = replace(self._read[key], incomplete=not all(
                    contacts[-1][part] for part in ("name", "place", "phone")))
                continue
            if f.member.startswith("services."):
                kind = f.member.removeprefix("services.")
                if services[kind] is None:
                    fixed = correction.correct_text(text, kind="service",
                                                    language=form_language)
                    services[kind] = fixed.value
                    provenance[f.member] = self._entry(f.member, f, fixed.fixes)
                continue
            if f.member == "other_names":
                other_names.extend(n for n in (p.strip() for p in re.split(r"[,;]", text)) if n)
                if f.member not in provenance:
                    provenance[f.member] = self._entry(f.member, f)
                continue
            if values[f.member] is not None:
                self.warnings.append(f"{where} given twice; the first is kept")
                continue
            value: str | None = text
            fixes: frozenset[correction.Fix] = frozenset()
            if f.member == "sex":
                value = parse_sex(text)
            elif f.member in ("birth_date", "displacement_date"):
                parsed, fixes = parse_date(text)
                value = parsed.iso() if parsed else None
            elif f.member in _TEXT_MEMBERS:
                fixed = correction.correct_text(
                    text, person=f.member == "guardian",
                    kind="person" if f.member == "guardian" else "place",
                    language=form_language, form=form_script,
                    names_script=names_script if f.member == "guardian" else None)
                value, fixes = fixed.value, fixed.fixes
            if value is None:
                if f.member == "sex":
                    unread_sex = len(self.warnings)
                self.warnings.append(f"{where} not read with certainty; left null")
                unread.add(f.member)
                continue
            values[f.member] = value
            found[f.member] = f
            provenance[f.member] = self._entry(f.member, f, fixes)
        self._correct_names(values, provenance, found, form_script)
        if values["sex"] is None:
            self._infer_sex(values, provenance)
            if values["sex"] is not None and unread_sex is not None:
                # Not null after all: the names told it (and the record says "inferred").
                self.warnings[unread_sex] = self.warnings[unread_sex].replace(
                    "; left null", "; told by the names instead (inferred)")
        if all(values[m] is None for m in _IDENTITY):
            self.warnings.append(
                f"page {child.first_page()}: a block without name or birth date is not a record"
            )
            return None
        uk, ru = _language_votes(child.fields)
        label_language = _majority((uk, ru)) or self.document_language
        joint = translit.language_of(" ".join(values[m] or "" for m in _NAMES))
        latin: dict[str, str | None] = {}
        for member in _NAMES:
            name = values[member]
            own = translit.language_of(name) if name else None
            latin[member] = translit.latin(name, own or joint or label_language) if name else None
        born = dates.PartialDate.from_iso(values["birth_date"]) if values["birth_date"] else None
        displaced = (
            dates.PartialDate.from_iso(values["displacement_date"])
            if values["displacement_date"]
            else None
        )
        self._doubt_strange_places(values, contacts, form_script)
        self._score(provenance, values, record_id)
        pages = sorted({f.page for f in child.fields} | {h.page for h in child.headings})
        methods = {self.methods[p] for p in pages}
        return {
            "record_id": record_id,
            **{m: values[m] for m in _NAMES},
            "latin": latin,
            "other_names": other_names,
            "sex": values["sex"],
            "birth_date": values["birth_date"],
            "displacement_date": values["displacement_date"],
            "birth_place": values["birth_place"],
            "displacement_place": values["displacement_place"],
            "current_location": values["current_location"],
            "guardian": values["guardian"],
            "family_contacts": contacts,
            "services": services,
            "photos": [],
            "age": dates.age(born, displaced, self.as_of).as_json(),
            "source": {
                "part": self.part,
                "pages": pages,
                "method": methods.pop() if len(methods) == 1 else "mixed",
            },
            "provenance": provenance,
            "confidence": 0.0,
            # A child's identity not read is for a person to look for.
            "review": sorted((unread | {m for m in _MUST_LOOK if values[m] is None})
                             - set(provenance)),
        }

    def _correct_names(self, values: dict[str, Any], provenance: dict[str, dict[str, Any]],
                       found: dict[str, _Field], form: correction.Script | None) -> None:
        """Each name repaired in the script of the child's other names (else the form's).

        A name that stays in the other script (no twin for one of its letters)
        is never surer than :data:`STRANGE_NAME_MAX_CONFIDENCE`.
        """
        raw = {m: values[m] for m in _NAMES}
        for member, kind in _NAME_KINDS.items():
            if raw[member] is None:
                continue
            others = [raw[m] for m in _NAMES if m != member]
            expected = correction.expected_script(others, form)
            f = found[member]
            fixed = correction.correct_name(
                raw[member], kind, expected,
                own_language=any(t.own_language for t in f.value_tokens))
            values[member] = fixed.value
            if fixed.value is None:
                provenance.pop(member, None)
                continue
            method = self.methods[f.page]
            # A given name or patronymic no table knows, read by OCR, is a
            # little less sure: a misread name is most often an unknown one.
            known = kind == "family" or method != "ocr" or correction.is_known_name(
                fixed.value, "given" if kind == "given" else "patronymic")
            if fixed.corrected or not known:
                provenance[member] = self._entry(member, f, fixed.fixes, unknown_name=not known)
            if (expected is not None and member in self._read
                    and correction.script_of(fixed.value) not in (None, expected)):
                # A name still in the other script than the child's other
                # names and the form, its letters having no twin to be
                # rewritten in (wide-3400042: "Chloe" read "СШое" beside
                # "Harris" on an English form, 0.98 unflagged): a misreading
                # a person must look at.
                self._cap(member, STRANGE_NAME_MAX_CONFIDENCE)

    def _infer_sex(self, values: dict[str, Any], provenance: dict[str, dict[str, Any]]) -> None:
        """Sex from the patronymic or given name, when the form did not give it."""
        sex = correction.infer_sex(values["given_name"], values["patronymic"])
        if sex is None:
            return
        source = "patronymic" if "patronymic" in provenance else "given_name"
        if source not in provenance:
            return
        values["sex"] = sex
        # Scored as the name it is told by, with the inference counted: never
        # surer than that name.
        self._read["sex"] = replace(self._read[source], inferred=True)
        provenance["sex"] = {**provenance[source], "inferred": True}
        provenance["sex"].pop("corrected", None)

    def _doubt_strange_places(self, values: dict[str, Any],
                              contacts: list[dict[str, str | None]],
                              form_script: correction.Script | None) -> None:
        """Caps a place no table knows, read in another script than the child's names.

        ``Yepuiris`` for ``Чернігів`` (wide-3100046, a Ukrainian and English
        form: Latin look-alikes with no Cyrillic twin for all of them) came
        out at 0.99, unflagged: its words were read surely, and nothing else
        doubted it. A child's places are written in the script of its names
        (of the form's labels when the names tell none); one in the other
        script is a misreading unless it is a place the table knows
        (``Berlin`` as printed). Such a value is never surer than
        :data:`STRANGE_PLACE_MAX_CONFIDENCE`: a person looks.
        """
        script = correction.script_of(" ".join(values[m] or "" for m in _NAMES)) or form_script
        if script is None:
            return
        read = [(m, values[m]) for m in _PLACES] + [
            (f"family_contacts.{n}", c["place"]) for n, c in enumerate(contacts)]
        table = places.table()
        for key, place in read:
            if (place and key in self._read and correction.script_of(place) not in (None, script)
                    and not table.known(place)):
                self._cap(key, STRANGE_PLACE_MAX_CONFIDENCE)

    def _cap(self, key: str, ceiling: float) -> None:
        """``key``'s value is never surer than ``ceiling``, whatever the model says."""
        self._read[key] = replace(self._read[key], ceiling=min(self._read[key].ceiling, ceiling))

    def _score(self, provenance: dict[str, dict[str, Any]], values: dict[str, Any],
               record_id: str) -> None:
        """Every member's confidence from the model, once the child's dates are known."""
        implausible = confidence.implausible_dates(values["birth_date"],
                                                   values["displacement_date"], self.as_of)
        model = confidence.model()
        scored: dict[str, confidence.Evidence] = {}
        for key, entry in provenance.items():
            evidence = self._read[key]
            if implausible.get(key):
                evidence = replace(evidence, implausible=True)
            if key == "guardian":
                evidence = replace(evidence, incomplete=len(values[key].split()) < 2)
            scored[key] = evidence
            entry["confidence"] = model.score(evidence)
        self.evidence[record_id] = scored


def _record_id(part: str, page: int, ordinal: int) -> str:
    material = f"dxg-record-v1\x00{part}\x00{page}\x00{ordinal}".encode()
    return hashlib.sha256(material).hexdigest()[:RECORD_ID_HEX]


def _attach_photos(pages: Sequence[PageText], found: list[tuple[_Child, dict[str, Any]]]) -> None:
    for page in pages:
        blocks = [(record, child.blocks().get(page.page)) for child, record in found]
        for image in page.images:
            best: tuple[float, dict[str, Any]] | None = None
            for record, block in blocks:
                if block is None or image.bbox[1] >= block[3]:
                    continue  # not on this page, or the photo is below the block
                gap = _gap(image.bbox, block)
                if gap <= PHOTO_MAX_GAP and (best is None or gap < best[0]):
                    best = (gap, record)
            if best is not None:
                _add_photo(best[1], image, best[0], page)


def _add_photo(record: dict[str, Any], image: ImageRegion, gap: float, page: PageText) -> None:
    if image.photo_sha256 in record["photos"]:
        return
    record["photos"].append(image.photo_sha256)
    if "photos" not in record["provenance"]:
        record["provenance"]["photos"] = {
            "page": page.page,
            "bbox": list(image.bbox),
            "method": page.method,
            "confidence": round(1 - gap / (2 * PHOTO_MAX_GAP), 4),
        }
    if page.page not in record["source"]["pages"]:
        record["source"]["pages"] = sorted([*record["source"]["pages"], page.page])


def _boxes_on_the_page_as_sent(pages: Sequence[PageText], records: list[dict[str, Any]]) -> None:
    """Move every provenance box from the frame the page was read in (turned
    upright, deskewed) to the page as it was sent, where a viewer draws it."""
    by_number = {p.page: p for p in pages}
    for record in records:
        for entry in record["provenance"].values():
            page = by_number.get(entry["page"])
            if page is not None and (page.rotation or page.skew):
                x0, y0, x1, y1 = entry["bbox"]
                entry["bbox"] = list(page.to_source((x0, y0, x1, y1)))


def parse(part_name: str, pages: Sequence[PageText], *, as_of: date) -> ParseResult:
    """Read every child's record from the positioned text of one part.

    Args:
        part_name: the manifest name of the part, recorded in ``source``.
        pages: the part's pages as a page reader gave them, in page order.
        as_of: the day ages are counted up to (the packet's ``created`` day).

    Returns:
        The records, each valid against ``schemas/biography.v1.json``, and
        warnings that name pages and members, never values.
    """
    warnings: list[str] = []
    events: list[_Field | _Heading] = []
    for page in sorted(pages, key=lambda p: p.page):
        rows = _rows(page)
        reader = _PageReader(rows, [[] if row.ink else _segments(row) for row in rows],
                             page.width, tuple(image.bbox for image in page.images))
        events.extend(reader.events())
    children = _group(events)
    all_fields = [f for child in children for f in child.fields]
    builder = _Builder(
        part=part_name,
        as_of=as_of,
        methods={p.page: p.method for p in pages},
        document_language=_majority(_language_votes(all_fields)),
        warnings=warnings,
        conditions={p.page: confidence.PageCondition.of(p) for p in pages},
    )
    found: list[tuple[_Child, dict[str, Any]]] = []
    ordinals: dict[int, int] = {}
    for child in children:
        first = child.first_page()
        ordinal = ordinals.get(first, 0)
        record = builder.record(child, _record_id(part_name, first, ordinal))
        if record is not None:
            ordinals[first] = ordinal + 1
            found.append((child, record))
    _attach_photos(pages, found)
    _boxes_on_the_page_as_sent(pages, [record for _, record in found])
    illegible: set[str] = set()
    for _, record in found:
        confidences = [p["confidence"] for p in record["provenance"].values()]
        record["confidence"] = min(confidences) if confidences else 0.0
        low = {k for k, p in record["provenance"].items()
               if (p["confidence"] < PHOTO_REVIEW_THRESHOLD if k == "photos"
                   else confidence.model().needs_review(p["confidence"]))}
        again = {k for k, p in record["provenance"].items() if p.get("read_again")}
        record["review"] = sorted(set(record["review"]) | low | again)
        if _all_for_review_if_illegible(record, low - {"photos"}, warnings):
            illegible.add(record["record_id"])
    return ParseResult([record for _, record in found], warnings,
                       {record["record_id"]: builder.evidence.get(record["record_id"], {})
                        for _, record in found}, frozenset(illegible))


def _all_for_review_if_illegible(
    record: dict[str, Any], doubtful: set[str], warnings: list[str]
) -> bool:
    """Every value of ``record`` for review if most it read are ``doubtful``; whether so.

    A record most of whose values read poorly was written in a hand (or
    scanned so badly) that the OCR cannot read: its few confident-looking
    values are no more trustworthy than the rest, and a wrong one would
    reach matching unchecked. On the development split this listed every
    value of every hand-filled record and none of a printed one.
    """
    read = {k for k in record["provenance"] if k != "photos"}
    if len(read) < ILLEGIBLE_MIN_VALUES or len(doubtful) <= ILLEGIBLE_SHARE * len(read):
        return False
    record["review"] = sorted(set(record["review"]) | read)
    pages = ", ".join(str(page) for page in record["source"]["pages"])
    warnings.append(
        f"page {pages}: most values of record {record['record_id']} could not be read with"
        " certainty (handwriting, or a poor scan): every value is listed for review;"
        " transcribe them from the page"
    )
    return True


def parse_pages(part_name: str, pages: Sequence[PageText], *, as_of: date) -> list[dict[str, Any]]:
    """The records of :func:`parse`, without its warnings."""
    return parse(part_name, pages, as_of=as_of).records
