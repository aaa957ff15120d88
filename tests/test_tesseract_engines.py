"""Tesseract in-process (the system's libtesseract) reads exactly as the ``tesseract`` program.

Each test reads the same generated dossier pages through both engines of
``extractors.tesseract`` and compares every word: text, box, confidence,
block, paragraph and line. The library is skipped only where it does not
load (then the program is the engine, and nothing changed).
"""

from __future__ import annotations

import faulthandler
import multiprocessing
import random
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from extractors import documents, tesseract
from gateway.pluginspec import ExtractionFailed, PartInput
from tests.dossiers import FONT, ScanStyle, make_dossier, pymupdf, scan_page


@pytest.fixture(scope="module")
def library() -> Iterator[tesseract.LibraryEngine]:
    engine = tesseract.LibraryEngine.load()
    if engine is None:
        pytest.skip("the system's libtesseract.so.5 does not load here")
    yield engine


BINARY = tesseract.BinaryEngine()


def _page(seed: int, lang: Any, style: ScanStyle) -> Image.Image:
    doc = pymupdf.open("pdf", make_dossier(seed, lang=lang).data)
    return scan_page(doc[0], style, random.Random(seed)).convert("L")


def _both(library: tesseract.LibraryEngine, img: Image.Image | np.ndarray[Any, Any], *,
          dpi: int, languages: str = tesseract.OCR_LANGUAGES, psm: int = 3,
          ) -> list[tesseract.TsvWord]:
    by_library = library.words(img, dpi=dpi, timeout=60, languages=languages, psm=psm)
    by_binary = BINARY.words(img, dpi=dpi, timeout=60, languages=languages, psm=psm)
    assert by_library == by_binary
    return by_library


@pytest.mark.parametrize(("lang", "style"), [
    ("uk", ScanStyle(dpi=300, noise=4, skew=0.5)),  # a 300-dpi scan
    ("ru", ScanStyle(dpi=200, noise=12, blur=1.2, jpeg_quality=35)),  # degraded
    ("en", ScanStyle(dpi=300, noise=6, skew=-1.5)),
])
def test_a_page_reads_the_same_through_the_library_and_the_program(
        library: tesseract.LibraryEngine, lang: str, style: ScanStyle) -> None:
    words = _both(library, _page(31, lang, style), dpi=style.dpi)
    assert len(words) > 40  # a form page was read, not a blank


def test_a_turned_page_gets_the_same_orientation_and_reading(
        library: tesseract.LibraryEngine) -> None:
    turned = _page(32, "uk", ScanStyle(dpi=300, noise=4, turn=90))
    half = documents._half(turned)
    osd = library.orientation(half, dpi=150, timeout=60)
    assert osd == BINARY.orientation(half, dpi=150, timeout=60)
    assert osd.rotate == 270 and osd.confidence > documents.OSD_MIN_CONFIDENCE
    upright = documents._turn(turned, osd.rotate)
    assert len(_both(library, upright, dpi=300)) > 40
    # Too few characters to decide is the same answer from both: upright, no confidence.
    blank = np.full((800, 600), 255, dtype=np.uint8)
    assert (library.orientation(blank, dpi=150, timeout=60)
            == BINARY.orientation(blank, dpi=150, timeout=60) == tesseract.Orientation(0, 0.0))


@pytest.mark.parametrize("psm", [6, 7])
def test_a_crop_read_again_alone_reads_the_same(library: tesseract.LibraryEngine,
                                                psm: int) -> None:
    page = _page(33, "uk", ScanStyle(dpi=300, noise=4))
    words = library.words(page, dpi=300, timeout=60, languages=tesseract.OCR_LANGUAGES, psm=3)
    longest = max(words, key=lambda w: w.width)
    crop = page.crop((longest.left - 10, longest.top - 6, longest.left + longest.width + 10,
                      longest.top + longest.height + 6))
    upscaled = crop.resize((crop.width * 2, crop.height * 2), Image.Resampling.LANCZOS)
    for languages in ("eng", tesseract.OCR_LANGUAGES):
        assert _both(library, upscaled, dpi=600, languages=languages, psm=psm)


def test_a_page_read_after_others_reads_as_in_a_fresh_process(
        library: tesseract.LibraryEngine) -> None:
    """The API is kept across pages: nothing it learns on one may change the next."""
    first = _page(34, "uk", ScanStyle(dpi=300, noise=5))
    before = library.words(first, dpi=300, timeout=60, languages=tesseract.OCR_LANGUAGES,
                           psm=3)
    for seed, lang in ((35, "ru"), (36, "en"), (37, "uk")):
        library.words(_page(seed, lang, ScanStyle(dpi=300, noise=5)), dpi=300, timeout=60,
                      languages=tesseract.OCR_LANGUAGES, psm=3)
    assert library.words(first, dpi=300, timeout=60, languages=tesseract.OCR_LANGUAGES,
                         psm=3) == before == BINARY.words(
        first, dpi=300, timeout=60, languages=tesseract.OCR_LANGUAGES, psm=3)


def test_a_tiny_library_deadline_is_a_classified_timeout(
        library: tesseract.LibraryEngine) -> None:
    page = _page(38, "uk", ScanStyle(dpi=300))
    with pytest.raises(tesseract.TesseractFailed, match="timed out") as err:
        library.words(page, dpi=300, timeout=0.001, languages=tesseract.OCR_LANGUAGES, psm=3)
    assert err.value.kind == "timeout"
    # And the API is still good for the next page.
    assert library.words(page, dpi=300, timeout=60, languages="eng", psm=3)


def test_library_missing_language_is_classified_as_the_program_does(
        library: tesseract.LibraryEngine) -> None:
    for engine in (library, BINARY):
        with pytest.raises(tesseract.TesseractFailed,
                           match="OCR language data missing: xxx is not installed") as err:
            engine.words(np.full((100, 100), 255, dtype=np.uint8), dpi=300, timeout=30,
                         languages="eng+xxx", psm=3)
        assert err.value.kind == "language"


def test_a_crash_inside_the_library_fails_the_part_with_a_classified_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The library runs in the page worker: a crash in it (here, a call on no API at all,
    a null pointer in libtesseract) kills that worker, and the part fails cleanly."""
    engine = tesseract.LibraryEngine.load()
    if engine is None:
        pytest.skip("the system's libtesseract.so.5 does not load here")

    def crash(*args: Any, **kwargs: Any) -> list[tesseract.TsvWord]:
        faulthandler.disable()  # the worker's traceback is not this test's output
        engine._api.recognize(None, None)  # SIGSEGV inside libtesseract
        raise AssertionError("the library did not crash")

    monkeypatch.setattr(tesseract, "ocr_words", crash)
    # Forked workers inherit the patched reader (the pool forks when it can).
    monkeypatch.setattr(documents, "_pool_context", lambda: multiprocessing.get_context("fork"))
    scan = make_dossier(39, lang="uk", children=2, scan=ScanStyle(dpi=200))
    part = PartInput(scan.filename, scan.media_type, scan.write(tmp_path), date(2026, 3, 1),
                     workers=2)
    with pytest.raises(ExtractionFailed,
                       match=r"^page \d+: the page reader process died") as err:
        documents.DocumentsExtractor().read(part)
    assert not isinstance(err.value, tesseract.TesseractFailed)


def _typed(text: str, size: int) -> Image.Image:
    font = ImageFont.truetype(FONT, size)
    left, top, right, bottom = (round(v) for v in font.getbbox(text))
    crop = Image.new("L", (right - left + 2 * size // 3, bottom - top + size // 2), 255)
    ImageDraw.Draw(crop).text((size // 3 - left, size // 4 - top), text, font=font, fill=0)
    return crop


def test_stacked_crops_are_read_in_one_call_each_in_its_own_pixels() -> None:
    crops = [_typed("Бондаренко", 48), Image.new("L", (300, 40), 255),
             _typed("12.03.2014", 40), _typed("Kharkiv", 56)]
    found = tesseract.read_stacked(crops, gap=24, dpi=300, timeout=60)
    assert [[w.text for w in words] for words in found] == [
        ["Бондаренко"], [], ["12.03.2014"], ["Kharkiv"]]
    for crop, words in zip(crops, found, strict=True):
        for w in words:  # each box within its own crop, not the canvas
            assert w.left >= 0 and w.left + w.width <= crop.width
            assert w.top >= 0 and w.top + w.height <= crop.height
    assert tesseract.read_stacked([], gap=24, dpi=300, timeout=60) == []


def test_crops_read_side_by_side_as_one_line_each_in_its_own_pixels() -> None:
    # tests/data/unread_label_imya.png: "Ім'я:" as a fresh sample's page (seed
    # 2,400,011, 300 dpi) left it unread, cut out by the unread-ink pass. Read
    # as a block of lines, alone, it is no line at all; read as a line, it is read.
    label = Image.open(Path(__file__).parent / "data" / "unread_label_imya.png").convert("L")
    assert tesseract.read_stacked([label], gap=24, dpi=300, timeout=60) == [[]]
    crops = [label, Image.new("L", (200, 40), 255), _typed("Kharkiv", 56)]
    found = tesseract.read_in_a_row(crops, gap=24, dpi=300, timeout=60)
    assert [[w.text for w in words] for words in found] == [["Ім'я:"], [], ["Kharkiv"]]
    for crop, words in zip(crops, found, strict=True):
        for w in words:
            assert w.left >= 0 and w.left + w.width <= crop.width
            assert w.top >= 0 and w.top + w.height <= crop.height
    assert tesseract.read_in_a_row([], gap=24, dpi=300, timeout=60) == []
