"""Extraction accuracy on generated forms, per split, condition and language, with calibration.

Generates fictitious one-child forms (``tests/dossiers.py``, :func:`wide_dossier`)
in Ukrainian, Russian and English, in layouts, typefaces (one form in six filled
in by hand, its values in a cursive the OCR was not trained on) and label
wordings drawn from the seed, some with a framed photo set close to the
values, a stamp or a pen stroke over the text, or no sex field; each in five
conditions: born digital, 300-dpi scans, degraded scans (200 dpi, noise,
blur, JPEG, skew up to 3°), rotated scans (turned 90°, 180° or 270°) and
200-dpi phone photos (perspective, uneven light, a table around the page).
Runs them through the real ingestion engine (the built-in ``documents``
extractor, real Tesseract, the biography parser, output validation) and
compares every SPEC §4.1 member with the ground truth: exact match after
whitespace and case folding. A member the parser left ``null`` where the
truth has a value is wrong; so is a child not found. A record beyond the
children printed is spurious.

Two splits, from two seeds: ``dev`` (tuned on) and ``test`` (held out,
never tuned on). Both are reported; the targets (issue 12) apply to test.

Calibration (the scanned conditions): of the wrong members, the share the
record's ``review`` list names (strict), and the share named or left null
(what a caseworker is shown to check); and the share of all members
flagged. Also the same at other thresholds on the provenance confidence,
so a threshold can be chosen on dev. The hand-filled scans' errors are
counted apart as well: their records go to a person to transcribe, so what
is asked of them is that the review list names every wrong value.

    python bench/extraction_accuracy.py [--per-cell N] [--split dev|test|both]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.pluginspec import Limits, PartInput
from gateway.server.ingestion import Ingestor
from tests.dossiers import CONDITIONS, Condition, Dossier, Language, wide_dossier

LANGUAGES: tuple[Language, ...] = ("uk", "ru", "en")
AS_OF = date(2026, 3, 1)
SCALARS = (
    "family_name", "given_name", "patronymic", "sex", "birth_date", "birth_place",
    "displacement_date", "displacement_place", "current_location", "guardian",
)
SERVICES = ("medical", "psychological", "social", "education")
SEEDS = {"dev": 1_000_000, "test": 9_000_000}  # far apart: the splits never share a form
TARGETS: dict[Condition, float] = {"born digital": 1.0, "300 dpi": 0.99, "degraded": 0.98,
                                   "rotated": 0.98, "phone photo": 0.98}
SWEEP = (0.6, 0.7, 0.8, 0.85, 0.9)  # review thresholds tried on the provenance confidence


def fold(value: Any) -> Any:
    """Whitespace and case folding, as the issue defines exact match."""
    if isinstance(value, str):
        return " ".join(value.split()).casefold()
    if isinstance(value, dict):
        return {k: fold(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return sorted((fold(v) for v in value), key=repr)
    return value


@dataclass(frozen=True, slots=True)
class Member:
    """One compared member of one record."""

    name: str
    got: Any
    expected: Any
    correct: bool
    null: bool  # the record has no value for it
    flagged: bool  # named in the record's review list
    confidence: float | None  # the lowest provenance confidence behind it


def members(record: dict[str, Any] | None, truth: dict[str, Any]) -> Iterator[Member]:
    """Every member the truth defines, compared."""
    got = record or {}
    review = set(got.get("review") or ())
    provenance = got.get("provenance") or {}

    def member(name: str, value: Any, expected: Any, keys: list[str]) -> Member:
        confidences = [provenance[k]["confidence"] for k in keys if k in provenance]
        return Member(name, value, expected, fold(value) == fold(expected), value in (None, []),
                      any(k in review for k in keys), min(confidences) if confidences else None)

    for key in SCALARS:
        yield member(key, got.get(key), truth[key], [key])
    for key in SERVICES:
        yield member(f"services.{key}", (got.get("services") or {}).get(key),
                     truth["services"][key], [f"services.{key}"])
    contacts = [{k: c.get(k) for k in ("relation", "name", "place", "phone")}
                for c in got.get("family_contacts") or []]
    keys = [k for k in provenance if k.startswith("family_contacts.")]
    yield member("family_contacts", contacts, truth["family_contacts"], keys)


def corpus(split: str, per_cell: int) -> Iterator[tuple[Condition, Dossier]]:
    """(condition, dossier) for every condition x language, ``per_cell`` each."""
    n = SEEDS[split]
    for condition in CONDITIONS:
        for lang in LANGUAGES:
            for _ in range(per_cell):
                n += 1
                yield condition, wide_dossier(n, lang, condition)


@dataclass(slots=True)
class Tally:
    """Counts for one split."""

    right: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    total: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    misses: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    spurious: int = 0
    missing_children: int = 0
    scanned: list[Member] = field(default_factory=list)
    pages: int = 0
    # By condition and typeface: the hand-filled forms apart from the printed.
    face_right: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    face_total: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    hand_scanned: list[Member] = field(default_factory=list)  # of hand-filled scans alone


def run_split(split: str, per_cell: int, engine: Ingestor, tmp: Path, *,
              show: bool = False) -> Tally:
    tally = Tally()
    batch: list[tuple[Condition, Dossier]] = list(corpus(split, per_cell))
    parts = []
    for _, dossier in batch:
        path = dossier.write(tmp)
        parts.append(PartInput(dossier.filename, dossier.media_type, path, AS_OF))
    result = engine.extract(parts)
    for note in result.errors:
        print(f"  error: {note}", file=sys.stderr)
    by_part: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for found in result.records:
        by_part[found["source"]["part"]].append(found)
    for condition, dossier in batch:
        records = by_part.get(dossier.filename, [])
        tally.pages += len(dossier.page_lines)
        tally.spurious += max(0, len(records) - len(dossier.children))
        for index, child in enumerate(dossier.children):
            record = records[index] if index < len(records) else None
            tally.missing_children += record is None
            for m in members(record, child.truth()):
                cell = (condition, dossier.language)
                tally.total[cell] += 1
                tally.right[cell] += m.correct
                if not m.correct:
                    tally.misses[f"{condition}/{m.name}"] += 1
                    if show:  # fictitious children only: the generator's own values
                        print(f"  {dossier.filename} {m.name}: {m.got!r} != {m.expected!r} "
                              f"(confidence {m.confidence}, flagged {m.flagged})")
                face = "hand" if "-hand-" in dossier.filename else "printed"
                tally.face_total[(condition, face)] += 1
                tally.face_right[(condition, face)] += m.correct
                if condition != "born digital":
                    tally.scanned.append(m)
                    if face == "hand":
                        tally.hand_scanned.append(m)
    return tally


def report(split: str, tally: Tally, per_cell: int) -> bool:
    """Print one split's tables; whether every target is met."""
    print(f"\n[{split}] seed {SEEDS[split]}, {per_cell} forms per cell, {tally.pages} pages; "
          f"spurious records {tally.spurious}, children not found {tally.missing_children}")
    print(f"{'condition':<14}" + "".join(f"{lang:>8}" for lang in LANGUAGES)
          + f"{'all':>8}{'target':>8}")
    ok = tally.spurious == 0
    for condition, target in TARGETS.items():
        cells = [(condition, lang) for lang in LANGUAGES]
        overall = sum(tally.right[c] for c in cells) / max(1, sum(tally.total[c] for c in cells))
        row = "".join(f"{tally.right[c] / max(1, tally.total[c]):>8.1%}" for c in cells)
        mark = "" if overall >= target else "  below"
        ok &= overall >= target
        print(f"{condition:<14}{row}{overall:>8.1%}{target:>8.0%}{mark}")
    per_lang = "  ".join(
        f"{lang} {sum(tally.right[(c, lang)] for c in CONDITIONS) / max(1, sum(tally.total[(c, lang)] for c in CONDITIONS)):.1%}"  # noqa: E501
        for lang in LANGUAGES)
    print(f"per language, all conditions: {per_lang}")
    for face in ("printed", "hand"):
        present = [c for c in CONDITIONS if tally.face_total[(c, face)]]
        print(f"{face + ' forms:':<15}" + "  ".join(
            f"{c} {tally.face_right[(c, face)] / tally.face_total[(c, face)]:.1%}"
            f" ({tally.face_total[(c, face)]})" for c in present))
    if tally.misses:
        print("misses by member:", ", ".join(
            f"{k} {v}" for k, v in sorted(tally.misses.items(), key=lambda kv: -kv[1])[:14]))
    scanned = tally.scanned
    errors = [m for m in scanned if not m.correct]
    if scanned:
        flagged = sum(m.flagged for m in scanned)
        strict = sum(m.flagged for m in errors)
        shown = sum(m.flagged or m.null for m in errors)
        print(f"calibration (scanned conditions, {len(scanned)} members, {len(errors)} wrong): "
              f"review lists {strict}/{len(errors)} of the errors "
              f"({strict / max(1, len(errors)):.0%}), {shown}/{len(errors)} flagged or null "
              f"({shown / max(1, len(errors)):.0%}); flagged {flagged / len(scanned):.1%} "
              "of all members")
        sweep = []
        for threshold in SWEEP:
            low = [m for m in scanned if m.confidence is not None and m.confidence < threshold]
            caught = sum(1 for m in errors if m.null or (m.confidence is not None
                                                         and m.confidence < threshold))
            sweep.append(f"<{threshold:g}: flags {len(low) / len(scanned):.1%}, "
                         f"catches {caught / max(1, len(errors)):.0%}")
        print("  by threshold: " + "; ".join(sweep))
    hand_errors = [m for m in tally.hand_scanned if not m.correct]
    if hand_errors:
        # A hand-filled record is to be transcribed by a person: what matters is
        # that none of its wrong values passes as sure.
        named = sum(m.flagged for m in hand_errors)
        print(f"hand-filled scans: {len(hand_errors)} of {len(tally.hand_scanned)} members "
              f"wrong; review lists {named} ({named / len(hand_errors):.0%}), "
              f"{sum(m.flagged or m.null for m in hand_errors)} flagged or null")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-cell", type=int, default=4,
                        help="forms per condition and language, per split")
    parser.add_argument("--split", choices=("dev", "test", "both"), default="both")
    parser.add_argument("--show-dev-misses", action="store_true",
                        help="print each wrong member of the dev split (never of test)")
    args = parser.parse_args()
    splits = ("dev", "test") if args.split == "both" else (args.split,)
    started = time.perf_counter()
    ok = True
    with tempfile.TemporaryDirectory(prefix="dxg-accuracy-") as tmp, Ingestor(
        ["documents"], Limits(), workers=os.cpu_count() or 1
    ) as engine:
        tallies = {split: run_split(split, args.per_cell, engine, Path(tmp),
                                    show=args.show_dev_misses and split == "dev")
                   for split in splits}
    print(f"extraction accuracy: exact match per SPEC §4.1 member after whitespace/case "
          f"folding; {time.perf_counter() - started:.0f} s")
    for split, tally in tallies.items():
        passed = report(split, tally, args.per_cell)
        if split == "test":
            ok &= passed
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
