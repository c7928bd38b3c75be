"""Cross-dataset evaluation: a run trained on one dataset, released and attacked on
another's users with the run's task (the trainers' and eval.harness's --test-data)."""

from __future__ import annotations

import json

import pytest

from eval import harness
from eval.splits import build_cross_split
from eval.transforms import load_transforms
from jaxpriv.data.dataset import DataFormatError
from jaxpriv.data.load import load_dataset
from jaxpriv.run_io import recorded_test_data
from train import gen as gen_cli

TRAIN = "embedded:users=6,long_s=6,short_s=4"
OTHER = "embedded:users=5,seed=7,long_s=6,short_s=4"  # other people
MOBIFALL = "embedded-mobifall:users=4,seed=3,long_s=6,short_s=4"  # MobiFall's raw layout
ARGS = ["--data", TRAIN, "--est-epochs", "1", "--identity-epochs", "0", "--epochs", "1",
        "--batch-size", "32", "--hidden", "16,8,16", "--est-features", "8,8,8"]  # fmt: skip


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cross") / "gen"
    assert gen_cli.main([*ARGS, "--out", str(out), "--test-data", MOBIFALL]) == 0
    return out


def test_the_cross_split_trains_on_the_run_data_and_tests_on_the_other(run_dir) -> None:
    transforms = load_transforms(run_dir)
    ds, other = load_dataset(TRAIN), load_dataset(OTHER)
    split = build_cross_split(ds, other, transforms, seed=0)
    assert split.tasks() == ("activity", "gender")  # other people: no identity
    described = split.describe()
    assert sorted(described["train_users"]) == sorted(ds.subject_ids)
    assert sorted(described["test_users"]) == sorted(f"{other.name}/{s}" for s in other.subject_ids)
    assert split.released_test.shape[:2] == (len(transforms), len(split.test))
    assert split.test.activities == tuple(transforms.spec.activities)
    slower = other.replace(rate_hz=25.0)
    with pytest.raises(DataFormatError, match=r"25 Hz.*--test-rate"):
        build_cross_split(ds, slower, transforms)


def test_the_harness_reports_both_datasets(run_dir, tmp_path) -> None:
    out = tmp_path / "report"
    argv = ["--run", str(run_dir), "--test-data", OTHER, "--splits", "subject",
            "--evaluators", "privacy", "--preset", "test", "--out", str(out)]  # fmt: skip
    assert harness.main(argv) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert "cross" in metrics["splits"] and "embedded-5u" in metrics["data"]
    assert metrics["test_data_description"]["config"]["seed"] == 7
    cross = [r for r in metrics["results"]["privacy"]["records"] if r["split"] == "cross"]
    assert {r["task"] for r in cross} == {"gender"}
    assert "embedded-5u" in (out / "report.md").read_text()


def test_embedded_to_the_mobifall_layout_end_to_end(run_dir, tmp_path) -> None:
    """DySan's protocol on simulated data: trained on MotionSense's layout, released and
    attacked on MobiFall's raw files (its codes mapped by its profile, its channels
    made MotionSense's), with the test data the run recorded."""
    recorded = recorded_test_data(run_dir)
    assert recorded["spec"] == MOBIFALL and recorded["users"] == 4
    out = tmp_path / "report"
    argv = ["--run", str(run_dir), "--test-data", recorded["spec"], "--splits", "subject",
            "--evaluators", "utility", "--preset", "test", "--out", str(out)]  # fmt: skip
    assert harness.main(argv) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert "embedded-6u" in metrics["data"] and "embedded-mobifall-4u" in metrics["data"]
    cross = [r for r in metrics["results"]["utility"]["records"] if r["split"] == "cross"]
    assert cross and {r["task"] for r in cross} == {"activity"}
