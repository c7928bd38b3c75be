"""Splits: disjointness, the time-split gap, reproducible stratified subject choices, k-fold."""

from __future__ import annotations

import numpy as np
import pytest

from jaxpriv.data.dataset import DataFormatError, Dataset, Recording, Subject
from jaxpriv.data.splits import (
    MOTIONSENSE_SUBJECT_TEST,
    MOTIONSENSE_TRIAL_TEST,
    kfold_subjects,
    random_subject_split,
    random_test_subjects,
    split_by_subject,
    split_by_time,
    split_by_trial,
    split_dataset,
    split_last_trial,
    subject_folds,
)
from jaxpriv.data.windows import make_windows

# MotionSense's public subjects table: gender per subject 1..24 (1 male, 0 female).
GENDERS = [1, 1, 0, 1, 0, 1, 0, 0, 1, 0, 1, 1, 1, 1, 1, 0, 1, 0, 0, 1, 1, 1, 0, 0]
TRIALS = {
    "dws": ("1", "2", "11"),
    "ups": ("3", "4", "12"),
    "wlk": ("7", "8", "15"),
    "jog": ("9", "16"),
}


def motionsense_like(length: int = 20, genders=GENDERS) -> Dataset:
    recs = [
        Recording(str(s), act, trial, np.zeros((length, 1)), source=f"{act}_{trial}/sub_{s}.csv")
        for s in range(1, len(genders) + 1)
        for act, trials in TRIALS.items()
        for trial in trials
    ]
    subjects = {str(s): Subject(gender=g) for s, g in enumerate(genders, start=1)}
    return Dataset(tuple(recs), ("v",), 50.0, subjects)


def values(ds: Dataset, field: str) -> set[str]:
    return {getattr(r, field) for r in ds.recordings}


def test_subject_split_is_disjoint_and_complete() -> None:
    ds = motionsense_like()
    train, test = split_by_subject(ds, MOTIONSENSE_SUBJECT_TEST)
    assert values(test, "subject") == set(MOTIONSENSE_SUBJECT_TEST)
    assert values(train, "subject").isdisjoint(values(test, "subject"))
    assert len(train.recordings) + len(test.recordings) == len(ds.recordings)
    # MSDA's four users are 2 female, 2 male.
    assert sorted(GENDERS[int(s) - 1] for s in MOTIONSENSE_SUBJECT_TEST) == [0, 0, 1, 1]


def test_subject_split_errors() -> None:
    ds = motionsense_like()
    with pytest.raises(DataFormatError, match=r"unknown test subject\(s\) \['25'\]"):
        split_by_subject(ds, ["5", "25"])
    with pytest.raises(DataFormatError, match="train side empty"):
        split_by_subject(ds, ds.subject_ids)


def test_trial_split_and_last_trial_rule() -> None:
    ds = motionsense_like()
    with pytest.raises(DataFormatError, match=r"unknown test trial\(s\) \['13', '14'\]"):
        split_by_trial(ds, MOTIONSENSE_TRIAL_TEST)  # no sit/std recordings here
    train, test = split_by_trial(ds, MOTIONSENSE_TRIAL_TEST, allow_missing=True)
    assert values(train, "trial").isdisjoint(values(test, "trial"))
    assert values(test, "trial") == {"11", "12", "15", "16"}
    assert any("['13', '14'] absent" in n for n in test.notes)
    # The default rule (last trial per subject and activity) is the same split on MotionSense.
    train2, test2 = split_last_trial(ds)
    assert {r.source for r in test2.recordings} == {r.source for r in test.recordings}
    assert {r.source for r in train2.recordings} == {r.source for r in train.recordings}


def test_last_trial_keeps_single_trial_pairs_in_train_and_notes_them() -> None:
    recs = (
        Recording("a", "WAL", "1", np.zeros((5, 1))),
        Recording("a", "WAL", "2", np.zeros((5, 1))),
        Recording("a", "JOG", "3", np.zeros((5, 1))),
    )
    train, test = split_last_trial(Dataset(recs, ("v",), 50.0, {}))
    assert [r.trial for r in test.recordings] == ["2"]
    assert {(r.activity, r.trial) for r in train.recordings} == {("WAL", "1"), ("JOG", "3")}
    assert any("single trial" in n and "a/JOG" in n for n in train.notes)


@pytest.mark.parametrize("gap", [0, 25, 64])
def test_time_split_leaves_gap_between_train_and_test_windows(gap: int) -> None:
    # Value = (recording, original sample index), so windows show where they came from.
    lengths = [400, 333, 1000]
    recs = tuple(
        Recording(str(i), "WAL", "1", np.stack([np.full(t, i), np.arange(t)], 1).astype(float))
        for i, t in enumerate(lengths)
    )
    ds = Dataset(recs, ("rec", "t"), 50.0, {})
    train, test = split_by_time(ds, 0.25, gap=gap, min_samples=32)
    w_train = make_windows(train, window=32, stride=7)
    w_test = make_windows(test, window=32, stride=7)
    for i in range(len(lengths)):
        tr = w_train.x[w_train.x[:, 0, 0] == i, :, 1]
        te = w_test.x[w_test.x[:, 0, 0] == i, :, 1]
        assert len(tr) and len(te)
        assert te.min() - (tr.max() + 1) >= gap  # train ends >= gap samples before test
    for rec, t in zip(test.recordings, lengths, strict=True):
        assert rec.data[-1, 1] == t - 1  # test is the end of the recording ...
        assert abs(rec.num_samples - 0.25 * t) <= 0.5  # ... its last quarter
    assert not train.notes


def test_time_split_reports_too_short_recordings() -> None:
    recs = (
        Recording("1", "WAL", "1", np.zeros((1000, 1)), source="long.csv"),
        Recording("2", "WAL", "1", np.zeros((150, 1)), source="short.csv"),
    )
    train, test = split_by_time(Dataset(recs, ("v",), 50.0, {}), 0.2, gap=128)
    assert {r.subject for r in train.recordings} == {r.subject for r in test.recordings} == {"1"}
    assert any("short.csv" in n and "too short" in n for n in test.notes)
    assert [r.num_samples for r in train.recordings] == [1000 - 200 - 128]


def test_time_split_treats_segments_as_one_stream() -> None:
    # Two pieces of one recording; the test part must come from the later piece only.
    recs = (
        Recording("1", "WAL", "1", np.zeros((500, 1)), source="f", segment=0),
        Recording("1", "WAL", "1", np.ones((300, 1)), source="f", segment=1),
    )
    train, test = split_by_time(Dataset(recs, ("v",), 50.0, {}), 0.25, gap=50)
    assert [r.num_samples for r in test.recordings] == [200]
    assert all((r.data == 1).all() for r in test.recordings)
    assert [r.num_samples for r in train.recordings] == [500, 50]


def test_random_subject_split_is_reproducible_and_stratified() -> None:
    ds = motionsense_like()
    chosen = random_test_subjects(ds, test_fraction=0.2, seed=3)
    assert chosen == random_test_subjects(ds, test_fraction=0.2, seed=3)
    assert len({random_test_subjects(ds, test_fraction=0.2, seed=s) for s in range(5)}) > 1
    # 24 subjects, 10 female: 20% -> 5 users = 2 female + 3 male (proportional).
    assert sorted(GENDERS[int(s) - 1] for s in chosen) == [0, 0, 1, 1, 1]
    train, test = random_subject_split(ds, n_test=6, seed=1)
    assert len(values(test, "subject")) == 6
    assert values(train, "subject").isdisjoint(values(test, "subject"))
    with pytest.raises(ValueError, match="exactly one"):
        random_test_subjects(ds, test_fraction=0.2, n_test=3)


def test_kfold_tests_every_subject_exactly_once() -> None:
    ds = motionsense_like()
    splits = kfold_subjects(ds, 5, seed=0)
    tested = [s for _, test in splits for s in values(test, "subject")]
    assert sorted(tested) == sorted(ds.subject_ids)
    for train, test in splits:
        assert values(train, "subject").isdisjoint(values(test, "subject"))
        assert values(train, "subject") | values(test, "subject") == set(ds.subject_ids)
    folds = subject_folds(ds, 5, seed=0)
    assert max(map(len, folds)) - min(map(len, folds)) <= 1
    females = [sum(GENDERS[int(s) - 1] == 0 for s in fold) for fold in folds]
    assert set(females) == {2}  # 10 women spread over 5 folds
    with pytest.raises(ValueError, match="k must be"):
        kfold_subjects(ds, 25)


def test_split_dataset_defaults() -> None:
    ds = motionsense_like()
    _, test = split_dataset(ds, "subject")
    assert values(test, "subject") == set(MOTIONSENSE_SUBJECT_TEST)
    _, test = split_dataset(ds.filter(subjects=[str(s) for s in range(1, 10)]), "subject")
    assert len(values(test, "subject")) == 2  # random 20% of 9 users when MSDA's are absent
    _, test = split_dataset(ds, "trial")
    assert values(test, "trial") == {"11", "12", "15", "16"}
    _, test = split_dataset(ds, "trial", test_trials=["1"])
    assert values(test, "trial") == {"1"}
    with pytest.raises(ValueError, match="gap"):
        split_dataset(ds, "time")
    _, test = split_dataset(ds, "time", gap=2)
    assert all(r.num_samples == 4 for r in test.recordings)  # 20% of 20 samples
    with pytest.raises(ValueError, match="unknown split kind"):
        split_dataset(ds, "activity")
