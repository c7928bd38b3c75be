"""Dataset profiles: MotionSense's channels from Android raw sensors, units, presets."""

from __future__ import annotations

import numpy as np
import pytest

from jaxpriv.data.channels import select_channels
from jaxpriv.data.dataset import DataFormatError, Dataset, Recording
from jaxpriv.data.profiles import apply_profile, describe_profile, reapply_profile
from jaxpriv.data.simulator.gait import sample_user_traits, simulate_recording
from jaxpriv.data.simulator.population import make_population
from jaxpriv.data.units import STANDARD_GRAVITY, to_task_units

RATE = 50.0
ACC = ("acc_x", "acc_y", "acc_z")
GYRO = ("gyro_x", "gyro_y", "gyro_z")


def simulate(activity: str) -> np.ndarray:
    """A simulated recording in MotionSense's columns (attitude, gravity, rotationRate,
    userAcceleration)."""
    traits = sample_user_traits(make_population(1, 0)["1"], np.random.default_rng(0))
    return simulate_recording(traits, activity, 30.0, np.random.default_rng(1), RATE)


@pytest.fixture(scope="module")
def truth() -> np.ndarray:
    return simulate("wlk")


def android(truth: np.ndarray, *, gyro_unit: str = "rad/s", gyro: bool = True) -> Dataset:
    """What an Android phone records for ``truth``: +specific force in m/s^2, the gyro."""
    acc = -(truth[:, 3:6] + truth[:, 9:12]) * STANDARD_GRAVITY
    rate = truth[:, 6:9] * (180 / np.pi if gyro_unit == "deg/s" else 1.0)
    data = np.concatenate([acc, rate], axis=1) if gyro else acc
    channels = ACC + GYRO if gyro else ACC
    units = {c: "m/s^2" for c in ACC} | ({c: gyro_unit for c in GYRO} if gyro else {})
    return Dataset(
        recordings=(Recording("1", "WAL", "1", data),),
        channels=channels,
        rate_hz=RATE,
        subjects={},
        description={"kind": "mobiact", "name": "phone"},
        units=units,
    )


def test_motionsense_profile_recovers_core_motions_channels(truth: np.ndarray) -> None:
    ds = apply_profile(android(truth, gyro_unit="deg/s"))
    assert ds.channels == (
        *(f"gravity.{a}" for a in "xyz"),
        *(f"rotationRate.{a}" for a in "xyz"),
        *(f"userAcceleration.{a}" for a in "xyz"),
    )
    assert set(ds.units.values()) == {"g", "rad/s"}
    assert ds.units["rotationRate.x"] == "rad/s" and ds.units["gravity.y"] == "g"
    out = ds.recordings[0].data
    inner = slice(100, -100)  # away from the filter's edges
    np.testing.assert_allclose(out[:, 3:6], truth[:, 6:9], atol=1e-9)  # deg/s -> rad/s
    np.testing.assert_allclose(out[:, 0:3] + out[:, 6:9], truth[:, 3:6] + truth[:, 9:12])
    # Walking: the low-pass gives gravity's mean (with Core Motion's sign, not minus it);
    # the thigh's swing of the gravity vector within a stride goes to userAcceleration.
    np.testing.assert_allclose(out[inner, 0:3].mean(0), truth[inner, 3:6].mean(0), atol=0.1)
    assert np.corrcoef(out[inner, 7], truth[inner, 10])[0, 1] > 0.9  # the vertical bounce
    # Standing still, the estimate is Core Motion's gravity and userAcceleration.
    still = simulate("std")
    out = apply_profile(android(still)).recordings[0].data
    assert np.abs(out[inner, 0:3] - still[inner, 3:6]).max() < 0.03
    assert np.abs(out[inner, 6:9] - still[inner, 9:12]).max() < 0.05


def test_dysan_and_msda_presets_can_be_formed(truth: np.ndarray) -> None:
    ds = apply_profile(android(truth))
    dysan = select_channels(ds, "dysan")
    assert len(dysan.channels) == 6
    assert dysan.units == {**{f"rotationRate.{a}": "rad/s" for a in "xyz"},
                           **{f"userAcceleration.{a}": "g" for a in "xyz"}}  # fmt: skip
    msda = select_channels(ds, "msda")
    assert msda.channels == ("|rotationRate|", "|userAcceleration+gravity|")
    assert msda.units == {"|rotationRate|": "rad/s", "|userAcceleration+gravity|": "g"}
    total_g = np.linalg.norm(truth[:, 3:6] + truth[:, 9:12], axis=1)
    np.testing.assert_allclose(msda.recordings[0].data[:, 1], total_g, rtol=1e-6)


def test_accelerometer_only_gives_gravity_and_user_acceleration(truth: np.ndarray) -> None:
    ds = apply_profile(android(truth, gyro=False))
    assert ds.channels == (*(f"gravity.{a}" for a in "xyz"),
                           *(f"userAcceleration.{a}" for a in "xyz"))  # fmt: skip
    assert "rotationRate.*" not in ds.description["profile"]["channels"]
    with pytest.raises(DataFormatError, match="rotationRate"):
        select_channels(ds, "dysan")


def test_the_profile_is_recorded_and_reapplied_identically(truth: np.ndarray) -> None:
    raw = android(truth)
    ds = apply_profile(raw, cutoff_hz=0.5, order=3)
    record = ds.description["profile"]
    assert record["gravity_filter"]["order"] == 3 and record["gravity_filter"]["cutoff_hz"] == 0.5
    assert record["accelerometer_sign"] == -1.0 and record["platform"] == "android"
    assert record["units_converted"]["acc_x"] == "m/s^2 -> g"
    assert record["activity_map"]["STU"] == "ups"
    again = reapply_profile(raw, record)
    np.testing.assert_array_equal(again.recordings[0].data, ds.recordings[0].data)
    text = describe_profile(record)
    assert "order 3" in text and "0.5 Hz" in text and "zero-phase" in text
    # A different cut-off gives a different gravity estimate.
    other = apply_profile(raw).recordings[0].data
    assert not np.allclose(other[:, :3], ds.recordings[0].data[:, :3])


def test_raw_profile_converts_units_only(truth: np.ndarray) -> None:
    raw = android(truth, gyro_unit="deg/s")
    ds = apply_profile(raw, "raw")
    assert ds.channels == ACC + GYRO
    assert ds.units == {**{c: "g" for c in ACC}, **{c: "rad/s" for c in GYRO}}
    np.testing.assert_allclose(ds.recordings[0].data[:, :3],
                               raw.recordings[0].data[:, :3] / STANDARD_GRAVITY)  # fmt: skip
    assert "units converted" in describe_profile(ds.description["profile"])


def test_profile_errors_name_the_problem(truth: np.ndarray) -> None:
    raw = android(truth)
    with pytest.raises(ValueError, match="profile 'fancy'"):
        apply_profile(raw, "fancy")
    native = raw.replace(description={"kind": "motionsense", "name": "ms"})
    with pytest.raises(DataFormatError, match="no profile for a motionsense dataset"):
        apply_profile(native)
    renamed = raw.replace(channels=("a", "b", "c", *GYRO), units={})
    with pytest.raises(DataFormatError, match=r"needs channels .*profile=raw"):
        apply_profile(renamed)
    with pytest.raises(ValueError, match="cutoff_hz"):
        apply_profile(raw, cutoff_hz=30.0)


def test_units_conversion_and_mixed_magnitudes(truth: np.ndarray) -> None:
    ds, done = to_task_units(android(truth, gyro_unit="deg/s"))
    assert done["gyro_x"] == "deg/s -> rad/s" and done["acc_z"] == "m/s^2 -> g"
    with pytest.raises(DataFormatError, match="different units"):
        select_channels(ds, ["|acc+gyro|"])
    unknown = select_channels(ds.replace(units={}), ["|acc|"])
    assert unknown.units == {}
