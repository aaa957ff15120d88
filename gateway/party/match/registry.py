"""The home side's registry of children reported missing (SPEC §11), read as a stream.

The registry is a UTF-8 CSV with a header row and the columns of
:data:`COLUMNS` (more are ignored; an empty cell is unknown). :func:`read_registry`
yields one :class:`Report` per row without holding the file in memory, so a
registry of millions of rows costs the memory of its parsed reports only.

Guarantees: a file that is not UTF-8, lacks a column, or has a row without
``report_id`` or without any name raises :class:`RegistryError` naming the
line and what to fix, before any match is printed. An error message names
columns and line numbers, never a cell's content (a registry holds
children's names).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from gateway.protocol.errors import EXIT_USAGE, LocalError

COLUMNS = (
    "report_id", "family_name", "given_name", "patronymic", "sex", "birth_date",
    "birth_place", "displacement_date", "displacement_place", "reporter_relation",
    "reporter_name", "reporter_phone",
)  # fmt: skip
NAME_COLUMNS = ("family_name", "given_name", "patronymic")
MAX_FIELD_CHARS = 4096  # a registry cell longer than this is a broken file, not a name


class RegistryError(LocalError):
    """The registry file cannot be used as it is; the message says where and why.

    The command line exits with :attr:`exit_code` (2, SPEC §11).
    """

    exit_code = EXIT_USAGE  # SPEC §11: a bad registry or records file exits 2


@dataclass(frozen=True, slots=True)
class Report:
    """One row of the registry: a child a family reported missing.

    Empty cells are ``None``. ``line`` is the file line the row ends on.
    """

    report_id: str
    family_name: str | None
    given_name: str | None
    patronymic: str | None
    sex: str | None
    birth_date: str | None
    birth_place: str | None
    displacement_date: str | None
    displacement_place: str | None
    line: int


def _decoded_lines(raw: BinaryIO, path: Path, position: list[int]) -> Iterator[str]:
    """The file's lines as text, refusing the first one that is not UTF-8."""
    for number, line in enumerate(raw, start=1):
        position[0] = number
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RegistryError(
                f"{path}: line {number} is not UTF-8 (byte {exc.start + 1}); save the registry"
                " as UTF-8 (CSV UTF-8 in a spreadsheet) and run again"
            ) from None
        if number == 1:
            text = text.removeprefix("\ufeff")  # a spreadsheet's byte order mark
        yield text


def _cell(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


def read_registry(path: Path) -> Iterator[Report]:
    """Yield the registry's reports in file order, checking each row.

    Args:
        path: the registry CSV.

    Raises:
        RegistryError: the file cannot be opened, is not UTF-8, lacks one of
            :data:`COLUMNS`, or has a row without ``report_id`` or any name.
    """
    try:
        raw = path.open("rb")
    except OSError as exc:
        raise RegistryError(f"cannot open the registry {path}: {exc.strerror}") from None
    position = [0]
    with raw:
        reader = csv.reader(_decoded_lines(raw, path, position), strict=False)
        try:
            header = [h.strip().lower() for h in next(reader)]
        except StopIteration:
            raise RegistryError(f"{path} is empty; it needs a header row with the columns "
                                + ", ".join(COLUMNS)) from None  # fmt: skip
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            raise RegistryError(
                f"{path}: the header (line 1) lacks the column(s) {', '.join(missing)};"
                f" a registry has the columns {', '.join(COLUMNS)} (SPEC §11)"
            )
        at = {c: header.index(c) for c in COLUMNS}
        width = len(header)
        try:
            for row in reader:
                line = reader.line_num
                if not any(cell.strip() for cell in row):
                    continue  # a blank line ends nothing and names no child
                if len(row) < width:
                    row = row + [""] * (width - len(row))  # noqa: PLW2901
                if any(len(cell) > MAX_FIELD_CHARS for cell in row):
                    raise RegistryError(
                        f"{path}: line {line} has a cell longer than {MAX_FIELD_CHARS}"
                        " characters; check the quoting of that row"
                    )
                cells = {c: _cell(row[i]) for c, i in at.items()}
                report_id = cells["report_id"]
                if report_id is None:
                    raise RegistryError(
                        f"{path}: line {line} has no report_id; give every row its"
                        " report id, or delete the row"
                    )
                if not any(cells[c] for c in NAME_COLUMNS):
                    raise RegistryError(
                        f"{path}: line {line} (report_id {report_id}) has no family_name,"
                        " given_name or patronymic; add the name the family gave"
                    )
                yield Report(
                    report_id=report_id,
                    family_name=cells["family_name"],
                    given_name=cells["given_name"],
                    patronymic=cells["patronymic"],
                    sex=cells["sex"],
                    birth_date=cells["birth_date"],
                    birth_place=cells["birth_place"],
                    displacement_date=cells["displacement_date"],
                    displacement_place=cells["displacement_place"],
                    line=line,
                )
        except csv.Error as exc:
            raise RegistryError(
                f"{path}: line {position[0]} is not valid CSV ({exc}); check its quotes"
            ) from None


def unique_reports(reports: Iterable[Report], path: Path) -> Iterator[Report]:
    """Pass ``reports`` through, refusing a ``report_id`` given to two rows.

    A candidate names its report by id, so two rows under one id would make
    every match on either of them ambiguous. This keeps every id seen (about
    130 bytes each), which is why :func:`read_registry` alone does not.

    Raises:
        RegistryError: a row repeats the ``report_id`` of an earlier row.
    """
    seen: dict[str, int] = {}  # report_id -> the line that first gave it
    for report in reports:
        first = seen.setdefault(report.report_id, report.line)
        if first != report.line:
            raise RegistryError(
                f"{path}: line {report.line} repeats report_id {report.report_id} of line"
                f" {first}; give each report its own id, or merge the two rows"
            )
        yield report

