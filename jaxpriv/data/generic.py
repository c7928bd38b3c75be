"""Generic long-format recordings CSV and subjects table (any dataset, including a user's own).

Recordings file: one row per sample, columns ``subject, activity, trial`` (identifiers),
optional ``time_s``, and any number of channel columns (names and order kept).
Subjects table: :mod:`jaxpriv.data.subjects_table`.
See ``docs/data-formats.md``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from jaxpriv.data.dataset import (
    DataFormatError,
    Dataset,
    Recording,
    natural_key,
    natural_sorted,
)
from jaxpriv.data.parsing import (
    INVALID_POLICIES,
    CsvTable,
    InvalidPolicy,
    check_duplicate_columns,
    check_increasing,
    check_row_lengths,
    clean_invalid,
    gc_paused,
    read_csv_table,
    to_float_matrix,
)
from jaxpriv.data.subjects_table import subjects_for

ID_COLUMNS = ("subject", "activity", "trial")
TIME_COLUMN = "time_s"
RATE_TOLERANCE = 0.01  # recordings' rates (and rate_hz) must agree within 1%
IRREGULAR_STEP = 0.10  # a step more than 10% off the median step makes timestamps irregular


# ---------------------------------------------------------------------------- recordings


def load_recordings_csv(
    path: str | Path,
    *,
    subjects: str | Path | None = None,
    rate_hz: float | None = None,
    invalid: InvalidPolicy = "error",
    activities: Sequence[str] | None = None,
) -> Dataset:
    """Load a long-format recordings CSV: one row per sample.

    Columns ``subject, activity, trial`` identify a recording (kept as stripped
    strings); ``time_s`` (optional) orders its rows and gives the sampling rate;
    every other column is a channel. Without ``time_s``, ``rate_hz`` is required;
    with it, ``rate_hz`` (if given) must agree with the timestamps within 1%, and
    irregular timestamps are resampled onto a uniform grid (with a note).
    ``invalid`` says what to do with NaN/Inf/empty values (see
    :func:`jaxpriv.data.parsing.clean_invalid`); ``activities``, if given, lists
    the allowed activity codes; ``subjects`` is an optional subjects table
    (:func:`load_subjects_table`) that must cover every subject.
    """
    path = Path(path)
    _check_arguments(invalid, rate_hz)
    table = read_csv_table(path)
    cols = _recording_columns(path, table)
    has_time = bool(cols["time"])
    if not has_time and rate_hz is None:
        raise DataFormatError(
            f"{path}: no {TIME_COLUMN!r} column, so the sampling rate is unknown; pass rate_hz=..."
        )
    if not table.rows:
        raise DataFormatError(f"{path}: no data rows after the header")
    check_row_lengths(path, table, len(table.header))
    ids = _identifiers(path, table, cols["ids"])
    if activities is not None:
        _check_activities(path, table, ids[1], activities)
    numeric = [*cols["time"], *cols["channels"]]
    values = to_float_matrix(
        table.rows, numeric, [table.header[i] for i in numeric], str(path), lines=table.lines
    )
    groups = _group_rows(ids, values[:, 0] if has_time else None)

    if has_time:
        rate = _rate_from_timestamps(path, groups, values[:, 0], table.lines, rate_hz)
    else:
        rate = float(rate_hz)  # not None: checked above

    recordings: list[Recording] = []
    notes: list[str] = []
    for key, rows in groups:
        recs, rec_notes = _build_recording(
            path, key, values[rows], table.lines[rows], has_time, rate, invalid
        )
        recordings.extend(recs)
        notes.extend(rec_notes)

    present = natural_sorted({r.subject for r in recordings})
    return Dataset(
        recordings=tuple(recordings),
        channels=tuple(table.header[i] for i in cols["channels"]),
        rate_hz=rate,
        subjects=subjects_for(path, present, subjects),
        description={
            "kind": "recordings_csv",
            "path": str(path.resolve()),
            "subjects": None if subjects is None else str(Path(subjects).resolve()),
            "rate_hz": rate,
            "invalid": invalid,
            "name": path.stem,
        },
        notes=tuple(notes),
    )


def _check_arguments(invalid: str, rate_hz: float | None) -> None:
    if invalid not in INVALID_POLICIES:
        raise ValueError(f"invalid must be one of {INVALID_POLICIES}, got {invalid!r}")
    if rate_hz is not None and not (math.isfinite(rate_hz) and rate_hz > 0):
        raise ValueError(f"rate_hz must be a positive number, got {rate_hz!r}")


def _recording_columns(path: Path, table: CsvTable) -> dict[str, list[int]]:
    """Indices of the identifier, time and channel columns, checking the header."""
    header = table.header
    check_duplicate_columns(path, table.header_line, header)
    missing = [c for c in ID_COLUMNS if c not in header]
    if missing:
        raise DataFormatError(
            f"{path}: line {table.header_line}: missing required column(s) {missing}; "
            f"the header is {header}"
        )
    special = {*ID_COLUMNS, TIME_COLUMN}
    channels = [i for i, h in enumerate(header) if h not in special]
    if not channels:
        raise DataFormatError(
            f"{path}: line {table.header_line}: no channel columns (every column other than "
            f"{[*ID_COLUMNS, TIME_COLUMN]} is a channel)"
        )
    return {
        "ids": [header.index(c) for c in ID_COLUMNS],
        "time": [header.index(TIME_COLUMN)] if TIME_COLUMN in header else [],
        "channels": channels,
    }


def _identifiers(path: Path, table: CsvTable, columns: list[int]) -> list[list[str]]:
    """Stripped subject, activity and trial strings of every row; empty ones are errors."""
    out = []
    for col, name in zip(columns, ID_COLUMNS, strict=True):
        with gc_paused():
            cells = [row[col].strip() for row in table.rows]
        if "" in cells:
            line = table.lines[cells.index("")]
            raise DataFormatError(f"{path}: line {line}, column {name!r}: empty {name}")
        out.append(cells)
    return out


def _check_activities(
    path: Path, table: CsvTable, codes: list[str], allowed: Sequence[str]
) -> None:
    allowed_set = {str(a) for a in allowed}
    unknown = set(codes) - allowed_set
    if unknown:
        i = next(i for i, code in enumerate(codes) if code in unknown)
        raise DataFormatError(
            f"{path}: line {table.lines[i]}, column 'activity': unknown activity code "
            f"{codes[i]!r}; allowed: {list(allowed)}"
        )


GroupKey = tuple[str, str, str]


def _group_rows(ids: list[list[str]], time: np.ndarray | None) -> list[tuple[GroupKey, np.ndarray]]:
    """Row indices of each (subject, activity, trial), in natural key order.

    Within a group rows are ordered by time (stably, so duplicates stay in file
    order and are reported by the increasing check), or kept in file order.
    """
    index: dict[GroupKey, int] = {}
    gid = np.fromiter(
        (index.setdefault(k, len(index)) for k in zip(*ids, strict=True)),
        dtype=np.int64,
        count=len(ids[0]),
    )
    # NaN times sort last; check_increasing reports them.
    order = np.lexsort((time, gid)) if time is not None else np.argsort(gid, kind="stable")
    bounds = np.flatnonzero(np.diff(gid[order])) + 1
    chunks = np.split(order, bounds)
    keys = list(index)
    by_key = {keys[int(gid[chunk[0]])]: chunk for chunk in chunks}
    return [(k, by_key[k]) for k in sorted(by_key, key=lambda k: tuple(map(natural_key, k)))]


def _where(path: Path, key: GroupKey) -> str:
    subject, activity, trial = key
    return f"{path} [subject {subject}, activity {activity}, trial {trial}]"


def _rate_from_timestamps(
    path: Path,
    groups: list[tuple[GroupKey, np.ndarray]],
    time: np.ndarray,
    lines: np.ndarray,
    rate_hz: float | None,
) -> float:
    """Check every recording's timestamps and return the common sampling rate."""
    rates: dict[GroupKey, float] = {}
    for key, rows in groups:
        t = time[rows]
        check_increasing(t, _where(path, key), lines=lines[rows])
        if t.size >= 2:
            rates[key] = 1.0 / float(np.median(np.diff(t)))
    if not rates:
        if rate_hz is None:
            raise DataFormatError(
                f"{path}: every recording has a single sample, so the rate cannot be estimated "
                "from time_s; pass rate_hz=..."
            )
        return float(rate_hz)
    if rate_hz is not None:
        off = {k: r for k, r in rates.items() if abs(r / rate_hz - 1) > RATE_TOLERANCE}
        if off:
            raise DataFormatError(
                f"{path}: rate_hz={rate_hz} disagrees (by more than 1%) with the rate of the "
                f"timestamps of {_describe_rates(off)}"
            )
        return float(rate_hz)
    lo, hi = min(rates, key=rates.__getitem__), max(rates, key=rates.__getitem__)
    if rates[hi] / rates[lo] - 1 > RATE_TOLERANCE:
        raise DataFormatError(
            f"{path}: recordings disagree on the sampling rate by more than 1%: "
            f"{_describe_rates({lo: rates[lo], hi: rates[hi]})}; all recordings must share one rate"
        )
    return _tidy_rate(float(np.median(list(rates.values()))))


def _describe_rates(rates: dict[GroupKey, float]) -> str:
    shown = [f"{'/'.join(k)} at {r:.4g} Hz" for k, r in list(rates.items())[:5]]
    more = f" and {len(rates) - 5} more" if len(rates) > 5 else ""
    return "recording(s) subject/activity/trial " + ", ".join(shown) + more


def _tidy_rate(rate: float) -> float:
    """Snap float noise (49.99999999 from 0.02 s steps) to the integer rate."""
    nearest = round(rate)
    return float(nearest) if nearest and abs(rate - nearest) <= 1e-6 * rate else rate


def _build_recording(
    path: Path,
    key: GroupKey,
    values: np.ndarray,
    lines: np.ndarray,
    has_time: bool,
    rate: float,
    invalid: InvalidPolicy,
) -> tuple[list[Recording], list[str]]:
    """Clean one group's rows (and resample them if the timestamps are irregular)."""
    where = _where(path, key)
    # The time column goes through cleaning too, so each piece keeps its timestamps.
    pieces, notes = clean_invalid(values, invalid, where, lines=lines)
    irregular = has_time and _irregular(values[:, 0])
    if irregular:
        steps = np.diff(values[:, 0])
        notes.append(
            f"{where}: irregular timestamps (steps {steps.min():.4g}-{steps.max():.4g} s, "
            f"median {np.median(steps):.4g} s); resampled onto a uniform {rate:g} Hz grid "
            "by linear interpolation"
        )
    subject, activity, trial = key
    recordings = []
    for piece in pieces:
        if not has_time:
            data = piece
        elif irregular:
            data = _uniform(piece[:, 0], piece[:, 1:], rate)
        else:
            data = piece[:, 1:]
        recordings.append(
            Recording(
                subject=subject,
                activity=activity,
                trial=trial,
                data=np.ascontiguousarray(data, dtype=np.float64),
                source=f"{path}:{subject}/{activity}/{trial}",
                segment=len(recordings),
            )
        )
    return recordings, notes


def _irregular(time: np.ndarray) -> bool:
    if time.size < 3:
        return False
    steps = np.diff(time)
    median = np.median(steps)
    return bool((np.abs(steps - median) > IRREGULAR_STEP * median).any())


def _uniform(time: np.ndarray, values: np.ndarray, rate: float) -> np.ndarray:
    """Linear interpolation onto ``time[0] + k / rate`` within the piece's span."""
    num = math.floor((time[-1] - time[0]) * rate + 1e-9) + 1
    grid = time[0] + np.arange(num) / rate
    return np.column_stack([np.interp(grid, time, values[:, c]) for c in range(values.shape[1])])
