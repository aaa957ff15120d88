"""Splink (Fellegi–Sunter on DuckDB) on the same corpus, for the choice of engine.

Not a dependency of DXG: run it in a separate environment with
``pip install splink`` (5.0.0 was measured) and this checkout on the path::

    python -m bench.match_splink --reports 200000 --records 10000

It gives Splink every advantage it can take: the name keys of
``gateway.protocol.names`` (computed by our code, timed separately), the
same ten blocking rules as ``gateway.party.match.linker``, per-field
levels null / key equal / Jaro–Winkler ≥ 0.88 / else, u estimated by
random sampling and m by expectation maximisation (Splink's usual
unsupervised training; there are no labels in a real registry). It prints
Splink's time, peak memory and top-1 precision/recall on the development
seed, to set beside ``python -m bench.match speed`` and ``accuracy``.
"""

from __future__ import annotations

import argparse
import resource
import time
from typing import Any

import pyarrow as pa
import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on

from bench.match_corpus import DEV_SEED, generate
from gateway.party.match.linker import report_profile
from gateway.party.match.profile import Profile, from_record
from gateway.party.match.registry import Report

COLUMNS = ("family_name", "given_name", "patronymic", "sex", "birth_date", "birth_place",
           "displacement_date", "displacement_place")  # fmt: skip


def _table(profiles: list[Profile], ids: list[str]) -> Any:
    cols: dict[str, list[Any]] = {k: [] for k in (
        "unique_id", "fam_key", "fam_fold", "fam4", "giv_key", "giv_fold", "pat_key",
        "pat_fold", "sex", "dob", "dob_year", "bplace")}  # fmt: skip
    for uid, p in zip(ids, profiles, strict=True):
        d = p.full_birth_date
        values = (uid, p.family_key, p.family_fold or None,
                  p.family_fold[:4] if len(p.family_fold) >= 4 else None, p.given_key,
                  p.given_fold or None, p.patronymic_key, p.patronymic_fold or None, p.sex,
                  f"{d.year:04d}-{d.month:02d}-{d.day:02d}" if d else None, p.birth_year,
                  p.birth_place)  # fmt: skip
        for name, value in zip(cols, values, strict=True):
            cols[name].append(value)
    return pa.table(cols)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=200_000)
    parser.add_argument("--records", type=int, default=10_000)
    args = parser.parse_args()

    corpus = generate(DEV_SEED, reports=args.reports, records=args.records)
    started = time.perf_counter()
    reports = [
        report_profile(Report(report_id=r["report_id"], line=0,
                              **{k: r[k] or None for k in COLUMNS}))
        for r in corpus.registry
    ]  # fmt: skip
    records = [from_record(r) for r in corpus.records]
    left = _table(reports, [r["report_id"] for r in corpus.registry])
    right = _table(records, [r["record_id"] for r in corpus.records])
    print(f"keys by gateway.protocol.names: {time.perf_counter() - started:.1f} s")

    def names(key: str, fold: str, label: str) -> Any:
        return cl.CustomComparison(output_column_name=label, comparison_levels=[
            cll.NullLevel(key), cll.ExactMatchLevel(key), cll.JaroWinklerLevel(fold, 0.88),
            cll.ElseLevel()])  # fmt: skip

    started = time.perf_counter()
    db_api = DuckDBAPI()
    settings = SettingsCreator(
        link_type="link_only",
        comparisons=[
            names("fam_key", "fam_fold", "family_name"),
            names("giv_key", "giv_fold", "given_name"),
            names("pat_key", "pat_fold", "patronymic"),
            cl.ExactMatch("sex"),
            cl.CustomComparison(output_column_name="birth_date", comparison_levels=[
                cll.NullLevel("dob_year"), cll.ExactMatchLevel("dob"),
                cll.ExactMatchLevel("dob_year"), cll.ElseLevel()]),
            cl.ExactMatch("bplace"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("fam_key", "giv_key"), block_on("giv_key", "dob"),
            block_on("fam_key", "dob"), block_on("giv_key", "pat_key", "dob_year"),
            block_on("fam_key", "pat_key"), block_on("fam_key", "dob_year"),
            block_on("giv_key", "dob_year"), block_on("pat_key", "dob"),
            block_on("fam4", "giv_key"), block_on("fam4", "dob_year"),
        ],
    )
    linker = Linker(
        [db_api.register(left, dataset_display_name="registry"),
         db_api.register(right, dataset_display_name="records")],
        settings, log_level="WARNING",
    )  # fmt: skip
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("dob"))
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("fam_key", "giv_key")
    )
    trained = time.perf_counter() - started
    predicted = linker.inference.predict(threshold_match_probability=0.5)
    rows = predicted.as_duckdbpyrelation().arrow().read_all().to_pylist()
    total = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"splink: train {trained:.1f} s, train+predict {total:.1f} s, {len(rows)} pairs;"
          f" peak RSS {peak:.0f} MB")  # fmt: skip
    best: dict[str, tuple[str, float]] = {}
    for row in rows:
        a, b = str(row["unique_id_l"]), str(row["unique_id_r"])
        record, report = (b, a) if a.startswith("R") else (a, b)
        if record not in best or row["match_probability"] > best[record][1]:
            best[record] = (report, row["match_probability"])
    with_report = sum(1 for t in corpus.truth.values() if t)
    for threshold in (0.5, 0.8, 0.9, 0.99):
        hits = [(corpus.truth[r] == rep) for r, (rep, p) in best.items() if p >= threshold]
        print(f"  threshold {threshold}: precision {sum(hits) / max(len(hits), 1):.4f}"
              f" recall {sum(hits) / with_report:.4f} wrong {len(hits) - sum(hits)}")


if __name__ == "__main__":
    main()
