"""The subjects table: one row per subject, ``subject`` plus any subset of
``gender, age, height, weight`` (see ``docs/data.md``), for any dataset that has
none of its own (a recordings CSV, MobiAct's annotated files)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from jaxpriv.data.dataset import ATTRIBUTES, DataFormatError, Subject, parse_gender
from jaxpriv.data.parsing import check_duplicate_columns, check_row_lengths, read_csv_table


def load_subjects_table(path: str | Path) -> dict[str, Subject]:
    """Read a subjects table: ``subject`` and any subset of ``gender, age, height, weight``.

    Gender may be coded male/female, m/f or 1/0 (1 = male); the others are numbers;
    empty cells mean unknown (``None``). Returns the subjects in file order.
    """
    path = Path(path)
    table = read_csv_table(path)
    header = [h.lower() for h in table.header]
    check_duplicate_columns(path, table.header_line, header)
    if "subject" not in header:
        raise DataFormatError(
            f"{path}: line {table.header_line}: no 'subject' column in the header {table.header}"
        )
    unknown = [h for h in header if h != "subject" and h not in ATTRIBUTES]
    if unknown:
        raise DataFormatError(
            f"{path}: line {table.header_line}: unknown column(s) {unknown}; allowed: "
            f"{['subject', *ATTRIBUTES]}"
        )
    check_row_lengths(path, table, len(header))
    subjects: dict[str, Subject] = {}
    first_seen: dict[str, int] = {}
    for row, line in zip(table.rows, table.lines.tolist(), strict=True):
        cells = {h: row[i].strip() for i, h in enumerate(header)}
        sid = cells.pop("subject")
        if not sid:
            raise DataFormatError(f"{path}: line {line}, column 'subject': empty subject id")
        if sid in subjects:
            raise DataFormatError(
                f"{path}: line {line}: duplicate subject id {sid!r} (first on line "
                f"{first_seen[sid]})"
            )
        subjects[sid] = _subject_from_cells(cells, f"{path}: line {line}")
        first_seen[sid] = line
    if not subjects:
        raise DataFormatError(f"{path}: the subjects table has no rows")
    return subjects


def _subject_from_cells(cells: dict[str, str], where: str) -> Subject:
    attrs: dict[str, float | int | None] = {}
    for name, cell in cells.items():
        if name == "gender":
            attrs[name] = parse_gender(cell, f"{where}, column 'gender'")
        else:
            attrs[name] = _optional_number(cell, f"{where}, column {name!r}")
    return Subject(**attrs)  # type: ignore[arg-type]


def _optional_number(cell: str, where: str) -> float | None:
    if cell.lower() in ("", "nan", "na", "none", "?"):
        return None
    try:
        value = float(cell)
    except ValueError:
        raise DataFormatError(f"{where}: {cell!r} is not a number") from None
    if not math.isfinite(value):
        raise DataFormatError(f"{where}: {cell!r} is not a finite number")
    return value


def subjects_for(
    path: Path, present: Sequence[str], subjects: str | Path | None
) -> dict[str, Subject]:
    """Attributes of the subjects that have recordings (all None without a table).

    Every subject present must be in the table: a missing one is an error naming ``path``.
    """
    if subjects is None:
        return {s: Subject() for s in present}
    table = load_subjects_table(subjects)
    missing = [s for s in present if s not in table]
    if missing:
        raise DataFormatError(
            f"{path}: subject(s) {missing} are not in the subjects table {subjects}"
        )
    return {s: table[s] for s in present}
