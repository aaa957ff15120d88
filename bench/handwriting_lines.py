"""Values written in by hand, line by line: the handwriting recogniser beside Tesseract.

The hand-filled forms of ``bench/extraction_accuracy.py`` write their
values in SteveHand (``tests/dossiers.py``), a hand the recogniser
(``extractors/handwriting.py``) never saw in training. This bench takes
the children of those forms, per split (the same seeds: ``dev`` and the
held-out ``test``), writes each value as the generator does, scans the
page at 300 dpi (light noise, JPEG 90) and as a degraded 200-dpi scan
(noise, blur, JPEG 60), cuts out each value line, and reads it with the
recogniser in the form's script, again with its words snapped to known
ones of the kind its field holds as the extractor does ("+ known"), and
with Tesseract alone on the crop (``--psm 7``, the form's languages). It
reports the character error rate (edit distance over the truth's length)
and the share of lines read exactly, per split, resolution and field.

    python -m bench.handwriting_lines [--forms N] [--split dev|test|both] [--show-dev-misses]
"""

from __future__ import annotations

import argparse
import random
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pymupdf
import pytesseract
from PIL import Image
from rapidfuzz.distance import Levenshtein

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.extraction_accuracy import SEEDS
from extractors import handwriting
from extractors.documents import HAND_KINDS
from tests.dossiers import (
    FONT,
    HAND_FONT,
    HAND_SHARE,
    Language,
    ScanStyle,
    make_wide_child,
    random_style,
    scan_page,
)

SCANS = {"300 dpi": ScanStyle(dpi=300, noise=3.0, jpeg_quality=90),
         "degraded": ScanStyle(dpi=200, noise=12.0, blur=0.6, jpeg_quality=60)}
TESSERACT_LANGUAGES = {"uk": "ukr+eng", "ru": "rus+eng", "en": "eng"}
LANGUAGES: tuple[Language, ...] = ("uk", "ru", "en")


@dataclass(frozen=True, slots=True)
class ValueLine:
    """One value written in by hand, as scanned, with its truth."""

    member: str
    truth: str
    scan: str
    ink: npt.NDArray[np.float32]  # 1.0 is full ink
    language: Language


def hand_seeds(split: str, forms: int) -> list[int]:
    """The first ``forms`` seeds of ``split`` whose forms are filled in by hand."""
    seeds: list[int] = []
    seed = SEEDS[split]
    while len(seeds) < forms:
        seed += 1
        if random.Random(f"hand-{seed}").random() < HAND_SHARE:
            seeds.append(seed)
    return seeds


def value_lines(seed: int, lang: Language) -> list[ValueLine]:
    """Every value of the child of ``seed`` written in the hand and scanned both ways."""
    rng = random.Random(seed)
    child = make_wide_child(rng, lang)
    size = random_style(rng, lang).size
    hand, fallback = pymupdf.Font(fontfile=HAND_FONT), pymupdf.Font(fontfile=FONT)
    doc = pymupdf.open()
    page = doc.new_page(width=595, height=842)
    boxes: list[tuple[str, str, tuple[float, float, float, float]]] = []
    y = 60.0
    for member, value in child.fields():
        x = 56.0
        for ch in value:  # SteveHand has no "№": the generator sets it in DejaVu Sans
            own = ch == " " or hand.has_glyph(ord(ch))
            page.insert_text((x, y), ch, fontsize=size, fontname="wh" if own else "wf",
                             fontfile=HAND_FONT if own else FONT)
            x += (hand if own else fallback).text_length(ch, fontsize=size)
        boxes.append((member, value, (50, y - size * 1.05, x + 6, y + size * 0.45)))
        y += size * 2.4
    out: list[ValueLine] = []
    for scan, style in SCANS.items():
        img = scan_page(page, style, random.Random(seed * 7))
        ink = 1.0 - np.asarray(img.convert("L"), dtype=np.float32) / 255.0
        k = style.dpi / 72
        for member, value, (x0, y0, x1, y1) in boxes:
            crop = ink[int(y0 * k):int(y1 * k), int(x0 * k):int(x1 * k)]
            out.append(ValueLine(member, value, scan, crop, lang))
    doc.close()
    return out


def tesseract_line(line: ValueLine) -> str:
    """Tesseract alone on the crop, one line (``--psm 7``)."""
    img = Image.fromarray(((1.0 - np.clip(line.ink, 0, 1)) * 255).astype(np.uint8))
    text = pytesseract.image_to_string(img, lang=TESSERACT_LANGUAGES[line.language],
                                       config="--psm 7")
    return " ".join(str(text).split())


@dataclass(slots=True)
class Score:
    """Character errors and exact lines, for one reader and one group of lines."""

    errors: int = 0
    chars: int = 0
    exact: int = 0
    lines: int = 0

    def add(self, got: str, truth: str) -> None:
        self.errors += Levenshtein.distance(got, truth)
        self.chars += len(truth)
        self.exact += got == truth
        self.lines += 1

    def __str__(self) -> str:
        cer, exact = self.errors / max(1, self.chars), self.exact / max(1, self.lines)
        return f"CER {cer:6.1%}  exact {exact:6.1%}  ({self.lines} lines)"


def run(split: str, forms: int, *, show: bool) -> None:
    """Read ``forms`` hand-filled forms' values of ``split`` both ways and print the scores."""
    scores: dict[tuple[str, str, str], Score] = defaultdict(Score)
    for n, seed in enumerate(hand_seeds(split, forms)):
        for line in value_lines(seed, LANGUAGES[n % len(LANGUAGES)]):
            field_ = line.member.split(".")[0]
            script: handwriting.Script = "latin" if line.language == "en" else "cyrillic"
            reading = handwriting.read_line(line.ink, script)
            got = reading.text
            kind = HAND_KINDS.get(line.member)
            snapped = " ".join((handwriting.snap(reading, w, kind) if kind else None) or w.text
                               for w in handwriting.words(reading))
            scores[("recogniser", line.scan, "all")].add(got, line.truth)
            scores[("recogniser", line.scan, field_)].add(got, line.truth)
            scores[("+ known", line.scan, "all")].add(snapped, line.truth)
            scores[("+ known", line.scan, field_)].add(snapped, line.truth)
            scores[("tesseract", line.scan, "all")].add(tesseract_line(line), line.truth)
            if show and split == "dev" and got != line.truth:
                print(f"  miss {line.scan:8} {line.member:26} {line.truth!r} -> {got!r}")
    print(f"\n[{split}] {forms} hand-filled forms, seeds from {SEEDS[split]}")
    for scan in SCANS:
        for reader in ("tesseract", "recogniser", "+ known"):
            print(f"  {scan:8} {reader:10} {scores[(reader, scan, 'all')]}")
    fields = sorted({g for (r, _, g) in scores if r == "recogniser" and g != "all"})
    for scan in SCANS:
        for group in fields:
            print(f"  {scan:8} + known    {group:18} {scores[('+ known', scan, group)]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--forms", type=int, default=30, help="hand-filled forms per split")
    parser.add_argument("--split", choices=("dev", "test", "both"), default="dev")
    parser.add_argument("--show-dev-misses", action="store_true",
                        help="print each line of the dev split read wrong (never of test)")
    args = parser.parse_args()
    for split in ("dev", "test") if args.split == "both" else (args.split,):
        run(split, args.forms, show=args.show_dev_misses)
    return 0


if __name__ == "__main__":
    sys.exit(main())
