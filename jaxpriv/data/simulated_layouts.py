"""The simulator's people written in MobiFall v2.0's and WISDM 2019's raw layouts.

The same population, user traits and seeds as the embedded MotionSense dataset
(:mod:`jaxpriv.data.simulator`) drive every recording, which is then written the way an
Android phone records it: the accelerometer as the specific force in m/s^2 (minus Core
Motion's ``gravity + userAcceleration``, times 9.80665), the gyroscope in rad/s, at
irregular timestamps in ns (interpolated from a 100 Hz simulation).

- ``mobifall``: ``sub<N>/ADL/<CODE>/<CODE>_<acc|gyro|ori>_<N>_<trial>.txt`` with the real
  files' ``#`` headers, ``@DATA`` and ``timestamp, x, y, z`` rows (acc about 87 Hz,
  gyro and ori about 200 Hz); STD, WAL, SIT (1 trial, ``long_s``), JOG, STU, STN
  (3 trials, ``short_s``), and a crude fall ``sub<N>/FALLS/FOL/`` (standing, a 1 s
  tip-over with an impact, lying; 10 s). Subject 1 has the real data's header quirk:
  its JOG files read ``Age: 0``, ``Height(cm): 0``, ``Weight(kg): 0``, its SIT files
  leave them empty. ``ori`` holds the attitude in degrees (not Android's convention).
- ``wisdm``: ``wisdm-dataset/raw/phone/<accel|gyro>/data_<1599+N>_<sensor>_phone.txt``,
  lines ``subject,code,timestamp_ns,x,y,z;`` at about 20 Hz: A walking, B jogging,
  C stairs (up then down), D sitting, E standing, each ``long_s`` long, one after the
  other; plus ``activity_key.txt``. Only what the pocket model can simulate: no watch
  files, no hand activities.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from jaxpriv.data.dataset import Subject
from jaxpriv.data.simulator import SimConfig, simulator_fingerprint
from jaxpriv.data.simulator.gait import UserTraits, sample_user_traits, simulate_recording
from jaxpriv.data.simulator.population import make_population
from jaxpriv.data.simulator.rotations import rot_x
from jaxpriv.data.units import STANDARD_GRAVITY
from jaxpriv.data.wisdm import ACTIVITIES as WISDM_NAMES

LAYOUTS = ("mobifall", "wisdm")
SIM_RATE_HZ = 100.0
# MobiFall code -> (simulator activity, trials, long?)
MOBIFALL_ADL = {
    "STD": ("std", 1, True), "WAL": ("wlk", 1, True), "SIT": ("sit", 1, True),
    "JOG": ("jog", 3, False), "STU": ("ups", 3, False), "STN": ("dws", 3, False),
}  # fmt: skip
WISDM_CODES = {"A": ("wlk",), "B": ("jog",), "C": ("ups", "dws"), "D": ("sit",), "E": ("std",)}
WISDM_FIRST_SUBJECT = 1600
_SENSOR_HEADER = {
    "acc": ("#Acceleration force along the x y z axes (including gravity).",
            "#timestamp(ns),x,y,z(m/s^2)"),
    "gyro": ("#Rate of rotation around the x y z axes (Angular velocity).",
             "#timestamp(ns),x,y,z(rad/s)"),
    "ori": ("#Angle around the z x y axes.", "#timestamp(ns), Azimuth , Pitch, Roll(degrees)"),
}  # fmt: skip
_STEPS = {"acc": (1 / 100, 1 / 75), "gyro": (1 / 220, 1 / 180), "ori": (1 / 220, 1 / 180)}
_QUIRK = {"JOG": "0", "SIT": ""}  # subject 1's header quirk: code -> value written


def layout_fingerprint() -> str:
    """Hash of the simulator's and this module's code: stale data regenerates."""
    digest = hashlib.sha256(simulator_fingerprint().encode())
    digest.update(Path(__file__).read_bytes())
    return digest.hexdigest()[:16]


def simulate_layout(out_dir: str | Path, layout: str, cfg: SimConfig | None = None) -> Path:
    """Write the simulated people in ``layout`` (``mobifall`` or ``wisdm``) to ``out_dir``.

    ``out_dir`` must not exist; the files are written into a temporary sibling renamed
    at the end, so an interrupted run leaves nothing that looks complete. Same config
    -> byte-identical files. ``simulation.json`` records the config.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    cfg = cfg or SimConfig()
    out = Path(out_dir)
    if out.exists():
        raise FileExistsError(f"{out} already exists; choose a new folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        (write_mobifall if layout == "mobifall" else write_wisdm)(tmp, cfg)
        meta = {
            "generator": "jaxpriv.data.simulated_layouts",
            "format": layout,
            "fingerprint": layout_fingerprint(),
            "config": cfg.to_json(),
        }
        (tmp / "simulation.json").write_text(json.dumps(meta, indent=2) + "\n")
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _people(cfg: SimConfig) -> dict[str, tuple[Subject, UserTraits]]:
    """Subjects and their traits, drawn exactly as for the embedded MotionSense dataset."""
    subjects = make_population(cfg.n_users, cfg.seed)
    traits = {
        code: sample_user_traits(s, np.random.default_rng([cfg.seed, int(code), 0xA77]))
        for code, s in subjects.items()
    }
    return {code: (subjects[code], traits[code]) for code in subjects}


def _simulate(
    traits: UserTraits, activity: str, duration: float, rng: np.random.Generator
) -> np.ndarray:
    """``(T, 9)`` at 100 Hz: Android acc (m/s^2), gyro (rad/s), attitude (degrees)."""
    cm = simulate_recording(traits, activity, duration, rng, SIM_RATE_HZ)
    acc = -(cm[:, 3:6] + cm[:, 9:12]) * STANDARD_GRAVITY
    return np.concatenate([acc, cm[:, 6:9], np.degrees(cm[:, 0:3])], axis=1)


def _fall(traits: UserTraits, rng: np.random.Generator, duration: float = 10.0) -> np.ndarray:
    """Standing, a 1 s tip-over about the device's x axis with an impact, then lying."""
    cm = simulate_recording(traits, "std", duration, rng, SIM_RATE_HZ)
    t = np.arange(len(cm)) / SIM_RATE_HZ
    u = np.clip(t - 0.4 * duration, 0.0, 1.0)
    angle = np.pi / 2 * (3 * u**2 - 2 * u**3)  # smooth 0 -> 90 degrees
    R = rot_x(angle)
    gravity = np.einsum("tji,tj->ti", R, cm[:, 3:6])
    user = cm[:, 9:12] + np.outer(np.exp(-0.5 * ((t - 0.4 * duration - 1) / 0.03) ** 2), [0, 0, 3])
    rate = cm[:, 6:9] + np.outer(np.gradient(angle, 1 / SIM_RATE_HZ), [1.0, 0.0, 0.0])
    acc = -(gravity + user) * STANDARD_GRAVITY
    return np.concatenate([acc, rate, np.degrees(cm[:, 0:3])], axis=1)


def _sample(
    values: np.ndarray, steps: tuple[float, float], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Irregular sample times (s) with steps uniform in ``steps``, and the values there."""
    span = (len(values) - 1) / SIM_RATE_HZ
    t = np.cumsum(rng.uniform(*steps, size=int(span / steps[0]) + 2))
    t = np.concatenate([[0.0], t[t < span]])
    grid = np.arange(len(values)) / SIM_RATE_HZ
    return t, np.column_stack([np.interp(t, grid, values[:, k]) for k in range(values.shape[1])])


def write_mobifall(root: Path, cfg: SimConfig) -> None:
    """The MobiFall v2.0 layout under ``root`` (see the module docstring)."""
    for code, (subject, traits) in _people(cfg).items():
        n = int(code)
        jobs = [
            (c, a, trial, long)
            for c, (a, k, long) in MOBIFALL_ADL.items()
            for trial in range(1, k + 1)
        ] + [("FOL", None, 1, False)]
        for c, activity, trial, long in jobs:
            rng = np.random.default_rng([cfg.seed, n, trial, int.from_bytes(c.encode(), "big")])
            base = cfg.long_s if long else cfg.short_s
            duration = base * (1.0 + rng.uniform(-cfg.duration_jitter, cfg.duration_jitter))
            values = (
                _fall(traits, rng)
                if activity is None
                else _simulate(traits, activity, duration, rng)
            )
            folder = root / f"sub{n}" / ("FALLS" if activity is None else "ADL") / c
            folder.mkdir(parents=True, exist_ok=True)
            clock = int(rng.integers(10**12, 10**13))
            attrs = _attributes(subject, _QUIRK.get(c) if n == 1 else None)
            for k, sensor in enumerate(("acc", "gyro", "ori")):
                t, v = _sample(values[:, 3 * k : 3 * k + 3], _STEPS[sensor], rng)
                lines = [
                    *_SENSOR_HEADER[sensor],
                    "#Datetime: 01/01/2013 00:00:00",
                    "#" * 42,
                    f"#Activity: {c}",
                    f"#Subject ID: {n}",
                    f"#First Name: sub{n}",
                    f"#Last Name: sub{n}",
                    *attrs,
                    "#" * 42,
                    "",
                    "",
                    "@DATA",
                ]
                stamps = clock + np.round(t * 1e9).astype(np.int64) // 1000 * 1000
                lines += [
                    f"{s}, {x:.8g}, {y:.8g}, {z:.8g}"
                    for s, (x, y, z) in zip(stamps.tolist(), v.tolist(), strict=True)
                ]
                name = f"{c}_{sensor}_{n}_{trial}.txt"
                (folder / name).write_text("\n".join(lines) + "\n")


def _attributes(subject: Subject, quirk: str | None) -> list[str]:
    gender = {1: "Male", 0: "Female"}[subject.gender]
    if quirk is not None:
        return [
            f"#Age: {quirk}",
            f"#Height(cm): {quirk}",
            f"#Weight(kg): {quirk}",
            f"#Gender: {gender}",
        ]
    return [
        f"#Age: {subject.age:g}",
        f"#Height(cm): {subject.height:g}",
        f"#Weight(kg): {subject.weight:g}",
        f"#Gender: {gender}",
    ]


def write_wisdm(root: Path, cfg: SimConfig) -> None:
    """The WISDM 2019 raw layout under ``root`` (see the module docstring)."""
    base = root / "wisdm-dataset"
    for name in ("accel", "gyro"):
        (base / "raw" / "phone" / name).mkdir(parents=True)
    (base / "activity_key.txt").write_text(
        "".join(f"{WISDM_NAMES[c]} = {c}\n" for c in WISDM_NAMES)
    )
    for code, (_, traits) in _people(cfg).items():
        n = int(code)
        subject = WISDM_FIRST_SUBJECT + n - 1
        rng = np.random.default_rng([cfg.seed, n, 0x3157])
        clock = int(rng.integers(10**14, 10**15))
        blocks = []
        for letter, activities in WISDM_CODES.items():
            part = cfg.long_s / len(activities)
            blocks.append(
                (letter, np.concatenate([_simulate(traits, a, part, rng) for a in activities]))
            )
        for k, name in enumerate(("accel", "gyro")):
            lines, start = [], 0.0
            for letter, values in blocks:
                t, v = _sample(values[:, 3 * k : 3 * k + 3], (1 / 22, 1 / 18), rng)
                stamps = clock + np.round((start + t) * 1e9).astype(np.int64)
                lines += [
                    f"{subject},{letter},{s},{x:.8g},{y:.8g},{z:.8g};"
                    for s, (x, y, z) in zip(stamps.tolist(), v.tolist(), strict=True)
                ]
                start += len(values) / SIM_RATE_HZ + 0.5
            path = base / "raw" / "phone" / name / f"data_{subject}_{name}_phone.txt"
            path.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    """``python -m jaxpriv.data.simulated_layouts OUT --layout mobifall|wisdm``: write the
    simulated people in a real dataset's raw layout into a new folder ``OUT``, to be
    read as ``--data OUT`` like the real dataset's folder."""
    p = argparse.ArgumentParser(
        prog="python -m jaxpriv.data.simulated_layouts", description=main.__doc__
    )
    p.add_argument("out", help="a new folder to write")
    p.add_argument("--layout", choices=LAYOUTS, required=True)
    defaults = SimConfig()
    p.add_argument("--users", type=int, default=defaults.n_users)
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument("--long-s", type=float, default=defaults.long_s, help="long recordings (s)")
    p.add_argument("--short-s", type=float, default=defaults.short_s, help="short ones (s)")
    args = p.parse_args(argv)
    try:
        cfg = SimConfig(
            n_users=args.users, seed=args.seed, long_s=args.long_s, short_s=args.short_s
        )
        out = simulate_layout(args.out, args.layout, cfg)
    except (ValueError, FileExistsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {args.layout} layout of {cfg.n_users} simulated users to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
