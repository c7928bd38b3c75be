"""Channel selection: exact names, globs, magnitudes, presets and their errors."""

from __future__ import annotations

import numpy as np
import pytest

from jaxpriv.data.channels import (
    CHANNEL_PRESETS,
    DYSAN_CHANNELS,
    MSDA_CHANNELS,
    resolve_channel_spec,
    select_channels,
)
from jaxpriv.data.dataset import DataFormatError, Dataset, Recording, Subject

MOTIONSENSE_CHANNELS = (
    "attitude.roll",
    "attitude.pitch",
    "attitude.yaw",
    "gravity.x",
    "gravity.y",
    "gravity.z",
    "rotationRate.x",
    "rotationRate.y",
    "rotationRate.z",
    "userAcceleration.x",
    "userAcceleration.y",
    "userAcceleration.z",
)
MOBIACT_CHANNELS = ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z")


def make_ds(channels: tuple[str, ...], data: np.ndarray) -> Dataset:
    rec = Recording(subject="1", activity="wlk", trial="7", data=data, source="sub_1.csv")
    return Dataset(
        recordings=(rec, Recording("2", "jog", "9", data[::-1].copy())),
        channels=channels,
        rate_hz=50.0,
        subjects={"1": Subject(gender=1)},
    )


@pytest.fixture
def motionsense() -> Dataset:
    # Column j holds 100 * j + t, so every selected column is identifiable.
    data = 100.0 * np.arange(12)[None, :] + np.arange(5)[:, None]
    return make_ds(MOTIONSENSE_CHANNELS, data.astype(np.float32))


def test_dysan_preset_selects_rotation_then_acceleration(motionsense: Dataset) -> None:
    out = select_channels(motionsense, DYSAN_CHANNELS)
    expected = MOTIONSENSE_CHANNELS[6:12]
    assert out.channels == expected
    for rec_in, rec_out in zip(motionsense.recordings, out.recordings, strict=True):
        np.testing.assert_array_equal(rec_out.data, rec_in.data[:, 6:12])
        assert rec_out.data.dtype == np.float32
        assert (rec_out.subject, rec_out.activity, rec_out.source) == (
            rec_in.subject,
            rec_in.activity,
            rec_in.source,
        )
    assert out.rate_hz == 50.0 and out.subjects == motionsense.subjects


def test_exact_names_keep_requested_order(motionsense: Dataset) -> None:
    out = select_channels(motionsense, ["gravity.z", "attitude.roll"])
    assert out.channels == ("gravity.z", "attitude.roll")
    np.testing.assert_array_equal(out.recordings[0].data, motionsense.recordings[0].data[:, [5, 0]])


def test_glob_follows_dataset_order_and_all_preset(motionsense: Dataset) -> None:
    assert select_channels(motionsense, ["*.z"]).channels == (
        "gravity.z",
        "rotationRate.z",
        "userAcceleration.z",
    )
    assert select_channels(motionsense, "all").channels == MOTIONSENSE_CHANNELS


def test_msda_magnitudes_match_hand_computed_norms() -> None:
    data = np.zeros((2, 12))
    data[0, 6:9] = (3.0, 4.0, 0.0)  # |rotationRate| = 5
    data[0, 9:12] = (1.0, 0.0, 2.0)  # userAcceleration
    data[0, 3:6] = (0.0, 2.0, 0.0)  # + gravity = (1, 2, 2): norm 3
    data[1, 6:9] = (-1.0, -2.0, 2.0)  # 3
    data[1, 9:12] = (0.5, 0.5, 0.5)
    data[1, 3:6] = (-0.5, -0.5, 0.5)  # sum (0, 0, 1): norm 1
    out = select_channels(make_ds(MOTIONSENSE_CHANNELS, data), MSDA_CHANNELS)
    assert out.channels == ("|rotationRate|", "|userAcceleration+gravity|")
    np.testing.assert_allclose(out.recordings[0].data, [[5.0, 3.0], [3.0, 1.0]])


def test_mobiact_underscore_groups() -> None:
    data = np.array([[3.0, 0.0, 4.0, 1.0, 2.0, 2.0]])
    out = select_channels(make_ds(MOBIACT_CHANNELS, data), ["|acc|", "|gyro|", "acc_x"])
    assert out.channels == ("|acc|", "|gyro|", "acc_x")
    np.testing.assert_allclose(out.recordings[0].data, [[5.0, 3.0, 3.0]])


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        (["rotationRate.w"], "unknown channel 'rotationRate.w'"),
        (["magnet.*"], "matches nothing"),
        (["|attitude|"], "needs channels attitude.x"),
        (["|gravity+magnet|"], "needs channels magnet.x"),
    ],
)
def test_bad_items_list_available_channels(motionsense: Dataset, spec, fragment: str) -> None:
    with pytest.raises(DataFormatError, match="available") as err:
        select_channels(motionsense, spec)
    assert fragment in str(err.value)
    assert "userAcceleration.z" in str(err.value)


def test_duplicate_channels_are_rejected(motionsense: Dataset) -> None:
    with pytest.raises(DataFormatError, match=r"selects \[.gravity\.x.\] more than once"):
        select_channels(motionsense, ["gravity.*", "gravity.x"])


def test_resolve_channel_spec() -> None:
    assert resolve_channel_spec("msda") == MSDA_CHANNELS
    assert resolve_channel_spec("dysan") == CHANNEL_PRESETS["dysan"] == DYSAN_CHANNELS
    assert resolve_channel_spec("gravity.*, |acc|") == ("gravity.*", "|acc|")
    assert resolve_channel_spec(["a", "b"]) == ("a", "b")
    with pytest.raises(ValueError, match="empty channel spec"):
        resolve_channel_spec(" , ")
