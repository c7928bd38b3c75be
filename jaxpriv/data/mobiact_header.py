"""The ``#`` header of MobiAct / MobiFall raw files: subject attributes and the data's unit.

A real header (MobiFall v2.0, ``sub1/FALLS/BSC/BSC_acc_1_1.txt``)::

    #Acceleration force along the x y z axes (including gravity).
    #timestamp(ns),x,y,z(m/s^2)
    #Datetime: 05/07/2013 11:27:39
    ##########################################
    #Activity: 12 - BSC - Back sitting chair - 10s
    #Subject ID: 1
    #First Name: sub1
    ...
    #Age: 32
    #Height(cm): 180
    #Weight(kg): 85
    #Gender: Male

In these headers ``0`` or an empty value means "not recorded": some subjects' files
read ``Age: 0``, ``Height(cm): 0``, ``Weight(kg): 0`` while their other files hold the
real values. :class:`SubjectAttributes` merges the files of a subject: a value given
by some files and missing from others is used and reported; two different values
are an error unless a ``header_conflict`` policy chooses. :class:`SensorUnits`
checks that all files of a sensor are in one unit.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from pathlib import Path

from jaxpriv.data.dataset import DataFormatError, Subject, natural_key, parse_gender
from jaxpriv.data.mobiact import DOCUMENTED_UNITS, HEADER_CONFLICTS, SENSOR_QUANTITY
from jaxpriv.data.units import check_quantity, parse_unit

# "#Subject ID: 3", "#Height(cm): 164", "# gender : female" ...
_HEADER_FIELD = re.compile(
    r"^#\s*(subject\s*id|age|height|weight|gender)\b[^:]*:\s*(.*?)\s*$", re.IGNORECASE
)
# "#timestamp(ns),x,y,z(m/s^2)", "#timestamp(ns), Azimuth , Pitch, Roll(degrees)"
_UNIT_LINE = re.compile(r"^#\s*timestamp\s*\(\s*ns\s*\)\s*,.*\(([^()]*)\)\s*$", re.IGNORECASE)
_NUMBER = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?")
FIELD_LABELS = {"age": "Age", "height": "Height(cm)", "weight": "Weight(kg)", "gender": "Gender"}
NOT_RECORDED = ("", "0")


@dataclasses.dataclass(frozen=True)
class RawHeader:
    """What a raw file's header says: attribute values (``None``: not recorded) and unit.

    ``unit`` is ``None`` when the file has no ``#timestamp(ns),x,y,z(<unit>)`` line.
    """

    attributes: dict[str, float | int | None]
    unit: str | None
    unit_line: int | None


def parse_header(path: Path, header: list[str], subject: str, sensor: str) -> RawHeader:
    """Attributes and unit from the ``#`` lines; a Subject ID must match the file name."""
    attrs: dict[str, float | int | None] = {}
    unit, unit_line = None, None
    for i, raw in enumerate(header):
        line, where = raw.strip(), f"{path}: line {i + 1}"
        unit_match = _UNIT_LINE.match(line)
        if unit_match:
            unit, unit_line = parse_unit(unit_match.group(1), f"{where} (unit)"), i + 1
            check_quantity(unit, SENSOR_QUANTITY[sensor], f"{where} (unit)")
            continue
        match = _HEADER_FIELD.match(line)
        if not match:
            continue
        key = re.sub(r"\s+", "", match.group(1).lower())
        value = match.group(2)
        if key == "subjectid":
            if value and _normalize_id(value) != _normalize_id(subject):
                raise DataFormatError(
                    f"{where}: Subject ID {value!r} does not match the file name's subject "
                    f"{subject!r}"
                )
        elif value.strip() in NOT_RECORDED:
            attrs[key] = None
        elif key == "gender":
            attrs["gender"] = parse_gender(value, f"{where} (Gender)")
        else:
            attrs[key] = _parse_number(value, f"{where} ({FIELD_LABELS[key]})")
    return RawHeader(attrs, unit, unit_line)


def _normalize_id(text: str) -> str:
    text = text.strip()
    return str(int(text)) if text.isdigit() else text


def _parse_number(value: str, where: str) -> float | None:
    """Leading number of a header value ("164", "164 cm"); 0 means not recorded."""
    match = _NUMBER.match(value)
    if not match:
        raise DataFormatError(f"{where}: {value!r} is not a number")
    number = float(match.group(0))
    return None if number == 0 else number


class SubjectAttributes:
    """Subject attributes merged over a subject's files (see the module docstring).

    ``conflict``: ``"error"`` (two different recorded values are an error naming both
    files), ``"majority"`` (the value most files give; ties go to the first file in
    path order) or ``"first"`` (the first file's value, in path order). Every choice
    and every value filled in from the subject's other files is reported by
    :meth:`subjects` as a note.
    """

    def __init__(self, conflict: str = "error") -> None:
        if conflict not in HEADER_CONFLICTS:
            raise ValueError(f"header_conflict must be one of {HEADER_CONFLICTS}, got {conflict!r}")
        self.conflict = conflict
        self._values: dict[str, dict[str, list[tuple[float | int | None, Path]]]] = {}

    def add(self, subject: str, attrs: dict[str, float | int | None], path: Path) -> None:
        """Record what ``path``'s header says about ``subject``."""
        fields = self._values.setdefault(subject, {})
        for name, value in attrs.items():
            fields.setdefault(name, []).append((value, path))

    def subjects(self, present: set[str], root: Path) -> tuple[dict[str, Subject], list[str]]:
        """The merged attributes of the ``present`` subjects, and the notes on the merge."""
        out, notes = {}, []
        for subject in sorted(present, key=natural_key):
            attrs = {}
            for name, seen in self._values.get(subject, {}).items():
                value, note = self._merge(subject, name, seen, root)
                attrs[name] = value
                if note:
                    notes.append(note)
            if attrs.get("gender") is not None:
                attrs["gender"] = int(attrs["gender"])  # type: ignore[arg-type]
            out[subject] = Subject(**attrs)  # type: ignore[arg-type]
        return out, notes

    def _merge(
        self, subject: str, name: str, seen: list[tuple[float | int | None, Path]], root: Path
    ) -> tuple[float | int | None, str | None]:
        label = FIELD_LABELS[name]
        seen = sorted(seen, key=lambda vp: natural_key(str(vp[1])))
        recorded = [(v, p) for v, p in seen if v is not None]
        missing = [p for v, p in seen if v is None]
        rel = lambda p: _relative(p, root)  # noqa: E731
        if not recorded:
            return None, (
                f"subject {subject}: {label} is 0 or empty (not recorded) in all of its "
                f"{len(seen)} file(s); left unknown"
            )
        counts = Counter(v for v, _ in recorded)
        value = recorded[0][0]
        note = None
        if len(counts) > 1:
            (a, pa), (b, pb) = recorded[0], next((v, p) for v, p in recorded if v != value)
            spread = ", ".join(f"{_fmt(v)} in {n} file(s)" for v, n in counts.most_common())
            if self.conflict == "error":
                raise DataFormatError(
                    f"subject {subject}: header field {label!r} is {_fmt(a)} in {pa} but "
                    f"{_fmt(b)} in {pb} ({spread}); correct the files, or choose with "
                    "header_conflict=majority (the value most files give) or "
                    "header_conflict=first (the first file's, in path order), e.g. "
                    "--data PATH:header_conflict=majority"
                )
            if self.conflict == "majority":
                top = max(counts.values())
                value = next(v for v, _ in recorded if counts[v] == top)
            note = (
                f"subject {subject}: header field {label} disagrees between files ({spread}); "
                f"used {_fmt(value)} (header_conflict={self.conflict})"
            )
        if missing:
            filled = (
                f"subject {subject}: {label} is 0 or empty (not recorded) in {len(missing)} of "
                f"{len(seen)} files (e.g. {rel(missing[0])}); the other files give "
                f"{_fmt(value)}, used for all"
            )
            note = filled if note is None else f"{note}; {filled}"
        return value, note


def _fmt(value: float | int | None) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return {0: "Female", 1: "Male"}.get(value, str(value))  # type: ignore[arg-type]


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


class SensorUnits:
    """The one unit of each sensor's files; files in different units are an error."""

    def __init__(self) -> None:
        self._first: dict[str, tuple[str, Path, int]] = {}
        self._undeclared: Counter[str] = Counter()

    def add(self, sensor: str, header: RawHeader, path: Path) -> None:
        """Record ``path``'s unit; one that differs from the sensor's first is an error."""
        if header.unit is None:
            self._undeclared[sensor] += 1
            return
        first = self._first.setdefault(sensor, (header.unit, path, header.unit_line or 0))
        if first[0] != header.unit:
            raise DataFormatError(
                f"{path}: line {header.unit_line} (unit): {sensor} values are in "
                f"{header.unit}, but {first[1]}: line {first[2]} gives {first[0]}; jaxpriv does "
                "not guess which is right: correct the files, or leave this sensor out with "
                f"sensors=... (e.g. --data PATH:sensors={_others(sensor)})"
            )

    def unit(self, sensor: str) -> str:
        """The sensor's unit: its files', else the readme's."""
        return self._first[sensor][0] if sensor in self._first else DOCUMENTED_UNITS[sensor]

    def notes(self, root: Path) -> list[str]:
        """Notes on files without a unit line (an error if other files of the sensor have one)."""
        notes = []
        for sensor, count in sorted(self._undeclared.items()):
            if sensor in self._first:
                raise DataFormatError(
                    f"{root}: {count} {sensor} file(s) have no '#timestamp(ns),x,y,z(<unit>)' "
                    f"line while others give {self._first[sensor][0]} "
                    f"({self._first[sensor][1]}); correct the files, or leave this sensor out "
                    f"with sensors=... (e.g. --data PATH:sensors={_others(sensor)})"
                )
            notes.append(
                f"{root}: {count} {sensor} file(s) have no unit line; used the readme's "
                f"{DOCUMENTED_UNITS[sensor]}"
            )
        return notes


def _others(sensor: str) -> str:
    return "+".join(s for s in ("acc", "gyro") if s != sensor) or "acc"
