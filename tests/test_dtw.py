"""The ``dtw`` evaluator: dtaidistance's DTW on hand-worked cases and its band, the k-NN
rank on users with known answers, and the evaluator on a tiny split."""

from __future__ import annotations

import contextlib
from types import SimpleNamespace

import numpy as np
import pytest
from dtaidistance import dtw_ndim

from eval.evaluators.dtw import dtw, dtw_cross, dtw_paired, dtw_user_ranks


def one(a, b, window=None) -> float:
    """DTW of two 1-D or (T, C) series through the evaluator's paired path."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    a, b = (a[:, None] if a.ndim == 1 else a), (b[:, None] if b.ndim == 1 else b)
    return float(dtw_paired(a[None], b[None], window=window)[0])


def test_hand_computed_distances():
    # a = [0, 1, 2], b = [0, 2]; squared costs c[i, j] = (a_i - b_j)^2:
    #   c = [[0, 4], [1, 1], [4, 0]]
    #   D = [[0, 4], [1, 1 + min(4, 0, 1) = 1], [4 + 1 = 5, 0 + min(1, 1, 5) = 1]]  -> sqrt(1)
    assert one([0, 1, 2], [0, 2]) == pytest.approx(1.0, abs=1e-12)
    # Repeats are free.
    assert one([1, 2, 3], [1, 1, 2, 3, 3]) == 0.0
    # Two channels: the cost is the squared Euclidean distance of the vectors, sqrt at the end:
    # both rows of a match the single row of b, 0 + (9 + 16) -> 5.
    assert one([[0, 0], [3, 4]], [[0, 0]]) == pytest.approx(5.0, abs=1e-12)
    # Three channels, T = S = 2: c = [[1, 18], [2, 9]]; the diagonal path costs 1 + 9, the
    # others 1 + 2 + 9 and 1 + 18 + 9 -> sqrt(10).
    assert one([[0, 0, 0], [1, 1, 1]], [[1, 0, 0], [3, 3, 0]]) == pytest.approx(
        np.sqrt(10.0), abs=1e-12
    )


def test_band():
    # a = [0, 0, 3], b = [0, 3, 3]: the path (0,0) (1,0) (2,1) (2,2) costs 0 but leaves the
    # diagonal, so window=1 (diagonal only, equal lengths) pays (0 - 3)^2 at (1, 1) -> 3;
    # window=2 allows |i - j| <= 1, enough for the free path.
    a, b = [0, 0, 3], [0, 3, 3]
    assert one(a, b) == 0.0
    assert one(a, b, window=1) == pytest.approx(3.0, abs=1e-12)
    assert one(a, b, window=2) == 0.0
    # window=1 with equal lengths is the Euclidean distance; 0 means no band, as None.
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(20, 3)), rng.normal(size=(20, 3))
    assert one(x, y, window=1) == pytest.approx(np.sqrt(np.sum((x - y) ** 2)), rel=1e-12)
    assert one(x, y, window=0) == one(x, y) == one(x, y, window=100)
    assert one(x, y) < one(x, y, window=3) < one(x, y, window=1)
    # Unequal lengths: the band widens by |T - S| on the longer side, so a path exists.
    # a = [0, 1, 2, 3] (T = 4) against b = [0, 3] (S = 2): window=1 allows the cells with
    # i - 3 < j < i + 1, and the cheapest path, (0,0) (1,0) (2,1) (3,1) costing
    # 0 + 1 + 1 + 0 -> sqrt(2), lies inside, as without a band.
    assert one([0, 1, 2, 3], [0, 3], window=1) == pytest.approx(np.sqrt(2.0), abs=1e-12)
    assert one([0, 1, 2, 3], [0, 3]) == pytest.approx(np.sqrt(2.0), abs=1e-12)
    # A shifted copy: a narrow band binds, as in dtaidistance's pure-Python reference.
    base = np.cumsum(np.random.default_rng(7).normal(size=40))
    for a, b in [(base[:30], base[6:36]), (base[:30], base[8:40]), (base[5:40], base[:26])]:
        assert one(a, b, window=2) > one(a, b) + 1.0
        for window in (None, 2):
            want = dtw_ndim.distance(a[:, None], b[:, None], window=window)  # pure Python
            assert one(a, b, window=window) == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("window", [None, 1, 4])
@pytest.mark.parametrize("T,S", [(20, 20), (17, 23)])
def test_cross_and_paired_match_the_reference(T, S, window):
    rng = np.random.default_rng(1000 * T + S)
    a = rng.normal(size=(3, T, 2)).astype(np.float32)  # float32 in, as the harness has
    b = rng.normal(size=(4, S, 2)).astype(np.float32)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    want = np.array([[dtw_ndim.distance(x, y, window=window) for y in b64] for x in a64])
    got = dtw_cross(a, b, window=window)
    assert got.shape == (3, 4) and got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=1e-12)
    np.testing.assert_allclose(dtw_cross(b, a, window=window), want.T, rtol=1e-12)
    np.testing.assert_allclose(dtw_paired(a, b[:3], window=window), np.diag(want), rtol=1e-12)
    assert dtw_cross(a[:0], b).shape == (0, 4)
    assert np.all(dtw_paired(a, a, window=window) == 0)


def _sinusoid_users(rng, n_users, n_windows, T=40):
    """User u: frequency and level of its own, random phase and noise per window."""
    t = np.arange(T) / T
    x, user = [], []
    for u in range(n_users):
        phase = rng.uniform(0, 2 * np.pi, size=(n_windows, 1))
        wave = np.sin(2 * np.pi * (1 + u) * t + phase) + [0.0, 1.0, 3.0, 6.0][u]
        x.append(np.stack([wave, 0.5 * wave], -1) + 0.05 * rng.normal(size=(n_windows, T, 2)))
        user += [10 + u] * n_windows
    return np.concatenate(x).astype(np.float32), np.array(user)


def test_user_ranks_known_answers():
    rng = np.random.default_rng(0)
    ref_x, ref_u = _sinusoid_users(rng, 4, 3)
    query_x, query_u = _sinusoid_users(rng, 4, 2)  # fresh windows of the same users

    same = dtw_user_ranks(ref_x, ref_u, ref_x, ref_u)  # identity transform
    np.testing.assert_array_equal(same["users"], [10, 11, 12, 13])
    np.testing.assert_array_equal(same["reference_users"], [10, 11, 12, 13])
    np.testing.assert_array_equal(same["rank"], [0, 0, 0, 0])
    assert same["mean_rank"] == 0.0 and same["top1"] == 1.0
    np.testing.assert_array_equal(np.diag(same["user_distance"]), 0.0)

    fresh = dtw_user_ranks(query_x, query_u, ref_x, ref_u, window=10)
    np.testing.assert_array_equal(fresh["rank"], [0, 0, 0, 0])
    assert fresh["window"] == 10

    # Swap users 10 and 11 (levels 0 and 1): each now looks like the other, whose own
    # distance is 0-ish; the next nearest is itself (level gap 1 < 2), so rank exactly 1.
    swapped_u = query_u.copy()
    swapped_u[query_u == 10], swapped_u[query_u == 11] = 11, 10
    swap = dtw_user_ranks(query_x, swapped_u, ref_x, ref_u)
    np.testing.assert_array_equal(swap["rank"], [1, 1, 0, 0])
    assert swap["mean_rank"] == 0.5 and swap["top1"] == 0.5

    # user_distance is the mean over query windows of the min over reference windows.
    q64, r64 = query_x.astype(np.float64), ref_x.astype(np.float64)
    dist = np.array([[dtw_ndim.distance(q, r) for r in r64] for q in q64])
    want = np.array(
        [
            [dist[query_u == k][:, ref_u == u].min(1).mean() for u in range(10, 14)]
            for k in range(10, 14)
        ]
    )
    got = dtw_user_ranks(query_x, query_u, ref_x, ref_u)["user_distance"]
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_user_ranks_ties_count_against_the_user():
    # Every query window is the same constant series: all users are equally near.
    ref_x = np.zeros((4, 10, 1), np.float32)
    ref_x[2:] = 2.0
    query = dtw_user_ranks(np.ones((2, 10, 1)), np.array([0, 1]), ref_x, np.array([0, 0, 1, 1]))
    np.testing.assert_array_equal(query["rank"], [1, 1])
    assert query["top1"] == 0.0


def test_bad_inputs_raise():
    x = np.zeros((2, 8, 3), np.float32)
    with pytest.raises(ValueError, match="a_NxTxC"):
        dtw_cross(x[0], x)
    with pytest.raises(ValueError, match="same channels"):
        dtw_cross(x, x[..., :2])
    with pytest.raises(ValueError, match="same windows and channels"):
        dtw_paired(x, x[:1])
    with pytest.raises(ValueError, match="window"):
        dtw_cross(x, x, window=-1)
    with pytest.raises(ValueError, match="window"):
        dtw_paired(x, x, window=1.5)
    users = np.array([0, 1])
    with pytest.raises(ValueError, match=r"query users \[1\]"):
        dtw_user_ranks(x, users, x, np.array([0, 0]))
    with pytest.raises(ValueError, match="query_user_N"):
        dtw_user_ranks(x, np.array([0]), x, users)
    with pytest.raises(ValueError, match="reference_user_M"):
        dtw_user_ranks(x, users, x, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="non-finite"):
        dtw_user_ranks(np.full_like(x, np.nan), users, x, users)


def test_evaluator_on_a_tiny_split():
    rng = np.random.default_rng(1)
    train_x, train_u = _sinusoid_users(rng, 4, 4)
    test_x, test_u = _sinusoid_users(rng, 4, 3)
    noisy = test_x + rng.normal(0, 1.0, test_x.shape).astype(np.float32)
    split = SimpleNamespace(
        test=SimpleNamespace(x=test_x, subject=test_u),
        train=SimpleNamespace(x=train_x, subject=train_u),
        released_test=np.stack([test_x, noisy]),
        released_train=np.stack([train_x, train_x]),
        threat="known users",
    )

    class Transforms:
        names = ("raw", "noisy")

        def __len__(self) -> int:
            return 2

    config = SimpleNamespace(
        dtw_pairs=5, dtw_queries_per_user=2, dtw_references_per_user=3, dtw_window=None
    )
    ctx = SimpleNamespace(
        config=config,
        seed=0,
        splits={"subject": split, "trial": split},
        transforms=Transforms(),
        step=lambda what: contextlib.nullcontext(),
    )
    out = dtw(ctx)
    assert out["distance"]["windows"] == 5
    assert out["distance"]["per_transform"]["raw"] == 0.0
    assert out["distance"]["per_transform"]["noisy"] > 1.0
    rank = out["rank"]
    assert (rank["users"], rank["queries"], rank["references"]) == (4, 8, 12)
    assert rank["per_transform"]["raw"] == {"mean_rank": 0.0, "top1": 1.0}
    assert dtw(ctx) == out  # the seed fixes the samples
    ctx.splits = {"subject": split}
    assert "skipped" in dtw(ctx)["rank"]
