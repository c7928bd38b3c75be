"""Checking, scaling and subsampling the samples every synthetic-data metric takes.

Samples are either windows ``(N, T, C)`` or rows ``(N, F)``; the checks raise
``ValueError`` naming the argument (wrong rank, mismatched sample shapes, NaN/inf, too
few samples).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

PREDICT_CHUNK = 1024
TINY_STD = 1e-8


def check_samples(x: Any, name: str, *, min_n: int = 2, windows: bool = False) -> np.ndarray:
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


def check_same_shape(ref: np.ndarray, ref_name: str, other: np.ndarray, other_name: str) -> None:
    if other.shape[1:] != ref.shape[1:]:
        raise ValueError(
            f"{other_name} has samples of shape {other.shape[1:]}, but {ref_name} has "
            f"{ref.shape[1:]}: they must match"
        )


def check_labels(y: Any, name: str, n: int, num_classes: int) -> np.ndarray:
    y = np.asarray(y)
    if y.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) (one label per sample), got {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{name} must hold integer labels, got dtype {y.dtype}")
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"{name} has labels outside [0, {num_classes}): {np.unique(y)}")
    return y.astype(np.int32)


def channel_scale(x_ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std (1 where ~0) per channel (windows: over samples and time) or column."""
    axes = tuple(range(x_ref.ndim - 1))
    mean = x_ref.mean(axis=axes, dtype=np.float64)
    std = x_ref.std(axis=axes, dtype=np.float64)
    return mean.astype(np.float32), np.where(std > TINY_STD, std, 1.0).astype(np.float32)


def host_rng(key: jax.Array) -> np.random.Generator:
    """A NumPy generator determined by a JAX key (typed or raw uint32)."""
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = jax.random.key_data(key)
    return np.random.default_rng(np.asarray(key, np.uint32).ravel().tolist())


def subsample(x: np.ndarray, cap: int | None, rng: np.random.Generator) -> np.ndarray:
    return x[subsample_rows(len(x), cap, rng)]


def subsample_rows(n: int, cap: int | None, rng: np.random.Generator) -> np.ndarray:
    """Sorted row indices of at most ``cap`` of ``n`` rows (all rows, no draw, when fewer)."""
    if cap is None or n <= cap:
        return np.arange(n)
    return np.sort(rng.choice(n, cap, replace=False))
