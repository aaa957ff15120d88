"""gateway match on a small held-out sample of bench/match_corpus: floors, not figures.

The figures themselves (20,000 reports, 2,000 records, per error class)
come from ``python -m bench.match accuracy``; these floors catch a change
that breaks matching without running the benchmark.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from bench.match_corpus import MATCHED_CLASSES, TEST_SEED, UNMATCHED_CLASSES, Corpus, generate
from gateway.party.match import DEFAULT_THRESHOLD
from gateway.party.match.linker import Linker
from gateway.party.match.profile import from_record
from gateway.party.match.registry import read_registry

PRECISION_FLOOR = 0.98  # the benchmark measures ~0.998 on 2,000 held-out records
RECALL_FLOOR = 0.95  # the benchmark measures ~0.99
BLOCKING_RECALL_FLOOR = 0.97  # per error class: the report is among the candidates


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return generate(TEST_SEED + 1, reports=4000, records=600)


@pytest.fixture(scope="module")
def linker(corpus: Corpus, tmp_path_factory: pytest.TempPathFactory) -> Linker:
    path: Path = tmp_path_factory.mktemp("match") / "registry.csv"
    corpus.write_registry(path)
    return Linker(read_registry(path))


def test_the_generator_keeps_its_promises(corpus: Corpus) -> None:
    classes = Counter(corpus.error_class.values())
    assert set(classes) == set(MATCHED_CLASSES) | set(UNMATCHED_CLASSES)
    without = sum(1 for t in corpus.truth.values() if t is None)
    assert without == 120  # 20 % of 600
    assert all(corpus.truth[r["record_id"]] is None for r in corpus.records
               if corpus.error_class[r["record_id"]] in UNMATCHED_CLASSES)  # fmt: skip
    again = generate(TEST_SEED + 1, reports=4000, records=600)
    assert again.records == corpus.records and again.registry == corpus.registry


def test_precision_and_recall_floors_on_a_held_out_sample(corpus: Corpus, linker: Linker) -> None:
    predicted = correct = 0
    for rec in corpus.records:
        found = linker.match(from_record(rec), threshold=DEFAULT_THRESHOLD, top=1)
        if found:
            predicted += 1
            correct += found[0].report_id == corpus.truth[rec["record_id"]]
    with_report = sum(1 for t in corpus.truth.values() if t)
    assert correct / predicted >= PRECISION_FLOOR
    assert correct / with_report >= RECALL_FLOOR


def test_hard_negatives_of_the_sample_stay_unmatched(corpus: Corpus, linker: Linker) -> None:
    wrong: Counter[str] = Counter()
    for rec in corpus.records:
        kind = corpus.error_class[rec["record_id"]]
        if kind in ("sibling", "twin") and linker.match(
            from_record(rec), threshold=DEFAULT_THRESHOLD, top=1
        ):
            wrong[kind] += 1
    assert sum(wrong.values()) <= 1, wrong


def test_blocking_recall_per_error_class(corpus: Corpus, linker: Linker) -> None:
    found: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for rec in corpus.records:
        truth = corpus.truth[rec["record_id"]]
        if truth is None:
            continue
        kind = corpus.error_class[rec["record_id"]]
        total[kind] += 1
        found[kind] += linker.report_ids.index(truth) in linker.candidates(from_record(rec))
    low = {k: found[k] / total[k] for k in total if found[k] / total[k] < BLOCKING_RECALL_FLOOR}
    assert not low
