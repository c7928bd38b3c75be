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


def check_names(what: str, names: Sequence[str] | str, allowed: Sequence[str]) -> tuple[str, ...]:
    """A non-empty tuple of distinct names from ``allowed`` (a lone string counts as one)."""
    names = (names,) if isinstance(names, str) else tuple(names)
    unknown = [n for n in names if n not in allowed]
    if not names or unknown or len(set(names)) != len(names):
        raise ValueError(f"{what} must be distinct names from {list(allowed)}, got {list(names)}")
    return names


def check_common_arguments(rate_hz: float, invalid: str) -> None:
    if invalid not in INVALID_POLICIES:
        raise ValueError(f"invalid must be one of {INVALID_POLICIES}, got {invalid!r}")
    if not (math.isfinite(rate_hz) and rate_hz > 0):
        raise ValueError(f"rate_hz must be a positive number, got {rate_hz!r}")


def check_folder(root: Path) -> None:
    if not root.is_dir():
        raise DataFormatError(f"{root}: not a folder (expected the dataset's folder)")
