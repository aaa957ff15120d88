"""Extraction accuracy on the generated corpus, per condition and language.

Generates fictitious dossiers (``tests/dossiers.py``) in Ukrainian, Russian
and English, in three conditions — born digital, clean 300-dpi scans, and
degraded scans (200 dpi, noise, blur, JPEG artefacts, skew up to 3°, pages
turned 90° and 180°) — runs them through the real ingestion engine (the
built-in ``documents`` extractor, real Tesseract, the biography parser) and
compares every SPEC §4.1 member with the ground truth: exact match after
whitespace and case folding. A member the parser left ``null`` where the
truth has a value counts as wrong, and so does a child not found at all.

    python bench/extraction_accuracy.py [--per-cell N] [--seed S]

Targets (issue 3): born digital 100 %; clean 300-dpi scans >= 98 %;
degraded scans >= 95 %; Cyrillic as good as English.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any, Literal

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.pluginspec import Limits, PartInput
from gateway.server.ingestion import Ingestor
from tests.dossiers import Dossier, Language, Layout, ScanStyle, make_dossier

LANGUAGES: tuple[Language, ...] = ("uk", "ru", "en")
LAYOUTS: tuple[Layout, ...] = ("left", "above", "table")
AS_OF = date(2026, 3, 1)
Format = Literal["PDF", "PNG", "JPEG", "TIFF"]
FORMATS: tuple[Format, ...] = ("PDF", "PNG", "JPEG", "TIFF")
SCALARS = (
    "family_name", "given_name", "patronymic", "sex", "birth_date", "birth_place",
    "displacement_date", "displacement_place", "current_location", "guardian",
)
SERVICES = ("medical", "psychological", "social", "education")
TARGETS = {"born digital": 1.0, "clean 300 dpi": 0.98, "degraded": 0.95}


def fold(value: Any) -> Any:
    """Whitespace and case folding, as the issue defines exact match."""
    if isinstance(value, str):
        return " ".join(value.split()).casefold()
    if isinstance(value, dict):
        return {k: fold(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return sorted((fold(v) for v in value), key=repr)
    return value


def members(record: dict[str, Any] | None, truth: dict[str, Any]) -> Iterator[tuple[str, bool]]:
    """(member, correct) for every member the truth defines."""
    got = record or {}
    for key in SCALARS:
        yield key, fold(got.get(key)) == fold(truth[key])
    for key in SERVICES:
        yield f"services.{key}", fold((got.get("services") or {}).get(key)) == fold(
            truth["services"][key])
    contacts = [{k: c.get(k) for k in ("relation", "name", "place", "phone")}
                for c in got.get("family_contacts") or []]
    yield "family_contacts", fold(contacts) == fold(truth["family_contacts"])


def corpus(per_cell: int, seed: int) -> Iterator[tuple[str, Dossier]]:
    """(condition, dossier) for every condition x language, ``per_cell`` each."""
    n = seed
    for lang in LANGUAGES:
        for i in range(per_cell):
            layout = LAYOUTS[i % len(LAYOUTS)]
            bilingual = i % 2 == 1
            n += 1
            yield "born digital", make_dossier(n, lang=lang, layout=layout, bilingual=bilingual,
                                               children=2)
            n += 1
            yield "clean 300 dpi", make_dossier(
                n, lang=lang, layout=layout, bilingual=bilingual,
                scan=ScanStyle(dpi=300, jpeg_quality=90), fmt="PDF")
            n += 1
            degraded = ScanStyle(dpi=200, skew=(-3.0, 1.5, 3.0)[i % 3], noise=12.0, blur=0.6,
                                 jpeg_quality=60, turn=(0, 90, 180)[i % 3])
            fmt: Format = FORMATS[i % len(FORMATS)]
            yield "degraded", make_dossier(n, lang=lang, layout=layout, bilingual=bilingual,
                                           scan=degraded, fmt=fmt)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-cell", type=int, default=4,
                        help="dossiers per condition and language")
    parser.add_argument("--seed", type=int, default=1000)
    args = parser.parse_args()

    right: dict[tuple[str, str], int] = defaultdict(int)
    total: dict[tuple[str, str], int] = defaultdict(int)
    wrong_members: dict[str, int] = defaultdict(int)
    started = time.perf_counter()
    pages = 0
    with tempfile.TemporaryDirectory(prefix="dxg-accuracy-") as tmp, Ingestor(
        ["documents"], Limits(), workers=os.cpu_count() or 1
    ) as engine:
        for condition, dossier in corpus(args.per_cell, args.seed):
            path = dossier.write(Path(tmp))
            result = engine.extract([PartInput(dossier.filename, dossier.media_type, path,
                                               AS_OF)])
            pages += len(dossier.page_lines)
            for note in result.errors:
                print(f"  error in {dossier.filename}: {note}", file=sys.stderr)
            for index, child in enumerate(dossier.children):
                record = result.records[index] if index < len(result.records) else None
                for member, ok in members(record, child.truth()):
                    cell = (condition, dossier.language)
                    total[cell] += 1
                    right[cell] += ok
                    if not ok:
                        wrong_members[f"{condition}/{member}"] += 1
    elapsed = time.perf_counter() - started

    print(f"extraction accuracy: {args.per_cell} dossiers per cell, {pages} pages, "
          f"{elapsed:.0f} s, exact match per SPEC §4.1 member after whitespace/case folding")
    print(f"{'condition':<15}" + "".join(f"{lang:>9}" for lang in LANGUAGES)
          + f"{'all':>9}{'target':>9}")
    failed = False
    for condition, target in TARGETS.items():
        cells = [(condition, lang) for lang in LANGUAGES]
        overall = sum(right[c] for c in cells) / max(1, sum(total[c] for c in cells))
        row = "".join(f"{right[c] / max(1, total[c]):>9.1%}" for c in cells)
        mark = "" if overall >= target else "  below target"
        failed |= overall < target
        print(f"{condition:<15}{row}{overall:>9.1%}{target:>9.0%}{mark}")
    if wrong_members:
        print("misses by member:", ", ".join(
            f"{k} {v}" for k, v in sorted(wrong_members.items(), key=lambda kv: -kv[1])[:12]))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
