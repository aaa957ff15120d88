"""gateway match (SPEC §11): the matcher on hard cases, and the command end to end."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gateway.party.match import DEFAULT_THRESHOLD, run
from gateway.party.match import linker as linker_module
from gateway.party.match.compare import (
    VETO_CAP,
    VETO_FIELDS,
    compare,
    compare_dates,
    score,
    vetoed,
)
from gateway.party.match.linker import Linker
from gateway.party.match.profile import from_record, parse_date
from gateway.party.match.registry import COLUMNS, Report

FAMILY = {
    "family_name": "Ковальов", "given_name": "Олексій", "patronymic": "Дмитрович",
    "sex": "male", "birth_date": "2012-03-05", "birth_place": "Маріуполь",
}  # fmt: skip


def report(report_id: str, **members: str | None) -> Report:
    cells: dict[str, Any] = {c: None for c in COLUMNS[1:9]}
    cells.update(members)
    return Report(report_id=report_id, line=0, **cells)


def record(**members: Any) -> dict[str, Any]:
    return {"record_id": "rec", "case_id": "case", **members}


def best(linker: Linker, rec: dict[str, Any]) -> str | None:
    found = linker.match(from_record(rec), threshold=DEFAULT_THRESHOLD, top=5)
    return found[0].report_id if found else None


# The holder's official writes Russian where the family wrote Ukrainian.
RUSSIAN_RECORD = record(
    family_name="Ковалёв", given_name="Алексей", patronymic="Дмитриевич",
    sex="male", birth_date="2012-03-05", birth_place="Мариуполь",
)  # fmt: skip


@pytest.mark.parametrize(
    ("name", "variant"),
    [
        ("russian", {}),
        ("latin_icao", {"family_name": "Kovalev", "given_name": "Aleksei",
                        "patronymic": "Dmitrievich"}),
        ("latin_german", {"family_name": "Kowaljow", "given_name": "Alexej",
                          "patronymic": "Dmitrijewitsch"}),
        ("date_off_by_one", {"birth_date": "2012-03-06"}),
        ("date_day_month_swapped", {"birth_date": "2012-05-03"}),
        ("date_missing", {"birth_date": None}),
        ("date_year_only", {"birth_date": "2012"}),
        ("ocr", {"family_name": "Ковал3в", "given_name": "Aлeксей"}),
        ("wrong_columns", {"family_name": "Алексей", "given_name": "Ковалёв"}),
    ],
)  # fmt: skip
def test_the_same_child_is_found_across_spellings(name: str, variant: dict[str, Any]) -> None:
    linker = Linker([report("R1", **FAMILY), report("R0", **{**FAMILY, "family_name": "Бондар"})])
    assert best(linker, {**RUSSIAN_RECORD, **variant}) == "R1", name


def test_day_and_month_swapped_is_close_not_differ() -> None:
    assert compare_dates(parse_date("2012-03-05"), parse_date("2012-05-03")) == "close"
    assert compare_dates(parse_date("2012-03-05"), parse_date("2012-03-06")) == "close"
    assert compare_dates(parse_date("2012-03-31"), parse_date("2012-04")) == "close"
    assert compare_dates(parse_date("2012-03-05"), parse_date("2015-03-05")) == "differ"
    assert compare_dates(parse_date("2012-03-05"), None) == "missing"


@pytest.mark.parametrize(
    ("kind", "registered"),
    [
        ("sibling", {"given_name": "Марія", "sex": "female", "birth_date": "2015-07-01",
                     "patronymic": "Дмитрівна", "family_name": "Ковальова"}),
        ("brother", {"given_name": "Андрій", "birth_date": "2009-11-20"}),
        ("twin_brother", {"given_name": "Андрій"}),
        ("twin_sister", {"given_name": "Олександра", "sex": "female", "patronymic": "Дмитрівна",
                         "family_name": "Ковальова"}),
        ("namesake_born_years_apart", {"birth_date": "2008-03-05"}),
        ("namesake_other_sex_form", {"given_name": "Олександра", "sex": "female"}),
    ],
)  # fmt: skip
def test_hard_negatives_do_not_match(kind: str, registered: dict[str, str]) -> None:
    """Only the relative is registered; the record's own child is not."""
    child = {**FAMILY, "given_name": "Олександр"}
    linker = Linker([report("SIB", **{**child, **registered})])
    rec = record(**{**child, "family_name": "Ковалёв", "given_name": "Александр",
                    "patronymic": "Дмитриевич"})  # fmt: skip
    assert best(linker, rec) is None, kind


def test_the_right_one_of_registered_twins_is_first() -> None:
    linker = Linker([
        report("TWIN", **{**FAMILY, "given_name": "Андрій"}),
        report("SELF", **FAMILY),
    ])  # fmt: skip
    found = linker.match(from_record(RUSSIAN_RECORD), threshold=0.0, top=5)
    assert found[0].report_id == "SELF"
    assert found[0].fields["given_name"] == "agree"
    assert all(c.score < DEFAULT_THRESHOLD for c in found[1:])


@pytest.mark.parametrize(
    ("kind", "variant"),
    [
        ("surname_misread_and_date_kept", {"family_name": "Ковапьов"}),
        ("given_misread_and_date_swapped", {"given_name": "Oлeксй", "birth_date": "2012-05-03"}),
        ("surname_in_latin_and_date_off", {"family_name": "Kowaljow", "birth_date": "2012-03-04"}),
        ("columns_swapped_and_patronymic_missing", {"family_name": "Олексій",
                                                    "given_name": "Ковальов",
                                                    "patronymic": None}),
    ],
)  # fmt: skip
def test_blocking_finds_the_report_when_two_parts_are_wrong(
    kind: str, variant: dict[str, Any]
) -> None:
    """The report is among the candidates (before any threshold) of a big registry."""
    filler = [
        report(f"F{i}", family_name=f"Бондаренко{i % 50}", given_name="Олексій",
               birth_date=f"{2005 + i % 15}-0{1 + i % 9}-1{i % 9}")
        for i in range(3000)
    ]  # fmt: skip
    linker = Linker([*filler, report("R1", **FAMILY)])
    rec = {**RUSSIAN_RECORD, **variant}
    assert linker.report_ids.index("R1") in linker.candidates(from_record(rec)), kind
    assert len(linker.candidates(from_record(rec))) < 500


# -- the command ------------------------------------------------------------

HEADER = ",".join(COLUMNS).encode()


def write_registry(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({c: row.get(c, "") for c in COLUMNS})


def gateway(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        check=False, capture_output=True, text=True, timeout=120,
    )


def test_the_command_prints_the_spec_json(tmp_path: Path) -> None:
    registry = tmp_path / "registry.csv"
    write_registry(registry, [
        {"report_id": "R1", **FAMILY},
        {"report_id": "R2", **{**FAMILY, "given_name": "Андрій", "birth_date": "2010-01-02"}},
    ])  # fmt: skip
    extraction = tmp_path / "extraction.json"
    extraction.write_text(json.dumps({"records": [RUSSIAN_RECORD]}), encoding="utf-8")
    pulled = tmp_path / "records.json"
    stranger = record(family_name="Шевчук", given_name="Ірина", birth_date="2011-01-01")
    pulled.write_text(json.dumps([{**stranger, "record_id": "r2", "case_id": None}]))

    done = gateway("match", "--registry", str(registry), str(extraction), str(pulled))
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert set(out) == {"registry", "threshold", "matches"}
    assert out["registry"] == {"path": str(registry), "rows": 2}
    assert out["threshold"] == DEFAULT_THRESHOLD
    assert [m["record_id"] for m in out["matches"]] == ["rec", "r2"]
    first, second = out["matches"]
    assert set(first) == {"record_id", "case_id", "candidates"} and first["case_id"] == "case"
    assert [c["report_id"] for c in first["candidates"]] == ["R1"]
    candidate = first["candidates"][0]
    assert set(candidate) == {"report_id", "score", "fields"}
    assert DEFAULT_THRESHOLD <= candidate["score"] <= 1
    assert candidate["fields"] == {
        "family_name": "agree", "given_name": "agree", "patronymic": "agree", "sex": "agree",
        "birth_date": "agree", "birth_place": "agree", "displacement_date": "missing",
        "displacement_place": "missing",
    }  # fmt: skip
    assert second == {"record_id": "r2", "case_id": None, "candidates": []}


def test_the_command_honours_threshold_and_top(tmp_path: Path) -> None:
    registry = tmp_path / "registry.csv"
    write_registry(registry, [{"report_id": f"R{i}", **FAMILY} for i in range(4)])
    records = tmp_path / "records.json"
    records.write_text(json.dumps([RUSSIAN_RECORD]), encoding="utf-8")
    done = gateway("match", "--registry", str(registry), "--top", "2", "--threshold", "0.99",
                   str(records))  # fmt: skip
    candidates = json.loads(done.stdout)["matches"][0]["candidates"]
    assert [c["report_id"] for c in candidates] == ["R0", "R1"]
    assert all(c["score"] >= 0.99 for c in candidates)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"report_id,family_name\nR1,X\n", b"lacks the column(s) given_name"),
        (HEADER + b"\nR1,\xca\xee\xe2\xe0\xeb\xfc,,,,,,,,,,\n", b"line 2 is not UTF-8"),
        (HEADER + b"\nR1,X,,,,,,,,,,\n,Y,,,,,,,,,,\n", b"line 3 has no report_id"),
        (HEADER + b"\nR1,,,,male,2012-01-01,,,,,,\n", b"line 2 (report_id R1)"),
    ],
)  # fmt: skip
def test_a_bad_registry_exits_2_with_its_line(
    tmp_path: Path, content: bytes, message: bytes
) -> None:
    registry = tmp_path / "registry.csv"
    registry.write_bytes(content)
    records = tmp_path / "records.json"
    records.write_text("[]", encoding="utf-8")
    done = gateway("match", "--registry", str(registry), str(records))
    assert done.returncode == 2
    assert message.decode() in done.stderr and done.stdout == ""
    assert "Traceback" not in done.stderr


def test_run_refuses_a_records_file_of_the_wrong_shape(tmp_path: Path) -> None:
    registry = tmp_path / "registry.csv"
    write_registry(registry, [{"report_id": "R1", **FAMILY}])
    bad = tmp_path / "bad.json"
    bad.write_text('{"packet_id": "x"}', encoding="utf-8")
    with pytest.raises(Exception, match="neither an extraction document"):
        run(registry, [bad])


def test_twins_whose_names_fold_alike_do_not_match() -> None:
    """Regression: Діана and Дана once shared a key, so twin sisters agreed on everything."""
    sister = {**FAMILY, "family_name": "Ковальова", "patronymic": "Дмитрівна", "sex": "female"}
    linker = Linker([report("DANA", **{**sister, "given_name": "Дана"})])
    rec = record(**{**sister, "given_name": "Диана", "family_name": "Ковалёва"})
    assert best(linker, rec) is None
    assert best(linker, {**rec, "given_name": "Дана"}) == "DANA"


@pytest.mark.parametrize(
    ("misread", "registered"),
    [("Ирииа", "Ірина"), ("Юрнй", "Юрій"), ("Фдор", "Федір"), ("Викторня", "Вікторія")],
)
def test_a_given_name_misread_by_one_letter_is_close(misread: str, registered: str) -> None:
    """OCR reads и as н or drops a letter; the name is no longer in the tables."""
    linker = Linker([report("R1", **{**FAMILY, "given_name": registered, "sex": None})])
    found = linker.match(from_record({**RUSSIAN_RECORD, "given_name": misread, "sex": None}),
                         threshold=0.0, top=1)  # fmt: skip
    assert found and found[0].fields["given_name"] == "close"


def test_one_edit_is_not_close_for_short_names() -> None:
    """Яи is one edit from Ян, and from Яна too: a short misreading proves nothing."""
    linker = Linker([report("R1", **{**FAMILY, "given_name": "Ян", "sex": None})])
    found = linker.match(from_record({**RUSSIAN_RECORD, "given_name": "Яи", "sex": None}),
                         threshold=0.0, top=1)  # fmt: skip
    assert found and found[0].fields["given_name"] == "differ"


def test_a_block_larger_than_max_block_is_skipped_and_others_still_find_the_child(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """MAX_BLOCK: a key shared by too many reports is ignored; the child's other keys remain."""
    monkeypatch.setattr(linker_module, "MAX_BLOCK", 50)
    crowd = [report(f"C{i}", **{**FAMILY, "birth_date": f"{2000 + i % 20}-01-{1 + i % 28:02d}",
                                "given_name": "Андрій"}) for i in range(60)]  # fmt: skip
    linker = Linker([*crowd, report("R1", **FAMILY)])
    candidates = linker.candidates(from_record(RUSSIAN_RECORD))
    assert linker.report_ids.index("R1") in candidates
    assert len(candidates) < 60  # the surname+patronymic block (61 reports) was skipped
    assert best(linker, RUSSIAN_RECORD) == "R1"


def test_the_fast_veto_check_agrees_with_the_score() -> None:
    """vetoed() lets the linker skip pairs; it must say yes exactly when score() caps."""
    base = from_record(RUSSIAN_RECORD)
    for variant in ({"sex": "female"}, {"birth_date": "2014-01-01"}, {"given_name": "Андрій"},
                    {"given_name": "Олексій"}, {"birth_date": None, "sex": None}):  # fmt: skip
        other = from_record({**RUSSIAN_RECORD, **variant})
        evidence = compare(base, other)
        capped = any(evidence[f] == "differ" for f in VETO_FIELDS)
        assert vetoed(base, other) == capped, variant
        assert not capped or score(evidence) <= VETO_CAP


def test_scoring_in_forked_workers_gives_the_sequential_answer() -> None:
    """WORKERS / PARALLEL_MIN_RECORDS: the parallel path changes speed only, not results."""
    def born(i: int) -> str:
        return f"201{i % 10}-0{1 + i % 9}-1{i % 10}"

    reports = [report(f"R{i}", **{**FAMILY, "given_name": g, "birth_date": born(i)})
               for i, g in enumerate(["Олексій", "Андрій", "Марія", "Олена"] * 50)]  # fmt: skip
    linker = Linker(reports)
    records = [from_record({**RUSSIAN_RECORD, "birth_date": born(i),
                            "given_name": ["Алексей", "Андрей", "Мария", "Елена"][i % 4]})
               for i in range(linker_module.PARALLEL_MIN_RECORDS)]  # fmt: skip
    sequential = linker.match_all(records, threshold=0.5, top=3, workers=1)
    parallel = linker.match_all(records, threshold=0.5, top=3, workers=2)
    assert parallel == sequential
    assert sum(1 for found in sequential if found) > len(records) // 2


def test_day_and_month_swapped_against_a_date_known_to_the_month() -> None:
    """2016-01-11 written for 1 November 2016, which the family knew as 2016-11."""
    assert compare_dates(parse_date("2016-01-11"), parse_date("2016-11")) == "close"
    assert compare_dates(parse_date("2016-11"), parse_date("2016-01-11")) == "close"
    assert compare_dates(parse_date("2016-01-11"), parse_date("2016-12")) == "differ"
    assert compare_dates(parse_date("2016-01-13"), parse_date("2016-11")) == "differ"
