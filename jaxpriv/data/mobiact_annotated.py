"""MobiAct v2 annotated CSVs: one recording per run of the per-sample activity label.

Files ``<CODE>_<subject>_<trial>_annotated.csv`` are found anywhere under the dataset
folder; each is split into runs of its ``label`` column, and each run is resampled to a
uniform rate over its ``rel_time`` span. See ``docs/data-formats.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from jaxpriv.data.dataset import DataFormatError, Dataset, Recording, natural_key
from jaxpriv.data.mobiact import (
    ACTIVITY_ORDER,
    ANNOTATED_CHANNELS,
    ANNOTATED_COLUMNS,
    ANNOTATED_PATTERN,
    ANNOTATED_PATTERN_TEXT,
    ANNOTATED_UNITS,
    check_common_arguments,
    check_folder,
    check_names,
    excluded_note,
    is_fall,
)
from jaxpriv.data.parsing import (
    InvalidPolicy,
    check_increasing,
    clean_invalid,
    read_csv_table,
    to_float_matrix,
)
from jaxpriv.data.resampling import resample_to_rate
from jaxpriv.data.subjects_table import subjects_for


def load_mobiact_annotated(
    root: str | Path,
    *,
    rate_hz: float = 50.0,
    channels: Sequence[str] = ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z"),
    invalid: InvalidPolicy = "error",
    activities: Sequence[str] | None = None,
    subjects: str | Path | None = None,
    falls: bool = False,
) -> Dataset:
    """Load MobiAct v2 annotated CSVs (``<CODE>_<subject>_<trial>_annotated.csv``) under ``root``.

    Each file is split into runs of its per-sample ``label`` column; each run
    becomes a Recording with activity = label (``segment`` numbers the pieces of
    the file in time order), resampled to ``rate_hz`` over its ``rel_time`` span
    (:func:`resample_to_rate`). ``activities``, if given, lists the allowed labels.
    The files carry no subject attributes; ``subjects`` is an optional subjects
    table (:func:`jaxpriv.data.subjects_table.load_subjects_table`) covering every subject.
    Runs labelled with a fall code (FOL, FKL, BSC, SDL) are left out with a note unless
    ``falls``. The files state no units: ``Dataset.units`` gives the readme's (acc m/s^2,
    gyro rad/s, azimuth/pitch/roll degrees).
    """
    root = Path(root)
    channels = _check_annotated_arguments(channels, rate_hz, invalid)
    check_folder(root)
    table_path = None if subjects is None else Path(subjects).resolve()
    files = [
        p
        for p in sorted(root.rglob("*.csv"), key=lambda p: natural_key(str(p)))
        if p.is_file() and p.resolve() != table_path
    ]
    if not files:
        raise DataFormatError(
            f"{root}: no annotated MobiAct files found (looked recursively for "
            f"{ANNOTATED_PATTERN_TEXT}, e.g. WAL_3_1_annotated.csv)"
        )
    recordings: list[Recording] = []
    notes: list[str] = []
    for path in files:
        recs, file_notes = _annotated_recordings(root, path, channels, rate_hz, invalid, activities)
        recordings.extend(recs)
        notes.extend(file_notes)
    left_out: dict[str, int] = {}
    if not falls:
        for r in recordings:
            if is_fall(r.activity):
                left_out[r.activity] = left_out.get(r.activity, 0) + 1
        recordings = [r for r in recordings if not is_fall(r.activity)]
        if left_out:
            notes.append(excluded_note(root, "fall", left_out, "falls"))
    if not recordings:
        raise DataFormatError(f"{root}: no label run is long enough to resample; " + notes[-1])

    present = sorted({r.subject for r in recordings}, key=natural_key)
    return Dataset(
        recordings=tuple(recordings),
        channels=channels,
        rate_hz=float(rate_hz),
        subjects=subjects_for(root, present, subjects),
        description={
            "kind": "mobiact_annotated",
            "path": str(root.resolve()),
            "channels": list(channels),
            "subjects": None if table_path is None else str(table_path),
            "rate_hz": float(rate_hz),
            "invalid": invalid,
            "falls": bool(falls),
            "activity_order": list(ACTIVITY_ORDER),
            "name": root.resolve().name,
        },
        notes=tuple(notes),
        units={c: ANNOTATED_UNITS[c] for c in channels},
    )


def _check_annotated_arguments(
    channels: Sequence[str], rate_hz: float, invalid: str
) -> tuple[str, ...]:
    check_common_arguments(rate_hz, invalid)
    return check_names("channels", channels, tuple(ANNOTATED_CHANNELS))


def _annotated_recordings(
    root: Path,
    path: Path,
    channels: tuple[str, ...],
    rate_hz: float,
    invalid: InvalidPolicy,
    activities: Sequence[str] | None,
) -> tuple[list[Recording], list[str]]:
    """One file's label runs, cleaned and resampled."""
    match = ANNOTATED_PATTERN.match(path.name)
    if not match:
        raise DataFormatError(
            f"{path}: file name does not match {ANNOTATED_PATTERN_TEXT} "
            "(e.g. WAL_3_1_annotated.csv)"
        )
    _, subject, trial = match.groups()
    table = read_csv_table(path)
    header = table.header
    _check_annotated_header(path, table.header_line, header, channels)
    if not table.rows:
        raise DataFormatError(f"{path}: no data rows after the header")

    columns = [header.index(c) for c in ("rel_time", *channels)]
    values = to_float_matrix(
        table.rows, columns, ["rel_time", *channels], str(path), lines=table.lines
    )
    check_increasing(values[:, 0], str(path), lines=table.lines)
    labels = _labels(path, table.rows, header.index("label"), table.lines, activities)

    # Label runs as a numeric column, so that they survive cleaning alongside the data.
    run_id = np.concatenate([[0], np.cumsum(labels[1:] != labels[:-1])])
    pieces, notes = clean_invalid(
        np.column_stack([values[:, :1], run_id, values[:, 1:]]),
        invalid,
        str(path),
        lines=table.lines,
    )
    run_labels = labels[np.concatenate([[0], np.flatnonzero(labels[1:] != labels[:-1]) + 1])]
    recordings = []
    for piece in pieces:
        for run in np.split(piece, np.flatnonzero(np.diff(piece[:, 1])) + 1):
            label = str(run_labels[int(run[0, 1])])
            data = resample_to_rate(run[:, 0], run[:, 2:], rate_hz)
            if data.shape[0] == 0:
                notes.append(
                    f"{path}: label run {label!r} at rel_time {run[0, 0]:.3f}-{run[-1, 0]:.3f} s "
                    f"is shorter than one sample at {rate_hz:g} Hz; skipped"
                )
                continue
            recordings.append(
                Recording(
                    subject=subject,
                    activity=label,
                    trial=trial,
                    data=data,
                    source=str(path.relative_to(root)),
                    segment=len(recordings),
                )
            )
    return recordings, notes


def _check_annotated_header(
    path: Path, header_line: int, header: list[str], channels: tuple[str, ...]
) -> None:
    """The columns needed are there; any others must be known MobiAct columns."""
    missing = [c for c in ("rel_time", *channels, "label") if c not in header]
    unexpected = [c for c in header if c not in ANNOTATED_COLUMNS]
    problems = []
    if missing:
        problems.append(f"missing column(s) {missing}")
    if unexpected:
        problems.append(f"unexpected column(s) {unexpected}")
    duplicated = sorted({c for c in header if header.count(c) > 1})
    if duplicated:
        problems.append(f"column(s) {duplicated} appear more than once")
    if problems:
        raise DataFormatError(
            f"{path}: line {header_line}: {'; '.join(problems)}; MobiAct annotated columns "
            f"are {list(ANNOTATED_COLUMNS)}"
        )


def _labels(
    path: Path,
    rows: list[list[str]],
    column: int,
    lines: np.ndarray,
    activities: Sequence[str] | None,
) -> np.ndarray:
    """The per-sample label strings; empty or (when restricted) unknown labels are errors."""
    labels = [row[column].strip() if len(row) > column else "" for row in rows]
    allowed = None if activities is None else {str(a) for a in activities}
    for i, label in enumerate(labels):
        if not label:
            raise DataFormatError(f"{path}: line {lines[i]}, column 'label': empty label")
        if allowed is not None and label not in allowed:
            raise DataFormatError(
                f"{path}: line {lines[i]}, column 'label': unknown activity code {label!r}; "
                f"allowed: {list(activities or ())}"
            )
    return np.asarray(labels)
