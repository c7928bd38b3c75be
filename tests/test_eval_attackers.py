"""Attacker families: static vs adaptive mean what they say for every registered family
on a crisp case; the strong family's own validation split; one by one == vmapped; the
staged plan, ``strongest`` and the weak-attacker warning on constructed scores.

Class = the sign of channel 0's mean. ``negate`` keeps the information but flips
it: a static attacker (trained on raw) is then always wrong, an adaptive one
(retrained on the release) always right. ``erase`` removes it: both at chance.
"""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest

from eval import attack_plan
from eval.attackers import (
    ALL_FAMILIES,
    FAMILIES,
    REGISTRY,
    UNJUDGED,
    AttackData,
    class_weights,
    cnn_attack,
    features_of,
    register_family,
    resolve_execution,
)
from eval.config import PRESETS
from eval.context import EvalContext
from eval.evaluators.attacks import attack_records, describe_weak, weak_verdicts
from eval.strong_attacker import own_split
from eval.transforms import RAW
from jaxpriv.classify import StrongConfig

# The test preset's strong attacker, given the steps to converge on the crisp case.
CFG = dataclasses.replace(
    PRESETS["test"],
    strong=StrongConfig(features=(8, 8), kernels=(5, 3), pool=True, batch_size=32,
                        max_steps=200, eval_every=25, patience=2),
)  # fmt: skip
CHANNELS = ("a.x", "a.y", "a.z")


def _data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.normal(0, 0.3, (n, 32, 3)).astype(np.float32)
    x[:, :, 0] += np.where(y == 1, 1.0, -1.0)[:, None]
    return x, y.astype(np.int32)


def _released(x: np.ndarray) -> np.ndarray:
    negate = x.copy()
    negate[:, :, 0] *= -1
    erase = np.random.default_rng(9).normal(0, 0.3, x.shape).astype(np.float32)
    return np.stack([x, negate, erase])


@pytest.fixture(scope="module")
def data():
    x_train, y_train = _data(400, 0)
    x_test, y_test = _data(200, 1)
    return _released(x_train), y_train, _released(x_test), y_test


def _attack_data(data) -> AttackData:
    x_train, y_train, x_test, _ = data
    feats = {s: features_of(x, 50.0, CHANNELS) for s, x in (("train", x_train), ("test", x_test))}
    return AttackData(x_train, y_train, np.ones(len(y_train), bool), x_test, 2,
                      features=feats.__getitem__)  # fmt: skip


def test_families_are_registered_and_the_strong_one_is_staged() -> None:
    assert ALL_FAMILIES == ("cnn", "rf", "strong") and FAMILIES == ("cnn", "rf")
    assert REGISTRY["strong"].staged and not REGISTRY["cnn"].staged
    with pytest.raises(ValueError, match="registered twice"):
        register_family("cnn")(lambda *a, **k: None)


@pytest.mark.parametrize("family", ["cnn", "rf", "strong"])
def test_static_and_adaptive_attackers(data, family) -> None:
    *_, y_test = data
    acc = {}
    for mode in ("static", "adaptive"):
        pred, info = REGISTRY[family].attack(
            _attack_data(data), None, mode=mode, cfg=CFG, seed=0, execution="auto"
        )
        assert pred.shape == (3, len(y_test))
        acc[mode] = (pred == y_test).mean(axis=1)
    raw, negate, erase = 0, 1, 2
    assert acc["static"][raw] > 0.95 and acc["adaptive"][raw] > 0.95
    assert acc["static"][negate] < 0.05  # the raw model reads the flipped sign
    assert acc["adaptive"][negate] > 0.95  # a retrained one undoes the flip
    assert abs(acc["adaptive"][erase] - 0.5) < 0.15
    if family == "strong":  # early stopping on its own validation rows: facts per transform
        assert info["transforms"] == [0, 1, 2] and min(info["val_accuracy"]) < 0.8
        steps = zip(info["best_step"], info["steps"], strict=True)
        assert all(0 < best <= run <= CFG.strong.max_steps for best, run in steps)


def test_one_by_one_equals_vmapped_and_selection_only_skips(data) -> None:
    x_train, y_train, x_test, _ = data
    mask = np.ones(len(y_train), bool)
    run = {
        ex: cnn_attack(
            x_train, y_train, mask, x_test, 2, mode="adaptive", cfg=CFG.cnn, seed=0, execution=ex
        )
        for ex in ("sequential", "vmap")
    }
    np.testing.assert_array_equal(run["sequential"], run["vmap"])
    # A transform's attacker is the same whether it trains alone or with the others.
    some = cnn_attack(x_train, y_train, mask, x_test, 2, mode="adaptive", cfg=CFG.cnn, seed=0,
                      selected=np.array([False, True, False]))  # fmt: skip
    np.testing.assert_array_equal(some[1], run["vmap"][1])
    assert (some[[0, 2]] == UNJUDGED).all()
    assert resolve_execution("auto", "cpu") == "sequential"
    assert resolve_execution("auto", "gpu") == resolve_execution("auto", "tpu") == "vmap"
    with pytest.raises(ValueError, match="execution"):
        resolve_execution("parallel")


def test_masked_rows_never_train_the_cnn(data) -> None:
    x_train, y_train, x_test, y_test = data
    # Mislabel half the rows but mask them out: the attacker must be unaffected.
    y_bad = y_train.copy()
    y_bad[::2] = 1 - y_bad[::2]
    mask = np.ones(len(y_train), bool)
    mask[::2] = False
    pred = cnn_attack(x_train[:1], y_bad, mask, x_test[:1], 2, mode="adaptive", cfg=CFG.cnn, seed=0)
    assert (pred[0] == y_test).mean() > 0.95


def test_class_weights_balance_classes_and_zero_masked_rows() -> None:
    y = np.array([0, 0, 0, 1, 2, 2])
    mask = np.array([True, True, True, True, True, False])
    w = class_weights(y, mask, 3)
    assert w[5] == 0
    np.testing.assert_allclose([w[y == 0].sum(), w[3], w[4]], [1.0, 1.0, 1.0])


def test_unknown_mode_is_an_error(data) -> None:
    x_train, y_train, x_test, _ = data
    with pytest.raises(ValueError, match="mode"):
        cnn_attack(x_train, y_train, np.ones(len(y_train), bool), x_test, 2, mode="x",
                   cfg=CFG.cnn, seed=0)  # fmt: skip


def _windows(users: int, recordings_per_user: int, per_recording: int, stride: int, length: int):
    n = users * recordings_per_user * per_recording
    rec = np.repeat(np.arange(users * recordings_per_user), per_recording)
    return SimpleNamespace(
        subject=rec // recordings_per_user,
        recording=rec,
        start=np.tile(np.arange(per_recording) * stride, users * recordings_per_user),
        x=np.zeros((n, length, 1)),
    )


def test_own_validation_holds_out_users_or_recording_tails() -> None:
    win = _windows(users=10, recordings_per_user=2, per_recording=10, stride=5, length=10)
    gender = (win.subject % 2).astype(np.int32)  # 5 F, 5 M
    mask = win.subject != 9  # user 9's gender unknown
    train, val = own_split(win, True, gender, mask, fraction=0.2, seed=0)
    assert not (train & val).any() and not (val & ~mask).any()
    val_users = set(win.subject[val])
    assert not val_users & set(win.subject[train])  # whole users
    assert {u % 2 for u in val_users} == {0, 1} and len(val_users) == 2  # both genders
    # Known users: each recording's last 20% validates; windows overlapping them are dropped.
    train, val = own_split(win, False, gender, mask, fraction=0.2, seed=0)
    first = win.recording == 0
    assert list(np.flatnonzero(val & first)) == [8, 9]
    assert list(np.flatnonzero(train & first)) == list(range(7))  # start 35 + 10 > 40: out
    assert set(win.subject[val]) == set(range(9))  # every known user keeps training rows


def test_staged_plan_picks_the_front_and_the_policies() -> None:
    # utility, leakage of raw + 6 transforms: 1, 2, 3 on the front, 4 within 0.02 of it
    # (3's leakage is 0.01 lower, 2's utility 0.01 higher), 6 within 0.10 (of 1), 5 0.25.
    utility = np.array([1.00, 0.99, 0.95, 0.80, 0.94, 0.70, 0.90])
    leakage = np.array([0.45, 0.30, 0.10, 0.05, 0.11, 0.30, 0.40])
    d = attack_plan.front_distance(utility[1:], leakage[1:])
    np.testing.assert_allclose(d, [0, 0, 0, 0.01, 0.25, 0.10], atol=1e-12)
    selected, why = attack_plan.staged_selection(7, utility, leakage, margin=0.02, count=None)
    assert list(np.flatnonzero(selected)) == [0, 1, 2, 3, 4] and why["raw"] == [0]
    assert sorted(why["front"]) == [1, 2, 3, 4]
    two, why = attack_plan.staged_selection(7, utility, leakage, margin=0.02, count=2,
                                            policies={"fixed": [5]})  # fmt: skip
    assert why["front"] == [3, 2] and list(np.flatnonzero(two)) == [0, 2, 3, 6]
    # At the ceiling (gap within 0.20 of 1/2: accuracy >= 0.80): raw and 1 are left out,
    # even where the front or a policy asks for them; 2 (gap 0.10) is not.
    capped, why = attack_plan.staged_selection(
        7, utility, leakage, margin=0.02, count=None, policies={"fixed": [0]},
        ceiling=attack_plan.max_gap(0.5), saturation=0.20,
    )  # fmt: skip
    assert why["saturated"] == [0, 1] and list(np.flatnonzero(capped)) == [2, 3, 4]
    assert attack_plan.max_gap(0.5) == 0.5 and attack_plan.max_gap(0.25) == 0.75
    # The policies' choices, as the online evaluator makes them (index 0 = first sanitizer).
    chunk = np.repeat(np.arange(4), 5)
    act_ok = np.ones((3, 20), bool)
    gen_ok = np.zeros((3, 20), bool)
    gen_ok[0] = True  # sanitizer 0 leaks everywhere: never chosen
    gen_ok[1, :10] = np.tile([True, False], 5)  # chance on user 0's chunks
    gen_ok[2, 10:] = np.tile([True, False], 5)  # chance on user 1's chunks
    picks = attack_plan.policy_sanitizers(
        act_ok, gen_ok, chunk, np.array([0, 0, 1, 1]), weights=(0.2, 0.8), min_share=0.3
    )
    assert picks == {"fixed": [1], "personalized": [1, 2], "dynamic": [1, 2]}


def _context(pred: dict[str, np.ndarray], attackers: str = "staged") -> EvalContext:
    y = np.repeat([0, 1, 0, 1], 5)
    test = SimpleNamespace(subjects=("u0", "u1", "u2", "u3"), subject=np.repeat(np.arange(4), 5))
    split = SimpleNamespace(
        test=test, threat="held-out users", tasks=lambda: ("gender",),
        labels=lambda task, side: (y, np.ones(20, bool), 2),
    )  # fmt: skip
    transforms = SimpleNamespace(method="x", names=(RAW, "a", "b"))
    cfg = dataclasses.replace(PRESETS["test"], attackers=attackers)
    ctx = EvalContext(transforms, {"subject": split}, cfg, rate_hz=50.0, log=lambda line: None)
    for family, p in pred.items():
        for mode in ("static", "adaptive"):
            ctx._predictions[("subject", "gender", family, mode)] = p
    return ctx


def _right(y: np.ndarray, share: float) -> np.ndarray:
    out = y.copy()
    wrong = round((1 - share) * len(y))
    out[:wrong] = 1 - out[:wrong]
    return out


def test_strongest_names_the_winning_family_and_weak_verdicts_warn() -> None:
    y = np.repeat([0, 1, 0, 1], 5)
    never = np.full(20, UNJUDGED)
    pred = {  # rows: raw, a, b; strong skipped b (staged)
        "cnn": np.stack([_right(y, 0.90), _right(y, 0.60), _right(y, 0.55)]),
        "rf": np.stack([_right(y, 0.80), _right(y, 0.70), _right(y, 0.50)]),
        "strong": np.stack([_right(y, 1.00), _right(y, 0.50), never]),
    }
    records = attack_records(_context(pred), "privacy")
    best = {r["transform"]: r for r in records if r["family"] == "strongest"
            and r["mode"] == "adaptive"}  # fmt: skip
    assert {n: (b["attacker"], round(b["accuracy"], 4)) for n, b in best.items()} == {
        RAW: ("strong", 1.0),
        "a": ("rf", 0.7),
        "b": ("cnn", 0.55),
    }
    assert best["b"]["judged_by"] == ["cnn", "rf"] and best["b"]["cheap_only"]
    assert best["a"]["judged_by"] == ["cnn", "rf", "strong"] and not best["a"]["cheap_only"]
    assert not any(r["family"] == "strong" and r["mode"] == "static" for r in records)
    # b was judged by families 10+ points below strong on raw data: too weak. a was judged
    # by strong too (and lost on the release to rf): its verdict stands.
    weak = weak_verdicts(records, margin=0.02)
    assert [(w["transforms"], w["decided_by"], w["best_family"]) for w in weak] == [
        (["b"], "cnn", "strong")
    ]
    assert "10.0 points below strong" in describe_weak(weak[0])
    assert weak_verdicts(records, margin=0.15) == []


def test_attackers_all_and_cheap_choose_every_transform_or_none() -> None:
    y = np.repeat([0, 1, 0, 1], 5)
    pred = {f: np.stack([y, y, 1 - y]) for f in ("cnn", "rf")}
    everything = _context(pred, attackers="all")
    assert everything.selected("subject", "gender", "strong", "adaptive").all()
    assert not everything.applies("strong", "activity", "adaptive")  # privacy tasks only
    cheap = _context(pred, attackers="cheap")
    records = attack_records(cheap, "privacy")
    assert {r["family"] for r in records} == {"cnn", "rf", "strongest"}
    assert not any(r.get("cheap_only") for r in records)  # strong did not apply: not flagged


def test_the_quick_preset_measures_identity_not_gender_on_known_users() -> None:
    def split(kind: str) -> SimpleNamespace:
        tasks = ("activity", "gender") if kind == "subject" else ("activity", "gender", "identity")
        return SimpleNamespace(tasks=lambda: tasks)

    splits = {"subject": split("subject"), "trial": split("trial")}
    names = SimpleNamespace(method="x", names=(RAW,))
    quick = EvalContext(names, splits, PRESETS["quick"], rate_hz=50.0, log=lambda line: None)
    assert quick.tasks("subject") == ("activity", "gender")
    assert quick.tasks("trial") == ("activity", "identity")
    full = EvalContext(names, splits, PRESETS["full"], rate_hz=50.0, log=lambda line: None)
    assert full.tasks("trial") == ("activity", "gender", "identity")
    quick.plan_attacks({"utility", "privacy"})
    full.plan_attacks({"utility", "privacy"})
    # Per family and mode: cnn, rf static + adaptive (4), strong adaptive (1), per task.
    assert quick.planned_attacks == 4 * 4 + 2 * 1 and full.planned_attacks == 5 * 4 + 3 * 1
