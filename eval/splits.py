"""Evaluation splits: which windows attackers learn from and which they are tested on.

Two threats, labelled everywhere they appear:
- ``subject`` -> **held-out users**: the attacker never saw the people it
  attacks (attribute inference on new users). By default the run's own
  held-out users, so the sanitizers never saw them either.
- ``trial`` / ``time`` -> **held-out data of known users**: the attacker has
  other recordings (trial) or earlier data (time) of the same people; the only
  threat under which identity can be inferred.

Each split holds the raw windows of both sides and every transform's release
of them, plus the warnings of what it cannot support.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from eval.transforms import TransformSet
from jaxpriv.data.dataset import DataFormatError, Dataset
from jaxpriv.data.splits import split_by_subject, split_dataset
from jaxpriv.data.task import window_pair
from jaxpriv.data.windows import Windows

THREATS = {
    "subject": "held-out users",
    "trial": "held-out data of known users (other trials)",
    "time": "held-out data of known users (later in each recording)",
    "cross": "users of another dataset (attackers trained on the run's data)",
}
MIN_TEST_USERS = 4

# task -> (what it is, which splits can measure it)
TASKS = {
    "activity": "utility",
    "gender": "privacy",
    "identity": "privacy",
}


@dataclasses.dataclass(frozen=True, eq=False)
class EvalSplit:
    """Raw and released windows of one split; ``released_*[v]`` is transform ``v``'s."""

    kind: str
    train: Windows
    test: Windows
    released_train: np.ndarray  # (V, N, W, C)
    released_test: np.ndarray  # (V, M, W, C)
    warnings: tuple[str, ...]

    @property
    def threat(self) -> str:
        return THREATS[self.kind]

    def tasks(self) -> tuple[str, ...]:
        """Tasks this split can measure (identity needs the same users on both sides)."""
        return ("activity", "gender") if self.kind in ("subject", "cross") else tuple(TASKS)

    def labels(self, task: str, side: str) -> tuple[np.ndarray, np.ndarray, int]:
        """``(y_N, valid_N, num_classes)`` of ``task`` on ``side`` ("train" or "test")."""
        win = self.train if side == "train" else self.test
        if task == "activity":
            return win.activity, np.ones(len(win), bool), len(win.activities)
        if task == "gender":
            return np.maximum(win.gender, 0), win.gender >= 0, 2
        if task == "identity":
            return win.subject, np.ones(len(win), bool), len(win.subjects)
        raise ValueError(f"unknown task {task!r}; expected one of {list(TASKS)}")

    def test_users(self) -> np.ndarray:
        return np.unique(self.test.subject)

    def describe(self) -> dict[str, Any]:
        def users(win: Windows) -> list[str]:
            return [win.subjects[i] for i in np.unique(win.subject)]

        return {
            "kind": self.kind,
            "threat": self.threat,
            "train_users": users(self.train),
            "test_users": users(self.test),
            "train_windows": len(self.train),
            "test_windows": len(self.test),
            "test_genders": _gender_counts(self.test),
            "warnings": list(self.warnings),
        }


def _gender_counts(win: Windows) -> dict[str, int]:
    counts = {"male": 0, "female": 0, "unknown": 0}
    for s in np.unique(win.subject):
        g = int(win.gender[win.subject == s][0])
        counts[{1: "male", 0: "female"}.get(g, "unknown")] += 1
    return counts


def build_split(ds: Dataset, transforms: TransformSet, kind: str, *, seed: int = 0) -> EvalSplit:
    """Window ``ds`` as the run did, split it by ``kind`` and release both sides."""
    if kind not in THREATS:
        raise ValueError(f"unknown split {kind!r}; expected one of {list(THREATS)}")
    spec = transforms.spec
    task = spec.task()
    ds = task.cut(ds)  # the run's activities and channels, or an error naming what lacks
    warnings: list[str] = []
    if kind == "subject" and spec.split != "subject":
        # The run trained on every user (a trial/time split, as MSDA): the held-out users are
        # the split's defaults (MSDA's four on MotionSense), unseen by the attackers only.
        train_ds, test_ds = split_dataset(ds, "subject")
        if transforms.method != "baselines":  # untrained transforms saw no one
            warnings.append(
                f"the run trained on data of every user ({spec.split} split): the held-out "
                "users are new to the attackers, not to the transform"
            )
    elif kind == "subject":
        present = [s for s in spec.test_subjects if s in ds.subject_ids]
        if present and len(present) == len(spec.test_subjects):
            train_ds, test_ds = split_by_subject(ds, spec.test_subjects)
        else:
            warnings.append(
                "the run's held-out users are not all in this dataset: "
                "held-out users chosen at random (20%, stratified by gender)"
            )
            train_ds, test_ds = split_dataset(ds, "subject", test_fraction=0.2, seed=seed)
    elif kind == "time":
        train_ds, test_ds = split_dataset(ds, "time", gap=spec.window)
    else:
        train_ds, test_ds = split_dataset(ds, "trial")
    train, test = window_pair(task, ds, train_ds, test_ds, kind)
    warnings += _check(kind, train, test)
    return EvalSplit(
        kind=kind,
        train=train,
        test=test,
        released_train=transforms.release(train.x, train.attributes, train.activity, seed),
        released_test=transforms.release(test.x, test.attributes, test.activity, seed + 1),
        warnings=tuple(warnings),
    )


def build_cross_split(
    ds: Dataset, test_ds: Dataset, transforms: TransformSet, *, seed: int = 0
) -> EvalSplit:
    """The cross-dataset split: attackers learn from the releases of every user of the
    run's dataset ``ds`` and are tested on the releases of every user of ``test_ds``, both
    cut with the run's task (its activities, channels, windows; the run's scaler, fitted on
    its own training data). The test users are named ``<test dataset>/<user>``."""
    if not np.isclose(ds.rate_hz, test_ds.rate_hz, rtol=1e-6):
        raise DataFormatError(
            f"--test-data {test_ds.name} is sampled at {test_ds.rate_hz:g} Hz, the run's data "
            f"{ds.name} at {ds.rate_hz:g} Hz; give the same rate (--test-rate for a CSV)"
        )
    task = transforms.spec.task()
    test_task, _ = task.fit_to(test_ds)  # e.g. MobiAct's WAL -> the run's wlk
    if test_task.activities != task.activities:
        raise DataFormatError(
            f"--test-data {test_ds.name} cannot give the run's activities "
            f"{list(task.activities)} (it has {list(test_ds.activities)})"
        )
    train_ds, test_ds = task.cut(ds), _prefixed(test_task.cut(test_ds), test_ds.name)
    both = train_ds.replace(
        recordings=train_ds.recordings + test_ds.recordings,
        subjects={**train_ds.subjects, **test_ds.subjects},
    )
    train, test = window_pair(task, both, train_ds, test_ds, "cross")
    warnings = _check("cross", train, test)
    return EvalSplit(
        kind="cross",
        train=train,
        test=test,
        released_train=transforms.release(train.x, train.attributes, train.activity, seed),
        released_test=transforms.release(test.x, test.attributes, test.activity, seed + 1),
        warnings=tuple(warnings),
    )


def _prefixed(ds: Dataset, prefix: str) -> Dataset:
    """``ds`` with its users renamed ``<prefix>/<user>`` (two datasets' ids may collide)."""
    recordings = tuple(
        dataclasses.replace(r, subject=f"{prefix}/{r.subject}") for r in ds.recordings
    )
    return ds.replace(
        recordings=recordings, subjects={f"{prefix}/{k}": v for k, v in ds.subjects.items()}
    )


def _check(kind: str, train: Windows, test: Windows) -> list[str]:
    """What this split cannot support, said once, in words."""
    warnings = []
    test_users = np.unique(test.subject)
    if kind in ("subject", "cross"):
        if len(test_users) < MIN_TEST_USERS:
            warnings.append(
                f"only {len(test_users)} held-out users (< {MIN_TEST_USERS}): "
                "per-user figures and their confidence intervals are not reliable"
            )
        genders = _gender_counts(test)
        if min(genders["male"], genders["female"]) == 0:
            warnings.append(
                f"held-out users are all of one gender ({genders}): gender accuracy on them "
                "measures a one-class guess, not inference"
            )
    else:
        unseen = sorted(set(test_users) - set(np.unique(train.subject)))
        if unseen:
            names = [test.subjects[i] for i in unseen]
            warnings.append(
                f"users {names} have no training windows: identity cannot be inferred for them"
            )
    if (test.gender < 0).any() or (train.gender < 0).any():
        n = int((test.gender < 0).sum() + (train.gender < 0).sum())
        warnings.append(f"{n} windows of users with unknown gender are left out of gender tasks")
    return warnings
