"""Checks shared by every loader: numeric cells, invalid-sample runs, time order.

Every problem is reported as a :class:`DataFormatError` naming the file, the
line (1-based, as an editor shows it) and the column, never as a numpy traceback.
"""

from __future__ import annotations

import contextlib
import csv
import gc
import operator
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Literal, NamedTuple, NoReturn

import numpy as np

from jaxpriv.data.dataset import DataFormatError

InvalidPolicy = Literal["error", "drop", "interpolate"]
INVALID_POLICIES: tuple[str, ...] = ("error", "drop", "interpolate")


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building millions of small lists.

    Each new container counts towards the collector's thresholds, so reading a
    large CSV triggers collections that rescan every row read so far (3x slower
    on CPython 3.11). Rows hold only strings, so nothing cyclic is missed.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class CsvTable(NamedTuple):
    """A CSV file's header and non-blank data rows, with each row's file line number."""

    header: list[str]
    rows: list[list[str]]
    lines: np.ndarray  # 1-based file line of each row (blank lines are skipped, not renumbered)
    header_line: int


def read_csv_table(path: Path) -> CsvTable:
    """Header, data rows and their real file line numbers; errors name the file."""
    rows: list[list[str]] = []
    lines: list[int] = []
    try:
        with open(path, newline="", encoding="utf-8") as fh, gc_paused():
            reader = csv.reader(fh)
            for row in reader:
                # "".join(...).strip() is a fast "every cell is blank" test.
                if row and "".join(row).strip():
                    rows.append(row)
                    lines.append(reader.line_num)
    except UnicodeDecodeError as err:
        raise DataFormatError(f"{path}: not a UTF-8 text file ({err.reason})") from None
    except OSError as err:
        raise DataFormatError(f"{path}: cannot read ({err.strerror})") from None
    except csv.Error as err:
        raise DataFormatError(f"{path}: not a readable CSV file ({err})") from None
    if not rows:
        raise DataFormatError(f"{path}: empty file (no header)")
    return CsvTable(
        header=[h.strip() for h in rows[0]],
        rows=rows[1:],
        lines=np.asarray(lines[1:], dtype=np.int64),
        header_line=lines[0],
    )


def read_csv_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    """Header and data rows of a CSV file; errors name the file."""
    table = read_csv_table(path)
    return table.header, table.rows


def _line_of(i: int, first_line: int, lines: Sequence[int] | np.ndarray | None) -> int:
    """File line of row ``i``: from ``lines`` when given, else counted from ``first_line``."""
    return int(lines[i]) if lines is not None else first_line + i


def to_float_matrix(
    rows: Sequence[Sequence[str]],
    columns: Sequence[int],
    column_names: Sequence[str],
    where: str,
    first_line: int = 2,
    *,
    lines: Sequence[int] | np.ndarray | None = None,
) -> np.ndarray:
    """Parse the given columns of string rows to a float64 ``(N, len(columns))`` matrix.

    Empty cells become NaN (missing values, handled by the invalid-sample policy);
    any other non-numeric cell is an error naming its line and column.
    ``first_line`` is the file line number of ``rows[0]``; ``lines``, when given,
    holds the file line of every row instead (for files with skipped lines).
    """
    width = max(columns) + 1 if columns else 0
    if not rows or not columns:
        return np.empty((len(rows), len(columns)), dtype=np.float64)
    lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    short = np.flatnonzero(lengths < width)
    if short.size:
        i = int(short[0])
        raise DataFormatError(
            f"{where}: line {_line_of(i, first_line, lines)} has {len(rows[i])} cells, "
            f"expected at least {width}"
        )
    # Fast path: numpy parses strings with float()'s rules in C. It fails on empty
    # cells as well as on bad ones; the per-cell path below sorts out which.
    pick = operator.itemgetter(*columns)
    try:
        with gc_paused():
            cells = list(map(pick, rows))
            return np.array(cells, dtype=np.float64).reshape(len(rows), len(columns))
    except ValueError:
        pass
    out = np.empty((len(rows), len(columns)), dtype=np.float64)
    for i, row in enumerate(rows):
        for j, col in enumerate(columns):
            cell = row[col].strip()
            if not cell:
                out[i, j] = np.nan
                continue
            try:
                out[i, j] = float(cell)
            except ValueError:
                raise DataFormatError(
                    f"{where}: line {_line_of(i, first_line, lines)}, "
                    f"column {column_names[j]!r}: {cell!r} is not a number"
                ) from None
    return out


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Half-open [start, end) index runs where ``mask`` is True."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def _span_text(
    start: int, end: int, first_line: int, lines: Sequence[int] | np.ndarray | None
) -> str:
    """File lines of rows [start, end), e.g. ``lines 5-7`` (or ``lines 5, 9, 13`` if scattered)."""
    if lines is None:
        return f"lines {first_line + start}-{first_line + end - 1}"
    span = [int(x) for x in lines[start:end]]
    if len(span) == 1:
        return f"line {span[0]}"
    if span[-1] - span[0] == len(span) - 1:
        return f"lines {span[0]}-{span[-1]}"
    more = ", ..." if len(span) > 3 else ""
    return "lines " + ", ".join(map(str, span[:3])) + more


def clean_invalid(
    data: np.ndarray,
    policy: InvalidPolicy,
    where: str,
    first_line: int = 2,
    *,
    lines: Sequence[int] | np.ndarray | None = None,
) -> tuple[list[np.ndarray], list[str]]:
    """Handle rows holding NaN/Inf (or missing) values.

    Returns the usable pieces and one note per repaired run:
    ``error`` raises naming the first run; ``drop`` cuts the runs out and
    returns the pieces between them; ``interpolate`` fills each run linearly
    from its neighbours (runs touching either end are trimmed instead, as
    there is nothing to interpolate from). ``lines``, when given, holds the
    file line of every row (rows regrouped or sorted after reading) and is
    used in the messages instead of counting from ``first_line``.
    """
    if policy not in INVALID_POLICIES:
        raise ValueError(f"invalid-sample policy must be one of {INVALID_POLICIES}, got {policy!r}")
    bad = ~np.isfinite(data).all(axis=1)
    if not bad.any():
        return [data], []
    runs = _runs(bad)
    if policy == "error":
        start, end = runs[0]
        _raise_invalid(where, _span_text(start, end, first_line, lines), len(runs))

    notes = []
    if policy == "drop":
        pieces, last = [], 0
        for start, end in runs:
            if start > last:
                pieces.append(data[last:start])
            notes.append(
                f"{where}: {_span_text(start, end, first_line, lines)}: "
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
        span = _span_text(start, end, first_line, lines)
        if start < lo or end > hi:
            notes.append(f"{where}: {span}: {end - start} row(s) with NaN/Inf at the edge trimmed")
            continue
        for c in range(data.shape[1]):
            col = data[:, c]
            ok = np.isfinite(col)
            col[start:end] = np.interp(np.arange(start, end), np.flatnonzero(ok), col[ok])
        notes.append(f"{where}: {span}: {end - start} row(s) with NaN/Inf interpolated")
    return [data[lo:hi]], notes


def _raise_invalid(where: str, span: str, count: int) -> NoReturn:
    more = f" (and {count - 1} more run(s))" if count > 1 else ""
    raise DataFormatError(
        f"{where}: {span} hold NaN/Inf or empty "
        f"values{more}; pass invalid='interpolate' or invalid='drop' to repair them"
    )


def check_increasing(
    time: np.ndarray,
    where: str,
    first_line: int = 2,
    *,
    lines: Sequence[int] | np.ndarray | None = None,
) -> None:
    """Timestamps must be finite and strictly increasing.

    ``lines``, when given, holds the file line of every row (see :func:`clean_invalid`).
    """
    if not np.isfinite(time).all():
        i = int(np.flatnonzero(~np.isfinite(time))[0])
        raise DataFormatError(
            f"{where}: line {_line_of(i, first_line, lines)}: timestamp is missing or not finite"
        )
    steps = np.diff(time)
    if (steps <= 0).any():
        i = int(np.flatnonzero(steps <= 0)[0]) + 1
        # With explicit line numbers the previous row need not be the line above.
        prev_line = f", line {_line_of(i - 1, first_line, lines)}" if lines is not None else ""
        raise DataFormatError(
            f"{where}: line {_line_of(i, first_line, lines)}: timestamp {float(time[i])!r} "
            f"does not increase (previous {float(time[i - 1])!r}{prev_line}); timestamps must "
            "be strictly increasing"
        )


def check_duplicate_columns(path: Path, header_line: int, header: Sequence[str]) -> None:
    seen: set[str] = set()
    for i, name in enumerate(header):
        if not name:
            raise DataFormatError(f"{path}: line {header_line}: column {i + 1} has no name")
        if name in seen:
            raise DataFormatError(f"{path}: line {header_line}: column {name!r} appears twice")
        seen.add(name)


def check_row_lengths(path: Path, table: CsvTable, width: int) -> None:
    """Every row has ``width`` cells (extra cells are tolerated only when empty)."""
    lengths = np.fromiter(map(len, table.rows), dtype=np.int64, count=len(table.rows))
    for i in np.flatnonzero(lengths != width).tolist():
        row = table.rows[i]
        if len(row) < width or any(cell.strip() for cell in row[width:]):
            raise DataFormatError(
                f"{path}: line {table.lines[i]} has {len(row)} cells, the header has {width}"
            )
