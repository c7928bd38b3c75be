"""MobiAct / MobiFall raw sensor files: find, parse and group them, resample each recording.

Raw files ``<CODE>_<sensor>_<subject>_<trial>.txt`` (sensor acc, gyro or ori) are
found anywhere under the dataset folder (MobiFall nests them as
``sub<ID>/ADL/<CODE>/``, MobiAct as ``<CODE>/``). Each has ``#`` metadata lines,
an ``@DATA`` line, then ``timestamp_ns, x, y, z`` rows sampled irregularly (acc
about 85-100 Hz, gyro about 200 Hz). The sensors of one recording are resampled
onto one uniform time base over the span where all of them have data.
See ``docs/data-formats.md``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from jaxpriv.data.dataset import DataFormatError, Dataset, Recording, natural_key
from jaxpriv.data.mobiact import (
    ACTIVITY_ORDER,
    RAW_PATTERN,
    RAW_PATTERN_TEXT,
    SCENARIO_CODES,
    SENSOR_CHANNELS,
    check_common_arguments,
    check_folder,
    check_names,
    excluded_note,
    is_fall,
)
from jaxpriv.data.mobiact_header import RawHeader, SensorUnits, SubjectAttributes, parse_header
from jaxpriv.data.parsing import (
    InvalidPolicy,
    check_increasing,
    clean_invalid,
    gc_paused,
    to_float_matrix,
)
from jaxpriv.data.resampling import resample_joined

_SUBJECT_FOLDER = re.compile(r"^sub(?:ject)?_?(\d+)$", re.IGNORECASE)


def load_mobiact_raw(
    root: str | Path,
    *,
    sensors: Sequence[str] = ("acc", "gyro"),
    rate_hz: float = 50.0,
    invalid: InvalidPolicy = "error",
    activities: Sequence[str] | None = None,
    falls: bool = False,
    scenarios: bool = False,
    header_conflict: str = "error",
) -> Dataset:
    """Load MobiAct / MobiFall raw sensor files found anywhere under ``root``.

    A recording is one (code, subject, trial) with a file for every requested
    sensor; groups missing a sensor are skipped with a note. The sensors are
    resampled (:func:`resample_to_rate`) onto a common ``rate_hz`` time base over
    the span where all of them have data. Channels follow ``sensors``:
    acc -> ``acc_x, acc_y, acc_z``, gyro -> ``gyro_*``, ori -> ``azimuth, pitch, roll``,
    in the files' own units (read from each file's ``#timestamp(ns),x,y,z(<unit>)``
    line, else the readme's: m/s^2, rad/s, degrees), reported in ``Dataset.units``.
    Subject attributes come from the files' ``#`` headers (see
    :mod:`jaxpriv.data.mobiact_header`; ``header_conflict`` decides between files
    that disagree). Falls (FOL, FKL, BSC, SDL, or files under a ``FALLS`` folder) and
    MobiAct's scenarios (SLH, SBW, SLW, SBE, SRH) are left out with a note unless
    ``falls`` / ``scenarios``. ``activities``, if given, lists the allowed activity
    codes (others are an error).
    """
    root = Path(root)
    sensors = _check_raw_arguments(sensors, rate_hz, invalid)
    attrs = SubjectAttributes(header_conflict)
    files = _find_raw_files(root)
    files, notes = _leave_out(root, files, falls, scenarios)
    if activities is not None:
        _check_codes(files, activities)
    groups = _group_raw_files(files)

    recordings: list[Recording] = []
    units = SensorUnits()
    complete = {k: g for k, g in groups.items() if all(s in g for s in sensors)}
    for key, group in groups.items():
        if key not in complete:
            notes.append(_skipped_note(root, key, group, sensors))
    if not complete:
        raise DataFormatError(
            f"{root}: no recording has files for all of the sensors {list(sensors)}; "
            + "; ".join(notes[-5:])
            + f"; load fewer sensors with sensors=... (e.g. --data PATH:sensors={sensors[0]})"
        )
    for key, group in complete.items():
        parsed = {s: _read_raw_file(group[s], key[1], s) for s in sensors}
        for sensor in sensors:
            attrs.add(key[1], parsed[sensor].header.attributes, group[sensor])
            units.add(sensor, parsed[sensor].header, group[sensor])
        recs, rec_notes = _raw_recordings(root, key, parsed, sensors, rate_hz, invalid)
        recordings.extend(recs)
        notes.extend(rec_notes)
    if not recordings:
        raise DataFormatError(f"{root}: no recording is long enough to resample; " + notes[-1])
    subjects, subject_notes = attrs.subjects({r.subject for r in recordings}, root)

    return Dataset(
        recordings=tuple(recordings),
        channels=tuple(c for s in sensors for c in SENSOR_CHANNELS[s]),
        rate_hz=float(rate_hz),
        subjects=subjects,
        description={
            "kind": "mobiact",
            "path": str(root.resolve()),
            "layout": _layout(root, files),
            "sensors": list(sensors),
            "rate_hz": float(rate_hz),
            "invalid": invalid,
            "falls": bool(falls),
            "scenarios": bool(scenarios),
            "header_conflict": header_conflict,
            "activity_order": list(ACTIVITY_ORDER),
            "name": root.resolve().name,
        },
        notes=tuple(units.notes(root) + subject_notes + notes),
        units={c: units.unit(s) for s in sensors for c in SENSOR_CHANNELS[s]},
    )


def _check_raw_arguments(sensors: Sequence[str], rate_hz: float, invalid: str) -> tuple[str, ...]:
    check_common_arguments(rate_hz, invalid)
    return check_names("sensors", sensors, tuple(SENSOR_CHANNELS))


RawKey = tuple[str, str, str]  # (code, subject, trial)
_RawFile = tuple[Path, str, str, str, str]  # (path, code, sensor, subject, trial)


def _find_raw_files(root: Path) -> list[_RawFile]:
    check_folder(root)
    found = []
    for path in sorted(root.rglob("*.txt"), key=lambda p: natural_key(str(p))):
        match = RAW_PATTERN.match(path.name)
        if match and path.is_file():
            _check_subject_folder(root, path, match.group(3))
            found.append((path, *match.groups()))
    if not found:
        raise DataFormatError(
            f"{root}: no MobiAct/MobiFall sensor files found (looked recursively for "
            f"{RAW_PATTERN_TEXT}, e.g. WAL_acc_3_1.txt)"
        )
    return found


def _check_subject_folder(root: Path, path: Path, subject: str) -> None:
    """MobiFall's ``sub<N>/`` folder must name the file's own subject."""
    for part in path.relative_to(root).parts[:-1]:
        match = _SUBJECT_FOLDER.match(part)
        if match and subject.isdigit() and int(match.group(1)) != int(subject):
            raise DataFormatError(
                f"{path}: lies in folder {part!r} but its name says subject {subject}; "
                "move or rename the file"
            )


def _leave_out(
    root: Path, files: list[_RawFile], falls: bool, scenarios: bool
) -> tuple[list[_RawFile], list[str]]:
    """Falls and scenarios are left out unless asked for, with a note saying so."""
    kept: list[_RawFile] = []
    left: dict[str, dict[str, set]] = {"fall": {}, "scenario": {}}
    for f in files:
        path, code, _, subject, trial = f
        if not falls and is_fall(code, path.relative_to(root)):
            left["fall"].setdefault(code, set()).add((subject, trial))
        elif not scenarios and code in SCENARIO_CODES:
            left["scenario"].setdefault(code, set()).add((subject, trial))
        else:
            kept.append(f)
    notes = []
    for what, option in (("fall", "falls"), ("scenario", "scenarios")):
        if left[what]:
            counts = {code: len(keys) for code, keys in left[what].items()}
            notes.append(excluded_note(root, what, counts, option))
    if not kept:
        raise DataFormatError(
            f"{root}: every raw file is a fall or a scenario; " + "; ".join(notes)
        )
    return kept, notes


def _layout(root: Path, files: list[_RawFile]) -> str:
    """``mobifall`` (sub<N>/ADL|FALLS/<CODE>/), ``mobiact`` (<CODE>/) or ``flat``."""
    parents = [f[0].relative_to(root).parts[:-1] for f in files]
    if all(len(p) >= 3 and _SUBJECT_FOLDER.match(p[-3]) for p in parents):
        return "mobifall"
    if all(p and p[-1] == f[1] for p, f in zip(parents, files, strict=True)):
        return "mobiact"
    return "flat"


def _check_codes(files: list[_RawFile], activities: Sequence[str]) -> None:
    allowed = {str(a) for a in activities}
    for path, code, *_ in files:
        if code not in allowed:
            raise DataFormatError(
                f"{path}: unknown activity code {code!r}; allowed: {list(activities)}"
            )


def _group_raw_files(files: list[_RawFile]) -> dict[RawKey, dict[str, Path]]:
    """Files by (code, subject, trial) and sensor; duplicates are errors.

    Groups come in natural (subject, code, trial) order, like the other loaders.
    """
    groups: dict[RawKey, dict[str, Path]] = {}
    for path, code, sensor, subject, trial in files:
        group = groups.setdefault((code, subject, trial), {})
        if sensor in group:
            raise DataFormatError(
                f"{path}: the same recording and sensor as {group[sensor]} "
                "(two copies of the dataset under one folder?)"
            )
        group[sensor] = path
    order = sorted(groups, key=lambda k: (natural_key(k[1]), natural_key(k[0]), natural_key(k[2])))
    return {k: groups[k] for k in order}


def _skipped_note(root: Path, key: RawKey, group: dict[str, Path], sensors: Sequence[str]) -> str:
    code, subject, trial = key
    present = [str(p.relative_to(root)) for p in group.values()]
    missing = [s for s in sensors if s not in group]
    return (
        f"{root}: skipped {code} subject {subject} trial {trial}: no {'/'.join(missing)} file "
        f"(present: {', '.join(present)})"
    )


@dataclasses.dataclass(frozen=True)
class _RawFileData:
    """One parsed raw file: header attributes, timestamps (ns), x/y/z values, file lines."""

    path: Path
    header: RawHeader
    time_ns: np.ndarray
    values: np.ndarray
    lines: np.ndarray


def _read_raw_file(path: Path, subject: str, sensor: str) -> _RawFileData:
    """Parse a raw sensor file, checking its header and timestamps."""
    try:
        # Universal newlines: \r\n and \r line ends count as one line, as in an editor.
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise DataFormatError(f"{path}: not a UTF-8 text file ({err.reason})") from None
    except OSError as err:
        raise DataFormatError(f"{path}: cannot read ({err.strerror})") from None
    all_lines = text.split("\n")
    data_at = next((i for i, ln in enumerate(all_lines) if ln.strip().upper() == "@DATA"), None)
    if data_at is None:
        raise DataFormatError(f"{path}: no '@DATA' line (the line that starts the data rows)")
    header = parse_header(path, all_lines[:data_at], subject, sensor)

    rows, lines = [], []
    with gc_paused():
        for i in range(data_at + 1, len(all_lines)):
            line = all_lines[i].strip()
            if line and not line.startswith("#"):
                rows.append(line.split(","))
                lines.append(i + 1)
    if not rows:
        raise DataFormatError(f"{path}: no data rows after the '@DATA' line")
    line_numbers = np.asarray(lines, dtype=np.int64)
    for row, ln in zip(rows, lines, strict=True):
        if len(row) > 4 and any(cell.strip() for cell in row[4:]):
            raise DataFormatError(
                f"{path}: line {ln} has {len(row)} values, expected 4 (timestamp, x, y, z)"
            )
    table = to_float_matrix(
        rows, [0, 1, 2, 3], ["timestamp", "x", "y", "z"], str(path), lines=line_numbers
    )
    check_increasing(table[:, 0], str(path), lines=line_numbers)
    return _RawFileData(path, header, table[:, 0], table[:, 1:], line_numbers)


def _raw_recordings(
    root: Path,
    key: RawKey,
    parsed: dict[str, _RawFileData],
    sensors: Sequence[str],
    rate_hz: float,
    invalid: InvalidPolicy,
) -> tuple[list[Recording], list[str]]:
    """Clean each sensor, then resample every span where all sensors have valid data."""
    code, subject, trial = key
    # One clock for all sensors; seconds relative to the earliest sample keep precision.
    origin = min(float(p.time_ns[0]) for p in parsed.values())
    notes: list[str] = []
    pieces: dict[str, list[np.ndarray]] = {}
    for sensor in sensors:
        p = parsed[sensor]
        time_s = (p.time_ns - origin) / 1e9
        # The time column rides along through cleaning, so each piece keeps its timestamps.
        sensor_pieces, sensor_notes = clean_invalid(
            np.column_stack([time_s, p.values]), invalid, str(p.path), lines=p.lines
        )
        pieces[sensor] = sensor_pieces
        notes.extend(sensor_notes)

    recordings = [
        Recording(
            subject=subject,
            activity=code,
            trial=trial,
            data=data,
            source=", ".join(str(parsed[s].path.relative_to(root)) for s in sensors),
            segment=segment,
        )
        for segment, data in enumerate(resample_joined([pieces[s] for s in sensors], rate_hz))
    ]
    if not recordings:
        spans = ", ".join(
            f"{s} {(p.time_ns[0] - origin) / 1e9:.3f}-{(p.time_ns[-1] - origin) / 1e9:.3f} s"
            for s, p in parsed.items()
        )
        notes.append(
            f"{root}: skipped {code} subject {subject} trial {trial}: the sensors share no "
            f"time span of at least one sample at {rate_hz:g} Hz ({spans})"
        )
    return recordings, notes
