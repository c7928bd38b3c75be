"""The user k-fold split: every user held out exactly once, attackers retrained per fold
on the other folds only, predictions pooled over every user; and its best-variant target."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest

from eval import context as context_module
from eval.attackers import REGISTRY, Family
from eval.config import PRESETS
from eval.context import EvalContext
from eval.evaluators.attacks import attack_records
from eval.report import best_variant_target
from eval.splits import EvalSplit
from eval.transforms import RAW
from jaxpriv.data.windows import Windows

USERS = 9  # a 9-user dataset: the subject split would leave 2 held-out users
PER_USER = 12


def _windows(seed: int = 0) -> Windows:
    """Windows whose channel 0 carries each user's gender (+1 male, -1 female) in noise."""
    rng = np.random.default_rng(seed)
    subject = np.repeat(np.arange(USERS), PER_USER)
    gender_of_user = np.arange(USERS) % 2
    gender = gender_of_user[subject]
    x = rng.normal(size=(len(subject), 16, 2)).astype(np.float32)
    x[:, :, 0] += np.where(gender == 1, 1.0, -1.0)[:, None]
    n = len(subject)
    return Windows(
        x=x, activity=np.zeros(n), subject=subject, gender=gender, trial=np.zeros(n),
        recording=subject, start=np.tile(np.arange(PER_USER), USERS) * 16,
        attributes=np.full((n, 3), np.nan), activities=("wlk",),
        subjects=tuple(f"u{i}" for i in range(USERS)), trials=("1",), channels=("a", "b"),
        rate_hz=50.0, window=16, stride=16,
    )  # fmt: skip


def _kfold_context(folds: np.ndarray) -> EvalContext:
    win = _windows()
    # Two "transforms" besides raw: one keeps gender, one erases it (channel 0 zeroed).
    erased = win.x.copy()
    erased[:, :, 0] = np.random.default_rng(1).normal(size=erased[:, :, 0].shape)
    released = np.stack([win.x, win.x, erased])
    split = EvalSplit(
        kind="kfold", train=win, test=win, released_train=released, released_test=released,
        warnings=(), folds=folds,
    )  # fmt: skip
    transforms = SimpleNamespace(method="x", names=(RAW, "keeps", "erases"))
    cfg = dataclasses.replace(PRESETS["test"], attackers="cheap", rf_trees=20)
    return EvalContext(transforms, {"kfold": split}, cfg, rate_hz=50.0, log=lambda line: None)


def test_each_user_is_held_out_once_and_no_fold_trains_on_its_test_users(monkeypatch) -> None:
    folds_of_user = np.arange(USERS) % 3
    ctx = _kfold_context(folds_of_user[_windows().subject])
    calls = []
    rf = REGISTRY["rf"]

    def spy(data, selected, **kw):
        calls.append((data.x_train[0, :, 0, 1].copy(), data.x_test[0, :, 0, 1].copy()))
        return rf.attack(data, selected, **kw)

    monkeypatch.setitem(context_module.REGISTRY, "rf", Family("rf", spy, False, rf.about))
    pred = ctx.predictions("kfold", "gender", "rf", "adaptive")
    assert len(calls) == 3 and pred.shape == (3, USERS * PER_USER)
    assert (pred >= 0).all()  # every window predicted, by the fold that held it out
    x = _windows().x[:, 0, 1]  # a value that identifies each window
    tested = np.concatenate([test for _train, test in calls])
    np.testing.assert_array_equal(np.sort(tested), np.sort(x))  # each window tested once
    for f, (train, test) in enumerate(calls):
        users_of = {v: u for v, u in zip(x, _windows().subject, strict=True)}
        train_users = {users_of[v] for v in train}
        test_users = {users_of[v] for v in test}
        assert test_users == set(np.flatnonzero(folds_of_user == f))
        assert not train_users & test_users

    # Pooled over every user: the gender-keeping release leaks, the erasing one does not.
    records = attack_records(ctx, "privacy")
    acc = {
        r["transform"]: r
        for r in records
        if r["family"] == "rf" and r["mode"] == "adaptive" and r["split"] == "kfold"
    }
    assert acc[RAW]["users"] == USERS and acc["keeps"]["accuracy"] > 0.9
    assert abs(acc["erases"]["accuracy"] - 0.5) < 0.25


def _record(transform: str, task: str, accuracy: float, low: float, high: float) -> dict:
    return {
        "split": "kfold", "family": "strongest", "mode": "adaptive", "task": task,
        "transform": transform, "accuracy": accuracy, "chance": 0.5, "users": 24,
        "ci": {"low": low, "high": high}, "attacker": "strong", "cheap_only": False,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("gender", "raw_gender", "expected"),
    [
        ((0.53, 0.45, 0.59), (0.9, 0.8, 0.97), "met"),
        ((0.55, 0.38, 0.70), (0.9, 0.8, 0.97), "met at the point estimate only"),
        ((0.75, 0.65, 0.85), (0.9, 0.8, 0.97), "NOT met"),
        ((0.53, 0.45, 0.59), (0.55, 0.42, 0.66), "cannot be judged"),
    ],
)
def test_best_variant_target_is_judged_by_the_interval_over_users(
    gender, raw_gender, expected
) -> None:
    records = [
        _record(RAW, "activity", 0.95, 0.9, 1.0),
        _record(RAW, "gender", *raw_gender),
        _record("a", "activity", 0.93, 0.88, 0.98),
        _record("a", "gender", *gender),
        # Nearer chance but activity 10 points below raw: not eligible.
        _record("b", "activity", 0.85, 0.8, 0.9),
        _record("b", "gender", 0.50, 0.47, 0.53),
    ]
    target = best_variant_target(records, "kfold")
    assert target["transform"] == "a" and target["verdict"].startswith(expected)
    assert target["gender_judged_by"] == "strong"
