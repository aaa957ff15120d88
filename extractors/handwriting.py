"""A line recogniser for values written in by hand, in NumPy.

Tesseract's models were trained on type. A value written in by hand
(``Запоріжжя`` in a cursive) it reads as ``Sawdpcacacs`` or drops: on
the generated hand-filled forms, over half the characters of a value line
come out wrong (``bench/handwriting_lines.py``). This module reads one
line of ink with a small network of its own: four convolutions, two
bidirectional LSTM layers and a CTC output over :data:`CHARSET`
(Ukrainian, Russian and Latin letters, digits, the marks a value holds),
in the form's script when it is known. A word can then be snapped to a
known word of the kind its field holds (:func:`snap`: given names,
patronymics, places, months, sex words) when the CTC likelihood of that
spelling over the word's frames says so, which on a hand it never saw
matters more than its greedy reading (about a third of the characters
still wrong).

The weights (``extractors/data/handwriting.npz``) were trained on lines
drawn in twelve handwriting and four printed typefaces under the SIL Open
Font License, none of them the generated forms' hand (see
``scripts/handwriting/`` and ``extractors/data/HANDWRITING-SOURCE.txt``).
Training needs JAX; reading needs only NumPy, so the gateway gains no
dependency.

Guarantees:

- the forward pass is exactly the training network's (a test compares it
  with stored logits of the same weights);
- :func:`read_line` never raises on ink it cannot read: a blank or
  oversized crop gives an empty reading of confidence 0;
- each character comes with the probability the network gave it and the
  pixel span of the frames it was read from, so a caller can place words;
- :func:`snap` answers a known word only when it beats every other
  candidate by :data:`SNAP_MARGIN` and is no more than :data:`SNAP_SLACK`
  less likely than what was read; it never snaps a number or a word under
  :data:`SNAP_MIN_LETTERS` letters.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from extractors import dates, names, places

CHARSET = ("АБВГҐДЕЄЖЗИІЇЙКЛМНОПРСТУФХЦЧШЩЬЮЯабвгґдеєжзиіїйклмнопрстуфхцчшщьюя"
           "ЁЪЫЭёъыэ"
           "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
           "0123456789"
           " .,-/+№'()\":;!?")  # class k + 1 is CHARSET[k]; class 0 is CTC's blank
HEIGHT = 32  # pixels a line is scaled to: the network's input height
MAX_WIDTH = 1536  # pixels at HEIGHT: a longer line is no value (and costs too much)
FRAME = 4  # pixels at HEIGHT per output frame (two 2x poolings across)
POOLS = ((2, 2), (2, 2), (2, 1), (2, 1))  # (down, across) after each convolution
INK_LEVEL = 0.35  # of full ink: darker is writing when the crop is trimmed to its ink
RULE_ACROSS = 0.6  # a row of the crop this much ink is a rule (a box's edge, an underline)
RULE_DOWN = 0.8  # a column this much ink is a rule (a table's cell wall)
WEIGHTS = Path(__file__).with_name("data") / "handwriting.npz"
_CLASS = {c: k + 1 for k, c in enumerate(CHARSET)}
Script = Literal["cyrillic", "latin"]
_OTHER_SCRIPT: dict[Script, list[int]] = {
    "cyrillic": [k for c, k in _CLASS.items() if c.isascii() and c.isalpha()],
    "latin": [k for c, k in _CLASS.items() if c.isalpha() and not c.isascii()],
}
Kind = Literal["given", "patronymic", "place", "sex", "month"]
SEX_WORDS = ("жіноча", "чоловіча", "женский", "мужской", "female", "male", "жін", "чол", "жен",
             "муж")  # a single letter (ж, ч, м, F, M) is too short to snap
SNAP_MIN_LETTERS = 3  # shorter words are near too many known words to snap
SNAP_CANDIDATES = 40  # nearest known words (in letters) whose likelihood is computed
SNAP_MAX_DISTANCE = 0.6  # of the word's length: known words further off are not candidates
SNAP_MARGIN = 6.0  # nats the likeliest known word must beat the next by (e^6: 400 times likelier)
SNAP_SLACK = 10.0  # nats the likeliest known word may fall short of the greedy reading by
_EDGE_MARKS = ".,;:-'\"()!?"

Floats = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class Glyph:
    """One character read, with its probability and span in the crop's pixels and frames."""

    char: str
    probability: float
    left: int
    right: int
    first_frame: int = 0
    end_frame: int = 0


@dataclass(frozen=True, slots=True, eq=False)
class LineReading:
    """What the recogniser read on one line of ink, and the frames it read it from."""

    glyphs: tuple[Glyph, ...]
    log_probs: Floats = field(default_factory=lambda: np.zeros((0, len(CHARSET) + 1),
                                                               np.float32))

    @property
    def text(self) -> str:
        return "".join(g.char for g in self.glyphs)

    @property
    def confidence(self) -> float:
        """The geometric mean of the characters' probabilities (0 for no character)."""
        if not self.glyphs:
            return 0.0
        logs = [np.log(max(g.probability, 1e-9)) for g in self.glyphs]
        return float(np.exp(np.mean(logs)))


@functools.cache
def weights() -> dict[str, Floats]:
    """The network's parameters, loaded once per process."""
    with np.load(WEIGHTS) as stored:
        return {name: stored[name].astype(np.float32) for name in stored.files}


def read_line(ink: Floats, script: Script | None = None, *, only: str | None = None
              ) -> LineReading:
    """Read one line of ink (``ink``: 2-D, 1.0 is full ink, 0.0 paper).

    The crop is trimmed to its ink (:data:`INK_LEVEL`) with a margin,
    scaled to :data:`HEIGHT`, and read greedily: each character's span is
    mapped back to ``ink``'s columns. Given the form's ``script``, letters
    of the other script are never read (digits and marks always may be);
    given ``only``, no character outside it is.
    """
    found = _trim(ink)
    if found is None:
        return LineReading(())
    trimmed, x0 = found
    scale = HEIGHT / trimmed.shape[0]
    width = max(FRAME, round(trimmed.shape[1] * scale))
    if width > MAX_WIDTH:
        return LineReading(())
    resized = Image.fromarray(np.clip(trimmed * 255, 0, 255).astype(np.uint8)).resize(
        (width, HEIGHT), Image.Resampling.BILINEAR)
    logits = forward(np.asarray(resized, dtype=np.float32) / 255.0)
    if script is not None:
        logits[:, _OTHER_SCRIPT[script]] = -np.inf
    if only is not None:
        logits[:, [k for c, k in _CLASS.items() if c not in only]] = -np.inf
    return _decode(logits, lambda frame: x0 + round(frame * FRAME / scale))


def forward(x: Floats, params: dict[str, Floats] | None = None) -> Floats:
    """Logits (frames x classes) for a line ``x`` of :data:`HEIGHT` rows, ink 1.0."""
    p = weights() if params is None else params
    h = x[..., None].astype(np.float32)
    for i, (down, across) in enumerate(POOLS):
        h = _pool(_conv(h, p[f"conv{i}.w"], p[f"conv{i}.b"]), down, across)
    rows, frames, channels = h.shape
    seq = h.transpose(1, 0, 2).reshape(frames, rows * channels)
    for layer in (0, 1):
        seq = np.concatenate([_lstm(p, f"lstm{layer}f", seq, reverse=False),
                              _lstm(p, f"lstm{layer}b", seq, reverse=True)], axis=-1)
    out: Floats = seq @ p["out.w"] + p["out.b"]
    return out


def likelihood(log_probs: Floats, text: str) -> float:
    """CTC log-likelihood of ``text`` over frames ``log_probs`` (every path that spells it).

    A character outside :data:`CHARSET` makes ``text`` impossible (``-inf``).
    """
    if any(c not in _CLASS for c in text):
        return -np.inf
    labels = [0]
    for c in text:
        labels += [_CLASS[c], 0]
    ext = np.array(labels)
    n = len(ext)
    if len(log_probs) == 0:
        return -np.inf
    # A state may be skipped from two back when it is a character unlike the one before.
    skip = np.zeros(n, bool)
    skip[2:] = (ext[2:] != 0) & (ext[2:] != ext[:-2])
    alpha = np.full(n, -np.inf)
    alpha[0] = log_probs[0, 0]
    if n > 1:
        alpha[1] = log_probs[0, ext[1]]
    for t in range(1, len(log_probs)):
        stay = alpha
        step = np.concatenate(([-np.inf], alpha[:-1]))
        jump = np.where(skip, np.concatenate(([-np.inf, -np.inf], alpha[:-2])), -np.inf)
        alpha = np.logaddexp(np.logaddexp(stay, step), jump) + log_probs[t, ext]
    return float(np.logaddexp(alpha[-1], alpha[-2]) if n > 1 else alpha[-1])


def best_known(log_probs: Floats, read: str, known: Sequence[str], *,
               margin: float) -> tuple[str, float] | None:
    """The one spelling of ``known`` the frames say far likelier than any other.

    Each candidate's CTC likelihood over ``log_probs`` (the frames a word
    was read from) is computed; the likeliest wins only when it beats the
    next by ``margin`` (natural log), and it is returned with how much less
    likely than ``read`` (the greedy reading) it is. None when no candidate
    or two are close.
    """
    scored = sorted(((likelihood(log_probs, k), k) for k in known), reverse=True)
    if not scored or scored[0][0] == -np.inf:
        return None
    if len(scored) > 1 and scored[0][0] - scored[1][0] < margin:
        return None
    return scored[0][1], likelihood(log_probs, read) - scored[0][0]


@dataclass(frozen=True, slots=True)
class WordSpan:
    """One word of a line reading: its glyphs, and the frames from the end of the word
    before to the start of the word after (where its ink may lie)."""

    glyphs: tuple[Glyph, ...]
    before: int
    after: int

    @property
    def text(self) -> str:
        return "".join(g.char for g in self.glyphs)


def words(reading: LineReading) -> list[WordSpan]:
    """``reading`` cut at the spaces it read."""
    runs: list[list[Glyph]] = [[]]
    for glyph in reading.glyphs:
        if glyph.char == " ":
            runs.append([])
        else:
            runs[-1].append(glyph)
    runs = [run for run in runs if run]
    spans: list[WordSpan] = []
    for n, run in enumerate(runs):
        before = runs[n - 1][-1].end_frame if n else 0
        after = runs[n + 1][0].first_frame if n + 1 < len(runs) else len(reading.log_probs)
        spans.append(WordSpan(tuple(run), before, after))
    return spans


@functools.cache
def vocabulary(kind: Kind) -> dict[str, str]:
    """The words a value of ``kind`` may be, folded (lower case) to as spelt.

    ``given``: given names of the shared name tables (Cyrillic and Latin)
    and the census's English given names; ``patronymic``: the shared
    tables' patronymics; ``place``: the known places (``extractors.places``);
    ``month``: month names; ``sex``: the words forms write for sex.
    """
    words: list[str]
    if kind == "given":
        words = [n.text for n in names.table().entries("given")]
        words += names.english_given_names()
    elif kind == "patronymic":
        words = [n.text for n in names.table().entries("patronymic")]
    elif kind == "place":
        words = list(places.table().spellings.values())
    elif kind == "month":
        words = list(dates.MONTHS)
    else:
        words = list(SEX_WORDS)
    return {w.casefold(): w for w in reversed(words) if " " not in w}


def snap(reading: LineReading, span: WordSpan, kind: Kind) -> str | None:
    """The known word of ``kind`` (:func:`vocabulary`) a word of ``reading`` spells, when
    the frames say so.

    Candidates are the
    :data:`SNAP_CANDIDATES` known words nearest the greedy reading in
    letters; one is taken when its CTC likelihood over the word's frames
    beats every other candidate's by :data:`SNAP_MARGIN` and falls short
    of the greedy reading's by no more than :data:`SNAP_SLACK`. A word of
    fewer than :data:`SNAP_MIN_LETTERS` letters or with a digit is left as read.
    """
    read = span.text
    if sum(c.isalpha() for c in read) < SNAP_MIN_LETTERS or any(c.isdigit() for c in read):
        return None
    known = vocabulary(kind)
    word = read.strip(_EDGE_MARKS)
    near = process.extract(word.casefold(), known.keys(), scorer=Levenshtein.normalized_distance,
                           limit=SNAP_CANDIDATES, score_cutoff=SNAP_MAX_DISTANCE)
    if not near:
        return None
    spelt = [_as_read(known[k], word) for k, _, _ in near]
    frames = reading.log_probs[span.before:span.after]
    found = best_known(frames, word, spelt, margin=SNAP_MARGIN)
    if found is None or found[1] > SNAP_SLACK:
        return None
    return read.replace(word, found[0]) if word else None


def _as_read(spelling: str, read: str) -> str:
    """``spelling`` in the case ``read`` was written in: all capitals, all lower, or as spelt."""
    if read.isupper() and len(read) > 1:
        return spelling.upper()
    return spelling.lower() if read.islower() else spelling


def _trim(ink: Floats) -> tuple[Floats, int] | None:
    """``ink`` without its rules, cut to its writing plus a margin of an eighth of its
    height, and the left column the cut starts at; None for a crop with no writing."""
    dark = ink > INK_LEVEL
    # Rules are paper to the recogniser: it never saw one, and one would set the height.
    # A rule's row and the rows either side of it, where the rule's ink runs on.
    for row in np.nonzero(dark.mean(axis=1) >= RULE_ACROSS)[0]:
        rule = dark[row].copy()
        dark[max(0, row - 1):row + 2, rule] = False
    for column in np.nonzero(dark.mean(axis=0) >= RULE_DOWN)[0]:
        rule = dark[:, column].copy()
        dark[rule, max(0, column - 1):column + 2] = False
    ink = np.where(dark | (ink <= INK_LEVEL), ink, 0).astype(np.float32)
    ys, xs = np.nonzero(dark)
    if len(ys) == 0:
        return None
    y0, y1, x0, x1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
    pad = max(2, (y1 - y0) // 8)
    x0 = max(0, x0 - pad)
    return np.clip(ink[max(0, y0 - pad):y1 + pad, x0:x1 + pad], 0, 1), x0


def _decode(logits: Floats, at: Callable[[int], int]) -> LineReading:
    """Greedy CTC: a class that differs from the frame before and is no blank is a
    character; ``at`` maps a frame to a column of the crop."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_probs = (shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))).astype(
        np.float32)
    probs = np.exp(log_probs)
    best = probs.argmax(axis=-1)
    glyphs: list[Glyph] = []
    previous = 0
    start = 0
    for frame, k in enumerate(best.tolist()):
        if k != previous:
            if previous:
                glyphs.append(_glyph(previous, probs[start:frame, previous], start, frame, at))
            start = frame
        previous = k
    if previous:
        glyphs.append(_glyph(previous, probs[start:, previous], start, len(best), at))
    return LineReading(tuple(glyphs), log_probs)


def _glyph(k: int, probs: Floats, start: int, end: int, at: Callable[[int], int]) -> Glyph:
    return Glyph(CHARSET[k - 1], float(probs.max()), at(start), at(end), start, end)


def _conv(h: Floats, w: Floats, b: Floats) -> Floats:
    """3x3 convolution, zero 'SAME' padding, then ReLU; ``h`` rows x columns x channels."""
    rows, cols, channels = h.shape
    padded = np.pad(h, ((1, 1), (1, 1), (0, 0)))
    windows = sliding_window_view(padded, (3, 3), axis=(0, 1))  # rows, cols, C, 3, 3
    patches = windows.transpose(0, 1, 3, 4, 2).reshape(rows * cols, 9 * channels)
    out = patches @ w.reshape(9 * channels, -1) + b
    result: Floats = np.maximum(out.reshape(rows, cols, -1), 0)
    return result


def _pool(h: Floats, down: int, across: int) -> Floats:
    rows, cols, channels = h.shape
    r, c = rows // down, cols // across
    pooled: Floats = h[:r * down, :c * across].reshape(r, down, c, across, channels).max(
        axis=(1, 3))
    return pooled


def _sigmoid(x: Floats) -> Floats:
    out: Floats = 0.5 * (np.tanh(0.5 * x) + 1)
    return out


def _lstm(p: dict[str, Floats], prefix: str, x: Floats, *, reverse: bool) -> Floats:
    """One direction of an LSTM layer (gates in, forget, cell, out) over frames ``x``."""
    gates = x @ p[prefix + ".wx"] + p[prefix + ".b"]
    wh = p[prefix + ".wh"]
    hid = wh.shape[0]
    h = np.zeros(hid, np.float32)
    c = np.zeros(hid, np.float32)
    out = np.empty((len(x), hid), np.float32)
    for t in (range(len(x) - 1, -1, -1) if reverse else range(len(x))):
        g = gates[t] + h @ wh
        c = _sigmoid(g[hid:2 * hid]) * c + _sigmoid(g[:hid]) * np.tanh(g[2 * hid:3 * hid])
        h = _sigmoid(g[3 * hid:]) * np.tanh(c)
        out[t] = h
    return out
