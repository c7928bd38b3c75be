"""Generic long-format recordings CSV and subjects table, plus the parsing helpers they use."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from jaxpriv.data.dataset import DataFormatError, Subject
from jaxpriv.data.generic import load_recordings_csv
from jaxpriv.data.parsing import read_csv_table, to_float_matrix
from jaxpriv.data.subjects_table import load_subjects_table

HEADER = "subject,activity,trial,time_s,acc_x,acc_y"


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def rows_for(subject: str, activity: str, trial: str, t: np.ndarray, phase: float = 0.0):
    """CSV lines of one recording: acc_x = sin(2 pi t + phase), acc_y = t."""
    return [
        f"{subject},{activity},{trial},{ti:.6f},{np.sin(2 * np.pi * ti + phase):.8f},{ti:.6f}"
        for ti in t
    ]


def two_recordings(tmp_path: Path, *, rate: float = 50.0, n: int = 100, seed: int = 0) -> Path:
    """Two 50 Hz recordings, their rows interleaved and shuffled within the file."""
    t = np.arange(n) / rate
    lines = rows_for("1", "WAL", "1", t) + rows_for("2", "JOG", "1", t, phase=1.0)
    order = np.random.default_rng(seed).permutation(len(lines))
    return write(tmp_path / "rec.csv", [HEADER, *[lines[i] for i in order]])


# ---------------------------------------------------------------------------- recordings


def test_long_format_groups_sorts_and_keeps_channels(tmp_path):
    path = two_recordings(tmp_path)
    ds = load_recordings_csv(path)
    assert ds.channels == ("acc_x", "acc_y")
    assert ds.rate_hz == 50.0
    assert [(r.subject, r.activity, r.trial, r.segment) for r in ds.recordings] == [
        ("1", "WAL", "1", 0),
        ("2", "JOG", "1", 0),
    ]
    t = np.arange(100) / 50.0
    for rec, phase in zip(ds.recordings, (0.0, 1.0), strict=True):
        assert rec.data.shape == (100, 2)
        np.testing.assert_allclose(rec.data[:, 1], t, atol=1e-6)  # sorted by time
        np.testing.assert_allclose(rec.data[:, 0], np.sin(2 * np.pi * t + phase), atol=1e-7)
    assert ds.subjects == {"1": Subject(), "2": Subject()}
    assert ds.notes == ()
    assert ds.recordings[0].source == f"{path}:1/WAL/1"
    assert ds.description == {
        "kind": "recordings_csv",
        "path": str(path.resolve()),
        "subjects": None,
        "rate_hz": 50.0,
        "invalid": "error",
        "name": "rec",
    }


def test_column_order_is_free_and_identifiers_are_stripped_strings(tmp_path):
    path = write(
        tmp_path / "odd.csv",
        [
            "gyro_z, trial ,time_s,subject,activity,acc_x",
            "0.5, 01 ,0.00, S7 ,walk,1.0",
            "0.6, 01 ,0.02, S7 ,walk,2.0",
            "0.7, 01 ,0.04, S7 ,walk,3.0",
        ],
    )
    ds = load_recordings_csv(path)
    assert ds.channels == ("gyro_z", "acc_x")
    (rec,) = ds.recordings
    assert (rec.subject, rec.activity, rec.trial) == ("S7", "walk", "01")
    np.testing.assert_array_equal(rec.data, [[0.5, 1.0], [0.6, 2.0], [0.7, 3.0]])


def test_without_time_column_rate_is_required_and_file_order_kept(tmp_path):
    path = write(
        tmp_path / "no_time.csv",
        ["subject,activity,trial,acc_x", "1,WAL,1,3", "2,WAL,1,9", "1,WAL,1,1", "1,WAL,1,2"],
    )
    with pytest.raises(DataFormatError, match=r"no_time\.csv: no 'time_s' column.*rate_hz"):
        load_recordings_csv(path)
    ds = load_recordings_csv(path, rate_hz=20)
    assert ds.rate_hz == 20.0
    np.testing.assert_array_equal(ds.recordings[0].data[:, 0], [3, 1, 2])
    np.testing.assert_array_equal(ds.recordings[1].data[:, 0], [9])


def test_recordings_with_different_rates_are_an_error(tmp_path):
    lines = rows_for("1", "WAL", "1", np.arange(50) / 50.0)
    lines += rows_for("2", "JOG", "3", np.arange(50) / 100.0)
    path = write(tmp_path / "mixed.csv", [HEADER, *lines])
    with pytest.raises(
        DataFormatError, match=r"mixed\.csv: recordings disagree .*1/WAL/1.*2/JOG/3"
    ):
        load_recordings_csv(path)


def test_rate_argument_must_agree_with_the_timestamps(tmp_path):
    path = two_recordings(tmp_path)
    with pytest.raises(
        DataFormatError, match=r"rec\.csv: rate_hz=100 disagrees .*1/WAL/1 at 50 Hz"
    ):
        load_recordings_csv(path, rate_hz=100)
    assert load_recordings_csv(path, rate_hz=50.3).rate_hz == 50.3  # within 1%


def test_irregular_timestamps_are_resampled_with_a_note(tmp_path):
    rng = np.random.default_rng(3)
    t = np.arange(200) / 50.0 + rng.uniform(-0.004, 0.004, size=200)
    t[0] = 0.0
    path = write(tmp_path / "jitter.csv", [HEADER, *rows_for("1", "WAL", "1", t)])
    ds = load_recordings_csv(path)
    assert ds.rate_hz == pytest.approx(50.0, rel=0.01)
    (rec,) = ds.recordings
    grid = np.arange(rec.num_samples) / ds.rate_hz
    assert abs(rec.num_samples - t[-1] * ds.rate_hz) <= 1
    np.testing.assert_allclose(rec.data[:, 1], grid, atol=1e-6)  # acc_y = t, on the grid now
    np.testing.assert_allclose(rec.data[:, 0], np.sin(2 * np.pi * grid), atol=0.01)
    (note,) = ds.notes
    assert "jitter.csv" in note and "irregular timestamps" in note and "resampled" in note


def test_duplicate_timestamp_names_file_and_lines(tmp_path):
    lines = rows_for("1", "WAL", "1", np.arange(10) / 50.0)
    lines.append(lines[4])  # file line 12 repeats line 6's timestamp
    path = write(tmp_path / "dup.csv", [HEADER, *lines])
    with pytest.raises(DataFormatError, match=r"dup\.csv .*: line 12: .*does not increase.*line 6"):
        load_recordings_csv(path)


def test_missing_identifier_column_is_an_error(tmp_path):
    path = write(tmp_path / "noid.csv", ["subject,time_s,acc_x", "1,0,1"])
    with pytest.raises(
        DataFormatError, match=r"noid\.csv: line 1: missing .*\['activity', 'trial'\]"
    ):
        load_recordings_csv(path)


def test_no_channel_columns_is_an_error(tmp_path):
    path = write(tmp_path / "nochan.csv", ["subject,activity,trial,time_s", "1,WAL,1,0"])
    with pytest.raises(DataFormatError, match=r"nochan\.csv: line 1: no channel columns"):
        load_recordings_csv(path)


def test_duplicate_column_is_an_error(tmp_path):
    path = write(tmp_path / "dupcol.csv", ["subject,activity,trial,acc_x,acc_x", "1,WAL,1,0,0"])
    with pytest.raises(DataFormatError, match=r"dupcol\.csv: line 1: column 'acc_x' appears twice"):
        load_recordings_csv(path, rate_hz=50)


def test_non_numeric_cell_names_the_real_line_and_column(tmp_path):
    lines = rows_for("1", "WAL", "1", np.arange(10) / 50.0)
    lines[6] = lines[6].rsplit(",", 1)[0] + ",oops"
    # Blank lines do not count as rows but do count as file lines.
    path = write(tmp_path / "bad.csv", ["", HEADER, "", *lines])
    with pytest.raises(DataFormatError, match=r"bad\.csv: line 10, column 'acc_y': 'oops'"):
        load_recordings_csv(path)


def test_row_with_wrong_cell_count_names_the_line(tmp_path):
    lines = rows_for("1", "WAL", "1", np.arange(5) / 50.0)
    lines[2] += ",7"
    path = write(tmp_path / "wide.csv", [HEADER, *lines])
    with pytest.raises(DataFormatError, match=r"wide\.csv: line 4 has 7 cells, the header has 6"):
        load_recordings_csv(path)


def test_empty_identifier_names_line_and_column(tmp_path):
    path = write(tmp_path / "noname.csv", [HEADER, "1,WAL,1,0,1,1", ",WAL,1,0.02,1,1"])
    with pytest.raises(DataFormatError, match=r"noname\.csv: line 3, column 'subject': empty"):
        load_recordings_csv(path)


def _with_nan_rows(tmp_path: Path) -> tuple[Path, list[int]]:
    """Two interleaved recordings; recording 1/WAL/1 has empty/NaN values at t = 0.4-0.46 s."""
    t = np.arange(50) / 50.0
    a, b = rows_for("1", "WAL", "1", t), rows_for("2", "JOG", "1", t)
    for k in range(20, 24):
        a[k] = a[k].rsplit(",", 2)[0] + (",,nan" if k % 2 else ",nan,")
    lines = [x for pair in zip(a, b, strict=True) for x in pair]  # a rows on odd data lines
    path = write(tmp_path / "gaps.csv", [HEADER, *lines])
    return path, [2 + 2 * k for k in range(20, 24)]


def test_nan_rows_are_an_error_naming_their_real_lines(tmp_path):
    path, bad_lines = _with_nan_rows(tmp_path)
    assert bad_lines[:3] == [42, 44, 46]
    with pytest.raises(
        DataFormatError, match=r"gaps\.csv \[subject 1, activity WAL, trial 1\]: lines 42, 44, 46"
    ):
        load_recordings_csv(path)


def test_nan_rows_dropped_give_pieces_and_a_note(tmp_path):
    path, _ = _with_nan_rows(tmp_path)
    ds = load_recordings_csv(path, invalid="drop")
    pieces = [r for r in ds.recordings if r.subject == "1"]
    assert [(r.segment, r.num_samples) for r in pieces] == [(0, 20), (1, 26)]
    np.testing.assert_allclose(pieces[1].data[0, 1], 24 / 50.0, atol=1e-6)
    assert [r.num_samples for r in ds.recordings if r.subject == "2"] == [50]
    (note,) = ds.notes
    assert "lines 42, 44, 46, ..." in note and "dropped" in note


def test_nan_rows_interpolated_give_values_and_a_note(tmp_path):
    path, _ = _with_nan_rows(tmp_path)
    ds = load_recordings_csv(path, invalid="interpolate")
    rec = ds.recordings[0]
    assert rec.num_samples == 50
    t = np.arange(50) / 50.0
    np.testing.assert_allclose(rec.data[:, 1], t, atol=1e-6)  # acc_y = t is linear: exact
    np.testing.assert_allclose(rec.data[:, 0], np.sin(2 * np.pi * t), atol=0.1)
    (note,) = ds.notes
    assert "gaps.csv" in note and "interpolated" in note


def test_unknown_activity_code_names_code_line_and_allowed(tmp_path):
    path = two_recordings(tmp_path, seed=1)
    first_jog = next(i + 1 for i, ln in enumerate(path.read_text().splitlines()) if ",JOG," in ln)
    with pytest.raises(
        DataFormatError,
        match=rf"rec\.csv: line {first_jog}, column 'activity': unknown activity code 'JOG'; "
        r"allowed: \['WAL', 'RUN'\]",
    ):
        load_recordings_csv(path, activities=["WAL", "RUN"])
    assert len(load_recordings_csv(path, activities=["WAL", "JOG"]).recordings) == 2


def test_missing_and_empty_files_are_errors(tmp_path):
    with pytest.raises(DataFormatError, match=r"nothere\.csv: cannot read"):
        load_recordings_csv(tmp_path / "nothere.csv")
    with pytest.raises(DataFormatError, match=r"empty\.csv: empty file"):
        load_recordings_csv(write(tmp_path / "empty.csv", ["", "  "]))
    with pytest.raises(DataFormatError, match=r"header_only\.csv: no data rows"):
        load_recordings_csv(write(tmp_path / "header_only.csv", [HEADER]))


def test_bad_arguments_are_rejected(tmp_path):
    path = two_recordings(tmp_path)
    with pytest.raises(ValueError, match="invalid must be one of"):
        load_recordings_csv(path, invalid="ignore")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="rate_hz must be a positive number"):
        load_recordings_csv(path, rate_hz=0)


# ---------------------------------------------------------------------------- subjects


def test_subjects_table_gives_attributes_with_any_gender_coding(tmp_path):
    table = write(
        tmp_path / "subjects.csv",
        [
            "subject,gender,age,height,weight",
            "1,female,26,164,55",
            "2,M,30,,80.5",
            "3,1,,,",
            "4,0,40,170,70",
        ],
    )
    subjects = load_subjects_table(table)
    assert subjects == {
        "1": Subject(gender=0, age=26.0, height=164.0, weight=55.0),
        "2": Subject(gender=1, age=30.0, height=None, weight=80.5),
        "3": Subject(gender=1),
        "4": Subject(gender=0, age=40.0, height=170.0, weight=70.0),
    }
    ds = load_recordings_csv(two_recordings(tmp_path), subjects=table)
    assert ds.subjects == {"1": subjects["1"], "2": subjects["2"]}
    assert ds.description["subjects"] == str(table.resolve())


def test_subjects_table_with_a_subset_of_attributes(tmp_path):
    table = write(tmp_path / "s.csv", ["age,subject", "33,7"])
    assert load_subjects_table(table) == {"7": Subject(age=33.0)}


def test_subjects_missing_from_the_table_are_listed(tmp_path):
    table = write(tmp_path / "subjects.csv", ["subject,gender", "1,m", "9,f"])
    with pytest.raises(
        DataFormatError, match=r"rec\.csv: subject\(s\) \['2'\] are not in the subjects table"
    ):
        load_recordings_csv(two_recordings(tmp_path), subjects=table)


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["code,gender", "1,m"], r"t\.csv: line 1: no 'subject' column"),
        (
            ["subject,sex,bmi", "1,m,20"],
            r"t\.csv: line 1: unknown column\(s\) \['sex', 'bmi'\]; allowed: \['subject', 'gender'",
        ),
        (
            ["subject,age", "1,20", "2,30", "1,25"],
            r"t\.csv: line 4: duplicate subject id '1' .*2\)",
        ),
        (["subject,age", "1,20", "2,old"], r"t\.csv: line 3, column 'age': 'old' is not a number"),
        (["subject,gender", "1,x"], r"t\.csv: line 2, column 'gender': gender 'x'"),
        (["subject,age", "1,20,5"], r"t\.csv: line 2 has 3 cells, the header has 2"),
        (["subject,age"], r"t\.csv: the subjects table has no rows"),
    ],
)
def test_subjects_table_errors_name_file_line_and_column(tmp_path, lines, message):
    with pytest.raises(DataFormatError, match=message):
        load_subjects_table(write(tmp_path / "t.csv", lines))


# ---------------------------------------------------------------------------- parsing helpers


def test_read_csv_table_reports_real_line_numbers(tmp_path):
    path = write(tmp_path / "x.csv", ["", "a,b", "1,2", "", " , ", "3,4"])
    table = read_csv_table(path)
    assert table.header == ["a", "b"] and table.header_line == 2
    assert table.rows == [["1", "2"], ["3", "4"]]
    assert table.lines.tolist() == [3, 6]


def test_to_float_matrix_fast_and_slow_paths_agree():
    rows = [["x", "1.5", " 2 "], ["y", "-3e2", "inf"]]
    np.testing.assert_array_equal(
        to_float_matrix(rows, [1, 2], ["a", "b"], "f"), [[1.5, 2.0], [-300.0, np.inf]]
    )
    rows[1][2] = "  "  # empty cell -> NaN via the per-cell path
    out = to_float_matrix(rows, [2], ["b"], "f")
    assert out.shape == (2, 1) and out[0, 0] == 2.0 and np.isnan(out[1, 0])
    with pytest.raises(DataFormatError, match=r"f: line 9, column 'a': 'x' is not a number"):
        to_float_matrix(rows, [0], ["a"], "f", lines=[9, 17])
