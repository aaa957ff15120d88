"""The registry CSV reader of gateway match (SPEC §11) on good and bad files."""

from __future__ import annotations

import csv
import resource
from pathlib import Path

import pytest

from gateway.party import match
from gateway.party.match.registry import (
    COLUMNS,
    MAX_FIELD_CHARS,
    RegistryError,
    read_registry,
    unique_reports,
)
from gateway.protocol.errors import EXIT_USAGE

HEADER = ",".join(COLUMNS)
ROW = (
    "r1,Коваленко,Олена,Петрівна,female,2012-03-14,Маріуполь,2022-04-01,Маріуполь,"
    "mother,Ірина,+380"
)


def write(tmp_path: Path, text: str, name: str = "registry.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_reads_rows_with_empty_cells_as_unknown_and_extra_columns_ignored(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        f"note,{HEADER}\n"
        f"x,{ROW}\n"
        "y,r2,,Petro,,,,,,,,,\n",
    )
    reports = list(read_registry(path))
    assert [r.report_id for r in reports] == ["r1", "r2"]
    assert reports[0].given_name == "Олена" and reports[0].birth_date == "2012-03-14"
    assert reports[1].family_name is None and reports[1].given_name == "Petro"
    assert reports[1].line == 3


def test_a_byte_order_mark_and_crlf_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(("\ufeff" + HEADER + "\r\n" + ROW + "\r\n").encode("utf-8"))
    assert [r.report_id for r in read_registry(path)] == ["r1"]


def test_a_missing_column_is_named(tmp_path: Path) -> None:
    header = HEADER.replace(",birth_place", "")
    path = write(tmp_path, header + "\n")
    with pytest.raises(RegistryError, match=r"lacks the column\(s\) birth_place") as err:
        list(read_registry(path))
    assert err.value.exit_code == 2


def test_a_file_that_is_not_utf8_gives_its_line(tmp_path: Path) -> None:
    path = tmp_path / "cp1251.csv"
    path.write_bytes((HEADER + "\n" + ROW + "\n" + ROW.replace("r1", "r2") + "\n").encode("cp1251"))
    with pytest.raises(RegistryError, match=r"line 2 is not UTF-8.*save the registry as UTF-8"):
        list(read_registry(path))


def test_a_row_without_report_id_gives_its_line_and_no_personal_data(tmp_path: Path) -> None:
    path = write(tmp_path, f"{HEADER}\n{ROW}\n{ROW.replace('r1', '', 1)}\n")
    with pytest.raises(RegistryError, match=r"line 3 has no report_id") as err:
        list(read_registry(path))
    assert "Коваленко" not in str(err.value) and "Олена" not in str(err.value)


def test_a_report_id_given_twice_is_refused_with_both_lines(tmp_path: Path) -> None:
    # Regression: a second row under the same report_id was accepted, so a
    # candidate's report_id could name either of two different children.
    other = ROW.replace("Олена", "Ірина")
    path = write(tmp_path, f"{HEADER}\n{ROW}\n\n{other}\n")
    with pytest.raises(RegistryError, match=r"line 4 repeats report_id r1 of line 2") as err:
        match.run(path, [])
    assert "Олена" not in str(err.value) and "Ірина" not in str(err.value)
    assert err.value.exit_code == EXIT_USAGE
    with pytest.raises(RegistryError, match="line 4 repeats"):
        list(unique_reports(read_registry(path), path))  # the console's way in


def test_a_row_without_any_name_gives_its_line(tmp_path: Path) -> None:
    nameless = "r9,,,,female,2012-03-14,Маріуполь,,,,,"
    path = write(tmp_path, f"{HEADER}\n{ROW}\n\n{nameless}\n")
    with pytest.raises(RegistryError, match=r"line 4 \(report_id r9\) has no family_name"):
        list(read_registry(path))


def test_a_quoted_cell_over_two_lines_counts_lines_right(tmp_path: Path) -> None:
    two_lines = 'r2,"Ковал\nенко",,,,,,,,,,'
    path = write(tmp_path, f"{HEADER}\n{two_lines}\n,x,,,,,,,,,,\n")
    with pytest.raises(RegistryError, match=r"line 4 has no report_id"):
        list(read_registry(path))


def test_an_empty_file_says_what_it_needs(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="needs a header row"):
        list(read_registry(write(tmp_path, "")))


def test_a_missing_file_is_a_registry_error(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="cannot open the registry"):
        list(read_registry(tmp_path / "absent.csv"))


def test_a_million_rows_stream_without_loading_the_file(tmp_path: Path) -> None:
    """10^6 rows (~90 MB) pass through while memory grows by far less than the file."""
    path = tmp_path / "big.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        for i in range(1_000_000):
            w.writerow([f"r{i}", "Коваленко", "Олена", "Петрівна", "female", "2012-03-14",
                        "Маріуполь", "2022-04-01", "Маріуполь", "mother", "Ірина Коваленко",
                        "+380501234567"])  # fmt: skip
    size_mb = path.stat().st_size / 2**20
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    count = 0
    last = ""
    for report in read_registry(path):
        count += 1
        last = report.report_id
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before
    assert count == 1_000_000 and last == "r999999"
    assert size_mb > 80 and grown < size_mb / 4, (size_mb, grown)


def test_a_cell_longer_than_the_limit_is_refused_with_its_line(tmp_path: Path) -> None:
    """MAX_FIELD_CHARS: an unbalanced quote swallows the file into one cell."""
    long_row = "r2," + "x" * (MAX_FIELD_CHARS + 1) + ",,,,,,,,,,"
    path = write(tmp_path, f"{HEADER}\n{ROW}\n{long_row}\n")
    with pytest.raises(RegistryError, match=r"line 3 has a cell longer than 4096"):
        list(read_registry(path))
