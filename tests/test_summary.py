"""``summarize`` and the ``python -m jaxpriv.data.summary`` command on a tiny embedded dataset."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from jaxpriv.data.dataset import Dataset
from jaxpriv.data.load import load_dataset
from jaxpriv.data.summary import format_summary, main, summarize

# Three users so both genders occur (public profiles 1, 2 male; 3 female).
SPEC = "embedded:users=3,long_s=3,short_s=3"
CLI_SPEC = "embedded:users=2,long_s=3,short_s=3"
WINDOW, STRIDE = 50, 25


def count_windows(ds: Dataset, window: int = WINDOW, stride: int = STRIDE) -> int:
    """Windows of every recording, counted independently of the code under test."""
    total = 0
    for rec in ds.recordings:
        start = 0
        while start + window <= rec.num_samples:
            total += 1
            start += stride
    return total


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return load_dataset(SPEC)


@pytest.fixture(scope="module")
def summary(dataset: Dataset) -> dict[str, Any]:
    return summarize(dataset, window=WINDOW, stride=STRIDE)


def test_totals(dataset: Dataset, summary: dict[str, Any]) -> None:
    assert summary["kind"] == "embedded"
    assert summary["name"] == "embedded-3u"
    assert summary["rate_hz"] == 50.0
    assert summary["channels"] == list(dataset.channels)
    assert summary["recordings"] == len(dataset.recordings)
    assert summary["windows"] == count_windows(dataset) > 0
    assert (summary["window"], summary["stride"]) == (WINDOW, STRIDE)
    samples = sum(r.num_samples for r in dataset.recordings)
    assert summary["minutes"] == pytest.approx(samples / 50.0 / 60.0, abs=0.01)


def test_subjects_and_genders(dataset: Dataset, summary: dict[str, Any]) -> None:
    subjects = summary["subjects"]
    assert subjects["count"] == 3
    assert subjects["gender"] == {"male": 2, "female": 1}
    ages = [s.age for s in dataset.subjects.values()]
    assert subjects["attributes"]["age"] == {
        "min": min(ages),
        "mean": pytest.approx(sum(ages) / 3),
        "max": max(ages),
    }


def test_activities_add_up(dataset: Dataset, summary: dict[str, Any]) -> None:
    activities = summary["activities"]
    assert list(activities) == list(dataset.activities)
    assert sum(a["windows"] for a in activities.values()) == summary["windows"]
    assert sum(a["recordings"] for a in activities.values()) == summary["recordings"]
    for act, a in activities.items():
        assert a["windows"] == count_windows(dataset.filter(activities=[act]))
        assert a["subjects"] == 3


def test_splits_partition_the_windows(summary: dict[str, Any]) -> None:
    subject = summary["splits"]["subject"]
    assert subject["train"]["windows"] + subject["test"]["windows"] == summary["windows"]
    assert subject["train"]["recordings"] + subject["test"]["recordings"] == summary["recordings"]
    assert subject["train"]["subjects"] + subject["test"]["subjects"] == 3
    assert len(subject["test_subjects"]) == subject["test"]["subjects"] >= 1
    trial = summary["splits"]["trial"]
    assert trial["train"]["windows"] + trial["test"]["windows"] == summary["windows"]
    assert trial["test_subjects"] is None
    # 3 s recordings are too short for a time split with a 50-sample gap: reported, not raised.
    assert "error" in summary["splits"]["time"]


def test_summary_is_plain_json(summary: dict[str, Any]) -> None:
    assert json.loads(json.dumps(summary)) == summary


def test_format_summary_tables(summary: dict[str, Any]) -> None:
    text = format_summary(summary)
    assert text.startswith("dataset   embedded-3u (embedded)")
    assert "subjects  3 (1 female, 2 male)" in text
    assert f"{summary['windows']} windows of 50 (stride 25)" in text
    for act in summary["activities"]:
        assert any(line.startswith(act) for line in text.splitlines())
    assert "time      unavailable:" in text


def test_main_prints_tables(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--data", CLI_SPEC, "--window", "50", "--stride", "25"]) == 0
    out = capsys.readouterr().out
    expected = summarize(load_dataset(CLI_SPEC), window=50, stride=25)
    assert out.strip() == format_summary(expected)
    rows = [line.split() for line in out.splitlines()]
    assert ["activity", "recordings", "subjects", "minutes", "windows"] in rows
    assert ["split", "side", "subjects", "recordings", "windows"] in rows
    for act, a in expected["activities"].items():
        cells = [str(a["recordings"]), str(a["subjects"]), f"{a['minutes']:.1f}", str(a["windows"])]
        assert [act, *cells] in rows
    assert "test subjects:" in out


def test_main_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--data", CLI_SPEC, "--window", "50", "--stride", "25", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    ds = load_dataset(CLI_SPEC)
    assert printed == summarize(ds, window=50, stride=25)
    assert printed["windows"] == count_windows(ds)
    assert printed["recordings"] == len(ds.recordings)
    assert printed["subjects"]["count"] == 2


def test_main_bad_data_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nowhere"
    assert main(["--data", str(missing)]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ")
    assert str(missing) in captured.err
    assert "Traceback" not in captured.err
    assert captured.out == ""


def test_main_bad_embedded_option(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--data", "embedded:colour=red"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "'colour=red'" in err


@pytest.mark.parametrize(("option", "value"), [("--stride", "0"), ("--window", "0")])
def test_main_non_positive_window_or_stride(
    option: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--data", CLI_SPEC, option, value]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {option[2:]} must be a positive integer, got 0")
