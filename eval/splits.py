"""Evaluation splits: which windows attackers learn from and which they are tested on.

Two threats, labelled everywhere they appear:
- ``subject`` -> **held-out users**: the attacker never saw the people it
  attacks (attribute inference on new users). By default the run's own
  held-out users, so the sanitizers never saw them either.
- ``kfold`` -> **held-out users, each once**: the users are dealt into folds
  (stratified by gender); attackers are retrained per fold on the other folds'
  releases, and the predictions pooled over every user, so a small population
  still gives a per-user interval (:func:`build_kfold_split`).
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

from eval.release_store import ReleaseStore
from eval.transforms import TransformSet
from jaxpriv.data.cross import fit_test_data
from jaxpriv.data.dataset import DataFormatError, Dataset
from jaxpriv.data.splits import split_by_subject, split_dataset, subject_folds
from jaxpriv.data.task import task_windows, window_pair
from jaxpriv.data.windows import Windows

THREATS = {
    "subject": "held-out users",
    "kfold": "held-out users, each user held out once (user k-fold)",
    "trial": "held-out data of known users (other trials)",
    "time": "held-out data of known users (later in each recording)",
    "cross": "users of another dataset (attackers trained on the run's data)",
}
KNOWN_USERS = ("trial", "time")  # the splits that test other data of the training users
MIN_TEST_USERS = 4
DEFAULT_FOLDS = 5

# task -> (what it is, which splits can measure it)
TASKS = {
    "activity": "utility",
    "gender": "privacy",
    "identity": "privacy",
}


@dataclasses.dataclass(frozen=True, eq=False)
class EvalSplit:
    """Raw and released windows of one split; ``released_*[v]`` is transform ``v``'s.

    A user k-fold split has ``folds``: the fold of every window; its train and test
    sides are the same windows, and fold ``f``'s attackers learn from the windows of
    the other folds and predict fold ``f``'s."""

    kind: str
    train: Windows
    test: Windows
    released_train: np.ndarray  # (V, N, W, C)
    released_test: np.ndarray  # (V, M, W, C)
    warnings: tuple[str, ...]
    folds: np.ndarray | None = None  # (M,) int: each window's fold (kfold only)
    # Where the releases came from: the dataset's store and each side's rows in it
    # (features are then computed once per window for every split sharing the store).
    store: ReleaseStore | None = None
    store_rows: dict[str, np.ndarray] | None = None  # "train"/"test" -> (N,) rows

    @property
    def threat(self) -> str:
        return THREATS[self.kind]

    def tasks(self) -> tuple[str, ...]:
        """Tasks this split can measure (identity needs the same users on both sides)."""
        held_out_users = self.kind in ("subject", "cross", "kfold")
        return ("activity", "gender") if held_out_users else tuple(TASKS)

    def fold_rows(self, fold: int) -> tuple[np.ndarray, np.ndarray]:
        """``(train_N, test_M)`` bool: the rows fold ``fold``'s attackers learn from and
        predict (the whole sides when the split has no folds)."""
        if self.folds is None:
            return np.ones(len(self.train), bool), np.ones(len(self.test), bool)
        return self.folds != fold, self.folds == fold

    @property
    def num_folds(self) -> int:
        """1 for a single train/test split, else the number of folds."""
        return 1 if self.folds is None else int(self.folds.max()) + 1

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
            **({"folds": self._fold_users()} if self.folds is not None else {}),
            "warnings": list(self.warnings),
        }

    def _fold_users(self) -> list[list[str]]:
        return [
            [self.test.subjects[u] for u in np.unique(self.test.subject[self.folds == f])]
            for f in range(self.num_folds)
        ]


def _gender_counts(win: Windows) -> dict[str, int]:
    counts = {"male": 0, "female": 0, "unknown": 0}
    for s in np.unique(win.subject):
        g = int(win.gender[win.subject == s][0])
        counts[{1: "male", 0: "female"}.get(g, "unknown")] += 1
    return counts


def dataset_store(ds: Dataset, transforms: TransformSet, *, seed: int = 0) -> ReleaseStore:
    """Every window of ``ds`` (cut with the run's task) released once: share it between
    the splits of ``ds`` (``store=``) so that none releases a window again."""
    task = transforms.spec.task()
    return ReleaseStore(transforms, task_windows(task, task.cut(ds)), seed)


def _released(kind: str, train: Windows, test: Windows, store: ReleaseStore) -> dict[str, Any]:
    rows = {"train": store.rows(train), "test": store.rows(test)}
    return {
        "kind": kind, "train": train, "test": test, "store": store, "store_rows": rows,
        "released_train": store.take(rows["train"]), "released_test": store.take(rows["test"]),
    }  # fmt: skip


def build_split(
    ds: Dataset,
    transforms: TransformSet,
    kind: str,
    *,
    seed: int = 0,
    store: ReleaseStore | None = None,
) -> EvalSplit:
    """Window ``ds`` as the run did, split it by ``kind`` and release both sides (from
    ``store``, else from a store of ``ds``'s windows; the time split, whose windows are
    its own, releases its sides itself)."""
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
    if kind == "time":
        return EvalSplit(
            kind=kind, train=train, test=test, warnings=tuple(warnings),
            released_train=transforms.release(train.x, train.attributes, train.activity, seed),
            released_test=transforms.release(test.x, test.attributes, test.activity, seed + 1),
        )  # fmt: skip
    store = store or ReleaseStore(transforms, task_windows(task, ds), seed)
    return EvalSplit(**_released(kind, train, test, store), warnings=tuple(warnings))


def build_kfold_split(
    ds: Dataset,
    transforms: TransformSet,
    *,
    folds: int = DEFAULT_FOLDS,
    seed: int = 0,
    store: ReleaseStore | None = None,
) -> EvalSplit:
    """The user k-fold split: every user of ``ds`` (cut with the run's task) in one of
    ``folds`` folds (at most one per user; stratified by gender), the windows released
    once. Attackers of fold ``f`` learn from the other folds' releases and predict fold
    ``f``'s, so every user is held out exactly once (:attr:`EvalSplit.folds`)."""
    spec = transforms.spec
    task = spec.task()
    ds = task.cut(ds)
    users = list(ds.subject_ids)
    if len(users) < 2:
        raise DataFormatError(f"{ds.name}: a user k-fold needs at least 2 users, not {users}")
    if isinstance(folds, bool) or not isinstance(folds, int) or folds < 2:
        raise ValueError(f"--folds must be an integer >= 2, not {folds!r}")
    k = min(folds, len(users))
    fold_of_user = {u: f for f, fold in enumerate(subject_folds(ds, k, seed)) for u in fold}
    win, _ = window_pair(task, ds, ds, ds, "kfold")
    fold_N = np.array([fold_of_user[win.subjects[s]] for s in win.subject], np.int32)
    warnings = []
    if k < folds:
        warnings.append(f"{len(users)} users: {k} folds of one user each (leave one user out)")
    trained_on = _trained_users(spec, users) if transforms.method != "baselines" else []
    if trained_on:
        warnings.append(
            f"the run's transforms trained on {len(trained_on)} of these {len(users)} users: "
            "their releases are judged alongside those of users the transforms never saw "
            f"({sorted(set(users) - set(trained_on)) or 'none'}; metrics.json has every "
            "user's accuracy)"
        )
    warnings += _check("subject", win, win)  # pooled over the folds: all users tested
    store = store or ReleaseStore(transforms, win, seed)
    return EvalSplit(**_released("kfold", win, win, store), warnings=tuple(warnings), folds=fold_N)


def _trained_users(spec, users: list[str]) -> list[str]:
    """The users among ``users`` whose data the run trained on."""
    if spec.split != "subject":
        return users
    return [u for u in users if u not in set(spec.test_subjects)]


def build_cross_split(
    ds: Dataset, test_ds: Dataset, transforms: TransformSet, *, seed: int = 0
) -> EvalSplit:
    """The cross-dataset split: attackers learn from the releases of every user of the
    run's dataset ``ds`` and are tested on the releases of every user of ``test_ds``, both
    cut with the run's task (its activities, channels, windows; the run's scaler, fitted on
    its own training data). The test users are named ``<test dataset>/<user>``."""
    task = transforms.spec.task()
    # The trainers' check (rate, activities by the run's or the data's mapping, e.g.
    # MobiAct's WAL -> wlk, channels, units): the same errors, naming the flag.
    test_task = fit_test_data(task, ds, test_ds).task
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
        n = int((test.gender < 0).sum() + (0 if train is test else (train.gender < 0).sum()))
        warnings.append(f"{n} windows of users with unknown gender are left out of gender tasks")
    return warnings
