"""The built-in extractor ``documents``: PDFs and page images to positioned text and photos.

What it reads:

- PDF pages with a real text layer are read from it (PyMuPDF words with their
  boxes; confidence 1.0) and are never OCR'd; embedded pictures on those pages
  are photos, extracted as the bytes stored in the file.
- PDF pages without one, PNG, JPEG (EXIF orientation honoured) and multi-page
  TIFF are OCR'd: rendered at ``Limits.dpi`` (300; a page that is one scan
  filling the sheet at 200 dpi or more but under that, at the scan's own
  resolution, as image files are read: :func:`_scan_dpi`) and read by Tesseract
  (``ukr+rus+eng``, TSV output) after turning sideways or upside-down pages
  upright (Tesseract OSD) and straightening small skews (±3°, projection
  profile). Photos on scans are large, dense, non-white rectangles, cropped
  as JPEG.
- Four second readings, each one more Tesseract call on the page's own crops
  (:func:`extractors.tesseract.read_stacked`) and only when there is
  something to read again: dates written in digits, read alone with the
  English model (``extractors.numerals``); words read in the other script
  than the form's, read again in the form's own language
  (``extractors.own_language``); ink no sure word covers
  (:func:`_reread_unread_ink`); and on a colour page, lines read unsurely
  where blue pen crosses them, read with the pen dropped
  (:func:`_reread_under_strokes`).
- On a page whose values were written in by hand (:func:`_hand_filled`),
  values of a kind with a table (given names, patronymics, places, dates,
  sex) are read once more by the project's own line recogniser
  (``extractors.handwriting``, :func:`_read_hand`); no Tesseract call.
- A document may mix both kinds of page.

Pages are handed to the biography parser (``extractors.biography.parse``)
as :class:`~extractors.layout.PageText`: coordinates in PDF points, top-left
origin, in the upright frame of the page as read. A reader's line is split
where the gap between two words is wider than :data:`LINE_GAP_EMS` line heights,
so a table cell or a value set far right of its label is a line of its own,
whichever reader produced it.

Guarantees (the caps come from :class:`~gateway.pluginspec.Limits`):

- page count, page pixels (page size x dpi, checked before rendering) and image
  pixels (checked from the header, before decoding) are capped; a part over a
  cap fails before any OCR work;
- OCR pages run in parallel in a bounded process pool (``PartInput.workers``
  processes, one page in flight per process, one Tesseract thread each,
  Tesseract loaded once per process and kept: ``extractors.tesseract``), so
  memory is bounded by the workers, not by the page count; the pool forks
  from a single-threaded process (the sandbox), else starts from a fork server;
- every Tesseract call has a deadline within the page and document budgets;
  the document budget also bounds the wait for the pool, whose processes are
  killed when it runs out; a worker that dies (out of memory, a crash inside
  Tesseract) fails the part with a message naming the page;
- encrypted, broken, truncated and looping PDFs, and unreadable images, fail
  with :class:`~gateway.pluginspec.ExtractionFailed`; JavaScript in a PDF is
  never run (nothing here can run it) and is reported as a warning;
- messages never contain text read from the document.

Deadlines are ``time.monotonic()`` values shared with worker processes, which
is sound on Linux, where the monotonic clock is system-wide.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import functools
import hashlib
import importlib
import io
import math
import multiprocessing
import re
import threading
import time
import unicodedata
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt
import pymupdf as _pymupdf
from PIL import Image, ImageChops, ImageFilter, ImageOps

from extractors import handwriting, numerals, own_language, tesseract
from extractors.layout import ImageRegion, Line, PageText, Word, centre_on_source
from gateway.pluginspec import (
    ExtractionFailed,
    ExtractorOutput,
    Limits,
    PageReport,
    PartInput,
    Photo,
    report_progress,
)

# PyMuPDF's annotations are partial (many calls untyped): it is Any at this one
# boundary rather than a scatter of ignores.
pymupdf: Any = _pymupdf

NAME = "documents"
VERSION = "0.1.0"

PDF = "application/pdf"
IMAGE_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/tiff": "TIFF"}

MIN_TEXT_WORDS = 3  # fewer words than this and the text layer is stray marks, not a page
MAX_BAD_CHAR_RATIO = 0.10  # more U+FFFD/private-use glyphs than this: fonts without Unicode
LINE_GAP_EMS = 2.5  # a gap wider than this many line heights ends a line (columns, cells)
MIN_PHOTO_PT = 54.0  # 3/4 inch: smaller pictures are logos, stamps and icons
MAX_PHOTO_PAGE_SHARE = 0.5  # a picture over half the page is a scan under a text layer
MAX_IMAGES_PER_PAGE = 64  # more placements than this is a trap, not a dossier page
JS_SCAN_MAX_XREFS = 200_000  # objects inspected for JavaScript; the page cap bounds real PDFs
MIN_IMAGE_DPI, MAX_IMAGE_DPI = 70, 1200  # outside this, an image's dpi tag is noise
MIN_NATIVE_SCAN_DPI = 200  # coarser scans are still enlarged to the render dpi: only 200 was tried
SCAN_COVERS_PAGE = 0.9  # share of the page one picture must cover to be the page's scan
NATIVE_DPI_TOLERANCE = 0.02  # across and down resolutions of one scan agree within this share
SKEW_MAX_DEG = 3.0  # skew corrected up to this; more is a layout, not a scanning error
SKEW_STEP_DEG = 0.25
SKEW_MIN_DEG = 0.2  # below this, rotating costs more than it gains
SMOOTH_DESKEW_DPI = 300  # under this a nearest-neighbour step is ~1/5 of a stroke: interpolate
SIDEWAYS_RATIO = 1.0  # column profile jumpier than the row profile: the page is turned
LOW_CONFIDENCE = 0.6  # below this mean word confidence, ask OSD whether the page is upside down
UPRIGHT_CONFIDENCE = 0.85  # a reading this sure, of level words, is of an upright page
VERTICAL_ASPECT = 1.5  # a word box this much taller than wide is a word on its side
MIN_WORDS_FOR_LAYOUT = 5  # fewer words than this say nothing about the page's layout
OSD_MIN_CONFIDENCE = 1.5  # Tesseract's OSD confidence under which its answer is a guess
PHOTO_CELL_INK = 0.85  # share of non-white pixels that makes a grid cell "picture"
PHOTO_MIN_FILL = 0.6  # share of picture cells in a candidate's bounding box
WHITE = 235
TALL_WORD = 1.8  # a word this many typical word heights tall is suspect of being a stroke
TALL_TEXT_CONFIDENCE = 0.7  # a tall word read this surely, of letters and digits, is text
#                              (a label a photo frame cuts and stretches: НАРОДЖЕНІ, 0.72)
OFF_LINE = 0.6  # a word whose middle strays this many word heights from its line's leaves it
PAPER_LEVEL = 170  # a ~100-dpi cell brighter than this on average is paper, not a table
INK_SATURATION = 77  # 30 %: a blue stamp is ~50 %, gray type with 200-dpi scanner noise <20 %
INK_FADED = 140  # coloured, lighter: dropped (blue stamp ~200; type under it, dark pen ~135 stay)
INK_HALO_PX = 2  # the colourless edge JPEG leaves round a coloured mark (chroma at half size)
_COLOURED = [255 if v > INK_SATURATION else 0 for v in range(256)]
_FADED = [255 if v > INK_FADED else 0 for v in range(256)]
_NEAR = [255 if v >= 31 else 0 for v in range(256)]  # 3 coloured pixels of the 25 round one
STROKE_REREAD_BELOW = 0.8  # a line with a word read less surely than this, under pen, again
STROKE_VOTE_MARGIN = 0.15  # mean confidence the line's reading without the pen must gain
STROKE_DEBRIS_CHARS = 2  # a word of the first reading this short may be the stroke itself
STROKE_MARK_CONFIDENCE = 0.5  # a line's first reading all under this read nothing of it
STROKE_TYPE_INK = 0.05  # dark share of a word box that is type (~15-25 %), not pen's JPEG fringe
PEN_SATURATION = 40  # 16 %: blue pen thinned by JPEG; gray type and paper stay under ~5 %
PEN_UNDER_TYPE = 105  # darker than this is type, with or without pen over it: kept
PEN_HUES = (140, 200)  # PIL's 0-255 hue: blue (~170) to violet; red and black are not pen here
UNREAD_INK_LEVEL = 128  # darker than mid-gray is ink; type is near black, paper near white
UNREAD_CELLS_PER_WORD = 4  # grid cells per typical word height: a letter's stroke fills a cell
UNREAD_CELL_INK = 3  # dark pixels that make a cell ink: a JPEG speck is one or two
UNREAD_MIN_HEIGHT = 0.6  # of a typical word height: lower is a rule, a dot, a speck
UNREAD_MAX_HEIGHT = 2.0  # higher is a stroke, a ring or a picture, not a line of type
UNREAD_BAND_SHARE = 0.5  # of a taller region's fullest row: rows this full may be a line's
UNREAD_BAND_ROUNDS = 3  # times thin bands (rules) are set aside to look for a line under them
UNREAD_RULE_HEIGHTS = 2.5  # a vertical run of ink this many word heights long is a rule
UNREAD_MIN_WIDTH = 0.5  # of a word height: narrower is a mark (a one-letter value is wider)
UNREAD_MARGIN = 0.3  # word heights of paper kept round an unread region when it is cut out
UNREAD_MAX_REGIONS = 16  # more unread regions than this is a page of noise or pictures
UNREAD_MIN_CONFIDENCE = 0.6  # a word read again less surely than this is a guess: not taken
# The same for a crop read once more as a line: forced to be a line, a box's
# rule comes out as words ("5608601" at 0.61 off a skewed rule); a label read so is ~0.96.
UNREAD_LINE_MIN_CONFIDENCE = 0.8
# A crop whose words were all under UNREAD_MIN_CONFIDENCE is read again as a line only
# if one had this many letters or digits at this much: a value read unsurely among
# the other crops ("2014-04-14" at 0.52), not a corner or a rule's end ("ЕЙ" at 0.09).
UNREAD_RETRY_CHARS = 3
UNREAD_RETRY_CONFIDENCE = 0.3
UNREAD_MAX_CONFIDENCE = 0.9  # ink the page's reading missed sat in a hard place: never surer
UNREAD_SHORT_CHARS = 2  # a word read again this short must stand in a column of read words
UNREAD_ALIGN = 0.4  # word heights a short word's left edge may stray from its column's
UNREAD_ABUT = 0.25  # word heights: a short word read again this near a word's end is its end
UNREAD_LEAD_GAP = 1.0  # word heights from a short number read again to the word it leads
UNREAD_COVERED = 0.5  # a word of the page's reading this sure accounts for its ink
UNREAD_MARK_WIDTH = 2.0  # a mark (no letter, no digit) this many times wider than tall is a
#                          line of type read as one "|" and accounts for none of its ink
UNREAD_BLOCK = 1_000_000  # reader block numbers of words read again: lines of their own
PAPER_EDGE_CELLS = 3  # cells (~2 mm) next to the sheet's edge left out of the skew profile
# A crop read alone has no page round it to set Tesseract's scale: at 200 dpi a
# stroke's remains come out as a word and thin letters as others. Crops of
# coarser pages are upscaled to this before a second reading (the page's own
# reading is not: upscaled whole, 200-dpi pages read worse).
REREAD_MIN_DPI = 300
REREAD_ROW_GAP = 24  # pixels (at the page's dpi) of paper between two crops read in one image
HAND_UNSURE = 0.7  # a word read less surely than this may be writing, not type
HAND_PAGE_SHARE = 0.12  # of a page's words of 3+ letters unsure: values written in by hand
HAND_WORD_LETTERS = 3  # shorter words say little of how the page was written
HAND_MARGIN = 0.5  # line heights of paper kept left and right of a value's words
HAND_MARGIN_ABOVE_BELOW = 0.25  # less above and below: the next line's ink stays out
HAND_MIN_CONFIDENCE = 0.5  # a recogniser reading less sure than this keeps Tesseract's
HAND_KEEP_SURE = 0.9  # a value Tesseract read this surely, every word, keeps that reading
HAND_DATE_CHARACTERS = "0123456789.-/ "  # a date in digits, read again as nothing else
HAND_LABEL_ABOVE = 1.5  # value heights a label above its value may stand off, up or across
HAND_LABEL_OVERLAP = 0.3  # of a value's height a label above it may reach down into it
HAND_ROW_FIRST = 10_000  # pixels: a label on the value's row beats any label above it
# What a value written by hand may be snapped to, by the member its label names;
# a family name has no table, and a person's or a service's line holds several kinds.
HAND_KINDS: dict[str, handwriting.Kind] = {
    "given_name": "given", "patronymic": "patronymic", "sex": "sex", "birth_place": "place",
    "displacement_place": "place", "current_location": "place", "birth_date": "month",
    "displacement_date": "month",
}


class Parsed(Protocol):
    """What ``extractors.biography.parse`` returns, as far as extraction uses it."""

    records: list[dict[str, Any]]
    warnings: list[str]


class Parse(Protocol):
    """``extractors.biography.parse``."""

    def __call__(self, part_name: str, pages: Sequence[PageText], *, as_of: date) -> Parsed: ...


@dataclass(frozen=True, slots=True)
class PageResult:
    """One page as read."""

    text: PageText
    photos: tuple[Photo, ...]
    confidence: float
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ReadResult:
    """A whole part as read, before parsing."""

    pages: list[PageText]
    photos: list[Photo]
    reports: list[PageReport]
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _OcrJob:
    path: Path
    kind: Literal["pdf", "image"]
    index: int  # 0-based page or frame
    dpi: int  # render dpi (PDF) or the image's own dpi
    page_timeout: float
    deadline: float  # document deadline, time.monotonic()
    max_pixels: int


class DocumentsExtractor:
    """Reads PDFs and page images; hands pages to the biography parser."""

    name = NAME
    version = VERSION

    def accepts(self, media_type: str) -> bool:
        return media_type == PDF or media_type in IMAGE_FORMATS

    def extract(self, part: PartInput) -> ExtractorOutput:
        """Read the part, then parse biographies from its pages.

        Raises:
            ExtractionFailed: the part is encrypted, broken, hostile or over a limit.
        """
        read = self.read(part)
        warns = list(read.warnings)
        try:
            # Imported late so that reading pages can be tested on its own; a
            # parser that cannot load is a broken install, never "no children".
            biography = importlib.import_module("extractors.biography")
        except ImportError as exc:
            raise ExtractionFailed(
                f"the biography parser could not be loaded ({type(exc).__name__}): "
                "the pages were read but no record can be extracted; reinstall the dxg "
                "package on the gateway and extract the part again") from None
        parse: Parse = biography.parse
        parsed = parse(part.name, read.pages, as_of=part.as_of)
        # The parser's warnings (a block that is no record, a value left null,
        # a record to transcribe) name pages and members, never values.
        return ExtractorOutput(records=parsed.records, photos=read.photos, pages=read.reports,
                               warnings=[*warns, *parsed.warnings])

    def read(self, part: PartInput) -> ReadResult:
        """Read every page of the part as positioned text, with its photos.

        Raises:
            ExtractionFailed: the part is encrypted, broken, hostile or over a limit.
        """
        deadline = time.monotonic() + part.limits.document_timeout_s
        if part.media_type == PDF:
            return _read_pdf(part, deadline)
        if part.media_type in IMAGE_FORMATS:
            return _read_images(part, deadline)
        raise ExtractionFailed(f"unsupported media type {part.media_type!r}")


def factory() -> DocumentsExtractor:
    """Entry point ``dxg.extractors: documents``."""
    return DocumentsExtractor()


# -- PDFs -------------------------------------------------------------------------


def _open_pdf(path: Path, limits: Limits) -> tuple[Any, list[str]]:
    try:
        doc = pymupdf.open(path, filetype="pdf")
    except Exception as exc:  # MuPDF raises many types for bad input
        raise ExtractionFailed(f"not a readable PDF ({type(exc).__name__})") from None
    try:
        if doc.needs_pass:
            raise ExtractionFailed("the PDF is encrypted with a password; it cannot be read")
        count = doc.page_count
        if count > limits.max_pages:
            raise ExtractionFailed(f"the PDF has {count} pages, over the limit of "
                                   f"{limits.max_pages} pages")
        if count < 1:
            raise ExtractionFailed("not a readable PDF (no pages)")
        warns = []
        if doc.is_repaired:
            warns.append("the PDF was damaged and has been repaired; content may be missing")
        if _has_javascript(doc):
            warns.append("the PDF contains JavaScript; it was ignored and never run")
        return doc, warns
    except BaseException:
        doc.close()
        raise


def _has_javascript(doc: Any) -> bool:
    try:
        for xref in range(1, min(doc.xref_length(), JS_SCAN_MAX_XREFS)):
            obj = doc.xref_object(xref, compressed=True)
            if "/JavaScript" in obj or "/JS" in obj:
                return True
    except Exception:  # a broken object table: the open already warned or failed
        return False
    return False


def _read_pdf(part: PartInput, deadline: float) -> ReadResult:
    limits = part.limits
    doc, warns = _open_pdf(part.path, limits)
    results: dict[int, PageResult] = {}

    def plan() -> Iterator[_OcrJob]:
        """Read text pages here; yield the others for OCR as soon as they are seen,
        so the pool starts on page 1 while later pages are still being looked at."""
        for index in range(doc.page_count):
            _check_deadline(deadline, limits)
            try:
                page = doc.load_page(index)
                words = page.get_text("words")
            except Exception as exc:
                raise ExtractionFailed(
                    f"not a readable PDF: page {index + 1} cannot be loaded ({type(exc).__name__})"
                ) from None
            if _is_real_text(words):
                results[index] = _read_text_page(doc, page, words, index + 1, limits)
                continue
            # Cap before rendering: page size x dpi is the pixel count.
            width_px = page.rect.width * limits.dpi / 72
            height_px = page.rect.height * limits.dpi / 72
            if width_px * height_px > limits.max_pixels_per_page:
                raise ExtractionFailed(
                    f"page {index + 1} would render to {width_px * height_px / 1e6:.0f} million "
                    f"pixels at {limits.dpi} dpi, over the limit of "
                    f"{limits.max_pixels_per_page / 1e6:.0f} million pixels")
            yield _OcrJob(part.path, "pdf", index, _scan_dpi(page, limits.dpi),
                          limits.page_timeout_s, deadline, limits.max_pixels_per_page)

    try:
        for index, result in _run_ocr(plan(), doc.page_count, part.workers, deadline, limits):
            results[index] = result
    finally:
        doc.close()
        _drop_mupdf_cache()
    return _assemble(results, warns)


def _is_real_text(words: Sequence[tuple[Any, ...]]) -> bool:
    texts = [str(w[4]) for w in words]
    alnum = sum(1 for t in texts if any(ch.isalnum() for ch in t))
    if alnum < MIN_TEXT_WORDS:
        return False
    chars = "".join(texts)
    bad = sum(1 for ch in chars if ch == "\ufffd" or unicodedata.category(ch) in ("Co", "Cc"))
    return bad <= MAX_BAD_CHAR_RATIO * max(len(chars), 1)


def _read_text_page(doc: Any, page: Any,
                    words: Sequence[tuple[Any, ...]], number: int, limits: Limits) -> PageResult:
    rect = page.rect
    rotate = page.rotation_matrix if page.rotation else None
    items: list[tuple[tuple[int, int], Word]] = []
    for x0, y0, x1, y1, text, block, line, _ in words:
        box = pymupdf.Rect(x0, y0, x1, y1)
        if rotate is not None:
            box = box * rotate
        if not box.intersects(rect):
            continue  # text placed off the page is invisible to a reader: not page content
        items.append(((int(block), int(line)), Word(
            str(text), (float(box.x0), float(box.y0), float(box.x1), float(box.y1)), 1.0)))
    photos, regions, warns = _embedded_photos(doc, page, number, limits)
    text = PageText(page=number, width=float(rect.width), height=float(rect.height),
                    method="text", lines=_lines(items), images=tuple(regions))
    return PageResult(text, tuple(photos), 1.0, tuple(warns))


def _embedded_photos(doc: Any, page: Any, number: int,
                     limits: Limits) -> tuple[list[Photo], list[ImageRegion], list[str]]:
    photos: list[Photo] = []
    regions: list[ImageRegion] = []
    warns: list[str] = []
    page_area = abs(page.rect)
    images = page.get_images(full=True)
    if len(images) > MAX_IMAGES_PER_PAGE:
        warns.append(f"page {number}: {len(images)} pictures, over {MAX_IMAGES_PER_PAGE}; "
                     "pictures on this page skipped")
        return photos, regions, warns
    seen: set[int] = set()
    for info in images:
        xref, width, height = int(info[0]), int(info[2]), int(info[3])
        if xref in seen:
            continue
        seen.add(xref)
        rects = [r for r in page.get_image_rects(xref)
                 if min(r.width, r.height) >= MIN_PHOTO_PT
                 and abs(r) <= MAX_PHOTO_PAGE_SHARE * page_area]
        if not rects:
            continue
        if width * height > limits.max_pixels_per_page:
            warns.append(f"page {number}: a picture of {width * height / 1e6:.0f} million "
                         "pixels is over the limit; skipped")
            continue
        try:
            photo = _stored_image(doc, xref, number)
        except Exception as exc:
            warns.append(f"page {number}: a picture could not be extracted ({type(exc).__name__})")
            continue
        photos.append(photo)
        if page.rotation:  # placements are in the unrotated page; the words are upright
            rects = [r * page.rotation_matrix for r in rects]
        regions += [ImageRegion((float(r.x0), float(r.y0), float(r.x1), float(r.y1)),
                                photo.sha256) for r in rects]
    return photos, regions, warns


def _stored_image(doc: Any, xref: int, number: int) -> Photo:
    """The picture's bytes as stored when they are a self-contained file, else PNG."""
    info = doc.extract_image(xref)
    media = {"jpeg": "image/jpeg", "jpg": "image/jpeg", "png": "image/png",
             "jpx": "image/jp2"}.get(str(info.get("ext", "")))
    data: bytes = info.get("image", b"")
    width, height = int(info.get("width", 0)), int(info.get("height", 0))
    if media is None or not data:
        pix = pymupdf.Pixmap(doc, xref)
        if pix.n - pix.alpha > 3:
            pix = pymupdf.Pixmap(pymupdf.csRGB, pix)
        data, media, width, height = pix.tobytes("png"), "image/png", pix.width, pix.height
    return Photo(sha256=hashlib.sha256(data).hexdigest(), media_type=media, width=width,
                 height=height, page=number, data=data)


# -- images -----------------------------------------------------------------------


def _open_image(path: Path, media_type: str, max_pixels: int) -> Image.Image:
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img = Image.open(path, formats=[IMAGE_FORMATS[media_type]])
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ExtractionFailed(
                f"the image is over the limit of {max_pixels / 1e6:.0f} million pixels") from None
        except Exception as exc:
            raise ExtractionFailed(f"not a readable image ({type(exc).__name__})") from None
    return img


def _frames(img: Image.Image, max_pages: int, max_pixels: int) -> Iterator[tuple[int, int]]:
    """(index, dpi) of each frame, checking counts and sizes from headers only."""
    index = 0
    while True:
        if index >= max_pages:
            raise ExtractionFailed(f"the image has more than {max_pages} pages, over the limit")
        width, height = img.size
        if width * height > max_pixels:
            raise ExtractionFailed(
                f"image page {index + 1} has {width * height / 1e6:.0f} million pixels, over "
                f"the limit of {max_pixels / 1e6:.0f} million pixels")
        yield index, _image_dpi(img)
        index += 1
        try:
            img.seek(index)
        except EOFError:
            return
        except Exception as exc:
            raise ExtractionFailed(f"not a readable image ({type(exc).__name__})") from None


def _scan_dpi(page: Any, dpi: int) -> int:
    """The resolution to render a page without text at: its scan's own, if under ``dpi``.

    A page that is one picture covering the sheet (a scan wrapped in a PDF)
    holds no detail beyond its pixels. Rendered at ``dpi`` regardless, a
    200-dpi scan was enlarged by MuPDF's interpolation, and Tesseract read
    the enlarged noisy letters worse than the scan's own pixels (``Тигпег``
    for ``Turner``, ``Meinyk`` for ``Melnyk``, a surname lost), at 2.25 times
    the pixels. Image files are read at their own resolution already
    (:func:`_image_dpi`); so now is a scan in a PDF. Anything else (several
    pictures, a picture not filling the page, unequal resolutions across and
    down, a scan under :data:`MIN_NATIVE_SCAN_DPI`) is rendered at ``dpi``.
    """
    try:
        images = page.get_images(full=True)
        if len(images) != 1:
            return dpi
        xref, width, height = int(images[0][0]), int(images[0][2]), int(images[0][3])
        own = _own_dpi((width, height), (page.rect.width, page.rect.height))
        # Only now find where the picture lies (~50 ms a page: the content is
        # interpreted): a page read at the limit's dpi never pays for it.
        if own is None or not MIN_NATIVE_SCAN_DPI <= own < dpi:
            return dpi
        rects = page.get_image_rects(xref)
    except Exception:  # a malformed picture: the page renders (or fails) as before
        return dpi
    if len(rects) != 1 or rects[0].width <= 0 or rects[0].height <= 0:
        return dpi
    placed, sheet = rects[0], page.rect
    if placed.width * placed.height < SCAN_COVERS_PAGE * sheet.width * sheet.height:
        return dpi
    scan = _own_dpi((width, height), (placed.width, placed.height))  # 1:1 with its pixels
    return scan if scan is not None and MIN_NATIVE_SCAN_DPI <= scan < dpi else dpi


def _own_dpi(pixels: tuple[int, int], points: tuple[float, float]) -> int | None:
    """The resolution of a picture of ``pixels`` shown over ``points``, if equal both ways."""
    if min(points) <= 0:
        return None
    small, large = sorted(pixels), sorted(points)  # a /Rotate page swaps the two
    across, down = small[0] * 72 / large[0], small[1] * 72 / large[1]
    if abs(across - down) > NATIVE_DPI_TOLERANCE * max(across, down):
        return None
    return round((across + down) / 2)


def _image_dpi(img: Image.Image) -> int:
    dpi = img.info.get("dpi")
    try:
        value = round(float(dpi[0])) if dpi else 0
    except (TypeError, ValueError, IndexError):
        value = 0
    return value if MIN_IMAGE_DPI <= value <= MAX_IMAGE_DPI else 300


def _read_images(part: PartInput, deadline: float) -> ReadResult:
    limits = part.limits
    img = _open_image(part.path, part.media_type, limits.max_pixels_per_page)
    try:
        jobs = [_OcrJob(part.path, "image", index, dpi, limits.page_timeout_s, deadline,
                        limits.max_pixels_per_page)
                for index, dpi in _frames(img, limits.max_pages, limits.max_pixels_per_page)]
    finally:
        img.close()
    return _assemble(dict(_run_ocr(jobs, len(jobs), part.workers, deadline, limits)), [])


# -- running OCR pages ----------------------------------------------------------------


def _check_deadline(deadline: float, limits: Limits) -> None:
    if time.monotonic() > deadline:
        raise ExtractionFailed(
            f"the document took longer than its limit of {limits.document_timeout_s:g} s")


def _run_ocr(jobs: Iterable[_OcrJob], expected: int, workers: int, deadline: float,
             limits: Limits) -> list[tuple[int, PageResult]]:
    """Read OCR pages inline (one worker or one page) or in a bounded process pool.

    ``expected`` is how many pages there may be; the pool starts with the
    first job, so a document whose pages all have text never starts one.
    """
    if workers <= 1 or expected <= 1:
        out = []
        for job in jobs:
            _check_deadline(deadline, limits)
            out.append((job.index, read_scanned_page(job)))
            report_progress(len(out), expected)
        return out
    return _run_pool(jobs, min(workers, expected), deadline, limits, expected)


def _pool_context() -> multiprocessing.context.BaseContext:
    # fork is cheap and safe from a single-threaded process (the extraction
    # sandbox); with other threads about, a fork could copy a held lock.
    if threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("forkserver")


def _run_pool(jobs: Iterable[_OcrJob], workers: int, deadline: float,
              limits: Limits, expected: int) -> list[tuple[int, PageResult]]:
    pool: cf.ProcessPoolExecutor | None = None
    out: list[tuple[int, PageResult]] = []
    pending: dict[cf.Future[PageResult], int] = {}
    queue = iter(jobs)
    more = True
    ok = False
    try:
        while more or pending:
            # At most two pages per worker in flight: results stay few and small.
            while more and len(pending) < 2 * workers:
                job = next(queue, None)
                if job is None:
                    more = False
                    break
                if pool is None:
                    pool = cf.ProcessPoolExecutor(max_workers=workers,
                                                  mp_context=_pool_context())
                pending[pool.submit(read_scanned_page, job)] = job.index
            if not pending:
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                _check_deadline(deadline, limits)
            done, _ = cf.wait(pending, timeout=remaining, return_when=cf.FIRST_COMPLETED)
            if not done:
                _check_deadline(deadline, limits)
            for fut in done:
                index = pending.pop(fut)
                try:
                    out.append((index, fut.result()))
                    report_progress(len(out), expected)
                except cf.process.BrokenProcessPool:
                    raise ExtractionFailed(
                        f"page {index + 1}: the page reader process died (out of memory, "
                        "or OCR crashed)") from None
        ok = True
    finally:
        if pool is not None:
            if not ok:
                # A page still rendering or waiting on Tesseract must not outlive
                # the document: kill the workers rather than wait for them.
                for proc in list(getattr(pool, "_processes", {}).values()):
                    proc.kill()
            pool.shutdown(wait=True, cancel_futures=True)
    return out


def _assemble(results: dict[int, PageResult], warns: list[str]) -> ReadResult:
    pages: list[PageText] = []
    reports: list[PageReport] = []
    photos: dict[str, Photo] = {}
    for index in sorted(results):
        res = results[index]
        pages.append(res.text)
        reports.append(PageReport(page=index + 1, method=res.text.method,
                                  confidence=round(res.confidence, 4)))
        for photo in res.photos:
            photos.setdefault(photo.sha256, photo)
        warns.extend(res.warnings)
    return ReadResult(pages, list(photos.values()), reports, warns)


# -- one scanned page (runs in a worker process) -----------------------------------------


def read_scanned_page(job: _OcrJob) -> PageResult:
    """Render or load one page and OCR it. Failures name the page, never its content.

    Raises:
        ExtractionFailed: the page could not be rendered or read within its time.
    """
    number = job.index + 1
    try:
        start = time.monotonic()
        page_deadline = min(start + job.page_timeout, job.deadline)
        with _open_source(job) as source:
            if time.monotonic() > page_deadline:
                raise ExtractionFailed(f"rendering took longer than the {job.page_timeout:g} s "
                                       "page limit")
            return _ocr_page(source, job.dpi, number, page_deadline)
    except ExtractionFailed as exc:
        raise ExtractionFailed(f"page {number}: {exc}") from None
    except MemoryError:
        raise ExtractionFailed(f"page {number}: out of memory while reading") from None
    except Exception as exc:
        raise ExtractionFailed(
            f"page {number}: could not be read ({type(exc).__name__})") from None
    finally:
        _drop_mupdf_cache()


def _drop_mupdf_cache() -> None:
    # MuPDF keeps decoded images in a process-wide store (256 MiB by default)
    # that outlives the document; a worker reading page after page of scans
    # grew by ~11 MB a page until that cap. One page at a time needs none of it.
    pymupdf.TOOLS.store_shrink(100)


class _PageSource:
    """One page to OCR: grayscale for finding photos, black ink for reading, and colour.

    A grayscale scan is its own ink. On a colour page, :attr:`ink` is the page
    with coloured marks dropped (:func:`_black_ink`): stamps and pen strokes in
    blue or red sit over values, and Tesseract, reading them as ink, loses the
    letters under them while staying confident.
    """

    def __init__(self, gray: Image.Image, color: Any, ink: Image.Image | None = None) -> None:
        self.gray = gray  # the page as rendered or decoded, before any turning
        self.ink = gray if ink is None else ink  # the same page, coloured marks dropped
        self._color = color  # callable (x0, y0, x1, y1) in pixels of ``gray`` -> RGB image

    def color(self, box: tuple[int, int, int, int]) -> Image.Image:
        image: Image.Image = self._color(box)
        return image


@contextlib.contextmanager
def _open_source(job: _OcrJob) -> Iterator[_PageSource]:
    try:
        if job.kind == "pdf":
            with pymupdf.open(job.path, filetype="pdf") as doc:
                page = doc.load_page(job.index)
                if _only_gray_images(doc, page):  # a grayscale scan: no colour to drop or crop
                    pix = page.get_pixmap(dpi=job.dpi, colorspace=pymupdf.csGRAY, alpha=False)
                    gray = Image.frombytes("L", (pix.width, pix.height), pix.samples)
                    del pix
                    yield _PageSource(gray, gray.crop)
                else:
                    # Once in colour: gray and ink are derived from it and photos
                    # cropped from it, where rendering gray and then each photo
                    # again cost more.
                    pix = page.get_pixmap(dpi=job.dpi, colorspace=pymupdf.csRGB, alpha=False)
                    rgb = Image.frombytes("RGB", (pix.width, pix.height), pix.samples)
                    del pix
                    yield _PageSource(rgb.convert("L"), rgb.crop, _black_ink(rgb))
            return
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(job.path)
            img.seek(job.index)
            if img.width * img.height > job.max_pixels:
                raise ExtractionFailed("over the pixel limit")
            upright = ImageOps.exif_transpose(img)
            upright.load()
    except (ExtractionFailed, MemoryError):
        raise
    except Exception as exc:
        what = "not a readable PDF page" if job.kind == "pdf" else "not a readable image"
        raise ExtractionFailed(f"{what} ({type(exc).__name__})") from None
    if upright.mode in ("L", "1", "I", "I;16", "F"):
        yield _PageSource(upright.convert("L"), lambda box: upright.crop(box).convert("RGB"))
        return
    rgb = upright.convert("RGB")
    yield _PageSource(rgb.convert("L"), rgb.crop, _black_ink(rgb))


def _black_ink(rgb: Image.Image) -> Image.Image:
    """The page with coloured marks dropped: a coloured pixel lighter than type turns white.

    A pixel is coloured when its saturation is over :data:`INK_SATURATION`
    (gray type, paper and scanner noise stay under it). A coloured pixel whose
    value (its lightest channel) is over :data:`INK_FADED` is a stamp or a pen
    stroke on paper and becomes paper, and so does any pixel as light within
    :data:`INK_HALO_PX` of a few such: JPEG keeps colour at half resolution,
    so a mark's edges keep their darkness but lose their colour, and would
    stay as an outline. (A few, not one: the colour fringes JPEG leaves
    round black type are single pixels, and a halo round each would nick
    the letters.) A darker pixel is type under the mark, or dark pen that may be
    writing, and keeps its value, so the letters under a blue stamp stay.
    Everything else is its value, which for gray is its gray.
    """
    # One HSV conversion and lookup tables: reductions over the colour axis of
    # a 26 MB page cost several times more in numpy.
    _, saturation, value = rgb.convert("HSV").split()
    faded = value.point(_FADED)
    drop = ImageChops.multiply(saturation.point(_COLOURED), faded)  # 255 * 255 / 255: and
    near = drop.filter(ImageFilter.BoxBlur(INK_HALO_PX)).point(_NEAR)
    return ImageChops.lighter(value, ImageChops.multiply(near, faded))  # 255 is white


_ICC_REF = re.compile(r"/ICCBased\s+(\d+)\s+0\s+R")
_XREF = re.compile(r"^(\d+)\s+0\s+R$")


def _only_gray_images(doc: Any, page: Any) -> bool:
    """Whether every picture on the page has one colour component (a gray scan)."""
    images = page.get_images(full=True)
    if not images or len(images) > MAX_IMAGES_PER_PAGE:
        return False
    for info in images:
        kind, value = doc.xref_get_key(int(info[0]), "ColorSpace")
        ref = _XREF.match(value) if kind == "xref" else None
        if ref is not None:
            value = doc.xref_object(int(ref.group(1)), compressed=True)
        if "Gray" in value:
            continue
        icc = _ICC_REF.search(value)
        if icc is None or doc.xref_get_key(int(icc.group(1)), "N") != ("int", "1"):
            return False
    return True


def _ocr_page(source: _PageSource, dpi: int, number: int, deadline: float) -> PageResult:
    # Read from the ink (coloured marks dropped); the turns and the deskew
    # applied to it are replayed on the gray page, where photos are found.
    gray_img = source.ink
    steps: list[tuple[str, float]] = []
    rotation = 0
    sideways, skew = _layout_angle(gray_img)
    if sideways:
        # Text runs up or down the page: only OSD can tell which way. If OSD
        # sees upright or upside-down text after all, it outranks the profile.
        osd = tesseract.detect_orientation(_half(gray_img), dpi=dpi // 2,
                                           timeout=deadline - time.monotonic())
        if osd.confidence >= OSD_MIN_CONFIDENCE and osd.rotate == 0:
            sideways = False  # OSD sure the lines run across: the profile was wrong
        if osd.confidence >= OSD_MIN_CONFIDENCE and osd.rotate:
            rotation = osd.rotate
            gray_img = _turn(gray_img, rotation)
            steps.append(("turn", rotation))
            _, skew = _layout_angle(gray_img)
    if abs(skew) < SKEW_MIN_DEG:
        skew = 0.0
    if skew:
        gray_img = _deskew(gray_img, skew, 255, smooth=dpi < SMOOTH_DESKEW_DPI)
        steps.append(("deskew", skew))
    words = tesseract.ocr_words(gray_img, dpi=dpi, timeout=deadline - time.monotonic())
    confidence = _mean_confidence(words)
    if rotation == 0 and (_mostly_vertical(words)
                          or (sideways and not _reads_across(words, confidence))):
        # OSD could not say which way a sideways page lies (noisy, low dpi), and
        # Tesseract reads vertical lines with deceptive confidence. Read it both
        # ways up and keep the reading with horizontal words and more confidence.
        # A page the profile took for sideways but read as sure words running
        # across was upright after all (see :func:`_reads_across`).
        as_read = gray_img
        for turn in (90, 270):
            turned = _turn(as_read, turn)
            again = tesseract.ocr_words(turned, dpi=dpi, timeout=deadline - time.monotonic())
            better = _mean_confidence(again) > confidence or _mostly_vertical(words)
            if better and not _mostly_vertical(again):
                gray_img, words, confidence = turned, again, _mean_confidence(again)
                rotation = turn
        if rotation:
            steps.append(("turn", rotation))
    if confidence < LOW_CONFIDENCE and not sideways:
        # Upside-down text reads as garbage of low confidence; asking OSD only
        # then keeps upright pages at one Tesseract call.
        osd = tesseract.detect_orientation(_half(gray_img), dpi=dpi // 2,
                                           timeout=deadline - time.monotonic())
        if osd.rotate and osd.confidence >= OSD_MIN_CONFIDENCE:
            turned = _turn(gray_img, osd.rotate)
            again = tesseract.ocr_words(turned, dpi=dpi,
                                        timeout=deadline - time.monotonic())
            if _mean_confidence(again) > confidence:
                gray_img, words, confidence = turned, again, _mean_confidence(again)
                rotation = osd.rotate
                steps.append(("turn", rotation))
    # Dates in digits again, on their own: the page's reading misreads digits.
    words = numerals.reread(gray_img, words, dpi=dpi, timeout=deadline - time.monotonic())
    # Words in the wrong script for the form, read again with its language alone.
    words = own_language.reread(gray_img, words, dpi=dpi, timeout=deadline - time.monotonic(),
                                label_words=_english_label_words())
    if source.ink is not source.gray:
        words = _reread_under_strokes(source, gray_img.size, rotation, skew, words, dpi=dpi,
                                      deadline=deadline, typed=not _hand_filled(words))
    photo_img = source.gray
    if photo_img is source.ink:
        photo_img = gray_img
    else:
        for step, amount in steps:
            photo_img = (_turn(photo_img, int(amount)) if step == "turn"
                         else _deskew(photo_img, amount, 255))
    photos, regions = _scan_photos(source, photo_img, rotation=rotation, skew=skew, dpi=dpi,
                                    number=number)
    # Values the page's reading left out (beside a photo frame, a rule), read again.
    scale = 72.0 / dpi
    pictures = [(round(b[0] / scale), round(b[1] / scale), round(b[2] / scale),
                 round(b[3] / scale)) for b in (region.bbox for region in regions)]
    # A hand's strokes make tall regions of their own: only a typed page's are cut to lines.
    words, read_again = _reread_unread_ink(gray_img, words, pictures, dpi=dpi, deadline=deadline,
                                           cut_tall=not _hand_filled(words))
    if _hand_filled(words):
        words, read_again = _read_hand(gray_img, words, read_again)
    items = [((w.block, w.paragraph * 10_000 + w.line), Word(
        w.text, (w.left * scale, w.top * scale, (w.left + w.width) * scale,
                 (w.top + w.height) * scale), round(w.confidence, 4), reread=i in read_again,
        own_language=w.own_language))
        for i, w in enumerate(words)]
    text = PageText(page=number, width=gray_img.width * scale, height=gray_img.height * scale,
                    method="ocr", lines=_lines(_ink_not_text(items)), images=tuple(regions),
                    rotation=rotation, skew=skew)
    return PageResult(text, tuple(photos), confidence)


@functools.cache
def _english_label_words() -> frozenset[str]:
    """Every word of an English label, folded: Latin by right on any form."""
    labels: dict[str, dict[str, tuple[str, ...]]] = importlib.import_module(
        "extractors.biography").LABELS
    return frozenset("".join(c for c in word if c.isalpha()).casefold()
                     for by_language in labels.values()
                     for text in by_language.get("en", ()) for word in text.split())


def _pen_dropped(crop: Image.Image) -> Image.Image:
    """A colour crop as gray with blue pen dropped, darkness aside: the stroke lighter
    than type that :func:`_black_ink` keeps, since it may be writing, becomes paper.
    Type under the stroke is darker still and stays."""
    hue, saturation, value = (np.asarray(band, dtype=np.int16)
                              for band in crop.convert("HSV").split())
    pen = ((saturation > PEN_SATURATION) & (value > PEN_UNDER_TYPE)
           & (hue >= PEN_HUES[0]) & (hue <= PEN_HUES[1]))
    return Image.fromarray(np.where(pen, 255, value).astype(np.uint8))


def _reread_under_strokes(source: _PageSource, upright: tuple[int, int], rotation: int,
                          skew: float, words: Sequence[tesseract.TsvWord], *, dpi: int,
                          deadline: float, typed: bool = False) -> list[tesseract.TsvWord]:
    """Lines read unsurely where blue pen crosses them, read again with the pen dropped.

    A signature stroke through a value is as dark as writing, so the page is
    read with it. Each line with a word under :data:`STROKE_REREAD_BELOW`
    whose crop holds blue pen is cut from the colour page (turned and deskewed
    like the page), the pen made paper (:func:`_pen_dropped`), and all such
    lines are read in one more Tesseract call (:func:`_read_again`, which
    upscales a coarse page's crops). A line's second reading replaces its
    first only when it has no more words (the stroke's debris goes: a mark,
    a letter or two, or a word read under :data:`STROKE_MARK_CONFIDENCE`
    over type still there with the pen dropped, or, with ``typed`` (the
    page's values are type, not a hand's), over no type: the pen itself),
    each over a word of the first on the line (words the crop read on the
    lines round it are left out), no more letters (over words the first
    reading read as something, each as wide as it reads again),
    and a mean confidence :data:`STROKE_VOTE_MARGIN` higher (:func:`_vote_gain`),
    and no word on a word of another line of the page's reading (the
    crop reached into the lines round it and read them again). A first reading all under
    :data:`STROKE_MARK_CONFIDENCE` read nothing: only a second reading at
    :data:`STROKE_REREAD_BELOW` or surer replaces it, and it may have more
    words and letters (words it too read under :data:`STROKE_MARK_CONFIDENCE`
    are left out). Marks without letters or digits in the second reading are the
    stroke's remains and are left out. A value written in blue pen, which
    dropping the pen would erase, keeps its first reading.

    Raises:
        ExtractionFailed: the second reading failed (see ``extractors.tesseract``).
    """
    lines: dict[tuple[int, int, int], list[int]] = {}
    for i, w in enumerate(words):
        lines.setdefault((w.block, w.paragraph, w.line), []).append(i)
    picked: list[tuple[list[int], tuple[int, int, int, int], Image.Image]] = []
    for members in lines.values():
        if min(words[i].confidence for i in members) >= STROKE_REREAD_BELOW:
            continue
        height = max(words[i].height for i in members)
        margin = max(2, height // 3)
        box = (max(0, min(words[i].left for i in members) - margin),
               max(0, min(words[i].top for i in members) - margin),
               min(upright[0], max(words[i].left + words[i].width for i in members) + margin),
               min(upright[1], max(words[i].top + words[i].height for i in members) + margin))
        if box[2] - box[0] < 2 or box[3] - box[1] < 2:
            continue
        crop = _upright_crop(source, box, upright, rotation, skew)
        if crop.mode != "RGB":
            continue
        cleaned = _pen_dropped(crop)
        if np.array_equal(np.asarray(cleaned), np.asarray(crop.convert("HSV"))[..., 2]):
            continue  # no pen on this line
        picked.append((members, box, cleaned))
    if not picked:
        return list(words)
    found = _read_again([crop for _, _, crop in picked], dpi=dpi, deadline=deadline)
    out: list[list[tesseract.TsvWord]] = [[w] for w in words]
    for (members, box, cleaned), read in zip(picked, found, strict=True):
        first = [words[i] for i in members]
        again = [replace(w, left=w.left + box[0], top=w.top + box[1], block=first[0].block,
                         paragraph=first[0].paragraph, line=first[0].line)
                 for w in read]
        # A mark the second reading made of the stroke's remains ("©", ":") is no
        # word of the line: it neither counts nor blocks the vote.
        # A "/" is a bilingual label's own and stays.
        again = [w for w in again if w.text == "/" or any(c.isalnum() or c in "№#" for c in w.text)]
        # A stroke's tall marks stretch the crop over the lines round it; what it
        # read there is theirs ("Шевчук ..." under "Ткаченко Ірина", wide-3100013).
        # The line is where its longest word read surely sits.
        anchor = max((w for w in first if w.confidence >= STROKE_MARK_CONFIDENCE),
                     key=lambda w: len(w.text), default=None)
        if anchor is not None:
            again = [w for w in again if _middle_within(w, anchor)]
        unread = max(w.confidence for w in first) < STROKE_MARK_CONFIDENCE
        if unread:
            # The first reading read nothing ("и" at 0.00 for "Кузнецова Полина"): the
            # value may come out in more words than that, and a word the second reading
            # too read as nothing ("Ю" at 0.00) is the stroke's remains.
            again = [w for w in again if w.confidence >= STROKE_MARK_CONFIDENCE]
        if not again or (len(again) > len(first) and not unread):
            continue  # nothing left (the line was pen), or words the first reading had not
        # A crop cut round a stroke's tall marks reaches the lines above and below:
        # a word read again whose middle lies on a word another line of the page's
        # reading read is that line read twice ("ий ИЙ" read again as "и Маріуполь",
        # the place above; "Taraunnr", the top of "Таганрог" below), and the crop
        # says nothing sure of its own line (dropping only that word let a large
        # crop's remains replace a line the parser had read right).
        if any(_middle_on(a, w) for a in again for j, w in enumerate(words)
               if j not in members and w.confidence >= STROKE_MARK_CONFIDENCE):
            continue
        if _vote_gain(first, again) < STROKE_VOTE_MARGIN:
            continue
        # Only the stroke's own debris ("Маріушюнь -") may go: a word of the first
        # reading that no word of the second covers must be a mark or a letter or two,
        # never a word (which could be writing in blue pen beside printed type), or a
        # word read as nothing over type that is still there with the pen dropped
        # (a label's half a photo frame cuts, "рвана" at 0.12 for "Surname"): the
        # second reading saw that ink and made no word of it.
        # On a typed page a word read as nothing where no type is left is the pen
        # itself ("зач" at 0.23 along a stroke's tail after "Мария", wide-3100055).
        if any(not any(_x_overlap(w, a) for a in again)
               and sum(c.isalnum() for c in w.text) > STROKE_DEBRIS_CHARS
               and not (w.confidence < STROKE_MARK_CONFIDENCE
                        and (typed or _type_under(cleaned, w, box)))
               for w in first):
            continue
        # Nor may it find words where the first reading had none, nor more
        # letters: a line of the stroke alone ("НО Ра") is no value, and its
        # crop, reaching into the line above, reads that line's words cut.
        # A first reading all doubtful ("а" at 0.00 for "Бердянск") read nothing:
        # only a sure second reading replaces it, and it may have more letters;
        # an unsure one is the stroke's remains or the foot of the line above
        # read as a word ("уже З" under "Маріуполь" read again "маю", 0.57).
        if unread and _mean_confidence(again) < STROKE_REREAD_BELOW:
            continue
        if any(not any(_x_overlap(a, w) for w in first) for a in again):
            continue
        # A word of the first reading read as nothing ("И" at 0.11 where the stroke
        # crosses "Lucy") bounds no letters: a word read again over such words alone
        # may have more.
        # A word read the same, where it was, is as wide as it reads again: the first
        # reading stretched "Ткаченко" over the stroke and "Ірина" after it (wide-3100013).
        sure = [_as_read_again(w, again) for w in first if w.confidence >= STROKE_MARK_CONFIDENCE]
        if not unread and _letters(
                [a for a in again if any(_x_overlap(a, w) for w in sure)]) > _letters(sure):
            continue
        for n, i in enumerate(members):
            out[i] = again if n == 0 else []
    return [w for ws in out for w in ws]


def _as_read_again(word: tesseract.TsvWord, again: Sequence[tesseract.TsvWord]
                   ) -> tesseract.TsvWord:
    """``word`` as wide as a word of ``again`` that reads the same from the same left edge
    (within a quarter of its height); else as it is."""
    for other in again:
        if other.text == word.text and abs(other.left - word.left) <= word.height / 4:
            return replace(word, width=min(word.width, other.width))
    return word


def _vote_gain(first: Sequence[tesseract.TsvWord], again: Sequence[tesseract.TsvWord]) -> float:
    """How much surer a line's second reading is than its first, where they differ.

    Where every word the first reading made differently was read as nothing
    (under :data:`STROKE_MARK_CONFIDENCE`), a word both readings made alike, in
    the same place, votes for neither: a crop that took in the line's label
    ("GUARDIAN: Miller" read again around "Lucy", first read "И" at 0.11) must
    not drown the one word that changed. A word the first reading made of
    something (``Марія`` at 0.54, read again ``Магія`` at 0.96 with the pen
    dropped) is weighed with its whole line, as is a reading that only drops
    or only adds words.
    """
    def changed(words: Sequence[tesseract.TsvWord], other: Sequence[tesseract.TsvWord]
                ) -> list[tesseract.TsvWord]:
        return [w for w in words if not any(o.text == w.text and _x_overlap(o, w) for o in other)]

    old, new = changed(first, again), changed(again, first)
    if not old or not new or max(w.confidence for w in old) >= STROKE_MARK_CONFIDENCE:
        return _mean_confidence(again) - _mean_confidence(first)
    return _mean_confidence(new) - _mean_confidence(old)


def _type_under(cleaned: Image.Image, word: tesseract.TsvWord,
                box: tuple[int, int, int, int]) -> bool:
    """Whether a word's box still holds type once the pen is dropped: ink that was no pen.

    ``cleaned`` is the line's crop, cut at ``box``, with the pen made paper;
    type is :data:`STROKE_TYPE_INK` or more of the word box's pixels darker
    than :data:`PEN_UNDER_TYPE`.
    """
    x0, y0 = max(0, word.left - box[0]), max(0, word.top - box[1])
    x1 = min(cleaned.width, word.left + word.width - box[0])
    y1 = min(cleaned.height, word.top + word.height - box[1])
    if x1 <= x0 or y1 <= y0:
        return False
    under = np.asarray(cleaned.crop((x0, y0, x1, y1)))
    return bool((under < PEN_UNDER_TYPE).mean() >= STROKE_TYPE_INK)


def _reread_unread_ink(page: Image.Image, words: Sequence[tesseract.TsvWord],
                       pictures: Sequence[tuple[int, int, int, int]], *, dpi: int,
                       deadline: float, cut_tall: bool = True,
                       ) -> tuple[list[tesseract.TsvWord], frozenset[int]]:
    """Ink the page's reading left unread, each region read again on its own.

    Tesseract drops a value outright where its line finder takes it for part
    of something else: type beside a photo frame, against a box rule, under a
    stamp's remains. The page (upright, deskewed, as read) is looked at on a
    grid of :data:`UNREAD_CELLS_PER_WORD` cells a word height; ink cells that
    no word that accounts for its ink covers (:func:`_accounts_for_ink`), that
    lie outside the photos and on no long vertical rule, are grouped into
    regions; each region of a line's height (not a rule, a dot or a picture)
    is cut out with a margin, and all of them are read in one more Tesseract
    call (:func:`_read_again`: stacked, upscaled if the page is coarse).
    A region of a taller component is each band of it a line of type
    could be (:func:`_line_bands`: a date with a frame's stub above it and
    its underline beneath); with ``cut_tall`` false (a page filled in by
    hand: its strokes are tall, and cut, its regions could outnumber
    :data:`UNREAD_MAX_REGIONS`, and the page lose all it reads again), a
    taller component is passed over. The regions that reading found no
    word to take in (a short label alone, ``Ім'я:``, may be no line to it;
    a date beside a frame's edge may come out at 0.52 among other crops)
    are read in one call more, side by side as one line, their words taken
    only at :data:`UNREAD_LINE_MIN_CONFIDENCE`. A page whose ink was all
    read costs no call.

    Guarantees: only ink no sure word covers is read again, so no word of
    the first reading is replaced except an unsure one under a word read
    again, and a word read again over half of a sure word is dropped (the
    crop took in that word's ink); a word is taken only at :data:`UNREAD_MIN_CONFIDENCE` or more,
    with a letter or digit, a word of :data:`UNREAD_SHORT_CHARS` letters or
    digits or fewer only where :func:`_short_word_taken` says (its left edge
    lines up with a word of the first reading: a box's corner read ``L``
    stands in no column; a number leads its line), and its confidence capped
    at :data:`UNREAD_MAX_CONFIDENCE`; each line read again is a line of its
    own (reader block :data:`UNREAD_BLOCK` and up).

    Returns:
        The words, and the indices among them of those read again.

    Raises:
        ExtractionFailed: the second reading failed (see ``extractors.tesseract``).
    """
    sure = [w for w in words if _accounts_for_ink(w)]
    heights = sorted(w.height for w in sure if len(w.text) >= 3)
    if len(heights) < MIN_WORDS_FOR_LAYOUT:
        return list(words), frozenset()
    word_h = heights[len(heights) // 2]
    cell = max(2, round(word_h / UNREAD_CELLS_PER_WORD))
    dark = page.point([255 if v < UNREAD_INK_LEVEL else 0 for v in range(256)])
    rows, cols = page.height // cell, page.width // cell
    if rows < 2 or cols < 2:
        return list(words), frozenset()
    grid = np.asarray(dark.crop((0, 0, cols * cell, rows * cell)).reduce(cell))
    ink = grid >= 255 * UNREAD_CELL_INK / (cell * cell)
    for w in sure:
        ink[max(0, w.top // cell - 1): (w.top + w.height) // cell + 2,
            max(0, w.left // cell - 1): (w.left + w.width) // cell + 2] = False
    for x0, y0, x1, y1 in pictures:
        ink[max(0, y0 // cell - 1): y1 // cell + 2, max(0, x0 // cell - 1): x1 // cell + 2] = False
    ink &= ~_on_long_vertical_run(ink, math.ceil(UNREAD_RULE_HEIGHTS * word_h / cell))
    joined = ink.copy()  # letters a cell apart are one word, words a cell apart one line
    joined[:, 1:] |= ink[:, :-1]
    joined[:, :-1] |= ink[:, 1:]
    boxes = []
    for component in _components(joined):
        bands = (_line_bands(joined, component, word_h / cell) if cut_tall
                 else [component[:4]])
        for r0, c0, r1, c1 in bands:
            height, width = (r1 - r0) * cell, (c1 - c0) * cell
            if (UNREAD_MIN_HEIGHT * word_h <= height <= UNREAD_MAX_HEIGHT * word_h
                    and width >= UNREAD_MIN_WIDTH * word_h):
                boxes.append((c0 * cell, r0 * cell, c1 * cell, r1 * cell))
    if not boxes or len(boxes) > UNREAD_MAX_REGIONS:
        return list(words), frozenset()
    margin = max(2, round(UNREAD_MARGIN * word_h))
    cut = [(max(0, x0 - margin), max(0, y0 - margin), min(page.width, x1 + margin),
            min(page.height, y1 + margin)) for x0, y0, x1, y1 in boxes]
    crops = [page.crop(box) for box in cut]
    found = _read_again(crops, dpi=dpi, deadline=deadline)
    # A word or two alone in a block may come out as no line at all ("Ім'я:"
    # beside nothing), or unsure among the block's other lines: what the block
    # found nothing to take in is read once more as a line.
    unread = [n for n, read in enumerate(found) if _read_as_a_line_again(read)]
    if unread:
        for n, read in zip(unread, _read_again([crops[n] for n in unread], dpi=dpi,
                                               deadline=deadline, in_a_row=True), strict=True):
            found[n] = [w for w in read if w.confidence >= UNREAD_LINE_MIN_CONFIDENCE]
    added: list[tesseract.TsvWord] = []
    ends: dict[int, tesseract.TsvWord] = {}  # sure words (by index) given back their cut end
    for n, (box, read) in enumerate(zip(cut, found, strict=True)):
        placed = [replace(w, left=box[0] + w.left, top=box[1] + w.top,
                          confidence=min(w.confidence, UNREAD_MAX_CONFIDENCE),
                          block=UNREAD_BLOCK + n, paragraph=0, line=0)
                  for w in read
                  if w.confidence >= UNREAD_MIN_CONFIDENCE and any(c.isalnum() for c in w.text)]
        for again in placed:
            if any(_covers(s, again) or _covers(again, s) for s in sure):
                continue  # the crop's edge cut a read word, or it is a read word read again
            twice = [a for a in added if _covers(a, again) or _covers(again, a)]
            if twice:
                # Two regions' crops took in the same ink (a table's rule beside
                # it made it a region of its own and part of another): it was
                # read twice, "Kharkiv Kharkiv" (wide-3500006). The surer stays.
                if again.confidence > max(a.confidence for a in twice):
                    added = [a for a in added if a not in twice] + [again]
                continue
            short = sum(c.isalnum() for c in again.text) <= UNREAD_SHORT_CHARS
            if short and (whole := _year_cut_short(again, words, word_h)) is not None:
                ends[whole[0]] = whole[1]
                continue
            if short and not _short_word_taken(again, sure, [*sure, *placed], word_h):
                continue
            added.append(again)
    if not added and not ends:
        return list(words), frozenset()
    kept = [ends.get(i, w) for i, w in enumerate(words)
            if _accounts_for_ink(w) or not any(_covers(a, w) for a in added)]
    mended = {i for i, w in enumerate(kept) if any(w is e for e in ends.values())}
    return kept + added, frozenset(mended | set(range(len(kept), len(kept) + len(added))))


def _year_cut_short(again: tesseract.TsvWord, words: Sequence[tesseract.TsvWord],
                    word_h: float) -> tuple[int, tesseract.TsvWord] | None:
    """A sure word whose year lost its last digits, and the word made whole, or ``None``.

    ``23 вересня 2009`` read ``200`` at 0.96, its ``9`` left as unread ink
    (wide-3400057): the digits read again at the word's end (within
    :data:`UNREAD_ABUT` word heights, on its line) are its own, cut off,
    when the word with them is a year of a child's records, or a date in
    digits, and the word without them is neither. Only then: a box's edge
    read as ``1`` after a whole year (``2016|``) is not added to it. The
    word keeps its confidence, capped as a word read again.
    """
    tail = "".join(c for c in again.text if c.isdigit())
    if not tail or any(c.isalpha() for c in again.text):
        return None
    for i, s in enumerate(words):
        if not (_accounts_for_ink(s) and s.text[-1:].isdigit() and _at_end_of(s, again, word_h)):
            continue
        whole = s.text + tail
        if _a_date_or_year(whole) and not _a_date_or_year(s.text):
            return i, replace(s, text=whole, width=_box([s, again])[2] - s.left,
                              confidence=min(s.confidence, UNREAD_MAX_CONFIDENCE))
    return None


def _at_end_of(word: tesseract.TsvWord, again: tesseract.TsvWord, word_h: float) -> bool:
    """Whether ``again`` starts within :data:`UNREAD_ABUT` word heights of ``word``'s end,
    on its line: the end of the word, its box cut short."""
    return (word.left < again.left
            and again.left - (word.left + word.width) <= UNREAD_ABUT * word_h
            and _middle_within(word, again))


def _a_date_or_year(text: str) -> bool:
    low, high = numerals.PLAUSIBLE_YEARS
    core = text.strip(".,;:()")
    return (core.isdigit() and len(core) == 4 and low <= int(core) <= high) or (
        numerals.is_numeral(core) and numerals.plausible(core))


def _short_word_taken(word: tesseract.TsvWord, sure: Sequence[tesseract.TsvWord],
                      read: Sequence[tesseract.TsvWord], word_h: float) -> bool:
    """Whether a word of :data:`UNREAD_SHORT_CHARS` letters or digits, read again, is a value's.

    A letter or two alone is one only in a column of the page's words (a sex
    letter under or beside its neighbours' values); elsewhere it is a box's
    corner or the sheet's edge read as ``L`` or ``3``. A number of a digit or
    two must also lead a line: a word of ``read`` (the page's sure words and
    those its crop was read again with) starting within
    :data:`UNREAD_LEAD_GAP` word heights to its right, its middle within the
    number's height: a day before its month (``11`` of ``11 October 2011``,
    the first reading dropped the whole line: wide-1000041). Marks among
    them are never taken (``1/``, a bilingual label's half), nor a word that
    starts within :data:`UNREAD_ABUT` word heights of the end of a word the
    page read on its line: that word's last letter, its box cut short
    (``УСЛУГИ`` read as far as ``Г``, and ``И`` read again, wide-2800039).
    """
    left = word.left
    if not any(abs(s.left - left) <= UNREAD_ALIGN * word_h for s in sure):
        return False
    if any(_at_end_of(s, word, word_h) for s in sure):
        return False  # the end of a word the page read, its box cut short ("УСЛУГ|И")
    if word.text.isalpha():
        return True
    right = word.left + word.width
    return word.text.isdigit() and any(
        0 <= s.left - right <= UNREAD_LEAD_GAP * word_h and _middle_within(s, word)
        for s in read)


def _read_as_a_line_again(read: Sequence[tesseract.TsvWord]) -> bool:
    """Whether a crop of unread ink, read among the others, is read once more as a line:
    it came out with no letter or digit, or with none taken but a word that looks like
    part of a value (:data:`UNREAD_RETRY_CHARS` at :data:`UNREAD_RETRY_CONFIDENCE`)."""
    alnum = [w for w in read if any(c.isalnum() for c in w.text)]
    if not alnum:
        return True
    return not any(w.confidence >= UNREAD_MIN_CONFIDENCE for w in alnum) and any(
        w.confidence >= UNREAD_RETRY_CONFIDENCE
        and sum(c.isalnum() for c in w.text) >= UNREAD_RETRY_CHARS for w in alnum)


def _line_bands(ink: npt.NDArray[np.bool_], component: tuple[int, int, int, int, int],
                word_cells: float) -> list[tuple[int, int, int, int]]:
    """A component of unread ink as the bands of it a line of type could be (in cells).

    A component of a line's height is itself. A taller one may be a line
    with what touches it: the stub of a photo frame's edge above a date and
    the underline beneath it (wide-2600031), or the rules of two boxes above
    a label (wide-2900030). Its rows that hold at least
    :data:`UNREAD_BAND_SHARE` of its fullest row's ink are kept, each run of
    them a band as wide as its ink. Bands all thinner than a line are rules:
    they are set aside and the rest looked at again, up to
    :data:`UNREAD_BAND_ROUNDS` times. A stroke or a ring has no rows of a
    line's height fuller than the rest, and comes out as nothing or as bands
    too tall or too thin to be read.
    """
    r0, c0, r1, c1, _ = component
    if r1 - r0 <= UNREAD_MAX_HEIGHT * word_cells:
        return [(r0, c0, r1, c1)]
    counts = ink[r0:r1, c0:c1].sum(axis=1)
    for _ in range(UNREAD_BAND_ROUNDS):
        if not counts.any():
            break
        full = counts >= max(1, UNREAD_BAND_SHARE * counts.max())
        runs: list[tuple[int, int]] = []
        start: int | None = None
        for r, kept in enumerate([*full.tolist(), False]):
            if kept and start is None:
                start = r
            elif not kept and start is not None:
                runs.append((start, r))
                start = None
        lines = [(a, b) for a, b in runs if b - a >= UNREAD_MIN_HEIGHT * word_cells]
        if lines:
            bands = []
            for a, b in lines:
                columns = np.flatnonzero(ink[r0 + a:r0 + b, c0:c1].any(axis=0))
                bands.append((r0 + a, c0 + int(columns[0]), r0 + b, c0 + int(columns[-1]) + 1))
            return bands
        counts[full] = 0  # rules: what is left may hold a line
    return []


def _accounts_for_ink(word: tesseract.TsvWord) -> bool:
    """Whether a word of the page's reading is sure enough to account for the ink under it.

    A mark read over a whole label ("|" for "Date of birth:" beside a photo frame,
    0.66, six times wider than tall) is sure of nothing: its ink is read again.
    """
    if word.confidence < UNREAD_COVERED:
        return False
    return any(c.isalnum() for c in word.text) or word.width <= UNREAD_MARK_WIDTH * word.height


def _hand_filled(words: Sequence[tesseract.TsvWord]) -> bool:
    """Whether a page's values were written in by hand: :data:`HAND_PAGE_SHARE` or more
    of its words of :data:`HAND_WORD_LETTERS` letters read under :data:`HAND_UNSURE`.

    Labels are printed and read surely on any form, so the share stays low
    on a typed page however poor the scan (at most 6 % on the development
    split's 300-dpi, degraded and phone-photo pages) and rises on a page
    whose values are handwriting (18 % and more).
    """
    long = [w for w in words if sum(c.isalnum() for c in w.text) >= HAND_WORD_LETTERS]
    if len(long) < MIN_WORDS_FOR_LAYOUT:
        return False
    return sum(w.confidence < HAND_UNSURE for w in long) >= HAND_PAGE_SHARE * len(long)


@functools.cache
def _label_words() -> frozenset[str]:
    """Every word of a label in any form language, folded to its letters."""
    return frozenset(word for _, words in _label_texts() for word in words)


@functools.cache
def _label_texts() -> tuple[tuple[str, frozenset[str]], ...]:
    """(member, the folded words of one of its labels), for every label in any language."""
    labels: dict[str, dict[str, tuple[str, ...]]] = importlib.import_module(
        "extractors.biography").LABELS
    return tuple((member, frozenset(folded for word in text.split() if (folded := _fold(word))))
                 for member, by_language in labels.items()
                 for texts in by_language.values() for text in texts)


def _fold(word: str) -> str:
    return "".join(c for c in word if c.isalnum()).casefold()


def _member(label: Sequence[str]) -> str | None:
    """The member a line's label words name: the one whose label has the most words,
    all among them."""
    read = set(label)
    found = [(len(words), member) for member, words in _label_texts() if words and words <= read]
    return max(found)[1] if found else None


def _read_hand(page: Image.Image, words: Sequence[tesseract.TsvWord],
               read_again: frozenset[int]) -> tuple[list[tesseract.TsvWord], frozenset[int]]:
    """A hand-filled page's values of a kind with a table read again by the recogniser.

    On each line of the page's reading, the words after its label (label
    words and marks) are the value; the label on its line says what it is,
    else the label ending left of it on its row or standing just above it
    (:func:`_label_of`). A value of a kind in :data:`HAND_KINDS` that
    Tesseract read unsurely (a word under :data:`HAND_KEEP_SURE`) is cut
    out (its words, :data:`HAND_MARGIN` line heights of paper left and
    right) and read by :func:`extractors.handwriting.read_line` in the
    form's script (Cyrillic where a label word is, else Latin). The reading
    (at :data:`HAND_MIN_CONFIDENCE` or surer) replaces the value's words
    only when one of its words was snapped to a known word of the kind
    (:func:`extractors.handwriting.snap`), or, for a date Tesseract did not
    read as one, when the crop read in digits alone is a plausible date
    (:func:`_hand_date`): one word per space read, placed where its letters
    were read. Any other value keeps Tesseract's reading.

    Returns:
        The words, and the indices of those read again (the recogniser's
        words, and words an earlier second reading found): never surer
        than a second reading may be (``Word.reread``). The recogniser's
        words are also marked read in the form's own language, so their
        values say ``corrected`` and are no surer than those words.
    """
    labels = _label_words()
    lines: dict[tuple[int, int, int], list[int]] = {}
    for i, w in enumerate(words):
        lines.setdefault((w.block, w.paragraph, w.line), []).append(i)
    cyrillic = any(_fold(w.text) in labels and not _fold(w.text).isascii() for w in words)
    script: handwriting.Script = "cyrillic" if cyrillic else "latin"
    gray = 1.0 - np.asarray(page, dtype=np.float32) / 255.0
    out: list[list[tesseract.TsvWord]] = [[w] for w in words]
    again: set[int] = set()  # indices into out of words read again
    rows: list[tuple[str | None, list[int], list[int]]] = []  # (member, label, value)
    for members in lines.values():
        members.sort(key=lambda i: words[i].left)
        start = 0
        while start < len(members) and _label_or_mark(words[members[start]], labels):
            start += 1
        label = [_fold(words[i].text) for i in members[:start]]
        rows.append((_member(label) if label else None, members[:start], members[start:]))
    named = [(member, _box([words[i] for i in label])) for member, label, _ in rows
             if member is not None]
    for own, _, value in rows:
        if not value:
            continue
        # A value in a column or on a line of its own: the label beside it or above says.
        member = own if own is not None else _label_of(_box([words[i] for i in value]), named)
        kind = HAND_KINDS.get(member or "")
        if kind is None or min(words[i].confidence for i in value) >= HAND_KEEP_SURE:
            continue
        height = max(words[i].height for i in value)
        x0 = max(0, min(words[i].left for i in value) - round(HAND_MARGIN * height))
        x1 = min(page.width, max(words[i].left + words[i].width for i in value)
                 + round(HAND_MARGIN * height))
        top = min(words[i].top for i in value)
        bottom = max(words[i].top + words[i].height for i in value)
        y0 = max(0, top - round(HAND_MARGIN_ABOVE_BELOW * height))
        y1 = min(page.height, bottom + round(HAND_MARGIN_ABOVE_BELOW * height))
        reading = handwriting.read_line(gray[y0:y1, x0:x1], script)
        if reading.confidence < HAND_MIN_CONFIDENCE or not reading.text.strip():
            continue
        found = _hand_words(reading, kind)
        if kind == "month" and not any(
                numerals.is_numeral(words[i].text) and numerals.plausible(words[i].text)
                for i in value):
            found = _hand_date(gray[y0:y1, x0:x1]) or found
        if found is None:
            continue  # no word of the value is a known one: Tesseract's reading stays
        first = words[value[0]]
        # A second reading in the form's script, as extractors.own_language's: the
        # record says the value is not what the page's first reading said.
        read = [tesseract.TsvWord(text, x0 + left, top, max(1, right - left), bottom - top,
                                  confidence, first.block, first.paragraph, first.line,
                                  own_language=True)
                for text, left, right, confidence in found]
        for n, i in enumerate(value):
            out[i] = read if n == 0 else []
            again.add(i)
    flat: list[tesseract.TsvWord] = []
    marked: set[int] = set()
    for i, ws in enumerate(out):
        if i in again or i in read_again:
            marked.update(range(len(flat), len(flat) + len(ws)))
        flat += ws
    return flat, frozenset(marked)


def _box(words: Sequence[tesseract.TsvWord]) -> tuple[int, int, int, int]:
    """The box round ``words``: left, top, right, bottom."""
    return (min(w.left for w in words), min(w.top for w in words),
            max(w.left + w.width for w in words), max(w.top + w.height for w in words))


def _label_of(value: tuple[int, int, int, int],
              named: Sequence[tuple[str, tuple[int, int, int, int]]]) -> str | None:
    """The member of the label a value's box belongs to: the nearest label ending left
    of it on its row, else the nearest one just above it, starting where it starts."""
    left, top, _, bottom = value
    height = bottom - top
    middle = (top + bottom) / 2
    best: tuple[float, str] | None = None
    for member, (l0, t0, r0, b0) in named:
        if t0 <= middle <= b0 and r0 <= left + height:
            distance = float(left - r0)
        elif b0 <= top + height * HAND_LABEL_OVERLAP and top - b0 <= HAND_LABEL_ABOVE * height \
                and abs(l0 - left) <= HAND_LABEL_ABOVE * height:
            distance = HAND_ROW_FIRST + top - b0
        else:
            continue
        if best is None or distance < best[0]:
            best = (distance, member)
    return best[1] if best else None


def _label_or_mark(word: tesseract.TsvWord, labels: frozenset[str]) -> bool:
    """Whether a word leading a line is its label's: a word of a label, or a mark."""
    folded = _fold(word.text)
    return not folded or folded in labels


def _hand_date(ink: npt.NDArray[np.float32]) -> list[tuple[str, int, int, float]] | None:
    """A date written in digits, read in digits and separators alone: one word, if it is
    a plausible calendar date (``extractors.numerals``)."""
    reading = handwriting.read_line(ink, only=HAND_DATE_CHARACTERS)
    text = reading.text.replace(" ", "")
    if not (reading.glyphs and numerals.is_numeral(text) and numerals.plausible(text)):
        return None
    return [(text, reading.glyphs[0].left, reading.glyphs[-1].right, reading.confidence)]


def _hand_words(reading: handwriting.LineReading,
                kind: handwriting.Kind) -> list[tuple[str, int, int, float]] | None:
    """The recogniser's words, each snapped to a known word of ``kind`` where the frames
    say so (:func:`extractors.handwriting.snap`): (text, left, right, confidence); None
    when none was."""
    found: list[tuple[str, int, int, float]] = []
    snapped = False
    for span in handwriting.words(reading):
        known = handwriting.snap(reading, span, kind)
        snapped = snapped or known is not None
        found.append((known or span.text, span.glyphs[0].left, span.glyphs[-1].right,
                      handwriting.LineReading(span.glyphs).confidence))
    return found if snapped else None


def _read_again(crops: Sequence[Image.Image], *, dpi: int, deadline: float,
                in_a_row: bool = False) -> list[list[tesseract.TsvWord]]:
    """Crops of one page read again in one Tesseract call, at :data:`REREAD_MIN_DPI` at least.

    The one rule both second readings of this module follow: crops of a page
    under :data:`REREAD_MIN_DPI` are upscaled to it (Lanczos) before they are
    stacked and read (``tesseract.read_stacked``, one block of lines), and
    the words found are scaled back, so a caller sees each word's box in its
    crop's own pixels as it cut it, whatever the page's resolution.

    Args:
        crops: mode ``"L"`` regions of a page rendered or scanned at ``dpi``.
        dpi: the page's resolution.
        deadline: ``time.monotonic()`` value the call must finish by.
        in_a_row: the crops are one line each: read side by side as one line
            (``tesseract.read_in_a_row``), not stacked as a block of lines.

    Returns:
        One list of words per crop, in reading order, boxes in the crop's pixels.

    Raises:
        ExtractionFailed: the reading failed (see ``extractors.tesseract``).
    """
    scale = max(1.0, REREAD_MIN_DPI / dpi)
    if scale > 1.0:
        crops = [crop.resize((round(crop.width * scale), round(crop.height * scale)),
                             Image.Resampling.LANCZOS) for crop in crops]
    read = tesseract.read_in_a_row if in_a_row else tesseract.read_stacked
    found = read(crops, gap=round(REREAD_ROW_GAP * scale), dpi=round(dpi * scale),
                 timeout=deadline - time.monotonic())
    if scale == 1.0:
        return found
    return [[replace(w, left=round(w.left / scale), top=round(w.top / scale),
                     width=max(1, round(w.width / scale)), height=max(1, round(w.height / scale)))
             for w in words] for words in found]


def _middle_within(a: tesseract.TsvWord, b: tesseract.TsvWord) -> bool:
    """Whether ``a``'s vertical middle lies within ``b``'s height: the two on one line."""
    return b.top <= a.top + a.height / 2 <= b.top + b.height


def _middle_on(a: tesseract.TsvWord, b: tesseract.TsvWord) -> bool:
    """Whether ``a``'s vertical middle lies within ``b``'s height, the two overlapping across."""
    return _x_overlap(a, b) and _middle_within(a, b)


def _covers(a: tesseract.TsvWord, b: tesseract.TsvWord) -> bool:
    """Whether ``a`` overlaps half or more of ``b``'s box."""
    w = min(a.left + a.width, b.left + b.width) - max(a.left, b.left)
    h = min(a.top + a.height, b.top + b.height) - max(a.top, b.top)
    return w > 0 and h > 0 and w * h >= 0.5 * b.width * b.height


def _on_long_vertical_run(mask: npt.NDArray[np.bool_], length: int) -> npt.NDArray[np.bool_]:
    """Cells of ``mask`` on a vertical run of at least ``length`` cells: a rule, a frame."""
    rows = mask.shape[0]
    if length < 1 or rows < length:
        return np.zeros_like(mask)
    sums = np.cumsum(np.vstack([np.zeros((1, mask.shape[1]), np.int32),
                                mask.astype(np.int32)]), axis=0)
    full = (sums[length:] - sums[:-length]) == length  # run of `length` starting at each row
    starts = np.cumsum(np.vstack([np.zeros((1, mask.shape[1]), np.int32),
                                  full.astype(np.int32)]), axis=0)
    # A cell lies on a full run when a run starts within `length` rows above it.
    at = np.arange(rows)
    hi = np.minimum(at + 1, full.shape[0])
    lo = np.minimum(np.maximum(0, at - length + 1), hi)
    covered: npt.NDArray[np.bool_] = (starts[hi] - starts[lo]) > 0
    return covered


def _letters(words: Sequence[tesseract.TsvWord]) -> int:
    return sum(c.isalnum() for w in words for c in w.text)


def _x_overlap(a: tesseract.TsvWord, b: tesseract.TsvWord) -> bool:
    return min(a.left + a.width, b.left + b.width) > max(a.left, b.left)


def _mostly_vertical(words: Sequence[tesseract.TsvWord]) -> bool:
    """Whether most words of three letters or more are taller than wide: text on its side."""
    long = [w for w in words if len(w.text) >= 3]
    tall = sum(1 for w in long if w.height > VERTICAL_ASPECT * w.width)
    return len(long) >= MIN_WORDS_FOR_LAYOUT and tall > len(long) / 2


def _reads_across(words: Sequence[tesseract.TsvWord], confidence: float) -> bool:
    """Whether a reading is of an upright page: sure words, most of them lying level.

    The layout profile (:func:`_layout_angle`) misjudges some upright pages as
    sideways: with no rules on the page, type in fixed-pitch or oblique faces
    stacks letters in columns, and a 200-dpi noisy scan leaves thin strokes
    under the ink level, so the two profiles jump alike. A sideways page read
    as it lies gives words standing on end (on the dev split, nearly every
    long word taller than wide) or garbage under :data:`UPRIGHT_CONFIDENCE`; a page whose reading
    is neither was read the right way up, and reading it turned both ways
    (two more full-page readings) only to reject them is waste.
    """
    return (confidence >= UPRIGHT_CONFIDENCE and not _mostly_vertical(words)
            and len(words) >= MIN_WORDS_FOR_LAYOUT)


def _half(img: Image.Image) -> npt.NDArray[np.uint8]:
    # OSD at half resolution decides as well and costs less.
    small = img.resize((max(1, img.width // 2), max(1, img.height // 2)), Image.Resampling.BOX)
    return np.asarray(small)


def _turn(img: Image.Image, clockwise: int) -> Image.Image:
    ops = {90: Image.Transpose.ROTATE_270, 180: Image.Transpose.ROTATE_180,
           270: Image.Transpose.ROTATE_90}
    return img.transpose(ops[clockwise]) if clockwise in ops else img


def _deskew(img: Image.Image, skew: float, fill: int, *, smooth: bool = False) -> Image.Image:
    """The page turned back by ``skew`` degrees, same size, corners filled with ``fill``.

    Nearest neighbour by default: at 300 dpi its 1-pixel steps cost Tesseract
    nothing, and it is several times faster than interpolating 9 Mpx. With
    ``smooth`` (pages under :data:`SMOOTH_DESKEW_DPI`), bilinear: at 200 dpi
    a stroke is 2-3 pixels wide, a step cuts a fifth of it away, and on noisy
    JPEG scans the jagged letters were misread (``schoot`` for ``school``,
    ``Chioe`` for ``Chloe``); interpolating 4 Mpx costs ~0.07 s a page.
    """
    resample = Image.Resampling.BILINEAR if smooth else Image.Resampling.NEAREST
    return img.rotate(-skew, resample=resample, expand=False, fillcolor=fill)


def _mean_confidence(words: Sequence[tesseract.TsvWord]) -> float:
    total = sum(len(w.text) for w in words)
    if total == 0:
        return 0.0
    return sum(w.confidence * len(w.text) for w in words) / total


def _subsample(img: Image.Image, factor: int) -> Image.Image:
    # Every factor-th pixel, without first copying the full page into numpy.
    if factor <= 1:
        return img
    return img.resize((max(1, img.width // factor), max(1, img.height // factor)),
                      Image.Resampling.NEAREST)


def _layout_angle(gray_img: Image.Image) -> tuple[bool, float]:
    """Whether text lines run vertically, and the skew of the lines in degrees.

    Projection profiles of dark pixels on a ~100 dpi copy, with dense areas
    (photos, filled boxes) left out since they carry no line structure. The
    angle at which rows of ink pile up sharpest is the skew (the angle the
    content is turned counter-clockwise). Rows of text make a profile that
    jumps between line and gap; columns of text make a smooth one, so when
    the column profile jumps more than the row profile, the page lies on its
    side.
    """
    factor = max(1, min(gray_img.size) // 800)
    small = np.asarray(_subsample(gray_img, factor))
    ink = small < 128
    cell = 8
    rows, cols = ink.shape[0] // cell, ink.shape[1] // cell
    if rows and cols:
        dense = ink[: rows * cell, : cols * cell].reshape(rows, cell, cols, cell).mean(
            axis=(1, 3)) > 0.5
        bright = small[: rows * cell, : cols * cell].reshape(rows, cell, cols, cell).mean(
            axis=(1, 3)) > PAPER_LEVEL
        ignore = dense | ~_on_paper(bright)
        ink[: rows * cell, : cols * cell] &= ~np.repeat(np.repeat(ignore, cell, 0), cell, 1)
        ink[rows * cell :, :] = False  # the strip past the last whole cell: unjudged, and
        ink[:, cols * cell :] = False  # on a photo it is table, a perfectly level edge
    ys, xs = np.nonzero(ink)
    if ys.size < 500:
        return False, 0.0
    if ys.size > 60_000:
        pick = np.linspace(0, ys.size - 1, 60_000).astype(np.int64)
        ys, xs = ys[pick], xs[pick]
    yf, xf = ys.astype(np.float64), xs.astype(np.float64)
    angles = np.radians(np.arange(-SKEW_MAX_DEG, SKEW_MAX_DEG + 1e-9, SKEW_STEP_DEG))

    def profile(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64],
                t: float) -> npt.NDArray[np.float64]:
        proj = a * math.cos(t) + b * math.sin(t)
        return np.bincount((proj - proj.min()).astype(np.int64)).astype(np.float64)

    def best(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> tuple[float, float]:
        scores = [float(np.dot(h, h)) for h in (profile(a, b, t) for t in angles)]
        i = int(np.argmax(scores))
        edges = np.diff(profile(a, b, float(angles[i])))
        return float(np.dot(edges, edges)), float(np.degrees(angles[i]))

    h_edges, h_angle = best(yf, xf)
    v_edges, _ = best(xf, -yf)
    return v_edges > SIDEWAYS_RATIO * h_edges, h_angle


def _on_paper(bright: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """Cells inside the sheet of paper, away from its edges.

    A photographed page lies on a table: the sheet's edges are long dark
    lines at the angle of the photo, not of the text, and would outvote the
    text lines. Per row and per column, the span from the first to the last
    bright cell is the sheet; :data:`PAPER_EDGE_CELLS` cells at each end of
    it are left out. On a scan the sheet is the whole image and its margins
    are blank, so nothing of the text is lost.
    """
    by_row = np.zeros(bright.shape, dtype=np.bool_)
    by_col = np.zeros(bright.shape, dtype=np.bool_)
    for grid, out in ((bright, by_row), (bright.T, by_col.T)):
        for i in range(grid.shape[0]):
            where = np.flatnonzero(grid[i])
            if where.size:
                out[i, where[0] + PAPER_EDGE_CELLS : where[-1] - PAPER_EDGE_CELLS + 1] = True
    return by_row & by_col


def _scan_photos(source: _PageSource, gray: Image.Image, *, rotation: int, skew: float,
                 dpi: int, number: int) -> tuple[list[Photo], list[ImageRegion]]:
    """Crop large dense non-white rectangles (photos) found on the upright page.

    Found on a half-resolution copy of the upright page; cropped in colour
    from the page as it came (rendered again for PDFs, clipped to the photo),
    then turned upright and deskewed by the page's own skew, so the photo
    stands as straight as the text was read.
    """
    arr = np.asarray(_subsample(gray, 2))
    cell = max(2, dpi // 40)  # ~1.3 mm at half resolution
    rows, cols = arr.shape[0] // cell, arr.shape[1] // cell
    if rows < 4 or cols < 4:
        return [], []
    ink = (arr[: rows * cell, : cols * cell] < WHITE).reshape(rows, cell, cols, cell)
    dense = ink.sum(axis=(1, 3)) >= PHOTO_CELL_INK * cell * cell
    min_cells = math.ceil(MIN_PHOTO_PT / 72 * dpi / 2 / cell)
    photos: list[Photo] = []
    regions: list[ImageRegion] = []
    scale = 72.0 / dpi
    px = 2 * cell  # full-resolution pixels per cell
    for r0, c0, r1, c1, filled in _components(dense):
        area = (r1 - r0) * (c1 - c0)
        if (r1 - r0 < min_cells or c1 - c0 < min_cells or filled < PHOTO_MIN_FILL * area
                or area > MAX_PHOTO_PAGE_SHARE * rows * cols):
            continue
        box = (c0 * px, r0 * px, c1 * px, r1 * px)
        crop = _upright_crop(source, box, gray.size, rotation, skew)
        buf = io.BytesIO()
        # JPEG: the crop of a scan is photographic and was lossy already; as PNG a
        # 300-dpi crop weighs ~0.5 MB, ten times more, which a 300-page dossier
        # would carry through every process and into the store.
        crop.convert("RGB").save(buf, format="JPEG", quality=90)
        data = buf.getvalue()
        photo = Photo(sha256=hashlib.sha256(data).hexdigest(), media_type="image/jpeg",
                      width=crop.width, height=crop.height, page=number, data=data)
        photos.append(photo)
        regions.append(ImageRegion((box[0] * scale, box[1] * scale, box[2] * scale,
                                    box[3] * scale), photo.sha256))
    return photos, regions


def _upright_crop(source: _PageSource, box: tuple[int, int, int, int],
                  upright_size: tuple[int, int], rotation: int, skew: float) -> Image.Image:
    """The photo at ``box`` of the upright, deskewed page, in colour, turned and deskewed
    as the page was: a crop of the page as it came, widened so that turning it by the
    skew leaves no corner empty, turned upright, then cut to the box."""
    width, height = box[2] - box[0], box[3] - box[1]
    if not skew:
        return _turn(source.color(_to_source_box(box, upright_size, source.gray.size,
                                                 rotation, 0.0)), rotation)
    a = math.radians(abs(skew))
    # The box turned by the skew fits in a box this much larger.
    grow_w = math.ceil((width * math.cos(a) + height * math.sin(a) - width) / 2) + 2
    grow_h = math.ceil((width * math.sin(a) + height * math.cos(a) - height) / 2) + 2
    wide = (box[0] - grow_w, box[1] - grow_h, box[2] + grow_w, box[3] + grow_h)
    crop = _turn(source.color(_to_source_box(wide, upright_size, source.gray.size,
                                             rotation, skew)), rotation)
    crop = crop.rotate(-skew, resample=Image.Resampling.BICUBIC, expand=False,
                       fillcolor="white")  # a gray scan's crop is mode L, a colour one RGB
    left, top = (crop.width - width) // 2, (crop.height - height) // 2
    return crop.crop((max(0, left), max(0, top), max(0, left) + min(width, crop.width),
                      max(0, top) + min(height, crop.height)))


def _to_source_box(box: tuple[int, int, int, int], upright_size: tuple[int, int],
                   source_size: tuple[int, int], rotation: int,
                   skew: float) -> tuple[int, int, int, int]:
    """Map a box on the upright, deskewed page back to the page as it came, in pixels."""
    (x, y), (w, h) = centre_on_source(((box[0] + box[2]) / 2, (box[1] + box[3]) / 2),
                                      (box[2] - box[0], box[3] - box[1]),
                                      upright_size, rotation, skew)
    width, height = source_size
    x0 = max(0, round(x - w / 2))
    y0 = max(0, round(y - h / 2))
    return x0, y0, min(width, x0 + int(w)), min(height, y0 + int(h))


def _components(mask: npt.NDArray[np.bool_]) -> list[tuple[int, int, int, int, int]]:
    """Bounding boxes (r0, c0, r1, c1, cells) of 4-connected True regions."""
    seen = np.zeros_like(mask)
    out = []
    rows, cols = mask.shape
    for r, c in zip(*np.nonzero(mask), strict=True):
        if seen[r, c]:
            continue
        stack = [(int(r), int(c))]
        seen[r, c] = True
        r0, c0, r1, c1, n = int(r), int(c), int(r), int(c), 0
        while stack:
            y, x = stack.pop()
            n += 1
            r0, c0, r1, c1 = min(r0, y), min(c0, x), max(r1, y), max(c1, x)
            for ny, nx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
                if 0 <= ny < rows and 0 <= nx < cols and mask[ny, nx] and not seen[ny, nx]:
                    seen[ny, nx] = True
                    stack.append((ny, nx))
        out.append((r0, c0, r1 + 1, c1 + 1, n))
    return out


# -- lines -------------------------------------------------------------------------------


def _ink_not_text(items: Sequence[tuple[tuple[int, int], Word]]
                  ) -> list[tuple[tuple[int, int], Word]]:
    """OCR words on lines of text: a stamp's ring or a pen stroke read as a tall "word",
    or a word sitting off its line's middle, becomes a line of its own.

    Such a word would otherwise stretch its line's box over the rows above or
    below and pull values into the wrong row. It is kept (the parser knows
    ink from text, and that a value beside ink may have lost letters).
    """
    heights = sorted(w.bbox[3] - w.bbox[1] for _, w in items)
    if not heights:
        return list(items)
    typical = heights[len(heights) // 2]
    kept = list(items)

    def tall(word: Word) -> bool:
        return word.bbox[3] - word.bbox[1] > TALL_WORD * typical

    # A line's middle is its longest word's of ordinary height: text is long
    # words, debris short, and a stroke stretches the box it is read into.
    anchors: dict[tuple[int, int], Word] = {}
    for key, word in kept:
        known = anchors.get(key)
        if known is None or (tall(known), -len(known.text)) > (tall(word), -len(word.text)):
            anchors[key] = word
    out = []
    for n, (key, word) in enumerate(kept):
        anchor = anchors[key]
        middle = (anchor.bbox[1] + anchor.bbox[3]) / 2
        if tall(word):
            # A word surely read, of letters and digits, across its line's middle
            # is text whose box a descender's rule or a stroke stretched.
            on_line = (word.confidence >= TALL_TEXT_CONFIDENCE and _plain_word(word.text)
                       and word.bbox[1] < middle < word.bbox[3])
            if not on_line:
                key = (-1, n)  # noqa: PLW2901  a line of its own
        elif abs((word.bbox[1] + word.bbox[3]) / 2 - middle) > OFF_LINE * typical:
            key = (-1, n)  # noqa: PLW2901  a line of its own
        out.append((key, word))
    return out


def _plain_word(text: str) -> bool:
    """Letters and digits, with at most punctuation at its end: what text is, not ink."""
    core = text.rstrip(".,;:")
    return len(core) >= 2 and core.isalnum()


def _lines(items: Sequence[tuple[tuple[int, int], Word]]) -> tuple[Line, ...]:
    """Group words by the reader's line id, split at wide gaps, order top to bottom."""
    groups: dict[tuple[int, int], list[Word]] = {}
    for key, word in items:
        groups.setdefault(key, []).append(word)
    lines: list[Line] = []
    for words in groups.values():
        words.sort(key=lambda w: w.bbox[0])
        height = max(w.bbox[3] - w.bbox[1] for w in words)
        run = [words[0]]
        for word in words[1:]:
            if word.bbox[0] - run[-1].bbox[2] > LINE_GAP_EMS * height:
                lines.append(Line(tuple(run)))
                run = []
            run.append(word)
        lines.append(Line(tuple(run)))
    # Reading order: top to bottom; lines whose centres lie within half a line
    # of each other sit in one row, read left to right.
    lines.sort(key=lambda ln: (ln.bbox[1] + ln.bbox[3]) / 2)
    ordered: list[Line] = []
    row: list[Line] = []
    for line in lines:
        if row:
            first = row[0].bbox
            centre = (first[1] + first[3]) / 2
            if abs((line.bbox[1] + line.bbox[3]) / 2 - centre) > (first[3] - first[1]) / 2:
                ordered += sorted(row, key=lambda ln: ln.bbox[0])
                row = []
        row.append(line)
    ordered += sorted(row, key=lambda ln: ln.bbox[0])
    return tuple(ordered)
