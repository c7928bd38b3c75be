"""MotionSense DeviceMotion reader on a tiny simulated dataset and corrupted copies of it."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from jaxpriv.data.dataset import DataFormatError, Subject
from jaxpriv.data.motionsense import (
    DATA_FOLDER,
    SUBJECTS_FILE,
    is_motionsense,
    load_motionsense,
    load_subjects_info,
)
from jaxpriv.data.simulator import DEVICE_MOTION_COLUMNS, SimConfig, simulate_motionsense

# Three users so that both genders occur (public profiles 1, 2 male; 3 female).
TINY = SimConfig(n_users=3, long_s=3, short_s=3, activities=("wlk", "sit"))
FOLDERS = ("sit_5", "sit_13", "wlk_7", "wlk_8", "wlk_15")


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One simulated dataset per module; tests corrupt copies of it."""
    return simulate_motionsense(tmp_path_factory.mktemp("sim") / "motionsense", TINY)


@pytest.fixture
def root(pristine: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(pristine, tmp_path / "motionsense"))


def rec_path(root: Path, folder: str = "wlk_7", subject: int = 1) -> Path:
    return root / DATA_FOLDER / folder / f"sub_{subject}.csv"


def edit(path: Path, change: Callable[[list[str]], list[str] | None]) -> Path:
    """Apply ``change`` to the file's lines (index 0 = file line 1) in place."""
    lines = path.read_text().splitlines()
    new = change(lines)
    path.write_text("\n".join(lines if new is None else new) + "\n")
    return path


def set_cell(lines: list[str], line_no: int, column: str, value: str) -> None:
    """Set ``column`` of file line ``line_no`` (1-based) of a DeviceMotion CSV."""
    cells = lines[line_no - 1].split(",")
    cells[1 + DEVICE_MOTION_COLUMNS.index(column)] = value
    lines[line_no - 1] = ",".join(cells)


def file_values(path: Path) -> np.ndarray:
    """The 12 channels of a DeviceMotion CSV as written (row index column dropped)."""
    return np.loadtxt(path, delimiter=",", skiprows=1)[:, 1:]


def find(ds, subject: str, folder: str):
    activity, trial = folder.split("_")
    return [
        r for r in ds.recordings if (r.subject, r.activity, r.trial) == (subject, activity, trial)
    ]


def expect_error(pattern_parts: list[str]) -> str:
    """A regex matching the literal parts in order, anything in between."""
    return ".*".join(re.escape(p) for p in pattern_parts)


# ---------------------------------------------------------------------------- good input


def test_loads_recordings_channels_rate_and_values(root: Path) -> None:
    ds = load_motionsense(root)
    assert ds.channels == DEVICE_MOTION_COLUMNS
    assert ds.rate_hz == 50.0
    keys = {(r.subject, r.activity, r.trial) for r in ds.recordings}
    assert keys == {(s, *f.split("_")) for s in ("1", "2", "3") for f in FOLDERS}
    assert len(ds.recordings) == len(keys)  # one piece each: nothing was cut
    assert ds.activities == ("wlk", "sit")  # MotionSense's order, not alphabetical
    assert ds.subject_ids == ("1", "2", "3")
    assert ds.notes == ()
    # Core Motion's units, reported per channel.
    assert ds.units["attitude.roll"] == "rad" and ds.units["gravity.z"] == "g"
    assert ds.units["rotationRate.x"] == "rad/s" and ds.units["userAcceleration.y"] == "g"
    assert set(ds.units) == set(DEVICE_MOTION_COLUMNS)
    for rec in ds.recordings:
        path = rec_path(root, f"{rec.activity}_{rec.trial}", int(rec.subject))
        assert rec.source == str(path)
        assert rec.data.dtype == np.float32
        np.testing.assert_array_equal(rec.data, file_values(path).astype(np.float32))


def test_subject_attributes_come_from_the_table(root: Path) -> None:
    ds = load_motionsense(root)
    assert ds.subjects["1"] == Subject(gender=1, age=46.0, height=188.0, weight=102.0)
    assert ds.subjects["3"] == Subject(gender=0, age=28.0, height=161.0, weight=48.0)
    # Rewrite the table: the loader must report what it says, whatever the coding.
    table = root / SUBJECTS_FILE
    table.write_text(
        "code,weight,height,age,gender\n1,55,150,20,female\n2,72,180,28,m\n3,48,161,28,1\n"
    )
    ds = load_motionsense(root)
    assert ds.subjects["1"] == Subject(gender=0, age=20.0, height=150.0, weight=55.0)
    assert ds.subjects["2"].gender == 1
    assert ds.subjects["3"].gender == 1


def test_empty_attribute_cells_mean_unknown(root: Path) -> None:
    (root / SUBJECTS_FILE).write_text(
        "code,weight,height,age,gender\n1,102,188,,1\n2,,180,28,\n3,48,161,28,0\n"
    )
    subjects = load_subjects_info(root / SUBJECTS_FILE)
    assert subjects["1"].age is None and subjects["1"].height == 188.0
    assert subjects["2"].weight is None and subjects["2"].gender is None


def test_subjects_table_rows_not_recorded_are_left_out(root: Path) -> None:
    edit(root / SUBJECTS_FILE, lambda lines: [*lines, "99,80,175,40,1"])
    ds = load_motionsense(root)
    assert set(ds.subjects) == {"1", "2", "3"}


def test_root_or_data_folder_accepted(root: Path) -> None:
    a = load_motionsense(root)
    b = load_motionsense(root / DATA_FOLDER)  # the table is found next to it
    assert [r.source for r in a.recordings] == [r.source for r in b.recordings]
    assert a.subjects == b.subjects
    assert is_motionsense(root) and is_motionsense(root / DATA_FOLDER)
    assert not is_motionsense(root / DATA_FOLDER / "wlk_7")


def test_table_inside_the_data_folder_is_found(root: Path) -> None:
    (root / SUBJECTS_FILE).rename(root / DATA_FOLDER / SUBJECTS_FILE)
    ds = load_motionsense(root)
    assert ds.description["subjects"] == str((root / DATA_FOLDER / SUBJECTS_FILE).resolve())
    assert ds.subjects["3"].gender == 0


def test_activities_restrict_the_folders_read(root: Path) -> None:
    ds = load_motionsense(root, activities=["sit"])
    assert {r.activity for r in ds.recordings} == {"sit"}
    assert ds.trials == ("5", "13")
    assert ds.description["activities"] == ["sit"]
    with pytest.raises(DataFormatError, match=r"unknown activities \['run'\]"):
        load_motionsense(root, activities=["run"])
    with pytest.raises(DataFormatError, match=r"no recordings of activities \['jog'\]"):
        load_motionsense(root, activities=["jog"])  # a MotionSense code, absent here


def test_explicit_subjects_path(root: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "people.csv"
    (root / SUBJECTS_FILE).rename(elsewhere)
    with pytest.raises(DataFormatError, match=f"no {SUBJECTS_FILE} next to {DATA_FOLDER}"):
        load_motionsense(root)
    ds = load_motionsense(root, subjects=elsewhere)
    assert ds.description["subjects"] == str(elsewhere.resolve())
    assert ds.subjects["1"].height == 188.0
    # An explicit table wins over the one next to the data.
    shutil.copy(elsewhere, root / SUBJECTS_FILE)
    edit(elsewhere, lambda lines: [lines[0], "1,60,150,70,0", *lines[2:]])
    ds = load_motionsense(root, subjects=elsewhere)
    assert ds.subjects["1"] == Subject(gender=0, age=70.0, height=150.0, weight=60.0)


def test_header_without_index_column_and_stray_files(root: Path) -> None:
    path = rec_path(root)
    expected = file_values(path)
    edit(path, lambda lines: [line.split(",", 1)[1] for line in lines])
    (root / DATA_FOLDER / ".DS_Store").write_bytes(b"\0\1")  # macOS leaves these around
    (root / DATA_FOLDER / "wlk_7" / "README.txt").write_text("not data")
    ds = load_motionsense(root)
    np.testing.assert_array_equal(find(ds, "1", "wlk_7")[0].data, expected.astype(np.float32))


def test_blank_lines_are_skipped(root: Path) -> None:
    path = rec_path(root)
    expected = file_values(path)
    edit(path, lambda lines: [*lines[:10], "", *lines[10:], ""])
    ds = load_motionsense(root)
    np.testing.assert_array_equal(find(ds, "1", "wlk_7")[0].data, expected.astype(np.float32))


# ---------------------------------------------------------------------------- bad recordings


def test_missing_column(root: Path) -> None:
    col = 1 + DEVICE_MOTION_COLUMNS.index("gravity.y")
    path = edit(rec_path(root), lambda ls: [",".join(np.delete(ln.split(","), col)) for ln in ls])
    with pytest.raises(
        DataFormatError, match=expect_error([f"{path}: missing column(s) ['gravity.y']"])
    ):
        load_motionsense(root)


def test_extra_column(root: Path) -> None:
    path = edit(
        rec_path(root),
        lambda lines: [lines[0] + ",magnetometer.x"] + [ln + ",0.5" for ln in lines[1:]],
    )
    with pytest.raises(
        DataFormatError, match=expect_error([f"{path}: unexpected column(s) ['magnetometer.x']"])
    ):
        load_motionsense(root)


def test_duplicate_column(root: Path) -> None:
    path = edit(
        rec_path(root), lambda lines: [lines[0].replace("gravity.y", "gravity.x"), *lines[1:]]
    )
    with pytest.raises(
        DataFormatError, match=expect_error([f"{path}: line 1: column 'gravity.x' appears twice"])
    ):
        load_motionsense(root)


@pytest.mark.parametrize("blank_before", [False, True])
def test_non_numeric_cell_names_line_and_column(root: Path, blank_before: bool) -> None:
    def change(lines: list[str]) -> list[str]:
        set_cell(lines, 5, "attitude.pitch", "abc")
        return [*lines[:2], "", *lines[2:]] if blank_before else lines

    path = edit(rec_path(root), change)
    line = 6 if blank_before else 5  # the blank line (file line 3) pushes it down
    with pytest.raises(
        DataFormatError,
        match=expect_error(
            [f"{path}: line {line}, column 'attitude.pitch': 'abc' is not a number"]
        ),
    ):
        load_motionsense(root)


@pytest.mark.parametrize("blank_before", [False, True])
def test_row_with_wrong_number_of_cells(root: Path, blank_before: bool) -> None:
    def change(lines: list[str]) -> list[str]:
        lines[6] = lines[6].rsplit(",", 1)[0]  # file line 7 loses its last cell
        return [*lines[:3], "   ", *lines[3:]] if blank_before else lines

    path = edit(rec_path(root), change)
    line = 8 if blank_before else 7
    with pytest.raises(
        DataFormatError,
        match=expect_error([f"{path}: line {line} has 12 cells, the header has 13"]),
    ):
        load_motionsense(root)


NAN_LINES = range(40, 45)  # file lines 40-44: rows 38-42 of wlk_7/sub_1.csv


def with_nan_run(root: Path, value: str = "nan", blank_at: int | None = None) -> Path:
    def change(lines: list[str]) -> list[str]:
        for line in NAN_LINES:
            set_cell(lines, line, "rotationRate.y", value)
        if blank_at is not None:
            lines.insert(blank_at - 1, "")
        return lines

    return edit(rec_path(root), change)


@pytest.mark.parametrize("value", ["nan", "", "inf", "NaN"])
def test_nan_run_is_an_error_by_default(root: Path, value: str) -> None:
    path = with_nan_run(root, value)
    with pytest.raises(
        DataFormatError, match=expect_error([f"{path}: lines 40-44 hold NaN/Inf", "invalid="])
    ):
        load_motionsense(root)


def test_nan_run_line_numbers_count_blank_lines(root: Path) -> None:
    path = with_nan_run(root, blank_at=10)
    with pytest.raises(DataFormatError, match=expect_error([f"{path}: lines 41-45 hold NaN/Inf"])):
        load_motionsense(root)


def test_nan_run_interpolate(root: Path, pristine: Path) -> None:
    path = with_nan_run(root)
    original = file_values(rec_path(pristine))
    ds = load_motionsense(root, invalid="interpolate")
    (rec,) = find(ds, "1", "wlk_7")
    assert rec.num_samples == len(original)
    assert np.isfinite(rec.data).all()
    col = DEVICE_MOTION_COLUMNS.index("rotationRate.y")
    rows = np.array(NAN_LINES) - 2
    before, after = original[rows[0] - 1, col], original[rows[-1] + 1, col]
    # Linear between the neighbours; the other channels of those rows are untouched.
    line = before + (after - before) * np.arange(1, len(rows) + 1) / (len(rows) + 1)
    np.testing.assert_allclose(rec.data[rows, col], line, atol=1e-6)
    others = [c for c in range(12) if c != col]
    np.testing.assert_array_equal(rec.data[:, others], original[:, others].astype(np.float32))
    assert len(ds.notes) == 1
    assert re.search(expect_error([str(path), "lines 40-44", "interpolated"]), ds.notes[0])


def test_nan_run_drop_cuts_the_recording(root: Path, pristine: Path) -> None:
    path = with_nan_run(root)
    original = file_values(rec_path(pristine)).astype(np.float32)
    ds = load_motionsense(root, invalid="drop")
    pieces = find(ds, "1", "wlk_7")
    assert [p.segment for p in pieces] == [0, 1]
    first, last = NAN_LINES[0] - 2, NAN_LINES[-1] - 2  # rows of the run
    np.testing.assert_array_equal(pieces[0].data, original[:first])
    np.testing.assert_array_equal(pieces[1].data, original[last + 1 :])
    assert len(find(ds, "2", "wlk_7")) == 1  # other recordings are not cut
    assert len(ds.notes) == 1
    assert re.search(expect_error([str(path), "lines 40-44", "5 row(s)", "dropped"]), ds.notes[0])


# ---------------------------------------------------------------------------- bad layout


def test_unknown_activity_folder(root: Path) -> None:
    bad = (root / DATA_FOLDER / "wlk_7").rename(root / DATA_FOLDER / "run_3")
    with pytest.raises(
        DataFormatError, match=expect_error([f"{bad}: unknown activity code 'run'"])
    ):
        load_motionsense(root)


@pytest.mark.parametrize("name", ["walking", "wlk-7", "wlk_", "7_wlk"])
def test_bad_folder_name(root: Path, name: str) -> None:
    bad = (root / DATA_FOLDER / "wlk_7").rename(root / DATA_FOLDER / name)
    with pytest.raises(
        DataFormatError, match=expect_error([f"{bad}: folder name is not <activity code>_"])
    ):
        load_motionsense(root)


@pytest.mark.parametrize("name", ["subject1.csv", "sub_a.csv", "sub_1_copy.csv"])
def test_bad_file_name(root: Path, name: str) -> None:
    bad = rec_path(root, "sit_5", 2).rename(root / DATA_FOLDER / "sit_5" / name)
    with pytest.raises(
        DataFormatError, match=expect_error([f"{bad}: file name is not sub_<subject number>.csv"])
    ):
        load_motionsense(root)


def test_empty_data_folder(root: Path) -> None:
    folder = root / DATA_FOLDER
    for child in folder.iterdir():
        shutil.rmtree(child)
    with pytest.raises(DataFormatError, match=expect_error([f"{folder}: empty"])):
        load_motionsense(root)


def test_trial_folder_without_files(root: Path) -> None:
    folder = root / DATA_FOLDER / "sit_13"
    for child in folder.iterdir():
        child.unlink()
    with pytest.raises(DataFormatError, match=expect_error([f"{folder}: no sub_<n>.csv files"])):
        load_motionsense(root)


def test_no_data_folder(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match=expect_error([f"{tmp_path}: no {DATA_FOLDER}"])):
        load_motionsense(tmp_path)


def test_no_subjects_table(root: Path) -> None:
    (root / SUBJECTS_FILE).unlink()
    with pytest.raises(
        DataFormatError, match=expect_error([f"{root}: no {SUBJECTS_FILE} next to {DATA_FOLDER}"])
    ):
        load_motionsense(root)


def test_subject_missing_from_table(root: Path) -> None:
    table = edit(
        root / SUBJECTS_FILE, lambda lines: [ln for ln in lines if not ln.startswith("2,")]
    )
    first = rec_path(root, "sit_13", 2)  # folders are read in sorted order
    message = f"{first}: subject 2 is missing from the subjects table {table}"
    with pytest.raises(DataFormatError, match=expect_error([message])):
        load_motionsense(root)


# ---------------------------------------------------------------------------- bad subjects table

GOOD_TABLE = ["code,weight,height,age,gender", "1,102,188,46,1", "2,72,180,28,1", "3,48,161,28,0"]


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (
            ["code,weight,height,gender", "1,102,188,1", "2,72,180,1", "3,48,161,0"],
            "missing column(s) ['age']",
        ),
        (
            ["code,weight,height,age,gender,age", "1,102,188,46,1,46"],
            "line 1: column 'age' appears twice",
        ),
        (
            [*GOOD_TABLE[:2], "2.5,72,180,28,1", *GOOD_TABLE[3:]],
            "line 3, column 'code': '2.5' is not an integer",
        ),
        (
            [*GOOD_TABLE[:2], ",72,180,28,1", *GOOD_TABLE[3:]],
            "line 3, column 'code': '' is not an integer",
        ),
        (
            [*GOOD_TABLE[:2], "two,72,180,28,1", *GOOD_TABLE[3:]],
            "line 3, column 'code': 'two' is not a number",
        ),
        ([*GOOD_TABLE, "1,60,170,30,0"], "line 5: subject 1 appears twice"),
        (
            [*GOOD_TABLE[:3], "3,48,161,28,x"],
            "line 4, column 'gender': gender 'x' is not one of",
        ),
        (
            [*GOOD_TABLE[:2], "2,heavy,180,28,1", *GOOD_TABLE[3:]],
            "line 3, column 'weight': 'heavy' is not a number",
        ),
        ([*GOOD_TABLE[:3], "3,48,161,28"], "line 4 has 4 cells, the header has 5"),
        ([*GOOD_TABLE[:2], "", "", "2,72,180,28,?x"], "line 5, column 'gender'"),
        (GOOD_TABLE[:1], "the subjects table has no rows"),
    ],
    ids=[
        "missing-column",
        "duplicate-column",
        "non-integer-code",
        "empty-code",
        "non-numeric-code",
        "duplicate-code",
        "bad-gender",
        "non-numeric-weight",
        "short-row",
        "line-after-blank-lines",
        "no-rows",
    ],
)
def test_malformed_subjects_table(root: Path, lines: list[str], message: str) -> None:
    table = root / SUBJECTS_FILE
    table.write_text("\n".join(lines) + "\n")
    pattern = expect_error([f"{table}: {message}"])
    with pytest.raises(DataFormatError, match=pattern):
        load_subjects_info(table)
    with pytest.raises(DataFormatError, match=pattern):
        load_motionsense(root)
