"""Tests of DySan's online selection (fixed / personalized / dynamic) and its analyses."""

from __future__ import annotations

import numpy as np
import pytest

from jaxpriv.online import (
    chunk_accuracy,
    chunk_ids,
    fingerprint_uniqueness,
    policy_outcome,
    select,
    selected_sets,
    selection_scores,
    subset_table,
)

P = 4  # windows per chunk in the constructed case
USER_A, USER_B = 10, 20


def _windows(acc: float) -> np.ndarray:
    """A chunk of P windows whose mean correctness is ``acc`` (a multiple of 1/P)."""
    return (np.arange(P) < round(acc * P)).astype(float)


@pytest.fixture
def case():
    """V=3, users A and B with 4 chunks each, windows shuffled out of stream order.

    Per chunk (activity acc, gender acc) -> score 0.2 * act + 0.8 * (1 - |0.5 - gen|):
    - variant 0: (1, 1) -> 0.6 everywhere (leaks gender), but (1, 0.5) -> 1.0 on A's chunk 3;
    - variant 1: (0.5, 0.5) -> 0.9 everywhere;
    - variant 2: (0, 1) -> 0.4 on A's chunks, (1, 0.5) -> 1.0 on B's chunks.
    """
    act_VxK = np.array([[1.0] * 8, [0.5] * 8, [0.0] * 4 + [1.0] * 4])
    gen_VxK = np.array([[1, 1, 1, 0.5, 1, 1, 1, 1], [0.5] * 8, [1.0] * 4 + [0.5] * 4])
    act_VxN = np.stack([np.concatenate([_windows(a) for a in row]) for row in act_VxK])
    gen_VxN = np.stack([np.concatenate([_windows(g) for g in row]) for row in gen_VxK])
    user_N = np.repeat([USER_A, USER_B], 4 * P)
    time_N = np.tile(np.arange(4 * P) * 0.5, 2) + 100.0
    perm = np.random.default_rng(0).permutation(len(user_N))  # input order != stream order
    return {
        "user_N": user_N[perm],
        "order_N": time_N[perm],
        "act_VxN": act_VxN[:, perm],
        "gen_VxN": gen_VxN[:, perm],
        "score_VxK": 0.2 * act_VxK + 0.8 * (1 - np.abs(0.5 - gen_VxK)),
    }


def _chunks_and_scores(case):
    chunk_N, chunk_user_K = chunk_ids(case["user_N"], case["order_N"], P)
    score_VxK = selection_scores(case["act_VxN"], case["gen_VxN"], chunk_N, len(chunk_user_K))
    return chunk_N, chunk_user_K, score_VxK


def test_constructed_case_scores_and_choices(case):
    _, chunk_user_K, score_VxK = _chunks_and_scores(case)
    np.testing.assert_array_equal(chunk_user_K, [USER_A] * 4 + [USER_B] * 4)
    np.testing.assert_allclose(score_VxK, case["score_VxK"])
    # Fixed: mean scores 0.65 / 0.9 / 0.7 -> variant 1 for all.
    np.testing.assert_array_equal(select("fixed", score_VxK, chunk_user_K), [1] * 8)
    # Personalized: A's means 0.7 / 0.9 / 0.4 -> 1; B's 0.6 / 0.9 / 1.0 -> 2.
    np.testing.assert_array_equal(
        select("personalized", score_VxK, chunk_user_K), [1] * 4 + [2] * 4
    )
    # Dynamic also takes variant 0 on A's chunk 3, where it stops leaking.
    np.testing.assert_array_equal(
        select("dynamic", score_VxK, chunk_user_K), [1, 1, 1, 0, 2, 2, 2, 2]
    )


def test_constructed_case_outcomes(case):
    chunk_N, chunk_user_K, score_VxK = _chunks_and_scores(case)
    dyn = policy_outcome(
        select("dynamic", score_VxK, chunk_user_K),
        chunk_N,
        case["user_N"],
        case["act_VxN"],
        case["gen_VxN"],
    )
    np.testing.assert_array_equal(dyn["users"], [USER_A, USER_B])
    np.testing.assert_allclose(dyn["activity_per_user"], [(0.5 * 3 + 1) / 4, 1.0])
    np.testing.assert_allclose(dyn["gender_per_user"], [0.5, 0.5])
    assert dyn["activity"] == pytest.approx((0.625 + 1.0) / 2)
    assert dyn["gender"] == pytest.approx(0.5)
    assert dyn["activity_ok"].shape == case["user_N"].shape
    # Evaluation arrays may differ from the selector's: outcome reads only the former.
    eval_act_VxN = np.zeros_like(case["act_VxN"])
    eval_act_VxN[1] = 1.0
    fixed = policy_outcome(
        select("fixed", score_VxK, chunk_user_K),
        chunk_N,
        case["user_N"],
        eval_act_VxN,
        1 - case["gen_VxN"],
    )
    assert fixed["activity"] == 1.0 and fixed["gender"] == pytest.approx(0.5)
    np.testing.assert_allclose(fixed["activity_per_user"], [1.0, 1.0])


def test_policy_ordering_on_random_scores():
    rng = np.random.default_rng(1)
    for _ in range(5):
        score_VxK = rng.random((7, 40))
        chunk_user_K = rng.integers(0, 5, 40)
        mean = {
            pol: score_VxK[select(pol, score_VxK, chunk_user_K), np.arange(40)].mean()
            for pol in ("fixed", "personalized", "dynamic")
        }
        assert mean["dynamic"] >= mean["personalized"] >= mean["fixed"]
        assert mean["dynamic"] == pytest.approx(score_VxK.max(0).mean())
        assert mean["fixed"] == pytest.approx(score_VxK.mean(1).max())


def test_available_restricts_choices_and_ties_go_low():
    rng = np.random.default_rng(2)
    score_VxK = rng.random((6, 30))
    chunk_user_K = rng.integers(0, 3, 30)
    available = np.array([False, True, False, True, True, False])
    sub = np.flatnonzero(available)
    for pol in ("fixed", "personalized", "dynamic"):
        choice = select(pol, score_VxK, chunk_user_K, available=available)
        assert set(choice.tolist()) <= set(sub.tolist())
        np.testing.assert_array_equal(choice, sub[select(pol, score_VxK[sub], chunk_user_K)])
    tied_VxK = np.ones((4, 3))
    for pol in ("fixed", "personalized", "dynamic"):
        np.testing.assert_array_equal(select(pol, tied_VxK, np.array([0, 0, 1])), [0, 0, 0])
        np.testing.assert_array_equal(
            select(pol, tied_VxK, np.array([0, 0, 1]), available=np.array([0, 0, 1, 1])),
            [2, 2, 2],
        )
    with pytest.raises(ValueError, match="unknown policy"):
        select("greedy", score_VxK, chunk_user_K)
    with pytest.raises(ValueError, match="no variant"):
        select("dynamic", score_VxK, chunk_user_K, available=np.zeros(6, bool))


def test_chunk_ids_hand_case():
    # User 3: windows 5, 1, 6, 3 in time order; user 7: 2, 4, 0, 8, 7.
    user_N = np.array([7, 3, 7, 3, 7, 3, 3, 7, 7])
    order_N = np.array([5.0, 2.0, 1.0, 9.0, 3.0, 0.0, 4.0, 8.0, 6.5])
    chunk_N, chunk_user_K = chunk_ids(user_N, order_N, 3)
    np.testing.assert_array_equal(chunk_N, [2, 0, 2, 1, 2, 0, 0, 3, 3])
    np.testing.assert_array_equal(chunk_user_K, [3, 3, 7, 7])
    assert chunk_N.dtype == np.int32
    # p = 1: one chunk per window, numbered in stream order.
    chunk1_N, user1_K = chunk_ids(user_N, order_N, 1)
    np.testing.assert_array_equal(chunk1_N, [6, 1, 4, 3, 5, 0, 2, 8, 7])
    np.testing.assert_array_equal(user1_K, [3] * 4 + [7] * 5)
    # p longer than every stream: one chunk per user; equal keys keep input order.
    big_N, big_K = chunk_ids(np.array(["b", "a", "b"]), np.zeros(3), 10)
    np.testing.assert_array_equal(big_N, [1, 0, 1])
    np.testing.assert_array_equal(big_K, ["a", "b"])
    with pytest.raises(ValueError, match="p must be"):
        chunk_ids(user_N, order_N, 0)


def test_chunk_accuracy_hand_case():
    ok_VxN = np.array([[1, 0, 1, 1], [0, 0, 1, 0]], bool)
    acc_VxK = chunk_accuracy(ok_VxN, np.array([0, 0, 1, 2]), 3)
    np.testing.assert_allclose(acc_VxK, [[0.5, 1, 1], [0, 1, 0]])
    with pytest.raises(ValueError, match="no windows"):
        chunk_accuracy(ok_VxN, np.array([0, 0, 2, 2]), 3)
    with pytest.raises(ValueError, match="lie in"):
        chunk_accuracy(ok_VxN, np.array([0, 0, 1, 3]), 3)


def test_subset_table_full_set_and_reproducibility(case):
    chunk_N, chunk_user_K, score_VxK = _chunks_and_scores(case)
    args = (score_VxK, chunk_user_K, chunk_N, case["user_N"], case["act_VxN"], case["gen_VxN"])
    rows = subset_table([3, 1, 2], *args, draws=10, seed=3)
    full = policy_outcome(
        select("dynamic", score_VxK, chunk_user_K),
        chunk_N,
        case["user_N"],
        case["act_VxN"],
        case["gen_VxN"],
    )
    assert [r["size"] for r in rows] == [3, 1, 2]
    assert rows[0]["draws"] == 1 and rows[0]["activity_std"] == 0.0
    assert rows[0]["activity"] == pytest.approx(full["activity"])
    assert rows[0]["gender"] == pytest.approx(full["gender"])
    # S = 1: no choice, so each draw is that variant's pooled accuracy.
    pooled_act_V = case["act_VxN"].mean(1)
    subsets = rows[1]["subsets"]
    assert subsets.shape == (10, 1)
    assert rows[1]["activity"] == pytest.approx(pooled_act_V[subsets[:, 0]].mean())
    assert rows[2]["subsets"].shape == (10, 2)
    assert np.all(rows[2]["subsets"][:, 0] < rows[2]["subsets"][:, 1])
    again = subset_table([3, 1, 2], *args, draws=10, seed=3)
    for r, a in zip(rows, again, strict=True):
        np.testing.assert_array_equal(r["subsets"], a["subsets"])
        assert r["activity"] == a["activity"] and r["gender"] == a["gender"]
    # A row depends on (seed, size) only, not on the other sizes requested.
    alone = subset_table([2], *args, draws=10, seed=3)[0]
    np.testing.assert_array_equal(alone["subsets"], rows[2]["subsets"])
    other = subset_table([2], *args, draws=10, seed=4)[0]
    assert not np.array_equal(other["subsets"], rows[2]["subsets"])
    with pytest.raises(ValueError, match=r"\[4\].*outside 1\.\.3"):
        subset_table([2, 4], *args)


def test_selected_sets(case):
    _, chunk_user_K, score_VxK = _chunks_and_scores(case)
    sets = selected_sets(select("dynamic", score_VxK, chunk_user_K), chunk_user_K)
    assert sets == {USER_A: frozenset({0, 1}), USER_B: frozenset({2})}
    assert all(type(u) is int for u in sets)


def test_uniqueness_hand_cases():
    same = fingerprint_uniqueness({"a": frozenset({4}), "b": frozenset({4})}, (1,))
    assert same == {1: {"uniqueness": 0.0, "users": 2}}
    disjoint = {"a": frozenset({0, 1, 2}), "b": frozenset({3, 4, 5}), "c": frozenset({6, 7})}
    out = fingerprint_uniqueness(disjoint, (1, 2, 3), draws=20)
    assert out[1] == {"uniqueness": 1.0, "users": 3}
    assert out[2] == {"uniqueness": 1.0, "users": 3}
    assert out[3] == {"uniqueness": 1.0, "users": 2}  # c has only 2 models: skipped
    # a's sets are all inside b's: never unique; b is unique exactly when it draws model 3.
    nested = {"a": frozenset({0, 1, 2}), "b": frozenset({0, 1, 2, 3})}
    out = fingerprint_uniqueness(nested, (1, 3, 4, 5), draws=4000, seed=1)
    assert out[1]["uniqueness"] == pytest.approx((0 + 1 / 4) / 2, abs=0.02)
    assert out[3]["uniqueness"] == pytest.approx((0 + 3 / 4) / 2, abs=0.02)
    assert out[4] == {"uniqueness": 1.0, "users": 1}
    assert out[5]["users"] == 0 and np.isnan(out[5]["uniqueness"])
    assert fingerprint_uniqueness(nested, (1, 3), draws=50, seed=7) == fingerprint_uniqueness(
        nested, (1, 3), draws=50, seed=7
    )
    # A lone user is unique: only OTHER users' sets count.
    assert fingerprint_uniqueness({"a": frozenset({0})}, (1,))[1]["uniqueness"] == 1.0
