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

from jaxpriv.data.dataset import (
    DataFormatError,
    Dataset,
    Recording,
    Subject,
    natural_key,
    parse_gender,
)
from jaxpriv.data.mobiact import (
    RAW_PATTERN,
    RAW_PATTERN_TEXT,
    SENSOR_CHANNELS,
    check_common_arguments,
    check_folder,
    check_names,
)
from jaxpriv.data.parsing import (
    InvalidPolicy,
    check_increasing,
    clean_invalid,
    gc_paused,
    to_float_matrix,
)
from jaxpriv.data.resampling import resample_to_rate

# "#Subject ID: 3", "#Height(cm): 164", "# gender : female" ...
_HEADER_FIELD = re.compile(
    r"^#\s*(subject\s*id|age|height|weight|gender)\b[^:]*:\s*(.*?)\s*$", re.IGNORECASE
)
_NUMBER = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?")


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
