"""Positioned text: what a page reader (text layer or OCR) hands the parser.

The page readers (PDF text layer, Tesseract) and the biography parser meet
here and nowhere else, so either side can change without the other.
Coordinates are PDF points with a top-left origin; for images, pixels are
converted to points at the rendering dpi.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from gateway.pluginspec import BBox, Method


@dataclass(frozen=True, slots=True)
class Word:
    text: str
    bbox: BBox
    confidence: float  # 0..1; 1.0 for a born-digital text layer
    # Read by a second reading of ink the page's reading left unread (beside a
    # photo frame, a rule): the record's provenance says the value was read again.
    reread: bool = False
    own_language: bool = False  # replaced by a second reading (extractors.own_language)


@dataclass(frozen=True, slots=True)
class Line:
    """Words a reader grouped into one visual line, left to right."""

    words: tuple[Word, ...]

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)

    @property
    def bbox(self) -> BBox:
        return (
            min(w.bbox[0] for w in self.words),
            min(w.bbox[1] for w in self.words),
            max(w.bbox[2] for w in self.words),
            max(w.bbox[3] for w in self.words),
        )

    @property
    def confidence(self) -> float:
        return min(w.confidence for w in self.words)


@dataclass(frozen=True, slots=True)
class ImageRegion:
    """Where a picture sits on the page (embedded image or detected photo)."""

    bbox: BBox
    photo_sha256: str


@dataclass(frozen=True, slots=True)
class PageText:
    page: int  # 1-based
    width: float
    height: float
    method: Method
    lines: tuple[Line, ...]
    images: tuple[ImageRegion, ...] = field(default_factory=tuple)
    # Degrees clockwise the reader turned the page to read it upright (0, 90, 180,
    # 270); coordinates above are in the upright frame. 0 for text layers.
    rotation: int = 0
    # Degrees the reader then turned the upright page by to straighten its lines
    # (the deskew, about the page's centre). 0 for text layers.
    skew: float = 0.0

    def to_source(self, bbox: BBox) -> BBox:
        """``bbox``, given in the upright, deskewed frame, on the page as it was sent.

        The page as sent is what a viewer shows (a PDF page with its
        ``/Rotate`` applied, an image as stored), so provenance boxes must be
        there.
        """
        (x, y), (w, h) = centre_on_source(
            ((bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2),
            (bbox[2] - bbox[0], bbox[3] - bbox[1]),
            (self.width, self.height), self.rotation, self.skew)
        width, height = ((self.height, self.width) if self.rotation in (90, 270)
                         else (self.width, self.height))
        x0, y0 = max(0.0, x - w / 2), max(0.0, y - h / 2)
        return (round(x0, 2), round(y0, 2), round(min(width, x0 + w), 2),
                round(min(height, y0 + h), 2))


def centre_on_source(centre: tuple[float, float], size: tuple[float, float],
                     upright: tuple[float, float], rotation: int, skew: float,
                     ) -> tuple[tuple[float, float], tuple[float, float]]:
    """A box's centre and size on the upright, deskewed page, moved to the page as it came.

    ``upright`` is that page's width and height; ``rotation`` the clockwise
    quarter turns the reader made, ``skew`` the turn it then made about the
    centre to straighten the lines. The centre goes back through the deskew
    and the quarter turns; the size only swaps on 90 and 270 (a box stays a
    box). Page readers and the parser both map through here, in pixels or
    in points.
    """
    (x, y), (w, h), (width, height) = centre, size, upright
    if skew:
        cx, cy, a = width / 2, height / 2, math.radians(skew)
        x, y = (cx + (x - cx) * math.cos(a) + (y - cy) * math.sin(a),
                cy - (x - cx) * math.sin(a) + (y - cy) * math.cos(a))
    if rotation == 90:
        return (y, width - x), (h, w)
    if rotation == 180:
        return (width - x, height - y), (w, h)
    if rotation == 270:
        return (height - y, x), (h, w)
    return (x, y), (w, h)
