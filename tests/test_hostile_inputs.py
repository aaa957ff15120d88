"""Hostile parts end as clear errors, within the caps, whether read directly or via the engine."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import pytest

from extractors.documents import DocumentsExtractor
from gateway.pluginspec import ExtractionFailed, Limits, PartInput
from gateway.server.ingestion import Ingestor
from tests.dossiers import Hostile, ScanStyle, hostile_inputs, make_dossier

AS_OF = date(2026, 3, 1)
HOSTILE = ["encrypted.pdf", "truncated-header.pdf", "truncated.pdf", "garbage.pdf", "empty.pdf",
           "loop.pdf", "10000-pages.pdf", "huge-page.pdf", "bomb.png", "truncated.png",
           "garbage.jpg", "javascript.pdf"]
FAST_S = 10.0  # every refusal here is made from headers and counts, before any real work


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Hostile, Path]]:
    directory = tmp_path_factory.mktemp("hostile")
    out = {}
    for case in hostile_inputs():
        path = directory / case.filename
        path.write_bytes(case.data)
        out[case.filename] = (case, path)
    return out


def test_the_generator_makes_every_case(hostile: dict[str, tuple[Hostile, Path]]) -> None:
    assert sorted(hostile) == sorted(HOSTILE)


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_input_ends_clearly_within_the_caps(
        hostile: dict[str, tuple[Hostile, Path]], name: str) -> None:
    case, path = hostile[name]
    part = PartInput(name, case.media_type, path, AS_OF, workers=2)
    start = time.monotonic()
    if case.warning:
        result = DocumentsExtractor().read(part)
        assert any(case.expect in w.lower() for w in result.warnings)
    else:
        with pytest.raises(ExtractionFailed) as err:
            DocumentsExtractor().read(part)
        assert case.expect in str(err.value).lower()
    assert time.monotonic() - start < FAST_S


def test_javascript_is_never_run_and_the_text_is_still_read(
        hostile: dict[str, tuple[Hostile, Path]]) -> None:
    case, path = hostile["javascript.pdf"]
    result = DocumentsExtractor().read(PartInput(case.filename, case.media_type, path, AS_OF))
    assert [r.method for r in result.reports] == ["text"]
    assert result.pages[0].lines


def test_10000_pages_are_refused_before_any_page_is_loaded(
        hostile: dict[str, tuple[Hostile, Path]]) -> None:
    case, path = hostile["10000-pages.pdf"]
    start = time.monotonic()
    with pytest.raises(ExtractionFailed, match="10000 pages, over the limit of 1000"):
        DocumentsExtractor().read(PartInput(case.filename, case.media_type, path, AS_OF))
    assert time.monotonic() - start < 2.0


def test_page_limit_is_configurable(tmp_path: Path) -> None:
    dossier = make_dossier(40, children=3)
    part = PartInput(dossier.filename, dossier.media_type, dossier.write(tmp_path), AS_OF,
                     limits=Limits(max_pages=2))
    with pytest.raises(ExtractionFailed, match="3 pages, over the limit of 2"):
        DocumentsExtractor().read(part)


def test_pixel_limit_is_checked_before_rendering(tmp_path: Path) -> None:
    dossier = make_dossier(41, scan=ScanStyle(dpi=200))
    part = PartInput(dossier.filename, dossier.media_type, dossier.write(tmp_path), AS_OF,
                     limits=Limits(max_pixels_per_page=1_000_000))
    with pytest.raises(ExtractionFailed, match="million pixels"):
        DocumentsExtractor().read(part)


def test_page_time_limit_stops_ocr(tmp_path: Path) -> None:
    dossier = make_dossier(42, scan=ScanStyle(dpi=300))
    part = PartInput(dossier.filename, dossier.media_type, dossier.write(tmp_path), AS_OF,
                     limits=Limits(page_timeout_s=0.1))
    start = time.monotonic()
    with pytest.raises(ExtractionFailed, match=r"page 1: (OCR timed out|no time left|rendering)"):
        DocumentsExtractor().read(part)
    assert time.monotonic() - start < 5.0


def test_document_time_limit_stops_the_pool(tmp_path: Path) -> None:
    dossier = make_dossier(43, children=4, scan=ScanStyle(dpi=300))
    part = PartInput(dossier.filename, dossier.media_type, dossier.write(tmp_path), AS_OF,
                     limits=Limits(document_timeout_s=1.0), workers=2)
    start = time.monotonic()
    with pytest.raises(ExtractionFailed, match=r"(longer than its limit of 1 s|timed out|no time)"):
        DocumentsExtractor().read(part)
    assert time.monotonic() - start < 6.0


def test_every_hostile_input_is_an_error_entry_through_the_engine(
        hostile: dict[str, tuple[Hostile, Path]]) -> None:
    parts = [PartInput(name, case.media_type, path, AS_OF)
             for name, (case, path) in sorted(hostile.items())]
    with Ingestor(["documents"], Limits(), 2) as engine:
        result = engine.extract(parts)
    expected = {name for name, (case, _) in hostile.items() if not case.warning}
    assert len(result.errors) == len(expected)
    for error in result.errors:
        name = error.removeprefix("part ").split(",", 1)[0]
        assert name in expected
        assert error.startswith(f"part {name}, extractor documents: failed: ")
        assert hostile[name][0].expect in error.lower()
    for name in ("javascript.pdf", "truncated.pdf"):
        assert any(w.startswith(f"part {name}, extractor documents: ") and
                   hostile[name][0].expect in w for w in result.warnings)
