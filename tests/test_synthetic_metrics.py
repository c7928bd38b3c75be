"""Synthetic-data metrics on known answers: sinusoid windows stand in for real data."""

from __future__ import annotations

import chex
import jax
import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import cdist

from jaxpriv.classify import ClassifierConfig, make_fit, make_predict
from jaxpriv.nn.sequence_classifier import LSTM, LSTMClassifier
from jaxpriv.synthetic_metrics.dcr import closest_record
from jaxpriv.synthetic_metrics.discriminators import (
    DiscriminatorConfig,
    discriminator_plan,
    discriminator_sanity,
    feature_discriminator_test,
    fit_discriminators,
    matched_noise,
    score_discriminators,
)
from jaxpriv.synthetic_metrics.distributions import (
    correlation_distance,
    correlation_matrices,
    marginal_distances,
)
from jaxpriv.synthetic_metrics.oneclass_svm import oneclass_svm_inliers
from jaxpriv.synthetic_metrics.utility import tstr

W, C = 32, 3
CYCLES = (1.0, 2.5, 5.0)  # cycles per window of each class
DISC = DiscriminatorConfig(hidden=16, dense=16, steps=150, batch_size=32)
CNN = ClassifierConfig(steps=200, batch_size=32, features=(8, 8), dense=16)


def sines(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` windows of class-dependent frequency (+-10%), random phase, three channels.

    Channels 0 and 1 are the same oscillation shifted (correlated ~0.8), channel 2 is an
    independent one at another frequency, all with a little noise.
    """
    rng = np.random.default_rng(seed)
    y = rng.integers(0, len(CYCLES), n)
    t = np.arange(W) / W
    f = np.asarray(CYCLES)[y][:, None] * rng.uniform(0.9, 1.1, (n, 1))
    a = 2 * np.pi * f * t + rng.uniform(0, 2 * np.pi, (n, 1))
    b = 2 * np.pi * 3.5 * t + rng.uniform(0, 2 * np.pi, (n, 1))
    x = np.stack([np.sin(a), 0.5 * np.sin(a + 0.6) + 1.0, 0.7 * np.sin(b)], axis=-1)
    return (x + 0.2 * rng.standard_normal((n, W, C))).astype(np.float32), y


@pytest.fixture(scope="module")
def real() -> dict[str, np.ndarray]:
    xa, ya = sines(0, 300)
    xb, yb = sines(1, 300)
    xt, yt = sines(2, 200)
    return {"a": xa, "ya": ya, "b": xb, "yb": yb, "test": xt, "ytest": yt}


def far_noise(n: int, mean: float, seed: int = 3) -> np.ndarray:
    return (mean + 5 * np.random.default_rng(seed).standard_normal((n, W, C))).astype(np.float32)


# ---------------------------------------------------------------- LSTM


def test_lstm_layer_equals_flax_optimized_lstm_cell() -> None:
    import flax.linen as nn

    x = jax.random.normal(jax.random.key(1), (3, 7, 2))
    ref = nn.RNN(nn.OptimizedLSTMCell(5))
    p = ref.init(jax.random.key(0), x)["params"]["cell"]
    ours = {
        "input_kernel": np.concatenate([p[k]["kernel"] for k in ("ii", "if", "ig", "io")], 1),
        "recurrent_kernel": np.concatenate([p[k]["kernel"] for k in ("hi", "hf", "hg", "ho")], 1),
        "bias": np.concatenate([p[k]["bias"] for k in ("hi", "hf", "hg", "ho")]),
    }
    expected = jax.jit(ref.apply)({"params": {"cell": p}}, x)
    chex.assert_trees_all_close(jax.jit(LSTM(5).apply)({"params": ours}, x), expected, atol=1e-6)


def test_lstm_classifier_shapes_and_errors() -> None:
    x = jax.ShapeDtypeStruct((4, 10, 3), np.float32)
    key = jax.random.key(0)
    for pool in ("mean", "last"):  # shapes only (eval_shape): nothing to compile
        model = LSTMClassifier(2, hidden=6, num_layers=2, pool=pool, downsample=3)
        params = jax.eval_shape(model.init, key, x)
        assert jax.eval_shape(model.apply, params, x).shape == (4, 2)
    assert params["params"]["lstm_0"]["input_kernel"].shape == (3, 24)
    assert params["params"]["lstm_1"]["input_kernel"].shape == (6, 24)
    with pytest.raises(ValueError, match="pool"):
        jax.eval_shape(LSTMClassifier(2, pool="max").init, key, x)
    with pytest.raises(ValueError, match="downsample"):
        jax.eval_shape(LSTMClassifier(2, downsample=11).init, key, x)


# ---------------------------------------------------------------- one-class SVM


@pytest.mark.parametrize("windows_as", ["features", "flat"])
def test_rbf_svm_accepts_held_out_real_and_rejects_noise(real, windows_as: str) -> None:
    def run(synthetic):
        return oneclass_svm_inliers(
            real["a"], synthetic, real["test"], kernel="rbf", windows_as=windows_as
        )

    same = run(real["b"])
    assert same["real_test_inliers"] > 0.6
    assert same["synthetic_inliers"] > 0.6
    assert abs(same["synthetic_inliers"] - same["real_test_inliers"]) < 0.15
    assert same["scaling"] == "standard" and same["representation"] == windows_as
    assert run(far_noise(200, 10.0))["synthetic_inliers"] < 0.02
    if windows_as == "features":  # white noise has no sinusoid spectrum
        noise = matched_noise(real["a"], 200, jax.random.key(5))
        assert run(noise)["synthetic_inliers"] < 0.05


def test_linear_svm_is_a_half_space(real) -> None:
    def run(synthetic, **kw):
        return oneclass_svm_inliers(
            real["a"], synthetic, real["test"], kernel="linear", windows_as="flat", **kw
        )

    same = run(real["b"])
    assert same["scaling"] == "minmax"
    assert abs(same["real_train_inliers"] - 0.9) < 0.05  # nu = 0.1 of training outliers
    assert same["real_test_inliers"] > 0.75 and same["synthetic_inliers"] > 0.75
    assert run(far_noise(200, -10.0))["synthetic_inliers"] < 0.02  # the origin's side
    assert run(far_noise(200, 10.0))["synthetic_inliers"] > 0.9  # the far side: accepted
    # On centred data the origin is inside the cloud and the fit degenerates.
    assert run(real["b"], scaling="standard")["real_train_inliers"] < 0.8


def test_svm_rows_and_errors(real) -> None:
    rows = real["a"].reshape(300, -1)[:, :10]
    out = oneclass_svm_inliers(rows, rows[:50] + 100, rows[50:], kernel="rbf")
    assert out["representation"] == "rows" and out["dims"] == 10
    assert out["synthetic_inliers"] == 0.0
    with pytest.raises(ValueError, match="synthetic has samples of shape"):
        oneclass_svm_inliers(real["a"], real["b"][:, :16], real["test"])
    with pytest.raises(ValueError, match="real_test"):
        oneclass_svm_inliers(real["a"], real["b"], real["test"][0])
    with pytest.raises(ValueError, match="real_train needs at least 2"):
        oneclass_svm_inliers(real["a"][:1], real["b"], real["test"])
    bad = real["b"].copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="synthetic contains NaN"):
        oneclass_svm_inliers(real["a"], bad, real["test"])
    with pytest.raises(ValueError, match="kernel"):
        oneclass_svm_inliers(real["a"], real["b"], real["test"], kernel="poly")


# ---------------------------------------------------------------- discriminator


@pytest.fixture(scope="module")
def sanity(real) -> dict[str, dict]:
    return discriminator_sanity(real["a"], real["b"], key=jax.random.key(0), cfg=DISC, seeds=5)


def test_discriminator_sanity_has_power(sanity) -> None:
    rr, rn = sanity["real vs real"], sanity["real vs noise"]
    assert 0.3 <= rr["mean"] <= 0.7
    assert rn["mean"] > 0.9 and rn["low"] > 0.85
    assert rr["low"] <= rr["mean"] <= rr["high"] and rr["high"] < rn["low"]
    assert len(rr["accuracy_per_seed"]) == 5 and len(set(rr["accuracy_per_seed"])) > 1
    assert rr["train_per_side"] + rr["test_per_side"] == 300 and rr["test_per_side"] == 90
    # The t interval from the per-seed values.
    acc = np.asarray(rr["accuracy_per_seed"])
    half = stats.t.ppf(0.975, 4) * acc.std(ddof=1) / np.sqrt(5)
    np.testing.assert_allclose([rr["low"], rr["high"]], [acc.mean() - half, acc.mean() + half])


def test_vmapped_seeds_equal_one_by_one(real) -> None:
    # Same shapes and config as the sanity test: the vmapped program is already compiled.
    plan = discriminator_plan(real["a"], real["b"], seeds=5, key=jax.random.key(7))
    params = fit_discriminators(plan, DISC)
    scores = score_discriminators(plan, DISC, params)
    fit, predict = jax.jit(make_fit(DISC, 2)), jax.jit(make_predict(DISC, 2))
    for s in range(5):
        one = fit(plan.keys[s], plan.x, plan.y, plan.weight[s])
        chex.assert_trees_all_close(jax.tree.map(lambda a, s=s: a[s], params), one, atol=1e-4)
        pred = np.argmax(predict(one, plan.x[plan.test[s]]), axis=-1)
        assert abs(np.mean(pred == plan.y[plan.test[s]]) - scores["accuracy"][s]) <= 1 / 180
    p0, p1 = (jax.tree.map(lambda a, s=s: a[s], params) for s in (0, 1))
    assert not np.allclose(p0["Dense_1"]["kernel"], p1["Dense_1"]["kernel"])


def test_discriminator_plan_is_balanced_and_disjoint(real) -> None:
    plan = discriminator_plan(
        real["a"], real["b"][:120], seeds=3, test_fraction=0.25, key=jax.random.key(1)
    )
    assert plan.x.shape == (420, W, C) and plan.test.shape == (3, 60)
    for s in range(3):
        train = np.flatnonzero(plan.weight[s])
        assert np.sum(plan.y[train] == 0) == np.sum(plan.y[train] == 1) == 90
        assert np.sum(plan.y[plan.test[s]] == 1) == 30
        assert not set(train) & set(plan.test[s])
    # The larger (real) side is subsampled differently per seed.
    assert set(np.flatnonzero(plan.weight[0])) != set(np.flatnonzero(plan.weight[1]))
    capped = discriminator_plan(
        real["a"], real["b"], seeds=2, key=jax.random.key(1), max_per_side=50
    )
    assert capped.x.shape == (100, W, C)
    # Standardized with the real side's per-channel statistics.
    np.testing.assert_allclose(plan.x[:300].mean(axis=(0, 1)), 0, atol=1e-5)


def test_feature_forest_judges_on_the_lstms_splits(real) -> None:
    """Real vs real is near chance; the same windows with extra white noise (spectrum and
    mean absolute difference change, the oscillation does not) are caught; the result is
    reproducible and sized like the LSTM test's."""
    kw = dict(rate_hz=50.0, channels=("a", "b", "c"), seeds=3, key=jax.random.key(4))
    same = feature_discriminator_test(real["a"], real["b"], n_estimators=50, **kw)
    rough = real["b"] + 0.3 * np.random.default_rng(5).standard_normal(real["b"].shape)
    caught = feature_discriminator_test(real["a"], rough, n_estimators=50, **kw)
    assert 0.3 <= same["mean"] <= 0.7
    assert caught["mean"] > 0.95 and caught["synthetic_recall"] > 0.9
    assert caught["test_per_side"] == 90 and len(caught["accuracy_per_seed"]) == 3
    again = feature_discriminator_test(real["a"], rough, n_estimators=50, **kw)
    assert again["accuracy_per_seed"] == caught["accuracy_per_seed"]
    with pytest.raises(ValueError, match="channel names"):
        feature_discriminator_test(real["a"], real["b"], **{**kw, "channels": ("a",)})


def test_accuracy_per_group_finds_where_the_judge_wins(real) -> None:
    """Synthetic windows that are real ones (group 0) or rough copies (group 1): the forest
    is at chance on group 0 and right on group 1; groups do not change the splits."""
    kw = dict(rate_hz=50.0, channels=("a", "b", "c"), seeds=3, key=jax.random.key(6))
    half = len(real["b"]) // 2
    noise = 0.5 * np.random.default_rng(8).standard_normal(real["b"][half:].shape)
    mixed = np.concatenate([real["b"][:half], real["b"][half:] + noise]).astype(np.float32)
    groups = (np.zeros(len(real["a"]), int), (np.arange(len(mixed)) >= half).astype(int))
    judged = feature_discriminator_test(real["a"], mixed, groups=groups, **kw)
    plain = feature_discriminator_test(real["a"], mixed, **kw)
    assert judged["accuracy_per_seed"] == plain["accuracy_per_seed"] and "per_group" not in plain
    per = judged["per_group"]
    assert per["1"]["synthetic_recall"] > 0.9 and per["0"]["synthetic_recall"] < 0.7
    assert np.isnan(per["1"]["real_recall"])  # no real window is in group 1
    assert per["0"]["test_windows"] + per["1"]["test_windows"] == 3 * 2 * 90
    with pytest.raises(ValueError, match="one int label per synthetic window"):
        discriminator_plan(real["a"], mixed, key=kw["key"], groups=(groups[0], groups[1][:5]))


def test_discriminator_errors(real) -> None:
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="too few samples"):
        discriminator_plan(real["a"], real["b"][:2], key=key, test_fraction=0.1)
    with pytest.raises(ValueError, match="synthetic needs at least 2"):
        discriminator_plan(real["a"], real["b"][:1], key=key)
    with pytest.raises(ValueError, match="synthetic must be windows"):
        discriminator_plan(real["a"], real["b"][:, :, 0], key=key)
    with pytest.raises(ValueError, match="test_fraction"):
        discriminator_plan(real["a"], real["b"], key=key, test_fraction=1.0)
    with pytest.raises(ValueError, match="seeds"):
        discriminator_plan(real["a"], real["b"], key=key, seeds=0)


# ---------------------------------------------------------------- marginals, correlation


def test_marginals_zero_for_identical_and_match_scipy(real) -> None:
    same = marginal_distances(real["a"], real["a"].copy())
    assert same["ks_mean"] == 0 and same["wasserstein_mean"] == 0
    rng = np.random.default_rng(0)
    r = rng.normal(size=(40, 5, 2))
    s = rng.normal(0.5, 2.0, size=(30, 7, 2))  # window lengths may differ
    out = marginal_distances(r, s, names=["u", "v"])
    for c in range(2):
        a, b = r[..., c].ravel().astype(np.float32), s[..., c].ravel().astype(np.float32)
        assert out["ks"][c] == pytest.approx(stats.ks_2samp(a, b).statistic)
        assert out["wasserstein"][c] == pytest.approx(stats.wasserstein_distance(a, b))
        assert out["wasserstein_std"][c] == pytest.approx(out["wasserstein"][c] / a.std(), 1e-5)
    assert out["names"] == ["u", "v"]
    assert out["ks_mean"] == pytest.approx(np.mean(out["ks"]))
    rows = marginal_distances(r[:, 0], r[:, 0] + 1.0)  # (N, F) rows: per column
    np.testing.assert_allclose(rows["wasserstein"], [1.0, 1.0], atol=1e-6)
    assert rows["ks"][0] > 0.3
    with pytest.raises(ValueError, match="number of channels"):
        marginal_distances(r, s[..., :1])


def test_correlation_distance(real) -> None:
    a = real["a"]
    assert correlation_distance(a, a.copy(), lags=(0, 1, 3)) == 0
    assert correlation_distance(a, real["b"]) < 0.05  # same distribution
    assert correlation_distance(a, a[:, :, [0, 2, 1]]) > 0.3  # channels swapped
    perm = np.random.default_rng(0).permutation(len(a))
    unpaired = np.concatenate([a[:, :, :1], a[perm, :, 1:]], axis=2)  # same marginals
    assert marginal_distances(a, unpaired)["ks_mean"] == 0
    assert correlation_distance(a, unpaired) > 0.3
    # Lag 0 equals numpy's Pearson correlation of the pooled values.
    expected = np.corrcoef(a.reshape(-1, C).T)
    np.testing.assert_allclose(correlation_matrices(a)[0], expected, atol=1e-6)
    # Lagged: one channel against itself one step later; reversal keeps autocorrelation.
    lagged = correlation_matrices(a, lags=(1,))[0]
    pooled = np.corrcoef(a[:, :-1, 0].ravel(), a[:, 1:, 0].ravel())[0, 1]
    assert lagged[0, 0] == pytest.approx(pooled, abs=1e-6)
    assert correlation_distance(a[:, :, :1], a[:, ::-1, :1], lags=(1,)) < 1e-6
    with pytest.raises(ValueError, match="pass a lag > 0"):
        correlation_distance(a[:, :, :1], a[:, :, :1])
    with pytest.raises(ValueError, match="rows"):
        correlation_distance(a[:, 0], a[:, 1], lags=(0, 1))
    constant = a.copy()
    constant[:, :, 2] = 1.0
    assert np.isfinite(correlation_distance(a, constant))


# ---------------------------------------------------------------- TSTR


def test_tstr_on_a_copy_matches_trtr_and_fails_on_shuffled_labels(real) -> None:
    key = jax.random.key(0)
    args = dict(num_classes=3, cfg=CNN, key=key)
    copy = tstr(real["a"], real["ya"], real["a"].copy(), real["ya"], real["test"],
                   real["ytest"], **args)  # fmt: skip
    assert copy["trtr"]["accuracy"] > 0.85 and copy["tstr"]["accuracy"] > 0.85
    assert abs(copy["accuracy_gap"]) < 0.08
    assert copy["trtr"]["macro_f1"] > 0.8
    # Wrong labels on (fewer) synthetic windows: same compiled program (padded rows).
    wrong = np.random.default_rng(0).permutation(real["yb"][:250])
    bad = tstr(real["a"], real["ya"], real["b"][:250], wrong, real["test"], real["ytest"],
                  **args)  # fmt: skip
    assert bad["tstr"]["accuracy"] < 0.6 and bad["accuracy_gap"] > 0.3
    assert bad["trtr"] == copy["trtr"]  # same key, same real fit
    assert bad["n_synthetic"] == 250
    with pytest.raises(ValueError, match="y_synthetic must have shape"):
        tstr(real["a"], real["ya"], real["b"], real["yb"][:10], real["test"],
                real["ytest"], **args)  # fmt: skip
    with pytest.raises(ValueError, match="y_test has labels outside"):
        tstr(real["a"], real["ya"], real["b"], real["yb"], real["test"],
                real["ytest"] + 3, **args)  # fmt: skip


# ---------------------------------------------------------------- closest record


def test_closest_record_flags_copies_not_fresh_samples(real) -> None:
    train, test = real["a"], real["test"]
    copies = np.concatenate([train[:50], real["b"][:50]])
    out = closest_record(train, copies, test)
    assert out["exact_copies"] == 50 and out["synthetic"]["min"] == 0.0
    assert out["share_below_real_p5"] >= 0.5
    fresh = closest_record(train, real["b"], test)
    assert fresh["exact_copies"] == 0 and fresh["synthetic"]["min"] > 0.5
    assert fresh["share_below_real_p5"] < 0.15
    assert 0.8 < fresh["median_ratio"] < 1.25
    # Against brute force on the standardized vectors; chunking changes nothing.
    mean, std = train.mean(axis=(0, 1)), train.std(axis=(0, 1))

    def flat(x):
        return ((x - mean) / std).reshape(len(x), -1)

    d = cdist(flat(real["b"]), flat(train)).min(axis=1)
    assert fresh["synthetic"]["median"] == pytest.approx(np.median(d), rel=1e-4)
    chunked = closest_record(train, real["b"], test, max_entries=1000)
    assert chunked["synthetic"] == pytest.approx(fresh["synthetic"], rel=1e-5)
    rows = closest_record(train[:, 0], train[:20, 0], test[:, 0])
    assert rows["exact_copies"] == 20
    with pytest.raises(ValueError, match="real_test has samples of shape"):
        closest_record(train, real["b"], test[:, :5])
