"""Per-field confidence: the probability that a value read from a form is right.

The biography parser describes how each value was read as :class:`Evidence`:
what kind of field it is, how sure Tesseract was of its words (the weakest
and the mean), of its label and how many edits the label needed, the
value's length, which repairs the corrector made (script, digits, ``№``,
debris, a snapped name), whether specks or strokes were dropped beside it,
whether a given name or patronymic is in the name tables, whether a date is
plausible against the as-of day and the child's other date, whether sex was
told by the names rather than printed, whether a person's value lacks a
part (a guardian of one word, a relative without a place), whether the
value ends at a picture (a photo's frame over letters), whether a second
reading found it (ink the page's reading left unread) or read a word of it
again in the form's own language, and the condition of the page (its mean
word confidence, its share of doubtful words, whether it was turned
upright). A :class:`Model` turns that into a confidence in 0..1.

The model is a logistic regression over :data:`FEATURES`, one set of weights
for every kind of field with an offset per kind group (:data:`KIND_GROUPS`),
fitted on the development split of the generated forms
(``python -m bench.extraction_calibration --fit``) and stored, with the
review threshold chosen on that split, in ``confidence_model.json`` beside
this module: data, reviewed like code, refitted whenever the OCR or the
parser changes what a reading looks like.

Guarantees:

- A value read from a PDF text layer, neither repaired nor inferred, has
  confidence 1.0: the file says it, nothing was guessed.
- Monotone where it should be: the model file is refused unless every
  weight has the sign :data:`SIGNS` requires, so a surer word, a surer page
  or a cleaner label never lowers a confidence, and a repair, an edit, a
  dropped speck, an unknown name, an implausible date, an inference or a
  second reading never raises one.
- Capped where the development split is thin, by one rule: a value is never
  surer than its evidence's ``ceiling``, which the parser sets to what the
  value rests on (:data:`READ_AGAIN_MAX_CONFIDENCE` for a value a second
  reading of unread ink found, the word read again in the form's own
  language for such a value, the weakest word of a month told from a word
  that was none). The model weighs the evidence; the cap is the parser's.
- Scores are pure functions of the evidence: no value reaches this module,
  only counts, flags and Tesseract's confidences.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from importlib import resources
from typing import Any, Literal

from extractors.dates import PartialDate
from extractors.layout import PageText
from gateway.pluginspec import BBox

MODEL_FILE = "confidence_model.json"
MODEL_FORMAT = 1  # the layout of the model file; a model of another format is refused
DOUBTFUL_WORD = 0.5  # a page word OCR is less sure of than this counts as noise on the page
MAX_CHARS = 40  # longer values add no evidence by length (a place, a school) beyond this
IMAGE_REACH = 2.0  # value heights between a value's end and a picture that count as touching
MAX_CHILD_YEARS = 30  # a child displaced at 17 a dozen years ago is 29: older is a misreading
# A value the page's reading left out and a second reading of its region found:
# the development split holds a few dozen, too few to trust a score above this.
READ_AGAIN_MAX_CONFIDENCE = 0.9

Kind = Literal[
    "family_name", "given_name", "patronymic", "other_names", "sex", "date", "place",
    "guardian", "contact", "service",
]  # fmt: skip
Group = Literal["name", "sex", "date", "place", "person", "service"]
# The kinds whose offsets are fitted together: a group's errors are alike.
KIND_GROUPS: dict[Kind, Group] = {
    "family_name": "name", "given_name": "name", "patronymic": "name", "other_names": "name",
    "sex": "sex", "date": "date", "place": "place", "guardian": "person", "contact": "person",
    "service": "service",
}  # fmt: skip
GROUPS: tuple[Group, ...] = ("name", "sex", "date", "place", "person", "service")
FIXES = ("script", "digit", "sign", "debris", "name")

# The features, in the order of the model's weights. +1: the weight may not be
# negative (more of it never lowers confidence); -1: may not be positive; 0: free.
SIGNS: dict[str, int] = {
    "min_word": +1,  # the weakest word of the value (Tesseract, 0..1)
    "mean_word": +1,  # the value's words, weighted by their length
    "label": +1,  # the weakest word of its label
    "label_edits": -1,  # edits the label needed to match
    "chars": 0,  # the value's length in characters, up to MAX_CHARS, / MAX_CHARS
    "words": 0,  # the value's word count
    "fix_script": -1, "fix_digit": -1, "fix_sign": -1, "fix_debris": -1, "fix_name": -1,
    "noisy": -1,  # specks or a stroke dropped beside the value
    "unknown_name": -1,  # a given name or patronymic no name table knows
    "inferred": -1,  # sex told by the names, not printed
    "implausible": -1,  # a date after the as-of day, a birth over 18 years ago, or
                        # a displacement before the birth
    "page_confidence": +1,  # the page's mean word confidence
    "page_noise": -1,  # the page's share of doubtful words
    "rotated": -1,  # the page was turned upright to be read
    "incomplete": -1,  # a person's value lacking a part: a guardian of one word, a
                       # relative without a name, a place or a phone
    "beside_image": -1,  # the value ends at a picture (a photo's frame may hide letters)
    "read_again": -1,  # found by a second reading of ink the page's reading left unread
    "own_language": -1,  # a word of it read again in the form's own language
}  # fmt: skip
FEATURES: tuple[str, ...] = tuple(SIGNS)


@dataclass(frozen=True, slots=True)
class PageCondition:
    """How readable a page was as a whole."""

    confidence: float = 1.0  # mean word confidence, by characters
    noise: float = 0.0  # share of words under DOUBTFUL_WORD
    rotated: bool = False
    images: tuple[BBox, ...] = ()  # where pictures (photos) sit on the page

    def beside_image(self, box: BBox) -> bool:
        """Whether a value's box ends at (or runs into) a picture on its row."""
        reach = IMAGE_REACH * max(box[3] - box[1], 1.0)
        return any(
            image[1] < box[3] and image[3] > box[1]
            and box[2] + reach >= image[0] and box[0] < image[2]
            for image in self.images)

    @classmethod
    def of(cls, page: PageText) -> PageCondition:
        """The condition of one page as a reader handed it over."""
        words = [w for line in page.lines for w in line.words]
        chars = sum(len(w.text) for w in words)
        images = tuple(image.bbox for image in page.images)
        if not words or chars == 0:
            return cls(rotated=page.rotation != 0, images=images)
        mean = sum(w.confidence * len(w.text) for w in words) / chars
        noise = sum(w.confidence < DOUBTFUL_WORD for w in words) / len(words)
        return cls(round(mean, 4), round(noise, 4), page.rotation != 0, images)


@dataclass(frozen=True, slots=True)
class Evidence:
    """How one value was read: everything the model may use, and no value."""

    kind: Kind
    method: Literal["text", "ocr"]
    min_word: float
    mean_word: float
    label: float = 1.0
    label_edits: int = 0
    chars: int = 0
    words: int = 0
    fixes: frozenset[str] = frozenset()
    noisy: bool = False
    unknown_name: bool = False
    inferred: bool = False
    implausible: bool = False
    incomplete: bool = False
    beside_image: bool = False
    read_again: bool = False
    # The weakest word read again in the form's own language (the lower of its
    # two readings); None when no word of the value was. A feature by whether it
    # is None; its value is the parser's to put into the ceiling.
    own_language: float | None = None
    # Never surer than this, whatever the model says: what the value rests on, as
    # the parser tells it (READ_AGAIN_MAX_CONFIDENCE for a value a second reading
    # found, the word read again in the form's own language, the weakest word of
    # a month told from a word that was none); 1.0 when nothing caps it.
    ceiling: float = 1.0
    page: PageCondition = field(default_factory=PageCondition)

    def vector(self) -> list[float]:
        """The features of :data:`FEATURES`, in order."""
        values: dict[str, float] = {
            "min_word": self.min_word,
            "mean_word": self.mean_word,
            "label": self.label,
            "label_edits": float(self.label_edits),
            "chars": min(self.chars, MAX_CHARS) / MAX_CHARS,
            "words": float(self.words),
            **{f"fix_{fix}": float(fix in self.fixes) for fix in FIXES},
            "noisy": float(self.noisy),
            "unknown_name": float(self.unknown_name),
            "inferred": float(self.inferred),
            "implausible": float(self.implausible),
            "page_confidence": self.page.confidence,
            "page_noise": self.page.noise,
            "rotated": float(self.rotated),
            "incomplete": float(self.incomplete),
            "beside_image": float(self.beside_image),
            "read_again": float(self.read_again),
            "own_language": float(self.own_language is not None),
        }
        return [values[name] for name in FEATURES]

    @property
    def rotated(self) -> bool:
        return self.page.rotated

    @property
    def certain(self) -> bool:
        """Read from a text layer as printed: nothing to doubt."""
        return self.method == "text" and not self.fixes and not self.inferred


class ModelError(ValueError):
    """The model file is malformed or breaks a guarantee of this module."""


@dataclass(frozen=True, slots=True)
class Model:
    """A fitted confidence model and the review threshold chosen with it."""

    version: str
    threshold: float
    weights: tuple[float, ...]  # one per feature of FEATURES
    offsets: Mapping[Group, float]  # the intercept of each kind group
    fitted: Mapping[str, Any] = field(default_factory=dict)  # how and on what (for people)

    def __post_init__(self) -> None:
        if len(self.weights) != len(FEATURES):
            raise ModelError(f"{len(self.weights)} weights for {len(FEATURES)} features")
        if set(self.offsets) != set(GROUPS):
            raise ModelError("the model needs one offset per kind group")
        if not 0.0 < self.threshold < 1.0:
            raise ModelError("the review threshold must lie strictly between 0 and 1")
        for name, weight in zip(FEATURES, self.weights, strict=True):
            if not math.isfinite(weight) or weight * SIGNS[name] < 0:
                raise ModelError(f"the weight of {name} breaks its monotone sign")

    def score(self, evidence: Evidence) -> float:
        """The probability the value is right, rounded to 4 places; 1.0 when certain.

        Never above the evidence's ``ceiling``: the one cap, set by the parser
        for every kind of value that must not be surer than what it rests on.
        """
        if evidence.certain:
            return 1.0
        z = self.offsets[KIND_GROUPS[evidence.kind]] + sum(
            w * x for w, x in zip(self.weights, evidence.vector(), strict=True))
        p = 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))
        return round(min(p, evidence.ceiling), 4)

    def needs_review(self, confidence: float) -> bool:
        """Whether a value of this confidence is for a person to check."""
        return confidence < self.threshold

    def as_json(self) -> dict[str, Any]:
        """The model file's content (see :func:`from_json`)."""
        return {
            "format": MODEL_FORMAT,
            "version": self.version,
            "threshold": self.threshold,
            "features": list(FEATURES),
            "weights": dict(zip(FEATURES, self.weights, strict=True)),
            "offsets": {g: self.offsets[g] for g in GROUPS},
            "fitted": dict(self.fitted),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Model:
        """A model from the content of its file.

        Raises:
            ModelError: another format, other features, a missing offset, a
                threshold outside (0, 1) or a weight of the wrong sign.
        """
        if data.get("format") != MODEL_FORMAT:
            raise ModelError(f"model format {data.get('format')!r}, expected {MODEL_FORMAT}")
        weights = data.get("weights")
        if not isinstance(weights, dict) or tuple(weights) != FEATURES:
            raise ModelError("the model's features are not this module's FEATURES, in order")
        try:
            return cls(
                version=str(data["version"]),
                threshold=float(data["threshold"]),
                weights=tuple(float(weights[name]) for name in FEATURES),
                offsets={g: float(v) for g, v in data["offsets"].items()},
                fitted=dict(data.get("fitted") or {}),
            )
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            if isinstance(exc, ModelError):
                raise
            raise ModelError(f"malformed model file ({type(exc).__name__})") from None


@cache
def shipped() -> Model:
    """The model shipped with the package (``confidence_model.json``).

    Raises:
        ModelError: the file is malformed or stale (a packaging defect: tests load it).
    """
    text = resources.files("extractors").joinpath(MODEL_FILE).read_text(encoding="utf-8")
    return Model.from_json(json.loads(text))


_chosen: list[Model] = []  # a model set in place of the shipped one (set_model)


def model() -> Model:
    """The model in use: the one :func:`set_model` set, else the shipped one.

    Raises:
        ModelError: the shipped file is malformed or stale.
    """
    return _chosen[0] if _chosen else shipped()


def set_model(replacement: Model | None) -> None:
    """Score with ``replacement`` from now on (``None``: the shipped model again).

    The calibration bench fits a new model with this, from readings scored by
    :func:`neutral` while the shipped file may not fit the features any more.
    """
    _chosen.clear()
    if replacement is not None:
        _chosen.append(replacement)


def neutral() -> Model:
    """A model that knows nothing: every uncertain value scores 0.5."""
    return Model(version="neutral", threshold=0.5, weights=(0.0,) * len(FEATURES),
                 offsets=dict.fromkeys(GROUPS, 0.0))


def implausible_dates(birth: str | None, displacement: str | None,
                      as_of: date) -> dict[str, bool]:
    """Which of a child's two dates (ISO, as in a record) cannot be right.

    A date after the as-of day, a birth more than :data:`MAX_CHILD_YEARS`
    before it, or a displacement before the birth (both dates are then in
    doubt: either may be the misread one).
    """
    born = PartialDate.from_iso(birth) if birth else None
    moved = PartialDate.from_iso(displacement) if displacement else None
    oldest = as_of.replace(year=as_of.year - MAX_CHILD_YEARS, day=min(as_of.day, 28))
    out = {
        "birth_date": born is not None and (born.earliest() > as_of or born.latest() < oldest),
        "displacement_date": moved is not None and moved.earliest() > as_of,
    }
    if born is not None and moved is not None and moved.latest() < born.earliest():
        out = dict.fromkeys(out, True)
    return out


def mean_confidence(confidences: Sequence[tuple[str, float]]) -> float:
    """Tesseract's word confidences of a value, weighted by each word's length."""
    chars = sum(len(text) for text, _ in confidences)
    if chars == 0:
        return min((c for _, c in confidences), default=0.0)
    return sum(len(text) * c for text, c in confidences) / chars
