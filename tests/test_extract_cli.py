"""``gateway extract`` (SPEC §9), and page progress from the engine."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from gateway.pluginspec import Limits, PartInput
from gateway.protocol.errors import EXIT_REFUSED
from gateway.protocol.schemas import validate_biography
from gateway.server.ingestion import Ingestor
from tests.dossiers import ScanStyle, make_dossier
from tests.harness import run_cli


def test_extract_prints_the_records_photos_and_pages_of_local_files(tmp_path: Path) -> None:
    dossier = make_dossier(501, lang="ru", layout="table", children=2)
    path = dossier.write(tmp_path)
    photos = tmp_path / "photos"
    proc = run_cli("extract", str(path), "--as-of", "2026-03-01", "--photos", str(photos))
    out = json.loads(proc.stdout)
    assert out["as_of"] == "2026-03-01"
    assert [r["family_name"] for r in out["records"]] == [
        c.family_name for c in dossier.children]
    for record in out["records"]:
        validate_biography(record)
    assert [p["method"] for p in out["pages"]] == ["text", "text"]
    assert len(out["photos"]) == 2
    assert {p.name.split(".")[0] for p in photos.iterdir()} == {
        p["sha256"] for p in out["photos"]}


def test_extract_reports_a_broken_file_as_an_error_and_exits_refused(tmp_path: Path) -> None:
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.7\n" + b"\x00garbage" * 100)
    proc = run_cli("extract", str(broken), check=False)
    assert proc.returncode == EXIT_REFUSED
    out = json.loads(proc.stdout)
    assert out["records"] == []
    assert any("broken.pdf" in e for e in out["errors"])


def test_the_engine_reports_pages_of_a_long_part_as_they_are_read(tmp_path: Path) -> None:
    dossier = make_dossier(502, lang="uk", children=3, scan=ScanStyle(dpi=200))
    path = dossier.write(tmp_path)
    seen: list[tuple[str, int, int]] = []
    with Ingestor(["documents"], Limits(), workers=2) as engine:
        result = engine.extract(
            [PartInput(dossier.filename, dossier.media_type, path, date(2026, 3, 1))],
            pages=lambda part, done, total: seen.append((part, done, total)),
        )
    assert len(result.records) == 3
    assert [done for _, done, _ in seen] == [1, 2, 3]
    assert {(part, total) for part, _, total in seen} == {(dossier.filename, 3)}
