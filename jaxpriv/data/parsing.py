"""Checks shared by every loader: numeric cells, invalid-sample runs, time order.

Every problem is reported as a :class:`DataFormatError` naming the file, the
line (1-based, as an editor shows it) and the column, never as a numpy traceback.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, NoReturn

import numpy as np

from jaxpriv.data.dataset import DataFormatError

InvalidPolicy = Literal["error", "drop", "interpolate"]
INVALID_POLICIES: tuple[str, ...] = ("error", "drop", "interpolate")


def read_csv_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    """Header and data rows of a CSV file; errors name the file."""
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
    except UnicodeDecodeError as err:
        raise DataFormatError(f"{path}: not a UTF-8 text file ({err.reason})") from None
    except OSError as err:
        raise DataFormatError(f"{path}: cannot read ({err.strerror})") from None
    rows = [r for r in rows if r and any(cell.strip() for cell in r)]
    if not rows:
        raise DataFormatError(f"{path}: empty file (no header)")
    return [h.strip() for h in rows[0]], rows[1:]


def to_float_matrix(
    rows: Sequence[Sequence[str]],
    columns: Sequence[int],
    column_names: Sequence[str],
    where: str,
    first_line: int = 2,
) -> np.ndarray:
    """Parse the given columns of string rows to a float64 ``(N, len(columns))`` matrix.

    Empty cells become NaN (missing values, handled by the invalid-sample policy);
    any other non-numeric cell is an error naming its line and column.
    ``first_line`` is the file line number of ``rows[0]``.
    """
    width = max(columns) + 1 if columns else 0
    out = np.empty((len(rows), len(columns)), dtype=np.float64)
    for i, row in enumerate(rows):
        if len(row) < width:
            raise DataFormatError(
                f"{where}: line {first_line + i} has {len(row)} cells, expected at least {width}"
            )
        for j, col in enumerate(columns):
            cell = row[col].strip()
            if not cell:
                out[i, j] = np.nan
                continue
            try:
                out[i, j] = float(cell)
            except ValueError:
                raise DataFormatError(
                    f"{where}: line {first_line + i}, column {column_names[j]!r}: "
                    f"{cell!r} is not a number"
                ) from None
    return out


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Half-open [start, end) index runs where ``mask`` is True."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def clean_invalid(
    data: np.ndarray,
    policy: InvalidPolicy,
    where: str,
    first_line: int = 2,
) -> tuple[list[np.ndarray], list[str]]:
    """Handle rows holding NaN/Inf (or missing) values.

    Returns the usable pieces and one note per repaired run:
    ``error`` raises naming the first run; ``drop`` cuts the runs out and
    returns the pieces between them; ``interpolate`` fills each run linearly
    from its neighbours (runs touching either end are trimmed instead, as
    there is nothing to interpolate from).
    """
    if policy not in INVALID_POLICIES:
        raise ValueError(f"invalid-sample policy must be one of {INVALID_POLICIES}, got {policy!r}")
    bad = ~np.isfinite(data).all(axis=1)
    if not bad.any():
        return [data], []
    runs = _runs(bad)
    if policy == "error":
        start, end = runs[0]
        _raise_invalid(where, first_line, start, end, len(runs))

    notes = []
    if policy == "drop":
        pieces, last = [], 0
        for start, end in runs:
            if start > last:
                pieces.append(data[last:start])
            notes.append(
                f"{where}: lines {first_line + start}-{first_line + end - 1}: "
                f"{end - start} row(s) with NaN/Inf dropped, recording cut there"
            )
            last = end
        if last < len(data):
            pieces.append(data[last:])
        return pieces, notes

    # interpolate
    good = np.flatnonzero(~bad)
    if good.size == 0:
        raise DataFormatError(f"{where}: every row holds NaN/Inf; nothing to interpolate from")
    lo, hi = good[0], good[-1] + 1
    data = data.copy()
    for start, end in runs:
        lines = f"lines {first_line + start}-{first_line + end - 1}"
        if start < lo or end > hi:
            notes.append(f"{where}: {lines}: {end - start} row(s) with NaN/Inf at the edge trimmed")
            continue
        for c in range(data.shape[1]):
            col = data[:, c]
            ok = np.isfinite(col)
            col[start:end] = np.interp(np.arange(start, end), np.flatnonzero(ok), col[ok])
        notes.append(f"{where}: {lines}: {end - start} row(s) with NaN/Inf interpolated")
    return [data[lo:hi]], notes


def _raise_invalid(where: str, first_line: int, start: int, end: int, count: int) -> NoReturn:
    more = f" (and {count - 1} more run(s))" if count > 1 else ""
    raise DataFormatError(
        f"{where}: lines {first_line + start}-{first_line + end - 1} hold NaN/Inf or empty "
        f"values{more}; pass invalid='interpolate' or invalid='drop' to repair them"
    )


def check_increasing(time: np.ndarray, where: str, first_line: int = 2) -> None:
    """Timestamps must be finite and strictly increasing."""
    if not np.isfinite(time).all():
        i = int(np.flatnonzero(~np.isfinite(time))[0])
        raise DataFormatError(f"{where}: line {first_line + i}: timestamp is missing or not finite")
    steps = np.diff(time)
    if (steps <= 0).any():
        i = int(np.flatnonzero(steps <= 0)[0]) + 1
        raise DataFormatError(
            f"{where}: line {first_line + i}: timestamp {time[i]!r} does not increase "
            f"(previous {time[i - 1]!r}); timestamps must be strictly increasing"
        )
