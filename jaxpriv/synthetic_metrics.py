"""Metrics that judge synthetic data against real data.

Samples are either **windows** ``(N, T, C)`` (sensor traces) or **rows** ``(N, F)``
(tabular records, e.g. seed 004's network flows: each row is one feature vector). Every
function validates its inputs and raises ``ValueError`` naming the argument (wrong rank,
mismatched sample shapes, NaN/inf, too few samples). What each metric does with windows:

- :func:`oneclass_svm_inliers` (seed 004): a one-class SVM fit on real training vectors
  only, scaled per column with the real training statistics (min-max for the linear
  kernel, standardization for RBF: see its docstring). Windows become vectors through
  :func:`jaxpriv.features.window_features` (``windows_as="features"``, the default:
  amplitude, spread, percentiles, spectrum; insensitive to phase) or flattened
  (``"flat"``: every (time, channel) value is a column, so a shifted copy of a real trace
  can look foreign). Reported: the fraction of synthetic samples called inliers next to
  the fraction of *held-out real* samples called inliers (the reference a perfect
  generator reaches) and of the training samples (about ``1 - nu`` by construction).
  A linear kernel (the seed's choice) draws one half-space, so it accepts almost anything
  on the data's side of it, even far-away noise; an RBF kernel encloses the data and is far
  stricter. Report both.
- :func:`discriminator_test` (seed 000): an :class:`~jaxpriv.nn.sequence_classifier.LSTMClassifier`
  trained to tell real (label 0) from synthetic (label 1) windows; see its docstring.
  :func:`discriminator_sanity` shows the test has power (real vs real ~ 50%, real vs
  Gaussian noise ~ 100%). :func:`feature_discriminator_test` asks the same question of a
  random forest on hand-crafted window features, on the same splits: a second, differently
  blind judge (it sees roughness and spectra at once, but not the order of events).
- :func:`marginal_distances`: per channel (windows: all values of the channel, pooled over
  windows and time) or per column (rows), the two-sample KS statistic and the 1-Wasserstein
  distance (also divided by the real values' std, comparable across channels).
- :func:`correlation_distance`: root-mean-square difference between the real and synthetic
  correlation matrices (windows: channels' Pearson correlation over all time steps pooled,
  optionally between a channel at ``t`` and a channel at ``t + lag``; rows: columns'
  correlation over rows).
- :func:`tstr`: train-on-synthetic, test-on-real activity accuracy next to
  train-on-real, test-on-real (same :class:`~jaxpriv.nn.classifiers.WindowCNN`).
- :func:`closest_record`: distance to the closest training record (DCR) of synthetic
  samples vs of held-out real samples; flags memorisation and counts exact copies.

Accuracies and rates are fractions in ``[0, 1]``.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats
from sklearn.svm import OneClassSVM

from jaxpriv.classify import ClassifierConfig, make_fit, make_predict
from jaxpriv.features import fit_random_forest, window_features
from jaxpriv.metrics import classification_metrics
from jaxpriv.nn.sequence_classifier import LSTMClassifier
from jaxpriv.sweep import make_variant_mesh, sweep_jit, to_host

KERNELS = ("linear", "rbf")
WINDOWS_AS = ("features", "flat")
SCALINGS = ("auto", "standard", "minmax")
PREDICT_CHUNK = 1024
_TINY_STD = 1e-8

# ---------------------------------------------------------------- validation and scaling


def _samples(x: Any, name: str, *, min_n: int = 2, windows: bool = False) -> np.ndarray:
    """``x`` as float32 samples ``(N, T, C)`` or ``(N, F)`` (windows only if ``windows``)."""
    a = np.asarray(x)
    ranks = (3,) if windows else (2, 3)
    if a.ndim not in ranks:
        want = "windows (N, T, C)" if windows else "windows (N, T, C) or rows (N, F)"
        raise ValueError(f"{name} must be {want}, got shape {a.shape}")
    if not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
        raise ValueError(f"{name} must be numeric, got dtype {a.dtype}")
    if min(a.shape[1:]) < 1:
        raise ValueError(f"{name} has an empty sample shape {a.shape[1:]}")
    if a.shape[0] < min_n:
        raise ValueError(f"{name} needs at least {min_n} samples, got {a.shape[0]}")
    a = a.astype(np.float32, copy=False)
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or inf")
    return a


def _same_shape(ref: np.ndarray, ref_name: str, other: np.ndarray, other_name: str) -> None:
    if other.shape[1:] != ref.shape[1:]:
        raise ValueError(
            f"{other_name} has samples of shape {other.shape[1:]}, but {ref_name} has "
            f"{ref.shape[1:]}: they must match"
        )


def _labels(y: Any, name: str, n: int, num_classes: int) -> np.ndarray:
    y = np.asarray(y)
    if y.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) (one label per sample), got {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{name} must hold integer labels, got dtype {y.dtype}")
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"{name} has labels outside [0, {num_classes}): {np.unique(y)}")
    return y.astype(np.int32)


def _scale(x_ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std (1 where ~0) per channel (windows: over samples and time) or column."""
    axes = tuple(range(x_ref.ndim - 1))
    mean = x_ref.mean(axis=axes, dtype=np.float64)
    std = x_ref.std(axis=axes, dtype=np.float64)
    return mean.astype(np.float32), np.where(std > _TINY_STD, std, 1.0).astype(np.float32)


def _host_rng(key: jax.Array) -> np.random.Generator:
    """A NumPy generator determined by a JAX key (typed or raw uint32)."""
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = jax.random.key_data(key)
    return np.random.default_rng(np.asarray(key, np.uint32).ravel().tolist())


def _subsample(x: np.ndarray, cap: int | None, rng: np.random.Generator) -> np.ndarray:
    return x[subsample_rows(len(x), cap, rng)]


def subsample_rows(n: int, cap: int | None, rng: np.random.Generator) -> np.ndarray:
    """Sorted row indices of at most ``cap`` of ``n`` rows (all rows, no draw, when fewer)."""
    if cap is None or n <= cap:
        return np.arange(n)
    return np.sort(rng.choice(n, cap, replace=False))


# ---------------------------------------------------------------- one-class SVM (seed 004)


def _vectors(
    x: np.ndarray, windows_as: str, rate_hz: float, channels: Sequence[str] | None
) -> np.ndarray:
    if x.ndim == 2:
        return x
    if windows_as == "flat":
        return x.reshape(len(x), -1)
    names = list(channels) if channels is not None else [f"c{i}" for i in range(x.shape[2])]
    return window_features(x, rate_hz, names)


def oneclass_svm_inliers(
    real_train: Any,
    synthetic: Any,
    real_test: Any,
    *,
    kernel: Literal["linear", "rbf"] = "linear",
    nu: float = 0.1,
    gamma: float | str = "scale",
    scaling: Literal["auto", "standard", "minmax"] = "auto",
    seed: int = 0,
    windows_as: Literal["features", "flat"] = "features",
    rate_hz: float = 1.0,
    channels: Sequence[str] | None = None,
    max_train: int | None = 3000,
) -> dict[str, Any]:
    """Fraction of ``synthetic`` and of held-out ``real_test`` a real-fit one-class SVM accepts.

    sklearn's ``OneClassSVM(kernel, nu, gamma)`` is fit on ``real_train`` only (at most
    ``max_train`` samples, drawn with ``seed``: the fit is quadratic in the samples), on
    vectors scaled per column with the training statistics. Windows are vectorized as in
    the module docstring (``rate_hz``/``channels`` feed :func:`window_features`; after
    scaling the rate's unit does not matter). ``gamma`` is the RBF width (``"scale"`` =
    1 / (D * var)). Returns the three inlier fractions and the sizes.

    ``scaling``: ``"standard"`` (zero mean, unit std) or ``"minmax"`` (the training range
    to [0, 1]); ``"auto"`` takes min-max for the linear kernel and standard for RBF. The
    one-class SVM separates the data from the *origin*; with a linear kernel on centred
    data the origin sits inside the cloud and the fit degenerates (on the test sinusoids
    with ``nu=0.1`` it accepted ~55% of its own training set instead of ~90%), while in
    [0, 1]^D the origin is a corner outside the data, the textbook setting. The RBF kernel
    is translation invariant, so centring does not matter there.
    """
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {KERNELS}, got {kernel!r}")
    if windows_as not in WINDOWS_AS:
        raise ValueError(f"windows_as must be one of {WINDOWS_AS}, got {windows_as!r}")
    if scaling not in SCALINGS:
        raise ValueError(f"scaling must be one of {SCALINGS}, got {scaling!r}")
    if scaling == "auto":
        scaling = "minmax" if kernel == "linear" else "standard"
    if not 0 < nu <= 1:
        raise ValueError(f"nu must be in (0, 1], got {nu}")
    train = _samples(real_train, "real_train")
    syn = _samples(synthetic, "synthetic", min_n=1)
    test = _samples(real_test, "real_test", min_n=1)
    _same_shape(train, "real_train", syn, "synthetic")
    _same_shape(train, "real_train", test, "real_test")
    train = _subsample(train, max_train, np.random.default_rng(seed))
    v_train, v_syn, v_test = (
        _vectors(x, windows_as, rate_hz, channels) for x in (train, syn, test)
    )
    if scaling == "standard":
        shift, scale = _scale(v_train)
    else:
        shift, high = v_train.min(axis=0), v_train.max(axis=0)
        scale = np.where(high - shift > _TINY_STD, high - shift, 1.0)
    model = OneClassSVM(kernel=kernel, nu=nu, gamma=gamma).fit((v_train - shift) / scale)

    def inliers(v: np.ndarray) -> float:
        return float(np.mean(model.predict((v - shift) / scale) == 1))

    return {
        "kernel": kernel,
        "nu": nu,
        "scaling": scaling,
        "representation": "rows" if train.ndim == 2 else windows_as,
        "dims": int(v_train.shape[1]),
        "synthetic_inliers": inliers(v_syn),
        "real_test_inliers": inliers(v_test),
        "real_train_inliers": inliers(v_train),
        "n_train": len(train),
        "n_synthetic": len(syn),
        "n_real_test": len(test),
    }


# ---------------------------------------------------------------- discriminator (seed 000)


@dataclasses.dataclass(frozen=True)
class DiscriminatorConfig:
    """The LSTM discriminator and its training (static: shapes and step counts).

    Duck-types :class:`~jaxpriv.classify.ClassifierConfig` for
    :func:`~jaxpriv.classify.make_fit` / ``make_predict``, which read ``model()``,
    ``steps``, ``batch_size``, ``learning_rate`` and ``weight_decay``.
    """

    hidden: int = 32
    num_layers: int = 1
    pool: Literal["mean", "last"] = "mean"
    dense: int = 32
    dropout: float = 0.0
    downsample: int = 1
    steps: int = 400
    batch_size: int = 64
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4

    def model(self, num_classes: int) -> LSTMClassifier:
        return LSTMClassifier(
            num_classes,
            self.hidden,
            self.num_layers,
            self.pool,
            self.dense,
            self.dropout,
            self.downsample,
        )


@dataclasses.dataclass(frozen=True)
class DiscriminatorPlan:
    """Every seed's task over one pooled, standardized set (real rows first, label 0).

    Seeds differ in their key (initialization, minibatches), in which rows of the larger
    side they use and in their train/test split; all share ``x``, so the seeds are
    one vmapped program: ``weight[s]`` is 1 on a seed's training rows (balanced: as many
    real as synthetic) and 0 elsewhere, ``test[s]`` lists its held-out rows (balanced).
    """

    x: np.ndarray  # (N, W, C) float32, standardized
    y: np.ndarray  # (N,) int32: 0 real, 1 synthetic
    keys: jax.Array  # (S,) one key per seed
    weight: np.ndarray  # (S, N) float32
    test: np.ndarray  # (S, M) int32 row indices, M = 2 * test_per_side
    train_per_side: int
    test_per_side: int
    group: np.ndarray | None = None  # (N,) int32 label of each row (e.g. activity), if given


def discriminator_plan(
    real: Any,
    synthetic: Any,
    *,
    seeds: int = 5,
    test_fraction: float = 0.3,
    key: jax.Array,
    max_per_side: int | None = None,
    groups: tuple[Any, Any] | None = None,
) -> DiscriminatorPlan:
    """Pool, standardize (real's per-channel statistics) and split for every seed.

    ``max_per_side`` first subsamples each side once (the pooled shape, hence the compiled
    program, is then the same for every call with enough samples on both sides); each seed
    then uses ``n = min(#real, #synthetic)`` rows of each side, ``round(test_fraction * n)``
    of them held out. ``groups`` (optional): an int label per real and per synthetic window
    (e.g. the activity), kept in ``plan.group`` so accuracy can be broken down by it.
    """
    real = _samples(real, "real", windows=True)
    syn = _samples(synthetic, "synthetic", windows=True)
    _same_shape(real, "real", syn, "synthetic")
    if groups is not None:
        groups = tuple(np.asarray(g) for g in groups)
        for g, side, x in zip(groups, ("real", "synthetic"), (real, syn), strict=True):
            if g.shape != (len(x),) or not np.issubdtype(g.dtype, np.integer):
                raise ValueError(
                    f"groups: need one int label per {side} window ({len(x)},), got "
                    f"{g.dtype} {g.shape}"
                )
    if not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"seeds must be a positive int, got {seeds!r}")
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    rng = _host_rng(key)
    real_rows = subsample_rows(len(real), max_per_side, rng)
    syn_rows = subsample_rows(len(syn), max_per_side, rng)
    real, syn = real[real_rows], syn[syn_rows]
    group = None
    if groups is not None:
        group = np.concatenate([groups[0][real_rows], groups[1][syn_rows]]).astype(np.int32)
    n = min(len(real), len(syn))
    n_test = round(test_fraction * n)
    if n_test < 1 or n - n_test < 1:
        raise ValueError(
            f"too few samples for a train/test split: {len(real)} real and {len(syn)} "
            f"synthetic windows with test_fraction={test_fraction}"
        )
    mean, std = _scale(real)
    x = (np.concatenate([real, syn]) - mean) / std
    y = np.concatenate([np.zeros(len(real), np.int32), np.ones(len(syn), np.int32)])
    weight = np.zeros((seeds, len(x)), np.float32)
    test = np.empty((seeds, 2 * n_test), np.int32)
    for s in range(seeds):
        r = rng.permutation(len(real))[:n]
        f = len(real) + rng.permutation(len(syn))[:n]
        weight[s, r[n_test:]] = weight[s, f[n_test:]] = 1.0
        test[s] = np.concatenate([r[:n_test], f[:n_test]])
    keys = jax.random.split(jax.random.fold_in(key, 1), seeds)
    return DiscriminatorPlan(x, y, keys, weight, test, n - n_test, n_test, group)


@functools.cache
def _discriminator_programs(cfg: DiscriminatorConfig, num_seeds: int):
    vmesh = make_variant_mesh(num_seeds)
    fit = sweep_jit(make_fit(cfg, 2), vmesh, data_argnums=(1, 2))  # type: ignore[arg-type]
    predict_one = make_predict(cfg, 2)  # type: ignore[arg-type]

    def predict(params, idx_M, x_NxWxC):
        return jnp.argmax(predict_one(params, x_NxWxC[idx_M]), axis=-1).astype(jnp.int32)

    return vmesh, fit, sweep_jit(predict, vmesh, data_argnums=(2,))


def fit_discriminators(plan: DiscriminatorPlan, cfg: DiscriminatorConfig) -> Any:
    """Every seed's LSTM parameters (leading seed axis), trained in one vmapped program."""
    vmesh, fit, _ = _discriminator_programs(cfg, len(plan.weight))
    params = fit(vmesh.pad(plan.keys), plan.x, plan.y, vmesh.pad(plan.weight))
    return vmesh.unpad(to_host(params))


def score_discriminators(
    plan: DiscriminatorPlan, cfg: DiscriminatorConfig, params: Any
) -> dict[str, np.ndarray]:
    """Per-seed held-out ``accuracy``, ``real_recall`` and ``synthetic_recall`` ``(S,)``,
    and ``hit`` ``(S, M)``: whether each of ``plan.test``'s rows was classified right."""
    seeds, m = plan.test.shape
    vmesh, _, predict = _discriminator_programs(cfg, seeds)
    params = vmesh.pad(params)
    pred = np.empty((seeds, m), np.int32)
    chunk = min(m, PREDICT_CHUNK)
    for start in range(0, m, chunk):
        cols = np.minimum(np.arange(start, start + chunk), m - 1)  # pad: one shape
        out = to_host(predict(params, vmesh.pad(plan.test[:, cols]), plan.x))
        stop = min(start + chunk, m)
        pred[:, start:stop] = out[:seeds, : stop - start]
    truth = plan.y[plan.test]
    hit = pred == truth
    return {
        "accuracy": hit.mean(axis=1),
        "real_recall": np.where(truth == 0, hit, 0).sum(1) / (truth == 0).sum(1),
        "synthetic_recall": np.where(truth == 1, hit, 0).sum(1) / (truth == 1).sum(1),
        "hit": hit,
    }


def t_interval(values: Any, level: float = 0.95) -> dict[str, Any]:
    """Mean and Student-t confidence interval over seeds (clipped to ``[0, 1]``)."""
    v = np.asarray(values, np.float64)
    mean = float(v.mean())
    if len(v) < 2:
        return {"mean": mean, "std": float("nan"), "low": mean, "high": mean, "degenerate": True}
    sd = float(v.std(ddof=1))
    half = float(stats.t.ppf(0.5 + level / 2, len(v) - 1)) * sd / np.sqrt(len(v))
    low, high = max(0.0, mean - half), min(1.0, mean + half)
    return {"mean": mean, "std": sd, "low": low, "high": high, "degenerate": False}


def discriminator_test(
    real: Any,
    synthetic: Any,
    *,
    seeds: int = 5,
    cfg: DiscriminatorConfig = DiscriminatorConfig(),
    test_fraction: float = 0.3,
    key: jax.Array,
    max_per_side: int | None = None,
    groups: tuple[Any, Any] | None = None,
    level: float = 0.95,
) -> dict[str, Any]:
    """Held-out accuracy of LSTMs telling ``real`` from ``synthetic`` windows (50% = can't).

    Balanced classes (the larger side is subsampled, per seed), ``test_fraction`` held out,
    repeated over ``seeds`` seeds that differ in split, subsample, initialization and
    minibatches; all seeds train at once, vmapped by the sweep engine
    (:func:`discriminator_plan`, :func:`fit_discriminators`, :func:`score_discriminators`).
    The interval is a Student-t interval of the mean over seeds (``level``): it covers the
    seed-to-seed spread, which includes the choice of test windows; with one seed it is
    degenerate (``low = high = mean``). Also reported: the mean recall of each class (a
    discriminator calling everything "real" has accuracy 0.5 but recalls 1 and 0), and with
    ``groups`` (an int label per real and per synthetic window, e.g. the activity)
    ``per_group``: the accuracy on each group's held-out windows, pooled over seeds.
    """
    plan = discriminator_plan(
        real, synthetic, seeds=seeds, test_fraction=test_fraction, key=key,
        max_per_side=max_per_side, groups=groups,
    )  # fmt: skip
    hit = score_discriminators(plan, cfg, fit_discriminators(plan, cfg))["hit"]
    return _judgement(plan, hit, level)


def _judgement(plan: DiscriminatorPlan, hit_SxM: np.ndarray, level: float) -> dict[str, Any]:
    """The report of a discriminator test from whether each held-out row was judged right."""
    truth = plan.y[plan.test]
    accuracy = hit_SxM.mean(axis=1)
    out = {
        **t_interval(accuracy, level),
        "level": level,
        "interval": "student-t over seeds",
        "accuracy_per_seed": [float(a) for a in accuracy],
        "real_recall": float(np.mean(hit_SxM, axis=1, where=truth == 0).mean()),
        "synthetic_recall": float(np.mean(hit_SxM, axis=1, where=truth == 1).mean()),
        "seeds": len(accuracy),
        "train_per_side": plan.train_per_side,
        "test_per_side": plan.test_per_side,
    }
    if plan.group is not None:
        group = plan.group[plan.test]
        out["per_group"] = {
            str(g): {
                "accuracy": float(hit_SxM[group == g].mean()),
                "real_recall": _mean_or_nan(hit_SxM[(group == g) & (truth == 0)]),
                "synthetic_recall": _mean_or_nan(hit_SxM[(group == g) & (truth == 1)]),
                "test_windows": int(np.sum(group == g)),
            }
            for g in np.unique(group).tolist()
        }
    return out


def _mean_or_nan(x: np.ndarray) -> float:
    return float(x.mean()) if x.size else float("nan")


def feature_discriminator_test(
    real: Any,
    synthetic: Any,
    *,
    rate_hz: float,
    channels: Sequence[str],
    seeds: int = 5,
    test_fraction: float = 0.3,
    key: jax.Array,
    max_per_side: int | None = None,
    groups: tuple[Any, Any] | None = None,
    n_estimators: int = 200,
    level: float = 0.95,
) -> dict[str, Any]:
    """Held-out accuracy of a random forest on window features telling real from synthetic.

    The features are :func:`jaxpriv.features.window_features` (per channel and magnitude:
    amplitude, percentiles, mean absolute difference, dominant frequencies, spectral
    entropy) of the standardized windows. The seeds' subsamples and train/test splits are
    exactly those of :func:`discriminator_test` with the same arguments and ``key``
    (:func:`discriminator_plan`), so the two judges are compared on the same windows; seed
    ``s`` also seeds its forest. Returns the same fields as :func:`discriminator_test`.
    """
    plan = discriminator_plan(
        real, synthetic, seeds=seeds, test_fraction=test_fraction, key=key,
        max_per_side=max_per_side, groups=groups,
    )  # fmt: skip
    features = window_features(plan.x, rate_hz, channels)
    hit = np.empty(plan.test.shape, bool)
    for s in range(seeds):
        train = np.flatnonzero(plan.weight[s] > 0)
        forest = fit_random_forest(
            features[train], plan.y[train], seed=s, n_estimators=n_estimators
        )
        hit[s] = forest.predict(features[plan.test[s]]) == plan.y[plan.test[s]]
    return _judgement(plan, hit, level)


def matched_noise(x: Any, n: int, key: jax.Array) -> np.ndarray:
    """``n`` windows of i.i.d. Gaussian noise with ``x``'s per-channel mean and std."""
    x = _samples(x, "x", min_n=1, windows=True)
    mean, std = x.mean(axis=(0, 1)), x.std(axis=(0, 1))
    z = _host_rng(key).standard_normal((n, *x.shape[1:]))
    return (mean + std * z).astype(np.float32)


def discriminator_sanity(
    real_train: Any, real_other: Any, *, key: jax.Array, **kwargs: Any
) -> dict[str, dict[str, Any]]:
    """The discriminator on known answers, so a 50% result is shown to mean something.

    ``"real vs real"``: ``real_train`` against a disjoint real set ``real_other`` (about
    50% when both come from one distribution; above it when ``real_other`` holds other
    users, which is then the level a generator of the training users can hope for);
    ``"real vs noise"``: ``real_train`` against as many windows as ``real_other`` of
    Gaussian noise with ``real_train``'s per-channel mean and std (about 100%).
    ``kwargs`` go to :func:`discriminator_test`.
    """
    other = _samples(real_other, "real_other", windows=True)
    noise = matched_noise(real_train, len(other), jax.random.fold_in(key, 2))
    return {
        "real vs real": discriminator_test(
            real_train, other, key=jax.random.fold_in(key, 0), **kwargs
        ),
        "real vs noise": discriminator_test(
            real_train, noise, key=jax.random.fold_in(key, 1), **kwargs
        ),
    }


# ---------------------------------------------------------------- marginals and correlations


def _columns(x: np.ndarray) -> np.ndarray:
    """Pooled values ``(values, D)``: windows' channels over samples and time, or columns."""
    return x.reshape(-1, x.shape[-1])


def _pair(real: Any, synthetic: Any) -> tuple[np.ndarray, np.ndarray]:
    r = _samples(real, "real")
    s = _samples(synthetic, "synthetic")
    if r.ndim != s.ndim or r.shape[-1] != s.shape[-1]:
        raise ValueError(
            f"synthetic has samples of shape {s.shape[1:]}, real has {r.shape[1:]}: the "
            f"rank and the number of channels/features must match"
        )
    return r, s


def marginal_distances(
    real: Any,
    synthetic: Any,
    *,
    names: Sequence[str] | None = None,
    max_values: int | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """KS statistic and Wasserstein-1 distance of every channel's (or column's) values.

    Windows pool each channel over samples and time (window lengths may differ); rows
    compare each column. ``max_values`` caps the values per side and channel (a uniform
    subsample with ``seed``). ``wasserstein_std`` is the distance divided by the real
    values' std (scale-free). Returns per-channel lists and their means.
    """
    r, s = _pair(real, synthetic)
    d = r.shape[-1]
    names = [f"c{i}" for i in range(d)] if names is None else list(names)
    if len(names) != d:
        raise ValueError(f"names has {len(names)} entries for {d} channels/features")
    rng = np.random.default_rng(seed)
    rv, sv = _columns(r), _columns(s)
    ks, wd, wd_std = [], [], []
    for c in range(d):
        a, b = rv[:, c], sv[:, c]
        if max_values is not None:
            a = a[rng.choice(len(a), max_values, replace=False)] if len(a) > max_values else a
            b = b[rng.choice(len(b), max_values, replace=False)] if len(b) > max_values else b
        ks.append(float(stats.ks_2samp(a, b).statistic))
        wd.append(float(stats.wasserstein_distance(a, b)))
        sd = float(np.std(a, dtype=np.float64))
        wd_std.append(wd[-1] / sd if sd > _TINY_STD else wd[-1])
    return {
        "names": names,
        "ks": ks,
        "wasserstein": wd,
        "wasserstein_std": wd_std,
        "ks_mean": float(np.mean(ks)),
        "wasserstein_mean": float(np.mean(wd)),
        "wasserstein_std_mean": float(np.mean(wd_std)),
    }


def correlation_matrices(x: Any, lags: Sequence[int] = (0,), name: str = "x") -> np.ndarray:
    """Pearson correlations ``(L, D, D)``: entry ``[l, i, j]`` = corr(x_i(t), x_j(t + lag_l)).

    Windows: pairs ``(t, t + lag)`` inside each window, pooled over windows; rows: the
    columns' correlation over rows (only lag 0). A correlation with a constant variable is
    undefined and set to 0.
    """
    x = _samples(x, name)
    lags = [int(lag) for lag in lags]
    if not lags:
        raise ValueError("lags must list at least one lag")
    if x.ndim == 2 and lags != [0]:
        raise ValueError(f"rows (N, F) have no time axis: lags must be (0,), got {lags}")
    if x.ndim == 3 and any(not 0 <= lag < x.shape[1] for lag in lags):
        raise ValueError(f"lags must be in [0, {x.shape[1]}) for windows of {x.shape[1]} steps")
    out = np.empty((len(lags), x.shape[-1], x.shape[-1]))
    for i, lag in enumerate(lags):
        if x.ndim == 3:
            a, b = _columns(x[:, : x.shape[1] - lag]), _columns(x[:, lag:])
        else:
            a = b = x
        a = a - a.mean(axis=0, dtype=np.float64)
        b = b - b.mean(axis=0, dtype=np.float64)
        sa, sb = np.sqrt((a * a).sum(0)), np.sqrt((b * b).sum(0))
        ok = (sa > _TINY_STD * np.sqrt(len(a)))[:, None] & (sb > _TINY_STD * np.sqrt(len(b)))
        denom = np.where(ok, np.outer(sa, sb), 1.0)
        out[i] = np.where(ok, (a.T @ b) / denom, 0.0)
    return out


def correlation_distance(real: Any, synthetic: Any, *, lags: Sequence[int] = (0,)) -> float:
    """Root-mean-square difference of the correlation matrices, in ``[0, 2]``.

    ``sqrt(mean((R_real - R_synthetic)**2))`` over the informative entries of
    :func:`correlation_matrices`: the off-diagonal ones at lag 0 (the diagonal is 1 for
    both) and all ``D x D`` at a lag > 0 (auto- and cross-correlations). This is the
    Frobenius norm of the difference divided by the square root of the entry count, so it
    does not grow with the number of channels. Needs ``D >= 2`` or a lag > 0.
    """
    r, s = _pair(real, synthetic)
    d = r.shape[-1]
    lags = list(lags)
    if d < 2 and all(lag == 0 for lag in lags):
        raise ValueError("one channel/feature has no lag-0 correlation: pass a lag > 0")
    diff = correlation_matrices(r, lags, "real") - correlation_matrices(s, lags, "synthetic")
    off = ~np.eye(d, dtype=bool)
    entries = [diff[i][off] if lag == 0 else diff[i].ravel() for i, lag in enumerate(lags)]
    return float(np.sqrt(np.mean(np.concatenate(entries) ** 2)))


# ---------------------------------------------------------------- TSTR


def _balanced_weights(y: np.ndarray, n_pad: int, num_classes: int) -> np.ndarray:
    counts = np.bincount(y, minlength=num_classes)
    w = np.zeros(n_pad, np.float32)
    w[: len(y)] = 1.0 / counts[y]
    return w


@functools.cache
def _tstr_programs(cfg: ClassifierConfig, num_classes: int, num_variants: int):
    vmesh = make_variant_mesh(num_variants)
    predict_one = make_predict(cfg, num_classes)

    def predict(params, x_BxWxC):
        return jnp.argmax(predict_one(params, x_BxWxC), axis=-1).astype(jnp.int32)

    return vmesh, sweep_jit(make_fit(cfg, num_classes), vmesh), sweep_jit(predict, vmesh)


def tstr(
    real_train: Any,
    y_real_train: Any,
    synthetic: Any,
    y_synthetic: Any,
    real_test: Any,
    y_test: Any,
    *,
    num_classes: int,
    cfg: ClassifierConfig = ClassifierConfig(),  # noqa: B008 (frozen, hashable)
    key: jax.Array,
    seeds: int = 1,
) -> dict[str, Any]:
    """Train on synthetic, test on real (TSTR) vs train on real, test on real (TRTR).

    The same :class:`~jaxpriv.nn.classifiers.WindowCNN` (``cfg``) is fit on the labelled
    real training windows and on the labelled synthetic windows, ``seeds`` times each, all
    ``2 * seeds`` fits in one vmapped program (the smaller set is padded with zero-weight
    rows). Each model standardizes per channel with its own training set's statistics and
    samples its classes equally often. Both are scored on ``real_test``: ``accuracy``,
    ``balanced_accuracy`` and ``macro_f1`` (means over seeds, plus per-seed accuracies),
    and ``accuracy_gap = trtr - tstr`` (0: the synthetic labels teach as much as real ones).
    """
    xr = _samples(real_train, "real_train", windows=True)
    xs = _samples(synthetic, "synthetic", windows=True)
    xt = _samples(real_test, "real_test", min_n=1, windows=True)
    _same_shape(xr, "real_train", xs, "synthetic")
    _same_shape(xr, "real_train", xt, "real_test")
    if not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an int >= 2, got {num_classes!r}")
    if not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"seeds must be a positive int, got {seeds!r}")
    yr = _labels(y_real_train, "y_real_train", len(xr), num_classes)
    ys = _labels(y_synthetic, "y_synthetic", len(xs), num_classes)
    yt = _labels(y_test, "y_test", len(xt), num_classes)
    n = max(len(xr), len(xs))
    sets = []
    for x, y in ((xr, yr), (xs, ys)):
        mean, std = _scale(x)
        pad = n - len(x)
        x_pad = np.concatenate([(x - mean) / std, np.zeros((pad, *x.shape[1:]), np.float32)])
        sets.append((x_pad, np.pad(y, (0, pad)), _balanced_weights(y, n, num_classes), mean, std))
    order = [0] * seeds + [1] * seeds  # variants: TRTR seeds, then TSTR seeds
    vmesh, fit, predict = _tstr_programs(cfg, num_classes, 2 * seeds)
    keys = jax.random.split(key, 2 * seeds)
    x_VxNxWxC, y_VxN, w_VxN = (np.stack([sets[v][i] for v in order]) for i in (0, 1, 2))
    params = fit(vmesh.pad(keys), vmesh.pad(x_VxNxWxC), vmesh.pad(y_VxN), vmesh.pad(w_VxN))
    del x_VxNxWxC
    m = len(xt)
    pred = np.empty((2 * seeds, m), np.int32)
    chunk = min(m, PREDICT_CHUNK)
    for start in range(0, m, chunk):
        idx = np.minimum(np.arange(start, start + chunk), m - 1)  # pad: one shape
        # Each model sees the test windows standardized with its own training statistics.
        batch = np.stack([(xt[idx] - sets[v][3]) / sets[v][4] for v in order])
        stop = min(start + chunk, m)
        pred[:, start:stop] = to_host(predict(params, vmesh.pad(batch)))[
            : len(order), : stop - start
        ]
    out: dict[str, Any] = {"num_classes": num_classes, "seeds": seeds}
    for name, rows in (("trtr", range(seeds)), ("tstr", range(seeds, 2 * seeds))):
        per = [classification_metrics(yt, pred[v], num_classes) for v in rows]
        out[name] = {
            k: float(np.mean([float(p[k]) for p in per]))
            for k in ("accuracy", "balanced_accuracy", "macro_f1")
        }
        out[name]["accuracy_per_seed"] = [float(p["accuracy"]) for p in per]
    out["accuracy_gap"] = out["trtr"]["accuracy"] - out["tstr"]["accuracy"]
    out.update(n_real_train=len(xr), n_synthetic=len(xs), n_real_test=m)
    return out


# ---------------------------------------------------------------- closest record (DCR)


@functools.partial(jax.jit, static_argnums=3)
def _nearest(q_BxD: jax.Array, ref_NxD: jax.Array, ref_sq_N: jax.Array, k: int) -> jax.Array:
    """Exact distance from each query to its nearest reference row.

    ``|q|^2 + |r|^2 - 2 q.r`` ranks the references; the ``k`` best are then re-measured
    as ``|q - r|`` (no cancellation), so an exact copy gives exactly 0.
    """
    hi = jax.lax.Precision.HIGHEST
    d2_BxN = (
        jnp.sum(q_BxD**2, 1)[:, None]
        + ref_sq_N[None]
        - 2 * jnp.matmul(q_BxD, ref_NxD.T, precision=hi)
    )
    _, idx_BxK = jax.lax.top_k(-d2_BxN, k)
    diff_BxKxD = q_BxD[:, None, :] - ref_NxD[idx_BxK]
    return jnp.min(jnp.sqrt(jnp.sum(diff_BxKxD**2, axis=-1)), axis=1)


def _nearest_distances(q: np.ndarray, ref: jax.Array, ref_sq: jax.Array, chunk: int, k: int):
    out = np.empty(len(q), np.float32)
    for start in range(0, len(q), chunk):
        idx = np.minimum(np.arange(start, start + chunk), len(q) - 1)  # pad: one shape
        stop = min(start + chunk, len(q))
        out[start:stop] = np.asarray(_nearest(q[idx], ref, ref_sq, k))[: stop - start]
    return out


def closest_record(
    real_train: Any,
    synthetic: Any,
    real_test: Any,
    *,
    max_entries: int = 1 << 24,
    candidates: int = 8,
    copy_tol: float = 1e-6,
) -> dict[str, Any]:
    """Distance to the closest training record: synthetic samples vs held-out real ones.

    Samples are standardized with ``real_train``'s per-channel (windows; over samples and
    time) or per-column (rows) statistics and flattened; distances are Euclidean, computed
    in jitted chunks of queries so that at most about ``max_entries`` values (query-train
    distances, or candidate differences) exist at once. The held-out real samples give the
    reference: a generator that learned the distribution, not the records, puts about 5% of
    its samples closer to a training record than the 5th percentile of the real-test
    distances (``share_below_real_p5``); far more flags memorisation (when ``real_test``
    holds other users than ``real_train`` its distances are larger and the expected share
    is larger too). ``exact_copies`` counts synthetic samples within ``copy_tol`` of a
    training record.
    """
    train = _samples(real_train, "real_train", min_n=1)
    syn = _samples(synthetic, "synthetic", min_n=1)
    test = _samples(real_test, "real_test", min_n=1)
    _same_shape(train, "real_train", syn, "synthetic")
    _same_shape(train, "real_train", test, "real_test")
    mean, std = _scale(train)

    def flat(x: np.ndarray) -> np.ndarray:
        return ((x - mean) / std).reshape(len(x), -1)

    ref = jnp.asarray(flat(train))
    ref_sq = jnp.sum(ref**2, axis=1)
    k = min(candidates, len(train))
    # Per query: a row of distances to every training record, then k candidate differences.
    per_query = max(len(train), k * ref.shape[1])
    chunk = max(1, min(max_entries // per_query, max(len(syn), len(test))))
    d_syn = _nearest_distances(flat(syn), ref, ref_sq, chunk, k)
    d_test = _nearest_distances(flat(test), ref, ref_sq, chunk, k)
    p5 = float(np.percentile(d_test, 5))

    def summary(d: np.ndarray) -> dict[str, float]:
        return {
            "median": float(np.median(d)),
            "p5": float(np.percentile(d, 5)),
            "mean": float(d.mean()),
            "min": float(d.min()),
        }

    copies = int(np.sum(d_syn <= copy_tol))
    s_med, t_med = float(np.median(d_syn)), float(np.median(d_test))
    return {
        "synthetic": summary(d_syn),
        "real_test": summary(d_test),
        "median_ratio": s_med / t_med if t_med > 0 else float("nan"),
        "share_below_real_p5": float(np.mean(d_syn < p5)),
        "exact_copies": copies,
        "exact_copy_share": copies / len(syn),
        "n_train": len(train),
        "n_synthetic": len(syn),
        "n_real_test": len(test),
    }
