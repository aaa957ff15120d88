"""Positioned text: what a page reader (text layer or OCR) hands the parser.

The page readers (PDF text layer, Tesseract) and the biography parser meet
here and nowhere else, so either side can change without the other.
Coordinates are PDF points with a top-left origin; for images, pixels are
converted to points at the rendering dpi.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.pluginspec import BBox, Method


@dataclass(frozen=True, slots=True)
class Word:
    text: str
    bbox: BBox
    confidence: float  # 0..1; 1.0 for a born-digital text layer


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
