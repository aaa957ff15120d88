"""Example DXG extractor: 'DXG-CARD v1' registration cards in a PDF's text layer.

A card page's text starts with ``DXG-CARD v1``; every following line is
``key = value`` with a key among :data:`FIELDS`. Each card page becomes one
biography record. Pages that are not cards are skipped; a card with an
unknown key is reported in a warning that names the key's line number, never
its value (values are personal data).

Only ``gateway.pluginspec`` is imported from the gateway, as the contract
requires; PyMuPDF is the gateway's own dependency.
"""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Any

import pymupdf

from gateway.pluginspec import ExtractionFailed, ExtractorOutput, PageReport, PartInput

MAGIC = "DXG-CARD v1"
FIELDS = (
    "family_name", "given_name", "patronymic", "sex", "birth_date", "birth_place",
    "displacement_date", "displacement_place", "current_location", "guardian",
)
LATIN = ("family_name", "given_name", "patronymic")
SERVICES = ("medical", "psychological", "social", "education")


class CardExtractor:
    """The plugin object the ``factory`` entry point returns."""

    name = "example-cards"
    version = "1.0.0"

    def accepts(self, media_type: str) -> bool:
        return media_type == "application/pdf"

    def extract(self, part: PartInput) -> ExtractorOutput:
        try:
            doc = pymupdf.open(part.path)
        except Exception as exc:  # PyMuPDF raises several types for broken files
            raise ExtractionFailed("the PDF cannot be opened") from exc
        with doc:
            if doc.needs_pass:
                raise ExtractionFailed("the PDF is encrypted")
            if doc.page_count > part.limits.max_pages:
                raise ExtractionFailed(f"the PDF has more than {part.limits.max_pages} pages")
            records: list[dict[str, Any]] = []
            pages: list[PageReport] = []
            warnings: list[str] = []
            for number in range(1, doc.page_count + 1):
                lines = _lines(doc[number - 1])
                if not lines or lines[0][0] != MAGIC:
                    continue
                pages.append(PageReport(page=number, method="text", confidence=1.0))
                record = _record(part, number, len(records), lines[1:], warnings)
                records.append(record)
        return ExtractorOutput(records=records, photos=[], pages=pages, warnings=warnings)


Line = tuple[str, list[float]]  # text, bbox [x0, y0, x1, y1] in PDF points


def _lines(page: Any) -> list[Line]:
    """The page's text lines in reading order, each with its bounding box."""
    grouped: dict[tuple[int, int], list[Any]] = {}
    for word in page.get_text("words", sort=True):  # x0, y0, x1, y1, text, block, line, n
        grouped.setdefault((word[5], word[6]), []).append(word)
    lines = []
    for words in grouped.values():
        text = " ".join(w[4] for w in words)
        bbox = [min(w[0] for w in words), min(w[1] for w in words),
                max(w[2] for w in words), max(w[3] for w in words)]
        lines.append((text, [round(v, 2) for v in bbox]))
    return lines


def _record(part: PartInput, page: int, position: int, lines: list[Line],
            warnings: list[str]) -> dict[str, Any]:
    values: dict[str, str] = {}
    boxes: dict[str, list[float]] = {}
    for i, (line, bbox) in enumerate(lines, start=2):
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or key not in FIELDS:
            warnings.append(f"page {page}, line {i}: not a card field; skipped")
            continue
        values[key] = value.strip()
        boxes[key] = bbox
    record_id = hashlib.sha256(f"{part.name}/{page}/{position}".encode()).hexdigest()[:32]
    sex = {"f": "female", "m": "male"}.get(values.get("sex", "").lower()[:1])
    provenance = {
        key: {"page": page, "bbox": boxes[key], "method": "text", "confidence": 1.0}
        for key in values
    }
    return {
        "record_id": record_id,
        **{key: values.get(key) or None for key in FIELDS if key != "sex"},
        "sex": sex,
        # This registry prints names in Latin script already, so no transliteration
        # is needed; a plugin for Cyrillic forms would transliterate (SPEC §4.1).
        "latin": {key: None for key in LATIN},
        "other_names": [],
        "family_contacts": [],
        "services": {key: None for key in SERVICES},
        "photos": [],
        "age": _age(values.get("birth_date"), values.get("displacement_date"), part.as_of),
        "source": {"part": part.name, "pages": [page], "method": "text"},
        "provenance": provenance,
        "confidence": 1.0,
    }


def _age(born: str | None, displaced: str | None, as_of: date) -> dict[str, Any]:
    def years(start: date, end: date) -> int:
        return end.year - start.year - ((end.month, end.day) < (start.month, start.day))

    try:
        birth = date.fromisoformat(born) if born else None
        moved = date.fromisoformat(displaced) if displaced else None
    except ValueError:
        birth = moved = None
    if birth is None:
        return {"years": None, "at_displacement": None, "turned_18_since_displacement": None}
    at_displacement = years(birth, moved) if moved else None
    now = years(birth, as_of)
    return {
        "years": now,
        "at_displacement": at_displacement,
        "turned_18_since_displacement": (
            None if at_displacement is None else at_displacement < 18 <= now
        ),
    }


def factory() -> CardExtractor:
    """The ``dxg.extractors`` entry point: a zero-argument factory."""
    return CardExtractor()
