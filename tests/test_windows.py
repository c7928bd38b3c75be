"""Windowing: boundaries, counts, shared vocabularies, labels, short recordings, speed."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest

from jaxpriv.data.dataset import DataFormatError, Dataset, Recording, Subject
from jaxpriv.data.splits import split_by_subject
from jaxpriv.data.windows import Windows, make_windows, vocabularies, window_splits

SUBJECTS = {
    "1": Subject(gender=1, age=46, height=188, weight=102),
    "2": Subject(gender=0, age=28, height=161, weight=48),
    "10": Subject(age=30),  # gender, height and weight unknown
}


def encoded_ds(specs: list[tuple[str, str, str, int]], activity_order=()) -> Dataset:
    """Recording i has channel 0 = i and channel 1 = sample index: windows show their origin."""
    recs = []
    for i, (subject, activity, trial, length) in enumerate(specs):
        data = np.stack([np.full(length, i), np.arange(length)], axis=1).astype(np.float64)
        source = f"{activity}_{trial}/sub_{subject}.csv"
        recs.append(Recording(subject, activity, trial, data, source=source))
    return Dataset(
        recordings=tuple(recs),
        channels=("rec", "t"),
        rate_hz=50.0,
        subjects=SUBJECTS,
        description={"activity_order": activity_order},
    )


SPECS = [
    ("1", "wlk", "7", 300),
    ("1", "jog", "9", 125),
    ("2", "wlk", "7", 251),
    ("2", "dws", "1", 400),
    ("10", "jog", "16", 190),
    ("10", "sit", "5", 128),
]


@pytest.mark.parametrize(("window", "stride"), [(125, 63), (128, 10), (50, 50), (20, 77)])
def test_windows_stay_inside_one_recording(window: int, stride: int) -> None:
    ds = encoded_ds(SPECS)
    w = make_windows(ds, window=window, stride=stride, short="skip")
    assert w.x.shape == (len(w), window, 2) and w.x.dtype == np.float32
    # Every window is `window` consecutive samples of the recording its label names.
    np.testing.assert_array_equal(w.x[:, :, 0], np.repeat(w.recording[:, None], window, axis=1))
    np.testing.assert_array_equal(w.x[:, :, 1], w.start[:, None] + np.arange(window)[None, :])
    lengths = np.array([r.num_samples for r in ds.recordings])
    assert (w.start + window <= lengths[w.recording]).all()
    expected = [(t - window) // stride + 1 if t >= window else 0 for t in lengths]
    np.testing.assert_array_equal(np.bincount(w.recording, minlength=len(lengths)), expected)


def test_labels_point_to_the_recordings_names() -> None:
    ds = encoded_ds(SPECS, activity_order=("dws", "ups", "wlk", "jog", "sit"))
    w = make_windows(ds, window=100, stride=40)
    assert w.activities == ("dws", "wlk", "jog", "sit")  # canonical order, absent ups dropped
    assert w.subjects == ("1", "2", "10")  # natural order
    for i in range(len(w)):
        rec = ds.recordings[w.recording[i]]
        assert w.activities[w.activity[i]] == rec.activity
        assert w.subjects[w.subject[i]] == rec.subject
        assert w.trials[w.trial[i]] == rec.trial
    assert w.labels("activity") is w.activity
    assert w.num_classes("subject") == 3 and w.num_classes("gender") == 2


def test_gender_and_attributes_unknown_are_minus_one_and_nan() -> None:
    w = make_windows(encoded_ds(SPECS), window=100, stride=100)
    by_subject = {
        w.subjects[s]: (g, a) for s, g, a in zip(w.subject, w.gender, w.attributes, strict=True)
    }
    assert by_subject["1"][0] == 1 and by_subject["2"][0] == 0 and by_subject["10"][0] == -1
    np.testing.assert_array_equal(by_subject["1"][1], [188, 102, 46])  # height, weight, age
    assert np.isnan(by_subject["10"][1][:2]).all() and by_subject["10"][1][2] == 30
    assert w.counts()["gender"] == {"unknown": 2, "female": 6, "male": 4}


def test_split_windows_share_vocabularies() -> None:
    ds = encoded_ds(SPECS)
    train, test = split_by_subject(ds, ["10"])
    w_train, w_test = window_splits(train, test, window=100, stride=50)
    assert w_train.subjects == w_test.subjects == ("1", "2", "10")
    assert w_train.activities == w_test.activities
    # Same name -> same index on both sides (`recording` indexes the windowed dataset).
    for w, part in ((w_train, train), (w_test, test)):
        names = [part.recordings[r].activity for r in w.recording]
        assert [w.activities[a] for a in w.activity] == names
    assert set(w_test.subject.tolist()) == {2}
    assert set(w_train.subject.tolist()) == {0, 1}
    # Equivalent: vocabularies of the full dataset passed to each call.
    vocab = vocabularies(ds)
    w_test2 = make_windows(test, window=100, stride=50, **vocab)
    np.testing.assert_array_equal(w_test2.activity, w_test.activity)
    np.testing.assert_array_equal(w_test2.trial, w_test.trial)


def test_vocabulary_from_the_wrong_dataset_is_an_error() -> None:
    train, test = split_by_subject(encoded_ds(SPECS), ["10"])
    with pytest.raises(DataFormatError, match=r"subject '10' is not in the subject vocabulary"):
        make_windows(test, window=100, stride=50, subjects=vocabularies(train)["subjects"])


def test_activities_outside_vocabulary_are_excluded_and_noted() -> None:
    ds = encoded_ds(SPECS)
    w = make_windows(ds, window=100, stride=50, activities=("dws", "ups", "wlk", "jog"))
    assert w.activities == ("dws", "ups", "wlk", "jog")
    assert "sit" not in {ds.recordings[r].activity for r in w.recording}
    assert any("excluded" in n and "sit (1 recordings)" in n for n in w.notes)
    assert w.counts()["activity"] == {"dws": 7, "wlk": 9, "jog": 3}


def test_short_recording_error_names_it() -> None:
    ds = encoded_ds(SPECS)
    with pytest.raises(DataFormatError) as err:
        make_windows(ds, window=129, stride=10)
    msg = str(err.value)
    for part in ("jog_9/sub_1.csv", "subject 1", "activity jog", "trial 9", "125 samples", "129"):
        assert part in msg


def test_short_recording_skip_is_reported() -> None:
    ds = encoded_ds(SPECS)
    w = make_windows(ds, window=129, stride=10, short="skip")
    skipped = {1, 5}  # the 125- and 128-sample recordings
    assert skipped.isdisjoint(w.recording.tolist())
    assert len(w.notes) == 2 and all(n.startswith("skipped") for n in w.notes)
    assert "125 samples" in w.notes[0] and "128 samples" in w.notes[1]


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"window": 0}, "window"), ({"stride": -3}, "stride"), ({"window": 2.5}, "window")],
)
def test_invalid_window_or_stride(kwargs: dict, name: str) -> None:
    args = {"window": 10, "stride": 5} | kwargs
    with pytest.raises(ValueError, match=f"{name} must be a positive integer"):
        make_windows(encoded_ds(SPECS), **args)


def test_take_and_shape_validation() -> None:
    w = make_windows(encoded_ds(SPECS), window=100, stride=50)
    mask = w.activity == w.activities.index("wlk")
    sub = w.take(mask)
    assert len(sub) == mask.sum() > 0
    np.testing.assert_array_equal(sub.x, w.x[mask])
    np.testing.assert_array_equal(sub.start, w.start[mask])
    assert sub.activities == w.activities  # vocabularies kept, so indices stay valid
    picked = w.take([3, 0])
    np.testing.assert_array_equal(picked.recording, w.recording[[3, 0]])
    assert len(w.take([])) == 0
    with pytest.raises(ValueError, match="x has shape"):
        dataclasses.replace(w, x=w.x[:, :50])
    with pytest.raises(ValueError, match="subject indices"):
        dataclasses.replace(w, subject=np.full(len(w), 3))
    assert isinstance(sub, Windows)


def test_100k_windows_are_fast() -> None:
    rng = np.random.default_rng(0)
    recs = tuple(
        Recording(str(s % 24 + 1), "wlk", str(s), rng.normal(size=(5_000, 2)).astype(np.float32))
        for s in range(100)
    )
    ds = Dataset(recs, ("a", "b"), 50.0, {})
    t0 = time.perf_counter()
    w = make_windows(ds, window=128, stride=5)
    elapsed = time.perf_counter() - t0
    assert len(w) == 100 * ((5_000 - 128) // 5 + 1) > 95_000
    np.testing.assert_array_equal(w.x[-1], recs[-1].data[w.start[-1] : w.start[-1] + 128])
    assert elapsed < 3.0, f"windowing took {elapsed:.2f} s"
