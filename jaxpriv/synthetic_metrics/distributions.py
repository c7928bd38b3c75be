"""Distances between real and synthetic value distributions: marginals and correlations."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats

from jaxpriv.synthetic_metrics.samples import TINY_STD, check_samples


def _columns(x: np.ndarray) -> np.ndarray:
    """Pooled values ``(values, D)``: windows' channels over samples and time, or columns."""
    return x.reshape(-1, x.shape[-1])


def _pair(real: Any, synthetic: Any) -> tuple[np.ndarray, np.ndarray]:
    r = check_samples(real, "real")
    s = check_samples(synthetic, "synthetic")
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
        wd_std.append(wd[-1] / sd if sd > TINY_STD else wd[-1])
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
    x = check_samples(x, name)
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
        ok = (sa > TINY_STD * np.sqrt(len(a)))[:, None] & (sb > TINY_STD * np.sqrt(len(b)))
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
