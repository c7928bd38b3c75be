"""The embedded dataset: a deterministic simulator writing MotionSense's on-disk layout.

``simulate_motionsense(out_dir, SimConfig(...))`` writes
``A_DeviceMotion_data/<code>_<trial>/sub_<n>.csv`` and
``data_subjects_info.csv`` exactly as MotionSense does, so the very loader
that reads the real dataset reads this one. Same config -> byte-identical files.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from jaxpriv.data.simulator.gait import TEMPLATES, sample_user_traits, simulate_recording
from jaxpriv.data.simulator.population import MOTIONSENSE_PROFILES, make_population

DEVICE_MOTION_COLUMNS = (
    "attitude.roll", "attitude.pitch", "attitude.yaw",
    "gravity.x", "gravity.y", "gravity.z",
    "rotationRate.x", "rotationRate.y", "rotationRate.z",
    "userAcceleration.x", "userAcceleration.y", "userAcceleration.z",
)  # fmt: skip

# MotionSense's activity codes and trial numbers; trials 1-9 are long, 11-16 short.
MOTIONSENSE_TRIALS: dict[str, tuple[int, ...]] = {
    "dws": (1, 2, 11),
    "ups": (3, 4, 12),
    "wlk": (7, 8, 15),
    "jog": (9, 16),
    "sit": (5, 13),
    "std": (6, 14),
}
LONG_TRIAL_MAX = 9


@dataclasses.dataclass(frozen=True)
class SimConfig:
    """What to simulate. Defaults: the 24 MotionSense profiles, a few seconds to generate."""

    n_users: int = 24
    seed: int = 0
    long_s: float = 40.0  # duration of trials 1-9 (real: 2-3 min)
    short_s: float = 16.0  # duration of trials 11-16 (real: 30 s - 1 min)
    duration_jitter: float = 0.1  # each recording's duration varies by up to +-10%
    rate_hz: float = 50.0
    activities: tuple[str, ...] = tuple(MOTIONSENSE_TRIALS)

    def __post_init__(self) -> None:
        if self.n_users < 1:
            raise ValueError(f"n_users must be >= 1, got {self.n_users}")
        if min(self.long_s, self.short_s) <= 0 or self.rate_hz <= 0:
            raise ValueError("durations and rate must be positive")
        if not 0 <= self.duration_jitter < 1:
            raise ValueError(f"duration_jitter must be in [0, 1), got {self.duration_jitter}")
        unknown = set(self.activities) - set(MOTIONSENSE_TRIALS)
        if unknown:
            raise ValueError(f"unknown activities {sorted(unknown)}; known: {list(TEMPLATES)}")

    def to_json(self) -> dict:
        return {**dataclasses.asdict(self), "activities": list(self.activities)}


def simulator_fingerprint() -> str:
    """Hash of the simulator's own source: generated data is stale once the code changes."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def _format_rows(samples: np.ndarray) -> str:
    """MotionSense's CSV body: a row index, then 12 values with 6 decimals."""
    fmt = ",".join(["%d"] + ["%.6f"] * samples.shape[1]) + "\n"
    return "".join(fmt % (i, *row) for i, row in enumerate(samples.tolist()))


def write_recordings(root: Path, cfg: SimConfig, progress: bool = False) -> None:
    """Write every recording and the subjects table under ``root`` (which must exist)."""
    subjects = make_population(cfg.n_users, cfg.seed)
    traits = {
        code: sample_user_traits(s, np.random.default_rng([cfg.seed, int(code), 0xA77]))
        for code, s in subjects.items()
    }
    header = "," + ",".join(DEVICE_MOTION_COLUMNS) + "\n"
    jobs = [(a, trial) for a in cfg.activities for trial in MOTIONSENSE_TRIALS[a]]
    iterator = jobs
    if progress:
        from tqdm import tqdm

        iterator = tqdm(jobs, desc="simulating trials", unit="trial")
    for activity, trial in iterator:
        folder = root / "A_DeviceMotion_data" / f"{activity}_{trial}"
        folder.mkdir(parents=True)
        base = cfg.long_s if trial <= LONG_TRIAL_MAX else cfg.short_s
        for code, tr in traits.items():
            rng = np.random.default_rng([cfg.seed, int(code), trial])
            duration = base * (1.0 + rng.uniform(-cfg.duration_jitter, cfg.duration_jitter))
            samples = simulate_recording(tr, activity, duration, rng, cfg.rate_hz)
            (folder / f"sub_{code}.csv").write_text(header + _format_rows(samples))
    lines = ["code,weight,height,age,gender"]
    for code, s in subjects.items():
        lines.append(f"{code},{s.weight:g},{s.height:g},{s.age:g},{s.gender}")
    (root / "data_subjects_info.csv").write_text("\n".join(lines) + "\n")


def simulate_motionsense(
    out_dir: str | Path, cfg: SimConfig | None = None, progress: bool = False
) -> Path:
    """Write the simulated dataset to ``out_dir`` (created; must not exist yet).

    Written into a temporary sibling folder and renamed at the end, so an
    interrupted run never leaves a folder that looks complete.
    ``simulation.json`` records the config the files came from.
    """
    cfg = cfg or SimConfig()
    out = Path(out_dir)
    if out.exists():
        raise FileExistsError(f"{out} already exists; choose a new folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        write_recordings(tmp, cfg, progress=progress)
        meta = {
            "generator": "jaxpriv.data.simulator",
            "fingerprint": simulator_fingerprint(),
            "format": "motionsense",
            "config": cfg.to_json(),
        }
        (tmp / "simulation.json").write_text(json.dumps(meta, indent=2) + "\n")
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


__all__ = [
    "DEVICE_MOTION_COLUMNS",
    "MOTIONSENSE_PROFILES",
    "MOTIONSENSE_TRIALS",
    "SimConfig",
    "make_population",
    "simulate_motionsense",
    "simulator_fingerprint",
]
