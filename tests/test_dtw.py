"""jaxpriv.dtw against dtaidistance (the reference), hand-worked cases and the k-NN rank."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from jaxpriv.dtw import (
    _chunk_size,
    _pairwise_block,
    dtw_distance,
    dtw_distance_batch,
    dtw_pairwise,
    dtw_user_ranks,
)

dtaidistance = pytest.importorskip("dtaidistance")
from dtaidistance import dtw as dtai_dtw  # noqa: E402
from dtaidistance import dtw_ndim  # noqa: E402

RTOL = 1e-4


def _ref_matrix(a_NxTxC, b_MxSxC, window):
    """dtaidistance's pure-Python multivariate DTW (float64) for every pair."""
    return np.array(
        [
            [
                dtw_ndim.distance(a.astype(np.float64), b.astype(np.float64), window=window)
                for b in b_MxSxC
            ]
            for a in a_NxTxC
        ]
    )


@pytest.mark.parametrize("T,S", [(20, 20), (17, 23), (23, 17)])
@pytest.mark.parametrize("window", [None, 1, 3, 8])
def test_pairwise_matches_dtaidistance_ndim(T, S, window):
    rng = np.random.default_rng(1000 * T + S)
    a_NxTxC = rng.normal(size=(3, T, 3)).astype(np.float32)
    b_MxSxC = rng.normal(size=(4, S, 3)).astype(np.float32)
    got_NxM = dtw_pairwise(a_NxTxC, b_MxSxC, window=window)
    want_NxM = _ref_matrix(a_NxTxC, b_MxSxC, window)
    assert got_NxM.shape == (3, 4) and got_NxM.dtype == np.float32
    np.testing.assert_allclose(got_NxM, want_NxM, rtol=RTOL)


def test_window_changes_the_result_as_dtaidistance_does():
    # Shifted copies: a narrow band must cost more than no band, for T == S and T != S.
    rng = np.random.default_rng(7)
    base = np.cumsum(rng.normal(size=40)).astype(np.float32)
    for a, b in [(base[:30], base[6:36]), (base[:30], base[8:40]), (base[5:40], base[:26])]:
        a_Tx1, b_Sx1 = a[:, None], b[:, None]
        free = float(dtw_distance(a_Tx1, b_Sx1))
        band = float(dtw_distance(a_Tx1, b_Sx1, window=2))
        assert band > free + 1.0  # the band does bind
        for window in (None, 2):
            want = dtw_ndim.distance(
                a_Tx1.astype(np.float64), b_Sx1.astype(np.float64), window=window
            )
            got = float(dtw_distance(a_Tx1, b_Sx1, window=window))
            np.testing.assert_allclose(got, want, rtol=RTOL)


@pytest.mark.parametrize("T,S,window", [(30, 30, None), (25, 31, 4), (31, 25, 2)])
def test_single_channel_matches_dtaidistance_dtw(T, S, window):
    rng = np.random.default_rng(T * S)
    a_T = rng.normal(size=T).astype(np.float32)
    b_S = rng.normal(size=S).astype(np.float32)
    want = dtai_dtw.distance(a_T.astype(np.float64), b_S.astype(np.float64), window=window)
    want_c = dtai_dtw.distance_fast(a_T.astype(np.float64), b_S.astype(np.float64), window=window)
    np.testing.assert_allclose(want, want_c, rtol=1e-12)  # the two references agree
    np.testing.assert_allclose(
        float(dtw_distance(a_T[:, None], b_S[:, None], window=window)), want, rtol=RTOL
    )
    np.testing.assert_allclose(float(dtw_distance(a_T, b_S, window=window)), want, rtol=RTOL)


def test_window_zero_means_no_band_and_large_window_is_free():
    rng = np.random.default_rng(3)
    a_TxC = rng.normal(size=(15, 2)).astype(np.float32)
    b_SxC = rng.normal(size=(11, 2)).astype(np.float32)
    free = float(dtw_distance(a_TxC, b_SxC))
    assert float(dtw_distance(a_TxC, b_SxC, window=0)) == free
    assert float(dtw_distance(a_TxC, b_SxC, window=100)) == free
    # dtaidistance's C code (and its docs) read window=0 as "no band".
    want = dtw_ndim.distance_fast(a_TxC.astype(np.float64), b_SxC.astype(np.float64), window=0)
    np.testing.assert_allclose(free, want, rtol=RTOL)


def test_hand_computed_1d():
    # a = [0, 1, 2], b = [0, 2]; squared costs c[i, j] = (a_i - b_j)^2:
    #   c = [[0, 4], [1, 1], [4, 0]]
    #   D = [[0, 4], [1, 1 + min(4, 0, 1) = 1], [4 + 1 = 5, 0 + min(1, 1, 5) = 1]]  -> sqrt(1)
    a, b = np.array([0.0, 1.0, 2.0], np.float32), np.array([0.0, 2.0], np.float32)
    assert float(dtw_distance(a, b)) == pytest.approx(1.0, abs=1e-6)
    # Repeats are free: [1, 2, 3] vs [1, 1, 2, 3, 3].
    assert float(dtw_distance(np.array([1.0, 2, 3]), np.array([1.0, 1, 2, 3, 3]))) == 0.0
    # a = [0, 0, 3], b = [0, 3, 3]: path (0,0) (1,0) (2,1) (2,2) costs 0, but it leaves the
    # diagonal, so window=1 (diagonal only, equal lengths) pays (0 - 3)^2 at (1, 1) -> 3;
    # window=2 allows |i - j| <= 1, enough for the free path.
    a, b = np.array([0.0, 0.0, 3.0]), np.array([0.0, 3.0, 3.0])
    assert float(dtw_distance(a, b)) == 0.0
    assert float(dtw_distance(a, b, window=1)) == pytest.approx(3.0, abs=1e-6)
    assert float(dtw_distance(a, b, window=2)) == 0.0
    # Two channels: cost is the squared Euclidean distance of the vectors, sqrt at the end.
    a2 = np.array([[0.0, 0.0], [3.0, 4.0]])
    assert float(dtw_distance(a2, np.zeros((1, 2)))) == pytest.approx(5.0, abs=1e-6)


def test_identical_series_and_symmetry():
    rng = np.random.default_rng(11)
    a_TxC = rng.normal(size=(40, 6)).astype(np.float32)
    b_SxC = rng.normal(size=(33, 6)).astype(np.float32)
    assert float(dtw_distance(a_TxC, a_TxC)) == 0.0
    assert float(dtw_distance(a_TxC, a_TxC, window=1)) == 0.0
    for window in (None, 1, 5):
        ab = float(dtw_distance(a_TxC, b_SxC, window=window))
        ba = float(dtw_distance(b_SxC, a_TxC, window=window))
        assert ab > 0
        np.testing.assert_allclose(ab, ba, rtol=1e-6)


def test_vmap_jit_and_pairwise_equal_a_loop():
    rng = np.random.default_rng(5)
    a_NxTxC = rng.normal(size=(4, 21, 2)).astype(np.float32)
    b_MxSxC = rng.normal(size=(3, 18, 2)).astype(np.float32)
    loop_NxM = np.array([[float(dtw_distance(a, b, window=4)) for b in b_MxSxC] for a in a_NxTxC])

    one_to_many = jax.vmap(lambda b: dtw_distance(a_NxTxC[0], b, window=4))
    np.testing.assert_allclose(one_to_many(b_MxSxC), loop_NxM[0], rtol=1e-6)
    all_pairs = jax.jit(
        jax.vmap(jax.vmap(lambda a, b: dtw_distance(a, b, window=4), (None, 0)), (0, None))
    )
    np.testing.assert_allclose(all_pairs(a_NxTxC, b_MxSxC), loop_NxM, rtol=1e-6)
    np.testing.assert_allclose(dtw_pairwise(a_NxTxC, b_MxSxC, window=4), loop_NxM, rtol=1e-6)
    paired_N = dtw_distance_batch(a_NxTxC[:3], b_MxSxC, window=4)
    np.testing.assert_allclose(paired_N, np.diag(loop_NxM[:3]), rtol=1e-6)


def test_blocks_give_the_same_matrix_and_compile_once():
    rng = np.random.default_rng(9)
    a_NxTxC = rng.normal(size=(5, 13, 2)).astype(np.float32)
    b_MxSxC = rng.normal(size=(7, 13, 2)).astype(np.float32)
    one_block = dtw_pairwise(a_NxTxC, b_MxSxC)
    before = _pairwise_block._cache_size()
    blocks = dtw_pairwise(a_NxTxC, b_MxSxC, block=8)  # 35 pairs: 4 full blocks + 3 pairs
    assert _pairwise_block._cache_size() == before + 1  # the padded last block reuses it
    np.testing.assert_allclose(blocks, one_block, rtol=1e-6)
    np.testing.assert_allclose(dtw_pairwise(a_NxTxC, b_MxSxC, block=1), one_block, rtol=1e-6)
    np.testing.assert_allclose(one_block, _ref_matrix(a_NxTxC, b_MxSxC, None), rtol=RTOL)
    assert dtw_pairwise(a_NxTxC[:0], b_MxSxC).shape == (0, 7)


def test_long_series_run_in_chunks():
    # 300 x 280 series: a few pairs per kernel call, so 9 pairs take 3 chunks, one padded.
    T, S = 300, 280
    assert 9 % _chunk_size(T, S) != 0 and _chunk_size(T, S) < 9
    rng = np.random.default_rng(21)
    a_NxTxC = np.cumsum(rng.normal(size=(3, T, 2)), axis=1).astype(np.float32)
    b_MxSxC = np.cumsum(rng.normal(size=(3, S, 2)), axis=1).astype(np.float32)
    want_NxM = np.array(
        [
            [
                dtw_ndim.distance_fast(
                    a.astype(np.float64), b.astype(np.float64), use_pruning=False
                )
                for b in b_MxSxC
            ]
            for a in a_NxTxC
        ]
    )
    np.testing.assert_allclose(dtw_pairwise(a_NxTxC, b_MxSxC), want_NxM, rtol=RTOL)
    np.testing.assert_allclose(dtw_distance_batch(a_NxTxC, b_MxSxC), np.diag(want_NxM), rtol=RTOL)


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
    np.testing.assert_allclose(np.diag(same["user_distance"]), 0.0, atol=1e-6)

    fresh = dtw_user_ranks(query_x, query_u, ref_x, ref_u, window=10)
    np.testing.assert_array_equal(fresh["rank"], [0, 0, 0, 0])

    # Swap users 10 and 11 (levels 0 and 1): each now looks like the other, whose own
    # distance is 0-ish; the next nearest is itself (level gap 1 < 2), so rank exactly 1.
    swapped_u = query_u.copy()
    swapped_u[query_u == 10], swapped_u[query_u == 11] = 11, 10
    swap = dtw_user_ranks(query_x, swapped_u, ref_x, ref_u)
    np.testing.assert_array_equal(swap["rank"], [1, 1, 0, 0])
    assert swap["mean_rank"] == 0.5 and swap["top1"] == 0.5

    # user_distance is the mean over query windows of the min over reference windows.
    dist_NxM = _ref_matrix(query_x, ref_x, None)
    want_UxL = np.array(
        [
            [dist_NxM[query_u == k][:, ref_u == u].min(1).mean() for u in range(10, 14)]
            for k in range(10, 14)
        ]
    )
    np.testing.assert_allclose(
        dtw_user_ranks(query_x, query_u, ref_x, ref_u)["user_distance"], want_UxL, rtol=RTOL
    )


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
        dtw_pairwise(x[0], x)
    with pytest.raises(ValueError, match="b_MxSxC"):
        dtw_pairwise(x, x[..., 0])
    with pytest.raises(ValueError, match="same channels"):
        dtw_pairwise(x, x[..., :2])
    with pytest.raises(ValueError, match="block"):
        dtw_pairwise(x, x, block=0)
    with pytest.raises(ValueError, match="window"):
        dtw_pairwise(x, x, window=-1)
    with pytest.raises(ValueError, match="window"):
        dtw_distance(x[0], x[1], window=1.5)
    with pytest.raises(ValueError, match="same channels"):
        dtw_distance(x[0], x[1, :, :2])
    with pytest.raises(ValueError, match="a_TxC"):
        dtw_distance(x, x[0])
    users = np.array([0, 1])
    with pytest.raises(ValueError, match=r"query users \[1\]"):
        dtw_user_ranks(x, users, x, np.array([0, 0]))
    with pytest.raises(ValueError, match="query_user_N"):
        dtw_user_ranks(x, np.array([0]), x, users)
    with pytest.raises(ValueError, match="reference_user_M"):
        dtw_user_ranks(x, users, x, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="non-finite"):
        dtw_user_ranks(np.full_like(x, np.nan), users, x, users)
