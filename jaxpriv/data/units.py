"""Physical units of channels: naming, checking and converting to jaxpriv's units.

Every loader reports the unit of each channel in :attr:`Dataset.units` (channel ->
unit text; a channel left out is of unknown unit). jaxpriv's own units, those of
MotionSense (Core Motion), are ``g`` for accelerations, ``rad/s`` for angular rates
and ``rad`` for angles; :func:`to_task_units` converts a dataset to them.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

import numpy as np

from jaxpriv.data.dataset import DataFormatError, Dataset

STANDARD_GRAVITY = 9.80665  # m/s^2 per g (the CGPM's standard acceleration of gravity)

# unit -> (quantity, factor to the quantity's task unit)
_UNITS: dict[str, tuple[str, float]] = {
    "g": ("acceleration", 1.0),
    "m/s^2": ("acceleration", 1.0 / STANDARD_GRAVITY),
    "rad/s": ("angular rate", 1.0),
    "deg/s": ("angular rate", math.pi / 180.0),
    "rad": ("angle", 1.0),
    "deg": ("angle", math.pi / 180.0),
}
TASK_UNITS: Mapping[str, str] = {"acceleration": "g", "angular rate": "rad/s", "angle": "rad"}

# Spellings seen in dataset headers and readmes -> the canonical unit text above.
_ALIASES = {
    "g": "g",
    "m/s^2": "m/s^2",
    "m/s2": "m/s^2",
    "m/s²": "m/s^2",
    "ms^-2": "m/s^2",
    "rad/s": "rad/s",
    "rad/sec": "rad/s",
    "radians/s": "rad/s",
    "deg/s": "deg/s",
    "deg/sec": "deg/s",
    "degrees/s": "deg/s",
    "°/s": "deg/s",
    "dps": "deg/s",
    "rad": "rad",
    "radians": "rad",
    "deg": "deg",
    "degrees": "deg",
    "degree": "deg",
    "°": "deg",
}


def parse_unit(text: str, where: str) -> str:
    """The canonical spelling of a unit written as ``text`` (``"m/s2"`` -> ``"m/s^2"``).

    An unknown unit is a :class:`DataFormatError` naming ``where`` and the units known.
    """
    key = text.strip().lower().replace(" ", "")
    if key not in _ALIASES:
        raise DataFormatError(
            f"{where}: unknown unit {text.strip()!r}; jaxpriv knows {sorted(set(_ALIASES))}"
        )
    return _ALIASES[key]


def quantity(unit: str) -> str:
    """``"acceleration"``, ``"angular rate"`` or ``"angle"`` for a canonical unit."""
    return _UNITS[unit][0]


def task_unit(unit: str) -> str:
    """The unit jaxpriv's tasks use for the quantity ``unit`` measures."""
    return TASK_UNITS[quantity(unit)]


def factor_to_task_units(unit: str) -> float:
    """Multiply a value in ``unit`` by this to express it in :func:`task_unit`."""
    return _UNITS[unit][1]


def check_quantity(unit: str, expected: str, where: str) -> None:
    """``unit`` must measure ``expected`` (an accelerometer file in rad/s is an error)."""
    if quantity(unit) != expected:
        raise DataFormatError(
            f"{where}: unit {unit!r} measures {quantity(unit)}, but this file holds "
            f"{expected} (units of {expected}: "
            f"{sorted(u for u, (q, _) in _UNITS.items() if q == expected)})"
        )


def to_task_units(ds: Dataset) -> tuple[Dataset, dict[str, str]]:
    """``ds`` with every channel of known unit in jaxpriv's units (g, rad/s, rad).

    Returns the dataset and the conversions made (channel -> ``"m/s^2 -> g"``);
    channels of unknown unit are left as they are.
    """
    factors = np.ones(len(ds.channels))
    done: dict[str, str] = {}
    units = dict(ds.units)
    for i, name in enumerate(ds.channels):
        unit = ds.units.get(name)
        if unit is None or unit == task_unit(unit):
            continue
        factors[i] = factor_to_task_units(unit)
        units[name] = task_unit(unit)
        done[name] = f"{unit} -> {units[name]}"
    if not done:
        return ds, done
    recordings = tuple(
        dataclasses.replace(r, data=(r.data * factors).astype(r.data.dtype)) for r in ds.recordings
    )
    return ds.replace(recordings=recordings, units=units), done
