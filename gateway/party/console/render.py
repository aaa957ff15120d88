"""Pages of a pulled part as PNG images, for the record view.

A PDF page or an image frame is rendered with PyMuPDF at :data:`ZOOM`
(off the event loop: the caller runs :func:`render_page` in a thread) and
kept in the console's cache. The record view draws the provenance boxes
over it in PDF points (top-left origin), so the page's size in points is
returned with the image. An image's points are its pixels at its own dpi
(72 when it has none), as the extractor counts them.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymupdf as _pymupdf

from gateway.protocol.errors import Invalid, NotFound

pymupdf: Any = _pymupdf  # partially annotated; Any at this boundary
ZOOM = 2.0  # 144 dpi: fields read comfortably on a laptop screen, a page stays under ~1 MB
MAX_PAGE = 10_000  # a page number beyond any dossier's: refuse before opening the file


@dataclass(frozen=True, slots=True)
class PageSize:
    """A page's size in PDF points."""

    width: float
    height: float


def page_size(part: Path, page: int) -> PageSize:
    """The size in points of 1-based ``page`` of ``part``.

    Raises:
        NotFound: the part has no such page.
        Invalid: the part cannot be opened as a document or image.
    """
    with _open(part) as doc:
        rect = _page(doc, page).rect
        return PageSize(float(rect.width), float(rect.height))


def render_page(part: Path, page: int, cache: Path) -> bytes:
    """PNG bytes of 1-based ``page`` of ``part``, rendered once and cached.

    Raises:
        NotFound: the part has no such page.
        Invalid: the part cannot be opened as a document or image.
    """
    digest = hashlib.sha256(str(part.resolve()).encode()).hexdigest()[:32]
    cached = cache / f"{digest}-{page}.png"
    if cached.is_file():
        return cached.read_bytes()
    with _open(part) as doc:
        pixmap = _page(doc, page).get_pixmap(matrix=pymupdf.Matrix(ZOOM, ZOOM), alpha=False)
        data: bytes = pixmap.tobytes("png")
    cache.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, cached)
    return data


def _open(part: Path) -> Any:
    if not part.is_file():
        raise NotFound("no such part")
    try:
        return pymupdf.open(part)
    except (RuntimeError, ValueError) as exc:
        raise Invalid("this part cannot be shown as a page") from exc


def _page(doc: Any, page: int) -> Any:
    if not 1 <= page <= min(MAX_PAGE, doc.page_count):
        raise NotFound("no such page")
    return doc[page - 1]
