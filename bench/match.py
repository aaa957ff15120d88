"""Benchmarks of gateway match: speed at scale and accuracy on held-out data.

Speed (``python -m bench.match speed``): a generated registry of 200,000
reports and 10,000 records, matched end to end through
``gateway.party.match.run`` (CSV read, keys, blocking, scoring, JSON), with
wall and CPU time (the machine is shared: wall time includes waiting for
a core) and peak memory (``resource.getrusage``). Side by side in the same
run, the baseline: a naive all-pairs rapidfuzz scorer (``process.cdist``
of one name+date string per child, every record against every report) on a
subset of the records, extrapolated to all of them, and its top-1
accuracy on that subset.

Accuracy (``python -m bench.match accuracy``): for the development seed
and the held-out test seed, 20,000 reports and 2,000 records (~20 % with no
report, hard negatives included), top-1 precision and recall at the
default threshold, overall and per error class; and, for the development
seed only, the sweep of thresholds the default was chosen from.

Definitions: a record's top-1 is its best candidate at or above the
threshold. Precision = correct top-1 / records with a top-1; recall =
correct top-1 / records whose child is in the registry.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from rapidfuzz import fuzz, process

from bench.match_corpus import DEV_SEED, TEST_SEED, Corpus, generate
from gateway.party.match import DEFAULT_THRESHOLD, run
from gateway.party.match.linker import Linker
from gateway.party.match.profile import from_record
from gateway.party.match.registry import read_registry

SPEED_REPORTS = 200_000
SPEED_RECORDS = 10_000
BASELINE_RECORDS = 200  # all-pairs is ~10^9 comparisons for all records; a subset shows the rate
ACCURACY_REPORTS = 20_000
ACCURACY_RECORDS = 2_000
SWEEP = (0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99)


def peak_mb(who: int = resource.RUSAGE_SELF) -> float:
    """Peak RSS of this process (or the largest of its finished children), MB."""
    return resource.getrusage(who).ru_maxrss / 1024


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (the scoring workers)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def write_inputs(corpus: Corpus, folder: Path) -> tuple[Path, Path]:
    registry = folder / "registry.csv"
    corpus.write_registry(registry)
    records = folder / "records.json"
    records.write_text(json.dumps({"records": corpus.records}, ensure_ascii=False), "utf-8")
    return registry, records


def _flat(row: dict[str, Any]) -> str:
    parts = (row.get(k) or "" for k in ("family_name", "given_name", "patronymic", "birth_date"))
    return " ".join(parts).lower()


def baseline(corpus: Corpus, registry: Path, records: int) -> dict[str, float]:
    """All pairs through rapidfuzz, no name knowledge: the naive approach."""
    started, started_cpu = time.perf_counter(), time.process_time()
    reports = [_flat(r) for r in corpus.registry]
    ids = [r["report_id"] for r in corpus.registry]
    subset = corpus.records[:records]
    queries = [_flat(r) for r in subset]
    matrix = process.cdist(queries, reports, scorer=fuzz.token_sort_ratio, workers=1)
    correct = 0
    for i, rec in enumerate(subset):
        best = int(matrix[i].argmax())
        truth = corpus.truth[rec["record_id"]]
        correct += truth is not None and ids[best] == truth
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - started_cpu
    with_report = sum(1 for r in subset if corpus.truth[r["record_id"]])
    return {
        "seconds": elapsed,
        "cpu_seconds": cpu,
        "per_record_ms": 1000 * cpu / records,
        "top1_recall": correct / max(with_report, 1),
    }


def speed(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    corpus = generate(DEV_SEED, reports=args.reports, records=args.records)
    print(f"generated {len(corpus.registry)} reports, {len(corpus.records)} records"
          f" in {time.perf_counter() - started:.1f} s")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        registry, records = write_inputs(corpus, Path(tmp))
        before = peak_mb()
        times = []
        cpu = []
        result: dict[str, Any] = {}
        for _ in range(args.repeat):
            started, started_cpu = time.perf_counter(), cpu_seconds()
            result = run(registry, [records])
            times.append(time.perf_counter() - started)
            cpu.append(cpu_seconds() - started_cpu)
        json.dumps(result)  # the command prints it; count the serialisation
        with_top = sum(1 for m in result["matches"] if m["candidates"])
        print(f"gateway match: {len(corpus.registry)} x {len(corpus.records)} in"
              f" median {statistics.median(times):.1f} s of {args.repeat} run(s)"
              f" ({', '.join(f'{t:.1f}' for t in times)}; CPU {statistics.median(cpu):.1f} s),"
              f" {with_top} records with a candidate;"
              f" peak RSS {peak_mb():.0f} MB (before the run: {before:.0f} MB),"
              f" scoring workers {peak_mb(resource.RUSAGE_CHILDREN):.0f} MB each at most"
              f" (forked: their pages are shared with the parent until written)")  # fmt: skip
        start = time.process_time()
        rows = sum(1 for _ in read_registry(registry))
        read_s = time.process_time() - start
        start = time.process_time()
        linker = Linker(read_registry(registry))
        index_s = time.process_time() - start
        start = time.process_time()
        sizes = [len(linker.candidates(from_record(r))) for r in corpus.records]
        block_s = time.process_time() - start
        print(f"  where the CPU time goes: read CSV {read_s:.1f} s ({rows} rows),"
              f" read+keys+index {index_s:.1f} s, blocking only {block_s:.1f} s, the rest is"
              f" scoring; candidates per record: median {statistics.median(sizes):.0f},"
              f" max {max(sizes)}")  # fmt: skip
        base = baseline(corpus, registry, args.baseline_records)
        full = base["per_record_ms"] * len(corpus.records) / 1000
        ours_per_record = 1000 * statistics.median(cpu) / len(corpus.records)
        print(f"baseline all-pairs rapidfuzz (token_sort_ratio, cdist, 1 worker):"
              f" {args.baseline_records} records in {base['seconds']:.1f} s wall,"
              f" {base['cpu_seconds']:.1f} s CPU = {base['per_record_ms']:.0f} ms CPU/record ->"
              f" {full:.0f} s CPU for all {len(corpus.records)}; top-1 recall on the subset"
              f" {base['top1_recall']:.3f} (no threshold)")
        print(f"ratio of CPU per record, baseline / gateway match (everything included):"
              f" {base['per_record_ms'] / ours_per_record:.0f}x"
              f" ({ours_per_record:.2f} ms vs {base['per_record_ms']:.0f} ms)")  # fmt: skip


def evaluate(corpus: Corpus, thresholds: tuple[float, ...]) -> dict[float, dict[str, list[int]]]:
    """Per threshold and error class: [records, with top-1, correct top-1, with report]."""
    linker = Linker(read_registry_rows(corpus))
    best = {}
    for rec in corpus.records:
        found = linker.match(from_record(rec), threshold=min(thresholds), top=1)
        best[rec["record_id"]] = found[0] if found else None
    out: dict[float, dict[str, list[int]]] = {}
    for threshold in thresholds:
        stats: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        for record_id, top in best.items():
            truth = corpus.truth[record_id]
            hit = top is not None and top.score >= threshold
            for key in (corpus.error_class[record_id], "ALL"):
                s = stats[key]
                s[0] += 1
                s[1] += hit
                s[2] += hit and top is not None and top.report_id == truth
                s[3] += truth is not None
        out[threshold] = dict(stats)
    return out


def read_registry_rows(corpus: Corpus) -> Any:
    """The corpus registry through the real CSV reader (via a temporary file)."""
    tmp = tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False)  # noqa: SIM115
    tmp.close()
    path = Path(tmp.name)
    corpus.write_registry(path)
    try:
        yield from read_registry(path)
    finally:
        path.unlink()


def _ratio(a: int, b: int) -> str:
    return f"{a / b:.4f}" if b else "  -   "


def accuracy(args: argparse.Namespace) -> None:
    for name, seed in (("development", DEV_SEED), ("held-out test", TEST_SEED)):
        corpus = generate(seed, reports=args.reports, records=args.records)
        thresholds = SWEEP if seed == DEV_SEED else (DEFAULT_THRESHOLD,)
        results = evaluate(corpus, (*thresholds, DEFAULT_THRESHOLD))
        print(f"\n{name} seed {seed}: {len(corpus.registry)} reports, {len(corpus.records)}"
              f" records, default threshold {DEFAULT_THRESHOLD}")  # fmt: skip
        stats = results[DEFAULT_THRESHOLD]
        print(f"  {'class':16} {'records':>7} {'top-1':>6} {'wrong':>6} {'precision':>9}"
              f" {'recall':>7}")  # fmt: skip
        for key in sorted(stats, key=lambda k: (k != "ALL", k)):
            n, hit, correct, with_report = stats[key]
            print(f"  {key:16} {n:7} {hit:6} {hit - correct:6} {_ratio(correct, hit):>9}"
                  f" {_ratio(correct, with_report):>7}")  # fmt: skip
        if seed == DEV_SEED:
            print("  threshold sweep (development seed only):")
            for threshold in SWEEP:
                n, hit, correct, with_report = results[threshold]["ALL"]
                print(f"    {threshold:4}: precision {_ratio(correct, hit)}"
                      f" recall {_ratio(correct, with_report)} wrong {hit - correct}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    p = sub.add_parser("speed")
    p.add_argument("--reports", type=int, default=SPEED_REPORTS)
    p.add_argument("--records", type=int, default=SPEED_RECORDS)
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--baseline-records", type=int, default=BASELINE_RECORDS)
    p.set_defaults(func=speed)
    p = sub.add_parser("accuracy")
    p.add_argument("--reports", type=int, default=ACCURACY_REPORTS)
    p.add_argument("--records", type=int, default=ACCURACY_RECORDS)
    p.set_defaults(func=accuracy)
    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
