"""``--test-data`` on the privacy trainers: the dataset a run will be released and
attacked on, checked against the run's task before training and recorded in
``summary.json`` (``jaxpriv.run_io.recorded_test_data``)."""

from __future__ import annotations

import json

import pytest

from jaxpriv.data.cross import fit_test_data
from jaxpriv.data.dataset import DataFormatError
from jaxpriv.data.load import load_dataset
from jaxpriv.data.task import dysan_task, msda_task
from jaxpriv.run_io import recorded_test_data
from train import baselines as baselines_cli
from train import dysan as dysan_cli

TRAIN = "embedded:users=6,long_s=6,short_s=4"
MOBIFALL = "embedded-mobifall:users=4,long_s=6,short_s=4"  # MobiFall's codes and layout
WISDM = "embedded-wisdm:users=4,long_s=20"  # 20 Hz; stairs without a direction
# The smallest DySan run: one variant, one epoch of light networks, no inner steps.
TINY = ["--data", TRAIN, "--grid", "alpha=0.5;lam=0.3", "--epochs", "1", "--batch-size", "32",
        "--k-pred", "0", "--k-disc", "0", "--arch", "light"]  # fmt: skip


@pytest.fixture(scope="module")
def ds():
    return load_dataset(TRAIN)


def test_a_test_dataset_that_cannot_fit_stops_before_training(tmp_path, capsys) -> None:
    out = tmp_path / "run"
    # Another rate: WISDM's 20 Hz against the embedded 50 Hz.
    assert dysan_cli.main([*TINY, "--out", str(out), "--test-data", WISDM]) == 2
    err = capsys.readouterr().err
    assert "--test-data embedded-wisdm-4u: rate_hz is 20 Hz" in err and "--test-rate 50" in err
    # At the run's rate, its activities: WISDM's stairs have no direction (no dws, ups).
    argv = [*TINY, "--out", str(out), "--test-data", WISDM, "--test-rate", "50"]
    assert dysan_cli.main(argv) == 2
    captured = capsys.readouterr()
    assert "activities ['dws', 'ups'] of the run's task" in captured.err
    assert "--activities" in captured.err and "Traceback" not in captured.err
    assert "epoch" not in captured.out and not out.exists()  # nothing trained or written
    # The test flags without --test-data.
    assert dysan_cli.main([*TINY, "--out", str(out), "--test-rate", "50"]) == 2
    assert "--test-rate applies to --test-data" in capsys.readouterr().err


def test_channels_and_units_must_match_the_run(ds) -> None:
    task = dysan_task()
    accelerometer_only = load_dataset(f"{MOBIFALL},sensors=acc")
    with pytest.raises(DataFormatError, match=r"--test-data embedded-mobifall-4u: cannot form "
                       r"the run's channels.*rotationRate.*--channels"):  # fmt: skip
        fit_test_data(task, ds, accelerometer_only)
    other = load_dataset(MOBIFALL)
    in_degrees = other.replace(units={**other.units, "rotationRate.x": "deg/s"})
    with pytest.raises(DataFormatError, match=r"'rotationRate.x' is in deg/s.*in rad/s.*profile="):
        fit_test_data(task, ds, in_degrees)
    fitted = fit_test_data(task, ds, other)
    assert fitted.users == 4 and fitted.windows > 0
    assert fitted.task.activities == task.activities  # MobiFall's WAL -> wlk, ...
    assert ("WAL", "wlk") in fitted.task.activity_map
    # A run with its own mapping keeps it where the test data has its names.
    mapped = dysan_task(activities=("walk",), activity_map=(("wlk", "walk"),))
    assert fit_test_data(mapped, ds, load_dataset(TRAIN)).task == mapped


def test_a_test_dataset_that_fits_is_printed_and_recorded(tmp_path, capsys) -> None:
    out = tmp_path / "run"
    assert recorded_test_data(out) is None  # no run there yet
    assert dysan_cli.main([*TINY, "--out", str(out), "--test-data", MOBIFALL]) == 0
    printed = capsys.readouterr().out
    assert "test data (released and attacked on): embedded-mobifall-4u: 4 users" in printed
    assert printed.index("test data") < printed.index("epoch 1/1")  # said before training
    recorded = recorded_test_data(out)
    assert recorded is not None
    assert {k: recorded[k] for k in ("spec", "subjects", "rate_hz", "name", "users")} == {
        "spec": MOBIFALL, "subjects": None, "rate_hz": None,
        "name": "embedded-mobifall-4u", "users": 4,
    }  # fmt: skip
    summary = json.loads((out / "summary.json").read_text())
    assert "test_data" not in json.dumps(summary["identity"])  # training is unchanged
    # The same run, already complete, released on another dataset: nothing trains again,
    # the record is replaced.
    other = "embedded:users=5,seed=7,long_s=6,short_s=4"
    assert dysan_cli.main([*TINY, "--out", str(out), "--test-data", other]) == 0
    assert "already complete" in capsys.readouterr().out
    assert recorded_test_data(out)["name"] == "embedded-5u"
    assert json.loads((out / "summary.json").read_text())["fingerprint"] == summary["fingerprint"]


def test_the_baselines_record_their_test_data(tmp_path) -> None:
    out = tmp_path / "baselines"
    argv = ["--data", TRAIN, "--out", str(out), "--sample", "8", "--transforms", "ssa:1",
            "--test-data", MOBIFALL]  # fmt: skip
    assert baselines_cli.main(argv) == 0
    assert recorded_test_data(out)["users"] == 4
    # MSDA's magnitudes form from MobiFall's profiled channels too.
    assert fit_test_data(msda_task(), load_dataset(TRAIN), load_dataset(MOBIFALL)).windows > 0


def test_recorded_test_data_names_a_bad_summary(tmp_path) -> None:
    (tmp_path / "summary.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"summary\.json: unreadable"):
        recorded_test_data(tmp_path)
    (tmp_path / "summary.json").write_text(json.dumps({"test_data": {"users": 3}}))
    with pytest.raises(ValueError, match="'spec' string"):
        recorded_test_data(tmp_path)
    (tmp_path / "summary.json").write_text(json.dumps({"method": "dysan"}))
    assert recorded_test_data(tmp_path) is None


@pytest.mark.parametrize(("train", "test"), [(TRAIN, MOBIFALL), (MOBIFALL, TRAIN)])
def test_the_harness_attacks_on_the_recorded_test_data(tmp_path, train, test) -> None:
    """Both ways: a run on MotionSense's names released on MobiFall's codes, and a run on
    MobiFall (its activities mapped by its profile) released on MotionSense's names."""
    from eval import harness

    out = tmp_path / "baselines"
    argv = ["--data", train, "--out", str(out), "--sample", "8", "--transforms", "ssa:1",
            "--test-data", test]  # fmt: skip
    assert baselines_cli.main(argv) == 0
    argv = ["--run", str(out), "--preset", "test", "--evaluators", "utility", "--splits",
            "subject", "--folds", "2"]  # fmt: skip
    assert harness.main(argv) == 0  # no --test-data: the trainer's
    metrics = json.loads((out / "report" / "metrics.json").read_text())
    assert "cross" in metrics["splits"] and load_dataset(test).name in metrics["data"]
    cross = [r for r in metrics["results"]["utility"]["records"] if r["split"] == "cross"]
    assert cross and all(r["users"] == len(load_dataset(test).subject_ids) for r in cross)
