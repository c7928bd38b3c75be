"""The task pipeline: --activities (subsets and mappings), --channels, the labels each
method requires, and the errors that name the fixing flag."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from eval.reproduce import data_argv
from jaxpriv.data.dataset import DataFormatError, Subject
from jaxpriv.data.load import load_dataset
from jaxpriv.data.task import Task, dysan_task, msda_task, parse_activity_spec
from train import baselines as baselines_cli
from train import task_from_args

TINY = "embedded:users=4,long_s=6,short_s=4"


@pytest.fixture(scope="module")
def ds():
    return load_dataset(TINY)


def test_activity_specs_list_and_map_names() -> None:
    assert parse_activity_spec("wlk, jog") == (("wlk", "jog"), ())
    assert parse_activity_spec("walking=wlk,jogging=jog,sit") == (
        ("wlk", "jog", "sit"),
        (("walking", "wlk"), ("jogging", "jog")),
    )
    # two of the data's names merged into one of the task's
    assert parse_activity_spec("ups=stairs,dws=stairs") == (
        ("stairs",),
        (("ups", "stairs"), ("dws", "stairs")),
    )
    for bad, match in ((",", "names no activity"), ("wlk=", "DATA_NAME=TASK_NAME"),
                       ("a=b,a=c", "mapped twice")):  # fmt: skip
        with pytest.raises(ValueError, match=match):
            parse_activity_spec(bad)


def test_a_mapping_renames_the_data_activities(ds) -> None:
    renames = (("wlk", "walk"), ("ups", "stairs"), ("dws", "stairs"))
    task = dysan_task(activities=("walk", "stairs"), activity_map=renames)
    data = task.prepare(ds)
    assert data.train_windows.activities == ("walk", "stairs")
    both = np.concatenate([data.train["activity"], data.test["activity"]])
    assert set(np.unique(both)) == {0, 1}
    # the same windows as the unmapped task: renaming moves no sample
    plain = dysan_task(activities=("wlk", "ups", "dws")).prepare(ds)
    assert len(data.train_windows) == len(plain.train_windows)
    assert json.loads(json.dumps(data.describe()))["activity_map"][0] == ["wlk", "walk"]
    assert Task.from_json(task.to_json()) == task


def test_errors_name_what_the_data_has_and_the_flag(ds) -> None:
    with pytest.raises(DataFormatError, match=r"\['walking'\] are not in the data.*--activities"):
        dysan_task(activities=("walking",)).prepare(ds)
    with pytest.raises(DataFormatError, match="does not have"):
        dysan_task(activity_map=(("walking", "wlk"),)).prepare(ds)
    with pytest.raises(DataFormatError, match=r"acc_\*.*--channels"):
        dysan_task(channels=("acc_*",)).prepare(ds)


def test_each_method_requires_only_the_labels_it_uses(ds) -> None:
    unknown = ds.replace(subjects={s: Subject() for s in ds.subjects})  # no gender known
    with pytest.raises(DataFormatError, match=r"no gender.*--subjects"):
        dysan_task().prepare(unknown)
    data = msda_task().prepare(unknown, require=("activity", "subject"))
    assert (data.train["gender"] < 0).all()
    with pytest.raises(ValueError, match="labels are"):
        msda_task().prepare(ds, require=("colour",))


def test_flags_build_the_task_and_reach_the_trainers() -> None:
    args = argparse.Namespace(data="d", subjects=None, rate=50.0, split="trial",
                              activities="walking=wlk,jog", channels="msda")  # fmt: skip
    task = task_from_args(args, dysan_task())
    assert task.activities == ("wlk", "jog") and task.activity_map == (("walking", "wlk"),)
    assert task.channels == msda_task().channels and task.split == "trial"
    assert data_argv(args) == ("--data", "d", "--rate", "50.0", "--activities",
                               "walking=wlk,jog", "--channels", "msda")  # fmt: skip


def test_the_baselines_run_on_a_mapped_task_without_genders(tmp_path, capsys) -> None:
    out = tmp_path / "b"
    argv = ["--data", TINY, "--out", str(out), "--transforms", "resample:10",
            "--activities", "wlk=walk,jog=run", "--sample", "16"]  # fmt: skip
    assert baselines_cli.main(argv) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["transforms"][0]["name"] == "resample-10hz"
    assert baselines_cli.main([*argv, "--activities", "wlk=walk"]) == 2  # another task
    assert "task.activities" in capsys.readouterr().err


def test_a_profiled_dataset_fits_the_default_tasks_without_flags() -> None:
    mobifall = load_dataset("embedded-mobifall:users=4,long_s=6,short_s=4")
    task, changes = dysan_task().fit_to(mobifall)
    assert ("WAL", "wlk") in task.activity_map and "profile" in changes[0]
    data = task.prepare(mobifall)
    assert data.train_windows.activities == ("dws", "ups", "wlk", "jog")
    assert (
        data.train_windows.channels
        == dysan_task().prepare(load_dataset(TINY)).train_windows.channels
    )
    wisdm = load_dataset("embedded-wisdm:users=4,long_s=40,short_s=4")
    task, changes = msda_task().fit_to(wisdm)
    assert task.activities == ("stairs", "wlk", "jog") and "no direction" in changes[-1]
    assert task.split == "time" and "no trial" in changes[0]
    prepared = task.prepare(wisdm, require=("activity", "subject"))  # no genders: fine
    assert prepared.train["x"].shape[-1] == 2
    assert np.array_equal(prepared.attribute_std, np.ones(3))  # nothing known, no warning
    same, unchanged = dysan_task().fit_to(load_dataset(TINY))
    assert same == dysan_task() and unchanged == []


def test_accelerometer_only_data_drops_the_rotation_channels_unless_chosen() -> None:
    watch = load_dataset("embedded-wisdm:users=4,long_s=40,short_s=4,sensors=acc")
    task, changes = msda_task().fit_to(watch)
    assert task.channels == ("|userAcceleration+gravity|",) and "no gyroscope" in changes[0]
    assert task.split == "time"  # the earlier changes are kept
    assert task.prepare(watch, require=("activity",)).train["x"].shape[-1] == 1
    assert dysan_task().fit_to(watch)[0].channels == ("userAcceleration.*",)
    chosen, _ = dysan_task().fit_to(watch, fixed=("channels",))
    with pytest.raises(DataFormatError, match="--channels"):
        chosen.prepare(watch)


def test_sensegen_prepared_data_carry_the_activity_map(ds) -> None:
    from jaxpriv.methods.sensegen import prepare_sensegen_data

    renames = (("wlk", "walk"), ("jog", "run"))
    data = prepare_sensegen_data(ds, window=100, activities=("walk", "run"), activity_map=renames)
    described = json.loads(json.dumps(data.describe()))
    assert described["activities"] == ["walk", "run"]
    assert described["activity_map"] == [["wlk", "walk"], ["jog", "run"]]  # as TaskData's
    plain = prepare_sensegen_data(ds, window=100, activities=("wlk",)).describe()
    assert plain["activity_map"] == []
