"""MobiAct / MobiFall (BMI Lab, TEI Crete): raw sensor files and MobiAct v2 annotated CSVs.

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
import math
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

from jaxpriv.data.dataset import (
    DataFormatError,
    Dataset,
    Recording,
    Subject,
    natural_key,
    parse_gender,
)
from jaxpriv.data.generic import subjects_for
from jaxpriv.data.parsing import (
    INVALID_POLICIES,
    InvalidPolicy,
    check_increasing,
    clean_invalid,
    gc_paused,
    read_csv_table,
    to_float_matrix,
)

SENSOR_CHANNELS: dict[str, tuple[str, str, str]] = {
    "acc": ("acc_x", "acc_y", "acc_z"),  # m/s^2, including gravity
    "gyro": ("gyro_x", "gyro_y", "gyro_z"),  # rad/s
    "ori": ("azimuth", "pitch", "roll"),  # degrees
}
RAW_PATTERN = re.compile(r"^([A-Z]{3})_(acc|gyro|ori)_([A-Za-z0-9]+)_([A-Za-z0-9]+)\.txt$")
RAW_PATTERN_TEXT = "<CODE>_<sensor>_<subject>_<trial>.txt (sensor acc, gyro or ori)"
ANNOTATED_PATTERN = re.compile(r"^([A-Z]{3})_([A-Za-z0-9]+)_([A-Za-z0-9]+)_annotated\.csv$")
ANNOTATED_PATTERN_TEXT = "<CODE>_<subject>_<trial>_annotated.csv"
ANNOTATED_COLUMNS = (
    "timestamp",
    "rel_time",
    "acc_x",
    "acc_y",
    "acc_z",
    "gyro_x",
    "gyro_y",
    "gyro_z",
    "azimuth",
    "pitch",
    "roll",
    "label",
)
ANNOTATED_CHANNELS = ANNOTATED_COLUMNS[2:-1]
OVERSAMPLE = 4  # interpolate at 4x the target rate, then low-pass and decimate

# "#Subject ID: 3", "#Height(cm): 164", "# gender : female" ...
_HEADER_FIELD = re.compile(
    r"^#\s*(subject\s*id|age|height|weight|gender)\b[^:]*:\s*(.*?)\s*$", re.IGNORECASE
)
_NUMBER = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?")


# ---------------------------------------------------------------------------- resampling


def resample_to_rate(
    time_s: np.ndarray,
    values: np.ndarray,
    rate_hz: float,
    *,
    start_s: float | None = None,
    stop_s: float | None = None,
    oversample: int = OVERSAMPLE,
) -> np.ndarray:
    """Resample irregular samples to ``start_s + k / rate_hz`` for every k inside the span.

    ``values`` is ``(N, C)`` at increasing ``time_s``. The samples are first
    interpolated linearly onto a grid ``oversample`` times finer, then low-pass
    filtered and decimated (``scipy.signal.resample_poly``), so content above
    the target Nyquist frequency is removed instead of aliased. The span
    defaults to the samples' own; the fine grid never leaves it, so nothing is
    extrapolated. Returns ``(K, C)``, possibly with K = 0 for a too short span.
    """
    start = float(time_s[0]) if start_s is None else float(start_s)
    stop = float(time_s[-1]) if stop_s is None else float(stop_s)
    fine_rate = rate_hz * oversample
    # Fine samples that fit in the span, rounded down to whole output samples.
    num = (math.floor((stop - start) * fine_rate + 1e-9) + 1) // oversample if stop >= start else 0
    if num <= 0:
        return np.empty((0, values.shape[1]), dtype=np.float64)
    grid = start + np.arange(num * oversample) / fine_rate
    dense = np.column_stack([np.interp(grid, time_s, values[:, c]) for c in range(values.shape[1])])
    if oversample == 1:
        return dense
    # padtype="line" extends the signal along the line between its end values, so
    # the filter does not droop at the edges (the default pads with zeros).
    return resample_poly(dense, 1, oversample, axis=0, padtype="line")


# ---------------------------------------------------------------------------- raw files


def load_mobiact_raw(
    root: str | Path,
    *,
    sensors: Sequence[str] = ("acc", "gyro"),
    rate_hz: float = 50.0,
    invalid: InvalidPolicy = "error",
    activities: Sequence[str] | None = None,
) -> Dataset:
    """Load MobiAct / MobiFall raw sensor files found anywhere under ``root``.

    A recording is one (code, subject, trial) with a file for every requested
    sensor; groups missing a sensor are skipped with a note. The sensors are
    resampled (:func:`resample_to_rate`) onto a common ``rate_hz`` time base over
    the span where all of them have data. Channels follow ``sensors``:
    acc -> ``acc_x, acc_y, acc_z``, gyro -> ``gyro_*``, ori -> ``azimuth, pitch, roll``.
    Subject attributes come from the files' ``#`` headers. ``activities``, if
    given, lists the allowed activity codes (others are an error).
    """
    root = Path(root)
    sensors = _check_raw_arguments(sensors, rate_hz, invalid)
    files = _find_raw_files(root)
    if activities is not None:
        _check_codes(files, activities)
    groups = _group_raw_files(files)

    recordings: list[Recording] = []
    notes: list[str] = []
    attrs = _SubjectAttributes()
    complete = {k: g for k, g in groups.items() if all(s in g for s in sensors)}
    for key, group in groups.items():
        if key not in complete:
            notes.append(_skipped_note(root, key, group, sensors))
    if not complete:
        raise DataFormatError(
            f"{root}: no recording has files for all of the sensors {list(sensors)}; "
            + "; ".join(notes[:5])
        )
    for key, group in complete.items():
        parsed = {s: _read_raw_file(group[s], key[1]) for s in sensors}
        for sensor in sensors:
            attrs.add(key[1], parsed[sensor].attributes, group[sensor])
        recs, rec_notes = _raw_recordings(root, key, parsed, sensors, rate_hz, invalid)
        recordings.extend(recs)
        notes.extend(rec_notes)
    if not recordings:
        raise DataFormatError(f"{root}: no recording is long enough to resample; " + notes[-1])

    return Dataset(
        recordings=tuple(recordings),
        channels=tuple(c for s in sensors for c in SENSOR_CHANNELS[s]),
        rate_hz=float(rate_hz),
        subjects=attrs.subjects({r.subject for r in recordings}),
        description={
            "kind": "mobiact",
            "path": str(root.resolve()),
            "sensors": list(sensors),
            "rate_hz": float(rate_hz),
            "invalid": invalid,
            "name": root.resolve().name,
        },
        notes=tuple(notes),
    )


def _check_names(what: str, names: Sequence[str] | str, allowed: Sequence[str]) -> tuple[str, ...]:
    """A non-empty tuple of distinct names from ``allowed`` (a lone string counts as one)."""
    names = (names,) if isinstance(names, str) else tuple(names)
    unknown = [n for n in names if n not in allowed]
    if not names or unknown or len(set(names)) != len(names):
        raise ValueError(f"{what} must be distinct names from {list(allowed)}, got {list(names)}")
    return names


def _check_raw_arguments(sensors: Sequence[str], rate_hz: float, invalid: str) -> tuple[str, ...]:
    _check_common_arguments(rate_hz, invalid)
    return _check_names("sensors", sensors, tuple(SENSOR_CHANNELS))


def _check_common_arguments(rate_hz: float, invalid: str) -> None:
    if invalid not in INVALID_POLICIES:
        raise ValueError(f"invalid must be one of {INVALID_POLICIES}, got {invalid!r}")
    if not (math.isfinite(rate_hz) and rate_hz > 0):
        raise ValueError(f"rate_hz must be a positive number, got {rate_hz!r}")


def _check_folder(root: Path) -> None:
    if not root.is_dir():
        raise DataFormatError(f"{root}: not a folder (expected the dataset's folder)")


RawKey = tuple[str, str, str]  # (code, subject, trial)
_RawFile = tuple[Path, str, str, str, str]  # (path, code, sensor, subject, trial)


def _find_raw_files(root: Path) -> list[_RawFile]:
    _check_folder(root)
    found = []
    for path in sorted(root.rglob("*.txt"), key=lambda p: natural_key(str(p))):
        match = RAW_PATTERN.match(path.name)
        if match and path.is_file():
            found.append((path, *match.groups()))
    if not found:
        raise DataFormatError(
            f"{root}: no MobiAct/MobiFall sensor files found (looked recursively for "
            f"{RAW_PATTERN_TEXT}, e.g. WAL_acc_3_1.txt)"
        )
    return found


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
    attributes: dict[str, float | int | None]
    time_ns: np.ndarray
    values: np.ndarray
    lines: np.ndarray


def _read_raw_file(path: Path, subject: str) -> _RawFileData:
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
    attributes = _parse_header(path, all_lines[:data_at], subject)

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
    return _RawFileData(path, attributes, table[:, 0], table[:, 1:], line_numbers)


def _parse_header(path: Path, header: list[str], subject: str) -> dict[str, float | int | None]:
    """Subject attributes from ``#Key: value`` lines; a Subject ID must match the file name."""
    attrs: dict[str, float | int | None] = {}
    for i, raw in enumerate(header):
        match = _HEADER_FIELD.match(raw.strip())
        if not match:
            continue
        key = re.sub(r"\s+", "", match.group(1).lower())
        value, where = match.group(2), f"{path}: line {i + 1}"
        if key == "subjectid":
            if value and _normalize_id(value) != _normalize_id(subject):
                raise DataFormatError(
                    f"{where}: Subject ID {value!r} does not match the file name's subject "
                    f"{subject!r}"
                )
        elif key == "gender":
            attrs["gender"] = parse_gender(value, where)
        else:
            attrs[key] = _parse_number(value, f"{where} ({key})")
    return attrs


def _normalize_id(text: str) -> str:
    text = text.strip()
    return str(int(text)) if text.isdigit() else text


def _parse_number(value: str, where: str) -> float | None:
    """Leading number of a header value ("164", "164 cm"); empty means unknown."""
    if not value:
        return None
    match = _NUMBER.match(value)
    if not match:
        raise DataFormatError(f"{where}: {value!r} is not a number")
    return float(match.group(0))


class _SubjectAttributes:
    """Subject attributes merged over files; two files that disagree are an error."""

    def __init__(self) -> None:
        self._values: dict[str, dict[str, tuple[float | int, Path]]] = {}

    def add(self, subject: str, attrs: dict[str, float | int | None], path: Path) -> None:
        known = self._values.setdefault(subject, {})
        for name, value in attrs.items():
            if value is None:
                continue
            if name in known and known[name][0] != value:
                other_value, other = known[name]
                raise DataFormatError(
                    f"subject {subject}: {name} is {other_value:g} in {other} but {value:g} "
                    f"in {path}"
                )
            known.setdefault(name, (value, path))

    def subjects(self, present: set[str]) -> dict[str, Subject]:
        out = {}
        for subject in sorted(present, key=natural_key):
            attrs = {k: v for k, (v, _) in self._values.get(subject, {}).items()}
            if "gender" in attrs:
                attrs["gender"] = int(attrs["gender"])
            out[subject] = Subject(**attrs)  # type: ignore[arg-type]
        return out


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

    recordings = []
    for lo, hi, chosen in _common_spans([pieces[s] for s in sensors]):
        parts = [
            resample_to_rate(piece[:, 0], piece[:, 1:], rate_hz, start_s=lo, stop_s=hi)
            for piece in chosen
        ]
        if parts[0].shape[0] == 0:
            continue
        recordings.append(
            Recording(
                subject=subject,
                activity=code,
                trial=trial,
                data=np.concatenate(parts, axis=1),
                source=", ".join(str(parsed[s].path.relative_to(root)) for s in sensors),
                segment=len(recordings),
            )
        )
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


def _common_spans(
    per_sensor: list[list[np.ndarray]],
) -> list[tuple[float, float, list[np.ndarray]]]:
    """Time spans covered by a piece of every sensor, with those pieces, in time order."""
    spans: list[tuple[float, float, list[np.ndarray]]] = [
        (float(p[0, 0]), float(p[-1, 0]), [p]) for p in per_sensor[0]
    ]
    for pieces in per_sensor[1:]:
        narrowed = []
        for lo, hi, chosen in spans:
            for p in pieces:
                new_lo, new_hi = max(lo, float(p[0, 0])), min(hi, float(p[-1, 0]))
                if new_lo < new_hi:
                    narrowed.append((new_lo, new_hi, [*chosen, p]))
        spans = narrowed
    return sorted(spans, key=lambda s: s[0])


# ---------------------------------------------------------------------------- annotated CSVs


def load_mobiact_annotated(
    root: str | Path,
    *,
    rate_hz: float = 50.0,
    channels: Sequence[str] = ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z"),
    invalid: InvalidPolicy = "error",
    activities: Sequence[str] | None = None,
    subjects: str | Path | None = None,
) -> Dataset:
    """Load MobiAct v2 annotated CSVs (``<CODE>_<subject>_<trial>_annotated.csv``) under ``root``.

    Each file is split into runs of its per-sample ``label`` column; each run
    becomes a Recording with activity = label (``segment`` numbers the pieces of
    the file in time order), resampled to ``rate_hz`` over its ``rel_time`` span
    (:func:`resample_to_rate`). ``activities``, if given, lists the allowed labels.
    The files carry no subject attributes; ``subjects`` is an optional subjects
    table (:func:`jaxpriv.data.generic.load_subjects_table`) covering every subject.
    """
    root = Path(root)
    channels = _check_annotated_arguments(channels, rate_hz, invalid)
    _check_folder(root)
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
            "name": root.resolve().name,
        },
        notes=tuple(notes),
    )


def _check_annotated_arguments(
    channels: Sequence[str], rate_hz: float, invalid: str
) -> tuple[str, ...]:
    _check_common_arguments(rate_hz, invalid)
    return _check_names("channels", channels, tuple(ANNOTATED_CHANNELS))


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
