"""Calibration of the per-field confidence (``extractors/confidence.py``): fit and report.

The forms are those of ``bench/extraction_accuracy.py`` (``wide_dossier``:
three languages, five conditions, ``--per-cell`` forms each), read by the
real page reader (``extractors.documents``: rendering, real Tesseract,
deskewing, turning upright) and parsed by the real biography parser. A
reading is cached per form, keyed by the form's bytes and the reader's own
source, so refitting after a parser change costs no OCR, and a change to
the OCR reads afresh.

Every member of every record is compared with the truth (exact match after
whitespace and case folding), one per provenance key: the scalars, each
service, each relative (``family_contacts.N``). A member the truth has and
the record does not (null, or a child not found) is wrong; it is flagged
only if the record's ``review`` names it (a labelled value unread, an
identity member missing).

``--fit`` fits the model on the development split only (seed 1000000): a
logistic regression over the features of ``extractors.confidence``, L2
regularised (:data:`RIDGE`), weights held to their monotone signs (a weight
of the wrong sign is fixed at zero and the rest refitted), on every member
read by OCR. It then chooses the review threshold on the same split: the
lowest that puts at least :data:`TARGET_CAUGHT` of the wrong members in
review, of printed and of hand-filled forms apart, each threshold tried by
parsing the readings again as shipped (a record mostly under it is listed
whole), so as few right ones as possible are flagged, and writes
``extractors/confidence_model.json``. From cached readings the fit is
deterministic and takes seconds.

``--report`` prints, for both splits (the held-out one, seed 9000000, is
never fitted or tuned on), a reliability table (confidence bins: members,
mean confidence, observed accuracy) and at the model's threshold, per
condition, the share of wrong members flagged, of all members and of right
ones flagged, printed and hand-filled forms apart, the known given
names and patronymics by their weakest word, and the most of a printed
record's values under the threshold and the fewest of a hand-filled one's
(the margins of the parser's record-wide rule, ``biography.ILLEGIBLE_SHARE``),
and how many values under a ceiling were right; ``--compare`` adds an
earlier model file's figures on the same readings and, on the development
split, its weights with the threshold chosen again there by the same rule.

    python -m bench.extraction_calibration --fit [--per-cell N]
    python -m bench.extraction_calibration --report [--per-cell N] [--split dev|test|both]
        [--compare MODEL_JSON]
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import hashlib
import itertools
import json
import math
import os
import pickle
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.extraction_accuracy import AS_OF, LANGUAGES, SCALARS, SEEDS, SERVICES, fold
from extractors import biography, confidence, documents
from extractors.layout import PageText
from gateway.pluginspec import Limits, PartInput
from tests.dossiers import CONDITIONS, Condition, Language, wide_dossier

ROOT = Path(__file__).resolve().parent.parent
MODEL_PATH = ROOT / "extractors" / confidence.MODEL_FILE
READER_SOURCES = (  # what a reading depends on: the page reader and its second readings
    "documents.py", "tesseract.py", "layout.py", "numerals.py", "own_language.py")
DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "dxg-calibration"
TARGET_CAUGHT = 0.80  # the review list must hold at least this share of the wrong members
RIDGE = 1.0  # L2 weight on the standardised features: ~100 errors fit no sharper than this
MAX_ITERATIONS = 100  # damped Newton steps; the fit converges in a few dozen at most
# A page's time limit here: on a loaded machine a form must not fail for its speed
# (a reading that ends in time is the same under any limit; speed is ocr_throughput's).
PAGE_TIMEOUT_S = 900.0
BINS = (0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 1.0)  # reliability table edges


@dataclass(frozen=True, slots=True)
class Sample:
    """One compared member: how it was read, whether it is right, whether it is flagged."""

    split: str
    condition: Condition
    key: str
    correct: bool
    evidence: confidence.Evidence | None  # None: no provenance (null, child not found)
    confidence: float | None
    listed: bool  # the record's review names it for a reason other than its confidence
    hand: bool = False  # on a hand-filled form (values in a cursive the OCR cannot read)


def reader_version() -> str:
    """A digest of the page reader's and the generator's source: a cached reading
    is valid while both hold."""
    digest = hashlib.sha256()
    for name in READER_SOURCES:
        digest.update((ROOT / "extractors" / name).read_bytes())
    digest.update((ROOT / "tests" / "dossiers.py").read_bytes())
    return digest.hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Reading:
    """One generated form as the page reader read it, with what it holds."""

    filename: str
    truths: tuple[dict[str, Any], ...]  # per child, Child.truth()
    pages: list[PageText]


def _generate_and_read(seed: int, language: Language, condition: Condition) -> Reading:
    form = wide_dossier(seed, language, condition)
    with tempfile.TemporaryDirectory(prefix="dxg-calibration-") as tmp:
        path = form.write(Path(tmp))
        part = PartInput(path.name, form.media_type, path, AS_OF,
                         Limits(page_timeout_s=PAGE_TIMEOUT_S, document_timeout_s=PAGE_TIMEOUT_S))
        pages = documents.DocumentsExtractor().read(part).pages
    return Reading(form.filename, tuple(c.truth() for c in form.children), pages)


def read_all(split: str, per_cell: int, cache: Path, workers: int) -> list[tuple[Condition,
                                                                             Reading]]:
    """Every form of a split, generated and read in ``workers`` processes, or from the cache."""
    cache.mkdir(parents=True, exist_ok=True)
    version = reader_version()
    plan = list(forms(split, per_cell))
    out: dict[int, Reading] = {}
    todo: list[tuple[int, Path]] = []
    for i, (seed, language, condition) in enumerate(plan):
        path = cache / f"{seed}-{language}-{condition.replace(' ', '-')}-{version}.pickle"
        if path.exists():
            # Our own cache, never a download; plain tuples, so it loads under any __name__.
            out[i] = Reading(*pickle.loads(path.read_bytes()))
        else:
            todo.append((i, path))
    with cf.ProcessPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(_generate_and_read, *plan[i]): (i, path) for i, path in todo}
        for done, future in enumerate(cf.as_completed(futures), start=1):
            i, path = futures[future]
            out[i] = future.result()
            path.write_bytes(pickle.dumps((out[i].filename, out[i].truths, out[i].pages)))
            print(f"\r  [{split}] read {done}/{len(todo)} forms", end="", file=sys.stderr,
                  flush=True)
    if todo:
        print(file=sys.stderr)
    return [(plan[i][2], out[i]) for i in range(len(plan))]


def forms(split: str, per_cell: int) -> list[tuple[int, Language, Condition]]:
    """(seed, language, condition) of every form, as ``extraction_accuracy.corpus`` draws them."""
    n = SEEDS[split]
    out = []
    for condition in CONDITIONS:
        for language in LANGUAGES:
            for _ in range(per_cell):
                n += 1
                out.append((n, language, condition))
    return out


def compare(record: dict[str, Any] | None, truth: dict[str, Any],
            illegible: bool = False) -> Iterable[tuple[str, bool, bool]]:
    """(provenance key, right, listed for review other than by confidence) per member.

    ``illegible``: the parser listed every member of the record (most read
    poorly), whatever each one's confidence.
    """
    got = record or {}
    review = set(got.get("review") or ())
    provenance = got.get("provenance") or {}

    def listed(key: str) -> bool:
        # A value a second reading of unread ink found is listed whatever its confidence.
        return key in review and (illegible or key not in provenance
                                  or bool(provenance[key].get("read_again")))

    for key in SCALARS:
        yield key, fold(got.get(key)) == fold(truth[key]), listed(key)
    for kind in SERVICES:
        key = f"services.{kind}"
        yield key, fold((got.get("services") or {}).get(kind)) == fold(truth["services"][kind]), \
            listed(key)
    found = [{k: c.get(k) for k in ("relation", "name", "place", "phone")}
             for c in got.get("family_contacts") or []]
    expected = truth["family_contacts"]
    for i in range(max(len(found), len(expected))):
        key = f"family_contacts.{i}"
        right = i < len(found) and i < len(expected) and fold(found[i]) == fold(expected[i])
        yield key, right, listed(key)


def samples(split: str, per_cell: int, cache: Path, workers: int) -> list[Sample]:
    """Every member of every form of one split, compared and with its evidence."""
    return parsed(split, read_all(split, per_cell, cache, workers))


def parsed(split: str, readings: Sequence[tuple[Condition, Reading]]) -> list[Sample]:
    """Every member of the readings, parsed and scored with the model in use
    (``confidence.model()``: its threshold decides which records are illegible)."""
    out: list[Sample] = []
    for condition, reading in readings:
        result = biography.parse(reading.filename, reading.pages, as_of=AS_OF)
        for index, truth in enumerate(reading.truths):
            record = result.records[index] if index < len(result.records) else None
            evidence = result.evidence.get(record["record_id"], {}) if record else {}
            provenance = record["provenance"] if record else {}
            illegible = record is not None and record["record_id"] in result.illegible
            for key, right, listed in compare(record, truth, illegible):
                if key in SCALARS and truth[key] is None and key not in provenance:
                    continue  # nothing printed and nothing read: not a member of this form
                out.append(Sample(split, condition, key, right, evidence.get(key),
                                  provenance[key]["confidence"] if key in provenance else None,
                                  listed, hand="-hand-" in reading.filename))
    return out


# -- fitting --------------------------------------------------------------------------


def design(rows: Sequence[confidence.Evidence]) -> npt.NDArray[np.float64]:
    """Features then one indicator per kind group (the groups' offsets)."""
    x = np.array([e.vector() for e in rows], dtype=np.float64)
    groups = np.array([[float(confidence.KIND_GROUPS[e.kind] == g) for g in confidence.GROUPS]
                       for e in rows], dtype=np.float64)
    return np.hstack([x, groups])


def fit_logistic(x: npt.NDArray[np.float64], y: npt.NDArray[np.float64], signs: Sequence[int],
                 ridge: float = RIDGE) -> npt.NDArray[np.float64]:
    """Weights of a logistic regression without a global intercept (the group columns
    are one), L2-penalised on standardised features, each held to its sign (0: free).

    Damped Newton steps; the weight furthest on the wrong side of its sign is
    fixed at zero and the others are refitted, until every sign holds.
    """
    k = x.shape[1]
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0  # a constant column (up to rounding) is not scaled up
    is_group = np.array([s == 0 and i >= len(confidence.FEATURES) for i, s in enumerate(signs)])
    scale[is_group] = 1.0  # indicators stand for offsets: not standardised, not penalised
    penalty = np.where(is_group, 1e-6, ridge)
    active = np.ones(k, dtype=bool)
    while True:
        z = x[:, active] / scale[active]
        lam = penalty[active]

        def loss(v: npt.NDArray[np.float64], z: npt.NDArray[np.float64] = z,
                 lam: npt.NDArray[np.float64] = lam) -> float:
            # Negative penalised log-likelihood; logaddexp keeps it finite.
            margin = z @ v
            return float(np.sum(np.logaddexp(0, margin) - y * margin) + 0.5 * lam @ (v * v))

        w = np.zeros(int(active.sum()))
        for _ in range(MAX_ITERATIONS):
            p = 1.0 / (1.0 + np.exp(-np.clip(z @ w, -50, 50)))
            gradient = z.T @ (p - y) + lam * w
            hessian = (z.T * (p * (1 - p))) @ z + np.diag(lam)
            step = np.linalg.lstsq(hessian, gradient, rcond=None)[0]
            before, t = loss(w), 1.0
            while loss(w - t * step) > before and t > 1e-6:
                t /= 2  # damped: a Newton step never makes the fit worse
            w -= t * step
            if np.max(np.abs(t * step)) < 1e-8:
                break
        full = np.zeros(k)
        full[active] = w / scale[active]
        wrong = [i for i in range(k) if active[i] and signs[i] * full[i] < 0]
        if not wrong:
            return full
        # One at a time, the worst first: dropping one may set the others right.
        active[max(wrong, key=lambda i: abs(full[i] * scale[i]))] = False


def caught(rows: Sequence[Sample], threshold: float) -> tuple[float, float, float]:
    """(share of wrong members flagged, of all members flagged, of right ones flagged)."""
    flagged = [s.listed or (s.confidence is not None and s.confidence < threshold) for s in rows]
    wrong = [f for f, s in zip(flagged, rows, strict=True) if not s.correct]
    right = [f for f, s in zip(flagged, rows, strict=True) if s.correct]
    return (sum(wrong) / max(1, len(wrong)), sum(flagged) / max(1, len(rows)),
            sum(right) / max(1, len(right)))


def candidates(rows: Sequence[Sample]) -> list[float]:
    """Thresholds just above each confidence a wrong member has (a threshold flags
    what is strictly under it), ascending."""
    scores = {s.confidence for s in rows if not s.correct and s.confidence is not None
              and s.confidence < 1.0}
    return sorted({min(0.9999, round(c + 1e-4, 4)) for c in scores}) or [0.5]


def lowest_reaching(thresholds: Sequence[float], reaches: Callable[[float], bool]) -> float:
    """The first of ascending ``thresholds`` that ``reaches`` its target, by bisection
    (what a threshold flags only grows with it); the last if none does."""
    low, high = 0, len(thresholds) - 1
    if not reaches(thresholds[high]):
        return thresholds[high]
    while low < high:  # thresholds[high] reaches the target; find the first that does
        middle = (low + high) // 2
        if reaches(thresholds[middle]):
            high = middle
        else:
            low = middle + 1
    return thresholds[high]


def choose_threshold(rows: Sequence[Sample], target: float = TARGET_CAUGHT) -> float:
    """The lowest threshold that flags at least ``target`` of the wrong members.

    If no threshold reaches the target (wrong members nobody can flag: unread
    and unlisted), the one that catches the most.
    """
    return lowest_reaching(candidates(rows), lambda t: caught(rows, t)[0] >= target)


def caught_apart(rows: Sequence[Sample], threshold: float) -> float:
    """The lower share of wrong members flagged, of printed and of hand-filled forms
    apart (a group without a wrong member does not count)."""
    shares = [caught(group, threshold)[0] for group in (
        [s for s in rows if not s.hand], [s for s in rows if s.hand])
        if any(not s.correct for s in group)]
    return min(shares, default=1.0)


def choose_threshold_parsed(readings: Sequence[tuple[Condition, Reading]],
                            draft: confidence.Model,
                            target: float = TARGET_CAUGHT) -> float:
    """The lowest threshold at which review holds ``target`` of the wrong members of
    printed forms and of hand-filled forms apart, each candidate parsed as shipped.

    The record-wide rule (a record mostly under the threshold is all for review)
    depends on the threshold, so each candidate is scored by parsing the readings
    again with it, not by rescoring members one by one. Hand-filled values read
    at very low confidence would otherwise pull the threshold down: printed
    forms must reach the target on their own. Candidates lie just above each
    confidence a wrong member has; the share flagged grows with the threshold,
    so the lowest is found by bisection. If none reaches the target, the
    highest candidate.
    """
    confidence.set_model(replace(draft, threshold=0.5))  # scores do not depend on it

    def reaches(threshold: float) -> bool:
        confidence.set_model(replace(draft, threshold=threshold))
        return caught_apart(parsed("dev", readings), threshold) >= target

    return lowest_reaching(candidates(parsed("dev", readings)), reaches)


def fit(readings: Sequence[tuple[Condition, Reading]], per_cell: int) -> confidence.Model:
    """A model fitted on the development readings' members read by OCR, with its threshold."""
    confidence.set_model(confidence.neutral())  # the evidence, whatever the shipped file says
    dev = parsed("dev", readings)
    rows = [s for s in dev if s.evidence is not None and not s.evidence.certain]
    x = design([s.evidence for s in rows if s.evidence is not None])
    y = np.array([float(s.correct) for s in rows])
    signs = [confidence.SIGNS[f] for f in confidence.FEATURES] + [0] * len(confidence.GROUPS)
    w = fit_logistic(x, y, signs)
    features = len(confidence.FEATURES)
    draft = confidence.Model(
        version="draft", threshold=0.5,
        weights=tuple(round(float(v), 6) + 0.0 for v in w[:features]),  # + 0.0: no "-0.0"
        offsets={g: round(float(v), 6) for g, v in zip(confidence.GROUPS, w[features:],
                                                         strict=True)})
    threshold = choose_threshold_parsed(readings, draft)
    confidence.set_model(replace(draft, threshold=threshold))
    final = parsed("dev", readings)
    share, flagged, _ = caught(final, threshold)
    return confidence.Model(
        version=datetime.now(UTC).strftime("%Y-%m-%d") + f"-r{reader_version()[:8]}",
        threshold=threshold, weights=draft.weights, offsets=draft.offsets,
        fitted={
            "split": f"dev, seed {SEEDS['dev']}, {per_cell} forms per condition and language",
            "members": len(rows),
            "wrong": int(len(rows) - y.sum()),
            "method": f"logistic regression, L2 {RIDGE} on standardised features, "
                      "monotone signs; threshold: the lowest catching "
                      f"{TARGET_CAUGHT:.0%} of wrong members of printed and of "
                      "hand-filled forms apart, parsed as shipped",
            "dev_wrong_flagged": round(share, 4),  # all conditions, born digital included
            "dev_wrong_flagged_printed": round(caught([s for s in final if not s.hand],
                                                      threshold)[0], 4),
            "dev_wrong_flagged_hand": round(caught([s for s in final if s.hand],
                                                   threshold)[0], 4),
            "dev_all_flagged": round(flagged, 4),
            "command": f"python -m bench.extraction_calibration --fit --per-cell {per_cell}",
        })


# -- the baseline: the hand-set confidence this model replaced ---------------------------

BASELINE_THRESHOLD = 0.9  # the review threshold the hand-set confidence used
# Its factors (biography.py before the model): per repair, for specks beside the
# value, for an OCR'd name no table knows, for sex told by a name.
BASELINE_FACTORS = {"script": 0.9, "digit": 0.9, "sign": 0.95, "debris": 0.95, "name": 0.85}
BASELINE_NOISY, BASELINE_UNKNOWN, BASELINE_INFERRED = 0.75, 0.85, 0.9


def baseline_score(e: confidence.Evidence) -> float:
    """The hand-set confidence: the weakest word, held under half the label's doubt, less
    a tenth per label edit, times a factor per repair and doubt."""
    if e.certain:
        return 1.0
    score = e.min_word
    if e.method == "ocr":
        score = min(score, 0.5 * e.label + 0.5)
    score *= max(0.0, 1 - 0.1 * e.label_edits)
    score *= BASELINE_NOISY if e.noisy else 1.0
    for fix in e.fixes:
        score *= BASELINE_FACTORS.get(fix, 1.0)
    score *= BASELINE_UNKNOWN if e.unknown_name else 1.0
    score *= BASELINE_INFERRED if e.inferred else 1.0
    return round(max(0.0, min(1.0, score)), 4)


def baseline(rows: Sequence[Sample]) -> list[Sample]:
    """The samples scored by the hand-set confidence (same review rules otherwise)."""
    return [replace(s, confidence=baseline_score(s.evidence) if s.evidence is not None else None)
            for s in rows]


# -- report ---------------------------------------------------------------------------


def reliability(rows: Sequence[Sample]) -> list[tuple[str, int, float, float]]:
    """(bin, members, mean confidence, observed accuracy) for members with a confidence."""
    out = []
    scored = [s for s in rows if s.confidence is not None]
    for low, high in itertools.pairwise(BINS):
        last = high == BINS[-1]
        inside = [s for s in scored if s.confidence is not None and low <= s.confidence
                  and (s.confidence < high or (last and s.confidence <= high))]
        if inside:
            out.append((f"[{low:.2f}, {high:.2f}{']' if last else ')'}", len(inside),
                        sum(s.confidence or 0.0 for s in inside) / len(inside),
                        sum(s.correct for s in inside) / len(inside)))
    return out


WORD_BINS = (0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 1.0)  # the weakest word's bins, for known names


def known_names(rows: Sequence[Sample]) -> list[tuple[str, int, float, float]]:
    """(weakest word's bin, members, mean confidence, observed accuracy) of the given
    names and patronymics read by OCR that a name table knows."""
    names = [s for s in rows if s.evidence is not None and s.confidence is not None
             and s.evidence.kind in ("given_name", "patronymic")
             and s.evidence.method == "ocr" and not s.evidence.unknown_name]
    out = []
    for low, high in itertools.pairwise(WORD_BINS):
        inside = [s for s in names if s.evidence is not None
                  and low <= s.evidence.min_word < high + (high == WORD_BINS[-1])]
        if inside:
            out.append((f"[{low:.2f}, {high:.2f}{']' if high == WORD_BINS[-1] else ')'}",
                        len(inside), sum(s.confidence or 0.0 for s in inside) / len(inside),
                        sum(s.correct for s in inside) / len(inside)))
    return out


def under_threshold(record: dict[str, Any], threshold: float) -> float:
    """The share of a record's values (its photos aside) scored under ``threshold``.

    What the parser's record-wide rule weighs against ``biography.ILLEGIBLE_SHARE``.
    """
    scores = [p["confidence"] for k, p in record["provenance"].items() if k != "photos"]
    return sum(c < threshold for c in scores) / len(scores) if scores else 0.0


def record_shares(readings: Sequence[tuple[Condition, Reading]],
                  threshold: float) -> tuple[list[float], list[float]]:
    """Per record read by OCR, its share of values under ``threshold``.

    Returns:
        (printed, hand-filled) shares, the readings parsed with the model in use.
    """
    printed: list[float] = []
    hand: list[float] = []
    for condition, reading in readings:
        if condition == "born digital":
            continue
        for record in biography.parse(reading.filename, reading.pages, as_of=AS_OF).records:
            (hand if "-hand-" in reading.filename else printed).append(
                under_threshold(record, threshold))
    return printed, hand


def print_record_shares(readings: Sequence[tuple[Condition, Reading]],
                        threshold: float) -> None:
    """The margins of the record-wide rule, printed.

    The most of a printed record's values under the threshold, the fewest of
    a hand-filled one's.
    """
    printed, hand = record_shares(readings, threshold)
    print(f"  values under the threshold per scanned record (listed whole over "
          f"{biography.ILLEGIBLE_SHARE:.0%}): printed at most "
          f"{max(printed, default=math.nan):.1%} of {len(printed)} records, "
          f"hand-filled at least {min(hand, default=math.nan):.1%} of {len(hand)}")


def print_rethresholded(readings: Sequence[tuple[Condition, Reading]],
                        earlier: confidence.Model) -> None:
    """An earlier model's weights, the threshold chosen again on these dev readings.

    Chosen by the same rule, to show whether a refit beats merely moving the
    threshold.
    """
    threshold = choose_threshold_parsed(readings, earlier)
    confidence.set_model(replace(earlier, threshold=threshold))
    rows = [s for s in parsed("dev", readings) if s.condition != "born digital"]
    print(f"  its weights, threshold chosen again on these readings: {threshold:g}; scanned "
          + ", ".join(f"{name}: wrong flagged {share:.1%}, right flagged {right:.1%}"
                      for name, (share, _, right) in (
                          ("printed", caught([s for s in rows if not s.hand], threshold)),
                          ("hand-filled", caught([s for s in rows if s.hand], threshold)))))


def earlier_model(path: Path) -> confidence.Model:
    """A model file of an earlier fit, a feature added since weighing nothing.

    Raises:
        confidence.ModelError: the file breaks a guarantee of the model.
    """
    data = json.loads(path.read_text(encoding="utf-8"))
    weights = data.get("weights") or {}
    return confidence.Model.from_json(
        {**data, "weights": {f: weights.get(f, 0.0) for f in confidence.FEATURES}})


def report(split: str, rows: Sequence[Sample], model: confidence.Model) -> None:
    """Print one split's reliability table and review shares per condition, and the
    hand-set confidence's shares on the same members."""
    wrong = [s for s in rows if not s.correct]
    print(f"\n[{split}] seed {SEEDS[split]}: {len(rows)} members, {len(wrong)} wrong "
          f"({len(wrong) / max(1, len(rows)):.1%}); model {model.version}, "
          f"threshold {model.threshold:g}")
    print(f"  {'confidence':<14}{'members':>8}{'mean':>8}{'right':>8}")
    for name, count, mean, accuracy in reliability(rows):
        print(f"  {name:<14}{count:>8}{mean:>8.3f}{accuracy:>8.3f}")
    unscored = [s for s in rows if s.confidence is None]
    print(f"  {'no provenance':<14}{len(unscored):>8}{'':>8}"
          f"{sum(s.correct for s in unscored) / max(1, len(unscored)):>8.3f}"
          f"   ({sum(s.listed for s in unscored)} of them listed: unread or identity missing)")
    print("  given names and patronymics a table knows, by their weakest word:")
    print(f"  {'weakest word':<14}{'members':>8}{'mean':>8}{'right':>8}")
    for name, count, mean, accuracy in known_names(rows):
        print(f"  {name:<14}{count:>8}{mean:>8.3f}{accuracy:>8.3f}")
    print(f"  {'condition':<14}{'members':>8}{'wrong':>7}{'wrong flagged':>15}"
          f"{'all flagged':>13}{'right flagged':>15}")
    scanned = [s for s in rows if s.condition != "born digital"]
    cells: list[tuple[str, list[Sample]]] = []
    for name, cell in [*((c, [s for s in rows if s.condition == c]) for c in CONDITIONS),
                       ("scanned", scanned)]:
        cells.append((name, cell))
        if name != "born digital":  # printed and hand-filled forms apart
            cells += [("  printed", [s for s in cell if not s.hand]),
                      ("  hand-filled", [s for s in cell if s.hand])]
    for condition, cell in cells:
        bad = sum(not s.correct for s in cell)
        share, flagged, right = caught(cell, model.threshold)
        print(f"  {condition:<14}{len(cell):>8}{bad:>7}{share if bad else math.nan:>15.1%}"
              f"{flagged:>13.1%}{right:>15.1%}")
    capped = [s for s in rows if s.evidence is not None and s.evidence.ceiling < 1.0]
    print("  under a ceiling (read again, read in the form's language, a snapped month or place): "
          + ", ".join(f"{name} {sum(s.correct for s in group)} right of {len(group)}"
                      for name, group in (("printed", [s for s in capped if not s.hand]),
                                          ("hand-filled", [s for s in capped if s.hand]))))
    old = baseline([s for s in rows if s.condition != "born digital"])
    share, flagged, right = caught(old, BASELINE_THRESHOLD)
    print(f"  baseline, hand-set confidence under {BASELINE_THRESHOLD:g}, scanned: wrong flagged "
          f"{share:.1%}, all flagged {flagged:.1%}, right flagged {right:.1%}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--fit", action="store_true",
                        help=f"fit on the dev split and write {MODEL_PATH.relative_to(ROOT)}")
    action.add_argument("--report", action="store_true",
                        help="reliability and review shares at the shipped model's threshold")
    parser.add_argument("--per-cell", type=int, default=16,
                        help="forms per condition and language, per split")
    parser.add_argument("--split", choices=("dev", "test", "both"), default="both",
                        help="splits to report (--fit always fits on dev only)")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE,
                        help="where readings are cached")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--compare", type=Path, metavar="MODEL_JSON",
                        help="--report: also an earlier model file on the same readings "
                             "(features it lacks weigh nothing)")
    args = parser.parse_args()
    started = time.perf_counter()
    if args.fit:
        # Read with a model that knows nothing: the shipped file may not match the
        # features any more; the fit scores every member with the new weights.
        readings = read_all("dev", args.per_cell, args.cache, args.workers)
        model = fit(readings, args.per_cell)
        confidence.set_model(model)
        MODEL_PATH.write_text(json.dumps(model.as_json(), indent=2, ensure_ascii=False) + "\n",
                              encoding="utf-8")
        print(f"wrote {MODEL_PATH.relative_to(ROOT)}: threshold {model.threshold:g}, "
              f"{model.fitted['wrong']} wrong of {model.fitted['members']} OCR members")
        report("dev", parsed("dev", readings), model)
        print_record_shares(readings, model.threshold)
    else:
        model = confidence.model()
        earlier = earlier_model(args.compare) if args.compare else None
        for split in (("dev", "test") if args.split == "both" else (args.split,)):
            readings = read_all(split, args.per_cell, args.cache, args.workers)
            confidence.set_model(model)
            report(split, parsed(split, readings), model)
            print_record_shares(readings, model.threshold)
            if earlier is not None:
                confidence.set_model(earlier)
                print(f"\n  the earlier model ({args.compare}), same readings:")
                report(split, parsed(split, readings), earlier)
                print_record_shares(readings, earlier.threshold)
                if split == "dev":
                    print_rethresholded(readings, earlier)
    print(f"\n{time.perf_counter() - started:.0f} s, {args.per_cell} forms per condition "
          "and language per split")
    return 0


if __name__ == "__main__":
    sys.exit(main())
