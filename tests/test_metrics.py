"""Metrics against sklearn/scipy and hand-computed cases; masks, per-group vmap, bootstrap."""

from __future__ import annotations

import functools

import chex
import jax
import numpy as np
import pytest
import scipy.stats
from sklearn import metrics as skm

from jaxpriv import metrics

# Jitted once per shape: eager mode compiles every primitive separately (slow on CPU).
confusion_matrix = jax.jit(metrics.confusion_matrix, static_argnums=2)
accuracy = jax.jit(metrics.accuracy)
balanced_accuracy = jax.jit(metrics.balanced_accuracy, static_argnums=2)
macro_f1 = jax.jit(metrics.macro_f1, static_argnums=2)
classification_metrics = jax.jit(metrics.classification_metrics, static_argnums=2)

SCORES = ("accuracy", "balanced_accuracy", "macro_f1")


def close(a: object, b: object, tol: float = 1e-6) -> None:
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=tol, atol=tol)


def sklearn_scores(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    return {
        "accuracy": skm.accuracy_score(y, p),
        "balanced_accuracy": skm.balanced_accuracy_score(y, p),
        "macro_f1": skm.f1_score(y, p, average="macro", zero_division=0),
    }


# ---------------------------------------------------------------- classification


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_classification_metrics_match_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    K = 6
    # Class 3 never true (only predicted), class 4 never predicted, class 5 in neither.
    y = rng.choice([0, 1, 2, 4], size=40)
    right = (rng.random(40) < 0.5) & (y != 4)
    p = np.where(right, y, rng.choice([0, 1, 2, 3], size=40))
    assert 3 in p and 3 not in y and 4 not in p and 4 in y
    close(confusion_matrix(y, p, K), skm.confusion_matrix(y, p, labels=range(K)))
    expected = sklearn_scores(y, p)
    close(accuracy(y, p), expected["accuracy"])
    close(balanced_accuracy(y, p, K), expected["balanced_accuracy"])
    close(macro_f1(y, p, K), expected["macro_f1"])
    got = classification_metrics(y, p, K)
    assert set(got) == set(metrics.CLASSIFICATION_KEYS)
    for name in SCORES:
        close(got[name], expected[name])
    close(got["count"], 40)


def test_classification_by_hand() -> None:
    y = np.array([0, 0, 1, 1, 2])
    p = np.array([0, 1, 1, 1, 0])
    # K = 4: class 3 appears nowhere and must not count in any mean.
    close(confusion_matrix(y, p, 4), [[1, 1, 0, 0], [0, 2, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]])
    close(accuracy(y, p), 3 / 5)
    close(balanced_accuracy(y, p, 4), (1 / 2 + 1 + 0) / 3)  # recalls of classes 0, 1, 2
    # F1 = 2tp / (2tp + fp + fn): class 0: 2/4, class 1: 4/5, class 2: 0.
    close(macro_f1(y, p, 4), (0.5 + 0.8 + 0) / 3)
    # A class only predicted: excluded from balanced accuracy, F1 0 in the macro mean.
    y2, p2 = np.array([0, 0]), np.array([0, 1])
    close(balanced_accuracy(y2, p2, 2), 0.5)
    close(macro_f1(y2, p2, 2), (2 / 3 + 0) / 2)


def test_mask_equals_dropping_rows() -> None:
    rng = np.random.default_rng(3)
    K, N = 4, 30
    y, p = rng.integers(0, K, N), rng.integers(0, K, N)
    keep = rng.random(N) < 0.6
    # Padded rows may hold junk labels: the mask must still drop them.
    y_pad = np.where(keep, y, -1)
    p_pad = np.where(keep, p, K + 3)
    dropped = classification_metrics(y[keep], p[keep], K)
    for mask in (keep, keep.astype(np.float32)):
        masked = classification_metrics(y_pad, p_pad, K, mask)
        for name in (*SCORES, "count"):
            close(masked[name], dropped[name])
        close(confusion_matrix(y, p, K, mask), confusion_matrix(y[keep], p[keep], K))
    for name, value in sklearn_scores(y[keep], p[keep]).items():
        close(dropped[name], value)
    # A weight of 2 counts a row twice.
    w = np.ones(N, np.float32)
    w[0] = 2
    twice = classification_metrics(np.r_[y[:1], y], np.r_[p[:1], p], K)
    for name, value in classification_metrics(y, p, K, w).items():
        close(value, twice[name])


def test_out_of_range_labels_and_empty_input() -> None:
    y = np.array([0, 1, -1, 2, 1])
    p = np.array([0, 5, 1, 2, 1])
    # Row 2 (true -1) and row 1 (pred 5) count nowhere in the confusion matrix.
    close(confusion_matrix(y, p, 3), np.diag([1.0, 1.0, 1.0]))
    got = classification_metrics(y, p, 3)
    # Row 2 is dropped; row 1's out-of-range prediction is a miss for class 1.
    close(got["count"], 4)
    close(got["accuracy"], 3 / 4)
    close(got["balanced_accuracy"], (1 + 1 / 2 + 1) / 3)
    close(got["macro_f1"], (1 + 2 / 3 + 1) / 3)
    empty = classification_metrics(y, p, 3, np.zeros(5, bool))
    for name in SCORES:
        assert np.isnan(empty[name])
    close(empty["count"], 0)


def test_shape_and_argument_errors() -> None:
    y = np.zeros(4, int)
    with pytest.raises(ValueError, match="y_pred_N"):
        metrics.accuracy(y, np.zeros(5, int))
    with pytest.raises(ValueError, match="mask_N"):
        metrics.macro_f1(y, y, 2, np.ones(3, bool))
    with pytest.raises(ValueError, match="y_true_N"):
        metrics.confusion_matrix(np.zeros((2, 2), int), np.zeros((2, 2), int), 2)
    with pytest.raises(ValueError, match="num_classes"):
        metrics.balanced_accuracy(y, y, 0)
    with pytest.raises(ValueError, match="group_N"):
        metrics.per_group(y, y, np.zeros(3, int), 2)


def test_jit_and_vmap_over_batches() -> None:
    rng = np.random.default_rng(4)
    B, N, K = 5, 20, 3
    y_BxN, p_BxN = rng.integers(0, K, (B, N)), rng.integers(0, K, (B, N))
    mask_BxN = rng.random((B, N)) < 0.8
    fn = jax.jit(jax.vmap(functools.partial(metrics.classification_metrics, num_classes=K)))
    out = fn(y_BxN, p_BxN, mask_N=mask_BxN)
    chex.assert_shape(list(out.values()), (B,))
    for b in range(B):
        keep = mask_BxN[b]
        for name, value in sklearn_scores(y_BxN[b, keep], p_BxN[b, keep]).items():
            close(out[name][b], value)
    cm_BxKxK = jax.jit(jax.vmap(metrics.confusion_matrix, (0, 0, None)), static_argnums=2)(
        y_BxN, p_BxN, K
    )
    chex.assert_shape(cm_BxKxK, (B, K, K))
    close(cm_BxKxK.sum(axis=(1, 2)), np.full(B, N))


def test_privacy_gap() -> None:
    close(metrics.privacy_gap(0.7, 0.5), 0.2)
    close(metrics.privacy_gap(np.array([0.3, 0.5, 0.9]), 0.5), [0.2, 0.0, 0.4])
    close(metrics.privacy_gap(np.array([0.3, 0.6]), np.array([0.25, 0.75])), [0.05, 0.15])


# ---------------------------------------------------------------- per group


def test_group_index_pads_and_masks() -> None:
    group = np.array([7, 3, 7, 7, 9, 3])
    index_GxM, mask_GxM, ids_G = metrics.group_index(group, groups=[9, 5, 7, 3])
    chex.assert_shape((index_GxM, mask_GxM), (4, 3))
    assert index_GxM.dtype == np.int32 and mask_GxM.dtype == bool
    np.testing.assert_array_equal(ids_G, [9, 5, 7, 3])
    np.testing.assert_array_equal(mask_GxM.sum(1), [1, 0, 3, 2])
    for g, gid in enumerate(ids_G):
        np.testing.assert_array_equal(index_GxM[g][mask_GxM[g]], np.flatnonzero(group == gid))
    assert np.all(index_GxM[~mask_GxM] == 0)
    np.testing.assert_array_equal(metrics.group_index(group)[2], [3, 7, 9])
    with pytest.raises(ValueError, match="groups"):
        metrics.group_index(group, groups=[3, 3])


def test_per_group_equals_a_loop_over_groups() -> None:
    rng = np.random.default_rng(5)
    K = 4
    sizes = {0: 1, 1: 7, 2: 20, 4: 3}  # uneven groups
    group = rng.permutation(np.repeat(list(sizes), list(sizes.values())))
    y, p = rng.integers(0, K, group.size), rng.integers(0, K, group.size)
    groups = [4, 2, 3, 1, 0]  # group 3 has no row
    out = metrics.per_group(y, p, group, K, groups=groups)
    np.testing.assert_array_equal(out["group"], groups)
    chex.assert_shape([out[name] for name in metrics.CLASSIFICATION_KEYS], (len(groups),))
    np.testing.assert_array_equal(out["count"], [3, 20, 0, 7, 1])
    for g, gid in enumerate(groups):
        rows = group == gid
        if not rows.any():
            assert all(np.isnan(out[name][g]) for name in SCORES)
            continue
        expected = classification_metrics(y[rows], p[rows], K)
        for name in SCORES:
            close(out[name][g], expected[name])
    default = metrics.per_group(y, p, group, K)
    np.testing.assert_array_equal(default["group"], [0, 1, 2, 4])
    close(default["macro_f1"], out["macro_f1"][[4, 3, 1, 0]])


# ---------------------------------------------------------------- bootstrap


def test_bootstrap_is_reproducible_and_contains_the_mean() -> None:
    values = np.random.default_rng(6).normal(1.0, 1.0, 25)
    a = metrics.bootstrap_ci(values, jax.random.key(0))
    b = metrics.bootstrap_ci(values, jax.random.key(0))
    c = metrics.bootstrap_ci(values, jax.random.key(1))
    assert a == b
    assert (a["low"], a["high"]) != (c["low"], c["high"])
    assert a["low"] < a["mean"] < a["high"]
    close(a["mean"], values.mean(), 1e-12)
    assert a["n"] == 25 and not a["degenerate"]
    # Standard error of the mean: about sigma / sqrt(n).
    close(a["std_error"], values.std() / np.sqrt(25), 0.1 * values.std() / np.sqrt(25))
    # A 95% percentile interval spans about +-1.96 standard errors.
    close((a["high"] - a["low"]) / a["std_error"], 2 * 1.96, 0.4)


def test_bootstrap_is_a_percentile_interval_of_resampled_means(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    values = np.random.default_rng(8).uniform(0.0, 1.0, 30)
    key = jax.random.key(4)
    ci = metrics.bootstrap_ci(values, key, num_resamples=500, level=0.9)
    # The same draws by hand: NumPy seeded with the key's data, 500 resamples of 30 users.
    rng = np.random.default_rng(np.asarray(jax.random.key_data(key)).tolist())
    means = values[rng.integers(0, 30, size=(500, 30))].mean(axis=1)
    close(ci["low"], np.quantile(means, 0.05), 1e-12)
    close(ci["high"], np.quantile(means, 0.95), 1e-12)
    close(ci["std_error"], means.std(ddof=1), 1e-12)
    # A raw (legacy) key with the same data gives the same draws; an int seed works too.
    assert metrics.bootstrap_ci(values, jax.random.PRNGKey(4), num_resamples=500, level=0.9) == ci
    assert metrics.bootstrap_ci(values, 4, num_resamples=500) == metrics.bootstrap_ci(
        values, 4, num_resamples=500
    )
    # Resamples drawn in blocks (as for many groups): same meaning, reproducible.
    monkeypatch.setattr(metrics, "_BOOTSTRAP_BLOCK", 30 * 7)
    blocked = metrics.bootstrap_ci(values, key, num_resamples=500, level=0.9)
    assert blocked == metrics.bootstrap_ci(values, key, num_resamples=500, level=0.9)
    close(blocked["high"] - blocked["low"], ci["high"] - ci["low"], 0.2 * (ci["high"] - ci["low"]))


def test_bootstrap_width_shrinks_with_more_groups() -> None:
    rng = np.random.default_rng(7)
    key = jax.random.key(2)
    widths = []
    for n in (10, 60, 1000):
        ci = metrics.bootstrap_ci(rng.normal(0.0, 1.0, n), key)
        widths.append(ci["high"] - ci["low"])
    assert widths[0] > widths[1] > widths[2] > 0
    narrow = metrics.bootstrap_ci(rng.normal(0.0, 1.0, 40), key, level=0.5)
    wide = metrics.bootstrap_ci(rng.normal(0.0, 1.0, 40), key, level=0.99)
    assert narrow["high"] - narrow["low"] < wide["high"] - wide["low"]


def test_bootstrap_constant_nan_and_degenerate() -> None:
    key = jax.random.key(3)
    const = metrics.bootstrap_ci(np.full(8, 0.37), key)
    assert const["low"] == const["high"] == const["mean"] == 0.37
    assert const["std_error"] == 0
    with_nan = metrics.bootstrap_ci(np.array([0.2, np.nan, 0.4, 0.9, np.nan]), key)
    without = metrics.bootstrap_ci(np.array([0.2, 0.4, 0.9]), key)
    assert with_nan == without and with_nan["n"] == 3
    one = metrics.bootstrap_ci(np.array([np.nan, 0.6]), key)
    assert one["degenerate"] and one["n"] == 1
    assert one["low"] == one["high"] == one["mean"] == 0.6
    none = metrics.bootstrap_ci(np.array([np.nan]), key)
    assert none["degenerate"] and none["n"] == 0 and np.isnan(none["mean"])
    with pytest.raises(ValueError, match="values_G"):
        metrics.bootstrap_ci(np.zeros((2, 2)), key)
    with pytest.raises(ValueError, match="level"):
        metrics.bootstrap_ci(np.zeros(3), key, level=1.5)


# ---------------------------------------------------------------- signal statistics


def test_window_statistics_match_scipy() -> None:
    rng = np.random.default_rng(8)
    # Skewed, offset channels (a large mean stresses float32 cancellation).
    x = rng.gamma(2.0, 1.0, (6, 64, 3)) + np.array([0.0, -3.0, 50.0])
    stats = metrics.window_statistics(x.astype(np.float32))
    chex.assert_shape(list(stats.values()), (6, 3))
    assert set(stats) == set(metrics.STATISTIC_NAMES)
    expected = {
        "mean": x.mean(axis=1),
        "std": x.std(axis=1),
        "skewness": scipy.stats.skew(x, axis=1, bias=True),
        "kurtosis": scipy.stats.kurtosis(x, axis=1, fisher=True, bias=True),
        "energy": np.mean(x**2, axis=1),
    }
    for name, value in expected.items():
        np.testing.assert_allclose(stats[name], value, rtol=2e-4, atol=2e-4, err_msg=name)


def test_window_statistics_constant_window_and_shape_error() -> None:
    x = np.full((2, 16, 2), 0.1, np.float32)
    x[1, :, 1] = np.arange(16)
    stats = metrics.window_statistics(x)
    close(stats["std"][0], [0, 0])
    close(stats["skewness"][0], [0, 0])  # scipy would give NaN here
    close(stats["kurtosis"][0], [0, 0])
    close(stats["energy"][0], [0.01, 0.01])
    close(stats["kurtosis"][1, 1], scipy.stats.kurtosis(np.arange(16)), 1e-5)
    with pytest.raises(ValueError, match="x_NxWxC"):
        metrics.window_statistics(np.zeros((4, 5)))


def test_relative_errors_by_hand() -> None:
    x = np.random.default_rng(9).gamma(2.0, 1.0, (5, 32, 3)).astype(np.float32)
    # Doubling: mean and std double (1), the shape is unchanged (0), energy quadruples (3).
    errors = metrics.relative_errors(x, 2 * x)
    expected = {"mean": 1, "std": 1, "skewness": 0, "kurtosis": 0, "energy": 3}
    for name, value in expected.items():
        close(errors[name], value, 1e-5)
    close(errors["mse"], np.mean(x.astype(np.float64) ** 2), 1e-5)
    same = metrics.relative_errors(x, x)
    assert all(value == 0 for value in same.values())
    shifted = metrics.relative_errors(x, x + 1)
    close(shifted["std"], 0, 1e-5)
    close(shifted["mse"], 1, 1e-5)
    with pytest.raises(ValueError, match="x_released_NxWxC"):
        metrics.relative_errors(x, x[:, :8])
