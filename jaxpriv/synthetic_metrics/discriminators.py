"""The discriminator judges (seed 000): held-out accuracy telling real from synthetic.

An LSTM (:func:`discriminator_test`, every seed in one vmapped program) and a random forest
on window features (:func:`feature_discriminator_test`) judge the same splits
(:func:`discriminator_plan`); :func:`discriminator_sanity` runs the LSTM on known answers.
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

from jaxpriv.classify import make_fit, make_predict
from jaxpriv.features import fit_random_forest, window_features
from jaxpriv.nn.sequence_classifier import LSTMClassifier
from jaxpriv.sweep import make_variant_mesh, sweep_jit, to_host
from jaxpriv.synthetic_metrics.samples import (
    PREDICT_CHUNK,
    channel_scale,
    check_same_shape,
    check_samples,
    host_rng,
    subsample_rows,
)


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
    real = check_samples(real, "real", windows=True)
    syn = check_samples(synthetic, "synthetic", windows=True)
    check_same_shape(real, "real", syn, "synthetic")
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
    rng = host_rng(key)
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
    mean, std = channel_scale(real)
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
    x = check_samples(x, "x", min_n=1, windows=True)
    mean, std = x.mean(axis=(0, 1)), x.std(axis=(0, 1))
    z = host_rng(key).standard_normal((n, *x.shape[1:]))
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
    other = check_samples(real_other, "real_other", windows=True)
    noise = matched_noise(real_train, len(other), jax.random.fold_in(key, 2))
    return {
        "real vs real": discriminator_test(
            real_train, other, key=jax.random.fold_in(key, 0), **kwargs
        ),
        "real vs noise": discriminator_test(
            real_train, noise, key=jax.random.fold_in(key, 1), **kwargs
        ),
    }
