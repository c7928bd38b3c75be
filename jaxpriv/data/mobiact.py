"""MobiAct / MobiFall (BMI Lab, TEI Crete): what the raw and the annotated loaders share.

The file-name patterns, the channel names of each sensor and of the annotated CSVs, and
the argument checks of :func:`jaxpriv.data.mobiact_raw.load_mobiact_raw` (raw sensor
files) and :func:`jaxpriv.data.mobiact_annotated.load_mobiact_annotated` (MobiAct v2
annotated CSVs). See ``docs/data-formats.md``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path

from jaxpriv.data.dataset import DataFormatError
from jaxpriv.data.parsing import INVALID_POLICIES

SENSOR_CHANNELS: dict[str, tuple[str, str, str]] = {
    "acc": ("acc_x", "acc_y", "acc_z"),  # m/s^2, including gravity
    "gyro": ("gyro_x", "gyro_y", "gyro_z"),  # rad/s
    "ori": ("azimuth", "pitch", "roll"),  # degrees
}
# Units of each sensor as the MobiAct v2 and MobiFall v2.0 readmes document them (their
# "Sensors" table); a raw file's own "#timestamp(ns),x,y,z(<unit>)" line takes precedence.
SENSOR_QUANTITY = {"acc": "acceleration", "gyro": "angular rate", "ori": "angle"}
DOCUMENTED_UNITS = {"acc": "m/s^2", "gyro": "rad/s", "ori": "deg"}
ANNOTATED_UNITS = {c: DOCUMENTED_UNITS[s] for s, cs in SENSOR_CHANNELS.items() for c in cs}
# Codes of the readmes: everyday activities (in the readme's order), falls, and MobiAct's
# scenarios (a sequence of activities recorded as one file, not one activity).
ADL_CODES = ("STD", "WAL", "JOG", "JUM", "STU", "STN", "SCH", "SIT", "CHU", "CSI", "CSO", "LYI")
FALL_CODES = ("FOL", "FKL", "BSC", "SDL")
SCENARIO_CODES = ("SLH", "SBW", "SLW", "SBE", "SRH")
ACTIVITY_ORDER = ADL_CODES + FALL_CODES + SCENARIO_CODES
HEADER_CONFLICTS = ("error", "majority", "first")
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


def is_fall(code: str, path: Path | None = None) -> bool:
    """A fall: one of the readmes' fall codes, or a file under a ``FALLS`` folder (MobiFall)."""
    in_falls_folder = path is not None and any(p.upper() == "FALLS" for p in path.parts[:-1])
    return code in FALL_CODES or in_falls_folder


def excluded_note(root: Path, what: str, codes: dict[str, int], option: str) -> str:
    """The note saying which recordings a default left out, and the option that keeps them."""
    listed = ", ".join(f"{c} ({n})" for c, n in sorted(codes.items()))
    return (
        f"{root}: left out {sum(codes.values())} {what} recording(s): {listed}; they are not "
        f"everyday activities. Load with {option}=1 (--data PATH:{option}=1) to keep them"
    )


def check_names(what: str, names: Sequence[str] | str, allowed: Sequence[str]) -> tuple[str, ...]:
    """A non-empty tuple of distinct names from ``allowed`` (a lone string counts as one)."""
    names = (names,) if isinstance(names, str) else tuple(names)
    unknown = [n for n in names if n not in allowed]
    if not names or unknown or len(set(names)) != len(names):
        raise ValueError(f"{what} must be distinct names from {list(allowed)}, got {list(names)}")
    return names


def check_common_arguments(rate_hz: float, invalid: str) -> None:
    """A known invalid-sample policy and a positive, finite rate (ValueError otherwise)."""
    if invalid not in INVALID_POLICIES:
        raise ValueError(f"invalid must be one of {INVALID_POLICIES}, got {invalid!r}")
    if not (math.isfinite(rate_hz) and rate_hz > 0):
        raise ValueError(f"rate_hz must be a positive number, got {rate_hz!r}")


def check_folder(root: Path) -> None:
    """``root`` must be a folder."""
    if not root.is_dir():
        raise DataFormatError(f"{root}: not a folder (expected the dataset's folder)")
