"""The embedded MotionSense simulator: layout, determinism, atomic writes and physics.

The simulator's parameters are being tuned, so these tests check properties
(layout, consistency between channels, orders of magnitude, attribute effects),
never exact values.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import butter, sosfiltfilt
from scipy.stats import spearmanr

import jaxpriv.data.simulator as simulator
from jaxpriv.data.dataset import Dataset
from jaxpriv.data.motionsense import load_motionsense
from jaxpriv.data.simulated_layouts import simulate_layout
from jaxpriv.data.simulator import DEVICE_MOTION_COLUMNS, SimConfig, simulate_motionsense
from jaxpriv.data.simulator.rotations import attitude_to_matrix, gravity_from_attitude

RATE = 50.0
# MotionSense's folders, written out here rather than imported: the layout is the spec.
EXPECTED_TRIALS = {
    "dws": (1, 2, 11),
    "ups": (3, 4, 12),
    "wlk": (7, 8, 15),
    "jog": (9, 16),
    "sit": (5, 13),
    "std": (6, 14),
}
HEADER = (
    ",attitude.roll,attitude.pitch,attitude.yaw,gravity.x,gravity.y,gravity.z,"
    "rotationRate.x,rotationRate.y,rotationRate.z,"
    "userAcceleration.x,userAcceleration.y,userAcceleration.z"
)
# The public MotionSense subjects table (code: weight, height, age, gender).
PUBLIC_TABLE = [
    "1,102,188,46,1", "2,72,180,28,1", "3,48,161,28,0", "4,90,176,31,1", "5,48,164,23,0",
    "6,76,180,28,1", "7,62,175,30,0", "8,52,161,24,0", "9,93,190,32,1", "10,72,164,31,0",
    "11,70,178,24,1", "12,60,167,33,1", "13,60,178,33,1", "14,70,180,35,1", "15,70,185,33,1",
    "16,96,172,29,0", "17,76,180,26,1", "18,54,164,26,0", "19,78,164,28,0", "20,88,180,25,1",
    "21,52,165,24,1", "22,100,186,31,1", "23,68,170,25,0", "24,74,173,18,0",
]  # fmt: skip

LAYOUT = SimConfig(n_users=2, long_s=4.0, short_s=2.0)
PHYSICS = SimConfig(n_users=3, long_s=12.0, short_s=6.0, activities=("wlk", "jog", "sit", "std"))
COHORT = SimConfig(n_users=24, long_s=8.0, short_s=4.0, activities=("wlk",))


@pytest.fixture(scope="module")
def layout_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return simulate_motionsense(tmp_path_factory.mktemp("layout") / "ms", LAYOUT)


@pytest.fixture(scope="module")
def physics(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    return load_motionsense(simulate_motionsense(tmp_path_factory.mktemp("phys") / "ms", PHYSICS))


@pytest.fixture(scope="module")
def cohort_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return simulate_motionsense(tmp_path_factory.mktemp("cohort") / "ms", COHORT)


def tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` by relative path, with its bytes."""
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def channels(rec, *names: str) -> np.ndarray:
    """Columns of a recording by channel-name prefix, as float64."""
    idx = [i for i, c in enumerate(DEVICE_MOTION_COLUMNS) if c.startswith(names)]
    return rec.data[:, idx].astype(np.float64)


def recordings(ds: Dataset, subject: str, activity: str) -> list:
    return [r for r in ds.recordings if r.subject == subject and r.activity == activity]


def power_spectrum(x: np.ndarray, n_fft: int = 8192) -> tuple[np.ndarray, np.ndarray]:
    """Frequencies and normalised power of ``x`` ``(T,)`` or ``(T, C)`` (channels summed).

    Zero-padded so that peaks of a few-second recording are located finely.
    """
    x = x.reshape(len(x), -1)
    x = (x - x.mean(axis=0)) * np.hanning(len(x))[:, None]
    power = (np.abs(np.fft.rfft(x, n_fft, axis=0)) ** 2).sum(axis=1)
    return np.fft.rfftfreq(n_fft, 1.0 / RATE), power / power.sum()


def dominant_frequency(signals: list[np.ndarray], lo: float, hi: float) -> float:
    """Peak of the summed normalised spectra of several recordings, within [lo, hi] Hz."""
    freqs, total = power_spectrum(signals[0])
    for x in signals[1:]:
        total = total + power_spectrum(x)[1]
    band = (freqs >= lo) & (freqs <= hi)
    return float(freqs[band][np.argmax(total[band])])


def step_frequency(ds: Dataset, subject: str, activity: str) -> float:
    """Steps per second: twice the stride frequency of the thigh's rotation.

    The phone rides on one thigh, whose swing repeats once per stride (two
    steps); its rotation rate is dominated by that fundamental, whereas the
    acceleration's magnitude mixes stride, step and impact harmonics.
    """
    gyro = [channels(r, "rotationRate") for r in recordings(ds, subject, activity)]
    return 2.0 * dominant_frequency(gyro, 0.4, 4.0)


# ---------------------------------------------------------------------------- layout


def test_folders_and_files_are_motionsense_layout(layout_dir: Path) -> None:
    data = layout_dir / "A_DeviceMotion_data"
    expected = {f"{a}_{t}" for a, trials in EXPECTED_TRIALS.items() for t in trials}
    assert {p.name for p in data.iterdir()} == expected
    for folder in data.iterdir():
        assert sorted(p.name for p in folder.iterdir()) == ["sub_1.csv", "sub_2.csv"]
    top = {p.name for p in layout_dir.iterdir()}
    assert top == {"A_DeviceMotion_data", "data_subjects_info.csv", "simulation.json"}


def test_csv_header_index_and_durations(layout_dir: Path) -> None:
    jitter = LAYOUT.duration_jitter
    for path in sorted((layout_dir / "A_DeviceMotion_data").glob("*/sub_*.csv")):
        lines = path.read_text().splitlines()
        assert lines[0] == HEADER
        cells = [line.split(",") for line in lines[1:]]
        assert all(len(c) == 13 for c in cells)
        assert [int(c[0]) for c in cells] == list(range(len(cells)))
        assert all(len(v.split(".")[1]) == 6 for v in cells[0][1:])  # 6 decimals
        trial = int(path.parent.name.split("_")[1])
        base = LAYOUT.long_s if trial <= 9 else LAYOUT.short_s
        n = len(cells)
        assert base * (1 - jitter) * RATE - 1 <= n <= base * (1 + jitter) * RATE + 1, path


def test_subjects_table_holds_the_public_profiles(cohort_dir: Path) -> None:
    lines = (cohort_dir / "data_subjects_info.csv").read_text().splitlines()
    assert lines[0] == "code,weight,height,age,gender"
    assert lines[1] == "1,102,188,46,1"
    assert lines[24] == "24,74,173,18,0"
    assert lines[1:] == PUBLIC_TABLE


def test_simulation_json_records_the_config(layout_dir: Path) -> None:
    meta = json.loads((layout_dir / "simulation.json").read_text())
    assert meta["format"] == "motionsense"
    assert meta["config"] == LAYOUT.to_json()
    assert SimConfig(**{**meta["config"], "activities": tuple(meta["config"]["activities"])}) == (
        LAYOUT
    )


# ---------------------------------------------------------------------------- determinism


def test_same_config_gives_identical_files(tmp_path: Path) -> None:
    cfg = SimConfig(n_users=2, long_s=2.0, short_s=1.0, seed=7)
    a = tree(simulate_motionsense(tmp_path / "a", cfg))
    b = tree(simulate_motionsense(tmp_path / "b", cfg))
    assert len(a) == 15 * 2 + 2  # 15 trial folders, the table, simulation.json
    assert a == b


def test_different_seed_gives_different_recordings(tmp_path: Path) -> None:
    cfg = SimConfig(n_users=2, long_s=2.0, short_s=1.0, activities=("wlk", "sit"))
    a = tree(simulate_motionsense(tmp_path / "a", cfg))
    b = tree(simulate_motionsense(tmp_path / "b", SimConfig(**{**vars(cfg), "seed": 1})))
    assert a.keys() == b.keys()
    csvs = [k for k in a if k.endswith(".csv") and "sub_" in k]
    assert len(csvs) == 10
    assert all(a[k] != b[k] for k in csvs)
    # The first 24 subjects are the public profiles, whatever the seed.
    assert a["data_subjects_info.csv"] == b["data_subjects_info.csv"]


def test_more_users_than_profiles(tmp_path: Path) -> None:
    cfg = SimConfig(n_users=30, long_s=1.0, short_s=1.0, activities=("std",))
    ds = load_motionsense(simulate_motionsense(tmp_path / "ms", cfg))
    assert ds.subject_ids == tuple(str(i) for i in range(1, 31))
    extra = [ds.subjects[str(i)] for i in range(25, 31)]
    assert {s.gender for s in extra} == {0, 1}
    for s in extra:
        assert 140 <= s.height <= 210
        assert 18 <= s.age <= 60
        assert 16 <= s.weight / (s.height / 100) ** 2 <= 40  # a human BMI
    assert len(ds.recordings) == 30 * 2


# ---------------------------------------------------------------------------- atomicity


@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_failure_mid_write_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exc: type[BaseException]
) -> None:
    real = simulator.simulate_recording
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) > 3:  # some files are already written by then
            raise exc("boom")
        return real(*args, **kwargs)

    monkeypatch.setattr(simulator, "simulate_recording", failing)
    parent = tmp_path / "parent"
    parent.mkdir()
    with pytest.raises(exc, match="boom"):
        simulate_motionsense(parent / "ms", SimConfig(n_users=2, long_s=1.0, short_s=1.0))
    assert len(calls) == 4
    assert os.listdir(parent) == []  # neither out_dir nor the temporary folder


def test_existing_out_dir_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "ms"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="already exists"):
        simulate_motionsense(out, SimConfig(n_users=1, long_s=1.0, short_s=1.0))
    assert os.listdir(out) == ["keep.txt"]
    assert sorted(os.listdir(tmp_path)) == ["ms"]


# ---------------------------------------------------------------------------- physics


def test_gravity_is_a_unit_vector_given_by_attitude(physics: Dataset) -> None:
    for rec in physics.recordings:
        g = channels(rec, "gravity")
        att = channels(rec, "attitude")
        np.testing.assert_allclose(np.linalg.norm(g, axis=1), 1.0, atol=1e-5)
        # Both are rounded to 6 decimals in the CSV: a few 1e-7 of disagreement.
        np.testing.assert_allclose(g, gravity_from_attitude(att[:, 0], att[:, 1]), atol=5e-6)


def log_vee(R: np.ndarray) -> np.ndarray:
    """Rotation vectors of rotation matrices ``(..., 3, 3)``: vee(log(R))."""
    cos = np.clip((np.trace(R, axis1=-2, axis2=-1) - 1.0) / 2.0, -1.0, 1.0)
    angle = np.arccos(cos)
    skew = np.stack(
        [R[..., 2, 1] - R[..., 1, 2], R[..., 0, 2] - R[..., 2, 0], R[..., 1, 0] - R[..., 0, 1]],
        axis=-1,
    )
    scale = np.where(angle > 1e-9, angle / (2.0 * np.sin(np.maximum(angle, 1e-9))), 0.5)
    return skew * scale[..., None]


def attitude_rate_and_gyro(rec) -> tuple[np.ndarray, np.ndarray]:
    """Body angular velocity implied by consecutive attitudes, and the mean rotationRate."""
    att = channels(rec, "attitude")
    R = attitude_to_matrix(att[:, 0], att[:, 1], att[:, 2])
    omega = log_vee(np.swapaxes(R[:-1], -1, -2) @ R[1:]) * RATE
    gyro = channels(rec, "rotationRate")
    return omega, 0.5 * (gyro[:-1] + gyro[1:])


def test_rotation_rate_matches_attitude_in_the_motion_band(physics: Dataset) -> None:
    walks = [r for r in physics.recordings if r.activity in ("wlk", "jog")]
    assert len(walks) == 3 * 5
    # Both low-passed alike at 4 Hz (gait lives below it), so white sensor noise
    # cannot hide a real disagreement such as a wrong axis, sign, frame or scale.
    sos = butter(4, 4.0, fs=RATE, output="sos")
    for rec in walks:
        omega, gyro = attitude_rate_and_gyro(rec)
        # Regressing the noisy attitude rate on the gyro is unbiased by the
        # attitude's noise: the gain must be 1 on every axis.
        gain = [np.cov(omega[:, i], gyro[:, i])[0, 1] / gyro[:, i].var() for i in range(3)]
        np.testing.assert_allclose(gain, 1.0, atol=0.1, err_msg=rec.source)
        omega, gyro = sosfiltfilt(sos, omega, axis=0), sosfiltfilt(sos, gyro, axis=0)
        for axis in range(3):
            corr = np.corrcoef(omega[:, axis], gyro[:, axis])[0, 1]
            assert corr > 0.9, (rec.source, axis, corr)
        corr = np.corrcoef(omega.ravel(), gyro.ravel())[0, 1]
        assert corr > 0.98, (rec.source, corr)
        error = np.median(np.linalg.norm(omega - gyro, axis=1)) / np.linalg.norm(gyro.std(axis=0))
        assert error < 0.15, (rec.source, error)


def test_rotation_rate_matches_attitude_sample_by_sample(physics: Dataset) -> None:
    for rec in [r for r in physics.recordings if r.activity in ("wlk", "jog")]:
        omega, gyro = attitude_rate_and_gyro(rec)
        for axis in range(3):
            assert np.corrcoef(omega[:, axis], gyro[:, axis])[0, 1] > 0.95, (rec.source, axis)


def mean_gravity(ds: Dataset, activity: str) -> np.ndarray:
    g = np.concatenate([channels(r, "gravity") for r in ds.recordings if r.activity == activity])
    return g.mean(axis=0)


def test_posture_sitting_versus_standing(physics: Dataset) -> None:
    sit, std = mean_gravity(physics, "sit"), mean_gravity(physics, "std")
    # Upside down in the front pocket: standing, the phone's long axis (y)
    # points down the thigh (gravity.y near +1, as in real MotionSense rows);
    # sitting, the thigh and so the long axis are horizontal.
    assert std[1] > 0.8
    assert abs(sit[1]) < 0.5
    cos = sit @ std / (np.linalg.norm(sit) * np.linalg.norm(std))
    assert np.degrees(np.arccos(cos)) > 45


def test_still_postures_barely_move(physics: Dataset) -> None:
    walk = [r for r in physics.recordings if r.activity == "wlk"]
    walk_acc = np.median([np.linalg.norm(channels(r, "userAcc"), axis=1).mean() for r in walk])
    walk_gyro = np.median([np.linalg.norm(channels(r, "rotation"), axis=1).mean() for r in walk])
    for rec in physics.recordings:
        if rec.activity not in ("sit", "std"):
            continue
        acc = np.median(np.linalg.norm(channels(rec, "userAcc"), axis=1))
        gyro = np.median(np.linalg.norm(channels(rec, "rotation"), axis=1))
        assert acc < 0.03 and acc < 0.1 * walk_acc, (rec.source, acc)  # g
        # Some slow heading wander remains (a few deg/s), as with a real seated body.
        assert gyro < 0.25 and gyro < 0.2 * walk_gyro, (rec.source, gyro)  # rad/s


def test_jogging_shakes_more_than_walking(physics: Dataset) -> None:
    for subject in physics.subject_ids:

        def spread(activity: str, subject: str = subject) -> float:
            acc = np.concatenate(
                [channels(r, "userAcc") for r in recordings(physics, subject, activity)]
            )
            return float(np.linalg.norm(acc.std(axis=0)))

        assert spread("jog") > 2.0 * spread("wlk"), subject


def test_step_frequency_is_human_and_faster_when_jogging(physics: Dataset) -> None:
    for subject in physics.subject_ids:
        walk = step_frequency(physics, subject, "wlk")
        jog = step_frequency(physics, subject, "jog")
        assert 1.4 <= walk <= 2.6, (subject, walk)
        assert jog > walk * 1.15, (subject, walk, jog)
        assert jog <= 3.8, (subject, jog)


def test_acceleration_magnitude_peaks_at_the_step_frequency(cohort_dir: Path) -> None:
    # The magnitude of the total acceleration (gravity + userAcceleration, what
    # the raw accelerometer reads), as step counters use: |userAcceleration|
    # alone swings through zero, so its magnitude is rectified and peaks at
    # twice its components' frequencies whatever the gait.
    ds = load_motionsense(cohort_dir)
    off = {}
    for subject in ds.subject_ids:
        mags = [
            np.linalg.norm(channels(r, "userAcc") + channels(r, "gravity"), axis=1)
            for r in recordings(ds, subject, "wlk")
        ]
        peak = dominant_frequency(mags, 0.5, 8.0)
        if not 1.4 <= peak <= 2.6:
            off[subject] = peak
    assert not off, off


def test_taller_users_walk_with_a_lower_cadence(cohort_dir: Path) -> None:
    ds = load_motionsense(cohort_dir)
    assert len(ds.subject_ids) == 24
    cadence = [step_frequency(ds, s, "wlk") for s in ds.subject_ids]
    height = [ds.subjects[s].height for s in ds.subject_ids]
    assert all(1.4 <= c <= 2.6 for c in cadence)
    rho = spearmanr(height, cadence).statistic
    assert rho < -0.3, rho


# ---------------------------------------------------------------------------- other layouts

OTHER = SimConfig(n_users=2, long_s=6.0, short_s=3.0)


@pytest.fixture(scope="module")
def mobifall_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return simulate_layout(tmp_path_factory.mktemp("mf") / "mobifall", "mobifall", OTHER)


def test_mobifall_layout_files_headers_and_quirk(mobifall_dir: Path) -> None:
    files = sorted(str(p.relative_to(mobifall_dir)) for p in mobifall_dir.rglob("*.txt"))
    trials = {"STD": 1, "WAL": 1, "SIT": 1, "JOG": 3, "STU": 3, "STN": 3}
    expected = sorted(
        [f"sub{n}/ADL/{c}/{c}_{s}_{n}_{t}.txt" for n in (1, 2) for c, k in trials.items()
         for t in range(1, k + 1) for s in ("acc", "gyro", "ori")]
        + [f"sub{n}/FALLS/FOL/FOL_{s}_{n}_1.txt" for n in (1, 2) for s in ("acc", "gyro", "ori")]
    )  # fmt: skip
    assert files == expected
    lines = (mobifall_dir / "sub2/ADL/WAL/WAL_acc_2_1.txt").read_text().splitlines()
    assert lines[:2] == ["#Acceleration force along the x y z axes (including gravity).",
                         "#timestamp(ns),x,y,z(m/s^2)"]  # fmt: skip
    assert "#Subject ID: 2" in lines and "#Age: 28" in lines and "#Gender: Male" in lines
    rows = np.array([r.split(",") for r in lines[lines.index("@DATA") + 1 :]], dtype=float)
    steps = np.diff(rows[:, 0]) / 1e9
    assert (steps > 0).all() and 70 < 1 / steps.mean() < 100  # irregular, about 87 Hz
    # Android's accelerometer: the specific force, about 1 g of it in m/s^2.
    assert 8.5 < np.median(np.linalg.norm(rows[:, 1:], axis=1)) < 11.5
    # Subject 1's header quirk: 0 in its JOG files, empty in its SIT files, real elsewhere.
    assert "#Age: 0" in (mobifall_dir / "sub1/ADL/JOG/JOG_gyro_1_2.txt").read_text()
    assert "#Weight(kg): \n" in (mobifall_dir / "sub1/ADL/SIT/SIT_acc_1_1.txt").read_text()
    assert "#Age: 46" in (mobifall_dir / "sub1/ADL/WAL/WAL_ori_1_1.txt").read_text()
    assert "#Age: 0" not in (mobifall_dir / "sub2/ADL/JOG/JOG_acc_2_1.txt").read_text()


def test_wisdm_layout_lines(tmp_path: Path) -> None:
    root = simulate_layout(tmp_path / "w", "wisdm", OTHER) / "wisdm-dataset"
    assert (root / "activity_key.txt").read_text().splitlines()[:2] == ["walking = A",
                                                                         "jogging = B"]  # fmt: skip
    files = sorted(str(p.relative_to(root)) for p in root.rglob("data_*.txt"))
    assert files == [f"raw/phone/{s}/data_{n}_{s}_phone.txt" for s in ("accel", "gyro")
                     for n in (1600, 1601)]  # fmt: skip
    lines = (root / "raw/phone/accel/data_1600_accel_phone.txt").read_text().splitlines()
    assert all(
        re.fullmatch(r"1600,[A-E],\d+,[-+.\deE]+,[-+.\deE]+,[-+.\deE]+;", ln) for ln in lines
    )
    codes = [ln.split(",")[1] for ln in lines]
    assert list(dict.fromkeys(codes)) == ["A", "B", "C", "D", "E"]  # in blocks, in order
    stamps = np.array([int(ln.split(",")[2]) for ln in lines])
    assert (np.diff(stamps) > 0).all()
    assert 18 < 1e9 / np.median(np.diff(stamps)) < 22  # about 20 Hz


def test_layouts_are_deterministic_and_atomic(tmp_path: Path, mobifall_dir: Path) -> None:
    assert tree(simulate_layout(tmp_path / "again", "mobifall", OTHER)) == tree(mobifall_dir)
    with pytest.raises(FileExistsError, match="already exists"):
        simulate_layout(mobifall_dir, "mobifall", OTHER)
    with pytest.raises(ValueError, match="layout must be one of"):
        simulate_layout(tmp_path / "x", "hdf5", OTHER)
    meta = json.loads((mobifall_dir / "simulation.json").read_text())
    assert meta["format"] == "mobifall" and meta["config"]["n_users"] == 2
