"""WISDM 2019 raw loader on small files written in the real layout and line format."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from jaxpriv.data.dataset import DataFormatError, Subject
from jaxpriv.data.wisdm import load_wisdm

T0_NS = 252_207_666_810_782  # the README's first sample
FREQS = {"acc": (0.3, 0.5, 0.7), "gyro": (0.4, 0.6, 0.2)}
OFFSETS = {"acc": (0.0, 9.0, 1.0), "gyro": (0.0, 0.0, 0.0)}
BLOCKS = (("A", 0.0, 12.0), ("D", 12.5, 24.0))  # walking, then sitting, seconds


def signal(sensor: str, t: np.ndarray, scale: float = 1.0) -> np.ndarray:
    return scale * np.column_stack(
        [o + np.sin(2 * np.pi * f * t + k) for k, (f, o) in enumerate(
            zip(FREQS[sensor], OFFSETS[sensor], strict=True))]
    )  # fmt: skip


def write_file(
    root: Path,
    subject: str,
    sensor: str,
    device: str = "phone",
    *,
    blocks=BLOCKS,
    start: float = 0.0,
    seed: int = 0,
    scale: float = 1.0,
    edit=None,
) -> Path:
    """``raw/<device>/<accel|gyro>/data_<subject>_<sensor>_<device>.txt``, ~20 Hz, jittered."""
    rng = np.random.default_rng(seed)
    lines = []
    for code, lo, hi in blocks:
        t = np.cumsum(rng.uniform(1 / 22, 1 / 18, size=int((hi - lo) * 22))) + lo + start
        t = t[t < hi]
        for ti, (x, y, z) in zip(t, signal(sensor, t, scale), strict=True):
            lines.append(f"{subject},{code},{T0_NS + round(ti * 1e9)},{x:.7f},{y:.7f},{z:.7f};")
    if edit is not None:
        edit(lines)
    name = {"acc": "accel", "gyro": "gyro"}[sensor]
    folder = root / "wisdm-dataset" / "raw" / device / name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"data_{subject}_{name}_{device}.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def write_subject(root: Path, subject: str = "1600", **kw) -> list[Path]:
    return [
        write_file(root, subject, "acc", seed=1, **kw),
        write_file(root, subject, "gyro", seed=2, start=0.3, **kw),
    ]


def test_phone_accel_and_gyro_join_on_one_time_base(tmp_path: Path) -> None:
    write_subject(tmp_path, "1600")
    write_subject(tmp_path, "1601")
    ds = load_wisdm(tmp_path)
    assert ds.channels == ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z")
    assert ds.units == {**{f"acc_{a}": "m/s^2" for a in "xyz"},
                        **{f"gyro_{a}": "rad/s" for a in "xyz"}}  # fmt: skip
    assert ds.rate_hz == 20.0
    assert [(r.subject, r.activity, r.trial, r.segment) for r in ds.recordings] == [
        (s, a, "1", 0) for s in ("1600", "1601") for a in ("walking", "sitting")
    ]
    assert ds.subjects == {"1600": Subject(), "1601": Subject()}
    assert any("no subjects table" in n for n in ds.notes)
    assert ds.description["kind"] == "wisdm" and ds.description["device"] == "phone"
    walking = ds.recordings[0]
    # The gyro starts 0.3 s later: the recording starts at its first sample, on one grid.
    _, gyro = write_subject(tmp_path / "again", "1600")
    start = (int(gyro.read_text().split(",", 3)[2]) - T0_NS) / 1e9
    assert 0.3 < start < 0.4
    grid = start + np.arange(walking.num_samples) / 20.0
    assert grid[-1] <= 12.0
    np.testing.assert_allclose(walking.data[5:-5, :3], signal("acc", grid)[5:-5], atol=0.03)
    np.testing.assert_allclose(walking.data[5:-5, 3:], signal("gyro", grid)[5:-5], atol=0.03)


def test_semicolons_are_optional_and_blank_lines_skipped(tmp_path: Path) -> None:
    def edit(lines):
        lines[3] = lines[3].rstrip(";")
        lines.insert(10, "")

    write_file(tmp_path, "1600", "acc", edit=edit)
    ds = load_wisdm(tmp_path, sensors=("accel",), rate_hz=10.0)
    assert ds.channels == ("acc_x", "acc_y", "acc_z") and ds.rate_hz == 10.0
    assert [r.activity for r in ds.recordings] == ["walking", "sitting"]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("1600,A,252207666810782,-0.36,8.79;", r"line 6: 5 comma-separated field\(s\), expected 6"),
        ("1600,A,252207666810782,-0.36,8.79,1.05,7;", r"line 6: 7 comma-separated field"),
        ("1600,N,252207666810782,-0.36,8.79,1.05;", r"line 6, field 'activity code': unknown"),
        ("1601,A,252207666810782,-0.36,8.79,1.05;", r"line 6, field 'subject': '1601' but the"),
        ("1600,A,252207666810782,-0.36,eight,1.05;", r"line 6, column 'y': 'eight' is not a"),
    ],
)
def test_malformed_lines_name_file_line_and_field(tmp_path: Path, bad: str, message: str) -> None:
    def edit(lines):
        lines[5] = bad

    path = write_file(tmp_path, "1600", "acc", edit=edit)
    with pytest.raises(DataFormatError, match=re.escape(str(path)) + ": " + message):
        load_wisdm(tmp_path, sensors="acc")


def test_timestamps_going_back_name_the_line(tmp_path: Path) -> None:
    def edit(lines):
        lines[7], lines[8] = lines[8], lines[7]

    write_file(tmp_path, "1600", "acc", edit=edit)
    with pytest.raises(DataFormatError, match=r"data_1600_accel_phone\.txt: line 9: .*increase"):
        load_wisdm(tmp_path, sensors="acc")


def test_missing_sensor_file_names_it_and_the_option(tmp_path: Path) -> None:
    write_subject(tmp_path, "1600")
    write_file(tmp_path, "1601", "acc")
    with pytest.raises(DataFormatError) as info:
        load_wisdm(tmp_path)
    message = str(info.value)
    assert "raw/phone/gyro/data_1601_gyro_phone.txt: missing" in message
    assert "sensors=acc" in message
    assert load_wisdm(tmp_path, sensors=("acc",)).subject_ids == ("1600", "1601")


def test_device_option_and_a_device_without_files(tmp_path: Path) -> None:
    write_file(tmp_path, "1600", "acc", device="watch")
    with pytest.raises(DataFormatError, match=r"no WISDM phone files; .*device=watch"):
        load_wisdm(tmp_path, sensors="acc")
    ds = load_wisdm(tmp_path, device="watch", sensors="acc")
    assert ds.description["device"] == "watch" and ds.channels == ("acc_x", "acc_y", "acc_z")


def test_file_in_the_wrong_folder_is_an_error(tmp_path: Path) -> None:
    path = write_file(tmp_path, "1600", "acc")
    wrong = path.parent.parent / "gyro" / path.name
    wrong.parent.mkdir()
    path.rename(wrong)
    with pytest.raises(
        DataFormatError, match=r"name says accel phone, but the file lies in a folder named 'gyro'"
    ):
        load_wisdm(tmp_path, sensors="acc")


def test_a_gap_cuts_the_recording_with_a_note(tmp_path: Path) -> None:
    blocks = (("A", 0.0, 6.0), ("A", 9.0, 15.0))  # 3 s without samples
    write_file(tmp_path, "1600", "acc", blocks=blocks)
    ds = load_wisdm(tmp_path, sensors="acc")
    assert [(r.activity, r.segment) for r in ds.recordings] == [("walking", 0), ("walking", 1)]
    assert any("s without samples (more than max_gap_s=1)" in n for n in ds.notes)
    joined = load_wisdm(tmp_path, sensors="acc", max_gap_s=5.0)
    assert len(joined.recordings) == 1


def test_accelerometer_in_g_is_read_as_g_and_mixed_units_are_an_error(tmp_path: Path) -> None:
    write_file(tmp_path, "1600", "acc", scale=1 / 9.80665)
    ds = load_wisdm(tmp_path, sensors="acc")
    assert ds.units["acc_x"] == "g"
    assert any("so they are in g" in n for n in ds.notes)
    write_file(tmp_path, "1601", "acc")
    with pytest.raises(DataFormatError) as info:
        load_wisdm(tmp_path, sensors="acc")
    message = str(info.value)
    assert "data_1601_accel_phone.txt: field 'x,y,z'" in message
    assert "data_1600_accel_phone.txt" in message and "mixed units" in message
    assert "sensors=gyro" in message


def test_no_files_and_allowed_activities(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="no WISDM raw files found"):
        load_wisdm(tmp_path)
    write_file(tmp_path, "1600", "acc")
    with pytest.raises(DataFormatError, match=r"activity 'sitting' \(D\) is not allowed"):
        load_wisdm(tmp_path, sensors="acc", activities=["walking"])
