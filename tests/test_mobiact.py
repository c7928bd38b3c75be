"""MobiAct / MobiFall loaders on small files written in the real formats."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from jaxpriv.data.dataset import DataFormatError, Subject
from jaxpriv.data.mobiact import ANNOTATED_COLUMNS
from jaxpriv.data.mobiact_annotated import load_mobiact_annotated
from jaxpriv.data.mobiact_raw import load_mobiact_raw
from jaxpriv.data.resampling import resample_to_rate

T0_NS = 5_425_926_036_000  # a real-looking device clock start
HEADER_LINES = 9  # 8 '#' lines and '@DATA' in the files written below
FEMALE = {"Age": "26", "Height(cm)": "164", "Weight(kg)": "55", "Gender": "Female"}
MALE = {"Age": "32", "Height(cm)": "180", "Weight(kg)": "85", "Gender": "Male"}

# Slow, smooth test signals (well below the 25 Hz Nyquist frequency of 50 Hz).
FREQS = {"acc": (0.5, 1.0, 1.5), "gyro": (0.7, 1.2, 0.9), "ori": (0.3, 0.4, 0.6)}
OFFSETS = {"acc": (0.0, 9.81, 0.0), "gyro": (0.0, 0.0, 0.0), "ori": (180.0, 0.0, 0.0)}
STEPS = {"acc": (1 / 100, 1 / 85), "gyro": (1 / 220, 1 / 180), "ori": (1 / 100, 1 / 85)}
# The first two header lines of each sensor's real files (MobiFall v2.0).
SENSOR_LINES = {
    "acc": ("#Acceleration force along the x y z axes (including gravity).",
            "#timestamp(ns),x,y,z(m/s^2)"),
    "gyro": ("#Rate of rotation around the x y z axes (Angular velocity).",
             "#timestamp(ns),x,y,z(rad/s)"),
    "ori": ("#Angle around the z x y axes.", "#timestamp(ns), Azimuth , Pitch, Roll(degrees)"),
}  # fmt: skip


def signal(sensor: str, t: np.ndarray) -> np.ndarray:
    """The analytic signal written for ``sensor``: (len(t), 3)."""
    return np.column_stack(
        [
            off + np.sin(2 * np.pi * f * t + k)
            for k, (f, off) in enumerate(zip(FREQS[sensor], OFFSETS[sensor], strict=True))
        ]
    )


def irregular_times(sensor: str, start: float, stop: float, seed: int) -> np.ndarray:
    """Irregular sample times from start to exactly stop, with the sensor's jittery steps."""
    rng = np.random.default_rng(seed)
    lo, hi = STEPS[sensor]
    steps = rng.uniform(lo, hi, size=int((stop - start) / lo) + 10)
    t = start + np.concatenate([[0.0], np.cumsum(steps)])
    t = t[t < stop - lo / 2]
    return np.append(t, stop)


def write_raw(
    root: Path,
    rel_dir: str,
    code: str,
    sensor: str,
    subject: str = "3",
    trial: str = "1",
    *,
    span: tuple[float, float] = (0.0, 10.0),
    attrs: dict[str, str] = FEMALE,
    seed: int = 0,
    header_subject: str | None = None,
) -> Path:
    """Write one raw file ``<CODE>_<sensor>_<subject>_<trial>.txt`` under root/rel_dir."""
    t = irregular_times(sensor, *span, seed=seed)
    values = signal(sensor, t)
    lines = [
        *SENSOR_LINES[sensor],
        f"#Activity: 2 - {code} - Walking normal - 300s",
        f"#Subject ID: {header_subject or subject}",
        *(f"#{k}: {v}" for k, v in attrs.items()),
        "@DATA",
    ]
    assert len(lines) == HEADER_LINES
    lines += [
        f"{T0_NS + round(ti * 1e9)}, {x:.8f}, {y:.8f}, {z:.8f}"
        for ti, (x, y, z) in zip(t, values, strict=True)
    ]
    folder = root / rel_dir
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{code}_{sensor}_{subject}_{trial}.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def write_pair(root: Path, rel_dir: str, code: str, subject: str = "3", trial: str = "1", **kw):
    """acc and gyro files of one recording."""
    return [
        write_raw(root, rel_dir, code, s, subject, trial, seed=i, **kw)
        for i, s in enumerate(("acc", "gyro"))
    ]


def edit_data_row(path: Path, index: int, new_row: str) -> int:
    """Replace data row ``index`` (0-based) and return its 1-based file line."""
    lines = path.read_text().splitlines()
    lines[HEADER_LINES + index] = new_row
    path.write_text("\n".join(lines) + "\n")
    return HEADER_LINES + index + 1


def expected(sensors: tuple[str, ...], t: np.ndarray) -> np.ndarray:
    return np.concatenate([signal(s, t) for s in sensors], axis=1)


# ---------------------------------------------------------------------------- resampling


def test_resample_to_rate_removes_content_above_nyquist_instead_of_aliasing():
    rng = np.random.default_rng(1)
    t = np.cumsum(rng.uniform(1 / 220, 1 / 180, size=2000))
    slow = np.sin(2 * np.pi * 2 * t)
    values = (slow + np.sin(2 * np.pi * 40 * t))[:, None]  # 40 Hz aliases to 10 Hz at 50 Hz
    out = resample_to_rate(t, values, 50.0)
    grid = t[0] + np.arange(len(out)) / 50.0
    assert out.shape[1] == 1 and abs(len(out) - (t[-1] - t[0]) * 50) <= 1
    inner = slice(10, -10)
    np.testing.assert_allclose(out[inner, 0], np.sin(2 * np.pi * 2 * grid[inner]), atol=0.05)
    naive = np.interp(grid, t, values[:, 0])
    assert np.abs(naive - np.sin(2 * np.pi * 2 * grid)).max() > 0.5  # what plain interp gets


def test_resample_to_rate_keeps_the_edges_of_an_offset_signal():
    t = np.linspace(0.0, 2.0, 401)
    values = np.full((401, 1), 9.81)  # gravity: zero padding would make the ends droop
    out = resample_to_rate(t, values, 50.0)
    assert out.shape == (100, 1)
    np.testing.assert_allclose(out, 9.81, atol=1e-6)


def test_resample_to_rate_span_shorter_than_one_sample_is_empty():
    out = resample_to_rate(np.array([0.0, 0.001]), np.ones((2, 3)), 50.0)
    assert out.shape == (0, 3)


# ---------------------------------------------------------------------------- raw files


def test_mobiact_flat_layout_loads_recordings_attributes_and_values(tmp_path):
    write_pair(tmp_path, "WAL", "WAL")
    write_pair(tmp_path, "JOG", "JOG", trial="2")
    ds = load_mobiact_raw(tmp_path)

    assert ds.channels == ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z")
    assert ds.rate_hz == 50.0
    assert [(r.activity, r.subject, r.trial, r.segment) for r in ds.recordings] == [
        ("JOG", "3", "2", 0),
        ("WAL", "3", "1", 0),
    ]
    assert ds.subjects == {"3": Subject(gender=0, age=26.0, height=164.0, weight=55.0)}
    assert ds.notes == ()
    assert ds.description["kind"] == "mobiact"
    assert ds.description["sensors"] == ["acc", "gyro"]
    assert ds.description["name"] == tmp_path.name
    for rec in ds.recordings:
        # 0-10 s at 50 Hz: the 200 Hz fine grid holds 2001 points -> 500 whole samples.
        assert rec.data.shape == (500, 6)
        t = np.arange(500) / 50.0
        np.testing.assert_allclose(
            rec.data[10:-10], expected(("acc", "gyro"), t)[10:-10], atol=0.02
        )
    assert "WAL_acc_3_1.txt" in ds.recordings[1].source


def test_mobifall_nested_layout_is_found_and_other_files_ignored(tmp_path):
    write_pair(tmp_path, "sub3/ADL/WAL", "WAL")
    write_pair(tmp_path, "sub3/FALLS/FOL", "FOL")
    write_pair(tmp_path, "sub12/ADL/STD", "STD", subject="12", attrs=MALE)
    (tmp_path / "README.txt").write_text("MobiFall dataset v2\n")
    (tmp_path / "sub3" / "WAL_acc_3_1.csv").write_text("not a raw file\n")
    (tmp_path / "sub3" / "wal_acc_3_1.txt").write_text("lower-case code: not a raw file\n")

    ds = load_mobiact_raw(tmp_path)
    assert ds.description["layout"] == "mobifall"
    # Falls are left out by default, and the notes say so and how to keep them.
    assert [(r.subject, r.activity) for r in ds.recordings] == [("3", "WAL"), ("12", "STD")]
    (note,) = [n for n in ds.notes if "fall" in n]
    assert "left out 1 fall recording(s): FOL (1)" in note and "falls=1" in note
    assert ds.subject_ids == ("3", "12")
    assert ds.subjects["12"] == Subject(gender=1, age=32.0, height=180.0, weight=85.0)
    assert ds.subjects["3"].gender == 0
    with_falls = load_mobiact_raw(tmp_path, falls=True)
    assert [(r.subject, r.activity) for r in with_falls.recordings] == [
        ("3", "FOL"),
        ("3", "WAL"),
        ("12", "STD"),
    ]
    assert with_falls.description["falls"] is True
    assert not [n for n in with_falls.notes if "fall" in n]


def test_recording_covers_only_the_span_all_sensors_share(tmp_path):
    write_raw(tmp_path, "WAL", "WAL", "acc", span=(0.0, 10.0), seed=0)
    write_raw(tmp_path, "WAL", "WAL", "gyro", span=(1.0, 9.0), seed=1)
    (rec,) = load_mobiact_raw(tmp_path).recordings
    assert rec.num_samples == 400  # 8 s at 50 Hz
    t = 1.0 + np.arange(400) / 50.0  # starts where the later sensor starts
    np.testing.assert_allclose(rec.data[10:-10], expected(("acc", "gyro"), t)[10:-10], atol=0.02)


def test_sensors_choose_and_order_the_channels(tmp_path):
    for i, s in enumerate(("acc", "gyro", "ori")):
        write_raw(tmp_path, "WAL", "WAL", s, seed=i)
    ds = load_mobiact_raw(tmp_path, sensors=("ori", "acc"), rate_hz=25.0)
    assert ds.channels == ("azimuth", "pitch", "roll", "acc_x", "acc_y", "acc_z")
    assert ds.rate_hz == 25.0
    (rec,) = ds.recordings
    assert rec.num_samples == 250
    t = np.arange(250) / 25.0
    np.testing.assert_allclose(rec.data[5:-5], expected(("ori", "acc"), t)[5:-5], atol=0.02)


def test_unknown_sensor_name_is_rejected(tmp_path):
    write_pair(tmp_path, "WAL", "WAL")
    with pytest.raises(ValueError, match="'mag'"):
        load_mobiact_raw(tmp_path, sensors=("acc", "mag"))


def test_group_missing_a_sensor_is_skipped_with_a_note(tmp_path):
    write_pair(tmp_path, "WAL", "WAL")
    write_raw(tmp_path, "JOG", "JOG", "acc")
    ds = load_mobiact_raw(tmp_path)
    assert [r.activity for r in ds.recordings] == ["WAL"]
    (note,) = ds.notes
    assert "skipped JOG subject 3 trial 1" in note
    assert "no gyro file" in note
    assert "JOG_acc_3_1.txt" in note


def test_no_complete_group_is_an_error(tmp_path):
    write_raw(tmp_path, "WAL", "WAL", "acc")
    with pytest.raises(
        DataFormatError, match=r"no recording has files for all .*no gyro file.*sensors=acc\)"
    ):
        load_mobiact_raw(tmp_path)


def test_empty_folder_is_an_error_naming_folder_and_pattern(tmp_path):
    empty = tmp_path / "mobiact_empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("nothing here\n")
    with pytest.raises(DataFormatError, match=r"mobiact_empty.*<CODE>_<sensor>_<subject>_<trial>"):
        load_mobiact_raw(empty)
    with pytest.raises(DataFormatError, match="not a folder"):
        load_mobiact_raw(tmp_path / "missing")


def test_missing_data_line_is_an_error_naming_the_file(tmp_path):
    acc, _ = write_pair(tmp_path, "WAL", "WAL")
    acc.write_text(acc.read_text().replace("@DATA\n", ""))
    with pytest.raises(DataFormatError, match=r"WAL_acc_3_1\.txt: no '@DATA' line"):
        load_mobiact_raw(tmp_path)


def test_non_numeric_value_names_file_line_and_column(tmp_path):
    _, gyro = write_pair(tmp_path, "WAL", "WAL")
    line = edit_data_row(gyro, 40, f"{T0_NS + 200_000_000}, 0.1, abc, 0.3")
    with pytest.raises(
        DataFormatError, match=rf"WAL_gyro_3_1\.txt: line {line}, column 'y': 'abc' is not a number"
    ):
        load_mobiact_raw(tmp_path)


def test_row_with_too_many_values_names_file_and_line(tmp_path):
    acc, _ = write_pair(tmp_path, "WAL", "WAL")
    line = edit_data_row(acc, 5, f"{T0_NS + 55_000_000}, 0.1, 0.2, 0.3, 0.4")
    with pytest.raises(DataFormatError, match=rf"WAL_acc_3_1\.txt: line {line} has 5 values"):
        load_mobiact_raw(tmp_path)


def test_non_monotonic_timestamps_name_file_and_line(tmp_path):
    acc, _ = write_pair(tmp_path, "WAL", "WAL")
    rows = acc.read_text().splitlines()
    i, j = HEADER_LINES + 20, HEADER_LINES + 21
    rows[i], rows[j] = rows[j], rows[i]
    acc.write_text("\n".join(rows) + "\n")
    # The row now on line j + 1 is earlier than the one above it.
    with pytest.raises(
        DataFormatError, match=rf"WAL_acc_3_1\.txt: line {j + 1}: .*does not increase"
    ):
        load_mobiact_raw(tmp_path)


def _nan_rows(path: Path, first: int, count: int) -> tuple[int, int]:
    """Blank out x, y, z of ``count`` data rows; return their first and last file lines."""
    rows = path.read_text().splitlines()
    for k in range(HEADER_LINES + first, HEADER_LINES + first + count):
        rows[k] = rows[k].split(",")[0] + ", nan, nan, nan"
    path.write_text("\n".join(rows) + "\n")
    return HEADER_LINES + first + 1, HEADER_LINES + first + count


def test_nan_run_is_an_error_by_default(tmp_path):
    acc, _ = write_pair(tmp_path, "WAL", "WAL")
    first, last = _nan_rows(acc, 300, 8)
    with pytest.raises(DataFormatError, match=rf"WAL_acc_3_1\.txt: lines {first}-{last} hold NaN"):
        load_mobiact_raw(tmp_path)


def test_nan_run_dropped_cuts_the_recording_in_two(tmp_path):
    acc, _ = write_pair(tmp_path, "WAL", "WAL")
    t_acc = irregular_times("acc", 0.0, 10.0, seed=0)
    first, last = _nan_rows(acc, 300, 8)
    ds = load_mobiact_raw(tmp_path, invalid="drop")
    assert [r.segment for r in ds.recordings] == [0, 1]
    (note,) = ds.notes
    assert f"lines {first}-{last}" in note and "dropped" in note
    before, after = ds.recordings
    # The first piece ends before the last good acc sample, the second starts after the gap.
    assert abs(before.num_samples - t_acc[299] * 50) <= 1
    assert abs(after.num_samples - (10.0 - t_acc[308]) * 50) <= 1
    t_after = t_acc[308] + np.arange(after.num_samples) / 50.0
    np.testing.assert_allclose(
        after.data[10:-10], expected(("acc", "gyro"), t_after)[10:-10], atol=0.02
    )


def test_nan_run_interpolated_keeps_one_recording(tmp_path):
    acc, _ = write_pair(tmp_path, "WAL", "WAL")
    first, last = _nan_rows(acc, 300, 8)
    t_acc = irregular_times("acc", 0.0, 10.0, seed=0)
    ds = load_mobiact_raw(tmp_path, invalid="interpolate")
    (rec,) = ds.recordings
    assert rec.num_samples == 500
    grid = np.arange(500) / 50.0
    want = expected(("acc", "gyro"), grid)
    gap = (grid > t_acc[299] - 0.05) & (grid < t_acc[308] + 0.05)
    away = ~gap & (grid > 0.2) & (grid < 9.8)
    np.testing.assert_allclose(rec.data[away], want[away], atol=0.02)
    # A straight line across the ~0.1 s gap: close to the slow sines, not exact.
    np.testing.assert_allclose(rec.data[gap], want[gap], atol=0.15)
    (note,) = ds.notes
    assert f"lines {first}-{last}" in note and "interpolated" in note


def test_activity_codes_outside_the_allowed_list_are_errors(tmp_path):
    write_pair(tmp_path, "WAL", "WAL")
    write_pair(tmp_path, "XYZ", "XYZ")
    with pytest.raises(DataFormatError, match=r"XYZ_acc_3_1\.txt: unknown activity code 'XYZ'"):
        load_mobiact_raw(tmp_path, activities=("WAL", "JOG"))
    # Without the restriction any three-letter code is accepted.
    assert {r.activity for r in load_mobiact_raw(tmp_path).recordings} == {"WAL", "XYZ"}


def test_subject_attributes_disagreeing_between_files_name_both(tmp_path):
    write_pair(tmp_path, "WAL", "WAL")
    write_pair(tmp_path, "JOG", "JOG", attrs={**FEMALE, "Age": "27"})
    with pytest.raises(DataFormatError) as info:
        load_mobiact_raw(tmp_path)
    message = str(info.value)
    assert re.search(r"subject 3: header field 'Age' is 27 in \S*JOG_acc_3_1\.txt but 26 in "
                     r"\S*WAL_acc_3_1\.txt", message), message  # fmt: skip
    assert "header_conflict=majority" in message and "header_conflict=first" in message


NOT_RECORDED = {"Age": "0", "Height(cm)": "", "Weight(kg)": "0", "Gender": ""}


def test_header_zero_or_empty_takes_the_subjects_value_from_its_other_files(tmp_path):
    """MobiFall v2.0's quirk: 0 or empty means not recorded; the other files give the value."""
    write_pair(tmp_path, "sub3/ADL/WAL", "WAL")
    write_pair(tmp_path, "sub3/ADL/JOG", "JOG", attrs=NOT_RECORDED)
    write_pair(tmp_path, "sub3/ADL/STD", "STD")
    ds = load_mobiact_raw(tmp_path)
    assert ds.subjects["3"] == Subject(gender=0, age=26.0, height=164.0, weight=55.0)
    notes = [n for n in ds.notes if n.startswith("subject 3:")]
    assert len(notes) == 4  # age, height, weight, gender: one note each
    age = next(n for n in notes if "Age" in n)
    assert "0 or empty (not recorded) in 2 of 6 files" in age
    assert "JOG_acc_3_1.txt" in age and "used for all" in age and "26" in age


def test_header_never_recorded_is_unknown_with_a_note(tmp_path):
    write_pair(tmp_path, "WAL", "WAL", attrs=NOT_RECORDED)
    ds = load_mobiact_raw(tmp_path)
    assert ds.subjects["3"] == Subject()
    assert any("Age is 0 or empty (not recorded) in all of its 2 file(s)" in n for n in ds.notes)


@pytest.mark.parametrize(("policy", "age"), [("majority", 26.0), ("first", 27.0)])
def test_header_conflict_policy_chooses_and_says_so(tmp_path, policy, age):
    write_pair(tmp_path, "JOG", "JOG", attrs={**FEMALE, "Age": "27"})  # first in path order
    write_pair(tmp_path, "WAL", "WAL")
    write_pair(tmp_path, "STD", "STD")
    ds = load_mobiact_raw(tmp_path, header_conflict=policy)
    assert ds.subjects["3"].age == age
    (note,) = [n for n in ds.notes if "disagrees" in n]
    assert "26 in 4 file(s), 27 in 2 file(s)" in note and f"header_conflict={policy}" in note
    assert ds.description["header_conflict"] == policy


def test_units_are_read_from_the_header_and_reported(tmp_path):
    write_raw(tmp_path, "WAL", "WAL", "acc")
    gyro = write_raw(tmp_path, "WAL", "WAL", "gyro", seed=1)
    gyro.write_text(gyro.read_text().replace("z(rad/s)", "z(deg/s)"))
    ds = load_mobiact_raw(tmp_path)
    assert ds.units == {
        **{f"acc_{a}": "m/s^2" for a in "xyz"},
        **{f"gyro_{a}": "deg/s" for a in "xyz"},
    }


def test_mixed_units_name_both_files_the_field_and_the_option(tmp_path):
    write_pair(tmp_path, "WAL", "WAL")
    (_, gyro) = write_pair(tmp_path, "JOG", "JOG")
    gyro.write_text(gyro.read_text().replace("z(rad/s)", "z(deg/s)"))
    with pytest.raises(DataFormatError) as info:
        load_mobiact_raw(tmp_path)
    message = str(info.value)
    # JOG is read first (natural order), so WAL's file is the one that disagrees.
    assert "WAL_gyro_3_1.txt: line 2 (unit): gyro values are in rad/s" in message
    assert "JOG_gyro_3_1.txt: line 2 gives deg/s" in message
    assert "sensors=acc" in message


def test_unit_of_the_wrong_quantity_or_unknown_is_an_error(tmp_path):
    path = write_raw(tmp_path, "WAL", "WAL", "acc")
    path.write_text(path.read_text().replace("z(m/s^2)", "z(rad/s)"))
    with pytest.raises(DataFormatError, match=r"line 2 \(unit\): unit 'rad/s' measures angular"):
        load_mobiact_raw(tmp_path, sensors=("acc",))
    path.write_text(path.read_text().replace("z(rad/s)", "z(furlongs)"))
    with pytest.raises(DataFormatError, match=r"line 2 \(unit\): unknown unit 'furlongs'"):
        load_mobiact_raw(tmp_path, sensors=("acc",))


def test_scenarios_are_left_out_unless_asked_for(tmp_path):
    write_pair(tmp_path, "WAL", "WAL")
    write_pair(tmp_path, "SLH", "SLH")
    ds = load_mobiact_raw(tmp_path)
    assert ds.activities == ("WAL",)
    assert any("left out 1 scenario recording(s): SLH (1)" in n for n in ds.notes)
    assert load_mobiact_raw(tmp_path, scenarios=True).activities == ("WAL", "SLH")


def test_file_in_another_subjects_folder_is_an_error(tmp_path):
    write_pair(tmp_path, "sub4/ADL/WAL", "WAL", subject="3")
    with pytest.raises(DataFormatError, match=r"lies in folder 'sub4' but its name says subject 3"):
        load_mobiact_raw(tmp_path)


def test_header_is_read_tolerantly_and_missing_lines_are_none(tmp_path):
    attrs = {"  age ": " 40 ", "gender": "m"}  # odd spacing and case; no height/weight lines
    write_raw(tmp_path, "WAL", "WAL", "acc", attrs={**attrs, "x": "1", "y": "2"}, seed=0)
    ds = load_mobiact_raw(tmp_path, sensors=("acc",))
    assert ds.subjects["3"] == Subject(gender=1, age=40.0, height=None, weight=None)


def test_header_subject_id_must_match_the_file_name(tmp_path):
    write_raw(tmp_path, "WAL", "WAL", "acc", header_subject="4")
    with pytest.raises(DataFormatError, match=r"WAL_acc_3_1\.txt: line 4: Subject ID '4'"):
        load_mobiact_raw(tmp_path, sensors=("acc",))


def test_bad_header_number_names_file_and_line(tmp_path):
    write_raw(tmp_path, "WAL", "WAL", "acc", attrs={**FEMALE, "Age": "unknown"})
    with pytest.raises(DataFormatError, match=r"WAL_acc_3_1\.txt: line 5 \(Age\): 'unknown'"):
        load_mobiact_raw(tmp_path, sensors=("acc",))


def test_two_copies_of_one_file_are_an_error(tmp_path):
    write_pair(tmp_path, "a/WAL", "WAL")
    write_raw(tmp_path, "b/WAL", "WAL", "acc")
    with pytest.raises(DataFormatError, match=r"WAL_acc_3_1\.txt: the same recording and sensor"):
        load_mobiact_raw(tmp_path)


# ---------------------------------------------------------------------------- annotated CSVs

LABEL_RUNS = (("STD", 0.0, 3.0), ("FOL", 3.0, 4.0), ("LYI", 4.0, 8.0))
CHANNEL_SIGNALS = {
    name: (0.2 + 0.1 * k, float(k)) for k, name in enumerate(ANNOTATED_COLUMNS[2:-1])
}


def channel_signal(name: str, t: np.ndarray) -> np.ndarray:
    freq, offset = CHANNEL_SIGNALS[name]
    return offset + np.sin(2 * np.pi * freq * t)


def write_annotated(
    root: Path,
    name: str = "FOL_3_1_annotated.csv",
    *,
    columns: tuple[str, ...] = ANNOTATED_COLUMNS,
    seed: int = 0,
    edit=None,
) -> tuple[Path, np.ndarray]:
    """An annotated CSV with irregular ~200 Hz rel_time and the LABEL_RUNS labels.

    ``edit(rows)`` may change the string rows (header excluded) before writing.
    Returns the path and the rel_time of each data row (file line = index + 2).
    """
    t = irregular_times("gyro", 0.0, 8.0, seed=seed)
    labels = np.select([t < 3.0, t < 4.0], ["STD", "FOL"], "LYI")
    rows = []
    for ti, label in zip(t, labels, strict=True):
        cells = {"timestamp": str(T0_NS + round(ti * 1e9)), "rel_time": f"{ti:.9f}", "label": label}
        for c in ANNOTATED_COLUMNS[2:-1]:
            cells[c] = f"{channel_signal(c, np.array(ti)):.8f}"
        cells["foo"] = "1"
        rows.append([cells[c] for c in columns])
    if edit is not None:
        edit(rows)
    root.mkdir(parents=True, exist_ok=True)
    path = root / name
    path.write_text("\n".join(",".join(r) for r in [list(columns), *rows]) + "\n")
    return path, t


def test_annotated_file_splits_into_label_runs(tmp_path):
    write_annotated(tmp_path)
    default = load_mobiact_annotated(tmp_path)
    assert [r.activity for r in default.recordings] == ["STD", "LYI"]  # falls left out
    assert any("left out 1 fall recording(s): FOL (1)" in n for n in default.notes)
    assert default.units["acc_x"] == "m/s^2" and default.units["gyro_z"] == "rad/s"
    ds = load_mobiact_annotated(tmp_path, falls=True)
    assert ds.channels == ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z")
    assert ds.rate_hz == 50.0
    assert [(r.activity, r.subject, r.trial, r.segment) for r in ds.recordings] == [
        ("STD", "3", "1", 0),
        ("FOL", "3", "1", 1),
        ("LYI", "3", "1", 2),
    ]
    assert ds.subjects == {"3": Subject()}
    assert ds.description["kind"] == "mobiact_annotated"
    t = irregular_times("gyro", 0.0, 8.0, seed=0)
    for rec, (_, lo, hi) in zip(ds.recordings, LABEL_RUNS, strict=True):
        run = t[(t >= lo) & (t < hi)]
        assert abs(rec.num_samples - (run[-1] - run[0]) * 50) <= 1
        grid = run[0] + np.arange(rec.num_samples) / 50.0
        want = np.column_stack([channel_signal(c, grid) for c in ds.channels])
        np.testing.assert_allclose(rec.data[5:-5], want[5:-5], atol=0.02)


def test_annotated_files_found_recursively_with_a_channel_subset(tmp_path):
    write_annotated(tmp_path / "FOL", "FOL_3_1_annotated.csv")
    write_annotated(tmp_path / "deep" / "WAL", "WAL_12_2_annotated.csv", seed=1)
    ds = load_mobiact_annotated(tmp_path, channels=("azimuth", "acc_x"), rate_hz=20.0)
    assert ds.channels == ("azimuth", "acc_x")
    assert ds.subject_ids == ("3", "12")
    assert {r.trial for r in ds.recordings if r.subject == "12"} == {"2"}
    rec = ds.recordings[0]
    t = irregular_times("gyro", 0.0, 8.0, seed=0)
    grid = t[0] + np.arange(rec.num_samples) / 20.0
    want = np.column_stack([channel_signal("azimuth", grid), channel_signal("acc_x", grid)])
    np.testing.assert_allclose(rec.data[3:-3], want[3:-3], atol=0.02)


def test_annotated_file_name_must_match_the_pattern(tmp_path):
    write_annotated(tmp_path, "fall_trial.csv")
    with pytest.raises(DataFormatError, match=r"fall_trial\.csv: file name does not match"):
        load_mobiact_annotated(tmp_path)


def test_annotated_missing_and_unexpected_columns_are_named(tmp_path):
    no_gyro_z = tuple(c for c in ANNOTATED_COLUMNS if c != "gyro_z")
    write_annotated(tmp_path / "a", columns=no_gyro_z)
    with pytest.raises(
        DataFormatError, match=r"FOL_3_1_annotated\.csv: line 1: missing .*'gyro_z'"
    ):
        load_mobiact_annotated(tmp_path / "a")
    # A channel not asked for may be absent.
    ds = load_mobiact_annotated(tmp_path / "a", channels=("acc_x", "acc_y", "acc_z"))
    assert ds.channels == ("acc_x", "acc_y", "acc_z")

    write_annotated(tmp_path / "b", columns=(*ANNOTATED_COLUMNS, "foo"))
    with pytest.raises(
        DataFormatError, match=r"annotated\.csv: line 1: unexpected column\(s\) \['foo'\]"
    ):
        load_mobiact_annotated(tmp_path / "b")


def test_annotated_subjects_table_gives_attributes_and_must_cover_subjects(tmp_path):
    data = tmp_path / "data"
    write_annotated(data)
    table = tmp_path / "subjects.csv"
    table.write_text("subject,gender,age\n3,female,26\n")
    ds = load_mobiact_annotated(data, subjects=table)
    assert ds.subjects == {"3": Subject(gender=0, age=26.0)}

    table.write_text("subject,gender,age\n4,male,30\n")
    with pytest.raises(
        DataFormatError, match=r"subject\(s\) \['3'\] are not in the subjects table"
    ):
        load_mobiact_annotated(data, subjects=table)


def test_annotated_subjects_table_inside_the_folder_is_not_a_recording(tmp_path):
    write_annotated(tmp_path)
    table = tmp_path / "subjects.csv"
    table.write_text("subject,gender\n3,m\n")
    assert load_mobiact_annotated(tmp_path, subjects=table).subjects["3"].gender == 1


def test_annotated_unknown_label_names_file_line_and_code(tmp_path):
    _, t = write_annotated(tmp_path)
    line = int(np.flatnonzero(t >= 4.0)[0]) + 2  # first LYI row
    with pytest.raises(
        DataFormatError, match=rf"annotated\.csv: line {line}, column 'label': unknown .*'LYI'"
    ):
        load_mobiact_annotated(tmp_path, activities=("STD", "FOL"))


def test_annotated_non_numeric_cell_names_line_and_column(tmp_path):
    def edit(rows):
        rows[99][ANNOTATED_COLUMNS.index("gyro_y")] = "n/a"

    write_annotated(tmp_path, edit=edit)
    with pytest.raises(DataFormatError, match=r"line 101, column 'gyro_y': 'n/a' is not a number"):
        load_mobiact_annotated(tmp_path)


def test_annotated_non_monotonic_rel_time_names_the_line(tmp_path):
    def edit(rows):
        rows[50], rows[51] = rows[51], rows[50]

    write_annotated(tmp_path, edit=edit)
    with pytest.raises(DataFormatError, match=r"annotated\.csv: line 53: .*does not increase"):
        load_mobiact_annotated(tmp_path)


def test_annotated_nan_run_policies(tmp_path):
    def edit(rows):
        for r in rows[200:210]:  # inside the STD run
            r[ANNOTATED_COLUMNS.index("acc_y")] = ""

    write_annotated(tmp_path, edit=edit)
    with pytest.raises(DataFormatError, match=r"annotated\.csv: lines 202-211 hold NaN"):
        load_mobiact_annotated(tmp_path)

    dropped = load_mobiact_annotated(tmp_path, invalid="drop", falls=True)
    assert [(r.activity, r.segment) for r in dropped.recordings] == [
        ("STD", 0),
        ("STD", 1),
        ("FOL", 2),
        ("LYI", 3),
    ]
    assert any("lines 202-211" in n and "dropped" in n for n in dropped.notes)

    filled = load_mobiact_annotated(tmp_path, invalid="interpolate", falls=True)
    assert [r.activity for r in filled.recordings] == ["STD", "FOL", "LYI"]
    assert np.isfinite(filled.recordings[0].data).all()
    assert any("interpolated" in n for n in filled.notes)


def test_annotated_empty_folder_is_an_error(tmp_path):
    with pytest.raises(DataFormatError, match=re.escape("<CODE>_<subject>_<trial>_annotated.csv")):
        load_mobiact_annotated(tmp_path)
