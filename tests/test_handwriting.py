"""The handwriting recogniser (extractors/handwriting.py) and its use on hand-filled pages.

Every child here is fictitious.
"""

from __future__ import annotations

import io
import itertools
import math
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pymupdf
import pytest
from PIL import Image, ImageDraw, ImageFont

from extractors import documents, handwriting, tesseract
from gateway.pluginspec import PartInput
from gateway.protocol import schemas
from tests.dossiers import wide_dossier

DATA = Path(__file__).parent / "data"
DEJAVU = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
AS_OF = date(2026, 3, 1)
Floats = npt.NDArray[np.float32]


def _ink(text: str, *, size: int = 40, box: bool = False) -> Floats:
    """``text`` set in DejaVu Sans as ink (1.0 full), optionally in a ruled box."""
    font = ImageFont.truetype(DEJAVU, size)
    width = round(font.getlength(text)) + 40
    img = Image.new("L", (width, size * 2), 0)
    draw = ImageDraw.Draw(img)
    draw.text((20, size // 3), text, font=font, fill=255)
    if box:
        draw.rectangle((2, 2, width - 3, size * 2 - 3), outline=255, width=2)
    return np.asarray(img, dtype=np.float32) / 255.0


# -- the network ----------------------------------------------------------------------------


def test_the_numpy_forward_pass_is_the_training_networks() -> None:
    # Logits of one drawn line from the JAX network the weights were trained in
    # (scripts/handwriting/train.py check), with the shipped weights.
    with np.load(DATA / "handwriting_forward.npz") as stored:
        x, expected = stored["x"], stored["logits"]
    got = handwriting.forward(x)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=2e-4)


def test_the_ctc_likelihood_sums_every_path_that_spells_the_text() -> None:
    # Three classes carry all the probability (blank, "a", "b"): every path
    # of 5 frames is enumerated, collapsed, and the ones spelling the text summed.
    rng = np.random.default_rng(3)
    classes = [0, handwriting.CHARSET.index("a") + 1, handwriting.CHARSET.index("b") + 1]
    frames = 5
    log_probs = np.full((frames, len(handwriting.CHARSET) + 1), -np.inf, np.float32)
    mass = rng.dirichlet(np.ones(3), size=frames)
    log_probs[:, classes] = np.log(mass)
    for text in ("a", "ab", "aa", "aba", "bb"):
        total = 0.0
        for path in itertools.product(range(3), repeat=frames):
            spelt, previous = [], 0
            for k in path:
                if k != previous and k:
                    spelt.append("_ab"[k])
                previous = k
            if "".join(spelt) == text:
                total += math.prod(mass[t, k] for t, k in enumerate(path))
        assert handwriting.likelihood(log_probs, text) == pytest.approx(math.log(total), rel=1e-5)
    assert handwriting.likelihood(log_probs, "a€") == -np.inf  # no class for "€"


def test_a_crop_with_no_writing_reads_nothing() -> None:
    reading = handwriting.read_line(np.zeros((40, 200), np.float32))
    assert reading.text == ""
    assert reading.confidence == 0.0


def test_a_crop_longer_than_any_value_reads_nothing() -> None:
    # 4 pixels high and 2000 wide: scaled to 32 rows it is 16,000 columns.
    ink = np.zeros((4, 2000), np.float32)
    ink[1:3, :] = np.tile([1.0, 0.0], 1000)
    assert handwriting.read_line(ink).glyphs == ()


def test_rules_round_a_value_do_not_change_its_reading() -> None:
    # A box's edges are paper to the recogniser (a table cell, a boxed form).
    plain = handwriting.read_line(_ink("Київ 2015"))
    boxed = handwriting.read_line(_ink("Київ 2015", box=True))
    assert plain.text
    assert boxed.text == plain.text


def test_each_character_lies_where_it_was_read() -> None:
    ink = _ink("Марія Коваль")
    reading = handwriting.read_line(ink)
    lefts = [g.left for g in reading.glyphs]
    assert lefts == sorted(lefts)
    assert all(0 <= g.left <= g.right <= ink.shape[1] for g in reading.glyphs)
    assert all(0.0 < g.probability <= 1.0 for g in reading.glyphs)


# -- known words -----------------------------------------------------------------------------


def _reading(frames: list[dict[str, float]]) -> handwriting.LineReading:
    """A reading of frames that each give the named characters these probabilities
    (blank, " " and the rest share what is left)."""
    n = len(handwriting.CHARSET) + 1
    probs = np.zeros((len(frames), n), np.float32)
    for t, frame in enumerate(frames):
        rest = 1.0 - sum(frame.values())
        probs[t, :] = rest / n
        for char, p in frame.items():
            k = 0 if char == "" else handwriting.CHARSET.index(char) + 1
            probs[t, k] += p
    logits = np.log(probs).astype(np.float32)
    return handwriting._decode(logits, lambda frame: frame * handwriting.FRAME)


def _spelt(text: str, doubt: dict[int, dict[str, float]] | None = None) -> list[dict[str, float]]:
    frames: list[dict[str, float]] = []
    for i, char in enumerate(text):
        frames += [(doubt or {}).get(i, {char: 0.97}), {"": 0.97}]
    return frames


def test_a_word_the_frames_leave_in_doubt_is_snapped_to_the_one_known_spelling() -> None:
    # "Харків" with its "і" read as "и" by a little: the greedy reading is no
    # place, and the frames make the known one nearly as likely.
    reading = _reading(_spelt("Харків", {4: {"и": 0.55, "і": 0.44}}))
    [word] = handwriting.words(reading)
    assert word.text == "Харкив"
    assert handwriting.snap(reading, word, "place") == "Харків"


def test_a_word_read_surely_is_not_snapped_to_a_known_word_it_is_not() -> None:
    # "Харкав" read surely: "Харків" is a letter away in spelling, but the frames
    # make it far less likely than what was read.
    reading = _reading(_spelt("Харкав"))
    [word] = handwriting.words(reading)
    assert handwriting.snap(reading, word, "place") is None


def test_numbers_and_short_words_are_never_snapped() -> None:
    reading = _reading(_spelt("2015 ж"))
    assert [handwriting.snap(reading, w, "month") for w in handwriting.words(reading)] == [
        None, None]


# -- on the page -----------------------------------------------------------------------------


def _page_words(seed: int, lang: str) -> list[tesseract.TsvWord]:
    dossier = wide_dossier(seed, lang, "300 dpi")  # type: ignore[arg-type]
    doc = pymupdf.open(stream=dossier.data, filetype="pdf")
    img = Image.open(io.BytesIO(doc[0].get_pixmap(dpi=300).tobytes("png"))).convert("L")
    return tesseract.ocr_words(img, dpi=300, timeout=120)


@pytest.mark.parametrize(("seed", "lang", "hand"), [
    (1000013, "uk", True), (1000040, "en", True),  # filled in by hand (tests/dossiers.py)
    (1000001, "uk", False), (1000004, "en", False),
])
def test_a_page_is_taken_for_hand_filled_only_when_its_values_are(
        seed: int, lang: str, hand: bool) -> None:
    assert documents._hand_filled(_page_words(seed, lang)) is hand


def _extract(tmp_path: Path, seed: int, lang: str) -> tuple[dict[str, Any], dict[str, Any]]:
    dossier = wide_dossier(seed, lang, "300 dpi")  # type: ignore[arg-type]
    out = documents.DocumentsExtractor().extract(
        PartInput(dossier.filename, dossier.media_type, dossier.write(tmp_path), AS_OF))
    [record] = out.records
    schemas.validate_biography(record)
    return record, dossier.children[0].truth()


def test_a_printed_form_never_reaches_the_recogniser(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a typed page was read as handwriting")

    monkeypatch.setattr(handwriting, "read_line", refuse)
    record, truth = _extract(tmp_path, 1000001, "uk")
    assert record["family_name"] == truth["family_name"]


def test_a_hand_filled_forms_known_values_are_read_by_the_recogniser(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # wide-1000043, Russian, labels above values, values in SteveHand (a hand the
    # recogniser never saw). Tesseract alone reads the patronymic and the
    # displacement date wrong; the recogniser's frames spell "Петровна" and
    # the month, which its kinds' tables know.
    record, truth = _extract(tmp_path, 1000043, "ru")
    assert record["patronymic"] == truth["patronymic"]
    assert record["displacement_date"] == truth["displacement_date"]
    # Every value of a hand-filled record is for a person to check.
    assert {"patronymic", "displacement_date"} <= set(record["review"])
    assert record["provenance"]["patronymic"]["confidence"] <= 0.9
    monkeypatch.setattr(documents, "_hand_filled", lambda words: False)
    (tmp_path / "alone").mkdir()
    alone, _ = _extract(tmp_path / "alone", 1000043, "ru")
    assert alone["patronymic"] != truth["patronymic"]
    assert alone["displacement_date"] != truth["displacement_date"]
