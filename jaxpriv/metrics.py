"""Metrics of the evaluation harness: classification scores, per-user scores, bootstrap CIs
and the signal statistics that DySan compares before and after sanitization.

Conventions:

- Classification functions are pure ``jnp`` code: jittable (``num_classes`` static) and
  vmappable. ``y_true_N``/``y_pred_N`` are integer labels; ``mask_N`` (bool or float
  weights) drops padded rows (0) or weights them, and dropping a row with the mask gives
  exactly the value computed without that row.
- Labels outside ``[0, K)`` count nowhere in :func:`confusion_matrix`. The per-class
  scores (:func:`balanced_accuracy`, :func:`macro_f1`, :func:`classification_metrics`)
  ignore rows whose *true* label is out of range (a padding label such as -1); an
  out-of-range *prediction* is an error for its true class but adds no class to the mean.
- A score over no row at all is NaN (an empty group has no score, not a score of 0).
- :func:`group_index`, :func:`per_group`, :func:`bootstrap_ci`, :func:`window_statistics`
  and :func:`relative_errors` are host-side entry points returning NumPy values / floats.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

Array = jax.Array

CLASSIFICATION_KEYS = ("accuracy", "balanced_accuracy", "macro_f1", "count")
STATISTIC_NAMES = ("mean", "std", "skewness", "kurtosis", "energy")


# ---------------------------------------------------------------- helpers


def _check_labels(y_true_N: ArrayLike, y_pred_N: ArrayLike, mask_N: ArrayLike | None) -> None:
    """Shape checks shared by the classification metrics (shapes are static under jit)."""
    if jnp.ndim(y_true_N) != 1:
        raise ValueError(f"y_true_N must be 1-D, got shape {jnp.shape(y_true_N)}")
    if jnp.shape(y_pred_N) != jnp.shape(y_true_N):
        raise ValueError(
            f"y_pred_N must have the shape of y_true_N {jnp.shape(y_true_N)}, "
            f"got {jnp.shape(y_pred_N)}"
        )
    if mask_N is not None and jnp.shape(mask_N) != jnp.shape(y_true_N):
        raise ValueError(
            f"mask_N must have the shape of y_true_N {jnp.shape(y_true_N)}, got {jnp.shape(mask_N)}"
        )


def _check_num_classes(num_classes: int) -> int:
    if not isinstance(num_classes, int | np.integer) or num_classes < 1:
        raise ValueError(
            f"num_classes must be a positive int (static under jit), got {num_classes!r}"
        )
    return int(num_classes)


def _weights(mask_N: ArrayLike | None, n: int) -> Array:
    """The mask as float weights (float32 unless the mask is already floating); ones if None."""
    if mask_N is None:
        return jnp.ones((n,), jnp.float32)
    mask_N = jnp.asarray(mask_N)
    return mask_N if jnp.issubdtype(mask_N.dtype, jnp.floating) else mask_N.astype(jnp.float32)


def _nan_div(num: Array, den: Array) -> Array:
    """``num / den`` where ``den > 0``, else NaN (no row means no score)."""
    positive = den > 0
    return jnp.where(positive, num / jnp.where(positive, den, 1), jnp.nan)


def _mean_over(values_K: Array, present_K: Array) -> Array:
    """Plain mean of ``values_K`` over the entries where ``present_K``; NaN if none."""
    present_K = present_K.astype(values_K.dtype)
    return _nan_div(jnp.sum(jnp.where(present_K > 0, values_K, 0) * present_K), jnp.sum(present_K))


def _class_counts(
    y_true_N: ArrayLike, y_pred_N: ArrayLike, num_classes: int, mask_N: ArrayLike | None
) -> tuple[Array, Array, Array]:
    """Weighted ``(tp_K, true_K, pred_K)``; true_K counts wrong out-of-range predictions too."""
    w_N = _weights(mask_N, jnp.shape(y_true_N)[0])
    true_NxK = jax.nn.one_hot(y_true_N, num_classes, dtype=w_N.dtype) * w_N[:, None]
    pred_NxK = jax.nn.one_hot(y_pred_N, num_classes, dtype=w_N.dtype)
    tp_K = jnp.sum(true_NxK * pred_NxK, axis=0)
    # Predictions only count for rows with an in-range true label (the rows that are scored).
    pred_K = jnp.sum(pred_NxK * jnp.sum(true_NxK, axis=1, keepdims=True), axis=0)
    return tp_K, jnp.sum(true_NxK, axis=0), pred_K


# ---------------------------------------------------------------- classification


def confusion_matrix(
    y_true_N: ArrayLike, y_pred_N: ArrayLike, num_classes: int, mask_N: ArrayLike | None = None
) -> Array:
    """Weighted confusion counts ``(K, K)``: rows are true classes, columns predictions."""
    _check_labels(y_true_N, y_pred_N, mask_N)
    num_classes = _check_num_classes(num_classes)
    w_N = _weights(mask_N, jnp.shape(y_true_N)[0])
    true_NxK = jax.nn.one_hot(y_true_N, num_classes, dtype=w_N.dtype) * w_N[:, None]
    pred_NxK = jax.nn.one_hot(y_pred_N, num_classes, dtype=w_N.dtype)
    # HIGHEST: no TF32 rounding of fractional weights on GPUs.
    return jnp.matmul(true_NxK.T, pred_NxK, precision=jax.lax.Precision.HIGHEST)


def accuracy(y_true_N: ArrayLike, y_pred_N: ArrayLike, mask_N: ArrayLike | None = None) -> Array:
    """Weighted fraction of rows with ``y_pred == y_true``; NaN when every row is masked."""
    _check_labels(y_true_N, y_pred_N, mask_N)
    w_N = _weights(mask_N, jnp.shape(y_true_N)[0])
    hit_N = (jnp.asarray(y_true_N) == jnp.asarray(y_pred_N)).astype(w_N.dtype)
    return _nan_div(jnp.sum(w_N * hit_N), jnp.sum(w_N))


def balanced_accuracy(
    y_true_N: ArrayLike, y_pred_N: ArrayLike, num_classes: int, mask_N: ArrayLike | None = None
) -> Array:
    """Mean recall over the classes present in ``y_true`` (sklearn's ``balanced_accuracy_score``).

    Chance level is ``1/K'`` for ``K'`` present classes whatever the class balance.
    """
    _check_labels(y_true_N, y_pred_N, mask_N)
    num_classes = _check_num_classes(num_classes)
    tp_K, true_K, _ = _class_counts(y_true_N, y_pred_N, num_classes, mask_N)
    return _mean_over(_nan_div(tp_K, true_K), true_K > 0)


def macro_f1(
    y_true_N: ArrayLike, y_pred_N: ArrayLike, num_classes: int, mask_N: ArrayLike | None = None
) -> Array:
    """Unweighted mean F1 over the classes present in ``y_true`` or ``y_pred``.

    As sklearn ``f1_score(average="macro", zero_division=0)`` with its default labels:
    ``F1_k = 2 tp / (2 tp + fp + fn)``, so a class only predicted (or never predicted)
    scores 0 and pulls the mean down; a class in neither does not count.
    """
    _check_labels(y_true_N, y_pred_N, mask_N)
    num_classes = _check_num_classes(num_classes)
    tp_K, true_K, pred_K = _class_counts(y_true_N, y_pred_N, num_classes, mask_N)
    return _mean_over(_nan_div(2 * tp_K, true_K + pred_K), (true_K + pred_K) > 0)


def classification_metrics(
    y_true_N: ArrayLike, y_pred_N: ArrayLike, num_classes: int, mask_N: ArrayLike | None = None
) -> dict[str, Array]:
    """``accuracy``, ``balanced_accuracy``, ``macro_f1`` and ``count`` (sum of row weights).

    Rows whose true label is outside ``[0, K)`` are dropped like masked rows, so all four
    describe the same rows.
    """
    _check_labels(y_true_N, y_pred_N, mask_N)
    num_classes = _check_num_classes(num_classes)
    y_true_N = jnp.asarray(y_true_N)
    in_range_N = (y_true_N >= 0) & (y_true_N < num_classes)
    w_N = _weights(mask_N, y_true_N.shape[0]) * in_range_N
    return {
        "accuracy": accuracy(y_true_N, y_pred_N, w_N),
        "balanced_accuracy": balanced_accuracy(y_true_N, y_pred_N, num_classes, w_N),
        "macro_f1": macro_f1(y_true_N, y_pred_N, num_classes, w_N),
        "count": jnp.sum(w_N),
    }


def privacy_gap(accuracy: ArrayLike, chance: ArrayLike) -> Array:
    """``|accuracy - chance|``: how far an attacker is from guessing (0 = no leak)."""
    return jnp.abs(jnp.asarray(accuracy) - jnp.asarray(chance))


# ---------------------------------------------------------------- per group (user)


def group_index(
    group_N: np.ndarray, groups: Sequence[int] | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row indices of each group padded to the largest group size ``M`` (host-side).

    Returns ``(index_GxM int32, mask_GxM bool, groups_G)``; padding uses index 0 with
    mask False. ``groups`` fixes the order and set of groups (default: the sorted unique
    values of ``group_N``); a group without rows gets an all-False mask. ``M >= 1``.
    """
    group_N = np.asarray(group_N)
    if group_N.ndim != 1:
        raise ValueError(f"group_N must be 1-D, got shape {group_N.shape}")
    groups_G = np.unique(group_N) if groups is None else np.asarray(groups)
    if groups_G.ndim != 1:
        raise ValueError(f"groups must be a 1-D sequence, got shape {groups_G.shape}")
    if np.unique(groups_G).size != groups_G.size:
        raise ValueError(f"groups must not repeat a group, got {groups_G.tolist()}")
    # One stable sort, then each group's rows are a contiguous run (in original order).
    order_N = np.argsort(group_N, kind="stable")
    sorted_N = group_N[order_N]
    start_G = np.searchsorted(sorted_N, groups_G, side="left")
    size_G = np.searchsorted(sorted_N, groups_G, side="right") - start_G
    M = max(int(size_G.max(initial=0)), 1)
    mask_GxM = np.arange(M)[None, :] < size_G[:, None]
    pos_GxM = np.minimum(start_G[:, None] + np.arange(M)[None, :], max(len(order_N) - 1, 0))
    index_GxM = np.where(mask_GxM, order_N[pos_GxM] if len(order_N) else 0, 0)
    return index_GxM.astype(np.int32), mask_GxM, groups_G


@partial(jax.jit, static_argnums=4)
def _grouped_metrics(
    y_true_N: Array, y_pred_N: Array, index_GxM: Array, mask_GxM: Array, num_classes: int
) -> dict[str, Array]:
    """One gather into ``(G, M)`` blocks, then ``classification_metrics`` vmapped over groups."""
    per_row = partial(classification_metrics, num_classes=num_classes)
    return jax.vmap(per_row)(y_true_N[index_GxM], y_pred_N[index_GxM], mask_N=mask_GxM)


def per_group(
    y_true_N: ArrayLike,
    y_pred_N: ArrayLike,
    group_N: np.ndarray,
    num_classes: int,
    groups: Sequence[int] | None = None,
) -> dict[str, np.ndarray]:
    """:func:`classification_metrics` of each group (e.g. user) in one jitted vmap.

    Returns ``(G,)`` arrays keyed by :data:`CLASSIFICATION_KEYS` plus ``"group"`` (the ids,
    in the order of :func:`group_index`); ``"count"`` is int64. Empty groups score NaN.
    """
    _check_labels(y_true_N, y_pred_N, None)
    if np.shape(group_N) != jnp.shape(y_true_N):
        raise ValueError(
            f"group_N must have the shape of y_true_N {jnp.shape(y_true_N)}, "
            f"got {np.shape(group_N)}"
        )
    num_classes = _check_num_classes(num_classes)
    index_GxM, mask_GxM, groups_G = group_index(np.asarray(group_N), groups)
    if jnp.shape(y_true_N)[0] == 0:  # nothing to gather from: every group is empty
        y_true_N = y_pred_N = np.full((1,), -1, np.int32)
    out = _grouped_metrics(
        jnp.asarray(y_true_N), jnp.asarray(y_pred_N), index_GxM, mask_GxM, num_classes
    )
    result = {name: np.asarray(value) for name, value in out.items()}
    result["count"] = np.rint(result["count"]).astype(np.int64)
    result["group"] = groups_G
    return result


# ---------------------------------------------------------------- bootstrap


# Index draws per block of resamples: the (resamples, n) index array stays below ~32 MB.
_BOOTSTRAP_BLOCK = 1 << 22


def _numpy_seed(key: Array | int) -> list[int]:
    """Seed words for ``np.random.default_rng`` from a JAX key (typed or raw) or an int."""
    if isinstance(key, int | np.integer):
        return [int(key)]
    if jnp.issubdtype(jnp.asarray(key).dtype, jax.dtypes.prng_key):
        key = jax.random.key_data(key)
    return np.asarray(key, dtype=np.uint32).ravel().tolist()


def bootstrap_ci(
    values_G: ArrayLike, key: Array, *, num_resamples: int = 2000, level: float = 0.95
) -> dict[str, Any]:
    """Percentile bootstrap CI of the mean over groups, resampling groups with replacement.

    Non-finite values (a user without a score) are dropped first. The resamples are drawn
    with NumPy (``np.random.default_rng`` seeded with ``key``'s data: a JAX key, typed or
    raw, or an int seed), vectorised over resamples in blocks. This replaced a jitted JAX
    version that was slower where the harness calls it (per call, 24 users: 5.9 ms
    after a 0.8 s compile, against 0.3 ms; 200 users: 17 ms against 2.6 ms).
    Returns floats ``"mean"``, ``"low"``, ``"high"``, ``"std_error"`` (std of the resampled
    means), int ``"n"`` and bool ``"degenerate"``: with ``n < 2`` there is nothing to
    resample, so ``low = high = mean`` (NaN if ``n = 0``) and ``std_error`` is NaN.
    The same key gives the same result.
    """
    values = np.asarray(values_G, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"values_G must be 1-D, got shape {values.shape}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if num_resamples < 1:
        raise ValueError(f"num_resamples must be >= 1, got {num_resamples}")
    values = values[np.isfinite(values)]
    n = int(values.size)
    mean = float(values.mean()) if n else float("nan")
    if n < 2:
        return {
            "mean": mean,
            "low": mean,
            "high": mean,
            "n": n,
            "std_error": float("nan"),
            "degenerate": True,
        }
    # Resample deviations from the mean: constant values then give exactly zero width.
    dev_N = values - mean
    rng = np.random.default_rng(_numpy_seed(key))
    block = max(1, _BOOTSTRAP_BLOCK // n)
    means_R = np.concatenate(
        [
            dev_N[rng.integers(0, n, size=(min(block, num_resamples - start), n))].mean(axis=1)
            for start in range(0, num_resamples, block)
        ]
    )
    tail = (1 - level) / 2
    low, high = np.quantile(means_R, [tail, 1 - tail])
    return {
        "mean": mean,
        "low": mean + float(low),
        "high": mean + float(high),
        "n": n,
        "std_error": float(np.std(means_R, ddof=1)) if num_resamples > 1 else float("nan"),
        "degenerate": False,
    }


# ---------------------------------------------------------------- signal statistics


@jax.jit
def _window_statistics(x_NxWxC: Array) -> dict[str, Array]:
    # Moments are shift-invariant: centring on the first sample first makes a constant
    # window exactly constant (zero variance) and reduces float32 cancellation.
    d_NxWxC = x_NxWxC - x_NxWxC[:, :1, :]
    shift_NxC = jnp.mean(d_NxWxC, axis=1)
    c_NxWxC = d_NxWxC - shift_NxC[:, None, :]
    m2_NxC = jnp.mean(c_NxWxC**2, axis=1)
    m3_NxC = jnp.mean(c_NxWxC**3, axis=1)
    m4_NxC = jnp.mean(c_NxWxC**4, axis=1)
    mean_NxC = x_NxWxC[:, 0, :] + shift_NxC
    # scipy's rule for "constant": m2 <= (resolution * mean)^2; there we give 0, not NaN.
    resolution = jnp.finfo(x_NxWxC.dtype).resolution
    flat_NxC = m2_NxC <= (resolution * mean_NxC) ** 2
    safe_m2_NxC = jnp.where(flat_NxC, 1, m2_NxC)
    return {
        "mean": mean_NxC,
        "std": jnp.sqrt(m2_NxC),
        "skewness": jnp.where(flat_NxC, 0, m3_NxC / safe_m2_NxC**1.5),
        "kurtosis": jnp.where(flat_NxC, 0, m4_NxC / safe_m2_NxC**2 - 3),
        "energy": jnp.mean(x_NxWxC**2, axis=1),
    }


def _as_windows(x: ArrayLike, name: str) -> Array:
    x = jnp.asarray(x)
    if x.ndim != 3 or x.shape[1] < 1:
        raise ValueError(f"{name} must have shape (N, W, C) with W >= 1, got {x.shape}")
    return x if jnp.issubdtype(x.dtype, jnp.floating) else x.astype(jnp.float32)


def window_statistics(x_NxWxC: ArrayLike) -> dict[str, np.ndarray]:
    """Per-window, per-channel statistics over time, each ``(N, C)``.

    - ``mean``; ``std`` is the population std (ddof=0);
    - ``skewness`` = ``scipy.stats.skew(bias=True)``, ``kurtosis`` =
      ``scipy.stats.kurtosis(fisher=True, bias=True)`` (0 for a normal window);
    - ``energy`` = mean of squares over the window (``mean**2 + std**2``, not a sum, so it
      does not grow with the window length).

    A constant window has skewness and kurtosis 0 here, where scipy gives NaN.
    """
    x_NxWxC = _as_windows(x_NxWxC, "x_NxWxC")
    return {name: np.asarray(v) for name, v in _window_statistics(x_NxWxC).items()}


def relative_errors(
    x_raw_NxWxC: ArrayLike, x_released_NxWxC: ArrayLike, eps: float = 1e-8
) -> dict[str, float]:
    """DySan's (Fig. 4) relative error of each statistic between raw and released windows.

    For ``s`` in :data:`STATISTIC_NAMES`: the mean over windows and channels of
    ``|s(x') - s(x)| / (|s(x)| + eps)``; plus ``"mse"``, the mean of ``(x' - x)**2``.
    A statistic near zero in the raw data (the mean of ``userAcceleration``, the skewness
    of a symmetric signal) has a large relative error by nature: a tiny absolute change is
    a large fraction of it. Read those entries with that in mind.
    """
    x = _as_windows(x_raw_NxWxC, "x_raw_NxWxC")
    x_rel = _as_windows(x_released_NxWxC, "x_released_NxWxC")
    if x_rel.shape != x.shape:
        raise ValueError(
            f"x_released_NxWxC must have the shape of x_raw_NxWxC {x.shape}, got {x_rel.shape}"
        )
    raw, released = _window_statistics(x), _window_statistics(x_rel)
    out = {
        name: float(jnp.mean(jnp.abs(released[name] - raw[name]) / (jnp.abs(raw[name]) + eps)))
        for name in STATISTIC_NAMES
    }
    out["mse"] = float(jnp.mean((x_rel - x) ** 2))
    return out
