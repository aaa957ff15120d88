"""The extractor contract: the one module an extractor plugin imports.

An extractor turns one part of a dossier (a PDF or an image, as a file on
disk) into biography records, photos and page reports. Built-in extractors
in ``extractors/`` load exactly like third-party ones: through the entry
point group ``dxg.extractors``, each entry naming a zero-argument factory
that returns an :class:`Extractor`. The gateway runs only the extractors its
configuration allows, and validates everything they return as untrusted
input (records against ``schemas/biography.v1.json``).

Invariants a plugin must keep:
- it never guesses: a value not found is ``None`` (lists: ``[]``);
- it reads only ``PartInput.path`` and writes nothing outside a temporary
  directory of its own;
- it respects ``PartInput.limits`` and raises :class:`ExtractionFailed` with
  a message free of personal data when a document cannot be processed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

# Part of the contract: the project's transliteration (SPEC §4.1) and its
# knowledge of names across scripts (given names with their sex, patronymics),
# so that plugins spell the ``latin`` member exactly as the gateway's other
# extractors do and check names against the same tables the matching uses.
from gateway.protocol import names
from gateway.protocol.names import translit

__all__ = [
    "ENTRY_POINT_GROUP",
    "BBox",
    "ExtractionFailed",
    "Extractor",
    "ExtractorOutput",
    "Limits",
    "Method",
    "PageReport",
    "PartInput",
    "Photo",
    "ProgressSink",
    "names",
    "report_progress",
    "set_progress_sink",
    "translit",
]

ENTRY_POINT_GROUP = "dxg.extractors"

Method = Literal["text", "ocr"]
BBox = tuple[float, float, float, float]  # x0, y0, x1, y1 in PDF points (1/72 in), top-left origin


@dataclass(frozen=True, slots=True)
class Limits:
    """Caps that bound the work and memory one part may cost."""

    max_pages: int = 1000
    max_pixels_per_page: int = 40_000_000  # ~ A3 at 400 dpi; bigger is a bomb
    page_timeout_s: float = 60.0
    document_timeout_s: float = 900.0
    dpi: int = 300


@dataclass(frozen=True, slots=True)
class PartInput:
    """One part handed to an extractor."""

    name: str
    media_type: str
    path: Path
    as_of: date  # ages are counted up to this day
    limits: Limits = field(default_factory=Limits)
    workers: int = 1  # processes the extractor may run at once for this part (cores it is given)


@dataclass(frozen=True, slots=True)
class Photo:
    """A photo found in a part, as bytes exactly as extracted."""

    sha256: str
    media_type: str
    width: int
    height: int
    page: int
    data: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class PageReport:
    page: int  # 1-based
    method: Method
    confidence: float  # 0..1


@dataclass(frozen=True, slots=True)
class ExtractorOutput:
    """What one extractor found in one part."""

    records: list[dict[str, Any]]
    photos: list[Photo]
    pages: list[PageReport]
    warnings: list[str] = field(default_factory=list)


ProgressSink = Callable[[int, int], None]
_progress_sink: ProgressSink | None = None


def report_progress(done: int, total: int) -> None:
    """Tell the caller how far a long part has come: ``done`` of ``total`` pages.

    Optional for a plugin; cheap to call once per page. Outside the gateway's
    sandbox (a plugin's own tests) it does nothing.
    """
    if _progress_sink is not None:
        _progress_sink(done, total)


def set_progress_sink(sink: ProgressSink | None) -> None:
    """Where :func:`report_progress` goes (the gateway's sandbox sets it)."""
    global _progress_sink  # noqa: PLW0603 - one sink per sandbox process, by design
    _progress_sink = sink


class ExtractionFailed(Exception):
    """The part could not be processed; the message holds no personal data."""


@runtime_checkable
class Extractor(Protocol):
    """An extractor plugin."""

    name: str
    version: str

    def accepts(self, media_type: str) -> bool:
        """Whether this extractor handles parts of ``media_type``."""
        ...

    def extract(self, part: PartInput) -> ExtractorOutput:
        """Extract records, photos and page reports from one part.

        Raises:
            ExtractionFailed: the part is encrypted, broken, hostile or over a limit.
        """
        ...
