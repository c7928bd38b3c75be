"""Reader for MotionSense's DeviceMotion folder (the real dataset or the simulator's).

Layout: ``<root>/A_DeviceMotion_data/<code>_<trial>/sub_<n>.csv`` and the
subjects table ``data_subjects_info.csv`` (next to the data folder, or given).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from jaxpriv.data.dataset import DataFormatError, Dataset, Recording, Subject, parse_gender
from jaxpriv.data.parsing import (
    CsvTable,
    InvalidPolicy,
    clean_invalid,
    read_csv_table,
    to_float_matrix,
)
from jaxpriv.data.simulator import DEVICE_MOTION_COLUMNS, MOTIONSENSE_TRIALS

RATE_HZ = 50.0
DATA_FOLDER = "A_DeviceMotion_data"
SUBJECTS_FILE = "data_subjects_info.csv"
ACTIVITY_ORDER = tuple(MOTIONSENSE_TRIALS)  # dws, ups, wlk, jog, sit, std
# Core Motion's units (Apple's CMDeviceMotion): attitude in radians, gravity and
# userAcceleration in g, rotationRate in rad/s.
UNITS = {
    name: {"attitude": "rad", "gravity": "g", "rotationRate": "rad/s"}.get(name.split(".")[0], "g")
    for name in DEVICE_MOTION_COLUMNS
}
_TRIAL_DIR = re.compile(r"^([A-Za-z]+)_(\d+)$")
_SUBJECT_FILE = re.compile(r"^sub_(\d+)\.csv$")


def find_data_folder(root: str | Path) -> Path:
    """The ``A_DeviceMotion_data`` folder: ``root`` itself or a child of it."""
    root = Path(root)
    if root.name == DATA_FOLDER and root.is_dir():
        return root
    if (root / DATA_FOLDER).is_dir():
        return root / DATA_FOLDER
    raise DataFormatError(f"{root}: no {DATA_FOLDER} folder found (expected {root / DATA_FOLDER})")


def is_motionsense(root: str | Path) -> bool:
    try:
        find_data_folder(root)
    except DataFormatError:
        return False
    return True


def load_subjects_info(path: str | Path) -> dict[str, Subject]:
    """MotionSense's ``code,weight,height,age,gender`` table.

    Empty weight/height/age/gender cells mean unknown (``None``); codes must be
    unique integers. Errors name the file's real line (blank lines counted).
    """
    path = Path(path)
    table = read_csv_table(path)
    header = table.header
    _check_header(path, table)
    expected = ["code", "weight", "height", "age", "gender"]
    missing = [c for c in expected if c not in header]
    if missing:
        raise DataFormatError(f"{path}: missing column(s) {missing}; header is {header}")
    _check_row_lengths(path, table)
    idx = {c: header.index(c) for c in expected}
    numeric = to_float_matrix(
        table.rows, [idx[c] for c in expected[:4]], expected[:4], str(path), lines=table.lines
    )
    subjects: dict[str, Subject] = {}
    for row, line, (code, weight, height, age) in zip(
        table.rows, table.lines.tolist(), numeric.tolist(), strict=True
    ):
        where = f"{path}: line {line}"
        # An empty code parses to NaN, which int() cannot take.
        if not math.isfinite(code) or code != int(code):
            raise DataFormatError(f"{where}, column 'code': {row[idx['code']]!r} is not an integer")
        key = str(int(code))
        if key in subjects:
            raise DataFormatError(f"{where}: subject {key} appears twice")
        subjects[key] = Subject(
            gender=parse_gender(row[idx["gender"]], f"{where}, column 'gender'"),
            age=_known(age),
            height=_known(height),
            weight=_known(weight),
        )
    if not subjects:
        raise DataFormatError(f"{path}: the subjects table has no rows")
    return subjects


def _known(value: float) -> float | None:
    """Empty cells parse to NaN; a Subject says ``None`` for unknown instead."""
    return value if math.isfinite(value) else None


def _check_header(path: Path, table: CsvTable) -> None:
    """No duplicate column names: ``header.index`` would silently pick the first."""
    seen: set[str] = set()
    for name in table.header:
        if name and name in seen:
            raise DataFormatError(
                f"{path}: line {table.header_line}: column {name!r} appears twice"
            )
        seen.add(name)


def _check_row_lengths(path: Path, table: CsvTable) -> None:
    """Every data row has as many cells as the header (a torn row is an error)."""
    width = len(table.header)
    lengths = np.fromiter(map(len, table.rows), dtype=np.int64, count=len(table.rows))
    bad = np.flatnonzero(lengths != width)
    if bad.size:
        i = int(bad[0])
        raise DataFormatError(
            f"{path}: line {table.lines[i]} has {lengths[i]} cells, the header has {width}"
        )


def _locate_subjects_table(data_folder: Path) -> Path:
    for candidate in (data_folder.parent / SUBJECTS_FILE, data_folder / SUBJECTS_FILE):
        if candidate.is_file():
            return candidate
    raise DataFormatError(
        f"{data_folder.parent}: no {SUBJECTS_FILE} next to {DATA_FOLDER}; "
        "pass the subjects table explicitly (subjects=PATH / --subjects PATH)"
    )


def _read_recording(path: Path, invalid: InvalidPolicy) -> tuple[list, list[str]]:
    table = read_csv_table(path)
    header = table.header
    _check_header(path, table)
    names = header[1:] if header and header[0] == "" else header
    offset = len(header) - len(names)  # the unnamed row-index column, when present
    missing = [c for c in DEVICE_MOTION_COLUMNS if c not in names]
    extra = [c for c in names if c not in DEVICE_MOTION_COLUMNS]
    if missing or extra:
        problems = []
        if missing:
            problems.append(f"missing column(s) {missing}")
        if extra:
            problems.append(f"unexpected column(s) {extra}")
        raise DataFormatError(
            f"{path}: {'; '.join(problems)}; expected {list(DEVICE_MOTION_COLUMNS)}"
        )
    columns = [offset + names.index(c) for c in DEVICE_MOTION_COLUMNS]
    _check_row_lengths(path, table)
    # Real file lines (not counted from line 2): blank lines are skipped when reading.
    data = to_float_matrix(table.rows, columns, DEVICE_MOTION_COLUMNS, str(path), lines=table.lines)
    return clean_invalid(data, invalid, str(path), lines=table.lines)


def load_motionsense(
    root: str | Path,
    *,
    subjects: str | Path | None = None,
    invalid: InvalidPolicy = "error",
    activities: Sequence[str] | None = None,
) -> Dataset:
    """Read a MotionSense DeviceMotion folder into a :class:`Dataset` (50 Hz, 12 channels).

    ``activities`` restricts which activity folders are read (others are
    skipped). Unknown activity codes, malformed folder or file names,
    subjects missing from the table and every cell-level problem are errors.
    """
    folder = find_data_folder(root)
    table_path = Path(subjects) if subjects is not None else _locate_subjects_table(folder)
    table = load_subjects_info(table_path)
    wanted = set(activities) if activities is not None else None
    if wanted is not None and wanted - set(ACTIVITY_ORDER):
        raise DataFormatError(
            f"unknown activities {sorted(wanted - set(ACTIVITY_ORDER))}; "
            f"MotionSense has {list(ACTIVITY_ORDER)}"
        )
    recordings: list[Recording] = []
    notes: list[str] = []
    trial_dirs = sorted(p for p in folder.iterdir() if p.is_dir())
    if not trial_dirs:
        raise DataFormatError(f"{folder}: empty; expected folders named <code>_<trial>, e.g. wlk_7")
    for trial_dir in trial_dirs:
        match = _TRIAL_DIR.match(trial_dir.name)
        if not match:
            raise DataFormatError(
                f"{trial_dir}: folder name is not <activity code>_<trial number>, e.g. wlk_7"
            )
        code, trial = match.group(1), match.group(2)
        if code not in ACTIVITY_ORDER:
            raise DataFormatError(
                f"{trial_dir}: unknown activity code {code!r}; "
                f"MotionSense has {list(ACTIVITY_ORDER)}"
            )
        if wanted is not None and code not in wanted:
            continue
        files = sorted(trial_dir.glob("*.csv"))
        if not files:
            raise DataFormatError(f"{trial_dir}: no sub_<n>.csv files")
        for path in files:
            name_match = _SUBJECT_FILE.match(path.name)
            if not name_match:
                raise DataFormatError(f"{path}: file name is not sub_<subject number>.csv")
            subject = str(int(name_match.group(1)))
            if subject not in table:
                raise DataFormatError(
                    f"{path}: subject {subject} is missing from the subjects table {table_path}"
                )
            pieces, piece_notes = _read_recording(path, invalid)
            notes.extend(piece_notes)
            for segment, piece in enumerate(pieces):
                recordings.append(
                    Recording(subject, code, trial, piece.astype("float32"), str(path), segment)
                )
    if not recordings:
        raise DataFormatError(f"{folder}: no recordings of activities {sorted(wanted or [])}")
    present = {r.subject for r in recordings}
    description = {
        "kind": "motionsense",
        "name": "motionsense",
        "path": str(Path(root).resolve()),
        "subjects": str(table_path.resolve()),
        "invalid": invalid,
        "activities": list(activities) if activities is not None else None,
        "activity_order": list(ACTIVITY_ORDER),
    }
    return Dataset(
        recordings=tuple(recordings),
        channels=DEVICE_MOTION_COLUMNS,
        rate_hz=RATE_HZ,
        subjects={k: v for k, v in table.items() if k in present},
        description=description,
        notes=tuple(notes),
        units=UNITS,
    )
