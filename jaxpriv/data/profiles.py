"""Dataset profiles: MotionSense's channels, in jaxpriv's units, from other phones' raw sensors.

DySan's and MSDA's channel presets name MotionSense's (Core Motion's) channels:
``rotationRate.*`` (rad/s), ``userAcceleration.*`` and ``gravity.*`` (g). MobiAct,
MobiFall and WISDM record the raw Android accelerometer (m/s^2, gravity included) and
gyroscope. The ``motionsense`` profile derives the first from the second:

- every channel is converted to jaxpriv's units (:mod:`jaxpriv.data.units`);
- ``total = -acc / 9.80665``: Android's accelerometer reports the specific force (+9.81
  m/s^2 on z lying flat, face up), Core Motion minus it in g (-1 on z), so the sign
  flips; the device axes are the same (x right, y up the screen, z out of it);
- ``gravity`` = a zero-phase Butterworth low-pass of ``total`` (order 4, cut-off 0.3 Hz;
  ``scipy.signal.butter`` in second-order sections, run forwards and backwards by
  ``sosfiltfilt`` over each recording, padded by mirroring one cut-off period);
- ``userAcceleration = total - gravity``; ``rotationRate`` = the gyroscope (both
  platforms count rotation counter-clockwise positive about the same axes).

Accelerometer-only data gives ``gravity`` and ``userAcceleration`` only. Other channels
(MobiAct's Android orientation angles) are dropped and listed. The ``raw`` profile only
converts units and keeps the sensors' own channels and signs. What was applied is
recorded in ``Dataset.description["profile"]`` (checkpoints keep it).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy.signal import butter, sosfiltfilt

from jaxpriv.data.dataset import DataFormatError, Dataset
from jaxpriv.data.units import to_task_units

PROFILES = ("motionsense", "raw")
GRAVITY_CUTOFF_HZ = 0.3
GRAVITY_ORDER = 4
_AXES = ("x", "y", "z")
# Which phones recorded each dataset kind, hence the accelerometer's sign convention.
PLATFORM = {"mobiact": "android", "mobiact_annotated": "android", "wisdm": "android"}
ACCELEROMETER_SIGN = {"android": -1.0, "core motion": 1.0}
# Suggested names of each dataset's activities in MotionSense's vocabulary (data -> task);
# a task may use them with --activities. WISDM has stairs without up/down.
_MOBIACT_ACTIVITIES = {"WAL": "wlk", "JOG": "jog", "STU": "ups", "STN": "dws", "SIT": "sit",
                       "STD": "std"}  # fmt: skip
MOTIONSENSE_ACTIVITIES: Mapping[str, Mapping[str, str]] = {
    "mobiact": _MOBIACT_ACTIVITIES,
    "mobiact_annotated": _MOBIACT_ACTIVITIES,
    "wisdm": {"walking": "wlk", "jogging": "jog", "sitting": "sit", "standing": "std"},
}


def default_profile(kind: str | None) -> str | None:
    """The profile ``load_dataset`` applies to a dataset kind by default (None: none)."""
    return "motionsense" if kind in PLATFORM else None


def apply_profile(
    ds: Dataset,
    name: str = "motionsense",
    *,
    cutoff_hz: float = GRAVITY_CUTOFF_HZ,
    order: int = GRAVITY_ORDER,
) -> Dataset:
    """``ds`` under profile ``name`` (see the module docstring), recorded in its description.

    Needs channels ``acc_x/_y/_z`` (and optionally ``gyro_*``) of known units from a
    dataset kind whose phones are known (:data:`PLATFORM`).
    """
    if name not in PROFILES:
        raise ValueError(f"profile {name!r}: expected one of {list(PROFILES)}")
    kind = str(ds.description.get("kind"))
    if kind not in PLATFORM:
        raise DataFormatError(
            f"{ds.name}: no profile for a {kind} dataset (profiles apply to "
            f"{sorted(PLATFORM)}); load it without profile=..."
        )
    converted, conversions = to_task_units(ds)
    record: dict[str, Any] = {"name": name, "units_converted": conversions}
    if name == "motionsense":
        converted, derived = _motionsense(converted, kind, cutoff_hz, order)
        record.update(derived)
    description = {**ds.description, "profile": record}
    return converted.replace(description=description)


def reapply_profile(ds: Dataset, record: Mapping[str, Any]) -> Dataset:
    """Apply again the profile a ``description["profile"]`` records (for reloading)."""
    gravity = record.get("gravity_filter", {})
    return apply_profile(
        ds,
        record["name"],
        cutoff_hz=gravity.get("cutoff_hz", GRAVITY_CUTOFF_HZ),
        order=gravity.get("order", GRAVITY_ORDER),
    )


def _motionsense(
    ds: Dataset, kind: str, cutoff_hz: float, order: int
) -> tuple[Dataset, dict[str, Any]]:
    acc = _group(ds, "acc", required=True)
    gyro = _group(ds, "gyro", required=False)
    nyquist = ds.rate_hz / 2
    if not 0 < cutoff_hz < nyquist:
        raise ValueError(f"cutoff_hz must be in (0, {nyquist:g}) at {ds.rate_hz:g} Hz")
    if order < 1:
        raise ValueError(f"order must be >= 1, got {order}")
    for i in acc:
        if ds.units.get(ds.channels[i]) != "g":
            raise DataFormatError(
                f"{ds.name}: channel {ds.channels[i]!r} has unknown units; the profile needs "
                "the accelerometer's unit"
            )
    sign = ACCELEROMETER_SIGN[PLATFORM[kind]]
    sos = butter(order, cutoff_hz, btype="lowpass", fs=ds.rate_hz, output="sos")
    padlen = int(np.ceil(ds.rate_hz / cutoff_hz))
    channels = [f"gravity.{a}" for a in _AXES]
    channels += [f"rotationRate.{a}" for a in _AXES] if gyro else []
    channels += [f"userAcceleration.{a}" for a in _AXES]
    recordings = []
    for rec in ds.recordings:
        total = sign * rec.data[:, acc].astype(np.float64)
        n = total.shape[0]
        gravity = (
            sosfiltfilt(sos, total, axis=0, padtype="even", padlen=min(n - 1, padlen))
            if n > 1
            else total.copy()
        )
        parts = [gravity] + ([rec.data[:, gyro]] if gyro else []) + [total - gravity]
        data = np.concatenate(parts, axis=1).astype(rec.data.dtype)
        recordings.append(dataclasses.replace(rec, data=data))
    used = {ds.channels[i] for i in (*acc, *gyro)}
    units = {c: "rad/s" if c.startswith("rotationRate") else "g" for c in channels}
    derived = {
        "platform": PLATFORM[kind],
        "accelerometer_sign": sign,
        "gravity_filter": {
            "type": "butterworth lowpass",
            "order": order,
            "cutoff_hz": cutoff_hz,
            "zero_phase": True,
            "implementation": "scipy.signal.butter(output='sos') + sosfiltfilt per recording, "
            "padtype='even', padlen = one cut-off period",
        },
        "channels": {
            "gravity.*": f"low-pass of {_signed(sign)}acc_* in g",
            "userAcceleration.*": f"{_signed(sign)}acc_* in g - gravity.*",
            **({"rotationRate.*": "gyro_* in rad/s"} if gyro else {}),
        },
        "dropped": [c for c in ds.channels if c not in used],
        "activity_map": dict(MOTIONSENSE_ACTIVITIES[kind]),
    }
    out = ds.replace(recordings=tuple(recordings), channels=tuple(channels), units=units)
    return out, derived


def _signed(sign: float) -> str:
    return "-" if sign < 0 else ""


def _group(ds: Dataset, prefix: str, *, required: bool) -> list[int]:
    names = [f"{prefix}_{a}" for a in _AXES]
    if all(n in ds.channels for n in names):
        return [ds.channels.index(n) for n in names]
    if required:
        raise DataFormatError(
            f"{ds.name}: the motionsense profile needs channels {names}; the data has "
            f"{list(ds.channels)} (load it with profile=raw to keep them as they are)"
        )
    return []


def describe_profile(record: Mapping[str, Any] | None) -> str:
    """One line saying which profile was applied and how (for summaries and reports)."""
    if not record:
        return "none (the dataset's own channels)"
    if record["name"] == "raw":
        done = ", ".join(sorted(set(record.get("units_converted", {}).values())))
        return f"raw: the sensors' own channels, units converted ({done or 'none needed'})"
    f = record["gravity_filter"]
    made = record["channels"]
    return (
        f"motionsense ({record['platform']} sign flipped to Core Motion's): gravity = "
        f"Butterworth low-pass (order {f['order']}, {f['cutoff_hz']:g} Hz, zero-phase) of "
        f"{made['gravity.*'].removeprefix('low-pass of ')}; userAcceleration = "
        f"{made['userAcceleration.*']}"
        + (f"; rotationRate = {made['rotationRate.*']}" if "rotationRate.*" in made else "")
        + (f"; dropped {record['dropped']}" if record["dropped"] else "")
    )
