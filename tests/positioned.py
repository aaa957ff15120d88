"""Positioned text built as a page reader hands it over, for parser tests.

Words with boxes in PDF points (A4, top-left origin), about 6 pt per
character at a 12 pt line height.
"""

from __future__ import annotations

from extractors.layout import ImageRegion, Line, PageText, Word
from gateway.pluginspec import Method

CHAR = 6.0  # points per character
HEIGHT = 12.0  # points per line
SPACE = 4.0  # points between the words of one cell


def cell(x: float, y: float, text: str, confidence: float = 1.0) -> list[Word]:
    """The words of ``text`` set from ``x`` on the line at ``y``."""
    words = []
    for part in text.split():
        width = len(part) * CHAR
        words.append(Word(part, (x, y, x + width, y + HEIGHT), confidence))
        x += width + SPACE
    return words


def row(y: float, *cells: tuple[float, str], confidence: float = 1.0) -> Line:
    """One visual line holding several cells, e.g. label and value."""
    return Line(tuple(w for x, text in cells for w in cell(x, y, text, confidence)))


def page(
    *lines: Line,
    number: int = 1,
    method: Method = "text",
    images: tuple[ImageRegion, ...] = (),
) -> PageText:
    return PageText(number, 595.0, 842.0, method, tuple(lines), images)
