"""The ``--data`` dispatcher: embedded specs, the cache, format detection and round trips."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

import jaxpriv.data.embedded as embedded_module
from jaxpriv.data.dataset import DataFormatError, Dataset, Subject
from jaxpriv.data.load import (
    ensure_embedded,
    load_dataset,
    load_from_description,
    parse_embedded_spec,
)
from jaxpriv.data.mobiact import ANNOTATED_COLUMNS
from jaxpriv.data.motionsense import DATA_FOLDER, SUBJECTS_FILE, load_motionsense
from jaxpriv.data.simulator import SimConfig, simulate_motionsense

TINY = SimConfig(n_users=2, long_s=3, short_s=3, activities=("wlk", "sit"))
TINY_SPEC = "embedded:users=2,long_s=3,short_s=3"
T0_NS = 5_425_926_036_000


# ---------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def motionsense(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny simulated MotionSense folder (data folder + subjects table)."""
    return simulate_motionsense(tmp_path_factory.mktemp("sim") / "motionsense", TINY)


def assert_same_data(a: Dataset, b: Dataset) -> None:
    """Same recordings (ids and values), channels, rate and subjects."""
    assert len(a.recordings) == len(b.recordings) > 0
    assert a.channels == b.channels
    assert a.rate_hz == b.rate_hz
    assert dict(a.subjects) == dict(b.subjects)
    for ra, rb in zip(a.recordings, b.recordings, strict=True):
        assert (ra.subject, ra.activity, ra.trial, ra.segment) == (
            rb.subject,
            rb.activity,
            rb.trial,
            rb.segment,
        )
        np.testing.assert_array_equal(ra.data, rb.data)


def write_raw(folder: Path, code: str, sensor: str, subject: str, trial: str, step: float) -> Path:
    """One MobiAct raw file: ``#`` header, ``@DATA``, then ``timestamp_ns, x, y, z`` rows."""
    t = np.arange(0.0, 4.0, step)
    unit = {"acc": "m/s^2", "gyro": "rad/s"}[sensor]
    lines = [
        "#Acceleration force along the x y z axes (including gravity).",
        f"#timestamp(ns),x,y,z({unit})",
        f"#Activity: 2 - {code} - Walking normal - 300s",
        f"#Subject ID: {subject}",
        "#Age: 26",
        "#Height(cm): 164",
        "#Weight(kg): 55",
        "#Gender: Female",
        "@DATA",
    ]
    lines += [
        f"{T0_NS + round(ti * 1e9)}, {np.sin(ti):.8f}, {np.cos(ti):.8f}, {9.81 + 0.1 * ti:.8f}"
        for ti in t
    ]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{code}_{sensor}_{subject}_{trial}.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def write_subjects_table(path: Path, subjects: tuple[str, ...]) -> Path:
    rows = ["subject,gender,age"] + [
        f"{s},{'f' if i % 2 else 'm'},{30 + i}" for i, s in enumerate(subjects)
    ]
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.fixture
def mobiact_raw(tmp_path: Path) -> Path:
    root = tmp_path / "mobiact"
    for code in ("WAL", "STD"):
        write_raw(root / code, code, "acc", "3", "1", 1 / 100)
        write_raw(root / code, code, "gyro", "3", "1", 1 / 200)
    return root


@pytest.fixture
def mobiact_annotated(tmp_path: Path) -> Path:
    root = tmp_path / "annotated"
    root.mkdir()
    t = np.arange(0.0, 3.0, 1 / 200)
    labels = np.where(t < 1.5, "STD", "WAL")
    rows = [",".join(ANNOTATED_COLUMNS)]
    for ti, label in zip(t, labels, strict=True):
        values = [f"{np.sin(ti + k):.8f}" for k in range(len(ANNOTATED_COLUMNS) - 3)]
        rows.append(",".join([str(T0_NS + round(ti * 1e9)), f"{ti:.9f}", *values, str(label)]))
    (root / "WAL_3_1_annotated.csv").write_text("\n".join(rows) + "\n")
    return root


@pytest.fixture
def recordings_csv(tmp_path: Path) -> Path:
    """A long-format CSV without ``time_s`` (so it needs a rate) for subjects 1 and 2."""
    rows = ["subject,activity,trial,acc_x,acc_y"]
    for subject, activity in (("1", "WAL"), ("2", "JOG")):
        rows += [f"{subject},{activity},1,{np.sin(i / 5):.6f},{i}" for i in range(60)]
    path = tmp_path / "recordings.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


# ---------------------------------------------------------------------------- embedded specs


def test_parse_embedded_spec_defaults() -> None:
    assert parse_embedded_spec("embedded") == SimConfig()
    assert parse_embedded_spec("embedded:") == SimConfig()


def test_parse_embedded_spec_fields() -> None:
    cfg = parse_embedded_spec("embedded:users=8,seed=3,long_s=5,short_s=2")
    assert cfg == SimConfig(n_users=8, seed=3, long_s=5.0, short_s=2.0)
    assert isinstance(cfg.n_users, int) and isinstance(cfg.seed, int)
    assert isinstance(cfg.long_s, float)
    assert parse_embedded_spec("embedded: users = 4 , rate_hz=25").rate_hz == 25.0


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        ("embedded:colour=3", "'colour=3'"),
        ("embedded:users", "'users'"),
        ("embedded:users=2,activities=wlk", "'activities=wlk'"),
        ("embedded:seed=abc", "'seed=abc' is not an integer"),
        ("embedded:users=2.5", "'users=2.5' is not an integer"),
        ("embedded:long_s=fast", "'long_s=fast' is not a number"),
    ],
)
def test_parse_embedded_spec_errors_name_the_option(spec: str, named: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_embedded_spec(spec)
    assert named in str(info.value)
    assert spec in str(info.value)


def test_a_changed_simulator_regenerates_instead_of_reusing_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JAXPRIV_CACHE", str(tmp_path / "cache"))
    cfg = parse_embedded_spec(TINY_SPEC)
    old = ensure_embedded(cfg)
    monkeypatch.setattr(embedded_module, "simulator_fingerprint", lambda: "a-newer-simulator")
    new = ensure_embedded(cfg)
    assert new != old
    assert (new / "simulation.json").is_file() and (old / "simulation.json").is_file()


def test_embedded_is_generated_once_then_read_from_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JAXPRIV_CACHE", str(tmp_path / "cache"))
    calls = []
    real = embedded_module.simulate_motionsense

    def counting(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(embedded_module, "simulate_motionsense", counting)
    first = load_dataset(TINY_SPEC)
    assert first.description["kind"] == "embedded"
    assert first.description["config"]["n_users"] == 2
    assert first.subject_ids == ("1", "2")
    folder = Path(first.description["path"])
    assert folder.parent == tmp_path / "cache"
    inode, mtime = folder.stat().st_ino, folder.stat().st_mtime_ns
    assert len(calls) == 1

    def fail(*args, **kwargs):
        raise AssertionError("the cached dataset was generated again")

    monkeypatch.setattr(embedded_module, "simulate_motionsense", fail)
    second = load_dataset(TINY_SPEC)
    assert (folder.stat().st_ino, folder.stat().st_mtime_ns) == (inode, mtime)
    assert second.description == first.description
    assert_same_data(first, second)
    assert ensure_embedded(parse_embedded_spec(TINY_SPEC)) == folder
    # A different config is a different folder.
    monkeypatch.setattr(embedded_module, "simulate_motionsense", counting)
    other = load_dataset(TINY_SPEC + ",seed=1")
    assert Path(other.description["path"]) != folder
    assert len(calls) == 2


def test_embedded_activities_and_round_trip() -> None:
    ds = load_dataset(TINY_SPEC, activities=["sit"])
    assert ds.activities == ("sit",)
    again = load_from_description(ds.description)
    assert again.description["kind"] == "embedded"
    assert_same_data(ds, again)


# ---------------------------------------------------------------------------- dispatch


def test_motionsense_folder(motionsense: Path) -> None:
    ds = load_dataset(str(motionsense))
    assert ds.description["kind"] == "motionsense"
    assert ds.activities == ("wlk", "sit")
    assert_same_data(ds, load_motionsense(motionsense))
    assert_same_data(ds, load_from_description(ds.description))


def test_motionsense_zip_with_subjects_table(motionsense: Path, tmp_path: Path) -> None:
    archive = tmp_path / "A_DeviceMotion_data.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted((motionsense / DATA_FOLDER).rglob("*.csv")):
            zf.write(path, path.relative_to(motionsense).as_posix())
    table = tmp_path / "subjects.csv"
    table.write_bytes((motionsense / SUBJECTS_FILE).read_bytes())

    ds = load_dataset(str(archive), subjects=table)
    assert ds.description["kind"] == "motionsense"
    unpacked = Path(ds.description["path"])
    assert unpacked.parent == Path(os.environ["JAXPRIV_CACHE"])  # unpacked into the cache
    assert_same_data(ds, load_motionsense(motionsense))
    assert_same_data(ds, load_from_description(ds.description))
    # A second load reuses the unpacked folder.
    inode = unpacked.stat().st_ino
    assert load_dataset(str(archive), subjects=table).description["path"] == str(unpacked)
    assert unpacked.stat().st_ino == inode


MOTIONSENSE_9 = tuple(f"{g}.{a}" for g in ("gravity", "rotationRate", "userAcceleration")
                      for a in "xyz")  # fmt: skip
RAW_6 = ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z")


def test_mobiact_raw_folder(mobiact_raw: Path) -> None:
    ds = load_dataset(str(mobiact_raw))
    assert ds.description["kind"] == "mobiact"
    assert ds.description["profile"]["name"] == "motionsense"  # applied by default
    assert ds.channels == MOTIONSENSE_9
    assert ds.units["gravity.x"] == "g" and ds.units["rotationRate.z"] == "rad/s"
    assert ds.rate_hz == 50.0
    assert sorted(r.activity for r in ds.recordings) == ["STD", "WAL"]
    assert ds.subjects == {"3": Subject(gender=0, age=26.0, height=164.0, weight=55.0)}
    again = load_from_description(ds.description)
    assert_same_data(ds, again)
    assert again.description == ds.description

    acc_only = load_dataset(str(mobiact_raw), sensors=("acc",), rate_hz=20.0)
    assert acc_only.channels == (*MOTIONSENSE_9[:3], *MOTIONSENSE_9[6:])
    assert acc_only.rate_hz == 20.0
    assert_same_data(acc_only, load_from_description(acc_only.description))

    raw = load_dataset(f"{mobiact_raw}:profile=raw,sensors=acc+gyro")
    assert raw.channels == RAW_6
    assert raw.units["acc_x"] == "g"  # converted from the files' m/s^2
    assert_same_data(raw, load_from_description(raw.description))


def test_a_description_stored_before_profiles_loads_as_it_did(mobiact_raw: Path) -> None:
    write_raw(mobiact_raw / "FOL", "FOL", "acc", "3", "1", 1 / 100)
    write_raw(mobiact_raw / "FOL", "FOL", "gyro", "3", "1", 1 / 200)
    old = {"kind": "mobiact", "path": str(mobiact_raw), "sensors": ["acc", "gyro"],
           "rate_hz": 50.0, "invalid": "error", "name": "mobiact"}  # fmt: skip
    ds = load_from_description(old)
    assert ds.channels == RAW_6 and ds.units["acc_x"] == "m/s^2"
    assert ds.activities[0] == "STD" and "FOL" in ds.activities  # falls were kept then


def test_mobiact_annotated_folder(mobiact_annotated: Path, tmp_path: Path) -> None:
    table = write_subjects_table(tmp_path / "subjects.csv", ("3",))
    ds = load_dataset(str(mobiact_annotated), subjects=table)
    assert ds.description["kind"] == "mobiact_annotated"
    assert [r.activity for r in ds.recordings] == ["STD", "WAL"]
    assert ds.channels == MOTIONSENSE_9
    assert ds.subjects == {"3": Subject(gender=1, age=30.0)}
    assert_same_data(ds, load_from_description(ds.description))


def test_recordings_csv_needs_a_rate_without_time(recordings_csv: Path, tmp_path: Path) -> None:
    table = write_subjects_table(tmp_path / "subjects.csv", ("1", "2"))
    with pytest.raises(DataFormatError, match="rate_hz"):
        load_dataset(str(recordings_csv), subjects=table)
    ds = load_dataset(str(recordings_csv), subjects=table, rate_hz=25.0)
    assert ds.description["kind"] == "recordings_csv"
    assert ds.rate_hz == 25.0
    assert ds.channels == ("acc_x", "acc_y")
    assert [(r.subject, r.activity, r.num_samples) for r in ds.recordings] == [
        ("1", "WAL", 60),
        ("2", "JOG", 60),
    ]
    assert ds.subjects == {"1": Subject(gender=1, age=30.0), "2": Subject(gender=0, age=31.0)}
    assert_same_data(ds, load_from_description(ds.description))


def test_recordings_csv_with_time_column(tmp_path: Path) -> None:
    rows = ["subject,activity,trial,time_s,acc_x"]
    rows += [f"7,WAL,1,{i / 20:.4f},{i}" for i in range(40)]
    path = tmp_path / "timed.csv"
    path.write_text("\n".join(rows) + "\n")
    ds = load_dataset(str(path))
    assert ds.description["kind"] == "recordings_csv"
    assert ds.rate_hz == 20.0
    assert_same_data(ds, load_from_description(ds.description))


# ---------------------------------------------------------------------------- errors


def test_unrecognised_folder(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("nothing here\n")
    with pytest.raises(DataFormatError) as info:
        load_dataset(str(tmp_path))
    message = str(info.value)
    assert str(tmp_path) in message
    assert "not a dataset jaxpriv recognises" in message
    assert DATA_FOLDER in message and "MobiAct" in message
    assert "WISDM raw files (raw/<phone|watch>/<accel|gyro>/data_<subject>_" in message


def test_missing_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(DataFormatError, match=r"no such file or folder.*'embedded'") as info:
        load_dataset(str(missing))
    assert str(missing) in str(info.value)


def test_text_file(tmp_path: Path) -> None:
    path = tmp_path / "data.txt"
    path.write_text("1,2,3\n")
    with pytest.raises(DataFormatError, match=r"expected a folder, a \.zip or a recordings \.csv"):
        load_dataset(str(path))


def test_unknown_description_kind() -> None:
    with pytest.raises(DataFormatError, match="unknown kind 'hdf5'"):
        load_from_description({"kind": "hdf5", "path": "/x"})


# ---------------------------------------------------------------------------- options, layouts

LAYOUT = "users=2,long_s=12,short_s=6"


def test_path_options_are_parsed_checked_and_merged(mobiact_raw: Path) -> None:
    ds = load_dataset(f"{mobiact_raw}:falls=1,header_conflict=majority,cutoff_hz=0.5")
    assert ds.description["falls"] is True and ds.description["header_conflict"] == "majority"
    assert ds.description["profile"]["gravity_filter"]["cutoff_hz"] == 0.5
    assert load_dataset(str(mobiact_raw), falls=True).description["falls"] is True
    with pytest.raises(ValueError, match=r"option 'device=watch' does not apply to a mobiact"):
        load_dataset(f"{mobiact_raw}:device=watch")
    with pytest.raises(ValueError, match=r"option falls='maybe': expected 1 or 0"):
        load_dataset(f"{mobiact_raw}:falls=maybe")
    with pytest.raises(ValueError, match=r"given both in the spec .* and as arguments"):
        load_dataset(f"{mobiact_raw}:rate_hz=20", rate_hz=25.0)
    with pytest.raises(ValueError, match=r"option\(s\) \['device'\] do not apply"):
        load_dataset(str(mobiact_raw), device="watch")


def test_a_folder_of_several_datasets_is_an_error_naming_them(
    mobiact_raw: Path, mobiact_annotated: Path, tmp_path: Path
) -> None:
    with pytest.raises(DataFormatError) as info:
        load_dataset(str(tmp_path))
    message = str(info.value)
    assert "holds files of several datasets" in message
    assert "MobiAct/MobiFall raw files (e.g." in message and "annotated CSVs (e.g." in message


def test_embedded_mobifall_is_the_simulated_layout_with_its_quirk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JAXPRIV_CACHE", str(tmp_path / "cache"))
    ds = load_dataset(f"embedded-mobifall:{LAYOUT}")
    desc = ds.description
    assert desc["kind"] == "embedded-mobifall" and desc["loader"] == "mobiact"
    assert desc["layout"] == "mobifall" and "path" not in desc  # identity without the cache
    assert ds.channels == MOTIONSENSE_9 and desc["profile"]["name"] == "motionsense"
    assert ds.activities == ("STD", "WAL", "JOG", "STU", "STN", "SIT")  # no FOL by default
    # The same people as the embedded MotionSense dataset, the header quirk repaired.
    assert dict(ds.subjects) == dict(load_dataset("embedded:users=2,long_s=3,short_s=3").subjects)
    assert any(n.startswith("subject 1: Age is 0 or empty") for n in ds.notes)
    assert any("left out 2 fall recording(s): FOL (2)" in n for n in ds.notes)
    assert_same_data(ds, load_from_description(desc))
    falls = load_dataset(f"embedded-mobifall:{LAYOUT},falls=1,profile=raw")
    assert "FOL" in falls.activities and falls.channels == RAW_6
    assert falls.description["build"] == desc["build"]  # one simulation, loaded two ways
    assert_same_data(falls, load_from_description(falls.description))


def test_embedded_wisdm_loads_through_the_wisdm_loader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JAXPRIV_CACHE", str(tmp_path / "cache"))
    ds = load_dataset(f"embedded-wisdm:{LAYOUT},sensors=acc")
    assert ds.description["loader"] == "wisdm" and ds.rate_hz == 20.0
    assert ds.activities == ("walking", "jogging", "stairs", "sitting", "standing")
    assert ds.subject_ids == ("1600", "1601")
    assert all(s.gender is None for s in ds.subjects.values())
    assert ds.channels == (*MOTIONSENSE_9[:3], *MOTIONSENSE_9[6:])  # accelerometer only
    assert_same_data(ds, load_from_description(ds.description))
    with pytest.raises(ValueError, match=r"bad option 'colour=1'"):
        load_dataset("embedded-wisdm:colour=1")
    with pytest.raises(ValueError, match=r"bad option 'header_conflict=first'.*'device'"):
        load_dataset(f"embedded-wisdm:{LAYOUT},header_conflict=first")


def test_a_wisdm_folder_is_detected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JAXPRIV_CACHE", str(tmp_path / "cache"))
    built = load_dataset(f"embedded-wisdm:{LAYOUT}")
    folder = tmp_path / "cache" / built.description["build"] / "wisdm-dataset"
    ds = load_dataset(f"{folder}:rate_hz=10,profile=raw")
    assert ds.description["kind"] == "wisdm" and ds.rate_hz == 10.0
    assert ds.channels == RAW_6 and ds.units["acc_x"] == "g"
    assert_same_data(ds, load_from_description(ds.description))


def test_the_summary_shows_units_profile_and_the_quirks_handled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from jaxpriv.data.summary import main as summary_main

    monkeypatch.setenv("JAXPRIV_CACHE", str(tmp_path / "cache"))
    assert summary_main(["--data", f"embedded-mobifall:{LAYOUT}", "--window", "50"]) == 0
    out = capsys.readouterr().out
    assert "units     g: gravity.x, gravity.y, gravity.z, userAcceleration.x" in out
    assert "rad/s: rotationRate.x, rotationRate.y, rotationRate.z" in out
    assert "profile   motionsense (android sign flipped to Core Motion's)" in out
    assert "order 4, 0.3 Hz, zero-phase" in out
    assert "subject 1: Height(cm) is 0 or empty (not recorded) in 8 of 24 files" in out
    assert "left out 2 fall recording(s): FOL (2)" in out and "falls=1" in out
    assert summary_main(["--data", f"embedded-mobifall:{LAYOUT},header_conflict=maybe"]) == 2
    assert "expected one of ['error', 'majority', 'first']" in capsys.readouterr().err
