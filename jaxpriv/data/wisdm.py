"""WISDM 2019 raw files ("WISDM Smartphone and Smartwatch Activity and Biometrics Dataset").

Layout (the dataset's README): ``wisdm-dataset/raw/<phone|watch>/<accel|gyro>/
data_<subject>_<accel|gyro>_<phone|watch>.txt``, subjects 1600-1650, one sample a line::

    1600,A,252207666810782,-0.36476135,8.793503,1.0550842;

= subject, activity code, timestamp (ns), x, y, z, ending with ``;``. Codes A-S (no N)
name 18 activities (``activity_key.txt``); each was done once for about 3 minutes, so a
recording is one (subject, activity), trial ``1``. Sampling is nominally 20 Hz with
irregular timestamps; the phone's and the watch's clocks are not aligned, so one
device is loaded at a time. There is no subjects table (gender and body measures
unknown). See ``docs/data.md``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from jaxpriv.data.dataset import DataFormatError, Dataset, Recording, natural_key
from jaxpriv.data.mobiact import check_common_arguments, check_folder, check_names
from jaxpriv.data.parsing import InvalidPolicy, check_increasing, clean_invalid, to_float_matrix
from jaxpriv.data.resampling import resample_joined
from jaxpriv.data.subjects_table import subjects_for

# activity_key.txt: "walking = A", ..., "folding = S" (there is no N).
ACTIVITIES: dict[str, str] = {
    "A": "walking", "B": "jogging", "C": "stairs", "D": "sitting", "E": "standing",
    "F": "typing", "G": "teeth", "H": "soup", "I": "chips", "J": "pasta", "K": "drinking",
    "L": "sandwich", "M": "kicking", "O": "catch", "P": "dribbling", "Q": "writing",
    "R": "clapping", "S": "folding",
}  # fmt: skip
ACTIVITY_ORDER = tuple(ACTIVITIES.values())
DEVICES = ("phone", "watch")
SENSORS = ("acc", "gyro")  # file names say "accel" for the accelerometer
_FILE_SENSOR = {"acc": "accel", "gyro": "gyro", "accel": "acc"}
CHANNELS = {s: (f"{s}_x", f"{s}_y", f"{s}_z") for s in SENSORS}
UNITS = {"acc": "m/s^2", "gyro": "rad/s"}  # accelerometer including gravity
NOMINAL_RATE_HZ = 20.0
FILE_PATTERN = re.compile(r"^data_(\d+)_(accel|gyro)_(phone|watch)\.txt$")
FIELDS = "subject,activity code,timestamp_ns,x,y,z;"


def is_wisdm_file(name: str) -> bool:
    """Whether a file name is a WISDM raw file's (``data_1600_accel_phone.txt``)."""
    return FILE_PATTERN.match(name) is not None


def load_wisdm(
    root: str | Path,
    *,
    device: str = "phone",
    sensors: Sequence[str] = SENSORS,
    rate_hz: float = NOMINAL_RATE_HZ,
    invalid: InvalidPolicy = "error",
    activities: Sequence[str] | None = None,
    subjects: str | Path | None = None,
    max_gap_s: float = 1.0,
) -> Dataset:
    """Load one device's WISDM raw files found anywhere under ``root``.

    ``sensors``: ``acc`` and/or ``gyro`` (``accel`` is accepted for ``acc``); with both,
    a recording covers the span where both have data, on one time base. Each sensor is
    resampled from its irregular timestamps to ``rate_hz`` (:func:`resample_to_rate`,
    anti-aliased). Channels ``acc_x, acc_y, acc_z`` (m/s^2, gravity included) and
    ``gyro_x, gyro_y, gyro_z`` (rad/s); activities are named (``walking``, ...).
    A gap of more than ``max_gap_s`` between samples cuts a recording into segments
    (noted) rather than being interpolated over. ``activities``, if given, lists the
    allowed activity names (others are an error). ``subjects``: an optional subjects
    table (:func:`jaxpriv.data.subjects_table.load_subjects_table`).
    """
    root = Path(root)
    check_common_arguments(rate_hz, invalid)
    names = [sensors] if isinstance(sensors, str) else list(sensors)
    sensors = check_names("sensors", ["acc" if n == "accel" else n for n in names], SENSORS)
    if device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, got {device!r}")
    if not max_gap_s > 0:
        raise ValueError(f"max_gap_s must be positive, got {max_gap_s!r}")
    files = _files_by_sensor(root, device, sensors)
    notes: list[str] = []
    recordings: list[Recording] = []
    acc_unit = _AccelerometerUnit()
    for subject in sorted(files[sensors[0]], key=natural_key):
        parsed = {s: _read_file(files[s][subject], subject, activities) for s in sensors}
        if "acc" in parsed:
            acc_unit.add(parsed["acc"])
        origin = min(p[1][0] for p in parsed.values())
        per_activity = {s: _pieces(p, origin, invalid, max_gap_s, notes) for s, p in parsed.items()}
        codes = sorted(set().union(*per_activity.values()), key=list(ACTIVITIES).index)
        for code in codes:
            missing = [s for s in sensors if code not in per_activity[s]]
            if missing:
                notes.append(
                    f"{files[sensors[0]][subject].parent.parent}: subject {subject} has no "
                    f"{'/'.join(missing)} samples of {ACTIVITIES[code]} ({code}); that "
                    "activity is skipped for this subject"
                )
                continue
            joined = resample_joined([per_activity[s][code] for s in sensors], rate_hz)
            source = ", ".join(str(files[s][subject].relative_to(root)) for s in sensors)
            if not joined:
                notes.append(
                    f"{source}: subject {subject}, {ACTIVITIES[code]}: no span of all of "
                    f"{list(sensors)} is at least one sample at {rate_hz:g} Hz; skipped"
                )
            for segment, data in enumerate(joined):
                recordings.append(Recording(subject, ACTIVITIES[code], "1", data, source, segment))
    if not recordings:
        raise DataFormatError(f"{root}: no WISDM recording is long enough to resample")
    present = sorted({r.subject for r in recordings}, key=natural_key)
    if subjects is None:
        notes.append(
            f"{root}: WISDM's raw release has no subjects table: gender, age, height and "
            "weight are unknown (give a table with subjects=... / --subjects to add them)"
        )
    return Dataset(
        recordings=tuple(recordings),
        channels=tuple(c for s in sensors for c in CHANNELS[s]),
        rate_hz=float(rate_hz),
        subjects=subjects_for(root, present, subjects),
        description={
            "kind": "wisdm",
            "path": str(root.resolve()),
            "device": device,
            "sensors": list(sensors),
            "rate_hz": float(rate_hz),
            "invalid": invalid,
            "max_gap_s": float(max_gap_s),
            "subjects": None if subjects is None else str(Path(subjects).resolve()),
            "activity_order": list(ACTIVITY_ORDER),
            "name": root.resolve().name,
        },
        notes=tuple(acc_unit.notes() + notes),
        units={c: acc_unit.unit if s == "acc" else UNITS[s] for s in sensors for c in CHANNELS[s]},
    )


class _AccelerometerUnit:
    """The files state no unit; the accelerometer's typical magnitude tells g from m/s^2.

    A file whose median |a| lies in 0.5-2 reads in g, in 5-20 in m/s^2 (gravity is
    always there); files that disagree are an error naming both.
    """

    def __init__(self) -> None:
        self.first: tuple[str, Path, float] | None = None

    def add(self, parsed: _Parsed) -> None:
        """Judge one accelerometer file's unit; one that disagrees with the first is an error."""
        values, path = parsed[2], parsed[4]
        norms = np.linalg.norm(values[np.isfinite(values).all(axis=1)], axis=1)
        median = float(np.median(norms)) if norms.size else float("nan")
        unit = "g" if 0.5 <= median <= 2 else "m/s^2" if 5 <= median <= 20 else None
        if unit is None:
            return
        if self.first is None:
            self.first = (unit, path, median)
        elif self.first[0] != unit:
            raise DataFormatError(
                f"{path}: field 'x,y,z': accelerometer values of median magnitude {median:.2f} "
                f"({unit}), but {self.first[1]} has {self.first[2]:.2f} ({self.first[0]}): "
                "mixed units in one dataset; convert the odd files, or leave the "
                "accelerometer out with sensors=gyro (--data PATH:sensors=gyro)"
            )

    @property
    def unit(self) -> str:
        """The files' unit (the documented m/s^2 when no file could tell)."""
        return UNITS["acc"] if self.first is None else self.first[0]

    def notes(self) -> list[str]:
        """A note when the files are read in another unit than the documented one."""
        if self.first is None or self.first[0] == UNITS["acc"]:
            return []
        return [
            f"{self.first[1].parent}: accelerometer values have a median magnitude of "
            f"{self.first[2]:.2f}, so they are in g, not in the m/s^2 WISDM documents; read as g"
        ]


def _files_by_sensor(root: Path, device: str, sensors: Sequence[str]) -> dict[str, dict[str, Path]]:
    """``{sensor: {subject: path}}`` for ``device``; every subject needs every sensor."""
    check_folder(root)
    found: dict[tuple[str, str], dict[str, Path]] = {}
    for path in sorted(root.rglob("data_*.txt"), key=lambda p: natural_key(str(p))):
        match = FILE_PATTERN.match(path.name)
        if not (match and path.is_file()):
            continue
        subject, file_sensor, file_device = match.groups()
        folders = ((path.parent.name, file_sensor), (path.parent.parent.name, file_device))
        for folder, expected in folders:
            if folder in (*DEVICES, "accel", "gyro") and folder != expected:
                raise DataFormatError(
                    f"{path}: the name says {file_sensor} {file_device}, but the file lies in a "
                    f"folder named {folder!r}; WISDM keeps it in raw/{file_device}/{file_sensor}/"
                )
        group = found.setdefault((file_device, _FILE_SENSOR[file_sensor]), {})
        if subject in group:
            raise DataFormatError(
                f"{path}: the same subject, sensor and device as {group[subject]} "
                "(two copies of the dataset under one folder?)"
            )
        group[subject] = path
    if not found:
        raise DataFormatError(
            f"{root}: no WISDM raw files found (looked recursively for "
            "data_<subject>_<accel|gyro>_<phone|watch>.txt, e.g. data_1600_accel_phone.txt)"
        )
    present = sorted({d for d, _ in found})
    if device not in present:
        raise DataFormatError(
            f"{root}: no WISDM {device} files; the folder holds {present} files "
            f"(choose with device=..., e.g. --data PATH:device={present[0]})"
        )
    files = {s: found.get((device, s), {}) for s in sensors}
    subjects = sorted(set().union(*files.values()), key=natural_key)
    for sensor in sensors:
        for subject in subjects:
            if subject not in files[sensor]:
                other = next(files[s][subject] for s in sensors if subject in files[s])
                want = (
                    other.parent.parent
                    / _FILE_SENSOR[sensor]
                    / (f"data_{subject}_{_FILE_SENSOR[sensor]}_{device}.txt")
                )
                keep = "+".join(s for s in sensors if s != sensor)
                raise DataFormatError(
                    f"{want}: missing: subject {subject} has {other.name} but no "
                    f"{_FILE_SENSOR[sensor]} file; load without it with sensors={keep} "
                    f"(--data PATH:sensors={keep})"
                )
    return files


_Parsed = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, Path]


def _read_file(path: Path, subject: str, activities: Sequence[str] | None) -> _Parsed:
    """(codes, time_ns, values (N, 3), file lines, path) of one raw file, checked."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise DataFormatError(f"{path}: not a UTF-8 text file ({err.reason})") from None
    rows, lines = [], []
    for i, raw in enumerate(text.split("\n")):
        line = raw.strip()
        if line:
            rows.append((line[:-1] if line.endswith(";") else line).split(","))
            lines.append(i + 1)
    if not rows:
        raise DataFormatError(f"{path}: empty file (expected lines {FIELDS})")
    line_numbers = np.asarray(lines, dtype=np.int64)
    lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    for i in np.flatnonzero(lengths != 6)[:1].tolist():
        raise DataFormatError(
            f"{path}: line {lines[i]}: {len(rows[i])} comma-separated field(s), expected 6 "
            f"({FIELDS}): {','.join(rows[i])[:80]!r}; correct or delete the line"
        )
    for i, row in enumerate(rows):
        if row[0].strip() != subject:
            raise DataFormatError(
                f"{path}: line {lines[i]}, field 'subject': {row[0].strip()!r} but the file "
                f"name says subject {subject}"
            )
    codes = np.asarray([row[1].strip() for row in rows])
    allowed = None if activities is None else set(activities)
    for code in dict.fromkeys(codes.tolist()):
        i = int(np.flatnonzero(codes == code)[0])
        if code not in ACTIVITIES:
            raise DataFormatError(
                f"{path}: line {lines[i]}, field 'activity code': unknown code {code!r}; "
                f"WISDM's codes are {''.join(ACTIVITIES)} (activity_key.txt)"
            )
        if allowed is not None and ACTIVITIES[code] not in allowed:
            raise DataFormatError(
                f"{path}: line {lines[i]}: activity {ACTIVITIES[code]!r} ({code}) is not "
                f"allowed: {list(activities or ())}"
            )
    table = to_float_matrix(
        rows, [2, 3, 4, 5], ["timestamp_ns", "x", "y", "z"], str(path), lines=line_numbers
    )
    return codes, table[:, 0], table[:, 1:], line_numbers, path


def _pieces(
    parsed: _Parsed, origin: float, invalid: InvalidPolicy, max_gap_s: float, notes: list[str]
) -> dict[str, list[np.ndarray]]:
    """Per activity code: its runs of samples as ``(N, 4)`` pieces (time s, x, y, z)."""
    codes, time_ns, values, lines, path = parsed
    out: dict[str, list[np.ndarray]] = {}
    starts = np.concatenate([[0], np.flatnonzero(codes[1:] != codes[:-1]) + 1, [len(codes)]])
    for lo, hi in zip(starts[:-1].tolist(), starts[1:].tolist(), strict=True):
        check_increasing(time_ns[lo:hi], str(path), lines=lines[lo:hi])
        time_s = (time_ns[lo:hi] - origin) / 1e9
        cuts = np.flatnonzero(np.diff(time_s) > max_gap_s) + 1
        for i in cuts.tolist():
            gap = time_s[i] - time_s[i - 1]
            notes.append(
                f"{path}: lines {lines[lo + i - 1]}-{lines[lo + i]}: {gap:.2f} s without "
                f"samples (more than max_gap_s={max_gap_s:g}); recording cut there"
            )
        block = np.column_stack([time_s, values[lo:hi]])
        parts = zip(np.split(block, cuts), np.split(lines[lo:hi], cuts), strict=True)
        for part, part_lines in parts:
            pieces, piece_notes = clean_invalid(part, invalid, str(path), lines=part_lines)
            notes.extend(piece_notes)
            out.setdefault(str(codes[lo]), []).extend(pieces)
    return out
